;;; train-run.scm — SRFI-64 suite of NoteLLM-2 training runs from Scheme:
;;; a tiny run on the synthetic benchmark made from an alist, train! with
;;; val loss, metrics.jsonl and checkpoints, inspecting a parameter, resuming
;;; from the checkpoint, the loss plot, and configuration errors.
(use-modules (ice-9 rdelim) (srfi srfi-1) (srfi srfi-64) (notellm))

(define tmp (mkdtemp (string-copy "/tmp/nl-run-XXXXXX")))
(define (at name) (string-append tmp "/" name))

(define (error-key thunk)
  "The key thrown by THUNK, or 'no-error."
  (catch #t (lambda () (thunk) 'no-error) (lambda (key . args) key)))

(define (count-lines file)
  "The number of lines of FILE."
  (call-with-input-file file
    (lambda (p) (let loop ((n 0)) (if (eof-object? (read-line p)) n (loop (+ n 1)))))))

(test-begin "train-run")

(set-threads! 1)
(generate-notes (at "data") #:items 30 #:seed 5 #:image-size 32)
(train-tokenizer (list (at "data/notes_train.csv")) (at "tok.json") #:vocab-size 500)

(define config
  `((method . "notellm2") (data_dir . ,(at "data")) (tokenizer . ,(at "tok.json"))
    (out_dir . ,(at "run")) (lang . "en") (max_steps . 6) (pairs_per_batch . 4) (lr . 0.001)
    (eval_every . 3) (eval_batches . 2) (save_every . 3) (max_note_tokens . 96) (seed . 11)
    (llm . ((hidden_size . 32) (intermediate_size . 48) (num_layers . 1) (num_heads . 2)
            (num_kv_heads . 1) (head_dim . 16)))
    (vision . ((hidden_size . 16) (intermediate_size . 32) (num_layers . 1) (num_heads . 2)
               (image_size . 32) (patch_size . 16)))
    (qformer . ((hidden_size . 16) (intermediate_size . 32) (num_layers . 1) (num_heads . 2)
                (num_query_tokens . 4)))))

(define run (make-run config))

(test-group "one step"
  (let ((m (run-step! run)))
    (test-equal 1 (assq-ref m 'step))
    (test-assert (finite? (assq-ref m 'loss)))
    (test-assert (> (assq-ref m 'notes) 0))
    (test-equal 6 (assq-ref (run-info run) 'total-steps))))

(test-group "train! with val loss, metrics and checkpoints"
  (let ((port (open-output-string)))
    (test-eq 'done (train! run #:port port))
    (test-assert (string-contains (get-output-string port) "val ")))
  (test-assert (assq-ref (run-info run) 'done))
  (test-equal 5 (count-lines (at "run/metrics.jsonl")))
  (test-assert (file-exists? (at "run/checkpoint/state.json")))
  (test-assert (file-exists? (at "run/best/model.safetensors")))
  (let ((tau (assoc-ref (run-parameters run) "head.tau")))
    (test-equal '(1) (tensor-shape tau)))
  (plot-loss run (at "loss.png"))
  (test-assert (> (stat:size (stat (at "loss.png"))) 1000)))

(test-group "resume from the checkpoint"
  (let ((again (load-run (at "run/checkpoint"))))
    (test-equal 6 (assq-ref (run-info again) 'steps-done))
    (test-equal (tensor->list (assoc-ref (run-parameters run) "head.tau"))
                (tensor->list (assoc-ref (run-parameters again) "head.tau")))))

(test-group "recall of the trained run"
  (let* ((r (recall run #:pairs "test_imagelinked" #:cases 3))
         (ks (assq-ref r 'recall))
         (vals (map cdr ks)))
    (test-assert (> (assq-ref r 'queries) 0))
    (test-assert (every (lambda (v) (<= 0 v 1)) vals))
    (test-equal vals (sort vals <))            ; R@K grows with K
    ;; each case: (query target rank top-3); a rank below 3 means the target is in the top 3
    (test-assert (every (lambda (c) (eq? (< (caddr c) 3) (and (member (cadr c) (cadddr c)) #t)))
                        (assq-ref r 'cases))))
  (test-eq 'notellm-shape-error
           (error-key (lambda () (recall run #:pairs "test" #:embeddings (cons (zeros '(3)) '(0 1 2))))))
  (test-eq 'wrong-type-arg (error-key (lambda () (embed-notes 42))))
  (let ((table (recall-report run #:lists '("test" "test_imagelinked") #:port (open-output-string))))
    (test-equal '("test" "test_imagelinked") (map car table))))

(test-group "bad configurations"
  (test-eq 'notellm-format-error (error-key (lambda () (make-run '((learning_rate . 0.1))))))
  (test-eq 'notellm-format-error (error-key (lambda () (make-run "{\"lr\": \"fast\"}"))))
  (test-eq 'notellm-io-error
           (error-key (lambda () (make-run `((data_dir . ,(at "none")) (tokenizer . ,(at "tok.json"))))))))

(system* "rm" "-rf" tmp)
(test-end "train-run")
