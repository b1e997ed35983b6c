;;; probe.scm — (notellm probe): "does my model look at the image at all?"
;;; The visual-ignorance probes of method §5 on a training run's model:
;;; attention shares from the read-outs (§5.3.1), gradient × attention
;;; saliency S_v/S_t/S_o (§5.2), modality ablation (§5.1), their figures, an
;;; 80-column table and a Markdown report. Depends on (notellm primitives),
;;; (notellm data), (notellm train), (notellm eval) and (notellm plot).
(define-module (notellm probe)
  #:use-module (ice-9 format)
  #:use-module (srfi srfi-1)
  #:use-module (notellm primitives)
  #:use-module (notellm tensor)
  #:use-module (notellm data)
  #:use-module (notellm train)
  #:use-module (notellm eval)
  #:use-module (notellm plot)
  #:use-module (notellm notebook)
  #:export (probe-attention print-attention probe-saliency modality-ablation
            plot-saliency plot-attention-heads plot-attention-tokens overlay-patches
            visual-ignorance-report))

;;; ---- helpers ------------------------------------------------------------------------

(define (run-notes run)
  "RUN's dataset, read again from its data directory."
  (%nl-load-notes (assq-ref (run-info run) 'data-dir)))

(define (chunks lst n)
  "LST cut into consecutive lists of at most N elements."
  (if (null? lst)
      '()
      (let ((k (min n (length lst))))
        (cons (list-head lst k) (chunks (list-tail lst k) n)))))

(define (mean xs)
  "The arithmetic mean of the numbers XS (0 for an empty list)."
  (if (null? xs) 0 (/ (apply + xs) (length xs))))

(define (check-variant who v)
  "V if it is one of 'full 'text-only 'image-only, else a wrong-type error for WHO."
  (unless (memq v '(full text-only image-only))
    (scm-error 'wrong-type-arg who "variant must be 'full, 'text-only or 'image-only, not ~S" (list v) (list v)))
  v)

(define (weighted-merge parts key)
  "The row-weighted mean over PARTS (alists with 'batch) of the nested lists under KEY."
  (let ((total (apply + (map (lambda (p) (assq-ref p 'batch)) parts))))
    (let walk ((xs (map (lambda (p) (assq-ref p key)) parts)))
      (if (pair? (car xs))
          (apply map (lambda args (walk args)) xs)
          (/ (apply + (map (lambda (x p) (* x (assq-ref p 'batch))) xs parts)) total)))))

;;; ---- 1. attention ---------------------------------------------------------------

(define* (probe-attention run note #:key (layer #f) (variant 'full) (batch 8))
  "Attention from the read-out(s) of RUN's model (method §5.3.1, forward only,
eval mode) for NOTE, a dataset index or a list of them (averaged over the
notes, BATCH per forward). VARIANT is 'full, 'text-only (zero image) or
'image-only (text fields emptied). Returns an alist: 'notes 'variant
'layers 'heads 'n-image; head-mean shares per layer (lists of length
'layers) 'image 'text 'sink of the text read-out n^m (image + text + sink
= 1; 'pad, the share on padding, is 0: padded keys are masked), 'image-tok
'text-tok the per-token means; 'image-heads 'text-heads 'sink-heads (one
list of 'heads values per layer); under mICL the same for the visual
read-out n^v as 'visual-image 'visual-text 'visual-sink 'visual-image-heads
...; and for the first note 'layer (LAYER, default the last), 'n-tokens
(its prompt length), 'tokens (the token strings of the sequence the LLM
sees, visual tokens as \"<v0>\" ...), 'kinds (per token 'sink 'text 'image
or 'pad) and 'row (the head-mean attention row of the read-out at 'layer,
one number per token; 'visual-row under mICL). 'embedding is the [n d]
tensor of the probed forward (equal to embed-notes)."
  (let* ((notes (if (list? note) note (list note)))
         (variant (check-variant "probe-attention" variant)))
    (when (null? notes)
      (scm-error 'wrong-type-arg "probe-attention" "no notes to probe" '() (list note)))
    (let* ((parts (map (lambda (ns) (%nl-probe-attention run ns variant (or layer -1)))
                       (chunks notes batch)))
           (one (car parts))
           (avg-keys (filter (lambda (k) (assq k one))
                             '(image text sink pad image-tok text-tok image-heads text-heads sink-heads
                                     visual-image visual-text visual-sink visual-pad visual-image-tok
                                     visual-text-tok visual-image-heads visual-text-heads visual-sink-heads))))
      (append
       (list (cons 'notes notes) (cons 'variant variant))
       (map (lambda (k) (cons k (assq-ref one k))) '(layers heads n-image layer n-tokens tokens kinds row))
       (if (assq 'visual-row one) (list (cons 'visual-row (assq-ref one 'visual-row))) '())
       (map (lambda (k) (cons k (weighted-merge parts k))) avg-keys)
       (list (cons 'embedding (if (null? (cdr parts))
                                  (assq-ref one 'embedding)
                                  (tensor-concat (map (lambda (p) (assq-ref p 'embedding)) parts)))))))))

(define spark-chars "▁▂▃▄▅▆▇█")

(define (bar x width)
  "A bar of WIDTH cells for a share X in [0, 1] from full and eighth blocks."
  (let* ((eighths (inexact->exact (round (* 8 width (max 0 (min 1 x))))))
         (full (quotient eighths 8))
         (part (remainder eighths 8)))
    (string-append (make-string full #\█)
                   (if (> part 0) (string (string-ref "▏▎▍▌▋▊▉" (- part 1))) "")
                   (make-string (- width full (if (> part 0) 1 0)) #\space))))

(define (sparkline xs top)
  "One block character per number of XS, its height relative to TOP (> 0)."
  (list->string (map (lambda (x) (string-ref spark-chars (min 7 (max 0 (inexact->exact (floor (* 8 (/ x top))))))))
                     xs)))

(define* (print-attention result #:optional (port (current-output-port)))
  "Print an attention RESULT of probe-attention as an 80-column table: per
layer the image / text / sink shares of the text read-out with a bar of the
image share, a sparkline of the image share per head (heights relative to
the largest head share of the table, printed in the header), and under mICL
the visual read-out's image share."
  (let* ((micl (assq 'visual-image result))
         (top (max 1e-12 (apply max (apply append (assq-ref result 'image-heads)))))
         (width (max 8 (min 20 (- 79 29 (assq-ref result 'heads) (if micl 7 0))))))
    (format port "attention from the read-out (~a note~:p, ~a, ~a heads, ~a visual tokens)~%"
            (length (assq-ref result 'notes)) (assq-ref result 'variant)
            (assq-ref result 'heads) (assq-ref result 'n-image))
    (format port "layer  image   text   sink  ~va heads (max ~,3f)~a~%" width "image share" top
            (if micl "  n^v img" ""))
    (for-each (lambda (l img txt snk heads vimg)
                (format port "~5d ~6,3f ~6,3f ~6,3f  ~a ~a~a~%" l img txt snk (bar img width)
                        (sparkline heads top) (if vimg (format #f " ~6,3f" vimg) "")))
              (iota (assq-ref result 'layers)) (assq-ref result 'image) (assq-ref result 'text)
              (assq-ref result 'sink) (assq-ref result 'image-heads)
              (or (assq-ref result 'visual-image) (make-list (assq-ref result 'layers) #f)))))

;;; ---- 2. saliency ----------------------------------------------------------------

(define* (probe-saliency run #:key (pairs "test") (samples 200) (batch 8) (pre-softmax #f) (note #f)
                         (related #f))
  "Gradient × attention saliency of RUN's model (method §5.2): the first
SAMPLES/2 pairs of the pair list PAIRS, BATCH pairs per forward laid out
[firsts; seconds], loss L_cl on the final embedding; each note is a sample.
With NOTE (a dataset index) only that note and RELATED (default: its
partner in the first pair of PAIRS holding it) are probed, with the loss
-cos(e(NOTE), e(RELATED)) (method §5.3). A is the post-softmax attention,
or with PRE-SOFTMAX the scaled, masked scores as the upstream LLaMA code
takes them. Returns an alist: 'pairs 'pre-softmax 'note 'related 'layers
'samples, 'mean (per layer the list (S_v S_t S_o) averaged over the
samples), 'norm (the same normalised to sum 1 per layer) and 'loss (mean
L_cl over the batches, or -cos). The model's gradients are left as they
were."
  (let* ((ds (run-notes run))
         (ps (note-pairs ds pairs))
         (partner (lambda (n)
                    (let ((p (find (lambda (p) (or (eqv? (car p) n) (eqv? (cdr p) n))) ps)))
                      (unless p
                        (scm-error 'misc-error "probe-saliency" "note ~a is in no pair of ~s; HINT: pass #:related"
                                   (list n pairs) #f))
                      (if (eqv? (car p) n) (cdr p) (car p)))))
         (batches (if note
                      (list (list (cons note (or related (partner note)))))
                      (let ((n (min (length ps) (max 1 (quotient (+ samples 1) 2)))))
                        (when (null? ps)
                          (scm-error 'misc-error "probe-saliency" "pair list ~s has no pairs" (list pairs) #f))
                        (chunks (list-head ps n) batch)))))
    (append (list (cons 'pairs pairs) (cons 'pre-softmax pre-softmax)
                  (cons 'note note) (cons 'related (and note (cdaar batches))))
            (%nl-probe-saliency run batches pre-softmax (and note #t)))))

;;; ---- 3. modality ablation ---------------------------------------------------------

(define* (modality-ablation run #:key (pairs "test") (batch 32))
  "Modality ablation of RUN (method §5.1): the notes of the split of the pair
list PAIRS embedded three ways with the same weights — 'full, 'text-only
(zero image, placeholder and visual tokens kept) and 'image-only (title,
content and hashtags emptied) — then recall (the alist of (notellm eval)'s
recall, without cases) per variant over that list. Returns an alist:
'pairs 'notes (count), 'recall ((full . alist) (text-only . alist)
(image-only . alist)) and 'cosines ((full-text . mean) (full-image . mean)
(text-image . mean)), the per-note cosines between the variants'
embeddings averaged over the notes. PAIRS may also be a list of pair-list
names of one split: the notes are embedded once and 'recall becomes
((name . ((full . alist) ...)) ...)."
  (let* ((ds (run-notes run))
         (names (if (string? pairs) (list pairs) pairs))
         (splits (delete-duplicates
                  (map (lambda (n)
                         (let ((ps (note-pairs ds n)))
                           (if (null? ps) 'test (assq-ref (note-ref ds (caar ps)) 'split))))
                       names)))
         (_ (unless (= 1 (length splits))
              (scm-error 'misc-error "modality-ablation" "pair lists ~s span the splits ~s; give lists of one split"
                         (list names splits) #f)))
         (emb (map (lambda (v) (cons v (embed-notes run #:split (car splits) #:ds ds #:batch batch #:variant v)))
                   '(full text-only image-only)))
         (idx (cdr (assq-ref emb 'full)))
         (cos (lambda (a b) (mean (%nl-probe-cosine-rows (car (assq-ref emb a)) (car (assq-ref emb b))))))
         (recalls (lambda (name)
                    (map (lambda (v)
                           (cons (car v) (alist-delete 'cases (recall run #:pairs name #:ds ds #:cases 0
                                                                      #:embeddings (cdr v)))))
                         emb))))
    (list (cons 'pairs pairs) (cons 'notes (length idx))
          (cons 'recall (if (string? pairs)
                            (recalls pairs)
                            (map (lambda (n) (cons n (recalls n))) names)))
          (cons 'cosines (list (cons 'full-text (cos 'full 'text-only))
                               (cons 'full-image (cos 'full 'image-only))
                               (cons 'text-image (cos 'text-only 'image-only)))))))

;;; ---- figures --------------------------------------------------------------------

(define* (plot-saliency result file #:key (normalised #t))
  "Plot S_v, S_t and S_o per layer from a probe-saliency RESULT (the
per-layer normalised values, or the raw means without NORMALISED) into the
PNG FILE, like the paper's saliency figure."
  (let* ((rows (assq-ref result (if normalised 'norm 'mean)))
         (xs (iota (length rows))))
    (plot-lines file (list (list "S_v (image → read-out)" xs (map first rows))
                           (list "S_t (text → read-out)" xs (map second rows))
                           (list "S_o (other pairs)" xs (map third rows)))
                #:title (format #f "saliency flow (~a), ~a samples"
                                (if (assq-ref result 'pre-softmax) "pre-softmax" "post-softmax")
                                (assq-ref result 'samples))
                #:xlabel "layer" #:ylabel (if normalised "share of flow" "mean flow"))))

(define* (plot-attention-heads result file #:key (visual #f))
  "Heatmap PNG FILE of the image-attention share of every layer (rows, layer
0 on top) and head (columns) from a probe-attention RESULT; VISUAL shows the
mICL visual read-out instead."
  (plot-heatmap file (assq-ref result (if visual 'visual-image-heads 'image-heads))
                #:title (format #f "image-attention share of the ~a read-out (layer × head)"
                                (if visual "visual" "text"))))

(define* (plot-attention-tokens result file #:key (width 1200) (height 500))
  "Bar chart PNG FILE of the head-mean attention row of one layer of a
probe-attention RESULT (its 'layer, first note): one bar per token of the
sequence the LLM sees, labelled with the token text (CJK through
fontconfig), image tokens coloured apart."
  (%nl-plot-attention-tokens file
                             (format #f "attention of the read-out at layer ~a" (assq-ref result 'layer))
                             (assq-ref result 'tokens) (assq-ref result 'kinds) (assq-ref result 'row)
                             (list width height)))

(define* (overlay-patches run note file #:key (layer #f) (size 448))
  "Write to the PNG FILE the image of the dataset note NOTE as RUN's model
sees it (resized and cropped, SIZE px) with the patch view overlaid: the
text read-out's head-mean attention on the visual tokens at LLM LAYER
(default the last), carried through the projector (token-wise) and the
Q-Former's cross-attention (head mean over its cross-attention layers, CLS
key dropped) to the ViT patch grid. Returns the patch weights as rows of
the grid (top row first), summing to 1."
  (%nl-overlay-patches run note (or layer -1) file size))

;;; ---- report ---------------------------------------------------------------------

(define (visual-tokens? run)
  "#t when RUN's method splices visual tokens into the LLM (the attention,
saliency and patch probes need them)."
  (assq-ref (run-info run) 'visual-tokens))

(define* (visual-ignorance-report run dir #:key (pairs "test_imagelinked") (samples 200) (note #f))
  "Run every probe on RUN over the pair list PAIRS and write DIR/report.md
with tables and the figures DIR/saliency.png, DIR/heads.png, DIR/tokens.png
and DIR/patches.png: attention shares over the first SAMPLES notes of the
list, saliency over SAMPLES notes, modality ablation recall and cosines.
NOTE (default the first note of the list) is the note of the per-token and
patch figures. A method without visual tokens (late fusion only) gets the
ablation alone. Returns the alist ('attention . a) ('saliency . s)
('ablation . m) ('patches . rows), #f for what was not run."
  (let* ((ds (run-notes run))
         (ps (note-pairs ds pairs))
         (_ (when (null? ps)
              (scm-error 'misc-error "visual-ignorance-report" "pair list ~s has no pairs" (list pairs) #f)))
         (uniq (delete-duplicates (append-map (lambda (p) (list (car p) (cdr p))) ps)))
         (notes (list-head uniq (min samples (length uniq))))
         (notes (if note (cons note (delete note notes)) notes))
         (vis (visual-tokens? run))
         (att (and vis (probe-attention run notes)))
         (sal (and vis (probe-saliency run #:pairs pairs #:samples samples)))
         (abl (modality-ablation run #:pairs pairs))
         (path (lambda (f) (string-append dir "/" f))))
    (mkdir-p dir)
    (let ((patches (and vis (overlay-patches run (car notes) (path "patches.png")))))
      (when vis
        (plot-saliency sal (path "saliency.png"))
        (plot-attention-heads att (path "heads.png"))
        (plot-attention-tokens att (path "tokens.png")))
      (write-report (path "report.md") run pairs att sal abl)
      (list (cons 'attention att) (cons 'saliency sal) (cons 'ablation abl) (cons 'patches patches)))))

(define (mkdir-p dir)
  "Create DIR and its missing parents."
  (unless (or (string-null? dir) (file-exists? dir))
    (mkdir-p (dirname dir))
    (mkdir dir)))

;;; The report's sections, each writing Markdown to the port P.

(define (write-ablation p abl)
  "The modality-ablation section of the report from the result ABL."
  (let* ((rec (assq-ref abl 'recall))
         (ks (map car (assq-ref (cdar rec) 'recall)))
         (cos (assq-ref abl 'cosines)))
    (format p "## Modality ablation (method §5.1)~%~%")
    (format p "Recall over ~a notes with the same weights and three inputs.~%~%" (assq-ref abl 'notes))
    (display (markdown-table (append '("input") (map (lambda (k) (format #f "R@~a" k)) ks) '("MRR"))
                             (map (lambda (v)
                                    (append (list (car v)) (map cdr (assq-ref (cdr v) 'recall))
                                            (list (assq-ref (cdr v) 'mrr))))
                                  rec))
             p)
    (format p "~%Mean cosine between the variants' embeddings of the same note: full·text-only ~,3f, ~
full·image-only ~,3f, text-only·image-only ~,3f.~%~%"
            (assq-ref cos 'full-text) (assq-ref cos 'full-image) (assq-ref cos 'text-image))))

(define (write-attention p att)
  "The attention section of the report from the probe-attention result ATT."
  (let ((micl (assq 'visual-image att)))
    (format p "## Attention from the read-out (method §5.3)~%~%")
    (format p "Head-mean attention shares of the embedding position, averaged over ~a notes. ~
The sink is the first token.~%~%" (length (assq-ref att 'notes)))
    (display (markdown-table (append '("layer" "image" "text" "sink") (if micl '("image (n^v)") '()))
                             (map (lambda (l i t s v) (append (list l i t s) (if v (list v) '())))
                                  (iota (assq-ref att 'layers)) (assq-ref att 'image) (assq-ref att 'text)
                                  (assq-ref att 'sink)
                                  (or (assq-ref att 'visual-image) (make-list (assq-ref att 'layers) #f))))
             p)
    (format p "~%![image-attention share per layer and head](heads.png)~%~%")
    (format p "![attention row of note ~a at layer ~a](tokens.png)~%~%" (car (assq-ref att 'notes))
            (assq-ref att 'layer))))

(define (write-saliency p sal)
  "The saliency section of the report from the probe-saliency result SAL."
  (format p "## Saliency flow (method §5.2)~%~%")
  (format p "I_l = |Σ_h A ⊙ ∂L/∂A| from the contrastive loss over ~a notes (mean loss ~,4f), ~
normalised per layer.~%~%" (assq-ref sal 'samples) (assq-ref sal 'loss))
  (display (markdown-table '("layer" "S_v" "S_t" "S_o")
                           (map (lambda (l r) (cons l (take r 3)))
                                (iota (assq-ref sal 'layers)) (assq-ref sal 'norm)))
           p)
  (format p "~%![saliency flow per layer](saliency.png)~%~%"))

(define (write-report file run pairs att sal abl)
  "Write the Markdown report FILE from the probe results ATT, SAL (#f without
visual tokens) and ABL of RUN on PAIRS."
  (call-with-output-file file
    (lambda (p)
      (let ((info (run-info run)))
        (format p "# Does the model look at the image?~%~%")
        (format p "Run: method `~a`, step ~a of ~a. Pair list `~a`.~%~%" (assq-ref info 'method)
                (assq-ref info 'steps-done) (assq-ref info 'total-steps) pairs)
        (write-ablation p abl)
        (if (not att)
            (format p "The method `~a` splices no visual tokens into the LLM: its attention cannot look at ~
the image, so only the ablation applies.~%" (assq-ref info 'method))
            (begin
              (write-attention p att)
              (write-saliency p sal)
              (format p "## Patch view~%~%The read-out's attention on the visual tokens of note ~a (last ~
layer), carried through the Q-Former's cross-attention to the image patches.~%~%![patch view](patches.png)~%"
                      (car (assq-ref att 'notes)))))))))
