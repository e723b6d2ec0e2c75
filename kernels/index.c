// Builders for index_select and gather: x of either dtype, idx i32. Index
// values are checked by the kernels (they live on the device).
#include "kernels/ops.h"

// idx [K] -> x's shape with dim `axis` = K.
lt_tensor *lt_index_select(lt_ctx *c, lt_tensor *x, int axis, lt_tensor *idx) {
    if (!x || !idx) return NULL;
    char sx[64], si[64];
    if (lt_expect_dtype("index_select", "idx", idx, LT_I32)) return NULL;
    int ax;
    if (lt_axis("index_select", x, axis, &ax)) return NULL;
    if (idx->ndim != 1) {
        lt_error(LT_ERR_SHAPE, "index_select: idx must be 1-D [K], got %s (x %s)", lt_shape_str(idx, si),
                 lt_shape_str(x, sx));
        return NULL;
    }
    int shape[LT_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
    shape[ax] = idx->shape[0];
    lt_tensor *in[2] = {x, idx};
    lt_node *n = lt_node_new(c, LT_OP_index_select, 2, in);
    if (!n) return NULL;
    n->iattr[0] = ax;
    if (!lt_node_output(n, 0, x->dtype, x->ndim, shape)) return NULL;
    return lt_node_run(n);
}

// idx has x's shape except along axis (any size there) -> idx's shape.
lt_tensor *lt_gather(lt_ctx *c, lt_tensor *x, int axis, lt_tensor *idx) {
    if (!x || !idx) return NULL;
    char sx[64], si[64];
    if (lt_expect_dtype("gather", "idx", idx, LT_I32)) return NULL;
    int ax;
    if (lt_axis("gather", x, axis, &ax)) return NULL;
    int ok = idx->ndim == x->ndim;
    for (int d = 0; ok && d < x->ndim; d++) ok = d == ax || idx->shape[d] == x->shape[d];
    if (!ok) {
        lt_error(LT_ERR_SHAPE, "gather: idx %s must match x %s in every dim but axis %d", lt_shape_str(idx, si),
                 lt_shape_str(x, sx), ax);
        return NULL;
    }
    lt_tensor *in[2] = {x, idx};
    lt_node *n = lt_node_new(c, LT_OP_gather, 2, in);
    if (!n) return NULL;
    n->iattr[0] = ax;
    if (!lt_node_output(n, 0, x->dtype, idx->ndim, idx->shape)) return NULL;
    return lt_node_run(n);
}
