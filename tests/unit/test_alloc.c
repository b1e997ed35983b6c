/* test_alloc.c — the caching host allocator (runtime/alloc.h): a freed
 * block is reused for its size class and only for it, class boundaries
 * (64-byte steps to 4 KiB, then 1/8 steps per power of two), live/peak
 * accounting unchanged by the cache, the cap (eviction, 0 = off, release),
 * guard bytes on reused blocks, and two threads allocating and freeing at
 * once. Guard mode is on (h_init), as in every test program. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "harness.h"

static nl_mem_stats stats(void)
{
    nl_mem_stats m;
    nl_host_mem_stats(&m);
    return m;
}

static void *get(size_t n)
{
    void *p = NULL;
    h_ok(nl_host_alloc(n, &p), "alloc");
    if (p) memset(p, 0x5a, n); /* every byte writable */
    return p;
}

/* Sizes a and b (bytes asked for) share a block: b reuses a's freed block. */
static bool same_class(size_t a, size_t b)
{
    nl_host_cache_release();
    void *p = get(a);
    nl_host_free(p, a);
    void *q = get(b);
    bool same = p == q;
    nl_host_free(q, b);
    return same;
}

static void test_reuse_and_classes(void)
{
    nl_mem_stats m0 = stats();
    void *p = get(100000);
    nl_host_free(p, 100000);
    nl_mem_stats m1 = stats();
    void *q = get(100000);
    nl_mem_stats m2 = stats();
    h_check(q == p, "a freed 100 000-byte block is handed out again");
    h_check(m2.cache_hits == m1.cache_hits + 1 && m2.cache_misses == m1.cache_misses, "counted as a hit");
    h_check(m1.live_bytes == m0.live_bytes && m2.live_bytes == m0.live_bytes + 100000,
            "live bytes count what callers hold, not the cache (%zu, %zu, %zu)", m0.live_bytes, m1.live_bytes,
            m2.live_bytes);
    nl_host_free(q, 100000);

    /* up to 4 KiB: one class per 64 bytes (guard areas add 128 to both) */
    h_check(same_class(1, 64) && same_class(65, 128) && !same_class(64, 65), "64-byte classes below 4 KiB");
    /* 5000 and 5100 bytes round to 5056 and 5120 (+128 guard): both in (4096, 8192], step 512 -> 5632 */
    h_check(same_class(5000, 5100), "5000 and 5100 bytes share the 5632-byte class");
    /* 5400 -> 5440 + 128 = 5568 -> 5632 still; 5600 -> 5728 -> 6144 */
    h_check(same_class(5000, 5400) && !same_class(5000, 5600), "the next class starts above 5632 raw bytes");
    h_check(!same_class(1 << 20, (1 << 20) + 200000), "1 MiB and 1.19 MiB are different classes");
    h_check(same_class(1 << 20, (1 << 20) + 100000), "1 MiB and 1.1 MiB share the 1.125 MiB class");

    /* a miss above 4 KiB borrows a block up to 2 classes larger, which goes
     * back to its own class: raw 1.25 MiB (class m=10 of 2^20) serves a
     * 1 MiB + 1 request (class m=9) and returns as 1.25 MiB */
    nl_host_cache_release();
    size_t big = ((size_t)5 << 18) - 128, small = ((size_t)1 << 20) + 1 - 128; /* raw 1.25 MiB; raw 2^20 + 64 */
    void *b1 = get(big);
    nl_host_free(b1, big);
    void *s1 = get(small);
    h_check(s1 == b1 && stats().cached_bytes == 0, "a 1 MiB + 64 request borrows the cached 1.25 MiB block");
    nl_host_free(s1, small);
    h_check(stats().cached_bytes == big + 128, "it returns to the 1.25 MiB class (%zu cached)", stats().cached_bytes);
    void *b2 = get(big);
    h_check(b2 == b1, "and serves its own class again");
    nl_host_free(b2, big);
    void *t1 = get((size_t)700 << 10); /* 700 KiB: the 1.25 MiB class is more than 2 classes above */
    h_check(t1 != b1 && stats().cached_bytes == big + 128, "no borrowing from far larger classes");
    nl_host_free(t1, (size_t)700 << 10);
}

/* Sizes are chosen so that with the 128 guard bytes the raw blocks are
 * exactly 1, 2 and 1.5 MiB (class sizes, no rounding). */
#define MIB ((size_t)1 << 20)
static void test_cap(void)
{
    nl_host_cache_release();
    h_check(stats().cached_bytes == 0, "release empties the cache");
    nl_host_cache_set_cap(4 * MIB);
    size_t na = MIB - 128, nb = 2 * MIB - 128, nc = 3 * MIB / 2 - 128;
    void *a = get(na), *b = get(nb), *c = get(nc);
    nl_host_free(a, na);
    nl_host_free(b, nb);
    size_t after2 = stats().cached_bytes;
    nl_host_free(c, nc); /* 4.5 MiB > 4: the largest other class (the 2 MiB block) goes */
    nl_mem_stats m = stats();
    h_check(after2 == 3 * MIB, "1 + 2 MiB cached (%zu)", after2);
    h_check(m.cached_bytes == 5 * MIB / 2, "the cap holds by evicting the 2 MiB block (%zu cached)", m.cached_bytes);
    void *a2 = get(na);
    h_check(a2 == a, "the 1 MiB block survived the eviction");
    nl_host_free(a2, na);
    nl_host_cache_set_cap(0);
    h_check(stats().cached_bytes == 0, "cap 0 evicts everything");
    void *d = get(4096);
    nl_host_free(d, 4096);
    h_check(stats().cached_bytes == 0, "cap 0: freed blocks go back to the OS");
    nl_host_cache_set_cap(64 * MIB);
}

static void test_guard_reuse(void)
{
    nl_host_cache_release();
    unsigned char *p = get(200);
    p[200] = 0; /* one byte past the end */
    nl_host_free(p, 200);
    h_check(nl_host_guard_violations() == 1, "an overrun is caught at free (then cached)");
    unsigned char *q = get(200);
    h_check(q == p, "the corrupted block is reused");
    nl_host_free(q, 200);
    h_check(nl_host_guard_violations() == 1, "its guard bytes were rewritten: a clean use is not reported");
    h_expect_guard_violations(1);
}

static void *worker(void *arg)
{
    uintptr_t seed = (uintptr_t)arg;
    void *held[8] = {0};
    size_t sz[8] = {0};
    for (int i = 0; i < 20000; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        int k = (int)(seed >> 60) & 7;
        if (held[k]) {
            nl_host_free(held[k], sz[k]);
            held[k] = NULL;
        } else {
            sz[k] = (size_t)(seed >> 33) % 70000;
            if (nl_host_alloc(sz[k], &held[k]) != NL_OK) return (void *)1;
            memset(held[k], k, sz[k]);
        }
    }
    for (int k = 0; k < 8; k++)
        if (held[k]) nl_host_free(held[k], sz[k]);
    return NULL;
}

static void test_threads(void)
{
    size_t live0 = stats().live_bytes;
    pthread_t t[2];
    void *r[2] = {0};
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 2; i++) pthread_join(t[i], &r[i]);
    nl_mem_stats m = stats();
    h_check(!r[0] && !r[1], "two threads allocate and free 40 000 times");
    h_check(m.live_bytes == live0, "live bytes back to %zu (%zu)", live0, m.live_bytes);
    h_check(m.cached_bytes <= (size_t)64 << 20, "the cache stays under its cap (%zu)", m.cached_bytes);
}

int main(void)
{
    h_init("alloc");
    nl_host_cache_set_cap((size_t)64 << 20);
    test_reuse_and_classes();
    test_cap();
    test_threads();
    test_guard_reuse();
    nl_host_cache_release();
    h_check(stats().cached_bytes == 0, "release at the end");
    return h_finish();
}
