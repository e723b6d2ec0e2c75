// Entropy of softmax(s) over the last axis in one pass per row. With the
// running maximum m, Z = sum_j e^(s_j - m) and A = sum_j e^(s_j - m)(s_j - m)
// are rescaled together when m grows, and
//   H = lse - mu = log Z - A / Z,   lse = m + log Z,   mu = m + A / Z,
// so no large value is ever subtracted from another. Backward:
//   dH/ds_j = -p_j (s_j - mu),  p_j = e^(s_j - lse).
// A logit at -inf (or -1e9 masking) has p_j = 0 and adds nothing: terms whose
// exponential underflows to 0 are skipped, never multiplied by an infinity
// (a NaN logit still propagates).
#include "autograd/op.h"

#include <math.h>
#include <stdint.h>

#define PAR_MIN 32768   // elements below which a kernel stays on one thread
#define CHUNK 256       // the running max is updated once per chunk

// Per row, relative to the row max m: what backward needs.
typedef struct { float m, log_z, mu_rel; } row_stats;

// Returns 0 if the row has no finite maximum (every logit -inf, or a +inf/NaN maximum).
static int row_entropy(const float *s, int d, row_stats *st, double *h) {
    float m = -INFINITY;
    double z = 0, a = 0;
    for (int j0 = 0; j0 < d; j0 += CHUNK) {
        int j1 = j0 + CHUNK < d ? j0 + CHUNK : d;
        float cm = s[j0];
        for (int j = j0 + 1; j < j1; j++) cm = s[j] > cm ? s[j] : cm;
        if (cm > m) {
            if (z > 0) {
                // terms were relative to m; shift them to cm
                double shift = (double)cm - m, alpha = exp(-shift);
                a = alpha * (a - z * shift);
                z *= alpha;
            }
            m = cm;
        }
        if (!(m > -INFINITY && m < INFINITY)) continue;
        for (int j = j0; j < j1; j++) {
            float dj = s[j] - m;
            float e = expf(dj);
            if (e != 0) { z += e; a += (double)e * dj; }
        }
    }
    if (!(m > -INFINITY && m < INFINITY) || !(z > 0)) return 0;
    double mu_rel = a / z, log_z = log(z);
    st->m = m;
    st->log_z = (float)log_z;
    st->mu_rel = (float)mu_rel;
    *h = log_z - mu_rel;
    return 1;
}

lt_status lt_cpu_softmax_entropy_fwd(lt_node *n) {
    const lt_tensor *x = n->in[0];
    int d = x->shape[x->ndim - 1];
    int64_t rows = x->numel / d;
    const float *S = lt_f32(x);
    float *H = lt_f32(n->out[0]);
    row_stats *saved = NULL;
    if (n->recorded) {
        saved = lt_node_save(n, sizeof(row_stats) * (size_t)rows);
        if (!saved) return lt_last_status();
        n->saved = saved;
    }
    int64_t first_bad = INT64_MAX;
#pragma omp parallel for if (rows * d > PAR_MIN) reduction(min : first_bad)
    for (int64_t r = 0; r < rows; r++) {
        row_stats st;
        double h;
        if (!row_entropy(S + r * d, d, &st, &h)) {
            if (r < first_bad) first_bad = r;
            H[r] = NAN;
            continue;
        }
        H[r] = (float)h;
        if (saved) saved[r] = st;
    }
    if (first_bad != INT64_MAX)
        return lt_error(LT_ERR_NONFINITE,
                        "softmax_entropy: row %lld of %lld (length %d) has no finite maximum logit "
                        "(every entry -inf, or a +inf/NaN entry)",
                        (long long)first_bad, (long long)rows, d);
    return LT_OK;
}

lt_status lt_cpu_softmax_entropy_bwd(lt_node *n) {
    const float *G = n->out[0]->grad;
    float *dS = n->in[0]->grad;
    if (!G || !dS) return LT_OK;
    const lt_tensor *x = n->in[0];
    int d = x->shape[x->ndim - 1];
    int64_t rows = x->numel / d;
    const float *S = lt_f32(x);
    const row_stats *saved = n->saved;
#pragma omp parallel for if (rows * d > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *s = S + r * d;
        float *ds = dS + r * d;
        row_stats st = saved[r];
        float g = G[r];
        if (g == 0) continue;
        for (int j = 0; j < d; j++) {
            float rel = s[j] - st.m;   // exact near the max
            float p = expf(rel - st.log_z);
            if (p != 0) ds[j] -= g * p * (rel - st.mu_rel);
        }
    }
    return LT_OK;
}
