// Cross-entropy from logits with ignore_index and label smoothing, torch
// semantics (the CPU reference is kernels/cpu/cross_entropy.c). iattr[0]
// ignore_index, fattr[0] label smoothing eps; iattr[1] (-1 from the builder
// on a device) is not used: the targets never leave the device.
//
// Forward: one warp (C <= 1024) or block per row writes the row's loss
// (double) and log-sum-exp; one block then sums the rows and counts the rows
// that are not ignored, in a fixed order, into the mean (NaN when no row
// counts, as on the CPU) and into a device count that backward scales by. The
// result is deterministic and no value goes to the host, so a step stays
// asynchronous and capturable in a CUDA graph.
//
// A target outside [0,C) that is not ignore_index cannot be the CPU's builder
// error here: its row's loss is NaN (so the mean is NaN), nothing is read out
// of bounds, backward skips the row, and a device fault record keeps the first
// such row; lt_cuda_ce_faults() (called by lt_cuda_sync) turns it into
// LT_ERR_ARG with the CPU's message.
#include "kernels/cuda/rows.cuh"

#include <math.h>

namespace {   // file-local: kernels and types stay out of other files' way

using namespace lt_rows;

// The first faulting forward launch since the last check: the smallest row
// with a bad target (high 32 bits of `key`; rows fit, N is an int) and that
// target (low 32), with the launch's C and ignore_index.
struct Fault {
    unsigned long long launch;   // 0: no fault
    unsigned long long key;
    int C, ignore;
};
__device__ Fault g_ce_fault = {0ull, ~0ull, 0, 0};
unsigned long long g_ce_launch;   // host: id of the last forward launch (never 0)

__device__ __noinline__ void report_fault(unsigned long long launch, int64_t row, int32_t value, int C,
                                          int ignore) {
    unsigned long long prev = atomicCAS(&g_ce_fault.launch, 0ull, launch);
    if (prev != 0ull && prev != launch) return;   // an earlier launch faulted first
    if (prev == 0ull) { g_ce_fault.C = C; g_ce_fault.ignore = ignore; }
    atomicMin(&g_ce_fault.key, ((unsigned long long)row << 32) | (uint32_t)value);
}

// ---- kernels ----

// X [N,C], T [N]; per row: lse = m + log sum e^(x-m),
// loss = (1-eps)(lse - x_t) + eps (lse - mean x); ignored rows give 0 and 0,
// rows with a target outside [0,C) NaN and NaN (and a fault record).
template <int TPR>
__global__ void __launch_bounds__(Row<TPR>::THREADS)
    ce_fwd_k(const float *__restrict__ X, const int32_t *__restrict__ T, int64_t N, int C, int64_t ignore,
             double eps, float *__restrict__ lse_out, double *__restrict__ loss_out, unsigned long long launch) {
    __shared__ double shd[32];
    __shared__ float shf[32];
    const int t = Row<TPR>::lane();
    for (int64_t r = Row<TPR>::first(); r < N; r += Row<TPR>::step()) {
        const int64_t tgt = T[r];   // the same for the whole row: the branches are uniform
        if (tgt == ignore) {
            if (t == 0) { lse_out[r] = 0.0f; loss_out[r] = 0.0; }
            continue;
        }
        if (tgt < 0 || tgt >= C) {
            if (t == 0) {
                lse_out[r] = NAN;
                loss_out[r] = NAN;
                report_fault(launch, r, (int32_t)tgt, C, (int)ignore);
            }
            continue;
        }
        const float *x = X + r * C;
        float m = -INFINITY;
        for (int j = t; j < C; j += TPR) m = fmaxf(m, x[j]);
        m = row_max<TPR>(m, shf);
        double s = 0, sx = 0;
        for (int j = t; j < C; j += TPR) {
            s += expf(x[j] - m);
            sx += x[j];
        }
        s = row_sum<TPR>(s, shd);
        sx = row_sum<TPR>(sx, shd);
        if (t == 0) {
            double l = m + log(s);
            lse_out[r] = (float)l;
            loss_out[r] = (1 - eps) * (l - x[tgt]) + eps * (l - sx / C);
        }
    }
}

// loss [N], T [N]: n_valid = rows whose target is not ignore_index (a count,
// exact in double), *out = sum_r loss[r] / n_valid (NaN when n_valid is 0),
// *n_valid_out = n_valid for backward. One block of 1024.
__global__ void __launch_bounds__(1024)
    ce_mean_k(const double *__restrict__ loss, const int32_t *__restrict__ T, int64_t N, int64_t ignore,
              float *__restrict__ out, int64_t *__restrict__ n_valid_out) {
    __shared__ double shd[32];
    double s = 0, k = 0;
    for (int64_t i = threadIdx.x; i < N; i += 1024) {
        s += loss[i];
        k += (int64_t)T[i] != ignore ? 1.0 : 0.0;
    }
    s = row_sum<1024>(s, shd);
    k = row_sum<1024>(k, shd);
    if (threadIdx.x == 0) {
        *out = k != 0.0 ? (float)(s / k) : NAN;
        *n_valid_out = (int64_t)k;
    }
}

// dX [N,C] += g / n_valid * (p - eps/C - (1-eps) [c == t]) on rows whose
// target is in [0,C) and not ignore_index; g = G[0] and n_valid = *NV are read
// on the device. n_valid 0 (every row ignored) adds nothing, as on the CPU.
template <int TPR>
__global__ void __launch_bounds__(Row<TPR>::THREADS)
    ce_bwd_k(const float *__restrict__ X, const int32_t *__restrict__ T, const float *__restrict__ lse,
             const float *__restrict__ G, const int64_t *__restrict__ NV, int64_t N, int C, int64_t ignore,
             float eps, float *__restrict__ dX) {
    const int64_t n_valid = *NV;
    if (n_valid == 0) return;   // uniform over the grid
    const float scale = G[0] / (float)n_valid, off = eps / (float)C, hit = 1.0f - eps;
    const int t = Row<TPR>::lane();
    for (int64_t r = Row<TPR>::first(); r < N; r += Row<TPR>::step()) {
        const int64_t tgt = T[r];
        if (tgt == ignore || tgt < 0 || tgt >= C) continue;   // bad targets: reported by the forward
        const float *x = X + r * C;
        float *dx = dX + r * C;
        const float l = lse[r];
        for (int j = t; j < C; j += TPR) {
            float v = dx[j] + scale * (expf(x[j] - l) - off);
            if (j == tgt) v -= scale * hit;
            dx[j] = v;
        }
    }
}

// What forward saves for backward, in one lt_node_save_data block of
// save_bytes(N): the count, then the per-row losses (forward's scratch), then lse.
struct Saved {
    int64_t *n_valid;   // [1]
    double *loss;       // [N]
    float *lse;         // [N]
};
size_t save_bytes(int64_t N) { return sizeof(int64_t) + (sizeof(double) + sizeof(float)) * (size_t)N; }
Saved saved_at(void *base, int64_t N) {
    char *b = (char *)base;
    return Saved{(int64_t *)b, (double *)(b + sizeof(int64_t)),
                 (float *)(b + sizeof(int64_t) + sizeof(double) * (size_t)N)};
}

}  // namespace

// ---- entry points ----

template <int TPR>
static lt_status fwd_launch(const float *X, const int32_t *T, int64_t N, int C, int64_t ignore, double eps,
                            float *lse, double *loss, unsigned long long launch) {
    ce_fwd_k<TPR><<<row_blocks<TPR>(N), Row<TPR>::THREADS, 0, lt_cuda_stream()>>>(X, T, N, C, ignore, eps, lse,
                                                                                   loss, launch);
    LT_LAUNCH_CHECK("cross_entropy fwd");
    return LT_OK;
}

// in: logits [N,C] f32, target [N] i32; out: scalar
extern "C" lt_status lt_cuda_cross_entropy_fwd(lt_node *n) {
    const lt_tensor *lg = n->in[0];
    int N = lg->shape[0], C = lg->shape[1];
    const float *X = lt_cuda_f32(lg);
    const int32_t *T = lt_cuda_i32(n->in[1]);
    int64_t ignore = n->iattr[0];
    double eps = n->fattr[0];
    void *base = lt_node_save_data(n, save_bytes(N));
    if (!base) return lt_last_status();
    Saved sv = saved_at(base, N);
    unsigned long long launch = ++g_ce_launch;
    if (N > 0) {   // an empty grid is a launch error
        if (C <= 1024) LT_TRY(fwd_launch<32>(X, T, N, C, ignore, eps, sv.lse, sv.loss, launch));
        else if (C <= 8192) LT_TRY(fwd_launch<256>(X, T, N, C, ignore, eps, sv.lse, sv.loss, launch));
        else LT_TRY(fwd_launch<1024>(X, T, N, C, ignore, eps, sv.lse, sv.loss, launch));
    }
    ce_mean_k<<<1, 1024, 0, lt_cuda_stream()>>>(sv.loss, T, N, ignore, lt_cuda_f32(n->out[0]), sv.n_valid);
    LT_LAUNCH_CHECK("cross_entropy mean");
    n->saved = base;
    return LT_OK;
}

template <int TPR>
static lt_status bwd_launch(const float *X, const int32_t *T, const float *lse, const float *G, const int64_t *NV,
                            int64_t N, int C, int64_t ignore, float eps, float *dX) {
    ce_bwd_k<TPR><<<row_blocks<TPR>(N), Row<TPR>::THREADS, 0, lt_cuda_stream()>>>(X, T, lse, G, NV, N, C, ignore,
                                                                                   eps, dX);
    LT_LAUNCH_CHECK("cross_entropy bwd");
    return LT_OK;
}

extern "C" lt_status lt_cuda_cross_entropy_bwd(lt_node *n) {
    const float *G = n->out[0]->grad;   // [1]
    float *dX = n->in[0]->grad;         // [N,C]
    const lt_tensor *lg = n->in[0];
    int N = lg->shape[0], C = lg->shape[1];
    if (!G || !dX || N == 0) return LT_OK;
    Saved sv = saved_at(n->saved, N);
    const float *X = lt_cuda_f32(lg);
    const int32_t *T = lt_cuda_i32(n->in[1]);
    int64_t ignore = n->iattr[0];
    float eps = n->fattr[0];
    if (C <= 1024) return bwd_launch<32>(X, T, sv.lse, G, sv.n_valid, N, C, ignore, eps, dX);
    if (C <= 8192) return bwd_launch<256>(X, T, sv.lse, G, sv.n_valid, N, C, ignore, eps, dX);
    return bwd_launch<1024>(X, T, sv.lse, G, sv.n_valid, N, C, ignore, eps, dX);
}

// Called after the stream is synchronized (lt_cuda_sync), never from a kernel
// entry point: a target outside [0,C) seen by a forward since the last call
// becomes LT_ERR_ARG with the CPU builder's message, and the record is cleared.
extern "C" lt_status lt_cuda_ce_faults(void) {
    Fault f;
    cudaStream_t st = lt_cuda_stream();
    LT_CUDA_CHECK(cudaMemcpyFromSymbolAsync(&f, g_ce_fault, sizeof f, 0, cudaMemcpyDeviceToHost, st));
    LT_CUDA_CHECK(cudaStreamSynchronize(st));
    if (f.launch == 0ull) return LT_OK;
    static const Fault clear = {0ull, ~0ull, 0, 0};
    LT_CUDA_CHECK(cudaMemcpyToSymbolAsync(g_ce_fault, &clear, sizeof clear, 0, cudaMemcpyHostToDevice, st));
    LT_CUDA_CHECK(cudaStreamSynchronize(st));
    return lt_error(LT_ERR_ARG, "cross_entropy: target[%lld] = %d is outside [0,%d) and is not ignore_index %d",
                    (long long)(f.key >> 32), (int)(uint32_t)(f.key & 0xffffffffull), f.C, f.ignore);
}
