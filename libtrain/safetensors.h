// safetensors files (Hugging Face's weight format): an 8-byte little-endian
// header length N, N bytes of JSON ({"name": {"dtype", "shape",
// "data_offsets"}, "__metadata__": {string: string}}), then the packed data.
// The writer matches the reference writer's layout; the reader validates the
// whole header against the file before any tensor is read.
#ifndef LT_SAFETENSORS_H
#define LT_SAFETENSORS_H

#include <stdint.h>

#include "libtrain/tensor.h"

// Headers larger than this are rejected (the reference reader's limit).
#define LT_SAFETENSORS_MAX_HEADER 100000000ull

// Writes n tensors (F32 or I32, any device) under the given names, with
// "__metadata__" holding "format": "pt" (unless meta_keys sets "format") and
// the n_meta string pairs. Tensors are stored by descending dtype then name
// (the reference writer's order), the header is padded with spaces to a
// multiple of 8, and the file is replaced atomically. Duplicate or invalid
// names are LT_ERR_ARG.
lt_status lt_safetensors_save(const char *path, int n, const char *const *names, lt_tensor *const *tensors,
                              int n_meta, const char *const *meta_keys, const char *const *meta_vals);

typedef struct lt_safetensors lt_safetensors;

// Opens and validates a file: every problem is LT_ERR_FORMAT (LT_ERR_IO if it
// cannot be read) with a message naming the file and the tensor or key.
lt_status lt_safetensors_open(const char *path, lt_safetensors **out);
void lt_safetensors_close(lt_safetensors *st);

const char *lt_safetensors_path(const lt_safetensors *st);
// Tensors are indexed 0..count-1 in data order.
int lt_safetensors_count(const lt_safetensors *st);
const char *lt_safetensors_name(const lt_safetensors *st, int i);
int lt_safetensors_find(const lt_safetensors *st, const char *name);   // index, or -1
const char *lt_safetensors_dtype(const lt_safetensors *st, int i);     // "F32", "BF16", ...
int lt_safetensors_ndim(const lt_safetensors *st, int i);
const int64_t *lt_safetensors_shape(const lt_safetensors *st, int i);
uint64_t lt_safetensors_nbytes(const lt_safetensors *st, int i);
// "__metadata__" entries: value by key (NULL if absent), or by index.
const char *lt_safetensors_meta(const lt_safetensors *st, const char *key);
int lt_safetensors_meta_count(const lt_safetensors *st);
const char *lt_safetensors_meta_key(const lt_safetensors *st, int i);
const char *lt_safetensors_meta_value(const lt_safetensors *st, int i);

// Copies tensor `name` into dst (on dst's device). dst must have the file's
// shape; an f32 dst takes F32, F16 or BF16 data (converted), an i32 dst takes I32.
lt_status lt_safetensors_read(const lt_safetensors *st, const char *name, lt_tensor *dst);

#endif
