#include "libtrain/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void release(lt_atomic_file *f, int remove_tmp) {
    if (f->fp) fclose(f->fp);
    if (remove_tmp && f->tmp) unlink(f->tmp);
    free(f->path);
    free(f->tmp);
    f->fp = NULL;
    f->path = f->tmp = NULL;
}

lt_status lt_atomic_open(lt_atomic_file *f, const char *path) {
    f->fp = NULL;
    f->path = f->tmp = NULL;
    if (!path || !*path) return lt_error(LT_ERR_ARG, "lt_atomic_open: empty file name");
    size_t n = strlen(path) + 32;
    f->path = strdup(path);
    f->tmp = malloc(n);
    if (!f->path || !f->tmp) {
        release(f, 0);
        return lt_error(LT_ERR_OOM, "%s: out of memory", path);
    }
    snprintf(f->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    // O_NOFOLLOW: a planted symlink at the temporary name must not redirect the write.
    int fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0) {
        int e = errno;
        lt_status s = lt_error(LT_ERR_IO, "%s: cannot create temporary file %s: %s", path, f->tmp, strerror(e));
        release(f, 0);
        return s;
    }
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        int e = errno;
        close(fd);
        lt_status s = lt_error(LT_ERR_IO, "%s: fdopen of %s: %s", path, f->tmp, strerror(e));
        release(f, 1);
        return s;
    }
    return LT_OK;
}

static lt_status sync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return lt_error(LT_ERR_OOM, "%s: out of memory", path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    lt_status s = LT_OK;
    if (fd < 0) {
        s = lt_error(LT_ERR_IO, "%s: renamed into place, but cannot open directory %s to sync it: %s", path, dir,
                     strerror(errno));
    } else {
        // Some file systems cannot sync a directory (EINVAL); the rename stands either way.
        if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
            s = lt_error(LT_ERR_IO, "%s: renamed into place, but syncing directory %s failed: %s", path, dir,
                         strerror(errno));
        close(fd);
    }
    free(dir);
    return s;
}

lt_status lt_atomic_commit(lt_atomic_file *f) {
    if (!f->fp) {
        release(f, 1);
        return lt_error(LT_ERR_STATE, "lt_atomic_commit: file is not open");
    }
    const char *what = NULL;
    int e = 0;
    if (fflush(f->fp) != 0) { what = "write"; e = errno; }
    else if (ferror(f->fp)) { what = "an earlier write"; e = EIO; }
    else if (fsync(fileno(f->fp)) != 0) { what = "fsync"; e = errno; }
    FILE *fp = f->fp;
    f->fp = NULL;
    if (fclose(fp) != 0 && !what) { what = "close"; e = errno; }
    if (!what && rename(f->tmp, f->path) != 0) { what = "rename"; e = errno; }
    if (what) {
        lt_status s = lt_error(LT_ERR_IO, "%s: %s failed: %s (the previous file, if any, is unchanged)", f->path, what,
                               strerror(e));
        release(f, 1);
        return s;
    }
    lt_status s = sync_dir(f->path);
    release(f, 0);
    return s;
}

void lt_atomic_abort(lt_atomic_file *f) {
    if (f) release(f, 1);
}
