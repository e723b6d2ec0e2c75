// Builder for cross_entropy: checks every target before the kernel runs.
#include "kernels/ops.h"
#include "libtrain/device.h"

#include <stdlib.h>

// Counts rows whose target is not ignore_index into *n_valid; an error names
// the first target outside [0,C). Device targets are copied to the host.
static lt_status check_targets(const lt_tensor *target, int C, int ignore_index, int64_t *n_valid) {
    const int32_t *t = lt_i32(target);
    int32_t *tmp = NULL;
    if (target->device != LT_CPU) {
        tmp = malloc(sizeof(int32_t) * (size_t)target->numel);
        if (!tmp) return lt_error(LT_ERR_OOM, "cross_entropy: cannot stage %lld targets", (long long)target->numel);
        lt_status s = lt_tensor_to_host(target, tmp);
        if (s != LT_OK) { free(tmp); return s; }
        t = tmp;
    }
    lt_status s = LT_OK;
    int64_t v = 0;
    for (int64_t i = 0; i < target->numel; i++) {
        if (t[i] == ignore_index) continue;
        if (t[i] < 0 || t[i] >= C) {
            s = lt_error(LT_ERR_ARG, "cross_entropy: target[%lld] = %d is outside [0,%d) and is not ignore_index %d",
                         (long long)i, t[i], C, ignore_index);
            break;
        }
        v++;
    }
    free(tmp);
    *n_valid = v;
    return s;
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
    int64_t n_valid = 0;
    if (check_targets(target, logits->shape[1], ignore_index, &n_valid) != LT_OK) return NULL;
    lt_tensor *in[2] = {logits, target};
    lt_node *n = lt_node_new(c, LT_OP_cross_entropy, 2, in);
    if (!n) return NULL;
    n->iattr[0] = ignore_index;
    n->iattr[1] = n_valid;
    n->fattr[0] = label_smoothing;
    int none[1] = {1};   // a scalar has no dims
    if (!lt_node_output(n, 0, LT_F32, 0, none)) return NULL;
    return lt_node_run(n);
}
