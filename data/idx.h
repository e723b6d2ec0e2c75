// IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or plain.
// Layout: magic 0x00 0x00 type ndim, then ndim big-endian uint32 dims, then
// the data, row-major. Only unsigned-byte data (type 0x08) is read: magic
// 0x00000801 for labels [N], 0x00000803 for images [N,H,W].
#ifndef LT_DATA_IDX_H
#define LT_DATA_IDX_H

#include <stdint.h>

#include "libtrain/status.h"

#define LT_IDX_MAGIC_LABELS 0x00000801u
#define LT_IDX_MAGIC_IMAGES 0x00000803u

typedef struct {
    int ndim;
    int64_t dims[3];
    int64_t numel;     // product of dims
    uint8_t *data;     // numel bytes, malloc'd
} lt_idx;

// Reads `path` and checks its magic equals `magic` (one of the above), that
// every dim is at least 1, and that exactly numel data bytes follow. Errors
// name the file and what was wrong.
lt_status lt_idx_read(const char *path, uint32_t magic, lt_idx *out);
void lt_idx_free(lt_idx *x);

#endif
