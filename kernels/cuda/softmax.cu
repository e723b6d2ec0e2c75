// softmax and log_softmax over the last axis, forward and backward (the CPU
// reference is kernels/cpu/softmax.c). A row of length d <= 1024 is one warp's
// (8 rows per 256-thread block); a longer row is one block's (256 threads, or
// 1024 past 8192). Each pass re-reads the row from global memory (L1/L2 for
// all but very long rows). Row sums accumulate in double as on CPU, so results
// differ from it only by expf's last bit. Backward reads the forward output.
#include "kernels/cuda/rows.cuh"

#include <math.h>

namespace {   // file-local: kernels and types stay out of other files' way

using namespace lt_rows;


// ---- kernels ----

// X, Y [rows, d]. softmax: y = e^(x-m) / sum e^(x-m); log: y = (x-m) - log sum e^(x-m)
template <int TPR, bool LOG>
__global__ void __launch_bounds__(Row<TPR>::THREADS)
    softmax_fwd_k(const float *__restrict__ X, float *__restrict__ Y, int64_t rows, int d) {
    __shared__ double shd[32];
    __shared__ float shf[32];
    const int t = Row<TPR>::lane();
    for (int64_t r = Row<TPR>::first(); r < rows; r += Row<TPR>::step()) {
        const float *x = X + r * d;
        float *y = Y + r * d;
        float m = -INFINITY;
        for (int j = t; j < d; j += TPR) m = fmaxf(m, x[j]);
        m = row_max<TPR>(m, shf);
        double s = 0;
        for (int j = t; j < d; j += TPR) s += expf(x[j] - m);
        s = row_sum<TPR>(s, shd);
        if (LOG) {
            float lse = (float)log(s);
            for (int j = t; j < d; j += TPR) y[j] = (x[j] - m) - lse;
        } else {
            float inv = (float)(1.0 / s);
            for (int j = t; j < d; j += TPR) y[j] = expf(x[j] - m) * inv;
        }
    }
}

// Y, G, dX [rows, d]. softmax: dx += y (g - sum g y); log: dx += g - e^y sum g
template <int TPR, bool LOG>
__global__ void __launch_bounds__(Row<TPR>::THREADS)
    softmax_bwd_k(const float *__restrict__ Y, const float *__restrict__ G, float *__restrict__ dX, int64_t rows,
                  int d) {
    __shared__ double shd[32];
    const int t = Row<TPR>::lane();
    for (int64_t r = Row<TPR>::first(); r < rows; r += Row<TPR>::step()) {
        const float *y = Y + r * d, *g = G + r * d;
        float *dx = dX + r * d;
        double s = 0;
        for (int j = t; j < d; j += TPR) s += LOG ? (double)g[j] : (double)g[j] * y[j];
        float fs = (float)row_sum<TPR>(s, shd);
        for (int j = t; j < d; j += TPR) dx[j] += LOG ? g[j] - expf(y[j]) * fs : y[j] * (g[j] - fs);
    }
}

}  // namespace

// ---- launch ----


template <int TPR, bool LOG> static lt_status fwd_launch(const float *X, float *Y, int64_t rows, int d) {
    softmax_fwd_k<TPR, LOG><<<row_blocks<TPR>(rows), Row<TPR>::THREADS, 0, lt_cuda_stream()>>>(X, Y, rows, d);
    LT_LAUNCH_CHECK(LOG ? "log_softmax fwd" : "softmax fwd");
    return LT_OK;
}

template <int TPR, bool LOG>
static lt_status bwd_launch(const float *Y, const float *G, float *dX, int64_t rows, int d) {
    softmax_bwd_k<TPR, LOG><<<row_blocks<TPR>(rows), Row<TPR>::THREADS, 0, lt_cuda_stream()>>>(Y, G, dX, rows, d);
    LT_LAUNCH_CHECK(LOG ? "log_softmax bwd" : "softmax bwd");
    return LT_OK;
}

// in: x [.., d]; out: y [.., d]
template <bool LOG> static lt_status fwd(lt_node *n) {
    const lt_tensor *x = n->in[0];
    int d = x->shape[x->ndim - 1];
    int64_t rows = x->numel / d;
    const float *X = lt_cuda_f32(x);
    float *Y = lt_cuda_f32(n->out[0]);
    if (d <= 1024) return fwd_launch<32, LOG>(X, Y, rows, d);
    if (d <= 8192) return fwd_launch<256, LOG>(X, Y, rows, d);
    return fwd_launch<1024, LOG>(X, Y, rows, d);
}

template <bool LOG> static lt_status bwd(lt_node *n) {
    const float *G = n->out[0]->grad;
    float *dX = n->in[0]->grad;
    if (!G || !dX) return LT_OK;
    const lt_tensor *x = n->in[0];
    int d = x->shape[x->ndim - 1];
    int64_t rows = x->numel / d;
    const float *Y = lt_cuda_f32(n->out[0]);
    if (d <= 1024) return bwd_launch<32, LOG>(Y, G, dX, rows, d);
    if (d <= 8192) return bwd_launch<256, LOG>(Y, G, dX, rows, d);
    return bwd_launch<1024, LOG>(Y, G, dX, rows, d);
}

extern "C" lt_status lt_cuda_softmax_fwd(lt_node *n) { return fwd<false>(n); }
extern "C" lt_status lt_cuda_softmax_bwd(lt_node *n) { return bwd<false>(n); }
extern "C" lt_status lt_cuda_log_softmax_fwd(lt_node *n) { return fwd<true>(n); }
extern "C" lt_status lt_cuda_log_softmax_bwd(lt_node *n) { return bwd<true>(n); }
