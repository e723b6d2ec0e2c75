// Finite-difference gradient check. `fn` builds any output from the inputs; the
// check contracts it with fixed random weights R (loss = sum(out * R), in
// double), runs backward with R as the upstream gradient, and compares every
// input gradient to central differences of that loss.
#ifndef LT_GRADCHECK_H
#define LT_GRADCHECK_H

#include "autograd/ctx.h"

typedef lt_tensor *(*lt_gradcheck_fn)(lt_ctx *c, lt_tensor **in, void *ud);

typedef struct {
    double eps;         // step, relative to max(1,|x|); default 1e-3
    double rtol;        // default 1e-2
    int64_t max_checks; // per input, elements checked (evenly spaced); 0 = all
    uint64_t seed;      // for R
} lt_gradcheck_opts;

typedef struct {
    double rel_err;     // worst over inputs of ||g_analytic - g_numeric|| / max(norms)
    int worst_input;
    int64_t worst_index;          // element with the worst relative deviation
    double analytic, numeric;     // at worst_index
    int64_t n_checked;
} lt_gradcheck_result;

// Inputs: persistent CPU tensors (lt_tensor_alloc); those with requires_grad set
// are checked, others (index tensors, frozen weights) are only used. Returns
// LT_OK if every checked gradient agrees within rtol, LT_ERR_STATE (message
// naming input, element and both values) if not, or the op's own error.
// On return each checked input's grad holds the analytic gradient of sum(out*R)
// in a buffer the tensor owns (freed by lt_tensor_free): tests read it, and a
// caller reusing the tensor in another backward zeroes it first.
lt_status lt_gradcheck(lt_gradcheck_fn fn, void *ud, int n_in, lt_tensor **in, const lt_gradcheck_opts *opts,
                       lt_gradcheck_result *res);

#endif
