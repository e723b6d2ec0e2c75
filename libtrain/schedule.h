// Learning-rate schedules: constant, or linear warmup then cosine decay.
#ifndef LT_SCHEDULE_H
#define LT_SCHEDULE_H

#include <stdint.h>
#include "libtrain/status.h"

typedef enum { LT_SCHED_CONSTANT, LT_SCHED_COSINE } lt_schedule_kind;

typedef struct {
    lt_schedule_kind kind;
    float base_lr, min_lr;
    int64_t warmup;   // steps of linear warmup from base_lr/warmup to base_lr (both kinds)
    int64_t total;    // steps in the run; cosine reaches min_lr at step total
} lt_schedule;

// lr for 0-based step: warmup (step+1)/warmup * base; then constant base, or
// min + (base-min) * (1 + cos(pi * (step-warmup)/(total-warmup))) / 2.
float lt_schedule_lr(const lt_schedule *s, int64_t step);
lt_status lt_schedule_parse(const char *name, lt_schedule_kind *out);   // "constant" | "cosine"

#endif
