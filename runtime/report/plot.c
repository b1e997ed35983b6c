/* plot.c — line plots, grouped bars and heatmaps drawn with cairo's image
 * surface and toy text API ("sans-serif"), encoded to PNG in memory and saved
 * with nl_atomic_save. Sizes scale with the image (reference 640x480, like a
 * matplotlib figure at 100 dpi). User strings are UTF-8-checked before cairo
 * sees them. Depends on error.h, io/atomic.h and cairo. */
#define _GNU_SOURCE
#include "plot.h"

#include <cairo.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic.h"

/* ---- colours ---------------------------------------------------------- */

/* Okabe & Ito (2008), "Color Universal Design", reordered blue first. */
static const uint8_t PALETTE[8][3] = {
    {0x00, 0x72, 0xB2}, /* blue */
    {0xE6, 0x9F, 0x00}, /* orange */
    {0x00, 0x9E, 0x73}, /* bluish green */
    {0xD5, 0x5E, 0x00}, /* vermillion */
    {0xCC, 0x79, 0xA7}, /* reddish purple */
    {0x56, 0xB4, 0xE9}, /* sky blue */
    {0xF0, 0xE4, 0x42}, /* yellow */
    {0x00, 0x00, 0x00}, /* black */
};

/* Viridis sampled at 10 evenly spaced points (the usual 10-colour table). */
static const uint8_t VIRIDIS[10][3] = {
    {0x44, 0x01, 0x54}, {0x48, 0x28, 0x78}, {0x3E, 0x4A, 0x89}, {0x31, 0x68, 0x8E}, {0x26, 0x82, 0x8E},
    {0x1F, 0x9E, 0x89}, {0x35, 0xB7, 0x79}, {0x6D, 0xCD, 0x59}, {0xB4, 0xDE, 0x2C}, {0xFD, 0xE7, 0x25},
};

void nl_plot_color(int i, uint8_t rgb[3])
{
    if (i < 0) i = 0;
    memcpy(rgb, PALETTE[i % 8], 3);
}

void nl_plot_viridis(double t, uint8_t rgb[3])
{
    if (!(t > 0)) t = 0; /* also NaN */
    if (t > 1) t = 1;
    double pos = t * 9;
    int k = (int)pos;
    if (k > 8) k = 8;
    double f = pos - k;
    for (int c = 0; c < 3; c++)
        rgb[c] = (uint8_t)lround(VIRIDIS[k][c] + f * (VIRIDIS[k + 1][c] - VIRIDIS[k][c]));
}

/* ---- ticks ------------------------------------------------------------ */

nl_status nl_plot_nice_ticks(double lo, double hi, int max_ticks, double *ticks, int *n, double *step)
{
    if (!ticks || !n) return nl_error_set(NL_ERR_ARG, "nl_plot_nice_ticks: ticks and n must not be NULL");
    *n = 0;
    if (!isfinite(lo) || !isfinite(hi) || lo > hi)
        return nl_error_set(NL_ERR_ARG, "nl_plot_nice_ticks: bad range [%g, %g] (finite, lo <= hi)", lo, hi);
    if (max_ticks < 2 || max_ticks > 100)
        return nl_error_set(NL_ERR_ARG, "nl_plot_nice_ticks: max_ticks %d outside [2, 100]", max_ticks);
    if (lo == hi) {
        ticks[0] = lo;
        *n = 1;
        if (step) *step = 0;
        return NL_OK;
    }
    static const double mant[3] = {1, 2, 5};
    double span = hi - lo;
    if (!isfinite(span)) span = DBL_MAX; /* [-DBL_MAX, DBL_MAX] */
    int k = (int)floor(log10(span / max_ticks)) - 1;
    for (int iter = 0; iter < 64; iter++, k++) {
        for (int m = 0; m < 3; m++) {
            double p10 = pow(10, fabs((double)k));
            double s = k < 0 ? mant[m] / p10 : mant[m] * p10;
            if (!(s > 0) || !isfinite(s)) continue;
            double i0 = ceil(lo / s - 1e-9), i1 = floor(hi / s + 1e-9);
            double cnt = i1 - i0 + 1;
            if (cnt > max_ticks) continue;
            int c = 0;
            for (double i = i0; i <= i1 && c < max_ticks; i++) {
                /* i*m / 10^-k is correctly rounded where i * 0.1 is not */
                double v = k < 0 ? (i * mant[m]) / p10 : i * s;
                ticks[c++] = v == 0 ? 0.0 : v; /* no -0 */
            }
            if (c == 0) { /* range between two multiples: show its ends */
                ticks[c++] = lo;
                ticks[c++] = hi;
            }
            *n = c;
            if (step) *step = s;
            return NL_OK;
        }
    }
    ticks[0] = lo;
    ticks[1] = hi;
    *n = 2;
    if (step) *step = hi - lo;
    return NL_OK;
}

/* ---- text ------------------------------------------------------------- */

#define TXT 256

void nl_plot_clean_text(char *out, size_t cap, const char *s, bool *cjk)
{
    size_t o = 0;
    bool wide = false;
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    while (*u && cap > 0) {
        unsigned c = *u;
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        bool ok = len > 0;
        uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
        for (size_t i = 1; ok && i < len; i++) {
            if ((u[i] & 0xC0) != 0x80) ok = false;
            else cp = (cp << 6) | (u[i] & 0x3F);
        }
        if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
                   cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
            ok = false;
        if (!ok) len = 1;
        if (o + len + 1 > cap) break;
        if (!ok) out[o++] = '?';
        else if (cp < 0x20 || cp == 0x7F) out[o++] = ' ';
        else {
            memcpy(out + o, u, len);
            o += len;
            if (cp >= 0x2E80) wide = true;
        }
        u += len;
    }
    if (cap > 0) out[o] = '\0';
    if (cjk) *cjk = wide;
}

static void clean_text(char *out, const char *s) { nl_plot_clean_text(out, TXT, s, NULL); }

typedef struct fig {
    cairo_surface_t *surf;
    cairo_t *cr;
    int w, h;
    double sc;                                  /* scale against 640x480 */
    double fs_tick, fs_label, fs_title, fs_leg; /* font sizes, px */
    double pad, ticklen, lw_axis, lw_line;
} fig;

static double text_w(fig *f, const char *s, double size)
{
    cairo_text_extents_t te;
    cairo_set_font_size(f->cr, size);
    cairo_text_extents(f->cr, s, &te);
    return te.x_advance;
}

static double font_h(fig *f, double size)
{
    cairo_font_extents_t fe;
    cairo_set_font_size(f->cr, size);
    cairo_font_extents(f->cr, &fe);
    return fe.ascent + fe.descent;
}

/* Draw s anchored at (x, y): ha 0/0.5/1 = left/centre/right of its advance,
 * va 0/0.5/1 = top/middle/bottom of the font box; rotated by angle radians
 * counter-clockwise about the anchor. */
static void text_at(fig *f, const char *s, double size, double x, double y, double ha, double va, double angle)
{
    cairo_t *cr = f->cr;
    cairo_font_extents_t fe;
    cairo_text_extents_t te;
    cairo_save(cr);
    cairo_set_font_size(cr, size);
    cairo_font_extents(cr, &fe);
    cairo_text_extents(cr, s, &te);
    cairo_translate(cr, x, y);
    if (angle != 0) cairo_rotate(cr, -angle);
    /* the box middle sits a little low for digits and capitals: use the
     * ascent of the box minus a share of the internal leading */
    double box = fe.ascent + fe.descent;
    cairo_move_to(cr, -ha * te.x_advance, -va * box + fe.ascent);
    cairo_show_text(cr, s);
    cairo_restore(cr);
}

/* Shorten s in place (whole characters) with a trailing ellipsis until it is
 * at most maxw pixels wide. */
static void fit_text(fig *f, char *s, double size, double maxw)
{
    if (text_w(f, s, size) <= maxw) return;
    size_t n = strlen(s);
    char tmp[TXT + 4];
    while (n > 0) {
        do n--; while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80);
        memcpy(tmp, s, n);
        memcpy(tmp + n, "\xE2\x80\xA6", 4); /* U+2026 */
        if (text_w(f, tmp, size) <= maxw || n == 0) break;
    }
    if (n + 4 <= TXT) {
        memcpy(s, tmp, n + 4);
    } else {
        s[0] = '\0';
    }
    if (text_w(f, s, size) > maxw) s[0] = '\0';
}

/* ---- figure: surface, sizes, PNG out ----------------------------------- */

static nl_status check_size(const char *who, int w, int h)
{
    if (w < NL_PLOT_MIN_SIZE || w > NL_PLOT_MAX_SIZE || h < NL_PLOT_MIN_SIZE || h > NL_PLOT_MAX_SIZE)
        return nl_error_set(NL_ERR_ARG, "%s: image size %dx%d outside [%d, %d] pixels", who, w, h, NL_PLOT_MIN_SIZE,
                            NL_PLOT_MAX_SIZE);
    return NL_OK;
}

static nl_status check_path(const char *who, const char *path)
{
    if (!path || !path[0]) return nl_error_set(NL_ERR_ARG, "%s: no output path", who);
    return NL_OK;
}

static nl_status cairo_err(const char *who, cairo_status_t cs)
{
    return nl_error_set(cs == CAIRO_STATUS_NO_MEMORY ? NL_ERR_OOM : NL_ERR_IO, "%s: cairo: %s", who,
                        cairo_status_to_string(cs));
}

static void fig_end(fig *f)
{
    if (f->cr) cairo_destroy(f->cr);
    if (f->surf) cairo_surface_destroy(f->surf);
    f->cr = NULL;
    f->surf = NULL;
}

static nl_status fig_begin(fig *f, const char *who, int w, int h)
{
    *f = (fig){.w = w, .h = h};
    f->surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cairo_status_t cs = cairo_surface_status(f->surf);
    if (cs != CAIRO_STATUS_SUCCESS) {
        fig_end(f);
        return cairo_err(who, cs);
    }
    f->cr = cairo_create(f->surf);
    cs = cairo_status(f->cr);
    if (cs != CAIRO_STATUS_SUCCESS) {
        fig_end(f);
        return cairo_err(who, cs);
    }
    cairo_set_source_rgb(f->cr, 1, 1, 1);
    cairo_paint(f->cr);
    cairo_select_font_face(f->cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_SLIGHT);
    cairo_set_font_options(f->cr, fo);
    cairo_font_options_destroy(fo);
    /* with the area, but legible on small images and never crowding tiny ones */
    double sc = fmax(0.55, sqrt((double)w * h / (640.0 * 480.0)));
    sc = fmin(sc, fmin(w, h) / 260.0);
    sc = fmax(0.25, fmin(sc, 8.0));
    f->sc = sc;
    f->fs_tick = 12.5 * sc;
    f->fs_leg = 12.5 * sc;
    f->fs_label = 13.5 * sc;
    f->fs_title = 16 * sc;
    f->pad = 6 * sc;
    f->ticklen = 5 * sc;
    f->lw_axis = fmax(1.0, round(1.1 * sc));
    f->lw_line = fmax(1.5, 2.1 * sc);
    return NL_OK;
}

typedef struct membuf {
    unsigned char *p;
    size_t n, cap;
} membuf;

static cairo_status_t membuf_write(void *closure, const unsigned char *data, unsigned int len)
{
    membuf *b = closure;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->n + len) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) return CAIRO_STATUS_WRITE_ERROR;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    return CAIRO_STATUS_SUCCESS;
}

/* Encode and save; always ends the figure. */
static nl_status fig_save(fig *f, const char *who, const char *path)
{
    cairo_status_t cs = cairo_status(f->cr);
    if (cs != CAIRO_STATUS_SUCCESS) {
        fig_end(f);
        return cairo_err(who, cs);
    }
    cairo_surface_flush(f->surf);
    membuf b = {0};
    cs = cairo_surface_write_to_png_stream(f->surf, membuf_write, &b);
    fig_end(f);
    if (cs != CAIRO_STATUS_SUCCESS) {
        free(b.p);
        if (cs == CAIRO_STATUS_WRITE_ERROR) cs = CAIRO_STATUS_NO_MEMORY; /* our writer only fails on OOM */
        return cairo_err(who, cs);
    }
    nl_status st = nl_atomic_save(path, b.p, b.n);
    free(b.p);
    return st == NL_OK ? NL_OK : nl_error_prefix(st, who);
}

static void set_rgb(cairo_t *cr, const uint8_t c[3], double alpha)
{
    cairo_set_source_rgba(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0, alpha);
}

/* x.5 for odd integer line widths so 1-px lines are crisp. */
static double crisp(double v, double lw)
{
    return ((int)lround(lw) % 2) ? floor(v) + 0.5 : round(v);
}

/* ---- axes (shared by line plots and bar charts) ------------------------ */

#define MAXT 24

typedef struct tick {
    double v;
    char s[48];
    char sup[16]; /* superscript exponent after s ("10" then "-3") */
} tick;

typedef struct axis {
    double lo, hi;
    bool log;
    tick t[MAXT];
    int nt;
    double minor[MAXT * 8];
    int nminor;
} axis;

typedef struct rect {
    double x0, y0, x1, y1;
} rect;

static double tick_w(fig *f, const tick *t)
{
    return text_w(f, t->s, f->fs_tick) + (t->sup[0] ? text_w(f, t->sup, f->fs_tick * 0.72) : 0);
}

static void tick_draw(fig *f, const tick *t, double x, double y, double ha, double va)
{
    double w = tick_w(f, t);
    double x0 = x - ha * w;
    text_at(f, t->s, f->fs_tick, x0, y, 0, va, 0);
    if (t->sup[0]) {
        double ws = text_w(f, t->s, f->fs_tick);
        text_at(f, t->sup, f->fs_tick * 0.72, x0 + ws, y - 0.42 * f->fs_tick, 0, va, 0);
    }
}

/* Label text for linear ticks spaced `step` apart: as many decimals as the
 * step needs, the same for all; scientific for very large or small values. */
static void fmt_linear(char *out, size_t cap, double v, double step, double maxabs)
{
    if (step > 0 && (maxabs >= 1e6 || step < 1e-4)) {
        int digits = (int)floor(log10(maxabs > 0 ? maxabs : step)) - (int)floor(log10(step));
        if (digits < 0) digits = 0;
        if (digits > 8) digits = 8;
        snprintf(out, cap, "%.*e", digits, v);
        return;
    }
    int dec = step > 0 && step < 1 ? (int)ceil(-log10(step) - 1e-9) : 0;
    if (dec > 10) dec = 10;
    snprintf(out, cap, "%.*f", dec, v == 0 ? 0.0 : v);
    if (strcmp(out, "-0") == 0 || strspn(out, "-0.") == strlen(out)) { /* "-0.0" */
        if (out[0] == '-') memmove(out, out + 1, strlen(out));
    }
}

static void axis_linear(axis *a, int maxt)
{
    double v[MAXT], step = 0;
    int n = 0;
    if (maxt > MAXT) maxt = MAXT;
    if (maxt < 2) maxt = 2;
    nl_plot_nice_ticks(a->lo, a->hi, maxt, v, &n, &step);
    double maxabs = 0;
    for (int i = 0; i < n; i++) maxabs = fmax(maxabs, fabs(v[i]));
    a->nt = n;
    a->nminor = 0;
    for (int i = 0; i < n; i++) {
        a->t[i].v = v[i];
        a->t[i].sup[0] = '\0';
        fmt_linear(a->t[i].s, sizeof a->t[i].s, v[i], step, maxabs);
    }
}

/* Log10 axis over [lo, hi] (lo > 0): decades "10^k" (every stride-th when
 * many), minor ticks 2..9 x 10^k; inside one decade, 1-2-5 multiples. */
static void axis_log(axis *a, int maxt)
{
    if (maxt > MAXT) maxt = MAXT;
    if (maxt < 2) maxt = 2;
    double l0 = log10(a->lo), l1 = log10(a->hi);
    int k0 = (int)ceil(l0 - 1e-9), k1 = (int)floor(l1 + 1e-9);
    a->nt = 0;
    a->nminor = 0;
    if (k1 - k0 + 1 >= 2) {
        int nd = k1 - k0 + 1;
        int stride = (nd + maxt - 1) / maxt;
        for (int k = k0; k <= k1; k++) {
            if (((k % stride) + stride) % stride) continue;
            tick *t = &a->t[a->nt++];
            t->v = pow(10, k);
            snprintf(t->s, sizeof t->s, "10");
            snprintf(t->sup, sizeof t->sup, "%d", k);
            if (a->nt == MAXT) break;
        }
        if (stride == 1) {
            for (int k = k0 - 1; k <= k1 && a->nminor < MAXT * 8; k++)
                for (int m = 2; m <= 9 && a->nminor < MAXT * 8; m++) {
                    double v = m * pow(10, k);
                    if (v >= a->lo && v <= a->hi) a->minor[a->nminor++] = v;
                }
        }
        return;
    }
    /* fewer than two decade ticks inside: multiples m x 10^k, all m when they fit */
    static const int sets[5][9] = {{1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 5}, {1, 2, 5}, {1, 3}, {1}};
    static const int set_n[5] = {9, 4, 3, 2, 1};
    for (int s = 0; s < 5; s++) {
        int cnt = 0;
        double v[MAXT];
        for (int k = (int)floor(l0) - 1; k <= (int)ceil(l1) && cnt < MAXT; k++)
            for (int j = 0; j < set_n[s] && cnt < MAXT; j++) {
                double x = sets[s][j] * pow(10, k);
                if (x >= a->lo * (1 - 1e-9) && x <= a->hi * (1 + 1e-9)) v[cnt++] = x;
            }
        /* log spacing is uneven: the closest pair must be as far apart as
         * maxt evenly spread ticks would be */
        bool roomy = cnt >= 2 && cnt <= maxt;
        for (int i = 1; roomy && i < cnt; i++)
            roomy = log10(v[i] / v[i - 1]) >= 0.7 * (l1 - l0) / maxt;
        if (roomy) {
            for (int i = 0; i < cnt; i++) {
                a->t[i].v = v[i];
                a->t[i].sup[0] = '\0';
                snprintf(a->t[i].s, sizeof a->t[i].s, "%g", v[i]);
            }
            a->nt = cnt;
            return;
        }
    }
    axis_linear(a, maxt);
    for (int i = 0; i < a->nt; i++) { /* a linear tick at 0 cannot be shown */
        if (a->t[i].v <= 0) {
            memmove(&a->t[i], &a->t[i + 1], (size_t)(a->nt - i - 1) * sizeof a->t[0]);
            a->nt--;
            i--;
        }
    }
}

static double axis_frac(const axis *a, double v)
{
    if (a->log) return (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo));
    return (v - a->lo) / (a->hi - a->lo);
}

/* Pixel coordinates, clamped far outside the image so cairo's fixed point
 * never overflows (the clip hides the rest). */
static double clampc(double v, double lim)
{
    if (v != v) return 0;
    return v < -lim ? -lim : v > lim ? lim : v;
}

static double map_x(const axis *a, const rect *r, double v)
{
    return clampc(r->x0 + axis_frac(a, v) * (r->x1 - r->x0), 1e5);
}

static double map_y(const axis *a, const rect *r, double v)
{
    return clampc(r->y1 - axis_frac(a, v) * (r->y1 - r->y0), 1e5);
}

/* Largest tick label width of an axis. */
static double axis_label_w(fig *f, const axis *a)
{
    double w = 0;
    for (int i = 0; i < a->nt; i++) w = fmax(w, tick_w(f, &a->t[i]));
    return w;
}

/* Grid lines (light grey) for the y ticks, and for the x ticks when xa. */
static void draw_grid(fig *f, const rect *r, const axis *xa, const axis *ya)
{
    cairo_t *cr = f->cr;
    double lw = fmax(1.0, round(0.9 * f->sc));
    cairo_save(cr);
    cairo_set_line_width(cr, lw);
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    for (int i = 0; i < ya->nt; i++) {
        double y = crisp(map_y(ya, r, ya->t[i].v), lw);
        cairo_move_to(cr, r->x0, y);
        cairo_line_to(cr, r->x1, y);
    }
    if (xa)
        for (int i = 0; i < xa->nt; i++) {
            double x = crisp(map_x(xa, r, xa->t[i].v), lw);
            cairo_move_to(cr, x, r->y0);
            cairo_line_to(cr, x, r->y1);
        }
    cairo_stroke(cr);
    cairo_restore(cr);
}

/* Frame, outward tick marks and tick labels; xa may be NULL (categorical x
 * drawn by the caller). */
static void draw_frame(fig *f, const rect *r, const axis *xa, const axis *ya)
{
    cairo_t *cr = f->cr;
    double lw = f->lw_axis;
    cairo_save(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, lw);
    cairo_rectangle(cr, crisp(r->x0, lw), crisp(r->y0, lw), crisp(r->x1, lw) - crisp(r->x0, lw),
                    crisp(r->y1, lw) - crisp(r->y0, lw));
    cairo_stroke(cr);
    for (int i = 0; i < ya->nt; i++) {
        double y = crisp(map_y(ya, r, ya->t[i].v), lw);
        cairo_move_to(cr, r->x0, y);
        cairo_line_to(cr, r->x0 - f->ticklen, y);
    }
    for (int i = 0; i < ya->nminor; i++) {
        double y = crisp(map_y(ya, r, ya->minor[i]), lw);
        cairo_move_to(cr, r->x0, y);
        cairo_line_to(cr, r->x0 - f->ticklen * 0.55, y);
    }
    if (xa)
        for (int i = 0; i < xa->nt; i++) {
            double x = crisp(map_x(xa, r, xa->t[i].v), lw);
            cairo_move_to(cr, x, r->y1);
            cairo_line_to(cr, x, r->y1 + f->ticklen);
        }
    cairo_stroke(cr);
    for (int i = 0; i < ya->nt; i++)
        tick_draw(f, &ya->t[i], r->x0 - f->ticklen - f->pad * 0.6, map_y(ya, r, ya->t[i].v), 1, 0.5);
    if (xa)
        for (int i = 0; i < xa->nt; i++)
            tick_draw(f, &xa->t[i], map_x(xa, r, xa->t[i].v), r->y1 + f->ticklen + f->pad * 0.5, 0.5, 0);
    cairo_restore(cr);
}

/* Title above the plot area, x label below the tick labels, y label rotated
 * at the left edge. */
static void draw_titles(fig *f, const rect *r, const char *title, const char *xlabel, const char *ylabel)
{
    char buf[TXT];
    cairo_set_source_rgb(f->cr, 0, 0, 0);
    if (title && title[0]) {
        clean_text(buf, title);
        fit_text(f, buf, f->fs_title, f->w - 2 * f->pad);
        double cx = fmin(fmax((r->x0 + r->x1) / 2, text_w(f, buf, f->fs_title) / 2 + f->pad),
                         f->w - text_w(f, buf, f->fs_title) / 2 - f->pad);
        text_at(f, buf, f->fs_title, cx, r->y0 - f->pad * 1.2, 0.5, 1, 0);
    }
    if (xlabel && xlabel[0]) {
        clean_text(buf, xlabel);
        fit_text(f, buf, f->fs_label, f->w - 2 * f->pad);
        text_at(f, buf, f->fs_label, (r->x0 + r->x1) / 2, f->h - f->pad, 0.5, 1, 0);
    }
    if (ylabel && ylabel[0]) {
        clean_text(buf, ylabel);
        fit_text(f, buf, f->fs_label, f->h - 2 * f->pad);
        text_at(f, buf, f->fs_label, f->pad, (r->y0 + r->y1) / 2, 0.5, 0, M_PI / 2);
    }
}

static bool has_text(const char *s) { return s && s[0]; }

/* ---- legend ----------------------------------------------------------- */

typedef struct legend {
    int n;
    char (*label)[TXT];
    uint8_t (*rgb)[3];
    bool patch; /* square patches (bars) instead of line samples */
    double w, h, row_h, sample_w;
} legend;

static void legend_measure(fig *f, legend *lg)
{
    double tw = 0;
    for (int i = 0; i < lg->n; i++) {
        fit_text(f, lg->label[i], f->fs_leg, f->w * 0.4);
        tw = fmax(tw, text_w(f, lg->label[i], f->fs_leg));
    }
    lg->row_h = font_h(f, f->fs_leg) * 1.15;
    lg->sample_w = lg->patch ? f->fs_leg * 1.4 : f->fs_leg * 2.2;
    lg->w = f->pad * 1.2 + lg->sample_w + f->pad * 1.1 + tw + f->pad * 1.2;
    lg->h = f->pad * 0.9 * 2 + lg->row_h * lg->n;
}

/* Candidate boxes in the plot area, in matplotlib's "best" search order. */
static int legend_candidates(fig *f, const legend *lg, const rect *r, rect *c)
{
    double m = f->pad * 1.2, w = lg->w, h = lg->h;
    double cx = (r->x0 + r->x1 - w) / 2, cy = (r->y0 + r->y1 - h) / 2;
    double xs[7] = {r->x1 - m - w, r->x0 + m, r->x0 + m, r->x1 - m - w, r->x1 - m - w, cx, cx};
    double ys[7] = {r->y0 + m, r->y0 + m, r->y1 - m - h, r->y1 - m - h, cy, r->y1 - m - h, r->y0 + m};
    for (int i = 0; i < 7; i++) c[i] = (rect){xs[i], ys[i], xs[i] + w, ys[i] + h};
    return 7;
}

static void legend_draw(fig *f, const legend *lg, const rect *box)
{
    cairo_t *cr = f->cr;
    double rad = f->pad * 0.6, x0 = box->x0, y0 = box->y0, x1 = box->x1, y1 = box->y1;
    double lw = fmax(1.0, round(f->sc));
    cairo_save(cr);
    cairo_new_sub_path(cr);
    cairo_arc(cr, x1 - rad, y0 + rad, rad, -M_PI / 2, 0);
    cairo_arc(cr, x1 - rad, y1 - rad, rad, 0, M_PI / 2);
    cairo_arc(cr, x0 + rad, y1 - rad, rad, M_PI / 2, M_PI);
    cairo_arc(cr, x0 + rad, y0 + rad, rad, M_PI, 3 * M_PI / 2);
    cairo_close_path(cr);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
    cairo_set_line_width(cr, lw);
    cairo_stroke(cr);
    for (int i = 0; i < lg->n; i++) {
        double cy = y0 + f->pad * 0.9 + lg->row_h * (i + 0.5);
        double sx = x0 + f->pad * 1.2;
        set_rgb(cr, lg->rgb[i], 1);
        if (lg->patch) {
            double s = f->fs_leg * 0.8;
            cairo_rectangle(cr, sx + (lg->sample_w - s * 1.6) / 2, cy - s / 2, s * 1.6, s);
            cairo_fill(cr);
        } else {
            cairo_set_line_width(cr, f->lw_line);
            cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
            cairo_move_to(cr, sx, cy);
            cairo_line_to(cr, sx + lg->sample_w, cy);
            cairo_stroke(cr);
        }
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(f, lg->label[i], f->fs_leg, sx + lg->sample_w + f->pad * 1.1, cy, 0, 0.5, 0);
    }
    cairo_restore(cr);
}

static bool in_rect(const rect *r, double x, double y)
{
    return x >= r->x0 && x <= r->x1 && y >= r->y0 && y <= r->y1;
}

/* ---- line plots ------------------------------------------------------- */

typedef struct series {
    char *label;
    double *x, *y;
    size_t n;
} series;

struct nl_plot {
    char *title, *xlabel, *ylabel;
    series *s;
    size_t ns, cap;
    bool log_y;
    double ylo, yhi; /* NaN: automatic */
    int smooth;
};

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *oom = true;
    return d;
}

nl_status nl_plot_new(nl_plot **out, const char *title, const char *xlabel, const char *ylabel)
{
    if (!out) return nl_error_set(NL_ERR_ARG, "nl_plot_new: out must not be NULL");
    *out = NULL;
    nl_plot *p = calloc(1, sizeof *p);
    if (!p) return nl_error_set(NL_ERR_OOM, "nl_plot_new: out of memory");
    bool oom = false;
    p->title = dup_or_null(title, &oom);
    p->xlabel = dup_or_null(xlabel, &oom);
    p->ylabel = dup_or_null(ylabel, &oom);
    p->ylo = p->yhi = NAN;
    if (oom) {
        nl_plot_free(p);
        return nl_error_set(NL_ERR_OOM, "nl_plot_new: out of memory");
    }
    *out = p;
    return NL_OK;
}

void nl_plot_free(nl_plot *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->ns; i++) {
        free(p->s[i].label);
        free(p->s[i].x);
        free(p->s[i].y);
    }
    free(p->s);
    free(p->title);
    free(p->xlabel);
    free(p->ylabel);
    free(p);
}

nl_status nl_plot_add_series(nl_plot *p, const char *label, const double *x, const double *y, size_t n)
{
    const char *who = "nl_plot_add_series";
    if (!p || !y) return nl_error_set(NL_ERR_ARG, "%s: %s is NULL", who, !p ? "plot" : "y");
    if (n == 0) return nl_error_set(NL_ERR_ARG, "%s: series '%s' is empty (n = 0)", who, label ? label : "");
    if (n > SIZE_MAX / sizeof(double)) return nl_error_set(NL_ERR_ARG, "%s: n = %zu is too large", who, n);
    size_t finite = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(y[i]) && (!x || isfinite(x[i]))) finite++;
    if (finite == 0)
        return nl_error_set(NL_ERR_ARG, "%s: series '%s' has no finite point among %zu", who, label ? label : "", n);
    if (p->ns == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        series *s = realloc(p->s, cap * sizeof *s);
        if (!s) return nl_error_set(NL_ERR_OOM, "%s: out of memory", who);
        p->s = s;
        p->cap = cap;
    }
    series s = {0};
    bool oom = false;
    s.label = dup_or_null(label, &oom);
    s.x = malloc(n * sizeof(double));
    s.y = malloc(n * sizeof(double));
    if (oom || !s.x || !s.y) {
        free(s.label);
        free(s.x);
        free(s.y);
        return nl_error_set(NL_ERR_OOM, "%s: out of memory for %zu points", who, n);
    }
    for (size_t i = 0; i < n; i++) s.x[i] = x ? x[i] : (double)i;
    memcpy(s.y, y, n * sizeof(double));
    s.n = n;
    p->s[p->ns++] = s;
    return NL_OK;
}

nl_status nl_plot_set_log_y(nl_plot *p, bool on)
{
    if (!p) return nl_error_set(NL_ERR_ARG, "nl_plot_set_log_y: plot is NULL");
    p->log_y = on;
    return NL_OK;
}

nl_status nl_plot_set_y_range(nl_plot *p, double lo, double hi)
{
    if (!p) return nl_error_set(NL_ERR_ARG, "nl_plot_set_y_range: plot is NULL");
    if (isnan(lo) && isnan(hi)) {
        p->ylo = p->yhi = NAN;
        return NL_OK;
    }
    if (!isfinite(lo) || !isfinite(hi) || !(lo < hi))
        return nl_error_set(NL_ERR_ARG, "nl_plot_set_y_range: bad range [%g, %g]: need finite lo < hi "
                                        "(HINT: NaN, NaN restores the automatic range)", lo, hi);
    p->ylo = lo;
    p->yhi = hi;
    return NL_OK;
}

nl_status nl_plot_set_smoothing(nl_plot *p, int window)
{
    if (!p) return nl_error_set(NL_ERR_ARG, "nl_plot_set_smoothing: plot is NULL");
    if (window < 0) return nl_error_set(NL_ERR_ARG, "nl_plot_set_smoothing: window %d < 0", window);
    p->smooth = window > 1 ? window : 0;
    return NL_OK;
}

static bool point_ok(const nl_plot *p, double x, double y)
{
    return isfinite(x) && isfinite(y) && (!p->log_y || y > 0);
}

/* Centred moving average of the valid points in [i - w/2, i + w/2], the
 * window cut at the ends of the series (no lag in the middle, no noisy
 * spike at the ends); NaN where the point is a gap. Prefix sums over the
 * valid points make it O(n) for any window. */
static double *smooth_series(const nl_plot *p, const series *s, int w)
{
    size_t n = s->n;
    double *out = malloc(n * sizeof(double));
    double *sum = malloc((n + 1) * sizeof(double));
    size_t *cnt = malloc((n + 1) * sizeof(size_t));
    if (!out || !sum || !cnt) {
        free(out);
        free(sum);
        free(cnt);
        return NULL;
    }
    sum[0] = 0;
    cnt[0] = 0;
    for (size_t i = 0; i < n; i++) {
        bool ok = point_ok(p, s->x[i], s->y[i]);
        sum[i + 1] = sum[i] + (ok ? s->y[i] : 0);
        cnt[i + 1] = cnt[i] + ok;
    }
    size_t half = (size_t)w / 2;
    for (size_t i = 0; i < n; i++) {
        if (!point_ok(p, s->x[i], s->y[i])) {
            out[i] = NAN;
            continue;
        }
        size_t a = i > half ? i - half : 0, b = i + half + 1 < n ? i + half + 1 : n;
        out[i] = (sum[b] - sum[a]) / (double)(cnt[b] - cnt[a]);
        if (p->log_y && !(out[i] > 0)) out[i] = NAN;
    }
    free(sum);
    free(cnt);
    return out;
}

/* One polyline with gaps; isolated points become dots. */
static void stroke_series(fig *f, const nl_plot *p, const axis *xa, const axis *ya, const rect *r,
                          const double *x, const double *y, size_t n, double lw)
{
    cairo_t *cr = f->cr;
    cairo_set_line_width(cr, lw);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    size_t run = 0;
    double lx = 0, ly = 0;
    for (size_t i = 0; i <= n; i++) {
        bool ok = i < n && point_ok(p, x[i], y[i]);
        if (ok) {
            double px = map_x(xa, r, x[i]), py = map_y(ya, r, y[i]);
            if (run == 0) cairo_move_to(cr, px, py);
            else cairo_line_to(cr, px, py);
            lx = px;
            ly = py;
            run++;
        } else if (run > 0) {
            if (run == 1) {
                cairo_new_path(cr);
                cairo_arc(cr, lx, ly, lw * 1.2, 0, 2 * M_PI);
                cairo_fill(cr);
            } else {
                cairo_stroke(cr);
            }
            run = 0;
        }
        /* keep paths short so huge series do not build one giant path */
        if (ok && run >= 4096) {
            cairo_stroke(cr);
            cairo_move_to(cr, lx, ly);
            run = 2; /* the start point is already drawn: never a lone dot */
        }
    }
    cairo_new_path(cr);
}

static void darker(const uint8_t in[3], uint8_t out[3], double k)
{
    for (int c = 0; c < 3; c++) out[c] = (uint8_t)lround(in[c] * k);
}

nl_status nl_plot_save_png(const nl_plot *p, const char *path, int width, int height)
{
    const char *who = "nl_plot_save_png";
    if (!p) return nl_error_set(NL_ERR_ARG, "%s: plot is NULL", who);
    NL_TRY(check_path(who, path));
    NL_TRY(check_size(who, width, height));
    if (p->ns == 0)
        return nl_error_set(NL_ERR_ARG, "%s: the plot has no series (HINT: nl_plot_add_series first)", who);
    /* data ranges */
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (size_t k = 0; k < p->ns; k++)
        for (size_t i = 0; i < p->s[k].n; i++) {
            double x = p->s[k].x[i], y = p->s[k].y[i];
            if (!point_ok(p, x, y)) continue;
            xlo = fmin(xlo, x);
            xhi = fmax(xhi, x);
            ylo = fmin(ylo, y);
            yhi = fmax(yhi, y);
        }
    if (!(xlo <= xhi))
        return nl_error_set(NL_ERR_ARG, "%s: no point to draw%s", who,
                            p->log_y ? " (HINT: a log-y plot needs y > 0)" : "");
    bool fixed_y = !isnan(p->ylo);
    if (fixed_y && p->log_y && !(p->ylo > 0))
        return nl_error_set(NL_ERR_ARG, "%s: log-y range [%g, %g] must be positive", who, p->ylo, p->yhi);

    axis xa = {.lo = xlo, .hi = xhi}, ya = {.log = p->log_y};
    {
        double span = xhi - xlo;
        if (span == 0 || !isfinite(span)) span = xlo != 0 ? fabs(xlo) * 0.2 : 1;
        if (xhi - xlo == 0) {
            xa.lo = xlo - span / 2;
            xa.hi = xhi + span / 2;
        } else {
            xa.lo = xlo - 0.05 * span;
            xa.hi = xhi + 0.05 * span;
        }
        if (!isfinite(xa.lo) || !isfinite(xa.hi)) {
            xa.lo = xlo;
            xa.hi = xhi;
        }
    }
    if (fixed_y) {
        ya.lo = p->ylo;
        ya.hi = p->yhi;
    } else if (p->log_y) {
        double l0 = log10(ylo), l1 = log10(yhi), sp = l1 - l0;
        if (sp == 0) sp = 1;
        else sp *= 0.05 * 2;
        ya.lo = pow(10, l0 - sp / 2);
        ya.hi = pow(10, l1 + sp / 2);
    } else {
        double span = yhi - ylo;
        if (span == 0 || !isfinite(span)) {
            double d = ylo != 0 ? fabs(ylo) * 0.1 : 0.5;
            ya.lo = ylo - d;
            ya.hi = yhi + d;
        } else {
            ya.lo = ylo - 0.05 * span;
            ya.hi = yhi + 0.05 * span;
        }
        if (!isfinite(ya.lo) || !isfinite(ya.hi)) {
            ya.lo = ylo;
            ya.hi = yhi;
        }
    }
    if (!(xa.lo < xa.hi) || !(ya.lo < ya.hi))
        return nl_error_set(NL_ERR_ARG, "%s: cannot scale the axes to x [%g, %g], y [%g, %g]", who, xlo, xhi, ylo,
                            yhi);

    fig f;
    NL_TRY(fig_begin(&f, who, width, height));
    cairo_t *cr = f.cr;
    /* layout: vertical margins first, then y ticks, left margin, x ticks */
    double th = font_h(&f, f.fs_tick);
    double top = has_text(p->title) ? font_h(&f, f.fs_title) + f.pad * 2.4 : f.pad * 2.5;
    double bottom = f.ticklen + f.pad * 0.5 + th + f.pad +
                    (has_text(p->xlabel) ? font_h(&f, f.fs_label) + f.pad * 0.5 : 0);
    double ph = height - top - bottom;
    if (ph < 8) ph = 8;
    int maxt_y = (int)(ph / (th * 2.6));
    if (ya.log) axis_log(&ya, maxt_y < 2 ? 2 : maxt_y);
    else axis_linear(&ya, maxt_y < 2 ? 2 : maxt_y > 10 ? 10 : maxt_y);
    double left = f.pad + (has_text(p->ylabel) ? font_h(&f, f.fs_label) + f.pad * 0.8 : 0) +
                  axis_label_w(&f, &ya) + f.ticklen + f.pad * 0.6;
    double right = f.pad * 3;
    double pw = width - left - right;
    if (pw < 8) pw = 8;
    for (int maxt = 10; maxt >= 2; maxt--) {
        axis_linear(&xa, maxt);
        double lw = axis_label_w(&f, &xa);
        double gap = xa.nt > 1 ? pw * (xa.t[1].v - xa.t[0].v) / (xa.hi - xa.lo) : pw;
        if (lw + th * 1.2 <= gap) break;
    }
    rect r = {left, top, left + pw, top + ph};
    /* the last x label must not leave the image */
    if (xa.nt > 0) {
        double over = map_x(&xa, &r, xa.t[xa.nt - 1].v) + tick_w(&f, &xa.t[xa.nt - 1]) / 2 - (width - f.pad);
        if (over > 0) r.x1 -= over;
    }

    draw_grid(&f, &r, &xa, &ya);
    /* data, clipped to the plot area */
    cairo_save(cr);
    cairo_rectangle(cr, r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0);
    cairo_clip(cr);
    nl_status st = NL_OK;
    for (size_t k = 0; k < p->ns; k++) {
        const series *s = &p->s[k];
        uint8_t c[3], dc[3];
        nl_plot_color((int)k, c);
        /* a sparse series (validation points) gets a window of at most n/10 */
        int win = p->smooth;
        if (win > 1 && (size_t)win > s->n / 10) win = (int)(s->n / 10);
        if (p->smooth > 1 && win < 2) {
            darker(c, dc, 0.8);
            set_rgb(cr, dc, 1);
            stroke_series(&f, p, &xa, &ya, &r, s->x, s->y, s->n, f.lw_line);
        } else if (p->smooth > 1) {
            double *sm = smooth_series(p, s, win);
            if (!sm) {
                st = nl_error_set(NL_ERR_OOM, "%s: out of memory", who);
                break;
            }
            set_rgb(cr, c, 0.28);
            stroke_series(&f, p, &xa, &ya, &r, s->x, s->y, s->n, f.lw_line * 0.6);
            darker(c, dc, 0.8);
            set_rgb(cr, dc, 1);
            stroke_series(&f, p, &xa, &ya, &r, s->x, sm, s->n, f.lw_line);
            free(sm);
        } else {
            set_rgb(cr, c, 1);
            stroke_series(&f, p, &xa, &ya, &r, s->x, s->y, s->n, f.lw_line);
        }
    }
    cairo_restore(cr);
    if (st != NL_OK) {
        fig_end(&f);
        return st;
    }
    draw_frame(&f, &r, &xa, &ya);
    draw_titles(&f, &r, p->title, p->xlabel, p->ylabel);

    /* legend of the labelled series, in the corner with the fewest points */
    legend lg = {0};
    for (size_t k = 0; k < p->ns; k++) lg.n += has_text(p->s[k].label);
    if (lg.n > 0) {
        lg.label = malloc((size_t)lg.n * sizeof *lg.label);
        lg.rgb = malloc((size_t)lg.n * sizeof *lg.rgb);
        if (!lg.label || !lg.rgb) {
            free(lg.label);
            free(lg.rgb);
            fig_end(&f);
            return nl_error_set(NL_ERR_OOM, "%s: out of memory", who);
        }
        int j = 0;
        for (size_t k = 0; k < p->ns; k++) {
            if (!has_text(p->s[k].label)) continue;
            clean_text(lg.label[j], p->s[k].label);
            uint8_t c[3];
            nl_plot_color((int)k, c);
            if (p->smooth > 1) darker(c, lg.rgb[j], 0.8);
            else memcpy(lg.rgb[j], c, 3);
            j++;
        }
        legend_measure(&f, &lg);
        rect cand[8];
        int nc = legend_candidates(&f, &lg, &r, cand);
        int best = 0;
        double best_score = INFINITY;
        for (int c = 0; c < nc; c++) {
            double score = 0;
            for (size_t k = 0; k < p->ns; k++) {
                const series *s = &p->s[k];
                double px = 0, py = 0;
                bool prev = false;
                for (size_t i = 0; i < s->n; i++) {
                    if (!point_ok(p, s->x[i], s->y[i])) {
                        prev = false;
                        continue;
                    }
                    double qx = map_x(&xa, &r, s->x[i]), qy = map_y(&ya, &r, s->y[i]);
                    if (in_rect(&cand[c], qx, qy)) score += 1;
                    if (prev && in_rect(&cand[c], (px + qx) / 2, (py + qy) / 2)) score += 1;
                    px = qx;
                    py = qy;
                    prev = true;
                }
            }
            if (score < best_score) {
                best_score = score;
                best = c;
            }
        }
        legend_draw(&f, &lg, &cand[best]);
        free(lg.label);
        free(lg.rgb);
    }
    return fig_save(&f, who, path);
}

/* ---- bar charts ------------------------------------------------------- */

static void fmt_value(char *out, size_t cap, double v)
{
    double a = fabs(v);
    if (a >= 1e5 || (a > 0 && a < 1e-3)) snprintf(out, cap, "%.2g", v);
    else if (a >= 100) snprintf(out, cap, "%.0f", v);
    else if (a >= 10) snprintf(out, cap, "%.1f", v);
    else snprintf(out, cap, "%.2f", v);
}

nl_status nl_plot_bars(const char *path, const char *title, int n_groups, const char *const *group_labels,
                       int n_series, const char *const *series_labels, const double *values, int width,
                       int height)
{
    const char *who = "nl_plot_bars";
    NL_TRY(check_path(who, path));
    NL_TRY(check_size(who, width, height));
    if (n_groups < 1 || n_series < 1 || n_groups > 4096 || n_series > 64)
        return nl_error_set(NL_ERR_ARG, "%s: %d groups x %d series: need 1..4096 groups and 1..64 series", who,
                            n_groups, n_series);
    if (!values) return nl_error_set(NL_ERR_ARG, "%s: values is NULL", who);
    size_t nv = (size_t)n_groups * (size_t)n_series;
    double vmin = INFINITY, vmax = -INFINITY;
    for (size_t i = 0; i < nv; i++)
        if (isfinite(values[i])) {
            vmin = fmin(vmin, values[i]);
            vmax = fmax(vmax, values[i]);
        }
    if (!(vmin <= vmax)) return nl_error_set(NL_ERR_ARG, "%s: none of the %zu values is finite", who, nv);

    fig f;
    NL_TRY(fig_begin(&f, who, width, height));
    cairo_t *cr = f.cr;
    double th = font_h(&f, f.fs_tick);
    double lo = fmin(0, vmin), hi = fmax(0, vmax);
    if (hi == lo) hi = lo + 1;

    /* group labels */
    char (*gl)[TXT] = malloc((size_t)n_groups * sizeof *gl);
    legend lg = {.patch = true};
    if (series_labels) {
        lg.n = n_series;
        lg.label = malloc((size_t)n_series * sizeof *lg.label);
        lg.rgb = malloc((size_t)n_series * sizeof *lg.rgb);
    }
    if (!gl || (series_labels && (!lg.label || !lg.rgb))) {
        free(gl);
        free(lg.label);
        free(lg.rgb);
        fig_end(&f);
        return nl_error_set(NL_ERR_OOM, "%s: out of memory", who);
    }
    for (int g = 0; g < n_groups; g++) {
        if (group_labels) clean_text(gl[g], group_labels[g]);
        else snprintf(gl[g], TXT, "%d", g + 1);
    }
    for (int s = 0; s < lg.n; s++) {
        clean_text(lg.label[s], series_labels[s]);
        nl_plot_color(s, lg.rgb[s]);
    }
    if (lg.n) legend_measure(&f, &lg);

    double top = has_text(title) ? font_h(&f, f.fs_title) + f.pad * 2.4 : f.pad * 2.5;
    /* decide on rotated group labels from an estimate of the slot width */
    double est_slot = width * 0.8 / n_groups;
    double glw = 0;
    for (int g = 0; g < n_groups; g++) glw = fmax(glw, text_w(&f, gl[g], f.fs_tick));
    bool rotate = glw + f.pad > est_slot;
    double maxlab = height * 0.28;
    if (rotate) {
        for (int g = 0; g < n_groups; g++) fit_text(&f, gl[g], f.fs_tick, maxlab / sin(M_PI / 4));
        glw = 0;
        for (int g = 0; g < n_groups; g++) glw = fmax(glw, text_w(&f, gl[g], f.fs_tick));
    }
    double lab_h = rotate ? (glw + th) * sin(M_PI / 4) : th;
    double bottom = f.ticklen + f.pad * 0.5 + lab_h + f.pad;
    double ph = fmax(8, height - top - bottom);
    bool values_shown = false;
    axis ya = {0};
    rect r = {0};
    double slot = 0, bw = 0;
    /* two passes: the second adds headroom for value labels and the legend */
    double head_px = 0;
    for (int pass = 0; pass < 2; pass++) {
        double frac = head_px / ph;
        if (frac > 0.6) frac = 0.6;
        double pad_hi = 0.05 * (hi - lo);
        double top_v = hi + pad_hi;
        if (frac > 0) top_v = (hi - lo * frac) / (1 - frac) + pad_hi;
        ya.lo = lo < 0 ? lo - 0.05 * (hi - lo) : lo;
        ya.hi = top_v;
        int maxt = (int)(ph / (th * 2.6));
        axis_linear(&ya, maxt < 2 ? 2 : maxt > 10 ? 10 : maxt);
        double left = f.pad + axis_label_w(&f, &ya) + f.ticklen + f.pad * 0.6;
        if (rotate) { /* the first rotated label reaches left of its slot */
            double reach = text_w(&f, gl[0], f.fs_tick) * cos(M_PI / 4) + f.pad;
            double slot0 = (width - f.pad * 3 - left) / n_groups / 2;
            if (reach - slot0 > left) left = reach - slot0;
        }
        r = (rect){left, top, width - f.pad * 3, top + ph};
        if (r.x1 - r.x0 < 8) r.x1 = r.x0 + 8;
        slot = (r.x1 - r.x0) / n_groups;
        bw = slot * 0.8 / n_series;
        /* value labels need room above the bars */
        char vb[32];
        double vw = 0;
        for (size_t i = 0; i < nv; i++) {
            if (!isfinite(values[i])) continue;
            fmt_value(vb, sizeof vb, values[i]);
            vw = fmax(vw, text_w(&f, vb, f.fs_tick * 0.8));
        }
        values_shown = vw <= bw * 1.08;
        if (pass == 1) break;
        head_px = values_shown ? font_h(&f, f.fs_tick * 0.8) + f.pad * 0.5 : 0;
        if (lg.n) {
            /* legend in an upper corner clear of the bars? otherwise reserve room */
            rect cand[8];
            int nc = legend_candidates(&f, &lg, &r, cand);
            bool clear = false;
            for (int c = 0; c < 2 && c < nc && !clear; c++) {
                bool hit = false;
                for (int g = 0; g < n_groups && !hit; g++)
                    for (int s = 0; s < n_series && !hit; s++) {
                        double v = values[(size_t)s * n_groups + g];
                        if (!isfinite(v)) continue;
                        double bx = r.x0 + slot * g + slot * 0.1 + bw * s;
                        double by = fmin(map_y(&ya, &r, v), map_y(&ya, &r, 0)) - head_px;
                        if (bx < cand[c].x1 && bx + bw > cand[c].x0 && by < cand[c].y1) hit = true;
                    }
                clear = !hit;
            }
            if (!clear) head_px += lg.h + f.pad * 2;
        }
    }

    draw_grid(&f, &r, NULL, &ya);
    /* bars */
    char vb[32];
    cairo_save(cr);
    cairo_rectangle(cr, r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0);
    cairo_clip(cr);
    double y0 = map_y(&ya, &r, 0);
    for (int s = 0; s < n_series; s++) {
        uint8_t c[3];
        nl_plot_color(s, c);
        for (int g = 0; g < n_groups; g++) {
            double v = values[(size_t)s * n_groups + g];
            if (!isfinite(v)) continue;
            double bx = r.x0 + slot * g + slot * 0.1 + bw * s;
            double yv = map_y(&ya, &r, v);
            set_rgb(cr, c, 1);
            double bx0 = bw >= 3 ? round(bx) : bx, bx1 = bw >= 3 ? round(bx + bw) : bx + bw;
            cairo_rectangle(cr, bx0, fmin(y0, yv), bx1 - bx0, fabs(y0 - yv));
            cairo_fill(cr);
            if (values_shown) {
                fmt_value(vb, sizeof vb, v);
                cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
                if (v >= 0) text_at(&f, vb, f.fs_tick * 0.8, bx + bw / 2, yv - f.pad * 0.3, 0.5, 1, 0);
                else text_at(&f, vb, f.fs_tick * 0.8, bx + bw / 2, yv + f.pad * 0.3, 0.5, 0, 0);
            }
        }
    }
    cairo_restore(cr);
    /* the zero line when bars go negative */
    if (lo < 0) {
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_set_line_width(cr, f.lw_axis);
        cairo_move_to(cr, r.x0, crisp(y0, f.lw_axis));
        cairo_line_to(cr, r.x1, crisp(y0, f.lw_axis));
        cairo_stroke(cr);
    }
    draw_frame(&f, &r, NULL, &ya);
    /* group ticks and labels, thinned when they would overlap */
    double need = rotate ? th * 1.1 : glw + f.pad;
    int every = 1;
    while (every < n_groups && slot * every < need) every++;
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, f.lw_axis);
    for (int g = 0; g < n_groups; g += every) {
        double cx = crisp(r.x0 + slot * (g + 0.5), f.lw_axis);
        cairo_move_to(cr, cx, r.y1);
        cairo_line_to(cr, cx, r.y1 + f.ticklen);
        cairo_stroke(cr);
        double ly = r.y1 + f.ticklen + f.pad * 0.5;
        if (rotate) text_at(&f, gl[g], f.fs_tick, cx + th * 0.3, ly, 1, 0.5, M_PI / 4);
        else text_at(&f, gl[g], f.fs_tick, cx, ly, 0.5, 0, 0);
    }
    draw_titles(&f, &r, title, NULL, NULL);
    if (lg.n) {
        rect cand[8];
        int nc = legend_candidates(&f, &lg, &r, cand);
        int best = 0;
        double best_area = INFINITY;
        for (int c = 0; c < nc; c++) {
            double area = 0;
            for (int g = 0; g < n_groups; g++)
                for (int s = 0; s < n_series; s++) {
                    double v = values[(size_t)s * n_groups + g];
                    if (!isfinite(v)) continue;
                    double bx = r.x0 + slot * g + slot * 0.1 + bw * s;
                    double yv = map_y(&ya, &r, v);
                    double ox = fmin(bx + bw, cand[c].x1) - fmax(bx, cand[c].x0);
                    double oy = fmin(fmax(y0, yv), cand[c].y1) - fmax(fmin(y0, yv) - (values_shown ? th : 0), cand[c].y0);
                    if (ox > 0 && oy > 0) area += ox * oy;
                }
            if (area < best_area) {
                best_area = area;
                best = c;
            }
        }
        legend_draw(&f, &lg, &cand[best]);
    }
    free(gl);
    free(lg.label);
    free(lg.rgb);
    return fig_save(&f, who, path);
}

/* ---- heatmaps --------------------------------------------------------- */

/* Smallest label stride from 1, 2, 5, 10, 20, 50, ... with stride * cell >= need. */
static int label_stride(double cell, double need, int n)
{
    static const int m[3] = {1, 2, 5};
    for (long p10 = 1; p10 <= n * 10L; p10 *= 10)
        for (int i = 0; i < 3; i++)
            if (cell * (double)(m[i] * p10) >= need) return (int)(m[i] * p10);
    return n > 0 ? n : 1;
}

nl_status nl_plot_heatmap(const char *path, const char *title, const float *m, int rows, int cols,
                          const char *const *row_labels, const char *const *col_labels, int width,
                          int height)
{
    const char *who = "nl_plot_heatmap";
    NL_TRY(check_path(who, path));
    NL_TRY(check_size(who, width, height));
    if (!m) return nl_error_set(NL_ERR_ARG, "%s: matrix is NULL", who);
    if (rows < 1 || cols < 1 || (int64_t)rows * cols > (1 << 24))
        return nl_error_set(NL_ERR_ARG, "%s: %d x %d matrix: need rows, cols >= 1 and at most %d cells%s", who, rows,
                            cols, 1 << 24, rows >= 1 && cols >= 1 ? " (HINT: pool or crop the matrix first)" : "");
    size_t nc = (size_t)rows * (size_t)cols;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < nc; i++)
        if (isfinite(m[i])) {
            lo = fmin(lo, m[i]);
            hi = fmax(hi, m[i]);
        }
    if (!(lo <= hi)) return nl_error_set(NL_ERR_ARG, "%s: none of the %zu values is finite", who, nc);
    double dmin = lo, dmax = hi;
    bool constant = lo == hi;
    if (constant) {
        double d = lo != 0 ? fabs(lo) * 0.1 : 0.5;
        lo -= d;
        hi += d;
    }

    fig f;
    NL_TRY(fig_begin(&f, who, width, height));
    cairo_t *cr = f.cr;
    char (*rl)[TXT] = malloc((size_t)rows * sizeof *rl);
    char (*cl)[TXT] = malloc((size_t)cols * sizeof *cl);
    if (!rl || !cl) {
        free(rl);
        free(cl);
        fig_end(&f);
        return nl_error_set(NL_ERR_OOM, "%s: out of memory for labels", who);
    }
    for (int i = 0; i < rows; i++) {
        if (row_labels) clean_text(rl[i], row_labels[i]);
        else snprintf(rl[i], TXT, "%d", i);
    }
    for (int j = 0; j < cols; j++) {
        if (col_labels) clean_text(cl[j], col_labels[j]);
        else snprintf(cl[j], TXT, "%d", j);
    }
    double th = font_h(&f, f.fs_tick), fs_small = f.fs_tick * 0.85, sh = font_h(&f, fs_small);

    /* colour bar ticks */
    axis ca = {.lo = lo, .hi = hi};
    double est_h = height * 0.7;
    int maxt = (int)(est_h / (th * 2.4));
    axis_linear(&ca, maxt < 2 ? 2 : maxt > 8 ? 8 : maxt);
    double cbw = fmax(6, 18 * f.sc), gap = fmax(4, 16 * f.sc);
    double right_w = gap + cbw + f.ticklen + f.pad * 0.5 + axis_label_w(&f, &ca) + f.pad * 2;

    /* row labels: at most a quarter of the width */
    double rlw = 0;
    for (int i = 0; i < rows; i++) {
        fit_text(&f, rl[i], f.fs_tick, width * 0.25);
        rlw = fmax(rlw, text_w(&f, rl[i], f.fs_tick));
    }
    double left = f.pad * 2 + rlw + f.ticklen + f.pad * 0.5;
    double top = (has_text(title) ? font_h(&f, f.fs_title) + f.pad * 1.5 : f.pad) + sh + f.pad * 1.2;
    double aw = fmax(4, width - left - right_w);
    /* column labels: horizontal when they fit in a cell, else vertical */
    double clw = 0;
    for (int j = 0; j < cols; j++) clw = fmax(clw, text_w(&f, cl[j], f.fs_tick));
    /* index labels are thinned instead; token labels turn vertical */
    bool rotate = col_labels && clw + f.pad > aw / cols && clw > th * 1.5;
    if (rotate) {
        clw = 0;
        for (int j = 0; j < cols; j++) {
            fit_text(&f, cl[j], f.fs_tick, height * 0.22);
            clw = fmax(clw, text_w(&f, cl[j], f.fs_tick));
        }
    }
    double bottom = f.ticklen + f.pad * 0.5 + (rotate ? clw : th) + f.pad * 1.5;
    bottom = fmax(bottom, sh + f.pad * 2.5);
    double ah = fmax(4, height - top - bottom);
    /* cells: fill the area, but keep the aspect ratio within 1:4 */
    double cw = aw / cols, ch = ah / rows;
    if (ch > 4 * cw) ch = 4 * cw;
    if (cw > 4 * ch) cw = 4 * ch;
    double hw = cw * cols, hh = ch * rows;
    /* centre heatmap + colour bar in the area; the row labels stay attached */
    double hx0 = left + (aw - hw) / 2, hy0 = top + (ah - hh) / 2;
    bool snap = cw >= 2 && ch >= 2;
    if (snap) {
        hx0 = round(hx0);
        hy0 = round(hy0);
    }
    double hx1 = hx0 + hw, hy1 = hy0 + hh;
    if (snap) {
        hx1 = round(hx1);
        hy1 = round(hy1);
    }

    /* cells */
    cairo_save(cr);
    cairo_set_antialias(cr, snap ? CAIRO_ANTIALIAS_NONE : CAIRO_ANTIALIAS_DEFAULT);
    for (int i = 0; i < rows; i++) {
        double ya = hy0 + (hy1 - hy0) * i / rows, yb = hy0 + (hy1 - hy0) * (i + 1) / rows;
        if (snap) {
            ya = round(ya);
            yb = round(yb);
        }
        for (int j = 0; j < cols; j++) {
            double xa = hx0 + (hx1 - hx0) * j / cols, xb = hx0 + (hx1 - hx0) * (j + 1) / cols;
            if (snap) {
                xa = round(xa);
                xb = round(xb);
            }
            float v = m[(size_t)i * cols + j];
            uint8_t c[3];
            if (!isfinite(v)) c[0] = c[1] = c[2] = 0xC8;
            else nl_plot_viridis(constant ? 0.5 : (v - lo) / (hi - lo), c);
            set_rgb(cr, c, 1);
            cairo_rectangle(cr, xa, ya, xb - xa, yb - ya);
            cairo_fill(cr);
        }
    }
    cairo_restore(cr);

    /* frame, ticks and labels */
    double lw = f.lw_axis;
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, lw);
    cairo_rectangle(cr, crisp(hx0, lw) - (lw > 1 ? 0 : 1), crisp(hy0, lw) - (lw > 1 ? 0 : 1),
                    crisp(hx1, lw) - crisp(hx0, lw) + (lw > 1 ? 0 : 1), crisp(hy1, lw) - crisp(hy0, lw) + (lw > 1 ? 0 : 1));
    cairo_stroke(cr);
    double rch = (hy1 - hy0) / rows, rcw = (hx1 - hx0) / cols;
    int rstep = label_stride(rch, th * 0.95, rows);
    for (int i = 0; i < rows; i += rstep) {
        double y = hy0 + rch * (i + 0.5);
        cairo_move_to(cr, hx0 - 1, crisp(y, lw));
        cairo_line_to(cr, hx0 - 1 - f.ticklen, crisp(y, lw));
        cairo_stroke(cr);
        text_at(&f, rl[i], f.fs_tick, hx0 - f.ticklen - f.pad * 0.6, y, 1, 0.5, 0);
    }
    int cstep = label_stride(rcw, rotate ? th * 0.95 : clw + f.pad, cols);
    for (int j = 0; j < cols; j += cstep) {
        double x = hx0 + rcw * (j + 0.5);
        cairo_move_to(cr, crisp(x, lw), hy1 + 1);
        cairo_line_to(cr, crisp(x, lw), hy1 + 1 + f.ticklen);
        cairo_stroke(cr);
        double ly = hy1 + f.ticklen + f.pad * 0.5;
        if (rotate) text_at(&f, cl[j], f.fs_tick, x, ly, 1, 0.5, M_PI / 2);
        else text_at(&f, cl[j], f.fs_tick, x, ly, 0.5, 0, 0);
    }

    /* colour bar: one-pixel strips from max (top) to min (bottom) */
    double bx0 = round(hx1 + gap), bx1 = round(hx1 + gap + cbw);
    double by0 = hy0, by1 = hy1;
    int strips = (int)fmax(1, round(by1 - by0));
    for (int k = 0; k < strips; k++) {
        uint8_t c[3];
        nl_plot_viridis(1 - (k + 0.5) / strips, c);
        set_rgb(cr, c, 1);
        double ya = by0 + (by1 - by0) * k / strips, yb = by0 + (by1 - by0) * (k + 1) / strips;
        cairo_rectangle(cr, bx0, ya, bx1 - bx0, yb - ya + (k + 1 < strips ? 0.5 : 0));
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, crisp(bx0, lw), crisp(by0, lw), crisp(bx1, lw) - crisp(bx0, lw), crisp(by1, lw) - crisp(by0, lw));
    cairo_stroke(cr);
    rect cbr = {bx0, by0, bx1, by1};
    for (int i = 0; i < ca.nt; i++) {
        double y = map_y(&ca, &cbr, ca.t[i].v);
        cairo_move_to(cr, bx1, crisp(y, lw));
        cairo_line_to(cr, bx1 + f.ticklen, crisp(y, lw));
        cairo_stroke(cr);
        tick_draw(&f, &ca.t[i], bx1 + f.ticklen + f.pad * 0.5, y, 0, 0.5);
    }
    /* the exact data range at the ends of the bar */
    char buf[64];
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    double bcx = (bx0 + bx1) / 2;
    snprintf(buf, sizeof buf, "max %.4g", dmax);
    double tw = text_w(&f, buf, fs_small);
    text_at(&f, buf, fs_small, fmin(bcx, width - f.pad - tw / 2), by0 - f.pad * 0.6, 0.5, 1, 0);
    snprintf(buf, sizeof buf, "min %.4g", dmin);
    tw = text_w(&f, buf, fs_small);
    text_at(&f, buf, fs_small, fmin(bcx, width - f.pad - tw / 2), by1 + f.pad * 0.6, 0.5, 0, 0);

    if (has_text(title)) {
        char tb[TXT];
        clean_text(tb, title);
        fit_text(&f, tb, f.fs_title, width - 2 * f.pad);
        double cx = (hx0 + bx1) / 2, w2 = text_w(&f, tb, f.fs_title) / 2;
        cx = fmin(fmax(cx, w2 + f.pad), width - w2 - f.pad);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(&f, tb, f.fs_title, cx, f.pad, 0.5, 0, 0);
    }
    free(rl);
    free(cl);
    return fig_save(&f, who, path);
}
