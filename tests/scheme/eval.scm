;;; eval.scm — SRFI-64 suite of (notellm eval) beyond the recall engine: a
;;; tiny trained NoteLLM run's embeddings saved and loaded in both formats
;;; (ids on disk, indices back), recall on loaded embeddings, the JSON results
;;; file and the bar charts, `notellm eval` through (notellm commands) with a
;;; data directory override, BLEU/ROUGE on a hand-computed pair, and the
;;; generation metrics with their references checked against the notes.
(use-modules (ice-9 binary-ports) (ice-9 rdelim) (ice-9 textual-ports) (rnrs bytevectors) (srfi srfi-1)
             (srfi srfi-64) (notellm) (notellm commands) (notellm primitives))

(define tmp (mkdtemp (string-copy "/tmp/nl-eval-XXXXXX")))
(define (at name) (string-append tmp "/" name))

(define (error-key thunk)
  "The key thrown by THUNK, or 'no-error."
  (catch #t (lambda () (thunk) 'no-error) (lambda (key . args) key)))

(define (png-size file)
  "The (width height) of the PNG FILE from its IHDR chunk."
  (let ((b (call-with-input-file file get-bytevector-all #:binary #t)))
    (list (bytevector-u32-ref b 16 (endianness big)) (bytevector-u32-ref b 20 (endianness big)))))

(define (file-lines file)
  "The lines of FILE."
  (call-with-input-file file
    (lambda (p) (let loop ((acc '())) (let ((l (read-line p))) (if (eof-object? l) (reverse acc) (loop (cons l acc))))))))

(define (close? a b) (< (abs (- a b)) 1e-12))

(test-begin "eval")

(set-threads! 1)
(generate-notes (at "data") #:items 30 #:seed 5 #:image-size 32)
(train-tokenizer (list (at "data/notes_train.csv")) (at "tok.json") #:vocab-size 500)
(define tiny-llm '(llm . ((hidden_size . 32) (intermediate_size . 48) (num_layers . 1) (num_heads . 2)
                          (num_kv_heads . 1) (head_dim . 16))))
(define run (make-run `((method . "notellm") (data_dir . ,(at "data")) (tokenizer . ,(at "tok.json"))
                        (out_dir . ,(at "run")) (lang . "en") (max_steps . 3) (pairs_per_batch . 4)
                        (lr . 0.001) (max_note_tokens . 96) (seed . 11) ,tiny-llm)))
(train! run #:port (open-output-string))
(define ds (load-notes (at "data")))
(define emb (embed-notes run #:ds ds))
(define ids (map (lambda (i) (assq-ref (note-ref ds i) 'id)) (cdr emb)))

(test-group "embedding variants"
  (let ((some (list-head (cdr emb) 4)))
    (test-equal "'full is the default"
      (tensor->list (car (embed-notes run #:notes some)))
      (tensor->list (car (embed-notes run #:notes some #:variant 'full))))
    (test-eq "'image-only on a model without vision is refused" 'notellm-error
      (error-key (lambda () (embed-notes run #:notes some #:variant 'image-only))))
    (test-eq "an unknown variant is a wrong-type-arg" 'wrong-type-arg
      (error-key (lambda () (embed-notes run #:notes some #:variant 'audio-only))))))

(test-group "embedding tables"
  (save-embeddings emb (at "e.safetensors") #:ds ds)
  (save-embeddings emb (at "e.npy") #:run run)
  (test-equal ids (file-lines (at "e.ids.txt")))
  (test-equal '("embeddings") (map car (load-safetensors (at "e.safetensors"))))
  (test-equal "notellm-embeddings" (assoc-ref (safetensors-metadata (at "e.safetensors")) "format"))
  (for-each
   (lambda (f)
     (let ((by-id (load-embeddings (at f))) (by-index (load-embeddings (at f) #:ds ds)))
       (test-equal ids (cdr by-id))
       (test-equal (cdr emb) (cdr by-index))
       (test-equal (tensor->list (car emb)) (tensor->list (car by-id)))))
   '("e.safetensors" "e.npy"))
  ;; recall on the loaded table equals recall on the computed one
  (test-equal (recall run #:embeddings emb #:ds ds #:cases 2)
    (recall run #:embeddings (load-embeddings (at "e.npy") #:run run) #:ds ds #:cases 2))
  ;; ids given directly; an id the dataset lacks
  (save-embeddings (cons (tensor-narrow (car emb) 0 0 2) '("zz1" "zz2")) (at "z.npy"))
  (test-equal '("zz1" "zz2") (cdr (load-embeddings (at "z.npy"))))
  (test-eq 'notellm-error (error-key (lambda () (load-embeddings (at "z.npy") #:ds ds))))
  (test-eq 'wrong-type-arg (error-key (lambda () (save-embeddings emb (at "x.npy")))))
  (test-eq 'notellm-format-error (error-key (lambda () (save-embeddings (cons (ones '(2 3)) '("a" "b")) (at "o.npy")))))
  (test-eq 'notellm-error (error-key (lambda () (save-embeddings emb (at "e.csv") #:ds ds))))
  (test-eq 'notellm-io-error (error-key (lambda () (load-embeddings (at "missing.safetensors"))))))

(define results (recall-report run #:port (open-output-string) #:json (at "r.json") #:info '((note . "test"))))

(test-group "results file and charts"
  (let ((text (call-with-input-file (at "r.json") get-string-all)))
    (test-assert (string-prefix? "{\"run\": {\"note\": \"test\", \"method\": \"notellm\", \"steps-done\": 3" text))
    (test-assert (string-contains text "\"ks\": [10, 20, 50, 100, 1000]"))
    (for-each (lambda (r)
                (test-assert (car r)
                  (string-contains text (format #f "~s: {\"queries\": ~a, \"pool\": ~a" (car r)
                                                (assq-ref (cdr r) 'queries) (assq-ref (cdr r) 'pool)))))
              results))
  (plot-recall results (at "r.png") #:width 640 #:height 360)
  (test-equal '(640 360) (png-size (at "r.png")))
  (plot-bars (at "b.png") '("a" "b" "c") '("x" "y") '((0.1 0.5 0.9) (0.2 #f 0.4)) #:width 300 #:height 200)
  (test-equal '(300 200) (png-size (at "b.png")))
  (test-eq 'notellm-error (error-key (lambda () (plot-bars (at "c.png") '("a" "b") '("x") '((1 2 3))))))
  (test-eq 'notellm-error (error-key (lambda () (plot-bars (at "c.png") '("a") '("x" "y") '((1))))))
  (test-eq 'wrong-type-arg (error-key (lambda () (plot-recall '() (at "c.png"))))))

(test-group "notellm eval"
  (let ((port (open-output-string)))
    (test-equal 0 (with-output-to-port port
                    (lambda () (run-command "eval" (list (at "run/checkpoint") (at "data") "--json" (at "c.json")
                                                         "--plot" (at "c.png"))))))
    (test-assert (string-contains (get-output-string port) "test_imagelinked"))
    (test-assert (file-exists? (at "c.png")))
    (test-assert (string-contains (call-with-input-file (at "c.json") get-string-all) "\"steps-done\": 3")))
  ;; the run rebuilt on a data directory gives the trained run's numbers
  (test-equal results (recall-report (load-run-with-data (at "run/checkpoint") (at "data")) #:port (open-output-string)))
  (test-equal 2 (with-error-to-port (open-output-string) (lambda () (run-command "eval" '("a" "b" "c")))))
  (test-equal 2 (with-error-to-port (open-output-string) (lambda () (run-command "eval" '())))))

(test-group "text scores"
  ;; the cat sat on the mat / the cat is on the mat: precisions 5/6 3/5 1/4 and
  ;; (smoothed) 0.1/3, BP 1 -> BLEU (1/240)^(1/4); ROUGE-1 5/6, ROUGE-2 3/5,
  ;; LCS 5 of 6 -> ROUGE-L 5/6 (tests/unit/test_textmetrics.c has the details)
  (let ((s (text-scores '("the cat sat on the mat" "x") '("the cat is on the mat" " "))))
    (test-equal 1 (assq-ref s 'n))
    (test-equal 1 (assq-ref s 'skipped))
    (test-assert (close? (expt (/ 1. 240) 0.25) (assq-ref s 'bleu4)))
    (test-assert (close? (/ 5. 6) (assq-ref s 'rouge1)))
    (test-assert (close? 0.6 (assq-ref s 'rouge2)))
    (test-assert (close? (/ 5. 6) (assq-ref s 'rougeL))))
  (test-eq 'wrong-type-arg (error-key (lambda () (text-scores '("a") '())))))

(test-group "generation prompts are the CSFT training prompts cut before the target"
  (let ((tok (load-tokenizer (at "tok.json"))))
    (tokenizer-add-tokens! tok '("[PAD]") #:special #t)
    (tokenizer-add-tokens! tok '("<IMG>" "<IMG_EMB>" "<TEXT_EMB>"))
    (tokenizer-add-tokens! tok '("</s>") #:special #t)
    (for-each (lambda (i)
                (let ((train (build-prompt ds tok i #:kind 'category #:lang 'en #:max-note-tokens 96))
                      (gen (car (%nl-run-gen-prompt run i 'category))))
                  (test-equal (string-append gen " " (prompt-target train) "</s>") (prompt-text train))))
              (take (cdr emb) 3))))

(test-group "generation metrics"
  (let* ((g (generation-metrics run #:limit 3 #:max-new-tokens 6 #:examples 3))
         (ex (assq-ref g 'examples))
         (test-notes (filter (lambda (i) (eq? 'test (assq-ref (note-ref ds i) 'split))) (iota (notes-count ds)))))
    (test-equal 3 (assq-ref g 'n))
    (test-equal 3 (length ex))
    (for-each (lambda (k) (test-assert (symbol->string k) (<= 0 (assq-ref g k) 1)))
              '(category-accuracy illusory-rate bleu4 corpus-bleu4 rouge1 rouge2 rougeL))
    ;; references: the '@' levels of the raw category and the note's tags,
    ;; joined by ", " and closed by "." (the en templates)
    (for-each (lambda (e i)
                (let ((n (note-ref ds i)))
                  (test-equal (assq-ref n 'id) (assq-ref e 'id))
                  (test-equal (string-append (string-join (remove string-null? (string-split (assq-ref n 'category) #\@))
                                                          ", ") ".")
                    (assq-ref e 'category-reference))
                  (test-equal (string-append (string-join (string-split (assq-ref n 'p-topic) #\，) ", ") ".")
                    (assq-ref e 'hashtag-reference))))
              ex (take test-notes 3))
    (test-equal (/ (count (lambda (e) (string=? (string-trim-right (assq-ref e 'category) #\.)
                                                (string-trim-right (assq-ref e 'category-reference) #\.)))
                          ex)
                   3.)
      (assq-ref g 'category-accuracy)))
  (let ((mm (make-run `((method . "notellm2") (data_dir . ,(at "data")) (tokenizer . ,(at "tok.json"))
                        (lang . "en") (max_steps . 1) (max_note_tokens . 96) ,tiny-llm
                        (vision . ((hidden_size . 16) (intermediate_size . 32) (num_layers . 1) (num_heads . 2)
                                   (image_size . 32) (patch_size . 16)))
                        (qformer . ((hidden_size . 16) (intermediate_size . 32) (num_layers . 1) (num_heads . 2)
                                    (num_query_tokens . 4)))))))
    (test-eq 'notellm-error (error-key (lambda () (generation-metrics mm #:limit 1))))
    (test-equal "run-info: visual tokens in the multimodal run only" '(#t #f)
      (map (lambda (r) (assq-ref (run-info r) 'visual-tokens)) (list mm run)))))

(system* "rm" "-rf" tmp)
(test-end "eval")
