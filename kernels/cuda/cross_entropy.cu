// Cross-entropy from logits with ignore_index and label smoothing, torch
// semantics (the CPU reference is kernels/cpu/cross_entropy.c). iattr[0]
// ignore_index, iattr[1] n_valid (counted by the builder on the host), fattr[0]
// label smoothing eps. Forward: one warp (C <= 1024) or block per row writes the
// row's loss (double) and log-sum-exp; one block then sums the rows in a fixed
// order into the mean, so the result is deterministic. lse is saved for backward.
#include "kernels/cuda/rows.cuh"

#include <math.h>

namespace {   // file-local: kernels and types stay out of other files' way

using namespace lt_rows;



// ---- kernels ----

// X [N,C], T [N]; per row: lse = m + log sum e^(x-m),
// loss = (1-eps)(lse - x_t) + eps (lse - mean x); ignored rows give 0 and 0.
template <int TPR>
__global__ void __launch_bounds__(Row<TPR>::THREADS)
    ce_fwd_k(const float *__restrict__ X, const int32_t *__restrict__ T, int64_t N, int C, int64_t ignore,
             double eps, float *__restrict__ lse_out, double *__restrict__ loss_out) {
    __shared__ double shd[32];
    __shared__ float shf[32];
    const int t = Row<TPR>::lane();
    for (int64_t r = Row<TPR>::first(); r < N; r += Row<TPR>::step()) {
        const int64_t tgt = T[r];   // the same for the whole row: the branch is uniform
        if (tgt == ignore) {
            if (t == 0) { lse_out[r] = 0.0f; loss_out[r] = 0.0; }
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

// out = sum_r loss[r] / n_valid (NaN when every row is ignored); one block of 1024.
__global__ void __launch_bounds__(1024)
    ce_mean_k(const double *__restrict__ loss, int64_t N, int64_t n_valid, float *__restrict__ out) {
    __shared__ double shd[32];
    double s = 0;
    for (int64_t i = threadIdx.x; i < N; i += 1024) s += loss[i];
    s = row_sum<1024>(s, shd);
    if (threadIdx.x == 0) *out = n_valid ? (float)(s / (double)n_valid) : NAN;
}

// dX [N,C] += g / n_valid * (p - eps/C - (1-eps) [c == t]) on non-ignored rows;
// g = G[0], read on the device.
template <int TPR>
__global__ void __launch_bounds__(Row<TPR>::THREADS)
    ce_bwd_k(const float *__restrict__ X, const int32_t *__restrict__ T, const float *__restrict__ lse,
             const float *__restrict__ G, int64_t N, int C, int64_t ignore, int64_t n_valid, float eps,
             float *__restrict__ dX) {
    const float scale = G[0] / (float)n_valid, off = eps / (float)C, hit = 1.0f - eps;
    const int t = Row<TPR>::lane();
    for (int64_t r = Row<TPR>::first(); r < N; r += Row<TPR>::step()) {
        const int64_t tgt = T[r];
        if (tgt == ignore) continue;
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

}  // namespace

// ---- entry points ----

template <int TPR>
static lt_status fwd_launch(const float *X, const int32_t *T, int64_t N, int C, int64_t ignore, double eps,
                            float *lse, double *loss) {
    ce_fwd_k<TPR><<<row_blocks<TPR>(N), Row<TPR>::THREADS, 0, lt_cuda_stream()>>>(X, T, N, C, ignore, eps, lse,
                                                                                   loss);
    LT_LAUNCH_CHECK("cross_entropy fwd");
    return LT_OK;
}

// in: logits [N,C] f32, target [N] i32; out: scalar
extern "C" lt_status lt_cuda_cross_entropy_fwd(lt_node *n) {
    const lt_tensor *lg = n->in[0];
    int N = lg->shape[0], C = lg->shape[1];
    const float *X = lt_cuda_f32(lg);
    const int32_t *T = lt_cuda_i32(n->in[1]);
    int64_t ignore = n->iattr[0], n_valid = n->iattr[1];
    double eps = n->fattr[0];
    float *lse = (float *)lt_node_save_data(n, sizeof(float) * (size_t)N);
    double *loss = (double *)lt_node_save_data(n, sizeof(double) * (size_t)N);
    if (!lse || !loss) return lt_last_status();
    if (C <= 1024) LT_TRY(fwd_launch<32>(X, T, N, C, ignore, eps, lse, loss));
    else if (C <= 8192) LT_TRY(fwd_launch<256>(X, T, N, C, ignore, eps, lse, loss));
    else LT_TRY(fwd_launch<1024>(X, T, N, C, ignore, eps, lse, loss));
    ce_mean_k<<<1, 1024, 0, lt_cuda_stream()>>>(loss, N, n_valid, lt_cuda_f32(n->out[0]));
    LT_LAUNCH_CHECK("cross_entropy mean");
    n->saved = lse;
    return LT_OK;
}

template <int TPR>
static lt_status bwd_launch(const float *X, const int32_t *T, const float *lse, const float *G, int64_t N, int C,
                            int64_t ignore, int64_t n_valid, float eps, float *dX) {
    ce_bwd_k<TPR><<<row_blocks<TPR>(N), Row<TPR>::THREADS, 0, lt_cuda_stream()>>>(X, T, lse, G, N, C, ignore,
                                                                                   n_valid, eps, dX);
    LT_LAUNCH_CHECK("cross_entropy bwd");
    return LT_OK;
}

extern "C" lt_status lt_cuda_cross_entropy_bwd(lt_node *n) {
    const float *G = n->out[0]->grad;   // [1]
    float *dX = n->in[0]->grad;         // [N,C]
    int64_t ignore = n->iattr[0], n_valid = n->iattr[1];
    if (!G || !dX || n_valid == 0) return LT_OK;
    const lt_tensor *lg = n->in[0];
    int N = lg->shape[0], C = lg->shape[1];
    const float *X = lt_cuda_f32(lg), *lse = (const float *)n->saved;
    const int32_t *T = lt_cuda_i32(n->in[1]);
    float eps = n->fattr[0];
    if (C <= 1024) return bwd_launch<32>(X, T, lse, G, N, C, ignore, n_valid, eps, dX);
    if (C <= 8192) return bwd_launch<256>(X, T, lse, G, N, C, ignore, n_valid, eps, dX);
    return bwd_launch<1024>(X, T, lse, G, N, C, ignore, n_valid, eps, dX);
}
