#include "libtrain/params.h"
#include "libtrain/device.h"

#include <stdlib.h>
#include <string.h>

void lt_params_init(lt_params *ps, lt_device dev) { memset(ps, 0, sizeof *ps); ps->device = dev; }

void lt_params_free(lt_params *ps) {
    for (int i = 0; i < ps->n; i++) { free((char *)ps->t[i]->name); lt_tensor_free(ps->t[i]); }
    free(ps->t);
    memset(ps, 0, sizeof *ps);
}

lt_tensor *lt_params_find(const lt_params *ps, const char *name) {
    for (int i = 0; i < ps->n; i++) if (!strcmp(ps->t[i]->name, name)) return ps->t[i];
    return NULL;
}

lt_tensor *lt_param_new(lt_params *ps, const char *name, int ndim, const int *shape) {
    if (lt_params_find(ps, name)) { lt_error(LT_ERR_ARG, "parameter '%s' registered twice", name); return NULL; }
    if (ps->n == ps->cap) {
        int cap = ps->cap ? ps->cap * 2 : 32;
        lt_tensor **t = realloc(ps->t, sizeof *t * (size_t)cap);
        if (!t) { lt_error(LT_ERR_OOM, "parameter table"); return NULL; }
        ps->t = t; ps->cap = cap;
    }
    lt_tensor *p = lt_tensor_alloc(LT_F32, ps->device, ndim, shape);
    if (!p) return NULL;
    p->name = strdup(name);
    p->is_param = 1;
    p->requires_grad = 1;
    ps->t[ps->n++] = p;
    return p;
}

void lt_param_freeze(lt_tensor *p, int frozen) { p->requires_grad = (unsigned char)!frozen; }

void lt_params_zero_grad(lt_params *ps) {
    for (int i = 0; i < ps->n; i++)
        if (ps->t[i]->grad) lt_device_memset(ps->device, ps->t[i]->grad, 0, sizeof(float) * (size_t)ps->t[i]->numel);
}

int64_t lt_params_numel(const lt_params *ps, int trainable_only) {
    int64_t n = 0;
    for (int i = 0; i < ps->n; i++) if (!trainable_only || ps->t[i]->requires_grad) n += ps->t[i]->numel;
    return n;
}

lt_status lt_param_set(lt_tensor *p, const float *host) {
    return lt_device_copy(p->device, p->data, LT_CPU, host, sizeof(float) * (size_t)p->numel);
}

static lt_status fill_with(lt_tensor *p, lt_rng *rng, int normal, float a, float b) {
    float *h = malloc(sizeof(float) * (size_t)p->numel);
    if (!h) return lt_error(LT_ERR_OOM, "init of '%s'", p->name ? p->name : "?");
    if (normal) lt_rng_fill_normal(rng, h, p->numel, a, b);
    else lt_rng_fill_uniform(rng, h, p->numel, a, b);
    lt_status s = lt_param_set(p, h);
    free(h);
    return s;
}

lt_status lt_param_uniform(lt_tensor *p, lt_rng *rng, float lo, float hi) { return fill_with(p, rng, 0, lo, hi); }
lt_status lt_param_normal(lt_tensor *p, lt_rng *rng, float mean, float std) { return fill_with(p, rng, 1, mean, std); }

lt_status lt_param_fill(lt_tensor *p, float v) {
    float *h = malloc(sizeof(float) * (size_t)p->numel);
    if (!h) return lt_error(LT_ERR_OOM, "init of '%s'", p->name ? p->name : "?");
    for (int64_t i = 0; i < p->numel; i++) h[i] = v;
    lt_status s = lt_param_set(p, h);
    free(h);
    return s;
}
