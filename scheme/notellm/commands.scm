;;; commands.scm — (notellm commands): the non-interactive subcommands of
;;; the `notellm` executable (`notellm gen-notes DIR ...`, `notellm train
;;; CONFIG.json`, `notellm eval CHECKPOINT [DATA]`), each a procedure from its
;;; argument list to an exit status. Depends on (notellm).
(define-module (notellm commands)
  #:use-module (ice-9 format)
  #:use-module (ice-9 getopt-long)
  #:use-module (notellm)
  #:export (command? run-command))

(define (gen-notes args)
  "notellm gen-notes DIR [--items N] [--seed N] [--lang en|zh] [--image-size N]
[--distractors N] [--overwrite]: write the synthetic benchmark to DIR, then load it back and
print the load summary. Returns the exit status."
  (let* ((spec '((items (value #t)) (seed (value #t)) (lang (value #t)) (image-size (value #t))
                 (distractors (value #t)) (overwrite (value #f)) (help (single-char #\h) (value #f))))
         (opts (getopt-long (cons "gen-notes" args) spec))
         (rest (option-ref opts '() '()))
         (num (lambda* (key default #:optional (least 1))
                (let* ((s (option-ref opts key #f)) (n (and s (string->number s))))
                  (cond ((not s) default)
                        ((and n (exact-integer? n) (>= n least)) n)
                        (else (format (current-error-port) "notellm gen-notes: --~a needs an integer >= ~a, got ~s~%"
                                      key least s)
                              (exit 2)))))))
    (cond
     ((option-ref opts 'help #f)
      (display "Usage: notellm gen-notes DIR [--items N] [--seed N] [--lang en|zh] [--image-size N] [--distractors N]
       [--overwrite]
Write the synthetic NoteLLM benchmark (notes, pairs, images, dataset.json) to DIR.
Defaults: --items 2000 --seed 7 --lang en --image-size 64 --distractors 200.\n")
      0)
     ((not (= (length rest) 1))
      (format (current-error-port) "notellm gen-notes: expects one directory (try --help)~%")
      2)
     (else
      (let* ((dir (car rest))
             (lang (string->symbol (option-ref opts 'lang "en")))
             (t0 (get-internal-real-time))
             (counts (generate-notes dir #:items (num 'items 2000) #:seed (num 'seed 7) #:lang lang
                                     #:image-size (num 'image-size 64)
                                     #:distractors (num 'distractors 200 0)
                                     #:overwrite (option-ref opts 'overwrite #f)))
             (secs (/ (- (get-internal-real-time) t0) 1.0 internal-time-units-per-second)))
        (format #t "wrote ~a in ~,1f s: ~a train notes, ~a test notes, ~a/~a/~a train/val/test pairs~%"
                dir secs (assq-ref counts 'notes-train) (assq-ref counts 'notes-test)
                (assq-ref counts 'pairs-train) (assq-ref counts 'pairs-val) (assq-ref counts 'pairs-test))
        (let ((r (notes-report (load-notes dir))))
          (if (and (zero? (assq-ref r 'rows-skipped)) (zero? (assq-ref r 'pairs-skipped))
                   (zero? (assq-ref r 'images-missing)))
              0
              1)))))))

(define (train args)
  "notellm train CONFIG.json: run the training configuration non-interactively
(progress lines instead of a bar when not on a terminal, metrics.jsonl and
checkpoints under out_dir, a loss plot out_dir/loss.png at the end). Returns
0 when the run finished, 1 when interrupted (the checkpoint of the last
completed save_every step stays loadable), 2 on a usage error."
  (cond
   ((and (= (length args) 1) (member (car args) '("--help" "-h")))
    (display "Usage: notellm train CONFIG.json
Train a NoteLLM / NoteLLM-2 model as CONFIG.json says (see README: run configuration).
")
    0)
   ((not (= (length args) 1))
    (format (current-error-port) "notellm train: expects one CONFIG.json (try --help)~%")
    2)
   (else
    (let* ((run (make-run (car args)))
           (result (train! run))
           (out (assq-ref (run-info run) 'out-dir)))
      (unless (string-null? out)
        (plot-loss run (string-append out "/loss.png")))
      (if (eq? result 'done) 0 1)))))

(define (evaluate args)
  "notellm eval CHECKPOINT [DATA] [--data DIR] [--json FILE] [--plot FILE]
[--visual]: load the run saved in the checkpoint directory CHECKPOINT (on
the data directory DATA / DIR instead of the recorded one when given), embed
the test notes once and print recall@K, MRR and the papers' mean of
R@100..R@100k for every test pair list; --json writes the results with the
run's description, --plot a bar chart of R@K per list, --visual uses the
mICL visual embeddings. Returns the exit status."
  (let* ((spec '((data (value #t)) (json (value #t)) (plot (value #t)) (visual (value #f))
                 (help (single-char #\h) (value #f))))
         (opts (getopt-long (cons "eval" args) spec))
         (rest (option-ref opts '() '())))
    (cond
     ((option-ref opts 'help #f)
      (display "Usage: notellm eval CHECKPOINT [DATA] [--data DIR] [--json FILE] [--plot FILE] [--visual]
Recall@K of a trained run (a checkpoint directory written by train!) on every test pair list.
DATA (or --data DIR) evaluates on that data directory instead of the run's own.
--json FILE   write the results and the run's description as JSON
--plot FILE   write a bar chart (PNG) of R@K per pair list
--visual      use the mICL visual embeddings (NoteLLM-2 runs)\n")
      0)
     ((or (null? rest) (> (length rest) 2)
          (and (= (length rest) 2) (option-ref opts 'data #f)))
      (format (current-error-port) "notellm eval: expects one checkpoint directory and at most one data directory ~
(try --help)~%")
      2)
     (else
      (let* ((dir (car rest))
             (data (or (option-ref opts 'data #f) (and (pair? (cdr rest)) (cadr rest))))
             (run (if data (load-run-with-data dir data) (load-run dir)))
             (json (option-ref opts 'json #f))
             (plot (option-ref opts 'plot #f))
             (results (recall-report run #:visual (option-ref opts 'visual #f) #:json json
                                     #:info `((checkpoint . ,dir)))))
        (when plot (plot-recall results plot))
        0)))))

(define %commands `(("gen-notes" . ,gen-notes) ("train" . ,train) ("eval" . ,evaluate)))

(define (command? name)
  "#t if NAME is a notellm subcommand."
  (and (assoc name %commands) #t))

(define (run-command name args)
  "Run the subcommand NAME with the argument strings ARGS; returns the exit status."
  ((assoc-ref %commands name) args))
