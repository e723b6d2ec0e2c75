// softmax, log_softmax and cross_entropy: forward against long-double loops
// (no max trick, so they check the kernels' stabilization independently),
// hand-computed losses, gradcheck, bad input.
#include "lt_test.h"

#include <stdlib.h>

static const int ROWS[][2] = {{4, 1}, {3, 7}, {2, 63}, {2, 1000}};
#define N_ROWS (int)(sizeof ROWS / sizeof ROWS[0])

static void naive_softmax(const float *x, int64_t rows, int d, int log_out, float *y) {
    for (int64_t r = 0; r < rows; r++) {
        long double s = 0;
        for (int j = 0; j < d; j++) s += expl((long double)x[r * d + j]);
        for (int j = 0; j < d; j++) {
            long double v = expl((long double)x[r * d + j]) / s;
            y[r * d + j] = (float)(log_out ? logl(v) : v);
        }
    }
}

static lt_tensor *sm_fn(lt_ctx *c, lt_tensor **in, void *ud) {
    return *(int *)ud ? lt_log_softmax(c, in[0]) : lt_softmax(c, in[0]);
}

Test(softmax, forward_matches_naive_including_large_logits) {
    for (int log_out = 0; log_out < 2; log_out++)
        for (int k = 0; k < N_ROWS; k++)
            for (int big = 0; big < 2; big++) {
                lt_ctx *c = lt_ctx_new(LT_CPU, 1);
                c->arena.poison = 1;
                // big: logits near 1000, where exp overflows in float without the max shift
                lt_tensor *x = big ? lt_test_rand(k + 10, 990, 1010, 2, ROWS[k]) : lt_test_rand(k, -5, 5, 2, ROWS[k]);
                lt_tensor *y = sm_fn(c, &x, &log_out);
                cr_assert(y, "%s", lt_last_error());
                cr_assert(y->ndim == 2 && y->shape[0] == ROWS[k][0] && y->shape[1] == ROWS[k][1]);
                float *ref = malloc(sizeof(float) * (size_t)x->numel);
                naive_softmax(lt_f32(x), ROWS[k][0], ROWS[k][1], log_out, ref);
                char name[64];
                snprintf(name, sizeof name, "%s rows of %d%s", log_out ? "log_softmax" : "softmax", ROWS[k][1],
                         big ? " (large)" : "");
                lt_assert_allclose(name, ref, lt_f32(y), x->numel, 1e-5, log_out ? 1e-5 : 1e-7);
                free(ref);
                lt_tensor_free(x);
                lt_ctx_free(c);
            }
}

Test(softmax, three_dim_input_and_rows_sum_to_one) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    c->arena.poison = 1;
    lt_tensor *x = lt_test_rand(77, -20, 20, LT_SHAPE(3, 5, 7));
    lt_tensor *y = lt_softmax(c, x);
    cr_assert(y && y->ndim == 3, "%s", lt_last_error());
    for (int r = 0; r < 15; r++) {
        double s = 0;
        for (int j = 0; j < 7; j++) s += lt_f32(y)[r * 7 + j];
        cr_assert(fabs(s - 1) < 1e-6, "row %d sums to %.9g", r, s);
    }
    lt_tensor_free(x);
    lt_ctx_free(c);
}

Test(softmax, gradcheck_softmax_and_log_softmax) {
    for (int log_out = 0; log_out < 2; log_out++)
        for (int k = 0; k < N_ROWS; k++) {
            lt_tensor *x = lt_test_rand(100 + k + 10 * log_out, -2, 2, 2, ROWS[k]);
            x->requires_grad = 1;
            char name[64];
            snprintf(name, sizeof name, "%s rows of %d", log_out ? "log_softmax" : "softmax", ROWS[k][1]);
            lt_assert_gradcheck(name, sm_fn, &log_out, 1, &x, 1e-2);
            lt_tensor_free(x);
        }
}

Test(softmax, bad_input) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    lt_tensor *xi = lt_tensor_zeros(c, LT_I32, LT_SHAPE(3, 4));
    cr_assert_null(lt_softmax(c, xi));
    cr_assert_eq(lt_last_status(), LT_ERR_DTYPE);
    cr_assert(strstr(lt_last_error(), "softmax"), "message: %s", lt_last_error());
    cr_assert_null(lt_log_softmax(c, xi));
    cr_assert(strstr(lt_last_error(), "log_softmax"), "message: %s", lt_last_error());
    lt_tensor *s = lt_tensor_zeros(c, LT_F32, 0, (int[]){1});
    cr_assert_null(lt_softmax(c, s));
    cr_assert(strstr(lt_last_error(), "softmax"), "message: %s", lt_last_error());
    lt_ctx_free(c);
}

// ---- cross_entropy ----

#define IGN (-100)

static lt_tensor *targets(int n, const int32_t *v) {
    lt_tensor *t = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(n));
    memcpy(t->data, v, sizeof(int32_t) * (size_t)n);
    return t;
}

// torch semantics, long double, log-sum-exp computed directly.
static double naive_ce(const float *x, const int32_t *t, int N, int C, int ignore, double eps) {
    long double total = 0;
    int valid = 0;
    for (int i = 0; i < N; i++) {
        if (t[i] == ignore) continue;
        long double s = 0, mean = 0;
        for (int j = 0; j < C; j++) { s += expl((long double)x[i * C + j]); mean += x[i * C + j]; }
        long double lse = logl(s);
        mean /= C;
        total += (1 - eps) * (lse - x[i * C + t[i]]) + eps * (lse - mean);
        valid++;
    }
    return (double)(total / valid);
}

typedef struct { int ignore; float eps; } ce_args;

static lt_tensor *ce_fn(lt_ctx *c, lt_tensor **in, void *ud) {
    const ce_args *a = ud;
    return lt_cross_entropy(c, in[0], in[1], a->ignore, a->eps);
}

Test(cross_entropy, hand_computed) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    c->arena.poison = 1;
    float x[] = {1, 2, 3, 0, 0, 0, 5, -5, 9};   // row 1 has ignore target, row 2 ignored too
    lt_tensor *lg = lt_tensor_from(c, LT_F32, LT_SHAPE(3, 3), x);
    lt_tensor *t = lt_tensor_from(c, LT_I32, LT_SHAPE(3), (int32_t[]){2, 7, 7});
    lt_tensor *l0 = lt_cross_entropy(c, lg, t, 7, 0.0f);
    cr_assert(l0, "%s", lt_last_error());
    cr_assert_eq(l0->ndim, 0);
    cr_assert_eq(l0->numel, 1);
    // log(e + e^2 + e^3) - 3
    cr_assert(fabs(lt_tensor_item(l0) - 0.40760596444438013) < 1e-6, "loss %.9g", lt_tensor_item(l0));
    // 0.9 * (lse - 3) + 0.1 * (lse - 2)
    lt_tensor *l1 = lt_cross_entropy(c, lg, t, 7, 0.1f);
    cr_assert(fabs(lt_tensor_item(l1) - 0.5076059644443801) < 1e-6, "loss %.9g", lt_tensor_item(l1));
    // uniform logits over 4 classes: log 4 for every row whatever the smoothing
    lt_tensor *u = lt_tensor_zeros(c, LT_F32, LT_SHAPE(2, 4));
    lt_tensor *tu = lt_tensor_from(c, LT_I32, LT_SHAPE(2), (int32_t[]){1, 3});
    lt_tensor *lu = lt_cross_entropy(c, u, tu, -100, 0.3f);
    cr_assert(fabs(lt_tensor_item(lu) - 1.3862943611198906) < 1e-6, "loss %.9g", lt_tensor_item(lu));
    lt_ctx_free(c);
}

Test(cross_entropy, forward_matches_naive) {
    const int32_t tv[7] = {0, 4, IGN, 2, IGN, 1, 3};
    for (int k = 0; k < 2; k++) {
        int C = k ? 1000 : 5;
        for (int s = 0; s < 2; s++) {
            float eps = s ? 0.1f : 0.0f;
            lt_ctx *c = lt_ctx_new(LT_CPU, 1);
            c->arena.poison = 1;
            lt_tensor *lg = lt_test_rand(200 + k * 2 + s, -8, 8, LT_SHAPE(7, C));
            lt_tensor *t = targets(7, tv);
            lt_tensor *l = lt_cross_entropy(c, lg, t, IGN, eps);
            cr_assert(l, "%s", lt_last_error());
            float ref = (float)naive_ce(lt_f32(lg), tv, 7, C, IGN, eps);
            lt_assert_allclose("cross_entropy", &ref, lt_f32(l), 1, 1e-5, 1e-6);
            lt_tensor_free(lg); lt_tensor_free(t);
            lt_ctx_free(c);
        }
    }
}

Test(cross_entropy, gradcheck_ignore_and_smoothing) {
    const int32_t tv[7] = {0, 4, IGN, 2, IGN, 1, 3};
    for (int s = 0; s < 2; s++) {
        ce_args a = {IGN, s ? 0.1f : 0.0f};
        lt_tensor *in[2] = {lt_test_rand(300 + s, -3, 3, LT_SHAPE(7, 5)), targets(7, tv)};
        in[0]->requires_grad = 1;
        lt_assert_gradcheck(s ? "cross_entropy eps 0.1" : "cross_entropy eps 0", ce_fn, &a, 2, in, 1e-2);
        // ignored rows get exactly zero gradient
        for (int j = 0; j < 5; j++) cr_assert_eq(in[0]->grad[2 * 5 + j], 0.0f);
        lt_tensor_free(in[0]); lt_tensor_free(in[1]);
    }
}

// With C = 1000 each logit moves the scalar loss by less than its float
// resolution, so finite differences cannot see it: compare with the closed
// form g/n (p_c - eps/C - (1-eps)[c==t]) instead.
Test(cross_entropy, wide_gradient_matches_closed_form) {
    enum { N = 40, C = 1000 };   // over the kernels' threading threshold
    int32_t tv[N];
    int n_valid = 0;
    for (int i = 0; i < N; i++) {
        tv[i] = i % 7 == 3 ? IGN : (i * 37 + (i == 0 ? 999 : 0)) % C;
        n_valid += tv[i] != IGN;
    }
    const float eps = 0.1f, gscale = 0.7f;
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    lt_tensor *x0 = lt_test_rand(310, -3, 3, LT_SHAPE(N, C));
    lt_tensor *x = lt_tensor_leaf(c, LT_SHAPE(N, C), lt_f32(x0));
    lt_tensor *t = lt_tensor_from(c, LT_I32, LT_SHAPE(N), tv);
    lt_tensor *l = lt_cross_entropy(c, x, t, IGN, eps);
    cr_assert(l, "%s", lt_last_error());
    cr_assert_eq(lt_backward_from(c, l, &gscale), LT_OK, "%s", lt_last_error());
    float *ref = malloc(sizeof(float) * N * C);
    for (int i = 0; i < N; i++) {
        const float *xr = lt_f32(x0) + i * C;
        long double s = 0;
        for (int j = 0; j < C; j++) s += expl((long double)xr[j]);
        for (int j = 0; j < C; j++)
            ref[i * C + j] = tv[i] == IGN ? 0.0f
                             : (float)(gscale / (long double)n_valid * (expl((long double)xr[j]) / s - eps / (long double)C -
                                                         (j == tv[i] ? 1 - (long double)eps : 0)));
    }
    lt_assert_allclose("cross_entropy C=1000 grad", ref, x->grad, N * C, 1e-4, 1e-9);
    float want = (float)naive_ce(lt_f32(x0), tv, N, C, IGN, eps);
    lt_assert_allclose("cross_entropy C=1000 loss", &want, lt_f32(l), 1, 1e-5, 1e-6);
    free(ref);
    lt_tensor_free(x0);
    lt_ctx_free(c);
}

// torch: every row ignored gives a NaN loss (0/0) and zero gradients.
Test(cross_entropy, all_rows_ignored_is_nan_with_zero_grad) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    lt_tensor *lg = lt_tensor_leaf(c, LT_SHAPE(2, 3), (float[]){1, 2, 3, 4, 5, 6});
    lt_tensor *t = lt_tensor_from(c, LT_I32, LT_SHAPE(2), (int32_t[]){IGN, IGN});
    lt_tensor *l = lt_cross_entropy(c, lg, t, IGN, 0.0f);
    cr_assert(l, "%s", lt_last_error());
    cr_assert(isnan(lt_tensor_item(l)));
    cr_assert_eq(lt_backward(c, l), LT_OK, "%s", lt_last_error());
    for (int j = 0; j < 6; j++) cr_assert_eq(lg->grad[j], 0.0f);
    lt_ctx_free(c);
}

Test(cross_entropy, bad_input) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    lt_tensor *lg = lt_tensor_zeros(c, LT_F32, LT_SHAPE(4, 5));
    lt_tensor *t = lt_tensor_from(c, LT_I32, LT_SHAPE(4), (int32_t[]){0, 4, 5, 1});
    cr_assert_null(lt_cross_entropy(c, lg, t, IGN, 0.0f));
    const char *e = lt_last_error();
    cr_assert(strstr(e, "cross_entropy") && strstr(e, "target[2]") && strstr(e, "5"), "message: %s", e);
    lt_tensor *tn = lt_tensor_from(c, LT_I32, LT_SHAPE(4), (int32_t[]){0, -1, 1, 1});
    cr_assert_null(lt_cross_entropy(c, lg, tn, IGN, 0.0f));
    cr_assert(strstr(lt_last_error(), "target[1]") && strstr(lt_last_error(), "-1"), "message: %s", lt_last_error());
    // the same -1 is fine when it is the ignore index
    cr_assert(lt_cross_entropy(c, lg, tn, -1, 0.0f), "%s", lt_last_error());
    lt_tensor *tf = lt_tensor_zeros(c, LT_F32, LT_SHAPE(4));
    cr_assert_null(lt_cross_entropy(c, lg, tf, IGN, 0.0f));
    cr_assert_eq(lt_last_status(), LT_ERR_DTYPE);
    cr_assert(strstr(lt_last_error(), "cross_entropy") && strstr(lt_last_error(), "target"), "message: %s",
              lt_last_error());
    lt_tensor *t3 = lt_tensor_zeros(c, LT_I32, LT_SHAPE(3));
    cr_assert_null(lt_cross_entropy(c, lg, t3, IGN, 0.0f));
    cr_assert(strstr(lt_last_error(), "[4,5]") && strstr(lt_last_error(), "[3]"), "message: %s", lt_last_error());
    lt_tensor *t4 = lt_tensor_zeros(c, LT_I32, LT_SHAPE(4));
    cr_assert_null(lt_cross_entropy(c, lg, t4, IGN, 1.0f));
    cr_assert(strstr(lt_last_error(), "label_smoothing"), "message: %s", lt_last_error());
    cr_assert_null(lt_cross_entropy(c, lg, t4, IGN, -0.1f));
    lt_ctx_free(c);
}

Test(softmax, backward_accumulates_softmax_and_cross_entropy) {
    for (int log_out = 0; log_out < 2; log_out++) {
        lt_tensor *x = lt_test_rand(400 + log_out, -2, 2, LT_SHAPE(3, 5, 7));
        x->requires_grad = 1;
        lt_assert_accumulates(log_out ? "log_softmax accumulates" : "softmax accumulates", sm_fn, &log_out, 1, &x);
        lt_tensor_free(x);
    }
    const int32_t tv[7] = {0, 4, IGN, 2, IGN, 1, 3};
    ce_args a = {IGN, 0.1f};
    lt_tensor *in[2] = {lt_test_rand(410, -3, 3, LT_SHAPE(7, 5)), targets(7, tv)};
    in[0]->requires_grad = 1;
    lt_assert_accumulates("cross_entropy accumulates", ce_fn, &a, 2, in);
    lt_tensor_free(in[0]); lt_tensor_free(in[1]);
}

// 40 rows of 1000: the row loops run on several threads.
Test(softmax, large_parallel_path) {
    int shape[2] = {40, 1000};
    for (int log_out = 0; log_out < 2; log_out++) {
        lt_tensor *x = lt_test_rand(500 + log_out, -5, 5, 2, shape);
        lt_ctx *c = lt_ctx_new(LT_CPU, 1);
        c->arena.poison = 1;
        lt_tensor *y = sm_fn(c, &x, &log_out);
        cr_assert(y, "%s", lt_last_error());
        float *ref = malloc(sizeof(float) * 40000);
        naive_softmax(lt_f32(x), 40, 1000, log_out, ref);
        lt_assert_allclose(log_out ? "log_softmax 40x1000" : "softmax 40x1000", ref, lt_f32(y), 40000, 1e-5,
                           log_out ? 1e-5 : 1e-7);
        free(ref);
        lt_ctx_free(c);
        x->requires_grad = 1;
        lt_assert_gradcheck_n(log_out ? "log_softmax 40x1000" : "softmax 40x1000", sm_fn, &log_out, 1, &x, 150);
        lt_tensor_free(x);
    }
}
