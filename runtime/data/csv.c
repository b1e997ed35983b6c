/* csv.c — the RFC-4180 reader: NUL stripping, a byte-at-a-time state
 * machine with one growing scratch buffer per parse (fields are appended to
 * it, NUL-terminated, and pointed into when the row is complete). Python's
 * csv module (strict=False) is the reference for the lenient corners. */
#include "csv.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct scratch {
    char *p;
    size_t n, cap;
    size_t *off; /* start offset of each field of the current row */
    size_t nf, capf;
    const char **fp; /* per-row pointer array handed to the callback */
    size_t *fl;
    size_t capp;
} scratch;

static nl_status oom(const char *what, size_t bytes)
{
    return nl_error_set(NL_ERR_OOM, "csv: %s: cannot allocate %zu bytes", what, bytes);
}

static nl_status reserve(scratch *sc, const char *what, size_t extra)
{
    if (sc->cap - sc->n >= extra) return NL_OK;
    size_t cap = sc->cap ? sc->cap : 256;
    while (cap - sc->n < extra) {
        if (cap > SIZE_MAX / 2) return oom(what, SIZE_MAX);
        cap *= 2;
    }
    char *p = realloc(sc->p, cap);
    if (!p) return oom(what, cap);
    sc->p = p;
    sc->cap = cap;
    return NL_OK;
}

static nl_status new_field(scratch *sc, const char *what)
{
    if (sc->nf == sc->capf) {
        size_t cap = sc->capf ? sc->capf * 2 : 16;
        size_t *off = realloc(sc->off, cap * sizeof *off);
        if (!off) return oom(what, cap * sizeof *off);
        sc->off = off;
        sc->capf = cap;
    }
    sc->off[sc->nf++] = sc->n;
    return NL_OK;
}

typedef struct parser {
    const char *s;
    size_t n, i, line;
    const char *what;
    size_t max_field;
    bool norm;
    scratch sc;
    size_t field_line; /* line on which the current field started */
} parser;

static nl_status too_big(const parser *ps)
{
    return nl_error_set(NL_ERR_FORMAT,
                        "%s: line %zu, field %zu: field is larger than the %zu-byte limit. "
                        "HINT: raise nl_csv_opts.max_field if the file is trusted",
                        ps->what, ps->field_line, ps->sc.nf, ps->max_field);
}

/* Append one byte to the current field, enforcing the field size limit. */
static inline nl_status put(parser *ps, char c)
{
    scratch *sc = &ps->sc;
    if (sc->n - sc->off[sc->nf - 1] >= ps->max_field) return too_big(ps);
    if (sc->n == sc->cap) NL_TRY(reserve(sc, ps->what, 1));
    sc->p[sc->n++] = c;
    return NL_OK;
}

/* One field starting at ps->i; stops at ',', a line end or the end. */
static nl_status parse_field(parser *ps)
{
    const char *s = ps->s;
    NL_TRY(new_field(&ps->sc, ps->what));
    ps->field_line = ps->line;
    if (ps->i < ps->n && s[ps->i] == '"') {
        size_t open_line = ps->line;
        ps->i++;
        for (;;) {
            if (ps->i >= ps->n)
                return nl_error_set(NL_ERR_FORMAT,
                                    "%s: line %zu: unterminated quoted field (field %zu) runs to the end of "
                                    "the data (line %zu). HINT: a '\"' inside a quoted field is written '\"\"'",
                                    ps->what, open_line, ps->sc.nf, ps->line);
            char c = s[ps->i];
            if (c == '"') {
                if (ps->i + 1 < ps->n && s[ps->i + 1] == '"') {
                    NL_TRY(put(ps, '"'));
                    ps->i += 2;
                    continue;
                }
                ps->i++;
                break;
            }
            if (c == '\r') {
                ps->line++;
                bool crlf = ps->i + 1 < ps->n && s[ps->i + 1] == '\n';
                if (ps->norm) {
                    NL_TRY(put(ps, '\n'));
                } else {
                    NL_TRY(put(ps, '\r'));
                    if (crlf) NL_TRY(put(ps, '\n'));
                }
                ps->i += crlf ? 2 : 1;
                continue;
            }
            if (c == '\n') ps->line++;
            NL_TRY(put(ps, c));
            ps->i++;
        }
    }
    /* Unquoted text, or text after a closing quote: kept literally. */
    while (ps->i < ps->n) {
        char c = s[ps->i];
        if (c == ',' || c == '\n' || c == '\r') break;
        NL_TRY(put(ps, c));
        ps->i++;
    }
    if (ps->sc.n == ps->sc.cap) NL_TRY(reserve(&ps->sc, ps->what, 1));
    ps->sc.p[ps->sc.n++] = '\0';
    return NL_OK;
}

static nl_status deliver(parser *ps, size_t row_line, size_t index, nl_csv_row_fn fn, void *ctx)
{
    scratch *sc = &ps->sc;
    if (sc->nf > sc->capp) {
        size_t cap = sc->nf;
        const char **fp = realloc(sc->fp, cap * sizeof *fp);
        if (!fp) return oom(ps->what, cap * sizeof *fp);
        sc->fp = fp;
        size_t *fl = realloc(sc->fl, cap * sizeof *fl);
        if (!fl) return oom(ps->what, cap * sizeof *fl);
        sc->fl = fl;
        sc->capp = cap;
    }
    for (size_t k = 0; k < sc->nf; k++) {
        size_t end = k + 1 < sc->nf ? sc->off[k + 1] : sc->n;
        sc->fp[k] = sc->p + sc->off[k];
        sc->fl[k] = end - sc->off[k] - 1; /* minus the terminating '\0' */
    }
    nl_csv_row row = {.nfields = sc->nf, .field = sc->fp, .len = sc->fl, .line = row_line, .index = index};
    return fn ? fn(&row, ctx) : NL_OK;
}

static nl_status run(parser *ps, nl_csv_row_fn fn, void *ctx, nl_csv_stats *st)
{
    const char *s = ps->s;
    size_t n = ps->n;
    while (ps->i < n) {
        char c = s[ps->i];
        if (c == '\n' || c == '\r') { /* an empty line */
            ps->i += (c == '\r' && ps->i + 1 < n && s[ps->i + 1] == '\n') ? 2 : 1;
            ps->line++;
            st->blank_lines++;
            continue;
        }
        size_t row_line = ps->line;
        ps->sc.n = 0;
        ps->sc.nf = 0;
        for (;;) {
            NL_TRY(parse_field(ps));
            if (ps->i < n && s[ps->i] == ',') {
                ps->i++;
                continue;
            }
            break;
        }
        if (ps->i < n) { /* the line end */
            bool crlf = s[ps->i] == '\r' && ps->i + 1 < n && s[ps->i + 1] == '\n';
            ps->i += crlf ? 2 : 1;
            ps->line++;
        }
        NL_TRY(deliver(ps, row_line, st->rows, fn, ctx));
        st->rows++;
    }
    return NL_OK;
}

nl_status nl_csv_parse(const char *buf, size_t n, const char *what, const nl_csv_opts *opts,
                       nl_csv_row_fn fn, void *ctx, nl_csv_stats *stats)
{
    nl_csv_stats local = {0};
    nl_csv_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (!what) what = "csv";
    if (!buf && n) return nl_error_set(NL_ERR_ARG, "%s: NULL buffer with %zu bytes", what, n);

    /* Strip NUL bytes into a copy (only when there are any). */
    char *clean = NULL;
    const char *s = buf;
    if (n && memchr(buf, '\0', n)) {
        clean = malloc(n);
        if (!clean) return oom(what, n);
        size_t m = 0;
        for (size_t k = 0; k < n; k++) {
            if (buf[k]) clean[m++] = buf[k];
            else st->nul_bytes++;
        }
        s = clean;
        n = m;
    }
    parser ps = {.s = s, .n = n, .i = 0, .line = 1, .what = what,
                 .max_field = opts && opts->max_field ? opts->max_field : NL_CSV_DEFAULT_MAX_FIELD,
                 .norm = opts && opts->normalize_newlines};
    nl_status rc = run(&ps, fn, ctx, st);
    st->lines = ps.line - 1 + (n && s[n - 1] != '\n' && s[n - 1] != '\r');
    free(ps.sc.p);
    free(ps.sc.off);
    free(ps.sc.fp);
    free(ps.sc.fl);
    free(clean);
    return rc;
}

nl_status nl_csv_read_file(const char *path, size_t max_bytes, char **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return nl_error_set(NL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        int e = errno;
        fclose(f);
        return nl_error_set(NL_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        fclose(f);
        return nl_error_set(NL_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size < 0 || (uint64_t)sb.st_size >= SIZE_MAX ||
        (max_bytes && (uint64_t)sb.st_size > max_bytes)) {
        fclose(f);
        return nl_error_set(NL_ERR_FORMAT, "%s: %lld bytes is larger than the %zu-byte limit", path,
                            (long long)sb.st_size, max_bytes);
    }
    size_t size = (size_t)sb.st_size;
    char *buf = malloc(size + 1);
    if (!buf) {
        fclose(f);
        return nl_error_set(NL_ERR_OOM, "%s: cannot allocate %zu bytes", path, size + 1);
    }
    size_t got = fread(buf, 1, size, f);
    int err = ferror(f);
    fclose(f);
    if (got != size || err) {
        free(buf);
        return nl_error_set(NL_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, size);
    }
    buf[size] = '\0';
    *out = buf;
    *n = size;
    return NL_OK;
}

nl_status nl_csv_parse_file(const char *path, const nl_csv_opts *opts, nl_csv_row_fn fn, void *ctx,
                            nl_csv_stats *stats)
{
    char *buf;
    size_t n;
    NL_TRY(nl_csv_read_file(path, opts ? opts->max_file : 0, &buf, &n));
    nl_status rc = nl_csv_parse(buf, n, path, opts, fn, ctx, stats);
    free(buf);
    return rc;
}
