// Builder of the fused attention op: checks shapes, key lengths and the block
// mask (a query row that would see no key is an error naming it), then makes
// the node. Inputs q, k, v, then key_lens and block_mask when given.
//
// The values of key_lens and the block mask are checked here only when they
// are on the host. On a device, copying them here would cost a copy and a
// stream sync per step; the CUDA forward checks them with the same rules in a
// kernel (kernels/cuda/attention_check.cu) and the next lt_ctx_sync reports a
// bad one as LT_ERR_ARG with the same message.
#include "kernels/attention.h"

#include <math.h>

#include "libtrain/device.h"   // lt_precision


#define ATTN_DEFAULT_BLOCK 64

lt_attn_opts lt_attn_defaults(void) {
    return (lt_attn_opts){.scale = 0.0f, .block_q = ATTN_DEFAULT_BLOCK, .block_k = ATTN_DEFAULT_BLOCK,
                          .map_block = ATTN_DEFAULT_BLOCK};
}

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

// A block size option: 0 means the default.
static lt_status block_opt(const char *what, int v, int *out) {
    if (v < 0) return lt_error(LT_ERR_ARG, "attention: %s must be >= 1 (0 for the default %d), got %d", what,
                               ATTN_DEFAULT_BLOCK, v);
    *out = v ? v : ATTN_DEFAULT_BLOCK;
    return LT_OK;
}

static lt_status check_qkv(const lt_tensor *q, const lt_tensor *k, const lt_tensor *v) {
    LT_TRY(lt_expect_dtype("attention", "q", q, LT_F32));
    LT_TRY(lt_expect_dtype("attention", "k", k, LT_F32));
    LT_TRY(lt_expect_dtype("attention", "v", v, LT_F32));
    char sq[64], sk[64], sv[64];
    lt_shape_str(q, sq); lt_shape_str(k, sk); lt_shape_str(v, sv);
    if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4)
        return lt_error(LT_ERR_SHAPE, "attention: q %s, k %s, v %s must all be 4-D [B,H,T,D]", sq, sk, sv);
    if (!lt_same_shape(k, v))
        return lt_error(LT_ERR_SHAPE, "attention: k %s and v %s must have the same shape", sk, sv);
    if (q->shape[0] != k->shape[0])
        return lt_error(LT_ERR_SHAPE, "attention: batch of q %s and k %s differ", sq, sk);
    if (q->shape[3] != k->shape[3])
        return lt_error(LT_ERR_SHAPE, "attention: head dim D of q %s and k %s differ", sq, sk);
    if (q->shape[1] % k->shape[1])
        return lt_error(LT_ERR_SHAPE, "attention: kv heads of k %s (%d) must divide the query heads of q %s (%d)",
                        sk, k->shape[1], sq, q->shape[1]);
    return LT_OK;
}

// lens [B] in 1..S. *host: the values when they are on the host (checked),
// NULL when they are on a device (checked there when the op runs).
static lt_status check_lens(const lt_tensor *lens, int B, int S, const int32_t **host) {
    char sl[64];
    LT_TRY(lt_expect_dtype("attention", "key_lens", lens, LT_I32));
    if (lens->ndim != 1 || lens->shape[0] != B)
        return lt_error(LT_ERR_SHAPE, "attention: key_lens %s must be [B] = [%d]", lt_shape_str(lens, sl), B);
    *host = NULL;
    if (lens->device != LT_CPU) return LT_OK;
    const int32_t *L = lt_i32(lens);
    for (int b = 0; b < B; b++)
        if (L[b] < 1 || L[b] > S)
            return lt_error(LT_ERR_ARG, "attention: key_lens[%d] = %d is outside 1..S = 1..%d", b, (int)L[b], S);
    *host = L;
    return LT_OK;
}

// Every query row must see a key: in each block row, the first kept key block
// must start before the key length, and before the row itself when causal.
// The values are checked only when the mask (and key_lens, if given: lens)
// are on the host.
static lt_status check_mask(const lt_tensor *m, const lt_tensor *q, int S, int bq, int bk, int causal,
                            const lt_tensor *lens_t, const int32_t *lens) {
    char sm[64], sw[64], sq[64];
    int B = q->shape[0], H = q->shape[1], T = q->shape[2], nbq = ceil_div(T, bq), nbk = ceil_div(S, bk);
    LT_TRY(lt_expect_dtype("attention", "block_mask", m, LT_I32));
    int want[4] = {B, H, nbq, nbk};
    if (m->ndim != 4 || m->shape[0] != B || m->shape[1] != H || m->shape[2] != nbq || m->shape[3] != nbk)
        return lt_error(LT_ERR_SHAPE,
                        "attention: block_mask %s must be [B,Hq,ceil(T/block_q),ceil(S/block_k)] = %s for q %s, "
                        "S %d, blocks %dx%d", lt_shape_str(m, sm), lt_shape_str_n(4, want, sw), lt_shape_str(q, sq),
                        S, bq, bk);
    if (m->device != LT_CPU || (lens_t && !lens)) return LT_OK;
    const int32_t *M = lt_i32(m);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < nbq; i++) {
                const int32_t *row = M + (((int64_t)b * H + h) * nbq + i) * nbk;
                int len = lens ? lens[b] : S, first = len;   // first visible key
                for (int j = 0; j < nbk && j * bk < len; j++)
                    if (row[j]) { first = j * bk; break; }
                int r = i * bq;
                if (first < len && !(causal && r < first)) continue;
                return lt_error(LT_ERR_ARG,
                                "attention: query row (b=%d, h=%d, row=%d) sees no key: block_mask hides every key "
                                "block it could see (key length %d%s)", b, h, r, len, causal ? ", causal" : "");
            }
    return LT_OK;
}

static lt_status input_null(const char *what) {
    if (lt_last_status() != LT_OK) return lt_last_status();   // keep the earlier op's message
    return lt_error(LT_ERR_ARG, "attention: %s is NULL", what);
}

lt_status lt_attention(lt_ctx *c, lt_tensor *q, lt_tensor *k, lt_tensor *v, const lt_attn_opts *opts,
                       lt_attn_out *out) {
    if (!out) return lt_error(LT_ERR_ARG, "attention: out is NULL");
    *out = (lt_attn_out){0};
    if (!q) return input_null("q");
    if (!k) return input_null("k");
    if (!v) return input_null("v");
    lt_attn_opts o = opts ? *opts : lt_attn_defaults();
    LT_TRY(check_qkv(q, k, v));
    int B = q->shape[0], Hq = q->shape[1], T = q->shape[2], D = q->shape[3], S = k->shape[2];
    int bq = 0, bk = 0, mb = 0;
    LT_TRY(block_opt("block_q", o.block_q, &bq));
    LT_TRY(block_opt("block_k", o.block_k, &bk));
    LT_TRY(block_opt("map_block", o.map_block, &mb));
    float scale = o.scale != 0.0f ? o.scale : 1.0f / sqrtf((float)D);
    if (!isfinite(scale)) return lt_error(LT_ERR_ARG, "attention: scale must be finite, got %g", (double)o.scale);
    const int32_t *lens = NULL;
    if (o.key_lens) LT_TRY(check_lens(o.key_lens, B, S, &lens));
    if (o.block_mask) LT_TRY(check_mask(o.block_mask, q, S, bq, bk, o.causal, o.key_lens, lens));

    if (o.precision != LT_PREC_FP32 && o.precision != LT_PREC_BF16)
        return lt_error(LT_ERR_ARG, "attention: precision must be fp32 or bf16, got %d", o.precision);
    if (o.impl < LT_ATTN_AUTO || o.impl > LT_ATTN_CUDNN)
        return lt_error(LT_ERR_ARG, "attention: impl must be auto, ours or cudnn, got %d", o.impl);
    if (o.impl == LT_ATTN_CUDNN && (o.want_entropy || o.want_block_map || o.block_mask))
        return lt_error(LT_ERR_UNSUPPORTED, "attention: cuDNN's fused attention cannot give the entropy, the block "
                                            "map or a block mask; use impl auto or ours");
    lt_tensor *in[5] = {q, k, v};
    int n_in = 3, i_lens = -1, i_mask = -1;
    if (o.key_lens) { i_lens = n_in; in[n_in++] = o.key_lens; }
    if (o.block_mask) { i_mask = n_in; in[n_in++] = o.block_mask; }
    lt_node *n = lt_node_new(c, LT_OP_attention, n_in, in);
    if (!n) return lt_last_status();
    n->iattr[LT_ATTN_CAUSAL] = o.causal != 0;
    n->iattr[LT_ATTN_BQ] = bq;
    n->iattr[LT_ATTN_BK] = bk;
    n->iattr[LT_ATTN_ENTROPY] = o.want_entropy != 0;
    n->iattr[LT_ATTN_MAP] = o.want_block_map != 0;
    n->iattr[LT_ATTN_MAPB] = mb;
    n->iattr[LT_ATTN_LENS] = i_lens;
    n->iattr[LT_ATTN_MASK] = i_mask;
    n->iattr[LT_ATTN_PREC] = o.precision;
    n->iattr[LT_ATTN_IMPL] = o.impl;
    n->fattr[0] = scale;
    int so[4] = {B, Hq, T, D}, smap[4] = {B, Hq, ceil_div(T, mb), ceil_div(S, mb)};
    int slot = 2;
    lt_tensor *ent = NULL, *map = NULL;
    if (!lt_node_output(n, 0, LT_F32, 4, so)) return lt_last_status();
    lt_tensor *lse = lt_node_output(n, 1, LT_F32, 3, so);
    if (!lse) return lt_last_status();
    if (o.want_entropy && !(ent = lt_node_output(n, slot++, LT_F32, 3, so))) return lt_last_status();
    if (o.want_block_map && !(map = lt_node_output(n, slot++, LT_F32, 4, smap))) return lt_last_status();
    // lse and the block map carry no gradient: constants for whatever uses them
    lse->requires_grad = 0; lse->node = NULL;
    if (map) { map->requires_grad = 0; map->node = NULL; }
    lt_tensor *y = lt_node_run(n);
    if (!y) return lt_last_status();
    *out = (lt_attn_out){.o = y, .lse = lse, .entropy = ent, .block_map = map};
    return LT_OK;
}
