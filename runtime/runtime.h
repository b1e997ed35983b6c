/* runtime.h — process-wide knobs: thread count (OpenMP loops and OpenBLAS,
 * never both busy at once: kernels call BLAS outside parallel regions) and the
 * interrupt flag that long kernels poll at safe points. */
#ifndef NL_RUNTIME_H
#define NL_RUNTIME_H

#include "error.h"

/* Read NOTELLM_THREADS (default: all cores) and apply it. Idempotent. */
void nl_runtime_init(void);
/* The OpenMP team size of every CPU kernel (OpenBLAS stays single-threaded:
 * kernels/cpu/gemm.h). */
nl_status nl_set_threads(int n);
int nl_get_threads(void);

/* Interrupts: a signal handler calls nl_interrupt_request(); kernels call
 * nl_interrupt_poll() between chunks and return NL_ERR_INTERRUPTED when it
 * is non-zero; the front-end that reports it clears the flag. */
void nl_interrupt_request(void);
void nl_interrupt_clear(void);
int nl_interrupt_pending(void);
/* NL_ERR_INTERRUPTED with a message if pending, else NL_OK. */
nl_status nl_interrupt_poll(void);

const char *nl_version(void);

#endif
