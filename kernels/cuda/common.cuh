// Shared by every CUDA kernel file: checked calls, the stream, library handles,
// launch sizing. All work goes on one stream (lt_cuda_stream), so kernels,
// copies and the caching allocator's reuse are ordered without events, and a
// whole step can be captured into a CUDA graph.
#ifndef LT_CUDA_COMMON_CUH
#define LT_CUDA_COMMON_CUH

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "autograd/ctx.h"
#include "libtrain/device.h"
}

// A failed CUDA runtime call returns LT_ERR_DEVICE naming the call and file:line.
#define LT_CUDA_CHECK(call)                                                                        \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return lt_error(LT_ERR_DEVICE, "%s failed at %s:%d: %s", #call, __FILE__, __LINE__,   \
                            cudaGetErrorString(e_));                                               \
    } while (0)

#define LT_CUBLAS_CHECK(call)                                                                      \
    do {                                                                                           \
        cublasStatus_t e_ = (call);                                                                \
        if (e_ != CUBLAS_STATUS_SUCCESS)                                                           \
            return lt_error(LT_ERR_DEVICE, "%s failed at %s:%d: %s", #call, __FILE__, __LINE__,   \
                            cublasGetStatusString(e_));                                            \
    } while (0)

// After a kernel launch: a bad configuration (grid, shared memory) is reported here;
// faults inside the kernel surface at the next synchronizing call (lt_ctx_sync).
#define LT_LAUNCH_CHECK(name)                                                                      \
    do {                                                                                           \
        cudaError_t e_ = cudaGetLastError();                                                       \
        if (e_ != cudaSuccess)                                                                     \
            return lt_error(LT_ERR_DEVICE, "kernel %s launch failed at %s:%d: %s", name, __FILE__, \
                            __LINE__, cudaGetErrorString(e_));                                     \
    } while (0)

extern "C" {
// The stream every libtrain kernel and copy runs on (created on first use).
cudaStream_t lt_cuda_stream(void);
// cuBLAS / cuBLASLt handles bound to that stream, and cuBLASLt's workspace.
lt_status lt_cublas_handle(cublasHandle_t *out);
lt_status lt_cublaslt_handle(cublasLtHandle_t *out, void **workspace, size_t *workspace_bytes);
// Device properties of the current device (SM count, shared memory per block opt-in).
int lt_cuda_sm_count(void);
size_t lt_cuda_smem_optin(void);
}

// Grid size for a grid-stride loop over n elements.
static inline unsigned lt_cuda_blocks(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    int64_t cap = (int64_t)lt_cuda_sm_count() * 32;
    if (cap < 1) cap = 1024;
    return (unsigned)(b < cap ? b : cap);
}

#define LT_GRID_STRIDE(i, n) \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

static inline float *lt_cuda_f32(const lt_tensor *t) { return (float *)t->data; }
static inline int32_t *lt_cuda_i32(const lt_tensor *t) { return (int32_t *)t->data; }

#endif
