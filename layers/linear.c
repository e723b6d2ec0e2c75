#include "layers/linear.h"
#include "kernels/ops.h"

#include <math.h>
#include <stdio.h>

lt_status lt_linear_layer_init(lt_linear_layer *l, lt_params *ps, lt_rng *rng, const char *name, int in, int out,
                               int bias) {
    if (in < 1 || out < 1) return lt_error(LT_ERR_ARG, "linear '%s': in=%d out=%d must be >= 1", name, in, out);
    char buf[256];
    l->in = in; l->out = out; l->b = NULL;
    float k = 1.f / sqrtf((float)in);
    snprintf(buf, sizeof buf, "%s.weight", name);
    if (!(l->w = lt_param_new(ps, buf, LT_SHAPE(out, in)))) return lt_last_status();
    LT_TRY(lt_param_uniform(l->w, rng, -k, k));
    if (bias) {
        snprintf(buf, sizeof buf, "%s.bias", name);
        if (!(l->b = lt_param_new(ps, buf, LT_SHAPE(out)))) return lt_last_status();
        LT_TRY(lt_param_uniform(l->b, rng, -k, k));
    }
    return LT_OK;
}

lt_tensor *lt_linear_layer_forward(lt_ctx *c, const lt_linear_layer *l, lt_tensor *x) {
    return lt_linear(c, x, l->w, l->b);
}
