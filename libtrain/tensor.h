// Tensors: contiguous, row-major, up to 5 dims, f32 or i32, tagged with a device.
#ifndef LT_TENSOR_H
#define LT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "libtrain/status.h"

#define LT_MAX_DIMS 5

typedef enum { LT_F32 = 0, LT_I32 = 1 } lt_dtype;
typedef enum { LT_CPU = 0, LT_CUDA = 1, LT_DEVICE_COUNT } lt_device;

struct lt_node;

typedef struct lt_tensor {
    void *data;               // numel elements of dtype, on `device`
    float *grad;              // f32, same numel; NULL unless backward reached it
    int64_t numel;
    int ndim;                 // 0 is a scalar (numel 1)
    int shape[LT_MAX_DIMS];
    lt_dtype dtype;
    lt_device device;
    unsigned char requires_grad;  // gradients flow into this tensor
    unsigned char is_param;       // persistent, owned by an lt_params
    unsigned char owns_data;      // data (and grad) freed by lt_tensor_free
    unsigned char no_decay;       // parameters: optimizers apply no weight decay (biases, gains)
    struct lt_node *node;         // op that produced it; NULL for leaves
    const char *name;             // parameter name ("fc1.weight"); NULL otherwise
} lt_tensor;

static inline float *lt_f32(const lt_tensor *t) { return (float *)t->data; }
static inline int32_t *lt_i32(const lt_tensor *t) { return (int32_t *)t->data; }

size_t lt_dtype_size(lt_dtype dt);
const char *lt_dtype_name(lt_dtype dt);
const char *lt_device_name(lt_device d);
int64_t lt_shape_numel(int ndim, const int *shape);
// Validates a shape (ndim in [0,5], every dim >= 1); `what` names the caller in the message.
lt_status lt_shape_check(const char *what, int ndim, const int *shape);
int lt_same_shape(const lt_tensor *a, const lt_tensor *b);
// "[3,5,7]" into buf (at least 64 bytes); returns buf.
const char *lt_shape_str(const lt_tensor *t, char *buf);
const char *lt_shape_str_n(int ndim, const int *shape, char *buf);
// Normalizes a possibly negative axis; error naming `op` if out of range.
lt_status lt_axis(const char *op, const lt_tensor *t, int axis, int *out);

// Persistent tensor (parameters, optimizer state, datasets). Zero-filled.
lt_tensor *lt_tensor_alloc(lt_dtype dt, lt_device dev, int ndim, const int *shape);
void lt_tensor_free(lt_tensor *t);

// Shape literal: lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(3, 5)).
#define LT_SHAPE(...) (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (int[]){__VA_ARGS__}

#endif
