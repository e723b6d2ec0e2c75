// Layout ops: reshape, permute/transpose, concat, slice/split. Forward against
// index arithmetic written here, gradients by finite differences, bad inputs.
#include "lt_test.h"

static void assert_shape(const lt_tensor *t, int nd, const int *shape) {
    char a[64], b[64];
    cr_assert(t->ndim == nd && !memcmp(t->shape, shape, sizeof(int) * (size_t)nd), "shape %s, want %s",
              lt_shape_str(t, a), lt_shape_str_n(nd, shape, b));
}

// out dim i is x dim perm[i]
static void ref_permute(const float *x, int nd, const int *shape, const int *perm, float *out) {
    int oshape[LT_MAX_DIMS], oc[LT_MAX_DIMS], ic[LT_MAX_DIMS];
    for (int i = 0; i < nd; i++) oshape[i] = shape[perm[i]];
    int64_t n = lt_shape_numel(nd, shape);
    for (int64_t o = 0; o < n; o++) {
        lt_test_unravel(o, nd, oshape, oc);
        for (int i = 0; i < nd; i++) ic[perm[i]] = oc[i];
        out[o] = x[lt_test_ravel(nd, shape, ic)];
    }
}

static lt_tensor *gc_permute(lt_ctx *c, lt_tensor **in, void *ud) { return lt_permute(c, in[0], ud); }

typedef struct { int ndim; int shape[LT_MAX_DIMS]; } shape_ud;
static lt_tensor *gc_reshape(lt_ctx *c, lt_tensor **in, void *ud) {
    shape_ud *s = ud;
    return lt_reshape(c, in[0], s->ndim, s->shape);
}

// Every permutation of 0..nd-1 (Heap's algorithm), in perms[count][nd].
static int all_perms(int nd, int perms[][LT_MAX_DIMS]) {
    int a[LT_MAX_DIMS], cnt[LT_MAX_DIMS] = {0}, k = 0, i = 0;
    for (int j = 0; j < nd; j++) a[j] = j;
    memcpy(perms[k++], a, sizeof a);
    while (i < nd) {
        if (cnt[i] < i) {
            int j = i % 2 ? cnt[i] : 0, t = a[j];
            a[j] = a[i]; a[i] = t;
            memcpy(perms[k++], a, sizeof a);
            cnt[i]++;
            i = 0;
        } else {
            cnt[i++] = 0;
        }
    }
    return k;
}

// ---------------------------------------------------------------- reshape

Test(reshape, aliases_input_and_infers_minus_one) {
    lt_ctx *c = lt_test_ctx(1);
    lt_tensor *x0 = lt_test_rand(11, -1, 1, LT_SHAPE(3, 5, 7));
    lt_tensor *x = lt_tensor_from(c, LT_F32, LT_SHAPE(3, 5, 7), lt_f32(x0));
    lt_tensor *a = lt_reshape(c, x, LT_SHAPE(-1, 7));
    cr_assert(a, "%s", lt_last_error());
    assert_shape(a, LT_SHAPE(15, 7));
    cr_assert_eq(a->data, x->data, "reshape copied instead of aliasing");
    lt_tensor *b = lt_reshape(c, a, LT_SHAPE(7, -1, 3));
    cr_assert(b, "%s", lt_last_error());
    assert_shape(b, LT_SHAPE(7, 5, 3));
    cr_assert_eq(b->data, x->data);
    lt_tensor *f = lt_reshape(c, b, LT_SHAPE(-1));
    assert_shape(f, LT_SHAPE(105));
    lt_assert_allclose("flat values", lt_f32(x0), lt_f32(f), 105, 0, 0);

    lt_tensor *one = lt_tensor_from(c, LT_F32, LT_SHAPE(1), lt_f32(x0));
    lt_tensor *s = lt_reshape(c, one, 0, NULL);
    cr_assert(s && s->ndim == 0 && s->numel == 1 && s->data == one->data, "%s", lt_last_error());
    lt_tensor *back = lt_reshape(c, s, LT_SHAPE(1, -1, 1));
    assert_shape(back, LT_SHAPE(1, 1, 1));

    int32_t iv[6] = {1, -2, 3, 16777217, -5, 6};
    lt_tensor *ix = lt_tensor_from(c, LT_I32, LT_SHAPE(6), iv);
    lt_tensor *ir = lt_reshape(c, ix, LT_SHAPE(2, 3));
    cr_assert(ir && ir->dtype == LT_I32 && ir->data == ix->data && !ir->requires_grad);
    lt_tensor_free(x0);
    lt_ctx_free(c);
}

Test(reshape, gradcheck_odd_shapes) {
    struct { int nd; int in[LT_MAX_DIMS]; shape_ud to; } cases[] = {
        {3, {3, 5, 7}, {2, {5, 21}}},
        {3, {3, 5, 7}, {4, {7, -1, 1, 3}}},
        {1, {1}, {3, {1, 1, 1}}},
        {1, {63}, {2, {-1, 7}}},
        {1, {1000}, {3, {10, 10, 10}}},
        {3, {10, 10, 10}, {2, {8, 125}}},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        lt_tensor *x = lt_test_rand(100 + i, -2, 2, cases[i].nd, cases[i].in);
        x->requires_grad = 1;
        lt_assert_gradcheck("reshape", gc_reshape, &cases[i].to, 1, &x, 1e-3);
        lt_tensor_free(x);
    }
}

Test(reshape, bad_shapes_are_errors) {
    lt_ctx *c = lt_test_ctx(2);
    lt_tensor *x = lt_tensor_zeros(c, LT_F32, LT_SHAPE(3, 5, 7));
    LT_EXPECT_ERROR(lt_reshape(c, x, LT_SHAPE(4, 26)), "reshape", "[3,5,7]", "[4,26]");
    LT_EXPECT_ERROR(lt_reshape(c, x, LT_SHAPE(4, -1)), "reshape", "[3,5,7]", "[4,-1]");
    LT_EXPECT_ERROR(lt_reshape(c, x, LT_SHAPE(-1, -1, 7)), "reshape", "[-1,-1,7]", "at most one");
    LT_EXPECT_ERROR(lt_reshape(c, x, LT_SHAPE(0, 105)), "reshape", "[0,105]");
    LT_EXPECT_ERROR(lt_reshape(c, x, 6, (int[]){1, 1, 3, 5, 7, 1}), "reshape", "6 dims");
    lt_clear_error();
    cr_assert_null(lt_reshape(c, NULL, LT_SHAPE(3)));
    cr_assert_str_empty(lt_last_error(), "a NULL input must keep the earlier error");
    lt_ctx_free(c);
}

// ---------------------------------------------------------------- permute

static void check_permute_forward(lt_ctx *c, uint64_t seed, int nd, const int *shape, const int *perm) {
    lt_tensor *x0 = lt_test_rand(seed, -1, 1, nd, shape);
    lt_tensor *x = lt_tensor_from(c, LT_F32, nd, shape, lt_f32(x0));
    lt_tensor *y = lt_permute(c, x, perm);
    char sp[64];
    cr_assert(y, "perm %s: %s", lt_shape_str_n(nd, perm, sp), lt_last_error());
    int oshape[LT_MAX_DIMS];
    for (int i = 0; i < nd; i++) oshape[i] = shape[perm[i]];
    assert_shape(y, nd, oshape);
    float *ref = malloc(sizeof(float) * (size_t)x0->numel);
    ref_permute(lt_f32(x0), nd, shape, perm, ref);
    lt_assert_allclose(lt_shape_str_n(nd, perm, sp), ref, lt_f32(y), x0->numel, 0, 0);
    free(ref);
    lt_tensor_free(x0);
}

Test(permute, forward_every_perm_3d_4d_5d) {
    lt_ctx *c = lt_test_ctx(3);
    int perms[120][LT_MAX_DIMS];
    int k3 = all_perms(3, perms);
    cr_assert_eq(k3, 6);
    for (int i = 0; i < k3; i++) check_permute_forward(c, 200 + i, LT_SHAPE(3, 5, 7), perms[i]);
    int k4 = all_perms(4, perms);
    cr_assert_eq(k4, 24);
    for (int i = 0; i < k4; i++) check_permute_forward(c, 300 + i, LT_SHAPE(3, 2, 5, 7), perms[i]);
    int k5 = all_perms(5, perms);
    cr_assert_eq(k5, 120);
    for (int i = 0; i < k5; i++) {
        check_permute_forward(c, 400 + i, LT_SHAPE(2, 3, 1, 4, 5), perms[i]);
        lt_ctx_reset(c);
    }
    check_permute_forward(c, 9, 1, (int[]){63}, (int[]){0});
    check_permute_forward(c, 9, LT_SHAPE(1, 1, 1), (int[]){2, 0, 1});
    lt_ctx_free(c);
}

// Big enough for the blocked and threaded paths; backward checked exactly.
Test(permute, large_transposes_forward_and_backward) {
    struct { int nd; int shape[LT_MAX_DIMS]; int perm[LT_MAX_DIMS]; } cases[] = {
        {2, {300, 257}, {1, 0}},
        {3, {3, 67, 129}, {0, 2, 1}},
        {4, {16, 33, 65, 3}, {3, 1, 0, 2}},
        {4, {5, 40, 7, 90}, {0, 2, 1, 3}},
        {5, {4, 9, 2, 31, 37}, {4, 2, 0, 3, 1}},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        lt_ctx *c = lt_test_ctx(4);
        int nd = cases[i].nd, *shape = cases[i].shape, *perm = cases[i].perm;
        lt_tensor *x0 = lt_test_rand(500 + i, -1, 1, nd, shape);
        lt_tensor *g0 = lt_test_rand(600 + i, -1, 1, nd, shape);
        int64_t n = x0->numel;
        lt_tensor *x = lt_tensor_leaf(c, nd, shape, lt_f32(x0));
        lt_tensor *y = lt_permute(c, x, perm);
        cr_assert(y, "%s", lt_last_error());
        float *ref = malloc(sizeof(float) * (size_t)n);
        ref_permute(lt_f32(x0), nd, shape, perm, ref);
        lt_assert_allclose("large permute forward", ref, lt_f32(y), n, 0, 0);
        // g0 is the upstream grad in y's layout; x's grad is its inverse permute.
        cr_assert(lt_backward_from(c, y, lt_f32(g0)) == LT_OK, "%s", lt_last_error());
        int inv[LT_MAX_DIMS];
        for (int d = 0; d < nd; d++) inv[perm[d]] = d;
        ref_permute(lt_f32(g0), nd, y->shape, inv, ref);
        lt_assert_allclose("large permute backward", ref, x->grad, n, 0, 0);
        free(ref);
        lt_tensor_free(x0);
        lt_tensor_free(g0);
        lt_ctx_free(c);
    }
}

Test(permute, gradcheck_3d_4d_5d) {
    int perms[120][LT_MAX_DIMS];
    int k = all_perms(3, perms);
    for (int i = 0; i < k; i++) {
        lt_tensor *x = lt_test_rand(700 + i, -2, 2, LT_SHAPE(3, 5, 7));
        x->requires_grad = 1;
        lt_assert_gradcheck("permute 3d", gc_permute, perms[i], 1, &x, 1e-3);
        lt_tensor_free(x);
    }
    k = all_perms(4, perms);
    for (int i = 0; i < k; i += 5) {
        lt_tensor *x = lt_test_rand(720 + i, -2, 2, LT_SHAPE(3, 2, 5, 7));
        x->requires_grad = 1;
        lt_assert_gradcheck("permute 4d", gc_permute, perms[i], 1, &x, 1e-3);
        lt_tensor_free(x);
    }
    int p5[][LT_MAX_DIMS] = {{4, 3, 2, 1, 0}, {0, 2, 4, 1, 3}, {1, 0, 2, 3, 4}, {3, 4, 0, 1, 2}};
    for (int i = 0; i < 4; i++) {
        lt_tensor *x = lt_test_rand(760 + i, -2, 2, LT_SHAPE(2, 3, 1, 4, 5));
        x->requires_grad = 1;
        lt_assert_gradcheck("permute 5d", gc_permute, p5[i], 1, &x, 1e-3);
        lt_tensor_free(x);
    }
    lt_tensor *x = lt_test_rand(770, -2, 2, LT_SHAPE(10, 4, 25));
    x->requires_grad = 1;
    lt_assert_gradcheck("permute 1000", gc_permute, (int[]){2, 0, 1}, 1, &x, 1e-3);
    lt_tensor_free(x);
    x = lt_test_rand(771, -2, 2, LT_SHAPE(1));
    x->requires_grad = 1;
    lt_assert_gradcheck("permute 1", gc_permute, (int[]){0}, 1, &x, 1e-3);
    lt_tensor_free(x);
}

Test(permute, transpose_builds_the_perm) {
    lt_ctx *c = lt_test_ctx(5);
    lt_tensor *x0 = lt_test_rand(800, -1, 1, LT_SHAPE(3, 5, 7, 2));
    lt_tensor *x = lt_tensor_from(c, LT_F32, LT_SHAPE(3, 5, 7, 2), lt_f32(x0));
    lt_tensor *y = lt_transpose(c, x, 1, -1);
    cr_assert(y, "%s", lt_last_error());
    assert_shape(y, LT_SHAPE(3, 2, 7, 5));
    float ref[210];
    ref_permute(lt_f32(x0), 4, x0->shape, (int[]){0, 3, 2, 1}, ref);
    lt_assert_allclose("transpose(1,-1)", ref, lt_f32(y), 210, 0, 0);
    lt_tensor *z = lt_transpose(c, x, 2, 2);
    lt_assert_allclose("transpose(2,2)", lt_f32(x0), lt_f32(z), 210, 0, 0);
    LT_EXPECT_ERROR(lt_transpose(c, x, 0, 4), "transpose", "axis 4", "[3,5,7,2]");
    lt_tensor_free(x0);
    lt_ctx_free(c);
}

Test(permute, bad_perm_is_an_error) {
    lt_ctx *c = lt_test_ctx(6);
    lt_tensor *x = lt_tensor_zeros(c, LT_F32, LT_SHAPE(3, 5, 7));
    LT_EXPECT_ERROR(lt_permute(c, x, (int[]){0, 0, 1}), "permute", "[0,0,1]", "[3,5,7]");
    LT_EXPECT_ERROR(lt_permute(c, x, (int[]){0, 1, 3}), "permute", "[0,1,3]", "[3,5,7]");
    LT_EXPECT_ERROR(lt_permute(c, x, (int[]){-1, 1, 2}), "permute", "[-1,1,2]");
    LT_EXPECT_ERROR(lt_permute(c, x, NULL), "permute", "NULL");
    lt_ctx_free(c);
}

// ---------------------------------------------------------------- concat

typedef struct { int n, axis; } cat_ud;
static lt_tensor *gc_concat(lt_ctx *c, lt_tensor **in, void *ud) {
    cat_ud *u = ud;
    return lt_concat(c, u->n, in, u->axis);
}

// xs[k] placed along axis, by multi-index arithmetic.
static void ref_concat(int n, lt_tensor *const *xs, int axis, const lt_tensor *y, float *out) {
    int co[LT_MAX_DIMS];
    for (int64_t o = 0; o < y->numel; o++) {
        lt_test_unravel(o, y->ndim, y->shape, co);
        int k = 0;
        while (co[axis] >= xs[k]->shape[axis]) co[axis] -= xs[k++]->shape[axis];
        cr_assert(k < n);
        out[o] = lt_f32(xs[k])[lt_test_ravel(xs[k]->ndim, xs[k]->shape, co)];
    }
}

Test(concat, three_inputs_along_each_axis) {
    int sizes[3] = {2, 1, 4};
    for (int axis = 0; axis < 3; axis++) {
        lt_ctx *c = lt_test_ctx(7);
        lt_tensor *xs[3];
        for (int k = 0; k < 3; k++) {
            int shape[3] = {3, 5, 7};
            shape[axis] = sizes[k];
            xs[k] = lt_test_rand(900 + 10 * axis + k, -2, 2, 3, shape);
        }
        lt_tensor *y = lt_concat(c, 3, xs, axis - 3 * (axis == 2));
        cr_assert(y, "%s", lt_last_error());
        int want[3] = {3, 5, 7};
        want[axis] = 7;
        assert_shape(y, 3, want);
        float *ref = malloc(sizeof(float) * (size_t)y->numel);
        ref_concat(3, xs, axis, y, ref);
        lt_assert_allclose("concat forward", ref, lt_f32(y), y->numel, 0, 0);
        free(ref);
        for (int k = 0; k < 3; k++) xs[k]->requires_grad = 1;
        cat_ud u = {3, axis};
        lt_assert_gradcheck("concat", gc_concat, &u, 3, xs, 1e-3);
        for (int k = 0; k < 3; k++) lt_tensor_free(xs[k]);
        lt_ctx_free(c);
    }
}

// The same tensor twice: its gradient is the sum of both slots (backward adds).
static lt_tensor *gc_concat_xxy(lt_ctx *c, lt_tensor **in, void *ud) {
    return lt_concat(c, 3, (lt_tensor *[]){in[0], in[1], in[0]}, 1);
}

Test(concat, repeated_input_accumulates_and_frozen_input_is_skipped) {
    lt_tensor *in[2] = {lt_test_rand(950, -1, 1, LT_SHAPE(7, 9)), lt_test_rand(951, -1, 1, LT_SHAPE(7, 1))};
    in[0]->requires_grad = 1;
    lt_assert_gradcheck("concat x,y,x", gc_concat_xxy, NULL, 2, in, 1e-3);
    in[1]->requires_grad = 1;
    lt_assert_gradcheck("concat x,y,x", gc_concat_xxy, NULL, 2, in, 1e-3);
    lt_tensor *one = lt_test_rand(952, -1, 1, LT_SHAPE(1));
    one->requires_grad = 1;
    cat_ud u = {1, 0};
    lt_assert_gradcheck("concat of one", gc_concat, &u, 1, &one, 1e-3);
    lt_tensor_free(in[0]);
    lt_tensor_free(in[1]);
    lt_tensor_free(one);
}

Test(concat, large_forward_and_backward) {
    lt_ctx *c = lt_test_ctx(8);
    int a[3] = {200, 37, 300};
    lt_tensor *h[3], *xs[3];
    for (int k = 0; k < 3; k++) {
        h[k] = lt_test_rand(960 + k, -1, 1, LT_SHAPE(2, a[k], 100));
        xs[k] = lt_tensor_leaf(c, 3, h[k]->shape, lt_f32(h[k]));
    }
    lt_tensor *y = lt_concat(c, 3, xs, 1);
    cr_assert(y, "%s", lt_last_error());
    float *ref = malloc(sizeof(float) * (size_t)y->numel);
    ref_concat(3, h, 1, y, ref);
    lt_assert_allclose("large concat forward", ref, lt_f32(y), y->numel, 0, 0);
    lt_tensor *g = lt_test_rand(970, -1, 1, y->ndim, y->shape);
    cr_assert(lt_backward_from(c, y, lt_f32(g)) == LT_OK, "%s", lt_last_error());
    for (int k = 0, off = 0; k < 3; off += a[k], k++)
        for (int64_t i = 0; i < xs[k]->numel; i++) {
            int co[3];
            lt_test_unravel(i, 3, xs[k]->shape, co);
            co[1] += off;
            cr_assert_eq(xs[k]->grad[i], lt_f32(g)[lt_test_ravel(3, y->shape, co)], "input %d grad at %lld", k,
                         (long long)i);
        }
    free(ref);
    for (int k = 0; k < 3; k++) lt_tensor_free(h[k]);
    lt_tensor_free(g);
    lt_ctx_free(c);
}

Test(concat, mismatches_are_errors) {
    lt_ctx *c = lt_test_ctx(9);
    lt_tensor *a = lt_tensor_zeros(c, LT_F32, LT_SHAPE(3, 5, 7));
    lt_tensor *b = lt_tensor_zeros(c, LT_F32, LT_SHAPE(3, 4, 7));
    lt_tensor *d = lt_tensor_zeros(c, LT_F32, LT_SHAPE(2, 5, 7));
    lt_tensor *e = lt_tensor_zeros(c, LT_F32, LT_SHAPE(3, 5));
    lt_tensor *i = lt_tensor_zeros(c, LT_I32, LT_SHAPE(3, 2, 7));
    cr_assert(lt_concat(c, 2, (lt_tensor *[]){a, b}, 1), "%s", lt_last_error());
    LT_EXPECT_ERROR(lt_concat(c, 3, (lt_tensor *[]){a, b, d}, 1), "concat", "input 2", "[2,5,7]", "[3,5,7]", "axis 1");
    LT_EXPECT_ERROR(lt_concat(c, 2, (lt_tensor *[]){a, b}, 0), "concat", "input 1", "[3,4,7]", "[3,5,7]");
    LT_EXPECT_ERROR(lt_concat(c, 2, (lt_tensor *[]){a, e}, 2), "concat", "input 1", "[3,5]");
    LT_EXPECT_ERROR(lt_concat(c, 2, (lt_tensor *[]){a, i}, 1), "concat", "input 1", "i32", "f32");
    LT_EXPECT_ERROR(lt_concat(c, 1, (lt_tensor *[]){a}, 3), "concat", "axis 3", "[3,5,7]");
    LT_EXPECT_ERROR(lt_concat(c, 0, (lt_tensor *[]){a}, 0), "concat", "at least one");
    lt_clear_error();
    cr_assert_null(lt_concat(c, 2, (lt_tensor *[]){a, NULL}, 0));
    cr_assert_str_empty(lt_last_error());
    lt_ctx_free(c);
}

// ---------------------------------------------------------------- slice, split

typedef struct { int axis, start, len; } slice_ud;
static lt_tensor *gc_slice(lt_ctx *c, lt_tensor **in, void *ud) {
    slice_ud *u = ud;
    return lt_slice(c, in[0], u->axis, u->start, u->len);
}

static void ref_slice(const lt_tensor *x, int axis, int start, const lt_tensor *y, float *out) {
    int co[LT_MAX_DIMS];
    for (int64_t o = 0; o < y->numel; o++) {
        lt_test_unravel(o, y->ndim, y->shape, co);
        co[axis] += start;
        out[o] = lt_f32(x)[lt_test_ravel(x->ndim, x->shape, co)];
    }
}

Test(slice, start_middle_end_along_each_axis) {
    int dims[3] = {3, 5, 7};
    for (int axis = 0; axis < 3; axis++) {
        int d = dims[axis];
        slice_ud cases[4] = {{axis, 0, 2}, {axis, 1, d - 2}, {axis, d - 2, 2}, {axis - 3, d / 2, 1}};
        for (int k = 0; k < 4; k++) {
            lt_ctx *c = lt_test_ctx(10);
            lt_tensor *x = lt_test_rand(1000 + 4 * axis + k, -2, 2, LT_SHAPE(3, 5, 7));
            lt_tensor *y = lt_slice(c, x, cases[k].axis, cases[k].start, cases[k].len);
            cr_assert(y, "%s", lt_last_error());
            int want[3] = {3, 5, 7};
            want[axis] = cases[k].len;
            assert_shape(y, 3, want);
            float ref[105];
            ref_slice(x, axis, cases[k].start, y, ref);
            lt_assert_allclose("slice forward", ref, lt_f32(y), y->numel, 0, 0);
            x->requires_grad = 1;
            lt_assert_gradcheck("slice", gc_slice, &cases[k], 1, &x, 1e-3);
            lt_tensor_free(x);
            lt_ctx_free(c);
        }
    }
    lt_tensor *x = lt_test_rand(1100, -2, 2, LT_SHAPE(1000));
    x->requires_grad = 1;
    lt_assert_gradcheck("slice 1000", gc_slice, &(slice_ud){0, 937, 63}, 1, &x, 1e-3);
    lt_tensor_free(x);
    x = lt_test_rand(1101, -2, 2, LT_SHAPE(1));
    x->requires_grad = 1;
    lt_assert_gradcheck("slice 1", gc_slice, &(slice_ud){0, 0, 1}, 1, &x, 1e-3);
    lt_tensor_free(x);
}

Test(slice, large_forward_and_backward) {
    lt_ctx *c = lt_test_ctx(11);
    lt_tensor *h = lt_test_rand(1110, -1, 1, LT_SHAPE(40, 30, 50));
    lt_tensor *x = lt_tensor_leaf(c, 3, h->shape, lt_f32(h));
    lt_tensor *y = lt_slice(c, x, 2, 13, 29);
    cr_assert(y, "%s", lt_last_error());
    float *ref = malloc(sizeof(float) * (size_t)y->numel);
    ref_slice(h, 2, 13, y, ref);
    lt_assert_allclose("large slice forward", ref, lt_f32(y), y->numel, 0, 0);
    lt_tensor *g = lt_test_rand(1111, -1, 1, y->ndim, y->shape);
    cr_assert(lt_backward_from(c, y, lt_f32(g)) == LT_OK, "%s", lt_last_error());
    for (int64_t i = 0; i < x->numel; i++) {
        int co[3];
        lt_test_unravel(i, 3, x->shape, co);
        float want =
            co[2] >= 13 && co[2] < 42 ? lt_f32(g)[lt_test_ravel(3, y->shape, (int[]){co[0], co[1], co[2] - 13})] : 0;
        cr_assert_eq(x->grad[i], want, "grad at %lld", (long long)i);
    }
    free(ref);
    lt_tensor_free(h);
    lt_tensor_free(g);
    lt_ctx_free(c);
}

Test(slice, out_of_range_is_an_error) {
    lt_ctx *c = lt_test_ctx(12);
    lt_tensor *x = lt_tensor_zeros(c, LT_F32, LT_SHAPE(3, 5, 7));
    LT_EXPECT_ERROR(lt_slice(c, x, 1, 3, 3), "slice", "axis 1", "start 3", "len 3", "[3,5,7]");
    LT_EXPECT_ERROR(lt_slice(c, x, 2, -1, 2), "slice", "axis 2", "start -1", "len 2", "[3,5,7]");
    LT_EXPECT_ERROR(lt_slice(c, x, 0, 0, 0), "slice", "axis 0", "start 0", "len 0", "[3,5,7]");
    LT_EXPECT_ERROR(lt_slice(c, x, 3, 0, 1), "slice", "axis 3", "[3,5,7]");
    lt_ctx_free(c);
}

// Split in three, put back in reverse order: every part's backward is exercised.
static lt_tensor *gc_split_reverse(lt_ctx *c, lt_tensor **in, void *ud) {
    lt_tensor *p[3];
    if (lt_split(c, in[0], -1, 3, (int[]){2, 1, 4}, p) != LT_OK) return NULL;
    return lt_concat(c, 3, (lt_tensor *[]){p[2], p[0], p[1]}, 2);
}

Test(split, parts_are_slices_and_grads_flow) {
    lt_ctx *c = lt_test_ctx(13);
    lt_tensor *x = lt_test_rand(1200, -2, 2, LT_SHAPE(3, 5, 7));
    lt_tensor *p[3];
    cr_assert(lt_split(c, x, 1, 3, (int[]){1, 3, 1}, p) == LT_OK, "%s", lt_last_error());
    for (int k = 0, off = 0; k < 3; off += p[k]->shape[1], k++) {
        assert_shape(p[k], LT_SHAPE(3, k == 1 ? 3 : 1, 7));
        float ref[105];
        ref_slice(x, 1, off, p[k], ref);
        lt_assert_allclose("split part", ref, lt_f32(p[k]), p[k]->numel, 0, 0);
    }
    x->requires_grad = 1;
    lt_assert_gradcheck("split", gc_split_reverse, NULL, 1, &x, 1e-3);

    x->requires_grad = 0;
    LT_EXPECT_FAIL(lt_split(c, x, 1, 2, (int[]){2, 4}, p), "split", "sum to 6", "[3,5,7]");
    cr_assert_null(p[0], "outputs must be NULL after a failed split");
    LT_EXPECT_FAIL(lt_split(c, x, 1, 2, (int[]){5, 0}, p), "split", "< 1");
    LT_EXPECT_FAIL(lt_split(c, x, 1, 0, (int[]){5}, p), "split", "n=0");
    LT_EXPECT_FAIL(lt_split(c, x, 4, 1, (int[]){5}, p), "split", "axis 4");
    lt_tensor_free(x);
    lt_ctx_free(c);
}

// ---------------------------------------------------------------- accumulation

// op(x) flattened next to x flattened: x's grad already holds the second
// part's contribution when op's backward runs, so a kernel that overwrites
// instead of adding fails.
typedef lt_tensor *(*unary_op)(lt_ctx *c, lt_tensor *x);
static lt_tensor *op_perm_tile(lt_ctx *c, lt_tensor *x) { return lt_permute(c, x, (int[]){0, 2, 1}); }
static lt_tensor *op_perm_cycle(lt_ctx *c, lt_tensor *x) { return lt_permute(c, x, (int[]){2, 0, 1}); }
static lt_tensor *op_perm_rows(lt_ctx *c, lt_tensor *x) { return lt_permute(c, x, (int[]){1, 0, 2}); }
static lt_tensor *op_reshape(lt_ctx *c, lt_tensor *x) { return lt_reshape(c, x, LT_SHAPE(7, 15)); }
static lt_tensor *op_slice(lt_ctx *c, lt_tensor *x) { return lt_slice(c, x, 1, 2, 3); }
static lt_tensor *op_concat(lt_ctx *c, lt_tensor *x) { return lt_concat(c, 2, (lt_tensor *[]){x, x}, 2); }

static lt_tensor *gc_with_x(lt_ctx *c, lt_tensor **in, void *ud) {
    lt_tensor *y = (*(unary_op *)ud)(c, in[0]);
    lt_tensor *parts[2] = {lt_reshape(c, y, LT_SHAPE(-1)), lt_reshape(c, in[0], LT_SHAPE(-1))};
    return lt_concat(c, 2, parts, 0);
}

Test(layout, backward_adds_to_existing_grad) {
    unary_op ops[] = {op_perm_tile, op_perm_cycle, op_perm_rows, op_reshape, op_slice, op_concat};
    for (int i = 0; i < (int)(sizeof ops / sizeof ops[0]); i++) {
        lt_tensor *x = lt_test_rand(1300 + i, -2, 2, LT_SHAPE(3, 5, 7));
        x->requires_grad = 1;
        lt_assert_gradcheck("op(x) next to x", gc_with_x, &ops[i], 1, &x, 1e-3);
        lt_tensor_free(x);
    }
}

// ---------------------------------------------------------------- i32 data

Test(layout, i32_tensors_move_bit_exact) {
    lt_ctx *c = lt_test_ctx(14);
    int32_t v[2 * 40 * 50];
    for (int i = 0; i < 4000; i++) v[i] = (int32_t)(0x7f800001u + (uint32_t)i * 2654435761u);   // NaN patterns too
    lt_tensor *x = lt_tensor_from(c, LT_I32, LT_SHAPE(2, 40, 50), v);
    lt_tensor *t = lt_transpose(c, x, 1, 2);
    lt_tensor *s = lt_slice(c, x, 2, 7, 11);
    lt_tensor *k = lt_concat(c, 2, (lt_tensor *[]){x, x}, 0);
    cr_assert(t && s && k, "%s", lt_last_error());
    cr_assert(t->dtype == LT_I32 && s->dtype == LT_I32 && k->dtype == LT_I32);
    cr_assert(!t->requires_grad && !s->requires_grad && !k->requires_grad);
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 40; i++)
            for (int j = 0; j < 50; j++) {
                int32_t want = v[(b * 40 + i) * 50 + j];
                cr_assert_eq(lt_i32(t)[(b * 50 + j) * 40 + i], want);
                cr_assert_eq(lt_i32(k)[((b + 2) * 40 + i) * 50 + j], want);
                if (j >= 7 && j < 18) cr_assert_eq(lt_i32(s)[(b * 40 + i) * 11 + j - 7], want);
            }
    lt_ctx_free(c);
}
