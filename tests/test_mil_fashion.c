// The built-in MIL data (data/mil_fashion.h): generator rules on a tiny fake
// Fashion-MNIST, determinism, caching, bad configs; on the real data (when Debian's
// dataset-fashion-mnist is installed) the default build, its time and the
// difficulty baselines.
#define _GNU_SOURCE
#include <ftw.h>
#include <omp.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "lt_test.h"
#include "lt_tmpdir.h"
#include "data/fashion_mnist.h"
#include "data/idx.h"
#include "data/mil.h"
#include "data/mil_fashion.h"

// ---- fixtures ----

static void tmp_setup(void) {
    lt_tmp_setup("lt_milfm");
    unsetenv(LT_FASHION_MNIST_ENV);
}
#define tmp_teardown lt_tmp_teardown
#define tp lt_tmp_path
#define tmp_root lt_tmp_root

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

#define assert_err(expr, code, ...)                                                                       \
    do {                                                                                                  \
        lt_status s_ = (expr);                                                                            \
        cr_assert_eq(s_, code, "%s: got %s (%s)", #expr, lt_status_name(s_), lt_last_error());            \
        const char *want_[] = {__VA_ARGS__};                                                              \
        for (size_t i_ = 0; i_ < sizeof want_ / sizeof *want_; i_++)                                      \
            cr_assert(strstr(lt_last_error(), want_[i_]), "message lacks '%s': %s", want_[i_], lt_last_error()); \
    } while (0)

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static void write_idx(const char *path, uint32_t magic, int ndim, const uint32_t *dims, const uint8_t *data,
                      size_t nbytes) {
    uint8_t hdr[16];
    put_be32(hdr, magic);
    for (int i = 0; i < ndim; i++) put_be32(hdr + 4 + 4 * i, dims[i]);
    gzFile g = gzopen(path, "wb");
    cr_assert(g, "gzopen %s", path);
    cr_assert_eq(gzwrite(g, hdr, 4 + 4 * (unsigned)ndim), 4 + 4 * ndim);
    cr_assert_eq(gzwrite(g, data, (unsigned)nbytes), (int)nbytes);
    cr_assert_eq(gzclose(g), Z_OK);
}

// A tiny Fashion-MNIST (28x28, random pixels, label (i*7+3)%10: ntr/10 images per
// class in train, nte/10 in test) as IDX files in `dir`, imported into `h5`.
static void tiny_fashion(const char *dir, const char *h5, int ntr, int nte) {
    const char *names[2][2] = {{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"},
                               {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}};
    mkdir(dir, 0755);
    lt_rng r;
    lt_rng_init(&r, 99);
    for (int s = 0; s < 2; s++) {
        int n = s ? nte : ntr;
        uint8_t *img = malloc((size_t)n * 784), *lab = malloc((size_t)n);
        for (int i = 0; i < n * 784; i++) img[i] = (uint8_t)(lt_rng_uniform(&r) * 256);
        for (int i = 0; i < n; i++) lab[i] = (uint8_t)((i * 7 + 3) % 10);
        char p[512];
        uint32_t d[3] = {(uint32_t)n, 28, 28};
        snprintf(p, sizeof p, "%s/%s", dir, names[s][0]);
        write_idx(p, LT_IDX_MAGIC_IMAGES, 3, d, img, (size_t)n * 784);
        snprintf(p, sizeof p, "%s/%s", dir, names[s][1]);
        write_idx(p, LT_IDX_MAGIC_LABELS, 1, d, lab, (size_t)n);
        free(img);
        free(lab);
    }
    if (h5) cr_assert_eq(lt_fashion_mnist_import(dir, h5), LT_OK, "%s", lt_last_error());
}

static lt_mil_fashion_cfg tiny_cfg(void) {
    lt_mil_fashion_cfg c = lt_mil_fashion_defaults();
    c.seed = 7;
    c.n_train_bags = 7;
    c.n_val_bags = 3;
    c.n_test_bags = 5;
    c.min_instances = 5;
    c.max_instances = 40;
    c.min_target_frac = 0.1f;
    c.max_target_frac = 0.3f;
    c.dim = 16;
    return c;
}

// ---- a whole packed file in memory, through the reader ----

typedef struct {
    int nb, dim;
    lt_mil_bag_info *info;
    float **feat;
    int32_t **coords;
} loaded;

static loaded load_all(const char *path) {
    lt_mil_dataset *ds;
    cr_assert_eq(lt_mil_open(path, NULL, LT_MIL_PACKED, &ds), LT_OK, "%s", lt_last_error());
    loaded L = {lt_mil_count(ds), lt_mil_dim(ds), NULL, NULL, NULL};
    cr_assert_eq(lt_mil_n_classes(ds), 2);
    cr_assert_str_eq(lt_mil_class_name(ds, 0), "negative");
    cr_assert_str_eq(lt_mil_class_name(ds, 1), "positive");
    L.info = calloc((size_t)L.nb, sizeof *L.info);
    L.feat = calloc((size_t)L.nb, sizeof *L.feat);
    L.coords = calloc((size_t)L.nb, sizeof *L.coords);
    for (int i = 0; i < L.nb; i++) {
        L.info[i] = *lt_mil_bag(ds, i);
        L.feat[i] = malloc(sizeof(float) * (size_t)L.info[i].n * L.dim);
        L.coords[i] = malloc(sizeof(int32_t) * 2 * (size_t)L.info[i].n);
        cr_assert_eq(lt_mil_read(ds, i, L.feat[i], L.coords[i]), LT_OK, "%s", lt_last_error());
    }
    lt_mil_close(ds);
    return L;
}

static void loaded_free(loaded *L) {
    for (int i = 0; i < L->nb; i++) { free(L->feat[i]); free(L->coords[i]); }
    free(L->info);
    free(L->feat);
    free(L->coords);
}

static int loaded_equal(const loaded *a, const loaded *b) {
    if (a->nb != b->nb || a->dim != b->dim) return 0;
    for (int i = 0; i < a->nb; i++) {
        const lt_mil_bag_info *x = &a->info[i], *y = &b->info[i];
        if (strcmp(x->id, y->id) || x->label != y->label || x->n != y->n || x->split != y->split) return 0;
        if (memcmp(a->feat[i], b->feat[i], sizeof(float) * (size_t)x->n * a->dim)) return 0;
        if (memcmp(a->coords[i], b->coords[i], sizeof(int32_t) * 2 * (size_t)x->n)) return 0;
    }
    return 1;
}

// Checks the generator's rules on a built file against the source labels:
// ids/order/splits, label balance, sizes, target counts and negative classes,
// disjoint train/val images. Returns the total instance count.
static int64_t check_rules(const loaded *L, const lt_mil_fashion_cfg *c, const lt_mnist *tr, const lt_mnist *te) {
    const int nb[3] = {c->n_train_bags, c->n_val_bags, c->n_test_bags};
    const char *sname[3] = {"train", "val", "test"};
    cr_assert_eq(L->nb, nb[0] + nb[1] + nb[2]);
    cr_assert_eq(L->dim, c->dim);
    char *used = calloc((size_t)tr->n, 1);   // split + 1 that used a training image
    int64_t total = 0;
    int b = 0;
    for (int s = 0; s < 3; s++) {
        int npos = 0;
        for (int j = 0; j < nb[s]; j++, b++) {
            const lt_mil_bag_info *in = &L->info[b];
            char want[64];
            snprintf(want, sizeof want, "fmnist_%s_%04d", sname[s], j);
            cr_assert_str_eq(in->id, want);
            cr_assert_eq(in->split, (lt_mil_split_kind)s, "%s", in->id);
            cr_assert(in->label == 0 || in->label == 1);
            npos += in->label;
            cr_assert(in->n >= c->min_instances && in->n <= c->max_instances, "%s has %lld instances", in->id,
                      (long long)in->n);
            total += in->n;
            const lt_mnist *src = s == 2 ? te : tr;
            int k = 0;
            for (int64_t i = 0; i < in->n; i++) {
                int32_t pos = L->coords[b][2 * i], img = L->coords[b][2 * i + 1];
                cr_assert_eq(pos, i, "%s: coords[%lld][0] = %d", in->id, (long long)i, pos);
                cr_assert(img >= 0 && img < src->n, "%s: image index %d", in->id, img);
                int cls = lt_i32(src->y)[img];
                if (cls == c->target_class) k++;
                else cr_assert(c->negative_classes >> cls & 1, "%s holds an image of class %d", in->id, cls);
                if (s < 2) {
                    cr_assert(used[img] == 0 || used[img] == s + 1, "training image %d is in train and val bags", img);
                    used[img] = (char)(s + 1);
                }
            }
            if (in->label) {
                int lo = (int)floor(c->min_target_frac * in->n + 0.5), hi = (int)floor(c->max_target_frac * in->n + 0.5);
                lo = lo < 1 ? 1 : lo;
                hi = hi < 1 ? 1 : hi;
                cr_assert(k >= lo && k <= hi, "%s: %d targets of %lld, expected %d..%d", in->id, k, (long long)in->n, lo,
                          hi);
            } else {
                cr_assert_eq(k, 0, "negative bag %s holds %d targets", in->id, k);
            }
        }
        cr_assert_eq(npos, (int)floor(nb[s] * c->pos_frac + 0.5), "%s: %d positive bags of %d", sname[s], npos, nb[s]);
    }
    free(used);
    return total;
}

// relu(P x + b) scaled to norm sqrt(D), with P and b drawn as the header documents.
typedef struct { int D; float *P, *b; } ref_proj;

static ref_proj ref_proj_make(uint64_t seed, int D) {
    ref_proj r = {D, malloc(sizeof(float) * D * 784), malloc(sizeof(float) * D)};
    lt_rng g;
    lt_rng_init(&g, seed);
    lt_rng_fill_normal(&g, r.P, (int64_t)D * 784, 0.0f, 1.0f / 28.0f);
    lt_rng_fill_normal(&g, r.b, D, 0.0f, 0.5f);
    return r;
}

static void ref_feature(const ref_proj *r, const float *x, float *z) {
    double ss = 0;
    for (int d = 0; d < r->D; d++) {
        double a = r->b[d];
        for (int k = 0; k < 784; k++) a += (double)r->P[d * 784 + k] * x[k];
        z[d] = a > 0 ? (float)a : 0.0f;
        ss += (double)z[d] * z[d];
    }
    for (int d = 0; d < r->D; d++) z[d] = (float)(z[d] * sqrt(r->D / ss));
}

// Image `x` (normalized) shifted by (dx, dy) and optionally mirrored, background `bg`.
static void ref_augment(const float *x, int dx, int dy, int flip, float bg, float *out) {
    for (int y = 0; y < 28; y++)
        for (int c = 0; c < 28; c++) {
            int sy = y - dy, sx = (flip ? 27 - c : c) - dx;
            out[y * 28 + c] = sy >= 0 && sy < 28 && sx >= 0 && sx < 28 ? x[sy * 28 + sx] : bg;
        }
}

static int close_to(const float *a, const float *b, int n, double tol) {
    for (int i = 0; i < n; i++) if (fabs((double)a[i] - b[i]) > tol * (1 + fabs((double)b[i]))) return 0;
    return 1;
}

// Every instance's features equal the reference for one of the allowed augmentations.
static void check_features(const loaded *L, const lt_mil_fashion_cfg *c, const lt_mnist *tr, const lt_mnist *te,
                           double tol) {
    ref_proj r = ref_proj_make(c->proj_seed, c->dim);
    float bg = (0.0f - LT_FASHION_MNIST_MEAN) / LT_FASHION_MNIST_STD, x[784], z[4096];
    int64_t checked = 0, flipped = 0;
    for (int b = 0; b < L->nb; b++)
        for (int64_t i = 0; i < L->info[b].n; i++) {
            const lt_mnist *src = L->info[b].split == LT_SPLIT_TEST ? te : tr;
            const float *img = lt_f32(src->x) + (size_t)L->coords[b][2 * i + 1] * 784;
            const float *got = L->feat[b] + i * c->dim;
            int found = 0;
            for (int f = 0; f <= c->flip && !found; f++)
                for (int dy = -c->max_shift; dy <= c->max_shift && !found; dy++)
                    for (int dx = -c->max_shift; dx <= c->max_shift && !found; dx++) {
                        ref_augment(img, dx, dy, f, bg, x);
                        ref_feature(&r, x, z);
                        if (close_to(got, z, c->dim, tol)) { found = 1; flipped += f; }
                    }
            cr_assert(found, "%s instance %lld: features match no augmentation of image %d", L->info[b].id,
                      (long long)i, L->coords[b][2 * i + 1]);
            checked++;
        }
    if (c->flip) cr_assert(flipped > checked / 4 && flipped < checked * 3 / 4, "%lld of %lld flipped",
                           (long long)flipped, (long long)checked);
    free(r.P);
    free(r.b);
}

static void load_source(const char *h5, lt_mnist *tr, lt_mnist *te) {
    cr_assert_eq(lt_mnist_load(h5, "train", tr), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_mnist_load(h5, "test", te), LT_OK, "%s", lt_last_error());
}

TestSuite(mil_fashion, .init = tmp_setup, .fini = tmp_teardown);

// ---- tiny synthetic source ----

Test(mil_fashion, bags_follow_the_documented_rules) {
    tiny_fashion(tp("src"), tp("fm.h5"), 400, 200);
    lt_mnist tr, te;
    load_source(tp("fm.h5"), &tr, &te);
    lt_mil_fashion_cfg c = tiny_cfg();
    cr_assert_eq(lt_mil_fashion_build(tp("fm.h5"), tp("bags.h5"), &c), LT_OK, "%s", lt_last_error());
    loaded L = load_all(tp("bags.h5"));
    check_rules(&L, &c, &tr, &te);
    check_features(&L, &c, &tr, &te, 1e-4);
    loaded_free(&L);
    // Shifts and no flips; an odd split (no val bags), more positives, equal mix.
    c.max_shift = 1;
    c.flip = 0;
    c.n_val_bags = 0;
    c.pos_frac = 0.8f;
    c.mix_alpha = 0;
    c.dim = 5;
    cr_assert_eq(lt_mil_fashion_build(tp("fm.h5"), tp("shift.h5"), &c), LT_OK, "%s", lt_last_error());
    L = load_all(tp("shift.h5"));
    check_rules(&L, &c, &tr, &te);
    check_features(&L, &c, &tr, &te, 1e-4);
    loaded_free(&L);
    lt_mnist_free(&tr);
    lt_mnist_free(&te);
}

Test(mil_fashion, float16_storage_matches_float32) {
    tiny_fashion(tp("src"), tp("fm.h5"), 400, 200);
    lt_mil_fashion_cfg c = tiny_cfg();
    cr_assert_eq(lt_mil_fashion_build(tp("fm.h5"), tp("f32.h5"), &c), LT_OK, "%s", lt_last_error());
    c.f16 = 1;
    cr_assert_eq(lt_mil_fashion_build(tp("fm.h5"), tp("f16.h5"), &c), LT_OK, "%s", lt_last_error());
    loaded a = load_all(tp("f32.h5")), b = load_all(tp("f16.h5"));
    cr_assert_eq(a.nb, b.nb);
    for (int i = 0; i < a.nb; i++) {
        cr_assert_eq(a.info[i].n, b.info[i].n);
        cr_assert(memcmp(a.coords[i], b.coords[i], sizeof(int32_t) * 2 * (size_t)a.info[i].n) == 0);
        lt_assert_allclose(a.info[i].id, a.feat[i], b.feat[i], a.info[i].n * a.dim, 1e-3, 1e-3);
    }
    loaded_free(&a);
    loaded_free(&b);
}

Test(mil_fashion, same_seed_same_bags_any_thread_count) {
    tiny_fashion(tp("src"), tp("fm.h5"), 400, 200);
    lt_mil_fashion_cfg c = tiny_cfg();
    omp_set_num_threads(2);
    cr_assert_eq(lt_mil_fashion_build(tp("fm.h5"), tp("a.h5"), &c), LT_OK, "%s", lt_last_error());
    omp_set_num_threads(1);
    cr_assert_eq(lt_mil_fashion_build(tp("fm.h5"), tp("b.h5"), &c), LT_OK, "%s", lt_last_error());
    c.seed = 8;
    cr_assert_eq(lt_mil_fashion_build(tp("fm.h5"), tp("c.h5"), &c), LT_OK, "%s", lt_last_error());
    c.seed = 7;
    c.proj_seed = 5;
    cr_assert_eq(lt_mil_fashion_build(tp("fm.h5"), tp("d.h5"), &c), LT_OK, "%s", lt_last_error());
    loaded a = load_all(tp("a.h5")), b = load_all(tp("b.h5")), s8 = load_all(tp("c.h5")), p5 = load_all(tp("d.h5"));
    cr_assert(loaded_equal(&a, &b), "two builds of one config differ");
    cr_assert(!loaded_equal(&a, &s8), "seeds 7 and 8 gave the same bags");
    // Another projection seed changes the features only.
    cr_assert(!loaded_equal(&a, &p5), "projection seeds gave the same features");
    for (int i = 0; i < a.nb; i++) {
        cr_assert(a.info[i].n == p5.info[i].n && a.info[i].label == p5.info[i].label);
        cr_assert(memcmp(a.coords[i], p5.coords[i], sizeof(int32_t) * 2 * (size_t)a.info[i].n) == 0);
    }
    loaded_free(&a);
    loaded_free(&b);
    loaded_free(&s8);
    loaded_free(&p5);
}

static int sink_calls;
static lt_status counting_sink(void *ud, const lt_mil_fashion_bag *b) {
    if (++sink_calls == 3) return lt_error(LT_ERR_IO, "sink refused bag %s", b->id);
    cr_assert_eq(b->n_target > 0, b->label, "%s: label %d with %d targets", b->id, b->label, b->n_target);
    return LT_OK;
}

Test(mil_fashion, bad_configs_and_sources_are_named) {
    tiny_fashion(tp("src"), tp("fm.h5"), 400, 200);
    lt_mil_fashion_cfg c = tiny_cfg();
    c.negative_classes |= 1u << c.target_class;
    assert_err(lt_mil_fashion_build(tp("fm.h5"), tp("x.h5"), &c), LT_ERR_ARG, "negative_classes", "target class 0");
    c = tiny_cfg();
    c.min_instances = 50;
    assert_err(lt_mil_fashion_check(&c), LT_ERR_ARG, "bag size range [50, 40]");
    c = tiny_cfg();
    c.max_target_frac = 1.5f;
    assert_err(lt_mil_fashion_check(&c), LT_ERR_ARG, "target fraction", "1.5");
    c = tiny_cfg();
    c.dim = 0;
    assert_err(lt_mil_fashion_check(&c), LT_ERR_ARG, "dim 0");
    c = tiny_cfg();
    c.n_train_bags = c.n_val_bags = c.n_test_bags = 0;
    assert_err(lt_mil_fashion_check(&c), LT_ERR_ARG, "bag counts");
    c = tiny_cfg();
    c.max_shift = 9;
    assert_err(lt_mil_fashion_check(&c), LT_ERR_ARG, "max_shift 9");
    // 40 training images per class: a val share of 100/101 leaves none for train.
    c = tiny_cfg();
    c.n_train_bags = 1;
    c.n_val_bags = 100;
    assert_err(lt_mil_fashion_build(tp("fm.h5"), tp("x.h5"), &c), LT_ERR_FORMAT, "no training image of class",
               "train bags", "40 images");
    cr_assert_eq(access(tp("x.h5"), F_OK), -1, "a failed build left a file");
    c = tiny_cfg();
    assert_err(lt_mil_fashion_build(tp("absent.h5"), tp("x.h5"), &c), LT_ERR_IO, tp("absent.h5"));
    // A sink's error stops the generation and comes back.
    sink_calls = 0;
    assert_err(lt_mil_fashion_generate(tp("fm.h5"), &c, counting_sink, NULL), LT_ERR_IO,
               "sink refused bag fmnist_train_0002");
    cr_assert_eq(sink_calls, 3);
    // Each field changes the hash (and so the cache file name).
    lt_mil_fashion_cfg d = lt_mil_fashion_defaults();
    uint64_t h0 = lt_mil_fashion_hash(&d);
    lt_mil_fashion_cfg v[8];
    for (int i = 0; i < 8; i++) v[i] = d;
    v[0].seed++;
    v[1].proj_seed++;
    v[2].n_val_bags++;
    v[3].max_instances++;
    v[4].negative_classes |= 8;
    v[5].min_target_frac = 0.021f;
    v[6].mix_alpha = 0.5f;
    v[7].f16 = 1;
    for (int i = 0; i < 8; i++) cr_assert_neq(lt_mil_fashion_hash(&v[i]), h0, "field %d does not change the hash", i);
    cr_assert_eq(lt_mil_fashion_hash(&d), h0);
}

Test(mil_fashion, ensure_builds_once_and_rebuilds_on_a_new_config) {
    tiny_fashion(tp("src"), NULL, 400, 200);
    setenv(LT_FASHION_MNIST_ENV, tp("src"), 1);
    lt_mil_fashion_cfg c = tiny_cfg();
    char path[512], path2[512], want[512];
    cr_assert_eq(lt_mil_fashion_ensure(tp("cache"), &c, path, sizeof path), LT_OK, "%s", lt_last_error());
    snprintf(want, sizeof want, "%s/mil_fashion_v%d_%016llx.h5", tp("cache"), LT_MIL_FASHION_VERSION,
             (unsigned long long)lt_mil_fashion_hash(&c));
    cr_assert_str_eq(path, want);
    struct stat a, b;
    cr_assert_eq(stat(path, &a), 0);
    loaded L1 = load_all(path);
    // Cached: with the source gone, the second call still succeeds and leaves the file alone.
    setenv(LT_FASHION_MNIST_ENV, tp("gone"), 1);
    unlink(tp("cache/fashion_mnist.h5"));
    cr_assert_eq(lt_mil_fashion_ensure(tp("cache"), &c, path2, sizeof path2), LT_OK, "%s", lt_last_error());
    cr_assert_str_eq(path2, path);
    cr_assert_eq(stat(path, &b), 0);
    cr_assert(a.st_ino == b.st_ino && a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec,
              "the cache was rebuilt");
    // A changed config needs a build: it fails without the source, then builds a new file.
    c.n_test_bags = 6;
    assert_err(lt_mil_fashion_ensure(tp("cache"), &c, path2, sizeof path2), LT_ERR_IO, "Fashion-MNIST not found");
    setenv(LT_FASHION_MNIST_ENV, tp("src"), 1);
    cr_assert_eq(lt_mil_fashion_ensure(tp("cache"), &c, path2, sizeof path2), LT_OK, "%s", lt_last_error());
    cr_assert_str_neq(path2, path);
    loaded L2 = load_all(path2);
    cr_assert_eq(L2.nb, L1.nb + 1);
    cr_assert_eq(access(path, F_OK), 0, "the old config's file is gone");
    // A corrupt cache file is rebuilt, with the same contents.
    FILE *f = fopen(path, "w");
    fputs("garbage", f);
    fclose(f);
    c = tiny_cfg();
    cr_assert_eq(lt_mil_fashion_ensure(tp("cache"), &c, path2, sizeof path2), LT_OK, "%s", lt_last_error());
    loaded L3 = load_all(path2);
    cr_assert(loaded_equal(&L1, &L3), "the rebuilt cache differs");
    char small[16];
    assert_err(lt_mil_fashion_ensure(tp("cache"), &c, small, sizeof small), LT_ERR_ARG, "16 bytes");
    loaded_free(&L1);
    loaded_free(&L2);
    loaded_free(&L3);
}

// ---- the real data ----

// Exact ROC AUC, ties counted 1/2.
static double auc(const double *s, const int *y, int n) {
    double num = 0, np = 0, nn = 0;
    for (int i = 0; i < n; i++) {
        if (!y[i]) { nn++; continue; }
        np++;
        for (int j = 0; j < n; j++) if (!y[j]) num += s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0;
    }
    return num / (np * nn);
}

Test(mil_fashion, auc_helper_handles_ties) {
    // Pairs (pos, neg): (3,1) 1, (3,2) 1, (3,3) 1/2, (1,1) 1/2, (1,2) 0, (1,3) 0 -> 3/6.
    double s[5] = {3, 1, 1, 2, 3};
    int y[5] = {1, 1, 0, 0, 0};
    cr_assert_float_eq(auc(s, y, 5), 0.5, 1e-12);
    double t[4] = {0.9, 0.2, 0.8, 0.1};
    int u[4] = {1, 0, 1, 0};
    cr_assert_float_eq(auc(t, u, 4), 1.0, 1e-12);
}

// L2-regularized logistic regression by full-batch gradient descent on x [n, d]
// (standardized by the caller); w [d+1], the last entry the bias.
static void logreg(const float *x, const int *y, int64_t n, int d, double lam, int iters, double *w) {
    double *g = calloc((size_t)d + 1, sizeof(double));
    memset(w, 0, sizeof(double) * (d + 1));
    for (int it = 0; it < iters; it++) {
        memset(g, 0, sizeof(double) * (d + 1));
        for (int64_t i = 0; i < n; i++) {
            const float *xi = x + i * d;
            double z = w[d];
            for (int k = 0; k < d; k++) z += w[k] * xi[k];
            double e = 1 / (1 + exp(-z)) - y[i];
            for (int k = 0; k < d; k++) g[k] += e * xi[k];
            g[d] += e;
        }
        for (int k = 0; k <= d; k++) w[k] -= 0.5 * (g[k] / n + (k < d ? lam * w[k] : 0));
    }
    free(g);
}

static double score(const double *w, const float *x, const double *mu, const double *sd, int d) {
    double z = w[d];
    for (int k = 0; k < d; k++) z += w[k] * (x[k] - mu[k]) / sd[k];
    return z;
}

// Per-column mean and standard deviation of x [n, d].
static void col_stats(const float *x, int64_t n, int d, double *mu, double *sd) {
    for (int k = 0; k < d; k++) {
        double s1 = 0, s2 = 0;
        for (int64_t i = 0; i < n; i++) { s1 += x[i * d + k]; s2 += (double)x[i * d + k] * x[i * d + k]; }
        mu[k] = s1 / n;
        sd[k] = sqrt(fmax(s2 / n - mu[k] * mu[k], 1e-12));
    }
}

static void standardize(float *x, int64_t n, int d, const double *mu, const double *sd) {
    for (int64_t i = 0; i < n; i++) for (int k = 0; k < d; k++) x[i * d + k] = (float)((x[i * d + k] - mu[k]) / sd[k]);
}

// Difficulty baselines, each fitted on the train bags and scored on the test bags:
// mean-pooled logistic regression (the regularization picked on val), the maximum
// over instances of the projection onto (target mean - negative mean), and an
// instance classifier trained with the instance labels (an oracle no MIL method
// has), max-pooled.
static void baselines(const loaded *L, const lt_mil_fashion_cfg *c, const lt_mnist *tr, const lt_mnist *te,
                      double *mean_auc, double *dir_auc, double *inst_auc, double *oracle_auc) {
    int d = L->dim, nb = L->nb;
    float *mp = calloc((size_t)nb * d, sizeof(float));
    int *y = malloc(sizeof(int) * nb), ntr = 0, nva = 0;
    for (int b = 0; b < nb; b++) {
        y[b] = L->info[b].label;
        ntr += L->info[b].split == LT_SPLIT_TRAIN;
        nva += L->info[b].split == LT_SPLIT_VAL;
        for (int64_t i = 0; i < L->info[b].n; i++)
            for (int k = 0; k < d; k++) mp[(size_t)b * d + k] += L->feat[b][i * d + k] / (float)L->info[b].n;
    }
    int nte = nb - ntr - nva;
    double mu[512], sd[512], *w = malloc(sizeof(double) * (d + 1)), *s = malloc(sizeof(double) * nb);
    col_stats(mp, ntr, d, mu, sd);
    double best_val = -1;
    for (double lam = 1e-3; lam < 2; lam *= 10) {
        float *x = malloc(sizeof(float) * (size_t)ntr * d);
        memcpy(x, mp, sizeof(float) * (size_t)ntr * d);
        standardize(x, ntr, d, mu, sd);
        logreg(x, y, ntr, d, lam, 1000, w);
        free(x);
        for (int b = 0; b < nb; b++) s[b] = score(w, mp + (size_t)b * d, mu, sd, d);
        double v = auc(s + ntr, y + ntr, nva), t = auc(s + ntr + nva, y + ntr + nva, nte);
        fprintf(stderr, "  mean-pool logistic regression, L2 %g: train AUC %.3f, val %.3f, test %.3f\n", lam,
                auc(s, y, ntr), v, t);
        if (v > best_val) { best_val = v; *mean_auc = t; }
    }
    // Instance labels of the train bags, through coords.
    int64_t ni = 0;
    for (int b = 0; b < ntr; b++) ni += L->info[b].n;
    float *xi = malloc(sizeof(float) * (size_t)ni * d);
    int *yi = malloc(sizeof(int) * (size_t)ni);
    double *dir = calloc((size_t)d, sizeof(double)), *mneg = calloc((size_t)d, sizeof(double)), npos = 0;
    int64_t q = 0;
    for (int b = 0; b < ntr; b++)
        for (int64_t i = 0; i < L->info[b].n; i++, q++) {
            memcpy(xi + q * d, L->feat[b] + i * d, sizeof(float) * d);
            yi[q] = lt_i32(tr->y)[L->coords[b][2 * i + 1]] == c->target_class;
            npos += yi[q];
            for (int k = 0; k < d; k++) (yi[q] ? dir : mneg)[k] += xi[q * d + k];
        }
    for (int k = 0; k < d; k++) dir[k] = dir[k] / npos - mneg[k] / (ni - npos);
    for (int b = 0; b < nb; b++) {
        double m = -INFINITY;
        for (int64_t i = 0; i < L->info[b].n; i++) {
            double z = 0;
            for (int k = 0; k < d; k++) z += dir[k] * L->feat[b][i * d + k];
            m = fmax(m, z);
        }
        s[b] = m;
    }
    *dir_auc = auc(s + ntr + nva, y + ntr + nva, nte);
    col_stats(xi, ni, d, mu, sd);
    standardize(xi, ni, d, mu, sd);
    logreg(xi, yi, ni, d, 1e-3, 150, w);
    // Instance AUC on a subsample of the test instances (every target, every 5th other).
    int64_t nt = 0;
    for (int b = ntr + nva; b < nb; b++) nt += L->info[b].n;
    double *si = malloc(sizeof(double) * (size_t)nt);
    int *ysi = malloc(sizeof(int) * (size_t)nt), k2 = 0;
    for (int b = 0; b < nb; b++) {
        double m = -INFINITY;
        for (int64_t i = 0; i < L->info[b].n; i++) {
            double z = score(w, L->feat[b] + i * d, mu, sd, d);
            m = fmax(m, z);
            if (L->info[b].split == LT_SPLIT_TEST) {
                int t = lt_i32(te->y)[L->coords[b][2 * i + 1]] == c->target_class;
                if (t || i % 5 == 0) { si[k2] = z; ysi[k2] = t; k2++; }
            }
        }
        s[b] = m;
    }
    *inst_auc = auc(si, ysi, k2);
    *oracle_auc = auc(s + ntr + nva, y + ntr + nva, nte);
    free(si); free(ysi); free(xi); free(yi); free(dir); free(mneg); free(mp); free(y); free(w); free(s);
}

Test(mil_fashion, real_default_data, .timeout = 240) {
    const char *env = getenv(LT_FASHION_MNIST_ENV);
    struct stat st;
    if (stat(env && env[0] ? env : LT_FASHION_MNIST_DIR, &st) != 0)
        cr_skip_test("%s not installed (apt-get install dataset-fashion-mnist)", LT_FASHION_MNIST_DIR);
    char fm[512], path[512];
    cr_assert_eq(lt_fashion_mnist_ensure(tp("cache"), fm, sizeof fm), LT_OK, "%s", lt_last_error());
    double t0 = now_s();
    cr_assert_eq(lt_mil_fashion_ensure(tp("cache"), NULL, path, sizeof path), LT_OK, "%s", lt_last_error());
    double build_s = now_s() - t0;
    t0 = now_s();
    cr_assert_eq(lt_mil_fashion_ensure(tp("cache"), NULL, path, sizeof path), LT_OK, "%s", lt_last_error());
    double cached_s = now_s() - t0;
    lt_mil_fashion_cfg c = lt_mil_fashion_defaults();
    lt_mnist tr, te;
    load_source(fm, &tr, &te);
    loaded L = load_all(path);
    int64_t total = check_rules(&L, &c, &tr, &te);
    stat(path, &st);
    fprintf(stderr, "MIL Fashion default data: %d bags, %lld instances, D %d, %.1f MB; built in %.2f s "
            "(%d threads), cached open %.3f s\n", L.nb, (long long)total, L.dim, st.st_size / 1e6, build_s,
            omp_get_max_threads(), cached_s);
    cr_assert_lt(build_s, 60.0, "the default data took %.1f s to build", build_s);
    // Features of a sample of the bags against the reference projection.
    loaded S = L;
    S.nb = 3;
    check_features(&S, &c, &tr, &te, 1e-4);
    // A second build, single-threaded, is identical.
    omp_set_num_threads(1);
    cr_assert_eq(lt_mil_fashion_build(fm, tp("again.h5"), NULL), LT_OK, "%s", lt_last_error());
    loaded A = load_all(tp("again.h5"));
    cr_assert(loaded_equal(&L, &A), "two builds of the default data differ");
    loaded_free(&A);
    double mean_auc, dir_auc, inst_auc, oracle_auc;
    baselines(&L, &c, &tr, &te, &mean_auc, &dir_auc, &inst_auc, &oracle_auc);
    fprintf(stderr, "difficulty baselines (test ROC AUC):\n"
            "  mean-pooled features, logistic regression (L2 picked on val): %.3f\n"
            "  max over instances of the (target - negative mean) projection:   %.3f\n"
            "  oracle instance classifier: instance AUC %.3f, max-pooled bag AUC %.3f\n",
            mean_auc, dir_auc, inst_auc, oracle_auc);
    // Not trivial for mean pooling, yet the instances carry the signal.
    cr_assert_lt(mean_auc, 0.95, "mean pooling solves the default data (AUC %.3f)", mean_auc);
    cr_assert_gt(mean_auc, 0.55, "mean pooling sees nothing (AUC %.3f)", mean_auc);
    cr_assert_gt(inst_auc, 0.9, "target instances are not separable (AUC %.3f)", inst_auc);
    loaded_free(&L);
    lt_mnist_free(&tr);
    lt_mnist_free(&te);
}
