// The CPU backend: every op in ops.def, generated from the table.
#include "autograd/op.h"

#define LT_OP(name) lt_status lt_cpu_##name##_fwd(lt_node *n); lt_status lt_cpu_##name##_bwd(lt_node *n);
#include "autograd/ops.def"
#undef LT_OP

const lt_backend lt_backend_cpu = {
    .name = "cpu",
    .ops = {
#define LT_OP(name) [LT_OP_##name] = {lt_cpu_##name##_fwd, lt_cpu_##name##_bwd},
#include "autograd/ops.def"
#undef LT_OP
    },
};
