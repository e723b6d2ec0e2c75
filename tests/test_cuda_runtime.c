// The CUDA runtime around the kernels: what a machine without a GPU says, the
// caching allocator reaching a steady state in a training loop, an absurd
// allocation failing with a message instead of crashing, and the optimizers
// (AdamW, SGD with momentum / Nesterov) and gradient clipping on CUDA
// parameters matching the CPU within 1e-6. The no-GPU test runs only where
// CUDA is unusable; the others skip there.
#include "cuda_parity.h"

#include <ctype.h>

static int contains_ci(const char *s, const char *part) {
    size_t n = strlen(part);
    for (; *s; s++) {
        size_t i = 0;
        while (i < n && s[i] && tolower((unsigned char)s[i]) == tolower((unsigned char)part[i])) i++;
        if (i == n) return 1;
    }
    return 0;
}

static void need_gpu(void) {
    if (lt_device_check(LT_CUDA) != LT_OK) cr_skip_test("no usable GPU: %s", lt_last_error());
    lt_clear_error();
}

// The optimizer comparisons also run CPU against CPU (cuda_parity.h's self-check build).
#define DEV LT_PARITY_DEVICE
static void need_parity_device(void) {
    if (!LT_PARITY_ON_CPU) need_gpu();
}

// ---------------------------------------------------------------- without a GPU

Test(no_gpu, cuda_context_and_tensors_fail_naming_cuda) {
    if (lt_device_check(LT_CUDA) == LT_OK) cr_skip_test("a GPU is present: the no-GPU behaviour cannot be seen here");
    lt_clear_error();
    lt_ctx *c = lt_ctx_new(LT_CUDA, 1);
    cr_assert_null(c, "a CUDA context was made without a usable GPU");
    cr_assert(lt_last_status() != LT_OK, "no status recorded");
    cr_assert(contains_ci(lt_last_error(), "cuda"), "message does not name cuda: \"%s\"", lt_last_error());

    lt_clear_error();
    lt_tensor *t = lt_tensor_alloc(LT_F32, LT_CUDA, LT_SHAPE(4, 3));
    cr_assert_null(t, "a CUDA tensor was allocated without a usable GPU");
    cr_assert(contains_ci(lt_last_error(), "cuda"), "message does not name cuda: \"%s\"", lt_last_error());

    lt_device d = LT_CPU;
    cr_assert_eq(lt_device_parse("cuda", &d), LT_OK, "%s", lt_last_error());
    cr_assert_eq(d, LT_CUDA);
    cr_assert_eq(lt_device_memory(LT_CUDA).n_device_allocs, 0);
    // the CPU is unaffected
    lt_ctx *cpu = lt_ctx_new(LT_CPU, 1);
    cr_assert(cpu, "%s", lt_last_error());
    lt_ctx_free(cpu);
}

// ---------------------------------------------------------------- caching allocator

static lt_tensor *mlp_loss(lt_ctx *c, lt_mlp *m, const float *x, const int32_t *y, int B, int D) {
    lt_tensor *xt = lt_tensor_from(c, LT_F32, LT_SHAPE(B, D), x);
    lt_tensor *yt = lt_tensor_from(c, LT_I32, LT_SHAPE(B), y);
    lt_tensor *h = lt_layernorm(c, lt_mlp_forward(c, m, xt), NULL, NULL, 1e-5f);
    return lt_cross_entropy(c, h, yt, -100, 0.1f);
}

// A few training steps of a small MLP on CUDA (dropout, clipping, AdamW): after
// the warm-up steps no new cudaMalloc happens and the device arena keeps its chunks.
Test(allocator, training_loop_reaches_steady_state) {
    need_gpu();
    enum { B = 37, D = 33, STEPS = 16 };
    lt_params ps;
    lt_params_init(&ps, LT_CUDA);
    lt_rng r;
    lt_rng_init(&r, 3);
    lt_mlp m;
    int dims[4] = {D, 65, 31, 7};
    cr_assert_eq(lt_mlp_init(&m, &ps, &r, "net", 3, dims, LT_ACT_GELU, 0.25f), LT_OK, "%s", lt_last_error());
    lt_optim *o = lt_optim_adamw(&ps, lt_adamw_defaults(1e-2f));
    cr_assert(o, "%s", lt_last_error());
    lt_ctx *c = lt_ctx_new(LT_CUDA, 5);
    cr_assert(c, "%s", lt_last_error());
    float x[B * D];
    int32_t y[B];
    lt_rng_fill_normal(&r, x, B * D, 0, 1);
    for (int i = 0; i < B; i++) y[i] = (int32_t)lt_rng_below(&r, 7);
    long allocs = -1;
    size_t chunks = 0, in_use = 0;
    double losses[STEPS];
    for (int step = 0; step < STEPS; step++) {
        lt_tensor *loss = mlp_loss(c, &m, x, y, B, D);
        cr_assert_eq(lt_backward(c, loss), LT_OK, "step %d: %s", step, lt_last_error());
        double l = lt_tensor_item(loss);
        cr_assert(isfinite(l), "step %d: loss %g", step, l);
        losses[step] = l;
        double gn = lt_clip_grad_norm(&ps, 1.0);
        cr_assert(isfinite(gn) && gn > 0, "step %d: grad norm %g", step, gn);
        cr_assert_eq(lt_optim_step(o), LT_OK, "step %d: %s", step, lt_last_error());
        lt_params_zero_grad(&ps);
        lt_ctx_reset(c);
        cr_assert_eq(lt_ctx_sync(c), LT_OK, "step %d: %s", step, lt_last_error());
        lt_device_mem_stats st = lt_device_memory(LT_CUDA);
        if (step == 2) {
            allocs = st.n_device_allocs;
            chunks = c->dev_arena.n_chunk_allocs;
            in_use = st.bytes_in_use;
        } else if (step > 2) {
            cr_assert_eq(st.n_device_allocs, allocs, "step %d: %ld cudaMalloc calls, %ld after step 2", step,
                         st.n_device_allocs, allocs);
            cr_assert_eq(c->dev_arena.n_chunk_allocs, chunks, "step %d: the device arena grew after warm-up", step);
            cr_assert_eq(st.bytes_in_use, in_use, "step %d: %zu bytes in use, %zu after step 2", step,
                         st.bytes_in_use, in_use);
        }
    }
    cr_assert(allocs > 0, "the caching allocator reports no cudaMalloc at all");
    double first = (losses[0] + losses[1] + losses[2]) / 3;
    double last = (losses[STEPS - 3] + losses[STEPS - 2] + losses[STEPS - 1]) / 3;
    cr_assert(last < first, "loss did not fall on a fixed batch: %g -> %g (means of 3 steps)", first, last);
    lt_ctx_free(c);
    lt_optim_free(o);
    lt_params_free(&ps);
}

// 2^40 floats (4 TiB): NULL and a message naming cudaMalloc and the size; the
// device keeps working afterwards.
Test(allocator, absurd_allocation_fails_with_a_message) {
    need_gpu();
    const char *bytes = "4398046511104";   // 2^42
    lt_tensor *t = lt_tensor_alloc(LT_F32, LT_CUDA, LT_SHAPE(1 << 20, 1 << 20));
    cr_assert_null(t, "4 TiB were allocated on the GPU");
    cr_assert(strstr(lt_last_error(), "cudaMalloc") && strstr(lt_last_error(), bytes),
              "message lacks cudaMalloc or the size %s: \"%s\"", bytes, lt_last_error());
    cr_assert_eq(lt_last_status(), LT_ERR_OOM, "status %s", lt_status_name(lt_last_status()));

    // the same through a step's arena
    lt_ctx *c = lt_ctx_new(LT_CUDA, 1);
    cr_assert(c, "%s", lt_last_error());
    lt_clear_error();
    cr_assert_null(lt_tensor_new(c, LT_F32, LT_SHAPE(1 << 20, 1 << 20)));
    cr_assert(strstr(lt_last_error(), "cudaMalloc") && strstr(lt_last_error(), bytes), "arena: \"%s\"",
              lt_last_error());

    // still usable: a small op runs and gives the right numbers
    float a[5] = {1, 2, 3, 4, 5}, b[5] = {10, 20, 30, 40, 50}, s[5];
    lt_tensor *x = lt_tensor_from(c, LT_F32, LT_SHAPE(5), a), *z = lt_tensor_from(c, LT_F32, LT_SHAPE(5), b);
    lt_tensor *y = lt_add(c, x, z);
    cr_assert(y, "%s", lt_last_error());
    cr_assert_eq(lt_tensor_to_host(y, s), LT_OK, "%s", lt_last_error());
    for (int i = 0; i < 5; i++) cr_assert_eq(s[i], a[i] + b[i], "element %d: %g", i, s[i]);
    cr_assert_eq(lt_ctx_sync(c), LT_OK, "%s", lt_last_error());
    lt_tensor *ok = lt_tensor_alloc(LT_F32, LT_CUDA, LT_SHAPE(1000));
    cr_assert(ok, "%s", lt_last_error());
    lt_tensor_free(ok);
    lt_ctx_free(c);
}

// ---------------------------------------------------------------- optimizers

// Same parameters on both devices: odd shapes, a no-decay bias, a frozen one,
// and one that gets its first gradient only at step 3.
static const struct { const char *name; int nd, s[3]; int no_decay, frozen; } PARAMS[] = {
    {"w1", 2, {63, 17}, 0, 0}, {"b1", 1, {17}, 1, 0}, {"w2", 1, {1000}, 0, 0}, {"s", 1, {1}, 0, 0},
    {"frozen", 3, {3, 5, 7}, 0, 1}, {"big", 2, {300, 257}, 0, 0}, {"late", 2, {5, 9}, 0, 0},
};
#define N_PARAMS (int)(sizeof PARAMS / sizeof PARAMS[0])
#define LATE 6

static void make_params(lt_params *ps, lt_device dev) {
    lt_params_init(ps, dev);
    for (int i = 0; i < N_PARAMS; i++) {
        lt_tensor *p = lt_param_new(ps, PARAMS[i].name, PARAMS[i].nd, PARAMS[i].s);
        cr_assert(p, "%s on %s: %s", PARAMS[i].name, lt_device_name(dev), lt_last_error());
        float *v = malloc(sizeof(float) * (size_t)p->numel);
        lt_rng r;
        lt_rng_init(&r, 100 + (uint64_t)i);
        lt_rng_fill_uniform(&r, v, p->numel, -1, 1);
        cr_assert_eq(lt_param_set(p, v), LT_OK, "%s", lt_last_error());
        free(v);
        lt_param_no_decay(p, PARAMS[i].no_decay);
        lt_param_freeze(p, PARAMS[i].frozen);
    }
}

// Gradients of step t (same values on both devices; `scale` sets their size).
static void set_grads(lt_params *ps, int t, float scale) {
    for (int i = 0; i < ps->n; i++) {
        lt_tensor *p = ps->t[i];
        if (!p->requires_grad || (i == LATE && t < 3)) continue;
        size_t bytes = sizeof(float) * (size_t)p->numel;
        if (!p->grad) {
            p->grad = lt_device_alloc(p->device, bytes);
            cr_assert(p->grad, "%s", lt_last_error());
        }
        float *g = malloc(bytes);
        lt_rng r;
        lt_rng_init(&r, 1000 * (uint64_t)t + (uint64_t)i);
        lt_rng_fill_uniform(&r, g, p->numel, -scale, scale);
        if (i == 3) g[0] = t % 2 ? 1e-3f : -2.5f;   // small and large steps of a scalar
        cr_assert_eq(lt_device_copy(p->device, p->grad, LT_CPU, g, bytes), LT_OK, "%s", lt_last_error());
        free(g);
    }
}

static float *to_host(lt_device d, const void *src, int64_t n) {
    float *h = malloc(sizeof(float) * (size_t)(n ? n : 1));
    cr_assert_eq(lt_device_copy(LT_CPU, h, d, src, sizeof(float) * (size_t)n), LT_OK, "%s", lt_last_error());
    return h;
}

// Compares a CUDA buffer with the CPU one (1e-6 relative, rms floor).
static void compare_buf(const lt_parity *pc, const char *what, const lt_tensor *ref, const void *ref_data,
                        const void *got_data) {
    if (!ref_data && !got_data) return;
    cr_expect(ref_data && got_data, "%s: %s exists on %s only", pc->name, what, ref_data ? "cpu" : "cuda");
    if (!ref_data || !got_data) return;
    float *g = to_host(DEV, got_data, ref->numel);
    lt_parity_compare(pc, what, LT_F32, ref->ndim, ref->shape, ref_data, g, ref->numel);
    free(g);
}

typedef enum { OPT_ADAMW, OPT_SGD_MOMENTUM, OPT_SGD_NESTEROV } opt_kind;

static lt_optim *make_optim(lt_params *ps, opt_kind k) {
    lt_optim *o;
    if (k == OPT_ADAMW) {
        lt_adamw_opts a = lt_adamw_defaults(1e-2f);
        a.weight_decay = 0.1f;
        o = lt_optim_adamw(ps, a);
    } else {
        lt_sgd_opts s = {0.05f, 0.9f, k == OPT_SGD_MOMENTUM ? 0.1f : 0.f, 0.01f, k == OPT_SGD_NESTEROV};
        o = lt_optim_sgd(ps, s);
    }
    cr_assert(o, "optimizer on %s: %s", lt_device_name(ps->device), lt_last_error());
    return o;
}

// Six steps with a changing learning rate; clipping on odd steps (the norm is
// well above 1), plain norms on even ones. After each step: the norm, the
// clipped gradients, the parameters and the optimizer state.
static void check_optimizer(opt_kind kind, const char *name) {
    need_parity_device();
    lt_params pc, pg;
    make_params(&pc, LT_CPU);
    make_params(&pg, DEV);
    lt_optim *oc = make_optim(&pc, kind), *og = make_optim(&pg, kind);
    for (int t = 1; t <= 6; t++) {
        lt_parity pp;
        lt_parity_init(&pp, 0, "%s step %d", name, t);
        pp.tol = 1e-6;
        pp.noise = 0;   // clipped gradients and second moments are legitimately tiny
        float scale = t == 4 ? 1e-3f : 1.0f;   // unclipped small gradients at step 4
        set_grads(&pc, t, scale);
        set_grads(&pg, t, scale);
        double max_norm = t % 2 ? 1.0 : 0.0;
        double nc = lt_clip_grad_norm(&pc, max_norm), ng = lt_clip_grad_norm(&pg, max_norm);
        cr_assert(isfinite(nc) && isfinite(ng), "%s: norms cpu %g cuda %g", pp.name, nc, ng);
        cr_expect(fabs(ng - nc) <= 1e-6 * nc, "%s: lt_clip_grad_norm cuda %.12g, cpu %.12g (rel %.3g)", pp.name, ng,
                  nc, fabs(ng - nc) / nc);
        float lr = (kind == OPT_ADAMW ? 1e-2f : 0.05f) * (1.0f + 0.1f * (float)t);
        oc->lr = og->lr = lr;
        cr_assert_eq(lt_optim_step(oc), LT_OK, "%s cpu: %s", pp.name, lt_last_error());
        cr_assert_eq(lt_optim_step(og), LT_OK, "%s cuda: %s", pp.name, lt_last_error());
        cr_assert_eq(lt_device_sync(DEV), LT_OK, "%s: %s", pp.name, lt_last_error());
        for (int i = 0; i < pc.n; i++) {
            const lt_tensor *a = pc.t[i], *b = pg.t[i];
            char what[64];
            snprintf(what, sizeof what, "%s grad", a->name);
            compare_buf(&pp, what, a, a->grad, b->grad);
            snprintf(what, sizeof what, "%s", a->name);
            compare_buf(&pp, what, a, a->data, b->data);
            snprintf(what, sizeof what, "%s state m", a->name);
            compare_buf(&pp, what, a, oc->m[i] ? oc->m[i]->data : NULL, og->m[i] ? og->m[i]->data : NULL);
            snprintf(what, sizeof what, "%s state v", a->name);
            compare_buf(&pp, what, a, oc->v[i] ? oc->v[i]->data : NULL, og->v[i] ? og->v[i]->data : NULL);
            cr_expect_eq(oc->steps[i], og->steps[i], "%s: %s: %lld updates on cpu, %lld on cuda", pp.name, a->name,
                         (long long)oc->steps[i], (long long)og->steps[i]);
        }
        lt_params_zero_grad(&pc);
        lt_params_zero_grad(&pg);
    }
    // the frozen parameter never moved and never got a gradient
    cr_assert_null(pg.t[4]->grad);
    lt_optim_free(oc);
    lt_optim_free(og);
    lt_params_free(&pc);
    lt_params_free(&pg);
}

Test(optim, adamw_matches_cpu) { check_optimizer(OPT_ADAMW, "adamw"); }
Test(optim, sgd_momentum_matches_cpu) { check_optimizer(OPT_SGD_MOMENTUM, "sgd momentum"); }
Test(optim, sgd_nesterov_matches_cpu) { check_optimizer(OPT_SGD_NESTEROV, "sgd nesterov"); }

// A non-finite gradient: the norm is NaN on both devices and nothing is scaled.
Test(optim, clip_with_a_nonfinite_gradient) {
    need_parity_device();
    lt_params pg;
    make_params(&pg, DEV);
    set_grads(&pg, 5, 1.0f);
    float bad = INFINITY;
    cr_assert_eq(lt_device_copy(DEV, pg.t[2]->grad + 17, LT_CPU, &bad, sizeof bad), LT_OK, "%s", lt_last_error());
    float *before = to_host(DEV, pg.t[0]->grad, pg.t[0]->numel);
    double n = lt_clip_grad_norm(&pg, 1.0);
    cr_assert(isnan(n), "norm %g with an inf gradient (want NaN)", n);
    float *after = to_host(DEV, pg.t[0]->grad, pg.t[0]->numel);
    cr_assert(!memcmp(before, after, sizeof(float) * (size_t)pg.t[0]->numel), "gradients were scaled");
    free(before);
    free(after);
    lt_params_free(&pg);
}
