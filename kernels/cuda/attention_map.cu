// SeerAttention block map from the forward's per-(row, map block) largest
// logits: G[i,j] = max over rows r of query map block i of exp(rmax[r,j] -
// lse[r]) (the largest probability of a visible key of block j; 0 when the
// block has none, as rmax stays -inf), then each G[i,:] divided by its sum,
// as the CPU's task_fwd. One block of 256 threads per (b, h, i).
#include "kernels/cuda/attention_tile.cuh"

__global__ void __launch_bounds__(256)
    attn_map_pool_k(const float *__restrict__ rmax, const float *__restrict__ L, float *__restrict__ G, int T, int mb,
                    int nmq, int nmb) {
    // rmax [B*Hq, T, nmb], L [B*Hq, T], G [B*Hq, nmq, nmb]
    __shared__ float red[32];
    const int64_t bh = blockIdx.x / nmq;
    const int i = (int)(blockIdx.x % nmq), ra = i * mb, rb = min(ra + mb, T);
    float *grow = G + ((int64_t)bh * nmq + i) * nmb;
    float sum = 0.0f;
    for (int j = threadIdx.x; j < nmb; j += blockDim.x) {
        float gm = 0.0f;
        for (int r = ra; r < rb; r++) {
            float p = expf(rmax[((int64_t)bh * T + r) * nmb + j] - L[(int64_t)bh * T + r]);
            gm = fmaxf(gm, p);
        }
        grow[j] = gm;
        sum += gm;
    }
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = sum;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < blockDim.x / 32 ? red[threadIdx.x] : 0.0f;
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (threadIdx.x == 0) red[0] = v;
    }
    __syncthreads();
    const float inv = 1.0f / red[0];   // > 0: every row sees a key
    for (int j = threadIdx.x; j < nmb; j += blockDim.x) grow[j] *= inv;   // this thread's own entries
}

// G [B,Hq,ceil(T/mb),nmb] from rmax [B,Hq,T,nmb] and lse [B,Hq,T].
extern "C" lt_status lt_cuda_attn_map_pool(const float *rmax, const float *L, float *G, int BH, int T, int mb,
                                           int nmb) {
    int nmq = (T + mb - 1) / mb;
    int64_t blocks = (int64_t)BH * nmq;
    if (blocks == 0 || nmb == 0) return LT_OK;
    attn_map_pool_k<<<(unsigned)blocks, 256, 0, lt_cuda_stream()>>>(rmax, L, G, T, mb, nmq, nmb);
    LT_LAUNCH_CHECK("attention_map_pool");
    return LT_OK;
}
