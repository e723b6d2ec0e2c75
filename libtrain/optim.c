#include "libtrain/optim.h"
#include "libtrain/device.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

lt_sgd_opts lt_sgd_defaults(float lr) { return (lt_sgd_opts){lr, 0.f, 0.f, 0.f, 0}; }
lt_adamw_opts lt_adamw_defaults(float lr) { return (lt_adamw_opts){lr, 0.9f, 0.999f, 1e-8f, 1e-2f}; }

static lt_optim *optim_new(lt_params *ps, lt_optim_kind kind, int n_buffers) {
    if (ps->device != LT_CPU) {
        lt_error(LT_ERR_UNSUPPORTED, "optimizer: parameters on %s are not supported yet", lt_device_name(ps->device));
        return NULL;
    }
    lt_optim *o = calloc(1, sizeof *o);
    if (!o) { lt_error(LT_ERR_OOM, "optimizer"); return NULL; }
    o->kind = kind;
    o->params = ps;
    o->m = calloc((size_t)ps->n + 1, sizeof *o->m);
    o->v = calloc((size_t)ps->n + 1, sizeof *o->v);
    o->steps = calloc((size_t)ps->n + 1, sizeof *o->steps);
    if (!o->m || !o->v || !o->steps) { lt_optim_free(o); lt_error(LT_ERR_OOM, "optimizer state"); return NULL; }
    for (int i = 0; i < ps->n; i++) {
        lt_tensor *p = ps->t[i];
        if (!p->requires_grad) continue;
        if (n_buffers >= 1 && !(o->m[i] = lt_tensor_alloc(LT_F32, p->device, p->ndim, p->shape))) goto oom;
        if (n_buffers >= 2 && !(o->v[i] = lt_tensor_alloc(LT_F32, p->device, p->ndim, p->shape))) goto oom;
    }
    return o;
oom:
    lt_optim_free(o);
    return NULL;
}

lt_optim *lt_optim_sgd(lt_params *ps, lt_sgd_opts opts) {
    if (!(opts.lr >= 0) || opts.momentum < 0 || opts.weight_decay < 0) {
        lt_error(LT_ERR_ARG, "SGD: lr, momentum and weight_decay must be >= 0 (got %g, %g, %g)", opts.lr,
                 opts.momentum, opts.weight_decay);
        return NULL;
    }
    if (opts.nesterov && (opts.momentum <= 0 || opts.dampening != 0)) {
        lt_error(LT_ERR_ARG, "SGD: nesterov needs momentum > 0 and dampening 0");
        return NULL;
    }
    lt_optim *o = optim_new(ps, LT_OPTIM_SGD, opts.momentum > 0 ? 1 : 0);
    if (o) { o->sgd = opts; o->lr = opts.lr; }
    return o;
}

lt_optim *lt_optim_adamw(lt_params *ps, lt_adamw_opts opts) {
    if (!(opts.lr >= 0) || !(opts.beta1 >= 0 && opts.beta1 < 1) || !(opts.beta2 >= 0 && opts.beta2 < 1) ||
        !(opts.eps >= 0) || !(opts.weight_decay >= 0)) {
        lt_error(LT_ERR_ARG, "AdamW: invalid options lr=%g beta1=%g beta2=%g eps=%g weight_decay=%g", opts.lr,
                 opts.beta1, opts.beta2, opts.eps, opts.weight_decay);
        return NULL;
    }
    lt_optim *o = optim_new(ps, LT_OPTIM_ADAMW, 2);
    if (o) { o->adamw = opts; o->lr = opts.lr; }
    return o;
}

void lt_optim_free(lt_optim *o) {
    if (!o) return;
    if (o->m) for (int i = 0; i < o->params->n; i++) lt_tensor_free(o->m[i]);
    if (o->v) for (int i = 0; i < o->params->n; i++) lt_tensor_free(o->v[i]);
    free(o->m); free(o->v); free(o->steps); free(o);
}

static void sgd_update(const lt_sgd_opts *s, float lr, float wd, float *p, const float *g, float *buf, int64_t n,
                       int first) {
    #pragma omp parallel for if (n > 32768)
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        if (buf) {
            buf[i] = first ? d : s->momentum * buf[i] + (1.f - s->dampening) * d;
            d = s->nesterov ? d + s->momentum * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
}

static void adamw_update(const lt_adamw_opts *a, float lr, float wd, int64_t t, float *p, const float *g, float *m,
                         float *v, int64_t n) {
    // Same operation order as torch's single-tensor AdamW (foreach=False).
    float bc1 = 1.f - powf(a->beta1, (float)t), bc2 = 1.f - powf(a->beta2, (float)t);
    float step_size = lr / bc1, bc2_sqrt = sqrtf(bc2);
    float decay = 1.f - lr * wd;
    #pragma omp parallel for if (n > 32768)
    for (int64_t i = 0; i < n; i++) {
        p[i] *= decay;
        m[i] += (g[i] - m[i]) * (1.f - a->beta1);
        v[i] = v[i] * a->beta2 + (1.f - a->beta2) * g[i] * g[i];
        float denom = sqrtf(v[i]) / bc2_sqrt + a->eps;
        p[i] -= step_size * m[i] / denom;
    }
}

lt_status lt_optim_step(lt_optim *o) {
    lt_params *ps = o->params;
    for (int i = 0; i < ps->n; i++) {
        lt_tensor *p = ps->t[i];
        if (!p->requires_grad || !p->grad) continue;
        o->steps[i]++;
        if (o->kind == LT_OPTIM_SGD)
            sgd_update(&o->sgd, o->lr, p->no_decay ? 0.f : o->sgd.weight_decay, lt_f32(p), p->grad,
                       o->m[i] ? lt_f32(o->m[i]) : NULL, p->numel, o->steps[i] == 1);
        else
            adamw_update(&o->adamw, o->lr, p->no_decay ? 0.f : o->adamw.weight_decay, o->steps[i], lt_f32(p), p->grad,
                         lt_f32(o->m[i]), lt_f32(o->v[i]), p->numel);
    }
    return LT_OK;
}

double lt_clip_grad_norm(lt_params *ps, double max_norm) {
    double ss = 0;
    for (int i = 0; i < ps->n; i++) {
        lt_tensor *p = ps->t[i];
        if (!p->requires_grad || !p->grad) continue;
        double s = 0;
        for (int64_t j = 0; j < p->numel; j++) s += (double)p->grad[j] * p->grad[j];
        ss += s;
    }
    double norm = sqrt(ss);
    if (!isfinite(norm)) return NAN;
    if (max_norm > 0 && norm > max_norm) {
        float k = (float)(max_norm / (norm + 1e-6));
        for (int i = 0; i < ps->n; i++) {
            lt_tensor *p = ps->t[i];
            if (!p->requires_grad || !p->grad) continue;
            for (int64_t j = 0; j < p->numel; j++) p->grad[j] *= k;
        }
    }
    return norm;
}
