// The training context: device, per-step arena, tape, grad mode, RNG stream.
#ifndef LT_CTX_H
#define LT_CTX_H

#include "libtrain/arena.h"
#include "libtrain/rng.h"
#include "autograd/op.h"

typedef struct lt_ctx {
    lt_device device;
    lt_arena arena;           // host: nodes, tensor headers; CPU steps' data and grads; reset each step
    lt_arena dev_arena;       // CUDA steps' tensor data and activation grads (device memory); reset each step
    lt_node **tape;
    int tape_len, tape_cap;   // capacity persists across resets
    int no_grad;              // depth of open no-grad scopes
    int training;             // stochastic ops (dropout) active
    lt_rng rng;               // stream for stochastic ops; part of the training state
} lt_ctx;

lt_ctx *lt_ctx_new(lt_device dev, uint64_t seed);
void lt_ctx_free(lt_ctx *c);
// Ends a step: drops the tape and every arena tensor. Parameters are untouched.
void lt_ctx_reset(lt_ctx *c);

static inline void lt_no_grad_begin(lt_ctx *c) { c->no_grad++; }
static inline void lt_no_grad_end(lt_ctx *c) { c->no_grad--; }
static inline int lt_grad_enabled(const lt_ctx *c) { return c->no_grad == 0; }

// Step memory on device `d` (host arena for LT_CPU, the device arena otherwise),
// valid until the next lt_ctx_reset. NULL with the error recorded.
void *lt_ctx_alloc_on(lt_ctx *c, lt_device d, size_t bytes);
// Waits for the device's queued work and reports an asynchronous failure (a
// kernel fault) as a status naming it. A no-op on CPU.
lt_status lt_ctx_sync(lt_ctx *c);

// Arena tensors (inputs of a step). lt_tensor_from copies `src` from the host.
lt_tensor *lt_tensor_new(lt_ctx *c, lt_dtype dt, int ndim, const int *shape);
lt_tensor *lt_tensor_zeros(lt_ctx *c, lt_dtype dt, int ndim, const int *shape);
lt_tensor *lt_tensor_from(lt_ctx *c, lt_dtype dt, int ndim, const int *shape, const void *src);
// Leaf that takes gradients (tests, inputs being optimized).
lt_tensor *lt_tensor_leaf(lt_ctx *c, int ndim, const int *shape, const float *src);
// Copies a tensor's values to host memory.
lt_status lt_tensor_to_host(const lt_tensor *t, void *dst);
float lt_tensor_item(const lt_tensor *t);   // first element as f32 (NaN on error)

// Backward from a scalar (numel 1) with seed 1, or from any tensor with an
// explicit upstream gradient (host array, numel floats). Gradients accumulate.
lt_status lt_backward(lt_ctx *c, lt_tensor *loss);
lt_status lt_backward_from(lt_ctx *c, lt_tensor *out, const float *grad_out);

#endif
