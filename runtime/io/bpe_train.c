/* bpe_train.c — byte-level BPE training: pre-tokenize with the Split regex
 * (PCRE2, as tokenizer_encode.c does), count words, merge the most frequent
 * adjacent pair with incremental pair counts (pair -> words index + a lazy
 * max-heap), and write tokenizer.json with cJSON through atomic.h.
 * Depends on the runtime core, PCRE2 and cJSON; never on Guile. */
#define _GNU_SOURCE
#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include "bpe_train.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>
#include <pcre2.h>

#include "atomic.h"
#include "runtime.h"

/* Qwen2's split pattern: contractions, letters with one leading non-letter,
 * single digits, punctuation runs, newlines, whitespace. */
static const char qwen2_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+"
    "|\\s+(?!\\S)|\\s+";

#define MAX_TOKEN 65536 /* bytes in one token: the loader's limit */
static const char eot[] = "<|endoftext|>";

static nl_status oom(void) { return nl_error_set(NL_ERR_OOM, "bpe_train: out of memory"); }

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) return false;
        c *= 2;
    }
    void *q = realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then mixed */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return mix64(h ^ n);
}

/* Well-formed UTF-8 (shortest forms, no surrogates, <= U+10FFFF). */
static bool utf8_ok(const char *str, size_t n)
{
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        int k = c < 0x80 ? 0 : c >= 0xc2 && c < 0xe0 ? 1 : c >= 0xe0 && c < 0xf0 ? 2 : c >= 0xf0 && c < 0xf5 ? 3 : -1;
        if (k < 0 || n - i <= (size_t)k) return k == 0;
        uint32_t cp = k ? c & (0x3f >> k) : c;
        for (int j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        i += (size_t)k + 1;
    }
    return true;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the
 * other 68 bytes get U+0100.. in byte order. enc[b] is UTF-8, NUL-terminated. */
static void byte_alphabet(char enc[256][3], uint8_t len[256])
{
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
        unsigned cp = printable ? (unsigned)b : 256u + (unsigned)extra++;
        if (cp < 0x80) {
            enc[b][0] = (char)cp;
            enc[b][1] = '\0';
            len[b] = 1;
        } else {
            enc[b][0] = (char)(0xc0 | cp >> 6);
            enc[b][1] = (char)(0x80 | (cp & 0x3f));
            enc[b][2] = '\0';
            len[b] = 2;
        }
    }
}

/* ---- word counting ------------------------------------------------------------ */

typedef struct counter {
    pcre2_code *re;
    pcre2_match_data *md;
    const char *const *special; /* validated specials, id order */
    const size_t *special_len;
    int n_special;
    /* unique words: bytes back to back in `bytes` */
    char *bytes;
    size_t nbytes, capbytes;
    struct word { size_t off, len; uint64_t hash; int64_t freq; } *w;
    size_t n, cap;
    int32_t *slot; /* word index + 1, 0 empty */
    size_t nslot;
} counter;

static void counter_free(counter *c)
{
    pcre2_match_data_free(c->md);
    pcre2_code_free(c->re);
    free(c->bytes);
    free(c->w);
    free(c->slot);
}

static bool counter_rehash(counter *c, size_t nslot)
{
    int32_t *s = calloc(nslot, sizeof *s);
    if (!s) return false;
    for (size_t w = 0; w < c->n; w++) {
        size_t i = (size_t)c->w[w].hash & (nslot - 1);
        while (s[i]) i = (i + 1) & (nslot - 1);
        s[i] = (int32_t)w + 1;
    }
    free(c->slot);
    c->slot = s;
    c->nslot = nslot;
    return true;
}

static nl_status count_word(counter *c, const char *w, size_t n)
{
    if (!n) return NL_OK;
    uint64_t h = hash_bytes(w, n);
    if (2 * (c->n + 1) > c->nslot && !counter_rehash(c, c->nslot ? 2 * c->nslot : 1024)) return oom();
    size_t i = (size_t)h & (c->nslot - 1);
    for (; c->slot[i]; i = (i + 1) & (c->nslot - 1)) {
        size_t k = (size_t)c->slot[i] - 1;
        if (c->w[k].hash == h && c->w[k].len == n && !memcmp(c->bytes + c->w[k].off, w, n)) {
            c->w[k].freq++;
            return NL_OK;
        }
    }
    if (c->n >= INT32_MAX - 1)
        return nl_error_set(NL_ERR_ARG, "bpe_train: more than %d distinct words; HINT: train on a smaller corpus",
                            INT32_MAX - 2);
    if (!grow((void **)&c->bytes, &c->capbytes, c->nbytes + n, 1) || !grow((void **)&c->w, &c->cap, c->n + 1, sizeof *c->w))
        return oom();
    memcpy(c->bytes + c->nbytes, w, n);
    c->w[c->n] = (struct word){c->nbytes, n, h, 1};
    c->nbytes += n;
    c->slot[i] = (int32_t)++c->n;
    return NL_OK;
}

/* Split one stretch (no special tokens in it) like Split{behavior Isolated}:
 * the matches and the text between them are the words. An empty match moves
 * one character on, as the encoder does. */
static nl_status count_segment(counter *c, const char *s, size_t n)
{
    size_t pos = 0, last = 0;
    while (pos <= n) {
        int rc = pcre2_match(c->re, (PCRE2_SPTR)s, n, pos, 0, c->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return nl_error_set(NL_ERR_ARG, "bpe_train: the split regex failed on the corpus: %s", (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        size_t a = ov[0], b = ov[1];
        if (a < last || b < a || b > n)
            return nl_error_set(NL_ERR_ARG, "bpe_train: the split regex reported the match [%zu, %zu) outside "
                                "[%zu, %zu)", a, b, last, n);
        if (a == b) {
            if (a >= n) break;
            pos = a + 1;
            while (pos < n && ((uint8_t)s[pos] & 0xc0) == 0x80) pos++;
            continue;
        }
        NL_TRY(count_word(c, s + last, a - last));
        NL_TRY(count_word(c, s + a, b - a));
        last = pos = b;
    }
    return count_word(c, s + last, n - last);
}

/* The longest special token starting at s (n bytes left), or -1. */
static int special_at(const counter *c, const char *s, size_t n)
{
    int best = -1;
    for (int k = 0; k < c->n_special; k++) {
        size_t l = c->special_len[k];
        if (l <= n && c->special[k][0] == s[0] && !memcmp(c->special[k], s, l) && (best < 0 || l > c->special_len[best]))
            best = k;
    }
    return best;
}

static nl_status count_text(counter *c, const char *s, size_t n)
{
    size_t seg = 0, i = 0;
    while (i < n) {
        int k = special_at(c, s + i, n - i);
        if (k < 0) {
            i++;
            continue;
        }
        NL_TRY(count_segment(c, s + seg, i - seg));
        seg = i = i + c->special_len[k];
    }
    NL_TRY(count_segment(c, s + seg, n - seg));
    return nl_interrupt_poll();
}

/* ---- training ----------------------------------------------------------------- */

typedef struct pair {
    int32_t a, b;        /* token ids */
    int64_t count;       /* occurrences weighted by word frequency */
    int32_t *occ;        /* words that contain it (or did: entries may be stale) */
    uint32_t nocc, capocc;
    int32_t last_w;      /* last word appended to occ */
    int32_t stamp;       /* merge step that last put it on the changed list */
    bool banned;         /* never merged: too long, or a special token's string */
} pair;

typedef struct heap_ent {
    int64_t count; /* the pair's count when pushed: stale when it differs now */
    int32_t p;
} heap_ent;

typedef struct trainer {
    /* tokens: ids 0..255 are the bytes, then merged tokens in creation order */
    char *str;                     /* byte-level strings, NUL-terminated, back to back */
    size_t nstr, capstr;
    struct tok { size_t off; uint32_t len; uint64_t hash; } *tok;
    size_t ntok, captok;
    int32_t *tslot;                /* string -> id + 1 */
    size_t ntslot;
    struct merge { int32_t a, b; } *merge;
    size_t nmerge, capmerge;
    /* words: symbols back to back; a merge shortens a word in place */
    int32_t *sym;
    struct tword { size_t off, len; int64_t freq; int32_t stamp; } *w;
    size_t nw, maxlen;
    uint8_t *old_flag, *new_flag;  /* per-position scratch, maxlen each */
    /* pairs */
    pair *pair;
    size_t npair, cappair;
    int32_t *pslot;                /* (a, b) -> pair index + 1 */
    size_t npslot;
    int32_t *changed;
    size_t nchanged, capchanged;
    heap_ent *heap;
    size_t nheap, capheap;
    int32_t step;
    int64_t min_freq;
} trainer;

static void trainer_free(trainer *T)
{
    free(T->str);
    free(T->tok);
    free(T->tslot);
    free(T->merge);
    free(T->sym);
    free(T->w);
    free(T->old_flag);
    free(T->new_flag);
    for (size_t i = 0; i < T->npair; i++) free(T->pair[i].occ);
    free(T->pair);
    free(T->pslot);
    free(T->changed);
    free(T->heap);
}

static const char *tstr(const trainer *T, int32_t id) { return T->str + T->tok[id].off; }

static bool tok_rehash(trainer *T, size_t n)
{
    int32_t *s = calloc(n, sizeof *s);
    if (!s) return false;
    for (size_t t = 0; t < T->ntok; t++) {
        size_t i = (size_t)T->tok[t].hash & (n - 1);
        while (s[i]) i = (i + 1) & (n - 1);
        s[i] = (int32_t)t + 1;
    }
    free(T->tslot);
    T->tslot = s;
    T->ntslot = n;
    return true;
}

/* Id of the token string s (n bytes), or -1; *slot gets its insertion slot. */
static int32_t tok_find(const trainer *T, const char *s, size_t n, uint64_t h, size_t *slot)
{
    size_t i = (size_t)h & (T->ntslot - 1);
    for (; T->tslot[i]; i = (i + 1) & (T->ntslot - 1)) {
        const struct tok *t = &T->tok[T->tslot[i] - 1];
        if (t->hash == h && t->len == n && !memcmp(T->str + t->off, s, n)) return T->tslot[i] - 1;
    }
    *slot = i;
    return -1;
}

/* Append the string at T->str + nstr (already written there, n bytes) as a
 * new token. */
static bool tok_add(trainer *T, size_t n, uint64_t h)
{
    if (2 * (T->ntok + 1) > T->ntslot && !tok_rehash(T, T->ntslot ? 2 * T->ntslot : 1024)) return false;
    if (!grow((void **)&T->tok, &T->captok, T->ntok + 1, sizeof *T->tok)) return false;
    size_t slot;
    tok_find(T, T->str + T->nstr, n, h, &slot);
    T->tok[T->ntok] = (struct tok){T->nstr, (uint32_t)n, h};
    T->tslot[slot] = (int32_t)++T->ntok;
    T->nstr += n + 1;
    return true;
}

static bool pair_rehash(trainer *T, size_t n)
{
    int32_t *s = calloc(n, sizeof *s);
    if (!s) return false;
    for (size_t p = 0; p < T->npair; p++) {
        uint64_t h = mix64((uint64_t)(uint32_t)T->pair[p].a << 32 | (uint32_t)T->pair[p].b);
        size_t i = (size_t)h & (n - 1);
        while (s[i]) i = (i + 1) & (n - 1);
        s[i] = (int32_t)p + 1;
    }
    free(T->pslot);
    T->pslot = s;
    T->npslot = n;
    return true;
}

/* Index of the pair (a, b), created with count 0 when new; -1 on OOM. */
static int32_t pair_get(trainer *T, int32_t a, int32_t b)
{
    if (2 * (T->npair + 1) > T->npslot && !pair_rehash(T, T->npslot ? 2 * T->npslot : 4096)) return -1;
    uint64_t h = mix64((uint64_t)(uint32_t)a << 32 | (uint32_t)b);
    size_t i = (size_t)h & (T->npslot - 1);
    for (; T->pslot[i]; i = (i + 1) & (T->npslot - 1)) {
        const pair *x = &T->pair[T->pslot[i] - 1];
        if (x->a == a && x->b == b) return T->pslot[i] - 1;
    }
    if (T->npair >= INT32_MAX - 1 || !grow((void **)&T->pair, &T->cappair, T->npair + 1, sizeof *T->pair)) return -1;
    T->pair[T->npair] = (pair){.a = a, .b = b, .last_w = -1, .stamp = -1};
    T->pslot[i] = (int32_t)++T->npair;
    return (int32_t)T->npair - 1;
}

/* Add d to the count of (a, b); w >= 0 records that word w contains it. */
static nl_status pair_delta(trainer *T, int32_t a, int32_t b, int64_t d, int32_t w)
{
    int32_t p = pair_get(T, a, b);
    if (p < 0) return oom();
    pair *x = &T->pair[p];
    x->count += d;
    if (x->stamp != T->step) {
        if (!grow((void **)&T->changed, &T->capchanged, T->nchanged + 1, sizeof *T->changed)) return oom();
        T->changed[T->nchanged++] = p;
        x->stamp = T->step;
    }
    if (w >= 0 && x->last_w != w) {
        if (x->nocc == x->capocc) {
            uint32_t c = x->capocc ? 2 * x->capocc : 4;
            int32_t *o = c > x->capocc ? realloc(x->occ, (size_t)c * sizeof *o) : NULL;
            if (!o) return oom();
            x->occ = o;
            x->capocc = c;
        }
        x->occ[x->nocc++] = w;
        x->last_w = w;
    }
    return NL_OK;
}

/* ---- the max-heap: highest count first, then the smallest (left, right)
 * token strings; entries whose count is no longer the pair's are skipped */

static bool better(const trainer *T, heap_ent x, heap_ent y)
{
    if (x.count != y.count) return x.count > y.count;
    const pair *px = &T->pair[x.p], *py = &T->pair[y.p];
    int r = strcmp(tstr(T, px->a), tstr(T, py->a));
    if (!r) r = strcmp(tstr(T, px->b), tstr(T, py->b));
    return r < 0;
}

static void sift_down(trainer *T, size_t i)
{
    heap_ent *h = T->heap, e = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= T->nheap) break;
        if (c + 1 < T->nheap && better(T, h[c + 1], h[c])) c++;
        if (!better(T, h[c], e)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = e;
}

static bool heap_push(trainer *T, heap_ent e)
{
    if (!grow((void **)&T->heap, &T->capheap, T->nheap + 1, sizeof *T->heap)) return false;
    size_t i = T->nheap++;
    while (i > 0 && better(T, e, T->heap[(i - 1) / 2])) {
        T->heap[i] = T->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    T->heap[i] = e;
    return true;
}

static heap_ent heap_pop(trainer *T)
{
    heap_ent top = T->heap[0];
    T->heap[0] = T->heap[--T->nheap];
    if (T->nheap) sift_down(T, 0);
    return top;
}

/* Rebuild the heap from the current counts (when stale entries pile up). */
static bool heap_rebuild(trainer *T)
{
    T->nheap = 0;
    for (size_t p = 0; p < T->npair; p++)
        if (T->pair[p].count >= T->min_freq && !T->pair[p].banned) {
            if (!grow((void **)&T->heap, &T->capheap, T->nheap + 1, sizeof *T->heap)) return false;
            T->heap[T->nheap++] = (heap_ent){T->pair[p].count, (int32_t)p};
        }
    for (size_t i = T->nheap / 2; i-- > 0;) sift_down(T, i);
    return true;
}

/* Merge every (a, b) of word w into x, leftmost first, and update the counts
 * of the pairs around each merge site. */
static nl_status merge_word(trainer *T, int32_t w, int32_t a, int32_t b, int32_t x)
{
    struct tword *wd = &T->w[w];
    int32_t *s = T->sym + wd->off;
    size_t n = wd->len, i = 0, j = 0;
    int64_t f = wd->freq;
    uint8_t *of = T->old_flag, *nf = T->new_flag;
    bool any = false;
    memset(of, 0, n);
    while (i + 1 < n) {
        if (s[i] == a && s[i + 1] == b) {
            of[i] = of[i + 1] = 1;
            any = true;
            i += 2;
        } else
            i++;
    }
    if (!any) return NL_OK; /* a stale entry of the occurrence list */
    for (i = 0; i + 1 < n; i++)
        if (of[i] || of[i + 1]) NL_TRY(pair_delta(T, s[i], s[i + 1], -f, -1));
    for (i = 0; i < n; j++) {
        bool m = i + 1 < n && of[i] && s[i] == a && s[i + 1] == b && of[i + 1];
        s[j] = m ? x : s[i];
        nf[j] = m;
        i += m ? 2 : 1;
    }
    wd->len = j;
    for (i = 0; i + 1 < j; i++)
        if (nf[i] || nf[i + 1]) NL_TRY(pair_delta(T, s[i], s[i + 1], f, w));
    return NL_OK;
}

/* Words and byte tokens from the counts; every adjacent pair counted. */
static nl_status train_init(trainer *T, const counter *c, const char enc[256][3], const uint8_t enclen[256])
{
    if (!(T->sym = malloc((c->nbytes ? c->nbytes : 1) * sizeof *T->sym)) || !(T->w = malloc(c->n * sizeof *T->w)))
        return oom();
    T->nw = c->n;
    for (size_t k = 0; k < c->n; k++) {
        const struct word *cw = &c->w[k];
        T->w[k] = (struct tword){cw->off, cw->len, cw->freq, 0};
        for (size_t i = 0; i < cw->len; i++) T->sym[cw->off + i] = (uint8_t)c->bytes[cw->off + i];
        if (cw->len > T->maxlen) T->maxlen = cw->len;
    }
    if (!(T->old_flag = malloc(T->maxlen)) || !(T->new_flag = malloc(T->maxlen))) return oom();
    for (int b = 0; b < 256; b++) {
        if (!grow((void **)&T->str, &T->capstr, T->nstr + 3, 1)) return oom();
        memcpy(T->str + T->nstr, enc[b], (size_t)enclen[b] + 1);
        if (!tok_add(T, enclen[b], hash_bytes(enc[b], enclen[b]))) return oom();
    }
    for (size_t k = 0; k < T->nw; k++) {
        const int32_t *s = T->sym + T->w[k].off;
        for (size_t i = 0; i + 1 < T->w[k].len; i++) NL_TRY(pair_delta(T, s[i], s[i + 1], T->w[k].freq, (int32_t)k));
    }
    return heap_rebuild(T) ? NL_OK : oom();
}

/* Merge until max_new tokens were added or no allowed pair reaches min_freq. */
static nl_status train_loop(trainer *T, int64_t max_new, const char *const *special, int ns)
{
    int64_t added = 0;
    while (added < max_new) {
        if ((T->nmerge & 63) == 0) NL_TRY(nl_interrupt_poll());
        int32_t p = -1;
        while (T->nheap && p < 0) {
            heap_ent e = heap_pop(T);
            if (!T->pair[e.p].banned && T->pair[e.p].count == e.count) p = e.p;
        }
        if (p < 0 || T->pair[p].count < T->min_freq) break;
        int32_t a = T->pair[p].a, b = T->pair[p].b;
        size_t la = T->tok[a].len, lb = T->tok[b].len, n = la + lb;
        if (n > MAX_TOKEN || !grow((void **)&T->str, &T->capstr, T->nstr + n + 1, 1)) {
            if (n <= MAX_TOKEN) return oom();
            T->pair[p].banned = true;
            continue;
        }
        char *s = T->str + T->nstr; /* the candidate, at the arena's end: tok_add keeps it */
        memcpy(s, tstr(T, a), la);
        memcpy(s + la, tstr(T, b), lb);
        s[n] = '\0';
        bool is_special = false;
        for (int k = 0; k < ns && !is_special; k++) is_special = !strcmp(s, special[k]);
        if (is_special) {
            T->pair[p].banned = true;
            continue;
        }
        uint64_t h = hash_bytes(s, n);
        size_t slot;
        int32_t x = tok_find(T, s, n, h, &slot);
        if (x < 0) {
            if (T->ntok >= INT32_MAX - 1 || !tok_add(T, n, h)) return oom();
            x = (int32_t)T->ntok - 1;
            added++;
        }
        if (!grow((void **)&T->merge, &T->capmerge, T->nmerge + 1, sizeof *T->merge)) return oom();
        T->merge[T->nmerge++] = (struct merge){a, b};
        T->pair[p].banned = true; /* merged once: never listed twice, even if the pair forms again */
        T->step++;
        T->nchanged = 0;
        int32_t *occ = T->pair[p].occ;
        uint32_t nocc = T->pair[p].nocc;
        T->pair[p].occ = NULL; /* new pairs all contain x, so (a, b) gets no new occurrences */
        T->pair[p].nocc = T->pair[p].capocc = 0;
        nl_status st = NL_OK;
        for (uint32_t k = 0; k < nocc && st == NL_OK; k++) {
            int32_t w = occ[k];
            if (T->w[w].stamp == T->step) continue;
            T->w[w].stamp = T->step;
            st = merge_word(T, w, a, b, x);
        }
        free(occ);
        NL_TRY(st);
        for (size_t k = 0; k < T->nchanged; k++) {
            const pair *q = &T->pair[T->changed[k]];
            if (q->count >= T->min_freq && !q->banned && !heap_push(T, (heap_ent){q->count, T->changed[k]}))
                return oom();
        }
        if (T->nheap > 4 * T->npair + 65536 && !heap_rebuild(T)) return oom();
    }
    return NL_OK;
}

/* ---- tokenizer.json ----------------------------------------------------------- */

static cJSON *byte_level_obj(void)
{
    cJSON *o = cJSON_CreateObject();
    if (o && (!cJSON_AddStringToObject(o, "type", "ByteLevel") || !cJSON_AddFalseToObject(o, "add_prefix_space") ||
              !cJSON_AddFalseToObject(o, "trim_offsets") || !cJSON_AddFalseToObject(o, "use_regex"))) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}

/* Attach item to obj under key (to the array obj when key is NULL); item is
 * freed on failure. Returns item, or NULL. */
static cJSON *put(cJSON *obj, const char *key, cJSON *item)
{
    if (!obj || !item) {
        cJSON_Delete(item);
        return NULL;
    }
    bool ok = key ? cJSON_AddItemToObject(obj, key, item) : cJSON_AddItemToArray(obj, item);
    if (!ok) cJSON_Delete(item);
    return ok ? item : NULL;
}

static bool put_special(cJSON *added, int32_t id, const char *content)
{
    cJSON *e = put(added, NULL, cJSON_CreateObject());
    return e && cJSON_AddNumberToObject(e, "id", id) && cJSON_AddStringToObject(e, "content", content) &&
           cJSON_AddFalseToObject(e, "single_word") && cJSON_AddFalseToObject(e, "lstrip") &&
           cJSON_AddFalseToObject(e, "rstrip") && cJSON_AddFalseToObject(e, "normalized") &&
           cJSON_AddTrueToObject(e, "special");
}

/* Every child is attached as soon as it is created, so freeing root frees all. */
static cJSON *build_json(const trainer *T, const char *const *special, int ns, const char *pattern)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root && cJSON_AddStringToObject(root, "version", "1.0") && cJSON_AddNullToObject(root, "truncation") &&
              cJSON_AddNullToObject(root, "padding");
    cJSON *added = ok ? put(root, "added_tokens", cJSON_CreateArray()) : NULL;
    ok = added != NULL;
    for (int k = 0; k < ns && ok; k++) ok = put_special(added, k, special[k]);
    cJSON *pre = ok && cJSON_AddNullToObject(root, "normalizer") ? put(root, "pre_tokenizer", cJSON_CreateObject()) : NULL;
    cJSON *pres = pre && cJSON_AddStringToObject(pre, "type", "Sequence") ? put(pre, "pretokenizers", cJSON_CreateArray())
                                                                          : NULL;
    cJSON *split = put(pres, NULL, cJSON_CreateObject());
    cJSON *pat = split && cJSON_AddStringToObject(split, "type", "Split") ? put(split, "pattern", cJSON_CreateObject())
                                                                         : NULL;
    ok = pat && cJSON_AddStringToObject(pat, "Regex", pattern) && cJSON_AddStringToObject(split, "behavior", "Isolated") &&
         cJSON_AddFalseToObject(split, "invert") && put(pres, NULL, byte_level_obj()) &&
         put(root, "post_processor", byte_level_obj()) && put(root, "decoder", byte_level_obj());
    cJSON *model = ok ? put(root, "model", cJSON_CreateObject()) : NULL;
    ok = model && cJSON_AddStringToObject(model, "type", "BPE") && cJSON_AddNullToObject(model, "dropout") &&
         cJSON_AddNullToObject(model, "unk_token") && cJSON_AddNullToObject(model, "continuing_subword_prefix") &&
         cJSON_AddNullToObject(model, "end_of_word_suffix") && cJSON_AddFalseToObject(model, "fuse_unk") &&
         cJSON_AddFalseToObject(model, "byte_fallback") && cJSON_AddFalseToObject(model, "ignore_merges");
    cJSON *vocab = ok ? put(model, "vocab", cJSON_CreateObject()) : NULL;
    cJSON *merges = vocab ? put(model, "merges", cJSON_CreateArray()) : NULL;
    ok = merges != NULL;
    for (int k = 0; k < ns && ok; k++) ok = cJSON_AddNumberToObject(vocab, special[k], k) != NULL;
    for (size_t t = 0; t < T->ntok && ok; t++)
        ok = cJSON_AddNumberToObject(vocab, tstr(T, (int32_t)t), (double)ns + (double)t) != NULL;
    char *buf = NULL;
    size_t cap = 0;
    for (size_t m = 0; m < T->nmerge && ok; m++) {
        const char *a = tstr(T, T->merge[m].a), *b = tstr(T, T->merge[m].b);
        size_t la = T->tok[T->merge[m].a].len, lb = T->tok[T->merge[m].b].len;
        ok = grow((void **)&buf, &cap, la + lb + 2, 1);
        if (ok) {
            memcpy(buf, a, la);
            buf[la] = ' ';
            memcpy(buf + la + 1, b, lb + 1);
            ok = put(merges, NULL, cJSON_CreateString(buf)) != NULL;
        }
    }
    free(buf);
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* ---- the public calls ------------------------------------------------------------ */

void nl_bpe_train_opts_init(nl_bpe_train_opts *o)
{
    *o = (nl_bpe_train_opts){.vocab_size = 4096, .min_frequency = 2};
}

typedef struct session {
    nl_bpe_train_opts o;
    const char *pattern;
    const char **special; /* "<|endoftext|>" then the given ones, deduplicated */
    size_t *special_len;
    int ns;
    char enc[256][3];
    uint8_t enclen[256];
    counter c;
    size_t bytes_seen;
} session;

static void session_close(session *S)
{
    counter_free(&S->c);
    free(S->special);
    free(S->special_len);
}

static nl_status add_special(session *S, const char *s, int k)
{
    if (!s) return nl_error_set(NL_ERR_ARG, "bpe_train: special_tokens[%d] is NULL", k);
    size_t n = strlen(s);
    if (!n) return nl_error_set(NL_ERR_ARG, "bpe_train: special_tokens[%d] is empty", k);
    if (n > MAX_TOKEN)
        return nl_error_set(NL_ERR_ARG, "bpe_train: special_tokens[%d] is %zu bytes long (at most %d)", k, n, MAX_TOKEN);
    if (!utf8_ok(s, n)) return nl_error_set(NL_ERR_ARG, "bpe_train: special_tokens[%d] is not valid UTF-8", k);
    for (int b = 0; b < 256; b++)
        if (!strcmp(s, S->enc[b]))
            return nl_error_set(NL_ERR_ARG, "bpe_train: special token \"%s\" is also the byte-level symbol of byte "
                                "0x%02x; HINT: choose another string, e.g. \"<|%s|>\"", s, (unsigned)b, s);
    for (int i = 0; i < S->ns; i++)
        if (!strcmp(S->special[i], s)) return NL_OK;
    S->special[S->ns] = s;
    S->special_len[S->ns++] = n;
    return NL_OK;
}

static nl_status session_open(session *S, const nl_bpe_train_opts *o, const char *out_path)
{
    memset(S, 0, sizeof *S);
    if (o) S->o = *o;
    else nl_bpe_train_opts_init(&S->o);
    const nl_bpe_train_opts *op = &S->o;
    if (!out_path || !*out_path) return nl_error_set(NL_ERR_ARG, "bpe_train: the output path is %s", out_path ? "empty" : "NULL");
    if (op->n_special_tokens < 0 || (op->n_special_tokens && !op->special_tokens))
        return nl_error_set(NL_ERR_ARG, "bpe_train: special_tokens is %s with n_special_tokens=%d",
                            op->special_tokens ? "set" : "NULL", op->n_special_tokens);
    if (op->n_special_tokens > INT32_MAX / 2 - 300)
        return nl_error_set(NL_ERR_ARG, "bpe_train: %d special tokens is too many", op->n_special_tokens);
    byte_alphabet(S->enc, S->enclen);
    size_t nsp = (size_t)op->n_special_tokens + 1;
    S->special = malloc(nsp * sizeof *S->special);
    S->special_len = malloc(nsp * sizeof *S->special_len);
    if (!S->special || !S->special_len) return oom();
    NL_TRY(add_special(S, eot, 0));
    for (int k = 0; k < op->n_special_tokens; k++) NL_TRY(add_special(S, op->special_tokens[k], k));
    S->c.special = S->special;
    S->c.special_len = S->special_len;
    S->c.n_special = S->ns;
    int64_t need = 256 + (int64_t)S->ns;
    if (op->vocab_size < need)
        return nl_error_set(NL_ERR_ARG, "bpe_train: vocab_size %d is smaller than the 256 byte symbols + %d special "
                            "tokens = %lld; HINT: ask for at least %lld (the default is 4096)", (int)op->vocab_size,
                            S->ns, (long long)need, (long long)need);
    if (op->min_frequency < 1)
        return nl_error_set(NL_ERR_ARG, "bpe_train: min_frequency %lld is less than 1; HINT: call "
                            "nl_bpe_train_opts_init first (default 2)", (long long)op->min_frequency);
    S->pattern = op->pattern ? op->pattern : qwen2_pattern;
    int err;
    PCRE2_SIZE off;
    S->c.re = pcre2_compile((PCRE2_SPTR)S->pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                            &err, &off, NULL);
    if (!S->c.re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return nl_error_set(NL_ERR_ARG, "bpe_train: the split regex /%s/ does not compile at offset %zu: %s", S->pattern,
                            (size_t)off, (const char *)msg);
    }
    pcre2_jit_compile(S->c.re, PCRE2_JIT_COMPLETE); /* optional speed-up, as in the encoder */
    if (!(S->c.md = pcre2_match_data_create(1, NULL))) return oom();
    return NL_OK;
}

static nl_status session_finish(session *S, size_t n_texts, const char *out_path)
{
    if (!S->c.n)
        return nl_error_set(NL_ERR_ARG, "bpe_train: the corpus is empty (%zu texts, %zu bytes, no word outside the "
                            "special tokens); HINT: pass some text", n_texts, S->bytes_seen);
    trainer T = {.min_freq = S->o.min_frequency};
    nl_status st = train_init(&T, &S->c, (const char(*)[3])S->enc, S->enclen);
    counter_free(&S->c); /* the words now live in T */
    memset(&S->c, 0, sizeof S->c);
    if (st == NL_OK) st = train_loop(&T, (int64_t)S->o.vocab_size - 256 - S->ns, S->special, S->ns);
    cJSON *root = st == NL_OK ? build_json(&T, S->special, S->ns, S->pattern) : NULL;
    if (st == NL_OK && !root) st = oom();
    trainer_free(&T);
    char *json = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (st == NL_OK && !json) st = oom();
    if (st == NL_OK) {
        nl_atomic_file f;
        st = nl_atomic_open(&f, out_path);
        if (st == NL_OK) {
            st = nl_atomic_write(&f, json, strlen(json));
            if (st == NL_OK) st = nl_atomic_write(&f, "\n", 1);
            if (st == NL_OK) st = nl_atomic_commit(&f);
            else nl_atomic_abort(&f);
        }
    }
    free(json);
    return st;
}

nl_status nl_bpe_train(const char *const *texts, const size_t *lens, size_t n_texts, const nl_bpe_train_opts *o,
                       const char *out_path)
{
    if (n_texts && (!texts || !lens))
        return nl_error_set(NL_ERR_ARG, "bpe_train: %s is NULL with n_texts=%zu", texts ? "lens" : "texts", n_texts);
    for (size_t i = 0; i < n_texts; i++)
        if (!texts[i] && lens[i]) return nl_error_set(NL_ERR_ARG, "bpe_train: texts[%zu] is NULL with %zu bytes", i, lens[i]);
    session S;
    nl_status st = session_open(&S, o, out_path);
    for (size_t i = 0; i < n_texts && st == NL_OK; i++) {
        st = count_text(&S.c, texts[i], lens[i]);
        S.bytes_seen += lens[i];
    }
    if (st == NL_OK) st = session_finish(&S, n_texts, out_path);
    session_close(&S);
    return st;
}

static nl_status read_corpus(const char *path, char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nl_error_set(NL_ERR_IO, "bpe_train: cannot open corpus file %s: %s", path, strerror(errno));
    struct stat sb;
    nl_status st = NL_OK;
    if (fstat(fd, &sb) != 0) st = nl_error_set(NL_ERR_IO, "bpe_train: stat %s: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode)) st = nl_error_set(NL_ERR_IO, "bpe_train: corpus file %s is not a regular file", path);
    else if ((uint64_t)sb.st_size > NL_BPE_TRAIN_MAX_FILE)
        st = nl_error_set(NL_ERR_ARG, "bpe_train: corpus file %s is %lld bytes; at most %u bytes (1 GiB) per file "
                          "are read; HINT: split it into smaller files", path, (long long)sb.st_size,
                          NL_BPE_TRAIN_MAX_FILE);
    size_t n = st == NL_OK ? (size_t)sb.st_size : 0, got = 0;
    char *b = st == NL_OK ? malloc(n ? n : 1) : NULL;
    if (st == NL_OK && !b) st = oom();
    while (st == NL_OK && got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) st = nl_error_set(NL_ERR_IO, "bpe_train: read %s: %s", path, strerror(errno));
        else if (r == 0) n = got; /* the file shrank: train on what is there */
        else got += (size_t)r;
    }
    close(fd);
    if (st != NL_OK) {
        free(b);
        return st;
    }
    *buf = b;
    *len = n;
    return NL_OK;
}

nl_status nl_bpe_train_files(const char *const *paths, int n, const nl_bpe_train_opts *o, const char *out_path)
{
    if (n < 0 || (n && !paths)) return nl_error_set(NL_ERR_ARG, "bpe_train: bad file list (n=%d, paths %s)", n,
                                                    paths ? "set" : "NULL");
    for (int i = 0; i < n; i++)
        if (!paths[i]) return nl_error_set(NL_ERR_ARG, "bpe_train: paths[%d] is NULL", i);
    session S;
    nl_status st = session_open(&S, o, out_path);
    for (int i = 0; i < n && st == NL_OK; i++) {
        char *text = NULL;
        size_t len = 0;
        st = read_corpus(paths[i], &text, &len);
        if (st == NL_OK) st = count_text(&S.c, text, len);
        S.bytes_seen += len;
        free(text);
    }
    if (st == NL_OK) st = session_finish(&S, (size_t)n, out_path);
    session_close(&S);
    return st;
}
