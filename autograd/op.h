// The op contract: nodes, kernels, backends. Kernel authors include this.
//
// A builder (kernels/*.c) checks its inputs, creates a node with lt_node_new,
// declares outputs with lt_node_output, and calls lt_node_run, which runs the
// device's forward kernel and, when a gradient can flow, records the node on
// the tape. Backward kernels read out[i]->grad (NULL means zero) and ADD into
// in[j]->grad for every input whose grad is non-NULL (the engine allocates and
// zeroes it exactly for inputs that require grad; frozen ones stay NULL).
#ifndef LT_OP_H
#define LT_OP_H

#include "libtrain/tensor.h"

typedef enum {
#define LT_OP(name) LT_OP_##name,
#include "autograd/ops.def"
#undef LT_OP
    LT_OP_COUNT
} lt_op;

#define LT_NODE_MAX_OUT 4
#define LT_NODE_MAX_ATTR 12

struct lt_ctx;

typedef struct lt_node {
    lt_op op;
    struct lt_ctx *ctx;
    int n_in, n_out;
    lt_tensor **in;                     // n_in inputs (arena array)
    lt_tensor *out[LT_NODE_MAX_OUT];
    int64_t iattr[LT_NODE_MAX_ATTR];    // op-specific integer attributes
    float fattr[LT_NODE_MAX_ATTR];      // op-specific float attributes
    void *saved;                        // op-specific data saved by forward for backward
    int recorded;                       // on the tape: forward must save what backward needs
} lt_node;

typedef lt_status (*lt_kernel)(lt_node *n);
typedef struct { lt_kernel fwd, bwd; } lt_kernel_pair;

// A backend declares what it supports: a NULL entry means "not on this device",
// reported as LT_ERR_UNSUPPORTED naming the op and device.
typedef struct {
    const char *name;
    lt_kernel_pair ops[LT_OP_COUNT];
} lt_backend;

const char *lt_op_name(lt_op op);
const lt_backend *lt_backend_get(lt_device d);
int lt_backend_supports(lt_device d, lt_op op);

// Node construction (builders). lt_node_new returns NULL without touching the
// recorded error if any input is NULL, so errors propagate through chains of
// ops: `lt_relu(c, lt_matmul(c, x, w))` returns NULL with matmul's message.
lt_node *lt_node_new(struct lt_ctx *c, lt_op op, int n_in, lt_tensor *const *in);
lt_tensor *lt_node_output(lt_node *n, int i, lt_dtype dt, int ndim, const int *shape);
// Output that shares its data with input `src` (reshape): no copy in forward.
lt_tensor *lt_node_output_alias(lt_node *n, int i, const lt_tensor *src, int ndim, const int *shape);
lt_tensor *lt_node_run(lt_node *n);             // returns out[0], or NULL with the error recorded
void *lt_node_save(lt_node *n, size_t bytes);   // host arena memory living until the ctx reset
// Memory on the node's device (its out[0]'s), living until the ctx reset: what a
// device kernel saves for its backward, or scratch it needs. NULL + error.
void *lt_node_save_data(lt_node *n, size_t bytes);

// Builder checks that name the op and shapes in their message.
lt_status lt_expect_dtype(const char *op, const char *arg, const lt_tensor *t, lt_dtype dt);

#endif
