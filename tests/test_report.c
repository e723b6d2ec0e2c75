// Run reports (report.json / report.md), multi-seed summaries (seeds.json /
// seeds.md) and the per-bag attention-score HDF5 file: written, read back and
// compared with hand values.
#include "lt_test.h"

#include <dirent.h>
#include <unistd.h>

#include "data/attn_scores.h"
#include "data/h5.h"
#include "libtrain/json.h"
#include "libtrain/report.h"

static char dir[64];

static void setup(void) {
    strcpy(dir, "/tmp/lt_report_XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp");
}

static void teardown(void) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    if (d) closedir(d);
    rmdir(dir);
}

static char *slurp(const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
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
    DIR *d = opendir(dir);
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
    cr_assert_eq(lt_report_write(dir, &r), LT_OK, "%s", lt_last_error());
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
    cr_assert_eq(lt_report_write(dir, &r), LT_OK, "%s", lt_last_error());
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
    cr_assert_eq(lt_report_write(dir, &r), LT_OK, "%s", lt_last_error());
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
    char p[128];
    snprintf(p, sizeof p, "%s/missing/sub", dir);
    cr_assert_eq(lt_report_write(p, &r), LT_ERR_IO);
    cr_assert(strstr(lt_last_error(), "missing/sub/report.json"), "%s", lt_last_error());
    r.n_classes = 0;
    cr_assert_eq(lt_report_write(dir, &r), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "0 classes"), "%s", lt_last_error());
    cr_assert_eq(lt_report_seeds_write(dir, "x", 0, (lt_seed_row[1]){0}), LT_ERR_ARG);
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
    cr_assert_eq(lt_report_seeds_write(dir, "aem_mil", 5, rows), LT_OK, "%s", lt_last_error());
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
    cr_assert_eq(lt_report_seeds_write(dir, NULL, 2, rows), LT_OK, "%s", lt_last_error());
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
    char path[128];
    snprintf(path, sizeof path, "%s/attention_scores.h5", dir);
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
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.h5", dir);
    cr_assert_neq(lt_attn_scores_read(missing, "bag_3", &g), LT_OK);
    cr_assert(strstr(lt_last_error(), "none.h5"), "%s", lt_last_error());
}

Test(attn_scores, abort_leaves_no_file, .init = setup, .fini = teardown) {
    char path[128];
    snprintf(path, sizeof path, "%s/a.h5", dir);
    lt_attn_scores_writer *w;
    cr_assert_eq(lt_attn_scores_open(path, &w), LT_OK, "%s", lt_last_error());
    float a[4] = {0.25f, 0.75f, 0.5f, 0.5f}, p[2] = {0.4f, 0.6f};
    cr_assert_eq(lt_attn_scores_add(w, "s", 1, p, 2, 2, 2, a, NULL), LT_OK, "%s", lt_last_error());
    lt_attn_scores_abort(w);
    cr_assert_eq(dir_entries(), 0, "abort removes the temporary file");
    lt_attn_scores_abort(NULL);
    snprintf(path, sizeof path, "%s/no/such/dir/a.h5", dir);
    cr_assert_neq(lt_attn_scores_open(path, &w), LT_OK);
    cr_assert(strstr(lt_last_error(), "no/such/dir"), "%s", lt_last_error());
}
