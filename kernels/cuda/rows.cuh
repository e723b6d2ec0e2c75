// Row-wise kernels' common part (softmax, cross-entropy, softmax entropy,
// norms): a row of the last axis belongs to one warp (TPR = 32, 8 rows per
// 256-thread block) or to one block (TPR = blockDim.x, 256 or 1024 threads),
// and its threads combine values in a fixed order (no atomics), so results
// repeat run to run.
#ifndef LT_CUDA_ROWS_CUH
#define LT_CUDA_ROWS_CUH

#include "kernels/cuda/common.cuh"

#include <math.h>

namespace lt_rows {

template <int TPR> struct Row {
    static constexpr int THREADS = TPR == 32 ? 256 : TPR;
    static constexpr int RPB = THREADS / TPR;   // rows per block
    __device__ static int lane() { return (int)threadIdx.x % TPR; }
    __device__ static int64_t first() { return (int64_t)blockIdx.x * RPB + threadIdx.x / TPR; }
    __device__ static int64_t step() { return (int64_t)gridDim.x * RPB; }
    // Reduces v over the row's threads with op (identity id); every thread gets
    // the result, combined in a fixed order. The loop over rows is uniform per
    // warp (TPR 32) or per block, so all threads reach the shuffles and barriers.
    // sh: 32 slots of block shared memory, unused for TPR 32.
    template <typename T, typename Op> __device__ static T reduce(T v, T *sh, T id, Op op) {
        for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
        if (TPR == 32) return v;
        int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
        __syncthreads();   // the previous reduction's readers are done with sh
        if (lane == 0) sh[warp] = v;
        __syncthreads();
        v = lane < TPR / 32 ? sh[lane] : id;
        for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
        return v;
    }
};

struct SumOp {
    __device__ double operator()(double a, double b) const { return a + b; }
};
struct MaxOp {
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

template <int TPR> __device__ double row_sum(double v, double *sh) { return Row<TPR>::reduce(v, sh, 0.0, SumOp()); }
template <int TPR> __device__ float row_max(float v, float *sh) {
    return Row<TPR>::reduce(v, sh, -INFINITY, MaxOp());
}

// Blocks for `rows` rows: enough to fill the GPU, rows looped beyond that.
template <int TPR> static inline unsigned row_blocks(int64_t rows) {
    int64_t b = (rows + Row<TPR>::RPB - 1) / Row<TPR>::RPB;
    int64_t cap = (int64_t)lt_cuda_sm_count() * (2048 / Row<TPR>::THREADS) * 8;
    return (unsigned)(b < cap ? b : cap);
}

}  // namespace lt_rows

#endif
