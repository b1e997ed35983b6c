/* runtime.c — thread count and interrupt flag. */
#include "runtime.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "config.h"

static int nthreads;
static volatile sig_atomic_t interrupt_flag;

nl_status nl_set_threads(int n)
{
    if (n < 1 || n > 1024) return nl_error_set(NL_ERR_ARG, "thread count must be in [1, 1024], got %d", n);
    nthreads = n;
    /* One pool: OpenBLAS stays single-threaded; CPU kernels split their
     * sgemm calls over the OpenMP team (kernels/cpu/gemm.h). */
    openblas_set_num_threads(1);
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    return NL_OK;
}

int nl_get_threads(void) { return nthreads; }

/* libgomp's thread pool does not survive fork(): the child's first parallel
 * region would wait for workers that do not exist. The child of a fork
 * (a test killing a save, a Scheme primitive-fork) runs single-threaded. */
static void fork_child(void) { nl_set_threads(1); }

void nl_runtime_init(void)
{
    if (nthreads) return;
    pthread_atfork(NULL, NULL, fork_child);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("NOTELLM_THREADS");
    if (env && atoi(env) > 0) n = atoi(env);
    nl_set_threads(n > 0 ? (int)n : 1);
}

void nl_interrupt_request(void) { interrupt_flag = 1; }
void nl_interrupt_clear(void) { interrupt_flag = 0; }
int nl_interrupt_pending(void) { return interrupt_flag != 0; }

nl_status nl_interrupt_poll(void)
{
    if (!interrupt_flag) return NL_OK;
    return nl_error_set(NL_ERR_INTERRUPTED, "interrupted by the user");
}

const char *nl_version(void) { return PACKAGE_VERSION; }
