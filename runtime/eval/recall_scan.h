/* recall_scan.h — internal to the recall engine (runtime/eval/recall.c):
 * the per-query scan of one score-row span (rank counting fused with the
 * top-k min-heap update) in a plain version and AVX2 / AVX-512 versions
 * chosen at run time (the library is built without -march). Every version
 * gives bit-identical results: the comparisons are exact, the heap updates
 * happen in the same candidate order. Depends on the runtime core only. */
#ifndef NL_RECALL_SCAN_H
#define NL_RECALL_SCAN_H

#include <stdint.h>

#include "error.h"

/* Scan s[0, n) (scores of candidates cidx[0, n), increasing) for a query
 * whose ground truth scores g: returns #{j : s[j] >= g} if ge, else
 * #{j : s[j] > g} (NaN never counts). If topk > 0, every s[j] greater than
 * the heap root hs[0] replaces it, in order j = 0, 1, … (the heap keeps the
 * topk best; worse = lower score, then higher index). n < 2^31. */
typedef int64_t (*nl_recall_span_fn)(const float *s, const int64_t *cidx, int64_t n, float g, int ge,
                                     float *hs, int64_t *hi, int64_t topk);

/* Scan levels: the plain C version and the ISA-specific clones. */
enum { NL_RECALL_SCAN_PLAIN = 0, NL_RECALL_SCAN_AVX2 = 1, NL_RECALL_SCAN_AVX512 = 2, NL_RECALL_SCAN_BEST = -1 };

/* The span function of the current level (the best this CPU supports,
 * unless nl_recall_scan_set_level chose another). */
nl_recall_span_fn nl_recall_scan_select(void);

/* Force a level (tests compare every level against the naive reference);
 * NL_RECALL_SCAN_BEST restores the automatic choice. A level the CPU (or
 * the compiler) lacks is NL_ERR_DEVICE, an unknown level NL_ERR_ARG. Not
 * thread-safe against a running engine. */
nl_status nl_recall_scan_set_level(int level);

/* Whether this CPU (and build) can run `level`. */
int nl_recall_scan_supported(int level);

/* Restore the min-heap property from slot i down (n entries). */
void nl_recall_heap_sift_down(float *hs, int64_t *hi, int64_t n, int64_t i);

#endif
