// Fixtures for the MIL data tests: a temporary folder, and writers for the three
// layouts (CLAM folders and AEM files through data/h5.h, packed files through
// the MIL writer or, for files the writer refuses to make, the raw HDF5 API).
#ifndef TEST_MIL_DATA_HELPERS_H
#define TEST_MIL_DATA_HELPERS_H

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <hdf5.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lt_test.h"
#include "data/h5.h"
#include "data/mil.h"

static char tmp_root[256];

static inline int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) { return remove(p); }

static inline void tmp_setup(void) {
    const char *t = getenv("TMPDIR");
    snprintf(tmp_root, sizeof tmp_root, "%s/lt_mil_XXXXXX", t && t[0] ? t : "/tmp");
    cr_assert(mkdtemp(tmp_root), "mkdtemp failed");
}

static inline void tmp_teardown(void) {
    if (tmp_root[0]) nftw(tmp_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

// Path inside the test's temporary folder (rotating buffers).
static inline const char *tp(const char *name) {
    static char buf[16][512];
    static int k;
    char *b = buf[k++ % 16];
    snprintf(b, 512, "%s/%s", tmp_root, name);
    return b;
}

static inline void mkdir_p(const char *p) { cr_assert(mkdir(p, 0755) == 0 || errno == EEXIST, "mkdir %s", p); }

static inline void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    cr_assert(f, "fopen %s", path);
    fputs(text, f);
    fclose(f);
}

// Entries in a folder whose name contains `part`.
static inline int count_named(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    cr_assert(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, part) != NULL;
    closedir(d);
    return n;
}

// Feature value of (bag seed, row, col): a multiple of 1/64 in [-8, 8), exact in float16.
static inline float fval(int seed, int64_t r, int c) {
    uint32_t h = (uint32_t)seed * 2654435761u ^ (uint32_t)r * 40503u ^ (uint32_t)c * 2246822519u;
    h ^= h >> 15; h *= 2246822519u; h ^= h >> 13;
    return (float)((int)(h % 1024) - 512) / 64.0f;
}

static inline float *make_feat(int seed, int64_t n, int d) {
    float *x = malloc(sizeof *x * (size_t)(n * d > 0 ? n * d : 1));
    cr_assert(x);
    for (int64_t r = 0; r < n; r++)
        for (int c = 0; c < d; c++) x[r * d + c] = fval(seed, r, c);
    return x;
}

// coords of row r: (seed * 1000 + r, 7 * r)
static inline int32_t *make_coords(int seed, int64_t n) {
    int32_t *x = malloc(sizeof *x * 2 * (size_t)(n > 0 ? n : 1));
    cr_assert(x);
    for (int64_t r = 0; r < n; r++) { x[2 * r] = seed * 1000 + (int32_t)r; x[2 * r + 1] = 7 * (int32_t)r; }
    return x;
}

typedef struct {
    int f16;        // store features as float16
    int gzip;       // chunked + deflate (chunks of about 1 MiB)
    int coords;     // 0: none, 1: int32 with CLAM/TRIDENT attributes, 2: int64, 3: float32
    const char *feat_name;   // default "features"
    int nan_row;    // >= 0: this row's first feature is NaN
    int inf_row;    // >= 0: this row's last feature is +Inf
} clam_opts;

static inline clam_opts clam_default(void) { return (clam_opts){0, 0, 1, NULL, -1, -1}; }

// Writes dir/<id>.h5 with n x d features from fval(seed, ...).
static inline void write_clam(const char *dir, const char *id, int seed, int64_t n, int d, clam_opts o) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s.h5", dir, id);
    float *x = make_feat(seed, n, d);
    if (o.nan_row >= 0) x[o.nan_row * d] = NAN;
    if (o.inf_row >= 0) x[o.inf_row * d + d - 1] = INFINITY;
    lt_h5 *f;
    cr_assert_eq(lt_h5_create(path, &f), LT_OK, "%s", lt_last_error());
    int64_t dims[2] = {n, d};
    lt_h5_write_opts wo = {o.f16 ? LT_H5_F16 : LT_H5_F32, o.gzip};
    cr_assert_eq(lt_h5_write(f, o.feat_name ? o.feat_name : "features", LT_H5_F32, x, 2, dims, wo), LT_OK, "%s",
                 lt_last_error());
    if (o.coords) {
        int32_t *c = make_coords(seed, n);
        int64_t cd[2] = {n, 2};
        if (o.coords == 3) {
            float *cf = malloc(sizeof *cf * 2 * (size_t)(n > 0 ? n : 1));
            for (int64_t k = 0; k < 2 * n; k++) cf[k] = (float)c[k];
            cr_assert_eq(lt_h5_write(f, "coords", LT_H5_F32, cf, 2, cd, (lt_h5_write_opts){LT_H5_F32, 0}), LT_OK);
            free(cf);
        } else {
            lt_h5_type st = o.coords == 2 ? LT_H5_I64 : LT_H5_I32;
            cr_assert_eq(lt_h5_write(f, "coords", LT_H5_I32, c, 2, cd, (lt_h5_write_opts){st, 0}), LT_OK);
        }
        if (o.coords == 1) {
            cr_assert_eq(lt_h5_attr_write_int(f, "coords", "patch_size", 256), LT_OK);
            cr_assert_eq(lt_h5_attr_write_int(f, "coords", "patch_level", 0), LT_OK);
            cr_assert_eq(lt_h5_attr_write_f64(f, "coords", "downsample", 1.0), LT_OK);
            cr_assert_eq(lt_h5_attr_write_str(f, "coords", "name", id), LT_OK);
            cr_assert_eq(lt_h5_attr_write_int(f, "coords", "patch_size_level0", 512), LT_OK);
        }
        free(c);
    }
    cr_assert_eq(lt_h5_commit(f), LT_OK, "%s", lt_last_error());
    free(x);
}

// A patch-coordinates file (CLAM's patches/<id>.h5): coords only.
static inline void write_coords_only(const char *dir, const char *id, int64_t n) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s.h5", dir, id);
    lt_h5 *f;
    cr_assert_eq(lt_h5_create(path, &f), LT_OK);
    int32_t *c = make_coords(1, n);
    int64_t cd[2] = {n, 2};
    cr_assert_eq(lt_h5_write(f, "coords", LT_H5_I32, c, 2, cd, (lt_h5_write_opts){LT_H5_I32, 0}), LT_OK);
    cr_assert_eq(lt_h5_commit(f), LT_OK);
    free(c);
}

typedef struct {
    const char *id;
    int seed;
    int64_t n;
    int label;          // < 0: no label attribute
    const char *label_str;   // a string label instead, when set
} aem_bag;

// AEM's layout: a group per slide with float16 `feat`, int64 `coords`, an int64 `label` attribute.
static inline void write_aem(const char *path, const aem_bag *bags, int n_bags, int d, int f16) {
    lt_h5 *f;
    cr_assert_eq(lt_h5_create(path, &f), LT_OK, "%s", lt_last_error());
    for (int i = 0; i < n_bags; i++) {
        char name[256];
        const aem_bag *b = &bags[i];
        float *x = make_feat(b->seed, b->n, d);
        int32_t *c = make_coords(b->seed, b->n);
        int64_t dims[2] = {b->n, d}, cd[2] = {b->n, 2};
        snprintf(name, sizeof name, "%s/feat", b->id);
        cr_assert_eq(lt_h5_write(f, name, LT_H5_F32, x, 2, dims, (lt_h5_write_opts){f16 ? LT_H5_F16 : LT_H5_F32, 0}),
                     LT_OK, "%s", lt_last_error());
        snprintf(name, sizeof name, "%s/coords", b->id);
        cr_assert_eq(lt_h5_write(f, name, LT_H5_I32, c, 2, cd, (lt_h5_write_opts){LT_H5_I64, 0}), LT_OK);
        if (b->label_str) cr_assert_eq(lt_h5_attr_write_str(f, b->id, "label", b->label_str), LT_OK);
        else if (b->label >= 0) cr_assert_eq(lt_h5_attr_write_int(f, b->id, "label", b->label), LT_OK);
        free(x);
        free(c);
    }
    cr_assert_eq(lt_h5_commit(f), LT_OK, "%s", lt_last_error());
}

// A packed file through the writer: bag i has id "slide_<i>", seed 100 + i, n[i] rows.
static inline void write_packed(const char *path, int n_bags, const int64_t *n, const int *labels,
                                const lt_mil_split_kind *splits, int d, int n_classes, const char *const *names,
                                int f16) {
    lt_mil_writer *w;
    cr_assert_eq(lt_mil_writer_open(path, d, n_classes, names, f16, &w), LT_OK, "%s", lt_last_error());
    for (int i = 0; i < n_bags; i++) {
        char id[32];
        snprintf(id, sizeof id, "slide_%d", i);
        float *x = make_feat(100 + i, n[i], d);
        int32_t *c = make_coords(100 + i, n[i]);
        cr_assert_eq(lt_mil_writer_add(w, id, labels[i], splits ? splits[i] : LT_SPLIT_NONE, n[i], x, c), LT_OK, "%s",
                     lt_last_error());
        free(x);
        free(c);
    }
    cr_assert_eq(lt_mil_writer_commit(w), LT_OK, "%s", lt_last_error());
}

// A packed file written with the raw HDF5 API, for contents the writer refuses
// (duplicate ids, empty bags, labels out of range). Features are zeros.
static inline void write_packed_raw(const char *path, int n_bags, const char *const *ids, const int64_t *offsets,
                                    const int32_t *labels, int d, int n_classes) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(f >= 0);
    hsize_t fd[2] = {(hsize_t)offsets[n_bags], (hsize_t)d};
    float *x = calloc((size_t)(offsets[n_bags] * d + 1), sizeof *x);
    hid_t sp = H5Screate_simple(2, fd, NULL);
    hid_t ds = H5Dcreate2(f, "features", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dclose(ds);
    H5Sclose(sp);
    hsize_t on = (hsize_t)n_bags + 1, ln = (hsize_t)n_bags;
    sp = H5Screate_simple(1, &on, NULL);
    ds = H5Dcreate2(f, "offsets", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, offsets);
    H5Dclose(ds);
    H5Sclose(sp);
    sp = H5Screate_simple(1, &ln, NULL);
    ds = H5Dcreate2(f, "labels", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels);
    H5Dclose(ds);
    hid_t st = H5Tcopy(H5T_C_S1);   // variable-length strings, as h5py writes them by default
    H5Tset_size(st, H5T_VARIABLE);
    ds = H5Dcreate2(f, "slide_ids", st, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids);
    H5Dclose(ds);
    H5Tclose(st);
    H5Sclose(sp);
    hid_t as = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "n_classes", H5T_STD_I64LE, as, H5P_DEFAULT, H5P_DEFAULT);
    int64_t c = n_classes;
    H5Awrite(a, H5T_NATIVE_INT64, &c);
    H5Aclose(a);
    H5Sclose(as);
    cr_assert(H5Fclose(f) >= 0);
    free(x);
}

// Opens or fails the test with the error.
static inline lt_mil_dataset *open_ok(const char *path, const char *csv, lt_mil_layout layout) {
    lt_mil_dataset *ds = NULL;
    lt_status s = lt_mil_open(path, csv, layout, &ds);
    cr_assert_eq(s, LT_OK, "lt_mil_open(%s): %s", path, lt_last_error());
    cr_assert(ds);
    return ds;
}

// Asserts that opening fails with `code` and a message holding every non-NULL needle.
static inline void open_fails(const char *path, const char *csv, lt_mil_layout layout, lt_status code, const char *n1,
                              const char *n2, const char *n3) {
    lt_mil_dataset *ds = (lt_mil_dataset *)1;
    lt_status s = lt_mil_open(path, csv, layout, &ds);
    const char *m = lt_last_error();
    cr_assert_neq(s, LT_OK, "lt_mil_open(%s) should fail", path);
    cr_assert_null(ds);
    if (code != LT_OK) cr_assert_eq(s, code, "status %s, want %s: %s", lt_status_name(s), lt_status_name(code), m);
    const char *needles[3] = {n1, n2, n3};
    for (int k = 0; k < 3; k++)
        if (needles[k]) cr_assert(strstr(m, needles[k]), "message lacks '%s': %s", needles[k], m);
}

// Reads bag i and checks it against fval(seed)/make_coords(seed) (coords: 0 = expect zeros).
static inline void check_bag(lt_mil_dataset *ds, int i, int seed, int64_t n, int d, int coords) {
    const lt_mil_bag_info *b = lt_mil_bag(ds, i);
    cr_assert(b);
    cr_assert_eq(b->n, n, "bag %d (%s): n = %lld, want %lld", i, b->id, (long long)b->n, (long long)n);
    cr_assert_eq(lt_mil_dim(ds), d);
    float *x = malloc(sizeof *x * (size_t)(n * d)), *want = make_feat(seed, n, d);
    int32_t *c = malloc(sizeof *c * 2 * (size_t)n), *wc = make_coords(seed, n);
    cr_assert_eq(lt_mil_read(ds, i, x, c), LT_OK, "%s", lt_last_error());
    for (int64_t k = 0; k < n * d; k++)
        cr_assert(x[k] == want[k], "bag %d (%s) feature %lld: %g, want %g", i, b->id, (long long)k, x[k], want[k]);
    for (int64_t k = 0; k < 2 * n; k++) {
        int32_t w = coords ? wc[k] : 0;
        cr_assert_eq(c[k], w, "bag %d (%s) coords[%lld] = %d, want %d", i, b->id, (long long)k, c[k], w);
    }
    free(x); free(want); free(c); free(wc);
}

#endif
