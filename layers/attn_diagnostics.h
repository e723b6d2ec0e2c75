// Attention diagnostics usable from any model: per (layer, head), the mean and
// the minimum over batch and query rows of the row entropy, and the
// attention-sink score, the mean attention mass on the first key,
//   P[row, 0] = exp(scale * q_row . k_0 - lse_row),
// recomputed on the host from q, k and the attention op's lse (one dot product
// per row; no T x S matrix). Accumulates over any number of batches until
// logged or reset. Reads tensors only: no graph, no gradient.
#ifndef LT_ATTN_DIAGNOSTICS_H
#define LT_ATTN_DIAGNOSTICS_H

#include "kernels/attention.h"
#include "libtrain/run.h"

typedef struct {
    int n_layers, n_heads;
    // [n_layers * n_heads] each, index layer * n_heads + head
    double *ent_sum;        // sum of row entropies
    float *ent_min;         // smallest row entropy (+inf while none)
    int64_t *ent_rows;      // rows counted in ent_sum
    double *sink_sum;       // sum of P[row, 0]
    int64_t *sink_rows;
} lt_attn_diag;

lt_status lt_attn_diag_init(lt_attn_diag *d, int n_layers, int n_heads);
void lt_attn_diag_free(lt_attn_diag *d);
void lt_attn_diag_reset(lt_attn_diag *d);

// Adds one attention call of `layer`. q [B,Hq,T,D], k [B,Hkv,S,D] (query head h
// reads kv head h / (Hq/Hkv)), lse [B,Hq,T], entropy [B,Hq,T] or NULL (then only
// the sink score is recorded); Hq must equal n_heads. scale: the logit scale
// the op used (0 means 1/sqrt(D), as lt_attn_opts). Causal masking and key
// padding never hide key 0, so they do not change P[row, 0]. Any device:
// tensors off the CPU are copied to the host.
lt_status lt_attn_diag_add(lt_attn_diag *d, int layer, const lt_tensor *q, const lt_tensor *k, const lt_tensor *lse,
                           const lt_tensor *entropy, float scale);
// The same from the op's own options and outputs; with a block mask, rows
// whose first key block is skipped have P[row, 0] = 0.
lt_status lt_attn_diag_add_out(lt_attn_diag *d, int layer, const lt_tensor *q, const lt_tensor *k,
                               const lt_attn_opts *opts, const lt_attn_out *out);

// Accumulated values (NaN when nothing was recorded for that layer and head).
double lt_attn_diag_entropy_mean(const lt_attn_diag *d, int layer, int head);
double lt_attn_diag_entropy_min(const lt_attn_diag *d, int layer, int head);
double lt_attn_diag_sink(const lt_attn_diag *d, int layer, int head);

// One metrics.jsonl record {"step":S,"split":"attn","attn_entropy_mean.l0.h3":...,
// "attn_entropy_min.l0.h3":...,"attn_sink.l0.h3":...} (entries with nothing
// recorded are left out) and one stdout line: per layer the mean over heads of
// the mean entropy, the lowest head mean (and its head) and the mean sink score.
// Does not reset.
lt_status lt_attn_diag_log(const lt_attn_diag *d, lt_run *r, int64_t step);
// The same record without the stdout line, to any stream.
lt_status lt_attn_diag_write_json(const lt_attn_diag *d, FILE *f, int64_t step);

#endif
