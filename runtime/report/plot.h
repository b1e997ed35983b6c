/* plot.h — figures for reports, rendered with cairo and written as PNG: line
 * plots (loss curves: log-y, y-range, moving-average smoothing), grouped bar
 * charts (recall@K tables) and heatmaps (attention maps, viridis + colour bar).
 * Matplotlib-like look, Okabe-Ito palette, files replaced atomically.
 * Owns: nl_plot. Depends on the runtime core, runtime/io and cairo (no Guile). */
#ifndef NL_PLOT_H
#define NL_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Image sizes accepted by every save function, in pixels (both inclusive). */
#define NL_PLOT_MIN_SIZE 64
#define NL_PLOT_MAX_SIZE 8192

/* ---- line plots ------------------------------------------------------- */

typedef struct nl_plot nl_plot;

/* A new, empty plot. title/xlabel/ylabel may be NULL or "" (not drawn); the
 * strings are copied. */
nl_status nl_plot_new(nl_plot **out, const char *title, const char *xlabel, const char *ylabel);
void nl_plot_free(nl_plot *p); /* NULL allowed */

/* Add a line. y has n values; x has n values or is NULL (then x = 0..n-1).
 * The data and label are copied; a NULL or empty label keeps the series out
 * of the legend. A point whose x or y is not finite (or y <= 0 on a log-y
 * plot) is a gap: the line breaks there. NL_ERR_ARG for n == 0, y NULL, or no
 * point with finite x and y. Series take palette colours in order. */
nl_status nl_plot_add_series(nl_plot *p, const char *label, const double *x, const double *y, size_t n);

/* Logarithmic y axis (base 10, decade ticks). */
nl_status nl_plot_set_log_y(nl_plot *p, bool on);
/* Fix the y range to [lo, hi] (finite, lo < hi; lo > 0 needed at save time
 * on a log-y plot). Both NaN restores the automatic range. */
nl_status nl_plot_set_y_range(nl_plot *p, double lo, double hi);
/* Moving-average smoothing (window >= 2; 0 or 1 turns it off): each series
 * is drawn faint, with its centred average over window/2 points on each side
 * (cut at the ends; gaps skipped) as a darker line on top, so the trend does
 * not lag the data. A series gets at most n/10 points of window; one too
 * short for any (sparse validation points) is drawn plain in the darker shade. */
nl_status nl_plot_set_smoothing(nl_plot *p, int window);

/* Render at width x height pixels (each in [NL_PLOT_MIN_SIZE,
 * NL_PLOT_MAX_SIZE]) and replace PATH atomically. NL_ERR_ARG for a plot
 * without series or nothing drawable; NL_ERR_IO when PATH cannot be written
 * (nothing is left behind). */
nl_status nl_plot_save_png(const nl_plot *p, const char *path, int width, int height);

/* ---- bar charts ------------------------------------------------------- */

/* Grouped bars: n_groups groups along x (group_labels[g], NULL for 1..n),
 * n_series bars in each (series_labels[s] in the legend; NULL for no legend).
 * values[s * n_groups + g] is the bar of series s in group g; a non-finite
 * value is a missing bar, but at least one must be finite. Bars start at 0;
 * each is labelled with its value when there is room. */
nl_status nl_plot_bars(const char *path, const char *title, int n_groups, const char *const *group_labels,
                       int n_series, const char *const *series_labels, const double *values, int width,
                       int height);

/* ---- heatmaps --------------------------------------------------------- */

/* m is rows x cols, row-major (row 0 at the top), drawn as cells coloured by
 * viridis between the finite min and max, with a colour bar showing the
 * range. Non-finite cells are grey; at least one must be finite. row_labels
 * (rows entries) and col_labels (cols entries) may be NULL (indices are shown);
 * labels are thinned when they would overlap and shortened when too long.
 * At most 1<<24 cells. */
nl_status nl_plot_heatmap(const char *path, const char *title, const float *m, int rows, int cols,
                          const char *const *row_labels, const char *const *col_labels, int width,
                          int height);

/* ---- helpers (exposed for tests and for callers matching colours) ------ */

/* "Nice" ticks for the range [lo, hi]: the smallest step of the form
 * {1, 2, 5} x 10^k giving at most max_ticks multiples of the step inside
 * [lo, hi]; those multiples (ascending, exact zero included when in range)
 * go to ticks[0..*n-1] (room for max_ticks values). *step gets the step
 * (step may be NULL). NL_ERR_ARG for non-finite bounds, lo > hi or max_ticks
 * outside [2, 100]. lo == hi gives the one tick lo. */
nl_status nl_plot_nice_ticks(double lo, double hi, int max_ticks, double *ticks, int *n, double *step);

/* Palette colour i (any i >= 0, cycling): Okabe-Ito, blue first. */
/* Copy s (NULL: "") into out (cap bytes, NUL included) as valid UTF-8: a
 * bad byte becomes '?', control characters spaces, cut at a character
 * boundary. *cjk (may be NULL) tells whether a kept character is at or above
 * U+2E80 (CJK radicals onwards, Hangul, kana, fullwidth forms). */
void nl_plot_clean_text(char *out, size_t cap, const char *s, bool *cjk);
void nl_plot_color(int i, uint8_t rgb[3]);
/* Viridis at t in [0, 1] (clamped; NaN gives 0), linearly interpolated. */
void nl_plot_viridis(double t, uint8_t rgb[3]);

#endif
