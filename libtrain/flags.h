// Command-line flags for recipes. A recipe declares its flags, each bound to a
// variable that receives the default at once, then parses argv:
//
//   lt_common_flags cf = LT_COMMON_FLAGS_INIT;   // defaults; change any field first
//   cf.steps = 2000;
//   int hidden; float wd;
//   lt_flags *f = lt_flags_new("mlp_fashion", "MLP on Fashion-MNIST");
//   lt_flags_common(f, &cf);
//   lt_flag_int(f, "hidden", &hidden, 256, "hidden width");
//   lt_flag_float(f, "wd", &wd, 0.0f, "weight decay");
//   lt_status s = lt_flags_parse(f, argc, argv);
//   if (s == LT_HELP) return 0;
//   if (s != LT_OK) { fprintf(stderr, "%s\n", lt_last_error()); return 2; }
//
// Syntax: --name=value, or --name value for non-bool flags; bools also take
// --name, --no-name and --name=1/0/true/false/yes/no. '_' and '-' in names are
// interchangeable on the command line. --help / -h prints the usage to stdout
// and parse returns LT_HELP. Registration mistakes (a name declared twice, a bad
// default) are reported by lt_flags_parse, so declarations need no checks.
// String values point into argv or at the default: they live as long as those.
#ifndef LT_FLAGS_H
#define LT_FLAGS_H

#include <stdint.h>
#include <stdio.h>

#include "libtrain/device.h"
#include "libtrain/status.h"

typedef struct lt_flags lt_flags;

// Returns NULL (error recorded) only when out of memory.
lt_flags *lt_flags_new(const char *name, const char *description);
void lt_flags_free(lt_flags *f);

void lt_flag_int(lt_flags *f, const char *name, int *v, int def, const char *help);
void lt_flag_int64(lt_flags *f, const char *name, int64_t *v, int64_t def, const char *help);
void lt_flag_u64(lt_flags *f, const char *name, uint64_t *v, uint64_t def, const char *help);   // also 0x...
void lt_flag_float(lt_flags *f, const char *name, float *v, float def, const char *help);        // finite only
void lt_flag_str(lt_flags *f, const char *name, const char **v, const char *def, const char *help);
void lt_flag_bool(lt_flags *f, const char *name, int *v, int def, const char *help);
// One of the '|'-separated `choices` ("cpu|cuda"); *v points at the argv text or `def`.
void lt_flag_choice(lt_flags *f, const char *name, const char **v, const char *def, const char *choices,
                    const char *help);
// Comma-separated floats ("0,0.1,1") into vals[0..cap), count in *n; `def` in the
// same syntax ("" = empty list).
void lt_flag_float_list(lt_flags *f, const char *name, float *vals, int cap, int *n, const char *def,
                        const char *help);

// The flags every recipe has. The values in the struct when lt_flags_common is
// called are the defaults; NULL strings mean: device "cpu", out "runs/<recipe name>".
typedef struct lt_common_flags {
    int steps;           // --steps        training steps
    float lr;            // --lr           peak learning rate
    uint64_t seed;       // --seed         seeds init, data order, dropout
    const char *device;  // --device       cpu|cuda
    const char *out;     // --out          run folder
    int resume;          // --resume       continue the run in --out from its last checkpoint
    int threads;         // --threads      CPU threads; 0 = OpenMP's default. Applied by lt_flags_parse.
    int log_every;       // --log-every    steps between metric lines
    int ckpt_every;      // --ckpt-every   steps between checkpoints; 0 = only at the end
    const char *matmul;  // --matmul       CUDA matmul compute: fp32|tf32|bf16 (NULL: fp32)
    lt_device dev;       // set by lt_flags_parse from --device
} lt_common_flags;

#define LT_COMMON_FLAGS_INIT \
    {.steps = 1000, .lr = 1e-3f, .seed = 1, .device = NULL, .out = NULL, .resume = 0, .threads = 0, \
     .log_every = 100, .ckpt_every = 1000, .matmul = NULL, .dev = LT_CPU}

void lt_flags_common(lt_flags *f, lt_common_flags *cf);

// LT_OK, LT_HELP (usage printed), or LT_ERR_ARG with a message naming the flag.
lt_status lt_flags_parse(lt_flags *f, int argc, char **argv);
void lt_flags_usage(const lt_flags *f, FILE *out);
// 1 when the flag was given on the command line (after parse), else 0.
int lt_flags_was_set(const lt_flags *f, const char *name);
// The resolved values as one JSON object (declaration order), for config.json.
lt_status lt_flags_to_json(const lt_flags *f, FILE *out);

#endif
