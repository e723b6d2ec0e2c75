#include "libtrain/tensor.h"
#include "libtrain/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t lt_dtype_size(lt_dtype dt) { return dt == LT_I32 ? 4 : 4; }
const char *lt_dtype_name(lt_dtype dt) { return dt == LT_I32 ? "i32" : "f32"; }
const char *lt_device_name(lt_device d) { return d == LT_CUDA ? "cuda" : "cpu"; }

int64_t lt_shape_numel(int ndim, const int *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

const char *lt_shape_str_n(int ndim, const int *shape, char *buf) {
    int k = sprintf(buf, "[");
    for (int i = 0; i < ndim && i < LT_MAX_DIMS; i++) k += sprintf(buf + k, i ? ",%d" : "%d", shape[i]);
    sprintf(buf + k, "]");
    return buf;
}

const char *lt_shape_str(const lt_tensor *t, char *buf) { return lt_shape_str_n(t->ndim, t->shape, buf); }

lt_status lt_shape_check(const char *what, int ndim, const int *shape) {
    if (ndim < 0 || ndim > LT_MAX_DIMS)
        return lt_error(LT_ERR_SHAPE, "%s: %d dims requested, at most %d supported", what, ndim, LT_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 1) {
            char b[64];
            return lt_error(LT_ERR_SHAPE, "%s: shape %s has a dimension < 1", what, lt_shape_str_n(ndim, shape, b));
        }
    return LT_OK;
}

int lt_same_shape(const lt_tensor *a, const lt_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++) if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

lt_status lt_axis(const char *op, const lt_tensor *t, int axis, int *out) {
    int a = axis < 0 ? axis + t->ndim : axis;
    if (a < 0 || a >= t->ndim) {
        char b[64];
        return lt_error(LT_ERR_SHAPE, "%s: axis %d out of range for shape %s", op, axis, lt_shape_str(t, b));
    }
    *out = a;
    return LT_OK;
}

lt_tensor *lt_tensor_alloc(lt_dtype dt, lt_device dev, int ndim, const int *shape) {
    if (lt_shape_check("lt_tensor_alloc", ndim, shape) != LT_OK) return NULL;
    lt_tensor *t = calloc(1, sizeof *t);
    if (!t) { lt_error(LT_ERR_OOM, "lt_tensor_alloc: out of host memory"); return NULL; }
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof(int) * (size_t)ndim);
    t->numel = lt_shape_numel(ndim, shape);
    t->dtype = dt;
    t->device = dev;
    t->owns_data = 1;
    t->data = lt_device_alloc(dev, (size_t)t->numel * lt_dtype_size(dt));
    if (!t->data) { free(t); return NULL; }
    if (lt_device_memset(dev, t->data, 0, (size_t)t->numel * lt_dtype_size(dt)) != LT_OK) {
        lt_device_free(dev, t->data); free(t); return NULL;
    }
    return t;
}

void lt_tensor_free(lt_tensor *t) {
    if (!t) return;
    if (t->owns_data) { lt_device_free(t->device, t->data); lt_device_free(t->device, t->grad); }
    free(t);
}
