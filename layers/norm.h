// LayerNorm (weight 1, bias 0) and RMSNorm (weight 1) over the last dim, as
// torch.nn.LayerNorm / torch.nn.RMSNorm.
#ifndef LT_LAYER_NORM_H
#define LT_LAYER_NORM_H

#include "autograd/ctx.h"
#include "libtrain/params.h"

typedef struct {
    lt_tensor *w, *b;   // [D] "<name>.weight", "<name>.bias" (b NULL for RMSNorm or no bias)
    int dim;
    float eps;
} lt_norm_layer;

lt_status lt_layernorm_layer_init(lt_norm_layer *n, lt_params *ps, const char *name, int dim, float eps, int bias);
lt_status lt_rmsnorm_layer_init(lt_norm_layer *n, lt_params *ps, const char *name, int dim, float eps);
lt_tensor *lt_layernorm_layer_forward(lt_ctx *c, const lt_norm_layer *n, lt_tensor *x /* [..., D] */);
lt_tensor *lt_rmsnorm_layer_forward(lt_ctx *c, const lt_norm_layer *n, lt_tensor *x /* [..., D] */);

#endif
