// Status codes and the per-thread error message. Library code never exits:
// it records what went wrong (naming the op, shape, file, flag) and returns.
#ifndef LT_STATUS_H
#define LT_STATUS_H

typedef enum {
    LT_OK = 0,
    LT_ERR_ARG,         // bad argument (flag, option value)
    LT_ERR_SHAPE,       // tensor shapes do not fit the op
    LT_ERR_DTYPE,       // wrong element type
    LT_ERR_IO,          // file missing, unreadable, unwritable
    LT_ERR_FORMAT,      // file content corrupt or not what was expected
    LT_ERR_OOM,         // allocation failed
    LT_ERR_UNSUPPORTED, // op/backend/device combination not available
    LT_ERR_NONFINITE,   // NaN or Inf where a finite value was required
    LT_ERR_STATE,       // API used in the wrong order
    LT_ERR_DEVICE,      // CUDA / cuBLAS / cuDNN failure
    LT_HELP,            // --help was asked for: not an error, the caller should stop
} lt_status;

// Records a printf-style message for the calling thread and returns `code`.
lt_status lt_error(lt_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *lt_last_error(void);   // "" when none
lt_status lt_last_status(void);
void lt_clear_error(void);
const char *lt_status_name(lt_status s);

// Propagate a non-OK status from an expression.
#define LT_TRY(expr) do { lt_status lt__s = (expr); if (lt__s != LT_OK) return lt__s; } while (0)

#endif
