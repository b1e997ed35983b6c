;;; probe.scm — SRFI-64 suite of (notellm probe) on a tiny NoteLLM-2 trained
;;; for a few steps: attention shares add up, the probed forward equals plain
;;; embedding bit for bit, the ablation variants really change the input,
;;; saliency and figures come out with the right shapes and sizes, probes run
;;; from a training hook, and bad arguments raise clear errors.
(use-modules (ice-9 binary-ports) (ice-9 textual-ports) (rnrs bytevectors) (srfi srfi-1) (srfi srfi-64) (notellm))

(define tmp (mkdtemp (string-copy "/tmp/nl-probe-XXXXXX")))
(define (at name) (string-append tmp "/" name))

(define (error-message thunk)
  "The key and formatted message thrown by THUNK as one string, or 'no-error."
  (catch #t (lambda () (thunk) 'no-error)
    (lambda (key who fmt args . rest)
      (string-append (symbol->string key) ": " (if (string? fmt) (apply format #f fmt (or args '())) "")))))

(define (png-size file)
  "The (width height) of the PNG FILE from its IHDR chunk."
  (let ((b (call-with-input-file file get-bytevector-all #:binary #t)))
    (list (bytevector-u32-ref b 16 (endianness big)) (bytevector-u32-ref b 20 (endianness big)))))

(define (close? a b tol) (< (abs (- a b)) tol))

(test-begin "probe")
(set-threads! 1)
(generate-notes (at "data") #:items 30 #:seed 5 #:image-size 32 #:distractors 4)
(train-tokenizer (list (at "data/notes_train.csv")) (at "tok.json") #:vocab-size 300)
(define (tiny method steps)
  (make-run `((method . ,method) (data_dir . ,(at "data")) (tokenizer . ,(at "tok.json"))
              (out_dir . ,(at method)) (lang . "en") (max_steps . ,steps) (pairs_per_batch . 4) (lr . 0.001)
              (max_note_tokens . 96) (seed . 11)
              (llm . ((hidden_size . 32) (intermediate_size . 48) (num_layers . 2) (num_heads . 2)
                      (num_kv_heads . 1) (head_dim . 16)))
              (vision . ((hidden_size . 16) (intermediate_size . 32) (num_layers . 1) (num_heads . 2)
                         (image_size . 32) (patch_size . 16)))
              (qformer . ((hidden_size . 16) (intermediate_size . 32) (num_layers . 1) (num_heads . 2)
                          (num_query_tokens . 4))))))
(define run (tiny "notellm2" 4))
(define hook-shares '())
(test-group "training hook"
  (test-eq 'done (train! run #:port (open-output-string) #:hook-every 2
                         #:on-step (lambda (r m)
                                     (set! hook-shares (cons (assq-ref (probe-attention r 0) 'image) hook-shares)))))
  (test-equal "called at steps 2 and 4" 2 (length hook-shares))
  (test-equal "one share per layer" '(2 2) (map length hook-shares)))

(define ds (load-notes (at "data")))
(define notes '(0 1 2))

(test-group "attention shares"
  (let ((a (probe-attention run notes)))
    (test-equal 2 (assq-ref a 'layers))
    (test-equal 2 (assq-ref a 'heads))
    (test-equal 4 (assq-ref a 'n-image))
    (test-assert "pad share is 0 with right padding" (every zero? (assq-ref a 'pad)))
    (test-assert "image + text + sink = 1 per layer (text read-out)"
      (every (lambda (i t s) (close? 1 (+ i t s) 1e-6)) (assq-ref a 'image) (assq-ref a 'text) (assq-ref a 'sink)))
    (test-assert "image + text + sink = 1 per layer and head"
      (every (lambda (is ts ss) (every (lambda (i t s) (close? 1 (+ i t s) 1e-6)) is ts ss))
             (assq-ref a 'image-heads) (assq-ref a 'text-heads) (assq-ref a 'sink-heads)))
    (test-assert "image + text + sink = 1 per layer (mICL visual read-out)"
      (every (lambda (i t s) (close? 1 (+ i t s) 1e-6))
             (assq-ref a 'visual-image) (assq-ref a 'visual-text) (assq-ref a 'visual-sink)))
    (test-assert "image share is not 0 (visual tokens are seen)" (every positive? (assq-ref a 'image)))
    (let ((tokens (assq-ref a 'tokens)) (kinds (assq-ref a 'kinds)) (row (assq-ref a 'row)))
      (test-equal "one kind and one weight per token" (list (length tokens) (length tokens))
                  (list (length kinds) (length row)))
      (test-equal "4 visual tokens spliced" '("<v0>" "<v1>" "<v2>" "<v3>")
                  (filter (lambda (t) (string-prefix? "<v" t)) tokens))
      (test-equal "image kinds are the visual tokens" 4 (count (lambda (k) (eq? k 'image)) kinds))
      (test-equal "first token is the sink" 'sink (car kinds))
      (test-equal "spliced length = prompt + NQ - 1" (+ (assq-ref a 'n-tokens) 3) (length tokens))
      (test-assert "the row is a distribution over the visible tokens" (close? 1 (apply + row) 1e-5))
      (test-assert "the row's image part is the first note's layer-1 share"
        (close? (apply + (filter-map (lambda (k w) (and (eq? k 'image) w)) kinds row))
                (cadr (assq-ref (probe-attention run 0) 'image)) 1e-6)))
    (test-equal "probed embedding = plain embedding, bit for bit"
      (tensor->list (car (embed-notes run #:notes notes)))
      (tensor->list (assq-ref a 'embedding)))
    (test-equal "batched probing averages the notes"
      (assq-ref a 'image) (assq-ref (probe-attention run notes #:batch 3) 'image))
    (let ((out (open-output-string)))
      (print-attention a out)
      (test-assert "table lines fit 80 columns"
        (every (lambda (l) (<= (string-length l) 80)) (string-split (get-output-string out) #\newline))))))

(define report (visual-ignorance-report run (at "report") #:pairs "test" #:samples 8))
(test-group "report"
  (let ((md (call-with-input-file (at "report/report.md") get-string-all)))
    (test-assert "sections" (every (lambda (h) (string-contains md h))
                                   '("## Modality ablation" "## Attention" "## Saliency" "## Patch view")))
    (test-assert "figures written and linked"
      (every (lambda (f) (and (file-exists? (at (string-append "report/" f))) (string-contains md (string-append "(" f ")"))))
             '("saliency.png" "heads.png" "tokens.png" "patches.png")))
    (test-equal "saliency over 8 notes" 8 (assq-ref (assq-ref report 'saliency) 'samples))
    (test-assert "Markdown tables: ablation, attention and saliency headers"
      (every (lambda (h) (string-contains md h))
             '("| input | R@" "| layer | image | text | sink |" "| layer | S_v | S_t | S_o |" "| --- | --- |")))
    (test-equal "three variants" 3 (length (assq-ref (assq-ref report (quote ablation)) (quote recall))))))

(test-group "ablation variants"
  (let* ((full (probe-attention run 0))
         (img0 (probe-attention run 0 #:variant 'image-only))
         (img5 (probe-attention run 5 #:variant 'image-only))
         (full5 (probe-attention run 5))
         (text (apply string-append (assq-ref img0 'tokens))))
    (test-assert "image-only prompts are shorter" (< (assq-ref img0 'n-tokens) (assq-ref full 'n-tokens)))
    (test-equal "image-only prompts are the same for every note" (assq-ref img0 'tokens) (assq-ref img5 'tokens))
    (test-assert "full prompts differ between notes" (not (equal? (assq-ref full 'tokens) (assq-ref full5 'tokens))))
    (test-assert "image-only text fields are empty" (string-contains text "\"title\":\"\""))
    (test-assert "text-only changes the embedding"
      (not (equal? (tensor->list (assq-ref full 'embedding))
                   (tensor->list (assq-ref (probe-attention run 0 #:variant 'text-only) 'embedding))))))
  (let* ((m (assq-ref report 'ablation))
         (rec (assq-ref m 'recall))
         (cos (assq-ref m 'cosines)))
    (test-equal '(full text-only image-only) (map car rec))
    (test-assert "full recall equals (notellm eval)'s recall"
      (equal? (assq-ref (assq-ref rec 'full) 'recall) (assq-ref (recall run #:pairs "test") 'recall)))
    (test-assert "text-only ranks differ from full"
      (not (= (assq-ref (assq-ref rec 'full) 'mrr) (assq-ref (assq-ref rec 'text-only) 'mrr))))
    (let ((two (modality-ablation run #:pairs '("test" "test_imagelinked"))))
      (test-equal "several lists: recall per list, embedded once" '("test" "test_imagelinked")
                  (map car (assq-ref two 'recall)))
      (test-equal "several lists: the same recall as one list" (assq-ref rec 'full)
                  (assq-ref (assoc-ref (assq-ref two 'recall) "test") 'full)))
    (test-assert "lists of two splits are refused"
      (string-contains (error-message (lambda () (modality-ablation run #:pairs '("test" "train")))) "span the splits"))
    (test-assert "cosines are means in [-1, 1], below 1"
      (every (lambda (kv) (and (<= -1 (cdr kv)) (< (cdr kv) 1))) cos))))

(test-group "saliency"
  (let ((s (probe-saliency run #:pairs "test" #:samples 8 #:batch 2)))
    (test-equal 2 (assq-ref s 'layers))
    (test-equal "8 samples: 4 pairs" 8 (assq-ref s 'samples))
    (test-assert "loss is finite and positive" (and (finite? (assq-ref s 'loss)) (positive? (assq-ref s 'loss))))
    (test-assert "norm = mean / per-layer sum"
      (every (lambda (m n) (let ((t (apply + m))) (every (lambda (x y) (close? (/ x t) y 1e-9)) m n)))
             (assq-ref s 'mean) (assq-ref s 'norm)))
    (plot-saliency s (at "sal.png"))
    (test-equal '(800 500) (png-size (at "sal.png")))
    (let* ((p (car (note-pairs ds "test")))
           (one (probe-saliency run #:note (car p)))
           (e (tensor->list (car (embed-notes run #:notes (list (car p) (cdr p))))))
           (cos (apply + (map * (car e) (cadr e)))))
      (test-equal "one note: its partner in the list" (cdr p) (assq-ref one 'related))
      (test-equal "one note: two samples" 2 (assq-ref one 'samples))
      (test-assert "one note: the loss is -cos(e(note), e(related))" (close? (- cos) (assq-ref one 'loss) 1e-5))
      (test-assert "one note: a note in no pair needs #:related"
        (string-contains (error-message (lambda () (probe-saliency run #:note 99999))) "#:related")))
    (let ((pre (probe-saliency run #:pairs "test" #:samples 8 #:batch 2 #:pre-softmax #t)))
      (test-assert "pre-softmax: same loss, other flows"
        (and (assq-ref pre 'pre-softmax) (close? (assq-ref pre 'loss) (assq-ref s 'loss) 1e-6)
             (not (equal? (assq-ref pre 'mean) (assq-ref s 'mean))))))))

(test-group "figures"
  (let ((a (probe-attention run notes)))
    (plot-attention-heads a (at "heads.png"))
    (test-equal '(700 600) (png-size (at "heads.png")))
    (plot-attention-tokens a (at "tokens.png") #:width 640 #:height 300)
    (test-equal '(640 300) (png-size (at "tokens.png")))
    (test-equal '(3 64 64) (tensor-shape (load-image (at "tokens.png") #:size 64)))
    (test-assert "CJK labels draw"
      (begin (plot-attention-tokens (append (alist-delete 'tokens a)
                                            (list (cons 'tokens (map (lambda (t) "笔记") (assq-ref a 'tokens)))))
                                    (at "cjk.png"))
             (equal? '(1200 500) (png-size (at "cjk.png")))))))

(test-group "patch view"
  (let ((w (overlay-patches run 0 (at "patches.png") #:size 128)))
    (test-equal "a 2x2 grid (32 px image, 16 px patches)" '(2 2) (map length (list w (car w))))
    (test-assert "weights are a distribution over the patches"
      (and (every (lambda (x) (>= x 0)) (concatenate w)) (close? 1 (apply + (concatenate w)) 1e-5)))
    (test-equal "image plus colour bar" '(188 128) (png-size (at "patches.png")))))

(test-group "bad arguments"
  (test-assert "note index out of range"
    (string-contains (error-message (lambda () (probe-attention run 99999))) "no note 99999"))
  (test-assert "layer out of range"
    (string-contains (error-message (lambda () (probe-attention run 0 #:layer 7))) "layer 7 out of range"))
  (test-assert "unknown variant"
    (string-contains (error-message (lambda () (probe-attention run 0 #:variant 'sound))) "variant"))
  (test-assert "empty note list"
    (string-contains (error-message (lambda () (probe-attention run '()))) "no notes"))
  (let ((text-run (tiny "notellm" 1)))
    (test-equal "a NoteLLM (CSFT) run embeds for the ablation's full variant" '(2 64)
                (tensor-shape (car (embed-notes text-run #:notes '(0 1)))))
    (test-assert "a run without vision: attention"
      (not (eq? 'no-error (error-message (lambda () (probe-attention text-run 0))))))
    (test-assert "a run without vision: ablation"
      (string-contains (error-message (lambda () (modality-ablation text-run))) "needs a model with vision"))))

(system* "rm" "-rf" tmp)
(test-end "probe")
