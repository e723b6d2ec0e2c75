// Classification metrics from true labels and predicted class probabilities.
//
// Conventions (each checked against a reference library; see the field notes):
// - prediction = argmax of the probability row, the first maximum winning ties;
// - AUC: binary (C = 2) uses class 1's score only; C > 2 is one-vs-rest per class
//   and the unweighted mean over the classes that have both positive and negative
//   samples (sklearn's per-class AUC; torchmetrics instead scores a class without
//   positives as 0 and keeps it in the mean). NaN when no class qualifies;
// - F1: per class 2tp / (2tp + fp + fn), 0 when tp = 0 (zero_division=0).
#ifndef LT_METRICS_H
#define LT_METRICS_H

#include <stdint.h>

#include "libtrain/status.h"

typedef struct {
    double acc;        // top-1 accuracy
    double bacc;       // balanced accuracy: mean recall over the classes present in y
                       // (sklearn balanced_accuracy_score)
    double auc;        // ROC AUC, exact with ties (midranks); NaN if no class has both kinds
    double f1;         // macro F1 over all C classes: a class absent from y and from the
                       // predictions counts F1 = 0 (torchmetrics <= 0.11 with num_classes=C,
                       // the version the AEM code was written against)
    double f1_present; // macro F1 over the classes present in y or predicted (sklearn
                       // f1_score(average='macro'), torchmetrics >= 1.0); equals f1 when every
                       // class occurs
    int n, n_classes;
    int auc_classes;   // classes averaged into auc (binary: 1, or 0 when auc is NaN)
} lt_cls_metrics;

// y [n] in 0..C-1, prob [n, C] finite (rows need not sum to 1: only their order
// and argmax matter). confusion, if not NULL, receives [C, C] counts (row: true
// class, column: predicted). O(C n log n).
lt_status lt_cls_metrics_compute(const int32_t *y, const float *prob, int n, int C, lt_cls_metrics *out,
                                 int64_t *confusion);

// Binary ROC AUC of score [n] for positives (pos[i] != 0): the Mann-Whitney U
// with ties counted 1/2, i.e. P(score+ > score-) + P(score+ = score-)/2, which is
// the trapezoidal area under the ROC curve. Exact: U is accumulated in integers
// and divided once. NaN without both kinds, or when a score is NaN, or on OOM.
double lt_roc_auc(const float *score, const unsigned char *pos, int n);

#endif
