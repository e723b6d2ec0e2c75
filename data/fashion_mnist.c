#include "data/fashion_mnist.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/h5.h"
#include "data/idx.h"

const char *const lt_fashion_mnist_classes[LT_MNIST_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
};

// The four source files, in the order train images, train labels, test images, test labels.
static const char *const src_names[4] = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
};
static const uint32_t src_magic[4] = {LT_IDX_MAGIC_IMAGES, LT_IDX_MAGIC_LABELS, LT_IDX_MAGIC_IMAGES,
                                      LT_IDX_MAGIC_LABELS};

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

// Finds dir/name.gz, else dir/name; returns how many of the four are missing.
static int find_sources(const char *dir, char paths[4][PATH_MAX]) {
    int missing = 0;
    for (int i = 0; i < 4; i++) {
        snprintf(paths[i], PATH_MAX, "%s/%s", dir, src_names[i]);
        if (is_file(paths[i])) continue;
        snprintf(paths[i], PATH_MAX, "%s/%s.gz", dir, src_names[i]);
        if (!is_file(paths[i])) missing++;
    }
    return missing;
}

static lt_status check_labels(const lt_idx *lab, const char *path) {
    for (int64_t i = 0; i < lab->numel; i++)
        if (lab->data[i] >= LT_MNIST_CLASSES)
            return lt_error(LT_ERR_FORMAT, "lt_fashion_mnist_import: '%s': label %d at index %lld is out of range 0..%d",
                            path, lab->data[i], (long long)i, LT_MNIST_CLASSES - 1);
    return LT_OK;
}

static lt_status write_split(lt_h5 *f, const char *split, const lt_idx *img, const lt_idx *lab) {
    char name[64];
    lt_h5_write_opts o = {LT_H5_U8, 0};
    snprintf(name, sizeof name, "%s/images", split);
    LT_TRY(lt_h5_write(f, name, LT_H5_U8, img->data, 3, img->dims, o));
    snprintf(name, sizeof name, "%s/labels", split);
    return lt_h5_write(f, name, LT_H5_U8, lab->data, 1, lab->dims, o);
}

static lt_status write_file(const char *dst, const char *src_dir, lt_idx in[4]) {
    lt_h5 *f;
    LT_TRY(lt_h5_create(dst, &f));
    char classes[256] = "";
    for (int i = 0; i < LT_MNIST_CLASSES; i++) {
        if (i) strcat(classes, ",");
        strcat(classes, lt_fashion_mnist_classes[i]);
    }
    lt_status s = write_split(f, "train", &in[0], &in[1]);
    if (s == LT_OK) s = write_split(f, "test", &in[2], &in[3]);
    if (s == LT_OK) s = lt_h5_attr_write_str(f, "/", "format", LT_FASHION_MNIST_FORMAT);
    if (s == LT_OK) s = lt_h5_attr_write_str(f, "/", "source", src_dir);
    if (s == LT_OK) s = lt_h5_attr_write_str(f, "/", "classes", classes);
    if (s == LT_OK) s = lt_h5_attr_write_int(f, "/", "num_classes", LT_MNIST_CLASSES);
    if (s == LT_OK) s = lt_h5_attr_write_f64(f, "/", "pixel_mean", LT_FASHION_MNIST_MEAN);
    if (s == LT_OK) s = lt_h5_attr_write_f64(f, "/", "pixel_std", LT_FASHION_MNIST_STD);
    if (s != LT_OK) {
        lt_h5_close(f);
        return s;
    }
    return lt_h5_commit(f);
}

lt_status lt_fashion_mnist_import(const char *src_dir, const char *dst_h5) {
    const char *fn = "lt_fashion_mnist_import";
    if (!src_dir || !dst_h5) return lt_error(LT_ERR_ARG, "%s: NULL folder or file name", fn);
    char paths[4][PATH_MAX];
    if (find_sources(src_dir, paths))
        for (int i = 0; i < 4; i++)
            if (!is_file(paths[i]))
                return lt_error(LT_ERR_IO, "%s: missing source file '%s/%s.gz' (or '%s/%s')", fn, src_dir,
                                src_names[i], src_dir, src_names[i]);
    lt_idx in[4] = {{0}};
    lt_status s = LT_OK;
    for (int i = 0; i < 4 && s == LT_OK; i++) s = lt_idx_read(paths[i], src_magic[i], &in[i]);
    for (int k = 0; k < 2 && s == LT_OK; k++) {
        const lt_idx *img = &in[2 * k], *lab = &in[2 * k + 1];
        if (lab->dims[0] != img->dims[0])
            s = lt_error(LT_ERR_FORMAT, "%s: '%s' has %lld labels but '%s' has %lld images", fn, paths[2 * k + 1],
                         (long long)lab->dims[0], paths[2 * k], (long long)img->dims[0]);
        else
            s = check_labels(lab, paths[2 * k + 1]);
    }
    if (s == LT_OK && (in[0].dims[1] != in[2].dims[1] || in[0].dims[2] != in[2].dims[2]))
        s = lt_error(LT_ERR_FORMAT, "%s: train images are %lldx%lld ('%s') but test images are %lldx%lld ('%s')", fn,
                     (long long)in[0].dims[1], (long long)in[0].dims[2], paths[0], (long long)in[2].dims[1],
                     (long long)in[2].dims[2], paths[2]);
    if (s == LT_OK) s = write_file(dst_h5, src_dir, in);
    for (int i = 0; i < 4; i++) lt_idx_free(&in[i]);
    return s;
}

// Cheap validity check of an import (metadata only): format attribute and dataset shapes.
static lt_status check_cache(const char *path) {
    lt_h5 *f;
    LT_TRY(lt_h5_open(path, &f));
    char fmt[64];
    lt_status s = lt_h5_attr_read_str(f, "/", "format", fmt, sizeof fmt);
    if (s == LT_OK && strcmp(fmt, LT_FASHION_MNIST_FORMAT) != 0)
        s = lt_error(LT_ERR_FORMAT, "'%s' has format '%s', expected '%s'", path, fmt, LT_FASHION_MNIST_FORMAT);
    static const char *const dsets[4] = {"train/images", "train/labels", "test/images", "test/labels"};
    lt_h5_info info[4];
    for (int i = 0; i < 4 && s == LT_OK; i++) {
        s = lt_h5_info_get(f, dsets[i], &info[i]);
        if (s == LT_OK && (info[i].ndim != (i % 2 ? 1 : 3) || info[i].type != LT_H5_U8))
            s = lt_error(LT_ERR_FORMAT, "dataset '%s' in '%s' has the wrong rank or type", dsets[i], path);
    }
    if (s == LT_OK && (info[0].dims[0] != info[1].dims[0] || info[2].dims[0] != info[3].dims[0]))
        s = lt_error(LT_ERR_FORMAT, "'%s': image and label counts differ", path);
    lt_h5_close(f);
    return s;
}

static lt_status mkdir_p(const char *dir) {
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) return lt_error(LT_ERR_ARG, "folder name too long: %s", dir);
    for (char *c = p + 1;; c++) {
        if (*c == '/' || *c == 0) {
            char keep = *c;
            *c = 0;
            if (mkdir(p, 0755) != 0 && errno != EEXIST)
                return lt_error(LT_ERR_IO, "lt_fashion_mnist_ensure: cannot create folder '%s': %s", p,
                                strerror(errno));
            *c = keep;
            if (!keep) break;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return lt_error(LT_ERR_IO, "lt_fashion_mnist_ensure: '%s' is not a folder", dir);
    return LT_OK;
}

lt_status lt_fashion_mnist_ensure(const char *cache_dir, char *out_path, size_t n) {
    const char *fn = "lt_fashion_mnist_ensure";
    if (!cache_dir || !cache_dir[0] || !out_path) return lt_error(LT_ERR_ARG, "%s: no cache folder given", fn);
    if ((size_t)snprintf(out_path, n, "%s/%s", cache_dir, LT_FASHION_MNIST_CACHE) >= n)
        return lt_error(LT_ERR_ARG, "%s: path '%s/%s' does not fit in %zu bytes", fn, cache_dir,
                        LT_FASHION_MNIST_CACHE, n);
    char stale[512] = "";
    if (is_file(out_path)) {
        if (check_cache(out_path) == LT_OK) return LT_OK;
        snprintf(stale, sizeof stale, " (the cached '%s' is not usable: %s)", out_path, lt_last_error());
    }
    const char *env = getenv(LT_FASHION_MNIST_ENV);
    const char *src = env && env[0] ? env : LT_FASHION_MNIST_DIR;
    char paths[4][PATH_MAX];
    if (find_sources(src, paths)) {
        char list[4 * (PATH_MAX + 16)] = "";
        size_t k = 0;
        for (int i = 0; i < 4; i++)
            k += (size_t)snprintf(list + k, sizeof list - k, "%s  %s/%s.gz%s", i ? "\n" : "", src, src_names[i],
                                  is_file(paths[i]) ? "" : " (missing)");
        return lt_error(LT_ERR_IO,
                        "%s: Fashion-MNIST not found%s. Looked for (in %s):\n%s\n"
                        "Install it with: apt-get install dataset-fashion-mnist\n"
                        "or set %s to a folder holding these four files (.gz or uncompressed).",
                        fn, stale, env && env[0] ? "$" LT_FASHION_MNIST_ENV : "the default folder", list,
                        LT_FASHION_MNIST_ENV);
    }
    LT_TRY(mkdir_p(cache_dir));
    return lt_fashion_mnist_import(src, out_path);
}

lt_status lt_mnist_load(const char *h5, const char *split, lt_mnist *out) {
    const char *fn = "lt_mnist_load";
    memset(out, 0, sizeof *out);
    if (!h5 || !split || !split[0]) return lt_error(LT_ERR_ARG, "%s: NULL file name or split", fn);
    lt_h5 *f;
    LT_TRY(lt_h5_open(h5, &f));
    char dimg[128], dlab[128], shp[160];
    snprintf(dimg, sizeof dimg, "%s/images", split);
    snprintf(dlab, sizeof dlab, "%s/labels", split);
    lt_h5_info ii, li;
    uint8_t *px = NULL;
    lt_status s = lt_h5_info_get(f, dimg, &ii);
    if (s != LT_OK) goto done;
    int k = snprintf(shp, sizeof shp, "[");
    for (int i = 0; i < ii.ndim && i < LT_H5_MAX_DIMS; i++) k += snprintf(shp + k, sizeof shp - k, "%s%lld", i ? "," : "", (long long)ii.dims[i]);
    snprintf(shp + k, sizeof shp - k, "]");
    if (ii.ndim != 3 || ii.dims[0] > INT_MAX || ii.dims[1] * ii.dims[2] > INT_MAX) {
        s = lt_error(LT_ERR_SHAPE, "%s: dataset '%s' in '%s' has shape %s; expected [N,H,W]", fn, dimg, h5, shp);
        goto done;
    }
    if (ii.type != LT_H5_U8) {
        s = lt_error(LT_ERR_DTYPE, "%s: dataset '%s' in '%s' holds %s; expected uint8 pixels", fn, dimg, h5,
                     lt_h5_type_name(ii.type));
        goto done;
    }
    s = lt_h5_info_get(f, dlab, &li);
    if (s != LT_OK) goto done;
    if (li.ndim != 1 || li.dims[0] != ii.dims[0]) {
        s = lt_error(LT_ERR_SHAPE, "%s: dataset '%s' in '%s' has %d dims and %lld entries; expected [%lld] to match %s %s",
                     fn, dlab, h5, li.ndim, (long long)(li.ndim ? li.dims[0] : 1), (long long)ii.dims[0], dimg, shp);
        goto done;
    }
    double mean = LT_FASHION_MNIST_MEAN, std = LT_FASHION_MNIST_STD;
    if (lt_h5_has_attr(f, "/", "pixel_mean")) s = lt_h5_attr_read_f64(f, "/", "pixel_mean", &mean);
    if (s == LT_OK && lt_h5_has_attr(f, "/", "pixel_std")) s = lt_h5_attr_read_f64(f, "/", "pixel_std", &std);
    if (s != LT_OK) goto done;
    if (!(std > 0)) {
        s = lt_error(LT_ERR_FORMAT, "%s: '%s' has pixel_std %g; expected > 0", fn, h5, std);
        goto done;
    }
    int nimg = (int)ii.dims[0], hw = (int)(ii.dims[1] * ii.dims[2]);
    out->n = nimg;
    out->h = (int)ii.dims[1];
    out->w = (int)ii.dims[2];
    out->x = lt_tensor_alloc(LT_F32, LT_CPU, LT_SHAPE(nimg, hw));
    out->y = lt_tensor_alloc(LT_I32, LT_CPU, LT_SHAPE(nimg));
    px = malloc((size_t)ii.numel);
    if (!out->x || !out->y || !px) {
        s = lt_error(LT_ERR_OOM, "%s: no memory for %s %s of '%s'", fn, dimg, shp, h5);
        goto done;
    }
    s = lt_h5_read(f, dimg, LT_H5_U8, px, ii.numel);
    if (s == LT_OK) s = lt_h5_read_i32(f, dlab, lt_i32(out->y), nimg);
    if (s != LT_OK) goto done;
    const int32_t *y = lt_i32(out->y);
    for (int i = 0; i < nimg; i++)
        if (y[i] < 0 || y[i] >= LT_MNIST_CLASSES) {
            s = lt_error(LT_ERR_FORMAT, "%s: label %d at index %d of dataset '%s' in '%s' is out of range 0..%d", fn,
                         y[i], i, dlab, h5, LT_MNIST_CLASSES - 1);
            goto done;
        }
    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = ((float)v / 255.0f - (float)mean) / (float)std;
    float *x = lt_f32(out->x);
    int64_t total = ii.numel;
#pragma omp parallel for if (total > (1 << 20))
    for (int64_t i = 0; i < total; i++) x[i] = lut[px[i]];
done:
    free(px);
    lt_h5_close(f);
    if (s != LT_OK) lt_mnist_free(out);
    return s;
}

void lt_mnist_free(lt_mnist *m) {
    if (!m) return;
    lt_tensor_free(m->x);
    lt_tensor_free(m->y);
    memset(m, 0, sizeof *m);
}
