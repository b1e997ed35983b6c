;;; eval.scm — (notellm eval): embedding a run's notes, embedding tables on
;;; disk, the exact recall@K protocol of the papers (method §6.1) per pair
;;; list as a returned alist, a printed table, a JSON file and a bar chart,
;;; and NoteLLM's generation metrics (method §3.10, §6.2). Depends on
;;; (notellm primitives), (notellm tensor), (notellm models), (notellm
;;; data), (notellm train) and (notellm plot).
(define-module (notellm eval)
  #:use-module (ice-9 format)
  #:use-module (srfi srfi-1)
  #:use-module (srfi srfi-9)
  #:use-module (notellm primitives)
  #:use-module (notellm tensor)
  #:use-module (notellm models)
  #:use-module (notellm data)
  #:use-module (notellm train)
  #:use-module (notellm plot)
  #:export (embed-notes recall recall-report
            save-embeddings load-embeddings
            recall-json plot-recall load-run-with-data
            text-scores generation-metrics))

(define (split-notes ds split)
  "The indices of DS's notes of SPLIT ('train or 'test)."
  (filter (lambda (i) (eq? split (assq-ref (note-ref ds i) 'split)))
          (iota (notes-count ds))))

(define (run-notes run)
  "RUN's dataset, read again from its data directory (without printing the
load summary)."
  (%nl-load-notes (assq-ref (run-info run) 'data-dir)))

(define* (embed-notes run #:key (split 'test) (notes #f) (visual #f) (batch 32) (ds #f) (variant 'full))
  "Embed notes with RUN's model as a trained model reads them (inference
prompt, no flip, no dropout): the notes of SPLIT ('test or 'train) or the
dataset indices NOTES. Returns (EMBEDDINGS . INDICES), EMBEDDINGS an f32
[n d] tensor of unit rows (the mICL visual embeddings when VISUAL). VARIANT
'text-only zeroes the image, 'image-only empties the text fields (the
modality ablation of method §5.1). DS, the run's dataset, saves reading it
again."
  (let ((idx (or notes (split-notes (or ds (run-notes run)) split))))
    (cons (%nl-run-embed run idx batch visual variant) idx)))

;;; ---- embedding tables on disk ----------------------------------------------------

(define* (save-embeddings emb file #:key (ds #f) (run #f))
  "Write EMB, a result of embed-notes (EMBEDDINGS . INDICES), to FILE with
the note ids instead of the indices: FILE.safetensors holds the tensor
\"embeddings\" [N d] f32 and the ids as a JSON array in the metadata entry
\"note_ids\"; FILE.npy is NumPy's format (for numpy / FAISS) with the ids
one per line in the same name ending .ids.txt instead of .npy. The ids come
from DS (a dataset) or RUN's dataset; INDICES may also be id strings (then
neither is needed). Rows must have unit norm and ids must be unique."
  (let* ((idx (cdr emb))
         (ids (if (every string? idx)
                  idx
                  (let ((d (or ds (and run (run-notes run))
                               (scm-error 'wrong-type-arg "save-embeddings"
                                          "the indices need #:ds or #:run to become note ids" '() #f))))
                    (map (lambda (i) (assq-ref (note-ref d i) 'id)) idx)))))
    (%nl-save-embeddings (car emb) ids file)))

(define* (load-embeddings file #:key (ds #f) (run #f))
  "Read an embedding table written by save-embeddings (or by numpy: FILE.npy,
'<f4', C order, plus FILE.ids.txt): (EMBEDDINGS . IDS) with the note id
strings, or (EMBEDDINGS . INDICES) with dataset indices when DS (a dataset)
or RUN is given, ready for recall's #:embeddings. Rows must have unit norm;
an id missing from the dataset raises notellm-error naming it."
  (let* ((e (%nl-load-embeddings file))
         (d (or ds (and run (run-notes run)))))
    (if (not d)
        e
        (cons (car e)
              (map (lambda (id)
                     (let ((n (note-ref d id)))
                       (unless n
                         (throw 'notellm-error "load-embeddings" "~a: note id ~s is not in the dataset"
                                (list file id) #f))
                       (assq-ref n 'index)))
                   (cdr e))))))

;;; ---- recall -------------------------------------------------------------------------

(define* (recall run #:key (pairs "test") (embeddings #f) (visual #f) (cases 5) (batch 32) (ds #f))
  "Recall@K of RUN on the pair list PAIRS, by the protocol of method §6.1:
greedy de-duplication of the pairs in file order, candidate pool = every
embedded note of the list's split minus the queries, rank of the single
ground truth (ties broken by note order). EMBEDDINGS, a result of
embed-notes or load-embeddings with a dataset, avoids embedding again.
Returns an alist: 'queries 'pool 'recall ((K . fraction) ...) 'mrr
'mean-100-100k and 'cases (query target rank top-CASES) as dataset
indices. DS, the run's dataset, saves reading it again."
  (let* ((ds (or ds (run-notes run)))
         (ps (note-pairs ds pairs))
         (split (if (null? ps) 'test (assq-ref (note-ref ds (caar ps)) 'split)))
         (emb (or embeddings (embed-notes run #:split split #:visual visual #:batch batch #:ds ds)))
         (row (make-hash-table)))
    (for-each (lambda (i r) (hashv-set! row i r)) (cdr emb) (iota (length (cdr emb))))
    (let* ((r (%nl-recall (car emb) (map (lambda (p) (cons (hashv-ref row (car p) #f) (hashv-ref row (cdr p) #f))) ps)
                          cases))
           (back (list->vector (cdr emb)))
           (ix (lambda (k) (if (>= k 0) (vector-ref back k) k))))
      (map (lambda (kv)
             (if (eq? (car kv) 'cases)
                 (cons 'cases (map (lambda (c) (list (ix (car c)) (ix (cadr c)) (caddr c) (map ix (cadddr c))))
                                   (cdr kv)))
                 kv))
           r))))

(define (result-ks results)
  "The Ks present in any of RESULTS ((list . recall-alist) ...), ascending."
  (sort (delete-duplicates (append-map (lambda (r) (map car (assq-ref (cdr r) 'recall))) results)) <))

;;; JSON text, for the results file.
(define-record-type <raw-json> (raw-json text) raw-json? (text raw-json-text))

(define (json-string s)
  "S as a JSON string literal (control characters escaped)."
  (call-with-output-string
    (lambda (port)
      (write-char #\" port)
      (string-for-each
       (lambda (c)
         (cond ((char=? c #\") (display "\\\"" port))
               ((char=? c #\\) (display "\\\\" port))
               ((char<? c #\space) (format port "\\u~4,'0x" (char->integer c)))
               (else (write-char c port))))
       s)
      (write-char #\" port))))

(define (->json x)
  "The JSON text of X: alists (symbol, string or number keys) are objects,
other lists and vectors arrays; non-finite numbers are null."
  (define (key k) (json-string (cond ((symbol? k) (symbol->string k)) ((number? k) (number->string k)) (else k))))
  (cond ((raw-json? x) (raw-json-text x))
        ((and (pair? x) (every (lambda (e) (and (pair? e) (or (symbol? (car e)) (string? (car e)) (number? (car e))))) x))
         (string-append "{" (string-join (map (lambda (e) (string-append (key (car e)) ": " (->json (cdr e)))) x) ", ")
                        "}"))
        ((or (null? x) (pair? x)) (string-append "[" (string-join (map ->json x) ", ") "]"))
        ((vector? x) (->json (vector->list x)))
        ((string? x) (json-string x))
        ((symbol? x) (json-string (symbol->string x)))
        ((eq? x #t) "true")
        ((eq? x #f) "false")
        ((and (exact? x) (integer? x)) (number->string x))
        ((and (real? x) (finite? (exact->inexact x))) (number->string (exact->inexact x)))
        ((real? x) "null")
        (else (scm-error 'wrong-type-arg "recall-json" "cannot write ~S as JSON" (list x) (list x)))))

(define* (recall-json results run #:key (info '()) (visual #f))
  "The JSON text of recall-report's RESULTS for RUN: the run ('method,
'steps-done, 'data-dir, its whole 'config, and the extra INFO alist),
whether the VISUAL embeddings were used, the Ks, and per pair list its
queries, pool, R@K for every K, MRR, mean of R@100..R@100k and the counts
of unknown and rejected pairs."
  (let ((ri (run-info run)))
    (->json
     `((run . ,(append info
                       `((method . ,(assq-ref ri 'method))
                         (steps-done . ,(or (checkpoint-step run) (assq-ref ri 'steps-done)))
                         (data-dir . ,(assq-ref ri 'data-dir)) (config . ,(raw-json (assq-ref ri 'config-json))))))
       (visual . ,visual)
       (ks . ,(result-ks results))
       (lists . ,(map (lambda (r) (cons (car r) (remove (lambda (kv) (eq? (car kv) 'cases)) (cdr r)))) results))))))

(define* (recall-report run #:key (lists #f) (visual #f) (port (current-output-port)) (batch 32) (json #f)
                        (info '()))
  "Recall of RUN on every test pair list (or LISTS), the embeddings of the
test notes computed once; prints a table of R@K, MRR and the papers' mean
of R@100..R@100k per list, and returns the alist (list . recall-alist)
without case studies (see recall for those). JSON, a file name, receives
the results and the run's description (see recall-json; INFO is added to
it), replaced atomically."
  (let* ((ds (run-notes run))
         (names (or lists (filter (lambda (n) (string-prefix? "test" n)) (note-pairs ds))))
         (emb (embed-notes run #:split 'test #:visual visual #:batch batch #:ds ds))
         (results (map (lambda (n) (cons n (recall run #:pairs n #:embeddings emb #:ds ds #:cases 0))) names))
         (ks (result-ks results)))
    (format port "~18a ~7a ~{ R@~6a~} ~7a ~7a~%" "pairs" "queries" ks "MRR" "mean")
    (for-each (lambda (r)
                (let ((a (cdr r)))
                  (format port "~18a ~7a ~{ ~7,3f~} ~7,3f ~7a~%" (car r) (assq-ref a 'queries)
                          (map (lambda (k) (or (assv-ref (assq-ref a 'recall) k) 0)) ks)
                          (assq-ref a 'mrr)
                          (let ((m (assq-ref a 'mean-100-100k))) (if m (format #f "~,3f" m) "-")))))
              results)
    (when json
      (%nl-write-file-atomically json (string-append (recall-json results run #:info info #:visual visual) "\n")))
    results))

(define* (plot-recall results file #:key (title "Recall@K per pair list") (width 900) (height 500))
  "Write a grouped bar chart PNG of RESULTS (recall-report's value) to FILE:
one group per K (R@10, R@20, ...), one bar per pair list."
  (let ((ks (result-ks results)))
    (when (null? ks)
      (scm-error 'wrong-type-arg "plot-recall" "no R@K values in the results" '() #f))
    (plot-bars file (map (lambda (k) (format #f "R@~a" k)) ks) (map car results)
               (map (lambda (r) (map (lambda (k) (assv-ref (assq-ref (cdr r) 'recall) k)) ks)) results)
               #:title title #:width width #:height height)))

;; The step of the checkpoint a run of load-run-with-data was rebuilt from
;; (the rebuilt run itself has taken no steps).
(define checkpoint-step (make-object-property))

(define (load-run-with-data dir data)
  "The run saved in checkpoint DIR, rebuilt on the data directory DATA
instead of the recorded one (which may be gone): its configuration with
DATA as data_dir (DATA needs the train pair list, as any run) and the
checkpoint's weights. For evaluation: the optimizer state is not restored
(run-info says 0 steps; recall-json reports the checkpoint's step)."
  (let* ((cfg (%nl-run-config-with-data dir data))
         (run (make-run (car cfg)))
         (weights (load-safetensors (string-append dir "/model.safetensors") #:device 'cpu)))
    (for-each (lambda (p)
                (let ((w (assoc-ref weights (car p))))
                  (unless w
                    (throw 'notellm-format-error "load-run-with-data" "~a/model.safetensors has no ~a"
                           (list dir (car p)) #f))
                  (tensor-copy! (cdr p) w)))
              (run-parameters run))
    (set! (checkpoint-step run) (cdr cfg))
    run))

;;; ---- generation metrics (NoteLLM) ----------------------------------------------------

(define (text-scores predictions references)
  "BLEU-4 and ROUGE-1/2/L F1 of the PREDICTIONS against the REFERENCES (two
lists of strings): 'n (pairs scored) 'skipped (empty references) 'bleu4
(mean sentence BLEU-4, smoothing method1) 'corpus-bleu4 'rouge1 'rouge2
'rougeL. Tokens: CJK characters and ASCII punctuation one by one, other
runs of non-space characters as words (see README)."
  (%nl-text-scores predictions references))

(define (category-key s)
  "S as compared for category accuracy: surrounding whitespace and one
final 。 or . removed."
  (let ((t (string-trim-both s char-set:whitespace)))
    (string-trim-both (if (or (string-suffix? "。" t) (string-suffix? "." t))
                          (substring t 0 (1- (string-length t)))
                          t)
                      char-set:whitespace)))

(define (training-categories run ds)
  "A hash set of the category-keys of every training note's category
reference (one prompt per distinct raw category)."
  (let ((seen (make-hash-table)) (set (make-hash-table)))
    (for-each (lambda (i)
                (let ((raw (assq-ref (note-ref ds i) 'category)))
                  (unless (hash-ref seen raw)
                    (hash-set! seen raw #t)
                    (hash-set! set (category-key (cdr (%nl-run-gen-prompt run i 'category))) #t))))
              (split-notes ds 'train))
    set))

(define* (generation-metrics run #:key (split 'test) (limit 100) (max-new-tokens 64) (repetition-penalty 1.2)
                             (examples 3) (progress #f))
  "NoteLLM's generation metrics (method §3.10, §6.2) for the first LIMIT
notes of SPLIT (#f: all): greedy generation (REPETITION-PENALTY, at most
MAX-NEW-TOKENS, stop at EOS) from the category and the hashtag generation
prompts, built as CSFT training builds them. Returns an alist: 'n notes,
'category-accuracy (exact match after trimming whitespace and a final 。/.),
'illusory-rate (predictions that are no training note's category), the
hashtag scores 'bleu4 'corpus-bleu4 'rouge1 'rouge2 'rougeL over the
'hashtag-notes notes that have tags, and 'examples: the first EXAMPLES
notes as alists ('id 'category 'category-reference 'hashtags
'hashtag-reference). PROGRESS #t prints a line per 10 notes on stderr."
  (let* ((ds (run-notes run))
         (all (split-notes ds split))
         (notes (if (and limit (< limit (length all))) (take all limit) all))
         (known (training-categories run ds))
         (total (length notes)))
    (let loop ((ns notes) (k 0) (hit 0) (ill 0) (preds '()) (refs '()) (ex '()))
      (if (null? ns)
          (let ((s (text-scores (reverse preds) (reverse refs))) (n (max k 1)))
            `((n . ,k) (category-accuracy . ,(/ hit n 1.0)) (illusory-rate . ,(/ ill n 1.0))
              (bleu4 . ,(assq-ref s 'bleu4)) (corpus-bleu4 . ,(assq-ref s 'corpus-bleu4))
              (rouge1 . ,(assq-ref s 'rouge1)) (rouge2 . ,(assq-ref s 'rouge2)) (rougeL . ,(assq-ref s 'rougeL))
              (hashtag-notes . ,(assq-ref s 'n)) (examples . ,(reverse ex))))
          (let* ((i (car ns))
                 (note (note-ref ds i))
                 (c (%nl-run-generate run i 'category max-new-tokens repetition-penalty))
                 (tags? (not (string-null? (assq-ref note 'p-topic))))
                 (h (and tags? (%nl-run-generate run i 'hashtag max-new-tokens repetition-penalty)))
                 (key (category-key (car c))))
            (when (and progress (zero? (modulo (1+ k) 10)))
              (format (current-error-port) "generation ~a/~a~%" (1+ k) total))
            (loop (cdr ns) (1+ k)
                  (if (string=? key (category-key (cdr c))) (1+ hit) hit)
                  (if (hash-ref known key) ill (1+ ill))
                  (if h (cons (car h) preds) preds)
                  (if h (cons (cdr h) refs) refs)
                  (if (< k examples)
                      (cons `((id . ,(assq-ref note 'id)) (category . ,(car c)) (category-reference . ,(cdr c))
                              (hashtags . ,(and h (car h))) (hashtag-reference . ,(and h (cdr h))))
                            ex)
                      ex)))))))
