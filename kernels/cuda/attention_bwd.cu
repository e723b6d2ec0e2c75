// Attention backward on CUDA, FlashAttention-2 style (kernels/cpu/attention_bwd.c
// is the reference). P is recomputed from lse, never stored. With Dvec =
// rowsum(dO * O), gH the entropy gradient and s - mu = (s - lse) + H:
//   dS = P (dP - Dvec) - gH P (s - mu),  dP = dO V^T
//   dQ = scale dS K,  dK = scale dS^T Q,  dV = P^T dO.
// A preprocessing kernel writes per row {lse, Dvec, H, gH} (and dO in bf16
// for the tensor-core path). Then:
// - fp32 (exact, deterministic like the CPU): one kernel per query tile for
//   dQ, one per (b, kv head, key tile) looping over the query heads of its
//   group and their query tiles for dK, dV. Each gradient element is one
//   thread's: no atomics.
// - bf16: one kernel per (b, kv head, key tile) keeping dK, dV in registers
//   (mma.sync, fp32 accumulation), Q / dO tiles double-buffered with cp.async,
//   and dQ = dS K added with fp32 atomics straight into q's gradient. A
//   separate dQ pass would make it deterministic at the cost of recomputing
//   S and dP (7 products instead of 5); the bf16 path is the fast one, and
//   its rounding already exceeds the atomics' order effects.
// Keys no row of the block can see are zero-filled, and hidden (row, key)
// pairs get P = dS = 0 by selection, so NaN in unreachable k/v never spreads.
#include "kernels/cuda/attention_tile.cuh"

struct AttnBwdArgs {
    AttnGeom g;
    const float *Q, *K, *V, *dO;           // fp32 inputs, dO [B,Hq,T,D] or NULL
    const attn_bf16 *Qb, *Kb, *Vb, *dOb;   // bf16 copies, D padded to DP (dOb NULL without dO)
    const float4 *st;                      // [B,Hq,T] {lse, Dvec, H, gH}
    float *dQ, *dK, *dV;                   // gradients to add into, NULL where not wanted
    int has_gh;                            // gH is given: the entropy term is on
};

// dS of one (row, key) pair from its scaled logit x (natural units) and the
// row's stats; 0 when hidden. p becomes P.
__device__ __forceinline__ float attn_ds(float dlt, bool vis, float dp, float4 sv, int has_gh, float &p) {
    p = vis ? expf(dlt) : 0.0f;
    if (!vis) return 0.0f;
    float ds = p * (dp - sv.y);
    if (has_gh) ds -= sv.w * (p * (dlt + sv.z));
    return ds;
}

// ---------------------------------------------------------------- prep ----

// One warp per row: st = {lse, rowsum(dO * O), H, gH} and dOb = bf16(dO) padded to DP.
__global__ void attn_bwd_prep_k(const float *__restrict__ O, const float *__restrict__ dO, const float *__restrict__ L,
                                const float *__restrict__ H, const float *__restrict__ gH, float4 *__restrict__ st,
                                attn_bf16 *__restrict__ dOb, int64_t rows, int D, int DP) {
    const int lane = threadIdx.x & 31;
    const int64_t wstep = (int64_t)gridDim.x * (blockDim.x >> 5);
    for (int64_t r = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += wstep) {
        float s = 0.0f;
        if (dO)
            for (int d = lane; d < D; d += 32) s = fmaf(dO[r * D + d], O[r * D + d], s);
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0) st[r] = make_float4(L[r], s, H ? H[r] : 0.0f, gH ? gH[r] : 0.0f);
        if (dOb)
            for (int d = 2 * lane; d < DP; d += 64) {
                float lo = d < D ? dO[r * D + d] : 0.0f, hi = d + 1 < D ? dO[r * D + d + 1] : 0.0f;
                reinterpret_cast<__nv_bfloat162 *>(dOb + r * DP)[d / 2] = __floats2bfloat162_rn(lo, hi);
            }
    }
}

// ---------------------------------------------------------------- fp32 dQ ----

// Block: BR query rows of head (b,h) against every key tile they see; 256
// threads as 16x16, each RM rows x RN keys of S and dP, RM rows x NCOL of dQ.
template <int BR, int BC, int NCOL>
__global__ void __launch_bounds__(256) attn_bwd_dq_f32_k(AttnBwdArgs A) {
    constexpr int RM = BR / 16, RN = BC / 16, LDP = BC + 1;
    extern __shared__ __align__(16) unsigned char smem[];
    const AttnGeom &g = A.g;
    const int D = g.D, LD = D | 1;
    float *sQ = (float *)smem, *sdO = sQ + BR * LD, *sK = sdO + BR * LD, *sV = sK + BC * LD, *sdS = sV + BC * LD;
    int *sScan = (int *)(sdS + BR * LDP);
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    int bh, r0, r1;
    attn_row_block(g, BR, bh, r0, r1);
    const int b = bh / g.Hq, h = bh % g.Hq;
    const int64_t kvoff = ((int64_t)b * g.Hkv + h / g.group) * g.S * D;
    auto rows_live = [&](int r) { return r < r1; };
    attn_load_f32(sQ, LD, A.Q + (int64_t)bh * g.T * D, r0, BR, D, rows_live);
    if (A.dO) attn_load_f32(sdO, LD, A.dO + (int64_t)bh * g.T * D, r0, BR, D, rows_live);
    int col[NCOL];
    float dq[RM][NCOL];
    float4 sv[RM];
    attn_f32_cols(col, D);
    attn_f32_zero(dq);
#pragma unroll
    for (int i = 0; i < RM; i++) {
        const int r = r0 + ty + 16 * i;
        sv[i] = r < r1 ? A.st[(int64_t)bh * g.T + r] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
    const int kend = attn_key_end(g, b, r1);
    int parity = 0;
    for (int c0 = 0; c0 < kend; c0 += BC) {
        const int c1 = min(c0 + BC, kend);
        const AttnTile t = attn_f32_kv_tile<BC>(g, b, h, r0, r1, c0, c1, A.K + kvoff, A.dO ? A.V + kvoff : NULL, sK,
                                                sV, LD, sScan, parity);
        if (!t.any) continue;
        float s[RM][RN], dp[RM][RN];   // S and dP = dO V^T (0 without dO)
        attn_f32_zero(s);
        attn_f32_zero(dp);
        attn_f32_abt(s, sQ, sK, LD, D);
        if (A.dO) attn_f32_abt(dp, sdO, sV, LD, D);
        const bool full = attn_full(g, t, r0, r1, BR, c0, c1, BC);
#pragma unroll
        for (int i = 0; i < RM; i++)
#pragma unroll
            for (int j = 0; j < RN; j++) {
                const int r = r0 + ty + 16 * i, c = c0 + tx + 16 * j;
                const bool vis = full || attn_visible(g, t, b, h, r, c, r1, c1);
                float p;
                sdS[(ty + 16 * i) * LDP + tx + 16 * j] =
                    attn_ds(s[i][j] * g.scale - sv[i].x, vis, dp[i][j], sv[i], A.has_gh, p);
            }
        __syncthreads();
        attn_f32_pv(dq, sdS, LDP, sK, LD, col, BC);
    }
    attn_f32_add_rows(A.dQ + (int64_t)bh * g.T * D, dq, g.scale, r0, r1, D);
}

// ---------------------------------------------------------------- fp32 dK, dV ----

// Block: BR keys of kv head (b,hk) against the BC-row query tiles of every
// query head of its group; 16x16 threads, each RM keys x RN queries of S^T and
// dP^T, RM keys x NCOL of dK and dV.
template <int BR, int BC, int NCOL>
__global__ void __launch_bounds__(256, 1) attn_bwd_dkv_f32_k(AttnBwdArgs A) {
    constexpr int RM = BR / 16, RN = BC / 16, LDP = BC + 1;
    extern __shared__ __align__(16) unsigned char smem[];
    const AttnGeom &g = A.g;
    const int D = g.D, LD = D | 1;
    float *sK = (float *)smem, *sV = sK + BR * LD, *sQ = sV + BR * LD, *sdO = sQ + BC * LD;
    float *sP = sdO + BC * LD, *sdS = sP + BR * LDP;
    int *sScan = (int *)(sdS + BR * LDP);
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const int nbk = g.B * g.Hkv, bkh = (int)(blockIdx.x % nbk), b = bkh / g.Hkv, hk = bkh % g.Hkv;
    const int c0 = (int)(blockIdx.x / nbk) * BR;   // early keys (most rows when causal) first
    const int kend = min(attn_len(g, b), g.causal ? g.T : g.S);
    if (c0 >= kend) return;   // keys no row sees: their gradient is 0
    const int c1 = min(c0 + BR, kend);
    int parity = 0;
    {   // keys no row of any head of the group sees are loaded as zeros
        AttnTile tk = attn_scan<256>(g, b, hk * g.group, g.group, 0, g.T, c0, c1, sScan, parity);
        if (!tk.any) return;   // the block mask hides these keys from every row
        auto live = [&](int c) { return attn_key_live(tk, g, c, c1); };
        attn_load_f32(sK, LD, A.K + (int64_t)bkh * g.S * D, c0, BR, D, live);
        attn_load_f32(sV, LD, A.V + (int64_t)bkh * g.S * D, c0, BR, D, live);
    }
    int col[NCOL];
    float dk[RM][NCOL], dv[RM][NCOL];
    attn_f32_cols(col, D);
    attn_f32_zero(dk);
    attn_f32_zero(dv);
    const int nqt = (g.T + BC - 1) / BC, qt0 = g.causal ? c0 / BC : 0;
    const bool need_dv = A.dV && A.dO;
    for (int h = hk * g.group; h < (hk + 1) * g.group; h++) {
        const int64_t bh = (int64_t)b * g.Hq + h;
        for (int qt = qt0; qt < nqt; qt++) {
            const int q0 = qt * BC, q1 = min(q0 + BC, g.T), c1p = min(c1, attn_key_end(g, b, q1));
            if (c1p <= c0) continue;
            AttnTile t = attn_scan<256>(g, b, h, 1, q0, q1, c0, c1p, sScan, parity);
            if (!t.any) continue;
            __syncthreads();   // the previous tile's readers are done with sQ, sdO, sP, sdS
            auto rows_live = [&](int r) { return r < q1; };
            attn_load_f32(sQ, LD, A.Q + bh * g.T * D, q0, BC, D, rows_live);
            if (A.dO) attn_load_f32(sdO, LD, A.dO + bh * g.T * D, q0, BC, D, rows_live);
            __syncthreads();
            float s[RM][RN], dp[RM][RN];   // S^T = K Q^T and dP^T = V dO^T (0 without dO)
            attn_f32_zero(s);
            attn_f32_zero(dp);
            attn_f32_abt(s, sK, sQ, LD, D);
            if (A.dO) attn_f32_abt(dp, sV, sdO, LD, D);
            const bool full = attn_full(g, t, q0, q1, BC, c0, c1p, BR);
#pragma unroll
            for (int j = 0; j < RN; j++) {
                const int r = q0 + tx + 16 * j;
                const float4 sv = r < q1 ? A.st[bh * g.T + r] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
                for (int i = 0; i < RM; i++) {
                    const int c = c0 + ty + 16 * i;
                    const bool vis = full || attn_visible(g, t, b, h, r, c, q1, c1p);
                    float p, ds = attn_ds(s[i][j] * g.scale - sv.x, vis, dp[i][j], sv, A.has_gh, p);
                    sP[(ty + 16 * i) * LDP + tx + 16 * j] = p;
                    sdS[(ty + 16 * i) * LDP + tx + 16 * j] = ds;
                }
            }
            __syncthreads();
            // over the whole query tile: rows past q1 have P = dS = 0 and zero q, dO
            if (need_dv) attn_f32_pv(dv, sP, LDP, sdO, LD, col, BC);
            if (A.dK) attn_f32_pv(dk, sdS, LDP, sQ, LD, col, BC);
        }
    }
    const int64_t kv = (int64_t)bkh * g.S * D;
    if (A.dK) attn_f32_add_rows(A.dK + kv, dk, g.scale, c0, c1, D);
    if (need_dv) attn_f32_add_rows(A.dV + kv, dv, 1.0f, c0, c1, D);
}

// ---------------------------------------------------------------- bf16 ----

template <int DP, int BKEYS> struct AttnBwdMma {
    static constexpr int BQ = 64, NW = BKEYS / 16, NT = NW * 32, LDS = DP + 8, LDD = BQ + 8;
    static constexpr int DQW = DP * 4 / NW, DQC = DQW < 64 ? DQW : 64;   // dQ columns per warp, per pass
    static constexpr size_t smem() {
        return sizeof(attn_bf16) * ((size_t)(2 * BKEYS + 4 * BQ) * LDS + (size_t)BKEYS * LDD) +
               sizeof(float4) * 2 * BQ + sizeof(int) * ATTN_SCAN_INTS;
    }
};

// Block: BKEYS keys of kv head (b,hk), warp w owning keys 16w..16w+15; it
// loops over (query head of the group, 64-row query tile) pairs.
template <int DP, int BKEYS>
__global__ void __launch_bounds__(AttnBwdMma<DP, BKEYS>::NT) attn_bwd_mma_k(AttnBwdArgs A) {
    using C = AttnBwdMma<DP, BKEYS>;
    constexpr int BQ = C::BQ, LDS = C::LDS, LDD = C::LDD, KC = DP / 16, NDT = DP / 8, NT = C::NT;
    extern __shared__ __align__(16) unsigned char smem[];
    const AttnGeom &g = A.g;
    attn_bf16 *sK = (attn_bf16 *)smem, *sV = sK + BKEYS * LDS, *sQ = sV + BKEYS * LDS, *sdO = sQ + 2 * BQ * LDS;
    attn_bf16 *sdS = sdO + 2 * BQ * LDS;   // dS^T [BKEYS][LDD]
    float4 *sSt = (float4 *)(sdS + BKEYS * LDD);
    int *sScan = (int *)(sSt + 2 * BQ);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gq = lane >> 2, tq = lane & 3, kw = warp * 16;
    const int nbk = g.B * g.Hkv, bkh = (int)(blockIdx.x % nbk), b = bkh / g.Hkv, hk = bkh % g.Hkv;
    const int c0 = (int)(blockIdx.x / nbk) * BKEYS;   // early keys (most rows when causal) first
    const int kend = min(attn_len(g, b), g.causal ? g.T : g.S);
    if (c0 >= kend) return;
    const int c1 = min(c0 + BKEYS, kend);
    const bool has_do = A.dOb != NULL, need_dv = A.dV && has_do;
    const float sl2 = g.scale * ATTN_LOG2E;
    int parity = 0;
    {
        AttnTile tk = attn_scan<NT>(g, b, hk * g.group, g.group, 0, g.T, c0, c1, sScan, parity);
        if (!tk.any) return;   // the block mask hides these keys from every row
        auto live = [&](int c) { return attn_key_live(tk, g, c, c1); };
        attn_load_tile<BKEYS, DP, NT>(sK, A.Kb + (int64_t)bkh * g.S * DP, c0, live);
        attn_load_tile<BKEYS, DP, NT>(sV, A.Vb + (int64_t)bkh * g.S * DP, c0, live);
        attn_cp_commit();
    }
    const int nqt = (g.T + BQ - 1) / BQ, qt0 = g.causal ? c0 / BQ : 0, nq = nqt - qt0, npairs = g.group * nq;
    // Pair p: query head hk*group + p/nq, query tile qt0 + p%nq.
    auto next_pair = [&](int p, AttnTile &t) {
        for (; p < npairs; p++) {
            const int h = hk * g.group + p / nq, q0 = (qt0 + p % nq) * BQ, q1 = min(q0 + BQ, g.T);
            const int c1p = min(c1, attn_key_end(g, b, q1));
            if (c1p <= c0) continue;
            t = attn_scan<NT>(g, b, h, 1, q0, q1, c0, c1p, sScan, parity);
            if (t.any) break;
        }
        return p;
    };
    auto load_q = [&](int p, int buf) {
        const int h = hk * g.group + p / nq, q0 = (qt0 + p % nq) * BQ, q1 = min(q0 + BQ, g.T);
        const int64_t bh = (int64_t)b * g.Hq + h;
        auto live = [&](int r) { return r < q1; };
        attn_load_tile<BQ, DP, NT>(sQ + buf * BQ * LDS, A.Qb + bh * g.T * DP, q0, live);
        if (has_do) attn_load_tile<BQ, DP, NT>(sdO + buf * BQ * LDS, A.dOb + bh * g.T * DP, q0, live);
        for (int i = threadIdx.x; i < BQ; i += NT)
            attn_cp16(sSt + buf * BQ + i, q0 + i < q1 ? A.st + bh * g.T + q0 + i : A.st, q0 + i < q1);
    };
    AttnTile t;
    int p = next_pair(0, t), buf = 0;
    if (p < npairs) load_q(p, 0);
    attn_cp_commit();
    float dk[NDT][4], dv[NDT][4];
#pragma unroll
    for (int i = 0; i < NDT; i++)
#pragma unroll
        for (int e = 0; e < 4; e++) dk[i][e] = dv[i][e] = 0.0f;
    while (p < npairs) {
        const AttnTile cur = t;
        const int h = hk * g.group + p / nq, q0 = (qt0 + p % nq) * BQ, q1 = min(q0 + BQ, g.T);
        const int c1p = min(c1, attn_key_end(g, b, q1));
        const int64_t bh = (int64_t)b * g.Hq + h;
        const int pn = next_pair(p + 1, t);
        if (pn < npairs) load_q(pn, buf ^ 1);   // buf ^ 1 was released by the last iteration's barrier
        attn_cp_commit();
        attn_cp_wait<1>();
        __syncthreads();
        const attn_bf16 *qb = sQ + buf * BQ * LDS, *dob = sdO + buf * BQ * LDS;
        const float4 *stb = sSt + buf * BQ;
        // S^T = K Q^T and dP^T = V dO^T: the warp's 16 keys x 64 queries.
        float st[8][4], dpt[8][4];
#pragma unroll
        for (int i = 0; i < 8; i++)
#pragma unroll
            for (int e = 0; e < 4; e++) st[i][e] = dpt[i][e] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < KC; kk++) {
            uint32_t af[4];
            attn_ldsm4(af, sK + (kw + (lane & 15)) * LDS + kk * 16 + (lane >> 4) * 8);
#pragma unroll
            for (int np = 0; np < 4; np++) {
                uint32_t bfr[4];
                attn_ldsm4(bfr, qb + (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * LDS + kk * 16 + ((lane >> 3) & 1) * 8);
                attn_mma(st[2 * np], af, bfr[0], bfr[1]);
                attn_mma(st[2 * np + 1], af, bfr[2], bfr[3]);
            }
        }
        if (has_do) {
#pragma unroll
            for (int kk = 0; kk < KC; kk++) {
                uint32_t af[4];
                attn_ldsm4(af, sV + (kw + (lane & 15)) * LDS + kk * 16 + (lane >> 4) * 8);
#pragma unroll
                for (int np = 0; np < 4; np++) {
                    uint32_t bfr[4];
                    attn_ldsm4(bfr, dob + (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * LDS + kk * 16 + ((lane >> 3) & 1) * 8);
                    attn_mma(dpt[2 * np], af, bfr[0], bfr[1]);
                    attn_mma(dpt[2 * np + 1], af, bfr[2], bfr[3]);
                }
            }
        }
        // P^T and dS^T in place (base-2 exponent, natural-unit entropy term). One
        // stats load per query column j (two keys each): fewer live registers
        // (ptxas spills at DP 128 on sm_90 went from 48 to 16 bytes).
        const bool full = attn_full(g, cur, q0, q1, BQ, c0, c1p, BKEYS);
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int j = 0; j < 2; j++) {
                const int qi = nt * 8 + 2 * tq + j;
                const float4 sv = stb[qi];
                const float lse2 = sv.x * ATTN_LOG2E;
#pragma unroll
                for (int i = 0; i < 2; i++) {
                    const int e = 2 * i + j, c = c0 + kw + gq + 8 * i;
                    const bool vis = full || attn_visible(g, cur, b, h, q0 + qi, c, q1, c1p);
                    const float dlt2 = st[nt][e] * sl2 - lse2;
                    const float pr = vis ? exp2f(dlt2) : 0.0f;
                    float ds = pr * (dpt[nt][e] - sv.y);
                    if (A.has_gh) ds -= sv.w * (pr * (dlt2 * ATTN_LN2 + sv.z));
                    st[nt][e] = pr;
                    dpt[nt][e] = vis ? ds : 0.0f;
                }
            }
        // dV += P^T dO, dK += dS^T Q (C fragments reused as A fragments; B by ldmatrix.trans).
#pragma unroll
        for (int kc = 0; kc < 4; kc++) {
            uint32_t pa[4], da[4];
            attn_c_to_a(pa, st, kc);
            attn_c_to_a(da, dpt, kc);
            const int roff = (kc * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + (lane >> 4) * 8;
#pragma unroll
            for (int dp = 0; dp < DP / 16; dp++) {
                uint32_t bfr[4];
                if (need_dv) {
                    attn_ldsm4t(bfr, dob + roff + dp * 16);
                    attn_mma(dv[2 * dp], pa, bfr[0], bfr[1]);
                    attn_mma(dv[2 * dp + 1], pa, bfr[2], bfr[3]);
                }
                if (A.dK) {
                    attn_ldsm4t(bfr, qb + roff + dp * 16);
                    attn_mma(dk[2 * dp], da, bfr[0], bfr[1]);
                    attn_mma(dk[2 * dp + 1], da, bfr[2], bfr[3]);
                }
            }
        }
        if (A.dQ) {
            // dS^T to shared memory, then dQ [64 queries, DP] = dS K split over the
            // warps: query tile w % 4, columns (w / 4) * DQW .., DQC at a time.
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
#pragma unroll
                for (int i = 0; i < 2; i++)
                    *reinterpret_cast<uint32_t *>(sdS + (kw + gq + 8 * i) * LDD + nt * 8 + 2 * tq) =
                        attn_pack(dpt[nt][2 * i], dpt[nt][2 * i + 1]);
            __syncthreads();
            const int mq = (warp & 3) * 16, dbase = (warp >> 2) * C::DQW;
#pragma unroll 1
            for (int ch = 0; ch < C::DQW / C::DQC; ch++) {
                float acc[C::DQC / 8][4];
#pragma unroll
                for (int i = 0; i < C::DQC / 8; i++) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.0f;
#pragma unroll
                for (int kc = 0; kc < BKEYS / 16; kc++) {
                    uint32_t af[4];
                    attn_ldsm4t(af, sdS + (kc * 16 + (lane & 7) + ((lane >> 4) & 1) * 8) * LDD + mq + ((lane >> 3) & 1) * 8);
#pragma unroll
                    for (int dp = 0; dp < C::DQC / 16; dp++) {
                        uint32_t bfr[4];
                        attn_ldsm4t(bfr, sK + (kc * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + dbase +
                                             ch * C::DQC + dp * 16 + (lane >> 4) * 8);
                        attn_mma(acc[2 * dp], af, bfr[0], bfr[1]);
                        attn_mma(acc[2 * dp + 1], af, bfr[2], bfr[3]);
                    }
                }
#pragma unroll
                for (int i = 0; i < 2; i++) {
                    const int r = q0 + mq + gq + 8 * i;
                    if (r >= q1) continue;
                    float *out = A.dQ + (bh * g.T + r) * g.D;
#pragma unroll
                    for (int dn = 0; dn < C::DQC / 8; dn++) {
                        const int d = dbase + ch * C::DQC + dn * 8 + 2 * tq;
                        if (d < g.D) atomicAdd(out + d, g.scale * acc[dn][2 * i]);
                        if (d + 1 < g.D) atomicAdd(out + d + 1, g.scale * acc[dn][2 * i + 1]);
                    }
                }
            }
        }
        __syncthreads();   // every warp is done with buf and sdS before they are refilled
        p = pn;
        buf ^= 1;
    }
    attn_cp_wait<0>();
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int c = c0 + kw + gq + 8 * i;
        if (c >= c1) continue;
        const int64_t off = ((int64_t)bkh * g.S + c) * g.D;
#pragma unroll
        for (int dn = 0; dn < NDT; dn++) {
            const int d = dn * 8 + 2 * tq;
#pragma unroll
            for (int e = 0; e < 2; e++) {
                if (d + e >= g.D) continue;
                if (A.dK) A.dK[off + d + e] += g.scale * dk[dn][2 * i + e];
                if (need_dv) A.dV[off + d + e] += dv[dn][2 * i + e];
            }
        }
    }
}

// ---------------------------------------------------------------- launch ----

template <int BR, int BC, int NCOL> static lt_status launch_dq_f32(const AttnBwdArgs &A) {
    const int LD = A.g.D | 1;
    size_t bytes = sizeof(float) * ((size_t)(2 * BR + 2 * BC) * LD + (size_t)BR * (BC + 1)) + sizeof(int) * ATTN_SCAN_INTS;
    LT_TRY(attn_smem((const void *)attn_bwd_dq_f32_k<BR, BC, NCOL>, bytes, "the fp32 backward (dq)"));
    unsigned grid = (unsigned)((int64_t)A.g.B * A.g.Hq * ((A.g.T + BR - 1) / BR));
    attn_bwd_dq_f32_k<BR, BC, NCOL><<<grid, 256, bytes, lt_cuda_stream()>>>(A);
    LT_LAUNCH_CHECK("attention_bwd_dq_f32");
    return LT_OK;
}

template <int BR, int BC, int NCOL> static lt_status launch_dkv_f32(const AttnBwdArgs &A) {
    const int LD = A.g.D | 1;
    size_t bytes = sizeof(float) * ((size_t)(2 * BR + 2 * BC) * LD + (size_t)2 * BR * (BC + 1)) + sizeof(int) * ATTN_SCAN_INTS;
    LT_TRY(attn_smem((const void *)attn_bwd_dkv_f32_k<BR, BC, NCOL>, bytes, "the fp32 backward (dk, dv)"));
    unsigned grid = (unsigned)((int64_t)A.g.B * A.g.Hkv * ((A.g.S + BR - 1) / BR));
    attn_bwd_dkv_f32_k<BR, BC, NCOL><<<grid, 256, bytes, lt_cuda_stream()>>>(A);
    LT_LAUNCH_CHECK("attention_bwd_dkv_f32");
    return LT_OK;
}

template <int DP, int BKEYS> static lt_status launch_mma(const AttnBwdArgs &A) {
    using C = AttnBwdMma<DP, BKEYS>;
    LT_TRY(attn_smem((const void *)attn_bwd_mma_k<DP, BKEYS>, C::smem(), "the bf16 backward"));
    unsigned grid = (unsigned)((int64_t)A.g.B * A.g.Hkv * ((A.g.S + BKEYS - 1) / BKEYS));
    attn_bwd_mma_k<DP, BKEYS><<<grid, C::NT, C::smem(), lt_cuda_stream()>>>(A);
    LT_LAUNCH_CHECK("attention_bwd_bf16");
    return LT_OK;
}

// The backward kernels for node n (geometry g), after the caller checked that
// some gradient is wanted and can be nonzero. qkvb: bf16 copies of q, k, v
// (D padded to attn_dp(D)) selecting the tensor-core path, NULL for fp32.
extern "C" lt_status lt_cuda_attn_bwd_launch(lt_node *n, const AttnGeom *g, const void *qkvb) {
    AttnBwdArgs A;
    memset(&A, 0, sizeof A);
    A.g = *g;
    A.Q = lt_cuda_f32(n->in[0]); A.K = lt_cuda_f32(n->in[1]); A.V = lt_cuda_f32(n->in[2]);
    A.dO = (const float *)n->out[0]->grad;
    const float *H = NULL, *gH = NULL;
    if (n->iattr[LT_ATTN_ENTROPY]) {
        H = lt_cuda_f32(n->out[2]);
        gH = (const float *)n->out[2]->grad;
    }
    A.has_gh = gH != NULL;
    A.dQ = (float *)n->in[0]->grad; A.dK = (float *)n->in[1]->grad; A.dV = (float *)n->in[2]->grad;
    const int64_t rows = (int64_t)g->B * g->Hq * g->T;
    const int DP = qkvb ? attn_dp(g->D) : 0;
    float4 *st = (float4 *)lt_node_save_data(n, sizeof(float4) * (size_t)rows);
    if (!st) return lt_last_status();
    attn_bf16 *dOb = NULL;
    if (qkvb && A.dO && !(dOb = (attn_bf16 *)lt_node_save_data(n, sizeof(attn_bf16) * (size_t)(rows * DP))))
        return lt_last_status();
    attn_bwd_prep_k<<<lt_cuda_blocks(rows * 32, 256), 256, 0, lt_cuda_stream()>>>(
        lt_cuda_f32(n->out[0]), A.dO, lt_cuda_f32(n->out[1]), H, gH, st, dOb, rows, g->D, DP);
    LT_LAUNCH_CHECK("attention_bwd_prep");
    A.st = st;
    if (qkvb) {
        A.Qb = (const attn_bf16 *)qkvb;
        A.Kb = A.Qb + rows * DP;
        A.Vb = A.Kb + (int64_t)g->B * g->Hkv * g->S * DP;
        A.dOb = dOb;
        // Keys per block: DP 64 takes 64 (4 warps of ~220 registers: 2 blocks per SM);
        // DP 128 takes 128 (8 warps, one 160 KB block per SM, as FlashAttention-2),
        // or 64 when a block mask's key blocks are not multiples of 128, so that
        // 64-key mask blocks are skipped whole.
        if (DP == 64) return launch_mma<64, 64>(A);
        const bool narrow = g->mask && g->bk % 128 != 0;
        return narrow ? launch_mma<128, 64>(A) : launch_mma<128, 128>(A);
    }
    if (A.dQ) {
        lt_status s = g->D <= 64 ? launch_dq_f32<64, 64, 4>(A) : g->D <= 128 ? launch_dq_f32<64, 64, 8>(A)
                                                                          : launch_dq_f32<32, 32, 16>(A);
        LT_TRY(s);
    }
    if (A.dK || (A.dV && A.dO)) {
        lt_status s = g->D <= 64 ? launch_dkv_f32<64, 64, 4>(A) : g->D <= 128 ? launch_dkv_f32<64, 32, 8>(A)
                                                                           : launch_dkv_f32<32, 32, 16>(A);
        LT_TRY(s);
    }
    return LT_OK;
}
