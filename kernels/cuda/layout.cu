// Layout kernels on CUDA: reshape (a view), permute, concat, slice. Forward
// moves 4-byte words, so f32 and i32 tensors share the code; backward adds f32
// grads. Every destination element is written by exactly one thread, so there
// are no races and results are bit-identical to the CPU reference (a copy, or
// one float add per element).
#include "kernels/cuda/common.cuh"

#include <stdint.h>

namespace {

constexpr int kThreads = 256;
constexpr int kTile = 32;       // transpose tile edge (words)
constexpr int kTileRows = 8;    // threads per tile column: a 32x8 block moves a 32x32 tile

// dst op= src: a word copy (uint32_t / uint4) or an f32 add (float / float4).
__device__ __forceinline__ void put(uint32_t &d, uint32_t s) { d = s; }
__device__ __forceinline__ void put(uint4 &d, uint4 s) { d = s; }
__device__ __forceinline__ void put(float &d, float s) { d += s; }
__device__ __forceinline__ void put(float4 &d, float4 s) {
    d.x += s.x; d.y += s.y; d.z += s.z; d.w += s.w;
}

// rows x len block, in units of T: dst[r*ds + j] op= src[r*ss + j].
template <typename T, typename I>
__global__ void copy_rows_kernel(T *__restrict__ dst, I ds, const T *__restrict__ src, I ss, I rows, I len) {
    I total = rows * len;
    for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (I)gridDim.x * blockDim.x) {
        I r = e / len, j = e - r * len;
        put(dst[r * ds + j], src[r * ss + j]);
    }
}

template <typename T>
lt_status launch_copy_rows(T *dst, int64_t ds, const T *src, int64_t ss, int64_t rows, int64_t len) {
    int64_t total = rows * len;
    if (total == 0) return LT_OK;
    int64_t reach = (rows - 1) * (ds > ss ? ds : ss) + len;   // largest offset + 1
    unsigned blocks = lt_cuda_blocks(total, kThreads);
    if (total <= INT32_MAX && reach <= INT32_MAX)
        copy_rows_kernel<T, uint32_t><<<blocks, kThreads, 0, lt_cuda_stream()>>>(
            dst, (uint32_t)ds, src, (uint32_t)ss, (uint32_t)rows, (uint32_t)len);
    else
        copy_rows_kernel<T, int64_t><<<blocks, kThreads, 0, lt_cuda_stream()>>>(dst, ds, src, ss, rows, len);
    LT_LAUNCH_CHECK("copy_rows");
    return LT_OK;
}

inline bool aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

// rows x len words: dst[r*ds + j] = src[r*ss + j], or += as f32 when add.
// Strides and lengths in words; 16-byte vectors when everything allows it.
lt_status copy_rows(void *dst, int64_t ds, const void *src, int64_t ss, int64_t rows, int64_t len, bool add) {
    if (rows == 1) ds = ss = 0;
    bool vec = len % 4 == 0 && ds % 4 == 0 && ss % 4 == 0 && aligned16(dst) && aligned16(src);
    if (vec) {
        if (add) return launch_copy_rows((float4 *)dst, ds / 4, (const float4 *)src, ss / 4, rows, len / 4);
        return launch_copy_rows((uint4 *)dst, ds / 4, (const uint4 *)src, ss / 4, rows, len / 4);
    }
    if (add) return launch_copy_rows((float *)dst, ds, (const float *)src, ss, rows, len);
    return launch_copy_rows((uint32_t *)dst, ds, (const uint32_t *)src, ss, rows, len);
}

// A permutation after dropping size-1 dims and merging neighbours contiguous in
// both tensors: dims n[] (destination order), destination and source strides.
struct Walk {
    int nd;
    int64_t n[LT_MAX_DIMS], ds[LT_MAX_DIMS], ss[LT_MAX_DIMS];
};

// Strides passed by value to the kernels, in the kernel's index type.
template <typename I>
struct Gather {
    int nd;
    I n[LT_MAX_DIMS], ss[LT_MAX_DIMS];
};

// Destination contiguous: element e's coordinates in n[] give its source offset.
template <typename T, typename I>
__global__ void permute_kernel(T *__restrict__ dst, const T *__restrict__ src, Gather<I> w, I total) {
    for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (I)gridDim.x * blockDim.x) {
        I rest = e, off = 0;
#pragma unroll   // constant indices keep w in registers/parameter space, not local memory
        for (int i = LT_MAX_DIMS - 1; i > 0; i--) {
            if (i >= w.nd) continue;
            I q = rest / w.n[i];
            off += (rest - q * w.n[i]) * w.ss[i];
            rest = q;
        }
        off += rest * w.ss[0];
        put(dst[e], src[off]);
    }
}

template <typename T>
lt_status launch_permute(T *dst, const T *src, const Walk &w, int64_t total) {
    unsigned blocks = lt_cuda_blocks(total, kThreads);
    if (total <= INT32_MAX) {   // every source offset is < total too
        Gather<uint32_t> g;
        g.nd = w.nd;
        for (int i = 0; i < w.nd; i++) { g.n[i] = (uint32_t)w.n[i]; g.ss[i] = (uint32_t)w.ss[i]; }
        permute_kernel<T, uint32_t><<<blocks, kThreads, 0, lt_cuda_stream()>>>(dst, src, g, (uint32_t)total);
    } else {
        Gather<int64_t> g;
        g.nd = w.nd;
        for (int i = 0; i < w.nd; i++) { g.n[i] = w.n[i]; g.ss[i] = w.ss[i]; }
        permute_kernel<T, int64_t><<<blocks, kThreads, 0, lt_cuda_stream()>>>(dst, src, g, total);
    }
    LT_LAUNCH_CHECK("permute");
    return LT_OK;
}

// Outer dims of a tiled transpose (at most LT_MAX_DIMS - 2 of them).
struct Outer {
    int nd;
    int64_t n[LT_MAX_DIMS], ds[LT_MAX_DIMS], ss[LT_MAX_DIMS];
};

// For every index of `o`, dst[a*dk + b] op= src[a*sk + b*sl] over a < nk, b < nl
// (b is innermost in dst, a is densest in src). A 32x32 tile goes through
// shared memory: read with consecutive threads along a, written along b, both
// coalesced; the +1 column keeps both phases free of bank conflicts.
template <typename W, bool ADD>
__global__ void transpose_kernel(W *__restrict__ dst, const W *__restrict__ src, Outer o, int64_t nk, int64_t dk,
                                 int64_t sk, int64_t nl, int64_t sl) {
    __shared__ W tile[kTile][kTile + 1];   // [b][a]
    int64_t ta = (nk + kTile - 1) / kTile, tb = (nl + kTile - 1) / kTile, per_outer = ta * tb;
    int64_t n_outer = 1;
#pragma unroll
    for (int i = 0; i < LT_MAX_DIMS; i++) if (i < o.nd) n_outer *= o.n[i];
    int tx = threadIdx.x, ty = threadIdx.y;
    for (int64_t t = blockIdx.x; t < n_outer * per_outer; t += gridDim.x) {
        int64_t rest = t / per_outer, in = t - rest * per_outer, od = 0, os = 0;
#pragma unroll   // constant indices keep o out of local memory
        for (int i = LT_MAX_DIMS - 1; i >= 0; i--) {
            if (i >= o.nd) continue;
            int64_t c = rest % o.n[i];
            rest /= o.n[i];
            od += c * o.ds[i];
            os += c * o.ss[i];
        }
        int64_t a0 = (in / tb) * kTile, b0 = (in % tb) * kTile;
        int64_t a = a0 + tx;
        for (int r = ty; r < kTile; r += kTileRows) {
            int64_t b = b0 + r;
            if (a < nk && b < nl) tile[r][tx] = src[os + a * sk + b * sl];
        }
        __syncthreads();
        int64_t b = b0 + tx;
        for (int r = ty; r < kTile; r += kTileRows) {
            int64_t aa = a0 + r;
            if (aa < nk && b < nl) {
                W *d = dst + od + aa * dk + b;
                if (ADD) *d += tile[tx][r]; else *d = tile[tx][r];
            }
        }
        __syncthreads();   // the next tile overwrites `tile`
    }
}

// dst (contiguous, dim i of size src_shape[perm[i]]) = src permuted, or += it
// as f32. Same dim simplification as the CPU reference.
lt_status permute_copy(void *dst, const void *src, int nd, const int *src_shape, const int64_t *perm, bool add,
                       int64_t numel) {
    int64_t sstr[LT_MAX_DIMS], dstr[LT_MAX_DIMS], s = 1, d = 1;
    for (int i = nd - 1; i >= 0; i--) { sstr[i] = s; s *= src_shape[i]; }
    for (int i = nd - 1; i >= 0; i--) { dstr[i] = d; d *= src_shape[perm[i]]; }
    Walk w;
    w.nd = 0;
    for (int i = 0; i < nd; i++) {
        int64_t n = src_shape[perm[i]], ds = dstr[i], ss = sstr[perm[i]];
        if (n == 1) continue;
        int m = w.nd - 1;
        if (m >= 0 && w.ds[m] == ds * n && w.ss[m] == ss * n) { w.n[m] *= n; w.ds[m] = ds; w.ss[m] = ss; continue; }
        w.n[w.nd] = n; w.ds[w.nd] = ds; w.ss[w.nd] = ss; w.nd++;
    }
    if (w.nd <= 1) return copy_rows(dst, 0, src, 0, 1, numel, add);   // the identity, in effect
    int l = w.nd - 1;
    if (w.ss[l] == 1) {
        // Runs contiguous in both: a gather with coalesced reads and writes,
        // four words at a time when the runs and strides allow it.
        bool vec = w.n[l] % 4 == 0 && ((uintptr_t)dst & 15) == 0 && ((uintptr_t)src & 15) == 0;
        for (int i = 0; i < l; i++) vec = vec && w.ss[i] % 4 == 0;
        if (vec) {
            w.n[l] /= 4;
            for (int i = 0; i < l; i++) w.ss[i] /= 4;
            if (add) return launch_permute((float4 *)dst, (const float4 *)src, w, numel / 4);
            return launch_permute((uint4 *)dst, (const uint4 *)src, w, numel / 4);
        }
        if (add) return launch_permute((float *)dst, (const float *)src, w, numel);
        return launch_permute((uint32_t *)dst, (const uint32_t *)src, w, numel);
    }
    // The innermost destination dim is strided in the source: tile it against
    // the dim densest in the source (stride 1 after merging).
    int k = 0;
    for (int i = 1; i < l; i++) if (w.ss[i] < w.ss[k]) k = i;
    Outer o;
    o.nd = 0;
    int64_t n_outer = 1;
    for (int i = 0; i < l; i++) {
        if (i == k) continue;
        o.n[o.nd] = w.n[i]; o.ds[o.nd] = w.ds[i]; o.ss[o.nd] = w.ss[i]; o.nd++;
        n_outer *= w.n[i];
    }
    int64_t tiles = n_outer * ((w.n[k] + kTile - 1) / kTile) * ((w.n[l] + kTile - 1) / kTile);
    unsigned blocks = lt_cuda_blocks(tiles, 1);
    dim3 threads(kTile, kTileRows);
    if (add)
        transpose_kernel<float, true><<<blocks, threads, 0, lt_cuda_stream()>>>(
            (float *)dst, (const float *)src, o, w.n[k], w.ds[k], w.ss[k], w.n[l], w.ss[l]);
    else
        transpose_kernel<uint32_t, false><<<blocks, threads, 0, lt_cuda_stream()>>>(
            (uint32_t *)dst, (const uint32_t *)src, o, w.n[k], w.ds[k], w.ss[k], w.n[l], w.ss[l]);
    LT_LAUNCH_CHECK("permute_transpose");
    return LT_OK;
}

// Product of the dims before and after `axis`.
void split_at(const lt_tensor *t, int axis, int64_t *pre, int64_t *post) {
    *pre = 1; *post = 1;
    for (int i = 0; i < axis; i++) *pre *= t->shape[i];
    for (int i = axis + 1; i < t->ndim; i++) *post *= t->shape[i];
}

}  // namespace

// The output aliases the input (lt_node_output_alias), so there is nothing to move.
extern "C" lt_status lt_cuda_reshape_fwd(lt_node *n) {
    lt_tensor *x = n->in[0], *y = n->out[0];
    if (y->data != x->data)
        LT_CUDA_CHECK(cudaMemcpyAsync(y->data, x->data, (size_t)x->numel * 4, cudaMemcpyDeviceToDevice,
                                      lt_cuda_stream()));
    return LT_OK;
}

// gx += gy element for element (same numel, same order).
extern "C" lt_status lt_cuda_reshape_bwd(lt_node *n) {
    lt_tensor *x = n->in[0], *y = n->out[0];
    if (!x->grad || !y->grad) return LT_OK;
    return copy_rows(x->grad, 0, y->grad, 0, 1, x->numel, true);
}

// perm in iattr[0..ndim-1]: out dim i is x dim perm[i].
extern "C" lt_status lt_cuda_permute_fwd(lt_node *n) {
    lt_tensor *x = n->in[0], *y = n->out[0];
    return permute_copy(y->data, x->data, x->ndim, x->shape, n->iattr, false, x->numel);
}

extern "C" lt_status lt_cuda_permute_bwd(lt_node *n) {
    lt_tensor *x = n->in[0], *y = n->out[0];
    if (!x->grad || !y->grad) return LT_OK;
    int64_t inv[LT_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) inv[n->iattr[i]] = i;
    return permute_copy(x->grad, y->grad, y->ndim, y->shape, inv, true, y->numel);
}

// Inputs [pre, A_k, post] placed side by side in out [pre, sum A_k, post]; axis
// in iattr[0]. One launch per input.
extern "C" lt_status lt_cuda_concat_fwd(lt_node *n) {
    lt_tensor *y = n->out[0];
    int axis = (int)n->iattr[0];
    int64_t pre, post, off = 0, total = y->shape[axis];
    split_at(y, axis, &pre, &post);
    for (int k = 0; k < n->n_in; k++) {
        int64_t a = n->in[k]->shape[axis];
        LT_TRY(copy_rows((uint32_t *)y->data + off * post, total * post, n->in[k]->data, a * post, pre, a * post,
                         false));
        off += a;
    }
    return LT_OK;
}

extern "C" lt_status lt_cuda_concat_bwd(lt_node *n) {
    lt_tensor *y = n->out[0];
    if (!y->grad) return LT_OK;
    int axis = (int)n->iattr[0];
    int64_t pre, post, off = 0, total = y->shape[axis];
    split_at(y, axis, &pre, &post);
    for (int k = 0; k < n->n_in; k++) {
        lt_tensor *x = n->in[k];
        int64_t a = x->shape[axis];
        if (x->grad) LT_TRY(copy_rows(x->grad, a * post, y->grad + off * post, total * post, pre, a * post, true));
        off += a;
    }
    return LT_OK;
}

// x [pre, D, post] -> out [pre, len, post] from `start`; iattr = {axis, start, len}.
extern "C" lt_status lt_cuda_slice_fwd(lt_node *n) {
    lt_tensor *x = n->in[0], *y = n->out[0];
    int axis = (int)n->iattr[0];
    int64_t start = n->iattr[1], len = n->iattr[2], d = x->shape[axis], pre, post;
    split_at(x, axis, &pre, &post);
    return copy_rows(y->data, len * post, (const uint32_t *)x->data + start * post, d * post, pre, len * post, false);
}

extern "C" lt_status lt_cuda_slice_bwd(lt_node *n) {
    lt_tensor *x = n->in[0], *y = n->out[0];
    if (!x->grad || !y->grad) return LT_OK;
    int axis = (int)n->iattr[0];
    int64_t start = n->iattr[1], len = n->iattr[2], d = x->shape[axis], pre, post;
    split_at(x, axis, &pre, &post);
    return copy_rows(x->grad + start * post, d * post, y->grad, len * post, pre, len * post, true);
}
