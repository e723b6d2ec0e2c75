#include "libtrain/checkpoint.h"
#include "libtrain/atomic_file.h"
#include "libtrain/safetensors.h"
#include "autograd/ctx.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PATHN 1200

static void ckpt_path(char *buf, const char *run_dir, const char *kind, int64_t step) {
    snprintf(buf, PATHN, "%s/checkpoints/%s_%08" PRId64 ".safetensors", run_dir, kind, step);
}

lt_status lt_weights_save(const char *path, const lt_params *ps, int n_meta, const char *const *keys,
                          const char *const *vals) {
    const char **names = malloc(sizeof *names * (size_t)(ps->n + 1));
    if (!names) return lt_error(LT_ERR_OOM, "saving %s", path);
    for (int i = 0; i < ps->n; i++) names[i] = ps->t[i]->name;
    lt_status s = lt_safetensors_save(path, ps->n, names, ps->t, n_meta, keys, vals);
    free(names);
    return s;
}

// Every parameter must be in the file with its shape, and every tensor of the
// file must be a parameter: a checkpoint of another model is an error, not a partial load.
lt_status lt_weights_load(const char *path, lt_params *ps) {
    lt_safetensors *st;
    LT_TRY(lt_safetensors_open(path, &st));
    lt_status s = LT_OK;
    for (int i = 0; i < ps->n && s == LT_OK; i++) {
        if (lt_safetensors_find(st, ps->t[i]->name) < 0)
            s = lt_error(LT_ERR_FORMAT, "%s: parameter '%s' is missing", path, ps->t[i]->name);
        else
            s = lt_safetensors_read(st, ps->t[i]->name, ps->t[i]);
    }
    for (int i = 0; i < lt_safetensors_count(st) && s == LT_OK; i++)
        if (!lt_params_find(ps, lt_safetensors_name(st, i)))
            s = lt_error(LT_ERR_FORMAT, "%s: tensor '%s' is not a parameter of this model", path,
                         lt_safetensors_name(st, i));
    lt_safetensors_close(st);
    return s;
}

int64_t lt_checkpoint_latest_step(const char *run_dir) {
    char p[PATHN];
    snprintf(p, sizeof p, "%s/checkpoints/latest", run_dir);
    FILE *f = fopen(p, "r");
    if (!f) return -1;
    long long step = -1;
    if (fscanf(f, "%lld", &step) != 1) step = -1;
    fclose(f);
    return step;
}

// Removes step-numbered checkpoint files other than those of `keep_a` and `keep_b`.
static void prune(const char *run_dir, int64_t keep_a, int64_t keep_b) {
    char d[PATHN];
    snprintf(d, sizeof d, "%s/checkpoints", run_dir);
    DIR *dir = opendir(d);
    if (!dir) return;
    struct dirent *e;
    while ((e = readdir(dir))) {
        long long step;
        char kind[16];
        if (sscanf(e->d_name, "%15[a-z]_%lld.safetensors", kind, &step) != 2) continue;
        if ((strcmp(kind, "model") && strcmp(kind, "state")) || step == keep_a || step == keep_b) continue;
        char p[PATHN + 300];
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        unlink(p);
    }
    closedir(dir);
}

#define META_MAX 16

lt_status lt_checkpoint_save(const char *run_dir, const lt_params *ps, const lt_optim *o, const lt_train_state *st) {
    char p[PATHN];
    for (int i = 0; i < ps->n; i++) {
        // A non-finite weight is never checkpointed: the last good checkpoint must stay the newest.
        // Device parameters are checked on a host copy (checkpoints are rare; the copy is the write's anyway).
        const lt_tensor *t = ps->t[i];
        float *host = NULL;
        const float *w = lt_f32(t);
        if (t->device != LT_CPU) {
            if (!(host = malloc(sizeof(float) * (size_t)t->numel)))
                return lt_error(LT_ERR_OOM, "checkpoint: no host memory to check parameter '%s'", t->name);
            if (lt_tensor_to_host(t, host) != LT_OK) { free(host); return lt_last_status(); }
            w = host;
        }
        int64_t bad = -1;
        for (int64_t j = 0; j < t->numel && bad < 0; j++)
            if (!(w[j] - w[j] == 0)) bad = j;
        free(host);
        if (bad >= 0)
            return lt_error(LT_ERR_NONFINITE, "checkpoint at step %" PRId64 ": parameter '%s' holds a non-finite "
                                              "value; not saved", st->step, t->name);
    }
    char vbuf[META_MAX][48];
    const char *keys[META_MAX], *vals[META_MAX];
    int nm = 0;
#define META(k, fmt, v) (keys[nm] = (k), snprintf(vbuf[nm], sizeof vbuf[nm], fmt, v), vals[nm] = vbuf[nm], nm++)
    META("libtrain_state_version", "%d", LT_STATE_VERSION);
    META("step", "%" PRId64, st->step);
    ckpt_path(p, run_dir, "model", st->step);
    LT_TRY(lt_weights_save(p, ps, nm, keys, vals));

    META("rng_seed", "%" PRIu64, st->ctx_rng.seed);
    META("rng_offset", "%" PRIu64, st->ctx_rng.offset);
    META("epoch", "%" PRId64, st->epoch);
    META("cursor", "%" PRId64, st->cursor);
    META("best_metric", "%.17g", st->best_metric);
    META("best_tiebreak", "%.17g", st->best_tiebreak);
    META("optimizer", "%s", !o ? "none" : o->kind == LT_OPTIM_SGD ? "sgd" : "adamw");
#undef META

    // Optimizer state: moments as tensors, per-parameter step counts as an i32 tensor.
    int cap = 2 * ps->n + 1, n = 0;
    const char **names = calloc((size_t)cap, sizeof *names);
    lt_tensor **ts = calloc((size_t)cap, sizeof *ts);
    char **owned = calloc((size_t)cap, sizeof *owned);
    lt_tensor *steps = NULL;
    lt_status s = (names && ts && owned) ? LT_OK : lt_error(LT_ERR_OOM, "checkpoint");
    if (s == LT_OK && o && ps->n > 0) {
        for (int i = 0; i < ps->n; i++) {
            for (int k = 0; k < 2; k++) {
                lt_tensor *t = k ? o->v[i] : o->m[i];
                if (!t) continue;
                size_t len = strlen(ps->t[i]->name) + 16;
                owned[n] = malloc(len);
                snprintf(owned[n], len, "optim.%s.%s", k ? "v" : "m", ps->t[i]->name);
                names[n] = owned[n];
                ts[n++] = t;
            }
        }
        steps = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(ps->n));
        if (!steps) s = lt_last_status();
        else {
            for (int i = 0; i < ps->n; i++) lt_i32(steps)[i] = (int32_t)o->steps[i];
            names[n] = "optim.steps";
            ts[n++] = steps;
        }
    }
    if (s == LT_OK) {
        ckpt_path(p, run_dir, "state", st->step);
        s = lt_safetensors_save(p, n, names, ts, nm, keys, vals);
    }
    if (s == LT_OK) {
        int64_t prev = lt_checkpoint_latest_step(run_dir);
        lt_atomic_file af;
        snprintf(p, sizeof p, "%s/checkpoints/latest", run_dir);
        s = lt_atomic_open(&af, p);
        if (s == LT_OK) {
            fprintf(af.fp, "%" PRId64 "\n", st->step);
            s = lt_atomic_commit(&af);
        }
        if (s == LT_OK) prune(run_dir, st->step, prev);
    }
    for (int i = 0; i < cap && owned; i++) free(owned[i]);
    free(owned); free(names); free(ts);
    lt_tensor_free(steps);
    return s;
}

static lt_status meta_i64(lt_safetensors *sf, const char *path, const char *key, int64_t *out) {
    const char *v = lt_safetensors_meta(sf, key);
    char *end;
    errno = 0;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || errno || *end || end == v)
        return lt_error(LT_ERR_FORMAT, "%s: metadata '%s' is %s", path, key, v ? "not an integer" : "missing");
    *out = x;
    return LT_OK;
}

lt_status lt_checkpoint_load(const char *run_dir, lt_params *ps, lt_optim *o, lt_train_state *st) {
    int64_t step = lt_checkpoint_latest_step(run_dir);
    if (step < 0) return lt_error(LT_ERR_IO, "no checkpoint to resume in %s/checkpoints (missing or unreadable 'latest')", run_dir);
    char p[PATHN];
    ckpt_path(p, run_dir, "model", step);
    LT_TRY(lt_weights_load(p, ps));
    ckpt_path(p, run_dir, "state", step);
    lt_safetensors *sf;
    LT_TRY(lt_safetensors_open(p, &sf));
    lt_status s = LT_OK;
    int64_t version = 0, seed = 0, offset = 0, fstep = 0;
    if ((s = meta_i64(sf, p, "libtrain_state_version", &version)) != LT_OK) goto out;
    if (version != LT_STATE_VERSION) {
        s = lt_error(LT_ERR_FORMAT, "%s: state version %" PRId64 ", this libtrain reads version %d", p, version,
                     LT_STATE_VERSION);
        goto out;
    }
    if ((s = meta_i64(sf, p, "step", &fstep)) != LT_OK) goto out;
    if (fstep != step) { s = lt_error(LT_ERR_FORMAT, "%s: holds step %" PRId64 ", expected %" PRId64, p, fstep, step); goto out; }
    if ((s = meta_i64(sf, p, "rng_seed", &seed)) != LT_OK || (s = meta_i64(sf, p, "rng_offset", &offset)) != LT_OK ||
        (s = meta_i64(sf, p, "epoch", &st->epoch)) != LT_OK || (s = meta_i64(sf, p, "cursor", &st->cursor)) != LT_OK)
        goto out;
    st->step = step;
    st->ctx_rng.seed = (uint64_t)seed;
    st->ctx_rng.offset = (uint64_t)offset;
    const char *best = lt_safetensors_meta(sf, "best_metric");
    st->best_metric = best ? strtod(best, NULL) : 0;
    const char *tie = lt_safetensors_meta(sf, "best_tiebreak");
    st->best_tiebreak = tie ? strtod(tie, NULL) : 0;
    if (o) {
        const char *kind = lt_safetensors_meta(sf, "optimizer");
        const char *want = o->kind == LT_OPTIM_SGD ? "sgd" : "adamw";
        if (!kind || strcmp(kind, want)) {
            s = lt_error(LT_ERR_FORMAT, "%s: optimizer state is for '%s', the run uses '%s'", p, kind ? kind : "?", want);
            goto out;
        }
        char name[600];
        for (int i = 0; i < ps->n && s == LT_OK; i++)
            for (int k = 0; k < 2 && s == LT_OK; k++) {
                lt_tensor *t = k ? o->v[i] : o->m[i];
                if (!t) continue;
                snprintf(name, sizeof name, "optim.%s.%s", k ? "v" : "m", ps->t[i]->name);
                if (lt_safetensors_find(sf, name) < 0) s = lt_error(LT_ERR_FORMAT, "%s: '%s' is missing", p, name);
                else s = lt_safetensors_read(sf, name, t);
            }
        if (s != LT_OK) goto out;
        lt_tensor *steps = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(ps->n > 0 ? ps->n : 1));
        if (!steps) { s = lt_last_status(); goto out; }
        if (ps->n > 0) {
            if (lt_safetensors_find(sf, "optim.steps") < 0) s = lt_error(LT_ERR_FORMAT, "%s: 'optim.steps' is missing", p);
            else s = lt_safetensors_read(sf, "optim.steps", steps);
            for (int i = 0; i < ps->n && s == LT_OK; i++) o->steps[i] = lt_i32(steps)[i];
        }
        lt_tensor_free(steps);
    }
out:
    lt_safetensors_close(sf);
    return s;
}
