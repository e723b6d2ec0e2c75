#include "data/attn_scores.h"
#include "data/h5.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT_NAME "libtrain-attention-scores"
#define MAX_ID 240   // slide ids longer than this do not fit the object-path buffers

struct lt_attn_scores_writer {
    lt_h5 *f;
    int n_classes, heads;   // of the first slide; 0 before it
    int64_t n_slides;
};

lt_status lt_attn_scores_open(const char *path, lt_attn_scores_writer **out) {
    if (!path || !out) return lt_error(LT_ERR_ARG, "lt_attn_scores_open: NULL path or output");
    *out = NULL;
    lt_attn_scores_writer *w = calloc(1, sizeof *w);
    if (!w) return lt_error(LT_ERR_OOM, "lt_attn_scores_open: %s", path);
    lt_h5_lock();
    lt_status s = lt_h5_create(path, &w->f);
    lt_h5_unlock();
    if (s != LT_OK) {
        free(w);
        return s;
    }
    *out = w;
    return LT_OK;
}

// "p0,p1,..." with 9 significant digits: enough to read each float back exactly.
static char *prob_string(const float *prob, int C) {
    size_t cap = (size_t)C * 18 + 1, len = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    s[0] = 0;
    for (int c = 0; c < C; c++) len += (size_t)snprintf(s + len, cap - len, c ? ",%.9g" : "%.9g", (double)prob[c]);
    return s;
}

static lt_status add_locked(lt_attn_scores_writer *w, const char *id, int label, const float *prob, int C, int heads,
                            int64_t n, const float *attn, const int32_t *coords) {
    const char *path = lt_h5_path(w->f), *fn = "lt_attn_scores_add";
    if (lt_h5_has_group(w->f, id)) return lt_error(LT_ERR_ARG, "%s: %s: slide '%s' written twice", fn, path, id);
    if (w->n_slides && (C != w->n_classes || heads != w->heads))
        return lt_error(LT_ERR_ARG, "%s: %s: slide '%s' has %d classes and %d heads; earlier slides %d and %d", fn, path,
                        id, C, heads, w->n_classes, w->heads);
    char obj[MAX_ID + 16];
    lt_h5_write_opts of = {LT_H5_F32, 0}, oi = {LT_H5_I32, 0};
    int64_t ad[2] = {heads, n}, cd[2] = {n, 2};
    snprintf(obj, sizeof obj, "%s/attention", id);
    LT_TRY(lt_h5_write(w->f, obj, LT_H5_F32, attn, 2, ad, of));
    int32_t *zero = NULL;
    if (!coords && !(coords = zero = calloc((size_t)n * 2, sizeof(int32_t))))
        return lt_error(LT_ERR_OOM, "%s: %s: coords of slide '%s' (%lld instances)", fn, path, id, (long long)n);
    snprintf(obj, sizeof obj, "%s/coords", id);
    lt_status s = lt_h5_write(w->f, obj, LT_H5_I32, coords, 2, cd, oi);
    free(zero);
    LT_TRY(s);
    int pred = 0;
    for (int c = 1; c < C; c++) if (prob[c] > prob[pred]) pred = c;
    char *ps = prob_string(prob, C);
    if (!ps) return lt_error(LT_ERR_OOM, "%s: %s: slide '%s'", fn, path, id);
    s = lt_h5_attr_write_int(w->f, id, "label", label);
    if (s == LT_OK) s = lt_h5_attr_write_int(w->f, id, "prediction", pred);
    if (s == LT_OK) s = lt_h5_attr_write_str(w->f, id, "probabilities", ps);
    free(ps);
    LT_TRY(s);
    w->n_classes = C;
    w->heads = heads;
    w->n_slides++;
    return LT_OK;
}

lt_status lt_attn_scores_add(lt_attn_scores_writer *w, const char *slide_id, int label, const float *prob, int C,
                             int heads, int64_t n, const float *attn, const int32_t *coords) {
    const char *fn = "lt_attn_scores_add";
    if (!w || !slide_id || !prob || !attn) return lt_error(LT_ERR_ARG, "%s: NULL writer, slide id, probabilities or attention", fn);
    const char *path = lt_h5_path(w->f);
    if (!slide_id[0] || !strcmp(slide_id, ".") || strchr(slide_id, '/') || strlen(slide_id) > MAX_ID)
        return lt_error(LT_ERR_ARG, "%s: %s: slide id '%.*s' cannot name an HDF5 group (empty, '.', holds '/', or over %d "
                        "bytes)", fn, path, MAX_ID, slide_id, MAX_ID);
    if (heads < 1 || n < 1 || C < 1)
        return lt_error(LT_ERR_ARG, "%s: %s: slide '%s': heads=%d, n=%lld, classes=%d (each must be >= 1)", fn, path,
                        slide_id, heads, (long long)n, C);
    lt_h5_lock();
    lt_status s = add_locked(w, slide_id, label, prob, C, heads, n, attn, coords);
    lt_h5_unlock();
    return s;
}

lt_status lt_attn_scores_commit(lt_attn_scores_writer *w) {
    if (!w) return lt_error(LT_ERR_ARG, "lt_attn_scores_commit: NULL writer");
    lt_h5_lock();
    lt_status s = lt_h5_attr_write_str(w->f, "/", "format", FORMAT_NAME);
    if (s == LT_OK) s = lt_h5_attr_write_int(w->f, "/", "version", 1);
    if (s == LT_OK) s = lt_h5_attr_write_int(w->f, "/", "n_classes", w->n_classes);
    if (s == LT_OK) s = lt_h5_attr_write_int(w->f, "/", "heads", w->heads);
    if (s == LT_OK) s = lt_h5_attr_write_int(w->f, "/", "n_slides", w->n_slides);
    if (s == LT_OK) s = lt_h5_commit(w->f);
    else lt_h5_close(w->f);
    lt_h5_unlock();
    free(w);
    return s;
}

void lt_attn_scores_abort(lt_attn_scores_writer *w) {
    if (!w) return;
    lt_h5_lock();
    lt_h5_close(w->f);
    lt_h5_unlock();
    free(w);
}

// ---- reading ----

void lt_attn_scores_bag_free(lt_attn_scores_bag *b) {
    if (!b) return;
    free(b->prob);
    free(b->attn);
    free(b->coords);
    memset(b, 0, sizeof *b);
}

static lt_status read_int_attr(lt_h5 *f, const char *obj, const char *name, int *v) {
    int64_t x;
    LT_TRY(lt_h5_attr_read_int(f, obj, name, &x));
    *v = (int)x;
    return LT_OK;
}

static lt_status read_locked(lt_h5 *f, const char *id, lt_attn_scores_bag *b) {
    const char *path = lt_h5_path(f), *fn = "lt_attn_scores_read";
    char fmt[64], obj[MAX_ID + 16];
    LT_TRY(lt_h5_attr_read_str(f, "/", "format", fmt, sizeof fmt));
    if (strcmp(fmt, FORMAT_NAME))
        return lt_error(LT_ERR_FORMAT, "%s: %s: format '%s', expected '%s'", fn, path, fmt, FORMAT_NAME);
    if (strlen(id) > MAX_ID || !lt_h5_has_group(f, id))
        return lt_error(LT_ERR_ARG, "%s: %s: no slide '%.*s'", fn, path, MAX_ID, id);
    LT_TRY(read_int_attr(f, "/", "n_classes", &b->n_classes));
    LT_TRY(read_int_attr(f, id, "label", &b->label));
    LT_TRY(read_int_attr(f, id, "prediction", &b->prediction));
    lt_h5_info ai, ci;
    snprintf(obj, sizeof obj, "%s/attention", id);
    LT_TRY(lt_h5_info_get(f, obj, &ai));
    snprintf(obj, sizeof obj, "%s/coords", id);
    LT_TRY(lt_h5_info_get(f, obj, &ci));
    if (ai.ndim != 2 || ci.ndim != 2 || ci.dims[0] != ai.dims[1] || ci.dims[1] != 2 || b->n_classes < 1)
        return lt_error(LT_ERR_FORMAT, "%s: %s: slide '%s': attention %dD [%lld, %lld], coords %dD [%lld, %lld], %d classes",
                        fn, path, id, ai.ndim, (long long)ai.dims[0], (long long)ai.dims[1], ci.ndim,
                        (long long)ci.dims[0], (long long)ci.dims[1], b->n_classes);
    b->heads = (int)ai.dims[0];
    b->n = ai.dims[1];
    size_t cap = (size_t)b->n_classes * 18 + 2;
    char *ps = malloc(cap);
    b->prob = malloc(sizeof(float) * (size_t)b->n_classes);
    b->attn = malloc(sizeof(float) * (size_t)ai.numel);
    b->coords = malloc(sizeof(int32_t) * (size_t)ci.numel);
    lt_status s = (ps && b->prob && b->attn && b->coords) ? LT_OK : lt_error(LT_ERR_OOM, "%s: %s: slide '%s'", fn, path, id);
    if (s == LT_OK) s = lt_h5_attr_read_str(f, id, "probabilities", ps, cap);
    const char *p = ps;
    for (int c = 0; s == LT_OK && c < b->n_classes; c++) {
        char *end;
        errno = 0;
        b->prob[c] = strtof(p, &end);
        if (end == p || errno || *end != (c + 1 < b->n_classes ? ',' : '\0'))
            s = lt_error(LT_ERR_FORMAT, "%s: %s: slide '%s': probabilities '%s' are not %d comma-separated numbers", fn,
                         path, id, ps, b->n_classes);
        p = end + 1;
    }
    free(ps);
    if (s == LT_OK) s = lt_h5_read_i32(f, obj, b->coords, ci.numel);   // obj names the coords
    if (s == LT_OK) {
        snprintf(obj, sizeof obj, "%s/attention", id);
        s = lt_h5_read_f32(f, obj, b->attn, ai.numel);
    }
    return s;
}

lt_status lt_attn_scores_read(const char *path, const char *slide_id, lt_attn_scores_bag *out) {
    if (!path || !slide_id || !out) return lt_error(LT_ERR_ARG, "lt_attn_scores_read: NULL path, slide id or output");
    memset(out, 0, sizeof *out);
    lt_h5 *f;
    lt_h5_lock();
    lt_status s = lt_h5_open(path, &f);
    if (s == LT_OK) {
        s = read_locked(f, slide_id, out);
        lt_h5_close(f);
    }
    lt_h5_unlock();
    if (s != LT_OK) lt_attn_scores_bag_free(out);
    return s;
}
