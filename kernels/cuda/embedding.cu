// Embedding lookup on CUDA. Ids are checked on the device (an id outside
// [0,V) gives a NaN row and an error at the next lt_ctx_sync naming it), so
// the builder copies nothing to the host.
// Backward is index_select's deterministic scatter-add (kernels/cuda/index.cu)
// with the table as x along axis 0: duplicate ids sum in position order,
// bit-identical to the CPU reference.
#include "kernels/cuda/common.cuh"

#include <stdint.h>

// kernels/cuda/index.cu: gx [pre, D, post] += gy [pre, K, post] scattered by idx [K].
extern "C" lt_status lt_cuda_index_add(lt_node *n, float *gx, const float *gy, const int32_t *idx, int64_t pre,
                                       int64_t D, int64_t K, int64_t post);
// kernels/cuda/index.cu: y [P, d] = rows ids [P] of table [V, d], ids checked.
extern "C" lt_status lt_cuda_embedding_lookup(float *y, const float *table, const int32_t *ids, int64_t V, int64_t P,
                                              int64_t d);


// in: ids i32 [..] (P positions), table [V,D]; out: [.., D]
extern "C" lt_status lt_cuda_embedding_fwd(lt_node *n) {
    const lt_tensor *ids = n->in[0], *tab = n->in[1];
    return lt_cuda_embedding_lookup(lt_cuda_f32(n->out[0]), lt_cuda_f32(tab), lt_cuda_i32(ids), tab->shape[0],
                                    ids->numel, tab->shape[1]);
}

// dtable [V, D] += scatter of dy [P, D] by ids [P].
extern "C" lt_status lt_cuda_embedding_bwd(lt_node *n) {
    const float *G = n->out[0]->grad;
    float *dT = n->in[1]->grad;
    if (!G || !dT) return LT_OK;
    const lt_tensor *ids = n->in[0], *tab = n->in[1];
    return lt_cuda_index_add(n, dT, G, lt_cuda_i32(ids), 1, tab->shape[0], ids->numel, tab->shape[1]);
}
