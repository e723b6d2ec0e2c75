// Core: errors, arena reuse, RNG, op table.
#include "lt_test.h"

Test(core, arena_stops_allocating_after_first_step) {
    lt_arena a;
    lt_arena_init(&a, 1024);
    for (int step = 0; step < 5; step++) {
        for (int i = 0; i < 100; i++) cr_assert(lt_arena_alloc(&a, 4096));
        lt_arena_reset(&a);
    }
    size_t after_warmup = a.n_chunk_allocs;
    for (int step = 0; step < 20; step++) {
        for (int i = 0; i < 100; i++) cr_assert(lt_arena_alloc(&a, 4096));
        lt_arena_reset(&a);
    }
    cr_assert_eq(a.n_chunk_allocs, after_warmup, "arena allocated %zu chunks in steady state",
                 a.n_chunk_allocs - after_warmup);
    lt_arena_free(&a);
}

Test(core, philox_known_answer) {
    // Random123 known-answer vector for philox4x32-10: counter 0, key 0.
    uint32_t o[4];
    lt_philox4x32(0, 0, o);
    cr_assert_eq(o[0], 0x6627e8d5u); cr_assert_eq(o[1], 0xe169c58du);
    cr_assert_eq(o[2], 0xbc57ac4cu); cr_assert_eq(o[3], 0x9b00dbd8u);
}

Test(core, rng_is_counter_based) {
    lt_rng a, b;
    lt_rng_init(&a, 7); lt_rng_init(&b, 7);
    float x[10], y[10];
    lt_rng_fill_uniform(&a, x, 10, 0, 1);
    lt_rng_fill_uniform(&b, y, 10, 0, 1);
    for (int i = 0; i < 10; i++) { cr_assert_eq(x[i], y[i]); cr_assert(x[i] >= 0 && x[i] < 1); }
    uint64_t base = 0;
    cr_assert_eq(lt_rng_uniform_at(7, base, 5), x[5]);   // any element without drawing the others
    double m = 0;
    for (int i = 0; i < 20000; i++) m += lt_rng_normal(&a);
    cr_assert(fabs(m / 20000) < 0.03, "normal mean %g", m / 20000);
}

Test(core, op_table_names_and_cpu_support) {
    for (int op = 0; op < LT_OP_COUNT; op++) {
        cr_assert(lt_op_name((lt_op)op)[0] != '?');
        cr_assert(lt_backend_supports(LT_CPU, (lt_op)op), "cpu lacks %s", lt_op_name((lt_op)op));
    }
}

Test(core, cuda_absent_is_a_clear_error) {
    if (lt_device_check(LT_CUDA) == LT_OK) cr_skip_test("a GPU is present");
    lt_ctx *c = lt_ctx_new(LT_CUDA, 1);
    cr_assert_null(c);
    cr_assert(strstr(lt_last_error(), "cuda"), "message: %s", lt_last_error());
}

Test(core, cuda_backend_declares_every_op) {
#ifdef LT_HAVE_CUDA
    // The CUDA table is generated from ops.def, so every op has both kernels.
    for (int op = 0; op < LT_OP_COUNT; op++)
        cr_assert(lt_backend_supports(LT_CUDA, (lt_op)op), "cuda lacks %s", lt_op_name((lt_op)op));
#else
    cr_assert(!lt_backend_supports(LT_CUDA, LT_OP_add), "a build without CUDA claims a cuda kernel");
    cr_assert_neq(lt_device_check(LT_CUDA), LT_OK);
    cr_assert(strstr(lt_last_error(), "without the CUDA backend"), "%s", lt_last_error());
#endif
}

Test(core, step_memory_on_another_device_is_refused) {
    lt_ctx *c = lt_ctx_new(LT_CPU, 1);
    cr_assert(lt_ctx_alloc_on(c, LT_CPU, 100));
    cr_assert_null(lt_ctx_alloc_on(c, LT_CUDA, 100));
    cr_assert(strstr(lt_last_error(), "cuda") && strstr(lt_last_error(), "cpu"), "%s", lt_last_error());
    cr_assert_eq(lt_ctx_sync(c), LT_OK);   // nothing queued on the CPU
    lt_ctx_free(c);
}

Test(core, matmul_precision_names) {
    lt_precision p;
    const char *names[] = {"fp32", "tf32", "bf16"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(lt_precision_parse(names[i], &p), LT_OK);
        cr_assert_str_eq(lt_precision_name(p), names[i]);
    }
    cr_assert_eq(lt_precision_parse("fp16", &p), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "'fp16'") && strstr(lt_last_error(), "bf16"), "%s", lt_last_error());
    lt_set_matmul_precision(LT_PREC_TF32);
    cr_assert_eq(lt_matmul_precision(), LT_PREC_TF32);
    lt_set_matmul_precision(LT_PREC_FP32);
}

Test(core, device_memory_stats_are_zero_on_cpu) {
    lt_device_mem_stats m = lt_device_memory(LT_CPU);
    cr_assert(m.bytes_in_use == 0 && m.bytes_cached == 0 && m.n_device_allocs == 0);
}
