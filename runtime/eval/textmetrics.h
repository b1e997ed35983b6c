/* textmetrics.h — generation metrics of NoteLLM (method §6.2): BLEU-4 and
 * ROUGE-1/2/L F1 of predicted against reference hashtag strings.
 *
 * Tokens (one rule for every language, no per-string switch): each CJK code
 * point (ideographs, kana, hangul, CJK and full-width punctuation) is a
 * token; each ASCII punctuation character is a token; the remaining maximal
 * runs of non-space characters are word tokens. English therefore splits
 * into whitespace words with punctuation apart ("a, b." -> a , b .) and
 * Chinese into characters — the documented approximation of upstream's
 * jieba words (method §6.2). Strings are compared byte-wise.
 *
 * Scores (fractions in [0, 1]; upstream prints percent):
 *  - BLEU-4, sentence level, averaged over the pairs (upstream's choice,
 *    NLTK sentence_bleu with smoothing method1 but with the one proper
 *    reference): uniform weights over n = 1..4, clipped n-gram precisions,
 *    a precision with no match becomes 0.1 / max(1, candidate n-grams),
 *    0 when no unigram matches, brevity penalty exp(1 - r/c) when c < r.
 *  - corpus BLEU-4 (sacrebleu / NLTK corpus_bleu): the clipped matches and
 *    totals summed over all pairs, one brevity penalty over the summed
 *    lengths, no smoothing (0 when some order has no match).
 *  - ROUGE-1/2 F1 over clipped n-gram counts (multisets), ROUGE-L F1 from
 *    the longest common subsequence (beta 1), averaged over the pairs.
 * A pair with an empty reference is skipped; an empty prediction scores 0
 * (upstream's eval_generation.py). Depends on the runtime core only. */
#ifndef NL_TEXTMETRICS_H
#define NL_TEXTMETRICS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* A token: bytes [off, off+len) of the string it came from. */
typedef struct nl_text_tok {
    size_t off, len;
} nl_text_tok;

/* Tokenize the UTF-8 string s (n bytes) into *toks (malloc'ed, *ntoks
 * entries; NULL when 0). Invalid UTF-8 bytes count as one-byte word
 * characters. */
nl_status nl_text_tokenize(const char *s, size_t n, nl_text_tok **toks, size_t *ntoks);

typedef struct nl_text_scores {
    int64_t n;          /* pairs scored (non-empty reference) */
    int64_t skipped;    /* pairs with an empty reference */
    double bleu4;       /* mean sentence BLEU-4 (smoothing method1) */
    double corpus_bleu4;
    double rouge1, rouge2, rougeL; /* mean F1 */
} nl_text_scores;

/* Score n (prediction, reference) pairs of NUL-terminated UTF-8 strings. */
nl_status nl_text_scores_compute(const char *const *pred, const char *const *ref, int64_t n, nl_text_scores *out);

/* One pair's scores (for tests and examples): sentence BLEU-4 and the
 * three ROUGE F1 values; all 0 when either side has no tokens. */
nl_status nl_text_pair_scores(const char *pred, const char *ref, double *bleu4, double *r1, double *r2, double *rl);

#endif
