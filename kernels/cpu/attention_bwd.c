// Attention backward, FlashAttention-2 style, deterministic without atomics:
// pass 1 (one task per query tile) recomputes P from lse and accumulates dQ;
// pass 2 (one task per kv head and key tile, looping over the query heads of
// its group) recomputes P again and accumulates dK and dV, in transposed tiles.
// Transposed copies of k (the forward's), v, q, dO keep every sgemm untransposed. With
// P = exp(s - lse), Dvec = rowsum(dO * O), gH the entropy gradient and
// s - mu = (s - lse) + H:
//   dS = P (dP - Dvec) - gH P (s - mu),  dP = dO V^T
//   dQ = scale dS K,  dK = scale dS^T Q,  dV = P^T dO.
#include <omp.h>

#include "kernels/cpu/attention_tile.h"

typedef struct {
    lt_attn_geom g;
    const float *Q, *K, *V, *L, *H;   // inputs; lse [B,Hq,T]; entropy [B,Hq,T] or NULL
    const float *dO, *gH;             // [B,Hq,T,D] or NULL, [B,Hq,T] or NULL
    const float *Kt, *Vt, *Qt, *dOt;  // transposed copies [..,D,S] / [..,D,T], made for the pass that uses them
    const float *Dv;                  // [B,Hq,T] rowsum(dO * O)
    float *dQ, *dK, *dV;              // input grads or NULL
} bwd_args;

// One row of a tile: s (logits) becomes P; ds, holding dP = dO V^T on entry
// when have_dp (else dP is zero), becomes dS.
static inline void row_grad(int nc, float *restrict s, float *restrict ds, int have_dp, float lse, float h, float gh,
                            float dvec) {
    if (!have_dp) memset(ds, 0, sizeof(float) * (size_t)nc);
    if (gh != 0.0f) {
        for (int j = 0; j < nc; j++) {
            float d = s[j] - lse, p = lt_attn_exp(d);
            s[j] = p;
            ds[j] = p * (ds[j] - dvec) - gh * (p * (d + h));   // p (d + h) = 0 at hidden keys, for any gh
        }
    } else {
        for (int j = 0; j < nc; j++) {
            float p = lt_attn_exp(s[j] - lse);
            s[j] = p;
            ds[j] = p * (ds[j] - dvec);
        }
    }
}

// One key of a transposed tile (one entry per query row i): as row_grad with
// the per-row values lse, H, gH and Dvec indexed by i; gh NULL means no entropy gradient.
static inline void col_grad(int nr, float *restrict s, float *restrict ds, int have_dp, const float *lse,
                            const float *h, const float *gh, const float *dvec) {
    if (!have_dp) memset(ds, 0, sizeof(float) * (size_t)nr);
    if (gh) {
        for (int i = 0; i < nr; i++) {
            float d = s[i] - lse[i], p = lt_attn_exp(d);
            s[i] = p;
            ds[i] = p * (ds[i] - dvec[i]) - gh[i] * (p * (d + h[i]));
        }
    } else {
        for (int i = 0; i < nr; i++) {
            float p = lt_attn_exp(s[i] - lse[i]);
            s[i] = p;
            ds[i] = p * (ds[i] - dvec[i]);
        }
    }
}

// dQ of rows [ra,rb) of head (b,h), tile by tile: s and ds [tq, tk].
static void task_dq(const bwd_args *A, float *s, float *ds, int b, int h, int ra, int rb) {
    const lt_attn_geom *g = &A->g;
    int D = g->D, ld = g->tk;
    int64_t bh = (int64_t)b * g->Hq + h, bk = (int64_t)b * g->Hkv + h / g->group;
    const float *q = A->Q + bh * g->T * D, *k = A->K + bk * g->S * D;
    const float *kt = A->Kt + bk * g->S * D, *vt = A->Vt ? A->Vt + bk * g->S * D : NULL;
    for (int r0 = ra, r1; r0 < rb; r0 = r1) {
        r1 = lt_attn_tile_end(r0, g->tq, g->bq, rb);
        int nr = r1 - r0, kend = lt_attn_key_end(g, b, r1);
        for (int c0 = 0, c1; c0 < kend; c0 = c1) {
            c1 = lt_attn_tile_end(c0, g->tk, g->bk, kend);
            if (!lt_attn_block_on(g, b, h, r0, c0)) continue;
            int nc = c1 - c0;
            lt_attn_scores(g, q, kt, r0, nr, c0, nc, s, ld);
            if (vt)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, nc, D, 1.0f, A->dO + (bh * g->T + r0) * D,
                            D, vt + c0, g->S, 0.0f, ds, ld);
            for (int i = 0; i < nr; i++) {
                int64_t r = bh * g->T + r0 + i;
                row_grad(nc, s + (int64_t)i * ld, ds + (int64_t)i * ld, A->dO != NULL, A->L[r], A->H ? A->H[r] : 0.0f,
                         A->gH ? A->gH[r] : 0.0f, A->Dv[r]);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, D, nc, g->scale, ds, ld, k + (int64_t)c0 * D, D,
                        1.0f, A->dQ + (bh * g->T + r0) * D, D);
        }
    }
}

// st [nc, ld] = scale k[c0:c0+nc] q[r0:r0+nr]^T, the score tile transposed
// (from qt [D,T]), queries before the key hidden when causal.
static void scores_t(const lt_attn_geom *g, const float *qt, const float *k, int r0, int nr, int c0, int nc,
                     float *st, int ld) {
    int D = g->D;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nc, nr, D, g->scale, k + (int64_t)c0 * D, D, qt + r0, g->T,
                0.0f, st, ld);
    if (g->causal && c0 + nc - 1 > r0)
        for (int j = 0; j < nc; j++) {
            int end = c0 + j - r0;   // rows r0 .. c0+j-1 come before the key
            for (int i = 0; i < (end < nr ? end : nr); i++) st[(int64_t)j * ld + i] = LT_ATTN_NEG;
        }
}

// dK and dV of keys [ca,cb) of kv head (b,hk), over every query head of the
// group, in transposed tiles st and dst [tk, tq].
static void task_dkv(const bwd_args *A, float *st, float *dst, int b, int hk, int ca, int cb) {
    const lt_attn_geom *g = &A->g;
    int D = g->D, ld = g->tq;
    int len = g->lens ? g->lens[b] : g->S;
    if (cb > len) cb = len;
    int64_t bk = (int64_t)b * g->Hkv + hk;
    const float *k = A->K + bk * g->S * D, *v = A->V + bk * g->S * D;
    int need_dv = A->dV && A->dO;
    for (int c0 = ca, c1; c0 < cb; c0 = c1) {
        c1 = lt_attn_tile_end(c0, g->tk, g->bk, cb);
        int nc = c1 - c0;
        for (int h = hk * g->group; h < (hk + 1) * g->group; h++) {
            int64_t bh = (int64_t)b * g->Hq + h;
            const float *q = A->Q + bh * g->T * D, *qt = A->Qt + bh * g->T * D;
            const float *dot = A->dOt ? A->dOt + bh * g->T * D : NULL;
            for (int r0 = g->causal ? c0 : 0, r1; r0 < g->T; r0 = r1) {
                r1 = lt_attn_tile_end(r0, g->tq, g->bq, g->T);
                if (!lt_attn_block_on(g, b, h, r0, c0)) continue;
                int nr = r1 - r0;
                int64_t r = bh * g->T + r0;
                const float *dO = A->dO ? A->dO + r * D : NULL;
                scores_t(g, qt, k, r0, nr, c0, nc, st, ld);
                if (dot)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nc, nr, D, 1.0f, v + (int64_t)c0 * D, D,
                                dot + r0, g->T, 0.0f, dst, ld);
                for (int j = 0; j < nc; j++) {
                    float *sj = st + (int64_t)j * ld;
                    if (A->dK)
                        col_grad(nr, sj, dst + (int64_t)j * ld, dO != NULL, A->L + r, A->H ? A->H + r : NULL,
                                 A->gH ? A->gH + r : NULL, A->Dv + r);
                    else
                        for (int i = 0; i < nr; i++) sj[i] = lt_attn_exp(sj[i] - A->L[r + i]);
                }
                if (need_dv)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nc, D, nr, 1.0f, st, ld, dO, D, 1.0f,
                                A->dV + (bk * g->S + c0) * D, D);
                if (A->dK)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nc, D, nr, g->scale, dst, ld,
                                q + (int64_t)r0 * D, D, 1.0f, A->dK + (bk * g->S + c0) * D, D);
            }
        }
    }
}

// Arena copy of x [n,rows,D] transposed to [n,D,rows]; NULL (error recorded) on OOM.
static float *transposed(lt_node *nd, const float *x, int64_t n, int rows, int D, int par) {
    float *xt = lt_arena_alloc(&nd->ctx->arena, sizeof(float) * (size_t)(n * rows * D));
    if (xt) lt_attn_transpose(x, xt, n, rows, D, par);
    return xt;
}

lt_status lt_cpu_attention_bwd(lt_node *n) {
    bwd_args A = {.g = lt_attn_geom_of(n)};
    const lt_attn_geom *g = &A.g;
    A.dO = n->out[0]->grad;
    if (n->iattr[LT_ATTN_ENTROPY]) {
        A.H = lt_f32(n->out[2]);
        A.gH = n->out[2]->grad;
    }
    A.dQ = n->in[0]->grad; A.dK = n->in[1]->grad; A.dV = n->in[2]->grad;
    int pass2 = A.dK || (A.dV && A.dO);
    if ((!A.dO && !A.gH) || (!A.dQ && !pass2)) return LT_OK;
    A.Q = lt_f32(n->in[0]); A.K = lt_f32(n->in[1]); A.V = lt_f32(n->in[2]);
    A.L = lt_f32(n->out[1]);
    int64_t rows = (int64_t)g->B * g->Hq * g->T, work = rows * g->S * g->D;
    int64_t nq = (int64_t)g->B * g->Hq, nk = (int64_t)g->B * g->Hkv;
    int par = work > LT_ATTN_PAR_MIN;
    size_t per = (size_t)2 * g->tq * g->tk;
    float *Dv = lt_arena_alloc(&n->ctx->arena, sizeof(float) * (size_t)rows);
    float *scratch = lt_arena_alloc(&n->ctx->arena, sizeof(float) * per * (size_t)omp_get_max_threads());
    if (!Dv || !scratch) return lt_last_status();
    const float *O = lt_f32(n->out[0]);
#pragma omp parallel for if (par)
    for (int64_t r = 0; r < rows; r++) {
        float s = 0.0f;
        if (A.dO)
            for (int d = 0; d < g->D; d++) s += A.dO[r * g->D + d] * O[r * g->D + d];
        Dv[r] = s;
    }
    A.Dv = Dv;
    if (A.dQ) {
        A.Kt = n->saved;   // from the forward
        if (!A.Kt && !(A.Kt = transposed(n, A.K, nk, g->S, g->D, par))) return lt_last_status();
        if (A.dO && !(A.Vt = transposed(n, A.V, nk, g->S, g->D, par))) return lt_last_status();
        int nrt = (g->T + g->tq - 1) / g->tq;
        int64_t ntask = nq * nrt;
#pragma omp parallel for schedule(dynamic) if (par && ntask > 1)
        for (int64_t t = ntask - 1; t >= 0; t--) {
            float *p = scratch + per * (size_t)omp_get_thread_num();
            int b = (int)(t / ((int64_t)g->Hq * nrt)), h = (int)(t / nrt % g->Hq), ra = (int)(t % nrt) * g->tq;
            task_dq(&A, p, p + per / 2, b, h, ra, ra + g->tq < g->T ? ra + g->tq : g->T);
        }
    }
    if (pass2) {
        if (!(A.Qt = transposed(n, A.Q, nq, g->T, g->D, par))) return lt_last_status();
        if (A.dK && A.dO && !(A.dOt = transposed(n, A.dO, nq, g->T, g->D, par))) return lt_last_status();
        int nct = (g->S + g->tk - 1) / g->tk;
        int64_t ntask = nk * nct;
        // Early keys are seen by more rows under a causal mask: hand them out first.
#pragma omp parallel for schedule(dynamic) if (par && ntask > 1)
        for (int64_t t = 0; t < ntask; t++) {
            float *p = scratch + per * (size_t)omp_get_thread_num();
            int b = (int)(t / ((int64_t)g->Hkv * nct)), hk = (int)(t / nct % g->Hkv), ca = (int)(t % nct) * g->tk;
            task_dkv(&A, p, p + per / 2, b, hk, ca, ca + g->tk < g->S ? ca + g->tk : g->S);
        }
    }
    return LT_OK;
}
