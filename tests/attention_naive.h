// Naive attention for tests and benchmark checks: materializes the logits and
// P of one (batch, head) at a time, in double. Hidden entries (causal, padding,
// masked blocks) are never computed, so NaN planted in unreachable k/v rows
// stays out. Same conventions as kernels/attention.h.
#ifndef LT_ATTENTION_NAIVE_H
#define LT_ATTENTION_NAIVE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int B, Hq, Hkv, T, S, D;
    double scale;               // 0: 1/sqrt(D)
    int causal;
    const int32_t *key_lens;    // [B] or NULL
    const int32_t *block_mask;  // [B,Hq,ceil(T/bq),ceil(S/bk)] or NULL
    int bq, bk;                 // block-mask block sizes
    int map_block;              // block-map block size
} lt_naive_attn;

static inline int lt_naive_attn_visible(const lt_naive_attn *a, int b, int h, int r, int c) {
    if (a->key_lens && c >= a->key_lens[b]) return 0;
    if (a->causal && c > r) return 0;
    if (a->block_mask) {
        int nbq = (a->T + a->bq - 1) / a->bq, nbk = (a->S + a->bk - 1) / a->bk;
        if (!a->block_mask[(((int64_t)b * a->Hq + h) * nbq + r / a->bq) * nbk + c / a->bk]) return 0;
    }
    return 1;
}

static inline double lt_naive_attn_scale(const lt_naive_attn *a) {
    return a->scale != 0 ? a->scale : 1.0 / sqrt(a->D);
}

// Logits s and probabilities p [T,S] of head (b,h) (hidden: s = 0, p = 0), and
// per row lse and mu = sum_j p s. Returns -1, or the first row seeing no key.
static inline int lt_naive_attn_probs(const lt_naive_attn *a, const float *q, const float *k, int b, int h,
                                      double *s, double *p, double *lse, double *mu) {
    int T = a->T, S = a->S, D = a->D, hk = h / (a->Hq / a->Hkv);
    const float *qh = q + ((int64_t)b * a->Hq + h) * T * D, *kh = k + ((int64_t)b * a->Hkv + hk) * S * D;
    double sc = lt_naive_attn_scale(a);
    for (int r = 0; r < T; r++) {
        double mx = -INFINITY;
        for (int c = 0; c < S; c++) {
            double v = 0;
            if (lt_naive_attn_visible(a, b, h, r, c)) {
                for (int d = 0; d < D; d++) v += (double)qh[(int64_t)r * D + d] * kh[(int64_t)c * D + d];
                v *= sc;
                if (v > mx) mx = v;
            }
            s[(int64_t)r * S + c] = v;
        }
        if (mx == -INFINITY) return r;
        double z = 0, m = 0;
        for (int c = 0; c < S; c++)
            if (lt_naive_attn_visible(a, b, h, r, c)) z += exp(s[(int64_t)r * S + c] - mx);
        for (int c = 0; c < S; c++) {
            double pv = lt_naive_attn_visible(a, b, h, r, c) ? exp(s[(int64_t)r * S + c] - mx) / z : 0;
            p[(int64_t)r * S + c] = pv;
            m += pv * s[(int64_t)r * S + c];
        }
        lse[r] = mx + log(z);
        mu[r] = m;
    }
    return -1;
}

// o [B,Hq,T,D], lse and H [B,Hq,T], G [B,Hq,ceil(T/mb),ceil(S/mb)]; any may be
// NULL. Returns -1, or (b*Hq + h)*T + row of the first row seeing no key.
static inline int64_t lt_naive_attn_fwd(const lt_naive_attn *a, const float *q, const float *k, const float *v,
                                        float *o, float *lse, float *H, float *G) {
    int T = a->T, S = a->S, D = a->D, mb = a->map_block ? a->map_block : 64;
    int nmq = (T + mb - 1) / mb, nmk = (S + mb - 1) / mb;
    double *s = malloc(sizeof(double) * (size_t)T * S), *p = malloc(sizeof(double) * (size_t)T * S);
    double *l = malloc(sizeof(double) * (size_t)T), *mu = malloc(sizeof(double) * (size_t)T);
    double *g = malloc(sizeof(double) * (size_t)nmk);
    int64_t bad = -1;
    for (int b = 0; b < a->B && bad < 0; b++)
        for (int h = 0; h < a->Hq && bad < 0; h++) {
            int64_t bh = (int64_t)b * a->Hq + h;
            int r = lt_naive_attn_probs(a, q, k, b, h, s, p, l, mu);
            if (r >= 0) { bad = bh * T + r; break; }
            const float *vh = v + ((int64_t)b * a->Hkv + h / (a->Hq / a->Hkv)) * S * D;
            for (int i = 0; i < T; i++) {
                if (lse) lse[bh * T + i] = (float)l[i];
                if (H) H[bh * T + i] = (float)(l[i] - mu[i]);
                if (!o) continue;
                for (int d = 0; d < D; d++) {
                    double acc = 0;
                    for (int c = 0; c < S; c++)
                        if (p[(int64_t)i * S + c] != 0) acc += p[(int64_t)i * S + c] * vh[(int64_t)c * D + d];
                    o[(bh * T + i) * D + d] = (float)acc;
                }
            }
            if (!G) continue;
            for (int i = 0; i < nmq; i++) {
                double sum = 0;
                for (int j = 0; j < nmk; j++) {
                    double mx = 0;
                    for (int r2 = i * mb; r2 < T && r2 < (i + 1) * mb; r2++)
                        for (int c = j * mb; c < S && c < (j + 1) * mb; c++)
                            if (p[(int64_t)r2 * S + c] > mx) mx = p[(int64_t)r2 * S + c];
                    g[j] = mx;
                    sum += mx;
                }
                for (int j = 0; j < nmk; j++) G[(bh * nmq + i) * nmk + j] = (float)(g[j] / sum);
            }
        }
    free(s); free(p); free(l); free(mu); free(g);
    return bad;
}

// Gradients of sum(dO * o) + sum(dH * H) (dO or dH NULL = zero) into dq, dk, dv
// (overwritten; any may be NULL), from the materialized P:
// dS = P (dP - rowsum(P dP)) - dH P (s - mu), dq = scale dS k, dk = scale dS^T q, dv = P^T dO.
static inline void lt_naive_attn_bwd(const lt_naive_attn *a, const float *q, const float *k, const float *v,
                                     const float *dO, const float *dH, float *dq, float *dk, float *dv) {
    int T = a->T, S = a->S, D = a->D, group = a->Hq / a->Hkv;
    double sc = lt_naive_attn_scale(a);
    double *s = malloc(sizeof(double) * (size_t)T * S), *p = malloc(sizeof(double) * (size_t)T * S);
    double *dp = malloc(sizeof(double) * (size_t)T * S);
    double *l = malloc(sizeof(double) * (size_t)T), *mu = malloc(sizeof(double) * (size_t)T);
    int64_t nk = (int64_t)a->B * a->Hkv * S * D;
    double *dkk = calloc((size_t)nk, sizeof(double)), *dvv = calloc((size_t)nk, sizeof(double));
    if (dq) memset(dq, 0, sizeof(float) * (size_t)a->B * a->Hq * T * D);
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->Hq; h++) {
            int64_t bh = (int64_t)b * a->Hq + h, bk = (int64_t)b * a->Hkv + h / group;
            if (lt_naive_attn_probs(a, q, k, b, h, s, p, l, mu) >= 0) continue;
            const float *qh = q + bh * T * D, *kh = k + bk * S * D, *vh = v + bk * S * D;
            for (int i = 0; i < T; i++) {
                double dsum = 0;
                for (int c = 0; c < S; c++) {
                    double x = 0;
                    if (dO && p[(int64_t)i * S + c] != 0)
                        for (int d = 0; d < D; d++) x += (double)dO[(bh * T + i) * D + d] * vh[(int64_t)c * D + d];
                    dp[(int64_t)i * S + c] = x;
                    dsum += p[(int64_t)i * S + c] * x;
                }
                double gh = dH ? dH[bh * T + i] : 0;
                for (int c = 0; c < S; c++) {
                    double pv = p[(int64_t)i * S + c];
                    double sm = s[(int64_t)i * S + c] - mu[i];
                    dp[(int64_t)i * S + c] = pv * (dp[(int64_t)i * S + c] - dsum) - gh * pv * sm;
                }
            }
            for (int i = 0; i < T; i++)
                for (int d = 0; d < D; d++) {
                    double x = 0;
                    for (int c = 0; c < S; c++)
                        if (p[(int64_t)i * S + c] != 0) x += dp[(int64_t)i * S + c] * kh[(int64_t)c * D + d];
                    if (dq) dq[(bh * T + i) * D + d] = (float)(sc * x);
                }
            for (int c = 0; c < S; c++)
                for (int d = 0; d < D; d++) {
                    double xk = 0, xv = 0;
                    for (int i = 0; i < T; i++) {
                        double pv = p[(int64_t)i * S + c];
                        if (pv == 0) continue;
                        xk += dp[(int64_t)i * S + c] * qh[(int64_t)i * D + d];
                        if (dO) xv += pv * dO[(bh * T + i) * D + d];
                    }
                    dkk[(bk * S + c) * D + d] += sc * xk;
                    dvv[(bk * S + c) * D + d] += xv;
                }
        }
    for (int64_t i = 0; i < nk; i++) {
        if (dk) dk[i] = (float)dkk[i];
        if (dv) dv[i] = (float)dvv[i];
    }
    free(s); free(p); free(dp); free(l); free(mu); free(dkk); free(dvv);
}

#endif
