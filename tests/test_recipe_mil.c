// recipes/aem_mil.c through the `train` driver on a tiny generated bag dataset:
// loss falls, report / checkpoints / attention scores are written, a stopped run
// resumes to the same losses as an uninterrupted one, multi-seed summaries, and
// bad data is named before training starts.
#include "lt_test.h"

#include <sys/wait.h>
#include <unistd.h>

#include "data/h5.h"
#include "data/mil.h"
#include "libtrain/json.h"

static char out_buf[1 << 17];

static int run_recipe(const char *args) { return lt_test_run_recipe("aem_mil.c", args, out_buf, sizeof out_buf); }

// 40 bags, splits 24 / 8 / 8 (lt_test_make_bags).
static void make_bags(const char *path) { lt_test_make_bags(path, 40, 21, 24, 8); }

static char dir[64], data[128];

static void setup(void) {
    strcpy(dir, "/tmp/lt_mil_XXXXXX");
    cr_assert(mkdtemp(dir));
    snprintf(data, sizeof data, "%s/bags.h5", dir);
    make_bags(data);
}

#define COMMON "--threads=2 --d-inner=16 --lr=3e-3 --log-every=1 --prefetch=2 "

// CE by step from metrics.jsonl train records.
static int read_ce(const char *run, double *ce, int cap) {
    char p[512], line[1024];
    snprintf(p, sizeof p, "%s/metrics.jsonl", run);
    FILE *f = fopen(p, "r");
    cr_assert(f, "no %s", p);
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        long long step;
        char *q = strstr(line, "\"ce\":");
        if (sscanf(line, "{\"step\":%lld,\"split\":\"train\"", &step) == 1 && q && step >= 1 && step <= cap) {
            ce[step - 1] = atof(q + 5);
            n++;
        }
    }
    fclose(f);
    return n;
}

Test(recipe_mil, trains_reports_and_writes_attention, .init = setup, .timeout = 300) {
    char args[1024], run[256], p[512];
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(args, sizeof args, COMMON "--epochs=8 --lambda=0.1 --data=%s --out=%s", data, run);
    int rc = run_recipe(args);
    cr_assert_eq(rc, 0, "exit %d:\n%s", rc, out_buf);
    cr_assert(strstr(out_buf, "test (best val epoch"), "%s", out_buf);
    double ce[8 * 24];
    cr_assert_eq(read_ce(run, ce, 8 * 24), 8 * 24);
    double first = 0, last = 0;
    for (int i = 0; i < 24; i++) { first += ce[i]; last += ce[7 * 24 + i]; }
    cr_assert(last < 0.7 * first, "CE did not fall: first epoch %g, last epoch %g", first / 24, last / 24);
    const char *files[] = {"report.json", "report.md", "attention_scores.h5", "checkpoints/best.safetensors",
                           "checkpoints/latest", "config.json"};
    for (int i = 0; i < 6; i++) {
        snprintf(p, sizeof p, "%s/%s", run, files[i]);
        cr_assert_eq(access(p, R_OK), 0, "missing %s", p);
    }
    snprintf(p, sizeof p, "%s/report.json", run);
    FILE *f = fopen(p, "r");
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    char err[256];
    lt_json *j = lt_json_parse(buf, n, err, sizeof err);
    cr_assert(j, "report.json: %s", err);
    const lt_json *auc = lt_json_get(lt_json_get(j, "test"), "auc");
    double auc_v = 0;
    cr_assert(auc && lt_json_as_double(auc, &auc_v), "no test.auc in report.json: %s", buf);
    cr_assert(auc_v > 0.8, "test AUC %g on an easy problem", auc_v);
    lt_json_free(j);
    // attention scores: one group per val and test bag
    lt_h5 *h;
    cr_assert_eq(lt_h5_open(strcat(strcpy(p, run), "/attention_scores.h5"), &h), LT_OK);
    cr_assert(lt_h5_has_dataset(h, "bag_30/attention") && lt_h5_has_dataset(h, "bag_39/coords"));
    lt_h5_close(h);
}

Test(recipe_mil, resume_matches_uninterrupted, .init = setup, .timeout = 300) {
    char args[1024], a[256], b[256];
    snprintf(a, sizeof a, "%s/full", dir);
    snprintf(b, sizeof b, "%s/split", dir);
    snprintf(args, sizeof args, COMMON "--epochs=4 --dropout=0.25 --subsample=0.7 --data=%s --out=%s", data, a);
    cr_assert_eq(run_recipe(args), 0, "%s", out_buf);
    snprintf(args, sizeof args, COMMON "--epochs=4 --dropout=0.25 --subsample=0.7 --stop-at=2 --data=%s --out=%s", data, b);
    cr_assert_eq(run_recipe(args), 0, "%s", out_buf);
    cr_assert(strstr(out_buf, "stopped after epoch 2"), "%s", out_buf);
    snprintf(args, sizeof args, COMMON "--epochs=4 --dropout=0.25 --subsample=0.7 --resume --data=%s --out=%s", data, b);
    cr_assert_eq(run_recipe(args), 0, "%s", out_buf);
    double ca[96], cb[96];
    cr_assert_eq(read_ce(a, ca, 96), 96);
    cr_assert_eq(read_ce(b, cb, 96), 96);
    for (int i = 0; i < 96; i++) cr_assert(ca[i] == cb[i], "step %d: %.9g vs resumed %.9g", i + 1, ca[i], cb[i]);
}

Test(recipe_mil, seeds_and_compare_lambda_summary, .init = setup, .timeout = 300) {
    char args[1024], p[512];
    snprintf(args, sizeof args, COMMON "--epochs=2 --seeds=2 --compare-lambda=0,0.1 --data=%s --out=%s/cmp", data, dir);
    int rc = run_recipe(args);
    cr_assert_eq(rc, 0, "exit %d:\n%s", rc, out_buf);
    snprintf(p, sizeof p, "%s/cmp/seeds.md", dir);
    cr_assert_eq(access(p, R_OK), 0);
    cr_assert(strstr(out_buf, "| 0 | 2 |") && strstr(out_buf, "| 0.1 | 2 |"), "%s", out_buf);
    snprintf(p, sizeof p, "%s/cmp/lambda_0.1/seed_6/report.json", dir);
    cr_assert_eq(access(p, R_OK), 0, "missing %s", p);
}

Test(recipe_mil, bad_data_is_named_before_training, .init = setup, .timeout = 120) {
    char args[1024];
    snprintf(args, sizeof args, COMMON "--data=%s/missing.h5 --out=%s/x", dir, dir);
    cr_assert_eq(run_recipe(args), 1, "%s", out_buf);
    cr_assert(strstr(out_buf, "missing.h5"), "%s", out_buf);
    cr_assert_null(strstr(out_buf, "step "), "training started on missing data");
    snprintf(args, sizeof args, COMMON "--data=%s --csv=%s/none.csv --layout=clam --out=%s/y", dir, dir, dir);
    cr_assert_eq(run_recipe(args), 1, "%s", out_buf);
    cr_assert(strstr(out_buf, "none.csv"), "%s", out_buf);
    cr_assert_eq(run_recipe("--lambda=abc"), 2, "%s", out_buf);
    cr_assert(strstr(out_buf, "lambda"), "%s", out_buf);
}
