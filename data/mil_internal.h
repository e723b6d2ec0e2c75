// Shared between the data/mil*.c files; not part of the public API.
#ifndef LT_DATA_MIL_INTERNAL_H
#define LT_DATA_MIL_INTERNAL_H

#include "data/h5.h"
#include "data/mil.h"

#define LT_MIL_PACKED_FORMAT "libtrain-mil"
#define LT_MIL_PACKED_VERSION 1

typedef struct {
    char *file;         // CLAM: this slide's .h5 file
    const char *key;    // AEM: the features dataset in the slide's group ("feat" or "features")
    int64_t row0;       // packed: first row of the bag in `features`
    lt_h5_type ftype;   // stored feature type
    int coords;         // 0: none stored, 1: integer, 2: floating point
} lt_mil_src;

struct lt_mil_dataset {
    lt_mil_layout layout;
    char *path;              // folder or file, as given
    char *dir;               // CLAM: the folder holding the .h5 files
    char *csv;               // CLAM: the slide table
    int n, cap, dim, n_classes;
    char **class_names;      // [n_classes]
    lt_mil_bag_info *bags;   // [n]
    lt_mil_src *src;         // [n]
    int64_t max_n;
    int n_ignored;           // CLAM: .h5 files without a CSV row
    lt_h5 *h5;               // AEM, packed: the file; CLAM: the file of bag h5_bag (kept for row-block reads)
    int h5_bag;
};

// All HDF5 use by the MIL code runs under this lock: the HDF5 build is serial,
// and a loader thread reads while the caller may read another dataset.
void lt_mil_lock(void);
void lt_mil_unlock(void);

lt_mil_dataset *lt_mil_ds_new(lt_mil_layout layout, const char *path);
void lt_mil_ds_free(lt_mil_dataset *ds);   // the index only; the caller closes ds->h5
// Appends a bag; NULL when out of memory (error recorded).
lt_mil_bag_info *lt_mil_ds_add(lt_mil_dataset *ds, const char *id, lt_mil_src **src);
// After a reader filled the bags: dims, sizes, labels, duplicate ids. `file` names
// the source for messages (NULL: each bag's own file).
lt_status lt_mil_ds_finish(lt_mil_dataset *ds, const char *file, int infer_classes);
// Labels given as strings (CSV cells, string attributes): all integers, or all
// class names (sorted alphabetically). where[i] says where label i came from.
lt_status lt_mil_map_labels(lt_mil_dataset *ds, const char *const *labels, const char *const *where);
lt_status lt_mil_set_class_names(lt_mil_dataset *ds, int n_classes, const char *const *names);

// Layout readers (the lock is held).
lt_status lt_mil_open_clam(lt_mil_dataset *ds, const char *csv);
lt_status lt_mil_open_aem(lt_mil_dataset *ds);
lt_status lt_mil_open_packed(lt_mil_dataset *ds);

// Reads rows [r0, r0+nr) of bag i (the lock is held); checks they are finite.
lt_status lt_mil_read_rows(lt_mil_dataset *ds, int i, int64_t r0, int64_t nr, float *feat, int32_t *coords);
// The file bag i lives in.
const char *lt_mil_file_of(const lt_mil_dataset *ds, int i);

// IEEE half precision, round to nearest even.
float lt_mil_f16_to_f32(uint16_t h);
uint16_t lt_mil_f32_to_f16(float f);

// Sorts ids[order] and returns 1 with *a, *b set to two positions holding the same id.
int lt_mil_find_duplicate(const char *const *ids, int n, int *a, int *b);

// Checks bag `b`'s datasets in the open file f: `feat` (N, D) floating point with
// N >= 1 and D equal to the other bags', `coords` (N, 2) integer or float if
// present; fills b->n and the source's types. `file` and the slide id name it in
// errors. *missing = 1 when the features dataset is absent.
lt_status lt_mil_check_bag(lt_mil_dataset *ds, int b, lt_h5 *f, const char *feat, const char *coords,
                           const char *file, int *missing);

// ---- raw HDF5 (for what data/h5.h does not offer: listings, string datasets) ----
// Members of `group` in the file at `path`, opened read-only on its own (the
// caller must not hold it open through data/h5.h meanwhile). kinds[i]: 'g'
// group, 'd' dataset, 'o' other. Free with lt_mil_free_strs.
lt_status lt_mil_h5_members(const char *path, const char *group, char ***names, char **kinds, int *n);
void lt_mil_free_strs(char **s, int n);
// "a, b, c" (at most `cap` bytes) from the members of `group` of kind `kind` (0: any).
void lt_mil_members_str(const char *path, const char *group, char kind, char *buf, size_t cap);
// A 1-D string dataset or (attr != NULL) a string attribute on `dset` into
// n_out malloc'd strings; fixed or variable length.
lt_status lt_mil_h5_read_strings(const char *path, const char *obj, const char *attr, char ***out, int *n_out);
// Writes a 1-D fixed-length string dataset (attr == NULL) or an attribute on
// `obj` into the file being written by `f` (lt_h5_create).
lt_status lt_mil_h5_write_strings(lt_h5 *f, const char *obj, const char *attr, const char *const *s, int n);

#endif
