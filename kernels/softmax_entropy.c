// Builder of the softmax entropy over the last axis (kernels/cpu/softmax_entropy.c).
#include "kernels/ops.h"

// logits [..., N] -> H [...] (a 1-D input gives a scalar)
lt_tensor *lt_softmax_entropy(lt_ctx *c, lt_tensor *logits) {
    if (!logits) return NULL;
    if (lt_expect_dtype("softmax_entropy", "logits", logits, LT_F32) != LT_OK) return NULL;
    if (logits->ndim < 1) {
        lt_error(LT_ERR_SHAPE, "softmax_entropy: logits must have at least 1 dim (the softmax axis), got a scalar");
        return NULL;
    }
    lt_node *n = lt_node_new(c, LT_OP_softmax_entropy, 1, &logits);
    if (!n) return NULL;
    if (!lt_node_output(n, 0, LT_F32, logits->ndim - 1, logits->shape)) return NULL;
    return lt_node_run(n);
}
