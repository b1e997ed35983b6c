/* synth.h — the deterministic synthetic notes benchmark ("notellm gen-notes"):
 * latent items with a textual and/or visual identity, notes and images in the
 * NoteLLM data layout (method §1.1-1.3), co-occurrence pairs and test splits,
 * including per-modality splits that measure visual ignorance (§4).
 * Depends on the runtime core, io/atomic, io/image and cJSON; never prints. */
#ifndef NL_SYNTH_H
#define NL_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "rng.h"

/* Generation parameters. Fill with nl_synth_defaults, then change fields.
 * Every field is recorded in dataset.json. */
typedef struct nl_synth_opts {
    int64_t items;               /* items with pairs (train + val + test): 2000 */
    int notes_min, notes_max;    /* notes per item, uniform: 6..14 (mean 10) */
    double share_text;           /* item link types, relative shares: 1/3 */
    double share_image;          /* (normalised by their sum) */
    double share_both;
    const char *lang;            /* "en" or "zh" */
    int image_size;              /* square images, pixels: 64 */
    uint64_t seed;               /* 1 */
    int top_t;                   /* related notes kept per note (§1.3 top-t): 4 */
    int64_t distractor_items;    /* extra items whose notes pad the test pool and
                                    have no pairs: 200 (about 2 000 notes) */
    int short_threshold;         /* a note is short when its preprocessed content
                                    has fewer code points; 0 = language default
                                    (en 40, zh 24) */
    double test_fraction;        /* share of items that are test items: 0.2 */
    double val_fraction;         /* share of items whose pairs are validation: 0.1 */
    int events_min, events_max;  /* simulated view->click events per note: 6..12 */
    double cross_click;          /* probability that a click goes to a note of
                                    another item of the same category and split:
                                    0.03 (kept as noise in training pairs only) */
    double score_lo, score_hi;   /* §1.3 outlier filter l and u: 0.01, 30 */
    double short_share;          /* share of notes drawn with a short body: 0.3 */
    bool overwrite;              /* allow a non-empty existing directory: false */
} nl_synth_opts;

/* What was written (also in dataset.json under "counts"). */
typedef struct nl_synth_stats {
    int64_t items_train, items_val, items_test, items_distractor;
    int64_t items_text, items_image, items_both; /* over train+val+test items */
    int64_t notes_train, notes_test;             /* rows of notes_*.csv */
    int64_t pairs_train, pairs_val, pairs_test;
    int64_t pairs_test_shortquery, pairs_test_longquery;
    int64_t pairs_test_shortgtdoc, pairs_test_longgtdoc;
    int64_t pairs_test_textlinked, pairs_test_imagelinked, pairs_test_both;
    int64_t pairs_train_cross_item;   /* noise pairs kept in training (same category) */
    int64_t pairs_eval_cross_dropped; /* cross-item pairs dropped from val/test */
    int64_t notes_short;              /* notes (train + test) below the threshold */
    int short_threshold;              /* the threshold used (code points) */
    int64_t images;
} nl_synth_stats;

void nl_synth_defaults(nl_synth_opts *o);

/* Write the whole data directory DIR (created; its parent must exist):
 *   notes_train.csv, notes_test.csv   note_id,title,content,image_id,category
 *                                     (no header, RFC-4180 quoting, LF rows)
 *   note_pairs_{train,val,test}.csv, note_pairs_test_{short,long}query.csv,
 *   note_pairs_test_{short,long}gtdoc.csv,
 *   note_pairs_test_{textlinked,imagelinked,both}.csv     query_id,target_id
 *   images/, images_test/             one extension-less PNG per note
 *   notes_items.csv  ground truth, no header: note_id,item_id,split,link,
 *                    category_index,content_codepoints,short(0|1)
 *   items.csv        ground truth, no header: item_id,split,link,category,
 *                    name,shape,colour,texture,position
 *   dataset.json     every parameter, the counts, the column lists; written
 *                    last, so its presence marks a complete directory.
 * Every file is written atomically. The output is byte-identical for a given
 * opts whatever the thread count. An existing non-empty DIR is an error
 * unless o->overwrite (files are then replaced; nothing is deleted).
 * stats may be NULL.
 * Why the modality splits measure visual ignorance: a text-linked item's
 * name is in every note's text while its images show only the category's
 * shared emblem; an image-linked item's text is generic talk about its
 * category while its images show its own shape x colour x texture x position.
 * So recall on note_pairs_test_imagelinked.csv beyond the category level can
 * only come from the image (a TF-IDF baseline gets recall@10 ~0.10 there and
 * ~0.96 on the text-linked split; 8x8 colour-grid nearest neighbours ~0.72). */
nl_status nl_synth_write(const char *dir, const nl_synth_opts *o, nl_synth_stats *stats);

/* Code points of CONTENT after the §1.4 content path (drop "[话题]", remove
 * #word# tags of at most 16 code points, '\n' -> "。", first 80 code points,
 * strip). Word characters are judged for the generator's alphabet (ASCII
 * letters, digits, '_', and non-ASCII except CJK and full-width punctuation).
 * -1 when out of memory. */
int nl_synth_content_length(const char *content);

/* ---- internal to runtime/data/synth*.c (not a stable API) ---- */

enum { NL_SYNTH_CATEGORIES = 24, NL_SYNTH_SHAPES = 8, NL_SYNTH_COLOURS = 8,
       NL_SYNTH_TEXTURES = 4, NL_SYNTH_POSITIONS = 5 };

/* A visual identity: what the image shows, before per-note jitter. */
typedef struct nl_synth_look {
    int shape, colour, texture, position; /* indices into the tables below */
    int category;                         /* background family */
} nl_synth_look;

extern const char *const nl_synth_shape_names[NL_SYNTH_SHAPES];
extern const char *const nl_synth_colour_names[NL_SYNTH_COLOURS];
extern const char *const nl_synth_texture_names[NL_SYNTH_TEXTURES];
extern const char *const nl_synth_position_names[NL_SYNTH_POSITIONS];

/* Render one size x size RGB image (3*size*size bytes) of LOOK with jitter,
 * scale, rotation, background variation and noise drawn from R. */
void nl_synth_render(uint8_t *rgb, int size, const nl_synth_look *look, nl_rng *r);

/* Word tables (synth_words.c). lang: 0 en, 1 zh. */
typedef struct nl_synth_category {
    const char *l1[2], *l2[2];  /* level names */
    const char *words[2];       /* space-separated topical nouns */
    const char *tags[2];        /* space-separated hashtags (<= 14 code points) */
} nl_synth_category;
extern const nl_synth_category nl_synth_categories[NL_SYNTH_CATEGORIES];
extern const char *const nl_synth_adjectives[2];  /* space-separated */
extern const char *const nl_synth_syllables[2];   /* name syllables */
extern const char *const nl_synth_emoji;          /* space-separated "[..R]" */
/* Sentence and title templates, NULL-terminated: %N name, %W topical word,
 * %A adjective. The *_named lists mention the item's name. */
extern const char *const nl_synth_short[2];        /* the body of a short note */
extern const char *const nl_synth_short_named[2];
extern const char *const *const nl_synth_sentences[2];
extern const char *const *const nl_synth_sentences_named[2];
extern const char *const *const nl_synth_titles[2];
extern const char *const *const nl_synth_titles_named[2];

#endif
