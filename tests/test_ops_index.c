// index_select and gather: forward against index arithmetic written here,
// backward scatter-add checked exactly (duplicates accumulate in index order),
// finite-difference gradients, bad indices and dtypes.
#include "lt_test.h"

// Persistent i32 tensor of the given values, or of random values in [0, hi) when v is NULL.
static lt_tensor *make_idx(const int32_t *v, int hi, uint64_t seed, int nd, const int *shape) {
    lt_tensor *t = lt_tensor_alloc(LT_I32, LT_CPU, nd, shape);
    cr_assert(t, "%s", lt_last_error());
    lt_rng r;
    lt_rng_init(&r, seed);
    for (int64_t i = 0; i < t->numel; i++) {
        float u;
        lt_rng_fill_uniform(&r, &u, 1, 0, 1);
        lt_i32(t)[i] = v ? v[i] : (int32_t)(u * hi) % hi;
    }
    return t;
}

// out[.., k, ..] = x[.., idx[k], ..]
static void ref_index_select(const lt_tensor *x, int axis, const lt_tensor *idx, const lt_tensor *y, float *out) {
    int co[LT_MAX_DIMS];
    for (int64_t o = 0; o < y->numel; o++) {
        lt_test_unravel(o, y->ndim, y->shape, co);
        co[axis] = lt_i32(idx)[co[axis]];
        out[o] = lt_f32(x)[lt_test_ravel(x->ndim, x->shape, co)];
    }
}

// gx[.., idx[k], ..] += g[.., k, ..], k ascending
static void ref_index_select_bwd(const lt_tensor *x, int axis, const lt_tensor *idx, const lt_tensor *y,
                                 const float *g, float *gx) {
    int co[LT_MAX_DIMS];
    memset(gx, 0, sizeof(float) * (size_t)x->numel);
    for (int64_t o = 0; o < y->numel; o++) {
        lt_test_unravel(o, y->ndim, y->shape, co);
        co[axis] = lt_i32(idx)[co[axis]];
        gx[lt_test_ravel(x->ndim, x->shape, co)] += g[o];
    }
}

// out[i] = x[i with coordinate `axis` replaced by idx[i]]
static void ref_gather(const lt_tensor *x, int axis, const lt_tensor *idx, float *out) {
    int co[LT_MAX_DIMS];
    for (int64_t o = 0; o < idx->numel; o++) {
        lt_test_unravel(o, idx->ndim, idx->shape, co);
        co[axis] = lt_i32(idx)[o];
        out[o] = lt_f32(x)[lt_test_ravel(x->ndim, x->shape, co)];
    }
}

static void ref_gather_bwd(const lt_tensor *x, int axis, const lt_tensor *idx, const float *g, float *gx) {
    int co[LT_MAX_DIMS];
    memset(gx, 0, sizeof(float) * (size_t)x->numel);
    for (int64_t o = 0; o < idx->numel; o++) {
        lt_test_unravel(o, idx->ndim, idx->shape, co);
        co[axis] = lt_i32(idx)[o];
        gx[lt_test_ravel(x->ndim, x->shape, co)] += g[o];
    }
}

static lt_tensor *gc_index_select(lt_ctx *c, lt_tensor **in, void *ud) {
    return lt_index_select(c, in[0], *(int *)ud, in[1]);
}
static lt_tensor *gc_gather(lt_ctx *c, lt_tensor **in, void *ud) { return lt_gather(c, in[0], *(int *)ud, in[1]); }

// ---------------------------------------------------------------- index_select

Test(index_select, duplicates_along_each_axis) {
    const int32_t i0[] = {2, 0, 2, 1, 2}, i1[] = {4, 4, 0, 3}, i2[] = {6, 1, 1, 0, 6, 6, 3, 2};
    const int32_t *iv[3] = {i0, i1, i2};
    int kk[3] = {5, 4, 8};
    for (int axis = 0; axis < 3; axis++) {
        lt_ctx *c = lt_test_ctx(1);
        lt_tensor *x = lt_test_rand(10 + axis, -2, 2, LT_SHAPE(3, 5, 7));
        lt_tensor *idx = make_idx(iv[axis], 0, 0, 1, &kk[axis]);
        int ax_arg = axis == 2 ? -1 : axis;
        lt_tensor *y = lt_index_select(c, x, ax_arg, idx);
        cr_assert(y, "%s", lt_last_error());
        int want[3] = {3, 5, 7};
        want[axis] = kk[axis];
        cr_assert(y->ndim == 3 && !memcmp(y->shape, want, sizeof want), "output shape");
        float ref[5 * 5 * 7];   // the largest of the three outputs
        ref_index_select(x, axis, idx, y, ref);
        lt_assert_allclose("index_select forward", ref, lt_f32(y), y->numel, 0, 0);
        x->requires_grad = 1;
        lt_assert_gradcheck("index_select", gc_index_select, &ax_arg, 2, (lt_tensor *[]){x, idx}, 1e-3);
        lt_tensor_free(x);
        lt_tensor_free(idx);
        lt_ctx_free(c);
    }
}

Test(index_select, odd_totals_gradcheck) {
    struct { int nd; int shape[3]; int axis, k; } cases[] = {
        {1, {1}, 0, 3},        // every pick is element 0: its grad is the sum of three
        {1, {63}, 0, 100},
        {2, {40, 25}, 1, 31},
        {3, {10, 10, 10}, 1, 7},
    };
    for (int i = 0; i < 4; i++) {
        lt_tensor *x = lt_test_rand(20 + i, -2, 2, cases[i].nd, cases[i].shape);
        lt_tensor *idx = make_idx(NULL, cases[i].shape[cases[i].axis], 30 + i, 1, &cases[i].k);
        x->requires_grad = 1;
        lt_assert_gradcheck("index_select", gc_index_select, &cases[i].axis, 2, (lt_tensor *[]){x, idx}, 1e-3);
        lt_tensor_free(x);
        lt_tensor_free(idx);
    }
}

// Sizes that take the threaded paths; backward must equal the sequential
// scatter-add bit for bit (same order of additions).
Test(index_select, large_forward_and_exact_backward) {
    struct { int nd; int shape[3]; int axis, k; } cases[] = {
        {1, {1000}, 0, 40000},
        {2, {64, 500}, 1, 777},
        {3, {2, 3000, 8}, 1, 5000},
        {2, {3000, 16}, 0, 9000},
    };
    for (int i = 0; i < 4; i++) {
        lt_ctx *c = lt_test_ctx(2);
        lt_tensor *h = lt_test_rand(40 + i, -1, 1, cases[i].nd, cases[i].shape);
        lt_tensor *idx = make_idx(NULL, cases[i].shape[cases[i].axis], 50 + i, 1, &cases[i].k);
        lt_tensor *x = lt_tensor_leaf(c, h->ndim, h->shape, lt_f32(h));
        lt_tensor *y = lt_index_select(c, x, cases[i].axis, idx);
        cr_assert(y, "%s", lt_last_error());
        float *ref = malloc(sizeof(float) * (size_t)(y->numel > x->numel ? y->numel : x->numel));
        ref_index_select(h, cases[i].axis, idx, y, ref);
        lt_assert_allclose("large index_select forward", ref, lt_f32(y), y->numel, 0, 0);
        lt_tensor *g = lt_test_rand(60 + i, -1, 1, y->ndim, y->shape);
        cr_assert(lt_backward_from(c, y, lt_f32(g)) == LT_OK, "%s", lt_last_error());
        ref_index_select_bwd(h, cases[i].axis, idx, y, lt_f32(g), ref);
        lt_assert_allclose("large index_select backward", ref, x->grad, x->numel, 0, 0);
        free(ref);
        lt_tensor_free(h);
        lt_tensor_free(idx);
        lt_tensor_free(g);
        lt_ctx_free(c);
    }
}

// ---------------------------------------------------------------- gather

Test(gather, along_each_axis) {
    int ishapes[3][3] = {{4, 5, 7}, {3, 2, 7}, {3, 5, 9}};
    int dims[3] = {3, 5, 7};
    for (int axis = 0; axis < 3; axis++) {
        lt_ctx *c = lt_test_ctx(3);
        lt_tensor *x = lt_test_rand(70 + axis, -2, 2, LT_SHAPE(3, 5, 7));
        lt_tensor *idx = make_idx(NULL, dims[axis], 80 + axis, 3, ishapes[axis]);
        int ax_arg = axis == 2 ? -1 : axis;
        lt_tensor *y = lt_gather(c, x, ax_arg, idx);
        cr_assert(y, "%s", lt_last_error());
        cr_assert(y->ndim == 3 && !memcmp(y->shape, ishapes[axis], sizeof(int) * 3), "output shape");
        float ref[4 * 5 * 9];
        ref_gather(x, axis, idx, ref);
        lt_assert_allclose("gather forward", ref, lt_f32(y), y->numel, 0, 0);
        x->requires_grad = 1;
        lt_assert_gradcheck("gather", gc_gather, &ax_arg, 2, (lt_tensor *[]){x, idx}, 1e-3);
        lt_tensor_free(x);
        lt_tensor_free(idx);
        lt_ctx_free(c);
    }
    // totals 1 and 63, and 1000 with idx larger than x along the axis
    struct { int nd; int xs[3], is[3]; int axis; } cases[] = {
        {1, {1}, {1}, 0},
        {2, {7, 9}, {7, 4}, 1},
        {2, {63, 1}, {5, 1}, 0},
        {3, {10, 10, 10}, {10, 13, 10}, 1},
    };
    for (int i = 0; i < 4; i++) {
        lt_tensor *x = lt_test_rand(90 + i, -2, 2, cases[i].nd, cases[i].xs);
        lt_tensor *idx = make_idx(NULL, cases[i].xs[cases[i].axis], 95 + i, cases[i].nd, cases[i].is);
        x->requires_grad = 1;
        lt_assert_gradcheck("gather", gc_gather, &cases[i].axis, 2, (lt_tensor *[]){x, idx}, 1e-3);
        lt_tensor_free(x);
        lt_tensor_free(idx);
    }
}

Test(gather, large_forward_and_exact_backward) {
    struct { int nd; int xs[3], is[3]; int axis; } cases[] = {
        {3, {50, 40, 30}, {50, 60, 30}, 1},
        {2, {300, 200}, {500, 200}, 0},
        {2, {200, 300}, {200, 700}, 1},
        {1, {1000}, {50000}, 0},
    };
    for (int i = 0; i < 4; i++) {
        lt_ctx *c = lt_test_ctx(4);
        lt_tensor *h = lt_test_rand(100 + i, -1, 1, cases[i].nd, cases[i].xs);
        lt_tensor *idx = make_idx(NULL, cases[i].xs[cases[i].axis], 110 + i, cases[i].nd, cases[i].is);
        lt_tensor *x = lt_tensor_leaf(c, h->ndim, h->shape, lt_f32(h));
        lt_tensor *y = lt_gather(c, x, cases[i].axis, idx);
        cr_assert(y, "%s", lt_last_error());
        float *ref = malloc(sizeof(float) * (size_t)(y->numel > x->numel ? y->numel : x->numel));
        ref_gather(h, cases[i].axis, idx, ref);
        lt_assert_allclose("large gather forward", ref, lt_f32(y), y->numel, 0, 0);
        lt_tensor *g = lt_test_rand(120 + i, -1, 1, y->ndim, y->shape);
        cr_assert(lt_backward_from(c, y, lt_f32(g)) == LT_OK, "%s", lt_last_error());
        ref_gather_bwd(h, cases[i].axis, idx, lt_f32(g), ref);
        lt_assert_allclose("large gather backward", ref, x->grad, x->numel, 0, 0);
        free(ref);
        lt_tensor_free(h);
        lt_tensor_free(idx);
        lt_tensor_free(g);
        lt_ctx_free(c);
    }
}

// ---------------------------------------------------------------- i32 x, errors

Test(index, i32_x_moves_exactly) {
    lt_ctx *c = lt_test_ctx(5);
    int32_t v[12];
    for (int i = 0; i < 12; i++) v[i] = 16777217 + 1000 * i;   // not representable in f32
    lt_tensor *x = lt_tensor_from(c, LT_I32, LT_SHAPE(3, 4), v);
    lt_tensor *idx = lt_tensor_from(c, LT_I32, LT_SHAPE(3), (int32_t[]){3, 0, 3});
    lt_tensor *y = lt_index_select(c, x, 1, idx);
    cr_assert(y && y->dtype == LT_I32 && !y->requires_grad, "%s", lt_last_error());
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 3; k++) cr_assert_eq(lt_i32(y)[r * 3 + k], v[r * 4 + lt_i32(idx)[k]]);
    lt_tensor *gi = lt_tensor_from(c, LT_I32, LT_SHAPE(1, 4), (int32_t[]){2, 0, 1, 2});
    lt_tensor *z = lt_gather(c, x, 0, gi);
    cr_assert(z && z->dtype == LT_I32, "%s", lt_last_error());
    for (int j = 0; j < 4; j++) cr_assert_eq(lt_i32(z)[j], v[lt_i32(gi)[j] * 4 + j]);
    lt_ctx_free(c);
}

Test(index, bad_inputs_are_errors) {
    lt_ctx *c = lt_test_ctx(6);
    lt_tensor *x = lt_tensor_zeros(c, LT_F32, LT_SHAPE(3, 5, 7));
    lt_tensor *fidx = lt_tensor_zeros(c, LT_F32, LT_SHAPE(2));
    LT_EXPECT_ERROR(lt_index_select(c, x, 1, fidx), "index_select", "idx", "i32", "f32");
    LT_EXPECT_ERROR(lt_gather(c, x, 1, lt_tensor_zeros(c, LT_F32, LT_SHAPE(3, 2, 7))), "gather", "idx", "i32", "f32");

    lt_tensor *oob = lt_tensor_from(c, LT_I32, LT_SHAPE(4), (int32_t[]){0, 2, 5, 1});
    LT_EXPECT_ERROR(lt_index_select(c, x, 1, oob), "index_select", "idx[2] = 5", "axis 1", "[3,5,7]");
    lt_tensor *neg = lt_tensor_from(c, LT_I32, LT_SHAPE(2), (int32_t[]){1, -1});
    LT_EXPECT_ERROR(lt_index_select(c, x, 0, neg), "index_select", "idx[1] = -1", "[3,5,7]");
    LT_EXPECT_ERROR(lt_index_select(c, x, 3, neg), "index_select", "axis 3", "[3,5,7]");
    LT_EXPECT_ERROR(lt_index_select(c, x, 0, lt_tensor_zeros(c, LT_I32, LT_SHAPE(2, 2))), "index_select", "1-D",
                    "[2,2]", "[3,5,7]");

    lt_tensor *gi = lt_tensor_zeros(c, LT_I32, LT_SHAPE(2, 5, 7));
    lt_i32(gi)[lt_test_ravel(3, gi->shape, (int[]){1, 0, 3})] = 3;
    LT_EXPECT_ERROR(lt_gather(c, x, 0, gi), "gather", "idx[1,0,3] = 3", "axis 0", "[3,5,7]");
    lt_i32(gi)[lt_test_ravel(3, gi->shape, (int[]){1, 0, 3})] = 2;
    cr_assert(lt_gather(c, x, 0, gi), "%s", lt_last_error());
    LT_EXPECT_ERROR(lt_gather(c, x, 1, gi), "gather", "[2,5,7]", "[3,5,7]", "axis 1");
    LT_EXPECT_ERROR(lt_gather(c, x, 0, lt_tensor_zeros(c, LT_I32, LT_SHAPE(3, 5))), "gather", "[3,5]", "[3,5,7]");

    lt_clear_error();
    cr_assert_null(lt_gather(c, NULL, 0, gi));
    cr_assert_null(lt_index_select(c, x, 0, NULL));
    cr_assert_str_empty(lt_last_error(), "a NULL input must keep the earlier error");
    lt_ctx_free(c);
}
