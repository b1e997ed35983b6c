/* bpe.c — the BPE merge loop (lowest-rank adjacent pair first, leftmost on
 * ties, with a binary heap so one long word stays O(n log n)), the per-call
 * word cache, and the hash maps and UTF-8 helpers tokenizer.c builds on.
 * Depends on the runtime core only (no Guile, no cJSON). */
#define _GNU_SOURCE /* memmem */
#include "bpe.h"

#include <stdlib.h>
#include <string.h>

#define BPE_CACHE_MAX_WORD 256 /* longer words are merged every time, not cached */

/* ---- growable buffers --------------------------------------------------- */

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elem) return false;
        nc *= 2;
    }
    void *q = realloc(*p, nc * elem);
    if (!q) return false;
    *p = q;
    *cap = nc;
    return true;
}

bool nl_tk_sbuf_add(nl_sbuf *b, const void *s, size_t n)
{
    if (n > SIZE_MAX - b->n - 1 || !grow((void **)&b->p, &b->cap, b->n + n + 1, 1)) return false;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    return true;
}

bool nl_tk_sbuf_cstr(nl_sbuf *b)
{
    if (!grow((void **)&b->p, &b->cap, b->n + 1, 1)) return false;
    b->p[b->n] = '\0';
    return true;
}

bool nl_tk_ids_push(nl_ids *v, int32_t id)
{
    if (!grow((void **)&v->p, &v->cap, v->n + 1, sizeof *v->p)) return false;
    v->p[v->n++] = id;
    return true;
}

bool nl_tk_plist_add(nl_plist *l, const char *s, size_t n, bool first)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        nl_piece *p = realloc(l->p, cap * sizeof *p);
        if (!p) return false;
        l->p = p;
        l->cap = cap;
    }
    size_t off = l->buf.n;
    if (!nl_tk_sbuf_add(&l->buf, s, n)) return false;
    l->p[l->n++] = (nl_piece){off, n, first};
    return true;
}

void nl_tk_plist_free(nl_plist *l)
{
    free(l->buf.p);
    free(l->p);
    *l = (nl_plist){0};
}

bool nl_tk_replace_all(nl_sbuf *out, const char *s, size_t n, const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b), i = 0;
    for (;;) {
        const char *hit = memmem(s + i, n - i, a, na);
        size_t j = hit ? (size_t)(hit - s) : n;
        if (!nl_tk_sbuf_add(out, s + i, j - i)) return false;
        if (!hit) return true;
        if (!nl_tk_sbuf_add(out, b, nb)) return false;
        i = j + na;
    }
}

/* ---- hash maps (open addressing, linear probing, load <= 1/2) ------------ */

struct nl_strslot {
    const char *k; /* NULL: empty */
    uint32_t len;
    uint32_t h;
    int32_t v;
};

static uint32_t hash_bytes(const char *s, size_t n) /* FNV-1a */
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static bool strmap_rehash(nl_strmap *m, size_t cap)
{
    struct nl_strslot *s = calloc(cap, sizeof *s);
    if (!s) return false;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slot[i].k) continue;
        size_t j = m->slot[i].h & (cap - 1);
        while (s[j].k) j = (j + 1) & (cap - 1);
        s[j] = m->slot[i];
    }
    free(m->slot);
    m->slot = s;
    m->cap = cap;
    return true;
}

int nl_tk_strmap_put(nl_strmap *m, const char *k, size_t len, int32_t v, int32_t *old)
{
    if (len > UINT32_MAX) return -1;
    if (2 * (m->n + 1) > m->cap && !strmap_rehash(m, m->cap ? 2 * m->cap : 64)) return -1;
    uint32_t h = hash_bytes(k, len);
    size_t j = h & (m->cap - 1);
    for (; m->slot[j].k; j = (j + 1) & (m->cap - 1))
        if (m->slot[j].h == h && m->slot[j].len == len && memcmp(m->slot[j].k, k, len) == 0) {
            if (old) *old = m->slot[j].v;
            return 0;
        }
    m->slot[j] = (struct nl_strslot){k, (uint32_t)len, h, v};
    m->n++;
    return 1;
}

int32_t nl_tk_strmap_get(const nl_strmap *m, const char *k, size_t len)
{
    if (!m->cap) return -1;
    uint32_t h = hash_bytes(k, len);
    for (size_t j = h & (m->cap - 1); m->slot[j].k; j = (j + 1) & (m->cap - 1))
        if (m->slot[j].h == h && m->slot[j].len == len && memcmp(m->slot[j].k, k, len) == 0)
            return m->slot[j].v;
    return -1;
}

void nl_tk_strmap_free(nl_strmap *m)
{
    free(m->slot);
    *m = (nl_strmap){0};
}

struct nl_pairslot {
    uint64_t key; /* (a << 32 | b) + 1; 0: empty */
    int32_t rank, merged;
};

static uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1; }
static size_t pair_hash(uint64_t k) { return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 20); }

static bool pairmap_rehash(nl_pairmap *m, size_t cap)
{
    struct nl_pairslot *s = calloc(cap, sizeof *s);
    if (!s) return false;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slot[i].key) continue;
        size_t j = pair_hash(m->slot[i].key) & (cap - 1);
        while (s[j].key) j = (j + 1) & (cap - 1);
        s[j] = m->slot[i];
    }
    free(m->slot);
    m->slot = s;
    m->cap = cap;
    return true;
}

bool nl_tk_pairmap_put(nl_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t merged)
{
    if (2 * (m->n + 1) > m->cap && !pairmap_rehash(m, m->cap ? 2 * m->cap : 64)) return false;
    uint64_t k = pair_key(a, b);
    size_t j = pair_hash(k) & (m->cap - 1);
    while (m->slot[j].key && m->slot[j].key != k) j = (j + 1) & (m->cap - 1);
    if (!m->slot[j].key) m->n++;
    m->slot[j] = (struct nl_pairslot){k, rank, merged};
    return true;
}

bool nl_tk_pairmap_get(const nl_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *merged)
{
    if (!m->cap) return false;
    uint64_t k = pair_key(a, b);
    for (size_t j = pair_hash(k) & (m->cap - 1); m->slot[j].key; j = (j + 1) & (m->cap - 1))
        if (m->slot[j].key == k) {
            *rank = m->slot[j].rank;
            *merged = m->slot[j].merged;
            return true;
        }
    return false;
}

void nl_tk_pairmap_free(nl_pairmap *m)
{
    free(m->slot);
    *m = (nl_pairmap){0};
}

/* ---- UTF-8 -------------------------------------------------------------- */

int nl_tk_utf8_char(const uint8_t *s, size_t len, uint32_t *cp, int *bad)
{
    uint8_t c = s[0];
    *bad = 1;
    if (c < 0x80) { *cp = c; return 1; }
    int n;
    uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) { n = 3; if (c == 0xe0) lo = 0xa0; if (c == 0xed) hi = 0x9f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 4; if (c == 0xf0) lo = 0x90; if (c == 0xf4) hi = 0x8f; }
    else return 0;
    uint32_t v = c & (n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07);
    for (int k = 1; k < n; k++) {
        if ((size_t)k >= len) return 0;
        uint8_t d = s[k];
        if (k == 1 ? (d < lo || d > hi) : (d & 0xc0) != 0x80) return 0;
        v = (v << 6) | (d & 0x3f);
        *bad = k + 1;
    }
    *cp = v;
    return n;
}

size_t nl_tk_utf8_check(const char *s, size_t len)
{
    size_t i = 0;
    uint32_t cp;
    int bad;
    while (i < len) {
        int n = nl_tk_utf8_char((const uint8_t *)s + i, len - i, &cp, &bad);
        if (!n) return i;
        i += (size_t)n;
    }
    return len;
}

bool nl_tk_utf8_lossy(nl_sbuf *out, const char *s, size_t len)
{
    if (len == 0) return true; /* s may be NULL: no pointer arithmetic on it */
    size_t i = 0, run = 0; /* run: start of the pending well-formed bytes */
    uint32_t cp;
    int bad;
    while (i < len) {
        int n = nl_tk_utf8_char((const uint8_t *)s + i, len - i, &cp, &bad);
        if (n) { i += (size_t)n; continue; }
        if (!nl_tk_sbuf_add(out, s + run, i - run) || !nl_tk_sbuf_add(out, "\xEF\xBF\xBD", 3)) return false;
        i += (size_t)bad;
        run = i;
    }
    return nl_tk_sbuf_add(out, s + run, len - run);
}

int nl_tk_utf8_put(uint32_t cp, char *buf)
{
    uint8_t *b = (uint8_t *)buf;
    if (cp < 0x80) { b[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { b[0] = (uint8_t)(0xc0 | cp >> 6); b[1] = (uint8_t)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        b[0] = (uint8_t)(0xe0 | cp >> 12);
        b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    b[0] = (uint8_t)(0xf0 | cp >> 18);
    b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    b[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* ---- the merge loop ----------------------------------------------------- */

struct nl_bpe_cand {
    int32_t rank, pos; /* pos: index of the left symbol; ties go to the leftmost */
    int32_t l, r;      /* the ids when pushed: a stale candidate no longer matches */
};

static bool cand_less(const struct nl_bpe_cand *a, const struct nl_bpe_cand *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(struct nl_bpe_cand *h, size_t *n, struct nl_bpe_cand c)
{
    size_t i = (*n)++;
    while (i > 0 && cand_less(&c, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

static struct nl_bpe_cand heap_pop(struct nl_bpe_cand *h, size_t *n)
{
    struct nl_bpe_cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && cand_less(&h[c + 1], &h[c])) c++;
        if (!cand_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

/* Initial symbols: one id per character, "<0xNN>" ids per byte when the
 * character is unknown and byte_fallback is on, else unk (fused when asked). */
static size_t initial_symbols(const nl_bpe *m, const char *w, size_t len, int32_t *sym)
{
    size_t n = 0, i = 0;
    bool last_unk = false;
    while (i < len) {
        uint32_t cp;
        int bad;
        int cl = nl_tk_utf8_char((const uint8_t *)w + i, len - i, &cp, &bad);
        if (!cl) cl = 1;
        int32_t id = nl_tk_strmap_get(&m->vocab, w + i, (size_t)cl);
        if (id >= 0) {
            sym[n++] = id;
            last_unk = false;
        } else {
            bool have_bytes = m->byte_fallback;
            for (int k = 0; k < cl && have_bytes; k++) have_bytes = m->byte_id[(uint8_t)w[i + k]] >= 0;
            if (have_bytes) {
                for (int k = 0; k < cl; k++) sym[n++] = m->byte_id[(uint8_t)w[i + k]];
                last_unk = false;
            } else if (m->unk >= 0 && !(m->fuse_unk && last_unk)) {
                sym[n++] = m->unk;
                last_unk = true;
            }
        }
        i += (size_t)cl;
    }
    return n;
}

static nl_status bpe_merge(const nl_bpe *m, nl_bpe_cache *c, const char *w, size_t len, nl_ids *out)
{
    if (m->ignore_merges) {
        int32_t id = nl_tk_strmap_get(&m->vocab, w, len);
        if (id >= 0) return nl_tk_ids_push(out, id) ? NL_OK : nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
    }
    /* at most len symbols (byte fallback gives one per byte) and len-1 live pairs
     * plus two pushes per merge: 3*len candidates */
    if (len > (size_t)INT32_MAX / 3)
        return nl_error_set(NL_ERR_ARG, "tokenizer: a single word of %zu bytes is too long (at most %d)", len,
                            INT32_MAX / 3);
    if (len > c->scratch_cap) {
        int32_t *a = realloc(c->sym, len * sizeof *a), *b = a ? realloc(c->prev, len * sizeof *b) : NULL;
        if (a) c->sym = a;
        if (b) c->prev = b;
        int32_t *d = b ? realloc(c->next, len * sizeof *d) : NULL;
        if (d) c->next = d;
        struct nl_bpe_cand *h = d ? realloc(c->heap, 3 * len * sizeof *h) : NULL;
        if (h) c->heap = h;
        if (!h) return nl_error_set(NL_ERR_OOM, "tokenizer: out of memory for a word of %zu bytes", len);
        c->scratch_cap = len;
    }
    int32_t *sym = c->sym, *prev = c->prev, *next = c->next;
    struct nl_bpe_cand *heap = c->heap;
    size_t n = initial_symbols(m, w, len, sym), nh = 0;
    for (size_t i = 0; i < n; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    int32_t rank, merged;
    for (size_t i = 0; i + 1 < n; i++)
        if (nl_tk_pairmap_get(&m->merges, sym[i], sym[i + 1], &rank, &merged))
            heap_push(heap, &nh, (struct nl_bpe_cand){rank, (int32_t)i, sym[i], sym[i + 1]});
    while (nh) {
        struct nl_bpe_cand top = heap_pop(heap, &nh);
        int32_t i = top.pos, j = next[i];
        if (sym[i] != top.l || j < 0 || sym[j] != top.r) continue; /* stale */
        nl_tk_pairmap_get(&m->merges, top.l, top.r, &rank, &merged);
        sym[i] = merged;
        sym[j] = -1;
        next[i] = next[j];
        if (next[j] >= 0) prev[next[j]] = i;
        if (prev[i] >= 0 && nl_tk_pairmap_get(&m->merges, sym[prev[i]], sym[i], &rank, &merged))
            heap_push(heap, &nh, (struct nl_bpe_cand){rank, prev[i], sym[prev[i]], sym[i]});
        if (next[i] >= 0 && nl_tk_pairmap_get(&m->merges, sym[i], sym[next[i]], &rank, &merged))
            heap_push(heap, &nh, (struct nl_bpe_cand){rank, i, sym[i], sym[next[i]]});
    }
    for (int32_t i = n ? 0 : -1; i >= 0; i = next[i])
        if (!nl_tk_ids_push(out, sym[i])) return nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
    return NL_OK;
}

nl_status nl_tk_bpe_word(const nl_bpe *m, nl_bpe_cache *c, const char *w, size_t len, nl_ids *out)
{
    if (len == 0) return NL_OK;
    if (len > BPE_CACHE_MAX_WORD) return bpe_merge(m, c, w, len, out);
    int32_t k = nl_tk_strmap_get(&c->map, w, len);
    if (k >= 0) {
        for (size_t i = 0; i < c->ent[k].n; i++)
            if (!nl_tk_ids_push(out, c->ids.p[c->ent[k].off + i])) return nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
        return NL_OK;
    }
    size_t start = out->n;
    NL_TRY(bpe_merge(m, c, w, len, out));
    /* remember the result; a failure to cache is not an error */
    if (!grow((void **)&c->ent, &c->capent, c->nent + 1, sizeof *c->ent)) return NL_OK;
    char *key = malloc(len);
    if (!key) return NL_OK;
    memcpy(key, w, len);
    size_t off = c->ids.n;
    for (size_t i = start; i < out->n; i++)
        if (!nl_tk_ids_push(&c->ids, out->p[i])) { c->ids.n = off; free(key); return NL_OK; }
    if (nl_tk_strmap_put(&c->map, key, len, (int32_t)c->nent, NULL) != 1) { c->ids.n = off; free(key); return NL_OK; }
    c->ent[c->nent++] = (struct nl_bpe_cached){key, off, out->n - start};
    return NL_OK;
}

void nl_tk_bpe_cache_free(nl_bpe_cache *c)
{
    for (size_t i = 0; i < c->nent; i++) free(c->ent[i].key);
    free(c->ent);
    nl_tk_strmap_free(&c->map);
    free(c->ids.p);
    free(c->sym);
    free(c->prev);
    free(c->next);
    free(c->heap);
    *c = (nl_bpe_cache){0};
}

void nl_tk_bpe_free(nl_bpe *m)
{
    nl_tk_strmap_free(&m->vocab);
    nl_tk_pairmap_free(&m->merges);
}
