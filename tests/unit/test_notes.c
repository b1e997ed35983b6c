/* test_notes.c — the CSV reader (quotes, "" escapes, newlines in fields,
 * CRLF, NUL bytes, blank lines, field limit, unterminated quotes), the
 * method §1.4 preprocessing against hand-derived expectations (Chinese,
 * English, emoji, truncation by code points, categories), UTF-8 repair, and
 * the NoteLLM dataset loader on data directories built in a temp dir.
 * Depends on the runtime and the harness only. */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv.h"
#include "harness.h"
#include "notes.h"
#include "preprocess.h"

static char tmp[64];

/* ---- helpers ----------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const char *data, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        h_check(false, "cannot create %s", path);
        return;
    }
    if (n) fwrite(data, 1, n, fp);
    fclose(fp);
}

#define WRITE_LIT(dir, name, lit) write_file(dir, name, lit, sizeof(lit) - 1)

static const char *make_dir(const char *name)
{
    static char path[8][256];
    static int k;
    char *p = path[k++ & 7];
    snprintf(p, 256, "%s/%s", tmp, name);
    mkdir(p, 0755);
    return p;
}

/* Rows serialized as "L<line>:f1|f2;" with \n and \r shown as \n and \r. */
typedef struct collect {
    char *s;
    size_t n, cap;
    int stop_after; /* return NL_ERR_STATE after this many rows (0: never) */
} collect;

static void app(collect *c, const char *p, size_t n)
{
    if (c->n + n + 1 > c->cap) {
        c->cap = (c->n + n + 1) * 2;
        c->s = realloc(c->s, c->cap);
    }
    memcpy(c->s + c->n, p, n);
    c->n += n;
    c->s[c->n] = '\0';
}

static nl_status collect_row(const nl_csv_row *row, void *ctx)
{
    collect *c = ctx;
    char head[32];
    app(c, head, (size_t)snprintf(head, sizeof head, "L%zu:", row->line));
    for (size_t k = 0; k < row->nfields; k++) {
        if (k) app(c, "|", 1);
        h_check(row->field[k][row->len[k]] == '\0', "field %zu of line %zu is NUL-terminated", k, row->line);
        for (size_t i = 0; i < row->len[k]; i++) {
            char ch = row->field[k][i];
            if (ch == '\n') app(c, "\\n", 2);
            else if (ch == '\r') app(c, "\\r", 2);
            else app(c, &ch, 1);
        }
    }
    app(c, ";", 1);
    if (c->stop_after && (int)row->index + 1 >= c->stop_after) return nl_error_set(NL_ERR_STATE, "stop");
    return NL_OK;
}

static void csv_case(const char *what, const char *in, size_t n, bool norm, const char *want)
{
    collect c = {0};
    app(&c, "", 0);
    nl_csv_opts o = {.normalize_newlines = norm};
    nl_status st = nl_csv_parse(in, n, what, &o, collect_row, &c, NULL);
    if (h_ok(st, what)) h_check(!strcmp(c.s, want), "%s: got %s want %s", what, c.s, want);
    free(c.s);
}

#define CSV(what, lit, norm, want) csv_case(what, lit, sizeof(lit) - 1, norm, want)

/* ---- CSV --------------------------------------------------------------- */

static void test_csv(void)
{
    CSV("plain", "a,b,c\nd,e,f\n", false, "L1:a|b|c;L2:d|e|f;");
    CSV("no final newline", "a,b", false, "L1:a|b;");
    CSV("empty buffer", "", false, "");
    CSV("quotes and \"\" escapes", "\"a,b\",\"say \"\"hi\"\"\",c,\"\"\n", false, "L1:a,b|say \"hi\"|c|;");
    CSV("newline in a quoted field", "\"line1\nline2\",x\nnext,row\n", false, "L1:line1\\nline2|x;L3:next|row;");
    CSV("CRLF line ends", "a,b\r\nc,d\r\n", false, "L1:a|b;L2:c|d;");
    CSV("lone CR line ends", "a,b\rc,d\r", false, "L1:a|b;L2:c|d;");
    CSV("CRLF inside quotes kept", "\"x\r\ny\",z\r\n", false, "L1:x\\r\\ny|z;");
    CSV("CRLF inside quotes normalized", "\"x\r\ny\rw\",z\r\n", true, "L1:x\\ny\\nw|z;");
    CSV("blank lines skipped", "\n\na,b\n\r\n\nc,d\n\n", false, "L3:a|b;L6:c|d;");
    CSV("trailing comma", "a,\n,\n", false, "L1:a|;L2:|;");
    CSV("quote inside an unquoted field (kept)", "ab\"c,d\n", false, "L1:ab\"c|d;");
    CSV("text after a closing quote (kept)", "\"ab\"c,d\n", false, "L1:abc|d;");
    CSV("spaces are data", " a , b \n", false, "L1: a | b ;");
    CSV("UTF-8 and invalid bytes pass through", "中文,\xff\xfe\n", false, "L1:中文|\xff\xfe;");

    /* NUL bytes stripped before parsing, and counted */
    {
        static const char in[] = "a\0b,c\0\n\"q\0\"\"\",d\n";
        collect c = {0};
        app(&c, "", 0);
        nl_csv_stats s;
        nl_status st = nl_csv_parse(in, sizeof in - 1, "nul", NULL, collect_row, &c, &s);
        if (h_ok(st, "NUL bytes"))
            h_check(!strcmp(c.s, "L1:ab|c;L2:q\"|d;") && s.nul_bytes == 3 && s.rows == 2,
                    "NUL bytes stripped: %s, %zu counted", c.s, s.nul_bytes);
        free(c.s);
    }
    /* stats */
    {
        nl_csv_stats s;
        static const char in[] = "\"a\nb\",c\n\nd\n";
        h_ok(nl_csv_parse(in, sizeof in - 1, "stats", NULL, NULL, NULL, &s), "stats");
        h_check(s.rows == 2 && s.blank_lines == 1 && s.lines == 4 && s.nul_bytes == 0,
                "stats: rows %zu blank %zu lines %zu", s.rows, s.blank_lines, s.lines);
    }
    /* unterminated quote: format-error naming the line it opened on */
    {
        static const char in[] = "a,b\nc,\"open\nmore\n";
        nl_status st = nl_csv_parse(in, sizeof in - 1, "u.csv", NULL, NULL, NULL, NULL);
        h_expect_error(st, NL_ERR_FORMAT, "unterminated quote");
        h_check(strstr(nl_last_error(), "u.csv: line 2: unterminated quoted field") != NULL,
                "unterminated quote message: %s", nl_last_error());
        static const char in2[] = "\"";
        h_expect_error(nl_csv_parse(in2, 1, "u2", NULL, NULL, NULL, NULL), NL_ERR_FORMAT, "lone quote");
    }
    /* the callback's status stops the parse */
    {
        collect c = {.stop_after = 1};
        app(&c, "", 0);
        static const char in[] = "a\nb\nc\n";
        nl_status st = nl_csv_parse(in, sizeof in - 1, "stop", NULL, collect_row, &c, NULL);
        h_check(st == NL_ERR_STATE && !strcmp(c.s, "L1:a;"), "callback status stops parsing (%s)", c.s);
        free(c.s);
    }
    /* a 1 MB single field, and the field size limit */
    {
        size_t big = (size_t)1 << 20;
        char *in = malloc(big + 16);
        in[0] = '"';
        memset(in + 1, 'x', big);
        memcpy(in + 1 + big, "\",y\n", 4);
        collect c = {0};
        app(&c, "", 0);
        nl_status st = nl_csv_parse(in, big + 5, "big", NULL, collect_row, &c, NULL);
        h_check(st == NL_OK && c.n == 3 + big + 3, "1 MB quoted field parsed (%zu bytes collected)", c.n);
        free(c.s);
        nl_csv_opts o = {.max_field = 1000};
        static const char pre[] = "ok,row\n";
        memcpy(in, pre, sizeof pre - 1);
        memset(in + sizeof pre - 1, 'z', 1001);
        st = nl_csv_parse(in, sizeof pre - 1 + 1001, "lim.csv", &o, NULL, NULL, NULL);
        h_expect_error(st, NL_ERR_FORMAT, "field over the limit");
        h_check(strstr(nl_last_error(), "lim.csv: line 2, field 1") && strstr(nl_last_error(), "1000-byte limit") &&
                    strstr(nl_last_error(), "HINT"),
                "field limit message: %s", nl_last_error());
        st = nl_csv_parse(in, sizeof pre - 1 + 1000, "lim.csv", &o, NULL, NULL, NULL);
        h_check(st == NL_OK, "a field of exactly the limit is accepted");
        free(in);
    }
    /* files */
    {
        h_expect_error(nl_csv_parse_file("/nonexistent/x.csv", NULL, NULL, NULL, NULL), NL_ERR_IO, "missing file");
        h_expect_error(nl_csv_parse_file(tmp, NULL, NULL, NULL, NULL), NL_ERR_IO, "a directory");
        WRITE_LIT(tmp, "f.csv", "a,\"b\nc\"\n");
        collect c = {0};
        app(&c, "", 0);
        char path[256];
        snprintf(path, sizeof path, "%s/f.csv", tmp);
        if (h_ok(nl_csv_parse_file(path, NULL, collect_row, &c, NULL), "file"))
            h_check(!strcmp(c.s, "L1:a|b\\nc;"), "file rows: %s", c.s);
        free(c.s);
        nl_csv_opts o = {.max_file = 4};
        h_expect_error(nl_csv_parse_file(path, &o, NULL, NULL, NULL), NL_ERR_FORMAT, "file over max_file");
    }
}

/* ---- preprocessing ----------------------------------------------------- */

static void content_case(const char *what, const char *in, const nl_preprocess_opts *o, const char *want_content,
                         const char *want_topic, size_t want_tags)
{
    char *c = NULL, *t = NULL;
    size_t nt = 99;
    nl_status st = nl_preprocess_content(in, strlen(in), o, &c, &t, &nt);
    if (h_ok(st, what)) {
        h_check(!strcmp(c, want_content), "%s: content \"%s\" want \"%s\"", what, c, want_content);
        h_check(!strcmp(t, want_topic), "%s: topic \"%s\" want \"%s\"", what, t, want_topic);
        h_check(nt == want_tags, "%s: %zu tags want %zu", what, nt, want_tags);
    }
    free(c);
    free(t);
}

static void title_case(const char *what, const char *in, const char *want)
{
    char *t = NULL;
    if (h_ok(nl_preprocess_title(in, strlen(in), NULL, &t), what))
        h_check(!strcmp(t, want), "%s: \"%s\" want \"%s\"", what, t, want);
    free(t);
}

static void cat_case(const char *in, const char *want)
{
    char *t = NULL;
    if (h_ok(nl_preprocess_category(in, strlen(in), &t), in))
        h_check(!strcmp(t, want), "category \"%s\" → \"%s\" want \"%s\"", in, t, want);
    free(t);
}

static char *repeat(const char *unit, size_t times, const char *tail)
{
    size_t u = strlen(unit), tl = strlen(tail);
    char *s = malloc(u * times + tl + 1);
    for (size_t i = 0; i < times; i++) memcpy(s + i * u, unit, u);
    memcpy(s + u * times, tail, tl + 1);
    return s;
}

static void test_preprocess(void)
{
    /* Chinese: "[话题]" markers, two tags, a 24-character match kept */
    content_case("chinese",
                 "今天去了西湖#杭州旅行[话题]##美食[话题]#\n风景很好#这是一个非常非常非常长的话题标签超过十六个字#",
                 NULL, "今天去了西湖。风景很好#这是一个非常非常非常长的话题标签超过十六个字#", "杭州旅行，美食", 2);
    /* 16 code points including both '#' is a tag; 17 is not */
    content_case("tag length boundary", "#一二三四五六七八九十一二三四# #一二三四五六七八九十一二三四五#", NULL,
                 "#一二三四五六七八九十一二三四五#", "一二三四五六七八九十一二三四", 1);
    /* English: repeats, underscore, non-word '-', "##x##", é, digits, a long match */
    content_case("english",
                 "Loving this #sunset# view!\n#sunset# again #beach_life# #a-b# ##x## #café# #2024# "
                 "#this_is_way_too_long_tag#",
                 NULL, "Loving this  view!。 again  #a-b# ##   #this_is_way_too_long_tag#",
                 "sunset，sunset，beach_life，x，café，2024", 6);
    /* emoji are not word characters: "#❤️#" is no tag; emoji around tags stay */
    content_case("emoji", "好开心😂#日常#✨\n#❤️# #旅行✈️#  ", NULL, "好开心😂✨。#❤️# #旅行✈️#", "日常", 1);
    /* combining marks are not \w in Python's re (नमस्ते has U+094D and U+0947) */
    content_case("marks", "#नमस्ते# hi #ab#", NULL, "#नमस्ते# hi", "ab", 1);
    /* a "[话题]" inside a tag is deleted first, joining it */
    content_case("marker inside a tag", "#美[话题]食#好", NULL, "好", "美食", 1);
    /* more than 10 tags: all removed, 10 in the topic */
    content_case("12 tags", "#t1# #t2# #t3# #t4# #t5# #t6# #t7# #t8# #t9# #t10# #t11# #t12# end", NULL, "end",
                 "t1，t2，t3，t4，t5，t6，t7，t8，t9，t10", 12);
    /* Python applies replace once per match: the second "#a#" removes the
     * occurrence the first replace created */
    content_case("replace per match", "##a##a#a#", NULL, "", "a，a", 2);
    content_case("one replace only", "x##a#a##y", NULL, "x#a##y", "a", 1);
    content_case("empty", "", NULL, "", "", 0);
    content_case("newlines", "\nab\n\ncd\n", NULL, "。ab。。cd。", "", 0);
    /* truncation by code points, then strip */
    {
        char *in = repeat("中", 100, "");
        char *want = repeat("中", 80, "");
        content_case("80 CJK code points (240 bytes)", in, NULL, want, "", 0);
        free(in);
        free(want);
        in = repeat("😂", 90, "");
        want = repeat("😂", 80, "");
        content_case("80 emoji (320 bytes)", in, NULL, want, "", 0);
        free(in);
        free(want);
        in = repeat(" ", 10, "");
        char *x = repeat("x", 100, "");
        char *both = malloc(strlen(in) + strlen(x) + 1);
        strcpy(both, in);
        strcat(both, x);
        want = repeat("x", 70, "");
        content_case("truncate first, strip after", both, NULL, want, "", 0);
        free(in);
        free(x);
        free(both);
        free(want);
        in = repeat("a", 79, "  b");
        want = repeat("a", 79, "");
        content_case("cut leaves a trailing space", in, NULL, want, "", 0);
        free(in);
        free(want);
        in = repeat("#a# ", 262144, "tail"); /* 1 MB of one repeated tag */
        content_case("1 MB of one tag (cut, then strip)", in, NULL, "", "a，a，a，a，a，a，a，a，a，a", 262144);
        free(in);
    }
    content_case("unicode whitespace stripped", "\u3000\u00a0 hello\u2003\u2028\t", NULL, "hello", "", 0);
    content_case("ZWSP is not whitespace", "\u200bhello", NULL, "\u200bhello", "", 0);
    {
        nl_preprocess_opts o = {5, 3, 6, 2};
        content_case("configured limits", "héllo wörld #abc# #ab# #a# #abcdef#", &o, "héllo", "abc，ab", 3);
        char *t = NULL;
        h_ok(nl_preprocess_title("  日本語です", strlen("  日本語です"), &o, &t), "title limit 3");
        h_check(t && !strcmp(t, "日"), "title limit 3 on \"  日本語です\": \"%s\"", t ? t : "");
        free(t);
    }

    /* titles: 20 code points, then strip */
    {
        char *in = repeat("标", 25, "");
        char *want = repeat("标", 20, "");
        title_case("25 CJK characters", in, want);
        free(in);
        free(want);
        in = repeat("😂", 25, "");
        want = repeat("😂", 20, "");
        title_case("25 emoji", in, want);
        free(in);
        free(want);
        in = repeat("a", 19, "  xyz");
        want = repeat("a", 19, "");
        title_case("cut then strip", in, want);
        free(in);
        free(want);
        title_case("strip", "  Hello World  ", "Hello World");
        title_case("empty", "", "");
        title_case("whitespace only", " \u3000 ", "");
    }

    /* categories */
    cat_case("Hobbies and Interests@Educational Toys@", "Hobbies and Interests，Educational Toys。");
    cat_case("美食@", "美食。");
    cat_case("旅行@国内游@", "旅行，国内游。");
    cat_case("A@B@C@", "A，B。");
    cat_case("A@B@C", "A，B。");
    cat_case("A", "A。");
    cat_case("", "。");
    cat_case("@B@", "，B。");
    cat_case("A@@", "A。");
    cat_case("A，", "A。");

    /* whole note, and the UTF-8 contract */
    {
        nl_note_text t;
        static const char title[] = " 标题 ", content[] = "内容#话题#", cat[] = "a@b@c@";
        if (h_ok(nl_preprocess_note(title, sizeof title - 1, content, sizeof content - 1, cat, sizeof cat - 1, NULL,
                                    &t),
                 "note"))
            h_check(!strcmp(t.title, "标题") && !strcmp(t.content, "内容") && !strcmp(t.topic, "话题") &&
                        !strcmp(t.category, "a，b。") && t.n_tags == 1,
                    "whole note: %s / %s / %s / %s", t.title, t.content, t.topic, t.category);
        nl_note_text_free(&t);
        static const char bad[] = "ok\xffno";
        nl_status st = nl_preprocess_note(title, sizeof title - 1, bad, sizeof bad - 1, cat, sizeof cat - 1, NULL, &t);
        h_expect_error(st, NL_ERR_FORMAT, "invalid UTF-8 content");
        h_check(strstr(nl_last_error(), "content: invalid UTF-8 at byte 2") && t.title == NULL,
                "invalid UTF-8 named: %s", nl_last_error());
    }
}

static void sanitize_case(const char *what, const char *in, size_t n, const char *want, size_t want_rep)
{
    char *o = NULL;
    size_t on = 0, rep = 0;
    if (h_ok(nl_utf8_sanitize(in, n, &o, &on, &rep), what))
        h_check(on == strlen(want) && !memcmp(o, want, on) && rep == want_rep, "%s: %zu replaced (want %zu)", what, rep,
                want_rep);
    free(o);
}

#define FFFD "\xEF\xBF\xBD"

static void test_utf8(void)
{
    sanitize_case("valid", "a中😂", strlen("a中😂"), "a中😂", 0);
    sanitize_case("0xff", "a\xff" "b", 3, "a" FFFD "b", 1);
    sanitize_case("lone surrogate", "\xed\xa0\x80", 3, FFFD FFFD FFFD, 3);
    sanitize_case("truncated at the end", "x\xe4\xb8", 3, "x" FFFD, 1);
    sanitize_case("truncated 4-byte", "\xf0\x9f\x98" "a", 4, FFFD "a", 1);
    sanitize_case("overlong", "\xc0\xaf", 2, FFFD FFFD, 2);
    sanitize_case("above U+10FFFF", "\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD, 4);
    h_check(nl_utf8_check("ab\xc3", 3) == 2 && nl_utf8_check("ab", 2) == 2, "nl_utf8_check offsets");
    h_check(nl_utf8_length("a中😂", strlen("a中😂")) == 3, "nl_utf8_length");
}

/* ---- the dataset ------------------------------------------------------- */

static const nl_note *by_id(const nl_notes *ds, const char *id)
{
    int64_t i = nl_notes_find(ds, id);
    return i < 0 ? NULL : nl_notes_get(ds, (size_t)i);
}

static void test_dataset(void)
{
    const char *d = make_dir("data");
    static const char train[] =
        "n1,Title one,\"Body with #tag1# and, comma\nsecond line\",img1,Cat@Sub@\n"
        "n2,标题二,\"内容#话题一[话题]#结束\",img2,美食@\r\n"
        "n3,\"bad row\",only three\n"
        "n1,dup title,dup,img1,X@\n"
        "n4,Bad\xffUTF8,content\xed\xa0\x80x,img_missing,A@B@C@\n"
        "\n"
        "n5,emo\0ji 😂,\"say \"\"hi\"\"\",../etc/passwd,Z\n";
    write_file(d, "notes_train.csv", train, sizeof train - 1);
    WRITE_LIT(d, "notes_test.csv", "t1,Test title,content,timg1,Cat@\nn2,dup across files,x,timg2,Cat@\nt2,,,timg2,\n");
    WRITE_LIT(d, "note_pairs_train.csv", "n1,n2\nn2,t1\nn4,x12\n");
    WRITE_LIT(d, "note_pairs_val.csv", "n1,n4\n\n");
    WRITE_LIT(d, "note_pairs_test.csv", "t1,t2\nghost,t1\nt1,t2,extra\n");
    WRITE_LIT(d, "unrelated.csv", "x\n");
    char sub[256];
    snprintf(sub, sizeof sub, "%s/images", d);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/images_test", d);
    mkdir(sub, 0755);
    WRITE_LIT(d, "images/img1", "webp");
    WRITE_LIT(d, "images/img2", "webp");
    WRITE_LIT(d, "images_test/timg1", "webp");
    WRITE_LIT(d, "images_test/timg2", "webp");

    nl_notes *ds = NULL;
    nl_notes_report rep;
    if (!h_ok(nl_notes_load(&ds, d, &rep), "load the data directory")) return;

    h_check(nl_notes_count(ds) == 6 && rep.notes == 6 && rep.notes_train == 4 && rep.notes_test == 2,
            "6 notes (train 4, test 2): %zu", nl_notes_count(ds));
    static const char *order[] = {"n1", "n2", "n4", "n5", "t1", "t2"};
    for (int i = 0; i < 6; i++)
        h_check(nl_notes_find(ds, order[i]) == i, "find %s → %d (got %lld)", order[i], i,
                (long long)nl_notes_find(ds, order[i]));
    h_check(nl_notes_find(ds, "n3") == -1 && nl_notes_find(ds, "x12") == -1 && nl_notes_find(ds, "") == -1,
            "unknown ids → -1");
    h_check(nl_notes_get(ds, 6) == NULL, "get out of range → NULL");

    const nl_note *n1 = by_id(ds, "n1"), *n2 = by_id(ds, "n2"), *n4 = by_id(ds, "n4"), *n5 = by_id(ds, "n5");
    const nl_note *t1 = by_id(ds, "t1"), *t2 = by_id(ds, "t2");
    if (n1 && n2 && n4 && n5 && t1 && t2) {
        h_check(n1->split == NL_NOTE_TRAIN && n1->row == 0 && n2->row == 1 && n4->row == 4 && n5->row == 5 &&
                    t1->split == NL_NOTE_TEST && t1->row == 0 && t2->row == 2,
                "splits and row indices");
        h_check(!strcmp(n1->content, "Body with #tag1# and, comma\nsecond line") && !strcmp(n1->title, "Title one"),
                "n1 raw fields");
        h_check(!strcmp(n1->p_content, "Body with  and, comma。second line") && !strcmp(n1->p_topic, "tag1") &&
                    !strcmp(n1->p_category, "Cat，Sub。") && !strcmp(n1->p_title, "Title one"),
                "n1 preprocessed: %s | %s | %s", n1->p_content, n1->p_topic, n1->p_category);
        h_check(!strcmp(n2->title, "标题二") && !strcmp(n2->p_content, "内容结束") && !strcmp(n2->p_topic, "话题一") &&
                    !strcmp(n2->p_category, "美食。") && !strcmp(n2->category, "美食@"),
                "n2 (CRLF line end): %s | %s | %s", n2->p_content, n2->p_topic, n2->category);
        h_check(!strcmp(n4->title, "Bad" FFFD "UTF8") && !strcmp(n4->p_content, "content" FFFD FFFD FFFD "x") &&
                    !strcmp(n4->p_category, "A，B。"),
                "n4 invalid UTF-8 replaced: %s / %s", n4->title, n4->p_content);
        h_check(!strcmp(n5->title, "emoji 😂") && !strcmp(n5->content, "say \"hi\"") && !strcmp(n5->p_category, "Z。"),
                "n5 NUL stripped, quotes: %s / %s", n5->title, n5->content);
        h_check(n1->image_found && n2->image_found && !n4->image_found && !n5->image_found && t1->image_found &&
                    t2->image_found,
                "image presence (img_missing absent, ../etc/passwd refused)");
        h_check(!strcmp(t2->title, "") && !strcmp(t2->p_content, "") && !strcmp(t2->p_topic, "") &&
                    !strcmp(t2->p_category, "。"),
                "t2 empty fields");
    }

    size_t n = 99;
    const nl_note_pair *p = nl_notes_pairs(ds, "train", &n);
    h_check(p && n == 2 && p[0].a == 0 && p[0].b == 1 && p[1].a == 1 && p[1].b == 4, "train pairs (%zu)", n);
    p = nl_notes_pairs(ds, "val", &n);
    h_check(p && n == 1 && p[0].a == 0 && p[0].b == 2, "val pairs with a trailing blank line (%zu)", n);
    p = nl_notes_pairs(ds, "test", &n);
    h_check(p && n == 1 && p[0].a == 4 && p[0].b == 5, "test pairs (%zu)", n);
    p = nl_notes_pairs(ds, "nope", &n);
    h_check(p == NULL && n == 0, "unknown pair list → NULL");
    h_check(nl_notes_pairs_skipped(ds, "train") == 1 && nl_notes_pairs_skipped(ds, "test") == 1 &&
                nl_notes_pairs_skipped(ds, "val") == 0,
            "unknown ids counted per file");
    h_check(nl_notes_pair_list_count(ds) == 3 && !strcmp(nl_notes_pair_list_name(ds, 0), "test") &&
                !strcmp(nl_notes_pair_list_name(ds, 2), "val") && nl_notes_pair_list_name(ds, 3) == NULL,
            "pair lists in name order");

    h_check(rep.duplicate_ids == 2 && rep.rows_skipped == 2 && rep.images_missing == 2 && rep.nul_bytes == 1 &&
                rep.invalid_utf8 == 4 && rep.pairs == 4 && rep.pairs_skipped == 2 && rep.blank_lines == 2,
            "report counts: dup %zu rows %zu img %zu nul %zu utf8 %zu pairs %zu skipped %zu blank %zu",
            rep.duplicate_ids, rep.rows_skipped, rep.images_missing, rep.nul_bytes, rep.invalid_utf8, rep.pairs,
            rep.pairs_skipped, rep.blank_lines);
    char buf[512];
    size_t len = nl_notes_report_format(&rep, buf, sizeof buf);
    static const char want[] = "notes: 6 (train 4, test 2); pairs: test 1, train 2, val 1 (2 skipped: unknown note "
                               "ids e.g. ghost); images missing: 2; rows skipped: 2; NUL bytes stripped: 1; "
                               "duplicate ids: 2; invalid UTF-8 replaced: 4";
    h_check(!strcmp(buf, want) && len == sizeof want - 1, "summary: %s", buf);
    char small[10];
    h_check(nl_notes_report_format(&rep, small, sizeof small) == len && !strcmp(small, "notes: 6 "),
            "summary truncated safely: \"%s\"", small);
    bool seen_cols = false, seen_dup = false, seen_unknown = false, seen_img = false;
    for (size_t i = 0; i < rep.n_examples; i++) {
        const char *e = rep.examples[i];
        seen_cols |= strstr(e, "notes_train.csv line 4: 3 columns, expected 5") != NULL;
        seen_dup |= strstr(e, "notes_train.csv line 5: duplicate note id n1 (first in notes_train.csv line 1)") != NULL;
        seen_unknown |= strstr(e, "note_pairs_test.csv line 2: unknown note id ghost") != NULL;
        seen_img |= strstr(e, "img_missing is missing") != NULL;
    }
    h_check(rep.n_examples == NL_NOTES_MAX_EXAMPLES, "at most %d examples kept (%zu)", NL_NOTES_MAX_EXAMPLES,
            rep.n_examples);
    h_check(seen_cols && seen_dup && seen_img && seen_unknown, "examples name files, lines and ids");
    const nl_notes_report *r2 = nl_notes_get_report(ds);
    h_check(r2 && r2->notes == 6 && r2->pairs == 4, "report kept in the dataset");
    nl_notes_free(ds);
}

static void test_dataset_edges(void)
{
    nl_notes *ds = (nl_notes *)1;
    nl_notes_report rep;

    /* only a test file; images_test/ absent → counted, not fatal */
    const char *d = make_dir("only_test");
    WRITE_LIT(d, "notes_test.csv", "t1,T,C,i1,A@B@\n");
    if (h_ok(nl_notes_load(&ds, d, &rep), "only notes_test.csv")) {
        char buf[256];
        nl_notes_report_format(&rep, buf, sizeof buf);
        h_check(!strcmp(buf, "notes: 1 (train 0, test 1); pairs: none; images missing: 1; rows skipped: 0; "
                              "NUL bytes stripped: 0"),
                "only test: %s", buf);
        nl_notes_free(ds);
    }

    /* CRLF inside a quoted body is one line break → one "。" */
    d = make_dir("crlf");
    WRITE_LIT(d, "notes_train.csv", "c1,T,\"a\r\nb\rc\",i,C\r\n");
    if (h_ok(nl_notes_load(&ds, d, &rep), "CRLF data")) {
        const nl_note *c = nl_notes_get(ds, 0);
        h_check(c && !strcmp(c->content, "a\nb\nc") && !strcmp(c->p_content, "a。b。c"), "CRLF in a body: %s",
                c ? c->p_content : "(none)");
        nl_notes_free(ds);
    }

    /* neither notes file */
    d = make_dir("empty");
    ds = (nl_notes *)1;
    nl_status st = nl_notes_load(&ds, d, &rep);
    h_expect_error(st, NL_ERR_IO, "no notes files");
    h_check(ds == NULL && strstr(nl_last_error(), "notes_train.csv") && strstr(nl_last_error(), "HINT"),
            "no notes files: %s", nl_last_error());

    /* not a directory, and a missing one */
    char path[256];
    snprintf(path, sizeof path, "%s/f.csv", tmp);
    h_expect_error(nl_notes_load(&ds, path, &rep), NL_ERR_IO, "a file given as the directory");
    h_expect_error(nl_notes_load(&ds, "/nonexistent/notellm", &rep), NL_ERR_IO, "missing directory");
    h_expect_error(nl_notes_load(&ds, NULL, NULL), NL_ERR_ARG, "NULL directory");

    /* unterminated quote in a notes file: fatal, names the file and line */
    d = make_dir("unterminated");
    WRITE_LIT(d, "notes_train.csv", "a,b,c,d,e\nf,\"g,h,i,j\n");
    ds = (nl_notes *)1;
    st = nl_notes_load(&ds, d, &rep);
    h_expect_error(st, NL_ERR_FORMAT, "unterminated quote in notes_train.csv");
    h_check(ds == NULL && strstr(nl_last_error(), "notes_train.csv: line 2: unterminated"), "message: %s",
            nl_last_error());

    /* a 1 MB content field and a 1 MB title */
    d = make_dir("big");
    {
        size_t big = (size_t)1 << 20;
        char *row = malloc(2 * big + 64);
        size_t k = 0;
        k += (size_t)sprintf(row, "b1,");
        memset(row + k, 'T', big);
        k += big;
        k += (size_t)sprintf(row + k, ",\"#大# ");
        memset(row + k, 'x', big);
        k += big;
        k += (size_t)sprintf(row + k, "\",i,C@\n");
        write_file(d, "notes_train.csv", row, k);
        free(row);
        if (h_ok(nl_notes_load(&ds, d, &rep), "1 MB fields")) {
            const nl_note *b = nl_notes_get(ds, 0);
            char *x79 = repeat("x", 79, ""), *t20 = repeat("T", 20, "");
            h_check(b && strlen(b->content) == big + strlen("#大# ") && !strcmp(b->p_content, x79) &&
                        !strcmp(b->p_topic, "大") && !strcmp(b->p_title, t20),
                    "1 MB fields preprocessed");
            free(x79);
            free(t20);
            nl_notes_free(ds);
        }
    }
    nl_notes_free(NULL);
    h_check(nl_notes_count(NULL) == 0 && nl_notes_find(NULL, "x") == -1 && nl_notes_get(NULL, 0) == NULL,
            "NULL dataset accessors are safe");
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

int main(void)
{
    h_init("notes");
    snprintf(tmp, sizeof tmp, "/tmp/nl_notes_XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    test_csv();
    test_preprocess();
    test_utf8();
    test_dataset();
    test_dataset_edges();
    nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return h_finish();
}
