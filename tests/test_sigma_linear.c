// sigmaReparam linear layer: the power iteration against an independent top
// singular value (Jacobi eigen-decomposition in double), W_hat = W at init,
// gradcheck and the closed-form gradient, parameters and checkpoints, errors.
#include "lt_test.h"
#include "layers/sigma_linear.h"

#include <unistd.h>

// Top singular value of w [out, in]: sqrt of the largest eigenvalue of the
// smaller Gram matrix, by cyclic Jacobi rotations in double.
static double top_singular_value(const float *w, int out, int in) {
    int n = in <= out ? in : out;
    double *a = calloc((size_t)n * n, sizeof(double));
    for (int p = 0; p < n; p++)
        for (int q = 0; q < n; q++) {
            double s = 0;
            if (in <= out) for (int i = 0; i < out; i++) s += (double)w[i * in + p] * w[i * in + q];
            else for (int j = 0; j < in; j++) s += (double)w[p * in + j] * w[q * in + j];
            a[p * n + q] = s;
        }
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (int p = 0; p < n; p++)
            for (int q = 0; q < n; q++) *(p == q ? &diag : &off) += a[p * n + q] * a[p * n + q];
        if (off <= 1e-26 * diag) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (apq == 0) continue;
                double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double cs = 1 / sqrt(t * t + 1), sn = t * cs;
                for (int k = 0; k < n; k++) {   // A <- A J (columns p, q)
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = cs * akp - sn * akq;
                    a[k * n + q] = sn * akp + cs * akq;
                }
                for (int k = 0; k < n; k++) {   // A <- J^T A (rows p, q)
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = cs * apk - sn * aqk;
                    a[q * n + k] = sn * apk + cs * aqk;
                }
            }
    }
    double mx = 0;
    for (int p = 0; p < n; p++) mx = fmax(mx, a[p * n + p]);
    free(a);
    return sqrt(mx);
}

static double u_w_v(const lt_sigma_linear *l) {
    const float *w = lt_f32(l->w), *u = lt_f32(l->u), *v = lt_f32(l->v);
    double s = 0;
    for (int i = 0; i < l->out; i++)
        for (int j = 0; j < l->in; j++) s += (double)u[i] * w[i * l->in + j] * v[j];
    return s;
}

static double norm2(const float *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s);
}

// y [rows, out] = x (gamma/sigma W)^T + b, sigma = u^T W v from the layer's stored vectors.
static float *naive_forward(const lt_sigma_linear *l, const float *x, int64_t rows) {
    double scale = lt_f32(l->gamma)[0] / u_w_v(l);
    float *y = malloc(sizeof(float) * (size_t)(rows * l->out));
    for (int64_t r = 0; r < rows; r++)
        for (int o = 0; o < l->out; o++) {
            double s = 0;
            for (int i = 0; i < l->in; i++) s += (double)x[r * l->in + i] * lt_f32(l->w)[o * l->in + i];
            y[r * l->out + o] = (float)(scale * s + (l->b ? lt_f32(l->b)[o] : 0));
        }
    return y;
}

static lt_sigma_linear_opts opts_with(int init_max_iters, lt_gamma_init g, int bias) {
    lt_sigma_linear_opts o = lt_sigma_linear_defaults();
    o.init_max_iters = init_max_iters;
    o.gamma = g;
    o.bias = bias;
    return o;
}

Test(sigma_linear, jacobi_reference_is_right_on_a_known_spectrum) {
    // Orthogonal rows scaled by 3, 2, 0.5 (a 3x4 slice of a Householder reflection).
    float h[16], w[12];
    double vh[4] = {1, 2, -1, 3}, nn = 15;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) h[i * 4 + j] = (float)((i == j) - 2 * vh[i] * vh[j] / nn);
    float sc[3] = {2, 3, 0.5f};
    for (int i = 0; i < 3; i++) for (int j = 0; j < 4; j++) w[i * 4 + j] = sc[i] * h[i * 4 + j];
    cr_assert(fabs(top_singular_value(w, 3, 4) - 3) < 1e-6, "%g", top_singular_value(w, 3, 4));
    float wt[12];
    for (int i = 0; i < 3; i++) for (int j = 0; j < 4; j++) wt[j * 3 + i] = w[i * 4 + j];
    cr_assert(fabs(top_singular_value(wt, 4, 3) - 3) < 1e-6);
}

Test(sigma_linear, power_iteration_converges_to_top_singular_value) {
    int shapes[][2] = {{7, 13}, {13, 7}, {64, 31}, {31, 64}, {1, 5}, {5, 1}, {32, 32}, {1, 1}};
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) {
        int out = shapes[s][0], in = shapes[s][1];
        lt_params ps;
        lt_params_init(&ps, LT_CPU);
        lt_rng r;
        lt_rng_init(&r, 100 + s);
        lt_sigma_linear l;
        lt_sigma_linear_opts o = opts_with(0, LT_GAMMA_INIT_ONE, 1);   // random unit u, v
        cr_assert_eq(lt_sigma_linear_init(&l, &ps, &r, "sn", in, out, &o), LT_OK, "%s", lt_last_error());
        if (s % 2) lt_rng_fill_uniform(&r, lt_f32(l.w), l.w->numel, 0.f, 1.f);   // a dominant direction
        double s1 = top_singular_value(lt_f32(l.w), out, in);
        lt_ctx *c = lt_test_ctx(200 + s);
        lt_tensor *x = lt_test_rand(300 + s, -1, 1, LT_SHAPE(3, in));
        // Before any step the random u, v give a poor estimate (else the test proves nothing).
        if (out * in > 1) cr_assert(fabs(u_w_v(&l) - s1) > 1e-2 * s1, "%dx%d: random start already converged", out, in);
        int steps = 0, reached = -1;
        for (; steps < 3000 && reached < 0; steps++) {
            lt_ctx_reset(c);
            cr_assert_not_null(lt_sigma_linear_forward(c, &l, x), "%s", lt_last_error());
            if (fabs(l.last_sigma - s1) < 1e-3 * s1) reached = steps + 1;
        }
        cr_assert(reached > 0, "%dx%d: sigma %g, true %g after %d forwards", out, in, l.last_sigma, s1, steps);
        for (int k = 0; k < 20; k++) {   // and it stays there
            lt_ctx_reset(c);
            cr_assert_not_null(lt_sigma_linear_forward(c, &l, x));
            cr_assert(fabs(l.last_sigma - s1) < 1e-3 * s1, "%dx%d: left the top singular value", out, in);
        }
        cr_assert(fabs(norm2(lt_f32(l.u), out) - 1) < 1e-5 && fabs(norm2(lt_f32(l.v), in) - 1) < 1e-5);
        cr_assert(fabs(u_w_v(&l) - l.last_sigma) < 1e-5 * s1, "last_sigma is u^T W v of the stored vectors");
        cr_log_info("sigma_linear %dx%d: |sigma - s1| < 1e-3 s1 after %d training forwards", out, in, reached);

        // Eval and no-grad forwards do not move u, v.
        float u0[64], v0[64];
        memcpy(u0, lt_f32(l.u), sizeof(float) * out);
        memcpy(v0, lt_f32(l.v), sizeof(float) * in);
        lt_ctx_reset(c);
        c->training = 0;
        cr_assert_not_null(lt_sigma_linear_forward(c, &l, x));
        c->training = 1;
        lt_no_grad_begin(c);
        cr_assert_not_null(lt_sigma_linear_forward(c, &l, x));
        lt_no_grad_end(c);
        cr_assert(!memcmp(u0, lt_f32(l.u), sizeof(float) * out) && !memcmp(v0, lt_f32(l.v), sizeof(float) * in));

        // The default init converges on its own.
        lt_sigma_linear d;
        cr_assert_eq(lt_sigma_linear_init(&d, &ps, &r, "init", in, out, NULL), LT_OK, "%s", lt_last_error());
        double sd = top_singular_value(lt_f32(d.w), out, in);
        cr_assert(fabs(d.last_sigma - sd) < 1e-4 * sd && fabs(u_w_v(&d) - sd) < 1e-4 * sd,
                  "%dx%d: init sigma %g, true %g after %d steps", out, in, d.last_sigma, sd, d.init_iters);
        cr_assert(d.init_iters >= 1 && d.init_iters <= 500);
        lt_tensor_free(x);
        lt_ctx_free(c);
        lt_params_free(&ps);
    }
}

Test(sigma_linear, at_init_w_hat_equals_w) {
    lt_params ps;
    lt_params_init(&ps, LT_CPU);
    lt_rng r;
    lt_rng_init(&r, 21);
    lt_sigma_linear l;
    cr_assert_eq(lt_sigma_linear_init(&l, &ps, &r, "fc", 17, 9, NULL), LT_OK, "%s", lt_last_error());
    double s1 = top_singular_value(lt_f32(l.w), 9, 17);
    cr_assert(fabs(lt_f32(l.gamma)[0] - s1) < 1e-4 * s1, "gamma %g, sigma(W0) %g", lt_f32(l.gamma)[0], s1);
    lt_ctx *c = lt_test_ctx(22);
    lt_tensor *x = lt_test_rand(23, -2, 2, LT_SHAPE(5, 3, 17));
    lt_tensor *plain = lt_linear(c, x, l.w, l.b);
    for (int training = 0; training < 2; training++) {
        c->training = training;
        lt_tensor *y = lt_sigma_linear_forward(c, &l, x);
        cr_assert(y && y->ndim == 3 && y->shape[0] == 5 && y->shape[1] == 3 && y->shape[2] == 9, "%s", lt_last_error());
        lt_assert_allclose(training ? "train forward = linear" : "eval forward = linear", lt_f32(plain), lt_f32(y),
                           y->numel, training ? 1e-5 : 1e-6, training ? 1e-5 : 1e-6);
    }
    lt_tensor_free(x);
    lt_ctx_free(c);
    lt_params_free(&ps);
}

Test(sigma_linear, forward_matches_naive_with_gamma_one_and_updated_vectors) {
    lt_params ps;
    lt_params_init(&ps, LT_CPU);
    lt_rng r;
    lt_rng_init(&r, 31);
    lt_sigma_linear l;
    lt_sigma_linear_opts o = opts_with(500, LT_GAMMA_INIT_ONE, 1);
    cr_assert_eq(lt_sigma_linear_init(&l, &ps, &r, "one", 13, 7, &o), LT_OK);
    cr_assert_eq(lt_f32(l.gamma)[0], 1.f);
    lt_ctx *c = lt_test_ctx(32);
    lt_tensor *x = lt_test_rand(33, -1, 1, LT_SHAPE(63, 13));
    c->training = 0;
    lt_tensor *y = lt_sigma_linear_forward(c, &l, x);
    cr_assert_not_null(y);
    float *ref = naive_forward(&l, lt_f32(x), 63);
    lt_assert_allclose("gamma=1 eval", ref, lt_f32(y), y->numel, 1e-5, 1e-6);
    free(ref);
    // W_hat has spectral norm 1.
    double s1 = top_singular_value(lt_f32(l.w), 7, 13);
    cr_assert(fabs(s1 / u_w_v(&l) - 1) < 1e-4);

    // A training forward from random vectors must use the vectors it just updated.
    lt_sigma_linear t;
    lt_sigma_linear_opts o0 = opts_with(0, LT_GAMMA_INIT_ONE, 0);
    cr_assert_eq(lt_sigma_linear_init(&t, &ps, &r, "rand", 13, 7, &o0), LT_OK);
    float *before = naive_forward(&t, lt_f32(x), 63);
    c->training = 1;
    y = lt_sigma_linear_forward(c, &t, x);
    cr_assert_not_null(y);
    ref = naive_forward(&t, lt_f32(x), 63);
    lt_assert_allclose("train forward, updated u v", ref, lt_f32(y), y->numel, 1e-5, 1e-6);
    double diff = 0;
    for (int64_t i = 0; i < y->numel; i++) diff = fmax(diff, fabs(before[i] - ref[i]));
    cr_assert(diff > 1e-2, "the update did not change the output: the check above proves nothing");
    free(before);
    free(ref);
    lt_tensor_free(x);
    lt_ctx_free(c);
    lt_params_free(&ps);
}

typedef struct { lt_sigma_linear *l; int training, square; } gc_ud;

// y, or sum(y^2): with y alone the random contraction can make <G, W> (the
// u v^T term's weight) small by chance; sum(y^2) makes it large.
static lt_tensor *fwd_fn(lt_ctx *c, lt_tensor **in, void *ud) {
    gc_ud *g = ud;
    c->training = g->training;
    lt_tensor *y = lt_sigma_linear_forward(c, g->l, in[0]);
    return g->square ? lt_sum(c, lt_mul(c, y, y), LT_AXIS_ALL, 0) : y;
}

Test(sigma_linear, gradcheck_x_w_gamma_b) {
    struct { int rows, in, out, bias, training; lt_gamma_init g; } cases[] = {
        {4, 7, 5, 1, 0, LT_GAMMA_INIT_SIGMA},
        {4, 7, 5, 1, 1, LT_GAMMA_INIT_ONE},
        {6, 1, 3, 1, 0, LT_GAMMA_INIT_ONE},
        {2, 6, 1, 0, 1, LT_GAMMA_INIT_SIGMA},
        {3, 9, 11, 1, 1, LT_GAMMA_INIT_ONE},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        lt_params ps;
        lt_params_init(&ps, LT_CPU);
        lt_rng r;
        lt_rng_init(&r, 40 + k);
        lt_sigma_linear l;
        // Two init steps: u, v are not yet singular vectors, so the u v^T term is not W's own.
        lt_sigma_linear_opts o = opts_with(2, cases[k].g, cases[k].bias);
        cr_assert_eq(lt_sigma_linear_init(&l, &ps, &r, "g", cases[k].in, cases[k].out, &o), LT_OK);
        if (cases[k].training) l.n_power_iters = 0;   // training path, u, v held for the differences
        float u0[16], v0[16];
        memcpy(u0, lt_f32(l.u), sizeof(float) * l.out);
        memcpy(v0, lt_f32(l.v), sizeof(float) * l.in);
        lt_tensor *x = lt_test_rand(50 + k, -1, 1, LT_SHAPE(cases[k].rows, cases[k].in));
        x->requires_grad = 1;
        lt_tensor *in[4] = {x, l.w, l.gamma, l.b};
        int n_in = l.b ? 4 : 3;
        for (int sq = 0; sq < 2; sq++) {
            gc_ud ud = {&l, cases[k].training, sq};
            char name[64];
            snprintf(name, sizeof name, "sigma_linear case %d%s", k, sq ? " sum(y^2)" : "");
            if (!sq) lt_assert_accumulates(name, fwd_fn, &ud, n_in, in);
            lt_assert_gradcheck(name, fwd_fn, &ud, n_in, in, 1e-2);
        }
        for (int i = 1; i < n_in; i++) in[i]->is_param = 1;   // gradcheck clears the flag on its inputs
        cr_assert(!memcmp(u0, lt_f32(l.u), sizeof(float) * l.out) && !memcmp(v0, lt_f32(l.v), sizeof(float) * l.in),
                  "case %d: u, v moved during the gradcheck", k);
        cr_assert_null(l.u->grad);
        cr_assert_null(l.v->grad);
        lt_tensor_free(x);
        lt_params_free(&ps);
    }
}

// Adds the closed-form gradients of loss = sum(R * y), y = x W_hat^T + b, for
// one forward that used (u, v): G = R^T x,
// dW = gamma/sigma G - gamma/sigma^2 <G,W> u v^T, dgamma = <G,W>/sigma,
// db = sum_n R, dx = R W_hat. Returns <G, W>.
static double closed_form(const float *w, int out, int in, const float *u, const float *v, double gamma,
                          const float *x, const float *g, int rows, double *dw, double *dgamma, double *db,
                          double *dx) {
    double sigma = 0, gw = 0;
    for (int i = 0; i < out; i++)
        for (int j = 0; j < in; j++) sigma += (double)u[i] * w[i * in + j] * v[j];
    double *G = calloc((size_t)out * in, sizeof(double));
    for (int i = 0; i < out; i++)
        for (int j = 0; j < in; j++) {
            for (int n = 0; n < rows; n++) G[i * in + j] += (double)g[n * out + i] * x[n * in + j];
            gw += G[i * in + j] * w[i * in + j];
        }
    for (int i = 0; i < out; i++)
        for (int j = 0; j < in; j++)
            dw[i * in + j] += gamma / sigma * G[i * in + j] - gamma / (sigma * sigma) * gw * u[i] * v[j];
    *dgamma += gw / sigma;
    for (int i = 0; i < out; i++)
        for (int n = 0; n < rows; n++) db[i] += g[n * out + i];
    for (int n = 0; n < rows; n++)
        for (int j = 0; j < in; j++)
            for (int i = 0; i < out; i++) dx[n * in + j] += (double)g[n * out + i] * gamma / sigma * w[i * in + j];
    free(G);
    return gw;
}

static void assert_close_d(const char *name, const double *ref, const float *got, int n, double rtol) {
    float *r = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) r[i] = (float)ref[i];
    lt_assert_allclose(name, r, got, n, rtol, 1e-6);
    free(r);
}

// The layer applied twice in one graph (shared weights, or gradient
// accumulation without a backward in between): each training forward steps
// u, v, and each use's gradient must follow the u, v that forward used.
Test(sigma_linear, backward_equals_closed_form) {
    enum { ROWS = 4, IN = 9, OUT = 6 };
    lt_params ps;
    lt_params_init(&ps, LT_CPU);
    lt_rng r;
    lt_rng_init(&r, 61);
    lt_sigma_linear l;
    lt_sigma_linear_opts o = opts_with(2, LT_GAMMA_INIT_ONE, 1);
    cr_assert_eq(lt_sigma_linear_init(&l, &ps, &r, "cf", IN, OUT, &o), LT_OK);
    lt_param_fill(l.gamma, 1.7f);
    lt_ctx *c = lt_test_ctx(62);
    lt_tensor *x[2], *y[2], *R[2];
    float u[2][OUT], v[2][IN];
    for (int k = 0; k < 2; k++) {
        float u0[OUT];
        memcpy(u0, lt_f32(l.u), sizeof u0);
        x[k] = lt_test_rand(63 + k, -1, 1, LT_SHAPE(ROWS, IN));
        x[k]->requires_grad = 1;
        R[k] = lt_test_rand(65 + k, -1, 1, LT_SHAPE(ROWS, OUT));
        y[k] = lt_sigma_linear_forward(c, &l, x[k]);   // training: u, v take one step first
        cr_assert_not_null(y[k], "%s", lt_last_error());
        cr_assert(memcmp(u0, lt_f32(l.u), sizeof u0), "forward %d did not update u", k);
        memcpy(u[k], lt_f32(l.u), sizeof u[k]);
        memcpy(v[k], lt_f32(l.v), sizeof v[k]);
    }
    lt_tensor *loss = lt_sum(c, lt_add(c, lt_mul(c, y[0], R[0]), lt_mul(c, y[1], R[1])), LT_AXIS_ALL, 0);
    cr_assert_eq(lt_backward(c, loss), LT_OK, "%s", lt_last_error());

    double dw[OUT * IN] = {0}, dgamma = 0, db[OUT] = {0}, dx[2][ROWS * IN] = {{0}};
    for (int k = 0; k < 2; k++) {
        double gw = closed_form(lt_f32(l.w), OUT, IN, u[k], v[k], 1.7, lt_f32(x[k]), lt_f32(R[k]), ROWS, dw, &dgamma,
                                db, dx[k]);
        cr_assert(fabs(gw) > 1e-2, "<G, W> is ~0: the u v^T term was not exercised");
    }
    assert_close_d("dW closed form", dw, l.w->grad, OUT * IN, 1e-4);
    assert_close_d("dgamma = <G,W>/sigma", &dgamma, l.gamma->grad, 1, 1e-4);
    assert_close_d("db", db, l.b->grad, OUT, 1e-5);
    assert_close_d("dx0", dx[0], x[0]->grad, ROWS * IN, 1e-5);
    assert_close_d("dx1", dx[1], x[1]->grad, ROWS * IN, 1e-5);
    // W_hat is invariant to rescaling W: each use's gradient is orthogonal to W.
    const float *w = lt_f32(l.w);
    double dot = 0, nd = 0, nw = 0;
    for (int i = 0; i < OUT * IN; i++) {
        dot += (double)l.w->grad[i] * w[i];
        nd += (double)l.w->grad[i] * l.w->grad[i];
        nw += (double)w[i] * w[i];
    }
    cr_assert(fabs(dot) < 1e-5 * sqrt(nd * nw), "<dW, W> = %g", dot);
    cr_assert_null(l.u->grad);
    cr_assert_null(l.v->grad);
    for (int k = 0; k < 2; k++) {
        x[k]->grad = NULL;   // arena memory
        lt_tensor_free(x[k]);
        lt_tensor_free(R[k]);
    }
    lt_ctx_free(c);
    lt_params_free(&ps);
}
Test(sigma_linear, parameters_optimizer_and_checkpoint_round_trip) {
    int in = 11, out = 5;
    lt_params ps;
    lt_params_init(&ps, LT_CPU);
    lt_rng r;
    lt_rng_init(&r, 71);
    lt_sigma_linear l;
    cr_assert_eq(lt_sigma_linear_init(&l, &ps, &r, "blk.fc", in, out, NULL), LT_OK);
    const char *names[5] = {"blk.fc.weight", "blk.fc.bias", "blk.fc.gamma", "blk.fc.u", "blk.fc.v"};
    lt_tensor *ts[5] = {l.w, l.b, l.gamma, l.u, l.v};
    int shapes[5][2] = {{out, in}, {out, 0}, {1, 0}, {out, 0}, {in, 0}};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(lt_params_find(&ps, names[i]), ts[i], "%s", names[i]);
        cr_assert(ts[i]->shape[0] == shapes[i][0] && (shapes[i][1] == 0 ? ts[i]->ndim == 1 : ts[i]->shape[1] == in));
        cr_assert_eq(ts[i]->requires_grad, i < 3, "%s: trainable %d", names[i], ts[i]->requires_grad);
    }
    cr_assert_eq(lt_params_numel(&ps, 1), out * in + out + 1);
    cr_assert_eq(lt_params_numel(&ps, 0), out * in + out + 1 + out + in);

    // Train a few steps with AdamW (weight decay on): u, v move only by the forward.
    lt_adamw_opts ao = lt_adamw_defaults(1e-2f);
    ao.weight_decay = 0.1f;
    lt_optim *opt = lt_optim_adamw(&ps, ao);
    cr_assert_not_null(opt);
    lt_ctx *c = lt_test_ctx(72);
    lt_tensor *x = lt_test_rand(73, -1, 1, LT_SHAPE(8, in));
    for (int step = 0; step < 3; step++) {
        lt_ctx_reset(c);
        lt_params_zero_grad(&ps);
        lt_tensor *loss = lt_mean(c, lt_mul(c, lt_sigma_linear_forward(c, &l, x), lt_sigma_linear_forward(c, &l, x)),
                                  LT_AXIS_ALL, 0);
        cr_assert_eq(lt_backward(c, loss), LT_OK, "%s", lt_last_error());
        cr_assert_null(l.u->grad);
        cr_assert_null(l.v->grad);
        cr_assert_not_null(l.gamma->grad);
        float u0[5], v0[11], g0 = lt_f32(l.gamma)[0], w0 = lt_f32(l.w)[3];
        memcpy(u0, lt_f32(l.u), sizeof u0);
        memcpy(v0, lt_f32(l.v), sizeof v0);
        cr_assert_eq(lt_optim_step(opt), LT_OK, "%s", lt_last_error());
        cr_assert(!memcmp(u0, lt_f32(l.u), sizeof u0) && !memcmp(v0, lt_f32(l.v), sizeof v0), "optimizer moved u/v");
        cr_assert(lt_f32(l.gamma)[0] != g0 && lt_f32(l.w)[3] != w0, "optimizer did not update gamma / W");
    }
    lt_param_fill(l.gamma, 0.37f);

    float sigma, gamma;
    cr_assert_eq(lt_sigma_linear_stats(&l, &sigma, &gamma), LT_OK);
    cr_assert(sigma == l.last_sigma && gamma == 0.37f);
    lt_metric m[2];
    cr_assert_eq(lt_sigma_linear_metrics(&l, m), 2);
    cr_assert_str_eq(m[0].name, "blk.fc.sigma");
    cr_assert_str_eq(m[1].name, "blk.fc.gamma");
    cr_assert(m[0].value == sigma && m[1].value == gamma);

    char path[128];
    snprintf(path, sizeof path, "/tmp/lt_test_sigma_linear_%d.safetensors", (int)getpid());
    cr_assert_eq(lt_weights_save(path, &ps, 0, NULL, NULL), LT_OK, "%s", lt_last_error());
    lt_params ps2;
    lt_params_init(&ps2, LT_CPU);
    lt_rng r2;
    lt_rng_init(&r2, 99);
    lt_sigma_linear l2;
    cr_assert_eq(lt_sigma_linear_init(&l2, &ps2, &r2, "blk.fc", in, out, NULL), LT_OK);
    lt_tensor *ts2[5] = {l2.w, l2.b, l2.gamma, l2.u, l2.v};
    cr_assert(memcmp(lt_f32(l.u), lt_f32(l2.u), sizeof(float) * out), "fresh layer already equal");
    cr_assert_eq(lt_weights_load(path, &ps2), LT_OK, "%s", lt_last_error());
    unlink(path);
    for (int i = 0; i < 5; i++)
        cr_assert(!memcmp(lt_f32(ts[i]), lt_f32(ts2[i]), sizeof(float) * (size_t)ts[i]->numel), "%s differs",
                  names[i]);
    c->training = 0;
    lt_tensor *y1 = lt_sigma_linear_forward(c, &l, x), *y2 = lt_sigma_linear_forward(c, &l2, x);
    cr_assert(y1 && y2);
    cr_assert(!memcmp(lt_f32(y1), lt_f32(y2), sizeof(float) * (size_t)y1->numel), "restored layer computes differently");
    lt_tensor_free(x);
    lt_optim_free(opt);
    lt_ctx_free(c);
    lt_params_free(&ps);
    lt_params_free(&ps2);
}

Test(sigma_linear, bad_input) {
    lt_params ps;
    lt_params_init(&ps, LT_CPU);
    lt_rng r;
    lt_rng_init(&r, 81);
    lt_sigma_linear l;
    LT_EXPECT_FAIL(lt_sigma_linear_init(&l, &ps, &r, "bad", 0, 3, NULL), "sigma_linear", "'bad'", "in=0");
    LT_EXPECT_FAIL(lt_sigma_linear_init(&l, &ps, &r, "bad", 3, -2, NULL), "sigma_linear", "'bad'", "out=-2");
    lt_sigma_linear_opts o = lt_sigma_linear_defaults();
    o.n_power_iters = -1;
    LT_EXPECT_FAIL(lt_sigma_linear_init(&l, &ps, &r, "bad", 3, 3, &o), "sigma_linear", "'bad'", "n_power_iters=-1");
    o = lt_sigma_linear_defaults();
    o.gamma = (lt_gamma_init)7;
    LT_EXPECT_FAIL(lt_sigma_linear_init(&l, &ps, &r, "bad", 3, 3, &o), "sigma_linear", "gamma init 7");
    cr_assert_eq(ps.n, 0, "a failed init registered parameters");
    lt_gamma_init g;
    LT_EXPECT_FAIL(lt_gamma_init_parse("two", &g), "gamma init", "'two'", "sigma, one");
    cr_assert(lt_gamma_init_parse("one", &g) == LT_OK && g == LT_GAMMA_INIT_ONE);
    cr_assert(lt_gamma_init_parse("sigma", &g) == LT_OK && g == LT_GAMMA_INIT_SIGMA);

    cr_assert_eq(lt_sigma_linear_init(&l, &ps, &r, "fc", 7, 5, NULL), LT_OK);
    lt_sigma_linear dup;
    LT_EXPECT_FAIL(lt_sigma_linear_init(&dup, &ps, &r, "fc", 7, 5, NULL), "fc.weight");
    LT_EXPECT_FAIL(lt_sigma_linear_reset(&l, &r, -1, 1e-6, NULL), "sigma_linear 'fc'", "-1");
    lt_ctx *c = lt_test_ctx(82);
    lt_tensor *x = lt_test_rand(83, -1, 1, LT_SHAPE(4, 8));
    LT_EXPECT_ERROR(lt_sigma_linear_forward(c, &l, x), "sigma_linear 'fc'", "[4,8]", "[5,7]");
    lt_tensor *xi = lt_tensor_new(c, LT_I32, LT_SHAPE(2, 7));
    LT_EXPECT_ERROR(lt_sigma_linear_forward(c, &l, xi), "sigma_linear 'fc'", "x", "i32");
    lt_clear_error();
    cr_assert_null(lt_sigma_linear_forward(c, &l, NULL));
    lt_tensor_free(x);
    lt_ctx_free(c);
    lt_params_free(&ps);
}
