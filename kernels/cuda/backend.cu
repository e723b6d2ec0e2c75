// The CUDA backend: every op in ops.def, generated from the table, so a
// missing CUDA kernel is a link error, as on CPU.
#include "kernels/cuda/common.cuh"

extern "C" {
#define LT_OP(name) lt_status lt_cuda_##name##_fwd(lt_node *n); lt_status lt_cuda_##name##_bwd(lt_node *n);
#include "autograd/ops.def"
#undef LT_OP

// Designated initializers are C; C++ fills the table by position, which
// ops.def's order defines for both the enum and this list.
extern const lt_backend lt_backend_cuda = {
    "cuda",
    {
#define LT_OP(name) {lt_cuda_##name##_fwd, lt_cuda_##name##_bwd},
#include "autograd/ops.def"
#undef LT_OP
    },
};
}
