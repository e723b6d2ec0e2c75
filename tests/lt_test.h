// Shared test helpers: random tensors, allclose with a readable report, gradcheck wrapper.
#ifndef LT_TEST_H
#define LT_TEST_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "libtrain/lt.h"

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

#endif
