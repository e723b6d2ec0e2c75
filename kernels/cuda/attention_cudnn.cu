// cuDNN's fused scaled-dot-product attention as the fast path of libtrain's
// attention op, for nodes at bf16 precision without entropy, block map or
// block mask (causal, key lengths and GQA are fine). q, k, v (and dO) are
// rounded to bf16 scratch, cuDNN runs the graphs of attention_cudnn_graph.cuh,
// and O, the row logsumexp and the gradients come back as f32 (gradients are
// added). Plans are built once per shape and cached for the process; building
// one can take seconds (runtime-compiled engines) and loads modules, so the
// first step of a new shape is slow and cannot be captured into a CUDA graph:
// while the stream is capturing, a shape without a plan is refused (impl auto
// then runs libtrain's kernel; impl cudnn reports it) and nothing is cached.
// Built without LT_HAVE_CUDNN, lt_cudnn_sdpa_can says no and the rest report
// unsupported.
#include "kernels/cuda/common.cuh"

extern "C" {
#include "kernels/attention.h"
}

extern "C" {
int lt_cudnn_sdpa_can(const lt_node *n);
lt_status lt_cudnn_sdpa_fwd(lt_node *n);
lt_status lt_cudnn_sdpa_bwd(lt_node *n);
const char *lt_cudnn_sdpa_why_not(void);
}

#ifndef LT_HAVE_CUDNN

extern "C" int lt_cudnn_sdpa_can(const lt_node *n) { (void)n; return 0; }
extern "C" const char *lt_cudnn_sdpa_why_not(void) { return "libtrain was built without cuDNN"; }
extern "C" lt_status lt_cudnn_sdpa_fwd(lt_node *n) {
    (void)n;
    return lt_error(LT_ERR_UNSUPPORTED, "attention: libtrain was built without cuDNN; use impl auto or ours");
}
extern "C" lt_status lt_cudnn_sdpa_bwd(lt_node *n) {
    (void)n;
    return lt_error(LT_ERR_UNSUPPORTED, "attention: libtrain was built without cuDNN; use impl auto or ours");
}

#else

#include <cuda_bf16.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/attention_cudnn_graph.cuh"

typedef __nv_bfloat16 bf16;

// ---------------------------------------------------------------- kernels

// y = bf16(x), round to nearest even. vec: x 16-byte and y 8-byte aligned.
static __global__ void sdpa_to_bf16(const float *__restrict__ x, bf16 *__restrict__ y, int64_t n, int vec) {
    int64_t start = 0;
    if (vec) {
        int64_t n4 = n / 4;
        const float4 *x4 = (const float4 *)x;
        __nv_bfloat162 *y2 = (__nv_bfloat162 *)y;
        LT_GRID_STRIDE(i, n4) {
            float4 v = x4[i];
            y2[2 * i] = __floats2bfloat162_rn(v.x, v.y);
            y2[2 * i + 1] = __floats2bfloat162_rn(v.z, v.w);
        }
        start = n4 * 4;
    }
    for (int64_t i = start + (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = __float2bfloat16_rn(x[i]);
}

// y = f32(x), or y += f32(x) when acc. vec: x 8-byte and y 16-byte aligned.
static __global__ void sdpa_from_bf16(const bf16 *__restrict__ x, float *__restrict__ y, int64_t n, int acc, int vec) {
    int64_t start = 0;
    if (vec) {
        int64_t n4 = n / 4;
        const __nv_bfloat162 *x2 = (const __nv_bfloat162 *)x;
        float4 *y4 = (float4 *)y;
        LT_GRID_STRIDE(i, n4) {
            float2 a = __bfloat1622float2(x2[2 * i]), b = __bfloat1622float2(x2[2 * i + 1]);
            float4 v = make_float4(a.x, a.y, b.x, b.y);
            if (acc) {
                float4 o = y4[i];
                v.x += o.x; v.y += o.y; v.z += o.z; v.w += o.w;
            }
            y4[i] = v;
        }
        start = n4 * 4;
    }
    for (int64_t i = start + (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float v = __bfloat162float(x[i]);
        y[i] = acc ? y[i] + v : v;
    }
}

// seq_q [B] = T (no query is padding); seq_kv [B] = key_lens, or S without them.
static __global__ void sdpa_seq_fill(int32_t *__restrict__ seq_q, int32_t *__restrict__ seq_kv,
                                     const int32_t *__restrict__ lens, int B, int T, int S) {
    LT_GRID_STRIDE(b, B) {
        seq_q[b] = T;
        seq_kv[b] = lens ? min(max(lens[b], 1), S) : S;   // bad lengths: reported at sync
    }
}

static lt_status to_bf16(const float *x, bf16 *y, int64_t n) {
    int vec = (uintptr_t)x % 16 == 0 && (uintptr_t)y % 8 == 0;
    sdpa_to_bf16<<<lt_cuda_blocks(vec ? (n + 3) / 4 : n, 256), 256, 0, lt_cuda_stream()>>>(x, y, n, vec);
    LT_LAUNCH_CHECK("sdpa_to_bf16");
    return LT_OK;
}

static lt_status from_bf16(const bf16 *x, float *y, int64_t n, int acc) {
    int vec = (uintptr_t)x % 8 == 0 && (uintptr_t)y % 16 == 0;
    sdpa_from_bf16<<<lt_cuda_blocks(vec ? (n + 3) / 4 : n, 256), 256, 0, lt_cuda_stream()>>>(x, y, n, acc, vec);
    LT_LAUNCH_CHECK("sdpa_from_bf16");
    return LT_OK;
}

// seq_q and seq_kv are separate pieces: the graph declares both 16-byte aligned.
static lt_status seq_fill(const lt_node *n, int32_t *seq_q, int32_t *seq_kv, int B, int T, int S) {
    int64_t li = n->iattr[LT_ATTN_LENS];
    const int32_t *lens = li >= 0 ? lt_cuda_i32(n->in[li]) : NULL;
    sdpa_seq_fill<<<lt_cuda_blocks(B, 128), 128, 0, lt_cuda_stream()>>>(seq_q, seq_kv, lens, B, T, S);
    LT_LAUNCH_CHECK("sdpa_seq_fill");
    return LT_OK;
}

// ---------------------------------------------------------------- handle and plan cache

static cudnnHandle_t g_handle;
static char g_why[512];   // why the last lt_cudnn_sdpa_can said no

static lt_status sdpa_handle(cudnnHandle_t *out) {
    if (!g_handle) {
        cudnnHandle_t h;
        LT_CUDNN_CHECK(cudnnCreate(&h));
        cudnnStatus_t e = cudnnSetStream(h, lt_cuda_stream());
        if (e != CUDNN_STATUS_SUCCESS) {
            cudnnDestroy(h);
            return lt_error(LT_ERR_DEVICE, "cudnnSetStream failed at %s:%d: %s", __FILE__, __LINE__,
                            cudnnGetErrorString(e));
        }
        g_handle = h;
    }
    *out = g_handle;
    return LT_OK;
}

typedef struct {
    sdpa_shape key;
    lt_status status;   // LT_OK: plan built; otherwise why[] says why not
    char why[400];
    sdpa_graph g;
} sdpa_entry;

static sdpa_entry **g_cache;
static int g_ncache, g_capcache;

static int shape_eq(const sdpa_shape *a, const sdpa_shape *b) {
    return a->B == b->B && a->Hq == b->Hq && a->Hkv == b->Hkv && a->T == b->T && a->S == b->S && a->D == b->D &&
           a->causal == b->causal && a->padded == b->padded && a->bwd == b->bwd;
}

static sdpa_shape sdpa_shape_of(const lt_node *n, int bwd) {
    const lt_tensor *q = n->in[0], *k = n->in[1];
    sdpa_shape s;
    memset(&s, 0, sizeof s);
    s.B = q->shape[0]; s.Hq = q->shape[1]; s.T = q->shape[2]; s.D = q->shape[3];
    s.Hkv = k->shape[1]; s.S = k->shape[2];
    s.causal = n->iattr[LT_ATTN_CAUSAL] != 0;
    s.padded = n->iattr[LT_ATTN_LENS] >= 0;
    // cuDNN <= 9.15's backward needs the padding mask when S % 128 != 0 (the frontend's workaround)
    if (bwd && !s.padded && s.S % 128 != 0 && cudnnGetVersion() <= 91500) s.padded = 1;
    s.bwd = bwd;
    return s;
}

// The cached plan of shape s, built on first request; a failure to build it is
// cached too (not a refusal during capture, nor a failure to get the handle).
static lt_status sdpa_plan(const sdpa_shape *s, sdpa_entry **out) {
    for (int i = 0; i < g_ncache; i++)
        if (shape_eq(&g_cache[i]->key, s)) {
            *out = g_cache[i];
            return g_cache[i]->status == LT_OK ? LT_OK : lt_error(g_cache[i]->status, "%s", g_cache[i]->why);
        }
    // Building loads modules, may allocate and synchronize: none of that can be
    // captured, and a cudaMalloc would invalidate the capture.
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    LT_CUDA_CHECK(cudaStreamIsCapturing(lt_cuda_stream(), &capturing));
    if (capturing != cudaStreamCaptureStatusNone)
        return lt_error(LT_ERR_UNSUPPORTED, "attention: cuDNN's %s plan for this shape is not built yet and cannot be "
                        "built while the stream is captured into a CUDA graph; run one step of this shape uncaptured "
                        "first", s->bwd ? "backward" : "forward");
    cudnnHandle_t h;
    LT_TRY(sdpa_handle(&h));
    if (g_ncache == g_capcache) {
        int cap = g_capcache ? 2 * g_capcache : 16;
        sdpa_entry **c = (sdpa_entry **)realloc(g_cache, sizeof *c * (size_t)cap);
        if (!c) return lt_error(LT_ERR_OOM, "attention: cannot grow the cuDNN plan cache to %d entries", cap);
        g_cache = c;
        g_capcache = cap;
    }
    sdpa_entry *e = (sdpa_entry *)calloc(1, sizeof *e);
    if (!e) return lt_error(LT_ERR_OOM, "attention: no host memory for a cuDNN plan");
    e->key = *s;
    e->g.cudnn_version = cudnnGetVersion();
    e->g.next_uid = SDPA_UID_VIRTUAL;
    lt_status st = s->bwd ? sdpa_build_bwd(&e->g, s) : sdpa_build_fwd(&e->g, s);
    if (st == LT_OK) st = gb_plan(&e->g, h, s->bwd ? "backward" : "forward");
    if (st != LT_OK) {
        sdpa_graph_free(&e->g);
        snprintf(e->why, sizeof e->why, "%s", lt_last_error());
    }
    e->status = st;
    g_cache[g_ncache++] = e;
    *out = e;
    return st;
}

// Runs a plan; ptr[uid] is the data of each fixed UID (host addresses for the
// by-value scalars).
static lt_status sdpa_execute(const sdpa_graph *g, void *const ptr[SDPA_UID_COUNT], void *workspace) {
    int64_t uids[SDPA_UID_COUNT];
    void *data[SDPA_UID_COUNT];
    int64_t k = 0;
    for (int u = 1; u < SDPA_UID_COUNT; u++)
        if (g->uses[u]) {
            if (!ptr[u]) return lt_error(LT_ERR_STATE, "attention: cuDNN graph tensor uid %d was given no data", u);
            uids[k] = u;
            data[k++] = ptr[u];
        }
    cudnnHandle_t h;
    LT_TRY(sdpa_handle(&h));
    cudnnBackendDescriptor_t pack;
    LT_CUDNN_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack));
    cudnnStatus_t e = CUDNN_STATUS_SUCCESS;
    const char *what = "";
#define SDPA_STEP(call) \
    if (e == CUDNN_STATUS_SUCCESS && (e = (call)) != CUDNN_STATUS_SUCCESS) what = #call
    SDPA_STEP(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, k, uids));
    SDPA_STEP(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, k, data));
    SDPA_STEP(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace));
    SDPA_STEP(cudnnBackendFinalize(pack));
    SDPA_STEP(cudnnBackendExecute(h, g->plan, pack));
#undef SDPA_STEP
    lt_status st = LT_OK;
    if (e != CUDNN_STATUS_SUCCESS)   // cuDNN's reason is read before the destroy can replace it
        st = lt_error(LT_ERR_DEVICE, "%s failed at %s:%d: %s %s", what, __FILE__, __LINE__, cudnnGetErrorString(e),
                      sdpa_cudnn_detail());
    cudnnBackendDestroyDescriptor(pack);
    return st;
}

// ---------------------------------------------------------------- entry points

// NULL when the node is a case cuDNN's SDPA can take (before building a plan).
static const char *sdpa_refusal(const lt_node *n) {
    static int major = -1;
    if (major < 0) {
        int dev = 0, v = 0;
        if (cudaGetDevice(&dev) == cudaSuccess &&
            cudaDeviceGetAttribute(&v, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess)
            major = v;
        else
            (void)cudaGetLastError();   // not left for the next launch check to misreport
    }
    if (major < 0) return "the GPU's compute capability cannot be read";
    if (n->n_in < 3 || n->n_out < 2) return "not an attention node";
    if (n->iattr[LT_ATTN_PREC] != LT_PREC_BF16) return "its precision is not bf16";
    if (n->iattr[LT_ATTN_ENTROPY]) return "it cannot give the row entropy";
    if (n->iattr[LT_ATTN_MAP]) return "it cannot give the block map";
    if (n->iattr[LT_ATTN_MASK] >= 0) return "it cannot take a block mask";
    for (int i = 0; i < 3; i++)
        if (n->in[i]->dtype != LT_F32 || n->in[i]->ndim != 4) return "q, k, v must be f32 [B,H,T,D]";
    if (n->in[0]->numel == 0 || n->in[1]->numel == 0) return "q or k is empty";
    int D = n->in[0]->shape[3];
    if (D % 8 != 0) return "head dim D is not a multiple of 8";
    if (D > (major == 9 ? 256 : 128)) return "head dim D is over 128 (256 on Hopper)";
    if (major < 8) return "no GPU of compute capability 8.0 or newer";
    size_t ver = cudnnGetVersion();
    if (ver < 90000) return "cuDNN older than 9.0";
    if (ver == 91000 || ver == 91001) return "cuDNN 9.10.0/9.10.1 has known SDPA bugs";
    if (ver <= 90900 && n->in[0]->shape[2] == 1 && n->iattr[LT_ATTN_CAUSAL])
        return "cuDNN 9.9 and older cannot mask a single query row (T = 1 with causal)";
    return NULL;
}

extern "C" const char *lt_cudnn_sdpa_why_not(void) { return g_why; }

extern "C" int lt_cudnn_sdpa_can(const lt_node *n) {
    const char *no = sdpa_refusal(n);
    if (no) {
        snprintf(g_why, sizeof g_why, "cuDNN's fused attention: %s", no);
        return 0;
    }
    // A refusal is an answer, not an error: keep the caller's error state.
    lt_status prev = lt_last_status();
    char prev_msg[2048] = "";
    if (prev != LT_OK) snprintf(prev_msg, sizeof prev_msg, "%s", lt_last_error());
    sdpa_entry *e;
    sdpa_shape s = sdpa_shape_of(n, 0);
    int ok = sdpa_plan(&s, &e) == LT_OK;
    if (ok && n->recorded) {   // the backward will come: it must build too
        s = sdpa_shape_of(n, 1);
        ok = sdpa_plan(&s, &e) == LT_OK;
    }
    if (!ok) snprintf(g_why, sizeof g_why, "%s", lt_last_error());
    if (prev == LT_OK) lt_clear_error();
    else lt_error(prev, "%s", prev_msg);
    return ok;
}

#define SDPA_SAVED_MAGIC 0x5d9a0c1du

// What the forward leaves for the backward (device pointers in step memory).
typedef struct {
    uint32_t magic;
    bf16 *q, *k, *v, *o;   // [B,Hq,T,D] [B,Hkv,S,D] [B,Hkv,S,D] [B,Hq,T,D]
    float *stats;          // [B,Hq,T] natural-log logsumexp of the scaled logits
} sdpa_saved;

// Step memory split into 256-byte aligned pieces.
static size_t take(size_t *total, size_t bytes) {
    size_t at = *total;
    *total += (bytes + 255) & ~(size_t)255;
    return at;
}

static float sdpa_neg_inf(const sdpa_graph *g) { return g->cudnn_version < 91000 ? -FLT_MAX : -INFINITY; }

extern "C" lt_status lt_cudnn_sdpa_fwd(lt_node *n) {
    const char *no = sdpa_refusal(n);
    if (no) return lt_error(LT_ERR_UNSUPPORTED, "attention: cuDNN's fused attention cannot run this node: %s", no);
    sdpa_shape s = sdpa_shape_of(n, 0);
    sdpa_entry *e;
    LT_TRY(sdpa_plan(&s, &e));
    const int64_t nq = s.B * s.Hq * s.T * s.D, nkv = s.B * s.Hkv * s.S * s.D, nr = s.B * s.Hq * s.T;
    size_t total = 0;
    size_t oq = take(&total, nq * sizeof(bf16)), okk = take(&total, nkv * sizeof(bf16)),
           ov = take(&total, nkv * sizeof(bf16)), oo = take(&total, nq * sizeof(bf16)),
           ost = take(&total, nr * sizeof(float)), osq = take(&total, s.padded ? s.B * sizeof(int32_t) : 0),
           oskv = take(&total, s.padded ? s.B * sizeof(int32_t) : 0), ows = take(&total, (size_t)e->g.workspace);
    char *base = (char *)lt_node_save_data(n, total);
    if (!base) return lt_last_status();
    bf16 *q = (bf16 *)(base + oq), *k = (bf16 *)(base + okk), *v = (bf16 *)(base + ov), *o = (bf16 *)(base + oo);
    float *stats = (float *)(base + ost);
    int32_t *seq_q = (int32_t *)(base + osq), *seq_kv = (int32_t *)(base + oskv);
    LT_TRY(to_bf16(lt_cuda_f32(n->in[0]), q, nq));
    LT_TRY(to_bf16(lt_cuda_f32(n->in[1]), k, nkv));
    LT_TRY(to_bf16(lt_cuda_f32(n->in[2]), v, nkv));
    if (s.padded) LT_TRY(seq_fill(n, seq_q, seq_kv, (int)s.B, (int)s.T, (int)s.S));
    // by-value scalars, aligned as their descriptors declare
    alignas(16) float scale = n->fattr[0];
    alignas(16) float neg = sdpa_neg_inf(&e->g);
    void *ptr[SDPA_UID_COUNT] = {0};
    ptr[SDPA_UID_Q] = q; ptr[SDPA_UID_K] = k; ptr[SDPA_UID_V] = v; ptr[SDPA_UID_O] = o;
    ptr[SDPA_UID_STATS] = stats; ptr[SDPA_UID_SCALE] = &scale;
    ptr[SDPA_UID_NEG_PAD] = &neg; ptr[SDPA_UID_NEG_CAUSAL] = &neg;
    if (s.padded) { ptr[SDPA_UID_SEQ_Q] = seq_q; ptr[SDPA_UID_SEQ_KV] = seq_kv; }
    LT_TRY(sdpa_execute(&e->g, ptr, e->g.workspace ? base + ows : NULL));
    LT_TRY(from_bf16(o, lt_cuda_f32(n->out[0]), nq, 0));
    LT_CUDA_CHECK(cudaMemcpyAsync(n->out[1]->data, stats, (size_t)nr * sizeof(float), cudaMemcpyDeviceToDevice,
                                  lt_cuda_stream()));
    if (n->recorded) {
        sdpa_saved *sv = (sdpa_saved *)lt_node_save(n, sizeof *sv);
        if (!sv) return lt_last_status();
        sv->magic = SDPA_SAVED_MAGIC;
        sv->q = q; sv->k = k; sv->v = v; sv->o = o; sv->stats = stats;
        n->saved = sv;
    }
    return LT_OK;
}

extern "C" lt_status lt_cudnn_sdpa_bwd(lt_node *n) {
    const float *gO = n->out[0]->grad;   // [B,Hq,T,D]
    float *gq = n->in[0]->grad, *gk = n->in[1]->grad, *gv = n->in[2]->grad;
    if (!gO || (!gq && !gk && !gv)) return LT_OK;   // zero upstream gradient, or nothing takes one
    const sdpa_saved *sv = (const sdpa_saved *)n->saved;
    if (!sv || sv->magic != SDPA_SAVED_MAGIC)
        return lt_error(LT_ERR_STATE, "attention: the cuDNN backward has no saved forward (the forward did not run "
                                      "on cuDNN with the node recorded)");
    sdpa_shape s = sdpa_shape_of(n, 1);
    sdpa_entry *e;
    LT_TRY(sdpa_plan(&s, &e));
    const int64_t nq = s.B * s.Hq * s.T * s.D, nkv = s.B * s.Hkv * s.S * s.D, nr = s.B * s.Hq * s.T;
    size_t total = 0;
    // dq, dk, dv adjacent, so one memset clears them
    size_t odo = take(&total, nq * sizeof(bf16)), odq = take(&total, nq * sizeof(bf16)),
           odk = take(&total, nkv * sizeof(bf16)), odv = take(&total, nkv * sizeof(bf16)),
           osum = take(&total, nr * sizeof(float)), oacc = take(&total, nq * sizeof(float)),
           osq = take(&total, s.padded ? s.B * sizeof(int32_t) : 0),
           oskv = take(&total, s.padded ? s.B * sizeof(int32_t) : 0), ows = take(&total, (size_t)e->g.workspace);
    char *base = (char *)lt_node_save_data(n, total);
    if (!base) return lt_last_status();
    bf16 *dO = (bf16 *)(base + odo), *dq = (bf16 *)(base + odq), *dk = (bf16 *)(base + odk),
         *dv = (bf16 *)(base + odv);
    float *dqacc = (float *)(base + oacc);
    int32_t *seq_q = (int32_t *)(base + osq), *seq_kv = (int32_t *)(base + oskv);
    cudaStream_t st = lt_cuda_stream();
    LT_TRY(to_bf16(gO, dO, nq));
    LT_CUDA_CHECK(cudaMemsetAsync(dqacc, 0, (size_t)nq * sizeof(float), st));   // cuDNN < 9.6 does not clear it
    if (s.padded) {
        // rows of dK/dV past a key length may be left unwritten by the length-bounded GEMMs
        LT_CUDA_CHECK(cudaMemsetAsync(base + odq, 0, osum - odq, st));
        LT_TRY(seq_fill(n, seq_q, seq_kv, (int)s.B, (int)s.T, (int)s.S));
    }
    alignas(16) float scale = n->fattr[0];
    alignas(16) float neg = sdpa_neg_inf(&e->g);
    alignas(16) float one = 1.0f;
    void *ptr[SDPA_UID_COUNT] = {0};
    ptr[SDPA_UID_Q] = sv->q; ptr[SDPA_UID_K] = sv->k; ptr[SDPA_UID_V] = sv->v; ptr[SDPA_UID_O] = sv->o;
    ptr[SDPA_UID_STATS] = sv->stats; ptr[SDPA_UID_DO] = dO;
    ptr[SDPA_UID_DQ] = dq; ptr[SDPA_UID_DK] = dk; ptr[SDPA_UID_DV] = dv;
    ptr[SDPA_UID_SUM] = base + osum; ptr[SDPA_UID_DQ_ACC] = dqacc;
    ptr[SDPA_UID_SCALE] = &scale; ptr[SDPA_UID_ONE] = &one;
    ptr[SDPA_UID_NEG_PAD] = &neg; ptr[SDPA_UID_NEG_CAUSAL] = &neg;
    if (s.padded) { ptr[SDPA_UID_SEQ_Q] = seq_q; ptr[SDPA_UID_SEQ_KV] = seq_kv; }
    LT_TRY(sdpa_execute(&e->g, ptr, e->g.workspace ? base + ows : NULL));
    if (gq) LT_TRY(from_bf16(dq, gq, nq, 1));
    if (gk) LT_TRY(from_bf16(dk, gk, nkv, 1));
    if (gv) LT_TRY(from_bf16(dv, gv, nkv, 1));
    return LT_OK;
}

#endif
