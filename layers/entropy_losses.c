#include "layers/entropy_losses.h"
#include "kernels/ops.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

lt_tensor *lt_aem_loss(lt_ctx *c, lt_tensor *scores, float lambda) {
    if (!scores) return NULL;
    if (!isfinite(lambda) || lambda < 0) {
        lt_error(LT_ERR_ARG, "aem_loss: lambda must be finite and >= 0 (a negative weight collapses attention), got %g",
                 (double)lambda);
        return NULL;
    }
    if (lt_expect_dtype("aem_loss", "scores", scores, LT_F32) != LT_OK) return NULL;
    if (scores->ndim < 1) {
        lt_error(LT_ERR_SHAPE, "aem_loss: scores must be [..., N] (instances last), got a scalar");
        return NULL;
    }
    lt_tensor *h = lt_softmax_entropy(c, scores);   // [...]
    return lt_scale(c, lt_mean(c, h, LT_AXIS_ALL, 0), -lambda);
}

float lt_lambda_at(const lt_lambda_schedule *s, int64_t e) {
    if (s->kind != LT_LAMBDA_COSINE) return s->lambda0;
    if (e <= 0) return s->lambda0;
    if (s->anneal_steps <= 0 || e >= s->anneal_steps) return s->lambda_final;
    double f = 0.5 * (1.0 + cos(M_PI * (double)e / (double)s->anneal_steps));
    return (float)(s->lambda_final + ((double)s->lambda0 - s->lambda_final) * f);
}

// Parses the finite, non-negative number in [p, end) (end at ':' or the string's end).
static lt_status parse_weight(const char *whole, const char *what, const char *p, const char **end, double *v) {
    errno = 0;
    char *e;
    *v = strtod(p, &e);
    if (e == p || (*e && *e != ':') || errno || !isfinite(*v) || *v < 0)
        return lt_error(LT_ERR_ARG, "lambda schedule \"%s\": %s must be a finite number >= 0, got \"%.*s\"", whole,
                        what, (int)strcspn(p, ":"), p);
    *end = e;
    return LT_OK;
}

lt_status lt_lambda_schedule_parse(const char *s, lt_lambda_schedule *out) {
    if (!s || !*s)
        return lt_error(LT_ERR_ARG, "lambda schedule: empty; expected \"0.1\", \"constant:0.1\" or \"cosine:0.1:0.01:25\"");
    lt_lambda_schedule r = {LT_LAMBDA_CONSTANT, 0, 0, 0};
    const char *p = s, *end;
    double v;
    int cosine = 0;
    if (strncmp(s, "constant:", 9) == 0) p = s + 9;
    else if (strncmp(s, "cosine:", 7) == 0) { p = s + 7; cosine = 1; }
    LT_TRY(parse_weight(s, "lambda0", p, &end, &v));
    r.lambda0 = r.lambda_final = (float)v;
    if (!cosine) {
        if (*end)
            return lt_error(LT_ERR_ARG, "lambda schedule \"%s\": a constant takes one value; "
                                        "for annealing write \"cosine:LAMBDA0:LAMBDA_FINAL:STEPS\"", s);
        *out = r;
        return LT_OK;
    }
    if (*end != ':')
        return lt_error(LT_ERR_ARG, "lambda schedule \"%s\": expected \"cosine:LAMBDA0:LAMBDA_FINAL:STEPS\"", s);
    LT_TRY(parse_weight(s, "lambda_final", end + 1, &end, &v));
    r.lambda_final = (float)v;
    if (*end != ':')
        return lt_error(LT_ERR_ARG, "lambda schedule \"%s\": expected \"cosine:LAMBDA0:LAMBDA_FINAL:STEPS\"", s);
    p = end + 1;
    errno = 0;
    char *e;
    long long n = strtoll(p, &e, 10);
    if (e == p || *e || errno || n < 1)
        return lt_error(LT_ERR_ARG, "lambda schedule \"%s\": STEPS must be an integer >= 1, got \"%s\"", s, p);
    r.kind = LT_LAMBDA_COSINE;
    r.anneal_steps = n;
    *out = r;
    return LT_OK;
}

// Constant 0/1 tensor (no gradient): 1 where |delta| > margin, from delta's forward values.
static lt_tensor *dead_zone_mask(lt_ctx *c, const lt_tensor *delta, float margin) {
    float *buf = malloc(sizeof(float) * (size_t)delta->numel);
    if (!buf) {
        lt_error(LT_ERR_OOM, "entropy_guided_loss: cannot allocate a mask of %lld floats", (long long)delta->numel);
        return NULL;
    }
    lt_tensor *m = NULL;
    if (lt_tensor_to_host(delta, buf) == LT_OK) {
        for (int64_t i = 0; i < delta->numel; i++) buf[i] = fabsf(buf[i]) > margin ? 1.0f : 0.0f;
        m = lt_tensor_from(c, LT_F32, delta->ndim, delta->shape, buf);
    }
    free(buf);
    return m;
}

lt_tensor *lt_entropy_guided_loss(lt_ctx *c, int n_layers, lt_tensor *const *row_entropy, lt_tensor *theta,
                                  float t_ctx, float gamma, int reduction) {
    const char *fn = "entropy_guided_loss";
    char b1[64], b2[64];
    if (n_layers < 1 || !row_entropy) {
        lt_error(LT_ERR_ARG, "%s: n_layers must be >= 1 with one entropy tensor per layer, got %d", fn, n_layers);
        return NULL;
    }
    if (!theta) return NULL;
    for (int l = 0; l < n_layers; l++) if (!row_entropy[l]) return NULL;
    if (!(t_ctx > 1) || !isfinite(t_ctx)) {
        lt_error(LT_ERR_ARG, "%s: t_ctx (context size, E_max = log t_ctx) must be finite and > 1, got %g", fn,
                 (double)t_ctx);
        return NULL;
    }
    if (!(gamma >= 0) || !isfinite(gamma)) {
        lt_error(LT_ERR_ARG, "%s: gamma (tolerance fraction) must be finite and >= 0, got %g", fn, (double)gamma);
        return NULL;
    }
    if (reduction != LT_EG_PAPER && reduction != LT_EG_CODE) {
        lt_error(LT_ERR_ARG, "%s: reduction must be LT_EG_PAPER (%d) or LT_EG_CODE (%d), got %d", fn, LT_EG_PAPER,
                 LT_EG_CODE, reduction);
        return NULL;
    }
    if (lt_expect_dtype(fn, "theta", theta, LT_F32) != LT_OK) return NULL;
    if (theta->ndim != 2 || theta->shape[0] != n_layers) {
        lt_error(LT_ERR_SHAPE, "%s: theta must be [L,H] with L = n_layers = %d, got %s", fn, n_layers,
                 lt_shape_str(theta, b1));
        return NULL;
    }
    int heads = theta->shape[1];
    for (int l = 0; l < n_layers; l++) {
        const lt_tensor *e = row_entropy[l];
        if (lt_expect_dtype(fn, "row_entropy", e, LT_F32) != LT_OK) return NULL;
        if (e->ndim != 3 || e->shape[1] != heads) {
            lt_error(LT_ERR_SHAPE, "%s: row_entropy[%d] must be [B,H,T] with H = %d (theta %s), got %s", fn, l, heads,
                     lt_shape_str(theta, b1), lt_shape_str(e, b2));
            return NULL;
        }
    }
    float e_max = logf(t_ctx), margin = gamma * e_max;
    lt_tensor *total = NULL;
    for (int l = 0; l < n_layers; l++) {
        lt_tensor *e = row_entropy[l];   // [B,H,T]
        lt_tensor *target, *ent;
        if (reduction == LT_EG_PAPER) {
            target = lt_reshape(c, lt_slice(c, theta, 0, l, 1), 1, (int[]){heads});            // [H]
            ent = lt_mean(c, lt_mean(c, e, 2, 0), 0, 0);                                         // [H]
        } else {
            target = lt_reshape(c, lt_slice(c, theta, 0, l, 1), 2, (int[]){heads, 1});         // [H,1]
            ent = e;                                                                              // [B,H,T]
        }
        lt_tensor *delta = lt_sub(c, ent, lt_scale(c, target, e_max));
        if (!delta) return NULL;
        lt_tensor *mask = dead_zone_mask(c, delta, margin);
        lt_tensor *pen = lt_sum(c, lt_mul(c, lt_mul(c, delta, delta), mask), LT_AXIS_ALL, 0);
        total = total ? lt_add(c, total, pen) : pen;
        if (!total) return NULL;
    }
    return lt_scale(c, total, 1.0f / ((float)n_layers * (float)heads));
}

lt_tensor *lt_entropy_floor_loss(lt_ctx *c, lt_tensor *row_entropy, float min_entropy) {
    const char *fn = "entropy_floor_loss";
    char b[64];
    if (!row_entropy) return NULL;
    if (!isfinite(min_entropy)) {
        lt_error(LT_ERR_ARG, "%s: min_entropy must be finite, got %g", fn, (double)min_entropy);
        return NULL;
    }
    if (lt_expect_dtype(fn, "row_entropy", row_entropy, LT_F32) != LT_OK) return NULL;
    if (row_entropy->ndim != 3) {
        lt_error(LT_ERR_SHAPE, "%s: row_entropy must be [B,H,T], got %s", fn, lt_shape_str(row_entropy, b));
        return NULL;
    }
    lt_tensor *floor = lt_tensor_from(c, LT_F32, 0, (int[]){1}, &min_entropy);
    lt_tensor *head_mean = lt_mean(c, lt_mean(c, row_entropy, 2, 0), 0, 0);   // [H]
    lt_tensor *gap = lt_relu(c, lt_sub(c, floor, head_mean));                   // [H]
    return lt_mean(c, lt_mul(c, gap, gap), LT_AXIS_ALL, 0);
}
