// layernorm and rmsnorm over the last axis (torch semantics: biased variance).
// iattr[0]: w present, iattr[1]: b present (layernorm); fattr[0]: eps. Inputs
// are x, then w and b when present. Forward saves per-row statistics.
#include "autograd/op.h"

#include <math.h>

#define PAR_MIN 32768
#define COL_BLK 64

typedef struct {
    const lt_tensor *x, *w, *b;
    int64_t rows;
    int d;
} norm_args;

static norm_args norm_args_of(const lt_node *n) {
    norm_args a = {n->in[0], NULL, NULL, 0, 0};
    int k = 1;
    if (n->iattr[0]) a.w = n->in[k++];
    if (n->iattr[1]) a.b = n->in[k++];
    a.d = a.x->shape[a.x->ndim - 1];
    a.rows = a.x->numel / a.d;
    return a;
}

// Column sums over all rows for a block of columns, in row order (deterministic):
// dw[j] += sum_r g[r,j] xhat[r,j], db[j] += sum_r g[r,j], xhat = (x - mean) * rstd.
// mean is NULL for rmsnorm.
static void norm_param_grads(const norm_args *a, const float *G, const float *mean, const float *rstd, float *dw,
                             float *db) {
    const float *X = lt_f32(a->x);
    int d = a->d, nblk = (d + COL_BLK - 1) / COL_BLK;
#pragma omp parallel for if (a->rows * d > PAR_MIN && nblk > 1)
    for (int bi = 0; bi < nblk; bi++) {
        int j0 = bi * COL_BLK, j1 = j0 + COL_BLK < d ? j0 + COL_BLK : d;
        double aw[COL_BLK] = {0}, ab[COL_BLK] = {0};
        for (int64_t r = 0; r < a->rows; r++) {
            const float *x = X + r * d, *g = G + r * d;
            float mu = mean ? mean[r] : 0.0f, rs = rstd[r];
            for (int j = j0; j < j1; j++) {
                aw[j - j0] += (double)g[j] * ((x[j] - mu) * rs);
                ab[j - j0] += g[j];
            }
        }
        for (int j = j0; j < j1; j++) {
            if (dw) dw[j] += (float)aw[j - j0];
            if (db) db[j] += (float)ab[j - j0];
        }
    }
}

// dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = g * w;
// rmsnorm (mean NULL) drops the mean(dxhat) term.
static void norm_input_grad(const norm_args *a, const float *G, const float *mean, const float *rstd, float *dX) {
    const float *X = lt_f32(a->x), *W = a->w ? lt_f32(a->w) : NULL;
    int d = a->d;
#pragma omp parallel for if (a->rows * d > PAR_MIN)
    for (int64_t r = 0; r < a->rows; r++) {
        const float *x = X + r * d, *g = G + r * d;
        float *dx = dX + r * d;
        float mu = mean ? mean[r] : 0.0f, rs = rstd[r];
        double s1 = 0, s2 = 0;
        for (int j = 0; j < d; j++) {
            float dxh = W ? g[j] * W[j] : g[j];
            s1 += dxh;
            s2 += (double)dxh * ((x[j] - mu) * rs);
        }
        float m1 = mean ? (float)(s1 / d) : 0.0f, m2 = (float)(s2 / d);
        for (int j = 0; j < d; j++) {
            float dxh = W ? g[j] * W[j] : g[j];
            dx[j] += rs * (dxh - m1 - ((x[j] - mu) * rs) * m2);
        }
    }
}

// in: x [.., D], w [D]?, b [D]?; out: y [.., D]; saves mean [rows], rstd [rows]
lt_status lt_cpu_layernorm_fwd(lt_node *n) {
    norm_args a = norm_args_of(n);
    int d = a.d;
    float *stats = NULL;
    if (n->recorded) {
        if (!(stats = lt_node_save(n, sizeof(float) * 2 * (size_t)a.rows))) return lt_last_status();
        n->saved = stats;
    }
    const float *X = lt_f32(a.x), *W = a.w ? lt_f32(a.w) : NULL, *B = a.b ? lt_f32(a.b) : NULL;
    float *Y = lt_f32(n->out[0]);
    double eps = n->fattr[0];
#pragma omp parallel for if (a.rows * d > PAR_MIN)
    for (int64_t r = 0; r < a.rows; r++) {
        const float *x = X + r * d;
        float *y = Y + r * d;
        double s = 0, v = 0;
        for (int j = 0; j < d; j++) s += x[j];
        float mu = (float)(s / d);
        for (int j = 0; j < d; j++) v += (double)(x[j] - mu) * (x[j] - mu);
        float rs = (float)(1.0 / sqrt(v / d + eps));
        for (int j = 0; j < d; j++) {
            float h = (x[j] - mu) * rs;
            if (W) h *= W[j];
            if (B) h += B[j];
            y[j] = h;
        }
        if (stats) { stats[r] = mu; stats[a.rows + r] = rs; }
    }
    return LT_OK;
}

lt_status lt_cpu_layernorm_bwd(lt_node *n) {
    const float *G = n->out[0]->grad;
    if (!G) return LT_OK;
    norm_args a = norm_args_of(n);
    const float *mean = n->saved, *rstd = mean + a.rows;
    float *dw = a.w ? a.w->grad : NULL, *db = a.b ? a.b->grad : NULL;
    if (a.x->grad) norm_input_grad(&a, G, mean, rstd, a.x->grad);
    if (dw || db) norm_param_grads(&a, G, mean, rstd, dw, db);
    return LT_OK;
}

// in: x [.., D], w [D]?; out: y [.., D]; saves rstd [rows]
lt_status lt_cpu_rmsnorm_fwd(lt_node *n) {
    norm_args a = norm_args_of(n);
    int d = a.d;
    float *rstd = NULL;
    if (n->recorded) {
        if (!(rstd = lt_node_save(n, sizeof(float) * (size_t)a.rows))) return lt_last_status();
        n->saved = rstd;
    }
    const float *X = lt_f32(a.x), *W = a.w ? lt_f32(a.w) : NULL;
    float *Y = lt_f32(n->out[0]);
    double eps = n->fattr[0];
#pragma omp parallel for if (a.rows * d > PAR_MIN)
    for (int64_t r = 0; r < a.rows; r++) {
        const float *x = X + r * d;
        float *y = Y + r * d;
        double ss = 0;
        for (int j = 0; j < d; j++) ss += (double)x[j] * x[j];
        float rs = (float)(1.0 / sqrt(ss / d + eps));
        for (int j = 0; j < d; j++) y[j] = W ? x[j] * rs * W[j] : x[j] * rs;
        if (rstd) rstd[r] = rs;
    }
    return LT_OK;
}

lt_status lt_cpu_rmsnorm_bwd(lt_node *n) {
    const float *G = n->out[0]->grad;
    if (!G) return LT_OK;
    norm_args a = norm_args_of(n);
    const float *rstd = n->saved;
    if (a.x->grad) norm_input_grad(&a, G, NULL, rstd, a.x->grad);
    if (a.w && a.w->grad) norm_param_grads(&a, G, NULL, rstd, a.w->grad, NULL);
    return LT_OK;
}
