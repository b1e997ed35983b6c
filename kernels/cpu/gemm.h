/* gemm.h — the CPU backend's one entry to OpenBLAS sgemm. OpenBLAS always
 * runs single-threaded (runtime.c); the parallelism is the OpenMP team, so
 * there is one thread pool and no hand-over between two (HACKING "Threads").
 * Used by the matmul and attention kernels and the recall engine. */
#ifndef NL_CPU_GEMM_H
#define NL_CPU_GEMM_H

#include <stdint.h>

/* C[M,N] = alpha op(A) op(B) + beta C, row-major with cblas's conventions
 * (ta/tb: 1 = transpose; lda/ldb/ldc leading dims). Called outside an
 * OpenMP region, a problem worth splitting is cut into one block of rows
 * (M >= N) or columns of C per thread, each a single-threaded sgemm; inside
 * a region (or small) it is one call on the calling thread. Every element
 * of C is the same full-K product either way. */
void nl_cpu_sgemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                  const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

#endif
