// CLAM / TRIDENT layout: <dir>/<slide_id>.h5 with `features` (N, D) and
// `coords` (N, 2), plus a slide table (CSV) that decides which slides are used.
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data/csv.h"
#include "data/mil_internal.h"

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int ends_with_h5(const char *name) {
    size_t n = strlen(name);
    return n > 3 && strcasecmp(name + n - 3, ".h5") == 0;
}

static int parse_split(const char *s, lt_mil_split_kind *out) {
    static const struct { const char *name; lt_mil_split_kind v; } names[] = {
        {"", LT_SPLIT_NONE},   {"train", LT_SPLIT_TRAIN},    {"training", LT_SPLIT_TRAIN}, {"val", LT_SPLIT_VAL},
        {"valid", LT_SPLIT_VAL}, {"validation", LT_SPLIT_VAL}, {"test", LT_SPLIT_TEST},    {"testing", LT_SPLIT_TEST},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(s, names[i].name) == 0) { *out = names[i].v; return 1; }
    return 0;
}

static void columns_str(const lt_csv *c, char *buf, size_t cap) {
    size_t k = 0;
    buf[0] = 0;
    for (int j = 0; j < lt_csv_n_cols(c) && k + 8 < cap; j++) {
        int w = snprintf(buf + k, cap - k, "%s'%s'", j ? ", " : "", lt_csv_col_name(c, j));
        if (w < 0 || (size_t)w >= cap - k) break;
        k += (size_t)w;
    }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// .h5 files in the folder that no CSV row uses; -1 if the folder cannot be read.
static int count_ignored(lt_mil_dataset *ds, int *n_h5) {
    *n_h5 = 0;
    DIR *d = opendir(ds->dir);
    if (!d) return -1;
    const char **used = malloc(sizeof *used * (size_t)(ds->n ? ds->n : 1));
    if (!used) { closedir(d); return -1; }
    for (int i = 0; i < ds->n; i++) {
        const char *slash = ds->src[i].file ? strrchr(ds->src[i].file, '/') : NULL;
        used[i] = slash ? slash + 1 : (ds->src[i].file ? ds->src[i].file : "");
    }
    qsort(used, (size_t)ds->n, sizeof *used, cmp_str);
    int ignored = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!ends_with_h5(e->d_name)) continue;
        (*n_h5)++;
        const char *key = e->d_name;
        if (!bsearch(&key, used, (size_t)ds->n, sizeof *used, cmp_str)) ignored++;
    }
    closedir(d);
    free(used);
    return ignored;
}

// dir/<id>.h5, else dir/<id without its extension>.h5 (a CSV listing "slide.svs").
static char *slide_file(const char *dir, const char *id) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s.h5", dir, id);
    if (is_file(p)) return dupstr(p);
    const char *dot = strrchr(id, '.');
    if (dot && dot != id) {
        snprintf(p, sizeof p, "%s/%.*s.h5", dir, (int)(dot - id), id);
        if (is_file(p)) return dupstr(p);
    }
    if (ends_with_h5(id)) {
        snprintf(p, sizeof p, "%s/%s", dir, id);
        if (is_file(p)) return dupstr(p);
    }
    return NULL;
}

static lt_status check_file(lt_mil_dataset *ds, int r, const char *where) {
    const char *file = ds->src[r].file;
    lt_h5 *f;
    if (lt_h5_open(file, &f) != LT_OK)
        return lt_error(lt_last_status(), "lt_mil_open: %s: %s", where, lt_last_error());
    int missing;
    lt_status s = lt_mil_check_bag(ds, r, f, "features", "coords", file, &missing);
    lt_h5_close(f);
    if (s != LT_OK && missing) {
        char found[512], msg[2048];
        snprintf(msg, sizeof msg, "%s", lt_last_error());
        lt_mil_members_str(file, "/", 0, found, sizeof found);
        int coords_only = strcmp(found, "coords") == 0;
        s = lt_error(LT_ERR_FORMAT, "%s (it holds: %s)%s", msg, found,
                     coords_only ? "; this looks like a CLAM patch-coordinates file, not a features file" : "");
    }
    return s;
}

lt_status lt_mil_open_clam(lt_mil_dataset *ds, const char *csv_path) {
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/h5_files", ds->path);
    ds->dir = dupstr(is_dir(sub) ? sub : ds->path);
    ds->csv = dupstr(csv_path);
    if (!ds->dir || !ds->csv) return lt_error(LT_ERR_OOM, "lt_mil_open: out of memory");
    int n_h5;
    if (count_ignored(ds, &n_h5) < 0)
        return lt_error(LT_ERR_IO, "lt_mil_open: cannot list the feature folder '%s'", ds->dir);
    if (n_h5 == 0)
        return lt_error(LT_ERR_FORMAT, "lt_mil_open: the feature folder '%s' holds no .h5 files", ds->dir);

    lt_csv *c;
    if (lt_csv_read(csv_path, &c) != LT_OK)
        return lt_error(lt_last_status(), "lt_mil_open: slide table: %s", lt_last_error());
    lt_status s = LT_OK;
    const char **labels = NULL;
    char **where = NULL;
    int rows = lt_csv_n_rows(c);
    int cid = lt_csv_col(c, "slide_id"), clab = lt_csv_col(c, "label"), csp = lt_csv_col(c, "split");
    char cols[512];
    columns_str(c, cols, sizeof cols);
    if (cid < 0 || clab < 0) {
        s = lt_error(LT_ERR_FORMAT, "lt_mil_open: slide table '%s' has no '%s' column (columns: %s)", csv_path,
                     cid < 0 ? "slide_id" : "label", cols);
        goto done;
    }
    if (rows == 0) {
        s = lt_error(LT_ERR_FORMAT, "lt_mil_open: slide table '%s' has a header but no slides", csv_path);
        goto done;
    }
    labels = malloc(sizeof *labels * (size_t)rows);
    where = calloc((size_t)rows, sizeof *where);
    if (!labels || !where) { s = lt_error(LT_ERR_OOM, "lt_mil_open: out of memory"); goto done; }
    for (int r = 0; r < rows && s == LT_OK; r++) {
        const char *id = lt_csv_cell(c, r, cid);
        int line = lt_csv_line(c, r);
        if (!id[0]) { s = lt_error(LT_ERR_FORMAT, "lt_mil_open: '%s' line %d: empty slide_id", csv_path, line); break; }
        lt_mil_src *src;
        lt_mil_bag_info *b = lt_mil_ds_add(ds, id, &src);
        if (!b) {
            s = lt_error(lt_last_status(), "lt_mil_open: '%s' line %d: %s", csv_path, line, lt_last_error());
            break;
        }
        labels[r] = lt_csv_cell(c, r, clab);
        size_t wl = strlen(csv_path) + strlen(id) + 64;
        if (!(where[r] = malloc(wl))) { s = lt_error(LT_ERR_OOM, "lt_mil_open: out of memory"); break; }
        snprintf(where[r], wl, "'%s' line %d (slide '%s')", csv_path, line, id);
        if (csp >= 0 && !parse_split(lt_csv_cell(c, r, csp), &b->split))
            s = lt_error(LT_ERR_FORMAT, "lt_mil_open: %s: split '%s' is not one of train, val, test (or empty)",
                         where[r], lt_csv_cell(c, r, csp));
    }
    if (s != LT_OK) goto done;
    {
        const char **ids = malloc(sizeof *ids * (size_t)rows);
        if (!ids) { s = lt_error(LT_ERR_OOM, "lt_mil_open: out of memory"); goto done; }
        for (int r = 0; r < rows; r++) ids[r] = ds->bags[r].id;
        int a, b;
        int dup = lt_mil_find_duplicate(ids, rows, &a, &b);
        free(ids);
        if (dup) {
            s = lt_error(LT_ERR_FORMAT, "lt_mil_open: slide table '%s' lists slide '%s' twice (lines %d and %d)",
                         csv_path, ds->bags[a].id, lt_csv_line(c, a), lt_csv_line(c, b));
            goto done;
        }
    }
    if ((s = lt_mil_map_labels(ds, labels, (const char *const *)where)) != LT_OK) goto done;
    for (int r = 0; r < rows && s == LT_OK; r++) {
        ds->src[r].file = slide_file(ds->dir, ds->bags[r].id);
        if (!ds->src[r].file) {
            s = lt_error(LT_ERR_IO, "lt_mil_open: %s: the feature file '%s/%s.h5' does not exist", where[r], ds->dir,
                         ds->bags[r].id);
            break;
        }
        s = check_file(ds, r, where[r]);
    }
    if (s != LT_OK) goto done;
    ds->n_ignored = count_ignored(ds, &n_h5);
    if (ds->n_ignored < 0) ds->n_ignored = 0;
    s = lt_mil_ds_finish(ds, csv_path, 1);
done:
    if (where)
        for (int r = 0; r < rows; r++) free(where[r]);
    free(where);
    free(labels);
    lt_csv_free(c);
    return s;
}
