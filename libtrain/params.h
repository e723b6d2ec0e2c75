// Parameters: persistent named tensors a model owns, in registration order.
// Names follow PyTorch state_dict conventions ("fc1.weight", Linear weights
// [out, in]) so checkpoints load in PyTorch unchanged.
#ifndef LT_PARAMS_H
#define LT_PARAMS_H

#include "libtrain/rng.h"
#include "libtrain/tensor.h"

typedef struct {
    lt_tensor **t;
    int n, cap;
    lt_device device;
} lt_params;

void lt_params_init(lt_params *ps, lt_device dev);
void lt_params_free(lt_params *ps);
// Zero-filled, requires_grad; duplicate names are an error naming the name.
lt_tensor *lt_param_new(lt_params *ps, const char *name, int ndim, const int *shape);
lt_tensor *lt_params_find(const lt_params *ps, const char *name);
// Frozen parameters get no gradient buffer and no optimizer work.
void lt_param_freeze(lt_tensor *p, int frozen);
// Excludes a parameter from weight decay (biases, norm gains, sigmaReparam's gamma).
static inline void lt_param_no_decay(lt_tensor *p, int no_decay) { p->no_decay = (unsigned char)(no_decay != 0); }
void lt_params_zero_grad(lt_params *ps);
int64_t lt_params_numel(const lt_params *ps, int trainable_only);

// Initializers: values drawn on the host from `rng`, then copied to the device.
lt_status lt_param_uniform(lt_tensor *p, lt_rng *rng, float lo, float hi);
lt_status lt_param_normal(lt_tensor *p, lt_rng *rng, float mean, float std);
lt_status lt_param_fill(lt_tensor *p, float v);
lt_status lt_param_set(lt_tensor *p, const float *host);   // copy numel values

#endif
