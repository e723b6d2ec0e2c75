// Causal attention forward+backward on the CPU, with and without the fused
// entropy output, against PyTorch CPU with a materialized attention matrix
// (bench/attention_torch.py via Debian's python3-torch), side by side.
//   build/bench_attention [--T=256,1024,4096] [--threads=2] [--reps=5] [--python=/usr/bin/python3] [--src=.]
// Losses: sum(O * R) + lambda * mean(H) with entropy, sum(O * R) without (R fixed).
// Every configuration runs in its own process (this program re-executed with
// --one=T,impl, or one python process), so its peak RSS (ru_maxrss) is its own;
// "net" subtracts the RSS measured in that process before the inputs exist.
// Each runs with OpenMP's default and with passive waiting; the faster counts.
// ms is the median repetition, min_ms the fastest (the gap shows the noise
// of a shared machine). Before timing, the outputs and input gradients at --check-T are compared
// with PyTorch's (float64) on the same inputs.
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "libtrain/lt.h"

#define MAX_T 16

typedef struct {
    int B, H, D, threads, reps, warmup, check_T, torch;
    float lambda, min_time;
    const char *python, *src, *one;
    int T[MAX_T], nT;
} bench_cfg;

typedef struct {
    int T;
    char impl[48];
    double ms, min_ms;
    long peak_kib, base_kib;
    double arena_mib;   // libtrain's arena high-water mark; < 0 for PyTorch
    int ok;
} bench_row;

static long maxrss_kib(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// One step: attention, loss, backward. Leaves q, k, v [B,H,T,D] take the grads.
static lt_status attn_step(lt_ctx *c, const bench_cfg *g, int T, int entropy, const float *hq, const float *hk,
                           const float *hv, const float *hr, lt_tensor **qkv, lt_attn_out *ao) {
    lt_tensor *q = lt_tensor_leaf(c, LT_SHAPE(g->B, g->H, T, g->D), hq);
    lt_tensor *k = lt_tensor_leaf(c, LT_SHAPE(g->B, g->H, T, g->D), hk);
    lt_tensor *v = lt_tensor_leaf(c, LT_SHAPE(g->B, g->H, T, g->D), hv);
    lt_tensor *r = lt_tensor_from(c, LT_F32, LT_SHAPE(g->B, g->H, T, g->D), hr);
    if (!q || !k || !v || !r) return lt_last_status();
    if (qkv) { qkv[0] = q; qkv[1] = k; qkv[2] = v; }
    lt_attn_opts o = lt_attn_defaults();
    o.causal = 1;
    o.want_entropy = entropy;
    LT_TRY(lt_attention(c, q, k, v, &o, ao));
    lt_tensor *loss = lt_sum(c, lt_mul(c, ao->o, r), LT_AXIS_ALL, 0);
    if (entropy) loss = lt_add(c, loss, lt_scale(c, lt_mean(c, ao->entropy, LT_AXIS_ALL, 0), g->lambda));
    return lt_backward(c, loss);
}

static void fill_inputs(uint64_t seed, int64_t n, float *q, float *k, float *v, float *r) {
    lt_rng rng;
    lt_rng_init(&rng, seed);
    lt_rng_fill_normal(&rng, q, n, 0, 1);
    lt_rng_fill_normal(&rng, k, n, 0, 1);
    lt_rng_fill_normal(&rng, v, n, 0, 1);
    lt_rng_fill_normal(&rng, r, n, 0, 1);
}

// Child mode (--one=T,impl): times one configuration, prints one lt_result line.
static int run_one(const bench_cfg *g) {
    int T = 0;
    char impl[32] = "";
    if (sscanf(g->one, "%d,%31s", &T, impl) != 2 || T < 1 ||
        (strcmp(impl, "entropy") != 0 && strcmp(impl, "plain") != 0)) {
        fprintf(stderr, "error: --one=%s: want T,entropy or T,plain\n", g->one);
        return 2;
    }
    int entropy = strcmp(impl, "entropy") == 0;
    // Start the OpenMP pool first, so the baseline already holds its threads.
    int nt = 0;
#pragma omp parallel
    {
#pragma omp atomic
        nt++;
    }
    long base = maxrss_kib();

    int64_t n = (int64_t)g->B * g->H * T * g->D;
    float *hq = malloc(sizeof(float) * n), *hk = malloc(sizeof(float) * n);
    float *hv = malloc(sizeof(float) * n), *hr = malloc(sizeof(float) * n);
    if (!hq || !hk || !hv || !hr) { fprintf(stderr, "error: out of memory\n"); return 1; }
    fill_inputs(1000 + (uint64_t)T, n, hq, hk, hv, hr);
    lt_ctx *c = lt_ctx_new(LT_CPU, 0);
    if (!c) { fprintf(stderr, "error: %s\n", lt_last_error()); return 1; }

    enum { MAX_REPS = 200 };
    double times[MAX_REPS], total = 0;
    int nrep = 0;
    for (int it = 0;; it++) {
        lt_ctx_reset(c);
        lt_attn_out ao;
        double t0 = lt_time_now();
        if (attn_step(c, g, T, entropy, hq, hk, hv, hr, NULL, &ao) != LT_OK) {
            fprintf(stderr, "error: T=%d %s: %s\n", T, impl, lt_last_error());
            return 1;
        }
        double dt = lt_time_now() - t0;
        if (it < g->warmup) continue;
        times[nrep++] = dt;
        total += dt;
        if (nrep >= MAX_REPS || (nrep >= g->reps && total >= g->min_time)) break;
    }
    qsort(times, (size_t)nrep, sizeof(double), cmp_double);
    double med = nrep % 2 ? times[nrep / 2] : 0.5 * (times[nrep / 2 - 1] + times[nrep / 2]);
    printf("lt_result T=%d impl=%s ms=%.4f peak_kib=%ld base_kib=%ld arena_bytes=%zu reps=%d threads=%d min_ms=%.4f\n", T,
           impl, med * 1e3, maxrss_kib(), base, c->arena.high_water, nrep, nt, times[0] * 1e3);
    lt_ctx_free(c);
    free(hq); free(hk); free(hv); free(hr);
    return 0;
}

static int write_f32(const char *dir, const char *name, const float *x, int64_t n) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(x, sizeof(float), (size_t)n, f);
    return (fclose(f) == 0 && w == (size_t)n) ? 0 : -1;
}

static int read_f32(const char *dir, const char *name, float *x, int64_t n) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t r = fread(x, sizeof(float), (size_t)n, f);
    fclose(f);
    return r == (size_t)n ? 0 : -1;
}

// max |a - b| / max |b|: relative to the reference's scale, so entries near
// zero do not blow it up.
static double rel_err(const float *a, const float *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= num)) num = d;   // NaN propagates
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return den > 0 ? num / den : num;
}

// Compares O, H, dQ, dK, dV at T with PyTorch (float64) on the same inputs.
// Returns the worst relative error, or -1 if the check could not run.
static double check_against_torch(const bench_cfg *g, int T) {
    int64_t n = (int64_t)g->B * g->H * T * g->D, nh = (int64_t)g->B * g->H * T;
    const char *names[5] = {"o", "h", "dq", "dk", "dv"};
    int64_t sizes[5] = {n, nh, n, n, n};
    float *in[4], *ours[5], *ref[5];
    for (int i = 0; i < 4; i++) in[i] = malloc(sizeof(float) * n);
    for (int i = 0; i < 5; i++) { ours[i] = malloc(sizeof(float) * sizes[i]); ref[i] = malloc(sizeof(float) * sizes[i]); }
    fill_inputs(7, n, in[0], in[1], in[2], in[3]);
    double worst = -1;
    char dir[] = "/tmp/lt_bench_attn_XXXXXX";
    lt_ctx *c = lt_ctx_new(LT_CPU, 0);
    lt_tensor *qkv[3];
    lt_attn_out ao;
    if (!c || attn_step(c, g, T, 1, in[0], in[1], in[2], in[3], qkv, &ao) != LT_OK) {
        printf("check: libtrain failed: %s\n", lt_last_error());
        goto done;
    }
    memcpy(ours[0], lt_f32(ao.o), sizeof(float) * n);
    memcpy(ours[1], lt_f32(ao.entropy), sizeof(float) * nh);
    for (int i = 0; i < 3; i++) {
        if (qkv[i]->grad) memcpy(ours[2 + i], qkv[i]->grad, sizeof(float) * n);
        else memset(ours[2 + i], 0, sizeof(float) * n);
    }
    if (!mkdtemp(dir)) { printf("check: mkdtemp failed: %s\n", strerror(errno)); goto done; }
    const char *in_names[4] = {"q.bin", "k.bin", "v.bin", "r.bin"};
    for (int i = 0; i < 4; i++)
        if (write_f32(dir, in_names[i], in[i], n) != 0) { printf("check: cannot write %s/%s\n", dir, in_names[i]); goto cleanup; }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s/bench/attention_torch.py --check=%s --T=%d --B=%d --H=%d --D=%d --lam=%g --threads=%d",
             g->python, g->src, dir, T, g->B, g->H, g->D, g->lambda, g->threads);
    FILE *p = popen(cmd, "r");
    int ok = 0;
    char line[512];
    while (p && fgets(line, sizeof line, p)) ok |= strncmp(line, "torch_check ok", 14) == 0;
    if ((p ? pclose(p) : -1) != 0 || !ok) { printf("check: not run (%s failed)\n", cmd); goto cleanup; }
    char fname[16];
    worst = 0;
    printf("check at T=%d against PyTorch float64 (max |ours - ref| / max |ref|):", T);
    for (int i = 0; i < 5; i++) {
        snprintf(fname, sizeof fname, "%s.bin", names[i]);
        if (read_f32(dir, fname, ref[i], sizes[i]) != 0) { printf(" cannot read %s\n", fname); worst = -1; goto cleanup; }
        double e = rel_err(ours[i], ref[i], sizes[i]);
        printf(" %s %.2e", names[i], e);
        if (!(e <= worst)) worst = e;
    }
    printf("\n");
cleanup:
    for (int i = 0; i < 4; i++) { char pth[1200]; snprintf(pth, sizeof pth, "%s/%s", dir, in_names[i]); unlink(pth); }
    for (int i = 0; i < 5; i++) { char pth[1200]; snprintf(pth, sizeof pth, "%s/%s.bin", dir, names[i]); unlink(pth); }
    rmdir(dir);
done:
    lt_ctx_free(c);
    for (int i = 0; i < 4; i++) free(in[i]);
    for (int i = 0; i < 5; i++) { free(ours[i]); free(ref[i]); }
    return worst;
}

static int parse_result(const char *line, const char *tag, bench_row *row) {
    size_t tl = strlen(tag);
    if (strncmp(line, tag, tl) != 0) return 0;
    unsigned long long arena = 0;
    char impl[40];
    if (sscanf(line + tl, " T=%d impl=%39s ms=%lf peak_kib=%ld base_kib=%ld", &row->T, impl, &row->ms, &row->peak_kib,
               &row->base_kib) != 5)
        return 0;
    const char *a = strstr(line, "arena_bytes=");
    const char *mn = strstr(line, "min_ms=");
    if (!mn || sscanf(mn, "min_ms=%lf", &row->min_ms) != 1) row->min_ms = -1;
    row->arena_mib = a && sscanf(a, "arena_bytes=%llu", &arena) == 1 ? arena / 1048576.0 : -1;
    row->ok = 1;
    return 1;
}

// Runs `cmd` with OpenMP's default wait policy and with passive waiting and
// keeps the faster: on 2 shared cores, threads spinning at a barrier can cost
// a scheduler slice each time (both libtrain and Debian's torch use OpenMP).
static bench_row run_best(const char *who, const char *tag, const char *cmd, int T, const char *impl) {
    bench_row best = {0};
    for (int passive = 0; passive < 2; passive++) {
        bench_row row = {0};
        char full[2200];
        snprintf(full, sizeof full, "%s%s", passive ? "OMP_WAIT_POLICY=passive " : "", cmd);
        FILE *p = popen(full, "r");
        char line[512];
        while (p && fgets(line, sizeof line, p)) parse_result(line, tag, &row);
        if ((p ? pclose(p) : -1) != 0) row.ok = 0;
        if (!row.ok) { fprintf(stderr, "%s: %s failed\n", who, full); continue; }
        fprintf(stderr, "  %s %s T=%d %s: %.2f ms (fastest %.2f)\n", who, impl, T, passive ? "OMP passive" : "OMP default",
                row.ms, row.min_ms);
        snprintf(row.impl, sizeof row.impl, "%s %s (%s)", who, impl, passive ? "passive" : "default");
        if (!best.ok || row.ms < best.ms) best = row;
    }
    best.T = T;
    if (!best.ok) snprintf(best.impl, sizeof best.impl, "%s %s", who, impl);
    return best;
}

static bench_row run_ours(const bench_cfg *g, const char *self, int T, const char *impl) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s --one=%d,%s --threads=%d --reps=%d --warmup=%d --min-time=%g --B=%d --H=%d --D=%d --lambda=%g",
             self, T, impl, g->threads, g->reps, g->warmup, g->min_time, g->B, g->H, g->D, g->lambda);
    return run_best("libtrain", "lt_result", cmd, T, impl);
}

static bench_row run_torch(const bench_cfg *g, int T, const char *impl) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s/bench/attention_torch.py --T=%d --impl=%s --threads=%d --reps=%d --warmup=%d "
             "--min-time=%g --B=%d --H=%d --D=%d --lam=%g",
             g->python, g->src, T, impl, g->threads, g->reps, g->warmup, g->min_time, g->B, g->H, g->D, g->lambda);
    return run_best("pytorch", "torch_result", cmd, T, impl);
}

static void print_row(const bench_row *r) {
    if (!r->ok) { printf("%6d  %-30s %10s\n", r->T, r->impl, "failed"); return; }
    char arena[32] = "-";
    if (r->arena_mib >= 0) snprintf(arena, sizeof arena, "%.1f", r->arena_mib);
    printf("%6d  %-30s %10.2f %10.2f %10.1f %10.1f %10.1f %10s\n", r->T, r->impl, r->ms, r->min_ms, r->peak_kib / 1024.0,
           r->base_kib / 1024.0, (r->peak_kib - r->base_kib) / 1024.0, arena);
}

static int parse_T_list(const char *s, bench_cfg *g) {
    g->nT = 0;
    while (*s) {
        char *end;
        long t = strtol(s, &end, 10);
        if (end == s || t < 1 || t > 1 << 20 || g->nT == MAX_T) return -1;
        g->T[g->nT++] = (int)t;
        s = end;
        if (*s == ',') s++;
        else if (*s) return -1;
    }
    return g->nT > 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    bench_cfg g;
    const char *Ts;
    lt_flags *f = lt_flags_new("bench_attention", "causal attention fwd+bwd with entropy against PyTorch CPU");
    lt_flag_str(f, "T", &Ts, "256,1024,4096", "sequence lengths, comma-separated");
    lt_flag_int(f, "B", &g.B, 1, "batch");
    lt_flag_int(f, "H", &g.H, 4, "heads");
    lt_flag_int(f, "D", &g.D, 64, "head dim");
    lt_flag_float(f, "lambda", &g.lambda, 0.1f, "entropy weight in the loss");
    lt_flag_int(f, "threads", &g.threads, 2, "CPU threads for both");
    lt_flag_int(f, "reps", &g.reps, 5, "timed repetitions at least (median reported)");
    lt_flag_float(f, "min-time", &g.min_time, 1.0f, "keep repeating until this many seconds are timed (max 200 reps)");
    lt_flag_int(f, "warmup", &g.warmup, 1, "untimed repetitions first");
    lt_flag_int(f, "check-T", &g.check_T, 256, "T of the correctness check against PyTorch (0 = skip)");
    lt_flag_bool(f, "torch", &g.torch, 1, "also run PyTorch");
    lt_flag_str(f, "python", &g.python, "/usr/bin/python3", "python with torch (Debian python3-torch)");
    lt_flag_str(f, "src", &g.src, ".", "repository root (for bench/attention_torch.py)");
    lt_flag_str(f, "one", &g.one, "", "internal: time one configuration T,impl (impl: entropy|plain)");
    lt_status s = lt_flags_parse(f, argc, argv);
    if (s == LT_HELP) return 0;
    if (s != LT_OK) { fprintf(stderr, "error: %s\n", lt_last_error()); return 2; }
    if (parse_T_list(Ts, &g) != 0 || g.B < 1 || g.H < 1 || g.D < 1 || g.threads < 1 || g.reps < 1 || g.warmup < 0) {
        fprintf(stderr, "error: bad flags (--T=%s, B/H/D/threads/reps >= 1, warmup >= 0)\n", Ts);
        return 2;
    }
    omp_set_num_threads(g.threads);
    openblas_set_num_threads(g.threads);
    if (g.one[0]) { int rc = run_one(&g); lt_flags_free(f); return rc; }

    char self[1024];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) { fprintf(stderr, "error: cannot read /proc/self/exe\n"); return 1; }
    self[len] = 0;

    printf("attention fwd+bwd, causal, B=%d H=%d D=%d, %d threads, lambda %g; median of >= %d reps (>= %.1f s) after %d warmup\n",
           g.B, g.H, g.D, g.threads, g.lambda, g.reps, g.min_time, g.warmup);
    printf("loss: sum(O*R) + lambda*mean(H) (entropy), sum(O*R) (plain); pytorch materializes the [B,H,T,T] matrix "
           "(torch %s has no scaled_dot_product_attention: plain is materialized too)\n", "1.13");
    if (g.torch && g.check_T > 0) {
        double e = check_against_torch(&g, g.check_T);
        if (e >= 0) printf("check: worst relative error %.2e (%s 1e-4)\n", e, e <= 1e-4 ? "<=" : ">");
    }
    fflush(stdout);

    bench_row rows[MAX_T][4];
    for (int i = 0; i < g.nT; i++) {
        int T = g.T[i];
        fprintf(stderr, "T=%d ...\n", T);
        rows[i][0] = run_ours(&g, self, T, "entropy");
        rows[i][1] = run_ours(&g, self, T, "plain");
        if (g.torch) {
            rows[i][2] = run_torch(&g, T, "entropy");
            rows[i][3] = run_torch(&g, T, "plain");
        }
    }
    int nimpl = g.torch ? 4 : 2;
    printf("\n%6s  %-30s %10s %10s %10s %10s %10s %10s\n", "T", "impl", "ms", "min_ms", "peak_MiB", "base_MiB", "net_MiB", "arena_MiB");
    for (int i = 0; i < g.nT; i++)
        for (int j = 0; j < nimpl; j++) print_row(&rows[i][j]);

    printf("\n%6s %16s %16s %16s %16s %16s\n", "T", "entropy_ovhd", "speedup_entropy", "speedup_plain",
           "net_mem_ratio", "ours_net_KiB/T");
    for (int i = 0; i < g.nT; i++) {
        bench_row *r = rows[i];
        char ov[32] = "-", se[32] = "-", sp[32] = "-", mr[32] = "-", kt[32] = "-";
        if (r[0].ok && r[1].ok) snprintf(ov, sizeof ov, "%+.1f%%", (r[0].ms / r[1].ms - 1) * 100);
        if (g.torch && r[0].ok && r[2].ok) snprintf(se, sizeof se, "%.2fx", r[2].ms / r[0].ms);
        if (g.torch && r[1].ok && r[3].ok) snprintf(sp, sizeof sp, "%.2fx", r[3].ms / r[1].ms);
        long on = r[0].peak_kib - r[0].base_kib;
        if (g.torch && r[0].ok && r[2].ok && on > 0)
            snprintf(mr, sizeof mr, "%.1fx", (double)(r[2].peak_kib - r[2].base_kib) / on);
        if (r[0].ok) snprintf(kt, sizeof kt, "%.2f", (double)on / r[0].T);
        printf("%6d %16s %16s %16s %16s %16s\n", r[0].T, ov, se, sp, mr, kt);
    }
    printf("entropy_ovhd = libtrain entropy / libtrain plain - 1 (goal <= +15%%); speedup_* = pytorch ms / libtrain ms "
           "for the same loss (goal > 1 at every T); net_mem_ratio = pytorch entropy net / libtrain entropy net; "
           "ours_net_KiB/T constant = memory linear in T\n");
    lt_flags_free(f);
    return 0;
}
