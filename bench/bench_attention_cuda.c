// Attention on the GPU: libtrain's kernels against PyTorch on the same GPU in
// the same run (bench/attention_cuda_torch.py), with the ratios printed here.
//   build/bench_attention_cuda [--suite=all|speed|entropy] [--out=FILE.json|FILE.md] [--python=python3] [--src=.]
// Suites:
//  speed    the FlashAttention papers' shapes: B*T = --tokens (16k) and H*D = --hidden
//           (2048), T = 512..16k, D = 64 and 128, causal and not, bf16. Forward, and
//           forward+backward. FLOPs = 4*B*T^2*H*D forward (halved when causal), x3.5 for
//           forward+backward. Ours (impl ours, precision bf16) and cuDNN through libtrain
//           (impl cudnn) against torch's scaled_dot_product_attention with the flash and
//           the cuDNN backends on bf16 tensors; ours in fp32 at --fp32-T for reference
//           (against torch's SDPA on fp32 tensors, its default backend).
//  entropy  loss = sum(O*g) + lambda*sum(H) with H the row entropy, forward+backward:
//           ours with want_entropy against ours with loss sum(O*g) (the entropy
//           overhead, goal <= 15%), and against PyTorch computing the same loss with a
//           materialized softmax(QK^T*scale) (and torch flash on the plain loss for
//           scale). Step memory: ours = the ctx device arena's high-water mark (all
//           activations, gradients and kernel scratch of the step); torch =
//           max_memory_allocated minus what was allocated before the step. Neither
//           counts the inputs (ours fp32 q,k,v,g; torch bf16 q,k,v and fp32 g).
// What is timed, on both sides: each repetition starts on an idle GPU, CUDA events
// around the work on the stream, median of the timed repetitions after warm-ups.
//  - ours forward: lt_attention on persistent fp32 [B,H,T,D] inputs that require grad
//    (a training forward, tape recorded). libtrain tensors are fp32: bf16 is the
//    kernel's compute precision, its inputs and outputs stay fp32 (twice torch's bytes).
//  - ours forward+backward: the forward, zeroing q/k/v's gradients (what lt_backward
//    does before the op's backward adds into them), then the op's backward kernel
//    called directly with a fixed upstream dO, as torch's o.backward(dout). Going
//    through lt_backward would need a loss op (its seed comes from the host), which
//    would add elementwise work torch's measurement does not have.
// Process layout: this program (no GPU work) runs libtrain's cases in a child (itself
// with --child; a crashed or hung case is reported and the rest continue in a fresh
// child), then one python process for torch, then prints the tables.
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libtrain/lt.h"
#include "bench/cuda_timer.h"

#define MAX_LIST 16
#define MAX_CASES 1024
#define MAX_RESULTS 2048
#define MAX_REPS 200

enum { K_SPEED, K_FP32, K_ENT, K_COUNT };
static const char *kind_names[K_COUNT] = {"speed", "fp32", "entropy"};

typedef struct {
    int tokens, hidden, warmup, reps, ent_warmup, ent_reps, torch, child, from, case_timeout, budget;
    int64_t deadline;   // unix seconds after which the child starts no case (0: none)
    float max_time, lambda;
    const char *suite, *python, *src, *out;
    const char *s_T, *s_D, *s_causal, *s_fp32_T, *s_ent_T, *s_ent_D, *s_ent_causal;
    int T[MAX_LIST], nT, D[MAX_LIST], nD, causal[MAX_LIST], ncausal;
    int fT[MAX_LIST], nfT, eT[MAX_LIST], neT, eD[MAX_LIST], neD, ecausal[MAX_LIST], necausal;
    int do_speed, do_ent;
} cfg;

// One libtrain measurement: kind, shape, mode (fwd | fwdbwd | step) and impl.
typedef struct {
    int kind, T, D, causal;
    const char *mode, *impl;
} bcase;

// A result line from either side (the child and the python script print the same format).
typedef struct {
    int kind, T, D, causal;
    char mode[16], impl[32], status[16], reason[200];
    double ms, mib;
} result;

static result results[MAX_RESULTS];
static int n_results;

static int batch_of(const cfg *g, int T) { return g->tokens / T > 0 ? g->tokens / T : 1; }
static int heads_of(const cfg *g, int D) { return g->hidden / D > 0 ? g->hidden / D : 1; }

static double attn_flops(const cfg *g, int T, int D, int causal, const char *mode) {
    double f = 4.0 * batch_of(g, T) * (double)T * T * heads_of(g, D) * D;
    if (causal) f *= 0.5;
    if (!strcmp(mode, "fwdbwd")) f *= 3.5;
    return f;
}

static int parse_int_list(const char *s, int *v, int *n, int lo, int hi) {
    *n = 0;
    while (*s) {
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s || x < lo || x > hi || *n == MAX_LIST) return -1;
        v[(*n)++] = (int)x;
        s = end;
        if (*s == ',') s++;
        else if (*s) return -1;
    }
    return 0;
}

static int build_cases(const cfg *g, bcase *cs) {
    static const char *modes[2] = {"fwd", "fwdbwd"};
    int n = 0;
    if (g->do_speed) {
        for (int m = 0; m < 2; m++)
            for (int d = 0; d < g->nD; d++)
                for (int c = 0; c < g->ncausal; c++)
                    for (int t = 0; t < g->nT; t++)
                        for (int impl = 0; impl < 2 && n < MAX_CASES; impl++)
                            cs[n++] = (bcase){K_SPEED, g->T[t], g->D[d], g->causal[c], modes[m],
                                              impl ? "lt_cudnn" : "ours_bf16"};
        for (int m = 0; m < 2; m++)
            for (int t = 0; t < g->nfT && n < MAX_CASES; t++)
                cs[n++] = (bcase){K_FP32, g->fT[t], 64, 0, modes[m], "ours_fp32"};
    }
    if (g->do_ent)
        for (int d = 0; d < g->neD; d++)
            for (int c = 0; c < g->necausal; c++)
                for (int t = 0; t < g->neT; t++)
                    for (int e = 0; e < 2 && n < MAX_CASES; e++)
                        cs[n++] = (bcase){K_ENT, g->eT[t], g->eD[d], g->ecausal[c], "step",
                                          e ? "ours_plain" : "ours_entropy"};
    return n;
}

// Single-line, space-free-enough reason text (newlines would break the line protocol).
static void clean_reason(char *dst, size_t n, const char *src) {
    size_t i = 0;
    for (; src && src[i] && i + 1 < n; i++) dst[i] = (src[i] == '\n' || src[i] == '\r') ? ' ' : src[i];
    while (i > 0 && dst[i - 1] == ' ') i--;
    dst[i] = 0;
}

// ---------------------------------------------------------------- child (GPU)
#ifdef LT_HAVE_CUDA
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Persistent device inputs with capacity `cap` elements; each case reshapes them.
typedef struct {
    lt_tensor *q, *k, *v, *g;   // g: the upstream dO (speed) or the loss weights (entropy)
    float *gq, *gk, *gv;        // gradient buffers for the direct backward call
    int64_t cap;
} inputs;

static void set_shape(lt_tensor *t, int B, int H, int T, int D) {
    t->ndim = 4;
    t->shape[0] = B; t->shape[1] = H; t->shape[2] = T; t->shape[3] = D;
    t->numel = (int64_t)B * H * T * D;
}

// q = x; k, v, g = x rotated by n/4, n/2, 3n/4 (different values, one host draw).
static lt_status inputs_init(inputs *in, int64_t cap) {
    memset(in, 0, sizeof *in);
    in->cap = cap;
    float *h = malloc(sizeof(float) * (size_t)cap);
    if (!h) return lt_error(LT_ERR_OOM, "host buffer of %lld floats", (long long)cap);
    lt_rng rng;
    lt_rng_init(&rng, 1234);
    lt_rng_fill_normal(&rng, h, cap, 0, 1);
    lt_tensor **ts[4] = {&in->q, &in->k, &in->v, &in->g};
    lt_status s = LT_OK;
    for (int i = 0; i < 4 && s == LT_OK; i++) {
        lt_tensor *t = lt_tensor_alloc(LT_F32, LT_CUDA, LT_SHAPE((int)cap));
        if (!t) { s = lt_last_status(); break; }
        *ts[i] = t;
        int64_t off = cap / 4 * i;
        s = lt_device_copy(LT_CUDA, lt_f32(t), LT_CPU, h + off, sizeof(float) * (size_t)(cap - off));
        if (s == LT_OK && off)
            s = lt_device_copy(LT_CUDA, lt_f32(t) + (cap - off), LT_CPU, h, sizeof(float) * (size_t)off);
    }
    free(h);
    if (s != LT_OK) return s;
    in->q->requires_grad = in->k->requires_grad = in->v->requires_grad = 1;
    float **gs[3] = {&in->gq, &in->gk, &in->gv};
    for (int i = 0; i < 3; i++)
        if (!(*gs[i] = lt_device_alloc(LT_CUDA, sizeof(float) * (size_t)cap))) return lt_last_status();
    return lt_device_sync(LT_CUDA);
}

static void inputs_free(inputs *in) {
    lt_tensor *ts[4] = {in->q, in->k, in->v, in->g};
    for (int i = 0; i < 4; i++)
        if (ts[i]) { ts[i]->grad = NULL; lt_tensor_free(ts[i]); }
    float *gs[3] = {in->gq, in->gk, in->gv};
    for (int i = 0; i < 3; i++)
        if (gs[i]) lt_device_free(LT_CUDA, gs[i]);
}

// One repetition of case k on ctx c (the ctx was reset).
static lt_status run_rep(lt_ctx *c, const cfg *g, const bcase *k, inputs *in) {
    lt_attn_opts o = lt_attn_defaults();
    o.causal = k->causal;
    o.precision = k->kind == K_FP32 ? LT_PREC_FP32 : LT_PREC_BF16;
    o.impl = !strcmp(k->impl, "lt_cudnn") ? LT_ATTN_CUDNN : LT_ATTN_OURS;
    o.want_entropy = !strcmp(k->impl, "ours_entropy");
    lt_attn_out ao;
    if (k->kind == K_ENT) {
        in->q->grad = in->k->grad = in->v->grad = NULL;   // fresh arena gradients each step
        LT_TRY(lt_attention(c, in->q, in->k, in->v, &o, &ao));
        lt_tensor *loss = lt_sum(c, lt_mul(c, ao.o, in->g), LT_AXIS_ALL, 0);
        if (o.want_entropy) loss = lt_add(c, loss, lt_scale(c, lt_sum(c, ao.entropy, LT_AXIS_ALL, 0), g->lambda));
        return lt_backward(c, loss);
    }
    if (!strcmp(k->mode, "fwd")) return lt_attention(c, in->q, in->k, in->v, &o, &ao);
    // Forward + backward: the op's own backward with upstream gradient dO = g.
    in->q->grad = in->gq; in->k->grad = in->gk; in->v->grad = in->gv;
    LT_TRY(lt_attention(c, in->q, in->k, in->v, &o, &ao));
    size_t bytes = sizeof(float) * (size_t)in->q->numel;
    LT_TRY(lt_device_memset(LT_CUDA, in->gq, 0, bytes));
    LT_TRY(lt_device_memset(LT_CUDA, in->gk, 0, bytes));
    LT_TRY(lt_device_memset(LT_CUDA, in->gv, 0, bytes));
    lt_node *n = ao.o->node;
    if (!n) return lt_error(LT_ERR_STATE, "attention node was not recorded (inputs require grad)");
    const lt_backend *b = lt_backend_get(LT_CUDA);
    if (!b || !b->ops[LT_OP_attention].bwd) return lt_error(LT_ERR_UNSUPPORTED, "attention has no cuda backward");
    ao.o->grad = lt_f32(in->g);
    lt_status s = b->ops[LT_OP_attention].bwd(n);
    ao.o->grad = NULL;   // not arena memory: keep lt_ctx_reset and later reps away from it
    return s;
}

static void print_result(const bcase *k, const char *status, double ms, double mib, const char *reason) {
    char r[200];
    clean_reason(r, sizeof r, reason);
    printf("R kind=%s T=%d D=%d causal=%d mode=%s impl=%s status=%s ms=%.5f mib=%.1f reason=%s\n", kind_names[k->kind],
           k->T, k->D, k->causal, k->mode, k->impl, status, ms, mib, r);
    fflush(stdout);
}

// Returns 0 to go on, 3 when the device is in an unknown state (the driver restarts
// the remaining cases in a fresh process).
static int run_case(const cfg *g, const bcase *k, inputs *in) {
    int B = batch_of(g, k->T), H = heads_of(g, k->D);
    int64_t numel = (int64_t)B * H * k->T * k->D;
    if (numel > in->cap) { print_result(k, "failed", -1, -1, "input larger than the buffers"); return 0; }
    lt_tensor *ts[4] = {in->q, in->k, in->v, in->g};
    for (int i = 0; i < 4; i++) { set_shape(ts[i], B, H, k->T, k->D); ts[i]->grad = NULL; }
    int warmup = k->kind == K_ENT ? g->ent_warmup : g->warmup, reps = k->kind == K_ENT ? g->ent_reps : g->reps;
    lt_ctx *c = lt_ctx_new(LT_CUDA, 0);
    bench_events ev;
    if (!c || bench_events_init(&ev, 2) != 0) {
        print_result(k, "failed", -1, -1, c ? "cudaEventCreate failed" : lt_last_error());
        lt_ctx_free(c);
        return 3;
    }
    double times[MAX_REPS], total = 0;
    int nrep = 0, rc = 0;
    for (int it = 0;; it++) {
        lt_ctx_reset(c);
        lt_status s = lt_ctx_sync(c);
        if (s == LT_OK && bench_event_record(&ev, 0) != 0) s = lt_error(LT_ERR_DEVICE, "cudaEventRecord failed");
        if (s == LT_OK) s = run_rep(c, g, k, in);
        if (s == LT_OK && bench_event_record(&ev, 1) != 0) s = lt_error(LT_ERR_DEVICE, "cudaEventRecord failed");
        if (s == LT_OK) s = lt_ctx_sync(c);
        if (s != LT_OK) {
            char why[200];
            clean_reason(why, sizeof why, lt_last_error());
            const char *st = s == LT_ERR_UNSUPPORTED ? "n/a" : s == LT_ERR_OOM ? "oom" : "failed";
            print_result(k, st, -1, -1, why);
            // A fault leaves the context unusable (sticky): go on in a fresh process.
            // A library call that failed cleanly (cuDNN refusing a graph) does not.
            if (lt_ctx_sync(c) != LT_OK) rc = 3;
            break;
        }
        double ms = bench_event_ms(&ev, 0, 1);
        if (it < warmup) continue;
        times[nrep++] = ms;
        total += ms;
        if (nrep >= MAX_REPS || nrep >= reps || (nrep >= 3 && total >= g->max_time * 1e3)) {
            qsort(times, (size_t)nrep, sizeof(double), cmp_double);
            double med = nrep % 2 ? times[nrep / 2] : 0.5 * (times[nrep / 2 - 1] + times[nrep / 2]);
            char why[64];
            snprintf(why, sizeof why, "reps=%d min_ms=%.5f", nrep, times[0]);
            print_result(k, "ok", med, c->dev_arena.high_water / 1048576.0, why);
            break;
        }
    }
    for (int i = 0; i < 4; i++) ts[i]->grad = NULL;
    bench_events_free(&ev);
    lt_ctx_free(c);
    // Each case's arena has its own size: hand the cached blocks back so the
    // allocator's cache does not grow case after case.
    if (rc == 0) lt_device_release_cache(LT_CUDA);
    return rc;
}

static int child_main(const cfg *g) {
    static bcase cs[MAX_CASES];
    int n = build_cases(g, cs);
    if (lt_device_check(LT_CUDA) != LT_OK) { fprintf(stderr, "error: no GPU: %s\n", lt_last_error()); return 1; }
    int64_t cap = 0;
    for (int i = g->from; i < n; i++) {
        int64_t e = (int64_t)batch_of(g, cs[i].T) * heads_of(g, cs[i].D) * cs[i].T * cs[i].D;
        if (e > cap) cap = e;
    }
    if (cap == 0) return 0;
    if (cap > 0x7fffffff) { fprintf(stderr, "error: %lld elements per input is too many\n", (long long)cap); return 1; }
    char name[256];
    printf("I ours gpu=%s cudnn_built=%d\n", bench_gpu_name(name, sizeof name),
#ifdef LT_HAVE_CUDNN
           1
#else
           0
#endif
    );
    fflush(stdout);
    inputs in;
    if (inputs_init(&in, cap) != LT_OK) {
        fprintf(stderr, "error: inputs of %lld floats: %s\n", (long long)cap, lt_last_error());
        inputs_free(&in);
        return 3;
    }
    int rc = 0;
    for (int i = g->from; i < n && rc == 0; i++) {
        if (g->deadline > 0 && (int64_t)time(NULL) >= g->deadline) {
            print_result(&cs[i], "skipped", -1, -1, "--budget for libtrain's cases used up");
            continue;
        }
        printf("B %d\n", i);   // begun: a crash or hang from here on is this case's
        fflush(stdout);
        if (g->case_timeout > 0) alarm((unsigned)g->case_timeout);
        rc = run_case(g, &cs[i], &in);
        alarm(0);
    }
    inputs_free(&in);
    return rc;
}
#else
static int child_main(const cfg *g) {
    (void)g;
    fprintf(stderr, "error: no GPU: libtrain was built without the CUDA backend\n");
    return 1;
}
#endif

// ---------------------------------------------------------------- driver
static void add_result(const result *r) {
    for (int i = 0; i < n_results; i++) {
        result *o = &results[i];
        if (o->kind == r->kind && o->T == r->T && o->D == r->D && o->causal == r->causal && !strcmp(o->mode, r->mode) &&
            !strcmp(o->impl, r->impl)) { *o = *r; return; }
    }
    if (n_results < MAX_RESULTS) results[n_results++] = *r;
}

static const result *find(int kind, int T, int D, int causal, const char *mode, const char *impl) {
    for (int i = 0; i < n_results; i++) {
        const result *o = &results[i];
        if (o->kind == kind && o->T == T && o->D == D && o->causal == causal && !strcmp(o->mode, mode) &&
            !strcmp(o->impl, impl)) return o;
    }
    return NULL;
}

static int parse_line(const char *line, result *r) {
    char kind[16];
    memset(r, 0, sizeof *r);
    if (sscanf(line, "R kind=%15s T=%d D=%d causal=%d mode=%15s impl=%31s status=%15s ms=%lf mib=%lf", kind, &r->T, &r->D,
               &r->causal, r->mode, r->impl, r->status, &r->ms, &r->mib) != 9)
        return 0;
    r->kind = -1;
    for (int k = 0; k < K_COUNT; k++)
        if (!strcmp(kind, kind_names[k])) r->kind = k;
    const char *why = strstr(line, " reason=");
    if (why) clean_reason(r->reason, sizeof r->reason, why + 8);
    return r->kind >= 0;
}

static char ours_info[256], torch_info[256];

static void list_args(const cfg *g, char *buf, size_t n) {
    snprintf(buf, n,
             "--suite=%s --T=%s --D=%s --causal=%s --fp32-T=%s --ent-T=%s --ent-D=%s --ent-causal=%s --tokens=%d "
             "--hidden=%d --warmup=%d --reps=%d --ent-warmup=%d --ent-reps=%d --max-time=%g --lambda=%g",
             g->suite, g->s_T, g->s_D, g->s_causal, g->s_fp32_T, g->s_ent_T, g->s_ent_D, g->s_ent_causal, g->tokens,
             g->hidden, g->warmup, g->reps, g->ent_warmup, g->ent_reps, (double)g->max_time, (double)g->lambda);
}

static void mark_case(const bcase *k, const char *status, const char *why) {
    result r = {.kind = k->kind, .T = k->T, .D = k->D, .causal = k->causal, .ms = -1, .mib = -1};
    snprintf(r.mode, sizeof r.mode, "%s", k->mode);
    snprintf(r.impl, sizeof r.impl, "%s", k->impl);
    snprintf(r.status, sizeof r.status, "%s", status);
    snprintf(r.reason, sizeof r.reason, "%s", why);
    add_result(&r);
}

// Runs libtrain's cases in child processes; a case whose child died (crash, or the
// per-case alarm) is recorded as such and the rest continue in a new child.
static void run_ours(const cfg *g, const char *self) {
    static bcase cs[MAX_CASES];
    int n = build_cases(g, cs), from = 0;
    char args[1600], cmd[4096], line[1024];
    list_args(g, args, sizeof args);
    while (from < n) {
        snprintf(cmd, sizeof cmd, "%s --child --from=%d --case-timeout=%d --deadline=%lld %s", self, from,
                 g->case_timeout, (long long)g->deadline, args);
        FILE *p = popen(cmd, "r");
        if (!p) { fprintf(stderr, "error: cannot run %s\n", self); return; }
        int begun = -1;
        while (fgets(line, sizeof line, p)) {
            result r;
            if (sscanf(line, "B %d", &begun) == 1) continue;
            if (!strncmp(line, "I ours ", 7)) { clean_reason(ours_info, sizeof ours_info, line + 7); continue; }
            if (parse_line(line, &r)) add_result(&r);
        }
        int st = pclose(p);
        int ok = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (ok) break;
        // Killed by a signal: directly, or through the shell (exit status 128 + signal).
        int sig = st == -1 ? 0 : WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st) > 128 ? WEXITSTATUS(st) - 128 : 0;
        int code = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (begun < 0) {   // nothing ran: every remaining case is marked
            fprintf(stderr, "libtrain: the child failed before its first case (exit %d, signal %d)\n", code, sig);
            for (int i = from; i < n; i++) mark_case(&cs[i], "failed", "the child process failed before this case");
            break;
        }
        const bcase *k = &cs[begun];
        if (!find(k->kind, k->T, k->D, k->causal, k->mode, k->impl)) {
            char why[120];
            if (sig == SIGALRM) snprintf(why, sizeof why, "hit --case-timeout=%d s", g->case_timeout);
            else if (sig) snprintf(why, sizeof why, "the child was killed by signal %d", sig);
            else snprintf(why, sizeof why, "the child exited with status %d", code);
            mark_case(k, sig == SIGALRM ? "timeout" : "crashed", why);
            fprintf(stderr, "libtrain: case %d (%s T=%d D=%d causal=%d %s %s): %s\n", begun, kind_names[k->kind], k->T,
                    k->D, k->causal, k->mode, k->impl, why);
        }
        from = begun + 1;
    }
}

static void run_torch(const cfg *g) {
    char args[1600], cmd[4096], line[1024];
    list_args(g, args, sizeof args);
    snprintf(cmd, sizeof cmd, "%s %s/bench/attention_cuda_torch.py %s", g->python, g->src, args);
    FILE *p = popen(cmd, "r");
    int got = 0;
    while (p && fgets(line, sizeof line, p)) {
        result r;
        if (!strncmp(line, "I torch ", 8)) { clean_reason(torch_info, sizeof torch_info, line + 8); continue; }
        if (parse_line(line, &r)) { add_result(&r); got++; }
    }
    int st = p ? pclose(p) : -1;
    if (st != 0) fprintf(stderr, "pytorch: %s exited with status %d after %d results\n", cmd, st, got);
}

// ---------------------------------------------------------------- tables
// A cell: TFLOP/s (or ms when flops <= 0) of a result, or its status.
static void cell(char *buf, size_t n, const result *r, double flops) {
    if (!r) snprintf(buf, n, "-");
    else if (strcmp(r->status, "ok")) snprintf(buf, n, "%s", r->status);
    else if (flops > 0) snprintf(buf, n, "%.1f", flops / (r->ms * 1e-3) / 1e12);
    else snprintf(buf, n, "%.3f", r->ms);
}

static int okr(const result *r) { return r && !strcmp(r->status, "ok") && r->ms > 0; }

// a's speed over b's (b ms / a ms) as "1.23x".
static void ratio(char *buf, size_t n, const result *a, const result *b) {
    if (okr(a) && okr(b)) snprintf(buf, n, "%.2fx", b->ms / a->ms);
    else snprintf(buf, n, "-");
}

// Prints one table row: plain text (aligned) or markdown.
static void row(FILE *f, int md, int ncol, const int *w, char cells[][48]) {
    for (int i = 0; i < ncol; i++) {
        if (md) fprintf(f, "| %s ", cells[i]);
        else fprintf(f, "%*s%s", w[i], cells[i], i + 1 < ncol ? " " : "");
    }
    fprintf(f, md ? "|\n" : "\n");
}

static void header(FILE *f, int md, int ncol, const int *w, const char *const *names) {
    char cells[16][48];
    if (md) fputc('\n', f);   // a markdown table starts a block
    for (int i = 0; i < ncol; i++) snprintf(cells[i], sizeof cells[i], "%s", names[i]);
    row(f, md, ncol, w, cells);
    if (md) {
        for (int i = 0; i < ncol; i++) fprintf(f, "|---:");
        fprintf(f, "|\n");
    }
}

static void speed_table(FILE *f, int md, const cfg *g) {
    static const char *names[] = {"mode", "D", "causal", "T", "ours", "lt-cuDNN", "torch-flash", "torch-cuDNN",
                                  "ours/flash", "ours/t-cuDNN", "lt-cuDNN/t-cuDNN", "ours ms"};
    static const int w[] = {6, 4, 6, 6, 8, 9, 11, 11, 10, 12, 16, 9};
    fprintf(f, "\nattention, bf16, TFLOP/s: B = %d/T, H = %d/D; FLOPs = 4*B*T^2*H*D, /2 causal, x3.5 fwd+bwd\n",
            g->tokens, g->hidden);
    header(f, md, 12, w, names);
    static const char *modes[2] = {"fwd", "fwdbwd"};
    for (int m = 0; m < 2; m++)
        for (int d = 0; d < g->nD; d++)
            for (int c = 0; c < g->ncausal; c++)
                for (int t = 0; t < g->nT; t++) {
                    int T = g->T[t], D = g->D[d], ca = g->causal[c];
                    double fl = attn_flops(g, T, D, ca, modes[m]);
                    const result *o = find(K_SPEED, T, D, ca, modes[m], "ours_bf16");
                    const result *lc = find(K_SPEED, T, D, ca, modes[m], "lt_cudnn");
                    const result *tf = find(K_SPEED, T, D, ca, modes[m], "flash");
                    const result *tc = find(K_SPEED, T, D, ca, modes[m], "cudnn");
                    char cells[12][48];
                    snprintf(cells[0], 48, "%s", modes[m]);
                    snprintf(cells[1], 48, "%d", D);
                    snprintf(cells[2], 48, "%d", ca);
                    snprintf(cells[3], 48, "%d", T);
                    cell(cells[4], 48, o, fl);
                    cell(cells[5], 48, lc, fl);
                    cell(cells[6], 48, tf, fl);
                    cell(cells[7], 48, tc, fl);
                    ratio(cells[8], 48, o, tf);
                    ratio(cells[9], 48, o, tc);
                    ratio(cells[10], 48, lc, tc);
                    cell(cells[11], 48, o, 0);
                    row(f, md, 12, w, cells);
                }
    if (md) fputc('\n', f);   // ends the table
    fprintf(f, "ratios are speed ratios (torch ms / ours ms: > 1 means ours is faster); n/a = not supported here\n");
}

static void fp32_table(FILE *f, int md, const cfg *g) {
    if (!g->nfT) return;
    static const char *names[] = {"mode", "D", "causal", "T", "ours fp32", "torch sdpa fp32", "ours/torch", "ours ms",
                                  "torch ms"};
    static const int w[] = {6, 4, 6, 6, 10, 15, 10, 9, 9};
    fprintf(f, "\nattention, fp32 inputs and compute, TFLOP/s (torch: scaled_dot_product_attention on fp32, its default "
               "backend)\n");
    header(f, md, 9, w, names);
    static const char *modes[2] = {"fwd", "fwdbwd"};
    for (int m = 0; m < 2; m++)
        for (int t = 0; t < g->nfT; t++) {
            int T = g->fT[t];
            double fl = attn_flops(g, T, 64, 0, modes[m]);
            const result *o = find(K_FP32, T, 64, 0, modes[m], "ours_fp32");
            const result *tt = find(K_FP32, T, 64, 0, modes[m], "sdpa_fp32");
            char cells[9][48];
            snprintf(cells[0], 48, "%s", modes[m]);
            snprintf(cells[1], 48, "64");
            snprintf(cells[2], 48, "0");
            snprintf(cells[3], 48, "%d", T);
            cell(cells[4], 48, o, fl);
            cell(cells[5], 48, tt, fl);
            ratio(cells[6], 48, o, tt);
            cell(cells[7], 48, o, 0);
            cell(cells[8], 48, tt, 0);
            row(f, md, 9, w, cells);
        }
}

static void mib_cell(char *buf, size_t n, const result *r) {
    if (okr(r) && r->mib >= 0) snprintf(buf, n, "%.0f", r->mib);
    else snprintf(buf, n, "%s", r ? r->status : "-");
}

static void entropy_table(FILE *f, int md, const cfg *g) {
    static const char *names[] = {"D", "causal", "T", "ours ent ms", "ours plain ms", "ent overhead", "torch mat ms",
                                  "torch flash plain ms", "speedup vs mat", "ours ent MiB", "ours plain MiB",
                                  "torch mat MiB", "torch flash MiB", "mem mat/ours"};
    static const int w[] = {4, 6, 6, 11, 13, 12, 12, 20, 14, 12, 14, 13, 15, 12};
    fprintf(f, "\nentropy: loss = sum(O*g) + %g*sum(H) forward+backward, B = %d/T, H = %d/D; ours bf16 (plain: loss "
               "sum(O*g)); torch: bf16 q,k,v, materialized fp32 softmax; step MiB beyond the inputs\n",
            (double)g->lambda, g->tokens, g->hidden);
    header(f, md, 14, w, names);
    for (int d = 0; d < g->neD; d++)
        for (int c = 0; c < g->necausal; c++)
            for (int t = 0; t < g->neT; t++) {
                int T = g->eT[t], D = g->eD[d], ca = g->ecausal[c];
                const result *oe = find(K_ENT, T, D, ca, "step", "ours_entropy");
                const result *op = find(K_ENT, T, D, ca, "step", "ours_plain");
                const result *tm = find(K_ENT, T, D, ca, "step", "materialized");
                const result *tf = find(K_ENT, T, D, ca, "step", "flash_plain");
                char cells[14][48];
                snprintf(cells[0], 48, "%d", D);
                snprintf(cells[1], 48, "%d", ca);
                snprintf(cells[2], 48, "%d", T);
                cell(cells[3], 48, oe, 0);
                cell(cells[4], 48, op, 0);
                if (okr(oe) && okr(op)) snprintf(cells[5], 48, "%+.1f%%", (oe->ms / op->ms - 1) * 100);
                else snprintf(cells[5], 48, "-");
                cell(cells[6], 48, tm, 0);
                cell(cells[7], 48, tf, 0);
                ratio(cells[8], 48, oe, tm);
                mib_cell(cells[9], 48, oe);
                mib_cell(cells[10], 48, op);
                mib_cell(cells[11], 48, tm);
                mib_cell(cells[12], 48, tf);
                if (okr(oe) && okr(tm) && oe->mib > 0) snprintf(cells[13], 48, "%.1fx", tm->mib / oe->mib);
                else snprintf(cells[13], 48, "-");
                row(f, md, 14, w, cells);
            }
    if (md) fputc('\n', f);
    fprintf(f, "ent overhead = ours entropy / ours plain - 1 (goal <= +15%%); speedup vs mat = torch materialized ms "
               "/ ours entropy ms\n");
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, const char *key, double v, int valid) {
    fprintf(f, ", \"%s\": ", key);
    if (valid && isfinite(v)) fprintf(f, "%.6g", v);
    else fprintf(f, "null");
}

static int write_json(FILE *f, const cfg *g) {
    fprintf(f, "{\"bench\": \"attention_cuda\", \"ours\": ");
    json_str(f, ours_info);
    fprintf(f, ", \"torch\": ");
    json_str(f, torch_info);
    fprintf(f, ", \"tokens\": %d, \"hidden\": %d, \"lambda\": %g,\n \"results\": [", g->tokens, g->hidden,
            (double)g->lambda);
    for (int i = 0; i < n_results; i++) {
        const result *r = &results[i];
        fprintf(f, "%s\n  {\"kind\": \"%s\", \"T\": %d, \"D\": %d, \"causal\": %d, \"mode\": \"%s\", \"impl\": \"%s\", "
                   "\"status\": \"%s\", \"B\": %d, \"H\": %d", i ? "," : "", kind_names[r->kind], r->T, r->D, r->causal,
                r->mode, r->impl, r->status, batch_of(g, r->T), heads_of(g, r->D));
        int ok = okr(r);
        json_num(f, "ms", r->ms, ok);
        double fl = r->kind == K_ENT ? 0 : attn_flops(g, r->T, r->D, r->causal, r->mode);
        json_num(f, "tflops", fl / (r->ms * 1e-3) / 1e12, ok && fl > 0);
        json_num(f, "step_mib", r->mib, ok && r->mib >= 0);
        if (r->kind == K_SPEED && strcmp(r->impl, "flash")) {
            const result *tf = find(K_SPEED, r->T, r->D, r->causal, r->mode, "flash");
            json_num(f, "speed_vs_torch_flash", okr(tf) && ok ? tf->ms / r->ms : 0, okr(tf) && ok);
        }
        if (r->kind == K_ENT && !strcmp(r->impl, "ours_entropy")) {
            const result *op = find(K_ENT, r->T, r->D, r->causal, "step", "ours_plain");
            json_num(f, "entropy_overhead", okr(op) && ok ? r->ms / op->ms - 1 : 0, okr(op) && ok);
        }
        fprintf(f, ", \"reason\": ");
        json_str(f, r->reason);
        fprintf(f, "}");
    }
    fprintf(f, "\n]}\n");
    return ferror(f) ? -1 : 0;
}

static void print_all(FILE *f, int md, const cfg *g) {
    if (g->do_speed) { speed_table(f, md, g); fp32_table(f, md, g); }
    if (g->do_ent) entropy_table(f, md, g);
}

int main(int argc, char **argv) {
    cfg g;
    memset(&g, 0, sizeof g);
    lt_flags *f = lt_flags_new("bench_attention_cuda", "attention on the GPU against PyTorch on the same GPU");
    lt_flag_choice(f, "suite", &g.suite, "all", "all|speed|entropy", "which measurements");
    lt_flag_str(f, "T", &g.s_T, "512,1024,2048,4096,8192,16384", "speed: sequence lengths");
    lt_flag_str(f, "D", &g.s_D, "64,128", "speed: head dims");
    lt_flag_str(f, "causal", &g.s_causal, "0,1", "speed: causal settings");
    lt_flag_str(f, "fp32-T", &g.s_fp32_T, "1024,4096", "speed: T of the fp32 reference rows (D 64, not causal; "
                                                        "empty: none)");
    lt_flag_str(f, "ent-T", &g.s_ent_T, "1024,2048,4096", "entropy: sequence lengths");
    lt_flag_str(f, "ent-D", &g.s_ent_D, "64,128", "entropy: head dims");
    lt_flag_str(f, "ent-causal", &g.s_ent_causal, "0,1", "entropy: causal settings");
    lt_flag_int(f, "tokens", &g.tokens, 16384, "B*T (B = tokens/T)");
    lt_flag_int(f, "hidden", &g.hidden, 2048, "H*D (H = hidden/D)");
    lt_flag_int(f, "warmup", &g.warmup, 2, "speed: untimed repetitions first");
    lt_flag_int(f, "reps", &g.reps, 10, "speed: timed repetitions at most (median reported)");
    lt_flag_int(f, "ent-warmup", &g.ent_warmup, 2, "entropy: untimed repetitions first");
    lt_flag_int(f, "ent-reps", &g.ent_reps, 7, "entropy: timed repetitions at most");
    lt_flag_float(f, "max-time", &g.max_time, 1.0f, "stop timing a case after 3 reps once this many seconds are timed");
    lt_flag_float(f, "lambda", &g.lambda, 0.1f, "entropy weight in the loss");
    lt_flag_bool(f, "torch", &g.torch, 1, "also run PyTorch");
    lt_flag_str(f, "python", &g.python, "python3", "python with torch (CUDA build)");
    lt_flag_str(f, "src", &g.src, ".", "repository root (for bench/attention_cuda_torch.py)");
    lt_flag_str(f, "out", &g.out, "", "also write the results here: FILE.md as markdown tables, else JSON");
    lt_flag_int(f, "case-timeout", &g.case_timeout, 90, "seconds one libtrain case may take (0: no limit)");
    lt_flag_int(f, "budget", &g.budget, 0, "seconds for all of libtrain's cases; later ones are skipped (0: none)");
    lt_flag_bool(f, "child", &g.child, 0, "internal: run libtrain's cases in this process");
    lt_flag_int64(f, "deadline", &g.deadline, 0, "internal: unix time after which the child starts no case");
    lt_flag_int(f, "from", &g.from, 0, "internal: first case index (with --child)");
    lt_status s = lt_flags_parse(f, argc, argv);
    if (s == LT_HELP) { lt_flags_free(f); return 0; }
    if (s != LT_OK) { fprintf(stderr, "error: %s\n", lt_last_error()); lt_flags_free(f); return 2; }
    g.do_speed = strcmp(g.suite, "entropy") != 0;
    g.do_ent = strcmp(g.suite, "speed") != 0;
    if (parse_int_list(g.s_T, g.T, &g.nT, 1, 1 << 20) || parse_int_list(g.s_D, g.D, &g.nD, 1, 1024) ||
        parse_int_list(g.s_causal, g.causal, &g.ncausal, 0, 1) ||
        parse_int_list(g.s_fp32_T, g.fT, &g.nfT, 1, 1 << 20) || parse_int_list(g.s_ent_T, g.eT, &g.neT, 1, 1 << 20) ||
        parse_int_list(g.s_ent_D, g.eD, &g.neD, 1, 1024) || parse_int_list(g.s_ent_causal, g.ecausal, &g.necausal, 0, 1) ||
        g.tokens < 1 || g.hidden < 1 || g.warmup < 0 || g.reps < 1 || g.ent_warmup < 0 || g.ent_reps < 1 ||
        g.from < 0 || g.budget < 0 || g.case_timeout < 0 || !(g.max_time > 0)) {
        fprintf(stderr, "error: bad flags: lists are comma-separated integers (causal 0/1, at most %d), tokens, hidden "
                        "and reps >= 1, warmups >= 0, max-time > 0\n", MAX_LIST);
        lt_flags_free(f);
        return 2;
    }
    if (g.child) { int rc = child_main(&g); lt_flags_free(f); return rc; }

    // The driver itself does no GPU work (cudaGetDeviceCount creates no context).
    if (lt_device_check(LT_CUDA) != LT_OK) {
        fprintf(stderr, "error: no GPU: %s\nbench_attention_cuda needs a CUDA GPU (and libtrain built with its CUDA "
                        "backend); nothing was measured\n", lt_last_error());
        lt_flags_free(f);
        return 1;
    }
    char self[1024];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) { fprintf(stderr, "error: cannot read /proc/self/exe\n"); lt_flags_free(f); return 1; }
    self[len] = 0;

    if (g.budget > 0) g.deadline = (int64_t)time(NULL) + g.budget;
    double t0 = lt_time_now();
    fprintf(stderr, "libtrain cases ...\n");
    run_ours(&g, self);
    double t1 = lt_time_now();
    if (g.torch) { fprintf(stderr, "pytorch cases ...\n"); run_torch(&g); }
    double t2 = lt_time_now();

    printf("attention on the GPU, libtrain vs PyTorch (suite %s)\n", g.suite);
    printf("libtrain: %s\npytorch:  %s\n", ours_info[0] ? ours_info : "(no result)",
           torch_info[0] ? torch_info : (g.torch ? "(no result)" : "(not run)"));
    printf("timing: CUDA events around each repetition on an idle GPU; median of <= %d reps (speed; <= %d entropy) "
           "after %d warm-ups, fewer once %.1f s are timed (at least 3)\n", g.reps, g.ent_reps, g.warmup,
           (double)g.max_time);
    if (g.do_speed)
        printf("ours fwd+bwd = forward + zeroing dq/dk/dv + the op's backward with a fixed dO; ours reads and writes "
               "fp32 tensors (bf16 compute), torch bf16 tensors\n");
    print_all(stdout, 0, &g);
    printf("\nwall time: libtrain %.1f s, pytorch %.1f s\n", t1 - t0, t2 - t1);

    int failed = 0, skipped = 0;
    for (int i = 0; i < n_results; i++) skipped += !strcmp(results[i].status, "skipped");
    if (skipped) printf("\n%d libtrain cases skipped: --budget=%d s was used up\n", skipped, g.budget);
    for (int i = 0; i < n_results; i++)
        if (!strncmp(results[i].impl, "ours", 4) || !strncmp(results[i].impl, "lt_", 3))
            if (strcmp(results[i].status, "ok") && strcmp(results[i].status, "n/a") &&
                strcmp(results[i].status, "skipped")) {
                if (!failed) printf("\nlibtrain cases that did not run:\n");
                failed++;
                printf("  %s T=%d D=%d causal=%d %s %s: %s: %s\n", kind_names[results[i].kind], results[i].T,
                       results[i].D, results[i].causal, results[i].mode, results[i].impl, results[i].status,
                       results[i].reason);
            }
    if (g.out[0]) {
        size_t ol = strlen(g.out);
        int md = ol > 3 && !strcmp(g.out + ol - 3, ".md");
        FILE *o = fopen(g.out, "w");
        int bad = !o;
        if (o) {
            if (md) {
                fprintf(o, "libtrain: %s; pytorch: %s\n", ours_info, torch_info);
                print_all(o, 1, &g);
            } else {
                bad = write_json(o, &g) != 0;
            }
            bad |= fclose(o) != 0;
        }
        if (bad) { fprintf(stderr, "error: cannot write %s\n", g.out); failed++; }
        else printf("results written to %s\n", g.out);
    }
    lt_flags_free(f);
    return failed ? 1 : 0;
}
