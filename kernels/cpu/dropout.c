// Inverted dropout with a Philox mask: element i is kept iff
// lt_rng_uniform_at(seed, base, i) >= p. iattr: [0] seed, [1] base counter;
// fattr: [0] p, [1] scale 1/(1-p). The mask is a pure function of (seed, base),
// so any device reproduces it; the forward keeps it as bits (1/32 of the
// activation) for the backward when one will run.
//
// Element i is word i % 4 of block base + i / 4, so one Philox block serves 4
// elements; PB blocks are made at once, lane by lane, so the compiler turns the
// rounds into vector code (about 10x faster than a block per element). Same
// arithmetic as lt_philox4x32: tests compare the mask with lt_rng_uniform_at.
#include "autograd/op.h"
#include "libtrain/rng.h"

#define PAR_MIN 16384

enum { PB = 16, CHUNK = 4 * PB };   // Philox blocks per batch, elements per batch

// m[e] = scale if element `first + e` of the reservation is kept, else 0, for
// the CHUNK elements starting at first = 4 * (ctr - base) (a block boundary).
// Each lane runs its 10 rounds in registers; the lane loop vectorizes.
static void mask_chunk(uint64_t seed, uint64_t ctr, float p, float scale, float m[CHUNK]) {
    float w0[PB], w1[PB], w2[PB], w3[PB];
    const float u = 1.0f / 16777216.0f;   // the unit float of lt_rng_uniform_at: top 24 bits / 2^24
    for (int b = 0; b < PB; b++) {
        uint64_t x = ctr + (uint64_t)b;
        uint32_t c0 = (uint32_t)x, c1 = (uint32_t)(x >> 32), c2 = 0, c3 = 0;
        uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
#pragma GCC unroll 10
        for (int round = 0; round < 10; round++) {
            uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
            c1 = (uint32_t)p1; c3 = (uint32_t)p0; c0 = n0; c2 = n2;
            k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
        }
        w0[b] = (float)(c0 >> 8) * u >= p ? scale : 0.0f;
        w1[b] = (float)(c1 >> 8) * u >= p ? scale : 0.0f;
        w2[b] = (float)(c2 >> 8) * u >= p ? scale : 0.0f;
        w3[b] = (float)(c3 >> 8) * u >= p ? scale : 0.0f;
    }
    for (int b = 0; b < PB; b++) {
        m[4 * b] = w0[b]; m[4 * b + 1] = w1[b]; m[4 * b + 2] = w2[b]; m[4 * b + 3] = w3[b];
    }
}

// in: x [..]; out: y [..]. Saved: one u64 of keep bits per CHUNK elements.
lt_status lt_cpu_dropout_fwd(lt_node *n) {
    uint64_t seed = (uint64_t)n->iattr[0], base = (uint64_t)n->iattr[1];
    float p = n->fattr[0], scale = n->fattr[1];
    const float *X = lt_f32(n->in[0]);
    float *Y = lt_f32(n->out[0]);
    int64_t N = n->in[0]->numel, nch = (N + CHUNK - 1) / CHUNK;
    uint64_t *bits = NULL;
    if (n->recorded) {
        if (!(bits = lt_node_save(n, sizeof(uint64_t) * (size_t)nch)))
            return lt_error(LT_ERR_OOM, "dropout: cannot keep the mask of %lld elements", (long long)N);
        n->saved = bits;
    }
#pragma omp parallel for if (N > PAR_MIN)
    for (int64_t ch = 0; ch < nch; ch++) {
        float m[CHUNK];
        mask_chunk(seed, base + (uint64_t)ch * PB, p, scale, m);
        int64_t i0 = ch * CHUNK, len = N - i0 < CHUNK ? N - i0 : CHUNK;
        for (int64_t e = 0; e < len; e++) Y[i0 + e] = m[e] != 0.0f ? X[i0 + e] * m[e] : 0.0f;   // 0 even for x = inf
        if (bits) {
            uint64_t b = 0;
            for (int e = 0; e < CHUNK; e++) b |= (uint64_t)(m[e] != 0.0f) << e;
            bits[ch] = b;
        }
    }
    return LT_OK;
}

lt_status lt_cpu_dropout_bwd(lt_node *n) {
    const float *G = n->out[0]->grad;
    float *dX = n->in[0]->grad;
    if (!G || !dX) return LT_OK;
    const uint64_t *bits = n->saved;
    float scale = n->fattr[1];
    int64_t N = n->in[0]->numel, nch = (N + CHUNK - 1) / CHUNK;
#pragma omp parallel for if (N > PAR_MIN)
    for (int64_t ch = 0; ch < nch; ch++) {
        uint64_t b = bits[ch];
        int64_t i0 = ch * CHUNK, len = N - i0 < CHUNK ? N - i0 : CHUNK;
        for (int64_t e = 0; e < len; e++) dX[i0 + e] += (b >> e) & 1 ? G[i0 + e] * scale : 0.0f;
    }
    return LT_OK;
}
