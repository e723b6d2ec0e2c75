// matmul and linear on cuBLAS / cuBLASLt (the CPU reference is kernels/cpu/matmul.c).
// Tensors are row-major; cuBLAS is column-major, so a row-major C = op(A) op(B)
// is computed as the column-major C^T = op(B)^T op(A)^T: same pointers and
// leading dimensions, operands swapped. Gradients accumulate through beta = 1.
// The compute type comes from the node's lt_precision attribute, recorded by
// the builder (matmul iattr[2], linear iattr[0]).
#include "kernels/cuda/common.cuh"

#include <math.h>

extern "C" {
#include "kernels/matmul_geom.h"
}

namespace {   // file-local: kernels and types stay out of other files' way

// ---- precision and the row-major GEMM ----

static lt_status compute_type(const char *op, int64_t prec, cublasComputeType_t *ct) {
    switch (prec) {
    case LT_PREC_FP32: *ct = CUBLAS_COMPUTE_32F; return LT_OK;
    case LT_PREC_TF32: *ct = CUBLAS_COMPUTE_32F_FAST_TF32; return LT_OK;
    case LT_PREC_BF16: *ct = CUBLAS_COMPUTE_32F_FAST_16BF; return LT_OK;
    default:
        return lt_error(LT_ERR_ARG, "%s: matmul precision attribute %lld is not fp32 (0), tf32 (1) or bf16 (2)", op,
                        (long long)prec);
    }
}

// Row-major C[M,N] (ldc) = op(A)[M,K] op(B)[K,N] + beta C for `batch` matrices
// at element strides sA, sB, sC (a stride of 0 shares an input across the batch).
static lt_status gemm_rm(const char *op, int64_t prec, int ta, int tb, int M, int N, int K, const float *A, int lda,
                         long long sA, const float *B, int ldb, long long sB, float beta, float *C, int ldc,
                         long long sC, int batch) {
    cublasComputeType_t ct = CUBLAS_COMPUTE_32F;
    LT_TRY(compute_type(op, prec, &ct));
    cublasHandle_t h;
    LT_TRY(lt_cublas_handle(&h));
    // The handle is shared: reset its math mode so fp32 cannot silently run on
    // TF32 tensor cores; the compute type alone says what may be reduced.
    LT_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    const float alpha = 1.0f;
    cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (batch == 1)
        LT_CUBLAS_CHECK(cublasGemmEx(h, ob, oa, N, M, K, &alpha, B, CUDA_R_32F, ldb, A, CUDA_R_32F, lda, &beta, C,
                                     CUDA_R_32F, ldc, ct, CUBLAS_GEMM_DEFAULT));
    else
        LT_CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, ob, oa, N, M, K, &alpha, B, CUDA_R_32F, ldb, sB, A, CUDA_R_32F,
                                                   lda, sA, &beta, C, CUDA_R_32F, ldc, sC, batch, ct,
                                                   CUBLAS_GEMM_DEFAULT));
    return LT_OK;
}

// ---- matmul ----

typedef lt_mm_geom mm_geom;   // kernels/matmul_geom.h, shared with the CPU

// dst[e] += sum_i part[i*len + e] over i in order (shared b's gradient, summed
// over the batch in double).
__global__ void batch_sum_add(const float *__restrict__ part, int nb, int64_t len, float *__restrict__ dst) {
    LT_GRID_STRIDE(e, len) {
        double s = 0;
        for (int i = 0; i < nb; i++) s += part[(int64_t)i * len + e];
        dst[e] += (float)s;
    }
}

}  // namespace

// in: a [.., M, K] (or [.., K, M]), b [.., K, N] / [K, N] (or [.., N, K]); out: [.., M, N]
extern "C" lt_status lt_cuda_matmul_fwd(lt_node *nd) {
    mm_geom g = lt_mm_geom_of(nd);
    int lda = g.ta ? g.m : g.k, ldb = g.tb ? g.k : g.n;
    return gemm_rm("matmul", nd->iattr[2], g.ta, g.tb, g.m, g.n, g.k, lt_cuda_f32(nd->in[0]), lda, g.sa,
                   lt_cuda_f32(nd->in[1]), ldb, g.sb, 0.0f, lt_cuda_f32(nd->out[0]), g.n, g.sc, g.nb);
}

extern "C" lt_status lt_cuda_matmul_bwd(lt_node *nd) {
    const float *G = nd->out[0]->grad;   // [.., m, n]
    if (!G) return LT_OK;
    mm_geom g = lt_mm_geom_of(nd);
    const int64_t prec = nd->iattr[2];
    const float *A = lt_cuda_f32(nd->in[0]), *B = lt_cuda_f32(nd->in[1]);
    float *dA = nd->in[0]->grad, *dB = nd->in[1]->grad;
    int m = g.m, k = g.k, n = g.n, nb = g.nb;
    int lda = g.ta ? m : k, ldb = g.tb ? k : n;
    if (dA) {
        if (!g.ta) LT_TRY(gemm_rm("matmul", prec, 0, !g.tb, m, k, n, G, n, g.sc, B, ldb, g.sb, 1.0f, dA, k, g.sa, nb));
        else LT_TRY(gemm_rm("matmul", prec, g.tb, 1, k, m, n, B, ldb, g.sb, G, n, g.sc, 1.0f, dA, m, g.sa, nb));
    }
    if (!dB) return LT_OK;
    // dB_i = op(A_i)^T G_i (tb = 0, [k,n]) or G_i^T op(A_i) (tb = 1, [n,k])
    int rows = g.tb ? n : k, cols = g.tb ? k : n;
    if (!g.shared || nb == 1) {
        if (!g.tb) return gemm_rm("matmul", prec, !g.ta, 0, k, n, m, A, lda, g.sa, G, n, g.sc, 1.0f, dB, n, g.sb, nb);
        return gemm_rm("matmul", prec, 1, g.ta, n, k, m, G, n, g.sc, A, lda, g.sa, 1.0f, dB, k, g.sb, nb);
    }
    // Shared b with a transposed a: the batch cannot fold into one GEMM's K
    // (a's batch and row strides differ). Small enough, every batch's product
    // goes to scratch in one batched GEMM and a column pass sums them into dB;
    // otherwise one accumulating GEMM per batch, in batch order.
    long long len = (long long)rows * cols;
    if ((double)len * nb * sizeof(float) > (double)(64 << 20)) {
        for (int i = 0; i < nb; i++) {
            const float *Ai = A + i * g.sa, *Gi = G + i * g.sc;
            if (!g.tb) LT_TRY(gemm_rm("matmul", prec, !g.ta, 0, k, n, m, Ai, lda, 0, Gi, n, 0, 1.0f, dB, n, 0, 1));
            else LT_TRY(gemm_rm("matmul", prec, 1, g.ta, n, k, m, Gi, n, 0, Ai, lda, 0, 1.0f, dB, k, 0, 1));
        }
        return LT_OK;
    }
    float *part = (float *)lt_node_save_data(nd, sizeof(float) * (size_t)len * (size_t)nb);
    if (!part) return lt_last_status();
    if (!g.tb) LT_TRY(gemm_rm("matmul", prec, !g.ta, 0, k, n, m, A, lda, g.sa, G, n, g.sc, 0.0f, part, n, len, nb));
    else LT_TRY(gemm_rm("matmul", prec, 1, g.ta, n, k, m, G, n, g.sc, A, lda, g.sa, 0.0f, part, k, len, nb));
    batch_sum_add<<<lt_cuda_blocks(len, 256), 256, 0, lt_cuda_stream()>>>(part, nb, len, dB);
    LT_LAUNCH_CHECK("matmul batch_sum_add");
    return LT_OK;
}

// ---- linear ----

namespace {

// y [rows, out] = bias broadcast over rows (the fallback when cuBLASLt has no
// bias-epilogue algorithm for the shape).
__global__ void bias_rows(const float *__restrict__ bias, int64_t rows, int out, float *__restrict__ y) {
    LT_GRID_STRIDE(e, rows * out) y[e] = bias[e % out];
}

// Largest power-of-two alignment of p, at most 256 bytes (cuBLASLt's
// heuristic assumes 256 unless told; arena tensors are only 64-byte aligned).
static uint32_t align_of(const void *p) {
    uint32_t a = 256;
    while (a > 4 && (uintptr_t)p % a) a >>= 1;
    return a;
}

// y = x w^T (+ bias) in one cuBLASLt call with the bias epilogue. *done = 0 (and
// LT_OK) when no algorithm fits, for the caller to fall back to cuBLAS.
static lt_status linear_lt(int64_t prec, int rows, int in, int out, const float *x, const float *w, const float *bias,
                           float *y, int *done) {
    *done = 0;
    // cuBLASLt has no alignment preference for the bias vector to filter
    // algorithms by, and its epilogue is reported to fault on a bias aligned to
    // less than 16 bytes: such a bias (never an arena or parameter tensor, both
    // 64-byte aligned) takes the cuBLAS fallback instead.
    if (bias && (uintptr_t)bias % 16) return LT_OK;
    cublasComputeType_t ct = CUBLAS_COMPUTE_32F;
    LT_TRY(compute_type("linear", prec, &ct));
    cublasLtHandle_t lt;
    void *ws;
    size_t ws_bytes;
    LT_TRY(lt_cublaslt_handle(&lt, &ws, &ws_bytes));
    cublasLtMatmulDesc_t desc = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t heur;
    int n_heur = 0;
    cublasStatus_t st;
    // Column-major: y^T [out, rows] = w [out, in] (stored as w^T [in, out], so
    // op T) @ x^T [in, rows] (stored as is). The bias runs along y^T's rows.
    const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
    const cublasLtEpilogue_t epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    const float alpha = 1.0f, beta = 0.0f;
    const uint32_t al_w = align_of(w), al_x = align_of(x), al_y = align_of(y);
#define LT_STEP(call)                                                                                              \
    do {                                                                                                           \
        st = (call);                                                                                               \
        if (st != CUBLAS_STATUS_SUCCESS) goto done_;                                                               \
    } while (0)
    LT_STEP(cublasLtMatmulDescCreate(&desc, ct, CUDA_R_32F));
    LT_STEP(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT));
    LT_STEP(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof opN));
    LT_STEP(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    if (bias) LT_STEP(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    LT_STEP(cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, (uint64_t)in, (uint64_t)out, in));
    LT_STEP(cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, (uint64_t)in, (uint64_t)rows, in));
    LT_STEP(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, (uint64_t)out, (uint64_t)rows, out));
    LT_STEP(cublasLtMatmulPreferenceCreate(&pref));
    LT_STEP(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes,
                                                 sizeof ws_bytes));
    LT_STEP(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_w, sizeof al_w));
    LT_STEP(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_x, sizeof al_x));
    LT_STEP(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_y, sizeof al_y));
    LT_STEP(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_y, sizeof al_y));
    st = cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, lc, lc, pref, 1, &heur, &n_heur);
    if (st != CUBLAS_STATUS_SUCCESS || n_heur < 1) { st = CUBLAS_STATUS_SUCCESS; goto done_; }   // fall back
    st = cublasLtMatmul(lt, desc, &alpha, w, la, x, lb, &beta, y, lc, y, lc, &heur.algo, ws, ws_bytes,
                        lt_cuda_stream());
    // NOT_SUPPORTED is decided before anything is launched: fall back as well.
    if (st == CUBLAS_STATUS_NOT_SUPPORTED) { st = CUBLAS_STATUS_SUCCESS; goto done_; }
    if (st != CUBLAS_STATUS_SUCCESS) goto done_;
    *done = 1;
done_:
#undef LT_STEP
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (lc) cublasLtMatrixLayoutDestroy(lc);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (desc) cublasLtMatmulDescDestroy(desc);
    if (st != CUBLAS_STATUS_SUCCESS)
        return lt_error(LT_ERR_DEVICE, "linear: cuBLASLt failed (rows %d, in %d, out %d): %s", rows, in, out,
                        cublasGetStatusString(st));
    return LT_OK;
}

}  // namespace

// in: x [.., in], w [out, in], bias [out]?; out: y [.., out]
extern "C" lt_status lt_cuda_linear_fwd(lt_node *nd) {
    const lt_tensor *x = nd->in[0], *w = nd->in[1];
    const float *bias = nd->n_in > 2 ? lt_cuda_f32(nd->in[2]) : NULL;
    int in = w->shape[1], out = w->shape[0];
    int rows = (int)(x->numel / in);
    float *Y = lt_cuda_f32(nd->out[0]);
    int done;
    LT_TRY(linear_lt(nd->iattr[0], rows, in, out, lt_cuda_f32(x), lt_cuda_f32(w), bias, Y, &done));
    if (done) return LT_OK;
    if (bias) {
        int64_t total = (int64_t)rows * out;
        bias_rows<<<lt_cuda_blocks(total, 256), 256, 0, lt_cuda_stream()>>>(bias, rows, out, Y);
        LT_LAUNCH_CHECK("linear bias_rows");
    }
    return gemm_rm("linear", nd->iattr[0], 0, 1, rows, out, in, lt_cuda_f32(x), in, 0, lt_cuda_f32(w), in, 0,
                   bias ? 1.0f : 0.0f, Y, out, 0, 1);
}

namespace {

// Column sums of G [rows, n] for the bias gradient, deterministic in two
// stages. Stage 1: block (x: 32 columns, y: 8 row lanes) sums one chunk of rows
// in double into part[chunk, n]; stage 2 sums the chunks in order into db.
#define CS_COLS 32
#define CS_LANES 8

__global__ void colsum_partial(const float *__restrict__ G, int64_t rows, int n, int64_t chunk_rows,
                               double *__restrict__ part) {   // G [rows, n], part [chunks, n]
    __shared__ double sh[CS_LANES][CS_COLS + 1];
    int tx = threadIdx.x, ty = threadIdx.y;
    int64_t j = (int64_t)blockIdx.x * CS_COLS + tx;
    int64_t r0 = (int64_t)blockIdx.y * chunk_rows, r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
    double acc = 0;
    if (j < n)
        for (int64_t r = r0 + ty; r < r1; r += CS_LANES) acc += G[r * n + j];
    sh[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && j < n) {
        double s = 0;
        for (int i = 0; i < CS_LANES; i++) s += sh[i][tx];
        part[(int64_t)blockIdx.y * n + j] = s;
    }
}

__global__ void colsum_finish(const double *__restrict__ part, int chunks, int n, float *__restrict__ db) {
    LT_GRID_STRIDE(j, n) {
        double s = 0;
        for (int c = 0; c < chunks; c++) s += part[(int64_t)c * n + j];
        db[j] += (float)s;
    }
}

// db [n] += column sums of G [rows, n]; scratch from the node.
static lt_status colsum_add(lt_node *nd, const float *G, int64_t rows, int n, float *db) {
    int64_t tiles = (n + CS_COLS - 1) / CS_COLS;
    // ~2048 blocks in all, at least 64 rows per chunk; depends on the shape only,
    // so the summation order (and result) is the same on every run.
    int64_t chunks = (rows + 63) / 64, cap = 2048 / tiles;
    if (cap < 1) cap = 1;
    if (chunks > cap) chunks = cap;
    int64_t chunk_rows = (rows + chunks - 1) / chunks;
    chunks = (rows + chunk_rows - 1) / chunk_rows;
    double *part = (double *)lt_node_save_data(nd, sizeof(double) * (size_t)chunks * (size_t)n);
    if (!part) return lt_last_status();
    cudaStream_t s = lt_cuda_stream();
    colsum_partial<<<dim3((unsigned)tiles, (unsigned)chunks), dim3(CS_COLS, CS_LANES), 0, s>>>(G, rows, n,
                                                                                                chunk_rows, part);
    LT_LAUNCH_CHECK("linear colsum_partial");
    colsum_finish<<<lt_cuda_blocks(n, 256), 256, 0, s>>>(part, (int)chunks, n, db);
    LT_LAUNCH_CHECK("linear colsum_finish");
    return LT_OK;
}

}  // namespace

extern "C" lt_status lt_cuda_linear_bwd(lt_node *nd) {
    const float *G = nd->out[0]->grad;   // [rows, out]
    if (!G) return LT_OK;
    const lt_tensor *x = nd->in[0], *w = nd->in[1];
    const int64_t prec = nd->iattr[0];
    int in = w->shape[1], out = w->shape[0];
    int rows = (int)(x->numel / in);
    if (x->grad)   // dx [rows, in] += G W
        LT_TRY(gemm_rm("linear", prec, 0, 0, rows, in, out, G, out, 0, lt_cuda_f32(w), in, 0, 1.0f, x->grad, in, 0,
                       1));
    if (w->grad)   // dw [out, in] += G^T X
        LT_TRY(gemm_rm("linear", prec, 1, 0, out, in, rows, G, out, 0, lt_cuda_f32(x), in, 0, 1.0f, w->grad, in, 0,
                       1));
    if (nd->n_in > 2 && nd->in[2]->grad) LT_TRY(colsum_add(nd, G, rows, out, nd->in[2]->grad));
    return LT_OK;
}
