// Device memory seam. CPU memory is host malloc; the CUDA backend (built when
// nvcc is present) provides the same calls for device memory.
#ifndef LT_DEVICE_H
#define LT_DEVICE_H

#include <stddef.h>
#include "libtrain/tensor.h"

void *lt_device_alloc(lt_device d, size_t bytes);          // 64-byte aligned on CPU; NULL + error
void lt_device_free(lt_device d, void *p);
lt_status lt_device_memset(lt_device d, void *p, int byte, size_t bytes);
// Copies between host and a device (either may be LT_CPU).
lt_status lt_device_copy(lt_device dst_dev, void *dst, lt_device src_dev, const void *src, size_t bytes);
// Checks a device can be used: LT_CPU always; LT_CUDA needs the backend built and a GPU present.
lt_status lt_device_check(lt_device d);
// dst[i] += src[i], both on device d (n floats).
lt_status lt_device_add_inplace(lt_device d, float *dst, const float *src, int64_t n);
// Waits for queued device work; an asynchronous failure becomes a status naming it.
lt_status lt_device_sync(lt_device d);
// Matmul compute precision on CUDA (cuBLAS compute type); CPU is always fp32.
// Read by builders when a node is made, so a step keeps the mode it was built with.
typedef enum { LT_PREC_FP32 = 0, LT_PREC_TF32 = 1, LT_PREC_BF16 = 2 } lt_precision;
void lt_set_matmul_precision(lt_precision p);
lt_precision lt_matmul_precision(void);
lt_status lt_precision_parse(const char *s, lt_precision *out);   // "fp32" | "tf32" | "bf16"
const char *lt_precision_name(lt_precision p);
// Device memory the caching allocator holds (in use + cached) and the number
// of real allocations it made (cudaMalloc calls); zeros on CPU.
typedef struct { size_t bytes_in_use, bytes_cached; long n_device_allocs; } lt_device_mem_stats;
lt_device_mem_stats lt_device_memory(lt_device d);
// Returns cached, unused device memory to the driver.
void lt_device_release_cache(lt_device d);
// Parses "cpu" / "cuda" (flag values).
lt_status lt_device_parse(const char *s, lt_device *out);

#endif
