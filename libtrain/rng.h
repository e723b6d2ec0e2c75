// Counter-based RNG (Philox4x32-10, Salmon et al. 2011). A stream is a key
// (seed) and a 64-bit counter; value i of a draw depends only on (seed,
// counter + i), so CPU and CUDA produce the same numbers in any order and a
// checkpoint needs only the two integers to resume the stream exactly.
#ifndef LT_RNG_H
#define LT_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t seed;
    uint64_t offset;   // counters consumed so far (each counter yields 4 u32)
} lt_rng;

void lt_rng_init(lt_rng *r, uint64_t seed);
// The raw block: 4 u32 for (seed, counter). Same function in CUDA code.
void lt_philox4x32(uint64_t seed, uint64_t counter, uint32_t out[4]);

// Reserve `n` values from the stream and return the first counter; value i of
// the reservation is lt_rng_uniform_at(seed, base, i). Kernels use this.
uint64_t lt_rng_reserve(lt_rng *r, uint64_t n);
float lt_rng_uniform_at(uint64_t seed, uint64_t base, uint64_t i);   // [0,1)

// Sequential draws (host-side initializers, data shuffling).
float lt_rng_uniform(lt_rng *r);                 // [0,1)
float lt_rng_normal(lt_rng *r);                  // N(0,1), Box-Muller
uint32_t lt_rng_u32(lt_rng *r);
uint32_t lt_rng_below(lt_rng *r, uint32_t n);    // uniform in [0,n), unbiased
void lt_rng_fill_uniform(lt_rng *r, float *x, int64_t n, float lo, float hi);
void lt_rng_fill_normal(lt_rng *r, float *x, int64_t n, float mean, float std);
void lt_rng_shuffle(lt_rng *r, int32_t *idx, int64_t n);   // Fisher-Yates

#endif
