/* notes.c — the NoteLLM dataset loader: CSV rows → sanitized, preprocessed
 * notes kept in a string arena, an open-addressing id → index map, pair
 * files matched by directory scan, image existence by stat(2). Problems in
 * rows are counted in the report; only unreadable or unparsable files fail. */
#define _GNU_SOURCE
#include "notes.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "csv.h"

/* ---- string arena ------------------------------------------------------ */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    char data[];
} chunk;

typedef struct arena {
    chunk *head;
} arena;

static nl_status arena_dup(arena *a, const char *s, size_t n, const char **out)
{
    chunk *c = a->head;
    if (!c || c->cap - c->used < n + 1) {
        size_t cap = n + 1 > ((size_t)1 << 20) ? n + 1 : ((size_t)1 << 20);
        c = malloc(sizeof *c + cap);
        if (!c) return nl_error_set(NL_ERR_OOM, "notes: cannot allocate %zu bytes of text", cap);
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    char *p = c->data + c->used;
    memcpy(p, s, n);
    p[n] = '\0';
    c->used += n + 1;
    *out = p;
    return NL_OK;
}

static void arena_free(arena *a)
{
    for (chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
}

/* ---- the dataset ------------------------------------------------------- */

typedef struct pair_list {
    char *name;
    nl_note_pair *v;
    size_t n, cap, skipped;
} pair_list;

struct nl_notes {
    char *dir;
    arena text;
    nl_note *notes;
    size_t n, cap;
    size_t *line; /* line of each note in its file (for duplicate messages) */
    int64_t *map; /* open addressing over note indices, -1 = empty */
    size_t map_cap;
    pair_list *lists;
    size_t n_lists, cap_lists;
    nl_notes_report rep;
    nl_preprocess_opts opts;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int64_t nl_notes_find(const nl_notes *ds, const char *id)
{
    if (!ds || !id || !ds->map_cap) return -1;
    size_t mask = ds->map_cap - 1;
    for (size_t s = hash_str(id) & mask;; s = (s + 1) & mask) {
        int64_t k = ds->map[s];
        if (k < 0) return -1;
        if (!strcmp(ds->notes[k].id, id)) return k;
    }
}

static void map_put(nl_notes *ds, int64_t idx)
{
    size_t mask = ds->map_cap - 1, s = hash_str(ds->notes[idx].id) & mask;
    while (ds->map[s] >= 0) s = (s + 1) & mask;
    ds->map[s] = idx;
}

/* Keep the load factor <= 1/2 for n + 1 entries. */
static nl_status map_reserve(nl_notes *ds)
{
    if (2 * (ds->n + 1) <= ds->map_cap) return NL_OK;
    size_t cap = ds->map_cap ? ds->map_cap * 2 : 1024;
    int64_t *m = malloc(cap * sizeof *m);
    if (!m) return nl_error_set(NL_ERR_OOM, "notes: cannot allocate the id map (%zu slots)", cap);
    for (size_t i = 0; i < cap; i++) m[i] = -1;
    free(ds->map);
    ds->map = m;
    ds->map_cap = cap;
    for (size_t i = 0; i < ds->n; i++) map_put(ds, (int64_t)i);
    return NL_OK;
}

static void example(nl_notes_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void example(nl_notes_report *r, const char *fmt, ...)
{
    if (r->n_examples >= NL_NOTES_MAX_EXAMPLES) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->examples[r->n_examples++], sizeof r->examples[0], fmt, ap);
    va_end(ap);
}

/* Sanitize one field into a fresh buffer (counts U+FFFDs). */
static nl_status clean_field(nl_notes *ds, const char *s, size_t n, char **out, size_t *on)
{
    size_t rep = 0;
    NL_TRY(nl_utf8_sanitize(s, n, out, on, &rep));
    ds->rep.invalid_utf8 += rep;
    return NL_OK;
}

/* ---- notes files ------------------------------------------------------- */

typedef struct notes_ctx {
    nl_notes *ds;
    nl_note_split split;
    const char *file; /* base name for messages */
    char *path;       /* scratch for image paths */
    size_t path_cap;
} notes_ctx;

/* A plain file name: not empty, no '/', not "." or "..". */
static bool plain_name(const char *s)
{
    return *s && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

static nl_status check_image(notes_ctx *c, nl_note *note)
{
    nl_notes *ds = c->ds;
    const char *sub = note->split == NL_NOTE_TRAIN ? "images" : "images_test";
    note->image_found = false;
    if (!plain_name(note->image_id)) {
        ds->rep.images_missing++;
        example(&ds->rep, "note %s: image id \"%s\" is not a plain file name (counted as missing)", note->id,
                note->image_id);
        return NL_OK;
    }
    size_t need = strlen(ds->dir) + strlen(sub) + strlen(note->image_id) + 3;
    if (need > c->path_cap) {
        char *p = realloc(c->path, need);
        if (!p) return nl_error_set(NL_ERR_OOM, "notes: cannot allocate %zu bytes", need);
        c->path = p;
        c->path_cap = need;
    }
    snprintf(c->path, need, "%s/%s/%s", ds->dir, sub, note->image_id);
    struct stat sb;
    if (stat(c->path, &sb) == 0 && S_ISREG(sb.st_mode)) {
        note->image_found = true;
    } else {
        ds->rep.images_missing++;
        example(&ds->rep, "note %s: image %s is missing", note->id, c->path);
    }
    return NL_OK;
}

static nl_status note_row(const nl_csv_row *row, void *vctx)
{
    notes_ctx *c = vctx;
    nl_notes *ds = c->ds;
    if (row->nfields != 5) {
        ds->rep.rows_skipped++;
        example(&ds->rep, "%s line %zu: %zu columns, expected 5 (note_id, title, content, image_id, category)",
                c->file, row->line, row->nfields);
        return NL_OK;
    }
    char *f[5] = {0};
    size_t fl[5];
    nl_status st = NL_OK;
    for (int k = 0; k < 5 && st == NL_OK; k++) st = clean_field(ds, row->field[k], row->len[k], &f[k], &fl[k]);
    if (st != NL_OK) goto done;

    int64_t prev = nl_notes_find(ds, f[0]);
    if (prev >= 0) {
        const nl_note *p = &ds->notes[prev];
        ds->rep.duplicate_ids++;
        example(&ds->rep, "%s line %zu: duplicate note id %s (first in %s line %zu); row skipped", c->file,
                row->line, f[0], p->split == NL_NOTE_TRAIN ? "notes_train.csv" : "notes_test.csv",
                ds->line[prev]);
        goto done;
    }
    if (ds->n == ds->cap) {
        size_t cap = ds->cap ? ds->cap * 2 : 256;
        nl_note *v = realloc(ds->notes, cap * sizeof *v);
        if (!v) {
            st = nl_error_set(NL_ERR_OOM, "notes: cannot allocate %zu notes", cap);
            goto done;
        }
        ds->notes = v;
        size_t *l = realloc(ds->line, cap * sizeof *l);
        if (!l) {
            st = nl_error_set(NL_ERR_OOM, "notes: cannot allocate %zu notes", cap);
            goto done;
        }
        ds->line = l;
        ds->cap = cap;
    }
    if ((st = map_reserve(ds)) != NL_OK) goto done;

    nl_note_text t;
    st = nl_preprocess_note(f[1], fl[1], f[2], fl[2], f[4], fl[4], &ds->opts, &t);
    if (st != NL_OK) {
        nl_error_prefix(st, c->file);
        goto done;
    }
    nl_note note = {.split = c->split, .row = row->index};
    const char **dst[9] = {&note.id, &note.title, &note.content, &note.image_id, &note.category,
                           &note.p_title, &note.p_content, &note.p_topic, &note.p_category};
    const char *src[4] = {t.title, t.content, t.topic, t.category};
    for (int k = 0; k < 5 && st == NL_OK; k++) st = arena_dup(&ds->text, f[k], fl[k], dst[k]);
    for (int k = 0; k < 4 && st == NL_OK; k++) st = arena_dup(&ds->text, src[k], strlen(src[k]), dst[5 + k]);
    nl_note_text_free(&t);
    if (st != NL_OK) goto done;
    if ((st = check_image(c, &note)) != NL_OK) goto done;

    ds->notes[ds->n] = note;
    ds->line[ds->n] = row->line;
    map_put(ds, (int64_t)ds->n);
    ds->n++;
    if (c->split == NL_NOTE_TRAIN) ds->rep.notes_train++;
    else ds->rep.notes_test++;
    ds->rep.notes++;
done:
    for (int k = 0; k < 5; k++) free(f[k]);
    return st;
}

/* CRLF / CR inside quoted fields become '\n' before preprocessing, as the
 * reference Python's text-mode files (universal newlines) deliver them, so
 * a Windows line break in a note body becomes one "。". */
static nl_status csv_file(nl_notes *ds, const char *path, nl_csv_row_fn fn, void *ctx)
{
    nl_csv_opts o = {.normalize_newlines = true};
    nl_csv_stats s;
    nl_status st = nl_csv_parse_file(path, &o, fn, ctx, &s);
    ds->rep.nul_bytes += s.nul_bytes;
    ds->rep.blank_lines += s.blank_lines;
    return st;
}

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Returns NL_OK with *present = false when the file does not exist. */
static nl_status load_notes_file(nl_notes *ds, nl_note_split split, bool *present)
{
    const char *file = split == NL_NOTE_TRAIN ? "notes_train.csv" : "notes_test.csv";
    char *path = join_path(ds->dir, file);
    if (!path) return nl_error_set(NL_ERR_OOM, "notes: out of memory");
    struct stat sb;
    *present = stat(path, &sb) == 0;
    if (!*present) {
        int e = errno;
        free(path);
        if (e == ENOENT) return NL_OK;
        return nl_error_set(NL_ERR_IO, "notes: %s/%s: %s", ds->dir, file, strerror(e));
    }
    notes_ctx c = {.ds = ds, .split = split, .file = file};
    nl_status st = csv_file(ds, path, note_row, &c);
    free(c.path);
    free(path);
    return st;
}

/* ---- pair files -------------------------------------------------------- */

typedef struct pairs_ctx {
    nl_notes *ds;
    pair_list *list;
    const char *file;
} pairs_ctx;

static nl_status pair_row(const nl_csv_row *row, void *vctx)
{
    pairs_ctx *c = vctx;
    nl_notes *ds = c->ds;
    if (row->nfields != 2) {
        ds->rep.rows_skipped++;
        example(&ds->rep, "%s line %zu: %zu columns, expected 2 (note_id_a, note_id_b)", c->file, row->line,
                row->nfields);
        return NL_OK;
    }
    char *a = NULL, *b = NULL;
    nl_status st = clean_field(ds, row->field[0], row->len[0], &a, NULL);
    if (st == NL_OK) st = clean_field(ds, row->field[1], row->len[1], &b, NULL);
    if (st != NL_OK) goto done;
    int64_t ia = nl_notes_find(ds, a), ib = nl_notes_find(ds, b);
    if (ia < 0 || ib < 0) {
        const char *unk = ia < 0 ? a : b;
        c->list->skipped++;
        ds->rep.pairs_skipped++;
        if (!ds->rep.first_unknown_id[0])
            snprintf(ds->rep.first_unknown_id, sizeof ds->rep.first_unknown_id, "%s", unk);
        example(&ds->rep, "%s line %zu: unknown note id %s; pair skipped", c->file, row->line, unk);
        goto done;
    }
    pair_list *l = c->list;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        nl_note_pair *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            st = nl_error_set(NL_ERR_OOM, "notes: cannot allocate %zu pairs", cap);
            goto done;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (nl_note_pair){ia, ib};
    ds->rep.pairs++;
done:
    free(a);
    free(b);
    return st;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The names of DIR/note_pairs_<name>.csv, sorted; each malloc'ed. */
static nl_status pair_names(const nl_notes *ds, char ***out, size_t *n)
{
    static const char pre[] = "note_pairs_", suf[] = ".csv";
    *out = NULL;
    *n = 0;
    DIR *d = opendir(ds->dir);
    if (!d) return nl_error_set(NL_ERR_IO, "notes: cannot list %s: %s", ds->dir, strerror(errno));
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    nl_status st = NL_OK;
    for (struct dirent *de; (de = readdir(d));) {
        size_t l = strlen(de->d_name);
        if (l <= sizeof pre - 1 + sizeof suf - 1 || strncmp(de->d_name, pre, sizeof pre - 1) ||
            strcmp(de->d_name + l - (sizeof suf - 1), suf))
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            char **nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                st = nl_error_set(NL_ERR_OOM, "notes: out of memory listing %s", ds->dir);
                break;
            }
            v = nv;
        }
        size_t nl = l - (sizeof pre - 1) - (sizeof suf - 1);
        if (!(v[cnt] = strndup(de->d_name + sizeof pre - 1, nl))) {
            st = nl_error_set(NL_ERR_OOM, "notes: out of memory listing %s", ds->dir);
            break;
        }
        cnt++;
    }
    closedir(d);
    if (st != NL_OK) {
        for (size_t i = 0; i < cnt; i++) free(v[i]);
        free(v);
        return st;
    }
    if (cnt) qsort(v, cnt, sizeof *v, cmp_str);
    *out = v;
    *n = cnt;
    return NL_OK;
}

static nl_status load_pairs(nl_notes *ds)
{
    char **names;
    size_t cnt;
    NL_TRY(pair_names(ds, &names, &cnt));
    nl_status st = NL_OK;
    size_t i = 0;
    if (cnt) {
        ds->lists = calloc(cnt, sizeof *ds->lists);
        if (!ds->lists) st = nl_error_set(NL_ERR_OOM, "notes: out of memory for %zu pair lists", cnt);
    }
    for (; i < cnt && st == NL_OK; i++) {
        pair_list *l = &ds->lists[ds->n_lists++];
        l->name = names[i];
        names[i] = NULL;
        size_t fl = strlen(l->name) + sizeof "note_pairs_.csv";
        char *file = malloc(fl);
        char *path = NULL;
        if (file) {
            snprintf(file, fl, "note_pairs_%s.csv", l->name);
            path = join_path(ds->dir, file);
        }
        if (!file || !path) {
            st = nl_error_set(NL_ERR_OOM, "notes: out of memory");
        } else {
            pairs_ctx c = {.ds = ds, .list = l, .file = file};
            st = csv_file(ds, path, pair_row, &c);
        }
        free(file);
        free(path);
        ds->rep.n_lists++;
        if (ds->rep.n_lists <= NL_NOTES_MAX_LISTS) {
            size_t k = ds->rep.n_lists - 1;
            snprintf(ds->rep.lists[k].name, sizeof ds->rep.lists[k].name, "%s", l->name);
            ds->rep.lists[k].pairs = l->n;
            ds->rep.lists[k].skipped = l->skipped;
        }
    }
    for (size_t k = 0; k < cnt; k++) free(names[k]);
    free(names);
    return st;
}

/* ---- public ------------------------------------------------------------ */

void nl_notes_free(nl_notes *ds)
{
    if (!ds) return;
    for (size_t i = 0; i < ds->n_lists; i++) {
        free(ds->lists[i].name);
        free(ds->lists[i].v);
    }
    free(ds->lists);
    free(ds->map);
    free(ds->line);
    free(ds->notes);
    arena_free(&ds->text);
    free(ds->dir);
    free(ds);
}

nl_status nl_notes_load_ex(nl_notes **out, const char *dir, const nl_preprocess_opts *opts,
                           nl_notes_report *rep)
{
    static const nl_preprocess_opts defaults = NL_PREPROCESS_OPTS_DEFAULT;
    if (rep) memset(rep, 0, sizeof *rep);
    if (!out) return nl_error_set(NL_ERR_ARG, "notes: out is NULL");
    *out = NULL;
    if (!dir || !*dir) return nl_error_set(NL_ERR_ARG, "notes: no data directory given");
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return nl_error_set(NL_ERR_IO, "notes: data directory %s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return nl_error_set(NL_ERR_IO, "notes: %s is not a directory", dir);

    nl_notes *ds = calloc(1, sizeof *ds);
    if (!ds || !(ds->dir = strdup(dir))) {
        free(ds);
        return nl_error_set(NL_ERR_OOM, "notes: out of memory");
    }
    ds->opts = opts ? *opts : defaults;
    bool have_train = false, have_test = false;
    nl_status st = load_notes_file(ds, NL_NOTE_TRAIN, &have_train);
    if (st == NL_OK) st = load_notes_file(ds, NL_NOTE_TEST, &have_test);
    if (st == NL_OK && !have_train && !have_test)
        st = nl_error_set(NL_ERR_IO,
                          "notes: neither %s/notes_train.csv nor %s/notes_test.csv exists. "
                          "HINT: the directory should hold the NoteLLM data layout (notes_*.csv, "
                          "note_pairs_*.csv, images/, images_test/)",
                          dir, dir);
    if (st == NL_OK) st = load_pairs(ds);
    if (rep) *rep = ds->rep;
    if (st != NL_OK) {
        nl_notes_free(ds);
        return st;
    }
    *out = ds;
    return NL_OK;
}

nl_status nl_notes_load(nl_notes **out, const char *dir, nl_notes_report *rep)
{
    return nl_notes_load_ex(out, dir, NULL, rep);
}

size_t nl_notes_count(const nl_notes *ds) { return ds ? ds->n : 0; }

const nl_note *nl_notes_get(const nl_notes *ds, size_t i)
{
    return ds && i < ds->n ? &ds->notes[i] : NULL;
}

static const pair_list *find_list(const nl_notes *ds, const char *name)
{
    if (!ds || !name) return NULL;
    for (size_t i = 0; i < ds->n_lists; i++)
        if (!strcmp(ds->lists[i].name, name)) return &ds->lists[i];
    return NULL;
}

const nl_note_pair *nl_notes_pairs(const nl_notes *ds, const char *name, size_t *n)
{
    const pair_list *l = find_list(ds, name);
    if (n) *n = l ? l->n : 0;
    return l ? l->v : NULL;
}

size_t nl_notes_pairs_skipped(const nl_notes *ds, const char *name)
{
    const pair_list *l = find_list(ds, name);
    return l ? l->skipped : 0;
}

size_t nl_notes_pair_list_count(const nl_notes *ds) { return ds ? ds->n_lists : 0; }

const char *nl_notes_pair_list_name(const nl_notes *ds, size_t i)
{
    return ds && i < ds->n_lists ? ds->lists[i].name : NULL;
}

const nl_notes_report *nl_notes_get_report(const nl_notes *ds) { return ds ? &ds->rep : NULL; }

/* snprintf into buf at *at, tracking the length needed past the end. */
static void emit(char *buf, size_t n, size_t *at, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void emit(char *buf, size_t n, size_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(*at < n ? buf + *at : NULL, *at < n ? n - *at : 0, fmt, ap);
    va_end(ap);
    if (k > 0) *at += (size_t)k;
}

size_t nl_notes_report_format(const nl_notes_report *r, char *buf, size_t n)
{
    size_t at = 0;
    if (buf && n) buf[0] = '\0';
    if (!buf) n = 0;
    if (!r) return 0;
    emit(buf, n, &at, "notes: %zu (train %zu, test %zu); pairs:", r->notes, r->notes_train, r->notes_test);
    size_t shown = r->n_lists < NL_NOTES_MAX_LISTS ? r->n_lists : NL_NOTES_MAX_LISTS;
    if (!r->n_lists) emit(buf, n, &at, " none");
    for (size_t i = 0; i < shown; i++)
        emit(buf, n, &at, "%s %s %zu", i ? "," : "", r->lists[i].name, r->lists[i].pairs);
    if (r->n_lists > shown) emit(buf, n, &at, ", %zu more lists", r->n_lists - shown);
    if (r->pairs_skipped)
        emit(buf, n, &at, " (%zu skipped: unknown note ids e.g. %s)", r->pairs_skipped, r->first_unknown_id);
    emit(buf, n, &at, "; images missing: %zu; rows skipped: %zu; NUL bytes stripped: %zu", r->images_missing,
         r->rows_skipped, r->nul_bytes);
    if (r->duplicate_ids) emit(buf, n, &at, "; duplicate ids: %zu", r->duplicate_ids);
    if (r->invalid_utf8) emit(buf, n, &at, "; invalid UTF-8 replaced: %zu", r->invalid_utf8);
    return at;
}
