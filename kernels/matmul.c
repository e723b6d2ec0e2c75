// Builders for matmul (batched, optional transposes) and linear. Each node
// records the matmul compute precision current when it is built (CUDA maps it
// to a cuBLAS compute type; the CPU always computes in fp32 and ignores it).
#include "kernels/ops.h"
#include "libtrain/device.h"

#include <limits.h>

// a [.., M, K] (or [.., K, M] with trans_a) @ b [.., K, N] (or [.., N, K] with
// trans_b) -> [.., M, N]; b's batch dims equal a's, or b is 2-D and shared.
lt_tensor *lt_matmul_t(lt_ctx *c, lt_tensor *a, lt_tensor *b, int trans_a, int trans_b) {
    if (!a || !b) return NULL;
    char sa[64], sb[64];
    if (lt_expect_dtype("matmul", "a", a, LT_F32) || lt_expect_dtype("matmul", "b", b, LT_F32)) return NULL;
    if (a->ndim < 2 || b->ndim < 2) {
        lt_error(LT_ERR_SHAPE, "matmul: a %s and b %s must both have at least 2 dims", lt_shape_str(a, sa),
                 lt_shape_str(b, sb));
        return NULL;
    }
    trans_a = trans_a != 0;
    trans_b = trans_b != 0;
    int ar = a->shape[a->ndim - 2], ac = a->shape[a->ndim - 1];
    int br = b->shape[b->ndim - 2], bc = b->shape[b->ndim - 1];
    int m = trans_a ? ac : ar, ka = trans_a ? ar : ac;
    int kb = trans_b ? bc : br, nn = trans_b ? br : bc;
    if (ka != kb) {
        lt_error(LT_ERR_SHAPE, "matmul: inner dims differ: a %s%s has K=%d, b %s%s has K=%d", lt_shape_str(a, sa),
                 trans_a ? "^T" : "", ka, lt_shape_str(b, sb), trans_b ? "^T" : "", kb);
        return NULL;
    }
    int batch_ok = b->ndim == 2 || b->ndim == a->ndim;
    for (int i = 0; batch_ok && b->ndim > 2 && i < a->ndim - 2; i++) batch_ok = a->shape[i] == b->shape[i];
    if (!batch_ok) {
        lt_error(LT_ERR_SHAPE, "matmul: batch dims of a %s and b %s differ (b needs a's batch dims or 2 dims)",
                 lt_shape_str(a, sa), lt_shape_str(b, sb));
        return NULL;
    }
    if (a->numel / ka > INT_MAX || b->numel > INT_MAX) {
        lt_error(LT_ERR_SHAPE, "matmul: a %s or b %s is too large for 32-bit BLAS", lt_shape_str(a, sa),
                 lt_shape_str(b, sb));
        return NULL;
    }
    int shape[LT_MAX_DIMS];
    for (int i = 0; i < a->ndim - 2; i++) shape[i] = a->shape[i];
    shape[a->ndim - 2] = m;
    shape[a->ndim - 1] = nn;
    lt_tensor *in[2] = {a, b};
    lt_node *n = lt_node_new(c, LT_OP_matmul, 2, in);
    if (!n) return NULL;
    n->iattr[0] = trans_a;
    n->iattr[1] = trans_b;
    n->iattr[2] = lt_matmul_precision();   // lt_precision
    if (!lt_node_output(n, 0, LT_F32, a->ndim, shape)) return NULL;
    return lt_node_run(n);
}

lt_tensor *lt_matmul(lt_ctx *c, lt_tensor *a, lt_tensor *b) { return lt_matmul_t(c, a, b, 0, 0); }

// x [.., in], w [out, in], bias [out] or NULL -> [.., out]
lt_tensor *lt_linear(lt_ctx *c, lt_tensor *x, lt_tensor *w, lt_tensor *bias) {
    if (!x || !w) return NULL;
    char sx[64], sw[64], sb[64];
    if (lt_expect_dtype("linear", "x", x, LT_F32) || lt_expect_dtype("linear", "w", w, LT_F32)) return NULL;
    if (bias && lt_expect_dtype("linear", "bias", bias, LT_F32)) return NULL;
    if (x->ndim < 1 || w->ndim != 2 || x->shape[x->ndim - 1] != w->shape[1]) {
        lt_error(LT_ERR_SHAPE, "linear: x %s does not fit w %s (want x [.., in], w [out, in])", lt_shape_str(x, sx),
                 lt_shape_str(w, sw));
        return NULL;
    }
    if (bias && (bias->ndim != 1 || bias->shape[0] != w->shape[0])) {
        lt_error(LT_ERR_SHAPE, "linear: bias %s does not fit w %s (want bias [out])", lt_shape_str(bias, sb),
                 lt_shape_str(w, sw));
        return NULL;
    }
    if (x->numel > INT_MAX || w->numel > INT_MAX || x->numel / w->shape[1] * w->shape[0] > INT_MAX) {
        lt_error(LT_ERR_SHAPE, "linear: x %s or w %s is too large for 32-bit BLAS", lt_shape_str(x, sx),
                 lt_shape_str(w, sw));
        return NULL;
    }
    int shape[LT_MAX_DIMS];
    for (int i = 0; i < x->ndim - 1; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = w->shape[0];
    lt_tensor *in[3] = {x, w, bias};
    lt_node *n = lt_node_new(c, LT_OP_linear, bias ? 3 : 2, in);
    if (!n) return NULL;
    n->iattr[0] = lt_matmul_precision();   // lt_precision
    if (!lt_node_output(n, 0, LT_F32, x->ndim, shape)) return NULL;
    return lt_node_run(n);
}
