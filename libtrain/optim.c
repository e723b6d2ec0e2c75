#include "libtrain/optim.h"
#include "libtrain/device.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef LT_HAVE_CUDA
// kernels/cuda/optim.cu: the same updates on device pointers, queued on the libtrain stream.
lt_status lt_cuda_sgd_update(float *p, const float *g, float *buf, int64_t n, float lr, float wd, float momentum,
                             float dampening, int nesterov, int first);
lt_status lt_cuda_adamw_update(float *p, const float *g, float *m, float *v, int64_t n, float lr, float wd,
                               float beta1, float beta2, float eps, int64_t step);
lt_status lt_cuda_sumsq(const float *g, int64_t n, double *dev_acc);
lt_status lt_cuda_scale_inplace(float *g, int64_t n, float k);
#endif

// Parameters on CPU, or on CUDA when the backend is built.
static lt_status device_supported(const char *what, lt_device d) {
    if (d == LT_CPU) return LT_OK;
#ifdef LT_HAVE_CUDA
    if (d == LT_CUDA) return LT_OK;
#endif
    return lt_error(LT_ERR_UNSUPPORTED, "%s: parameters are on %s, but this libtrain was built without the CUDA "
                                        "backend (no nvcc found at configure time)", what, lt_device_name(d));
}

lt_sgd_opts lt_sgd_defaults(float lr) { return (lt_sgd_opts){lr, 0.f, 0.f, 0.f, 0}; }
lt_adamw_opts lt_adamw_defaults(float lr) { return (lt_adamw_opts){lr, 0.9f, 0.999f, 1e-8f, 1e-2f}; }

static lt_optim *optim_new(lt_params *ps, lt_optim_kind kind, int n_buffers) {
    if (device_supported("optimizer", ps->device) != LT_OK) return NULL;
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

// Parameter i's update on its device (not the CPU): kernels queued on the
// stream, nothing waited for.
static lt_status step_on_device(lt_optim *o, int i, lt_tensor *p) {
#ifdef LT_HAVE_CUDA
    if (p->device == LT_CUDA) {
        if (o->kind == LT_OPTIM_SGD)
            return lt_cuda_sgd_update(lt_f32(p), p->grad, o->m[i] ? lt_f32(o->m[i]) : NULL, p->numel, o->lr,
                                      p->no_decay ? 0.f : o->sgd.weight_decay, o->sgd.momentum, o->sgd.dampening,
                                      o->sgd.nesterov, o->steps[i] == 1);
        return lt_cuda_adamw_update(lt_f32(p), p->grad, lt_f32(o->m[i]), lt_f32(o->v[i]), p->numel, o->lr,
                                    p->no_decay ? 0.f : o->adamw.weight_decay, o->adamw.beta1, o->adamw.beta2,
                                    o->adamw.eps, o->steps[i]);
    }
#endif
    return device_supported("optimizer step", p->device);
}

lt_status lt_optim_step(lt_optim *o) {
    lt_params *ps = o->params;
    for (int i = 0; i < ps->n; i++) {
        lt_tensor *p = ps->t[i];
        if (!p->requires_grad || !p->grad) continue;
        o->steps[i]++;
        if (p->device != LT_CPU) {
            LT_TRY(step_on_device(o, i, p));
            continue;
        }
        if (o->kind == LT_OPTIM_SGD)
            sgd_update(&o->sgd, o->lr, p->no_decay ? 0.f : o->sgd.weight_decay, lt_f32(p), p->grad,
                       o->m[i] ? lt_f32(o->m[i]) : NULL, p->numel, o->steps[i] == 1);
        else
            adamw_update(&o->adamw, o->lr, p->no_decay ? 0.f : o->adamw.weight_decay, o->steps[i], lt_f32(p), p->grad,
                         lt_f32(o->m[i]), lt_f32(o->v[i]), p->numel);
    }
    return LT_OK;
}

// lt_clip_grad_norm for parameters on a device: the squares are summed into
// one device double, and its 8 bytes are the only copy back to the host (the
// one wait of the step), needed to decide clipping and to see a non-finite
// norm. NaN with the error recorded if a device call fails.
static double clip_grad_norm_on_device(lt_params *ps, double max_norm) {
#ifdef LT_HAVE_CUDA
    if (ps->device == LT_CUDA) {
        static double *acc;   // device scratch, allocated on first use and kept for the process
        if (!acc && !(acc = lt_device_alloc(LT_CUDA, sizeof *acc))) return NAN;
        if (lt_device_memset(LT_CUDA, acc, 0, sizeof *acc) != LT_OK) return NAN;
        for (int i = 0; i < ps->n; i++) {
            lt_tensor *p = ps->t[i];
            if (!p->requires_grad || !p->grad) continue;
            if (lt_cuda_sumsq(p->grad, p->numel, acc) != LT_OK) return NAN;
        }
        double ss = 0;
        if (lt_device_copy(LT_CPU, &ss, LT_CUDA, acc, sizeof ss) != LT_OK) return NAN;
        double norm = sqrt(ss);
        if (!isfinite(norm)) return NAN;
        if (max_norm > 0 && norm > max_norm) {
            float k = (float)(max_norm / (norm + 1e-6));
            for (int i = 0; i < ps->n; i++) {
                lt_tensor *p = ps->t[i];
                if (!p->requires_grad || !p->grad) continue;
                if (lt_cuda_scale_inplace(p->grad, p->numel, k) != LT_OK) return NAN;
            }
        }
        return norm;
    }
#endif
    device_supported("clip_grad_norm", ps->device);
    return NAN;
}

double lt_clip_grad_norm(lt_params *ps, double max_norm) {
    if (ps->device != LT_CPU) return clip_grad_norm_on_device(ps, max_norm);
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
