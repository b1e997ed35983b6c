/* profile.h — per-op kernel time: while profiling is on, nl_dispatch adds
 * each kernel call's wall time and count to its op's row (one branch when
 * off). For finding where a training step goes without perf. */
#ifndef NL_PROFILE_H
#define NL_PROFILE_H

#include <stdint.h>
#include <stdio.h>

#include "op.h"

typedef struct nl_profile_row {
    nl_op op;
    int64_t calls;
    double seconds;
} nl_profile_row;

/* Clear the counters and start counting (on != 0), or stop counting and
 * keep the counts for nl_profile_rows (on == 0). */
void nl_profile_enable(int on);
int nl_profile_enabled(void);
/* Called by nl_dispatch around every kernel call. */
void nl_profile_add(nl_op op, double seconds);
double nl_profile_now(void);
/* The ops that ran, most time first, into rows[max]; returns how many. */
int nl_profile_rows(nl_profile_row *rows, int max);
/* A table of the rows (op, calls, seconds, share of the kernel total) to f. */
void nl_profile_print(FILE *f);

#endif
