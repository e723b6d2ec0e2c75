// Train/val/test splits: carried by the data (CSV column, packed `splits`), or
// drawn by seed stratified by label, or k-fold.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/mil_internal.h"
#include "libtrain/rng.h"

void lt_index_list_free(lt_index_list *l) {
    if (!l) return;
    free(l->idx);
    l->idx = NULL;
    l->n = 0;
}

// The bags with part[i] == want, ascending.
static lt_status collect(const int8_t *part, int n, int want, lt_index_list *out) {
    out->idx = malloc(sizeof *out->idx * (size_t)(n ? n : 1));
    out->n = 0;
    if (!out->idx) return lt_error(LT_ERR_OOM, "lt_mil_split: out of memory");
    for (int i = 0; i < n; i++)
        if (part[i] == want) out->idx[out->n++] = i;
    return LT_OK;
}

// Assigns part[] for the seeded split: per class, shuffled, test first then val.
static void assign(const lt_mil_dataset *ds, lt_rng *rng, int32_t *members, float val_frac, float test_frac,
                   int k_folds, int fold, int8_t *part) {
    int n = ds->n, start = 0;
    for (int c = 0; c < ds->n_classes; c++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (ds->bags[i].label == c) members[m++] = i;
        lt_rng_shuffle(rng, members, m);
        if (k_folds > 1) {
            // Class c's bags are dealt round the folds, continuing where the previous class stopped.
            int rest = 0;
            for (int j = 0; j < m; j++) {
                if ((start + j) % k_folds == fold) part[members[j]] = LT_SPLIT_TEST;
                else members[rest++] = members[j];
            }
            start = (start + m) % k_folds;
            int n_val = (int)lround((double)val_frac * rest);
            for (int j = 0; j < rest; j++) part[members[j]] = j < n_val ? LT_SPLIT_VAL : LT_SPLIT_TRAIN;
        } else {
            int n_test = (int)lround((double)test_frac * m), n_val = (int)lround((double)val_frac * m);
            if (n_test + n_val > m) n_val = m - n_test;
            for (int j = 0; j < m; j++)
                part[members[j]] = j < n_test ? LT_SPLIT_TEST : j < n_test + n_val ? LT_SPLIT_VAL : LT_SPLIT_TRAIN;
        }
    }
}

lt_status lt_mil_split(const lt_mil_dataset *ds, uint64_t seed, float val_frac, float test_frac, int k_folds,
                       int fold, lt_index_list *train, lt_index_list *val, lt_index_list *test) {
    lt_index_list *lists[3] = {train, val, test};
    for (int k = 0; k < 3; k++) {
        if (!lists[k]) return lt_error(LT_ERR_ARG, "lt_mil_split: NULL output list");
        lists[k]->idx = NULL;
        lists[k]->n = 0;
    }
    if (!ds) return lt_error(LT_ERR_ARG, "lt_mil_split: no dataset");
    int n = ds->n;
    if (k_folds < 0 || k_folds == 1)
        return lt_error(LT_ERR_ARG, "lt_mil_split: k_folds = %d; use 0 (no folds) or at least 2", k_folds);
    if (k_folds > n) return lt_error(LT_ERR_ARG, "lt_mil_split: %d folds but only %d bags", k_folds, n);
    if (k_folds > 1 && (fold < 0 || fold >= k_folds))
        return lt_error(LT_ERR_ARG, "lt_mil_split: fold %d out of range 0..%d", fold, k_folds - 1);
    int carried = 0;
    for (int i = 0; i < n; i++) carried |= ds->bags[i].split != LT_SPLIT_NONE;
    int8_t *part = malloc((size_t)(n ? n : 1));
    int32_t *members = malloc(sizeof *members * (size_t)(n ? n : 1));
    lt_status s = LT_OK;
    if (!part || !members) s = lt_error(LT_ERR_OOM, "lt_mil_split: out of memory");
    if (s == LT_OK && carried && k_folds == 0) {
        for (int i = 0; i < n && s == LT_OK; i++) {
            if (ds->bags[i].split == LT_SPLIT_NONE)
                s = lt_error(LT_ERR_FORMAT, "lt_mil_split: slide '%s' in '%s' has no split, but other slides do "
                             "(fill the split column for every slide, or leave it empty for all)",
                             ds->bags[i].id, ds->csv ? ds->csv : lt_mil_file_of(ds, i));
            part[i] = (int8_t)ds->bags[i].split;
        }
    } else if (s == LT_OK) {
        if (k_folds > 1) test_frac = 0;   // the fold is the test set
        if (!(val_frac >= 0 && val_frac < 1) || !(test_frac >= 0 && test_frac < 1) || val_frac + test_frac >= 1)
            s = lt_error(LT_ERR_ARG, "lt_mil_split: val_frac %g and test_frac %g must be in [0, 1) with a sum below 1",
                         val_frac, test_frac);
        if (s == LT_OK) {
            lt_rng rng;
            lt_rng_init(&rng, seed);
            assign(ds, &rng, members, val_frac, test_frac, k_folds, fold, part);
        }
    }
    for (int k = 0; k < 3 && s == LT_OK; k++) s = collect(part, n, k, lists[k]);
    if (s == LT_OK && train->n == 0 && !(carried && k_folds == 0))
        s = lt_error(LT_ERR_ARG, "lt_mil_split: no bags left for training (%d bags, val_frac %g, test_frac %g, "
                     "k_folds %d)", n, val_frac, test_frac, k_folds);
    free(part);
    free(members);
    if (s != LT_OK)
        for (int k = 0; k < 3; k++) lt_index_list_free(lists[k]);
    return s;
}
