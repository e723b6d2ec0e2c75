// Linear layer y = x W^T + b, as torch.nn.Linear: W [out, in], b [out],
// both initialized U(-1/sqrt(in), 1/sqrt(in)).
#ifndef LT_LAYER_LINEAR_H
#define LT_LAYER_LINEAR_H

#include "autograd/ctx.h"
#include "libtrain/params.h"

typedef struct {
    lt_tensor *w;   // [out, in]   "<name>.weight"
    lt_tensor *b;   // [out]       "<name>.bias", NULL without bias
    int in, out;
} lt_linear_layer;

lt_status lt_linear_layer_init(lt_linear_layer *l, lt_params *ps, lt_rng *rng, const char *name, int in, int out,
                               int bias);
lt_tensor *lt_linear_layer_forward(lt_ctx *c, const lt_linear_layer *l, lt_tensor *x /* [..., in] */);

#endif
