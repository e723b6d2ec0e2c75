// The CUDA runtime seam: device checks, the stream, library handles, copies.
#include "kernels/cuda/common.cuh"

static cudaStream_t g_stream;
static cublasHandle_t g_cublas;
static cublasLtHandle_t g_cublaslt;
static void *g_lt_workspace;
static const size_t g_lt_workspace_bytes = (size_t)32 << 20;   // cuBLASLt's recommendation for Hopper
static int g_sm_count;
static size_t g_smem_optin;

extern "C" void *lt_cuda_cache_alloc(size_t bytes);   // alloc.cu
extern "C" void lt_cuda_cache_free(void *p);          // alloc.cu (NULL is a no-op)
extern "C" lt_status lt_cuda_index_faults(void);       // index.cu: out-of-range indices seen by kernels
extern "C" lt_status lt_cuda_attn_faults(void);        // attention_check.cu: bad key_lens / block_mask
extern "C" lt_status lt_cuda_ce_faults(void);          // cross_entropy.cu: out-of-range targets

// Created once, on first use. Non-blocking: no implicit sync with the legacy
// default stream, which CUDA-graph capture of a step requires. Tried once only:
// if creation fails, everything stays on the legacy stream (still one ordered
// stream, never work split across two), and lt_cuda_check reports the failure.
static cudaError_t g_stream_err = cudaErrorNotReady;   // cudaErrorNotReady: not tried yet

extern "C" cudaStream_t lt_cuda_stream(void) {
    if (g_stream_err == cudaErrorNotReady) {
        g_stream_err = cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking);
        if (g_stream_err != cudaSuccess) {
            g_stream = 0;
            cudaGetLastError();
        }
    }
    return g_stream;
}

extern "C" lt_status lt_cuda_check(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0)
        return lt_error(LT_ERR_DEVICE, "device cuda: no usable GPU (%s)",
                        e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount found 0 devices");
    lt_cuda_stream();
    if (g_stream_err != cudaSuccess)
        return lt_error(LT_ERR_DEVICE, "device cuda: cannot create the libtrain stream (%s)",
                        cudaGetErrorString(g_stream_err));
    return LT_OK;
}

static void props(void) {
    if (g_sm_count) return;
    int dev = 0, v = 0;
    cudaGetDevice(&dev);
    if (cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) == cudaSuccess) g_sm_count = v;
    if (cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) == cudaSuccess)
        g_smem_optin = (size_t)v;
}

extern "C" int lt_cuda_sm_count(void) { props(); return g_sm_count ? g_sm_count : 1; }
extern "C" size_t lt_cuda_smem_optin(void) { props(); return g_smem_optin ? g_smem_optin : 48 * 1024; }

// Stream, pointer mode and workspace of a new cuBLAS handle. *ws is set as soon
// as it is allocated, so a failure after that can give it back.
static lt_status cublas_setup(cublasHandle_t h, void **ws) {
    LT_CUBLAS_CHECK(cublasSetStream(h, lt_cuda_stream()));
    // Scalars (alpha, beta) come from the host.
    LT_CUBLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
    // A workspace of our own: cuBLAS then never allocates during a call,
    // which CUDA-graph capture requires. (Set after the stream: cublasSetStream
    // resets the workspace to the default pool.)
    *ws = lt_cuda_cache_alloc(g_lt_workspace_bytes);
    if (!*ws) return lt_last_status();
    LT_CUBLAS_CHECK(cublasSetWorkspace(h, *ws, g_lt_workspace_bytes));
    return LT_OK;
}

// Handles are published only once fully set up: a failed set-up is retried by
// the next call instead of leaving a handle without its stream or workspace.
extern "C" lt_status lt_cublas_handle(cublasHandle_t *out) {
    if (!g_cublas) {
        cublasHandle_t h;
        LT_CUBLAS_CHECK(cublasCreate(&h));
        void *ws = nullptr;
        lt_status s = cublas_setup(h, &ws);
        if (s != LT_OK) {
            (void)cublasDestroy(h);
            lt_cuda_cache_free(ws);
            return s;
        }
        g_cublas = h;
    }
    *out = g_cublas;
    return LT_OK;
}

extern "C" lt_status lt_cublaslt_handle(cublasLtHandle_t *out, void **workspace, size_t *workspace_bytes) {
    if (!g_cublaslt) {
        cublasLtHandle_t h;
        LT_CUBLAS_CHECK(cublasLtCreate(&h));
        void *ws = lt_cuda_cache_alloc(g_lt_workspace_bytes);
        if (!ws) {
            (void)cublasLtDestroy(h);
            return lt_last_status();
        }
        g_lt_workspace = ws;
        g_cublaslt = h;
    }
    *out = g_cublaslt;
    *workspace = g_lt_workspace;
    *workspace_bytes = g_lt_workspace_bytes;
    return LT_OK;
}

extern "C" lt_status lt_cuda_memset(void *p, int byte, size_t bytes) {
    LT_CUDA_CHECK(cudaMemsetAsync(p, byte, bytes, lt_cuda_stream()));
    return LT_OK;
}

extern "C" lt_status lt_cuda_copy(void *dst, int dst_on_gpu, const void *src, int src_on_gpu, size_t bytes) {
    cudaMemcpyKind k = dst_on_gpu ? (src_on_gpu ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                  : (src_on_gpu ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
    cudaStream_t s = lt_cuda_stream();
    LT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, k, s));
    // A copy to the host, or from pageable host memory the caller may reuse at
    // once, completes before returning; device-to-device copies stay queued.
    if (k != cudaMemcpyDeviceToDevice) LT_CUDA_CHECK(cudaStreamSynchronize(s));
    return LT_OK;
}

extern "C" lt_status lt_cuda_sync(void) {
    LT_CUDA_CHECK(cudaStreamSynchronize(lt_cuda_stream()));
    LT_CUDA_CHECK(cudaGetLastError());
    // Bad indices / targets seen by kernels since the last sync. One report per
    // sync: a second record stays set and is reported by the next one.
    LT_TRY(lt_cuda_index_faults());
    LT_TRY(lt_cuda_ce_faults());
    return lt_cuda_attn_faults();
}

// dst[i] += src[i] on the stream (backward's seed gradient into an existing grad).
static __global__ void add_inplace_k(float *__restrict__ dst, const float *__restrict__ src, int64_t n) {
    LT_GRID_STRIDE(i, n) dst[i] += src[i];
}

extern "C" lt_status lt_cuda_add_inplace(float *dst, const float *src, int64_t n) {
    if (n <= 0) return LT_OK;
    add_inplace_k<<<lt_cuda_blocks(n, 256), 256, 0, lt_cuda_stream()>>>(dst, src, n);
    LT_LAUNCH_CHECK("add_inplace");
    return LT_OK;
}
