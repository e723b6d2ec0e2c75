#include "libtrain/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char lt_err_msg[2048];
static _Thread_local lt_status lt_err_code = LT_OK;

lt_status lt_error(lt_status code, const char *fmt, ...) {
    // Formats into a scratch buffer: the arguments may include lt_last_error() itself.
    char tmp[sizeof lt_err_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(lt_err_msg, tmp, sizeof tmp);
    lt_err_code = code;
    return code;
}

const char *lt_last_error(void) { return lt_err_msg; }
lt_status lt_last_status(void) { return lt_err_code; }
void lt_clear_error(void) { lt_err_msg[0] = 0; lt_err_code = LT_OK; }

const char *lt_status_name(lt_status s) {
    switch (s) {
    case LT_OK: return "ok";
    case LT_ERR_ARG: return "bad argument";
    case LT_ERR_SHAPE: return "shape error";
    case LT_ERR_DTYPE: return "dtype error";
    case LT_ERR_IO: return "I/O error";
    case LT_ERR_FORMAT: return "format error";
    case LT_ERR_OOM: return "out of memory";
    case LT_ERR_UNSUPPORTED: return "unsupported";
    case LT_ERR_NONFINITE: return "non-finite value";
    case LT_ERR_STATE: return "state error";
    case LT_ERR_DEVICE: return "device error";
    case LT_HELP: return "help";
    }
    return "unknown";
}
