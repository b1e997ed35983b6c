;;; train-learns.scm — SRFI-64: a tiny NoteLLM-2 (mICL + late fusion) trained
;;; for a bounded number of steps on the synthetic benchmark lowers its
;;; validation loss clearly (val pairs come from items never trained on).
;;; About 30 s on one core; a test with a fixed step count, not a timing.
(use-modules (srfi srfi-64) (notellm))

(define tmp (mkdtemp (string-copy "/tmp/nl-learn-XXXXXX")))
(define (at name) (string-append tmp "/" name))

(test-begin "train-learns")
(set-threads! 1)
(generate-notes (at "data") #:items 150 #:seed 5 #:image-size 32)
(train-tokenizer (list (at "data/notes_train.csv")) (at "tok.json") #:vocab-size 500)
(define run
  (make-run `((method . "notellm2") (data_dir . ,(at "data")) (tokenizer . ,(at "tok.json"))
              (out_dir . ,(at "run")) (lang . "en") (max_steps . 150) (pairs_per_batch . 8) (lr . 0.001)
              (eval_batches . 16) (max_note_tokens . 96) (seed . 11)
              (llm . ((hidden_size . 64) (intermediate_size . 96) (num_layers . 1) (num_heads . 2)
                      (num_kv_heads . 1) (head_dim . 32)))
              (vision . ((hidden_size . 16) (intermediate_size . 32) (num_layers . 1) (num_heads . 2)
                         (image_size . 32) (patch_size . 16)))
              (qformer . ((hidden_size . 16) (intermediate_size . 32) (num_layers . 1) (num_heads . 2)
                          (num_query_tokens . 4))))))
(define before (run-eval run))
(test-eq 'done (train! run #:port (open-output-string)))
(define after (run-eval run))
(format #t "val loss ~,4f -> ~,4f~%" before after)
(test-assert "val loss falls by more than 20%" (< after (* 0.8 before)))
(system* "rm" "-rf" tmp)
(test-end "train-learns")
