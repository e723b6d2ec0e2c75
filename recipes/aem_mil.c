// aem_mil: attention-based multiple-instance learning (gated ABMIL, or the
// multi-head variant) with AEM, the attention-entropy-maximization term of
// Zhang et al., on whole-slide-image style feature bags.
//
//   ./train recipes/aem_mil.c                        # default data, lambda 0.1
//   ./train recipes/aem_mil.c --lambda=0             # plain ABMIL
//   ./train recipes/aem_mil.c --seeds=5 --compare-lambda=0,0.1
//   ./train recipes/aem_mil.c --data=feats/ --csv=slides.csv   # CLAM/TRIDENT folder
//   ./train recipes/aem_mil.c --data=patch_feats_pretrain_medical_ssl.h5   # AEM file
//
// Loss per bag: CE(logits, y) + lambda * sum_n p_n log p_n (minimizing it raises the
// entropy of the instance attention p). Defaults follow the official code: AdamW, lr
// 1e-4 with per-step cosine decay to 0, weight decay 1e-5, one bag per step, 50
// epochs, model selection on validation AUC.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libtrain/lt.h"
#include "libtrain/metrics.h"
#include "libtrain/report.h"
#include "data/attn_scores.h"
#include "data/mil.h"
#include "data/mil_fashion.h"
#include "layers/abmil.h"

#define MAX_LAMBDAS 8

typedef struct {
    lt_common_flags cf;
    int epochs, d_inner, heads, k_folds, fold, n_seeds, n_compare, prefetch, stop_at;
    float wd, dropout, subsample, val_frac, test_frac, min_lr, clip;
    float compare[MAX_LAMBDAS];
    const char *data, *csv, *layout, *arch, *lambda_s;
    lt_lambda_schedule lambda;
} cfg;

typedef struct {
    lt_cls_metrics val, test;
    int best_epoch;
} result;

static int fail(const char *what) {
    fprintf(stderr, "aem_mil: %s%s%s\n", what ? what : "", what ? ": " : "", lt_last_error());
    return 1;
}

// Epoch e visits the training bags in a permutation drawn from Philox (seed, e),
// so the order is a pure function of (seed, epoch): a resumed run sees the same bags.
static void epoch_order(int32_t *order, const lt_index_list *train, uint64_t seed, int64_t epoch) {
    lt_rng r = {seed ^ 0xb465eedull, (uint64_t)epoch << 40};
    memcpy(order, train->idx, sizeof(int32_t) * (size_t)train->n);
    lt_rng_shuffle(&r, order, train->n);
}

// Class probabilities of bags `set`, in no-grad eval mode; optionally writes the
// per-bag attention to `aw` (heatmaps). Returns the mean CE loss in *loss.
static lt_status evaluate(lt_ctx *c, const lt_abmil *m, lt_mil_dataset *ds, const lt_index_list *set, int C,
                          float *prob, int32_t *y, lt_attn_scores_writer *aw, double *loss) {
    lt_mil_loader *ld;
    LT_TRY(lt_mil_loader_open(ds, set->idx, set->n, 2, 1.f, 0, &ld));
    lt_status s = LT_OK;
    double lsum = 0;
    c->training = 0;
    lt_no_grad_begin(c);
    for (int i = 0; i < set->n && s == LT_OK; i++) {
        lt_mil_item it;
        int has;
        if ((s = lt_mil_loader_next(ld, &it, &has)) != LT_OK) break;
        if (!has) { s = lt_error(LT_ERR_STATE, "evaluate: loader ended early"); break; }
        lt_tensor *x = lt_tensor_from(c, LT_F32, LT_SHAPE((int)it.n, it.dim), it.feat);
        int32_t yi = it.label;
        lt_tensor *yt = lt_tensor_from(c, LT_I32, LT_SHAPE(1), &yi);
        lt_abmil_out out;
        if ((s = lt_abmil_forward(c, m, x, &out)) != LT_OK) break;
        lt_tensor *pr = lt_softmax(c, out.logits);
        lt_tensor *l = lt_cross_entropy(c, out.logits, yt, -100, 0.f);
        if (!pr || !l) { s = lt_last_status(); break; }
        if ((s = lt_tensor_to_host(pr, prob + (size_t)i * C)) != LT_OK) break;
        y[i] = yi;
        lsum += lt_tensor_item(l);
        if (aw) {
            const lt_tensor *a = out.attn;
            float *host = malloc(sizeof(float) * (size_t)a->numel);
            if (!host) { s = lt_error(LT_ERR_OOM, "attention scores"); break; }
            s = lt_tensor_to_host(a, host);
            if (s == LT_OK)
                s = lt_attn_scores_add(aw, lt_mil_bag(ds, it.bag)->id, yi, prob + (size_t)i * C, C, a->shape[0],
                                       it.n, host, it.coords);
            free(host);
        }
        lt_ctx_reset(c);
    }
    lt_no_grad_end(c);
    c->training = 1;
    lt_mil_loader_close(ld);
    *loss = set->n ? lsum / set->n : NAN;
    return s;
}

static lt_status metrics_of(lt_ctx *c, const lt_abmil *m, lt_mil_dataset *ds, const lt_index_list *set, int C,
                            lt_attn_scores_writer *aw, lt_cls_metrics *out, double *loss, int64_t *confusion) {
    float *prob = malloc(sizeof(float) * (size_t)(set->n ? set->n : 1) * C);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)(set->n ? set->n : 1));
    lt_status s = (prob && y) ? LT_OK : lt_error(LT_ERR_OOM, "metrics");
    if (s == LT_OK) s = evaluate(c, m, ds, set, C, prob, y, aw, loss);
    if (s == LT_OK) s = lt_cls_metrics_compute(y, prob, set->n, C, out, confusion);
    free(prob);
    free(y);
    return s;
}

static void log_metrics(lt_run *run, int64_t step, const char *split, const lt_cls_metrics *m, double loss, int epoch) {
    lt_metric v[6] = {{"epoch", epoch}, {"loss", loss}, {"acc", m->acc}, {"bacc", m->bacc}, {"auc", m->auc},
                      {"f1", m->f1}};
    lt_run_log_eval(run, step, split, 6, v);
}

// One training run (one seed, one lambda) into `out`; fills `res`.
static int train_one(const cfg *g, lt_mil_dataset *ds, const char *data_path, uint64_t seed,
                     lt_lambda_schedule lam, const char *out, const lt_flags *f, result *res) {
    int C = lt_mil_n_classes(ds);
    lt_index_list tr = {0}, va = {0}, te = {0};
    if (lt_mil_split(ds, seed, g->val_frac, g->test_frac, g->k_folds, g->fold, &tr, &va, &te) != LT_OK)
        return fail("split");
    if (tr.n < 1 || va.n < 1 || te.n < 1) {
        fprintf(stderr, "aem_mil: split gives %d train / %d val / %d test bags; each needs at least one\n", tr.n,
                va.n, te.n);
        return 2;
    }
    lt_params ps;
    lt_params_init(&ps, g->cf.dev);
    lt_rng init;
    lt_rng_init(&init, seed);
    lt_abmil m;
    lt_abmil_cfg mc = lt_abmil_defaults();
    mc.d_feat = lt_mil_dim(ds);
    mc.d_inner = g->d_inner;
    mc.n_classes = C;
    mc.heads = g->heads;
    mc.dropout = g->dropout;
    if (lt_abmil_arch_parse(g->arch, &mc.arch) != LT_OK || lt_abmil_init(&m, &ps, &init, &mc) != LT_OK)
        return fail("model");
    lt_adamw_opts ao = lt_adamw_defaults(g->cf.lr);
    ao.weight_decay = g->wd;
    lt_optim *opt = lt_optim_adamw(&ps, ao);
    if (!opt) return fail("optimizer");
    int64_t total = (int64_t)g->epochs * tr.n;
    lt_schedule sched = {LT_SCHED_COSINE, g->cf.lr, g->min_lr, 0, total};

    lt_ctx *c = lt_ctx_new(g->cf.dev, seed + 1);
    if (!c) return fail("device");
    lt_train_state st = {0};
    st.ctx_rng = c->rng;
    st.best_metric = -1;
    int best_epoch = 0;
    if (g->cf.resume) {
        if (lt_checkpoint_load(out, &ps, opt, &st) != LT_OK) return fail("resume");
        c->rng = st.ctx_rng;
        best_epoch = (int)st.cursor;   // the cursor slot holds the best epoch: epochs restart whole
        printf("resumed %s at epoch %lld\n", out, (long long)st.epoch);
    }
    lt_run run;
    if (lt_run_open(&run, out, f, total, g->cf.resume ? st.step : -1) != LT_OK) return fail("run folder");
    char best_path[1200];
    snprintf(best_path, sizeof best_path, "%s/checkpoints/best.safetensors", out);
    printf("aem_mil: %s, %d classes, dim %d; %d train / %d val / %d test bags; %lld parameters; lambda %s; seed %llu\n",
           data_path, C, lt_mil_dim(ds), tr.n, va.n, te.n, (long long)lt_params_numel(&ps, 1), g->lambda_s,
           (unsigned long long)seed);

    int32_t *order = malloc(sizeof(int32_t) * (size_t)tr.n);
    int rc = 0;
    double loss_sum = 0, ce_sum = 0;
    int loss_n = 0;
    int64_t last = g->stop_at > 0 && g->stop_at < g->epochs ? g->stop_at : g->epochs;
    for (int64_t epoch = st.epoch; epoch < last && rc == 0; epoch++) {
        epoch_order(order, &tr, seed, epoch);
        lt_mil_loader *ld;
        if (lt_mil_loader_open(ds, order, tr.n, g->prefetch, g->subsample, seed * 1000003u + (uint64_t)epoch, &ld) != LT_OK) {
            rc = fail("loader");
            break;
        }
        float lambda = lt_lambda_at(&lam, epoch);
        for (;;) {
            lt_mil_item it;
            int has;
            if (lt_mil_loader_next(ld, &it, &has) != LT_OK) { rc = fail("data"); break; }
            if (!has) break;
            lt_tensor *x = lt_tensor_from(c, LT_F32, LT_SHAPE((int)it.n, it.dim), it.feat);
            int32_t yi = it.label;
            lt_tensor *yt = lt_tensor_from(c, LT_I32, LT_SHAPE(1), &yi);
            lt_abmil_out o;
            if (lt_abmil_forward(c, &m, x, &o) != LT_OK) { rc = fail("forward"); break; }
            lt_tensor *ce = lt_cross_entropy(c, o.logits, yt, -100, 0.f), *loss = ce;
            if (lambda != 0) loss = lt_add(c, ce, lt_abmil_aem_loss(c, &o, lambda));
            if (lt_backward(c, loss) != LT_OK) { rc = fail("backward"); break; }
            double l = lt_tensor_item(loss), l_ce = lt_tensor_item(ce), gn = lt_clip_grad_norm(&ps, g->clip);
            if (lt_run_check_finite(&run, st.step + 1, l, gn) != LT_OK) { rc = fail(NULL); break; }
            opt->lr = lt_schedule_lr(&sched, st.step);
            lt_optim_step(opt);
            lt_params_zero_grad(&ps);
            lt_ctx_reset(c);
            st.step++;
            loss_sum += l;
            ce_sum += l_ce;
            loss_n++;
            lt_run_items(&run, (double)it.n);
            if (st.step % g->cf.log_every == 0) {
                lt_metric ex[3] = {{"ce", ce_sum / loss_n}, {"epoch", (double)epoch + 1}, {"lambda", lambda}};
                lt_run_log_train(&run, st.step, loss_sum / loss_n, opt->lr, gn, 3, ex);
                loss_sum = ce_sum = 0;
                loss_n = 0;
            } else {
                lt_run_progress(&run, st.step);
            }
        }
        lt_mil_loader_close(ld);
        if (rc) break;
        lt_cls_metrics vm;
        double vl;
        if (metrics_of(c, &m, ds, &va, C, NULL, &vm, &vl, NULL) != LT_OK) { rc = fail("validation"); break; }
        log_metrics(&run, st.step, "val", &vm, vl, (int)epoch + 1);
        // Model selection on validation AUC, ties broken by the lower validation loss
        // (a small validation set often saturates at AUC 1); NaN AUC (one class in
        // val) falls back to accuracy.
        double score = isnan(vm.auc) ? vm.acc : vm.auc;
        if (score > st.best_metric || (score == st.best_metric && vl < st.best_tiebreak)) {
            st.best_metric = score;
            st.best_tiebreak = vl;
            best_epoch = (int)epoch + 1;
            const char *k[2] = {"epoch", "val_auc"};
            char v0[32], v1[32];
            snprintf(v0, sizeof v0, "%d", best_epoch);
            snprintf(v1, sizeof v1, "%.6f", vm.auc);
            const char *v[2] = {v0, v1};
            if (lt_weights_save(best_path, &ps, 2, k, v) != LT_OK) { rc = fail("best checkpoint"); break; }
        }
        st.epoch = epoch + 1;
        st.cursor = best_epoch;
        st.ctx_rng = c->rng;
        if ((g->cf.ckpt_every > 0 && st.epoch % g->cf.ckpt_every == 0) || st.epoch == last)
            if (lt_checkpoint_save(out, &ps, opt, &st) != LT_OK) { rc = fail("checkpoint"); break; }
    }
    if (rc == 0 && st.epoch < g->epochs) {
        printf("stopped after epoch %lld of %d; continue with --resume --out=%s\n", (long long)st.epoch, g->epochs, out);
    } else if (rc == 0) {
        // Test with the best-validation weights; attention scores of val and test bags for heatmaps.
        char ap[1200];
        snprintf(ap, sizeof ap, "%s/attention_scores.h5", out);
        lt_attn_scores_writer *aw = NULL;
        int64_t *conf = calloc((size_t)C * C, sizeof(int64_t));
        double tl, vl;
        if (lt_weights_load(best_path, &ps) != LT_OK) rc = fail("best checkpoint");
        else if (lt_attn_scores_open(ap, &aw) != LT_OK) rc = fail("attention scores");
        else if (metrics_of(c, &m, ds, &va, C, aw, &res->val, &vl, NULL) != LT_OK ||
                 metrics_of(c, &m, ds, &te, C, aw, &res->test, &tl, conf) != LT_OK) rc = fail("test");
        else if (lt_attn_scores_commit(aw) != LT_OK) rc = fail("attention scores");
        else aw = NULL;
        if (aw) lt_attn_scores_abort(aw);
        if (rc == 0) {
            res->best_epoch = best_epoch;
            log_metrics(&run, st.step, "test", &res->test, tl, best_epoch);
            lt_report r = {0};
            r.title = "aem_mil";
            r.data = data_path;
            r.seed = seed;
            r.lambda = lam.lambda0;
            r.best_epoch = best_epoch;
            r.best_step = (int64_t)best_epoch * tr.n;
            r.lambda_spec = g->n_compare ? NULL : g->lambda_s;
            r.epochs = g->epochs;
            r.n_classes = C;
            r.n_train = tr.n; r.n_val = va.n; r.n_test = te.n;
            r.val = res->val;
            r.test = res->test;
            r.confusion = conf;
            for (int k = 0; k < C && k < LT_REPORT_MAX_CLASSES; k++) r.class_names[k] = lt_mil_class_name(ds, k);
            if (lt_report_write(out, &r) != LT_OK) rc = fail("report");
            else printf("test (best val epoch %d): auc %.4f  acc %.4f  bacc %.4f  f1 %.4f   report: %s/report.md\n",
                        best_epoch, res->test.auc, res->test.acc, res->test.bacc, res->test.f1, out);
        }
        free(conf);
    }
    lt_run_close(&run);
    free(order);
    lt_index_list_free(&tr); lt_index_list_free(&va); lt_index_list_free(&te);
    lt_ctx_free(c);
    lt_optim_free(opt);
    lt_params_free(&ps);
    return rc;
}

int main(int argc, char **argv) {
    cfg g;
    memset(&g, 0, sizeof g);
    g.cf = (lt_common_flags)LT_COMMON_FLAGS_INIT;
    g.cf.lr = 1e-4f;
    g.cf.log_every = 200;
    g.cf.ckpt_every = 1;
    g.cf.seed = 5;
    lt_flags *f = lt_flags_new("aem_mil", "attention MIL (ABMIL) with AEM on feature bags");
    lt_flags_common(f, &g.cf);
    lt_flag_int(f, "epochs", &g.epochs, 50, "training epochs (one bag per step)");
    lt_flag_str(f, "lambda", &g.lambda_s, "0.1", "AEM weight: 0 (plain ABMIL), a number, or cosine:L0:LF:EPOCHS");
    lt_flag_float_list(f, "compare-lambda", g.compare, MAX_LAMBDAS, &g.n_compare, "",
                       "run each of these lambdas (with --seeds) and summarize side by side, e.g. 0,0.1");
    lt_flag_int(f, "seeds", &g.n_seeds, 1, "run seeds seed..seed+N-1 and report mean and std");
    lt_flag_choice(f, "arch", &g.arch, "gated", "gated|mha", "gated attention (Ilse et al.) or AEM's multi-head");
    lt_flag_int(f, "d-inner", &g.d_inner, 128, "instance embedding size after the Linear+ReLU reduction");
    lt_flag_int(f, "heads", &g.heads, 8, "heads of the mha variant");
    lt_flag_float(f, "dropout", &g.dropout, 0.f, "dropout after the reduction (official: 0)");
    lt_flag_float(f, "wd", &g.wd, 1e-5f, "AdamW weight decay");
    lt_flag_float(f, "min-lr", &g.min_lr, 0.f, "final learning rate of the cosine decay");
    lt_flag_float(f, "clip", &g.clip, 0.f, "global gradient-norm clip (0: off, as the official code)");
    lt_flag_float(f, "subsample", &g.subsample, 1.f, "keep a random fraction of each training bag's instances");
    lt_flag_str(f, "data", &g.data, "", "features: CLAM/TRIDENT folder, AEM .h5 or libtrain packed .h5 "
                                        "(default: Fashion-MNIST bags, built on first use)");
    lt_flag_str(f, "csv", &g.csv, "", "slide table slide_id,label[,split] (CLAM folders)");
    lt_flag_choice(f, "layout", &g.layout, "auto", "auto|clam|aem|packed", "data layout");
    lt_flag_float(f, "val-frac", &g.val_frac, 0.1f, "validation fraction when the data carries no split");
    lt_flag_float(f, "test-frac", &g.test_frac, 0.2f, "test fraction when the data carries no split");
    lt_flag_int(f, "kfold", &g.k_folds, 0, "k-fold cross-validation (0: off); --fold picks the test fold");
    lt_flag_int(f, "fold", &g.fold, 0, "test fold with --kfold");
    lt_flag_int(f, "prefetch", &g.prefetch, 4, "bags read ahead by the loader thread");
    lt_flag_int(f, "stop-at", &g.stop_at, 0, "stop after this epoch with a checkpoint, resumable with --resume "
                                           "(time-boxed jobs; 0: run all --epochs)");
    lt_status s = lt_flags_parse(f, argc, argv);
    if (s == LT_HELP) return 0;
    if (s != LT_OK) { fprintf(stderr, "aem_mil: %s\n", lt_last_error()); return 2; }
    if (lt_lambda_schedule_parse(g.lambda_s, &g.lambda) != LT_OK) {
        fprintf(stderr, "aem_mil: --lambda: %s\n", lt_last_error());
        return 2;
    }
    if (g.epochs < 1 || g.n_seeds < 1 || g.d_inner < 1 || g.heads < 1 || g.prefetch < 1 ||
        !(g.subsample > 0 && g.subsample <= 1) || (g.k_folds && (g.fold < 0 || g.fold >= g.k_folds))) {
        fprintf(stderr, "aem_mil: --epochs, --seeds, --d-inner, --heads, --prefetch must be >= 1, --subsample in (0,1], "
                        "--fold in [0, --kfold)\n");
        return 2;
    }
    if ((g.n_seeds > 1 || g.n_compare > 0) && g.cf.resume) {
        fprintf(stderr, "aem_mil: --resume continues one run; resume each --seeds/--compare-lambda run by its own --out\n");
        return 2;
    }

    // ---- data ----
    char path[1024];
    if (g.data[0]) snprintf(path, sizeof path, "%s", g.data);
    else {
        char cache[900];
        lt_mil_fashion_cfg fc = lt_mil_fashion_defaults();
        if (lt_cache_dir(cache, sizeof cache) != LT_OK || lt_mil_fashion_ensure(cache, &fc, path, sizeof path) != LT_OK)
            return fail("default data");
    }
    lt_mil_layout layout = !strcmp(g.layout, "clam") ? LT_MIL_CLAM : !strcmp(g.layout, "aem") ? LT_MIL_AEM
                         : !strcmp(g.layout, "packed") ? LT_MIL_PACKED : LT_MIL_AUTO;
    lt_mil_dataset *ds;
    if (lt_mil_open(path, g.csv[0] ? g.csv : NULL, layout, &ds) != LT_OK) return fail("data");
    if (lt_mil_validate(ds) != LT_OK) return fail("data");

    int rc = 0;
    if (g.n_seeds == 1 && g.n_compare == 0) {
        result r;
        rc = train_one(&g, ds, path, g.cf.seed, g.lambda, g.cf.out, f, &r);
    } else {
        int nl = g.n_compare ? g.n_compare : 1;
        lt_seed_row *rows = calloc((size_t)nl * g.n_seeds, sizeof *rows);
        int nrows = 0;
        for (int li = 0; li < nl && rc == 0; li++) {
            lt_lambda_schedule lam = g.lambda;
            if (g.n_compare) { lam.kind = LT_LAMBDA_CONSTANT; lam.lambda0 = lam.lambda_final = g.compare[li]; }
            for (int k = 0; k < g.n_seeds && rc == 0; k++) {
                uint64_t seed = g.cf.seed + (uint64_t)k;
                char out[1100];
                if (g.n_compare) snprintf(out, sizeof out, "%s/lambda_%g/seed_%llu", g.cf.out, lam.lambda0, (unsigned long long)seed);
                else snprintf(out, sizeof out, "%s/seed_%llu", g.cf.out, (unsigned long long)seed);
                result r;
                rc = train_one(&g, ds, path, seed, lam, out, f, &r);
                if (rc == 0) {
                    rows[nrows].lambda = lam.lambda0;
                    rows[nrows].seed = seed;
                    rows[nrows].val = r.val;
                    rows[nrows].test = r.test;
                    rows[nrows].best_epoch = r.best_epoch;
                    nrows++;
                }
            }
        }
        if (rc == 0) {
            if (lt_report_seeds_write(g.cf.out, "aem_mil", nrows, rows) != LT_OK) rc = fail("summary");
            else {
                char p[1100];
                snprintf(p, sizeof p, "%s/seeds.md", g.cf.out);
                FILE *fp = fopen(p, "r");
                char line[512];
                while (fp && fgets(line, sizeof line, fp)) fputs(line, stdout);
                if (fp) fclose(fp);
            }
        }
        free(rows);
    }
    lt_mil_close(ds);
    lt_flags_free(f);
    return rc;
}
