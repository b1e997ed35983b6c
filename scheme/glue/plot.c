/* plot.c — %nl- primitives over runtime/report/plot.h: line plots of
 * several series, grouped bars and heatmaps written as PNG. */
#include "glue.h"

#include <math.h>

#include "plot.h"

static double *doubles(SCM lst, size_t *n, int pos, const char *who)
{
    long len = scm_ilength(lst);
    if (len < 0) scm_wrong_type_arg_msg(who, pos, lst, "list of numbers");
    double *v = scm_gc_malloc_pointerless(sizeof *v * (size_t)(len ? len : 1), "values");
    for (long i = 0; i < len; i++, lst = scm_cdr(lst)) v[i] = nl_scm_to_real(scm_car(lst), pos, who);
    *n = (size_t)len;
    return v;
}

static void free_plot(void *p) { nl_plot_free(p); }

#define FUNC_NAME "plot-lines"
static SCM plot_lines(SCM file, SCM labels, SCM series, SCM opts)
{
    /* series: list of (xs . ys); opts: (smoothing log-y width height) */
    if (scm_ilength(opts) != 4) scm_wrong_type_arg_msg(FUNC_NAME, 4, opts, "(smoothing log-y width height)");
    if (scm_ilength(labels) != 3) scm_wrong_type_arg_msg(FUNC_NAME, 2, labels, "(title xlabel ylabel)");
    scm_dynwind_begin(0);
    nl_plot *p;
    NL_SCM_CHECK(FUNC_NAME, nl_plot_new(&p, nl_scm_dynwind_utf8(scm_car(labels), 2, FUNC_NAME),
                                        nl_scm_dynwind_utf8(scm_cadr(labels), 2, FUNC_NAME),
                                        nl_scm_dynwind_utf8(scm_caddr(labels), 2, FUNC_NAME)));
    scm_dynwind_unwind_handler(free_plot, p, SCM_F_WIND_EXPLICITLY);
    for (SCM s = series; scm_is_pair(s); s = scm_cdr(s)) {
        SCM one = scm_car(s); /* (label xs . ys) */
        if (scm_ilength(one) < 2) scm_wrong_type_arg_msg(FUNC_NAME, 3, one, "(label xs . ys)");
        size_t nx, ny;
        double *x = doubles(scm_cadr(one), &nx, 3, FUNC_NAME), *y = doubles(scm_cddr(one), &ny, 3, FUNC_NAME);
        if (nx != ny) nl_scm_raisef(NL_ERR_ARG, FUNC_NAME, "a series has %zu x values and %zu y values", nx, ny);
        NL_SCM_CHECK(FUNC_NAME, nl_plot_add_series(p, nl_scm_dynwind_utf8(scm_car(one), 3, FUNC_NAME), x, y, ny));
    }
    NL_SCM_CHECK(FUNC_NAME, nl_plot_set_smoothing(p, (int)nl_scm_to_i64(scm_car(opts), 4, FUNC_NAME)));
    NL_SCM_CHECK(FUNC_NAME, nl_plot_set_log_y(p, scm_is_true(scm_cadr(opts))));
    NL_SCM_CHECK(FUNC_NAME, nl_plot_save_png(p, nl_scm_dynwind_utf8(file, 1, FUNC_NAME),
                                             (int)nl_scm_to_i64(scm_caddr(opts), 4, FUNC_NAME),
                                             (int)nl_scm_to_i64(scm_cadddr(opts), 4, FUNC_NAME)));
    scm_dynwind_end();
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

#define FUNC_NAME "plot-heatmap"
static SCM plot_heatmap(SCM file, SCM title, SCM rows, SCM size)
{
    long r = scm_ilength(rows);
    if (r < 1) scm_wrong_type_arg_msg(FUNC_NAME, 3, rows, "non-empty list of rows");
    long c = scm_ilength(scm_car(rows));
    if (c < 1) scm_wrong_type_arg_msg(FUNC_NAME, 3, rows, "rows of numbers");
    float *m = scm_gc_malloc_pointerless(sizeof *m * (size_t)(r * c), "heatmap");
    long i = 0;
    for (SCM row = rows; scm_is_pair(row); row = scm_cdr(row)) {
        if (scm_ilength(scm_car(row)) != c) nl_scm_raisef(NL_ERR_SHAPE, FUNC_NAME, "rows of different lengths");
        for (SCM x = scm_car(row); scm_is_pair(x); x = scm_cdr(x)) m[i++] = (float)nl_scm_to_real(scm_car(x), 3, FUNC_NAME);
    }
    scm_dynwind_begin(0);
    NL_SCM_CHECK(FUNC_NAME, nl_plot_heatmap(nl_scm_dynwind_utf8(file, 1, FUNC_NAME), nl_scm_dynwind_utf8(title, 2, FUNC_NAME),
                                            m, (int)r, (int)c, NULL, NULL, (int)nl_scm_to_i64(scm_car(size), 4, FUNC_NAME),
                                            (int)nl_scm_to_i64(scm_cadr(size), 4, FUNC_NAME)));
    scm_dynwind_end();
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

/* A list of strings -> array of C strings freed with the dynwind context. */
static const char **strings(SCM lst, long *n, int pos, const char *who)
{
    *n = scm_ilength(lst);
    if (*n < 0) scm_wrong_type_arg_msg(who, pos, lst, "list of strings");
    const char **v = scm_gc_malloc_pointerless(sizeof *v * (size_t)(*n ? *n : 1), "labels");
    for (long i = 0; i < *n; i++, lst = scm_cdr(lst)) v[i] = nl_scm_dynwind_utf8(scm_car(lst), pos, who);
    return v;
}

#define FUNC_NAME "plot-bars"
static SCM plot_bars(SCM file, SCM title, SCM groups, SCM series, SCM rows, SCM size)
{
    /* rows: one list of values per series, one value per group (#f = no bar) */
    if (scm_ilength(size) != 2) scm_wrong_type_arg_msg(FUNC_NAME, 6, size, "(width height)");
    scm_dynwind_begin(0);
    long ng, ns;
    const char **gl = strings(groups, &ng, 3, FUNC_NAME), **sl = strings(series, &ns, 4, FUNC_NAME);
    if (ng < 1 || ns < 1 || scm_ilength(rows) != ns)
        nl_scm_raisef(NL_ERR_ARG, FUNC_NAME, "%ld groups, %ld series and %ld rows of values (one row per series, "
                      "at least one of each)", ng, ns, (long)scm_ilength(rows));
    double *v = scm_gc_malloc_pointerless(sizeof *v * (size_t)(ng * ns), "values");
    long k = 0;
    for (SCM r = rows; scm_is_pair(r); r = scm_cdr(r)) {
        if (scm_ilength(scm_car(r)) != ng)
            nl_scm_raisef(NL_ERR_ARG, FUNC_NAME, "a row has %ld values for %ld groups", (long)scm_ilength(scm_car(r)), ng);
        for (SCM x = scm_car(r); scm_is_pair(x); x = scm_cdr(x))
            v[k++] = scm_is_false(scm_car(x)) ? NAN : nl_scm_to_real(scm_car(x), 5, FUNC_NAME);
    }
    NL_SCM_CHECK(FUNC_NAME, nl_plot_bars(nl_scm_dynwind_utf8(file, 1, FUNC_NAME), nl_scm_dynwind_utf8(title, 2, FUNC_NAME),
                                         (int)ng, gl, (int)ns, sl, v, (int)nl_scm_to_i64(scm_car(size), 6, FUNC_NAME),
                                         (int)nl_scm_to_i64(scm_cadr(size), 6, FUNC_NAME)));
    scm_dynwind_end();
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

void nl_scm_init_plot(void)
{
    static const nl_scm_proc procs[] = {
        {"%nl-plot-lines", 4, 0, 0, (scm_t_subr)plot_lines,
         "Write a line plot PNG to FILE: LABELS = (title xlabel ylabel), SERIES = list of (label xs . ys), "
         "OPTS = (smoothing-window log-y width height)."},
        {"%nl-plot-heatmap", 4, 0, 0, (scm_t_subr)plot_heatmap,
         "Write a heatmap PNG of ROWS (lists of numbers) to FILE with TITLE; SIZE = (width height)."},
        {"%nl-plot-bars", 6, 0, 0, (scm_t_subr)plot_bars,
         "Write a grouped bar chart PNG to FILE: GROUPS labels along x, SERIES labels in the legend, ROWS one list of "
         "values per series (#f: no bar); SIZE = (width height)."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
