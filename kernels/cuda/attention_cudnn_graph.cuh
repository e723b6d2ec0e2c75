// The cuDNN graphs behind the fused-attention fast path, built with the
// backend (C) graph API: the "composite" SDPA patterns that cuDNN's frontend
// lowers to (matmul Q K^T, scale, padding / causal masks as gen-index +
// compare + binary-select, softmax with natural-log stats, matmul with V; the
// backward recomputes P from the stats). Only attention_cudnn.cu includes it,
// and only when LT_HAVE_CUDNN is defined. All tensors are [B,H,T,D] with unit
// stride on D; K and V enter transposed where a matmul wants [D,S] (a view).
#ifndef LT_CUDA_ATTENTION_CUDNN_GRAPH_CUH
#define LT_CUDA_ATTENTION_CUDNN_GRAPH_CUH

#include <cudnn.h>
#include <stdio.h>
#include <string.h>

#include "kernels/cuda/common.cuh"

// cuDNN's own account of the last failure on this thread ("" when it has none).
static inline const char *sdpa_cudnn_detail(void) {
    static thread_local char buf[320];
    buf[0] = 0;
    cudnnGetLastErrorString(buf, sizeof buf);
    return buf;
}

// A failed cuDNN call returns LT_ERR_DEVICE naming the call, file:line and cuDNN's reason.
#define LT_CUDNN_CHECK(call)                                                                       \
    do {                                                                                           \
        cudnnStatus_t e_ = (call);                                                                 \
        if (e_ != CUDNN_STATUS_SUCCESS)                                                            \
            return lt_error(LT_ERR_DEVICE, "%s failed at %s:%d: %s %s", #call, __FILE__, __LINE__, \
                            cudnnGetErrorString(e_), sdpa_cudnn_detail());                         \
    } while (0)

// UIDs of the non-virtual tensors: the variant pack names them. Virtual
// tensors count up from SDPA_UID_VIRTUAL.
enum {
    SDPA_UID_Q = 1, SDPA_UID_K, SDPA_UID_V, SDPA_UID_O, SDPA_UID_STATS, SDPA_UID_SCALE, SDPA_UID_SEQ_Q,
    SDPA_UID_SEQ_KV, SDPA_UID_NEG_PAD, SDPA_UID_NEG_CAUSAL, SDPA_UID_DO, SDPA_UID_DQ, SDPA_UID_DK, SDPA_UID_DV,
    SDPA_UID_SUM, SDPA_UID_DQ_ACC, SDPA_UID_ONE, SDPA_UID_COUNT
};
#define SDPA_UID_VIRTUAL 1000

// What a plan is specialized on (the scale travels by value at execution).
typedef struct {
    int64_t B, Hq, Hkv, T, S, D;
    int causal;   // top-left aligned: query i sees keys j <= i
    int padded;   // per-batch sequence lengths (seq_q = T, seq_kv = key_lens) mask keys j >= seq_kv
    int bwd;
} sdpa_shape;

#define SDPA_MAX_DESCS 320
#define SDPA_MAX_OPS 64
#define SDPA_MAX_CFGS 8

// One graph and its plan. Every descriptor it created stays alive with the plan
// (cuDNN does not document whether a finalized plan still reads them).
typedef struct {
    cudnnBackendDescriptor_t keep[SDPA_MAX_DESCS];
    int nkeep;
    cudnnBackendDescriptor_t ops[SDPA_MAX_OPS];
    int nops;
    int64_t next_uid;
    int uses[SDPA_UID_COUNT];   // fixed UIDs the graph reads or writes
    cudnnBackendDescriptor_t plan;
    int64_t workspace;          // bytes
    size_t cudnn_version;       // of the library that built it
} sdpa_graph;

// The handle attributes are marked deprecated in cuDNN 9 (a device-properties
// descriptor can replace them for deviceless builds) but are still how a graph
// and a plan bind a device; spelled numerically so the build stays warning-free.
static const cudnnBackendAttributeName_t SDPA_ATTR_GRAPH_HANDLE = (cudnnBackendAttributeName_t)800;
static const cudnnBackendAttributeName_t SDPA_ATTR_PLAN_HANDLE = (cudnnBackendAttributeName_t)400;

static inline void sdpa_graph_free(sdpa_graph *g) {
    for (int i = g->nkeep - 1; i >= 0; i--) cudnnBackendDestroyDescriptor(g->keep[i]);
    g->nkeep = 0;
    g->nops = 0;
    g->plan = NULL;
}

static inline lt_status gb_new(sdpa_graph *g, cudnnBackendDescriptorType_t type, cudnnBackendDescriptor_t *d) {
    if (g->nkeep == SDPA_MAX_DESCS)
        return lt_error(LT_ERR_STATE, "attention: cuDNN graph needs more than %d descriptors", SDPA_MAX_DESCS);
    LT_CUDNN_CHECK(cudnnBackendCreateDescriptor(type, d));
    g->keep[g->nkeep++] = *d;
    return LT_OK;
}

static inline lt_status gb_add_op(sdpa_graph *g, cudnnBackendDescriptor_t op) {
    if (g->nops == SDPA_MAX_OPS)
        return lt_error(LT_ERR_STATE, "attention: cuDNN graph needs more than %d operations", SDPA_MAX_OPS);
    LT_CUDNN_CHECK(cudnnBackendFinalize(op));
    g->ops[g->nops++] = op;
    return LT_OK;
}

static inline void gb_dense(const int64_t d[4], int64_t st[4]) {
    st[3] = 1; st[2] = d[3]; st[1] = d[2] * d[3]; st[0] = d[1] * d[2] * d[3];
}

// A 4-D tensor; strides NULL means dense row-major. uid 0 makes a virtual one.
static inline lt_status gb_tensor(sdpa_graph *g, int64_t uid, cudnnDataType_t dt, const int64_t dims[4],
                                  const int64_t strides[4], int by_value, cudnnBackendDescriptor_t *out) {
    int64_t st[4], align = 16;
    if (strides) for (int i = 0; i < 4; i++) st[i] = strides[i];
    else gb_dense(dims, st);
    bool is_virtual = uid == 0, is_value = by_value != 0;
    if (is_virtual) uid = g->next_uid++;
    else if (uid < SDPA_UID_COUNT) g->uses[uid] = 1;
    cudnnBackendDescriptor_t t;
    LT_TRY(gb_new(g, CUDNN_BACKEND_TENSOR_DESCRIPTOR, &t));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, st));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align));
    if (is_virtual) LT_CUDNN_CHECK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual));
    if (is_value) LT_CUDNN_CHECK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &is_value));
    LT_CUDNN_CHECK(cudnnBackendFinalize(t));
    *out = t;
    return LT_OK;
}

static inline lt_status gb_virtual(sdpa_graph *g, cudnnDataType_t dt, const int64_t dims[4],
                                   const int64_t strides[4], cudnnBackendDescriptor_t *out) {
    return gb_tensor(g, 0, dt, dims, strides, 0, out);
}

// A host scalar passed by value at execution (the scale, -inf, 1).
static inline lt_status gb_scalar(sdpa_graph *g, int64_t uid, cudnnBackendDescriptor_t *out) {
    const int64_t one[4] = {1, 1, 1, 1};
    return gb_tensor(g, uid, CUDNN_DATA_FLOAT, one, one, 1, out);
}

// y = mode(x[, b[, t]]) with math precision comp; axis >= 0 only for GEN_INDEX.
static inline lt_status gb_pointwise(sdpa_graph *g, cudnnPointwiseMode_t mode, cudnnDataType_t comp, int64_t axis,
                                     cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t b,
                                     cudnnBackendDescriptor_t t, cudnnBackendDescriptor_t y) {
    cudnnBackendDescriptor_t pw, op;
    LT_TRY(gb_new(g, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, &pw));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &comp));
    if (axis >= 0) LT_CUDNN_CHECK(cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, 1, &axis));
    LT_CUDNN_CHECK(cudnnBackendFinalize(pw));
    LT_TRY(gb_new(g, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, &op));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR,
                                            CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x));
    if (b) LT_CUDNN_CHECK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b));
    if (t) LT_CUDNN_CHECK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_POINTWISE_TDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y));
    return gb_add_op(g, op);
}

// c = a b (batched over the leading two dims; a head dim of 1 or Hkv < Hq
// broadcasts), fp32 accumulation; the overrides (INT32 [B,1,1,1], or NULL)
// bound the GEMM's M, N, K per batch.
static inline lt_status gb_matmul(sdpa_graph *g, cudnnBackendDescriptor_t a, cudnnBackendDescriptor_t b,
                                  cudnnBackendDescriptor_t c, cudnnBackendDescriptor_t m_ovr,
                                  cudnnBackendDescriptor_t n_ovr, cudnnBackendDescriptor_t k_ovr) {
    cudnnBackendDescriptor_t mm, op;
    cudnnDataType_t comp = CUDNN_DATA_FLOAT;
    double pad = 0.0;
    LT_TRY(gb_new(g, CUDNN_BACKEND_MATMUL_DESCRIPTOR, &mm));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(mm, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(mm, CUDNN_ATTR_MATMUL_PADDING_VALUE, CUDNN_TYPE_DOUBLE, 1, &pad));
    LT_CUDNN_CHECK(cudnnBackendFinalize(mm));
    LT_TRY(gb_new(g, CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR, &op));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &c));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_MATMUL_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &mm));
    if (m_ovr) LT_CUDNN_CHECK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_MATMUL_GEMM_M_OVERRIDE_DESC,
                                                       CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &m_ovr));
    if (n_ovr) LT_CUDNN_CHECK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_MATMUL_GEMM_N_OVERRIDE_DESC,
                                                       CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n_ovr));
    if (k_ovr) LT_CUDNN_CHECK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_MATMUL_GEMM_K_OVERRIDE_DESC,
                                                       CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &k_ovr));
    return gb_add_op(g, op);
}

// y = reduce(x) over the dims where y is smaller (fp32).
static inline lt_status gb_reduce(sdpa_graph *g, cudnnReduceTensorOp_t how, cudnnBackendDescriptor_t x,
                                  cudnnBackendDescriptor_t y) {
    cudnnBackendDescriptor_t rd, op;
    cudnnDataType_t comp = CUDNN_DATA_FLOAT;
    LT_TRY(gb_new(g, CUDNN_BACKEND_REDUCTION_DESCRIPTOR, &rd));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(rd, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &how));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(rd, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp));
    LT_CUDNN_CHECK(cudnnBackendFinalize(rd));
    LT_TRY(gb_new(g, CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR, &op));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &rd));
    return gb_add_op(g, op);
}

// y = x seen with y's dims and strides (the graph's transposes).
static inline lt_status gb_reshape(sdpa_graph *g, cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t y) {
    cudnnBackendDescriptor_t op;
    LT_TRY(gb_new(g, CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR, &op));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_RESHAPE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_RESHAPE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y));
    return gb_add_op(g, op);
}

// What the mask subgraphs share: the sequence-length tensors (NULL unless
// padded) and each -inf scalar, made once per graph (one descriptor per UID).
typedef struct {
    cudnnBackendDescriptor_t seq_q, seq_kv, neg_pad, neg_causal;
    int64_t s_dims[4];   // [B,Hq,T,S]
} sdpa_masks;

// Keys j >= seq_kv[b] (and rows i >= seq_q[b]: none, seq_q = T) become -inf.
static inline lt_status gb_padding(sdpa_graph *g, sdpa_masks *m, cudnnBackendDescriptor_t s,
                                   cudnnBackendDescriptor_t *out) {
    cudnnBackendDescriptor_t row = NULL, col = NULL, rok = NULL, cok = NULL, keep = NULL;
    if (!m->neg_pad) LT_TRY(gb_scalar(g, SDPA_UID_NEG_PAD, &m->neg_pad));
    LT_TRY(gb_virtual(g, CUDNN_DATA_INT32, m->s_dims, NULL, &row));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_INT32, 2, s, NULL, NULL, row));
    LT_TRY(gb_virtual(g, CUDNN_DATA_INT32, m->s_dims, NULL, &col));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_INT32, 3, s, NULL, NULL, col));
    LT_TRY(gb_virtual(g, CUDNN_DATA_BOOLEAN, m->s_dims, NULL, &rok));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_CMP_LT, CUDNN_DATA_BOOLEAN, -1, row, m->seq_q, NULL, rok));
    LT_TRY(gb_virtual(g, CUDNN_DATA_BOOLEAN, m->s_dims, NULL, &cok));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_CMP_LT, CUDNN_DATA_BOOLEAN, -1, col, m->seq_kv, NULL, cok));
    LT_TRY(gb_virtual(g, CUDNN_DATA_BOOLEAN, m->s_dims, NULL, &keep));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_LOGICAL_AND, CUDNN_DATA_BOOLEAN, -1, rok, cok, NULL, keep));
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, m->s_dims, NULL, out));
    // BINARY_SELECT: y = t ? x : b
    return gb_pointwise(g, CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT, -1, s, m->neg_pad, keep, *out);
}

// Top-left causal: keep row >= col, the rest becomes -inf.
static inline lt_status gb_causal(sdpa_graph *g, sdpa_masks *m, cudnnBackendDescriptor_t s,
                                  cudnnBackendDescriptor_t *out) {
    cudnnBackendDescriptor_t row, col, keep;
    if (!m->neg_causal) LT_TRY(gb_scalar(g, SDPA_UID_NEG_CAUSAL, &m->neg_causal));
    LT_TRY(gb_virtual(g, CUDNN_DATA_INT32, m->s_dims, NULL, &row));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_INT32, 2, s, NULL, NULL, row));
    LT_TRY(gb_virtual(g, CUDNN_DATA_INT32, m->s_dims, NULL, &col));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_INT32, 3, s, NULL, NULL, col));
    LT_TRY(gb_virtual(g, CUDNN_DATA_BOOLEAN, m->s_dims, NULL, &keep));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_CMP_GE, CUDNN_DATA_BOOLEAN, -1, row, col, NULL, keep));
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, m->s_dims, NULL, out));
    return gb_pointwise(g, CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT, -1, s, m->neg_causal, keep, *out);
}

// Padding, then causal, as the frontend orders them. cuDNN 9.0-9.9 wants the
// padding applied twice in the backward (the frontend's workaround).
static inline lt_status gb_masks(sdpa_graph *g, const sdpa_shape *s, sdpa_masks *m, cudnnBackendDescriptor_t x,
                                 cudnnBackendDescriptor_t *out) {
    if (s->padded) {
        LT_TRY(gb_padding(g, m, x, &x));
        if (s->bwd && g->cudnn_version >= 90000 && g->cudnn_version < 91000) LT_TRY(gb_padding(g, m, x, &x));
    }
    if (s->causal) LT_TRY(gb_causal(g, m, x, &x));
    *out = x;
    return LT_OK;
}

// The operands both graphs share: shapes, strides, Q, K^T, the scale and the
// sequence lengths.
typedef struct {
    int64_t q[4], kv[4], kt[4], kt_st[4], r[4];   // [B,Hq,T,D] [B,Hkv,S,D] [B,Hkv,D,S] (+strides) [B,Hq,T,1]
    cudnnBackendDescriptor_t Q, KT, scale;
    sdpa_masks m;
} sdpa_common;

static inline lt_status gb_common(sdpa_graph *g, const sdpa_shape *s, sdpa_common *c) {
    const int64_t B = s->B, Hq = s->Hq, Hk = s->Hkv, T = s->T, S = s->S, D = s->D;
    const int64_t q[4] = {B, Hq, T, D}, kv[4] = {B, Hk, S, D}, kt[4] = {B, Hk, D, S}, kt_st[4] = {Hk * S * D, S * D, 1, D},
                  r[4] = {B, Hq, T, 1}, sd[4] = {B, Hq, T, S}, lens[4] = {B, 1, 1, 1}, unit[4] = {1, 1, 1, 1};
    memset(c, 0, sizeof *c);
    memcpy(c->q, q, sizeof q); memcpy(c->kv, kv, sizeof kv); memcpy(c->kt, kt, sizeof kt);
    memcpy(c->kt_st, kt_st, sizeof kt_st); memcpy(c->r, r, sizeof r); memcpy(c->m.s_dims, sd, sizeof sd);
    LT_TRY(gb_tensor(g, SDPA_UID_Q, CUDNN_DATA_BFLOAT16, q, NULL, 0, &c->Q));
    LT_TRY(gb_tensor(g, SDPA_UID_K, CUDNN_DATA_BFLOAT16, kt, kt_st, 0, &c->KT));   // K [B,Hkv,S,D] read as K^T
    LT_TRY(gb_scalar(g, SDPA_UID_SCALE, &c->scale));
    if (s->padded) {
        LT_TRY(gb_tensor(g, SDPA_UID_SEQ_Q, CUDNN_DATA_INT32, lens, unit, 0, &c->m.seq_q));
        LT_TRY(gb_tensor(g, SDPA_UID_SEQ_KV, CUDNN_DATA_INT32, lens, unit, 0, &c->m.seq_kv));
    }
    return LT_OK;
}

// O = softmax(mask(scale Q K^T)) V and Stats = max + log(sum exp(x - max)) per
// row (the natural-log logsumexp of the scaled, masked logits).
static inline lt_status sdpa_build_fwd(sdpa_graph *g, const sdpa_shape *s) {
    sdpa_common c;
    LT_TRY(gb_common(g, s, &c));
    const int64_t *sd = c.m.s_dims;
    cudnnBackendDescriptor_t v, o, st, s0, s1, x, mx, z, e, sum, lg, p;
    cudnnBackendDescriptor_t sq = c.m.seq_q, skv = c.m.seq_kv;
    LT_TRY(gb_tensor(g, SDPA_UID_V, CUDNN_DATA_BFLOAT16, c.kv, NULL, 0, &v));
    LT_TRY(gb_tensor(g, SDPA_UID_O, CUDNN_DATA_BFLOAT16, c.q, NULL, 0, &o));
    LT_TRY(gb_tensor(g, SDPA_UID_STATS, CUDNN_DATA_FLOAT, c.r, NULL, 0, &st));
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, sd, NULL, &s0));
    LT_TRY(gb_matmul(g, c.Q, c.KT, s0, sq, skv, NULL));
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, sd, NULL, &s1));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, -1, s0, c.scale, NULL, s1));
    LT_TRY(gb_masks(g, s, &c.m, s1, &x));
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, c.r, NULL, &mx));
    LT_TRY(gb_reduce(g, CUDNN_REDUCE_TENSOR_MAX, x, mx));
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, sd, NULL, &z));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, -1, x, mx, NULL, z));
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, sd, NULL, &e));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_EXP, CUDNN_DATA_FLOAT, -1, z, NULL, NULL, e));
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, c.r, NULL, &sum));
    LT_TRY(gb_reduce(g, CUDNN_REDUCE_TENSOR_ADD, e, sum));
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, c.r, NULL, &lg));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_LOG, CUDNN_DATA_FLOAT, -1, sum, NULL, NULL, lg));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_ADD, CUDNN_DATA_FLOAT, -1, mx, lg, NULL, st));
    LT_TRY(gb_virtual(g, CUDNN_DATA_BFLOAT16, sd, NULL, &p));   // P enters the second matmul as bf16
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_DIV, CUDNN_DATA_FLOAT, -1, e, sum, NULL, p));
    return gb_matmul(g, p, v, o, sq, NULL, skv);
}

// dQ, dK, dV from dO, with P = exp(mask(scale Q K^T) - Stats) recomputed,
// dS = P (dP - rowsum(dO O)) scale. GQA: dK/dV are computed per query head and
// summed over each group by a reduction. dQ accumulates in an fp32 buffer.
static inline lt_status sdpa_build_bwd(sdpa_graph *g, const sdpa_shape *s) {
    sdpa_common c;
    LT_TRY(gb_common(g, s, &c));
    const int64_t B = s->B, Hq = s->Hq, T = s->T, S = s->S;
    const int64_t *sd = c.m.s_dims, st_t[4] = {Hq * T * S, T * S, 1, S}, sdt[4] = {B, Hq, S, T},
                  full[4] = {B, Hq, S, s->D};
    cudnnBackendDescriptor_t vt, o, dO, st, one, dQ, dK, dV, sum, dqa, x, r, s0, s1, s2, sm, p, pt, dvf, dp, d1, d2,
        ds, dst, dkf, k2;
    cudnnBackendDescriptor_t sq = c.m.seq_q, skv = c.m.seq_kv;
    LT_TRY(gb_tensor(g, SDPA_UID_V, CUDNN_DATA_BFLOAT16, c.kt, c.kt_st, 0, &vt));   // V read as V^T
    LT_TRY(gb_tensor(g, SDPA_UID_O, CUDNN_DATA_BFLOAT16, c.q, NULL, 0, &o));
    LT_TRY(gb_tensor(g, SDPA_UID_DO, CUDNN_DATA_BFLOAT16, c.q, NULL, 0, &dO));
    LT_TRY(gb_tensor(g, SDPA_UID_STATS, CUDNN_DATA_FLOAT, c.r, NULL, 0, &st));
    LT_TRY(gb_scalar(g, SDPA_UID_ONE, &one));
    LT_TRY(gb_tensor(g, SDPA_UID_DQ, CUDNN_DATA_BFLOAT16, c.q, NULL, 0, &dQ));
    LT_TRY(gb_tensor(g, SDPA_UID_DK, CUDNN_DATA_BFLOAT16, c.kv, NULL, 0, &dK));
    LT_TRY(gb_tensor(g, SDPA_UID_DV, CUDNN_DATA_BFLOAT16, c.kv, NULL, 0, &dV));
    LT_TRY(gb_tensor(g, SDPA_UID_SUM, CUDNN_DATA_FLOAT, c.r, NULL, 0, &sum));      // scratch [B,Hq,T,1]
    LT_TRY(gb_tensor(g, SDPA_UID_DQ_ACC, CUDNN_DATA_FLOAT, c.q, NULL, 0, &dqa));   // scratch [B,Hq,T,D]
    // softmax_sum = rowsum(dO * O)
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, c.q, NULL, &x));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, -1, dO, o, NULL, x));
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, c.r, NULL, &r));
    LT_TRY(gb_reduce(g, CUDNN_REDUCE_TENSOR_ADD, x, r));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, -1, r, one, NULL, sum));
    // P = exp(mask(scale Q K^T - Stats))
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, sd, NULL, &s0));
    LT_TRY(gb_matmul(g, c.Q, c.KT, s0, sq, skv, NULL));
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, sd, NULL, &s1));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, -1, s0, c.scale, NULL, s1));
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, sd, NULL, &s2));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, -1, s1, st, NULL, s2));
    LT_TRY(gb_masks(g, s, &c.m, s2, &sm));
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, sd, NULL, &p));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_EXP, CUDNN_DATA_FLOAT, -1, sm, NULL, NULL, p));
    // dV = P^T dO (per query head, then summed per kv group)
    LT_TRY(gb_virtual(g, CUDNN_DATA_BFLOAT16, sdt, st_t, &pt));
    LT_TRY(gb_reshape(g, p, pt));
    if (s->Hq == s->Hkv) {
        LT_TRY(gb_matmul(g, pt, dO, dV, skv, NULL, sq));
    } else {
        LT_TRY(gb_virtual(g, CUDNN_DATA_BFLOAT16, full, NULL, &dvf));
        LT_TRY(gb_matmul(g, pt, dO, dvf, skv, NULL, sq));
        LT_TRY(gb_reduce(g, CUDNN_REDUCE_TENSOR_ADD, dvf, dV));
    }
    // dS = P (dO V^T - softmax_sum) scale
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, sd, NULL, &dp));
    LT_TRY(gb_matmul(g, dO, vt, dp, sq, skv, NULL));
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, sd, NULL, &d1));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, -1, dp, sum, NULL, d1));
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, sd, NULL, &d2));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, -1, d1, p, NULL, d2));
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, sd, NULL, &ds));
    LT_TRY(gb_pointwise(g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, -1, d2, c.scale, NULL, ds));
    // dK = dS^T Q
    LT_TRY(gb_virtual(g, CUDNN_DATA_BFLOAT16, sdt, st_t, &dst));
    LT_TRY(gb_reshape(g, ds, dst));
    if (s->Hq == s->Hkv) {
        LT_TRY(gb_matmul(g, dst, c.Q, dK, skv, NULL, sq));
    } else {
        LT_TRY(gb_virtual(g, CUDNN_DATA_BFLOAT16, full, NULL, &dkf));
        LT_TRY(gb_matmul(g, dst, c.Q, dkf, skv, NULL, sq));
        LT_TRY(gb_reduce(g, CUDNN_REDUCE_TENSOR_ADD, dkf, dK));
    }
    // dQ = dS K, through the fp32 accumulator
    LT_TRY(gb_virtual(g, CUDNN_DATA_FLOAT, c.kv, NULL, &k2));
    LT_TRY(gb_reshape(g, c.KT, k2));
    LT_TRY(gb_matmul(g, ds, k2, dqa, sq, NULL, skv));
    return gb_pointwise(g, CUDNN_POINTWISE_IDENTITY, CUDNN_DATA_FLOAT, -1, dqa, NULL, NULL, dQ);
}

// The operation graph, then the first engine config (heuristics mode A, then
// the fallback list) whose execution plan finalizes.
static inline lt_status gb_plan(sdpa_graph *g, cudnnHandle_t h, const char *what) {
    static const cudnnBackendHeurMode_t modes[2] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK};
    cudnnBackendDescriptor_t graph;
    cudnnStatus_t last = CUDNN_STATUS_NOT_SUPPORTED;
    char why[320] = "";   // cuDNN's reason for the last refusal
    int tried = 0;
    LT_TRY(gb_new(g, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, &graph));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                            g->nops, g->ops));
    LT_CUDNN_CHECK(cudnnBackendSetAttribute(graph, SDPA_ATTR_GRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h));
    LT_CUDNN_CHECK(cudnnBackendFinalize(graph));
    for (int mi = 0; mi < 2; mi++) {
        cudnnBackendDescriptor_t heur, cfg[SDPA_MAX_CFGS];
        int64_t got = 0;
        LT_TRY(gb_new(g, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur));
        LT_CUDNN_CHECK(cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH,
                                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph));
        LT_CUDNN_CHECK(cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &modes[mi]));
        if ((last = cudnnBackendFinalize(heur)) != CUDNN_STATUS_SUCCESS) {
            snprintf(why, sizeof why, "%s", sdpa_cudnn_detail());
            continue;
        }
        for (int i = 0; i < SDPA_MAX_CFGS; i++) LT_TRY(gb_new(g, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfg[i]));
        last = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                        SDPA_MAX_CFGS, &got, cfg);
        if (last != CUDNN_STATUS_SUCCESS) {
            snprintf(why, sizeof why, "%s", sdpa_cudnn_detail());
            continue;
        }
        for (int64_t i = 0; i < got && i < SDPA_MAX_CFGS; i++) {
            cudnnBackendDescriptor_t plan;
            int64_t n = 0;
            LT_TRY(gb_new(g, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan));
            LT_CUDNN_CHECK(cudnnBackendSetAttribute(plan, SDPA_ATTR_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &h));
            LT_CUDNN_CHECK(cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                                    CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg[i]));
            tried++;
            if ((last = cudnnBackendFinalize(plan)) != CUDNN_STATUS_SUCCESS) {
                snprintf(why, sizeof why, "%s", sdpa_cudnn_detail());
                continue;
            }
            LT_CUDNN_CHECK(cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64,
                                                    1, &n, &g->workspace));
            g->plan = plan;
            return LT_OK;
        }
    }
    if (!tried)
        return lt_error(LT_ERR_UNSUPPORTED, "attention: cuDNN's heuristics offer no engine for the %s graph (%s %s)",
                        what, last == CUDNN_STATUS_SUCCESS ? "none supports it" : cudnnGetErrorString(last), why);
    return lt_error(LT_ERR_UNSUPPORTED, "attention: no cuDNN engine runs the %s graph (%d plans tried, last: %s %s)",
                    what, tried, cudnnGetErrorString(last), why);
}

#endif
