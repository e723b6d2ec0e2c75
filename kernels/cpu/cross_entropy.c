// Cross-entropy from logits with ignore_index and label smoothing (torch
// semantics). iattr: [0] ignore_index, [1] number of non-ignored rows (counted
// by the builder); fattr[0] label smoothing eps. Saves log-sum-exp per row.
#include "autograd/op.h"

#include <math.h>

#define PAR_MIN 32768

// in: logits [N,C] f32, target [N] i32; out: scalar
lt_status lt_cpu_cross_entropy_fwd(lt_node *n) {
    const lt_tensor *lg = n->in[0];
    int N = lg->shape[0], C = lg->shape[1];
    const float *X = lt_f32(lg);
    const int32_t *T = lt_i32(n->in[1]);
    int64_t ignore = n->iattr[0], n_valid = n->iattr[1];
    double eps = n->fattr[0];
    float *lse = lt_node_save(n, sizeof(float) * (size_t)N);
    double *row = lt_node_save(n, sizeof(double) * (size_t)N);
    if (!lse || !row) return lt_last_status();
#pragma omp parallel for if ((int64_t)N * C > PAR_MIN)
    for (int i = 0; i < N; i++) {
        if (T[i] == ignore) { row[i] = 0; lse[i] = 0; continue; }
        const float *x = X + (int64_t)i * C;
        float m = x[0];
        for (int j = 1; j < C; j++) m = x[j] > m ? x[j] : m;
        double s = 0, sx = 0;
        for (int j = 0; j < C; j++) { s += expf(x[j] - m); sx += x[j]; }
        double l = m + log(s);
        lse[i] = (float)l;
        row[i] = (1 - eps) * (l - x[T[i]]) + eps * (l - sx / C);
    }
    double total = 0;
    for (int i = 0; i < N; i++) total += row[i];
    *lt_f32(n->out[0]) = n_valid ? (float)(total / (double)n_valid) : NAN;
    n->saved = lse;
    return LT_OK;
}

// dx_c = g / n_valid * (p_c - eps/C - (1-eps) [c == t]) on non-ignored rows
lt_status lt_cpu_cross_entropy_bwd(lt_node *n) {
    const float *G = n->out[0]->grad;
    float *dX = n->in[0]->grad;
    int64_t ignore = n->iattr[0], n_valid = n->iattr[1];
    if (!G || !dX || n_valid == 0) return LT_OK;
    const lt_tensor *lg = n->in[0];
    int N = lg->shape[0], C = lg->shape[1];
    const float *X = lt_f32(lg), *lse = n->saved;
    const int32_t *T = lt_i32(n->in[1]);
    float eps = n->fattr[0];
    float scale = G[0] / (float)n_valid, off = eps / (float)C, hit = 1.0f - eps;
#pragma omp parallel for if ((int64_t)N * C > PAR_MIN)
    for (int i = 0; i < N; i++) {
        if (T[i] == ignore) continue;
        const float *x = X + (int64_t)i * C;
        float *dx = dX + (int64_t)i * C;
        for (int j = 0; j < C; j++) dx[j] += scale * (expf(x[j] - lse[i]) - off);
        dx[T[i]] -= scale * hit;
    }
    return LT_OK;
}
