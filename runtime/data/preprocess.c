/* preprocess.c — method §1.4 as the reference Python does it, step by step:
 * str.replace for "[话题]" and for each tag match, re.findall for the
 * matches, slicing by code points and str.strip. The tag pattern is
 * compiled once (PCRE2, UTF + UCP) and shared by all threads. */
#define _GNU_SOURCE /* memmem */
#include "preprocess.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char TOPIC_MARK[] = "[话题]";
static const char FW_COMMA[] = "，"; /* U+FF0C */
static const char FW_STOP[] = "。";  /* U+3002 */

/* Python's \w on str patterns is exactly str.isalnum() or '_', i.e. the
 * general categories L* and N* plus '_' (checked over all of Unicode with
 * Python 3.11). PCRE2's \w under UCP is the same set up to 10.42 but gains
 * Mn and Pc from 10.43 on, so the class is spelled out. */
static const char TAG_PATTERN[] = "#[\\p{L}\\p{N}_]+#";

/* ---- UTF-8 ------------------------------------------------------------ */

/* Length of the valid sequence at s[i], or 0 and *bad = the length of the
 * maximal subpart (>= 1) to replace by one U+FFFD. */
static size_t seq_len(const unsigned char *s, size_t n, size_t i, size_t *bad)
{
    unsigned c = s[i];
    if (c < 0x80) return 1;
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) need = 2, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEC) need = 2;
    else if (c == 0xED) need = 2, hi = 0x9F; /* no surrogates */
    else if (c >= 0xEE && c <= 0xEF) need = 2;
    else if (c == 0xF0) need = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) need = 3, hi = 0x8F;
    else {
        *bad = 1;
        return 0;
    }
    size_t k = 1;
    for (; k <= need && i + k < n; k++) {
        unsigned d = s[i + k];
        if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xBF)) break;
    }
    if (k > need) return need + 1;
    *bad = k;
    return 0;
}

size_t nl_utf8_check(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, bad;
    while (i < n) {
        size_t l = seq_len(u, n, i, &bad);
        if (!l) return i;
        i += l;
    }
    return n;
}

nl_status nl_utf8_sanitize(const char *s, size_t n, char **out, size_t *out_n, size_t *replaced)
{
    *out = NULL;
    if (out_n) *out_n = 0;
    if (replaced) *replaced = 0;
    /* Each bad byte becomes at most 3 bytes. */
    if (n > (SIZE_MAX - 1) / 3) return nl_error_set(NL_ERR_OOM, "utf8: %zu bytes is too long", n);
    size_t first = nl_utf8_check(s, n);
    size_t cap = first == n ? n + 1 : 3 * n + 1;
    char *o = malloc(cap);
    if (!o) return nl_error_set(NL_ERR_OOM, "utf8: cannot allocate %zu bytes", cap);
    memcpy(o, s, first);
    size_t m = first, i = first, count = 0, bad;
    const unsigned char *u = (const unsigned char *)s;
    while (i < n) {
        size_t l = seq_len(u, n, i, &bad);
        if (l) {
            memcpy(o + m, s + i, l);
            m += l;
            i += l;
        } else {
            memcpy(o + m, "\xEF\xBF\xBD", 3);
            m += 3;
            i += bad;
            count++;
        }
    }
    o[m] = '\0';
    *out = o;
    if (out_n) *out_n = m;
    if (replaced) *replaced = count;
    return NL_OK;
}

/* Decode the code point at s[i] of valid UTF-8; returns its byte length. */
static size_t decode(const unsigned char *s, size_t i, uint32_t *cp)
{
    unsigned c = s[i];
    if (c < 0x80) { *cp = c; return 1; }
    if (c < 0xE0) { *cp = (c & 0x1F) << 6 | (s[i + 1] & 0x3F); return 2; }
    if (c < 0xF0) {
        *cp = (c & 0x0F) << 12 | (uint32_t)(s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F);
        return 3;
    }
    *cp = (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[i + 1] & 0x3F) << 12 | (uint32_t)(s[i + 2] & 0x3F) << 6 |
          (s[i + 3] & 0x3F);
    return 4;
}

static bool is_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

void nl_utf8_strip(const char *s, size_t n, size_t *lo, size_t *hi)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t a = 0, b = n;
    uint32_t cp;
    while (a < b) {
        size_t l = decode(u, a, &cp);
        if (!is_space(cp)) break;
        a += l;
    }
    while (b > a) {
        size_t p = b - 1;
        while (p > a && (u[p] & 0xC0) == 0x80) p--;
        decode(u, p, &cp);
        if (!is_space(cp)) break;
        b = p;
    }
    *lo = a;
    *hi = b;
}

size_t nl_utf8_prefix(const char *s, size_t n, size_t k)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    for (size_t c = 0; c < k && i < n; c++) {
        i++;
        while (i < n && (u[i] & 0xC0) == 0x80) i++;
    }
    return i;
}

size_t nl_utf8_length(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static nl_status need_utf8(const char *who, const char *s, size_t n)
{
    size_t bad = nl_utf8_check(s, n);
    if (bad == n) return NL_OK;
    return nl_error_set(NL_ERR_FORMAT,
                        "preprocess: %s: invalid UTF-8 at byte %zu (0x%02x). HINT: pass it through "
                        "nl_utf8_sanitize first",
                        who, bad, (unsigned)(unsigned char)s[bad]);
}

/* A malloc'ed copy of s[lo..hi). */
static nl_status dup_range(const char *s, size_t lo, size_t hi, char **out)
{
    char *o = malloc(hi - lo + 1);
    if (!o) return nl_error_set(NL_ERR_OOM, "preprocess: cannot allocate %zu bytes", hi - lo + 1);
    memcpy(o, s + lo, hi - lo);
    o[hi - lo] = '\0';
    *out = o;
    return NL_OK;
}

/* Python's s.replace(pat, "") in place; returns the number removed. */
static size_t remove_all(char *s, size_t *n, const char *pat, size_t pn)
{
    char *hit = memmem(s, *n, pat, pn);
    if (!hit) return 0;
    size_t r = (size_t)(hit - s), w = r, count = 0;
    while (hit) {
        size_t at = (size_t)(hit - s);
        memmove(s + w, s + r, at - r);
        w += at - r;
        r = at + pn;
        count++;
        hit = r <= *n ? memmem(s + r, *n - r, pat, pn) : NULL;
    }
    memmove(s + w, s + r, *n - r);
    *n = w + (*n - r);
    return count;
}

/* ---- the tag pattern --------------------------------------------------- */

static pthread_once_t re_once = PTHREAD_ONCE_INIT;
static pcre2_code *tag_re;
static char re_error[160];

static void compile_tag_re(void)
{
    int err;
    PCRE2_SIZE off;
    tag_re = pcre2_compile((PCRE2_SPTR)TAG_PATTERN, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off,
                           NULL);
    if (!tag_re) {
        PCRE2_UCHAR msg[120];
        pcre2_get_error_message(err, msg, sizeof msg);
        snprintf(re_error, sizeof re_error, "%s", (const char *)msg);
        return;
    }
    pcre2_jit_compile(tag_re, PCRE2_JIT_COMPLETE); /* optional speed-up */
}

typedef struct span { size_t off, len; } span;

typedef struct span_vec {
    span *v;
    size_t n, cap;
} span_vec;

static nl_status span_push(span_vec *sv, size_t off, size_t len)
{
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 16;
        span *v = realloc(sv->v, cap * sizeof *v);
        if (!v) return nl_error_set(NL_ERR_OOM, "preprocess: cannot allocate %zu tag spans", cap);
        sv->v = v;
        sv->cap = cap;
    }
    sv->v[sv->n++] = (span){off, len};
    return NL_OK;
}

/* re.findall(r'#\w+#', s): every match, left to right, non-overlapping. */
static nl_status find_tags(const char *s, size_t n, span_vec *out)
{
    pthread_once(&re_once, compile_tag_re);
    if (!tag_re) return nl_error_set(NL_ERR_STATE, "preprocess: cannot compile the tag pattern: %s", re_error);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(tag_re, NULL);
    if (!md) return nl_error_set(NL_ERR_OOM, "preprocess: cannot allocate PCRE2 match data");
    nl_status st = NL_OK;
    size_t pos = 0;
    while (pos < n) {
        int rc = pcre2_match(tag_re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(rc, msg, sizeof msg);
            st = nl_error_set(NL_ERR_FORMAT, "preprocess: tag search failed at byte %zu: %s", pos,
                              (const char *)msg);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if ((st = span_push(out, ov[0], ov[1] - ov[0])) != NL_OK) break;
        pos = ov[1]; /* a match is never empty */
    }
    pcre2_match_data_free(md);
    return st;
}

/* Memo of the tags already removed, so a tag repeated many times costs one
 * pass over the content, not one per repeat: a repeat is skipped only when
 * its previous replace removed nothing and nothing was removed since, i.e.
 * when Python's replace would be a no-op. */
typedef struct memo_slot {
    const char *p;
    size_t len, gen;
    bool clean;
} memo_slot;

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

nl_status nl_preprocess_content(const char *content, size_t n, const nl_preprocess_opts *opts,
                                char **content_out, char **topic_out, size_t *n_tags)
{
    static const nl_preprocess_opts defaults = NL_PREPROCESS_OPTS_DEFAULT;
    if (!opts) opts = &defaults;
    *content_out = NULL;
    *topic_out = NULL;
    if (n_tags) *n_tags = 0;
    NL_TRY(need_utf8("content", content, n));

    nl_status st = NL_OK;
    char *w = NULL, *src = NULL, *topic = NULL, *out = NULL;
    memo_slot *memo = NULL;
    span_vec found = {0};
    size_t tag_count = 0;

    /* 1.1 delete every "[话题]" */
    if ((st = dup_range(content, 0, n, &w)) != NL_OK) goto done;
    size_t m = n;
    remove_all(w, &m, TOPIC_MARK, sizeof TOPIC_MARK - 1);
    /* 1.2 findall on that text; src keeps it while w is edited */
    if ((st = dup_range(w, 0, m, &src)) != NL_OK) goto done;
    if ((st = find_tags(src, m, &found)) != NL_OK) goto done;

    /* 1.3 short matches are tags; each replace removes every occurrence */
    size_t cap = 16;
    while (cap < 2 * found.n) cap *= 2;
    memo = calloc(cap, sizeof *memo);
    if (!memo) {
        st = nl_error_set(NL_ERR_OOM, "preprocess: cannot allocate the tag memo (%zu slots)", cap);
        goto done;
    }
    size_t gen = 0, topic_cap = 1;
    for (size_t k = 0; k < found.n; k++) {
        span *sp = &found.v[k];
        const char *h = src + sp->off;
        if (nl_utf8_length(h, sp->len) > opts->tag_max) {
            sp->len = 0; /* not a tag */
            continue;
        }
        tag_count++;
        if (tag_count <= opts->tags_max) topic_cap += sp->len - 2 + sizeof FW_COMMA - 1;
        size_t slot = hash_bytes(h, sp->len) & (cap - 1);
        while (memo[slot].p && !(memo[slot].len == sp->len && !memcmp(memo[slot].p, h, sp->len)))
            slot = (slot + 1) & (cap - 1);
        memo_slot *ms = &memo[slot];
        if (ms->p && ms->gen == gen && ms->clean) continue;
        size_t removed = remove_all(w, &m, h, sp->len);
        if (removed) gen++;
        *ms = (memo_slot){.p = h, .len = sp->len, .gen = gen, .clean = removed == 0};
    }

    /* 1.4 + step 4: the first tags_max tags joined by "，", stripped */
    topic = malloc(topic_cap);
    if (!topic) {
        st = nl_error_set(NL_ERR_OOM, "preprocess: cannot allocate %zu bytes", topic_cap);
        goto done;
    }
    size_t tn = 0, used = 0;
    for (size_t k = 0; k < found.n && used < opts->tags_max; k++) {
        if (!found.v[k].len) continue;
        if (used++) {
            memcpy(topic + tn, FW_COMMA, sizeof FW_COMMA - 1);
            tn += sizeof FW_COMMA - 1;
        }
        memcpy(topic + tn, src + found.v[k].off + 1, found.v[k].len - 2);
        tn += found.v[k].len - 2;
    }
    size_t lo, hi;
    nl_utf8_strip(topic, tn, &lo, &hi);
    memmove(topic, topic + lo, hi - lo);
    topic[hi - lo] = '\0';

    /* step 2: '\n' → "。" */
    size_t nl = 0;
    for (size_t i = 0; i < m; i++) nl += w[i] == '\n';
    size_t on = m + nl * (sizeof FW_STOP - 2);
    out = malloc(on + 1);
    if (!out) {
        st = nl_error_set(NL_ERR_OOM, "preprocess: cannot allocate %zu bytes", on + 1);
        goto done;
    }
    size_t j = 0;
    for (size_t i = 0; i < m; i++) {
        if (w[i] == '\n') {
            memcpy(out + j, FW_STOP, sizeof FW_STOP - 1);
            j += sizeof FW_STOP - 1;
        } else {
            out[j++] = w[i];
        }
    }
    /* step 3: first content_max code points, then strip */
    size_t cut = nl_utf8_prefix(out, j, opts->content_max);
    nl_utf8_strip(out, cut, &lo, &hi);
    memmove(out, out + lo, hi - lo);
    out[hi - lo] = '\0';

    *content_out = out;
    *topic_out = topic;
    out = topic = NULL;
    if (n_tags) *n_tags = tag_count;
done:
    free(w);
    free(src);
    free(memo);
    free(found.v);
    free(topic);
    free(out);
    return st;
}

nl_status nl_preprocess_title(const char *title, size_t n, const nl_preprocess_opts *opts, char **out)
{
    static const nl_preprocess_opts defaults = NL_PREPROCESS_OPTS_DEFAULT;
    if (!opts) opts = &defaults;
    *out = NULL;
    NL_TRY(need_utf8("title", title, n));
    size_t lo, hi;
    nl_utf8_strip(title, nl_utf8_prefix(title, n, opts->title_max), &lo, &hi);
    return dup_range(title, lo, hi, out);
}

nl_status nl_preprocess_category(const char *category, size_t n, char **out)
{
    *out = NULL;
    NL_TRY(need_utf8("category", category, n));
    const char *at1 = memchr(category, '@', n);
    size_t l1 = at1 ? (size_t)(at1 - category) : n;
    size_t l2 = 0;
    const char *lv2 = NULL;
    if (at1) {
        lv2 = at1 + 1;
        size_t rest = n - l1 - 1;
        const char *at2 = memchr(lv2, '@', rest);
        l2 = at2 ? (size_t)(at2 - lv2) : rest;
    }
    size_t cap = l1 + l2 + sizeof FW_COMMA - 1 + sizeof FW_STOP;
    char *o = malloc(cap);
    if (!o) return nl_error_set(NL_ERR_OOM, "preprocess: cannot allocate %zu bytes", cap);
    size_t k = 0;
    memcpy(o, category, l1);
    k = l1;
    if (at1) {
        memcpy(o + k, FW_COMMA, sizeof FW_COMMA - 1);
        k += sizeof FW_COMMA - 1;
        memcpy(o + k, lv2, l2);
        k += l2;
    }
    /* drop one trailing "，" (a one-level category with a trailing '@') */
    size_t cl = sizeof FW_COMMA - 1;
    if (k >= cl && !memcmp(o + k - cl, FW_COMMA, cl)) k -= cl;
    memcpy(o + k, FW_STOP, sizeof FW_STOP); /* with its '\0' */
    *out = o;
    return NL_OK;
}

void nl_note_text_free(nl_note_text *t)
{
    if (!t) return;
    free(t->title);
    free(t->content);
    free(t->topic);
    free(t->category);
    memset(t, 0, sizeof *t);
}

nl_status nl_preprocess_note(const char *title, size_t title_n, const char *content, size_t content_n,
                             const char *category, size_t category_n, const nl_preprocess_opts *opts,
                             nl_note_text *out)
{
    memset(out, 0, sizeof *out);
    nl_note_text t = {0};
    nl_status st = nl_preprocess_content(content, content_n, opts, &t.content, &t.topic, &t.n_tags);
    if (st == NL_OK) st = nl_preprocess_title(title, title_n, opts, &t.title);
    if (st == NL_OK) st = nl_preprocess_category(category, category_n, &t.category);
    if (st != NL_OK) {
        nl_note_text_free(&t);
        return st;
    }
    *out = t;
    return NL_OK;
}
