// Attention diagnostics: mean/min row entropy and sink score against a naive
// materialized softmax (GQA, causal, block mask, several batches, the
// multi-threaded path), the metrics.jsonl record parsed back with
// libtrain/json.h, one check through lt_attention itself, bad input.
#include "lt_test.h"
#include "layers/attn_diagnostics.h"
#include "libtrain/json.h"

#include <unistd.h>

typedef struct {
    int B, Hq, Hkv, T, S, D;
    float scale;            // already resolved (not 0)
    int causal;
    const int32_t *mask;    // [B,Hq,ceil(T/bq),ceil(S/bk)] or NULL
    int bq, bk;
} attn_case;

// Naive softmax attention rows: lse and entropy per row [B,Hq,T], and P[row, 0].
static void naive_rows(const attn_case *a, const float *q, const float *k, float *lse, float *ent, double *p0) {
    int group = a->Hq / a->Hkv, nbq = (a->T + a->bq - 1) / (a->bq ? a->bq : 1), nbk = a->mask ? (a->S + a->bk - 1) / a->bk : 0;
    double *s = malloc(sizeof(double) * (size_t)a->S);
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->Hq; h++)
            for (int t = 0; t < a->T; t++) {
                int64_t row = ((int64_t)b * a->Hq + h) * a->T + t;
                const float *qr = q + row * a->D;
                long double z = 0;
                for (int j = 0; j < a->S; j++) {
                    int vis = !a->causal || j <= t;
                    if (a->mask) vis = vis && a->mask[(((int64_t)b * a->Hq + h) * nbq + t / a->bq) * nbk + j / a->bk];
                    if (!vis) { s[j] = -INFINITY; continue; }
                    const float *kr = k + (((int64_t)b * a->Hkv + h / group) * a->S + j) * a->D;
                    double dot = 0;
                    for (int i = 0; i < a->D; i++) dot += (double)qr[i] * kr[i];
                    s[j] = a->scale * dot;
                    z += expl((long double)s[j]);
                }
                long double e = 0;
                for (int j = 0; j < a->S; j++) {
                    if (s[j] == -INFINITY) continue;
                    long double p = expl((long double)s[j]) / z;
                    if (p > 0) e -= p * logl(p);
                }
                lse[row] = (float)logl(z);
                ent[row] = (float)e;
                p0[row] = s[0] == -INFINITY ? 0.0 : (double)(expl((long double)s[0]) / z);
            }
    free(s);
}

// Expected per-head mean/min entropy and mean sink over the rows of one layer.
static void naive_stats(const attn_case *a, const float *ent, const double *p0, double *mean, double *mn,
                        double *sink) {
    for (int h = 0; h < a->Hq; h++) {
        mean[h] = sink[h] = 0;
        mn[h] = INFINITY;
        for (int b = 0; b < a->B; b++)
            for (int t = 0; t < a->T; t++) {
                int64_t row = ((int64_t)b * a->Hq + h) * a->T + t;
                mean[h] += ent[row];
                mn[h] = fmin(mn[h], ent[row]);
                sink[h] += p0[row];
            }
        mean[h] /= a->B * a->T;
        sink[h] /= a->B * a->T;
    }
}

typedef struct { lt_tensor *q, *k, *lse, *ent; double *p0; } case_data;

static case_data make_case(const attn_case *a, uint64_t seed) {
    case_data c;
    c.q = lt_test_rand(seed, -1.5f, 1.5f, LT_SHAPE(a->B, a->Hq, a->T, a->D));
    c.k = lt_test_rand(seed + 1, -1.5f, 1.5f, LT_SHAPE(a->B, a->Hkv, a->S, a->D));
    // the first key made large and aligned with the queries, so sink scores differ clearly between heads
    for (int b = 0; b < a->B; b++)
        for (int g = 0; g < a->Hkv; g++)
            for (int i = 0; i < a->D; i++) lt_f32(c.k)[(((int64_t)b * a->Hkv + g) * a->S) * a->D + i] *= 1.0f + g;
    c.lse = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(a->B, a->Hq, a->T));
    c.ent = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(a->B, a->Hq, a->T));
    c.p0 = malloc(sizeof(double) * (size_t)c.lse->numel);
    naive_rows(a, lt_f32(c.q), lt_f32(c.k), lt_f32(c.lse), lt_f32(c.ent), c.p0);
    return c;
}

static void free_case(case_data *c) {
    lt_tensor_free(c->q);
    lt_tensor_free(c->k);
    lt_tensor_free(c->lse);
    lt_tensor_free(c->ent);
    free(c->p0);
}

static void expect_close(const char *what, int l, int h, double got, double want, double tol) {
    cr_assert(fabs(got - want) <= tol * (1 + fabs(want)), "%s l%d h%d: got %.9g want %.9g", what, l, h, got, want);
}

Test(attn_diag, gqa_causal_matches_naive_and_accumulates) {
    attn_case a = {2, 4, 2, 7, 9, 5, 0, 1, NULL, 1, 1};
    a.scale = 1.0f / sqrtf(5.0f);
    case_data c1 = make_case(&a, 1), c2 = make_case(&a, 11);
    lt_attn_diag d;
    cr_assert_eq(lt_attn_diag_init(&d, 3, 4), LT_OK, "%s", lt_last_error());
    // layer 0: two batches (scale 0 = 1/sqrt(D)); layer 2: sink only
    cr_assert_eq(lt_attn_diag_add(&d, 0, c1.q, c1.k, c1.lse, c1.ent, 0), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_attn_diag_add(&d, 0, c2.q, c2.k, c2.lse, c2.ent, a.scale), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_attn_diag_add(&d, 2, c1.q, c1.k, c1.lse, NULL, 0), LT_OK, "%s", lt_last_error());
    double m1[4], n1[4], s1[4], m2[4], n2[4], s2[4];
    naive_stats(&a, lt_f32(c1.ent), c1.p0, m1, n1, s1);
    naive_stats(&a, lt_f32(c2.ent), c2.p0, m2, n2, s2);
    int distinct = 0;
    for (int h = 0; h < 4; h++) {
        expect_close("entropy mean", 0, h, lt_attn_diag_entropy_mean(&d, 0, h), (m1[h] + m2[h]) / 2, 1e-6);
        expect_close("entropy min", 0, h, lt_attn_diag_entropy_min(&d, 0, h), fmin(n1[h], n2[h]), 1e-6);
        expect_close("sink", 0, h, lt_attn_diag_sink(&d, 0, h), (s1[h] + s2[h]) / 2, 1e-5);
        expect_close("sink", 2, h, lt_attn_diag_sink(&d, 2, h), s1[h], 1e-5);
        cr_assert(isnan(lt_attn_diag_entropy_mean(&d, 2, h)) && isnan(lt_attn_diag_entropy_min(&d, 2, h)));
        cr_assert(isnan(lt_attn_diag_sink(&d, 1, h)) && isnan(lt_attn_diag_entropy_mean(&d, 1, h)));
        distinct += fabs(s1[h] - s1[0]) > 1e-3;
        // causal: the first row sees only key 0, so its entropy is 0 and the head's minimum too
        cr_assert(fabs(lt_attn_diag_entropy_min(&d, 0, h)) < 1e-6);
        cr_assert(s1[h] > 1.0 / 7 && s1[h] < 1, "sink %g: row 0 puts all its mass on key 0", s1[h]);
    }
    cr_assert(distinct > 0, "the case does not tell heads apart");
    lt_attn_diag_reset(&d);
    cr_assert(isnan(lt_attn_diag_sink(&d, 0, 0)) && isnan(lt_attn_diag_entropy_mean(&d, 0, 0)));
    lt_attn_diag_free(&d);
    free_case(&c1);
    free_case(&c2);
}

Test(attn_diag, block_mask_hides_first_key_block) {
    attn_case a = {1, 2, 1, 7, 10, 3, 0.7f, 0, NULL, 3, 4};
    int nbq = 3, nbk = 3;
    int32_t mask[2 * 3 * 3];
    for (int i = 0; i < 18; i++) mask[i] = 1;
    mask[(0 * nbq + 1) * nbk + 0] = 0;   // head 0, query rows 3..5: keys 0..3 skipped
    mask[(1 * nbq + 2) * nbk + 0] = 0;   // head 1, query row 6
    a.mask = mask;
    case_data c = make_case(&a, 21);
    lt_tensor *bm = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(1, 2, nbq, nbk));
    memcpy(bm->data, mask, sizeof mask);
    lt_attn_opts o = {.scale = 0.7f, .block_mask = bm, .block_q = 3, .block_k = 4};
    lt_attn_out out = {.lse = c.lse, .entropy = c.ent};
    lt_attn_diag d;
    cr_assert_eq(lt_attn_diag_init(&d, 1, 2), LT_OK);
    cr_assert_eq(lt_attn_diag_add_out(&d, 0, c.q, c.k, &o, &out), LT_OK, "%s", lt_last_error());
    double m[2], n[2], s[2];
    naive_stats(&a, lt_f32(c.ent), c.p0, m, n, s);
    for (int h = 0; h < 2; h++) {
        expect_close("sink", 0, h, lt_attn_diag_sink(&d, 0, h), s[h], 1e-5);
        expect_close("entropy mean", 0, h, lt_attn_diag_entropy_mean(&d, 0, h), m[h], 1e-6);
    }
    // without the mask the hidden rows would count exp(s_0 - lse) > 0
    lt_attn_diag_reset(&d);
    cr_assert_eq(lt_attn_diag_add(&d, 0, c.q, c.k, c.lse, c.ent, 0.7f), LT_OK);
    cr_assert(lt_attn_diag_sink(&d, 0, 0) > s[0] + 1e-4, "%g vs %g", lt_attn_diag_sink(&d, 0, 0), s[0]);
    lt_attn_diag_free(&d);
    lt_tensor_free(bm);
    free_case(&c);
}

Test(attn_diag, large_case_multithreaded_path) {
    attn_case a = {2, 8, 2, 150, 150, 32, 0, 1, NULL, 1, 1};
    a.scale = 1.0f / sqrtf(32.0f);
    case_data c = make_case(&a, 31);
    lt_attn_diag d;
    cr_assert_eq(lt_attn_diag_init(&d, 1, 8), LT_OK);
    cr_assert_eq(lt_attn_diag_add(&d, 0, c.q, c.k, c.lse, c.ent, 0), LT_OK, "%s", lt_last_error());
    double m[8], n[8], s[8];
    naive_stats(&a, lt_f32(c.ent), c.p0, m, n, s);
    for (int h = 0; h < 8; h++) {
        expect_close("entropy mean", 0, h, lt_attn_diag_entropy_mean(&d, 0, h), m[h], 1e-6);
        expect_close("entropy min", 0, h, lt_attn_diag_entropy_min(&d, 0, h), n[h], 1e-6);
        expect_close("sink", 0, h, lt_attn_diag_sink(&d, 0, h), s[h], 1e-5);
    }
    lt_attn_diag_free(&d);
    free_case(&c);
}

Test(attn_diag, through_the_attention_op) {
    attn_case a = {2, 4, 2, 13, 13, 8, 0, 1, NULL, 1, 1};
    a.scale = 1.0f / sqrtf(8.0f);
    case_data cd = make_case(&a, 41);
    lt_ctx *c = lt_test_ctx(1);
    lt_tensor *v = lt_test_rand(43, -1, 1, LT_SHAPE(2, 2, 13, 8));
    lt_attn_opts o = lt_attn_defaults();
    o.causal = 1;
    o.want_entropy = 1;
    lt_attn_out out;
    cr_assert_eq(lt_attention(c, cd.q, cd.k, v, &o, &out), LT_OK, "%s", lt_last_error());
    lt_attn_diag d;
    cr_assert_eq(lt_attn_diag_init(&d, 1, 4), LT_OK);
    cr_assert_eq(lt_attn_diag_add_out(&d, 0, cd.q, cd.k, &o, &out), LT_OK, "%s", lt_last_error());
    double m[4], n[4], s[4];
    naive_stats(&a, lt_f32(cd.ent), cd.p0, m, n, s);
    for (int h = 0; h < 4; h++) {
        expect_close("entropy mean", 0, h, lt_attn_diag_entropy_mean(&d, 0, h), m[h], 1e-5);
        expect_close("entropy min", 0, h, lt_attn_diag_entropy_min(&d, 0, h), n[h], 1e-5);
        expect_close("sink", 0, h, lt_attn_diag_sink(&d, 0, h), s[h], 1e-5);
    }
    lt_attn_diag_free(&d);
    lt_tensor_free(v);
    free_case(&cd);
    lt_ctx_free(c);
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

Test(attn_diag, metrics_record_is_json_with_expected_keys) {
    attn_case a = {1, 2, 1, 5, 5, 4, 0, 1, NULL, 1, 1};
    a.scale = 0.5f;
    case_data c = make_case(&a, 51);
    lt_attn_diag d;
    cr_assert_eq(lt_attn_diag_init(&d, 2, 2), LT_OK);
    cr_assert_eq(lt_attn_diag_add(&d, 0, c.q, c.k, c.lse, c.ent, 0.5f), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_attn_diag_add(&d, 1, c.q, c.k, c.lse, NULL, 0.5f), LT_OK, "%s", lt_last_error());
    char dir[] = "/tmp/lt_attn_diag_XXXXXX";
    cr_assert(mkdtemp(dir));
    lt_run r;
    cr_assert_eq(lt_run_open(&r, dir, NULL, 100, -1), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_attn_diag_log(&d, &r, 42), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_attn_diag_log(&d, &r, 43), LT_OK, "%s", lt_last_error());
    lt_run_close(&r);
    char path[1100];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    char *text = read_all(path);
    char *nl = strchr(text, '\n');
    cr_assert(nl && strchr(nl + 1, '\n'), "two lines: %s", text);
    char err[128];
    lt_json *j = lt_json_parse(text, (size_t)(nl - text), err, sizeof err);
    cr_assert(j, "not JSON: %s\n%s", err, text);
    int64_t step;
    cr_assert(lt_json_as_int(lt_json_get(j, "step"), &step) && step == 42);
    cr_assert(lt_json_as_string(lt_json_get(j, "split")) && !strcmp(lt_json_as_string(lt_json_get(j, "split")), "attn"));
    // layer 0: 3 values per head; layer 1: sink only
    cr_assert_eq(lt_json_len(j), 2 + 2 * 3 + 2 * 1, "%s", text);
    for (int l = 0; l < 2; l++)
        for (int h = 0; h < 2; h++) {
            char key[64];
            double v;
            snprintf(key, sizeof key, "attn_sink.l%d.h%d", l, h);
            cr_assert(lt_json_as_double(lt_json_get(j, key), &v), "missing %s", key);
            cr_assert(v == lt_attn_diag_sink(&d, l, h), "%s = %.17g", key, v);
            snprintf(key, sizeof key, "attn_entropy_mean.l%d.h%d", l, h);
            cr_assert(l ? !lt_json_get(j, key) : lt_json_as_double(lt_json_get(j, key), &v), "%s", key);
            if (!l) cr_assert(v == lt_attn_diag_entropy_mean(&d, l, h), "%s = %.17g", key, v);
            snprintf(key, sizeof key, "attn_entropy_min.l%d.h%d", l, h);
            cr_assert(l ? !lt_json_get(j, key) : lt_json_as_double(lt_json_get(j, key), &v), "%s", key);
            if (!l) cr_assert(v == lt_attn_diag_entropy_min(&d, l, h), "%s = %.17g", key, v);
        }
    lt_json_free(j);
    lt_json *j2 = lt_json_parse(nl + 1, strlen(nl + 1), err, sizeof err);
    cr_assert(j2, "second line not JSON: %s", err);
    cr_assert(lt_json_as_int(lt_json_get(j2, "step"), &step) && step == 43);
    lt_json_free(j2);
    free(text);
    unlink(path);
    snprintf(path, sizeof path, "%s/checkpoints", dir);
    rmdir(path);
    rmdir(dir);
    lt_attn_diag_free(&d);
    free_case(&c);
}

Test(attn_diag, bad_input) {
    lt_attn_diag d;
    LT_EXPECT_FAIL(lt_attn_diag_init(&d, 0, 4), "attn_diag_init", "n_layers", "0");
    cr_assert_eq(lt_attn_diag_init(&d, 2, 4), LT_OK);
    lt_tensor *q = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(2, 4, 5, 8));
    lt_tensor *k = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(2, 2, 6, 8));
    lt_tensor *lse = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(2, 4, 5));
    lt_tensor *k3 = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(2, 3, 6, 8));
    lt_tensor *kd = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(2, 2, 6, 7));
    lt_tensor *lse_bad = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(2, 4, 6));
    lt_tensor *q6 = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(2, 6, 5, 8));
    lt_tensor *lse6 = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(2, 6, 5));
    lt_tensor *li = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(2, 4, 5));
    LT_EXPECT_FAIL(lt_attn_diag_add(&d, 2, q, k, lse, NULL, 0), "attn_diag_add", "layer 2");
    LT_EXPECT_FAIL(lt_attn_diag_add(&d, 0, q, k3, lse, NULL, 0), "attn_diag_add", "Hkv dividing Hq", "[2,4,5,8]",
                   "[2,3,6,8]");
    LT_EXPECT_FAIL(lt_attn_diag_add(&d, 0, q, kd, lse, NULL, 0), "attn_diag_add", "[2,2,6,7]");
    LT_EXPECT_FAIL(lt_attn_diag_add(&d, 0, q, k, lse_bad, NULL, 0), "attn_diag_add", "lse", "[2,4,6]");
    LT_EXPECT_FAIL(lt_attn_diag_add(&d, 0, q, k, lse, lse_bad, 0), "attn_diag_add", "entropy", "[2,4,6]");
    LT_EXPECT_FAIL(lt_attn_diag_add(&d, 0, q6, k, lse6, NULL, 0), "attn_diag_add", "6 heads", "4");
    LT_EXPECT_FAIL(lt_attn_diag_add(&d, 0, q, k, li, NULL, 0), "attn_diag_add", "lse", "i32");
    LT_EXPECT_FAIL(lt_attn_diag_add(&d, 0, q, k, NULL, NULL, 0), "attn_diag_add", "NULL");
    lt_tensor *bm = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(2, 4, 2, 3));
    lt_attn_opts o = {.block_mask = bm, .block_q = 4, .block_k = 4};
    lt_attn_out out = {.lse = lse};
    LT_EXPECT_FAIL(lt_attn_diag_add_out(&d, 0, q, k, &o, &out), "attn_diag_add", "block_mask", "[2,4,2,2]", "[2,4,2,3]");
    // nothing was recorded by the failed calls
    cr_assert(isnan(lt_attn_diag_sink(&d, 0, 0)));
    lt_attn_diag_free(&d);
    LT_EXPECT_FAIL(lt_attn_diag_add(&d, 0, q, k, lse, NULL, 0), "attn_diag_add", "not initialized");
    lt_tensor *all[] = {q, k, lse, k3, kd, lse_bad, q6, lse6, li, bm};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lt_tensor_free(all[i]);
}
