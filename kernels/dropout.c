// Builder for dropout. Outside training (or p == 0) it returns x itself: no node.
#include "kernels/ops.h"

// x [..] -> [..]
lt_tensor *lt_dropout(lt_ctx *c, lt_tensor *x, float p) {
    if (!x) return NULL;
    if (lt_expect_dtype("dropout", "x", x, LT_F32)) return NULL;
    if (!(p >= 0.0f && p < 1.0f)) {
        lt_error(LT_ERR_ARG, "dropout: p %g is outside [0,1)", (double)p);
        return NULL;
    }
    if (!c->training || p == 0.0f) return x;
    lt_node *n = lt_node_new(c, LT_OP_dropout, 1, &x);
    if (!n) return NULL;
    n->iattr[0] = (int64_t)c->rng.seed;
    n->iattr[1] = (int64_t)lt_rng_reserve(&c->rng, (uint64_t)x->numel);
    n->fattr[0] = p;
    n->fattr[1] = 1.0f / (1.0f - p);
    if (!lt_node_output(n, 0, LT_F32, x->ndim, x->shape)) return NULL;
    return lt_node_run(n);
}
