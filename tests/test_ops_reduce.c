// Reductions sum, mean, max over one axis or all: forward and output shape
// against a naive loop, gradients by finite differences, first-maximum
// gradient on ties, results independent of the thread count, bad input.
#include "lt_test.h"

#include <omp.h>
#include <stdlib.h>

typedef struct { int nd; int shape[LT_MAX_DIMS]; } shp;
typedef struct { lt_op op; int axis, keepdim; } red_ud;

static const lt_op REDOPS[] = {LT_OP_sum, LT_OP_mean, LT_OP_max};

static lt_tensor *call_reduce(lt_ctx *c, red_ud u, lt_tensor *x) {
    switch (u.op) {
    case LT_OP_sum: return lt_sum(c, x, u.axis, u.keepdim);
    case LT_OP_mean: return lt_mean(c, x, u.axis, u.keepdim);
    default: return lt_max(c, x, u.axis, u.keepdim);
    }
}

static lt_tensor *reduce_fn(lt_ctx *c, lt_tensor **in, void *ud) { return call_reduce(c, *(red_ud *)ud, in[0]); }

// Values spaced 4/n apart in a random order: the maximum of any group is
// unique and far from the runner-up compared with gradcheck's step.
static lt_tensor *distinct(uint64_t seed, shp s) {
    lt_tensor *t = lt_tensor_alloc(LT_F32, LT_CPU, s.nd, s.shape);
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)t->numel);
    for (int64_t i = 0; i < t->numel; i++) perm[i] = (int32_t)i;
    lt_rng r;
    lt_rng_init(&r, seed);
    lt_rng_shuffle(&r, perm, t->numel);
    for (int64_t i = 0; i < t->numel; i++) lt_f32(t)[i] = (float)((perm[i] - t->numel / 2) * (4.0 / (double)t->numel));
    free(perm);
    return t;
}

// Naive reference: each element goes to the output cell named by its
// coordinates with the reduced one dropped. Fills the expected shape.
static float *ref_reduce(red_ud u, const lt_tensor *x, shp *out) {
    int ax = u.axis == LT_AXIS_ALL ? -1 : (u.axis < 0 ? u.axis + x->ndim : u.axis);
    out->nd = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (ax >= 0 && d != ax) out->shape[out->nd++] = x->shape[d];
        else if (u.keepdim) out->shape[out->nd++] = 1;
    }
    int64_t nout = 1;
    for (int d = 0; d < out->nd; d++) nout *= out->shape[d];
    double *acc = calloc((size_t)nout, sizeof(double));
    int64_t *cnt = calloc((size_t)nout, sizeof(int64_t));
    for (int64_t i = 0; i < x->numel; i++) {
        int coord[LT_MAX_DIMS];
        int64_t rest = i, j = 0;
        for (int d = x->ndim - 1; d >= 0; d--) { coord[d] = (int)(rest % x->shape[d]); rest /= x->shape[d]; }
        if (ax >= 0)
            for (int d = 0; d < x->ndim; d++) if (d != ax) j = j * x->shape[d] + coord[d];
        double v = lt_f32(x)[i];
        if (u.op == LT_OP_max) acc[j] = (cnt[j] == 0 || v > acc[j]) ? v : acc[j];
        else acc[j] += v;
        cnt[j]++;
    }
    float *r = malloc(sizeof(float) * (size_t)nout);
    for (int64_t j = 0; j < nout; j++) r[j] = (float)(u.op == LT_OP_mean ? acc[j] / (double)cnt[j] : acc[j]);
    free(acc);
    free(cnt);
    return r;
}

static void check_reduce(red_ud u, shp s, uint64_t seed, int64_t max_checks) {
    char ss[64], name[160];
    lt_shape_str_n(s.nd, s.shape, ss);
    if (u.axis == LT_AXIS_ALL) snprintf(name, sizeof name, "%s %s all keepdim=%d", lt_op_name(u.op), ss, u.keepdim);
    else snprintf(name, sizeof name, "%s %s axis=%d keepdim=%d", lt_op_name(u.op), ss, u.axis, u.keepdim);
    lt_tensor *x = u.op == LT_OP_max ? distinct(seed, s) : lt_test_rand(seed, -2, 2, s.nd, s.shape);
    lt_ctx *c = lt_test_ctx(1);
    lt_tensor *y = call_reduce(c, u, x);
    cr_assert(y, "%s: %s", name, lt_last_error());
    shp so;
    float *ref = ref_reduce(u, x, &so);
    cr_assert_eq(y->ndim, so.nd, "%s: ndim %d, want %d", name, y->ndim, so.nd);
    for (int d = 0; d < so.nd; d++) cr_assert_eq(y->shape[d], so.shape[d], "%s: dim %d", name, d);
    lt_assert_allclose(name, ref, lt_f32(y), y->numel, 1e-5, 1e-6);
    free(ref);
    lt_ctx_free(c);

    x->requires_grad = 1;
    // sum and mean are linear: a large step costs nothing and keeps the loss
    // change far above float rounding of a 200000-term sum. max needs a step
    // well below the gap between distinct values so no maximum switches.
    lt_gradcheck_opts o = {u.op == LT_OP_max ? 1e-6 : 1e-2, 1e-2, max_checks, seed};
    lt_gradcheck_result r;
    cr_assert(lt_gradcheck(reduce_fn, &u, 1, &x, &o, &r) == LT_OK, "%s: %s", name, lt_last_error());
    cr_assert(r.n_checked > 0, "%s: nothing checked", name);
    lt_tensor_free(x);
}

// Every axis of [3,5,7] (first, middle, last, negative), keepdim on and off, and all.
Test(reduce, axes_of_3x5x7) {
    const shp s = {3, {3, 5, 7}};
    const int axes[] = {0, 1, 2, -1, -2, -3, LT_AXIS_ALL};
    for (int k = 0; k < 3; k++)
        for (int a = 0; a < 7; a++)
            for (int keep = 0; keep < 2; keep++)
                check_reduce((red_ud){REDOPS[k], axes[a], keep}, s, 100 + 20 * k + 2 * a + keep, 0);
}

// Total sizes 1, 63, 1000, a scalar, and inner sizes spanning several 64-wide blocks.
Test(reduce, odd_sizes) {
    const struct { shp s; int axis; } cases[] = {
        {{1, {1}}, 0}, {{1, {1}}, LT_AXIS_ALL}, {{0, {1}}, LT_AXIS_ALL},
        {{1, {63}}, 0}, {{1, {63}}, -1}, {{1, {63}}, LT_AXIS_ALL},
        {{1, {1000}}, 0}, {{1, {1000}}, LT_AXIS_ALL}, {{2, {8, 125}}, 0},
        {{2, {4, 130}}, 0}, {{3, {4, 3, 70}}, 1}, {{4, {2, 1, 3, 1}}, 1}, {{5, {2, 3, 1, 2, 3}}, 3},
    };
    int n = (int)(sizeof cases / sizeof cases[0]);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < n; i++)
            for (int keep = 0; keep < 2; keep++)
                check_reduce((red_ud){REDOPS[k], cases[i].axis, keep}, cases[i].s, 500 + 40 * k + 2 * i + keep, 0);
}

// Past the threading threshold, including long rows split into chunks.
Test(reduce, large_threaded) {
    const struct { shp s; int axis; } cases[] = {
        {{2, {300, 257}}, 0}, {{2, {300, 257}}, 1}, {{2, {300, 257}}, LT_AXIS_ALL},
        {{1, {200000}}, LT_AXIS_ALL}, {{2, {2, 70000}}, -1}, {{3, {40, 50, 30}}, 1},
    };
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 6; i++) check_reduce((red_ud){REDOPS[k], cases[i].axis, i % 2}, cases[i].s, 900 + 10 * k + i, 100);
}

// Ties: the whole gradient goes to the first maximal element.
Test(reduce, max_grad_goes_to_first_maximum) {
    lt_ctx *c = lt_test_ctx(1);
    float xv[12] = {1, 3, 3, 2, 5, 5, 5, 5, 0, 7, 1, 7};
    float ones[3] = {1, 1, 1};
    lt_tensor *x = lt_tensor_leaf(c, LT_SHAPE(3, 4), xv);
    lt_tensor *y = lt_max(c, x, 1, 0);
    cr_assert(y && lt_backward_from(c, y, ones) == LT_OK, "%s", lt_last_error());
    float want[12] = {0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0};
    lt_assert_allclose("max axis 1 ties", want, x->grad, 12, 0, 0);

    lt_tensor *x2 = lt_tensor_leaf(c, LT_SHAPE(4, 3), xv);   // columns: {1,2,5,7},{3,5,5,1},{3,5,0,7}
    lt_tensor *y2 = lt_max(c, x2, 0, 1);
    cr_assert(y2 && lt_backward_from(c, y2, ones) == LT_OK, "%s", lt_last_error());
    float want2[12] = {0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1};
    lt_assert_allclose("max axis 0 ties", want2, x2->grad, 12, 0, 0);

    lt_tensor *x3 = lt_tensor_leaf(c, LT_SHAPE(2, 2, 3), xv);
    lt_tensor *y3 = lt_max(c, x3, LT_AXIS_ALL, 0);
    cr_assert(y3 && y3->ndim == 0 && lt_backward(c, y3) == LT_OK, "%s", lt_last_error());
    float want3[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
    lt_assert_allclose("max all ties", want3, x3->grad, 12, 0, 0);
    lt_ctx_free(c);
}

// Forward and gradient bit-identical with 1 and 2 threads.
Test(reduce, thread_count_does_not_change_results) {
    int s[2] = {3, 90001};
    lt_tensor *src = lt_test_rand(77, -1, 1, 2, s);
    const int axes[] = {LT_AXIS_ALL, 1, 0};
    int nt0 = omp_get_max_threads();
    for (int k = 0; k < 3; k++)
        for (int a = 0; a < 3; a++) {
            float *val[2], *grad[2];
            int64_t nout = 0;
            for (int run = 0; run < 2; run++) {
                omp_set_num_threads(run + 1);
                lt_ctx *c = lt_test_ctx(1);
                lt_tensor *x = lt_tensor_leaf(c, 2, s, lt_f32(src));
                lt_tensor *y = call_reduce(c, (red_ud){REDOPS[k], axes[a], 0}, x);
                cr_assert(y, "%s", lt_last_error());
                nout = y->numel;
                float *g = malloc(sizeof(float) * (size_t)nout);
                for (int64_t i = 0; i < nout; i++) g[i] = 0.5f + (float)(i % 7);
                cr_assert(lt_backward_from(c, y, g) == LT_OK, "%s", lt_last_error());
                val[run] = malloc(sizeof(float) * (size_t)nout);
                memcpy(val[run], lt_f32(y), sizeof(float) * (size_t)nout);
                grad[run] = malloc(sizeof(float) * (size_t)x->numel);
                memcpy(grad[run], x->grad, sizeof(float) * (size_t)x->numel);
                free(g);
                lt_ctx_free(c);
            }
            omp_set_num_threads(nt0);
            cr_assert(memcmp(val[0], val[1], sizeof(float) * (size_t)nout) == 0, "%s axis %d: forward differs",
                      lt_op_name(REDOPS[k]), axes[a]);
            cr_assert(memcmp(grad[0], grad[1], sizeof(float) * (size_t)src->numel) == 0, "%s axis %d: grad differs",
                      lt_op_name(REDOPS[k]), axes[a]);
            for (int run = 0; run < 2; run++) { free(val[run]); free(grad[run]); }
        }
    lt_tensor_free(src);
}

// ---------------------------------------------------------------- bad input

Test(errors, axis_out_of_range) {
    lt_ctx *c = lt_test_ctx(1);
    lt_tensor *x = lt_tensor_zeros(c, LT_F32, LT_SHAPE(3, 5, 7));
    cr_assert_null(lt_sum(c, x, 3, 0));
    const char *m = lt_last_error();
    cr_assert(strstr(m, "sum") && strstr(m, "axis 3") && strstr(m, "[3,5,7]"), "message: %s", m);
    cr_assert_null(lt_mean(c, x, -4, 1));
    m = lt_last_error();
    cr_assert(strstr(m, "mean") && strstr(m, "-4") && strstr(m, "[3,5,7]"), "message: %s", m);
    int none[1] = {1};
    lt_tensor *s = lt_tensor_zeros(c, LT_F32, 0, none);
    cr_assert_null(lt_max(c, s, 0, 0));
    m = lt_last_error();
    cr_assert(strstr(m, "max") && strstr(m, "[]"), "message: %s", m);
    lt_ctx_free(c);
}

Test(errors, integer_input) {
    lt_ctx *c = lt_test_ctx(1);
    lt_tensor *i = lt_tensor_zeros(c, LT_I32, LT_SHAPE(4, 2));
    for (int k = 0; k < 3; k++) {
        cr_assert_null(call_reduce(c, (red_ud){REDOPS[k], 0, 0}, i));
        const char *m = lt_last_error();
        cr_assert(strstr(m, lt_op_name(REDOPS[k])) && strstr(m, "i32"), "message: %s", m);
    }
    lt_ctx_free(c);
}

Test(errors, null_input_keeps_first_error) {
    lt_ctx *c = lt_test_ctx(1);
    lt_tensor *x = lt_tensor_zeros(c, LT_F32, LT_SHAPE(2, 3));
    cr_assert_null(lt_mean(c, lt_sum(c, x, 5, 0), 0, 0));
    cr_assert(strstr(lt_last_error(), "sum") && strstr(lt_last_error(), "axis 5"), "message: %s", lt_last_error());
    lt_ctx_free(c);
}
