;;; models.scm — SRFI-64 suite of (notellm models): safetensors round trips,
;;; loading the PyTorch golden LLaMA fixture and matching its hidden states
;;; from Scheme, presets, freezing, generation, the printed form, and the
;;; errors of bad checkpoints (the session survives each one).
(use-modules (srfi srfi-64) (ice-9 match) (notellm))

(define fixtures (string-append (or (getenv "NL_FIXTURES") "tests/fixtures") "/models"))
(define tmp (mkdtemp (string-copy "/tmp/nl-models-XXXXXX")))

(define (error-key thunk)
  "The key thrown by THUNK, or 'no-error."
  (catch #t (lambda () (thunk) 'no-error) (lambda (key . args) key)))

(define (max-abs-diff a b)
  "The largest |a - b| over two tensors of the same shape."
  (tensor-item (tensor-max (tensor-abs-diff a b))))

(define (tensor-abs-diff a b)
  "|a - b| elementwise."
  (let ((d (tensor-sub a b)))
    (tensor-sqrt (tensor-mul d d))))

(test-begin "models")

(test-group "safetensors round trip"
  (let* ((a (tensor '((1 2 3) (4 5 6))))
         (b (tensor '(7 8) #:dtype 'i64))
         (file (string-append tmp "/t.safetensors")))
    (save-safetensors file `(("a" . ,a) ("b" . ,b)) #:metadata '(("format" . "pt") ("note" . "x")))
    (let ((back (load-safetensors file)))
      (test-equal '("a" "b") (map car back))
      (test-equal (tensor->list a) (tensor->list (assoc-ref back "a")))
      (test-eq 'i64 (tensor-dtype (assoc-ref back "b")))
      (test-eq 'f32 (tensor-dtype (assoc-ref (load-safetensors file #:dtype 'f32) "b")))
      (test-equal "x" (assoc-ref (safetensors-metadata file) "note")))
    (test-eq 'notellm-io-error (error-key (lambda () (load-safetensors (string-append tmp "/none")))))
    (call-with-output-file (string-append tmp "/bad.safetensors")
      (lambda (p) (display "garbage, not a safetensors file" p)))
    (test-eq 'notellm-format-error
             (error-key (lambda () (load-safetensors (string-append tmp "/bad.safetensors")))))
    (test-eq 'wrong-type-arg (error-key (lambda () (save-safetensors file '(("a" . 3))))))
    ;; the failed save left the previous file intact
    (test-equal '("a" "b") (map car (load-safetensors file)))))

(test-group "golden llama from Scheme"
  (let* ((m (load-model (string-append fixtures "/llama")))
         (io (load-safetensors (string-append fixtures "/llama/io.safetensors")))
         (out (model-forward m (assoc-ref io "input_ids") #:mask (assoc-ref io "attention_mask")
                             #:logits? #t #:hidden-states? #t)))
    (test-eq 'llm (model-kind m))
    (test-eq 'llama (assq-ref (model-config m) 'model-type))
    (test-equal 3 (length (assq-ref out 'hidden-states)))
    (test-assert (< (max-abs-diff (assq-ref out 'hidden) (assoc-ref io "hidden_states.2")) 2e-5))
    (test-assert (< (max-abs-diff (assq-ref out 'logits) (assoc-ref io "logits")) 2e-5))
    (test-equal (map (lambda (x) (inexact->exact x)) (tensor->list (assoc-ref io "gen.output")))
                (generate m #f (map inexact->exact (tensor->list (assoc-ref io "gen.prompt")))
                          #:max-new-tokens 8 #:repetition-penalty 1.3))
    (test-assert (string-prefix? "#<model llm llama: 2 layers, hidden 32" (object->string m)))
    (test-equal (+ (* 97 32 2) 32 (* 2 (+ (* 32 32 2) (* 16 32 2) (* 64 32 3) 64)))
                (model-parameter-count m))))

(test-group "presets, freezing, save and load"
  (let ((m (make-model 'tiny #:config '((vocab-size . 300) (layers . 2) (hidden-size . 64)
                                        (heads . 4) (kv-heads . 2) (intermediate-size . 96))
                       #:seed 3))
        (dir (string-append tmp "/tiny")))
    (test-equal 2 (assq-ref (model-config m) 'layers))
    (test-equal 1 (freeze! m "model.layers.0.mlp.gate"))
    (test-equal 3 (freeze! m "model.layers.1.mlp"))
    (test-assert (< (model-parameter-count m #:trainable-only #t) (model-parameter-count m)))
    (test-equal (length (model-parameters m)) (unfreeze! m))
    (save-model m dir)
    (let ((m2 (load-model dir))
          (ids (tensor '((1 2 3)) #:dtype 'i64)))
      (test-equal (tensor->list (assq-ref (model-forward m ids) 'hidden))
                  (tensor->list (assq-ref (model-forward m2 ids) 'hidden))))
    (resize-vocab! m 304)
    (test-equal 304 (assq-ref (model-config m) 'vocab-size))
    (let ((out (model-forward m (tensor '((1 2 303)) #:dtype 'i64) #:attention? #t)))
      (test-equal 2 (length (assq-ref out 'attention)))
      (test-equal '(1 4 3 3) (tensor-shape (car (assq-ref out 'attention)))))
    (model-free! m)
    (test-eq 'notellm-error (error-key (lambda () (model-config m))))))

(test-group "bad models"
  (test-eq 'notellm-io-error (error-key (lambda () (load-model (string-append tmp "/missing")))))
  (mkdir (string-append tmp "/bad"))
  (call-with-output-file (string-append tmp "/bad/config.json")
    (lambda (p) (display "{\"model_type\": \"llama\", \"vocab_size\": " p)))
  (test-eq 'notellm-format-error (error-key (lambda () (load-model (string-append tmp "/bad")))))
  (test-eq 'wrong-type-arg (error-key (lambda () (make-model 'tiny #:kind 'rnn))))
  (test-eq 'notellm-error (error-key (lambda () (make-model 'huge))))
  (test-eq 'notellm-error (error-key (lambda () (make-model 'tiny #:config '((heads . 3))))))
  (let ((m (make-model 'tiny #:config '((vocab-size . 50) (layers . 1)))))
    (test-eq 'notellm-error (error-key (lambda () (model-forward m (tensor '((1 50)) #:dtype 'i64)))))
    (test-eq 'notellm-shape-error (error-key (lambda () (model-forward m (zeros '(1 2 7))))))
    (test-eq 'wrong-type-arg (error-key (lambda () (model-forward 42 (zeros '(1 2 7))))))
    ;; the model still works after the errors
    (test-equal '(1 2 256) (tensor-shape (assq-ref (model-forward m (tensor '((1 2)) #:dtype 'i64)) 'hidden)))))

(test-group "vision encoder and Q-Former"
  (let* ((vit (load-vision-encoder (string-append fixtures "/clip_vision")))
         (io (load-safetensors (string-append fixtures "/clip_vision/io.safetensors")))
         (out (model-forward vit (assoc-ref io "pixel_values") #:hidden-states? #t #:attention? #t)))
    (test-eq 'vit (model-kind vit))
    (test-assert (< (max-abs-diff (assq-ref out 'hidden) (assoc-ref io "hidden_states.2")) 2e-5))
    (test-assert (< (max-abs-diff (vision-pooled vit (assq-ref out 'hidden)) (assoc-ref io "pooled")) 2e-5))
    (test-equal 3 (length (assq-ref out 'hidden-states)))
    (test-equal '(2 4 17 17) (tensor-shape (car (assq-ref out 'attention))))
    (test-assert (string-prefix? "#<model vit clip: 2 layers, hidden 32" (object->string vit))))
  (let* ((qf (load-model (string-append fixtures "/qformer") #:kind 'qformer))
         (io (load-safetensors (string-append fixtures "/qformer/io.safetensors")))
         (out (model-forward qf (assoc-ref io "vision") #:attention? #t)))
    (test-assert (< (max-abs-diff (assq-ref out 'hidden) (assoc-ref io "hidden_states.2")) 2e-5))
    ;; layer 0 has self- and cross-attention, layer 1 self-attention only
    (test-equal '(#t #t #t #f) (map tensor? (assq-ref out 'attention))))
  (let* ((vit (make-model 'tiny #:kind 'vit #:seed 1))
         (qf (make-model 'tiny #:kind 'qformer #:config '((layers . 2)) #:seed 2))
         (img (string-append tmp "/img"))
         (dir (string-append tmp "/vit")))
    (test-equal 192 (assq-ref (model-config vit) 'hidden-size))
    (save-model vit dir)
    (test-equal (length (model-parameters vit)) (length (model-parameters (load-vision-encoder dir))))
    ;; a real image file without extension, through CLIP preprocessing and both models
    (copy-file (string-append (or (getenv "NL_FIXTURES") "tests/fixtures") "/images/rgb8.png") img)
    (let* ((x (load-image img #:size 64))
           (h (assq-ref (model-forward vit (tensor-unsqueeze x 0)) 'hidden))
           (q (assq-ref (model-forward qf h) 'hidden)))
      (test-equal '(3 64 64) (tensor-shape x))
      (test-equal '(1 17 192) (tensor-shape h))
      (test-equal '(1 16 192) (tensor-shape q)))
    (test-eq 'notellm-format-error (error-key (lambda () (load-image (string-append tmp "/bad.safetensors")))))
    (test-equal '(3 64 64) (tensor-shape (load-image (string-append tmp "/none") #:size 64 #:zero-on-error #t)))
    (test-eq 'notellm-shape-error (error-key (lambda () (model-forward vit (zeros '(1 3 32 32))))))
    (test-eq 'notellm-error (error-key (lambda () (model-embed vit (tensor '((1)) #:dtype 'i64)))))))

(system* "rm" "-rf" tmp)
(test-end "models")
