// CPU/CUDA parity of the fused attention op: o, lse, the row entropy H (with
// its own random upstream gradient) and the block map, and the gradients of
// q, k, v, over T = 1, 63, 1000 and D = 64, 128 (S differing from T), causal
// or not, GQA, key lengths, block masks with blocks off (block sizes 64 and
// 48). fp32 with libtrain's kernel at 1e-5; bf16 with libtrain's kernel and
// with cuDNN's fused attention at 1e-2 (the cuDNN cases skip where the build
// has no cuDNN or it refuses the case). Skipped as a whole where no GPU is usable.
#include "cuda_parity.h"

typedef struct {
    int B, Hq, Hkv, T, S, D;
    int causal, lens, mask;   // lens / mask: random key lengths / a random block mask
    int bq, bk;               // block-mask block sizes (0: default 64)
    int entropy, map, mb;     // outputs asked for; map block size (0: default 64)
    float scale;              // 0: 1/sqrt(D)
    float range;              // q, k uniform in [-range, range) (0: 1)
    int no_dO;                // o gets no upstream gradient (H alone drives backward)
} acase;

typedef struct {
    acase c;
    int precision, impl;
} attn_ud;

static int cdiv(int a, int b) { return (a + b - 1) / b; }

// Outputs: o, lse, then H and the block map when asked (the order of lt_attn_out).
static int attn_fn(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud) {
    const attn_ud *u = ud;
    lt_attn_opts o = lt_attn_defaults();
    o.scale = u->c.scale;
    o.causal = u->c.causal;
    int k = 3;
    o.key_lens = u->c.lens ? in[k++] : NULL;
    o.block_mask = u->c.mask ? in[k++] : NULL;
    if (u->c.bq) o.block_q = u->c.bq;
    if (u->c.bk) o.block_k = u->c.bk;
    o.want_entropy = u->c.entropy;
    o.want_block_map = u->c.map;
    if (u->c.mb) o.map_block = u->c.mb;
    o.precision = u->precision;
    o.impl = u->impl;
    lt_attn_out r;
    if (lt_attention(c, in[0], in[1], in[2], &o, &r) != LT_OK) return 0;
    int n = 0;
    out[n++] = r.o;
    out[n++] = r.lse;
    if (u->c.entropy) out[n++] = r.entropy;
    if (u->c.map) out[n++] = r.block_map;
    return n;
}

// Builds the case's inputs (q, k, v, then key_lens and the block mask when
// asked) and runs it. Each block row of the mask keeps one random block that
// shows its first row a key (before the key length; not after the row when causal).
static int check_attn(const acase *cs, int precision, int impl, double tol, int allow_unsupported, uint64_t seed) {
    const acase *c = cs;
    static const char *impls[] = {"auto", "ours", "cudnn"};
    lt_parity p;
    lt_parity_init(&p, seed, "attention B%d Hq%d Hkv%d T%d S%d D%d%s%s%s%s%s%s %s %s", c->B, c->Hq, c->Hkv, c->T,
                   c->S, c->D, c->causal ? " causal" : "", c->lens ? " lens" : "", c->mask ? " mask" : "",
                   c->entropy ? " H" : "", c->map ? " map" : "", c->no_dO ? " (dO=0)" : "",
                   lt_precision_name((lt_precision)precision), impls[impl]);
    p.tol = tol;
    p.floor_max = precision != LT_PREC_FP32;   // bf16: errors judged against the tensor's largest value
    p.allow_unsupported = allow_unsupported;
    // lse and the block map have no gradient; o none when no_dO
    p.no_seed = (1u << 1) | (c->map ? 1u << (c->entropy ? 3 : 2) : 0u) | (c->no_dO ? 1u : 0u);
    float r = c->range ? c->range : 1.0f;
    lt_parity_rand(&p, 1, -r, r, LT_SHAPE(c->B, c->Hq, c->T, c->D));
    lt_parity_rand(&p, 1, -r, r, LT_SHAPE(c->B, c->Hkv, c->S, c->D));
    lt_parity_rand(&p, 1, -1, 1, LT_SHAPE(c->B, c->Hkv, c->S, c->D));
    lt_rng rng;
    lt_rng_init(&rng, seed + 3);
    int32_t *lens = NULL;
    if (c->lens) {
        int i = lt_parity_add(&p, LT_I32, 0, LT_SHAPE(c->B), NULL);
        lens = p.in[i].host;
        for (int b = 0; b < c->B; b++) lens[b] = 1 + (int32_t)lt_rng_below(&rng, (uint32_t)c->S);
        lens[c->B - 1] = c->S;   // one batch row with every key
    }
    if (c->mask) {
        int bq = c->bq ? c->bq : 64, bk = c->bk ? c->bk : 64, nbq = cdiv(c->T, bq), nbk = cdiv(c->S, bk);
        int i = lt_parity_add(&p, LT_I32, 0, LT_SHAPE(c->B, c->Hq, nbq, nbk), NULL);
        int32_t *m = p.in[i].host;
        for (int64_t j = 0; j < p.in[i].numel; j++) m[j] = lt_rng_uniform(&rng) < 0.5f;
        for (int b = 0; b < c->B; b++)
            for (int h = 0; h < c->Hq; h++)
                for (int qi = 0; qi < nbq; qi++) {
                    int len = lens ? lens[b] : c->S, lim = len;
                    if (c->causal && qi * bq + 1 < lim) lim = qi * bq + 1;
                    int nok = cdiv(lim, bk);   // blocks starting before lim
                    m[(((int64_t)b * c->Hq + h) * nbq + qi) * nbk + (int)lt_rng_below(&rng, (uint32_t)nok)] = 1;
                }
    }
    attn_ud u = {*c, precision, impl};
    return lt_parity_check(&p, attn_fn, &u);
}

// T = 1, 63, 1000; D = 64, 128; GQA; S != T; every option.
#define DIMS(b, hq, hkv, t, s, d) .B = b, .Hq = hq, .Hkv = hkv, .T = t, .S = s, .D = d
static const acase CASES[] = {
    {DIMS(1, 2, 2, 1, 1, 64), .entropy = 1, .map = 1},
    {DIMS(2, 4, 2, 1, 77, 128), .lens = 1, .entropy = 1, .map = 1},
    {DIMS(1, 4, 2, 1, 1000, 64), .causal = 1, .entropy = 1},   // causal with T = 1: key 0 only
    {DIMS(2, 4, 2, 63, 63, 64), .causal = 1, .entropy = 1, .map = 1},
    {DIMS(1, 2, 2, 63, 100, 128), .lens = 1, .mask = 1, .bq = 48, .bk = 48, .entropy = 1, .map = 1, .mb = 48},
    {DIMS(1, 4, 1, 63, 1000, 128), .causal = 1, .mask = 1, .bq = 64, .bk = 64, .entropy = 1},
    {DIMS(2, 4, 2, 63, 63, 64), .causal = 1, .lens = 1, .entropy = 1, .no_dO = 1},   // H alone drives backward
    {DIMS(1, 2, 1, 63, 200, 64), .entropy = 1, .map = 1, .mb = 32, .scale = 0.3f, .range = 1.5f},   // sharper rows
    {DIMS(1, 4, 2, 1000, 1000, 64), .causal = 1, .entropy = 1, .map = 1},
    {DIMS(1, 2, 1, 1000, 777, 128), .lens = 1, .mask = 1, .bq = 48, .bk = 64, .entropy = 1, .map = 1, .mb = 64},
    {DIMS(2, 2, 2, 1000, 63, 64), .lens = 1, .entropy = 1},
    {DIMS(1, 2, 2, 1000, 1000, 128), .causal = 1, .lens = 1, .mask = 1, .bq = 64, .bk = 48, .map = 1},
};
#define N_CASES (int)(sizeof CASES / sizeof CASES[0])

Test(attention_fp32, ours_every_case) {
    for (int k = 0; k < N_CASES; k++)
        check_attn(&CASES[k], LT_PREC_FP32, LT_ATTN_OURS, LT_PARITY_FP32, 0, 100 + (uint64_t)k);
}

// The default path (auto) in fp32 is libtrain's kernel too.
Test(attention_fp32, auto_picks_a_matching_kernel) {
    for (int k = 3; k < N_CASES; k += 4)
        check_attn(&CASES[k], LT_PREC_FP32, LT_ATTN_AUTO, LT_PARITY_FP32, 0, 200 + (uint64_t)k);
}

// Head sizes beyond 64 and 128: the CPU op takes any D; a CUDA kernel that
// refuses one is reported (as a warning), not failed.
Test(attention_fp32, other_head_dims) {
    const acase cases[] = {
        {DIMS(1, 2, 1, 63, 70, 16), .causal = 1, .lens = 1, .entropy = 1},
        {DIMS(1, 2, 2, 63, 63, 32), .mask = 1, .bq = 48, .bk = 48, .entropy = 1, .map = 1, .mb = 48},
        {DIMS(1, 2, 1, 100, 90, 80), .causal = 1, .entropy = 1},
        {DIMS(1, 2, 2, 33, 40, 96), .lens = 1},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++)
        check_attn(&cases[k], LT_PREC_FP32, LT_ATTN_OURS, LT_PARITY_FP32, 1, 300 + (uint64_t)k);
}

Test(attention_bf16, ours_every_case) {
    for (int k = 0; k < N_CASES; k++)
        check_attn(&CASES[k], LT_PREC_BF16, LT_ATTN_OURS, LT_PARITY_BF16, 0, 400 + (uint64_t)k);
}

// auto: cuDNN where it can do the case (no entropy, map or mask), libtrain's kernel otherwise.
Test(attention_bf16, auto_picks_a_matching_kernel) {
    const acase cases[] = {
        {DIMS(2, 4, 2, 63, 63, 64), .causal = 1},
        {DIMS(1, 2, 1, 1000, 777, 128), .lens = 1},
        {DIMS(2, 4, 2, 63, 63, 64), .causal = 1, .entropy = 1},
        {DIMS(1, 2, 2, 63, 100, 128), .mask = 1, .bq = 48, .bk = 48, .map = 1},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++)
        check_attn(&cases[k], LT_PREC_BF16, LT_ATTN_AUTO, LT_PARITY_BF16, 0, 450 + (uint64_t)k);
}

// cuDNN: no entropy, block map or block mask (the builder refuses those).
Test(attention_bf16, cudnn) {
#ifndef LT_HAVE_CUDNN
    cr_skip_test("this libtrain was built without cuDNN (no libcudnn at configure time): cuDNN cases not run");
#else
    const acase cases[] = {
        {DIMS(1, 2, 2, 1, 77, 128)},
        {DIMS(2, 4, 2, 63, 63, 64), .causal = 1},
        {DIMS(1, 4, 4, 63, 100, 128)},
        {DIMS(1, 4, 2, 1000, 1000, 128), .causal = 1},
        {DIMS(2, 2, 1, 1000, 777, 64), .lens = 1},
        {DIMS(1, 2, 2, 1000, 1000, 64)},
    };
    int n = (int)(sizeof cases / sizeof cases[0]), ran = 0;
    for (int k = 0; k < n; k++)
        ran += check_attn(&cases[k], LT_PREC_BF16, LT_ATTN_CUDNN, LT_PARITY_BF16, 1, 500 + (uint64_t)k) !=
               LT_PARITY_UNSUPPORTED;
    if (!ran) cr_skip_test("cuDNN refused all %d cases with LT_ERR_UNSUPPORTED (see the warnings above)", n);
#endif
}

// ---------------------------------------------------------------- bad lengths and masks on the device
// On CUDA, key_lens and the block mask live on the device: the builder cannot
// check their values without a copy, so the forward checks them in a kernel
// and the next sync returns the builder's error (once: the sync after is clean).
// On the CPU (the self-check) the builder refuses the op with that error.
Test(attention_faults, bad_lens_and_mask_surface_at_sync) {
    enum { B = 2, H = 2, T = 4, S = 6, D = 8 };
    lt_ctx *c = lt_ctx_new(LT_PARITY_DEVICE, 1);
    cr_assert(c, "%s", lt_last_error());
    float qv[B * H * T * D], kv[B * H * S * D];
    for (int i = 0; i < B * H * T * D; i++) qv[i] = 0.01f * (float)(i % 17) - 0.08f;
    for (int i = 0; i < B * H * S * D; i++) kv[i] = 0.02f * (float)(i % 13) - 0.1f;
    lt_tensor *q = lt_tensor_from(c, LT_F32, LT_SHAPE(B, H, T, D), qv);
    lt_tensor *k = lt_tensor_from(c, LT_F32, LT_SHAPE(B, H, S, D), kv);
    lt_tensor *v = lt_tensor_from(c, LT_F32, LT_SHAPE(B, H, S, D), kv);
    cr_assert(q && k && v, "%s", lt_last_error());
    lt_attn_out r;

    // key_lens[1] = 0 is outside 1..S
    lt_attn_opts o = lt_attn_defaults();
    o.key_lens = lt_tensor_from(c, LT_I32, LT_SHAPE(B), (int32_t[]){3, 0});
    cr_assert(o.key_lens, "%s", lt_last_error());
    lt_status st = lt_attention(c, q, k, v, &o, &r);
    if (LT_PARITY_DEVICE == LT_CPU) {
        cr_assert_eq(st, LT_ERR_ARG, "the CPU builder checks key_lens: %s", lt_last_error());
    } else {
        cr_assert_eq(st, LT_OK, "on CUDA the op is built, its lengths checked on the device: %s", lt_last_error());
        cr_assert_eq(lt_ctx_sync(c), LT_ERR_ARG, "a zero key length must surface at the sync");
    }
    cr_assert(strstr(lt_last_error(), "key_lens[1] = 0"), "%s", lt_last_error());
    cr_assert_eq(lt_ctx_sync(c), LT_OK, "the fault must be cleared once reported: %s", lt_last_error());

    // causal, blocks 2x2: block row 1 of (b=1, h=0) keeps only key block 2
    // (keys 4, 5), after its first row 2; (b=1, h=1) block row 0 keeps none.
    // The first in (b, h, row) order is named, as the builder does.
    int32_t mv[B * H * 2 * 3];
    for (int i = 0; i < B * H * 2 * 3; i++) mv[i] = 1;
    int32_t *m10 = mv + ((1 * H + 0) * 2 + 1) * 3, *m11 = mv + ((1 * H + 1) * 2 + 0) * 3;
    m10[0] = m10[1] = 0;
    m11[0] = m11[1] = m11[2] = 0;
    o = lt_attn_defaults();
    o.causal = 1;
    o.block_q = o.block_k = 2;
    o.block_mask = lt_tensor_from(c, LT_I32, LT_SHAPE(B, H, 2, 3), mv);
    cr_assert(o.block_mask, "%s", lt_last_error());
    st = lt_attention(c, q, k, v, &o, &r);
    if (LT_PARITY_DEVICE == LT_CPU) {
        cr_assert_eq(st, LT_ERR_ARG, "the CPU builder checks the mask: %s", lt_last_error());
    } else {
        cr_assert_eq(st, LT_OK, "on CUDA the op is built, its mask checked on the device: %s", lt_last_error());
        cr_assert_eq(lt_ctx_sync(c), LT_ERR_ARG, "a row seeing no key must surface at the sync");
    }
    cr_assert(strstr(lt_last_error(), "query row (b=1, h=0, row=2) sees no key") &&
              strstr(lt_last_error(), "key length 6, causal"), "%s", lt_last_error());
    cr_assert_eq(lt_ctx_sync(c), LT_OK, "the fault must be cleared once reported: %s", lt_last_error());
    lt_ctx_free(c);
}

LT_CUDA_TEST_MAIN()
