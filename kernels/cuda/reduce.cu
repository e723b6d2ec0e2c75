// CUDA reductions over one axis or all elements: sum, mean, max. As on CPU
// (kernels/cpu/reduce.c) the input is seen as [outer, n, inner], n the
// reduced axis (outer = inner = 1 for all). The reduction engine of reduce.cuh
// does the work: rows layout when inner == 1 (last axis, all elements: a warp
// or a block per result, long rows split into block partials in node scratch
// and combined by a second pass), cols layout otherwise (adjacent results read
// adjacent memory). Sums accumulate in double like the CPU, in a fixed tree
// instead of its sequential order: the float results agree but for rare
// rounding ties of the double sum. max returns the first maximum (a NaN beats
// everything) and keeps its position for the backward when recorded.
#include <math.h>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/reduce.cuh"

extern "C" {
#include "kernels/ops.h"
}

namespace {   // file-local: kernel templates instantiated here stay internal

struct span3 {
    int64_t outer, n, inner;
};

static span3 geometry(const lt_node *node) {
    const lt_tensor *x = node->in[0];
    int ax = (int)node->iattr[0];
    span3 g = {1, x->numel, 1};
    if (ax == LT_AXIS_ALL) return g;
    g.n = x->shape[ax];
    for (int d = 0; d < ax; d++) g.outer *= x->shape[d];
    for (int d = ax + 1; d < x->ndim; d++) g.inner *= x->shape[d];
    return g;
}

// y [outer*inner] = scale * sum over n of x [outer, n, inner], in double.
struct sum_op {
    typedef double acc_t;
    typedef int64_t J;   // offset of (o, 0, i)
    const float *x;
    float *y;
    int64_t n, inner;
    double scale;
    __host__ __device__ acc_t identity() const { return 0.0; }
    __host__ __device__ J at(int64_t j) const { return (j / inner) * n * inner + j % inner; }
    __host__ __device__ acc_t load(const J &b, int64_t m) const { return (double)x[b + m * inner]; }
    __host__ __device__ static acc_t combine(acc_t a, acc_t b) { return a + b; }
    __host__ __device__ void store(int64_t j, acc_t a) const { y[j] = (float)(a * scale); }
};

// A value and its position along n; i < 0 marks "no value yet".
struct argmax {
    float v;
    int32_t pad;
    int64_t i;
};

// The CPU's test: strictly larger, or a NaN over a number.
__host__ __device__ static inline bool beats(float v, float best) { return v > best || (isnan(v) && !isnan(best)); }

// y [outer*inner] = max over n; idx (NULL unless recorded) gets the position.
struct max_op {
    typedef argmax acc_t;
    typedef int64_t J;
    const float *x;
    float *y;
    int64_t *idx;
    int64_t n, inner;
    __host__ __device__ acc_t identity() const { return {0.f, 0, -1}; }
    __host__ __device__ J at(int64_t j) const { return (j / inner) * n * inner + j % inner; }
    __host__ __device__ acc_t load(const J &b, int64_t m) const { return {x[b + m * inner], 0, m}; }
    // Order-free: of two values neither beats, the lower position wins, so any
    // tree gives the CPU's sequential "first maximum".
    __host__ __device__ static acc_t combine(acc_t a, acc_t b) {
        if (b.i < 0) return a;
        if (a.i < 0) return b;
        if (beats(b.v, a.v)) return b;
        if (beats(a.v, b.v)) return a;
        return b.i < a.i ? b : a;
    }
    __host__ __device__ void store(int64_t j, acc_t a) const {
        y[j] = a.v;
        if (idx) idx[j] = a.i;
    }
};

static lt_status sum_fwd(lt_node *n, int mean) {
    span3 g = geometry(n);
    sum_op op = {lt_cuda_f32(n->in[0]), lt_cuda_f32(n->out[0]), g.n, g.inner, mean ? 1.0 / (double)g.n : 1.0};
    return lt_reduce(n, op, g.outer * g.inner, g.n, g.inner > 1, g.inner, lt_op_name(n->op));
}

// gx [outer, n, inner] += scale * g [outer, inner] (fused as gcc fuses the CPU loop).
template <bool BIG>
__global__ void sum_bwd_k(const float *__restrict__ g, float *__restrict__ gx, int64_t N, lt_divider dni, int64_t ni,
                          lt_divider di, int64_t inner, float scale) {
    LT_GRID_STRIDE(e, N) {
        int64_t o, i;
        if (BIG) {
            o = e / ni;
            i = e % inner;
        } else {
            uint32_t u = (uint32_t)e;
            o = lt_div(dni, u);
            i = u - lt_div(di, u) * (uint32_t)inner;
        }
        gx[e] = fmaf(scale, g[o * inner + i], gx[e]);
    }
}

static lt_status sum_bwd(lt_node *n, int mean) {
    const float *g = n->out[0]->grad;
    float *gx = n->in[0]->grad;
    if (!g || !gx) return LT_OK;
    span3 s = geometry(n);
    float scale = mean ? (float)(1.0 / (double)s.n) : 1.f;
    int64_t N = n->in[0]->numel, ni = s.n * s.inner;
    lt_divider dni = lt_divider_make(ni), di = lt_divider_make(s.inner);
    unsigned blocks = lt_cuda_blocks(N, LT_EW_THREADS);
    cudaStream_t st = lt_cuda_stream();
    if (N > INT32_MAX) sum_bwd_k<true><<<blocks, LT_EW_THREADS, 0, st>>>(g, gx, N, dni, ni, di, s.inner, scale);
    else sum_bwd_k<false><<<blocks, LT_EW_THREADS, 0, st>>>(g, gx, N, dni, ni, di, s.inner, scale);
    LT_LAUNCH_CHECK(lt_op_name(n->op));
    return LT_OK;
}

}  // namespace

extern "C" lt_status lt_cuda_sum_fwd(lt_node *n) { return sum_fwd(n, 0); }
extern "C" lt_status lt_cuda_sum_bwd(lt_node *n) { return sum_bwd(n, 0); }
extern "C" lt_status lt_cuda_mean_fwd(lt_node *n) { return sum_fwd(n, 1); }
extern "C" lt_status lt_cuda_mean_bwd(lt_node *n) { return sum_bwd(n, 1); }

// Saved (device, when recorded): int64 position along n of each output's maximum.
extern "C" lt_status lt_cuda_max_fwd(lt_node *n) {
    span3 g = geometry(n);
    int64_t K = g.outer * g.inner;
    int64_t *idx = NULL;
    if (n->recorded) {
        idx = (int64_t *)lt_node_save_data(n, sizeof(int64_t) * (size_t)K);
        if (!idx) return lt_last_status();
        n->saved = idx;
    }
    max_op op = {lt_cuda_f32(n->in[0]), lt_cuda_f32(n->out[0]), idx, g.n, g.inner};
    return lt_reduce(n, op, K, g.n, g.inner > 1, g.inner, "max");
}

namespace {

// gx [outer, n, inner]: g [outer, inner] goes to the saved position of each maximum
// (one gradient element per output, so no two threads touch the same gx).
__global__ void max_bwd_k(const float *__restrict__ g, float *__restrict__ gx, const int64_t *__restrict__ idx,
                          int64_t K, int64_t n, int64_t inner) {
    LT_GRID_STRIDE(j, K) {
        int64_t o = j / inner, i = j - o * inner;
        int64_t e = (o * n + idx[j]) * inner + i;
        gx[e] = lt_fadd(gx[e], g[j]);
    }
}

}  // namespace

extern "C" lt_status lt_cuda_max_bwd(lt_node *n) {
    const float *g = n->out[0]->grad;
    float *gx = n->in[0]->grad;
    if (!g || !gx) return LT_OK;
    const int64_t *idx = (const int64_t *)n->saved;
    if (!idx) return lt_error(LT_ERR_STATE, "max: backward found no saved argmax (forward was not recorded)");
    span3 s = geometry(n);
    int64_t K = s.outer * s.inner;
    max_bwd_k<<<lt_cuda_blocks(K, LT_EW_THREADS), LT_EW_THREADS, 0, lt_cuda_stream()>>>(g, gx, idx, K, s.n, s.inner);
    LT_LAUNCH_CHECK("max");
    return LT_OK;
}
