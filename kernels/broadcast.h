// The collapsed view of a numpy broadcast, shared by the CPU and CUDA binary
// ops (kernels/cpu/binary.c, kernels/cuda/binary.cu): size-1 dims dropped and
// neighbouring dims merged wherever both operands stay linear across them, so
// equal shapes become one flat dim and [N,D] op [D] becomes [N,D] with b's
// stride 0 on N. Both backends must merge the same dims to sum gradients in
// the same order, hence one definition.
#ifndef LT_BROADCAST_H
#define LT_BROADCAST_H

#include "libtrain/tensor.h"

typedef struct {
    int nd;                          // collapsed dims, outermost first
    int64_t size[LT_MAX_DIMS];
    int64_t so[LT_MAX_DIMS];         // out strides (contiguous)
    int64_t s[2][LT_MAX_DIMS];       // a and b strides, 0 along broadcast dims
} lt_bcast;

// a, b broadcast to out's shape.
static inline void lt_bcast_init(lt_bcast *g, const lt_tensor *a, const lt_tensor *b, const lt_tensor *out) {
    int nd = out->ndim;
    int64_t st[2][LT_MAX_DIMS];
    const lt_tensor *ab[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        int64_t stride = 1;
        for (int d = nd - 1; d >= 0; d--) {
            int td = d - (nd - ab[k]->ndim);
            int dim = td >= 0 ? ab[k]->shape[td] : 1;
            st[k][d] = dim == 1 ? 0 : stride;
            stride *= dim;
        }
    }
    // Built innermost first, then reversed.
    int64_t rs[LT_MAX_DIMS], ra[LT_MAX_DIMS], rb[LT_MAX_DIMS];
    int m = 0;
    for (int d = nd - 1; d >= 0; d--) {
        int64_t sz = out->shape[d];
        if (sz == 1) continue;
        if (m > 0 && st[0][d] == ra[m - 1] * rs[m - 1] && st[1][d] == rb[m - 1] * rs[m - 1]) {
            rs[m - 1] *= sz;
            continue;
        }
        rs[m] = sz; ra[m] = st[0][d]; rb[m] = st[1][d]; m++;
    }
    if (m == 0) { rs[0] = 1; ra[0] = 0; rb[0] = 0; m = 1; }
    g->nd = m;
    int64_t stride = 1;
    for (int i = 0; i < m; i++) {
        int d = m - 1 - i;
        g->size[d] = rs[i]; g->s[0][d] = ra[i]; g->s[1][d] = rb[i];
        g->so[d] = stride;
        stride *= rs[i];
    }
}

#endif
