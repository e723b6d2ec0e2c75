// Differentiable ops. Every builder returns a new arena tensor, or NULL with
// the error recorded (lt_last_error()); a NULL input makes the result NULL and
// keeps the first error, so a chain of ops is checked once at its end.
#ifndef LT_OPS_H
#define LT_OPS_H

#include "autograd/ctx.h"

#define LT_AXIS_ALL 0x7fff   // reduce over every element (result shape [])

// --- binary, numpy broadcasting (shapes aligned on the right) ---
lt_tensor *lt_add(lt_ctx *c, lt_tensor *a, lt_tensor *b);
lt_tensor *lt_sub(lt_ctx *c, lt_tensor *a, lt_tensor *b);
lt_tensor *lt_mul(lt_ctx *c, lt_tensor *a, lt_tensor *b);
lt_tensor *lt_div(lt_ctx *c, lt_tensor *a, lt_tensor *b);

// --- unary ---
lt_tensor *lt_scale(lt_ctx *c, lt_tensor *x, float s);   // s * x
lt_tensor *lt_exp(lt_ctx *c, lt_tensor *x);
lt_tensor *lt_log(lt_ctx *c, lt_tensor *x);
lt_tensor *lt_sqrt(lt_ctx *c, lt_tensor *x);
lt_tensor *lt_relu(lt_ctx *c, lt_tensor *x);
lt_tensor *lt_gelu(lt_ctx *c, lt_tensor *x);              // exact (erf) form, as torch's default
lt_tensor *lt_silu(lt_ctx *c, lt_tensor *x);
lt_tensor *lt_sigmoid(lt_ctx *c, lt_tensor *x);
lt_tensor *lt_tanh(lt_ctx *c, lt_tensor *x);
lt_tensor *lt_softplus(lt_ctx *c, lt_tensor *x);          // log(1 + e^x), stable

// --- reductions: axis may be negative, or LT_AXIS_ALL ---
lt_tensor *lt_sum(lt_ctx *c, lt_tensor *x, int axis, int keepdim);
lt_tensor *lt_mean(lt_ctx *c, lt_tensor *x, int axis, int keepdim);
lt_tensor *lt_max(lt_ctx *c, lt_tensor *x, int axis, int keepdim);   // grad to the first maximum

// --- linear algebra (OpenBLAS on CPU) ---
// a [..., M, K] @ b [..., K, N] -> [..., M, N]; trans flags use a/b transposed
// in their last two dims. Batch dims must match, or b may be 2-D (shared).
lt_tensor *lt_matmul(lt_ctx *c, lt_tensor *a, lt_tensor *b);
lt_tensor *lt_matmul_t(lt_ctx *c, lt_tensor *a, lt_tensor *b, int trans_a, int trans_b);
// x [..., in] @ w[out, in]^T + bias [out] (bias may be NULL) -> [..., out]
lt_tensor *lt_linear(lt_ctx *c, lt_tensor *x, lt_tensor *w, lt_tensor *bias);

// --- last-axis normalizers, norms, losses ---
lt_tensor *lt_softmax(lt_ctx *c, lt_tensor *x);
lt_tensor *lt_log_softmax(lt_ctx *c, lt_tensor *x);
// logits [N, C], target i32 [N] -> scalar mean over rows whose target != ignore_index.
// label_smoothing in [0,1): target distribution (1-eps) one-hot + eps/C, as torch.
lt_tensor *lt_cross_entropy(lt_ctx *c, lt_tensor *logits, lt_tensor *target, int ignore_index,
                            float label_smoothing);
// x [..., D]; w, b [D] (either may be NULL)
lt_tensor *lt_layernorm(lt_ctx *c, lt_tensor *x, lt_tensor *w, lt_tensor *b, float eps);
lt_tensor *lt_rmsnorm(lt_ctx *c, lt_tensor *x, lt_tensor *w, float eps);

// Entropy of softmax(logits) over the last axis: logits [..., N] -> [...],
// H = logsumexp(s) - sum_j p_j s_j, differentiable (dH/ds_j = -p_j (s_j - sum p s)).
// Logits at -inf (or -1e9 style masking) contribute p = 0 and nothing to H.
lt_tensor *lt_softmax_entropy(lt_ctx *c, lt_tensor *logits);

// --- lookup and noise ---
// ids i32 [...] into table [V, D] -> [..., D]; an id outside [0,V) is an error naming it
lt_tensor *lt_embedding(lt_ctx *c, lt_tensor *ids, lt_tensor *table);
// inverted dropout with keep-prob 1-p; identity when !c->training or p == 0.
// The mask comes from c->rng (Philox), so it is the same on every device.
lt_tensor *lt_dropout(lt_ctx *c, lt_tensor *x, float p);

// --- layout ---
lt_tensor *lt_reshape(lt_ctx *c, lt_tensor *x, int ndim, const int *shape);   // one dim may be -1
lt_tensor *lt_permute(lt_ctx *c, lt_tensor *x, const int *perm);             // perm has x->ndim entries
lt_tensor *lt_transpose(lt_ctx *c, lt_tensor *x, int d0, int d1);
lt_tensor *lt_concat(lt_ctx *c, int n, lt_tensor *const *xs, int axis);
lt_tensor *lt_slice(lt_ctx *c, lt_tensor *x, int axis, int start, int len);
// Splits x along axis into n parts of the given sizes (summing to the dim).
lt_status lt_split(lt_ctx *c, lt_tensor *x, int axis, int n, const int *sizes, lt_tensor **outs);
// idx i32 [K]: picks K entries of x along axis -> x's shape with that dim = K
lt_tensor *lt_index_select(lt_ctx *c, lt_tensor *x, int axis, lt_tensor *idx);
// torch.gather: idx i32 has x's shape except along axis; out[..i..] = x[..idx[..i..]..]
lt_tensor *lt_gather(lt_ctx *c, lt_tensor *x, int axis, lt_tensor *idx);

#endif
