/* fuzz_csv.c — fuzz target for nl_csv_parse (in memory, two option sets) and
 * nl_notes_load (a directory built from the input: the bytes before a
 * "#pairs\n" line are notes_train.csv, those after it note_pairs_train.csv).
 * Rows must be well formed (NUL-terminated fields, no NUL inside, ordered
 * lines); an accepted dataset must be consistent. Seeds: tests/fuzz/seeds. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv.h"
#include "fuzz.h"
#include "notes.h"

const char *const nl_fuzz_seed_globs[] = {"seeds:*.csv", NULL};
const long nl_fuzz_default_runs = 80000;

typedef struct {
    size_t rows, last_line, max_field;
} row_ctx;

static nl_status on_row(const nl_csv_row *row, void *ctx)
{
    row_ctx *c = ctx;
    if (row->index != c->rows) fz_fail("row index %zu, expected %zu", row->index, c->rows);
    if (row->line < 1 || row->line < c->last_line) fz_fail("row line %zu after line %zu", row->line, c->last_line);
    if (row->nfields < 1) fz_fail("a row with no field");
    for (size_t i = 0; i < row->nfields; i++) {
        if (row->len[i] > c->max_field) fz_fail("field of %zu bytes over the %zu limit", row->len[i], c->max_field);
        if (memchr(row->field[i], '\0', row->len[i])) fz_fail("field %zu holds a NUL byte", i);
        if (row->field[i][row->len[i]] != '\0') fz_fail("field %zu is not NUL-terminated", i);
    }
    c->rows++;
    c->last_line = row->line;
    return NL_OK;
}

static nl_status stop_at_3(const nl_csv_row *row, void *ctx)
{
    return row->index == 2 ? nl_error_set(NL_ERR_ARG, "stop") : NL_OK;
}

static void csv(const uint8_t *data, size_t size)
{
    nl_csv_opts opts[2] = {{0, 0, false}, {24, 0, true}};
    for (int k = 0; k < 2; k++) {
        row_ctx c = {0, 0, opts[k].max_field ? opts[k].max_field : NL_CSV_DEFAULT_MAX_FIELD};
        nl_csv_stats st;
        memset(&st, 0, sizeof st);
        if (fz_status(nl_csv_parse((const char *)data, size, "fuzz.csv", &opts[k], on_row, &c, &st), "nl_csv_parse")) {
            if (st.rows != c.rows) fz_fail("stats say %zu rows, callback saw %zu", st.rows, c.rows);
            size_t nul = 0;
            for (size_t i = 0; i < size; i++) nul += data[i] == 0;
            if (st.nul_bytes != nul) fz_fail("stats say %zu NUL bytes, input has %zu", st.nul_bytes, nul);
        }
    }
    nl_status s = nl_csv_parse((const char *)data, size, "fuzz.csv", NULL, stop_at_3, NULL, NULL);
    if (s != NL_OK && s != NL_ERR_ARG) fz_status(s, "nl_csv_parse (callback stops)");
}

static void put_file(const char *name, const uint8_t *p, size_t n, int present)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", fz_dir(), name);
    if (present) fz_write(path, p, n);
    else unlink(path);
}

static void notes(const uint8_t *data, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/images", fz_dir());
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/images/img1.jpg", fz_dir());
    fz_write(path, "x", 1);
    static const char marker[] = "#pairs\n";
    const uint8_t *m = memmem(data, size, marker, sizeof marker - 1);
    size_t n_notes = m ? (size_t)(m - data) : size;
    put_file("notes_train.csv", data, n_notes, 1);
    put_file("notes_test.csv", data, n_notes, size & 1);
    if (m) put_file("note_pairs_train.csv", m + sizeof marker - 1, size - n_notes - (sizeof marker - 1), 1);
    else put_file("note_pairs_train.csv", NULL, 0, 0);

    nl_notes *ds = NULL;
    nl_notes_report rep;
    if (!fz_status(nl_notes_load(&ds, fz_dir(), &rep), "nl_notes_load")) {
        if (ds) fz_fail("nl_notes_load failed but set *out");
        return;
    }
    size_t n = nl_notes_count(ds);
    for (size_t i = 0; i < n; i++) {
        const nl_note *note = nl_notes_get(ds, i);
        if (!note || !note->id || !note->title || !note->content || !note->image_id || !note->category ||
            !note->p_title || !note->p_content || !note->p_topic || !note->p_category)
            fz_fail("note %zu has a NULL field", i);
        int64_t at = nl_notes_find(ds, note->id);
        if (at < 0 || (size_t)at > i) fz_fail("note %zu: find(\"%s\") gave %lld", i, note->id, (long long)at);
    }
    if (nl_notes_get(ds, n)) fz_fail("get() past the end is not NULL");
    for (size_t l = 0; l < nl_notes_pair_list_count(ds); l++) {
        const char *name = nl_notes_pair_list_name(ds, l);
        size_t np = 0;
        const nl_note_pair *p = nl_notes_pairs(ds, name, &np);
        for (size_t k = 0; k < np; k++)
            if (p[k].a < 0 || (size_t)p[k].a >= n || p[k].b < 0 || (size_t)p[k].b >= n)
                fz_fail("pair %zu of %s: (%lld, %lld) with %zu notes", k, name, (long long)p[k].a,
                        (long long)p[k].b, n);
    }
    char line[256];
    size_t need = nl_notes_report_format(nl_notes_get_report(ds), line, sizeof line);
    if (strlen(line) >= sizeof line || (need < sizeof line && strlen(line) != need))
        fz_fail("report_format: length %zu, wrote %zu", need, strlen(line));
    nl_notes_free(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_begin();
    csv(data, size);
    notes(data, size);
    fz_end();
    return 0;
}
