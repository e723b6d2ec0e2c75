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
extern "C" lt_status lt_cuda_index_faults(void);       // index.cu: out-of-range indices seen by kernels

extern "C" lt_status lt_cuda_check(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0)
        return lt_error(LT_ERR_DEVICE, "device cuda: no usable GPU (%s)",
                        e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount found 0 devices");
    return LT_OK;
}

extern "C" cudaStream_t lt_cuda_stream(void) {
    if (!g_stream) {
        // Non-blocking: no implicit sync with the legacy default stream, which
        // CUDA-graph capture of a step requires.
        if (cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking) != cudaSuccess) g_stream = 0;
    }
    return g_stream;
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

extern "C" lt_status lt_cublas_handle(cublasHandle_t *out) {
    if (!g_cublas) {
        LT_CUBLAS_CHECK(cublasCreate(&g_cublas));
        LT_CUBLAS_CHECK(cublasSetStream(g_cublas, lt_cuda_stream()));
        // Scalars (alpha, beta) come from the host.
        LT_CUBLAS_CHECK(cublasSetPointerMode(g_cublas, CUBLAS_POINTER_MODE_HOST));
        // A workspace of our own: cuBLAS then never allocates during a call,
        // which CUDA-graph capture requires.
        void *ws = lt_cuda_cache_alloc(g_lt_workspace_bytes);
        if (!ws) return lt_last_status();
        LT_CUBLAS_CHECK(cublasSetWorkspace(g_cublas, ws, g_lt_workspace_bytes));
    }
    *out = g_cublas;
    return LT_OK;
}

extern "C" lt_status lt_cublaslt_handle(cublasLtHandle_t *out, void **workspace, size_t *workspace_bytes) {
    if (!g_cublaslt) {
        LT_CUBLAS_CHECK(cublasLtCreate(&g_cublaslt));
        g_lt_workspace = lt_cuda_cache_alloc(g_lt_workspace_bytes);
        if (!g_lt_workspace) return lt_last_status();
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
    return lt_cuda_index_faults();
}
