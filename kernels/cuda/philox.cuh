// Philox4x32-10 (Salmon et al. 2011) for CUDA code: the same function as
// lt_philox4x32 in libtrain/rng.c, bit for bit, so a device draws the very
// numbers the CPU draws for a (seed, counter). __host__ __device__ so host
// tests can compare it with the C version.
#ifndef LT_CUDA_PHILOX_CUH
#define LT_CUDA_PHILOX_CUH

#include <stdint.h>

// out[0..3] = Philox4x32-10 of counter (low word c0, high c1, c2 = c3 = 0)
// under key (low, high words of seed).
__host__ __device__ static inline void lt_philox4x32_10(uint64_t seed, uint64_t counter, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
    for (int round = 0; round < 10; round++) {
#ifdef __CUDA_ARCH__
        uint32_t hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        uint32_t hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
#else
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
#endif
        uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c1 = lo1; c3 = lo0; c0 = n0; c2 = n2;
        k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

// The unit float of lt_rng_uniform_at: the top 24 bits over 2^24, in [0, 1), exact.
__host__ __device__ static inline float lt_philox_unit(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

#endif
