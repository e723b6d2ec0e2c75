// Builders for layout ops: reshape (a view), permute/transpose, concat,
// slice/split. They move elements of either dtype; only f32 carries gradients.
#include "kernels/ops.h"

#include <limits.h>

lt_tensor *lt_reshape(lt_ctx *c, lt_tensor *x, int ndim, const int *shape) {
    if (!x) return NULL;
    char sx[64], ss[64];
    if (ndim < 0 || ndim > LT_MAX_DIMS || (ndim > 0 && !shape)) {
        lt_error(LT_ERR_SHAPE, "reshape: x %s: %d dims requested, 0 to %d supported", lt_shape_str(x, sx), ndim,
                 LT_MAX_DIMS);
        return NULL;
    }
    int s[LT_MAX_DIMS], infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (shape[i] == -1 && infer < 0) { infer = i; continue; }
        if (shape[i] < 1) {
            lt_error(LT_ERR_SHAPE, "reshape: shape %s for x %s: dims must be >= 1, and at most one may be -1",
                     lt_shape_str_n(ndim, shape, ss), lt_shape_str(x, sx));
            return NULL;
        }
        if (known <= x->numel) known *= shape[i];   // past numel it is a mismatch anyway: no overflow
    }
    if (infer >= 0 && x->numel % known == 0 && x->numel / known <= INT_MAX) {
        s[infer] = (int)(x->numel / known);
        known = x->numel;
    }
    if (known != x->numel) {
        lt_error(LT_ERR_SHAPE, "reshape: cannot reshape x %s (%lld elements) into %s", lt_shape_str(x, sx),
                 (long long)x->numel, lt_shape_str_n(ndim, shape, ss));
        return NULL;
    }
    lt_node *n = lt_node_new(c, LT_OP_reshape, 1, &x);
    if (!n) return NULL;
    if (!lt_node_output_alias(n, 0, x, ndim, s)) return NULL;
    return lt_node_run(n);
}

lt_tensor *lt_permute(lt_ctx *c, lt_tensor *x, const int *perm) {
    if (!x) return NULL;
    char sx[64], sp[64];
    int seen = 0, ok = perm || x->ndim == 0;
    for (int i = 0; ok && i < x->ndim; i++) {
        ok = perm[i] >= 0 && perm[i] < x->ndim && !(seen & (1 << perm[i]));
        if (ok) seen |= 1 << perm[i];
    }
    if (!ok) {
        lt_error(LT_ERR_ARG, "permute: perm %s is not a permutation of 0..%d for x %s",
                 perm ? lt_shape_str_n(x->ndim, perm, sp) : "NULL", x->ndim - 1, lt_shape_str(x, sx));
        return NULL;
    }
    int shape[LT_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[perm[i]];
    lt_node *n = lt_node_new(c, LT_OP_permute, 1, &x);
    if (!n) return NULL;
    for (int i = 0; i < x->ndim; i++) n->iattr[i] = perm[i];
    if (!lt_node_output(n, 0, x->dtype, x->ndim, shape)) return NULL;
    return lt_node_run(n);
}

lt_tensor *lt_transpose(lt_ctx *c, lt_tensor *x, int d0, int d1) {
    if (!x) return NULL;
    int a, b;
    if (lt_axis("transpose", x, d0, &a) || lt_axis("transpose", x, d1, &b)) return NULL;
    int perm[LT_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) perm[i] = i;
    perm[a] = b;
    perm[b] = a;
    return lt_permute(c, x, perm);
}

// xs[k] [.., A_k, ..] -> [.., sum A_k, ..]; every other dim and the dtype match input 0.
lt_tensor *lt_concat(lt_ctx *c, int n, lt_tensor *const *xs, int axis) {
    if (n < 1 || !xs) {
        lt_error(LT_ERR_ARG, "concat: needs at least one input, got %d", xs ? n : 0);
        return NULL;
    }
    for (int i = 0; i < n; i++) if (!xs[i]) return NULL;
    const lt_tensor *x0 = xs[0];
    char s0[64], si[64];
    int ax;
    if (lt_axis("concat", x0, axis, &ax)) return NULL;
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const lt_tensor *xi = xs[i];
        if (xi->dtype != x0->dtype) {
            lt_error(LT_ERR_DTYPE, "concat: input %d %s is %s but input 0 %s is %s", i, lt_shape_str(xi, si),
                     lt_dtype_name(xi->dtype), lt_shape_str(x0, s0), lt_dtype_name(x0->dtype));
            return NULL;
        }
        int ok = xi->ndim == x0->ndim;
        for (int d = 0; ok && d < x0->ndim; d++) ok = d == ax || xi->shape[d] == x0->shape[d];
        if (!ok) {
            lt_error(LT_ERR_SHAPE, "concat: input %d has shape %s but input 0 has %s; all dims but axis %d must match",
                     i, lt_shape_str(xi, si), lt_shape_str(x0, s0), ax);
            return NULL;
        }
        total += xi->shape[ax];
    }
    if (total > INT_MAX) {
        lt_error(LT_ERR_SHAPE, "concat: %d inputs like %s give %lld along axis %d, too many", n,
                 lt_shape_str(x0, s0), (long long)total, ax);
        return NULL;
    }
    int shape[LT_MAX_DIMS];
    for (int d = 0; d < x0->ndim; d++) shape[d] = x0->shape[d];
    shape[ax] = (int)total;
    lt_node *nd = lt_node_new(c, LT_OP_concat, n, xs);
    if (!nd) return NULL;
    nd->iattr[0] = ax;
    if (!lt_node_output(nd, 0, x0->dtype, x0->ndim, shape)) return NULL;
    return lt_node_run(nd);
}

// x [.., D, ..] -> [.., len, ..]: entries start .. start+len-1 along axis.
lt_tensor *lt_slice(lt_ctx *c, lt_tensor *x, int axis, int start, int len) {
    if (!x) return NULL;
    char sx[64];
    int ax;
    if (lt_axis("slice", x, axis, &ax)) return NULL;
    if (start < 0 || len < 1 || start > x->shape[ax] - len) {
        lt_error(LT_ERR_SHAPE, "slice: axis %d start %d len %d is out of range for x %s", axis, start, len,
                 lt_shape_str(x, sx));
        return NULL;
    }
    int shape[LT_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
    shape[ax] = len;
    lt_node *n = lt_node_new(c, LT_OP_slice, 1, &x);
    if (!n) return NULL;
    n->iattr[0] = ax;
    n->iattr[1] = start;
    n->iattr[2] = len;
    if (!lt_node_output(n, 0, x->dtype, x->ndim, shape)) return NULL;
    return lt_node_run(n);
}

lt_status lt_split(lt_ctx *c, lt_tensor *x, int axis, int n, const int *sizes, lt_tensor **outs) {
    for (int i = 0; outs && i < n; i++) outs[i] = NULL;
    if (!x) return lt_last_status() != LT_OK ? lt_last_status() : lt_error(LT_ERR_ARG, "split: x is NULL");
    char sx[64];
    if (n < 1 || !sizes || !outs)
        return lt_error(LT_ERR_ARG, "split: x %s: needs n >= 1 sizes and outputs, got n=%d%s%s", lt_shape_str(x, sx),
                        n, sizes ? "" : ", sizes NULL", outs ? "" : ", outs NULL");
    int ax;
    LT_TRY(lt_axis("split", x, axis, &ax));
    int64_t sum = 0;
    for (int i = 0; i < n; i++) {
        if (sizes[i] < 1)
            return lt_error(LT_ERR_SHAPE, "split: size %d of part %d is < 1 (x %s, axis %d)", sizes[i], i,
                            lt_shape_str(x, sx), axis);
        sum += sizes[i];
    }
    if (sum != x->shape[ax])
        return lt_error(LT_ERR_SHAPE, "split: %d sizes sum to %lld but axis %d of x %s has %d", n, (long long)sum,
                        axis, lt_shape_str(x, sx), x->shape[ax]);
    for (int i = 0, off = 0; i < n; off += sizes[i], i++) {
        outs[i] = lt_slice(c, x, ax, off, sizes[i]);
        if (!outs[i]) {
            for (int j = 0; j < i; j++) outs[j] = NULL;
            return lt_last_status();
        }
    }
    return LT_OK;
}
