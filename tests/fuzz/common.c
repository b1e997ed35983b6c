/* common.c — the helpers of fuzz.h: one-time runtime set-up, the per-call
 * invariants (status and message, host-buffer accounting, guard bytes) and
 * the private temp directory. Linked into every target, with driver.c or
 * with libFuzzer. */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "io/image.h"

unsigned long nl_fuzz_n_ok, nl_fuzz_n_err;

static int initialised, counted;
static size_t live_before, guards_before;
static char tmp_dir[256];
static char path_buf[512];

void fz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz invariant failed: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

/* Called after every input too: libFuzzer may leave with _Exit. */
static void rm_tmp_dir(void)
{
    if (tmp_dir[0]) nftw(tmp_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    tmp_dir[0] = '\0';
}

const char *fz_dir(void)
{
    if (!tmp_dir[0]) {
        /* tmpfs when there is one: the savers fsync every file they write */
        const char *base = getenv("TMPDIR");
        if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(tmp_dir, sizeof tmp_dir, "%s/nl-fuzz-XXXXXX", base);
        if (!mkdtemp(tmp_dir)) fz_fail("mkdtemp %s: %s", tmp_dir, strerror(errno));
        static int registered;
        if (!registered) atexit(rm_tmp_dir);
        registered = 1;
    }
    return tmp_dir;
}

const char *fz_path(const char *name)
{
    snprintf(path_buf, sizeof path_buf, "%s/%s", fz_dir(), name);
    return path_buf;
}

void fz_write(const char *path, const void *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) fz_fail("cannot write %s: %s", path, strerror(errno));
    if (size && fwrite(data, 1, size, fp) != size) fz_fail("short write to %s", path);
    if (fclose(fp) != 0) fz_fail("cannot close %s: %s", path, strerror(errno));
}

void fz_begin(void)
{
    if (!initialised) {
        nl_host_guard_enable(1);
        nl_runtime_init();
        nl_image_set_max_pixels((uint64_t)1 << 22); /* keep rejected-size paths cheap */
        initialised = 1;
    }
    nl_mem_stats ms;
    nl_host_mem_stats(&ms);
    live_before = ms.live_bytes;
    guards_before = nl_host_guard_violations();
    counted = 0;
    nl_error_clear();
}

void fz_end(void)
{
    rm_tmp_dir();
    nl_mem_stats ms;
    nl_host_mem_stats(&ms);
    if (ms.live_bytes != live_before)
        fz_fail("host buffers leaked: %zu live bytes before the call, %zu after", live_before, ms.live_bytes);
    size_t g = nl_host_guard_violations();
    if (g != guards_before) fz_fail("%zu host buffers overran their guard bytes", g - guards_before);
}

int fz_status(nl_status st, const char *what)
{
    int first = !counted;
    counted = 1;
    if (st == NL_OK) {
        if (first) nl_fuzz_n_ok++;
        return 1;
    }
    if ((int)st < 0 || st >= NL_STATUS_COUNT) fz_fail("%s: unknown status %d", what, (int)st);
    const char *msg = nl_last_error();
    if (!msg || !msg[0]) fz_fail("%s: %s with an empty message", what, nl_status_name(st));
    if (first) nl_fuzz_n_err++;
    return 0;
}
