// Reductions over one axis or all elements: sum, mean, max. The input is seen
// as [outer, n, inner] with n the reduced axis (outer = inner = 1 for all).
// Every output element is accumulated in double by one thread in a fixed
// order; a long single row is split into a fixed number of chunks, so results
// do not depend on the thread count.
#include "autograd/op.h"
#include "kernels/ops.h"

#include <math.h>

#define PAR_MIN 32768   // elements below which threads cost more than they gain
#define RED_W 64        // output elements handled together when inner > 1
#define ROW_CHUNKS 64   // fixed split of a long row

typedef struct { int64_t outer, n, inner; } span3;

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

static double row_sum(const float *x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    return s;
}

// y [outer, inner] = scale * sum over n of x [outer, n, inner]
static void sum_fwd(const float *x, float *y, span3 g, double scale) {
    int64_t total = g.outer * g.n * g.inner;
    if (g.inner == 1 && g.outer < 8 && g.n >= PAR_MIN) {
        for (int64_t o = 0; o < g.outer; o++) {
            const float *r = x + o * g.n;
            double part[ROW_CHUNKS];
            #pragma omp parallel for schedule(static)
            for (int c = 0; c < ROW_CHUNKS; c++)
                part[c] = row_sum(r + g.n * c / ROW_CHUNKS, g.n * (c + 1) / ROW_CHUNKS - g.n * c / ROW_CHUNKS);
            double s = 0;
            for (int c = 0; c < ROW_CHUNKS; c++) s += part[c];
            y[o] = (float)(s * scale);
        }
    } else if (g.inner == 1) {
        #pragma omp parallel for schedule(static) if (total > PAR_MIN)
        for (int64_t o = 0; o < g.outer; o++) y[o] = (float)(row_sum(x + o * g.n, g.n) * scale);
    } else {
        int64_t nblk = (g.inner + RED_W - 1) / RED_W;
        #pragma omp parallel for schedule(static) if (total > PAR_MIN)
        for (int64_t t = 0; t < g.outer * nblk; t++) {
            int64_t o = t / nblk, c0 = (t % nblk) * RED_W;
            int64_t w = g.inner - c0 < RED_W ? g.inner - c0 : RED_W;
            double acc[RED_W] = {0};
            for (int64_t k = 0; k < g.n; k++) {
                const float *r = x + (o * g.n + k) * g.inner + c0;
                for (int64_t l = 0; l < w; l++) acc[l] += r[l];
            }
            for (int64_t l = 0; l < w; l++) y[o * g.inner + c0 + l] = (float)(acc[l] * scale);
        }
    }
}

// gx [outer, n, inner] += scale * g [outer, inner]
static void sum_bwd(const float *g, float *gx, span3 s, float scale) {
    int64_t rows = s.outer * s.n;
    #pragma omp parallel for schedule(static) if (rows * s.inner > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *src = g + r / s.n * s.inner;
        float *dst = gx + r * s.inner;
        for (int64_t i = 0; i < s.inner; i++) dst[i] += scale * src[i];
    }
}

lt_status lt_cpu_sum_fwd(lt_node *n) {
    sum_fwd(lt_f32(n->in[0]), lt_f32(n->out[0]), geometry(n), 1.0);
    return LT_OK;
}

lt_status lt_cpu_sum_bwd(lt_node *n) {
    if (!n->out[0]->grad || !n->in[0]->grad) return LT_OK;
    sum_bwd(n->out[0]->grad, n->in[0]->grad, geometry(n), 1.f);
    return LT_OK;
}

lt_status lt_cpu_mean_fwd(lt_node *n) {
    span3 g = geometry(n);
    sum_fwd(lt_f32(n->in[0]), lt_f32(n->out[0]), g, 1.0 / (double)g.n);
    return LT_OK;
}

lt_status lt_cpu_mean_bwd(lt_node *n) {
    if (!n->out[0]->grad || !n->in[0]->grad) return LT_OK;
    span3 g = geometry(n);
    sum_bwd(n->out[0]->grad, n->in[0]->grad, g, (float)(1.0 / (double)g.n));
    return LT_OK;
}

// The first maximum wins; a NaN counts as larger than anything (propagates).
static inline int beats(float v, float best) { return v > best || (isnan(v) && !isnan(best)); }

// y [outer, inner] = max over n of x [outer, n, inner]; idx (may be NULL) gets the position along n.
lt_status lt_cpu_max_fwd(lt_node *n) {
    span3 g = geometry(n);
    const float *x = lt_f32(n->in[0]);
    float *y = lt_f32(n->out[0]);
    int32_t *idx = NULL;
    if (n->recorded) {
        idx = lt_node_save(n, sizeof(int32_t) * (size_t)(g.outer * g.inner));
        if (!idx) return lt_last_status();
        n->saved = idx;
    }
    int64_t total = g.outer * g.n * g.inner;
    if (g.inner == 1) {
        #pragma omp parallel for schedule(static) if (total > PAR_MIN)
        for (int64_t o = 0; o < g.outer; o++) {
            const float *r = x + o * g.n;
            float best = r[0];
            int64_t bi = 0;
            for (int64_t k = 1; k < g.n; k++) if (beats(r[k], best)) { best = r[k]; bi = k; }
            y[o] = best;
            if (idx) idx[o] = (int32_t)bi;
        }
    } else {
        int64_t nblk = (g.inner + RED_W - 1) / RED_W;
        #pragma omp parallel for schedule(static) if (total > PAR_MIN)
        for (int64_t t = 0; t < g.outer * nblk; t++) {
            int64_t o = t / nblk, c0 = (t % nblk) * RED_W;
            int64_t w = g.inner - c0 < RED_W ? g.inner - c0 : RED_W;
            const float *base = x + o * g.n * g.inner + c0;
            float best[RED_W];
            int32_t bi[RED_W];
            for (int64_t l = 0; l < w; l++) { best[l] = base[l]; bi[l] = 0; }
            for (int64_t k = 1; k < g.n; k++) {
                const float *r = base + k * g.inner;
                for (int64_t l = 0; l < w; l++) if (beats(r[l], best[l])) { best[l] = r[l]; bi[l] = (int32_t)k; }
            }
            for (int64_t l = 0; l < w; l++) {
                y[o * g.inner + c0 + l] = best[l];
                if (idx) idx[o * g.inner + c0 + l] = bi[l];
            }
        }
    }
    return LT_OK;
}

// gx [outer, n, inner]: g [outer, inner] goes to the saved argmax of each output.
lt_status lt_cpu_max_bwd(lt_node *n) {
    const float *g = n->out[0]->grad;
    float *gx = n->in[0]->grad;
    if (!g || !gx) return LT_OK;
    const int32_t *idx = n->saved;
    if (!idx) return lt_error(LT_ERR_STATE, "max: backward found no saved argmax (forward was not recorded)");
    span3 s = geometry(n);
    int64_t m = s.outer * s.inner;
    #pragma omp parallel for schedule(static) if (m > PAR_MIN)
    for (int64_t j = 0; j < m; j++) {
        int64_t o = j / s.inner, i = j % s.inner;
        gx[(o * s.n + idx[j]) * s.inner + i] += g[j];
    }
    return LT_OK;
}
