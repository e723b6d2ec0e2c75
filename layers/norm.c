#include "layers/norm.h"
#include "kernels/ops.h"

#include <stdio.h>

static lt_status norm_init(lt_norm_layer *n, lt_params *ps, const char *name, int dim, float eps, int bias) {
    if (dim < 1 || !(eps > 0)) return lt_error(LT_ERR_ARG, "norm '%s': dim=%d eps=%g invalid", name, dim, eps);
    char buf[256];
    n->dim = dim; n->eps = eps; n->b = NULL;
    snprintf(buf, sizeof buf, "%s.weight", name);
    if (!(n->w = lt_param_new(ps, buf, LT_SHAPE(dim)))) return lt_last_status();
    LT_TRY(lt_param_fill(n->w, 1.f));
    if (bias) {
        snprintf(buf, sizeof buf, "%s.bias", name);
        if (!(n->b = lt_param_new(ps, buf, LT_SHAPE(dim)))) return lt_last_status();
    }
    return LT_OK;
}

lt_status lt_layernorm_layer_init(lt_norm_layer *n, lt_params *ps, const char *name, int dim, float eps, int bias) {
    return norm_init(n, ps, name, dim, eps, bias);
}

lt_status lt_rmsnorm_layer_init(lt_norm_layer *n, lt_params *ps, const char *name, int dim, float eps) {
    return norm_init(n, ps, name, dim, eps, 0);
}

lt_tensor *lt_layernorm_layer_forward(lt_ctx *c, const lt_norm_layer *n, lt_tensor *x) {
    return lt_layernorm(c, x, n->w, n->b, n->eps);
}

lt_tensor *lt_rmsnorm_layer_forward(lt_ctx *c, const lt_norm_layer *n, lt_tensor *x) {
    return lt_rmsnorm(c, x, n->w, n->eps);
}
