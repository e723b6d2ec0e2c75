// Builder for cross_entropy. On the CPU every target is checked (and the rows
// that count are counted) before the kernel runs; on a device the targets stay
// there: the kernel counts the rows itself and reports a bad target through the
// device's fault record at the next sync (kernels/cuda/cross_entropy.cu).
#include "kernels/ops.h"
#include "libtrain/device.h"

// Host targets: counts rows whose target is not ignore_index into *n_valid; an
// error names the first target outside [0,C).
static lt_status check_targets(const lt_tensor *target, int C, int ignore_index, int64_t *n_valid) {
    const int32_t *t = lt_i32(target);
    int64_t v = 0;
    for (int64_t i = 0; i < target->numel; i++) {
        if (t[i] == ignore_index) continue;
        if (t[i] < 0 || t[i] >= C)
            return lt_error(LT_ERR_ARG, "cross_entropy: target[%lld] = %d is outside [0,%d) and is not ignore_index %d",
                            (long long)i, t[i], C, ignore_index);
        v++;
    }
    *n_valid = v;
    return LT_OK;
}

// logits [N,C], target i32 [N] -> scalar
lt_tensor *lt_cross_entropy(lt_ctx *c, lt_tensor *logits, lt_tensor *target, int ignore_index,
                            float label_smoothing) {
    if (!logits || !target) return NULL;
    char sl[64], st[64];
    if (lt_expect_dtype("cross_entropy", "logits", logits, LT_F32) ||
        lt_expect_dtype("cross_entropy", "target", target, LT_I32))
        return NULL;
    if (logits->ndim != 2 || target->ndim != 1 || target->shape[0] != logits->shape[0]) {
        lt_error(LT_ERR_SHAPE, "cross_entropy: logits %s and target %s do not fit (want logits [N,C], target [N])",
                 lt_shape_str(logits, sl), lt_shape_str(target, st));
        return NULL;
    }
    if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f)) {
        lt_error(LT_ERR_ARG, "cross_entropy: label_smoothing %g is outside [0,1)", (double)label_smoothing);
        return NULL;
    }
    int64_t n_valid = -1;   // -1: counted on the device, by the kernel (no host copy)
    if (target->device == LT_CPU && check_targets(target, logits->shape[1], ignore_index, &n_valid) != LT_OK)
        return NULL;
    lt_tensor *in[2] = {logits, target};
    lt_node *n = lt_node_new(c, LT_OP_cross_entropy, 2, in);
    if (!n) return NULL;
    n->iattr[0] = ignore_index;
    n->iattr[1] = n_valid;   // rows whose target is not ignore_index, or -1 (above)
    n->fattr[0] = label_smoothing;
    int none[1] = {1};   // a scalar has no dims
    if (!lt_node_output(n, 0, LT_F32, 0, none)) return NULL;
    return lt_node_run(n);
}
