/* alloc.c — aligned host allocator with accounting and GC/OOM hooks, over
 * a caching layer: freed blocks wait in free lists keyed by their size class
 * (64-byte steps up to 4 KiB, then 8 classes per power of two) and are
 * handed out again for the same class (or lent to one of the two classes
 * below), so a training step does not re-fault its working set from the OS. Counters are atomics and the cache has a
 * mutex: buffers are freed from Guile's finalizer thread too. */
#include "alloc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t live, peak, nallocs, nfrees;
static int guard_on;
static size_t guard_bad;
static void (*alloc_hook)(size_t);
static void (*oom_hook)(void);

#define GUARD_BYTE 0xA5

void nl_host_guard_enable(int on)
{
    if (__atomic_load_n(&nallocs, __ATOMIC_RELAXED) == 0) guard_on = on; /* only before the first buffer */
}
size_t nl_host_guard_violations(void) { return __atomic_load_n(&guard_bad, __ATOMIC_RELAXED); }

/* Guarded layout: [64 bytes: size_t size, magic, then 0xA5...][user][64 x 0xA5]. */
static void *guard_wrap(void *raw, size_t nbytes)
{
    unsigned char *p = raw;
    memset(p, GUARD_BYTE, NL_ALIGN);
    memcpy(p, &nbytes, sizeof nbytes);
    memset(p + NL_ALIGN + nbytes, GUARD_BYTE, NL_ALIGN);
    return p + NL_ALIGN;
}

static void *guard_check(void *user, size_t nbytes)
{
    unsigned char *p = (unsigned char *)user - NL_ALIGN;
    size_t stored;
    memcpy(&stored, p, sizeof stored);
    int bad = stored != nbytes;
    for (size_t i = sizeof stored; i < NL_ALIGN && !bad; i++) bad = p[i] != GUARD_BYTE;
    for (size_t i = 0; i < NL_ALIGN && !bad; i++) bad = p[NL_ALIGN + nbytes + i] != GUARD_BYTE;
    if (bad) __atomic_add_fetch(&guard_bad, 1, __ATOMIC_RELAXED);
    return p;
}

void nl_set_alloc_hook(void (*hook)(size_t)) { alloc_hook = hook; }
void nl_set_oom_hook(void (*hook)(void)) { oom_hook = hook; }

int nl_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

/* ---- the cache ------------------------------------------------------------ */

#define SMALL_MAX 4096              /* classes of 64 bytes up to here */
#define N_CLASSES (SMALL_MAX / NL_ALIGN + 8 * 52 + 1)
#define NO_CLASS ((size_t)-1)

typedef struct block { struct block *next; } block;
static block *bins[N_CLASSES];
static size_t cached, cache_hits, cache_misses;
static size_t cache_cap = (size_t)-1; /* (size_t)-1: not set yet (first use reads the environment) */
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

/* Raw size n (a multiple of NL_ALIGN, > 0) -> its class and the class's
 * block size *csize >= n: n itself up to 4 KiB, above that m * 2^(k-3) with
 * 2^k < n <= 2^(k+1) and m in 9..16 (at most 1/8 more). NO_CLASS past 2^62. */
static size_t size_class(size_t n, size_t *csize)
{
    *csize = n;
    if (n <= SMALL_MAX) return n / NL_ALIGN - 1;
    int k = 63 - __builtin_clzll((unsigned long long)(n - 1));
    if (k > 62) return NO_CLASS;
    size_t step = (size_t)1 << (k - 3), m = (n + step - 1) / step;
    *csize = m * step;
    return SMALL_MAX / NL_ALIGN + (size_t)(k - 12) * 8 + (m - 9);
}

static size_t class_size(size_t c)
{
    if (c < SMALL_MAX / NL_ALIGN) return (c + 1) * NL_ALIGN;
    size_t i = c - SMALL_MAX / NL_ALIGN;
    return (9 + i % 8) << (12 + i / 8 - 3);
}

static size_t default_cap(void)
{
#ifdef __SANITIZE_ADDRESS__
    return 0; /* AddressSanitizer must see every free to catch use after free */
#endif
    const char *env = getenv("NOTELLM_HOST_CACHE_MB");
    if (env && *env) return (size_t)strtoull(env, NULL, 10) << 20;
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    size_t phys = pages > 0 && psize > 0 ? (size_t)pages * (size_t)psize : (size_t)1 << 32;
    size_t cap = phys / 8;
    return cap > ((size_t)4 << 30) ? (size_t)4 << 30 : cap;
}

/* Blocks lent to a smaller class (a miss above 4 KiB may take a block up to
 * BORROW classes larger, <= ~25 % more, so varying batch shapes hit sooner):
 * pointer -> real class, an open-addressing table with linear probing and
 * backward-shift deletion, at most half full; cache_mu held. */
#define BORROW 2
#define LENT_BITS 12
#define LENT_SLOTS ((size_t)1 << LENT_BITS)
static struct { void *p; size_t c; } lent[LENT_SLOTS];
static size_t n_lent;

static size_t lent_home(const void *p)
{
    return (size_t)(((uint64_t)(uintptr_t)p >> 6) * 0x9e3779b97f4a7c15ull >> (64 - LENT_BITS));
}

static int lent_add(void *p, size_t c)
{
    if (n_lent >= LENT_SLOTS / 2) return 0;
    size_t i = lent_home(p);
    while (lent[i].p) i = (i + 1) & (LENT_SLOTS - 1);
    lent[i].p = p, lent[i].c = c, n_lent++;
    return 1;
}

/* The real class of a lent block p (removed from the table), else NO_CLASS. */
static size_t lent_remove(void *p)
{
    if (!n_lent) return NO_CLASS;
    size_t i = lent_home(p);
    while (lent[i].p && lent[i].p != p) i = (i + 1) & (LENT_SLOTS - 1);
    if (!lent[i].p) return NO_CLASS;
    size_t c = lent[i].c;
    n_lent--;
    for (size_t j = (i + 1) & (LENT_SLOTS - 1); lent[j].p; j = (j + 1) & (LENT_SLOTS - 1)) {
        size_t h = lent_home(lent[j].p);
        /* move j into the hole at i unless its home lies cyclically in (i, j] */
        if ((j > i && (h <= i || h > j)) || (j < i && h <= i && h > j)) lent[i] = lent[j], i = j;
    }
    lent[i].p = NULL;
    return c;
}

/* A cached block of class c (size cs), or one lent from up to BORROW
 * larger classes above 4 KiB, or NULL. */
static void *cache_take(size_t c, size_t cs)
{
    pthread_mutex_lock(&cache_mu);
    block *b = bins[c];
    if (b) bins[c] = b->next, cached -= cs;
    for (size_t c2 = c + 1; !b && c >= SMALL_MAX / NL_ALIGN && c2 <= c + BORROW && c2 < N_CLASSES; c2++)
        if (bins[c2] && lent_add(bins[c2], c2)) b = bins[c2], bins[c2] = b->next, cached -= class_size(c2);
    if (b) cache_hits++;
    else cache_misses++;
    pthread_mutex_unlock(&cache_mu);
    return b;
}

/* Free cached blocks, largest classes first, skipping class keep, until
 * `need` more bytes fit under the cap; cache_mu held. */
static void evict_for(size_t need, size_t keep)
{
    for (size_t c = N_CLASSES; c-- > 0 && cached + need > cache_cap;)
        while (c != keep && bins[c] && cached + need > cache_cap) {
            block *b = bins[c];
            bins[c] = b->next;
            free(b);
            cached -= class_size(c);
        }
}

/* fork() while another thread holds cache_mu would leave the child's copy
 * locked for ever: hold it across the fork and release it on both sides. */
static void fork_lock(void) { pthread_mutex_lock(&cache_mu); }
static void fork_unlock(void) { pthread_mutex_unlock(&cache_mu); }

/* Keep block p of class c (size cs), or give it back to the OS. */
static void cache_put(void *p, size_t c, size_t cs)
{
    pthread_mutex_lock(&cache_mu);
    static int atfork_set;
    if (!atfork_set) atfork_set = 1, pthread_atfork(fork_lock, fork_unlock, fork_unlock);
    if (cache_cap == (size_t)-1) cache_cap = default_cap();
    size_t real = lent_remove(p);
    if (real != NO_CLASS) c = real, cs = class_size(real);
    if (cs <= cache_cap) {
        if (cached + cs > cache_cap) evict_for(cs, c);
        if (cached + cs <= cache_cap) {
            block *b = p;
            b->next = bins[c], bins[c] = b;
            cached += cs;
            p = NULL;
        }
    }
    pthread_mutex_unlock(&cache_mu);
    free(p);
}

void nl_host_cache_release(void)
{
    pthread_mutex_lock(&cache_mu);
    for (size_t c = 0; c < N_CLASSES; c++)
        while (bins[c]) {
            block *b = bins[c];
            bins[c] = b->next;
            free(b);
        }
    cached = 0;
    pthread_mutex_unlock(&cache_mu);
}

void nl_host_cache_set_cap(size_t bytes)
{
    pthread_mutex_lock(&cache_mu);
    cache_cap = bytes;
    evict_for(0, NO_CLASS);
    pthread_mutex_unlock(&cache_mu);
}

/* ---- allocation ------------------------------------------------------------- */

/* The raw block size of an nbytes buffer: rounded up to NL_ALIGN (64 for
 * 0), plus the two guard areas when guarded; 0 on overflow. */
static size_t raw_size(size_t nbytes, int guarded)
{
    size_t rounded = (nbytes + NL_ALIGN - 1) / NL_ALIGN * NL_ALIGN;
    if (rounded < nbytes) return 0;
    if (rounded == 0) rounded = NL_ALIGN;
    if (guarded) rounded = rounded > SIZE_MAX - 2 * NL_ALIGN ? 0 : rounded + 2 * NL_ALIGN;
    return rounded;
}

nl_status nl_host_alloc(size_t nbytes, void **out)
{
    int guarded = guard_on;
    size_t rounded = raw_size(nbytes, guarded);
    if (rounded == 0) return nl_error_set(NL_ERR_OOM, "allocation of %zu bytes overflows", nbytes);
    size_t cs = rounded, c = size_class(rounded, &cs);
    void *p = c == NO_CLASS ? NULL : cache_take(c, cs);
    if (!p) p = aligned_alloc(NL_ALIGN, cs);
    if (!p) {
        nl_host_cache_release();
        p = aligned_alloc(NL_ALIGN, cs);
    }
    if (!p && oom_hook) {
        oom_hook();
        p = aligned_alloc(NL_ALIGN, cs);
    }
    if (!p) {
        return nl_error_set(NL_ERR_OOM,
                            "cannot allocate %zu bytes of host memory (%zu bytes live)"
                            " HINT: free tensors with tensor-free! or use a smaller batch",
                            nbytes, __atomic_load_n(&live, __ATOMIC_RELAXED));
    }
    size_t now = __atomic_add_fetch(&live, nbytes, __ATOMIC_RELAXED) ;
    size_t pk = __atomic_load_n(&peak, __ATOMIC_RELAXED);
    while (now > pk && !__atomic_compare_exchange_n(&peak, &pk, now, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    __atomic_add_fetch(&nallocs, 1, __ATOMIC_RELAXED);
    if (alloc_hook) alloc_hook(nbytes);
    *out = guarded ? guard_wrap(p, nbytes) : p;
    return NL_OK;
}

void nl_host_free(void *p, size_t nbytes)
{
    if (!p) return;
    /* Guarded buffers are recognised by the mode at free time: tests enable
     * guard mode before allocating anything and never turn it off. */
    void *raw = guard_on ? guard_check(p, nbytes) : p;
    size_t cs = raw_size(nbytes, guard_on), c = size_class(cs, &cs);
    if (c == NO_CLASS) free(raw);
    else cache_put(raw, c, cs);
    __atomic_sub_fetch(&live, nbytes, __ATOMIC_RELAXED);
    __atomic_add_fetch(&nfrees, 1, __ATOMIC_RELAXED);
}

void nl_host_mem_stats(nl_mem_stats *out)
{
    out->live_bytes = __atomic_load_n(&live, __ATOMIC_RELAXED);
    out->peak_bytes = __atomic_load_n(&peak, __ATOMIC_RELAXED);
    out->n_allocs = __atomic_load_n(&nallocs, __ATOMIC_RELAXED);
    out->n_frees = __atomic_load_n(&nfrees, __ATOMIC_RELAXED);
    pthread_mutex_lock(&cache_mu);
    out->cached_bytes = cached;
    out->cache_hits = cache_hits, out->cache_misses = cache_misses;
    pthread_mutex_unlock(&cache_mu);
}

void nl_host_mem_reset_peak(void)
{
    __atomic_store_n(&peak, __atomic_load_n(&live, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}
