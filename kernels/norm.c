// Builders for layernorm and rmsnorm over the last axis.
#include "kernels/ops.h"

#include <math.h>

// Checks a per-feature parameter p [D] against x [.., D]; NULL is allowed.
static lt_status check_param(const char *op, const char *arg, const lt_tensor *x, const lt_tensor *p) {
    if (!p) return LT_OK;
    LT_TRY(lt_expect_dtype(op, arg, p, LT_F32));
    if (p->ndim != 1 || p->shape[0] != x->shape[x->ndim - 1]) {
        char sx[64], sp[64];
        return lt_error(LT_ERR_SHAPE, "%s: %s %s does not fit x %s (want [%d])", op, arg, lt_shape_str(p, sp),
                        lt_shape_str(x, sx), x->shape[x->ndim - 1]);
    }
    return LT_OK;
}

static lt_tensor *norm_op(lt_ctx *c, lt_op op, lt_tensor *x, lt_tensor *w, lt_tensor *b, float eps) {
    const char *name = lt_op_name(op);
    if (!x) return NULL;
    if (lt_expect_dtype(name, "x", x, LT_F32)) return NULL;
    if (x->ndim < 1) {
        lt_error(LT_ERR_SHAPE, "%s: x must have at least 1 dim, got a scalar", name);
        return NULL;
    }
    if (check_param(name, "w", x, w) || check_param(name, "b", x, b)) return NULL;
    if (!(eps >= 0.0f) || isinf(eps)) {
        lt_error(LT_ERR_ARG, "%s: eps %g must be finite and >= 0", name, (double)eps);
        return NULL;
    }
    lt_tensor *in[3];
    int k = 0;
    in[k++] = x;
    if (w) in[k++] = w;
    if (b) in[k++] = b;
    lt_node *n = lt_node_new(c, op, k, in);
    if (!n) return NULL;
    n->iattr[0] = w != NULL;
    n->iattr[1] = b != NULL;
    n->fattr[0] = eps;
    if (!lt_node_output(n, 0, LT_F32, x->ndim, x->shape)) return NULL;
    return lt_node_run(n);
}

// x [.., D], w [D] or NULL, b [D] or NULL -> [.., D]
lt_tensor *lt_layernorm(lt_ctx *c, lt_tensor *x, lt_tensor *w, lt_tensor *b, float eps) {
    return norm_op(c, LT_OP_layernorm, x, w, b, eps);
}

// x [.., D], w [D] or NULL -> [.., D]
lt_tensor *lt_rmsnorm(lt_ctx *c, lt_tensor *x, lt_tensor *w, float eps) {
    return norm_op(c, LT_OP_rmsnorm, x, w, NULL, eps);
}
