/* tokenizer_encode.c — the encode pipeline of tokenizer.json: added tokens cut
 * out of the raw text, normalizers (NFC/NFD/NFKC/NFKD via utf8proc, Prepend,
 * Replace), pre-tokenizers (ByteLevel, Split via PCRE2, Metaspace), BPE
 * (bpe.c) and the post-processor template; with nl_tok_encode_offsets every
 * byte carries its input span through each step. Depends on the runtime core,
 * cJSON, PCRE2 and utf8proc; never on Guile. */
#define _GNU_SOURCE
#include "tokenizer_impl.h"

#include <math.h>
#include <stdio.h>

#include <utf8proc.h>

/* GPT-2's split pattern, used by ByteLevel with use_regex. */
static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* ---- parsing ------------------------------------------------------------------ */

nl_status nl_tk_parse_norm(nl_tokenizer *t, const cJSON *o)
{
    const char *type, *path = t->path;
    NL_TRY(nl_tk_parse_type(path, o, "normalizer", &type));
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = get(o, "normalizers");
        if (!cJSON_IsArray(list))
            return nl_error_set(NL_ERR_FORMAT, "%s: normalizer Sequence: \"normalizers\" missing or not an array", path);
        for (const cJSON *c = list->child; c; c = c->next) NL_TRY(nl_tk_parse_norm(t, c));
        return NL_OK;
    }
    if (t->n_norm == 32) return nl_error_set(NL_ERR_FORMAT, "%s: more than 32 normalizers", path);
    norm_step *st = &t->norm[t->n_norm];
    *st = (norm_step){0};
    const char *a, *b;
    if (!strcmp(type, "NFC")) st->k = N_NFC;
    else if (!strcmp(type, "NFD")) st->k = N_NFD;
    else if (!strcmp(type, "NFKC")) st->k = N_NFKC;
    else if (!strcmp(type, "NFKD")) st->k = N_NFKD;
    else if (!strcmp(type, "Prepend")) {
        NL_TRY(nl_tk_want_string(path, o, "normalizer Prepend", "prepend", &a));
        st->k = N_PREPEND;
        if (!(st->a = dupn(a, strlen(a)))) return oom(path);
    } else if (!strcmp(type, "Replace")) {
        NL_TRY(nl_tk_string_pattern(path, o, "normalizer Replace", &a));
        NL_TRY(nl_tk_want_string(path, o, "normalizer Replace", "content", &b));
        st->k = N_REPLACE;
        st->a = dupn(a, strlen(a));
        st->b = dupn(b, strlen(b));
        if (!st->a || !st->b) { free(st->a); free(st->b); return oom(path); }
    } else
        return nl_error_set(NL_ERR_FORMAT, "%s: normalizer type \"%s\" is not supported "
                            "(supported: NFC, NFD, NFKC, NFKD, Prepend, Replace, Sequence)", path, type);
    t->n_norm++;
    return NL_OK;
}
static nl_status compile_re(const char *path, const char *where, const char *pat, pcre2_code **out)
{
    int err;
    PCRE2_SIZE off;
    *out = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                         &err, &off, NULL);
    if (!*out) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return nl_error_set(NL_ERR_FORMAT, "%s: %s regex /%s/ does not compile at offset %zu: %s", path, where, pat,
                            (size_t)off, (const char *)msg);
    }
    pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE); /* optional speed-up; the interpreter is the fallback */
    return NL_OK;
}
nl_status nl_tk_parse_pre(nl_tokenizer *t, const cJSON *o)
{
    const char *type, *path = t->path;
    NL_TRY(nl_tk_parse_type(path, o, "pre_tokenizer", &type));
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = get(o, "pretokenizers");
        if (!cJSON_IsArray(list))
            return nl_error_set(NL_ERR_FORMAT, "%s: pre_tokenizer Sequence: \"pretokenizers\" missing or not an array",
                                path);
        for (const cJSON *c = list->child; c; c = c->next) NL_TRY(nl_tk_parse_pre(t, c));
        return NL_OK;
    }
    if (t->n_pre == 32) return nl_error_set(NL_ERR_FORMAT, "%s: more than 32 pre-tokenizers", path);
    pre_step *st = &t->pre[t->n_pre];
    *st = (pre_step){0};
    if (!strcmp(type, "ByteLevel")) {
        bool use_regex;
        NL_TRY(nl_tk_opt_bool(path, o, "pre_tokenizer ByteLevel", "add_prefix_space", true, &st->add_prefix_space));
        NL_TRY(nl_tk_opt_bool(path, o, "pre_tokenizer ByteLevel", "use_regex", true, &use_regex));
        st->k = P_BYTELEVEL;
        if (use_regex) NL_TRY(compile_re(path, "pre_tokenizer ByteLevel", gpt2_pattern, &st->re));
        t->byte_level = true;
    } else if (!strcmp(type, "Split")) {
        static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                            "Contiguous"};
        const char *beh;
        const cJSON *p = get(o, "pattern");
        NL_TRY(nl_tk_want_string(path, o, "pre_tokenizer Split", "behavior", &beh));
        NL_TRY(nl_tk_opt_bool(path, o, "pre_tokenizer Split", "invert", false, &st->invert));
        st->k = P_SPLIT;
        int b = 0;
        while (b < 5 && strcmp(beh, names[b])) b++;
        if (b == 5)
            return nl_error_set(NL_ERR_FORMAT, "%s: pre_tokenizer Split behavior \"%s\" is unknown (known: Removed, "
                                "Isolated, MergedWithPrevious, MergedWithNext, Contiguous)", path, beh);
        st->behavior = (enum behavior)b;
        if (cJSON_IsObject(p) && cJSON_IsString(get(p, "Regex")))
            NL_TRY(compile_re(path, "pre_tokenizer Split", get(p, "Regex")->valuestring, &st->re));
        else if (cJSON_IsObject(p) && cJSON_IsString(get(p, "String")) && *get(p, "String")->valuestring) {
            if (!(st->lit = dupn(get(p, "String")->valuestring, strlen(get(p, "String")->valuestring))))
                return oom(path);
        } else
            return nl_error_set(NL_ERR_FORMAT, "%s: pre_tokenizer Split.pattern is missing or not {\"Regex\": string} "
                                "or {\"String\": non-empty string}", path);
    } else if (!strcmp(type, "Metaspace")) {
        const char *rep;
        NL_TRY(nl_tk_want_string(path, o, "pre_tokenizer Metaspace", "replacement", &rep));
        NL_TRY(nl_tk_one_char(path, "pre_tokenizer Metaspace replacement", rep, st->rep));
        NL_TRY(nl_tk_parse_scheme(path, o, "pre_tokenizer Metaspace", &st->scheme));
        NL_TRY(nl_tk_opt_bool(path, o, "pre_tokenizer Metaspace", "split", true, &st->split));
        st->k = P_METASPACE;
    } else
        return nl_error_set(NL_ERR_FORMAT, "%s: pre_tokenizer type \"%s\" is not supported "
                            "(supported: ByteLevel, Split, Sequence, Metaspace)", path, type);
    t->n_pre++;
    return NL_OK;
}
nl_status nl_tk_parse_post(nl_tokenizer *t, const cJSON *o)
{
    const char *type, *path = t->path;
    NL_TRY(nl_tk_parse_type(path, o, "post_processor", &type));
    if (!strcmp(type, "ByteLevel")) return NL_OK; /* it only adjusts offsets */
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = get(o, "processors");
        if (!cJSON_IsArray(list))
            return nl_error_set(NL_ERR_FORMAT, "%s: post_processor Sequence: \"processors\" missing or not an array",
                                path);
        for (const cJSON *c = list->child; c; c = c->next) NL_TRY(nl_tk_parse_post(t, c));
        return NL_OK;
    }
    if (strcmp(type, "TemplateProcessing"))
        return nl_error_set(NL_ERR_FORMAT, "%s: post_processor type \"%s\" is not supported "
                            "(supported: TemplateProcessing, ByteLevel, Sequence)", path, type);
    const cJSON *single = get(o, "single"), *specials = get(o, "special_tokens");
    if (!cJSON_IsArray(single))
        return nl_error_set(NL_ERR_FORMAT, "%s: post_processor TemplateProcessing.single is missing or not an array",
                            path);
    nl_ids pre = {0}, post = {0};
    bool seen_a = false;
    nl_status st = NL_OK;
    for (const cJSON *it = single->child; it && st == NL_OK; it = it->next) {
        const cJSON *seq = get(it, "Sequence"), *sp = get(it, "SpecialToken");
        const cJSON *idv = get(seq ? seq : sp, "id");
        if (!cJSON_IsString(idv)) {
            st = nl_error_set(NL_ERR_FORMAT, "%s: post_processor template item is not {\"Sequence\": {\"id\": ...}} "
                              "or {\"SpecialToken\": {\"id\": ...}}", path);
        } else if (seq) {
            if (strcmp(idv->valuestring, "A") || seen_a)
                st = nl_error_set(NL_ERR_FORMAT, "%s: post_processor single template uses $%s%s; only one $A is "
                                  "supported", path, idv->valuestring, seen_a ? " twice" : "");
            seen_a = true;
        } else {
            const cJSON *e = cJSON_IsObject(specials) ? get(specials, idv->valuestring) : NULL;
            const cJSON *ids = get(e, "ids");
            if (!cJSON_IsArray(ids)) {
                st = nl_error_set(NL_ERR_FORMAT, "%s: post_processor special token \"%s\" has no entry with \"ids\" "
                                  "in special_tokens", path, idv->valuestring);
                break;
            }
            for (const cJSON *v = ids->child; v && st == NL_OK; v = v->next) {
                int32_t id;
                if (!nl_tk_json_id(v, t->n_ids, &id))
                    st = nl_error_set(NL_ERR_FORMAT, "%s: post_processor special token \"%s\": id %g is out of range "
                                      "[0, %d)", path, idv->valuestring, cJSON_IsNumber(v) ? v->valuedouble : NAN,
                                      (int)t->n_ids);
                else if (!nl_tk_ids_push(seen_a ? &post : &pre, id))
                    st = oom(path);
            }
        }
    }
    if (st == NL_OK && !seen_a)
        st = nl_error_set(NL_ERR_FORMAT, "%s: post_processor single template has no $A", path);
    /* a later processor wraps the earlier ones */
    for (size_t i = 0; i < t->prefix.n && st == NL_OK; i++)
        if (!nl_tk_ids_push(&pre, t->prefix.p[i])) st = oom(path);
    for (size_t i = 0; i < post.n && st == NL_OK; i++)
        if (!nl_tk_ids_push(&t->suffix, post.p[i])) st = oom(path);
    free(post.p);
    if (st != NL_OK) { free(pre.p); return st; }
    free(t->prefix.p);
    t->prefix = pre;
    return NL_OK;
}
/* ---- encode -------------------------------------------------------------- */

/* Unicode normalization of the well-formed runs of s (ill-formed bytes, which
 * only byte-level tokenizers let through, are copied as they are). */
static nl_status unicode_norm(nl_sbuf *out, const char *s, size_t n, enum norm_kind k)
{
    int opts = UTF8PROC_STABLE | (k == N_NFC || k == N_NFKC ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE) |
               (k == N_NFKC || k == N_NFKD ? UTF8PROC_COMPAT : 0);
    size_t i = 0;
    while (i < n) {
        size_t good = nl_tk_utf8_check(s + i, n - i);
        if (good) {
            utf8proc_uint8_t *dst = NULL;
            utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)good, &dst,
                                              (utf8proc_option_t)opts);
            bool ok = r >= 0 && nl_tk_sbuf_add(out, dst, (size_t)r);
            free(dst);
            if (!ok)
                return r < 0 ? nl_error_set(NL_ERR_ARG, "tokenizer: normalization failed: %s", utf8proc_errmsg(r))
                             : nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
            i += good;
        }
        if (i < n) {
            uint32_t cp;
            int bad;
            nl_tk_utf8_char((const uint8_t *)s + i, n - i, &cp, &bad);
            if (!nl_tk_sbuf_add(out, s + i, (size_t)bad)) return nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
            i += (size_t)bad;
        }
    }
    return NL_OK;
}

nl_status nl_tk_normalize(const nl_tokenizer *t, const char *s, size_t n, nl_sbuf *out)
{
    nl_sbuf cur = {0}, next = {0};
    if (!nl_tk_sbuf_add(&cur, s, n)) return nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
    for (int i = 0; i < t->n_norm; i++) {
        const norm_step *st = &t->norm[i];
        next.n = 0;
        nl_status r = NL_OK;
        if (st->k == N_PREPEND) {
            if (cur.n && (!nl_tk_sbuf_add(&next, st->a, strlen(st->a)) || !nl_tk_sbuf_add(&next, cur.p, cur.n)))
                r = nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
        } else if (st->k == N_REPLACE) {
            if (!nl_tk_replace_all(&next, cur.p, cur.n, st->a, st->b)) r = nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
        } else
            r = unicode_norm(&next, cur.p, cur.n, st->k);
        if (r != NL_OK) {
            free(cur.p);
            free(next.p);
            return r;
        }
        nl_sbuf tmp = cur;
        cur = next;
        next = tmp;
    }
    free(next.p);
    *out = cur;
    return NL_OK;
}

/* ---- byte spans (nl_tok_encode_offsets) ----------------------------------- */

static bool spv_push(nl_tk_spanv *v, nl_tk_span s, size_t times)
{
    if (v->n + times > v->cap) {
        size_t c = v->cap ? v->cap : 64;
        while (c < v->n + times) c *= 2;
        nl_tk_span *p = realloc(v->p, c * sizeof *p);
        if (!p) return false;
        v->p = p;
        v->cap = c;
    }
    for (size_t i = 0; i < times; i++) v->p[v->n++] = s;
    return true;
}

static bool spv_add(nl_tk_spanv *v, const nl_tk_span *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!spv_push(v, s[i], 1)) return false;
    return true;
}

/* The smallest span holding s[0..n) (n > 0). */
static nl_tk_span span_union(const nl_tk_span *s, size_t n)
{
    nl_tk_span u = s[0];
    for (size_t i = 1; i < n; i++) {
        if (s[i].a < u.a) u.a = s[i].a;
        if (s[i].b > u.b) u.b = s[i].b;
    }
    return u;
}

/* Spans of one Unicode normalization step: identity when the text did not
 * change; else one span per run "starter + following non-starters" when
 * normalizing the runs one by one gives the same text; else the whole input. */
static nl_status unicode_norm_spans(const nl_sbuf *in, const nl_tk_span *sin, const nl_sbuf *out, enum norm_kind k,
                                    nl_tk_spanv *osp)
{
    if (!in->n) return NL_OK;
    if (in->n == out->n && !memcmp(in->p, out->p, in->n))
        return spv_add(osp, sin, in->n) ? NL_OK : nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
    nl_sbuf chk = {0}, one = {0};
    size_t mark = osp->n, i = 0;
    nl_status r = NL_OK;
    while (i < in->n && r == NL_OK) {
        size_t j = i;
        do { /* one character, then the non-starters after it */
            uint32_t cp;
            int bad, cl = nl_tk_utf8_char((const uint8_t *)in->p + j, in->n - j, &cp, &bad);
            j += cl ? (size_t)cl : (size_t)bad;
            if (!cl) break;
            if (j < in->n) {
                cl = nl_tk_utf8_char((const uint8_t *)in->p + j, in->n - j, &cp, &bad);
                if (!cl || utf8proc_get_property((utf8proc_int32_t)cp)->combining_class == 0) break;
            }
        } while (j < in->n);
        one.n = 0;
        r = unicode_norm(&one, in->p + i, j - i, k);
        if (r == NL_OK && (!nl_tk_sbuf_add(&chk, one.p, one.n) || !spv_push(osp, span_union(sin + i, j - i), one.n)))
            r = nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
        i = j;
    }
    if (r == NL_OK && (chk.n != out->n || memcmp(chk.p, out->p, out->n))) {
        osp->n = mark;
        if (!spv_push(osp, span_union(sin, in->n), out->n)) r = nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
    }
    free(chk.p);
    free(one.p);
    return r;
}

/* nl_tk_normalize with spans: the same text in *out, and in *osp the input
 * span of every output byte. */
static nl_status normalize_spans(const nl_tokenizer *t, const char *s, size_t n, const nl_tk_span *sin, nl_sbuf *out,
                                 nl_tk_spanv *osp)
{
    nl_sbuf cur = {0}, next = {0};
    nl_tk_spanv csp = {0}, nsp = {0};
    nl_status r = NL_OK;
    if (!nl_tk_sbuf_add(&cur, s, n) || !spv_add(&csp, sin, n)) r = nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
    for (int i = 0; i < t->n_norm && r == NL_OK; i++) {
        const norm_step *st = &t->norm[i];
        next.n = 0;
        nsp.n = 0;
        bool ok = true;
        if (st->k == N_PREPEND) {
            if (cur.n) {
                size_t na = strlen(st->a);
                ok = nl_tk_sbuf_add(&next, st->a, na) && nl_tk_sbuf_add(&next, cur.p, cur.n) &&
                     spv_push(&nsp, (nl_tk_span){csp.p[0].a, csp.p[0].a}, na) && spv_add(&nsp, csp.p, csp.n);
            }
        } else if (st->k == N_REPLACE) {
            ok = nl_tk_replace_all(&next, cur.p, cur.n, st->a, st->b);
            size_t na = strlen(st->a), nb = strlen(st->b), k = 0;
            while (ok) { /* the same scan as nl_tk_replace_all */
                const char *hit = memmem(cur.p + k, cur.n - k, st->a, na);
                size_t j = hit ? (size_t)(hit - cur.p) : cur.n;
                ok = spv_add(&nsp, csp.p + k, j - k);
                if (!hit) break;
                ok = ok && spv_push(&nsp, span_union(csp.p + j, na), nb);
                k = j + na;
            }
        } else {
            r = unicode_norm(&next, cur.p, cur.n, st->k);
            if (r == NL_OK) r = unicode_norm_spans(&cur, csp.p, &next, st->k, &nsp);
        }
        if (r == NL_OK && !ok) r = nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
        nl_sbuf tmp = cur;
        cur = next;
        next = tmp;
        nl_tk_spanv tsp = csp;
        csp = nsp;
        nsp = tsp;
    }
    free(next.p);
    free(nsp.p);
    if (r != NL_OK) {
        free(cur.p);
        free(csp.p);
        return r;
    }
    if (cur.n != csp.n) {
        free(cur.p);
        free(csp.p);
        return nl_error_set(NL_ERR_STATE, "tokenizer: internal error: normalizer spans out of step (%zu bytes, %zu "
                            "spans)", cur.n, csp.n);
    }
    *out = cur;
    *osp = csp;
    return NL_OK;
}

/* Add a piece to l and, when tracking (lsp), its spans. */
static bool plist_add_sp(nl_plist *l, nl_tk_spanv *lsp, const char *s, size_t n, bool first, const nl_tk_span *sp)
{
    return nl_tk_plist_add(l, s, n, first) && (!lsp || spv_add(lsp, sp, n));
}

/* ---- encode -------------------------------------------------------------- */

/* Spans of s: [start, end) with delim = (pattern matched) xor invert. */
typedef struct span { size_t a, b; bool delim; } span;
typedef struct spans { span *p; size_t n, cap; } spans;

static bool span_push(spans *v, size_t a, size_t b, bool delim)
{
    if (a == b) return true;
    if (v->n == v->cap) {
        size_t c = v->cap ? 2 * v->cap : 64;
        span *p = realloc(v->p, c * sizeof *p);
        if (!p) return false;
        v->p = p;
        v->cap = c;
    }
    v->p[v->n++] = (span){a, b, delim};
    return true;
}

static nl_status find_spans(const pre_step *st, pcre2_match_data *md, const char *s, size_t n, bool invert, spans *v)
{
    size_t pos = 0, last = 0, nlit = st->lit ? strlen(st->lit) : 0;
    v->n = 0;
    for (;;) {
        size_t a, b;
        if (st->re) {
            int rc = pcre2_match(st->re, (PCRE2_SPTR)s, n, pos, 0, md, NULL);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(rc, msg, sizeof msg);
                return nl_error_set(NL_ERR_ARG, "tokenizer: split regex failed on the text: %s", (const char *)msg);
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            a = ov[0];
            b = ov[1];
            if (a < last || b < a || b > n)
                return nl_error_set(NL_ERR_ARG, "tokenizer: split regex reported the match [%zu, %zu) outside "
                                    "[%zu, %zu)", a, b, last, n);
        } else {
            const char *hit = memmem(s + pos, n - pos, st->lit, nlit);
            if (!hit) break;
            a = (size_t)(hit - s);
            b = a + nlit;
        }
        if (b == a) { /* empty match: no piece, move one character on */
            if (a >= n) break;
            pos = a + 1;
            while (pos < n && ((uint8_t)s[pos] & 0xc0) == 0x80) pos++;
            continue;
        }
        if (!span_push(v, last, a, invert) || !span_push(v, a, b, !invert))
            return nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
        last = pos = b;
    }
    return span_push(v, last, n, invert) ? NL_OK : nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
}

/* Split one piece by the step's pattern with HF's delimiter behaviours; with
 * spans (sin, osp non-NULL) the pieces' byte spans go to osp. */
static nl_status split_piece(const pre_step *st, pcre2_match_data *md, const char *s, size_t n, bool first,
                             enum behavior beh, bool invert, nl_plist *out, spans *v, const nl_tk_span *sin,
                             nl_tk_spanv *osp)
{
    size_t cur = 0;
    NL_TRY(find_spans(st, md, s, n, invert, v));
    span *sp = v->p;
    size_t nsp = v->n;
    bool ok = true;
#define EMIT(x, y) (ok = ok && ((y) <= (x) || plist_add_sp(out, osp, s + (x), (y) - (x), first && (x) == 0, \
                                                              sin ? sin + (x) : NULL)))
    for (size_t i = 0; i < nsp; i++) {
        span x = sp[i];
        switch (beh) {
        case B_REMOVED: if (!x.delim) EMIT(x.a, x.b); break;
        case B_ISOLATED: EMIT(x.a, x.b); break;
        case B_CONTIGUOUS: /* adjacent delimiters form one piece */
            if (x.delim && i + 1 < nsp && sp[i + 1].delim) { sp[i + 1].a = x.a; break; }
            EMIT(x.a, x.b);
            break;
        case B_PREVIOUS: if (x.delim) { EMIT(cur, x.b); cur = x.b; } break;
        case B_NEXT: if (x.delim) { EMIT(cur, x.a); cur = x.a; } break;
        }
    }
    if (beh == B_PREVIOUS || beh == B_NEXT) EMIT(cur, n);
#undef EMIT
    return ok ? NL_OK : nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
}

/* One pre-tokenizer over every piece of in; with spans (insp, outsp
 * non-NULL, parallel to the pieces' buffers) the byte spans follow. */
static nl_status pre_step_apply(const nl_tokenizer *t, const pre_step *st, pcre2_match_data *md, const nl_plist *in,
                                nl_plist *out, spans *sp, const nl_tk_spanv *insp, nl_tk_spanv *outsp)
{
    nl_sbuf tmp = {0}, mapped = {0};
    nl_plist sub = {0};
    nl_tk_spanv tsp = {0}, ssp = {0}, msp = {0};
    bool track = insp && outsp;
    nl_status r = NL_OK;
    for (size_t i = 0; i < in->n && r == NL_OK; i++) {
        const char *s = in->buf.p + in->p[i].off;
        size_t n = in->p[i].len;
        bool first = in->p[i].first;
        const nl_tk_span *sin = track ? insp->p + in->p[i].off : NULL;
        nl_tk_span start = (track && n) ? (nl_tk_span){sin[0].a, sin[0].a} : (nl_tk_span){0, 0};
        if (st->k == P_SPLIT) {
            r = split_piece(st, md, s, n, first, st->behavior, st->invert, out, sp, sin, outsp);
        } else if (st->k == P_METASPACE) {
            tmp.n = 0;
            tsp.n = 0;
            size_t nr = strlen(st->rep);
            bool starts = (n >= nr && !memcmp(s, st->rep, nr)) || s[0] == ' '; /* spaces become rep */
            bool prepend = !starts && (st->scheme == S_ALWAYS || (st->scheme == S_FIRST && first));
            bool fine = (!prepend || nl_tk_sbuf_add(&tmp, st->rep, nr)) && nl_tk_replace_all(&tmp, s, n, " ", st->rep);
            if (fine && track) {
                fine = !prepend || spv_push(&tsp, start, nr);
                for (size_t j = 0; j < n && fine; j++) fine = spv_push(&tsp, sin[j], s[j] == ' ' ? nr : 1);
            }
            if (!fine) r = nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
            else if (st->split) {
                pre_step lit = {.k = P_SPLIT, .lit = (char *)st->rep};
                r = split_piece(&lit, md, tmp.p, tmp.n, first, B_NEXT, false, out, sp, track ? tsp.p : NULL,
                                track ? outsp : NULL);
            } else if (!plist_add_sp(out, track ? outsp : NULL, tmp.p, tmp.n, first, tsp.p))
                r = nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
        } else { /* ByteLevel */
            tmp.n = 0;
            tsp.n = 0;
            bool pre = st->add_prefix_space && !(n && s[0] == ' ');
            bool fine = (!pre || nl_tk_sbuf_add(&tmp, " ", 1)) && nl_tk_sbuf_add(&tmp, s, n);
            if (fine && track) fine = (!pre || spv_push(&tsp, start, 1)) && spv_add(&tsp, sin, n);
            sub.n = sub.buf.n = 0;
            ssp.n = 0;
            if (!fine) r = nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
            else if (st->re)
                r = split_piece(st, md, tmp.p, tmp.n, first, B_ISOLATED, false, &sub, sp, track ? tsp.p : NULL,
                                track ? &ssp : NULL);
            else if (!plist_add_sp(&sub, track ? &ssp : NULL, tmp.p, tmp.n, first, tsp.p))
                r = nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
            for (size_t j = 0; j < sub.n && r == NL_OK; j++) {
                mapped.n = 0;
                msp.n = 0;
                const uint8_t *u = (const uint8_t *)sub.buf.p + sub.p[j].off;
                for (size_t k = 0; k < sub.p[j].len && fine; k++) {
                    fine = nl_tk_sbuf_add(&mapped, t->bl_enc[u[k]], t->bl_len[u[k]]);
                    if (fine && track) fine = spv_push(&msp, ssp.p[sub.p[j].off + k], t->bl_len[u[k]]);
                }
                if (!fine || !plist_add_sp(out, track ? outsp : NULL, mapped.p, mapped.n, sub.p[j].first, msp.p))
                    r = nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
            }
        }
    }
    free(tmp.p);
    free(mapped.p);
    free(tsp.p);
    free(ssp.p);
    free(msp.p);
    nl_tk_plist_free(&sub);
    return r;
}

typedef struct enc_ctx {
    pcre2_match_data *md;
    nl_bpe_cache cache;
    spans sp;
    nl_plist a, b;
    nl_tk_spanv *tok;   /* NULL: no offsets wanted; else one input span per output id */
    nl_tk_spanv asp, bsp; /* spans parallel to a.buf and b.buf */
} enc_ctx;

/* The input span of word bytes [x, y) (empty at x when y == x). */
static nl_tk_span word_span(const nl_tk_span *wsp, size_t len, size_t x, size_t y)
{
    if (y > x) return span_union(wsp + x, y - x);
    size_t k = x < len ? x : len - 1;
    return (nl_tk_span){wsp[k].a, wsp[k].a};
}

/* Spans of the ids BPE made of one word w (len > 0): each id covers its
 * token string, a byte-fallback byte, or (unk) characters up to the next
 * token; bytes BPE dropped go unclaimed. */
static bool word_token_spans(const nl_tokenizer *t, const char *w, size_t len, const nl_tk_span *wsp,
                             const int32_t *ids, size_t n, nl_tk_spanv *tok)
{
    size_t pos = 0;
    for (size_t k = 0; k < n; k++) {
        int32_t id = ids[k];
        const char *ts = id >= 0 && id < t->n_ids ? t->tok[id] : NULL;
        size_t tl = ts ? t->tok_len[id] : 0, x = pos, y = pos;
        if (tl && pos + tl <= len && !memcmp(w + pos, ts, tl)) {
            y = pos + tl;
        } else if (pos < len && t->bpe.byte_fallback && id == t->bpe.byte_id[(uint8_t)w[pos]]) {
            y = pos + 1;
        } else if (pos < len && id == t->bpe.unk) { /* unknown characters up to where the next token matches */
            const char *ns = k + 1 < n && ids[k + 1] >= 0 && ids[k + 1] < t->n_ids ? t->tok[ids[k + 1]] : NULL;
            size_t nl = ns ? t->tok_len[ids[k + 1]] : 0;
            do {
                uint32_t cp;
                int bad, cl = nl_tk_utf8_char((const uint8_t *)w + y, len - y, &cp, &bad);
                y += cl ? (size_t)cl : (size_t)bad;
            } while (y < len && t->bpe.fuse_unk && (k + 1 == n || !nl || y + nl > len || memcmp(w + y, ns, nl)));
        } else if (tl) { /* the token string further on (BPE dropped bytes before it) */
            const char *hit = tl <= len - pos ? memmem(w + pos, len - pos, ts, tl) : NULL;
            if (hit) x = (size_t)(hit - w), y = x + tl;
        }
        if (k + 1 == n && y < len && y > x) y = len; /* the last token takes any rest */
        if (!spv_push(tok, word_span(wsp, len, x, y), 1)) return false;
        pos = y;
    }
    return true;
}

/* Pre-tokenize and BPE one stretch of normalized text between added tokens. */
static nl_status pretok_bpe(const nl_tokenizer *t, enc_ctx *c, const char *s, size_t n, bool first, nl_ids *out,
                            const nl_tk_span *sin)
{
    if (!n) return NL_OK;
    bool track = c->tok != NULL;
    c->a.n = c->a.buf.n = 0;
    c->asp.n = 0;
    if (!plist_add_sp(&c->a, track ? &c->asp : NULL, s, n, first, sin))
        return nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
    for (int i = 0; i < t->n_pre; i++) {
        c->b.n = c->b.buf.n = 0;
        c->bsp.n = 0;
        NL_TRY(pre_step_apply(t, &t->pre[i], c->md, &c->a, &c->b, &c->sp, track ? &c->asp : NULL,
                              track ? &c->bsp : NULL));
        nl_plist tmp = c->a;
        c->a = c->b;
        c->b = tmp;
        nl_tk_spanv tsp = c->asp;
        c->asp = c->bsp;
        c->bsp = tsp;
    }
    for (size_t i = 0; i < c->a.n; i++) {
        size_t start = out->n;
        const char *w = c->a.buf.p + c->a.p[i].off;
        NL_TRY(nl_tk_bpe_word(&t->bpe, &c->cache, w, c->a.p[i].len, out));
        if (track && c->a.p[i].len && out->n > start && /* no tokens: nothing to place (out->p may be NULL) */
            !word_token_spans(t, w, c->a.p[i].len, c->asp.p + c->a.p[i].off, out->p + start, out->n - start, c->tok))
            return nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
    }
    return NL_OK;
}

/* A letter or digit ends at s[i-1] / starts at s[i] (for single_word). */
static bool word_char_at(const char *s, size_t n, size_t i, bool before)
{
    if (before) {
        if (i == 0) return false;
        size_t j = i - 1;
        while (j > 0 && i - j < 4 && ((uint8_t)s[j] & 0xc0) == 0x80) j--;
        i = j;
    } else if (i >= n)
        return false;
    uint32_t cp;
    int bad;
    if (!nl_tk_utf8_char((const uint8_t *)s + i, n - i, &cp, &bad)) return false;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
           (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO) || cp == '_';
}

/* The longest token of the set starting at s[i], or -1. */
static int match_added(const nl_tokenizer *t, const added_set *set, const char *s, size_t n, size_t i)
{
    uint8_t b = (uint8_t)s[i];
    for (int k = set->bucket[b]; k < set->bucket[b + 1]; k++) {
        const added_tok *a = &t->added[set->order[k]];
        if (a->mlen > n - i || memcmp(s + i, a->m, a->mlen)) continue;
        if (a->single_word && (word_char_at(s, n, i, true) || word_char_at(s, n, i + a->mlen, false))) continue;
        return set->order[k];
    }
    return -1;
}

/* Unicode White_Space (what HF's lstrip/rstrip remove): Zs, Zl, Zp, U+0009..U+000D, U+0085. */
static bool white_space(const char *s, size_t n, int *len)
{
    uint32_t cp;
    int bad;
    *len = nl_tk_utf8_char((const uint8_t *)s, n, &cp, &bad);
    if (!*len) return false;
    if ((cp >= 9 && cp <= 13) || cp == 0x85) return true;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

/* Move *end back over the white space after lo. */
static void strip_left(const char *s, size_t lo, size_t *end)
{
    for (;;) {
        size_t j = *end;
        while (j > lo && *end - j < 4 && (j == *end || ((uint8_t)s[j] & 0xc0) == 0x80)) j--;
        int cl;
        if (j >= *end || !white_space(s + j, *end - j, &cl) || (size_t)cl != *end - j) return;
        *end = j;
    }
}

static nl_status encode_segment(const nl_tokenizer *t, enc_ctx *c, const char *s, size_t n, bool first, nl_ids *out,
                                const nl_tk_span *sin);

/* Cut the tokens of set w (0: raw text, 1: normalized text) out of s; the
 * stretches between them go on to encode_segment (w 0) or pretok_bpe (w 1).
 * sin: the input spans of s's bytes when offsets are tracked, else NULL. */
static nl_status split_added(const nl_tokenizer *t, int w, enc_ctx *c, const char *s, size_t len, bool first,
                             nl_ids *out, const nl_tk_span *sin)
{
    const added_set *set = &t->set[w];
    size_t seg = 0, i = 0;
    while (set->n && i < len) {
        int k = match_added(t, set, s, len, i);
        if (k < 0) { i++; continue; }
        const added_tok *a = &t->added[k];
        size_t end = i, next = i + a->mlen;
        int cl;
        if (a->lstrip) strip_left(s, seg, &end);
        if (a->rstrip) while (next < len && white_space(s + next, len - next, &cl)) next += (size_t)cl;
        const nl_tk_span *ssp = sin ? sin + seg : NULL;
        NL_TRY(w ? pretok_bpe(t, c, s + seg, end - seg, first && seg == 0, out, ssp)
                 : encode_segment(t, c, s + seg, end - seg, first && seg == 0, out, ssp));
        if (!nl_tk_ids_push(out, a->id) || (c->tok && !spv_push(c->tok, span_union(sin + end, next - end), 1)))
            return nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
        seg = i = next;
    }
    const nl_tk_span *ssp = sin ? sin + seg : NULL;
    return w ? pretok_bpe(t, c, s + seg, len - seg, first && seg == 0, out, ssp)
             : encode_segment(t, c, s + seg, len - seg, first && seg == 0, out, ssp);
}

/* Normalize one stretch of raw text between added tokens, then cut out the
 * "normalized" added tokens and encode the rest. */
static nl_status encode_segment(const nl_tokenizer *t, enc_ctx *c, const char *s, size_t n, bool first, nl_ids *out,
                                const nl_tk_span *sin)
{
    if (!n) return NL_OK;
    nl_sbuf norm = {0};
    nl_tk_spanv nsp = {0};
    if (c->tok) NL_TRY(normalize_spans(t, s, n, sin, &norm, &nsp));
    else NL_TRY(nl_tk_normalize(t, s, n, &norm));
    nl_status st = split_added(t, 1, c, norm.p, norm.n, first, out, c->tok ? nsp.p : NULL);
    free(norm.p);
    free(nsp.p);
    return st;
}

/* Widen [*a, *b) of s to whole well-formed UTF-8 characters. */
static void widen_to_chars(const char *s, size_t len, int64_t *a, int64_t *b)
{
    if (*b <= *a) return;
    for (int side = 0; side < 2; side++) {
        size_t at = side ? (size_t)*b - 1 : (size_t)*a; /* a byte inside the span */
        if (((uint8_t)s[at] & 0xc0) != 0x80) {
            if (side) { /* the last byte starts a character: extend over its continuation */
                uint32_t cp;
                int bad, cl = nl_tk_utf8_char((const uint8_t *)s + at, len - at, &cp, &bad);
                if (cl > 1) *b = (int64_t)(at + (size_t)cl);
            }
            continue;
        }
        for (size_t back = 1; back <= 3 && back <= at; back++) {
            uint32_t cp;
            int bad, cl = nl_tk_utf8_char((const uint8_t *)s + at - back, len - (at - back), &cp, &bad);
            if (cl > (int)back) {
                if (side) *b = (int64_t)(at - back + (size_t)cl);
                else *a = (int64_t)(at - back);
                break;
            }
            if (((uint8_t)s[at - back] & 0xc0) != 0x80) break;
        }
    }
}

static nl_status encode_impl(const nl_tokenizer *t, const char *utf8, size_t len, bool add_special, int32_t **ids,
                             size_t *n, nl_tk_spanv *tok)
{
    *ids = NULL;
    *n = 0;
    nl_ids out = {0};
    nl_sbuf clean = {0};
    nl_tk_spanv in_sp = {0};
    enc_ctx c = {.tok = tok};
    nl_status st = NL_OK;
    const char *s = utf8;
    size_t slen = len;
    bool lossy = !t->byte_level && nl_tk_utf8_check(utf8, len) != len;
    if (lossy) {
        if (!nl_tk_utf8_lossy(&clean, utf8, len)) st = nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
        s = clean.p;
        slen = clean.n;
    }
    if (st == NL_OK && tok) { /* the input span of every byte of s */
        bool ok = true;
        for (size_t i = 0; i < len && ok;) {
            uint32_t cp;
            int bad, cl = nl_tk_utf8_char((const uint8_t *)utf8 + i, len - i, &cp, &bad);
            if (!cl && lossy) { /* replaced by U+FFFD (3 bytes) */
                ok = spv_push(&in_sp, (nl_tk_span){(int64_t)i, (int64_t)(i + (size_t)bad)}, 3);
                i += (size_t)bad;
            } else { /* a character (or, byte-level, one ill-formed byte): its bytes one by one */
                size_t m = cl ? (size_t)cl : 1;
                for (size_t k = 0; k < m && ok; k++)
                    ok = spv_push(&in_sp, (nl_tk_span){(int64_t)(i + k), (int64_t)(i + k) + 1}, 1);
                i += m;
            }
        }
        if (!ok) st = nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
        else if (in_sp.n != slen)
            st = nl_error_set(NL_ERR_STATE, "tokenizer: internal error: %zu input spans for %zu bytes", in_sp.n, slen);
    }
    if (st == NL_OK && !(c.md = pcre2_match_data_create(1, NULL))) st = nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
    for (size_t i = 0; add_special && i < t->prefix.n && st == NL_OK; i++)
        if (!nl_tk_ids_push(&out, t->prefix.p[i]) || (tok && !spv_push(tok, (nl_tk_span){0, 0}, 1)))
            st = nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
    if (st == NL_OK) st = split_added(t, 0, &c, s, slen, true, &out, tok ? in_sp.p : NULL);
    for (size_t j = 0; add_special && j < t->suffix.n && st == NL_OK; j++)
        if (!nl_tk_ids_push(&out, t->suffix.p[j]) || (tok && !spv_push(tok, (nl_tk_span){(int64_t)len, (int64_t)len}, 1)))
            st = nl_error_set(NL_ERR_OOM, "tokenizer: out of memory");
    if (st == NL_OK && tok && tok->n != out.n)
        st = nl_error_set(NL_ERR_STATE, "tokenizer: internal error: %zu spans for %zu ids", tok->n, out.n);
    for (size_t k = 0; st == NL_OK && tok && k < tok->n; k++) widen_to_chars(utf8, len, &tok->p[k].a, &tok->p[k].b);
    pcre2_match_data_free(c.md);
    nl_tk_bpe_cache_free(&c.cache);
    free(c.sp.p);
    nl_tk_plist_free(&c.a);
    nl_tk_plist_free(&c.b);
    free(c.asp.p);
    free(c.bsp.p);
    free(in_sp.p);
    free(clean.p);
    if (st != NL_OK) { free(out.p); return st; }
    *ids = out.p;
    *n = out.n;
    return NL_OK;
}

nl_status nl_tok_encode_ex(const nl_tokenizer *t, const char *utf8, size_t len, bool add_special, int32_t **ids,
                           size_t *n)
{
    if (!t || !ids || !n || (!utf8 && len)) return nl_error_set(NL_ERR_ARG, "tokenizer encode: NULL argument");
    return encode_impl(t, utf8, len, add_special, ids, n, NULL);
}

nl_status nl_tok_encode(const nl_tokenizer *t, const char *utf8, size_t len, int32_t **ids, size_t *n)
{
    return nl_tok_encode_ex(t, utf8, len, true, ids, n);
}

nl_status nl_tok_encode_offsets(const nl_tokenizer *t, const char *utf8, size_t len, bool add_special, int32_t **ids,
                                int64_t **byte_start, int64_t **byte_end, size_t *n)
{
    if (!t || !ids || !byte_start || !byte_end || !n || (!utf8 && len))
        return nl_error_set(NL_ERR_ARG, "tokenizer encode_offsets: NULL argument");
    *byte_start = *byte_end = NULL;
    nl_tk_spanv tok = {0};
    nl_status st = encode_impl(t, utf8, len, add_special, ids, n, &tok);
    if (st == NL_OK && *n) {
        *byte_start = malloc(*n * sizeof **byte_start);
        *byte_end = malloc(*n * sizeof **byte_end);
        if (!*byte_start || !*byte_end) {
            free(*byte_start);
            free(*byte_end);
            free(*ids);
            *ids = NULL;
            *byte_start = *byte_end = NULL;
            *n = 0;
            st = nl_error_set(NL_ERR_OOM, "tokenizer encode_offsets: out of memory for %zu spans", tok.n);
        } else
            for (size_t k = 0; k < *n; k++) {
                (*byte_start)[k] = tok.p[k].a;
                (*byte_end)[k] = tok.p[k].b;
            }
    }
    free(tok.p);
    return st;
}
