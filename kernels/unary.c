// Builders of the unary elementwise ops: output has the input's shape.
#include "kernels/ops.h"

// x [...] -> [...]; s goes to fattr[0] (scale's factor).
static lt_tensor *unary(lt_ctx *c, lt_op op, lt_tensor *x, float s) {
    if (!x) return NULL;
    if (lt_expect_dtype(lt_op_name(op), "x", x, LT_F32) != LT_OK) return NULL;
    lt_node *n = lt_node_new(c, op, 1, &x);
    if (!n) return NULL;
    n->fattr[0] = s;
    if (!lt_node_output(n, 0, LT_F32, x->ndim, x->shape)) return NULL;
    return lt_node_run(n);
}

lt_tensor *lt_scale(lt_ctx *c, lt_tensor *x, float s) { return unary(c, LT_OP_scale, x, s); }
lt_tensor *lt_exp(lt_ctx *c, lt_tensor *x) { return unary(c, LT_OP_exp, x, 0.f); }
lt_tensor *lt_log(lt_ctx *c, lt_tensor *x) { return unary(c, LT_OP_log, x, 0.f); }
lt_tensor *lt_sqrt(lt_ctx *c, lt_tensor *x) { return unary(c, LT_OP_sqrt, x, 0.f); }
lt_tensor *lt_relu(lt_ctx *c, lt_tensor *x) { return unary(c, LT_OP_relu, x, 0.f); }
lt_tensor *lt_gelu(lt_ctx *c, lt_tensor *x) { return unary(c, LT_OP_gelu, x, 0.f); }
lt_tensor *lt_silu(lt_ctx *c, lt_tensor *x) { return unary(c, LT_OP_silu, x, 0.f); }
lt_tensor *lt_sigmoid(lt_ctx *c, lt_tensor *x) { return unary(c, LT_OP_sigmoid, x, 0.f); }
lt_tensor *lt_tanh(lt_ctx *c, lt_tensor *x) { return unary(c, LT_OP_tanh, x, 0.f); }
lt_tensor *lt_softplus(lt_ctx *c, lt_tensor *x) { return unary(c, LT_OP_softplus, x, 0.f); }
