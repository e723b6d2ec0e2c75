// Geometry of one matmul node, shared by the CPU and CUDA kernels
// (kernels/cpu/matmul.c, kernels/cuda/matmul.cu): nb matrices op(a) [m,k] @
// op(b) [k,n]. When b is shared (2-D) and a is not transposed, a's batch
// folds into m, so the whole op is a single GEMM.
#ifndef LT_MATMUL_GEOM_H
#define LT_MATMUL_GEOM_H

#include "autograd/op.h"

typedef struct {
    int ta, tb, m, k, n, nb;   // transposes (iattr[0], iattr[1]) and sizes
    int shared;                // b is 2-D, the same matrix for every batch entry
    int64_t sa, sb, sc;        // element strides between consecutive matrices
} lt_mm_geom;

static inline lt_mm_geom lt_mm_geom_of(const lt_node *nd) {
    const lt_tensor *a = nd->in[0], *b = nd->in[1];
    lt_mm_geom g;
    g.ta = (int)nd->iattr[0];
    g.tb = (int)nd->iattr[1];
    int ar = a->shape[a->ndim - 2], ac = a->shape[a->ndim - 1];
    int br = b->shape[b->ndim - 2], bc = b->shape[b->ndim - 1];
    g.m = g.ta ? ac : ar;
    g.k = g.ta ? ar : ac;
    g.n = g.tb ? br : bc;
    g.nb = (int)(a->numel / ((int64_t)ar * ac));
    g.shared = b->ndim == 2;
    if (g.shared && !g.ta) { g.m *= g.nb; g.nb = 1; }
    g.sa = (int64_t)g.m * g.k;
    g.sb = g.shared ? 0 : (int64_t)g.k * g.n;
    g.sc = (int64_t)g.m * g.n;
    return g;
}

#endif
