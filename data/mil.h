// Multiple-instance-learning bags from the layouts users already have:
//   LT_MIL_CLAM    a folder of <slide_id>.h5 (CLAM/TRIDENT: `features` (N,D) f32/f16,
//                  `coords` (N,2)) plus a CSV `slide_id,label[,split]` (case_id and
//                  other columns tolerated; label may be an integer or a class name)
//   LT_MIL_AEM     one HDF5 file, one group per slide: `feat` (N,D) f16/f32, `coords`,
//                  an integer (or class-name string) `label` attribute
//   LT_MIL_PACKED  libtrain's own file: all bags in one contiguous `features`
//                  [sum N, D] f16/f32 dataset with `offsets` [n_bags+1] int64,
//                  `labels` int32, `splits` int8, `slide_ids` fixed-length strings,
//                  `coords` int32; root attributes format = "libtrain-mil", version,
//                  n_classes, dim, class_names (layout in data/mil_packed.c)
// Opening indexes the bags (ids, labels, sizes) without reading features; features
// are read one bag at a time, so a dataset larger than RAM works.
#ifndef LT_DATA_MIL_H
#define LT_DATA_MIL_H

#include <stddef.h>
#include <stdint.h>

#include "libtrain/status.h"

typedef enum { LT_MIL_AUTO, LT_MIL_CLAM, LT_MIL_AEM, LT_MIL_PACKED } lt_mil_layout;

typedef enum { LT_SPLIT_NONE = -1, LT_SPLIT_TRAIN = 0, LT_SPLIT_VAL = 1, LT_SPLIT_TEST = 2 } lt_mil_split_kind;

typedef struct {
    char id[128];      // slide id
    int label;         // class index in [0, n_classes)
    int64_t n;         // instances
    lt_mil_split_kind split;   // from the CSV's split column, else LT_SPLIT_NONE
} lt_mil_bag_info;

typedef struct lt_mil_dataset lt_mil_dataset;

// path: the CLAM feature folder (or its h5_files/ subfolder), the AEM file or the
// packed file; csv: required for CLAM, ignored otherwise. LT_MIL_AUTO picks the
// layout from what path is. Every problem that can be seen from the index (missing
// file or folder, missing dataset, feature dims differing between bags, empty bag,
// label missing or out of range, duplicate slide ids, unreadable/truncated HDF5) is
// an error naming the file and the slide.
// Labels: all integers (classes 0..C-1, C = max + 1, every class present: a gap,
// as with 1-based labels, is an error) or all class names (indices in sorted
// order). `coords` is optional in every layout (zeros when absent).
lt_status lt_mil_open(const char *path, const char *csv, lt_mil_layout layout, lt_mil_dataset **out);
void lt_mil_close(lt_mil_dataset *ds);   // close its loaders first

int lt_mil_count(const lt_mil_dataset *ds);
int lt_mil_dim(const lt_mil_dataset *ds);
int lt_mil_n_classes(const lt_mil_dataset *ds);
const char *lt_mil_class_name(const lt_mil_dataset *ds, int c);   // "0", "1", ... when unnamed
const lt_mil_bag_info *lt_mil_bag(const lt_mil_dataset *ds, int i);
lt_mil_layout lt_mil_layout_of(const lt_mil_dataset *ds);
int64_t lt_mil_max_instances(const lt_mil_dataset *ds);
// CLAM: .h5 files in the folder that no CSV row names (not used; the CSV decides
// which slides take part). 0 for the other layouts.
int lt_mil_ignored_files(const lt_mil_dataset *ds);
// The file bag i is read from (its own .h5 for CLAM, else the dataset file).
const char *lt_mil_bag_file(const lt_mil_dataset *ds, int i);

// Reads bag i: feat [n, D] as f32 (f16 converted), coords [n, 2] (may be NULL;
// zeros when the layout has none). NaN or Inf features are an error naming file and slide.
lt_status lt_mil_read(lt_mil_dataset *ds, int i, float *feat, int32_t *coords);
// Reads every bag once (NaN/Inf, truncation): what a training run does before its first step.
lt_status lt_mil_validate(lt_mil_dataset *ds);

// Writes bags to the packed layout (importers, generators): create, append bags, commit.
// Bags stream to scratch files beside `path` (larger than RAM is fine). add checks
// the bag (label range, N >= 1, finite, within the float16 range when f16) and
// leaves the writer usable when it refuses one; commit refuses duplicate ids.
typedef struct lt_mil_writer lt_mil_writer;
lt_status lt_mil_writer_open(const char *path, int dim, int n_classes, const char *const *class_names,
                             int f16, lt_mil_writer **out);
lt_status lt_mil_writer_add(lt_mil_writer *w, const char *id, int label, lt_mil_split_kind split, int64_t n,
                            const float *feat /* [n, dim] */, const int32_t *coords /* [n, 2] or NULL */);
lt_status lt_mil_writer_commit(lt_mil_writer *w);   // atomic: the file appears complete or not at all
void lt_mil_writer_abort(lt_mil_writer *w);
// Converts any readable layout into the packed one.
lt_status lt_mil_import(lt_mil_dataset *src, const char *dst_path, int f16);

// Splits bag indices. If the dataset carries splits (CSV split column, packed
// `splits`) and k_folds == 0, they are used; otherwise bags are split by seed,
// stratified by label: round(test_frac * n_c) of class c's bags to test,
// round(val_frac * n_c) to val, the rest to train. With k_folds > 1, fold f
// (0-based) is the test set (test_frac is ignored) and val_frac of the rest, per
// class, is val; folds are dealt per class from one shuffle, so the k test sets
// partition the bags. Lists are ascending. A bag without a split while others
// have one is an error.
typedef struct { int32_t *idx; int n; } lt_index_list;
lt_status lt_mil_split(const lt_mil_dataset *ds, uint64_t seed, float val_frac, float test_frac, int k_folds,
                       int fold, lt_index_list *train, lt_index_list *val, lt_index_list *test);
void lt_index_list_free(lt_index_list *l);

// Background prefetch: a thread reads the next bags while the caller trains.
// The HDF5 build is serial: the MIL functions serialize their HDF5 use on one
// lock, but other HDF5 use (data/h5.h) must not run while a loader is open.
// subsample in (0,1]: keep a random int(r*N) instances (>= 1) of each bag, in file
// order, drawn from the Philox stream (seed, counter = position in order << 32),
// as AEM's --subsampling; pass a different seed each epoch for fresh subsets.
// Buffers for depth + 1 bags of the largest size are allocated at open.
typedef struct lt_mil_loader lt_mil_loader;
typedef struct {
    int bag;              // index in the dataset
    int64_t n;            // instances after subsampling
    int dim, label;
    float *feat;          // [n, dim], valid until the next lt_mil_loader_next
    int32_t *coords;      // [n, 2]
} lt_mil_item;
lt_status lt_mil_loader_open(lt_mil_dataset *ds, const int32_t *order, int n, int depth, float subsample,
                             uint64_t seed, lt_mil_loader **out);
// Next item in order: *has_item = 0 after the last one. Errors from the reader
// thread (file vanished, NaN found) come back here, naming file and slide.
lt_status lt_mil_loader_next(lt_mil_loader *ld, lt_mil_item *item, int *has_item);
void lt_mil_loader_close(lt_mil_loader *ld);

#endif
