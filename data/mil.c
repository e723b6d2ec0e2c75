// The MIL dataset index: opening (layout detection), accessors, per-bag reads.
#include "data/mil.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef __F16C__
#include <immintrin.h>
#endif

#include "data/h5.h"
#include "data/mil_internal.h"

// The MIL code's HDF5 calls share the process-wide HDF5 lock with every other user.
void lt_mil_lock(void) { lt_h5_lock(); }
void lt_mil_unlock(void) { lt_h5_unlock(); }

static const char *layout_name(lt_mil_layout l) {
    switch (l) {
    case LT_MIL_CLAM: return "CLAM";
    case LT_MIL_AEM: return "AEM";
    case LT_MIL_PACKED: return "packed";
    default: return "auto";
    }
}

// ---- half precision ----

float lt_mil_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp == 0) {
        if (!man) {
            bits = sign;
        } else {   // subnormal: normalise
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t lt_mil_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0);   // Inf / NaN
    if (ax >= 0x477ff000u) return sign | 0x7c00;                                      // rounds past 65504
    if (ax < 0x38800000u) {                                                           // subnormal or zero
        if (ax < 0x33000000u) return sign;
        uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
        int shift = (int)(126 - e);   // 14 + (113 - e) - 1 bits drop to reach the subnormal grid
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return sign | (uint16_t)q;
    }
    uint32_t q = ((ax >> 13) - (112u << 10)), rem = ax & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (q & 1))) q++;
    return sign | (uint16_t)q;
}

// ---- open / close ----

// Which layout the HDF5 file at `path` holds. Errors name the file.
static lt_status detect_file(const char *path, lt_mil_layout *layout) {
    lt_h5 *f;
    if (lt_h5_open(path, &f) != LT_OK) return lt_error(lt_last_status(), "lt_mil_open: %s", lt_last_error());
    char fmt[64] = "";
    if (lt_h5_has_attr(f, "/", "format")) lt_h5_attr_read_str(f, "/", "format", fmt, sizeof fmt);
    int packed = strcmp(fmt, LT_MIL_PACKED_FORMAT) == 0 ||
                 (lt_h5_has_dataset(f, "offsets") && lt_h5_has_dataset(f, "features"));
    int single = !packed && lt_h5_has_dataset(f, "features");
    lt_h5_close(f);
    if (packed) { *layout = LT_MIL_PACKED; return LT_OK; }
    if (single)
        return lt_error(LT_ERR_ARG,
                        "lt_mil_open: '%s' is a single CLAM/TRIDENT slide file (dataset 'features' at the root): pass "
                        "the folder of slide files and the CSV of slide_id,label",
                        path);
    *layout = LT_MIL_AEM;
    return LT_OK;
}

lt_status lt_mil_open(const char *path, const char *csv, lt_mil_layout layout, lt_mil_dataset **out) {
    *out = NULL;
    if (!path || !path[0]) return lt_error(LT_ERR_ARG, "lt_mil_open: empty data path");
    struct stat st;
    if (stat(path, &st) != 0)
        return lt_error(LT_ERR_IO, "lt_mil_open: '%s' does not exist (%s); expected a CLAM/TRIDENT feature folder, an "
                        "AEM .h5 file or a packed libtrain file", path, strerror(errno));
    int dir = S_ISDIR(st.st_mode);
    if (layout == LT_MIL_CLAM && !dir)
        return lt_error(LT_ERR_ARG, "lt_mil_open: the CLAM layout needs a folder of <slide_id>.h5 files; '%s' is not "
                        "a folder", path);
    if ((layout == LT_MIL_AEM || layout == LT_MIL_PACKED) && dir)
        return lt_error(LT_ERR_ARG, "lt_mil_open: the %s layout is one .h5 file; '%s' is a folder",
                        layout_name(layout), path);
    if (layout != LT_MIL_AUTO && layout != LT_MIL_CLAM && layout != LT_MIL_AEM && layout != LT_MIL_PACKED)
        return lt_error(LT_ERR_ARG, "lt_mil_open: unknown layout %d", (int)layout);
    lt_mil_lock();
    lt_status s = LT_OK;
    if (layout == LT_MIL_AUTO) {
        if (dir) layout = LT_MIL_CLAM;
        else s = detect_file(path, &layout);
    }
    if (s == LT_OK && layout == LT_MIL_CLAM && (!csv || !csv[0]))
        s = lt_error(LT_ERR_ARG, "lt_mil_open: '%s' is a CLAM/TRIDENT feature folder: it needs the slide CSV "
                     "(columns slide_id,label[,split])", path);
    lt_mil_dataset *ds = NULL;
    if (s == LT_OK && !(ds = lt_mil_ds_new(layout, path))) s = lt_last_status();
    if (s == LT_OK) {
        if (layout == LT_MIL_CLAM) s = lt_mil_open_clam(ds, csv);
        else if (layout == LT_MIL_AEM) s = lt_mil_open_aem(ds);
        else s = lt_mil_open_packed(ds);
    }
    lt_mil_unlock();
    if (s != LT_OK) {
        lt_mil_close(ds);
        return s;
    }
    *out = ds;
    return LT_OK;
}

void lt_mil_close(lt_mil_dataset *ds) {
    if (!ds) return;
    lt_mil_lock();
    lt_h5_close(ds->h5);
    ds->h5 = NULL;
    lt_mil_unlock();
    lt_mil_ds_free(ds);
}

// ---- accessors ----

int lt_mil_count(const lt_mil_dataset *ds) { return ds ? ds->n : 0; }
int lt_mil_dim(const lt_mil_dataset *ds) { return ds ? ds->dim : 0; }
int lt_mil_n_classes(const lt_mil_dataset *ds) { return ds ? ds->n_classes : 0; }
const char *lt_mil_class_name(const lt_mil_dataset *ds, int c) {
    return (ds && c >= 0 && c < ds->n_classes) ? ds->class_names[c] : NULL;
}
const lt_mil_bag_info *lt_mil_bag(const lt_mil_dataset *ds, int i) {
    return (ds && i >= 0 && i < ds->n) ? &ds->bags[i] : NULL;
}
lt_mil_layout lt_mil_layout_of(const lt_mil_dataset *ds) { return ds ? ds->layout : LT_MIL_AUTO; }
int64_t lt_mil_max_instances(const lt_mil_dataset *ds) { return ds ? ds->max_n : 0; }
int lt_mil_ignored_files(const lt_mil_dataset *ds) { return ds ? ds->n_ignored : 0; }
const char *lt_mil_bag_file(const lt_mil_dataset *ds, int i) {
    return (ds && i >= 0 && i < ds->n) ? lt_mil_file_of(ds, i) : NULL;
}

// ---- reading ----

// The file holding bag i, opened (CLAM: one slide file at a time, kept for the next block).
static lt_status bag_file(lt_mil_dataset *ds, int i, lt_h5 **f) {
    if (ds->layout != LT_MIL_CLAM) {
        if (!ds->h5) LT_TRY(lt_h5_open(ds->path, &ds->h5));
        *f = ds->h5;
        return LT_OK;
    }
    if (ds->h5_bag != i) {
        lt_h5_close(ds->h5);
        ds->h5 = NULL;
        ds->h5_bag = -1;
        LT_TRY(lt_h5_open(ds->src[i].file, &ds->h5));
        ds->h5_bag = i;
    }
    *f = ds->h5;
    return LT_OK;
}

static void dset_names(const lt_mil_dataset *ds, int i, char *feat, char *coords, size_t cap) {
    if (ds->layout == LT_MIL_AEM) {
        snprintf(feat, cap, "%s/%s", ds->bags[i].id, ds->src[i].key);
        snprintf(coords, cap, "%s/coords", ds->bags[i].id);
    } else {
        snprintf(feat, cap, "features");
        snprintf(coords, cap, "coords");
    }
}

// feat holds n halves in its first 2n bytes; widens them to n floats. Runs from
// the back: float k overwrites halves 2k and 2k+1, which are already done (k > 0).
static void widen_f16_in_place(float *feat, int64_t n) {
    const char *h = (const char *)feat;
    int64_t k = n;
#ifdef __F16C__
    for (; k % 8; k--) {
        uint16_t v;
        memcpy(&v, h + 2 * (k - 1), 2);
        feat[k - 1] = lt_mil_f16_to_f32(v);
    }
    for (k -= 8; k >= 0; k -= 8) {   // the 8 halves are loaded before their floats are stored
        __m128i v = _mm_loadu_si128((const __m128i *)(h + 2 * k));
        _mm256_storeu_ps(feat + k, _mm256_cvtph_ps(v));
    }
#else
    for (; k > 0; k--) {
        uint16_t v;
        memcpy(&v, h + 2 * (k - 1), 2);   // memcpy: the halves alias the floats being written
        feat[k - 1] = lt_mil_f16_to_f32(v);
    }
#endif
}

static lt_status read_rows(lt_mil_dataset *ds, int i, int64_t r0, int64_t nr, float *feat, int32_t *coords) {
    lt_h5 *f;
    LT_TRY(bag_file(ds, i, &f));
    const lt_mil_src *src = &ds->src[i];
    char fd[300], cd[300];
    dset_names(ds, i, fd, cd, sizeof fd);
    int64_t row = src->row0 + r0, numel = nr * ds->dim;
    if (src->ftype == LT_H5_F16) {
        // Read the halves into the front of feat and widen in place from the back.
        LT_TRY(lt_h5_read_rows(f, fd, LT_H5_F16, row, nr, feat));
        widen_f16_in_place(feat, numel);
    } else if (src->ftype == LT_H5_F32) {
        LT_TRY(lt_h5_read_rows(f, fd, LT_H5_F32, row, nr, feat));
    } else {
        LT_TRY(lt_h5_read_rows_f32(f, fd, row, nr, feat));
    }
    if (!coords) return LT_OK;
    if (src->coords == 0) {
        memset(coords, 0, sizeof *coords * 2 * (size_t)nr);
    } else if (src->coords == 1) {
        LT_TRY(lt_h5_read_rows_i32(f, cd, row, nr, coords));
    } else {
        LT_TRY(lt_h5_read_rows(f, cd, LT_H5_F32, row, nr, coords));
        for (int64_t k = 0; k < 2 * nr; k++) {
            float v;
            memcpy(&v, &coords[k], 4);
            coords[k] = isfinite(v) ? (int32_t)lrintf(v) : 0;
        }
    }
    return LT_OK;
}

lt_status lt_mil_read_rows(lt_mil_dataset *ds, int i, int64_t r0, int64_t nr, float *feat, int32_t *coords) {
    const lt_mil_bag_info *b = &ds->bags[i];
    if (read_rows(ds, i, r0, nr, feat, coords) != LT_OK) {
        if (ds->layout == LT_MIL_CLAM) {   // do not keep a file that failed
            lt_h5_close(ds->h5);
            ds->h5 = NULL;
            ds->h5_bag = -1;
        }
        return lt_error(lt_last_status(), "lt_mil_read: slide '%s' (bag %d): %s", b->id, i, lt_last_error());
    }
    int64_t numel = nr * ds->dim;
    for (int64_t k = 0; k < numel; k++) {
        if (isfinite(feat[k])) continue;
        return lt_error(LT_ERR_NONFINITE, "lt_mil_read: slide '%s' (bag %d) in '%s': feature [%lld, %lld] is %s", b->id,
                        i, lt_mil_file_of(ds, i), (long long)(r0 + k / ds->dim), (long long)(k % ds->dim),
                        isnan(feat[k]) ? "NaN" : (feat[k] > 0 ? "+Inf" : "-Inf"));
    }
    return LT_OK;
}

lt_status lt_mil_read(lt_mil_dataset *ds, int i, float *feat, int32_t *coords) {
    if (!ds || !feat) return lt_error(LT_ERR_ARG, "lt_mil_read: no dataset or no output buffer");
    if (i < 0 || i >= ds->n) return lt_error(LT_ERR_ARG, "lt_mil_read: bag %d out of range 0..%d", i, ds->n - 1);
    lt_mil_lock();
    lt_status s = lt_mil_read_rows(ds, i, 0, ds->bags[i].n, feat, coords);
    lt_mil_unlock();
    return s;
}

lt_status lt_mil_validate(lt_mil_dataset *ds) {
    if (!ds) return lt_error(LT_ERR_ARG, "lt_mil_validate: no dataset");
    // Blocks of about 8 MiB, so a bag larger than RAM is still checked.
    int64_t rows = ((int64_t)8 << 20) / ((int64_t)ds->dim * 4);
    if (rows < 1) rows = 1;
    if (rows > ds->max_n) rows = ds->max_n;
    float *feat = malloc(sizeof *feat * (size_t)(rows * ds->dim));
    int32_t *coords = malloc(sizeof *coords * 2 * (size_t)rows);
    lt_status s = LT_OK;
    if (!feat || !coords) s = lt_error(LT_ERR_OOM, "lt_mil_validate: out of memory (%lld rows of %d)", (long long)rows,
                                       ds->dim);
    for (int i = 0; i < ds->n && s == LT_OK; i++) {
        lt_mil_lock();
        for (int64_t r = 0; r < ds->bags[i].n && s == LT_OK; r += rows) {
            int64_t nr = ds->bags[i].n - r < rows ? ds->bags[i].n - r : rows;
            s = lt_mil_read_rows(ds, i, r, nr, feat, coords);
        }
        lt_mil_unlock();
    }
    free(feat);
    free(coords);
    return s;
}
