// CPU/CUDA parity of every op in autograd/ops.def: forward and every input
// gradient on odd shapes (1, 63, 1000, sizes not multiples of a block, 0-d and
// 5-d tensors), broadcasting, every reduction axis with and without keepdim,
// matmul transposes and a shared b, optional biases and norm parameters,
// ignore_index and label smoothing, duplicate indices, identical dropout masks,
// i32 layout moves; matmul and linear also in TF32 and BF16 (1e-2).
// Skipped as a whole (exit 77) where no GPU is usable.
#include "cuda_parity.h"

#include <assert.h>

typedef struct { int nd; int s[LT_MAX_DIMS]; } shp;
#define SHP(x) (x).nd, (x).s

static const char *shp_str(shp s, char *buf) { return lt_shape_str_n(s.nd, s.s, buf); }

// Sizes 1 (0-d and 1-d), 3x5x7, 63, 1000, and a multi-block 129x257.
static const shp SIZES[] = {{0, {1}}, {1, {1}}, {3, {3, 5, 7}}, {1, {63}}, {1, {1000}}, {2, {129, 257}}};
#define N_SIZES (int)(sizeof SIZES / sizeof SIZES[0])

// Which tests cover each op; a new op in ops.def fails `coverage` until it has cases here.
static_assert(LT_OP_COUNT == 34, "ops.def changed: add parity cases for the new op and list it in COVERAGE");
static const char *const COVERAGE[LT_OP_COUNT] = {
    [LT_OP_add] = "binary.*", [LT_OP_sub] = "binary.*", [LT_OP_mul] = "binary.*", [LT_OP_div] = "binary.*",
    [LT_OP_scale] = "unary.*", [LT_OP_exp] = "unary.*", [LT_OP_log] = "unary.*", [LT_OP_sqrt] = "unary.*",
    [LT_OP_relu] = "unary.*", [LT_OP_gelu] = "unary.*", [LT_OP_silu] = "unary.*", [LT_OP_sigmoid] = "unary.*",
    [LT_OP_tanh] = "unary.*", [LT_OP_softplus] = "unary.*",
    [LT_OP_sum] = "reduce.*", [LT_OP_mean] = "reduce.*", [LT_OP_max] = "reduce.*",
    [LT_OP_matmul] = "matmul.*", [LT_OP_linear] = "linear.*",
    [LT_OP_softmax] = "softmax.*", [LT_OP_log_softmax] = "softmax.*", [LT_OP_cross_entropy] = "cross_entropy.*",
    [LT_OP_layernorm] = "norm.*", [LT_OP_rmsnorm] = "norm.*",
    [LT_OP_embedding] = "embedding.*", [LT_OP_dropout] = "dropout.*",
    [LT_OP_reshape] = "layout.reshape", [LT_OP_permute] = "layout.permute", [LT_OP_concat] = "layout.concat",
    [LT_OP_slice] = "layout.slice*", [LT_OP_index_select] = "index.index_select", [LT_OP_gather] = "index.gather",
    [LT_OP_attention] = "attention.* (and test_cuda_attention)", [LT_OP_softmax_entropy] = "softmax_entropy.*",
};

Test(coverage, every_op_in_ops_def_has_parity_cases) {
    for (int op = 0; op < LT_OP_COUNT; op++)
        cr_expect(COVERAGE[op] != NULL, "op %s (%d of %d in ops.def) has no CUDA parity test", lt_op_name((lt_op)op),
                  op, LT_OP_COUNT);
}

// ---------------------------------------------------------------- unary

typedef struct { lt_op op; float s; } un_ud;

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
    default: return NULL;
    }
}

static int unary_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    const un_ud *u = ud;
    out[0] = call_unary(c, u->op, in[0], u->s);
    return 1;
}

// Every size; values uniform in [lo,hi), pushed `gap` away from 0 when gap > 0 (relu's kink).
static void check_unary(lt_op op, float s, float lo, float hi, float gap, uint64_t seed) {
    for (int k = 0; k < N_SIZES; k++) {
        char b[64];
        lt_parity p;
        lt_parity_init(&p, seed + (uint64_t)k, "%s %s", lt_op_name(op), shp_str(SIZES[k], b));
        lt_parity_rand(&p, 1, lo, hi, SHP(SIZES[k]));
        if (gap > 0) {
            float *x = p.in[0].host;
            for (int64_t i = 0; i < p.in[0].numel; i++)
                if (fabsf(x[i]) < gap) x[i] = x[i] < 0 ? -gap : gap;
        }
        un_ud u = {op, s};
        lt_parity_check(&p, unary_fn, &u);
    }
}

Test(unary, scale) { check_unary(LT_OP_scale, -1.7f, -3, 3, 0, 100); }
Test(unary, exp) { check_unary(LT_OP_exp, 0, -6, 6, 0, 110); }
Test(unary, log) { check_unary(LT_OP_log, 0, 0.05f, 50, 0, 120); }
Test(unary, sqrt) { check_unary(LT_OP_sqrt, 0, 0.01f, 100, 0, 130); }
Test(unary, relu) { check_unary(LT_OP_relu, 0, -2, 2, 0.05f, 140); }
Test(unary, gelu) { check_unary(LT_OP_gelu, 0, -6, 6, 0, 150); }
Test(unary, silu) { check_unary(LT_OP_silu, 0, -8, 8, 0, 160); }
Test(unary, sigmoid) { check_unary(LT_OP_sigmoid, 0, -10, 10, 0, 170); }
Test(unary, tanh) { check_unary(LT_OP_tanh, 0, -4, 4, 0, 180); }
Test(unary, softplus) { check_unary(LT_OP_softplus, 0, -25, 25, 0, 190); }   // crosses the x > 20 threshold

// Large |x|: saturation, softplus's threshold, no overflow to NaN.
Test(unary, extremes) {
    const lt_op ops[] = {LT_OP_sigmoid, LT_OP_softplus, LT_OP_silu, LT_OP_gelu, LT_OP_tanh};
    const float xs[] = {-100.f, -89.f, -30.f, -20.5f, -1e-3f, 0.f, 1e-3f, 19.9f, 20.f, 20.5f, 30.f, 89.f, 100.f};
    int n = (int)(sizeof xs / sizeof xs[0]);
    for (int k = 0; k < 5; k++) {
        lt_parity p;
        lt_parity_init(&p, 200 + (uint64_t)k, "%s extremes", lt_op_name(ops[k]));
        lt_parity_f32(&p, 1, 1, &n, xs);
        un_ud u = {ops[k], 0};
        lt_parity_check(&p, unary_fn, &u);
    }
}

// ---------------------------------------------------------------- binary

static lt_tensor *call_binary(lt_ctx *c, lt_op op, lt_tensor *a, lt_tensor *b) {
    switch (op) {
    case LT_OP_add: return lt_add(c, a, b);
    case LT_OP_sub: return lt_sub(c, a, b);
    case LT_OP_mul: return lt_mul(c, a, b);
    case LT_OP_div: return lt_div(c, a, b);
    default: return NULL;
    }
}

typedef struct { lt_op op; int same; } bin_ud;

static int binary_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    const bin_ud *u = ud;
    out[0] = call_binary(c, u->op, in[0], u->same ? in[0] : in[1]);
    return 1;
}

static const lt_op BINOPS[] = {LT_OP_add, LT_OP_sub, LT_OP_mul, LT_OP_div};

// a and b with gradients (b frozen when frozen_b); operands in [-1,3) (mixed
// signs, a positive mean: a broadcast operand's summed gradient does not
// cancel); divisors in [0.5,2) with mixed signs.
static void check_binary(lt_op op, shp sa, shp sb, uint64_t seed, int frozen_b) {
    char s1[64], s2[64];
    lt_parity p;
    lt_parity_init(&p, seed, "%s %s %s%s", lt_op_name(op), shp_str(sa, s1), shp_str(sb, s2),
                   frozen_b ? " (b frozen)" : "");
    lt_parity_rand(&p, 1, -1, 3, SHP(sa));
    if (op == LT_OP_div) {
        int i = lt_parity_rand(&p, !frozen_b, 0.5f, 2, SHP(sb));
        float *v = p.in[i].host;
        for (int64_t j = 0; j < p.in[i].numel; j += 3) v[j] = -v[j];
    } else {
        lt_parity_rand(&p, !frozen_b, -1, 3, SHP(sb));
    }
    bin_ud u = {op, 0};
    lt_parity_check(&p, binary_fn, &u);
}

Test(binary, equal_shapes) {
    for (int k = 0; k < 4; k++)
        for (int s = 0; s < N_SIZES; s++) check_binary(BINOPS[k], SIZES[s], SIZES[s], 1000 + 10 * k + s, 0);
}

// Vector, middle dims of 1, 0-d scalars either side, both inputs broadcast,
// several separated broadcast dims, 5-d, and bias-like shapes past a block.
static const shp BCAST[][2] = {
    {{3, {3, 5, 7}}, {1, {7}}},
    {{3, {3, 1, 7}}, {3, {1, 5, 1}}},
    {{1, {1}}, {3, {3, 5, 7}}},
    {{2, {5, 1}}, {2, {1, 4}}},
    {{1, {7}}, {3, {3, 5, 7}}},
    {{3, {3, 5, 7}}, {2, {5, 1}}},
    {{3, {3, 5, 7}}, {3, {3, 1, 7}}},
    {{5, {2, 3, 1, 4, 3}}, {4, {3, 5, 1, 1}}},
    {{0, {1}}, {2, {4, 3}}},
    {{2, {4, 3}}, {0, {1}}},
    {{3, {3, 1, 7}}, {3, {3, 5, 1}}},
    {{3, {1, 5, 7}}, {3, {3, 1, 1}}},
    {{4, {3, 5, 4, 7}}, {4, {1, 5, 1, 7}}},
    {{4, {1, 5, 1, 1}}, {5, {2, 3, 5, 4, 2}}},
    {{5, {3, 5, 4, 6, 2}}, {4, {5, 1, 6, 1}}},
    {{2, {300, 257}}, {1, {257}}},
    {{2, {300, 1}}, {2, {300, 257}}},
    {{1, {77101}}, {1, {1}}},
    {{3, {60, 5, 257}}, {3, {60, 1, 257}}},
};

Test(binary, broadcasting) {
    for (int k = 0; k < 4; k++)
        for (int s = 0; s < (int)(sizeof BCAST / sizeof BCAST[0]); s++)
            check_binary(BINOPS[k], BCAST[s][0], BCAST[s][1], 2000 + 40 * k + s, 0);
}

Test(binary, frozen_b_and_same_tensor_twice) {
    for (int k = 0; k < 4; k++) check_binary(BINOPS[k], BCAST[0][0], BCAST[0][1], 3000 + k, 1);
    const lt_op same[] = {LT_OP_add, LT_OP_mul};
    for (int k = 0; k < 2; k++) {
        lt_parity p;
        lt_parity_init(&p, 3100 + (uint64_t)k, "%s x x [1000]", lt_op_name(same[k]));
        lt_parity_rand(&p, 1, -2, 2, LT_SHAPE(1000));
        bin_ud u = {same[k], 1};
        lt_parity_check(&p, binary_fn, &u);
    }
}

// ---------------------------------------------------------------- reductions

typedef struct { lt_op op; int axis, keepdim; } red_ud;

static int reduce_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    const red_ud *u = ud;
    if (u->op == LT_OP_sum) out[0] = lt_sum(c, in[0], u->axis, u->keepdim);
    else if (u->op == LT_OP_mean) out[0] = lt_mean(c, in[0], u->axis, u->keepdim);
    else out[0] = lt_max(c, in[0], u->axis, u->keepdim);
    return 1;
}

// sum/mean take values in [-1,3) (a positive mean: a sum over all elements is
// far from 0); ties: max over values from {0,1,2}, so most groups tie
// (gradient to the first maximum).
static void check_reduce(red_ud u, shp s, uint64_t seed, int ties) {
    char b[64], ax[16];
    if (u.axis == LT_AXIS_ALL) snprintf(ax, sizeof ax, "all");
    else snprintf(ax, sizeof ax, "%d", u.axis);
    lt_parity p;
    lt_parity_init(&p, seed, "%s %s axis=%s keepdim=%d%s", lt_op_name(u.op), shp_str(s, b), ax, u.keepdim,
                   ties ? " ties" : "");
    int i = lt_parity_rand(&p, 1, -1, 3, SHP(s));
    if (u.op == LT_OP_max) {
        // distinct values in a random order (a unique maximum), or few values (ties)
        float *x = p.in[i].host;
        int64_t n = p.in[i].numel;
        int32_t *perm = malloc(sizeof(int32_t) * (size_t)n);
        for (int64_t j = 0; j < n; j++) perm[j] = (int32_t)j;
        lt_rng r;
        lt_rng_init(&r, seed);
        lt_rng_shuffle(&r, perm, n);
        for (int64_t j = 0; j < n; j++)
            x[j] = ties ? (float)(perm[j] % 3) : (float)((perm[j] - n / 2) * (4.0 / (double)n));
        free(perm);
    }
    lt_parity_check(&p, reduce_fn, &u);
}

static const lt_op REDOPS[] = {LT_OP_sum, LT_OP_mean, LT_OP_max};

Test(reduce, every_axis_of_3x5x7) {
    const shp s = {3, {3, 5, 7}};
    const int axes[] = {0, 1, 2, -1, -2, -3, LT_AXIS_ALL};
    for (int k = 0; k < 3; k++)
        for (int a = 0; a < 7; a++)
            for (int keep = 0; keep < 2; keep++)
                check_reduce((red_ud){REDOPS[k], axes[a], keep}, s, 100 + 20 * k + 2 * a + keep, 0);
}

Test(reduce, odd_and_large_sizes) {
    const struct { shp s; int axis; } cases[] = {
        {{1, {1}}, 0}, {{1, {1}}, LT_AXIS_ALL}, {{0, {1}}, LT_AXIS_ALL},
        {{1, {63}}, 0}, {{1, {63}}, LT_AXIS_ALL}, {{1, {1000}}, 0}, {{1, {1000}}, LT_AXIS_ALL},
        {{2, {8, 125}}, 0}, {{2, {4, 130}}, 0}, {{3, {4, 3, 70}}, 1}, {{4, {2, 1, 3, 1}}, 1},
        {{5, {2, 3, 1, 2, 3}}, 3}, {{2, {300, 257}}, 0}, {{2, {300, 257}}, 1}, {{2, {300, 257}}, LT_AXIS_ALL},
        {{3, {60, 5, 257}}, 1}, {{1, {77101}}, LT_AXIS_ALL}, {{2, {3, 70001}}, 1}, {{2, {70001, 3}}, 0},
    };
    int n = (int)(sizeof cases / sizeof cases[0]);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < n; i++)
            for (int keep = 0; keep < 2; keep++)
                check_reduce((red_ud){REDOPS[k], cases[i].axis, keep}, cases[i].s, 500 + 50 * k + 2 * i + keep, 0);
}

Test(reduce, max_ties_go_to_the_first_maximum) {
    const struct { shp s; int axis; } cases[] = {
        {{3, {3, 5, 7}}, 0}, {{3, {3, 5, 7}}, 1}, {{3, {3, 5, 7}}, 2}, {{3, {3, 5, 7}}, LT_AXIS_ALL},
        {{2, {300, 257}}, 0}, {{2, {300, 257}}, 1}, {{1, {77101}}, LT_AXIS_ALL},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++)
        check_reduce((red_ud){LT_OP_max, cases[i].axis, i & 1}, cases[i].s, 900 + (uint64_t)i, 1);
}

// ---------------------------------------------------------------- matmul, linear

// Logical shapes: op(a) [.., M, K] @ op(b) [.., K, N]; b 2-D is shared.
typedef struct { int nda, a[LT_MAX_DIMS]; int ndb, b[LT_MAX_DIMS]; } mm_case;

static const mm_case MM[] = {
    {2, {1, 1}, 2, {1, 1}},
    {2, {3, 5}, 2, {5, 7}},
    {3, {2, 3, 5}, 3, {2, 5, 7}},
    {3, {3, 5, 7}, 2, {7, 9}},
    {5, {2, 1, 3, 4, 5}, 5, {2, 1, 3, 5, 2}},
    {4, {2, 3, 1, 6}, 2, {6, 1}},
    {2, {67, 129}, 2, {129, 33}},
    {3, {3, 63, 65}, 3, {3, 65, 31}},
    {4, {2, 3, 37, 70}, 2, {70, 45}},
    {2, {5, 1000}, 2, {1000, 7}},
    {2, {1, 1000}, 2, {1000, 1}},
    {2, {130, 1}, 2, {1, 97}},
};
#define N_MM (int)(sizeof MM / sizeof MM[0])

typedef struct { int ta, tb; } mm_ud;

static int mm_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    const mm_ud *u = ud;
    out[0] = (u->ta || u->tb) ? lt_matmul_t(c, in[0], in[1], u->ta, u->tb) : lt_matmul(c, in[0], in[1]);
    return 1;
}

// Adds a matmul operand stored transposed when `trans`; values in [-0.5,1.5)
// (a positive mean: [1,1000] @ [1000,1] is not a sum cancelling towards 0).
static void mm_operand(lt_parity *p, int grad, int nd, const int *logical, int trans) {
    int s[LT_MAX_DIMS];
    memcpy(s, logical, sizeof(int) * (size_t)nd);
    if (trans) { s[nd - 2] = logical[nd - 1]; s[nd - 1] = logical[nd - 2]; }
    lt_parity_rand(p, grad, -0.5f, 1.5f, nd, s);
}

static void check_matmul(int ci, int t, lt_precision prec, double tol, int frozen, uint64_t seed) {
    const mm_case *k = &MM[ci];
    char sa[64], sb[64];
    lt_parity p;
    lt_parity_init(&p, seed, "matmul %s @ %s trans %d%d %s%s", lt_shape_str_n(k->nda, k->a, sa),
                   lt_shape_str_n(k->ndb, k->b, sb), t & 1, t >> 1, lt_precision_name(prec),
                   frozen == 1 ? " (a frozen)" : frozen == 2 ? " (b frozen)" : "");
    p.tol = tol;
    p.floor_max = prec != LT_PREC_FP32;   // reduced precision: errors judged against the tensor's largest value
    mm_operand(&p, frozen != 1, k->nda, k->a, t & 1);
    mm_operand(&p, frozen != 2, k->ndb, k->b, t >> 1);
    mm_ud u = {t & 1, t >> 1};
    lt_set_matmul_precision(prec);
    lt_parity_check(&p, mm_fn, &u);
    lt_set_matmul_precision(LT_PREC_FP32);
}

Test(matmul, every_case_and_transpose_fp32) {
    for (int ci = 0; ci < N_MM; ci++)
        for (int t = 0; t < 4; t++) check_matmul(ci, t, LT_PREC_FP32, LT_PARITY_FP32, 0, 100 + 4 * (uint64_t)ci + t);
}

Test(matmul, one_input_frozen) {
    for (int frozen = 1; frozen <= 2; frozen++)
        for (int ci = 3; ci < N_MM; ci += 3) check_matmul(ci, 3, LT_PREC_FP32, LT_PARITY_FP32, frozen, 300 + ci);
}

// The larger cases, but not [1,1000] @ [1000,1]: one output that may sit near 0
// after cancellation, where bf16's rounding of 1000 terms has no floor to hide under.
Test(matmul, tf32_and_bf16) {
    const lt_precision precs[2] = {LT_PREC_TF32, LT_PREC_BF16};
    const int cases[] = {6, 7, 8, 9, 11};
    for (int pi = 0; pi < 2; pi++)
        for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++)
            for (int t = 0; t < 4; t++)
                check_matmul(cases[k], t, precs[pi], LT_PARITY_BF16, 0,
                             400 + 100 * (uint64_t)pi + 4 * (uint64_t)cases[k] + t);
}

typedef struct { int has_bias; } lin_ud;

static int linear_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    const lin_ud *u = ud;
    out[0] = lt_linear(c, in[0], in[1], u->has_bias ? in[2] : NULL);
    return 1;
}

// x [..., in] @ w [out, in]^T (+ bias [out]); xg, bg: x / bias take gradients.
static void check_linear(shp x, int out_f, int has_bias, int xg, int bg, lt_precision prec, double tol,
                         uint64_t seed) {
    char b[64];
    int in_f = x.s[x.nd - 1];
    lt_parity p;
    lt_parity_init(&p, seed, "linear x %s w [%d,%d] %s%s%s %s", shp_str(x, b), out_f, in_f,
                   has_bias ? "bias" : "no bias", xg ? "" : " (x frozen)", has_bias && !bg ? " (bias frozen)" : "",
                   lt_precision_name(prec));
    p.tol = tol;
    p.floor_max = prec != LT_PREC_FP32;   // reduced precision: errors judged against the tensor's largest value
    lt_parity_rand(&p, xg, -1, 1, SHP(x));
    lt_parity_rand(&p, 1, -1, 1, LT_SHAPE(out_f, in_f));
    if (has_bias) lt_parity_rand(&p, bg, -1, 1, LT_SHAPE(out_f));
    lin_ud u = {has_bias};
    lt_set_matmul_precision(prec);
    lt_parity_check(&p, linear_fn, &u);
    lt_set_matmul_precision(LT_PREC_FP32);
}

static const struct { shp x; int out_f; } LIN[] = {
    {{2, {1, 1}}, 1}, {{2, {5, 7}}, 3}, {{3, {2, 3, 33}}, 65}, {{2, {1000, 129}}, 63},
    {{5, {2, 1, 3, 4, 17}}, 9}, {{1, {31}}, 10}, {{2, {64, 784}}, 257},
};

Test(linear, bias_and_no_bias_fp32) {
    for (int k = 0; k < (int)(sizeof LIN / sizeof LIN[0]); k++)
        for (int bias = 0; bias < 2; bias++)
            check_linear(LIN[k].x, LIN[k].out_f, bias, 1, 1, LT_PREC_FP32, LT_PARITY_FP32,
                         600 + 2 * (uint64_t)k + bias);
}

Test(linear, frozen_x_and_bias) {
    for (int k = 1; k < (int)(sizeof LIN / sizeof LIN[0]); k++) {
        check_linear(LIN[k].x, LIN[k].out_f, 1, 0, 1, LT_PREC_FP32, LT_PARITY_FP32, 700 + (uint64_t)k);
        check_linear(LIN[k].x, LIN[k].out_f, 1, 1, 0, LT_PREC_FP32, LT_PARITY_FP32, 720 + (uint64_t)k);
    }
}

Test(linear, tf32_and_bf16) {
    const lt_precision precs[2] = {LT_PREC_TF32, LT_PREC_BF16};
    for (int pi = 0; pi < 2; pi++)
        for (int k = 2; k < (int)(sizeof LIN / sizeof LIN[0]); k++)
            check_linear(LIN[k].x, LIN[k].out_f, 1, 1, 1, precs[pi], LT_PARITY_BF16, 800 + 10 * (uint64_t)pi + k);
}

// ---------------------------------------------------------------- softmax, log_softmax, entropy

typedef struct { lt_op op; } last_ud;

static int last_axis_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    const last_ud *u = ud;
    if (u->op == LT_OP_softmax) out[0] = lt_softmax(c, in[0]);
    else if (u->op == LT_OP_log_softmax) out[0] = lt_log_softmax(c, in[0]);
    else out[0] = lt_softmax_entropy(c, in[0]);
    return 1;
}

static const shp ROWS[] = {{2, {4, 1}}, {2, {3, 7}}, {2, {2, 63}}, {2, {2, 1000}}, {3, {3, 5, 7}},
                           {2, {7, 4097}}, {2, {257, 33}}, {1, {129}}};
#define N_ROWS (int)(sizeof ROWS / sizeof ROWS[0])

static void check_last_axis(lt_op op, shp s, float lo, float hi, uint64_t seed, const char *tag) {
    char b[64];
    lt_parity p;
    lt_parity_init(&p, seed, "%s %s%s", lt_op_name(op), shp_str(s, b), tag);
    lt_parity_rand(&p, 1, lo, hi, SHP(s));
    last_ud u = {op};
    lt_parity_check(&p, last_axis_fn, &u);
}

Test(softmax, rows_small_and_large_logits) {
    const lt_op ops[2] = {LT_OP_softmax, LT_OP_log_softmax};
    for (int o = 0; o < 2; o++)
        for (int k = 0; k < N_ROWS; k++) {
            check_last_axis(ops[o], ROWS[k], -5, 5, 100 + 20 * (uint64_t)o + k, "");
            check_last_axis(ops[o], ROWS[k], 990, 1010, 140 + 20 * (uint64_t)o + k, " logits ~1000");
        }
}

Test(softmax_entropy, rows) {
    for (int k = 1; k < N_ROWS; k++) {   // a width-1 row has H = 0 and gradient 0 exactly: nothing relative to check
        check_last_axis(LT_OP_softmax_entropy, ROWS[k], -3, 3, 200 + (uint64_t)k, "");
        check_last_axis(LT_OP_softmax_entropy, ROWS[k], 990, 1010, 220 + (uint64_t)k, " logits ~1000");
    }
}

// Masked logits (-1e9 style and -inf) have p = 0 and add nothing, forward or backward.
Test(softmax_entropy, masked_logits) {
    const float masks[2] = {-1e9f, -INFINITY};
    const shp shapes[2] = {{2, {4, 50}}, {2, {3, 1000}}};
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < 2; k++) {
            char b[64];
            lt_parity p;
            lt_parity_init(&p, 300 + 2 * (uint64_t)m + k, "softmax_entropy %s masked with %g", shp_str(shapes[k], b),
                           (double)masks[m]);
            int i = lt_parity_rand(&p, 1, -3, 3, SHP(shapes[k]));
            float *x = p.in[i].host;
            int d = shapes[k].s[1];
            for (int r = 0; r < shapes[k].s[0]; r++)
                for (int j = 0; j < d; j++)
                    if ((j * 7 + r) % 3 == 0 && j != r) x[r * d + j] = masks[m];   // j == r: a visible logit
            last_ud u = {LT_OP_softmax_entropy};
            lt_parity_check(&p, last_axis_fn, &u);
        }
}

// ---------------------------------------------------------------- cross_entropy

typedef struct { int ignore; float eps; } ce_ud;

static int ce_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    const ce_ud *u = ud;
    out[0] = lt_cross_entropy(c, in[0], in[1], u->ignore, u->eps);
    return 1;
}

// every_k: every k-th row's target is ignore_index (0: none); only_one: all rows but row 1 ignored.
static void check_ce(int N, int C, int ignore, float eps, int every_k, int only_one, uint64_t seed) {
    lt_parity p;
    lt_parity_init(&p, seed, "cross_entropy [%d,%d] ignore_index %d%s smoothing %g", N, C, ignore,
                   only_one ? " (one row counts)" : every_k ? " (some rows ignored)" : "", (double)eps);
    lt_parity_rand(&p, 1, -3, 3, LT_SHAPE(N, C));
    int t = lt_parity_rand_i32(&p, (uint32_t)C, LT_SHAPE(N));
    int32_t *y = p.in[t].host;
    for (int i = 0; i < N; i++) {
        if (y[i] == ignore) y[i] = (ignore + 1) % C;   // only the rows chosen below are ignored
        if ((only_one && i != 1 % N) || (every_k && i % every_k == 0 && i != 1 % N)) y[i] = ignore;
    }
    ce_ud u = {ignore, eps};
    lt_parity_check(&p, ce_fn, &u);
}

Test(cross_entropy, ignore_index_and_label_smoothing) {
    check_ce(1, 2, -100, 0.f, 0, 0, 10);
    check_ce(3, 7, -100, 0.f, 0, 0, 11);
    check_ce(3, 7, -100, 0.1f, 0, 0, 12);
    check_ce(64, 10, -100, 0.f, 3, 0, 13);
    check_ce(64, 10, -100, 0.1f, 3, 0, 14);
    check_ce(5, 1000, -100, 0.f, 0, 0, 15);
    check_ce(3, 5000, 2, 0.2f, 2, 0, 16);   // ignore_index is a valid class id
    check_ce(300, 33, -100, 0.05f, 0, 1, 17);
    check_ce(1000, 63, -1, 0.f, 7, 0, 18);
    check_ce(129, 1, -100, 0.3f, 0, 0, 19);   // C = 1: loss and gradient 0 (p = 1)
}

// ---------------------------------------------------------------- layernorm, rmsnorm

typedef struct { int rms, has_w, has_b; float eps; } norm_ud;

static int norm_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    const norm_ud *u = ud;
    int k = 1;
    lt_tensor *w = u->has_w ? in[k++] : NULL;
    lt_tensor *b = u->has_b ? in[k++] : NULL;
    out[0] = u->rms ? lt_rmsnorm(c, in[0], w, u->eps) : lt_layernorm(c, in[0], w, b, u->eps);
    return 1;
}

static void check_norm(norm_ud u, shp s, float lo, float hi, uint64_t seed) {
    char b[64];
    int d = s.s[s.nd - 1];
    // layernorm over D = 1 is constant in x: its x gradient is rounding noise, so x is frozen there
    int xg = u.rms || d > 1;
    lt_parity p;
    lt_parity_init(&p, seed, "%s %s w%d b%d eps %g x in [%g,%g)%s", u.rms ? "rmsnorm" : "layernorm", shp_str(s, b),
                   u.has_w, u.has_b, (double)u.eps, (double)lo, (double)hi, xg ? "" : " (x frozen)");
    lt_parity_rand(&p, xg, lo, hi, SHP(s));
    if (u.has_w) lt_parity_rand(&p, 1, 0.5f, 1.5f, LT_SHAPE(d));
    if (u.has_b) lt_parity_rand(&p, 1, -1, 1, LT_SHAPE(d));
    if (!xg && !u.has_w && !u.has_b) p.forward_only = 1;
    lt_parity_check(&p, norm_fn, &u);
}

static const shp NORM_SHAPES[] = {{2, {4, 1}}, {2, {5, 3}}, {3, {2, 3, 7}}, {2, {17, 63}}, {2, {3, 1000}},
                                  {2, {5, 4097}}, {2, {300, 257}}, {1, {64}}};
#define N_NORM (int)(sizeof NORM_SHAPES / sizeof NORM_SHAPES[0])

Test(norm, layernorm_with_and_without_params) {
    for (int k = 0; k < N_NORM; k++)
        for (int wb = 0; wb < 4; wb++)
            check_norm((norm_ud){0, wb & 1, wb >> 1, 1e-5f}, NORM_SHAPES[k], -2, 2, 100 + 10 * (uint64_t)k + wb);
}

Test(norm, rmsnorm_with_and_without_weight) {
    for (int k = 0; k < N_NORM; k++)
        for (int w = 0; w < 2; w++) {
            // D = 1: x / sqrt(x^2 + eps) is flat with a tiny eps; a large one keeps the slope visible
            float eps = NORM_SHAPES[k].s[NORM_SHAPES[k].nd - 1] == 1 ? 0.5f : 1e-5f;
            check_norm((norm_ud){1, w, 0, eps}, NORM_SHAPES[k], -2, 2, 200 + 10 * (uint64_t)k + w);
        }
}

Test(norm, offset_mean_and_large_eps) {
    // the mean well away from 0 (variance taken around the mean), and eps comparable to the spread
    check_norm((norm_ud){0, 1, 1, 1e-5f}, NORM_SHAPES[4], 2, 4, 300);
    check_norm((norm_ud){1, 1, 0, 1e-5f}, NORM_SHAPES[4], 2, 4, 301);
    check_norm((norm_ud){0, 1, 1, 0.1f}, NORM_SHAPES[3], -0.5f, 0.5f, 302);
    check_norm((norm_ud){1, 1, 0, 0.1f}, NORM_SHAPES[3], -0.5f, 0.5f, 303);
}

// ---------------------------------------------------------------- embedding, dropout

static int embedding_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    out[0] = lt_embedding(c, in[0], in[1]);
    return 1;
}

Test(embedding, duplicate_ids) {
    const struct { shp ids; int V, D; } cases[] = {
        {{1, {1}}, 1, 1}, {{0, {1}}, 5, 3}, {{2, {3, 5}}, 7, 9}, {{1, {1000}}, 13, 64},
        {{3, {2, 3, 4}}, 1000, 129}, {{2, {64, 50}}, 50000, 17}, {{1, {4096}}, 3, 1000},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        char b[64];
        lt_parity p;
        lt_parity_init(&p, 100 + (uint64_t)k, "embedding ids %s table [%d,%d]", shp_str(cases[k].ids, b), cases[k].V,
                       cases[k].D);
        lt_parity_rand_i32(&p, (uint32_t)cases[k].V, SHP(cases[k].ids));
        lt_parity_rand(&p, 1, -1, 1, LT_SHAPE(cases[k].V, cases[k].D));
        lt_parity_check(&p, embedding_fn, NULL);
    }
}

typedef struct { float p1, p2; } drop_ud;

// One dropout, or two in a row (the second draws from a later Philox counter).
static int dropout_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    const drop_ud *u = ud;
    lt_tensor *y = lt_dropout(c, in[0], u->p1);
    out[0] = u->p2 > 0 ? lt_dropout(c, y, u->p2) : y;
    return 1;
}

// Inputs away from 0, so a zero in the output is a dropped element: the masks must match exactly.
Test(dropout, same_mask_as_cpu) {
    const shp shapes[] = {{1, {1}}, {1, {63}}, {1, {1000}}, {3, {3, 5, 7}}, {2, {257, 129}}, {1, {100003}}};
    const float ps[] = {0.1f, 0.5f, 0.9f};
    for (int k = 0; k < (int)(sizeof shapes / sizeof shapes[0]); k++)
        for (int j = 0; j < 4; j++) {
            drop_ud u = j < 3 ? (drop_ud){ps[j], 0} : (drop_ud){0.3f, 0.2f};
            char b[64];
            lt_parity p;
            lt_parity_init(&p, 100 + 4 * (uint64_t)k + j, "dropout %s p %g%s", shp_str(shapes[k], b), (double)u.p1,
                           u.p2 > 0 ? " then 0.2" : "");
            p.same_zeros = 1;
            int i = lt_parity_rand(&p, 1, 0.5f, 2, SHP(shapes[k]));
            float *x = p.in[i].host;
            for (int64_t e = 0; e < p.in[i].numel; e += 2) x[e] = -x[e];
            lt_parity_check(&p, dropout_fn, &u);
        }
}

// ---------------------------------------------------------------- layout

typedef struct { int ndim, shape[LT_MAX_DIMS]; } reshape_ud;

static int reshape_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    const reshape_ud *u = ud;
    out[0] = lt_reshape(c, in[0], u->ndim, u->shape);
    return 1;
}

Test(layout, reshape) {
    const struct { shp x; reshape_ud to; } cases[] = {
        {{3, {3, 5, 7}}, {2, {15, 7}}}, {{3, {3, 5, 7}}, {1, {-1}}}, {{3, {3, 5, 7}}, {3, {7, -1, 1}}},
        {{1, {1}}, {0, {1}}}, {{2, {129, 257}}, {3, {3, 43, 257}}},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++)
        for (int i32 = 0; i32 < 2; i32++) {
            char b[64], b2[64];
            lt_parity p;
            lt_parity_init(&p, 100 + 2 * (uint64_t)k + i32, "reshape %s %s -> %s", i32 ? "i32" : "f32",
                           shp_str(cases[k].x, b), lt_shape_str_n(cases[k].to.ndim, cases[k].to.shape, b2));
            if (i32) lt_parity_rand_i32(&p, 1000, SHP(cases[k].x));
            else lt_parity_rand(&p, 1, -1, 1, SHP(cases[k].x));
            lt_parity_check(&p, reshape_fn, &cases[k].to);
        }
}

typedef struct { int perm[LT_MAX_DIMS]; } perm_ud;

static int permute_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    out[0] = lt_permute(c, in[0], ((const perm_ud *)ud)->perm);
    return 1;
}

Test(layout, permute) {
    const struct { shp x; perm_ud p; } cases[] = {
        {{3, {3, 5, 7}}, {{0, 1, 2}}}, {{3, {3, 5, 7}}, {{0, 2, 1}}}, {{3, {3, 5, 7}}, {{1, 0, 2}}},
        {{3, {3, 5, 7}}, {{1, 2, 0}}}, {{3, {3, 5, 7}}, {{2, 0, 1}}}, {{3, {3, 5, 7}}, {{2, 1, 0}}},
        {{4, {2, 3, 4, 5}}, {{3, 1, 0, 2}}}, {{5, {2, 3, 1, 4, 5}}, {{4, 0, 3, 2, 1}}}, {{3, {1, 63, 1}}, {{2, 0, 1}}},
        {{2, {129, 257}}, {{1, 0}}}, {{4, {2, 63, 4, 65}}, {{0, 2, 1, 3}}}, {{1, {1000}}, {{0}}},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++)
        for (int i32 = 0; i32 < 2; i32++) {
            char b[64];
            lt_parity p;
            lt_parity_init(&p, 200 + 2 * (uint64_t)k + i32, "permute %s %s perm #%d", i32 ? "i32" : "f32",
                           shp_str(cases[k].x, b), k);
            if (i32) lt_parity_rand_i32(&p, 1000, SHP(cases[k].x));
            else lt_parity_rand(&p, 1, -1, 1, SHP(cases[k].x));
            lt_parity_check(&p, permute_fn, &cases[k].p);
        }
}

typedef struct { int axis; } axis_ud;

static int concat_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    int n = 0;
    while (n < LT_PARITY_MAX_IN && in[n]) n++;
    out[0] = lt_concat(c, n, in, ((const axis_ud *)ud)->axis);
    return 1;
}

Test(layout, concat) {
    const struct { int n, axis, frozen; shp x[3]; } cases[] = {
        {1, 0, -1, {{2, {3, 5}}}},
        {2, 1, -1, {{3, {3, 5, 7}}, {3, {3, 2, 7}}}},
        {3, 0, 1, {{2, {2, 5}}, {2, {1, 5}}, {2, {4, 5}}}},
        {3, -1, -1, {{3, {3, 5, 1}}, {3, {3, 5, 7}}, {3, {3, 5, 2}}}},
        {2, 0, -1, {{1, {1000}}, {1, {63}}}},
        {3, 2, 0, {{3, {2, 65, 33}}, {3, {2, 65, 1}}, {3, {2, 65, 129}}}},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++)
        for (int i32 = 0; i32 < 2; i32++) {
            char b[64];
            lt_parity p;
            lt_parity_init(&p, 300 + 2 * (uint64_t)k + i32, "concat %s of %d along %d, first %s%s", i32 ? "i32" : "f32",
                           cases[k].n, cases[k].axis, shp_str(cases[k].x[0], b),
                           cases[k].frozen >= 0 && !i32 ? " (one frozen)" : "");
            for (int j = 0; j < cases[k].n; j++) {
                if (i32) lt_parity_rand_i32(&p, 1000, SHP(cases[k].x[j]));
                else lt_parity_rand(&p, j != cases[k].frozen, -1, 1, SHP(cases[k].x[j]));
            }
            axis_ud u = {cases[k].axis};
            lt_parity_check(&p, concat_fn, &u);
        }
}

typedef struct { int axis, start, len; } slice_ud;

static int slice_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    const slice_ud *u = ud;
    out[0] = lt_slice(c, in[0], u->axis, u->start, u->len);
    return 1;
}

Test(layout, slice) {
    const struct { shp x; slice_ud s; } cases[] = {
        {{3, {3, 5, 7}}, {1, 2, 2}}, {{3, {3, 5, 7}}, {-1, 0, 7}}, {{3, {3, 5, 7}}, {0, 2, 1}},
        {{3, {3, 5, 7}}, {2, 6, 1}}, {{1, {1000}}, {0, 37, 900}}, {{3, {4, 63, 5}}, {1, 62, 1}},
        {{2, {129, 257}}, {1, 100, 129}},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++)
        for (int i32 = 0; i32 < 2; i32++) {
            char b[64];
            lt_parity p;
            lt_parity_init(&p, 400 + 2 * (uint64_t)k + i32, "slice %s %s axis %d start %d len %d", i32 ? "i32" : "f32",
                           shp_str(cases[k].x, b), cases[k].s.axis, cases[k].s.start, cases[k].s.len);
            if (i32) lt_parity_rand_i32(&p, 1000, SHP(cases[k].x));
            else lt_parity_rand(&p, 1, -1, 1, SHP(cases[k].x));
            lt_parity_check(&p, slice_fn, &cases[k].s);
        }
}

typedef struct { int axis, n, sizes[4]; } split_ud;

// Several outputs of separate slice nodes, each with its own upstream gradient.
static int split_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    const split_ud *u = ud;
    return lt_split(c, in[0], u->axis, u->n, u->sizes, out) == LT_OK ? u->n : 0;
}

Test(layout, slice_through_split) {
    const struct { shp x; split_ud s; } cases[] = {
        {{3, {3, 5, 7}}, {1, 3, {1, 3, 1}}}, {{2, {129, 257}}, {-1, 4, {1, 100, 150, 6}}},
        {{1, {1000}}, {0, 2, {999, 1}}},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        char b[64];
        lt_parity p;
        lt_parity_init(&p, 450 + (uint64_t)k, "split %s axis %d into %d", shp_str(cases[k].x, b), cases[k].s.axis,
                       cases[k].s.n);
        lt_parity_rand(&p, 1, -1, 1, SHP(cases[k].x));
        lt_parity_check(&p, split_fn, &cases[k].s);
    }
}

// ---------------------------------------------------------------- index_select, gather

static int index_select_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    out[0] = lt_index_select(c, in[0], ((const axis_ud *)ud)->axis, in[1]);
    return 1;
}

Test(index, index_select) {
    const struct { shp x; int axis, K; } cases[] = {
        {{2, {5, 7}}, 0, 4}, {{3, {3, 5, 7}}, 1, 3}, {{3, {3, 5, 7}}, -1, 10}, {{2, {1000, 3}}, 0, 2000},
        {{3, {2, 300, 9}}, 1, 1}, {{1, {1}}, 0, 5}, {{2, {63, 257}}, 1, 300},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++)
        for (int i32 = 0; i32 < 2; i32++) {
            char b[64];
            int ax = cases[k].axis < 0 ? cases[k].axis + cases[k].x.nd : cases[k].axis;
            lt_parity p;
            lt_parity_init(&p, 500 + 2 * (uint64_t)k + i32, "index_select %s %s axis %d K %d", i32 ? "i32" : "f32",
                           shp_str(cases[k].x, b), cases[k].axis, cases[k].K);
            if (i32) lt_parity_rand_i32(&p, 1000, SHP(cases[k].x));
            else lt_parity_rand(&p, 1, -1, 1, SHP(cases[k].x));
            // random ids (duplicates when K exceeds the dim), and a forced repeat
            int j = lt_parity_rand_i32(&p, (uint32_t)cases[k].x.s[ax], LT_SHAPE(cases[k].K));
            int32_t *id = p.in[j].host;
            if (cases[k].K > 2) id[cases[k].K - 1] = id[0];
            axis_ud u = {cases[k].axis};
            lt_parity_check(&p, index_select_fn, &u);
        }
}

static int gather_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    out[0] = lt_gather(c, in[0], ((const axis_ud *)ud)->axis, in[1]);
    return 1;
}

Test(index, gather) {
    const struct { shp x; int axis, k; } cases[] = {
        {{2, {3, 5}}, 1, 8}, {{3, {4, 6, 5}}, 0, 7}, {{3, {4, 6, 5}}, 2, 2}, {{3, {4, 6, 5}}, -2, 1},
        {{2, {1000, 10}}, 1, 3}, {{1, {63}}, 0, 1000}, {{4, {2, 3, 65, 4}}, 2, 130},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++)
        for (int i32 = 0; i32 < 2; i32++) {
            char b[64];
            int ax = cases[k].axis < 0 ? cases[k].axis + cases[k].x.nd : cases[k].axis;
            shp is = cases[k].x;
            is.s[ax] = cases[k].k;
            lt_parity p;
            lt_parity_init(&p, 600 + 2 * (uint64_t)k + i32, "gather %s %s axis %d, %d along it", i32 ? "i32" : "f32",
                           shp_str(cases[k].x, b), cases[k].axis, cases[k].k);
            if (i32) lt_parity_rand_i32(&p, 1000, SHP(cases[k].x));
            else lt_parity_rand(&p, 1, -1, 1, SHP(cases[k].x));
            lt_parity_rand_i32(&p, (uint32_t)cases[k].x.s[ax], SHP(is));
            axis_ud u = {cases[k].axis};
            lt_parity_check(&p, gather_fn, &u);
        }
}

// ---------------------------------------------------------------- attention (more in test_cuda_attention.c)

typedef struct { int causal, lens, entropy; } attn_ud;

static int attention_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    const attn_ud *u = ud;
    lt_attn_opts o = lt_attn_defaults();
    o.causal = u->causal;
    o.key_lens = u->lens ? in[3] : NULL;
    o.want_entropy = u->entropy;
    lt_attn_out r;
    if (lt_attention(c, in[0], in[1], in[2], &o, &r) != LT_OK) return 0;
    out[0] = r.o;
    out[1] = r.lse;
    out[2] = r.entropy;
    return u->entropy ? 3 : 2;
}

Test(attention, small_cases) {
    const struct { int B, Hq, Hkv, T, S, D; attn_ud u; } cases[] = {
        {1, 2, 1, 5, 7, 64, {1, 0, 0}},
        {2, 4, 2, 17, 33, 64, {0, 1, 1}},
        {1, 2, 2, 1, 1, 64, {0, 0, 1}},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        int B = cases[k].B, Hq = cases[k].Hq, Hkv = cases[k].Hkv, T = cases[k].T, S = cases[k].S, D = cases[k].D;
        lt_parity p;
        lt_parity_init(&p, 700 + (uint64_t)k, "attention B%d Hq%d Hkv%d T%d S%d D%d%s%s%s", B, Hq, Hkv, T, S, D,
                       cases[k].u.causal ? " causal" : "", cases[k].u.lens ? " key_lens" : "",
                       cases[k].u.entropy ? " entropy" : "");
        p.no_seed = 1u << 1;   // lse has no gradient
        lt_parity_rand(&p, 1, -1, 1, LT_SHAPE(B, Hq, T, D));
        lt_parity_rand(&p, 1, -1, 1, LT_SHAPE(B, Hkv, S, D));
        lt_parity_rand(&p, 1, -1, 1, LT_SHAPE(B, Hkv, S, D));
        if (cases[k].u.lens) {
            int l = lt_parity_rand_i32(&p, (uint32_t)S, LT_SHAPE(B));
            int32_t *v = p.in[l].host;
            for (int b = 0; b < B; b++) v[b] = b == B - 1 ? S : v[b] + 1;
        }
        lt_parity_check(&p, attention_fn, &cases[k].u);
    }
}

LT_CUDA_TEST_MAIN()

// ---------------------------------------------------------------- bad indices on the device
// On CUDA, indices live on the device: a bad one cannot fail the call that
// builds the op without a host copy, so the kernel records it and the next
// sync returns the error naming it (and the output is visibly NaN).
Test(device_faults, bad_target_and_index_surface_at_sync) {
    lt_ctx *c = lt_ctx_new(LT_PARITY_DEVICE, 1);
    cr_assert(c, "%s", lt_last_error());
    float logits[4 * 5];
    for (int i = 0; i < 20; i++) logits[i] = 0.1f * (float)i;
    lt_tensor *x = lt_tensor_from(c, LT_F32, LT_SHAPE(4, 5), logits);
    lt_tensor *t = lt_tensor_from(c, LT_I32, LT_SHAPE(4), (int32_t[]){0, 4, 5, 1});
    lt_tensor *l = lt_cross_entropy(c, x, t, -100, 0.f);
    if (LT_PARITY_DEVICE == LT_CPU) {
        cr_assert_null(l);   // the CPU checks targets when the op is built
    } else {
        cr_assert(l, "%s", lt_last_error());
        cr_assert_eq(lt_ctx_sync(c), LT_ERR_ARG);
        cr_assert(strstr(lt_last_error(), "target[2]") && strstr(lt_last_error(), "5"), "%s", lt_last_error());
        cr_assert(isnan(lt_tensor_item(l)), "a bad target must make the loss NaN");
        cr_assert_eq(lt_ctx_sync(c), LT_OK, "the fault must be cleared once reported: %s", lt_last_error());
    }
    lt_tensor *idx = lt_tensor_from(c, LT_I32, LT_SHAPE(2), (int32_t[]){1, 9});
    lt_tensor *y = lt_index_select(c, x, 1, idx);
    if (LT_PARITY_DEVICE == LT_CPU) {
        cr_assert_null(y);
    } else {
        cr_assert(y, "%s", lt_last_error());
        cr_assert_eq(lt_ctx_sync(c), LT_ERR_ARG);
        cr_assert(strstr(lt_last_error(), "index_select") && strstr(lt_last_error(), "9"), "%s", lt_last_error());
        cr_assert_eq(lt_ctx_sync(c), LT_OK, "%s", lt_last_error());
    }
    lt_tensor *ids = lt_tensor_from(c, LT_I32, LT_SHAPE(3), (int32_t[]){2, -1, 3});
    lt_tensor *e = lt_embedding(c, ids, x);   // x as a [4, 5] table
    if (LT_PARITY_DEVICE == LT_CPU) {
        cr_assert_null(e);
    } else {
        cr_assert(e, "%s", lt_last_error());
        cr_assert_eq(lt_ctx_sync(c), LT_ERR_ARG);
        cr_assert(strstr(lt_last_error(), "embedding") && strstr(lt_last_error(), "-1"), "%s", lt_last_error());
        cr_assert_eq(lt_ctx_sync(c), LT_OK, "%s", lt_last_error());
    }
    lt_ctx_free(c);
}
