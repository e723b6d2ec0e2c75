// What data/h5.h does not offer, on the raw HDF5 API: group listings and
// string datasets/attributes. Callers hold lt_mil_lock.
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/mil_internal.h"

static void quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

// Read-only, with the same access properties as lt_h5_open: HDF5 refuses a
// second open of a file whose close degree differs from the first.
static hid_t raw_open(const char *path) {
    quiet();
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
#if H5_VERSION_GE(1, 10, 7)
    H5Pset_file_locking(fapl, 1, 1);
#endif
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    return f;
}

void lt_mil_free_strs(char **s, int n) {
    if (!s) return;
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

typedef struct {
    char **names;
    char *kinds;
    int n, cap, oom;
} member_list;

static herr_t member_cb(hid_t g, const char *name, const H5L_info_t *info, void *ud) {
    member_list *m = ud;
    if (m->n == m->cap) {
        int cap = m->cap ? 2 * m->cap : 64;
        char **nn = realloc(m->names, sizeof *nn * (size_t)cap);
        if (nn) m->names = nn;
        char *kk = realloc(m->kinds, (size_t)cap);
        if (kk) m->kinds = kk;
        if (!nn || !kk) { m->oom = 1; return -1; }
        m->cap = cap;
    }
    char kind = 'o';
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    if (o >= 0) {
        H5I_type_t t = H5Iget_type(o);
        kind = t == H5I_GROUP ? 'g' : t == H5I_DATASET ? 'd' : 'o';
        H5Oclose(o);
    }
    size_t len = strlen(name) + 1;
    char *copy = malloc(len);
    if (!copy) { m->oom = 1; return -1; }
    memcpy(copy, name, len);
    m->names[m->n] = copy;
    m->kinds[m->n] = kind;
    m->n++;
    return 0;
}

lt_status lt_mil_h5_members(const char *path, const char *group, char ***names, char **kinds, int *n) {
    *names = NULL;
    *kinds = NULL;
    *n = 0;
    hid_t f = raw_open(path);
    if (f < 0) return lt_error(LT_ERR_FORMAT, "lt_mil_open: cannot open '%s' as HDF5", path);
    const char *gname = group && group[0] ? group : "/";
    hid_t g = H5Gopen2(f, gname, H5P_DEFAULT);
    if (g < 0) {
        H5Fclose(f);
        return lt_error(LT_ERR_FORMAT, "lt_mil_open: '%s' has no group '%s'", path, gname);
    }
    member_list m = {0};
    herr_t e = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, member_cb, &m);
    H5Gclose(g);
    H5Fclose(f);
    if (e < 0) {
        lt_mil_free_strs(m.names, m.n);
        free(m.kinds);
        return m.oom ? lt_error(LT_ERR_OOM, "lt_mil_open: out of memory listing '%s'", path)
                     : lt_error(LT_ERR_FORMAT, "lt_mil_open: cannot list group '%s' in '%s' (damaged file?)", gname,
                                path);
    }
    *names = m.names;
    *kinds = m.kinds;
    *n = m.n;
    return LT_OK;
}

void lt_mil_members_str(const char *path, const char *group, char kind, char *buf, size_t cap) {
    char **names, *kinds;
    int n;
    buf[0] = 0;
    if (lt_mil_h5_members(path, group, &names, &kinds, &n) != LT_OK) {
        snprintf(buf, cap, "(unreadable)");
        return;
    }
    size_t k = 0;
    int shown = 0;
    for (int i = 0; i < n && k + 8 < cap; i++) {
        if (kind && kinds[i] != kind) continue;
        int w = snprintf(buf + k, cap - k, "%s%s", shown ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= cap - k) { snprintf(buf + k, cap - k, ", ..."); break; }
        k += (size_t)w;
        shown++;
    }
    if (!shown) snprintf(buf, cap, "nothing");
    lt_mil_free_strs(names, n);
    free(kinds);
}

// Copies n fixed-length strings of `width` bytes (NUL- or space-padded) into malloc'd strings.
static int copy_fixed(const char *raw, int n, size_t width, H5T_str_t pad, char **out) {
    for (int i = 0; i < n; i++) {
        const char *s = raw + (size_t)i * width;
        size_t len = 0;
        while (len < width && s[len]) len++;
        if (pad == H5T_STR_SPACEPAD)
            while (len > 0 && s[len - 1] == ' ') len--;
        if (!(out[i] = malloc(len + 1))) return 0;
        memcpy(out[i], s, len);
        out[i][len] = 0;
    }
    return 1;
}

lt_status lt_mil_h5_read_strings(const char *path, const char *obj, const char *attr, char ***out, int *n_out) {
    *out = NULL;
    *n_out = 0;
    hid_t f = raw_open(path);
    if (f < 0) return lt_error(LT_ERR_FORMAT, "lt_mil_open: cannot open '%s' as HDF5", path);
    const char *what = attr ? attr : obj;
    char label[160];
    snprintf(label, sizeof label, attr ? "attribute '%s' on '%s'" : "dataset '%s'%.0s", what, obj);
    hid_t h = -1, ft = -1, sp = -1, mt = -1;
    char **strs = NULL;
    int n = 0;
    lt_status s = LT_OK;
    if (attr) {
        if (H5Aexists_by_name(f, obj, attr, H5P_DEFAULT) > 0)
            h = H5Aopen_by_name(f, obj, attr, H5P_DEFAULT, H5P_DEFAULT);
    } else if (H5Lexists(f, obj, H5P_DEFAULT) > 0) {
        h = H5Dopen2(f, obj, H5P_DEFAULT);
    }
    if (h < 0) { s = lt_error(LT_ERR_FORMAT, "lt_mil_open: '%s' has no %s", path, label); goto done; }
    ft = attr ? H5Aget_type(h) : H5Dget_type(h);
    sp = attr ? H5Aget_space(h) : H5Dget_space(h);
    int rank = H5Sget_simple_extent_ndims(sp);
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    if (H5Tget_class(ft) != H5T_STRING || rank > 1 || np < 0 || np > (1 << 30)) {
        s = lt_error(LT_ERR_FORMAT, "lt_mil_open: %s in '%s' is not a list of strings", label, path);
        goto done;
    }
    n = (int)np;
    strs = calloc((size_t)(n > 0 ? n : 1), sizeof *strs);
    if (!strs) { s = lt_error(LT_ERR_OOM, "lt_mil_open: out of memory reading %s in '%s'", label, path); goto done; }
    mt = H5Tcopy(H5T_C_S1);
    herr_t e = -1;
    if (H5Tis_variable_str(ft) > 0) {
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char **raw = calloc((size_t)(n ? n : 1), sizeof *raw);
        if (!raw) { s = lt_error(LT_ERR_OOM, "lt_mil_open: out of memory"); goto done; }
        e = attr ? H5Aread(h, mt, raw) : H5Dread(h, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw);
        if (e >= 0) {
            for (int i = 0; i < n && s == LT_OK; i++) {
                const char *v = raw[i] ? raw[i] : "";
                if (!(strs[i] = malloc(strlen(v) + 1))) s = lt_error(LT_ERR_OOM, "lt_mil_open: out of memory");
                else strcpy(strs[i], v);
            }
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, raw);
        }
        free(raw);
    } else {
        size_t width = H5Tget_size(ft);
        H5Tset_size(mt, width);
        H5Tset_strpad(mt, H5Tget_strpad(ft));
        H5Tset_cset(mt, H5Tget_cset(ft));
        char *raw = malloc(width * (size_t)(n ? n : 1));
        if (!raw) { s = lt_error(LT_ERR_OOM, "lt_mil_open: out of memory"); goto done; }
        e = attr ? H5Aread(h, mt, raw) : H5Dread(h, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw);
        if (e >= 0 && !copy_fixed(raw, n, width, H5Tget_strpad(ft), strs))
            s = lt_error(LT_ERR_OOM, "lt_mil_open: out of memory");
        free(raw);
    }
    if (s == LT_OK && e < 0)
        s = lt_error(LT_ERR_IO, "lt_mil_open: reading %s in '%s' failed (damaged file?)", label, path);
done:
    if (mt >= 0) H5Tclose(mt);
    if (sp >= 0) H5Sclose(sp);
    if (ft >= 0) H5Tclose(ft);
    if (h >= 0) { if (attr) H5Aclose(h); else H5Dclose(h); }
    H5Fclose(f);
    if (s != LT_OK) {
        lt_mil_free_strs(strs, n);
        return s;
    }
    *out = strs;
    *n_out = n;
    return LT_OK;
}

// The HDF5 id of the file that lt_h5_create is writing for `f`: the open file
// named "<final path>.tmp.<pid>.*" (data/h5.h has no accessor for it).
static hid_t writing_file_id(lt_h5 *f) {
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s.tmp.%ld.", lt_h5_path(f), (long)getpid());
    size_t plen = strlen(prefix);
    ssize_t n = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_FILE);
    if (n <= 0) return -1;
    hid_t *ids = malloc(sizeof *ids * (size_t)n), found = -1;
    if (!ids) return -1;
    n = H5Fget_obj_ids(H5F_OBJ_ALL, H5F_OBJ_FILE, (size_t)n, ids);
    int matches = 0;
    for (ssize_t i = 0; i < n; i++) {
        char name[4200];
        unsigned intent = 0;
        if (H5Fget_name(ids[i], name, sizeof name) < 0 || H5Fget_intent(ids[i], &intent) < 0) continue;
        if (strncmp(name, prefix, plen) == 0 && (intent & H5F_ACC_RDWR)) { found = ids[i]; matches++; }
    }
    free(ids);
    return matches == 1 ? found : -1;
}

lt_status lt_mil_h5_write_strings(lt_h5 *f, const char *obj, const char *attr, const char *const *s, int n) {
    quiet();
    const char *path = lt_h5_path(f);
    hid_t fid = writing_file_id(f);
    if (fid < 0)
        return lt_error(LT_ERR_STATE, "lt_mil_writer: cannot find the HDF5 file being written for '%s'", path);
    size_t width = 1;
    for (int i = 0; i < n; i++)
        if (strlen(s[i]) + 1 > width) width = strlen(s[i]) + 1;
    char *buf = calloc((size_t)(n > 0 ? n : 1), width);
    if (!buf) return lt_error(LT_ERR_OOM, "lt_mil_writer: out of memory");
    for (int i = 0; i < n; i++) memcpy(buf + (size_t)i * width, s[i], strlen(s[i]));
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, width);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hsize_t dim = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &dim, NULL), h = -1, o = -1;
    herr_t e = -1;
    if (attr) {
        o = H5Oopen(fid, obj, H5P_DEFAULT);
        if (o >= 0) h = H5Acreate2(o, attr, t, sp, H5P_DEFAULT, H5P_DEFAULT);
        if (h >= 0) { e = H5Awrite(h, t, buf); H5Aclose(h); }
        if (o >= 0) H5Oclose(o);
    } else {
        h = H5Dcreate2(fid, obj, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (h >= 0) { e = n ? H5Dwrite(h, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) : 0; H5Dclose(h); }
    }
    H5Sclose(sp);
    H5Tclose(t);
    free(buf);
    if (e < 0)
        return lt_error(LT_ERR_IO, "lt_mil_writer: cannot write %s '%s' in '%s'", attr ? "attribute" : "dataset",
                        attr ? attr : obj, path);
    return LT_OK;
}
