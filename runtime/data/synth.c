/* synth.c — the synthetic notes benchmark writer: items (category, name,
 * visual identity, link type, split), notes (title, content with hashtags),
 * simulated co-occurrence with §1.3's outlier filter and top-t, pair files,
 * images (OpenMP, per-note generators so the bytes do not depend on the
 * thread count), ground-truth side files and dataset.json. Every random draw
 * comes from nl_rng streams derived from (seed, index, purpose). Never prints. */
#define _GNU_SOURCE
#include "synth.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "atomic.h"
#include "image.h"
#include "runtime.h"

enum { SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST, SPLIT_DISTRACTOR };
enum { LINK_TEXT, LINK_IMAGE, LINK_BOTH };
enum { PURPOSE_ITEMS, PURPOSE_TEXT, PURPOSE_IMAGE, PURPOSE_CLICKS, PURPOSE_ROWS };

static const char *const split_names[] = {"train", "val", "test", "distractor"};
static const char *const link_names[] = {"text", "image", "both"};

void nl_synth_defaults(nl_synth_opts *o)
{
    memset(o, 0, sizeof *o);
    o->items = 2000;
    o->notes_min = 6;
    o->notes_max = 14;
    o->share_text = o->share_image = o->share_both = 1.0 / 3.0;
    o->lang = "en";
    o->image_size = 64;
    o->seed = 1;
    o->top_t = 4;
    o->distractor_items = 200;
    o->short_threshold = 0;
    o->test_fraction = 0.2;
    o->val_fraction = 0.1;
    o->events_min = 6;
    o->events_max = 12;
    o->cross_click = 0.03;
    o->score_lo = 0.01;
    o->score_hi = 30.0;
    o->short_share = 0.3;
    o->overwrite = false;
}

/* ---- small helpers ---- */

/* An independent generator for (seed, index, purpose): one splitmix64 step
 * over a mix of the three, then nl_rng_seed's own splitmix expansion. */
static void stream(nl_rng *r, uint64_t seed, uint64_t index, uint64_t purpose)
{
    uint64_t z = seed ^ (index * 0x9e3779b97f4a7c15ull) ^ (purpose * 0xd1b54a32d192ed03ull);
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    nl_rng_seed(r, z ^ (z >> 31));
}

static uint64_t below(nl_rng *r, uint64_t n) { return n ? nl_rng_next(r) % n : 0; }

typedef struct sbuf { char *p; size_t n, cap; bool oom; } sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_fmt(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(sbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) { b->oom = true; return; }
    sb_put(b, tmp, (size_t)n);
}
/* RFC-4180 field: quoted when it holds a comma, quote, CR or LF. */
static void sb_csv(sbuf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) { sb_str(b, s); return; }
    sb_put(b, "\"", 1);
    for (const char *q; (q = strchr(s, '"')); s = q + 1) sb_put(b, s, (size_t)(q - s) + 1), sb_put(b, "\"", 1);
    sb_str(b, s);
    sb_put(b, "\"", 1);
}

/* A space-separated word table split into (pointer, length) tokens. */
typedef struct words { const char *w[64]; int len[64]; int n; } words;

static void split_words(words *ws, const char *s)
{
    ws->n = 0;
    while (*s && ws->n < 64) {
        while (*s == ' ') s++;
        const char *e = s;
        while (*e && *e != ' ') e++;
        if (e > s) { ws->w[ws->n] = s; ws->len[ws->n] = (int)(e - s); ws->n++; }
        s = e;
    }
}

/* ---- UTF-8 and the §1.4 content length ---- */

static uint32_t utf8_at(const char *s, int *len)
{
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80) { *len = 1; return u[0]; }
    if ((u[0] & 0xe0) == 0xc0 && u[1]) { *len = 2; return ((uint32_t)(u[0] & 0x1f) << 6) | (u[1] & 0x3f); }
    if ((u[0] & 0xf0) == 0xe0 && u[1] && u[2]) {
        *len = 3;
        return ((uint32_t)(u[0] & 0x0f) << 12) | ((uint32_t)(u[1] & 0x3f) << 6) | (u[2] & 0x3f);
    }
    if ((u[0] & 0xf8) == 0xf0 && u[1] && u[2] && u[3]) {
        *len = 4;
        return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3f) << 12) |
               ((uint32_t)(u[2] & 0x3f) << 6) | (u[3] & 0x3f);
    }
    *len = 1;
    return 0xfffd;
}

static int is_word(uint32_t c)
{
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (c >= 0x2000 && c <= 0x206f) return 0;                 /* general punctuation */
    if (c >= 0x3000 && c <= 0x303f) return 0;                 /* CJK punctuation */
    if ((c >= 0xff00 && c <= 0xff0f) || (c >= 0xff1a && c <= 0xff20) || (c >= 0xff3b && c <= 0xff40) ||
        (c >= 0xff5b && c <= 0xff65))
        return 0;                                             /* full-width punctuation */
    return c != 0xa0 && c != 0xfffd;
}

static int is_space(uint32_t c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f) || c == 0x85 || c == 0xa0 ||
           c == 0x3000 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x1680;
}

/* Remove every occurrence of pat (length pn) from s in place. */
static void remove_all(char *s, const char *pat, size_t pn)
{
    char *w = s;
    for (const char *r = s; *r;) {
        if (strncmp(r, pat, pn) == 0) r += pn;
        else *w++ = *r++;
    }
    *w = '\0';
}

int nl_synth_content_length(const char *content)
{
    char *s = strdup(content ? content : "");
    if (!s) return -1;
    remove_all(s, "[话题]", strlen("[话题]"));
    /* #\w+# matches, left to right, non-overlapping; collect those <= 16 code points. */
    size_t n = strlen(s), ntag = 0;
    size_t *tag_at = malloc((n / 2 + 1) * sizeof *tag_at), *tag_len = malloc((n / 2 + 1) * sizeof *tag_len);
    if (!tag_at || !tag_len) { free(s); free(tag_at); free(tag_len); return -1; }
    for (size_t i = 0; i < n;) {
        if (s[i] != '#') { i++; continue; }
        size_t j = i + 1;
        int cps = 1, l;
        while (j < n && is_word(utf8_at(s + j, &l))) j += (size_t)l, cps++;
        if (j > i + 1 && j < n && s[j] == '#') {
            if (cps + 1 <= 16) { tag_at[ntag] = i; tag_len[ntag] = j + 1 - i; ntag++; }
            i = j + 1;
        } else {
            i++;
        }
    }
    /* Copy the matches out first: removal shifts the string. */
    char **tags = calloc(ntag + 1, sizeof *tags);
    for (size_t k = 0; tags && k < ntag; k++) tags[k] = strndup(s + tag_at[k], tag_len[k]);
    for (size_t k = 0; tags && k < ntag; k++)
        if (tags[k]) remove_all(s, tags[k], strlen(tags[k]));
    for (size_t k = 0; tags && k < ntag; k++) free(tags[k]);
    free(tags);
    free(tag_at);
    free(tag_len);
    /* '\n' -> "。" (one code point, not whitespace), first 80 code points, strip. */
    uint32_t cp[80];
    int m = 0, l;
    for (const char *p = s; *p && m < 80; p += l) {
        uint32_t c = utf8_at(p, &l);
        cp[m++] = c == '\n' ? 0x3002 : c;
    }
    free(s);
    int lo = 0, hi = m;
    while (lo < hi && is_space(cp[lo])) lo++;
    while (hi > lo && is_space(cp[hi - 1])) hi--;
    return hi - lo;
}

/* ---- items ---- */

typedef struct item {
    int split, link, category, n_notes;
    int64_t first;      /* global index of its first note */
    char name[64];      /* display name */
    char tag[64];       /* the name as one hashtag word */
    nl_synth_look look;
} item;

typedef struct note {
    int64_t item, row;  /* row within its notes file */
    char *title, *content;
    int len;            /* preprocessed content code points */
    float pop;          /* click popularity */
} note;

typedef struct pair { int64_t q, t; } pair;
typedef struct pairs { pair *p; int64_t n, cap; } pairs;

static bool pairs_add(pairs *ps, int64_t q, int64_t t)
{
    if (ps->n == ps->cap) {
        int64_t cap = ps->cap ? 2 * ps->cap : 1024;
        pair *p = realloc(ps->p, (size_t)cap * sizeof *p);
        if (!p) return false;
        ps->p = p;
        ps->cap = cap;
    }
    ps->p[ps->n++] = (pair){q, t};
    return true;
}

typedef struct gen {
    const nl_synth_opts *o;
    int lang, thr;
    int64_t n_items, n_notes;
    item *items;
    note *notes;
    words cat_words[NL_SYNTH_CATEGORIES], cat_tags[NL_SYNTH_CATEGORIES], adj, syl, emoji;
} gen;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* A made-up name of 2-3 words, unique among items (open-addressing set). */
static void make_name(gen *g, item *it, nl_rng *r, int64_t *set, int64_t set_n, int64_t self)
{
    for (int attempt = 0;; attempt++) {
        int nw = 2 + (int)below(r, 2);
        it->name[0] = it->tag[0] = '\0';
        for (int w = 0; w < nw; w++) {
            char word[32] = "";
            int ns = g->lang ? 1 + (int)below(r, 2) : 2 + (int)below(r, 2);
            for (int s = 0; s < ns; s++) {
                int k = (int)below(r, (uint64_t)g->syl.n);
                strncat(word, g->syl.w[k], (size_t)g->syl.len[k]);
            }
            if (!g->lang && word[0] >= 'a' && word[0] <= 'z') word[0] = (char)(word[0] - 'a' + 'A');
            if (w && !g->lang) strcat(it->name, " ");
            strcat(it->name, word);
            strcat(it->tag, word);
        }
        uint64_t h = fnv1a(it->tag) % (uint64_t)set_n;
        bool dup = false;
        for (; set[h] >= 0; h = (h + 1) % (uint64_t)set_n)
            if (strcmp(g->items[set[h]].tag, it->tag) == 0) { dup = true; break; }
        if (!dup || attempt > 1000) {
            if (!dup) set[h] = self;
            return;
        }
    }
}

static nl_status make_items(gen *g)
{
    const nl_synth_opts *o = g->o;
    int64_t n = g->n_items, n_test = llround((double)o->items * o->test_fraction),
            n_val = llround((double)o->items * o->val_fraction);
    nl_rng r;
    stream(&r, o->seed, 0, PURPOSE_ITEMS);
    int64_t *perm = malloc((size_t)n * sizeof *perm), set_n = 4 * n + 7;
    int64_t *set = malloc((size_t)set_n * sizeof *set);
    bool *used = calloc((size_t)NL_SYNTH_CATEGORIES * NL_SYNTH_SHAPES * NL_SYNTH_COLOURS * NL_SYNTH_TEXTURES *
                            NL_SYNTH_POSITIONS, 1);
    if (!perm || !set || !used) {
        free(perm), free(set), free(used);
        return nl_error_set(NL_ERR_OOM, "gen-notes: out of memory for %lld items", (long long)n);
    }
    for (int64_t i = 0; i < set_n; i++) set[i] = -1;
    /* Split: a shuffle of the paired items; test first, then val, then train. */
    for (int64_t i = 0; i < o->items; i++) perm[i] = i;
    for (int64_t i = o->items - 1; i > 0; i--) {
        int64_t j = (int64_t)below(&r, (uint64_t)i + 1), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    double tot = o->share_text + o->share_image + o->share_both;
    double c1 = o->share_text / tot, c2 = (o->share_text + o->share_image) / tot;
    int64_t start[4] = {n_test + n_val, n_test, 0, o->items}, len[4] = {o->items - n_test - n_val, n_val, n_test, n - o->items};
    for (int s = 0; s < 4; s++)
        for (int64_t k = 0; k < len[s]; k++) {
            int64_t id = s == SPLIT_DISTRACTOR ? o->items + k : perm[start[s] + k];
            double x = ((double)k + 0.5) / (double)len[s];
            g->items[id].split = s;
            g->items[id].link = x < c1 ? LINK_TEXT : x < c2 ? LINK_IMAGE : LINK_BOTH;
        }
    /* Category, notes, name and visual identity, in item order. The category's
     * own emblem (what its generic images show) is never an item's identity. */
    int64_t first = 0;
    const int combos = NL_SYNTH_SHAPES * NL_SYNTH_COLOURS * NL_SYNTH_TEXTURES * NL_SYNTH_POSITIONS;
    for (int64_t i = 0; i < n; i++) {
        item *it = &g->items[i];
        it->category = (int)below(&r, NL_SYNTH_CATEGORIES);
        it->n_notes = o->notes_min + (int)below(&r, (uint64_t)(o->notes_max - o->notes_min + 1));
        it->first = first;
        first += it->n_notes;
        make_name(g, it, &r, set, set_n, i);
        bool *u = used + (size_t)it->category * combos;
        int emblem = it->category % NL_SYNTH_SHAPES * NL_SYNTH_COLOURS * NL_SYNTH_TEXTURES * NL_SYNTH_POSITIONS +
                     (it->category * 3 + 1) % NL_SYNTH_COLOURS * NL_SYNTH_TEXTURES * NL_SYNTH_POSITIONS +
                     it->category / NL_SYNTH_SHAPES % NL_SYNTH_TEXTURES * NL_SYNTH_POSITIONS;
        u[emblem] = true;
        int c = (int)below(&r, (uint64_t)combos);
        for (int tries = 0; u[c] && tries < combos; tries++) c = (c + 1) % combos;
        if (c == emblem) c = (c + 1) % combos; /* a category with every identity used: repeats */
        u[c] = true;
        it->look = (nl_synth_look){.shape = c / (NL_SYNTH_COLOURS * NL_SYNTH_TEXTURES * NL_SYNTH_POSITIONS),
                                   .colour = c / (NL_SYNTH_TEXTURES * NL_SYNTH_POSITIONS) % NL_SYNTH_COLOURS,
                                   .texture = c / NL_SYNTH_POSITIONS % NL_SYNTH_TEXTURES,
                                   .position = c % NL_SYNTH_POSITIONS,
                                   .category = it->category};
    }
    g->n_notes = first;
    free(perm), free(set), free(used);
    return NL_OK;
}

/* The look of a note's image: the item's identity when the item is
 * image-linked or both, else the category's shared emblem. */
static nl_synth_look note_look(const item *it)
{
    if (it->link != LINK_TEXT) return it->look;
    int c = it->category;
    return (nl_synth_look){.shape = c % NL_SYNTH_SHAPES, .colour = (c * 3 + 1) % NL_SYNTH_COLOURS,
                           .texture = c / NL_SYNTH_SHAPES % NL_SYNTH_TEXTURES, .position = 0, .category = c};
}

/* ---- text ---- */

static void pick(sbuf *b, const words *w, nl_rng *r)
{
    int k = (int)below(r, (uint64_t)w->n);
    sb_put(b, w->w[k], (size_t)w->len[k]);
}

static void expand(gen *g, sbuf *b, const char *tpl, const item *it, nl_rng *r)
{
    for (const char *p = tpl; *p; p++) {
        if (p[0] == '%' && p[1] == 'N') sb_str(b, it->name), p++;
        else if (p[0] == '%' && p[1] == 'W') pick(b, &g->cat_words[it->category], r), p++;
        else if (p[0] == '%' && p[1] == 'A') pick(b, &g->adj, r), p++;
        else sb_put(b, p, 1);
    }
}

static const char *pick_tpl(const char *const *list, nl_rng *r)
{
    int n = 0;
    while (list[n]) n++;
    return list[below(r, (uint64_t)n)];
}

static size_t cps(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* Title and content of one note. Text-linked items name themselves in the
 * first sentence (and usually the title and a hashtag); image-linked items
 * get generic talk about their category only. */
static nl_status make_text(gen *g, note *nt, const item *it, nl_rng *r)
{
    const nl_synth_opts *o = g->o;
    int L = g->lang;
    bool named = it->link != LINK_IMAGE;
    sbuf t = {0}, c = {0};
    if (named && nl_rng_uniform(r) < 0.7f) expand(g, &t, pick_tpl(nl_synth_titles_named[L], r), it, r);
    else expand(g, &t, pick_tpl(nl_synth_titles[L], r), it, r);
    if (nl_rng_uniform(r) < 0.1f) sb_str(&t, L ? "，\"必看\"" : " \"must see\""); /* exercises CSV quoting */

    /* Hashtags: 1-3 of the category's, plus the item's name for named items.
     * One tag sometimes opens the content. */
    const words *ct = &g->cat_tags[it->category];
    int ntags = 1 + (int)below(r, 3), first_tag = (int)below(r, (uint64_t)ct->n);
    bool lead = nl_rng_uniform(r) < 0.2f;
    if (lead) {
        sb_str(&c, "#");
        sb_put(&c, ct->w[first_tag], (size_t)ct->len[first_tag]);
        sb_str(&c, "[话题]# ");
    }
    if (nl_rng_uniform(r) < (float)o->short_share) {
        expand(g, &c, named ? nl_synth_short_named[L] : nl_synth_short[L], it, r);
    } else {
        size_t target = (size_t)g->thr + 20 + below(r, 200), body0 = c.n;
        for (int s = 0; cps(c.p ? c.p + body0 : "") < target && !c.oom; s++) {
            if (s) {
                float u = nl_rng_uniform(r);
                if (u < 0.3f) sb_str(&c, "\n");
                else if (u < 0.4f) sb_str(&c, " "), pick(&c, &g->emoji, r), sb_str(&c, " ");
                else if (!L) sb_str(&c, " ");
            }
            bool nm = named && (s == 0 || nl_rng_uniform(r) < 0.25f);
            expand(g, &c, pick_tpl(nm ? nl_synth_sentences_named[L] : nl_synth_sentences[L], r), it, r);
        }
    }
    sb_str(&c, nl_rng_uniform(r) < 0.5f ? "\n" : " ");
    for (int k = 0; k < ntags; k++) {
        int j = (first_tag + k + (lead ? 1 : 0)) % ct->n;
        if (k) sb_str(&c, " ");
        sb_str(&c, "#");
        sb_put(&c, ct->w[j], (size_t)ct->len[j]);
        sb_str(&c, "[话题]#");
    }
    if (named && nl_rng_uniform(r) < 0.8f) sb_fmt(&c, " #%s[话题]#", it->tag);
    if (t.oom || c.oom) {
        free(t.p), free(c.p);
        return nl_error_set(NL_ERR_OOM, "gen-notes: out of memory for note text");
    }
    nt->title = t.p;
    nt->content = c.p;
    nt->len = nl_synth_content_length(c.p);
    if (nt->len < 0) return nl_error_set(NL_ERR_OOM, "gen-notes: out of memory for note text");
    return NL_OK;
}

/* ---- co-occurrence ---- */

typedef struct cand { int64_t note; double score; } cand;

static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->note < y->note ? -1 : x->note > y->note;
}

/* Notes of the paired items by (split, category): train, val, test. */
typedef struct pools { int64_t *note, start[3][NL_SYNTH_CATEGORIES + 1]; } pools;

static nl_status make_pools(gen *g, pools *p)
{
    memset(p, 0, sizeof *p);
    int64_t cnt[3][NL_SYNTH_CATEGORIES] = {{0}}, total = 0;
    for (int64_t i = 0; i < g->o->items; i++) {
        cnt[g->items[i].split][g->items[i].category] += g->items[i].n_notes;
        total += g->items[i].n_notes;
    }
    p->note = malloc((size_t)(total ? total : 1) * sizeof *p->note);
    if (!p->note) return nl_error_set(NL_ERR_OOM, "gen-notes: out of memory for click pools");
    int64_t at = 0, fill[3][NL_SYNTH_CATEGORIES];
    for (int s = 0; s < 3; s++) {
        for (int c = 0; c < NL_SYNTH_CATEGORIES; c++) p->start[s][c] = fill[s][c] = at, at += cnt[s][c];
        p->start[s][NL_SYNTH_CATEGORIES] = at;
    }
    for (int64_t i = 0; i < g->o->items; i++) {
        const item *it = &g->items[i];
        for (int k = 0; k < it->n_notes; k++) p->note[fill[it->split][it->category]++] = it->first + k;
    }
    return NL_OK;
}

/* Simulate view->click events for note q and return its top-t related notes.
 * Each event: a user with activity N_u (log-uniform in [1, 200]) clicked a
 * note of the same item (chosen by popularity) or, with probability
 * cross_click, a note of another item of the same category and split; the
 * score is the sum of 1/N_u (§1.3), filtered to [score_lo, score_hi]. */
static void related(gen *g, const pools *pl, int64_t q, cand *cs, const int64_t *item_of, int *out_n)
{
    const nl_synth_opts *o = g->o;
    const item *it = &g->items[item_of[q]];
    nl_rng r;
    stream(&r, o->seed, (uint64_t)q, PURPOSE_CLICKS);
    int n = 0;
    for (int k = 0; k < it->n_notes; k++)
        if (it->first + k != q) cs[n++] = (cand){it->first + k, 0.0};
    double popsum = 0;
    for (int k = 0; k < n; k++) popsum += g->notes[cs[k].note].pop;
    int events = o->events_min + (int)below(&r, (uint64_t)(o->events_max - o->events_min + 1));
    for (int e = 0; e < events; e++) {
        double w = 1.0 / floor(exp(nl_rng_uniform(&r) * log(200.0)));
        if (nl_rng_uniform(&r) < (float)o->cross_click) {
            int s = it->split;
            int64_t lo = pl->start[s][it->category], hi = pl->start[s][it->category + 1];
            int64_t t = hi > lo ? pl->note[lo + (int64_t)below(&r, (uint64_t)(hi - lo))] : q;
            if (item_of[t] == item_of[q]) continue;
            int k = n;
            for (int j = 0; j < n; j++)
                if (cs[j].note == t) { k = j; break; }
            if (k == n) cs[n++] = (cand){t, 0.0};
            cs[k].score += w;
        } else {
            double x = nl_rng_uniform(&r) * popsum, acc = 0;
            int k = 0;
            for (; k < it->n_notes - 2; k++) {
                acc += g->notes[cs[k].note].pop;
                if (x < acc) break;
            }
            cs[k].score += w;
        }
    }
    int m = 0;
    for (int k = 0; k < n; k++)
        if (cs[k].score >= o->score_lo && cs[k].score <= o->score_hi) cs[m++] = cs[k];
    qsort(cs, (size_t)m, sizeof *cs, cand_cmp);
    *out_n = m < o->top_t ? m : o->top_t;
}

/* ---- files ---- */

static nl_status save(const char *dir, const char *name, sbuf *b)
{
    if (b->oom) return nl_error_set(NL_ERR_OOM, "gen-notes: out of memory building %s", name);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    nl_status st = nl_atomic_save(path, b->p ? b->p : "", b->n);
    return st;
}

static void note_id(char *out, size_t n, const gen *g, int64_t i)
{
    snprintf(out, n, "%s%06lld", g->items[g->notes[i].item].split >= SPLIT_TEST ? "te" : "tr",
             (long long)g->notes[i].row);
}

static nl_status write_pairs(gen *g, const char *dir, const char *name, const pairs *ps, int filter,
                             int64_t *count)
{
    sbuf b = {0};
    int64_t n = 0;
    for (int64_t k = 0; k < ps->n; k++) {
        const note *q = &g->notes[ps->p[k].q], *t = &g->notes[ps->p[k].t];
        bool keep = true;
        switch (filter) {
        case 1: keep = q->len < g->thr; break;
        case 2: keep = q->len >= g->thr; break;
        case 3: keep = t->len < g->thr; break;
        case 4: keep = t->len >= g->thr; break;
        case 5: case 6: case 7: keep = g->items[q->item].link == filter - 5; break;
        default: break;
        }
        if (!keep) continue;
        char a[32], c[32];
        note_id(a, sizeof a, g, ps->p[k].q);
        note_id(c, sizeof c, g, ps->p[k].t);
        sb_fmt(&b, "%s,%s\n", a, c);
        n++;
    }
    nl_status st = save(dir, name, &b);
    free(b.p);
    if (count) *count = n;
    return st;
}

/* One notes file (rows in their shuffled order); its ground-truth rows are
 * appended to GT. side 0: notes_train.csv, 1: notes_test.csv. */
static nl_status write_notes(gen *g, const char *dir, int side, sbuf *gt, int64_t *count)
{
    sbuf b = {0};
    int64_t n = 0;
    for (int64_t i = 0; i < g->n_notes; i++) n += (g->items[g->notes[i].item].split >= SPLIT_TEST) == side;
    int64_t *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!order) return nl_error_set(NL_ERR_OOM, "gen-notes: out of memory");
    for (int64_t i = 0; i < g->n_notes; i++)
        if ((g->items[g->notes[i].item].split >= SPLIT_TEST) == side) order[g->notes[i].row] = i;
    for (int64_t k = 0; k < n; k++) {
        const note *nt = &g->notes[order[k]];
        const item *it = &g->items[nt->item];
        const nl_synth_category *c = &nl_synth_categories[it->category];
        char id[32], cat[128];
        note_id(id, sizeof id, g, order[k]);
        sb_fmt(&b, "%s,", id);
        sb_csv(&b, nt->title);
        sb_str(&b, ",");
        sb_csv(&b, nt->content);
        sb_fmt(&b, ",img_%s,", id);
        snprintf(cat, sizeof cat, "%s@%s@", c->l1[g->lang], c->l2[g->lang]);
        sb_csv(&b, cat);
        sb_str(&b, "\n");
        sb_fmt(gt, "%s,item%05lld,%s,%s,%d,%d,%d\n", id, (long long)nt->item, split_names[it->split],
               link_names[it->link], it->category, nt->len, nt->len < g->thr);
    }
    free(order);
    nl_status st = save(dir, side ? "notes_test.csv" : "notes_train.csv", &b);
    free(b.p);
    if (count) *count = n;
    return st;
}

/* Images in parallel on the thread knob's threads (DESIGN.md: one knob, no
 * oversubscription): each note's pixels come from its own stream, so the
 * files do not depend on the thread count or the schedule. */
static nl_status write_images(gen *g, const char *dir)
{
    int size = g->o->image_size, failed = 0, threads = 1;
    nl_status fst = NL_OK;
    char fmsg[1024] = "";
    int64_t n = g->n_notes;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
#pragma omp parallel num_threads(threads)
    {
        uint8_t *px = malloc((size_t)3 * size * size);
        char path[4096], id[32];
#pragma omp for schedule(dynamic, 32)
        for (int64_t i = 0; i < n; i++) {
            int f;
#pragma omp atomic read
            f = failed;
            if (f) continue;
            nl_status st = px ? nl_interrupt_poll() : nl_error_set(NL_ERR_OOM, "gen-notes: out of memory for an image");
            if (st == NL_OK) {
                const item *it = &g->items[g->notes[i].item];
                nl_synth_look lk = note_look(it);
                nl_rng r;
                stream(&r, g->o->seed, (uint64_t)i, PURPOSE_IMAGE);
                nl_synth_render(px, size, &lk, &r);
                note_id(id, sizeof id, g, i);
                snprintf(path, sizeof path, "%s/%s/img_%s", dir, it->split >= SPLIT_TEST ? "images_test" : "images", id);
                st = nl_image_write_png(path, px, size, size, false);
            }
            if (st != NL_OK) {
#pragma omp critical(nl_synth_error)
                {
                    if (!failed) {
                        failed = 1;
                        fst = st;
                        snprintf(fmsg, sizeof fmsg, "%s", nl_last_error());
                    }
                }
            }
        }
        free(px);
    }
    return failed ? nl_error_set(fst, "%s", fmsg) : NL_OK;
}

static nl_status write_items(gen *g, const char *dir)
{
    sbuf b = {0};
    for (int64_t i = 0; i < g->n_items; i++) {
        const item *it = &g->items[i];
        const nl_synth_category *c = &nl_synth_categories[it->category];
        char cat[128];
        snprintf(cat, sizeof cat, "%s@%s@", c->l1[g->lang], c->l2[g->lang]);
        sb_fmt(&b, "item%05lld,%s,%s,", (long long)i, split_names[it->split], link_names[it->link]);
        sb_csv(&b, cat);
        sb_str(&b, ",");
        sb_csv(&b, it->name);
        sb_fmt(&b, ",%s,%s,%s,%s\n", nl_synth_shape_names[it->look.shape], nl_synth_colour_names[it->look.colour],
               nl_synth_texture_names[it->look.texture], nl_synth_position_names[it->look.position]);
    }
    nl_status st = save(dir, "items.csv", &b);
    free(b.p);
    return st;
}

static void put_num(cJSON *o, const char *k, double v) { cJSON_AddItemToObject(o, k, cJSON_CreateNumber(v)); }

static nl_status write_json(gen *g, const char *dir, const nl_synth_stats *s)
{
    const nl_synth_opts *o = g->o;
    cJSON *root = cJSON_CreateObject(), *p = cJSON_CreateObject(), *c = cJSON_CreateObject();
    cJSON *cats = cJSON_CreateArray(), *files = cJSON_CreateObject();
    if (!root || !p || !c || !cats || !files) {
        cJSON_Delete(root), cJSON_Delete(p), cJSON_Delete(c), cJSON_Delete(cats), cJSON_Delete(files);
        return nl_error_set(NL_ERR_OOM, "gen-notes: out of memory for dataset.json");
    }
    cJSON_AddStringToObject(root, "generator", "notellm gen-notes (runtime/data/synth.c)");
    put_num(root, "format_version", 1);
    cJSON_AddItemToObject(root, "params", p);
    put_num(p, "items", (double)o->items);
    put_num(p, "notes_min", o->notes_min);
    put_num(p, "notes_max", o->notes_max);
    put_num(p, "share_text", o->share_text);
    put_num(p, "share_image", o->share_image);
    put_num(p, "share_both", o->share_both);
    cJSON_AddStringToObject(p, "lang", g->lang ? "zh" : "en");
    put_num(p, "image_size", o->image_size);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    cJSON_AddStringToObject(p, "seed", seed);
    put_num(p, "top_t", o->top_t);
    put_num(p, "distractor_items", (double)o->distractor_items);
    put_num(p, "short_threshold", g->thr);
    put_num(p, "test_fraction", o->test_fraction);
    put_num(p, "val_fraction", o->val_fraction);
    put_num(p, "events_min", o->events_min);
    put_num(p, "events_max", o->events_max);
    put_num(p, "cross_click", o->cross_click);
    put_num(p, "score_lo", o->score_lo);
    put_num(p, "score_hi", o->score_hi);
    put_num(p, "short_share", o->short_share);
    cJSON_AddItemToObject(root, "counts", c);
    const struct { const char *k; int64_t v; } cn[] = {
        {"items_train", s->items_train}, {"items_val", s->items_val}, {"items_test", s->items_test},
        {"items_distractor", s->items_distractor}, {"items_text", s->items_text},
        {"items_image", s->items_image}, {"items_both", s->items_both}, {"notes_train", s->notes_train},
        {"notes_test", s->notes_test}, {"notes_short", s->notes_short}, {"images", s->images},
        {"pairs_train", s->pairs_train}, {"pairs_val", s->pairs_val}, {"pairs_test", s->pairs_test},
        {"pairs_test_shortquery", s->pairs_test_shortquery}, {"pairs_test_longquery", s->pairs_test_longquery},
        {"pairs_test_shortgtdoc", s->pairs_test_shortgtdoc}, {"pairs_test_longgtdoc", s->pairs_test_longgtdoc},
        {"pairs_test_textlinked", s->pairs_test_textlinked}, {"pairs_test_imagelinked", s->pairs_test_imagelinked},
        {"pairs_test_both", s->pairs_test_both}, {"pairs_train_cross_item", s->pairs_train_cross_item},
        {"pairs_eval_cross_dropped", s->pairs_eval_cross_dropped}};
    for (size_t k = 0; k < sizeof cn / sizeof cn[0]; k++) put_num(c, cn[k].k, (double)cn[k].v);
    for (int k = 0; k < NL_SYNTH_CATEGORIES; k++) {
        char cat[128];
        snprintf(cat, sizeof cat, "%s@%s@", nl_synth_categories[k].l1[g->lang], nl_synth_categories[k].l2[g->lang]);
        cJSON_AddItemToArray(cats, cJSON_CreateString(cat));
    }
    cJSON_AddItemToObject(root, "categories", cats);
    cJSON_AddItemToObject(root, "files", files);
    cJSON_AddStringToObject(files, "notes_train.csv notes_test.csv",
                            "no header; note_id,title,content,image_id,category; RFC-4180 quoting, LF rows");
    cJSON_AddStringToObject(files, "note_pairs_*.csv", "no header; query_note_id,target_note_id");
    cJSON_AddStringToObject(files, "images/ images_test/", "one extension-less PNG per note, named by image_id");
    cJSON_AddStringToObject(files, "notes_items.csv",
                            "ground truth, no header; note_id,item_id,split,link,category_index,"
                            "content_codepoints,short");
    cJSON_AddStringToObject(files, "items.csv",
                            "ground truth, no header; item_id,split,link,category,name,shape,colour,texture,position");
    cJSON_AddStringToObject(root, "cooccurrence",
                            "per query note, events_min..events_max view->click events, each weighted 1/N_u with "
                            "N_u log-uniform in [1,200]; the click goes to a note of the same item by popularity, or "
                            "with probability cross_click to a note of another item of the same category and split; "
                            "scores outside [score_lo, score_hi] dropped; top_t kept (ties by note order). "
                            "Cross-item pairs stay in training pairs (label noise) and are dropped from val/test.");
    cJSON_AddStringToObject(root, "split_rules",
                            "items split into train/val/test (disjoint); val pairs use notes_train.csv; the test "
                            "pool is the test items' notes plus distractor items' notes (no pairs); short means "
                            "fewer than short_threshold code points of the preprocessed content (method 1.4)");
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return nl_error_set(NL_ERR_OOM, "gen-notes: out of memory printing dataset.json");
    sbuf b = {text, strlen(text), strlen(text) + 1, false};
    sb_str(&b, "\n");
    /* the images were committed without fsyncs: make everything durable
     * before dataset.json marks the directory complete */
    nl_status st = nl_sync_fs(dir);
    if (st == NL_OK) st = save(dir, "dataset.json", &b);
    free(b.p);
    return st;
}

static nl_status check_opts(const nl_synth_opts *o)
{
#define BAD(...) return nl_error_set(NL_ERR_ARG, "gen-notes: " __VA_ARGS__)
    if (!o) BAD("options are NULL; HINT: fill them with nl_synth_defaults");
    if (o->items < 1 || o->items > 10000000) BAD("items is %lld, must be in [1, 10000000]", (long long)o->items);
    if (o->notes_min < 2 || o->notes_max < o->notes_min || o->notes_max > 10000)
        BAD("notes per item %d..%d, need 2 <= notes_min <= notes_max <= 10000", o->notes_min, o->notes_max);
    if (!(o->share_text >= 0 && o->share_image >= 0 && o->share_both >= 0 &&
          o->share_text + o->share_image + o->share_both > 0))
        BAD("link shares %g/%g/%g must be >= 0 with a positive sum", o->share_text, o->share_image, o->share_both);
    if (!o->lang || (strcmp(o->lang, "en") && strcmp(o->lang, "zh")))
        BAD("lang is \"%s\", must be \"en\" or \"zh\"", o->lang ? o->lang : "(null)");
    if (o->image_size < 8 || o->image_size > 4096) BAD("image_size is %d, must be in [8, 4096]", o->image_size);
    if (o->top_t < 1) BAD("top_t is %d, must be >= 1", o->top_t);
    if (o->distractor_items < 0 || o->distractor_items > 10000000)
        BAD("distractor_items is %lld, must be in [0, 10000000]", (long long)o->distractor_items);
    if (o->short_threshold < 0 || o->short_threshold > 80)
        BAD("short_threshold is %d, must be in [0, 80] (0: language default)", o->short_threshold);
    if (!(o->test_fraction >= 0 && o->val_fraction >= 0 && o->test_fraction + o->val_fraction < 1))
        BAD("test_fraction %g + val_fraction %g must be >= 0 and < 1", o->test_fraction, o->val_fraction);
    if (llround((double)o->items * o->test_fraction) + llround((double)o->items * o->val_fraction) >= o->items)
        BAD("no training item left: %lld items with test_fraction %g and val_fraction %g", (long long)o->items,
            o->test_fraction, o->val_fraction);
    if (o->events_min < 1 || o->events_max < o->events_min)
        BAD("events per note %d..%d, need 1 <= events_min <= events_max", o->events_min, o->events_max);
    if (!(o->cross_click >= 0 && o->cross_click <= 1)) BAD("cross_click is %g, must be in [0, 1]", o->cross_click);
    if (!(o->score_lo >= 0 && o->score_hi >= o->score_lo))
        BAD("score filter [%g, %g] must satisfy 0 <= score_lo <= score_hi", o->score_lo, o->score_hi);
    if (!(o->short_share >= 0 && o->short_share <= 1)) BAD("short_share is %g, must be in [0, 1]", o->short_share);
    int64_t most = (o->items + o->distractor_items) * (int64_t)o->notes_max;
    if (most > 100000000) BAD("up to %lld notes requested; the limit is 100000000", (long long)most);
#undef BAD
    return NL_OK;
}

/* Create DIR (or accept it empty, or non-empty with overwrite) and its
 * image directories. */
static nl_status prepare_dir(const char *dir, bool overwrite)
{
    if (!dir || !*dir) return nl_error_set(NL_ERR_ARG, "gen-notes: the output directory is empty");
    if (strlen(dir) > 3000) return nl_error_set(NL_ERR_ARG, "gen-notes: output directory path too long");
    if (mkdir(dir, 0777) != 0) {
        if (errno != EEXIST)
            return nl_error_set(NL_ERR_IO, "gen-notes: cannot create %s: %s", dir, strerror(errno));
        DIR *d = opendir(dir);
        if (!d) return nl_error_set(NL_ERR_IO, "gen-notes: %s exists and is not a readable directory: %s", dir,
                                    strerror(errno));
        bool empty = true;
        for (struct dirent *de; (de = readdir(d));)
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) { empty = false; break; }
        closedir(d);
        if (!empty && !overwrite)
            return nl_error_set(NL_ERR_IO, "gen-notes: %s exists and is not empty; HINT: choose a new directory "
                                           "or set overwrite (files are replaced, none deleted)", dir);
    }
    const char *sub[] = {"images", "images_test"};
    for (int k = 0; k < 2; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, sub[k]);
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return nl_error_set(NL_ERR_IO, "gen-notes: cannot create %s: %s", path, strerror(errno));
    }
    return NL_OK;
}

static void gen_free(gen *g)
{
    for (int64_t i = 0; g->notes && i < g->n_notes; i++) free(g->notes[i].title), free(g->notes[i].content);
    free(g->notes);
    free(g->items);
}

/* Notes of every item, rows shuffled per side, pairs built. */
static nl_status build(gen *g, pairs ps[3], nl_synth_stats *s)
{
    const nl_synth_opts *o = g->o;
    g->notes = calloc((size_t)g->n_notes, sizeof *g->notes);
    int64_t *item_of = malloc((size_t)g->n_notes * sizeof *item_of), *side_rows[2] = {NULL, NULL};
    cand *cs = malloc((size_t)(o->notes_max + o->events_max) * sizeof *cs);
    pools pl = {0};
    nl_status st = NL_OK;
    if (!g->notes || !item_of || !cs) st = nl_error_set(NL_ERR_OOM, "gen-notes: out of memory for %lld notes",
                                                         (long long)g->n_notes);
    for (int64_t i = 0; st == NL_OK && i < g->n_items; i++) {
        const item *it = &g->items[i];
        for (int k = 0; st == NL_OK && k < it->n_notes; k++) {
            int64_t n = it->first + k;
            nl_rng r;
            stream(&r, o->seed, (uint64_t)n, PURPOSE_TEXT);
            item_of[n] = i;
            g->notes[n].item = i;
            g->notes[n].pop = 0.3f + 1.4f * nl_rng_uniform(&r);
            st = make_text(g, &g->notes[n], it, &r);
            s->notes_short += g->notes[n].len < g->thr;
        }
    }
    /* Rows: a shuffle of each side, so file order says nothing about items. */
    int64_t cnt[2] = {0, 0};
    for (int64_t n = 0; st == NL_OK && n < g->n_notes; n++) cnt[g->items[item_of[n]].split >= SPLIT_TEST]++;
    nl_rng rr;
    stream(&rr, o->seed, 0, PURPOSE_ROWS);
    for (int side = 0; st == NL_OK && side < 2; side++) {
        side_rows[side] = malloc((size_t)(cnt[side] ? cnt[side] : 1) * sizeof(int64_t));
        if (!side_rows[side]) { st = nl_error_set(NL_ERR_OOM, "gen-notes: out of memory"); break; }
        int64_t m = 0;
        for (int64_t n = 0; n < g->n_notes; n++)
            if ((g->items[item_of[n]].split >= SPLIT_TEST) == side) side_rows[side][m++] = n;
        for (int64_t i = m - 1; i > 0; i--) {
            int64_t j = (int64_t)below(&rr, (uint64_t)i + 1), t = side_rows[side][i];
            side_rows[side][i] = side_rows[side][j], side_rows[side][j] = t;
        }
        for (int64_t i = 0; i < m; i++) g->notes[side_rows[side][i]].row = i;
    }
    s->notes_train = cnt[0];
    s->notes_test = cnt[1];
    if (st == NL_OK) st = make_pools(g, &pl);
    for (int64_t q = 0; st == NL_OK && q < g->n_notes; q++) {
        int split = g->items[item_of[q]].split, m;
        if (split == SPLIT_DISTRACTOR) continue;
        related(g, &pl, q, cs, item_of, &m);
        for (int k = 0; k < m && st == NL_OK; k++) {
            bool cross = item_of[cs[k].note] != item_of[q];
            if (cross && split != SPLIT_TRAIN) { s->pairs_eval_cross_dropped++; continue; }
            s->pairs_train_cross_item += cross;
            if (!pairs_add(&ps[split], q, cs[k].note)) st = nl_error_set(NL_ERR_OOM, "gen-notes: out of memory for pairs");
        }
    }
    free(pl.note);
    free(side_rows[0]), free(side_rows[1]);
    free(item_of);
    free(cs);
    return st;
}

nl_status nl_synth_write(const char *dir, const nl_synth_opts *o, nl_synth_stats *stats)
{
    NL_TRY(check_opts(o));
    gen g = {.o = o, .lang = strcmp(o->lang, "zh") == 0};
    g.thr = o->short_threshold > 0 ? o->short_threshold : (g.lang ? 24 : 40);
    for (int c = 0; c < NL_SYNTH_CATEGORIES; c++) {
        split_words(&g.cat_words[c], nl_synth_categories[c].words[g.lang]);
        split_words(&g.cat_tags[c], nl_synth_categories[c].tags[g.lang]);
    }
    split_words(&g.adj, nl_synth_adjectives[g.lang]);
    split_words(&g.syl, nl_synth_syllables[g.lang]);
    split_words(&g.emoji, nl_synth_emoji);
    NL_TRY(prepare_dir(dir, o->overwrite));

    nl_synth_stats s = {0};
    s.short_threshold = g.thr;
    pairs ps[3] = {{0}};
    g.n_items = o->items + o->distractor_items;
    g.items = calloc((size_t)g.n_items, sizeof *g.items);
    nl_status st = g.items ? make_items(&g) : nl_error_set(NL_ERR_OOM, "gen-notes: out of memory for items");
    for (int64_t i = 0; st == NL_OK && i < g.n_items; i++) {
        const item *it = &g.items[i];
        int64_t *cnt[] = {&s.items_train, &s.items_val, &s.items_test, &s.items_distractor};
        (*cnt[it->split])++;
        if (it->split != SPLIT_DISTRACTOR) {
            int64_t *ln[] = {&s.items_text, &s.items_image, &s.items_both};
            (*ln[it->link])++;
        }
    }
    if (st == NL_OK) st = build(&g, ps, &s);
    if (st == NL_OK) st = write_images(&g, dir);
    s.images = st == NL_OK ? g.n_notes : 0;
    sbuf gt = {0};
    if (st == NL_OK) st = write_notes(&g, dir, 0, &gt, NULL);
    if (st == NL_OK) st = write_notes(&g, dir, 1, &gt, NULL);
    if (st == NL_OK) st = save(dir, "notes_items.csv", &gt);
    free(gt.p);
    static const struct { const char *name; int set, filter; size_t off; } files[] = {
        {"note_pairs_train.csv", SPLIT_TRAIN, 0, offsetof(nl_synth_stats, pairs_train)},
        {"note_pairs_val.csv", SPLIT_VAL, 0, offsetof(nl_synth_stats, pairs_val)},
        {"note_pairs_test.csv", SPLIT_TEST, 0, offsetof(nl_synth_stats, pairs_test)},
        {"note_pairs_test_shortquery.csv", SPLIT_TEST, 1, offsetof(nl_synth_stats, pairs_test_shortquery)},
        {"note_pairs_test_longquery.csv", SPLIT_TEST, 2, offsetof(nl_synth_stats, pairs_test_longquery)},
        {"note_pairs_test_shortgtdoc.csv", SPLIT_TEST, 3, offsetof(nl_synth_stats, pairs_test_shortgtdoc)},
        {"note_pairs_test_longgtdoc.csv", SPLIT_TEST, 4, offsetof(nl_synth_stats, pairs_test_longgtdoc)},
        {"note_pairs_test_textlinked.csv", SPLIT_TEST, 5, offsetof(nl_synth_stats, pairs_test_textlinked)},
        {"note_pairs_test_imagelinked.csv", SPLIT_TEST, 6, offsetof(nl_synth_stats, pairs_test_imagelinked)},
        {"note_pairs_test_both.csv", SPLIT_TEST, 7, offsetof(nl_synth_stats, pairs_test_both)},
    };
    for (size_t k = 0; st == NL_OK && k < sizeof files / sizeof files[0]; k++)
        st = write_pairs(&g, dir, files[k].name, &ps[files[k].set], files[k].filter,
                         (int64_t *)((char *)&s + files[k].off));
    if (st == NL_OK) st = write_items(&g, dir);
    if (st == NL_OK) st = write_json(&g, dir, &s);
    for (int k = 0; k < 3; k++) free(ps[k].p);
    gen_free(&g);
    if (st == NL_OK && stats) *stats = s;
    return st;
}
