// Builders of the binary ops: numpy broadcasting, shapes aligned on the right,
// a dim of 1 stretches to the other's size.
#include "kernels/ops.h"

static lt_tensor *binary(lt_ctx *c, lt_op op, lt_tensor *a, lt_tensor *b) {
    if (!a || !b) return NULL;
    const char *name = lt_op_name(op);
    if (lt_expect_dtype(name, "a", a, LT_F32) != LT_OK || lt_expect_dtype(name, "b", b, LT_F32) != LT_OK)
        return NULL;
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim, shape[LT_MAX_DIMS];
    for (int d = 0; d < nd; d++) {
        int ia = d - (nd - a->ndim), ib = d - (nd - b->ndim);
        int da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char sa[64], sb[64];
            lt_error(LT_ERR_SHAPE, "%s: shapes %s and %s are not broadcastable (%d vs %d, dim %d from the right)",
                     name, lt_shape_str(a, sa), lt_shape_str(b, sb), da, db, nd - d);
            return NULL;
        }
        shape[d] = da == 1 ? db : da;
    }
    lt_node *n = lt_node_new(c, op, 2, (lt_tensor *[]){a, b});
    if (!n) return NULL;
    if (!lt_node_output(n, 0, LT_F32, nd, shape)) return NULL;
    return lt_node_run(n);
}

// a [...], b [...] broadcastable -> broadcast shape
lt_tensor *lt_add(lt_ctx *c, lt_tensor *a, lt_tensor *b) { return binary(c, LT_OP_add, a, b); }
lt_tensor *lt_sub(lt_ctx *c, lt_tensor *a, lt_tensor *b) { return binary(c, LT_OP_sub, a, b); }
lt_tensor *lt_mul(lt_ctx *c, lt_tensor *a, lt_tensor *b) { return binary(c, LT_OP_mul, a, b); }
lt_tensor *lt_div(lt_ctx *c, lt_tensor *a, lt_tensor *b) { return binary(c, LT_OP_div, a, b); }
