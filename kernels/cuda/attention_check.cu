// Attention's key lengths and block mask checked on the device, by the
// CPU builder's rules (kernels/attention.c: check_lens, check_mask):
// key_lens[b] in 1..S, and every query row sees a key (in each block row, the
// first kept key block starts before the key length, and before the row
// itself when causal).
//
// On CUDA the values live on the device, so the builder cannot check them
// without a copy and a stream sync per step. lt_cuda_attn_check (called by
// the forward before it computes anything) launches one small kernel that
// records the first fault in a device record; lt_cuda_attn_faults (called by
// lt_cuda_sync) turns it into LT_ERR_ARG with the builder's message and clears
// it. What the forward wrote for a faulting node is meaningless (rows seeing
// no key are NaN).
#include "kernels/cuda/common.cuh"

#include <stdint.h>

extern "C" {
#include "kernels/attention.h"
}

namespace {

constexpr int kThreads = 256;   // a multiple of 32: the mask scan is one warp per block row

// Fault kinds, in the order the builder checks them: a bad length is
// reported before any mask fault of the same launch.
enum { KIND_LENS = 0, KIND_MASK = 1 };
constexpr long long kPosMax = 0x7fffffffll;   // positions above are stored as this ("or later")

// The first faulting launch since the last check. key: bit 63 the kind,
// bits 62..32 the position (lens: b; mask: the flat block row (b*H + h)*nbq + i),
// bits 31..0 the value (lens: key_lens[b]; mask: the row's key length), so
// atomicMin keeps the builder's first error. The geometry is the launch's.
struct Fault {
    unsigned long long launch;   // 0: no fault
    unsigned long long key;
    int S, H, nbq, bq, causal;
};
__device__ Fault g_attn_fault = {0ull, ~0ull, 0, 0, 0, 0, 0};
unsigned long long g_attn_launch;   // host: id of the last check launch (never 0)

__device__ __noinline__ void report_fault(unsigned long long launch, int kind, int64_t pos, int32_t value, int S,
                                          int H, int nbq, int bq, int causal) {
    unsigned long long prev = atomicCAS(&g_attn_fault.launch, 0ull, launch);
    if (prev != 0ull && prev != launch) return;   // an earlier launch faulted first
    if (prev == 0ull) {
        g_attn_fault.S = S; g_attn_fault.H = H; g_attn_fault.nbq = nbq; g_attn_fault.bq = bq;
        g_attn_fault.causal = causal;
    }
    unsigned long long p = pos < kPosMax ? (unsigned long long)pos : (unsigned long long)kPosMax;
    atomicMin(&g_attn_fault.key, ((unsigned long long)kind << 63) | (p << 32) | (uint32_t)value);
}

// lens [B] or NULL; mask [B,H,nbq,nbk] or NULL (block sizes bq x bk).
// Lengths: a thread each. Mask: a warp per block row (b, h, i), reading the
// row's key blocks 32 at a time (coalesced) and stopping at the first kept
// one it may use: j with j*bk < lim, lim = the key length, or min(length,
// i*bq + 1) when causal. No kept block there means the row's first query
// (row i*bq: the one seeing the fewest keys) sees none. A bad length cannot
// make this read outside the mask (j < nbk always).
__global__ void __launch_bounds__(kThreads)
    attn_check_k(const int32_t *__restrict__ lens, const int32_t *__restrict__ mask, int B, int H, int S, int nbq,
                 int nbk, int bq, int bk, int causal, unsigned long long launch) {
    if (lens) {
        LT_GRID_STRIDE(b, B) {
            const int32_t v = lens[b];
            if (v < 1 || v > S) report_fault(launch, KIND_LENS, b, v, S, H, nbq, bq, causal);
        }
    }
    if (!mask) return;
    const int lane = threadIdx.x & 31;
    const int64_t rows = (int64_t)B * H * nbq;
    const int64_t wstep = ((int64_t)gridDim.x * blockDim.x) >> 5;
    // w is the same for the 32 lanes of a warp: every branch below is warp-uniform
    for (int64_t w = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; w < rows; w += wstep) {
        const int64_t bh = w / nbq;
        const int b = (int)(bh / H);
        const int64_t r = (w - bh * nbq) * bq;   // the block row's first query row
        const int len = lens ? lens[b] : S;
        int64_t lim = len;
        if (causal && r + 1 < lim) lim = r + 1;
        const int64_t jend = lim > 0 ? min((int64_t)nbk, (lim + bk - 1) / bk) : 0;   // blocks starting before lim
        const int32_t *row = mask + w * nbk;
        bool seen = false;
        for (int64_t j0 = 0; j0 < jend && !seen; j0 += 32) {
            const int64_t j = j0 + lane;
            seen = __any_sync(0xffffffffu, j < jend && row[j] != 0);
        }
        if (!seen && lane == 0) report_fault(launch, KIND_MASK, w, len, S, H, nbq, bq, causal);
    }
}

}  // namespace

// Queues the check of node n's key_lens and block mask (inputs
// iattr[LT_ATTN_LENS] / [LT_ATTN_MASK], -1 when absent): one launch, nothing
// when neither is given. Never waits for the device.
extern "C" lt_status lt_cuda_attn_check(lt_node *n) {
    const int64_t li = n->iattr[LT_ATTN_LENS], mi = n->iattr[LT_ATTN_MASK];
    if (li < 0 && mi < 0) return LT_OK;
    const lt_tensor *q = n->in[0], *k = n->in[1];
    const int B = q->shape[0], H = q->shape[1], S = k->shape[2];
    const int causal = n->iattr[LT_ATTN_CAUSAL] != 0;
    const int32_t *lens = li >= 0 ? lt_cuda_i32(n->in[li]) : NULL;
    const int32_t *mask = NULL;
    int nbq = 0, nbk = 0, bq = 1, bk = 1;
    if (mi >= 0) {
        const lt_tensor *m = n->in[mi];
        mask = lt_cuda_i32(m);
        nbq = m->shape[2]; nbk = m->shape[3];
        bq = (int)n->iattr[LT_ATTN_BQ]; bk = (int)n->iattr[LT_ATTN_BK];
        if (bq < 1 || bk < 1)
            return lt_error(LT_ERR_ARG, "attention (cuda): block-mask block sizes %dx%d must be positive", bq, bk);
    }
    const int64_t rows = mask ? (int64_t)B * H * nbq : 0, lanes = rows * 32;
    const int64_t work = lanes > B ? lanes : (int64_t)B;
    if (work == 0) return LT_OK;
    unsigned long long launch = ++g_attn_launch;
    attn_check_k<<<lt_cuda_blocks(work, kThreads), kThreads, 0, lt_cuda_stream()>>>(lens, mask, B, H, S, nbq, nbk,
                                                                                      bq, bk, causal, launch);
    LT_LAUNCH_CHECK("attention_check");
    return LT_OK;
}

// Called after the stream is synchronized (lt_cuda_sync), never from a kernel
// entry point: a bad key length or a query row seeing no key, found by a check
// since the last call, becomes LT_ERR_ARG with the CPU builder's message, and
// the record is cleared.
extern "C" lt_status lt_cuda_attn_faults(void) {
    Fault f;
    cudaStream_t st = lt_cuda_stream();
    LT_CUDA_CHECK(cudaMemcpyFromSymbolAsync(&f, g_attn_fault, sizeof f, 0, cudaMemcpyDeviceToHost, st));
    LT_CUDA_CHECK(cudaStreamSynchronize(st));
    if (f.launch == 0ull) return LT_OK;
    static const Fault clear = {0ull, ~0ull, 0, 0, 0, 0, 0};
    LT_CUDA_CHECK(cudaMemcpyToSymbolAsync(g_attn_fault, &clear, sizeof clear, 0, cudaMemcpyHostToDevice, st));
    LT_CUDA_CHECK(cudaStreamSynchronize(st));
    const int kind = (int)(f.key >> 63);
    const long long pos = (long long)((f.key >> 32) & 0x7fffffffull);
    const int value = (int)(uint32_t)(f.key & 0xffffffffull);
    if (kind == KIND_LENS)
        return lt_error(LT_ERR_ARG, "attention: key_lens[%lld] = %d is outside 1..S = 1..%d (found on the device)",
                        pos, value, f.S);
    if (pos == kPosMax || f.H < 1 || f.nbq < 1)   // past what the record holds: no coordinates
        return lt_error(LT_ERR_ARG, "attention: a query row at flat block row %lld or later sees no key: block_mask "
                        "hides every key block it could see (found on the device)", pos);
    const long long bh = pos / f.nbq, b = bh / f.H, h = bh % f.H, r = (pos % f.nbq) * f.bq;
    return lt_error(LT_ERR_ARG,
                    "attention: query row (b=%lld, h=%lld, row=%lld) sees no key: block_mask hides every key block "
                    "it could see (key length %d%s) (found on the device)",
                    b, h, r, value, f.causal ? ", causal" : "");
}
