// Attention forward on CUDA: one block per (batch, query head, query tile),
// sweeping the key tiles its rows can see with an online softmax (no T x S
// memory). Per row it keeps the running max m, the normaliser l = sum e^(s-m)
// and, for the entropy, A = sum e^(s-m) (s-m), rescaled when m grows; at the
// end lse = m + log l and H = log l - A/l (kernels/cpu/attention.c). With a
// block map it folds the largest logit per (row, map block) into a scratch
// that attention_map.cu pools once lse is known.
//
// Two kernels:
// - fp32: exact, scalar FMAs over shared-memory tiles (256 threads as 16x16,
//   each owning RM rows x RN keys of the score tile and RM rows x NCOL
//   columns of o), any D <= 256.
// - bf16: q, k, v pre-converted to bf16 (attn_to_bf16, D zero-padded to DP =
//   64 or 128), 64-row query tiles over 64-key tiles double-buffered with
//   cp.async, S = QK^T and O += PV on mma.sync m16n8k16 with fp32
//   accumulation; 4 warps of 16 rows each keep S, P and O in registers.
#include "kernels/cuda/attention_tile.cuh"

struct AttnFwdArgs {
    AttnGeom g;
    const float *Q, *K, *V;            // fp32 kernel: [B,Hq,T,D], [B,Hkv,S,D] x2
    const attn_bf16 *Qb, *Kb, *Vb;     // bf16 kernel: the same, D padded to DP
    float *O, *L, *H;                  // [B,Hq,T,D], [B,Hq,T], [B,Hq,T] or NULL
    float *rmax;                       // [B,Hq,T,nmb] block-map scratch or NULL
    int mb, nmb;                       // map block size and blocks per key row
};

// Fills this block's rows of the block-map scratch with -inf (visible to the
// block's later updates after any __syncthreads).
template <int NT> __device__ void attn_map_init(const AttnFwdArgs &A, int bh, int r0, int r1) {
    if (!A.rmax) return;
    float *p = A.rmax + ((int64_t)bh * A.g.T + r0) * A.nmb;
    for (int64_t e = threadIdx.x; e < (int64_t)(r1 - r0) * A.nmb; e += NT) p[e] = -INFINITY;
}

// ---------------------------------------------------------------- fp32 ----

template <int BR, int BC, int NCOL>
__global__ void __launch_bounds__(256) attn_fwd_f32_k(AttnFwdArgs A) {
    constexpr int RM = BR / 16, RN = BC / 16, LDP = BC + 1;
    extern __shared__ __align__(16) unsigned char smem[];
    const AttnGeom &g = A.g;
    const int D = g.D, LD = D | 1;   // odd row stride: column reads of k are conflict-free
    float *sQ = (float *)smem, *sK = sQ + BR * LD, *sV = sK + BC * LD, *sP = sV + BC * LD;
    int *sScan = (int *)(sP + BR * LDP);
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    int bh, r0, r1;
    attn_row_block(g, BR, bh, r0, r1);
    const int b = bh / g.Hq, h = bh % g.Hq;
    const int64_t kvoff = ((int64_t)b * g.Hkv + h / g.group) * g.S * D;
    const float *K = A.K + kvoff, *V = A.V + kvoff;
    attn_map_init<256>(A, bh, r0, r1);
    attn_load_f32(sQ, LD, A.Q + (int64_t)bh * g.T * D, r0, BR, D, [&](int r) { return r < r1; });
    int col[NCOL];
    attn_f32_cols(col, D);
    float o[RM][NCOL], m[RM], l[RM], a[RM];
    attn_f32_zero(o);
#pragma unroll
    for (int i = 0; i < RM; i++) { m[i] = -INFINITY; l[i] = 0.0f; a[i] = 0.0f; }
    const int kend = attn_key_end(g, b, r1);
    int parity = 0;
    for (int c0 = 0; c0 < kend; c0 += BC) {
        const int c1 = min(c0 + BC, kend);
        const AttnTile t = attn_f32_kv_tile<BC>(g, b, h, r0, r1, c0, c1, K, V, sK, sV, LD, sScan, parity);
        if (!t.any) continue;
        float s[RM][RN];
        attn_f32_zero(s);
        attn_f32_abt(s, sQ, sK, LD, D);
        const bool full = attn_full(g, t, r0, r1, BR, c0, c1, BC);
#pragma unroll
        for (int i = 0; i < RM; i++)
#pragma unroll
            for (int j = 0; j < RN; j++) {
                s[i][j] *= g.scale;
                if (!full && !attn_visible(g, t, b, h, r0 + ty + 16 * i, c0 + tx + 16 * j, r1, c1))
                    s[i][j] = -INFINITY;
            }
        if (A.rmax) {
            attn_f32_store(sP, LDP, s);
            __syncthreads();
            attn_map_update<256>(sP, LDP, r1 - r0, c0, c1 - c0, A.mb,
                                 A.rmax + ((int64_t)bh * g.T + r0) * A.nmb, A.nmb);
            __syncthreads();   // sP is overwritten with P below
        }
        // Online softmax, as the CPU's softmax_update (16 lanes share a row).
#pragma unroll
        for (int i = 0; i < RM; i++) {
            float tmax = -INFINITY;
#pragma unroll
            for (int j = 0; j < RN; j++) tmax = fmaxf(tmax, s[i][j]);
#pragma unroll
            for (int w = 8; w > 0; w >>= 1) tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, w));
            // none: no visible key of this row in the tile (P = 0, state kept). No
            // early exit: the other half-warp still needs this half in the shuffles.
            const bool none = tmax == -INFINITY;
            const float m0 = m[i], m1 = fmaxf(m0, tmax);
            float sum = 0.0f, ent = 0.0f;
#pragma unroll
            for (int j = 0; j < RN; j++) {
                float dlt = s[i][j] - m1, p = none ? 0.0f : expf(dlt);
                s[i][j] = p;
                sum += p;
                if (p > 0.0f) ent += p * dlt;
            }
#pragma unroll
            for (int w = 8; w > 0; w >>= 1) {
                sum += __shfl_xor_sync(0xffffffffu, sum, w);
                ent += __shfl_xor_sync(0xffffffffu, ent, w);
            }
            if (none) continue;
            const float alpha = expf(m0 - m1);
            a[i] = (m0 == -INFINITY ? 0.0f : alpha * (a[i] + (m0 - m1) * l[i])) + ent;
            l[i] = alpha * l[i] + sum;
            m[i] = m1;
#pragma unroll
            for (int j = 0; j < NCOL; j++) o[i][j] *= alpha;
        }
        attn_f32_store(sP, LDP, s);
        __syncthreads();
        attn_f32_pv(o, sP, LDP, sV, LD, col, BC);   // over the whole tile width (P = 0 and V zero-filled past c1)
    }
#pragma unroll
    for (int i = 0; i < RM; i++) {
        const int r = r0 + ty + 16 * i;
        if (r >= r1) continue;
        const int64_t row = (int64_t)bh * g.T + r;
        // l = 0 (a row seeing no key: refused by the builder on the CPU, reported at the next
        // sync on CUDA by attention_check.cu) gives NaN here.
        const float inv = 1.0f / l[i], logl = logf(l[i]);
#pragma unroll
        for (int j = 0; j < NCOL; j++)
            if (tx + 16 * j < D) A.O[row * D + tx + 16 * j] = o[i][j] * inv;
        if (tx == 0) {
            A.L[row] = m[i] + logl;
            if (A.H) A.H[row] = logl - a[i] * inv;
        }
    }
}

// ---------------------------------------------------------------- bf16 ----

template <int DP> struct AttnFwdMma {
    static constexpr int BQ = 64, BK = 64, NT = 128, LDS = DP + 8, LDM = BK + 1;
    static constexpr size_t TILE = (size_t)64 * LDS * sizeof(attn_bf16);   // one 64-row bf16 tile
    // sQ, sK[2], sV[2], scan ints, then the map's score tile when asked
    static size_t smem(bool map) {
        return 5 * TILE + ATTN_SCAN_INTS * sizeof(int) + (map ? (size_t)BQ * LDM * sizeof(float) : 0);
    }
};

template <int DP>
__global__ void __launch_bounds__(128) attn_fwd_mma_k(AttnFwdArgs A) {
    using C = AttnFwdMma<DP>;
    constexpr int BQ = C::BQ, BK = C::BK, LDS = C::LDS, KC = DP / 16, NDT = DP / 8;
    extern __shared__ __align__(16) unsigned char smem[];
    const AttnGeom &g = A.g;
    attn_bf16 *sQ = (attn_bf16 *)smem, *sK = sQ + BQ * LDS, *sV = sK + 2 * BK * LDS;
    int *sScan = (int *)(sV + 2 * BK * LDS);
    float *sS = (float *)(sScan + ATTN_SCAN_INTS);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gq = lane >> 2, tq = lane & 3;
    int bh, r0, r1;
    attn_row_block(g, BQ, bh, r0, r1);
    const int b = bh / g.Hq, h = bh % g.Hq;
    const int64_t kvoff = ((int64_t)b * g.Hkv + h / g.group) * g.S * DP;
    const attn_bf16 *Kb = A.Kb + kvoff, *Vb = A.Vb + kvoff;
    const float sl2 = g.scale * ATTN_LOG2E;   // logits in base 2
    attn_map_init<C::NT>(A, bh, r0, r1);
    attn_load_tile<BQ, DP, C::NT>(sQ, A.Qb + (int64_t)bh * g.T * DP, r0, [&](int r) { return r < r1; });
    attn_cp_commit();

    const int kend = attn_key_end(g, b, r1);
    int parity = 0;
    // The next key tile at or after c0 with a visible block (c0 = kend: none).
    auto next_tile = [&](int c0, AttnTile &t) {
        for (; c0 < kend; c0 += BK) {
            t = attn_scan<C::NT>(g, b, h, 1, r0, r1, c0, min(c0 + BK, kend), sScan, parity);
            if (t.any) break;
        }
        return c0;
    };
    auto load_kv = [&](int c0, const AttnTile &t, int buf) {
        const int c1 = min(c0 + BK, kend);
        auto live = [&](int c) { return attn_key_live(t, g, c, c1); };
        attn_load_tile<BK, DP, C::NT>(sK + buf * BK * LDS, Kb, c0, live);
        attn_load_tile<BK, DP, C::NT>(sV + buf * BK * LDS, Vb, c0, live);
    };
    AttnTile t;
    int c0 = next_tile(0, t), buf = 0;
    if (c0 < kend) load_kv(c0, t, 0);
    attn_cp_commit();

    float o[NDT][4], m2[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}, a2[2] = {0.0f, 0.0f};
#pragma unroll
    for (int i = 0; i < NDT; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    uint32_t qf[KC][4];
    bool have_q = false;
    const int wr = warp * 16;   // the warp's first row in the tile
    while (c0 < kend) {
        const int c1 = min(c0 + BK, kend);
        const AttnTile cur = t;
        const int cn = next_tile(c0 + BK, t);
        if (cn < kend) load_kv(cn, t, buf ^ 1);   // buf ^ 1 was released by the last iteration's barrier
        attn_cp_commit();
        attn_cp_wait<1>();   // all but the newest group: q and this tile
        __syncthreads();
        if (!have_q) {
#pragma unroll
            for (int kk = 0; kk < KC; kk++) attn_ldsm4(qf[kk], sQ + (wr + (lane & 15)) * LDS + kk * 16 + (lane >> 4) * 8);
            have_q = true;
        }
        const attn_bf16 *kb = sK + buf * BK * LDS, *vb = sV + buf * BK * LDS;
        float s[8][4];
#pragma unroll
        for (int i = 0; i < 8; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < KC; kk++)
#pragma unroll
            for (int np = 0; np < 4; np++) {
                uint32_t bfr[4];
                attn_ldsm4(bfr, kb + (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * LDS + kk * 16 + ((lane >> 3) & 1) * 8);
                attn_mma(s[2 * np], qf[kk], bfr[0], bfr[1]);
                attn_mma(s[2 * np + 1], qf[kk], bfr[2], bfr[3]);
            }
        const bool full = attn_full(g, cur, r0, r1, BQ, c0, c1, BK);
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                s[nt][e] *= sl2;
                const int r = r0 + wr + gq + (e >> 1) * 8, c = c0 + nt * 8 + 2 * tq + (e & 1);
                if (!full && !attn_visible(g, cur, b, h, r, c, r1, c1)) s[nt][e] = -INFINITY;
            }
        if (A.rmax) {
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                    sS[(wr + gq + (e >> 1) * 8) * C::LDM + nt * 8 + 2 * tq + (e & 1)] = s[nt][e] * ATTN_LN2;
            __syncthreads();
            attn_map_update<C::NT>(sS, C::LDM, r1 - r0, c0, c1 - c0, A.mb,
                                   A.rmax + ((int64_t)bh * g.T + r0) * A.nmb, A.nmb);
        }
        // Online softmax in base 2 on rows gq (i = 0) and gq + 8 (i = 1); l and
        // A stay per-thread partial sums (reduced over the quad at the end).
#pragma unroll
        for (int i = 0; i < 2; i++) {
            float tmax = -INFINITY;
#pragma unroll
            for (int nt = 0; nt < 8; nt++) tmax = fmaxf(tmax, fmaxf(s[nt][2 * i], s[nt][2 * i + 1]));
            tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 1));
            tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 2));
            const float m0 = m2[i], m1 = fmaxf(m0, tmax);
            if (m1 == -INFINITY) {   // nothing visible to this row yet
#pragma unroll
                for (int nt = 0; nt < 8; nt++) s[nt][2 * i] = s[nt][2 * i + 1] = 0.0f;
                continue;
            }
            const float alpha = exp2f(m0 - m1);
            float sum = 0.0f, ent = 0.0f;
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
#pragma unroll
                for (int e = 2 * i; e < 2 * i + 2; e++) {
                    float dlt = s[nt][e] - m1, p = exp2f(dlt);
                    s[nt][e] = p;
                    sum += p;
                    if (p > 0.0f) ent += p * dlt;
                }
            if (A.H) a2[i] = (m0 == -INFINITY ? 0.0f : alpha * (a2[i] + (m0 - m1) * l[i])) + ent;
            l[i] = alpha * l[i] + sum;
            m2[i] = m1;
#pragma unroll
            for (int dn = 0; dn < NDT; dn++) { o[dn][2 * i] *= alpha; o[dn][2 * i + 1] *= alpha; }
        }
        // o += P V: P's C fragments are the A fragments (bf16), V through ldmatrix.trans.
#pragma unroll
        for (int kc = 0; kc < 4; kc++) {
            uint32_t pa[4];
            attn_c_to_a(pa, s, kc);
#pragma unroll
            for (int dp = 0; dp < DP / 16; dp++) {
                uint32_t bfr[4];
                attn_ldsm4t(bfr, vb + (kc * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + dp * 16 + (lane >> 4) * 8);
                attn_mma(o[2 * dp], pa, bfr[0], bfr[1]);
                attn_mma(o[2 * dp + 1], pa, bfr[2], bfr[3]);
            }
        }
        __syncthreads();   // every warp is done with buf (and sS) before they are refilled
        c0 = cn;
        buf ^= 1;
    }
    attn_cp_wait<0>();
#pragma unroll
    for (int i = 0; i < 2; i++) {
        float li = l[i], ai = a2[i];
        li += __shfl_xor_sync(0xffffffffu, li, 1);
        li += __shfl_xor_sync(0xffffffffu, li, 2);
        ai += __shfl_xor_sync(0xffffffffu, ai, 1);
        ai += __shfl_xor_sync(0xffffffffu, ai, 2);
        const int r = r0 + wr + gq + 8 * i;
        if (r >= r1) continue;
        const int64_t row = (int64_t)bh * g.T + r;
        const float inv = 1.0f / li, log2l = log2f(li);
        float *orow = A.O + row * g.D;
#pragma unroll
        for (int dn = 0; dn < NDT; dn++) {
            const int d = dn * 8 + 2 * tq;
            if (d < g.D) orow[d] = o[dn][2 * i] * inv;
            if (d + 1 < g.D) orow[d + 1] = o[dn][2 * i + 1] * inv;
        }
        if (tq == 0) {
            A.L[row] = (m2[i] + log2l) * ATTN_LN2;
            if (A.H) A.H[row] = (log2l - ai * inv) * ATTN_LN2;
        }
    }
}

// x [rows, D] f32 -> y [rows, DP] bf16, zeros in columns D..DP-1. DP is a
// template constant so the row / column split is a shift, not a 64-bit division.
template <int DP>
__global__ void attn_to_bf16_k(const float *__restrict__ x, attn_bf16 *__restrict__ y, int64_t rows, int D) {
    const int64_t n = rows * (DP / 2);
    LT_GRID_STRIDE(i, n) {
        const int64_t r = i / (DP / 2);
        const int d = (int)(i % (DP / 2)) * 2;
        float lo = d < D ? x[r * D + d] : 0.0f, hi = d + 1 < D ? x[r * D + d + 1] : 0.0f;
        reinterpret_cast<__nv_bfloat162 *>(y)[i] = __floats2bfloat162_rn(lo, hi);
    }
}

extern "C" lt_status lt_cuda_attn_to_bf16(const float *x, void *y, int64_t rows, int D, int DP) {
    if (rows == 0) return LT_OK;
    if (DP != 64 && DP != 128)
        return lt_error(LT_ERR_UNSUPPORTED, "attention (cuda): bf16 copies pad D to 64 or 128, not %d", DP);
    const unsigned grid = lt_cuda_blocks(rows * (DP / 2), 256);
    if (DP == 64) attn_to_bf16_k<64><<<grid, 256, 0, lt_cuda_stream()>>>(x, (attn_bf16 *)y, rows, D);
    else attn_to_bf16_k<128><<<grid, 256, 0, lt_cuda_stream()>>>(x, (attn_bf16 *)y, rows, D);
    LT_LAUNCH_CHECK("attn_to_bf16");
    return LT_OK;
}

// ---------------------------------------------------------------- launch ----

template <int BR, int BC, int NCOL> static lt_status launch_f32(const AttnFwdArgs &A) {
    const int LD = A.g.D | 1;
    size_t bytes = sizeof(float) * ((size_t)(BR + 2 * BC) * LD + (size_t)BR * (BC + 1)) + ATTN_SCAN_INTS * sizeof(int);
    LT_TRY(attn_smem((const void *)attn_fwd_f32_k<BR, BC, NCOL>, bytes, "the fp32 forward"));
    unsigned grid = (unsigned)((int64_t)A.g.B * A.g.Hq * ((A.g.T + BR - 1) / BR));
    attn_fwd_f32_k<BR, BC, NCOL><<<grid, 256, bytes, lt_cuda_stream()>>>(A);
    LT_LAUNCH_CHECK("attention_fwd_f32");
    return LT_OK;
}

template <int DP> static lt_status launch_mma(const AttnFwdArgs &A) {
    size_t bytes = AttnFwdMma<DP>::smem(A.rmax != NULL);
    LT_TRY(attn_smem((const void *)attn_fwd_mma_k<DP>, bytes, "the bf16 forward"));
    unsigned grid = (unsigned)((int64_t)A.g.B * A.g.Hq * ((A.g.T + 63) / 64));
    attn_fwd_mma_k<DP><<<grid, AttnFwdMma<DP>::NT, bytes, lt_cuda_stream()>>>(A);
    LT_LAUNCH_CHECK("attention_fwd_bf16");
    return LT_OK;
}

// The forward kernel for node n (geometry g): bf16 copies qkvb (q, k, v
// back to back, D padded to attn_dp(D)) select the tensor-core kernel, NULL
// the fp32 one. rmax: block-map scratch or NULL. The caller checked D <= 256
// (<= 128 with qkvb).
extern "C" lt_status lt_cuda_attn_fwd_launch(const lt_node *n, const AttnGeom *g, const void *qkvb, float *rmax) {
    AttnFwdArgs A;
    memset(&A, 0, sizeof A);
    A.g = *g;
    A.Q = lt_cuda_f32(n->in[0]); A.K = lt_cuda_f32(n->in[1]); A.V = lt_cuda_f32(n->in[2]);
    A.O = lt_cuda_f32(n->out[0]); A.L = lt_cuda_f32(n->out[1]);
    int slot = 2;
    if (n->iattr[LT_ATTN_ENTROPY]) A.H = lt_cuda_f32(n->out[slot++]);
    if (n->iattr[LT_ATTN_MAP]) {
        A.rmax = rmax;
        A.mb = (int)n->iattr[LT_ATTN_MAPB];
        A.nmb = (g->S + A.mb - 1) / A.mb;
    }
    if (qkvb) {
        int DP = attn_dp(g->D);
        A.Qb = (const attn_bf16 *)qkvb;
        A.Kb = A.Qb + (int64_t)g->B * g->Hq * g->T * DP;
        A.Vb = A.Kb + (int64_t)g->B * g->Hkv * g->S * DP;
        return DP == 64 ? launch_mma<64>(A) : launch_mma<128>(A);
    }
    if (g->D <= 64) return launch_f32<64, 64, 4>(A);
    if (g->D <= 128) return launch_f32<64, 64, 8>(A);
    return launch_f32<64, 32, 16>(A);
}
