// Shared test helpers: contexts, random tensors, flat-index arithmetic, allclose
// with a readable report, gradcheck wrappers, backward accumulation, error
// message checks.
#ifndef LT_TEST_H
#define LT_TEST_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libtrain/lt.h"

// CPU context seeded with `seed`, its arena poisoned (new allocations are NaN
// bytes, so a kernel that reads memory it has not written shows up).
static inline lt_ctx *lt_test_ctx(uint64_t seed) {
    lt_ctx *c = lt_ctx_new(LT_CPU, seed);
    cr_assert(c, "ctx: %s", lt_last_error());
    c->arena.poison = 1;
    return c;
}

// Row-major flat index `f` -> coordinates `co` in `shape`.
static inline void lt_test_unravel(int64_t f, int nd, const int *shape, int *co) {
    for (int i = nd - 1; i >= 0; i--) { co[i] = (int)(f % shape[i]); f /= shape[i]; }
}

// Coordinates `co` in `shape` -> row-major flat index.
static inline int64_t lt_test_ravel(int nd, const int *shape, const int *co) {
    int64_t f = 0;
    for (int i = 0; i < nd; i++) f = f * shape[i] + co[i];
    return f;
}

// Fresh persistent CPU tensor with uniform values in [lo,hi) from `seed`.
static inline lt_tensor *lt_test_rand(uint64_t seed, float lo, float hi, int ndim, const int *shape) {
    lt_tensor *t = lt_tensor_alloc(LT_F32, LT_CPU, ndim, shape);
    cr_assert(t, "alloc: %s", lt_last_error());
    lt_rng r;
    lt_rng_init(&r, seed);
    lt_rng_fill_uniform(&r, lt_f32(t), t->numel, lo, hi);
    return t;
}

// Values at least `gap` away from zero (for ops with a kink at 0: relu, abs).
static inline lt_tensor *lt_test_rand_away0(uint64_t seed, float hi, float gap, int ndim, const int *shape) {
    lt_tensor *t = lt_test_rand(seed, -hi, hi, ndim, shape);
    float *x = lt_f32(t);
    for (int64_t i = 0; i < t->numel; i++) if (fabsf(x[i]) < gap) x[i] = x[i] < 0 ? -gap : gap;
    return t;
}

// Asserts |out - ref| <= atol + rtol*|ref| elementwise; NaN anywhere fails.
static inline void lt_assert_allclose(const char *name, const float *ref, const float *out, int64_t n,
                                      double rtol, double atol) {
    int64_t bad = 0, first = -1;
    double maxdiff = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)out[i] - ref[i]);
        int nan = isnan(out[i]) || isnan(ref[i]);
        if (nan || d > atol + rtol * fabs(ref[i])) { if (first < 0) first = i; bad++; }
        if (!nan && d > maxdiff) maxdiff = d;
    }
    if (bad)
        cr_assert_fail("%s: %lld of %lld elements differ (first at %lld: got %.8g, want %.8g; max |diff| %.3g)", name,
                (long long)bad, (long long)n, (long long)first, out[first], ref[first], maxdiff);
}

// Runs lt_gradcheck and fails the test with its message.
static inline void lt_assert_gradcheck(const char *name, lt_gradcheck_fn fn, void *ud, int n_in, lt_tensor **in,
                                       double rtol) {
    lt_gradcheck_opts o = {1e-3, rtol, 0, 42};
    lt_gradcheck_result r;
    lt_status s = lt_gradcheck(fn, ud, n_in, in, &o, &r);
    cr_assert(s == LT_OK, "%s: %s", name, lt_last_error());
    cr_assert(r.n_checked > 0, "%s: no gradient element was checked", name);
}

// Gradcheck of at most `max_checks` evenly spaced elements per input (large
// shapes that take the kernels' multi-threaded paths).
static inline void lt_assert_gradcheck_n(const char *name, lt_gradcheck_fn fn, void *ud, int n_in, lt_tensor **in,
                                         int64_t max_checks) {
    lt_gradcheck_opts o = {1e-3, 1e-2, max_checks, 43};
    lt_gradcheck_result r;
    cr_assert(lt_gradcheck(fn, ud, n_in, in, &o, &r) == LT_OK, "%s: %s", name, lt_last_error());
    cr_assert(r.n_checked > 0, "%s: nothing checked", name);
}

// Backward must add into gradients that already hold values: starting every
// input grad at 0.5 must give 0.5 + the grads obtained from a zero start.
// At most 4 inputs.
static inline void lt_assert_accumulates(const char *name, lt_gradcheck_fn fn, void *ud, int n_in, lt_tensor **in) {
    float *first[4] = {0};
    for (int run = 0; run < 2; run++) {
        lt_ctx *c = lt_ctx_new(LT_CPU, 5);   // same seed both runs: same dropout mask
        for (int i = 0; i < n_in; i++) {
            if (!in[i]->requires_grad) continue;
            in[i]->grad = lt_arena_alloc(&c->arena, sizeof(float) * (size_t)in[i]->numel);
            for (int64_t j = 0; j < in[i]->numel; j++) in[i]->grad[j] = run ? 0.5f : 0.0f;
        }
        lt_tensor *y = fn(c, in, ud);
        cr_assert(y, "%s: %s", name, lt_last_error());
        float *g = malloc(sizeof(float) * (size_t)y->numel);
        for (int64_t j = 0; j < y->numel; j++) g[j] = (float)((j % 7) - 3) * 0.25f + 0.1f;
        cr_assert_eq(lt_backward_from(c, y, g), LT_OK, "%s: %s", name, lt_last_error());
        for (int i = 0; i < n_in; i++) {
            if (!in[i]->requires_grad) continue;
            if (!run) {
                first[i] = malloc(sizeof(float) * (size_t)in[i]->numel);
                for (int64_t j = 0; j < in[i]->numel; j++) first[i][j] = in[i]->grad[j] + 0.5f;
            } else {
                lt_assert_allclose(name, first[i], in[i]->grad, in[i]->numel, 1e-5, 1e-6);
                free(first[i]);
            }
            in[i]->grad = NULL;   // arena memory, gone with the ctx
        }
        free(g);
        lt_ctx_free(c);
    }
}

// Fails unless `failed` and lt_last_error() contains every one of the n `parts`.
static inline void lt_test_expect_error(int failed, const char *const *parts, int n) {
    cr_assert(failed, "a bad input was accepted");
    for (int i = 0; i < n; i++)
        cr_assert(strstr(lt_last_error(), parts[i]), "message \"%s\" lacks \"%s\"", lt_last_error(), parts[i]);
}
#define LT_TEST_N_STR(...) (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *))
// A builder returned NULL / a status call failed, with every part in the message.
#define LT_EXPECT_ERROR(t, ...) \
    lt_test_expect_error((t) == NULL, (const char *const[]){__VA_ARGS__}, LT_TEST_N_STR(__VA_ARGS__))
#define LT_EXPECT_FAIL(st, ...) \
    lt_test_expect_error((st) != LT_OK, (const char *const[]){__VA_ARGS__}, LT_TEST_N_STR(__VA_ARGS__))

// Runs `./train recipes/<recipe> <args>` (through ctest: LT_SOURCE_DIR and
// LT_BUILD_DIR set) without a progress bar; output (stdout+stderr) into buf.
// Returns the exit code.
#include <sys/wait.h>
static inline int lt_test_run_recipe(const char *recipe, const char *args, char *buf, size_t n) {
    const char *src = getenv("LT_SOURCE_DIR");
    cr_assert(src && getenv("LT_BUILD_DIR"), "run through ctest (LT_SOURCE_DIR, LT_BUILD_DIR unset)");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "NO_PROGRESS=1 %s/train %s/recipes/%s %s 2>&1", src, src, recipe, args);
    FILE *p = popen(cmd, "r");
    cr_assert(p, "popen %s", cmd);
    size_t k = fread(buf, 1, n - 1, p);
    buf[k] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// A packed MIL file for recipe tests: n_bags bags of 8-d N(0,1) features, bag b
// with 10 + below(len_spread) instances; odd bags are positive and hide 2..4
// instances shifted by 4 along dim 0. Bags [0, n_train) train, the next n_val
// validate, the rest test. Seeded, so every run writes the same file.
#include "data/mil.h"
static inline void lt_test_make_bags(const char *path, int n_bags, int len_spread, int n_train, int n_val) {
    const char *names[2] = {"negative", "positive"};
    lt_mil_writer *w;
    cr_assert_eq(lt_mil_writer_open(path, 8, 2, names, 0, &w), LT_OK, "%s", lt_last_error());
    lt_rng r;
    lt_rng_init(&r, 77);
    float *feat = malloc(sizeof(float) * 8 * (size_t)(10 + len_spread));
    cr_assert(feat);
    for (int b = 0; b < n_bags; b++) {
        int n = 10 + (int)lt_rng_below(&r, (uint32_t)len_spread), label = b % 2;
        lt_rng_fill_normal(&r, feat, (int64_t)n * 8, 0, 1);
        if (label)
            for (int k = 0; k < 2 + (int)lt_rng_below(&r, 3); k++) feat[k * 3 * 8] += 4.f;
        char id[32];
        snprintf(id, sizeof id, "bag_%02d", b);
        lt_mil_split_kind sp = b < n_train ? LT_SPLIT_TRAIN : b < n_train + n_val ? LT_SPLIT_VAL : LT_SPLIT_TEST;
        cr_assert_eq(lt_mil_writer_add(w, id, label, sp, n, feat, NULL), LT_OK, "%s", lt_last_error());
    }
    free(feat);
    cr_assert_eq(lt_mil_writer_commit(w), LT_OK, "%s", lt_last_error());
}

#endif
