/* tokenizer.c — HF tokenizer.json: the validated loader (model, vocab, merges,
 * added tokens, decoders), decode, the vocabulary queries, add_tokens and the
 * atomic save. The encode pipeline is in tokenizer_encode.c, the merge loop in
 * bpe.c. Depends on the runtime core, cJSON and PCRE2; never on Guile. */
#define _GNU_SOURCE
#include "tokenizer_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- JSON checks ------------------------------------------------------------ */

nl_status nl_tk_want_string(const char *path, const cJSON *o, const char *where, const char *k, const char **out)
{
    const cJSON *v = get(o, k);
    if (!cJSON_IsString(v))
        return nl_error_set(NL_ERR_FORMAT, "%s: %s.%s is %s (a string is required)", path, where, k,
                            v ? "not a string" : "missing");
    *out = v->valuestring;
    return NL_OK;
}

nl_status nl_tk_opt_bool(const char *path, const cJSON *o, const char *where, const char *k, bool dflt, bool *out)
{
    const cJSON *v = get(o, k);
    if (absent(v)) { *out = dflt; return NL_OK; }
    if (!cJSON_IsBool(v)) return nl_error_set(NL_ERR_FORMAT, "%s: %s.%s is not a boolean", path, where, k);
    *out = cJSON_IsTrue(v);
    return NL_OK;
}

/* An exact integer in [0, limit). */
bool nl_tk_json_id(const cJSON *v, double limit, int32_t *out)
{
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d < limit) || d != floor(d) || d > INT32_MAX) return false;
    *out = (int32_t)d;
    return true;
}

/* One Unicode character (for Metaspace replacement and Strip content). */
nl_status nl_tk_one_char(const char *path, const char *where, const char *s, char rep[5])
{
    size_t n = strlen(s);
    uint32_t cp;
    int bad;
    if (n == 0 || n > 4 || nl_tk_utf8_char((const uint8_t *)s, n, &cp, &bad) != (int)n)
        return nl_error_set(NL_ERR_FORMAT, "%s: %s \"%s\" is not a single character", path, where, s);
    memcpy(rep, s, n + 1);
    return NL_OK;
}

nl_status nl_tk_parse_scheme(const char *path, const cJSON *o, const char *where, enum scheme *out)
{
    const cJSON *ps = get(o, "prepend_scheme");
    if (absent(ps)) {
        bool aps;
        NL_TRY(nl_tk_opt_bool(path, o, where, "add_prefix_space", true, &aps));
        *out = aps ? S_ALWAYS : S_NEVER;
        return NL_OK;
    }
    const char *s = cJSON_IsString(ps) ? ps->valuestring : "";
    if (!strcmp(s, "always")) *out = S_ALWAYS;
    else if (!strcmp(s, "first")) *out = S_FIRST;
    else if (!strcmp(s, "never")) *out = S_NEVER;
    else return nl_error_set(NL_ERR_FORMAT, "%s: %s.prepend_scheme \"%s\" is not one of always, first, never",
                             path, where, s);
    return NL_OK;
}

/* Replace's pattern: {"String": s} (a Regex pattern is reported unsupported). */
nl_status nl_tk_string_pattern(const char *path, const cJSON *o, const char *where, const char **out)
{
    const cJSON *p = get(o, "pattern");
    if (cJSON_IsObject(p) && get(p, "Regex"))
        return nl_error_set(NL_ERR_FORMAT, "%s: %s with a Regex pattern is not supported (only String)", path, where);
    if (!cJSON_IsObject(p) || !cJSON_IsString(get(p, "String")) || !*get(p, "String")->valuestring)
        return nl_error_set(NL_ERR_FORMAT, "%s: %s.pattern is missing or not {\"String\": non-empty string}", path,
                            where);
    *out = get(p, "String")->valuestring;
    return NL_OK;
}

/* The object's "type" string (WHERE names the object in messages). */
nl_status nl_tk_parse_type(const char *path, const cJSON *o, const char *where, const char **type)
{
    if (!cJSON_IsObject(o)) return nl_error_set(NL_ERR_FORMAT, "%s: %s is not an object or null", path, where);
    return nl_tk_want_string(path, o, where, "type", type);
}

/* ---- decoders --------------------------------------------------------------- */

static nl_status parse_dec(nl_tokenizer *t, const cJSON *o)
{
    const char *type, *path = t->path, *a, *b;
    NL_TRY(nl_tk_parse_type(path, o, "decoder", &type));
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = get(o, "decoders");
        if (!cJSON_IsArray(list))
            return nl_error_set(NL_ERR_FORMAT, "%s: decoder Sequence: \"decoders\" missing or not an array", path);
        for (const cJSON *c = list->child; c; c = c->next) NL_TRY(parse_dec(t, c));
        return NL_OK;
    }
    if (t->n_dec == 32) return nl_error_set(NL_ERR_FORMAT, "%s: more than 32 decoders", path);
    dec_step *st = &t->dec[t->n_dec];
    *st = (dec_step){0};
    if (!strcmp(type, "ByteLevel")) st->k = D_BYTELEVEL;
    else if (!strcmp(type, "ByteFallback")) st->k = D_BYTEFALLBACK;
    else if (!strcmp(type, "Fuse")) st->k = D_FUSE;
    else if (!strcmp(type, "Replace")) {
        NL_TRY(nl_tk_string_pattern(path, o, "decoder Replace", &a));
        NL_TRY(nl_tk_want_string(path, o, "decoder Replace", "content", &b));
        st->k = D_REPLACE;
        st->a = dupn(a, strlen(a));
        st->b = dupn(b, strlen(b));
        if (!st->a || !st->b) { free(st->a); free(st->b); return oom(path); }
    } else if (!strcmp(type, "Strip")) {
        int32_t start, stop;
        NL_TRY(nl_tk_want_string(path, o, "decoder Strip", "content", &a));
        NL_TRY(nl_tk_one_char(path, "decoder Strip content", a, st->rep));
        if (!nl_tk_json_id(get(o, "start"), 1e6, &start) || !nl_tk_json_id(get(o, "stop"), 1e6, &stop))
            return nl_error_set(NL_ERR_FORMAT, "%s: decoder Strip.start/stop missing or not small non-negative "
                                "integers", path);
        st->k = D_STRIP;
        st->start = start;
        st->stop = stop;
    } else if (!strcmp(type, "Metaspace")) {
        NL_TRY(nl_tk_want_string(path, o, "decoder Metaspace", "replacement", &a));
        NL_TRY(nl_tk_one_char(path, "decoder Metaspace replacement", a, st->rep));
        NL_TRY(nl_tk_parse_scheme(path, o, "decoder Metaspace", &st->scheme));
        st->k = D_METASPACE;
    } else
        return nl_error_set(NL_ERR_FORMAT, "%s: decoder type \"%s\" is not supported "
                            "(supported: ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence)", path, type);
    t->n_dec++;
    return NL_OK;
}
/* ---- the model ----------------------------------------------------------- */

static nl_status check_utf8(const char *path, const char *where, const char *s)
{
    size_t n = strlen(s), bad = nl_tk_utf8_check(s, n);
    if (bad != n)
        return nl_error_set(NL_ERR_FORMAT, "%s: %s has invalid UTF-8 at byte %zu (0x%02x)", path, where, bad,
                            (unsigned)(uint8_t)s[bad]);
    if (n > TK_MAX_TOKEN)
        return nl_error_set(NL_ERR_FORMAT, "%s: %s is %zu bytes long (at most %d)", path, where, n, TK_MAX_TOKEN);
    return NL_OK;
}

static nl_status parse_vocab(nl_tokenizer *t, const cJSON *vocab)
{
    const char *path = t->path;
    int n = cJSON_GetArraySize(vocab);
    t->vocab = calloc(n ? (size_t)n : 1, sizeof *t->vocab);
    if (!t->vocab) return oom(path);
    t->n_vocab = n;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int32_t id, old;
        if (!nl_tk_json_id(e, n, &id))
        {
            if (!cJSON_IsNumber(e))
                return nl_error_set(NL_ERR_FORMAT, "%s: model.vocab: id of \"%s\" is not a number", path, e->string);
            return nl_error_set(NL_ERR_FORMAT, "%s: model.vocab: id of \"%s\" is %.17g; ids must be integers in "
                                "[0, %d) (the vocab has %d entries)", path, e->string, e->valuedouble, n, n);
        }
        char where[96];
        snprintf(where, sizeof where, "model.vocab token with id %d", (int)id);
        NL_TRY(check_utf8(path, where, e->string));
        if (t->vocab[id])
            return nl_error_set(NL_ERR_FORMAT, "%s: model.vocab: id %d is used twice (\"%s\" and \"%s\")", path,
                                (int)id, t->vocab[id], e->string);
        if (!(t->vocab[id] = dupn(e->string, strlen(e->string)))) return oom(path);
        int r = nl_tk_strmap_put(&t->bpe.vocab, t->vocab[id], strlen(t->vocab[id]), id, &old);
        if (r < 0) return oom(path);
        if (r == 0)
            return nl_error_set(NL_ERR_FORMAT, "%s: model.vocab: token \"%s\" appears twice (ids %d and %d)", path,
                                e->string, (int)old, (int)id);
    }
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        t->bpe.byte_id[b] = nl_tk_strmap_get(&t->bpe.vocab, s, 6);
    }
    return NL_OK;
}

/* One merge of rank `rank`; buf has room for two tokens. */
static nl_status parse_merge(nl_tokenizer *t, const cJSON *m, int32_t rank, char *buf)
{
    const char *path = t->path, *a, *b;
    size_t na, nb;
    if (cJSON_IsString(m)) {
        a = m->valuestring;
        const char *sp = strchr(a, ' ');
        if (!sp || strchr(sp + 1, ' '))
            return nl_error_set(NL_ERR_FORMAT, "%s: model.merges[%d] \"%s\" is not two tokens separated by one space",
                                path, (int)rank, a);
        na = (size_t)(sp - a);
        b = sp + 1;
        nb = strlen(b);
    } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
               cJSON_IsString(m->child->next)) {
        a = m->child->valuestring;
        na = strlen(a);
        b = m->child->next->valuestring;
        nb = strlen(b);
    } else
        return nl_error_set(NL_ERR_FORMAT, "%s: model.merges[%d] is neither \"a b\" nor [\"a\", \"b\"]", path,
                            (int)rank);
    int32_t ia = nl_tk_strmap_get(&t->bpe.vocab, a, na), ib = nl_tk_strmap_get(&t->bpe.vocab, b, nb);
    if (ia < 0 || ib < 0) /* both in the vocab: each at most TK_MAX_TOKEN bytes */
        return nl_error_set(NL_ERR_FORMAT, "%s: model.merges[%d] names token \"%.*s\" which is not in the vocab",
                            path, (int)rank, (int)(ia < 0 ? na : nb), ia < 0 ? a : b);
    memcpy(buf, a, na);
    memcpy(buf + na, b, nb);
    int32_t im = nl_tk_strmap_get(&t->bpe.vocab, buf, na + nb);
    if (im < 0)
        return nl_error_set(NL_ERR_FORMAT, "%s: model.merges[%d] \"%.*s\" + \"%.*s\" gives \"%.*s\" which is not in "
                            "the vocab", path, (int)rank, (int)na, a, (int)nb, b, (int)(na + nb), buf);
    return nl_tk_pairmap_put(&t->bpe.merges, ia, ib, rank, im) ? NL_OK : oom(path);
}

static nl_status parse_merges(nl_tokenizer *t, const cJSON *merges)
{
    char *buf = malloc(2 * TK_MAX_TOKEN);
    if (!buf) return oom(t->path);
    nl_status st = NL_OK;
    int32_t rank = 0;
    for (const cJSON *m = merges->child; m && st == NL_OK; m = m->next, rank++) st = parse_merge(t, m, rank, buf);
    free(buf);
    return st;
}

static nl_status parse_model(nl_tokenizer *t, const cJSON *model)
{
    const char *path = t->path, *type = "BPE";
    if (!cJSON_IsObject(model)) return nl_error_set(NL_ERR_FORMAT, "%s: key \"model\" is missing or not an object", path);
    const cJSON *tv = get(model, "type");
    if (!absent(tv)) NL_TRY(nl_tk_want_string(path, model, "model", "type", &type));
    if (strcmp(type, "BPE"))
        return nl_error_set(NL_ERR_FORMAT, "%s: model type \"%s\" is not supported (supported: BPE)", path, type);
    const cJSON *vocab = get(model, "vocab"), *merges = get(model, "merges"), *v;
    if (!cJSON_IsObject(vocab))
        return nl_error_set(NL_ERR_FORMAT, "%s: key \"model.vocab\" is missing or not an object", path);
    if (!cJSON_IsArray(merges))
        return nl_error_set(NL_ERR_FORMAT, "%s: key \"model.merges\" is missing or not an array", path);
    if (!absent(v = get(model, "dropout")))
        return nl_error_set(NL_ERR_FORMAT, "%s: model.dropout is set; BPE dropout is not supported "
                            "HINT: set \"dropout\": null for inference", path);
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int k = 0; k < 2; k++) {
        v = get(model, affixes[k]);
        if (!absent(v) && !(cJSON_IsString(v) && !*v->valuestring))
            return nl_error_set(NL_ERR_FORMAT, "%s: model.%s is set; it is not supported", path, affixes[k]);
    }
    NL_TRY(nl_tk_opt_bool(path, model, "model", "fuse_unk", false, &t->bpe.fuse_unk));
    NL_TRY(nl_tk_opt_bool(path, model, "model", "byte_fallback", false, &t->bpe.byte_fallback));
    NL_TRY(nl_tk_opt_bool(path, model, "model", "ignore_merges", false, &t->bpe.ignore_merges));
    NL_TRY(parse_vocab(t, vocab));
    NL_TRY(parse_merges(t, merges));
    t->bpe.unk = -1;
    v = get(model, "unk_token");
    if (!absent(v)) {
        if (!cJSON_IsString(v)) return nl_error_set(NL_ERR_FORMAT, "%s: model.unk_token is not a string", path);
        t->bpe.unk = nl_tk_strmap_get(&t->bpe.vocab, v->valuestring, strlen(v->valuestring));
        if (t->bpe.unk < 0)
            return nl_error_set(NL_ERR_FORMAT, "%s: model.unk_token \"%s\" is not in the vocab", path, v->valuestring);
    }
    return NL_OK;
}

/* ---- added tokens ---------------------------------------------------------- */

static bool ensure_ids(nl_tokenizer *t, int32_t n)
{
    if (n <= t->cap_ids) return true;
    int32_t cap = t->cap_ids ? t->cap_ids : 256;
    while (cap < n) cap = cap > INT32_MAX / 2 ? n : 2 * cap;
    const char **tok = realloc(t->tok, (size_t)cap * sizeof *tok);
    if (tok) t->tok = tok;
    uint32_t *len = tok ? realloc(t->tok_len, (size_t)cap * sizeof *len) : NULL;
    if (len) t->tok_len = len;
    bool *sp = len ? realloc(t->special, (size_t)cap * sizeof *sp) : NULL;
    if (!sp) return false;
    t->special = sp;
    for (int32_t i = t->cap_ids; i < cap; i++) { t->tok[i] = NULL; t->tok_len[i] = 0; t->special[i] = false; }
    t->cap_ids = cap;
    return true;
}

static int cmp_order_ctx_len(const void *a, const void *b, void *ctx)
{
    const added_tok *ad = ctx;
    const added_tok *x = &ad[*(const int *)a], *y = &ad[*(const int *)b];
    uint8_t fx = (uint8_t)x->m[0], fy = (uint8_t)y->m[0];
    if (fx != fy) return fx < fy ? -1 : 1;
    if (x->mlen != y->mlen) return x->mlen > y->mlen ? -1 : 1;
    return 0;
}

static bool rebuild_buckets(nl_tokenizer *t)
{
    for (int w = 0; w < 2; w++) {
        added_set *set = &t->set[w];
        int *o = realloc(set->order, (size_t)(t->n_added ? t->n_added : 1) * sizeof *o);
        if (!o) return false;
        set->order = o;
        set->n = 0;
        for (int i = 0; i < t->n_added; i++)
            if (t->added[i].normalized == (w == 1) && t->added[i].mlen) o[set->n++] = i;
        qsort_r(o, (size_t)set->n, sizeof *o, cmp_order_ctx_len, t->added);
        int k = 0;
        for (int b = 0; b < 256; b++) {
            set->bucket[b] = k;
            while (k < set->n && (uint8_t)t->added[o[k]].m[0] == b) k++;
        }
        set->bucket[256] = k;
    }
    return true;
}

/* Register one added token (content already validated). A "normalized" token
 * is matched, and decoded, as the normalizers' output for its content (HF). */
static nl_status add_one(nl_tokenizer *t, const char *content, int32_t id, bool special, bool lstrip, bool rstrip,
                         bool single_word, bool normalized)
{
    size_t len = strlen(content);
    if (t->n_added == t->cap_added) {
        int cap = t->cap_added ? 2 * t->cap_added : 16;
        added_tok *a = realloc(t->added, (size_t)cap * sizeof *a);
        if (!a) return oom(t->path);
        t->added = a;
        t->cap_added = cap;
    }
    if (id == INT32_MAX || !ensure_ids(t, id + 1)) return oom(t->path);
    char *s = dupn(content, len), *m = s;
    if (!s) return oom(t->path);
    size_t mlen = len;
    if (normalized && t->n_norm) {
        nl_sbuf nb = {0};
        nl_status st = nl_tk_normalize(t, s, len, &nb);
        if (st == NL_OK && (nb.n != len || memcmp(nb.p, s, len))) {
            if (nl_tk_sbuf_cstr(&nb)) { m = nb.p; mlen = nb.n; nb.p = NULL; }
            else st = oom(t->path);
        }
        free(nb.p);
        if (st != NL_OK) { free(s); return st; }
    }
    int r = nl_tk_strmap_put(&t->added_map, s, len, t->n_added, NULL);
    if (r < 0) { if (m != s) free(m); free(s); return oom(t->path); }
    t->added[t->n_added++] = (added_tok){s, m, len, mlen, id, special, lstrip, rstrip, single_word, normalized};
    t->tok[id] = m;
    t->tok_len[id] = (uint32_t)mlen;
    t->special[id] = special;
    if (id >= t->n_ids) t->n_ids = id + 1;
    return NL_OK;
}

static nl_status parse_added(nl_tokenizer *t, const cJSON *list)
{
    const char *path = t->path;
    if (absent(list)) return NL_OK;
    if (!cJSON_IsArray(list)) return nl_error_set(NL_ERR_FORMAT, "%s: key \"added_tokens\" is not an array", path);
    double limit = (double)t->n_vocab + cJSON_GetArraySize(list);
    int k = 0;
    for (const cJSON *e = list->child; e; e = e->next, k++) {
        const char *content;
        char where[64];
        snprintf(where, sizeof where, "added_tokens[%d]", k);
        if (!cJSON_IsObject(e)) return nl_error_set(NL_ERR_FORMAT, "%s: %s is not an object", path, where);
        NL_TRY(nl_tk_want_string(path, e, where, "content", &content));
        int32_t id;
        const cJSON *idv = get(e, "id");
        if (!idv) return nl_error_set(NL_ERR_FORMAT, "%s: %s.id is missing", path, where);
        if (!cJSON_IsNumber(idv))
            return nl_error_set(NL_ERR_FORMAT, "%s: %s.id is not a number", path, where);
        if (!nl_tk_json_id(idv, limit, &id))
            return nl_error_set(NL_ERR_FORMAT, "%s: %s (\"%s\") has id %.17g, out of range [0, %.0f) (vocab entries "
                                "+ added tokens)", path, where, content, idv->valuedouble, limit);
        if (!*content) return nl_error_set(NL_ERR_FORMAT, "%s: %s has empty content", path, where);
        NL_TRY(check_utf8(path, where, content));
        bool special, lstrip, rstrip, single_word, normalized;
        NL_TRY(nl_tk_opt_bool(path, e, where, "special", false, &special));
        NL_TRY(nl_tk_opt_bool(path, e, where, "normalized", !special, &normalized));
        NL_TRY(nl_tk_opt_bool(path, e, where, "lstrip", false, &lstrip));
        NL_TRY(nl_tk_opt_bool(path, e, where, "rstrip", false, &rstrip));
        NL_TRY(nl_tk_opt_bool(path, e, where, "single_word", false, &single_word));
        if (nl_tk_strmap_get(&t->added_map, content, strlen(content)) >= 0)
            return nl_error_set(NL_ERR_FORMAT, "%s: %s: content \"%s\" is added twice", path, where, content);
        for (int i = 0; i < t->n_added; i++)
            if (t->added[i].id == id)
                return nl_error_set(NL_ERR_FORMAT, "%s: %s: id %d is used twice (\"%s\" and \"%s\")", path, where,
                                    (int)id, t->added[i].s, content);
        /* HF ignores the stored id: a token of the vocab keeps its vocab id, any
         * other takes the next id after the vocab and the earlier added tokens.
         * A file whose ids disagree would encode differently here and in HF. */
        int32_t vid = nl_tk_strmap_get(&t->bpe.vocab, content, strlen(content)), want = vid >= 0 ? vid : t->n_ids;
        if (id != want)
            return nl_error_set(NL_ERR_FORMAT, "%s: %s \"%s\" has id %d but %s %d HINT: added tokens outside the "
                                "vocab take consecutive ids after it, in file order", path, where, content, (int)id,
                                vid >= 0 ? "the vocab gives it id" : "HF tokenizers would give it id", (int)want);
        NL_TRY(add_one(t, content, id, special, lstrip, rstrip, single_word, normalized));
    }
    return rebuild_buckets(t) ? NL_OK : oom(path);
}

static void init_byte_level(nl_tokenizer *t)
{
    int extra = 0;
    for (int i = 0; i < 324; i++) t->bl_dec[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
        uint32_t cp = printable ? (uint32_t)b : 256u + (uint32_t)extra++;
        t->bl_len[b] = (uint8_t)nl_tk_utf8_put(cp, t->bl_enc[b]);
        t->bl_dec[cp] = (int16_t)b;
    }
}

static nl_status read_file(const char *path, char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nl_error_set(NL_ERR_IO, "tokenizer: cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    nl_status st = NL_OK;
    if (fstat(fd, &sb) != 0) st = nl_error_set(NL_ERR_IO, "tokenizer: stat %s: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode)) st = nl_error_set(NL_ERR_IO, "tokenizer: %s is not a regular file", path);
    else if ((uint64_t)sb.st_size > TK_MAX_FILE)
        st = nl_error_set(NL_ERR_FORMAT, "%s: file is %lld bytes; at most 1 GiB is accepted", path,
                          (long long)sb.st_size);
    size_t n = st == NL_OK ? (size_t)sb.st_size : 0, got = 0;
    char *b = st == NL_OK ? malloc(n + 1) : NULL;
    if (st == NL_OK && !b) st = oom(path);
    while (st == NL_OK && got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) st = nl_error_set(NL_ERR_IO, "tokenizer: read %s: %s", path, r ? strerror(errno) : "file shrank");
        else got += (size_t)r;
    }
    close(fd);
    if (st != NL_OK) { free(b); return st; }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return NL_OK;
}

void nl_tok_free(nl_tokenizer *t)
{
    if (!t) return;
    cJSON_Delete(t->root);
    for (int32_t i = 0; i < t->n_vocab; i++) free(t->vocab[i]);
    free(t->vocab);
    for (int i = 0; i < t->n_added; i++) {
        if (t->added[i].m != t->added[i].s) free(t->added[i].m);
        free(t->added[i].s);
    }
    free(t->added);
    free(t->set[0].order);
    free(t->set[1].order);
    nl_tk_strmap_free(&t->added_map);
    free(t->tok);
    free(t->tok_len);
    free(t->special);
    nl_tk_bpe_free(&t->bpe);
    for (int i = 0; i < t->n_norm; i++) { free(t->norm[i].a); free(t->norm[i].b); }
    for (int i = 0; i < t->n_pre; i++) { pcre2_code_free(t->pre[i].re); free(t->pre[i].lit); }
    for (int i = 0; i < t->n_dec; i++) { free(t->dec[i].a); free(t->dec[i].b); }
    free(t->prefix.p);
    free(t->suffix.p);
    free(t->path);
    free(t);
}

static nl_status load(nl_tokenizer *t, const char *text, size_t len)
{
    const char *path = t->path, *end = NULL;
    t->root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!t->root)
        return nl_error_set(NL_ERR_FORMAT, "%s: invalid JSON near byte %zu", path,
                            end && end >= text ? (size_t)(end - text) : (size_t)0);
    size_t rest = (size_t)(end - text);
    while (rest < len && (text[rest] == ' ' || text[rest] == '\t' || text[rest] == '\r' || text[rest] == '\n')) rest++;
    if (rest < len) return nl_error_set(NL_ERR_FORMAT, "%s: invalid JSON: data after the top-level value at byte %zu",
                                        path, rest);
    if (!cJSON_IsObject(t->root)) return nl_error_set(NL_ERR_FORMAT, "%s: the top level is not a JSON object", path);
    NL_TRY(parse_model(t, get(t->root, "model")));
    t->n_ids = t->n_vocab;
    if (!ensure_ids(t, t->n_vocab ? t->n_vocab : 1)) return oom(path);
    for (int32_t i = 0; i < t->n_vocab; i++) {
        t->tok[i] = t->vocab[i];
        t->tok_len[i] = (uint32_t)strlen(t->vocab[i]);
    }
    init_byte_level(t);
    const cJSON *v;
    /* the normalizers first: "normalized" added tokens are matched in their output */
    if (!absent(v = get(t->root, "normalizer"))) NL_TRY(nl_tk_parse_norm(t, v));
    if (!absent(v = get(t->root, "pre_tokenizer"))) NL_TRY(nl_tk_parse_pre(t, v));
    NL_TRY(parse_added(t, get(t->root, "added_tokens")));
    if (!absent(v = get(t->root, "decoder"))) {
        NL_TRY(parse_dec(t, v));
        t->has_decoder = true;
    }
    if (!absent(v = get(t->root, "post_processor"))) NL_TRY(nl_tk_parse_post(t, v));
    return NL_OK;
}

nl_status nl_tok_load(nl_tokenizer **out, const char *path)
{
    if (!out || !path) return nl_error_set(NL_ERR_ARG, "tokenizer load: NULL argument");
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    NL_TRY(read_file(path, &text, &len));
    nl_tokenizer *t = calloc(1, sizeof *t);
    nl_status st = t ? NL_OK : oom(path);
    if (st == NL_OK && !(t->path = dupn(path, strlen(path)))) st = oom(path);
    if (st == NL_OK) st = load(t, text, len);
    free(text);
    if (st != NL_OK) { nl_tok_free(t); return st; }
    *out = t;
    return NL_OK;
}
/* ---- decode ---------------------------------------------------------------- */

static nl_status dec_oom(void) { return nl_error_set(NL_ERR_OOM, "tokenizer decode: out of memory"); }

/* "<0xNN>" -> NN, or -1. */
static int byte_token(const char *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int v = 0;
    for (int k = 3; k < 5; k++) {
        char c = s[k];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = 16 * v + d;
    }
    return v;
}

static nl_status dec_step_apply(const nl_tokenizer *t, const dec_step *st, const nl_plist *in, nl_plist *out)
{
    nl_sbuf acc = {0}, tmp = {0};
    bool ok = true;
    size_t nr = strlen(st->rep);
    for (size_t i = 0; i < in->n && ok; i++) {
        const char *s = in->buf.p + in->p[i].off;
        size_t n = in->p[i].len;
        switch (st->k) {
        case D_BYTELEVEL: { /* bytes of all tokens, then one lossy string */
            size_t mark = acc.n, j = 0;
            while (j < n && ok) {
                uint32_t cp;
                int bad, cl = nl_tk_utf8_char((const uint8_t *)s + j, n - j, &cp, &bad);
                if (!cl || cp >= 324 || t->bl_dec[cp] < 0) break;
                char b = (char)t->bl_dec[cp];
                ok = nl_tk_sbuf_add(&acc, &b, 1);
                j += (size_t)cl;
            }
            if (ok && j < n) { acc.n = mark; ok = nl_tk_sbuf_add(&acc, s, n); } /* not byte-level: raw bytes */
            break;
        }
        case D_REPLACE:
            tmp.n = 0;
            ok = nl_tk_replace_all(&tmp, s, n, st->a, st->b) && nl_tk_plist_add(out, tmp.p, tmp.n, false);
            break;
        case D_BYTEFALLBACK: {
            int b = byte_token(s, n);
            if (b >= 0) { char c = (char)b; ok = nl_tk_sbuf_add(&acc, &c, 1); break; }
            if (acc.n) { /* flush: the bytes as UTF-8, or one U+FFFD per byte when ill-formed */
                if (nl_tk_utf8_check(acc.p, acc.n) == acc.n) ok = nl_tk_plist_add(out, acc.p, acc.n, false);
                else for (size_t k = 0; k < acc.n && ok; k++) ok = nl_tk_plist_add(out, "\xEF\xBF\xBD", 3, false);
                acc.n = 0;
            }
            ok = ok && nl_tk_plist_add(out, s, n, false);
            break;
        }
        case D_FUSE: ok = nl_tk_sbuf_add(&acc, s, n); break;
        case D_STRIP: {
            size_t a = 0, b = n;
            for (int k = 0; k < st->start && b - a >= nr && !memcmp(s + a, st->rep, nr); k++) a += nr;
            for (int k = 0; k < st->stop && b - a >= nr && !memcmp(s + b - nr, st->rep, nr); k++) b -= nr;
            ok = nl_tk_plist_add(out, s + a, b - a, false);
            break;
        }
        case D_METASPACE: /* the first token loses its replacement characters (HF) */
            tmp.n = 0;
            ok = nl_tk_replace_all(&tmp, s, n, st->rep, i == 0 && st->scheme != S_NEVER ? "" : " ") &&
                 nl_tk_plist_add(out, tmp.p, tmp.n, false);
            break;
        }
    }
    if (ok && st->k == D_BYTELEVEL) {
        tmp.n = 0;
        ok = nl_tk_utf8_lossy(&tmp, acc.p, acc.n) && nl_tk_plist_add(out, tmp.p, tmp.n, false);
    } else if (ok && st->k == D_FUSE)
        ok = nl_tk_plist_add(out, acc.p, acc.n, false);
    else if (ok && st->k == D_BYTEFALLBACK && acc.n) {
        if (nl_tk_utf8_check(acc.p, acc.n) == acc.n) ok = nl_tk_plist_add(out, acc.p, acc.n, false);
        else for (size_t k = 0; k < acc.n && ok; k++) ok = nl_tk_plist_add(out, "\xEF\xBF\xBD", 3, false);
    }
    free(acc.p);
    free(tmp.p);
    return ok ? NL_OK : dec_oom();
}

nl_status nl_tok_decode(const nl_tokenizer *t, const int32_t *ids, size_t n, bool skip_special, char **utf8)
{
    if (!t || !utf8 || (!ids && n)) return nl_error_set(NL_ERR_ARG, "tokenizer decode: NULL argument");
    *utf8 = NULL;
    nl_plist a = {0}, b = {0};
    nl_status st = NL_OK;
    for (size_t i = 0; i < n && st == NL_OK; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_ids || !t->tok[id])
            st = nl_error_set(NL_ERR_ARG, "tokenizer decode: id %d at position %zu %s (vocab size %d)", (int)id, i,
                              id < 0 || id >= t->n_ids ? "is out of range" : "names no token", (int)t->n_ids);
        else if (!(skip_special && t->special[id]) && !nl_tk_plist_add(&a, t->tok[id], t->tok_len[id], false))
            st = dec_oom();
    }
    for (int k = 0; k < t->n_dec && st == NL_OK; k++) {
        b.n = b.buf.n = 0;
        st = dec_step_apply(t, &t->dec[k], &a, &b);
        nl_plist tmp = a;
        a = b;
        b = tmp;
    }
    nl_sbuf joined = {0}, res = {0};
    for (size_t i = 0; i < a.n && st == NL_OK; i++)
        if ((!t->has_decoder && i && !nl_tk_sbuf_add(&joined, " ", 1)) ||
            !nl_tk_sbuf_add(&joined, a.buf.p + a.p[i].off, a.p[i].len))
            st = dec_oom();
    if (st == NL_OK && (!nl_tk_utf8_lossy(&res, joined.p, joined.n) || !nl_tk_sbuf_cstr(&res))) st = dec_oom();
    nl_tk_plist_free(&a);
    nl_tk_plist_free(&b);
    free(joined.p);
    if (st != NL_OK) { free(res.p); return st; }
    *utf8 = res.p;
    return NL_OK;
}
/* ---- vocabulary queries, add_tokens, save ------------------------------------ */

int32_t nl_tok_vocab_size(const nl_tokenizer *t) { return t ? t->n_ids : 0; }

int32_t nl_tok_token_to_id(const nl_tokenizer *t, const char *token)
{
    if (!t || !token) return -1;
    size_t n = strlen(token);
    int32_t k = nl_tk_strmap_get(&t->added_map, token, n);
    return k >= 0 ? t->added[k].id : nl_tk_strmap_get(&t->bpe.vocab, token, n);
}

const char *nl_tok_id_to_token(const nl_tokenizer *t, int32_t id)
{
    return t && id >= 0 && id < t->n_ids ? t->tok[id] : NULL;
}

static bool json_add_token(cJSON *root, const added_tok *a)
{
    cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!cJSON_IsArray(list)) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "added_tokens");
        if (!(list = cJSON_AddArrayToObject(root, "added_tokens"))) return false;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o) return false;
    if (!cJSON_AddNumberToObject(o, "id", a->id) || !cJSON_AddStringToObject(o, "content", a->s) ||
        !cJSON_AddBoolToObject(o, "single_word", 0) || !cJSON_AddBoolToObject(o, "lstrip", 0) ||
        !cJSON_AddBoolToObject(o, "rstrip", 0) || !cJSON_AddBoolToObject(o, "normalized", a->normalized) ||
        !cJSON_AddBoolToObject(o, "special", a->special) || !cJSON_AddItemToArray(list, o)) {
        cJSON_Delete(o);
        return false;
    }
    return true;
}

nl_status nl_tok_add_tokens(nl_tokenizer *t, int n, const char *const *contents, bool special, int32_t *ids_out)
{
    if (!t || n < 0 || (n && !contents)) return nl_error_set(NL_ERR_ARG, "tokenizer add_tokens: bad arguments (n=%d)", n);
    for (int i = 0; i < n; i++) {
        const char *c = contents[i];
        if (!c || !*c)
            return nl_error_set(NL_ERR_ARG, "tokenizer add_tokens: token %d is %s", i, c ? "empty" : "NULL");
        size_t len = strlen(c), bad = nl_tk_utf8_check(c, len);
        if (bad != len)
            return nl_error_set(NL_ERR_ARG, "tokenizer add_tokens: token %d has invalid UTF-8 at byte %zu", i, bad);
        if (len > TK_MAX_TOKEN)
            return nl_error_set(NL_ERR_ARG, "tokenizer add_tokens: token %d is %zu bytes (at most %d)", i, len,
                                TK_MAX_TOKEN);
    }
    for (int i = 0; i < n; i++) {
        const char *c = contents[i];
        size_t len = strlen(c);
        int32_t k = nl_tk_strmap_get(&t->added_map, c, len);
        if (k >= 0) {
            if (ids_out) ids_out[i] = t->added[k].id;
            continue;
        }
        int32_t id = nl_tk_strmap_get(&t->bpe.vocab, c, len);
        if (id < 0) id = t->n_ids;
        NL_TRY(add_one(t, c, id, special, false, false, false, false)); /* matched in the raw text */
        if (!json_add_token(t->root, &t->added[t->n_added - 1]) || !rebuild_buckets(t)) return oom(t->path);
        if (ids_out) ids_out[i] = id;
    }
    return NL_OK;
}

static nl_status write_all(int fd, const char *tmp, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return nl_error_set(NL_ERR_IO, "tokenizer save: write to %s failed: %s", tmp, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return NL_OK;
}

nl_status nl_tok_save(const nl_tokenizer *t, const char *path)
{
    if (!t || !path) return nl_error_set(NL_ERR_ARG, "tokenizer save: NULL argument");
    char *json = cJSON_Print(t->root);
    if (!json) return nl_error_set(NL_ERR_OOM, "tokenizer save %s: out of memory printing the JSON", path);
    size_t tl = strlen(path) + 16;
    char *tmp = malloc(tl);
    nl_status st = tmp ? NL_OK : nl_error_set(NL_ERR_OOM, "tokenizer save %s: out of memory", path);
    int fd = -1;
    if (st == NL_OK) {
        snprintf(tmp, tl, "%s.tmp.XXXXXX", path);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) st = nl_error_set(NL_ERR_IO, "tokenizer save: cannot create %s: %s", tmp, strerror(errno));
    }
    if (st == NL_OK && fchmod(fd, 0644) != 0)
        st = nl_error_set(NL_ERR_IO, "tokenizer save: chmod %s: %s", tmp, strerror(errno));
    if (st == NL_OK) st = write_all(fd, tmp, json, strlen(json));
    if (st == NL_OK) st = write_all(fd, tmp, "\n", 1);
    if (st == NL_OK && fsync(fd) != 0)
        st = nl_error_set(NL_ERR_IO, "tokenizer save: fsync %s: %s", tmp, strerror(errno));
    if (fd >= 0 && close(fd) != 0 && st == NL_OK)
        st = nl_error_set(NL_ERR_IO, "tokenizer save: close %s: %s", tmp, strerror(errno));
    if (st == NL_OK && rename(tmp, path) != 0)
        st = nl_error_set(NL_ERR_IO, "tokenizer save: rename %s to %s: %s", tmp, path, strerror(errno));
    if (st != NL_OK && fd >= 0) unlink(tmp);
    if (st == NL_OK) { /* make the rename durable */
        char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
        const char *d = !dir ? NULL : slash == dir ? "/" : slash ? (*slash = '\0', dir) : ".";
        int dfd = d ? open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (dfd < 0 || fsync(dfd) != 0)
            st = nl_error_set(NL_ERR_IO, "tokenizer save: fsync of the directory of %s: %s", path, strerror(errno));
        if (dfd >= 0) close(dfd);
        free(dir);
    }
    free(tmp);
    free(json);
    return st;
}
