// Embedding lookup on CUDA; the builder has checked every id is in [0,V).
// Backward is index_select's deterministic scatter-add (kernels/cuda/index.cu)
// with the table as x along axis 0: duplicate ids sum in position order,
// bit-identical to the CPU reference.
#include "kernels/cuda/common.cuh"

#include <stdint.h>

// kernels/cuda/index.cu: gx [pre, D, post] += gy [pre, K, post] scattered by idx [K].
extern "C" lt_status lt_cuda_index_add(lt_node *n, float *gx, const float *gy, const int32_t *idx, int64_t pre,
                                       int64_t D, int64_t K, int64_t post);

namespace {

constexpr int kThreads = 256;

// ids [P], table [V, dv], y [P, dv] in units of W (float or float4): row p of y
// is row ids[p] of the table.
template <typename W>
__global__ void embedding_kernel(W *__restrict__ y, const W *__restrict__ table, const int32_t *__restrict__ ids,
                                 int64_t P, int64_t dv) {
    LT_GRID_STRIDE(e, P * dv) {
        int64_t p = e / dv, q = e - p * dv;
        y[e] = table[(int64_t)ids[p] * dv + q];
    }
}

}  // namespace

// in: ids i32 [..] (P positions), table [V,D]; out: [.., D]
extern "C" lt_status lt_cuda_embedding_fwd(lt_node *n) {
    const lt_tensor *ids = n->in[0], *tab = n->in[1];
    lt_tensor *y = n->out[0];
    int64_t P = ids->numel, d = tab->shape[1];
    cudaStream_t st = lt_cuda_stream();
    bool vec = d % 4 == 0 && ((uintptr_t)tab->data & 15) == 0 && ((uintptr_t)y->data & 15) == 0;
    if (vec)
        embedding_kernel<float4><<<lt_cuda_blocks(P * d / 4, kThreads), kThreads, 0, st>>>(
            (float4 *)y->data, (const float4 *)tab->data, lt_cuda_i32(ids), P, d / 4);
    else
        embedding_kernel<float><<<lt_cuda_blocks(P * d, kThreads), kThreads, 0, st>>>(
            lt_cuda_f32(y), lt_cuda_f32(tab), lt_cuda_i32(ids), P, d);
    LT_LAUNCH_CHECK("embedding");
    return LT_OK;
}

// dtable [V, D] += scatter of dy [P, D] by ids [P].
extern "C" lt_status lt_cuda_embedding_bwd(lt_node *n) {
    const float *G = n->out[0]->grad;
    float *dT = n->in[1]->grad;
    if (!G || !dT) return LT_OK;
    const lt_tensor *ids = n->in[0], *tab = n->in[1];
    return lt_cuda_index_add(n, dT, G, lt_cuda_i32(ids), 1, tab->shape[0], ids->numel, tab->shape[1]);
}
