/* test_synth.c — the synthetic notes generator (gen-notes): byte-identical
 * output for a seed whatever the thread count, a different seed differs,
 * counts, pair ground truth (same item, split discipline, per-modality and
 * short/long splits), images decode, hashtag form, valid UTF-8 (zh), the
 * content-length rule and bad options. Set NOTELLM_SYNTH_BENCH to time a
 * default-size run. Depends on the runtime and the harness only. */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "io/image.h"
#include "data/synth.h"

static char root[64];

static const char *in_root(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", root, name);
    return buf[k];
}

static char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *p = malloc((size_t)len + 1);
    if (p && fread(p, 1, (size_t)len, fp) != (size_t)len) { free(p); p = NULL; }
    fclose(fp);
    if (p) p[len] = '\0', *n = (size_t)len;
    return p;
}

/* ---- directory digest: FNV-1a over (relative name, bytes) of every file ---- */

static uint64_t digest;
static size_t digest_files, digest_base;

static void fnv(const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++) digest = (digest ^ ((const unsigned char *)p)[i]) * 0x100000001b3ull;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static char **names;
static size_t n_names;

static int collect(const char *path, const struct stat *sb, int type, struct FTW *f)
{
    if (type != FTW_F) return 0;
    names = realloc(names, (n_names + 1) * sizeof *names);
    names[n_names++] = strdup(path);
    return 0;
}

static uint64_t dir_digest(const char *dir)
{
    names = NULL, n_names = 0;
    nftw(dir, collect, 16, FTW_PHYS);
    qsort(names, n_names, sizeof *names, cmp_str);
    digest = 0xcbf29ce484222325ull;
    digest_base = strlen(dir);
    for (size_t i = 0; i < n_names; i++) {
        size_t n = 0;
        char *p = slurp(names[i], &n);
        fnv(names[i] + digest_base, strlen(names[i] + digest_base) + 1);
        if (p) fnv(p, n);
        free(p);
        free(names[i]);
    }
    digest_files = n_names;
    free(names);
    return digest;
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *f) { return remove(path); }
static void rm_rf(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

/* ---- a tiny RFC-4180 reader: rows of fields, for checking only ---- */

typedef struct table { char ***row; int *nf; size_t n; } table;

static bool read_csv(table *t, const char *path)
{
    size_t len;
    char *s = slurp(path, &len);
    memset(t, 0, sizeof *t);
    if (!s) return false;
    size_t cap = 0;
    for (size_t i = 0; i < len;) {
        char **f = NULL;
        int nf = 0;
        for (;;) {
            char *v = malloc(len - i + 1);
            size_t m = 0;
            if (s[i] == '"') {
                for (i++; i < len; i++) {
                    if (s[i] == '"' && i + 1 < len && s[i + 1] == '"') v[m++] = '"', i++;
                    else if (s[i] == '"') { i++; break; }
                    else v[m++] = s[i];
                }
            } else {
                while (i < len && s[i] != ',' && s[i] != '\n') v[m++] = s[i++];
            }
            v[m] = '\0';
            f = realloc(f, (size_t)(nf + 1) * sizeof *f);
            f[nf++] = v;
            if (i < len && s[i] == ',') { i++; continue; }
            if (i < len && s[i] == '\n') i++;
            break;
        }
        if (t->n == cap) {
            cap = cap ? 2 * cap : 256;
            t->row = realloc(t->row, cap * sizeof *t->row);
            t->nf = realloc(t->nf, cap * sizeof *t->nf);
        }
        t->row[t->n] = f;
        t->nf[t->n++] = nf;
    }
    free(s);
    return true;
}

static void free_csv(table *t)
{
    for (size_t r = 0; r < t->n; r++) {
        for (int k = 0; k < t->nf[r]; k++) free(t->row[r][k]);
        free(t->row[r]);
    }
    free(t->row);
    free(t->nf);
}

/* Ground truth of one note, looked up by id (linear: small configs only). */
static const char **gt_row(const table *gt, const char *id)
{
    for (size_t r = 0; r < gt->n; r++)
        if (strcmp(gt->row[r][0], id) == 0) return (const char **)gt->row[r];
    return NULL;
}

static bool valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        int k = c < 0x80 ? 0 : (c >= 0xc2 && c <= 0xdf) ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c >= 0xf0 && c <= 0xf4) ? 3 : -1;
        if (k < 0 || i + (size_t)k >= n) return false;
        for (int j = 1; j <= k; j++)
            if ((s[i + (size_t)j] & 0xc0) != 0x80) return false;
        if (k == 2) {
            unsigned cp = ((c & 0x0fu) << 12) | ((s[i + 1] & 0x3fu) << 6);
            if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        }
        i += (size_t)k + 1;
    }
    return true;
}

static nl_synth_opts small_opts(uint64_t seed, const char *lang)
{
    nl_synth_opts o;
    nl_synth_defaults(&o);
    o.items = 60;
    o.notes_min = 4;
    o.notes_max = 8;
    o.distractor_items = 6;
    o.seed = seed;
    o.lang = lang;
    return o;
}

/* ---- the checks ---- */

static nl_synth_stats stats_a; /* of directory "a", checked by test_structure */

static void test_determinism(void)
{
    nl_synth_opts o = small_opts(7, "en");
    nl_synth_stats s1, s2;
    nl_set_threads(2);
    if (!h_ok(nl_synth_write(in_root("a"), &o, &s1), "write a (2 threads)")) return;
    nl_set_threads(1);
    if (!h_ok(nl_synth_write(in_root("b"), &o, &s2), "write b (1 thread)")) return;
    nl_set_threads(2);
    uint64_t da = dir_digest(in_root("a"));
    size_t fa = digest_files;
    uint64_t db = dir_digest(in_root("b"));
    h_check(fa > 100 && fa == digest_files, "both runs wrote the same %zu files (%zu)", fa, digest_files);
    h_check(da == db, "same seed, 1 vs 2 threads: byte-identical directories (%016llx vs %016llx)",
            (unsigned long long)da, (unsigned long long)db);
    h_check(memcmp(&s1, &s2, sizeof s1) == 0, "same seed: same stats");
    stats_a = s1;

    o.seed = 8;
    if (!h_ok(nl_synth_write(in_root("c"), &o, NULL), "write c (seed 8)")) return;
    uint64_t dc = dir_digest(in_root("c"));
    h_check(dc != da, "a different seed gives a different directory");

    /* Non-empty directory: refused, then replaced with overwrite (which
     * deletes nothing, so rewrite the same configuration to compare). */
    nl_status st = nl_synth_write(in_root("c"), &o, NULL);
    h_check(st == NL_ERR_IO && strstr(nl_last_error(), "not empty") && strstr(nl_last_error(), "HINT"),
            "existing non-empty directory refused: %s", nl_last_error());
    o.overwrite = true;
    if (h_ok(nl_synth_write(in_root("c"), &o, NULL), "overwrite c"))
        h_check(dir_digest(in_root("c")) == dc, "overwrite replaces the files with the same bytes");
    rm_rf(in_root("b"));
    rm_rf(in_root("c"));
}

/* Structure of directory "a" (en) or "z" (zh). */
static void check_dir(const char *name, const nl_synth_opts *o, const nl_synth_stats *s, bool all_same_item)
{
    char p[512];
    table gt, items, notes[2];
    snprintf(p, sizeof p, "%s/notes_items.csv", in_root(name));
    if (!h_check(read_csv(&gt, p), "%s: read notes_items.csv", name)) return;
    snprintf(p, sizeof p, "%s/items.csv", in_root(name));
    read_csv(&items, p);
    h_check((int64_t)items.n == o->items + o->distractor_items, "%s: items.csv has %zu items (want %lld)", name,
            items.n, (long long)(o->items + o->distractor_items));
    int64_t split_items[4] = {0};
    for (size_t r = 0; r < items.n; r++)
        for (int k = 0; k < 4; k++) split_items[k] += strcmp(items.row[r][1], (const char *[]){"train", "val", "test", "distractor"}[k]) == 0;
    h_check(split_items[0] == s->items_train && split_items[1] == s->items_val && split_items[2] == s->items_test &&
                split_items[3] == s->items_distractor && s->items_test == 12 && s->items_val == 6 &&
                s->items_text == 20 && s->items_image == 20 && s->items_both == 20,
            "%s: item splits %lld/%lld/%lld/%lld and links %lld/%lld/%lld as configured", name,
            (long long)s->items_train, (long long)s->items_val, (long long)s->items_test,
            (long long)s->items_distractor, (long long)s->items_text, (long long)s->items_image,
            (long long)s->items_both);
    free_csv(&items);

    /* Notes files: 5 fields, ids match the ground truth, images decode. */
    const char *nf[2] = {"notes_train.csv", "notes_test.csv"}, *imgdir[2] = {"images", "images_test"};
    int64_t want_rows[2] = {s->notes_train, s->notes_test};
    size_t bad_fields = 0, bad_img = 0, bad_tag = 0, bad_cat = 0, bad_len = 0, bad_split = 0, n_notes = 0;
    for (int side = 0; side < 2; side++) {
        snprintf(p, sizeof p, "%s/%s", in_root(name), nf[side]);
        read_csv(&notes[side], p);
        h_check((int64_t)notes[side].n == want_rows[side], "%s: %s has %zu rows (stats %lld)", name, nf[side],
                notes[side].n, (long long)want_rows[side]);
        for (size_t r = 0; r < notes[side].n; r++) {
            char **f = notes[side].row[r];
            n_notes++;
            if (notes[side].nf[r] != 5) { bad_fields++; continue; }
            const char **g = gt_row(&gt, f[0]);
            bool test_side = g && (strcmp(g[2], "test") == 0 || strcmp(g[2], "distractor") == 0);
            if (!g || test_side != (side == 1)) bad_split++;
            if (g && atoi(g[5]) != nl_synth_content_length(f[2])) bad_len++;
            /* Hashtags in Xiaohongshu form: "#<word>[话题]#". */
            const char *h = strstr(f[2], "[话题]#");
            if (!h || h == f[2] || !memchr(f[2], '#', (size_t)(h - f[2]))) bad_tag++;
            size_t cl = strlen(f[4]);
            if (cl < 4 || f[4][cl - 1] != '@' || !strchr(f[4], '@') || strchr(f[4], '@') == f[4] + cl - 1) bad_cat++;
            snprintf(p, sizeof p, "%s/%s/%s", in_root(name), imgdir[side], f[3]);
            nl_image im;
            if (strchr(f[3], '.') || nl_image_load(&im, p) != NL_OK) { bad_img++; continue; }
            if (im.width != o->image_size || im.height != o->image_size || im.channels != 3) bad_img++;
            nl_image_free(&im);
        }
    }
    h_check(bad_fields == 0 && bad_split == 0, "%s: %zu notes, every row has 5 fields and the right file (%zu, %zu bad)",
            name, n_notes, bad_fields, bad_split);
    h_check(n_notes == gt.n, "%s: notes_items.csv covers every note (%zu vs %zu)", name, gt.n, n_notes);
    h_check(bad_img == 0, "%s: every image is an extension-less PNG decoding to %dx%d RGB (%zu bad)", name,
            o->image_size, o->image_size, bad_img);
    h_check(bad_tag == 0, "%s: every content holds a #tag[话题]# hashtag (%zu without)", name, bad_tag);
    h_check(bad_cat == 0, "%s: every category is Level1@Level2@ (%zu bad)", name, bad_cat);
    h_check(bad_len == 0, "%s: recorded content lengths match nl_synth_content_length (%zu bad)", name, bad_len);

    /* Pairs. */
    static const char *pf[] = {"note_pairs_train.csv", "note_pairs_val.csv", "note_pairs_test.csv",
                               "note_pairs_test_shortquery.csv", "note_pairs_test_longquery.csv",
                               "note_pairs_test_shortgtdoc.csv", "note_pairs_test_longgtdoc.csv",
                               "note_pairs_test_textlinked.csv", "note_pairs_test_imagelinked.csv",
                               "note_pairs_test_both.csv"};
    const int64_t want[] = {s->pairs_train, s->pairs_val, s->pairs_test, s->pairs_test_shortquery,
                            s->pairs_test_longquery, s->pairs_test_shortgtdoc, s->pairs_test_longgtdoc,
                            s->pairs_test_textlinked, s->pairs_test_imagelinked, s->pairs_test_both};
    size_t got[10];
    for (int k = 0; k < 10; k++) {
        table t;
        snprintf(p, sizeof p, "%s/%s", in_root(name), pf[k]);
        if (!h_check(read_csv(&t, p), "%s: read %s", name, pf[k])) continue;
        got[k] = t.n;
        size_t bad = 0, cross = 0, self = 0;
        for (size_t r = 0; r < t.n; r++) {
            const char **a = t.nf[r] == 2 ? gt_row(&gt, t.row[r][0]) : NULL;
            const char **b = t.nf[r] == 2 ? gt_row(&gt, t.row[r][1]) : NULL;
            if (!a || !b) { bad++; continue; }
            self += strcmp(a[0], b[0]) == 0;
            bool same = strcmp(a[1], b[1]) == 0;
            cross += !same;
            const char *want_split = k == 0 ? "train" : k == 1 ? "val" : "test";
            if (strcmp(a[2], want_split) != 0) bad++;                 /* query item's split */
            if (k == 0 && strcmp(b[2], "train")) bad++;               /* train items only */
            if (k >= 1 && !same) bad++;                               /* eval pairs: one item */
            if (strcmp(a[4], b[4]) != 0) bad++;                       /* same category */
            if (k == 3 && a[6][0] != '1') bad++;
            if (k == 4 && a[6][0] != '0') bad++;
            if (k == 5 && b[6][0] != '1') bad++;
            if (k == 6 && b[6][0] != '0') bad++;
            if (k >= 7 && strcmp(a[3], (const char *[]){"text", "image", "both"}[k - 7]) != 0) bad++;
        }
        h_check((int64_t)t.n == want[k] && bad == 0 && self == 0,
                "%s: %s: %zu pairs (stats %lld), %zu violate the split/item/length/modality rule, %zu self pairs",
                name, pf[k], t.n, (long long)want[k], bad, self);
        if (k == 0)
            h_check((int64_t)cross == s->pairs_train_cross_item && (!all_same_item || cross == 0) &&
                        cross * 10 < t.n,
                    "%s: %zu cross-item (same-category) training pairs, as recorded", name, cross);
        free_csv(&t);
    }
    h_check(got[3] + got[4] == got[2] && got[5] + got[6] == got[2] && got[7] + got[8] + got[9] == got[2],
            "%s: short+long query, short+long target and the three modality splits partition the %zu test pairs",
            name, got[2]);
    h_check(got[0] > 0 && got[1] > 0 && got[3] > 0 && got[4] > 0 && got[5] > 0 && got[6] > 0 && got[7] > 0 &&
                got[8] > 0 && got[9] > 0,
            "%s: no pair file is empty", name);
    int64_t pairs_max = (o->items) * o->notes_max * o->top_t;
    h_check(s->pairs_train + s->pairs_val + s->pairs_test > pairs_max / 4, "%s: plenty of pairs (%lld)", name,
            (long long)(s->pairs_train + s->pairs_val + s->pairs_test));
    h_check(s->notes_short > 0 && s->notes_short * 2 < (int64_t)n_notes,
            "%s: short notes exist and are a minority (%lld of %zu, threshold %d)", name,
            (long long)s->notes_short, n_notes, s->short_threshold);

    /* dataset.json records parameters and counts. */
    size_t jn;
    snprintf(p, sizeof p, "%s/dataset.json", in_root(name));
    char *j = slurp(p, &jn);
    char needle[128];
    snprintf(needle, sizeof needle, "\"pairs_test\":\t%lld", (long long)s->pairs_test);
    h_check(j && strstr(j, "\"top_t\":\t4") && strstr(j, needle) && strstr(j, "\"short_threshold\"") &&
                strstr(j, "\"seed\":"),
            "%s: dataset.json records parameters and counts", name);
    free(j);
    free_csv(&gt);
    free_csv(&notes[0]);
    free_csv(&notes[1]);
}

static void test_structure(void)
{
    nl_synth_opts o = small_opts(7, "en");
    nl_synth_stats s = stats_a; /* "a" was written by test_determinism */
    h_check(s.images == s.notes_train + s.notes_test, "one image per note (%lld)", (long long)s.images);
    check_dir("a", &o, &s, false);
    rm_rf(in_root("a"));

    nl_synth_opts z = small_opts(3, "zh");
    z.cross_click = 0;
    if (!h_ok(nl_synth_write(in_root("z"), &z, &s), "write zh")) return;
    check_dir("z", &z, &s, true);
    /* Every text file of the zh run is valid UTF-8 and holds CJK text. */
    const char *files[] = {"notes_train.csv", "notes_test.csv", "items.csv", "dataset.json"};
    for (int k = 0; k < 4; k++) {
        char p[512];
        size_t n = 0;
        snprintf(p, sizeof p, "%s/%s", in_root("z"), files[k]);
        char *t = slurp(p, &n);
        h_check(t && valid_utf8((unsigned char *)t, n) && (k == 3 || strstr(t, "@")),
                "zh: %s is valid UTF-8 (%zu bytes)", files[k], n);
        if (k == 0) h_check(t && strstr(t, "[话题]#") && strstr(t, "。"), "zh: notes hold Chinese text and hashtags");
        free(t);
    }
    rm_rf(in_root("z"));
}

static void test_content_length(void)
{
    struct { const char *s; int want; } c[] = {
        {"abc", 3},
        {"a #tag[话题]# b", 4},                           /* "a  b" */
        {"  x\n", 2},                                     /* "  x。" stripped: "x。" */
        {"#averyverylongtagname[话题]# z", 24},           /* > 16: stays, marker gone */
        {"你好#话题一[话题]#。", 3},
        {"#t[话题]# #t[话题]# end", 3},                   /* every occurrence removed */
        {"", 0},
    };
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        int got = nl_synth_content_length(c[k].s);
        h_check(got == c[k].want, "content length of case %zu is %d (got %d)", k, c[k].want, got);
    }
    char long_s[400];
    memset(long_s, 'x', 300);
    long_s[300] = '\0';
    h_check(nl_synth_content_length(long_s) == 80, "content truncated to 80 code points");
}

static void test_bad_options(void)
{
    nl_synth_opts o = small_opts(1, "fr");
    h_expect_error(nl_synth_write(in_root("bad"), &o, NULL), NL_ERR_ARG, "lang fr");
    h_check(strstr(nl_last_error(), "\"fr\"") != NULL, "message names the language: %s", nl_last_error());
    o = small_opts(1, "en");
    o.notes_min = 1;
    h_expect_error(nl_synth_write(in_root("bad"), &o, NULL), NL_ERR_ARG, "notes_min 1");
    o = small_opts(1, "en");
    o.test_fraction = 0.6, o.val_fraction = 0.5;
    h_expect_error(nl_synth_write(in_root("bad"), &o, NULL), NL_ERR_ARG, "fractions sum over 1");
    h_expect_error(nl_synth_write(NULL, &o, NULL), NL_ERR_ARG, "NULL options and dir");
    o = small_opts(1, "en");
    h_expect_error(nl_synth_write("/nonexistent-dir/x/y", &o, NULL), NL_ERR_IO, "parent missing");
    struct stat sb;
    h_check(stat(in_root("bad"), &sb) != 0, "no directory created for bad options");
}

static void bench(void)
{
    if (!getenv("NOTELLM_SYNTH_BENCH")) return;
    nl_synth_opts o;
    nl_synth_defaults(&o);
    nl_synth_stats s;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    nl_status st = nl_synth_write(in_root("bench"), &o, &s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (st == NL_OK)
        printf("bench: %lld items + %lld distractors, %lld notes, %lld pairs, %d threads: %.2f s\n",
               (long long)o.items, (long long)o.distractor_items, (long long)(s.notes_train + s.notes_test),
               (long long)(s.pairs_train + s.pairs_val + s.pairs_test), nl_get_threads(), sec);
    else
        printf("bench: failed: %s\n", nl_last_error());
    rm_rf(in_root("bench"));
}

int main(void)
{
    h_init("synth");
    snprintf(root, sizeof root, "/tmp/nl_synth_XXXXXX");
    if (!mkdtemp(root)) { perror("mkdtemp"); return 1; }
    test_content_length();
    test_bad_options();
    test_determinism();
    test_structure();
    bench();
    rm_rf(root);
    return h_finish();
}
