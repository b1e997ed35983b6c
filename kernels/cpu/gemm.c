/* gemm.c — sgemm split over the OpenMP team (see gemm.h). */
#include "gemm.h"

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Below this many multiply-adds one thread is faster than a fork/join. */
#define SPLIT_MIN_WORK (1 << 21)
/* Blocks are multiples of this many rows/columns (OpenBLAS's micro-tiles). */
#define SPLIT_ALIGN 16

static void one(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (blasint)M,
                (blasint)N, (blasint)K, alpha, A, (blasint)lda, B, (blasint)ldb, beta, C, (blasint)ldc);
}

void nl_cpu_sgemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                  const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    int nth = 1;
#ifdef _OPENMP
    if (!omp_in_parallel()) nth = omp_get_max_threads();
#endif
    int rows = M >= N;
    int64_t dim = rows ? M : N;
    if (nth < 2 || (double)M * (double)N * (double)K < SPLIT_MIN_WORK || dim < 2 * SPLIT_ALIGN) {
        one(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    int64_t chunk = (dim + nth - 1) / nth;
    chunk = (chunk + SPLIT_ALIGN - 1) / SPLIT_ALIGN * SPLIT_ALIGN;
    int parts = (int)((dim + chunk - 1) / chunk);
#pragma omp parallel for num_threads(parts) schedule(static, 1)
    for (int p = 0; p < parts; p++) {
        int64_t s = p * chunk, n = dim - s < chunk ? dim - s : chunk;
        if (rows)
            one(ta, tb, n, N, K, alpha, ta ? A + s : A + s * lda, lda, B, ldb, beta, C + s * ldc, ldc);
        else
            one(ta, tb, M, n, K, alpha, A, lda, tb ? B + s * ldb : B + s, ldb, beta, C + s, ldc);
    }
}
