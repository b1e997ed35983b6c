;;; models.scm — (notellm models): tensors in and out of safetensors files,
;;; and the models: make (random-init presets), load and save HF checkpoint
;;; directories, inspect, freeze, run the decoder and generate. Depends on
;;; (notellm primitives) and (notellm tensor).
(define-module (notellm models)
  #:use-module ((oop goops) #:select (define-method))
  #:use-module (ice-9 format)
  #:use-module (ice-9 match)
  #:use-module (srfi srfi-1)
  #:use-module (notellm primitives)
  #:use-module (notellm tensor)
  #:use-module (notellm text)
  #:re-export (<model>)
  #:export (load-safetensors save-safetensors safetensors-metadata
            make-model load-model save-model model? model-kind model-config
            model-parameters model-parameter-count freeze! unfreeze! model-free!
            model-forward model-embed model-logits generate resize-vocab!
            load-vision-encoder vision-pooled load-image image-formats))

;;; ---- safetensors ------------------------------------------------------------

(define* (load-safetensors file #:key (dtype #f) (device (default-device)))
  "Read every tensor of the safetensors FILE: an alist (NAME . TENSOR) in
file order. Tensors keep their stored dtype unless DTYPE ('f32, 'bf16, ...)
asks for a conversion; they are made on DEVICE. The file is memory-mapped
and fully validated before anything is read."
  (%nl-load-safetensors file dtype device))

(define (safetensors-metadata file)
  "The __metadata__ map of the safetensors FILE as an alist of strings."
  (%nl-safetensors-metadata file))

(define* (save-safetensors file alist #:key (metadata '()))
  "Write the tensors of ALIST, a list of (NAME . TENSOR), to FILE in the
safetensors format, with METADATA an alist of strings (keys and values).
FILE is replaced atomically: a failed save leaves the old file intact."
  (%nl-save-safetensors file (map car alist) (map cdr alist)
                        (map car metadata) (map cdr metadata)))

;;; ---- models -------------------------------------------------------------------

(define (model? obj)
  "#t if OBJ is a model."
  (%nl-model? obj))

(define (model-kind m)
  "The kind of model M: 'llm (a LLaMA or Qwen2 decoder), 'vit (a CLIP
vision encoder) or 'qformer (a BLIP-2 Q-Former connector)."
  (%nl-model-kind m))

(define (model-config m)
  "The configuration of M as an alist (model-type, vocab-size, hidden-size,
layers, heads, kv-heads, ...; nonfinite-weights counts NaN/Inf values found
when it was loaded)."
  (%nl-model-config m))

(define* (make-model preset #:key (kind 'llm) (config '()) (device (default-device)) (seed 0))
  "A randomly initialised model of KIND ('llm, 'vit or 'qformer) from
PRESET ('tiny or 'small), with CONFIG an alist overriding preset sizes
(the keys model-config shows), e.g. '((vocab-size . 4096) (layers . 2)
(model-type . qwen2)). Weights follow HF's initialisation (normal with std
0.02, norms 1; the Q-Former's queries too, not zeros), drawn from a
generator seeded with SEED."
  (%nl-make-model kind preset config device seed))

(define (warn-nonfinite m what)
  "Print a warning when model M was loaded with NaN or Inf weights."
  (let ((n (or (assq-ref (model-config m) 'nonfinite-weights) 0)))
    (when (> n 0)
      (format (current-error-port) "warning: ~a: ~a NaN/Inf weight values~%" what n))
    m))

(define* (load-model dir #:key (kind 'llm) (device (default-device)))
  "Load the HF checkpoint directory DIR (config.json plus model.safetensors
or a sharded model.safetensors.index.json) as a model of KIND onto DEVICE.
Parameter names are HF's; a missing, unexpected or mis-shaped weight is a
notellm-format-error naming it. Warns when weights hold NaN or Inf."
  (let ((m (%nl-load-model kind dir device)))
    (if (eq? kind 'llm) (warn-nonfinite m dir) m)))

(define* (load-vision-encoder dir #:key (device (default-device)))
  "Load the HF CLIP vision encoder in DIR (a clip_vision_model directory or a
full CLIP checkpoint, whose vision_model.* weights are used) onto DEVICE."
  (load-model dir #:kind 'vit #:device device))

(define (save-model m dir)
  "Write M's config.json and model.safetensors (HF names and layout) into
DIR, creating it; files are replaced atomically."
  (%nl-save-model m dir))

(define (model-parameters m)
  "The parameters of M as an alist (HF-NAME . TENSOR) in HF order; the
tensors are the model's own (training them trains the model)."
  (%nl-model-parameters m))

(define* (model-parameter-count m #:key (trainable-only #f))
  "The number of scalar parameters of M (only the trainable ones when
TRAINABLE-ONLY)."
  (fold (lambda (p acc)
          (if (or (not trainable-only) (tensor-requires-grad? (cdr p)))
              (+ acc (tensor-numel (cdr p)))
              acc))
        0 (model-parameters m)))

(define (prefix->string prefix)
  "A parameter-name prefix from a string or symbol (#f or \"\" is all)."
  (cond ((not prefix) "")
        ((symbol? prefix) (symbol->string prefix))
        (else prefix)))

(define* (freeze! m #:optional prefix)
  "Stop training the parameters of M whose HF names start with PREFIX (all
when omitted): they no longer require grad and their gradients are dropped.
Returns how many parameters matched."
  (%nl-set-model-trainable! m (prefix->string prefix) #f))

(define* (unfreeze! m #:optional prefix)
  "Train again the parameters of M whose names start with PREFIX (all when
omitted). Returns how many parameters matched."
  (%nl-set-model-trainable! m (prefix->string prefix) #t))

(define (model-free! m)
  "Free M's weights now instead of waiting for the garbage collector; later
use of M raises notellm-error."
  (%nl-model-free! m))

(define* (model-forward m input #:key (mask #f) (logits? #f) (hidden-states? #f) (attention? #f)
                        (dropout 0.0))
  "Run model M on INPUT and return an alist with 'hidden and, when asked,
'hidden-states (HF order: the embeddings, then each layer), 'attention (per
layer [B NH Tq Tk] probabilities that receive gradients) and 'logits.
A decoder ('llm) takes token ids [B T] (i64/i32) or input embeddings [B T C]
(f32, e.g. with visual tokens spliced in), MASK [B T] marking real tokens of
right-padded rows; 'hidden is the final-norm output and LOGITS? adds [B T V].
A vision encoder ('vit) takes pixels [B 3 S S]; 'hidden is the last layer
before post_layernorm, all tokens [B 1+P C] (NoteLLM-2's image features).
A Q-Former ('qformer) takes vision features [B Tv Cenc] and returns its
queries [B NQ C]; 'attention alternates self- and cross-attention per layer
(#f where a layer has none); DROPOUT > 0 only when training."
  (let* ((flags (filter identity (list (and logits? 'logits) (and hidden-states? 'hidden-states)
                                       (and attention? 'attention))))
         (r (case (model-kind m)   ; (hidden hidden-states attention logits), #f when not asked
              ((llm) (%nl-llm-forward m input mask flags))
              ((vit) (append (%nl-vit-forward m input hidden-states? attention?) '(#f)))
              ((qformer) (append (%nl-qformer-forward m input hidden-states? attention? dropout) '(#f))))))
    (filter cdr (map cons '(hidden hidden-states attention logits) r))))

(define (vision-pooled m hidden)
  "The pooled CLIP output of vision encoder M: post_layernorm of token 0 of
HIDDEN [B T C] (HF pooler_output), [B C]."
  (%nl-vit-pooled m hidden))

(define* (load-image file #:key (size 224) (flip #f) (zero-on-error #f))
  "Decode the image FILE (PNG, JPEG or WebP, recognised by its magic bytes,
so extension-less files work) and preprocess it as CLIP does: bicubic resize
of the shorter side to SIZE (PIL-exact), center crop, horizontal flip when
FLIP, /255 and CLIP mean/std, giving an f32 tensor [3 SIZE SIZE]. With
ZERO-ON-ERROR an unreadable image gives the all-zero tensor and a warning
naming the reason (the paper's \"pad zero\" policy); otherwise it raises."
  (match (%nl-load-image file size flip zero-on-error)
    ((t . #f) t)
    ((t . reason)
     (format (current-error-port) "warning: ~a: zero image used: ~a~%" file reason)
     t)))

(define (image-formats)
  "The image formats this build decodes, e.g. \"png jpeg webp\"."
  (%nl-image-formats))

(define (model-embed m ids)
  "The input embeddings of token IDS [...] under decoder M: [... C]."
  (%nl-llm-embed m ids))

(define (model-logits m hidden)
  "The LM-head logits [... V] of HIDDEN [... C] under decoder M."
  (%nl-llm-logits m hidden))

(define* (generate m tok prompt #:key (max-new-tokens 64) (repetition-penalty 1.0) (eos #f))
  "Greedy generation with decoder M and a KV cache. PROMPT is a string
encoded with the tokenizer TOK (then the result is the decoded new text,
stopping at TOK's end-of-text token unless EOS is given), or a list of
token ids with TOK #f (then the result lists the prompt and the new ids,
stopping after EOS when it is an id). REPETITION-PENALTY > 1 lowers the
logits of ids already present (HF rule)."
  (if (string? prompt)
      (let* ((ids (tokenize tok prompt))
             (eos (or eos (token->id tok "</s>") (token->id tok "<|endoftext|>")))
             (out (%nl-llm-generate m ids max-new-tokens repetition-penalty eos)))
        (detokenize tok (list-tail out (length ids)) #:skip-special #t))
      (%nl-llm-generate m prompt max-new-tokens repetition-penalty eos)))

(define (resize-vocab! m n)
  "Grow decoder M's vocabulary to N rows (for added special tokens); the new
embedding rows are the mean of the existing rows (NoteLLM §3.2)."
  (%nl-llm-resize-vocab! m n))

(define (human-count n)
  "N as a short human-readable count (1.2K, 3.4M, 5.6B)."
  (cond ((>= n 1e9) (format #f "~,1fB" (/ n 1e9)))
        ((>= n 1e6) (format #f "~,1fM" (/ n 1e6)))
        ((>= n 1e3) (format #f "~,1fK" (/ n 1e3)))
        (else (number->string n))))

(define-method (write (m <model>) port)
  (let ((c (model-config m))
        (count (human-count (model-parameter-count m)))
        (trainable (human-count (model-parameter-count m #:trainable-only #t))))
    (case (model-kind m)
      ((llm)
       (format port "#<model llm ~a: ~a layers, hidden ~a, heads ~a/~a, vocab ~a; ~a parameters (~a trainable)>"
               (assq-ref c 'model-type) (assq-ref c 'layers) (assq-ref c 'hidden-size)
               (assq-ref c 'heads) (assq-ref c 'kv-heads) (assq-ref c 'vocab-size) count trainable))
      ((vit)
       (format port "#<model vit clip: ~a layers, hidden ~a, heads ~a, image ~a/~a; ~a parameters (~a trainable)>"
               (assq-ref c 'layers) (assq-ref c 'hidden-size) (assq-ref c 'heads)
               (assq-ref c 'image-size) (assq-ref c 'patch-size) count trainable))
      (else
       (format port "#<model qformer: ~a layers, hidden ~a, ~a queries, vision width ~a; ~a parameters (~a trainable)>"
               (assq-ref c 'layers) (assq-ref c 'hidden-size) (assq-ref c 'query-tokens)
               (assq-ref c 'encoder-hidden-size) count trainable)))))
