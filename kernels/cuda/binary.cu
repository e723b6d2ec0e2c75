// CUDA binary elementwise ops with numpy broadcasting: add, sub, mul, div.
//
// Same collapsed view of the broadcast as kernels/cpu/binary.c: size-1 dims
// dropped, neighbouring dims merged wherever both operands stay linear, so
// equal shapes are one flat dim (float4 when aligned) and [N,D] op [D] is
// [N,D] with b's stride 0 on N. Forward finds each operand's offset with
// multiply-high division (elementwise.cuh).
//
// Backward: the gradient of an input x is the upstream term summed over the
// dims x was broadcast along. Those dims split the collapsed view into kept
// dims (x's own elements, j) and reduced dims (m); the sum runs on the
// reduction engine of reduce.cuh (cols layout when x's innermost dim is kept,
// e.g. a [D] bias; rows when it is reduced, e.g. [N,1] or a scalar), in
// double like the CPU, so results agree with it to the last float bit but for
// rare rounding ties of the double sum.
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/reduce.cuh"

extern "C" {
#include "kernels/broadcast.h"
}

namespace {   // file-local: kernel templates instantiated here stay internal

enum { B_ADD, B_SUB, B_MUL, B_DIV };

// Collapsed broadcast (kernels/broadcast.h, shared with the CPU: same merged
// dims, so the same sums), dims outermost first.
typedef lt_bcast bcast;

template <int OP>
__host__ __device__ static inline float bin_apply(float x, float y) {
    if constexpr (OP == B_ADD) return lt_fadd(x, y);
    else if constexpr (OP == B_SUB) return lt_fsub(x, y);
    else if constexpr (OP == B_MUL) return lt_fmul(x, y);
    else return lt_fdiv(x, y);
}

// o [N] = a op b, operand offsets from the index space ix (strides of a, b).
template <int OP, bool BIG>
__global__ void bin_fwd_k(const float *A, const float *B, float *O, lt_index ix, int64_t N) {
    LT_GRID_STRIDE(i, N) {
        int64_t oa, ob;
        lt_index_offsets<BIG>(ix, i, oa, ob);
        O[i] = bin_apply<OP>(A[oa], B[ob]);
    }
}

// One flat dim, a and b stepping by sa, sb in {0, 1}; every pointer that steps
// (and O) is 16-byte aligned. Quads as float4, then the N % 4 tail.
template <int OP>
__global__ void bin_fwd_flat4(const float *A, int sa, const float *B, int sb, float *O, int64_t N) {
    const int64_t N4 = N / 4;
    const float a0 = A[0], b0 = B[0];
    LT_GRID_STRIDE(q, N4) {
        float4 x = sa ? ((const float4 *)A)[q] : make_float4(a0, a0, a0, a0);
        float4 y = sb ? ((const float4 *)B)[q] : make_float4(b0, b0, b0, b0);
        float4 r;
        r.x = bin_apply<OP>(x.x, y.x);
        r.y = bin_apply<OP>(x.y, y.y);
        r.z = bin_apply<OP>(x.z, y.z);
        r.w = bin_apply<OP>(x.w, y.w);
        ((float4 *)O)[q] = r;
    }
    int64_t t = N4 * 4 + (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t < N) O[t] = bin_apply<OP>(A[t * sa], B[t * sb]);
}

template <int OP>
static lt_status bin_fwd(lt_node *n) {
    const char *name = lt_op_name(n->op);
    bcast g;
    lt_bcast_init(&g, n->in[0], n->in[1], n->out[0]);
    const float *A = lt_cuda_f32(n->in[0]), *B = lt_cuda_f32(n->in[1]);
    float *O = lt_cuda_f32(n->out[0]);
    const int64_t N = n->out[0]->numel;
    cudaStream_t st = lt_cuda_stream();
    if (g.nd == 1) {
        int sa = (int)g.s[0][0], sb = (int)g.s[1][0];
        if (lt_aligned16(sa ? A : nullptr, sb ? B : nullptr, O)) {
            bin_fwd_flat4<OP><<<lt_cuda_blocks((N + 3) / 4, LT_EW_THREADS), LT_EW_THREADS, 0, st>>>(A, sa, B, sb, O, N);
            LT_LAUNCH_CHECK(name);
            return LT_OK;
        }
    }
    lt_index ix = lt_index_make(g.nd, g.size, g.s[0], g.s[1]);
    unsigned blocks = lt_cuda_blocks(N, LT_EW_THREADS);
    if (N > INT32_MAX) bin_fwd_k<OP, true><<<blocks, LT_EW_THREADS, 0, st>>>(A, B, O, ix, N);
    else bin_fwd_k<OP, false><<<blocks, LT_EW_THREADS, 0, st>>>(A, B, O, ix, N);
    LT_LAUNCH_CHECK(name);
    return LT_OK;
}

// The per-element term summed into an input gradient: G the upstream gradient,
// P the saved output (G's layout), Y an input (broadcast). As on CPU, the term
// is rounded to float, then summed in double.
enum { T_G, T_GY, T_G_DIV_Y, T_GP_DIV_Y };

// gx[j] += s * sum over m of term(j, m). kept (j) and red (m) split the
// collapsed dims; st[0] of each is the offset in G (and P), st[1] in Y.
template <int KIND, bool BIG>
struct bin_grad {
    typedef double acc_t;
    struct J { int64_t g, y; };
    const float *G, *P, *Y;
    float *gx;   // x's gradient, contiguous over the kept dims
    float s;
    lt_index kept, red;
    __host__ __device__ acc_t identity() const { return 0.0; }
    __host__ __device__ J at(int64_t j) const {
        J c;
        lt_index_offsets<BIG>(kept, j, c.g, c.y);
        return c;
    }
    __host__ __device__ acc_t load(const J &c, int64_t m) const {
        int64_t og, oy;
        lt_index_offsets<BIG>(red, m, og, oy);
        float g = G[c.g + og];
        if constexpr (KIND == T_G) return g;
        else if constexpr (KIND == T_GY) return lt_fmul(g, Y[c.y + oy]);
        else if constexpr (KIND == T_G_DIV_Y) return lt_fdiv(g, Y[c.y + oy]);
        else return lt_fdiv(lt_fmul(g, P[c.g + og]), Y[c.y + oy]);
    }
    __host__ __device__ static acc_t combine(acc_t a, acc_t b) { return a + b; }
    __host__ __device__ void store(int64_t j, acc_t a) const { gx[j] = lt_fadd(gx[j], (float)((double)s * a)); }
};

// The kept/reduced split of the collapsed dims for input kx, with Y = input ky.
struct grad_split {
    int nk, nr, cols;
    int64_t K, M, run;
    int64_t ks[LT_MAX_DIMS], kg[LT_MAX_DIMS], ky[LT_MAX_DIMS];
    int64_t rs[LT_MAX_DIMS], rg[LT_MAX_DIMS], ry[LT_MAX_DIMS];
};

static grad_split grad_split_make(const bcast &g, int kx, int ky) {
    grad_split q = {};
    q.K = q.M = 1;
    const int64_t *so = g.so;
    for (int d = 0; d < g.nd; d++) {
        if (g.s[kx][d]) {
            q.ks[q.nk] = g.size[d]; q.kg[q.nk] = so[d]; q.ky[q.nk] = g.s[ky][d]; q.nk++;
            q.K *= g.size[d];
        } else {
            q.rs[q.nr] = g.size[d]; q.rg[q.nr] = so[d]; q.ry[q.nr] = g.s[ky][d]; q.nr++;
            q.M *= g.size[d];
        }
    }
    q.cols = g.s[kx][g.nd - 1] != 0;   // x's innermost dim kept: consecutive j are adjacent in G
    q.run = g.size[g.nd - 1];
    return q;
}

template <int KIND, bool BIG>
static lt_status grad_into_t(lt_node *n, const grad_split &q, float s, const float *G, const float *P,
                             const float *Y, float *gx) {
    bin_grad<KIND, BIG> op = {G, P, Y, gx, s, lt_index_make(q.nk, q.ks, q.kg, q.ky),
                              lt_index_make(q.nr, q.rs, q.rg, q.ry)};
    return lt_reduce(n, op, q.K, q.M, q.cols, q.run, lt_op_name(n->op));
}

template <int KIND>
static lt_status grad_into(lt_node *n, const bcast &g, int kx, int ky, float s, const float *G, const float *P,
                           const float *Y, float *gx) {
    grad_split q = grad_split_make(g, kx, ky);
    if (n->out[0]->numel > INT32_MAX) return grad_into_t<KIND, true>(n, q, s, G, P, Y, gx);
    return grad_into_t<KIND, false>(n, q, s, G, P, Y, gx);
}

static lt_status bin_bwd(lt_node *n) {
    lt_tensor *a = n->in[0], *b = n->in[1], *out = n->out[0];
    if (!out->grad) return LT_OK;
    bcast g;
    lt_bcast_init(&g, a, b, out);
    const float *G = out->grad, *A = lt_cuda_f32(a), *B = lt_cuda_f32(b), *P = lt_cuda_f32(out);
    switch (n->op) {
    case LT_OP_add:
    case LT_OP_sub:
        if (a->grad) LT_TRY(grad_into<T_G>(n, g, 0, 0, 1.f, G, nullptr, nullptr, a->grad));
        if (b->grad) LT_TRY(grad_into<T_G>(n, g, 1, 1, n->op == LT_OP_sub ? -1.f : 1.f, G, nullptr, nullptr, b->grad));
        break;
    case LT_OP_mul:
        if (a->grad) LT_TRY(grad_into<T_GY>(n, g, 0, 1, 1.f, G, nullptr, B, a->grad));
        if (b->grad) LT_TRY(grad_into<T_GY>(n, g, 1, 0, 1.f, G, nullptr, A, b->grad));
        break;
    case LT_OP_div:   // d(a/b)/da = 1/b, d(a/b)/db = -(a/b)/b
        if (a->grad) LT_TRY(grad_into<T_G_DIV_Y>(n, g, 0, 1, 1.f, G, nullptr, B, a->grad));
        if (b->grad) LT_TRY(grad_into<T_GP_DIV_Y>(n, g, 1, 1, -1.f, G, P, B, b->grad));
        break;
    default:
        return lt_error(LT_ERR_UNSUPPORTED, "%s: not a binary op", lt_op_name(n->op));
    }
    return LT_OK;
}

}  // namespace

extern "C" {
lt_status lt_cuda_add_fwd(lt_node *n) { return bin_fwd<B_ADD>(n); }
lt_status lt_cuda_add_bwd(lt_node *n) { return bin_bwd(n); }
lt_status lt_cuda_sub_fwd(lt_node *n) { return bin_fwd<B_SUB>(n); }
lt_status lt_cuda_sub_bwd(lt_node *n) { return bin_bwd(n); }
lt_status lt_cuda_mul_fwd(lt_node *n) { return bin_fwd<B_MUL>(n); }
lt_status lt_cuda_mul_bwd(lt_node *n) { return bin_bwd(n); }
lt_status lt_cuda_div_fwd(lt_node *n) { return bin_fwd<B_DIV>(n); }
lt_status lt_cuda_div_bwd(lt_node *n) { return bin_bwd(n); }
}
