// Attention forward: one task per (batch, head, query rows), sweeping key tiles
// with an online softmax. Per row it keeps the running max m, the normaliser
// l = sum e^(s-m) and, for the entropy, A = sum e^(s-m) (s-m), both rescaled
// when m grows; at the end lse = m + log l and H = log l - A/l. The block map
// keeps the largest logit per (row, map block) and turns it into a
// probability once lse is known. Scratch is per thread, from the arena, with
// one transposed copy of k.
#include <omp.h>

#include "kernels/cpu/attention_tile.h"

typedef struct {
    float *s;        // [tq, tk] scores, then probabilities
    float *m, *l, *a;   // [tq] running max, normaliser, entropy sum
    float *rmax;     // [tq, nmb] largest logit per (row, map block)
    float *gmax;     // [nmb] block-map row being pooled
} fwd_scratch;

typedef struct {
    lt_attn_geom g;
    const float *Q, *Kt, *V;  // [B,Hq,T,D], k transposed [B,Hkv,D,S], [B,Hkv,S,D]
    float *O, *L, *H, *G;     // [B,Hq,T,D], [B,Hq,T], [B,Hq,T] or NULL, [B,Hq,nmq,nmb] or NULL
    int mb, nmb;              // map block, map blocks per key row
} fwd_args;

static size_t pad16(size_t n) { return (n + 15) / 16 * 16; }

// Online-softmax update of rows [0,nr) with the score tile s [nr, ld] of nc keys;
// s becomes the tile's probabilities relative to the new running max.
static void softmax_update(fwd_scratch *w, int nr, int nc, int ld, float *o, int D, int want_h) {
    for (int i = 0; i < nr; i++) {
        float *s = w->s + (int64_t)i * ld;
        float tmax = LT_ATTN_NEG;
#pragma omp simd reduction(max : tmax)
        for (int j = 0; j < nc; j++) tmax = s[j] > tmax ? s[j] : tmax;
        if (tmax <= LT_ATTN_NEG) {   // no visible key of this row in the tile
            memset(s, 0, sizeof(float) * (size_t)nc);
            continue;
        }
        float m0 = w->m[i], m1 = m0 > tmax ? m0 : tmax;
        float alpha = lt_attn_exp(m0 - m1);
        float sum = 0.0f, ent = 0.0f;
        if (want_h) {
#pragma omp simd reduction(+ : sum, ent)
            for (int j = 0; j < nc; j++) {
                float d = s[j] - m1, p = lt_attn_exp(d);
                s[j] = p; sum += p; ent += p * d;
            }
            w->a[i] = alpha * (w->a[i] + (m0 - m1) * w->l[i]) + ent;
        } else {
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j < nc; j++) { float p = lt_attn_exp(s[j] - m1); s[j] = p; sum += p; }
        }
        w->l[i] = alpha * w->l[i] + sum;
        w->m[i] = m1;
        if (alpha != 1.0f) {
            float *orow = o + (int64_t)i * D;
            for (int d = 0; d < D; d++) orow[d] *= alpha;
        }
    }
}

// Largest logit per (row, map block) over the keys c0.. of the tile.
static void map_update(fwd_scratch *w, int nr, int c0, int nc, int ld, int mb, int nmb) {
    for (int i = 0; i < nr; i++) {
        const float *s = w->s + (int64_t)i * ld;
        float *rm = w->rmax + (int64_t)i * nmb;
        for (int j0 = 0, je; j0 < nc; j0 = je) {
            int jm = (c0 + j0) / mb;
            je = (jm + 1) * mb - c0 < nc ? (jm + 1) * mb - c0 : nc;
            float mx = rm[jm];
#pragma omp simd reduction(max : mx)
            for (int j = j0; j < je; j++) mx = s[j] > mx ? s[j] : mx;
            rm[jm] = mx;
        }
    }
}

// Rows [r0,r1) of head (b,h): returns -1, or the first row that saw no key.
static int rows_fwd(const fwd_args *A, fwd_scratch *w, int b, int h, int r0, int r1) {
    const lt_attn_geom *g = &A->g;
    int D = g->D, nr = r1 - r0, want_h = A->H != NULL;
    int64_t bh = (int64_t)b * g->Hq + h, bk = (int64_t)b * g->Hkv + h / g->group;
    const float *q = A->Q + bh * g->T * D, *kt = A->Kt + bk * g->S * D, *v = A->V + bk * g->S * D;
    float *o = A->O + (bh * g->T + r0) * D;
    memset(o, 0, sizeof(float) * (size_t)nr * D);
    for (int i = 0; i < nr; i++) { w->m[i] = LT_ATTN_NEG; w->l[i] = 0.0f; w->a[i] = 0.0f; }
    if (A->G)
        for (int64_t i = 0; i < (int64_t)nr * A->nmb; i++) w->rmax[i] = LT_ATTN_NEG;
    int kend = lt_attn_key_end(g, b, r1);
    for (int c0 = 0, c1; c0 < kend; c0 = c1) {
        c1 = lt_attn_tile_end(c0, g->tk, g->bk, kend);
        if (!lt_attn_block_on(g, b, h, r0, c0)) continue;
        int nc = c1 - c0;
        lt_attn_scores(g, q, kt, r0, nr, c0, nc, w->s, g->tk);
        if (A->G) map_update(w, nr, c0, nc, g->tk, A->mb, A->nmb);
        softmax_update(w, nr, nc, g->tk, o, D, want_h);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, D, nc, 1.0f, w->s, g->tk, v + (int64_t)c0 * D, D,
                    1.0f, o, D);
    }
    for (int i = 0; i < nr; i++) {
        float l = w->l[i];
        if (l == 0.0f) return r0 + i;   // (NaN inputs give NaN outputs, as in any op)
        float inv = 1.0f / l, logl = logf(l), lse = w->m[i] + logl;
        float *orow = o + (int64_t)i * D;
        for (int d = 0; d < D; d++) orow[d] *= inv;
        A->L[bh * g->T + r0 + i] = lse;
        if (want_h) A->H[bh * g->T + r0 + i] = logl - w->a[i] * inv;
        if (A->G) {
            const float *rm = w->rmax + (int64_t)i * A->nmb;
            for (int j = 0; j < A->nmb; j++) {
                float p = expf(rm[j] - lse);
                if (p > w->gmax[j]) w->gmax[j] = p;
            }
        }
    }
    return -1;
}

// A task: rows [ra,rb) of head (b,h), in tiles that never cross a mask block.
// With a block map the task is one map block of rows, pooled into its G row.
static int task_fwd(const fwd_args *A, fwd_scratch *w, int b, int h, int ra, int rb) {
    const lt_attn_geom *g = &A->g;
    if (A->G) for (int j = 0; j < A->nmb; j++) w->gmax[j] = 0.0f;
    for (int r0 = ra, r1; r0 < rb; r0 = r1) {
        r1 = lt_attn_tile_end(r0, g->tq, g->bq, rb);
        int bad = rows_fwd(A, w, b, h, r0, r1);
        if (bad >= 0) return bad;
    }
    if (A->G) {
        float sum = 0.0f;
        for (int j = 0; j < A->nmb; j++) sum += w->gmax[j];
        float inv = 1.0f / sum;
        int nmq = (g->T + A->mb - 1) / A->mb;
        float *grow = A->G + (((int64_t)b * g->Hq + h) * nmq + ra / A->mb) * A->nmb;
        for (int j = 0; j < A->nmb; j++) grow[j] = w->gmax[j] * inv;
    }
    return -1;
}

lt_status lt_cpu_attention_fwd(lt_node *n) {
    fwd_args A = {.g = lt_attn_geom_of(n)};
    const lt_attn_geom *g = &A.g;
    A.Q = lt_f32(n->in[0]); A.V = lt_f32(n->in[2]);
    A.O = lt_f32(n->out[0]); A.L = lt_f32(n->out[1]);
    int slot = 2;
    if (n->iattr[LT_ATTN_ENTROPY]) A.H = lt_f32(n->out[slot++]);
    if (n->iattr[LT_ATTN_MAP]) {
        A.G = lt_f32(n->out[slot]);
        A.mb = (int)n->iattr[LT_ATTN_MAPB];
        A.nmb = (g->S + A.mb - 1) / A.mb;
    }
    int rows = A.G ? A.mb : g->tq;   // rows per task
    int nrt = (g->T + rows - 1) / rows;
    int64_t ntask = (int64_t)g->B * g->Hq * nrt;
    int nth = omp_get_max_threads();
    size_t per = pad16((size_t)g->tq * g->tk) + 3 * pad16(g->tq) + pad16((size_t)g->tq * A.nmb) + pad16(A.nmb);
    float *scratch = lt_arena_alloc(&n->ctx->arena, sizeof(float) * per * (size_t)nth);
    float *kt = lt_arena_alloc(&n->ctx->arena, sizeof(float) * (size_t)n->in[1]->numel);
    if (!scratch || !kt) return lt_last_status();
    int64_t work = (int64_t)g->B * g->Hq * g->T * g->S * g->D;
    lt_attn_transpose(lt_f32(n->in[1]), kt, (int64_t)g->B * g->Hkv, g->S, g->D, work > LT_ATTN_PAR_MIN);
    A.Kt = kt;
    if (n->recorded) n->saved = kt;   // the backward reuses it (arena memory lives until the reset)
    int64_t first_bad = INT64_MAX;
    // Later rows see more keys under a causal mask: hand them out first.
#pragma omp parallel for schedule(dynamic) if (work > LT_ATTN_PAR_MIN && ntask > 1) reduction(min : first_bad)
    for (int64_t t = ntask - 1; t >= 0; t--) {
        float *base = scratch + per * (size_t)omp_get_thread_num();
        fwd_scratch w;
        w.s = base; base += pad16((size_t)g->tq * g->tk);
        w.m = base; base += pad16(g->tq);
        w.l = base; base += pad16(g->tq);
        w.a = base; base += pad16(g->tq);
        w.rmax = base; base += pad16((size_t)g->tq * A.nmb);
        w.gmax = base;
        int b = (int)(t / ((int64_t)g->Hq * nrt)), h = (int)(t / nrt % g->Hq), rt = (int)(t % nrt);
        int ra = rt * rows, rb = ra + rows < g->T ? ra + rows : g->T;
        int bad = task_fwd(&A, &w, b, h, ra, rb);
        if (bad >= 0) {
            int64_t f = ((int64_t)b * g->Hq + h) * g->T + bad;
            if (f < first_bad) first_bad = f;
        }
    }
    if (first_bad != INT64_MAX) {
        int64_t f = first_bad;
        return lt_error(LT_ERR_ARG, "attention: query row (b=%d, h=%d, row=%d) sees no key",
                        (int)(f / ((int64_t)g->Hq * g->T)), (int)(f / g->T % g->Hq), (int)(f % g->T));
    }
    return LT_OK;
}
