/* driver.c — main() for the fuzz targets when libFuzzer is not linked: runs
 * the seeds (command-line files or directories, else the target's defaults),
 * then NL_FUZZ_RUNS deterministic mutations (xorshift64, seed NL_FUZZ_SEED)
 * through LLVMFuzzerTestOneInput and prints a one-line summary. A crashing
 * input is written to $NL_FUZZ_CRASH_DIR (default .) as crash-<target>-<run>;
 * NL_FUZZ_RUNS=0 with that file as argument replays it. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

typedef struct {
    uint8_t *p;
    size_t n;
} blob;

static blob *seeds;
static size_t n_seeds;
static size_t max_len = 256 << 10;
static uint64_t rng_state;
static const char *prog = "fuzz";

/* The input being run, for the crash handlers. */
static const uint8_t *cur_data;
static size_t cur_size;
static long cur_run = -1;
static char crash_dir[512] = ".";

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

/* ---- crash capture ---- */

static void save_current(void)
{
    static int saved;
    if (saved || !cur_data) return;
    saved = 1;
    char path[700];
    snprintf(path, sizeof path, "%s/crash-%s-%ld", crash_dir, prog, cur_run);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    size_t off = 0;
    while (off < cur_size) {
        ssize_t w = write(fd, cur_data + off, cur_size - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    close(fd);
    static const char msg[] = "fuzz driver: crashing input saved as ";
    if (write(2, msg, sizeof msg - 1) < 0 || write(2, path, strlen(path)) < 0 || write(2, "\n", 1) < 0) return;
}

static void on_signal(int sig)
{
    save_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Present when linked with AddressSanitizer (weak otherwise). */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static void install_crash_handlers(void)
{
    const char *d = getenv("NL_FUZZ_CRASH_DIR");
    if (d && *d) snprintf(crash_dir, sizeof crash_dir, "%s", d);
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(save_current);
    int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], on_signal);
}

/* ---- seeds ---- */

static void add_seed_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "%s: cannot read seed %s: %s\n", prog, path, strerror(errno));
        exit(1);
    }
    blob b = {malloc(max_len ? max_len : 1), 0};
    if (!b.p) exit(1);
    b.n = fread(b.p, 1, max_len, fp);
    fclose(fp);
    seeds = realloc(seeds, (n_seeds + 1) * sizeof *seeds);
    if (!seeds) exit(1);
    seeds[n_seeds++] = b;
}

static int is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void add_seed_path(const char *path, int list_only)
{
    if (!is_dir(path)) {
        if (list_only) printf("%s\n", path);
        else add_seed_file(path);
        return;
    }
    struct dirent **ents;
    int n = scandir(path, &ents, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        if (ents[i]->d_name[0] != '.') {
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, ents[i]->d_name);
            if (!is_dir(sub)) add_seed_path(sub, list_only);
        }
        free(ents[i]);
    }
    if (n >= 0) free(ents);
}

/* Expand the target's "fixtures:" / "seeds:" globs. */
static void add_default_seeds(int list_only)
{
    const char *fix = getenv("NL_FIXTURES");
    const char *own = getenv("NL_FUZZ_SEEDS");
    const char *top = getenv("abs_top_srcdir");
    char own_buf[512];
    if (!own || !*own) {
        snprintf(own_buf, sizeof own_buf, "%s/tests/fuzz/seeds", top && *top ? top : ".");
        own = own_buf;
    }
    char fix_buf[512];
    if (!fix || !*fix) {
        snprintf(fix_buf, sizeof fix_buf, "%s/tests/fixtures", top && *top ? top : ".");
        fix = fix_buf;
    }
    for (int i = 0; nl_fuzz_seed_globs[i]; i++) {
        const char *g = nl_fuzz_seed_globs[i];
        char pat[1024];
        if (!strncmp(g, "fixtures:", 9)) snprintf(pat, sizeof pat, "%s/%s", fix, g + 9);
        else if (!strncmp(g, "seeds:", 6)) snprintf(pat, sizeof pat, "%s/%s", own, g + 6);
        else snprintf(pat, sizeof pat, "%s", g);
        glob_t gl;
        if (glob(pat, 0, NULL, &gl) != 0) {
            fprintf(stderr, "%s: no seed matches %s (set NL_FIXTURES / NL_FUZZ_SEEDS or abs_top_srcdir)\n",
                    prog, pat);
            exit(1);
        }
        for (size_t k = 0; k < gl.gl_pathc; k++) add_seed_path(gl.gl_pathv[k], list_only);
        globfree(&gl);
    }
}

/* ---- mutations ---- */

static const uint64_t boundary[] = {
    0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000,
    0x7fffffff, 0x80000000, 0xffffffff, 0x100000000, 0x7fffffffffffffff,
    0x8000000000000000, 0xffffffffffffffff, 0xfffffffffffffffe, 100000000, 0x6400000,
};
static const char *const numbers[] = {
    "0", "-1", "1", "-0", "1e400", "-1e400", "1e-400", "NaN", "Infinity", "1.5", "65536", "100000",
    "2147483647", "2147483648", "4294967296", "9223372036854775807", "9223372036854775808",
    "-9223372036854775808", "18446744073709551616", "99999999999999999999999",
};
static const char *const tokens[] = {
    "\"", "{", "}", "[", "]", ",", ":", "\\", "\\u0000", "\\ud800", "\\udc00\\ud800", "\n", "\r", "\r\n",
    "\"\"", "null", "true", "false", "{}", "[]", "\xff", "\xc3", "\xe2\x96\x81", "\xf0\x9f\x98\x80",
    "\xed\xa0\x80", "\xc0\x80", "<unk>", "<s>", "\"a\":", ",\"\"", "\"dtype\":", "\"shape\":[",
    "\"data_offsets\":[", "#pairs\n", "IDAT", "IHDR", "IEND", "PLTE", "tRNS", "\xff\xd8\xff", "\xff\xd9",
    "\xff\xc0", "\xff\xc4", "\xff\xda", "RIFF", "WEBP", "VP8 ", "VP8L", "VP8X",
};

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, size_t at, const void *src, size_t len) /* insert */
{
    if (b->n + len > b->cap) len = b->cap - b->n;
    if (at > b->n) at = b->n;
    memmove(b->p + at + len, b->p + at, b->n - at);
    memcpy(b->p + at, src, len);
    b->n += len;
}

static void cut(buf *b, size_t at, size_t len) /* delete */
{
    if (at >= b->n) return;
    if (len > b->n - at) len = b->n - at;
    memmove(b->p + at, b->p + at + len, b->n - at - len);
    b->n -= len;
}

static size_t some_len(void)
{
    size_t r = below(16);
    return r < 12 ? 1 + below(8) : r < 15 ? 1 + below(64) : 1 + below(1024);
}

static void mutate_once(buf *b)
{
    size_t at = below(b->n + 1);
    switch (below(12)) {
    case 0: /* bit flip */
        if (b->n) b->p[below(b->n)] ^= (uint8_t)(1u << below(8));
        break;
    case 1: /* random or boundary byte */
        if (b->n) b->p[below(b->n)] = below(2) ? (uint8_t)rnd() : (uint8_t)boundary[below(8)];
        break;
    case 2: { /* insert random bytes */
        uint8_t tmp[8];
        size_t k = 1 + below(8);
        for (size_t i = 0; i < k; i++) tmp[i] = (uint8_t)rnd();
        put(b, at, tmp, k);
        break;
    }
    case 3: /* delete a range */
        cut(b, at, some_len());
        break;
    case 4: { /* duplicate a chunk somewhere else */
        if (!b->n) break;
        size_t from = below(b->n), len = some_len();
        if (len > b->n - from) len = b->n - from;
        uint8_t *tmp = malloc(len);
        if (!tmp) break;
        memcpy(tmp, b->p + from, len);
        put(b, at, tmp, len);
        free(tmp);
        break;
    }
    case 5: { /* overwrite with a boundary integer, 1/2/4/8 bytes, LE or BE */
        size_t w = (size_t)1 << below(4);
        if (b->n < w) break;
        uint64_t v = boundary[below(sizeof boundary / sizeof boundary[0])];
        if (below(4) == 0) v = 0 - v; /* two's complement negation, no signed overflow */
        size_t off = below(b->n - w + 1);
        int be = below(3) == 0;
        for (size_t i = 0; i < w; i++) b->p[off + (be ? w - 1 - i : i)] = (uint8_t)(v >> (8 * i));
        break;
    }
    case 6: { /* replace a decimal number of the text with an awkward one */
        size_t i = at;
        while (i < b->n && !(b->p[i] >= '0' && b->p[i] <= '9')) i++;
        if (i >= b->n) break;
        size_t j = i;
        while (j < b->n && ((b->p[j] >= '0' && b->p[j] <= '9') || b->p[j] == '.' || b->p[j] == 'e' || b->p[j] == '-'))
            j++;
        if (i > 0 && b->p[i - 1] == '-') i--;
        cut(b, i, j - i);
        const char *s = numbers[below(sizeof numbers / sizeof numbers[0])];
        put(b, i, s, strlen(s));
        break;
    }
    case 7: { /* insert a format token */
        const char *s = tokens[below(sizeof tokens / sizeof tokens[0])];
        size_t len = strlen(s);
        put(b, at, s, len ? len : 1); /* "" stands for one NUL byte */
        break;
    }
    case 8: /* truncate */
        if (b->n) b->n = below(b->n);
        break;
    case 9: { /* splice: keep a head, append another seed's tail */
        const blob *o = &seeds[below(n_seeds)];
        if (!o->n) break;
        size_t from = below(o->n);
        b->n = at;
        put(b, b->n, o->p + from, o->n - from);
        break;
    }
    case 10: { /* overwrite a chunk with bytes from elsewhere */
        if (b->n < 2) break;
        size_t from = below(b->n), to = below(b->n), len = some_len();
        if (len > b->n - from) len = b->n - from;
        if (len > b->n - to) len = b->n - to;
        memmove(b->p + to, b->p + from, len);
        break;
    }
    default: { /* insert a NUL byte or a blank run */
        static const char *const fills[] = {"", " ", "\t", "\n\n", "    "};
        const char *s = fills[below(5)];
        put(b, at, s, s[0] ? strlen(s) : 1);
        break;
    }
    }
}

/* ---- main ---- */

static void run_one(const uint8_t *data, size_t n, long run)
{
    /* An exact-size heap copy, so a read past the end is caught by ASan. */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) exit(1);
    memcpy(copy, data, n);
    cur_data = copy;
    cur_size = n;
    cur_run = run;
    LLVMFuzzerTestOneInput(copy, n);
    cur_data = NULL;
    free(copy);
}

int main(int argc, char **argv)
{
    const char *slash = strrchr(argv[0], '/');
    prog = slash ? slash + 1 : argv[0];
    if (!strncmp(prog, "lt-", 3)) prog += 3;
    const char *e = getenv("NL_FUZZ_MAX_LEN");
    if (e && *e) max_len = strtoull(e, NULL, 0);
    long runs = nl_fuzz_default_runs;
    e = getenv("NL_FUZZ_RUNS");
    if (e && *e) runs = strtol(e, NULL, 0);
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    e = getenv("NL_FUZZ_SEED");
    if (e && *e) seed = strtoull(e, NULL, 0);
    rng_state = seed ? seed : 1;
    int list_only = (e = getenv("NL_FUZZ_LIST")) && *e && *e != '0';

    if (argc > 1)
        for (int i = 1; i < argc; i++) add_seed_path(argv[i], list_only);
    else
        add_default_seeds(list_only);
    if (list_only) return 0;
    add_seed_file("/dev/null"); /* the empty input */
    install_crash_handlers();

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < n_seeds; i++) run_one(seeds[i].p, seeds[i].n, -1 - (long)i);
    buf b = {malloc(max_len + 1), 0, max_len};
    if (!b.p) return 1;
    for (long r = 0; r < runs; r++) {
        const blob *s = &seeds[below(n_seeds)];
        memcpy(b.p, s->p, s->n);
        b.n = s->n;
        size_t k = below(8) == 0 ? 2 + below(7) : 1 + below(2);
        for (size_t i = 0; i < k; i++) mutate_once(&b);
        run_one(b.p, b.n, r);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    long total = runs + (long)n_seeds;
    printf("%s: %zu seeds + %ld mutations in %.2f s (%.0f runs/s), %lu ok, %lu rejected, seed 0x%llx\n", prog,
           n_seeds, runs, secs, secs > 0 ? (double)total / secs : 0.0, nl_fuzz_n_ok, nl_fuzz_n_err,
           (unsigned long long)seed);
    for (size_t i = 0; i < n_seeds; i++) free(seeds[i].p);
    free(seeds);
    free(b.p);
    return 0;
}
