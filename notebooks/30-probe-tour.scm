;;; 30-probe-tour.scm — "does my model look at the image at all?" A tour of
;;; the visual-attention probes (method §5) on one note, the way a session at
;;; the notellm prompt goes: train a small NoteLLM-2 while watching its image
;;; attention, then probe one image-linked note from every side.
;;;
;;; Run:  notellm notebooks/30-probe-tour.scm [--quick] [--out DIR]
;;; Writes DIR/report.md (default DIR: probe-tour-report) with its figures.
;;; --quick is the tiny setting `make check` runs. Same seed, same numbers.

(use-modules (notellm) (ice-9 format) (srfi srfi-1))

(define quick? (script-flag? "--quick"))
(define out-dir (script-option "--out" "probe-tour-report"))
(define (at . names) (string-join (cons out-dir names) "/"))
(system* "mkdir" "-p" out-dir)

;;; ## A model to probe
;;; The synthetic benchmark and a small NoteLLM-2 (mICL + late fusion), as in
;;; notebooks/20-notellm2.scm but smaller.

(define data (at "data"))
(unless (file-exists? (at "data" "dataset.json"))
  (generate-notes data #:items (if quick? 30 200) #:seed 3 #:image-size 32 #:distractors (if quick? 5 50)))
(define tokenizer (at "tokenizer.json"))
(unless (file-exists? tokenizer)
  (train-tokenizer (list (at "data" "notes_train.csv")) tokenizer #:vocab-size (if quick? 300 800)))
(define ds (load-notes data))
(define steps (if quick? 12 300))
(define run
  (make-run `((method . "notellm2") (data_dir . ,data) (tokenizer . ,tokenizer) (out_dir . ,(at "run"))
              (lang . "en") (max_steps . ,steps) (pairs_per_batch . 8) (lr . 0.001) (eval_batches . 4)
              (max_note_tokens . 96) (seed . 5) (log_every . ,steps)
              (llm . ((hidden_size . 128) (intermediate_size . 256) (num_layers . 2) (num_heads . 4)
                      (num_kv_heads . 2) (head_dim . 32)))
              (vision . ((hidden_size . 64) (intermediate_size . 128) (num_layers . 2) (num_heads . 2)
                         (image_size . 32) (patch_size . 8)))
              (qformer . ((hidden_size . 64) (intermediate_size . 128) (num_layers . 2) (num_heads . 2)
                          (num_query_tokens . 8))))))

;;; The note we follow: the first query of the image-linked test pairs, whose
;;; text only talks about its category — the image is what identifies it.

(define pair (car (note-pairs ds "test_imagelinked")))
(define note (car pair))
(format #t "note ~a: ~s~%" (assq-ref (note-ref ds note) 'id) (assq-ref (note-ref ds note) 'title))

;;; ## Watching image attention while training
;;; A training hook runs the attention probe on the note every few steps;
;;; the share of the read-out's attention that lands on the image tokens, per
;;; layer, is the curve users watch for visual ignorance.

(define watch '())
(define (watch-attention run m)
  "Training hook: record the per-layer image share of the note's read-out."
  (set! watch (cons (cons (assq-ref m 'step) (assq-ref (probe-attention run note) 'image)) watch)))
(train! run #:port (open-output-string) #:on-step watch-attention #:hook-every (max 1 (quotient steps 6)))
(set! watch (reverse watch))
(format #t "~%image share of the read-out's attention during training:~%step  ~{layer ~a  ~}~%"
        (iota (length (cdar watch))))
(for-each (lambda (w) (format #t "~4d ~{ ~7,3f~}~%" (car w) (cdr w))) watch)
(plot-lines (at "watch.png")
            (map (lambda (l) (list (format #f "layer ~a" l) (map car watch) (map (lambda (w) (list-ref (cdr w) l)) watch)))
                 (iota (length (cdar watch))))
            #:title "image share of the read-out's attention" #:xlabel "step" #:ylabel "share")

;;; ## 1. Attention from the read-outs
;;; Per layer, how the read-out's attention splits over image tokens, text
;;; tokens and the first token (the attention sink), and under mICL the
;;; same for the visual read-out.

(define att (probe-attention run note))
(print-attention att)
(plot-attention-heads att (at "heads.png"))
(plot-attention-tokens att (at "tokens.png"))

;;; ## 2. Which image regions reach the embedding
;;; The patch view follows the read-out's attention through the visual
;;; tokens and the Q-Former's cross-attention back to the ViT patches.

(define patches (overlay-patches run note (at "patches.png")))
(format #t "~%patch weights (rows of the patch grid):~%")
(for-each (lambda (row) (format #t "~{ ~5,3f~}~%" row)) patches)

;;; ## 3. Modality ablation, for this note and for the split
;;; Cosines between the note's embeddings from full, text-only and
;;; image-only inputs, then recall per input over the image-linked pairs.

(define abl (modality-ablation run #:pairs "test_imagelinked"))
(format #t "~%mean cosines over the test notes: ~a~%" (assq-ref abl 'cosines))
(for-each (lambda (v) (format #t "~12a R@10 ~,3f~%" (car v) (assv-ref (assq-ref (cdr v) 'recall) 10)))
          (assq-ref abl 'recall))

;;; ## 4. Saliency flow
;;; Gradient × attention saliency of the contrastive loss (method §5.2).

(define sal (probe-saliency run #:pairs "test_imagelinked" #:samples (if quick? 8 64)))
(format #t "~%saliency shares per layer (S_v S_t S_o): ~a~%" (assq-ref sal 'norm))
(plot-saliency sal (at "saliency.png"))

;;; ## All of it in one call
;;; `visual-ignorance-report` runs the probes over a pair list and writes a
;;; Markdown report with the figures.

(visual-ignorance-report run (at "report") #:samples (if quick? 8 64) #:note note)

(call-with-output-file (at "report.md")
  (lambda (port)
    (format port "# Probe tour~%~%Written by `notebooks/30-probe-tour.scm`~a: a NoteLLM-2 trained ~a steps, ~
probed on note ~a.~%~%" (if quick? " --quick" "") steps (assq-ref (note-ref ds note) 'id))
    (format port "![image attention while training](watch.png)~%~%![layer x head](heads.png)~%~%")
    (format port "![tokens](tokens.png)~%~%![patch view](patches.png)~%~%![saliency](saliency.png)~%~%")
    (format port "The full probe report over the image-linked pairs: [report/report.md](report/report.md).~%")))
(format #t "~%report: ~a~%" (at "report.md"))
