// AEM layout: one HDF5 file, one group per slide holding `feat` (N, D)
// (float16 as AEM's Step2_feature_extract.py writes it), `coords` (N, 2) and an
// integer `label` attribute (a class-name string is accepted too).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/mil_internal.h"

// The group's label as text: "3" for an integer (or integral float), else the string.
static lt_status read_label(lt_h5 *f, const char *file, const char *id, char *buf, size_t cap) {
    if (!lt_h5_has_attr(f, id, "label"))
        return lt_error(LT_ERR_FORMAT, "lt_mil_open: slide '%s' in '%s' has no 'label' attribute", id, file);
    int64_t v;
    if (lt_h5_attr_read_int(f, id, "label", &v) == LT_OK) {
        snprintf(buf, cap, "%lld", (long long)v);
        return LT_OK;
    }
    double d;
    if (lt_h5_attr_read_f64(f, id, "label", &d) == LT_OK) {
        if (!isfinite(d) || d != floor(d))
            return lt_error(LT_ERR_FORMAT, "lt_mil_open: slide '%s' in '%s': label %g is not a class index", id, file,
                            d);
        snprintf(buf, cap, "%.0f", d);
        return LT_OK;
    }
    if (lt_h5_attr_read_str(f, id, "label", buf, cap) == LT_OK) return LT_OK;
    return lt_error(LT_ERR_FORMAT, "lt_mil_open: slide '%s' in '%s': the 'label' attribute is not an integer, a "
                    "number or a string (%s)", id, file, lt_last_error());
}

lt_status lt_mil_open_aem(lt_mil_dataset *ds) {
    const char *file = ds->path;
    char **names, *kinds;
    int n;
    LT_TRY(lt_mil_h5_members(file, "/", &names, &kinds, &n));
    lt_status s = LT_OK;
    for (int i = 0; i < n && s == LT_OK; i++) {
        if (kinds[i] != 'g') continue;
        lt_mil_src *src;
        if (!lt_mil_ds_add(ds, names[i], &src)) s = lt_last_status();
    }
    if (s == LT_OK && ds->n == 0) {
        char found[512];
        lt_mil_members_str(file, "/", 0, found, sizeof found);
        s = lt_error(LT_ERR_FORMAT, "lt_mil_open: '%s' holds no slide groups (AEM layout: one group per slide with "
                     "'feat' and a 'label' attribute); its root holds: %s", file, found);
    }
    lt_mil_free_strs(names, n);
    free(kinds);
    if (s != LT_OK) return s;

    LT_TRY(lt_h5_open(file, &ds->h5));
    char **labels = calloc((size_t)ds->n, sizeof *labels), **where = calloc((size_t)ds->n, sizeof *where);
    if (!labels || !where) s = lt_error(LT_ERR_OOM, "lt_mil_open: out of memory");
    for (int i = 0; i < ds->n && s == LT_OK; i++) {
        const char *id = ds->bags[i].id;
        char feat[300], coords[300];
        ds->src[i].key = "feat";
        snprintf(feat, sizeof feat, "%s/feat", id);
        if (!lt_h5_has_dataset(ds->h5, feat)) {
            snprintf(feat, sizeof feat, "%s/features", id);
            if (lt_h5_has_dataset(ds->h5, feat)) ds->src[i].key = "features";
            else snprintf(feat, sizeof feat, "%s/feat", id);
        }
        snprintf(coords, sizeof coords, "%s/coords", id);
        int missing;
        s = lt_mil_check_bag(ds, i, ds->h5, feat, coords, file, &missing);
        if (s != LT_OK && missing) {
            char found[512], msg[2048];
            snprintf(msg, sizeof msg, "%s", lt_last_error());
            lt_h5_close(ds->h5);   // the listing opens the file on its own
            ds->h5 = NULL;
            lt_mil_members_str(file, id, 0, found, sizeof found);
            s = lt_error(LT_ERR_FORMAT, "%s (the group holds: %s)", msg, found);
            break;
        }
        if (s != LT_OK) break;
        char lab[128];
        if ((s = read_label(ds->h5, file, id, lab, sizeof lab)) != LT_OK) break;
        size_t wl = strlen(file) + strlen(id) + 64;
        labels[i] = malloc(strlen(lab) + 1);
        where[i] = malloc(wl);
        if (!labels[i] || !where[i]) { s = lt_error(LT_ERR_OOM, "lt_mil_open: out of memory"); break; }
        strcpy(labels[i], lab);
        snprintf(where[i], wl, "slide '%s' in '%s'", id, file);
    }
    if (s == LT_OK) s = lt_mil_map_labels(ds, (const char *const *)labels, (const char *const *)where);
    if (s == LT_OK) s = lt_mil_ds_finish(ds, file, 1);
    for (int i = 0; i < ds->n; i++) {
        if (labels) free(labels[i]);
        if (where) free(where[i]);
    }
    free(labels);
    free(where);
    return s;
}
