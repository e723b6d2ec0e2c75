// Entropy of softmax(s) over the last axis (the CPU reference is
// kernels/cpu/softmax_entropy.c). Per row, with m the row max,
//   Z = sum_j e^(s_j - m),  A = sum_j e^(s_j - m) (s_j - m),  H = log Z - A / Z,
// and backward dH/ds_j = -p_j (s_j - mu), p_j = e^(s_j - lse), mu = m + A / Z.
// Terms whose exponential underflows to 0 (-inf logits) are skipped, never
// multiplied by an infinity. One warp (d <= 1024) or block per row; sums in
// double as on CPU (which rescales a running max per chunk instead of taking
// the max first: the results agree to rounding).
//
// What this cannot do: the CPU forward fails with LT_ERR_NONFINITE naming the
// first row with no finite maximum; finding that here needs a host copy, which
// a kernel entry point may not make. Such rows get H = NaN (as on CPU) and
// saved statistics that make their gradient NaN, so the NaN surfaces downstream.
#include "kernels/cuda/rows.cuh"

#include <math.h>

namespace {   // file-local: kernels and types stay out of other files' way

using namespace lt_rows;



// What backward needs per row, relative to the row max m.
struct se_stats {
    float m, log_z, mu_rel;
};

// ---- kernels ----

// S [rows, d] -> H [rows]; stats [rows] when backward will run (else NULL).
template <int TPR>
__global__ void __launch_bounds__(Row<TPR>::THREADS)
    se_fwd_k(const float *__restrict__ S, int64_t rows, int d, float *__restrict__ H, se_stats *__restrict__ stats) {
    __shared__ double shd[32];
    __shared__ float shf[32];
    const int t = Row<TPR>::lane();
    for (int64_t r = Row<TPR>::first(); r < rows; r += Row<TPR>::step()) {
        const float *s = S + r * d;
        float m = -INFINITY;
        for (int j = t; j < d; j += TPR) m = fmaxf(m, s[j]);
        m = row_max<TPR>(m, shf);
        // fmaxf skips NaN; a NaN logit still reaches z below and makes it NaN.
        const bool finite = m > -INFINITY && m < INFINITY;   // uniform over the row
        double z = 0, a = 0;
        if (finite)
            for (int j = t; j < d; j += TPR) {
                float dj = s[j] - m;
                float e = expf(dj);
                if (e != 0) { z += e; a += (double)e * dj; }
            }
        z = row_sum<TPR>(z, shd);
        a = row_sum<TPR>(a, shd);
        if (t != 0) continue;
        if (!finite || !(z > 0)) {
            H[r] = NAN;
            if (stats) stats[r] = se_stats{m, NAN, NAN};
            continue;
        }
        double mu_rel = a / z, log_z = log(z);
        H[r] = (float)(log_z - mu_rel);
        if (stats) stats[r] = se_stats{m, (float)log_z, (float)mu_rel};
    }
}

// dS [rows, d] -= G[r] p_j (s_j - mu) for every p_j != 0
template <int TPR>
__global__ void __launch_bounds__(Row<TPR>::THREADS)
    se_bwd_k(const float *__restrict__ S, const se_stats *__restrict__ stats, const float *__restrict__ G,
             int64_t rows, int d, float *__restrict__ dS) {
    const int t = Row<TPR>::lane();
    for (int64_t r = Row<TPR>::first(); r < rows; r += Row<TPR>::step()) {
        const float g = G[r];
        if (g == 0) continue;
        const se_stats st = stats[r];
        const float *s = S + r * d;
        float *ds = dS + r * d;
        for (int j = t; j < d; j += TPR) {
            float rel = s[j] - st.m;   // exact near the max
            float p = expf(rel - st.log_z);
            if (p != 0) ds[j] -= g * p * (rel - st.mu_rel);
        }
    }
}

}  // namespace

// ---- entry points ----

template <int TPR> static lt_status fwd_launch(const float *S, int64_t rows, int d, float *H, se_stats *stats) {
    se_fwd_k<TPR><<<row_blocks<TPR>(rows), Row<TPR>::THREADS, 0, lt_cuda_stream()>>>(S, rows, d, H, stats);
    LT_LAUNCH_CHECK("softmax_entropy fwd");
    return LT_OK;
}

template <int TPR>
static lt_status bwd_launch(const float *S, const se_stats *stats, const float *G, int64_t rows, int d, float *dS) {
    se_bwd_k<TPR><<<row_blocks<TPR>(rows), Row<TPR>::THREADS, 0, lt_cuda_stream()>>>(S, stats, G, rows, d, dS);
    LT_LAUNCH_CHECK("softmax_entropy bwd");
    return LT_OK;
}

// in: logits [.., d]; out: H [..]
extern "C" lt_status lt_cuda_softmax_entropy_fwd(lt_node *n) {
    const lt_tensor *x = n->in[0];
    int d = x->shape[x->ndim - 1];
    int64_t rows = x->numel / d;
    se_stats *stats = NULL;
    if (n->recorded) {
        stats = (se_stats *)lt_node_save_data(n, sizeof(se_stats) * (size_t)rows);
        if (!stats) return lt_last_status();
        n->saved = stats;
    }
    const float *S = lt_cuda_f32(x);
    float *H = lt_cuda_f32(n->out[0]);
    if (d <= 1024) return fwd_launch<32>(S, rows, d, H, stats);
    if (d <= 8192) return fwd_launch<256>(S, rows, d, H, stats);
    return fwd_launch<1024>(S, rows, d, H, stats);
}

extern "C" lt_status lt_cuda_softmax_entropy_bwd(lt_node *n) {
    const float *G = n->out[0]->grad;   // [rows]
    float *dS = n->in[0]->grad;         // [rows, d]
    if (!G || !dS) return LT_OK;
    const lt_tensor *x = n->in[0];
    int d = x->shape[x->ndim - 1];
    int64_t rows = x->numel / d;
    const se_stats *stats = (const se_stats *)n->saved;
    if (!stats) return lt_error(LT_ERR_STATE, "softmax_entropy: backward without saved row statistics");
    const float *S = lt_cuda_f32(x);
    if (d <= 1024) return bwd_launch<32>(S, stats, G, rows, d, dS);
    if (d <= 8192) return bwd_launch<256>(S, stats, G, rows, d, dS);
    return bwd_launch<1024>(S, stats, G, rows, d, dS);
}
