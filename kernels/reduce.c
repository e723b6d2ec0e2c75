// Builders of the reductions over one axis (negative counts from the end) or
// over every element (axis LT_AXIS_ALL). keepdim leaves the reduced dims as 1.
#include "kernels/ops.h"

// x [...] -> x's shape without `axis` (or with it set to 1 when keepdim)
static lt_tensor *reduce(lt_ctx *c, lt_op op, lt_tensor *x, int axis, int keepdim) {
    if (!x) return NULL;
    const char *name = lt_op_name(op);
    if (lt_expect_dtype(name, "x", x, LT_F32) != LT_OK) return NULL;
    int ax = LT_AXIS_ALL, nd = 0, shape[LT_MAX_DIMS];
    if (axis == LT_AXIS_ALL) {
        if (keepdim) for (nd = 0; nd < x->ndim; nd++) shape[nd] = 1;
    } else {
        if (lt_axis(name, x, axis, &ax) != LT_OK) return NULL;
        for (int d = 0; d < x->ndim; d++) {
            if (d != ax) shape[nd++] = x->shape[d];
            else if (keepdim) shape[nd++] = 1;
        }
    }
    lt_node *n = lt_node_new(c, op, 1, &x);
    if (!n) return NULL;
    n->iattr[0] = ax;
    n->iattr[1] = keepdim != 0;
    if (!lt_node_output(n, 0, LT_F32, nd, shape)) return NULL;
    return lt_node_run(n);
}

lt_tensor *lt_sum(lt_ctx *c, lt_tensor *x, int axis, int keepdim) { return reduce(c, LT_OP_sum, x, axis, keepdim); }
lt_tensor *lt_mean(lt_ctx *c, lt_tensor *x, int axis, int keepdim) { return reduce(c, LT_OP_mean, x, axis, keepdim); }
lt_tensor *lt_max(lt_ctx *c, lt_tensor *x, int axis, int keepdim) { return reduce(c, LT_OP_max, x, axis, keepdim); }
