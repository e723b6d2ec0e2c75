// Checkpoints of a run: weights as safetensors (PyTorch names, loadable with
// the Python `safetensors` package) and a training-state file, itself a
// safetensors file: optimizer moments as tensors, and in __metadata__ the
// state version, step, RNG streams and data cursor as decimal strings (exact
// 64-bit values). Files are step-numbered and written atomically; the pointer
// file checkpoints/latest is replaced last, so a crash at any point leaves the
// previous checkpoint loadable. The two newest checkpoints are kept.
#ifndef LT_CHECKPOINT_H
#define LT_CHECKPOINT_H

#include "libtrain/optim.h"
#include "libtrain/rng.h"

#define LT_STATE_VERSION 1

typedef struct {
    int64_t step;        // optimizer steps completed
    lt_rng ctx_rng;      // stochastic-op stream (dropout)
    int64_t epoch;       // data position: epoch and index within it
    int64_t cursor;
    double best_metric;  // recipe-defined (best validation score so far)
    double best_tiebreak;// recipe-defined second key for ties of best_metric
} lt_train_state;

// Saves weights and state for st->step under <run_dir>/checkpoints/.
lt_status lt_checkpoint_save(const char *run_dir, const lt_params *ps, const lt_optim *o, const lt_train_state *st);
// Loads the newest checkpoint into ps (every parameter must be present with
// its shape), o (may be NULL) and st. Errors name the file and the tensor.
lt_status lt_checkpoint_load(const char *run_dir, lt_params *ps, lt_optim *o, lt_train_state *st);
// Step of the newest checkpoint, or -1 if there is none.
int64_t lt_checkpoint_latest_step(const char *run_dir);
// Weights only, from any safetensors file (e.g. model_00001000.safetensors).
lt_status lt_weights_load(const char *path, lt_params *ps);
lt_status lt_weights_save(const char *path, const lt_params *ps, int n_meta, const char *const *keys,
                          const char *const *vals);

#endif
