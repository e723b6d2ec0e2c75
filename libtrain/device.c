#include "libtrain/device.h"

#include <stdlib.h>
#include <string.h>

#ifdef LT_HAVE_CUDA
// kernels/cuda/device.cu
void *lt_cuda_alloc(size_t bytes);
void lt_cuda_free(void *p);
lt_status lt_cuda_memset(void *p, int byte, size_t bytes);
lt_status lt_cuda_copy(void *dst, int dst_on_gpu, const void *src, int src_on_gpu, size_t bytes);
lt_status lt_cuda_check(void);
#endif

__attribute__((unused)) static lt_status no_cuda(void) {
    return lt_error(LT_ERR_UNSUPPORTED, "device cuda: this libtrain was built without the CUDA backend "
                                        "(no nvcc found at configure time)");
}

void *lt_device_alloc(lt_device d, size_t bytes) {
    if (d == LT_CUDA) {
#ifdef LT_HAVE_CUDA
        return lt_cuda_alloc(bytes);
#else
        no_cuda();
        return NULL;
#endif
    }
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64 + (bytes == 0 ? 64 : 0));
    if (!p) lt_error(LT_ERR_OOM, "host allocation of %zu bytes failed", bytes);
    return p;
}

void lt_device_free(lt_device d, void *p) {
    if (!p) return;
#ifdef LT_HAVE_CUDA
    if (d == LT_CUDA) { lt_cuda_free(p); return; }
#endif
    (void)d;
    free(p);
}

lt_status lt_device_memset(lt_device d, void *p, int byte, size_t bytes) {
    if (d == LT_CUDA) {
#ifdef LT_HAVE_CUDA
        return lt_cuda_memset(p, byte, bytes);
#else
        return no_cuda();
#endif
    }
    memset(p, byte, bytes);
    return LT_OK;
}

lt_status lt_device_copy(lt_device dst_dev, void *dst, lt_device src_dev, const void *src, size_t bytes) {
    if (dst_dev == LT_CPU && src_dev == LT_CPU) { memcpy(dst, src, bytes); return LT_OK; }
#ifdef LT_HAVE_CUDA
    return lt_cuda_copy(dst, dst_dev == LT_CUDA, src, src_dev == LT_CUDA, bytes);
#else
    return no_cuda();
#endif
}

lt_status lt_device_check(lt_device d) {
    if (d == LT_CPU) return LT_OK;
#ifdef LT_HAVE_CUDA
    return lt_cuda_check();
#else
    return no_cuda();
#endif
}

lt_status lt_device_parse(const char *s, lt_device *out) {
    if (!strcmp(s, "cpu")) { *out = LT_CPU; return LT_OK; }
    if (!strcmp(s, "cuda")) { *out = LT_CUDA; return LT_OK; }
    return lt_error(LT_ERR_ARG, "unknown device '%s' (expected cpu or cuda)", s);
}
