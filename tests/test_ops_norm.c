// layernorm and rmsnorm, with and without w/b: forward against long-double
// loops, gradcheck of x, w and b, bad input.
#include "lt_test.h"

#include <stdlib.h>

typedef struct { int nd, s[3]; } shape_case;
static const shape_case SHAPES[] = {{2, {4, 1}}, {3, {3, 5, 7}}, {2, {2, 63}}, {2, {2, 1000}}};
#define N_SHAPES (int)(sizeof SHAPES / sizeof SHAPES[0])
#define EPS 1e-5f

static void naive_norm(int rms, const float *x, const float *w, const float *b, int64_t rows, int d, float eps,
                       float *y) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        long double mean = 0, var = 0;
        if (!rms) {
            for (int j = 0; j < d; j++) mean += xr[j];
            mean /= d;
        }
        for (int j = 0; j < d; j++) var += (xr[j] - mean) * (xr[j] - mean);
        var /= d;
        for (int j = 0; j < d; j++) {
            long double v = (xr[j] - mean) / sqrtl(var + eps);
            if (w) v *= w[j];
            if (b) v += b[j];
            y[r * d + j] = (float)v;
        }
    }
}

typedef struct { int rms, has_w, has_b; float eps; } norm_args;

// in: x, w, b (w and b used only when asked)
static lt_tensor *norm_fn(lt_ctx *c, lt_tensor **in, void *ud) {
    const norm_args *a = ud;
    lt_tensor *w = a->has_w ? in[1] : NULL, *b = a->has_b ? in[2] : NULL;
    return a->rms ? lt_rmsnorm(c, in[0], w, a->eps) : lt_layernorm(c, in[0], w, b, a->eps);
}

static void run_forward(int rms, int has_w, int has_b, const shape_case *sc, uint64_t seed, float lo, float hi,
                        float eps, double rtol, double atol) {
    int d = sc->s[sc->nd - 1];
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    c->arena.poison = 1;
    lt_tensor *in[3] = {lt_test_rand(seed, lo, hi, sc->nd, sc->s), lt_test_rand(seed + 1, 0.5f, 1.5f, LT_SHAPE(d)),
                        lt_test_rand(seed + 2, -1, 1, LT_SHAPE(d))};
    norm_args a = {rms, has_w, has_b, eps};
    lt_tensor *y = norm_fn(c, in, &a);
    cr_assert(y, "%s", lt_last_error());
    cr_assert_eq(y->ndim, sc->nd);
    for (int i = 0; i < sc->nd; i++) cr_assert_eq(y->shape[i], sc->s[i]);
    float *ref = malloc(sizeof(float) * (size_t)y->numel);
    naive_norm(rms, lt_f32(in[0]), has_w ? lt_f32(in[1]) : NULL, has_b ? lt_f32(in[2]) : NULL, y->numel / d, d, eps, ref);
    char name[96];
    snprintf(name, sizeof name, "%s w%d b%d D=%d x in [%g,%g)", rms ? "rmsnorm" : "layernorm", has_w, has_b, d, lo,
             hi);
    lt_assert_allclose(name, ref, lt_f32(y), y->numel, rtol, atol);
    free(ref);
    for (int i = 0; i < 3; i++) lt_tensor_free(in[i]);
    lt_ctx_free(c);
}

Test(norm, layernorm_forward_matches_naive) {
    for (int k = 0; k < N_SHAPES; k++)
        for (int wb = 0; wb < 4; wb++) run_forward(0, wb & 1, wb >> 1, &SHAPES[k], 10 + 10 * k + wb, -3, 3, EPS, 1e-5, 1e-5);
}

Test(norm, layernorm_large_mean_small_spread) {
    // stays accurate when the mean dwarfs the spread (variance taken around the mean)
    run_forward(0, 1, 1, &SHAPES[2], 90, 1000, 1001, EPS, 1e-3, 1e-3);
}

Test(norm, rmsnorm_forward_matches_naive) {
    for (int k = 0; k < N_SHAPES; k++)
        for (int w = 0; w < 2; w++) run_forward(1, w, 0, &SHAPES[k], 100 + 10 * k + w, -3, 3, EPS, 1e-5, 1e-5);
}

Test(norm, eps_enters_under_the_root) {
    // spread comparable to eps, so a misplaced eps shows
    for (int rms = 0; rms < 2; rms++) run_forward(rms, 1, !rms, &SHAPES[1], 95 + rms, -0.5f, 0.5f, 0.1f, 1e-5, 1e-5);
}

Test(norm, gradcheck_layernorm_and_rmsnorm) {
    for (int rms = 0; rms < 2; rms++)
        for (int k = 0; k < N_SHAPES; k++)
            for (int wb = 0; wb < (rms ? 2 : 4); wb++) {
                const shape_case *sc = &SHAPES[k];
                int d = sc->s[sc->nd - 1];
                uint64_t seed = 300 + 100 * rms + 10 * k + wb;
                lt_tensor *in[3] = {lt_test_rand(seed, -2, 2, sc->nd, sc->s),
                                    lt_test_rand(seed + 1, 0.5f, 1.5f, LT_SHAPE(d)),
                                    lt_test_rand(seed + 2, -1, 1, LT_SHAPE(d))};
                // rmsnorm over D = 1 is x / sqrt(x^2 + eps): with a tiny eps its slope
                // eps / (x^2 + eps)^1.5 is below float resolution, so use a large one
                norm_args a = {rms, wb & 1, wb >> 1, d == 1 ? 0.5f : EPS};
                // layernorm over D = 1 is constant in x: a zero gradient has no relative error to check
                int x_const = !rms && d == 1;
                in[0]->requires_grad = (unsigned char)!x_const;
                in[1]->requires_grad = (unsigned char)a.has_w;
                in[2]->requires_grad = (unsigned char)a.has_b;
                char name[64];
                snprintf(name, sizeof name, "%s w%d b%d D=%d", rms ? "rmsnorm" : "layernorm", a.has_w, a.has_b, d);
                if (in[0]->requires_grad || in[1]->requires_grad || in[2]->requires_grad)
                    lt_assert_gradcheck(name, norm_fn, &a, 3, in, 1e-2);
                for (int i = 0; i < 3; i++) lt_tensor_free(in[i]);
            }
}

// D = 1: y = b whatever x, so x's gradient is zero up to rounding amplified by
// rstd = 1/sqrt(eps), and w's is exactly zero.
Test(norm, layernorm_width_one_gradient_is_zero) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    lt_tensor *x = lt_tensor_leaf(c, LT_SHAPE(4, 1), (float[]){0.3f, -1.7f, 2.5f, 0.0f});
    lt_tensor *w = lt_tensor_leaf(c, LT_SHAPE(1), (float[]){1.3f}), *b = lt_tensor_leaf(c, LT_SHAPE(1), (float[]){0.2f});
    lt_tensor *y = lt_layernorm(c, x, w, b, EPS);
    cr_assert(y, "%s", lt_last_error());
    for (int i = 0; i < 4; i++) cr_assert_float_eq(lt_f32(y)[i], 0.2f, 1e-7);
    float g[4] = {0.5f, -1.0f, 0.25f, 2.0f};
    cr_assert_eq(lt_backward_from(c, y, g), LT_OK, "%s", lt_last_error());
    for (int i = 0; i < 4; i++) cr_assert(fabsf(x->grad[i]) < 1e-4f, "x grad %d = %g", i, x->grad[i]);
    cr_assert_eq(w->grad[0], 0.0f);
    cr_assert_float_eq(b->grad[0], 1.75f, 1e-6);
    lt_ctx_free(c);
}

// Frozen x: only the parameter gradients are computed.
Test(norm, gradcheck_params_only) {
    for (int rms = 0; rms < 2; rms++) {
        lt_tensor *in[3] = {lt_test_rand(500 + rms, -2, 2, LT_SHAPE(3, 5, 7)), lt_test_rand(510, 0.5f, 1.5f, LT_SHAPE(7)),
                            lt_test_rand(520, -1, 1, LT_SHAPE(7))};
        norm_args a = {rms, 1, !rms, EPS};
        in[1]->requires_grad = 1;
        in[2]->requires_grad = (unsigned char)!rms;
        lt_assert_gradcheck(rms ? "rmsnorm params" : "layernorm params", norm_fn, &a, 3, in, 1e-2);
        cr_assert_null(in[0]->grad);
        for (int i = 0; i < 3; i++) lt_tensor_free(in[i]);
    }
}

Test(norm, bad_input) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    lt_tensor *x = lt_tensor_zeros(c, LT_F32, LT_SHAPE(3, 7)), *w6 = lt_tensor_zeros(c, LT_F32, LT_SHAPE(6));
    cr_assert_null(lt_layernorm(c, x, w6, NULL, EPS));
    cr_assert(strstr(lt_last_error(), "layernorm") && strstr(lt_last_error(), "[6]") &&
              strstr(lt_last_error(), "[3,7]"), "message: %s", lt_last_error());
    cr_assert_null(lt_layernorm(c, x, NULL, w6, EPS));
    cr_assert(strstr(lt_last_error(), "layernorm") && strstr(lt_last_error(), "b"), "message: %s", lt_last_error());
    cr_assert_null(lt_rmsnorm(c, x, w6, EPS));
    cr_assert(strstr(lt_last_error(), "rmsnorm") && strstr(lt_last_error(), "[6]"), "message: %s", lt_last_error());
    lt_tensor *xi = lt_tensor_zeros(c, LT_I32, LT_SHAPE(3, 7));
    cr_assert_null(lt_rmsnorm(c, xi, NULL, EPS));
    cr_assert_eq(lt_last_status(), LT_ERR_DTYPE);
    lt_tensor *wi = lt_tensor_zeros(c, LT_I32, LT_SHAPE(7));
    cr_assert_null(lt_layernorm(c, x, wi, NULL, EPS));
    cr_assert_eq(lt_last_status(), LT_ERR_DTYPE);
    cr_assert_null(lt_layernorm(c, x, NULL, NULL, -1.0f));
    cr_assert(strstr(lt_last_error(), "eps"), "message: %s", lt_last_error());
    lt_ctx_free(c);
}

Test(norm, backward_accumulates) {
    for (int rms = 0; rms < 2; rms++) {
        lt_tensor *in[3] = {lt_test_rand(600 + rms, -2, 2, LT_SHAPE(3, 5, 7)), lt_test_rand(610, 0.5f, 1.5f, LT_SHAPE(7)),
                            lt_test_rand(620, -1, 1, LT_SHAPE(7))};
        norm_args a = {rms, 1, !rms, EPS};
        in[0]->requires_grad = in[1]->requires_grad = 1;
        in[2]->requires_grad = (unsigned char)!rms;
        lt_assert_accumulates(rms ? "rmsnorm accumulates" : "layernorm accumulates", norm_fn, &a, 3, in);
        for (int i = 0; i < 3; i++) lt_tensor_free(in[i]);
    }
}

// 64 rows of 1000 features: row loops and the w/b column blocks run on several threads.
Test(norm, large_parallel_path) {
    static const shape_case big = {2, {64, 1000}};
    run_forward(0, 1, 1, &big, 700, -3, 3, EPS, 1e-5, 1e-5);
    run_forward(1, 1, 0, &big, 701, -3, 3, EPS, 1e-5, 1e-5);
    for (int rms = 0; rms < 2; rms++) {
        lt_tensor *in[3] = {lt_test_rand(710 + rms, -2, 2, 2, big.s), lt_test_rand(720, 0.5f, 1.5f, LT_SHAPE(1000)),
                            lt_test_rand(730, -1, 1, LT_SHAPE(1000))};
        norm_args a = {rms, 1, !rms, EPS};
        in[0]->requires_grad = in[1]->requires_grad = 1;
        in[2]->requires_grad = (unsigned char)!rms;
        lt_assert_gradcheck_n(rms ? "rmsnorm 64x1000" : "layernorm 64x1000", norm_fn, &a, 3, in, 120);
        for (int i = 0; i < 3; i++) lt_tensor_free(in[i]);
    }
}
