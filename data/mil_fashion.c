#include "data/mil_fashion.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/fashion_mnist.h"
#include "data/h5.h"
#include "libtrain/rng.h"

#define N_CLASSES LT_MNIST_CLASSES
#define MAX_SHIFT 8

static const char *const split_names[3] = {"train", "val", "test"};

lt_mil_fashion_cfg lt_mil_fashion_defaults(void) {
    return (lt_mil_fashion_cfg){
        .seed = 1,
        .proj_seed = LT_MIL_FASHION_PROJ_SEED,
        .n_train_bags = 200, .n_val_bags = 50, .n_test_bags = 100,
        .min_instances = 100, .max_instances = 400,
        .target_class = 0,
        .negative_classes = (1u << 2) | (1u << 4) | (1u << 6),
        .pos_frac = 0.5f,
        .min_target_frac = 0.02f, .max_target_frac = 0.08f,
        .mix_alpha = 1.0f,
        .max_shift = 0,
        .flip = 1,
        .dim = 128,
        .f16 = 0,
    };
}

lt_status lt_mil_fashion_check(const lt_mil_fashion_cfg *c) {
    const char *fn = "lt_mil_fashion";
    if (c->n_train_bags < 0 || c->n_val_bags < 0 || c->n_test_bags < 0 ||
        c->n_train_bags + (int64_t)c->n_val_bags + c->n_test_bags < 1 ||
        c->n_train_bags + (int64_t)c->n_val_bags + c->n_test_bags > 1000000)
        return lt_error(LT_ERR_ARG, "%s: bag counts train %d, val %d, test %d: each must be >= 0, the sum in 1..1000000",
                        fn, c->n_train_bags, c->n_val_bags, c->n_test_bags);
    if (c->min_instances < 1 || c->max_instances < c->min_instances || c->max_instances > 1000000)
        return lt_error(LT_ERR_ARG, "%s: bag size range [%d, %d]: need 1 <= min_instances <= max_instances <= 1000000",
                        fn, c->min_instances, c->max_instances);
    if (c->target_class < 0 || c->target_class >= N_CLASSES)
        return lt_error(LT_ERR_ARG, "%s: target_class %d is not a Fashion-MNIST class (0..%d)", fn, c->target_class,
                        N_CLASSES - 1);
    if (c->negative_classes == 0 || c->negative_classes >> N_CLASSES || (c->negative_classes >> c->target_class & 1))
        return lt_error(LT_ERR_ARG,
                        "%s: negative_classes 0x%x must be a non-empty set of classes 0..%d without the target class %d",
                        fn, c->negative_classes, N_CLASSES - 1, c->target_class);
    if (!(c->pos_frac >= 0 && c->pos_frac <= 1))
        return lt_error(LT_ERR_ARG, "%s: pos_frac %g is not in [0, 1]", fn, c->pos_frac);
    if (!(c->min_target_frac >= 0 && c->min_target_frac <= c->max_target_frac && c->max_target_frac <= 1))
        return lt_error(LT_ERR_ARG, "%s: target fraction range [%g, %g]: need 0 <= min <= max <= 1", fn,
                        c->min_target_frac, c->max_target_frac);
    if (!(c->mix_alpha >= 0 && c->mix_alpha <= 1e6))
        return lt_error(LT_ERR_ARG, "%s: mix_alpha %g is not in [0, 1e6]", fn, c->mix_alpha);
    if (c->max_shift < 0 || c->max_shift > MAX_SHIFT)
        return lt_error(LT_ERR_ARG, "%s: max_shift %d is not in 0..%d", fn, c->max_shift, MAX_SHIFT);
    if ((c->flip != 0 && c->flip != 1) || (c->f16 != 0 && c->f16 != 1))
        return lt_error(LT_ERR_ARG, "%s: flip %d and f16 %d must be 0 or 1", fn, c->flip, c->f16);
    if (c->dim < 1 || c->dim > 65536) return lt_error(LT_ERR_ARG, "%s: dim %d is not in 1..65536", fn, c->dim);
    return LT_OK;
}

uint64_t lt_mil_fashion_hash(const lt_mil_fashion_cfg *c) {
    char s[512];
    // %.9g prints every float exactly, so equal configs give equal text.
    int len = snprintf(s, sizeof s,
                       "mil_fashion v%d seed=%llu proj=%llu bags=%d,%d,%d n=%d,%d target=%d neg=%u pos=%.9g "
                       "frac=%.9g,%.9g alpha=%.9g shift=%d flip=%d dim=%d f16=%d",
                       LT_MIL_FASHION_VERSION, (unsigned long long)c->seed, (unsigned long long)c->proj_seed,
                       c->n_train_bags, c->n_val_bags, c->n_test_bags, c->min_instances, c->max_instances,
                       c->target_class, c->negative_classes, c->pos_frac, c->min_target_frac, c->max_target_frac,
                       c->mix_alpha, c->max_shift, c->flip, c->dim, c->f16);
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

// An independent Philox key per purpose (splitmix64 of seed and stream).
static uint64_t derive_seed(uint64_t seed, uint64_t stream) {
    uint64_t z = seed + 0x9e3779b97f4a7c15ull * (stream + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// ---- the source images ----

typedef struct {
    int n;              // images
    uint8_t *px;        // [n, hw]
    int32_t *label;     // [n]
} src_split;

typedef struct {
    int h, w;
    float lut[256];     // pixel value -> normalized input
    src_split sp[2];    // Fashion-MNIST train, test
} source;

static void source_free(source *s) {
    for (int k = 0; k < 2; k++) { free(s->sp[k].px); free(s->sp[k].label); }
}

static lt_status load_split(lt_h5 *f, const char *name, source *s, src_split *out) {
    const char *path = lt_h5_path(f);
    char dimg[32], dlab[32];
    snprintf(dimg, sizeof dimg, "%s/images", name);
    snprintf(dlab, sizeof dlab, "%s/labels", name);
    lt_h5_info ii, li;
    LT_TRY(lt_h5_info_get(f, dimg, &ii));
    LT_TRY(lt_h5_info_get(f, dlab, &li));
    if (ii.ndim != 3 || ii.type != LT_H5_U8 || ii.dims[0] < 1 || ii.dims[0] > (1 << 30) || ii.dims[1] * ii.dims[2] > (1 << 20))
        return lt_error(LT_ERR_FORMAT, "lt_mil_fashion: dataset '%s' in '%s' must be uint8 [N,H,W] (%s, %d dims)", dimg,
                        path, lt_h5_type_name(ii.type), ii.ndim);
    if (li.ndim != 1 || li.dims[0] != ii.dims[0])
        return lt_error(LT_ERR_FORMAT, "lt_mil_fashion: dataset '%s' in '%s' must hold one label per image (%lld)",
                        dlab, path, (long long)ii.dims[0]);
    if (s->h == 0) { s->h = (int)ii.dims[1]; s->w = (int)ii.dims[2]; }
    if (ii.dims[1] != s->h || ii.dims[2] != s->w)
        return lt_error(LT_ERR_FORMAT, "lt_mil_fashion: '%s' in '%s' has %lldx%lld images, the train split %dx%d", dimg,
                        path, (long long)ii.dims[1], (long long)ii.dims[2], s->h, s->w);
    out->n = (int)ii.dims[0];
    out->px = malloc((size_t)ii.numel);
    out->label = malloc(sizeof(int32_t) * (size_t)out->n);
    if (!out->px || !out->label)
        return lt_error(LT_ERR_OOM, "lt_mil_fashion: no memory for '%s' of '%s'", dimg, path);
    LT_TRY(lt_h5_read(f, dimg, LT_H5_U8, out->px, ii.numel));
    LT_TRY(lt_h5_read_i32(f, dlab, out->label, out->n));
    for (int i = 0; i < out->n; i++)
        if (out->label[i] < 0 || out->label[i] >= N_CLASSES)
            return lt_error(LT_ERR_FORMAT, "lt_mil_fashion: label %d at index %d of '%s' in '%s' is not in 0..%d",
                            out->label[i], i, dlab, path, N_CLASSES - 1);
    return LT_OK;
}

static lt_status source_load(const char *h5, int need_test, source *s) {
    memset(s, 0, sizeof *s);
    lt_h5 *f;
    LT_TRY(lt_h5_open(h5, &f));
    // The normalization lt_mnist_load uses.
    double mean = LT_FASHION_MNIST_MEAN, std = LT_FASHION_MNIST_STD;
    lt_status st = LT_OK;
    if (lt_h5_has_attr(f, "/", "pixel_mean")) st = lt_h5_attr_read_f64(f, "/", "pixel_mean", &mean);
    if (st == LT_OK && lt_h5_has_attr(f, "/", "pixel_std")) st = lt_h5_attr_read_f64(f, "/", "pixel_std", &std);
    if (st == LT_OK && !(std > 0)) st = lt_error(LT_ERR_FORMAT, "lt_mil_fashion: '%s' has pixel_std %g", h5, std);
    if (st == LT_OK) st = load_split(f, "train", s, &s->sp[0]);
    if (st == LT_OK && need_test) st = load_split(f, "test", s, &s->sp[1]);
    lt_h5_close(f);
    for (int v = 0; v < 256; v++) s->lut[v] = ((float)v / 255.0f - (float)mean) / (float)std;
    if (st != LT_OK) source_free(s);
    return st;
}

// ---- pools: a class's images in one split, walked in random order ----

typedef struct {
    int32_t *idx;
    int n, pos;
} pool;

static int32_t pool_next(pool *p, lt_rng *r) {
    if (p->pos == p->n) { lt_rng_shuffle(r, p->idx, p->n); p->pos = 0; }
    return p->idx[p->pos++];
}

// pools[s][c] for splits train, val, test. Training images of each class are
// shuffled (stream 0) and the first round(val_share * count) go to val.
static lt_status make_pools(const lt_mil_fashion_cfg *c, const source *src, pool pools[3][N_CLASSES]) {
    uint32_t used = c->negative_classes | 1u << c->target_class;
    lt_rng r;
    lt_rng_init(&r, derive_seed(c->seed, 0));
    const int nb[3] = {c->n_train_bags, c->n_val_bags, c->n_test_bags};
    double val_share = nb[0] + nb[1] ? (double)nb[1] / (nb[0] + nb[1]) : 0;
    for (int cl = 0; cl < N_CLASSES; cl++) {
        if (!(used >> cl & 1)) continue;
        for (int k = 0; k < 2; k++) {
            const src_split *sp = &src->sp[k];
            if (k == 1 && nb[2] == 0) continue;
            int cnt = 0;
            for (int i = 0; i < sp->n; i++) cnt += sp->label[i] == cl;
            int32_t *all = malloc(sizeof(int32_t) * (size_t)(cnt ? cnt : 1));
            if (!all) return lt_error(LT_ERR_OOM, "lt_mil_fashion: no memory for the image pools");
            for (int i = 0, j = 0; i < sp->n; i++) if (sp->label[i] == cl) all[j++] = i;
            if (k == 0) {
                lt_rng_shuffle(&r, all, cnt);
                int nval = (int)floor(val_share * cnt + 0.5);
                pool *tr = &pools[0][cl], *va = &pools[1][cl];
                va->idx = all;
                va->n = nval;
                tr->n = cnt - nval;
                tr->idx = malloc(sizeof(int32_t) * (size_t)(tr->n ? tr->n : 1));
                if (!tr->idx) return lt_error(LT_ERR_OOM, "lt_mil_fashion: no memory for the image pools");
                memcpy(tr->idx, all + nval, sizeof(int32_t) * (size_t)tr->n);
            } else {
                pools[2][cl].idx = all;
                pools[2][cl].n = cnt;
            }
            for (int s = k ? 2 : 0; s <= (k ? 2 : 1); s++) {
                if (nb[s] > 0 && pools[s][cl].n == 0)
                    return lt_error(LT_ERR_FORMAT,
                                    "lt_mil_fashion: no %s image of class %d (%s) is left for the %s bags "
                                    "(%d images of that class in the %s split)",
                                    k ? "test" : "training", cl, lt_fashion_mnist_classes[cl], split_names[s], cnt,
                                    k ? "test" : "train");
                pools[s][cl].pos = pools[s][cl].n;   // shuffled on first use
            }
        }
    }
    return LT_OK;
}

// ---- bag plans ----

typedef struct {
    int32_t img;        // source image index
    int8_t dx, dy, flip;
} inst;

typedef struct {
    int nb;
    int64_t *off;       // [nb+1]
    int *label, *n_target;
    inst *in;           // [off[nb]]
} plan;

static void plan_free(plan *p) {
    free(p->off); free(p->label); free(p->n_target); free(p->in);
    memset(p, 0, sizeof *p);
}

// Gamma(a, 1) by Marsaglia and Tsang (a < 1 boosted through Gamma(a+1) U^(1/a)).
static double gamma_draw(lt_rng *r, double a) {
    double boost = 1;
    if (a < 1) {
        boost = pow(1.0 - (double)lt_rng_uniform(r), 1.0 / a);
        a += 1;
    }
    double d = a - 1.0 / 3, c = 1 / sqrt(9 * d);
    for (;;) {
        double x = lt_rng_normal(r), v = 1 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = 1.0 - (double)lt_rng_uniform(r);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v)) return d * v * boost;
    }
}

static lt_status make_plan(const lt_mil_fashion_cfg *c, int s, int nb, pool pools[N_CLASSES], plan *p) {
    memset(p, 0, sizeof *p);
    p->nb = nb;
    lt_rng r;
    lt_rng_init(&r, derive_seed(c->seed, 1 + (uint64_t)s));
    p->off = malloc(sizeof(int64_t) * (size_t)(nb + 1));
    p->label = malloc(sizeof(int) * (size_t)(nb ? nb : 1));
    p->n_target = malloc(sizeof(int) * (size_t)(nb ? nb : 1));
    int32_t *order = malloc(sizeof(int32_t) * (size_t)(nb ? nb : 1));
    int *cls = malloc(sizeof(int) * (size_t)c->max_instances);
    int neg[N_CLASSES], n_neg = 0;
    for (int cl = 0; cl < N_CLASSES; cl++) if (c->negative_classes >> cl & 1) neg[n_neg++] = cl;
    lt_status st = LT_OK;
    if (!p->off || !p->label || !p->n_target || !order || !cls) {
        st = lt_error(LT_ERR_OOM, "lt_mil_fashion: no memory for the %s bag plan", split_names[s]);
        goto done;
    }
    // Labels: the first npos of a seeded permutation are positive.
    int npos = (int)floor((double)nb * c->pos_frac + 0.5);
    for (int i = 0; i < nb; i++) order[i] = i;
    lt_rng_shuffle(&r, order, nb);
    for (int i = 0; i < nb; i++) p->label[order[i]] = i < npos;
    // Sizes and target counts first, so the instance array is allocated once.
    p->off[0] = 0;
    for (int b = 0; b < nb; b++) {
        int n = c->min_instances + (int)lt_rng_below(&r, (uint32_t)(c->max_instances - c->min_instances + 1));
        int k = 0;
        if (p->label[b]) {
            double f = c->min_target_frac + (c->max_target_frac - c->min_target_frac) * (double)lt_rng_uniform(&r);
            k = (int)floor(f * n + 0.5);
            k = k < 1 ? 1 : k > n ? n : k;
        }
        p->n_target[b] = k;
        p->off[b + 1] = p->off[b] + n;
    }
    p->in = malloc(sizeof(inst) * (size_t)(p->off[nb] ? p->off[nb] : 1));
    if (!p->in) {
        st = lt_error(LT_ERR_OOM, "lt_mil_fashion: no memory for the %lld instances of the %s bags",
                      (long long)p->off[nb], split_names[s]);
        goto done;
    }
    for (int b = 0; b < nb; b++) {
        int n = (int)(p->off[b + 1] - p->off[b]), k = p->n_target[b];
        double w[N_CLASSES], wsum = 0;
        for (int j = 0; j < n_neg; j++) wsum += w[j] = c->mix_alpha > 0 ? gamma_draw(&r, c->mix_alpha) : 1.0;
        for (int i = 0; i < n; i++) {
            if (i < k) { cls[i] = c->target_class; continue; }
            double u = (double)lt_rng_uniform(&r) * wsum, acc = 0;
            int j = 0;
            for (; j < n_neg - 1; j++) if (u < (acc += w[j])) break;
            cls[i] = neg[j];
        }
        lt_rng_shuffle(&r, cls, n);
        inst *in = p->in + p->off[b];
        int span = 2 * c->max_shift + 1;
        for (int i = 0; i < n; i++) {
            in[i].img = pool_next(&pools[cls[i]], &r);
            in[i].dx = (int8_t)((int)lt_rng_below(&r, (uint32_t)span) - c->max_shift);
            in[i].dy = (int8_t)((int)lt_rng_below(&r, (uint32_t)span) - c->max_shift);
            in[i].flip = (int8_t)(c->flip ? lt_rng_below(&r, 2) : 0);
        }
    }
done:
    free(order);
    free(cls);
    if (st != LT_OK) plan_free(p);
    return st;
}

// ---- features ----

typedef struct {
    int dim, hw;
    float *P;   // [dim, hw]
    float *b;   // [dim]
} projection;

static lt_status projection_make(const lt_mil_fashion_cfg *c, int hw, projection *pr) {
    pr->dim = c->dim;
    pr->hw = hw;
    pr->P = malloc(sizeof(float) * (size_t)c->dim * hw);
    pr->b = malloc(sizeof(float) * (size_t)c->dim);
    if (!pr->P || !pr->b) return lt_error(LT_ERR_OOM, "lt_mil_fashion: no memory for the [%d, %d] projection", c->dim, hw);
    lt_rng r;
    lt_rng_init(&r, c->proj_seed);
    lt_rng_fill_normal(&r, pr->P, (int64_t)c->dim * hw, 0.0f, 1.0f / sqrtf((float)hw));
    lt_rng_fill_normal(&r, pr->b, c->dim, 0.0f, 0.5f);
    return LT_OK;
}

// Augmented, normalized pixels of one instance into x [h*w].
static void render(const source *src, const uint8_t *img, inst in, float *x) {
    int h = src->h, w = src->w;
    for (int y = 0; y < h; y++) {
        int sy = y - in.dy;
        for (int xx = 0; xx < w; xx++) {
            int sx = (in.flip ? w - 1 - xx : xx) - in.dx;
            x[y * w + xx] = src->lut[sy >= 0 && sy < h && sx >= 0 && sx < w ? img[sy * w + sx] : 0];
        }
    }
}

// feat [off[nb], dim] for every bag of the plan: relu(X P^T + b), rows scaled to norm sqrt(dim).
// Bags run in parallel, one single-threaded sgemm each, so the values do not depend on
// the thread count.
static lt_status compute_features(const source *src, const src_split *sp, const projection *pr, const plan *p,
                                  int max_n, float *feat) {
    int hw = pr->hw, D = pr->dim, fail = 0;
#pragma omp parallel
    {
        float *X = malloc(sizeof(float) * (size_t)max_n * hw);
        if (!X) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int b = 0; b < p->nb; b++) {
            if (!X) continue;
            int n = (int)(p->off[b + 1] - p->off[b]);
            const inst *in = p->in + p->off[b];
            float *F = feat + p->off[b] * D;
            for (int i = 0; i < n; i++) render(src, sp->px + (size_t)in[i].img * hw, in[i], X + (size_t)i * hw);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, D, hw, 1.0f, X, hw, pr->P, hw, 0.0f, F, D);
            for (int i = 0; i < n; i++) {
                float *z = F + (size_t)i * D;
                double ss = 0;
                for (int d = 0; d < D; d++) {
                    float v = z[d] + pr->b[d];
                    z[d] = v > 0 ? v : 0;
                    ss += (double)z[d] * z[d];
                }
                float scale = ss > 0 ? (float)(sqrt((double)D / ss)) : 0.0f;
                for (int d = 0; d < D; d++) z[d] *= scale;
            }
        }
        free(X);
    }
    if (fail) return lt_error(LT_ERR_OOM, "lt_mil_fashion: no memory to render bags of up to %d images", max_n);
    return LT_OK;
}

// ---- generation ----

lt_status lt_mil_fashion_generate(const char *fashion_h5, const lt_mil_fashion_cfg *cfg, lt_mil_fashion_sink sink,
                                  void *ud) {
    lt_mil_fashion_cfg dflt = lt_mil_fashion_defaults();
    const lt_mil_fashion_cfg *c = cfg ? cfg : &dflt;
    if (!fashion_h5 || !sink) return lt_error(LT_ERR_ARG, "lt_mil_fashion_generate: NULL file name or sink");
    LT_TRY(lt_mil_fashion_check(c));
    source src;
    LT_TRY(source_load(fashion_h5, c->n_test_bags > 0, &src));
    pool pools[3][N_CLASSES];
    memset(pools, 0, sizeof pools);
    projection pr = {0};
    plan p = {0};
    float *feat = NULL;
    int32_t *coords = malloc(sizeof(int32_t) * 2 * (size_t)c->max_instances);
    lt_status st = coords ? LT_OK : lt_error(LT_ERR_OOM, "lt_mil_fashion: no memory");
    if (st == LT_OK) st = make_pools(c, &src, pools);
    if (st == LT_OK) st = projection_make(c, src.h * src.w, &pr);
    const int nbags[3] = {c->n_train_bags, c->n_val_bags, c->n_test_bags};
    for (int s = 0; s < 3 && st == LT_OK; s++) {
        if (nbags[s] == 0) continue;
        st = make_plan(c, s, nbags[s], pools[s], &p);
        if (st != LT_OK) break;
        feat = malloc(sizeof(float) * (size_t)p.off[p.nb] * c->dim);
        if (!feat) {
            st = lt_error(LT_ERR_OOM, "lt_mil_fashion: no memory for the [%lld, %d] features of the %s bags",
                          (long long)p.off[p.nb], c->dim, split_names[s]);
            break;
        }
        st = compute_features(&src, &src.sp[s == 2], &pr, &p, c->max_instances, feat);
        for (int b = 0; b < p.nb && st == LT_OK; b++) {
            char id[64];
            snprintf(id, sizeof id, "fmnist_%s_%04d", split_names[s], b);
            int64_t n = p.off[b + 1] - p.off[b];
            for (int64_t i = 0; i < n; i++) {
                coords[2 * i] = (int32_t)i;
                coords[2 * i + 1] = p.in[p.off[b] + i].img;
            }
            lt_mil_fashion_bag bag = {id, p.label[b], (lt_mil_split_kind)s, n, p.n_target[b], feat + p.off[b] * c->dim, coords};
            st = sink(ud, &bag);
        }
        free(feat);
        feat = NULL;
        plan_free(&p);
    }
    free(feat);
    plan_free(&p);
    free(pr.P);
    free(pr.b);
    free(coords);
    for (int s = 0; s < 3; s++) for (int cl = 0; cl < N_CLASSES; cl++) free(pools[s][cl].idx);
    source_free(&src);
    return st;
}

static lt_status writer_sink(void *ud, const lt_mil_fashion_bag *b) {
    return lt_mil_writer_add(ud, b->id, b->label, b->split, b->n, b->feat, b->coords);
}

lt_status lt_mil_fashion_build(const char *fashion_h5, const char *dst_packed, const lt_mil_fashion_cfg *cfg) {
    lt_mil_fashion_cfg dflt = lt_mil_fashion_defaults();
    const lt_mil_fashion_cfg *c = cfg ? cfg : &dflt;
    if (!fashion_h5 || !dst_packed) return lt_error(LT_ERR_ARG, "lt_mil_fashion_build: NULL file name");
    LT_TRY(lt_mil_fashion_check(c));
    static const char *const names[2] = {"negative", "positive"};
    lt_mil_writer *w;
    LT_TRY(lt_mil_writer_open(dst_packed, c->dim, 2, names, c->f16, &w));
    lt_status st = lt_mil_fashion_generate(fashion_h5, c, writer_sink, w);
    if (st != LT_OK) {
        lt_mil_writer_abort(w);
        return st;
    }
    return lt_mil_writer_commit(w);
}

// A cached file is used when it opens as a packed file with the config's bag count,
// dimension and classes.
static int cache_ok(const char *path, const lt_mil_fashion_cfg *c) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    lt_mil_dataset *ds;
    if (lt_mil_open(path, NULL, LT_MIL_PACKED, &ds) != LT_OK) return 0;
    int ok = lt_mil_count(ds) == c->n_train_bags + c->n_val_bags + c->n_test_bags && lt_mil_dim(ds) == c->dim &&
             lt_mil_n_classes(ds) == 2;
    lt_mil_close(ds);
    return ok;
}

lt_status lt_mil_fashion_ensure(const char *cache_dir, const lt_mil_fashion_cfg *cfg, char *out_path, size_t n) {
    const char *fn = "lt_mil_fashion_ensure";
    lt_mil_fashion_cfg dflt = lt_mil_fashion_defaults();
    const lt_mil_fashion_cfg *c = cfg ? cfg : &dflt;
    if (!cache_dir || !cache_dir[0] || !out_path) return lt_error(LT_ERR_ARG, "%s: no cache folder given", fn);
    LT_TRY(lt_mil_fashion_check(c));
    if ((size_t)snprintf(out_path, n, "%s/mil_fashion_v%d_%016llx.h5", cache_dir, LT_MIL_FASHION_VERSION,
                         (unsigned long long)lt_mil_fashion_hash(c)) >= n)
        return lt_error(LT_ERR_ARG, "%s: the cache path under '%s' does not fit in %zu bytes", fn, cache_dir, n);
    if (cache_ok(out_path, c)) {
        lt_clear_error();
        return LT_OK;
    }
    char src[4096];
    LT_TRY(lt_fashion_mnist_ensure(cache_dir, src, sizeof src));
    return lt_mil_fashion_build(src, out_path, c);
}
