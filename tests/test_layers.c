// Layer modules: PyTorch parameter names and shapes, initializers, forward
// equal to the ops they are made of, errors on bad sizes.
#include "lt_test.h"

Test(layers, linear_names_shapes_and_init_range) {
    lt_params ps;
    lt_params_init(&ps, LT_CPU);
    lt_rng r;
    lt_rng_init(&r, 11);
    lt_linear_layer l;
    cr_assert_eq(lt_linear_layer_init(&l, &ps, &r, "fc1", 37, 5, 1), LT_OK);
    cr_assert_eq(lt_params_find(&ps, "fc1.weight"), l.w);
    cr_assert_eq(lt_params_find(&ps, "fc1.bias"), l.b);
    cr_assert(l.w->shape[0] == 5 && l.w->shape[1] == 37, "torch layout is [out, in]");
    float k = 1.f / sqrtf(37.f), mx = 0;
    for (int64_t i = 0; i < l.w->numel; i++) mx = fmaxf(mx, fabsf(lt_f32(l.w)[i]));
    cr_assert(mx <= k && mx > 0.8f * k, "U(-1/sqrt(in), 1/sqrt(in)): max |w| %g, bound %g", mx, k);
    lt_linear_layer nb;
    cr_assert_eq(lt_linear_layer_init(&nb, &ps, &r, "fc2", 5, 3, 0), LT_OK);
    cr_assert_null(nb.b);
    cr_assert_null(lt_params_find(&ps, "fc2.bias"));
    cr_assert_neq(lt_linear_layer_init(&nb, &ps, &r, "fc1", 5, 3, 0), LT_OK, "duplicate name accepted");
    cr_assert(strstr(lt_last_error(), "fc1.weight"), "%s", lt_last_error());
    cr_assert_neq(lt_linear_layer_init(&nb, &ps, &r, "fc3", 0, 3, 0), LT_OK);
    cr_assert_eq(lt_params_numel(&ps, 1), 37 * 5 + 5 + 15);
    lt_params_free(&ps);
}

Test(layers, mlp_matches_its_ops_and_torch_sequential_names) {
    lt_params ps;
    lt_params_init(&ps, LT_CPU);
    lt_rng r;
    lt_rng_init(&r, 12);
    lt_mlp m;
    int dims[4] = {7, 9, 11, 3};
    cr_assert_eq(lt_mlp_init(&m, &ps, &r, "net", 3, dims, LT_ACT_SILU, 0.f), LT_OK);
    cr_assert_not_null(lt_params_find(&ps, "net.0.weight"));
    cr_assert_not_null(lt_params_find(&ps, "net.3.weight"));
    cr_assert_not_null(lt_params_find(&ps, "net.6.bias"));
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    c->arena.poison = 1;
    lt_tensor *x = lt_test_rand(13, -1, 1, LT_SHAPE(5, 7));
    lt_tensor *y = lt_mlp_forward(c, &m, x);
    lt_tensor *h = lt_silu(c, lt_linear(c, x, m.layers[0].w, m.layers[0].b));
    h = lt_silu(c, lt_linear(c, h, m.layers[1].w, m.layers[1].b));
    h = lt_linear(c, h, m.layers[2].w, m.layers[2].b);
    cr_assert(y && h && y->shape[0] == 5 && y->shape[1] == 3);
    lt_assert_allclose("mlp", lt_f32(h), lt_f32(y), y->numel, 0, 0);
    lt_activation a;
    cr_assert_neq(lt_activation_parse("swish", &a), LT_OK);
    cr_assert(strstr(lt_last_error(), "swish"));
    int bad[2] = {7, 3};
    cr_assert_neq(lt_mlp_init(&m, &ps, &r, "bad", 1, bad, LT_ACT_RELU, 1.5f), LT_OK);
    lt_tensor_free(x);
    lt_ctx_free(c);
    lt_params_free(&ps);
}

Test(layers, norms_and_embedding) {
    lt_params ps;
    lt_params_init(&ps, LT_CPU);
    lt_rng r;
    lt_rng_init(&r, 14);
    lt_norm_layer ln, rn;
    lt_embed_layer e;
    cr_assert_eq(lt_layernorm_layer_init(&ln, &ps, "ln", 6, 1e-5f, 1), LT_OK);
    cr_assert_eq(lt_rmsnorm_layer_init(&rn, &ps, "rms", 6, 1e-6f), LT_OK);
    cr_assert_eq(lt_embed_layer_init(&e, &ps, &r, "tok", 13, 6), LT_OK);
    for (int i = 0; i < 6; i++) { cr_assert_eq(lt_f32(ln.w)[i], 1.f); cr_assert_eq(lt_f32(ln.b)[i], 0.f); }
    cr_assert_null(rn.b);
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    int32_t ids[4] = {0, 12, 5, 5};
    lt_tensor *t = lt_tensor_from(c, LT_I32, LT_SHAPE(2, 2), ids);
    lt_tensor *x = lt_embed_layer_forward(c, &e, t);
    cr_assert(x && x->ndim == 3 && x->shape[2] == 6);
    lt_assert_allclose("embedding row", lt_f32(e.w) + 12 * 6, lt_f32(x) + 6, 6, 0, 0);
    lt_tensor *y = lt_rmsnorm_layer_forward(c, &rn, lt_layernorm_layer_forward(c, &ln, x));
    cr_assert_not_null(y, "%s", lt_last_error());
    double ss = 0;
    for (int i = 0; i < 6; i++) ss += (double)lt_f32(y)[i] * lt_f32(y)[i];
    cr_assert_float_eq(ss / 6, 1.0, 1e-3);   // rms of a layernormed row, rmsnormed, is 1
    ids[0] = 13;
    cr_assert_null(lt_embed_layer_forward(c, &e, lt_tensor_from(c, LT_I32, LT_SHAPE(2, 2), ids)));
    cr_assert(strstr(lt_last_error(), "13"), "%s", lt_last_error());
    lt_ctx_free(c);
    lt_params_free(&ps);
}
