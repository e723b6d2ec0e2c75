#include "layers/mlp.h"
#include "kernels/ops.h"

#include <stdio.h>
#include <string.h>

lt_status lt_mlp_init(lt_mlp *m, lt_params *ps, lt_rng *rng, const char *name, int n_layers, const int *dims,
                      lt_activation act, float dropout) {
    if (n_layers < 1 || n_layers > LT_MLP_MAX_LAYERS)
        return lt_error(LT_ERR_ARG, "mlp '%s': %d layers (1..%d supported)", name, n_layers, LT_MLP_MAX_LAYERS);
    if (!(dropout >= 0 && dropout < 1)) return lt_error(LT_ERR_ARG, "mlp '%s': dropout %g not in [0,1)", name, dropout);
    m->n_layers = n_layers; m->act = act; m->dropout = dropout;
    for (int i = 0; i < n_layers; i++) {
        char buf[200];
        snprintf(buf, sizeof buf, "%s.%d", name, 3 * i);
        LT_TRY(lt_linear_layer_init(&m->layers[i], ps, rng, buf, dims[i], dims[i + 1], 1));
    }
    return LT_OK;
}

lt_tensor *lt_activation_apply(lt_ctx *c, lt_activation act, lt_tensor *x) {
    switch (act) {
    case LT_ACT_RELU: return lt_relu(c, x);
    case LT_ACT_GELU: return lt_gelu(c, x);
    case LT_ACT_SILU: return lt_silu(c, x);
    case LT_ACT_TANH: return lt_tanh(c, x);
    }
    lt_error(LT_ERR_ARG, "unknown activation %d", (int)act);
    return NULL;
}

lt_status lt_activation_parse(const char *s, lt_activation *out) {
    static const char *names[] = {"relu", "gelu", "silu", "tanh"};
    for (int i = 0; i < 4; i++) if (!strcmp(s, names[i])) { *out = (lt_activation)i; return LT_OK; }
    return lt_error(LT_ERR_ARG, "unknown activation '%s' (expected relu, gelu, silu or tanh)", s);
}

lt_tensor *lt_mlp_forward(lt_ctx *c, const lt_mlp *m, lt_tensor *x) {
    for (int i = 0; i < m->n_layers; i++) {
        x = lt_linear_layer_forward(c, &m->layers[i], x);
        if (i + 1 < m->n_layers) {
            x = lt_activation_apply(c, m->act, x);
            if (m->dropout > 0) x = lt_dropout(c, x, m->dropout);
        }
    }
    return x;
}
