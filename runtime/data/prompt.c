/* prompt.c — NoteLLM / NoteLLM-2 prompt builders: template substitution
 * with marker positions recorded, hashtag target selection (§3.1), note
 * truncation by re-rendering with shorter fields (never the suffix), one
 * tokenization with byte offsets, read-outs / image slot / labels found by
 * offsets, and the visual-token splice arithmetic (§4.4).
 * Depends on the runtime core, tokenizer.h, notes.h, preprocess.h, rng.h. */
#define _GNU_SOURCE
#include "prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preprocess.h"

#define IGNORE (-100)

/* ---- the presets --------------------------------------------------------------- */

/* The paper code's strings (method §3.1, §3.9, §3.10, §4.3): ASCII braces and
 * quotes in the note string, U+FF1A after 笔记, U+FF0C / U+201C / U+201D /
 * U+3002 in the suffixes. */
static const nl_prompt_templates preset_zh = {
    .name = "zh",
    .note = "笔记：{\"标题\":\"{title}\",\"话题\":\"{topics}\",\"内容\":\"{content}\"}",
    .note_no_topic = "笔记：{\"标题\":\"{title}\",\"内容\":\"{content}\"}",
    .mm_note = "笔记：{\"图片\":\"<IMG>\",\"标题\":\"{title}\",\"话题\":\"{topics}\",\"内容\":\"{content}\"}",
    .micl_image = "笔记：{\"图片\":\"<IMG>\"}，压缩为一个词：“<IMG_EMB>”。",
    .suffix_category = "，压缩为一个词：“<TEXT_EMB>”。生成笔记类目：",
    .suffix_hashtag = "，压缩为一个词：“<TEXT_EMB>”。生成笔记{j}个话题：",
    .suffix_open = "，压缩为一个词：“",
    .target_prefix = "",
    .tag_sep = "，",
    .target_end = "。",
};

/* An English rendering following the paper's glosses (§3.1, §4.3): the same
 * JSON-like note string with English keys, ASCII punctuation, and a space
 * before the target (in target_prefix, so the target's first word keeps its
 * leading-space token inside the supervised span). */
static const nl_prompt_templates preset_en = {
    .name = "en",
    .note = "Note: {\"title\":\"{title}\",\"topics\":\"{topics}\",\"content\":\"{content}\"}",
    .note_no_topic = "Note: {\"title\":\"{title}\",\"content\":\"{content}\"}",
    .mm_note = "Note: {\"image\":\"<IMG>\",\"title\":\"{title}\",\"topics\":\"{topics}\",\"content\":\"{content}\"}",
    .micl_image = "Note: {\"image\":\"<IMG>\"}, compress into one word: \"<IMG_EMB>\". ",
    .suffix_category = ", compress into one word: \"<TEXT_EMB>\". Generate the note category:",
    .suffix_hashtag = ", compress into one word: \"<TEXT_EMB>\". Generate {j} topics of the note:",
    .suffix_open = ", compress into one word: \"",
    .target_prefix = " ",
    .tag_sep = ", ",
    .target_end = ".",
};

const nl_prompt_templates *nl_prompt_preset(const char *name)
{
    if (!name) return NULL;
    if (!strcmp(name, "zh")) return &preset_zh;
    if (!strcmp(name, "en")) return &preset_en;
    return NULL;
}

static const char *const kind_names[NL_PROMPT_KIND_COUNT] = {
    "category", "hashtag", "infer", "gen-category", "gen-hashtag", "mm-basic", "micl", "image-only",
    "micl-image-only", "text-only", "late-fusion"};

const char *nl_prompt_kind_name(nl_prompt_kind k)
{
    return (unsigned)k < NL_PROMPT_KIND_COUNT ? kind_names[k] : NULL;
}

void nl_prompt_opts_init(nl_prompt_opts *o, const nl_tokenizer *tok)
{
    *o = (nl_prompt_opts){.tpl = NULL, .tok = tok, .max_note_tokens = 140, .eos = "</s>", .gen_tags = 5};
}

void nl_sample_free(nl_sample *s)
{
    if (!s) return;
    free(s->text);
    free(s->ids);
    free(s->labels);
    free(s->target);
    *s = (nl_sample){0};
}

/* ---- strings ---------------------------------------------------------------------- */

typedef struct sb { char *p; size_t n, cap; bool oom; } sb;

static void sb_add(sb *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n + 1) c *= 2;
        char *p = realloc(b->p, c);
        if (!p) { b->oom = true; return; }
        b->p = p;
        b->cap = c;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}
static void sb_str(sb *b, const char *s) { sb_add(b, s, strlen(s)); }

static nl_status oom(const char *what) { return nl_error_set(NL_ERR_OOM, "prompt: out of memory (%s)", what); }

/* A piece of a string. */
typedef struct view { const char *p; size_t n; } view;

/* Split s on the separator sep (non-empty), dropping empty pieces; *out is
 * malloc'ed (NULL when *n is 0). */
static nl_status split_on(const char *s, const char *sep, view **out, size_t *n)
{
    size_t ns = strlen(sep), cap = 0, len = strlen(s);
    *out = NULL;
    *n = 0;
    const char *p = s, *end = s + len;
    while (p <= end) {
        const char *hit = p < end ? memmem(p, (size_t)(end - p), sep, ns) : NULL;
        const char *q = hit ? hit : end;
        if (q > p) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 8;
                view *v = realloc(*out, cap * sizeof *v);
                if (!v) { free(*out); *out = NULL; *n = 0; return oom("split"); }
                *out = v;
            }
            (*out)[(*n)++] = (view){p, (size_t)(q - p)};
        }
        if (!hit) break;
        p = hit + ns;
    }
    return NL_OK;
}

static void join(sb *b, const view *v, size_t n, const char *sep)
{
    for (size_t i = 0; i < n; i++) {
        if (i) sb_str(b, sep);
        sb_add(b, v[i].p, v[i].n);
    }
}

/* ---- rendering ---------------------------------------------------------------------- */

typedef struct fields {
    view title, topics, content; /* already cut to their kept length */
    int j;
} fields;

enum { M_IMG, M_IMG_EMB, M_TEXT_EMB, M_COUNT };
static const char *const marker[M_COUNT] = {"<IMG>", "<IMG_EMB>", "<TEXT_EMB>"};

typedef struct rendered {
    sb s;
    size_t note_end;         /* byte end of the note string (tokens starting before it count) */
    size_t pos[M_COUNT];     /* byte offset of each marker (first occurrence) */
    int count[M_COUNT];      /* occurrences in the templates */
    size_t target_start;     /* byte offset of the target (target_prefix included) */
    size_t eos_pos;
    bool has_target;
} rendered;

/* Append template tpl with the fields substituted; markers are copied and
 * their positions recorded (only those in the template, never in a field). */
static void subst(rendered *r, const char *tpl, const fields *f)
{
    const char *p = tpl;
    while (*p) {
        size_t lit = strcspn(p, "{<");
        sb_add(&r->s, p, lit);
        p += lit;
        if (!*p) break;
        if (!strncmp(p, "{title}", 7)) { sb_add(&r->s, f->title.p, f->title.n); p += 7; continue; }
        if (!strncmp(p, "{topics}", 8)) { sb_add(&r->s, f->topics.p, f->topics.n); p += 8; continue; }
        if (!strncmp(p, "{content}", 9)) { sb_add(&r->s, f->content.p, f->content.n); p += 9; continue; }
        if (!strncmp(p, "{j}", 3)) {
            char num[16];
            sb_add(&r->s, num, (size_t)snprintf(num, sizeof num, "%d", f->j));
            p += 3;
            continue;
        }
        int m = M_COUNT;
        for (int k = 0; k < M_COUNT; k++) /* <IMG_EMB> before <IMG>: no marker is a prefix of another here */
            if (!strncmp(p, marker[k], strlen(marker[k])) && (m == M_COUNT || strlen(marker[k]) > strlen(marker[m])))
                m = k;
        if (m < M_COUNT) {
            if (!r->count[m]++) r->pos[m] = r->s.n;
            sb_str(&r->s, marker[m]);
            p += strlen(marker[m]);
            continue;
        }
        sb_add(&r->s, p, 1);
        p++;
    }
}

/* The templates each kind uses, in order: [prefix], note, suffix. */
typedef struct layout {
    const char *prefix, *note, *suffix;
    const char *tpl_name[3]; /* field names for messages */
    bool needs[M_COUNT];
    bool open;               /* ends where the embedding is read */
    bool train_target;       /* a target + EOS follows */
    bool empty_fields;
} layout;

static layout kind_layout(const nl_prompt_templates *t, nl_prompt_kind k)
{
    layout l = {0};
    l.tpl_name[0] = "micl_image";
    l.tpl_name[1] = "note";
    switch (k) {
    case NL_PROMPT_CATEGORY:
    case NL_PROMPT_GEN_CATEGORY:
        l.note = t->note, l.suffix = t->suffix_category, l.tpl_name[2] = "suffix_category";
        l.needs[M_TEXT_EMB] = true, l.train_target = k == NL_PROMPT_CATEGORY;
        break;
    case NL_PROMPT_HASHTAG:
    case NL_PROMPT_GEN_HASHTAG:
        l.note = k == NL_PROMPT_HASHTAG ? t->note : t->note_no_topic;
        if (k == NL_PROMPT_GEN_HASHTAG) l.tpl_name[1] = "note_no_topic";
        l.suffix = t->suffix_hashtag, l.tpl_name[2] = "suffix_hashtag";
        l.needs[M_TEXT_EMB] = true, l.train_target = k == NL_PROMPT_HASHTAG;
        break;
    case NL_PROMPT_MM_BASIC:
    case NL_PROMPT_IMAGE_ONLY:
        l.note = t->mm_note, l.tpl_name[1] = "mm_note", l.suffix = t->suffix_open, l.tpl_name[2] = "suffix_open";
        l.needs[M_IMG] = true, l.open = true, l.empty_fields = k == NL_PROMPT_IMAGE_ONLY;
        break;
    case NL_PROMPT_MICL:
    case NL_PROMPT_MICL_IMAGE_ONLY:
        l.prefix = t->micl_image, l.note = t->note, l.suffix = t->suffix_open, l.tpl_name[2] = "suffix_open";
        l.needs[M_IMG] = l.needs[M_IMG_EMB] = true, l.open = true, l.empty_fields = k == NL_PROMPT_MICL_IMAGE_ONLY;
        break;
    default: /* INFER, TEXT_ONLY, LATE_FUSION */
        l.note = t->note, l.suffix = t->suffix_open, l.tpl_name[2] = "suffix_open", l.open = true;
        break;
    }
    return l;
}

static void render(rendered *r, const nl_prompt_templates *t, const layout *l, const fields *f, const char *target,
                   const char *eos)
{
    *r = (rendered){0};
    if (l->prefix) subst(r, l->prefix, f);
    subst(r, l->note, f);
    r->note_end = r->s.n;
    subst(r, l->suffix, f);
    if (target) {
        r->has_target = true;
        r->target_start = r->s.n;
        sb_str(&r->s, t->target_prefix ? t->target_prefix : "");
        sb_str(&r->s, target);
        r->eos_pos = r->s.n;
        sb_str(&r->s, eos);
    }
}

/* ---- tokens ------------------------------------------------------------------------- */

typedef struct toks {
    int32_t *ids;
    int64_t *bs, *be;
    size_t n;
} toks;

static void toks_free(toks *t)
{
    free(t->ids);
    free(t->bs);
    free(t->be);
    *t = (toks){0};
}

/* Index of the token spanning exactly [pos, pos+len) with id `id`, or -1. */
static int64_t find_token(const toks *t, size_t pos, size_t len, int32_t id)
{
    for (size_t k = 0; k < t->n; k++)
        if (t->bs[k] == (int64_t)pos && t->be[k] == (int64_t)(pos + len) && t->ids[k] == id) return (int64_t)k;
    return -1;
}

static size_t count_note_tokens(const toks *t, size_t note_end)
{
    size_t c = 0;
    for (size_t k = 0; k < t->n; k++) c += t->bs[k] < (int64_t)note_end;
    return c;
}

/* ---- the builder ---------------------------------------------------------------------- */

static uint64_t bounded(nl_rng *r, uint64_t n) /* uniform in [0, n), n > 0 */
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;
    do x = nl_rng_next(r); while (x >= lim);
    return x % n;
}

static const char *str_or_empty(const char *s) { return s ? s : ""; }

static nl_status check_templates(const nl_prompt_templates *t, const layout *l, nl_prompt_kind kind)
{
    const char *tp[3] = {l->prefix, l->note, l->suffix};
    if (!l->note || !l->suffix || (kind == NL_PROMPT_MICL || kind == NL_PROMPT_MICL_IMAGE_ONLY ? !l->prefix : 0) ||
        !t->tag_sep || !t->target_end)
        return nl_error_set(NL_ERR_ARG, "prompt %s: template set \"%s\" lacks a template this kind needs "
                            "(micl_image, note/mm_note/note_no_topic, suffix, tag_sep or target_end is NULL)",
                            nl_prompt_kind_name(kind), str_or_empty(t->name));
    /* count markers per template by rendering with empty fields */
    fields none = {{"", 0}, {"", 0}, {"", 0}, 0};
    for (int m = 0; m < M_COUNT; m++) {
        int total = 0;
        for (int i = 0; i < 3; i++) {
            if (!tp[i]) continue;
            rendered r = {0};
            subst(&r, tp[i], &none);
            free(r.s.p);
            total += r.count[m];
        }
        if (l->needs[m] && total != 1)
            return nl_error_set(NL_ERR_ARG, "prompt %s: template set \"%s\" has %d %s in %s%s%s%s (need exactly one)",
                                nl_prompt_kind_name(kind), str_or_empty(t->name), total, marker[m],
                                l->prefix ? l->tpl_name[0] : "", l->prefix ? " + " : "", l->tpl_name[1],
                                m == M_TEXT_EMB ? (l->suffix == t->suffix_category ? " + suffix_category"
                                                                                    : " + suffix_hashtag")
                                                : "");
    }
    return NL_OK;
}

static nl_status check_utf8(const char *what, const char *s, const nl_note *note)
{
    size_t n = strlen(s);
    if (nl_utf8_check(s, n) != n)
        return nl_error_set(NL_ERR_ARG, "prompt: note %s: %s is not valid UTF-8 (byte %zu)", str_or_empty(note->id),
                            what, nl_utf8_check(s, n));
    return NL_OK;
}

/* Fields cut to k code points in all: title first, then topics, then content
 * (the content is shortened first). */
static void cut_fields(const view full[3], const size_t cps[3], size_t k, fields *f)
{
    view *dst[3] = {&f->title, &f->topics, &f->content};
    for (int i = 0; i < 3; i++) {
        size_t keep = k < cps[i] ? k : cps[i];
        *dst[i] = (view){full[i].p, nl_utf8_prefix(full[i].p, full[i].n, keep)};
        k -= keep;
    }
}

typedef struct build_ctx {
    const nl_prompt_opts *o;
    const nl_prompt_templates *t;
    layout l;
    view full[3];
    size_t cps[3];
    int j;
    const char *target;
    nl_prompt_kind kind;
} build_ctx;

/* Render with k code points of fields and tokenize; r and tk hold the result. */
static nl_status attempt(const build_ctx *c, size_t k, rendered *r, toks *tk, size_t *note_tokens)
{
    fields f = {.j = c->j};
    cut_fields(c->full, c->cps, k, &f);
    render(r, c->t, &c->l, &f, c->target, c->o->eos);
    if (r->s.oom) { free(r->s.p); r->s.p = NULL; return oom("rendering"); }
    nl_status st = nl_tok_encode_offsets(c->o->tok, r->s.p, r->s.n, true, &tk->ids, &tk->bs, &tk->be, &tk->n);
    if (st != NL_OK) { free(r->s.p); r->s.p = NULL; return st; }
    *note_tokens = count_note_tokens(tk, r->note_end);
    return NL_OK;
}

static nl_status marker_token(const nl_prompt_opts *o, nl_prompt_kind kind, const toks *tk, const rendered *r, int m,
                              int64_t *out)
{
    int32_t id = nl_tok_token_to_id(o->tok, marker[m]);
    if (id < 0)
        return nl_error_set(NL_ERR_ARG, "prompt %s: the tokenizer has no token %s; HINT: add it with "
                            "nl_tok_add_tokens (method §3.2: [PAD], <IMG>, <IMG_EMB>, <TEXT_EMB>)",
                            nl_prompt_kind_name(kind), marker[m]);
    *out = find_token(tk, r->pos[m], strlen(marker[m]), id);
    if (*out < 0)
        return nl_error_set(NL_ERR_ARG, "prompt %s: %s at byte %zu is not encoded as its one token (id %d); HINT: "
                            "add it as an added token with nl_tok_add_tokens", nl_prompt_kind_name(kind), marker[m],
                            r->pos[m], (int)id);
    return NL_OK;
}

nl_status nl_prompt_build(const nl_prompt_opts *o, nl_prompt_kind kind, const nl_note *note, nl_rng *rng,
                          nl_sample *out)
{
    if (out) *out = (nl_sample){0};
    if (!o || !o->tok || !note || !out) return nl_error_set(NL_ERR_ARG, "prompt: NULL argument (opts, tokenizer, note or out)");
    if ((unsigned)kind >= NL_PROMPT_KIND_COUNT) return nl_error_set(NL_ERR_ARG, "prompt: unknown kind %d", (int)kind);
    if (o->max_note_tokens <= 0)
        return nl_error_set(NL_ERR_ARG, "prompt %s: max_note_tokens is %d; HINT: use 140 (method §3.3)",
                            nl_prompt_kind_name(kind), o->max_note_tokens);
    build_ctx c = {.o = o, .t = o->tpl ? o->tpl : &preset_zh, .kind = kind};
    c.l = kind_layout(c.t, kind);
    NL_TRY(check_templates(c.t, &c.l, kind));
    const char *title = str_or_empty(note->p_title), *topic = str_or_empty(note->p_topic);
    const char *content = str_or_empty(note->p_content), *category = str_or_empty(note->p_category);
    NL_TRY(check_utf8("p_title", title, note));
    NL_TRY(check_utf8("p_topic", topic, note));
    NL_TRY(check_utf8("p_content", content, note));
    NL_TRY(check_utf8("p_category", category, note));
    for (int m = 0; m < M_COUNT; m++)
        if (c.l.needs[m] && nl_tok_token_to_id(o->tok, marker[m]) < 0)
            return nl_error_set(NL_ERR_ARG, "prompt %s: the tokenizer has no token %s; HINT: add it with "
                                "nl_tok_add_tokens (method §3.2: [PAD], <IMG>, <IMG_EMB>, <TEXT_EMB>)",
                                nl_prompt_kind_name(kind), marker[m]);
    bool train = c.l.train_target;
    if (train && (!o->eos || !*o->eos))
        return nl_error_set(NL_ERR_ARG, "prompt %s: no EOS string; HINT: opts.eos = \"</s>\"", nl_prompt_kind_name(kind));
    int32_t eos_id = train ? nl_tok_token_to_id(o->tok, o->eos) : -1;
    if (train && eos_id < 0)
        return nl_error_set(NL_ERR_ARG, "prompt %s: EOS \"%s\" is not a token of the tokenizer; HINT: set opts.eos to "
                            "the model's EOS token", nl_prompt_kind_name(kind), o->eos);

    /* tags, target and reference */
    view *tags = NULL;
    size_t ntags = 0;
    sb topics = {0}, target = {0}, reference = {0};
    nl_status st = split_on(topic, "，", &tags, &ntags);
    if (st != NL_OK) return st;
    if (kind == NL_PROMPT_HASHTAG) {
        /* j = min(1, #tags) tags chosen uniformly, removed from the input topics (§3.1) */
        c.j = ntags ? 1 : 0;
        size_t pick = ntags ? (size_t)bounded(rng ? rng : nl_rng_global(), ntags) : 0;
        if (ntags) sb_add(&target, tags[pick].p, tags[pick].n);
        for (size_t i = 0, w = 0; i < ntags; i++)
            if (i != pick) {
                if (w++) sb_str(&topics, c.t->tag_sep);
                sb_add(&topics, tags[i].p, tags[i].n);
            }
        sb_str(&target, c.t->target_end);
    } else {
        join(&topics, tags, ntags, c.t->tag_sep);
        if (kind == NL_PROMPT_GEN_HASHTAG) {
            c.j = o->gen_tags;
            join(&reference, tags, ntags, c.t->tag_sep);
            sb_str(&reference, c.t->target_end);
        }
    }
    if (kind == NL_PROMPT_CATEGORY || kind == NL_PROMPT_GEN_CATEGORY) {
        /* training: the two kept levels of p_category ("l1，l2。"); generation:
         * the full raw '@' path without its trailing empty level (§3.10) */
        view *lv = NULL;
        size_t nlv = 0;
        sb src = {0};
        if (kind == NL_PROMPT_GEN_CATEGORY && note->category) {
            st = split_on(note->category, "@", &lv, &nlv);
        } else {
            size_t cl = strlen(category), el = strlen("。");
            sb_add(&src, category, cl >= el && !strcmp(category + cl - el, "。") ? cl - el : cl);
            st = split_on(src.p ? src.p : "", "，", &lv, &nlv);
        }
        sb *dst = kind == NL_PROMPT_CATEGORY ? &target : &reference;
        join(dst, lv, nlv, c.t->tag_sep);
        sb_str(dst, c.t->target_end);
        free(lv);
        free(src.p);
    }
    free(tags);
    if (st == NL_OK && (topics.oom || target.oom || reference.oom)) st = oom("target");
    if (st != NL_OK) {
        free(topics.p);
        free(target.p);
        free(reference.p);
        return st;
    }
    c.target = train ? (target.p ? target.p : "") : NULL;
    if (!c.l.empty_fields) {
        c.full[0] = (view){title, strlen(title)};
        c.full[1] = (view){topics.p ? topics.p : "", topics.n};
        c.full[2] = (view){content, strlen(content)};
    } else
        c.full[0] = c.full[1] = c.full[2] = (view){"", 0};
    size_t total = 0;
    for (int i = 0; i < 3; i++) total += c.cps[i] = nl_utf8_length(c.full[i].p, c.full[i].n);

    /* the largest field budget whose note part fits (binary search; the
     * budget that is finally used was tried and fits) */
    rendered r = {0};
    toks tk = {0};
    size_t nt = 0, max = (size_t)o->max_note_tokens;
    st = attempt(&c, total, &r, &tk, &nt);
    bool truncated = false;
    if (st == NL_OK && nt > max) {
        truncated = true;
        free(r.s.p);
        toks_free(&tk);
        st = attempt(&c, 0, &r, &tk, &nt);
        if (st == NL_OK && nt > max) {
            st = nl_error_set(NL_ERR_ARG, "prompt %s: the note template \"%s\" alone (all fields empty) takes %zu "
                              "tokens, more than max_note_tokens %d; HINT: raise max_note_tokens or shorten the "
                              "template", nl_prompt_kind_name(kind), str_or_empty(c.t->name), nt, o->max_note_tokens);
        }
        size_t lo = 0, hi = total; /* fits(lo), !fits(hi) */
        while (st == NL_OK && hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            rendered r2 = {0};
            toks t2 = {0};
            size_t n2 = 0;
            st = attempt(&c, mid, &r2, &t2, &n2);
            if (st != NL_OK) break;
            if (n2 <= max) {
                lo = mid;
                free(r.s.p);
                toks_free(&tk);
                r = r2, tk = t2, nt = n2;
            } else {
                hi = mid;
                free(r2.s.p);
                toks_free(&t2);
            }
        }
    }
    free(topics.p);
    if (st != NL_OK) {
        free(r.s.p);
        toks_free(&tk);
        free(target.p);
        free(reference.p);
        return st;
    }

    /* positions and labels, all by byte offsets */
    nl_sample s = {.kind = kind, .text = r.s.p, .text_len = r.s.n, .ids = tk.ids, .n = tk.n, .text_readout = -1,
                   .visual_readout = -1, .image_slot = -1, .note_tokens = nt, .truncated = truncated, .j = c.j};
    s.labels = malloc((tk.n ? tk.n : 1) * sizeof *s.labels);
    if (!s.labels) st = oom("labels");
    for (size_t k = 0; st == NL_OK && k < tk.n; k++) s.labels[k] = IGNORE;
    int64_t at;
    if (st == NL_OK && r.count[M_IMG]) {
        st = marker_token(o, kind, &tk, &r, M_IMG, &at);
        s.image_slot = at;
    }
    if (st == NL_OK && c.l.needs[M_IMG_EMB]) {
        st = marker_token(o, kind, &tk, &r, M_IMG_EMB, &at);
        s.visual_readout = at - 1;
    }
    if (st == NL_OK && c.l.needs[M_TEXT_EMB]) {
        st = marker_token(o, kind, &tk, &r, M_TEXT_EMB, &at);
        s.text_readout = at - 1;
    }
    if (st == NL_OK && c.l.open) { /* the last token that ends the text (template tokens after it skipped) */
        for (size_t k = tk.n; k-- > 0 && s.text_readout < 0;)
            if (tk.be[k] == (int64_t)r.s.n && tk.bs[k] < (int64_t)r.s.n) s.text_readout = (int64_t)k;
        if (s.text_readout < 0)
            st = nl_error_set(NL_ERR_ARG, "prompt %s: no token ends the prompt text", nl_prompt_kind_name(kind));
    }
    if (st == NL_OK && s.text_readout < 0)
        st = nl_error_set(NL_ERR_ARG, "prompt %s: the text read-out falls before the first token",
                          nl_prompt_kind_name(kind));
    if (st == NL_OK && train) {
        if (find_token(&tk, r.eos_pos, strlen(o->eos), eos_id) < 0)
            st = nl_error_set(NL_ERR_ARG, "prompt %s: EOS \"%s\" at byte %zu is not encoded as its one token (id %d); "
                              "HINT: the EOS must be an added token", nl_prompt_kind_name(kind), o->eos, r.eos_pos,
                              (int)eos_id);
        /* every token holding a target byte (a token merged across the
         * boundary is supervised rather than losing the target's start) */
        for (size_t k = 0; st == NL_OK && k < tk.n; k++)
            if (tk.be[k] > (int64_t)r.target_start) {
                s.labels[k] = s.ids[k];
                s.n_target++;
            }
        if (st == NL_OK && !(s.target = strdup(c.target))) st = oom("target");
    }
    if (st == NL_OK && reference.p) {
        s.target = reference.p;
        reference.p = NULL;
    }
    free(reference.p);
    free(target.p);
    tk.ids = NULL; /* owned by s */
    toks_free(&tk);
    if (st != NL_OK) {
        nl_sample_free(&s);
        return st;
    }
    *out = s;
    return NL_OK;
}

nl_status nl_prompt_category(const nl_prompt_opts *o, const nl_note *note, nl_sample *out)
{
    return nl_prompt_build(o, NL_PROMPT_CATEGORY, note, NULL, out);
}
nl_status nl_prompt_hashtag(const nl_prompt_opts *o, const nl_note *note, nl_rng *rng, nl_sample *out)
{
    return nl_prompt_build(o, NL_PROMPT_HASHTAG, note, rng, out);
}
nl_status nl_prompt_infer(const nl_prompt_opts *o, const nl_note *note, nl_sample *out)
{
    return nl_prompt_build(o, NL_PROMPT_INFER, note, NULL, out);
}
nl_status nl_prompt_gen_category(const nl_prompt_opts *o, const nl_note *note, nl_sample *out)
{
    return nl_prompt_build(o, NL_PROMPT_GEN_CATEGORY, note, NULL, out);
}
nl_status nl_prompt_gen_hashtag(const nl_prompt_opts *o, const nl_note *note, nl_sample *out)
{
    return nl_prompt_build(o, NL_PROMPT_GEN_HASHTAG, note, NULL, out);
}
nl_status nl_prompt_mm_basic(const nl_prompt_opts *o, const nl_note *note, nl_sample *out)
{
    return nl_prompt_build(o, NL_PROMPT_MM_BASIC, note, NULL, out);
}
nl_status nl_prompt_micl(const nl_prompt_opts *o, const nl_note *note, nl_sample *out)
{
    return nl_prompt_build(o, NL_PROMPT_MICL, note, NULL, out);
}
nl_status nl_prompt_image_only(const nl_prompt_opts *o, const nl_note *note, bool micl, nl_sample *out)
{
    return nl_prompt_build(o, micl ? NL_PROMPT_MICL_IMAGE_ONLY : NL_PROMPT_IMAGE_ONLY, note, NULL, out);
}
nl_status nl_prompt_text_only(const nl_prompt_opts *o, const nl_note *note, nl_sample *out)
{
    return nl_prompt_build(o, NL_PROMPT_TEXT_ONLY, note, NULL, out);
}
nl_status nl_prompt_late_fusion(const nl_prompt_opts *o, const nl_note *note, nl_sample *out)
{
    return nl_prompt_build(o, NL_PROMPT_LATE_FUSION, note, NULL, out);
}

/* ---- batch-level helpers ---------------------------------------------------------------- */

nl_status nl_prompt_hashtag_slots(nl_rng *r, size_t P, double rate, bool *is_hashtag)
{
    if (!is_hashtag && P) return nl_error_set(NL_ERR_ARG, "hashtag slots: NULL output");
    if (!(rate >= 0.0 && rate <= 1.0))
        return nl_error_set(NL_ERR_ARG, "hashtag slots: topic rate %g is outside [0, 1]; HINT: the method uses 0.4",
                            rate);
    size_t h = (size_t)(rate * (double)P); /* Python's int(r * P) */
    if (h > P) h = P;
    if (!r) r = nl_rng_global();
    size_t *perm = malloc((P ? P : 1) * sizeof *perm);
    if (!perm) return oom("hashtag slots");
    for (size_t side = 0; side < 2; side++) {
        /* the first h entries of a partial Fisher–Yates shuffle */
        for (size_t i = 0; i < P; i++) perm[i] = i, is_hashtag[side * P + i] = false;
        for (size_t i = 0; i < h; i++) {
            size_t k = i + (size_t)bounded(r, P - i), tmp = perm[i];
            perm[i] = perm[k];
            perm[k] = tmp;
            is_hashtag[side * P + perm[i]] = true;
        }
    }
    free(perm);
    return NL_OK;
}

nl_status nl_sample_splice_positions(const nl_sample *s, int n_visual, nl_splice_pos *out)
{
    if (!s || !out) return nl_error_set(NL_ERR_ARG, "splice positions: NULL argument");
    if (n_visual < 1)
        return nl_error_set(NL_ERR_ARG, "splice positions: n_visual is %d, need >= 1 (method §4.4 uses 16)", n_visual);
    int64_t shift = s->image_slot >= 0 ? n_visual - 1 : 0;
#define MOVE(p) ((p) < 0 ? (p) : (s->image_slot >= 0 && (p) > s->image_slot ? (p) + shift : (p)))
    *out = (nl_splice_pos){
        .length = (int64_t)s->n + shift,
        .text_readout = MOVE(s->text_readout),
        .visual_readout = MOVE(s->visual_readout),
        .image_start = s->image_slot,
        .image_end = s->image_slot >= 0 ? s->image_slot + n_visual : -1,
    };
#undef MOVE
    return NL_OK;
}
