// embedding (lookup, deterministic scatter-add backward, id checks) and
// dropout (Philox mask: rate, reproducibility, mask-based backward, identity
// outside training).
#include "lt_test.h"

#include <omp.h>
#include <stdlib.h>

static lt_tensor *rand_ids(uint64_t seed, int V, int ndim, const int *shape) {
    lt_tensor *t = lt_tensor_alloc(LT_I32, LT_CPU, ndim, shape);
    lt_rng r;
    lt_rng_init(&r, seed);
    for (int64_t i = 0; i < t->numel; i++) lt_i32(t)[i] = (int32_t)lt_rng_below(&r, (uint32_t)V);
    return t;
}

Test(embedding, forward_copies_rows) {
    int shapes[][2] = {{3, 5}, {1, 1}, {7, 63}};
    for (int k = 0; k < 3; k++) {
        lt_ctx *c = lt_ctx_new(LT_CPU, 1);
        c->arena.poison = 1;
        lt_tensor *ids = rand_ids(10 + k, 11, 2, shapes[k]);
        lt_tensor *tab = lt_test_rand(20 + k, -1, 1, LT_SHAPE(11, 7));
        lt_tensor *y = lt_embedding(c, ids, tab);
        cr_assert(y, "%s", lt_last_error());
        cr_assert(y->ndim == 3 && y->shape[0] == shapes[k][0] && y->shape[1] == shapes[k][1] && y->shape[2] == 7);
        for (int64_t p = 0; p < ids->numel; p++)
            for (int j = 0; j < 7; j++)
                cr_assert_eq(lt_f32(y)[p * 7 + j], lt_f32(tab)[lt_i32(ids)[p] * 7 + j], "position %lld col %d",
                             (long long)p, j);
        lt_tensor_free(ids); lt_tensor_free(tab);
        lt_ctx_free(c);
    }
}

Test(embedding, scalar_id_gives_a_row) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    lt_tensor *ids = lt_tensor_from(c, LT_I32, 0, (int[]){1}, (int32_t[]){4});
    lt_tensor *tab = lt_test_rand(30, -1, 1, LT_SHAPE(5, 3));
    lt_tensor *y = lt_embedding(c, ids, tab);
    cr_assert(y && y->ndim == 1 && y->shape[0] == 3, "%s", lt_last_error());
    for (int j = 0; j < 3; j++) cr_assert_eq(lt_f32(y)[j], lt_f32(tab)[12 + j]);
    lt_tensor_free(tab);
    lt_ctx_free(c);
}

static lt_tensor *emb_fn(lt_ctx *c, lt_tensor **in, void *ud) { return lt_embedding(c, in[0], in[1]); }

Test(embedding, gradcheck_with_repeated_ids) {
    lt_tensor *in[2] = {rand_ids(40, 5, LT_SHAPE(3, 5, 7)), lt_test_rand(41, -1, 1, LT_SHAPE(5, 3))};
    in[1]->requires_grad = 1;
    lt_assert_gradcheck("embedding", emb_fn, NULL, 2, in, 1e-2);
    lt_tensor_free(in[0]); lt_tensor_free(in[1]);
}

// Scatter-add over many positions (parallel path) equals a sequential loop
// exactly, for any thread count.
static float *table_grad(int threads, const lt_tensor *ids, const lt_tensor *tab0, const float *g) {
    omp_set_num_threads(threads);
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    lt_tensor *tab = lt_tensor_leaf(c, 2, tab0->shape, lt_f32(tab0));
    lt_tensor *y = lt_embedding(c, (lt_tensor *)ids, tab);
    cr_assert(y, "%s", lt_last_error());
    cr_assert_eq(lt_backward_from(c, y, g), LT_OK, "%s", lt_last_error());
    float *out = malloc(sizeof(float) * (size_t)tab->numel);
    memcpy(out, tab->grad, sizeof(float) * (size_t)tab->numel);
    lt_ctx_free(c);
    return out;
}

Test(embedding, backward_is_exact_and_deterministic) {
    int V = 37, D = 9;
    lt_tensor *ids = rand_ids(50, V, LT_SHAPE(5000));
    lt_tensor *tab = lt_test_rand(51, -1, 1, LT_SHAPE(V, D));
    lt_tensor *gt = lt_test_rand(52, -1, 1, LT_SHAPE(5000, D));
    float *ref = calloc((size_t)V * D, sizeof(float));
    for (int p = 0; p < 5000; p++)
        for (int j = 0; j < D; j++) ref[lt_i32(ids)[p] * D + j] += lt_f32(gt)[p * D + j];
    int nt = omp_get_max_threads();
    float *g1 = table_grad(1, ids, tab, lt_f32(gt)), *g2 = table_grad(2, ids, tab, lt_f32(gt)),
          *g3 = table_grad(3, ids, tab, lt_f32(gt));
    omp_set_num_threads(nt);
    cr_assert_eq(memcmp(g1, ref, sizeof(float) * (size_t)V * D), 0, "1 thread differs from position-order sum");
    cr_assert_eq(memcmp(g2, ref, sizeof(float) * (size_t)V * D), 0, "2 threads differ from position-order sum");
    cr_assert_eq(memcmp(g3, ref, sizeof(float) * (size_t)V * D), 0, "3 threads differ from position-order sum");
    free(ref); free(g1); free(g2); free(g3);
    lt_tensor_free(ids); lt_tensor_free(tab); lt_tensor_free(gt);
}

Test(embedding, bad_input) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    lt_tensor *tab = lt_tensor_zeros(c, LT_F32, LT_SHAPE(11, 4));
    lt_tensor *ids = lt_tensor_from(c, LT_I32, LT_SHAPE(2, 3), (int32_t[]){0, 3, 10, 2, 11, 1});
    cr_assert_null(lt_embedding(c, ids, tab));
    const char *e = lt_last_error();
    cr_assert(strstr(e, "embedding") && strstr(e, "id 11") && strstr(e, "position 4") && strstr(e, "11)"),
              "message: %s", e);
    lt_tensor *neg = lt_tensor_from(c, LT_I32, LT_SHAPE(2), (int32_t[]){-1, 0});
    cr_assert_null(lt_embedding(c, neg, tab));
    cr_assert(strstr(lt_last_error(), "id -1") && strstr(lt_last_error(), "position 0"), "message: %s",
              lt_last_error());
    lt_tensor *fids = lt_tensor_zeros(c, LT_F32, LT_SHAPE(2));
    cr_assert_null(lt_embedding(c, fids, tab));
    cr_assert_eq(lt_last_status(), LT_ERR_DTYPE);
    cr_assert(strstr(lt_last_error(), "embedding") && strstr(lt_last_error(), "ids"), "message: %s", lt_last_error());
    lt_tensor *itab = lt_tensor_zeros(c, LT_I32, LT_SHAPE(11, 4));
    lt_tensor *ok = lt_tensor_zeros(c, LT_I32, LT_SHAPE(2));
    cr_assert_null(lt_embedding(c, ok, itab));
    cr_assert_eq(lt_last_status(), LT_ERR_DTYPE);
    lt_tensor *tab3 = lt_tensor_zeros(c, LT_F32, LT_SHAPE(2, 11, 4));
    cr_assert_null(lt_embedding(c, ok, tab3));
    cr_assert(strstr(lt_last_error(), "[2,11,4]"), "message: %s", lt_last_error());
    lt_tensor *ids5 = lt_tensor_zeros(c, LT_I32, LT_SHAPE(1, 1, 1, 1, 2));
    cr_assert_null(lt_embedding(c, ids5, tab));
    cr_assert(strstr(lt_last_error(), "embedding"), "message: %s", lt_last_error());
    lt_ctx_free(c);
}

// ---- dropout ----

#define NBIG 100000

Test(dropout, drop_rate_and_scale) {
    float ps[] = {0.1f, 0.3f, 0.9f};
    for (int k = 0; k < 3; k++) {
        lt_ctx *c = lt_ctx_new(LT_CPU, 7 + k);
        c->arena.poison = 1;
        lt_tensor *x = lt_test_rand(60 + k, 1, 2, LT_SHAPE(NBIG));
        lt_tensor *y = lt_dropout(c, x, ps[k]);
        cr_assert(y && y != x, "%s", lt_last_error());
        float scale = 1.0f / (1.0f - ps[k]);
        int64_t dropped = 0;
        for (int64_t i = 0; i < NBIG; i++) {
            float v = lt_f32(y)[i];
            if (v == 0.0f) dropped++;
            else cr_assert_eq(v, lt_f32(x)[i] * scale, "kept element %lld is %g, want x*scale", (long long)i, v);
        }
        double frac = (double)dropped / NBIG;
        // binomial std is at most 0.0016 here; 0.01 is over 6 sigma
        cr_assert(fabs(frac - ps[k]) < 0.01, "p %g: dropped fraction %g", ps[k], frac);
        lt_tensor_free(x);
        lt_ctx_free(c);
    }
}

// The mask is exactly the documented Philox rule, which CUDA reproduces.
Test(dropout, mask_is_philox_rule) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 99);
    lt_tensor *x = lt_test_rand(70, 1, 2, LT_SHAPE(3, 5, 7));
    lt_tensor *y0 = lt_dropout(c, x, 0.5f);   // advances the stream
    uint64_t base = c->rng.offset;
    lt_tensor *y = lt_dropout(c, x, 0.5f);
    cr_assert(y0 && y, "%s", lt_last_error());
    cr_assert(c->rng.offset > base, "dropout did not advance the RNG stream");
    int differ = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        int kept = lt_rng_uniform_at(99, base, (uint64_t)i) >= 0.5f;
        cr_assert_eq(lt_f32(y)[i] != 0.0f, kept, "element %lld", (long long)i);
        differ |= (lt_f32(y)[i] != 0.0f) != (lt_f32(y0)[i] != 0.0f);
    }
    cr_assert(differ, "two successive dropouts used the same mask");
    lt_tensor_free(x);
    lt_ctx_free(c);
}

Test(dropout, same_seed_same_mask) {
    lt_tensor *x = lt_test_rand(80, -1, 1, LT_SHAPE(1000));
    float out[3][1000];
    uint64_t seeds[3] = {5, 5, 6};
    for (int k = 0; k < 3; k++) {
        lt_ctx *c = lt_ctx_new(LT_CPU, seeds[k]);
        lt_tensor *y = lt_dropout(c, x, 0.4f);
        cr_assert(y, "%s", lt_last_error());
        memcpy(out[k], lt_f32(y), sizeof out[k]);
        lt_ctx_free(c);
    }
    cr_assert_eq(memcmp(out[0], out[1], sizeof out[0]), 0, "same seed gave different masks");
    cr_assert_neq(memcmp(out[0], out[2], sizeof out[0]), 0, "different seeds gave the same mask");
    lt_tensor_free(x);
}

Test(dropout, backward_is_mask_times_scale) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 3);
    lt_tensor *x0 = lt_test_rand(90, 1, 2, LT_SHAPE(NBIG));
    lt_tensor *x = lt_tensor_leaf(c, LT_SHAPE(NBIG), lt_f32(x0));
    lt_tensor *g = lt_test_rand(91, -1, 1, LT_SHAPE(NBIG));
    uint64_t base = c->rng.offset;
    lt_tensor *y = lt_dropout(c, x, 0.25f);
    cr_assert(y, "%s", lt_last_error());
    cr_assert_eq(lt_backward_from(c, y, lt_f32(g)), LT_OK, "%s", lt_last_error());
    float scale = 1.0f / 0.75f;
    for (int64_t i = 0; i < NBIG; i++) {
        int kept = lt_rng_uniform_at(3, base, (uint64_t)i) >= 0.25f;
        float want = kept ? lt_f32(g)[i] * scale : 0.0f;
        cr_assert_eq(x->grad[i], want, "element %lld: grad %g, want %g", (long long)i, x->grad[i], want);
        cr_assert_eq(lt_f32(y)[i] != 0.0f, kept);
    }
    lt_tensor_free(x0); lt_tensor_free(g);
    lt_ctx_free(c);
}

static lt_tensor *drop_fn(lt_ctx *c, lt_tensor **in, void *ud) { return lt_dropout(c, in[0], 0.5f); }

Test(dropout, identity_outside_training_or_at_p0) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    lt_tensor *x = lt_test_rand(100, -1, 1, LT_SHAPE(3, 5, 7));
    uint64_t off = c->rng.offset;
    cr_assert_eq(lt_dropout(c, x, 0.0f), x);
    c->training = 0;
    cr_assert_eq(lt_dropout(c, x, 0.5f), x);
    cr_assert_eq(c->rng.offset, off, "identity dropout consumed random numbers");
    lt_ctx_free(c);
    x->requires_grad = 1;
    lt_assert_gradcheck("dropout (eval mode)", drop_fn, NULL, 1, &x, 1e-2);
    lt_tensor_free(x);
}

Test(dropout, bad_input) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    lt_tensor *x = lt_tensor_zeros(c, LT_F32, LT_SHAPE(4));
    float bad[] = {1.0f, -0.1f, NAN, 2.0f};
    for (int k = 0; k < 4; k++) {
        cr_assert_null(lt_dropout(c, x, bad[k]), "p %g accepted", bad[k]);
        cr_assert(strstr(lt_last_error(), "dropout") && strstr(lt_last_error(), "p"), "message: %s", lt_last_error());
    }
    c->training = 0;
    cr_assert_null(lt_dropout(c, x, 1.0f), "p 1 accepted outside training");
    lt_tensor *xi = lt_tensor_zeros(c, LT_I32, LT_SHAPE(4));
    cr_assert_null(lt_dropout(c, xi, 0.5f));
    cr_assert_eq(lt_last_status(), LT_ERR_DTYPE);
    lt_ctx_free(c);
}

static lt_tensor *drop_train_fn(lt_ctx *c, lt_tensor **in, void *ud) { return lt_dropout(c, in[0], 0.3f); }

Test(embedding, backward_accumulates_embedding_and_dropout) {
    lt_tensor *in[2] = {rand_ids(700, 5, LT_SHAPE(3, 5, 7)), lt_test_rand(701, -1, 1, LT_SHAPE(5, 3))};
    in[1]->requires_grad = 1;
    lt_assert_accumulates("embedding accumulates", emb_fn, NULL, 2, in);
    lt_tensor_free(in[0]); lt_tensor_free(in[1]);
    lt_tensor *x = lt_test_rand(702, -1, 1, LT_SHAPE(3, 5, 7));
    x->requires_grad = 1;
    lt_assert_accumulates("dropout accumulates", drop_train_fn, NULL, 1, &x);
    lt_tensor_free(x);
}
