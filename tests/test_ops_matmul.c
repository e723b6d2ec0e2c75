// matmul (batched, shared b, transposes) and linear: forward against naive
// loops, gradcheck of every input, accumulation into existing grads, bad input.
#include "lt_test.h"

#include <stdlib.h>

// A matmul case in logical shapes: op(a) [.., M, K] @ op(b) [.., K, N].
typedef struct {
    int nda, a[LT_MAX_DIMS];
    int ndb, b[LT_MAX_DIMS];
} mm_case;

static const mm_case CASES[] = {
    {2, {1, 1}, 2, {1, 1}},
    {2, {3, 5}, 2, {5, 7}},
    {3, {2, 3, 5}, 3, {2, 5, 7}},
    {3, {3, 5, 7}, 2, {7, 9}},             // b shared across a's batch
    {5, {2, 1, 3, 4, 5}, 5, {2, 1, 3, 5, 2}},
    {4, {2, 3, 1, 6}, 2, {6, 1}},          // shared b, M = 1
};
#define N_CASES (int)(sizeof CASES / sizeof CASES[0])

// Stored shape: the last two dims swapped when transposed.
static void stored(int nd, const int *logical, int trans, int *out) {
    memcpy(out, logical, sizeof(int) * (size_t)nd);
    if (trans) { out[nd - 2] = logical[nd - 1]; out[nd - 1] = logical[nd - 2]; }
}

static lt_tensor *rand_stored(uint64_t seed, int nd, const int *logical, int trans) {
    int s[LT_MAX_DIMS];
    stored(nd, logical, trans, s);
    return lt_test_rand(seed, -1, 1, nd, s);
}

// Independent reference: explicit index arithmetic, double accumulation.
static void naive_matmul(const mm_case *k, int ta, int tb, const float *A, const float *B, float *C) {
    int M = k->a[k->nda - 2], K = k->a[k->nda - 1], N = k->b[k->ndb - 1];
    int64_t batch = lt_shape_numel(k->nda - 2, k->a);
    int shared = k->ndb == 2;
    for (int64_t bi = 0; bi < batch; bi++) {
        const float *Ab = A + bi * M * K, *Bb = B + (shared ? 0 : bi * K * N);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = 0;
                for (int q = 0; q < K; q++) {
                    float av = ta ? Ab[q * M + i] : Ab[i * K + q];
                    float bv = tb ? Bb[j * K + q] : Bb[q * N + j];
                    s += (double)av * bv;
                }
                C[bi * M * N + i * N + j] = (float)s;
            }
    }
}

Test(matmul, forward_matches_naive_all_cases_and_transposes) {
    for (int ci = 0; ci < N_CASES; ci++)
        for (int t = 0; t < 4; t++) {
            const mm_case *k = &CASES[ci];
            int ta = t & 1, tb = t >> 1;
            lt_ctx *c = lt_ctx_new(LT_CPU, 1);
            c->arena.poison = 1;
            lt_tensor *a = rand_stored(100 + ci * 4 + t, k->nda, k->a, ta);
            lt_tensor *b = rand_stored(200 + ci * 4 + t, k->ndb, k->b, tb);
            lt_tensor *y = lt_matmul_t(c, a, b, ta, tb);
            cr_assert(y, "case %d trans %d%d: %s", ci, ta, tb, lt_last_error());
            cr_assert_eq(y->ndim, k->nda);
            for (int d = 0; d < k->nda - 1; d++) cr_assert_eq(y->shape[d], k->a[d]);
            cr_assert_eq(y->shape[k->nda - 1], k->b[k->ndb - 1]);
            float *ref = malloc(sizeof(float) * (size_t)y->numel);
            naive_matmul(k, ta, tb, lt_f32(a), lt_f32(b), ref);
            char name[64];
            snprintf(name, sizeof name, "matmul case %d trans %d%d", ci, ta, tb);
            lt_assert_allclose(name, ref, lt_f32(y), y->numel, 1e-5, 1e-6);
            free(ref);
            lt_tensor_free(a); lt_tensor_free(b);
            lt_ctx_free(c);
        }
}

Test(matmul, plain_matmul_is_no_transpose) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    c->arena.poison = 1;
    lt_tensor *a = lt_test_rand(1, -1, 1, LT_SHAPE(3, 5)), *b = lt_test_rand(2, -1, 1, LT_SHAPE(5, 7));
    lt_tensor *y0 = lt_matmul(c, a, b), *y1 = lt_matmul_t(c, a, b, 0, 0);
    cr_assert(y0 && y1, "%s", lt_last_error());
    cr_assert_eq(memcmp(lt_f32(y0), lt_f32(y1), sizeof(float) * 21), 0);
    lt_tensor_free(a); lt_tensor_free(b);
    lt_ctx_free(c);
}

static lt_tensor *mm_fn(lt_ctx *c, lt_tensor **in, void *ud) {
    const int *t = ud;
    return lt_matmul_t(c, in[0], in[1], t[0], t[1]);
}

Test(matmul, gradcheck_all_cases_and_transposes) {
    for (int ci = 0; ci < N_CASES; ci++)
        for (int t = 0; t < 4; t++) {
            const mm_case *k = &CASES[ci];
            int tr[2] = {t & 1, t >> 1};
            lt_tensor *in[2] = {rand_stored(300 + ci * 4 + t, k->nda, k->a, tr[0]),
                                rand_stored(400 + ci * 4 + t, k->ndb, k->b, tr[1])};
            in[0]->requires_grad = in[1]->requires_grad = 1;
            char name[64];
            snprintf(name, sizeof name, "matmul case %d trans %d%d", ci, tr[0], tr[1]);
            lt_assert_gradcheck(name, mm_fn, tr, 2, in, 1e-2);
            lt_tensor_free(in[0]); lt_tensor_free(in[1]);
        }
}

Test(matmul, gradcheck_one_input_frozen) {
    const mm_case *k = &CASES[3];
    for (int frozen = 0; frozen < 2; frozen++) {
        int tr[2] = {1, 1};
        lt_tensor *in[2] = {rand_stored(500, k->nda, k->a, 1), rand_stored(501, k->ndb, k->b, 1)};
        in[!frozen]->requires_grad = 1;
        lt_assert_gradcheck("matmul frozen input", mm_fn, tr, 2, in, 1e-2);
        cr_assert_null(in[frozen]->grad, "frozen input %d received a gradient", frozen);
        lt_tensor_free(in[0]); lt_tensor_free(in[1]);
    }
}

// Backward must add into gradients that already hold values.
Test(matmul, backward_accumulates) {
    for (int t = 0; t < 4; t++) {
        const mm_case *k = &CASES[3];
        int ta = t & 1, tb = t >> 1;
        float *grads[2][2];   // [run][input]
        for (int run = 0; run < 2; run++) {
            lt_ctx *c = lt_ctx_new(LT_CPU, 1);
            lt_tensor *a = rand_stored(600 + t, k->nda, k->a, ta), *b = rand_stored(700 + t, k->ndb, k->b, tb);
            a->requires_grad = b->requires_grad = 1;
            lt_tensor *pre[2] = {a, b};
            for (int i = 0; i < 2 && run == 1; i++) {
                pre[i]->grad = lt_arena_alloc(&c->arena, sizeof(float) * (size_t)pre[i]->numel);
                for (int64_t j = 0; j < pre[i]->numel; j++) pre[i]->grad[j] = 0.5f;
            }
            lt_tensor *y = lt_matmul_t(c, a, b, ta, tb);
            cr_assert(y, "%s", lt_last_error());
            float *g = malloc(sizeof(float) * (size_t)y->numel);
            for (int64_t j = 0; j < y->numel; j++) g[j] = (float)((j % 7) - 3) * 0.25f;
            cr_assert_eq(lt_backward_from(c, y, g), LT_OK, "%s", lt_last_error());
            for (int i = 0; i < 2; i++) {
                grads[run][i] = malloc(sizeof(float) * (size_t)pre[i]->numel);
                for (int64_t j = 0; j < pre[i]->numel; j++) grads[run][i][j] = pre[i]->grad[j] - (run ? 0.5f : 0.0f);
            }
            if (run == 1) {
                lt_assert_allclose("matmul dA accumulates", grads[0][0], grads[1][0], a->numel, 1e-5, 1e-6);
                lt_assert_allclose("matmul dB accumulates", grads[0][1], grads[1][1], b->numel, 1e-5, 1e-6);
            }
            free(g);
            a->grad = b->grad = NULL;   // arena memory, not owned by the tensors
            lt_tensor_free(a); lt_tensor_free(b);
            lt_ctx_free(c);
        }
        for (int r = 0; r < 2; r++) for (int i = 0; i < 2; i++) free(grads[r][i]);
    }
}

Test(matmul, bad_inner_dim_names_op_and_shapes) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    lt_tensor *a = lt_tensor_zeros(c, LT_F32, LT_SHAPE(3, 5)), *b = lt_tensor_zeros(c, LT_F32, LT_SHAPE(4, 7));
    cr_assert_null(lt_matmul(c, a, b));
    const char *e = lt_last_error();
    cr_assert(strstr(e, "matmul") && strstr(e, "[3,5]") && strstr(e, "[4,7]"), "message: %s", e);
    cr_assert_eq(lt_last_status(), LT_ERR_SHAPE);
    // transposing b makes [4,7]^T = [7,4]: still K 5 vs 7
    cr_assert_null(lt_matmul_t(c, a, b, 0, 1));
    cr_assert(strstr(lt_last_error(), "matmul"), "message: %s", lt_last_error());
    // transposing a fixes nothing either; transposing both: a^T [5,3] @ b^T [7,4] fails too
    cr_assert_null(lt_matmul_t(c, a, b, 1, 1));
    lt_ctx_free(c);
}

Test(matmul, bad_batch_and_rank_and_dtype) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    lt_tensor *a = lt_tensor_zeros(c, LT_F32, LT_SHAPE(2, 3, 5)), *b = lt_tensor_zeros(c, LT_F32, LT_SHAPE(3, 5, 7));
    cr_assert_null(lt_matmul(c, a, b));
    cr_assert(strstr(lt_last_error(), "matmul") && strstr(lt_last_error(), "[2,3,5]") &&
              strstr(lt_last_error(), "[3,5,7]"), "message: %s", lt_last_error());
    lt_tensor *a2 = lt_tensor_zeros(c, LT_F32, LT_SHAPE(3, 5)), *b3 = lt_tensor_zeros(c, LT_F32, LT_SHAPE(2, 5, 7));
    cr_assert_null(lt_matmul(c, a2, b3), "a 2-D with batched b must be rejected");
    lt_tensor *v = lt_tensor_zeros(c, LT_F32, LT_SHAPE(5));
    cr_assert_null(lt_matmul(c, v, a2));
    cr_assert(strstr(lt_last_error(), "matmul"), "message: %s", lt_last_error());
    lt_tensor *ai = lt_tensor_zeros(c, LT_I32, LT_SHAPE(3, 5)), *bf = lt_tensor_zeros(c, LT_F32, LT_SHAPE(5, 7));
    cr_assert_null(lt_matmul(c, ai, bf));
    cr_assert_eq(lt_last_status(), LT_ERR_DTYPE);
    cr_assert(strstr(lt_last_error(), "matmul") && strstr(lt_last_error(), "i32"), "message: %s", lt_last_error());
    // a NULL input propagates without overwriting the earlier error
    lt_error(LT_ERR_ARG, "earlier failure");
    cr_assert_null(lt_matmul(c, NULL, bf));
    cr_assert_str_eq(lt_last_error(), "earlier failure");
    lt_ctx_free(c);
}

// ---- linear ----

static void naive_linear(const float *x, const float *w, const float *b, int64_t rows, int in, int out, float *y) {
    for (int64_t r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0;
            for (int i = 0; i < in; i++) s += (double)x[r * in + i] * w[o * in + i];
            y[r * out + o] = (float)s;
        }
}

Test(linear, forward_matches_naive) {
    int xs[][3] = {{3, 5, 7}, {1, 1, 7}};
    for (int k = 0; k < 2; k++)
        for (int with_b = 0; with_b < 2; with_b++) {
            lt_ctx *c = lt_ctx_new(LT_CPU, 1);
            c->arena.poison = 1;
            lt_tensor *x = lt_test_rand(10 + k * 2 + with_b, -1, 1, 3, xs[k]);
            lt_tensor *w = lt_test_rand(20 + k, -1, 1, LT_SHAPE(4, 7));
            lt_tensor *b = with_b ? lt_test_rand(30 + k, -1, 1, LT_SHAPE(4)) : NULL;
            lt_tensor *y = lt_linear(c, x, w, b);
            cr_assert(y, "%s", lt_last_error());
            cr_assert(y->ndim == 3 && y->shape[0] == xs[k][0] && y->shape[1] == xs[k][1] && y->shape[2] == 4);
            float *ref = malloc(sizeof(float) * (size_t)y->numel);
            naive_linear(lt_f32(x), lt_f32(w), b ? lt_f32(b) : NULL, x->numel / 7, 7, 4, ref);
            lt_assert_allclose(with_b ? "linear with bias" : "linear without bias", ref, lt_f32(y), y->numel, 1e-5,
                               1e-6);
            free(ref);
            lt_tensor_free(x); lt_tensor_free(w); lt_tensor_free(b);
            lt_ctx_free(c);
        }
}

Test(linear, vector_input) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    c->arena.poison = 1;
    lt_tensor *x = lt_test_rand(40, -1, 1, LT_SHAPE(7)), *w = lt_test_rand(41, -1, 1, LT_SHAPE(3, 7));
    lt_tensor *b = lt_test_rand(42, -1, 1, LT_SHAPE(3));
    lt_tensor *y = lt_linear(c, x, w, b);
    cr_assert(y && y->ndim == 1 && y->shape[0] == 3, "%s", lt_last_error());
    float ref[3];
    naive_linear(lt_f32(x), lt_f32(w), lt_f32(b), 1, 7, 3, ref);
    lt_assert_allclose("linear 1-D", ref, lt_f32(y), 3, 1e-5, 1e-6);
    lt_tensor_free(x); lt_tensor_free(w); lt_tensor_free(b);
    lt_ctx_free(c);
}

static lt_tensor *linear_fn(lt_ctx *c, lt_tensor **in, void *ud) {
    return lt_linear(c, in[0], in[1], *(int *)ud ? in[2] : NULL);
}

Test(linear, gradcheck_with_and_without_bias) {
    for (int with_b = 0; with_b < 2; with_b++) {
        lt_tensor *in[3] = {lt_test_rand(50, -1, 1, LT_SHAPE(3, 5, 7)), lt_test_rand(51, -1, 1, LT_SHAPE(4, 7)),
                            lt_test_rand(52, -1, 1, LT_SHAPE(4))};
        for (int i = 0; i < 3; i++) in[i]->requires_grad = 1;
        lt_assert_gradcheck(with_b ? "linear with bias" : "linear without bias", linear_fn, &with_b, 2 + with_b, in,
                            1e-2);
        for (int i = 0; i < 3; i++) lt_tensor_free(in[i]);
    }
}

Test(linear, gradcheck_frozen_weight) {
    int with_b = 1;
    lt_tensor *in[3] = {lt_test_rand(60, -1, 1, LT_SHAPE(2, 7)), lt_test_rand(61, -1, 1, LT_SHAPE(4, 7)),
                        lt_test_rand(62, -1, 1, LT_SHAPE(4))};
    in[0]->requires_grad = 1;
    in[2]->requires_grad = 1;
    lt_assert_gradcheck("linear frozen w", linear_fn, &with_b, 3, in, 1e-2);
    cr_assert_null(in[1]->grad);
    for (int i = 0; i < 3; i++) lt_tensor_free(in[i]);
}

Test(linear, backward_accumulates_bias_and_weight) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    lt_tensor *x = lt_tensor_leaf(c, LT_SHAPE(3, 5, 7), NULL);
    for (int64_t i = 0; i < x->numel; i++) lt_f32(x)[i] = (float)(i % 5) - 2;
    lt_tensor *w = lt_tensor_leaf(c, LT_SHAPE(4, 7), NULL), *b = lt_tensor_leaf(c, LT_SHAPE(4), NULL);
    for (int i = 0; i < 28; i++) lt_f32(w)[i] = 0.1f * (float)(i % 3);
    lt_tensor *y = lt_linear(c, x, w, b);
    cr_assert(y, "%s", lt_last_error());
    float ones[60];
    for (int i = 0; i < 60; i++) ones[i] = 1.0f;
    // grads already holding 1 must end at 1 + d sum(y): d/db = rows (15), d/dw[o,i] = sum_r x[r,i]
    w->grad = lt_arena_alloc(&c->arena, sizeof(float) * 28);
    b->grad = lt_arena_alloc(&c->arena, sizeof(float) * 4);
    for (int i = 0; i < 28; i++) w->grad[i] = 1.0f;
    for (int i = 0; i < 4; i++) b->grad[i] = 1.0f;
    cr_assert_eq(lt_backward_from(c, y, ones), LT_OK, "%s", lt_last_error());
    for (int o = 0; o < 4; o++) cr_assert_float_eq(b->grad[o], 16.0f, 1e-5);
    for (int i = 0; i < 7; i++) {
        double s = 0;
        for (int r = 0; r < 15; r++) s += lt_f32(x)[r * 7 + i];
        for (int o = 0; o < 4; o++) cr_assert_float_eq(w->grad[o * 7 + i], (float)(1 + s), 1e-4);
    }
    lt_ctx_free(c);
}

Test(linear, bad_shapes_and_dtypes) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    lt_tensor *x = lt_tensor_zeros(c, LT_F32, LT_SHAPE(3, 6)), *w = lt_tensor_zeros(c, LT_F32, LT_SHAPE(4, 7));
    cr_assert_null(lt_linear(c, x, w, NULL));
    cr_assert(strstr(lt_last_error(), "linear") && strstr(lt_last_error(), "[3,6]") &&
              strstr(lt_last_error(), "[4,7]"), "message: %s", lt_last_error());
    lt_tensor *x7 = lt_tensor_zeros(c, LT_F32, LT_SHAPE(3, 7)), *b5 = lt_tensor_zeros(c, LT_F32, LT_SHAPE(5));
    cr_assert_null(lt_linear(c, x7, w, b5));
    cr_assert(strstr(lt_last_error(), "bias") && strstr(lt_last_error(), "[5]"), "message: %s", lt_last_error());
    lt_tensor *xi = lt_tensor_zeros(c, LT_I32, LT_SHAPE(3, 7));
    cr_assert_null(lt_linear(c, xi, w, NULL));
    cr_assert_eq(lt_last_status(), LT_ERR_DTYPE);
    cr_assert(strstr(lt_last_error(), "linear"), "message: %s", lt_last_error());
    lt_ctx_free(c);
}

// out > 64 columns and many rows: the bias column sums run in parallel blocks.
Test(linear, large_parallel_path) {
    int with_b = 1;
    lt_tensor *in[3] = {lt_test_rand(80, -1, 1, LT_SHAPE(300, 20)), lt_test_rand(81, -1, 1, LT_SHAPE(300, 20)),
                        lt_test_rand(82, -1, 1, LT_SHAPE(300))};
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    c->arena.poison = 1;
    lt_tensor *y = lt_linear(c, in[0], in[1], in[2]);
    cr_assert(y, "%s", lt_last_error());
    float *ref = malloc(sizeof(float) * 300 * 300);
    naive_linear(lt_f32(in[0]), lt_f32(in[1]), lt_f32(in[2]), 300, 20, 300, ref);
    lt_assert_allclose("linear 300x20 -> 300", ref, lt_f32(y), 300 * 300, 1e-5, 1e-5);
    free(ref);
    lt_ctx_free(c);
    for (int i = 0; i < 3; i++) in[i]->requires_grad = 1;
    lt_assert_gradcheck_n("linear large", linear_fn, &with_b, 3, in, 80);
    for (int i = 0; i < 3; i++) lt_tensor_free(in[i]);
}
