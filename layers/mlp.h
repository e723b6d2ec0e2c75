// Multi-layer perceptron: Linear -> act -> dropout -> ... -> Linear.
// Parameter names follow torch.nn.Sequential with Linear, activation and
// Dropout modules: "<name>.<3*i>.weight" (0, 3, 6, ...).
#ifndef LT_LAYER_MLP_H
#define LT_LAYER_MLP_H

#include "layers/linear.h"

#define LT_MLP_MAX_LAYERS 16

typedef enum { LT_ACT_RELU, LT_ACT_GELU, LT_ACT_SILU, LT_ACT_TANH } lt_activation;

typedef struct {
    int n_layers;
    lt_linear_layer layers[LT_MLP_MAX_LAYERS];
    lt_activation act;
    float dropout;   // after each hidden activation
} lt_mlp;

// dims has n_layers + 1 entries: in, hidden..., out.
lt_status lt_mlp_init(lt_mlp *m, lt_params *ps, lt_rng *rng, const char *name, int n_layers, const int *dims,
                      lt_activation act, float dropout);
lt_tensor *lt_mlp_forward(lt_ctx *c, const lt_mlp *m, lt_tensor *x /* [..., dims[0]] */);
lt_tensor *lt_activation_apply(lt_ctx *c, lt_activation act, lt_tensor *x);
lt_status lt_activation_parse(const char *s, lt_activation *out);

#endif
