// What the CUDA attention kernels (forward, backward, fp32 and bf16) share:
// the node's geometry, which (row, key) pairs a tile must hide (causal, key
// lengths, block mask: decided here and nowhere else), the block-wide scan
// that classifies a tile against the block mask, the block-map update, the
// fp32 kernels' key-tile load and register-tiled products, and the bf16
// tensor-core primitives (cp.async, ldmatrix, mma.sync m16n8k16).
//
// Conventions: a hidden logit is -inf and its probability exactly 0; keys a
// tile's rows cannot see at all are zero-filled when the tile is loaded, so
// NaN planted in unreachable k/v rows never reaches a product (0 * NaN).
#ifndef LT_CUDA_ATTENTION_TILE_CUH
#define LT_CUDA_ATTENTION_TILE_CUH

#include <cuda_bf16.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "kernels/cuda/common.cuh"

extern "C" {
#include "kernels/attention.h"
}

#define ATTN_LOG2E 1.4426950408889634f
#define ATTN_LN2 0.6931471805599453f
#define ATTN_SCAN_KB 128                         // most mask key blocks one scan covers (keys per tile)
#define ATTN_SCAN_INTS (2 * (ATTN_SCAN_KB + 1))   // shared ints attn_scan needs: two buffers of blocks + a flag

typedef __nv_bfloat16 attn_bf16;

// Geometry and options of one attention node; device pointers for lens and mask.
struct AttnGeom {
    int B, Hq, Hkv, T, S, D, group;
    float scale;
    int causal;
    const int32_t *lens;   // [B] or NULL
    const int32_t *mask;   // [B,Hq,nbq,nbk] or NULL
    int bq, bk, nbq, nbk;  // mask block sizes and counts (1 without a mask)
};

static inline AttnGeom attn_geom(const lt_node *n) {
    const lt_tensor *q = n->in[0], *k = n->in[1];
    AttnGeom g;
    memset(&g, 0, sizeof g);
    g.B = q->shape[0]; g.Hq = q->shape[1]; g.T = q->shape[2]; g.D = q->shape[3];
    g.Hkv = k->shape[1]; g.S = k->shape[2];
    g.group = g.Hq / g.Hkv;
    g.scale = n->fattr[0];
    g.causal = (int)n->iattr[LT_ATTN_CAUSAL];
    if (n->iattr[LT_ATTN_LENS] >= 0) g.lens = (const int32_t *)n->in[n->iattr[LT_ATTN_LENS]]->data;
    g.bq = g.bk = g.nbq = g.nbk = 1;
    if (n->iattr[LT_ATTN_MASK] >= 0) {
        const lt_tensor *m = n->in[n->iattr[LT_ATTN_MASK]];
        g.mask = (const int32_t *)m->data;
        g.bq = (int)n->iattr[LT_ATTN_BQ]; g.bk = (int)n->iattr[LT_ATTN_BK];
        g.nbq = m->shape[2]; g.nbk = m->shape[3];
    }
    return g;
}

// ---- which keys a row sees ----

// Clamped to [0, S]: on the device a bad length is only reported at the next sync
// (kernels/cuda/attention_check.cu), so the kernels must never index past S meanwhile.
__device__ __forceinline__ int attn_len(const AttnGeom &g, int b) {
    return g.lens ? min(max(g.lens[b], 0), g.S) : g.S;
}

// Keys [0, end) are the only ones rows below r1 of batch b can see.
__device__ __forceinline__ int attn_key_end(const AttnGeom &g, int b, int r1) {
    int e = attn_len(g, b);
    return g.causal && r1 < e ? r1 : e;
}

__device__ __forceinline__ bool attn_mask_on(const AttnGeom &g, int b, int h, int r, int c) {
    return g.mask[(((int64_t)b * g.Hq + h) * g.nbq + r / g.bq) * g.nbk + c / g.bk] != 0;
}

// A tile: rows [r0,r1) of query head h against keys [c0,c1), where r1 <= T
// and c1 <= attn_key_end(b, r1) (so every key is before the length).
struct AttnTile {
    int any;        // some block-mask entry of the tile is on (else skip the tile)
    int mask_elem;  // the mask is not all on over the tile: look it up per element
    int kb0;        // first mask key block of the tile
    const int *maxrow;   // with mask_elem: per key block kb0.., the last row of the scan that sees it
                         // through the mask (INT_MAX when not causal), -1 when none
};

// Whether row r sees key c inside tile t of rows < r1, keys < c1.
__device__ __forceinline__ bool attn_visible(const AttnGeom &g, const AttnTile &t, int b, int h, int r, int c,
                                             int r1, int c1) {
    return r < r1 && c < c1 && (!g.causal || c <= r) && (!t.mask_elem || attn_mask_on(g, b, h, r, c));
}

// Whether tile rows [r0, r0+nr) x keys [c0, c0+nc) (the full tile extent) need no per-element test.
__device__ __forceinline__ bool attn_full(const AttnGeom &g, const AttnTile &t, int r0, int r1, int nr, int c0,
                                          int c1, int nc) {
    return !t.mask_elem && r1 - r0 == nr && c1 - c0 == nc && (!g.causal || c1 - 1 <= r0);
}

// Whether key c (< c1) is seen by some row of the scan: else it is loaded as zeros.
__device__ __forceinline__ bool attn_key_live(const AttnTile &t, const AttnGeom &g, int c, int c1) {
    return c < c1 && (!t.mask_elem || c <= t.maxrow[c / g.bk - t.kb0]);
}

// Classifies rows [r0,r1) of query heads h0..h0+nh-1 against keys [c0,c1)
// (c1 - c0 <= ATTN_SCAN_KB) through the block mask. Called by every thread of the block
// with the same arguments (block-uniform result). Without a mask, or when the
// tile lies in one mask block of one head, it is one cached load and no
// barrier; otherwise the block reads the covered mask entries together (two
// barriers). sh: ATTN_SCAN_INTS shared ints; parity alternates its two halves
// so a scan never overwrites the one before it while threads still read it.
template <int NT>
__device__ AttnTile attn_scan(const AttnGeom &g, int b, int h0, int nh, int r0, int r1, int c0, int c1, int *sh,
                              int &parity) {
    AttnTile t;
    t.any = 1; t.mask_elem = 0; t.kb0 = 0; t.maxrow = sh;
    if (!g.mask) return t;
    int rb0 = r0 / g.bq, nrb = (r1 - 1) / g.bq - rb0 + 1;
    int kb0 = c0 / g.bk, nkb = (c1 - 1) / g.bk - kb0 + 1;
    t.kb0 = kb0;
    if (nh == 1 && nrb == 1 && nkb == 1) {   // aligned: one entry, on (full) or off (skipped)
        t.any = g.mask[(((int64_t)b * g.Hq + h0) * g.nbq + rb0) * g.nbk + kb0] != 0;
        return t;
    }
    int *m = sh + parity * (ATTN_SCAN_KB + 1);
    parity ^= 1;
    for (int i = threadIdx.x; i <= ATTN_SCAN_KB; i += NT) m[i] = -1;   // m[ATTN_SCAN_KB]: some entry is on
    __syncthreads();
    int off = 0;
    int64_t total = (int64_t)nh * nrb * nkb;
    for (int64_t e = threadIdx.x; e < total; e += NT) {
        int kb = kb0 + (int)(e % nkb);
        int64_t rest = e / nkb;
        int rb = rb0 + (int)(rest % nrb), h = h0 + (int)(rest / nrb);
        if (g.mask[(((int64_t)b * g.Hq + h) * g.nbq + rb) * g.nbk + kb]) {
            int last = (int)min((int64_t)(rb + 1) * g.bq, (int64_t)r1) - 1;   // last row of the block in the scan
            atomicMax(&m[kb - kb0], g.causal ? last : INT_MAX);
            m[ATTN_SCAN_KB] = 1;
        } else {
            off = 1;
        }
    }
    off = __syncthreads_or(off);
    t.any = m[ATTN_SCAN_KB] > 0;
    t.mask_elem = off;
    t.maxrow = m;
    return t;
}

// Block-map update: the largest logit per (row, map block) of the score tile
// s [nr, lds] (natural units, hidden = -inf; keys c0..c0+nc-1) folded into
// rmax [nr, nmb] (rows of the tile). Each (row, map block) is one thread's.
template <int NT>
__device__ void attn_map_update(const float *s, int lds, int nr, int c0, int nc, int mb, float *rmax, int nmb) {
    int j0 = c0 / mb, nseg = (c0 + nc - 1) / mb - j0 + 1;
    for (int e = threadIdx.x; e < nr * nseg; e += NT) {
        int i = e / nseg, jm = j0 + e % nseg;
        int a = jm * mb > c0 ? jm * mb - c0 : 0, z = (jm + 1) * mb - c0 < nc ? (jm + 1) * mb - c0 : nc;
        float mx = -INFINITY;
        for (int j = a; j < z; j++) mx = fmaxf(mx, s[i * lds + j]);
        float *p = rmax + (int64_t)i * nmb + jm;
        if (mx > *p) *p = mx;
    }
}

// Block -> (b, h, query tile): the last query tiles (most keys when causal) first.
__device__ __forceinline__ void attn_row_block(const AttnGeom &g, int br, int &bh, int &r0, int &r1) {
    int nqt = (g.T + br - 1) / br, nbh = g.B * g.Hq;
    bh = (int)(blockIdx.x % nbh);
    r0 = (nqt - 1 - (int)(blockIdx.x / nbh)) * br;
    r1 = min(r0 + br, g.T);
}

// Rows [0,rows) of a fp32 tile s [rows][ld] from src [*, D], zero unless live(row0 + i).
template <typename Live>
__device__ __forceinline__ void attn_load_f32(float *s, int ld, const float *src, int row0, int rows, int D, Live live) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    for (int r = warp; r < rows; r += 8) {   // 8 warps
        bool ok = live(row0 + r);
        const float *p = src + (int64_t)(row0 + r) * D;
        for (int d = lane; d < D; d += 32) s[r * ld + d] = ok ? p[d] : 0.0f;
    }
}

// One key tile of a fp32 kernel (256 threads): classifies keys [c0,c1)
// against rows [r0,r1) of query head h and, unless the mask skips the tile
// (t.any = 0: nothing loaded, no barrier), loads k (and v, unless V is NULL)
// rows c0..c0+N-1 into sK, sV [N][ld], zeros for keys no row sees. Barriers
// before (readers of the previous tile are done) and after (the tile is in).
template <int N>
__device__ __forceinline__ AttnTile attn_f32_kv_tile(const AttnGeom &g, int b, int h, int r0, int r1, int c0, int c1,
                                                     const float *K, const float *V, float *sK, float *sV, int ld,
                                                     int *sScan, int &parity) {
    AttnTile t = attn_scan<256>(g, b, h, 1, r0, r1, c0, c1, sScan, parity);
    if (!t.any) return t;
    __syncthreads();
    auto live = [&](int c) { return attn_key_live(t, g, c, c1); };
    attn_load_f32(sK, ld, K, c0, N, g.D, live);
    if (V) attn_load_f32(sV, ld, V, c0, N, g.D, live);
    __syncthreads();
    return t;
}

// ---- fp32 register tiles: 256 threads as 16 x 16 (tx = threadIdx.x % 16,
// ty = threadIdx.x / 16); a thread owns rows ty + 16 i and columns tx + 16 j ----

template <int RM, int RN> __device__ __forceinline__ void attn_f32_zero(float (&acc)[RM][RN]) {
#pragma unroll
    for (int i = 0; i < RM; i++)
#pragma unroll
        for (int j = 0; j < RN; j++) acc[i][j] = 0.0f;
}

// acc[i][j] += sum over d < D of a[ty + 16 i][d] b[tx + 16 j][d]: A B^T of two
// shared tiles [*][ld] (rows of a against rows of b).
template <int RM, int RN>
__device__ __forceinline__ void attn_f32_abt(float (&acc)[RM][RN], const float *a, const float *b, int ld, int D) {
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
#pragma unroll 4
    for (int d = 0; d < D; d++) {
        float av[RM], bv[RN];
#pragma unroll
        for (int i = 0; i < RM; i++) av[i] = a[(ty + 16 * i) * ld + d];
#pragma unroll
        for (int j = 0; j < RN; j++) bv[j] = b[(tx + 16 * j) * ld + d];
#pragma unroll
        for (int i = 0; i < RM; i++)
#pragma unroll
            for (int j = 0; j < RN; j++) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
}

// Columns tx + 16 j of a [*][D] tile, clamped to D - 1 for reads (columns >= D are never stored).
template <int NCOL> __device__ __forceinline__ void attn_f32_cols(int (&col)[NCOL], int D) {
#pragma unroll
    for (int j = 0; j < NCOL; j++) col[j] = min((int)(threadIdx.x & 15) + 16 * j, D - 1);
}

// acc[i][j] += sum over c < n of p[ty + 16 i][c] x[c][col[j]]: P X of shared
// tiles p [*][ldp] and x [n][ld].
template <int RM, int NCOL>
__device__ __forceinline__ void attn_f32_pv(float (&acc)[RM][NCOL], const float *p, int ldp, const float *x, int ld,
                                            const int (&col)[NCOL], int n) {
    const int ty = threadIdx.x >> 4;
#pragma unroll 4
    for (int c = 0; c < n; c++) {
        float pv[RM], xv[NCOL];
#pragma unroll
        for (int i = 0; i < RM; i++) pv[i] = p[(ty + 16 * i) * ldp + c];
#pragma unroll
        for (int j = 0; j < NCOL; j++) xv[j] = x[c * ld + col[j]];
#pragma unroll
        for (int i = 0; i < RM; i++)
#pragma unroll
            for (int j = 0; j < NCOL; j++) acc[i][j] = fmaf(pv[i], xv[j], acc[i][j]);
    }
}

// The thread's part of a shared tile t [16 RM][ld] = acc.
template <int RM, int RN> __device__ __forceinline__ void attn_f32_store(float *t, int ld, const float (&acc)[RM][RN]) {
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
#pragma unroll
    for (int i = 0; i < RM; i++)
#pragma unroll
        for (int j = 0; j < RN; j++) t[(ty + 16 * i) * ld + tx + 16 * j] = acc[i][j];
}

// out [*, D] (global) rows row0 + ty + 16 i below rlim, columns tx + 16 j below D: += scale acc.
template <int RM, int NCOL>
__device__ __forceinline__ void attn_f32_add_rows(float *out, const float (&acc)[RM][NCOL], float scale, int row0,
                                                  int rlim, int D) {
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
#pragma unroll
    for (int i = 0; i < RM; i++) {
        const int r = row0 + ty + 16 * i;
        if (r >= rlim) continue;
        float *o = out + (int64_t)r * D;
#pragma unroll
        for (int j = 0; j < NCOL; j++)
            if (tx + 16 * j < D) o[tx + 16 * j] += scale * acc[i][j];
    }
}

// ---- bf16 tensor-core primitives (sm_80+) ----

// 16 bytes global -> shared, asynchronously; zero-filled when !pred (src is then not read).
__device__ __forceinline__ void attn_cp16(void *dst, const void *src, bool pred) {
    unsigned s = (unsigned)__cvta_generic_to_shared(dst);
    int n = pred ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(n) : "memory");
}
__device__ __forceinline__ void attn_cp_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void attn_cp_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Rows [0, ROWS) of a bf16 tile s [ROWS][DP+8] from src rows row0.. of [*, DP];
// row i is zero-filled unless live(row0 + i).
template <int ROWS, int DP, int NT, typename Live>
__device__ __forceinline__ void attn_load_tile(attn_bf16 *s, const attn_bf16 *src, int row0, Live live) {
    constexpr int CH = DP / 8, LDS = DP + 8;
    for (int idx = threadIdx.x; idx < ROWS * CH; idx += NT) {
        int r = idx / CH, ch = idx % CH;
        bool ok = live(row0 + r);
        const attn_bf16 *p = ok ? src + (int64_t)(row0 + r) * DP + ch * 8 : src;
        attn_cp16(s + r * LDS + ch * 8, p, ok);
    }
}

__device__ __forceinline__ void attn_ldsm4(uint32_t r[4], const attn_bf16 *p) {
    unsigned a = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}
__device__ __forceinline__ void attn_ldsm4t(uint32_t r[4], const attn_bf16 *p) {
    unsigned a = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}

// c [16x8 f32] += a [16x16 bf16, row] b [16x8 bf16, col]. Fragments (g = lane/4,
// t = lane%4): a regs (row g, k 2t..), (row g+8, k 2t..), (row g, k 8+2t..),
// (row g+8, k 8+2t..); b regs (k 2t.., n g), (k 8+2t.., n g); c (row g, n 2t, 2t+1),
// (row g+8, n 2t, 2t+1).
__device__ __forceinline__ void attn_mma(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t attn_pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    uint32_t u;
    memcpy(&u, &v, 4);
    return u;
}

// A fragments of the 16x16 block k-chunk kc of a C-fragment tile acc[nt][4]
// (the FlashAttention-2 register reuse: C of two n8 tiles is A of one k16 chunk).
__device__ __forceinline__ void attn_c_to_a(uint32_t a[4], const float (*acc)[4], int kc) {
    a[0] = attn_pack(acc[2 * kc][0], acc[2 * kc][1]);
    a[1] = attn_pack(acc[2 * kc][2], acc[2 * kc][3]);
    a[2] = attn_pack(acc[2 * kc + 1][0], acc[2 * kc + 1][1]);
    a[3] = attn_pack(acc[2 * kc + 1][2], acc[2 * kc + 1][3]);
}

// ---- host: launch helpers shared by the launchers ----

// Dynamic shared memory above 48 KB needs an opt-in per kernel.
static inline lt_status attn_smem(const void *fn, size_t bytes, const char *what) {
    if (bytes > lt_cuda_smem_optin())
        return lt_error(LT_ERR_UNSUPPORTED, "attention (cuda): %s needs %zu bytes of shared memory per block, the GPU "
                                            "allows %zu", what, bytes, lt_cuda_smem_optin());
    if (bytes > 48 * 1024)
        LT_CUDA_CHECK(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    return LT_OK;
}

// Padded head dim of the bf16 path: D rounded up to 64 or 128 (zeros beyond D).
static inline int attn_dp(int D) { return D <= 64 ? 64 : 128; }

#endif
