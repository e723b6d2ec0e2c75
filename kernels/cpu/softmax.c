// softmax and log_softmax over the last axis, max-subtracted. Backward reads
// the forward output (still in the arena), so nothing extra is saved.
#include "autograd/op.h"

#include <math.h>

#define PAR_MIN 32768   // elements below which a kernel stays on one thread

static void row_dims(const lt_tensor *x, int64_t *rows, int *d) {
    *d = x->shape[x->ndim - 1];
    *rows = x->numel / *d;
}

// Returns log(sum_j exp(x_j - mx)) with mx = max_j x_j written to *mx.
static double row_logsumexp_shifted(const float *x, int d, float *mx) {
    float m = x[0];
    for (int j = 1; j < d; j++) m = x[j] > m ? x[j] : m;
    double s = 0;
    for (int j = 0; j < d; j++) s += expf(x[j] - m);
    *mx = m;
    return log(s);
}

lt_status lt_cpu_softmax_fwd(lt_node *n) {
    int64_t rows;
    int d;
    row_dims(n->in[0], &rows, &d);
    const float *X = lt_f32(n->in[0]);
    float *Y = lt_f32(n->out[0]);
#pragma omp parallel for if (rows * d > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *x = X + r * d;
        float *y = Y + r * d;
        float m = x[0];
        for (int j = 1; j < d; j++) m = x[j] > m ? x[j] : m;
        double s = 0;
        for (int j = 0; j < d; j++) { y[j] = expf(x[j] - m); s += y[j]; }
        float inv = (float)(1.0 / s);
        for (int j = 0; j < d; j++) y[j] *= inv;
    }
    return LT_OK;
}

// dx = y * (g - sum_j g_j y_j)
lt_status lt_cpu_softmax_bwd(lt_node *n) {
    const float *G = n->out[0]->grad;
    float *dX = n->in[0]->grad;
    if (!G || !dX) return LT_OK;
    int64_t rows;
    int d;
    row_dims(n->in[0], &rows, &d);
    const float *Y = lt_f32(n->out[0]);
#pragma omp parallel for if (rows * d > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *y = Y + r * d, *g = G + r * d;
        float *dx = dX + r * d;
        double dot = 0;
        for (int j = 0; j < d; j++) dot += (double)g[j] * y[j];
        float fd = (float)dot;
        for (int j = 0; j < d; j++) dx[j] += y[j] * (g[j] - fd);
    }
    return LT_OK;
}

lt_status lt_cpu_log_softmax_fwd(lt_node *n) {
    int64_t rows;
    int d;
    row_dims(n->in[0], &rows, &d);
    const float *X = lt_f32(n->in[0]);
    float *Y = lt_f32(n->out[0]);
#pragma omp parallel for if (rows * d > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *x = X + r * d;
        float *y = Y + r * d;
        float m;
        float lse = (float)row_logsumexp_shifted(x, d, &m);
        for (int j = 0; j < d; j++) y[j] = (x[j] - m) - lse;
    }
    return LT_OK;
}

// dx = g - exp(y) * sum_j g_j
lt_status lt_cpu_log_softmax_bwd(lt_node *n) {
    const float *G = n->out[0]->grad;
    float *dX = n->in[0]->grad;
    if (!G || !dX) return LT_OK;
    int64_t rows;
    int d;
    row_dims(n->in[0], &rows, &d);
    const float *Y = lt_f32(n->out[0]);
#pragma omp parallel for if (rows * d > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *y = Y + r * d, *g = G + r * d;
        float *dx = dX + r * d;
        double s = 0;
        for (int j = 0; j < d; j++) s += g[j];
        float fs = (float)s;
        for (int j = 0; j < d; j++) dx[j] += g[j] - expf(y[j]) * fs;
    }
    return LT_OK;
}
