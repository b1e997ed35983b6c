/* test_textmetrics.c — tokenization, BLEU-4 and ROUGE-1/2/L
 * (runtime/eval/textmetrics.c) on examples computed by hand; the arithmetic
 * is written next to each expected value. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "harness.h"
#include "textmetrics.h"

static void expect_tokens(const char *s, const char *const *want, size_t nwant)
{
    nl_text_tok *t = NULL;
    size_t n = 0;
    if (!h_ok(nl_text_tokenize(s, strlen(s), &t, &n), s)) return;
    bool ok = n == nwant;
    for (size_t i = 0; ok && i < n; i++) ok = t[i].len == strlen(want[i]) && !memcmp(s + t[i].off, want[i], t[i].len);
    h_check(ok, "tokens of \"%s\": %zu (want %zu)", s, n, nwant);
    free(t);
}

static void test_tokens(void)
{
    expect_tokens("the cat  sat", (const char *[]){"the", "cat", "sat"}, 3);
    expect_tokens("mountainview, travel.", (const char *[]){"mountainview", ",", "travel", "."}, 4);
    expect_tokens("iPhone手机 is great!", (const char *[]){"iPhone", "手", "机", "is", "great", "!"}, 6);
    expect_tokens("美食，咖啡。", (const char *[]){"美", "食", "，", "咖", "啡", "。"}, 6);
    expect_tokens("don't snake_case", (const char *[]){"don", "'", "t", "snake_case"}, 4);
    expect_tokens("a\xff" "b\xe3\x80\x80" "c", (const char *[]){"a\xff" "b", "c"}, 2); /* invalid byte; U+3000 space */
    expect_tokens(" \t\n", NULL, 0);
    expect_tokens("", NULL, 0);
}

static bool close(double a, double b) { return fabs(a - b) <= 1e-12 * (1 + fabs(b)); }

static void expect_pair(const char *pred, const char *ref, double bleu, double r1, double r2, double rl)
{
    double b, x, y, z;
    if (!h_ok(nl_text_pair_scores(pred, ref, &b, &x, &y, &z), pred)) return;
    h_check(close(b, bleu), "BLEU-4 of \"%s\" vs \"%s\": %.15g want %.15g", pred, ref, b, bleu);
    h_check(close(x, r1), "ROUGE-1 of \"%s\": %.15g want %.15g", pred, x, r1);
    h_check(close(y, r2), "ROUGE-2 of \"%s\": %.15g want %.15g", pred, y, r2);
    h_check(close(z, rl), "ROUGE-L of \"%s\": %.15g want %.15g", pred, z, rl);
}

/* A: c = the cat sat on the mat, r = the cat is on the mat (6 tokens each).
 *   1-grams: the min(2,2) + cat + on + mat = 5 of 6;  2-grams: the-cat,
 *   on-the, the-mat = 3 of 5;  3-grams: on-the-mat = 1 of 4;  4-grams: 0 of
 *   3 -> smoothed 0.1/3.  BP = 1 (c = r).
 *   BLEU = (5/6 * 3/5 * 1/4 * 0.1/3)^(1/4) = (1/240)^(1/4)
 *   ROUGE-1 = 5/6 (P = R);  ROUGE-2 = 3/5;  LCS = the cat on the mat = 5 -> 5/6.
 * B: c = 美 食 ， 咖 啡 。 (6), r = 美 食 ， 咖 啡 ， 拿 铁 。 (9).
 *   1-grams 6 of 6 (，: min(1,2));  2-grams 美食 食， ，咖 咖啡 = 4 of 5;
 *   3-grams 美食， 食，咖 ，咖啡 = 3 of 4;  4-grams 美食，咖 食，咖啡 = 2 of 3.
 *   BP = exp(1 - 9/6) = exp(-1/2).  BLEU = exp(-1/2) * (1 * 4/5 * 3/4 * 2/3)^(1/4)
 *   = exp(-1/2) * 0.4^(1/4).  ROUGE-1: P 1, R 6/9 -> 2*(2/3)/(5/3) = 0.8;
 *   ROUGE-2: P 4/5, R 4/8 -> 2*0.4/1.3 = 8/13;  LCS = 6 (all of c) -> 0.8.
 * C: c = mountainview , travel . ; r = travel , hiking . (4 each).
 *   1-grams: , travel . = 3 of 4;  no 2/3/4-gram matches: 0.1/3, 0.1/2, 0.1/1.
 *   BLEU = (3/4 * 0.1/3 * 0.1/2 * 0.1)^(1/4) = (1/8000)^(1/4)
 *   ROUGE-1 3/4;  ROUGE-2 0;  LCS = 2 (", ." or "travel .") -> 2/4 = 0.5. */
static void test_pairs(void)
{
    expect_pair("the cat sat on the mat", "the cat is on the mat", pow(1.0 / 240, 0.25), 5.0 / 6, 0.6, 5.0 / 6);
    expect_pair("美食，咖啡。", "美食，咖啡，拿铁。", exp(-0.5) * pow(0.4, 0.25), 0.8, 8.0 / 13, 0.8);
    expect_pair("mountainview, travel.", "travel, hiking.", pow(1.0 / 8000, 0.25), 0.75, 0.0, 0.5);
    /* a 3-token exact match has no 4-gram (0 of 0 -> 0.1/1): (1 * 1 * 1 * 0.1)^(1/4), not 1 */
    double b, x, y, z;
    nl_text_pair_scores("a b c", "a b c", &b, &x, &y, &z);
    h_check(close(b, pow(0.1, 0.25)) && close(x, 1) && close(y, 1) && close(z, 1), "3-token exact match BLEU %.15g", b);
    expect_pair("", "travel", 0, 0, 0, 0);
    expect_pair("x y", "a b", 0, 0, 0, 0); /* no unigram match: BLEU 0 */
}

/* Corpus of A, B, D (pred "", ref "x y") and E (ref blank: skipped).
 *   matches [5+6, 3+4, 1+3, 0+2] = [11 7 4 2], totals [12 10 8 6];
 *   C = 6 + 6 + 0 = 12, R = 6 + 9 + 2 = 17: BP = exp(1 - 17/12).
 *   corpus BLEU = exp(-5/12) * (11/12 * 7/10 * 4/8 * 2/6)^(1/4)
 *   sentence means over n = 3: BLEU (A + B + 0)/3, ROUGE-1 (5/6 + 0.8)/3, ... */
static void test_corpus(void)
{
    const char *pred[] = {"the cat sat on the mat", "美食，咖啡。", "", "anything"};
    const char *ref[] = {"the cat is on the mat", "美食，咖啡，拿铁。", "x y", "  "};
    nl_text_scores s;
    if (!h_ok(nl_text_scores_compute(pred, ref, 4, &s), "corpus")) return;
    h_check(s.n == 3 && s.skipped == 1, "3 scored, 1 skipped (%lld, %lld)", (long long)s.n, (long long)s.skipped);
    double a = pow(1.0 / 240, 0.25), bb = exp(-0.5) * pow(0.4, 0.25);
    h_check(close(s.bleu4, (a + bb) / 3), "mean BLEU %.15g", s.bleu4);
    h_check(close(s.rouge1, (5.0 / 6 + 0.8) / 3), "mean ROUGE-1 %.15g", s.rouge1);
    h_check(close(s.rouge2, (0.6 + 8.0 / 13) / 3), "mean ROUGE-2 %.15g", s.rouge2);
    h_check(close(s.rougeL, (5.0 / 6 + 0.8) / 3), "mean ROUGE-L %.15g", s.rougeL);
    double want = exp(1 - 17.0 / 12) * pow(11.0 / 12 * 7.0 / 10 * 4.0 / 8 * 2.0 / 6, 0.25);
    h_check(close(s.corpus_bleu4, want), "corpus BLEU %.15g want %.15g", s.corpus_bleu4, want);
    /* corpus BLEU without any 4-gram match is 0 (no smoothing) */
    const char *p2[] = {"the cat sat on the mat"}, *r2[] = {"the cat is on the mat"};
    nl_text_scores_compute(p2, r2, 1, &s);
    h_check(s.corpus_bleu4 == 0 && close(s.bleu4, a), "corpus 0 without 4-gram matches");
    nl_text_scores_compute(NULL, NULL, 0, &s);
    h_check(s.n == 0 && s.bleu4 == 0, "no pairs");
    h_expect_error(nl_text_scores_compute(pred, NULL, 2, &s), NL_ERR_ARG, "NULL references");
    const char *hole[] = {"a", NULL};
    h_expect_error(nl_text_scores_compute(hole, ref, 2, &s), NL_ERR_ARG, "a NULL prediction");
}

int main(void)
{
    h_init("textmetrics");
    test_tokens();
    test_pairs();
    test_corpus();
    return h_finish();
}
