// One mlp_fashion training step (784-H-H-10 MLP, ReLU, cross-entropy, AdamW,
// batch B) timed in libtrain and, in the same run, in PyTorch CPU with the
// same thread count (bench/mlp_step_torch.py via Debian's python3-torch).
//   build/bench_mlp_step [--batch=128] [--hidden=256] [--steps=200] [--threads=2] [--python=/usr/bin/python3]
// --device=cuda: the same step on the GPU against PyTorch CUDA eager on the same GPU
// (--matmul=fp32|tf32|bf16 for both; torch's float32_matmul_precision highest|high|
// medium). The batch lives on the GPU on both sides; ms/step = wall clock of the
// timed steps, synced before and after, over the steps (steps are not synced singly).
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libtrain/lt.h"
#include "libtrain/flags.h"
#include "libtrain/run.h"
#include "bench/cuda_timer.h"

// --device=cuda: libtrain's step on the GPU in this process, then PyTorch CUDA eager.
static int main_cuda(int batch, int hidden, int steps, int warmup, const char *matmul, const char *python,
                     const char *src) {
    lt_precision prec;
    if (lt_precision_parse(matmul, &prec) != LT_OK) { fprintf(stderr, "error: %s\n", lt_last_error()); return 2; }
    if (lt_device_check(LT_CUDA) != LT_OK) { fprintf(stderr, "error: no GPU: %s\n", lt_last_error()); return 1; }
    lt_set_matmul_precision(prec);
    lt_params ps;
    lt_params_init(&ps, LT_CUDA);
    lt_rng rng;
    lt_rng_init(&rng, 0);
    lt_mlp mlp;
    int dims[4] = {784, hidden, hidden, 10};
    lt_optim *opt = NULL;
    lt_ctx *c = NULL;
    lt_tensor *xt = NULL, *yt = NULL;
    float *x = malloc(sizeof(float) * (size_t)batch * 784);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)batch);
    double ours = -1;
    char gpu[256] = "?";
    if (!x || !y) { fprintf(stderr, "error: out of memory\n"); goto done; }
    if (lt_mlp_init(&mlp, &ps, &rng, "net", 3, dims, LT_ACT_RELU, 0.f) != LT_OK) goto fail;
    lt_adamw_opts ao = lt_adamw_defaults(1e-3f);
    ao.weight_decay = 0;
    if (!(opt = lt_optim_adamw(&ps, ao)) || !(c = lt_ctx_new(LT_CUDA, 0))) goto fail;
    lt_rng_fill_normal(&rng, x, (int64_t)batch * 784, 0, 1);
    for (int i = 0; i < batch; i++) y[i] = (int32_t)lt_rng_below(&rng, 10);
    // The batch on the GPU once, as a prefetching loader would hand it over.
    xt = lt_tensor_alloc(LT_F32, LT_CUDA, LT_SHAPE(batch, 784));
    yt = lt_tensor_alloc(LT_I32, LT_CUDA, LT_SHAPE(batch));
    if (!xt || !yt || lt_device_copy(LT_CUDA, xt->data, LT_CPU, x, sizeof(float) * (size_t)batch * 784) != LT_OK ||
        lt_device_copy(LT_CUDA, yt->data, LT_CPU, y, sizeof(int32_t) * (size_t)batch) != LT_OK)
        goto fail;
    double t0 = 0;
    for (int it = 0; it < warmup + steps; it++) {
        if (it == warmup) {
            if (lt_ctx_sync(c) != LT_OK) goto fail;
            t0 = lt_time_now();
        }
        lt_params_zero_grad(&ps);
        lt_tensor *loss = lt_cross_entropy(c, lt_mlp_forward(c, &mlp, xt), yt, -100, 0.f);
        if (lt_backward(c, loss) != LT_OK || lt_optim_step(opt) != LT_OK) goto fail;
        lt_ctx_reset(c);
    }
    if (lt_ctx_sync(c) != LT_OK) goto fail;
    ours = (lt_time_now() - t0) / steps * 1e3;
#ifdef LT_HAVE_CUDA
    bench_gpu_name(gpu, sizeof gpu);
#endif
    goto done;
fail:
    fprintf(stderr, "error: %s\n", lt_last_error());
done:;
    double flops = 6.0 * batch * (784.0 * hidden + (double)hidden * hidden + hidden * 10.0);
    printf("mlp step (cuda): batch %d, 784-%d-%d-10, AdamW, matmul %s, GPU %s\n", batch, hidden, hidden, matmul, gpu);
    printf("%-34s %10s %10s\n", "impl", "ms/step", "GFLOP/s");
    if (ours > 0) printf("%-34s %10.3f %10.1f\n", "libtrain cuda", ours, flops / ours / 1e6);
    else printf("%-34s %10s\n", "libtrain cuda", "failed");
    char cmd[2048], line[256];
    snprintf(cmd, sizeof cmd, "%s %s/bench/mlp_step_torch.py --device=cuda --matmul=%s --batch=%d --hidden=%d --steps=%d "
             "--warmup=%d", python, src, matmul, batch, hidden, steps, warmup);
    FILE *p = popen(cmd, "r");
    double theirs = -1;
    while (p && fgets(line, sizeof line, p)) sscanf(line, "torch_ms_per_step %lf", &theirs);
    int rc = p ? pclose(p) : -1;
    if (theirs <= 0 || rc != 0) printf("pytorch: not run (%s failed; needs python3 with a CUDA torch)\n", cmd);
    else printf("%-34s %10.3f %10.1f\n", "pytorch cuda eager", theirs, flops / theirs / 1e6);
    if (ours > 0 && theirs > 0) printf("speedup (pytorch / libtrain): %.2fx\n", theirs / ours);
    lt_tensor_free(xt); lt_tensor_free(yt);
    free(x); free(y);
    lt_ctx_free(c); lt_optim_free(opt); lt_params_free(&ps);
    return ours > 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    int batch, hidden, steps, warmup, threads;
    const char *python, *src, *device, *matmul;
    lt_flags *f = lt_flags_new("bench_mlp_step", "time one MLP training step against PyTorch CPU");
    lt_flag_int(f, "batch", &batch, 128, "batch size");
    lt_flag_int(f, "hidden", &hidden, 256, "hidden width");
    lt_flag_int(f, "steps", &steps, 200, "timed steps");
    lt_flag_int(f, "warmup", &warmup, 20, "untimed steps first");
    lt_flag_int(f, "threads", &threads, 2, "CPU threads for both");
    lt_flag_str(f, "python", &python, "/usr/bin/python3", "python with torch (Debian python3-torch)");
    lt_flag_str(f, "src", &src, ".", "repository root (for bench/mlp_step_torch.py)");
    lt_flag_choice(f, "device", &device, "cpu", "cpu|cuda", "cuda: the step on the GPU against PyTorch CUDA");
    lt_flag_choice(f, "matmul", &matmul, "fp32", "fp32|tf32|bf16", "with --device=cuda: matmul precision (both)");
    lt_status s = lt_flags_parse(f, argc, argv);
    if (s == LT_HELP) return 0;
    if (s != LT_OK) { fprintf(stderr, "error: %s\n", lt_last_error()); return 2; }
    if (!strcmp(device, "cuda")) {
        if (steps < 1 || warmup < 0) { fprintf(stderr, "error: --steps must be >= 1, --warmup >= 0\n"); return 2; }
        int rc = main_cuda(batch, hidden, steps, warmup, matmul, python, src);
        lt_flags_free(f);
        return rc;
    }
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);

    lt_params ps;
    lt_params_init(&ps, LT_CPU);
    lt_rng rng;
    lt_rng_init(&rng, 0);
    lt_mlp mlp;
    int dims[4] = {784, hidden, hidden, 10};
    if (lt_mlp_init(&mlp, &ps, &rng, "net", 3, dims, LT_ACT_RELU, 0.f) != LT_OK) {
        fprintf(stderr, "error: %s\n", lt_last_error()); return 1;
    }
    lt_adamw_opts ao = lt_adamw_defaults(1e-3f);
    ao.weight_decay = 0;
    lt_optim *opt = lt_optim_adamw(&ps, ao);
    lt_ctx *c = lt_ctx_new(LT_CPU, 0);
    float *x = malloc(sizeof(float) * (size_t)batch * 784);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)batch);
    lt_rng_fill_normal(&rng, x, (int64_t)batch * 784, 0, 1);
    for (int i = 0; i < batch; i++) y[i] = (int32_t)lt_rng_below(&rng, 10);

    double t0 = 0;
    for (int it = 0; it < warmup + steps; it++) {
        if (it == warmup) t0 = lt_time_now();
        lt_params_zero_grad(&ps);
        lt_tensor *xt = lt_tensor_from(c, LT_F32, LT_SHAPE(batch, 784), x);
        lt_tensor *yt = lt_tensor_from(c, LT_I32, LT_SHAPE(batch), y);
        lt_tensor *loss = lt_cross_entropy(c, lt_mlp_forward(c, &mlp, xt), yt, -100, 0.f);
        if (lt_backward(c, loss) != LT_OK || lt_optim_step(opt) != LT_OK) {
            fprintf(stderr, "error: %s\n", lt_last_error()); return 1;
        }
        lt_ctx_reset(c);
    }
    double ours = (lt_time_now() - t0) / steps * 1e3;

    // PyTorch at its best setting: the requested thread count and 1 thread, each
    // with OpenMP's default and with passive waiting (Debian's torch next to a
    // pthread BLAS can lose 4x to spinning threads on 2 cores).
    double flops = 6.0 * batch * (784.0 * hidden + (double)hidden * hidden + hidden * 10.0);
    printf("mlp step: batch %d, 784-%d-%d-10, AdamW, %d threads\n", batch, hidden, hidden, threads);
    printf("%-34s %10s %10s\n", "impl", "ms/step", "GFLOP/s");
    printf("%-34s %10.3f %10.1f\n", "libtrain", ours, flops / ours / 1e6);
    double best = -1;
    int tcounts[2] = {threads, 1};
    for (int ti = 0; ti < (threads > 1 ? 2 : 1); ti++)
        for (int passive = 0; passive < 2; passive++) {
            char cmd[2048];
            snprintf(cmd, sizeof cmd, "%s %s %s/bench/mlp_step_torch.py --batch=%d --hidden=%d --steps=%d --warmup=%d --threads=%d",
                     passive ? "OMP_WAIT_POLICY=passive" : "", python, src, batch, hidden, steps, warmup, tcounts[ti]);
            FILE *p = popen(cmd, "r");
            double theirs = -1;
            char line[256];
            while (p && fgets(line, sizeof line, p)) sscanf(line, "torch_ms_per_step %lf", &theirs);
            int rc = p ? pclose(p) : -1;
            if (theirs <= 0 || rc != 0) {
                printf("pytorch: not run (%s failed; install Debian's python3-torch)\n", cmd);
                continue;
            }
            char label[64];
            snprintf(label, sizeof label, "pytorch %d thr%s", tcounts[ti], passive ? ", OMP passive" : "");
            printf("%-34s %10.3f %10.1f\n", label, theirs, flops / theirs / 1e6);
            if (best < 0 || theirs < best) best = theirs;
        }
    if (best > 0) printf("speedup (best pytorch / libtrain): %.2fx\n", best / ours);
    free(x); free(y);
    lt_ctx_free(c); lt_optim_free(opt); lt_params_free(&ps); lt_flags_free(f);
    return 0;
}
