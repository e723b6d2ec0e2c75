// sigmaReparam linear layer (Zhai et al., ICML 2023): y = x W_hat^T + b with
// W_hat = (gamma / sigma(W)) W. The bias is not reparametrized; gamma is one
// learnable scalar.
//
// sigma(W) = u^T W v, u [out] and v [in] unit vectors estimated by power
// iteration. A training forward (c->training and grad enabled) first runs
// n_power_iters steps in the official code's order (apple/ml-sigma-reparam
// SpectralNormedWeight, whose buffer `u` is our v):
//     u <- normalize(W v),  v <- normalize(W^T u),   normalize(t) = t / (|t| + eps)
// under no-grad, and writes u, v back to their parameters. sigma is then
// computed with autograd from W with u, v held constant, so the backward is
// exact: dL/dW = (gamma/sigma) G - (gamma/sigma^2) <G, W> u v^T and
// dL/dgamma = <G, W> / sigma, with G = dL/dW_hat.
// Any other forward (eval, no-grad, or n_power_iters = 0) uses the stored u, v
// unchanged; this differs from the official eval, which takes one step without
// saving it, and keeps eval deterministic and equal to a folded W_hat.
//
// Parameters, in registration order: "<name>.weight" [out, in] (torch.nn.Linear
// init U(+-1/sqrt(in))), "<name>.bias" [out], "<name>.gamma" [1] (trainable, excluded from weight decay),
// "<name>.u" [out] and "<name>.v" [in] (frozen: no gradient, no optimizer
// update, saved in checkpoints). At init u, v come from a power iteration run
// to convergence in double from a random start; gamma starts at sigma(W0), so
// W_hat = W0 (PyTorch SNLinear), or at 1 (JAX SNDense).
#ifndef LT_LAYER_SIGMA_LINEAR_H
#define LT_LAYER_SIGMA_LINEAR_H

#include "autograd/ctx.h"
#include "libtrain/params.h"
#include "libtrain/run.h"

typedef enum { LT_GAMMA_INIT_SIGMA = 0, LT_GAMMA_INIT_ONE = 1 } lt_gamma_init;

typedef struct {
    int bias;               // default 1
    lt_gamma_init gamma;    // default LT_GAMMA_INIT_SIGMA
    int n_power_iters;      // steps per training forward; default 1; 0 freezes u, v
    float eps;              // normalization guard; default 1e-12
    int init_max_iters;     // power iteration at init: at most this many steps (default 500; 0: random u, v) ...
    double init_tol;        // ... stopping once sigma changes by less than this, relatively (default 1e-6)
} lt_sigma_linear_opts;

typedef struct {
    lt_tensor *w;       // [out, in] "<name>.weight"
    lt_tensor *b;       // [out]     "<name>.bias", NULL without bias
    lt_tensor *gamma;   // [1]       "<name>.gamma"
    lt_tensor *u;       // [out]     "<name>.u", frozen
    lt_tensor *v;       // [in]      "<name>.v", frozen
    int in, out;
    int n_power_iters;
    float eps;
    float last_sigma;   // sigma used by the latest forward (sigma(W0) after init)
    int init_iters;     // power-iteration steps the latest (re)initialization took
    char name[128];
    char metric_names[2][160];   // "<name>.sigma", "<name>.gamma"
} lt_sigma_linear;

lt_sigma_linear_opts lt_sigma_linear_defaults(void);
// "sigma" or "one" (flag values).
lt_status lt_gamma_init_parse(const char *s, lt_gamma_init *out);

// opts NULL means the defaults. Draws W, b and the power-iteration start from rng.
lt_status lt_sigma_linear_init(lt_sigma_linear *l, lt_params *ps, lt_rng *rng, const char *name, int in, int out,
                               const lt_sigma_linear_opts *opts);
// Re-estimates u, v from the current W by power iteration in double from a
// random start (max_iters = 0: random unit u, v), e.g. after W was overwritten
// by another initializer or loaded from a plain-linear checkpoint. Sets gamma
// as *gamma_init says, or leaves it unchanged if gamma_init is NULL.
lt_status lt_sigma_linear_reset(lt_sigma_linear *l, lt_rng *rng, int max_iters, double tol,
                                const lt_gamma_init *gamma_init);

lt_tensor *lt_sigma_linear_forward(lt_ctx *c, lt_sigma_linear *l, lt_tensor *x /* [..., in] */);

// sigma of the latest forward and the current gamma (reads gamma from its device).
lt_status lt_sigma_linear_stats(const lt_sigma_linear *l, float *sigma, float *gamma);
// Fills m[0] = {"<name>.sigma", sigma}, m[1] = {"<name>.gamma", gamma} for
// lt_run_log_train / lt_run_log_eval; names live as long as l. Returns 2, or
// 0 with the error recorded.
int lt_sigma_linear_metrics(const lt_sigma_linear *l, lt_metric m[2]);

#endif
