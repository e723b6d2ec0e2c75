// recipes/mlp_fashion.c through the `train` driver on the real Fashion-MNIST
// (Debian's dataset-fashion-mnist, imported into $LT_DATA_DIR once):
// smoke run, bit-exact resume, NaN stop with a loadable last checkpoint,
// refusing to overwrite a run, corrupt checkpoint on resume, bad flags.
#include "lt_test.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define SMALL "--threads=2 --batch=64 --hidden=64 --val=1000 --eval-every=10 --log-every=1 "

static char out_buf[1 << 16];

// Runs the recipe with `args`; returns its exit code, output (stdout+stderr) in out_buf.
static int run_recipe(const char *args) { return lt_test_run_recipe("mlp_fashion.c", args, out_buf, sizeof out_buf); }

static char *tmpdir(void) {
    static char d[64];
    strcpy(d, "/tmp/lt_recipe_XXXXXX");
    cr_assert(mkdtemp(d));
    return d;
}

// Train losses by step from metrics.jsonl (split "train"); returns count.
static int read_losses(const char *dir, double *loss, int cap) {
    char p[1024];
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    FILE *f = fopen(p, "r");
    cr_assert(f, "no %s", p);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        long long step;
        double l;
        if (sscanf(line, "{\"step\":%lld,\"split\":\"train\",\"loss\":%lf", &step, &l) == 2 && step >= 1 && step <= cap) {
            loss[step - 1] = l;
            n++;
        }
    }
    fclose(f);
    return n;
}

Test(recipe_mlp, smoke_loss_falls_and_run_folder_complete, .timeout = 300) {
    char *d = tmpdir(), args[512];
    snprintf(args, sizeof args, SMALL "--steps=60 --lr=3e-3 --out=%s/run", d);
    int rc = run_recipe(args);
    cr_assert_eq(rc, 0, "exit %d:\n%s", rc, out_buf);
    cr_assert(strstr(out_buf, "test accuracy:"), "%s", out_buf);
    char run[256];
    snprintf(run, sizeof run, "%s/run", d);
    double loss[60];
    cr_assert_eq(read_losses(run, loss, 60), 60);
    double first = (loss[0] + loss[1] + loss[2]) / 3, last = (loss[57] + loss[58] + loss[59]) / 3;
    cr_assert(last < 0.6 * first, "loss did not fall: first %g last %g", first, last);
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", run);
    cr_assert_eq(access(p, R_OK), 0);
    snprintf(p, sizeof p, "%s/checkpoints/model_00000060.safetensors", run);
    cr_assert_eq(access(p, R_OK), 0, "missing %s", p);
    // The weights load into the same model through the library.
    lt_params ps;
    lt_params_init(&ps, LT_CPU);
    lt_rng r;
    lt_rng_init(&r, 0);
    lt_mlp m;
    int dims[4] = {784, 64, 64, 10};
    cr_assert_eq(lt_mlp_init(&m, &ps, &r, "net", 3, dims, LT_ACT_RELU, 0.f), LT_OK);
    cr_assert_eq(lt_weights_load(p, &ps), LT_OK, "%s", lt_last_error());
    lt_params_free(&ps);
}

Test(recipe_mlp, resume_is_bit_exact, .timeout = 300) {
    char *d = tmpdir(), args[512], a[256], b[256];
    snprintf(a, sizeof a, "%s/full", d);
    snprintf(b, sizeof b, "%s/split", d);
    snprintf(args, sizeof args, SMALL "--steps=40 --dropout=0.2 --ckpt-every=7 --out=%s", a);
    cr_assert_eq(run_recipe(args), 0, "%s", out_buf);
    snprintf(args, sizeof args, SMALL "--steps=40 --dropout=0.2 --ckpt-every=7 --stop-at=17 --out=%s", b);
    cr_assert_eq(run_recipe(args), 0, "%s", out_buf);
    cr_assert(strstr(out_buf, "stopped at step 17"), "%s", out_buf);
    snprintf(args, sizeof args, SMALL "--steps=40 --dropout=0.2 --ckpt-every=7 --resume --out=%s", b);
    cr_assert_eq(run_recipe(args), 0, "%s", out_buf);
    cr_assert(strstr(out_buf, "resumed"), "%s", out_buf);
    double la[40], lb[40];
    cr_assert_eq(read_losses(a, la, 40), 40);
    cr_assert_eq(read_losses(b, lb, 40), 40, "resumed run's metrics.jsonl does not hold steps 1..40 once each");
    for (int i = 0; i < 40; i++)
        cr_assert(la[i] == lb[i], "step %d: uninterrupted loss %.9g, resumed loss %.9g", i + 1, la[i], lb[i]);
    // Final weights are identical too.
    char pa[1024], pb[1024];
    snprintf(pa, sizeof pa, "cmp -s %s/checkpoints/model_00000040.safetensors %s/checkpoints/model_00000040.safetensors", a, b);
    cr_assert_eq(system(pa), 0, "final weights differ");
    snprintf(pb, sizeof pb, "%s/checkpoints/model_00000007.safetensors", b);
    cr_assert_neq(access(pb, F_OK), 0, "old checkpoints are not pruned");
}

Test(recipe_mlp, nan_loss_stops_and_last_checkpoint_loads, .timeout = 300) {
    // lr 1e30: the first AdamW step moves every weight by ~1e30, the next
    // forward overflows to inf and the loss is NaN.
    char *d = tmpdir(), args[512];
    snprintf(args, sizeof args, SMALL "--steps=20 --lr=1e30 --warmup=0 --clip=0 --ckpt-every=1 --out=%s/run", d);
    int rc = run_recipe(args);
    cr_assert_neq(rc, 0, "a NaN run exited 0:\n%s", out_buf);
    cr_assert(strstr(out_buf, "step 2:") && (strstr(out_buf, "NaN") || strstr(out_buf, "infinite")), "%s", out_buf);
    char run[256];
    snprintf(run, sizeof run, "%s/run", d);
    cr_assert_eq(lt_checkpoint_latest_step(run), 1);
    lt_params ps;
    lt_params_init(&ps, LT_CPU);
    lt_rng r;
    lt_rng_init(&r, 0);
    lt_mlp m;
    int dims[4] = {784, 64, 64, 10};
    lt_mlp_init(&m, &ps, &r, "net", 3, dims, LT_ACT_RELU, 0.f);
    lt_optim *o = lt_optim_adamw(&ps, lt_adamw_defaults(1e-3f));
    lt_train_state st;
    cr_assert_eq(lt_checkpoint_load(run, &ps, o, &st), LT_OK, "%s", lt_last_error());
    cr_assert_eq(st.step, 1);
    for (int i = 0; i < ps.n; i++)
        for (int64_t j = 0; j < ps.t[i]->numel; j++) cr_assert(isfinite(lt_f32(ps.t[i])[j]));
    lt_optim_free(o);
    lt_params_free(&ps);
}

Test(recipe_mlp, refuses_to_overwrite_and_rejects_corrupt_checkpoint, .timeout = 300) {
    char *d = tmpdir(), args[512], p[1024];
    snprintf(args, sizeof args, SMALL "--steps=3 --out=%s/run", d);
    cr_assert_eq(run_recipe(args), 0, "%s", out_buf);
    cr_assert_neq(run_recipe(args), 0, "a second fresh run overwrote the first");
    cr_assert(strstr(out_buf, "--resume"), "%s", out_buf);
    // Truncate the state file: resume must fail naming the file, not crash.
    snprintf(p, sizeof p, "%s/run/checkpoints/state_00000003.safetensors", d);
    cr_assert_eq(truncate(p, 100), 0);
    snprintf(args, sizeof args, SMALL "--steps=6 --resume --out=%s/run", d);
    int rc = run_recipe(args);
    cr_assert(rc == 1, "exit %d:\n%s", rc, out_buf);
    cr_assert(strstr(out_buf, "state_00000003.safetensors"), "%s", out_buf);
}

Test(recipe_mlp, bad_flags_are_named, .timeout = 120) {
    cr_assert_eq(run_recipe("--stpes=10"), 2, "%s", out_buf);
    cr_assert(strstr(out_buf, "stpes") && strstr(out_buf, "--steps"), "%s", out_buf);
    cr_assert_eq(run_recipe("--batch=abc"), 2, "%s", out_buf);
    cr_assert(strstr(out_buf, "batch"), "%s", out_buf);
    cr_assert_eq(run_recipe("--data=/nonexistent/fm.h5 --steps=1"), 1, "%s", out_buf);
    cr_assert(strstr(out_buf, "/nonexistent/fm.h5"), "%s", out_buf);
}
