// Optimizer updates against hand-computed values (PyTorch's rules), clipping, schedules.
#include "lt_test.h"

static lt_tensor *one_param(lt_params *ps, float v) {
    lt_params_init(ps, LT_CPU);
    lt_tensor *p = lt_param_new(ps, "w", LT_SHAPE(1));
    lt_f32(p)[0] = v;
    p->grad = calloc(1, sizeof(float));
    return p;
}

Test(optim, sgd_plain) {
    lt_params ps; lt_tensor *p = one_param(&ps, 1.f);
    lt_optim *o = lt_optim_sgd(&ps, lt_sgd_defaults(0.1f));
    p->grad[0] = 0.5f;
    cr_assert_eq(lt_optim_step(o), LT_OK);
    cr_assert_float_eq(lt_f32(p)[0], 0.95f, 1e-7);
    lt_optim_free(o); lt_params_free(&ps);
}

Test(optim, sgd_momentum_weight_decay) {
    // step 1: d = 0.5 + 0.1*1 = 0.6, buf = 0.6, p = 1 - 0.06 = 0.94
    // step 2: d = 0.5 + 0.094 = 0.594, buf = 0.54 + 0.594 = 1.134, p = 0.94 - 0.1134 = 0.8266
    lt_params ps; lt_tensor *p = one_param(&ps, 1.f);
    lt_sgd_opts s = {0.1f, 0.9f, 0.f, 0.1f, 0};
    lt_optim *o = lt_optim_sgd(&ps, s);
    p->grad[0] = 0.5f; lt_optim_step(o);
    cr_assert_float_eq(lt_f32(p)[0], 0.94f, 1e-6);
    lt_optim_step(o);
    cr_assert_float_eq(lt_f32(p)[0], 0.8266f, 1e-6);
    lt_optim_free(o); lt_params_free(&ps);
}

Test(optim, sgd_nesterov) {
    // d = 0.6, buf = 0.6, nesterov d = 0.6 + 0.9*0.6 = 1.14, p = 1 - 0.114
    lt_params ps; lt_tensor *p = one_param(&ps, 1.f);
    lt_sgd_opts s = {0.1f, 0.9f, 0.f, 0.1f, 1};
    lt_optim *o = lt_optim_sgd(&ps, s);
    p->grad[0] = 0.5f; lt_optim_step(o);
    cr_assert_float_eq(lt_f32(p)[0], 0.886f, 1e-6);
    lt_optim_free(o); lt_params_free(&ps);
}

Test(optim, adamw_two_steps) {
    // lr 0.1, wd 0.01, betas (0.9, 0.999), eps 1e-8; grads 0.5 then -1.
    // step 1: p = 0.999 - 0.05/0.5 = 0.899; step 2 worked out in double: 0.934711354...
    lt_params ps; lt_tensor *p = one_param(&ps, 1.f);
    lt_optim *o = lt_optim_adamw(&ps, lt_adamw_defaults(0.1f));
    p->grad[0] = 0.5f; lt_optim_step(o);
    cr_assert_float_eq(lt_f32(p)[0], 0.899f, 1e-6);
    p->grad[0] = -1.f; lt_optim_step(o);
    cr_assert_float_eq(lt_f32(p)[0], 0.93471135f, 2e-6);
    lt_optim_free(o); lt_params_free(&ps);
}

Test(optim, frozen_and_gradless_params_untouched) {
    lt_params ps; lt_params_init(&ps, LT_CPU);
    lt_tensor *a = lt_param_new(&ps, "a", LT_SHAPE(2));
    lt_tensor *b = lt_param_new(&ps, "b", LT_SHAPE(2));
    lt_param_fill(a, 1.f); lt_param_fill(b, 1.f);
    lt_param_freeze(a, 1);
    lt_optim *o = lt_optim_adamw(&ps, lt_adamw_defaults(0.1f));
    cr_assert_null(o->m[0], "frozen parameter got optimizer state");
    cr_assert_eq(lt_optim_step(o), LT_OK);   // b has no gradient yet: skipped, weight decay not applied
    cr_assert_eq(lt_f32(a)[0], 1.f); cr_assert_eq(lt_f32(b)[0], 1.f);
    lt_optim_free(o); lt_params_free(&ps);
}

Test(optim, clip_grad_norm) {
    lt_params ps; lt_params_init(&ps, LT_CPU);
    lt_tensor *a = lt_param_new(&ps, "a", LT_SHAPE(2));
    lt_tensor *b = lt_param_new(&ps, "b", LT_SHAPE(1));
    a->grad = calloc(2, 4); b->grad = calloc(1, 4);
    a->grad[0] = 3; a->grad[1] = 0; b->grad[0] = 4;   // norm 5
    double n = lt_clip_grad_norm(&ps, 1.0);
    cr_assert_float_eq(n, 5.0, 1e-9);
    cr_assert_float_eq(a->grad[0], 3.f / (5.f + 1e-6f), 1e-6);
    cr_assert_float_eq(b->grad[0], 4.f / (5.f + 1e-6f), 1e-6);
    cr_assert_float_eq(lt_clip_grad_norm(&ps, 10.0), 1.0, 1e-5);   // under the limit: unchanged
    b->grad[0] = NAN;
    cr_assert(isnan(lt_clip_grad_norm(&ps, 1.0)));
    lt_params_free(&ps);
}

Test(optim, bad_options) {
    lt_params ps; lt_params_init(&ps, LT_CPU);
    lt_adamw_opts a = lt_adamw_defaults(0.1f);
    a.beta1 = 1.f;
    cr_assert_null(lt_optim_adamw(&ps, a));
    cr_assert(strstr(lt_last_error(), "AdamW"), "%s", lt_last_error());
    lt_sgd_opts s = {0.1f, 0.f, 0.f, 0.f, 1};
    cr_assert_null(lt_optim_sgd(&ps, s));
    cr_assert(strstr(lt_last_error(), "nesterov"), "%s", lt_last_error());
    lt_params_free(&ps);
}

Test(schedule, warmup_then_cosine) {
    lt_schedule s = {LT_SCHED_COSINE, 1e-3f, 1e-5f, 10, 110};
    cr_assert_float_eq(lt_schedule_lr(&s, 0), 1e-4f, 1e-9);
    cr_assert_float_eq(lt_schedule_lr(&s, 9), 1e-3f, 1e-9);
    cr_assert_float_eq(lt_schedule_lr(&s, 10), 1e-3f, 1e-9);
    cr_assert_float_eq(lt_schedule_lr(&s, 60), 0.000505f, 1e-9);   // half way: (base+min)/2
    cr_assert_float_eq(lt_schedule_lr(&s, 110), 1e-5f, 1e-9);
    cr_assert_float_eq(lt_schedule_lr(&s, 500), 1e-5f, 1e-9);
    lt_schedule k = {LT_SCHED_CONSTANT, 3e-4f, 0, 0, 100};
    cr_assert_float_eq(lt_schedule_lr(&k, 50), 3e-4f, 1e-12);
    lt_schedule_kind kind;
    cr_assert_eq(lt_schedule_parse("cosine", &kind), LT_OK);
    cr_assert_neq(lt_schedule_parse("linear", &kind), LT_OK);
    cr_assert(strstr(lt_last_error(), "linear"));
}

Test(optim, no_decay_parameters_skip_weight_decay) {
    lt_params ps; lt_params_init(&ps, LT_CPU);
    lt_tensor *w = lt_param_new(&ps, "w", LT_SHAPE(1));
    lt_tensor *g = lt_param_new(&ps, "gain", LT_SHAPE(1));
    lt_param_fill(w, 1.f); lt_param_fill(g, 1.f);
    lt_param_no_decay(g, 1);
    w->grad = calloc(1, 4); g->grad = calloc(1, 4);   // zero gradients: only decay moves a weight
    lt_adamw_opts a = lt_adamw_defaults(0.1f);
    a.weight_decay = 0.5f;
    lt_optim *o = lt_optim_adamw(&ps, a);
    lt_optim_step(o);
    cr_assert_float_eq(lt_f32(w)[0], 0.95f, 1e-6);   // 1 * (1 - 0.1 * 0.5)
    cr_assert_eq(lt_f32(g)[0], 1.f);
    lt_optim_free(o); lt_params_free(&ps);
}
