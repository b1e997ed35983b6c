/* csv.h — an RFC-4180 CSV reader over a whole in-memory buffer or a file:
 * quoted fields with "" escapes and embedded newlines (LF, CRLF, CR), NUL
 * bytes stripped (and counted) before parsing, empty lines skipped, a
 * per-field size limit. Rows are handed to a callback as pointer+length
 * fields. Bytes are passed through untouched (UTF-8 is checked by callers).
 * Depends on the runtime core (error.h) only. */
#ifndef NL_CSV_H
#define NL_CSV_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define NL_CSV_DEFAULT_MAX_FIELD ((size_t)16 << 20) /* 16 MiB */

typedef struct nl_csv_opts {
    size_t max_field;        /* bytes per field after unescaping; 0 = 16 MiB */
    size_t max_file;         /* nl_csv_parse_file only: bytes; 0 = no limit */
    bool normalize_newlines; /* CRLF and lone CR inside quoted fields become LF
                                (what Python's universal newlines give) */
} nl_csv_opts;

/* One row. field[i] points at len[i] bytes followed by a '\0' (a field may
 * hold no NUL itself: they are stripped). Valid during the callback only. */
typedef struct nl_csv_row {
    size_t nfields;
    const char *const *field;
    const size_t *len;
    size_t line;  /* 1-based line on which the row starts */
    size_t index; /* 0-based index among non-empty rows */
} nl_csv_row;

typedef struct nl_csv_stats {
    size_t rows;        /* rows handed to the callback */
    size_t blank_lines; /* empty lines skipped */
    size_t nul_bytes;   /* NUL bytes stripped before parsing */
    size_t lines;       /* physical lines seen */
} nl_csv_stats;

/* Called once per non-empty row; a status other than NL_OK stops parsing
 * and is returned by the parse call unchanged. */
typedef nl_status (*nl_csv_row_fn)(const nl_csv_row *row, void *ctx);

/* Parse n bytes at buf. `what` names the source in messages (a file name).
 * opts and stats may be NULL. Errors: NL_ERR_FORMAT for an unterminated
 * quoted field (with the line it opened on) or a field over max_field (with
 * its line and column number), NL_ERR_OOM. A quote inside an unquoted
 * field and text after a closing quote are kept literally, as Python's csv
 * module does. */
nl_status nl_csv_parse(const char *buf, size_t n, const char *what, const nl_csv_opts *opts,
                       nl_csv_row_fn fn, void *ctx, nl_csv_stats *stats);

/* Read the whole file (NL_ERR_IO when it cannot be opened or read, or is
 * not a regular file) and parse it as above. */
nl_status nl_csv_parse_file(const char *path, const nl_csv_opts *opts, nl_csv_row_fn fn, void *ctx,
                            nl_csv_stats *stats);

/* The file's bytes, NUL-terminated, in one malloc'ed buffer (free()).
 * max_bytes 0 means no limit. Shared with notes.c. */
nl_status nl_csv_read_file(const char *path, size_t max_bytes, char **out, size_t *n);

#endif
