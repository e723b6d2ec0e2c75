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
// Parses "cpu" / "cuda" (flag values).
lt_status lt_device_parse(const char *s, lt_device *out);

#endif
