// Attention backward: finite-difference gradcheck of q, k, v through O, through
// O and the entropy together, and through the entropy alone; the analytic
// backward against the naive one on larger shapes; frozen inputs; gradient
// accumulation; the same bits on any thread count; memory linear in T.
#include <omp.h>

#include "test_attention_cases.h"

enum { OUT_O, OUT_O_AND_H, OUT_H };

typedef struct {
    const attn_inputs *in;
    int mode;
} gc_ud;

static lt_tensor *attn_fn(lt_ctx *c, lt_tensor **x, void *ud) {
    const gc_ud *u = ud;
    lt_attn_opts o = attn_opts(u->in, u->mode != OUT_O, 0);
    lt_attn_out out;
    if (lt_attention(c, x[0], x[1], x[2], &o, &out) != LT_OK) return NULL;
    if (u->mode == OUT_O) return out.o;
    if (u->mode == OUT_H) return out.entropy;
    lt_tensor *parts[2] = {lt_reshape(c, out.o, LT_SHAPE(-1)), lt_reshape(c, out.entropy, LT_SHAPE(-1))};
    return lt_concat(c, 2, parts, 0);
}

static void gradcheck_case(const attn_case *cs, uint64_t seed, int64_t max_checks) {
    static const char *mode_name[] = {"O", "O and H", "H"};
    char s[128];
    attn_case_str(cs, s, sizeof s);
    attn_inputs in = attn_make(cs, seed);
    lt_tensor *x[3] = {in.q, in.k, in.v};
    for (int i = 0; i < 3; i++) x[i]->requires_grad = 1;
    for (int mode = 0; mode < 3; mode++) {
        gc_ud u = {&in, mode};
        // eps 1e-2: the op is smooth, and f32 rounding of the many outputs a key moves swamps smaller steps
        lt_gradcheck_opts o = {1e-2, 1e-2, max_checks, seed + mode};
        lt_gradcheck_result r;
        lt_status st = lt_gradcheck(attn_fn, &u, 3, x, &o, &r);
        cr_assert_eq(st, LT_OK, "%s through %s: %s", s, mode_name[mode], lt_last_error());
        cr_assert(r.n_checked > 0);
    }
    attn_free(&in);
}

Test(attention_grad, gradcheck_t1_t7) {
    const attn_case cases[] = {
        {1, 1, 1, 1, 1, 4, 0},
        {1, 2, 2, 1, 5, 4, 1},
        {2, 2, 1, 1, 6, 4, 0, 1},
        {2, 2, 1, 7, 7, 8, 1, 1},
        {1, 3, 3, 7, 9, 8, 0, 0, 1, 2, 3},
        {2, 4, 2, 7, 7, 8, 1, 1, 1, 3, 2, 0, 1.0f, 1.5f},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) gradcheck_case(&cases[k], 300 + 7 * k, 0);
}

Test(attention_grad, gradcheck_t63) {
    const attn_case cases[] = {
        {1, 6, 2, 63, 63, 8, 1, 1, 1, 16, 16},
        {1, 4, 1, 63, 50, 8, 0, 1},
        {2, 2, 2, 63, 70, 4, 1, 0, 1, 9, 13},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) gradcheck_case(&cases[k], 400 + 7 * k, 200);
}

Test(attention_grad, gradcheck_t200) {
    const attn_case cases[] = {
        // range 2: sharper rows, so a single key's pull on the entropy stands out of f32 rounding
        {1, 2, 1, 200, 200, 8, 1, 0, 1, 64, 64, 0, 0, 2},
        {1, 2, 2, 200, 180, 8, 0, 1, 0, 0, 0, 0, 0, 2},
        {1, 4, 2, 200, 200, 8, 1, 1, 1, 40, 24, 0, 0, 2},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) gradcheck_case(&cases[k], 500 + 7 * k, 80);
}

// Runs forward and backward with upstream gradients dO and dH (either may be
// NULL: that output is not used) and returns the op's outputs' context.
static lt_ctx *run_backward(const attn_inputs *in, const float *dO, const float *dH, lt_attn_out *out) {
    lt_ctx *c = lt_test_ctx(3);
    lt_attn_opts o = attn_opts(in, dH != NULL, 0);
    cr_assert_eq(lt_attention(c, in->q, in->k, in->v, &o, out), LT_OK, "%s", lt_last_error());
    int64_t no = out->o->numel, nh = out->lse->numel;
    lt_tensor *y = dO ? out->o : out->entropy;
    float *g = (float *)(dO ? dO : dH);
    float *both = NULL;
    if (dO && dH) {
        lt_tensor *parts[2] = {lt_reshape(c, out->o, LT_SHAPE(-1)), lt_reshape(c, out->entropy, LT_SHAPE(-1))};
        y = lt_concat(c, 2, parts, 0);
        both = malloc(sizeof(float) * (size_t)(no + nh));
        memcpy(both, dO, sizeof(float) * (size_t)no);
        memcpy(both + no, dH, sizeof(float) * (size_t)nh);
        g = both;
    }
    cr_assert_eq(lt_backward_from(c, y, g), LT_OK, "%s", lt_last_error());
    free(both);
    return c;
}

static float *rand_host(uint64_t seed, int64_t n) {
    float *x = malloc(sizeof(float) * (size_t)n);
    lt_rng r;
    lt_rng_init(&r, seed);
    lt_rng_fill_uniform(&r, x, n, -1, 1);
    return x;
}

// Analytic gradients of the inputs that require grad against the naive backward.
static void check_against_naive(const attn_inputs *in, const float *dO, const float *dH, const char *what) {
    const attn_case *cs = &in->c;
    char s[128], name[200];
    attn_case_str(cs, s, sizeof s);
    int64_t nq = in->q->numel, nk = in->k->numel;
    float *rq = malloc(sizeof(float) * nq), *rk = malloc(sizeof(float) * nk), *rv = malloc(sizeof(float) * nk);
    lt_naive_attn a = attn_naive(in);
    lt_naive_attn_bwd(&a, lt_f32(in->q), lt_f32(in->k), lt_f32(in->v), dO, dH, rq, rk, rv);
    lt_attn_out out;
    lt_ctx *c = run_backward(in, dO, dH, &out);
    const float *ref[3] = {rq, rk, rv};
    lt_tensor *x[3] = {in->q, in->k, in->v};
    for (int i = 0; i < 3; i++) {
        if (!x[i]->requires_grad) { cr_assert_null(x[i]->grad, "%s: frozen input %d got a gradient", s, i); continue; }
        snprintf(name, sizeof name, "%s, %s: d%c", s, what, "qkv"[i]);
        lt_assert_allclose(name, ref[i], x[i]->grad, x[i]->numel, 1e-4, 1e-6);
    }
    for (int i = 0; i < 3; i++) x[i]->grad = NULL;   // arena memory, gone with c
    lt_ctx_free(c);
    free(rq); free(rk); free(rv);
}

static void set_requires(attn_inputs *in, int mask) {
    in->q->requires_grad = mask & 1;
    in->k->requires_grad = (mask >> 1) & 1;
    in->v->requires_grad = (mask >> 2) & 1;
}

Test(attention_grad, backward_matches_naive) {
    const attn_case cases[] = {
        {2, 6, 2, 150, 170, 32, 1, 1, 1, 32, 64},
        {1, 4, 4, 300, 300, 64, 1},
        {1, 3, 1, 129, 64, 16, 0, 1, 1, 7, 11},
        {2, 2, 2, 100, 260, 24, 0, 1},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        attn_inputs in = attn_make(&cases[k], 600 + 7 * k);
        set_requires(&in, 7);
        int64_t no = in.q->numel, nh = no / cases[k].D;
        float *dO = rand_host(700 + k, no), *dH = rand_host(800 + k, nh);
        check_against_naive(&in, dO, dH, "O and H");
        check_against_naive(&in, dO, NULL, "O");
        check_against_naive(&in, NULL, dH, "H");
        free(dO); free(dH);
        attn_free(&in);
    }
}

// Frozen inputs get no gradient and skip their work; the others stay exact.
Test(attention_grad, frozen_inputs) {
    attn_case cs = {1, 4, 2, 90, 90, 16, 1, 1, 1, 16, 32};
    attn_inputs in = attn_make(&cs, 31);
    int64_t no = in.q->numel;
    float *dO = rand_host(32, no), *dH = rand_host(33, no / cs.D);
    for (int mask = 1; mask < 7; mask++) {
        set_requires(&in, mask);
        check_against_naive(&in, dO, dH, "subset");
    }
    free(dO); free(dH);
    attn_free(&in);
}

Test(attention_grad, accumulates) {
    attn_case cs = {1, 2, 1, 20, 25, 8, 1, 1, 1, 8, 8};
    attn_inputs in = attn_make(&cs, 41);
    set_requires(&in, 7);
    gc_ud u = {&in, OUT_O_AND_H};
    lt_tensor *x[3] = {in.q, in.k, in.v};
    lt_assert_accumulates("attention", attn_fn, &u, 3, x);
    attn_free(&in);
}

// NaN in k/v rows no query can see: gradients stay finite, and zero there.
Test(attention_grad, hidden_keys_get_zero_gradient) {
    attn_case cs = {1, 2, 1, 40, 96, 8, 1, 1, 1, 8, 32};
    attn_inputs in = attn_make(&cs, 51);
    lt_i32(in.lens)[0] = 80;
    int nbq = attn_cdiv(cs.T, cs.bq), nbk = attn_cdiv(cs.S, cs.bk);
    for (int h = 0; h < cs.Hq; h++)
        for (int i = 0; i < nbq; i++) {
            lt_i32(in.mask)[((int64_t)h * nbq + i) * nbk] = 1;
            lt_i32(in.mask)[((int64_t)h * nbq + i) * nbk + 1] = 0;   // keys 32..63 only in masked blocks
        }
    for (int s = 32; s < cs.S; s++)   // 32..63 masked, 40.. after the last query, 80.. padding
        for (int d = 0; d < cs.D; d++) lt_f32(in.k)[s * cs.D + d] = lt_f32(in.v)[s * cs.D + d] = NAN;
    set_requires(&in, 7);
    float *dO = rand_host(52, in.q->numel), *dH = rand_host(53, in.q->numel / cs.D);
    check_against_naive(&in, dO, dH, "NaN in hidden keys");
    free(dO); free(dH);
    attn_free(&in);
}

// Every output and gradient element is computed by one task in a fixed order.
Test(attention_grad, same_bits_on_any_thread_count) {
    attn_case cs = {2, 4, 2, 150, 140, 32, 1, 1, 1, 32, 16, 32};   // above the one-thread size
    attn_inputs in = attn_make(&cs, 61);
    set_requires(&in, 7);
    float *dO = rand_host(62, in.q->numel), *dH = rand_host(63, in.q->numel / cs.D);
    float *first[4] = {0};
    int64_t n[4] = {in.q->numel, in.q->numel, in.k->numel, in.k->numel};
    int saved = omp_get_max_threads();
    for (int run = 0; run < 3; run++) {
        omp_set_num_threads(run + 1);
        lt_attn_out out;
        lt_ctx *c = run_backward(&in, dO, dH, &out);
        const float *got[4] = {lt_f32(out.o), in.q->grad, in.k->grad, in.v->grad};
        for (int i = 0; i < 4; i++) {
            if (!run) {
                first[i] = malloc(sizeof(float) * (size_t)n[i]);
                memcpy(first[i], got[i], sizeof(float) * (size_t)n[i]);
            } else {
                cr_assert(!memcmp(first[i], got[i], sizeof(float) * (size_t)n[i]),
                          "output %d differs between 1 and %d threads", i, run + 1);
            }
        }
        in.q->grad = in.k->grad = in.v->grad = NULL;   // arena memory, gone with c
        lt_ctx_free(c);
    }
    omp_set_num_threads(saved);
    for (int i = 0; i < 4; i++) free(first[i]);
    free(dO); free(dH);
    attn_free(&in);
}

// Arena high-water mark of forward and backward with the entropy at length T.
static size_t step_high_water(int T, int D) {
    attn_case cs = {1, 1, 1, T, T, D, 1};
    attn_inputs in = attn_make(&cs, 71);
    set_requires(&in, 7);
    float *dO = rand_host(72, in.q->numel), *dH = rand_host(73, T);
    lt_attn_out out;
    lt_ctx *c = run_backward(&in, dO, dH, &out);
    size_t hw = c->arena.high_water;
    in.q->grad = in.k->grad = in.v->grad = NULL;
    lt_ctx_free(c);
    free(dO); free(dH);
    attn_free(&in);
    return hw;
}

// The arena holds inputs' grads, outputs and transposed copies (O(T D)) plus
// per-thread tiles: far below one T x T matrix, and doubling T about doubles it.
Test(attention_grad, memory_is_linear_in_t) {
    enum { T = 2048, D = 16 };
    size_t hw = step_high_water(T, D), hw_half = step_high_water(T / 2, D);
    size_t txt = (size_t)T * T * sizeof(float);
    size_t bound = (size_t)24 * T * D * sizeof(float) + (size_t)omp_get_max_threads() * (256 << 10);
    cr_assert(hw < bound, "arena high water %zu bytes at T=%d, bound %zu (a T x T matrix: %zu)", hw, T, bound, txt);
    cr_assert(hw < txt / 4, "arena high water %zu bytes at T=%d, a T x T matrix is %zu", hw, T, txt);
    cr_assert(hw < 2.1 * hw_half, "high water %zu at T=%d vs %zu at T=%d: not linear", hw, T, hw_half, T / 2);
}
