/* test_profile.c — the per-op kernel profiler (runtime/profile.h): nothing
 * is counted while it is off; on, each kernel call adds to its op's row
 * (calls and time), rows come most time first, stopping keeps the counts,
 * starting again clears them. */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "profile.h"

static int64_t calls_of(nl_op op, double *seconds)
{
    nl_profile_row rows[NL_OP_COUNT];
    int n = nl_profile_rows(rows, NL_OP_COUNT);
    for (int i = 0; i < n; i++)
        if (rows[i].op == op) {
            if (seconds) *seconds = rows[i].seconds;
            return rows[i].calls;
        }
    return 0;
}

static void matmuls(int n)
{
    nl_tensor *a = h_rand(2, (const int64_t[]){64, 64}, -1, 1, false), *b = h_rand(2, (const int64_t[]){64, 64}, -1, 1, false);
    for (int i = 0; i < n; i++) {
        nl_tensor *c = NULL;
        h_ok(nl_matmul(&c, a, b, false, false), "matmul");
        nl_tensor_release(c);
    }
    nl_tensor_release(a);
    nl_tensor_release(b);
}

int main(void)
{
    h_init("profile");
    nl_profile_enable(0);
    matmuls(2);
    h_check(!nl_profile_enabled() && calls_of(NL_OP_MATMUL, NULL) == 0, "off: nothing counted");

    nl_profile_enable(1);
    matmuls(3);
    nl_tensor *x = h_rand(1, (const int64_t[]){1000}, -1, 1, false), *y = NULL;
    h_ok(nl_silu(&y, x), "silu");
    double t = -1;
    int64_t c = calls_of(NL_OP_MATMUL, &t);
    h_check(c == 3 && t > 0, "on: 3 matmul calls counted (%lld, %.3g s)", (long long)c, t);
    h_check(calls_of(NL_OP_SILU, NULL) == 1, "on: 1 silu call counted");
    h_check(calls_of(NL_OP_ADD, NULL) == 0, "on: ops that did not run have no row");
    nl_profile_row rows[NL_OP_COUNT];
    int n = nl_profile_rows(rows, NL_OP_COUNT);
    bool sorted = n >= 2;
    for (int i = 1; i < n; i++) sorted = sorted && rows[i - 1].seconds >= rows[i].seconds;
    h_check(sorted, "rows sorted by time (%d rows)", n);
    h_check(nl_profile_rows(rows, 1) == 1, "rows capped at max");

    char buf[4096] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    nl_profile_print(f);
    fclose(f);
    h_check(strstr(buf, "matmul") && strstr(buf, "silu") && strstr(buf, "kernels in all"), "the table names the ops");

    nl_profile_enable(0);
    matmuls(1);
    h_check(calls_of(NL_OP_MATMUL, NULL) == 3, "stopping keeps the counts, and nothing more is counted");
    nl_profile_enable(1);
    h_check(calls_of(NL_OP_MATMUL, NULL) == 0, "starting again clears the counters");
    nl_profile_enable(0);
    nl_tensor_release(x);
    nl_tensor_release(y);
    return h_finish();
}
