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
lt_status lt_cuda_sync(void);
lt_status lt_cuda_add_inplace(float *dst, const float *src, int64_t n);
void lt_cuda_mem_stats(size_t *in_use, size_t *cached, long *n_allocs);
void lt_cuda_release_cache(void);
#endif

__attribute__((unused)) static lt_status no_cuda(void) {
    return lt_error(LT_ERR_UNSUPPORTED, "device cuda: this libtrain was built without the CUDA backend "
                                        "(no nvcc found at configure time)");
}

void *lt_device_alloc(lt_device d, size_t bytes) {
    if (d == LT_CUDA) {
#ifdef LT_HAVE_CUDA
        static int gpu_ok;   // checked once: the runtime's own message for "no driver" misleads
        if (!gpu_ok) {
            if (lt_cuda_check() != LT_OK) return NULL;
            gpu_ok = 1;
        }
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

lt_status lt_device_add_inplace(lt_device d, float *dst, const float *src, int64_t n) {
    if (d == LT_CPU) {
        for (int64_t i = 0; i < n; i++) dst[i] += src[i];
        return LT_OK;
    }
#ifdef LT_HAVE_CUDA
    return lt_cuda_add_inplace(dst, src, n);
#else
    return no_cuda();
#endif
}

lt_status lt_device_sync(lt_device d) {
    if (d == LT_CPU) return LT_OK;
#ifdef LT_HAVE_CUDA
    return lt_cuda_sync();
#else
    return no_cuda();
#endif
}

lt_device_mem_stats lt_device_memory(lt_device d) {
    lt_device_mem_stats m = {0, 0, 0};
#ifdef LT_HAVE_CUDA
    if (d == LT_CUDA) lt_cuda_mem_stats(&m.bytes_in_use, &m.bytes_cached, &m.n_device_allocs);
#endif
    (void)d;
    return m;
}

void lt_device_release_cache(lt_device d) {
#ifdef LT_HAVE_CUDA
    if (d == LT_CUDA) lt_cuda_release_cache();
#endif
    (void)d;
}

// Process-wide, like torch.backends.cuda.matmul.allow_tf32: set it once at start-up.
static lt_precision matmul_prec = LT_PREC_FP32;
void lt_set_matmul_precision(lt_precision p) { matmul_prec = p; }
lt_precision lt_matmul_precision(void) { return matmul_prec; }
const char *lt_precision_name(lt_precision p) {
    return p == LT_PREC_TF32 ? "tf32" : p == LT_PREC_BF16 ? "bf16" : "fp32";
}
lt_status lt_precision_parse(const char *s, lt_precision *out) {
    if (!strcmp(s, "fp32")) { *out = LT_PREC_FP32; return LT_OK; }
    if (!strcmp(s, "tf32")) { *out = LT_PREC_TF32; return LT_OK; }
    if (!strcmp(s, "bf16")) { *out = LT_PREC_BF16; return LT_OK; }
    return lt_error(LT_ERR_ARG, "unknown precision '%s' (expected fp32, tf32 or bf16)", s);
}

lt_status lt_device_parse(const char *s, lt_device *out) {
    if (!strcmp(s, "cpu")) { *out = LT_CPU; return LT_OK; }
    if (!strcmp(s, "cuda")) { *out = LT_CUDA; return LT_OK; }
    return lt_error(LT_ERR_ARG, "unknown device '%s' (expected cpu or cuda)", s);
}
