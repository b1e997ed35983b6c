/* test_bpe_train.c — the byte-level BPE trainer: train on a generated corpus
 * (English, CJK, emoji, digits, whitespace), load the file with nl_tok_load,
 * and check the vocab layout, the merge order, exact round trips, frequent
 * words as single tokens, determinism, special tokens, training from files,
 * and the bad options/inputs. Files live in a temp dir. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "harness.h"
#include "io/bpe_train.h"
#include "io/tokenizer.h"

static char dir[64];

static const char *path_in(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%.63s/%.180s", dir, name);
    return buf[k];
}

/* ---- a deterministic generated corpus ----------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = 2 * (b->n + n + 1);
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}
static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

static const char *const english[] = {
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not",
    "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were",
    "their", "one", "all", "we", "can", "her", "has", "there", "been", "model", "token", "tensor", "gradient",
    "notebook", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "training", "language", "weights",
};
static const char *const cjk[] = {"你好", "世界", "我们", "中国", "学习", "机器", "模型", "今天天气很好", "日本語",
                                  "こんにちは", "한국어"};
static const char *const emoji[] = {"🙂", "👍🏽", "👨‍👩‍👧", "🎉", "🚀🚀", "❤️"};
static const char *const syllables[] = {"ka", "ri", "to", "men", "sa", "lo", "vi", "nu", "pe", "dra", "shi",
                                        "qua", "el", "on", "ur", "ix", "bel", "tor", "ph", "ght"};
#define N_PSEUDO 3000
static char pseudo[N_PSEUDO][24]; /* made-up words, so the corpus has many distinct pairs */
static const char *const spaces[] = {" ", " ", " ", " ", "  ", "\t", "\n", "\n\n", "    ", " \n"};

/* One document: sentences of Zipf-skewed words with numbers, CJK, emoji. */
static void document(buf *b)
{
    int sentences = 3 + (int)(rnd() % 6);
    for (int s = 0; s < sentences; s++) {
        int words = 4 + (int)(rnd() % 12);
        for (int w = 0; w < words; w++) {
            uint64_t r = rnd();
            size_t ne = sizeof english / sizeof *english;
            size_t k = (size_t)((r % ne) * ((r >> 20) % ne) / ne); /* skewed toward the first words */
            char num[32];
            switch ((r >> 40) % 16) {
            case 0: snprintf(num, sizeof num, "%llu", (unsigned long long)(rnd() % 100000)); puts_(b, num); break;
            case 1: puts_(b, cjk[(r >> 50) % (sizeof cjk / sizeof *cjk)]); break;
            case 2: puts_(b, "你好"); break;
            case 3: puts_(b, emoji[(r >> 50) % (sizeof emoji / sizeof *emoji)]); break;
            case 4: case 5: case 6: puts_(b, pseudo[(r % N_PSEUDO) * ((r >> 20) % N_PSEUDO) / N_PSEUDO]); break;
            default:
                if (w == 0) { /* capitalized */
                    char cap[32];
                    snprintf(cap, sizeof cap, "%s", english[k]);
                    cap[0] = (char)(cap[0] - 'a' + 'A');
                    puts_(b, cap);
                } else
                    puts_(b, english[k]);
            }
            puts_(b, w + 1 < words ? spaces[(r >> 56) % (sizeof spaces / sizeof *spaces)] : "");
        }
        puts_(b, (rnd() & 3) == 0 ? "!\n" : (rnd() & 1) ? ", " : ". ");
    }
}

static buf corpus(size_t bytes)
{
    for (int i = 0; i < N_PSEUDO; i++) {
        int n = 1 + (int)(rnd() % 4);
        pseudo[i][0] = '\0';
        for (int k = 0; k < n; k++) strcat(pseudo[i], syllables[rnd() % (sizeof syllables / sizeof *syllables)]);
    }
    buf b = {0};
    while (b.n < bytes) {
        document(&b);
        puts_(&b, "<|endoftext|>");
    }
    return b;
}

/* ---- helpers -------------------------------------------------------------------- */

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    buf b = {0};
    char tmp[65536];
    size_t r;
    while ((r = fread(tmp, 1, sizeof tmp, f)) > 0) put(&b, tmp, r);
    fclose(f);
    *n = b.n;
    return b.p ? b.p : calloc(1, 1);
}

static void write_file(const char *path, const char *s, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(s, 1, n, f) != n || fclose(f)) { perror(path); exit(1); }
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* GPT-2's byte alphabet, inverted: code point -> byte (-1 elsewhere). */
static int byte_of_cp[324];
static void init_alphabet(void)
{
    int extra = 0;
    for (int i = 0; i < 324; i++) byte_of_cp[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
        byte_of_cp[printable ? b : 256 + extra++] = b;
    }
}

/* Bytes spelled by ids through the token strings (exact, unlike decode, which
 * turns ill-formed UTF-8 into U+FFFD). Specials spell their content. */
static bool spell(const nl_tokenizer *t, const int32_t *ids, size_t n, buf *out)
{
    for (size_t i = 0; i < n; i++) {
        const char *s = nl_tok_id_to_token(t, ids[i]);
        if (!s) return false;
        if (ids[i] == 0) { puts_(out, s); continue; } /* <|endoftext|>, the only special here */
        const uint8_t *u = (const uint8_t *)s;
        while (*u) {
            unsigned cp;
            int l = u[0] < 0x80 ? 1 : (u[0] & 0xe0) == 0xc0 ? 2 : 0;
            if (!l) return false;
            cp = l == 1 ? u[0] : ((unsigned)(u[0] & 0x1f) << 6 | (u[1] & 0x3f));
            if (cp >= 324 || byte_of_cp[cp] < 0) return false;
            char c = (char)byte_of_cp[cp];
            put(out, &c, 1);
            u += l;
        }
    }
    return true;
}

static void round_trip(const nl_tokenizer *t, const char *what, const char *s, size_t n, bool valid_utf8)
{
    int32_t *ids = NULL;
    size_t nids = 0;
    if (!h_ok(nl_tok_encode(t, s, n, &ids, &nids), what)) return;
    buf sp = {0};
    bool spelled = spell(t, ids, nids, &sp);
    h_check(spelled && sp.n == n && (!n || !memcmp(sp.p, s, n)), "%s: %zu bytes -> %zu ids spell the input exactly",
            what, n, nids);
    if (valid_utf8) {
        char *back = NULL;
        if (h_ok(nl_tok_decode(t, ids, nids, false, &back), what))
            h_check(strlen(back) == n && !memcmp(back, s, n), "%s: decode(encode(x)) == x", what);
        free(back);
    }
    free(sp.p);
    free(ids);
}

static size_t n_ids(const nl_tokenizer *t, const char *s)
{
    int32_t *ids = NULL;
    size_t n = 0;
    if (nl_tok_encode(t, s, strlen(s), &ids, &n) != NL_OK) return 0;
    free(ids);
    return n;
}

/* ---- the cases ------------------------------------------------------------------ */

static buf text;

static nl_status train(const nl_bpe_train_opts *o, const char *out)
{
    const char *texts[] = {text.p};
    size_t lens[] = {text.n};
    return nl_bpe_train(texts, lens, 1, o, out);
}

/* The file's layout: specials, the 256 byte symbols in byte order, merges whose
 * parts are bytes or results of earlier merges. */
static void check_json(const char *path, int ns, int32_t want_vocab)
{
    size_t n;
    char *s = slurp(path, &n);
    cJSON *root = s ? cJSON_Parse(s) : NULL;
    free(s);
    if (!h_check(root != NULL, "%s parses as JSON", path)) return;
    cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    int nv = cJSON_GetArraySize(vocab), nm = cJSON_GetArraySize(merges);
    h_check(nv <= want_vocab && nv > 256 + ns, "vocab has %d entries (asked %d)", nv, (int)want_vocab);
    bool ids_in_order = true;
    int k = 0;
    for (cJSON *e = vocab ? vocab->child : NULL; e; e = e->next, k++) ids_in_order &= e->valueint == k;
    h_check(ids_in_order, "vocab ids are 0..%d in file order", nv - 1);
    /* byte b is the vocab entry at ns + b */
    bool bytes_ok = true;
    k = 0;
    for (cJSON *e = vocab ? vocab->child : NULL; e; e = e->next, k++) {
        if (k < ns || k >= ns + 256) continue;
        const uint8_t *u = (const uint8_t *)e->string;
        unsigned cp = u[0] < 0x80 ? u[0] : ((unsigned)(u[0] & 0x1f) << 6 | (u[1] & 0x3f));
        bytes_ok &= cp < 324 && byte_of_cp[cp] == k - ns;
    }
    h_check(bytes_ok, "ids %d..%d are the byte symbols in byte order", ns, ns + 255);
    /* every part of merge m is a byte symbol or the result of a merge < m */
    char **made = calloc((size_t)nm + 1, sizeof *made);
    bool parts_ok = true, result_ok = true;
    int m = 0, bad = -1;
    for (cJSON *e = merges ? merges->child : NULL; e && made; e = e->next, m++) {
        const char *str = cJSON_IsString(e) ? e->valuestring : "";
        const char *sp = strchr(str, ' ');
        if (!sp || strchr(sp + 1, ' ')) { parts_ok = false; bad = m; break; }
        char *a = strndup(str, (size_t)(sp - str)), *b = strdup(sp + 1);
        for (int side = 0; side < 2; side++) {
            const char *part = side ? b : a;
            cJSON *id = cJSON_GetObjectItemCaseSensitive(vocab, part);
            bool ok = cJSON_IsNumber(id) && id->valueint >= ns && id->valueint < ns + 256;
            for (int j = 0; j < m && !ok; j++) ok = !strcmp(made[j], part);
            if (!ok && bad < 0) bad = m;
            parts_ok &= ok;
        }
        size_t la = strlen(a);
        made[m] = malloc(la + strlen(b) + 1);
        memcpy(made[m], a, la);
        strcpy(made[m] + la, b);
        cJSON *id = cJSON_GetObjectItemCaseSensitive(vocab, made[m]);
        result_ok &= cJSON_IsNumber(id) && id->valueint >= ns + 256;
        free(a);
        free(b);
    }
    h_check(parts_ok, "every merge's parts are byte symbols or earlier merges (%d merges%s)", nm,
            bad >= 0 ? ", first bad one reported" : "");
    if (bad >= 0) printf("     first bad merge: %d\n", bad);
    h_check(result_ok, "every merge's result is a vocab token after the byte symbols");
    for (int j = 0; j < m; j++) free(made[j]);
    free(made);
    cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    h_check(cJSON_GetArraySize(added) == ns, "added_tokens has the %d specials", ns);
    cJSON_Delete(root);
}

static void test_train_load(void)
{
    nl_bpe_train_opts o;
    nl_bpe_train_opts_init(&o);
    o.vocab_size = 1000;
    const char *out = path_in("tok.json");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!h_ok(train(&o, out), "train 1000")) return;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("     trained vocab 1000 on %zu bytes in %.3f s\n", text.n,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    check_json(out, 1, 1000);
    nl_tokenizer *t = NULL;
    if (!h_ok(nl_tok_load(&t, out), "load the trained tokenizer")) return;
    h_check(nl_tok_vocab_size(t) == 1000, "vocab size %d == 1000", (int)nl_tok_vocab_size(t));
    h_check(nl_tok_token_to_id(t, "<|endoftext|>") == 0, "<|endoftext|> is id 0");

    round_trip(t, "ascii", "The quick brown fox jumps over the lazy dog, 12345 times!", 57, true);
    const char *cjk_s = "你好，世界！今天天气很好。日本語とこんにちは、한국어";
    round_trip(t, "cjk", cjk_s, strlen(cjk_s), true);
    const char *emo = "emoji 🙂👍🏽 family 👨‍👩‍👧 🎉🚀 ❤️ 🦀 unseen 🧬";
    round_trip(t, "emoji", emo, strlen(emo), true);
    const char *ws = "  a  b\n\n\n  c\t\t d \r\n   \n      end   ";
    round_trip(t, "whitespace runs", ws, strlen(ws), true);
    round_trip(t, "digits", "3.14159 2718281828 0 007", 24, true);
    round_trip(t, "empty", "", 0, true);
    round_trip(t, "with specials", "a<|endoftext|>b <|endoftext|><|endoftext|> c", 43, true);
    /* random bytes: all 256 values, ill-formed UTF-8 and NUL included */
    char rb[4096];
    for (int rep = 0; rep < 8; rep++) {
        for (size_t i = 0; i < sizeof rb; i++) rb[i] = (char)(rnd() & 0xff);
        char what[32];
        snprintf(what, sizeof what, "random bytes #%d", rep);
        round_trip(t, what, rb, sizeof rb, false);
    }
    const char bad_utf8[] = "ok \xff\xfe \xc3 half \xe4\xbd tail \xed\xa0\x80 surrogate \xf4\x90\x80\x80";
    round_trip(t, "ill-formed utf-8", bad_utf8, sizeof bad_utf8 - 1, false);
    round_trip(t, "the whole corpus", text.p, text.n, true);

    /* frequent words are single tokens */
    h_check(n_ids(t, " the") == 1 && nl_tok_token_to_id(t, "Ġthe") >= 0, "\" the\" is one token (Ġthe)");
    h_check(n_ids(t, "the") == 1, "\"the\" is one token");
    h_check(n_ids(t, " and") == 1, "\" and\" is one token");
    h_check(n_ids(t, " 你好") == 1, "\" 你好\" is one token");
    h_check(n_ids(t, "12345") == 5, "digits stay one per token with the Qwen2 pattern (12345 -> 5 ids)");
    h_check(n_ids(t, "<|endoftext|>") == 1, "<|endoftext|> encodes as one id");

    /* NoteLLM's own tokens come later through add_tokens */
    const char *mine[] = {"[PAD]", "<IMG>", "<IMG_EMB>", "<TEXT_EMB>"};
    int32_t ids[4];
    if (h_ok(nl_tok_add_tokens(t, 4, mine, true, ids), "add NoteLLM's tokens"))
        h_check(ids[0] == 1000 && ids[1] == 1001 && ids[2] == 1002 && ids[3] == 1003,
                "added tokens get ids 1000..1003 (got %d %d %d %d)", ids[0], ids[1], ids[2], ids[3]);
    int32_t *e = NULL;
    size_t ne = 0;
    if (h_ok(nl_tok_encode(t, "<IMG>x<TEXT_EMB>", 16, &e, &ne), "encode added tokens"))
        h_check(ne >= 3 && e[0] == 1001 && e[ne - 1] == 1003, "added tokens encode to their ids");
    free(e);
    nl_tok_free(t);
}

static void test_specials(void)
{
    nl_bpe_train_opts o;
    nl_bpe_train_opts_init(&o);
    o.vocab_size = 600;
    const char *sp[] = {"<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start|>"}; /* duplicates dropped */
    o.special_tokens = sp;
    o.n_special_tokens = 4;
    const char *out = path_in("special.json");
    if (!h_ok(train(&o, out), "train with specials")) return;
    check_json(out, 3, 600);
    nl_tokenizer *t = NULL;
    if (!h_ok(nl_tok_load(&t, out), "load with specials")) return;
    h_check(nl_tok_vocab_size(t) == 600, "vocab size %d == 600", (int)nl_tok_vocab_size(t));
    int32_t *ids = NULL;
    size_t n = 0;
    const char *s = "<|im_start|>user hi<|im_end|><|endoftext|>";
    if (h_ok(nl_tok_encode(t, s, strlen(s), &ids, &n), "encode specials"))
        h_check(n >= 4 && ids[0] == 1 && ids[n - 2] == 2 && ids[n - 1] == 0,
                "specials encode to their ids (<|im_start|> 1, <|im_end|> 2, <|endoftext|> 0)");
    char *back = NULL;
    if (ids && h_ok(nl_tok_decode(t, ids, n, true, &back), "decode skipping specials"))
        h_check(!strcmp(back, "user hi"), "skip_special drops them: \"%s\"", back);
    free(back);
    free(ids);
    nl_tok_free(t);
}

static void test_determinism_and_files(void)
{
    nl_bpe_train_opts o;
    nl_bpe_train_opts_init(&o);
    o.vocab_size = 800;
    const char *a = path_in("det_a.json"), *b = path_in("det_b.json"), *c = path_in("det_files.json");
    if (!h_ok(train(&o, a), "train #1") || !h_ok(train(&o, b), "train #2")) return;
    size_t na, nb, nc;
    char *sa = slurp(a, &na), *sb = slurp(b, &nb);
    h_check(sa && sb && na == nb && !memcmp(sa, sb, na), "training twice gives byte-identical files (%zu bytes)", na);
    /* the same corpus from two files (split at a document boundary) */
    const char *cut = strstr(text.p + text.n / 2, "<|endoftext|>");
    size_t half = cut ? (size_t)(cut - text.p) : text.n / 2;
    write_file(path_in("part1.txt"), text.p, half);
    write_file(path_in("part2.txt"), text.p + half, text.n - half);
    const char *paths[] = {path_in("part1.txt"), path_in("part2.txt")};
    if (h_ok(nl_bpe_train_files(paths, 2, &o, c), "train from files")) {
        char *sc = slurp(c, &nc);
        h_check(sc && nc == na && !memcmp(sa, sc, na), "training from the files gives the same file");
        free(sc);
    }
    free(sa);
    free(sb);
}

static void test_small_corpora(void)
{
    /* merges run out before the requested size */
    const char *tiny[] = {"ab ab ab abc abc", "ab xyz"};
    size_t lens[] = {strlen(tiny[0]), strlen(tiny[1])};
    const char *out = path_in("tiny.json");
    nl_bpe_train_opts o;
    nl_bpe_train_opts_init(&o);
    if (h_ok(nl_bpe_train(tiny, lens, 2, &o, out), "train on a tiny corpus")) {
        nl_tokenizer *t = NULL;
        if (h_ok(nl_tok_load(&t, out), "load tiny")) {
            int32_t v = nl_tok_vocab_size(t);
            printf("     tiny corpus: vocab %d of the 4096 asked (no pair reaches min_frequency 2)\n", (int)v);
            h_check(v > 257 && v < 4096, "tiny corpus stops early (vocab %d)", (int)v);
            h_check(n_ids(t, " ab") == 1 && n_ids(t, " abc") == 1, "\" ab\" and \" abc\" are single tokens");
            h_check(n_ids(t, " xyz") == 4, "\" xyz\" (seen once) stays 4 bytes");
            round_trip(t, "tiny: unseen text", "zebra 🦓 ✓", strlen("zebra 🦓 ✓"), true);
            nl_tok_free(t);
        }
    }
    /* min_frequency above every count: the byte alphabet only */
    o.min_frequency = 1000000;
    if (h_ok(nl_bpe_train(tiny, lens, 2, &o, out), "train with a huge min_frequency")) {
        nl_tokenizer *t = NULL;
        if (h_ok(nl_tok_load(&t, out), "load bytes-only")) {
            h_check(nl_tok_vocab_size(t) == 257, "bytes-only vocab is 257 (got %d)", (int)nl_tok_vocab_size(t));
            round_trip(t, "bytes-only", "héllo 世界", strlen("héllo 世界"), true);
            nl_tok_free(t);
        }
    }
    /* a pattern of one character per word: no merge crosses characters */
    nl_bpe_train_opts_init(&o);
    o.pattern = ".";
    o.vocab_size = 400;
    const char *cjk_only[] = {"你你你你 好好好好好"};
    size_t l1[] = {strlen(cjk_only[0])};
    if (h_ok(nl_bpe_train(cjk_only, l1, 1, &o, out), "train with pattern \".\"")) {
        nl_tokenizer *t = NULL;
        if (h_ok(nl_tok_load(&t, out), "load pattern \".\"")) {
            h_check(n_ids(t, "你好") == 2 && n_ids(t, "你") == 1, "with /./ each character is one token");
            nl_tok_free(t);
        }
    }
}

static void test_bad_inputs(void)
{
    nl_bpe_train_opts o;
    nl_bpe_train_opts_init(&o);
    const char *out = path_in("bad.json");
    const char *one[] = {"hello hello"};
    size_t l1[] = {11};
    o.vocab_size = 256;
    h_expect_error(nl_bpe_train(one, l1, 1, &o, out), NL_ERR_ARG, "vocab_size 256 (< 256 bytes + 1 special)");
    h_check(strstr(nl_last_error(), "vocab_size 256") && strstr(nl_last_error(), "HINT"), "message: %s",
            nl_last_error());
    const char *sp[] = {"<a>", "<b>"};
    o.special_tokens = sp;
    o.n_special_tokens = 2;
    o.vocab_size = 258;
    h_expect_error(nl_bpe_train(one, l1, 1, &o, out), NL_ERR_ARG, "vocab_size 258 with 3 specials");
    nl_bpe_train_opts_init(&o);
    h_expect_error(nl_bpe_train(NULL, NULL, 0, &o, out), NL_ERR_ARG, "no texts");
    h_check(strstr(nl_last_error(), "empty") != NULL, "message: %s", nl_last_error());
    const char *empties[] = {"", "<|endoftext|><|endoftext|>"};
    size_t le[] = {0, 26};
    h_expect_error(nl_bpe_train(empties, le, 2, &o, out), NL_ERR_ARG, "only empty text and specials");
    h_expect_error(nl_bpe_train_files(NULL, 0, &o, out), NL_ERR_ARG, "no files");
    o.min_frequency = 0;
    h_expect_error(nl_bpe_train(one, l1, 1, &o, out), NL_ERR_ARG, "min_frequency 0");
    nl_bpe_train_opts_init(&o);
    o.pattern = "(unclosed";
    h_expect_error(nl_bpe_train(one, l1, 1, &o, out), NL_ERR_ARG, "a split regex that does not compile");
    nl_bpe_train_opts_init(&o);
    const char *bad_sp[] = {"!"};
    o.special_tokens = bad_sp;
    o.n_special_tokens = 1;
    h_expect_error(nl_bpe_train(one, l1, 1, &o, out), NL_ERR_ARG, "a special equal to a byte symbol");
    const char *bad_utf8[] = {"\xff"};
    o.special_tokens = bad_utf8;
    h_expect_error(nl_bpe_train(one, l1, 1, &o, out), NL_ERR_ARG, "a special that is not UTF-8");
    o.special_tokens = NULL;
    h_expect_error(nl_bpe_train(one, l1, 1, &o, out), NL_ERR_ARG, "special_tokens NULL with n 1");
    nl_bpe_train_opts_init(&o);
    h_expect_error(nl_bpe_train(one, l1, 1, &o, NULL), NL_ERR_ARG, "NULL output path");
    h_expect_error(nl_bpe_train(NULL, l1, 1, &o, out), NL_ERR_ARG, "NULL texts");
    h_check(!exists(out), "no output file after the rejected calls");

    const char *missing[] = {path_in("part1.txt"), path_in("no-such-file.txt")};
    h_expect_error(nl_bpe_train_files(missing, 2, &o, out), NL_ERR_IO, "a missing corpus file");
    h_check(strstr(nl_last_error(), "no-such-file.txt") != NULL, "message names the file: %s", nl_last_error());
    const char *a_dir[] = {dir};
    h_expect_error(nl_bpe_train_files(a_dir, 1, &o, out), NL_ERR_IO, "a directory as corpus file");
    if (geteuid() != 0) { /* root reads anything */
        write_file(path_in("secret.txt"), "x", 1);
        chmod(path_in("secret.txt"), 0);
        const char *secret[] = {path_in("secret.txt")};
        h_expect_error(nl_bpe_train_files(secret, 1, &o, out), NL_ERR_IO, "an unreadable corpus file");
    }
    /* a sparse file just over the limit is refused before reading */
    int fd = open(path_in("huge.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0 && ftruncate(fd, (off_t)NL_BPE_TRAIN_MAX_FILE + 1) == 0) {
        const char *huge[] = {path_in("huge.txt")};
        h_expect_error(nl_bpe_train_files(huge, 1, &o, out), NL_ERR_ARG, "a corpus file over 1 GiB");
        h_check(strstr(nl_last_error(), "HINT") != NULL, "message: %s", nl_last_error());
    }
    if (fd >= 0) close(fd);
    unlink(path_in("huge.txt"));
    h_expect_error(nl_bpe_train(one, l1, 1, &o, path_in("no-dir/tok.json")), NL_ERR_IO, "an unwritable output path");
    h_check(!exists(out), "still no output file");
    nl_interrupt_request(); /* Ctrl-C: abandoned, nothing written */
    h_expect_error(train(&o, out), NL_ERR_INTERRUPTED, "training with an interrupt pending");
    nl_interrupt_clear();
    h_check(!exists(out), "no output file after the interrupt");
}

static void cleanup(void)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) unlink(path_in(de->d_name));
    if (d) closedir(d);
    rmdir(dir);
}

int main(void)
{
    h_init("bpe_train");
    snprintf(dir, sizeof dir, "/tmp/nl_bpe_XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    init_alphabet();
    text = corpus(300 * 1024);
    test_train_load();
    test_specials();
    test_determinism_and_files();
    test_small_corpora();
    test_bad_inputs();
    free(text.p);
    cleanup();
    return h_finish();
}
