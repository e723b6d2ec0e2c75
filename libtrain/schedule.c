#include "libtrain/schedule.h"

#include <math.h>
#include <string.h>

float lt_schedule_lr(const lt_schedule *s, int64_t step) {
    if (s->warmup > 0 && step < s->warmup) return s->base_lr * (float)(step + 1) / (float)s->warmup;
    if (s->kind == LT_SCHED_CONSTANT) return s->base_lr;
    int64_t span = s->total - s->warmup;
    if (span <= 0) return s->base_lr;
    double t = (double)(step - s->warmup) / (double)span;
    if (t > 1) t = 1;
    return (float)(s->min_lr + (s->base_lr - s->min_lr) * 0.5 * (1.0 + cos(M_PI * t)));
}

lt_status lt_schedule_parse(const char *name, lt_schedule_kind *out) {
    if (!strcmp(name, "constant")) { *out = LT_SCHED_CONSTANT; return LT_OK; }
    if (!strcmp(name, "cosine")) { *out = LT_SCHED_COSINE; return LT_OK; }
    return lt_error(LT_ERR_ARG, "unknown schedule '%s' (expected constant or cosine)", name);
}
