// The bag index the layout readers fill: bags, class names, labels, checks.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/mil_internal.h"

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

lt_mil_dataset *lt_mil_ds_new(lt_mil_layout layout, const char *path) {
    lt_mil_dataset *ds = calloc(1, sizeof *ds);
    if (!ds || !(ds->path = dupstr(path))) {
        free(ds);
        lt_error(LT_ERR_OOM, "lt_mil_open: out of memory");
        return NULL;
    }
    ds->layout = layout;
    ds->h5_bag = -1;
    return ds;
}

lt_mil_bag_info *lt_mil_ds_add(lt_mil_dataset *ds, const char *id, lt_mil_src **src) {
    if (strlen(id) >= sizeof ds->bags[0].id) {
        lt_error(LT_ERR_FORMAT, "lt_mil_open: slide id '%.60s...' in '%s' is %zu bytes long; at most %zu are supported",
                 id, ds->path, strlen(id), sizeof ds->bags[0].id - 1);
        return NULL;
    }
    if (ds->n == ds->cap) {
        int cap = ds->cap ? 2 * ds->cap : 64;
        lt_mil_bag_info *b = realloc(ds->bags, sizeof *b * (size_t)cap);
        if (b) ds->bags = b;
        lt_mil_src *s = realloc(ds->src, sizeof *s * (size_t)cap);
        if (s) ds->src = s;
        if (!b || !s) { lt_error(LT_ERR_OOM, "lt_mil_open: out of memory"); return NULL; }
        ds->cap = cap;
    }
    lt_mil_bag_info *b = &ds->bags[ds->n];
    memset(b, 0, sizeof *b);
    snprintf(b->id, sizeof b->id, "%s", id);
    b->split = LT_SPLIT_NONE;
    memset(&ds->src[ds->n], 0, sizeof ds->src[0]);
    ds->src[ds->n].ftype = LT_H5_F32;
    *src = &ds->src[ds->n];
    ds->n++;
    return b;
}

static const char **id_ptrs(const lt_mil_dataset *ds) {
    const char **ids = malloc(sizeof *ids * (size_t)(ds->n > 0 ? ds->n : 1));
    if (ids)
        for (int i = 0; i < ds->n; i++) ids[i] = ds->bags[i].id;
    return ids;
}

const char *lt_mil_file_of(const lt_mil_dataset *ds, int i) {
    return (ds->layout == LT_MIL_CLAM && i >= 0 && i < ds->n) ? ds->src[i].file : ds->path;
}

static void free_names(lt_mil_dataset *ds) {
    for (int c = 0; c < ds->n_classes; c++) free(ds->class_names ? ds->class_names[c] : NULL);
    free(ds->class_names);
    ds->class_names = NULL;
    ds->n_classes = 0;
}

void lt_mil_ds_free(lt_mil_dataset *ds) {
    if (!ds) return;
    for (int i = 0; i < ds->n; i++) free(ds->src[i].file);
    free_names(ds);
    free(ds->bags);
    free(ds->src);
    free(ds->path);
    free(ds->dir);
    free(ds->csv);
    free(ds);
}

lt_status lt_mil_set_class_names(lt_mil_dataset *ds, int n_classes, const char *const *names) {
    free_names(ds);
    ds->class_names = calloc((size_t)n_classes, sizeof *ds->class_names);
    if (!ds->class_names) return lt_error(LT_ERR_OOM, "lt_mil_open: out of memory");
    ds->n_classes = n_classes;
    for (int c = 0; c < n_classes; c++) {
        char num[24];
        snprintf(num, sizeof num, "%d", c);
        if (!(ds->class_names[c] = dupstr(names && names[c] ? names[c] : num)))
            return lt_error(LT_ERR_OOM, "lt_mil_open: out of memory");
    }
    return LT_OK;
}

static _Thread_local const char *const *sort_strs;
static int cmp_by_str(const void *a, const void *b) {
    return strcmp(sort_strs[*(const int *)a], sort_strs[*(const int *)b]);
}

// Indices 0..n-1 sorted by s[i] (ties by index); NULL when out of memory.
static int *sorted_order(const char *const *s, int n) {
    int *o = malloc(sizeof *o * (size_t)(n > 0 ? n : 1));
    if (!o) return NULL;
    for (int i = 0; i < n; i++) o[i] = i;
    sort_strs = s;
    qsort(o, (size_t)n, sizeof *o, cmp_by_str);
    // qsort is not stable: order equal strings by index so the first duplicate is reported first.
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(s[o[j - 1]], s[o[j]]) == 0 && o[j - 1] > o[j]; j--) {
            int t = o[j]; o[j] = o[j - 1]; o[j - 1] = t;
        }
    return o;
}

int lt_mil_find_duplicate(const char *const *ids, int n, int *a, int *b) {
    int *o = sorted_order(ids, n);
    int found = 0;
    *a = *b = -1;
    if (!o) return 0;
    for (int i = 1; i < n; i++) {
        if (strcmp(ids[o[i - 1]], ids[o[i]]) != 0) continue;
        if (!found || o[i - 1] < *a || (o[i - 1] == *a && o[i] < *b)) { *a = o[i - 1]; *b = o[i]; }
        found = 1;
    }
    free(o);
    return found;
}

static int parse_int_label(const char *s, long long *v, int *numeric) {
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    *numeric = end != s && *end == 0;
    if (!*numeric) return 0;
    if (!isfinite(d) || d != floor(d) || fabs(d) > 1e9 || errno) return 0;
    *v = (long long)d;
    return 1;
}

lt_status lt_mil_map_labels(lt_mil_dataset *ds, const char *const *labels, const char *const *where) {
    int n = ds->n, first_num = -1, first_name = -1;
    for (int i = 0; i < n; i++) {
        if (!labels[i][0]) return lt_error(LT_ERR_FORMAT, "lt_mil_open: %s: the label is missing", where[i]);
        long long v;
        int numeric;
        int ok = parse_int_label(labels[i], &v, &numeric);
        if (numeric && !ok)
            return lt_error(LT_ERR_FORMAT, "lt_mil_open: %s: label '%s' is not a class index (an integer 0..C-1)",
                            where[i], labels[i]);
        if (numeric && v < 0)
            return lt_error(LT_ERR_FORMAT, "lt_mil_open: %s: label %lld is out of range (class indices start at 0)",
                            where[i], v);
        if (numeric && first_num < 0) first_num = i;
        if (!numeric && first_name < 0) first_name = i;
    }
    if (first_num >= 0 && first_name >= 0)
        return lt_error(LT_ERR_FORMAT,
                        "lt_mil_open: labels mix class indices and class names: %s has '%s' but %s has '%s'",
                        where[first_num], labels[first_num], where[first_name], labels[first_name]);
    if (first_name < 0) {
        for (int i = 0; i < n; i++) {
            long long v = 0;
            int numeric;
            parse_int_label(labels[i], &v, &numeric);
            ds->bags[i].label = (int)v;
        }
        return LT_OK;   // the class count is inferred in lt_mil_ds_finish
    }
    int *o = sorted_order(labels, n);
    if (!o) return lt_error(LT_ERR_OOM, "lt_mil_open: out of memory");
    const char **names = malloc(sizeof *names * (size_t)n);
    if (!names) { free(o); return lt_error(LT_ERR_OOM, "lt_mil_open: out of memory"); }
    int c = 0;
    for (int k = 0; k < n; k++) {
        if (k == 0 || strcmp(labels[o[k]], labels[o[k - 1]]) != 0) names[c++] = labels[o[k]];
        ds->bags[o[k]].label = c - 1;
    }
    lt_status s = lt_mil_set_class_names(ds, c, names);
    free(names);
    free(o);
    return s;
}

lt_status lt_mil_ds_finish(lt_mil_dataset *ds, const char *file, int infer_classes) {
    if (ds->n == 0) return lt_error(LT_ERR_FORMAT, "lt_mil_open: '%s' holds no bags", file ? file : ds->path);
    ds->max_n = 0;
    int max_label = -1;
    for (int i = 0; i < ds->n; i++) {
        const lt_mil_bag_info *b = &ds->bags[i];
        if (b->n < 1)
            return lt_error(LT_ERR_FORMAT, "lt_mil_open: slide '%s' in '%s' is an empty bag (0 instances)", b->id,
                            lt_mil_file_of(ds, i));
        if (b->n > ds->max_n) ds->max_n = b->n;
        if (b->label < 0 || (ds->n_classes > 0 && b->label >= ds->n_classes))
            return lt_error(LT_ERR_FORMAT, "lt_mil_open: slide '%s' in '%s': label %d is out of range 0..%d", b->id,
                            lt_mil_file_of(ds, i), b->label, ds->n_classes - 1);
        if (b->label > max_label) max_label = b->label;
    }
    if (ds->n_classes == 0) {
        if (!infer_classes) return lt_error(LT_ERR_FORMAT, "lt_mil_open: '%s': number of classes unknown", ds->path);
        int C = max_label + 1;
        if (C < 1 || C > 100000)
            return lt_error(LT_ERR_FORMAT, "lt_mil_open: '%s': largest label %d is out of range", ds->path, max_label);
        char *seen = calloc((size_t)C, 1);
        if (!seen) return lt_error(LT_ERR_OOM, "lt_mil_open: out of memory");
        for (int i = 0; i < ds->n; i++) seen[ds->bags[i].label] = 1;
        int empty = -1;
        for (int c = 0; c < C && empty < 0; c++)
            if (!seen[c]) empty = c;
        free(seen);
        if (empty >= 0)
            return lt_error(LT_ERR_FORMAT,
                            "lt_mil_open: labels of '%s' go up to %d but no slide has label %d: class indices must be "
                            "0..C-1 with every class present (1-based labels?)",
                            ds->csv ? ds->csv : ds->path, max_label, empty);
        LT_TRY(lt_mil_set_class_names(ds, C, NULL));
    }
    const char **ids = id_ptrs(ds);
    if (!ids) return lt_error(LT_ERR_OOM, "lt_mil_open: out of memory");
    int a, b;
    int dup = lt_mil_find_duplicate(ids, ds->n, &a, &b);
    free(ids);
    if (dup)
        return lt_error(LT_ERR_FORMAT, "lt_mil_open: slide id '%s' appears twice in '%s' (bags %d and %d)",
                        ds->bags[a].id, file ? file : ds->path, a, b);
    return LT_OK;
}

static void shape_str(const lt_h5_info *in, char *buf, size_t cap) {
    int k = snprintf(buf, cap, "(");
    for (int d = 0; d < in->ndim && k < (int)cap - 24; d++) k += snprintf(buf + k, cap - k, "%s%lld", d ? ", " : "",
                                                                       (long long)in->dims[d]);
    snprintf(buf + k, cap - k, "%s)", in->ndim == 1 ? "," : "");
}

static int is_float(lt_h5_type t) { return t == LT_H5_F16 || t == LT_H5_F32 || t == LT_H5_F64; }

lt_status lt_mil_check_bag(lt_mil_dataset *ds, int b, lt_h5 *f, const char *feat, const char *coords,
                           const char *file, int *missing) {
    const char *id = ds->bags[b].id;
    lt_mil_src *src = &ds->src[b];
    lt_h5_info in;
    char shp[96];
    *missing = 0;
    if (!lt_h5_has_dataset(f, feat)) {
        *missing = 1;
        return lt_error(LT_ERR_FORMAT, "lt_mil_open: slide '%s': '%s' has no dataset '%s'", id, file, feat);
    }
    if (lt_h5_info_get(f, feat, &in) != LT_OK)
        return lt_error(lt_last_status(), "lt_mil_open: slide '%s': %s", id, lt_last_error());
    shape_str(&in, shp, sizeof shp);
    if (!is_float(in.type))
        return lt_error(LT_ERR_DTYPE, "lt_mil_open: slide '%s': dataset '%s' in '%s' is %s; features must be float32 "
                        "or float16", id, feat, file, lt_h5_type_name(in.type));
    if (in.ndim != 2)
        return lt_error(LT_ERR_SHAPE, "lt_mil_open: slide '%s': dataset '%s' in '%s' has shape %s; features must be "
                        "(N, D)", id, feat, file, shp);
    if (in.dims[0] == 0)
        return lt_error(LT_ERR_FORMAT, "lt_mil_open: slide '%s' in '%s' is an empty bag: '%s' has shape %s", id, file,
                        feat, shp);
    if (in.dims[1] < 1 || in.dims[1] > (1 << 24))
        return lt_error(LT_ERR_SHAPE, "lt_mil_open: slide '%s': dataset '%s' in '%s' has shape %s: bad feature "
                        "dimension", id, feat, file, shp);
    if (ds->dim == 0) {
        ds->dim = (int)in.dims[1];
    } else if (in.dims[1] != ds->dim) {
        return lt_error(LT_ERR_SHAPE, "lt_mil_open: slide '%s' in '%s' has %lld features per instance, but slide '%s' "
                        "in '%s' has %d", id, file, (long long)in.dims[1], ds->bags[0].id, lt_mil_file_of(ds, 0),
                        ds->dim);
    }
    ds->bags[b].n = in.dims[0];
    src->ftype = in.type;
    src->coords = 0;
    if (!coords || !lt_h5_has_dataset(f, coords)) return LT_OK;
    lt_h5_info ci;
    if (lt_h5_info_get(f, coords, &ci) != LT_OK)
        return lt_error(lt_last_status(), "lt_mil_open: slide '%s': %s", id, lt_last_error());
    shape_str(&ci, shp, sizeof shp);
    if (ci.ndim != 2 || ci.dims[1] != 2 || ci.dims[0] != in.dims[0])
        return lt_error(LT_ERR_SHAPE, "lt_mil_open: slide '%s': dataset '%s' in '%s' has shape %s; expected (%lld, 2) "
                        "to match '%s'", id, coords, file, shp, (long long)in.dims[0], feat);
    if (ci.type == LT_H5_OTHER)
        return lt_error(LT_ERR_DTYPE, "lt_mil_open: slide '%s': dataset '%s' in '%s' is not numeric", id, coords,
                        file);
    src->coords = is_float(ci.type) ? 2 : 1;
    return LT_OK;
}
