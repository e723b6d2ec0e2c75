// CUDA device memory and the CUDA backend's op table. Every call is checked;
// a failure becomes an lt_status with the call and file:line, never an abort.
#include <cuda_runtime.h>

extern "C" {
#include "autograd/op.h"
}

#define LT_CUDA_CHECK(call)                                                                        \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return lt_error(LT_ERR_DEVICE, "%s failed at %s:%d: %s", #call, __FILE__, __LINE__,   \
                            cudaGetErrorString(e_));                                               \
    } while (0)

extern "C" lt_status lt_cuda_check(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0)
        return lt_error(LT_ERR_DEVICE, "device cuda: no usable GPU (%s)",
                        e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount found 0 devices");
    return LT_OK;
}

extern "C" void *lt_cuda_alloc(size_t bytes) {
    void *p = nullptr;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 64);
    if (e != cudaSuccess) {
        lt_error(LT_ERR_OOM, "cudaMalloc(%zu) failed at %s:%d: %s", bytes, __FILE__, __LINE__, cudaGetErrorString(e));
        return nullptr;
    }
    return p;
}

extern "C" void lt_cuda_free(void *p) { cudaFree(p); }

extern "C" lt_status lt_cuda_memset(void *p, int byte, size_t bytes) {
    LT_CUDA_CHECK(cudaMemset(p, byte, bytes));
    return LT_OK;
}

extern "C" lt_status lt_cuda_copy(void *dst, int dst_on_gpu, const void *src, int src_on_gpu, size_t bytes) {
    cudaMemcpyKind k = dst_on_gpu ? (src_on_gpu ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                  : (src_on_gpu ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
    LT_CUDA_CHECK(cudaMemcpy(dst, src, bytes, k));
    return LT_OK;
}

// The CUDA op table. Kernels land in kernels/cuda/ with the CUDA issue; until
// an op has one, its entry is empty and using it on cuda is a clear
// LT_ERR_UNSUPPORTED naming the op.
extern "C" const lt_backend lt_backend_cuda = {"cuda", {}};
