// Attention test cases shared by the test_attention*.c files: a case's shape
// and options, random inputs, random key lengths and a random block mask that
// leaves every query row a visible key, and the naive reference's view of it.
#ifndef LT_TEST_ATTENTION_CASES_H
#define LT_TEST_ATTENTION_CASES_H

#include "attention_naive.h"
#include "lt_test.h"

typedef struct {
    int B, Hq, Hkv, T, S, D;
    int causal, lens, mask;   // lens/mask: draw random key lengths / a random block mask
    int bq, bk, mb;           // block-mask and block-map block sizes
    float scale;              // 0: 1/sqrt(D)
    float range;              // q, k, v uniform in [-range, range); 0 means 1
} attn_case;

typedef struct {
    attn_case c;
    lt_tensor *q, *k, *v;        // persistent, [B,Hq,T,D] and [B,Hkv,S,D]
    lt_tensor *lens, *mask;      // i32 or NULL
} attn_inputs;

static int attn_cdiv(int a, int b) { return (a + b - 1) / b; }

// Inputs of case `c` from `seed`. Each block row of the mask keeps one random
// block that shows it a key (before the key length, not after the row when causal).
static attn_inputs attn_make(const attn_case *c, uint64_t seed) {
    attn_inputs in = {.c = *c};
    float r = c->range ? c->range : 1.0f;
    in.q = lt_test_rand(seed, -r, r, LT_SHAPE(c->B, c->Hq, c->T, c->D));
    in.k = lt_test_rand(seed + 1, -r, r, LT_SHAPE(c->B, c->Hkv, c->S, c->D));
    in.v = lt_test_rand(seed + 2, -1, 1, LT_SHAPE(c->B, c->Hkv, c->S, c->D));
    lt_rng rng;
    lt_rng_init(&rng, seed + 3);
    if (c->lens) {
        in.lens = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(c->B));
        for (int b = 0; b < c->B; b++) lt_i32(in.lens)[b] = 1 + (int)lt_rng_below(&rng, (uint32_t)c->S);
        lt_i32(in.lens)[c->B - 1] = c->S;   // one full row of keys
    }
    if (c->mask) {
        int nbq = attn_cdiv(c->T, c->bq), nbk = attn_cdiv(c->S, c->bk);
        in.mask = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(c->B, c->Hq, nbq, nbk));
        int32_t *m = lt_i32(in.mask);
        for (int64_t i = 0; i < in.mask->numel; i++) m[i] = lt_rng_uniform(&rng) < 0.5f;
        for (int b = 0; b < c->B; b++)
            for (int h = 0; h < c->Hq; h++)
                for (int i = 0; i < nbq; i++) {
                    int len = in.lens ? lt_i32(in.lens)[b] : c->S, lim = len;
                    if (c->causal && i * c->bq + 1 < lim) lim = i * c->bq + 1;
                    int nok = attn_cdiv(lim, c->bk);   // blocks starting before lim
                    m[(((int64_t)b * c->Hq + h) * nbq + i) * nbk + (int)lt_rng_below(&rng, (uint32_t)nok)] = 1;
                }
    }
    return in;
}

static void attn_free(attn_inputs *in) {
    lt_tensor_free(in->q); lt_tensor_free(in->k); lt_tensor_free(in->v);
    if (in->lens) lt_tensor_free(in->lens);
    if (in->mask) lt_tensor_free(in->mask);
}

static lt_attn_opts attn_opts(const attn_inputs *in, int entropy, int map) {
    lt_attn_opts o = lt_attn_defaults();
    o.scale = in->c.scale;
    o.causal = in->c.causal;
    o.key_lens = in->lens;
    o.block_mask = in->mask;
    if (in->c.bq) o.block_q = in->c.bq;
    if (in->c.bk) o.block_k = in->c.bk;
    if (in->c.mb) o.map_block = in->c.mb;
    o.want_entropy = entropy;
    o.want_block_map = map;
    return o;
}

static lt_naive_attn attn_naive(const attn_inputs *in) {
    const attn_case *c = &in->c;
    return (lt_naive_attn){c->B, c->Hq, c->Hkv, c->T, c->S, c->D, c->scale, c->causal,
                           in->lens ? lt_i32(in->lens) : NULL, in->mask ? lt_i32(in->mask) : NULL,
                           c->bq ? c->bq : 64, c->bk ? c->bk : 64, c->mb ? c->mb : 64};
}

static const char *attn_case_str(const attn_case *c, char *buf, size_t n) {
    snprintf(buf, n, "B%d Hq%d Hkv%d T%d S%d D%d%s%s%s", c->B, c->Hq, c->Hkv, c->T, c->S, c->D,
             c->causal ? " causal" : "", c->lens ? " lens" : "", c->mask ? " mask" : "");
    return buf;
}

#endif
