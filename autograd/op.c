#include "autograd/ctx.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

// Adding an op means changing this number together with ops.def, the CPU
// kernels and the tests: the compiler stops a half-registered op here.
static_assert(LT_OP_COUNT == 34, "ops.def changed: update kernels, tests, then this count");

static const char *const op_names[LT_OP_COUNT] = {
#define LT_OP(name) [LT_OP_##name] = #name,
#include "autograd/ops.def"
#undef LT_OP
};

const char *lt_op_name(lt_op op) { return (op >= 0 && op < LT_OP_COUNT) ? op_names[op] : "?"; }

extern const lt_backend lt_backend_cpu;
#ifdef LT_HAVE_CUDA
extern const lt_backend lt_backend_cuda;
#endif

const lt_backend *lt_backend_get(lt_device d) {
    if (d == LT_CPU) return &lt_backend_cpu;
#ifdef LT_HAVE_CUDA
    if (d == LT_CUDA) return &lt_backend_cuda;
#endif
    return NULL;
}

int lt_backend_supports(lt_device d, lt_op op) {
    const lt_backend *b = lt_backend_get(d);
    return b && b->ops[op].fwd && b->ops[op].bwd;
}

lt_status lt_expect_dtype(const char *op, const char *arg, const lt_tensor *t, lt_dtype dt) {
    if (t->dtype == dt) return LT_OK;
    return lt_error(LT_ERR_DTYPE, "%s: %s must be %s, got %s", op, arg, lt_dtype_name(dt), lt_dtype_name(t->dtype));
}

lt_node *lt_node_new(lt_ctx *c, lt_op op, int n_in, lt_tensor *const *in) {
    for (int i = 0; i < n_in; i++) if (!in[i]) return NULL;
    for (int i = 1; i < n_in; i++)
        if (in[i]->device != in[0]->device) {
            lt_error(LT_ERR_ARG, "%s: input %d is on %s but input 0 is on %s", lt_op_name(op), i,
                     lt_device_name(in[i]->device), lt_device_name(in[0]->device));
            return NULL;
        }
    lt_node *n = lt_arena_alloc(&c->arena, sizeof *n);
    if (!n) return NULL;
    memset(n, 0, sizeof *n);
    n->op = op;
    n->ctx = c;
    n->n_in = n_in;
    n->in = lt_arena_alloc(&c->arena, sizeof(lt_tensor *) * (size_t)(n_in ? n_in : 1));
    if (!n->in) return NULL;
    for (int i = 0; i < n_in; i++) n->in[i] = in[i];
    int needs_grad = 0;
    if (lt_grad_enabled(c))
        for (int i = 0; i < n_in; i++) needs_grad |= in[i]->requires_grad;
    n->recorded = needs_grad;
    return n;
}

static lt_tensor *output_header(lt_node *n, int i, lt_dtype dt, int ndim, const int *shape) {
    if (lt_shape_check(lt_op_name(n->op), ndim, shape) != LT_OK) return NULL;
    lt_tensor *t = lt_arena_alloc(&n->ctx->arena, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof(int) * (size_t)ndim);
    t->numel = lt_shape_numel(ndim, shape);
    t->dtype = dt;
    t->device = n->n_in ? n->in[0]->device : n->ctx->device;
    t->requires_grad = (unsigned char)(n->recorded && dt == LT_F32);
    t->node = n->recorded ? n : NULL;
    n->out[i] = t;
    if (i + 1 > n->n_out) n->n_out = i + 1;
    return t;
}

lt_tensor *lt_node_output(lt_node *n, int i, lt_dtype dt, int ndim, const int *shape) {
    lt_tensor *t = output_header(n, i, dt, ndim, shape);
    if (!t) return NULL;
    t->data = lt_ctx_alloc_on(n->ctx, t->device, (size_t)t->numel * lt_dtype_size(dt));
    return t->data ? t : NULL;
}

lt_tensor *lt_node_output_alias(lt_node *n, int i, const lt_tensor *src, int ndim, const int *shape) {
    lt_tensor *t = output_header(n, i, src->dtype, ndim, shape);
    if (!t) return NULL;
    t->data = src->data;
    return t;
}

void *lt_node_save(lt_node *n, size_t bytes) { return lt_arena_alloc(&n->ctx->arena, bytes); }

void *lt_node_save_data(lt_node *n, size_t bytes) {
    lt_device d = n->n_out ? n->out[0]->device : n->ctx->device;
    return lt_ctx_alloc_on(n->ctx, d, bytes);
}

lt_tensor *lt_node_run(lt_node *n) {
    lt_ctx *c = n->ctx;
    lt_device d = n->out[0]->device;
    const lt_backend *b = lt_backend_get(d);
    if (!b || !b->ops[n->op].fwd) {
        lt_error(LT_ERR_UNSUPPORTED, "op %s has no %s kernel", lt_op_name(n->op), lt_device_name(d));
        return NULL;
    }
    if (b->ops[n->op].fwd(n) != LT_OK) return NULL;
    if (n->recorded) {
        if (c->tape_len == c->tape_cap) {
            int cap = c->tape_cap ? c->tape_cap * 2 : 1024;
            lt_node **t = realloc(c->tape, sizeof *t * (size_t)cap);
            if (!t) { lt_error(LT_ERR_OOM, "tape: cannot grow to %d nodes", cap); return NULL; }
            c->tape = t; c->tape_cap = cap;
        }
        c->tape[c->tape_len++] = n;
    }
    return n->out[0];
}
