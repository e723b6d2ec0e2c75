// One gated-ABMIL training step (issue 4): a bag of N instances x F features,
// Linear F->D (no bias) + ReLU + dropout, gated attention A, C classes,
// CE + AEM (lambda), AdamW (lr 1e-4, wd 1e-5). Timed in libtrain and, in the
// same run, in PyTorch CPU (bench/mil_step_torch.py, Debian's python3-torch),
// each at 1 and --threads threads with OpenMP's default and passive waiting
// (every setting in its own process: the wait policy is read at start-up).
// In each libtrain process OpenBLAS's sgemm is timed on the step's GEMM shapes
// at the same setting, giving the "sgemm floor": the time the step's big GEMMs
// alone would take at the rate sgemm reaches on them.
//   build/bench_mil_step [--n=2000] [--d-feat=1024] [--d-inner=512] [--steps=20] [--threads=2]
// --device=cuda times the same step on the GPU against PyTorch CUDA eager on the same
// GPU (--matmul=fp32|tf32|bf16 for both: libtrain's matmul precision, torch's
// float32_matmul_precision highest|high|medium). The bag and label live on the GPU
// on both sides; a step's time is wall clock from an idle GPU to its end (synced);
// forward/backward/optimizer parts are CUDA-event times on libtrain's stream.
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libtrain/lt.h"
#include "layers/abmil.h"
#include "bench/cuda_timer.h"

typedef struct {
    int n, f, d, a, c, steps, warmup, threads, child;
    float dropout, lambda;
    const char *python, *src;
    const char *device, *matmul;   // cpu|cuda; CUDA matmul precision fp32|tf32|bf16
} opts;

// The step's big GEMMs as libtrain's linear op calls them (row-major C[M,N] =
// op(A)[M,K] op(B)[K,N]), with how many of each a step runs.
typedef struct {
    const char *name;
    int ta, tb, m, nn, k, count;
} gemm_shape;

static int gemm_shapes(const opts *o, gemm_shape *g) {
    gemm_shape s[] = {
        {"fc1 fwd  x W1^T", 0, 1, o->n, o->d, o->f, 1},
        {"fc1 dW1  G^T x", 1, 0, o->d, o->f, o->n, 1},
        {"V,U fwd  h W^T", 0, 1, o->n, o->a, o->d, 2},
        {"V,U dW   G^T h", 1, 0, o->a, o->d, o->n, 2},
        {"V,U dh   G W", 0, 0, o->n, o->d, o->a, 2},
    };
    memcpy(g, s, sizeof s);
    return (int)(sizeof s / sizeof s[0]);
}

// Matmul FLOPs of one step (multiply-add = 2). fc1's backward has no input
// gradient: the features need none (PyTorch skips it too).
static double step_flops(const opts *o, double *forward) {
    double N = o->n, F = o->f, D = o->d, A = o->a, C = o->c;
    double fwd = 2 * N * F * D + 2 * 2 * N * D * A + 2 * N * A + 2 * N * D + 2 * D * C;
    double bwd = 2 * N * F * D + 2 * (2 * N * D * A + 2 * N * D * A) + 2 * 2 * N * A + 2 * 2 * N * D + 2 * 2 * D * C;
    if (forward) *forward = fwd;
    return fwd + bwd;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static double sgemm_gflops(const gemm_shape *g) {
    int ar = g->ta ? g->k : g->m, ac = g->ta ? g->m : g->k, br = g->tb ? g->nn : g->k, bc = g->tb ? g->k : g->nn;
    float *A = malloc(sizeof(float) * (size_t)ar * ac), *B = malloc(sizeof(float) * (size_t)br * bc);
    float *Cm = malloc(sizeof(float) * (size_t)g->m * g->nn);
    lt_rng r;
    lt_rng_init(&r, 3);
    lt_rng_fill_uniform(&r, A, (int64_t)ar * ac, -1, 1);
    lt_rng_fill_uniform(&r, B, (int64_t)br * bc, -1, 1);
    memset(Cm, 0, sizeof(float) * (size_t)g->m * g->nn);
    double best = 1e30;
    for (int i = 0; i < 10; i++) {
        double t0 = lt_time_now();
        cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans, g->m, g->nn,
                    g->k, 1.0f, A, ac, B, bc, 1.0f, Cm, g->nn);
        double t = lt_time_now() - t0;
        if (i && t < best) best = t;
    }
    free(A); free(B); free(Cm);
    return 2.0 * g->m * g->nn * g->k / best / 1e9;
}

// The benchmarked model on `dev`: ABMIL with the run's sizes, AdamW as the MIL
// recipe uses it (lr 1e-4, weight decay 1e-5), and a training context. NULL
// after printing the error (nothing left allocated).
static lt_ctx *model_new(const opts *o, lt_device dev, lt_params *ps, lt_rng *rng, lt_abmil *m, lt_optim **opt) {
    lt_params_init(ps, dev);
    lt_rng_init(rng, 0);
    lt_abmil_cfg cfg = lt_abmil_defaults();
    cfg.d_feat = o->f; cfg.d_inner = o->d; cfg.d_attn = o->a; cfg.n_classes = o->c; cfg.dropout = o->dropout;
    *opt = NULL;
    lt_ctx *c = NULL;
    if (lt_abmil_init(m, ps, rng, &cfg) == LT_OK) {
        lt_adamw_opts ao = lt_adamw_defaults(1e-4f);
        ao.weight_decay = 1e-5f;
        if ((*opt = lt_optim_adamw(ps, ao))) c = lt_ctx_new(dev, 0);
    }
    if (!c) {
        fprintf(stderr, "error: %s\n", lt_last_error());
        lt_optim_free(*opt);
        lt_params_free(ps);
        return NULL;
    }
    c->training = 1;
    return c;
}

// Child: times libtrain's step at this process's setting, then sgemm. Prints
// "ours <best ms> <median ms> <fwd> <bwd> <opt>" (parts: best of each) and
// "sgemm <i> <GFLOP/s>" (best of 9 calls).
static int child(const opts *o) {
    omp_set_num_threads(o->threads);
    openblas_set_num_threads(o->threads);
    lt_params ps;
    lt_rng rng;
    lt_abmil m;
    lt_optim *opt;
    lt_ctx *c = model_new(o, LT_CPU, &ps, &rng, &m, &opt);
    if (!c) return 1;
    lt_tensor *x = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(o->n, o->f));   // the bag, as a loader hands it over
    lt_rng_fill_normal(&rng, lt_f32(x), x->numel, 0, 1);
    int32_t label = 1;
    double *tt = malloc(sizeof(double) * 4 * (size_t)o->steps);
    for (int it = 0; it < o->warmup + o->steps; it++) {
        double t0 = lt_time_now();
        lt_params_zero_grad(&ps);
        lt_abmil_out out;
        lt_tensor *y = lt_tensor_from(c, LT_I32, LT_SHAPE(1), &label);
        lt_status s = lt_abmil_forward(c, &m, x, &out);
        lt_tensor *loss = lt_add(c, lt_cross_entropy(c, out.logits, y, -100, 0.f), lt_abmil_aem_loss(c, &out, o->lambda));
        double t1 = lt_time_now();
        if (s == LT_OK) s = lt_backward(c, loss);
        double t2 = lt_time_now();
        if (s == LT_OK) s = lt_optim_step(opt);
        lt_ctx_reset(c);
        double t3 = lt_time_now();
        if (s != LT_OK) { fprintf(stderr, "error: %s\n", lt_last_error()); return 1; }
        if (it >= o->warmup) {
            int k = it - o->warmup;
            tt[k] = t3 - t0; tt[o->steps + k] = t1 - t0; tt[2 * o->steps + k] = t2 - t1; tt[3 * o->steps + k] = t3 - t2;
        }
    }
    double best[4];
    for (int k = 0; k < 4; k++) {
        best[k] = tt[k * o->steps];
        for (int i = 1; i < o->steps; i++) if (tt[k * o->steps + i] < best[k]) best[k] = tt[k * o->steps + i];
    }
    printf("ours %.4f %.4f %.4f %.4f %.4f\n", best[0] * 1e3, median(tt, o->steps) * 1e3, best[1] * 1e3, best[2] * 1e3,
           best[3] * 1e3);
    gemm_shape g[8];
    int ng = gemm_shapes(o, g);
    for (int i = 0; i < ng; i++) printf("sgemm %d %.3f\n", i, sgemm_gflops(&g[i]));
    free(tt);
    lt_tensor_free(x);
    lt_ctx_free(c); lt_optim_free(opt); lt_params_free(&ps);
    return 0;
}

typedef struct {
    int threads, passive, ok, blas;   // blas: PyTorch's BLAS threads (-1 unknown)
    double ms, med, fwd, bwd, opt, rate[8];   // ms: best step; med: median step
} run_result;

static void run_ours(const opts *o, run_result *r) {
    char cmd[2048], line[256];
    snprintf(cmd, sizeof cmd,
             "%s /proc/%d/exe --child --threads=%d --n=%d --d-feat=%d --d-inner=%d --d-attn=%d --classes=%d "
             "--dropout=%g --lambda=%g --steps=%d --warmup=%d", r->passive ? "OMP_WAIT_POLICY=passive" : "",
             (int)getpid(), r->threads, o->n, o->f, o->d, o->a, o->c, (double)o->dropout, (double)o->lambda, o->steps,
             o->warmup);
    FILE *p = popen(cmd, "r");
    int got = 0, i;
    double v;
    while (p && fgets(line, sizeof line, p)) {
        if (sscanf(line, "ours %lf %lf %lf %lf %lf", &r->ms, &r->med, &r->fwd, &r->bwd, &r->opt) == 5) got |= 1;
        if (sscanf(line, "sgemm %d %lf", &i, &v) == 2 && i >= 0 && i < 8) { r->rate[i] = v; got |= 2; }
    }
    r->ok = (p ? pclose(p) : -1) == 0 && got == 3;
    if (!r->ok) printf("libtrain: %s failed\n", cmd);
}

static void run_torch(const opts *o, run_result *r) {
    char cmd[2048], line[256];
    snprintf(cmd, sizeof cmd,
             "%s %s %s/bench/mil_step_torch.py --n=%d --d-feat=%d --d-inner=%d --d-attn=%d --classes=%d --dropout=%g "
             "--lam=%g --steps=%d --warmup=%d --threads=%d", r->passive ? "OMP_WAIT_POLICY=passive" : "", o->python,
             o->src, o->n, o->f, o->d, o->a, o->c, (double)o->dropout, (double)o->lambda, o->steps, o->warmup,
             r->threads);
    FILE *p = popen(cmd, "r");
    r->ms = -1;
    r->blas = -1;
    while (p && fgets(line, sizeof line, p)) {
        sscanf(line, "torch_ms_per_step %lf median %lf", &r->ms, &r->med);
        sscanf(line, "blas_threads %d", &r->blas);
    }
    r->ok = (p ? pclose(p) : -1) == 0 && r->ms > 0;
    if (!r->ok) printf("pytorch: not run (%s failed; install Debian's python3-torch)\n", cmd);
}

// sgemm's rate over the step's big GEMMs: their FLOPs over the time sgemm takes for them.
static double floor_rate(const opts *o, const run_result *r, double *gemm_flops) {
    gemm_shape g[8];
    int ng = gemm_shapes(o, g);
    double fl = 0, t = 0;
    for (int i = 0; i < ng; i++) {
        double f = 2.0 * g[i].m * g[i].nn * g[i].k * g[i].count;
        fl += f;
        t += f / (r->rate[i] * 1e9);
    }
    if (gemm_flops) *gemm_flops = fl;
    return fl / t / 1e9;
}

// ---- --device=cuda ----------------------------------------------------------
#ifdef LT_HAVE_CUDA
// Child on the GPU: prints "ours <best ms> <median ms> <fwd> <bwd> <opt>" (parts: best
// of each, CUDA-event times) and "mem <arena high-water MiB> <device MiB in use>".
static int child_cuda(const opts *o) {
    lt_precision prec;
    if (lt_precision_parse(o->matmul, &prec) != LT_OK || lt_device_check(LT_CUDA) != LT_OK) {
        fprintf(stderr, "error: %s\n", lt_last_error());
        return 1;
    }
    lt_set_matmul_precision(prec);
    lt_params ps;
    lt_rng rng;
    lt_abmil m;
    lt_optim *opt;
    lt_ctx *c = model_new(o, LT_CUDA, &ps, &rng, &m, &opt);
    if (!c) return 1;
    // The bag and its label on the GPU, as a prefetching loader would hand them over.
    lt_tensor *x = lt_tensor_alloc(LT_F32, LT_CUDA, LT_SHAPE(o->n, o->f));
    lt_tensor *y = lt_tensor_alloc(LT_I32, LT_CUDA, LT_SHAPE(1));
    float *hx = malloc(sizeof(float) * (size_t)o->n * o->f);
    int32_t label = 1;
    bench_events ev;
    int rc = 1;
    if (!x || !y || !hx || bench_events_init(&ev, 4) != 0) { fprintf(stderr, "error: out of memory\n"); goto done; }
    lt_rng_fill_normal(&rng, hx, x->numel, 0, 1);
    if (lt_device_copy(LT_CUDA, x->data, LT_CPU, hx, sizeof(float) * (size_t)x->numel) != LT_OK ||
        lt_device_copy(LT_CUDA, y->data, LT_CPU, &label, sizeof label) != LT_OK) {
        fprintf(stderr, "error: %s\n", lt_last_error());
        goto done_ev;
    }
    double *tt = malloc(sizeof(double) * 4 * (size_t)o->steps);
    if (!tt) { fprintf(stderr, "error: out of memory\n"); goto done_ev; }
    for (int it = 0; it < o->warmup + o->steps; it++) {
        lt_status s = lt_ctx_sync(c);
        double t0 = lt_time_now();
        bench_event_record(&ev, 0);
        lt_params_zero_grad(&ps);
        lt_abmil_out out;
        if (s == LT_OK) s = lt_abmil_forward(c, &m, x, &out);
        lt_tensor *loss = s == LT_OK ? lt_add(c, lt_cross_entropy(c, out.logits, y, -100, 0.f),
                                              lt_abmil_aem_loss(c, &out, o->lambda)) : NULL;
        bench_event_record(&ev, 1);
        if (s == LT_OK) s = lt_backward(c, loss);
        bench_event_record(&ev, 2);
        if (s == LT_OK) s = lt_optim_step(opt);
        bench_event_record(&ev, 3);
        if (s == LT_OK) s = lt_ctx_sync(c);
        double t3 = lt_time_now();
        lt_ctx_reset(c);
        if (s != LT_OK) { fprintf(stderr, "error: %s\n", lt_last_error()); free(tt); goto done_ev; }
        if (it >= o->warmup) {
            int k = it - o->warmup;
            tt[k] = t3 - t0;
            for (int p = 0; p < 3; p++) tt[(p + 1) * o->steps + k] = bench_event_ms(&ev, p, p + 1) * 1e-3;
        }
    }
    double best[4];
    for (int k = 0; k < 4; k++) {
        best[k] = tt[k * o->steps];
        for (int i = 1; i < o->steps; i++) if (tt[k * o->steps + i] < best[k]) best[k] = tt[k * o->steps + i];
    }
    printf("ours %.4f %.4f %.4f %.4f %.4f\n", best[0] * 1e3, median(tt, o->steps) * 1e3, best[1] * 1e3, best[2] * 1e3,
           best[3] * 1e3);
    printf("mem %.1f %.1f\n", c->dev_arena.high_water / 1048576.0, lt_device_memory(LT_CUDA).bytes_in_use / 1048576.0);
    char name[256];
    printf("gpu %s\n", bench_gpu_name(name, sizeof name));
    free(tt);
    rc = 0;
done_ev:
    bench_events_free(&ev);
done:
    free(hx);
    lt_tensor_free(x); lt_tensor_free(y);
    lt_ctx_free(c); lt_optim_free(opt); lt_params_free(&ps);
    return rc;
}
#else
static int child_cuda(const opts *o) {
    (void)o;
    fprintf(stderr, "error: no GPU: libtrain was built without the CUDA backend\n");
    return 1;
}
#endif

// Driver for --device=cuda: libtrain in a child process, then PyTorch CUDA eager.
static int main_cuda(const opts *o) {
    if (lt_device_check(LT_CUDA) != LT_OK) {
        fprintf(stderr, "error: no GPU: %s\n", lt_last_error());
        return 1;
    }
    double fwd_flops, flops = step_flops(o, &fwd_flops);
    printf("mil step (cuda): bag %d x %d, Linear %d->%d (no bias) + ReLU + dropout %g, gated attention %d, %d classes,\n"
           "          CE + AEM (lambda %g), AdamW, matmul %s; best and median of %d steps after %d warmup\n"
           "          (a step: wall clock from an idle GPU to the step's end, synced; parts: CUDA events)\n",
           o->n, o->f, o->f, o->d, (double)o->dropout, o->a, o->c, (double)o->lambda, o->matmul, o->steps, o->warmup);
    char cmd[2048], line[512], gpu[512] = "?";
    snprintf(cmd, sizeof cmd,
             "/proc/%d/exe --child --device=cuda --matmul=%s --n=%d --d-feat=%d --d-inner=%d --d-attn=%d --classes=%d "
             "--dropout=%g --lambda=%g --steps=%d --warmup=%d", (int)getpid(), o->matmul, o->n, o->f, o->d, o->a, o->c,
             (double)o->dropout, (double)o->lambda, o->steps, o->warmup);
    double ms = -1, med = -1, fwd = -1, bwd = -1, opt = -1, arena = -1, inuse = -1;
    FILE *p = popen(cmd, "r");
    while (p && fgets(line, sizeof line, p)) {
        sscanf(line, "ours %lf %lf %lf %lf %lf", &ms, &med, &fwd, &bwd, &opt);
        sscanf(line, "mem %lf %lf", &arena, &inuse);
        if (!strncmp(line, "gpu ", 4)) { snprintf(gpu, sizeof gpu, "%s", line + 4); gpu[strcspn(gpu, "\n")] = 0; }
    }
    int ours_ok = (p ? pclose(p) : -1) == 0 && ms > 0;
    if (!ours_ok) printf("libtrain: %s failed\n", cmd);
    snprintf(cmd, sizeof cmd,
             "%s %s/bench/mil_step_torch.py --device=cuda --matmul=%s --n=%d --d-feat=%d --d-inner=%d --d-attn=%d "
             "--classes=%d --dropout=%g --lam=%g --steps=%d --warmup=%d", o->python, o->src, o->matmul, o->n, o->f, o->d,
             o->a, o->c, (double)o->dropout, (double)o->lambda, o->steps, o->warmup);
    double tms = -1, tmed = -1, tpeak = -1;
    p = popen(cmd, "r");
    while (p && fgets(line, sizeof line, p)) {
        sscanf(line, "torch_ms_per_step %lf median %lf", &tms, &tmed);
        sscanf(line, "torch_peak_mib %lf", &tpeak);
    }
    int torch_ok = (p ? pclose(p) : -1) == 0 && tms > 0;
    if (!torch_ok) printf("pytorch: not run (%s failed; needs python3 with a CUDA torch)\n", cmd);
    printf("GPU: %s\nFLOPs per step: %.3f G (matmuls, multiply-add = 2; forward %.3f G)\n", gpu, flops / 1e9,
           fwd_flops / 1e9);
    printf("\n%-24s %8s %8s %8s %7s %7s %7s %12s\n", "impl", "best ms", "med ms", "GFLOP/s", "fwd ms", "bwd ms", "opt ms",
           "peak MiB");
    if (ours_ok)
        printf("%-24s %8.3f %8.3f %8.1f %7.3f %7.3f %7.3f %12.1f\n", "libtrain cuda", ms, med, flops / ms / 1e6, fwd, bwd,
               opt, inuse);
    if (torch_ok)
        printf("%-24s %8.3f %8.3f %8.1f %7s %7s %7s %12.1f\n", "pytorch cuda eager", tms, tmed, flops / tms / 1e6, "-",
               "-", "-", tpeak);
    printf("(peak MiB: libtrain = device memory its allocator holds in use after the steps (parameters, AdamW state,\n"
           " the bag, the step arena; the arena's high-water mark is %.1f MiB); pytorch = max_memory_allocated)\n", arena);
    if (ours_ok && torch_ok)
        printf("speedup (pytorch best %.3f ms / libtrain best %.3f ms): %.2fx; medians: %.2fx\n", tms, ms, tms / ms,
               tmed / med);
    return ours_ok ? 0 : 1;
}

int main(int argc, char **argv) {
    opts o;
    lt_flags *f = lt_flags_new("bench_mil_step", "time one gated-ABMIL + AEM training step against PyTorch CPU");
    lt_flag_int(f, "n", &o.n, 2000, "instances in the bag");
    lt_flag_int(f, "d-feat", &o.f, 1024, "instance feature size");
    lt_flag_int(f, "d-inner", &o.d, 512, "size after the Linear+ReLU reduction");
    lt_flag_int(f, "d-attn", &o.a, 128, "gated attention hidden size");
    lt_flag_int(f, "classes", &o.c, 2, "classes");
    lt_flag_float(f, "dropout", &o.dropout, 0.25f, "dropout after the reduction");
    lt_flag_float(f, "lambda", &o.lambda, 0.1f, "AEM weight");
    lt_flag_int(f, "steps", &o.steps, 20, "timed steps (best and median reported)");
    lt_flag_int(f, "warmup", &o.warmup, 3, "untimed steps first");
    lt_flag_int(f, "threads", &o.threads, 2, "the larger thread count tried (1 is always tried)");
    lt_flag_bool(f, "child", &o.child, 0, "internal: time libtrain at this process's setting");
    lt_flag_str(f, "python", &o.python, "/usr/bin/python3", "python with torch (Debian python3-torch)");
    lt_flag_str(f, "src", &o.src, ".", "repository root (for bench/mil_step_torch.py)");
    lt_flag_choice(f, "device", &o.device, "cpu", "cpu|cuda", "cuda: the step on the GPU against PyTorch CUDA");
    lt_flag_choice(f, "matmul", &o.matmul, "fp32", "fp32|tf32|bf16", "with --device=cuda: matmul precision (both)");
    lt_status s = lt_flags_parse(f, argc, argv);
    if (s == LT_HELP) return 0;
    if (s != LT_OK || o.steps < 1 || o.warmup < 0 || o.threads < 1) {
        fprintf(stderr, "error: %s\n", s != LT_OK ? lt_last_error() : "--steps and --threads must be >= 1");
        return 2;
    }
    int cuda = !strcmp(o.device, "cuda");
    if (o.child) { int rc = cuda ? child_cuda(&o) : child(&o); lt_flags_free(f); return rc; }
    if (cuda) { int rc = main_cuda(&o); lt_flags_free(f); return rc; }

    double fwd_flops, flops = step_flops(&o, &fwd_flops), gemm_fl;
    printf("mil step: bag %d x %d, Linear %d->%d (no bias) + ReLU + dropout %g, gated attention %d, %d classes,\n"
           "          CE + AEM (lambda %g), AdamW; best and median of %d steps after %d warmup (the 2 cores\n"
           "          are shared: the best step is the least disturbed; ratios use it)\n",
           o.n, o.f, o.f, o.d, (double)o.dropout, o.a, o.c, (double)o.lambda, o.steps, o.warmup);
    run_result ours[4], torch[4];
    int nt = o.threads > 1 ? 2 : 1, nr = 0;
    for (int ti = 0; ti < nt; ti++)
        for (int passive = 0; passive < 2; passive++, nr++) {
            ours[nr] = (run_result){.threads = ti ? o.threads : 1, .passive = passive};
            torch[nr] = ours[nr];
            run_ours(&o, &ours[nr]);
            run_torch(&o, &torch[nr]);
        }
    floor_rate(&o, &ours[0], &gemm_fl);
    printf("FLOPs per step: %.3f G (matmuls, multiply-add = 2: forward %.3f G, backward %.3f G without fc1's\n"
           "input gradient; elementwise ops, softmax, AdamW not counted); the big GEMMs are %.1f%% of it\n",
           flops / 1e9, fwd_flops / 1e9, (flops - fwd_flops) / 1e9, 100 * gemm_fl / flops);
    printf("\n%-32s %8s %8s %8s %7s %7s %7s %10s %7s\n", "impl", "best ms", "med ms", "GFLOP/s", "fwd ms",
           "bwd ms", "opt ms", "sgemm GF/s", "share");
    int bo = -1, bt = -1;
    for (int i = 0; i < nr; i++) {
        if (!ours[i].ok) continue;
        double fr = floor_rate(&o, &ours[i], NULL), ach = flops / ours[i].ms / 1e6;
        char label[64];
        snprintf(label, sizeof label, "libtrain %d thr%s", ours[i].threads, ours[i].passive ? ", OMP passive" : "");
        printf("%-32s %8.2f %8.2f %8.1f %7.2f %7.2f %7.2f %10.1f %6.1f%%\n", label, ours[i].ms, ours[i].med, ach,
               ours[i].fwd, ours[i].bwd, ours[i].opt, fr, 100 * ach / fr);
        if (bo < 0 || ours[i].ms < ours[bo].ms) bo = i;
    }
    for (int i = 0; i < nr; i++) {
        if (!torch[i].ok) continue;
        char label[64];
        char blas[24] = "";
        if (torch[i].blas > 0) snprintf(blas, sizeof blas, " (BLAS %d)", torch[i].blas);
        snprintf(label, sizeof label, "pytorch %d thr%s%s", torch[i].threads, blas, torch[i].passive ? ", passive" : "");
        printf("%-32s %8.2f %8.2f %8.1f\n", label, torch[i].ms, torch[i].med, flops / torch[i].ms / 1e6);
        if (bt < 0 || torch[i].ms < torch[bt].ms) bt = i;
    }
    printf("(pytorch N thr: torch.set_num_threads(N); BLAS k: the threads of the pthread OpenBLAS it calls)\n");
    if (bo >= 0) {
        gemm_shape g[8];
        int ng = gemm_shapes(&o, g);
        printf("\nsgemm at the best libtrain setting (%d thr%s):\n", ours[bo].threads,
               ours[bo].passive ? ", OMP passive" : "");
        for (int i = 0; i < ng; i++)
            printf("  %-16s %c%c M=%-5d N=%-5d K=%-5d x%d  %7.1f GFLOP/s\n", g[i].name, g[i].ta ? 'T' : 'N',
                   g[i].tb ? 'T' : 'N', g[i].m, g[i].nn, g[i].k, g[i].count, ours[bo].rate[i]);
        double fr = floor_rate(&o, &ours[bo], NULL), ach = flops / ours[bo].ms / 1e6;
        printf("sgemm floor: %.2f ms for the big GEMMs at %.1f GFLOP/s; libtrain reaches %.1f GFLOP/s = %.1f%% "
               "of it (goal 70%%)\n", gemm_fl / fr / 1e6, fr, ach, 100 * ach / fr);
    }
    if (bo >= 0 && bt >= 0)
        printf("speedup (best pytorch %.2f ms / best libtrain %.2f ms): %.2fx (goal 2x)\n", torch[bt].ms, ours[bo].ms,
               torch[bt].ms / ours[bo].ms);
    lt_flags_free(f);
    return 0;
}
