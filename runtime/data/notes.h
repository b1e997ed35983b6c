/* notes.h — the NoteLLM dataset (method §1.1, §1.2): notes_{train,test}.csv
 * with raw and §1.4-preprocessed fields, every note_pairs_*.csv as a named
 * list of note-index pairs, an O(1) id lookup, image presence checks (no
 * decoding), and a report of everything skipped or repaired.
 * Depends on the runtime core, csv.h and preprocess.h; no Guile. */
#ifndef NL_NOTES_H
#define NL_NOTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "preprocess.h"

typedef enum nl_note_split { NL_NOTE_TRAIN = 0, NL_NOTE_TEST = 1 } nl_note_split;

/* One note. Strings are NUL-terminated, owned by the dataset, and valid
 * UTF-8 (invalid sequences in the file were replaced by U+FFFD). */
typedef struct nl_note {
    nl_note_split split;
    size_t row;           /* 0-based data row in its file (empty lines not counted;
                             skipped rows counted) — the method's `ind` */
    const char *id;       /* column 0 */
    const char *title;    /* raw columns 1..4 */
    const char *content;
    const char *image_id;
    const char *category;
    const char *p_title;    /* §1.4: title[:20].strip() */
    const char *p_content;  /* content without tags, '\n' → "。", [:80].strip() */
    const char *p_topic;    /* up to 10 tags joined by "，" */
    const char *p_category; /* "l1，l2。" — no EOS; the prompt builder adds it */
    bool image_found;     /* DIR/images/<image_id> (train) or DIR/images_test/<image_id> (test)
                             is a regular file */
} nl_note;

/* A pair of dataset indices (see nl_notes_get): query note, target note. */
typedef struct nl_note_pair {
    int64_t a, b;
} nl_note_pair;

#define NL_NOTES_MAX_EXAMPLES 8
#define NL_NOTES_MAX_LISTS 32

typedef struct nl_notes_report {
    size_t notes, notes_train, notes_test;
    size_t pairs;          /* kept, all lists */
    size_t pairs_skipped;  /* naming an unknown note id, all lists */
    size_t n_lists;        /* pair files read (lists[] holds the first NL_NOTES_MAX_LISTS) */
    struct {
        char name[64];     /* "train" for note_pairs_train.csv */
        size_t pairs, skipped;
    } lists[NL_NOTES_MAX_LISTS];
    size_t images_missing; /* also counts image ids that are not a plain file name */
    size_t rows_skipped;   /* wrong column count (notes and pairs files) */
    size_t duplicate_ids;  /* later rows with an id seen before (train and test share one id space) */
    size_t blank_lines;    /* skipped empty lines */
    size_t nul_bytes;      /* stripped before parsing */
    size_t invalid_utf8;   /* U+FFFD substitutions in any field */
    char first_unknown_id[64];
    size_t n_examples;     /* the first few problems, one line each */
    char examples[NL_NOTES_MAX_EXAMPLES][200];
} nl_notes_report;

typedef struct nl_notes nl_notes;

/* Load DIR/notes_train.csv and DIR/notes_test.csv (either may be absent,
 * not both), every DIR/note_pairs_<name>.csv (in name order), and check
 * the image files. Bad rows are skipped and counted in *rep (may be NULL);
 * fatal: unreadable files, an unterminated quote, a field over 16 MiB
 * (NL_ERR_IO / NL_ERR_FORMAT naming the file and line), out of memory.
 * On error *out is NULL and *rep holds the counts so far. */
nl_status nl_notes_load(nl_notes **out, const char *dir, nl_notes_report *rep);
/* The same with preprocessing limits (NULL: NL_PREPROCESS_OPTS_DEFAULT). */
nl_status nl_notes_load_ex(nl_notes **out, const char *dir, const nl_preprocess_opts *opts,
                           nl_notes_report *rep);
void nl_notes_free(nl_notes *ds);

/* Notes are indexed 0..count-1: train rows first, then test rows. */
size_t nl_notes_count(const nl_notes *ds);
const nl_note *nl_notes_get(const nl_notes *ds, size_t i); /* NULL when out of range */
int64_t nl_notes_find(const nl_notes *ds, const char *id); /* index, or -1 */

/* Pair lists by name ("train", "val", "test", "test_shortquery", ...):
 * NULL and *n = 0 when there is no such list. */
const nl_note_pair *nl_notes_pairs(const nl_notes *ds, const char *name, size_t *n);
size_t nl_notes_pair_list_count(const nl_notes *ds);
const char *nl_notes_pair_list_name(const nl_notes *ds, size_t i); /* NULL when out of range */
/* Pairs skipped in list `name` (unknown note ids); 0 for an unknown list. */
size_t nl_notes_pairs_skipped(const nl_notes *ds, const char *name);

const nl_notes_report *nl_notes_get_report(const nl_notes *ds);

/* The one-line summary, e.g. "notes: 20000 (train 16000, test 4000); pairs:
 * train 31000, test 2000 (3 skipped: unknown note ids e.g. x12); images
 * missing: 0; rows skipped: 0; NUL bytes stripped: 0", followed by
 * "; duplicate ids: N" and "; invalid UTF-8 replaced: N" when non-zero.
 * Returns the length it needs (like snprintf); buf holds as much as fits. */
size_t nl_notes_report_format(const nl_notes_report *r, char *buf, size_t n);

#endif
