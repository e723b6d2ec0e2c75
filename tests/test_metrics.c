// Classification metrics: hand-worked AUC / F1 / balanced-accuracy examples with
// ties, absent and never-predicted classes, and random data with many ties
// against independent brute-force references (exact equality for AUC).
#include "lt_test.h"

#include "libtrain/metrics.h"

// Brute-force AUC: over all (positive, negative) pairs, 1 for a win and 1/2 for a tie.
static double auc_pairs(const float *s, const unsigned char *pos, int n) {
    double wins = 0;
    int64_t np = 0, nn = 0;
    for (int i = 0; i < n; i++) {
        if (pos[i]) np++;
        else nn++;
    }
    if (!np || !nn) return NAN;
    for (int i = 0; i < n; i++) {
        if (!pos[i]) continue;
        for (int j = 0; j < n; j++) {
            if (pos[j]) continue;
            wins += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
        }
    }
    return wins / ((double)np * (double)nn);
}

// Binary metrics through lt_cls_metrics_compute with rows [1 - s, s].
static lt_cls_metrics binary(const int32_t *y, const float *s, int n, int64_t *conf) {
    float *prob = malloc(sizeof(float) * 2 * (size_t)n);
    for (int i = 0; i < n; i++) { prob[2 * i] = 1.f - s[i]; prob[2 * i + 1] = s[i]; }
    lt_cls_metrics m;
    cr_assert_eq(lt_cls_metrics_compute(y, prob, n, 2, &m, conf), LT_OK, "%s", lt_last_error());
    free(prob);
    return m;
}

static void check_auc(const char *name, const int32_t *y, const float *s, int n, double want) {
    unsigned char pos[64];
    for (int i = 0; i < n; i++) pos[i] = (unsigned char)y[i];
    double a = lt_roc_auc(s, pos, n);
    cr_assert_eq(a, want, "%s: lt_roc_auc %.17g, want %.17g", name, a, want);
    cr_assert_eq(auc_pairs(s, pos, n), want, "%s: the brute-force reference disagrees with the hand value", name);
    lt_cls_metrics m = binary(y, s, n, NULL);
    cr_assert_eq(m.auc, want, "%s: metrics auc %.17g, want %.17g", name, m.auc, want);
    cr_assert_eq(m.auc_classes, 1);
}

Test(metrics, binary_auc_hand_examples) {
    // positives {0.35, 0.8} vs negatives {0.1, 0.4}: 0.35 beats 0.1 only, 0.8 beats both: 3/4.
    check_auc("mixed", (int32_t[]){0, 0, 1, 1}, (float[]){0.1f, 0.4f, 0.35f, 0.8f}, 4, 0.75);
    check_auc("all tied", (int32_t[]){0, 1, 1, 0, 1}, (float[]){0.3f, 0.3f, 0.3f, 0.3f, 0.3f}, 5, 0.5);
    check_auc("perfect", (int32_t[]){0, 1, 0, 1, 1}, (float[]){0.1f, 0.7f, 0.2f, 0.9f, 0.8f}, 5, 1.0);
    check_auc("inverted", (int32_t[]){1, 0, 1, 0}, (float[]){0.1f, 0.7f, 0.2f, 0.9f}, 4, 0.0);
    // positives {0.5, 0.9} vs negatives {0.5, 0.5}: 0.5 ties both (1/2 + 1/2), 0.9 wins both: 3/4.
    check_auc("ties across classes", (int32_t[]){0, 1, 0, 1}, (float[]){0.5f, 0.5f, 0.5f, 0.9f}, 4, 0.75);
    // positives {0.2, 0.6, 0.6} vs negatives {0.2, 0.6, 0.8}: 0.2 -> 1/2; each 0.6 -> 1 + 1/2; total 3.5/9.
    check_auc("tie groups", (int32_t[]){1, 0, 1, 0, 1, 0}, (float[]){0.2f, 0.2f, 0.6f, 0.6f, 0.6f, 0.8f}, 6, 3.5 / 9);
    // one positive among ties at the top and bottom: 0.4 vs {0.4, 0.1, 0.9} -> (1/2 + 1 + 0) / 3.
    check_auc("single positive", (int32_t[]){0, 1, 0, 0}, (float[]){0.4f, 0.4f, 0.1f, 0.9f}, 4, 0.5);
}

Test(metrics, auc_undefined_without_both_classes) {
    float s[3] = {0.2f, 0.9f, 0.4f};
    unsigned char none[3] = {0, 0, 0}, all[3] = {1, 1, 1};
    cr_assert(isnan(lt_roc_auc(s, none, 3)));
    cr_assert(isnan(lt_roc_auc(s, all, 3)));
    cr_assert(isnan(lt_roc_auc(s, (unsigned char[]){1}, 1)), "n = 1");
    cr_assert(isnan(lt_roc_auc((float[]){0.1f, NAN}, (unsigned char[]){0, 1}, 2)), "a NaN score");
    int64_t conf[4];
    lt_cls_metrics m = binary((int32_t[]){1, 1, 1}, s, 3, conf);
    cr_assert(isnan(m.auc) && m.auc_classes == 0, "auc %g over %d classes", m.auc, m.auc_classes);
    // predictions 0, 1, 0 (0.4 < 0.5): accuracy 1/3; recall of the only present class 1/3.
    cr_assert_eq(m.acc, 1.0 / 3);
    cr_assert_eq(m.bacc, 1.0 / 3);
    cr_assert(conf[0] == 0 && conf[1] == 0 && conf[2] == 2 && conf[3] == 1, "confusion %lld %lld %lld %lld",
              (long long)conf[0], (long long)conf[1], (long long)conf[2], (long long)conf[3]);
}

Test(metrics, binary_auc_uses_class_one_score) {
    // Unnormalized rows: class 0's column would rank the bags differently, so
    // this tells which column the binary AUC reads.
    int32_t y[4] = {0, 1, 0, 1};
    float prob[8] = {0.9f, 0.2f, 0.1f, 0.6f, 0.0f, 0.3f, 0.5f, 0.8f};
    lt_cls_metrics m;
    cr_assert_eq(lt_cls_metrics_compute(y, prob, 4, 2, &m, NULL), LT_OK);
    // class 1 scores: negatives {0.2, 0.3}, positives {0.6, 0.8}: 1.
    cr_assert_eq(m.auc, 1.0);
}

// Rows of p0..p2 for the multi-class examples.
#define ROW(a, b, c) a##f, b##f, c##f

Test(metrics, multiclass_ovr_hand_example) {
    int32_t y[6] = {0, 0, 1, 1, 2, 2};
    float prob[18] = {ROW(0.6, 0.3, 0.1), ROW(0.2, 0.5, 0.3), ROW(0.2, 0.6, 0.2),
                      ROW(0.2, 0.4, 0.4), ROW(0.1, 0.2, 0.7), ROW(0.3, 0.4, 0.3)};
    // class 0: positives {0.6, 0.2} vs {0.2, 0.2, 0.1, 0.3}: 4 + (1/2 + 1/2 + 1) = 6/8
    // class 1: positives {0.6, 0.4} vs {0.3, 0.5, 0.2, 0.4}: 4 + (1 + 1 + 1/2) = 6.5/8
    // class 2: positives {0.7, 0.3} vs {0.1, 0.3, 0.2, 0.4}: 4 + (1 + 1/2 + 1) = 6.5/8
    double want_auc = (6.0 / 8 + 6.5 / 8 + 6.5 / 8) / 3;
    int64_t conf[9];
    lt_cls_metrics m;
    cr_assert_eq(lt_cls_metrics_compute(y, prob, 6, 3, &m, conf), LT_OK, "%s", lt_last_error());
    cr_assert(fabs(m.auc - want_auc) < 1e-15, "auc %.17g, want %.17g", m.auc, want_auc);
    cr_assert_eq(m.auc_classes, 3);
    // Predictions 0, 1, 1, 1 (0.4 = 0.4: the first maximum), 2, 1.
    int64_t want_conf[9] = {1, 1, 0, 0, 2, 0, 0, 1, 1};
    for (int i = 0; i < 9; i++) cr_assert_eq(conf[i], want_conf[i], "confusion[%d] = %lld", i, (long long)conf[i]);
    cr_assert(fabs(m.acc - 4.0 / 6) < 1e-15);
    cr_assert(fabs(m.bacc - (0.5 + 1 + 0.5) / 3) < 1e-15);
    // F1: class 0 2*1/(2+1), class 1 2*2/(2+4), class 2 2*1/(2+1): each 2/3.
    cr_assert(fabs(m.f1 - 2.0 / 3) < 1e-15 && fabs(m.f1_present - 2.0 / 3) < 1e-15, "f1 %.17g", m.f1);
    cr_assert_eq(m.n, 6);
    cr_assert_eq(m.n_classes, 3);
}

// One-hot-ish probabilities predicting pred[i].
static void rows_for(const int *pred, int n, int C, float *prob) {
    for (int i = 0; i < n; i++)
        for (int c = 0; c < C; c++) prob[i * C + c] = c == pred[i] ? 0.8f : 0.2f / (C - 1);
}

Test(metrics, f1_and_balanced_accuracy_with_a_class_never_predicted) {
    int32_t y[6] = {0, 0, 1, 1, 2, 2};
    int pred[6] = {0, 0, 1, 0, 0, 1};
    float prob[18];
    rows_for(pred, 6, 3, prob);
    lt_cls_metrics m;
    cr_assert_eq(lt_cls_metrics_compute(y, prob, 6, 3, &m, NULL), LT_OK);
    cr_assert(fabs(m.acc - 0.5) < 1e-15);
    cr_assert(fabs(m.bacc - (1.0 + 0.5 + 0.0) / 3) < 1e-15, "bacc %.17g", m.bacc);
    // F1: class 0 tp 2 fp 2 fn 0 -> 4/6; class 1 tp 1 fp 1 fn 1 -> 2/4; class 2 (never predicted) 0.
    // sklearn f1_score(y, pred, average='macro') = 7/18 = 0.38889.
    cr_assert(fabs(m.f1 - 7.0 / 18) < 1e-15, "f1 %.17g", m.f1);
    cr_assert(fabs(m.f1_present - 7.0 / 18) < 1e-15, "class 2 is in y, so it counts in both conventions");
}

Test(metrics, class_absent_from_labels) {
    // Class 2 predicted once but absent from y: it lowers F1 in both conventions,
    // is left out of balanced accuracy, and has no AUC (no positives).
    int32_t y[4] = {0, 0, 1, 1};
    int pred_a[4] = {0, 1, 1, 2};
    float prob[12];
    rows_for(pred_a, 4, 3, prob);
    lt_cls_metrics m;
    cr_assert_eq(lt_cls_metrics_compute(y, prob, 4, 3, &m, NULL), LT_OK);
    cr_assert(fabs(m.bacc - 0.5) < 1e-15, "bacc %.17g", m.bacc);
    cr_assert(fabs(m.f1 - (2.0 / 3 + 0.5 + 0) / 3) < 1e-15, "f1 %.17g", m.f1);
    cr_assert(fabs(m.f1_present - m.f1) < 1e-15);
    cr_assert_eq(m.auc_classes, 2, "class 2 has no positives: %d classes in the AUC", m.auc_classes);

    // Class 2 neither in y nor predicted: all-C macro counts it as 0, the
    // sklearn convention leaves it out.
    int pred_b[4] = {0, 1, 1, 1};
    rows_for(pred_b, 4, 3, prob);
    cr_assert_eq(lt_cls_metrics_compute(y, prob, 4, 3, &m, NULL), LT_OK);
    // class 0: tp 1, fn 1 -> 2/3; class 1: tp 2, fp 1 -> 4/5.
    cr_assert(fabs(m.f1 - (2.0 / 3 + 4.0 / 5) / 3) < 1e-15, "f1 %.17g", m.f1);
    cr_assert(fabs(m.f1_present - (2.0 / 3 + 4.0 / 5) / 2) < 1e-15, "f1_present %.17g", m.f1_present);
    cr_assert(fabs(m.bacc - (0.5 + 1.0) / 2) < 1e-15);
    cr_assert(fabs(m.acc - 0.75) < 1e-15);
    // class 0 scores 0.8 for bag 0 only: positives {0.8, 0.1} vs {0.1, 0.1}: (2 + 1) / 4.
    // class 1 is the mirror image: positives {0.8, 0.8} vs {0.1, 0.8}: (2 + 1) / 4.
    cr_assert_eq(m.auc_classes, 2);
    cr_assert(fabs(m.auc - 0.75) < 1e-15, "auc %.17g", m.auc);
}

Test(metrics, random_ties_match_brute_force_exactly) {
    const int sizes[] = {1, 3, 63, 1000};
    for (int k = 0; k < 4; k++) {
        int n = sizes[k];
        for (int rep = 0; rep < 3; rep++) {
            lt_rng r;
            lt_rng_init(&r, 1000 + 10 * k + rep);
            float *s = malloc(sizeof(float) * n);
            unsigned char *pos = malloc(n);
            for (int i = 0; i < n; i++) {
                s[i] = (float)lt_rng_below(&r, 11) / 10.f;   // 11 distinct values: many ties
                pos[i] = lt_rng_uniform(&r) < (rep == 2 ? 0.05f : 0.4f);
            }
            double a = lt_roc_auc(s, pos, n), b = auc_pairs(s, pos, n);
            cr_assert(a == b || (isnan(a) && isnan(b)), "n=%d rep %d: %.17g vs brute force %.17g", n, rep, a, b);
            if (n == 1000) cr_assert(!isnan(a));
            free(s);
            free(pos);
        }
    }
}

// Independent multi-class reference: argmax, confusion, recalls, F1s, OvR AUC by pairs.
static void reference(const int32_t *y, const float *prob, int n, int C, lt_cls_metrics *m) {
    int64_t tp[8] = {0}, t[8] = {0}, p[8] = {0}, correct = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int c = 0; c < C; c++) if (prob[i * C + c] > prob[i * C + best]) best = c;
        t[y[i]]++;
        p[best]++;
        if (best == y[i]) { tp[best]++; correct++; }
    }
    double rec = 0, f1 = 0, auc = 0;
    int nrec = 0, nf1 = 0, nauc = 0;
    float *s = malloc(sizeof(float) * n);
    unsigned char *pos = malloc(n);
    for (int c = 0; c < C; c++) {
        if (t[c]) { rec += (double)tp[c] / t[c]; nrec++; }
        double prec = p[c] ? (double)tp[c] / p[c] : 0, re = t[c] ? (double)tp[c] / t[c] : 0;
        if (t[c] || p[c]) nf1++;
        f1 += prec + re > 0 ? 2 * prec * re / (prec + re) : 0;
        for (int i = 0; i < n; i++) { s[i] = prob[i * C + c]; pos[i] = y[i] == c; }
        double a = auc_pairs(s, pos, n);
        if (!isnan(a)) { auc += a; nauc++; }
    }
    free(s);
    free(pos);
    m->acc = (double)correct / n;
    m->bacc = rec / nrec;
    m->f1 = f1 / C;
    m->f1_present = f1 / nf1;
    m->auc = nauc ? auc / nauc : NAN;
    m->auc_classes = nauc;
}

Test(metrics, random_multiclass_matches_reference) {
    const int sizes[] = {1, 3, 63, 1000}, classes[] = {3, 4, 5, 7};
    for (int k = 0; k < 4; k++) {
        int n = sizes[k], C = classes[k];
        lt_rng r;
        lt_rng_init(&r, 77 + k);
        int32_t *y = malloc(sizeof(int32_t) * n);
        float *prob = malloc(sizeof(float) * n * C);
        for (int i = 0; i < n; i++) {
            // class C-1 neither occurs in y nor wins an argmax; the others' probabilities
            // lie on a coarse grid, so ties are common
            y[i] = (int32_t)lt_rng_below(&r, C - 1);
            float sum = 0;
            for (int c = 0; c < C; c++) {
                prob[i * C + c] = c == C - 1 ? 0.5f : (float)(1 + lt_rng_below(&r, 4));
                sum += prob[i * C + c];
            }
            for (int c = 0; c < C; c++) prob[i * C + c] /= sum;
        }
        lt_cls_metrics m, want;
        cr_assert_eq(lt_cls_metrics_compute(y, prob, n, C, &m, NULL), LT_OK, "%s", lt_last_error());
        reference(y, prob, n, C, &want);
        cr_assert(fabs(m.acc - want.acc) < 1e-12, "n=%d acc %.17g vs %.17g", n, m.acc, want.acc);
        cr_assert(fabs(m.bacc - want.bacc) < 1e-12, "n=%d bacc %.17g vs %.17g", n, m.bacc, want.bacc);
        cr_assert(fabs(m.f1 - want.f1) < 1e-12, "n=%d f1 %.17g vs %.17g", n, m.f1, want.f1);
        cr_assert(fabs(m.f1_present - want.f1_present) < 1e-12, "n=%d f1_present %.17g vs %.17g", n, m.f1_present,
                  want.f1_present);
        cr_assert_eq(m.auc_classes, want.auc_classes, "n=%d", n);
        cr_assert((isnan(m.auc) && isnan(want.auc)) || fabs(m.auc - want.auc) < 1e-12, "n=%d auc %.17g vs %.17g", n,
                  m.auc, want.auc);
        if (n == 1000) cr_assert(m.f1 < m.f1_present, "the absent class must pull the all-C macro F1 down");
        free(y);
        free(prob);
    }
}

Test(metrics, bad_input_is_named) {
    float prob[6] = {0.5f, 0.5f, 0.2f, 0.8f, 0.9f, 0.1f};
    lt_cls_metrics m;
    cr_assert_eq(lt_cls_metrics_compute((int32_t[]){0, 3, 1}, prob, 3, 2, &m, NULL), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "label 3 of sample 1"), "%s", lt_last_error());
    cr_assert_eq(lt_cls_metrics_compute((int32_t[]){0, -1, 1}, prob, 3, 2, &m, NULL), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "label -1"), "%s", lt_last_error());
    prob[3] = NAN;
    cr_assert_eq(lt_cls_metrics_compute((int32_t[]){0, 1, 1}, prob, 3, 2, &m, NULL), LT_ERR_NONFINITE);
    cr_assert(strstr(lt_last_error(), "[1, 1]") && strstr(lt_last_error(), "[3, 2]"), "%s", lt_last_error());
    prob[3] = INFINITY;
    cr_assert_eq(lt_cls_metrics_compute((int32_t[]){0, 1, 1}, prob, 3, 2, &m, NULL), LT_ERR_NONFINITE);
    cr_assert_eq(lt_cls_metrics_compute((int32_t[]){0}, prob, 0, 2, &m, NULL), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "n=0"), "%s", lt_last_error());
    cr_assert_eq(lt_cls_metrics_compute((int32_t[]){0}, prob, 1, 1, &m, NULL), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "C=1"), "%s", lt_last_error());
}

// ---- extra checks (hand examples with midranks, argmax ties, brute force at n = 200, API edges) ----

static uint64_t mx_splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double mx_unif(uint64_t *x) { return (double)(mx_splitmix(x) >> 11) * 0x1.0p-53; }
// Uniform in [0,1] rounded to one decimal: 11 distinct values, many ties.
static float mx_round1(uint64_t *x) { return (float)(round(mx_unif(x) * 10.0) / 10.0); }

static void mx_close(const char *what, double got, double want) {
    cr_assert(fabs(got - want) <= 1e-12, "%s: got %.17g, want %.17g", what, got, want);
}

static void mx_confusion(const int64_t *got, const int64_t *want, int C) {
    for (int i = 0; i < C * C; i++)
        cr_assert_eq(got[i], want[i], "confusion[%d][%d] = %lld, want %lld", i / C, i % C, (long long)got[i],
                     (long long)want[i]);
}

Test(metrics_extra, ovr_hand_example_with_midranks) {
    int32_t y[] = {0, 0, 1, 1, 2, 2};
    float prob[] = {0.7f, 0.2f, 0.1f, 0.3f, 0.4f, 0.3f, 0.2f, 0.5f, 0.3f,
                    0.4f, 0.3f, 0.3f, 0.1f, 0.3f, 0.6f, 0.3f, 0.3f, 0.4f};
    // Class 0 pos {0.7, 0.3} | neg {0.2, 0.4, 0.1, 0.3}: 4 + (1 + 1 + 1/2) = 6.5/8.
    // Class 1 pos {0.5, 0.3} | neg {0.2, 0.4, 0.3, 0.3}: 4 + (1 + 1/2 + 1/2) = 6/8.
    // Class 2 pos {0.6, 0.4} | neg {0.1, 0.3, 0.3, 0.3}: 8/8.
    // Predictions 0, 1, 1, 0, 2, 2 -> confusion [1 1 0; 1 1 0; 0 0 2].
    int64_t want_cm[9] = {1, 1, 0, 1, 1, 0, 0, 0, 2}, cm[9];
    lt_cls_metrics m;
    cr_assert_eq(lt_cls_metrics_compute(y, prob, 6, 3, &m, cm), LT_OK, "%s", lt_last_error());
    mx_confusion(cm, want_cm, 3);
    mx_close("auc", m.auc, (6.5 / 8 + 6.0 / 8 + 1.0) / 3);
    mx_close("acc", m.acc, 4.0 / 6);
    mx_close("bacc", m.bacc, (0.5 + 0.5 + 1.0) / 3);
    mx_close("f1", m.f1, (0.5 + 0.5 + 1.0) / 3);
    cr_assert_eq(m.auc_classes, 3);
}

Test(metrics_extra, absent_class_skipped_in_auc_and_bacc_counted_in_f1) {
    int32_t y[] = {0, 0, 1, 1, 0, 1};   // class 2 never true, predicted once
    float prob[] = {
        0.6f, 0.3f, 0.1f,   // y0 -> 0
        0.2f, 0.5f, 0.3f,   // y0 -> 1
        0.1f, 0.8f, 0.1f,   // y1 -> 1
        0.5f, 0.2f, 0.3f,   // y1 -> 0
        0.3f, 0.3f, 0.4f,   // y0 -> 2
        0.4f, 0.4f, 0.2f,   // y1 -> 0 (tie: first wins)
    };
    int64_t want_cm[9] = {1, 1, 1, 2, 1, 0, 0, 0, 0}, cm[9];
    lt_cls_metrics m;
    cr_assert_eq(lt_cls_metrics_compute(y, prob, 6, 3, &m, cm), LT_OK, "%s", lt_last_error());
    mx_confusion(cm, want_cm, 3);
    // Class 0 pos {0.6, 0.2, 0.3} | neg {0.1, 0.5, 0.4}: 3 + 1 + 1 = 5/9.
    // Class 1 pos {0.8, 0.2, 0.4} | neg {0.3, 0.5, 0.3}: 3 + 0 + 2 = 5/9. Class 2: no positives, skipped.
    mx_close("auc (mean over the 2 classes with both kinds)", m.auc, 5.0 / 9);
    cr_assert_eq(m.auc_classes, 2);
    mx_close("acc", m.acc, 2.0 / 6);
    // Recalls 1/3 and 1/3 over the 2 classes in y (all-C would give 2/9).
    mx_close("bacc", m.bacc, 1.0 / 3);
    // F1: class 0 2/(3+3), class 1 2/(3+2), class 2 0; over all C = 3.
    mx_close("f1", m.f1, (1.0 / 3 + 2.0 / 5) / 3);
    mx_close("f1_present (class 2 predicted, so seen)", m.f1_present, (1.0 / 3 + 2.0 / 5) / 3);
}

Test(metrics_extra, argmax_ties_pick_the_first_class) {
    int32_t y[] = {2, 2, 0, 1, 0};
    float prob[] = {
        0.4f, 0.4f, 0.2f,            // -> 0
        0.2f, 0.4f, 0.4f,            // -> 1
        1.f / 3, 1.f / 3, 1.f / 3,   // -> 0 (three-way)
        0.25f, 0.25f, 0.5f,          // -> 2
        0.3f, 0.2f, 0.3f,            // -> 0
    };
    int64_t want_cm[9] = {2, 0, 0, 0, 0, 1, 1, 1, 0}, cm[9];
    lt_cls_metrics m;
    cr_assert_eq(lt_cls_metrics_compute(y, prob, 5, 3, &m, cm), LT_OK, "%s", lt_last_error());
    mx_confusion(cm, want_cm, 3);
    mx_close("acc", m.acc, 2.0 / 5);

    // Binary [0.5, 0.5] rows predict class 0.
    int32_t yb[] = {1, 0};
    float pb[] = {0.5f, 0.5f, 0.5f, 0.5f};
    int64_t cb[4], want_cb[4] = {1, 0, 1, 0};
    cr_assert_eq(lt_cls_metrics_compute(yb, pb, 2, 2, &m, cb), LT_OK, "%s", lt_last_error());
    mx_confusion(cb, want_cb, 2);
    mx_close("binary tie auc", m.auc, 0.5);
    mx_close("binary tie f1", m.f1, (2.0 / 3 + 0) / 2);
    mx_close("binary tie bacc", m.bacc, 0.5);
}

Test(metrics_extra, brute_force_n200_several_seeds) {
    enum { N = 200 };
    float s[N], prob[2 * N];
    unsigned char pos[N];
    int32_t y[N];
    for (uint64_t seed = 1; seed <= 8; seed++) {
        uint64_t x = seed * 1000003u;
        double frac = 0.1 * (double)seed;   // 10% .. 80% positives
        int64_t np = 0, nn = 0, twice_u = 0;
        for (int i = 0; i < N; i++) {
            pos[i] = mx_unif(&x) < frac;
            y[i] = pos[i];
            float v = mx_round1(&x);
            if (pos[i] && v < 1.0f && mx_unif(&x) < 0.3) v = (float)(round((v + 0.1) * 10.0) / 10.0);
            s[i] = v;
            prob[2 * i] = 1.0f - v;
            prob[2 * i + 1] = v;
            if (pos[i]) np++;
            else nn++;
        }
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                if (pos[i] && !pos[j]) twice_u += s[i] > s[j] ? 2 : s[i] == s[j] ? 1 : 0;
        cr_assert(np && nn);
        double want = (double)twice_u / (2.0 * (double)np * (double)nn);
        double got = lt_roc_auc(s, pos, N);
        cr_assert(fabs(got - want) <= 1e-12, "seed %llu: lt_roc_auc %.17g, pairs %.17g", (unsigned long long)seed, got,
                  want);
        lt_cls_metrics m;
        cr_assert_eq(lt_cls_metrics_compute(y, prob, N, 2, &m, NULL), LT_OK, "%s", lt_last_error());
        cr_assert(fabs(m.auc - want) <= 1e-12, "seed %llu: metrics auc %.17g, pairs %.17g", (unsigned long long)seed,
                  m.auc, want);
    }
}

Test(metrics_extra, roc_auc_edges) {
    float s[] = {0.1f, 0.4f, 0.35f, 0.8f};
    unsigned char p[] = {0, 0, 7, 255};   // any nonzero byte is a positive
    mx_close("pos bytes 7/255", lt_roc_auc(s, p, 4), 0.75);
    float s0[4];
    unsigned char p0[4];
    memcpy(s0, s, sizeof s);
    memcpy(p0, p, sizeof p);
    cr_assert(!memcmp(s, s0, sizeof s) && !memcmp(p, p0, sizeof p), "lt_roc_auc changed its input");
    cr_assert(isnan(lt_roc_auc(s, p, 0)), "n = 0");
}

Test(metrics_extra, null_arguments_and_untouched_confusion) {
    int32_t y[2] = {0, 1};
    float prob[4] = {0.9f, 0.1f, 0.2f, 0.8f};
    lt_cls_metrics m;
    cr_assert_eq(lt_cls_metrics_compute(NULL, prob, 2, 2, &m, NULL), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "NULL"), "%s", lt_last_error());
    cr_assert_eq(lt_cls_metrics_compute(y, NULL, 2, 2, &m, NULL), LT_ERR_ARG);
    cr_assert_eq(lt_cls_metrics_compute(y, prob, 2, 2, NULL, NULL), LT_ERR_ARG);
    int32_t bad[2] = {0, 2};
    int64_t cm[4] = {-7, -7, -7, -7};
    cr_assert_eq(lt_cls_metrics_compute(bad, prob, 2, 2, &m, cm), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "label 2 of sample 1") && strstr(lt_last_error(), "[0,2)"), "%s", lt_last_error());
    for (int i = 0; i < 4; i++) cr_assert_eq(cm[i], -7, "confusion written on error");
}

Test(metrics_extra, rows_need_not_sum_to_one) {
    int32_t y[] = {0, 0, 1, 1, 2, 2};
    float prob[] = {0.7f, 0.2f, 0.1f, 0.3f, 0.4f, 0.3f, 0.2f, 0.5f, 0.3f,
                    0.4f, 0.3f, 0.3f, 0.1f, 0.3f, 0.6f, 0.3f, 0.3f, 0.4f};
    float big[18];
    for (int i = 0; i < 18; i++) big[i] = prob[i] * 10.0f;
    lt_cls_metrics a, b;
    cr_assert_eq(lt_cls_metrics_compute(y, prob, 6, 3, &a, NULL), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_cls_metrics_compute(y, big, 6, 3, &b, NULL), LT_OK, "%s", lt_last_error());
    cr_assert(a.auc == b.auc && a.acc == b.acc && a.bacc == b.bacc && a.f1 == b.f1, "scaling changed a metric");
}
