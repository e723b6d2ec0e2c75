// A per-test temporary folder under $TMPDIR (or /tmp), removed with its contents
// afterwards. Include after defining _GNU_SOURCE (nftw).
#ifndef LT_TMPDIR_H
#define LT_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <criterion/criterion.h>

static char lt_tmp_root[256];

static int lt_tmp_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(p);
}

static inline void lt_tmp_setup(const char *prefix) {
    const char *t = getenv("TMPDIR");
    snprintf(lt_tmp_root, sizeof lt_tmp_root, "%s/%s_XXXXXX", t && t[0] ? t : "/tmp", prefix);
    cr_assert(mkdtemp(lt_tmp_root), "mkdtemp failed");
}

static inline void lt_tmp_teardown(void) {
    if (lt_tmp_root[0]) nftw(lt_tmp_root, lt_tmp_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

// Path inside the test's temporary folder (8 rotating buffers).
static inline const char *lt_tmp_path(const char *name) {
    static char buf[8][512];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, 512, "%s/%s", lt_tmp_root, name);
    return b;
}

#endif
