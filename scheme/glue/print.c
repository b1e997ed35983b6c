/* print.c — the printed form of a tensor: a header
 * "#<tensor f32[2 3] cpu requires-grad>" and, below it, the values like
 * PyTorch/Torch7, summarised with "..." past a few rows and columns. Reads
 * elements one by one (nl_tensor_get), so it never copies a big tensor.
 * All buffers are GC memory. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "glue.h"

#define SUMMARY_NUMEL 64 /* summarise tensors with more elements */
#define ELLIPSIS (-1)

typedef struct {
    char *buf;
    size_t len, cap;
} strbuf;

static void put(strbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(strbuf *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
    va_end(ap);
    if (n > 0) s->len = s->len + (size_t)n < s->cap ? s->len + (size_t)n : s->cap - 1;
}

static void header(strbuf *s, const nl_tensor *t)
{
    char dims[160], dev[32];
    nl_device_name(nl_tensor_device(t), dev, sizeof dev);
    put(s, "#<tensor %s%s %s", nl_dtype_name(t->dtype), nl_shape_str(t, dims, sizeof dims), dev);
    if (t->requires_grad) put(s, " requires-grad");
    if (t->node) put(s, " grad-fn=%s", nl_op_get_info(t->node->op)->name);
    put(s, ">");
}

/* The indices shown along each dim (ELLIPSIS marks the gap). */
typedef struct {
    int n[NL_MAX_DIMS];
    int64_t idx[NL_MAX_DIMS][SUMMARY_NUMEL + 1];
} shown_set;

static void choose_shown(const nl_tensor *t, shown_set *sh)
{
    int summarise = nl_tensor_numel(t) > SUMMARY_NUMEL;
    for (int d = 0; d < t->ndim; d++) {
        int64_t size = t->shape[d], edge = d == t->ndim - 1 ? 4 : d == t->ndim - 2 ? 3 : 1;
        int k = 0;
        if (!summarise || size <= 2 * edge + 1) {
            for (int64_t i = 0; i < size && k < SUMMARY_NUMEL; i++) sh->idx[d][k++] = i;
        } else {
            for (int64_t i = 0; i < edge; i++) sh->idx[d][k++] = i;
            sh->idx[d][k++] = ELLIPSIS;
            for (int64_t i = size - edge; i < size; i++) sh->idx[d][k++] = i;
        }
        sh->n[d] = k;
    }
}

typedef struct {
    const nl_tensor *t;
    shown_set sh;
    double *vals;  /* shown values in print order */
    size_t nvals, next;
    char fmt[16];
    int width, integer;
} printer;

/* Visit the shown elements in print order, storing their values. */
static nl_status gather(printer *p, int d, int64_t *idx)
{
    if (d == p->t->ndim) return nl_tensor_get(p->t, idx, &p->vals[p->nvals++]);
    for (int k = 0; k < p->sh.n[d]; k++) {
        if (p->sh.idx[d][k] == ELLIPSIS) continue;
        idx[d] = p->sh.idx[d][k];
        NL_TRY(gather(p, d + 1, idx));
    }
    return NL_OK;
}

static int format_value(const printer *p, double v, char *buf, size_t n)
{
    if (p->integer) return snprintf(buf, n, "%lld", (long long)v);
    if (isnan(v)) return snprintf(buf, n, "nan");
    if (isinf(v)) return snprintf(buf, n, v > 0 ? "inf" : "-inf");
    return snprintf(buf, n, p->fmt, v);
}

/* PyTorch's choice: integral values as "3.", scientific when the range is wide. */
static void choose_format(printer *p)
{
    double maxa = 0, mina = INFINITY;
    int integral = 1;
    for (size_t i = 0; i < p->nvals; i++) {
        double a = fabs(p->vals[i]);
        if (!isfinite(a)) continue;
        if (a > maxa) maxa = a;
        if (a > 0 && a < mina) mina = a;
        if (a != floor(a)) integral = 0;
    }
    int sci = maxa >= 1e8 || (mina < INFINITY && (mina < 1e-4 || maxa / mina > 1000));
    snprintf(p->fmt, sizeof p->fmt, integral && maxa < 1e8 ? "%%.0f." : sci ? "%%.4e" : "%%.4f");
    p->width = 1;
    for (size_t i = 0; i < p->nvals; i++) {
        char buf[64];
        int w = format_value(p, p->vals[i], buf, sizeof buf);
        if (w > p->width) p->width = w;
    }
}

static void body(printer *p, strbuf *s, int d)
{
    put(s, "[");
    for (int k = 0; k < p->sh.n[d]; k++) {
        int gap = p->sh.idx[d][k] == ELLIPSIS;
        if (d == p->t->ndim - 1) {
            char buf[64];
            if (k) put(s, " ");
            if (gap) put(s, "%*s", p->width, "...");
            else {
                format_value(p, p->vals[p->next++], buf, sizeof buf);
                put(s, "%*s", p->width, buf);
            }
            continue;
        }
        if (k) {
            for (int nl = 0; nl < p->t->ndim - 1 - d; nl++) put(s, "\n");
            put(s, "%*s", d + 1, "");
        }
        if (gap) put(s, "...");
        else body(p, s, d + 1);
    }
    put(s, "]");
}

#define FUNC_NAME "tensor->string"
static SCM tensor_to_string(SCM obj, SCM with_values)
{
    if (!nl_scm_is_tensor(obj)) scm_wrong_type_arg_msg(FUNC_NAME, 1, obj, "tensor");
    const nl_tensor *t = nl_scm_tensor_peek(obj);
    if (!t) return scm_from_utf8_string("#<tensor freed>");
    printer p = {.t = t, .integer = !nl_dtype_is_float(t->dtype)};
    choose_shown(t, &p.sh);
    size_t cap = 1;
    for (int d = 0; d < t->ndim; d++) cap *= (size_t)p.sh.n[d];
    p.vals = scm_gc_malloc_pointerless(sizeof(double) * (cap ? cap : 1), "printed values");
    int64_t idx[NL_MAX_DIMS] = {0};
    if (scm_is_true(with_values)) NL_SCM_CHECK(FUNC_NAME, gather(&p, 0, idx));
    choose_format(&p);
    strbuf s = {.cap = 512 + cap * (size_t)(p.width + 2 * NL_MAX_DIMS + 4)};
    s.buf = scm_gc_malloc_pointerless(s.cap, "printed tensor");
    s.buf[0] = '\0';
    header(&s, t);
    if (scm_is_true(with_values)) {
        put(&s, "\n");
        if (t->ndim == 0) {
            char buf[64];
            format_value(&p, p.vals[0], buf, sizeof buf);
            put(&s, "%s", buf);
        } else if (nl_tensor_numel(t) == 0) {
            put(&s, "[]");
        } else {
            body(&p, &s, 0);
        }
    }
    scm_remember_upto_here_1(obj);
    return scm_from_utf8_stringn(s.buf, s.len);
}
#undef FUNC_NAME

void nl_scm_init_print(void)
{
    static const nl_scm_proc procs[] = {
        {"%nl-tensor->string", 2, 0, 0, (scm_t_subr)tensor_to_string,
         "The printed form of a tensor: its header and, if WITH-VALUES, a summary of the values."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
