// Elementwise ops: unary and broadcasting binary. Forward against naive
// loops, gradients by finite differences, results independent of the thread
// count, bad input.
#include "lt_test.h"

#include <omp.h>

typedef struct { int nd; int shape[LT_MAX_DIMS]; } shp;

// Total sizes 1, 3x5x7, 63, 1000.
static const shp SIZES[] = {{1, {1}}, {3, {3, 5, 7}}, {1, {63}}, {1, {1000}}};
#define N_SIZES (int)(sizeof SIZES / sizeof SIZES[0])

static lt_tensor *rand_t(uint64_t seed, float lo, float hi, shp s) { return lt_test_rand(seed, lo, hi, s.nd, s.shape); }

// ---------------------------------------------------------------- unary

typedef struct { lt_op op; float s; } unary_ud;

static lt_tensor *call_unary(lt_ctx *c, lt_op op, lt_tensor *x, float s) {
    switch (op) {
    case LT_OP_scale: return lt_scale(c, x, s);
    case LT_OP_exp: return lt_exp(c, x);
    case LT_OP_log: return lt_log(c, x);
    case LT_OP_sqrt: return lt_sqrt(c, x);
    case LT_OP_relu: return lt_relu(c, x);
    case LT_OP_gelu: return lt_gelu(c, x);
    case LT_OP_silu: return lt_silu(c, x);
    case LT_OP_sigmoid: return lt_sigmoid(c, x);
    case LT_OP_tanh: return lt_tanh(c, x);
    case LT_OP_softplus: return lt_softplus(c, x);
    default: cr_assert_fail("not a unary op"); return NULL;
    }
}

// Reference definitions in double, written from the math (torch semantics).
static double ref_unary(lt_op op, double x, double s) {
    switch (op) {
    case LT_OP_scale: return s * x;
    case LT_OP_exp: return exp(x);
    case LT_OP_log: return log(x);
    case LT_OP_sqrt: return sqrt(x);
    case LT_OP_relu: return x > 0 ? x : 0;
    case LT_OP_gelu: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case LT_OP_silu: return x / (1 + exp(-x));
    case LT_OP_sigmoid: return 1 / (1 + exp(-x));
    case LT_OP_tanh: return tanh(x);
    case LT_OP_softplus: return x > 20 ? x : log1p(exp(x));
    default: return NAN;
    }
}

static lt_tensor *unary_fn(lt_ctx *c, lt_tensor **in, void *ud) {
    unary_ud *u = ud;
    return call_unary(c, u->op, in[0], u->s);
}

static void check_unary_forward(lt_op op, float s, lt_tensor *x) {
    lt_ctx *c = lt_test_ctx(1);
    lt_tensor *y = call_unary(c, op, x, s);
    cr_assert(y, "%s: %s", lt_op_name(op), lt_last_error());
    cr_assert(lt_same_shape(x, y), "%s: output shape differs from input", lt_op_name(op));
    float *ref = malloc(sizeof(float) * (size_t)x->numel);
    for (int64_t i = 0; i < x->numel; i++) ref[i] = (float)ref_unary(op, lt_f32(x)[i], s);
    lt_assert_allclose(lt_op_name(op), ref, lt_f32(y), x->numel, 2e-6, 1e-6);
    free(ref);
    lt_ctx_free(c);
}

// Forward and gradcheck on every size; inputs uniform in [lo,hi), kept `gap` away from 0 when gap > 0.
static void check_unary(lt_op op, float s, float lo, float hi, float gap, uint64_t seed) {
    for (int k = 0; k < N_SIZES; k++) {
        lt_tensor *x = gap > 0 ? lt_test_rand_away0(seed + k, hi, gap, SIZES[k].nd, SIZES[k].shape)
                               : rand_t(seed + k, lo, hi, SIZES[k]);
        check_unary_forward(op, s, x);
        x->requires_grad = 1;
        unary_ud u = {op, s};
        char name[64];
        snprintf(name, sizeof name, "%s size %lld", lt_op_name(op), (long long)x->numel);
        lt_assert_gradcheck(name, unary_fn, &u, 1, &x, 1e-2);
        lt_tensor_free(x);
    }
}

Test(unary, scale) { check_unary(LT_OP_scale, -1.7f, -3, 3, 0, 100); }
Test(unary, exp) { check_unary(LT_OP_exp, 0, -3, 3, 0, 110); }
Test(unary, log) { check_unary(LT_OP_log, 0, 0.2f, 4, 0, 120); }
Test(unary, sqrt) { check_unary(LT_OP_sqrt, 0, 0.2f, 4, 0, 130); }
Test(unary, relu) { check_unary(LT_OP_relu, 0, -2, 2, 0.05f, 140); }
Test(unary, gelu) { check_unary(LT_OP_gelu, 0, -4, 4, 0, 150); }
Test(unary, silu) { check_unary(LT_OP_silu, 0, -5, 5, 0, 160); }
Test(unary, sigmoid) { check_unary(LT_OP_sigmoid, 0, -6, 6, 0, 170); }
Test(unary, tanh) { check_unary(LT_OP_tanh, 0, -3, 3, 0, 180); }
Test(unary, softplus) { check_unary(LT_OP_softplus, 0, -6, 6, 0, 190); }

Test(unary, scalar_input_keeps_ndim0) {
    lt_ctx *c = lt_test_ctx(1);
    float v = 0.3f;
    int none[1] = {1};
    lt_tensor *x = lt_tensor_from(c, LT_F32, 0, none, &v);
    lt_tensor *y = lt_tanh(c, x);
    cr_assert(y && y->ndim == 0 && y->numel == 1, "%s", lt_last_error());
    cr_assert_float_eq(lt_tensor_item(y), tanhf(0.3f), 1e-7);
    lt_ctx_free(c);
}

// Large |x|: no overflow to NaN, softplus linear above 20, gradients finite and right.
Test(unary, extremes_are_stable) {
    const lt_op ops[] = {LT_OP_sigmoid, LT_OP_softplus, LT_OP_silu, LT_OP_gelu, LT_OP_tanh};
    float xs[] = {-100.f, -89.f, -30.f, -20.5f, 0.f, 19.9f, 20.5f, 30.f, 89.f, 100.f};
    int n = (int)(sizeof xs / sizeof xs[0]);
    for (int k = 0; k < 5; k++) {
        lt_ctx *c = lt_test_ctx(1);
        lt_tensor *x = lt_tensor_leaf(c, 1, &n, xs);
        lt_tensor *y = call_unary(c, ops[k], x, 0);
        cr_assert(y, "%s", lt_last_error());
        float ref[10], ones[10], out[10];
        for (int i = 0; i < n; i++) { ref[i] = (float)ref_unary(ops[k], xs[i], 0); ones[i] = 1.f; }
        lt_tensor_to_host(y, out);
        lt_assert_allclose(lt_op_name(ops[k]), ref, out, n, 1e-6, 1e-30);
        cr_assert(lt_backward_from(c, y, ones) == LT_OK, "%s", lt_last_error());
        for (int i = 0; i < n; i++) cr_assert(isfinite(x->grad[i]), "%s grad at %g: %g", lt_op_name(ops[k]), xs[i], x->grad[i]);
        if (ops[k] == LT_OP_softplus) {
            cr_assert_eq(out[6], 20.5f, "softplus(20.5) should be exactly 20.5 (threshold), got %.9g", out[6]);
            cr_assert_float_eq(x->grad[9], 1.f, 0, "softplus'(100)");
            cr_assert(x->grad[0] >= 0 && x->grad[0] < 1e-30f, "softplus'(-100) = %g", x->grad[0]);
        }
        lt_ctx_free(c);
    }
}

// ---------------------------------------------------------------- binary

static lt_tensor *call_binary(lt_ctx *c, lt_op op, lt_tensor *a, lt_tensor *b) {
    switch (op) {
    case LT_OP_add: return lt_add(c, a, b);
    case LT_OP_sub: return lt_sub(c, a, b);
    case LT_OP_mul: return lt_mul(c, a, b);
    case LT_OP_div: return lt_div(c, a, b);
    default: cr_assert_fail("not a binary op"); return NULL;
    }
}

static float ref_binary(lt_op op, float a, float b) {
    switch (op) {
    case LT_OP_add: return a + b;
    case LT_OP_sub: return a - b;
    case LT_OP_mul: return a * b;
    default: return a / b;
    }
}

// Naive broadcast: out index -> coordinates -> each input's element (dims of 1 pinned to 0).
static float *ref_broadcast(lt_op op, const lt_tensor *a, const lt_tensor *b, shp *out) {
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    out->nd = nd;
    for (int d = 0; d < nd; d++) {
        int da = d - (nd - a->ndim) >= 0 ? a->shape[d - (nd - a->ndim)] : 1;
        int db = d - (nd - b->ndim) >= 0 ? b->shape[d - (nd - b->ndim)] : 1;
        out->shape[d] = da > db ? da : db;
    }
    int64_t numel = 1;
    for (int d = 0; d < nd; d++) numel *= out->shape[d];
    float *r = malloc(sizeof(float) * (size_t)numel);
    for (int64_t i = 0; i < numel; i++) {
        int coord[LT_MAX_DIMS];
        int64_t rest = i;
        for (int d = nd - 1; d >= 0; d--) { coord[d] = (int)(rest % out->shape[d]); rest /= out->shape[d]; }
        int64_t ia = 0, ib = 0;
        for (int d = 0; d < a->ndim; d++) {
            int cd = coord[d + nd - a->ndim];
            ia = ia * a->shape[d] + (a->shape[d] == 1 ? 0 : cd);
        }
        for (int d = 0; d < b->ndim; d++) {
            int cd = coord[d + nd - b->ndim];
            ib = ib * b->shape[d] + (b->shape[d] == 1 ? 0 : cd);
        }
        r[i] = ref_binary(op, lt_f32(a)[ia], lt_f32(b)[ib]);
    }
    return r;
}

static lt_tensor *binary_fn(lt_ctx *c, lt_tensor **in, void *ud) { return call_binary(c, *(lt_op *)ud, in[0], in[1]); }

static const lt_op BINOPS[] = {LT_OP_add, LT_OP_sub, LT_OP_mul, LT_OP_div};

// Divisors in [0.5,2) with mixed signs.
static lt_tensor *rand_operand(uint64_t seed, lt_op op, int is_b, shp s) {
    if (op != LT_OP_div || !is_b) return rand_t(seed, -2, 2, s);
    lt_tensor *t = rand_t(seed, 0.5f, 2, s);
    for (int64_t i = 0; i < t->numel; i += 3) lt_f32(t)[i] = -lt_f32(t)[i];
    return t;
}

// Forward vs naive, then gradcheck of both inputs (max_checks 0 = every element).
static void check_binary(lt_op op, shp sa, shp sb, uint64_t seed, int64_t max_checks) {
    char sa_s[64], sb_s[64], name[160];
    lt_shape_str_n(sa.nd, sa.shape, sa_s);
    lt_shape_str_n(sb.nd, sb.shape, sb_s);
    snprintf(name, sizeof name, "%s %s %s", lt_op_name(op), sa_s, sb_s);
    lt_tensor *in[2] = {rand_operand(seed, op, 0, sa), rand_operand(seed + 1, op, 1, sb)};
    lt_ctx *c = lt_test_ctx(1);
    lt_tensor *y = call_binary(c, op, in[0], in[1]);
    cr_assert(y, "%s: %s", name, lt_last_error());
    shp so;
    float *ref = ref_broadcast(op, in[0], in[1], &so);
    cr_assert_eq(y->ndim, so.nd, "%s: ndim %d, want %d", name, y->ndim, so.nd);
    for (int d = 0; d < so.nd; d++) cr_assert_eq(y->shape[d], so.shape[d], "%s: dim %d", name, d);
    lt_assert_allclose(name, ref, lt_f32(y), y->numel, 1e-6, 0);
    free(ref);
    lt_ctx_free(c);

    in[0]->requires_grad = in[1]->requires_grad = 1;
    lt_op u = op;
    lt_gradcheck_opts o = {1e-3, 1e-2, max_checks, seed};
    lt_gradcheck_result r;
    cr_assert(lt_gradcheck(binary_fn, &u, 2, in, &o, &r) == LT_OK, "%s: %s", name, lt_last_error());
    cr_assert(r.n_checked > 0, "%s: nothing checked", name);
    lt_tensor_free(in[0]);
    lt_tensor_free(in[1]);
}

Test(binary, equal_shapes) {
    for (int k = 0; k < 4; k++)
        for (int s = 0; s < N_SIZES; s++) check_binary(BINOPS[k], SIZES[s], SIZES[s], 1000 + 10 * k + s, 0);
}

// The four cases of the contract plus: a broadcast as the vector, a middle
// dim of 1, 5-d, a scalar (ndim 0), both inputs broadcast in the same dim set,
// and inputs broadcast along several separated dims (nested reductions).
static const shp BCAST[][2] = {
    {{3, {3, 5, 7}}, {1, {7}}},
    {{3, {3, 1, 7}}, {3, {1, 5, 1}}},
    {{1, {1}}, {3, {3, 5, 7}}},
    {{2, {5, 1}}, {2, {1, 4}}},
    {{1, {7}}, {3, {3, 5, 7}}},
    {{3, {3, 5, 7}}, {2, {5, 1}}},
    {{3, {3, 5, 7}}, {3, {3, 1, 7}}},
    {{5, {2, 3, 1, 4, 3}}, {4, {3, 5, 1, 1}}},
    {{0, {0}}, {2, {4, 3}}},
    {{2, {4, 3}}, {0, {0}}},
    {{3, {3, 1, 7}}, {3, {3, 5, 1}}},
    {{3, {1, 5, 7}}, {3, {3, 1, 1}}},
    {{4, {3, 5, 4, 7}}, {4, {1, 5, 1, 7}}},
    {{4, {1, 5, 1, 1}}, {5, {2, 3, 5, 4, 2}}},
    {{5, {3, 5, 4, 6, 2}}, {4, {5, 1, 6, 1}}},
};

Test(binary, broadcasting) {
    for (int k = 0; k < 4; k++)
        for (int s = 0; s < (int)(sizeof BCAST / sizeof BCAST[0]); s++)
            check_binary(BINOPS[k], BCAST[s][0], BCAST[s][1], 2000 + 20 * k + s, 0);
}

// Sizes past the threading threshold, including a bias-like [N,D]+[D] and a
// scalar spread over 77k elements (gradients sampled).
Test(binary, large_threaded) {
    const shp cases[][2] = {
        {{2, {300, 257}}, {1, {257}}},
        {{2, {300, 1}}, {2, {300, 257}}},
        {{1, {77100}}, {1, {1}}},
        {{3, {60, 5, 257}}, {3, {60, 1, 257}}},
    };
    for (int k = 0; k < 4; k++)
        for (int s = 0; s < 4; s++) check_binary(BINOPS[k], cases[s][0], cases[s][1], 3000 + 10 * k + s, 150);
}

static lt_tensor *square_fn(lt_ctx *c, lt_tensor **in, void *ud) { return lt_mul(c, in[0], in[0]); }

Test(binary, same_tensor_twice) {
    int n = 63;
    lt_tensor *x = lt_test_rand(4000, -2, 2, 1, &n);
    x->requires_grad = 1;
    lt_assert_gradcheck("x*x", square_fn, NULL, 1, &x, 1e-2);
    lt_tensor_free(x);
}

// An input without requires_grad gets no gradient buffer and no work.
Test(binary, frozen_input_gets_no_grad) {
    lt_ctx *c = lt_test_ctx(1);
    int sa[2] = {3, 4}, sb[1] = {4};
    float av[12], bv[4], ones[12];
    for (int i = 0; i < 12; i++) { av[i] = (float)i; ones[i] = 1.f; }
    for (int i = 0; i < 4; i++) bv[i] = 1.f + (float)i;
    lt_tensor *a = lt_tensor_leaf(c, 2, sa, av);
    lt_tensor *b = lt_tensor_from(c, LT_F32, 1, sb, bv);
    lt_tensor *y = lt_mul(c, a, b);
    cr_assert(y && lt_backward_from(c, y, ones) == LT_OK, "%s", lt_last_error());
    cr_assert_null(b->grad);
    for (int i = 0; i < 12; i++) cr_assert_float_eq(a->grad[i], bv[i % 4], 0);
    lt_ctx_free(c);
}

// Forward and both gradients bit-identical with 1 and 2 threads.
Test(binary, thread_count_does_not_change_results) {
    int sa[2] = {400, 300}, sb[2] = {400, 1};
    lt_tensor *a = lt_test_rand(5000, -1, 1, 2, sa), *b = lt_test_rand(5001, 0.5f, 2, 2, sb);
    float *res[2][3];
    int nt0 = omp_get_max_threads();
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run == 0 ? 1 : 2);
        lt_ctx *c = lt_test_ctx(1);
        lt_tensor *x = lt_tensor_leaf(c, 2, sa, lt_f32(a)), *z = lt_tensor_leaf(c, 2, sb, lt_f32(b));
        lt_tensor *y = lt_div(c, x, z);
        cr_assert(y, "%s", lt_last_error());
        float *g = malloc(sizeof(float) * (size_t)y->numel);
        lt_rng r;
        lt_rng_init(&r, 9);
        lt_rng_fill_uniform(&r, g, y->numel, -1, 1);
        cr_assert(lt_backward_from(c, y, g) == LT_OK, "%s", lt_last_error());
        res[run][0] = malloc(sizeof(float) * 120000); memcpy(res[run][0], lt_f32(y), sizeof(float) * 120000);
        res[run][1] = malloc(sizeof(float) * 120000); memcpy(res[run][1], x->grad, sizeof(float) * 120000);
        res[run][2] = malloc(sizeof(float) * 400); memcpy(res[run][2], z->grad, sizeof(float) * 400);
        free(g);
        lt_ctx_free(c);
    }
    omp_set_num_threads(nt0);
    cr_assert(memcmp(res[0][0], res[1][0], sizeof(float) * 120000) == 0, "forward differs");
    cr_assert(memcmp(res[0][1], res[1][1], sizeof(float) * 120000) == 0, "grad a differs");
    cr_assert(memcmp(res[0][2], res[1][2], sizeof(float) * 400) == 0, "grad b differs");
    for (int i = 0; i < 2; i++) for (int j = 0; j < 3; j++) free(res[i][j]);
    lt_tensor_free(a);
    lt_tensor_free(b);
}

// ---------------------------------------------------------------- bad input

Test(errors, shapes_not_broadcastable) {
    lt_ctx *c = lt_test_ctx(1);
    lt_tensor *a = lt_tensor_new(c, LT_F32, LT_SHAPE(3, 5)), *b = lt_tensor_new(c, LT_F32, LT_SHAPE(4));
    cr_assert_null(lt_add(c, a, b));
    const char *m = lt_last_error();
    cr_assert(strstr(m, "add") && strstr(m, "[3,5]") && strstr(m, "[4]"), "message: %s", m);
    lt_tensor *d = lt_tensor_new(c, LT_F32, LT_SHAPE(2, 3, 1)), *e = lt_tensor_new(c, LT_F32, LT_SHAPE(4, 1, 5));
    cr_assert_null(lt_div(c, d, e));
    m = lt_last_error();
    cr_assert(strstr(m, "div") && strstr(m, "[2,3,1]") && strstr(m, "[4,1,5]"), "message: %s", m);
    lt_ctx_free(c);
}

Test(errors, integer_inputs) {
    lt_ctx *c = lt_test_ctx(1);
    lt_tensor *f = lt_tensor_zeros(c, LT_F32, LT_SHAPE(3)), *i = lt_tensor_zeros(c, LT_I32, LT_SHAPE(3));
    cr_assert_null(lt_mul(c, f, i));
    cr_assert(strstr(lt_last_error(), "mul") && strstr(lt_last_error(), "i32"), "message: %s", lt_last_error());
    cr_assert_null(lt_sub(c, i, f));
    cr_assert(strstr(lt_last_error(), "sub") && strstr(lt_last_error(), "i32"), "message: %s", lt_last_error());
    cr_assert_null(lt_relu(c, i));
    cr_assert(strstr(lt_last_error(), "relu") && strstr(lt_last_error(), "i32"), "message: %s", lt_last_error());
    cr_assert_null(lt_scale(c, i, 2.f));
    cr_assert(strstr(lt_last_error(), "scale") && strstr(lt_last_error(), "i32"), "message: %s", lt_last_error());
    lt_ctx_free(c);
}

Test(errors, null_input_keeps_first_error) {
    lt_ctx *c = lt_test_ctx(1);
    lt_tensor *a = lt_tensor_new(c, LT_F32, LT_SHAPE(2)), *b = lt_tensor_new(c, LT_F32, LT_SHAPE(3));
    cr_assert_null(lt_exp(c, lt_mul(c, lt_add(c, a, b), a)));
    cr_assert(strstr(lt_last_error(), "add") && strstr(lt_last_error(), "[2]"), "message: %s", lt_last_error());
    lt_ctx_free(c);
}
