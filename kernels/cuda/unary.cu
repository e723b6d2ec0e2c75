// CUDA unary elementwise ops: scale, exp, log, sqrt, relu, gelu (erf form),
// silu, sigmoid, tanh, softplus. Each op is a value f(x, s) and a derivative
// d(x, y, s) (y the saved output), the formulas of kernels/cpu/unary.c.
//
// Parity with the CPU build (gcc 12 -O3 -march=native contracts a*b+c into
// FMAs where it sees one; checked on its machine code): the backward update is
// fmaf(g, d, gx) for every op but softplus (whose branches keep g*d apart from
// the add: kFusedUpdate), and inside d the same contractions are made (1 - y*y
// and 1 + x*(1-s) are FMAs); every other float operation is pinned unfused
// (lt_fmul...). exp, log, erf, tanh and
// log1p are evaluated in double and rounded once: glibc's float functions are
// (nearly) correctly rounded, CUDA's float ones are off by up to 2 ulp, and a
// 1-ulp difference in y turns into a large relative one in 1 - y*y or y*(1-y)
// near saturation. The double versions match glibc bit for bit on all but
// 0.01% (exp, log) to 3% (erf, tanh: glibc's own 1-ulp errors) of inputs. The
// cost is FP64 work, hidden behind memory traffic on A100/H100.
#include <math.h>

#include "kernels/cuda/elementwise.cuh"

namespace {   // file-local: kernel templates instantiated here stay internal

__host__ __device__ static inline float u_exp(float x) { return (float)exp((double)x); }
__host__ __device__ static inline float u_log(float x) { return (float)log((double)x); }
__host__ __device__ static inline float u_erf(float x) { return (float)erf((double)x); }
__host__ __device__ static inline float u_tanh(float x) { return (float)tanh((double)x); }
__host__ __device__ static inline float u_log1p(float x) { return (float)log1p((double)x); }

__host__ __device__ static inline float u_sigmoid(float x) {
    if (x >= 0) return lt_fdiv(1.f, lt_fadd(1.f, u_exp(-x)));
    float e = u_exp(x);
    return lt_fdiv(e, lt_fadd(1.f, e));
}

// f(x, s): the value; d(x, y, s): the derivative, y = f(x) saved by the forward;
// kFusedUpdate: whether gx + g*d is one FMA in the CPU build.
#define U_F __host__ __device__ static inline float f(float x, float s)
#define U_D __host__ __device__ static inline float d(float x, float y, float s)

struct op_scale {
    static constexpr bool kFusedUpdate = true;
    U_F { return lt_fmul(s, x); }
    U_D { return s; }
};
struct op_exp {
    static constexpr bool kFusedUpdate = true;
    U_F { return u_exp(x); }
    U_D { return y; }
};
struct op_log {
    static constexpr bool kFusedUpdate = true;
    U_F { return u_log(x); }
    U_D { return lt_fdiv(1.f, x); }
};
struct op_sqrt {
    static constexpr bool kFusedUpdate = true;
    U_F { return sqrtf(x); }   // IEEE round-to-nearest without -use_fast_math
    U_D { return lt_fdiv(0.5f, y); }
};
struct op_relu {   // NaN passes through, as in torch
    static constexpr bool kFusedUpdate = true;
    U_F { return x < 0.f ? 0.f : x; }
    U_D { return x > 0.f ? 1.f : 0.f; }
};
struct op_gelu {
    static constexpr bool kFusedUpdate = true;
    U_F { return lt_fmul(lt_fmul(0.5f, x), lt_fadd(1.f, u_erf(lt_fmul(x, 0.70710678118654752440f)))); }
    // gcc fuses 0.5*(1+erf) into the final add, which is exact (a halving), so unfused here.
    U_D {
        const float inv_sqrt_2pi = 0.3989422804014327f;
        float a = lt_fmul(0.5f, lt_fadd(1.f, u_erf(lt_fmul(x, 0.70710678118654752440f))));
        float b = lt_fmul(lt_fmul(x, inv_sqrt_2pi), u_exp(lt_fmul(lt_fmul(-0.5f, x), x)));
        return lt_fadd(a, b);
    }
};
struct op_silu {
    static constexpr bool kFusedUpdate = true;
    U_F { return lt_fmul(x, u_sigmoid(x)); }
    U_D {
        float sg = u_sigmoid(x);
        return lt_fmul(sg, fmaf(x, lt_fsub(1.f, sg), 1.f));
    }
};
struct op_sigmoid {
    static constexpr bool kFusedUpdate = true;
    U_F { return u_sigmoid(x); }
    U_D { return lt_fmul(y, lt_fsub(1.f, y)); }
};
struct op_tanh {
    static constexpr bool kFusedUpdate = true;
    U_F { return u_tanh(x); }
    U_D { return fmaf(-y, y, 1.f); }
};
struct op_softplus {   // torch's, beta 1, threshold 20: linear above
    static constexpr bool kFusedUpdate = false;
    U_F { return x > 20.f ? x : u_log1p(u_exp(x)); }
    U_D { return x > 20.f ? 1.f : u_sigmoid(x); }
};

#undef U_F
#undef U_D

// y [N] = f(x); VEC: x and y 16-byte aligned, quads as float4 then the tail.
template <class F, bool VEC>
__global__ void unary_fwd_k(const float *__restrict__ x, float *__restrict__ y, int64_t N, float s) {
    if constexpr (VEC) {
        const int64_t N4 = N / 4;
        LT_GRID_STRIDE(q, N4) {
            float4 v = ((const float4 *)x)[q];
            v.x = F::f(v.x, s); v.y = F::f(v.y, s); v.z = F::f(v.z, s); v.w = F::f(v.w, s);
            ((float4 *)y)[q] = v;
        }
        int64_t t = N4 * 4 + (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
        if (t < N) y[t] = F::f(x[t], s);
    } else {
        LT_GRID_STRIDE(i, N) y[i] = F::f(x[i], s);
    }
}

// gx + g * d, one rounding or two as in the CPU build.
template <class F>
__host__ __device__ static inline float u_update(float gx, float g, float d) {
    if constexpr (F::kFusedUpdate) return fmaf(g, d, gx);
    else return lt_fadd(gx, lt_fmul(g, d));
}

// gx [N] += g * d(x, y)
template <class F, bool VEC>
__global__ void unary_bwd_k(const float *__restrict__ g, const float *__restrict__ x, const float *__restrict__ y,
                            float *__restrict__ gx, int64_t N, float s) {
    if constexpr (VEC) {
        const int64_t N4 = N / 4;
        LT_GRID_STRIDE(q, N4) {
            float4 gv = ((const float4 *)g)[q], xv = ((const float4 *)x)[q], yv = ((const float4 *)y)[q];
            float4 r = ((float4 *)gx)[q];
            r.x = u_update<F>(r.x, gv.x, F::d(xv.x, yv.x, s));
            r.y = u_update<F>(r.y, gv.y, F::d(xv.y, yv.y, s));
            r.z = u_update<F>(r.z, gv.z, F::d(xv.z, yv.z, s));
            r.w = u_update<F>(r.w, gv.w, F::d(xv.w, yv.w, s));
            ((float4 *)gx)[q] = r;
        }
        int64_t t = N4 * 4 + (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
        if (t < N) gx[t] = u_update<F>(gx[t], g[t], F::d(x[t], y[t], s));
    } else {
        LT_GRID_STRIDE(i, N) gx[i] = u_update<F>(gx[i], g[i], F::d(x[i], y[i], s));
    }
}

template <class F>
static lt_status unary_fwd(lt_node *n) {
    const float *x = lt_cuda_f32(n->in[0]);
    float *y = lt_cuda_f32(n->out[0]);
    const int64_t N = n->out[0]->numel;
    const float s = n->fattr[0];
    cudaStream_t st = lt_cuda_stream();
    if (lt_aligned16(x, y))
        unary_fwd_k<F, true><<<lt_cuda_blocks((N + 3) / 4, LT_EW_THREADS), LT_EW_THREADS, 0, st>>>(x, y, N, s);
    else
        unary_fwd_k<F, false><<<lt_cuda_blocks(N, LT_EW_THREADS), LT_EW_THREADS, 0, st>>>(x, y, N, s);
    LT_LAUNCH_CHECK(lt_op_name(n->op));
    return LT_OK;
}

template <class F>
static lt_status unary_bwd(lt_node *n) {
    const float *g = n->out[0]->grad, *x = lt_cuda_f32(n->in[0]), *y = lt_cuda_f32(n->out[0]);
    float *gx = n->in[0]->grad;
    if (!g || !gx) return LT_OK;
    const int64_t N = n->out[0]->numel;
    const float s = n->fattr[0];
    cudaStream_t st = lt_cuda_stream();
    if (lt_aligned16(g, x, y, gx))
        unary_bwd_k<F, true><<<lt_cuda_blocks((N + 3) / 4, LT_EW_THREADS), LT_EW_THREADS, 0, st>>>(g, x, y, gx, N, s);
    else
        unary_bwd_k<F, false><<<lt_cuda_blocks(N, LT_EW_THREADS), LT_EW_THREADS, 0, st>>>(g, x, y, gx, N, s);
    LT_LAUNCH_CHECK(lt_op_name(n->op));
    return LT_OK;
}

}  // namespace

#define LT_CUDA_UNARY(name)                                                               \
    extern "C" lt_status lt_cuda_##name##_fwd(lt_node *n) { return unary_fwd<op_##name>(n); } \
    extern "C" lt_status lt_cuda_##name##_bwd(lt_node *n) { return unary_bwd<op_##name>(n); }

LT_CUDA_UNARY(scale)
LT_CUDA_UNARY(exp)
LT_CUDA_UNARY(log)
LT_CUDA_UNARY(sqrt)
LT_CUDA_UNARY(relu)
LT_CUDA_UNARY(gelu)
LT_CUDA_UNARY(silu)
LT_CUDA_UNARY(sigmoid)
LT_CUDA_UNARY(tanh)
LT_CUDA_UNARY(softplus)
