// Builders for softmax and log_softmax over the last axis.
#include "kernels/ops.h"

static lt_tensor *last_axis_op(lt_ctx *c, lt_op op, lt_tensor *x) {
    if (!x) return NULL;
    if (lt_expect_dtype(lt_op_name(op), "x", x, LT_F32)) return NULL;
    if (x->ndim < 1) {
        lt_error(LT_ERR_SHAPE, "%s: x must have at least 1 dim, got a scalar", lt_op_name(op));
        return NULL;
    }
    lt_node *n = lt_node_new(c, op, 1, &x);
    if (!n) return NULL;
    if (!lt_node_output(n, 0, LT_F32, x->ndim, x->shape)) return NULL;
    return lt_node_run(n);
}

// x [.., D] -> [.., D]
lt_tensor *lt_softmax(lt_ctx *c, lt_tensor *x) { return last_axis_op(c, LT_OP_softmax, x); }

// x [.., D] -> [.., D]
lt_tensor *lt_log_softmax(lt_ctx *c, lt_tensor *x) { return last_axis_op(c, LT_OP_log_softmax, x); }
