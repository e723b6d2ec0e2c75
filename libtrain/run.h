// A run folder: config.json (resolved flags), metrics.jsonl (one JSON object
// per log step), checkpoints/. Stdout gets one fixed-width line per log step;
// a progress bar is drawn between them only when stdout is a terminal.
#ifndef LT_RUN_H
#define LT_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "libtrain/flags.h"

typedef struct { const char *name; double value; } lt_metric;

typedef struct {
    char dir[1024];
    FILE *metrics;
    int64_t total_steps;
    double t_start, t_last;   // seconds (monotonic)
    int64_t step_last;
    double items_since_log;
    int tty;
} lt_run;

// Opens (creating) the run folder. A fresh run (resume_step < 0) refuses a
// folder that already holds checkpoints, so no earlier run is overwritten. A
// resumed run keeps metrics.jsonl lines up to resume_step and appends after.
lt_status lt_run_open(lt_run *r, const char *dir, const lt_flags *f, int64_t total_steps, int64_t resume_step);
void lt_run_close(lt_run *r);
// Path inside the run folder into buf.
const char *lt_run_path(const lt_run *r, const char *name, char *buf, size_t n);
int lt_run_has_checkpoint(const char *dir);

// Counts processed items (samples, tokens) toward the items/s column.
static inline void lt_run_items(lt_run *r, double n) { r->items_since_log += n; }
// A training log step: stdout line plus a metrics.jsonl record {"step","split":"train",...}.
lt_status lt_run_log_train(lt_run *r, int64_t step, double loss, double lr, double grad_norm, int n_extra,
                           const lt_metric *extra);
// An evaluation record ("val", "test"): stdout line plus metrics.jsonl.
lt_status lt_run_log_eval(lt_run *r, int64_t step, const char *split, int n, const lt_metric *m);
// Redraws the progress bar (terminals only; no-op otherwise).
void lt_run_progress(lt_run *r, int64_t step);
// LT_ERR_NONFINITE naming the step if loss or grad norm is NaN/Inf.
lt_status lt_run_check_finite(const lt_run *r, int64_t step, double loss, double grad_norm);

double lt_time_now(void);   // monotonic seconds
// The data cache folder, created if needed: $LT_DATA_DIR, else ~/.cache/libtrain
// (built-in datasets are imported or generated there once).
lt_status lt_cache_dir(char *out, size_t n);
// mkdir -p; error names the path.
lt_status lt_mkdirs(const char *path);

#endif
