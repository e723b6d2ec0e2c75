// Attention-entropy losses, built from differentiable ops so their gradients
// are exact: AEM (Zhang et al., arXiv 2406.15303), the entropy-guided
// regularizer of Jha & Reagen (arXiv 2501.03489, Algorithm 1), and a plain
// entropy floor for collapse experiments. Specs: ../shared/reference/
// methods-aem-entropy-guided-sigmareparam.md sections 1 and 2.
#ifndef LT_ENTROPY_LOSSES_H
#define LT_ENTROPY_LOSSES_H

#include "autograd/ctx.h"

// AEM: lambda * mean over the leading rows of sum_n p_n log p_n, p = softmax(scores)
// = -lambda * mean(H). Minimizing it raises the attention entropy (gradient
// lambda * p_k (s_k - sum_n p_n s_n) per row, divided by the row count).
// scores [..., N]: pre-softmax instance attention scores; masked instances
// (-inf, or -1e9 as ACMIL writes) have p = 0 and add nothing.
// For one bag ([N] or [1,N]) this is the official code's
// lambda * sum(softmax(s) * log_softmax(s)); for [Heads, N] it is the 'mha'
// variant's (1/Heads) sum_h. Returns a scalar; lambda must be finite and >= 0.
lt_tensor *lt_aem_loss(lt_ctx *c, lt_tensor *scores, float lambda);

// AEM weight schedule. The official repository uses a constant lambda. The
// cosine form is the third-party reimplementation's reading of the paper's v3
// "cosine weight annealing" (the exact schedule was not retrieved):
//   lambda(e) = lambda_final + (lambda0 - lambda_final) * 0.5 * (1 + cos(pi e / E_a))  for e < E_a,
//   lambda(e) = lambda_final                                                          after;
// its suggested values are lambda0 0.1, lambda_final 0.01, E_a 25 epochs.
// e counts whatever unit the caller chooses (steps or epochs, possibly fractional upstream).
typedef enum { LT_LAMBDA_CONSTANT = 0, LT_LAMBDA_COSINE = 1 } lt_lambda_kind;

typedef struct {
    int kind;                   // lt_lambda_kind
    float lambda0, lambda_final;
    int64_t anneal_steps;       // E_a (cosine only), >= 1
} lt_lambda_schedule;

float lt_lambda_at(const lt_lambda_schedule *s, int64_t step_or_epoch);
// "0.1" or "constant:0.1" -> constant 0.1; "cosine:0.1:0.01:25" -> cosine from
// 0.1 to 0.01 over 25 steps/epochs. Values must be finite and >= 0; the error
// names the string and the part that is wrong.
lt_status lt_lambda_schedule_parse(const char *s, lt_lambda_schedule *out);

// Entropy-guided regularizer (Jha & Reagen, Algorithm 1), with E_max = log(t_ctx),
// margin = gamma * E_max and a two-sided dead zone per (layer, head):
//   delta = E - theta[l,h] * E_max,   penalty = delta^2 * 1[|delta| > margin].
// The indicator carries no gradient (a constant mask computed from the forward
// values), so the loss jumps from 0 to margin^2 at the edge of the dead zone.
//
// LT_EG_PAPER (Algorithm 1): E[l,h] = mean over batch and query positions of the
//   row entropy; loss = (1/L) sum_l (1/H) sum_h penalty(l,h).
// LT_EG_CODE (official EntropyRegularization.compute_loss): delta and penalty per
//   (batch, position), SUMMED over batch and positions, then /H and /L. The
//   paper's lambda values (1e-5 CodeParrot, 5e-5 Languini) were tuned for this
//   summed form, so it scales with B*T; use it to reproduce them. The official
//   code also computes entropy as -sum a log(a + 1e-9) from materialized
//   probabilities; ours is exact, from the attention op's entropy output.
// E_max = log(t_ctx) is applied to every row, as in the paper, although a causal
// row i can reach only log(i + 1).
//
// row_entropy: n_layers tensors [B,H,T] (attention's entropy output; B and T may
// differ between layers); theta [L,H] learnable thresholds (per layer, as the
// paper; the official usage example shares layer 0's by mistake); t_ctx > 1;
// gamma >= 0 (repo default 0.2, the paper's appendix code 0.1). Returns a scalar.
typedef enum { LT_EG_PAPER = 0, LT_EG_CODE = 1 } lt_eg_reduction;

lt_tensor *lt_entropy_guided_loss(lt_ctx *c, int n_layers, lt_tensor *const *row_entropy, lt_tensor *theta,
                                  float t_ctx, float gamma, int reduction);

// Entropy floor, for collapse experiments: with m_h the mean over batch and
// positions of head h's row entropy,
//   loss = (1/H) sum_h relu(min_entropy - m_h)^2,
// so only heads whose mean entropy is below min_entropy are pushed up, and the
// loss (and its gradient) is zero when every head is at or above it.
// row_entropy [B,H,T]; min_entropy finite. Returns a scalar.
lt_tensor *lt_entropy_floor_loss(lt_ctx *c, lt_tensor *row_entropy, float min_entropy);

#endif
