/* test_prompt.c — prompt strings byte-exact against method §3.1, §3.10, §4.3
 * (written by hand); read-outs, image slot and labels on two tokenizers built
 * here (trained with nl_bpe_train; a hand-written byte-level one with a BOS
 * template); truncation; splicing; the pair loader's determinism, no-repeat
 * rule, deferral, epoch coverage and resume; bad inputs. Runtime + harness. */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "bpe_train.h"
#include "harness.h"
#include "notes.h"
#include "prompt.h"
#include "tokenizer.h"

static char tmp[64];

static const char *in_tmp(const char *name)
{
    static char path[4][512];
    static int k;
    char *p = path[k++ & 3];
    snprintf(p, 512, "%s/%s", tmp, name);
    return p;
}

static void write_text(const char *path, const char *s)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) { h_check(false, "cannot create %s", path); return; }
    fputs(s, fp);
    fclose(fp);
}

/* ---- tokenizers ------------------------------------------------------------------ */

static const char *const extra_tokens[] = {"<IMG>", "<IMG_EMB>", "<TEXT_EMB>"};

/* [PAD] and </s> (special), then <IMG>, <IMG_EMB>, <TEXT_EMB> (method §3.2). */
static bool add_prompt_tokens(nl_tokenizer *t)
{
    const char *pad[] = {"[PAD]"}, *eos[] = {"</s>"};
    return h_ok(nl_tok_add_tokens(t, 1, pad, true, NULL), "add [PAD]") &&
           h_ok(nl_tok_add_tokens(t, 3, extra_tokens, false, NULL), "add <IMG> <IMG_EMB> <TEXT_EMB>") &&
           h_ok(nl_tok_add_tokens(t, 1, eos, true, NULL), "add </s>");
}

/* A byte-level BPE trained on a small corpus of prompt-like text. */
static nl_tokenizer *trained_tokenizer(bool with_prompt_tokens)
{
    static const char *const corpus[] = {
        "笔记：{\"标题\":\"春日穿搭\",\"话题\":\"穿搭，春天\",\"内容\":\"今天的穿搭分享。\"}，压缩为一个词：“",
        "笔记：{\"标题\":\"周末做饭\",\"话题\":\"美食，家常菜\",\"内容\":\"简单好吃的家常菜。\"}，压缩为一个词：“",
        "生成笔记类目：生成笔记1个话题：生成笔记5个话题：",
        "笔记：{\"图片\":\"\"}，压缩为一个词：“”。",
        "Note: {\"title\":\"Spring outfit\",\"topics\":\"fashion, spring\",\"content\":\"my outfit today\"}",
        ", compress into one word: \"\". Generate the note category: Generate 1 topics of the note:",
        "今天的穿搭分享。今天的穿搭分享。简单好吃的家常菜。旅行的意义。",
    };
    size_t n = sizeof corpus / sizeof *corpus, lens[16];
    for (size_t i = 0; i < n; i++) lens[i] = strlen(corpus[i]);
    nl_bpe_train_opts o;
    nl_bpe_train_opts_init(&o);
    o.vocab_size = 420;
    const char *path = in_tmp("trained.json");
    nl_tokenizer *t = NULL;
    if (!h_ok(nl_bpe_train(corpus, lens, n, &o, path), "train a small BPE") || !h_ok(nl_tok_load(&t, path), "load it"))
        return NULL;
    if (with_prompt_tokens && !add_prompt_tokens(t)) { nl_tok_free(t); return NULL; }
    return t;
}

/* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others
 * map to U+0100 upwards in byte order. Writes the JSON-escaped UTF-8 form. */
static void byte_symbol(int b, char *out)
{
    int cp = b, k = 0;
    bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    if (!printable) {
        int rank = 0;
        for (int x = 0; x < b; x++) rank += !((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255));
        cp = 256 + rank;
    }
    if (cp == '"' || cp == '\\') out[k++] = '\\';
    if (cp < 0x80) out[k++] = (char)cp;
    else {
        out[k++] = (char)(0xc0 | cp >> 6);
        out[k++] = (char)(0x80 | (cp & 0x3f));
    }
    out[k] = '\0';
}

/* Pure byte-level (no merges: one token per byte) with a "<s>" BOS template,
 * so CJK characters are three tokens and offsets must widen. */
static nl_tokenizer *bos_tokenizer(void)
{
    size_t cap = 1 << 16, n = 0;
    char *j = malloc(cap);
    n += (size_t)snprintf(j + n, cap - n,
        "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null, \"added_tokens\": [{\"id\": 256, "
        "\"content\": \"<s>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, "
        "\"special\": true}], \"normalizer\": null, \"pre_tokenizer\": {\"type\": \"ByteLevel\", "
        "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}, \"post_processor\": {\"type\": "
        "\"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": "
        "{\"id\": \"A\", \"type_id\": 0}}], \"pair\": [], \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": "
        "[256], \"tokens\": [\"<s>\"]}}}, \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
        "\"trim_offsets\": true, \"use_regex\": true}, \"model\": {\"type\": \"BPE\", \"dropout\": null, "
        "\"unk_token\": null, \"continuing_subword_prefix\": \"\", \"end_of_word_suffix\": \"\", \"fuse_unk\": false, "
        "\"byte_fallback\": false, \"ignore_merges\": false, \"vocab\": {");
    for (int b = 0; b < 256; b++) {
        char sym[8];
        byte_symbol(b, sym);
        n += (size_t)snprintf(j + n, cap - n, "%s\"%s\": %d", b ? ", " : "", sym, b);
    }
    snprintf(j + n, cap - n, "}, \"merges\": []}}");
    const char *path = in_tmp("bos.json");
    write_text(path, j);
    free(j);
    nl_tokenizer *t = NULL;
    if (!h_ok(nl_tok_load(&t, path), "load the byte-level BOS tokenizer")) return NULL;
    if (!add_prompt_tokens(t)) { nl_tok_free(t); return NULL; }
    return t;
}

/* ---- notes ------------------------------------------------------------------------ */

static nl_note spring_note(void)
{
    nl_note n = {0};
    n.id = "n1";
    n.p_title = "春日穿搭";
    n.p_topic = "穿搭，春天，OOTD";
    n.p_content = "今天的穿搭分享。";
    n.p_category = "时尚，穿搭。";
    n.category = "时尚@穿搭@";
    return n;
}

#define NOTE_ZH "笔记：{\"标题\":\"春日穿搭\",\"话题\":\"穿搭，春天，OOTD\",\"内容\":\"今天的穿搭分享。\"}"

static void expect_text(const char *what, const nl_sample *s, const char *want)
{
    h_check(s->text && !strcmp(s->text, want) && s->text_len == strlen(want), "%s: text byte-exact\n  got  %s\n  want %s",
            what, s->text ? s->text : "(null)", want);
}

static nl_status build(const nl_prompt_opts *o, nl_prompt_kind k, const nl_note *n, nl_rng *r, nl_sample *s)
{
    return nl_prompt_build(o, k, n, r, s);
}

/* ---- strings ---------------------------------------------------------------------- */

static void test_strings(nl_tokenizer *tok)
{
    nl_prompt_opts o;
    nl_prompt_opts_init(&o, tok);
    nl_note n = spring_note();
    nl_sample s;
    struct { nl_prompt_kind k; const char *want, *target; } cases[] = {
        {NL_PROMPT_CATEGORY, NOTE_ZH "，压缩为一个词：“<TEXT_EMB>”。生成笔记类目：时尚，穿搭。</s>", "时尚，穿搭。"},
        {NL_PROMPT_INFER, NOTE_ZH "，压缩为一个词：“", NULL},
        {NL_PROMPT_TEXT_ONLY, NOTE_ZH "，压缩为一个词：“", NULL},
        {NL_PROMPT_LATE_FUSION, NOTE_ZH "，压缩为一个词：“", NULL},
        {NL_PROMPT_GEN_CATEGORY, NOTE_ZH "，压缩为一个词：“<TEXT_EMB>”。生成笔记类目：", "时尚，穿搭。"},
        {NL_PROMPT_GEN_HASHTAG, "笔记：{\"标题\":\"春日穿搭\",\"内容\":\"今天的穿搭分享。\"}，压缩为一个词：“<TEXT_EMB>”。"
                                "生成笔记5个话题：", "穿搭，春天，OOTD。"},
        {NL_PROMPT_MM_BASIC, "笔记：{\"图片\":\"<IMG>\",\"标题\":\"春日穿搭\",\"话题\":\"穿搭，春天，OOTD\",\"内容\":"
                             "\"今天的穿搭分享。\"}，压缩为一个词：“", NULL},
        {NL_PROMPT_MICL, "笔记：{\"图片\":\"<IMG>\"}，压缩为一个词：“<IMG_EMB>”。" NOTE_ZH "，压缩为一个词：“", NULL},
        {NL_PROMPT_IMAGE_ONLY, "笔记：{\"图片\":\"<IMG>\",\"标题\":\"\",\"话题\":\"\",\"内容\":\"\"}，压缩为一个词：“", NULL},
        {NL_PROMPT_MICL_IMAGE_ONLY, "笔记：{\"图片\":\"<IMG>\"}，压缩为一个词：“<IMG_EMB>”。笔记：{\"标题\":\"\",\"话题\":\"\","
                                    "\"内容\":\"\"}，压缩为一个词：“", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *kn = nl_prompt_kind_name(cases[i].k);
        if (!h_ok(build(&o, cases[i].k, &n, NULL, &s), kn)) continue;
        expect_text(kn, &s, cases[i].want);
        h_check(cases[i].target ? s.target && !strcmp(s.target, cases[i].target) : s.target == NULL,
                "%s: target/reference \"%s\"", kn, s.target ? s.target : "(none)");
        nl_sample_free(&s);
    }
    /* the named builders are the same prompts */
    if (h_ok(nl_prompt_micl(&o, &n, &s), "nl_prompt_micl")) {
        expect_text("nl_prompt_micl", &s, cases[7].want);
        nl_sample_free(&s);
    }
    if (h_ok(nl_prompt_image_only(&o, &n, false, &s), "nl_prompt_image_only")) {
        expect_text("nl_prompt_image_only", &s, cases[8].want);
        nl_sample_free(&s);
    }
    /* generation: the full category path */
    nl_note deep = n;
    deep.category = "A@B@C@";
    if (h_ok(nl_prompt_gen_category(&o, &deep, &s), "gen category, 3 levels")) {
        h_check(s.target && !strcmp(s.target, "A，B，C。"), "reference keeps the full path: %s", s.target);
        nl_sample_free(&s);
    }
    /* hashtag: one tag drawn, removed from the topics, j = 1 */
    const char *want_hash[3] = {
        "笔记：{\"标题\":\"春日穿搭\",\"话题\":\"春天，OOTD\",\"内容\":\"今天的穿搭分享。\"}，压缩为一个词：“<TEXT_EMB>”。"
        "生成笔记1个话题：穿搭。</s>",
        "笔记：{\"标题\":\"春日穿搭\",\"话题\":\"穿搭，OOTD\",\"内容\":\"今天的穿搭分享。\"}，压缩为一个词：“<TEXT_EMB>”。"
        "生成笔记1个话题：春天。</s>",
        "笔记：{\"标题\":\"春日穿搭\",\"话题\":\"穿搭，春天\",\"内容\":\"今天的穿搭分享。\"}，压缩为一个词：“<TEXT_EMB>”。"
        "生成笔记1个话题：OOTD。</s>",
    };
    const char *tags[3] = {"穿搭。", "春天。", "OOTD。"};
    int seen[3] = {0};
    nl_rng r;
    nl_rng_seed(&r, 11);
    for (int it = 0; it < 60; it++) {
        if (!h_ok(nl_prompt_hashtag(&o, &n, &r, &s), "hashtag prompt")) break;
        int w = -1;
        for (int k = 0; k < 3; k++)
            if (s.target && !strcmp(s.target, tags[k])) w = k;
        if (w < 0 || strcmp(s.text, want_hash[w]) || s.j != 1) {
            h_check(false, "hashtag prompt %d: %s (target %s)", it, s.text, s.target ? s.target : "(none)");
            nl_sample_free(&s);
            break;
        }
        seen[w]++;
        nl_sample_free(&s);
    }
    h_check(seen[0] && seen[1] && seen[2] && seen[0] + seen[1] + seen[2] == 60,
            "hashtag prompts byte-exact, every tag drawn (%d %d %d)", seen[0], seen[1], seen[2]);
    nl_rng r1, r2;
    nl_rng_seed(&r1, 5);
    nl_rng_seed(&r2, 5);
    nl_sample a, b;
    if (h_ok(nl_prompt_hashtag(&o, &n, &r1, &a), "hashtag seed 5") && h_ok(nl_prompt_hashtag(&o, &n, &r2, &b), "again"))
        h_check(!strcmp(a.text, b.text), "same rng state, same hashtag prompt");
    nl_sample_free(&a);
    nl_sample_free(&b);
    nl_note notag = n;
    notag.p_topic = "";
    if (h_ok(nl_prompt_hashtag(&o, &notag, &r, &s), "hashtag prompt without tags")) {
        expect_text("no tags", &s, "笔记：{\"标题\":\"春日穿搭\",\"话题\":\"\",\"内容\":\"今天的穿搭分享。\"}，压缩为一个词："
                    "“<TEXT_EMB>”。生成笔记0个话题：。</s>");
        h_check(s.j == 0 && !strcmp(s.target, "。"), "no tags: j 0, target 。");
        nl_sample_free(&s);
    }
    /* the English rendering */
    o.tpl = nl_prompt_preset("en");
    h_check(o.tpl && !strcmp(o.tpl->name, "en") && nl_prompt_preset("fr") == NULL, "presets zh/en");
    if (h_ok(nl_prompt_category(&o, &n, &s), "en category")) {
        expect_text("en category", &s, "Note: {\"title\":\"春日穿搭\",\"topics\":\"穿搭, 春天, OOTD\",\"content\":"
                    "\"今天的穿搭分享。\"}, compress into one word: \"<TEXT_EMB>\". Generate the note category: 时尚, "
                    "穿搭.</s>");
        nl_sample_free(&s);
    }
    if (h_ok(nl_prompt_micl(&o, &n, &s), "en mICL")) {
        expect_text("en mICL", &s, "Note: {\"image\":\"<IMG>\"}, compress into one word: \"<IMG_EMB>\". Note: {\"title\":"
                    "\"春日穿搭\",\"topics\":\"穿搭, 春天, OOTD\",\"content\":\"今天的穿搭分享。\"}, compress into one "
                    "word: \"");
        nl_sample_free(&s);
    }
    /* field text is never scanned for placeholders */
    o.tpl = NULL;
    nl_note tricky = n;
    tricky.p_title = "{content}<IMG>";
    if (h_ok(nl_prompt_mm_basic(&o, &tricky, &s), "placeholder-like title")) {
        h_check(strstr(s.text, "\"标题\":\"{content}<IMG>\"") != NULL, "a title \"{content}<IMG>\" is inserted as is");
        int32_t img = nl_tok_token_to_id(tok, "<IMG>");
        h_check(s.image_slot >= 0 && s.ids[s.image_slot] == img && s.image_slot < 12,
                "the image slot is the template's <IMG>, not the title's (%lld)", (long long)s.image_slot);
        nl_sample_free(&s);
    }
}

/* ---- tokens, read-outs, labels ------------------------------------------------------ */

static char *decode(const nl_tokenizer *t, const int32_t *ids, size_t n)
{
    char *s = NULL;
    if (nl_tok_decode(t, ids, n, false, &s) != NL_OK) return strdup("(decode failed)");
    return s;
}

static void check_tokens(const char *tname, nl_tokenizer *tok, bool has_bos)
{
    nl_prompt_opts o;
    nl_prompt_opts_init(&o, tok);
    nl_note n = spring_note();
    int32_t text_emb = nl_tok_token_to_id(tok, "<TEXT_EMB>"), img_emb = nl_tok_token_to_id(tok, "<IMG_EMB>");
    int32_t img = nl_tok_token_to_id(tok, "<IMG>"), eos = nl_tok_token_to_id(tok, "</s>");
    char what[160];
    nl_rng r;
    nl_rng_seed(&r, 3);
    for (int k = 0; k < NL_PROMPT_KIND_COUNT; k++) {
        nl_sample s;
        snprintf(what, sizeof what, "%s %s", tname, nl_prompt_kind_name((nl_prompt_kind)k));
        if (!h_ok(build(&o, (nl_prompt_kind)k, &n, &r, &s), what)) continue;
        /* one tokenization of the whole string */
        int32_t *ids = NULL;
        size_t m = 0;
        if (h_ok(nl_tok_encode(tok, s.text, s.text_len, &ids, &m), what))
            h_check(m == s.n && !memcmp(ids, s.ids, m * sizeof *ids), "%s: ids are nl_tok_encode(text)", what);
        free(ids);
        h_check(!has_bos || s.ids[0] == nl_tok_token_to_id(tok, "<s>"), "%s: BOS first", what);
        /* read-outs */
        const char *te = strstr(s.text, "<TEXT_EMB>");
        if (te) {
            h_check(s.text_readout >= 0 && (size_t)s.text_readout + 1 < s.n && s.ids[s.text_readout + 1] == text_emb,
                    "%s: text read-out %lld is the token before <TEXT_EMB>", what, (long long)s.text_readout);
            char *d = decode(tok, s.ids, (size_t)s.text_readout + 1);
            size_t dl = strlen(d), ql = strlen("“");
            h_check(dl >= ql && !strcmp(d + dl - ql, "“"), "%s: text up to the read-out ends with “", what);
            free(d);
        } else {
            h_check(s.text_readout == (int64_t)s.n - 1, "%s: open prompt read-out is the last token (%lld of %zu)",
                    what, (long long)s.text_readout, s.n);
            /* by offsets: the read-out token ends the text and holds the final “ */
            int32_t *oi = NULL;
            int64_t *bs = NULL, *be = NULL;
            size_t on = 0, ql = strlen("“");
            if (h_ok(nl_tok_encode_offsets(tok, s.text, s.text_len, true, &oi, &bs, &be, &on), what))
                h_check(on == s.n && be[s.text_readout] == (int64_t)s.text_len &&
                        bs[s.text_readout] <= (int64_t)(s.text_len - ql) &&
                        !strcmp(s.text + s.text_len - ql, "“"), "%s: the last token holds the final “", what);
            free(oi);
            free(bs);
            free(be);
        }
        if (strstr(s.text, "<IMG_EMB>"))
            h_check(s.visual_readout >= 0 && s.ids[s.visual_readout + 1] == img_emb,
                    "%s: visual read-out is the token before <IMG_EMB>", what);
        else
            h_check(s.visual_readout == -1, "%s: no visual read-out", what);
        if (strstr(s.text, "<IMG>"))
            h_check(s.image_slot >= 0 && s.ids[s.image_slot] == img, "%s: image slot is the <IMG> token", what);
        else
            h_check(s.image_slot == -1, "%s: no image slot", what);
        /* labels: exactly the target tokens, 。 and EOS included */
        size_t first = s.n, nsup = 0;
        for (size_t i = 0; i < s.n; i++)
            if (s.labels[i] != -100) {
                if (first == s.n) first = i;
                nsup++;
                if (s.labels[i] != s.ids[i]) h_check(false, "%s: label %zu is the token id", what, i);
            }
        if (k == NL_PROMPT_CATEGORY || k == NL_PROMPT_HASHTAG) {
            char *d = decode(tok, s.ids + first, nsup);
            char want[128];
            snprintf(want, sizeof want, "%s</s>", s.target);
            h_check(nsup == s.n_target && first + nsup == s.n && !strcmp(d, want) && s.labels[s.n - 1] == eos,
                    "%s: labels cover exactly \"%s\" (got \"%s\", %zu tokens)", what, want, d, nsup);
            free(d);
        } else
            h_check(nsup == 0, "%s: no supervised tokens", what);
        /* splicing 16 visual tokens */
        nl_splice_pos sp;
        if (h_ok(nl_sample_splice_positions(&s, 16, &sp), what)) {
            if (s.image_slot >= 0)
                h_check(sp.length == (int64_t)s.n + 15 && sp.text_readout == s.text_readout + 15 &&
                        sp.image_start == s.image_slot && sp.image_end == s.image_slot + 16 &&
                        sp.visual_readout == (s.visual_readout < 0 ? -1 : s.visual_readout + 15),
                        "%s: after splicing 16 visual tokens everything after the slot moves by 15", what);
            else
                h_check(sp.length == (int64_t)s.n && sp.text_readout == s.text_readout && sp.image_start == -1,
                        "%s: no slot, nothing moves", what);
        }
        nl_sample_free(&s);
    }
}

/* ---- truncation ------------------------------------------------------------------- */

static void test_truncation(nl_tokenizer *tok, int min_budget)
{
    nl_prompt_opts o;
    nl_prompt_opts_init(&o, tok);
    nl_note n = spring_note();
    char content[4096] = "";
    for (int i = 0; i < 60; i++) strcat(content, i % 2 ? "春天来了🌸" : "旅行的意义，");
    n.p_content = content;
    for (int max = min_budget; max <= 140; max += (140 - min_budget) / 2) {
        o.max_note_tokens = max;
        for (int k = NL_PROMPT_CATEGORY; k <= NL_PROMPT_MICL; k++) {
            nl_sample s;
            char what[96];
            snprintf(what, sizeof what, "truncate %s to %d", nl_prompt_kind_name((nl_prompt_kind)k), max);
            if (!h_ok(nl_prompt_build(&o, (nl_prompt_kind)k, &n, NULL, &s), what)) continue;
            const char *suf = k == NL_PROMPT_CATEGORY ? "\"}，压缩为一个词：“<TEXT_EMB>”。生成笔记类目：时尚，穿搭。</s>"
                              : k == NL_PROMPT_HASHTAG ? NULL : k == NL_PROMPT_GEN_CATEGORY || k == NL_PROMPT_GEN_HASHTAG
                              ? "\"}，压缩为一个词：“<TEXT_EMB>”。生成笔记" : "\"}，压缩为一个词：“";
            bool suffix_kept = true;
            if (suf && k != NL_PROMPT_GEN_CATEGORY && k != NL_PROMPT_GEN_HASHTAG)
                suffix_kept = s.text_len >= strlen(suf) && !strcmp(s.text + s.text_len - strlen(suf), suf);
            else if (suf)
                suffix_kept = strstr(s.text, suf) != NULL;
            else
                suffix_kept = strstr(s.text, "\"}，压缩为一个词：“<TEXT_EMB>”。生成笔记1个话题：") != NULL &&
                              strstr(s.text, "。</s>") == s.text + s.text_len - strlen("。</s>");
            /* the kept content is a prefix of the original, cut at a character */
            const char *c0 = strstr(s.text, "\"内容\":\"");
            bool prefix = true;
            if (c0) {
                c0 += strlen("\"内容\":\"");
                const char *c1 = strstr(c0, "\"}");
                prefix = c1 && !strncmp(c0, content, (size_t)(c1 - c0)) &&
                         ((unsigned char)content[c1 - c0] & 0xc0) != 0x80;
            }
            h_check(s.truncated && s.note_tokens <= (size_t)max && s.note_tokens + 6 >= (size_t)max && suffix_kept &&
                    prefix, "%s: %zu note tokens, suffix whole, content cut at a character", what, s.note_tokens);
            nl_sample_free(&s);
        }
    }
    /* short notes are not touched */
    o.max_note_tokens = 140;
    nl_note sn = spring_note();
    nl_sample s;
    if (h_ok(nl_prompt_category(&o, &sn, &s), "short note"))
        h_check(!s.truncated && strstr(s.text, "今天的穿搭分享。") != NULL, "a short note is not truncated");
    nl_sample_free(&s);
    /* a budget below the template alone */
    o.max_note_tokens = 4;
    nl_status st = nl_prompt_category(&o, &n, &s);
    h_expect_error(st, NL_ERR_ARG, "max_note_tokens below the template");
    h_check(strstr(nl_last_error(), "alone") && strstr(nl_last_error(), "max_note_tokens 4"), "message: %s",
            nl_last_error());
    h_check(s.text == NULL && s.ids == NULL, "nothing returned on error");
    o.max_note_tokens = 0;
    h_expect_error(nl_prompt_category(&o, &n, &s), NL_ERR_ARG, "max_note_tokens 0");
}

/* ---- bad input -------------------------------------------------------------------- */

static void test_bad(nl_tokenizer *tok, nl_tokenizer *plain)
{
    nl_prompt_opts o;
    nl_prompt_opts_init(&o, tok);
    nl_note n = spring_note();
    nl_sample s;
    nl_prompt_templates t = *nl_prompt_preset("zh");
    t.name = "no-emb";
    t.suffix_category = "，生成笔记类目：";
    o.tpl = &t;
    h_expect_error(nl_prompt_category(&o, &n, &s), NL_ERR_ARG, "category template without <TEXT_EMB>");
    h_check(strstr(nl_last_error(), "<TEXT_EMB>") && strstr(nl_last_error(), "no-emb"), "message: %s", nl_last_error());
    h_ok(nl_prompt_infer(&o, &n, &s), "the open prompt needs no <TEXT_EMB>");
    nl_sample_free(&s);
    t.suffix_category = "，“<TEXT_EMB>”“<TEXT_EMB>”：";
    h_expect_error(nl_prompt_category(&o, &n, &s), NL_ERR_ARG, "two <TEXT_EMB>");
    t = *nl_prompt_preset("zh");
    t.micl_image = "笔记：{\"图片\":\"<IMG>\"}。";
    h_expect_error(nl_prompt_micl(&o, &n, &s), NL_ERR_ARG, "mICL template without <IMG_EMB>");
    h_check(strstr(nl_last_error(), "<IMG_EMB>") != NULL, "message: %s", nl_last_error());
    t = *nl_prompt_preset("zh");
    t.mm_note = NOTE_ZH;
    h_expect_error(nl_prompt_mm_basic(&o, &n, &s), NL_ERR_ARG, "basic template without <IMG>");
    o.tpl = NULL;
    o.eos = "<nope>";
    h_expect_error(nl_prompt_category(&o, &n, &s), NL_ERR_ARG, "EOS not a token");
    h_check(strstr(nl_last_error(), "<nope>") != NULL, "message: %s", nl_last_error());
    o.eos = "</s>";
    nl_prompt_opts op;
    nl_prompt_opts_init(&op, plain);
    h_ok(nl_prompt_infer(&op, &n, &s), "infer needs no markers and no EOS");
    nl_sample_free(&s);
    h_expect_error(nl_prompt_category(&op, &n, &s), NL_ERR_ARG, "tokenizer without <TEXT_EMB>");
    h_check(strstr(nl_last_error(), "HINT") && strstr(nl_last_error(), "<TEXT_EMB>"), "message: %s", nl_last_error());
    nl_note bad = n;
    bad.p_title = "\xff\xfe";
    h_expect_error(nl_prompt_infer(&o, &bad, &s), NL_ERR_ARG, "invalid UTF-8 title");
    h_expect_error(nl_prompt_build(&o, NL_PROMPT_KIND_COUNT, &n, NULL, &s), NL_ERR_ARG, "unknown kind");
    h_expect_error(nl_prompt_build(NULL, NL_PROMPT_INFER, &n, NULL, &s), NL_ERR_ARG, "NULL opts");
    bool slots[8];
    h_expect_error(nl_prompt_hashtag_slots(NULL, 4, 1.5, slots), NL_ERR_ARG, "topic rate 1.5");
    nl_splice_pos sp;
    if (h_ok(nl_prompt_infer(&o, &n, &s), "infer"))
        h_expect_error(nl_sample_splice_positions(&s, 0, &sp), NL_ERR_ARG, "n_visual 0");
    nl_sample_free(&s);
    /* slots: int(r·P) per side */
    nl_rng r;
    nl_rng_seed(&r, 9);
    bool hs[32];
    if (h_ok(nl_prompt_hashtag_slots(&r, 16, 0.4, hs), "slots P 16")) {
        int a = 0, b = 0;
        for (int i = 0; i < 16; i++) a += hs[i], b += hs[16 + i];
        h_check(a == 6 && b == 6, "int(0.4·16) = 6 hashtag slots per side (%d, %d)", a, b);
    }
}

/* ---- the pair loader -------------------------------------------------------------- */

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static const char *make_dataset(void)
{
    static char dir[600];
    snprintf(dir, sizeof dir, "%s/data", tmp);
    mkdir(dir, 0755);
    static const char *const titles[] = {"春日穿搭", "周末做饭", "旅行的意义", "读书笔记", "健身打卡", "咖啡探店"};
    char notes[8192] = "", pairs[8192] = "", line[512];
    for (int i = 0; i < 12; i++) {
        snprintf(line, sizeof line, "n%d,%s%d,今天分享第%d篇#话题%d[话题]##标签%d[话题]#%s,img%d,类目%d@子类%d@\n", i,
                 titles[i % 6], i, i, i % 4, i % 3, i % 5 ? "" : "很长的内容很长的内容很长的内容很长的内容", i, i % 3,
                 i % 2);
        strcat(notes, line);
    }
    /* 30 pairs, many sharing notes (so some are deferred), one self-pair */
    for (int i = 0; i < 30; i++) {
        int a = (i * 7) % 12, b = (i * 5 + 1) % 12;
        if (a == b) b = (b + 1) % 12;
        snprintf(line, sizeof line, "n%d,n%d\n", a, b);
        strcat(pairs, line);
    }
    strcat(pairs, "n3,n3\n");
    /* a star: every pair shares n0, so each batch holds one of them */
    write_text(in_tmp("data/note_pairs_star.csv"), "n0,n1\nn0,n2\nn0,n3\nn0,n4\nn0,n5\nn6,n7\nn8,n9\n");
    write_text(in_tmp("data/notes_train.csv"), notes);
    write_text(in_tmp("data/note_pairs_train.csv"), pairs);
    return dir;
}

static bool same_batch(const nl_pair_batch *a, const nl_pair_batch *b)
{
    return a->rows == b->rows && a->T == b->T && a->epoch == b->epoch && a->batch == b->batch &&
           !memcmp(a->ids, b->ids, a->rows * a->T * sizeof *a->ids) &&
           !memcmp(a->labels, b->labels, a->rows * a->T * sizeof *a->labels) &&
           !memcmp(a->pair_index, b->pair_index, a->n_pairs * sizeof *a->pair_index) &&
           !memcmp(a->is_hashtag, b->is_hashtag, a->rows);
}

static void test_loader(nl_tokenizer *tok)
{
    const char *dir = make_dataset();
    nl_notes *ds = NULL;
    if (!h_ok(nl_notes_load(&ds, dir, NULL), "load the test dataset")) return;
    size_t npairs = 0;
    const nl_note_pair *pairs = nl_notes_pairs(ds, "train", &npairs);
    h_check(npairs == 31, "31 pairs loaded (%zu)", npairs);
    nl_pair_loader_opts o;
    nl_pair_loader_opts_init(&o, tok);
    o.pairs_per_batch = 4;
    o.seed = 7;
    o.topic_rate = 0.5;
    nl_pair_loader *a = NULL, *b = NULL;
    if (!h_ok(nl_pair_loader_new(&a, ds, &o), "loader a") || !h_ok(nl_pair_loader_new(&b, ds, &o), "loader b")) goto out;
    h_check(nl_pair_loader_pairs(a) == 30 && nl_pair_loader_self_pairs(a) == 1, "30 usable pairs, 1 self-pair left out");
    int32_t pad = nl_tok_token_to_id(tok, "[PAD]");
    /* two epochs: determinism, no repeat, every pair once, layout */
    for (int ep = 0; ep < 2; ep++) {
        size_t nb = 0;
        h_ok(nl_pair_loader_epoch_batches(a, &nb), "epoch batches");
        int used[64] = {0};
        bool same = true, norepeat = true, layout = true, padding = true, slots = true;
        for (size_t k = 0; k < nb; k++) {
            nl_pair_batch x, y;
            if (!h_ok(nl_pair_loader_next(a, &x), "next a")) break;
            if (!h_ok(nl_pair_loader_next(b, &y), "next b")) { nl_pair_batch_free(&x); break; }
            same = same && same_batch(&x, &y);
            size_t p = x.n_pairs;
            layout = layout && x.rows == 2 * p && p >= 1 && p <= 4 && x.epoch == (uint64_t)ep && x.batch == k;
            for (size_t i = 0; i < x.rows; i++)
                for (size_t j = i + 1; j < x.rows; j++) norepeat = norepeat && x.note_index[i] != x.note_index[j];
            int hash0 = 0, hash1 = 0;
            for (size_t i = 0; i < p; i++) {
                used[x.pair_index[i]]++;
                layout = layout && x.note_index[i] == pairs[x.pair_index[i]].a &&
                         x.note_index[p + i] == pairs[x.pair_index[i]].b;
                hash0 += x.is_hashtag[i], hash1 += x.is_hashtag[p + i];
            }
            slots = slots && hash0 == (int)(0.5 * (double)p) && hash1 == (int)(0.5 * (double)p);
            for (size_t i = 0; i < x.rows; i++) {
                size_t sup = 0;
                for (size_t t = 0; t < x.T; t++) {
                    bool real = t < (size_t)x.lengths[i];
                    padding = padding && x.attn[i * x.T + t] == real && (real || (x.ids[i * x.T + t] == pad &&
                                                                                   x.labels[i * x.T + t] == -100));
                    sup += x.labels[i * x.T + t] != -100;
                }
                padding = padding && sup > 0 && x.text_readout[i] > 0 && x.text_readout[i] < x.lengths[i] &&
                          x.ids[i * x.T + x.text_readout[i] + 1] == nl_tok_token_to_id(tok, "<TEXT_EMB>");
            }
            nl_pair_batch_free(&x);
            nl_pair_batch_free(&y);
        }
        bool once = true;
        for (size_t i = 0; i < npairs; i++) once = once && used[i] == (pairs[i].a == pairs[i].b ? 0 : 1);
        h_check(same, "epoch %d: same seed, same batches", ep);
        h_check(norepeat, "epoch %d: no note twice in a batch", ep);
        h_check(once, "epoch %d: every pair exactly once (%zu batches)", ep, nb);
        h_check(layout, "epoch %d: [first notes; second notes] layout", ep);
        h_check(slots, "epoch %d: int(0.5·p) hashtag rows per side", ep);
        h_check(padding, "epoch %d: right padding, mask, labels, read-outs", ep);
    }
    /* resume: save after 3 batches, restore into a fresh loader */
    {
        nl_pair_loader *c = NULL, *d = NULL;
        nl_pair_batch x;
        if (h_ok(nl_pair_loader_new(&c, ds, &o), "loader c") && h_ok(nl_pair_loader_new(&d, ds, &o), "loader d")) {
            for (int k = 0; k < 3; k++)
                if (h_ok(nl_pair_loader_next(c, &x), "advance c")) nl_pair_batch_free(&x);
            nl_pair_loader_state st, st2;
            uint8_t bytes[NL_PAIR_LOADER_STATE_BYTES];
            nl_pair_loader_get_state(c, &st);
            nl_pair_loader_state_pack(&st, bytes);
            if (h_ok(nl_pair_loader_state_unpack(bytes, &st2), "unpack") && h_ok(nl_pair_loader_set_state(d, &st2), "restore")) {
                bool same = true;
                for (int k = 0; k < 12 && same; k++) { /* crosses into the next epoch */
                    nl_pair_batch y;
                    if (!h_ok(nl_pair_loader_next(c, &x), "c")) break;
                    if (h_ok(nl_pair_loader_next(d, &y), "d")) same = same_batch(&x, &y);
                    nl_pair_batch_free(&x);
                    nl_pair_batch_free(&y);
                }
                h_check(same, "resume from a saved state gives the same following batches");
            }
            bytes[0] = 'X';
            h_expect_error(nl_pair_loader_state_unpack(bytes, &st2), NL_ERR_FORMAT, "bad state magic");
            st.seed = 8;
            h_expect_error(nl_pair_loader_set_state(d, &st), NL_ERR_ARG, "state from another seed");
        }
        nl_pair_loader_free(c);
        nl_pair_loader_free(d);
    }
    /* another seed gives another order; bucketing keeps every pair once */
    {
        nl_pair_loader *e = NULL;
        nl_pair_loader_opts o2 = o;
        o2.seed = 8;
        o2.bucket_batches = 2;
        o2.kind = NL_PROMPT_MICL;
        if (h_ok(nl_pair_loader_new(&e, ds, &o2), "loader e")) {
            size_t nb = 0;
            int used[64] = {0};
            bool img = true;
            h_ok(nl_pair_loader_epoch_batches(e, &nb), "epoch batches e");
            for (size_t k = 0; k < nb; k++) {
                nl_pair_batch x;
                if (!h_ok(nl_pair_loader_next(e, &x), "next e")) break;
                for (size_t i = 0; i < x.n_pairs; i++) used[x.pair_index[i]]++;
                for (size_t i = 0; i < x.rows; i++)
                    img = img && x.image_slot[i] >= 0 && x.visual_readout[i] > x.image_slot[i] &&
                          x.text_readout[i] == x.lengths[i] - 1 && !x.is_hashtag[i];
                nl_pair_batch_free(&x);
            }
            bool once = true;
            for (size_t i = 0; i < npairs; i++) once = once && used[i] == (pairs[i].a == pairs[i].b ? 0 : 1);
            h_check(once, "bucketed mICL loader: every pair exactly once");
            h_check(img, "mICL rows: image slot, visual read-out, last-token read-out");
        }
        nl_pair_loader_free(e);
    }
    /* deferral: pairs sharing a note wait for a later batch, none is dropped */
    {
        nl_pair_loader *g = NULL;
        nl_pair_loader_opts o4 = o;
        o4.list = "star";
        o4.pairs_per_batch = 3;
        size_t nstar = 0;
        const nl_note_pair *star = nl_notes_pairs(ds, "star", &nstar);
        if (h_ok(nl_pair_loader_new(&g, ds, &o4), "star loader")) {
            for (int ep = 0; ep < 3; ep++) {
                size_t nb = 0;
                int used[16] = {0};
                bool norepeat = true;
                h_ok(nl_pair_loader_epoch_batches(g, &nb), "star batches");
                for (size_t k = 0; k < nb; k++) {
                    nl_pair_batch x;
                    if (!h_ok(nl_pair_loader_next(g, &x), "star next")) break;
                    int hub = 0;
                    for (size_t i = 0; i < x.n_pairs; i++) used[x.pair_index[i]]++, hub += star[x.pair_index[i]].a == 0;
                    norepeat = norepeat && hub <= 1;
                    for (size_t i = 0; i < x.rows; i++)
                        for (size_t j = i + 1; j < x.rows; j++) norepeat = norepeat && x.note_index[i] != x.note_index[j];
                    nl_pair_batch_free(&x);
                }
                bool once = nstar == 7;
                for (size_t i = 0; i < nstar; i++) once = once && used[i] == 1;
                h_check(nb == 5 && norepeat && once, "star epoch %d: 5 batches (7 pairs, P 3, 5 share a note), no "
                        "repeat, every pair once (%zu batches)", ep, nb);
            }
        }
        nl_pair_loader_free(g);
    }
    /* bad options */
    {
        nl_pair_loader *f = NULL;
        nl_pair_loader_opts o3 = o;
        o3.list = "nope";
        h_expect_error(nl_pair_loader_new(&f, ds, &o3), NL_ERR_ARG, "unknown pair list");
        h_check(strstr(nl_last_error(), "\"nope\"") != NULL, "message: %s", nl_last_error());
        o3 = o;
        o3.pairs_per_batch = 0;
        h_expect_error(nl_pair_loader_new(&f, ds, &o3), NL_ERR_ARG, "P = 0");
        o3 = o;
        o3.topic_rate = -0.1;
        h_expect_error(nl_pair_loader_new(&f, ds, &o3), NL_ERR_ARG, "negative topic rate");
        o3 = o;
        o3.prompt.max_note_tokens = 3;
        if (h_ok(nl_pair_loader_new(&f, ds, &o3), "loader with a tiny note budget")) {
            nl_pair_batch x;
            nl_pair_loader_state s0, s1;
            nl_pair_loader_get_state(f, &s0);
            h_expect_error(nl_pair_loader_next(f, &x), NL_ERR_ARG, "a batch whose prompts cannot fit");
            nl_pair_loader_get_state(f, &s1);
            h_check(strstr(nl_last_error(), "pair loader: epoch 0 batch 0") && !memcmp(&s0, &s1, sizeof s0),
                    "the error names the batch and the state did not move: %s", nl_last_error());
        }
        nl_pair_loader_free(f);
    }
out:
    nl_pair_loader_free(a);
    nl_pair_loader_free(b);
    nl_notes_free(ds);
}

int main(void)
{
    h_init("prompt");
    snprintf(tmp, sizeof tmp, "/tmp/nl_prompt_XXXXXX");
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 1; }
    nl_tokenizer *trained = trained_tokenizer(true), *plain = trained_tokenizer(false), *bos = bos_tokenizer();
    if (trained && plain && bos) {
        test_strings(trained);
        check_tokens("trained BPE", trained, false);
        check_tokens("byte-level + BOS", bos, true);
        test_truncation(trained, 40);
        test_truncation(bos, 120);
        test_bad(trained, plain);
        test_loader(trained);
    }
    nl_tok_free(trained);
    nl_tok_free(plain);
    nl_tok_free(bos);
    nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return h_finish();
}
