/* checkpoint.c — training checkpoint directories (runtime/train/checkpoint.h):
 * the files, their FNV-1a-64 listing in state.json, the DIR.tmp/DIR.old swap
 * and its recovery, and loading with every check done before any state is
 * touched. Depends on the runtime core, runtime/io and runtime/nn only. */
#define _GNU_SOURCE
#include "checkpoint.h"

#include <cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic.h"
#include "json.h"
#include "safetensors.h"

#define OPTIM_FORMAT "notellm-optimizer 1"
#define MAX_EXACT (INT64_C(1) << 53) /* integers JSON numbers carry exactly */
#define MAX_FILES 8

static const char *const known_files[] = {"model.safetensors", "optimizer.safetensors", "config.json",
                                          "run.json"};

typedef struct file_rec {
    const char *name;
    int64_t size;
    uint64_t sum;
} file_rec;

/* ---- paths and files ---- */

static char *join(const char *a, const char *b)
{
    char *s;
    return asprintf(&s, "%s/%s", a, b) < 0 ? NULL : s;
}

static nl_status fnv_file(const char *path, const char *what, int64_t *size, uint64_t *sum)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nl_error_set(NL_ERR_IO, "%s: cannot open %s: %s", what, path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        close(fd);
        return nl_error_set(NL_ERR_OOM, "%s: out of memory", what);
    }
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    int64_t total = 0;
    nl_status st = NL_OK;
    for (;;) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            st = nl_error_set(NL_ERR_IO, "%s: read %s: %s", what, path, strerror(errno));
            break;
        }
        if (r == 0) break;
        for (ssize_t i = 0; i < r; i++) h = (h ^ buf[i]) * UINT64_C(0x100000001b3);
        total += r;
    }
    free(buf);
    close(fd);
    *size = total;
    *sum = h;
    return st;
}

static nl_status fsync_dir(const char *path, const char *what)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    nl_status st = NL_OK;
    if (fd < 0 || fsync(fd) != 0)
        st = nl_error_set(NL_ERR_IO, "%s: cannot sync directory %s: %s", what, path, strerror(errno));
    if (fd >= 0) close(fd);
    return st;
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    return remove(path);
}

static int remove_tree(const char *path)
{
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* DIR without trailing slashes, split into parent and base name. */
typedef struct ckpt_path {
    char *dir, *parent;
    const char *base;
} ckpt_path;

static nl_status path_split(ckpt_path *p, const char *dir)
{
    *p = (ckpt_path){0};
    size_t n = dir ? strlen(dir) : 0;
    while (n > 1 && dir[n - 1] == '/') n--;
    if (n == 0 || (n == 1 && dir[0] == '/') || (n == 1 && dir[0] == '.') || (n == 2 && !strncmp(dir, "..", 2)))
        return nl_error_set(NL_ERR_ARG, "checkpoint: bad directory name \"%s\" HINT: name a directory of its own, e.g. run/ckpt",
                            dir ? dir : "");
    p->dir = strndup(dir, n);
    if (!p->dir) return nl_error_set(NL_ERR_OOM, "checkpoint %s: out of memory", dir);
    char *slash = strrchr(p->dir, '/');
    p->parent = slash == p->dir ? strdup("/") : slash ? strndup(p->dir, (size_t)(slash - p->dir)) : strdup(".");
    p->base = slash ? slash + 1 : p->dir;
    if (!p->parent) {
        free(p->dir);
        return nl_error_set(NL_ERR_OOM, "checkpoint %s: out of memory", dir);
    }
    return NL_OK;
}

static void path_free(ckpt_path *p)
{
    free(p->dir);
    free(p->parent);
}

/* Is NAME "<base><tag>XXXXXX" (mkdtemp's six characters)? */
static bool is_sibling(const char *name, const char *base, const char *tag)
{
    size_t bl = strlen(base), tl = strlen(tag);
    if (strncmp(name, base, bl) != 0 || strncmp(name + bl, tag, tl) != 0 || strlen(name + bl + tl) != 6) return false;
    for (const char *s = name + bl + tl; *s; s++)
        if (!isalnum((unsigned char)*s)) return false;
    return true;
}

/* The DIR.old.* holding a state.json with the newest mtime, or NULL. */
static nl_status find_old(const ckpt_path *p, char **out)
{
    *out = NULL;
    DIR *d = opendir(p->parent);
    if (!d) return nl_error_set(NL_ERR_IO, "checkpoint %s: cannot read %s: %s", p->dir, p->parent, strerror(errno));
    struct dirent *e;
    struct timespec best = {0};
    nl_status st = NL_OK;
    while (st == NL_OK && (e = readdir(d))) {
        if (!is_sibling(e->d_name, p->base, ".old.")) continue;
        char *cand, *state;
        if (asprintf(&cand, "%s/%s", p->parent, e->d_name) < 0) {
            st = nl_error_set(NL_ERR_OOM, "checkpoint %s: out of memory", p->dir);
            break;
        }
        struct stat sb;
        state = join(cand, "state.json");
        if (state && stat(state, &sb) == 0 && S_ISREG(sb.st_mode) &&
            (!*out || sb.st_mtim.tv_sec > best.tv_sec ||
             (sb.st_mtim.tv_sec == best.tv_sec && sb.st_mtim.tv_nsec > best.tv_nsec))) {
            free(*out);
            *out = cand;
            best = sb.st_mtim;
            cand = NULL;
        }
        free(state);
        free(cand);
    }
    closedir(d);
    if (st != NL_OK) {
        free(*out);
        *out = NULL;
    }
    return st;
}

/* Undo what an interrupted save left: restore DIR from DIR.old.* when DIR is
 * missing, then remove every DIR.tmp.* and DIR.old.*. */
static nl_status cleanup_strays(const ckpt_path *p)
{
    struct stat sb;
    if (lstat(p->dir, &sb) != 0) {
        if (errno != ENOENT) return nl_error_set(NL_ERR_IO, "checkpoint %s: %s", p->dir, strerror(errno));
        char *old;
        NL_TRY(find_old(p, &old));
        if (old) {
            int rc = rename(old, p->dir);
            nl_status st = rc == 0 ? NL_OK
                                   : nl_error_set(NL_ERR_IO, "checkpoint %s: cannot restore %s: %s", p->dir, old,
                                                  strerror(errno));
            free(old);
            NL_TRY(st);
            NL_TRY(fsync_dir(p->parent, p->dir));
        }
    }
    DIR *d = opendir(p->parent);
    if (!d) return nl_error_set(NL_ERR_IO, "checkpoint %s: cannot read %s: %s", p->dir, p->parent, strerror(errno));
    struct dirent *e;
    nl_status st = NL_OK;
    while (st == NL_OK && (e = readdir(d))) {
        if (!is_sibling(e->d_name, p->base, ".tmp.") && !is_sibling(e->d_name, p->base, ".old.")) continue;
        char *stray;
        if (asprintf(&stray, "%s/%s", p->parent, e->d_name) < 0) {
            st = nl_error_set(NL_ERR_OOM, "checkpoint %s: out of memory", p->dir);
            break;
        }
        if (remove_tree(stray) != 0)
            st = nl_error_set(NL_ERR_IO, "checkpoint %s: cannot remove the leftover %s: %s", p->dir, stray,
                              strerror(errno));
        free(stray);
    }
    closedir(d);
    return st;
}

/* ---- saving ---- */

static nl_status check_json(const char *text, const char *what, bool object)
{
    if (!text) return NL_OK;
    cJSON *j = cJSON_Parse(text);
    bool ok = j && (!object || cJSON_IsObject(j));
    cJSON_Delete(j);
    if (!ok)
        return nl_error_set(NL_ERR_ARG, "checkpoint: the %s text is not %s", what, object ? "a JSON object" : "JSON");
    return NL_OK;
}

static nl_status check_contents(const nl_ckpt_contents *c)
{
    if (!c || !c->params) return nl_error_set(NL_ERR_ARG, "checkpoint: no parameters given");
    const int64_t v[3] = {c->step, c->epoch, c->data_pos};
    const char *nm[3] = {"step", "epoch", "data position"};
    for (int i = 0; i < 3; i++)
        if (v[i] < 0 || v[i] > MAX_EXACT)
            return nl_error_set(NL_ERR_ARG, "checkpoint: %s %" PRId64 " is outside [0, 2^53]", nm[i], v[i]);
    int ws = c->world_size ? c->world_size : 1;
    if (ws < 1 || c->rank < 0 || c->rank >= ws)
        return nl_error_set(NL_ERR_ARG, "checkpoint: rank %d is not in a world of %d", c->rank, ws);
    NL_TRY(check_json(c->config_json, "config.json", true));
    NL_TRY(check_json(c->run_json, "run config", false));
    return check_json(c->metrics_json, "metrics", true);
}

/* The params entry whose tensor is t, or NULL. */
static const char *param_name(const nl_params *p, const nl_tensor *t)
{
    for (int i = 0; i < p->n; i++)
        if (p->v[i].t == t) return p->v[i].name;
    return NULL;
}

/* The shortest decimal that reads back as v. */
static void exact_double(char *buf, size_t n, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* "exp_avg.<name>", "exp_avg_sq.<name>" or "momentum.<name>" (malloc'ed). */
static char *state_key(const nl_optim *o, int k, const char *param)
{
    char *s;
    return asprintf(&s, "%s.%s", nl_optim_state_name(o, k), param) < 0 ? NULL : s;
}

static nl_status save_optim(const char *path, const nl_ckpt_contents *c)
{
    nl_optim *o = c->optim;
    const nl_optim_config *cfg = nl_optim_get_config(o);
    int n = nl_optim_nparams(o), ns = nl_optim_state_count(o);
    size_t cap = (size_t)n * (size_t)ns + 1;
    char **names = calloc(cap, sizeof *names);
    nl_tensor **ts = calloc(cap, sizeof *ts);
    cJSON *list = cJSON_CreateArray();
    char *list_text = NULL;
    int nt = 0;
    nl_status st = names && ts && list ? NL_OK : nl_error_set(NL_ERR_OOM, "%s: out of memory", path);
    for (int i = 0; i < n && st == NL_OK; i++) {
        const char *pn = param_name(c->params, nl_optim_param(o, i));
        if (!pn) {
            st = nl_error_set(NL_ERR_ARG, "checkpoint: optimizer parameter %d is not in the parameter list "
                              "HINT: build the optimizer from the same nl_params", i);
            break;
        }
        cJSON_AddItemToArray(list, cJSON_CreateString(pn));
        for (int k = 0; k < ns && st == NL_OK; k++) {
            nl_tensor *t = nl_optim_state_tensor(o, i, k);
            if (!t) continue;
            if (!(names[nt] = state_key(o, k, pn))) {
                st = nl_error_set(NL_ERR_OOM, "%s: out of memory", path);
                break;
            }
            ts[nt++] = t;
        }
    }
    if (st == NL_OK && !(list_text = cJSON_PrintUnformatted(list)))
        st = nl_error_set(NL_ERR_OOM, "%s: out of memory", path);
    if (st == NL_OK) {
        char num[7][40];
        snprintf(num[0], sizeof num[0], "%" PRId64, nl_optim_steps(o));
        const double hp[6] = {cfg->lr, cfg->beta1, cfg->beta2, cfg->eps, cfg->weight_decay, cfg->momentum};
        for (int i = 0; i < 6; i++) exact_double(num[i + 1], sizeof num[i + 1], hp[i]);
        const char *meta[] = {"format", OPTIM_FORMAT, "kind", cfg->kind == NL_OPTIM_ADAMW ? "adamw" : "sgd",
                              "step", num[0], "lr", num[1], "beta1", num[2], "beta2", num[3], "eps", num[4],
                              "weight_decay", num[5], "momentum", num[6], "params", list_text};
        st = nl_safetensors_save(path, nt, (const char *const *)names, ts, (int)(sizeof meta / sizeof *meta / 2),
                                 meta);
    }
    for (int i = 0; i < nt; i++) free(names[i]);
    free(names);
    free(ts);
    free(list_text);
    cJSON_Delete(list);
    return st;
}

static nl_status save_text(const char *path, const char *text)
{
    return nl_atomic_save(path, text, strlen(text));
}

static nl_status add_rec(file_rec *recs, int *n, const char *tmp, const char *name)
{
    char *path = join(tmp, name);
    if (!path) return nl_error_set(NL_ERR_OOM, "checkpoint: out of memory");
    recs[*n].name = name;
    nl_status st = fnv_file(path, "checkpoint", &recs[*n].size, &recs[*n].sum);
    free(path);
    if (st == NL_OK) (*n)++;
    return st;
}

static nl_status save_state(const char *path, const nl_ckpt_contents *c, const file_rec *recs, int nrec)
{
    cJSON *s = cJSON_CreateObject(), *rng = cJSON_CreateArray(), *files = cJSON_CreateArray();
    nl_status st = s && rng && files ? NL_OK : nl_error_set(NL_ERR_OOM, "%s: out of memory", path);
    if (st == NL_OK) {
        cJSON_AddStringToObject(s, "format", NL_CKPT_FORMAT);
        cJSON_AddNumberToObject(s, "step", (double)c->step);
        cJSON_AddNumberToObject(s, "epoch", (double)c->epoch);
        cJSON_AddNumberToObject(s, "data_position", (double)c->data_pos);
        cJSON_AddNumberToObject(s, "world_size", c->world_size ? c->world_size : 1);
        cJSON_AddNumberToObject(s, "rank", c->rank);
        for (int i = 0; c->rng && i < 4; i++) {
            char w[24];
            snprintf(w, sizeof w, "%" PRIu64, c->rng->s[i]);
            cJSON_AddItemToArray(rng, cJSON_CreateString(w));
        }
        if (c->rng) cJSON_AddItemToObject(s, "rng", rng);
        else cJSON_Delete(rng);
        rng = NULL;
        for (int i = 0; i < nrec; i++) {
            cJSON *f = cJSON_CreateObject();
            char sum[20];
            snprintf(sum, sizeof sum, "%016" PRIx64, recs[i].sum);
            cJSON_AddStringToObject(f, "name", recs[i].name);
            cJSON_AddNumberToObject(f, "size", (double)recs[i].size);
            cJSON_AddStringToObject(f, "fnv1a64", sum);
            cJSON_AddItemToArray(files, f);
        }
        cJSON_AddItemToObject(s, "files", files);
        files = NULL;
        if (c->metrics_json) cJSON_AddItemToObject(s, "metrics", cJSON_Parse(c->metrics_json));
        char *text = cJSON_Print(s);
        st = text ? save_text(path, text) : nl_error_set(NL_ERR_OOM, "%s: out of memory", path);
        free(text);
    }
    cJSON_Delete(rng);
    cJSON_Delete(files);
    cJSON_Delete(s);
    return st;
}

/* Every file of the checkpoint into the (empty) directory tmp. */
static nl_status write_files(const char *tmp, const nl_ckpt_contents *c)
{
    file_rec recs[MAX_FILES];
    int nrec = 0;
    char *path = join(tmp, "model.safetensors");
    const char *meta[] = {"format", "pt"};
    nl_status st = path ? nl_params_save(c->params, path, NULL, 1, meta) : nl_error_set(NL_ERR_OOM, "checkpoint: out of memory");
    free(path);
    if (st == NL_OK) st = add_rec(recs, &nrec, tmp, "model.safetensors");
    if (st == NL_OK && c->optim) {
        path = join(tmp, "optimizer.safetensors");
        st = path ? save_optim(path, c) : nl_error_set(NL_ERR_OOM, "checkpoint: out of memory");
        free(path);
        if (st == NL_OK) st = add_rec(recs, &nrec, tmp, "optimizer.safetensors");
    }
    const char *texts[2] = {c->config_json, c->run_json}, *names[2] = {"config.json", "run.json"};
    for (int i = 0; i < 2 && st == NL_OK; i++) {
        if (!texts[i]) continue;
        path = join(tmp, names[i]);
        st = path ? save_text(path, texts[i]) : nl_error_set(NL_ERR_OOM, "checkpoint: out of memory");
        free(path);
        if (st == NL_OK) st = add_rec(recs, &nrec, tmp, names[i]);
    }
    if (st == NL_OK) {
        path = join(tmp, "state.json");
        st = path ? save_state(path, c, recs, nrec) : nl_error_set(NL_ERR_OOM, "checkpoint: out of memory");
        free(path);
    }
    return st == NL_OK ? fsync_dir(tmp, "checkpoint") : st;
}

/* DIR -> DIR.old.XXXXXX (if present), tmp -> DIR, sync, drop the old one. */
static nl_status swap_in(const ckpt_path *p, const char *tmp)
{
    char *old = NULL;
    struct stat sb;
    if (lstat(p->dir, &sb) == 0) {
        if (asprintf(&old, "%s.old.XXXXXX", p->dir) < 0) return nl_error_set(NL_ERR_OOM, "checkpoint: out of memory");
        /* mkdtemp reserves a unique name; rename() may replace an empty directory */
        bool made = mkdtemp(old) != NULL;
        if (!made || rename(p->dir, old) != 0) {
            nl_status st = nl_error_set(NL_ERR_IO, "checkpoint %s: cannot move the previous checkpoint aside: %s",
                                        p->dir, strerror(errno));
            if (made) rmdir(old);
            free(old);
            return st;
        }
    }
    if (rename(tmp, p->dir) != 0) {
        nl_status st = nl_error_set(NL_ERR_IO, "checkpoint %s: cannot rename %s into place: %s", p->dir, tmp,
                                    strerror(errno));
        if (old) rename(old, p->dir);
        free(old);
        return st;
    }
    nl_status st = fsync_dir(p->parent, p->dir);
    if (st == NL_OK && old) {
        /* the new checkpoint is durable; a failed removal is retried by the next save */
        remove_tree(old);
        fsync_dir(p->parent, p->dir);
    }
    free(old);
    return st;
}

nl_status nl_checkpoint_save(const char *dir, const nl_ckpt_contents *c)
{
    NL_TRY(check_contents(c));
    ckpt_path p;
    NL_TRY(path_split(&p, dir));
    struct stat sb;
    nl_status st = NL_OK;
    if (lstat(p.dir, &sb) == 0 && !S_ISDIR(sb.st_mode))
        st = nl_error_set(NL_ERR_IO, "checkpoint %s: exists and is not a directory", p.dir);
    if (st == NL_OK) st = nl_ensure_dir(p.parent);
    if (st == NL_OK) st = cleanup_strays(&p);
    char *tmp = NULL;
    if (st == NL_OK && asprintf(&tmp, "%s.tmp.XXXXXX", p.dir) < 0) {
        tmp = NULL;
        st = nl_error_set(NL_ERR_OOM, "checkpoint: out of memory");
    }
    if (st == NL_OK && !mkdtemp(tmp)) {
        st = nl_error_set(NL_ERR_IO, "checkpoint %s: cannot create %s: %s", p.dir, tmp, strerror(errno));
        free(tmp);
        tmp = NULL;
    }
    if (st == NL_OK && chmod(tmp, 0755) != 0)
        st = nl_error_set(NL_ERR_IO, "checkpoint %s: chmod %s: %s", p.dir, tmp, strerror(errno));
    if (st == NL_OK) st = write_files(tmp, c);
    if (st == NL_OK) st = swap_in(&p, tmp);
    if (st != NL_OK && tmp) remove_tree(tmp);
    free(tmp);
    path_free(&p);
    return st;
}

/* ---- loading ---- */

typedef struct loaded {
    const char *dir;           /* the directory actually read */
    cJSON *state;
    file_rec files[MAX_FILES];
    int nfiles;
    int64_t step, epoch, data_pos;
    uint64_t rng[4];
    bool has_rng;
} loaded;

static const file_rec *find_file(const loaded *L, const char *name)
{
    for (int i = 0; i < L->nfiles; i++)
        if (!strcmp(L->files[i].name, name)) return &L->files[i];
    return NULL;
}

static nl_status parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || strlen(s) > 20) return NL_ERR_FORMAT;
    uint64_t v = 0;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9') return NL_ERR_FORMAT;
        unsigned d = (unsigned)(*c - '0');
        if (v > (UINT64_MAX - d) / 10) return NL_ERR_FORMAT;
        v = v * 10 + d;
    }
    *out = v;
    return NL_OK;
}

static nl_status read_state(loaded *L, const nl_ckpt_contents *c, const char *state_path)
{
    const char *w = state_path;
    const char *fmt = NULL;
    NL_TRY(nl_json_str(L->state, w, "format", true, &fmt));
    if (strcmp(fmt, NL_CKPT_FORMAT) != 0)
        return nl_error_set(NL_ERR_FORMAT, "%s: format is \"%s\", expected \"%s\" HINT: written by another notellm version?",
                            w, fmt, NL_CKPT_FORMAT);
    int64_t ws = 1, rank = 0;
    NL_TRY(nl_json_int(L->state, w, "world_size", true, 1, INT32_MAX, &ws));
    NL_TRY(nl_json_int(L->state, w, "rank", true, 0, ws - 1, &rank));
    int want_ws = c->world_size ? c->world_size : 1;
    if (ws != want_ws || rank != c->rank)
        return nl_error_set(NL_ERR_FORMAT, "%s: written by rank %" PRId64 " of a world of %" PRId64
                            ", this is rank %d of %d HINT: resume with the same world size",
                            w, rank, ws, c->rank, want_ws);
    NL_TRY(nl_json_int(L->state, w, "step", true, 0, MAX_EXACT, &L->step));
    NL_TRY(nl_json_int(L->state, w, "epoch", true, 0, MAX_EXACT, &L->epoch));
    NL_TRY(nl_json_int(L->state, w, "data_position", true, 0, MAX_EXACT, &L->data_pos));
    const cJSON *rng = cJSON_GetObjectItemCaseSensitive(L->state, "rng");
    L->has_rng = rng != NULL;
    if (rng && (!cJSON_IsArray(rng) || cJSON_GetArraySize(rng) != 4))
        return nl_error_set(NL_ERR_FORMAT, "%s: rng must be 4 decimal strings", w);
    for (int i = 0; rng && i < 4; i++)
        if (parse_u64(cJSON_GetStringValue(cJSON_GetArrayItem(rng, i)), &L->rng[i]) != NL_OK)
            return nl_error_set(NL_ERR_FORMAT, "%s: rng word %d is not a decimal 64-bit integer", w, i);
    if (c->rng && !rng)
        return nl_error_set(NL_ERR_FORMAT, "%s: the checkpoint holds no RNG state", w);
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(L->state, "files"), *f;
    if (!cJSON_IsArray(files)) return nl_error_set(NL_ERR_FORMAT, "%s: missing the \"files\" list", w);
    cJSON_ArrayForEach(f, files) {
        const char *name = NULL, *sum = NULL;
        int64_t size = 0;
        if (!cJSON_IsObject(f)) return nl_error_set(NL_ERR_FORMAT, "%s: a \"files\" entry is not an object", w);
        NL_TRY(nl_json_str(f, w, "name", true, &name));
        NL_TRY(nl_json_int(f, w, "size", true, 0, MAX_EXACT, &size));
        NL_TRY(nl_json_str(f, w, "fnv1a64", true, &sum));
        const char *known = NULL;
        for (size_t k = 0; k < sizeof known_files / sizeof *known_files; k++)
            if (!strcmp(name, known_files[k])) known = known_files[k];
        if (!known) return nl_error_set(NL_ERR_FORMAT, "%s: unknown file \"%s\" in the file list", w, name);
        if (find_file(L, known)) return nl_error_set(NL_ERR_FORMAT, "%s: %s is listed twice", w, name);
        char *end;
        errno = 0;
        uint64_t v = strtoull(sum, &end, 16);
        if (strlen(sum) != 16 || *end || errno)
            return nl_error_set(NL_ERR_FORMAT, "%s: the checksum of %s is not 16 hex digits", w, name);
        L->files[L->nfiles++] = (file_rec){known, size, v};
    }
    if (!find_file(L, "model.safetensors"))
        return nl_error_set(NL_ERR_FORMAT, "%s: model.safetensors is not in the file list", w);
    return NL_OK;
}

static nl_status verify_files(const loaded *L)
{
    for (int i = 0; i < L->nfiles; i++) {
        const file_rec *r = &L->files[i];
        char *path = join(L->dir, r->name);
        if (!path) return nl_error_set(NL_ERR_OOM, "checkpoint: out of memory");
        struct stat sb;
        nl_status st = NL_OK;
        int64_t size;
        uint64_t sum;
        if (stat(path, &sb) != 0)
            st = nl_error_set(errno == ENOENT ? NL_ERR_FORMAT : NL_ERR_IO, "checkpoint %s: %s is %s", L->dir,
                              r->name, errno == ENOENT ? "missing (listed in state.json)" : strerror(errno));
        else if ((int64_t)sb.st_size != r->size)
            st = nl_error_set(NL_ERR_FORMAT, "checkpoint %s: %s has %" PRId64 " bytes, state.json says %" PRId64
                              " (truncated or replaced)", L->dir, r->name, (int64_t)sb.st_size, r->size);
        else if ((st = fnv_file(path, L->dir, &size, &sum)) == NL_OK && (size != r->size || sum != r->sum))
            st = nl_error_set(NL_ERR_FORMAT, "checkpoint %s: %s is corrupt: FNV-1a-64 %016" PRIx64
                              ", state.json says %016" PRIx64, L->dir, r->name, sum, r->sum);
        free(path);
        NL_TRY(st);
    }
    return NL_OK;
}

static bool same_shape(nl_safetensors *f, int idx, const nl_tensor *t)
{
    nl_dtype dt;
    int nd;
    int64_t sh[NL_MAX_DIMS];
    if (nl_safetensors_shape(f, idx, &dt, &nd, sh) != NL_OK || nd != t->ndim) return false;
    for (int d = 0; d < nd; d++)
        if (sh[d] != t->shape[d]) return false;
    return true;
}

/* Every parameter present with its shape and nothing else (checked before
 * nl_params_load so that a mismatch leaves the parameters untouched). */
static nl_status check_model(nl_safetensors *f, const nl_params *p, const char *path)
{
    for (int i = 0; i < p->n; i++) {
        int idx = nl_safetensors_find(f, p->v[i].name);
        if (idx < 0) return nl_error_set(NL_ERR_FORMAT, "%s: missing weight %s", path, p->v[i].name);
        if (!same_shape(f, idx, p->v[i].t))
            return nl_error_set(NL_ERR_FORMAT, "%s: weight %s has another shape than the parameter", path,
                                p->v[i].name);
    }
    for (int i = 0; i < nl_safetensors_count(f); i++)
        if (!nl_params_get(p, nl_safetensors_name(f, i)))
            return nl_error_set(NL_ERR_FORMAT, "%s: unexpected weight %s (the model has no such parameter)", path,
                                nl_safetensors_name(f, i));
    return NL_OK;
}

static nl_status meta_num(nl_safetensors *f, const char *path, const char *key, double *out)
{
    const char *s = nl_safetensors_metadata(f, key);
    char *end;
    if (s) *out = strtod(s, &end);
    if (!s || !*s || *end) return nl_error_set(NL_ERR_FORMAT, "%s: metadata %s is missing or not a number", path, key);
    return NL_OK;
}

static bool in_list(const cJSON *list, const char *name)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, list) {
        const char *s = cJSON_GetStringValue(e);
        if (s && !strcmp(s, name)) return true;
    }
    return false;
}

/* The optimizer file against the optimizer: format, kind, hyper-parameters,
 * parameter names in order, and every state tensor's name and shape. */
static nl_status check_optim(nl_safetensors *f, const nl_ckpt_contents *c, const char *path, int64_t *steps,
                             double *lr)
{
    nl_optim *o = c->optim;
    const nl_optim_config *cfg = nl_optim_get_config(o);
    const char *fmt = nl_safetensors_metadata(f, "format"), *kind = nl_safetensors_metadata(f, "kind");
    if (!fmt || strcmp(fmt, OPTIM_FORMAT) != 0)
        return nl_error_set(NL_ERR_FORMAT, "%s: format is \"%s\", expected \"%s\"", path, fmt ? fmt : "(none)", OPTIM_FORMAT);
    const char *want = cfg->kind == NL_OPTIM_ADAMW ? "adamw" : "sgd";
    if (!kind || strcmp(kind, want) != 0)
        return nl_error_set(NL_ERR_FORMAT, "%s: optimizer state is for %s, the optimizer is %s", path,
                            kind ? kind : "(none)", want);
    uint64_t st_u;
    if (parse_u64(nl_safetensors_metadata(f, "step"), &st_u) != NL_OK || st_u > (uint64_t)INT64_MAX)
        return nl_error_set(NL_ERR_FORMAT, "%s: metadata step is missing or not a count", path);
    *steps = (int64_t)st_u;
    NL_TRY(meta_num(f, path, "lr", lr));
    const char *keys[5] = {"beta1", "beta2", "eps", "weight_decay", "momentum"};
    const double have[5] = {cfg->beta1, cfg->beta2, cfg->eps, cfg->weight_decay, cfg->momentum};
    for (int i = 0; i < 5; i++) {
        bool used = i == 3 || (cfg->kind == NL_OPTIM_ADAMW) == (i < 3); /* betas, eps: AdamW; momentum: SGD */
        if (!used) continue;
        double v;
        NL_TRY(meta_num(f, path, keys[i], &v));
        if (v != have[i])
            return nl_error_set(NL_ERR_FORMAT, "%s: %s is %.17g in the checkpoint but %.17g in the optimizer "
                                "HINT: build the optimizer with the checkpoint's hyper-parameters", path, keys[i], v, have[i]);
    }
    const char *list_text = nl_safetensors_metadata(f, "params");
    cJSON *list = list_text ? cJSON_Parse(list_text) : NULL;
    nl_status st = cJSON_IsArray(list) ? NL_OK : nl_error_set(NL_ERR_FORMAT, "%s: metadata params is not a list of names", path);
    int n = nl_optim_nparams(o), ns = nl_optim_state_count(o);
    for (int i = 0; i < n && st == NL_OK; i++) {
        const char *pn = param_name(c->params, nl_optim_param(o, i));
        const char *fn = cJSON_GetStringValue(cJSON_GetArrayItem(list, i));
        if (!pn)
            st = nl_error_set(NL_ERR_ARG, "checkpoint: optimizer parameter %d is not in the parameter list", i);
        else if (!fn)
            st = nl_error_set(NL_ERR_FORMAT, "%s: no optimizer state for parameter %s (the checkpoint's "
                              "optimizer has %d parameters, this one %d)", path, pn, cJSON_GetArraySize(list), n);
        else if (strcmp(pn, fn) != 0)
            st = nl_error_set(NL_ERR_FORMAT, "%s: optimizer parameter %d is %s in the checkpoint but %s here",
                              path, i, fn, pn);
        for (int k = 0; k < ns && st == NL_OK; k++) {
            char *name = state_key(o, k, pn);
            int idx = name ? nl_safetensors_find(f, name) : -1;
            if (!name)
                st = nl_error_set(NL_ERR_OOM, "checkpoint: out of memory");
            else if (idx >= 0 && !same_shape(f, idx, nl_optim_param(o, i)))
                st = nl_error_set(NL_ERR_FORMAT, "%s: state %s does not have the shape of parameter %s",
                                  path, name, pn);
            free(name);
        }
    }
    if (st == NL_OK && cJSON_GetArraySize(list) != n) {
        const char *extra = cJSON_GetStringValue(cJSON_GetArrayItem(list, n));
        st = nl_error_set(NL_ERR_FORMAT, "%s: the checkpoint's optimizer also holds parameter %s, which this "
                          "optimizer lacks", path, extra ? extra : "?");
    }
    /* every tensor in the file must be a state of a listed parameter */
    for (int t = 0; t < nl_safetensors_count(f) && st == NL_OK; t++) {
        const char *tn = nl_safetensors_name(f, t);
        bool ok = false;
        for (int k = 0; k < ns && !ok; k++) {
            const char *sn = nl_optim_state_name(o, k);
            size_t sl = strlen(sn);
            ok = !strncmp(tn, sn, sl) && tn[sl] == '.' && in_list(list, tn + sl + 1);
        }
        if (!ok) st = nl_error_set(NL_ERR_FORMAT, "%s: unexpected tensor %s", path, tn);
    }
    cJSON_Delete(list);
    return st;
}

static nl_status load_optim(nl_safetensors *f, const nl_ckpt_contents *c, int64_t steps, double lr)
{
    nl_optim *o = c->optim;
    int n = nl_optim_nparams(o), ns = nl_optim_state_count(o);
    for (int i = 0; i < n; i++) {
        nl_tensor *p = nl_optim_param(o, i);
        const char *pn = param_name(c->params, p);
        for (int k = 0; k < ns; k++) {
            char *name = state_key(o, k, pn);
            nl_tensor *t = NULL;
            nl_status st = name ? NL_OK : nl_error_set(NL_ERR_OOM, "checkpoint: out of memory");
            if (st == NL_OK && nl_safetensors_find(f, name) >= 0)
                st = nl_safetensors_load(&t, f, name, NL_F32, nl_tensor_device(p));
            free(name);
            if (st == NL_OK) st = nl_optim_set_state(o, i, k, t);
            nl_tensor_release(t);
            NL_TRY(st);
        }
    }
    nl_optim_set_steps(o, steps);
    nl_optim_set_lr(o, lr);
    return NL_OK;
}

static nl_status read_text(const loaded *L, const char *name, char **out)
{
    *out = NULL;
    const file_rec *r = find_file(L, name);
    if (!r) return NL_OK;
    char *path = join(L->dir, name);
    FILE *fp = path ? fopen(path, "rb") : NULL;
    char *buf = fp ? malloc((size_t)r->size + 1) : NULL;
    nl_status st = NL_OK;
    if (!path || (fp && !buf)) st = nl_error_set(NL_ERR_OOM, "checkpoint: out of memory");
    else if (!fp) st = nl_error_set(NL_ERR_IO, "checkpoint %s: cannot open %s: %s", L->dir, name, strerror(errno));
    else if (fread(buf, 1, (size_t)r->size, fp) != (size_t)r->size)
        st = nl_error_set(NL_ERR_IO, "checkpoint %s: cannot read %s", L->dir, name);
    if (fp) fclose(fp);
    free(path);
    if (st != NL_OK) {
        free(buf);
        return st;
    }
    buf[r->size] = '\0';
    *out = buf;
    return NL_OK;
}

static nl_status load_from(loaded *L, nl_ckpt_contents *c)
{
    char *state_path = join(L->dir, "state.json"), *model = join(L->dir, "model.safetensors"),
         *optp = join(L->dir, "optimizer.safetensors");
    nl_safetensors *mf = NULL, *of = NULL;
    char *texts[3] = {NULL, NULL, NULL};
    int64_t osteps = 0;
    double lr = 0;
    struct stat sb;
    nl_status st = state_path && model && optp ? NL_OK : nl_error_set(NL_ERR_OOM, "checkpoint: out of memory");
    if (st == NL_OK && stat(state_path, &sb) != 0)
        st = nl_error_set(NL_ERR_FORMAT, "checkpoint %s: no state.json (not a notellm checkpoint, or an incomplete one)", L->dir);
    if (st == NL_OK) st = nl_json_load(&L->state, state_path, 0);
    if (st == NL_OK) st = read_state(L, c, state_path);
    if (st == NL_OK) st = verify_files(L);
    if (st == NL_OK && c->optim && !find_file(L, "optimizer.safetensors"))
        st = nl_error_set(NL_ERR_FORMAT, "checkpoint %s: no optimizer state (optimizer.safetensors is not in state.json)", L->dir);
    if (st == NL_OK) st = nl_safetensors_open(&mf, model);
    if (st == NL_OK) st = check_model(mf, c->params, model);
    if (st == NL_OK && c->optim) st = nl_safetensors_open(&of, optp);
    if (st == NL_OK && c->optim) st = check_optim(of, c, optp, &osteps, &lr);
    if (st == NL_OK) st = read_text(L, "config.json", &texts[0]);
    if (st == NL_OK) st = read_text(L, "run.json", &texts[1]);
    const cJSON *metrics = L->state ? cJSON_GetObjectItemCaseSensitive(L->state, "metrics") : NULL;
    if (st == NL_OK && metrics && !(texts[2] = cJSON_PrintUnformatted(metrics)))
        st = nl_error_set(NL_ERR_OOM, "checkpoint: out of memory");
    /* everything validated: now modify the caller's state */
    if (st == NL_OK) st = nl_params_load(c->params, model, NULL, true, NULL);
    if (st == NL_OK && c->optim) st = load_optim(of, c, osteps, lr);
    if (st == NL_OK) {
        if (c->rng) memcpy(c->rng->s, L->rng, sizeof L->rng);
        c->step = L->step;
        c->epoch = L->epoch;
        c->data_pos = L->data_pos;
        nl_ckpt_contents_clear(c);
        c->loaded_config_json = texts[0];
        c->loaded_run_json = texts[1];
        c->loaded_metrics_json = texts[2];
    } else {
        for (int i = 0; i < 3; i++) free(texts[i]);
    }
    nl_safetensors_close(mf);
    nl_safetensors_close(of);
    free(state_path);
    free(model);
    free(optp);
    return st;
}

nl_status nl_checkpoint_load(const char *dir, nl_ckpt_contents *c)
{
    if (!c || !c->params) return nl_error_set(NL_ERR_ARG, "checkpoint: no parameters given");
    ckpt_path p;
    NL_TRY(path_split(&p, dir));
    char *old = NULL;
    struct stat sb;
    nl_status st = NL_OK;
    if (stat(p.dir, &sb) != 0) {
        if (errno != ENOENT) st = nl_error_set(NL_ERR_IO, "checkpoint %s: %s", p.dir, strerror(errno));
        else if ((st = find_old(&p, &old)) == NL_OK && !old)
            st = nl_error_set(NL_ERR_IO, "checkpoint %s: no such directory", p.dir);
    } else if (!S_ISDIR(sb.st_mode)) {
        st = nl_error_set(NL_ERR_IO, "checkpoint %s: not a directory", p.dir);
    }
    loaded L = {.dir = old ? old : p.dir};
    if (st == NL_OK) st = load_from(&L, c);
    if (st == NL_OK) c->recovered = old != NULL;
    cJSON_Delete(L.state);
    free(old);
    path_free(&p);
    return st;
}

void nl_ckpt_contents_clear(nl_ckpt_contents *c)
{
    free(c->loaded_config_json);
    free(c->loaded_run_json);
    free(c->loaded_metrics_json);
    c->loaded_config_json = c->loaded_run_json = c->loaded_metrics_json = NULL;
}
