#include "layers/sigma_linear.h"
#include "kernels/ops.h"
#include "libtrain/device.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lt_sigma_linear_opts lt_sigma_linear_defaults(void) {
    return (lt_sigma_linear_opts){.bias = 1, .gamma = LT_GAMMA_INIT_SIGMA, .n_power_iters = 1, .eps = 1e-12f,
                                  .init_max_iters = 500, .init_tol = 1e-6};
}

lt_status lt_gamma_init_parse(const char *s, lt_gamma_init *out) {
    if (s && !strcmp(s, "sigma")) { *out = LT_GAMMA_INIT_SIGMA; return LT_OK; }
    if (s && !strcmp(s, "one")) { *out = LT_GAMMA_INIT_ONE; return LT_OK; }
    return lt_error(LT_ERR_ARG, "sigma_linear: gamma init '%s' is not one of: sigma, one", s ? s : "(null)");
}

static double normalize(double *x, int n, double eps) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i] * x[i];
    s = sqrt(s);
    for (int i = 0; i < n; i++) x[i] /= s + eps;
    return s;
}

// y [out] = W [out, in] x [in]
static void matvec(const float *w, const double *x, double *y, int out, int in) {
    #pragma omp parallel for if ((int64_t)out * in > (1 << 16))
    for (int i = 0; i < out; i++) {
        const float *r = w + (int64_t)i * in;
        double s = 0;
        for (int j = 0; j < in; j++) s += r[j] * x[j];
        y[i] = s;
    }
}

// y [in] = W^T x, in fixed column chunks so each y[j] sums rows in order.
static void matvec_t(const float *w, const double *x, double *y, int out, int in) {
    enum { CH = 256 };
    int nch = (in + CH - 1) / CH;
    #pragma omp parallel for if ((int64_t)out * in > (1 << 16))
    for (int c = 0; c < nch; c++) {
        int j0 = c * CH, j1 = j0 + CH < in ? j0 + CH : in;
        for (int j = j0; j < j1; j++) y[j] = 0;
        for (int i = 0; i < out; i++) {
            const float *r = w + (int64_t)i * in;
            for (int j = j0; j < j1; j++) y[j] += r[j] * x[i];
        }
    }
}

lt_status lt_sigma_linear_reset(lt_sigma_linear *l, lt_rng *rng, int max_iters, double tol,
                                const lt_gamma_init *gamma_init) {
    if (max_iters < 0)
        return lt_error(LT_ERR_ARG, "sigma_linear '%s': init power iterations %d must be >= 0", l->name,
                        max_iters);
    int out = l->out, in = l->in;
    float *w = malloc(sizeof(float) * (size_t)l->w->numel);
    float *uf = malloc(sizeof(float) * (size_t)(out + in)), *vf = uf ? uf + out : NULL;
    double *u = malloc(sizeof(double) * (size_t)(out + in)), *v = u ? u + out : NULL;
    lt_status s = LT_OK;
    if (!w || !uf || !u) { s = lt_error(LT_ERR_OOM, "sigma_linear '%s': power iteration buffers", l->name); goto done; }
    if ((s = lt_tensor_to_host(l->w, w)) != LT_OK) goto done;
    for (int j = 0; j < in; j++) v[j] = lt_rng_normal(rng);
    normalize(v, in, l->eps);
    if (max_iters == 0) {
        // Random unit u and v, as the paper's pseudocode: left to the per-forward steps.
        for (int i = 0; i < out; i++) u[i] = lt_rng_normal(rng);
        normalize(u, out, l->eps);
    }
    double prev = 0;
    l->init_iters = 0;
    for (int k = 0; k < max_iters; k++) {
        matvec(w, v, u, out, in);
        normalize(u, out, l->eps);
        matvec_t(w, u, v, out, in);
        double sigma = normalize(v, in, l->eps);
        l->init_iters = k + 1;
        if (k > 0 && fabs(sigma - prev) <= tol * sigma) break;
        prev = sigma;
    }
    for (int i = 0; i < out; i++) uf[i] = (float)u[i];
    for (int j = 0; j < in; j++) vf[j] = (float)v[j];
    // sigma as a forward computes it, from the stored float vectors.
    double sigma = 0;
    for (int i = 0; i < out; i++) {
        double r = 0;
        for (int j = 0; j < in; j++) r += (double)w[(int64_t)i * in + j] * vf[j];
        sigma += uf[i] * r;
    }
    if ((s = lt_param_set(l->u, uf)) != LT_OK || (s = lt_param_set(l->v, vf)) != LT_OK) goto done;
    l->last_sigma = (float)sigma;
    if (gamma_init) s = lt_param_fill(l->gamma, *gamma_init == LT_GAMMA_INIT_ONE ? 1.f : (float)sigma);
done:
    free(w);
    free(uf);
    free(u);
    return s;
}

lt_status lt_sigma_linear_init(lt_sigma_linear *l, lt_params *ps, lt_rng *rng, const char *name, int in, int out,
                               const lt_sigma_linear_opts *opts) {
    lt_sigma_linear_opts o = opts ? *opts : lt_sigma_linear_defaults();
    if (in < 1 || out < 1)
        return lt_error(LT_ERR_ARG, "sigma_linear '%s': in=%d out=%d must be >= 1", name, in, out);
    if (o.n_power_iters < 0 || o.init_max_iters < 0 || !(o.eps >= 0) || !(o.init_tol >= 0))
        return lt_error(LT_ERR_ARG,
                        "sigma_linear '%s': n_power_iters=%d init_max_iters=%d eps=%g init_tol=%g must be >= 0",
                        name, o.n_power_iters, o.init_max_iters, o.eps, o.init_tol);
    if (o.gamma != LT_GAMMA_INIT_SIGMA && o.gamma != LT_GAMMA_INIT_ONE)
        return lt_error(LT_ERR_ARG, "sigma_linear '%s': gamma init %d is not sigma (0) or one (1)", name, o.gamma);
    memset(l, 0, sizeof *l);
    if (strlen(name) >= sizeof l->name)
        return lt_error(LT_ERR_ARG, "sigma_linear: name '%s' is longer than %d characters", name,
                        (int)sizeof l->name - 1);
    snprintf(l->name, sizeof l->name, "%s", name);
    snprintf(l->metric_names[0], sizeof l->metric_names[0], "%s.sigma", name);
    snprintf(l->metric_names[1], sizeof l->metric_names[1], "%s.gamma", name);
    l->in = in; l->out = out;
    l->n_power_iters = o.n_power_iters;
    l->eps = o.eps;
    char buf[200];
    float k = 1.f / sqrtf((float)in);
#define PARAM(field, suffix, ...)                                               \
    snprintf(buf, sizeof buf, "%s." suffix, name);                              \
    if (!(l->field = lt_param_new(ps, buf, LT_SHAPE(__VA_ARGS__)))) return lt_last_status();
    PARAM(w, "weight", out, in);
    LT_TRY(lt_param_uniform(l->w, rng, -k, k));
    if (o.bias) {
        PARAM(b, "bias", out);
        LT_TRY(lt_param_uniform(l->b, rng, -k, k));
    }
    PARAM(gamma, "gamma", 1);
    PARAM(u, "u", out);
    PARAM(v, "v", in);
#undef PARAM
    lt_param_freeze(l->u, 1);
    lt_param_freeze(l->v, 1);
    // gamma is the layer's scale: decaying it toward 0 would shrink W_hat, which is what
    // sigmaReparam removes. The paper's runs use no decay on it (spec pitfall 3.6).
    lt_param_no_decay(l->gamma, 1);
    return lt_sigma_linear_reset(l, rng, o.init_max_iters, o.init_tol, &o.gamma);
}

// Arena copy of a persistent vector as a column [n, 1]: the graph must not see
// later in-place updates of the parameter before its backward runs.
static lt_tensor *column_copy(lt_ctx *c, const lt_tensor *p) {
    lt_tensor *t = lt_tensor_new(c, LT_F32, LT_SHAPE((int)p->numel, 1));
    if (!t || lt_device_copy(c->device, t->data, p->device, p->data, sizeof(float) * (size_t)p->numel) != LT_OK)
        return NULL;
    return t;
}

// t [n, 1] / (|t| + eps)
static lt_tensor *normalize_op(lt_ctx *c, lt_tensor *t, lt_tensor *eps /* [1] */) {
    lt_tensor *nrm = lt_sqrt(c, lt_sum(c, lt_mul(c, t, t), LT_AXIS_ALL, 0));
    return lt_div(c, t, lt_add(c, nrm, eps));
}

lt_tensor *lt_sigma_linear_forward(lt_ctx *c, lt_sigma_linear *l, lt_tensor *x) {
    if (!x) return NULL;
    char sx[64], sw[64];
    if (x->dtype != LT_F32) {
        lt_error(LT_ERR_DTYPE, "sigma_linear '%s': x must be f32, got %s", l->name, lt_dtype_name(x->dtype));
        return NULL;
    }
    if (x->ndim < 1 || x->shape[x->ndim - 1] != l->in) {
        lt_error(LT_ERR_SHAPE, "sigma_linear '%s': x %s does not fit weight %s (want x [.., %d])", l->name,
                 lt_shape_str(x, sx), lt_shape_str(l->w, sw), l->in);
        return NULL;
    }
    if (l->w->device != c->device) {
        lt_error(LT_ERR_ARG, "sigma_linear '%s': parameters on %s, context on %s", l->name,
                 lt_device_name(l->w->device), lt_device_name(c->device));
        return NULL;
    }
    lt_tensor *u, *v;
    if (c->training && lt_grad_enabled(c) && l->n_power_iters > 0) {
        lt_no_grad_begin(c);
        lt_tensor *eps = lt_tensor_from(c, LT_F32, LT_SHAPE(1), &l->eps);
        u = NULL;
        v = column_copy(c, l->v);
        for (int k = 0; k < l->n_power_iters; k++) {
            u = normalize_op(c, lt_matmul(c, l->w, v), eps);              // [out, 1]
            v = normalize_op(c, lt_matmul_t(c, l->w, u, 1, 0), eps);      // [in, 1]
        }
        lt_no_grad_end(c);
        if (!u || !v) return NULL;
        if (lt_device_copy(l->u->device, l->u->data, c->device, u->data, sizeof(float) * (size_t)l->out) != LT_OK ||
            lt_device_copy(l->v->device, l->v->data, c->device, v->data, sizeof(float) * (size_t)l->in) != LT_OK)
            return NULL;
    } else {
        u = column_copy(c, l->u);
        v = column_copy(c, l->v);
    }
    lt_tensor *sigma = lt_matmul_t(c, u, lt_matmul(c, l->w, v), 1, 0);   // [1, 1] = u^T W v
    lt_tensor *w_hat = lt_mul(c, l->w, lt_div(c, l->gamma, sigma));      // [out, in]
    lt_tensor *y = lt_linear(c, x, w_hat, l->b);
    // On a GPU this is a 4-byte copy that waits for the stream.
    if (y) l->last_sigma = lt_tensor_item(sigma);
    return y;
}

lt_status lt_sigma_linear_stats(const lt_sigma_linear *l, float *sigma, float *gamma) {
    if (sigma) *sigma = l->last_sigma;
    if (gamma) LT_TRY(lt_tensor_to_host(l->gamma, gamma));
    return LT_OK;
}

int lt_sigma_linear_metrics(const lt_sigma_linear *l, lt_metric m[2]) {
    float s, g;
    if (lt_sigma_linear_stats(l, &s, &g) != LT_OK) return 0;
    m[0] = (lt_metric){l->metric_names[0], s};
    m[1] = (lt_metric){l->metric_names[1], g};
    return 2;
}
