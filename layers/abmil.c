#include "layers/abmil.h"
#include "kernels/attention.h"
#include "kernels/ops.h"

#include <math.h>
#include <string.h>

lt_abmil_cfg lt_abmil_defaults(void) {
    return (lt_abmil_cfg){.arch = LT_ABMIL_GATED, .d_feat = 0, .d_inner = 128, .d_attn = 128, .n_classes = 2,
                          .heads = 8, .dropout = 0.0f, .mha_dropout = 0.1f};
}

lt_status lt_abmil_arch_parse(const char *s, lt_abmil_arch *out) {
    if (s && (strcmp(s, "gated") == 0 || strcmp(s, "abmil") == 0)) { *out = LT_ABMIL_GATED; return LT_OK; }
    if (s && strcmp(s, "mha") == 0) { *out = LT_ABMIL_MHA; return LT_OK; }
    return lt_error(LT_ERR_ARG, "abmil: unknown arch \"%s\" (want gated, abmil or mha)", s ? s : "(null)");
}

static lt_status check_cfg(const lt_abmil_cfg *g) {
    if (g->arch != LT_ABMIL_GATED && g->arch != LT_ABMIL_MHA)
        return lt_error(LT_ERR_ARG, "abmil: arch %d is neither gated (0) nor mha (1)", (int)g->arch);
    if (g->d_feat < 1 || g->d_inner < 1 || g->d_attn < 1)
        return lt_error(LT_ERR_ARG, "abmil: d_feat %d, d_inner %d, d_attn %d must all be >= 1", g->d_feat,
                        g->d_inner, g->d_attn);
    if (g->n_classes < 2) return lt_error(LT_ERR_ARG, "abmil: n_classes %d must be >= 2", g->n_classes);
    if (g->arch == LT_ABMIL_MHA && (g->heads < 1 || g->d_inner % g->heads))
        return lt_error(LT_ERR_ARG, "abmil: mha heads %d must be >= 1 and divide d_inner %d", g->heads, g->d_inner);
    if (!(g->dropout >= 0 && g->dropout < 1) || !(g->mha_dropout >= 0 && g->mha_dropout < 1))
        return lt_error(LT_ERR_ARG, "abmil: dropout %g and mha_dropout %g must be in [0,1)", (double)g->dropout,
                        (double)g->mha_dropout);
    return LT_OK;
}

lt_status lt_abmil_init(lt_abmil *m, lt_params *ps, lt_rng *rng, const lt_abmil_cfg *cfg) {
    LT_TRY(check_cfg(cfg));
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    int D = cfg->d_inner, A = cfg->d_attn;
    if (cfg->arch == LT_ABMIL_MHA) {   // state_dict order: the module's own q first
        if (!(m->q = lt_param_new(ps, "q", LT_SHAPE(1, 1, D)))) return lt_last_status();
        LT_TRY(lt_param_normal(m->q, rng, 0.0f, 1e-6f));
    }
    LT_TRY(lt_linear_layer_init(&m->fc1, ps, rng, "dimreduction.fc1", cfg->d_feat, D, 0));
    if (cfg->arch == LT_ABMIL_GATED) {
        LT_TRY(lt_linear_layer_init(&m->att_v, ps, rng, "attention.attention_V.0", D, A, 1));
        LT_TRY(lt_linear_layer_init(&m->att_u, ps, rng, "attention.attention_U.0", D, A, 1));
        LT_TRY(lt_linear_layer_init(&m->att_w, ps, rng, "attention.attention_weights", A, 1, 1));
    } else {
        LT_TRY(lt_linear_layer_init(&m->q_proj, ps, rng, "attention.q_proj", D, D, 1));
        LT_TRY(lt_linear_layer_init(&m->k_proj, ps, rng, "attention.k_proj", D, D, 1));
        LT_TRY(lt_linear_layer_init(&m->v_proj, ps, rng, "attention.v_proj", D, D, 1));
        LT_TRY(lt_linear_layer_init(&m->out_proj, ps, rng, "attention.out_proj", D, D, 1));
        LT_TRY(lt_layernorm_layer_init(&m->norm, ps, "attention.layer_norm", D, 1e-6f, 1));
    }
    return lt_linear_layer_init(&m->cls, ps, rng, "classifier.fc", D, cfg->n_classes, 1);
}

// h [N, D] -> scores [1, N], p [1, N], z [1, D]
static lt_status gated_pool(lt_ctx *c, const lt_abmil *m, lt_tensor *h, lt_abmil_out *o) {
    int N = h->shape[0];
    lt_tensor *a = lt_tanh(c, lt_linear_layer_forward(c, &m->att_v, h));      // [N, A]
    lt_tensor *g = lt_sigmoid(c, lt_linear_layer_forward(c, &m->att_u, h));   // [N, A]
    lt_tensor *s = lt_linear_layer_forward(c, &m->att_w, lt_mul(c, a, g));    // [N, 1]
    o->scores = lt_reshape(c, s, LT_SHAPE(1, N));    // [N,1] and [1,N] share one layout
    o->attn = lt_softmax(c, o->scores);
    o->entropy = lt_softmax_entropy(c, o->scores);   // [1]
    o->feat = lt_matmul(c, o->attn, h);
    return o->feat && o->entropy ? LT_OK : lt_last_status();
}

// h [N, D] -> z [1, D] through the fused attention op, per-head entropy [heads],
// and the attention [heads, N] recomputed without grad (N*D work) for heatmaps.
static lt_status mha_pool(lt_ctx *c, const lt_abmil *m, lt_tensor *h, lt_abmil_out *o) {
    int N = h->shape[0], D = m->cfg.d_inner, H = m->cfg.heads, dh = D / H;
    int perm[4] = {0, 2, 1, 3};
    // [1,1,D] -> [1,D] -> q_proj; one query row, so [1,H,1,dh] is the same layout
    lt_tensor *q = lt_linear_layer_forward(c, &m->q_proj, lt_reshape(c, m->q, LT_SHAPE(1, D)));
    q = lt_reshape(c, q, LT_SHAPE(1, H, 1, dh));
    lt_tensor *k = lt_reshape(c, lt_linear_layer_forward(c, &m->k_proj, h), LT_SHAPE(1, N, H, dh));
    lt_tensor *v = lt_reshape(c, lt_linear_layer_forward(c, &m->v_proj, h), LT_SHAPE(1, N, H, dh));
    k = lt_permute(c, k, perm);   // [1,H,N,dh]
    v = lt_permute(c, v, perm);
    if (!q || !k || !v) return lt_last_status();
    lt_attn_opts ao = lt_attn_defaults();
    ao.scale = 1.0f / sqrtf((float)dh);
    ao.want_entropy = 1;
    lt_attn_out at;
    LT_TRY(lt_attention(c, q, k, v, &ao, &at));
    o->scores = NULL;
    o->entropy = lt_reshape(c, at.entropy, LT_SHAPE(H));
    lt_tensor *z = lt_linear_layer_forward(c, &m->out_proj, lt_reshape(c, at.o, LT_SHAPE(1, D)));
    z = lt_dropout(c, z, m->cfg.mha_dropout);
    o->feat = lt_layernorm_layer_forward(c, &m->norm, z);
    lt_no_grad_begin(c);
    lt_tensor *s = lt_scale(c, lt_matmul_t(c, q, k, 0, 1), ao.scale);   // [1,H,1,N]
    o->attn = lt_reshape(c, lt_softmax(c, s), LT_SHAPE(H, N));
    lt_no_grad_end(c);
    return o->feat && o->entropy && o->attn ? LT_OK : lt_last_status();
}

lt_status lt_abmil_forward(lt_ctx *c, const lt_abmil *m, lt_tensor *x, lt_abmil_out *out) {
    memset(out, 0, sizeof *out);
    if (!x) return lt_error(LT_ERR_STATE, "abmil: input x is NULL (an earlier op failed: %s)", lt_last_error());
    LT_TRY(lt_expect_dtype("abmil", "x", x, LT_F32));
    if (x->ndim != 2 || x->shape[1] != m->cfg.d_feat) {
        char b[64];
        return lt_error(LT_ERR_SHAPE, "abmil: x %s does not fit the model (want [N, d_feat] = [N, %d])",
                        lt_shape_str(x, b), m->cfg.d_feat);
    }
    lt_tensor *h = lt_relu(c, lt_linear_layer_forward(c, &m->fc1, x));   // [N, D]
    h = lt_dropout(c, h, m->cfg.dropout);
    if (!h) return lt_last_status();
    LT_TRY(m->cfg.arch == LT_ABMIL_GATED ? gated_pool(c, m, h, out) : mha_pool(c, m, h, out));
    out->logits = lt_linear_layer_forward(c, &m->cls, out->feat);
    return out->logits ? LT_OK : lt_last_status();
}

lt_tensor *lt_abmil_aem_loss(lt_ctx *c, const lt_abmil_out *out, float lambda) {
    if (!isfinite(lambda) || lambda < 0) {
        lt_error(LT_ERR_ARG, "abmil_aem_loss: lambda must be finite and >= 0, got %g", (double)lambda);
        return NULL;
    }
    if (!out || !out->entropy) {
        lt_error(LT_ERR_STATE, "abmil_aem_loss: no attention entropy (call lt_abmil_forward first)");
        return NULL;
    }
    return lt_scale(c, lt_mean(c, out->entropy, LT_AXIS_ALL, 0), -lambda);
}
