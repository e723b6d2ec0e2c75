// Attention forward: the tiled kernel against the naive reference (O, lse,
// entropy, block map) over causal, GQA, padding, block masks and odd sizes;
// masked blocks are never read; output slots; bad input.
#include "test_attention_cases.h"

static const attn_case CASES[] = {
    {1, 1, 1, 1, 1, 1, 0},
    {1, 1, 1, 1, 1, 1, 1},
    {2, 3, 3, 7, 7, 16, 1},
    {2, 6, 2, 63, 63, 16, 1, 1},
    {1, 4, 1, 200, 200, 64, 1, 0, 1, 32, 48, 64},
    {2, 6, 2, 63, 100, 16, 0, 1, 1, 16, 16, 16},
    {1, 2, 2, 200, 77, 64, 1, 1},
    {1, 2, 1, 7, 200, 1, 1},
    {1, 2, 2, 200, 200, 16, 0, 1, 1, 64, 64, 64},
    {2, 4, 4, 130, 129, 8, 1, 1, 1, 7, 5, 10},
    {1, 1, 1, 300, 300, 64, 1, 0, 0, 0, 0, 100},
    {1, 4, 2, 63, 63, 16, 1, 0, 0, 0, 0, 0, 1.0f, 3.0f},   // sharp rows: logits up to 144
    {1, 2, 1, 33, 257, 16, 0, 1, 1, 200, 129, 300},        // blocks larger than T and S
};
#define N_CASES (int)(sizeof CASES / sizeof CASES[0])

typedef struct { float *o, *lse, *h, *g; } ref_out;

static ref_out naive_run(const attn_inputs *in) {
    const attn_case *c = &in->c;
    lt_naive_attn a = attn_naive(in);
    int64_t rows = (int64_t)c->B * c->Hq * c->T;
    int64_t ng = (int64_t)c->B * c->Hq * attn_cdiv(c->T, a.map_block) * attn_cdiv(c->S, a.map_block);
    ref_out r = {malloc(sizeof(float) * rows * c->D), malloc(sizeof(float) * rows), malloc(sizeof(float) * rows),
                 malloc(sizeof(float) * ng)};
    cr_assert_eq(lt_naive_attn_fwd(&a, lt_f32(in->q), lt_f32(in->k), lt_f32(in->v), r.o, r.lse, r.h, r.g), -1);
    return r;
}

static void ref_free(ref_out *r) { free(r->o); free(r->lse); free(r->h); free(r->g); }

// Runs the op with the given extra outputs and checks each against the reference.
static void check_case(const attn_inputs *in, const ref_out *ref, int entropy, int map) {
    char cs[128], name[160];
    attn_case_str(&in->c, cs, sizeof cs);
    lt_ctx *c = lt_test_ctx(11);
    lt_attn_opts o = attn_opts(in, entropy, map);
    lt_attn_out out;
    cr_assert_eq(lt_attention(c, in->q, in->k, in->v, &o, &out), LT_OK, "%s: %s", cs, lt_last_error());
    cr_assert(out.o && out.lse && !out.entropy == !entropy && !out.block_map == !map, "%s: output slots", cs);
    cr_assert(out.o->ndim == 4 && out.o->shape[2] == in->c.T && out.o->shape[3] == in->c.D);
    int64_t rows = out.lse->numel;
    snprintf(name, sizeof name, "%s: O", cs);
    lt_assert_allclose(name, ref->o, lt_f32(out.o), out.o->numel, 1e-5, 2e-6);
    snprintf(name, sizeof name, "%s: lse", cs);
    lt_assert_allclose(name, ref->lse, lt_f32(out.lse), rows, 1e-5, 1e-6);
    if (entropy) {
        snprintf(name, sizeof name, "%s: entropy", cs);
        lt_assert_allclose(name, ref->h, lt_f32(out.entropy), rows, 1e-5, 2e-6);
    }
    if (map) {
        snprintf(name, sizeof name, "%s: block map", cs);
        lt_assert_allclose(name, ref->g, lt_f32(out.block_map), out.block_map->numel, 1e-5, 1e-7);
    }
    lt_ctx_free(c);
}

Test(attention, tiled_matches_naive) {
    for (int k = 0; k < N_CASES; k++) {
        attn_inputs in = attn_make(&CASES[k], 100 + 10 * k);
        ref_out ref = naive_run(&in);
        check_case(&in, &ref, 1, 1);
        ref_free(&ref);
        attn_free(&in);
    }
}

Test(attention, output_slots_in_every_combination) {
    attn_case cs = {2, 6, 3, 63, 70, 16, 1, 1, 1, 16, 32, 32};
    attn_inputs in = attn_make(&cs, 7);
    ref_out ref = naive_run(&in);
    for (int f = 0; f < 4; f++) check_case(&in, &ref, f & 1, f >> 1);
    lt_ctx *c = lt_test_ctx(1);
    in.q->requires_grad = 1;
    lt_attn_opts o = attn_opts(&in, 1, 1);
    lt_attn_out out;
    cr_assert_eq(lt_attention(c, in.q, in.k, in.v, &o, &out), LT_OK, "%s", lt_last_error());
    cr_assert(out.o->requires_grad && out.entropy->requires_grad, "O and H carry gradients");
    cr_assert(!out.lse->requires_grad && !out.block_map->requires_grad, "lse and the block map are constants");
    lt_ctx_free(c);
    ref_free(&ref);
    attn_free(&in);
}

// NULL options are the defaults; scale 0 is 1/sqrt(D).
Test(attention, defaults_and_explicit_scale) {
    attn_case cs = {1, 2, 2, 20, 20, 16};
    attn_inputs in = attn_make(&cs, 3);
    lt_ctx *c = lt_test_ctx(1);
    lt_attn_out a, b;
    cr_assert_eq(lt_attention(c, in.q, in.k, in.v, NULL, &a), LT_OK, "%s", lt_last_error());
    lt_attn_opts o = lt_attn_defaults();
    cr_assert(o.block_q == 64 && o.block_k == 64 && o.map_block == 64 && o.scale == 0 && !o.causal);
    o.scale = 0.25f;
    cr_assert_eq(lt_attention(c, in.q, in.k, in.v, &o, &b), LT_OK);
    cr_assert(!a.entropy && !a.block_map);
    lt_assert_allclose("scale 0 = 1/sqrt(16)", lt_f32(b.o), lt_f32(a.o), a.o->numel, 0, 0);
    lt_ctx_free(c);
    attn_free(&in);
}

// Entropy of sharp and flat rows: a row of S equal logits has H = log S; a
// row with one dominant key has H near 0, where lse - mu cancels.
Test(attention, entropy_extremes) {
    enum { S = 37, D = 4 };
    float q[2 * D] = {0, 0, 0, 0, 30, 0, 0, 0}, k[S * D] = {0}, v[S * D];
    for (int j = 0; j < S * D; j++) v[j] = (float)(j % 5);
    k[0] = 1;   // key 0 is 30 ahead of the others for query 1
    lt_ctx *c = lt_test_ctx(1);
    lt_tensor *tq = lt_tensor_from(c, LT_F32, LT_SHAPE(1, 1, 2, D), q);
    lt_tensor *tk = lt_tensor_from(c, LT_F32, LT_SHAPE(1, 1, S, D), k);
    lt_tensor *tv = lt_tensor_from(c, LT_F32, LT_SHAPE(1, 1, S, D), v);
    lt_attn_opts o = lt_attn_defaults();
    o.scale = 1;
    o.want_entropy = 1;
    lt_attn_out out;
    cr_assert_eq(lt_attention(c, tq, tk, tv, &o, &out), LT_OK, "%s", lt_last_error());
    float *H = lt_f32(out.entropy);
    cr_assert(fabsf(H[0] - logf(S)) < 1e-5f, "flat row: H %.8g, want log %d = %.8g", H[0], S, log(S));
    double e = exp(-30.0), z = 1 + (S - 1) * e, want = log(z) + 30 * (S - 1) * e / z;
    cr_assert(fabs(H[1] - want) < 1e-9 + 1e-4 * want, "sharp row: H %.8g, want %.8g", H[1], want);
    lt_ctx_free(c);
}

// NaN in every k/v row the op must not read: keys past the length, keys only
// in masked blocks, keys after the last query under a causal mask.
Test(attention, hidden_keys_are_never_read) {
    attn_case cs = {2, 4, 2, 40, 90, 16, 1, 1, 1, 8, 16, 16};
    attn_inputs in = attn_make(&cs, 21);
    int nbq = attn_cdiv(cs.T, cs.bq), nbk = attn_cdiv(cs.S, cs.bk), group = cs.Hq / cs.Hkv;
    int32_t *m = lt_i32(in.mask), *lens = lt_i32(in.lens);
    lens[1] = 70;
    // key block 1 of batch 0, kv head 1: masked for every query head of its group
    for (int h = group; h < 2 * group; h++)
        for (int i = 0; i < nbq; i++) m[(((int64_t)0 * cs.Hq + h) * nbq + i) * nbk + 1] = 0;
    for (int i = 0; i < nbq; i++)   // keep each block row valid: block 0 is visible to all rows
        for (int h = group; h < 2 * group; h++) m[((int64_t)h * nbq + i) * nbk] = 1;
    float *K = lt_f32(in.k), *V = lt_f32(in.v);
    for (int b = 0; b < cs.B; b++)
        for (int hk = 0; hk < cs.Hkv; hk++)
            for (int s = 0; s < cs.S; s++) {
                int hidden = s >= lens[b] || s >= cs.T || (b == 0 && hk == 1 && s / cs.bk == 1);
                if (!hidden) continue;
                for (int d = 0; d < cs.D; d++) {
                    K[(((int64_t)b * cs.Hkv + hk) * cs.S + s) * cs.D + d] = NAN;
                    V[(((int64_t)b * cs.Hkv + hk) * cs.S + s) * cs.D + d] = NAN;
                }
            }
    ref_out ref = naive_run(&in);
    check_case(&in, &ref, 1, 1);
    ref_free(&ref);
    attn_free(&in);
}

// The block map of a causal, padded case: zero above the diagonal blocks and
// past the key length, each row a distribution.
Test(attention, block_map_causal_and_padding) {
    attn_case cs = {2, 2, 2, 100, 100, 8, 1, 1, 0, 0, 0, 16};
    attn_inputs in = attn_make(&cs, 5);
    lt_i32(in.lens)[0] = 50;
    lt_ctx *c = lt_test_ctx(1);
    lt_attn_opts o = attn_opts(&in, 0, 1);
    lt_attn_out out;
    cr_assert_eq(lt_attention(c, in.q, in.k, in.v, &o, &out), LT_OK, "%s", lt_last_error());
    int nm = attn_cdiv(100, 16);
    cr_assert(out.block_map->shape[2] == nm && out.block_map->shape[3] == nm);
    for (int b = 0; b < 2; b++)
        for (int h = 0; h < 2; h++)
            for (int i = 0; i < nm; i++) {
                double sum = 0;
                for (int j = 0; j < nm; j++) {
                    float g = lt_f32(out.block_map)[(((int64_t)b * 2 + h) * nm + i) * nm + j];
                    int hidden = j > i || (b == 0 && j * 16 >= 50);
                    cr_assert(hidden ? g == 0 : g > 0, "G[%d,%d,%d,%d] = %g", b, h, i, j, g);
                    sum += g;
                }
                cr_assert(fabs(sum - 1) < 1e-5, "row %d sums to %.8g", i, sum);
            }
    ref_out ref = naive_run(&in);
    lt_assert_allclose("block map", ref.g, lt_f32(out.block_map), out.block_map->numel, 1e-5, 1e-7);
    ref_free(&ref);
    lt_ctx_free(c);
    attn_free(&in);
}

static lt_status run_opts(lt_ctx *c, lt_tensor *q, lt_tensor *k, lt_tensor *v, const lt_attn_opts *o) {
    lt_attn_out out;
    lt_status s = lt_attention(c, q, k, v, o, &out);
    if (s != LT_OK) cr_assert(!out.o && !out.lse && !out.entropy && !out.block_map, "outputs left on failure");
    return s;
}

Test(attention, bad_shapes_and_dtypes) {
    lt_ctx *c = lt_test_ctx(1);
    lt_tensor *q = lt_tensor_zeros(c, LT_F32, LT_SHAPE(2, 4, 5, 8));
    lt_tensor *k = lt_tensor_zeros(c, LT_F32, LT_SHAPE(2, 2, 6, 8));
    lt_tensor *q3 = lt_tensor_zeros(c, LT_F32, LT_SHAPE(4, 5, 8));
    lt_tensor *kd = lt_tensor_zeros(c, LT_F32, LT_SHAPE(2, 2, 6, 7));
    lt_tensor *kb = lt_tensor_zeros(c, LT_F32, LT_SHAPE(3, 2, 6, 8));
    lt_tensor *k3 = lt_tensor_zeros(c, LT_F32, LT_SHAPE(2, 3, 6, 8));
    lt_tensor *v5 = lt_tensor_zeros(c, LT_F32, LT_SHAPE(2, 2, 5, 8));
    lt_tensor *qi = lt_tensor_zeros(c, LT_I32, LT_SHAPE(2, 4, 5, 8));
    lt_tensor *vi = lt_tensor_zeros(c, LT_I32, LT_SHAPE(2, 2, 6, 8));
    LT_EXPECT_FAIL(run_opts(c, q3, k, k, NULL), "attention", "[4,5,8]", "4-D");
    LT_EXPECT_FAIL(run_opts(c, q, kd, kd, NULL), "attention", "[2,4,5,8]", "[2,2,6,7]", "head dim");
    LT_EXPECT_FAIL(run_opts(c, q, kb, kb, NULL), "attention", "[3,2,6,8]", "batch");
    LT_EXPECT_FAIL(run_opts(c, q, k3, k3, NULL), "attention", "[2,3,6,8]", "divide");
    LT_EXPECT_FAIL(run_opts(c, q, k, v5, NULL), "attention", "[2,2,6,8]", "[2,2,5,8]");
    LT_EXPECT_FAIL(run_opts(c, qi, k, k, NULL), "attention", "q", "f32", "i32");
    LT_EXPECT_FAIL(run_opts(c, q, k, vi, NULL), "attention", "v", "f32");
    lt_attn_opts o = lt_attn_defaults();
    o.block_k = -3;
    LT_EXPECT_FAIL(run_opts(c, q, k, k, &o), "attention", "block_k", "-3");
    cr_assert_eq(lt_last_status(), LT_ERR_ARG);
    LT_EXPECT_FAIL(lt_attention(c, q, k, k, NULL, NULL), "attention", "out");
    lt_ctx_free(c);
}

Test(attention, bad_key_lens) {
    lt_ctx *c = lt_test_ctx(1);
    lt_tensor *q = lt_tensor_zeros(c, LT_F32, LT_SHAPE(2, 2, 5, 8));
    lt_tensor *k = lt_tensor_zeros(c, LT_F32, LT_SHAPE(2, 1, 6, 8));
    lt_attn_opts o = lt_attn_defaults();
    o.key_lens = lt_tensor_from(c, LT_I32, LT_SHAPE(3), (int32_t[]){1, 2, 3});
    LT_EXPECT_FAIL(run_opts(c, q, k, k, &o), "attention", "key_lens", "[3]", "[2]");
    o.key_lens = lt_tensor_from(c, LT_F32, LT_SHAPE(2), (float[]){1, 2});
    LT_EXPECT_FAIL(run_opts(c, q, k, k, &o), "attention", "key_lens", "i32");
    o.key_lens = lt_tensor_from(c, LT_I32, LT_SHAPE(2), (int32_t[]){3, 0});
    LT_EXPECT_FAIL(run_opts(c, q, k, k, &o), "attention", "key_lens[1] = 0", "1..6");
    o.key_lens = lt_tensor_from(c, LT_I32, LT_SHAPE(2), (int32_t[]){7, 1});
    LT_EXPECT_FAIL(run_opts(c, q, k, k, &o), "attention", "key_lens[0] = 7");
    lt_ctx_free(c);
}

Test(attention, bad_block_mask_and_rows_without_keys) {
    lt_ctx *c = lt_test_ctx(1);
    lt_tensor *q = lt_tensor_zeros(c, LT_F32, LT_SHAPE(1, 2, 8, 4));
    lt_tensor *k = lt_tensor_zeros(c, LT_F32, LT_SHAPE(1, 2, 8, 4));
    lt_attn_opts o = lt_attn_defaults();
    o.block_q = o.block_k = 4;
    o.block_mask = lt_tensor_zeros(c, LT_I32, LT_SHAPE(1, 2, 2, 3));
    LT_EXPECT_FAIL(run_opts(c, q, k, k, &o), "attention", "block_mask", "[1,2,2,3]", "[1,2,2,2]");
    o.block_mask = lt_tensor_zeros(c, LT_F32, LT_SHAPE(1, 2, 2, 2));
    LT_EXPECT_FAIL(run_opts(c, q, k, k, &o), "attention", "block_mask", "i32");
    // head 1, block row 1 masked entirely: rows 4..7 see nothing
    o.block_mask = lt_tensor_from(c, LT_I32, LT_SHAPE(1, 2, 2, 2), (int32_t[]){1, 1, 0, 1, 1, 0, 0, 0});
    LT_EXPECT_FAIL(run_opts(c, q, k, k, &o), "attention", "b=0, h=1, row=4", "sees no key");
    // causal: block row 0 keeps only the block above the diagonal
    o.causal = 1;
    o.block_mask = lt_tensor_from(c, LT_I32, LT_SHAPE(1, 2, 2, 2), (int32_t[]){1, 0, 1, 1, 0, 1, 1, 1});
    LT_EXPECT_FAIL(run_opts(c, q, k, k, &o), "attention", "b=0, h=1, row=0", "causal");
    // padding: the only kept block of block row 1 lies past the key length
    o.causal = 0;
    o.key_lens = lt_tensor_from(c, LT_I32, LT_SHAPE(1), (int32_t[]){3});
    o.block_mask = lt_tensor_from(c, LT_I32, LT_SHAPE(1, 2, 2, 2), (int32_t[]){1, 0, 0, 1, 1, 1, 1, 1});
    LT_EXPECT_FAIL(run_opts(c, q, k, k, &o), "attention", "b=0, h=0, row=4", "key length 3");
    o.block_mask = lt_tensor_from(c, LT_I32, LT_SHAPE(1, 2, 2, 2), (int32_t[]){1, 0, 1, 1, 1, 1, 1, 0});
    cr_assert_eq(run_opts(c, q, k, k, &o), LT_OK, "%s", lt_last_error());
    lt_ctx_free(c);
}

// A NULL input keeps the earlier op's error; without one the message names it.
Test(attention, null_inputs_propagate) {
    lt_ctx *c = lt_test_ctx(1);
    lt_tensor *x = lt_tensor_zeros(c, LT_F32, LT_SHAPE(1, 1, 3, 4));
    lt_tensor *bad = lt_reshape(c, x, LT_SHAPE(5, 5));
    cr_assert_null(bad);
    LT_EXPECT_FAIL(run_opts(c, bad, x, x, NULL), "reshape");
    lt_clear_error();
    LT_EXPECT_FAIL(run_opts(c, x, NULL, x, NULL), "attention", "k is NULL");
    lt_ctx_free(c);
}

Test(attention, precision_and_impl_options) {
    lt_ctx *c = lt_test_ctx(1);
    lt_tensor *q = lt_tensor_zeros(c, LT_F32, LT_SHAPE(1, 2, 5, 8));
    lt_tensor *k = lt_tensor_zeros(c, LT_F32, LT_SHAPE(1, 2, 6, 8));
    lt_attn_opts o = lt_attn_defaults();
    o.precision = LT_PREC_TF32;
    LT_EXPECT_FAIL(run_opts(c, q, k, k, &o), "attention", "precision", "fp32 or bf16");
    o.precision = LT_PREC_BF16;
    o.impl = 7;
    LT_EXPECT_FAIL(run_opts(c, q, k, k, &o), "attention", "impl", "7");
    o.impl = LT_ATTN_CUDNN;
    o.want_entropy = 1;
    LT_EXPECT_FAIL(run_opts(c, q, k, k, &o), "attention", "cuDNN", "entropy");
    cr_assert_eq(lt_last_status(), LT_ERR_UNSUPPORTED);
    // On the CPU both options are accepted and the reference computes in fp32.
    o.want_entropy = 0;
    cr_assert_eq(run_opts(c, q, k, k, &o), LT_OK, "%s", lt_last_error());
    lt_ctx_free(c);
}
