#include "autograd/ctx.h"
#include "libtrain/device.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

lt_ctx *lt_ctx_new(lt_device dev, uint64_t seed) {
    if (lt_device_check(dev) != LT_OK) return NULL;
    lt_ctx *c = calloc(1, sizeof *c);
    if (!c) { lt_error(LT_ERR_OOM, "lt_ctx_new: out of memory"); return NULL; }
    c->device = dev;
    lt_arena_init(&c->arena, (size_t)1 << 24);
    // The device arena starts empty and takes its first chunk on first use.
    lt_arena_init_on(&c->dev_arena, dev, 0);
    lt_rng_init(&c->rng, seed);
    c->training = 1;
    if (getenv("LT_POISON")) c->arena.poison = c->dev_arena.poison = 1;
    return c;
}

void lt_ctx_free(lt_ctx *c) {
    if (!c) return;
    lt_arena_free(&c->arena);
    lt_arena_free(&c->dev_arena);
    free(c->tape);
    free(c);
}

void lt_ctx_reset(lt_ctx *c) {
    c->tape_len = 0;
    lt_arena_reset(&c->arena);
    lt_arena_reset(&c->dev_arena);
}

void *lt_ctx_alloc_on(lt_ctx *c, lt_device d, size_t bytes) {
    if (d == LT_CPU) return lt_arena_alloc(&c->arena, bytes);
    if (d != c->dev_arena.device) {
        lt_error(LT_ERR_ARG, "step memory on %s asked of a context on %s", lt_device_name(d),
                 lt_device_name(c->device));
        return NULL;
    }
    return lt_arena_alloc(&c->dev_arena, bytes);
}

lt_status lt_ctx_sync(lt_ctx *c) { return lt_device_sync(c->device); }

lt_tensor *lt_tensor_new(lt_ctx *c, lt_dtype dt, int ndim, const int *shape) {
    if (lt_shape_check("lt_tensor_new", ndim, shape) != LT_OK) return NULL;
    lt_tensor *t = lt_arena_alloc(&c->arena, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof(int) * (size_t)ndim);
    t->numel = lt_shape_numel(ndim, shape);
    t->dtype = dt;
    t->device = c->device;
    t->data = lt_ctx_alloc_on(c, c->device, (size_t)t->numel * lt_dtype_size(dt));
    return t->data ? t : NULL;
}

lt_tensor *lt_tensor_zeros(lt_ctx *c, lt_dtype dt, int ndim, const int *shape) {
    lt_tensor *t = lt_tensor_new(c, dt, ndim, shape);
    if (t && lt_device_memset(t->device, t->data, 0, (size_t)t->numel * lt_dtype_size(dt)) != LT_OK) return NULL;
    return t;
}

lt_tensor *lt_tensor_from(lt_ctx *c, lt_dtype dt, int ndim, const int *shape, const void *src) {
    lt_tensor *t = lt_tensor_new(c, dt, ndim, shape);
    if (t && lt_device_copy(t->device, t->data, LT_CPU, src, (size_t)t->numel * lt_dtype_size(dt)) != LT_OK)
        return NULL;
    return t;
}

lt_tensor *lt_tensor_leaf(lt_ctx *c, int ndim, const int *shape, const float *src) {
    lt_tensor *t = src ? lt_tensor_from(c, LT_F32, ndim, shape, src) : lt_tensor_zeros(c, LT_F32, ndim, shape);
    if (t) t->requires_grad = 1;
    return t;
}

lt_status lt_tensor_to_host(const lt_tensor *t, void *dst) {
    return lt_device_copy(LT_CPU, dst, t->device, t->data, (size_t)t->numel * lt_dtype_size(t->dtype));
}

float lt_tensor_item(const lt_tensor *t) {
    if (!t) return NAN;
    float v[1];
    if (t->dtype == LT_I32) {
        int32_t iv[1];
        if (lt_device_copy(LT_CPU, iv, t->device, t->data, 4) != LT_OK) return NAN;
        return (float)iv[0];
    }
    if (lt_device_copy(LT_CPU, v, t->device, t->data, 4) != LT_OK) return NAN;
    return v[0];
}
