/* error.h — the runtime's error model: every fallible call returns nl_status and
 * leaves a thread-local message (what failed, the values, a HINT when obvious).
 * Owns: nl_status, nl_error_set, nl_last_error. Depends on nothing. */
#ifndef NL_ERROR_H
#define NL_ERROR_H

typedef enum nl_status {
    NL_OK = 0,
    NL_ERR_SHAPE,       /* incompatible shapes, bad dims/indices of a shape */
    NL_ERR_DTYPE,       /* unsupported or mismatched dtype */
    NL_ERR_DEVICE,      /* no such device, mixed devices, CUDA not built/available */
    NL_ERR_IO,          /* open/read/write/rename failed */
    NL_ERR_FORMAT,      /* malformed file contents */
    NL_ERR_OOM,         /* allocation failed or size overflow */
    NL_ERR_CUDA,        /* a CUDA/cuBLAS/NCCL call failed */
    NL_ERR_INTERRUPTED, /* the user pressed Ctrl-C; the operation was abandoned */
    NL_ERR_ARG,         /* an argument out of its domain (negative size, bad index) */
    NL_ERR_STATE,       /* call not valid now (backward twice, freed object, ...) */
    NL_STATUS_COUNT
} nl_status;

/* Set the calling thread's message (printf format) and return `status`,
 * so callers can write `return nl_error_set(NL_ERR_SHAPE, "...", ...);`. */
nl_status nl_error_set(nl_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prefix the current message with "who: " (used by front-ends). */
nl_status nl_error_prefix(nl_status status, const char *who);
const char *nl_last_error(void);
nl_status nl_last_status(void);
void nl_error_clear(void);
const char *nl_status_name(nl_status s); /* "shape-error", "dtype-error", ... */

#define NL_TRY(expr)                          \
    do {                                      \
        nl_status nl_try_st_ = (expr);        \
        if (nl_try_st_ != NL_OK) return nl_try_st_; \
    } while (0)

#endif
