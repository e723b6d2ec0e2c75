// Multi-head scaled dot-product attention as one fused op: tiled with an
// online softmax (memory O(T) beyond inputs and outputs, never a T x S
// matrix), with optional differentiable per-row entropy and SeerAttention's
// block map. See ARCHITECTURE.md section 5 for the entropy algebra.
#ifndef LT_ATTENTION_H
#define LT_ATTENTION_H

#include "autograd/ctx.h"

typedef struct {
    float scale;            // logit scale; 0 means 1/sqrt(D)
    int causal;             // query i sees keys j <= i (top-left aligned, as torch's is_causal)
    lt_tensor *key_lens;    // i32 [B] or NULL: keys j >= key_lens[b] are padding (each in 1..S)
    lt_tensor *block_mask;  // i32 [B,Hq,ceil(T/block_q),ceil(S/block_k)] or NULL: 0 = block skipped
    int block_q, block_k;   // block-mask block sizes (default 64)
    int want_entropy;       // also output the row entropy H [B,Hq,T], differentiable
    int want_block_map;     // also output the SeerAttention block map (no gradient)
    int map_block;          // block size of the block map, queries and keys alike (default 64)
    int precision;          // lt_precision: LT_PREC_FP32 (default) or LT_PREC_BF16 = q, k, v, P and dS
                            // rounded to bf16 for tensor-core products with fp32 accumulation (CUDA;
                            // the CPU reference always computes in fp32)
    int impl;               // lt_attn_impl: who computes it on CUDA (ignored on CPU)
} lt_attn_opts;

// LT_ATTN_AUTO takes cuDNN's fused SDPA when it can do the case (bf16, no
// entropy, no block map, no block mask, cuDNN present and accepting the
// shape) and libtrain's own kernel otherwise; the others force one.
typedef enum { LT_ATTN_AUTO = 0, LT_ATTN_OURS = 1, LT_ATTN_CUDNN = 2 } lt_attn_impl;

typedef struct {
    lt_tensor *o;          // [B,Hq,T,D]
    lt_tensor *lse;        // [B,Hq,T] log-sum-exp of the scaled logits of each row (no gradient)
    lt_tensor *entropy;    // [B,Hq,T] or NULL: H = lse - sum_j P_j s_j
    lt_tensor *block_map;  // [B,Hq,ceil(T/map_block),ceil(S/map_block)] or NULL:
                           // G[i,j] = max over rows r of query block i and visible keys c of key
                           // block j of P[r,c], then each G[i,:] divided by its sum
} lt_attn_out;

lt_attn_opts lt_attn_defaults(void);

// The node's iattr slots (fattr[0] is the scale); every backend reads these.
// LT_ATTN_LENS / LT_ATTN_MASK hold the input index of key_lens / block_mask (-1: absent).
// Outputs: out[0] o, out[1] lse, then entropy (if asked), then the block map (if asked).
enum { LT_ATTN_CAUSAL, LT_ATTN_BQ, LT_ATTN_BK, LT_ATTN_ENTROPY, LT_ATTN_MAP, LT_ATTN_MAPB, LT_ATTN_LENS, LT_ATTN_MASK,
       LT_ATTN_PREC, LT_ATTN_IMPL,
       LT_ATTN_RAN /* set by the CUDA forward: which implementation ran, so backward takes the same */ };


// q [B,Hq,T,D], k [B,Hkv,S,D], v [B,Hkv,S,D], Hkv dividing Hq (GQA: query head h
// uses kv head h / (Hq/Hkv)). A query row with no visible key (all its blocks
// masked, or causal with padding that hides every key) is an error naming it (on CUDA, at the next lt_ctx_sync).
lt_status lt_attention(lt_ctx *c, lt_tensor *q, lt_tensor *k, lt_tensor *v, const lt_attn_opts *opts,
                       lt_attn_out *out);

#endif
