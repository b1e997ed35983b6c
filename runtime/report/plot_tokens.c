/* plot_tokens.c — the per-token attention bar chart and the patch overlay
 * of the probes: cairo
 * image surface, toy text API with the family chosen per label (CJK labels
 * ask fontconfig for a CJK family), PNG encoded in memory and saved with
 * nl_atomic_save. */
#define _GNU_SOURCE
#include "plot_tokens.h"

#include <cairo.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic.h"
#include "plot.h"

#define WHO "plot tokens"
#define LABEL_MAX 64

static void clean_label(char *out, const char *s, bool *cjk) { nl_plot_clean_text(out, LABEL_MAX, s, cjk); }

static void set_font(cairo_t *cr, bool cjk, double size)
{
    cairo_select_font_face(cr, cjk ? "Noto Sans CJK SC" : "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static const double CLASS_RGB[4][3] = {
    {0.00, 0.45, 0.70}, /* text: blue */
    {0.90, 0.62, 0.00}, /* image: orange */
    {0.55, 0.55, 0.55}, /* sink: grey */
    {0.85, 0.85, 0.85}, /* pad: light grey */
};

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
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    return CAIRO_STATUS_SUCCESS;
}

/* Axes, bars and labels on cr (w x h). */
static void draw(cairo_t *cr, int w, int h, const char *title, const char *const *labels, const uint8_t *cls,
                 const double *v, int n)
{
    double sc = fmax(0.6, fmin(2.5, h / 500.0));
    double fs = 12 * sc, left = 60 * sc, right = 20 * sc, top = 40 * sc, bottom = fmax(0.3 * h, 90 * sc);
    double pw = w - left - right, ph = h - top - bottom;
    double vmax = 0;
    for (int i = 0; i < n; i++) vmax = fmax(vmax, v[i]);
    double ticks[12], step = 1;
    int nt = 0;
    if (nl_plot_nice_ticks(0, vmax > 0 ? vmax : 1, 6, ticks, &nt, &step) != NL_OK) nt = 0;
    double ymax = nt > 0 && ticks[nt - 1] >= vmax ? ticks[nt - 1] : (vmax > 0 ? vmax : 1);
    if (nt > 0 && ticks[nt - 1] < vmax) ymax = ticks[nt - 1] + step;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    /* title */
    cairo_set_source_rgb(cr, 0, 0, 0);
    bool cjk;
    char buf[LABEL_MAX];
    clean_label(buf, title, &cjk);
    set_font(cr, cjk, 15 * sc);
    cairo_move_to(cr, left, top - 14 * sc);
    cairo_show_text(cr, buf);
    /* y grid and ticks */
    cairo_set_line_width(cr, 1);
    set_font(cr, false, fs);
    for (int k = 0; k < nt; k++) {
        double y = top + ph * (1 - ticks[k] / ymax);
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, left, floor(y) + 0.5);
        cairo_line_to(cr, left + pw, floor(y) + 0.5);
        cairo_stroke(cr);
        char t[32];
        snprintf(t, sizeof t, "%g", ticks[k]);
        cairo_text_extents_t te;
        cairo_text_extents(cr, t, &te);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, left - 6 * sc - te.x_advance, y + fs * 0.35);
        cairo_show_text(cr, t);
    }
    /* bars */
    double bw = pw / n;
    for (int i = 0; i < n; i++) {
        const double *c = CLASS_RGB[cls[i] & 3];
        double bh = ph * fmax(0, v[i]) / ymax;
        cairo_set_source_rgb(cr, c[0], c[1], c[2]);
        cairo_rectangle(cr, left + i * bw + 0.1 * bw, top + ph - bh, fmax(0.8 * bw, 0.5), bh);
        cairo_fill(cr);
    }
    /* frame */
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, floor(left) + 0.5, floor(top) + 0.5, floor(pw), floor(ph));
    cairo_stroke(cr);
    /* labels, rotated, every k-th when bars are narrower than a text line */
    double lfs = fmin(fs, fmax(7 * sc, bw * 0.9));
    int every = (int)ceil(lfs * 1.1 / bw);
    if (every < 1) every = 1;
    for (int i = 0; i < n; i += every) {
        if (!labels || !labels[i]) continue;
        clean_label(buf, labels[i], &cjk);
        set_font(cr, cjk, lfs);
        cairo_text_extents_t te;
        cairo_text_extents(cr, buf, &te);
        double maxw = bottom - 8 * sc;
        cairo_save(cr);
        cairo_translate(cr, left + (i + 0.5) * bw + lfs * 0.35, top + ph + 4 * sc);
        cairo_rotate(cr, M_PI / 2);
        if (te.x_advance > maxw) cairo_scale(cr, maxw / te.x_advance, 1);
        cairo_move_to(cr, 0, 0);
        cairo_show_text(cr, buf);
        cairo_restore(cr);
    }
    /* legend */
    static const char *names[3] = {"text", "image", "sink"};
    set_font(cr, false, fs);
    double x = left + pw;
    for (int k = 2; k >= 0; k--) {
        cairo_text_extents_t te;
        cairo_text_extents(cr, names[k], &te);
        x -= te.x_advance + 4 * sc;
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, x, top - 14 * sc);
        cairo_show_text(cr, names[k]);
        x -= fs + 2 * sc;
        cairo_set_source_rgb(cr, CLASS_RGB[k][0], CLASS_RGB[k][1], CLASS_RGB[k][2]);
        cairo_rectangle(cr, x, top - 14 * sc - fs * 0.8, fs * 0.8, fs * 0.8);
        cairo_fill(cr);
        x -= 8 * sc;
    }
}

/* Encode s (its context cr) as PNG and replace path; destroys both. */
static nl_status save_png(cairo_surface_t *s, cairo_t *cr, const char *path)
{
    cairo_status_t cs = cairo_status(cr);
    membuf b = {0};
    if (cs == CAIRO_STATUS_SUCCESS) {
        cairo_surface_flush(s);
        cs = cairo_surface_write_to_png_stream(s, membuf_write, &b);
    }
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    if (cs != CAIRO_STATUS_SUCCESS) {
        free(b.p);
        return nl_error_set(cs == CAIRO_STATUS_NO_MEMORY || cs == CAIRO_STATUS_WRITE_ERROR ? NL_ERR_OOM : NL_ERR_IO,
                            WHO ": cairo: %s", cairo_status_to_string(cs));
    }
    nl_status st = nl_atomic_save(path, b.p, b.n);
    free(b.p);
    return st == NL_OK ? NL_OK : nl_error_prefix(st, WHO);
}

nl_status nl_plot_tokens(const char *path, const char *title, const char *const *labels, const uint8_t *cls,
                         const double *values, int n, int width, int height)
{
    if (!path || !path[0]) return nl_error_set(NL_ERR_ARG, WHO ": no output path");
    if (!cls || !values) return nl_error_set(NL_ERR_ARG, WHO ": NULL classes or values");
    if (n < 1 || n > 4096) return nl_error_set(NL_ERR_ARG, WHO ": %d tokens (need 1..4096)", n);
    if (width < NL_PLOT_MIN_SIZE || width > NL_PLOT_MAX_SIZE || height < NL_PLOT_MIN_SIZE || height > NL_PLOT_MAX_SIZE)
        return nl_error_set(NL_ERR_ARG, WHO ": image size %dx%d outside [%d, %d] pixels", width, height,
                            NL_PLOT_MIN_SIZE, NL_PLOT_MAX_SIZE);
    for (int i = 0; i < n; i++) {
        if (!isfinite(values[i]) || values[i] < 0)
            return nl_error_set(NL_ERR_ARG, WHO ": value %d is %g (need finite and >= 0)", i, values[i]);
        if (cls[i] > NL_PLOT_TOK_PAD) return nl_error_set(NL_ERR_ARG, WHO ": token %d has class %d (0..3)", i, cls[i]);
    }
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    cairo_t *cr = cairo_create(s);
    draw(cr, width, height, title, labels, cls, values, n);
    return save_png(s, cr, path);
}

nl_status nl_plot_patch_overlay(const char *path, const float *rgb, int S, const float *w, int grid, int size)
{
    if (!path || !path[0]) return nl_error_set(NL_ERR_ARG, "patch overlay: no output path");
    if (!rgb || !w) return nl_error_set(NL_ERR_ARG, "patch overlay: NULL image or weights");
    if (S < 1 || S > 4096 || grid < 1 || grid > S)
        return nl_error_set(NL_ERR_ARG, "patch overlay: image %d px with a %dx%d grid (need 1 <= grid <= image <= 4096)",
                            S, grid, grid);
    if (size < NL_PLOT_MIN_SIZE || size > NL_PLOT_MAX_SIZE)
        return nl_error_set(NL_ERR_ARG, "patch overlay: size %d outside [%d, %d] pixels", size, NL_PLOT_MIN_SIZE,
                            NL_PLOT_MAX_SIZE);
    double wmax = 0;
    for (int i = 0; i < grid * grid; i++) {
        if (!isfinite(w[i]) || w[i] < 0)
            return nl_error_set(NL_ERR_ARG, "patch overlay: weight %d is %g (need finite and >= 0)", i, (double)w[i]);
        wmax = fmax(wmax, w[i]);
    }
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, S, S);
    if (cairo_surface_status(img) == CAIRO_STATUS_SUCCESS) {
        unsigned char *d = cairo_image_surface_get_data(img);
        int stride = cairo_image_surface_get_stride(img);
        cairo_surface_flush(img);
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                uint32_t px = 0;
                for (int ch = 0; ch < 3; ch++) {
                    double v = rgb[((size_t)ch * S + y) * S + x];
                    px |= (uint32_t)lround(255 * fmin(1, fmax(0, isfinite(v) ? v : 0))) << (16 - 8 * ch);
                }
                memcpy(d + (size_t)y * stride + 4 * (size_t)x, &px, 4);
            }
        cairo_surface_mark_dirty(img);
    }
    int W = size + 60;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, size);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_save(cr);
    cairo_scale(cr, (double)size / S, (double)size / S);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_paint(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);
    double cell = (double)size / grid;
    for (int gy = 0; gy < grid; gy++)
        for (int gx = 0; gx < grid; gx++) {
            double t = wmax > 0 ? w[gy * grid + gx] / wmax : 0;
            uint8_t c[3];
            nl_plot_viridis(t, c);
            cairo_set_source_rgba(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0, 0.55 * t);
            cairo_rectangle(cr, gx * cell, gy * cell, cell, cell);
            cairo_fill(cr);
        }
    cairo_set_source_rgba(cr, 1, 1, 1, 0.35);
    cairo_set_line_width(cr, 1);
    for (int k = 1; k < grid; k++) {
        cairo_move_to(cr, k * cell, 0), cairo_line_to(cr, k * cell, size);
        cairo_move_to(cr, 0, k * cell), cairo_line_to(cr, size, k * cell);
    }
    cairo_stroke(cr);
    /* colour bar: 0 at the bottom, max(w) at the top */
    double bx = size + 12, bw = 14, by = 20, bh = size - 40;
    for (int i = 0; i < (int)bh; i++) {
        uint8_t c[3];
        nl_plot_viridis(1 - i / bh, c);
        cairo_set_source_rgb(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0);
        cairo_rectangle(cr, bx, by + i, bw, 1);
        cairo_fill(cr);
    }
    char t[32];
    snprintf(t, sizeof t, "%.3g", wmax);
    set_font(cr, false, 10);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, size + 4, 14);
    cairo_show_text(cr, t);
    cairo_move_to(cr, bx, size - 6);
    cairo_show_text(cr, "0");
    return save_png(s, cr, path);
}
