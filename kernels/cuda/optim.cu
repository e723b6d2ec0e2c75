// Optimizer updates and gradient-norm pieces on CUDA, called by libtrain/optim.c.
//
// Parity: the CPU updates (libtrain/optim.c) are built with -O3 -march=native
// in GNU C mode, where GCC fuses each multiply feeding a single add/sub into an
// FMA. The kernels spell out the same operations with explicit round-to-nearest
// intrinsics (__fmaf_rn where GCC fuses, __fmul_rn/__fadd_rn/... elsewhere), so
// nvcc cannot contract differently and fp32 results are bit-identical to the
// CPU on an FMA-capable host (checked against GCC's output for sgd_update and
// adamw_update). A CPU build without FMA (LT_NATIVE=OFF on x86-64) differs by
// at most one rounding per fused operation.
#include "kernels/cuda/common.cuh"

#include <math.h>
#include <stdint.h>

namespace {

constexpr int kThreads = 256;
constexpr int kMaxPartials = 1024;   // sumsq: blocks per launch at most

inline bool aligned16(const void *p) { return p == nullptr || ((uintptr_t)p & 15) == 0; }

// torch SGD, one element. CPU: d = g + wd*p; buf = momentum*buf + (1-damp)*d;
// d = d + momentum*buf (nesterov); p -= lr*d, fused as GCC fuses them.
struct Sgd {
    float lr, wd, momentum, one_minus_damp;
    int nesterov, first, has_buf;
    __device__ __forceinline__ void operator()(float &p, float g, float &buf) const {
        float d = __fmaf_rn(wd, p, g);
        if (has_buf) {
            buf = first ? d : __fmaf_rn(momentum, buf, __fmul_rn(one_minus_damp, d));
            d = nesterov ? __fmaf_rn(momentum, buf, d) : buf;
        }
        p = __fmaf_rn(-lr, d, p);
    }
};

// torch single-tensor AdamW, one element. CPU: p *= decay; m += (g-m)*(1-b1);
// v = v*b2 + (1-b2)*g*g; denom = sqrt(v)/bc2_sqrt + eps; p -= step_size*m/denom.
struct AdamW {
    float decay, one_minus_b1, beta2, one_minus_b2, bc2_sqrt, eps, step_size;
    __device__ __forceinline__ void operator()(float &p, float g, float &m, float &v) const {
        p = __fmul_rn(p, decay);
        m = __fmaf_rn(__fsub_rn(g, m), one_minus_b1, m);
        v = __fmaf_rn(v, beta2, __fmul_rn(__fmul_rn(one_minus_b2, g), g));
        float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v), bc2_sqrt), eps);
        p = __fsub_rn(p, __fdiv_rn(__fmul_rn(step_size, m), denom));
    }
};

// n4 float4 groups (0 when a pointer is not 16-byte aligned), then the n - 4*n4
// remaining elements one by one.
__global__ void sgd_kernel(float *__restrict__ p, const float *__restrict__ g, float *__restrict__ buf, int64_t n,
                           int64_t n4, Sgd op) {
    float unused = 0.f;
    LT_GRID_STRIDE(i, n4) {
        float4 pv = ((float4 *)p)[i], gv = ((const float4 *)g)[i];
        float4 bv = buf ? ((float4 *)buf)[i] : make_float4(0.f, 0.f, 0.f, 0.f);
        op(pv.x, gv.x, bv.x); op(pv.y, gv.y, bv.y); op(pv.z, gv.z, bv.z); op(pv.w, gv.w, bv.w);
        ((float4 *)p)[i] = pv;
        if (buf) ((float4 *)buf)[i] = bv;
    }
    LT_GRID_STRIDE(k, n - 4 * n4) {
        int64_t i = 4 * n4 + k;
        op(p[i], g[i], buf ? buf[i] : unused);
    }
}

__global__ void adamw_kernel(float *__restrict__ p, const float *__restrict__ g, float *__restrict__ m,
                             float *__restrict__ v, int64_t n, int64_t n4, AdamW op) {
    LT_GRID_STRIDE(i, n4) {
        float4 pv = ((float4 *)p)[i], gv = ((const float4 *)g)[i], mv = ((float4 *)m)[i], vv = ((float4 *)v)[i];
        op(pv.x, gv.x, mv.x, vv.x); op(pv.y, gv.y, mv.y, vv.y); op(pv.z, gv.z, mv.z, vv.z); op(pv.w, gv.w, mv.w, vv.w);
        ((float4 *)p)[i] = pv; ((float4 *)m)[i] = mv; ((float4 *)v)[i] = vv;
    }
    LT_GRID_STRIDE(k, n - 4 * n4) {
        int64_t i = 4 * n4 + k;
        op(p[i], g[i], m[i], v[i]);
    }
}

__global__ void scale_kernel(float *__restrict__ g, int64_t n, int64_t n4, float k) {
    LT_GRID_STRIDE(i, n4) {
        float4 x = ((float4 *)g)[i];
        x.x = __fmul_rn(x.x, k); x.y = __fmul_rn(x.y, k); x.z = __fmul_rn(x.z, k); x.w = __fmul_rn(x.w, k);
        ((float4 *)g)[i] = x;
    }
    LT_GRID_STRIDE(j, n - 4 * n4) g[4 * n4 + j] = __fmul_rn(g[4 * n4 + j], k);
}

// Block-wide sum of one double per thread (blockDim.x a multiple of 32, at
// most 1024); the result is valid in thread 0. Fixed order: deterministic.
__device__ double block_sum(double s) {
    __shared__ double warp_sums[32];
    for (int o = 16; o > 0; o >>= 1) s += __shfl_down_sync(0xffffffffu, s, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) warp_sums[warp] = s;
    __syncthreads();
    int nw = blockDim.x >> 5;
    s = threadIdx.x < nw ? warp_sums[threadIdx.x] : 0.0;
    if (warp == 0)
        for (int o = 16; o > 0; o >>= 1) s += __shfl_down_sync(0xffffffffu, s, o);
    __syncthreads();   // warp_sums may be reused by a following call
    return s;
}

// Sum of squares in double: each block writes its partial; the last block to
// finish adds the partials, in block order, into *acc. One launch, no
// atomics on doubles, so the result only depends on n and the grid size.
__device__ double g_partials[kMaxPartials];
__device__ unsigned int g_blocks_done;

__global__ void sumsq_kernel(const float *__restrict__ g, int64_t n, double *acc) {
    double s = 0.0;
    LT_GRID_STRIDE(i, n) {
        double x = (double)g[i];
        s += x * x;
    }
    s = block_sum(s);
    __shared__ bool last;
    if (threadIdx.x == 0) {
        g_partials[blockIdx.x] = s;
        __threadfence();
        // atomicInc wraps to 0 after gridDim.x - 1: the counter is ready for the next launch.
        last = atomicInc(&g_blocks_done, gridDim.x - 1) == gridDim.x - 1;
    }
    __syncthreads();
    if (!last) return;
    __threadfence();
    double t = 0.0;
    for (unsigned b = threadIdx.x; b < gridDim.x; b += blockDim.x) t += ((volatile double *)g_partials)[b];
    t = block_sum(t);
    if (threadIdx.x == 0) *acc += t;
}

int64_t vec_groups(int64_t n, const void *a, const void *b, const void *c, const void *d) {
    return aligned16(a) && aligned16(b) && aligned16(c) && aligned16(d) ? n / 4 : 0;
}

}  // namespace

// p [n] -= lr * update(g, buf); buf [n] or NULL when momentum is 0. `first`:
// the parameter's first step (the momentum buffer starts as the gradient).
extern "C" lt_status lt_cuda_sgd_update(float *p, const float *g, float *buf, int64_t n, float lr, float wd,
                                        float momentum, float dampening, int nesterov, int first) {
    if (n <= 0) return LT_OK;
    Sgd op = {lr, wd, momentum, 1.f - dampening, nesterov, first, buf != nullptr};
    int64_t n4 = vec_groups(n, p, g, buf, nullptr);
    sgd_kernel<<<lt_cuda_blocks(n4 + (n - 4 * n4), kThreads), kThreads, 0, lt_cuda_stream()>>>(p, g, buf, n, n4, op);
    LT_LAUNCH_CHECK("sgd_update");
    return LT_OK;
}

// p, m, v [n]; `step` is the parameter's update count including this one.
extern "C" lt_status lt_cuda_adamw_update(float *p, const float *g, float *m, float *v, int64_t n, float lr, float wd,
                                          float beta1, float beta2, float eps, int64_t step) {
    if (n <= 0) return LT_OK;
    // The scalars as the CPU computes them (host libm powf/sqrtf; GCC fuses 1 - lr*wd).
    float bc1 = 1.f - powf(beta1, (float)step), bc2 = 1.f - powf(beta2, (float)step);
    AdamW op;
    op.step_size = lr / bc1;
    op.bc2_sqrt = sqrtf(bc2);
    op.decay = fmaf(-lr, wd, 1.f);
    op.one_minus_b1 = 1.f - beta1;
    op.beta2 = beta2;
    op.one_minus_b2 = 1.f - beta2;
    op.eps = eps;
    int64_t n4 = vec_groups(n, p, g, m, v);
    adamw_kernel<<<lt_cuda_blocks(n4 + (n - 4 * n4), kThreads), kThreads, 0, lt_cuda_stream()>>>(p, g, m, v, n, n4,
                                                                                                 op);
    LT_LAUNCH_CHECK("adamw_update");
    return LT_OK;
}

// *dev_acc (device double) += sum of g[i]^2 in double. Stream-ordered: calls
// for several tensors accumulate into the same *dev_acc.
extern "C" lt_status lt_cuda_sumsq(const float *g, int64_t n, double *dev_acc) {
    if (n <= 0) return LT_OK;
    unsigned blocks = lt_cuda_blocks(n, kThreads);
    if (blocks > (unsigned)kMaxPartials) blocks = kMaxPartials;
    sumsq_kernel<<<blocks, kThreads, 0, lt_cuda_stream()>>>(g, n, dev_acc);
    LT_LAUNCH_CHECK("sumsq");
    return LT_OK;
}

// g [n] *= k.
extern "C" lt_status lt_cuda_scale_inplace(float *g, int64_t n, float k) {
    if (n <= 0) return LT_OK;
    int64_t n4 = vec_groups(n, g, nullptr, nullptr, nullptr);
    scale_kernel<<<lt_cuda_blocks(n4 + (n - 4 * n4), kThreads), kThreads, 0, lt_cuda_stream()>>>(g, n, n4, k);
    LT_LAUNCH_CHECK("scale_inplace");
    return LT_OK;
}
