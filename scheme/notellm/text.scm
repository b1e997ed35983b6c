;;; text.scm — (notellm text): HF tokenizer.json tokenizers from Scheme —
;;; load, encode, decode, add special tokens, look up, save, and train a
;;; byte-level BPE on a corpus. Depends on (notellm primitives) only.
(define-module (notellm text)
  #:use-module ((oop goops) #:select (define-method))
  #:use-module (notellm primitives)
  #:re-export (<tokenizer>)
  #:export (load-tokenizer tokenizer? tokenize detokenize tokenizer-add-tokens!
            tokenizer-vocab-size token->id id->token save-tokenizer train-tokenizer))

(define (load-tokenizer file)
  "Load the HF tokenizer.json FILE: byte-level BPE (GPT-2, Qwen2) or
SentencePiece-style BPE with byte fallback (LLaMA-2), with its normalizer,
added tokens and post-processor. Unsupported parts raise
notellm-format-error naming them."
  (%nl-load-tokenizer file))

(define (tokenizer? obj)
  "#t if OBJ is a tokenizer."
  (%nl-tokenizer? obj))

(define* (tokenize tok text #:key (add-special #t))
  "The token ids of the string TEXT under TOK, as HF `tokenizers` gives
them; ADD-SPECIAL applies the post-processor template (e.g. LLaMA's BOS)."
  (%nl-tokenize tok text add-special))

(define* (detokenize tok ids #:key (skip-special #f))
  "The text of the token IDS (a list) under TOK; special tokens are left out
when SKIP-SPECIAL."
  (%nl-detokenize tok ids skip-special))

(define* (tokenizer-add-tokens! tok contents #:key (special #f))
  "Add the strings CONTENTS to TOK as tokens matched whole in raw text (e.g.
\"<IMG>\" \"<IMG_EMB>\" \"<TEXT_EMB>\"; SPECIAL ones such as \"[PAD]\" are
dropped by (detokenize ... #:skip-special #t)). Returns their ids; existing
tokens keep theirs. Resize the model's vocabulary to match with
resize-vocab!."
  (%nl-tokenizer-add-tokens! tok contents special))

(define (tokenizer-vocab-size tok)
  "The number of ids TOK can produce (highest id + 1): the embedding rows a
model needs."
  (%nl-tokenizer-vocab-size tok))

(define (token->id tok token)
  "The id of the exact token string TOKEN (vocab form, e.g. \"Ġthe\"), or #f."
  (%nl-token->id tok token))

(define (id->token tok id)
  "The token string of ID, or #f when TOK has no such id."
  (%nl-id->token tok id))

(define (save-tokenizer tok file)
  "Write TOK, with the tokens added since loading, as tokenizer.json to FILE
(atomically)."
  (%nl-save-tokenizer tok file))

(define* (train-tokenizer files out #:key (vocab-size 4096) (min-frequency 2) (special-tokens '()))
  "Train a byte-level BPE tokenizer (GPT-2 byte alphabet, Qwen2 split
pattern) on the text FILES (a list of paths) and write it as tokenizer.json
to OUT: VOCAB-SIZE ids in all (<|endoftext|> and SPECIAL-TOKENS first, the
256 byte symbols, then merges of pairs seen at least MIN-FREQUENCY times,
most frequent first, ties broken by the smaller token strings). Returns the
loaded tokenizer."
  (%nl-train-tokenizer files out vocab-size min-frequency special-tokens)
  (load-tokenizer out))

(define-method (write (t <tokenizer>) port)
  (format port "#<tokenizer ~a ids>" (tokenizer-vocab-size t)))
