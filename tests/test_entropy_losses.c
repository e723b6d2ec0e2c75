// softmax_entropy (forward against a long-double loop without the max trick,
// masking, gradcheck), AEM (value against sum p log p, gradient against
// lambda p_k (s_k - s_bar)), the lambda schedule, the entropy-guided
// regularizer (hand-computed case, naive loops, closed-form gradients, dead
// zone, gradcheck) and the entropy floor; bad input for each.
#include "lt_test.h"
#include "layers/entropy_losses.h"

#include <float.h>

static const int ROWS[][2] = {{4, 1}, {3, 7}, {2, 63}, {2, 1000}};
#define N_ROWS (int)(sizeof ROWS / sizeof ROWS[0])

// Entropy and its gradient factor of each row, straight from the definition;
// entries at or below -1e8 are masked (p = 0).
static void naive_entropy(const float *x, int64_t rows, int d, double *h, double *mu) {
    for (int64_t r = 0; r < rows; r++) {
        const float *s = x + r * d;
        long double z = 0, m = 0;
        for (int j = 0; j < d; j++) if (s[j] > -1e8f) z += expl((long double)s[j]);
        long double ent = 0;
        for (int j = 0; j < d; j++) {
            if (s[j] <= -1e8f) continue;
            long double p = expl((long double)s[j]) / z;
            ent -= p * logl(p);
            m += p * s[j];
        }
        h[r] = (double)ent;
        if (mu) mu[r] = (double)m;
    }
}

static float *to_float(const double *v, int64_t n) {
    float *f = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) f[i] = (float)v[i];
    return f;
}

static lt_tensor *ent_fn(lt_ctx *c, lt_tensor **in, void *ud) { return lt_softmax_entropy(c, in[0]); }

Test(softmax_entropy, forward_matches_naive) {
    for (int k = 0; k < N_ROWS; k++)
        for (int range = 0; range < 3; range++) {
            lt_ctx *c = lt_test_ctx(1);
            // range 2: logits near 1000 (exp overflows without a shift); range 1: peaked rows
            float lo = range == 2 ? 990 : range == 1 ? -30 : -3, hi = range == 2 ? 1010 : range == 1 ? 30 : 3;
            lt_tensor *x = lt_test_rand(10 * k + range, lo, hi, 2, ROWS[k]);
            lt_tensor *y = lt_softmax_entropy(c, x);
            cr_assert(y, "%s", lt_last_error());
            cr_assert(y->ndim == 1 && y->shape[0] == ROWS[k][0], "shape");
            double h[4];
            float hf[4];
            if (range == 2) {
                // shift exactly representable: same entropy, no overflow in the reference
                float *xs = malloc(sizeof(float) * (size_t)x->numel);
                for (int64_t i = 0; i < x->numel; i++) xs[i] = lt_f32(x)[i] - 1000.0f;
                naive_entropy(xs, ROWS[k][0], ROWS[k][1], h, NULL);
                free(xs);
            } else {
                naive_entropy(lt_f32(x), ROWS[k][0], ROWS[k][1], h, NULL);
            }
            for (int r = 0; r < ROWS[k][0]; r++) hf[r] = (float)h[r];
            char name[64];
            snprintf(name, sizeof name, "entropy rows of %d range %d", ROWS[k][1], range);
            lt_assert_allclose(name, hf, lt_f32(y), ROWS[k][0], 1e-4, 2e-5);
            lt_tensor_free(x);
            lt_ctx_free(c);
        }
}

Test(softmax_entropy, shapes_uniform_and_one_hot) {
    lt_ctx *c = lt_test_ctx(2);
    lt_tensor *x3 = lt_test_rand(3, -2, 2, LT_SHAPE(3, 5, 7));
    lt_tensor *y3 = lt_softmax_entropy(c, x3);
    cr_assert(y3 && y3->ndim == 2 && y3->shape[0] == 3 && y3->shape[1] == 5, "%s", lt_last_error());
    double h[15];
    naive_entropy(lt_f32(x3), 15, 7, h, NULL);
    float *hf = to_float(h, 15);
    lt_assert_allclose("3x5x7", hf, lt_f32(y3), 15, 1e-5, 1e-6);
    free(hf);
    // 1-D input: a scalar; uniform gives log N
    lt_tensor *u = lt_tensor_zeros(c, LT_F32, LT_SHAPE(1000));
    lt_tensor *yu = lt_softmax_entropy(c, u);
    cr_assert(yu && yu->ndim == 0 && yu->numel == 1, "%s", lt_last_error());
    cr_assert(fabs(lt_tensor_item(yu) - log(1000.0)) < 1e-5, "uniform: %.9g", lt_tensor_item(yu));
    // a dominant logit: entropy near 0, never negative
    float oh[3] = {200, 0, 0};
    lt_tensor *yo = lt_softmax_entropy(c, lt_tensor_from(c, LT_F32, LT_SHAPE(3), oh));
    cr_assert(yo && lt_tensor_item(yo) >= 0 && lt_tensor_item(yo) < 1e-30, "one-hot: %g", lt_tensor_item(yo));
    // one entry: 0
    lt_tensor *y1 = lt_softmax_entropy(c, lt_tensor_from(c, LT_F32, LT_SHAPE(1), (float[]){-7}));
    cr_assert(y1 && lt_tensor_item(y1) == 0.0f);
    lt_tensor_free(x3);
    lt_ctx_free(c);
}

// Masked entries (-inf, -1e9) give the entropy of the row without them and a zero gradient.
Test(softmax_entropy, masked_entries_contribute_nothing) {
    const int d = 63, rows = 3;
    lt_tensor *x = lt_test_rand(21, -4, 4, LT_SHAPE(rows, d));
    float *xv = lt_f32(x);
    for (int j = 0; j < d; j += 3) xv[0 * d + j] = -INFINITY;
    for (int j = 1; j < d; j += 2) xv[1 * d + j] = -1e9f;
    for (int j = 0; j < d - 1; j++) xv[2 * d + j] = j % 2 ? -INFINITY : -1e9f;   // one live entry
    x->requires_grad = 1;
    lt_ctx *c = lt_test_ctx(3);
    lt_tensor *y = lt_softmax_entropy(c, x);
    cr_assert(y, "%s", lt_last_error());
    double h[3], mu[3];
    float *nx = malloc(sizeof(float) * (size_t)x->numel);
    for (int i = 0; i < rows * d; i++) nx[i] = isinf(xv[i]) ? -1e9f : xv[i];
    naive_entropy(nx, rows, d, h, mu);
    float *hf = to_float(h, rows);
    lt_assert_allclose("masked entropy", hf, lt_f32(y), rows, 1e-5, 1e-6);
    cr_assert(lt_f32(y)[2] == 0.0f, "single live entry: %g", lt_f32(y)[2]);
    float g[3] = {1.0f, -0.5f, 2.0f};
    cr_assert_eq(lt_backward_from(c, y, g), LT_OK, "%s", lt_last_error());
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < d; j++) {
            float gr = x->grad[r * d + j];
            cr_assert(isfinite(gr), "grad[%d,%d] = %g", r, j, gr);
            if (nx[r * d + j] <= -1e8f) { cr_assert(gr == 0.0f, "masked grad[%d,%d] = %g", r, j, gr); continue; }
            long double z = 0;
            for (int i = 0; i < d; i++) if (nx[r * d + i] > -1e8f) z += expl((long double)nx[r * d + i]);
            double p = (double)(expl((long double)nx[r * d + j]) / z);
            double want = -g[r] * p * (nx[r * d + j] - mu[r]);
            cr_assert(fabs(gr - want) <= 1e-5 + 1e-4 * fabs(want), "grad[%d,%d] %g want %g", r, j, gr, want);
        }
    x->grad = NULL;
    free(hf);
    free(nx);
    lt_ctx_free(c);
    lt_tensor_free(x);
}

// Rows of 1000: each gradient entry is about p_j ~ 1/N while the f32 entropy
// (about log N) rounds at 5e-7, so central differences need a larger step
// (1e-2 relative) and logits spread enough that the gradient stands out.
static void gradcheck_long_rows(const char *name, lt_gradcheck_fn fn, void *ud, lt_tensor **x) {
    for (int64_t i = 0; i < x[0]->numel; i++) lt_f32(x[0])[i] *= 4;
    lt_gradcheck_opts o = {1e-2, 1e-2, 300, 44};
    lt_gradcheck_result r;
    cr_assert(lt_gradcheck(fn, ud, 1, x, &o, &r) == LT_OK, "%s: %s", name, lt_last_error());
    cr_assert(r.n_checked >= 200, "%s: %lld checked", name, (long long)r.n_checked);
}

Test(softmax_entropy, gradcheck_odd_shapes) {
    static const int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {1, 1, 63}, {1, 2, 1000}};
    for (int k = 0; k < 4; k++) {
        lt_tensor *x = lt_test_rand(40 + k, -2, 2, 3, shapes[k]);
        if (k == 1) lt_f32(x)[4] = -1e9f;   // a masked entry keeps a zero gradient
        x->requires_grad = 1;
        char name[64];
        snprintf(name, sizeof name, "softmax_entropy %dx%dx%d", shapes[k][0], shapes[k][1], shapes[k][2]);
        if (k == 3) gradcheck_long_rows(name, ent_fn, NULL, &x);
        else lt_assert_gradcheck(name, ent_fn, NULL, 1, &x, 1e-2);
        lt_assert_accumulates(name, ent_fn, NULL, 1, &x);
        lt_tensor_free(x);
    }
    // 1-D input: scalar output
    lt_tensor *v = lt_test_rand(49, -3, 3, LT_SHAPE(7));
    v->requires_grad = 1;
    lt_assert_gradcheck("softmax_entropy [7]", ent_fn, NULL, 1, &v, 1e-2);
    lt_tensor_free(v);
}

Test(softmax_entropy, large_rows_multithreaded_match_naive) {
    lt_ctx *c = lt_test_ctx(4);
    lt_tensor *x = lt_test_rand(50, -6, 6, LT_SHAPE(70, 999));
    lt_tensor *y = lt_softmax_entropy(c, x);
    cr_assert(y, "%s", lt_last_error());
    double *h = malloc(sizeof(double) * 70);
    naive_entropy(lt_f32(x), 70, 999, h, NULL);
    float *hf = to_float(h, 70);
    lt_assert_allclose("70x999", hf, lt_f32(y), 70, 1e-5, 1e-6);
    free(h);
    free(hf);
    lt_tensor_free(x);
    lt_ctx_free(c);
}

Test(softmax_entropy, bad_input) {
    lt_ctx *c = lt_test_ctx(5);
    LT_EXPECT_ERROR(lt_softmax_entropy(c, lt_tensor_zeros(c, LT_I32, LT_SHAPE(3, 4))), "softmax_entropy", "i32");
    LT_EXPECT_ERROR(lt_softmax_entropy(c, lt_tensor_zeros(c, LT_F32, 0, (int[]){1})), "softmax_entropy", "scalar");
    float r[6] = {1, 2, 3, -INFINITY, -INFINITY, -INFINITY};
    LT_EXPECT_ERROR(lt_softmax_entropy(c, lt_tensor_from(c, LT_F32, LT_SHAPE(2, 3), r)), "softmax_entropy", "row 1",
                    "-inf");
    cr_assert_null(lt_softmax_entropy(c, NULL));
    lt_ctx_free(c);
}

// ---- AEM ----

// lambda * mean over rows of sum p log p, and its gradient lambda/rows * p (s - s_bar).
static double naive_aem(const float *s, int rows, int n, double lambda, double *grad) {
    double total = 0;
    for (int r = 0; r < rows; r++) {
        const float *x = s + (int64_t)r * n;
        long double z = 0, sbar = 0, plogp = 0;
        for (int j = 0; j < n; j++) z += expl((long double)x[j]);
        for (int j = 0; j < n; j++) {
            long double p = expl((long double)x[j]) / z;
            if (p > 0) plogp += p * logl(p);
            sbar += p * x[j];
        }
        total += (double)plogp;
        for (int j = 0; j < n; j++) {
            long double p = expl((long double)x[j]) / z;
            grad[(int64_t)r * n + j] = lambda / rows * (double)(p * (x[j] - sbar));
        }
    }
    return lambda * total / rows;
}

typedef struct { float lambda; } aem_args;
static lt_tensor *aem_fn(lt_ctx *c, lt_tensor **in, void *ud) { return lt_aem_loss(c, in[0], ((aem_args *)ud)->lambda); }

Test(aem, value_and_gradient_match_closed_form) {
    // single bag [N], [1,N]; multi-head [8,N]; batch of multi-head bags [2,8,N]
    static const int shapes[][3] = {{63, 0, 0}, {1, 1000, 0}, {8, 37, 0}, {2, 8, 7}};
    static const int nds[] = {1, 2, 2, 3};
    for (int k = 0; k < 4; k++) {
        lt_tensor *s = lt_test_rand(60 + k, -3, 3, nds[k], shapes[k]);
        s->requires_grad = 1;
        int n = s->shape[s->ndim - 1], rows = (int)(s->numel / n);
        float lambda = 0.1f + 0.2f * k;
        lt_ctx *c = lt_test_ctx(6);
        lt_tensor *loss = lt_aem_loss(c, s, lambda);
        cr_assert(loss && loss->ndim == 0, "%s", lt_last_error());
        double *g = malloc(sizeof(double) * (size_t)s->numel);
        double want = naive_aem(lt_f32(s), rows, n, lambda, g);
        cr_assert(want < 0, "sum p log p is negative");
        cr_assert(fabs(lt_tensor_item(loss) - want) <= 1e-5 * fabs(want) + 1e-7, "shape %d: loss %.9g want %.9g", k,
                  lt_tensor_item(loss), want);
        cr_assert_eq(lt_backward(c, loss), LT_OK, "%s", lt_last_error());
        float *gf = to_float(g, s->numel);
        char name[64];
        snprintf(name, sizeof name, "aem grad, shape %d", k);
        lt_assert_allclose(name, gf, s->grad, s->numel, 1e-4, 1e-7);
        s->grad = NULL;
        free(g);
        free(gf);
        lt_ctx_free(c);
        aem_args a = {lambda};
        if (n == 1000) gradcheck_long_rows(name, aem_fn, &a, &s);
        else lt_assert_gradcheck(name, aem_fn, &a, 1, &s, 1e-2);
        lt_tensor_free(s);
    }
}

Test(aem, gradient_zero_at_uniform_and_masked_instances_ignored) {
    lt_ctx *c = lt_test_ctx(7);
    lt_tensor *u = lt_tensor_leaf(c, LT_SHAPE(1, 9), (float[]){2, 2, 2, 2, 2, 2, 2, 2, 2});
    lt_tensor *lu = lt_aem_loss(c, u, 0.5f);
    cr_assert(lu, "%s", lt_last_error());
    cr_assert(fabs(lt_tensor_item(lu) + 0.5 * log(9.0)) < 1e-6, "uniform: %g", lt_tensor_item(lu));
    cr_assert_eq(lt_backward(c, lu), LT_OK);
    for (int j = 0; j < 9; j++) cr_assert(fabsf(u->grad[j]) < 1e-7f, "grad %d = %g", j, u->grad[j]);
    // -1e9 (ACMIL masking) and -inf: the loss of the live instances only
    float s[6] = {0.3f, -1e9f, 1.2f, -INFINITY, -0.7f, -1e9f}, live[3] = {0.3f, 1.2f, -0.7f};
    lt_tensor *m = lt_tensor_leaf(c, LT_SHAPE(6), s);
    lt_tensor *lm = lt_aem_loss(c, m, 1.0f);
    double g[3];
    double want = naive_aem(live, 1, 3, 1.0, g);
    cr_assert(lm && fabs(lt_tensor_item(lm) - want) < 1e-6, "masked: %g want %g", lt_tensor_item(lm), want);
    cr_assert_eq(lt_backward(c, lm), LT_OK);
    int live_at[3] = {0, 2, 4};
    for (int i = 0; i < 3; i++)
        cr_assert(fabs(m->grad[live_at[i]] - g[i]) < 1e-6, "grad %d: %g want %g", i, m->grad[live_at[i]], g[i]);
    cr_assert(m->grad[1] == 0 && m->grad[3] == 0 && m->grad[5] == 0, "masked grads must be exactly 0");
    lt_ctx_free(c);
}

Test(aem, bad_input) {
    lt_ctx *c = lt_test_ctx(8);
    lt_tensor *s = lt_tensor_zeros(c, LT_F32, LT_SHAPE(4));
    LT_EXPECT_ERROR(lt_aem_loss(c, s, -0.1f), "aem_loss", "lambda", "-0.1");
    LT_EXPECT_ERROR(lt_aem_loss(c, s, NAN), "aem_loss", "lambda");
    LT_EXPECT_ERROR(lt_aem_loss(c, lt_tensor_zeros(c, LT_F32, 0, (int[]){1}), 0.1f), "aem_loss", "scalar");
    LT_EXPECT_ERROR(lt_aem_loss(c, lt_tensor_zeros(c, LT_I32, LT_SHAPE(4)), 0.1f), "aem_loss", "i32");
    lt_ctx_free(c);
}

// ---- lambda schedule ----

Test(lambda_schedule, constant_and_cosine_values) {
    lt_lambda_schedule k = {LT_LAMBDA_CONSTANT, 0.3f, 0.0f, 0};
    for (int64_t e = 0; e < 100; e += 13) cr_assert(lt_lambda_at(&k, e) == 0.3f);
    lt_lambda_schedule s = {LT_LAMBDA_COSINE, 0.1f, 0.01f, 25};
    cr_assert(fabsf(lt_lambda_at(&s, 0) - 0.1f) < 1e-7f);
    for (int64_t e = 1; e < 25; e++) {
        double want = 0.01 + 0.09 * 0.5 * (1 + cos(3.14159265358979323846 * e / 25.0));
        cr_assert(fabs(lt_lambda_at(&s, e) - want) < 1e-7, "e=%lld: %.9g want %.9g", (long long)e,
                  lt_lambda_at(&s, e), want);
        cr_assert(lt_lambda_at(&s, e) < lt_lambda_at(&s, e - 1), "decreasing at %lld", (long long)e);
    }
    // E_a = 24: the midpoint is the mean of the ends
    lt_lambda_schedule h = {LT_LAMBDA_COSINE, 1.0f, 0.2f, 24};
    cr_assert(fabsf(lt_lambda_at(&h, 12) - 0.6f) < 1e-6f, "mid: %g", lt_lambda_at(&h, 12));
    cr_assert(lt_lambda_at(&s, 25) == 0.01f && lt_lambda_at(&s, 1000) == 0.01f);
}

Test(lambda_schedule, parse) {
    lt_lambda_schedule s;
    cr_assert_eq(lt_lambda_schedule_parse("0.1", &s), LT_OK, "%s", lt_last_error());
    cr_assert(s.kind == LT_LAMBDA_CONSTANT && s.lambda0 == 0.1f && lt_lambda_at(&s, 7) == 0.1f);
    cr_assert_eq(lt_lambda_schedule_parse("constant:0.25", &s), LT_OK, "%s", lt_last_error());
    cr_assert(s.kind == LT_LAMBDA_CONSTANT && s.lambda0 == 0.25f);
    cr_assert_eq(lt_lambda_schedule_parse("cosine:0.1:0.01:25", &s), LT_OK, "%s", lt_last_error());
    cr_assert(s.kind == LT_LAMBDA_COSINE && s.lambda0 == 0.1f && s.lambda_final == 0.01f && s.anneal_steps == 25);
    cr_assert_eq(lt_lambda_schedule_parse("0", &s), LT_OK);
    cr_assert(s.lambda0 == 0.0f);
    static const char *bad[][2] = {
        {"", "empty"}, {"abc", "lambda0"}, {"-0.1", "lambda0"}, {"0.1:5", "one value"},
        {"cosine:0.1", "cosine:LAMBDA0"}, {"cosine:0.1:x:25", "lambda_final"}, {"cosine:0.1:0.01:0", "STEPS"},
        {"cosine:0.1:0.01:2.5", "STEPS"}, {"cosine:0.1:0.01", "cosine:LAMBDA0"}, {"inf", "lambda0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        LT_EXPECT_FAIL(lt_lambda_schedule_parse(bad[i][0], &s), "lambda schedule", bad[i][1]);
        if (*bad[i][0]) cr_assert(strstr(lt_last_error(), bad[i][0]), "message names the string: %s", lt_last_error());
    }
}

// ---- entropy-guided regularizer ----

typedef struct { int L, H, B, T; } eg_dims;

// Naive Algorithm 1 (paper) or the official code's sums, with closed-form gradients.
static double naive_eg(const eg_dims *d, float *const *ent, const float *theta, double t_ctx, double gamma, int code,
                       double **g_ent, double *g_theta, double *closest) {
    double e_max = log(t_ctx), margin = gamma * e_max, total = 0, norm = 1.0 / (d->L * d->H);
    *closest = INFINITY;
    for (int l = 0; l < d->L; l++)
        for (int h = 0; h < d->H; h++) {
            double target = theta[l * d->H + h] * e_max, gth = 0;
            if (!code) {
                double m = 0;
                for (int b = 0; b < d->B; b++)
                    for (int t = 0; t < d->T; t++) m += ent[l][(b * d->H + h) * d->T + t];
                m /= d->B * d->T;
                double delta = m - target, on = fabs(delta) > margin;
                *closest = fmin(*closest, fabs(fabs(delta) - margin));
                total += on * delta * delta * norm;
                for (int b = 0; b < d->B; b++)
                    for (int t = 0; t < d->T; t++)
                        g_ent[l][(b * d->H + h) * d->T + t] = 2 * delta * on * norm / (d->B * d->T);
                gth = -e_max * 2 * delta * on * norm;
            } else {
                for (int b = 0; b < d->B; b++)
                    for (int t = 0; t < d->T; t++) {
                        int i = (b * d->H + h) * d->T + t;
                        double delta = ent[l][i] - target, on = fabs(delta) > margin;
                        *closest = fmin(*closest, fabs(fabs(delta) - margin));
                        total += on * delta * delta * norm;
                        g_ent[l][i] = 2 * delta * on * norm;
                        gth += -e_max * 2 * delta * on * norm;
                    }
            }
            g_theta[l * d->H + h] = gth;
        }
    return total;
}

typedef struct { int L; float t_ctx, gamma; int reduction; } eg_args;

static lt_tensor *eg_fn(lt_ctx *c, lt_tensor **in, void *ud) {
    const eg_args *a = ud;
    return lt_entropy_guided_loss(c, a->L, in, in[a->L], a->t_ctx, a->gamma, a->reduction);
}

Test(entropy_guided, hand_computed_both_reductions) {
    // E_max = log(e) = 1, margin 0.2. Head 0: rows {0.45, 0.95}, theta 0.3; head 1: rows {0.3, 0.35}, theta 0.7.
    // paper: means 0.7 and 0.325, deltas 0.4 and -0.375: (0.16 + 0.140625) / 2
    // code: deltas 0.15 (inside), 0.65, -0.4, -0.35: (0.4225 + 0.16 + 0.1225) / 2
    lt_ctx *c = lt_test_ctx(9);
    lt_tensor *e = lt_tensor_from(c, LT_F32, LT_SHAPE(1, 2, 2), (float[]){0.45f, 0.95f, 0.3f, 0.35f});
    lt_tensor *th = lt_tensor_from(c, LT_F32, LT_SHAPE(1, 2), (float[]){0.3f, 0.7f});
    float t_ctx = expf(1.0f);
    lt_tensor *lp = lt_entropy_guided_loss(c, 1, &e, th, t_ctx, 0.2f, LT_EG_PAPER);
    lt_tensor *lc = lt_entropy_guided_loss(c, 1, &e, th, t_ctx, 0.2f, LT_EG_CODE);
    cr_assert(lp && lc, "%s", lt_last_error());
    cr_assert(lp->ndim == 0 && lc->ndim == 0);
    cr_assert(fabs(lt_tensor_item(lp) - 0.1503125) < 1e-5, "paper: %.9g", lt_tensor_item(lp));
    cr_assert(fabs(lt_tensor_item(lc) - 0.3525) < 1e-5, "code: %.9g", lt_tensor_item(lc));
    lt_ctx_free(c);
}

Test(entropy_guided, random_matches_naive_with_closed_form_gradients) {
    eg_dims d = {3, 4, 2, 5};
    float t_ctx = 5.0f, gamma = 0.2f;
    for (int code = 0; code < 2; code++) {
        lt_tensor *in[4];
        double *g_ent[3], g_theta[12], closest = 0, want = 0;
        for (int l = 0; l < d.L; l++) g_ent[l] = malloc(sizeof(double) * (size_t)(d.B * d.H * d.T));
        // the first seed whose deltas all stay clear of the discontinuity at |delta| = margin
        // (finite differences step about 2e-3 across it otherwise)
        for (uint64_t seed = 100 + 100 * code; closest < 5e-3; seed += 10) {
            cr_assert(seed < 100 + 100 * code + 500, "no seed found");
            if (seed > 100 + 100 * code) for (int l = 0; l <= d.L; l++) lt_tensor_free(in[l]);
            for (int l = 0; l < d.L; l++) {
                in[l] = lt_test_rand(seed + l, 0, logf(t_ctx), LT_SHAPE(d.B, d.H, d.T));
                in[l]->requires_grad = 1;
            }
            in[d.L] = lt_test_rand(seed + 5, 0, 1, LT_SHAPE(d.L, d.H));
            in[d.L]->requires_grad = 1;
            float *ents[3] = {lt_f32(in[0]), lt_f32(in[1]), lt_f32(in[2])};
            want = naive_eg(&d, ents, lt_f32(in[d.L]), t_ctx, gamma, code, g_ent, g_theta, &closest);
        }
        lt_ctx *c = lt_test_ctx(10);
        lt_tensor *loss = lt_entropy_guided_loss(c, d.L, in, in[d.L], t_ctx, gamma, code ? LT_EG_CODE : LT_EG_PAPER);
        cr_assert(loss, "%s", lt_last_error());
        cr_assert(want > 0, "some penalty is active");
        cr_assert(fabs(lt_tensor_item(loss) - want) <= 1e-5 * want, "%s: %.9g want %.9g", code ? "code" : "paper",
                  lt_tensor_item(loss), want);
        cr_assert_eq(lt_backward(c, loss), LT_OK, "%s", lt_last_error());
        for (int l = 0; l < d.L; l++) {
            float *gf = to_float(g_ent[l], in[l]->numel);
            lt_assert_allclose(code ? "code: dL/dE" : "paper: dL/dE", gf, in[l]->grad, in[l]->numel, 1e-4, 1e-7);
            free(gf);
            in[l]->grad = NULL;
        }
        float *gt = to_float(g_theta, 12);
        lt_assert_allclose(code ? "code: dL/dtheta" : "paper: dL/dtheta", gt, in[d.L]->grad, 12, 1e-4, 1e-7);
        in[d.L]->grad = NULL;
        free(gt);
        lt_ctx_free(c);
        eg_args a = {d.L, t_ctx, gamma, code ? LT_EG_CODE : LT_EG_PAPER};
        lt_assert_gradcheck(code ? "entropy_guided code" : "entropy_guided paper", eg_fn, &a, d.L + 1, in, 1e-2);
        for (int l = 0; l <= d.L; l++) lt_tensor_free(in[l]);
        for (int l = 0; l < d.L; l++) free(g_ent[l]);
    }
}

Test(entropy_guided, dead_zone_gives_zero_loss_and_gradient) {
    // every entropy within 0.1 * E_max of its threshold, margin 0.2 * E_max
    lt_tensor *e = lt_test_rand(130, 0, 1, LT_SHAPE(3, 2, 7));
    lt_tensor *th = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(1, 2));
    float e_max = logf(7.0f);
    for (int h = 0; h < 2; h++) lt_f32(th)[h] = 0.5f;
    for (int64_t i = 0; i < e->numel; i++) lt_f32(e)[i] = (0.5f + 0.1f * (2 * lt_f32(e)[i] - 1)) * e_max;
    e->requires_grad = th->requires_grad = 1;
    for (int code = 0; code < 2; code++) {
        lt_ctx *c = lt_test_ctx(11);
        lt_tensor *loss = lt_entropy_guided_loss(c, 1, &e, th, 7.0f, 0.2f, code);
        cr_assert(loss, "%s", lt_last_error());
        cr_assert(lt_tensor_item(loss) == 0.0f, "loss %g", lt_tensor_item(loss));
        cr_assert_eq(lt_backward(c, loss), LT_OK);
        for (int64_t i = 0; i < e->numel; i++) cr_assert(e->grad[i] == 0.0f);
        cr_assert(th->grad[0] == 0.0f && th->grad[1] == 0.0f);
        e->grad = th->grad = NULL;
        lt_ctx_free(c);
    }
    // gamma 0: every nonzero deviation is penalized
    lt_ctx *c = lt_test_ctx(12);
    lt_tensor *l0 = lt_entropy_guided_loss(c, 1, &e, th, 7.0f, 0.0f, LT_EG_CODE);
    cr_assert(l0 && lt_tensor_item(l0) > 0, "%s", lt_last_error());
    lt_ctx_free(c);
    lt_tensor_free(e);
    lt_tensor_free(th);
}

Test(entropy_guided, bad_input) {
    lt_ctx *c = lt_test_ctx(13);
    lt_tensor *e[2] = {lt_tensor_zeros(c, LT_F32, LT_SHAPE(2, 4, 5)), lt_tensor_zeros(c, LT_F32, LT_SHAPE(2, 3, 5))};
    lt_tensor *th = lt_tensor_zeros(c, LT_F32, LT_SHAPE(2, 4));
    LT_EXPECT_ERROR(lt_entropy_guided_loss(c, 2, e, th, 5, 0.2f, LT_EG_PAPER), "entropy_guided_loss",
                    "row_entropy[1]", "[2,3,5]", "[2,4]");
    e[1] = lt_tensor_zeros(c, LT_F32, LT_SHAPE(2, 4, 5));
    cr_assert(lt_entropy_guided_loss(c, 2, e, th, 5, 0.2f, LT_EG_PAPER), "%s", lt_last_error());
    LT_EXPECT_ERROR(lt_entropy_guided_loss(c, 2, e, lt_tensor_zeros(c, LT_F32, LT_SHAPE(3, 4)), 5, 0.2f, 0),
                    "entropy_guided_loss", "theta", "[3,4]", "n_layers = 2");
    LT_EXPECT_ERROR(lt_entropy_guided_loss(c, 2, e, lt_tensor_zeros(c, LT_F32, LT_SHAPE(8)), 5, 0.2f, 0),
                    "entropy_guided_loss", "theta", "[8]");
    LT_EXPECT_ERROR(lt_entropy_guided_loss(c, 2, e, lt_tensor_zeros(c, LT_F32, LT_SHAPE(2, 5)), 5, 0.2f, 0),
                    "entropy_guided_loss", "[2,4,5]", "[2,5]");
    LT_EXPECT_ERROR(lt_entropy_guided_loss(c, 0, e, th, 5, 0.2f, 0), "entropy_guided_loss", "n_layers", "0");
    LT_EXPECT_ERROR(lt_entropy_guided_loss(c, 2, e, th, 5, -0.1f, 0), "entropy_guided_loss", "gamma", "-0.1");
    LT_EXPECT_ERROR(lt_entropy_guided_loss(c, 2, e, th, 1, 0.2f, 0), "entropy_guided_loss", "t_ctx");
    LT_EXPECT_ERROR(lt_entropy_guided_loss(c, 2, e, th, 5, 0.2f, 7), "entropy_guided_loss", "reduction", "7");
    lt_tensor *e2[2] = {e[0], lt_tensor_zeros(c, LT_F32, LT_SHAPE(4, 5))};
    LT_EXPECT_ERROR(lt_entropy_guided_loss(c, 2, e2, th, 5, 0.2f, 0), "entropy_guided_loss", "[B,H,T]", "[4,5]");
    lt_tensor *e3[2] = {e[0], lt_tensor_zeros(c, LT_I32, LT_SHAPE(2, 4, 5))};
    LT_EXPECT_ERROR(lt_entropy_guided_loss(c, 2, e3, th, 5, 0.2f, 0), "entropy_guided_loss", "i32");
    lt_ctx_free(c);
}

// Entropies of a real attention-like softmax feed the regularizer: gradient through both.
static lt_tensor *eg_from_logits(lt_ctx *c, lt_tensor **in, void *ud) {
    lt_tensor *ent = lt_softmax_entropy(c, in[0]);   // [B,H,T,S] -> [B,H,T]
    return lt_entropy_guided_loss(c, 1, &ent, in[1], 6.0f, 0.05f, *(int *)ud);
}

Test(entropy_guided, gradcheck_through_softmax_entropy) {
    for (int code = 0; code < 2; code++) {
        lt_tensor *in[2] = {lt_test_rand(140 + code, -3, 3, LT_SHAPE(2, 3, 5, 6)), lt_test_rand(150 + code, 0.2f, 0.9f, LT_SHAPE(1, 3))};
        in[0]->requires_grad = in[1]->requires_grad = 1;
        lt_assert_gradcheck(code ? "logits -> entropy -> eg code" : "logits -> entropy -> eg paper", eg_from_logits,
                            &code, 2, in, 2e-2);
        lt_tensor_free(in[0]);
        lt_tensor_free(in[1]);
    }
}

// ---- entropy floor ----

static lt_tensor *floor_fn(lt_ctx *c, lt_tensor **in, void *ud) {
    return lt_entropy_floor_loss(c, in[0], *(float *)ud);
}

Test(entropy_floor, value_gradient_and_zero_above) {
    const int B = 2, H = 5, T = 7;
    lt_tensor *e = lt_test_rand(160, 0, 2, LT_SHAPE(B, H, T));
    float *ev = lt_f32(e);
    // head h's entropies sit near 0.4 * h: heads 0..2 below a floor of 1.0, 3..4 above it
    for (int64_t i = 0; i < e->numel; i++) ev[i] = 0.4f * (float)((i / T) % H) + 0.05f * ev[i];
    e->requires_grad = 1;
    float floor = 1.0f;
    double m[5] = {0}, want = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) m[h] += ev[(b * H + h) * T + t] / (B * T);
    for (int h = 0; h < H; h++) want += m[h] < floor ? (floor - m[h]) * (floor - m[h]) / H : 0;
    lt_ctx *c = lt_test_ctx(14);
    lt_tensor *loss = lt_entropy_floor_loss(c, e, floor);
    cr_assert(loss && loss->ndim == 0, "%s", lt_last_error());
    cr_assert(fabs(lt_tensor_item(loss) - want) < 1e-6 + 1e-5 * want, "loss %.9g want %.9g", lt_tensor_item(loss), want);
    cr_assert_eq(lt_backward(c, loss), LT_OK);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                double g = m[h] < floor ? -2.0 * (floor - m[h]) / H / (B * T) : 0;
                float got = e->grad[(b * H + h) * T + t];
                cr_assert(fabs(got - g) < 1e-7 + 1e-4 * fabs(g), "grad[%d,%d,%d] %g want %g", b, h, t, got, g);
            }
    e->grad = NULL;
    lt_ctx_free(c);
    lt_assert_gradcheck("entropy_floor", floor_fn, &floor, 1, &e, 1e-2);
    memset(e->grad, 0, sizeof(float) * (size_t)e->numel);   // gradcheck leaves its own buffer behind
    // every head above the floor: zero loss and zero gradient
    float low = 0.01f;
    c = lt_test_ctx(15);
    loss = lt_entropy_floor_loss(c, e, low);
    cr_assert(loss && lt_tensor_item(loss) == 0.0f, "%s", lt_last_error());
    cr_assert_eq(lt_backward(c, loss), LT_OK);
    for (int64_t i = 0; i < e->numel; i++) cr_assert(e->grad[i] == 0.0f);
    lt_ctx_free(c);
    lt_tensor_free(e);
}

Test(entropy_floor, bad_input) {
    lt_ctx *c = lt_test_ctx(16);
    LT_EXPECT_ERROR(lt_entropy_floor_loss(c, lt_tensor_zeros(c, LT_F32, LT_SHAPE(4, 5)), 1), "entropy_floor_loss",
                    "[B,H,T]", "[4,5]");
    LT_EXPECT_ERROR(lt_entropy_floor_loss(c, lt_tensor_zeros(c, LT_F32, LT_SHAPE(1, 4, 5)), NAN), "entropy_floor_loss",
                    "min_entropy");
    LT_EXPECT_ERROR(lt_entropy_floor_loss(c, lt_tensor_zeros(c, LT_I32, LT_SHAPE(1, 4, 5)), 1), "entropy_floor_loss",
                    "i32");
    lt_ctx_free(c);
}
