// Fashion-MNIST: 28x28 grey images of 10 clothing classes, 60000 train + 10000 test.
// Source: Debian's package dataset-fashion-mnist (IDX files), imported once into
// one HDF5 file:
//   train/images uint8 [60000,28,28]   train/labels uint8 [60000]
//   test/images  uint8 [10000,28,28]   test/labels  uint8 [10000]
//   root attributes: format, source, classes (comma-separated), num_classes,
//   pixel_mean, pixel_std.
#ifndef LT_DATA_FASHION_MNIST_H
#define LT_DATA_FASHION_MNIST_H

#include <stddef.h>

#include "libtrain/tensor.h"

#define LT_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"   // where the Debian package puts it
#define LT_FASHION_MNIST_ENV "LT_FASHION_MNIST_DIR"                // overrides that folder
#define LT_FASHION_MNIST_CACHE "fashion_mnist.h5"                  // file name inside the cache folder
#define LT_FASHION_MNIST_FORMAT "libtrain fashion_mnist 1"         // value of the `format` attribute

// Mean and standard deviation of all Fashion-MNIST training pixels after
// scaling to [0,1] (the standard values; over the 60000x784 training pixels
// they are 0.28604 and 0.35302). lt_mnist_load maps a pixel v in 0..255 to
// (v/255 - mean) / std, so the training inputs have mean ~0 and std ~1.
#define LT_FASHION_MNIST_MEAN 0.2860f
#define LT_FASHION_MNIST_STD 0.3530f
#define LT_MNIST_CLASSES 10

extern const char *const lt_fashion_mnist_classes[LT_MNIST_CLASSES];

// Reads train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte
// and t10k-labels-idx1-ubyte (each .gz or plain) from src_dir and writes dst_h5
// (atomically). Checks labels are in 0..9, label and image counts agree, and both
// splits have the same image size.
lt_status lt_fashion_mnist_import(const char *src_dir, const char *dst_h5);

// The default-data entry point: out_path (n bytes) gets cache_dir/fashion_mnist.h5,
// imported first if it is missing or not a valid import (cache_dir is created if
// needed). The source folder is $LT_FASHION_MNIST_DIR or LT_FASHION_MNIST_DIR;
// when its files are missing, the error lists the files looked for and the
// install command.
lt_status lt_fashion_mnist_ensure(const char *cache_dir, char *out_path, size_t n);

typedef struct {
    int n, h, w;
    lt_tensor *x;   // [n, h*w] f32: (pixel/255 - mean) / std
    lt_tensor *y;   // [n] i32 in 0..LT_MNIST_CLASSES-1
} lt_mnist;

// Loads split "train" or "test" (any group holding images [N,H,W] uint8 and
// labels [N]). mean/std are the file's pixel_mean/pixel_std attributes when
// present, else LT_FASHION_MNIST_MEAN/STD. Errors name the file and dataset.
lt_status lt_mnist_load(const char *h5, const char *split, lt_mnist *out);
void lt_mnist_free(lt_mnist *m);

#endif
