#include "libtrain/rng.h"

#include <math.h>

void lt_rng_init(lt_rng *r, uint64_t seed) { r->seed = seed; r->offset = 0; }

void lt_philox4x32(uint64_t seed, uint64_t counter, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

static inline float u32_to_unit(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

uint64_t lt_rng_reserve(lt_rng *r, uint64_t n) {
    uint64_t base = r->offset;
    r->offset += (n + 3) / 4;
    return base;
}

float lt_rng_uniform_at(uint64_t seed, uint64_t base, uint64_t i) {
    uint32_t o[4];
    lt_philox4x32(seed, base + i / 4, o);
    return u32_to_unit(o[i % 4]);
}

uint32_t lt_rng_u32(lt_rng *r) {
    uint32_t o[4];
    lt_philox4x32(r->seed, r->offset++, o);
    return o[0];
}

float lt_rng_uniform(lt_rng *r) { return u32_to_unit(lt_rng_u32(r)); }

float lt_rng_normal(lt_rng *r) {
    uint32_t o[4];
    lt_philox4x32(r->seed, r->offset++, o);
    double u1 = ((double)o[0] + 1.0) / 4294967297.0, u2 = (double)o[1] / 4294967296.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

uint32_t lt_rng_below(lt_rng *r, uint32_t n) {
    if (n <= 1) return 0;
    uint32_t lim = (uint32_t)(-n) % n;   // reject the low 2^32 mod n values
    for (;;) { uint32_t x = lt_rng_u32(r); if (x >= lim) return x % n; }
}

void lt_rng_fill_uniform(lt_rng *r, float *x, int64_t n, float lo, float hi) {
    uint64_t base = lt_rng_reserve(r, (uint64_t)n);
    for (int64_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * lt_rng_uniform_at(r->seed, base, (uint64_t)i);
}

void lt_rng_fill_normal(lt_rng *r, float *x, int64_t n, float mean, float std) {
    for (int64_t i = 0; i < n; i++) x[i] = mean + std * lt_rng_normal(r);
}

void lt_rng_shuffle(lt_rng *r, int32_t *idx, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        uint32_t j = lt_rng_below(r, (uint32_t)(i + 1));
        int32_t t = idx[i]; idx[i] = idx[j]; idx[j] = t;
    }
}
