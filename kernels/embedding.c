// Builder for embedding: on the CPU it checks every id before the kernel runs.
#include "kernels/ops.h"

// Error naming the first id outside [0,V). Ids on a device are checked there by
// the lookup kernel instead (the error comes at the next lt_ctx_sync), so a
// step makes no host copy.
static lt_status check_ids(const lt_tensor *ids, int V) {
    if (ids->device != LT_CPU) return LT_OK;
    const int32_t *v = lt_i32(ids);
    for (int64_t i = 0; i < ids->numel; i++)
        if (v[i] < 0 || v[i] >= V) {
            char b[64];
            return lt_error(LT_ERR_ARG, "embedding: id %d at position %lld of ids %s is outside [0,%d)", v[i],
                            (long long)i, lt_shape_str(ids, b), V);
        }
    return LT_OK;
}

// ids i32 [..], table [V,D] -> [.., D]
lt_tensor *lt_embedding(lt_ctx *c, lt_tensor *ids, lt_tensor *table) {
    if (!ids || !table) return NULL;
    char si[64], st[64];
    if (lt_expect_dtype("embedding", "ids", ids, LT_I32) || lt_expect_dtype("embedding", "table", table, LT_F32))
        return NULL;
    if (table->ndim != 2 || ids->ndim >= LT_MAX_DIMS) {
        lt_error(LT_ERR_SHAPE, "embedding: ids %s and table %s do not fit (want ids with at most %d dims, table [V,D])",
                 lt_shape_str(ids, si), lt_shape_str(table, st), LT_MAX_DIMS - 1);
        return NULL;
    }
    if (check_ids(ids, table->shape[0]) != LT_OK) return NULL;
    int shape[LT_MAX_DIMS];
    for (int i = 0; i < ids->ndim; i++) shape[i] = ids->shape[i];
    shape[ids->ndim] = table->shape[1];
    lt_tensor *in[2] = {ids, table};
    lt_node *n = lt_node_new(c, LT_OP_embedding, 2, in);
    if (!n) return NULL;
    if (!lt_node_output(n, 0, LT_F32, ids->ndim + 1, shape)) return NULL;
    return lt_node_run(n);
}
