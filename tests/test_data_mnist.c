// Data layer for the MLP recipe: HDF5 helpers, IDX reader, Fashion-MNIST import/ensure/load.
#define _GNU_SOURCE
#include <dirent.h>
#include <ftw.h>
#include <hdf5.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "lt_test.h"
#include "lt_tmpdir.h"
#include "data/fashion_mnist.h"
#include "data/h5.h"
#include "data/idx.h"

// ---- fixtures ----

static void tmp_setup(void) {
    lt_tmp_setup("lt_mnist");
    unsetenv(LT_FASHION_MNIST_ENV);
}
#define tmp_teardown lt_tmp_teardown
#define tp lt_tmp_path
#define tmp_root lt_tmp_root

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

// Number of entries in a folder whose name contains `part`.
static int count_named(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    cr_assert(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, part) != NULL;
    closedir(d);
    return n;
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

// Writes an IDX file: magic, dims, then `nbytes` of data (may differ from what dims announce).
static void write_idx(const char *path, int gz, uint32_t magic, int ndim, const uint32_t *dims, const uint8_t *data,
                      size_t nbytes) {
    uint8_t hdr[16];
    put_be32(hdr, magic);
    for (int i = 0; i < ndim; i++) put_be32(hdr + 4 + 4 * i, dims[i]);
    size_t hl = 4 + 4 * (size_t)ndim;
    if (gz) {
        gzFile g = gzopen(path, "wb");
        cr_assert(g, "gzopen %s", path);
        cr_assert_eq(gzwrite(g, hdr, (unsigned)hl), (int)hl);
        if (nbytes) cr_assert_eq(gzwrite(g, data, (unsigned)nbytes), (int)nbytes);
        cr_assert_eq(gzclose(g), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        cr_assert(f, "fopen %s", path);
        cr_assert_eq(fwrite(hdr, 1, hl, f), hl);
        if (nbytes) cr_assert_eq(fwrite(data, 1, nbytes, f), nbytes);
        fclose(f);
    }
}

// A tiny Fashion-MNIST-shaped set in folder `dir`: random pixels, labels (i*7+seed)%10.
typedef struct {
    int ntr, nte, h, w;
    uint8_t *img[2], *lab[2];
} tiny_set;

static tiny_set tiny_make(const char *dir, int ntr, int nte, int h, int w, uint32_t seed, int gz) {
    tiny_set t = {ntr, nte, h, w, {0}, {0}};
    const char *names[2][2] = {{"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
                               {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}};
    lt_rng r;
    lt_rng_init(&r, seed);
    for (int s = 0; s < 2; s++) {
        int n = s ? nte : ntr;
        t.img[s] = malloc((size_t)n * h * w);
        t.lab[s] = malloc((size_t)n);
        for (int i = 0; i < n * h * w; i++) t.img[s][i] = (uint8_t)(lt_rng_uniform(&r) * 256);
        t.img[s][0] = 0;
        t.img[s][1] = 255;   // both ends of the pixel range
        for (int i = 0; i < n; i++) t.lab[s][i] = (uint8_t)((i * 7 + seed) % 10);
        char p[512];
        uint32_t di[3] = {(uint32_t)n, (uint32_t)h, (uint32_t)w};
        snprintf(p, sizeof p, "%s/%s%s", dir, names[s][0], gz ? ".gz" : "");
        write_idx(p, gz, LT_IDX_MAGIC_IMAGES, 3, di, t.img[s], (size_t)n * h * w);
        snprintf(p, sizeof p, "%s/%s%s", dir, names[s][1], gz ? ".gz" : "");
        write_idx(p, gz, LT_IDX_MAGIC_LABELS, 1, di, t.lab[s], (size_t)n);
    }
    return t;
}

static void tiny_free(tiny_set *t) {
    for (int s = 0; s < 2; s++) { free(t->img[s]); free(t->lab[s]); }
}

static float norm_px(uint8_t v) { return ((float)v / 255.0f - 0.2860f) / 0.3530f; }

static void check_loaded(const char *h5, const tiny_set *t) {
    for (int s = 0; s < 2; s++) {
        lt_mnist m;
        cr_assert_eq(lt_mnist_load(h5, s ? "test" : "train", &m), LT_OK, "%s", lt_last_error());
        int n = s ? t->nte : t->ntr;
        cr_assert_eq(m.n, n);
        cr_assert_eq(m.h, t->h);
        cr_assert_eq(m.w, t->w);
        cr_assert_eq(m.x->ndim, 2);
        cr_assert_eq(m.x->shape[0], n);
        cr_assert_eq(m.x->shape[1], t->h * t->w);
        cr_assert_eq(m.x->dtype, LT_F32);
        cr_assert_eq(m.y->ndim, 1);
        cr_assert_eq(m.y->shape[0], n);
        cr_assert_eq(m.y->dtype, LT_I32);
        for (int i = 0; i < n * t->h * t->w; i++)
            cr_assert_eq(lt_f32(m.x)[i], norm_px(t->img[s][i]), "pixel %d: %g vs %g", i, lt_f32(m.x)[i],
                         norm_px(t->img[s][i]));
        for (int i = 0; i < n; i++) cr_assert_eq(lt_i32(m.y)[i], t->lab[s][i]);
        lt_mnist_free(&m);
        cr_assert_null(m.x);
    }
}

#define assert_err(expr, code, ...)                                                                       \
    do {                                                                                                  \
        lt_status s_ = (expr);                                                                            \
        cr_assert_eq(s_, code, "%s: got %s (%s)", #expr, lt_status_name(s_), lt_last_error());            \
        const char *want_[] = {__VA_ARGS__};                                                              \
        for (size_t i_ = 0; i_ < sizeof want_ / sizeof *want_; i_++)                                      \
            cr_assert(strstr(lt_last_error(), want_[i_]), "message lacks '%s': %s", want_[i_], lt_last_error()); \
    } while (0)

TestSuite(idx, .init = tmp_setup, .fini = tmp_teardown);
TestSuite(h5, .init = tmp_setup, .fini = tmp_teardown);
TestSuite(mnist, .init = tmp_setup, .fini = tmp_teardown);

// ---- IDX ----

Test(idx, reads_gzip_and_plain_exactly) {
    for (int gz = 0; gz < 2; gz++) {
        uint8_t px[7 * 28 * 28];
        for (int i = 0; i < 7 * 28 * 28; i++) px[i] = (uint8_t)(i * 31 + gz);
        uint32_t d[3] = {7, 28, 28};
        write_idx(tp("a"), gz, LT_IDX_MAGIC_IMAGES, 3, d, px, sizeof px);
        lt_idx x;
        cr_assert_eq(lt_idx_read(tp("a"), LT_IDX_MAGIC_IMAGES, &x), LT_OK, "%s", lt_last_error());
        cr_assert_eq(x.ndim, 3);
        cr_assert(x.dims[0] == 7 && x.dims[1] == 28 && x.dims[2] == 28);
        cr_assert_eq(x.numel, 7 * 28 * 28);
        cr_assert(memcmp(x.data, px, sizeof px) == 0);
        lt_idx_free(&x);
        cr_assert_null(x.data);
    }
}

Test(idx, wrong_magic_names_file_and_both_magics) {
    uint8_t lab[3] = {1, 2, 3};
    uint32_t d[1] = {3};
    write_idx(tp("labels.gz"), 1, LT_IDX_MAGIC_LABELS, 1, d, lab, 3);
    lt_idx x;
    assert_err(lt_idx_read(tp("labels.gz"), LT_IDX_MAGIC_IMAGES, &x), LT_ERR_FORMAT, tp("labels.gz"), "wrong magic",
               "0x00000801", "0x00000803");
    cr_assert_null(x.data);
}

Test(idx, truncated_data_says_how_much_arrived) {
    uint8_t px[1000] = {0};
    uint32_t d[3] = {7, 28, 28};
    for (int gz = 0; gz < 2; gz++) {
        write_idx(tp("t"), gz, LT_IDX_MAGIC_IMAGES, 3, d, px, 1000);
        lt_idx x;
        assert_err(lt_idx_read(tp("t"), LT_IDX_MAGIC_IMAGES, &x), LT_ERR_FORMAT, tp("t"), "truncated",
                   "1000 of 5488");
    }
    // Header cut short.
    write_idx(tp("h"), 0, LT_IDX_MAGIC_IMAGES, 1, d, NULL, 0);
    lt_idx x;
    assert_err(lt_idx_read(tp("h"), LT_IDX_MAGIC_IMAGES, &x), LT_ERR_FORMAT, tp("h"), "8 of 16");
}

Test(idx, cut_gzip_stream_is_truncated) {
    uint8_t px[7 * 28 * 28];
    lt_rng r;
    lt_rng_init(&r, 11);
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(lt_rng_uniform(&r) * 256);  // incompressible
    uint32_t d[3] = {7, 28, 28};
    write_idx(tp("c.gz"), 1, LT_IDX_MAGIC_IMAGES, 3, d, px, sizeof px);
    struct stat st;
    stat(tp("c.gz"), &st);
    cr_assert_eq(truncate(tp("c.gz"), st.st_size / 2), 0);
    lt_idx x;
    assert_err(lt_idx_read(tp("c.gz"), LT_IDX_MAGIC_IMAGES, &x), LT_ERR_FORMAT, tp("c.gz"), "truncated",
               "of 5488 bytes");
}

Test(idx, extra_bytes_and_zero_dims_are_refused) {
    uint8_t lab[5] = {0};
    uint32_t d[1] = {4};
    write_idx(tp("e"), 1, LT_IDX_MAGIC_LABELS, 1, d, lab, 5);
    lt_idx x;
    assert_err(lt_idx_read(tp("e"), LT_IDX_MAGIC_LABELS, &x), LT_ERR_FORMAT, tp("e"), "after the 4 bytes");
    uint32_t z[3] = {3, 0, 28};
    write_idx(tp("z"), 0, LT_IDX_MAGIC_IMAGES, 3, z, NULL, 0);
    assert_err(lt_idx_read(tp("z"), LT_IDX_MAGIC_IMAGES, &x), LT_ERR_FORMAT, tp("z"), "dim 1 is 0");
}

Test(idx, missing_file_is_io_error) {
    lt_idx x;
    assert_err(lt_idx_read(tp("nope.gz"), LT_IDX_MAGIC_LABELS, &x), LT_ERR_IO, tp("nope.gz"), "No such file");
}

// ---- HDF5 helpers ----

Test(h5, write_read_roundtrip_with_type_conversion) {
    lt_h5 *f;
    cr_assert_eq(lt_h5_create(tp("a.h5"), &f), LT_OK, "%s", lt_last_error());
    const int64_t d[2] = {5, 3};
    uint8_t u8[15];
    int32_t i32[15];
    double f64[15];
    float f32[15];
    for (int i = 0; i < 15; i++) {
        u8[i] = (uint8_t)(i * 17);
        i32[i] = (i - 7) * 100003;
        f64[i] = (i - 7) * 0.375;   // exact in float
        f32[i] = (float)(i - 7) * 0.125f;
    }
    cr_assert_eq(lt_h5_write(f, "g/u8", LT_H5_U8, u8, 2, d, (lt_h5_write_opts){LT_H5_U8, 0}), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_h5_write(f, "g/i32", LT_H5_I32, i32, 2, d, (lt_h5_write_opts){LT_H5_I32, 6}), LT_OK, "%s",
                 lt_last_error());
    cr_assert_eq(lt_h5_write(f, "g/sub/f64", LT_H5_F64, f64, 2, d, (lt_h5_write_opts){LT_H5_F64, 0}), LT_OK, "%s",
                 lt_last_error());
    // float32 in memory stored as float16 (values exact in half precision).
    cr_assert_eq(lt_h5_write(f, "f16", LT_H5_F32, f32, 2, d, (lt_h5_write_opts){LT_H5_F16, 1}), LT_OK, "%s",
                 lt_last_error());
    cr_assert_eq(lt_h5_commit(f), LT_OK, "%s", lt_last_error());

    cr_assert_eq(lt_h5_open(tp("a.h5"), &f), LT_OK, "%s", lt_last_error());
    const char *names[4] = {"g/u8", "g/i32", "g/sub/f64", "f16"};
    const lt_h5_type types[4] = {LT_H5_U8, LT_H5_I32, LT_H5_F64, LT_H5_F16};
    for (int k = 0; k < 4; k++) {
        lt_h5_info info;
        cr_assert_eq(lt_h5_info_get(f, names[k], &info), LT_OK, "%s", lt_last_error());
        cr_assert(info.ndim == 2 && info.dims[0] == 5 && info.dims[1] == 3 && info.numel == 15, "%s", names[k]);
        cr_assert_eq(info.type, types[k], "%s stored as %s", names[k], lt_h5_type_name(info.type));
        cr_assert(lt_h5_has_dataset(f, names[k]));
        float got[15];
        cr_assert_eq(lt_h5_read_f32(f, names[k], got, 15), LT_OK, "%s", lt_last_error());
        for (int i = 0; i < 15; i++) {
            float want = k == 0 ? (float)u8[i] : k == 1 ? (float)i32[i] : k == 2 ? (float)f64[i] : f32[i];
            cr_assert_eq(got[i], want, "%s[%d]: %g vs %g", names[k], i, got[i], want);
        }
        // Rows 1..3 only (a hyperslab).
        float rows[6];
        cr_assert_eq(lt_h5_read_rows_f32(f, names[k], 1, 2, rows), LT_OK, "%s", lt_last_error());
        for (int i = 0; i < 6; i++) cr_assert_eq(rows[i], got[3 + i]);
    }
    int32_t gi[15], gr[3];
    cr_assert_eq(lt_h5_read_i32(f, "g/i32", gi, 15), LT_OK, "%s", lt_last_error());
    cr_assert(memcmp(gi, i32, sizeof gi) == 0);
    cr_assert_eq(lt_h5_read_rows_i32(f, "g/u8", 4, 1, gr), LT_OK, "%s", lt_last_error());
    for (int i = 0; i < 3; i++) cr_assert_eq(gr[i], u8[12 + i]);
    cr_assert_eq(lt_h5_read_rows_i32(f, "g/u8", 5, 0, gr), LT_OK, "empty range at the end: %s", lt_last_error());
    cr_assert(lt_h5_has_group(f, "g/sub"));
    cr_assert(!lt_h5_has_dataset(f, "g/sub"));
    cr_assert(!lt_h5_has_dataset(f, "g/none/x"));
    lt_h5_close(f);
}

Test(h5, float16_bits_read_as_float32) {
    // Raw IEEE half bit patterns written without conversion, then converted by HDF5 on read.
    const uint16_t bits[6] = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x0000};
    const float want[6] = {1.0f, -2.0f, 0.5f, 65504.0f, 5.9604644775390625e-8f, 0.0f};
    lt_h5 *f;
    cr_assert_eq(lt_h5_create(tp("h.h5"), &f), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_h5_write(f, "h", LT_H5_F16, bits, 1, (int64_t[]){6}, (lt_h5_write_opts){LT_H5_F16, 0}), LT_OK,
                 "%s", lt_last_error());
    cr_assert_eq(lt_h5_commit(f), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_h5_open(tp("h.h5"), &f), LT_OK);
    float got[6];
    cr_assert_eq(lt_h5_read_f32(f, "h", got, 6), LT_OK, "%s", lt_last_error());
    for (int i = 0; i < 6; i++) cr_assert_eq(got[i], want[i], "%d: %g vs %g", i, got[i], want[i]);
    lt_h5_close(f);
}

Test(h5, gzip_chunked_rows_roundtrip) {
    // 3000 rows of 200 floats: several 1 MiB chunks; rows written in pieces, read across chunk edges.
    const int R = 3000, C = 200;
    float *x = malloc(sizeof(float) * R * C), *y = malloc(sizeof(float) * R * C);
    for (int i = 0; i < R * C; i++) x[i] = (float)(i % 977) * 0.25f;
    lt_h5 *f;
    cr_assert_eq(lt_h5_create(tp("z.h5"), &f), LT_OK);
    cr_assert_eq(lt_h5_create_dataset(f, "bags/x", 2, (int64_t[]){R, C}, (lt_h5_write_opts){LT_H5_F32, 4}), LT_OK,
                 "%s", lt_last_error());
    for (int r0 = 0; r0 < R; r0 += 700) {
        int nr = r0 + 700 > R ? R - r0 : 700;
        cr_assert_eq(lt_h5_write_rows(f, "bags/x", LT_H5_F32, r0, nr, x + (size_t)r0 * C), LT_OK, "%s", lt_last_error());
    }
    cr_assert_eq(lt_h5_commit(f), LT_OK, "%s", lt_last_error());
    struct stat st;
    stat(tp("z.h5"), &st);
    cr_assert_lt(st.st_size, (off_t)sizeof(float) * R * C / 2, "gzip did not compress: %lld bytes", (long long)st.st_size);
    cr_assert_eq(lt_h5_open(tp("z.h5"), &f), LT_OK);
    cr_assert_eq(lt_h5_read_rows_f32(f, "bags/x", 1234, 1111, y), LT_OK, "%s", lt_last_error());
    cr_assert(memcmp(y, x + 1234 * C, sizeof(float) * 1111 * C) == 0);
    cr_assert_eq(lt_h5_read_f32(f, "bags/x", y, (int64_t)R * C), LT_OK);
    cr_assert(memcmp(y, x, sizeof(float) * R * C) == 0);
    lt_h5_close(f);
    free(x);
    free(y);
}

Test(h5, attributes_and_groups) {
    lt_h5 *f;
    cr_assert_eq(lt_h5_create(tp("a.h5"), &f), LT_OK);
    cr_assert_eq(lt_h5_create_group(f, "slides/s1"), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_h5_create_group(f, "slides/s1"), LT_OK, "existing group: %s", lt_last_error());
    cr_assert_eq(lt_h5_write(f, "slides/s1/feat", LT_H5_F32, (float[]){1, 2}, 1, (int64_t[]){2},
                             (lt_h5_write_opts){LT_H5_F32, 0}), LT_OK);
    cr_assert_eq(lt_h5_attr_write_str(f, "/", "source", "first"), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_h5_attr_write_str(f, "", "source", "replaced value"), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_h5_attr_write_int(f, "slides/s1", "label", -3), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_h5_attr_write_f64(f, "slides/s1/feat", "scale", 0.1), LT_OK, "%s", lt_last_error());
    // A variable-length string attribute, as h5py writes str attributes, made with raw HDF5.
    cr_assert_eq(lt_h5_commit(f), LT_OK, "%s", lt_last_error());
    hid_t fid = H5Fopen(tp("a.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert(fid >= 0);
    hid_t vt = H5Tcopy(H5T_C_S1);
    H5Tset_size(vt, H5T_VARIABLE);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(fid, "vlen", vt, sp, H5P_DEFAULT, H5P_DEFAULT);
    const char *vs = "variable length";
    cr_assert(H5Awrite(a, vt, &vs) >= 0);
    H5Aclose(a); H5Sclose(sp); H5Tclose(vt); H5Fclose(fid);

    cr_assert_eq(lt_h5_open(tp("a.h5"), &f), LT_OK);
    char buf[64];
    int64_t iv;
    double dv;
    cr_assert_eq(lt_h5_attr_read_str(f, "/", "source", buf, sizeof buf), LT_OK, "%s", lt_last_error());
    cr_assert_str_eq(buf, "replaced value");
    cr_assert_eq(lt_h5_attr_read_str(f, "/", "vlen", buf, sizeof buf), LT_OK, "%s", lt_last_error());
    cr_assert_str_eq(buf, "variable length");
    cr_assert_eq(lt_h5_attr_read_int(f, "slides/s1", "label", &iv), LT_OK, "%s", lt_last_error());
    cr_assert_eq(iv, -3);
    cr_assert_eq(lt_h5_attr_read_f64(f, "slides/s1/feat", "scale", &dv), LT_OK, "%s", lt_last_error());
    cr_assert_eq(dv, 0.1);
    cr_assert_eq(lt_h5_attr_read_f64(f, "slides/s1", "label", &dv), LT_OK, "int read as f64: %s", lt_last_error());
    cr_assert_eq(dv, -3.0);
    cr_assert(lt_h5_has_attr(f, "/", "source"));
    cr_assert(!lt_h5_has_attr(f, "/", "nope"));
    // Errors name the file, the object and the attribute.
    assert_err(lt_h5_attr_read_str(f, "/", "source", buf, 5), LT_ERR_ARG, "source", tp("a.h5"));
    assert_err(lt_h5_attr_read_int(f, "slides/s1/feat", "scale", &iv), LT_ERR_DTYPE, "scale", "slides/s1/feat",
               "integer");
    assert_err(lt_h5_attr_read_int(f, "slides/s1", "nope", &iv), LT_ERR_FORMAT, "nope", "slides/s1", tp("a.h5"));
    assert_err(lt_h5_attr_read_int(f, "slides/s9", "label", &iv), LT_ERR_FORMAT, "slides/s9", tp("a.h5"));
    assert_err(lt_h5_attr_read_str(f, "slides/s1", "label", buf, sizeof buf), LT_ERR_DTYPE, "label", "string");
    assert_err(lt_h5_attr_write_int(f, "/", "x", 1), LT_ERR_STATE, "read-only", tp("a.h5"));
    lt_h5_close(f);
}

Test(h5, read_errors_name_file_and_dataset) {
    lt_h5 *f;
    cr_assert_eq(lt_h5_create(tp("e.h5"), &f), LT_OK);
    cr_assert_eq(lt_h5_write(f, "train/x", LT_H5_F32, (float[]){1, 2, 3, 4, 5, 6}, 2, (int64_t[]){3, 2},
                             (lt_h5_write_opts){LT_H5_F32, 0}), LT_OK);
    assert_err(lt_h5_write(f, "train/x", LT_H5_F32, (float[]){1}, 1, (int64_t[]){1}, (lt_h5_write_opts){LT_H5_F32, 0}),
               LT_ERR_STATE, "train/x", "already exists");
    assert_err(lt_h5_create_dataset(f, "y", 1, (int64_t[]){3}, (lt_h5_write_opts){LT_H5_F32, 10}), LT_ERR_ARG,
               "gzip level 10");
    cr_assert_eq(lt_h5_commit(f), LT_OK);
    cr_assert_eq(lt_h5_open(tp("e.h5"), &f), LT_OK);
    float b[6];
    int32_t ib[6];
    assert_err(lt_h5_read_f32(f, "train/y", b, 6), LT_ERR_FORMAT, tp("e.h5"), "train/y");
    assert_err(lt_h5_read_f32(f, "train", b, 6), LT_ERR_FORMAT, tp("e.h5"), "'train'", "group");
    assert_err(lt_h5_read_f32(f, "train/x", b, 5), LT_ERR_SHAPE, tp("e.h5"), "train/x", "[3,2]", "expected 5");
    assert_err(lt_h5_read_rows_f32(f, "train/x", 2, 2, b), LT_ERR_SHAPE, tp("e.h5"), "train/x", "[2,4)", "[3,2]");
    assert_err(lt_h5_read_i32(f, "train/x", ib, 6), LT_ERR_DTYPE, tp("e.h5"), "train/x", "float32");
    lt_h5_info info;
    assert_err(lt_h5_info_get(f, "nothing", &info), LT_ERR_FORMAT, tp("e.h5"), "nothing");
    lt_h5_close(f);
}

Test(h5, open_errors_distinguish_missing_and_not_hdf5) {
    lt_h5 *f = (lt_h5 *)1;
    assert_err(lt_h5_open(tp("missing.h5"), &f), LT_ERR_IO, tp("missing.h5"), "No such file");
    cr_assert_null(f);
    FILE *t = fopen(tp("text.h5"), "w");
    fputs("this is not an HDF5 file, just some text that is long enough\n", t);
    fclose(t);
    assert_err(lt_h5_open(tp("text.h5"), &f), LT_ERR_FORMAT, tp("text.h5"), "not an HDF5 file");
    fclose(fopen(tp("empty.h5"), "w"));
    assert_err(lt_h5_open(tp("empty.h5"), &f), LT_ERR_FORMAT, tp("empty.h5"));
    assert_err(lt_h5_open(tmp_root, &f), LT_ERR_IO, tmp_root, "not a regular file");
    assert_err(lt_h5_create(tp("no/such/dir/x.h5"), &f), LT_ERR_IO, "no/such/dir/x.h5");
}

Test(h5, write_is_atomic) {
    // A previous good file stays in place until commit; an abandoned write leaves nothing behind.
    lt_h5 *f;
    cr_assert_eq(lt_h5_create(tp("w.h5"), &f), LT_OK);
    cr_assert_eq(lt_h5_attr_write_int(f, "/", "version", 1), LT_OK);
    cr_assert(!exists(tp("w.h5")), "final name exists before commit");
    cr_assert_eq(count_named(tmp_root, "w.h5.tmp"), 1);
    cr_assert_eq(lt_h5_commit(f), LT_OK, "%s", lt_last_error());
    cr_assert_eq(count_named(tmp_root, "w.h5.tmp"), 0);

    cr_assert_eq(lt_h5_create(tp("w.h5"), &f), LT_OK);
    cr_assert_eq(lt_h5_attr_write_int(f, "/", "version", 2), LT_OK);
    lt_h5 *r;
    int64_t v = 0;
    cr_assert_eq(lt_h5_open(tp("w.h5"), &r), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_h5_attr_read_int(r, "/", "version", &v), LT_OK);
    cr_assert_eq(v, 1, "the old file changed before commit");
    lt_h5_close(r);
    lt_h5_close(f);   // abandoned
    cr_assert_eq(count_named(tmp_root, "w.h5.tmp"), 0);
    cr_assert_eq(lt_h5_open(tp("w.h5"), &r), LT_OK);
    cr_assert_eq(lt_h5_attr_read_int(r, "/", "version", &v), LT_OK);
    cr_assert_eq(v, 1);
    lt_h5_close(r);

    cr_assert_eq(lt_h5_create(tp("w.h5"), &f), LT_OK);
    cr_assert_eq(lt_h5_attr_write_int(f, "/", "version", 3), LT_OK);
    cr_assert_eq(lt_h5_commit(f), LT_OK);
    cr_assert_eq(lt_h5_open(tp("w.h5"), &r), LT_OK);
    cr_assert_eq(lt_h5_attr_read_int(r, "/", "version", &v), LT_OK);
    cr_assert_eq(v, 3, "commit did not replace the old file");
    lt_h5_close(r);
}

// ---- Fashion-MNIST import / load ----

Test(mnist, import_and_load_28x28_exactly) {
    tiny_set t = tiny_make(tmp_root, 7, 3, 28, 28, 5, 1);
    cr_assert_eq(lt_fashion_mnist_import(tmp_root, tp("fm.h5")), LT_OK, "%s", lt_last_error());
    cr_assert_eq(count_named(tmp_root, ".tmp"), 0);
    lt_h5 *f;
    cr_assert_eq(lt_h5_open(tp("fm.h5"), &f), LT_OK);
    lt_h5_info info;
    cr_assert_eq(lt_h5_info_get(f, "train/images", &info), LT_OK);
    cr_assert(info.ndim == 3 && info.dims[0] == 7 && info.dims[1] == 28 && info.dims[2] == 28 && info.type == LT_H5_U8);
    cr_assert_eq(lt_h5_info_get(f, "test/labels", &info), LT_OK);
    cr_assert(info.ndim == 1 && info.dims[0] == 3 && info.type == LT_H5_U8);
    char buf[256];
    int64_t nc;
    cr_assert_eq(lt_h5_attr_read_str(f, "/", "classes", buf, sizeof buf), LT_OK);
    cr_assert_str_eq(buf, "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot");
    cr_assert_eq(lt_h5_attr_read_str(f, "/", "source", buf, sizeof buf), LT_OK);
    cr_assert_str_eq(buf, tmp_root);
    cr_assert_eq(lt_h5_attr_read_int(f, "/", "num_classes", &nc), LT_OK);
    cr_assert_eq(nc, 10);
    uint8_t raw[7 * 28 * 28];
    cr_assert_eq(lt_h5_read(f, "train/images", LT_H5_U8, raw, sizeof raw), LT_OK);
    cr_assert(memcmp(raw, t.img[0], sizeof raw) == 0);
    lt_h5_close(f);
    check_loaded(tp("fm.h5"), &t);
    tiny_free(&t);
}

Test(mnist, other_image_sizes_and_plain_files) {
    tiny_set t = tiny_make(tmp_root, 4, 2, 5, 3, 9, 0);
    cr_assert_eq(lt_fashion_mnist_import(tmp_root, tp("fm.h5")), LT_OK, "%s", lt_last_error());
    check_loaded(tp("fm.h5"), &t);
    // Train 5x3 but test 3x5: refused, naming both files.
    uint8_t px[2 * 15] = {0};
    uint32_t d[3] = {2, 3, 5};
    write_idx(tp("t10k-images-idx3-ubyte"), 0, LT_IDX_MAGIC_IMAGES, 3, d, px, sizeof px);
    assert_err(lt_fashion_mnist_import(tmp_root, tp("fm2.h5")), LT_ERR_FORMAT, "5x3", "3x5",
               tp("t10k-images-idx3-ubyte"));
    cr_assert(!exists(tp("fm2.h5")));
    tiny_free(&t);
}

Test(mnist, import_refuses_bad_sources_and_leaves_no_file) {
    tiny_set t = tiny_make(tmp_root, 6, 4, 28, 28, 1, 1);
    const char *lab = tp("train-labels-idx1-ubyte.gz");
    // Label count differs from image count.
    uint8_t l5[5] = {0, 1, 2, 3, 4};
    write_idx(lab, 1, LT_IDX_MAGIC_LABELS, 1, (uint32_t[]){5}, l5, 5);
    assert_err(lt_fashion_mnist_import(tmp_root, tp("o.h5")), LT_ERR_FORMAT, lab, "5 labels", "6 images");
    // A label out of range.
    uint8_t l6[6] = {0, 1, 2, 10, 4, 5};
    write_idx(lab, 1, LT_IDX_MAGIC_LABELS, 1, (uint32_t[]){6}, l6, 6);
    assert_err(lt_fashion_mnist_import(tmp_root, tp("o.h5")), LT_ERR_FORMAT, lab, "label 10 at index 3");
    // Wrong magic (images file where labels belong).
    write_idx(lab, 1, LT_IDX_MAGIC_IMAGES, 3, (uint32_t[]){6, 1, 1}, l6, 6);
    assert_err(lt_fashion_mnist_import(tmp_root, tp("o.h5")), LT_ERR_FORMAT, lab, "wrong magic");
    // Truncated.
    write_idx(lab, 1, LT_IDX_MAGIC_LABELS, 1, (uint32_t[]){6}, l6, 2);
    assert_err(lt_fashion_mnist_import(tmp_root, tp("o.h5")), LT_ERR_FORMAT, lab, "2 of 6");
    // Missing.
    cr_assert_eq(unlink(lab), 0);
    assert_err(lt_fashion_mnist_import(tmp_root, tp("o.h5")), LT_ERR_IO, lab);
    cr_assert(!exists(tp("o.h5")));
    cr_assert_eq(count_named(tmp_root, ".tmp"), 0);
    tiny_free(&t);
}

// Writes an h5 with train/images [n,h,w] (type img_t) and, if lab is set, train/labels [nl].
static void write_mnist_h5(const char *path, int n, int h, int w, lt_h5_type img_t, int nl, const int32_t *lab) {
    lt_h5 *f;
    cr_assert_eq(lt_h5_create(path, &f), LT_OK);
    uint8_t *px = calloc((size_t)n * h * w, 1);
    cr_assert_eq(lt_h5_write(f, "train/images", LT_H5_U8, px, 3, (int64_t[]){n, h, w}, (lt_h5_write_opts){img_t, 0}),
                 LT_OK, "%s", lt_last_error());
    if (lab)
        cr_assert_eq(lt_h5_write(f, "train/labels", LT_H5_I32, lab, 1, (int64_t[]){nl}, (lt_h5_write_opts){LT_H5_U8, 0}),
                     LT_OK);
    cr_assert_eq(lt_h5_commit(f), LT_OK);
    free(px);
}

Test(mnist, load_errors_name_file_and_dataset) {
    lt_mnist m;
    const int32_t lab[4] = {0, 9, 3, 1};
    write_mnist_h5(tp("nolab.h5"), 4, 28, 28, LT_H5_U8, 0, NULL);
    assert_err(lt_mnist_load(tp("nolab.h5"), "train", &m), LT_ERR_FORMAT, tp("nolab.h5"), "train/labels");
    cr_assert_null(m.x);
    assert_err(lt_mnist_load(tp("nolab.h5"), "test", &m), LT_ERR_FORMAT, tp("nolab.h5"), "test/images");

    write_mnist_h5(tp("count.h5"), 4, 28, 28, LT_H5_U8, 3, lab);
    assert_err(lt_mnist_load(tp("count.h5"), "train", &m), LT_ERR_SHAPE, tp("count.h5"), "train/labels", "[4]");

    write_mnist_h5(tp("range.h5"), 4, 2, 2, LT_H5_U8, 4, (int32_t[]){0, 1, 12, 3});
    assert_err(lt_mnist_load(tp("range.h5"), "train", &m), LT_ERR_FORMAT, tp("range.h5"), "train/labels",
               "label 12 at index 2");

    write_mnist_h5(tp("type.h5"), 4, 2, 2, LT_H5_F32, 4, lab);
    assert_err(lt_mnist_load(tp("type.h5"), "train", &m), LT_ERR_DTYPE, tp("type.h5"), "train/images", "float32");

    lt_h5 *f;
    cr_assert_eq(lt_h5_create(tp("rank.h5"), &f), LT_OK);
    cr_assert_eq(lt_h5_write(f, "train/images", LT_H5_U8, (uint8_t[8]){0}, 2, (int64_t[]){4, 2},
                             (lt_h5_write_opts){LT_H5_U8, 0}), LT_OK);
    cr_assert_eq(lt_h5_commit(f), LT_OK);
    assert_err(lt_mnist_load(tp("rank.h5"), "train", &m), LT_ERR_SHAPE, tp("rank.h5"), "train/images", "[4,2]",
               "[N,H,W]");

    FILE *t = fopen(tp("text.h5"), "w");
    fputs("not hdf5 at all, only text\n", t);
    fclose(t);
    assert_err(lt_mnist_load(tp("text.h5"), "train", &m), LT_ERR_FORMAT, tp("text.h5"), "not an HDF5 file");
    assert_err(lt_mnist_load(tp("absent.h5"), "train", &m), LT_ERR_IO, tp("absent.h5"));
}

// ---- ensure ----

Test(mnist, ensure_reports_missing_package) {
    cr_assert_eq(mkdir(tp("empty"), 0755), 0);
    setenv(LT_FASHION_MNIST_ENV, tp("empty"), 1);
    char path[512];
    assert_err(lt_fashion_mnist_ensure(tp("cache"), path, sizeof path), LT_ERR_IO, "apt-get install dataset-fashion-mnist",
               "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
               "t10k-labels-idx1-ubyte.gz", tp("empty/t10k-labels-idx1-ubyte.gz"), LT_FASHION_MNIST_ENV);
    cr_assert(!exists(tp("cache/fashion_mnist.h5")));
}

Test(mnist, ensure_imports_once_then_reuses_the_cache) {
    cr_assert_eq(mkdir(tp("src"), 0755), 0);
    tiny_set t = tiny_make(tp("src"), 5, 2, 28, 28, 3, 1);
    setenv(LT_FASHION_MNIST_ENV, tp("src"), 1);
    char path[512];
    cr_assert_eq(lt_fashion_mnist_ensure(tp("cache/nested"), path, sizeof path), LT_OK, "%s", lt_last_error());
    cr_assert_str_eq(path, tp("cache/nested/fashion_mnist.h5"));
    check_loaded(path, &t);
    struct stat a, b;
    cr_assert_eq(stat(path, &a), 0);
    // With the source gone the valid cache is still used, untouched.
    setenv(LT_FASHION_MNIST_ENV, tp("gone"), 1);
    cr_assert_eq(lt_fashion_mnist_ensure(tp("cache/nested"), path, sizeof path), LT_OK, "%s", lt_last_error());
    cr_assert_eq(stat(path, &b), 0);
    cr_assert_eq(a.st_ino, b.st_ino, "cache was rewritten");
    // A corrupt cache is replaced by a fresh import.
    FILE *f = fopen(path, "w");
    fputs("garbage", f);
    fclose(f);
    assert_err(lt_fashion_mnist_ensure(tp("cache/nested"), path, sizeof path), LT_ERR_IO, "not usable",
               "apt-get install dataset-fashion-mnist");
    setenv(LT_FASHION_MNIST_ENV, tp("src"), 1);
    cr_assert_eq(lt_fashion_mnist_ensure(tp("cache/nested"), path, sizeof path), LT_OK, "%s", lt_last_error());
    check_loaded(path, &t);
    char small[8];
    assert_err(lt_fashion_mnist_ensure(tp("cache/nested"), small, sizeof small), LT_ERR_ARG, "8 bytes");
    tiny_free(&t);
}

// ---- the real data (Debian's dataset-fashion-mnist), when installed ----

Test(mnist, real_fashion_mnist, .timeout = 120) {
    struct stat st;
    if (stat(LT_FASHION_MNIST_DIR, &st) != 0) cr_skip_test("%s not installed", LT_FASHION_MNIST_DIR);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char path[512];
    cr_assert_eq(lt_fashion_mnist_ensure(tp("cache"), path, sizeof path), LT_OK, "%s", lt_last_error());
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double import_s = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
    lt_mnist tr, te;
    cr_assert_eq(lt_mnist_load(path, "train", &tr), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_mnist_load(path, "test", &te), LT_OK, "%s", lt_last_error());
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double load_s = (t0.tv_sec - t1.tv_sec) + 1e-9 * (t0.tv_nsec - t1.tv_nsec);
    fprintf(stderr, "real Fashion-MNIST: import %.2f s, load train+test %.2f s\n", import_s, load_s);
    cr_assert_lt(import_s, 60.0);
    cr_assert_eq(tr.n, 60000);
    cr_assert_eq(te.n, 10000);
    cr_assert(tr.h == 28 && tr.w == 28 && te.h == 28 && te.w == 28);
    int hist[2][10] = {{0}};
    for (int i = 0; i < tr.n; i++) hist[0][lt_i32(tr.y)[i]]++;
    for (int i = 0; i < te.n; i++) hist[1][lt_i32(te.y)[i]]++;
    for (int c = 0; c < 10; c++) {
        cr_assert_eq(hist[0][c], 6000, "train class %d: %d", c, hist[0][c]);
        cr_assert_eq(hist[1][c], 1000, "test class %d: %d", c, hist[1][c]);
    }
    // The documented normalization makes the training pixels mean ~0, std ~1.
    double s1 = 0, s2 = 0;
    const float *x = lt_f32(tr.x);
    for (int64_t i = 0; i < tr.x->numel; i++) { s1 += x[i]; s2 += (double)x[i] * x[i]; }
    double mean = s1 / tr.x->numel, sd = sqrt(s2 / tr.x->numel - mean * mean);
    cr_assert(fabs(mean) < 0.001 && fabs(sd - 1) < 0.001, "normalized train pixels: mean %g std %g", mean, sd);
    // Pixel 0 maps to -mean/std: the minimum value present.
    cr_assert_eq(x[0], (0.0f / 255.0f - 0.2860f) / 0.3530f);
    lt_mnist_free(&tr);
    lt_mnist_free(&te);
}
