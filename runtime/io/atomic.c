/* atomic.c — temp file + fsync + rename + directory fsync. */
#define _GNU_SOURCE
#include "atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

nl_status nl_atomic_open(nl_atomic_file *f, const char *path)
{
    *f = (nl_atomic_file){.fd = -1, .path = path, .durable = true};
    size_t tl = strlen(path) + 16;
    f->tmp = malloc(tl);
    if (!f->tmp) return nl_error_set(NL_ERR_OOM, "save %s: out of memory", path);
    snprintf(f->tmp, tl, "%s.tmp.XXXXXX", path);
    f->fd = mkostemp(f->tmp, O_CLOEXEC);
    if (f->fd < 0) {
        nl_status st = nl_error_set(NL_ERR_IO, "save %s: cannot create %s: %s", path, f->tmp, strerror(errno));
        free(f->tmp);
        f->tmp = NULL;
        return st;
    }
    if (fchmod(f->fd, 0644) != 0) {
        nl_status st = nl_error_set(NL_ERR_IO, "save %s: chmod %s: %s", path, f->tmp, strerror(errno));
        nl_atomic_abort(f);
        return st;
    }
    return NL_OK;
}

nl_status nl_atomic_write(nl_atomic_file *f, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(f->fd, c, n > (1u << 30) ? (1u << 30) : n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return nl_error_set(NL_ERR_IO, "save %s: write to %s failed: %s", f->path, f->tmp,
                                w < 0 ? strerror(errno) : "no progress");
        c += w;
        n -= (size_t)w;
    }
    return NL_OK;
}

void nl_atomic_abort(nl_atomic_file *f)
{
    if (f->fd >= 0) close(f->fd);
    if (f->tmp) unlink(f->tmp);
    free(f->tmp);
    f->fd = -1;
    f->tmp = NULL;
}

static nl_status fsync_dir(const char *path)
{
    char *dir = strdup(path);
    if (!dir) return nl_error_set(NL_ERR_OOM, "save %s: out of memory", path);
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    nl_status st = NL_OK;
    if (fd < 0 || fsync(fd) != 0)
        st = nl_error_set(NL_ERR_IO, "save %s: cannot sync directory %s: %s", path, dir, strerror(errno));
    if (fd >= 0) close(fd);
    free(dir);
    return st;
}

nl_status nl_atomic_commit(nl_atomic_file *f)
{
    nl_status st = NL_OK;
    if (f->durable && fsync(f->fd) != 0)
        st = nl_error_set(NL_ERR_IO, "save %s: fsync %s: %s", f->path, f->tmp, strerror(errno));
    int rc = close(f->fd);
    f->fd = -1;
    if (rc != 0 && st == NL_OK)
        st = nl_error_set(NL_ERR_IO, "save %s: close %s: %s", f->path, f->tmp, strerror(errno));
    if (st == NL_OK && rename(f->tmp, f->path) != 0)
        st = nl_error_set(NL_ERR_IO, "save %s: rename %s: %s", f->path, f->tmp, strerror(errno));
    if (st != NL_OK) {
        nl_atomic_abort(f);
        return st;
    }
    free(f->tmp);
    f->tmp = NULL;
    return f->durable ? fsync_dir(f->path) : NL_OK;
}

nl_status nl_sync_fs(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    nl_status st = NL_OK;
    if (fd < 0 || syncfs(fd) != 0)
        st = nl_error_set(NL_ERR_IO, "sync %s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    return st;
}

nl_status nl_atomic_save(const char *path, const void *p, size_t n)
{
    nl_atomic_file f;
    NL_TRY(nl_atomic_open(&f, path));
    nl_status st = nl_atomic_write(&f, p, n);
    if (st != NL_OK) {
        nl_atomic_abort(&f);
        return st;
    }
    return nl_atomic_commit(&f);
}

/* mkdir DIR unless it is already a directory; errno is kept for the caller. */
static bool make_one_dir(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0755) == 0) return true;
    if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return true;
    if (errno == EEXIST) errno = ENOTDIR;
    return false;
}

nl_status nl_ensure_dir(const char *dir)
{
    size_t n = strlen(dir);
    char *p = malloc(n + 1);
    if (!p) return nl_error_set(NL_ERR_OOM, "cannot create directory %s: out of memory", dir);
    memcpy(p, dir, n + 1);
    bool ok = true;
    for (size_t i = 1; ok && i < n; i++) { /* every parent, left to right */
        if (p[i] != '/' || p[i - 1] == '/') continue;
        p[i] = '\0';
        ok = make_one_dir(p);
        p[i] = '/';
    }
    if (ok) ok = make_one_dir(p);
    int err = errno;
    free(p);
    if (ok) return NL_OK;
    return nl_error_set(NL_ERR_IO, "cannot create directory %s: %s", dir,
                        err == ENOTDIR ? "a file of that name is in the way" : strerror(err));
}
