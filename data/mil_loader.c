// Background prefetch: one reader thread fills a ring of depth + 1 bag buffers
// (allocated at open for the largest bag) while the caller trains on the bag it
// holds. Position p of the order goes to slot p % (depth + 1); the thread may
// run at most depth positions ahead of the bag the caller holds.
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/mil_internal.h"
#include "libtrain/rng.h"

typedef struct {
    float *feat;       // [rows, dim]
    int32_t *coords;   // [rows, 2]
    int64_t n;
} slot;

struct lt_mil_loader {
    lt_mil_dataset *ds;
    int32_t *order;
    int n, nslots;
    float subsample;
    uint64_t seed;
    slot *slots;
    float *full;            // subsampling: the whole bag [max_n, dim]
    int32_t *full_coords;   // [max_n, 2]
    int32_t *perm;          // [max_n]
    uint8_t *mask;          // [max_n]
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int produced;           // positions [0, produced) are filled
    int released;           // positions [0, released) may be overwritten
    int next;               // the position lt_mil_loader_next returns next
    int stop;
    int err_pos;            // position whose read failed, or -1
    lt_status err;
    char msg[2048];
};

// Instances kept from a bag of n: int(r * n), at least 1. The product is taken
// slightly up so that r = 0.7f (0.69999998...) keeps 7 of 10, as 0.7 would.
static int64_t kept(float r, int64_t n) {
    if (r >= 1) return n;
    int64_t k = (int64_t)floor((double)r * (double)n * (1.0 + 1e-7));
    return k < 1 ? 1 : k > n ? n : k;
}

static void free_loader(lt_mil_loader *ld) {
    if (ld->slots)
        for (int s = 0; s < ld->nslots; s++) {
            free(ld->slots[s].feat);
            free(ld->slots[s].coords);
        }
    free(ld->slots);
    free(ld->full);
    free(ld->full_coords);
    free(ld->perm);
    free(ld->mask);
    free(ld->order);
    free(ld);
}

// Reads position p of the order into slot s.
static lt_status fill(lt_mil_loader *ld, int p, slot *s) {
    lt_mil_dataset *ds = ld->ds;
    int bag = ld->order[p];
    int64_t n = ds->bags[bag].n, k = kept(ld->subsample, n), dim = ds->dim;
    lt_mil_lock();
    lt_status st = lt_mil_read_rows(ds, bag, 0, n, k == n ? s->feat : ld->full, k == n ? s->coords : ld->full_coords);
    lt_mil_unlock();
    if (st != LT_OK) return st;
    if (k < n && n > 0) {
        // Partial Fisher-Yates from the Philox stream (seed, position p); rows kept in file order.
        lt_rng rng = {ld->seed, (uint64_t)p << 32};
        for (int64_t j = 0; j < n; j++) ld->perm[j] = (int32_t)j;
        memset(ld->mask, 0, (size_t)n);
        for (int64_t j = 0; j < k; j++) {
            int64_t t = j + lt_rng_below(&rng, (uint32_t)(n - j));
            int32_t tmp = ld->perm[j]; ld->perm[j] = ld->perm[t]; ld->perm[t] = tmp;
            ld->mask[ld->perm[j]] = 1;
        }
        int64_t o = 0;
        for (int64_t j = 0; j < n; j++) {
            if (!ld->mask[j]) continue;
            memcpy(s->feat + o * dim, ld->full + j * dim, sizeof(float) * (size_t)dim);
            s->coords[2 * o] = ld->full_coords[2 * j];
            s->coords[2 * o + 1] = ld->full_coords[2 * j + 1];
            o++;
        }
    }
    s->n = k;
    return LT_OK;
}

static void *reader(void *arg) {
    lt_mil_loader *ld = arg;
    for (int p = 0; p < ld->n; p++) {
        pthread_mutex_lock(&ld->mu);
        while (!ld->stop && p - ld->released >= ld->nslots) pthread_cond_wait(&ld->cv, &ld->mu);
        int stop = ld->stop;
        pthread_mutex_unlock(&ld->mu);
        if (stop) break;
        lt_status s = fill(ld, p, &ld->slots[p % ld->nslots]);
        pthread_mutex_lock(&ld->mu);
        if (s != LT_OK) {
            ld->err = s;
            ld->err_pos = p;
            snprintf(ld->msg, sizeof ld->msg, "%s", lt_last_error());
        } else {
            ld->produced = p + 1;
        }
        pthread_cond_broadcast(&ld->cv);
        pthread_mutex_unlock(&ld->mu);
        if (s != LT_OK) break;
    }
    return NULL;
}

lt_status lt_mil_loader_open(lt_mil_dataset *ds, const int32_t *order, int n, int depth, float subsample,
                             uint64_t seed, lt_mil_loader **out) {
    *out = NULL;
    if (!ds) return lt_error(LT_ERR_ARG, "lt_mil_loader_open: no dataset");
    if (n < 0 || (n > 0 && !order)) return lt_error(LT_ERR_ARG, "lt_mil_loader_open: bad order (n = %d)", n);
    if (depth < 1 || depth > 1024) return lt_error(LT_ERR_ARG, "lt_mil_loader_open: depth %d not in 1..1024", depth);
    if (!(subsample > 0 && subsample <= 1))
        return lt_error(LT_ERR_ARG, "lt_mil_loader_open: subsample %g not in (0, 1]", subsample);
    int64_t rows = 1;
    for (int i = 0; i < n; i++) {
        if (order[i] < 0 || order[i] >= ds->n)
            return lt_error(LT_ERR_ARG, "lt_mil_loader_open: order[%d] = %d is not a bag index 0..%d", i, order[i],
                            ds->n - 1);
        int64_t k = kept(subsample, ds->bags[order[i]].n);
        if (k > rows) rows = k;
    }
    lt_mil_loader *ld = calloc(1, sizeof *ld);
    if (!ld) return lt_error(LT_ERR_OOM, "lt_mil_loader_open: out of memory");
    ld->ds = ds;
    ld->n = n;
    ld->nslots = depth + 1;
    ld->subsample = subsample;
    ld->seed = seed;
    ld->err_pos = -1;
    ld->order = malloc(sizeof *ld->order * (size_t)(n ? n : 1));
    ld->slots = calloc((size_t)ld->nslots, sizeof *ld->slots);
    int ok = ld->order && ld->slots;
    for (int s = 0; ok && s < ld->nslots; s++) {
        ld->slots[s].feat = malloc(sizeof(float) * (size_t)(rows * ds->dim));
        ld->slots[s].coords = malloc(sizeof(int32_t) * 2 * (size_t)rows);
        ok = ld->slots[s].feat && ld->slots[s].coords;
    }
    if (ok && subsample < 1) {
        int64_t m = ds->max_n;
        ld->full = malloc(sizeof(float) * (size_t)(m * ds->dim));
        ld->full_coords = malloc(sizeof(int32_t) * 2 * (size_t)m);
        ld->perm = malloc(sizeof(int32_t) * (size_t)m);
        ld->mask = malloc((size_t)m);
        ok = ld->full && ld->full_coords && ld->perm && ld->mask;
    }
    if (!ok) {
        free_loader(ld);
        return lt_error(LT_ERR_OOM, "lt_mil_loader_open: out of memory for %d buffers of %lld x %d floats", depth + 1,
                        (long long)rows, ds->dim);
    }
    if (n) memcpy(ld->order, order, sizeof *order * (size_t)n);
    pthread_mutex_init(&ld->mu, NULL);
    pthread_cond_init(&ld->cv, NULL);
    if (n > 0) {
        if (pthread_create(&ld->thread, NULL, reader, ld) != 0) {
            pthread_mutex_destroy(&ld->mu);
            pthread_cond_destroy(&ld->cv);
            free_loader(ld);
            return lt_error(LT_ERR_STATE, "lt_mil_loader_open: cannot start the reader thread");
        }
        ld->started = 1;
    }
    *out = ld;
    return LT_OK;
}

lt_status lt_mil_loader_next(lt_mil_loader *ld, lt_mil_item *item, int *has_item) {
    memset(item, 0, sizeof *item);
    *has_item = 0;
    if (!ld) return lt_error(LT_ERR_ARG, "lt_mil_loader_next: no loader");
    pthread_mutex_lock(&ld->mu);
    if (ld->released < ld->next) {   // the caller is done with the bag it held
        ld->released = ld->next;
        pthread_cond_broadcast(&ld->cv);
    }
    if (ld->next >= ld->n) {
        pthread_mutex_unlock(&ld->mu);
        return LT_OK;
    }
    while (ld->produced <= ld->next && ld->err_pos != ld->next) pthread_cond_wait(&ld->cv, &ld->mu);
    if (ld->err_pos == ld->next) {
        pthread_mutex_unlock(&ld->mu);
        return lt_error(ld->err, "%s", ld->msg);
    }
    int p = ld->next++;
    pthread_mutex_unlock(&ld->mu);
    const slot *s = &ld->slots[p % ld->nslots];
    const lt_mil_bag_info *b = &ld->ds->bags[ld->order[p]];
    item->bag = ld->order[p];
    item->n = s->n;
    item->dim = ld->ds->dim;
    item->label = b->label;
    item->feat = s->feat;
    item->coords = s->coords;
    *has_item = 1;
    return LT_OK;
}

void lt_mil_loader_close(lt_mil_loader *ld) {
    if (!ld) return;
    if (ld->started) {
        pthread_mutex_lock(&ld->mu);
        ld->stop = 1;
        pthread_cond_broadcast(&ld->cv);
        pthread_mutex_unlock(&ld->mu);
        pthread_join(ld->thread, NULL);
    }
    pthread_mutex_destroy(&ld->mu);
    pthread_cond_destroy(&ld->cv);
    free_loader(ld);
}
