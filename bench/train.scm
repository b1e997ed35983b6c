;;; train.scm — notellm side of the training-step benchmark (bench/train-run):
;;; times one optimizer step (forward, backward, AdamW) of a tiny NoteLLM-2
;;; run and of a text-only NoteLLM run (CSFT + GCL) at 16 pairs per batch on
;;; a synthetic data set, prints one line per configuration
;;;   NAME steps_per_s X notes_per_s Y best_s B median_s M notes N
;;; and writes the shapes actually used (sequence lengths after padding, per
;;; step) to the JSON file SHAPES so bench/train_torch.py runs the same shapes.
;;; Usage: ./pre-inst-env notellm bench/train.scm [SHAPES] [STEPS]
;;; Threads: NOTELLM_THREADS (the runtime's default: all cores).
(use-modules (notellm) (ice-9 format) (srfi srfi-1))

(define args (cdr (command-line)))
(define shapes-file (if (pair? args) (car args) "/tmp/notellm-train-shapes.json"))
(define steps (if (> (length args) 1) (string->number (cadr args)) 5))
(define warmup 2)
(define pairs 16)
(define max-note-tokens 140)   ; the run default; prompts stay far below the tiny LLM's 512 positions

(define tmp (mkdtemp (string-copy "/tmp/nl-bench-train-XXXXXX")))
(define (at name) (string-append tmp "/" name))

;; ---- a tiny JSON writer (objects from alists, arrays from vectors) ----
(define (->json x)
  (cond ((and (pair? x) (every pair? x))
         (string-append "{" (string-join (map (lambda (kv) (string-append (->json (format #f "~a" (car kv))) ": " (->json (cdr kv)))) x) ", ") "}"))
        ((vector? x) (string-append "[" (string-join (map ->json (vector->list x)) ", ") "]"))
        ((null? x) "[]")
        ((string? x) (format #f "~s" x))
        ((symbol? x) (format #f "~s" (symbol->string x)))
        ((eq? x #t) "true")
        ((eq? x #f) "false")
        ((and (real? x) (exact? x)) (number->string x))
        ((real? x) (number->string (exact->inexact x)))
        (else (error "->json" x))))

(define (now) (/ (get-internal-real-time) 1. internal-time-units-per-second))
(define (median xs)
  (let* ((s (sort xs <)) (n (length s)))
    (if (odd? n) (list-ref s (quotient n 2)) (/ (+ (list-ref s (- (quotient n 2) 1)) (list-ref s (quotient n 2))) 2))))

;; ---- data and tokenizer ----
(set-seed! 0)
(with-output-to-port (open-output-string)
  (lambda ()
    (generate-notes (at "data") #:items 200 #:seed 5 #:image-size 64)
    (train-tokenizer (list (at "data/notes_train.csv")) (at "tok.json") #:vocab-size 4096)))

(define (tokenizer-like-run)
  "The tokenizer as a run sees it: [PAD] (special), <IMG>, <IMG_EMB>, <TEXT_EMB>,
and </s> (special) when it is not one token (runtime/train/run.c add_tokens)."
  (let ((tok (load-tokenizer (at "tok.json"))))
    (tokenizer-add-tokens! tok '("[PAD]") #:special #t)
    (tokenizer-add-tokens! tok '("<IMG>" "<IMG_EMB>" "<TEXT_EMB>"))
    (unless (= 1 (length (tokenize tok "</s>" #:add-special #f)))
      (tokenizer-add-tokens! tok '("</s>") #:special #t))
    tok))

(define notes (with-output-to-port (open-output-string) (lambda () (load-notes (at "data")))))

(define (loader-lengths kind seed n)
  "The padded length T and the supervised-label count of each of the first N
batches of the run's train loader (same seed, kind, P, topic rate, lang, cap)."
  (let* ((tok (tokenizer-like-run))
         (l (make-pair-loader notes tok #:pairs "train" #:batch pairs #:seed seed #:kind kind
                              #:topic-rate 0.4 #:lang 'en #:max-note-tokens max-note-tokens)))
    (let loop ((i 0) (ts '()) (rows '()) (labs '()))
      (if (= i n)
          (values (reverse ts) (reverse rows) (reverse labs) (tokenizer-vocab-size tok))
          (let* ((b (pair-loader-next! l))
                 (shape (tensor-shape (assq-ref b 'ids)))
                 (lab (tensor->list (tensor-reshape (assq-ref b 'labels) (list (apply * shape)))))
                 (nlab (count (lambda (x) (>= x 0)) lab)))
            (loop (+ i 1) (cons (cadr shape) ts) (cons (car shape) rows) (cons nlab labs)))))))

(define (param-count run)
  (let loop ((ps (run-parameters run)) (all 0) (train 0))
    (if (null? ps)
        (values all train)
        (let* ((t (cdar ps)) (n (apply * (tensor-shape t))))
          (loop (cdr ps) (+ all n) (if (tensor-requires-grad? t) (+ train n) train))))))

(define (bench name method kind)
  (let* ((seed 11)
         (run (make-run `((method . ,method) (model . "tiny") (data_dir . ,(at "data"))
                          (tokenizer . ,(at "tok.json")) (lang . "en") (pairs_per_batch . ,pairs)
                          (max_note_tokens . ,max-note-tokens) (max_steps . 1000) (seed . ,seed)
                          (eval_every . 0))))
         (times (let loop ((i 0) (acc '()) (notes 0))
                  (if (= i (+ warmup steps))
                      (cons notes (reverse acc))
                      (let* ((t0 (now)) (m (run-step! run)) (dt (- (now) t0)))
                        (if (< i warmup)
                            (loop (+ i 1) acc notes)
                            (loop (+ i 1) (cons dt acc) (+ notes (assq-ref m 'notes))))))))
         (n-notes (car times)) (ts (cdr times))
         (notes-per-step (/ n-notes steps))
         (best (apply min ts)) (med (median ts)))
    (call-with-values (lambda () (loader-lengths kind seed (+ warmup steps)))
      (lambda (T rows labels vocab)
        (call-with-values (lambda () (param-count run))
          (lambda (n-all n-train)
            (format #t "~a steps_per_s ~,4f notes_per_s ~,2f best_s ~,5f median_s ~,5f notes ~a~%"
                    name (/ 1 med) (/ notes-per-step med) best med notes-per-step)
            (format (current-error-port) "~a: T per step ~a, params ~a (trainable ~a), vocab ~a~%"
                    name T n-all n-train vocab)
            `((name . ,name) (method . ,method) (rows . ,(list->vector rows)) (T . ,(list->vector T))
              (labels . ,(list->vector labels)) (warmup . ,warmup) (steps . ,steps)
              (vocab . ,vocab) (params . ,n-all) (trainable . ,n-train)
              (best_s . ,best) (median_s . ,med) (notes_per_step . ,notes-per-step)
              (llm . ((hidden . 256) (intermediate . 688) (layers . 4) (heads . 4) (kv_heads . 4)
                      (head_dim . 64) (rope_theta . 10000.)))
              (vision . ,(if (string=? method "notellm2")
                             '((hidden . 192) (intermediate . 768) (layers . 4) (heads . 3)
                               (image_size . 64) (patch_size . 16))
                             #f))
              (qformer . ,(if (string=? method "notellm2")
                              '((hidden . 192) (intermediate . 768) (layers . 2) (heads . 3)
                                (queries . 16) (cross_attention_frequency . 2))
                              #f))
              (dim . 64) (micl . ,(string=? method "notellm2")) (late_fusion . ,(string=? method "notellm2"))
              (csft . ,(string=? method "notellm"))
              (visual_tokens . ,(if (string=? method "notellm2") 16 0)))))))))

(define (sgemm-gflops)
  "Peak sgemm of this machine now: best of 10 OpenBLAS 1024^3 products (tensor-matmul)."
  (let ((a (rand '(1024 1024))) (b (rand '(1024 1024))))
    (tensor-matmul a b)
    (let loop ((i 0) (best +inf.0))
      (if (= i 10)
          (/ (* 2. 1024 1024 1024) best 1e9)
          (let ((t0 (now)))
            (tensor-matmul a b)
            (loop (+ i 1) (min best (- (now) t0))))))))

(define peak (sgemm-gflops))
(format #t "sgemm-1024 gflops ~,2f~%" peak)

(define results
  (list (bench "notellm2-tiny" "notellm2" 'micl)
        (bench "notellm-text-tiny" "notellm" 'category)))

(call-with-output-file shapes-file
  (lambda (p)
    (display (->json `((threads . ,(threads)) (sgemm_gflops . ,peak) (pairs_per_batch . ,pairs) (max_note_tokens . ,max-note-tokens)
                       (configs . ,(list->vector results))))
             p)
    (newline p)))
(system* "rm" "-rf" tmp)
