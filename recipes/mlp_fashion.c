// mlp_fashion: an MLP classifier on Fashion-MNIST (Debian's dataset-fashion-mnist,
// imported once to HDF5). 55,000 training images, the last 5,000 of the training
// file held out for validation, the 10,000 test images reported at the end.
//
//   ./train recipes/mlp_fashion.c [--steps=2500 --batch=128 --hidden=256 ...]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libtrain/lt.h"
#include "data/fashion_mnist.h"

typedef struct {
    int batch, hidden, layers, eval_every, val;
    float dropout, wd, clip, momentum, min_lr;
    int warmup, stop_at;
    const char *schedule, *optimizer, *data, *activation;
} opts;

// Data order: epoch e visits the training rows in a permutation drawn from the
// Philox stream (seed, counter e << 40), so the order is a pure function of
// (seed, epoch) and a resumed run sees the same batches.
static void epoch_perm(int32_t *perm, int n, uint64_t seed, int64_t epoch) {
    lt_rng r = {seed ^ 0xda7a5eedull, (uint64_t)epoch << 40};
    for (int i = 0; i < n; i++) perm[i] = i;
    lt_rng_shuffle(&r, perm, n);
}

// Accuracy and mean loss of rows [lo, hi) of (x, y), in no-grad eval mode.
static lt_status evaluate(lt_ctx *c, const lt_mlp *m, const lt_mnist *d, int lo, int hi, double *acc, double *loss) {
    const int chunk = 1000;
    int64_t correct = 0;
    double lsum = 0;
    c->training = 0;
    lt_no_grad_begin(c);
    lt_status s = LT_OK;
    for (int i = lo; i < hi && s == LT_OK; i += chunk) {
        int b = hi - i < chunk ? hi - i : chunk;
        lt_tensor *x = lt_tensor_from(c, LT_F32, LT_SHAPE(b, 784), lt_f32(d->x) + (size_t)i * 784);
        lt_tensor *y = lt_tensor_from(c, LT_I32, LT_SHAPE(b), lt_i32(d->y) + i);
        lt_tensor *logits = lt_mlp_forward(c, m, x);
        lt_tensor *l = lt_cross_entropy(c, logits, y, -100, 0.f);
        if (!l) { s = lt_last_status(); break; }
        float *lg = malloc(sizeof(float) * (size_t)b * 10);
        s = lt_tensor_to_host(logits, lg);
        for (int r = 0; r < b && s == LT_OK; r++) {
            int best = 0;
            for (int k = 1; k < 10; k++) if (lg[r * 10 + k] > lg[r * 10 + best]) best = k;
            correct += best == lt_i32(d->y)[i + r];
        }
        free(lg);
        lsum += (double)lt_tensor_item(l) * b;
        lt_ctx_reset(c);
    }
    lt_no_grad_end(c);
    c->training = 1;
    *acc = (double)correct / (hi - lo);
    *loss = lsum / (hi - lo);
    return s;
}

static int fail(const char *what) {
    fprintf(stderr, "mlp_fashion: %s%s%s\n", what ? what : "", what ? ": " : "", lt_last_error());
    return 1;
}

int main(int argc, char **argv) {
    lt_common_flags cf = LT_COMMON_FLAGS_INIT;
    cf.steps = 2500;
    cf.lr = 1e-3f;
    cf.log_every = 100;
    cf.ckpt_every = 500;
    opts o;
    lt_flags *f = lt_flags_new("mlp_fashion", "MLP classifier on Fashion-MNIST");
    lt_flags_common(f, &cf);
    lt_flag_int(f, "batch", &o.batch, 128, "images per step");
    lt_flag_int(f, "hidden", &o.hidden, 256, "hidden width");
    lt_flag_int(f, "layers", &o.layers, 2, "hidden layers");
    lt_flag_choice(f, "activation", &o.activation, "relu", "relu|gelu|silu|tanh", "hidden activation");
    lt_flag_float(f, "dropout", &o.dropout, 0.1f, "dropout after each hidden activation");
    lt_flag_choice(f, "optimizer", &o.optimizer, "adamw", "adamw|sgd", "optimizer");
    lt_flag_float(f, "wd", &o.wd, 1e-4f, "weight decay (decoupled for AdamW, L2 for SGD)");
    lt_flag_float(f, "momentum", &o.momentum, 0.9f, "SGD momentum");
    lt_flag_choice(f, "schedule", &o.schedule, "cosine", "cosine|constant", "learning-rate schedule");
    lt_flag_int(f, "warmup", &o.warmup, 100, "linear warmup steps");
    lt_flag_float(f, "min-lr", &o.min_lr, 1e-5f, "final learning rate of the cosine schedule");
    lt_flag_float(f, "clip", &o.clip, 1.0f, "global gradient-norm clip (0: off)");
    lt_flag_int(f, "eval-every", &o.eval_every, 500, "steps between validation passes");
    lt_flag_int(f, "stop-at", &o.stop_at, 0, "stop at this step with a checkpoint, resumable with --resume "
                                            "(time-boxed jobs; 0: run to --steps)");
    lt_flag_int(f, "val", &o.val, 5000, "training images held out for validation");
    lt_flag_str(f, "data", &o.data, "", "Fashion-MNIST HDF5 file (default: imported from the Debian package into "
                                        "$LT_DATA_DIR or ~/.cache/libtrain)");
    lt_status s = lt_flags_parse(f, argc, argv);
    if (s == LT_HELP) return 0;
    if (s != LT_OK) { fprintf(stderr, "mlp_fashion: %s\n", lt_last_error()); return 2; }
    if (o.batch < 1 || o.hidden < 1 || o.layers < 0 || o.layers > 8 || o.eval_every < 1 || o.val < 1) {
        fprintf(stderr, "mlp_fashion: --batch, --hidden, --eval-every, --val must be >= 1 and --layers in 0..8\n");
        return 2;
    }

    // ---- data ----
    char path[1024];
    if (o.data[0]) snprintf(path, sizeof path, "%s", o.data);
    else {
        char cache[900];
        if (lt_cache_dir(cache, sizeof cache) != LT_OK || lt_fashion_mnist_ensure(cache, path, sizeof path) != LT_OK) return fail("data");
    }
    lt_mnist train, test;
    if (lt_mnist_load(path, "train", &train) != LT_OK || lt_mnist_load(path, "test", &test) != LT_OK) return fail("data");
    int n_fit = train.n - o.val;
    if (n_fit < o.batch) { fprintf(stderr, "mlp_fashion: --val=%d leaves %d training images, fewer than --batch=%d\n", o.val, n_fit, o.batch); return 2; }

    // ---- model, optimizer, schedule ----
    lt_params ps;
    lt_params_init(&ps, cf.dev);
    lt_rng init_rng;
    lt_rng_init(&init_rng, cf.seed);
    lt_mlp mlp;
    int dims[10];
    dims[0] = 784;
    for (int i = 1; i <= o.layers; i++) dims[i] = o.hidden;
    dims[o.layers + 1] = 10;
    lt_activation act;
    if (lt_activation_parse(o.activation, &act) != LT_OK || lt_mlp_init(&mlp, &ps, &init_rng, "net", o.layers + 1, dims, act, o.dropout) != LT_OK)
        return fail("model");
    lt_optim *opt;
    if (!strcmp(o.optimizer, "sgd")) {
        lt_sgd_opts so = {cf.lr, o.momentum, 0.f, o.wd, 0};
        opt = lt_optim_sgd(&ps, so);
    } else {
        lt_adamw_opts ao = lt_adamw_defaults(cf.lr);
        ao.weight_decay = o.wd;
        opt = lt_optim_adamw(&ps, ao);
    }
    if (!opt) return fail("optimizer");
    lt_schedule sched = {LT_SCHED_COSINE, cf.lr, o.min_lr, o.warmup, cf.steps};
    if (lt_schedule_parse(o.schedule, &sched.kind) != LT_OK) return fail(NULL);

    // ---- run state ----
    lt_ctx *c = lt_ctx_new(cf.dev, cf.seed + 1);
    if (!c) return fail("device");
    lt_train_state st = {0};
    st.ctx_rng = c->rng;
    if (cf.resume) {
        if (lt_checkpoint_load(cf.out, &ps, opt, &st) != LT_OK) return fail("resume");
        c->rng = st.ctx_rng;
        printf("resumed %s at step %lld\n", cf.out, (long long)st.step);
    }
    lt_run run;
    if (lt_run_open(&run, cf.out, f, cf.steps, cf.resume ? st.step : -1) != LT_OK) return fail("run folder");
    printf("mlp_fashion: %lld parameters, %d train / %d val / %d test images, %s\n",
           (long long)lt_params_numel(&ps, 1), n_fit, o.val, test.n, path);

    int32_t *perm = malloc(sizeof(int32_t) * (size_t)n_fit);
    float *xb = malloc(sizeof(float) * (size_t)o.batch * 784);
    int32_t *yb = malloc(sizeof(int32_t) * (size_t)o.batch);
    epoch_perm(perm, n_fit, cf.seed, st.epoch);
    double loss_sum = 0;
    int loss_n = 0, rc = 0;

    int64_t last = o.stop_at > 0 && o.stop_at < cf.steps ? o.stop_at : cf.steps;
    for (int64_t step = st.step; step < last; step++) {
        if (st.cursor + o.batch > n_fit) { st.epoch++; st.cursor = 0; epoch_perm(perm, n_fit, cf.seed, st.epoch); }
        for (int i = 0; i < o.batch; i++) {
            int row = perm[st.cursor + i];
            memcpy(xb + (size_t)i * 784, lt_f32(train.x) + (size_t)row * 784, sizeof(float) * 784);
            yb[i] = lt_i32(train.y)[row];
        }
        st.cursor += o.batch;
        lt_tensor *x = lt_tensor_from(c, LT_F32, LT_SHAPE(o.batch, 784), xb);
        lt_tensor *y = lt_tensor_from(c, LT_I32, LT_SHAPE(o.batch), yb);
        lt_tensor *loss = lt_cross_entropy(c, lt_mlp_forward(c, &mlp, x), y, -100, 0.f);
        if (lt_backward(c, loss) != LT_OK) { rc = fail("backward"); break; }
        double l = lt_tensor_item(loss), gn = lt_clip_grad_norm(&ps, o.clip);
        if (lt_run_check_finite(&run, step + 1, l, gn) != LT_OK) { rc = fail(NULL); break; }
        opt->lr = lt_schedule_lr(&sched, step);
        lt_optim_step(opt);
        lt_params_zero_grad(&ps);
        lt_ctx_reset(c);
        st.step = step + 1;
        st.ctx_rng = c->rng;
        loss_sum += l;
        loss_n++;
        lt_run_items(&run, o.batch);
        if (st.step % cf.log_every == 0 || st.step == cf.steps) {
            lt_run_log_train(&run, st.step, loss_sum / loss_n, opt->lr, gn, 0, NULL);
            loss_sum = 0; loss_n = 0;
        } else {
            lt_run_progress(&run, st.step);
        }
        if (st.step % o.eval_every == 0 || st.step == cf.steps) {
            double acc, vl;
            if (evaluate(c, &mlp, &train, n_fit, train.n, &acc, &vl) != LT_OK) { rc = fail("validation"); break; }
            lt_metric m[2] = {{"loss", vl}, {"acc", acc}};
            lt_run_log_eval(&run, st.step, "val", 2, m);
        }
        if ((cf.ckpt_every > 0 && st.step % cf.ckpt_every == 0) || st.step == last)
            if (lt_checkpoint_save(cf.out, &ps, opt, &st) != LT_OK) { rc = fail("checkpoint"); break; }
    }
    if (rc == 0 && st.step < cf.steps) {
        printf("stopped at step %lld of %d; continue with --resume --out=%s\n", (long long)st.step, cf.steps, cf.out);
    } else if (rc == 0) {
        double acc, tl;
        if (evaluate(c, &mlp, &test, 0, test.n, &acc, &tl) != LT_OK) rc = fail("test");
        else {
            lt_metric m[2] = {{"loss", tl}, {"acc", acc}};
            lt_run_log_eval(&run, st.step, "test", 2, m);
            printf("test accuracy: %.2f%% (%d images), run folder: %s\n", 100 * acc, test.n, cf.out);
        }
    }
    lt_run_close(&run);
    free(perm); free(xb); free(yb);
    lt_ctx_free(c);
    lt_optim_free(opt);
    lt_params_free(&ps);
    lt_mnist_free(&train);
    lt_mnist_free(&test);
    lt_flags_free(f);
    return rc;
}
