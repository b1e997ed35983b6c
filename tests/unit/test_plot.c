/* test_plot.c — the figure library: nice ticks (exact cases and properties
 * over random ranges), line plots (size, not blank, series colours, NaN gaps,
 * log-y + smoothing), grouped bars, heatmaps (cell colours follow viridis and
 * rise with the value), bad arguments, and failed saves that leave nothing
 * behind. PNGs are read back with nl_image_load; scratch files in a temp dir. */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "io/image.h"
#include "report/plot.h"

static char dir[64];

static const char *in_dir(const char *name)
{
    static char buf[2][256];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* Number of directory entries other than . and .. */
static int dir_entries(const char *d)
{
    DIR *dp = opendir(d);
    if (!dp) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(dp);
    return n;
}

static const uint8_t *px(const nl_image *im, int x, int y) { return im->pixels + ((size_t)y * im->width + x) * 3; }

static size_t count_non_white(const nl_image *im)
{
    size_t n = 0;
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x < im->width; x++) {
            const uint8_t *p = px(im, x, y);
            n += !(p[0] == 255 && p[1] == 255 && p[2] == 255);
        }
    return n;
}

static bool near_rgb(const uint8_t *p, const uint8_t c[3], int tol)
{
    return abs(p[0] - c[0]) <= tol && abs(p[1] - c[1]) <= tol && abs(p[2] - c[2]) <= tol;
}

/* p is c blended over white with coverage >= 0.4 (antialiased line pixels) */
static bool tinted(const uint8_t *p, const uint8_t c[3])
{
    int k = c[0] != 255 ? 0 : c[1] != 255 ? 1 : 2;
    double a = (255.0 - p[k]) / (255.0 - c[k]);
    if (a < 0.4 || a > 1.02) return false;
    for (int i = 0; i < 3; i++)
        if (fabs(p[i] - (255 - a * (255 - c[i]))) > 8) return false;
    return true;
}

static size_t count_rgb(const nl_image *im, const uint8_t c[3], int tol)
{
    size_t n = 0;
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x < im->width; x++) n += near_rgb(px(im, x, y), c, tol);
    return n;
}

/* Load PATH and check its size; the image stays in *im (free it). */
static bool load_sized(nl_image *im, const char *path, int w, int h, const char *what)
{
    if (!h_ok(nl_image_load(im, path), what)) return false;
    return h_check(im->width == w && im->height == h, "%s: decodes to %dx%d (want %dx%d)", what, im->width,
                   im->height, w, h);
}

/* ---- ticks ---- */

static bool ticks_are(double lo, double hi, int maxt, int n_want, const double *want)
{
    double t[100], step = -1;
    int n = 0;
    if (!h_ok(nl_plot_nice_ticks(lo, hi, maxt, t, &n, &step), "nice ticks")) return false;
    bool ok = n == n_want;
    for (int i = 0; ok && i < n; i++) ok = t[i] == want[i]; /* exact: 0.6 is 0.6, not 0.6000000000000001 */
    char got[512] = "";
    for (int i = 0; i < n; i++) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%.17g", i ? " " : "", t[i]);
    return h_check(ok, "ticks [%g, %g] max %d -> %s (step %g)", lo, hi, maxt, got, step);
}

static void test_ticks(void)
{
    ticks_are(0, 0.93, 6, 5, (double[]){0, 0.2, 0.4, 0.6, 0.8});
    ticks_are(0, 1, 6, 6, (double[]){0, 0.2, 0.4, 0.6, 0.8, 1.0});
    ticks_are(0, 1, 11, 11, (double[]){0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0});
    ticks_are(-3, 7, 6, 5, (double[]){-2, 0, 2, 4, 6});
    ticks_are(0, 1000, 5, 3, (double[]){0, 500, 1000});
    ticks_are(2.31, 2.38, 8, 8, (double[]){2.31, 2.32, 2.33, 2.34, 2.35, 2.36, 2.37, 2.38});
    ticks_are(-0.5, 0.5, 5, 5, (double[]){-0.4, -0.2, 0, 0.2, 0.4});
    ticks_are(1e6, 5e6, 5, 5, (double[]){1e6, 2e6, 3e6, 4e6, 5e6});
    ticks_are(4, 4, 5, 1, (double[]){4});
    /* properties over random ranges: inside, ascending, <= max, step 1-2-5,
     * and the next smaller 1-2-5 step would give too many ticks */
    srand(7);
    int bad = 0;
    for (int k = 0; k < 2000; k++) {
        double a = (rand() / (double)RAND_MAX - 0.5) * pow(10, rand() % 12 - 6);
        double span = pow(10, (rand() / (double)RAND_MAX) * 14 - 7);
        double lo = a, hi = a + span;
        int maxt = 2 + rand() % 10;
        double t[100], step;
        int n;
        if (nl_plot_nice_ticks(lo, hi, maxt, t, &n, &step) != NL_OK) {
            bad++;
            continue;
        }
        double eps = 1e-9 * fmax(fabs(lo), fabs(hi)) + 1e-12 * span;
        bool ok = n >= 1 && n <= maxt;
        for (int i = 0; ok && i < n; i++) ok = t[i] >= lo - eps && t[i] <= hi + eps && (i == 0 || t[i] > t[i - 1]);
        double e = floor(log10(step)), mant = step / pow(10, e);
        ok = ok && (fabs(mant - 1) < 1e-9 || fabs(mant - 2) < 1e-9 || fabs(mant - 5) < 1e-9);
        double smaller = fabs(mant - 1) < 1e-9 ? 0.5 * step : fabs(mant - 2) < 1e-9 ? 0.5 * step : 0.4 * step;
        double cnt = floor(hi / smaller + 1e-9) - ceil(lo / smaller - 1e-9) + 1;
        ok = ok && cnt > maxt;
        if (!ok && bad++ < 3)
            printf("  bad ticks for [%.17g, %.17g] max %d: n %d step %g\n", lo, hi, maxt, n, step);
    }
    h_check(bad == 0, "2000 random ranges: ticks inside, ascending, 1-2-5 step, densest allowed (%d bad)", bad);
    double t[8];
    int n;
    h_expect_error(nl_plot_nice_ticks(1, 0, 5, t, &n, NULL), NL_ERR_ARG, "ticks lo > hi");
    h_expect_error(nl_plot_nice_ticks(0, NAN, 5, t, &n, NULL), NL_ERR_ARG, "ticks NaN bound");
    h_expect_error(nl_plot_nice_ticks(0, INFINITY, 5, t, &n, NULL), NL_ERR_ARG, "ticks infinite bound");
    h_expect_error(nl_plot_nice_ticks(0, 1, 1, t, &n, NULL), NL_ERR_ARG, "ticks max_ticks 1");
    h_expect_error(nl_plot_nice_ticks(0, 1, 5, NULL, &n, NULL), NL_ERR_ARG, "ticks NULL buffer");
}

/* ---- colours ---- */

static void test_colors(void)
{
    uint8_t a[3], b[3];
    nl_plot_color(0, a);
    h_check(a[0] == 0x00 && a[1] == 0x72 && a[2] == 0xB2, "palette starts with Okabe-Ito blue");
    bool distinct = true;
    for (int i = 0; i < 8; i++)
        for (int j = i + 1; j < 8; j++) {
            nl_plot_color(i, a);
            nl_plot_color(j, b);
            distinct = distinct && memcmp(a, b, 3) != 0;
        }
    nl_plot_color(8, b);
    nl_plot_color(0, a);
    h_check(distinct && memcmp(a, b, 3) == 0, "8 distinct colours, then the palette cycles");
    nl_plot_viridis(0, a);
    nl_plot_viridis(1, b);
    h_check(a[0] == 0x44 && a[1] == 0x01 && a[2] == 0x54 && b[0] == 0xFD && b[1] == 0xE7 && b[2] == 0x25,
            "viridis ends: #440154 and #FDE725");
    double prev = -1;
    bool mono = true;
    for (int i = 0; i <= 100; i++) {
        nl_plot_viridis(i / 100.0, a);
        double lum = 0.2126 * a[0] + 0.7152 * a[1] + 0.0722 * a[2];
        mono = mono && lum > prev;
        prev = lum;
    }
    h_check(mono, "viridis luminance rises with t");
}

/* ---- line plots ---- */

static double noisy_loss(int i, unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    double u = ((*seed >> 8) & 0xFFFF) / 65536.0 - 0.5;
    return 2.5 * exp(-i / 60.0) + 0.35 + 0.25 * u;
}

static void test_line(void)
{
    enum { N = 300 };
    double train[N], val[N / 10], vx[N / 10];
    unsigned seed = 1;
    for (int i = 0; i < N; i++) train[i] = noisy_loss(i, &seed);
    for (int i = 0; i < N / 10; i++) {
        vx[i] = i * 10 + 9;
        val[i] = 2.5 * exp(-vx[i] / 70.0) + 0.45;
    }
    nl_plot *p = NULL;
    if (!h_ok(nl_plot_new(&p, "Training loss", "step", "loss"), "new plot")) return;
    h_ok(nl_plot_add_series(p, "train", NULL, train, N), "add train (x = 0..n-1)");
    h_ok(nl_plot_add_series(p, "val", vx, val, N / 10), "add val (explicit x)");
    nl_image im = {0};
    if (h_ok(nl_plot_save_png(p, in_dir("loss.png"), 640, 480), "save 640x480") &&
        load_sized(&im, in_dir("loss.png"), 640, 480, "line plot")) {
        size_t nw = count_non_white(&im);
        h_check(nw > 640 * 480 / 50 && nw < 640 * 480 / 2, "not blank: %zu non-white pixels", nw);
        uint8_t c0[3], c1[3];
        nl_plot_color(0, c0);
        nl_plot_color(1, c1);
        size_t n0 = count_rgb(&im, c0, 2), n1 = count_rgb(&im, c1, 2);
        h_check(n0 > 300 && n1 > 100, "both series colours appear (%zu, %zu pixels)", n0, n1);
        nl_image_free(&im);
    }
    /* other sizes, including the smallest and a wide strip */
    int sizes[3][2] = {{64, 64}, {1600, 300}, {300, 900}};
    for (int k = 0; k < 3; k++) {
        int w = sizes[k][0], h = sizes[k][1];
        if (h_ok(nl_plot_save_png(p, in_dir("size.png"), w, h), "save another size") &&
            load_sized(&im, in_dir("size.png"), w, h, "line plot resized")) {
            h_check(count_non_white(&im) > (size_t)(w * h) / 100, "%dx%d is not blank", w, h);
            nl_image_free(&im);
        }
    }
    /* log-y with smoothing: the darker smoothed line is drawn */
    h_ok(nl_plot_set_log_y(p, true), "log y");
    h_ok(nl_plot_set_smoothing(p, 25), "smoothing 25");
    if (h_ok(nl_plot_save_png(p, in_dir("loss-log.png"), 800, 500), "save log-y smoothed") &&
        load_sized(&im, in_dir("loss-log.png"), 800, 500, "log-y plot")) {
        uint8_t c0[3], dark[3];
        nl_plot_color(0, c0);
        for (int c = 0; c < 3; c++) dark[c] = (uint8_t)lround(c0[c] * 0.8);
        size_t nd = count_rgb(&im, dark, 2);
        h_check(nd > 300, "smoothed line in the darker shade (%zu pixels)", nd);
        nl_image_free(&im);
    }
    /* a y range that clips data still renders */
    h_ok(nl_plot_set_log_y(p, false), "linear y");
    h_ok(nl_plot_set_y_range(p, 0, 1.5), "y range [0, 1.5]");
    h_ok(nl_plot_save_png(p, in_dir("clip.png"), 640, 480), "save with a y range");
    h_ok(nl_plot_set_y_range(p, NAN, NAN), "automatic y range again");
    nl_plot_free(p);

    /* NaN breaks the line: a flat line with a hole has two runs on its row */
    double y[100];
    for (int i = 0; i < 100; i++) y[i] = (i >= 45 && i < 55) ? NAN : 1.0;
    if (!h_ok(nl_plot_new(&p, NULL, NULL, NULL), "new plot")) return;
    h_ok(nl_plot_add_series(p, NULL, NULL, y, 100), "flat series with NaN hole");
    if (h_ok(nl_plot_save_png(p, in_dir("gap.png"), 400, 300), "save gap") &&
        load_sized(&im, in_dir("gap.png"), 400, 300, "gap plot")) {
        uint8_t c0[3];
        nl_plot_color(0, c0);
        int best_row = -1, best = 0;
        for (int r = 0; r < im.height; r++) {
            int n = 0;
            for (int x = 0; x < im.width; x++) n += tinted(px(&im, x, r), c0);
            if (n > best) {
                best = n;
                best_row = r;
            }
        }
        int runs = 0;
        bool in = false;
        for (int x = 0; best_row >= 0 && x < im.width; x++) {
            bool c = tinted(px(&im, x, best_row), c0);
            if (c && !in) runs++;
            in = c;
        }
        h_check(runs == 2, "NaN points break the line: %d runs on row %d", runs, best_row);
        nl_image_free(&im);
    }
    /* an isolated point between gaps is still visible */
    double iso[5] = {NAN, 1, NAN, NAN, NAN};
    nl_plot *q = NULL;
    nl_plot_new(&q, NULL, NULL, NULL);
    h_ok(nl_plot_add_series(q, "one", NULL, iso, 5), "series with one finite point");
    if (h_ok(nl_plot_save_png(q, in_dir("dot.png"), 200, 200), "save single point") &&
        load_sized(&im, in_dir("dot.png"), 200, 200, "single point")) {
        uint8_t c0[3];
        nl_plot_color(0, c0);
        size_t n = 0;
        for (int yy = 0; yy < im.height; yy++)
            for (int x = 0; x < im.width; x++) n += tinted(px(&im, x, yy), c0);
        h_check(n >= 4, "a lone point is drawn as a dot (%zu pixels)", n);
        nl_image_free(&im);
    }
    nl_plot_free(q);
    nl_plot_free(p);
}

/* ---- bars ---- */

static void test_bars(void)
{
    const char *groups[4] = {"R@1", "R@5", "R@10", "R@50"};
    const char *series[3] = {"image→text", "text→image", "baseline"};
    double v[12] = {0.31, 0.58, 0.69, 0.88, 0.27, 0.52, 0.64, 0.85, 0.12, 0.30, 0.41, NAN};
    nl_image im = {0};
    if (h_ok(nl_plot_bars(in_dir("bars.png"), "Retrieval recall@K", 4, groups, 3, series, v, 640, 480), "bars") &&
        load_sized(&im, in_dir("bars.png"), 640, 480, "bar chart")) {
        size_t nw = count_non_white(&im);
        h_check(nw > 640 * 480 / 20, "not blank: %zu non-white pixels", nw);
        for (int s = 0; s < 3; s++) {
            uint8_t c[3];
            nl_plot_color(s, c);
            size_t n = count_rgb(&im, c, 0);
            h_check(n > 1000, "series %d colour fills bars (%zu pixels)", s, n);
        }
        nl_image_free(&im);
    }
    /* no labels, negative values, many groups */
    double w[60];
    for (int i = 0; i < 60; i++) w[i] = sin(i * 0.3) * 5;
    if (h_ok(nl_plot_bars(in_dir("bars2.png"), NULL, 60, NULL, 1, NULL, w, 500, 200), "60 unlabelled bars") &&
        load_sized(&im, in_dir("bars2.png"), 500, 200, "many bars"))
        nl_image_free(&im);
}

/* ---- heatmaps ---- */

static void test_heatmap(void)
{
    enum { N = 8 };
    float ramp[N];
    for (int i = 0; i < N; i++) ramp[i] = (float)(i * 0.125 + 0.5);
    nl_image im = {0};
    const int W = 800, H = 300;
    if (h_ok(nl_plot_heatmap(in_dir("ramp.png"), "ramp", ramp, 1, N, NULL, NULL, W, H), "1x8 ramp") &&
        load_sized(&im, in_dir("ramp.png"), W, H, "heatmap ramp")) {
        /* runs of one non-grey colour along the middle row: the cells */
        int y = H / 2, x = 0, found = 0;
        uint8_t cell[N][3];
        while (x < W && found < N) {
            const uint8_t *p = px(&im, x, y);
            int e = x;
            while (e < W && memcmp(px(&im, e, y), p, 3) == 0) e++;
            bool grey = p[0] == p[1] && p[1] == p[2];
            if (!grey && e - x >= 20) memcpy(cell[found++], p, 3);
            x = e;
        }
        bool exact = found == N, mono = found == N;
        for (int i = 0; i < found; i++) {
            uint8_t want[3];
            nl_plot_viridis(i / (double)(N - 1), want);
            exact = exact && near_rgb(cell[i], want, 1);
            if (i > 0) {
                double l0 = 0.2126 * cell[i - 1][0] + 0.7152 * cell[i - 1][1] + 0.0722 * cell[i - 1][2];
                double l1 = 0.2126 * cell[i][0] + 0.7152 * cell[i][1] + 0.0722 * cell[i][2];
                mono = mono && l1 > l0;
            }
        }
        h_check(found == N, "%d cells found along the middle row", found);
        h_check(exact, "cell colours are viridis of the normalised value");
        h_check(mono, "cell colours rise monotonically with the value");
        nl_image_free(&im);
    }
    /* attention-like map with token labels, a NaN cell, thinning */
    enum { T = 40 };
    float *att = malloc(sizeof(float) * T * T);
    const char *tok[T];
    char names[T][16];
    for (int i = 0; i < T; i++) {
        snprintf(names[i], sizeof names[i], i % 7 ? "tok%d" : "▁longer_token_%d", i);
        tok[i] = names[i];
        double s = 0;
        for (int j = 0; j < T; j++) s += (j <= i) ? exp(-0.3 * (i - j)) : 0;
        for (int j = 0; j < T; j++) att[i * T + j] = (float)((j <= i) ? exp(-0.3 * (i - j)) / s : 0);
    }
    att[5] = NAN;
    if (h_ok(nl_plot_heatmap(in_dir("attn.png"), "Attention, layer 3 head 1", att, T, T, tok, tok, 700, 600),
             "40x40 attention with labels") &&
        load_sized(&im, in_dir("attn.png"), 700, 600, "attention heatmap")) {
        uint8_t lo[3], hi[3];
        nl_plot_viridis(0, lo);
        nl_plot_viridis(1, hi);
        h_check(count_rgb(&im, lo, 0) > 1000 && count_rgb(&im, hi, 0) > 20, "min and max colours present");
        nl_image_free(&im);
    }
    /* constant matrix and a big thin one (many labels) */
    float cst[6] = {2, 2, 2, 2, 2, 2};
    h_ok(nl_plot_heatmap(in_dir("const.png"), NULL, cst, 2, 3, NULL, NULL, 64, 64), "constant 2x3 at 64x64");
    h_ok(nl_plot_heatmap(in_dir("wide.png"), "wide", att, 4, 400, NULL, NULL, 900, 300), "4x400 heatmap");
    free(att);
}

/* ---- bad arguments and failed saves ---- */

static void test_bad(void)
{
    nl_plot *p = NULL;
    double y[3] = {1, 2, 3}, nan3[3] = {NAN, INFINITY, -INFINITY};
    h_expect_error(nl_plot_new(NULL, "t", NULL, NULL), NL_ERR_ARG, "new with NULL out");
    h_ok(nl_plot_new(&p, "t", "x", "y"), "new");
    h_expect_error(nl_plot_save_png(p, in_dir("empty.png"), 640, 480), NL_ERR_ARG, "save with no series");
    h_expect_error(nl_plot_add_series(p, "e", NULL, y, 0), NL_ERR_ARG, "empty series (n = 0)");
    h_expect_error(nl_plot_add_series(p, "e", NULL, NULL, 3), NL_ERR_ARG, "NULL y");
    h_expect_error(nl_plot_add_series(NULL, "e", NULL, y, 3), NL_ERR_ARG, "NULL plot");
    h_expect_error(nl_plot_add_series(p, "nan", NULL, nan3, 3), NL_ERR_ARG, "all non-finite y");
    h_expect_error(nl_plot_add_series(p, "nanx", nan3, y, 3), NL_ERR_ARG, "all non-finite x");
    h_ok(nl_plot_add_series(p, "ok", NULL, y, 3), "valid series");
    int bad_sizes[5][2] = {{63, 480}, {640, 63}, {8193, 480}, {640, 8193}, {0, -1}};
    for (int k = 0; k < 5; k++)
        h_expect_error(nl_plot_save_png(p, in_dir("bad.png"), bad_sizes[k][0], bad_sizes[k][1]), NL_ERR_ARG,
                       "size out of [64, 8192]");
    h_check(strstr(nl_last_error(), "0x-1") != NULL, "message names the size: %s", nl_last_error());
    h_expect_error(nl_plot_save_png(p, NULL, 640, 480), NL_ERR_ARG, "NULL path");
    h_expect_error(nl_plot_set_y_range(p, 1, 1), NL_ERR_ARG, "y range lo == hi");
    h_expect_error(nl_plot_set_y_range(p, 0, INFINITY), NL_ERR_ARG, "y range infinite");
    h_expect_error(nl_plot_set_smoothing(p, -2), NL_ERR_ARG, "negative smoothing window");
    h_ok(nl_plot_set_y_range(p, -1, 5), "y range [-1, 5]");
    h_ok(nl_plot_set_log_y(p, true), "log y");
    h_expect_error(nl_plot_save_png(p, in_dir("bad.png"), 640, 480), NL_ERR_ARG, "log-y with a range below 0");
    h_ok(nl_plot_set_y_range(p, NAN, NAN), "auto range");
    double neg[3] = {-1, 0, -3};
    nl_plot *q = NULL;
    nl_plot_new(&q, NULL, NULL, NULL);
    h_ok(nl_plot_add_series(q, "neg", NULL, neg, 3), "non-positive series");
    nl_plot_set_log_y(q, true);
    h_expect_error(nl_plot_save_png(q, in_dir("bad.png"), 640, 480), NL_ERR_ARG, "log-y with nothing positive");
    nl_plot_free(q);
    h_check(access(in_dir("bad.png"), F_OK) != 0 && access(in_dir("empty.png"), F_OK) != 0,
            "rejected saves wrote nothing");

    /* bars */
    const char *g[2] = {"a", "b"};
    double v[2] = {1, 2}, vn[2] = {NAN, NAN};
    h_expect_error(nl_plot_bars(in_dir("b.png"), "t", 0, g, 1, NULL, v, 640, 480), NL_ERR_ARG, "bars: 0 groups");
    h_expect_error(nl_plot_bars(in_dir("b.png"), "t", 2, g, 0, NULL, v, 640, 480), NL_ERR_ARG, "bars: 0 series");
    h_expect_error(nl_plot_bars(in_dir("b.png"), "t", 2, g, 1, NULL, NULL, 640, 480), NL_ERR_ARG, "bars: NULL values");
    h_expect_error(nl_plot_bars(in_dir("b.png"), "t", 2, g, 1, NULL, vn, 640, 480), NL_ERR_ARG, "bars: all NaN");
    h_expect_error(nl_plot_bars(in_dir("b.png"), "t", 2, g, 1, NULL, v, 32, 480), NL_ERR_ARG, "bars: width 32");
    /* heatmaps */
    float m[4] = {1, 2, 3, 4}, mn[4] = {NAN, NAN, INFINITY, NAN};
    h_expect_error(nl_plot_heatmap(in_dir("h.png"), "t", m, 0, 4, NULL, NULL, 640, 480), NL_ERR_ARG, "heatmap: 0 rows");
    h_expect_error(nl_plot_heatmap(in_dir("h.png"), "t", m, 2, -2, NULL, NULL, 640, 480), NL_ERR_ARG,
                   "heatmap: negative cols");
    h_expect_error(nl_plot_heatmap(in_dir("h.png"), "t", NULL, 2, 2, NULL, NULL, 640, 480), NL_ERR_ARG,
                   "heatmap: NULL matrix");
    h_expect_error(nl_plot_heatmap(in_dir("h.png"), "t", mn, 2, 2, NULL, NULL, 640, 480), NL_ERR_ARG,
                   "heatmap: nothing finite");
    h_expect_error(nl_plot_heatmap(in_dir("h.png"), "t", m, 1 << 13, 1 << 13, NULL, NULL, 640, 480), NL_ERR_ARG,
                   "heatmap: 2^26 cells");
    h_expect_error(nl_plot_heatmap(in_dir("h.png"), "t", m, 2, 2, NULL, NULL, 640, 9000), NL_ERR_ARG,
                   "heatmap: height 9000");
    /* invalid UTF-8 in labels is drawn, not fatal */
    const char *badutf[2] = {"\xff\xfe", "ok\x01"};
    h_ok(nl_plot_heatmap(in_dir("utf.png"), "bad \xc3(", m, 2, 2, badutf, badutf, 200, 200), "invalid UTF-8 labels");

    /* a save into a missing directory fails with an io-error and leaves nothing */
    int before = dir_entries(dir);
    const char *missing = in_dir("no-such-dir/plot.png");
    h_expect_error(nl_plot_save_png(p, missing, 640, 480), NL_ERR_IO, "line plot into a missing directory");
    h_expect_error(nl_plot_bars(missing, "t", 2, g, 1, NULL, v, 640, 480), NL_ERR_IO, "bars into a missing directory");
    h_expect_error(nl_plot_heatmap(missing, "t", m, 2, 2, NULL, NULL, 640, 480), NL_ERR_IO,
                   "heatmap into a missing directory");
    h_check(strstr(nl_last_error(), "nl_plot_heatmap") && strstr(nl_last_error(), "no-such-dir"),
            "message names the call and the path: %s", nl_last_error());
    h_check(dir_entries(dir) == before && access(in_dir("no-such-dir"), F_OK) != 0,
            "nothing left behind (%d entries before, %d after)", before, dir_entries(dir));

    /* replacing an existing file works and leaves no temporary file */
    FILE *fp = fopen(in_dir("replace.png"), "w");
    fputs("old", fp);
    fclose(fp);
    before = dir_entries(dir);
    nl_image im = {0};
    h_ok(nl_plot_save_png(p, in_dir("replace.png"), 100, 100), "save over an existing file");
    h_check(dir_entries(dir) == before, "no temporary file remains");
    if (h_ok(nl_image_load(&im, in_dir("replace.png")), "replaced file decodes")) nl_image_free(&im);
    nl_plot_free(p);
    nl_plot_free(NULL);
}

static void cleanup(void)
{
    DIR *dp = opendir(dir);
    if (dp) {
        struct dirent *e;
        while ((e = readdir(dp)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink(in_dir(e->d_name));
        closedir(dp);
    }
    rmdir(dir);
}

int main(void)
{
    h_init("plot");
    snprintf(dir, sizeof dir, "/tmp/nl_plot_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_ticks();
    test_colors();
    test_line();
    test_bars();
    test_heatmap();
    test_bad();
    cleanup();
    return h_finish();
}
