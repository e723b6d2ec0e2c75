// layernorm and rmsnorm over the last axis, torch semantics with biased
// variance (the CPU reference is kernels/cpu/norm.c). iattr[0]: w present,
// iattr[1]: b present; fattr[0]: eps; inputs x, then w and b when present.
// Forward: one warp (d <= 1024) or block per row, statistics in double as on
// CPU; saves mean/rstd per row in device memory when backward will run.
// Backward: the same row mapping for dx; dw/db are column sums over rows done
// in two deterministic stages (per-chunk partials in double, then the chunks
// summed in order), with no atomics.
#include "kernels/cuda/rows.cuh"

#include <math.h>

namespace {   // file-local: kernels and types stay out of other files' way

using namespace lt_rows;



// ---- forward ----

// X, Y [rows, d]; W, B [d] or NULL; mean, rstd [rows] or NULL (rmsnorm: no mean).
template <int TPR, bool RMS>
__global__ void __launch_bounds__(Row<TPR>::THREADS)
    norm_fwd_k(const float *__restrict__ X, const float *__restrict__ W, const float *__restrict__ B,
               float *__restrict__ Y, int64_t rows, int d, double eps, float *__restrict__ mean,
               float *__restrict__ rstd) {
    __shared__ double shd[32];
    const int t = Row<TPR>::lane();
    for (int64_t r = Row<TPR>::first(); r < rows; r += Row<TPR>::step()) {
        const float *x = X + r * d;
        float *y = Y + r * d;
        float mu = 0.0f, rs;
        if (RMS) {
            double ss = 0;
            for (int j = t; j < d; j += TPR) ss += (double)x[j] * x[j];
            ss = row_sum<TPR>(ss, shd);
            rs = (float)(1.0 / sqrt(ss / d + eps));
            for (int j = t; j < d; j += TPR) y[j] = W ? x[j] * rs * W[j] : x[j] * rs;
        } else {
            double s = 0, v = 0;
            for (int j = t; j < d; j += TPR) s += x[j];
            s = row_sum<TPR>(s, shd);
            mu = (float)(s / d);
            for (int j = t; j < d; j += TPR) v += (double)(x[j] - mu) * (x[j] - mu);
            v = row_sum<TPR>(v, shd);
            rs = (float)(1.0 / sqrt(v / d + eps));
            for (int j = t; j < d; j += TPR) {
                float h = (x[j] - mu) * rs;
                if (W) h *= W[j];
                if (B) h += B[j];
                y[j] = h;
            }
        }
        if (t == 0) {
            if (mean) mean[r] = mu;
            if (rstd) rstd[r] = rs;
        }
    }
}

// ---- backward ----

// dX [rows, d] += rstd (dxh - mean(dxh) - xhat mean(dxh xhat)), dxh = g w,
// xhat = (x - mean) rstd; rmsnorm (mean NULL) drops the mean(dxh) term.
template <int TPR>
__global__ void __launch_bounds__(Row<TPR>::THREADS)
    norm_dx_k(const float *__restrict__ X, const float *__restrict__ W, const float *__restrict__ G,
              const float *__restrict__ mean, const float *__restrict__ rstd, int64_t rows, int d,
              float *__restrict__ dX) {
    __shared__ double shd[32];
    const int t = Row<TPR>::lane();
    for (int64_t r = Row<TPR>::first(); r < rows; r += Row<TPR>::step()) {
        const float *x = X + r * d, *g = G + r * d;
        float *dx = dX + r * d;
        const float mu = mean ? mean[r] : 0.0f, rs = rstd[r];
        double s1 = 0, s2 = 0;
        for (int j = t; j < d; j += TPR) {
            float dxh = W ? g[j] * W[j] : g[j];
            s1 += dxh;
            s2 += (double)dxh * ((x[j] - mu) * rs);
        }
        s2 = row_sum<TPR>(s2, shd);
        if (mean) s1 = row_sum<TPR>(s1, shd);   // mean is NULL or not for every row alike
        const float m1 = mean ? (float)(s1 / d) : 0.0f, m2 = (float)(s2 / d);
        for (int j = t; j < d; j += TPR) {
            float dxh = W ? g[j] * W[j] : g[j];
            dx[j] += rs * (dxh - m1 - ((x[j] - mu) * rs) * m2);
        }
    }
}

// Parameter gradients, stage 1: block (x: 32 columns, y: 8 row lanes) sums one
// chunk of rows into pw/pb [chunks, d] (either may be NULL):
//   pw = sum_r g xhat,  pb = sum_r g.
#define PG_COLS 32
#define PG_LANES 8

__global__ void __launch_bounds__(PG_COLS *PG_LANES)
    norm_pgrad_partial(const float *__restrict__ X, const float *__restrict__ G, const float *__restrict__ mean,
                       const float *__restrict__ rstd, int64_t rows, int d, int64_t chunk_rows,
                       double *__restrict__ pw, double *__restrict__ pb) {
    __shared__ double shw[PG_LANES][PG_COLS + 1], shb[PG_LANES][PG_COLS + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int64_t j = (int64_t)blockIdx.x * PG_COLS + tx;
    const int64_t r0 = (int64_t)blockIdx.y * chunk_rows, r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
    double aw = 0, ab = 0;
    if (j < d)
        for (int64_t r = r0 + ty; r < r1; r += PG_LANES) {
            float gj = G[r * d + j];
            if (pw) {
                float mu = mean ? mean[r] : 0.0f;
                aw += (double)gj * ((X[r * d + j] - mu) * rstd[r]);
            }
            ab += gj;
        }
    shw[ty][tx] = aw;
    shb[ty][tx] = ab;
    __syncthreads();
    if (ty == 0 && j < d) {
        double sw = 0, sb = 0;
        for (int i = 0; i < PG_LANES; i++) { sw += shw[i][tx]; sb += shb[i][tx]; }
        if (pw) pw[(int64_t)blockIdx.y * d + j] = sw;
        if (pb) pb[(int64_t)blockIdx.y * d + j] = sb;
    }
}

// Stage 2: dw/db [d] += the chunks' partials, summed in chunk order.
__global__ void norm_pgrad_finish(const double *__restrict__ pw, const double *__restrict__ pb, int chunks, int d,
                                  float *__restrict__ dw, float *__restrict__ db) {
    LT_GRID_STRIDE(j, d) {
        double sw = 0, sb = 0;
        for (int c = 0; c < chunks; c++) {
            if (pw) sw += pw[(int64_t)c * d + j];
            if (pb) sb += pb[(int64_t)c * d + j];
        }
        if (dw) dw[j] += (float)sw;
        if (db) db[j] += (float)sb;
    }
}

}  // namespace

// ---- entry points ----

template <bool RMS>
static lt_status fwd_launch(const float *X, const float *W, const float *B, float *Y, int64_t rows, int d, double eps,
                            float *mean, float *rstd) {
    cudaStream_t s = lt_cuda_stream();
    if (d <= 1024)
        norm_fwd_k<32, RMS><<<row_blocks<32>(rows), Row<32>::THREADS, 0, s>>>(X, W, B, Y, rows, d, eps, mean, rstd);
    else if (d <= 8192)
        norm_fwd_k<256, RMS><<<row_blocks<256>(rows), Row<256>::THREADS, 0, s>>>(X, W, B, Y, rows, d, eps, mean, rstd);
    else
        norm_fwd_k<1024, RMS><<<row_blocks<1024>(rows), Row<1024>::THREADS, 0, s>>>(X, W, B, Y, rows, d, eps, mean,
                                                                                  rstd);
    LT_LAUNCH_CHECK(RMS ? "rmsnorm fwd" : "layernorm fwd");
    return LT_OK;
}

// Shared by both norms' backward. mean NULL for rmsnorm.
static lt_status norm_bwd(lt_node *n, const char *name, const float *mean, const float *rstd, const float *W,
                          float *dx, float *dw, float *db) {
    const float *G = n->out[0]->grad;   // [rows, d]
    const lt_tensor *x = n->in[0];
    const int d = x->shape[x->ndim - 1];
    const int64_t rows = x->numel / d;
    const float *X = lt_cuda_f32(x);
    cudaStream_t s = lt_cuda_stream();
    if (!rstd) return lt_error(LT_ERR_STATE, "%s: backward without saved row statistics", name);
    if (dx) {
        if (d <= 1024)
            norm_dx_k<32><<<row_blocks<32>(rows), Row<32>::THREADS, 0, s>>>(X, W, G, mean, rstd, rows, d, dx);
        else if (d <= 8192)
            norm_dx_k<256><<<row_blocks<256>(rows), Row<256>::THREADS, 0, s>>>(X, W, G, mean, rstd, rows, d, dx);
        else norm_dx_k<1024><<<row_blocks<1024>(rows), Row<1024>::THREADS, 0, s>>>(X, W, G, mean, rstd, rows, d, dx);
        LT_LAUNCH_CHECK(name);
    }
    if (!dw && !db) return LT_OK;
    // ~2048 blocks in all, at least 64 rows per chunk; the split depends on the
    // shape only, so the summation order (and result) is the same every run.
    int64_t tiles = (d + PG_COLS - 1) / PG_COLS;
    int64_t chunks = (rows + 63) / 64, cap = 2048 / tiles;
    if (cap < 1) cap = 1;
    if (chunks > cap) chunks = cap;
    int64_t chunk_rows = (rows + chunks - 1) / chunks;
    chunks = (rows + chunk_rows - 1) / chunk_rows;
    size_t part_bytes = sizeof(double) * (size_t)chunks * (size_t)d;
    double *pw = NULL, *pb = NULL;
    if (dw && !(pw = (double *)lt_node_save_data(n, part_bytes))) return lt_last_status();
    if (db && !(pb = (double *)lt_node_save_data(n, part_bytes))) return lt_last_status();
    norm_pgrad_partial<<<dim3((unsigned)tiles, (unsigned)chunks), dim3(PG_COLS, PG_LANES), 0, s>>>(
        X, G, mean, rstd, rows, d, chunk_rows, pw, pb);
    LT_LAUNCH_CHECK(name);
    norm_pgrad_finish<<<lt_cuda_blocks(d, 256), 256, 0, s>>>(pw, pb, (int)chunks, d, dw, db);
    LT_LAUNCH_CHECK(name);
    return LT_OK;
}

// in: x [.., D], w [D]?, b [D]?; out: y [.., D]; saves mean [rows], rstd [rows]
extern "C" lt_status lt_cuda_layernorm_fwd(lt_node *n) {
    const lt_tensor *x = n->in[0];
    int k = 1;
    const float *W = n->iattr[0] ? lt_cuda_f32(n->in[k++]) : NULL;
    const float *B = n->iattr[1] ? lt_cuda_f32(n->in[k++]) : NULL;
    const int d = x->shape[x->ndim - 1];
    const int64_t rows = x->numel / d;
    float *stats = NULL;
    if (n->recorded) {
        if (!(stats = (float *)lt_node_save_data(n, sizeof(float) * 2 * (size_t)rows))) return lt_last_status();
        n->saved = stats;
    }
    return fwd_launch<false>(lt_cuda_f32(x), W, B, lt_cuda_f32(n->out[0]), rows, d, (double)n->fattr[0], stats,
                             stats ? stats + rows : NULL);
}

extern "C" lt_status lt_cuda_layernorm_bwd(lt_node *n) {
    if (!n->out[0]->grad) return LT_OK;
    const lt_tensor *x = n->in[0];
    const int64_t rows = x->numel / x->shape[x->ndim - 1];
    int k = 1;
    const lt_tensor *w = n->iattr[0] ? n->in[k++] : NULL;
    const lt_tensor *b = n->iattr[1] ? n->in[k++] : NULL;
    const float *mean = (const float *)n->saved;
    return norm_bwd(n, "layernorm bwd", mean, mean ? mean + rows : NULL, w ? lt_cuda_f32(w) : NULL, x->grad,
                    w ? w->grad : NULL, b ? b->grad : NULL);
}

// in: x [.., D], w [D]?; out: y [.., D]; saves rstd [rows]
extern "C" lt_status lt_cuda_rmsnorm_fwd(lt_node *n) {
    const lt_tensor *x = n->in[0];
    const float *W = n->iattr[0] ? lt_cuda_f32(n->in[1]) : NULL;
    const int d = x->shape[x->ndim - 1];
    const int64_t rows = x->numel / d;
    float *rstd = NULL;
    if (n->recorded) {
        if (!(rstd = (float *)lt_node_save_data(n, sizeof(float) * (size_t)rows))) return lt_last_status();
        n->saved = rstd;
    }
    return fwd_launch<true>(lt_cuda_f32(x), W, NULL, lt_cuda_f32(n->out[0]), rows, d, (double)n->fattr[0], NULL,
                            rstd);
}

extern "C" lt_status lt_cuda_rmsnorm_bwd(lt_node *n) {
    if (!n->out[0]->grad) return LT_OK;
    const lt_tensor *w = n->iattr[0] ? n->in[1] : NULL;
    return norm_bwd(n, "rmsnorm bwd", NULL, (const float *)n->saved, w ? lt_cuda_f32(w) : NULL, n->in[0]->grad,
                    w ? w->grad : NULL, NULL);
}
