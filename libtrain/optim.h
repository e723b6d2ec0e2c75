// Optimizers with PyTorch's update rules (torch.optim.SGD, torch.optim.AdamW),
// global gradient-norm clipping. Frozen parameters are skipped entirely.
#ifndef LT_OPTIM_H
#define LT_OPTIM_H

#include "libtrain/params.h"

typedef enum { LT_OPTIM_SGD, LT_OPTIM_ADAMW } lt_optim_kind;

typedef struct {
    float lr, momentum, dampening, weight_decay;  // L2 weight decay added to the gradient
    int nesterov;
} lt_sgd_opts;

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;    // decoupled: p -= lr * wd * p
} lt_adamw_opts;

// torch defaults: SGD(momentum 0), AdamW(betas 0.9/0.999, eps 1e-8, wd 0.01)
lt_sgd_opts lt_sgd_defaults(float lr);
lt_adamw_opts lt_adamw_defaults(float lr);

typedef struct {
    lt_optim_kind kind;
    lt_sgd_opts sgd;
    lt_adamw_opts adamw;
    float lr;              // learning rate used by the next step (set it from a schedule)
    lt_params *params;
    lt_tensor **m, **v;    // per parameter: momentum buffer / first moment, second moment (NULL when unused)
    int64_t *steps;        // per parameter: updates applied (PyTorch keeps it per parameter too)
} lt_optim;

lt_optim *lt_optim_sgd(lt_params *ps, lt_sgd_opts o);
lt_optim *lt_optim_adamw(lt_params *ps, lt_adamw_opts o);
void lt_optim_free(lt_optim *o);
// One update of every trainable parameter that has a gradient. Does not zero grads.
lt_status lt_optim_step(lt_optim *o);

// Global L2 norm of all gradients (double accumulation); when max_norm > 0 and
// the norm exceeds it, scales every gradient by max_norm / (norm + 1e-6) as
// torch.nn.utils.clip_grad_norm_. Returns the norm before clipping (NaN if any
// gradient is non-finite, in which case nothing is scaled).
double lt_clip_grad_norm(lt_params *ps, double max_norm);

#endif
