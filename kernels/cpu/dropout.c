// Inverted dropout with a Philox mask: element i is kept iff
// lt_rng_uniform_at(seed, base, i) >= p. iattr: [0] seed, [1] base counter;
// fattr: [0] p, [1] scale 1/(1-p). The backward regenerates the mask, so no
// mask memory is kept and any device reproduces it.
#include "autograd/op.h"
#include "libtrain/rng.h"

#define PAR_MIN 16384

// in: x [..]; out: y [..]
lt_status lt_cpu_dropout_fwd(lt_node *n) {
    uint64_t seed = (uint64_t)n->iattr[0], base = (uint64_t)n->iattr[1];
    float p = n->fattr[0], scale = n->fattr[1];
    const float *X = lt_f32(n->in[0]);
    float *Y = lt_f32(n->out[0]);
    int64_t N = n->in[0]->numel;
#pragma omp parallel for if (N > PAR_MIN)
    for (int64_t i = 0; i < N; i++) Y[i] = lt_rng_uniform_at(seed, base, (uint64_t)i) >= p ? X[i] * scale : 0.0f;
    return LT_OK;
}

lt_status lt_cpu_dropout_bwd(lt_node *n) {
    const float *G = n->out[0]->grad;
    float *dX = n->in[0]->grad;
    if (!G || !dX) return LT_OK;
    uint64_t seed = (uint64_t)n->iattr[0], base = (uint64_t)n->iattr[1];
    float p = n->fattr[0], scale = n->fattr[1];
    int64_t N = n->in[0]->numel;
#pragma omp parallel for if (N > PAR_MIN)
    for (int64_t i = 0; i < N; i++)
        if (lt_rng_uniform_at(seed, base, (uint64_t)i) >= p) dX[i] += G[i] * scale;
    return LT_OK;
}
