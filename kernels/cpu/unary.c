// Unary elementwise ops. Each op is a value function f(x, s) and a derivative
// d(x, y, s) that may use the saved output y (exp, sqrt, sigmoid, tanh);
// s is the op's float attribute (scale's factor, unused elsewhere).
#include "autograd/op.h"

#include <math.h>

#define PAR_MIN 32768   // elements below which threads cost more than they gain

static inline float sigmoidf(float x) {
    if (x >= 0) return 1.f / (1.f + expf(-x));
    float e = expf(x);
    return e / (1.f + e);
}

static inline float f_scale(float x, float s) { return s * x; }
static inline float d_scale(float x, float y, float s) { return s; }
static inline float f_exp(float x, float s) { return expf(x); }
static inline float d_exp(float x, float y, float s) { return y; }
static inline float f_log(float x, float s) { return logf(x); }
static inline float d_log(float x, float y, float s) { return 1.f / x; }
static inline float f_sqrt(float x, float s) { return sqrtf(x); }
static inline float d_sqrt(float x, float y, float s) { return 0.5f / y; }
// Written so that NaN passes through, as in torch.
static inline float f_relu(float x, float s) { return x < 0.f ? 0.f : x; }
static inline float d_relu(float x, float y, float s) { return x > 0.f ? 1.f : 0.f; }
static inline float f_gelu(float x, float s) { return 0.5f * x * (1.f + erff(x * (float)M_SQRT1_2)); }
static inline float d_gelu(float x, float y, float s) {
    const float inv_sqrt_2pi = 0.3989422804014327f;
    return 0.5f * (1.f + erff(x * (float)M_SQRT1_2)) + x * inv_sqrt_2pi * expf(-0.5f * x * x);
}
static inline float f_silu(float x, float s) { return x * sigmoidf(x); }
static inline float d_silu(float x, float y, float s) {
    float sg = sigmoidf(x);
    return sg * (1.f + x * (1.f - sg));
}
static inline float f_sigmoid(float x, float s) { return sigmoidf(x); }
static inline float d_sigmoid(float x, float y, float s) { return y * (1.f - y); }
static inline float f_tanh(float x, float s) { return tanhf(x); }
static inline float d_tanh(float x, float y, float s) { return 1.f - y * y; }
// torch's softplus with beta 1, threshold 20: linear above the threshold.
static inline float f_softplus(float x, float s) { return x > 20.f ? x : log1pf(expf(x)); }
static inline float d_softplus(float x, float y, float s) { return x > 20.f ? 1.f : sigmoidf(x); }

#define LT_UNARY(name)                                                            \
    lt_status lt_cpu_##name##_fwd(lt_node *n) {                                   \
        const float *x = lt_f32(n->in[0]);                                        \
        float *y = lt_f32(n->out[0]), s = n->fattr[0];                            \
        int64_t N = n->out[0]->numel;                                             \
        _Pragma("omp parallel for schedule(static) if (N > PAR_MIN)")             \
        for (int64_t i = 0; i < N; i++) y[i] = f_##name(x[i], s);                 \
        return LT_OK;                                                             \
    }                                                                             \
    lt_status lt_cpu_##name##_bwd(lt_node *n) {                                   \
        const float *g = n->out[0]->grad, *x = lt_f32(n->in[0]), *y = lt_f32(n->out[0]); \
        float *gx = n->in[0]->grad, s = n->fattr[0];                              \
        if (!g || !gx) return LT_OK;                                              \
        int64_t N = n->out[0]->numel;                                             \
        _Pragma("omp parallel for schedule(static) if (N > PAR_MIN)")             \
        for (int64_t i = 0; i < N; i++) gx[i] += g[i] * d_##name(x[i], y[i], s);  \
        return LT_OK;                                                             \
    }

LT_UNARY(scale)
LT_UNARY(exp)
LT_UNARY(log)
LT_UNARY(sqrt)
LT_UNARY(relu)
LT_UNARY(gelu)
LT_UNARY(silu)
LT_UNARY(sigmoid)
LT_UNARY(tanh)
LT_UNARY(softplus)
