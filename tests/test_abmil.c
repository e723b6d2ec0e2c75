// Attention MIL (layers/abmil.h): parameter names and shapes as the official
// PyTorch modules, init, forward of both archs against double-precision loops
// written here (N = 1, 7, 300), dropout placement with the Philox mask
// reproduced here, gradcheck of the whole model including the AEM term, the
// AEM gradient on the scores against lambda p_k (s_k - s_bar), one-instance
// bags, bad input.
#include "lt_test.h"
#include "layers/abmil.h"

enum { F = 13, D = 12, A = 10, C = 3, HEADS = 4 };
static const int BAG_N[] = {1, 7, 300};

typedef struct {
    lt_params ps;
    lt_abmil m;
} model;

static void model_init(model *md, lt_abmil_arch arch, float dropout, float mha_dropout, uint64_t seed) {
    lt_params_init(&md->ps, LT_CPU);
    lt_abmil_cfg g = lt_abmil_defaults();
    g.arch = arch;
    g.d_feat = F; g.d_inner = D; g.d_attn = A; g.n_classes = C; g.heads = HEADS;
    g.dropout = dropout; g.mha_dropout = mha_dropout;
    lt_rng r;
    lt_rng_init(&r, seed);
    cr_assert(lt_abmil_init(&md->m, &md->ps, &r, &g) == LT_OK, "init: %s", lt_last_error());
}

// Every parameter U(-s, s), so the query, LayerNorm gains and biases all matter.
static void randomize(model *md, uint64_t seed, float s) {
    lt_rng r;
    lt_rng_init(&r, seed);
    for (int i = 0; i < md->ps.n; i++) lt_rng_fill_uniform(&r, lt_f32(md->ps.t[i]), md->ps.t[i]->numel, -s, s);
}

static const float *P(const model *md, const char *name) {
    lt_tensor *t = lt_params_find(&md->ps, name);
    cr_assert(t, "no parameter %s", name);
    return lt_f32(t);
}

// --- double-precision reference ---

typedef struct {
    double logits[C], feat[D], ent[HEADS];
    double *scores, *attn;   // [heads, N]
} ref_out;

static double *ref_alloc(int n) { return calloc((size_t)n, sizeof(double)); }

// y[o] = b[o] + sum_i W[o,i] x[i]
static void ref_linear(const float *W, const float *b, const double *x, int in, int out, double *y) {
    for (int o = 0; o < out; o++) {
        double s = b ? b[o] : 0;
        for (int i = 0; i < in; i++) s += (double)W[o * in + i] * x[i];
        y[o] = s;
    }
}

static void ref_softmax_row(const double *s, int n, double *p, double *ent) {
    double mx = s[0], z = 0, h = 0;
    for (int i = 1; i < n; i++) if (s[i] > mx) mx = s[i];
    for (int i = 0; i < n; i++) z += exp(s[i] - mx);
    for (int i = 0; i < n; i++) {
        p[i] = exp(s[i] - mx) / z;
        if (p[i] > 0) h -= p[i] * log(p[i]);
    }
    *ent = h;
}

// h[n, D] = relu(x W1^T) * mask (mask NULL: no dropout; else kept/(1-p) or 0)
static double *ref_reduce(const model *md, const float *x, int N, const float *mask) {
    double *h = ref_alloc(N * D), xd[F];
    const float *W1 = P(md, "dimreduction.fc1.weight");
    for (int n = 0; n < N; n++) {
        for (int f = 0; f < F; f++) xd[f] = x[n * F + f];
        ref_linear(W1, NULL, xd, F, D, h + n * D);
        for (int d = 0; d < D; d++) {
            double v = h[n * D + d] > 0 ? h[n * D + d] : 0;
            h[n * D + d] = mask ? v * mask[n * D + d] : v;
        }
    }
    return h;
}

static void ref_classify(const model *md, ref_out *r) {
    ref_linear(P(md, "classifier.fc.weight"), P(md, "classifier.fc.bias"), r->feat, D, C, r->logits);
}

static void ref_gated(const model *md, const float *x, int N, const float *mask, ref_out *r) {
    double *h = ref_reduce(md, x, N, mask), a[A], g[A];
    r->scores = ref_alloc(N);
    r->attn = ref_alloc(N);
    const float *w = P(md, "attention.attention_weights.weight"), *wb = P(md, "attention.attention_weights.bias");
    for (int n = 0; n < N; n++) {
        ref_linear(P(md, "attention.attention_V.0.weight"), P(md, "attention.attention_V.0.bias"), h + n * D, D, A, a);
        ref_linear(P(md, "attention.attention_U.0.weight"), P(md, "attention.attention_U.0.bias"), h + n * D, D, A, g);
        double s = wb[0];
        for (int j = 0; j < A; j++) s += (double)w[j] * tanh(a[j]) * (1.0 / (1.0 + exp(-g[j])));
        r->scores[n] = s;
    }
    ref_softmax_row(r->scores, N, r->attn, &r->ent[0]);
    for (int d = 0; d < D; d++) {
        r->feat[d] = 0;
        for (int n = 0; n < N; n++) r->feat[d] += r->attn[n] * h[n * D + d];
    }
    ref_classify(md, r);
    free(h);
}

// mask2 [D]: the dropout after out_proj (NULL: none)
static void ref_mha(const model *md, const float *x, int N, const float *mask, const float *mask2, ref_out *r) {
    int dh = D / HEADS;
    double *h = ref_alloc(N * D), *k = ref_alloc(N * D), *v = ref_alloc(N * D), q0[D], q[D], o[D], y[D];
    double *hr = ref_reduce(md, x, N, mask);
    memcpy(h, hr, sizeof(double) * (size_t)(N * D));
    free(hr);
    for (int d = 0; d < D; d++) q0[d] = P(md, "q")[d];
    ref_linear(P(md, "attention.q_proj.weight"), P(md, "attention.q_proj.bias"), q0, D, D, q);
    for (int n = 0; n < N; n++) {
        ref_linear(P(md, "attention.k_proj.weight"), P(md, "attention.k_proj.bias"), h + n * D, D, D, k + n * D);
        ref_linear(P(md, "attention.v_proj.weight"), P(md, "attention.v_proj.bias"), h + n * D, D, D, v + n * D);
    }
    r->scores = ref_alloc(HEADS * N);
    r->attn = ref_alloc(HEADS * N);
    for (int hh = 0; hh < HEADS; hh++) {
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int j = 0; j < dh; j++) s += q[hh * dh + j] * k[n * D + hh * dh + j];
            r->scores[hh * N + n] = s / sqrt((double)dh);
        }
        ref_softmax_row(r->scores + hh * N, N, r->attn + hh * N, &r->ent[hh]);
        for (int j = 0; j < dh; j++) {
            double acc = 0;
            for (int n = 0; n < N; n++) acc += r->attn[hh * N + n] * v[n * D + hh * dh + j];
            o[hh * dh + j] = acc;
        }
    }
    ref_linear(P(md, "attention.out_proj.weight"), P(md, "attention.out_proj.bias"), o, D, D, y);
    if (mask2) for (int d = 0; d < D; d++) y[d] *= mask2[d];
    double mean = 0, var = 0;
    for (int d = 0; d < D; d++) mean += y[d] / D;
    for (int d = 0; d < D; d++) var += (y[d] - mean) * (y[d] - mean) / D;
    const float *lw = P(md, "attention.layer_norm.weight"), *lb = P(md, "attention.layer_norm.bias");
    for (int d = 0; d < D; d++) r->feat[d] = (y[d] - mean) / sqrt(var + 1e-6) * lw[d] + lb[d];
    ref_classify(md, r);
    free(h); free(k); free(v);
}

static float *to_f(const double *v, int n) {
    float *f = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) f[i] = (float)v[i];
    return f;
}

static void expect_close(const char *what, const double *ref, const lt_tensor *t, int n, double rtol, double atol) {
    cr_assert(t, "%s missing", what);
    cr_assert_eq(t->numel, n, "%s: %lld elements, want %d", what, (long long)t->numel, n);
    float *rf = to_f(ref, n);
    lt_assert_allclose(what, rf, lt_f32(t), n, rtol, atol);
    free(rf);
}

static void compare(const char *tag, const lt_abmil_out *o, const ref_out *r, int N, int heads, int has_scores) {
    char b[96];
    snprintf(b, sizeof b, "%s logits", tag); expect_close(b, r->logits, o->logits, C, 1e-4, 1e-5);
    snprintf(b, sizeof b, "%s feat", tag); expect_close(b, r->feat, o->feat, D, 1e-4, 1e-5);
    snprintf(b, sizeof b, "%s attn", tag); expect_close(b, r->attn, o->attn, heads * N, 1e-4, 1e-7);
    snprintf(b, sizeof b, "%s entropy", tag); expect_close(b, r->ent, o->entropy, heads, 1e-4, 1e-5);
    cr_assert(o->attn->ndim == 2 && o->attn->shape[0] == heads && o->attn->shape[1] == N, "%s attn shape", tag);
    cr_assert(o->logits->ndim == 2 && o->logits->shape[0] == 1 && o->logits->shape[1] == C, "%s logits shape", tag);
    if (has_scores) {
        snprintf(b, sizeof b, "%s scores", tag);
        expect_close(b, r->scores, o->scores, heads * N, 1e-4, 1e-5);
        cr_assert(o->scores->ndim == 2 && o->scores->shape[0] == heads, "%s scores shape", tag);
    } else {
        cr_assert_null(o->scores, "%s: mha has no scores tensor", tag);
    }
}

static void run_forward(lt_abmil_arch arch, uint64_t seed) {
    model md;
    model_init(&md, arch, 0.25f, 0.1f, seed);   // eval mode: both dropouts off
    randomize(&md, seed + 100, 0.6f);
    for (int k = 0; k < 3; k++) {
        int N = BAG_N[k];
        lt_ctx *c = lt_test_ctx(seed);
        c->training = 0;
        lt_tensor *xs = lt_test_rand(seed * 10 + k, -1, 1, LT_SHAPE(N, F));
        lt_tensor *x = lt_tensor_from(c, LT_F32, LT_SHAPE(N, F), xs->data);
        lt_abmil_out o;
        cr_assert(lt_abmil_forward(c, &md.m, x, &o) == LT_OK, "forward: %s", lt_last_error());
        ref_out r;
        if (arch == LT_ABMIL_GATED) ref_gated(&md, lt_f32(xs), N, NULL, &r);
        else ref_mha(&md, lt_f32(xs), N, NULL, NULL, &r);
        char tag[32];
        snprintf(tag, sizeof tag, "%s N=%d", arch == LT_ABMIL_GATED ? "gated" : "mha", N);
        compare(tag, &o, &r, N, arch == LT_ABMIL_GATED ? 1 : HEADS, arch == LT_ABMIL_GATED);
        free(r.scores); free(r.attn);
        lt_tensor_free(xs);
        lt_ctx_free(c);
    }
    lt_params_free(&md.ps);
}

Test(abmil, gated_forward_matches_naive) { run_forward(LT_ABMIL_GATED, 1); }
Test(abmil, mha_forward_matches_naive) { run_forward(LT_ABMIL_MHA, 2); }

static void expect_param(const lt_params *ps, int i, const char *name, int ndim, const int *shape) {
    cr_assert(i < ps->n, "only %d parameters, want %s at %d", ps->n, name, i);
    lt_tensor *t = ps->t[i];
    char b1[64], b2[64];
    cr_assert_str_eq(t->name, name, "parameter %d", i);
    cr_assert(t->ndim == ndim && !memcmp(t->shape, shape, sizeof(int) * (size_t)ndim), "%s is %s, want %s", name,
              lt_shape_str(t, b1), lt_shape_str_n(ndim, shape, b2));
}

static void expect_uniform_init(const lt_params *ps, const char *name, int fan_in) {
    lt_tensor *t = lt_params_find(ps, name);
    double k = 1.0 / sqrt((double)fan_in), mx = 0;
    for (int64_t i = 0; i < t->numel; i++) mx = fmax(mx, fabs(lt_f32(t)[i]));
    cr_assert(mx <= k && mx > 0.3 * k, "%s: max |w| %g, want U(-%g, %g)", name, mx, k, k);
}

Test(abmil, names_shapes_and_init) {
    model g, h;
    model_init(&g, LT_ABMIL_GATED, 0, 0.1f, 3);
    expect_param(&g.ps, 0, "dimreduction.fc1.weight", LT_SHAPE(D, F));
    expect_param(&g.ps, 1, "attention.attention_V.0.weight", LT_SHAPE(A, D));
    expect_param(&g.ps, 2, "attention.attention_V.0.bias", LT_SHAPE(A));
    expect_param(&g.ps, 3, "attention.attention_U.0.weight", LT_SHAPE(A, D));
    expect_param(&g.ps, 4, "attention.attention_U.0.bias", LT_SHAPE(A));
    expect_param(&g.ps, 5, "attention.attention_weights.weight", LT_SHAPE(1, A));
    expect_param(&g.ps, 6, "attention.attention_weights.bias", LT_SHAPE(1));
    expect_param(&g.ps, 7, "classifier.fc.weight", LT_SHAPE(C, D));
    expect_param(&g.ps, 8, "classifier.fc.bias", LT_SHAPE(C));
    cr_assert_eq(g.ps.n, 9);
    expect_uniform_init(&g.ps, "dimreduction.fc1.weight", F);
    expect_uniform_init(&g.ps, "attention.attention_V.0.bias", D);
    expect_uniform_init(&g.ps, "classifier.fc.weight", D);

    model_init(&h, LT_ABMIL_MHA, 0, 0.1f, 4);
    expect_param(&h.ps, 0, "q", LT_SHAPE(1, 1, D));
    expect_param(&h.ps, 1, "dimreduction.fc1.weight", LT_SHAPE(D, F));
    const char *proj[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    for (int i = 0; i < 4; i++) {
        char w[64], b[64];
        snprintf(w, sizeof w, "attention.%s.weight", proj[i]);
        snprintf(b, sizeof b, "attention.%s.bias", proj[i]);
        expect_param(&h.ps, 2 + 2 * i, w, LT_SHAPE(D, D));
        expect_param(&h.ps, 3 + 2 * i, b, LT_SHAPE(D));
        expect_uniform_init(&h.ps, w, D);
    }
    expect_param(&h.ps, 10, "attention.layer_norm.weight", LT_SHAPE(D));
    expect_param(&h.ps, 11, "attention.layer_norm.bias", LT_SHAPE(D));
    expect_param(&h.ps, 12, "classifier.fc.weight", LT_SHAPE(C, D));
    expect_param(&h.ps, 13, "classifier.fc.bias", LT_SHAPE(C));
    cr_assert_eq(h.ps.n, 14);
    const float *q = P(&h, "q"), *lw = P(&h, "attention.layer_norm.weight"), *lb = P(&h, "attention.layer_norm.bias");
    double qmax = 0;
    for (int d = 0; d < D; d++) {
        qmax = fmax(qmax, fabs(q[d]));
        cr_assert(lw[d] == 1.0f && lb[d] == 0.0f, "layer_norm init");
    }
    cr_assert(qmax > 0 && qmax < 1e-5, "q ~ N(0, 1e-6): max |q| %g", qmax);
    lt_params_free(&g.ps);
    lt_params_free(&h.ps);
}

// The Philox mask of the k-th stochastic op of a fresh context: element i is
// kept iff uniform_at(seed, base, i) >= p, base counting 4 values per counter.
static float *philox_mask(uint64_t seed, uint64_t base, int n, float p) {
    float *m = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) m[i] = lt_rng_uniform_at(seed, base, (uint64_t)i) >= p ? 1.0f / (1.0f - p) : 0.0f;
    return m;
}

Test(abmil, dropout_after_reduction_and_out_proj) {
    for (int arch = 0; arch < 2; arch++) {
        model md;
        model_init(&md, (lt_abmil_arch)arch, 0.3f, 0.2f, 5);
        randomize(&md, 55, 0.6f);
        int N = 63;
        uint64_t seed = 77;
        lt_ctx *c = lt_test_ctx(seed);
        c->training = 1;
        lt_tensor *xs = lt_test_rand(56, -1, 1, LT_SHAPE(N, F));
        lt_abmil_out o;
        cr_assert(lt_abmil_forward(c, &md.m, xs, &o) == LT_OK, "%s", lt_last_error());
        float *m1 = philox_mask(seed, 0, N * D, 0.3f);
        float *m2 = philox_mask(seed, (uint64_t)(N * D + 3) / 4, D, 0.2f);
        int zeros = 0;
        for (int i = 0; i < N * D; i++) zeros += m1[i] == 0;
        cr_assert(zeros > N * D / 6 && zeros < N * D / 2, "mask drops %d of %d", zeros, N * D);
        ref_out r;
        if (arch == LT_ABMIL_GATED) ref_gated(&md, lt_f32(xs), N, m1, &r);
        else ref_mha(&md, lt_f32(xs), N, m1, m2, &r);
        compare(arch ? "mha dropout" : "gated dropout", &o, &r, N, arch ? HEADS : 1, !arch);
        free(r.scores); free(r.attn); free(m1); free(m2);
        lt_tensor_free(xs);
        lt_ctx_free(c);
        lt_params_free(&md.ps);
    }
}

typedef struct {
    model *md;
    int32_t label;
    float lambda;
} loss_ud;

// in: the model's parameters, then x. CE + AEM, the training loss.
static lt_tensor *loss_fn(lt_ctx *c, lt_tensor **in, void *ud) {
    loss_ud *u = ud;
    lt_tensor *x = in[u->md->ps.n];
    lt_abmil_out o;
    if (lt_abmil_forward(c, &u->md->m, x, &o) != LT_OK) return NULL;
    lt_tensor *y = lt_tensor_from(c, LT_I32, LT_SHAPE(1), &u->label);
    return lt_add(c, lt_cross_entropy(c, o.logits, y, -100, 0.f), lt_abmil_aem_loss(c, &o, u->lambda));
}

// Smallest |pre-activation| of the reduction: the check steps every weight and
// input by at most 1e-2 * max(1, |v|), so a margin above that keeps it off ReLU's kink.
static double relu_margin(const model *md, const float *x, int N) {
    const float *W1 = P(md, "dimreduction.fc1.weight");
    double m = INFINITY;
    for (int n = 0; n < N; n++)
        for (int d = 0; d < D; d++) {
            double s = 0;
            for (int f = 0; f < F; f++) s += (double)W1[d * F + f] * x[n * F + f];
            m = fmin(m, fabs(s));
        }
    return m;
}

static void run_gradcheck(lt_abmil_arch arch, uint64_t seed) {
    model md;
    model_init(&md, arch, 0.25f, 0.1f, seed);   // gradcheck runs in eval mode: no dropout
    randomize(&md, seed + 1, 1.0f);
    int N = 7;
    lt_tensor *x = NULL;
    for (uint64_t k = 0; !x || relu_margin(&md, lt_f32(x), N) < 0.05; k++) {
        cr_assert(k < 1000, "no kink-free input found");
        lt_tensor_free(x);
        x = lt_test_rand(seed * 1000 + k, -1, 1, LT_SHAPE(N, F));
    }
    x->requires_grad = 1;
    // Shifting every score of a head leaves the softmax unchanged, so the gated
    // b_a and the mha k_proj bias have zero gradient: checked exactly below, not
    // by finite differences (which would divide float noise by a zero norm).
    lt_tensor *zero = lt_params_find(&md.ps, arch == LT_ABMIL_GATED ? "attention.attention_weights.bias"
                                                                    : "attention.k_proj.bias");
    zero->requires_grad = 0;
    lt_tensor *in[32];
    for (int i = 0; i < md.ps.n; i++) in[i] = md.ps.t[i];
    in[md.ps.n] = x;
    loss_ud u = {&md, 2, 0.5f};
    lt_gradcheck_opts go = {1e-2, 1e-2, 12, 44};
    lt_gradcheck_result gr;
    cr_assert(lt_gradcheck(loss_fn, &u, md.ps.n + 1, in, &go, &gr) == LT_OK, "%s: %s",
              arch == LT_ABMIL_GATED ? "gated CE+AEM" : "mha CE+AEM", lt_last_error());
    cr_assert(gr.n_checked > 12 * md.ps.n / 2, "checked only %lld elements", (long long)gr.n_checked);
    zero->requires_grad = 1;
    lt_ctx *c = lt_test_ctx(seed);
    lt_params_zero_grad(&md.ps);
    lt_tensor *loss = loss_fn(c, in, &u);
    cr_assert(lt_backward(c, loss) == LT_OK, "%s", lt_last_error());
    for (int64_t j = 0; j < zero->numel; j++)
        cr_assert(fabsf(zero->grad[j]) < 1e-6f, "%s grad[%lld] = %g, want 0", zero->name, (long long)j, zero->grad[j]);
    lt_ctx_free(c);
    lt_tensor_free(x);
    lt_params_free(&md.ps);
}

Test(abmil, gated_gradcheck_with_aem) { run_gradcheck(LT_ABMIL_GATED, 6); }
Test(abmil, mha_gradcheck_with_aem) { run_gradcheck(LT_ABMIL_MHA, 7); }

Test(abmil, aem_gradient_closed_form) {
    model md;
    model_init(&md, LT_ABMIL_GATED, 0, 0.1f, 8);
    randomize(&md, 81, 0.8f);
    int N = 300;
    float lambda = 0.7f;
    lt_ctx *c = lt_test_ctx(8);
    lt_tensor *xs = lt_test_rand(82, -1, 1, LT_SHAPE(N, F));
    lt_abmil_out o;
    cr_assert(lt_abmil_forward(c, &md.m, xs, &o) == LT_OK, "%s", lt_last_error());
    lt_tensor *aem = lt_abmil_aem_loss(c, &o, lambda);
    cr_assert(aem && aem->numel == 1, "%s", lt_last_error());
    cr_assert(lt_backward(c, aem) == LT_OK, "%s", lt_last_error());
    const float *s = lt_f32(o.scores);
    double mx = s[0], z = 0, sbar = 0, plogp = 0;
    for (int n = 1; n < N; n++) mx = fmax(mx, s[n]);
    for (int n = 0; n < N; n++) z += exp(s[n] - mx);
    for (int n = 0; n < N; n++) {
        double p = exp(s[n] - mx) / z;
        sbar += p * s[n];
        plogp += p * log(p);
    }
    double *want = ref_alloc(N), spread = 0;
    for (int n = 0; n < N; n++) {
        want[n] = lambda * exp(s[n] - mx) / z * (s[n] - sbar);
        spread = fmax(spread, fabs(want[n]));
    }
    cr_assert(spread > 1e-4, "attention too flat for a meaningful check (max grad %g)", spread);
    cr_assert(o.scores->grad, "scores received no gradient");
    float *wf = to_f(want, N);
    lt_assert_allclose("dAEM/ds", wf, o.scores->grad, N, 1e-3, 1e-7);
    cr_assert(fabs(lt_tensor_item(aem) - lambda * plogp) < 1e-5 * (1 + fabs(lambda * plogp)),
              "AEM %g, want lambda sum p log p = %g", lt_tensor_item(aem), lambda * plogp);
    free(wf); free(want);
    lt_tensor_free(xs);
    lt_ctx_free(c);
    lt_params_free(&md.ps);

    // mha: the mean over heads, and each head's entropy gets -lambda / heads
    model mh;
    model_init(&mh, LT_ABMIL_MHA, 0, 0.1f, 9);
    randomize(&mh, 91, 0.8f);
    c = lt_test_ctx(9);
    xs = lt_test_rand(92, -1, 1, LT_SHAPE(N, F));
    cr_assert(lt_abmil_forward(c, &mh.m, xs, &o) == LT_OK, "%s", lt_last_error());
    aem = lt_abmil_aem_loss(c, &o, lambda);
    cr_assert(lt_backward(c, aem) == LT_OK, "%s", lt_last_error());
    ref_out r;
    ref_mha(&mh, lt_f32(xs), N, NULL, NULL, &r);
    double mean_h = 0;
    for (int h = 0; h < HEADS; h++) mean_h += r.ent[h] / HEADS;
    cr_assert(fabs(lt_tensor_item(aem) + lambda * mean_h) < 1e-5 * (1 + lambda * mean_h), "mha AEM %g, want %g",
              lt_tensor_item(aem), -lambda * mean_h);
    for (int h = 0; h < HEADS; h++)
        cr_assert(fabsf(o.entropy->grad[h] + lambda / HEADS) < 1e-6f, "dAEM/dH[%d] = %g", h, o.entropy->grad[h]);
    free(r.scores); free(r.attn);
    lt_tensor_free(xs);
    lt_ctx_free(c);
    lt_params_free(&mh.ps);
}

Test(abmil, one_instance_bag_trains) {
    for (int arch = 0; arch < 2; arch++) {
        model md;
        model_init(&md, (lt_abmil_arch)arch, 0.25f, 0.1f, 10);
        randomize(&md, 101, 0.5f);
        lt_ctx *c = lt_test_ctx(10);
        c->training = 1;
        lt_tensor *xs = lt_test_rand(102, -1, 1, LT_SHAPE(1, F));
        lt_abmil_out o;
        cr_assert(lt_abmil_forward(c, &md.m, xs, &o) == LT_OK, "%s", lt_last_error());
        int heads = arch ? HEADS : 1;
        for (int h = 0; h < heads; h++) {
            cr_assert(lt_f32(o.attn)[h] == 1.0f, "attn of the only instance = %g", lt_f32(o.attn)[h]);
            cr_assert(fabsf(lt_f32(o.entropy)[h]) < 1e-6f, "entropy %g", lt_f32(o.entropy)[h]);
        }
        int32_t y = 1;
        lt_tensor *loss = lt_add(c, lt_cross_entropy(c, o.logits, lt_tensor_from(c, LT_I32, LT_SHAPE(1), &y), -100, 0),
                                 lt_abmil_aem_loss(c, &o, 0.1f));
        cr_assert(lt_backward(c, loss) == LT_OK, "%s", lt_last_error());
        double gsum = 0;
        for (int i = 0; i < md.ps.n; i++) {
            lt_tensor *p = md.ps.t[i];
            cr_assert(p->grad, "%s got no gradient", p->name);
            for (int64_t j = 0; j < p->numel; j++) {
                cr_assert(isfinite(p->grad[j]), "%s grad[%lld] = %g", p->name, (long long)j, p->grad[j]);
                gsum += fabs(p->grad[j]);
            }
        }
        cr_assert(gsum > 0, "all gradients zero");
        lt_tensor_free(xs);
        lt_ctx_free(c);
        lt_params_free(&md.ps);
    }
}

Test(abmil, bad_input) {
    model md;
    model_init(&md, LT_ABMIL_GATED, 0, 0.1f, 11);
    lt_ctx *c = lt_test_ctx(11);
    lt_abmil_out o;
    lt_tensor *x = lt_tensor_zeros(c, LT_F32, LT_SHAPE(5, 7));
    LT_EXPECT_FAIL(lt_abmil_forward(c, &md.m, x, &o), "abmil", "x [5,7]", "d_feat", "13");
    x = lt_tensor_zeros(c, LT_F32, LT_SHAPE(1, 5, F));
    LT_EXPECT_FAIL(lt_abmil_forward(c, &md.m, x, &o), "abmil", "[1,5,13]");
    x = lt_tensor_zeros(c, LT_I32, LT_SHAPE(5, F));
    LT_EXPECT_FAIL(lt_abmil_forward(c, &md.m, x, &o), "abmil", "x", "i32");
    LT_EXPECT_FAIL(lt_abmil_forward(c, &md.m, NULL, &o), "abmil", "NULL");
    cr_assert_null(o.logits, "outputs cleared on failure");
    LT_EXPECT_ERROR(lt_abmil_aem_loss(c, &o, 0.1f), "abmil_aem_loss", "entropy");
    x = lt_tensor_zeros(c, LT_F32, LT_SHAPE(4, F));
    cr_assert(lt_abmil_forward(c, &md.m, x, &o) == LT_OK, "%s", lt_last_error());
    LT_EXPECT_ERROR(lt_abmil_aem_loss(c, &o, -0.5f), "abmil_aem_loss", "lambda", "-0.5");
    LT_EXPECT_ERROR(lt_abmil_aem_loss(c, &o, NAN), "abmil_aem_loss", "lambda");

    lt_abmil_arch arch;
    LT_EXPECT_FAIL(lt_abmil_arch_parse("transmil", &arch), "abmil", "transmil");
    cr_assert(lt_abmil_arch_parse("abmil", &arch) == LT_OK && arch == LT_ABMIL_GATED);
    cr_assert(lt_abmil_arch_parse("mha", &arch) == LT_OK && arch == LT_ABMIL_MHA);

    lt_params ps;
    lt_params_init(&ps, LT_CPU);
    lt_rng r;
    lt_rng_init(&r, 1);
    lt_abmil m;
    lt_abmil_cfg g = lt_abmil_defaults();
    g.d_feat = F; g.d_inner = D; g.arch = LT_ABMIL_MHA; g.heads = 5;
    LT_EXPECT_FAIL(lt_abmil_init(&m, &ps, &r, &g), "abmil", "heads 5", "d_inner 12");
    g.heads = 4; g.d_feat = 0;
    LT_EXPECT_FAIL(lt_abmil_init(&m, &ps, &r, &g), "abmil", "d_feat 0");
    g.d_feat = F; g.n_classes = 1;
    LT_EXPECT_FAIL(lt_abmil_init(&m, &ps, &r, &g), "abmil", "n_classes 1");
    g.n_classes = 2; g.dropout = 1.0f;
    LT_EXPECT_FAIL(lt_abmil_init(&m, &ps, &r, &g), "abmil", "dropout 1");
    cr_assert_eq(ps.n, 0, "a rejected config registers no parameter");
    lt_params_free(&ps);
    lt_ctx_free(c);
    lt_params_free(&md.ps);
}
