// End-of-run reports, written atomically (libtrain/atomic_file.h) into a run
// folder:
// - report.json / report.md: validation metrics at the best epoch and test
//   metrics with those weights, the test confusion matrix, the run's settings;
// - seeds.json / seeds.md: one row per run (seed, lambda) and, per lambda group
//   (in order of first appearance), mean and sample standard deviation (n - 1)
//   of each metric.
// Undefined values (an AUC with one class present, the std of one run) are JSON
// null and "n/a" in markdown, with a note saying why.
#ifndef LT_REPORT_H
#define LT_REPORT_H

#include <stdint.h>

#include "libtrain/metrics.h"

#define LT_REPORT_MAX_CLASSES 16   // named classes; later ones are shown by index

typedef struct {
    const char *title;          // heading; NULL: "report"
    const char *data;           // dataset path
    uint64_t seed;
    float lambda;               // AEM weight (schedules: its start value)
    const char *lambda_spec;    // optional: the --lambda text, e.g. "cosine:0.1:0:50"
    int best_epoch, epochs;     // best_epoch: 1-based epoch selected on validation
    int64_t best_step;          // optimizer steps at the end of best_epoch (0: not shown)
    int n_classes, n_train, n_val, n_test;   // n_*: bags per split
    lt_cls_metrics val, test;   // validation at the best epoch, test with its weights
    const int64_t *confusion;   // test confusion [C, C] (row: true, column: predicted) or NULL
    const char *class_names[LT_REPORT_MAX_CLASSES];   // NULL entries are shown by index
} lt_report;

lt_status lt_report_write(const char *run_dir, const lt_report *r);

// One finished run of a multi-seed / multi-lambda job.
typedef struct {
    float lambda;
    uint64_t seed;
    int best_epoch;
    lt_cls_metrics val, test;
} lt_seed_row;

// Groups rows by lambda (exact float equality); in each group mean and sample std
// of val and test AUC, accuracy, balanced accuracy and macro F1 over the runs
// whose value is defined (NaN AUCs are left out and the count says so).
lt_status lt_report_seeds_write(const char *dir, const char *title, int n, const lt_seed_row *rows);

// Mean and sample standard deviation (n - 1) of the non-NaN values among v [n]:
// *mean NaN when none, *sd NaN when fewer than two. Returns how many were used.
int lt_report_mean_std(const double *v, int n, double *mean, double *sd);

#endif
