// The built-in MIL data: bags of Fashion-MNIST images ("MIL Fashion"), the default
// when a MIL recipe is given no data flag. Built on first use from Debian's
// dataset-fashion-mnist (through lt_fashion_mnist_ensure) into one packed MIL file
// (data/mil.h), in a few seconds on 2 cores.
//
// The task. A bag stands in for a slide, an instance for a patch. A bag is positive
// (label 1, "positive") when it holds images of the target class, T-shirt/top;
// negative bags (label 0, "negative") hold none. All other instances come from the
// classes that look most like it: Pullover, Coat and Shirt. Positive bags hold only
// 2-8% targets, so a bag's mean feature moves little, while the mix of negative
// classes changes from bag to bag and moves the mean more: pooling by averaging
// sees mostly that noise, pooling that concentrates attention on the few targets
// does not. Measured with the default config and data seeds 1, 2, 3: a logistic
// regression on mean-pooled features reaches a test ROC AUC of 0.73-0.85, gated
// attention MIL (PyTorch, AEM's defaults: AdamW lr 1e-4 cosine, 50 epochs, lambda 0,
// best epoch by val AUC) 0.89-0.96. tests/test_mil_fashion.c prints the baselines.
//
// Why not Shirt as the target: with this stand-in extractor a linear instance
// classifier separates Shirt from T-shirt/Pullover/Coat with an AUC of only ~0.77,
// too weak to find 2-8% shirts in a bag; every bag-level method then sits near
// chance. T-shirt/top against Pullover/Coat/Shirt reaches an instance AUC of ~0.95.
//
// The generator, step by step (every random draw is Philox, lt_rng, keyed by
// values derived from cfg.seed, so a config gives the same file on every machine
// with the same OpenBLAS kernels):
//  1. Sources. Train and val bags use the Fashion-MNIST training images, test bags
//     the test images. Of each used class's training images, a seeded shuffle sends
//     the share n_val_bags / (n_train_bags + n_val_bags) to a val pool and the rest
//     to a train pool, so no image appears in two splits.
//  2. Labels. In each split, round(n_bags * pos_frac) bags are positive, the rest
//     negative, in a seeded random order.
//  3. Bag size n: uniform integer in [min_instances, max_instances].
//  4. Target count: a positive bag draws a fraction f uniform in
//     [min_target_frac, max_target_frac] and holds k = clamp(round(f n), 1, n)
//     target images; a negative bag holds k = 0.
//  5. Negative mix: the bag draws weights w over the negative classes from a
//     symmetric Dirichlet(mix_alpha) (mix_alpha 0: equal weights in every bag);
//     each of its n - k other instances picks its class from w.
//  6. Order: the n instance classes are put in a seeded random order.
//  7. Images: each instance then takes the next image of its class's pool in the
//     split; a pool is walked in a seeded random order and reshuffled when used
//     up, so an image repeats within a split only after its whole pool has been
//     used (the test pools are small: 1000 images per class).
//  8. Augmentation: each instance's image is shifted by dx, dy uniform in
//     [-max_shift, max_shift] pixels (uncovered pixels are background) and, when
//     flip is set, mirrored left-right with probability 1/2, so a repeated image
//     usually gives a different instance. (Shifts hurt the random projection's
//     class separation a lot, hence max_shift 0 by default.)
//  9. Features (the stand-in for a frozen feature extractor, fixed by proj_seed and
//     independent of cfg.seed): x is the image's 784 pixels normalized as
//     lt_mnist_load does ((v/255 - mean)/std); z = relu(P x + b) with P [dim, 784]
//     entries N(0, 1/784) and b [dim] entries N(0, 1/4), drawn in that order from
//     lt_rng keyed by proj_seed (lt_rng_fill_normal); z is then scaled to L2 norm
//     sqrt(dim), so a component's mean square is 1 (with unit-norm features ABMIL
//     at AEM's lr 1e-4 learned markedly slower) and an image's overall brightness
//     is no cue. Bags are
//     projected in parallel, one single-threaded sgemm per bag, so the values do
//     not depend on the thread count. Stored as float32 (float16 when cfg.f16).
//
// The packed file (LT_MIL_PACKED, written with lt_mil_writer): classes "negative",
// "positive"; bags in the order train, val, test with ids "fmnist_train_0007",
// "fmnist_val_0003", "fmnist_test_0042" and their splits stored; coords per
// instance = (position in the bag, index of the source image in its Fashion-MNIST
// split: training images for train/val bags, test images for test bags), so the
// instance's true class is lt_mnist_load(fashion_h5, split).y[coords[i][1]].
#ifndef LT_DATA_MIL_FASHION_H
#define LT_DATA_MIL_FASHION_H

#include <stddef.h>
#include <stdint.h>

#include "data/mil.h"
#include "libtrain/status.h"

// Bumped whenever the generator's output for a given config changes; part of the
// cache file name, so an old cache is never mistaken for a new one.
#define LT_MIL_FASHION_VERSION 1
#define LT_MIL_FASHION_PROJ_SEED 0x4d494c46617368ull   // "MILFash": the fixed "extractor weights"

typedef struct {
    uint64_t seed;                      // bag sampling: 1
    uint64_t proj_seed;                 // the projection: LT_MIL_FASHION_PROJ_SEED
    int n_train_bags, n_val_bags, n_test_bags;   // 200, 50, 100
    int min_instances, max_instances;   // bag size range: 100, 400
    int target_class;                   // 0 (T-shirt/top)
    uint32_t negative_classes;          // bit c set: class c gives negatives; (1<<2)|(1<<4)|(1<<6)
    float pos_frac;                     // share of positive bags per split: 0.5
    float min_target_frac, max_target_frac;   // 0.02, 0.08
    float mix_alpha;                    // Dirichlet concentration of the negative mix: 1
    int max_shift;                      // 0 pixels
    int flip;                           // 1
    int dim;                            // feature dimension D: 128
    int f16;                            // store features as float16: 0
} lt_mil_fashion_cfg;

// The defaults above.
lt_mil_fashion_cfg lt_mil_fashion_defaults(void);
// Checks a config (ranges, classes, enough source images); errors name the field.
lt_status lt_mil_fashion_check(const lt_mil_fashion_cfg *cfg);
// 64-bit FNV-1a hash of the config's fields and LT_MIL_FASHION_VERSION.
uint64_t lt_mil_fashion_hash(const lt_mil_fashion_cfg *cfg);

// One generated bag, as handed to a sink (valid only during the call).
typedef struct {
    const char *id;          // "fmnist_train_0007"
    int label;               // 0 negative, 1 positive
    lt_mil_split_kind split;
    int64_t n;               // instances
    int n_target;            // instances of the target class
    const float *feat;       // [n, dim]
    const int32_t *coords;   // [n, 2]: (position in bag, source image index)
} lt_mil_fashion_bag;
typedef lt_status (*lt_mil_fashion_sink)(void *ud, const lt_mil_fashion_bag *bag);

// Generates the bags of `cfg` (NULL: defaults) from a Fashion-MNIST import
// (lt_fashion_mnist_ensure's file) and hands them to `sink` in file order; a
// non-OK status from the sink stops the generation and is returned.
lt_status lt_mil_fashion_generate(const char *fashion_h5, const lt_mil_fashion_cfg *cfg, lt_mil_fashion_sink sink,
                                  void *ud);
// Generates into a packed MIL file at dst_packed (atomically).
lt_status lt_mil_fashion_build(const char *fashion_h5, const char *dst_packed, const lt_mil_fashion_cfg *cfg);
// The default-data entry point: out_path (n bytes) gets
// cache_dir/mil_fashion_v<LT_MIL_FASHION_VERSION>_<16 hex digits of the config hash>.h5,
// built first (with Fashion-MNIST from lt_fashion_mnist_ensure(cache_dir)) when it
// is missing or does not open as the expected packed file.
lt_status lt_mil_fashion_ensure(const char *cache_dir, const lt_mil_fashion_cfg *cfg, char *out_path, size_t n);

#endif
