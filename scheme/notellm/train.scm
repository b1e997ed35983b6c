;;; train.scm — (notellm train): optimizers over lists of parameter tensors
;;; (AdamW with decoupled weight decay, SGD with momentum) and global-norm
;;; gradient clipping. Optimizers are <optimizer> foreign objects holding
;;; their own references to the parameters. Training loops build on this.
(define-module (notellm train)
  #:use-module ((oop goops) #:select (define-method))
  #:use-module (srfi srfi-1)
  #:use-module (notellm primitives)
  #:re-export (<optimizer>)
  #:export (make-adamw make-sgd optimizer? optimizer-kind optimizer-parameters
            optimizer-step! optimizer-zero-grad! optimizer-lr set-optimizer-lr!
            optimizer-steps clip-grad-norm!))

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
