// Atomic file replacement: write "path.tmp.<pid>" in the same directory,
// flush and fsync it, rename it over path, fsync the directory. A crash or
// error at any point leaves either the old file or the new one, never a mix,
// and failures remove the temporary file.
#ifndef LT_ATOMIC_FILE_H
#define LT_ATOMIC_FILE_H

#include <stdio.h>

#include "libtrain/status.h"

typedef struct {
    FILE *fp;      // write the content here (binary mode)
    char *path;    // final name
    char *tmp;     // temporary name
} lt_atomic_file;

// Creates the temporary file. On error (LT_ERR_IO naming the path and the
// system's reason) *f is left empty, so lt_atomic_abort on it is harmless.
lt_status lt_atomic_open(lt_atomic_file *f, const char *path);
// Flushes, syncs and renames into place; always releases f. Write errors
// noticed on fp (a full disk, a size limit) fail here.
lt_status lt_atomic_commit(lt_atomic_file *f);
// Discards the temporary file and releases f; harmless after commit or a failed open.
void lt_atomic_abort(lt_atomic_file *f);

#endif
