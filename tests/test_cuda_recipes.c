// Recipe parity: recipes/mlp_fashion.c and recipes/aem_mil.c (gated and
// multi-head attention pooling) run a few steps with --device=cpu and
// --device=cuda on small generated data, and the losses, cross-entropies and
// gradient norms they log to metrics.jsonl agree within 1e-3 relative, record
// by record (train steps, validation and test evaluations).
//
// Recipes run through the `train` driver (LT_SOURCE_DIR, LT_BUILD_DIR), or,
// when LT_RECIPE_BIN_DIR is set (tests/gpu.sh's bundle), as prebuilt binaries
// <dir>/mlp_fashion and <dir>/aem_mil. Skipped as a whole where no GPU is usable.
#include "cuda_parity.h"

#include <sys/wait.h>

#include "data/h5.h"
#include "data/mil.h"

#define REL_TOL 1e-3

static char out_buf[1 << 17];

// Runs recipe `name` (without .c) with `args`; output in out_buf; returns the exit code.
static int run_recipe(const char *name, const char *args) {
    const char *bins = getenv("LT_RECIPE_BIN_DIR");
    if (!bins || !bins[0]) {
        char file[64];
        snprintf(file, sizeof file, "%s.c", name);
        return lt_test_run_recipe(file, args, out_buf, sizeof out_buf);
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "NO_PROGRESS=1 %s/%s %s 2>&1", bins, name, args);
    FILE *p = popen(cmd, "r");
    cr_assert(p, "popen %s", cmd);
    size_t k = fread(out_buf, 1, sizeof out_buf - 1, p);
    out_buf[k] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void make_tmpdir(char *d, size_t n) {
    snprintf(d, n, "/tmp/lt_cuda_recipes_XXXXXX");
    cr_assert(mkdtemp(d), "mkdtemp");
}

// ---------------------------------------------------------------- metrics.jsonl

enum { N_KEYS = 3, MAX_RECORDS = 512 };
static const char *const KEYS[N_KEYS] = {"loss", "ce", "grad_norm"};

typedef struct {
    long long step;
    char split[16];
    int has[N_KEYS];
    double v[N_KEYS];
} record;

// Records of metrics.jsonl that carry at least one of KEYS; returns how many.
static int read_records(const char *run, record *r, int cap) {
    char p[1024], line[4096];
    snprintf(p, sizeof p, "%s/metrics.jsonl", run);
    FILE *f = fopen(p, "r");
    cr_assert(f, "no %s", p);
    int n = 0;
    while (fgets(line, sizeof line, f) && n < cap) {
        record x = {0};
        const char *sp = strstr(line, "\"split\":\"");
        if (sscanf(line, "{\"step\":%lld", &x.step) != 1 || !sp) continue;
        sp += 9;
        size_t k = 0;
        while (sp[k] && sp[k] != '"' && k + 1 < sizeof x.split) { x.split[k] = sp[k]; k++; }
        int any = 0;
        for (int i = 0; i < N_KEYS; i++) {
            char key[32];
            snprintf(key, sizeof key, "\"%s\":", KEYS[i]);
            const char *q = strstr(line, key);
            if (!q) continue;
            q += strlen(key);
            char *end;
            double v = strtod(q, &end);
            x.has[i] = 1;
            x.v[i] = end == q ? NAN : v;   // null (non-finite) reads as NaN
            any = 1;
        }
        if (any) r[n++] = x;
    }
    fclose(f);
    return n;
}

// The cpu and cuda runs log the same records with values within REL_TOL.
static int compare_runs(const char *what, const char *run_cpu, const char *run_cuda, int min_records) {
    static record a[MAX_RECORDS], b[MAX_RECORDS];
    int na = read_records(run_cpu, a, MAX_RECORDS), nb = read_records(run_cuda, b, MAX_RECORDS);
    cr_assert_eq(na, nb, "%s: %d metric records on cpu, %d on cuda", what, na, nb);
    cr_assert(na >= min_records, "%s: only %d metric records (want >= %d)", what, na, min_records);
    double worst = 0;
    int ok = 1;
    for (int i = 0; i < na; i++) {
        cr_assert(a[i].step == b[i].step && !strcmp(a[i].split, b[i].split), "%s: record %d is step %lld %s on cpu, "
                  "step %lld %s on cuda", what, i, a[i].step, a[i].split, b[i].step, b[i].split);
        for (int k = 0; k < N_KEYS; k++) {
            cr_assert_eq(a[i].has[k], b[i].has[k], "%s: step %lld %s: \"%s\" logged on one device only", what,
                         a[i].step, a[i].split, KEYS[k]);
            if (!a[i].has[k]) continue;
            double x = a[i].v[k], y = b[i].v[k];
            cr_assert(isfinite(x) && isfinite(y), "%s: step %lld %s %s: cpu %g, cuda %g", what, a[i].step, a[i].split,
                      KEYS[k], x, y);
            double e = fabs(y - x) / fmax(fabs(x), 1e-6);
            if (e > worst) worst = e;
            ok &= e <= REL_TOL;
            cr_expect(e <= REL_TOL, "%s: step %lld %s %s: cuda %.9g, cpu %.9g (rel %.3g > %g)", what, a[i].step,
                      a[i].split, KEYS[k], y, x, e, REL_TOL);
        }
    }
    if (getenv("LT_PARITY_VERBOSE"))
        fprintf(stderr, "parity %-40s %d metric records, max rel err %.3g\n", what, na, worst);
    return ok;
}

// Runs `recipe args` on both devices into dir/<tag>_0_cpu and dir/<tag>_1_cuda and
// compares; returns 1 when they agree.
static int run_both(const char *recipe, const char *tag, const char *dir, const char *args, int min_records) {
    char run[2][512];
    const char *devs[2] = {"cpu", LT_PARITY_ON_CPU ? "cpu" : "cuda"};   // cpu twice: the harness self-check
    for (int d = 0; d < 2; d++) {
        char full[2048];
        snprintf(run[d], sizeof run[d], "%s/%s_%d_%s", dir, tag, d, devs[d]);
        snprintf(full, sizeof full, "%s --device=%s --out=%s", args, devs[d], run[d]);
        int rc = run_recipe(recipe, full);
        cr_assert_eq(rc, 0, "%s on %s: exit %d:\n%s", tag, devs[d], rc, out_buf);
    }
    return compare_runs(tag, run[0], run[1], min_records);
}

// Removes a test's folder once it passed (a failing one stays for inspection).
static void remove_dir(const char *dir) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    if (system(cmd) != 0) cr_log_warn("could not remove %s", dir);
}

// ---------------------------------------------------------------- mlp_fashion

// A Fashion-MNIST-shaped file: 28x28 uint8 images whose label decides a
// brighter row band over noise (learnable in a few steps), 600 train, 200 test.
static void make_fashion(const char *path) {
    lt_h5 *f;
    cr_assert_eq(lt_h5_create(path, &f), LT_OK, "%s", lt_last_error());
    lt_rng r;
    lt_rng_init(&r, 11);
    const char *split[2] = {"train", "test"};
    const int count[2] = {600, 200};
    for (int s = 0; s < 2; s++) {
        int n = count[s];
        uint8_t *px = malloc((size_t)n * 784), *lab = malloc((size_t)n);
        for (int i = 0; i < n; i++) {
            lab[i] = (uint8_t)lt_rng_below(&r, 10);
            for (int j = 0; j < 784; j++) {
                int row = j / 28, band = row / 3 == lab[i];
                px[(size_t)i * 784 + j] = (uint8_t)(lt_rng_below(&r, 128) + (band ? 127 : 0));
            }
        }
        char d[64];
        snprintf(d, sizeof d, "%s/images", split[s]);
        cr_assert_eq(lt_h5_write(f, d, LT_H5_U8, px, 3, (int64_t[]){n, 28, 28}, (lt_h5_write_opts){LT_H5_U8, 0}),
                     LT_OK, "%s", lt_last_error());
        snprintf(d, sizeof d, "%s/labels", split[s]);
        cr_assert_eq(lt_h5_write(f, d, LT_H5_U8, lab, 1, (int64_t[]){n}, (lt_h5_write_opts){LT_H5_U8, 0}), LT_OK,
                     "%s", lt_last_error());
        free(px);
        free(lab);
    }
    cr_assert_eq(lt_h5_commit(f), LT_OK, "%s", lt_last_error());
}

Test(recipes, mlp_fashion_cpu_vs_cuda, .timeout = 600) {
    char dir[64], data[128], args[1024];
    make_tmpdir(dir, sizeof dir);
    snprintf(data, sizeof data, "%s/fashion.h5", dir);
    make_fashion(data);
    // dropout on (the mask is the same on both devices), a short warmup so the later steps move the weights
    snprintf(args, sizeof args,
             "--threads=2 --batch=64 --hidden=64 --val=100 --eval-every=3 --log-every=1 --steps=6 --warmup=2 "
             "--lr=3e-3 --dropout=0.1 --ckpt-every=0 --data=%s", data);
    if (run_both("mlp_fashion", "mlp_fashion", dir, args, 6)) remove_dir(dir);
}

// ---------------------------------------------------------------- aem_mil

// 16 bags, splits 8 / 4 / 4 (lt_test_make_bags).
static void make_bags(const char *path) { lt_test_make_bags(path, 16, 31, 8, 4); }

#define MIL_COMMON "--threads=2 --lr=3e-3 --log-every=1 --prefetch=2 --epochs=1 --lambda=0.1 "

Test(recipes, aem_mil_gated_cpu_vs_cuda, .timeout = 600) {
    char dir[64], data[128], args[1024];
    make_tmpdir(dir, sizeof dir);
    snprintf(data, sizeof data, "%s/bags.h5", dir);
    make_bags(data);
    snprintf(args, sizeof args, MIL_COMMON "--arch=gated --d-inner=16 --dropout=0.25 --data=%s", data);
    if (run_both("aem_mil", "aem_mil_gated", dir, args, 8)) remove_dir(dir);
}

// Multi-head pooling goes through the fused attention op (head size 64) with its entropy.
Test(recipes, aem_mil_mha_cpu_vs_cuda, .timeout = 600) {
    char dir[64], data[128], args[1024];
    make_tmpdir(dir, sizeof dir);
    snprintf(data, sizeof data, "%s/bags.h5", dir);
    make_bags(data);
    snprintf(args, sizeof args, MIL_COMMON "--arch=mha --heads=2 --d-inner=128 --data=%s", data);
    if (run_both("aem_mil", "aem_mil_mha", dir, args, 8)) remove_dir(dir);
}

LT_CUDA_TEST_MAIN()
