// Embedding lookup; the builder has checked every id is in [0,V).
#include "autograd/op.h"

#include <omp.h>
#include <string.h>

#define PAR_MIN 32768

// in: ids i32 [..] (P positions), table [V,D]; out: [.., D]
lt_status lt_cpu_embedding_fwd(lt_node *n) {
    const int32_t *ids = lt_i32(n->in[0]);
    const lt_tensor *tab = n->in[1];
    int d = tab->shape[1];
    int64_t P = n->in[0]->numel;
    const float *T = lt_f32(tab);
    float *Y = lt_f32(n->out[0]);
#pragma omp parallel for if (P * d > PAR_MIN)
    for (int64_t p = 0; p < P; p++) memcpy(Y + p * d, T + (int64_t)ids[p] * d, sizeof(float) * (size_t)d);
    return LT_OK;
}

// Scatter-add into the table gradient. Thread t owns the rows with id % nt == t
// and visits positions in order, so each row sums its contributions in
// position order whatever the thread count: deterministic and race-free.
lt_status lt_cpu_embedding_bwd(lt_node *n) {
    const float *G = n->out[0]->grad;
    float *dT = n->in[1]->grad;
    if (!G || !dT) return LT_OK;
    const int32_t *ids = lt_i32(n->in[0]);
    int d = n->in[1]->shape[1];
    int64_t P = n->in[0]->numel;
#pragma omp parallel if (P * d > PAR_MIN)
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        for (int64_t p = 0; p < P; p++) {
            if (ids[p] % nt != t) continue;
            const float *g = G + p * d;
            float *dt = dT + (int64_t)ids[p] * d;
            for (int j = 0; j < d; j++) dt[j] += g[j];
        }
    }
    return LT_OK;
}
