#include "libtrain/report.h"
#include "libtrain/atomic_file.h"
#include "libtrain/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- small writers ----

// Shortest %g form that reads back as the same float (0.1f -> "0.1"), so a
// lambda shows as typed rather than as its double expansion.
static void float_str(char *buf, size_t n, float v) {
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, n, "%.*g", p, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}

static void json_float(FILE *f, float v) {
    char b[32];
    if (!isfinite(v)) { fputs("null", f); return; }
    float_str(b, sizeof b, v);
    fputs(b, f);
}

// Text inside a markdown table cell or heading: '|' escaped, line breaks as spaces.
static void md_text(FILE *f, const char *s) {
    for (; s && *s; s++) {
        if (*s == '|') fputs("\\|", f);
        else if (*s == '\n' || *s == '\r' || *s == '\t') fputc(' ', f);
        else fputc(*s, f);
    }
}

static void md_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, " %.4f |", v);
    else fputs(" n/a |", f);
}

static void metrics_json(FILE *f, const lt_cls_metrics *m) {
    fputs("{\"auc\": ", f); lt_json_write_number(f, m->auc);
    fputs(", \"acc\": ", f); lt_json_write_number(f, m->acc);
    fputs(", \"bacc\": ", f); lt_json_write_number(f, m->bacc);
    fputs(", \"f1\": ", f); lt_json_write_number(f, m->f1);
    fputs(", \"f1_present\": ", f); lt_json_write_number(f, m->f1_present);
    fprintf(f, ", \"n\": %d, \"auc_classes\": %d}", m->n, m->auc_classes);
}

typedef void (*body_fn)(FILE *, const void *);

static lt_status write_file(const char *dir, const char *name, body_fn body, const void *ud) {
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    if (!p) return lt_error(LT_ERR_OOM, "report: path %s/%s", dir, name);
    snprintf(p, len, "%s/%s", dir, name);
    lt_atomic_file af;
    lt_status s = lt_atomic_open(&af, p);
    free(p);
    if (s != LT_OK) return s;
    body(af.fp, ud);
    return lt_atomic_commit(&af);
}

// ---- report.json / report.md ----

static void class_name(const lt_report *r, int c, char *buf, size_t n) {
    const char *s = c < LT_REPORT_MAX_CLASSES ? r->class_names[c] : NULL;
    if (s) snprintf(buf, n, "%s", s);
    else snprintf(buf, n, "%d", c);
}

// Why a metric is undefined or has a second reading; one line per note, NULL-free.
static int report_notes(const lt_report *r, char notes[4][256]) {
    int k = 0;
    const lt_cls_metrics *m[2] = {&r->val, &r->test};
    const char *split[2] = {"val", "test"};
    for (int i = 0; i < 2; i++) {
        if (isnan(m[i]->auc))
            snprintf(notes[k++], 256, "%s AUC undefined: no class has both positive and negative bags among its %d bags",
                     split[i], m[i]->n);
        if (m[i]->f1 != m[i]->f1_present && !isnan(m[i]->f1))
            snprintf(notes[k++], 256, "%s macro F1 averages all %d classes; over the classes that occur it is %.4f",
                     split[i], r->n_classes, m[i]->f1_present);
    }
    return k;
}

static void report_json(FILE *f, const void *ud) {
    const lt_report *r = ud;
    char name[256], notes[4][256];
    fputs("{\n  \"title\": ", f); lt_json_write_string(f, r->title ? r->title : "report");
    fputs(",\n  \"data\": ", f); lt_json_write_string(f, r->data ? r->data : "");
    fprintf(f, ",\n  \"seed\": %llu,\n  \"lambda\": ", (unsigned long long)r->seed);
    json_float(f, r->lambda);
    if (r->lambda_spec) { fputs(",\n  \"lambda_spec\": ", f); lt_json_write_string(f, r->lambda_spec); }
    fprintf(f, ",\n  \"best_epoch\": %d,\n  \"best_step\": %lld,\n  \"epochs\": %d,\n", r->best_epoch,
            (long long)r->best_step, r->epochs);
    fprintf(f, "  \"bags\": {\"train\": %d, \"val\": %d, \"test\": %d},\n  \"classes\": [", r->n_train, r->n_val,
            r->n_test);
    for (int c = 0; c < r->n_classes; c++) {
        class_name(r, c, name, sizeof name);
        if (c) fputs(", ", f);
        lt_json_write_string(f, name);
    }
    fputs("],\n  \"val\": ", f); metrics_json(f, &r->val);
    fputs(",\n  \"test\": ", f); metrics_json(f, &r->test);
    if (r->confusion) {
        fputs(",\n  \"test_confusion\": [", f);
        for (int i = 0; i < r->n_classes; i++) {
            fputs(i ? ", [" : "[", f);
            for (int j = 0; j < r->n_classes; j++)
                fprintf(f, j ? ", %lld" : "%lld", (long long)r->confusion[(size_t)i * r->n_classes + j]);
            fputs("]", f);
        }
        fputs("]", f);
    }
    int nn = report_notes(r, notes);
    fputs(",\n  \"notes\": [", f);
    for (int i = 0; i < nn; i++) {
        if (i) fputs(", ", f);
        lt_json_write_string(f, notes[i]);
    }
    fputs("]\n}\n", f);
}

static void report_md(FILE *f, const void *ud) {
    const lt_report *r = ud;
    char name[256], lam[32], notes[4][256];
    fputs("# ", f); md_text(f, r->title ? r->title : "report"); fputs("\n\n", f);
    fputs("| | |\n|---|---|\n| data | ", f); md_text(f, r->data ? r->data : ""); fputs(" |\n", f);
    fprintf(f, "| seed | %llu |\n", (unsigned long long)r->seed);
    float_str(lam, sizeof lam, r->lambda);
    fprintf(f, "| lambda | %s", lam);
    if (r->lambda_spec) { fputs(" (", f); md_text(f, r->lambda_spec); fputs(")", f); }
    fprintf(f, " |\n| best epoch | %d of %d", r->best_epoch, r->epochs);
    if (r->best_step > 0) fprintf(f, " (step %lld)", (long long)r->best_step);
    fprintf(f, " |\n| bags | %d train, %d val, %d test |\n\n", r->n_train, r->n_val, r->n_test);

    fputs("| split | bags | AUC | accuracy | balanced acc. | macro F1 |\n|---|---|---|---|---|---|\n", f);
    const lt_cls_metrics *m[2] = {&r->val, &r->test};
    const char *split[2] = {"val (best epoch)", "test"};
    for (int i = 0; i < 2; i++) {
        fprintf(f, "| %s | %d |", split[i], m[i]->n);
        md_num(f, m[i]->auc); md_num(f, m[i]->acc); md_num(f, m[i]->bacc); md_num(f, m[i]->f1);
        fputs("\n", f);
    }
    if (r->confusion) {
        fputs("\nTest confusion matrix (rows: true class, columns: predicted)\n\n| true \\ predicted |", f);
        for (int j = 0; j < r->n_classes; j++) {
            class_name(r, j, name, sizeof name);
            fputs(" ", f); md_text(f, name); fputs(" |", f);
        }
        fputs("\n|---|", f);
        for (int j = 0; j < r->n_classes; j++) fputs("---|", f);
        for (int i = 0; i < r->n_classes; i++) {
            class_name(r, i, name, sizeof name);
            fputs("\n| ", f); md_text(f, name); fputs(" |", f);
            for (int j = 0; j < r->n_classes; j++)
                fprintf(f, " %lld |", (long long)r->confusion[(size_t)i * r->n_classes + j]);
        }
        fputs("\n", f);
    }
    int nn = report_notes(r, notes);
    if (nn) fputs("\n", f);
    for (int i = 0; i < nn; i++) fprintf(f, "- %s\n", notes[i]);
}

lt_status lt_report_write(const char *run_dir, const lt_report *r) {
    if (!run_dir || !r) return lt_error(LT_ERR_ARG, "lt_report_write: NULL run folder or report");
    if (r->n_classes < 1)
        return lt_error(LT_ERR_ARG, "lt_report_write: %d classes for run folder %s", r->n_classes, run_dir);
    LT_TRY(write_file(run_dir, "report.json", report_json, r));
    return write_file(run_dir, "report.md", report_md, r);
}

// ---- seeds.json / seeds.md ----

int lt_report_mean_std(const double *v, int n, double *mean, double *sd) {
    double sum = 0;
    int k = 0;
    for (int i = 0; i < n; i++) if (!isnan(v[i])) { sum += v[i]; k++; }
    *mean = k ? sum / k : NAN;
    double sq = 0;   // two passes: no cancellation when the spread is tiny
    for (int i = 0; i < n; i++) if (!isnan(v[i])) sq += (v[i] - *mean) * (v[i] - *mean);
    *sd = k > 1 ? sqrt(sq / (k - 1)) : NAN;
    return k;
}

enum { N_METRICS = 4 };
static const char *const metric_key[N_METRICS] = {"auc", "acc", "bacc", "f1"};
static const char *const metric_label[N_METRICS] = {"AUC", "accuracy", "balanced acc.", "macro F1"};

static double metric_of(const lt_cls_metrics *m, int w) {
    return w == 0 ? m->auc : w == 1 ? m->acc : w == 2 ? m->bacc : m->f1;
}

typedef struct {
    const char *title;
    int n;
    const lt_seed_row *rows;
    double *buf;   // [n] scratch
} seeds_ud;

static int first_of_group(const seeds_ud *s, int i) {
    for (int j = 0; j < i; j++) if (s->rows[j].lambda == s->rows[i].lambda) return 0;
    return 1;
}

// Stats of metric w of split `test` (1) or val (0) over the runs with lambda `lam`.
static int group_stats(const seeds_ud *s, float lam, int test, int w, int *runs, double *mean, double *sd) {
    int k = 0;
    for (int i = 0; i < s->n; i++)
        if (s->rows[i].lambda == lam) s->buf[k++] = metric_of(test ? &s->rows[i].test : &s->rows[i].val, w);
    *runs = k;
    return lt_report_mean_std(s->buf, k, mean, sd);
}

static void seeds_json(FILE *f, const void *ud) {
    const seeds_ud *s = ud;
    fputs("{\n  \"title\": ", f); lt_json_write_string(f, s->title);
    fputs(",\n  \"runs\": [", f);
    for (int i = 0; i < s->n; i++) {
        fprintf(f, "%s\n    {\"lambda\": ", i ? "," : "");
        json_float(f, s->rows[i].lambda);
        fprintf(f, ", \"seed\": %llu, \"best_epoch\": %d, \"val\": ", (unsigned long long)s->rows[i].seed,
                s->rows[i].best_epoch);
        metrics_json(f, &s->rows[i].val);
        fputs(", \"test\": ", f);
        metrics_json(f, &s->rows[i].test);
        fputs("}", f);
    }
    fputs("\n  ],\n  \"summary\": [", f);
    int first = 1;
    for (int i = 0; i < s->n; i++) {
        if (!first_of_group(s, i)) continue;
        float lam = s->rows[i].lambda;
        int runs;
        double m, sd;
        group_stats(s, lam, 1, 0, &runs, &m, &sd);
        fprintf(f, "%s\n    {\"lambda\": ", first ? "" : ",");
        json_float(f, lam);
        fprintf(f, ", \"runs\": %d", runs);
        first = 0;
        for (int t = 1; t >= 0; t--) {
            fprintf(f, ", \"%s\": {", t ? "test" : "val");
            for (int w = 0; w < N_METRICS; w++) {
                int k = group_stats(s, lam, t, w, &runs, &m, &sd);
                fprintf(f, "%s\"%s\": {\"mean\": ", w ? ", " : "", metric_key[w]);
                lt_json_write_number(f, m);
                fputs(", \"std\": ", f);
                lt_json_write_number(f, sd);
                fprintf(f, ", \"n\": %d}", k);
            }
            fputs("}", f);
        }
        fputs("}", f);
    }
    fputs("\n  ]\n}\n", f);
}

static void md_mean_std(FILE *f, int k, int runs, double m, double sd) {
    if (isnan(m)) fputs(" n/a", f);
    else if (isnan(sd)) fprintf(f, " %.4f", m);
    else fprintf(f, " %.4f ± %.4f", m, sd);
    if (k < runs) fprintf(f, " (%d of %d)", k, runs);
    fputs(" |", f);
}

static void seeds_md(FILE *f, const void *ud) {
    const seeds_ud *s = ud;
    char lam[32];
    fputs("# ", f); md_text(f, s->title); fputs(": mean ± sample std over seeds\n\n| lambda | seeds |", f);
    for (int w = 0; w < N_METRICS; w++) fprintf(f, " test %s |", metric_label[w]);
    fputs(" val AUC |\n|---|---|", f);
    for (int w = 0; w <= N_METRICS; w++) fputs("---|", f);
    fputs("\n", f);
    int undefined = 0, single = 0;
    for (int i = 0; i < s->n; i++) {
        if (!first_of_group(s, i)) continue;
        float l = s->rows[i].lambda;
        int runs, k;
        double m, sd;
        float_str(lam, sizeof lam, l);
        group_stats(s, l, 1, 0, &runs, &m, &sd);
        fprintf(f, "| %s | %d |", lam, runs);
        single |= runs == 1;
        for (int w = 0; w < N_METRICS; w++) {
            k = group_stats(s, l, 1, w, &runs, &m, &sd);
            undefined |= k < runs;
            md_mean_std(f, k, runs, m, sd);
        }
        k = group_stats(s, l, 0, 0, &runs, &m, &sd);
        undefined |= k < runs;
        md_mean_std(f, k, runs, m, sd);
        fputs("\n", f);
    }
    fputs("\n| lambda | seed | best epoch | val AUC |", f);
    for (int w = 0; w < N_METRICS; w++) fprintf(f, " test %s |", metric_label[w]);
    fputs("\n|---|---|---|---|", f);
    for (int w = 0; w < N_METRICS; w++) fputs("---|", f);
    fputs("\n", f);
    for (int i = 0; i < s->n; i++) {
        const lt_seed_row *r = &s->rows[i];
        float_str(lam, sizeof lam, r->lambda);
        fprintf(f, "| %s | %llu | %d |", lam, (unsigned long long)r->seed, r->best_epoch);
        md_num(f, r->val.auc);
        for (int w = 0; w < N_METRICS; w++) md_num(f, metric_of(&r->test, w));
        fputs("\n", f);
    }
    fputs("\n- std: sample standard deviation (n - 1) over the runs of a lambda group\n", f);
    if (single) fputs("- a group with one run shows its value alone: the sample std needs two\n", f);
    if (undefined) fputs("- (k of n): the metric was undefined (n/a) in the other runs and is averaged over k\n", f);
}

lt_status lt_report_seeds_write(const char *dir, const char *title, int n, const lt_seed_row *rows) {
    if (!dir || !rows || n < 1) return lt_error(LT_ERR_ARG, "lt_report_seeds_write: no runs to summarize (n=%d)", n);
    seeds_ud s = {title ? title : "runs", n, rows, malloc(sizeof(double) * (size_t)n)};
    if (!s.buf) return lt_error(LT_ERR_OOM, "lt_report_seeds_write: %d runs", n);
    lt_status st = write_file(dir, "seeds.json", seeds_json, &s);
    if (st == LT_OK) st = write_file(dir, "seeds.md", seeds_md, &s);
    free(s.buf);
    return st;
}
