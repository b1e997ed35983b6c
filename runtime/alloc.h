/* alloc.h — host memory: 64-byte aligned buffers with accounting (live and peak
 * bytes) and two hooks the embedding layer may install: one told of every
 * allocation (GC pressure), one asked to free memory before an allocation is
 * retried once (out-of-memory). No Guile here: the glue installs the hooks. */
#ifndef NL_ALLOC_H
#define NL_ALLOC_H

#include <stddef.h>

#include "error.h"

#define NL_ALIGN 64

/* Allocate nbytes (0 allowed) aligned to NL_ALIGN; NL_ERR_OOM with a message on failure. */
nl_status nl_host_alloc(size_t nbytes, void **out);
void nl_host_free(void *p, size_t nbytes);

/* live/peak count the bytes callers asked for and still hold; blocks kept
 * in the cache are not live (cached_bytes, in class sizes). */
typedef struct nl_mem_stats {
    size_t live_bytes, peak_bytes;
    size_t n_allocs, n_frees;
    size_t cached_bytes;              /* freed blocks kept for reuse */
    size_t cache_hits, cache_misses;  /* allocations served from the cache / by the OS */
} nl_mem_stats;
void nl_host_mem_stats(nl_mem_stats *out);
void nl_host_mem_reset_peak(void);

/* The cache: nl_host_free keeps blocks in free lists per size class (the
 * size rounded up to 64 bytes up to 4 KiB, above that to one of 8 steps per
 * power of two, so at most 1/8 is wasted) and nl_host_alloc reuses them; a
 * miss above 4 KiB may take a block up to 2 classes larger (it returns to its
 * own class when freed), so varying batch shapes find blocks sooner. The
 * cached total stays under a cap — NOTELLM_HOST_CACHE_MB (0 disables the
 * cache), else 1/8 of physical memory, at most 4 GiB — by freeing the
 * largest other classes first. A failed allocation releases the cache and
 * retries before the OOM hook runs. Guarded buffers are cached with their
 * guard bytes (rewritten on reuse). */
void nl_host_cache_release(void);     /* give every cached block back to the OS */
void nl_host_cache_set_cap(size_t bytes); /* evicts down to it; 0 disables caching */

void nl_set_alloc_hook(void (*hook)(size_t nbytes));
void nl_set_oom_hook(void (*hook)(void));

/* Guard mode (tests): every buffer gets 64 sentinel bytes on each side,
 * checked when it is freed. Enable before allocating; returns the number of
 * corrupted buffers seen so far. */
void nl_host_guard_enable(int on);
size_t nl_host_guard_violations(void);

/* Overflow-checked size arithmetic: 0 on success, -1 on overflow. */
int nl_mul_size(size_t a, size_t b, size_t *out);

#endif
