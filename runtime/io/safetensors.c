/* safetensors.c — the safetensors reader (mmap + full validation of untrusted
 * headers before anything is exposed) and writer (temp file, fsync, rename).
 * Owns the header parser and the on-disk format; depends on the runtime core
 * and cJSON only, never on Guile. */
#define _GNU_SOURCE
#include "safetensors.h"

#include "atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "alloc.h"

#define ST_MAX_HEADER (100u * 1000u * 1000u) /* 100 MB */
#define ST_META_KEY "__metadata__"

/* The on-disk dtypes we read; BOOL is stored as one byte and loads as U8. */
typedef struct st_dtype {
    const char *name;
    nl_dtype dt;
    size_t size;
} st_dtype;

static const st_dtype st_dtypes[] = {
    {"F32", NL_F32, 4}, {"BF16", NL_BF16, 2}, {"F16", NL_F16, 2}, {"I32", NL_I32, 4},
    {"I64", NL_I64, 8}, {"U8", NL_U8, 1},     {"BOOL", NL_U8, 1},
};
#define ST_NDTYPES (sizeof st_dtypes / sizeof st_dtypes[0])

typedef struct st_entry {
    char *name;
    const st_dtype *dtype;
    int ndim;
    int64_t shape[NL_MAX_DIMS];
    uint64_t begin, end; /* relative to the data buffer */
} st_entry;

struct nl_safetensors {
    char *path;
    void *map;
    size_t map_size;
    const uint8_t *data; /* start of the data buffer */
    uint64_t data_size;
    int n;
    st_entry *e;       /* in header order */
    const st_entry **by_name; /* sorted by name */
    int n_meta;
    char **meta;       /* 2 * n_meta: key, value */
};

/* ---- small helpers ------------------------------------------------------ */

static char *st_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static nl_status st_oom(const char *path)
{
    return nl_error_set(NL_ERR_OOM, "safetensors %s: out of memory", path);
}

/* Valid UTF-8 without overlongs, surrogates or code points past U+10FFFF, and
 * without control bytes other than tab/LF/CR (JSON never allows them raw).
 * Returns the offset of the first bad byte, or len when all are valid. */
static size_t st_utf8_bad(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return i;
            i++;
            continue;
        }
        int n;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; min = 0x80; }
        else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; min = 0x800; }
        else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; min = 0x10000; }
        else return i;
        if (len - i <= (size_t)n) return i;
        for (int k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += (size_t)n + 1;
    }
    return len;
}

/* A JSON number that is an exact non-negative integer below 2^53. */
static int st_json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) return 0;
    *out = (uint64_t)d;
    return 1;
}

/* ---- header validation -------------------------------------------------- */

static nl_status st_parse_metadata(nl_safetensors *f, const cJSON *m)
{
    if (f->meta)
        return nl_error_set(NL_ERR_FORMAT, "safetensors %s: \"__metadata__\" appears twice", f->path);
    if (!cJSON_IsObject(m))
        return nl_error_set(NL_ERR_FORMAT, "safetensors %s: \"__metadata__\" is not an object of strings",
                            f->path);
    int n = cJSON_GetArraySize(m);
    f->meta = calloc((size_t)(2 * n + 1), sizeof *f->meta);
    if (!f->meta) return st_oom(f->path);
    for (const cJSON *kv = m->child; kv; kv = kv->next) {
        if (!cJSON_IsString(kv))
            return nl_error_set(NL_ERR_FORMAT,
                                "safetensors %s: \"__metadata__\" value of \"%s\" is not a string "
                                "(metadata must map strings to strings)", f->path, kv->string);
        for (int k = 0; k < f->n_meta; k++)
            if (strcmp(f->meta[2 * k], kv->string) == 0)
                return nl_error_set(NL_ERR_FORMAT, "safetensors %s: metadata key \"%s\" appears twice",
                                    f->path, kv->string);
        char *key = st_strdup(kv->string), *val = st_strdup(kv->valuestring);
        f->meta[2 * f->n_meta] = key;
        f->meta[2 * f->n_meta + 1] = val;
        f->n_meta++;
        if (!key || !val) return st_oom(f->path);
    }
    return NL_OK;
}

static nl_status st_parse_dtype(const nl_safetensors *f, const char *name, const cJSON *d, st_entry *e)
{
    if (!cJSON_IsString(d))
        return nl_error_set(NL_ERR_FORMAT, "safetensors %s: tensor \"%s\": \"dtype\" missing or not a string",
                            f->path, name);
    for (size_t k = 0; k < ST_NDTYPES; k++)
        if (strcmp(d->valuestring, st_dtypes[k].name) == 0) {
            e->dtype = &st_dtypes[k];
            return NL_OK;
        }
    if (strcmp(d->valuestring, "F64") == 0)
        return nl_error_set(NL_ERR_FORMAT, "safetensors %s: tensor \"%s\": dtype F64 is not supported "
                            "HINT: re-save the weights as F32", f->path, name);
    return nl_error_set(NL_ERR_FORMAT, "safetensors %s: tensor \"%s\": unknown or unsupported dtype \"%s\" "
                        "(supported: F32 BF16 F16 I32 I64 U8 BOOL)", f->path, name, d->valuestring);
}

/* Shape: non-negative integer dims; sets *nbytes = numel * dtype size without overflow. */
static nl_status st_parse_shape(const nl_safetensors *f, const char *name, const cJSON *s, st_entry *e,
                                uint64_t *nbytes)
{
    if (!cJSON_IsArray(s))
        return nl_error_set(NL_ERR_FORMAT, "safetensors %s: tensor \"%s\": \"shape\" missing or not an array",
                            f->path, name);
    int nd = cJSON_GetArraySize(s);
    if (nd > NL_MAX_DIMS)
        return nl_error_set(NL_ERR_FORMAT, "safetensors %s: tensor \"%s\": %d dims, at most %d supported",
                            f->path, name, nd, NL_MAX_DIMS);
    uint64_t total = e->dtype->size;
    int overflow = 0, k = 0;
    for (const cJSON *v = s->child; v; v = v->next, k++) {
        uint64_t dim;
        if (!st_json_uint(v, &dim))
            return nl_error_set(NL_ERR_FORMAT, "safetensors %s: tensor \"%s\": dim %d is %g, not a "
                                "non-negative integer", f->path, name, k,
                                cJSON_IsNumber(v) ? v->valuedouble : NAN);
        e->shape[k] = (int64_t)dim;
        if (dim != 0 && total > INT64_MAX / dim) overflow = 1;
        else total *= dim;
    }
    e->ndim = nd;
    if (overflow) {
        int zero = 0;
        for (int i = 0; i < nd; i++) zero |= e->shape[i] == 0;
        if (!zero) {
            char buf[200];
            return nl_error_set(NL_ERR_FORMAT, "safetensors %s: tensor \"%s\": shape %s overflows 64-bit "
                                "sizes", f->path, name, nl_dims_str(nd, e->shape, buf, sizeof buf));
        }
        total = 0;
    }
    *nbytes = total;
    return NL_OK;
}

static nl_status st_parse_offsets(const nl_safetensors *f, const char *name, const cJSON *o, st_entry *e,
                                  uint64_t nbytes)
{
    if (!cJSON_IsArray(o) || cJSON_GetArraySize(o) != 2)
        return nl_error_set(NL_ERR_FORMAT, "safetensors %s: tensor \"%s\": \"data_offsets\" must be an array "
                            "of exactly 2 integers (got %d elements)", f->path, name,
                            cJSON_IsArray(o) ? cJSON_GetArraySize(o) : -1);
    if (!st_json_uint(o->child, &e->begin) || !st_json_uint(o->child->next, &e->end))
        return nl_error_set(NL_ERR_FORMAT, "safetensors %s: tensor \"%s\": \"data_offsets\" are not "
                            "non-negative integers", f->path, name);
    if (e->begin > e->end)
        return nl_error_set(NL_ERR_FORMAT, "safetensors %s: tensor \"%s\": data_offsets [%llu %llu] begin > end",
                            f->path, name, (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end > f->data_size)
        return nl_error_set(NL_ERR_FORMAT, "safetensors %s: tensor \"%s\": data_offsets [%llu %llu] end past "
                            "the data buffer of %llu bytes", f->path, name, (unsigned long long)e->begin,
                            (unsigned long long)e->end, (unsigned long long)f->data_size);
    if (e->end - e->begin != nbytes) {
        char buf[200];
        return nl_error_set(NL_ERR_FORMAT, "safetensors %s: tensor \"%s\": byte span %llu of data_offsets "
                            "[%llu %llu] != %llu bytes for %s shape %s", f->path, name,
                            (unsigned long long)(e->end - e->begin), (unsigned long long)e->begin,
                            (unsigned long long)e->end, (unsigned long long)nbytes, e->dtype->name,
                            nl_dims_str(e->ndim, e->shape, buf, sizeof buf));
    }
    return NL_OK;
}

static nl_status st_parse_entry(nl_safetensors *f, const cJSON *item, st_entry *e)
{
    const char *name = item->string;
    if (name[0] == '\0')
        return nl_error_set(NL_ERR_FORMAT, "safetensors %s: a tensor has an empty name", f->path);
    if (!cJSON_IsObject(item))
        return nl_error_set(NL_ERR_FORMAT, "safetensors %s: tensor \"%s\": entry is not an object", f->path, name);
    e->name = st_strdup(name);
    if (!e->name) return st_oom(f->path);
    uint64_t nbytes = 0;
    NL_TRY(st_parse_dtype(f, name, cJSON_GetObjectItemCaseSensitive(item, "dtype"), e));
    NL_TRY(st_parse_shape(f, name, cJSON_GetObjectItemCaseSensitive(item, "shape"), e, &nbytes));
    return st_parse_offsets(f, name, cJSON_GetObjectItemCaseSensitive(item, "data_offsets"), e, nbytes);
}

static int st_cmp_name(const void *a, const void *b)
{
    return strcmp((*(const st_entry *const *)a)->name, (*(const st_entry *const *)b)->name);
}

static int st_cmp_range(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Names unique (also indexes them for find); ranges tile the buffer exactly. */
static nl_status st_check_layout(nl_safetensors *f)
{
    const st_entry **ord = malloc((size_t)(f->n + 1) * sizeof *ord);
    f->by_name = malloc((size_t)(f->n + 1) * sizeof *f->by_name);
    if (!ord || !f->by_name) { free(ord); return st_oom(f->path); }
    for (int i = 0; i < f->n; i++) ord[i] = f->by_name[i] = &f->e[i];
    qsort(f->by_name, (size_t)f->n, sizeof *ord, st_cmp_name);
    qsort(ord, (size_t)f->n, sizeof *ord, st_cmp_range);
    nl_status st = NL_OK;
    for (int i = 1; i < f->n && st == NL_OK; i++)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0)
            st = nl_error_set(NL_ERR_FORMAT, "safetensors %s: duplicate tensor name \"%s\"", f->path,
                              f->by_name[i]->name);
    uint64_t at = 0;
    const char *prev = NULL;
    for (int i = 0; i < f->n && st == NL_OK; i++) {
        const st_entry *e = ord[i];
        if (e->begin < at)
            st = nl_error_set(NL_ERR_FORMAT, "safetensors %s: tensor \"%s\" [%llu %llu] overlaps tensor \"%s\" "
                              "ending at %llu", f->path, e->name, (unsigned long long)e->begin,
                              (unsigned long long)e->end, prev, (unsigned long long)at);
        else if (e->begin > at)
            st = nl_error_set(NL_ERR_FORMAT, "safetensors %s: gap of %llu unused bytes [%llu %llu] before "
                              "tensor \"%s\"", f->path, (unsigned long long)(e->begin - at),
                              (unsigned long long)at, (unsigned long long)e->begin, e->name);
        at = e->end;
        prev = e->name;
    }
    if (st == NL_OK && at != f->data_size)
        st = nl_error_set(NL_ERR_FORMAT, "safetensors %s: %llu trailing bytes after the last tensor "
                          "(tensors end at %llu, buffer is %llu bytes)", f->path,
                          (unsigned long long)(f->data_size - at), (unsigned long long)at,
                          (unsigned long long)f->data_size);
    free(ord);
    return st;
}

static nl_status st_parse_header(nl_safetensors *f, const char *hdr, size_t len)
{
    if (hdr[0] != '{')
        return nl_error_set(NL_ERR_FORMAT, "safetensors %s: header does not start with '{' (byte 0x%02x)",
                            f->path, (unsigned char)hdr[0]);
    size_t bad = st_utf8_bad((const uint8_t *)hdr, len);
    if (bad != len)
        return nl_error_set(NL_ERR_FORMAT, "safetensors %s: header is not valid UTF-8 JSON text "
                            "(byte 0x%02x at header offset %zu)", f->path, (unsigned char)hdr[bad], bad);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, len, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return nl_error_set(NL_ERR_FORMAT, "safetensors %s: header of %zu bytes is not a valid JSON object",
                            f->path, len);
    }
    for (const char *p = end; p < hdr + len; p++)
        if (*p != ' ') {
            cJSON_Delete(root);
            return nl_error_set(NL_ERR_FORMAT, "safetensors %s: header has trailing byte 0x%02x at offset %zu "
                                "after the JSON object (only spaces allowed)", f->path, (unsigned char)*p,
                                (size_t)(p - hdr));
        }
    int n = cJSON_GetArraySize(root);
    f->e = calloc((size_t)n + 1, sizeof *f->e);
    nl_status st = f->e ? NL_OK : st_oom(f->path);
    for (const cJSON *it = root->child; it && st == NL_OK; it = it->next) {
        if (strcmp(it->string, ST_META_KEY) == 0) st = st_parse_metadata(f, it);
        else st = st_parse_entry(f, it, &f->e[f->n++]);
    }
    cJSON_Delete(root);
    NL_TRY(st);
    return st_check_layout(f);
}

/* ---- reader ------------------------------------------------------------- */

static nl_status st_map(nl_safetensors *f)
{
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nl_error_set(NL_ERR_IO, "safetensors %s: cannot open: %s", f->path, strerror(errno));
    struct stat sb;
    nl_status st = NL_OK;
    if (fstat(fd, &sb) != 0)
        st = nl_error_set(NL_ERR_IO, "safetensors %s: cannot stat: %s", f->path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = nl_error_set(NL_ERR_IO, "safetensors %s: not a regular file", f->path);
    else if (sb.st_size < 8)
        st = nl_error_set(NL_ERR_FORMAT, "safetensors %s: file is %lld bytes, shorter than the 8-byte header "
                          "length", f->path, (long long)sb.st_size);
    if (st == NL_OK) {
        f->map_size = (size_t)sb.st_size;
        f->map = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f->map == MAP_FAILED) {
            f->map = NULL;
            st = nl_error_set(NL_ERR_IO, "safetensors %s: cannot mmap %zu bytes: %s", f->path, f->map_size,
                              strerror(errno));
        }
    }
    close(fd);
    return st;
}

nl_status nl_safetensors_open(nl_safetensors **out, const char *path)
{
    *out = NULL;
    nl_safetensors *f = calloc(1, sizeof *f);
    if (!f || !(f->path = st_strdup(path))) { free(f); return st_oom(path); }
    nl_status st = st_map(f);
    if (st == NL_OK) {
        const uint8_t *m = f->map;
        uint64_t len = 0;
        for (int k = 7; k >= 0; k--) len = (len << 8) | m[k];
        if (len == 0)
            st = nl_error_set(NL_ERR_FORMAT, "safetensors %s: header length is 0", path);
        else if (len > ST_MAX_HEADER)
            st = nl_error_set(NL_ERR_FORMAT, "safetensors %s: header length %llu exceeds the 100 MB limit",
                              path, (unsigned long long)len);
        else if (len > f->map_size - 8)
            st = nl_error_set(NL_ERR_FORMAT, "safetensors %s: header length %llu + 8 is past the end of the "
                              "%zu-byte file", path, (unsigned long long)len, f->map_size);
        else {
            f->data = m + 8 + len;
            f->data_size = f->map_size - 8 - len;
            st = st_parse_header(f, (const char *)m + 8, (size_t)len);
        }
    }
    if (st != NL_OK) { nl_safetensors_close(f); return st; }
    *out = f;
    return NL_OK;
}

void nl_safetensors_close(nl_safetensors *f)
{
    if (!f) return;
    if (f->map) munmap(f->map, f->map_size);
    for (int i = 0; i < f->n; i++) free(f->e[i].name);
    for (int i = 0; f->meta && i < 2 * f->n_meta; i++) free(f->meta[i]);
    free(f->e);
    free(f->by_name);
    free(f->meta);
    free(f->path);
    free(f);
}

int nl_safetensors_count(const nl_safetensors *f) { return f->n; }

const char *nl_safetensors_name(const nl_safetensors *f, int i)
{
    return i >= 0 && i < f->n ? f->e[i].name : NULL;
}

int nl_safetensors_find(const nl_safetensors *f, const char *name)
{
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(f->by_name[mid]->name, name);
        if (c == 0) return (int)(f->by_name[mid] - f->e);
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

nl_status nl_safetensors_shape(const nl_safetensors *f, int i, nl_dtype *dtype, int *ndim, int64_t *shape)
{
    if (i < 0 || i >= f->n)
        return nl_error_set(NL_ERR_ARG, "safetensors %s: tensor index %d out of range [0, %d)", f->path, i, f->n);
    const st_entry *e = &f->e[i];
    if (dtype) *dtype = e->dtype->dt;
    if (ndim) *ndim = e->ndim;
    if (shape) memcpy(shape, e->shape, (size_t)e->ndim * sizeof *shape);
    return NL_OK;
}

int nl_safetensors_metadata_count(const nl_safetensors *f) { return f->n_meta; }

const char *nl_safetensors_metadata_key(const nl_safetensors *f, int i)
{
    return i >= 0 && i < f->n_meta ? f->meta[2 * i] : NULL;
}

const char *nl_safetensors_metadata(const nl_safetensors *f, const char *key)
{
    for (int k = 0; k < f->n_meta; k++)
        if (strcmp(f->meta[2 * k], key) == 0) return f->meta[2 * k + 1];
    return NULL;
}

/* Levenshtein distance, capped: only used to suggest a close name. */
static size_t st_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 256 || lb > 256) return (size_t)-1;
    size_t row[257];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

static nl_status st_unknown_name(const nl_safetensors *f, const char *name)
{
    const char *best = NULL;
    size_t bd = (size_t)-1, limit = strlen(name) / 3 + 2;
    for (int i = 0; i < f->n; i++) {
        size_t d = st_distance(name, f->e[i].name);
        if (d < bd) { bd = d; best = f->e[i].name; }
    }
    if (best && bd <= limit)
        return nl_error_set(NL_ERR_ARG, "safetensors %s: no tensor named \"%s\" HINT: did you mean \"%s\"?",
                            f->path, name, best);
    return nl_error_set(NL_ERR_ARG, "safetensors %s: no tensor named \"%s\" (the file has %d tensors)",
                        f->path, name, f->n);
}

nl_status nl_safetensors_load(nl_tensor **out, nl_safetensors *f, const char *name, nl_dtype want,
                              nl_device dev)
{
    *out = NULL;
    if ((unsigned)want >= NL_DTYPE_COUNT)
        return nl_error_set(NL_ERR_DTYPE, "safetensors %s: load \"%s\": bad wanted dtype %d", f->path, name,
                            (int)want);
    int i = nl_safetensors_find(f, name);
    if (i < 0) return st_unknown_name(f, name);
    const st_entry *e = &f->e[i];
    const uint8_t *src = f->data + e->begin;
    size_t nbytes = (size_t)(e->end - e->begin);
    void *aligned = NULL;
    if ((uintptr_t)src % e->dtype->size != 0) { /* offsets need not be aligned */
        if (nl_host_alloc(nbytes, &aligned) != NL_OK) return nl_error_prefix(NL_ERR_OOM, "safetensors load");
        memcpy(aligned, src, nbytes);
        src = aligned;
    }
    nl_status st = nl_tensor_from_host(out, want, e->ndim, e->shape, src, e->dtype->dt, dev);
    if (aligned) nl_host_free(aligned, nbytes);
    if (st != NL_OK) return nl_error_prefix(st, "safetensors load");
    return NL_OK;
}

/* ---- writer ------------------------------------------------------------- */

typedef struct st_buf {
    char *p;
    size_t len, cap;
    int oom;
} st_buf;

static void st_put(st_buf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void st_puts(st_buf *b, const char *s) { st_put(b, s, strlen(s)); }

static void st_put_json_string(st_buf *b, const char *s)
{
    st_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') { esc[0] = '\\'; esc[1] = (char)*p; st_put(b, esc, 2); }
        else if (*p < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", *p); st_put(b, esc, 6); }
        else st_put(b, (const char *)p, 1);
    }
    st_put(b, "\"", 1);
}

static const char *st_dtype_name(nl_dtype dt)
{
    for (size_t k = 0; k < ST_NDTYPES; k++)
        if (st_dtypes[k].dt == dt) return st_dtypes[k].name;
    return NULL;
}

static nl_status st_check_save_args(const char *path, int n, const char *const *names,
                                    nl_tensor *const *tensors, int n_meta, const char *const *meta_kv)
{
    if (n < 0 || n_meta < 0 || (n > 0 && (!names || !tensors)) || (n_meta > 0 && !meta_kv))
        return nl_error_set(NL_ERR_ARG, "safetensors save %s: bad counts n=%d n_meta=%d or NULL arrays",
                            path, n, n_meta);
    for (int i = 0; i < n; i++) {
        if (!names[i] || !names[i][0])
            return nl_error_set(NL_ERR_ARG, "safetensors save %s: tensor %d has an empty name", path, i);
        if (strcmp(names[i], ST_META_KEY) == 0)
            return nl_error_set(NL_ERR_ARG, "safetensors save %s: \"%s\" is reserved for metadata", path,
                                names[i]);
        if (!tensors[i])
            return nl_error_set(NL_ERR_ARG, "safetensors save %s: tensor \"%s\" is NULL", path, names[i]);
        if (!st_dtype_name(tensors[i]->dtype))
            return nl_error_set(NL_ERR_DTYPE, "safetensors save %s: tensor \"%s\" has unsupported dtype %s",
                                path, names[i], nl_dtype_name(tensors[i]->dtype));
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return nl_error_set(NL_ERR_ARG, "safetensors save %s: duplicate tensor name \"%s\" "
                                    "(entries %d and %d)", path, names[i], j, i);
    }
    for (int k = 0; k < 2 * n_meta; k++)
        if (!meta_kv[k])
            return nl_error_set(NL_ERR_ARG, "safetensors save %s: metadata %s %d is NULL", path,
                                k % 2 ? "value" : "key", k / 2);
    return NL_OK;
}

/* The header bytes: 8-byte length, JSON, spaces so the data starts at a multiple of 8. */
static nl_status st_build_header(st_buf *b, const char *path, int n, const char *const *names,
                                 nl_tensor *const *tensors, int n_meta, const char *const *meta_kv)
{
    st_put(b, "\0\0\0\0\0\0\0\0{", 9);
    if (n_meta > 0) {
        st_puts(b, "\"" ST_META_KEY "\":{");
        for (int k = 0; k < n_meta; k++) {
            if (k) st_puts(b, ",");
            st_put_json_string(b, meta_kv[2 * k]);
            st_puts(b, ":");
            st_put_json_string(b, meta_kv[2 * k + 1]);
        }
        st_puts(b, "}");
    }
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        const nl_tensor *t = tensors[i];
        char num[64];
        if (i || n_meta > 0) st_puts(b, ",");
        st_put_json_string(b, names[i]);
        st_puts(b, ":{\"dtype\":\"");
        st_puts(b, st_dtype_name(t->dtype));
        st_puts(b, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            st_puts(b, num);
        }
        uint64_t nb = nl_tensor_nbytes(t);
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)at,
                 (unsigned long long)(at + nb));
        st_puts(b, num);
        at += nb;
    }
    st_puts(b, "}");
    while (b->len % 8 != 0) st_puts(b, " ");
    if (b->oom) return st_oom(path);
    uint64_t len = b->len - 8;
    for (int k = 0; k < 8; k++) b->p[k] = (char)(len >> (8 * k));
    return NL_OK;
}

static nl_status st_write_tensor(nl_atomic_file *f, const char *name, const nl_tensor *t)
{
    size_t nb = nl_tensor_nbytes(t);
    if (nb == 0) return NL_OK;
    if (nl_tensor_device(t).type == NL_DEV_CPU && nl_tensor_is_contiguous(t))
        return nl_atomic_write(f, nl_tensor_host_ptr(t), nb);
    void *host;
    NL_TRY(nl_host_alloc(nb, &host));
    nl_status st = nl_tensor_to_host(t, host, t->dtype);
    if (st != NL_OK) {
        nl_host_free(host, nb);
        char who[300];
        snprintf(who, sizeof who, "safetensors save: tensor \"%s\"", name);
        return nl_error_prefix(st, who);
    }
    st = nl_atomic_write(f, host, nb);
    nl_host_free(host, nb);
    return st;
}

nl_status nl_safetensors_save(const char *path, int n, const char *const *names, nl_tensor *const *tensors,
                              int n_meta, const char *const *meta_kv)
{
    NL_TRY(st_check_save_args(path, n, names, tensors, n_meta, meta_kv));
    st_buf hdr = {0};
    nl_status st = st_build_header(&hdr, path, n, names, tensors, n_meta, meta_kv);
    nl_atomic_file f;
    if (st == NL_OK) st = nl_atomic_open(&f, path);
    if (st == NL_OK) {
        st = nl_atomic_write(&f, hdr.p, hdr.len);
        for (int i = 0; i < n && st == NL_OK; i++) st = st_write_tensor(&f, names[i], tensors[i]);
        if (st == NL_OK)
            st = nl_atomic_commit(&f);
        else
            nl_atomic_abort(&f);
    }
    free(hdr.p);
    return st;
}
