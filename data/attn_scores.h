// Per-bag attention scores for heatmaps, in one HDF5 file written atomically
// at commit (nothing appears under `path` before it). Layout:
//   /                 attributes format = "libtrain-attention-scores", version = 1,
//                     n_classes, heads, n_slides
//   /<slide_id>/attention   [heads, N] float32, softmax over the bag's N instances
//   /<slide_id>/coords      [N, 2] int32, the bag's own coordinates, row-aligned
//                           (zeros when the data has none)
//   /<slide_id> attributes  label (int), prediction (int: argmax of the
//                           probabilities, first maximum wins), probabilities
//                           (string "p0,p1,..." in %.9g, each reads back as the
//                           exact float32)
// In Python: f[slide]["attention"][0], f[slide]["coords"][:],
// [float(x) for x in f[slide].attrs["probabilities"].split(",")].
// All HDF5 calls hold lt_h5_lock, so a loader may read in the background.
#ifndef LT_DATA_ATTN_SCORES_H
#define LT_DATA_ATTN_SCORES_H

#include <stdint.h>

#include "libtrain/status.h"

typedef struct lt_attn_scores_writer lt_attn_scores_writer;

lt_status lt_attn_scores_open(const char *path, lt_attn_scores_writer **out);
// An empty slide id, ".", one holding '/', an id written twice, or a class or
// head count differing from the first slide's is an error naming the file and slide.
lt_status lt_attn_scores_add(lt_attn_scores_writer *w, const char *slide_id, int label, const float *prob /* [C] */,
                             int C, int heads, int64_t n, const float *attn /* [heads, n] */,
                             const int32_t *coords /* [n, 2] or NULL */);
lt_status lt_attn_scores_commit(lt_attn_scores_writer *w);   // frees w
void lt_attn_scores_abort(lt_attn_scores_writer *w);         // frees w, leaves no file

// One slide read back (tests, tools). Arrays are malloc'd; free with lt_attn_scores_bag_free.
typedef struct {
    int label, prediction, n_classes, heads;
    int64_t n;
    float *prob;      // [n_classes]
    float *attn;      // [heads, n]
    int32_t *coords;  // [n, 2]
} lt_attn_scores_bag;

// Reads slide `slide_id` of a committed file; errors name the file and slide.
lt_status lt_attn_scores_read(const char *path, const char *slide_id, lt_attn_scores_bag *out);
void lt_attn_scores_bag_free(lt_attn_scores_bag *b);

#endif
