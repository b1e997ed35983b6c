/* error.c — thread-local error message storage for nl_status results.
 * Must not print, exit or abort: callers decide what the user sees. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NL_ERRMSG_MAX 1024

static _Thread_local char errmsg[NL_ERRMSG_MAX];
static _Thread_local nl_status errstatus;

nl_status nl_error_set(nl_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    errstatus = status;
    return status;
}

nl_status nl_error_prefix(nl_status status, const char *who)
{
    size_t n = strlen(who), m = strlen(errmsg);
    if (strncmp(errmsg, who, n) == 0 && errmsg[n] == ':') return status; /* already prefixed */
    if (n + 2 >= NL_ERRMSG_MAX) return status;
    if (n + 2 + m >= NL_ERRMSG_MAX) m = NL_ERRMSG_MAX - n - 3;
    memmove(errmsg + n + 2, errmsg, m);
    errmsg[n + 2 + m] = '\0';
    memcpy(errmsg, who, n);
    errmsg[n] = ':';
    errmsg[n + 1] = ' ';
    errstatus = status;
    return status;
}

const char *nl_last_error(void) { return errmsg; }
nl_status nl_last_status(void) { return errstatus; }

void nl_error_clear(void)
{
    errmsg[0] = '\0';
    errstatus = NL_OK;
}

const char *nl_status_name(nl_status s)
{
    static const char *names[NL_STATUS_COUNT] = {
        "ok", "shape-error", "dtype-error", "device-error", "io-error",
        "format-error", "out-of-memory", "cuda-error", "interrupted",
        "argument-error", "state-error",
    };
    return (unsigned)s < NL_STATUS_COUNT ? names[s] : "unknown-error";
}
