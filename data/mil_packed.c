// libtrain's packed layout (reader): all bags in one file.
//   features   [R, D] float16 or float32, bag i in rows offsets[i]..offsets[i+1]
//   coords     [R, 2] int32
//   offsets    [n+1] int64, offsets[0] = 0, offsets[n] = R
//   labels     [n] int32, splits [n] int8 (-1 none, 0 train, 1 val, 2 test)
//   slide_ids  [n] fixed-length strings
//   root attributes: format = "libtrain-mil", version, n_classes, dim, class_names [C] strings
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/mil_internal.h"

static lt_status missing(const char *file, const char *what) {
    char found[512];
    lt_mil_members_str(file, "/", 0, found, sizeof found);
    return lt_error(LT_ERR_FORMAT, "lt_mil_open: packed file '%s' has no dataset '%s' (its root holds: %s)", file, what,
                    found);
}

// Root attributes: format and version checked, n_classes (0 if absent), whether class names exist.
static lt_status read_attrs(const char *file, int64_t *n_classes, int *has_names) {
    lt_h5 *f;
    LT_TRY(lt_h5_open(file, &f));
    lt_status s = LT_OK;
    char fmt[64];
    *n_classes = 0;
    if (lt_h5_has_attr(f, "/", "format")) {
        if (lt_h5_attr_read_str(f, "/", "format", fmt, sizeof fmt) != LT_OK || strcmp(fmt, LT_MIL_PACKED_FORMAT) != 0)
            s = lt_error(LT_ERR_FORMAT, "lt_mil_open: '%s' is not a packed libtrain MIL file (attribute 'format' is "
                         "not '%s')", file, LT_MIL_PACKED_FORMAT);
    }
    int64_t v = 0;
    if (s == LT_OK && lt_h5_has_attr(f, "/", "version")) {
        if (lt_h5_attr_read_int(f, "/", "version", &v) != LT_OK) s = lt_last_status();
        else if (v > LT_MIL_PACKED_VERSION)
            s = lt_error(LT_ERR_UNSUPPORTED, "lt_mil_open: '%s' is packed format version %lld; this libtrain reads "
                         "versions up to %d", file, (long long)v, LT_MIL_PACKED_VERSION);
    }
    if (s == LT_OK && lt_h5_has_attr(f, "/", "n_classes")) {
        if (lt_h5_attr_read_int(f, "/", "n_classes", n_classes) != LT_OK) s = lt_last_status();
        else if (*n_classes < 1 || *n_classes > 100000)
            s = lt_error(LT_ERR_FORMAT, "lt_mil_open: '%s': attribute n_classes = %lld is out of range", file,
                         (long long)*n_classes);
    }
    *has_names = lt_h5_has_attr(f, "/", "class_names");
    lt_h5_close(f);
    return s;
}

lt_status lt_mil_open_packed(lt_mil_dataset *ds) {
    const char *file = ds->path;
    int64_t C;
    int has_names;
    LT_TRY(read_attrs(file, &C, &has_names));
    char **ids = NULL, **names = NULL;
    int n = 0, n_names = 0;
    lt_h5 *f = NULL;
    int64_t *off = NULL;
    int32_t *lab = NULL, *spl = NULL;
    lt_status s = lt_mil_h5_read_strings(file, "slide_ids", NULL, &ids, &n);
    if (s != LT_OK) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", lt_last_error());
        char found[512];
        lt_mil_members_str(file, "/", 0, found, sizeof found);
        s = lt_error(s, "%s (its root holds: %s)", msg, found);
        goto done;
    }
    if (has_names && (s = lt_mil_h5_read_strings(file, "/", "class_names", &names, &n_names)) != LT_OK) goto done;
    if (has_names && C && n_names != C) {
        s = lt_error(LT_ERR_FORMAT, "lt_mil_open: '%s' has %d class names but n_classes = %lld", file, n_names,
                     (long long)C);
        goto done;
    }
    if ((s = lt_h5_open(file, &f)) != LT_OK) goto done;
    const char *need[] = {"features", "offsets", "labels"};
    for (int k = 0; k < 3; k++)
        if (!lt_h5_has_dataset(f, need[k])) {
            lt_h5_close(f);
            f = NULL;
            s = missing(file, need[k]);
            goto done;
        }
    lt_h5_info fi, oi, li;
    if ((s = lt_h5_info_get(f, "features", &fi)) != LT_OK || (s = lt_h5_info_get(f, "offsets", &oi)) != LT_OK ||
        (s = lt_h5_info_get(f, "labels", &li)) != LT_OK)
        goto done;
    if (fi.ndim != 2 || fi.dims[1] < 1 || fi.dims[1] > (1 << 24) ||
        (fi.type != LT_H5_F16 && fi.type != LT_H5_F32 && fi.type != LT_H5_F64)) {
        s = lt_error(LT_ERR_FORMAT, "lt_mil_open: '%s': dataset 'features' must be (rows, D) float16 or float32; it is "
                     "%d-D %s", file, fi.ndim, lt_h5_type_name(fi.type));
        goto done;
    }
    if (oi.ndim != 1 || oi.dims[0] != (int64_t)n + 1 || li.ndim != 1 || li.dims[0] != n) {
        s = lt_error(LT_ERR_FORMAT, "lt_mil_open: '%s' has %d slide ids, %lld offsets and %lld labels; expected n, n+1 "
                     "and n", file, n, (long long)oi.numel, (long long)li.numel);
        goto done;
    }
    off = malloc(sizeof *off * (size_t)(n + 1));
    lab = malloc(sizeof *lab * (size_t)(n ? n : 1));
    spl = malloc(sizeof *spl * (size_t)(n ? n : 1));
    if (!off || !lab || !spl) { s = lt_error(LT_ERR_OOM, "lt_mil_open: out of memory"); goto done; }
    if ((s = lt_h5_read(f, "offsets", LT_H5_I64, off, n + 1)) != LT_OK) goto done;
    if ((s = lt_h5_read_i32(f, "labels", lab, n)) != LT_OK) goto done;
    for (int i = 0; i < n; i++) spl[i] = LT_SPLIT_NONE;
    if (lt_h5_has_dataset(f, "splits") && (s = lt_h5_read_i32(f, "splits", spl, n)) != LT_OK) goto done;
    int coords = 0;
    if (lt_h5_has_dataset(f, "coords")) {
        lt_h5_info ci;
        if ((s = lt_h5_info_get(f, "coords", &ci)) != LT_OK) goto done;
        if (ci.ndim != 2 || ci.dims[0] != fi.dims[0] || ci.dims[1] != 2 || ci.type == LT_H5_OTHER) {
            s = lt_error(LT_ERR_FORMAT, "lt_mil_open: '%s': dataset 'coords' must be (%lld, 2) numbers", file,
                         (long long)fi.dims[0]);
            goto done;
        }
        coords = (ci.type == LT_H5_F16 || ci.type == LT_H5_F32 || ci.type == LT_H5_F64) ? 2 : 1;
    }
    if (off[0] != 0 || off[n] != fi.dims[0]) {
        s = lt_error(LT_ERR_FORMAT, "lt_mil_open: '%s': offsets run from %lld to %lld, but 'features' has %lld rows",
                     file, (long long)off[0], (long long)off[n], (long long)fi.dims[0]);
        goto done;
    }
    ds->dim = (int)fi.dims[1];
    for (int i = 0; i < n; i++) {
        lt_mil_src *src;
        lt_mil_bag_info *b = lt_mil_ds_add(ds, ids[i], &src);
        if (!b) { s = lt_last_status(); goto done; }
        if (off[i + 1] < off[i]) {
            s = lt_error(LT_ERR_FORMAT, "lt_mil_open: slide '%s' in '%s': offsets decrease (%lld, then %lld)", ids[i],
                         file, (long long)off[i], (long long)off[i + 1]);
            goto done;
        }
        if (spl[i] < LT_SPLIT_NONE || spl[i] > LT_SPLIT_TEST) {
            s = lt_error(LT_ERR_FORMAT, "lt_mil_open: slide '%s' in '%s': split %d is not -1, 0, 1 or 2", ids[i], file,
                         spl[i]);
            goto done;
        }
        b->n = off[i + 1] - off[i];
        b->label = lab[i];
        b->split = (lt_mil_split_kind)spl[i];
        src->row0 = off[i];
        src->ftype = fi.type;
        src->coords = coords;
    }
    if (has_names) s = lt_mil_set_class_names(ds, n_names, (const char *const *)names);
    else if (C) s = lt_mil_set_class_names(ds, (int)C, NULL);
    if (s == LT_OK) s = lt_mil_ds_finish(ds, file, 1);
done:
    if (s == LT_OK) ds->h5 = f;
    else lt_h5_close(f);
    lt_mil_free_strs(ids, n);
    lt_mil_free_strs(names, n_names);
    free(off);
    free(lab);
    free(spl);
    return s;
}
