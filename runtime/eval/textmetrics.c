/* textmetrics.c — tokenization, BLEU-4 (sentence with smoothing method1,
 * and corpus) and ROUGE-1/2/L F1 (see textmetrics.h for the definitions). */
#include "textmetrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- tokens --------------------------------------------------------------------- */

/* Decode one code point at s[i] (n bytes); *len its byte length. An invalid
 * sequence gives -1 with *len 1 (the byte then joins a word). */
static long decode(const unsigned char *s, size_t n, size_t i, size_t *len)
{
    unsigned c = s[i];
    size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (k == 0 || i + k > n) {
        *len = 1;
        return -1;
    }
    long cp = k == 1 ? (long)c : (long)(c & (0x7f >> k));
    for (size_t j = 1; j < k; j++) {
        if ((s[i + j] & 0xc0) != 0x80) {
            *len = 1;
            return -1;
        }
        cp = cp << 6 | (s[i + j] & 0x3f);
    }
    *len = k;
    return cp;
}

static bool is_space(long cp)
{
    return cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0x85 || cp == 0xA0 || cp == 0x3000 || cp == 0x2028 ||
           cp == 0x2029 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F || cp == 0x205F || cp == 0x1680;
}

/* CJK radicals to ideographs (U+2E80..U+9FFF: CJK punctuation, kana,
 * bopomofo, ext A, the unified ideographs), hangul syllables, compatibility
 * ideographs and forms, full-width forms, and the supplementary ideograph
 * planes. U+3000 (ideographic space) is a space. */
static bool is_cjk(long cp)
{
    return (cp >= 0x2E80 && cp <= 0x9FFF && cp != 0x3000) || (cp >= 0xAC00 && cp <= 0xD7AF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF01 && cp <= 0xFFEF) ||
           (cp >= 0x20000 && cp <= 0x3FFFF);
}

/* ASCII punctuation except '_' (kept inside words) */
static bool is_punct(long cp)
{
    bool alnum = ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') || (cp >= '0' && cp <= '9');
    return cp >= 0x21 && cp <= 0x7e && cp != '_' && !alnum;
}

nl_status nl_text_tokenize(const char *str, size_t n, nl_text_tok **toks, size_t *ntoks)
{
    if (!toks || !ntoks || (n && !str)) return nl_error_set(NL_ERR_ARG, "tokenize: NULL argument");
    *toks = NULL;
    *ntoks = 0;
    const unsigned char *s = (const unsigned char *)str;
    nl_text_tok *v = NULL;
    size_t cnt = 0, cap = 0, word = SIZE_MAX; /* start of the open word run */
    for (size_t i = 0; i <= n;) {
        size_t len = 1;
        long cp = i < n ? decode(s, n, i, &len) : ' ';
        bool single = i < n && (is_cjk(cp) || is_punct(cp)), space = i == n || is_space(cp);
        if ((single || space) && word != SIZE_MAX) { /* close the word */
            if (cnt == cap && !(v = realloc(*toks, (cap = cap ? 2 * cap : 16) * sizeof *v))) goto oom;
            *toks = v;
            v[cnt++] = (nl_text_tok){word, i - word};
            word = SIZE_MAX;
        }
        if (single) {
            if (cnt == cap && !(v = realloc(*toks, (cap = cap ? 2 * cap : 16) * sizeof *v))) goto oom;
            *toks = v;
            v[cnt++] = (nl_text_tok){i, len};
        } else if (!space && word == SIZE_MAX) {
            word = i;
        }
        if (i == n) break;
        i += len;
    }
    *ntoks = cnt;
    if (!cnt) {
        free(*toks);
        *toks = NULL;
    }
    return NL_OK;
oom:
    free(*toks);
    *toks = NULL;
    return nl_error_set(NL_ERR_OOM, "tokenize: out of memory (%zu bytes of text)", n);
}

/* ---- n-gram statistics ---------------------------------------------------------- */

typedef struct seq {
    const char *s;
    const nl_text_tok *t;
    size_t n;
} seq;

static bool tok_eq(const seq *a, size_t i, const seq *b, size_t j)
{
    return a->t[i].len == b->t[j].len && !memcmp(a->s + a->t[i].off, b->s + b->t[j].off, a->t[i].len);
}

static bool gram_eq(const seq *a, size_t i, const seq *b, size_t j, size_t k)
{
    for (size_t x = 0; x < k; x++)
        if (!tok_eq(a, i + x, b, j + x)) return false;
    return true;
}

static size_t grams(const seq *a, size_t k) { return a->n >= k ? a->n - k + 1 : 0; }

/* Clipped matches of c's k-grams in r: sum over distinct k-grams g of c of
 * min(count_c(g), count_r(g)). */
static size_t clipped(const seq *c, const seq *r, size_t k)
{
    size_t m = 0, nc = grams(c, k), nr = grams(r, k);
    for (size_t i = 0; i < nc; i++) {
        bool first = true;
        for (size_t j = 0; j < i && first; j++) first = !gram_eq(c, j, c, i, k);
        if (!first) continue;
        size_t cc = 0, cr = 0;
        for (size_t j = i; j < nc; j++) cc += gram_eq(c, j, c, i, k);
        for (size_t j = 0; j < nr; j++) cr += gram_eq(r, j, c, i, k);
        m += cc < cr ? cc : cr;
    }
    return m;
}

static nl_status lcs(const seq *a, const seq *b, size_t *out)
{
    size_t *row = calloc(b->n + 1, sizeof *row);
    if (!row) return nl_error_set(NL_ERR_OOM, "rouge-L: out of memory (%zu x %zu tokens)", a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        size_t diag = 0; /* row[j] of the previous i */
        for (size_t j = 1; j <= b->n; j++) {
            size_t up = row[j];
            row[j] = tok_eq(a, i, b, j - 1) ? diag + 1 : (row[j - 1] > up ? row[j - 1] : up);
            diag = up;
        }
    }
    *out = row[b->n];
    free(row);
    return NL_OK;
}

static double f1(size_t overlap, size_t nc, size_t nr)
{
    if (!overlap || !nc || !nr) return 0.0;
    double p = (double)overlap / (double)nc, r = (double)overlap / (double)nr;
    return 2 * p * r / (p + r);
}

typedef struct pair_stats {
    size_t match[4], total[4], c_len, r_len;
    double bleu, r1, r2, rl;
} pair_stats;

static nl_status score_pair(const char *pred, const char *ref, pair_stats *ps, bool *ref_empty)
{
    memset(ps, 0, sizeof *ps);
    nl_text_tok *tc = NULL, *tr = NULL;
    size_t nc = 0, nr = 0;
    nl_status st = nl_text_tokenize(pred, strlen(pred), &tc, &nc);
    if (st == NL_OK) st = nl_text_tokenize(ref, strlen(ref), &tr, &nr);
    seq c = {pred, tc, nc}, r = {ref, tr, nr};
    *ref_empty = nr == 0;
    ps->c_len = nc, ps->r_len = nr;
    if (st == NL_OK && nc && nr) {
        double logsum = 0;
        for (size_t k = 1; k <= 4; k++) {
            ps->match[k - 1] = clipped(&c, &r, k);
            ps->total[k - 1] = grams(&c, k);
            size_t den = ps->total[k - 1] ? ps->total[k - 1] : 1;
            double p = ps->match[k - 1] ? (double)ps->match[k - 1] / (double)den : 0.1 / (double)den;
            logsum += 0.25 * log(p);
        }
        double bp = nc > nr ? 1.0 : exp(1.0 - (double)nr / (double)nc);
        ps->bleu = ps->match[0] ? bp * exp(logsum) : 0.0;
        ps->r1 = f1(ps->match[0], grams(&c, 1), grams(&r, 1));
        ps->r2 = f1(ps->match[1], grams(&c, 2), grams(&r, 2));
        size_t l = 0;
        st = lcs(&c, &r, &l);
        ps->rl = f1(l, nc, nr);
    }
    free(tc);
    free(tr);
    return st;
}

nl_status nl_text_pair_scores(const char *pred, const char *ref, double *bleu4, double *r1, double *r2, double *rl)
{
    if (!pred || !ref || !bleu4 || !r1 || !r2 || !rl) return nl_error_set(NL_ERR_ARG, "text scores: NULL argument");
    pair_stats ps;
    bool empty;
    NL_TRY(score_pair(pred, ref, &ps, &empty));
    *bleu4 = ps.bleu, *r1 = ps.r1, *r2 = ps.r2, *rl = ps.rl;
    return NL_OK;
}

nl_status nl_text_scores_compute(const char *const *pred, const char *const *ref, int64_t n, nl_text_scores *out)
{
    if (!out || n < 0 || (n && (!pred || !ref)))
        return nl_error_set(NL_ERR_ARG, "text scores: bad arguments (%lld pairs)", (long long)n);
    memset(out, 0, sizeof *out);
    double M[4] = {0}, T[4] = {0}, C = 0, R = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!pred[i] || !ref[i]) return nl_error_set(NL_ERR_ARG, "text scores: pair %lld has a NULL string", (long long)i);
        pair_stats ps;
        bool empty;
        NL_TRY(score_pair(pred[i], ref[i], &ps, &empty));
        if (empty) {
            out->skipped++;
            continue;
        }
        out->n++;
        out->bleu4 += ps.bleu, out->rouge1 += ps.r1, out->rouge2 += ps.r2, out->rougeL += ps.rl;
        for (int k = 0; k < 4; k++) M[k] += (double)ps.match[k], T[k] += (double)ps.total[k];
        C += (double)ps.c_len, R += (double)ps.r_len;
    }
    if (out->n) {
        double k = (double)out->n;
        out->bleu4 /= k, out->rouge1 /= k, out->rouge2 /= k, out->rougeL /= k;
    }
    if (M[0] && M[1] && M[2] && M[3]) {
        double logsum = 0;
        for (int j = 0; j < 4; j++) logsum += 0.25 * log(M[j] / T[j]);
        out->corpus_bleu4 = (C > R ? 1.0 : exp(1.0 - R / C)) * exp(logsum);
    }
    return NL_OK;
}
