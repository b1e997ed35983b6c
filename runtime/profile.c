/* profile.c — per-op kernel time (see profile.h). Counters are atomics:
 * kernels may be dispatched from several threads (Guile finalizers). */
#include "profile.h"

#include <stdlib.h>
#include <time.h>

static int enabled;
static int64_t calls[NL_OP_COUNT];
static int64_t nanos[NL_OP_COUNT];

void nl_profile_enable(int on)
{
    for (int i = 0; on && i < NL_OP_COUNT; i++) {
        __atomic_store_n(&calls[i], 0, __ATOMIC_RELAXED);
        __atomic_store_n(&nanos[i], 0, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&enabled, on != 0, __ATOMIC_RELAXED);
}

int nl_profile_enabled(void) { return __atomic_load_n(&enabled, __ATOMIC_RELAXED); }

double nl_profile_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void nl_profile_add(nl_op op, double seconds)
{
    __atomic_add_fetch(&calls[op], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&nanos[op], (int64_t)(seconds * 1e9), __ATOMIC_RELAXED);
}

static int by_time(const void *a, const void *b)
{
    double x = ((const nl_profile_row *)a)->seconds, y = ((const nl_profile_row *)b)->seconds;
    return (x < y) - (x > y);
}

int nl_profile_rows(nl_profile_row *rows, int max)
{
    nl_profile_row all[NL_OP_COUNT];
    int n = 0;
    for (int i = 0; i < NL_OP_COUNT; i++) {
        int64_t c = __atomic_load_n(&calls[i], __ATOMIC_RELAXED);
        if (c) all[n++] = (nl_profile_row){(nl_op)i, c, (double)__atomic_load_n(&nanos[i], __ATOMIC_RELAXED) * 1e-9};
    }
    qsort(all, (size_t)n, sizeof *all, by_time);
    if (n > max) n = max;
    for (int i = 0; i < n; i++) rows[i] = all[i];
    return n;
}

void nl_profile_print(FILE *f)
{
    nl_profile_row rows[NL_OP_COUNT];
    int n = nl_profile_rows(rows, NL_OP_COUNT);
    double total = 0;
    for (int i = 0; i < n; i++) total += rows[i].seconds;
    fprintf(f, "%-22s %9s %10s %6s\n", "op", "calls", "seconds", "share");
    for (int i = 0; i < n; i++)
        fprintf(f, "%-22s %9lld %10.4f %5.1f%%\n", nl_op_get_info(rows[i].op)->name, (long long)rows[i].calls,
                rows[i].seconds, total > 0 ? 100 * rows[i].seconds / total : 0.0);
    fprintf(f, "%-22s %9s %10.4f\n", "kernels in all", "", total);
}
