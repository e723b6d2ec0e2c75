// Attention on CUDA: the op's entry points. They pick who computes the node
// (cuDNN's fused SDPA or libtrain's kernels, iattr[LT_ATTN_IMPL]), record the
// choice so the backward takes the same path, check what libtrain's kernels
// support, and manage their scratch: bf16 copies of q, k, v for the
// tensor-core path (made by the forward, kept for the backward) and the
// block map's per-(row, map block) max logits.
//
// Limits of libtrain's kernels: 1 <= D <= 256. precision fp32 runs the exact
// fp32 kernels; bf16 runs the tensor-core kernels for D <= 128 (D zero-padded
// to 64 or 128, so any D works) and the fp32 kernels above (exact, slower).
#include "kernels/cuda/attention_tile.cuh"

// kernels/cuda/attention_cudnn.cu
extern "C" int lt_cudnn_sdpa_can(const lt_node *n);
extern "C" lt_status lt_cudnn_sdpa_fwd(lt_node *n);
extern "C" lt_status lt_cudnn_sdpa_bwd(lt_node *n);
extern "C" const char *lt_cudnn_sdpa_why_not(void);   // why the last lt_cudnn_sdpa_can said no
// attention_fwd.cu, attention_bwd.cu, attention_map.cu
extern "C" lt_status lt_cuda_attn_fwd_launch(const lt_node *n, const AttnGeom *g, const void *qkvb, float *rmax);
extern "C" lt_status lt_cuda_attn_check(lt_node *n);   // attention_check.cu: key_lens / block_mask on the device
extern "C" lt_status lt_cuda_add_inplace(float *dst, const float *src, int64_t n);   // runtime.cu
extern "C" lt_status lt_cuda_attn_bwd_launch(lt_node *n, const AttnGeom *g, const void *qkvb);
extern "C" lt_status lt_cuda_attn_to_bf16(const float *x, void *y, int64_t rows, int D, int DP);
extern "C" lt_status lt_cuda_attn_map_pool(const float *rmax, const float *L, float *G, int BH, int T, int mb, int nmb);

// The path the forward took (LT_ATTN_OURS or LT_ATTN_CUDNN), in the first
// iattr slot after the builder's: host state that leaves n->saved to whichever
// implementation runs the node.
#define ATTN_PATH LT_ATTN_RAN
static_assert(ATTN_PATH < LT_NODE_MAX_ATTR, "attention: no free iattr slot for the chosen path");

// n->saved of a node libtrain's kernels ran (host arena).
typedef struct {
    void *qkvb;   // bf16 q, k, v (tensor-core path) or NULL
} attn_saved;

#define ATTN_MAX_D 256
#define ATTN_MMA_MAX_D 128

static lt_status check_ours(const lt_node *n, const AttnGeom *g) {
    for (int i = 0; i < 3; i++)
        if (n->in[i]->dtype != LT_F32)
            return lt_error(LT_ERR_DTYPE, "attention (cuda): %s must be f32", i == 0 ? "q" : i == 1 ? "k" : "v");
    if (g->D < 1 || g->D > ATTN_MAX_D)
        return lt_error(LT_ERR_UNSUPPORTED, "attention (cuda): head dim D = %d is outside 1..%d, what libtrain's CUDA "
                        "kernels support", g->D, ATTN_MAX_D);
    if (g->mask && (g->bq < 1 || g->bk < 1))
        return lt_error(LT_ERR_ARG, "attention (cuda): block-mask block sizes %dx%d must be positive", g->bq, g->bk);
    return LT_OK;
}

static bool use_mma(const lt_node *n, const AttnGeom *g) {
    return n->iattr[LT_ATTN_PREC] == LT_PREC_BF16 && g->D <= ATTN_MMA_MAX_D;
}

// q, k, v in bf16, D padded with zeros to attn_dp(D), back to back in one scratch.
static lt_status qkv_bf16(lt_node *n, const AttnGeom *g, void **out) {
    const int DP = attn_dp(g->D);
    const int64_t rq = (int64_t)g->B * g->Hq * g->T, rk = (int64_t)g->B * g->Hkv * g->S;
    attn_bf16 *p = (attn_bf16 *)lt_node_save_data(n, sizeof(attn_bf16) * (size_t)((rq + 2 * rk) * DP));
    if (!p) return lt_last_status();
    LT_TRY(lt_cuda_attn_to_bf16(lt_cuda_f32(n->in[0]), p, rq, g->D, DP));
    LT_TRY(lt_cuda_attn_to_bf16(lt_cuda_f32(n->in[1]), p + rq * DP, rk, g->D, DP));
    LT_TRY(lt_cuda_attn_to_bf16(lt_cuda_f32(n->in[2]), p + (rq + rk) * DP, rk, g->D, DP));
    *out = p;
    return LT_OK;
}

static lt_status fwd_ours(lt_node *n) {
    const AttnGeom g = attn_geom(n);
    LT_TRY(check_ours(n, &g));
    if ((int64_t)g.B * g.Hq * g.T == 0) return LT_OK;
    if (g.S == 0) return lt_error(LT_ERR_ARG, "attention: query row (b=0, h=0, row=0) sees no key");
    void *qkvb = NULL;
    if (use_mma(n, &g)) LT_TRY(qkv_bf16(n, &g, &qkvb));
    float *rmax = NULL;
    int mb = 0, nmb = 0;
    if (n->iattr[LT_ATTN_MAP]) {
        mb = (int)n->iattr[LT_ATTN_MAPB];
        if (mb < 1) return lt_error(LT_ERR_ARG, "attention (cuda): map block %d must be positive", mb);
        nmb = (g.S + mb - 1) / mb;
        rmax = (float *)lt_node_save_data(n, sizeof(float) * (size_t)((int64_t)g.B * g.Hq * g.T * nmb));
        if (!rmax) return lt_last_status();
    }
    LT_TRY(lt_cuda_attn_fwd_launch(n, &g, qkvb, rmax));
    if (rmax) {
        const lt_tensor *G = n->out[2 + (n->iattr[LT_ATTN_ENTROPY] ? 1 : 0)];
        LT_TRY(lt_cuda_attn_map_pool(rmax, lt_cuda_f32(n->out[1]), lt_cuda_f32(G), g.B * g.Hq, g.T, mb, nmb));
    }
    if (n->recorded) {
        attn_saved *s = (attn_saved *)lt_node_save(n, sizeof *s);
        if (!s) return lt_last_status();
        s->qkvb = qkvb;
        n->saved = s;
    }
    return LT_OK;
}

static lt_status bwd_ours(lt_node *n) {
    const AttnGeom g = attn_geom(n);
    LT_TRY(check_ours(n, &g));
    const void *dO = n->out[0]->grad;
    const void *gH = n->iattr[LT_ATTN_ENTROPY] ? n->out[2]->grad : NULL;
    const void *dQ = n->in[0]->grad, *dK = n->in[1]->grad, *dV = n->in[2]->grad;
    if ((!dO && !gH) || (!dQ && !dK && !(dV && dO))) return LT_OK;   // nothing nonzero to add
    if ((int64_t)g.B * g.Hq * g.T == 0 || g.S == 0) return LT_OK;
    void *qkvb = NULL;
    if (use_mma(n, &g)) {
        const attn_saved *s = (const attn_saved *)n->saved;
        if (s && s->qkvb) qkvb = s->qkvb;
        else LT_TRY(qkv_bf16(n, &g, &qkvb));
        // The tensor-core backward adds dQ with atomics while other blocks add dK, dV
        // with plain stores: when q is also k or v (one tensor passed twice) their
        // gradients are one buffer, so dQ goes through zeroed scratch first.
        float *dq = n->in[0]->grad;
        if (dq && (dq == n->in[1]->grad || dq == n->in[2]->grad)) {
            size_t bytes = sizeof(float) * (size_t)n->in[0]->numel;
            float *tmp = (float *)lt_node_save_data(n, bytes);
            if (!tmp) return lt_last_status();
            LT_CUDA_CHECK(cudaMemsetAsync(tmp, 0, bytes, lt_cuda_stream()));
            n->in[0]->grad = tmp;
            lt_status st = lt_cuda_attn_bwd_launch(n, &g, qkvb);
            n->in[0]->grad = dq;
            LT_TRY(st);
            return lt_cuda_add_inplace(dq, tmp, n->in[0]->numel);
        }
    }
    return lt_cuda_attn_bwd_launch(n, &g, qkvb);
}

extern "C" lt_status lt_cuda_attention_fwd(lt_node *n) {
    LT_TRY(lt_cuda_attn_check(n));
    const int impl = (int)n->iattr[LT_ATTN_IMPL];
    if (impl != LT_ATTN_OURS && lt_cudnn_sdpa_can(n)) {
        n->iattr[ATTN_PATH] = LT_ATTN_CUDNN;
        return lt_cudnn_sdpa_fwd(n);
    }
    if (impl == LT_ATTN_CUDNN) {
        const char *why = lt_cudnn_sdpa_why_not();
        return lt_error(LT_ERR_UNSUPPORTED, "attention: impl cudnn was asked, but %s; use impl auto or ours",
                        why && *why ? why : "cuDNN's fused attention cannot do this case");
    }
    n->iattr[ATTN_PATH] = LT_ATTN_OURS;
    return fwd_ours(n);
}

extern "C" lt_status lt_cuda_attention_bwd(lt_node *n) {
    if (n->iattr[ATTN_PATH] == LT_ATTN_CUDNN) return lt_cudnn_sdpa_bwd(n);
    return bwd_ours(n);
}
