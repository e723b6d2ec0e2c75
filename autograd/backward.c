// Reverse-mode sweep over the tape.
#include "autograd/ctx.h"
#include "libtrain/device.h"

#include <stdlib.h>

// Gives `t` a zeroed gradient buffer if it has none. Parameters own theirs
// (allocated once, zeroed by the optimizer); activations take arena memory.
static lt_status grad_ensure(lt_ctx *c, lt_tensor *t) {
    if (t->grad) return LT_OK;
    size_t bytes = sizeof(float) * (size_t)t->numel;
    if (t->is_param) {
        t->grad = lt_device_alloc(t->device, bytes);
        if (!t->grad) return lt_last_status();
    } else {
        t->grad = lt_ctx_alloc_on(c, t->device, bytes);
        if (!t->grad) return lt_last_status();
    }
    return lt_device_memset(t->device, t->grad, 0, bytes);
}

lt_status lt_backward_from(lt_ctx *c, lt_tensor *out, const float *grad_out) {
    if (!out) return lt_error(LT_ERR_STATE, "backward: the output is NULL (an earlier op failed: %s)", lt_last_error());
    if (!out->requires_grad)
        return lt_error(LT_ERR_STATE, "backward: the output does not require grad "
                                      "(no parameter feeds it, or it was computed under no-grad)");
    LT_TRY(grad_ensure(c, out));
    if (out->device == LT_CPU) {
        for (int64_t i = 0; i < out->numel; i++) out->grad[i] += grad_out[i];
    } else {
        // Device tensors: stage the seed in step memory on the device, then add it
        // (the output may already hold a gradient from an earlier backward).
        size_t bytes = sizeof(float) * (size_t)out->numel;
        float *seed = lt_ctx_alloc_on(c, out->device, bytes);
        if (!seed) return lt_last_status();
        LT_TRY(lt_device_copy(out->device, seed, LT_CPU, grad_out, bytes));
        LT_TRY(lt_device_add_inplace(out->device, out->grad, seed, out->numel));
    }
    for (int k = c->tape_len - 1; k >= 0; k--) {
        lt_node *n = c->tape[k];
        int has = 0;
        for (int i = 0; i < n->n_out; i++) has |= n->out[i]->grad != NULL;
        if (!has) continue;
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i]->requires_grad) LT_TRY(grad_ensure(c, n->in[i]));
        const lt_backend *b = lt_backend_get(n->out[0]->device);
        if (!b || !b->ops[n->op].bwd)
            return lt_error(LT_ERR_UNSUPPORTED, "op %s has no %s backward kernel", lt_op_name(n->op),
                            lt_device_name(n->out[0]->device));
        LT_TRY(b->ops[n->op].bwd(n));
    }
    return LT_OK;
}

lt_status lt_backward(lt_ctx *c, lt_tensor *loss) {
    if (!loss) return lt_error(LT_ERR_STATE, "backward: the loss is NULL (an earlier op failed: %s)", lt_last_error());
    if (loss->numel != 1) {
        char b[64];
        return lt_error(LT_ERR_SHAPE, "backward: loss must be a scalar, got shape %s", lt_shape_str(loss, b));
    }
    float one = 1.0f;
    return lt_backward_from(c, loss, &one);
}
