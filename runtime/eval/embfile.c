/* embfile.c — saving and loading note-embedding tables (see embfile.h):
 * safetensors with the ids as JSON in __metadata__, or .npy + .ids.txt. */
#define _GNU_SOURCE
#include "embfile.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "atomic.h"
#include "npy.h"
#include "preprocess.h"
#include "safetensors.h"

#define MAX_IDS_FILE (UINT64_C(1) << 34) /* 16 GiB: far beyond any real id list */

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n > k && !strcasecmp(s + n - k, suf);
}

nl_status nl_emb_format_of(const char *path, nl_emb_format *fmt)
{
    if (!path || !fmt) return nl_error_set(NL_ERR_ARG, "embeddings: NULL argument");
    if (ends_with(path, ".safetensors")) *fmt = NL_EMB_SAFETENSORS;
    else if (ends_with(path, ".npy")) *fmt = NL_EMB_NPY;
    else
        return nl_error_set(NL_ERR_ARG, "embeddings %s: unknown format; HINT: name the file X.safetensors or X.npy "
                            "(+ X.ids.txt)", path);
    return NL_OK;
}

nl_status nl_emb_ids_path(const char *npy_path, char **out)
{
    if (!npy_path || !out || !ends_with(npy_path, ".npy"))
        return nl_error_set(NL_ERR_ARG, "embeddings: the ids file belongs to a .npy path, got %s",
                            npy_path ? npy_path : "NULL");
    size_t n = strlen(npy_path) - 4;
    char *s = malloc(n + 9);
    if (!s) return nl_error_set(NL_ERR_OOM, "embeddings: out of memory");
    memcpy(s, npy_path, n);
    memcpy(s + n, ".ids.txt", 9);
    *out = s;
    return NL_OK;
}

nl_status nl_emb_check_unit(const float *e, int64_t n, int64_t d, const char *who)
{
    if ((n && !e) || n < 0 || d < 1)
        return nl_error_set(NL_ERR_ARG, "%s: bad embedding table [%" PRId64 " %" PRId64 "]", who, n, d);
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) s += (double)e[i * d + j] * e[i * d + j];
        double norm = sqrt(s);
        if (!(fabs(norm - 1.0) <= NL_EMB_NORM_TOL))
            return nl_error_set(NL_ERR_FORMAT, "%s: row %" PRId64 " has L2 norm %g, not 1 (tolerance %g); HINT: "
                                "recall takes the dot product as the cosine, normalise the rows (x / |x|) first",
                                who, i, norm, NL_EMB_NORM_TOL);
    }
    return NL_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

nl_status nl_emb_check_ids(const char *const *ids, int64_t n, const char *who)
{
    if (n < 0 || (n && !ids)) return nl_error_set(NL_ERR_ARG, "%s: bad id list (%" PRId64 " ids)", who, n);
    for (int64_t i = 0; i < n; i++) {
        const char *s = ids[i];
        if (!s || !*s) return nl_error_set(NL_ERR_ARG, "%s: note id %" PRId64 " is empty", who, i);
        size_t len = strlen(s);
        if (strpbrk(s, "\r\n"))
            return nl_error_set(NL_ERR_ARG, "%s: note id %" PRId64 " (\"%.*s...\") contains a line break", who, i,
                                (int)strcspn(s, "\r\n"), s);
        if (nl_utf8_check(s, len) != len)
            return nl_error_set(NL_ERR_ARG, "%s: note id %" PRId64 " is not valid UTF-8", who, i);
    }
    const char **sorted = malloc(sizeof *sorted * (size_t)(n ? n : 1));
    if (!sorted) return nl_error_set(NL_ERR_OOM, "%s: out of memory", who);
    memcpy(sorted, ids, sizeof *sorted * (size_t)n);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_str);
    nl_status st = NL_OK;
    for (int64_t i = 1; i < n && st == NL_OK; i++)
        if (!strcmp(sorted[i - 1], sorted[i]))
            st = nl_error_set(NL_ERR_ARG, "%s: note id \"%.60s\" appears twice", who, sorted[i]);
    free(sorted);
    return st;
}

/* ---- saving ------------------------------------------------------------------- */

static nl_status save_ids_txt(const char *path, const char *const *ids, int64_t n)
{
    nl_atomic_file f;
    NL_TRY(nl_atomic_open(&f, path));
    nl_status st = NL_OK;
    for (int64_t i = 0; i < n && st == NL_OK; i++) {
        st = nl_atomic_write(&f, ids[i], strlen(ids[i]));
        if (st == NL_OK) st = nl_atomic_write(&f, "\n", 1);
    }
    if (st != NL_OK) {
        nl_atomic_abort(&f);
        return st;
    }
    return nl_atomic_commit(&f);
}

static nl_status save_safetensors(const char *path, nl_tensor *e, const char *const *ids, int64_t n)
{
    cJSON *arr = cJSON_CreateStringArray(ids, (int)n);
    char *json = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    if (!json) return nl_error_set(NL_ERR_OOM, "embeddings %s: out of memory for the id list", path);
    const char *names[] = {"embeddings"};
    const char *meta[] = {"format", "notellm-embeddings", "note_ids", json};
    nl_status st = nl_safetensors_save(path, 1, names, &e, 2, meta);
    free(json);
    return st;
}

nl_status nl_emb_save(const char *path, const nl_tensor *emb, const char *const *ids, int64_t n)
{
    nl_emb_format fmt;
    NL_TRY(nl_emb_format_of(path, &fmt));
    if (!emb || emb->ndim != 2 || emb->shape[0] != n)
        return nl_error_set(NL_ERR_SHAPE, "embeddings %s: need a [n d] table with n = %" PRId64 " ids, got %s%d-d "
                            "tensor with %" PRId64 " rows", path, n, emb ? "a " : "no ", emb ? emb->ndim : 0,
                            emb && emb->ndim ? emb->shape[0] : 0);
    if (n > INT32_MAX) return nl_error_set(NL_ERR_ARG, "embeddings %s: %" PRId64 " rows (at most 2^31-1)", path, n);
    NL_TRY(nl_emb_check_ids(ids, n, path));
    int64_t d = emb->shape[1];
    float *host = malloc(sizeof *host * (size_t)(n * d > 0 ? n * d : 1));
    if (!host) return nl_error_set(NL_ERR_OOM, "embeddings %s: out of memory", path);
    nl_status st = nl_tensor_to_host(emb, host, NL_F32);
    if (st == NL_OK) st = nl_emb_check_unit(host, n, d, path);
    if (st == NL_OK && fmt == NL_EMB_NPY) {
        char *idp = NULL;
        st = nl_emb_ids_path(path, &idp);
        if (st == NL_OK) st = save_ids_txt(idp, ids, n);
        free(idp);
        if (st == NL_OK) st = nl_npy_save_f32(path, 2, emb->shape, host);
    } else if (st == NL_OK) {
        nl_tensor *t = NULL;
        st = nl_tensor_from_host(&t, NL_F32, 2, emb->shape, host, NL_F32, NL_CPU_DEVICE);
        if (st == NL_OK) st = save_safetensors(path, t, ids, n);
        nl_tensor_release(t);
    }
    free(host);
    return st;
}

/* ---- loading ------------------------------------------------------------------ */

void nl_emb_ids_free(char **ids, int64_t n)
{
    if (!ids) return;
    for (int64_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
}

/* Split text[0..len) into lines ('\n', a final one optional, '\r' before it
 * dropped). NUL bytes and empty lines are errors. */
static nl_status split_lines(const char *path, const char *text, size_t len, char ***out, int64_t *n)
{
    int64_t count = 0;
    for (size_t i = 0; i < len; i++) count += text[i] == '\n';
    if (len && text[len - 1] != '\n') count++;
    char **ids = calloc((size_t)(count ? count : 1), sizeof *ids);
    if (!ids) return nl_error_set(NL_ERR_OOM, "embeddings %s: out of memory", path);
    size_t s = 0;
    for (int64_t k = 0; k < count; k++) {
        size_t e = s;
        while (e < len && text[e] != '\n') e++;
        size_t stop = e > s && text[e - 1] == '\r' ? e - 1 : e;
        if (memchr(text + s, 0, stop - s) || stop == s) {
            nl_emb_ids_free(ids, count);
            return nl_error_set(NL_ERR_FORMAT, "embeddings %s: line %" PRId64 " is %s", path, k + 1,
                                stop == s ? "empty" : "holding a NUL byte");
        }
        ids[k] = strndup(text + s, stop - s);
        if (!ids[k]) {
            nl_emb_ids_free(ids, count);
            return nl_error_set(NL_ERR_OOM, "embeddings %s: out of memory", path);
        }
        s = e + 1;
    }
    *out = ids;
    *n = count;
    return NL_OK;
}

static nl_status load_ids_txt(const char *path, char ***ids, int64_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return nl_error_set(NL_ERR_IO, "embeddings %s: cannot open the ids file: %s", path, strerror(errno));
    struct stat sb;
    nl_status st = NL_OK;
    char *text = NULL;
    if (fstat(fileno(fp), &sb) || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > MAX_IDS_FILE)
        st = nl_error_set(NL_ERR_IO, "embeddings %s: not a regular file of at most 16 GiB", path);
    else if (!(text = malloc((size_t)sb.st_size + 1)))
        st = nl_error_set(NL_ERR_OOM, "embeddings %s: out of memory", path);
    else if (fread(text, 1, (size_t)sb.st_size, fp) != (size_t)sb.st_size)
        st = nl_error_set(NL_ERR_IO, "embeddings %s: short read", path);
    fclose(fp);
    if (st == NL_OK) st = split_lines(path, text, (size_t)sb.st_size, ids, n);
    free(text);
    return st;
}

static nl_status load_safetensors(const char *path, nl_tensor **emb, char ***ids, int64_t *n)
{
    nl_safetensors *f;
    NL_TRY(nl_safetensors_open(&f, path));
    nl_status st = NL_OK;
    int i = nl_safetensors_find(f, "embeddings");
    nl_dtype dt;
    int ndim = 0;
    int64_t shape[NL_MAX_DIMS];
    const char *meta = nl_safetensors_metadata(f, "note_ids");
    cJSON *arr = NULL;
    if (i < 0)
        st = nl_error_set(NL_ERR_FORMAT, "embeddings %s: no tensor \"embeddings\"", path);
    else if ((st = nl_safetensors_shape(f, i, &dt, &ndim, shape)) != NL_OK)
        ;
    else if (ndim != 2 || (dt != NL_F32 && dt != NL_F16 && dt != NL_BF16))
        st = nl_error_set(NL_ERR_FORMAT, "embeddings %s: \"embeddings\" must be a 2-d float tensor, got %d-d %s", path,
                          ndim, nl_dtype_name(dt));
    else if (!meta)
        st = nl_error_set(NL_ERR_FORMAT, "embeddings %s: no \"note_ids\" in __metadata__; HINT: write the file with "
                          "save-embeddings (a JSON array of the ids)", path);
    else if (!(arr = cJSON_Parse(meta)) || !cJSON_IsArray(arr))
        st = nl_error_set(NL_ERR_FORMAT, "embeddings %s: __metadata__ \"note_ids\" is not a JSON array", path);
    else if ((int64_t)cJSON_GetArraySize(arr) != shape[0])
        st = nl_error_set(NL_ERR_FORMAT, "embeddings %s: %d note ids for %" PRId64 " rows", path,
                          cJSON_GetArraySize(arr), shape[0]);
    char **v = NULL;
    if (st == NL_OK && !(v = calloc((size_t)(shape[0] ? shape[0] : 1), sizeof *v)))
        st = nl_error_set(NL_ERR_OOM, "embeddings %s: out of memory", path);
    int64_t k = 0;
    for (cJSON *it = st == NL_OK ? arr->child : NULL; it && st == NL_OK; it = it->next, k++) {
        if (!cJSON_IsString(it))
            st = nl_error_set(NL_ERR_FORMAT, "embeddings %s: note id %" PRId64 " is not a string", path, k);
        else if (!(v[k] = strdup(it->valuestring)))
            st = nl_error_set(NL_ERR_OOM, "embeddings %s: out of memory", path);
    }
    cJSON_Delete(arr);
    if (st == NL_OK) st = nl_safetensors_load(emb, f, "embeddings", NL_F32, NL_CPU_DEVICE);
    nl_safetensors_close(f);
    if (st != NL_OK) {
        nl_emb_ids_free(v, k);
        return st;
    }
    *ids = v;
    *n = shape[0];
    return NL_OK;
}

nl_status nl_emb_load(const char *path, nl_tensor **emb, char ***ids, int64_t *n)
{
    if (!emb || !ids || !n) return nl_error_set(NL_ERR_ARG, "embeddings: NULL argument");
    *emb = NULL, *ids = NULL, *n = 0;
    nl_emb_format fmt;
    NL_TRY(nl_emb_format_of(path, &fmt));
    nl_tensor *t = NULL;
    char **v = NULL;
    int64_t k = 0;
    nl_status st;
    if (fmt == NL_EMB_SAFETENSORS) {
        st = load_safetensors(path, &t, &v, &k);
    } else {
        char *idp = NULL;
        st = nl_npy_load_f32(&t, path);
        if (st == NL_OK && t->ndim != 2)
            st = nl_error_set(NL_ERR_FORMAT, "embeddings %s: the array has %d dims, not 2 [N d]", path, t->ndim);
        if (st == NL_OK) st = nl_emb_ids_path(path, &idp);
        if (st == NL_OK) st = load_ids_txt(idp, &v, &k);
        if (st == NL_OK && k != t->shape[0])
            st = nl_error_set(NL_ERR_FORMAT, "embeddings %s: %" PRId64 " ids in %s for %" PRId64 " rows", path, k, idp,
                              t->shape[0]);
        free(idp);
    }
    if (st == NL_OK && t->shape[1] < 1)
        st = nl_error_set(NL_ERR_FORMAT, "embeddings %s: the rows have width 0", path);
    if (st == NL_OK && nl_emb_check_ids((const char *const *)v, k, path) != NL_OK)
        st = NL_ERR_FORMAT; /* a bad id in a file is a format error (the message stands) */
    if (st == NL_OK) st = nl_emb_check_unit(nl_tensor_host_ptr(t), k, t->shape[1], path);
    if (st != NL_OK) {
        nl_tensor_release(t);
        nl_emb_ids_free(v, k);
        return st;
    }
    *emb = t, *ids = v, *n = k;
    return NL_OK;
}
