;;; data.scm — (notellm data): notes data in the paper's layout, note
;;; lookup with the preprocessed fields, prompt building (what the model
;;; sees, with read-out positions), pair loaders, and the synthetic
;;; benchmark generator. Depends on (notellm primitives) and (notellm text).
(define-module (notellm data)
  #:use-module (ice-9 format)
  #:use-module (srfi srfi-1)
  #:use-module (srfi srfi-9)
  #:use-module (srfi srfi-9 gnu)
  #:use-module (notellm primitives)
  #:use-module (notellm text)
  #:re-export (<notes>)
  #:export (load-notes notes-report notes-count note-ref note-pairs
            build-prompt prompt? prompt-kind prompt-text prompt-ids prompt-labels
            prompt-text-readout prompt-visual-readout prompt-image-slot prompt-target
            prompt-truncated?
            make-pair-loader pair-loader-next!
            generate-notes))

(define (load-notes dir)
  "Load the notes data directory DIR in the paper's layout (notes_train.csv,
notes_test.csv, note_pairs_*.csv, images/, images_test/) and print its one
summary line (counts, skipped rows and pairs, missing images). Bad rows are
skipped and counted, never fatal; unreadable or malformed files raise."
  (let ((ds (%nl-load-notes dir)))
    (format (current-error-port) "~a~%" (assq-ref (notes-report ds) 'summary))
    ds))

(define (notes-report ds)
  "The load report of DS: an alist with 'summary (one line), counts
('notes 'pairs 'pairs-skipped 'images-missing 'rows-skipped
'duplicate-ids 'invalid-utf8) and 'examples (the first problems)."
  (%nl-notes-report ds))

(define (notes-count ds)
  "The number of notes in DS (train notes first, then test notes)."
  (%nl-notes-count ds))

(define (note-ref ds key)
  "The note KEY of DS — an index or a note id string — as an alist of its
raw fields ('id 'title 'content 'image-id 'category 'split) and the §1.4
preprocessed ones ('p-title 'p-topic 'p-content 'p-category), or #f."
  (%nl-note-ref ds key))

(define* (note-pairs ds #:optional name)
  "The pairs of DS's list NAME (\"train\", \"val\", \"test\",
\"test_imagelinked\", ...) as (index . index); without NAME, the names of
the pair lists."
  (%nl-note-pairs ds (or name #f)))

;;; ---- prompts ------------------------------------------------------------------

(define-record-type <prompt>
  (%make-prompt tok kind text ids labels text-readout visual-readout image-slot target truncated)
  prompt?
  (tok prompt-tokenizer)
  (kind prompt-kind)
  (text prompt-text)
  (ids prompt-ids)
  (labels prompt-labels)
  (text-readout prompt-text-readout)
  (visual-readout prompt-visual-readout)
  (image-slot prompt-image-slot)
  (target prompt-target)
  (truncated prompt-truncated?))

(define* (build-prompt ds tok key #:key (method 'notellm2) (micl #t) (kind #f) (lang 'zh)
                       (max-note-tokens 140) (seed 0))
  "The prompt the model sees for note KEY (index or id) of DS, tokenized
once with TOK (which must know <IMG>, <IMG_EMB>, <TEXT_EMB>). KIND selects
the template directly ('category 'hashtag 'infer 'gen-category 'gen-hashtag
'mm-basic 'micl 'image-only 'micl-image-only 'text-only 'late-fusion);
otherwise METHOD 'notellm gives the inference prompt and 'notellm2 the mICL
(MICL true) or basic prompt. LANG 'zh uses the paper code's Chinese
templates, 'en the English rendering. Returns a <prompt> record."
  (let* ((k (or kind (case method
                       ((notellm) 'infer)
                       ((notellm2) (if micl 'micl 'mm-basic))
                       (else (scm-error 'wrong-type-arg "build-prompt" "unknown method ~S" (list method) #f)))))
         (r (%nl-build-prompt ds tok key k lang max-note-tokens seed)))
    (%make-prompt tok k (assq-ref r 'text) (assq-ref r 'ids) (assq-ref r 'labels)
                  (assq-ref r 'text-readout) (assq-ref r 'visual-readout) (assq-ref r 'image-slot)
                  (assq-ref r 'target) (assq-ref r 'truncated))))

(define (describe-position p what pos)
  "\"WHAT: token POS 'tok'\" for a position of prompt P, or #f when POS < 0."
  (and (>= pos 0)
       (format #f "~a: token ~a ~s" what pos (detokenize (prompt-tokenizer p) (list (list-ref (prompt-ids p) pos))))))

(set-record-type-printer! <prompt>
 (lambda (p port)
  (format port "#<prompt ~a, ~a tokens~a~%  ~a~%  ~a>"
          (prompt-kind p) (length (prompt-ids p)) (if (prompt-truncated? p) ", note truncated" "")
          (prompt-text p)
          (string-join
           (filter identity
                   (list (describe-position p "text read-out" (prompt-text-readout p))
                         (describe-position p "visual read-out" (prompt-visual-readout p))
                         (describe-position p "image slot" (prompt-image-slot p))
                         (and (prompt-target p)
                              (format #f "target: ~s (~a supervised tokens)" (prompt-target p)
                                      (length (filter (lambda (l) (>= l 0)) (prompt-labels p)))))))
           "; "))))

;;; ---- pair loaders ---------------------------------------------------------------

(define-record-type <pair-loader-handle>
  (%make-loader ptr ds tok)
  pair-loader?
  (ptr loader-ptr)
  (ds loader-notes)       ; kept so the dataset and tokenizer outlive the loader
  (tok loader-tokenizer))

(define* (make-pair-loader ds tok #:key (pairs "train") (batch 16) (seed 1) (kind 'category)
                           (topic-rate 0.4) (lang 'zh) (max-note-tokens 140))
  "A loader of pair batches from DS's pair list PAIRS: BATCH pairs per batch laid
out [first notes; second notes], right-padded, no note twice in a batch,
shuffled per epoch from SEED. KIND is the prompt of every row; 'category
gives NoteLLM's CSFT mix (TOPIC-RATE of each side's rows get the hashtag
prompt)."
  (%make-loader (%nl-make-pair-loader ds tok (list pairs batch seed kind topic-rate lang max-note-tokens))
                ds tok))

(define (pair-loader-next! loader)
  "The next batch of LOADER: an alist of tensors 'ids 'mask 'labels
'text-readout 'visual-readout 'image-slot 'note-index and the 'epoch and
'batch numbers. Epochs roll over with a new shuffle."
  (%nl-pair-loader-next! (loader-ptr loader)))

;;; ---- the synthetic benchmark ------------------------------------------------------

(define* (generate-notes dir #:key (items 2000) (seed 7) (lang 'en) (image-size 64) (overwrite #f)
                         (distractors 200))
  "Write the synthetic benchmark to DIR (created): ITEMS latent items, each
text-linked, image-linked or both, their notes with hashtags and two-level
categories in LANG ('en or 'zh), IMAGE-SIZE px PNG images without
extension, co-occurrence pairs per method §1.3, the paper's test splits and
per-modality ones, and dataset.json; DISTRACTORS further items whose notes
only pad the test pool. Deterministic for SEED. Returns the counts."
  (%nl-generate-notes dir items seed lang image-size overwrite distractors))
