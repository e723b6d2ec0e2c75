// Run reports (report.json / report.md), multi-seed summaries (seeds.json /
// seeds.md) and the per-bag attention-score HDF5 file: written, read back and
// compared with hand values.
#define _GNU_SOURCE
#include "lt_test.h"
#include "lt_tmpdir.h"

#include <dirent.h>
#include <unistd.h>

#include "data/attn_scores.h"
#include "data/h5.h"
#include "libtrain/json.h"
#include "libtrain/report.h"

// Each test gets its own temporary folder (lt_tmpdir.h), removed afterwards.
static void setup(void) { lt_tmp_setup("lt_report"); }
static void teardown(void) { lt_tmp_teardown(); }

static char *slurp(const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", lt_tmp_root, name);
    FILE *f = fopen(p, "rb");
    cr_assert(f, "cannot open %s", p);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

static lt_json *parse_file(const char *name, char **text) {
    *text = slurp(name);
    char err[256];
    lt_json *j = lt_json_parse(*text, strlen(*text), err, sizeof err);
    cr_assert(j, "%s does not parse: %s\n%s", name, err, *text);
    return j;
}

static int dir_entries(void) {
    DIR *d = opendir(lt_tmp_root);
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d))) k += e->d_name[0] != '.';
    closedir(d);
    return k;
}

static double num(const lt_json *j, const char *what) {
    double v;
    cr_assert(lt_json_as_double(j, &v), "%s is not a number", what);
    return v;
}

static int64_t integer(const lt_json *j, const char *what) {
    int64_t v;
    cr_assert(lt_json_as_int(j, &v), "%s is not an integer", what);
    return v;
}

static lt_cls_metrics mk(double auc, double acc, double bacc, double f1, int n) {
    lt_cls_metrics m = {.acc = acc, .bacc = bacc, .auc = auc, .f1 = f1, .f1_present = f1, .n = n, .n_classes = 2,
                        .auc_classes = isnan(auc) ? 0 : 1};
    return m;
}

static lt_report sample_report(const int64_t *conf) {
    lt_report r = {0};
    r.title = "aem \"mil\" \\ run";
    r.data = "/data/feats|v2.h5";
    r.seed = 1234567890123ull;
    r.lambda = 0.1f;
    r.lambda_spec = "cosine:0.1:0:50";
    r.best_epoch = 7;
    r.epochs = 50;
    r.best_step = 1400;
    r.n_classes = 2;
    r.n_train = 200; r.n_val = 30; r.n_test = 60;
    r.val = mk(NAN, 1.0, 1.0, 0.5, 30);   // one class in val: AUC undefined
    r.val.f1_present = 1.0;
    r.test = mk(0.8125, 0.75, 0.7, 0.6875, 60);
    r.confusion = conf;
    r.class_names[0] = "neg";
    r.class_names[1] = "tumor|pos";
    return r;
}

Test(report, json_round_trip, .init = setup, .fini = teardown) {
    int64_t conf[4] = {20, 3, 12, 25};
    lt_report r = sample_report(conf);
    cr_assert_eq(lt_report_write(lt_tmp_root, &r), LT_OK, "%s", lt_last_error());
    cr_assert_eq(dir_entries(), 2, "report.json and report.md only, no temporary files");
    char *text;
    lt_json *j = parse_file("report.json", &text);
    cr_assert_str_eq(lt_json_as_string(lt_json_get(j, "title")), r.title);
    cr_assert_str_eq(lt_json_as_string(lt_json_get(j, "data")), r.data);
    cr_assert_str_eq(lt_json_as_string(lt_json_get(j, "lambda_spec")), r.lambda_spec);
    cr_assert_eq(integer(lt_json_get(j, "seed"), "seed"), 1234567890123);
    cr_assert_eq(num(lt_json_get(j, "lambda"), "lambda"), 0.1, "lambda written as the float's shortest form: %s", text);
    cr_assert_eq(integer(lt_json_get(j, "best_epoch"), "best_epoch"), 7);
    cr_assert_eq(integer(lt_json_get(j, "best_step"), "best_step"), 1400);
    cr_assert_eq(integer(lt_json_get(j, "epochs"), "epochs"), 50);
    const lt_json *bags = lt_json_get(j, "bags");
    cr_assert_eq(integer(lt_json_get(bags, "train"), "bags.train"), 200);
    cr_assert_eq(integer(lt_json_get(bags, "val"), "bags.val"), 30);
    cr_assert_eq(integer(lt_json_get(bags, "test"), "bags.test"), 60);
    const lt_json *cls = lt_json_get(j, "classes");
    cr_assert_eq(lt_json_len(cls), 2);
    cr_assert_str_eq(lt_json_as_string(lt_json_at(cls, 1)), "tumor|pos");
    const lt_json *te = lt_json_get(j, "test"), *va = lt_json_get(j, "val");
    cr_assert_eq(num(lt_json_get(te, "auc"), "test.auc"), 0.8125);
    cr_assert_eq(num(lt_json_get(te, "acc"), "test.acc"), 0.75);
    cr_assert_eq(num(lt_json_get(te, "bacc"), "test.bacc"), 0.7, "doubles round-trip exactly");
    cr_assert_eq(num(lt_json_get(te, "f1"), "test.f1"), 0.6875);
    cr_assert_eq(integer(lt_json_get(te, "n"), "test.n"), 60);
    cr_assert(lt_json_is_null(lt_json_get(va, "auc")), "NaN AUC must be null: %s", text);
    cr_assert_eq(num(lt_json_get(va, "f1_present"), "val.f1_present"), 1.0);
    const lt_json *cm = lt_json_get(j, "test_confusion");
    cr_assert_eq(lt_json_len(cm), 2);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(integer(lt_json_at(lt_json_at(cm, i / 2), i % 2), "confusion"), conf[i]);
    const lt_json *notes = lt_json_get(j, "notes");
    cr_assert_eq(lt_json_len(notes), 2, "%s", text);
    cr_assert(strstr(lt_json_as_string(lt_json_at(notes, 0)), "val AUC undefined"), "%s", text);
    cr_assert(strstr(lt_json_as_string(lt_json_at(notes, 1)), "val macro F1"), "%s", text);
    lt_json_free(j);
    free(text);
}

Test(report, markdown_table, .init = setup, .fini = teardown) {
    int64_t conf[4] = {20, 3, 12, 25};
    lt_report r = sample_report(conf);
    cr_assert_eq(lt_report_write(lt_tmp_root, &r), LT_OK, "%s", lt_last_error());
    char *md = slurp("report.md");
    const char *lines[] = {
        "# aem \"mil\" \\ run\n",
        "| data | /data/feats\\|v2.h5 |\n",
        "| seed | 1234567890123 |\n",
        "| lambda | 0.1 (cosine:0.1:0:50) |\n",
        "| best epoch | 7 of 50 (step 1400) |\n",
        "| bags | 200 train, 30 val, 60 test |\n",
        "| split | bags | AUC | accuracy | balanced acc. | macro F1 |\n",
        "| val (best epoch) | 30 | n/a | 1.0000 | 1.0000 | 0.5000 |\n",
        "| test | 60 | 0.8125 | 0.7500 | 0.7000 | 0.6875 |\n",
        "| true \\ predicted | neg | tumor\\|pos |\n|---|---|---|\n",
        "| neg | 20 | 3 |\n| tumor\\|pos | 12 | 25 |\n",
        "- val AUC undefined",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
        cr_assert(strstr(md, lines[i]), "report.md lacks line %zu %s\n---\n%s", i, lines[i], md);
    free(md);

    // No confusion matrix, no names: classes shown by index, no confusion section.
    r.confusion = NULL;
    r.class_names[0] = r.class_names[1] = NULL;
    r.val = mk(0.9, 0.8, 0.8, 0.8, 30);
    r.lambda_spec = NULL;
    r.best_step = 0;
    cr_assert_eq(lt_report_write(lt_tmp_root, &r), LT_OK, "%s", lt_last_error());
    md = slurp("report.md");
    cr_assert_null(strstr(md, "confusion"), "%s", md);
    cr_assert_null(strstr(md, "undefined"), "%s", md);
    cr_assert(strstr(md, "| lambda | 0.1 |\n| best epoch | 7 of 50 |\n"), "%s", md);
    free(md);
    char *text;
    lt_json *j = parse_file("report.json", &text);
    cr_assert_str_eq(lt_json_as_string(lt_json_at(lt_json_get(j, "classes"), 0)), "0");
    cr_assert_null(lt_json_get(j, "test_confusion"));
    cr_assert_eq(lt_json_len(lt_json_get(j, "notes")), 0);
    lt_json_free(j);
    free(text);
}

Test(report, bad_input_is_named, .init = setup, .fini = teardown) {
    lt_report r = sample_report(NULL);
    char p[512];
    snprintf(p, sizeof p, "%s/missing/sub", lt_tmp_root);
    cr_assert_eq(lt_report_write(p, &r), LT_ERR_IO);
    cr_assert(strstr(lt_last_error(), "missing/sub/report.json"), "%s", lt_last_error());
    r.n_classes = 0;
    cr_assert_eq(lt_report_write(lt_tmp_root, &r), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "0 classes"), "%s", lt_last_error());
    cr_assert_eq(lt_report_seeds_write(lt_tmp_root, "x", 0, (lt_seed_row[1]){0}), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "n=0"), "%s", lt_last_error());
    cr_assert_eq(dir_entries(), 0);
}

Test(report, mean_std_hand_values) {
    double m, sd;
    cr_assert_eq(lt_report_mean_std((double[]){2, 4, 4, 4, 5, 5, 7, 9}, 8, &m, &sd), 8);
    cr_assert_eq(m, 5.0);
    cr_assert(fabs(sd - sqrt(32.0 / 7)) < 1e-15, "sample std %.17g", sd);
    cr_assert_eq(lt_report_mean_std((double[]){NAN, 1, NAN, 3}, 4, &m, &sd), 2);
    cr_assert(m == 2.0 && fabs(sd - sqrt(2.0)) < 1e-15, "NaN values are skipped: %g %g", m, sd);
    cr_assert_eq(lt_report_mean_std((double[]){0.25}, 1, &m, &sd), 1);
    cr_assert(m == 0.25 && isnan(sd), "one value: no sample std");
    cr_assert_eq(lt_report_mean_std((double[]){NAN}, 1, &m, &sd), 0);
    cr_assert(isnan(m) && isnan(sd));
    // Large common offset: the two-pass form keeps the tiny spread.
    cr_assert_eq(lt_report_mean_std((double[]){1e9 + 1, 1e9 + 2, 1e9 + 3}, 3, &m, &sd), 3);
    cr_assert(fabs(sd - 1.0) < 1e-12, "sd %.17g", sd);
}

static lt_seed_row row(float lambda, uint64_t seed, double auc, double acc) {
    lt_seed_row r = {lambda, seed, 3, mk(0.9, 0.9, 0.9, 0.9, 20), mk(auc, acc, acc, acc, 40)};
    return r;
}

static const lt_json *metric(const lt_json *group, const char *split, const char *key) {
    const lt_json *m = lt_json_get(lt_json_get(group, split), key);
    cr_assert(m, "summary lacks %s.%s", split, key);
    return m;
}

Test(report, seeds_summary_by_lambda, .init = setup, .fini = teardown) {
    // Interleaved rows: groups in order of first appearance (lambda 0, then 0.1).
    lt_seed_row rows[5] = {row(0.f, 5, 0.7, 0.6), row(0.1f, 5, 0.85, 0.6), row(0.f, 6, 0.8, 0.7),
                           row(0.1f, 6, NAN, 0.8), row(0.f, 7, 0.9, 0.8)};
    cr_assert_eq(lt_report_seeds_write(lt_tmp_root, "aem_mil", 5, rows), LT_OK, "%s", lt_last_error());
    cr_assert_eq(dir_entries(), 2);
    char *text;
    lt_json *j = parse_file("seeds.json", &text);
    cr_assert_str_eq(lt_json_as_string(lt_json_get(j, "title")), "aem_mil");
    const lt_json *runs = lt_json_get(j, "runs");
    cr_assert_eq(lt_json_len(runs), 5);
    cr_assert_eq(integer(lt_json_get(lt_json_at(runs, 4), "seed"), "seed"), 7);
    cr_assert(lt_json_is_null(lt_json_get(lt_json_get(lt_json_at(runs, 3), "test"), "auc")));
    const lt_json *sum = lt_json_get(j, "summary");
    cr_assert_eq(lt_json_len(sum), 2, "%s", text);
    const lt_json *g0 = lt_json_at(sum, 0), *g1 = lt_json_at(sum, 1);
    cr_assert_eq(num(lt_json_get(g0, "lambda"), "lambda"), 0.0);
    cr_assert_eq(num(lt_json_get(g1, "lambda"), "lambda"), 0.1);
    cr_assert_eq(integer(lt_json_get(g0, "runs"), "runs"), 3);
    cr_assert_eq(integer(lt_json_get(g1, "runs"), "runs"), 2);
    // lambda 0: test AUC 0.7, 0.8, 0.9 -> mean 0.8, sample std 0.1; accuracy 0.6, 0.7, 0.8 the same.
    const lt_json *a0 = metric(g0, "test", "auc");
    cr_assert(fabs(num(lt_json_get(a0, "mean"), "mean") - 0.8) < 1e-12);
    cr_assert(fabs(num(lt_json_get(a0, "std"), "std") - 0.1) < 1e-12, "%s", text);
    cr_assert_eq(integer(lt_json_get(a0, "n"), "n"), 3);
    cr_assert(fabs(num(lt_json_get(metric(g0, "test", "acc"), "std"), "std") - 0.1) < 1e-12);
    // val: identical 0.9 in every run -> std 0.
    cr_assert(fabs(num(lt_json_get(metric(g0, "val", "auc"), "std"), "std")) < 1e-12);
    // lambda 0.1: AUC defined once (0.85, std null), accuracy 0.6, 0.8 -> 0.7 +- sqrt(0.02).
    const lt_json *a1 = metric(g1, "test", "auc");
    cr_assert_eq(num(lt_json_get(a1, "mean"), "mean"), 0.85);
    cr_assert(lt_json_is_null(lt_json_get(a1, "std")), "%s", text);
    cr_assert_eq(integer(lt_json_get(a1, "n"), "n"), 1);
    const lt_json *c1 = metric(g1, "test", "acc");
    cr_assert(fabs(num(lt_json_get(c1, "mean"), "mean") - 0.7) < 1e-12);
    cr_assert(fabs(num(lt_json_get(c1, "std"), "std") - sqrt(0.02)) < 1e-12);
    lt_json_free(j);
    free(text);

    char *md = slurp("seeds.md");
    const char *lines[] = {
        "| lambda | seeds | test AUC | test accuracy | test balanced acc. | test macro F1 | val AUC |\n",
        "| 0 | 3 | 0.8000 ± 0.1000 | 0.7000 ± 0.1000 | 0.7000 ± 0.1000 | 0.7000 ± 0.1000 | 0.9000 ± 0.0000 |\n",
        "| 0.1 | 2 | 0.8500 (1 of 2) | 0.7000 ± 0.1414 |",
        "| 0.1 | 6 | 3 | 0.9000 | n/a | 0.8000 | 0.8000 | 0.8000 |\n",
        "(k of n)",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
        cr_assert(strstr(md, lines[i]), "seeds.md lacks %s\n---\n%s", lines[i], md);
    cr_assert(strstr(md, "| 0 | 3 |") < strstr(md, "| 0.1 | 2 |"), "groups in order of first appearance");
    free(md);
}

Test(report, seeds_single_run_per_group, .init = setup, .fini = teardown) {
    lt_seed_row rows[2] = {row(0.f, 5, 0.75, 0.5), row(0.25f, 5, 0.5, 0.25)};
    cr_assert_eq(lt_report_seeds_write(lt_tmp_root, NULL, 2, rows), LT_OK, "%s", lt_last_error());
    char *md = slurp("seeds.md");
    cr_assert(strstr(md, "| 0 | 1 | 0.7500 | 0.5000 |"), "one run: the value alone\n%s", md);
    cr_assert(strstr(md, "| 0.25 | 1 | 0.5000 | 0.2500 |"), "%s", md);
    cr_assert(strstr(md, "# runs:"), "default title\n%s", md);
    free(md);
}

// ---- attention scores ----

static void fill(uint64_t seed, float *x, int64_t n) {
    lt_rng r;
    lt_rng_init(&r, seed);
    lt_rng_fill_uniform(&r, x, n, 0.f, 1.f);
}

Test(attn_scores, round_trip, .init = setup, .fini = teardown) {
    char path[512];
    snprintf(path, sizeof path, "%s/attention_scores.h5", lt_tmp_root);
    const int heads = 2, C = 3;
    const int64_t ns[3] = {1, 63, 1000};
    const char *ids[3] = {"slide-1", "TCGA 02.svs", "bag_3"};
    float *attn[3], prob[3][3];
    int32_t *coords[3];
    lt_attn_scores_writer *w;
    cr_assert_eq(lt_attn_scores_open(path, &w), LT_OK, "%s", lt_last_error());
    for (int b = 0; b < 3; b++) {
        attn[b] = malloc(sizeof(float) * heads * ns[b]);
        fill(10 + b, attn[b], heads * ns[b]);
        coords[b] = malloc(sizeof(int32_t) * 2 * ns[b]);
        for (int64_t i = 0; i < 2 * ns[b]; i++) coords[b][i] = (int32_t)(i * 256 - 7 * b);
        fill(20 + b, prob[b], C);
        float sum = prob[b][0] + prob[b][1] + prob[b][2];
        for (int c = 0; c < C; c++) prob[b][c] /= sum;
        cr_assert_eq(lt_attn_scores_add(w, ids[b], b % C, prob[b], C, heads, ns[b], attn[b], b == 1 ? NULL : coords[b]),
                     LT_OK, "%s", lt_last_error());
    }
    cr_assert_eq(access(path, F_OK), -1, "nothing under the final name before commit");
    // Bad slides leave the file usable.
    cr_assert_eq(lt_attn_scores_add(w, "bag_3", 0, prob[0], C, heads, 1, attn[0], NULL), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "'bag_3' written twice") && strstr(lt_last_error(), path), "%s", lt_last_error());
    cr_assert_eq(lt_attn_scores_add(w, "a/b", 0, prob[0], C, heads, 1, attn[0], NULL), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "'a/b'"), "%s", lt_last_error());
    cr_assert_eq(lt_attn_scores_add(w, "", 0, prob[0], C, heads, 1, attn[0], NULL), LT_ERR_ARG);
    cr_assert_eq(lt_attn_scores_add(w, "x", 0, prob[0], 2, heads, 1, attn[0], NULL), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "'x' has 2 classes and 2 heads; earlier slides 3 and 2"), "%s", lt_last_error());
    cr_assert_eq(lt_attn_scores_add(w, "y", 0, prob[0], C, heads, 0, attn[0], NULL), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "'y'") && strstr(lt_last_error(), "n=0"), "%s", lt_last_error());
    cr_assert_eq(lt_attn_scores_commit(w), LT_OK, "%s", lt_last_error());
    cr_assert_eq(dir_entries(), 1, "only the committed file");

    for (int b = 0; b < 3; b++) {
        lt_attn_scores_bag g;
        cr_assert_eq(lt_attn_scores_read(path, ids[b], &g), LT_OK, "%s", lt_last_error());
        cr_assert(g.heads == heads && g.n == ns[b] && g.n_classes == C && g.label == b % C, "slide %s", ids[b]);
        int pred = 0;
        for (int c = 1; c < C; c++) if (prob[b][c] > prob[b][pred]) pred = c;
        cr_assert_eq(g.prediction, pred);
        for (int c = 0; c < C; c++) cr_assert_eq(g.prob[c], prob[b][c], "probabilities read back exactly");
        cr_assert(!memcmp(g.attn, attn[b], sizeof(float) * heads * ns[b]), "attention of %s", ids[b]);
        for (int64_t i = 0; i < 2 * ns[b]; i++)
            cr_assert_eq(g.coords[i], b == 1 ? 0 : coords[b][i], "coords of %s [%lld]", ids[b], (long long)i);
        lt_attn_scores_bag_free(&g);
        free(attn[b]);
        free(coords[b]);
    }
    lt_h5 *h;
    cr_assert_eq(lt_h5_open(path, &h), LT_OK);
    int64_t v;
    char fmt[64];
    cr_assert(lt_h5_attr_read_int(h, "/", "n_slides", &v) == LT_OK && v == 3);
    cr_assert(lt_h5_attr_read_int(h, "/", "heads", &v) == LT_OK && v == heads);
    cr_assert(lt_h5_attr_read_str(h, "/", "format", fmt, sizeof fmt) == LT_OK);
    cr_assert_str_eq(fmt, "libtrain-attention-scores");
    lt_h5_info info;
    cr_assert(lt_h5_info_get(h, "bag_3/attention", &info) == LT_OK && info.type == LT_H5_F32 && info.ndim == 2);
    cr_assert(lt_h5_info_get(h, "bag_3/coords", &info) == LT_OK && info.type == LT_H5_I32 && info.dims[1] == 2);
    lt_h5_close(h);

    lt_attn_scores_bag g;
    cr_assert_eq(lt_attn_scores_read(path, "nope", &g), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "no slide 'nope'"), "%s", lt_last_error());
    char missing[512];
    snprintf(missing, sizeof missing, "%s/none.h5", lt_tmp_root);
    cr_assert_neq(lt_attn_scores_read(missing, "bag_3", &g), LT_OK);
    cr_assert(strstr(lt_last_error(), "none.h5"), "%s", lt_last_error());
}

Test(attn_scores, abort_leaves_no_file, .init = setup, .fini = teardown) {
    char path[512];
    snprintf(path, sizeof path, "%s/a.h5", lt_tmp_root);
    lt_attn_scores_writer *w;
    cr_assert_eq(lt_attn_scores_open(path, &w), LT_OK, "%s", lt_last_error());
    float a[4] = {0.25f, 0.75f, 0.5f, 0.5f}, p[2] = {0.4f, 0.6f};
    cr_assert_eq(lt_attn_scores_add(w, "s", 1, p, 2, 2, 2, a, NULL), LT_OK, "%s", lt_last_error());
    lt_attn_scores_abort(w);
    cr_assert_eq(dir_entries(), 0, "abort removes the temporary file");
    lt_attn_scores_abort(NULL);
    snprintf(path, sizeof path, "%s/no/such/dir/a.h5", lt_tmp_root);
    cr_assert_neq(lt_attn_scores_open(path, &w), LT_OK);
    cr_assert(strstr(lt_last_error(), "no/such/dir"), "%s", lt_last_error());
}

// ---- extra checks (exact JSON values, > 16 classes, 3 + 3 seeds by hand, HDF5-level read-back) ----

static lt_json *rx_parse(const char *name) {
    char *text = slurp(name), err[256];
    lt_json *j = lt_json_parse(text, strlen(text), err, sizeof err);
    cr_assert(j, "%s does not parse: %s\n%s", name, err, text);
    free(text);
    return j;
}

// Value at obj.key (key may be "a.b.c"), NULL if absent.
static const lt_json *rx_get(const lt_json *obj, const char *path) {
    char buf[128], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    const lt_json *j = obj;
    for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) j = lt_json_get(j, k);
    return j;
}

// Number at obj.key; fails unless present and numeric.
static double rx_num(const lt_json *obj, const char *path) {
    double v;
    cr_assert(lt_json_as_double(rx_get(obj, path), &v), "'%s' missing or not a number", path);
    return v;
}

static lt_report rx_report(const int64_t *cm) {
    lt_report r = {0};
    r.title = "ABMIL fashion";
    r.data = "data/mil.h5";
    r.seed = 42;
    r.lambda = 0.25f;
    r.best_epoch = 7;
    r.epochs = 20;
    r.n_classes = 3;
    r.n_train = 100; r.n_val = 20; r.n_test = 30;
    r.val = (lt_cls_metrics){.auc = 0.875, .acc = 0.8, .bacc = 0.75, .f1 = 0.7, .f1_present = 0.7, .n = 20,
                             .n_classes = 3, .auc_classes = 3};
    r.test = (lt_cls_metrics){.auc = 0.854166666666, .acc = 2.0 / 3, .bacc = 0.55557, .f1 = 0.123456789,
                              .f1_present = 0.123456789, .n = 30, .n_classes = 3, .auc_classes = 3};
    r.confusion = cm;
    r.class_names[0] = "normal";
    r.class_names[1] = "tumor";
    r.class_names[2] = "other";
    return r;
}

Test(report_extra, json_values_exact_and_md_rows, .init = setup, .fini = teardown) {
    int64_t cm[9] = {10, 1, 0, 2, 8, 1, 0, 3, 5};
    lt_report r = rx_report(cm);
    cr_assert_eq(lt_report_write(lt_tmp_root, &r), LT_OK, "%s", lt_last_error());
    lt_json *j = rx_parse("report.json");
    cr_assert_str_eq(lt_json_as_string(lt_json_get(j, "title")), "ABMIL fashion");
    cr_assert_eq(rx_num(j, "seed"), 42);
    cr_assert_eq(rx_num(j, "lambda"), 0.25);
    cr_assert_eq(rx_num(j, "best_epoch"), 7);
    cr_assert_eq(rx_num(j, "val.auc"), 0.875);
    cr_assert_eq(rx_num(j, "test.auc"), 0.854166666666, "numbers round-trip exactly");
    cr_assert_eq(rx_num(j, "test.acc"), 2.0 / 3);
    cr_assert_eq(rx_num(j, "test.bacc"), 0.55557);
    cr_assert_eq(rx_num(j, "test.f1"), 0.123456789);
    cr_assert_eq(rx_num(j, "test.n"), 30);
    cr_assert_eq(rx_num(j, "test.auc_classes"), 3);
    const lt_json *cls = lt_json_get(j, "classes"), *tc = lt_json_get(j, "test_confusion");
    cr_assert_eq(lt_json_len(cls), 3);
    cr_assert_str_eq(lt_json_as_string(lt_json_at(cls, 2)), "other");
    cr_assert_eq(lt_json_len(tc), 3);
    for (int i = 0; i < 9; i++) {
        int64_t v;
        cr_assert(lt_json_as_int(lt_json_at(lt_json_at(tc, i / 3), i % 3), &v));
        cr_assert_eq(v, cm[i], "confusion[%d][%d]", i / 3, i % 3);
    }
    cr_assert_eq(lt_json_len(lt_json_get(j, "notes")), 0, "nothing undefined, f1 == f1_present: no notes");
    lt_json_free(j);
    char *md = slurp("report.md");
    cr_assert(strstr(md, "| split | bags | AUC | accuracy | balanced acc. | macro F1 |\n"), "%s", md);
    cr_assert(strstr(md, "| val (best epoch) | 20 | 0.8750 | 0.8000 | 0.7500 | 0.7000 |\n"), "%s", md);
    cr_assert(strstr(md, "| test | 30 | 0.8542 | 0.6667 | 0.5556 | 0.1235 |\n"), "%s", md);
    cr_assert(strstr(md, "| tumor | 2 | 8 | 1 |"), "%s", md);
    free(md);
    cr_assert_eq(dir_entries(), 2, "temporaries left behind");
}

Test(report_extra, non_finite_metrics_are_null_with_notes, .init = setup, .fini = teardown) {
    lt_report r = rx_report(NULL);
    r.test.auc = NAN;
    r.test.f1 = INFINITY;
    cr_assert_eq(lt_report_write(lt_tmp_root, &r), LT_OK, "%s", lt_last_error());
    lt_json *j = rx_parse("report.json");   // the strict parser would reject a bare nan/inf
    cr_assert(lt_json_is_null(rx_get(j, "test.auc")), "NaN auc must be null");
    cr_assert(lt_json_is_null(rx_get(j, "test.f1")), "inf f1 must be null");
    cr_assert_eq(rx_num(j, "val.auc"), 0.875);
    cr_assert_null(lt_json_get(j, "test_confusion"));
    const lt_json *notes = lt_json_get(j, "notes");
    int undefined = 0;
    for (size_t i = 0; i < lt_json_len(notes); i++) undefined |= !!strstr(lt_json_as_string(lt_json_at(notes, i)), "test AUC undefined");
    cr_assert(undefined, "a note must say why the test AUC is missing");
    lt_json_free(j);
    char *md = slurp("report.md");
    cr_assert(strstr(md, "| test | 30 | n/a | 0.6667 | 0.5556 | n/a |\n"), "%s", md);
    cr_assert_null(strstr(md, "nan"), "%s", md);
    cr_assert_null(strstr(md, "inf |"), "%s", md);
    free(md);
}

Test(report_extra, more_than_16_classes_shown_by_index, .init = setup, .fini = teardown) {
    enum { C = 18 };
    int64_t cm[C * C];
    for (int i = 0; i < C * C; i++) cm[i] = i;
    lt_report r = rx_report(cm);
    r.n_classes = C;
    cr_assert_eq(lt_report_write(lt_tmp_root, &r), LT_OK, "%s", lt_last_error());
    lt_json *j = rx_parse("report.json");
    const lt_json *cls = lt_json_get(j, "classes"), *tc = lt_json_get(j, "test_confusion");
    cr_assert_eq(lt_json_len(cls), C);
    cr_assert_str_eq(lt_json_as_string(lt_json_at(cls, 1)), "tumor");
    cr_assert_str_eq(lt_json_as_string(lt_json_at(cls, 3)), "3", "a NULL name shows the index");
    cr_assert_str_eq(lt_json_as_string(lt_json_at(cls, 17)), "17");
    cr_assert_eq(lt_json_len(tc), C);
    int64_t v;
    cr_assert(lt_json_as_int(lt_json_at(lt_json_at(tc, 17), 16), &v) && v == 17 * C + 16);
    lt_json_free(j);
    char *md = slurp("report.md");
    cr_assert(strstr(md, " 16 | 17 |\n|---|"), "confusion header by index:\n%s", md);
    free(md);
}

// Test metrics per run; lambdas interleaved 0, 0.1, 0, 0.1, 0, 0.1.
static const float rx_lam[6] = {0.0f, 0.1f, 0.0f, 0.1f, 0.0f, 0.1f};
static const double rx_auc[6] = {0.80, 0.90, 0.85, 0.95, 0.90, 0.70};
static const double rx_acc[6] = {0.70, 0.60, 0.75, 0.70, 0.80, 0.90};
static const double rx_bacc[6] = {0.60, 0.50, 0.60, 0.55, 0.60, 0.65};
static const double rx_f1[6] = {0.50, 0.40, 0.70, 0.40, 0.90, 0.40};

static void rx_rows(lt_seed_row *rows) {
    for (int i = 0; i < 6; i++) {
        rows[i] = (lt_seed_row){.lambda = rx_lam[i], .seed = (uint64_t)(i / 2 + 1), .best_epoch = 3 + i};
        rows[i].val = (lt_cls_metrics){.auc = 0.5 + 0.01 * i, .acc = 0.5, .bacc = 0.5, .f1 = 0.5, .f1_present = 0.5,
                                       .n = 10, .n_classes = 2, .auc_classes = 1};
        rows[i].test = (lt_cls_metrics){.auc = rx_auc[i], .acc = rx_acc[i], .bacc = rx_bacc[i], .f1 = rx_f1[i],
                                        .f1_present = rx_f1[i], .n = 40, .n_classes = 2, .auc_classes = 1};
    }
}

// Two-pass mean and sample std over the runs with lambda l.
static void rx_ref(const double *v, float l, double *mean, double *sd) {
    double s = 0, ss = 0;
    int k = 0;
    for (int i = 0; i < 6; i++) if (rx_lam[i] == l) { s += v[i]; k++; }
    *mean = s / k;
    for (int i = 0; i < 6; i++) if (rx_lam[i] == l) ss += (v[i] - *mean) * (v[i] - *mean);
    *sd = sqrt(ss / (k - 1));
}

Test(report_extra, seeds_three_per_lambda_hand_values, .init = setup, .fini = teardown) {
    lt_seed_row rows[6];
    rx_rows(rows);
    cr_assert_eq(lt_report_seeds_write(lt_tmp_root, "sweep", 6, rows), LT_OK, "%s", lt_last_error());
    lt_json *j = rx_parse("seeds.json");
    cr_assert_eq(lt_json_len(lt_json_get(j, "runs")), 6);
    cr_assert_eq(rx_num(lt_json_at(lt_json_get(j, "runs"), 5), "test.auc"), 0.70);
    const lt_json *sum = lt_json_get(j, "summary");
    cr_assert_eq(lt_json_len(sum), 2, "two lambda groups");
    const lt_json *g0 = lt_json_at(sum, 0), *g1 = lt_json_at(sum, 1);
    cr_assert_eq(rx_num(g0, "lambda"), 0.0);
    cr_assert_eq((float)rx_num(g1, "lambda"), 0.1f);
    cr_assert_eq(rx_num(g0, "runs"), 3);
    cr_assert_eq(rx_num(g1, "runs"), 3);
    // By hand. lambda 0: AUC 0.80 0.85 0.90 -> 0.85 +- 0.05; acc 0.70 0.75 0.80 -> 0.75 +- 0.05;
    // bacc 0.6 x3 -> 0.6 +- 0; f1 0.5 0.7 0.9 -> 0.7 +- 0.2.
    // lambda 0.1: AUC 0.90 0.95 0.70 -> 0.85, deviations .05 .10 -.15, squares sum 0.035,
    // sample var 0.0175 -> sd 0.1322876 (the population sd would be 0.1080).
    const double t = 1e-12;
    cr_assert(fabs(rx_num(g0, "test.auc.mean") - 0.85) < t && fabs(rx_num(g0, "test.auc.std") - 0.05) < t);
    cr_assert(fabs(rx_num(g0, "test.acc.mean") - 0.75) < t && fabs(rx_num(g0, "test.acc.std") - 0.05) < t);
    cr_assert(fabs(rx_num(g0, "test.bacc.mean") - 0.6) < t && fabs(rx_num(g0, "test.bacc.std")) < t);
    cr_assert(fabs(rx_num(g0, "test.f1.mean") - 0.7) < t && fabs(rx_num(g0, "test.f1.std") - 0.2) < t);
    cr_assert(fabs(rx_num(g1, "test.auc.mean") - 0.85) < t, "%.17g", rx_num(g1, "test.auc.mean"));
    cr_assert(fabs(rx_num(g1, "test.auc.std") - sqrt(0.0175)) < t, "%.17g", rx_num(g1, "test.auc.std"));
    cr_assert_eq(rx_num(g1, "test.auc.n"), 3);
    // val AUC: lambda 0 runs 0.50 0.52 0.54, lambda 0.1 runs 0.51 0.53 0.55: +- 0.02 each.
    cr_assert(fabs(rx_num(g0, "val.auc.mean") - 0.52) < t && fabs(rx_num(g0, "val.auc.std") - 0.02) < t);
    cr_assert(fabs(rx_num(g1, "val.auc.mean") - 0.53) < t && fabs(rx_num(g1, "val.auc.std") - 0.02) < t);
    const double *vals[4] = {rx_auc, rx_acc, rx_bacc, rx_f1};
    const char *names[4] = {"auc", "acc", "bacc", "f1"};
    for (int g = 0; g < 2; g++)
        for (int w = 0; w < 4; w++) {
            double m, sd;
            rx_ref(vals[w], g ? 0.1f : 0.0f, &m, &sd);
            char km[64], ks[64];
            snprintf(km, sizeof km, "test.%s.mean", names[w]);
            snprintf(ks, sizeof ks, "test.%s.std", names[w]);
            const lt_json *grp = g ? g1 : g0;
            cr_assert(fabs(rx_num(grp, km) - m) < t, "group %d %s %.17g, want %.17g", g, km, rx_num(grp, km), m);
            cr_assert(fabs(rx_num(grp, ks) - sd) < t, "group %d %s %.17g, want %.17g", g, ks, rx_num(grp, ks), sd);
        }
    lt_json_free(j);
    char *md = slurp("seeds.md");
    cr_assert(strstr(md, "| 0 | 3 | 0.8500 ± 0.0500 | 0.7500 ± 0.0500 | 0.6000 ± 0.0000 | 0.7000 ± 0.2000 | "
                         "0.5200 ± 0.0200 |\n"), "%s", md);
    cr_assert(strstr(md, "| 0.1 | 3 | 0.8500 ± 0.1323 | 0.7333 ± 0.1528 | 0.5667 ± 0.0764 | 0.4000 ± 0.0000 | "
                         "0.5300 ± 0.0200 |\n"), "%s", md);
    cr_assert(strstr(md, "| 0 | 3 |") < strstr(md, "| 0.1 | 3 |"), "groups in order of first appearance");
    free(md);
}

// ---- attention scores, read back through data/h5.h ----

static void rx_read_slide(lt_h5 *f, const char *id, int heads, int64_t n, const float *attn, const int32_t *coords,
                          int label, int pred, const char *probs) {
    char obj[300];
    lt_h5_info info;
    cr_assert(lt_h5_has_group(f, id), "group '%s' missing", id);
    snprintf(obj, sizeof obj, "%s/attention", id);
    cr_assert_eq(lt_h5_info_get(f, obj, &info), LT_OK, "%s", lt_last_error());
    cr_assert(info.ndim == 2 && info.dims[0] == heads && info.dims[1] == n, "%s shape %dD [%lld, %lld], want [%d, %lld]",
              obj, info.ndim, (long long)info.dims[0], (long long)info.dims[1], heads, (long long)n);
    cr_assert_eq(info.type, LT_H5_F32, "%s stored as %s", obj, lt_h5_type_name(info.type));
    float *a = malloc(sizeof(float) * (size_t)(heads * n));
    cr_assert_eq(lt_h5_read_f32(f, obj, a, heads * n), LT_OK, "%s", lt_last_error());
    cr_assert(!memcmp(a, attn, sizeof(float) * (size_t)(heads * n)), "%s differs", obj);
    free(a);
    snprintf(obj, sizeof obj, "%s/coords", id);
    cr_assert_eq(lt_h5_info_get(f, obj, &info), LT_OK, "%s", lt_last_error());
    cr_assert(info.ndim == 2 && info.dims[0] == n && info.dims[1] == 2, "%s shape [%lld, %lld]", obj,
              (long long)info.dims[0], (long long)info.dims[1]);
    cr_assert_eq(info.type, LT_H5_I32, "%s stored as %s", obj, lt_h5_type_name(info.type));
    int32_t *c = malloc(sizeof(int32_t) * (size_t)(2 * n));
    cr_assert_eq(lt_h5_read_i32(f, obj, c, 2 * n), LT_OK, "%s", lt_last_error());
    for (int64_t i = 0; i < 2 * n; i++)
        cr_assert_eq(c[i], coords ? coords[i] : 0, "%s[%lld] = %d", obj, (long long)i, c[i]);
    free(c);
    int64_t v;
    cr_assert(lt_h5_attr_read_int(f, id, "label", &v) == LT_OK && v == label, "%s label %lld", id, (long long)v);
    cr_assert(lt_h5_attr_read_int(f, id, "prediction", &v) == LT_OK && v == pred, "%s prediction %lld", id,
              (long long)v);
    char buf[256];
    cr_assert_eq(lt_h5_attr_read_str(f, id, "probabilities", buf, sizeof buf), LT_OK, "%s", lt_last_error());
    cr_assert_str_eq(buf, probs, "%s probabilities", id);
}

// Two slides with `heads` heads: n = 5 with coords, n = 3 without (zeros).
static void rx_two_slides(int heads) {
    char path[512];
    snprintf(path, sizeof path, "%s/attn_h%d.h5", lt_tmp_root, heads);
    float *a1 = malloc(sizeof(float) * 5 * heads), *a2 = malloc(sizeof(float) * 3 * heads);
    for (int i = 0; i < 5 * heads; i++) a1[i] = (float)(i + 1) / (float)(5 * heads) - (i % 3 ? 0.f : 1e-7f);
    for (int i = 0; i < 3 * heads; i++) a2[i] = 1.0f / 3 + (float)i * 1e-3f;
    int32_t c1[10] = {0, 0, 256, 0, 512, -256, 2147483647, -2147483647 - 1, 7, 9};
    float p1[3] = {0.2f, 0.5f, 0.3f};    // -> 1
    float p2[3] = {0.4f, 0.4f, 0.2f};    // tie -> 0
    lt_attn_scores_writer *w;
    cr_assert_eq(lt_attn_scores_open(path, &w), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_attn_scores_add(w, "slide-A.svs", 1, p1, 3, heads, 5, a1, c1), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_attn_scores_add(w, "TCGA B 01", 2, p2, 3, heads, 3, a2, NULL), LT_OK, "%s", lt_last_error());
    cr_assert_neq(access(path, F_OK), 0, "the file exists before commit");
    cr_assert_eq(lt_attn_scores_commit(w), LT_OK, "%s", lt_last_error());
    lt_h5 *f;
    cr_assert_eq(lt_h5_open(path, &f), LT_OK, "%s", lt_last_error());
    // %.9g of the floats: 0.2f = 0.200000003, 0.3f = 0.300000012, 0.4f = 0.400000006.
    rx_read_slide(f, "slide-A.svs", heads, 5, a1, c1, 1, 1, "0.200000003,0.5,0.300000012");
    rx_read_slide(f, "TCGA B 01", heads, 3, a2, NULL, 2, 0, "0.400000006,0.400000006,0.200000003");
    int64_t v;
    char fmt[64];
    cr_assert(lt_h5_attr_read_str(f, "/", "format", fmt, sizeof fmt) == LT_OK);
    cr_assert_str_eq(fmt, "libtrain-attention-scores");
    cr_assert(lt_h5_attr_read_int(f, "/", "version", &v) == LT_OK && v == 1);
    cr_assert(lt_h5_attr_read_int(f, "/", "n_classes", &v) == LT_OK && v == 3, "n_classes %lld", (long long)v);
    cr_assert(lt_h5_attr_read_int(f, "/", "heads", &v) == LT_OK && v == heads, "heads %lld", (long long)v);
    cr_assert(lt_h5_attr_read_int(f, "/", "n_slides", &v) == LT_OK && v == 2, "n_slides %lld", (long long)v);
    lt_h5_close(f);
    // The library's reader agrees, and the probabilities read back as the exact floats.
    lt_attn_scores_bag b;
    cr_assert_eq(lt_attn_scores_read(path, "slide-A.svs", &b), LT_OK, "%s", lt_last_error());
    cr_assert(b.prob[0] == p1[0] && b.prob[1] == p1[1] && b.prob[2] == p1[2] && b.heads == heads && b.n == 5);
    lt_attn_scores_bag_free(&b);
    free(a1);
    free(a2);
}

Test(attn_scores_extra, one_head_two_slides_h5_read_back, .init = setup, .fini = teardown) {
    rx_two_slides(1);
    cr_assert_eq(dir_entries(), 1);
}

Test(attn_scores_extra, eight_heads_two_slides_h5_read_back, .init = setup, .fini = teardown) {
    rx_two_slides(8);
    cr_assert_eq(dir_entries(), 1);
}

Test(attn_scores_extra, bad_ids_and_head_mismatch_name_the_slide, .init = setup, .fini = teardown) {
    char path[512];
    snprintf(path, sizeof path, "%s/attn.h5", lt_tmp_root);
    float a1[2] = {0.4f, 0.6f}, a8[16] = {0}, p[2] = {0.3f, 0.7f};
    lt_attn_scores_writer *w;
    cr_assert_eq(lt_attn_scores_open(path, &w), LT_OK, "%s", lt_last_error());
    LT_EXPECT_FAIL(lt_attn_scores_add(w, "case7/slide1", 1, p, 2, 1, 2, a1, NULL), "'case7/slide1'", "attn.h5");
    LT_EXPECT_FAIL(lt_attn_scores_add(w, ".", 1, p, 2, 1, 2, a1, NULL), "'.'");
    char longid[260];
    memset(longid, 'x', 241);
    longid[241] = 0;
    LT_EXPECT_FAIL(lt_attn_scores_add(w, longid, 1, p, 2, 1, 2, a1, NULL), "xxxxxxxx", "240");
    cr_assert_eq(lt_attn_scores_add(w, "slide1", 1, p, 2, 1, 2, a1, NULL), LT_OK, "%s", lt_last_error());
    LT_EXPECT_FAIL(lt_attn_scores_add(w, "slide1", 0, p, 2, 1, 2, a1, NULL), "'slide1'", "twice", "attn.h5");
    LT_EXPECT_FAIL(lt_attn_scores_add(w, "slide8", 0, p, 2, 8, 2, a8, NULL), "'slide8'", "8 heads");
    // A 240-byte id is still fine.
    longid[240] = 0;
    cr_assert_eq(lt_attn_scores_add(w, longid, 0, p, 2, 1, 2, a1, NULL), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_attn_scores_commit(w), LT_OK, "%s", lt_last_error());
    lt_h5 *f;
    cr_assert_eq(lt_h5_open(path, &f), LT_OK, "%s", lt_last_error());
    rx_read_slide(f, "slide1", 1, 2, a1, NULL, 1, 1, "0.300000012,0.699999988");
    cr_assert(!lt_h5_has_group(f, "case7") && !lt_h5_has_group(f, "slide8"), "a refused slide left a group");
    int64_t v;
    cr_assert(lt_h5_attr_read_int(f, "/", "n_slides", &v) == LT_OK && v == 2, "n_slides %lld", (long long)v);
    lt_h5_close(f);
}
