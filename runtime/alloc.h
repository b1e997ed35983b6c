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

typedef struct nl_mem_stats {
    size_t live_bytes, peak_bytes;
    size_t n_allocs, n_frees;
} nl_mem_stats;
void nl_host_mem_stats(nl_mem_stats *out);
void nl_host_mem_reset_peak(void);

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
