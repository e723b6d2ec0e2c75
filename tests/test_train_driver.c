// The `train` driver: compiles a recipe against the built library, caches the
// binary, runs it with the flags, and reports compile and flag errors clearly.
#include <glob.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lt_test.h"

typedef struct {
    const char *src, *build;
    char dir[64];
} drv;

static void drv_init(drv *d) {
    d->src = getenv("LT_SOURCE_DIR");
    d->build = getenv("LT_BUILD_DIR");
    if (!d->src || !d->build) cr_skip_test("LT_SOURCE_DIR / LT_BUILD_DIR not set (run through ctest)");
    snprintf(d->dir, sizeof d->dir, "/tmp/lt_driver_XXXXXX");
    cr_assert(mkdtemp(d->dir), "mkdtemp failed");
}

static void write_file(const drv *d, const char *name, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", d->dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

// Runs `train ARGS` in the temp dir (stderr merged into the output); returns the exit code.
static int run_train(const drv *d, const char *args, char *out, size_t cap) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && LT_BUILD_DIR='%s' '%s/train' %s 2>&1", d->dir, d->build, d->src, args);
    FILE *p = popen(cmd, "r");
    cr_assert(p, "popen failed");
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    cr_assert(WIFEXITED(st), "driver did not exit normally: %s", out);
    return WEXITSTATUS(st);
}

// The cached binaries for recipe `name`; returns how many, path of the first in `path`.
static int cached(const drv *d, const char *name, char *path, size_t cap) {
    char pat[512];
    snprintf(pat, sizeof pat, "%s/recipes/%s-*", d->build, name);
    glob_t g;
    int n = 0;
    if (glob(pat, 0, NULL, &g) == 0) {
        n = (int)g.gl_pathc;
        if (n && path) snprintf(path, cap, "%s", g.gl_pathv[0]);
        globfree(&g);
    }
    return n;
}

static void cleanup(const drv *d, const char *name) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s/recipes/%s'-*", d->dir, d->build, name);
    cr_assert_eq(system(cmd), 0);
}

static const char *recipe_v1 =
    "#include <stdio.h>\n"
    "#include <unistd.h>\n"
    "#include \"libtrain/lt.h\"\n"
    "#include \"libtrain/flags.h\"\n"
    "int main(int argc, char **argv) {\n"
    "    float x; int code;\n"
    "    lt_flags *f = lt_flags_new(\"drv\", \"driver test recipe\");\n"
    "    lt_flag_float(f, \"x\", &x, 1.5f, \"input value\");\n"
    "    lt_flag_int(f, \"code\", &code, 0, \"exit code\");\n"
    "    lt_status s = lt_flags_parse(f, argc, argv);\n"
    "    if (s == LT_HELP) return 0;\n"
    "    if (s != LT_OK) { fprintf(stderr, \"%s\\n\", lt_last_error()); return 2; }\n"
    "    lt_ctx *c = lt_ctx_new(LT_CPU, 1);\n"
    "    float v[3] = {x, 2 * x, 3 * x};\n"
    "    lt_tensor *t = lt_tensor_from(c, LT_F32, LT_SHAPE(3), v);\n"
    "    lt_tensor *y = lt_scale(c, t, 2.0f);\n"
    "    char cwd[512];\n"
    "    printf(\"VERSION %s first=%g scaled=%g cwd=%s\\n\", VER, lt_tensor_item(t),\n"
    "           y ? lt_tensor_item(y) : 2 * lt_tensor_item(t), getcwd(cwd, sizeof cwd));\n"
    "    lt_ctx_free(c);\n"
    "    lt_flags_free(f);\n"
    "    return code;\n"
    "}\n";

Test(train_driver, compiles_runs_and_caches) {
    drv d;
    drv_init(&d);
    char out[8192], first[512], again[512], text[4096];
    snprintf(text, sizeof text, "#define VER \"one\"\n%s", recipe_v1);
    write_file(&d, "lt_drv_cache.c", text);
    int rc = run_train(&d, "lt_drv_cache.c --x=4", out, sizeof out);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
    char want[256];
    snprintf(want, sizeof want, "VERSION one first=4 scaled=8 cwd=%s\n", d.dir);
    cr_assert(strstr(out, want), "want '%s' in: %s", want, out);
    cr_assert_eq(cached(&d, "lt_drv_cache", first, sizeof first), 1);
    struct stat s1, s2;
    cr_assert_eq(stat(first, &s1), 0);

    // Exit codes pass through; a second run reuses the binary untouched.
    rc = run_train(&d, "lt_drv_cache.c --code=3 --x -1", out, sizeof out);
    cr_assert_eq(rc, 3, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "first=-1 scaled=-2"), "%s", out);
    cr_assert_eq(cached(&d, "lt_drv_cache", again, sizeof again), 1);
    cr_assert_str_eq(again, first);
    cr_assert_eq(stat(again, &s2), 0);
    cr_assert(s1.st_mtim.tv_sec == s2.st_mtim.tv_sec && s1.st_mtim.tv_nsec == s2.st_mtim.tv_nsec &&
              s1.st_ino == s2.st_ino, "the cached binary was rebuilt");

    // Editing the recipe recompiles and removes the old binary.
    snprintf(text, sizeof text, "#define VER \"two\"\n%s", recipe_v1);
    write_file(&d, "lt_drv_cache.c", text);
    rc = run_train(&d, "lt_drv_cache.c", out, sizeof out);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "VERSION two first=1.5 scaled=3"), "%s", out);
    cr_assert_eq(cached(&d, "lt_drv_cache", again, sizeof again), 1, "old binary not removed");
    cr_assert_str_neq(again, first);

    // The recipe's --help goes through, naming the recipe as typed.
    rc = run_train(&d, "lt_drv_cache.c --help", out, sizeof out);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "usage: train lt_drv_cache.c"), "%s", out);
    cr_assert(strstr(out, "--x=FLOAT") && strstr(out, "(default 1.5)"), "%s", out);

    // An unknown or malformed flag: non-zero exit, message names the flag.
    rc = run_train(&d, "lt_drv_cache.c --xx=2", out, sizeof out);
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert(strstr(out, "unknown flag --xx (did you mean --x?)"), "%s", out);
    rc = run_train(&d, "lt_drv_cache.c --code=abc", out, sizeof out);
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert(strstr(out, "--code=abc: expected an integer"), "%s", out);
    cleanup(&d, "lt_drv_cache");
}

Test(train_driver, compile_error_is_clear) {
    drv d;
    drv_init(&d);
    char out[8192];
    write_file(&d, "lt_drv_bad.c", "#include \"libtrain/lt.h\"\nint main(void) {\n    return 3\n}\n");
    int rc = run_train(&d, "lt_drv_bad.c --x=1", out, sizeof out);
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert(strstr(out, "lt_drv_bad.c:3"), "compiler output missing: %s", out);
    cr_assert(strstr(out, "error"), "%s", out);
    cr_assert(strstr(out, "train: recipe lt_drv_bad.c failed to compile"), "%s", out);
    cr_assert_eq(cached(&d, "lt_drv_bad", NULL, 0), 0, "a failed compile left a binary");
    cleanup(&d, "lt_drv_bad");
}

Test(train_driver, usage_and_missing_recipe) {
    drv d;
    drv_init(&d);
    char out[8192];
    int rc = run_train(&d, "no_such_recipe.c --steps=1", out, sizeof out);
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert(strstr(out, "recipe 'no_such_recipe.c' not found"), "%s", out);
    rc = run_train(&d, "--help", out, sizeof out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "usage: train RECIPE.c"), "%s", out);
    rc = run_train(&d, "", out, sizeof out);
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert(strstr(out, "usage: train RECIPE.c"), "%s", out);
    cleanup(&d, "no_such_recipe");
}
