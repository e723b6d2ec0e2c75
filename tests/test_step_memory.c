// A training loop allocates nothing after its first steps: the arena and the
// tape keep their capacity across lt_ctx_reset. Also: no-grad records no tape,
// frozen parameters get no gradient buffer.
#include "lt_test.h"

static lt_tensor *mlp_loss(lt_ctx *c, lt_mlp *m, const float *x, const int32_t *y, int B) {
    lt_tensor *xt = lt_tensor_from(c, LT_F32, LT_SHAPE(B, 33), x);
    lt_tensor *yt = lt_tensor_from(c, LT_I32, LT_SHAPE(B), y);
    lt_tensor *h = lt_layernorm(c, lt_mlp_forward(c, m, xt), NULL, NULL, 1e-5f);
    return lt_cross_entropy(c, h, yt, -100, 0.1f);
}

Test(step_memory, steady_state_allocates_nothing) {
    lt_params ps;
    lt_params_init(&ps, LT_CPU);
    lt_rng r;
    lt_rng_init(&r, 3);
    lt_mlp m;
    int dims[4] = {33, 65, 31, 7};
    cr_assert_eq(lt_mlp_init(&m, &ps, &r, "net", 3, dims, LT_ACT_GELU, 0.25f), LT_OK);
    lt_optim *o = lt_optim_adamw(&ps, lt_adamw_defaults(1e-3f));
    lt_ctx *c = lt_ctx_new(LT_CPU, 5);
    enum { B = 37 };
    float x[B * 33];
    int32_t y[B];
    lt_rng_fill_normal(&r, x, B * 33, 0, 1);
    for (int i = 0; i < B; i++) y[i] = (int32_t)lt_rng_below(&r, 7);
    size_t chunks = 0;
    int tape_cap = 0;
    double first = 0, last = 0;
    for (int step = 0; step < 40; step++) {
        lt_tensor *loss = mlp_loss(c, &m, x, y, B);
        cr_assert_eq(lt_backward(c, loss), LT_OK, "%s", lt_last_error());
        if (step == 0) first = lt_tensor_item(loss);
        last = lt_tensor_item(loss);
        lt_optim_step(o);
        lt_params_zero_grad(&ps);
        lt_ctx_reset(c);
        if (step == 2) { chunks = c->arena.n_chunk_allocs; tape_cap = c->tape_cap; }
    }
    cr_assert_eq(c->arena.n_chunk_allocs, chunks, "arena grew after warm-up");
    cr_assert_eq(c->tape_cap, tape_cap, "tape grew after warm-up");
    cr_assert(last < first, "loss did not fall on a fixed batch: %g -> %g", first, last);

    // no-grad: nothing recorded
    lt_no_grad_begin(c);
    lt_tensor *l = mlp_loss(c, &m, x, y, B);
    lt_no_grad_end(c);
    cr_assert(l && !l->requires_grad && c->tape_len == 0);
    lt_ctx_reset(c);

    // frozen first layer: no gradient buffer is ever made for it
    lt_tensor *w0 = m.layers[0].w;
    free(w0->grad);
    w0->grad = NULL;
    lt_param_freeze(w0, 1);
    cr_assert_eq(lt_backward(c, mlp_loss(c, &m, x, y, B)), LT_OK);
    cr_assert_null(w0->grad);
    cr_assert_not_null(m.layers[1].w->grad);
    lt_ctx_free(c);
    lt_optim_free(o);
    lt_params_free(&ps);
}

Test(step_memory, errors_propagate_through_chains) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    lt_tensor *a = lt_tensor_zeros(c, LT_F32, LT_SHAPE(3, 5));
    lt_tensor *b = lt_tensor_zeros(c, LT_F32, LT_SHAPE(4, 7));
    lt_tensor *out = lt_relu(c, lt_sum(c, lt_matmul(c, a, b), 0, 0));
    cr_assert_null(out);
    cr_assert(strstr(lt_last_error(), "matmul") && strstr(lt_last_error(), "[3,5]") && strstr(lt_last_error(), "[4,7]"),
              "%s", lt_last_error());
    cr_assert_neq(lt_backward(c, out), LT_OK);
    cr_assert(strstr(lt_last_error(), "matmul"), "%s", lt_last_error());
    lt_ctx_free(c);
}
