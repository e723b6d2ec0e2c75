// CUDA inverted dropout with the CPU's Philox mask (kernels/cpu/dropout.c):
// element i is kept iff lt_philox_unit(word i % 4 of Philox(seed, base + i / 4))
// >= p, kept values are multiplied by scale = 1/(1-p), dropped ones are 0.
// iattr: [0] seed, [1] base counter; fattr: [0] p, [1] scale.
// One thread per Philox block (4 elements, a float4 when aligned). The mask is
// a pure function of (seed, base), so the backward regenerates it instead of
// keeping the CPU's bit mask: no memory, same bits.
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/philox.cuh"

namespace {   // file-local: kernel templates instantiated here stay internal

// BWD = 0: dst [N] = mask(src); BWD = 1: dst [N] += mask(src). VEC: src and
// dst 16-byte aligned, full blocks as float4.
template <bool VEC, bool BWD>
__global__ void dropout_k(const float *__restrict__ src, float *__restrict__ dst, int64_t N, uint64_t seed,
                          uint64_t base, float p, float scale) {
    const int64_t NB = (N + 3) / 4;
    LT_GRID_STRIDE(b, NB) {
        uint32_t r[4];
        lt_philox4x32_10(seed, base + (uint64_t)b, r);
        float v[4];
        const int64_t i0 = 4 * b;
        if (VEC && i0 + 4 <= N) {
            float4 s = ((const float4 *)src)[b];
            v[0] = s.x; v[1] = s.y; v[2] = s.z; v[3] = s.w;
        } else {
#pragma unroll
            for (int e = 0; e < 4; e++) v[e] = i0 + e < N ? src[i0 + e] : 0.f;
        }
        // 0 for a dropped element even when src is inf or NaN, as on CPU.
#pragma unroll
        for (int e = 0; e < 4; e++) v[e] = lt_philox_unit(r[e]) >= p ? lt_fmul(v[e], scale) : 0.f;
        if (VEC && i0 + 4 <= N) {
            float4 o = make_float4(v[0], v[1], v[2], v[3]);
            if (BWD) {
                float4 d = ((const float4 *)dst)[b];
                o.x = lt_fadd(d.x, o.x); o.y = lt_fadd(d.y, o.y); o.z = lt_fadd(d.z, o.z); o.w = lt_fadd(d.w, o.w);
            }
            ((float4 *)dst)[b] = o;
        } else {
#pragma unroll
            for (int e = 0; e < 4; e++)
                if (i0 + e < N) dst[i0 + e] = BWD ? lt_fadd(dst[i0 + e], v[e]) : v[e];
        }
    }
}

template <bool BWD>
static lt_status dropout_run(lt_node *n, const float *src, float *dst) {
    const int64_t N = n->in[0]->numel;
    const uint64_t seed = (uint64_t)n->iattr[0], base = (uint64_t)n->iattr[1];
    const float p = n->fattr[0], scale = n->fattr[1];
    unsigned blocks = lt_cuda_blocks((N + 3) / 4, LT_EW_THREADS);
    cudaStream_t st = lt_cuda_stream();
    if (lt_aligned16(src, dst))
        dropout_k<true, BWD><<<blocks, LT_EW_THREADS, 0, st>>>(src, dst, N, seed, base, p, scale);
    else
        dropout_k<false, BWD><<<blocks, LT_EW_THREADS, 0, st>>>(src, dst, N, seed, base, p, scale);
    LT_LAUNCH_CHECK("dropout");
    return LT_OK;
}

}  // namespace

// in: x [..]; out: y [..]. Nothing saved.
extern "C" lt_status lt_cuda_dropout_fwd(lt_node *n) {
    return dropout_run<false>(n, lt_cuda_f32(n->in[0]), lt_cuda_f32(n->out[0]));
}

// dx [..] += mask(dy), the mask regenerated from (seed, base).
extern "C" lt_status lt_cuda_dropout_bwd(lt_node *n) {
    const float *G = n->out[0]->grad;
    float *dX = n->in[0]->grad;
    if (!G || !dX) return LT_OK;
    return dropout_run<true>(n, G, dX);
}
