;;; text.scm — SRFI-64 suite of (notellm text): a tiny byte-level BPE
;;; tokenizer.json written here, encoded and decoded from Scheme, NoteLLM's
;;; special tokens added and saved, text generation through a tokenizer,
;;; and the errors of bad tokenizer files.
(use-modules (srfi srfi-64) (notellm))

(define tmp (mkdtemp (string-copy "/tmp/nl-text-XXXXXX")))
(define file (string-append tmp "/tokenizer.json"))

(define (error-key thunk)
  "The key thrown by THUNK, or 'no-error."
  (catch #t (lambda () (thunk) 'no-error) (lambda (key . args) key)))

;; GPT-2 style: "Ġ" is the byte-level symbol of a space.
(call-with-output-file file
  (lambda (p)
    (display "{\"version\": \"1.0\", \"added_tokens\": [], \"normalizer\": null,
 \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},
 \"post_processor\": null, \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},
 \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, \"continuing_subword_prefix\": null,
   \"end_of_word_suffix\": null, \"fuse_unk\": false, \"byte_fallback\": false,
   \"vocab\": {\"h\": 0, \"e\": 1, \"l\": 2, \"o\": 3, \"\\u0120\": 4, \"w\": 5, \"r\": 6, \"d\": 7,
              \"he\": 8, \"ll\": 9, \"hell\": 10, \"hello\": 11},
   \"merges\": [\"h e\", \"l l\", \"he ll\", \"hell o\"]}}" p)))

(test-begin "text")

(define tok (load-tokenizer file))

(test-group "encode and decode"
  (test-assert (tokenizer? tok))
  (test-equal '(11 4 5 3 6 2 7) (tokenize tok "hello world"))
  (test-equal "hello world" (detokenize tok '(11 4 5 3 6 2 7)))
  (test-equal 12 (tokenizer-vocab-size tok))
  (test-equal 11 (token->id tok "hello"))
  (test-equal "Ġ" (id->token tok 4))
  (test-equal #f (token->id tok "absent"))
  (test-equal "#<tokenizer 12 ids>" (object->string tok)))

(test-group "NoteLLM special tokens"
  (test-equal '(12 13) (tokenizer-add-tokens! tok '("<IMG>" "<TEXT_EMB>")))
  (test-equal '(14) (tokenizer-add-tokens! tok '("[PAD]") #:special #t))
  (test-equal '(12) (tokenizer-add-tokens! tok '("<IMG>")))
  (test-equal '(11 12 4 5 3 6 2 7 13) (tokenize tok "hello<IMG> world<TEXT_EMB>"))
  (test-equal "hello world" (detokenize tok '(11 14 4 5 3 6 2 7 14) #:skip-special #t))
  (save-tokenizer tok (string-append tmp "/saved.json"))
  (let ((tok2 (load-tokenizer (string-append tmp "/saved.json"))))
    (test-equal 15 (tokenizer-vocab-size tok2))
    (test-equal (tokenize tok "hello<IMG> world") (tokenize tok2 "hello<IMG> world"))))

(test-group "generation through a tokenizer"
  (let ((m (make-model 'tiny #:config `((vocab-size . ,(tokenizer-vocab-size tok)) (layers . 1)))))
    (test-assert (string? (generate m tok "hello" #:max-new-tokens 3)))))

(test-group "training a tokenizer"
  (let ((corpus (string-append tmp "/corpus.txt")))
    (call-with-output-file corpus
      (lambda (p)
        (do ((i 0 (+ i 1))) ((= i 300))
          (format p "the note about a red lantern ~a #travel# 红灯笼 ~a~%" i (* i 7)))))
    (let ((t (train-tokenizer (list corpus) (string-append tmp "/bpe.json") #:vocab-size 400
                              #:special-tokens '("[PAD]"))))
      ;; the corpus has few distinct words: merges run out before 400 ids
      (test-assert (< 258 (tokenizer-vocab-size t) 401))
      (test-equal 1 (token->id t "[PAD]"))
      (test-equal "the note about a red lantern 12 红灯笼"
                  (detokenize t (tokenize t "the note about a red lantern 12 红灯笼")))
      (test-assert (< (length (tokenize t " lantern")) 3)))))

(test-group "bad tokenizers"
  (test-eq 'notellm-io-error (error-key (lambda () (load-tokenizer (string-append tmp "/none.json")))))
  (call-with-output-file (string-append tmp "/bad.json")
    (lambda (p) (display "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}" p)))
  (test-eq 'notellm-format-error (error-key (lambda () (load-tokenizer (string-append tmp "/bad.json")))))
  (test-eq 'notellm-error (error-key (lambda () (detokenize tok '(99)))))
  (test-eq 'wrong-type-arg (error-key (lambda () (tokenize tok 42)))))

(system* "rm" "-rf" tmp)
(test-end "text")
