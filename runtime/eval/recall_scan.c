/* recall_scan.c — the score-row scan of the recall engine (see
 * recall_scan.h): rank counting and top-k heap updates in one pass. The
 * plain version is portable C; on x86-64 with GCC/Clang, AVX2 and AVX-512
 * clones (function target attributes, so the rest of the library stays
 * baseline x86-64) are picked at run time with __builtin_cpu_supports.
 * Depends on the runtime core only. */
#include "recall_scan.h"

#include <math.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NL_SCAN_X86 1
#include <immintrin.h>
#endif

/* Heap entries are ordered "worse" = lower score, then higher index; the
 * root is the worst kept candidate. Bitwise & and | keep the sift free of
 * the data-dependent branches a random child choice mispredicts. */
static inline int worse(float sa, int64_t ia, float sb, int64_t ib)
{
    return (sa < sb) | ((sa == sb) & (ia > ib));
}

void nl_recall_heap_sift_down(float *hs, int64_t *hi, int64_t n, int64_t i)
{
    float s = hs[i];
    int64_t x = hi[i];
    for (;;) {
        int64_t l = 2 * i + 1;
        if (l >= n) break;
        int64_t r = l + 1 < n ? l + 1 : l;
        int64_t m = l + (worse(hs[r], hi[r], hs[l], hi[l]) & (r != l)); /* the worse child */
        if (!worse(hs[m], hi[m], s, x)) break;
        hs[i] = hs[m];
        hi[i] = hi[m];
        i = m;
    }
    hs[i] = s;
    hi[i] = x;
}

/* One candidate offered to the heap. Candidates arrive in increasing index
 * order, so one tying with the root never replaces it: strict > is the full
 * rule. Returns the new threshold (the root's score). */
static inline float offer(float v, int64_t idx, float thr, float *hs, int64_t *hi, int64_t topk)
{
    if (!(v > thr)) return thr;
    hs[0] = v;
    hi[0] = idx;
    nl_recall_heap_sift_down(hs, hi, topk, 0);
    return hs[0];
}

/* ---- plain C -------------------------------------------------------------- */

static int64_t span_plain(const float *s, const int64_t *cidx, int64_t n, float g, int ge, float *hs,
                          int64_t *hi, int64_t topk)
{
    int32_t c = 0; /* 32-bit lanes vectorise 2x wider; n < 2^31 */
    if (ge) {
#pragma omp simd reduction(+ : c)
        for (int64_t j = 0; j < n; j++) c += s[j] >= g;
    } else {
#pragma omp simd reduction(+ : c)
        for (int64_t j = 0; j < n; j++) c += s[j] > g;
    }
    if (topk > 0) {
        float thr = hs[0];
        for (int64_t j0 = 0; j0 < n; j0 += 64) { /* blocks whose max cannot enter are skipped */
            int64_t j1 = n - j0 < 64 ? n : j0 + 64;
            float m = -INFINITY;
#pragma omp simd reduction(max : m)
            for (int64_t j = j0; j < j1; j++) m = s[j] > m ? s[j] : m;
            if (!(m > thr)) continue;
            for (int64_t j = j0; j < j1; j++) thr = offer(s[j], cidx[j], thr, hs, hi, topk);
        }
    }
    return c;
}

#ifdef NL_SCAN_X86
/* The lanes of mask m (bit b = s[b]) offered in order. */
static inline float offer_mask(const float *s, const int64_t *cidx, uint32_t m, float thr, float *hs,
                               int64_t *hi, int64_t topk)
{
    while (m) {
        int b = __builtin_ctz(m);
        m &= m - 1;
        thr = offer(s[b], cidx[b], thr, hs, hi, topk);
    }
    return thr;
}

/* ---- AVX2: 8 lanes; the count is kept in int32 lanes (compare masks are
 * -1, subtracted), top-k candidates found with one compare per vector. ---- */
__attribute__((target("avx2"))) static inline int64_t span_avx2_body(const float *s, const int64_t *cidx,
                                                                     int64_t n, float g, const int ge,
                                                                     float *hs, int64_t *hi, int64_t topk)
{
    const __m256 vg = _mm256_set1_ps(g);
    float thr = topk > 0 ? hs[0] : INFINITY; /* nothing beats +inf: no top-k */
    __m256 vt = _mm256_set1_ps(thr);
    __m256i acc = _mm256_setzero_si256();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_loadu_ps(s + j);
        __m256 mc = ge ? _mm256_cmp_ps(v, vg, _CMP_GE_OQ) : _mm256_cmp_ps(v, vg, _CMP_GT_OQ);
        acc = _mm256_sub_epi32(acc, _mm256_castps_si256(mc));
        uint32_t mt = (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(v, vt, _CMP_GT_OQ));
        if (mt) {
            thr = offer_mask(s + j, cidx + j, mt, thr, hs, hi, topk);
            vt = _mm256_set1_ps(thr);
        }
    }
    __m128i a = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    a = _mm_add_epi32(a, _mm_shuffle_epi32(a, 0x4e));
    a = _mm_add_epi32(a, _mm_shuffle_epi32(a, 0xb1));
    int64_t c = (uint32_t)_mm_cvtsi128_si32(a);
    for (; j < n; j++) {
        c += ge ? s[j] >= g : s[j] > g;
        if (topk > 0) thr = offer(s[j], cidx[j], thr, hs, hi, topk);
    }
    return c;
}

__attribute__((target("avx2"))) static int64_t span_avx2(const float *s, const int64_t *cidx, int64_t n, float g,
                                                         int ge, float *hs, int64_t *hi, int64_t topk)
{
    return ge ? span_avx2_body(s, cidx, n, g, 1, hs, hi, topk) : span_avx2_body(s, cidx, n, g, 0, hs, hi, topk);
}

/* ---- AVX-512: 16 lanes, compare masks, a masked load for the tail. ------- */
__attribute__((target("avx512f"))) static inline int64_t span_avx512_body(const float *s, const int64_t *cidx,
                                                                          int64_t n, float g, const int ge,
                                                                          float *hs, int64_t *hi, int64_t topk)
{
    const __m512 vg = _mm512_set1_ps(g);
    const __m512i one = _mm512_set1_epi32(1);
    float thr = topk > 0 ? hs[0] : INFINITY;
    __m512 vt = _mm512_set1_ps(thr);
    __m512i acc = _mm512_setzero_si512();
    for (int64_t j = 0; j < n; j += 16) {
        __mmask16 live = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(live, s + j);
        __mmask16 mc = ge ? _mm512_mask_cmp_ps_mask(live, v, vg, _CMP_GE_OQ)
                          : _mm512_mask_cmp_ps_mask(live, v, vg, _CMP_GT_OQ);
        acc = _mm512_mask_add_epi32(acc, mc, acc, one);
        __mmask16 mt = _mm512_mask_cmp_ps_mask(live, v, vt, _CMP_GT_OQ);
        if (mt) {
            thr = offer_mask(s + j, cidx + j, mt, thr, hs, hi, topk);
            vt = _mm512_set1_ps(thr);
        }
    }
    return (uint32_t)_mm512_reduce_add_epi32(acc);
}

__attribute__((target("avx512f"))) static int64_t span_avx512(const float *s, const int64_t *cidx, int64_t n,
                                                              float g, int ge, float *hs, int64_t *hi,
                                                              int64_t topk)
{
    return ge ? span_avx512_body(s, cidx, n, g, 1, hs, hi, topk)
              : span_avx512_body(s, cidx, n, g, 0, hs, hi, topk);
}
#endif

/* ---- dispatch ------------------------------------------------------------- */

static int forced_level = NL_RECALL_SCAN_BEST;

int nl_recall_scan_supported(int level)
{
    if (level == NL_RECALL_SCAN_PLAIN) return 1;
#ifdef NL_SCAN_X86
    __builtin_cpu_init();
    if (level == NL_RECALL_SCAN_AVX2) return __builtin_cpu_supports("avx2") != 0;
    if (level == NL_RECALL_SCAN_AVX512) return __builtin_cpu_supports("avx512f") != 0;
#endif
    return 0;
}

nl_status nl_recall_scan_set_level(int level)
{
    if (level < NL_RECALL_SCAN_BEST || level > NL_RECALL_SCAN_AVX512)
        return nl_error_set(NL_ERR_ARG, "recall scan: unknown level %d (-1 best, 0 plain, 1 avx2, 2 avx512)", level);
    if (level != NL_RECALL_SCAN_BEST && !nl_recall_scan_supported(level))
        return nl_error_set(NL_ERR_DEVICE, "recall scan: level %d is not supported by this CPU or build", level);
    forced_level = level;
    return NL_OK;
}

nl_recall_span_fn nl_recall_scan_select(void)
{
    int level = forced_level;
    if (level == NL_RECALL_SCAN_BEST)
        level = nl_recall_scan_supported(NL_RECALL_SCAN_AVX512) ? NL_RECALL_SCAN_AVX512
                : nl_recall_scan_supported(NL_RECALL_SCAN_AVX2) ? NL_RECALL_SCAN_AVX2
                                                                  : NL_RECALL_SCAN_PLAIN;
#ifdef NL_SCAN_X86
    if (level == NL_RECALL_SCAN_AVX512) return span_avx512;
    if (level == NL_RECALL_SCAN_AVX2) return span_avx2;
#endif
    return span_plain;
}
