#include "layers/attn_diagnostics.h"
#include "libtrain/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PAR_MIN 32768   // q elements below which the scan stays on one thread

lt_status lt_attn_diag_init(lt_attn_diag *d, int n_layers, int n_heads) {
    memset(d, 0, sizeof *d);
    if (n_layers < 1 || n_heads < 1)
        return lt_error(LT_ERR_ARG, "attn_diag_init: n_layers and n_heads must be >= 1, got %d and %d", n_layers,
                        n_heads);
    size_t n = (size_t)n_layers * (size_t)n_heads;
    d->n_layers = n_layers;
    d->n_heads = n_heads;
    d->ent_sum = malloc(n * sizeof *d->ent_sum);
    d->ent_min = malloc(n * sizeof *d->ent_min);
    d->ent_rows = malloc(n * sizeof *d->ent_rows);
    d->sink_sum = malloc(n * sizeof *d->sink_sum);
    d->sink_rows = malloc(n * sizeof *d->sink_rows);
    if (!d->ent_sum || !d->ent_min || !d->ent_rows || !d->sink_sum || !d->sink_rows) {
        lt_attn_diag_free(d);
        return lt_error(LT_ERR_OOM, "attn_diag_init: cannot allocate %d x %d accumulators", n_layers, n_heads);
    }
    lt_attn_diag_reset(d);
    return LT_OK;
}

void lt_attn_diag_free(lt_attn_diag *d) {
    free(d->ent_sum);
    free(d->ent_min);
    free(d->ent_rows);
    free(d->sink_sum);
    free(d->sink_rows);
    memset(d, 0, sizeof *d);
}

void lt_attn_diag_reset(lt_attn_diag *d) {
    for (int i = 0; i < d->n_layers * d->n_heads; i++) {
        d->ent_sum[i] = 0;
        d->ent_min[i] = INFINITY;
        d->ent_rows[i] = 0;
        d->sink_sum[i] = 0;
        d->sink_rows[i] = 0;
    }
}

// Host pointer to t's values: t's own data on the CPU, else a copy in *owned (caller frees).
static const void *host_view(const lt_tensor *t, void **owned) {
    *owned = NULL;
    if (!t || t->device == LT_CPU) return t ? t->data : NULL;
    *owned = malloc((size_t)t->numel * lt_dtype_size(t->dtype));
    if (!*owned) {
        lt_error(LT_ERR_OOM, "attn_diag_add: cannot stage %lld values on the host", (long long)t->numel);
        return NULL;
    }
    if (lt_tensor_to_host(t, *owned) != LT_OK) { free(*owned); *owned = NULL; return NULL; }
    return *owned;
}

static int is_bht(const lt_tensor *t, int B, int H, int T) {
    return t->ndim == 3 && t->shape[0] == B && t->shape[1] == H && t->shape[2] == T;
}

static lt_status add(lt_attn_diag *d, int layer, const lt_tensor *q, const lt_tensor *k, const lt_tensor *lse,
                     const lt_tensor *entropy, float scale, const lt_tensor *block_mask, int block_q, int block_k) {
    const char *fn = "attn_diag_add";
    char b1[64], b2[64], b3[64];
    if (!d->ent_sum) return lt_error(LT_ERR_STATE, "%s: the diagnostics were not initialized (lt_attn_diag_init)", fn);
    if (!q || !k || !lse) return lt_error(LT_ERR_ARG, "%s: q, k and lse are required (got a NULL one)", fn);
    if (layer < 0 || layer >= d->n_layers)
        return lt_error(LT_ERR_ARG, "%s: layer %d out of range [0,%d)", fn, layer, d->n_layers);
    LT_TRY(lt_expect_dtype(fn, "q", q, LT_F32));
    LT_TRY(lt_expect_dtype(fn, "k", k, LT_F32));
    LT_TRY(lt_expect_dtype(fn, "lse", lse, LT_F32));
    if (q->ndim != 4 || k->ndim != 4 || q->shape[0] != k->shape[0] || q->shape[3] != k->shape[3] ||
        q->shape[1] % k->shape[1] != 0)
        return lt_error(LT_ERR_SHAPE, "%s: q must be [B,Hq,T,D] and k [B,Hkv,S,D] with Hkv dividing Hq, got q %s, k %s",
                        fn, lt_shape_str(q, b1), lt_shape_str(k, b2));
    int B = q->shape[0], H = q->shape[1], T = q->shape[2], D = q->shape[3];
    int Hkv = k->shape[1], S = k->shape[2], group = H / Hkv;
    if (H != d->n_heads)
        return lt_error(LT_ERR_SHAPE, "%s: q %s has %d heads, the diagnostics were set up for %d", fn,
                        lt_shape_str(q, b1), H, d->n_heads);
    if (!is_bht(lse, B, H, T))
        return lt_error(LT_ERR_SHAPE, "%s: lse must be [B,Hq,T] for q %s, got %s", fn, lt_shape_str(q, b1),
                        lt_shape_str(lse, b2));
    if (entropy) {
        LT_TRY(lt_expect_dtype(fn, "entropy", entropy, LT_F32));
        if (!is_bht(entropy, B, H, T))
            return lt_error(LT_ERR_SHAPE, "%s: entropy must be [B,Hq,T] for q %s, got %s", fn, lt_shape_str(q, b1),
                            lt_shape_str(entropy, b3));
    }
    int nbq = 0, nbk = 0;
    if (block_mask) {
        LT_TRY(lt_expect_dtype(fn, "block_mask", block_mask, LT_I32));
        if (block_q < 1 || block_k < 1)
            return lt_error(LT_ERR_ARG, "%s: block sizes must be >= 1, got %d x %d", fn, block_q, block_k);
        nbq = (T + block_q - 1) / block_q;
        nbk = (S + block_k - 1) / block_k;
        if (block_mask->ndim != 4 || block_mask->shape[0] != B || block_mask->shape[1] != H ||
            block_mask->shape[2] != nbq || block_mask->shape[3] != nbk)
            return lt_error(LT_ERR_SHAPE, "%s: block_mask must be [%d,%d,%d,%d] for q %s, k %s and blocks %d x %d, got %s",
                            fn, B, H, nbq, nbk, lt_shape_str(q, b1), lt_shape_str(k, b2), block_q, block_k,
                            lt_shape_str(block_mask, b3));
    }
    if (scale == 0) scale = 1.0f / sqrtf((float)D);

    void *own[5] = {0};
    const float *Q = host_view(q, &own[0]), *K = host_view(k, &own[1]), *L = host_view(lse, &own[2]);
    const float *E = entropy ? host_view(entropy, &own[3]) : NULL;
    const int32_t *M = block_mask ? host_view(block_mask, &own[4]) : NULL;
    int n_bh = B * H;
    double *psink = malloc(sizeof(double) * (size_t)n_bh * 2);
    float *pmin = malloc(sizeof(float) * (size_t)n_bh);
    lt_status st = LT_OK;
    if (!Q || !K || !L || (entropy && !E) || (block_mask && !M)) st = lt_last_status();
    else if (!psink || !pmin) st = lt_error(LT_ERR_OOM, "%s: cannot allocate %d partial sums", fn, n_bh);
    if (st == LT_OK) {
        double *pent = psink + n_bh;
        // Partial sums per (b, h), merged below in a fixed order: the totals do not depend on the thread count.
#pragma omp parallel for if (q->numel > PAR_MIN)
        for (int bh = 0; bh < n_bh; bh++) {
            int b = bh / H, h = bh % H;
            const float *k0 = K + ((int64_t)b * Hkv + h / group) * S * D;
            double sink = 0, ent = 0;
            float mn = INFINITY;
            for (int t = 0; t < T; t++) {
                int64_t row = (int64_t)bh * T + t;
                const float *qr = Q + row * D;
                double dot = 0;
                for (int j = 0; j < D; j++) dot += (double)qr[j] * k0[j];
                int visible = !M || M[((int64_t)bh * nbq + t / block_q) * nbk] != 0;
                if (visible) sink += exp((double)scale * dot - L[row]);
                if (E) {
                    ent += E[row];
                    mn = E[row] < mn ? E[row] : mn;
                }
            }
            psink[bh] = sink;
            pent[bh] = ent;
            pmin[bh] = mn;
        }
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                int i = layer * H + h, bh = b * H + h;
                d->sink_sum[i] += psink[bh];
                d->sink_rows[i] += T;
                if (!E) continue;
                d->ent_sum[i] += pent[bh];
                d->ent_rows[i] += T;
                if (pmin[bh] < d->ent_min[i]) d->ent_min[i] = pmin[bh];
            }
    }
    free(psink);
    free(pmin);
    for (int i = 0; i < 5; i++) free(own[i]);
    return st;
}

lt_status lt_attn_diag_add(lt_attn_diag *d, int layer, const lt_tensor *q, const lt_tensor *k, const lt_tensor *lse,
                           const lt_tensor *entropy, float scale) {
    return add(d, layer, q, k, lse, entropy, scale, NULL, 0, 0);
}

lt_status lt_attn_diag_add_out(lt_attn_diag *d, int layer, const lt_tensor *q, const lt_tensor *k,
                               const lt_attn_opts *opts, const lt_attn_out *out) {
    if (!opts || !out) return lt_error(LT_ERR_ARG, "attn_diag_add: opts and out are required (got a NULL one)");
    return add(d, layer, q, k, out->lse, out->entropy, opts->scale, opts->block_mask, opts->block_q, opts->block_k);
}

static int slot(const lt_attn_diag *d, int layer, int head) {
    if (!d->ent_sum || layer < 0 || layer >= d->n_layers || head < 0 || head >= d->n_heads) return -1;
    return layer * d->n_heads + head;
}

double lt_attn_diag_entropy_mean(const lt_attn_diag *d, int layer, int head) {
    int i = slot(d, layer, head);
    return i < 0 || !d->ent_rows[i] ? NAN : d->ent_sum[i] / (double)d->ent_rows[i];
}

double lt_attn_diag_entropy_min(const lt_attn_diag *d, int layer, int head) {
    int i = slot(d, layer, head);
    return i < 0 || !d->ent_rows[i] ? NAN : (double)d->ent_min[i];
}

double lt_attn_diag_sink(const lt_attn_diag *d, int layer, int head) {
    int i = slot(d, layer, head);
    return i < 0 || !d->sink_rows[i] ? NAN : d->sink_sum[i] / (double)d->sink_rows[i];
}

static void write_entry(FILE *f, const char *what, int l, int h, double v) {
    fprintf(f, ",\"%s.l%d.h%d\":", what, l, h);
    lt_json_write_number(f, v);
}

lt_status lt_attn_diag_write_json(const lt_attn_diag *d, FILE *f, int64_t step) {
    if (!d->ent_sum) return lt_error(LT_ERR_STATE, "attn_diag_log: the diagnostics were not initialized");
    fprintf(f, "{\"step\":%lld,\"split\":\"attn\"", (long long)step);
    for (int l = 0; l < d->n_layers; l++)
        for (int h = 0; h < d->n_heads; h++) {
            int i = l * d->n_heads + h;
            if (d->ent_rows[i]) {
                write_entry(f, "attn_entropy_mean", l, h, lt_attn_diag_entropy_mean(d, l, h));
                write_entry(f, "attn_entropy_min", l, h, lt_attn_diag_entropy_min(d, l, h));
            }
            if (d->sink_rows[i]) write_entry(f, "attn_sink", l, h, lt_attn_diag_sink(d, l, h));
        }
    fputs("}\n", f);
    fflush(f);
    return ferror(f) ? lt_error(LT_ERR_IO, "attn_diag_log: writing the metrics record of step %lld failed",
                                (long long)step)
                     : LT_OK;
}

lt_status lt_attn_diag_log(const lt_attn_diag *d, lt_run *r, int64_t step) {
    if (!r || !r->metrics) return lt_error(LT_ERR_STATE, "attn_diag_log: the run is not open");
    lt_status s = lt_attn_diag_write_json(d, r->metrics, step);
    if (s != LT_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", lt_last_error());
        return lt_error(s, "%s (%s/metrics.jsonl)", msg, r->dir);
    }
    if (r->tty) printf("\r\033[K");
    printf("attn  %7lld", (long long)step);
    for (int l = 0; l < d->n_layers; l++) {
        double ent = 0, sink = 0, low = INFINITY;
        int n_ent = 0, n_sink = 0, low_h = -1;
        for (int h = 0; h < d->n_heads; h++) {
            double m = lt_attn_diag_entropy_mean(d, l, h), k = lt_attn_diag_sink(d, l, h);
            if (!isnan(m)) {
                ent += m;
                n_ent++;
                if (m < low) { low = m; low_h = h; }
            }
            if (!isnan(k)) { sink += k; n_sink++; }
        }
        if (!n_ent && !n_sink) continue;
        printf(" | l%d", l);
        if (n_ent) printf(" H %.3f min h%d %.3f", ent / n_ent, low_h, low);
        if (n_sink) printf(" sink %.3f", sink / n_sink);
    }
    printf("\n");
    fflush(stdout);
    return LT_OK;
}
