;;; eval.scm — (notellm eval): embedding a run's notes and the exact
;;; recall@K protocol of the papers (method §6.1) per pair list, as a
;;; returned alist and a printed table. Depends on (notellm primitives),
;;; (notellm data) and (notellm train).
(define-module (notellm eval)
  #:use-module (ice-9 format)
  #:use-module (srfi srfi-1)
  #:use-module (notellm primitives)
  #:use-module (notellm data)
  #:use-module (notellm train)
  #:export (embed-notes recall recall-report))

(define (split-notes ds split)
  "The indices of DS's notes of SPLIT ('train or 'test)."
  (filter (lambda (i) (eq? split (assq-ref (note-ref ds i) 'split)))
          (iota (notes-count ds))))

(define (run-notes run)
  "RUN's dataset, read again from its data directory (without printing the
load summary)."
  (%nl-load-notes (assq-ref (run-info run) 'data-dir)))

(define* (embed-notes run #:key (split 'test) (notes #f) (visual #f) (batch 32) (ds #f))
  "Embed notes with RUN's model as a trained model reads them (inference
prompt, no flip, no dropout): the notes of SPLIT ('test or 'train) or the
dataset indices NOTES. Returns (EMBEDDINGS . INDICES), EMBEDDINGS an f32
[n d] tensor of unit rows (the mICL visual embeddings when VISUAL). DS, the
run's dataset, saves reading it again."
  (let ((idx (or notes (split-notes (or ds (run-notes run)) split))))
    (cons (%nl-run-embed run idx batch visual) idx)))

(define* (recall run #:key (pairs "test") (embeddings #f) (visual #f) (cases 5) (batch 32) (ds #f))
  "Recall@K of RUN on the pair list PAIRS, by the protocol of method §6.1:
greedy de-duplication of the pairs in file order, candidate pool = every
embedded note of the list's split minus the queries, rank of the single
ground truth (ties broken by note order). EMBEDDINGS, a result of
embed-notes, avoids embedding again. Returns an alist: 'queries 'pool
'recall ((K . fraction) ...) 'mrr 'mean-100-100k and 'cases (query target
rank top-CASES) as dataset indices. DS, the run's dataset, saves reading
it again."
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

(define* (recall-report run #:key (lists #f) (visual #f) (port (current-output-port)) (batch 32))
  "Recall of RUN on every test pair list (or LISTS), the embeddings of the
test notes computed once; prints a table of R@K, MRR and the papers' mean
of R@100..R@100k per list, and returns the alist (list . recall-alist)
without case studies (see recall for those)."
  (let* ((ds (run-notes run))
         (names (or lists (filter (lambda (n) (string-prefix? "test" n)) (note-pairs ds))))
         (emb (embed-notes run #:split 'test #:visual visual #:batch batch #:ds ds))
         (results (map (lambda (n) (cons n (recall run #:pairs n #:embeddings emb #:ds ds #:cases 0))) names))
         (ks (delete-duplicates (append-map (lambda (r) (map car (assq-ref (cdr r) 'recall))) results))))
    (format port "~18a ~7a ~{ R@~6a~} ~7a ~7a~%" "pairs" "queries" ks "MRR" "mean")
    (for-each (lambda (r)
                (let ((a (cdr r)))
                  (format port "~18a ~7a ~{ ~7,3f~} ~7,3f ~7a~%" (car r) (assq-ref a 'queries)
                          (map (lambda (k) (or (assv-ref (assq-ref a 'recall) k) 0)) ks)
                          (assq-ref a 'mrr)
                          (let ((m (assq-ref a 'mean-100-100k))) (if m (format #f "~,3f" m) "-")))))
              results)
    results))
