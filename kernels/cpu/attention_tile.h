// What the attention forward and backward share: the node's geometry, tile
// boundaries, block skipping, the masked score tile and a vectorizable exp.
#ifndef LT_CPU_ATTENTION_TILE_H
#define LT_CPU_ATTENTION_TILE_H

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "autograd/ctx.h"
#include "kernels/attention.h"   // the node's attribute slots

// A hidden logit. Finite, so exp gives exactly 0 and 0 * logit stays 0.
#define LT_ATTN_NEG (-1e30f)
#define LT_ATTN_TQ 64    // query rows per tile
#define LT_ATTN_TK 128   // keys per tile
#define LT_ATTN_PAR_MIN (1 << 22)   // B*H*T*S*D below which the op stays on one thread (~50 us)

typedef struct {
    int B, Hq, Hkv, T, S, D, group;
    float scale;
    int causal;
    const int32_t *lens;   // [B] or NULL
    const int32_t *mask;   // [B,Hq,nbq,nbk] or NULL
    int bq, bk, nbq, nbk;  // mask blocks; bq = bk = 0 without a mask
    int tq, tk;            // tile sizes
} lt_attn_geom;

static inline lt_attn_geom lt_attn_geom_of(const lt_node *n) {
    const lt_tensor *q = n->in[0], *k = n->in[1];
    lt_attn_geom g = {0};
    g.B = q->shape[0]; g.Hq = q->shape[1]; g.T = q->shape[2]; g.D = q->shape[3];
    g.Hkv = k->shape[1]; g.S = k->shape[2];
    g.group = g.Hq / g.Hkv;
    g.scale = n->fattr[0];
    g.causal = (int)n->iattr[LT_ATTN_CAUSAL];
    if (n->iattr[LT_ATTN_LENS] >= 0) g.lens = lt_i32(n->in[n->iattr[LT_ATTN_LENS]]);
    if (n->iattr[LT_ATTN_MASK] >= 0) {
        const lt_tensor *m = n->in[n->iattr[LT_ATTN_MASK]];
        g.mask = lt_i32(m);
        g.bq = (int)n->iattr[LT_ATTN_BQ]; g.bk = (int)n->iattr[LT_ATTN_BK];
        g.nbq = m->shape[2]; g.nbk = m->shape[3];
    }
    g.tq = LT_ATTN_TQ; g.tk = LT_ATTN_TK;
    return g;
}

// End of the tile that starts at x: at most `tile` long, stopping at `lim` and
// at the next multiple of `blk` (a mask block edge; 0 = none).
static inline int lt_attn_tile_end(int x, int tile, int blk, int lim) {
    int e = x + tile;
    if (blk) { int nb = (x / blk + 1) * blk; if (nb < e) e = nb; }
    return e < lim ? e : lim;
}

// Keys [0, end) are the only ones rows below r1 of batch b can see.
static inline int lt_attn_key_end(const lt_attn_geom *g, int b, int r1) {
    int e = g->lens ? g->lens[b] : g->S;
    if (g->causal && r1 < e) e = r1;
    return e;
}

// Whether the tile holding query row r0 and key c0 of head h is computed.
static inline int lt_attn_block_on(const lt_attn_geom *g, int b, int h, int r0, int c0) {
    if (!g->mask) return 1;
    return g->mask[(((int64_t)b * g->Hq + h) * g->nbq + r0 / g->bq) * g->nbk + c0 / g->bk] != 0;
}

// s [nr, ld] = scale q[r0:r0+nr] k[c0:c0+nc]^T, keys past the row hidden when
// causal. q [T,D] is one head's; kt [D,S] its k transposed (so the product is
// an untransposed sgemm, which OpenBLAS runs about 1.3x faster on small tiles).
static inline void lt_attn_scores(const lt_attn_geom *g, const float *q, const float *kt, int r0, int nr, int c0,
                                  int nc, float *s, int ld) {
    int D = g->D;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, nc, D, g->scale, q + (int64_t)r0 * D, D, kt + c0,
                g->S, 0.0f, s, ld);
    if (g->causal && c0 + nc - 1 > r0)
        for (int i = 0; i < nr; i++) {
            int first = r0 + i + 1 - c0;   // first hidden column of the row
            for (int j = first < 0 ? 0 : first; j < nc; j++) s[(int64_t)i * ld + j] = LT_ATTN_NEG;
        }
}

// xt [n,D,rows] = x [n,rows,D] transposed per matrix, in 32-row strips.
static inline void lt_attn_transpose(const float *x, float *xt, int64_t n, int rows, int D, int par) {
    int strips = (rows + 31) / 32;
#pragma omp parallel for if (par)
    for (int64_t t = 0; t < n * strips; t++) {
        int64_t m = t / strips;
        int r0 = (int)(t % strips) * 32, r1 = r0 + 32 < rows ? r0 + 32 : rows;
        const float *a = x + m * rows * D;
        float *at = xt + m * rows * D;
        for (int d = 0; d < D; d++)
            for (int r = r0; r < r1; r++) at[(int64_t)d * rows + r] = a[(int64_t)r * D + d];
    }
}

// exp(x), about 2 ulp (Cephes expf polynomial); 0 below -87. Written without
// calls (floorf blocks GCC's vectorizer) or integer shifts (plain AVX has none).
static inline float lt_attn_exp(float x) {
    float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;   // rounded (1.5 * 2^23 trick)
    float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * r * r + r + 1.0f;
    union { int32_t i; float f; } two_n = {(int32_t)((n + 127.0f) * 8388608.0f)};   // 2^n from its bits
    return x < -87.0f ? 0.0f : y * two_n.f;
}

#endif
