#include "data/idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

// Reads up to n bytes; returns how many arrived (fewer at end of file or on error).
static int64_t read_full(gzFile g, void *buf, int64_t n) {
    int64_t got = 0;
    while (got < n) {
        int64_t want = n - got;
        if (want > (1 << 30)) want = 1 << 30;
        int r = gzread(g, (uint8_t *)buf + got, (unsigned)want);
        if (r <= 0) break;
        got += r;
    }
    return got;
}

// zlib's reason for a short read ("unexpected end of file", "incorrect data check"), or "".
static const char *gz_why(gzFile g, char *buf /* >= 128 */) {
    int code = 0;
    const char *m = gzerror(g, &code);
    buf[0] = 0;
    if (code != Z_OK && m && m[0]) snprintf(buf, 128, " (zlib: %s)", m);
    return buf;
}

static const char *magic_what(uint32_t magic) {
    return magic == LT_IDX_MAGIC_IMAGES ? "unsigned-byte images [N,H,W]"
         : magic == LT_IDX_MAGIC_LABELS ? "unsigned-byte labels [N]" : "unsigned-byte data";
}

lt_status lt_idx_read(const char *path, uint32_t magic, lt_idx *out) {
    memset(out, 0, sizeof *out);
    int want_ndim = (int)(magic & 0xff);
    if ((magic & 0xffffff00u) != 0x00000800u || want_ndim < 1 || want_ndim > 3)
        return lt_error(LT_ERR_ARG, "lt_idx_read: '%s': unsupported expected magic 0x%08x", path, magic);
    errno = 0;
    gzFile g = gzopen(path, "rb");
    if (!g)
        return lt_error(LT_ERR_IO, "lt_idx_read: cannot open '%s': %s", path,
                        errno ? strerror(errno) : "out of memory");
    gzbuffer(g, 1 << 17);
    char why[128];
    lt_status s = LT_OK;
    uint8_t hdr[4 + 4 * 3];
    int64_t hdr_len = 4 + 4 * (int64_t)want_ndim;
    int64_t got = read_full(g, hdr, 4);
    if (got < 4) {
        s = lt_error(LT_ERR_FORMAT, "lt_idx_read: '%s' is truncated: header ends after %lld of %lld bytes%s", path,
                     (long long)got, (long long)hdr_len, gz_why(g, why));
        goto fail;
    }
    uint32_t m = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (m != magic) {
        s = lt_error(LT_ERR_FORMAT, "lt_idx_read: '%s' has wrong magic 0x%08x; expected 0x%08x (%s)", path, m, magic,
                     magic_what(magic));
        goto fail;
    }
    got += read_full(g, hdr + 4, hdr_len - 4);
    if (got < hdr_len) {
        s = lt_error(LT_ERR_FORMAT, "lt_idx_read: '%s' is truncated: header ends after %lld of %lld bytes%s", path,
                     (long long)got, (long long)hdr_len, gz_why(g, why));
        goto fail;
    }
    out->ndim = want_ndim;
    out->numel = 1;
    for (int i = 0; i < want_ndim; i++) {
        const uint8_t *p = hdr + 4 + 4 * i;
        out->dims[i] = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
        if (out->dims[i] < 1) {
            s = lt_error(LT_ERR_FORMAT, "lt_idx_read: '%s': dim %d is 0", path, i);
            goto fail;
        }
        out->numel *= out->dims[i];
        // A corrupt header must not make us allocate without bound.
        if (out->numel > ((int64_t)1 << 32)) {
            s = lt_error(LT_ERR_FORMAT, "lt_idx_read: '%s': dims give more than 2^32 bytes; header corrupt?", path);
            goto fail;
        }
    }
    out->data = malloc((size_t)out->numel);
    if (!out->data) {
        s = lt_error(LT_ERR_OOM, "lt_idx_read: '%s': cannot allocate %lld bytes", path, (long long)out->numel);
        goto fail;
    }
    got = read_full(g, out->data, out->numel);
    if (got < out->numel) {
        s = lt_error(LT_ERR_FORMAT, "lt_idx_read: '%s' is truncated: data ends after %lld of %lld bytes%s", path,
                     (long long)got, (long long)out->numel, gz_why(g, why));
        goto fail;
    }
    // Reading past the end makes zlib check the gzip trailer (CRC and length) too.
    uint8_t extra;
    int r = gzread(g, &extra, 1);
    if (r > 0) {
        s = lt_error(LT_ERR_FORMAT, "lt_idx_read: '%s' has data after the %lld bytes its header announces", path,
                     (long long)out->numel);
        goto fail;
    }
    if (r < 0) {
        s = lt_error(LT_ERR_FORMAT, "lt_idx_read: '%s' is corrupt%s", path, gz_why(g, why));
        goto fail;
    }
    gzclose(g);
    return LT_OK;
fail:
    gzclose(g);
    lt_idx_free(out);
    return s;
}

void lt_idx_free(lt_idx *x) {
    if (!x) return;
    free(x->data);
    memset(x, 0, sizeof *x);
}
