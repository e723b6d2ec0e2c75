// index_select and gather. Forward moves 4-byte words (f32 or i32 x); backward
// scatter-adds f32 grads with each destination element owned by one work item
// and filled in ascending index order, so results do not depend on threads.
#include "autograd/op.h"

#include <stdint.h>
#include <string.h>

#define PAR_MIN 32768   // elements below which threads cost more than they save
#define MIN_ITEMS 64    // work items wanted for the backward scatter

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Product of the dims before and after `axis`.
static void split_at(const lt_tensor *t, int axis, int64_t *pre, int64_t *post) {
    *pre = 1; *post = 1;
    for (int i = 0; i < axis; i++) *pre *= t->shape[i];
    for (int i = axis + 1; i < t->ndim; i++) *post *= t->shape[i];
}

// Flat position -> "[i,j,k]" in idx's shape.
static const char *position_str(const lt_tensor *t, int64_t flat, char *buf) {
    int c[LT_MAX_DIMS];
    for (int i = t->ndim - 1; i >= 0; i--) { c[i] = (int)(flat % t->shape[i]); flat /= t->shape[i]; }
    return lt_shape_str_n(t->ndim, c, buf);
}

// First index outside [0, size) is an error naming its position and value.
static lt_status check_indices(const char *op, const lt_tensor *x, int axis, const lt_tensor *idx) {
    const int32_t *ix = lt_i32(idx);
    int size = x->shape[axis];
    for (int64_t i = 0; i < idx->numel; i++)
        if (ix[i] < 0 || ix[i] >= size) {
            char bp[64], bx[64];
            return lt_error(LT_ERR_ARG, "%s: idx%s = %d is out of range [0,%d) for axis %d of x %s", op,
                            position_str(idx, i, bp), (int)ix[i], size, axis, lt_shape_str(x, bx));
        }
    return LT_OK;
}

// x [pre, D, post], idx [K] -> out [pre, K, post]; axis in iattr[0].
lt_status lt_cpu_index_select_fwd(lt_node *n) {
    lt_tensor *x = n->in[0], *idx = n->in[1], *y = n->out[0];
    int axis = (int)n->iattr[0];
    LT_TRY(check_indices("index_select", x, axis, idx));
    const int32_t *ix = lt_i32(idx);
    const uint32_t *src = x->data;
    uint32_t *dst = y->data;
    int64_t pre, post, d = x->shape[axis], k = idx->numel;
    split_at(x, axis, &pre, &post);
    #pragma omp parallel for if (y->numel > PAR_MIN) schedule(static)
    for (int64_t r = 0; r < pre * k; r++) {
        int64_t p = r / k, j = r % k;
        memcpy(dst + r * post, src + (p * d + ix[j]) * post, (size_t)post * 4);
    }
    return LT_OK;
}

// Work item (p, band of D rows): scans all K indices in order and adds those
// that land in its band.
lt_status lt_cpu_index_select_bwd(lt_node *n) {
    lt_tensor *x = n->in[0], *idx = n->in[1], *y = n->out[0];
    if (!x->grad || !y->grad) return LT_OK;
    int axis = (int)n->iattr[0];
    const int32_t *ix = lt_i32(idx);
    int64_t pre, post, d = x->shape[axis], k = idx->numel;
    split_at(x, axis, &pre, &post);
    int64_t bands = pre >= MIN_ITEMS ? 1 : min64(d, (MIN_ITEMS + pre - 1) / pre);
    int64_t band = (d + bands - 1) / bands;
    bands = (d + band - 1) / band;
    const float *g = y->grad;
    float *gx = x->grad;
    #pragma omp parallel for if (y->numel > PAR_MIN) schedule(static)
    for (int64_t it = 0; it < pre * bands; it++) {
        int64_t p = it / bands, lo = (it % bands) * band, hi = lo + band;
        for (int64_t j = 0; j < k; j++) {
            if (ix[j] < lo || ix[j] >= hi) continue;
            float *dst = gx + (p * d + ix[j]) * post;
            const float *src = g + (p * k + j) * post;
            for (int64_t q = 0; q < post; q++) dst[q] += src[q];
        }
    }
    return LT_OK;
}

// x [pre, D, post], idx [pre, K, post] -> out [pre, K, post]:
// out[p,j,q] = x[p, idx[p,j,q], q]; axis in iattr[0].
lt_status lt_cpu_gather_fwd(lt_node *n) {
    lt_tensor *x = n->in[0], *idx = n->in[1], *y = n->out[0];
    int axis = (int)n->iattr[0];
    LT_TRY(check_indices("gather", x, axis, idx));
    const int32_t *ix = lt_i32(idx);
    const uint32_t *src = x->data;
    uint32_t *dst = y->data;
    int64_t pre, post, d = x->shape[axis], k = idx->shape[axis];
    split_at(x, axis, &pre, &post);
    #pragma omp parallel for if (y->numel > PAR_MIN) schedule(static)
    for (int64_t r = 0; r < pre * k; r++) {
        int64_t p = r / k;
        const uint32_t *xs = src + p * d * post;
        for (int64_t q = 0; q < post; q++) dst[r * post + q] = xs[(int64_t)ix[r * post + q] * post + q];
    }
    return LT_OK;
}

// Work item (p, band of columns q): gx[p, :, band] is written by it alone,
// in ascending j.
lt_status lt_cpu_gather_bwd(lt_node *n) {
    lt_tensor *x = n->in[0], *idx = n->in[1], *y = n->out[0];
    if (!x->grad || !y->grad) return LT_OK;
    int axis = (int)n->iattr[0];
    const int32_t *ix = lt_i32(idx);
    int64_t pre, post, d = x->shape[axis], k = idx->shape[axis];
    split_at(x, axis, &pre, &post);
    int64_t bands = pre >= MIN_ITEMS ? 1 : min64((post + 15) / 16, (MIN_ITEMS + pre - 1) / pre);
    int64_t band = (post + bands - 1) / bands;
    bands = (post + band - 1) / band;
    const float *g = y->grad;
    float *gx = x->grad;
    #pragma omp parallel for if (y->numel > PAR_MIN) schedule(static)
    for (int64_t it = 0; it < pre * bands; it++) {
        int64_t p = it / bands, lo = (it % bands) * band, hi = min64(lo + band, post);
        float *gp = gx + p * d * post;
        for (int64_t j = 0; j < k; j++) {
            int64_t r = (p * k + j) * post;
            for (int64_t q = lo; q < hi; q++) gp[(int64_t)ix[r + q] * post + q] += g[r + q];
        }
    }
    return LT_OK;
}
