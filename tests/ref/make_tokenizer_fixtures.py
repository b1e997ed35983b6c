#!/usr/bin/python3
"""make_tokenizer_fixtures.py — an independent reference for tests/unit/test_tokenizer.c.

Trains three tiny BPE tokenizers on a fixed corpus (deterministic: most frequent
pair, ties to the smallest pair) and encodes the test strings with the classic
algorithms written out here from their descriptions:
  * GPT-2 byte-level BPE: bytes_to_unicode, the GPT-2 split regex, merge the
    lowest-ranked bigram (every occurrence) until none applies;
  * Qwen2: the same with Qwen2's split regex (digits one by one), NFC, and
    added tokens cut out of the raw text first (longest match);
  * LLaMA-2 SentencePiece-style BPE: "▁" prepended, spaces -> "▁", unknown
    characters -> <0xNN> byte tokens, BOS from the template.
Prints a C fragment (merges, base vocab, expected ids) pasted into the test.
Run once by hand with /usr/bin/python3 (needs python3-regex); `make check`
never runs it.
"""
import unicodedata

import regex

GPT2_PAT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
QWEN_PAT = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
            r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")

CORPUS = """The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs.
Hello world! Hello there, hello again. We'll see what they've done, don't worry.
Numbers like 12345 and 2024 and 1000000 appear in text: 3.14, 42, 7 days.
Count 12345, 12345, 1234, 123 and 2345; 12345 again.
Tokenizers split text into pieces, then merge the pieces by rank.
    indented code:  x = y + 1  # comment
"""
CJK = "你好，世界。你好世界！"
EMOJI = "🙂👍🏽 emoji 🙂"

TESTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "a  b\n\n  c",
    "12345",
    "你好，世界",
    "emoji 🙂👍🏽!",
    "don't stop, we'll see",
    "  leading and trailing  ",
    "x = y + 1\t# tab",
]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()


def split_isolated(pat, text):
    """HF Split(behavior Isolated): matches and the gaps between them."""
    out, last = [], 0
    for m in regex.finditer(pat, text):
        if m.start() > last:
            out.append(text[last:m.start()])
        if m.end() > m.start():
            out.append(m.group())
        last = m.end()
    if last < len(text):
        out.append(text[last:])
    return out


def train(words, n_merges):
    """words: {tuple of symbols: count}. Returns the merges in rank order."""
    words = dict(words)
    merges = []
    for _ in range(n_merges):
        counts = {}
        for w, c in words.items():
            for p in zip(w, w[1:]):
                counts[p] = counts.get(p, 0) + c
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        if counts[best] < 2:
            break
        merges.append(best)
        new = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] = new.get(tuple(out), 0) + c
        words = new
    return merges


def bpe(symbols, ranks):
    """The classic GPT-2 loop: merge every occurrence of the lowest-ranked bigram."""
    word = list(symbols)
    while len(word) > 1:
        pairs = set(zip(word, word[1:]))
        best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if best not in ranks:
            break
        out, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                out.append(word[i] + word[i + 1])
                i += 2
            else:
                out.append(word[i])
                i += 1
        word = out
    return word


def byte_level_vocab(merges):
    vocab = {B2U[b]: b for b in range(256)}
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    return vocab


def byte_level_encode(text, pat, vocab, ranks, added=None, nfc=False):
    added = added or {}
    ids = []
    segs, i, last = [], 0, 0
    keys = sorted(added, key=len, reverse=True)
    while i < len(text):
        hit = next((k for k in keys if text.startswith(k, i)), None)
        if hit:
            segs.append(text[last:i])
            segs.append(added[hit])
            i += len(hit)
            last = i
        else:
            i += 1
    segs.append(text[last:])
    for s in segs:
        if isinstance(s, int):
            ids.append(s)
            continue
        if nfc:
            s = unicodedata.normalize("NFC", s)
        for piece in split_isolated(pat, s):
            mapped = "".join(B2U[b] for b in piece.encode("utf-8"))
            ids.extend(vocab[t] for t in bpe(mapped, ranks))
    return ids


def sp_encode(text, vocab, ranks, added):
    ids = [1]  # BOS from TemplateProcessing
    keys = sorted(added, key=len, reverse=True)
    segs, i, last = [], 0, 0
    while i < len(text):
        hit = next((k for k in keys if text.startswith(k, i)), None)
        if hit:
            segs.append(text[last:i])
            segs.append(added[hit])
            i += len(hit)
            last = i
        else:
            i += 1
    segs.append(text[last:])
    for s in segs:
        if isinstance(s, int):
            ids.append(s)
            continue
        if not s:
            continue
        s = "▁" + s.replace(" ", "▁")
        symbols = []
        for ch in s:
            if ch in vocab:
                symbols.append(ch)
            else:
                symbols.extend("<0x%02X>" % b for b in ch.encode("utf-8"))
        ids.extend(vocab[t] for t in bpe(symbols, ranks))
    return ids


def c_str(s):
    out = []
    for ch in s:
        if ch == "\\" or ch == '"':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append("\\%03o" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def c_ids(name, ids):
    return "static const int32_t %s[] = {%s};" % (name, ", ".join(map(str, ids)))


def emit_merges(name, merges):
    print("static const char *const %s[] = {" % name)
    line = "   "
    for a, b in merges:
        item = " " + c_str(a + " " + b) + ","
        if len(line) + len(item) > 110:
            print(line)
            line = "   "
        line += item
    print(line)
    print("};")


def main():
    text = CORPUS + CJK + EMOJI
    # GPT-2 and Qwen2 fixtures share one training run on GPT-2 pieces
    words = {}
    for piece in regex.findall(GPT2_PAT, text):
        w = tuple(B2U[b] for b in piece.encode("utf-8"))
        words[w] = words.get(w, 0) + 1
    merges = train(words, 160)
    ranks = {m: r for r, m in enumerate(merges)}
    vocab = byte_level_vocab(merges)
    nv = len(vocab)
    print("/* generated by tests/ref/make_tokenizer_fixtures.py */")
    emit_merges("bl_merges", merges)
    print("#define BL_NVOCAB %d" % nv)
    qwen_added = {"<|endoftext|>": nv, "<|im_start|>": nv + 1, "<|im_end|>": nv + 2}
    for k, t in enumerate(TESTS):
        print(c_ids("gpt2_ids_%d" % k, byte_level_encode(t, GPT2_PAT, vocab, ranks)))
        print(c_ids("qwen_ids_%d" % k, byte_level_encode(t, QWEN_PAT, vocab, ranks, qwen_added, True)))
    mid = "hi<|im_start|>user\nHello<|im_end|><|endoftext|>"
    print(c_ids("qwen_ids_added", byte_level_encode(mid, QWEN_PAT, vocab, ranks, qwen_added, True)))
    print(c_ids("qwen_ids_nfc", byte_level_encode("cafe\u0301 caf\u00e9", QWEN_PAT, vocab, ranks, qwen_added,
                                                    True)))

    # SentencePiece-style: base characters of the English corpus only, so CJK
    # and emoji go through byte fallback
    sp_text = CORPUS.replace("\n", " ")
    base = sorted(set("▁" + sp_text.replace(" ", "▁")))
    sp_words = {}
    for w in regex.findall(r"▁[^▁]*|[^▁]+", "▁" + sp_text.replace(" ", "▁")):
        sp_words[tuple(w)] = sp_words.get(tuple(w), 0) + 1
    sp_merges = train(sp_words, 120)
    sp_ranks = {m: r for r, m in enumerate(sp_merges)}
    sp_vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        sp_vocab["<0x%02X>" % b] = len(sp_vocab)
    for ch in base:
        sp_vocab[ch] = len(sp_vocab)
    for a, b in sp_merges:
        if a + b not in sp_vocab:
            sp_vocab[a + b] = len(sp_vocab)
    print("static const char *const sp_base = %s;" % c_str("".join(base)))
    emit_merges("sp_merges", sp_merges)
    print("#define SP_NVOCAB %d" % len(sp_vocab))
    sp_added = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for k, t in enumerate(TESTS):
        print(c_ids("sp_ids_%d" % k, sp_encode(t, sp_vocab, sp_ranks, sp_added)))
    print(c_ids("sp_ids_added", sp_encode("Hello</s>world", sp_vocab, sp_ranks, sp_added)))
    print("#define N_TESTS %d" % len(TESTS))
    print("static const char *const test_text[] = {%s};" % ", ".join(c_str(t) for t in TESTS))
    for fam in ("gpt2", "qwen", "sp"):
        print("static const int32_t *const %s_ids[] = {%s};" % (fam, ", ".join(
            "%s_ids_%d" % (fam, k) for k in range(len(TESTS)))))
        print("static const size_t %s_n[] = {%s};" % (fam, ", ".join(
            "sizeof %s_ids_%d / sizeof(int32_t)" % (fam, k) for k in range(len(TESTS)))))


if __name__ == "__main__":
    main()
