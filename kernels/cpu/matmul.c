// matmul and linear on OpenBLAS. Transposes are passed to sgemm as flags and
// gradients are accumulated by sgemm itself (beta = 1): nothing is copied.
#include "autograd/op.h"
#include "kernels/matmul_geom.h"

#include <cblas.h>
#include <string.h>

// C [M,N] = alpha op(A) op(B) + beta C, row-major, leading dims as stored.
static void gemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                 float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda,
                B, ldb, beta, C, ldc);
}

lt_status lt_cpu_matmul_fwd(lt_node *nd) {
    lt_mm_geom g = lt_mm_geom_of(nd);
    const float *A = lt_f32(nd->in[0]), *B = lt_f32(nd->in[1]);
    float *C = lt_f32(nd->out[0]);
    int lda = g.ta ? g.m : g.k, ldb = g.tb ? g.k : g.n;
    for (int i = 0; i < g.nb; i++)
        gemm(g.ta, g.tb, g.m, g.n, g.k, A + i * g.sa, lda, B + i * g.sb, ldb, 0.0f, C + i * g.sc, g.n);
    return LT_OK;
}

lt_status lt_cpu_matmul_bwd(lt_node *nd) {
    const float *G = nd->out[0]->grad;   // [.., m, n]
    if (!G) return LT_OK;
    lt_mm_geom g = lt_mm_geom_of(nd);
    const float *A = lt_f32(nd->in[0]), *B = lt_f32(nd->in[1]);
    float *dA = nd->in[0]->grad, *dB = nd->in[1]->grad;
    int m = g.m, k = g.k, n = g.n;
    int lda = g.ta ? m : k, ldb = g.tb ? k : n;
    for (int i = 0; i < g.nb; i++) {
        const float *Ai = A + i * g.sa, *Bi = B + i * g.sb, *Gi = G + i * g.sc;
        if (dA) {
            float *dAi = dA + i * g.sa;
            if (!g.ta) gemm(0, !g.tb, m, k, n, Gi, n, Bi, ldb, 1.0f, dAi, k);   // G op(B)^T
            else gemm(g.tb, 1, k, m, n, Bi, ldb, Gi, n, 1.0f, dAi, m);          // op(B) G^T
        }
        if (dB) {
            float *dBi = dB + i * g.sb;   // shared b: every batch adds into the same matrix
            if (!g.tb) gemm(!g.ta, 0, k, n, m, Ai, lda, Gi, n, 1.0f, dBi, n);   // op(A)^T G
            else gemm(1, g.ta, n, k, m, Gi, n, Ai, lda, 1.0f, dBi, k);          // G^T op(A)
        }
    }
    return LT_OK;
}

// db [n] += column sums of G [rows, n]. Each thread owns a block of columns
// and walks the rows in order, so the result does not depend on thread count.
static void colsum_add(const float *G, int64_t rows, int n, float *db) {
    enum { BLK = 64 };
    int nblk = (n + BLK - 1) / BLK;
#pragma omp parallel for if (rows * n > 65536 && nblk > 1)
    for (int bi = 0; bi < nblk; bi++) {
        int j0 = bi * BLK, j1 = j0 + BLK < n ? j0 + BLK : n;
        double acc[BLK] = {0};
        for (int64_t r = 0; r < rows; r++) {
            const float *g = G + r * n;
            for (int j = j0; j < j1; j++) acc[j - j0] += g[j];
        }
        for (int j = j0; j < j1; j++) db[j] += (float)acc[j - j0];
    }
}

// in: x [.., in], w [out, in], optional bias [out]; out: y [.., out]
lt_status lt_cpu_linear_fwd(lt_node *nd) {
    const lt_tensor *x = nd->in[0], *w = nd->in[1];
    const float *bias = nd->n_in > 2 ? lt_f32(nd->in[2]) : NULL;
    int in = w->shape[1], out = w->shape[0];
    int rows = (int)(x->numel / in);
    float *Y = lt_f32(nd->out[0]);
    if (bias)
        for (int r = 0; r < rows; r++) memcpy(Y + (int64_t)r * out, bias, sizeof(float) * (size_t)out);
    gemm(0, 1, rows, out, in, lt_f32(x), in, lt_f32(w), in, bias ? 1.0f : 0.0f, Y, out);
    return LT_OK;
}

lt_status lt_cpu_linear_bwd(lt_node *nd) {
    const float *G = nd->out[0]->grad;   // [rows, out]
    if (!G) return LT_OK;
    const lt_tensor *x = nd->in[0], *w = nd->in[1];
    int in = w->shape[1], out = w->shape[0];
    int rows = (int)(x->numel / in);
    if (x->grad) gemm(0, 0, rows, in, out, G, out, lt_f32(w), in, 1.0f, x->grad, in);        // G W
    if (w->grad) gemm(1, 0, out, in, rows, G, out, lt_f32(x), in, 1.0f, w->grad, in);        // G^T X
    if (nd->n_in > 2 && nd->in[2]->grad) colsum_add(G, rows, out, nd->in[2]->grad);
    return LT_OK;
}
