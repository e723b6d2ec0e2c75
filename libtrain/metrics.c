#include "libtrain/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct { float s; unsigned char pos; } scored;

static int cmp_scored(const void *a, const void *b) {
    float x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x > y) - (x < y);
}

// After sorting by score, each group of equal scores contributes, per positive
// in it, the negatives below the group plus half of the negatives inside it.
// 2U is an integer, so the result is exact up to the one final division.
static double auc_sorted(scored *v, int n) {
    int64_t np = 0;
    for (int i = 0; i < n; i++) np += v[i].pos;
    int64_t nn = n - np;
    if (np == 0 || nn == 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_scored);
    int64_t twice_u = 0, neg_below = 0;
    for (int i = 0; i < n;) {
        int j = i;
        int64_t pos_g = 0;
        while (j < n && v[j].s == v[i].s) pos_g += v[j++].pos;
        int64_t neg_g = (j - i) - pos_g;
        twice_u += pos_g * (2 * neg_below + neg_g);
        neg_below += neg_g;
        i = j;
    }
    return (double)twice_u / (2.0 * (double)np * (double)nn);
}

double lt_roc_auc(const float *score, const unsigned char *pos, int n) {
    if (n < 2) return NAN;
    scored *v = malloc(sizeof *v * (size_t)n);
    if (!v) return NAN;
    int nan = 0;
    for (int i = 0; i < n; i++) {
        v[i].s = score[i];
        v[i].pos = pos[i] != 0;
        nan |= isnan(score[i]);
    }
    double a = nan ? NAN : auc_sorted(v, n);
    free(v);
    return a;
}

lt_status lt_cls_metrics_compute(const int32_t *y, const float *prob, int n, int C, lt_cls_metrics *out,
                                 int64_t *confusion) {
    const char *fn = "lt_cls_metrics_compute";
    if (!y || !prob || !out) return lt_error(LT_ERR_ARG, "%s: NULL labels, probabilities or output", fn);
    if (n < 1 || C < 2) return lt_error(LT_ERR_ARG, "%s: need n >= 1 samples and C >= 2 classes (n=%d, C=%d)", fn, n, C);
    for (int i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= C) return lt_error(LT_ERR_ARG, "%s: label %d of sample %d not in [0,%d)", fn, y[i], i, C);
        for (int c = 0; c < C; c++)
            if (!isfinite(prob[(size_t)i * C + c]))
                return lt_error(LT_ERR_NONFINITE, "%s: probability [%d, %d] of prob [%d, %d] is %g", fn, i, c, n, C,
                                prob[(size_t)i * C + c]);
    }
    int64_t *cm = calloc((size_t)C * C, sizeof *cm);
    scored *v = malloc(sizeof *v * (size_t)n);
    if (!cm || !v) {
        free(cm);
        free(v);
        return lt_error(LT_ERR_OOM, "%s: n=%d, C=%d", fn, n, C);
    }
    for (int i = 0; i < n; i++) {
        const float *p = prob + (size_t)i * C;
        int best = 0;
        for (int c = 1; c < C; c++) if (p[c] > p[best]) best = c;
        cm[(size_t)y[i] * C + best]++;
    }
    int64_t correct = 0;
    double recall_sum = 0, f1_sum = 0, auc_sum = 0;
    int in_y = 0, seen = 0, auc_classes = 0;
    for (int c = 0; c < C; c++) {
        int64_t tp = cm[(size_t)c * C + c], true_c = 0, pred_c = 0;
        for (int k = 0; k < C; k++) {
            true_c += cm[(size_t)c * C + k];
            pred_c += cm[(size_t)k * C + c];
        }
        correct += tp;
        if (true_c > 0) {
            recall_sum += (double)tp / (double)true_c;
            in_y++;
        }
        // 2tp / (2tp + fp + fn) with fp + fn + 2tp = true_c + pred_c.
        if (true_c + pred_c > 0) {
            f1_sum += 2.0 * (double)tp / (double)(true_c + pred_c);
            seen++;
        }
        if (C == 2 && c == 0) continue;   // binary: class 1's score alone
        for (int i = 0; i < n; i++) {
            v[i].s = prob[(size_t)i * C + c];
            v[i].pos = y[i] == c;
        }
        double a = auc_sorted(v, n);
        if (!isnan(a)) {
            auc_sum += a;
            auc_classes++;
        }
    }
    out->n = n;
    out->n_classes = C;
    out->acc = (double)correct / n;
    out->bacc = recall_sum / in_y;   // in_y >= 1 since n >= 1
    out->f1 = f1_sum / C;
    out->f1_present = f1_sum / seen;
    out->auc = auc_classes ? auc_sum / auc_classes : NAN;
    out->auc_classes = auc_classes;
    if (confusion) memcpy(confusion, cm, sizeof *cm * (size_t)C * C);
    free(cm);
    free(v);
    return LT_OK;
}
