/* params.c — named parameter lists and their safetensors round trip. */
#define _GNU_SOURCE
#include "params.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autograd.h"
#include "io/json.h"
#include "io/safetensors.h"

nl_status nl_params_add(nl_params *p, const char *name, nl_tensor *t)
{
    if (nl_params_get(p, name)) return nl_error_set(NL_ERR_ARG, "parameter %s registered twice", name);
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        nl_param *v = realloc(p->v, (size_t)cap * sizeof *v);
        if (!v) return nl_error_set(NL_ERR_OOM, "parameter list: cannot grow to %d entries", cap);
        p->v = v;
        p->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) return nl_error_set(NL_ERR_OOM, "parameter %s: out of memory", name);
    p->v[p->n++] = (nl_param){copy, nl_tensor_retain(t)};
    return NL_OK;
}

nl_status nl_params_new(nl_params *p, nl_tensor **out, const char *name, int ndim,
                        const int64_t *shape, nl_device dev)
{
    nl_tensor *t;
    NL_TRY(nl_tensor_zeros(&t, NL_F32, ndim, shape, dev));
    t->requires_grad = true;
    nl_status st = nl_params_add(p, name, t);
    nl_tensor_release(t); /* the list holds it now (or it is freed on error) */
    if (st == NL_OK && out) *out = t;
    return st;
}

void nl_params_free(nl_params *p)
{
    for (int i = 0; i < p->n; i++) {
        free(p->v[i].name);
        nl_tensor_release(p->v[i].t);
    }
    free(p->v);
    *p = (nl_params){0};
}

nl_tensor *nl_params_get(const nl_params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->v[i].name, name) == 0) return p->v[i].t;
    return NULL;
}

nl_status nl_params_replace(nl_params *p, const char *name, nl_tensor *t)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->v[i].name, name) == 0) {
            nl_tensor_retain(t);
            nl_tensor_release(p->v[i].t);
            p->v[i].t = t;
            return NL_OK;
        }
    return nl_error_set(NL_ERR_ARG, "no parameter named %s", name);
}

int64_t nl_params_numel(const nl_params *p, bool trainable_only)
{
    int64_t n = 0;
    for (int i = 0; i < p->n; i++)
        if (!trainable_only || p->v[i].t->requires_grad) n += nl_tensor_numel(p->v[i].t);
    return n;
}

int nl_params_set_trainable(nl_params *p, const char *prefix, bool trainable)
{
    int n = 0;
    size_t len = strlen(prefix);
    for (int i = 0; i < p->n; i++) {
        if (strncmp(p->v[i].name, prefix, len) != 0) continue;
        p->v[i].t->requires_grad = trainable;
        if (!trainable) nl_zero_grad(p->v[i].t);
        n++;
    }
    return n;
}

/* ---- loading ---------------------------------------------------------- */

/* The files of one checkpoint and, for a sharded one, which file holds each name. */
typedef struct ckpt {
    int nfiles;
    nl_safetensors **files;
    cJSON *index; /* weight_map object or NULL */
} ckpt;

static void ckpt_close(ckpt *c)
{
    for (int i = 0; i < c->nfiles; i++) nl_safetensors_close(c->files[i]);
    free(c->files);
    cJSON_Delete(c->index);
    *c = (ckpt){0};
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static nl_status ckpt_add(ckpt *c, const char *path)
{
    nl_safetensors **f = realloc(c->files, (size_t)(c->nfiles + 1) * sizeof *f);
    if (!f) return nl_error_set(NL_ERR_OOM, "%s: out of memory", path);
    c->files = f;
    NL_TRY(nl_safetensors_open(&c->files[c->nfiles], path));
    c->nfiles++;
    return NL_OK;
}

/* Open every shard named by index.json; store in each weight_map entry the
 * shard number (valueint) so lookups need no string compare of file names. */
static nl_status ckpt_open_index(ckpt *c, const char *dir, const char *index_path)
{
    cJSON *j;
    NL_TRY(nl_json_load(&j, index_path, 0));
    cJSON *map = cJSON_DetachItemFromObjectCaseSensitive(j, "weight_map");
    cJSON_Delete(j);
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(map);
        return nl_error_set(NL_ERR_FORMAT, "%s: missing or non-object key \"weight_map\"", index_path);
    }
    c->index = map;
    char **shards = NULL;
    int nshards = 0;
    nl_status st = NL_OK;
    for (cJSON *e = map->child; e && st == NL_OK; e = e->next) {
        if (!cJSON_IsString(e)) {
            st = nl_error_set(NL_ERR_FORMAT, "%s: weight_map[\"%s\"] is not a file name", index_path, e->string);
            break;
        }
        for (cJSON *d = map->child; d != e; d = d->next)
            if (strcmp(d->string, e->string) == 0) {
                st = nl_error_set(NL_ERR_FORMAT, "%s: tensor %s is listed twice in weight_map", index_path,
                                  e->string);
                break;
            }
        if (st != NL_OK) break;
        if (strchr(e->valuestring, '/')) {
            st = nl_error_set(NL_ERR_FORMAT, "%s: shard name \"%s\" must be a file in the same directory",
                              index_path, e->valuestring);
            break;
        }
        int k = 0;
        while (k < nshards && strcmp(shards[k], e->valuestring) != 0) k++;
        if (k == nshards) {
            char **s2 = realloc(shards, (size_t)(nshards + 1) * sizeof *s2);
            if (!s2) {
                st = nl_error_set(NL_ERR_OOM, "%s: out of memory", index_path);
                break;
            }
            shards = s2;
            shards[nshards++] = e->valuestring;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->valuestring);
            if (!exists(path))
                st = nl_error_set(NL_ERR_IO, "%s: shard %s (holding %s) does not exist", index_path, path,
                                  e->string);
            else
                st = ckpt_add(c, path);
        }
        e->valueint = k;
    }
    free(shards);
    return st;
}

static nl_status ckpt_open(ckpt *c, const char *path)
{
    *c = (ckpt){0};
    nl_status st;
    if (!is_dir(path)) {
        st = ckpt_add(c, path);
    } else {
        char buf[4096];
        snprintf(buf, sizeof buf, "%s/model.safetensors.index.json", path);
        if (exists(buf)) {
            st = ckpt_open_index(c, path, buf);
        } else {
            snprintf(buf, sizeof buf, "%s/model.safetensors", path);
            if (!exists(buf))
                return nl_error_set(NL_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json in this directory",
                                    path);
            st = ckpt_add(c, buf);
        }
    }
    if (st != NL_OK) ckpt_close(c);
    return st;
}

/* Which file holds NAME (index of c->files and of the tensor), or -1. */
static int ckpt_find(const ckpt *c, const char *name, int *ti)
{
    if (c->index) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(c->index, name);
        if (!e) return -1;
        *ti = nl_safetensors_find(c->files[e->valueint], name);
        return *ti < 0 ? -2 : e->valueint;
    }
    *ti = nl_safetensors_find(c->files[0], name);
    return *ti < 0 ? -1 : 0;
}

/* Buffers, not parameters, that HF checkpoints sometimes carry. */
static bool ignored(const char *name)
{
    static const char *const buffers[] = {"rotary_emb.inv_freq", "embeddings.position_ids"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof buffers / sizeof *buffers; i++) {
        size_t k = strlen(buffers[i]);
        if (n >= k && strcmp(name + n - k, buffers[i]) == 0) return true;
    }
    return false;
}

static nl_status load_one(nl_param *pa, const ckpt *c, const char *path, const char *full, int64_t *nonfinite)
{
    int ti, fi = ckpt_find(c, full, &ti);
    if (fi == -2)
        return nl_error_set(NL_ERR_FORMAT, "%s: the index puts %s in a shard that does not hold it", path, full);
    if (fi < 0)
        return nl_error_set(NL_ERR_FORMAT, "%s: missing weight %s (shape %s)", path, full,
                            nl_shape_str(pa->t, (char[96]){0}, 96));
    nl_dtype dt;
    int ndim;
    int64_t shape[NL_MAX_DIMS];
    NL_TRY(nl_safetensors_shape(c->files[fi], ti, &dt, &ndim, shape));
    if (ndim != pa->t->ndim || memcmp(shape, pa->t->shape, (size_t)ndim * sizeof *shape) != 0) {
        char a[96], b[96];
        return nl_error_set(NL_ERR_FORMAT, "%s: weight %s has shape %s in the file but the model (config.json) needs %s",
                            path, full, nl_dims_str(ndim, shape, a, sizeof a), nl_shape_str(pa->t, b, sizeof b));
    }
    nl_tensor *src;
    NL_TRY(nl_safetensors_load(&src, c->files[fi], full, NL_F32, NL_CPU_DEVICE));
    if (nonfinite) {
        const float *v = nl_tensor_host_ptr(src);
        for (int64_t i = 0, n = nl_tensor_numel(src); i < n; i++) *nonfinite += !isfinite(v[i]);
    }
    nl_status st = nl_tensor_copy_(pa->t, src);
    nl_tensor_release(src);
    return st;
}

static nl_status check_unexpected(const nl_params *p, const ckpt *c, const char *path, const char *prefix)
{
    size_t plen = strlen(prefix);
    for (int f = 0; f < c->nfiles; f++)
        for (int i = 0, n = nl_safetensors_count(c->files[f]); i < n; i++) {
            const char *name = nl_safetensors_name(c->files[f], i);
            if (strncmp(name, prefix, plen) != 0 || ignored(name)) continue;
            if (!nl_params_get(p, name + plen))
                return nl_error_set(NL_ERR_FORMAT, "%s: unexpected weight %s (the model has no such parameter)",
                                    path, name);
        }
    return NL_OK;
}

nl_status nl_params_load(nl_params *p, const char *path, const char *file_prefix, bool strict,
                         int64_t *nonfinite)
{
    const char *prefix = file_prefix ? file_prefix : "";
    ckpt c;
    NL_TRY(ckpt_open(&c, path));
    if (nonfinite) *nonfinite = 0;
    nl_status st = strict ? check_unexpected(p, &c, path, prefix) : NL_OK;
    bool grad = nl_grad_set_enabled(false);
    for (int i = 0; i < p->n && st == NL_OK; i++) {
        char full[1024];
        if ((size_t)snprintf(full, sizeof full, "%s%s", prefix, p->v[i].name) >= sizeof full) {
            st = nl_error_set(NL_ERR_ARG, "parameter name %s%s is too long", prefix, p->v[i].name);
            break;
        }
        st = load_one(&p->v[i], &c, path, full, nonfinite);
    }
    nl_grad_set_enabled(grad);
    ckpt_close(&c);
    return st;
}

nl_status nl_params_save(const nl_params *p, const char *path, const char *name_prefix, int n_meta,
                         const char *const *meta_kv)
{
    const char *prefix = name_prefix ? name_prefix : "";
    char **names = calloc((size_t)p->n + 1, sizeof *names);
    nl_tensor **ts = calloc((size_t)p->n + 1, sizeof *ts);
    nl_status st = NL_OK;
    if (!names || !ts) st = nl_error_set(NL_ERR_OOM, "%s: out of memory", path);
    for (int i = 0; i < p->n && st == NL_OK; i++) {
        if (asprintf(&names[i], "%s%s", prefix, p->v[i].name) < 0) {
            names[i] = NULL;
            st = nl_error_set(NL_ERR_OOM, "%s: out of memory", path);
        }
        ts[i] = p->v[i].t;
    }
    if (st == NL_OK) st = nl_safetensors_save(path, p->n, (const char *const *)names, ts, n_meta, meta_kv);
    for (int i = 0; names && i < p->n; i++) free(names[i]);
    free(names);
    free(ts);
    return st;
}
