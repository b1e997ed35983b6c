/* alloc.c — aligned host allocator with accounting and GC/OOM hooks.
 * Counters are atomics: buffers are freed from Guile's finalizer thread too. */
#include "alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

nl_status nl_host_alloc(size_t nbytes, void **out)
{
    size_t rounded = (nbytes + NL_ALIGN - 1) / NL_ALIGN * NL_ALIGN;
    if (rounded < nbytes) return nl_error_set(NL_ERR_OOM, "allocation of %zu bytes overflows", nbytes);
    if (rounded == 0) rounded = NL_ALIGN;
    int guarded = guard_on;
    if (guarded) {
        if (rounded > SIZE_MAX - 2 * NL_ALIGN) return nl_error_set(NL_ERR_OOM, "allocation of %zu bytes overflows", nbytes);
        rounded += 2 * NL_ALIGN;
    }
    void *p = aligned_alloc(NL_ALIGN, rounded);
    if (!p && oom_hook) {
        oom_hook();
        p = aligned_alloc(NL_ALIGN, rounded);
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
    free(guard_on ? guard_check(p, nbytes) : p);
    __atomic_sub_fetch(&live, nbytes, __ATOMIC_RELAXED);
    __atomic_add_fetch(&nfrees, 1, __ATOMIC_RELAXED);
}

void nl_host_mem_stats(nl_mem_stats *out)
{
    out->live_bytes = __atomic_load_n(&live, __ATOMIC_RELAXED);
    out->peak_bytes = __atomic_load_n(&peak, __ATOMIC_RELAXED);
    out->n_allocs = __atomic_load_n(&nallocs, __ATOMIC_RELAXED);
    out->n_frees = __atomic_load_n(&nfrees, __ATOMIC_RELAXED);
}

void nl_host_mem_reset_peak(void)
{
    __atomic_store_n(&peak, __atomic_load_n(&live, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}
