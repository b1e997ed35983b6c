/* device.h — devices ("cpu", "cuda:N") and the backend vtable behind them.
 * The CPU backend is built in; the CUDA backend is loaded on first use so a
 * CPU-only session never maps the CUDA libraries. */
#ifndef NL_DEVICE_H
#define NL_DEVICE_H

#include <stddef.h>

#include "error.h"
#include "op.h"

typedef enum { NL_DEV_CPU = 0, NL_DEV_CUDA = 1 } nl_device_type;

typedef struct nl_device {
    int type;   /* nl_device_type */
    int index;  /* 0 for cpu */
} nl_device;

#define NL_CPU_DEVICE ((nl_device){NL_DEV_CPU, 0})

typedef struct nl_backend {
    const char *name;
    nl_status (*alloc)(int index, size_t nbytes, void **out);
    void (*free)(int index, void *p, size_t nbytes);
    nl_status (*copy_h2d)(int index, void *dst, const void *src, size_t nbytes);
    nl_status (*copy_d2h)(int index, void *dst, const void *src, size_t nbytes);
    nl_status (*copy_d2d)(int index, void *dst, const void *src, size_t nbytes);
    nl_status (*synchronize)(int index);
    nl_kernel_fn kernels[NL_OP_COUNT]; /* NULL: not supported on this backend */
} nl_backend;

/* Parse "cpu", "cuda", "cuda:N". */
nl_status nl_device_parse(const char *s, nl_device *out);
/* Write "cpu" or "cuda:N" into buf. */
void nl_device_name(nl_device d, char *buf, size_t n);
int nl_device_equal(nl_device a, nl_device b);
/* The backend for d; loads and initialises CUDA on first use. */
nl_status nl_device_backend(nl_device d, const nl_backend **out);
nl_status nl_device_synchronize(nl_device d);
/* Number of CUDA devices usable now (0 when not built, no driver or no GPU). */
int nl_cuda_device_count(void);

/* The built-in CPU backend (kernels/cpu/backend.c). */
const nl_backend *nl_cpu_backend(void);
/* Provided by kernels/cuda (dlopen loader) or kernels/stub (no CUDA built):
 * fills *out with the CUDA backend or fails with NL_ERR_DEVICE and a message. */
nl_status nl_cuda_backend_load(const nl_backend **out);
/* Device count as seen by the loaded CUDA backend, or 0. */
int nl_cuda_backend_device_count(void);

#endif
