;;; nn.scm — (notellm nn): a small layer set for notebooks: the linear layer
;;; (torch.nn.Linear layout and initialisation) and a parameters accessor
;;; for optimizers. Full models live in (notellm models).
(define-module (notellm nn)
  #:use-module (srfi srfi-1)
  #:use-module (srfi srfi-9)
  #:use-module (srfi srfi-9 gnu)
  #:use-module (notellm tensor)
  #:export (make-linear linear? linear-in-features linear-out-features
            linear-weight linear-bias linear-forward parameters))

(define-record-type <linear>
  (%make-linear in out weight bias)
  linear?
  (in linear-in-features)
  (out linear-out-features)
  (weight linear-weight)
  (bias linear-bias))

(define* (make-linear in out #:key (bias #t) (dtype 'f32) (device (default-device)))
  "A linear layer y = x W^T + b with WEIGHT [OUT, IN] and BIAS [OUT] (when
BIAS is true) on DEVICE, initialised like torch.nn.Linear (Kaiming-uniform: both drawn
from U(-1/sqrt(IN), 1/sqrt(IN)) with the seeded generator), requiring grad."
  (let* ((bound (/ 1.0 (sqrt in)))
         (init (lambda (shape)
                 (let ((t (rand shape #:low (- bound) #:high bound #:device device)))
                   (set-tensor-requires-grad! (if (eq? dtype 'f32) t (tensor-to t #:dtype dtype)))))))
    (%make-linear in out (init (list out in)) (and bias (init (list out))))))

(define (linear-forward layer x)
  "Apply LAYER to X [..., IN]: X W^T + b, shape [..., OUT]."
  (tensor-linear x (linear-weight layer) (linear-bias layer)))

(define (parameters obj)
  "The trainable tensors of OBJ: a linear layer (weight, then bias), a tensor
that requires grad, or a list of these (flattened in order)."
  (cond ((linear? obj) (filter identity (list (linear-weight obj) (linear-bias obj))))
        ((tensor? obj) (if (tensor-requires-grad? obj) (list obj) '()))
        ((list? obj) (append-map parameters obj))
        (else (scm-error 'wrong-type-arg "parameters"
                         "Wrong type argument in position ~A (expecting layer, tensor or list): ~S"
                         (list 1 obj) (list obj)))))

(set-record-type-printer! <linear>
  (lambda (layer port)
    (format port "#<linear ~a -> ~a~a>" (linear-in-features layer) (linear-out-features layer)
            (if (linear-bias layer) " bias" ""))))
