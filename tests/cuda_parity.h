// CPU/CUDA parity harness for the GPU tests. A case lists host input values
// (seeded random, odd shapes); lt_parity_run builds the same op graph on a CPU
// context and on a CUDA context from those values (both arenas poisoned, so
// outputs start as NaN and a kernel that skips an element shows up), runs
// forward, then backward with the same random upstream gradient on every
// output that takes one, copies the CUDA outputs and every input gradient to
// the host and compares them with the CPU's:
//   err = |cuda - cpu| / max(|cpu|, floor),
//   floor = max(rms of the CPU tensor, its largest |value| / 4)   (fp32, tol 1e-5)
//         = its largest |value|                  (bf16 and TF32, tol 1e-2: floor_max)
//         = 1 when every |value| is below 1e-4   (rounding noise around an exact 0;
//                                                 inputs and upstream gradients are O(1))
// so an element far below its tensor's scale (a sum that cancels, attention's
// dq at row 0 of a causal head, where the exact gradient is 0) is judged
// against that scale, not against itself. Calibration: the CPU kernels against
// double references reach 5e-6 with the rms alone (attention dq/dk), and
// rounding only the inputs to bf16 puts 1-4% rms-relative, 0.4% max-relative
// errors on attention and matmul outputs. Any NaN fails; a failure names the
// case, the tensor, the worst element's coordinates and both values.
//
// Also: LT_CUDA_TEST_MAIN(), a main() that makes a GPU-only test binary exit
// 77 (ctest: skipped) after printing "SKIP: <reason>" when CUDA is unusable.
// LT_PARITY_VERBOSE=1 prints every comparison's worst error (margins).
// Self-check of the cases without a GPU: compile a test file with
// -DLT_PARITY_ON_CPU=1 and every case runs CPU against CPU (never skipped).
#ifndef LT_CUDA_PARITY_H
#define LT_CUDA_PARITY_H

#include "lt_test.h"

#include <stdarg.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef LT_PARITY_ON_CPU
#define LT_PARITY_ON_CPU 0
#endif
#if LT_PARITY_ON_CPU
#define LT_PARITY_DEVICE LT_CPU
#else
#define LT_PARITY_DEVICE LT_CUDA
#endif

#define LT_PARITY_FP32 1e-5
#define LT_PARITY_BF16 1e-2
#define LT_PARITY_MAX_IN 8
#define LT_PARITY_MAX_OUT LT_NODE_MAX_OUT

typedef struct {
    lt_dtype dtype;
    int ndim, shape[LT_MAX_DIMS];
    int64_t numel;
    int grad;     // requires_grad (f32 only): its gradient is compared
    void *host;   // numel values (owned)
} lt_parity_in;

typedef struct {
    char name[256];          // case name, in every message
    uint64_t seed;           // both contexts' seed (dropout stream), inputs and upstream gradients
    double tol;              // max relative error (default LT_PARITY_FP32)
    unsigned no_seed;        // bit i: output i gets no upstream gradient (lse, block map)
    int forward_only;        // skip backward
    int allow_unsupported;   // CUDA refusing the case (LT_ERR_UNSUPPORTED) is reported, not failed
    int same_zeros;          // also require exact zeros in the same places (dropout masks)
    int floor_max;           // floor = max |cpu| of the tensor (reduced precision)
    double noise;            // a CPU tensor entirely below this is rounding noise: floor 1 (default 1e-4; 0: off)
    int n_in;
    lt_parity_in in[LT_PARITY_MAX_IN];
} lt_parity;

// Builds the graph on `c` from inputs `in` (already on c's device), stores up to
// LT_PARITY_MAX_OUT outputs in `out`, returns how many (0: failed, error recorded).
typedef int (*lt_parity_fn)(lt_ctx *c, lt_tensor **in, lt_tensor **out, const void *ud);

enum { LT_PARITY_FAILED = 0, LT_PARITY_OK = 1, LT_PARITY_UNSUPPORTED = 2 };

static inline void lt_parity_init(lt_parity *p, uint64_t seed, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void lt_parity_init(lt_parity *p, uint64_t seed, const char *fmt, ...) {
    memset(p, 0, sizeof *p);
    p->seed = seed;
    p->tol = LT_PARITY_FP32;
    p->noise = 1e-4;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->name, sizeof p->name, fmt, ap);
    va_end(ap);
}

static inline void lt_parity_free(lt_parity *p) {
    for (int i = 0; i < p->n_in; i++) free(p->in[i].host);
    p->n_in = 0;
}

// Adds an input with `values` (copied; NULL: left for the caller to fill
// through p->in[i].host). Returns its index.
static inline int lt_parity_add(lt_parity *p, lt_dtype dt, int grad, int ndim, const int *shape, const void *values) {
    cr_assert(p->n_in < LT_PARITY_MAX_IN, "%s: more than %d inputs", p->name, LT_PARITY_MAX_IN);
    lt_parity_in *x = &p->in[p->n_in];
    x->dtype = dt;
    x->ndim = ndim;
    memcpy(x->shape, shape, sizeof(int) * (size_t)ndim);
    x->numel = lt_shape_numel(ndim, shape);
    x->grad = grad && dt == LT_F32;
    x->host = malloc(4 * (size_t)x->numel);
    cr_assert(x->host, "%s: out of host memory", p->name);
    if (values) memcpy(x->host, values, 4 * (size_t)x->numel);
    return p->n_in++;
}

// f32 input uniform in [lo,hi), drawn from the case seed and the input's index.
static inline int lt_parity_rand(lt_parity *p, int grad, float lo, float hi, int ndim, const int *shape) {
    int i = lt_parity_add(p, LT_F32, grad, ndim, shape, NULL);
    lt_rng r;
    lt_rng_init(&r, p->seed * 1000003u + 7919u * (uint64_t)(i + 1));
    lt_rng_fill_uniform(&r, (float *)p->in[i].host, p->in[i].numel, lo, hi);
    return i;
}

static inline int lt_parity_f32(lt_parity *p, int grad, int ndim, const int *shape, const float *v) {
    return lt_parity_add(p, LT_F32, grad, ndim, shape, v);
}

static inline int lt_parity_i32(lt_parity *p, int ndim, const int *shape, const int32_t *v) {
    return lt_parity_add(p, LT_I32, 0, ndim, shape, v);
}

// i32 input uniform in [0, below) (duplicates likely when numel > below).
static inline int lt_parity_rand_i32(lt_parity *p, uint32_t below, int ndim, const int *shape) {
    int i = lt_parity_add(p, LT_I32, 0, ndim, shape, NULL);
    lt_rng r;
    lt_rng_init(&r, p->seed * 1000003u + 7919u * (uint64_t)(i + 1));
    int32_t *v = (int32_t *)p->in[i].host;
    for (int64_t j = 0; j < p->in[i].numel; j++) v[j] = (int32_t)lt_rng_below(&r, below);
    return i;
}

// ---------------------------------------------------------------- comparison

static inline const char *lt_parity_coords(int ndim, const int *shape, int64_t flat, char *buf, size_t n) {
    int co[LT_MAX_DIMS] = {0};
    lt_test_unravel(flat, ndim, shape, co);
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && k < n; d++) k += (size_t)snprintf(buf + k, n - k, "%s%d", d ? "," : "", co[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

// Compares one tensor; on failure records a Criterion failure (the test goes
// on with the next comparison) and returns 0.
static inline int lt_parity_compare(const lt_parity *p, const char *what, lt_dtype dt, int ndim, const int *shape,
                                    const void *ref_v, const void *got_v, int64_t n) {
    char co[96];
    if (dt == LT_I32) {
        const int32_t *ref = ref_v, *got = got_v;
        for (int64_t i = 0; i < n; i++)
            if (ref[i] != got[i]) {
                cr_expect_fail("%s: %s differs at %s (flat %lld): cuda %d, cpu %d", p->name, what,
                               lt_parity_coords(ndim, shape, i, co, sizeof co), (long long)i, got[i], ref[i]);
                return 0;
            }
        return 1;
    }
    const float *ref = ref_v, *got = got_v;
    double ss = 0, mx = 0;
    int64_t finite = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(ref[i])) {
            cr_expect_fail("%s: %s: the CPU reference is NaN at %s (flat %lld): the case is broken", p->name, what,
                           lt_parity_coords(ndim, shape, i, co, sizeof co), (long long)i);
            return 0;
        }
        if (isfinite(ref[i])) {
            ss += (double)ref[i] * ref[i];
            mx = fmax(mx, fabs((double)ref[i]));
            finite++;
        }
    }
    double rms = finite ? sqrt(ss / (double)finite) : 0.0;
    int noise = mx < p->noise;   // rounding noise around an exact 0: judged against the inputs' O(1) scale
    double floor = noise ? 1.0 : p->floor_max ? mx : fmax(rms, mx / 4);
    if (floor < 1e-30) floor = 1e-30;
    double worst = -1;
    int64_t wi = 0, zero_bad = -1;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(got[i])) {
            cr_expect_fail("%s: %s: cuda gives NaN at %s (flat %lld; cpu %.9g)%s", p->name, what,
                           lt_parity_coords(ndim, shape, i, co, sizeof co), (long long)i, ref[i],
                           " (poisoned memory never written, or a NaN computed)");
            return 0;
        }
        double e;
        if (!isfinite(ref[i]) || !isfinite(got[i])) e = ref[i] == got[i] ? 0 : INFINITY;
        else {
            double d = fabs((double)got[i] - ref[i]), m = fabs((double)ref[i]);
            e = d / (m > floor ? m : floor);
        }
        if (e > worst) { worst = e; wi = i; }
        if (p->same_zeros && zero_bad < 0 && (ref[i] == 0.0f) != (got[i] == 0.0f)) zero_bad = i;
    }
    if (getenv("LT_PARITY_VERBOSE"))
        fprintf(stderr, "parity %-60s %-12s max rel err %.3g (tol %.0e, %lld elements)\n", p->name, what,
                worst < 0 ? 0 : worst, p->tol, (long long)n);
    if (zero_bad >= 0) {
        cr_expect_fail("%s: %s: zeros in different places, first at %s (flat %lld): cuda %.9g, cpu %.9g", p->name,
                       what, lt_parity_coords(ndim, shape, zero_bad, co, sizeof co), (long long)zero_bad,
                       got[zero_bad], ref[zero_bad]);
        return 0;
    }
    if (n > 0 && !(worst <= p->tol)) {
        cr_expect_fail("%s: %s: max rel err %.3g > %.0e at %s (flat %lld of %lld): cuda %.9g, cpu %.9g "
                       "(|diff| %.3g, floor %.3g = %s)",
                       p->name, what, worst, p->tol, lt_parity_coords(ndim, shape, wi, co, sizeof co), (long long)wi,
                       (long long)n, got[wi], ref[wi], fabs((double)got[wi] - ref[wi]), floor,
                       noise ? "1: the cpu tensor is rounding noise" : p->floor_max ? "max |cpu|"
                                                                                  : "max(rms, max/4) of |cpu|");
        return 0;
    }
    return 1;
}

// ---------------------------------------------------------------- running

typedef struct {
    int n_out;
    lt_dtype out_dt[LT_PARITY_MAX_OUT];
    int out_ndim[LT_PARITY_MAX_OUT], out_shape[LT_PARITY_MAX_OUT][LT_MAX_DIMS];
    int64_t out_numel[LT_PARITY_MAX_OUT];
    void *out[LT_PARITY_MAX_OUT];        // host copies
    int seeded[LT_PARITY_MAX_OUT];       // got an upstream gradient
    float *grad[LT_PARITY_MAX_IN];       // host copies of input grads (NULL: none flowed)
    lt_status status;                    // of the build (LT_OK, or why fn failed)
    char msg[512];
} lt_parity_res;

static inline void lt_parity_res_free(lt_parity_res *r) {
    for (int i = 0; i < LT_PARITY_MAX_OUT; i++) free(r->out[i]);
    for (int i = 0; i < LT_PARITY_MAX_IN; i++) free(r->grad[i]);
    memset(r, 0, sizeof *r);
}

// Upstream gradient of output `i`, the same for both devices: uniform in
// [-0.5,1.5), both signs but a positive mean, so a backward that sums many of
// them (a broadcast operand's gradient) does not cancel down to rounding noise.
static inline float *lt_parity_upstream(const lt_parity *p, int i, int64_t n) {
    float *g = malloc(sizeof(float) * (size_t)(n ? n : 1));
    cr_assert(g, "%s: out of host memory", p->name);
    lt_rng r;
    lt_rng_init(&r, (p->seed ^ 0x9e3779b97f4a7c15ull) + 104729u * (uint64_t)(i + 1));
    lt_rng_fill_uniform(&r, g, n, -0.5f, 1.5f);
    return g;
}

// One device's run. Returns 0 when fn failed (r->status, r->msg say why);
// asynchronous device failures and backward failures fail the test at once.
static inline int lt_parity_exec(const lt_parity *p, lt_device dev, lt_parity_fn fn, const void *ud,
                                 lt_parity_res *r) {
    const char *dn = lt_device_name(dev);
    memset(r, 0, sizeof *r);
    lt_ctx *c = lt_ctx_new(dev, p->seed);
    cr_assert(c, "%s: %s context: %s", p->name, dn, lt_last_error());
    c->arena.poison = c->dev_arena.poison = 1;
    lt_tensor *in[LT_PARITY_MAX_IN] = {0}, *out[LT_PARITY_MAX_OUT] = {0};
    for (int i = 0; i < p->n_in; i++) {
        const lt_parity_in *x = &p->in[i];
        in[i] = lt_tensor_from(c, x->dtype, x->ndim, x->shape, x->host);
        cr_assert(in[i], "%s: %s input %d: %s", p->name, dn, i, lt_last_error());
        in[i]->requires_grad = (unsigned char)x->grad;
    }
    lt_clear_error();
    int n = fn(c, in, out, ud);
    for (int i = 0; i < n && n > 0; i++)
        if (!out[i]) n = 0;
    if (n <= 0) {
        r->status = lt_last_status() != LT_OK ? lt_last_status() : LT_ERR_STATE;
        snprintf(r->msg, sizeof r->msg, "%s", lt_last_error()[0] ? lt_last_error() : "the builder gave no output");
        cr_assert_eq(lt_ctx_sync(c), LT_OK, "%s: %s: device failure after a failed build: %s", p->name, dn,
                     lt_last_error());
        lt_ctx_free(c);
        return 0;
    }
    cr_assert(n <= LT_PARITY_MAX_OUT, "%s: %d outputs", p->name, n);
    cr_assert_eq(lt_ctx_sync(c), LT_OK, "%s: %s forward: %s", p->name, dn, lt_last_error());
    r->n_out = n;
    for (int i = 0; i < n; i++) {
        r->out_dt[i] = out[i]->dtype;
        r->out_ndim[i] = out[i]->ndim;
        memcpy(r->out_shape[i], out[i]->shape, sizeof out[i]->shape);
        r->out_numel[i] = out[i]->numel;
        r->out[i] = malloc(4 * (size_t)(out[i]->numel ? out[i]->numel : 1));
        cr_assert(r->out[i], "%s: out of host memory", p->name);
        cr_assert_eq(lt_tensor_to_host(out[i], r->out[i]), LT_OK, "%s: %s output %d to host: %s", p->name, dn, i,
                     lt_last_error());
    }
    if (!p->forward_only) {
        int from = -1;
        float *g_from = NULL;
        for (int i = 0; i < n; i++) {
            if ((p->no_seed >> i) & 1 || out[i]->dtype != LT_F32 || !out[i]->requires_grad) continue;
            r->seeded[i] = 1;
            float *g = lt_parity_upstream(p, i, out[i]->numel);
            if (from < 0) { from = i; g_from = g; continue; }
            // Every other seeded output holds its upstream gradient before the sweep.
            size_t bytes = sizeof(float) * (size_t)out[i]->numel;
            cr_assert_null(out[i]->grad, "%s: output %d already has a gradient", p->name, i);
            out[i]->grad = lt_ctx_alloc_on(c, out[i]->device, bytes);
            cr_assert(out[i]->grad, "%s: %s: %s", p->name, dn, lt_last_error());
            cr_assert_eq(lt_device_copy(out[i]->device, out[i]->grad, LT_CPU, g, bytes), LT_OK, "%s: %s: %s",
                         p->name, dn, lt_last_error());
            free(g);
        }
        if (from >= 0) {
            lt_status s = lt_backward_from(c, out[from], g_from);
            free(g_from);
            cr_assert_eq(s, LT_OK, "%s: %s backward: %s", p->name, dn, lt_last_error());
            cr_assert_eq(lt_ctx_sync(c), LT_OK, "%s: %s backward: %s", p->name, dn, lt_last_error());
            for (int i = 0; i < p->n_in; i++) {
                if (!p->in[i].grad || !in[i]->grad) continue;
                size_t bytes = sizeof(float) * (size_t)in[i]->numel;
                r->grad[i] = malloc(bytes ? bytes : 4);
                cr_assert(r->grad[i], "%s: out of host memory", p->name);
                cr_assert_eq(lt_device_copy(LT_CPU, r->grad[i], in[i]->device, in[i]->grad, bytes), LT_OK,
                             "%s: %s grad %d to host: %s", p->name, dn, i, lt_last_error());
            }
        }
    }
    lt_ctx_free(c);
    return 1;
}

// Runs the case on both devices and compares. Returns LT_PARITY_OK,
// LT_PARITY_FAILED (Criterion failure recorded, the test goes on), or
// LT_PARITY_UNSUPPORTED (only with allow_unsupported; logged).
static inline int lt_parity_run(const lt_parity *p, lt_parity_fn fn, const void *ud) {
    lt_parity_res ref, got;
    if (!lt_parity_exec(p, LT_CPU, fn, ud, &ref)) {
        cr_expect_fail("%s: the CPU build failed: %s", p->name, ref.msg);
        return LT_PARITY_FAILED;
    }
    if (!lt_parity_exec(p, LT_PARITY_DEVICE, fn, ud, &got)) {
        lt_parity_res_free(&ref);
        if (p->allow_unsupported && got.status == LT_ERR_UNSUPPORTED) {
            cr_log_warn("%s: not supported on cuda: %s", p->name, got.msg);
            return LT_PARITY_UNSUPPORTED;
        }
        cr_expect_fail("%s: the CUDA build failed (%s): %s", p->name, lt_status_name(got.status), got.msg);
        return LT_PARITY_FAILED;
    }
    int ok = 1;
    if (got.n_out != ref.n_out) {
        cr_expect_fail("%s: cuda gave %d outputs, cpu %d", p->name, got.n_out, ref.n_out);
        ok = 0;
    }
    for (int i = 0; ok && i < ref.n_out; i++) {
        char what[32];
        snprintf(what, sizeof what, "output %d", i);
        int same = got.out_dt[i] == ref.out_dt[i] && got.out_ndim[i] == ref.out_ndim[i] &&
                   !memcmp(got.out_shape[i], ref.out_shape[i], sizeof(int) * (size_t)ref.out_ndim[i]);
        if (!same) {
            char a[64], b[64];
            cr_expect_fail("%s: %s: cuda %s %s, cpu %s %s", p->name, what, lt_dtype_name(got.out_dt[i]),
                           lt_shape_str_n(got.out_ndim[i], got.out_shape[i], a), lt_dtype_name(ref.out_dt[i]),
                           lt_shape_str_n(ref.out_ndim[i], ref.out_shape[i], b));
            ok = 0;
            continue;
        }
        ok &= lt_parity_compare(p, what, ref.out_dt[i], ref.out_ndim[i], ref.out_shape[i], ref.out[i], got.out[i],
                                ref.out_numel[i]);
    }
    for (int i = 0; i < p->n_in && got.n_out == ref.n_out; i++) {
        if (!p->in[i].grad) continue;
        char what[32];
        snprintf(what, sizeof what, "grad of in %d", i);
        if (!ref.grad[i] != !got.grad[i]) {
            cr_expect_fail("%s: %s: %s has a gradient, %s has none", p->name, what, ref.grad[i] ? "cpu" : "cuda",
                           ref.grad[i] ? "cuda" : "cpu");
            ok = 0;
            continue;
        }
        if (!ref.grad[i]) continue;
        ok &= lt_parity_compare(p, what, LT_F32, p->in[i].ndim, p->in[i].shape, ref.grad[i], got.grad[i],
                                p->in[i].numel);
    }
    lt_parity_res_free(&ref);
    lt_parity_res_free(&got);
    return ok ? LT_PARITY_OK : LT_PARITY_FAILED;
}

// Runs and frees the case.
static inline int lt_parity_check(lt_parity *p, lt_parity_fn fn, const void *ud) {
    int r = lt_parity_run(p, fn, ud);
    lt_parity_free(p);
    return r;
}

// ---------------------------------------------------------------- skipping

// Whether CUDA is usable, asked in a child process: the parent must not
// initialize CUDA, because Criterion forks it for every test and a CUDA
// context does not survive fork. `why` gets the reason when it is not.
static inline int lt_parity_gpu_probe(char *why, size_t n) {
    int fd[2];
    why[0] = 0;
    if (LT_PARITY_ON_CPU) return 1;
    if (pipe(fd) != 0) { snprintf(why, n, "pipe() failed while probing for a GPU"); return 0; }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]); close(fd[1]);
        snprintf(why, n, "fork() failed while probing for a GPU");
        return 0;
    }
    if (pid == 0) {
        close(fd[0]);
        lt_status s = lt_device_check(LT_CUDA);
        if (s != LT_OK) {
            const char *m = lt_last_error();
            ssize_t left = (ssize_t)strlen(m);
            while (left > 0) {
                ssize_t w = write(fd[1], m, (size_t)left);
                if (w <= 0) break;
                m += w; left -= w;
            }
        }
        close(fd[1]);
        _exit(s == LT_OK ? 0 : 1);
    }
    close(fd[1]);
    size_t k = 0;
    for (;;) {
        ssize_t r = read(fd[0], why + k, n - 1 - k);
        if (r <= 0) break;
        k += (size_t)r;
        if (k >= n - 1) break;
    }
    why[k] = 0;
    close(fd[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {}
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 1;
    if (!why[0]) snprintf(why, n, "the GPU probe process ended abnormally (wait status %d)", st);
    return 0;
}

// main() of a GPU-only test binary: no usable GPU (or no CUDA backend) prints
// one line "SKIP: <reason>" and exits 77; otherwise Criterion as usual.
#define LT_CUDA_TEST_MAIN()                                                              \
    int main(int argc, char *argv[]) {                                                  \
        char why[512];                                                                  \
        if (!lt_parity_gpu_probe(why, sizeof why)) {                                    \
            printf("SKIP: %s\n", why);                                                  \
            return 77;                                                                  \
        }                                                                               \
        struct criterion_test_set *tests = criterion_initialize();                      \
        int rc = 0;                                                                     \
        if (criterion_handle_args(argc, argv, true)) rc = !criterion_run_all_tests(tests); \
        criterion_finalize(tests);                                                      \
        return rc;                                                                      \
    }

#endif
