#include "autograd/gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static lt_status eval(lt_gradcheck_fn fn, void *ud, lt_ctx *c, lt_tensor **in, const float *R, int64_t nR,
                      double *loss) {
    lt_ctx_reset(c);
    lt_no_grad_begin(c);
    lt_tensor *out = fn(c, in, ud);
    lt_no_grad_end(c);
    if (!out) return lt_last_status();
    if (out->numel != nR) return lt_error(LT_ERR_STATE, "gradcheck: output size changed between evaluations");
    const float *o = lt_f32(out);
    double s = 0;
    for (int64_t i = 0; i < nR; i++) s += (double)o[i] * R[i];
    *loss = s;
    return LT_OK;
}

lt_status lt_gradcheck(lt_gradcheck_fn fn, void *ud, int n_in, lt_tensor **in, const lt_gradcheck_opts *opts,
                       lt_gradcheck_result *res) {
    lt_gradcheck_opts o = {1e-3, 1e-2, 0, 1234};
    if (opts) {
        o = *opts;
        if (o.eps <= 0) o.eps = 1e-3;
        if (o.rtol <= 0) o.rtol = 1e-2;
    }
    lt_gradcheck_result r = {0};
    lt_ctx *c = lt_ctx_new(LT_CPU, o.seed);
    if (!c) return lt_last_status();
    c->arena.poison = 1;
    c->training = 0;   // deterministic: stochastic ops are checked with fixed masks by their own tests
    lt_status st = LT_OK;
    float *R = NULL;
    double *ga = NULL;

    // analytic
    unsigned char was_param[64] = {0};
    if (n_in > 64) { st = lt_error(LT_ERR_ARG, "gradcheck: at most 64 inputs"); goto done; }
    for (int i = 0; i < n_in; i++)
        if (in[i]->requires_grad) {
            was_param[i] = in[i]->is_param;
            in[i]->is_param = 1;  // grad buffer owned by the tensor, survives resets
            if (in[i]->grad) memset(in[i]->grad, 0, sizeof(float) * (size_t)in[i]->numel);
        }
    lt_tensor *out = fn(c, in, ud);
    if (!out) { st = lt_last_status(); goto done; }
    R = malloc(sizeof(float) * (size_t)out->numel);
    lt_rng rng;
    lt_rng_init(&rng, o.seed ^ 0x9e3779b97f4a7c15ull);
    lt_rng_fill_uniform(&rng, R, out->numel, -1.f, 1.f);
    int64_t nR = out->numel;
    if ((st = lt_backward_from(c, out, R)) != LT_OK) goto done;

    for (int i = 0; i < n_in; i++) {
        lt_tensor *t = in[i];
        if (!t->requires_grad) continue;
        if (!t->grad) { st = lt_error(LT_ERR_STATE, "gradcheck: input %d received no gradient", i); goto done; }
        float *x = lt_f32(t);
        int64_t n = t->numel, stride = 1;
        if (o.max_checks > 0 && n > o.max_checks) stride = (n + o.max_checks - 1) / o.max_checks;
        double num2 = 0, ana2 = 0, diff2 = 0, worst = 0;
        for (int64_t j = 0; j < n; j += stride) {
            float x0 = x[j];
            double h = o.eps * fmax(1.0, fabs(x0));
            double fp = 0, fm = 0;
            x[j] = (float)(x0 + h);
            double hp = (double)x[j] - x0;
            if ((st = eval(fn, ud, c, in, R, nR, &fp)) != LT_OK) goto done;
            x[j] = (float)(x0 - h);
            double hm = x0 - (double)x[j];
            if ((st = eval(fn, ud, c, in, R, nR, &fm)) != LT_OK) goto done;
            x[j] = x0;
            double g_num = (fp - fm) / (hp + hm), g_ana = t->grad[j];
            num2 += g_num * g_num; ana2 += g_ana * g_ana;
            diff2 += (g_num - g_ana) * (g_num - g_ana);
            double dev = fabs(g_num - g_ana);
            if (dev > worst) { worst = dev; r.worst_index = j; r.analytic = g_ana; r.numeric = g_num; }
            r.n_checked++;
        }
        double denom = fmax(sqrt(fmax(num2, ana2)), 1e-12);
        double rel = sqrt(diff2) / denom;
        if (rel > r.rel_err || r.worst_input < 0) { r.rel_err = rel; r.worst_input = i; }
        if (rel > o.rtol) {
            st = lt_error(LT_ERR_STATE,
                          "gradcheck: input %d relative error %.3g > %.3g (worst element %lld: analytic %.6g, "
                          "numeric %.6g)", i, rel, o.rtol, (long long)r.worst_index, r.analytic, r.numeric);
            goto done;
        }
    }
done:
    for (int i = 0; i < n_in && i < 64; i++) if (in[i]->requires_grad) in[i]->is_param = was_param[i];
    if (res) *res = r;
    free(R);
    free(ga);
    lt_ctx_free(c);
    return st;
}
