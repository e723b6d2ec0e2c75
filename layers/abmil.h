// Attention-based MIL classifier for one bag of instance features, as the AEM
// code (github.com/dazhangyu123/AEM, architecture/transformer.py) builds it:
//
//   h = Dropout(ReLU(x W1^T))                      DimReduction, no bias
//   gated ('abmil', Ilse et al. 2018):
//     s_n = w_a^T (tanh(V h_n + b_V) * sigmoid(U h_n + b_U)) + b_a,  p = softmax_n(s)
//     z   = sum_n p_n h_n
//   mha (the AEM repository's default --arch):
//     one learnable query q, per-head logits (q_h . k_{n,h}) / sqrt(D/heads) with
//     q = q_proj(q), k = k_proj(h), v = v_proj(h); z = LayerNorm(Dropout(out_proj(
//     concat_h sum_n p^h_n v_{n,h})))   (the fused attention op, no T x N matrix)
//   logits = z W_c^T + b_c
//
// Parameter names are the official module's state_dict keys, so checkpoints load
// into the PyTorch model unchanged:
//   both:  dimreduction.fc1.weight [D, F]          classifier.fc.weight [C, D], .bias [C]
//   gated: attention.attention_V.0.weight [A, D], .bias [A]   (Linear inside nn.Sequential)
//          attention.attention_U.0.weight [A, D], .bias [A]
//          attention.attention_weights.weight [1, A], .bias [1]
//   mha:   q [1, 1, D]   attention.{q,k,v,out}_proj.weight [D, D], .bias [D]
//          attention.layer_norm.weight [D], .bias [D]
// Initialization is torch's default (Linear weight and bias U(-1/sqrt(in), 1/sqrt(in)),
// LayerNorm 1 and 0) except q ~ N(0, 1e-6), as the official code.
#ifndef LT_LAYER_ABMIL_H
#define LT_LAYER_ABMIL_H

#include "layers/linear.h"
#include "layers/norm.h"

typedef enum { LT_ABMIL_GATED = 0, LT_ABMIL_MHA = 1 } lt_abmil_arch;

typedef struct {
    lt_abmil_arch arch;
    int d_feat;          // F: instance feature size
    int d_inner;         // D: after the reduction (official: 128..768 by encoder)
    int d_attn;          // A: gated attention hidden size (official 128)
    int n_classes;       // C >= 2
    int heads;           // mha: heads, dividing d_inner (official 8)
    float dropout;       // after the reduction's ReLU (official 0; CLAM uses 0.25)
    float mha_dropout;   // mha: after out_proj (official 0.1)
} lt_abmil_cfg;

typedef struct {
    lt_abmil_cfg cfg;
    lt_linear_layer fc1;                          // both
    lt_linear_layer att_v, att_u, att_w;          // gated
    lt_tensor *q;                                 // mha [1, 1, D]
    lt_linear_layer q_proj, k_proj, v_proj, out_proj;
    lt_norm_layer norm;
    lt_linear_layer cls;                          // both
} lt_abmil;

typedef struct {
    lt_tensor *logits;    // [1, C]
    lt_tensor *feat;      // [1, D] bag feature fed to the classifier
    lt_tensor *scores;    // [heads, N] pre-softmax instance scores (gated: [1, N], b_a
                          // included); NULL for mha (the fused op never forms them)
    lt_tensor *entropy;   // [heads] attention entropy per head, differentiable
    lt_tensor *attn;      // [heads, N] softmax over instances, for heatmaps (do not
                          // backpropagate through it for mha: it is computed without grad)
} lt_abmil_out;

// Gated arch, d_attn 128, heads 8, dropout 0, mha_dropout 0.1, d_inner 128,
// n_classes 2; d_feat 0 (the caller sets it).
lt_abmil_cfg lt_abmil_defaults(void);
// "gated" (or the official "abmil") and "mha"; anything else is an error naming it.
lt_status lt_abmil_arch_parse(const char *s, lt_abmil_arch *out);

lt_status lt_abmil_init(lt_abmil *m, lt_params *ps, lt_rng *rng, const lt_abmil_cfg *cfg);
// x [N, F] one bag (N >= 1). Dropout is active when c->training.
lt_status lt_abmil_forward(lt_ctx *c, const lt_abmil *m, lt_tensor *x, lt_abmil_out *out);

// AEM term: -lambda * mean over heads of H = lambda * mean_h sum_n p_n log p_n,
// the official definition for both archs. lambda finite and >= 0. Scalar.
lt_tensor *lt_abmil_aem_loss(lt_ctx *c, const lt_abmil_out *out, float lambda);

#endif
