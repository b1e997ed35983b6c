/* error.c — every nl_status becomes a Scheme exception with its own key
 * (notellm-shape-error, ...), subr = the Scheme procedure, message = the
 * runtime's text. The exception printers live in (notellm primitives).
 * Depends on the runtime's error model only. */
#include <stdarg.h>
#include <stdio.h>

#include "glue.h"

static SCM status_keys[NL_STATUS_COUNT];

static const char *key_name(nl_status st)
{
    switch (st) {
    case NL_ERR_SHAPE: return "notellm-shape-error";
    case NL_ERR_DTYPE: return "notellm-dtype-error";
    case NL_ERR_DEVICE: return "notellm-device-error";
    case NL_ERR_IO: return "notellm-io-error";
    case NL_ERR_FORMAT: return "notellm-format-error";
    case NL_ERR_OOM: return "notellm-out-of-memory";
    case NL_ERR_CUDA: return "notellm-cuda-error";
    case NL_ERR_INTERRUPTED: return "notellm-interrupted";
    default: return "notellm-error"; /* arg, state and anything else */
    }
}

void nl_scm_raise(nl_status st, const char *who)
{
    if ((unsigned)st >= NL_STATUS_COUNT || st == NL_OK) st = NL_ERR_STATE;
    if (st == NL_ERR_INTERRUPTED) nl_interrupt_clear();
    const char *msg = nl_last_error();
    SCM text = scm_from_utf8_string(msg[0] ? msg : nl_status_name(st));
    nl_error_clear();
    scm_error(status_keys[st], who, "~A", scm_list_1(text), SCM_BOOL_F);
}

void nl_scm_raisef(nl_status st, const char *who, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    nl_error_set(st, "%s", buf);
    nl_scm_raise(st, who);
}

static SCM error_keys(void)
{
    SCM keys = SCM_EOL;
    for (int s = NL_STATUS_COUNT - 1; s > NL_OK; s--)
        if (scm_is_false(scm_memq(status_keys[s], keys))) keys = scm_cons(status_keys[s], keys);
    return keys;
}

void nl_scm_init_errors(void)
{
    for (int s = 0; s < NL_STATUS_COUNT; s++)
        status_keys[s] = scm_gc_protect_object(scm_from_utf8_symbol(key_name((nl_status)s)));
    static const nl_scm_proc procs[] = {
        {"%nl-error-keys", 0, 0, 0, (scm_t_subr)error_keys,
         "Return the list of exception keys that notellm primitives raise."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
