// Layout kernels: reshape (a view), permute, concat, slice. Forward moves
// 4-byte words, so f32 and i32 tensors share the code; backward adds f32 grads.
#include "autograd/op.h"

#include <stdint.h>
#include <string.h>

#define PAR_MIN 32768     // elements below which threads cost more than they save
#define ROW_CHUNK 16384   // elements per work item when rows are long
#define TILE 64           // transpose tile edge: 64 beat 16, 32 and 128 on 4096x4096 and [64,512,512]

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// len contiguous words: dst = src, or dst += src as f32 when add.
static inline void move_run(void *dst, const void *src, int64_t len, int add) {
    if (add) {
        float *d = dst;
        const float *s = src;
        for (int64_t j = 0; j < len; j++) d[j] += s[j];
    } else {
        memcpy(dst, src, (size_t)len * 4);
    }
}

// rows x len block: dst[r*ds + j] = src[r*ss + j] (or +=). Work items are a
// run of whole short rows or a chunk of one long row, so neither a few long
// rows nor many short ones leave threads idle.
static void copy_rows(uint32_t *dst, int64_t ds, const uint32_t *src, int64_t ss, int64_t rows, int64_t len,
                      int add) {
    if (len >= ROW_CHUNK) {
        int64_t per_row = (len + ROW_CHUNK - 1) / ROW_CHUNK;
        #pragma omp parallel for if (rows * len > PAR_MIN) schedule(static)
        for (int64_t it = 0; it < rows * per_row; it++) {
            int64_t r = it / per_row, j0 = (it % per_row) * ROW_CHUNK, j1 = min64(j0 + ROW_CHUNK, len);
            move_run(dst + r * ds + j0, src + r * ss + j0, j1 - j0, add);
        }
    } else {
        int64_t g = ROW_CHUNK / len, items = (rows + g - 1) / g;
        #pragma omp parallel for if (rows * len > PAR_MIN) schedule(static)
        for (int64_t it = 0; it < items; it++)
            for (int64_t r = it * g; r < min64(it * g + g, rows); r++)
                move_run(dst + r * ds, src + r * ss, len, add);
    }
}

// A strided walk: dims n[], element strides ds[] (destination) and ss[] (source).
typedef struct {
    int nd;
    int64_t n[LT_MAX_DIMS], ds[LT_MAX_DIMS], ss[LT_MAX_DIMS];
} walk;

static void walk_push(walk *w, int64_t n, int64_t ds, int64_t ss) {
    w->n[w->nd] = n; w->ds[w->nd] = ds; w->ss[w->nd] = ss; w->nd++;
}

static void walk_offsets(const walk *w, int64_t idx, int64_t *c, int64_t *od, int64_t *os) {
    int64_t d = 0, s = 0;
    for (int i = w->nd - 1; i >= 0; i--) {
        c[i] = idx % w->n[i];
        idx /= w->n[i];
        d += c[i] * w->ds[i];
        s += c[i] * w->ss[i];
    }
    *od = d; *os = s;
}

// For every index of `outer`, a run of len words contiguous in both.
static void walk_rows(const walk *o, int64_t len, uint32_t *dst, const uint32_t *src, int add) {
    int64_t rows = 1;
    for (int i = 0; i < o->nd; i++) rows *= o->n[i];
    int64_t g = len >= ROW_CHUNK ? 1 : ROW_CHUNK / len, items = (rows + g - 1) / g;
    #pragma omp parallel for if (rows * len > PAR_MIN) schedule(static)
    for (int64_t it = 0; it < items; it++) {
        int64_t c[LT_MAX_DIMS], od, os, r1 = min64(it * g + g, rows);
        walk_offsets(o, it * g, c, &od, &os);
        for (int64_t r = it * g; r < r1; r++) {
            move_run(dst + od, src + os, len, add);
            for (int i = o->nd - 1; i >= 0; i--) {
                if (++c[i] < o->n[i]) { od += o->ds[i]; os += o->ss[i]; break; }
                od -= (o->n[i] - 1) * o->ds[i];
                os -= (o->n[i] - 1) * o->ss[i];
                c[i] = 0;
            }
        }
    }
}

// Blocked transpose of dims k and l (l innermost in dst, destination stride 1)
// for every index of `outer`. Each TILE x TILE block goes through a buffer:
// read as runs along k (dense in the source), written as runs along l, so no
// more than one source and one destination line are live at a time and large
// power-of-two strides do not thrash the cache sets.
static void walk_tiles(const walk *outer, int64_t nk, int64_t dk, int64_t sk, int64_t nl, int64_t sl,
                       uint32_t *dst, const uint32_t *src, int add) {
    int64_t n_outer = 1;
    for (int i = 0; i < outer->nd; i++) n_outer *= outer->n[i];
    int64_t tk = (nk + TILE - 1) / TILE;
    #pragma omp parallel for if (n_outer * nk * nl > PAR_MIN) schedule(static)
    for (int64_t it = 0; it < n_outer * tk; it++) {
        union { uint32_t u[TILE * TILE]; float f[TILE * TILE]; } buf;
        int64_t c[LT_MAX_DIMS], od, os;
        walk_offsets(outer, it / tk, c, &od, &os);
        int64_t a0 = (it % tk) * TILE, na = min64(TILE, nk - a0);
        for (int64_t b0 = 0; b0 < nl; b0 += TILE) {
            int64_t nb = min64(TILE, nl - b0);
            for (int64_t b = 0; b < nb; b++) {
                const uint32_t *s = src + os + (b0 + b) * sl + a0 * sk;
                for (int64_t a = 0; a < na; a++) buf.u[b * TILE + a] = s[a * sk];
            }
            for (int64_t a = 0; a < na; a++) {
                uint32_t *d = dst + od + (a0 + a) * dk + b0;
                if (add)
                    for (int64_t b = 0; b < nb; b++) ((float *)d)[b] += buf.f[b * TILE + a];
                else
                    for (int64_t b = 0; b < nb; b++) d[b] = buf.u[b * TILE + a];
            }
        }
    }
}

// dst (contiguous, dim i of size src_shape[perm[i]]) = src permuted, or += it.
static void permute_copy(uint32_t *dst, const uint32_t *src, int nd, const int *src_shape, const int64_t *perm,
                         int add) {
    int64_t sstr[LT_MAX_DIMS], dstr[LT_MAX_DIMS], s = 1, d = 1;
    for (int i = nd - 1; i >= 0; i--) { sstr[i] = s; s *= src_shape[i]; }
    for (int i = nd - 1; i >= 0; i--) { dstr[i] = d; d *= src_shape[perm[i]]; }
    // Drop size-1 dims and merge neighbours that are contiguous in both, so a
    // permute that only moves whole blocks becomes a few long copies.
    walk w = {0};
    for (int i = 0; i < nd; i++) {
        int64_t n = src_shape[perm[i]], ds = dstr[i], ss = sstr[perm[i]];
        if (n == 1) continue;
        int m = w.nd - 1;
        if (m >= 0 && w.ds[m] == ds * n && w.ss[m] == ss * n) { w.n[m] *= n; w.ds[m] = ds; w.ss[m] = ss; continue; }
        walk_push(&w, n, ds, ss);
    }
    if (w.nd == 0) walk_push(&w, 1, 1, 1);
    int l = w.nd - 1;
    if (w.ss[l] == 1) {
        walk outer = w;
        outer.nd = l;
        walk_rows(&outer, w.n[l], dst, src, add);
        return;
    }
    if (l == 0) { walk_rows(&w, 1, dst, src, add); return; }
    // Innermost destination dim is strided in the source: pair it with the
    // dim that is densest in the source.
    int k = 0;
    for (int i = 1; i < l; i++) if (w.ss[i] < w.ss[k]) k = i;
    walk outer = {0};
    for (int i = 0; i < l; i++) if (i != k) walk_push(&outer, w.n[i], w.ds[i], w.ss[i]);
    walk_tiles(&outer, w.n[k], w.ds[k], w.ss[k], w.n[l], w.ss[l], dst, src, add);
}

// Product of the dims before and after `axis`.
static void split_at(const lt_tensor *t, int axis, int64_t *pre, int64_t *post) {
    *pre = 1; *post = 1;
    for (int i = 0; i < axis; i++) *pre *= t->shape[i];
    for (int i = axis + 1; i < t->ndim; i++) *post *= t->shape[i];
}

// The output aliases the input (lt_node_output_alias), so there is nothing to move.
lt_status lt_cpu_reshape_fwd(lt_node *n) {
    lt_tensor *x = n->in[0], *y = n->out[0];
    if (y->data != x->data) memcpy(y->data, x->data, (size_t)x->numel * 4);
    return LT_OK;
}

lt_status lt_cpu_reshape_bwd(lt_node *n) {
    lt_tensor *x = n->in[0], *y = n->out[0];
    if (!x->grad || !y->grad) return LT_OK;
    copy_rows((uint32_t *)x->grad, 0, (const uint32_t *)y->grad, 0, 1, x->numel, 1);
    return LT_OK;
}

// perm in iattr[0..ndim-1]: out dim i is x dim perm[i].
lt_status lt_cpu_permute_fwd(lt_node *n) {
    lt_tensor *x = n->in[0], *y = n->out[0];
    permute_copy(y->data, x->data, x->ndim, x->shape, n->iattr, 0);
    return LT_OK;
}

lt_status lt_cpu_permute_bwd(lt_node *n) {
    lt_tensor *x = n->in[0], *y = n->out[0];
    if (!x->grad || !y->grad) return LT_OK;
    int64_t inv[LT_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) inv[n->iattr[i]] = i;
    permute_copy((uint32_t *)x->grad, (const uint32_t *)y->grad, y->ndim, y->shape, inv, 1);
    return LT_OK;
}

// Inputs [pre, A_k, post] placed side by side in out [pre, sum A_k, post]; axis in iattr[0].
lt_status lt_cpu_concat_fwd(lt_node *n) {
    lt_tensor *y = n->out[0];
    int axis = (int)n->iattr[0];
    int64_t pre, post, off = 0, total = y->shape[axis];
    split_at(y, axis, &pre, &post);
    for (int k = 0; k < n->n_in; k++) {
        int64_t a = n->in[k]->shape[axis];
        copy_rows((uint32_t *)y->data + off * post, total * post, n->in[k]->data, a * post, pre, a * post, 0);
        off += a;
    }
    return LT_OK;
}

lt_status lt_cpu_concat_bwd(lt_node *n) {
    lt_tensor *y = n->out[0];
    if (!y->grad) return LT_OK;
    int axis = (int)n->iattr[0];
    int64_t pre, post, off = 0, total = y->shape[axis];
    split_at(y, axis, &pre, &post);
    for (int k = 0; k < n->n_in; k++) {
        lt_tensor *x = n->in[k];
        int64_t a = x->shape[axis];
        if (x->grad)
            copy_rows((uint32_t *)x->grad, a * post, (const uint32_t *)y->grad + off * post, total * post, pre,
                      a * post, 1);
        off += a;
    }
    return LT_OK;
}

// x [pre, D, post] -> out [pre, len, post] from `start`; iattr = {axis, start, len}.
lt_status lt_cpu_slice_fwd(lt_node *n) {
    lt_tensor *x = n->in[0], *y = n->out[0];
    int axis = (int)n->iattr[0];
    int64_t start = n->iattr[1], len = n->iattr[2], d = x->shape[axis], pre, post;
    split_at(x, axis, &pre, &post);
    copy_rows(y->data, len * post, (const uint32_t *)x->data + start * post, d * post, pre, len * post, 0);
    return LT_OK;
}

lt_status lt_cpu_slice_bwd(lt_node *n) {
    lt_tensor *x = n->in[0], *y = n->out[0];
    if (!x->grad || !y->grad) return LT_OK;
    int axis = (int)n->iattr[0];
    int64_t start = n->iattr[1], len = n->iattr[2], d = x->shape[axis], pre, post;
    split_at(x, axis, &pre, &post);
    copy_rows((uint32_t *)x->grad + start * post, d * post, (const uint32_t *)y->grad, len * post, pre, len * post, 1);
    return LT_OK;
}
