// safetensors writer/reader, atomic file replacement, and a cross-check with
// Python's reference safetensors package (tests/py/check_safetensors.py).
#include "lt_test.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libtrain/atomic_file.h"
#include "libtrain/json.h"
#include "libtrain/safetensors.h"

#define PIP_HINT "python3 -m pip install safetensors numpy"

/* ---- helpers ---- */

static char *tmpdir_new(void) {
    char *d = strdup("/tmp/lt_st_XXXXXX");
    cr_assert(mkdtemp(d), "mkdtemp: %s", strerror(errno));
    return d;
}

static char *path_in(const char *dir, const char *name) {
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

// Removes dir and what is in it (one level of subdirectories).
static void tmpdir_free(char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *p = path_in(dir, e->d_name);
            if (unlink(p) != 0) rmdir(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

static int count_tmp_files(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

// A file image: 8-byte length, the header as given (no padding added), data.
static unsigned char *image(const char *hdr, const void *data, size_t ndata, size_t *n) {
    size_t h = strlen(hdr);
    unsigned char *b = malloc(8 + h + ndata + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, hdr, h);
    if (ndata) memcpy(b + 8 + h, data, ndata);
    *n = 8 + h + ndata;
    return b;
}

static uint64_t le64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static void assert_values_f32(const char *what, const lt_tensor *t, const float *want) {
    for (int64_t i = 0; i < t->numel; i++)
        cr_assert(memcmp(&lt_f32(t)[i], &want[i], 4) == 0, "%s[%lld]: got %.9g want %.9g", what, (long long)i,
                  lt_f32(t)[i], want[i]);
}

static const char *source_dir(void) {
    const char *s = getenv("LT_SOURCE_DIR");
    if (!s || !*s) cr_assert_fail("LT_SOURCE_DIR is not set: run through ctest, or export LT_SOURCE_DIR=<repo root>");
    return s;
}

// Runs tests/py/check_safetensors.py with the given arguments; returns its exit status.
static int run_py(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "python3 '%s/tests/py/check_safetensors.py' %s", source_dir(), args);
    int st = system(cmd);
    cr_assert(st != -1 && WIFEXITED(st), "could not run: %s", cmd);
    int rc = WEXITSTATUS(st);
    if (rc == 127) cr_assert_fail("python3 not found (needed for the safetensors cross-check): install Python 3, then " PIP_HINT);
    if (rc == 3) cr_assert_fail("Python lacks safetensors or numpy: " PIP_HINT);
    return rc;
}

/* ---- golden vectors (reference test suite) ---- */

static const char GOLDEN1[] = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";

static unsigned char *golden1(size_t *n) {
    float data[6] = {0, 1, 2, 3, 4, 5};
    char hdr[128];
    snprintf(hdr, sizeof hdr, "%-64s", GOLDEN1);   // 64 already: no padding
    return image(hdr, data, sizeof data, n);
}

Test(safetensors, golden_attn0_header_64) {
    size_t n;
    unsigned char *b = golden1(&n);
    cr_assert_eq(strlen(GOLDEN1), 64, "the golden header needs no padding");
    cr_assert_eq(le64(b), 64);
    cr_assert_eq(n, 8 + 64 + 24);
    char *dir = tmpdir_new(), *p = path_in(dir, "g.safetensors");
    write_bytes(p, b, n);
    lt_safetensors *st;
    cr_assert_eq(lt_safetensors_open(p, &st), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_safetensors_count(st), 1);
    cr_assert_str_eq(lt_safetensors_name(st, 0), "attn.0");
    cr_assert_str_eq(lt_safetensors_dtype(st, 0), "F32");
    cr_assert_eq(lt_safetensors_ndim(st, 0), 3);
    const int64_t *sh = lt_safetensors_shape(st, 0);
    cr_assert(sh[0] == 1 && sh[1] == 2 && sh[2] == 3);
    cr_assert_eq(lt_safetensors_nbytes(st, 0), 24);
    cr_assert_eq(lt_safetensors_meta_count(st), 0);
    cr_assert_null(lt_safetensors_meta(st, "format"));
    lt_tensor *t = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(1, 2, 3));
    cr_assert_eq(lt_safetensors_read(st, "attn.0", t), LT_OK, "%s", lt_last_error());
    assert_values_f32("attn.0", t, (float[]){0, 1, 2, 3, 4, 5});
    lt_tensor_free(t);
    lt_safetensors_close(st);
    // The reference writer produces exactly these bytes.
    char *ref = path_in(dir, "ref.safetensors"), args[1024];
    snprintf(args, sizeof args, "--write-golden '%s'", ref);
    cr_assert_eq(run_py(args), 0);
    size_t rn;
    unsigned char *rb = read_bytes(ref, &rn);
    cr_assert(rn == n && !memcmp(rb, b, n), "reference writer's golden file differs from the hand-built one");
    free(rb); free(ref); free(b); free(p);
    tmpdir_free(dir);
}

Test(safetensors, golden_attn0_4d_header_72_with_7_spaces) {
    const char *json = "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}";
    cr_assert_eq(strlen(json), 65);
    char hdr[128];
    snprintf(hdr, sizeof hdr, "%s       ", json);
    float data[6] = {-1, 0.5f, 2, 3, 4, 5};
    size_t n;
    unsigned char *b = image(hdr, data, sizeof data, &n);
    cr_assert_eq(le64(b), 72);
    char *dir = tmpdir_new(), *p = path_in(dir, "g.safetensors");
    write_bytes(p, b, n);
    lt_safetensors *st;
    cr_assert_eq(lt_safetensors_open(p, &st), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_safetensors_ndim(st, 0), 4);
    lt_tensor *t = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(1, 1, 2, 3));
    cr_assert_eq(lt_safetensors_read(st, "attn0", t), LT_OK, "%s", lt_last_error());
    assert_values_f32("attn0", t, data);
    lt_tensor_free(t);
    lt_safetensors_close(st);
    free(b); free(p);
    tmpdir_free(dir);
}

Test(safetensors, writer_layout_padding_and_order) {
    char *dir = tmpdir_new(), *p = path_in(dir, "w.safetensors");
    lt_tensor *a = lt_test_rand(1, -1, 1, LT_SHAPE(1, 2, 3));
    cr_assert_eq(lt_safetensors_save(p, 1, (const char *[]){"attn.0"}, (lt_tensor *[]){a}, 0, NULL, NULL), LT_OK,
                 "%s", lt_last_error());
    size_t n;
    unsigned char *b = read_bytes(p, &n);
    const char *want = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
    uint64_t h = le64(b);
    cr_assert_eq(h % 8, 0, "header length %llu", (unsigned long long)h);
    cr_assert_eq(h, (strlen(want) + 7) / 8 * 8);
    cr_assert(!memcmp(b + 8, want, strlen(want)), "header: %.*s", (int)h, b + 8);
    for (size_t i = strlen(want); i < h; i++) cr_assert_eq(b[8 + i], ' ', "padding byte %zu", i);
    cr_assert_eq(n, 8 + h + 24);
    cr_assert(!memcmp(b + 8 + h, a->data, 24));
    free(b);

    // Order: F32 before I32 (descending dtype), then by name; every offset aligned.
    lt_tensor *i1 = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(3));
    lt_tensor *f1 = lt_test_rand(2, -1, 1, LT_SHAPE(5));
    lt_tensor *f2 = lt_test_rand(3, -1, 1, LT_SHAPE(1));
    cr_assert_eq(lt_safetensors_save(p, 4, (const char *[]){"a.int", "zeta", "b", "attn.0"},
                                     (lt_tensor *[]){i1, f1, f2, a}, 0, NULL, NULL), LT_OK, "%s", lt_last_error());
    b = read_bytes(p, &n);
    h = le64(b);
    cr_assert_eq(h % 8, 0);
    const char *want2 = "{\"__metadata__\":{\"format\":\"pt\"},"
                        "\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[24,28]},"
                        "\"zeta\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[28,48]},"
                        "\"a.int\":{\"dtype\":\"I32\",\"shape\":[3],\"data_offsets\":[48,60]}}";
    cr_assert(!memcmp(b + 8, want2, strlen(want2)), "header: %.*s", (int)h, b + 8);
    cr_assert_eq(n, 8 + h + 60);
    cr_assert_eq(count_tmp_files(dir), 0);
    free(b);
    lt_tensor_free(a); lt_tensor_free(i1); lt_tensor_free(f1); lt_tensor_free(f2);
    free(p);
    tmpdir_free(dir);
}

/* ---- round trip ---- */

typedef struct {
    const char *names[6];
    lt_tensor *t[6];
    int n;
} tset;

static tset make_set(void) {
    tset s = {{"b.weight", "a.scalar", "z.idx", "m.odd", "c.big", "y"}, {0}, 6};
    s.t[0] = lt_test_rand(11, -3, 3, LT_SHAPE(3, 5, 7));
    s.t[1] = lt_test_rand(12, -3, 3, 0, (int[]){1});
    s.t[2] = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(63));
    for (int i = 0; i < 63; i++) lt_i32(s.t[2])[i] = i * 7919 - 200000;
    s.t[3] = lt_test_rand(13, -3, 3, LT_SHAPE(1));
    s.t[4] = lt_test_rand(14, -1e6f, 1e6f, LT_SHAPE(1000));
    lt_f32(s.t[4])[0] = -0.0f;
    lt_f32(s.t[4])[1] = 1e-40f;   // subnormal survives byte-exact
    lt_f32(s.t[4])[2] = NAN;      // NaN/Inf are not checked by the format
    lt_f32(s.t[4])[3] = -INFINITY;
    s.t[5] = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(2, 3));
    for (int i = 0; i < 6; i++) lt_i32(s.t[5])[i] = INT32_MIN + i;
    return s;
}

static void free_set(tset *s) {
    for (int i = 0; i < s->n; i++) lt_tensor_free(s->t[i]);
}

static const char *META_K[] = {"step", "note", "empty"};
static const char *META_V[] = {"17", "quote \" backslash \\ e-acute \xc3\xa9 newline \n tab \t", ""};

Test(safetensors, round_trip_with_metadata) {
    char *dir = tmpdir_new(), *p = path_in(dir, "rt.safetensors");
    tset s = make_set();
    cr_assert_eq(lt_safetensors_save(p, s.n, s.names, s.t, 3, META_K, META_V), LT_OK, "%s", lt_last_error());
    lt_safetensors *st;
    cr_assert_eq(lt_safetensors_open(p, &st), LT_OK, "%s", lt_last_error());
    cr_assert_str_eq(lt_safetensors_path(st), p);
    cr_assert_eq(lt_safetensors_count(st), 6);
    const char *order[] = {"a.scalar", "b.weight", "c.big", "m.odd", "y", "z.idx"};
    for (int i = 0; i < 6; i++) cr_assert_str_eq(lt_safetensors_name(st, i), order[i]);
    cr_assert_null(lt_safetensors_name(st, 6));
    cr_assert_str_eq(lt_safetensors_meta(st, "format"), "pt");
    for (int i = 0; i < 3; i++) cr_assert_str_eq(lt_safetensors_meta(st, META_K[i]), META_V[i]);
    cr_assert_eq(lt_safetensors_meta_count(st), 4);
    cr_assert_str_eq(lt_safetensors_meta_key(st, 0), "format");
    cr_assert_null(lt_safetensors_meta(st, "absent"));
    for (int k = 0; k < s.n; k++) {
        const lt_tensor *src = s.t[k];
        int i = lt_safetensors_find(st, s.names[k]);
        cr_assert(i >= 0, "%s missing", s.names[k]);
        cr_assert_str_eq(lt_safetensors_dtype(st, i), src->dtype == LT_F32 ? "F32" : "I32");
        cr_assert_eq(lt_safetensors_ndim(st, i), src->ndim);
        for (int d = 0; d < src->ndim; d++) cr_assert_eq(lt_safetensors_shape(st, i)[d], src->shape[d]);
        lt_tensor *dst = lt_tensor_alloc(src->dtype, LT_CPU, src->ndim, src->shape);
        memset(dst->data, 0xA5, (size_t)dst->numel * 4);
        cr_assert_eq(lt_safetensors_read(st, s.names[k], dst), LT_OK, "%s", lt_last_error());
        cr_assert(!memcmp(dst->data, src->data, (size_t)src->numel * 4), "%s differs after the round trip", s.names[k]);
        lt_tensor_free(dst);
    }
    cr_assert_eq(lt_safetensors_find(st, "nope"), -1);
    lt_safetensors_close(st);
    free_set(&s);
    cr_assert_eq(count_tmp_files(dir), 0);
    free(p);
    tmpdir_free(dir);
}

Test(safetensors, user_format_key_replaces_default_and_empty_file_list) {
    char *dir = tmpdir_new(), *p = path_in(dir, "m.safetensors");
    cr_assert_eq(lt_safetensors_save(p, 0, NULL, NULL, 1, (const char *[]){"format"}, (const char *[]){"mlx"}), LT_OK,
                 "%s", lt_last_error());
    size_t n;
    unsigned char *b = read_bytes(p, &n);
    const char *want = "{\"__metadata__\":{\"format\":\"mlx\"}}";
    cr_assert_eq(le64(b), 40);
    cr_assert_eq(n, 48);
    cr_assert(!memcmp(b + 8, want, strlen(want)) && !memcmp(b + 8 + strlen(want), "       ", 7), "%.40s", b + 8);
    lt_safetensors *st;
    cr_assert_eq(lt_safetensors_open(p, &st), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_safetensors_count(st), 0);
    cr_assert_str_eq(lt_safetensors_meta(st, "format"), "mlx");
    cr_assert_eq(lt_safetensors_meta_count(st), 1);
    lt_safetensors_close(st);
    free(b); free(p);
    tmpdir_free(dir);
}

Test(safetensors, read_checks_dtype_shape_and_name) {
    char *dir = tmpdir_new(), *p = path_in(dir, "rd.safetensors");
    tset s = make_set();
    cr_assert_eq(lt_safetensors_save(p, s.n, s.names, s.t, 0, NULL, NULL), LT_OK, "%s", lt_last_error());
    lt_safetensors *st;
    cr_assert_eq(lt_safetensors_open(p, &st), LT_OK, "%s", lt_last_error());
    lt_tensor *wrong_shape = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(3, 5, 8));
    cr_assert_eq(lt_safetensors_read(st, "b.weight", wrong_shape), LT_ERR_SHAPE);
    const char *m = lt_last_error();
    cr_assert(strstr(m, p) && strstr(m, "b.weight") && strstr(m, "[3,5,7]") && strstr(m, "[3,5,8]"), "%s", m);
    lt_tensor *wrong_rank = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(1, 1));
    cr_assert_eq(lt_safetensors_read(st, "a.scalar", wrong_rank), LT_ERR_SHAPE);
    cr_assert(strstr(lt_last_error(), "[] in the file") && strstr(lt_last_error(), "[1,1]"), "%s", lt_last_error());
    lt_tensor *f = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(63));
    cr_assert_eq(lt_safetensors_read(st, "z.idx", f), LT_ERR_DTYPE);
    cr_assert(strstr(lt_last_error(), "z.idx") && strstr(lt_last_error(), "I32") && strstr(lt_last_error(), p),
              "%s", lt_last_error());
    lt_tensor *i = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(1000));
    cr_assert_eq(lt_safetensors_read(st, "c.big", i), LT_ERR_DTYPE);
    cr_assert(strstr(lt_last_error(), "F32") && strstr(lt_last_error(), "i32"), "%s", lt_last_error());
    cr_assert_eq(lt_safetensors_read(st, "no.such", f), LT_ERR_FORMAT);
    cr_assert(strstr(lt_last_error(), "no.such") && strstr(lt_last_error(), p), "%s", lt_last_error());
    cr_assert_eq(lt_safetensors_read(st, "c.big", NULL), LT_ERR_ARG);
    lt_tensor_free(wrong_shape); lt_tensor_free(wrong_rank); lt_tensor_free(f); lt_tensor_free(i);
    lt_safetensors_close(st);
    free_set(&s);
    free(p);
    tmpdir_free(dir);
}

Test(safetensors, save_rejects_bad_arguments_without_touching_the_file) {
    char *dir = tmpdir_new(), *p = path_in(dir, "bad.safetensors");
    lt_tensor *a = lt_test_rand(5, -1, 1, LT_SHAPE(4));
    lt_tensor *b = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(2));
    struct { int n; const char *names[2]; lt_tensor *t[2]; int nm; const char *mk[2], *mv[2]; lt_status code; const char *msg; } cases[] = {
        {2, {"w", "w"}, {a, b}, 0, {0}, {0}, LT_ERR_ARG, "duplicate tensor name \"w\""},
        {1, {"__metadata__"}, {a}, 0, {0}, {0}, LT_ERR_ARG, "reserved"},
        {1, {""}, {a}, 0, {0}, {0}, LT_ERR_ARG, "empty"},
        {1, {NULL}, {a}, 0, {0}, {0}, LT_ERR_ARG, "NULL"},
        {1, {"x"}, {NULL}, 0, {0}, {0}, LT_ERR_ARG, "\"x\" is NULL"},
        {1, {"bad\xff"}, {a}, 0, {0}, {0}, LT_ERR_ARG, "not valid UTF-8"},
        {1, {"x"}, {a}, 2, {"k", "k"}, {"1", "2"}, LT_ERR_ARG, "duplicate metadata key \"k\""},
        {1, {"x"}, {a}, 1, {"k"}, {NULL}, LT_ERR_ARG, "metadata value 0 is NULL"},
        {-1, {"x"}, {a}, 0, {0}, {0}, LT_ERR_ARG, "bad counts"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        lt_status s = lt_safetensors_save(p, cases[k].n, cases[k].names, cases[k].t, cases[k].nm, cases[k].mk, cases[k].mv);
        cr_assert_eq(s, cases[k].code, "case %zu: %s", k, lt_last_error());
        cr_assert(strstr(lt_last_error(), cases[k].msg) && strstr(lt_last_error(), p), "case %zu: %s", k, lt_last_error());
        cr_assert_eq(access(p, F_OK), -1, "case %zu created the file", k);
    }
    cr_assert_eq(count_tmp_files(dir), 0);
    lt_tensor_free(a); lt_tensor_free(b);
    free(p);
    tmpdir_free(dir);
}

/* ---- F16 / BF16 import ---- */

Test(safetensors, reads_f16_and_bf16_into_f32) {
    uint16_t h[6] = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x7C00};
    float hw[6] = {1, -2, 0.5f, 65504, 0x1p-24f, INFINITY};
    uint16_t bf[6] = {0x3F80, 0xC040, 0x4049, 0x0001, 0x8000, 0xFF80};
    float bw[6] = {1, -3, 3.140625f, 0x1p-133f, -0.0f, -INFINITY};
    unsigned char data[24];
    memcpy(data, h, 12);    // F16 first by offset, then BF16 (little-endian host)
    memcpy(data + 12, bf, 12);
    size_t n;
    unsigned char *b = image("{\"h\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
                             "\"bf\":{\"dtype\":\"BF16\",\"shape\":[6],\"data_offsets\":[12,24]},"
                             "\"nan\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[24,26]}}",
                             NULL, 0, &n);
    unsigned char *full = malloc(n + 26);
    memcpy(full, b, n);
    memcpy(full + n, data, 24);
    full[n + 24] = 0x01; full[n + 25] = 0x7E;   // 0x7E01: a NaN
    char *dir = tmpdir_new(), *p = path_in(dir, "h.safetensors");
    write_bytes(p, full, n + 26);
    lt_safetensors *st;
    cr_assert_eq(lt_safetensors_open(p, &st), LT_OK, "%s", lt_last_error());
    lt_tensor *th = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(2, 3));
    lt_tensor *tb = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(6));
    lt_tensor *tn = lt_tensor_alloc(LT_F32, LT_CPU, 0, (int[]){1});
    cr_assert_eq(lt_safetensors_read(st, "h", th), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_safetensors_read(st, "bf", tb), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_safetensors_read(st, "nan", tn), LT_OK, "%s", lt_last_error());
    assert_values_f32("F16", th, hw);
    assert_values_f32("BF16", tb, bw);
    cr_assert(isnan(lt_f32(tn)[0]));
    lt_tensor *ti = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(6));
    cr_assert_eq(lt_safetensors_read(st, "bf", ti), LT_ERR_DTYPE);
    cr_assert(strstr(lt_last_error(), "BF16"), "%s", lt_last_error());
    lt_tensor_free(th); lt_tensor_free(tb); lt_tensor_free(tn); lt_tensor_free(ti);
    lt_safetensors_close(st);
    free(b); free(full); free(p);
    tmpdir_free(dir);
}

// Each F16 bit pattern converts like an IEEE half (checked against a
// formula-based decoder written independently here).
Test(safetensors, f16_conversion_all_patterns) {
    unsigned char *data = malloc(65536 * 2);
    for (int i = 0; i < 65536; i++) { data[2 * i] = (unsigned char)(i & 0xFF); data[2 * i + 1] = (unsigned char)(i >> 8); }
    size_t n;
    unsigned char *b = image("{\"all\":{\"dtype\":\"F16\",\"shape\":[65536],\"data_offsets\":[0,131072]}}", data,
                             65536 * 2, &n);
    char *dir = tmpdir_new(), *p = path_in(dir, "all.safetensors");
    write_bytes(p, b, n);
    lt_safetensors *st;
    cr_assert_eq(lt_safetensors_open(p, &st), LT_OK, "%s", lt_last_error());
    lt_tensor *t = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(65536));
    cr_assert_eq(lt_safetensors_read(st, "all", t), LT_OK, "%s", lt_last_error());
    for (int i = 0; i < 65536; i++) {
        int sign = i >> 15, e = (i >> 10) & 31, m = i & 1023;
        double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
        if (sign) v = -v;
        float got = lt_f32(t)[i];
        if (isnan(v)) cr_assert(isnan(got), "0x%04x -> %g", i, got);
        else cr_assert(got == (float)v && !signbit(got) == !signbit(v), "0x%04x -> %.9g, want %.9g", i, got, v);
    }
    lt_tensor_free(t);
    lt_safetensors_close(st);
    free(b); free(data); free(p);
    tmpdir_free(dir);
}

// Device tensors: saved through a host copy, read back onto the device.
Test(safetensors, cuda_tensors_round_trip) {
    if (lt_device_check(LT_CUDA) != LT_OK) cr_skip_test("no CUDA device: %s", lt_last_error());
    char *dir = tmpdir_new(), *p = path_in(dir, "gpu.safetensors");
    lt_tensor *h = lt_test_rand(51, -1, 1, LT_SHAPE(3, 5, 7));
    lt_tensor *g = lt_tensor_alloc(LT_F32, LT_CUDA, LT_SHAPE(3, 5, 7));
    cr_assert(g, "%s", lt_last_error());
    cr_assert_eq(lt_device_copy(LT_CUDA, g->data, LT_CPU, h->data, 105 * 4), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_safetensors_save(p, 1, (const char *[]){"g"}, (lt_tensor *[]){g}, 0, NULL, NULL), LT_OK, "%s",
                 lt_last_error());
    lt_safetensors *st;
    cr_assert_eq(lt_safetensors_open(p, &st), LT_OK, "%s", lt_last_error());
    lt_tensor *back = lt_tensor_alloc(LT_F32, LT_CUDA, LT_SHAPE(3, 5, 7));
    cr_assert_eq(lt_safetensors_read(st, "g", back), LT_OK, "%s", lt_last_error());
    lt_tensor *host = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(3, 5, 7));
    cr_assert_eq(lt_tensor_to_host(back, host->data), LT_OK, "%s", lt_last_error());
    assert_values_f32("gpu round trip", host, lt_f32(h));
    lt_safetensors_close(st);
    lt_tensor_free(h); lt_tensor_free(g); lt_tensor_free(back); lt_tensor_free(host);
    free(p);
    tmpdir_free(dir);
}

/* ---- corrupt files ---- */

typedef struct { const char *hdr; size_t ndata; const char *msg; } corrupt_case;

static void expect_format_error(const char *path, const char *what, const char *msg) {
    lt_safetensors *st = (lt_safetensors *)0x1;
    lt_status s = lt_safetensors_open(path, &st);
    cr_assert_eq(s, LT_ERR_FORMAT, "%s: expected a format error, got %s (%s)", what, lt_status_name(s), lt_last_error());
    cr_assert_null(st, "%s: out not cleared", what);
    cr_assert(strstr(lt_last_error(), path), "%s: message does not name the file: %s", what, lt_last_error());
    if (msg) cr_assert(strstr(lt_last_error(), msg), "%s: message lacks '%s': %s", what, msg, lt_last_error());
}

#define T(name, dt, shape, b, e) "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

Test(safetensors, corrupt_headers_are_format_errors_naming_file_and_tensor) {
    static const corrupt_case cases[] = {
        {"[]", 0, "start with '{'"},
        {" {}", 0, "start with '{'"},
        {"{\"a\":}", 0, "not valid JSON"},
        {"{\"a\":1,}", 0, "not valid JSON"},
        {"{\"__metadata__\":[1]}", 0, "\"__metadata__\" is a array"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "key \"k\" holds a integer"},
        {"{\"t\":[1]}", 0, "tensor \"t\" is described by a array"},
        {"{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor \"t\": missing or non-string \"dtype\""},
        {"{" T("t", "F31", "[1]", 0, 4) "}", 4, "tensor \"t\": unknown dtype \"F31\""},
        {"{" T("t", "f32", "[1]", 0, 4) "}", 4, "unknown dtype \"f32\""},
        {"{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "tensor \"t\": missing or non-array \"shape\""},
        {"{" T("t", "F32", "[-1]", 0, 4) "}", 4, "tensor \"t\": \"shape\" must hold non-negative integers"},
        {"{" T("t", "F32", "[1.5]", 0, 4) "}", 4, "non-negative integers"},
        {"{" T("t", "F32", "[\"1\"]", 0, 4) "}", 4, "non-negative integers"},
        {"{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "tensor \"t\": \"data_offsets\" must be"},
        {"{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "\"data_offsets\" must be"},
        {"{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "\"data_offsets\" must be"},
        {"{" T("t", "F32", "[1]", -4, 0) "}", 4, "tensor \"t\": \"data_offsets\" must hold non-negative"},
        // Offsets: not from 0, gap, overlap, reversed.
        {"{" T("t", "F32", "[6]", 8, 32) "}", 32, "tensor \"t\": invalid data_offsets [8,32]"},
        {"{" T("a", "F32", "[6]", 0, 24) "," T("b", "F32", "[6]", 28, 52) "}", 52, "tensor \"b\": invalid data_offsets [28,52] (expected it to begin at 24"},
        {"{" T("a", "F32", "[6]", 0, 24) "," T("b", "F32", "[6]", 20, 44) "}", 44, "tensor \"b\": invalid data_offsets [20,44]"},
        {"{" T("a", "F32", "[6]", 0, 24) "," T("b", "F32", "[6]", 0, 24) "}", 24, "invalid data_offsets [0,24]"},
        {"{" T("a", "F32", "[0]", 4, 0) "}", 4, "tensor \"a\": invalid data_offsets [4,0]"},
        // Byte counts and the end of the buffer.
        {"{" T("t", "F32", "[2,3]", 0, 20) "}", 20, "tensor \"t\": data_offsets [0,20] span 20 bytes, but F32 shape [2,3] needs 24"},
        {"{" T("t", "BF16", "[5]", 0, 20) "}", 20, "BF16 shape [5] needs 10"},
        {"{" T("t", "F32", "[6]", 0, 24) "}", 25, "cover 24 bytes of data but the file holds 25"},
        {"{" T("t", "F32", "[6]", 0, 24) "}", 23, "cover 24 bytes of data but the file holds 23"},
        {"{}", 1, "cover 0 bytes"},
        {"{" T("t", "F32", "[4294967296,4294967296,16]", 0, 0) "}", 0, "tensor \"t\": shape [4294967296,4294967296,16] overflows the element count"},
        {"{" T("t", "F32", "[2305843009213693952,2]", 0, 0) "}", 0, "overflows the byte count"},
        {"{" T("t", "F32", "[99999999999999999999]", 0, 0) "}", 0, "non-negative integers"},
        // Keys.
        {"{" T("a", "F32", "[1]", 0, 4) "," T("a", "F32", "[1]", 4, 8) "}", 8, "duplicate key \"a\""},
        {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate key \"__metadata__\""},
        {"{" T("a\\u0000b", "F32", "[1]", 0, 4) "}", 4, "contains a NUL"},
        {"{\"bad\xff\":{}}", 0, "invalid UTF-8"},
    };
    char *dir = tmpdir_new(), *p = path_in(dir, "corrupt.safetensors");
    unsigned char zeros[64] = {0};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        size_t n;
        unsigned char *b = image(cases[k].hdr, zeros, cases[k].ndata, &n);
        write_bytes(p, b, n);
        char what[32];
        snprintf(what, sizeof what, "case %zu", k);
        expect_format_error(p, what, cases[k].msg);
        free(b);
    }
    free(p);
    tmpdir_free(dir);
}

Test(safetensors, corrupt_length_prefix) {
    char *dir = tmpdir_new(), *p = path_in(dir, "len.safetensors");
    write_bytes(p, "abcde", 5);
    expect_format_error(p, "5-byte file", "too short");
    write_bytes(p, "", 0);
    expect_format_error(p, "empty file", "too short");
    unsigned char b[64];
    memset(b, ' ', sizeof b);
    memcpy(b + 8, "{}", 2);
    uint64_t lens[] = {100000001ull, UINT64_MAX, 1ull << 40};
    const char *msgs[] = {"exceeds the limit", "exceeds the limit", "exceeds the limit"};
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 8; i++) b[i] = (unsigned char)(lens[k] >> (8 * i));
        write_bytes(p, b, sizeof b);
        expect_format_error(p, "huge header length", msgs[k]);
    }
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(57ull >> (8 * i));   // one past the file
    write_bytes(p, b, sizeof b);
    expect_format_error(p, "header past the end", "header length 57 is larger than the 56 bytes");
    for (int i = 0; i < 8; i++) b[i] = 0;
    write_bytes(p, b, sizeof b);
    expect_format_error(p, "zero header length", "start with '{'");
    free(p);
    tmpdir_free(dir);
}

Test(safetensors, missing_file_and_directory_are_io_errors) {
    char *dir = tmpdir_new(), *p = path_in(dir, "absent.safetensors");
    lt_safetensors *st;
    cr_assert_eq(lt_safetensors_open(p, &st), LT_ERR_IO);
    cr_assert(strstr(lt_last_error(), p) && strstr(lt_last_error(), "No such file"), "%s", lt_last_error());
    cr_assert_eq(lt_safetensors_open(dir, &st), LT_ERR_IO);
    cr_assert(strstr(lt_last_error(), dir) && strstr(lt_last_error(), "not a regular file"), "%s", lt_last_error());
    free(p);
    tmpdir_free(dir);
}

Test(safetensors, zero_size_and_scalar_tensors_are_valid) {
    size_t n;
    float one = 2.5f;
    unsigned char *b = image("{" T("e", "F32", "[0,3]", 0, 0) "," T("e2", "I64", "[5,0]", 0, 0) ","
                             T("s", "F32", "[]", 0, 4) "}", &one, 4, &n);
    char *dir = tmpdir_new(), *p = path_in(dir, "z.safetensors");
    write_bytes(p, b, n);
    lt_safetensors *st;
    cr_assert_eq(lt_safetensors_open(p, &st), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_safetensors_count(st), 3);
    int e = lt_safetensors_find(st, "e");
    cr_assert_eq(lt_safetensors_ndim(st, e), 2);
    cr_assert_eq(lt_safetensors_shape(st, e)[0], 0);
    cr_assert_eq(lt_safetensors_nbytes(st, e), 0);
    lt_tensor *t = lt_tensor_alloc(LT_F32, LT_CPU, 0, (int[]){1});
    cr_assert_eq(lt_safetensors_read(st, "s", t), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_f32(t)[0], 2.5f);
    lt_tensor_free(t);
    lt_safetensors_close(st);
    free(b); free(p);
    tmpdir_free(dir);
}

Test(safetensors, every_truncation_is_an_error_naming_the_file) {
    char *dir = tmpdir_new(), *p = path_in(dir, "full.safetensors"), *q = path_in(dir, "cut.safetensors");
    lt_tensor *a = lt_test_rand(21, -1, 1, LT_SHAPE(3, 5));
    lt_tensor *s = lt_test_rand(22, -1, 1, 0, (int[]){1});
    lt_tensor *i = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(7));
    cr_assert_eq(lt_safetensors_save(p, 3, (const char *[]){"layer.w", "scale", "ids"}, (lt_tensor *[]){a, s, i}, 1,
                                     (const char *[]){"step"}, (const char *[]){"3"}), LT_OK, "%s", lt_last_error());
    size_t n;
    unsigned char *b = read_bytes(p, &n);
    for (size_t len = 0; len < n; len++) {
        write_bytes(q, b, len);
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu of %zu", len, n);
        expect_format_error(q, what, NULL);
    }
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, b, n);
    longer[n] = 0;
    write_bytes(q, longer, n + 1);
    expect_format_error(q, "one extra byte", "cover");
    write_bytes(q, b, n);
    lt_safetensors *st;
    cr_assert_eq(lt_safetensors_open(q, &st), LT_OK, "the untruncated copy must open: %s", lt_last_error());
    // A file cut short after it was opened fails at read time, without reading past the end.
    cr_assert_eq(truncate(q, (off_t)n - 4), 0);
    lt_tensor *dst = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(7));
    cr_assert_eq(lt_safetensors_read(st, "ids", dst), LT_ERR_IO);
    cr_assert(strstr(lt_last_error(), q) && strstr(lt_last_error(), "ids"), "%s", lt_last_error());
    lt_safetensors_close(st);
    lt_tensor_free(dst); lt_tensor_free(a); lt_tensor_free(s); lt_tensor_free(i);
    free(b); free(longer); free(p); free(q);
    tmpdir_free(dir);
}

// Random byte edits anywhere in a valid file: open and read never crash
// (the test runs in its own process, so a crash fails it).
Test(safetensors, random_corruption_never_crashes) {
    char *dir = tmpdir_new(), *p = path_in(dir, "f.safetensors"), *q = path_in(dir, "m.safetensors");
    lt_tensor *a = lt_test_rand(31, -1, 1, LT_SHAPE(2, 3));
    lt_tensor *i = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(4));
    cr_assert_eq(lt_safetensors_save(p, 2, (const char *[]){"w", "idx"}, (lt_tensor *[]){a, i}, 0, NULL, NULL), LT_OK,
                 "%s", lt_last_error());
    size_t n;
    unsigned char *b = read_bytes(p, &n), *m = malloc(n);
    lt_rng r;
    lt_rng_init(&r, 7);
    int opened = 0, failed = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(m, b, n);
        int edits = 1 + (int)lt_rng_below(&r, 3);
        for (int e = 0; e < edits; e++) {
            // Mostly the header (where the structure is), sometimes the length prefix.
            size_t pos = lt_rng_below(&r, 4) ? 8 + lt_rng_below(&r, (uint32_t)(le64(b))) : lt_rng_below(&r, 8);
            m[pos] = (unsigned char)lt_rng_below(&r, 256);
        }
        write_bytes(q, m, n);
        lt_safetensors *st = NULL;
        lt_status s = lt_safetensors_open(q, &st);
        if (s != LT_OK) {
            failed++;
            cr_assert(strstr(lt_last_error(), q), "%s", lt_last_error());
            continue;
        }
        opened++;
        for (int t = 0; t < lt_safetensors_count(st); t++) {
            int nd = lt_safetensors_ndim(st, t), shape[LT_MAX_DIMS], ok = nd <= LT_MAX_DIMS;
            for (int d = 0; ok && d < nd; d++) {
                int64_t x = lt_safetensors_shape(st, t)[d];
                ok = x >= 1 && x <= 1 << 20;
                shape[d] = (int)x;
            }
            if (!ok || lt_shape_numel(nd, shape) > 1 << 20) continue;
            lt_tensor *dst = lt_tensor_alloc(LT_F32, LT_CPU, nd, shape);
            lt_safetensors_read(st, lt_safetensors_name(st, t), dst);
            lt_tensor_free(dst);
        }
        lt_safetensors_close(st);
    }
    cr_assert(failed > 0, "no corruption was detected in 3000 tries");
    (void)opened;
    lt_tensor_free(a); lt_tensor_free(i);
    free(b); free(m); free(p); free(q);
    tmpdir_free(dir);
}

/* ---- atomic replacement ---- */

static void save_small(const char *path, float v, lt_status want) {
    lt_tensor *t = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(2));
    lt_f32(t)[0] = v; lt_f32(t)[1] = -v;
    lt_status s = lt_safetensors_save(path, 1, (const char *[]){"v"}, (lt_tensor *[]){t}, 0, NULL, NULL);
    cr_assert_eq(s, want, "save %s: %s", path, lt_last_error());
    lt_tensor_free(t);
}

Test(atomic, replaces_file_and_leaves_no_temp) {
    char *dir = tmpdir_new(), *p = path_in(dir, "ck.safetensors");
    save_small(p, 1, LT_OK);
    size_t n1, n2;
    unsigned char *b1 = read_bytes(p, &n1);
    save_small(p, 2, LT_OK);
    unsigned char *b2 = read_bytes(p, &n2);
    cr_assert(n1 == n2 && memcmp(b1, b2, n1), "second save did not replace the file");
    cr_assert_eq(count_tmp_files(dir), 0);
    lt_atomic_file f;
    char *q = path_in(dir, "x.txt");
    cr_assert_eq(lt_atomic_open(&f, q), LT_OK, "%s", lt_last_error());
    cr_assert(f.fp && strstr(f.tmp, ".tmp."));
    fputs("hello", f.fp);
    cr_assert_eq(access(q, F_OK), -1, "final name must not exist before commit");
    cr_assert_eq(count_tmp_files(dir), 1);
    cr_assert_eq(lt_atomic_commit(&f), LT_OK, "%s", lt_last_error());
    cr_assert_null(f.fp);
    size_t n;
    unsigned char *b = read_bytes(q, &n);
    cr_assert(n == 5 && !memcmp(b, "hello", 5));
    cr_assert_eq(lt_atomic_open(&f, q), LT_OK, "%s", lt_last_error());
    fputs("discarded", f.fp);
    lt_atomic_abort(&f);
    lt_atomic_abort(&f);   // twice is harmless
    free(b);
    b = read_bytes(q, &n);
    cr_assert(n == 5 && !memcmp(b, "hello", 5), "abort changed the file");
    cr_assert_eq(count_tmp_files(dir), 0);
    free(b); free(b1); free(b2); free(p); free(q);
    tmpdir_free(dir);
}

// A directory planted at the temporary name makes the write fail up front.
Test(atomic, name_collision_keeps_old_file) {
    char *dir = tmpdir_new(), *p = path_in(dir, "ck.safetensors");
    save_small(p, 1, LT_OK);
    size_t n1, n2;
    unsigned char *b1 = read_bytes(p, &n1);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    cr_assert_eq(mkdir(tmp, 0700), 0);
    save_small(p, 2, LT_ERR_IO);
    cr_assert(strstr(lt_last_error(), p) && strstr(lt_last_error(), "Is a directory"), "%s", lt_last_error());
    unsigned char *b2 = read_bytes(p, &n2);
    cr_assert(n1 == n2 && !memcmp(b1, b2, n1), "old file changed");
    cr_assert_eq(rmdir(tmp), 0);
    cr_assert_eq(count_tmp_files(dir), 0);
    free(b1); free(b2); free(p);
    tmpdir_free(dir);
}

// The final name is a non-empty directory: everything is written, the rename fails.
Test(atomic, failed_rename_removes_temp) {
    char *dir = tmpdir_new(), *p = path_in(dir, "ck.safetensors");
    cr_assert_eq(mkdir(p, 0700), 0);
    char *inner = path_in(p, "keep");
    write_bytes(inner, "x", 1);
    save_small(p, 1, LT_ERR_IO);
    cr_assert(strstr(lt_last_error(), p) && strstr(lt_last_error(), "rename failed"), "%s", lt_last_error());
    cr_assert_eq(access(inner, F_OK), 0, "directory content lost");
    cr_assert_eq(count_tmp_files(dir), 0);
    unlink(inner);
    free(inner); free(p);
    tmpdir_free(dir);
}

// A file-size limit makes the data write fail half way (works as root, unlike chmod).
Test(atomic, failed_write_keeps_old_file) {
    char *dir = tmpdir_new(), *p = path_in(dir, "ck.safetensors");
    save_small(p, 1, LT_OK);
    size_t n1, n2;
    unsigned char *b1 = read_bytes(p, &n1);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {8192, 8192};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0, "setrlimit: %s", strerror(errno));
    lt_tensor *big = lt_test_rand(41, -1, 1, LT_SHAPE(100000));
    lt_status s = lt_safetensors_save(p, 1, (const char *[]){"v"}, (lt_tensor *[]){big}, 0, NULL, NULL);
    cr_assert_eq(s, LT_ERR_IO, "%s", lt_last_error());
    cr_assert(strstr(lt_last_error(), p) && strstr(lt_last_error(), "File too large"), "%s", lt_last_error());
    unsigned char *b2 = read_bytes(p, &n2);
    cr_assert(n1 == n2 && !memcmp(b1, b2, n1), "old file changed");
    cr_assert_eq(count_tmp_files(dir), 0);
    lt_tensor_free(big);
    free(b1); free(b2); free(p);
    tmpdir_free(dir);
}

Test(atomic, missing_directory_is_io_error) {
    lt_atomic_file f;
    cr_assert_eq(lt_atomic_open(&f, "/nonexistent-lt-dir/ck.safetensors"), LT_ERR_IO);
    cr_assert(strstr(lt_last_error(), "/nonexistent-lt-dir/ck.safetensors") && strstr(lt_last_error(), "No such file"),
              "%s", lt_last_error());
    cr_assert_null(f.fp);
    lt_atomic_abort(&f);
    save_small("/nonexistent-lt-dir/ck.safetensors", 1, LT_ERR_IO);
    cr_assert_eq(lt_atomic_open(&f, ""), LT_ERR_ARG);
}

/* ---- Python reference package ---- */

static void write_expect(const char *path, const tset *s, int n_meta, const char **mk, const char **mv, int byte_exact) {
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs("{\"byte_exact\":", f);
    fputs(byte_exact ? "true" : "false", f);
    fputs(",\"metadata\":{\"format\":\"pt\"", f);
    for (int i = 0; i < n_meta; i++) {
        fputc(',', f);
        lt_json_write_string(f, mk[i]);
        fputc(':', f);
        lt_json_write_string(f, mv[i]);
    }
    fputs("},\"tensors\":[", f);
    for (int k = 0; k < s->n; k++) {
        const lt_tensor *t = s->t[k];
        fprintf(f, "%s{\"name\":", k ? "," : "");
        lt_json_write_string(f, s->names[k]);
        fprintf(f, ",\"dtype\":\"%s\",\"shape\":[", t->dtype == LT_F32 ? "F32" : "I32");
        for (int d = 0; d < t->ndim; d++) fprintf(f, d ? ",%d" : "%d", t->shape[d]);
        fputs("],\"values\":[", f);
        for (int64_t i = 0; i < t->numel; i++) {
            if (i) fputc(',', f);
            if (t->dtype == LT_I32) fprintf(f, "%d", lt_i32(t)[i]);
            else lt_json_write_number(f, lt_f32(t)[i]);
        }
        fputs("]}", f);
    }
    fputs("]}", f);
    fclose(f);
}

// Python's json reads no NaN/Inf, so the cross-check set keeps finite values.
static tset finite_set(void) {
    tset s = make_set();
    lt_f32(s.t[4])[2] = 7.25f;
    lt_f32(s.t[4])[3] = -1e30f;
    return s;
}

Test(python, reference_package_reads_our_file) {
    char *dir = tmpdir_new(), *p = path_in(dir, "py.safetensors"), *e = path_in(dir, "expect.json");
    tset s = finite_set();
    cr_assert_eq(lt_safetensors_save(p, s.n, s.names, s.t, 3, META_K, META_V), LT_OK, "%s", lt_last_error());
    write_expect(e, &s, 3, META_K, META_V, 0);
    char args[4096];
    snprintf(args, sizeof args, "'%s' '%s'", p, e);
    cr_assert_eq(run_py(args), 0, "check_safetensors.py rejected %s (see its output above)", p);
    free_set(&s);
    free(p); free(e);
    tmpdir_free(dir);
}

// With only the "format" key, metadata order cannot differ: the reference
// writer must produce our bytes exactly.
Test(python, byte_identical_to_reference_writer) {
    char *dir = tmpdir_new(), *p = path_in(dir, "py.safetensors"), *e = path_in(dir, "expect.json");
    tset s = finite_set();
    cr_assert_eq(lt_safetensors_save(p, s.n, s.names, s.t, 0, NULL, NULL), LT_OK, "%s", lt_last_error());
    write_expect(e, &s, 0, NULL, NULL, 1);
    char args[4096];
    snprintf(args, sizeof args, "'%s' '%s'", p, e);
    cr_assert_eq(run_py(args), 0, "check_safetensors.py rejected %s (see its output above)", p);
    free_set(&s);
    free(p); free(e);
    tmpdir_free(dir);
}

// The checker itself must catch a wrong value, a wrong shape and wrong metadata.
Test(python, checker_detects_mismatches) {
    char *dir = tmpdir_new(), *p = path_in(dir, "py.safetensors"), *e = path_in(dir, "expect.json");
    tset s = finite_set();
    cr_assert_eq(lt_safetensors_save(p, s.n, s.names, s.t, 0, NULL, NULL), LT_OK, "%s", lt_last_error());
    char args[4096];
    snprintf(args, sizeof args, "'%s' '%s' 2>/dev/null", p, e);
    lt_f32(s.t[0])[17] += 1e-3f;
    write_expect(e, &s, 0, NULL, NULL, 0);
    cr_assert_eq(run_py(args), 1, "a changed value went unnoticed");
    lt_f32(s.t[0])[17] -= 1e-3f;
    write_expect(e, &s, 1, (const char *[]){"extra"}, (const char *[]){"x"}, 0);
    cr_assert_eq(run_py(args), 1, "wrong metadata went unnoticed");
    s.t[3]->ndim = 0;   // [1] claimed as a scalar
    write_expect(e, &s, 0, NULL, NULL, 0);
    cr_assert_eq(run_py(args), 1, "a wrong shape went unnoticed");
    s.t[3]->ndim = 1;
    write_expect(e, &s, 0, NULL, NULL, 0);
    cr_assert_eq(run_py(args), 0, "restored expectations must pass");
    free_set(&s);
    free(p); free(e);
    tmpdir_free(dir);
}

Test(python, we_read_the_reference_writers_file) {
    char *dir = tmpdir_new(), *p = path_in(dir, "ref.safetensors");
    char args[4096];
    snprintf(args, sizeof args, "--write-reference '%s'", p);
    cr_assert_eq(run_py(args), 0);
    lt_safetensors *st;
    cr_assert_eq(lt_safetensors_open(p, &st), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_safetensors_count(st), 4);
    cr_assert_str_eq(lt_safetensors_meta(st, "format"), "pt");
    cr_assert_str_eq(lt_safetensors_meta(st, "origin"), "numpy");
    lt_tensor *w = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(3, 4));
    lt_tensor *idx = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(5));
    lt_tensor *h = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(2, 3));
    lt_tensor *sc = lt_tensor_alloc(LT_F32, LT_CPU, 0, (int[]){1});
    cr_assert_eq(lt_safetensors_read(st, "w", w), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_safetensors_read(st, "idx", idx), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_safetensors_read(st, "h", h), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_safetensors_read(st, "s", sc), LT_OK, "%s", lt_last_error());
    for (int i = 0; i < 12; i++) cr_assert_eq(lt_f32(w)[i], i * 0.25f - 1, "w[%d]", i);
    for (int i = 0; i < 5; i++) cr_assert_eq(lt_i32(idx)[i], i - 2);
    assert_values_f32("h", h, (float[]){1, -2, 0.5f, 65504, 0x1p-24f, -0.0f});
    cr_assert_eq(lt_f32(sc)[0], 3.5f);
    lt_tensor_free(w); lt_tensor_free(idx); lt_tensor_free(h); lt_tensor_free(sc);
    lt_safetensors_close(st);
    free(p);
    tmpdir_free(dir);
}
