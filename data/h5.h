// Thin helpers over the HDF5 C library. Every failure becomes an lt_status
// whose message names the file and the dataset/attribute; HDF5's own error
// stack is never printed (the helpers switch HDF5's automatic error printing
// off). Not thread-safe: the Debian HDF5 build is serial, so call these from
// one thread at a time. Code that may run while another thread uses HDF5 (an
// open MIL loader reads in the background) holds lt_h5_lock around its calls:
// the MIL readers and the attention-score writer do.
//
// Object paths are relative to the file root ("train/images"); "/" or "" is
// the root group. Writers create missing intermediate groups.
#ifndef LT_DATA_H5_H
#define LT_DATA_H5_H

#include <stddef.h>
#include <stdint.h>

#include "libtrain/status.h"

#define LT_H5_MAX_DIMS 8

// Element types, in memory and on disk. On disk they are little-endian;
// LT_H5_F16 is IEEE half precision (as numpy/h5py write float16).
typedef enum {
    LT_H5_U8, LT_H5_I8, LT_H5_U16, LT_H5_I16, LT_H5_U32, LT_H5_I32,
    LT_H5_U64, LT_H5_I64, LT_H5_F16, LT_H5_F32, LT_H5_F64,
    LT_H5_OTHER,   // strings, compounds, other float formats (only in lt_h5_info)
} lt_h5_type;

const char *lt_h5_type_name(lt_h5_type t);

typedef struct lt_h5 lt_h5;

typedef struct {
    int ndim;                        // 0 for a scalar dataset
    int64_t dims[LT_H5_MAX_DIMS];
    int64_t numel;
    lt_h5_type type;                 // stored element type
} lt_h5_info;

// ---- files ----
// Opens an existing file read-only. Missing/unreadable: LT_ERR_IO; not HDF5: LT_ERR_FORMAT.
lt_status lt_h5_open(const char *path, lt_h5 **out);
// Starts writing `path`: the data goes to a temporary file beside it, which
// lt_h5_commit renames into place, so a crash mid-write leaves no partial file
// under `path`.
lt_status lt_h5_create(const char *path, lt_h5 **out);
// Flushes, closes and renames the temporary file to the final path; frees `f`
// in all cases (on failure the temporary file is removed).
lt_status lt_h5_commit(lt_h5 *f);
// Closes a read handle, or abandons a write handle (its temporary file is removed).
void lt_h5_close(lt_h5 *f);
const char *lt_h5_path(const lt_h5 *f);   // the final path, for messages

// ---- queries ----
int lt_h5_has_dataset(lt_h5 *f, const char *dset);   // 1 if it exists and is a dataset
int lt_h5_has_group(lt_h5 *f, const char *group);    // 1 if it exists and is a group
// Shape and stored type; error naming file and dataset if it is missing.
lt_status lt_h5_info_get(lt_h5 *f, const char *dset, lt_h5_info *info);

// ---- reading (HDF5 converts from the stored type) ----
// Whole dataset into dst, which holds n elements; n must equal the dataset's size.
// `mem` is the element type of dst.
lt_status lt_h5_read(lt_h5 *f, const char *dset, lt_h5_type mem, void *dst, int64_t n);
// Rows [row0, row0+nrows) along dim 0 (a hyperslab); dst holds nrows * (product of dims[1:]).
lt_status lt_h5_read_rows(lt_h5 *f, const char *dset, lt_h5_type mem, int64_t row0, int64_t nrows, void *dst);
// float32 from any integer or float dataset.
lt_status lt_h5_read_f32(lt_h5 *f, const char *dset, float *dst, int64_t n);
lt_status lt_h5_read_rows_f32(lt_h5 *f, const char *dset, int64_t row0, int64_t nrows, float *dst);
// int32 from an integer dataset (float datasets are refused: LT_ERR_DTYPE; values
// outside the int32 range are clamped by HDF5's conversion).
lt_status lt_h5_read_i32(lt_h5 *f, const char *dset, int32_t *dst, int64_t n);
lt_status lt_h5_read_rows_i32(lt_h5 *f, const char *dset, int64_t row0, int64_t nrows, int32_t *dst);

// ---- writing ----
typedef struct {
    lt_h5_type store;   // element type on disk
    int gzip;           // 0: contiguous, uncompressed; 1..9: chunked along dim 0, deflate level
} lt_h5_write_opts;

// Creates a dataset of shape dims[ndim] (not yet written).
lt_status lt_h5_create_dataset(lt_h5 *f, const char *dset, int ndim, const int64_t *dims, lt_h5_write_opts o);
// Writes rows [row0, row0+nrows) of an existing dataset from src (element type `mem`).
lt_status lt_h5_write_rows(lt_h5 *f, const char *dset, lt_h5_type mem, int64_t row0, int64_t nrows, const void *src);
// Creates and writes a whole dataset.
lt_status lt_h5_write(lt_h5 *f, const char *dset, lt_h5_type mem, const void *src, int ndim, const int64_t *dims,
                      lt_h5_write_opts o);
// Creates a group and any missing parents; an existing group is fine.
lt_status lt_h5_create_group(lt_h5 *f, const char *group);

// ---- attributes on a group or dataset (`obj`; "/" for the root) ----
lt_status lt_h5_attr_write_str(lt_h5 *f, const char *obj, const char *name, const char *value);
lt_status lt_h5_attr_write_int(lt_h5 *f, const char *obj, const char *name, int64_t value);
lt_status lt_h5_attr_write_f64(lt_h5 *f, const char *obj, const char *name, double value);
int lt_h5_has_attr(lt_h5 *f, const char *obj, const char *name);
// Fixed- or variable-length string into buf (n bytes, NUL-terminated); longer than buf: LT_ERR_ARG.
lt_status lt_h5_attr_read_str(lt_h5 *f, const char *obj, const char *name, char *buf, size_t n);
lt_status lt_h5_attr_read_int(lt_h5 *f, const char *obj, const char *name, int64_t *value);
lt_status lt_h5_attr_read_f64(lt_h5 *f, const char *obj, const char *name, double *value);

// The process-wide HDF5 lock (recursive: a holder may take it again).
void lt_h5_lock(void);
void lt_h5_unlock(void);

#endif
