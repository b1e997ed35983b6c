/* npy.c — NPY reader and writer for little-endian f32 C-order arrays (see
 * npy.h). Format: "\x93NUMPY", major, minor, header length (uint16 LE for
 * v1, uint32 LE for v2/v3), the header dict in Python literal syntax padded
 * with spaces and a final '\n' so the data starts at a multiple of 64. */
#define _GNU_SOURCE
#include "npy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c assumes a little-endian host"
#endif

static const char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* ---- header parser ------------------------------------------------------------ */

typedef struct cur {
    const char *p, *end;
} cur;

static void ws(cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

static bool eat(cur *c, char ch)
{
    ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

static nl_status bad(const char *what, const cur *c, const char *text)
{
    return nl_error_set(NL_ERR_FORMAT, "npy header: %s at byte %td of the header", what, c->p - text);
}

/* A '...' or "..." literal without escapes into buf (cap bytes with NUL). */
static nl_status quoted(cur *c, char *buf, size_t cap, const char *text)
{
    ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return bad("expected a quoted string", c, text);
    char q = *c->p++;
    const char *s = c->p;
    while (c->p < c->end && *c->p != q && *c->p != '\\') c->p++;
    if (c->p >= c->end || *c->p != q) return bad("unterminated or escaped string", c, text);
    size_t n = (size_t)(c->p - s);
    c->p++;
    if (n >= cap) return bad("string too long", c, text);
    memcpy(buf, s, n);
    buf[n] = 0;
    return NL_OK;
}

static nl_status shape_tuple(cur *c, nl_npy_header *h, const char *text)
{
    if (!eat(c, '(')) return bad("'shape' is not a tuple", c, text);
    h->ndim = 0;
    uint64_t count = 1;
    for (;;) {
        if (eat(c, ')')) break;
        ws(c);
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') return bad("expected a non-negative integer in 'shape'", c, text);
        uint64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            v = v * 10 + (uint64_t)(*c->p++ - '0');
            if (v > (UINT64_C(1) << 62)) return bad("a 'shape' dimension over 2^62", c, text);
        }
        if (h->ndim == NL_MAX_DIMS) return bad("more than 8 dimensions in 'shape'", c, text);
        if (v && count > (UINT64_C(1) << 62) / v) return bad("'shape' element count over 2^62", c, text);
        count *= v;
        h->shape[h->ndim++] = (int64_t)v;
        if (eat(c, ')')) break;
        if (!eat(c, ',')) return bad("expected ',' or ')' in 'shape'", c, text);
    }
    return NL_OK;
}

nl_status nl_npy_parse_header(const char *text, size_t n, nl_npy_header *h)
{
    if (!text || !h) return nl_error_set(NL_ERR_ARG, "npy header: NULL argument");
    memset(h, 0, sizeof *h);
    cur c = {text, text + n};
    if (!eat(&c, '{')) return bad("does not start with '{'", &c, text);
    bool seen[3] = {false, false, false};
    for (;;) {
        if (eat(&c, '}')) break;
        char key[32];
        NL_TRY(quoted(&c, key, sizeof key, text));
        if (!eat(&c, ':')) return bad("expected ':' after a key", &c, text);
        int k = !strcmp(key, "descr") ? 0 : !strcmp(key, "fortran_order") ? 1 : !strcmp(key, "shape") ? 2 : -1;
        if (k < 0) return nl_error_set(NL_ERR_FORMAT, "npy header: unknown key '%s' (expected descr, fortran_order, shape)", key);
        if (seen[k]) return nl_error_set(NL_ERR_FORMAT, "npy header: key '%s' given twice", key);
        seen[k] = true;
        if (k == 0) {
            NL_TRY(quoted(&c, h->descr, sizeof h->descr, text));
        } else if (k == 1) {
            ws(&c);
            size_t left = (size_t)(c.end - c.p);
            if (left >= 4 && !memcmp(c.p, "True", 4)) h->fortran_order = true, c.p += 4;
            else if (left >= 5 && !memcmp(c.p, "False", 5)) h->fortran_order = false, c.p += 5;
            else return bad("'fortran_order' is neither True nor False", &c, text);
        } else {
            NL_TRY(shape_tuple(&c, h, text));
        }
        if (eat(&c, '}')) break;
        if (!eat(&c, ',')) return bad("expected ',' or '}'", &c, text);
    }
    for (int k = 0; k < 3; k++)
        if (!seen[k])
            return nl_error_set(NL_ERR_FORMAT, "npy header: key '%s' missing",
                                k == 0 ? "descr" : k == 1 ? "fortran_order" : "shape");
    ws(&c);
    if (c.p < c.end && *c.p == '\n') c.p++;
    if (c.p != c.end) return bad("unexpected bytes after the dict", &c, text);
    return NL_OK;
}

/* ---- writing ------------------------------------------------------------------ */

nl_status nl_npy_save_f32(const char *path, int ndim, const int64_t *shape, const float *data)
{
    if (!path || (ndim > 0 && !shape) || ndim < 0 || ndim > NL_MAX_DIMS)
        return nl_error_set(NL_ERR_ARG, "npy save: bad arguments (path %p, ndim %d, shape %p)", (const void *)path,
                            ndim, (const void *)shape);
    char dict[256];
    int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    uint64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] && count > (UINT64_C(1) << 61) / (uint64_t)shape[i]))
            return nl_error_set(NL_ERR_ARG, "npy save %s: bad dimension %d of size %" PRId64, path, i, shape[i]);
        count *= (uint64_t)shape[i];
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%" PRId64 "%s", shape[i],
                        ndim == 1 ? "," : i + 1 < ndim ? ", " : "");
    }
    if (count && !data) return nl_error_set(NL_ERR_ARG, "npy save %s: data is NULL", path);
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    /* 10 bytes of preamble + dict + spaces + '\n', a multiple of 64 */
    size_t hlen = ((10 + (size_t)len + 1 + 63) / 64) * 64 - 10;
    char head[10 + 256 + 64];
    memcpy(head, magic, 6);
    head[6] = 1, head[7] = 0;
    head[8] = (char)(hlen & 0xff), head[9] = (char)(hlen >> 8);
    memcpy(head + 10, dict, (size_t)len);
    memset(head + 10 + len, ' ', hlen - (size_t)len - 1);
    head[10 + hlen - 1] = '\n';
    nl_atomic_file f;
    NL_TRY(nl_atomic_open(&f, path));
    nl_status st = nl_atomic_write(&f, head, 10 + hlen);
    if (st == NL_OK && count) st = nl_atomic_write(&f, data, (size_t)count * sizeof(float));
    if (st != NL_OK) {
        nl_atomic_abort(&f);
        return st;
    }
    return nl_atomic_commit(&f);
}

/* ---- reading ------------------------------------------------------------------ */

static nl_status read_exact(FILE *fp, void *buf, size_t n, const char *path, const char *what)
{
    if (fread(buf, 1, n, fp) == n) return NL_OK;
    if (ferror(fp)) return nl_error_set(NL_ERR_IO, "npy %s: reading %s: %s", path, what, strerror(errno));
    return nl_error_set(NL_ERR_FORMAT, "npy %s: truncated in %s", path, what);
}

static nl_status load(FILE *fp, const char *path, uint64_t fsize, nl_tensor **out)
{
    unsigned char pre[12];
    NL_TRY(read_exact(fp, pre, 8, path, "the magic string"));
    if (memcmp(pre, magic, 6))
        return nl_error_set(NL_ERR_FORMAT, "npy %s: not an NPY file (no \\x93NUMPY magic)", path);
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0)
        return nl_error_set(NL_ERR_FORMAT, "npy %s: unsupported format version %d.%d (known: 1.0, 2.0, 3.0)", path,
                            major, minor);
    size_t lenbytes = major == 1 ? 2 : 4;
    NL_TRY(read_exact(fp, pre + 8, lenbytes, path, "the header length"));
    uint64_t hlen = pre[8] | (uint64_t)pre[9] << 8;
    if (major > 1) hlen |= (uint64_t)pre[10] << 16 | (uint64_t)pre[11] << 24;
    uint64_t off = 8 + lenbytes + hlen;
    if (hlen > NL_NPY_MAX_HEADER)
        return nl_error_set(NL_ERR_FORMAT, "npy %s: header length %" PRIu64 " exceeds the %u-byte limit", path, hlen,
                            NL_NPY_MAX_HEADER);
    if (off > fsize)
        return nl_error_set(NL_ERR_FORMAT, "npy %s: header length %" PRIu64 " runs past the end of the %" PRIu64
                            "-byte file (truncated)", path, hlen, fsize);
    char *text = malloc(hlen ? hlen : 1);
    if (!text) return nl_error_set(NL_ERR_OOM, "npy %s: out of memory for the header", path);
    nl_npy_header h;
    nl_status st = read_exact(fp, text, hlen, path, "the header");
    if (st == NL_OK && major < 3)
        for (uint64_t i = 0; i < hlen && st == NL_OK; i++)
            if ((unsigned char)text[i] > 127 || !text[i])
                st = nl_error_set(NL_ERR_FORMAT, "npy %s: non-ASCII byte in a version %d header", path, major);
    if (st == NL_OK && (st = nl_npy_parse_header(text, hlen, &h)) != NL_OK) st = nl_error_prefix(st, path);
    free(text);
    if (st != NL_OK) return st;
    if (strcmp(h.descr, "<f4") && strcmp(h.descr, "=f4"))
        return nl_error_set(NL_ERR_DTYPE, "npy %s: dtype '%s' is not supported (only little-endian float32 '<f4'); "
                            "HINT: save arr.astype('<f4')", path, h.descr);
    if (h.fortran_order && h.ndim > 1)
        return nl_error_set(NL_ERR_FORMAT, "npy %s: the array is in Fortran order; HINT: save "
                            "numpy.ascontiguousarray(arr)", path);
    uint64_t count = 1;
    for (int i = 0; i < h.ndim; i++) count *= (uint64_t)h.shape[i];
    uint64_t bytes = count * 4;
    if (fsize - off != bytes)
        return nl_error_set(NL_ERR_FORMAT, "npy %s: %s data: the shape needs %" PRIu64 " bytes, the file has %" PRIu64
                            " after the header", path, fsize - off < bytes ? "truncated" : "trailing", bytes, fsize - off);
    nl_tensor *t;
    NL_TRY(nl_tensor_empty(&t, NL_F32, h.ndim, h.shape, NL_CPU_DEVICE));
    st = count ? read_exact(fp, nl_tensor_host_ptr(t), (size_t)bytes, path, "the data") : NL_OK;
    if (st != NL_OK) {
        nl_tensor_release(t);
        return st;
    }
    *out = t;
    return NL_OK;
}

nl_status nl_npy_load_f32(nl_tensor **out, const char *path)
{
    if (!out || !path) return nl_error_set(NL_ERR_ARG, "npy load: NULL argument");
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return nl_error_set(NL_ERR_IO, "npy %s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    nl_status st = fstat(fileno(fp), &sb) ? nl_error_set(NL_ERR_IO, "npy %s: stat: %s", path, strerror(errno))
                   : !S_ISREG(sb.st_mode) ? nl_error_set(NL_ERR_IO, "npy %s: not a regular file", path)
                                          : load(fp, path, (uint64_t)sb.st_size, out);
    fclose(fp);
    return st;
}
