/* plot_tokens.h — the probes' own figures: a per-token bar chart (one bar
 * per token of an attention row, the token text written under its bar,
 * rotated, bars coloured by token class) and an image with a patch-grid
 * heatmap overlaid. CJK labels are drawn with a CJK family chosen
 * through fontconfig ("Noto Sans CJK SC"; fontconfig falls back when it is
 * not installed). Depends on runtime/report/plot.h, io/atomic.h and cairo. */
#ifndef NL_PLOT_TOKENS_H
#define NL_PLOT_TOKENS_H

#include <stdint.h>

#include "error.h"

/* Token classes (bar colours). */
enum { NL_PLOT_TOK_TEXT = 0, NL_PLOT_TOK_IMAGE = 1, NL_PLOT_TOK_SINK = 2, NL_PLOT_TOK_PAD = 3 };

/* Write the chart of values[0..n) (finite, >= 0; 1 <= n <= 4096) with the
 * UTF-8 labels[0..n) (NULL entries: no label; invalid UTF-8 is shown as
 * '?') and classes cls[0..n) (NL_PLOT_TOK_*) to path as a width x height
 * PNG (NL_PLOT_MIN_SIZE..NL_PLOT_MAX_SIZE), atomically. Labels are thinned
 * when the bars are narrower than a line of text. */
nl_status nl_plot_tokens(const char *path, const char *title, const char *const *labels, const uint8_t *cls,
                         const double *values, int n, int width, int height);

/* Draw the image rgb ([3,S,S] planes, values in [0, 1], clamped) scaled to
 * size x size with the grid x grid weights w (row-major, top row first;
 * finite, >= 0) overlaid as a heatmap: each cell tinted by viridis of
 * w / max(w) with alpha 0.55 * w / max(w), thin cell lines, and a colour bar
 * of the largest weight. size in [NL_PLOT_MIN_SIZE, NL_PLOT_MAX_SIZE];
 * 1 <= grid <= S <= 4096. Saved atomically as PNG (size + 60 px wide for
 * the colour bar, size high). */
nl_status nl_plot_patch_overlay(const char *path, const float *rgb, int S, const float *w, int grid, int size);

#endif
