;;; train.scm — (notellm train): optimizers over lists of parameter tensors
;;; (AdamW with decoupled weight decay, SGD with momentum), global-norm
;;; gradient clipping, and NoteLLM / NoteLLM-2 training runs: make-run from a
;;; configuration, run-step!, run-eval, train! with progress, hooks,
;;; checkpoints and Ctrl-C, resume!, plot-loss.
(define-module (notellm train)
  #:use-module ((oop goops) #:select (define-method))
  #:use-module (ice-9 format)
  #:use-module (ice-9 match)
  #:use-module (ice-9 rdelim)
  #:use-module (ice-9 textual-ports)
  #:use-module (srfi srfi-1)
  #:use-module (notellm primitives)
  #:use-module (notellm plot)
  #:re-export (<optimizer> <run>)
  #:export (make-adamw make-sgd optimizer? optimizer-kind optimizer-parameters
            optimizer-step! optimizer-zero-grad! optimizer-lr set-optimizer-lr!
            optimizer-steps clip-grad-norm!
            make-run load-run run-step! run-eval save-run run-info run-parameters
            train! resume! plot-loss))

(define* (make-adamw params #:key (lr 1e-3) (betas '(0.9 0.999)) (eps 1e-8) (weight-decay 0.01))
  "An AdamW optimizer (torch.optim.AdamW: bias-corrected moments, decoupled
weight decay) over the list PARAMS of float leaf tensors that require grad."
  (unless (and (list? betas) (= (length betas) 2) (every real? betas))
    (scm-error 'wrong-type-arg "make-adamw"
               "Wrong type argument in position ~A (expecting list of two betas): ~S"
               (list 2 betas) (list betas)))
  (%nl-make-optimizer 'adamw params lr (append betas (list eps)) weight-decay))

(define* (make-sgd params #:key (lr 1e-2) (momentum 0) (weight-decay 0))
  "An SGD optimizer with MOMENTUM (torch.optim.SGD; WEIGHT-DECAY is added to
the gradient) over the list PARAMS of float leaf tensors that require grad."
  (%nl-make-optimizer 'sgd params lr momentum weight-decay))

(define (optimizer? obj)
  "#t if OBJ is an optimizer."
  (%nl-optimizer? obj))

(define (optimizer-kind opt)
  "'adamw or 'sgd."
  (%nl-optimizer-kind opt))

(define (optimizer-parameters opt)
  "The parameter tensors OPT updates."
  (%nl-optimizer-parameters opt))

(define (optimizer-step! opt)
  "Update every parameter of OPT that has a gradient, then count the step."
  (%nl-optimizer-step! opt))

(define (optimizer-zero-grad! opt)
  "Drop the gradients of OPT's parameters (before the next backward)."
  (%nl-optimizer-zero-grad! opt))

(define (optimizer-lr opt)
  "The learning rate of OPT."
  (%nl-optimizer-lr opt))

(define (set-optimizer-lr! opt lr)
  "Set the learning rate of OPT (for schedules)."
  (%nl-set-optimizer-lr! opt lr))

(define (optimizer-steps opt)
  "The number of steps OPT has taken."
  (%nl-optimizer-steps opt))

(define* (clip-grad-norm! params max-norm)
  "Scale the gradients of the tensors in PARAMS so that their global L2 norm
is at most MAX-NORM; returns the norm before clipping."
  (%nl-clip-grad-norm! params max-norm))

(define-method (write (opt <optimizer>) port)
  (format port "#<optimizer ~a lr=~a params=~a steps=~a>"
          (optimizer-kind opt) (optimizer-lr opt)
          (length (optimizer-parameters opt)) (optimizer-steps opt)))

;;; ---- NoteLLM / NoteLLM-2 training runs ------------------------------------------

(define (json-string s)
  "S as a JSON string literal."
  (string-append "\""
                 (string-concatenate
                  (map (lambda (c)
                         (case c
                           ((#\") "\\\"")
                           ((#\\) "\\\\")
                           ((#\newline) "\\n")
                           (else (string c))))
                       (string->list s)))
                 "\""))

(define (alist->json x)
  "The JSON text of X: an alist with symbol or string keys becomes an object;
strings, numbers, booleans and nested alists are written as JSON."
  (cond ((and (pair? x) (every pair? x))
         (string-append
          "{"
          (string-join (map (lambda (kv)
                              (string-append (json-string (if (symbol? (car kv)) (symbol->string (car kv)) (car kv)))
                                             ": " (alist->json (cdr kv))))
                            x)
                       ", ")
          "}"))
        ((string? x) (json-string x))
        ((symbol? x) (json-string (symbol->string x)))
        ((eq? x #t) "true")
        ((eq? x #f) "false")
        ((and (real? x) (exact? x)) (number->string x))
        ((real? x) (number->string (exact->inexact x)))
        (else (scm-error 'wrong-type-arg "make-run" "cannot write ~S as JSON" (list x) (list x)))))

(define (make-run config)
  "A NoteLLM / NoteLLM-2 training run from CONFIG: an alist of the run
configuration keys (e.g. '((method . \"notellm2\") (data_dir . \"/tmp/gn\")
(tokenizer . \"/tmp/tok.json\") (out_dir . \"/tmp/run\") (max_steps . 200)
(model . \"tiny\"))), a JSON string, or the path of a JSON file. Unknown or
ill-typed keys raise notellm-format-error naming them. The tokenizer gets
[PAD], <IMG>, <IMG_EMB> and <TEXT_EMB>; the model is built from the preset
or loaded from HF directories."
  (%nl-make-run
   (cond ((pair? config) (alist->json config))
         ((and (string? config) (string-prefix? "{" (string-trim config))) config)
         ((string? config)
          (unless (file-exists? config)
            (throw 'notellm-io-error "make-run" "cannot open ~a: no such file" (list config) #f))
          (call-with-input-file config get-string-all))
         (else (scm-error 'wrong-type-arg "make-run" "expects an alist, JSON text or a file: ~S"
                          (list config) (list config))))))

(define (load-run dir)
  "The run saved in the checkpoint directory DIR (its tokenizer and data are
read again from the recorded paths); training continues bit-identically."
  (%nl-load-run dir))

(define (run-step! run)
  "One optimizer step of RUN (grad accumulation, clipping, schedule, AdamW).
Returns the step's metrics alist ('step 'loss 'l-cl 'l-v 'l-gen 'lr 'tau
'grad-norm 'notes-per-s ...). A NaN/Inf loss or gradient raises
notellm-error naming the tensor and leaves the weights as they were."
  (%nl-run-step! run))

(define (run-eval run)
  "The validation loss of RUN over its val pairs (no gradients), or #f when
the data has none."
  (%nl-run-eval run))

(define (save-run run dir)
  "Write RUN's checkpoint (weights with HF names, optimizer moments, step,
RNG, data position, configuration) to DIR atomically."
  (%nl-save-run run dir))

(define (run-info run)
  "RUN's progress and configuration: 'steps-done 'total-steps 'done 'method
'visual-tokens (#t when the method splices visual tokens into the LLM)
'out-dir 'eval-every 'save-every 'log-every 'config-json."
  (%nl-run-info run))

(define (run-parameters run)
  "RUN's parameters as an alist (name . tensor), prefixed llm. vision.
qformer. projector. head."
  (%nl-run-parameters run))

(define (progress-line m total)
  "One progress line for the metrics M of a run of TOTAL steps."
  (format #f "step ~a/~a  loss ~,4f  lr ~,2e  tau ~,3f  |g| ~,3f  ~,1f notes/s  ETA ~a s"
          (assq-ref m 'step) total (assq-ref m 'loss) (assq-ref m 'lr) (assq-ref m 'tau)
          (assq-ref m 'grad-norm) (assq-ref m 'notes-per-s)
          (inexact->exact (round (* (assq-ref m 'seconds) (- total (assq-ref m 'step)))))))

(define* (train! run #:key (on-step #f) (hook-every 1) (port (current-output-port)))
  "Train RUN until its last step: a progress line (loss, lr, τ, grad norm,
notes/s, ETA) redrawn on a terminal or printed every log_every steps
otherwise, one JSON line per step in out_dir/metrics.jsonl, the val loss
every eval_every steps with the best checkpoint kept in out_dir/best, the
last one in out_dir/checkpoint every save_every steps and at the end.
ON-STEP, when given, is called as (ON-STEP RUN METRICS) every HOOK-EVERY
steps. Ctrl-C abandons the current step (the run stays as it was after the
previous one) and returns 'interrupted; (resume! RUN) continues. Returns
'done otherwise."
  (let* ((info (run-info run))
         (out (assq-ref info 'out-dir))
         (dir (lambda (name) (and (not (string-null? out)) (string-append out "/" name))))
         (every? (lambda (n step) (and (> n 0) (zero? (modulo step n)))))
         (tty (isatty? port))
         (best #f))
    (define (iteration)
      ;; One step and its bookkeeping; #t when the run is finished.
      (if (assq-ref (run-info run) 'done)
          (begin (when (dir "checkpoint") (save-run run (dir "checkpoint")))
                 (when tty (newline port))
                 #t)
          (let* ((m (run-step! run))
                 (step (assq-ref m 'step))
                 (v (and (every? (assq-ref info 'eval-every) step) (run-eval run)))
                 (m (if v (assq-set! (list-copy m) 'val-loss v) m)))
            (when (dir "metrics.jsonl") (%nl-run-log! run m))
            (when (and v (dir "best") (or (not best) (< v best)))
              (set! best v)
              (save-run run (dir "best")))
            (when (and (dir "checkpoint") (every? (assq-ref info 'save-every) step))
              (save-run run (dir "checkpoint")))
            (cond (tty (format port "\r~a~a" (progress-line m (assq-ref info 'total-steps))
                               (if v (format #f "  val ~,4f" v) "")))
                  ((or v (every? (max 1 (assq-ref info 'log-every)) step))
                   (format port "~a~a~%" (progress-line m (assq-ref info 'total-steps))
                           (if v (format #f "  val ~,4f" v) ""))))
            (when (and on-step (every? hook-every step))
              (call-with-unblocked-asyncs (lambda () (on-step run m))))
            #f)))
    ;; Asyncs (Guile's SIGINT handler) are blocked outside the hook, so Ctrl-C
    ;; surfaces only where the C primitives poll the interrupt flag: an
    ;; interrupted step is abandoned, a finished one keeps its bookkeeping.
    (call-with-blocked-asyncs
     (lambda ()
       (let loop ()
         (match (catch 'notellm-interrupted
                  (lambda () (if (iteration) 'done 'more))
                  (lambda (key . args)
                    (when tty (newline port))
                    (format port "interrupted at step ~a; (resume! run) continues~%"
                            (assq-ref (run-info run) 'steps-done))
                    'interrupted))
           ('more (loop))
           (result result)))))))

(define* (resume! run #:rest args)
  "Continue training RUN after an interruption (same keywords as train!)."
  (apply train! run args))

(define (read-metrics file)
  "The lines of a metrics.jsonl FILE as alists with symbol keys (flat JSON
objects of numbers, as the trainer writes them)."
  (call-with-input-file file
    (lambda (port)
      (let loop ((acc '()))
        (let ((line (read-line port)))
          (if (eof-object? line)
              (reverse acc)
              (loop (cons (map (lambda (kv)
                                 (let* ((i (string-index kv #\:))
                                        (k (string-trim-both (substring kv 0 i) (char-set #\" #\space)))
                                        (v (string-trim-both (substring kv (+ i 1)))))
                                   (cons (string->symbol k) (string->number v))))
                               (string-split (string-trim-both line (char-set #\{ #\} #\space)) #\,))
                          acc))))))))

(define* (plot-loss run file #:key (smooth 25))
  "Plot RUN's training loss (smoothed over SMOOTH steps) and, where
measured, its validation loss against the step, from out_dir/metrics.jsonl,
into the PNG FILE."
  (let* ((out (assq-ref (run-info run) 'out-dir))
         (rows (read-metrics (string-append out "/metrics.jsonl")))
         (col (lambda (k rows) (map (lambda (r) (assq-ref r k)) rows)))
         (val (filter (lambda (r) (assq-ref r 'val_loss)) rows)))
    (plot-lines file
                (append (list (list "train" (col 'step rows) (col 'loss rows)))
                        (if (null? val) '() (list (list "validation" (col 'step val) (col 'val_loss val)))))
                #:title (string-append "loss: " (assq-ref (run-info run) 'method)) #:xlabel "step"
                #:ylabel "loss" #:smooth smooth)))
