#include "libtrain/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autograd/ctx.h"
#include "libtrain/atomic_file.h"
#include "libtrain/device.h"
#include "libtrain/json.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c copies tensor bytes as they are: it needs a little-endian host"
#endif

// The reference dtype list, in its enum order ("increasing alignment"); the
// writer's tensor order is by descending position in this list.
static const struct { const char *name; int bytes; } st_dtypes[] = {
    {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"F8_E8M0", 1}, {"I16", 2}, {"U16", 2},
    {"F16", 2}, {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4}, {"F64", 8}, {"I64", 8}, {"U64", 8}, {"C64", 8},
};
#define N_DTYPES ((int)(sizeof st_dtypes / sizeof st_dtypes[0]))

static int dtype_index(const char *name) {
    for (int i = 0; i < N_DTYPES; i++) if (!strcmp(st_dtypes[i].name, name)) return i;
    return -1;
}

typedef struct {
    char *name;
    int dtype;          // index into st_dtypes
    int ndim;
    int64_t *shape;
    uint64_t begin, end;  // relative to the data buffer
} st_entry;

struct lt_safetensors {
    char *path;
    int fd;
    uint64_t data_start;
    int n;
    st_entry *t;        // data order
    int *by_name;       // indices into t, sorted by name
    int n_meta;
    char **meta_keys, **meta_vals;
};

// Tensor names come from the file: quote them printable and bounded in messages.
#define QNAME(buf, s) lt_json_quote_for_message(buf, sizeof buf, s, strlen(s))

static const char *shape_str64(int ndim, const int64_t *shape, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++) k += (size_t)snprintf(buf + k, n - k, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

/* ---- writer ---- */

typedef struct { const char *name; int rank, idx; } w_ref;

static int cmp_name(const void *x, const void *y) {
    const w_ref *a = x, *b = y;
    return strcmp(a->name, b->name);
}

static int cmp_write_order(const void *x, const void *y) {
    const w_ref *a = x, *b = y;
    if (a->rank != b->rank) return a->rank > b->rank ? -1 : 1;
    return strcmp(a->name, b->name);
}

static lt_status check_name(const char *path, const char *what, const char *s) {
    if (!s) return lt_error(LT_ERR_ARG, "lt_safetensors_save %s: a %s is NULL", path, what);
    if (!*s) return lt_error(LT_ERR_ARG, "lt_safetensors_save %s: a %s is empty", path, what);
    if (!lt_json_utf8_valid(s, strlen(s))) {
        char q[80];
        return lt_error(LT_ERR_ARG, "lt_safetensors_save %s: %s \"%s\" is not valid UTF-8", path, what, QNAME(q, s));
    }
    return LT_OK;
}

static lt_status validate_save_args(const char *path, int n, const char *const *names, lt_tensor *const *tensors,
                                    int n_meta, const char *const *meta_keys, const char *const *meta_vals) {
    if (n < 0 || n_meta < 0 || (n > 0 && (!names || !tensors)) || (n_meta > 0 && (!meta_keys || !meta_vals)))
        return lt_error(LT_ERR_ARG, "lt_safetensors_save %s: bad counts or NULL arrays (n=%d, n_meta=%d)", path, n, n_meta);
    for (int i = 0; i < n; i++) {
        LT_TRY(check_name(path, "tensor name", names[i]));
        char q[80];
        if (!strcmp(names[i], "__metadata__"))
            return lt_error(LT_ERR_ARG, "lt_safetensors_save %s: \"__metadata__\" is reserved, not a tensor name", path);
        const lt_tensor *t = tensors[i];
        if (!t || !t->data)
            return lt_error(LT_ERR_ARG, "lt_safetensors_save %s: tensor \"%s\" is NULL", path, QNAME(q, names[i]));
        if (t->dtype != LT_F32 && t->dtype != LT_I32)
            return lt_error(LT_ERR_DTYPE, "lt_safetensors_save %s: tensor \"%s\" has unsupported dtype %d", path,
                            QNAME(q, names[i]), (int)t->dtype);
        if (lt_shape_check("lt_safetensors_save", t->ndim, t->shape) != LT_OK || t->numel != lt_shape_numel(t->ndim, t->shape)) {
            char b[64];
            return lt_error(LT_ERR_SHAPE, "lt_safetensors_save %s: tensor \"%s\" has an invalid shape %s (numel %lld)",
                            path, QNAME(q, names[i]), lt_shape_str_n(t->ndim < 0 ? 0 : t->ndim, t->shape, b),
                            (long long)t->numel);
        }
    }
    for (int i = 0; i < n_meta; i++) {
        LT_TRY(check_name(path, "metadata key", meta_keys[i]));
        if (!meta_vals[i]) return lt_error(LT_ERR_ARG, "lt_safetensors_save %s: metadata value %d is NULL", path, i);
        if (!lt_json_utf8_valid(meta_vals[i], strlen(meta_vals[i]))) {
            char q[80];
            return lt_error(LT_ERR_ARG, "lt_safetensors_save %s: metadata value for \"%s\" is not valid UTF-8", path,
                            QNAME(q, meta_keys[i]));
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(meta_keys[i], meta_keys[j])) {
                char q[80];
                return lt_error(LT_ERR_ARG, "lt_safetensors_save %s: duplicate metadata key \"%s\"", path,
                                QNAME(q, meta_keys[i]));
            }
    }
    return LT_OK;
}

// Builds the padded header. On success *hdr is malloc'ed, *hlen a multiple of 8.
static lt_status build_header(const char *path, int n, const char *const *names, lt_tensor *const *tensors,
                              const w_ref *order, int n_meta, const char *const *meta_keys,
                              const char *const *meta_vals, char **hdr, size_t *hlen) {
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) return lt_error(LT_ERR_OOM, "lt_safetensors_save %s: out of memory for the header", path);
    int has_format = 0;
    for (int i = 0; i < n_meta; i++) has_format |= !strcmp(meta_keys[i], "format");
    int bad = 0;
    bad |= fputs("{\"__metadata__\":{", m) == EOF;
    if (!has_format) bad |= fputs("\"format\":\"pt\"", m) == EOF;
    for (int i = 0; i < n_meta; i++) {
        if (i || !has_format) bad |= fputc(',', m) == EOF;
        bad |= lt_json_write_string(m, meta_keys[i]) != 0;
        bad |= fputc(':', m) == EOF;
        bad |= lt_json_write_string(m, meta_vals[i]) != 0;
    }
    bad |= fputc('}', m) == EOF;
    uint64_t off = 0;
    for (int k = 0; k < n; k++) {
        const lt_tensor *t = tensors[order[k].idx];
        uint64_t bytes = (uint64_t)t->numel * lt_dtype_size(t->dtype);
        bad |= fputc(',', m) == EOF;
        bad |= lt_json_write_string(m, names[order[k].idx]) != 0;
        bad |= fprintf(m, ":{\"dtype\":\"%s\",\"shape\":[", t->dtype == LT_F32 ? "F32" : "I32") < 0;
        for (int d = 0; d < t->ndim; d++) bad |= fprintf(m, d ? ",%d" : "%d", t->shape[d]) < 0;
        bad |= fprintf(m, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                       (unsigned long long)(off + bytes)) < 0;
        off += bytes;
    }
    bad |= fputc('}', m) == EOF;
    // The reference writer pads with spaces so the data starts 8-byte aligned.
    while (!bad && ftell(m) % 8) bad |= fputc(' ', m) == EOF;
    bad |= fclose(m) != 0;
    if (bad) {
        free(buf);
        return lt_error(LT_ERR_OOM, "lt_safetensors_save %s: out of memory for the header", path);
    }
    *hdr = buf;
    *hlen = len;
    return LT_OK;
}

static lt_status write_tensor_data(const char *path, FILE *fp, const char *name, const lt_tensor *t) {
    size_t bytes = (size_t)t->numel * lt_dtype_size(t->dtype);
    const void *src = t->data;
    void *host = NULL;
    if (t->device != LT_CPU) {
        host = malloc(bytes);
        if (!host) return lt_error(LT_ERR_OOM, "lt_safetensors_save %s: out of memory copying \"%s\"", path, name);
        lt_status s = lt_tensor_to_host(t, host);
        if (s != LT_OK) {
            free(host);
            return s;
        }
        src = host;
    }
    size_t w = fwrite(src, 1, bytes, fp);
    int e = errno;
    free(host);
    if (w != bytes)
        return lt_error(LT_ERR_IO, "%s: writing tensor \"%s\" failed: %s", path, name, strerror(e));
    return LT_OK;
}

lt_status lt_safetensors_save(const char *path, int n, const char *const *names, lt_tensor *const *tensors,
                              int n_meta, const char *const *meta_keys, const char *const *meta_vals) {
    if (!path) return lt_error(LT_ERR_ARG, "lt_safetensors_save: path is NULL");
    LT_TRY(validate_save_args(path, n, names, tensors, n_meta, meta_keys, meta_vals));
    w_ref *order = malloc(sizeof *order * (size_t)(n ? n : 1));
    if (!order) return lt_error(LT_ERR_OOM, "lt_safetensors_save %s: out of memory", path);
    for (int i = 0; i < n; i++)
        order[i] = (w_ref){names[i], dtype_index(tensors[i]->dtype == LT_F32 ? "F32" : "I32"), i};
    qsort(order, (size_t)n, sizeof *order, cmp_name);
    for (int i = 1; i < n; i++)
        if (!strcmp(order[i - 1].name, order[i].name)) {
            char q[80];
            lt_status s = lt_error(LT_ERR_ARG, "lt_safetensors_save %s: duplicate tensor name \"%s\"", path,
                                   QNAME(q, order[i].name));
            free(order);
            return s;
        }
    qsort(order, (size_t)n, sizeof *order, cmp_write_order);

    char *hdr = NULL;
    size_t hlen = 0;
    lt_status s = build_header(path, n, names, tensors, order, n_meta, meta_keys, meta_vals, &hdr, &hlen);
    if (s != LT_OK) {
        free(order);
        return s;
    }
    lt_atomic_file f;
    s = lt_atomic_open(&f, path);
    if (s == LT_OK) {
        unsigned char len8[8];
        for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
        if (fwrite(len8, 1, 8, f.fp) != 8 || fwrite(hdr, 1, hlen, f.fp) != hlen)
            s = lt_error(LT_ERR_IO, "%s: writing the header failed: %s", path, strerror(errno));
        for (int k = 0; k < n && s == LT_OK; k++)
            s = write_tensor_data(path, f.fp, names[order[k].idx], tensors[order[k].idx]);
        if (s == LT_OK) s = lt_atomic_commit(&f);
        else lt_atomic_abort(&f);
    }
    free(hdr);
    free(order);
    return s;
}

/* ---- reader ---- */

static void free_st(lt_safetensors *st) {
    if (!st) return;
    if (st->fd >= 0) close(st->fd);
    for (int i = 0; i < st->n; i++) {
        free(st->t[i].name);
        free(st->t[i].shape);
    }
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_vals[i]);
    }
    free(st->t);
    free(st->by_name);
    free(st->meta_keys);
    free(st->meta_vals);
    free(st->path);
    free(st);
}

void lt_safetensors_close(lt_safetensors *st) { free_st(st); }

// Reads exactly n bytes at off; 0 on success, else errno (0 meaning end of file).
static int read_at(int fd, void *dst, size_t n, uint64_t off, int *err) {
    unsigned char *p = dst;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            *err = r < 0 ? errno : 0;
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static int cmp_entry_data(const void *x, const void *y) {
    const st_entry *a = x, *b = y;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return strcmp(a->name, b->name);
}


static lt_status parse_metadata(lt_safetensors *st, const lt_json *m) {
    char q[80];
    if (m->type != LT_JSON_OBJECT)
        return lt_error(LT_ERR_FORMAT, "%s: \"__metadata__\" is a %s, expected an object of strings", st->path,
                        lt_json_type_name(m->type));
    size_t n = lt_json_len(m);
    st->meta_keys = calloc(n ? n : 1, sizeof(char *));
    st->meta_vals = calloc(n ? n : 1, sizeof(char *));
    if (!st->meta_keys || !st->meta_vals) return lt_error(LT_ERR_OOM, "%s: out of memory", st->path);
    for (size_t i = 0; i < n; i++) {
        const lt_json *v = lt_json_at(m, i);
        if (v->type != LT_JSON_STRING)
            return lt_error(LT_ERR_FORMAT, "%s: \"__metadata__\" key \"%s\" holds a %s, expected a string", st->path,
                            lt_json_quote_for_message(q, sizeof q, m->keys[i], m->key_lens[i]), lt_json_type_name(v->type));
        st->meta_keys[i] = strdup(m->keys[i]);
        st->meta_vals[i] = strdup(v->str);
        st->n_meta = (int)i + 1;
        if (!st->meta_keys[i] || !st->meta_vals[i]) return lt_error(LT_ERR_OOM, "%s: out of memory", st->path);
    }
    return LT_OK;
}

static lt_status get_uint(const lt_safetensors *st, const char *tname, const char *field, const lt_json *v,
                          uint64_t *out) {
    if (!v || v->type != LT_JSON_INT || v->integer < 0) {
        char q[80];
        return lt_error(LT_ERR_FORMAT, "%s: tensor \"%s\": %s must hold non-negative integers, found %s", st->path,
                        QNAME(q, tname), field, v ? lt_json_type_name(v->type) : "nothing");
    }
    *out = (uint64_t)v->integer;
    return LT_OK;
}

static lt_status parse_entry(lt_safetensors *st, const char *name, size_t name_len, const lt_json *v, st_entry *e) {
    char q[80];
    lt_json_quote_for_message(q, sizeof q, name, name_len);
    e->name = malloc(name_len + 1);
    if (!e->name) return lt_error(LT_ERR_OOM, "%s: out of memory", st->path);
    memcpy(e->name, name, name_len + 1);
    // A NUL would make two distinct JSON keys the same C string.
    if (memchr(name, 0, name_len))
        return lt_error(LT_ERR_FORMAT, "%s: tensor name \"%s\" contains a NUL character", st->path, q);
    if (v->type != LT_JSON_OBJECT)
        return lt_error(LT_ERR_FORMAT, "%s: tensor \"%s\" is described by a %s, expected an object", st->path, q,
                        lt_json_type_name(v->type));
    const char *dt = lt_json_as_string(lt_json_get(v, "dtype"));
    if (!dt) return lt_error(LT_ERR_FORMAT, "%s: tensor \"%s\": missing or non-string \"dtype\"", st->path, q);
    e->dtype = dtype_index(dt);
    if (e->dtype < 0) {
        char dq[40];
        return lt_error(LT_ERR_FORMAT, "%s: tensor \"%s\": unknown dtype \"%s\"", st->path, q, QNAME(dq, dt));
    }
    const lt_json *shape = lt_json_get(v, "shape");
    if (!shape || shape->type != LT_JSON_ARRAY)
        return lt_error(LT_ERR_FORMAT, "%s: tensor \"%s\": missing or non-array \"shape\"", st->path, q);
    if (shape->n > 1024)
        return lt_error(LT_ERR_FORMAT, "%s: tensor \"%s\": shape has %zu dimensions", st->path, q, shape->n);
    e->ndim = (int)shape->n;
    e->shape = malloc(sizeof(int64_t) * (shape->n ? shape->n : 1));
    if (!e->shape) return lt_error(LT_ERR_OOM, "%s: out of memory", st->path);
    for (size_t d = 0; d < shape->n; d++) {
        uint64_t x = 0;
        LT_TRY(get_uint(st, e->name, "\"shape\"", shape->items[d], &x));
        e->shape[d] = (int64_t)x;
    }
    const lt_json *offs = lt_json_get(v, "data_offsets");
    if (!offs || offs->type != LT_JSON_ARRAY || offs->n != 2)
        return lt_error(LT_ERR_FORMAT, "%s: tensor \"%s\": \"data_offsets\" must be an array [begin, end]", st->path, q);
    LT_TRY(get_uint(st, e->name, "\"data_offsets\"", offs->items[0], &e->begin));
    LT_TRY(get_uint(st, e->name, "\"data_offsets\"", offs->items[1], &e->end));
    return LT_OK;
}

// The reference reader's checks: contiguous offsets from 0 to the end of the
// file, and each byte count equal to prod(shape) * dtype size.
static lt_status validate_layout(lt_safetensors *st, uint64_t data_size) {
    qsort(st->t, (size_t)st->n, sizeof *st->t, cmp_entry_data);
    uint64_t start = 0;
    for (int i = 0; i < st->n; i++) {
        const st_entry *e = &st->t[i];
        char q[80], sb[128];
        QNAME(q, e->name);
        if (e->begin != start || e->end < e->begin)
            return lt_error(LT_ERR_FORMAT,
                            "%s: tensor \"%s\": invalid data_offsets [%llu,%llu] (expected it to begin at %llu: "
                            "tensors must be contiguous, from 0, without gaps or overlaps)",
                            st->path, q, (unsigned long long)e->begin, (unsigned long long)e->end,
                            (unsigned long long)start);
        uint64_t numel = 1;
        for (int d = 0; d < e->ndim; d++) {
            uint64_t x = (uint64_t)e->shape[d];
            if (x && numel > UINT64_MAX / x)
                return lt_error(LT_ERR_FORMAT, "%s: tensor \"%s\": shape %s overflows the element count", st->path,
                                q, shape_str64(e->ndim, e->shape, sb, sizeof sb));
            numel *= x;
        }
        uint64_t sz = (uint64_t)st_dtypes[e->dtype].bytes;
        if (numel > UINT64_MAX / sz)
            return lt_error(LT_ERR_FORMAT, "%s: tensor \"%s\": shape %s overflows the byte count", st->path, q,
                            shape_str64(e->ndim, e->shape, sb, sizeof sb));
        if (e->end - e->begin != numel * sz)
            return lt_error(LT_ERR_FORMAT,
                            "%s: tensor \"%s\": data_offsets [%llu,%llu] span %llu bytes, but %s shape %s needs %llu",
                            st->path, q, (unsigned long long)e->begin, (unsigned long long)e->end,
                            (unsigned long long)(e->end - e->begin), st_dtypes[e->dtype].name,
                            shape_str64(e->ndim, e->shape, sb, sizeof sb), (unsigned long long)(numel * sz));
        start = e->end;
    }
    if (start != data_size)
        return lt_error(LT_ERR_FORMAT,
                        "%s: tensors cover %llu bytes of data but the file holds %llu bytes after the header "
                        "(truncated or padded file?)",
                        st->path, (unsigned long long)start, (unsigned long long)data_size);
    return LT_OK;
}

static lt_status parse_header(lt_safetensors *st, const char *hdr, uint64_t hlen, uint64_t data_size) {
    char err[300];
    lt_json *root = lt_json_parse(hdr, (size_t)hlen, err, sizeof err);
    if (!root) return lt_error(LT_ERR_FORMAT, "%s: header is not valid JSON (%s)", st->path, err);
    lt_status s = LT_OK;
    if (root->type != LT_JSON_OBJECT) {
        s = lt_error(LT_ERR_FORMAT, "%s: header is a JSON %s, expected an object", st->path, lt_json_type_name(root->type));
        goto done;
    }
    size_t n = root->n;
    st->t = calloc(n ? n : 1, sizeof *st->t);
    if (!st->t) { s = lt_error(LT_ERR_OOM, "%s: out of memory", st->path); goto done; }
    for (size_t i = 0; i < n && s == LT_OK; i++) {
        if (!strcmp(root->keys[i], "__metadata__") && root->key_lens[i] == 12) {
            s = parse_metadata(st, root->items[i]);
            continue;
        }
        if (st->n >= 0x7fffffff) { s = lt_error(LT_ERR_FORMAT, "%s: too many tensors", st->path); break; }
        s = parse_entry(st, root->keys[i], root->key_lens[i], root->items[i], &st->t[st->n]);
        st->n++;   // counted even on error, so free_st releases the partial entry
    }
    if (s == LT_OK) s = validate_layout(st, data_size);
    if (s == LT_OK) {
        st->by_name = malloc(sizeof(int) * (size_t)(st->n ? st->n : 1));
        w_ref *r = malloc(sizeof *r * (size_t)(st->n ? st->n : 1));
        if (!st->by_name || !r) {
            free(r);
            s = lt_error(LT_ERR_OOM, "%s: out of memory", st->path);
            goto done;
        }
        for (int i = 0; i < st->n; i++) r[i] = (w_ref){st->t[i].name, 0, i};
        qsort(r, (size_t)st->n, sizeof *r, cmp_name);
        for (int i = 0; i < st->n; i++) st->by_name[i] = r[i].idx;
        free(r);
    }
done:
    lt_json_free(root);
    return s;
}

lt_status lt_safetensors_open(const char *path, lt_safetensors **out) {
    if (!out) return lt_error(LT_ERR_ARG, "lt_safetensors_open: out is NULL");
    *out = NULL;
    if (!path) return lt_error(LT_ERR_ARG, "lt_safetensors_open: path is NULL");
    lt_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        return lt_error(LT_ERR_OOM, "%s: out of memory", path);
    }
    st->fd = open(path, O_RDONLY | O_CLOEXEC);
    lt_status s = LT_OK;
    char *hdr = NULL;
    struct stat sb;
    int e = 0;
    if (st->fd < 0) { s = lt_error(LT_ERR_IO, "%s: cannot open: %s", path, strerror(errno)); goto fail; }
    if (fstat(st->fd, &sb) != 0) { s = lt_error(LT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno)); goto fail; }
    if (!S_ISREG(sb.st_mode)) { s = lt_error(LT_ERR_IO, "%s: not a regular file", path); goto fail; }
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8) {
        s = lt_error(LT_ERR_FORMAT, "%s: file is %llu bytes, too short for the 8-byte header length (not a safetensors file?)",
                     path, (unsigned long long)size);
        goto fail;
    }
    unsigned char len8[8];
    if (read_at(st->fd, len8, 8, 0, &e)) {
        s = lt_error(LT_ERR_IO, "%s: reading the header length failed: %s", path, e ? strerror(e) : "end of file");
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | len8[i];
    if (hlen > LT_SAFETENSORS_MAX_HEADER) {
        s = lt_error(LT_ERR_FORMAT, "%s: header length %llu exceeds the limit of %llu bytes (not a safetensors file?)",
                     path, (unsigned long long)hlen, LT_SAFETENSORS_MAX_HEADER);
        goto fail;
    }
    if (hlen > size - 8) {
        s = lt_error(LT_ERR_FORMAT, "%s: header length %llu is larger than the %llu bytes after it (truncated file?)",
                     path, (unsigned long long)hlen, (unsigned long long)(size - 8));
        goto fail;
    }
    hdr = malloc(hlen ? hlen : 1);
    if (!hdr) { s = lt_error(LT_ERR_OOM, "%s: out of memory for a %llu-byte header", path, (unsigned long long)hlen); goto fail; }
    if (read_at(st->fd, hdr, hlen, 8, &e)) {
        s = lt_error(LT_ERR_IO, "%s: reading the header failed: %s", path, e ? strerror(e) : "file ended early");
        goto fail;
    }
    if (hlen == 0 || hdr[0] != '{') {
        s = lt_error(LT_ERR_FORMAT, "%s: header does not start with '{' (not a safetensors file?)", path);
        goto fail;
    }
    st->data_start = 8 + hlen;
    s = parse_header(st, hdr, hlen, size - 8 - hlen);
    if (s != LT_OK) goto fail;
    free(hdr);
    *out = st;
    return LT_OK;
fail:
    free(hdr);
    free_st(st);
    return s;
}

const char *lt_safetensors_path(const lt_safetensors *st) { return st ? st->path : NULL; }
int lt_safetensors_count(const lt_safetensors *st) { return st ? st->n : 0; }

static const st_entry *entry(const lt_safetensors *st, int i) {
    return st && i >= 0 && i < st->n ? &st->t[i] : NULL;
}

const char *lt_safetensors_name(const lt_safetensors *st, int i) {
    const st_entry *e = entry(st, i);
    return e ? e->name : NULL;
}

const char *lt_safetensors_dtype(const lt_safetensors *st, int i) {
    const st_entry *e = entry(st, i);
    return e ? st_dtypes[e->dtype].name : NULL;
}

int lt_safetensors_ndim(const lt_safetensors *st, int i) {
    const st_entry *e = entry(st, i);
    return e ? e->ndim : -1;
}

const int64_t *lt_safetensors_shape(const lt_safetensors *st, int i) {
    const st_entry *e = entry(st, i);
    return e ? e->shape : NULL;
}

uint64_t lt_safetensors_nbytes(const lt_safetensors *st, int i) {
    const st_entry *e = entry(st, i);
    return e ? e->end - e->begin : 0;
}

int lt_safetensors_find(const lt_safetensors *st, const char *name) {
    if (!st || !name) return -1;
    int lo = 0, hi = st->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(st->t[st->by_name[mid]].name, name);
        if (!c) return st->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

const char *lt_safetensors_meta(const lt_safetensors *st, const char *key) {
    if (!st || !key) return NULL;
    for (int i = 0; i < st->n_meta; i++) if (!strcmp(st->meta_keys[i], key)) return st->meta_vals[i];
    return NULL;
}

int lt_safetensors_meta_count(const lt_safetensors *st) { return st ? st->n_meta : 0; }
const char *lt_safetensors_meta_key(const lt_safetensors *st, int i) {
    return st && i >= 0 && i < st->n_meta ? st->meta_keys[i] : NULL;
}
const char *lt_safetensors_meta_value(const lt_safetensors *st, int i) {
    return st && i >= 0 && i < st->n_meta ? st->meta_vals[i] : NULL;
}

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
    if (e == 0) {
        float f = (float)m * 0x1p-24f;   // zero or subnormal
        return sign ? -f : f;
    }
    if (e == 31) bits = sign | 0x7f800000u | (m << 13);
    else bits = sign | ((e + 112) << 23) | (m << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

lt_status lt_safetensors_read(const lt_safetensors *st, const char *name, lt_tensor *dst) {
    if (!st || !name || !dst) return lt_error(LT_ERR_ARG, "lt_safetensors_read: NULL argument");
    char q[80], fb[128], db[64];
    int i = lt_safetensors_find(st, name);
    if (i < 0) return lt_error(LT_ERR_FORMAT, "%s: no tensor named \"%s\"", st->path, QNAME(q, name));
    const st_entry *e = &st->t[i];
    QNAME(q, name);
    const char *fdt = st_dtypes[e->dtype].name;
    int conv = 0;   // 0 copy, 1 F16, 2 BF16
    if (dst->dtype == LT_F32 && !strcmp(fdt, "F16")) conv = 1;
    else if (dst->dtype == LT_F32 && !strcmp(fdt, "BF16")) conv = 2;
    else if (!((dst->dtype == LT_F32 && !strcmp(fdt, "F32")) || (dst->dtype == LT_I32 && !strcmp(fdt, "I32"))))
        return lt_error(LT_ERR_DTYPE, "%s: tensor \"%s\" is %s, cannot read it into a %s tensor (f32 takes F32, F16, "
                                      "BF16; i32 takes I32)",
                        st->path, q, fdt, lt_dtype_name(dst->dtype));
    int same = e->ndim == dst->ndim;
    for (int d = 0; same && d < e->ndim; d++) same = e->shape[d] == dst->shape[d];
    if (!same)
        return lt_error(LT_ERR_SHAPE, "%s: tensor \"%s\" has shape %s in the file, the destination has shape %s",
                        st->path, q, shape_str64(e->ndim, e->shape, fb, sizeof fb), lt_shape_str(dst, db));
    size_t nbytes = (size_t)(e->end - e->begin);
    size_t out_bytes = (size_t)dst->numel * lt_dtype_size(dst->dtype);
    int direct = dst->device == LT_CPU && !conv;
    void *raw = direct ? dst->data : malloc(nbytes ? nbytes : 1);
    void *host = NULL;
    lt_status s = LT_OK;
    int err = 0;
    if (!raw) return lt_error(LT_ERR_OOM, "%s: out of memory reading \"%s\"", st->path, q);
    if (read_at(st->fd, raw, nbytes, st->data_start + e->begin, &err)) {
        s = lt_error(LT_ERR_IO, "%s: reading tensor \"%s\" failed: %s", st->path, q,
                     err ? strerror(err) : "file ended early (changed since it was opened?)");
        goto done;
    }
    if (direct) goto done;
    host = raw;
    if (conv) {
        host = dst->device == LT_CPU ? dst->data : malloc(out_bytes ? out_bytes : 1);
        if (!host) { s = lt_error(LT_ERR_OOM, "%s: out of memory reading \"%s\"", st->path, q); goto done; }
        const unsigned char *r = raw;
        float *o = host;
        for (int64_t k = 0; k < dst->numel; k++) {
            uint16_t h = (uint16_t)(r[2 * k] | r[2 * k + 1] << 8);
            o[k] = conv == 1 ? f16_to_f32(h) : bf16_to_f32(h);
        }
    }
    if (dst->device != LT_CPU) s = lt_device_copy(dst->device, dst->data, LT_CPU, host, out_bytes);
done:
    if (host && host != raw && host != dst->data) free(host);
    if (raw != dst->data) free(raw);
    return s;
}
