#include "data/h5.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct lt_h5 {
    hid_t id;
    int writing;
    char *path;   // final path
    char *tmp;    // temporary file while writing, else NULL
};

// HDF5 prints its error stack to stderr by default; we report through lt_status instead.
static void quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static herr_t detail_cb(unsigned n, const H5E_error2_t *e, void *ud) {
    char *buf = ud;
    if (!buf[0] && e->desc && e->desc[0]) snprintf(buf, 200, ": %s", e->desc);
    return 0;
}

// The most specific message on HDF5's error stack as ": message", or "".
static const char *detail(char *buf /* >= 200 */) {
    buf[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, detail_cb, buf);
    return buf;
}

static const char *root_if_empty(const char *obj) { return (!obj || !obj[0]) ? "/" : obj; }

const char *lt_h5_type_name(lt_h5_type t) {
    static const char *names[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32",
                                  "uint64", "int64", "float16", "float32", "float64", "other"};
    return (t >= 0 && t <= LT_H5_OTHER) ? names[t] : "?";
}

// A new type id for `t` (the caller closes it): native layout in memory, little-endian on disk.
static hid_t type_new(lt_h5_type t, int disk) {
    hid_t base;
    switch (t) {
    case LT_H5_U8: base = disk ? H5T_STD_U8LE : H5T_NATIVE_UINT8; break;
    case LT_H5_I8: base = disk ? H5T_STD_I8LE : H5T_NATIVE_INT8; break;
    case LT_H5_U16: base = disk ? H5T_STD_U16LE : H5T_NATIVE_UINT16; break;
    case LT_H5_I16: base = disk ? H5T_STD_I16LE : H5T_NATIVE_INT16; break;
    case LT_H5_U32: base = disk ? H5T_STD_U32LE : H5T_NATIVE_UINT32; break;
    case LT_H5_I32: base = disk ? H5T_STD_I32LE : H5T_NATIVE_INT32; break;
    case LT_H5_U64: base = disk ? H5T_STD_U64LE : H5T_NATIVE_UINT64; break;
    case LT_H5_I64: base = disk ? H5T_STD_I64LE : H5T_NATIVE_INT64; break;
    case LT_H5_F32: base = disk ? H5T_IEEE_F32LE : H5T_NATIVE_FLOAT; break;
    case LT_H5_F64: base = disk ? H5T_IEEE_F64LE : H5T_NATIVE_DOUBLE; break;
    case LT_H5_F16: {
        // HDF5 1.10 has no predefined half type; this is the layout numpy/h5py use.
        hid_t h = H5Tcopy(disk ? H5T_IEEE_F32LE : H5T_NATIVE_FLOAT);
        if (h < 0) return h;
        if (H5Tset_fields(h, 15, 10, 5, 0, 10) < 0 || H5Tset_size(h, 2) < 0 || H5Tset_ebias(h, 15) < 0) {
            H5Tclose(h);
            return -1;
        }
        return h;
    }
    default: return -1;
    }
    return H5Tcopy(base);
}

static size_t type_size(lt_h5_type t) {
    static const size_t sz[] = {1, 1, 2, 2, 4, 4, 8, 8, 2, 4, 8, 0};
    return (t >= 0 && t <= LT_H5_OTHER) ? sz[t] : 0;
}

static lt_h5_type classify(hid_t ft) {
    H5T_class_t cls = H5Tget_class(ft);
    size_t size = H5Tget_size(ft);
    if (cls == H5T_INTEGER) {
        int sgn = H5Tget_sign(ft) == H5T_SGN_2;
        switch (size) {
        case 1: return sgn ? LT_H5_I8 : LT_H5_U8;
        case 2: return sgn ? LT_H5_I16 : LT_H5_U16;
        case 4: return sgn ? LT_H5_I32 : LT_H5_U32;
        case 8: return sgn ? LT_H5_I64 : LT_H5_U64;
        default: return LT_H5_OTHER;
        }
    }
    if (cls == H5T_FLOAT) {
        size_t spos, epos, esize, mpos, msize;
        if (H5Tget_fields(ft, &spos, &epos, &esize, &mpos, &msize) < 0) return LT_H5_OTHER;
        if (size == 2 && esize == 5 && msize == 10) return LT_H5_F16;
        if (size == 4 && esize == 8 && msize == 23) return LT_H5_F32;
        if (size == 8 && esize == 11 && msize == 52) return LT_H5_F64;
    }
    return LT_H5_OTHER;
}

const char *lt_h5_path(const lt_h5 *f) { return f ? f->path : "(null)"; }

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static hid_t fapl_new(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return fapl;
    // Close every object still open with the file, so a failing helper cannot keep it open.
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
#if H5_VERSION_GE(1, 10, 7)
    // Keep locking, but do not fail on file systems that do not support it (NFS, Lustre).
    H5Pset_file_locking(fapl, 1, 1);
#endif
    return fapl;
}

static pthread_mutex_t h5_mutex;
static pthread_once_t h5_mutex_once = PTHREAD_ONCE_INIT;
static void h5_mutex_init(void) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&h5_mutex, &a);
    pthread_mutexattr_destroy(&a);
}
void lt_h5_lock(void) { pthread_once(&h5_mutex_once, h5_mutex_init); pthread_mutex_lock(&h5_mutex); }
void lt_h5_unlock(void) { pthread_mutex_unlock(&h5_mutex); }

lt_status lt_h5_open(const char *path, lt_h5 **out) {
    *out = NULL;
    quiet();
    if (!path || !path[0]) return lt_error(LT_ERR_ARG, "lt_h5_open: empty file name");
    struct stat st;
    if (stat(path, &st) != 0) return lt_error(LT_ERR_IO, "lt_h5_open: cannot open '%s': %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return lt_error(LT_ERR_IO, "lt_h5_open: '%s' is not a regular file", path);
    if (access(path, R_OK) != 0) return lt_error(LT_ERR_IO, "lt_h5_open: cannot read '%s': %s", path, strerror(errno));
    char d[200];
    htri_t is = H5Fis_hdf5(path);
    if (is == 0) return lt_error(LT_ERR_FORMAT, "lt_h5_open: '%s' is not an HDF5 file (no HDF5 signature)", path);
    if (is < 0) return lt_error(LT_ERR_FORMAT, "lt_h5_open: cannot read '%s' as HDF5%s", path, detail(d));
    hid_t fapl = fapl_new();
    hid_t id = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (id < 0) detail(d);
    H5Pclose(fapl);
    if (id < 0) return lt_error(LT_ERR_FORMAT, "lt_h5_open: cannot open HDF5 file '%s'%s", path, d);
    lt_h5 *f = calloc(1, sizeof *f);
    if (!f || !(f->path = dupstr(path))) {
        free(f);
        H5Fclose(id);
        return lt_error(LT_ERR_OOM, "lt_h5_open: out of memory");
    }
    f->id = id;
    *out = f;
    return LT_OK;
}

lt_status lt_h5_create(const char *path, lt_h5 **out) {
    static unsigned counter;
    *out = NULL;
    quiet();
    if (!path || !path[0]) return lt_error(LT_ERR_ARG, "lt_h5_create: empty file name");
    lt_h5 *f = calloc(1, sizeof *f);
    size_t n = strlen(path) + 64;
    if (!f || !(f->path = dupstr(path)) || !(f->tmp = malloc(n))) {
        if (f) { free(f->path); free(f); }
        return lt_error(LT_ERR_OOM, "lt_h5_create: out of memory");
    }
    snprintf(f->tmp, n, "%s.tmp.%ld.%u", path, (long)getpid(), counter++);
    // Open it ourselves first: errno says why a file cannot be created better than HDF5 does.
    int fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        lt_status s = lt_error(LT_ERR_IO, "lt_h5_create: cannot create '%s' (temporary file for '%s'): %s", f->tmp,
                               path, strerror(errno));
        free(f->tmp); free(f->path); free(f);
        return s;
    }
    close(fd);
    hid_t fapl = fapl_new();
    char d[200];
    f->id = H5Fcreate(f->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (f->id < 0) detail(d);
    H5Pclose(fapl);
    if (f->id < 0) {
        lt_status s = lt_error(LT_ERR_IO, "lt_h5_create: cannot create HDF5 file '%s' (for '%s')%s", f->tmp, path, d);
        unlink(f->tmp);
        free(f->tmp); free(f->path); free(f);
        return s;
    }
    f->writing = 1;
    *out = f;
    return LT_OK;
}

static void h5_free(lt_h5 *f) {
    free(f->tmp);
    free(f->path);
    free(f);
}

static void fsync_path(const char *path, int flags) {
    int fd = open(path, flags);
    if (fd >= 0) { fsync(fd); close(fd); }
}

lt_status lt_h5_commit(lt_h5 *f) {
    if (!f) return lt_error(LT_ERR_ARG, "lt_h5_commit: no file");
    quiet();
    if (!f->writing) {
        lt_status s = lt_error(LT_ERR_STATE, "lt_h5_commit: '%s' was opened for reading", f->path);
        lt_h5_close(f);
        return s;
    }
    char d[200];
    herr_t e = H5Fflush(f->id, H5F_SCOPE_GLOBAL);
    if (e >= 0) e = H5Fclose(f->id);
    else H5Fclose(f->id);
    f->id = -1;
    if (e < 0) {
        lt_status s = lt_error(LT_ERR_IO, "lt_h5_commit: writing '%s' failed%s", f->tmp, detail(d));
        unlink(f->tmp);
        h5_free(f);
        return s;
    }
    fsync_path(f->tmp, O_RDONLY);
    if (rename(f->tmp, f->path) != 0) {
        lt_status s = lt_error(LT_ERR_IO, "lt_h5_commit: cannot rename '%s' to '%s': %s", f->tmp, f->path,
                               strerror(errno));
        unlink(f->tmp);
        h5_free(f);
        return s;
    }
    // Make the rename itself durable.
    char *dir = dupstr(f->path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        if (slash) { if (slash == dir) slash[1] = 0; else *slash = 0; }
        fsync_path(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
        free(dir);
    }
    h5_free(f);
    return LT_OK;
}

void lt_h5_close(lt_h5 *f) {
    if (!f) return;
    quiet();
    if (f->id >= 0) H5Fclose(f->id);
    if (f->writing && f->tmp) unlink(f->tmp);
    h5_free(f);
}

// ---- queries ----

static H5I_type_t obj_kind(lt_h5 *f, const char *path) {
    quiet();
    hid_t o = H5Oopen(f->id, root_if_empty(path), H5P_DEFAULT);
    if (o < 0) return H5I_BADID;
    H5I_type_t k = H5Iget_type(o);
    H5Oclose(o);
    return k;
}

int lt_h5_has_dataset(lt_h5 *f, const char *dset) { return obj_kind(f, dset) == H5I_DATASET; }
int lt_h5_has_group(lt_h5 *f, const char *group) { return obj_kind(f, group) == H5I_GROUP; }

// Opens a dataset, or records an error naming `fn`, the file and the dataset.
static hid_t dset_open(lt_h5 *f, const char *dset, const char *fn) {
    quiet();
    if (!dset || !dset[0]) { lt_error(LT_ERR_ARG, "%s: empty dataset name for '%s'", fn, f->path); return -1; }
    hid_t d = H5Dopen2(f->id, dset, H5P_DEFAULT);
    if (d >= 0) return d;
    if (obj_kind(f, dset) == H5I_GROUP)
        lt_error(LT_ERR_FORMAT, "%s: '%s' in file '%s' is a group, not a dataset", fn, dset, f->path);
    else
        lt_error(LT_ERR_FORMAT, "%s: file '%s' has no dataset '%s'", fn, f->path, dset);
    return -1;
}

static void dims_str(int ndim, const int64_t *dims, char *buf /* >= 200 */) {
    int k = snprintf(buf, 200, "[");
    for (int i = 0; i < ndim && k < 180; i++) k += snprintf(buf + k, 200 - k, "%s%lld", i ? "," : "", (long long)dims[i]);
    snprintf(buf + k, 200 - k, "]");
}

// Shape and type of an open dataset.
static lt_status dset_info(lt_h5 *f, hid_t d, const char *dset, lt_h5_info *info, const char *fn) {
    memset(info, 0, sizeof *info);
    hid_t sp = H5Dget_space(d), ft = H5Dget_type(d);
    int nd = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    lt_status s = LT_OK;
    if (sp < 0 || ft < 0 || nd < 0) {
        s = lt_error(LT_ERR_FORMAT, "%s: cannot read the shape of dataset '%s' in '%s'", fn, dset, f->path);
    } else if (nd > LT_H5_MAX_DIMS) {
        s = lt_error(LT_ERR_SHAPE, "%s: dataset '%s' in '%s' has %d dims (at most %d supported)", fn, dset, f->path,
                     nd, LT_H5_MAX_DIMS);
    } else {
        hsize_t hd[LT_H5_MAX_DIMS];
        H5Sget_simple_extent_dims(sp, hd, NULL);
        info->ndim = nd;
        info->numel = 1;
        for (int i = 0; i < nd; i++) { info->dims[i] = (int64_t)hd[i]; info->numel *= info->dims[i]; }
        info->type = classify(ft);
    }
    if (sp >= 0) H5Sclose(sp);
    if (ft >= 0) H5Tclose(ft);
    return s;
}

lt_status lt_h5_info_get(lt_h5 *f, const char *dset, lt_h5_info *info) {
    hid_t d = dset_open(f, dset, "lt_h5_info_get");
    if (d < 0) return lt_last_status();
    lt_status s = dset_info(f, d, dset, info, "lt_h5_info_get");
    H5Dclose(d);
    return s;
}

// ---- reading and writing ----

static int is_int_type(lt_h5_type t) { return t <= LT_H5_I64; }
static int is_float_type(lt_h5_type t) { return t >= LT_H5_F16 && t <= LT_H5_F64; }

// Moves data between `buf` and a dataset: all of it (whole: n elements expected) or rows [row0,row0+nrows).
static lt_status xfer(lt_h5 *f, const char *dset, lt_h5_type mem, int whole, int64_t row0, int64_t nrows, void *buf,
                      int64_t n, int write, const char *fn) {
    if (!f) return lt_error(LT_ERR_ARG, "%s: no file", fn);
    if (mem < 0 || mem >= LT_H5_OTHER) return lt_error(LT_ERR_ARG, "%s: bad memory type %d", fn, (int)mem);
    if (write && !f->writing)
        return lt_error(LT_ERR_STATE, "%s: '%s' is open read-only (dataset '%s')", fn, f->path, dset);
    hid_t d = dset_open(f, dset, fn);
    if (d < 0) return lt_last_status();
    hid_t fsp = -1, msp = -1, mt = -1;
    lt_h5_info info;
    char shp[200], det[200];
    lt_status s = dset_info(f, d, dset, &info, fn);
    if (s != LT_OK) goto done;
    dims_str(info.ndim, info.dims, shp);
    if (!write && is_float_type(info.type) == 0 && is_int_type(info.type) == 0) {
        s = lt_error(LT_ERR_DTYPE, "%s: dataset '%s' in '%s' is not numeric (cannot read it as %s)", fn, dset, f->path,
                     lt_h5_type_name(mem));
        goto done;
    }
    if (!write && is_int_type(mem) && !is_int_type(info.type)) {
        s = lt_error(LT_ERR_DTYPE, "%s: dataset '%s' in '%s' holds %s, expected integers", fn, dset, f->path,
                     lt_h5_type_name(info.type));
        goto done;
    }
    int64_t count;
    fsp = H5Dget_space(d);
    if (whole) {
        if (info.numel != n) {
            s = lt_error(LT_ERR_SHAPE, "%s: dataset '%s' in '%s' has shape %s (%lld elements), expected %lld elements",
                         fn, dset, f->path, shp, (long long)info.numel, (long long)n);
            goto done;
        }
        count = n;
    } else {
        if (info.ndim < 1) {
            s = lt_error(LT_ERR_SHAPE, "%s: dataset '%s' in '%s' is a scalar; it has no rows", fn, dset, f->path);
            goto done;
        }
        if (row0 < 0 || nrows < 0 || row0 + nrows > info.dims[0]) {
            s = lt_error(LT_ERR_SHAPE, "%s: rows [%lld,%lld) out of range for dataset '%s' in '%s' of shape %s", fn,
                         (long long)row0, (long long)(row0 + nrows), dset, f->path, shp);
            goto done;
        }
        count = info.dims[0] ? info.numel / info.dims[0] * nrows : 0;
        hsize_t start[LT_H5_MAX_DIMS] = {0}, cnt[LT_H5_MAX_DIMS];
        start[0] = (hsize_t)row0;
        cnt[0] = (hsize_t)nrows;
        for (int i = 1; i < info.ndim; i++) cnt[i] = (hsize_t)info.dims[i];
        if (count > 0 && H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, cnt, NULL) < 0) {
            s = lt_error(LT_ERR_FORMAT, "%s: cannot select rows of dataset '%s' in '%s'%s", fn, dset, f->path,
                         detail(det));
            goto done;
        }
    }
    if (count == 0) goto done;
    hsize_t mcount = (hsize_t)count;
    msp = H5Screate_simple(1, &mcount, NULL);
    mt = type_new(mem, 0);
    herr_t e = write ? H5Dwrite(d, mt, msp, whole ? H5S_ALL : fsp, H5P_DEFAULT, buf)
                     : H5Dread(d, mt, msp, whole ? H5S_ALL : fsp, H5P_DEFAULT, buf);
    if (e < 0)
        s = lt_error(LT_ERR_IO, "%s: %s dataset '%s' in '%s' (shape %s, %s as %s) failed%s", fn,
                     write ? "writing" : "reading", dset, f->path, shp, lt_h5_type_name(info.type),
                     lt_h5_type_name(mem), detail(det));
done:
    if (mt >= 0) H5Tclose(mt);
    if (msp >= 0) H5Sclose(msp);
    if (fsp >= 0) H5Sclose(fsp);
    H5Dclose(d);
    return s;
}

lt_status lt_h5_read(lt_h5 *f, const char *dset, lt_h5_type mem, void *dst, int64_t n) {
    return xfer(f, dset, mem, 1, 0, 0, dst, n, 0, "lt_h5_read");
}
lt_status lt_h5_read_rows(lt_h5 *f, const char *dset, lt_h5_type mem, int64_t row0, int64_t nrows, void *dst) {
    return xfer(f, dset, mem, 0, row0, nrows, dst, 0, 0, "lt_h5_read_rows");
}
lt_status lt_h5_read_f32(lt_h5 *f, const char *dset, float *dst, int64_t n) {
    return xfer(f, dset, LT_H5_F32, 1, 0, 0, dst, n, 0, "lt_h5_read_f32");
}
lt_status lt_h5_read_rows_f32(lt_h5 *f, const char *dset, int64_t row0, int64_t nrows, float *dst) {
    return xfer(f, dset, LT_H5_F32, 0, row0, nrows, dst, 0, 0, "lt_h5_read_rows_f32");
}
lt_status lt_h5_read_i32(lt_h5 *f, const char *dset, int32_t *dst, int64_t n) {
    return xfer(f, dset, LT_H5_I32, 1, 0, 0, dst, n, 0, "lt_h5_read_i32");
}
lt_status lt_h5_read_rows_i32(lt_h5 *f, const char *dset, int64_t row0, int64_t nrows, int32_t *dst) {
    return xfer(f, dset, LT_H5_I32, 0, row0, nrows, dst, 0, 0, "lt_h5_read_rows_i32");
}
lt_status lt_h5_write_rows(lt_h5 *f, const char *dset, lt_h5_type mem, int64_t row0, int64_t nrows, const void *src) {
    return xfer(f, dset, mem, 0, row0, nrows, (void *)src, 0, 1, "lt_h5_write_rows");
}

static hid_t lcpl_new(void) {
    hid_t p = H5Pcreate(H5P_LINK_CREATE);
    if (p >= 0) H5Pset_create_intermediate_group(p, 1);
    return p;
}

lt_status lt_h5_create_dataset(lt_h5 *f, const char *dset, int ndim, const int64_t *dims, lt_h5_write_opts o) {
    const char *fn = "lt_h5_create_dataset";
    quiet();
    if (!f) return lt_error(LT_ERR_ARG, "%s: no file", fn);
    if (!dset || !dset[0]) return lt_error(LT_ERR_ARG, "%s: empty dataset name for '%s'", fn, f->path);
    if (!f->writing) return lt_error(LT_ERR_STATE, "%s: '%s' is open read-only (dataset '%s')", fn, f->path, dset);
    if (ndim < 0 || ndim > LT_H5_MAX_DIMS)
        return lt_error(LT_ERR_SHAPE, "%s: dataset '%s' in '%s': ndim %d not in [0,%d]", fn, dset, f->path, ndim,
                        LT_H5_MAX_DIMS);
    if (o.store < 0 || o.store >= LT_H5_OTHER)
        return lt_error(LT_ERR_ARG, "%s: dataset '%s' in '%s': bad storage type %d", fn, dset, f->path, (int)o.store);
    if (o.gzip < 0 || o.gzip > 9)
        return lt_error(LT_ERR_ARG, "%s: dataset '%s' in '%s': gzip level %d not in [0,9]", fn, dset, f->path, o.gzip);
    hsize_t hd[LT_H5_MAX_DIMS], chunk[LT_H5_MAX_DIMS];
    int64_t numel = 1, row_bytes = (int64_t)type_size(o.store);
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return lt_error(LT_ERR_SHAPE, "%s: dataset '%s' in '%s': dim %d is %lld", fn, dset, f->path, i,
                            (long long)dims[i]);
        hd[i] = chunk[i] = (hsize_t)dims[i];
        numel *= dims[i];
        if (i > 0) row_bytes *= dims[i];
    }
    if (lt_h5_has_dataset(f, dset) || lt_h5_has_group(f, dset))
        return lt_error(LT_ERR_STATE, "%s: '%s' already exists in '%s'", fn, dset, f->path);
    int compress = o.gzip > 0 && ndim >= 1 && numel > 0;
    if (compress && H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0)
        return lt_error(LT_ERR_UNSUPPORTED, "%s: this HDF5 library has no gzip filter (dataset '%s' in '%s')", fn, dset,
                        f->path);
    if (compress && row_bytes > ((int64_t)1 << 31))
        return lt_error(LT_ERR_SHAPE, "%s: dataset '%s' in '%s': one row is %lld bytes, too large to compress in chunks",
                        fn, dset, f->path, (long long)row_bytes);
    hid_t ft = type_new(o.store, 1);
    hid_t sp = ndim ? H5Screate_simple(ndim, hd, NULL) : H5Screate(H5S_SCALAR);
    hid_t lcpl = lcpl_new(), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (compress) {
        // About 1 MiB per chunk, whole rows, so row-range reads touch few chunks.
        int64_t rows = ((int64_t)1 << 20) / (row_bytes ? row_bytes : 1);
        if (rows < 1) rows = 1;
        if (rows > dims[0]) rows = dims[0];
        chunk[0] = (hsize_t)rows;
        H5Pset_chunk(dcpl, ndim, chunk);
        if (type_size(o.store) > 1) H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, (unsigned)o.gzip);
    }
    hid_t d = H5Dcreate2(f->id, dset, ft, sp, lcpl, dcpl, H5P_DEFAULT);
    char det[200];
    lt_status s = LT_OK;
    if (d < 0) s = lt_error(LT_ERR_IO, "%s: cannot create dataset '%s' in '%s'%s", fn, dset, f->path, detail(det));
    else H5Dclose(d);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(sp);
    H5Tclose(ft);
    return s;
}

lt_status lt_h5_write(lt_h5 *f, const char *dset, lt_h5_type mem, const void *src, int ndim, const int64_t *dims,
                      lt_h5_write_opts o) {
    LT_TRY(lt_h5_create_dataset(f, dset, ndim, dims, o));
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    return xfer(f, dset, mem, 1, 0, 0, (void *)src, n, 1, "lt_h5_write");
}

lt_status lt_h5_create_group(lt_h5 *f, const char *group) {
    const char *fn = "lt_h5_create_group";
    quiet();
    if (!f) return lt_error(LT_ERR_ARG, "%s: no file", fn);
    if (lt_h5_has_group(f, group)) return LT_OK;
    if (!f->writing) return lt_error(LT_ERR_STATE, "%s: '%s' is open read-only (group '%s')", fn, f->path, group);
    if (lt_h5_has_dataset(f, group))
        return lt_error(LT_ERR_STATE, "%s: '%s' in '%s' is a dataset, not a group", fn, group, f->path);
    hid_t lcpl = lcpl_new();
    hid_t g = H5Gcreate2(f->id, group, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    char det[200];
    if (g < 0) return lt_error(LT_ERR_IO, "%s: cannot create group '%s' in '%s'%s", fn, group, f->path, detail(det));
    H5Gclose(g);
    return LT_OK;
}

// ---- attributes ----

static hid_t obj_open(lt_h5 *f, const char *obj, const char *name, const char *fn) {
    quiet();
    if (!f) { lt_error(LT_ERR_ARG, "%s: no file", fn); return -1; }
    hid_t o = H5Oopen(f->id, root_if_empty(obj), H5P_DEFAULT);
    if (o < 0) lt_error(LT_ERR_FORMAT, "%s: file '%s' has no object '%s' (attribute '%s')", fn, f->path, obj, name);
    return o;
}

int lt_h5_has_attr(lt_h5 *f, const char *obj, const char *name) {
    quiet();
    if (!f) return 0;
    hid_t o = H5Oopen(f->id, root_if_empty(obj), H5P_DEFAULT);
    if (o < 0) return 0;
    htri_t e = H5Aexists(o, name);
    H5Oclose(o);
    return e > 0;
}

// Replaces attribute `name` on `obj` with one scalar value of disk type ft (written from memory type mt).
static lt_status attr_write(lt_h5 *f, const char *obj, const char *name, hid_t ft, hid_t mt, const void *v,
                            const char *fn) {
    if (f && !f->writing)
        return lt_error(LT_ERR_STATE, "%s: '%s' is open read-only (attribute '%s')", fn, f->path, name);
    hid_t o = obj_open(f, obj, name, fn);
    if (o < 0) return lt_last_status();
    lt_status s = LT_OK;
    char det[200];
    if (H5Aexists(o, name) > 0) H5Adelete(o, name);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(o, name, ft, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mt, v) < 0)
        s = lt_error(LT_ERR_IO, "%s: cannot write attribute '%s' on '%s' in '%s'%s", fn, name, root_if_empty(obj),
                     f->path, detail(det));
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Oclose(o);
    return s;
}

lt_status lt_h5_attr_write_str(lt_h5 *f, const char *obj, const char *name, const char *value) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(value) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    H5Tset_cset(t, H5T_CSET_UTF8);
    lt_status s = attr_write(f, obj, name, t, t, value, "lt_h5_attr_write_str");
    H5Tclose(t);
    return s;
}

lt_status lt_h5_attr_write_int(lt_h5 *f, const char *obj, const char *name, int64_t value) {
    return attr_write(f, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, "lt_h5_attr_write_int");
}

lt_status lt_h5_attr_write_f64(lt_h5 *f, const char *obj, const char *name, double value) {
    return attr_write(f, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, "lt_h5_attr_write_f64");
}

// Opens attribute `name` holding exactly one element; *ft gets its type.
static hid_t attr_open(lt_h5 *f, const char *obj, const char *name, hid_t *o, hid_t *ft, const char *fn) {
    *o = obj_open(f, obj, name, fn);
    if (*o < 0) return -1;
    if (H5Aexists(*o, name) <= 0) {
        lt_error(LT_ERR_FORMAT, "%s: '%s' in file '%s' has no attribute '%s'", fn, root_if_empty(obj), f->path, name);
        H5Oclose(*o);
        return -1;
    }
    hid_t a = H5Aopen(*o, name, H5P_DEFAULT);
    hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (sp >= 0) H5Sclose(sp);
    if (a < 0 || np != 1) {
        lt_error(LT_ERR_FORMAT, "%s: attribute '%s' on '%s' in '%s' is not a single value", fn, name,
                 root_if_empty(obj), f->path);
        if (a >= 0) H5Aclose(a);
        H5Oclose(*o);
        return -1;
    }
    *ft = H5Aget_type(a);
    return a;
}

lt_status lt_h5_attr_read_str(lt_h5 *f, const char *obj, const char *name, char *buf, size_t n) {
    const char *fn = "lt_h5_attr_read_str";
    hid_t o, ft;
    hid_t a = attr_open(f, obj, name, &o, &ft, fn);
    if (a < 0) return lt_last_status();
    lt_status s = LT_OK;
    char *val = NULL, det[200];
    int vlen = 0;
    if (H5Tget_class(ft) != H5T_STRING) {
        s = lt_error(LT_ERR_DTYPE, "%s: attribute '%s' on '%s' in '%s' is not a string", fn, name, root_if_empty(obj),
                     f->path);
    } else if (H5Tis_variable_str(ft) > 0) {
        vlen = 1;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        if (H5Aread(a, mt, &val) < 0) val = NULL;
        H5Tclose(mt);
    } else {
        size_t sz = H5Tget_size(ft);
        val = calloc(sz + 1, 1);
        if (val && H5Aread(a, ft, val) < 0) { free(val); val = NULL; }
    }
    if (s == LT_OK && !val)
        s = lt_error(LT_ERR_IO, "%s: cannot read attribute '%s' on '%s' in '%s'%s", fn, name, root_if_empty(obj),
                     f->path, detail(det));
    if (s == LT_OK) {
        size_t len = strlen(val);
        if (len >= n)
            s = lt_error(LT_ERR_ARG, "%s: attribute '%s' on '%s' in '%s' has %zu bytes; the buffer holds %zu", fn,
                         name, root_if_empty(obj), f->path, len, n ? n - 1 : 0);
        else
            memcpy(buf, val, len + 1);
    }
    if (val) { if (vlen) H5free_memory(val); else free(val); }
    H5Tclose(ft);
    H5Aclose(a);
    H5Oclose(o);
    return s;
}

static lt_status attr_read_num(lt_h5 *f, const char *obj, const char *name, hid_t mt, int want_int, void *v,
                               const char *fn) {
    hid_t o, ft;
    hid_t a = attr_open(f, obj, name, &o, &ft, fn);
    if (a < 0) return lt_last_status();
    H5T_class_t cls = H5Tget_class(ft);
    lt_status s = LT_OK;
    char det[200];
    if (cls != H5T_INTEGER && (want_int || cls != H5T_FLOAT))
        s = lt_error(LT_ERR_DTYPE, "%s: attribute '%s' on '%s' in '%s' is not %s", fn, name, root_if_empty(obj),
                     f->path, want_int ? "an integer" : "a number");
    else if (H5Aread(a, mt, v) < 0)
        s = lt_error(LT_ERR_IO, "%s: cannot read attribute '%s' on '%s' in '%s'%s", fn, name, root_if_empty(obj),
                     f->path, detail(det));
    H5Tclose(ft);
    H5Aclose(a);
    H5Oclose(o);
    return s;
}

lt_status lt_h5_attr_read_int(lt_h5 *f, const char *obj, const char *name, int64_t *value) {
    return attr_read_num(f, obj, name, H5T_NATIVE_INT64, 1, value, "lt_h5_attr_read_int");
}

lt_status lt_h5_attr_read_f64(lt_h5 *f, const char *obj, const char *name, double *value) {
    return attr_read_num(f, obj, name, H5T_NATIVE_DOUBLE, 0, value, "lt_h5_attr_read_f64");
}
