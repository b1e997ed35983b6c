/* atomic.h — crash-safe file replacement, the one way notellm writes files:
 * write a temporary file next to the target, fsync it, rename it over the
 * target, fsync the directory. On any error the target is untouched and the
 * temporary file is removed. Also creates output directories. Depends on
 * error.h only. */
#ifndef NL_ATOMIC_H
#define NL_ATOMIC_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

typedef struct nl_atomic_file {
    int fd;
    char *tmp;         /* "<path>.tmp.XXXXXX" */
    const char *path;  /* borrowed: must outlive the file */
    bool durable;      /* true after open. Bulk writers (thousands of files)
                          clear it: commit then skips the fsyncs (the file
                          still appears whole or not at all) and the writer
                          calls nl_sync_fs once before marking its output
                          complete. */
} nl_atomic_file;

nl_status nl_atomic_open(nl_atomic_file *f, const char *path);
nl_status nl_atomic_write(nl_atomic_file *f, const void *p, size_t n);
/* fsync, close, rename, fsync the directory. Always ends f. */
nl_status nl_atomic_commit(nl_atomic_file *f);
/* Close and remove the temporary file (after an error). */
void nl_atomic_abort(nl_atomic_file *f);
/* The whole content at once. */
nl_status nl_atomic_save(const char *path, const void *p, size_t n);
/* Flush the filesystem holding PATH (syncfs): makes every non-durable
 * commit under it durable at once. */
nl_status nl_sync_fs(const char *path);
/* Create directory DIR and its missing parents (mode 0755, like mkdir -p)
 * unless it exists; NL_ERR_IO otherwise. */
nl_status nl_ensure_dir(const char *dir);

#endif
