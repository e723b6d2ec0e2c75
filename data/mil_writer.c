// libtrain's packed layout (writer, importer). Bags stream into two unlinked
// scratch files beside the destination, so a dataset larger than RAM can be
// written; commit copies them into contiguous HDF5 datasets (exact per-bag
// hyperslab reads, no decompression) in a temporary file renamed into place.
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/mil_internal.h"

struct lt_mil_writer {
    char *path;
    int dim, n_classes, f16;
    char **class_names;       // [n_classes]
    FILE *feat, *coords;      // scratch: features in the stored type, coords as int32
    lt_mil_bag_info *bags;
    int n, cap;
    int64_t rows;
    void *buf;                // conversion / copy block
    size_t buf_bytes;
    int broken;               // a scratch write failed: the scratch files no longer match bags[]
};

#define BLOCK_BYTES ((size_t)8 << 20)

static FILE *scratch_open(const char *path, const char *what) {
    static unsigned counter;
    size_t n = strlen(path) + 80;
    char *name = malloc(n);
    if (!name) return NULL;
    snprintf(name, n, "%s.scratch.%ld.%u.%s", path, (long)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED),
             what);
    int fd = open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        lt_error(LT_ERR_IO, "lt_mil_writer_open: cannot create the scratch file '%s' beside '%s': %s", name, path,
                 strerror(errno));
        free(name);
        return NULL;
    }
    unlink(name);   // gone when closed, even after a crash
    free(name);
    FILE *f = fdopen(fd, "w+b");
    if (!f) {
        close(fd);
        lt_error(LT_ERR_IO, "lt_mil_writer_open: scratch file beside '%s': %s", path, strerror(errno));
    }
    return f;
}

static void writer_free(lt_mil_writer *w) {
    if (!w) return;
    if (w->feat) fclose(w->feat);
    if (w->coords) fclose(w->coords);
    lt_mil_free_strs(w->class_names, w->n_classes);
    free(w->bags);
    free(w->buf);
    free(w->path);
    free(w);
}

lt_status lt_mil_writer_open(const char *path, int dim, int n_classes, const char *const *class_names, int f16,
                             lt_mil_writer **out) {
    *out = NULL;
    if (!path || !path[0]) return lt_error(LT_ERR_ARG, "lt_mil_writer_open: empty file name");
    if (dim < 1 || dim > (1 << 24))
        return lt_error(LT_ERR_ARG, "lt_mil_writer_open: '%s': feature dimension %d out of range", path, dim);
    if (n_classes < 1 || n_classes > 100000)
        return lt_error(LT_ERR_ARG, "lt_mil_writer_open: '%s': n_classes %d out of range", path, n_classes);
    for (int c = 0; class_names && c < n_classes; c++)
        if (!class_names[c] || !class_names[c][0])
            return lt_error(LT_ERR_ARG, "lt_mil_writer_open: '%s': class name %d is empty", path, c);
    lt_mil_writer *w = calloc(1, sizeof *w);
    if (!w) return lt_error(LT_ERR_OOM, "lt_mil_writer_open: out of memory");
    w->dim = dim;
    w->n_classes = n_classes;
    w->f16 = f16 ? 1 : 0;
    w->buf_bytes = BLOCK_BYTES;
    w->path = strdup(path);
    w->class_names = calloc((size_t)n_classes, sizeof *w->class_names);
    w->buf = malloc(w->buf_bytes);
    if (!w->path || !w->class_names || !w->buf) {
        writer_free(w);
        return lt_error(LT_ERR_OOM, "lt_mil_writer_open: out of memory");
    }
    for (int c = 0; c < n_classes; c++) {
        char num[24];
        snprintf(num, sizeof num, "%d", c);
        if (!(w->class_names[c] = strdup(class_names ? class_names[c] : num))) {
            writer_free(w);
            return lt_error(LT_ERR_OOM, "lt_mil_writer_open: out of memory");
        }
    }
    if (!(w->feat = scratch_open(path, "features")) || !(w->coords = scratch_open(path, "coords"))) {
        lt_status s = lt_last_status();
        writer_free(w);
        return s;
    }
    *out = w;
    return LT_OK;
}

static lt_status scratch_write(lt_mil_writer *w, FILE *f, const void *p, size_t bytes) {
    if (fwrite(p, 1, bytes, f) != bytes)
        return lt_error(LT_ERR_IO, "lt_mil_writer_add: writing the scratch data beside '%s' failed: %s", w->path,
                        strerror(errno ? errno : EIO));
    return LT_OK;
}

// Appends a checked bag to the scratch files.
static lt_status append(lt_mil_writer *w, int64_t n, const float *feat, const int32_t *coords) {
    int64_t numel = n * w->dim;
    if (w->f16) {
        uint16_t *h = w->buf;
        int64_t per = (int64_t)(w->buf_bytes / 2);
        for (int64_t k0 = 0; k0 < numel; k0 += per) {
            int64_t m = numel - k0 < per ? numel - k0 : per;
            for (int64_t k = 0; k < m; k++) h[k] = lt_mil_f32_to_f16(feat[k0 + k]);
            LT_TRY(scratch_write(w, w->feat, h, (size_t)m * 2));
        }
    } else {
        LT_TRY(scratch_write(w, w->feat, feat, (size_t)numel * 4));
    }
    if (coords) {
        LT_TRY(scratch_write(w, w->coords, coords, (size_t)n * 8));
    } else {
        memset(w->buf, 0, w->buf_bytes);
        for (int64_t r = 0; r < n; r += (int64_t)(w->buf_bytes / 8)) {
            int64_t m = n - r < (int64_t)(w->buf_bytes / 8) ? n - r : (int64_t)(w->buf_bytes / 8);
            LT_TRY(scratch_write(w, w->coords, w->buf, (size_t)m * 8));
        }
    }
    return LT_OK;
}

lt_status lt_mil_writer_add(lt_mil_writer *w, const char *id, int label, lt_mil_split_kind split, int64_t n,
                            const float *feat, const int32_t *coords) {
    if (!w) return lt_error(LT_ERR_ARG, "lt_mil_writer_add: no writer");
    const char *p = w->path;
    if (!id || !id[0]) return lt_error(LT_ERR_ARG, "lt_mil_writer_add: '%s': empty slide id", p);
    if (strlen(id) >= sizeof w->bags[0].id)
        return lt_error(LT_ERR_ARG, "lt_mil_writer_add: '%s': slide id '%.60s...' is longer than %zu bytes", p, id,
                        sizeof w->bags[0].id - 1);
    if (label < 0 || label >= w->n_classes)
        return lt_error(LT_ERR_ARG, "lt_mil_writer_add: '%s': slide '%s': label %d out of range 0..%d", p, id, label,
                        w->n_classes - 1);
    if (split < LT_SPLIT_NONE || split > LT_SPLIT_TEST)
        return lt_error(LT_ERR_ARG, "lt_mil_writer_add: '%s': slide '%s': bad split %d", p, id, (int)split);
    if (n < 1) return lt_error(LT_ERR_ARG, "lt_mil_writer_add: '%s': slide '%s' is an empty bag (n = %lld)", p, id,
                               (long long)n);
    if (!feat) return lt_error(LT_ERR_ARG, "lt_mil_writer_add: '%s': slide '%s': no features", p, id);
    if (w->broken)
        return lt_error(LT_ERR_STATE, "lt_mil_writer_add: '%s': an earlier write failed; abort this writer", p);
    int64_t numel = n * w->dim;
    for (int64_t k = 0; k < numel; k++) {
        if (!isfinite(feat[k]))
            return lt_error(LT_ERR_NONFINITE, "lt_mil_writer_add: '%s': slide '%s': feature [%lld, %lld] is %s", p, id,
                            (long long)(k / w->dim), (long long)(k % w->dim), isnan(feat[k]) ? "NaN" : "infinite");
        if (w->f16 && fabsf(feat[k]) >= 65520.0f)
            return lt_error(LT_ERR_ARG, "lt_mil_writer_add: '%s': slide '%s': feature [%lld, %lld] = %g is beyond the "
                            "float16 range (65504); write float32", p, id, (long long)(k / w->dim),
                            (long long)(k % w->dim), feat[k]);
    }
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 256;
        lt_mil_bag_info *b = realloc(w->bags, sizeof *b * (size_t)cap);
        if (!b) return lt_error(LT_ERR_OOM, "lt_mil_writer_add: out of memory");
        w->bags = b;
        w->cap = cap;
    }
    lt_status s = append(w, n, feat, coords);
    if (s != LT_OK) {
        w->broken = 1;   // the scratch files may hold part of this bag
        return s;
    }
    lt_mil_bag_info *b = &w->bags[w->n++];
    memset(b, 0, sizeof *b);
    snprintf(b->id, sizeof b->id, "%s", id);
    b->label = label;
    b->n = n;
    b->split = split;
    w->rows += n;
    return LT_OK;
}

// Copies a scratch file into dataset `dset` ([rows, width] elements of `t`, `esize` bytes each).
static lt_status copy_scratch(lt_mil_writer *w, lt_h5 *f, FILE *src, const char *dset, lt_h5_type t, int64_t width,
                              size_t esize) {
    size_t row_bytes = (size_t)width * esize;
    int64_t per = (int64_t)(w->buf_bytes / row_bytes);
    if (per < 1) per = 1;
    void *buf = w->buf;
    void *big = NULL;
    if (row_bytes > w->buf_bytes && !(buf = big = malloc(row_bytes)))
        return lt_error(LT_ERR_OOM, "lt_mil_writer_commit: out of memory");
    lt_status s = LT_OK;
    if (fflush(src) != 0 || fseeko(src, 0, SEEK_SET) != 0)
        s = lt_error(LT_ERR_IO, "lt_mil_writer_commit: scratch data for '%s': %s", w->path, strerror(errno));
    for (int64_t r = 0; r < w->rows && s == LT_OK; r += per) {
        int64_t m = w->rows - r < per ? w->rows - r : per;
        if (fread(buf, row_bytes, (size_t)m, src) != (size_t)m)
            s = lt_error(LT_ERR_IO, "lt_mil_writer_commit: reading the scratch data for '%s' failed", w->path);
        else
            s = lt_h5_write_rows(f, dset, t, r, m, buf);
    }
    free(big);
    return s;
}

static lt_status write_file(lt_mil_writer *w, lt_h5 *f) {
    lt_h5_write_opts o = {w->f16 ? LT_H5_F16 : LT_H5_F32, 0};
    int64_t dims[2] = {w->rows, w->dim};
    LT_TRY(lt_h5_create_dataset(f, "features", 2, dims, o));
    LT_TRY(copy_scratch(w, f, w->feat, "features", o.store, w->dim, w->f16 ? 2 : 4));
    dims[1] = 2;
    o.store = LT_H5_I32;
    LT_TRY(lt_h5_create_dataset(f, "coords", 2, dims, o));
    LT_TRY(copy_scratch(w, f, w->coords, "coords", LT_H5_I32, 2, 4));
    int n = w->n;
    int64_t *off = malloc(sizeof *off * (size_t)(n + 1));
    int32_t *lab = malloc(sizeof *lab * (size_t)n);
    int8_t *spl = malloc((size_t)n);
    const char **ids = malloc(sizeof *ids * (size_t)n);
    lt_status s = LT_OK;
    if (!off || !lab || !spl || !ids) s = lt_error(LT_ERR_OOM, "lt_mil_writer_commit: out of memory");
    if (s == LT_OK) {
        off[0] = 0;
        for (int i = 0; i < n; i++) {
            off[i + 1] = off[i] + w->bags[i].n;
            lab[i] = w->bags[i].label;
            spl[i] = (int8_t)w->bags[i].split;
            ids[i] = w->bags[i].id;
        }
        int64_t d1 = n + 1, d0 = n;
        if (s == LT_OK) s = lt_h5_write(f, "offsets", LT_H5_I64, off, 1, &d1, (lt_h5_write_opts){LT_H5_I64, 0});
        if (s == LT_OK) s = lt_h5_write(f, "labels", LT_H5_I32, lab, 1, &d0, (lt_h5_write_opts){LT_H5_I32, 0});
        if (s == LT_OK) s = lt_h5_write(f, "splits", LT_H5_I8, spl, 1, &d0, (lt_h5_write_opts){LT_H5_I8, 0});
        if (s == LT_OK) s = lt_mil_h5_write_strings(f, "slide_ids", NULL, ids, n);
        if (s == LT_OK)
            s = lt_mil_h5_write_strings(f, "/", "class_names", (const char *const *)w->class_names, w->n_classes);
        if (s == LT_OK) s = lt_h5_attr_write_str(f, "/", "format", LT_MIL_PACKED_FORMAT);
        if (s == LT_OK) s = lt_h5_attr_write_int(f, "/", "version", LT_MIL_PACKED_VERSION);
        if (s == LT_OK) s = lt_h5_attr_write_int(f, "/", "n_classes", w->n_classes);
        if (s == LT_OK) s = lt_h5_attr_write_int(f, "/", "dim", w->dim);
    }
    free(off);
    free(lab);
    free(spl);
    free(ids);
    return s;
}

lt_status lt_mil_writer_commit(lt_mil_writer *w) {
    if (!w) return lt_error(LT_ERR_ARG, "lt_mil_writer_commit: no writer");
    lt_status s = LT_OK;
    if (w->n == 0) s = lt_error(LT_ERR_STATE, "lt_mil_writer_commit: '%s': no bags were added", w->path);
    if (w->broken) s = lt_error(LT_ERR_STATE, "lt_mil_writer_commit: '%s': an earlier write failed", w->path);
    if (s == LT_OK) {
        const char **ids = malloc(sizeof *ids * (size_t)w->n);
        if (!ids) s = lt_error(LT_ERR_OOM, "lt_mil_writer_commit: out of memory");
        for (int i = 0; ids && i < w->n; i++) ids[i] = w->bags[i].id;
        int a, b;
        if (ids && lt_mil_find_duplicate(ids, w->n, &a, &b))
            s = lt_error(LT_ERR_ARG, "lt_mil_writer_commit: '%s': slide id '%s' was added twice (bags %d and %d)",
                         w->path, w->bags[a].id, a, b);
        free(ids);
    }
    if (s == LT_OK) {
        lt_mil_lock();
        lt_h5 *f;
        s = lt_h5_create(w->path, &f);
        if (s == LT_OK) {
            s = write_file(w, f);
            if (s == LT_OK) s = lt_h5_commit(f);
            else lt_h5_close(f);
        }
        lt_mil_unlock();
    }
    writer_free(w);
    return s;
}

void lt_mil_writer_abort(lt_mil_writer *w) { writer_free(w); }

lt_status lt_mil_import(lt_mil_dataset *src, const char *dst_path, int f16) {
    if (!src) return lt_error(LT_ERR_ARG, "lt_mil_import: no source dataset");
    int C = lt_mil_n_classes(src);
    const char **names = malloc(sizeof *names * (size_t)C);
    if (!names) return lt_error(LT_ERR_OOM, "lt_mil_import: out of memory");
    for (int c = 0; c < C; c++) names[c] = lt_mil_class_name(src, c);
    lt_mil_writer *w;
    lt_status s = lt_mil_writer_open(dst_path, lt_mil_dim(src), C, names, f16, &w);
    free(names);
    if (s != LT_OK) return s;
    int64_t max_n = lt_mil_max_instances(src);
    float *feat = malloc(sizeof *feat * (size_t)(max_n * lt_mil_dim(src)));
    int32_t *coords = malloc(sizeof *coords * 2 * (size_t)max_n);
    if (!feat || !coords)
        s = lt_error(LT_ERR_OOM, "lt_mil_import: out of memory for a bag of %lld x %d", (long long)max_n,
                     lt_mil_dim(src));
    for (int i = 0; i < lt_mil_count(src) && s == LT_OK; i++) {
        const lt_mil_bag_info *b = lt_mil_bag(src, i);
        s = lt_mil_read(src, i, feat, coords);
        if (s == LT_OK) s = lt_mil_writer_add(w, b->id, b->label, b->split, b->n, feat, coords);
        if (s != LT_OK) s = lt_error(s, "lt_mil_import: to '%s': %s", dst_path, lt_last_error());
    }
    free(feat);
    free(coords);
    if (s != LT_OK) {
        lt_mil_writer_abort(w);
        return s;
    }
    return lt_mil_writer_commit(w);
}
