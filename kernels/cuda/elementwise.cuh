// Shared by the elementwise CUDA kernels: division by a runtime constant
// without a hardware divide, the offsets of one element of a row-major index
// space in two strided operands (stride 0 along a broadcast dim), float
// arithmetic that the compiler may not contract into FMAs (so GPU rounding
// follows the CPU reference's), and the 16-byte alignment test for float4
// paths. Everything here is __host__ __device__ so host tests can run it.
#ifndef LT_CUDA_ELEMENTWISE_CUH
#define LT_CUDA_ELEMENTWISE_CUH

#include "kernels/cuda/common.cuh"

#define LT_EW_THREADS 256   // block size of the flat elementwise kernels

// `#pragma unroll` for __host__ __device__ code (the host compiler warns on it).
#ifdef __CUDA_ARCH__
#define LT_UNROLL _Pragma("unroll")
#else
#define LT_UNROLL
#endif

// n / d for 0 <= n < 2^31 and 1 <= d < 2^31 as (umulhi(n, m) + n) >> s, the
// round-up magic-number method (Granlund & Montgomery 1994). Larger index
// spaces take the int64 path (the BIG template flag of the users).
struct lt_divider {
    uint32_t d, m, s;
};

static inline lt_divider lt_divider_make(int64_t d) {
    lt_divider v = {(uint32_t)d, 0u, 0u};
    if (d < 1 || d > INT32_MAX) return v;   // only the int64 path may see such a dim
    while (v.s < 31 && ((uint64_t)1 << v.s) < (uint64_t)d) v.s++;
    v.m = (uint32_t)((((uint64_t)1 << 32) * (((uint64_t)1 << v.s) - (uint64_t)d)) / (uint64_t)d + 1);
    return v;
}

__host__ __device__ static inline uint32_t lt_umulhi(uint32_t a, uint32_t b) {
#ifdef __CUDA_ARCH__
    return __umulhi(a, b);
#else
    return (uint32_t)(((uint64_t)a * b) >> 32);
#endif
}

__host__ __device__ static inline uint32_t lt_div(const lt_divider &v, uint32_t n) {
    return (lt_umulhi(n, v.m) + n) >> v.s;
}

// A row-major index space of nd dims stored INNERMOST FIRST (dim 0 varies
// fastest), with the strides of two operands along each dim.
struct lt_index {
    int nd;   // 1..LT_MAX_DIMS
    int64_t size[LT_MAX_DIMS];
    lt_divider div[LT_MAX_DIMS];
    int64_t st[2][LT_MAX_DIMS];
};

// Builds an lt_index from dims listed OUTERMOST FIRST (as in a shape).
// nd == 0 gives the one-element space.
static inline lt_index lt_index_make(int nd, const int64_t *size, const int64_t *st0, const int64_t *st1) {
    lt_index x = {};
    x.nd = nd > 0 ? nd : 1;
    x.size[0] = 1;
    x.div[0] = lt_divider_make(1);
    for (int k = 0; k < nd; k++) {
        int d = nd - 1 - k;
        x.size[k] = size[d];
        x.div[k] = lt_divider_make(size[d]);
        x.st[0][k] = st0 ? st0[d] : 0;
        x.st[1][k] = st1 ? st1[d] : 0;
    }
    return x;
}

static inline int64_t lt_index_numel(const lt_index &x) {
    int64_t n = 1;
    for (int k = 0; k < x.nd; k++) n *= x.size[k];
    return n;
}

// Offsets o0, o1 of element i (0 <= i < numel) in the two operands. BIG=false
// requires numel < 2^31 and does one multiply-high per dim but the outermost.
template <bool BIG>
__host__ __device__ static inline void lt_index_offsets(const lt_index &x, int64_t i, int64_t &o0, int64_t &o1) {
    int64_t a = 0, b = 0;
    if (BIG) {
        LT_UNROLL
        for (int k = 0; k < LT_MAX_DIMS; k++) {
            if (k == x.nd - 1) { a += i * x.st[0][k]; b += i * x.st[1][k]; break; }
            int64_t q = i / x.size[k], r = i - q * x.size[k];
            a += r * x.st[0][k]; b += r * x.st[1][k];
            i = q;
        }
    } else {
        uint32_t u = (uint32_t)i;
        LT_UNROLL
        for (int k = 0; k < LT_MAX_DIMS; k++) {
            if (k == x.nd - 1) { a += (int64_t)u * x.st[0][k]; b += (int64_t)u * x.st[1][k]; break; }
            uint32_t q = lt_div(x.div[k], u), r = u - q * x.div[k].d;
            a += (int64_t)r * x.st[0][k]; b += (int64_t)r * x.st[1][k];
            u = q;
        }
    }
    o0 = a;
    o1 = b;
}

// Rounded float operations that are never fused with a neighbour: where the CPU
// reference (gcc, -ffp-contract=fast) did not contract, neither may the GPU.
// The host versions exist for host tests (x86-64 without -march has no FMA).
__host__ __device__ static inline float lt_fmul(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}
__host__ __device__ static inline float lt_fadd(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}
__host__ __device__ static inline float lt_fsub(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}
__host__ __device__ static inline float lt_fdiv(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fdiv_rn(a, b);
#else
    return a / b;
#endif
}

// float4 access is legal when every pointer given is 16-byte aligned (NULL counts as aligned).
static inline bool lt_aligned16(const void *a, const void *b = nullptr, const void *c = nullptr,
                                const void *d = nullptr) {
    return (((uintptr_t)a | (uintptr_t)b | (uintptr_t)c | (uintptr_t)d) & 15u) == 0;
}

#endif
