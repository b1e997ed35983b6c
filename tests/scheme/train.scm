;;; train.scm — SRFI-64 suite: optimizer steps against hand-computed
;;; updates (SGD, momentum, weight decay, AdamW), gradient clipping, the
;;; linear layer and a 2-layer MLP that learns.
(use-modules (srfi srfi-1) (srfi srfi-64) (notellm))

(define (close? a b)
  (cond ((and (number? a) (number? b)) (< (abs (- a b)) 1e-5))
        ((and (pair? a) (pair? b)) (and (= (length a) (length b)) (every close? a b)))
        (else (equal? a b))))

(define (backward-sum! . terms)
  "Backpropagate from the sum of the elements of TERMS."
  (tensor-backward! (tensor-sum (fold tensor-add (car terms) (cdr terms)))))

(test-begin "train")

(test-group "sgd"
  (let* ((p (tensor '(1 2) #:requires-grad #t))
         (opt (make-sgd (list p) #:lr 0.1)))
    (test-assert (optimizer? opt))
    (test-eq 'sgd (optimizer-kind opt))
    (backward-sum! (tensor-mul p p))                 ; g = 2p = (2 4)
    (optimizer-step! opt)
    (test-assert (close? '(0.8 1.6) (tensor->list p)))
    (test-equal 1 (optimizer-steps opt))
    (optimizer-zero-grad! opt)
    (test-assert "zero-grad drops the gradients" (not (tensor-grad p)))
    (set-optimizer-lr! opt 0.5)
    (test-assert (close? 0.5 (optimizer-lr opt)))
    (test-equal 1 (length (optimizer-parameters opt)))
    (test-assert (string-prefix? "#<optimizer sgd lr=0.5 params=1 steps=1>"
                                 (call-with-output-string (lambda (port) (write opt port))))))
  (let* ((p (tensor '(0 0) #:requires-grad #t))
         (opt (make-sgd (list p) #:lr 0.1 #:momentum 0.9)))
    (backward-sum! p)                                ; g = 1, buf = 1
    (optimizer-step! opt)
    (optimizer-zero-grad! opt)
    (backward-sum! p)                                ; buf = 0.9 + 1
    (optimizer-step! opt)
    (test-assert "momentum" (close? '(-0.29 -0.29) (tensor->list p))))
  (let* ((p (tensor '(1 -1) #:requires-grad #t))
         (opt (make-sgd (list p) #:lr 0.1 #:weight-decay 0.5)))
    (backward-sum! p)                                ; g + wd p = (1.5 0.5)
    (optimizer-step! opt)
    (test-assert "weight decay" (close? '(0.85 -1.05) (tensor->list p)))))

(test-group "adamw"
  ;; First step: m^ = g, v^ = g^2, so the update is lr * sign(g); decoupled
  ;; decay multiplies p by (1 - lr wd) first.
  (let* ((p (tensor '(1 -2) #:requires-grad #t))
         (opt (make-adamw (list p) #:lr 0.1 #:weight-decay 0)))
    (test-eq 'adamw (optimizer-kind opt))
    (backward-sum! (tensor-mul p (tensor '(3 -0.5))))
    (optimizer-step! opt)
    (test-assert (close? '(0.9 -1.9) (tensor->list p))))
  (let* ((p (tensor '(1 -2) #:requires-grad #t))
         (opt (make-adamw (list p) #:lr 0.1 #:weight-decay 0.01)))
    (backward-sum! (tensor-mul p (tensor '(3 -0.5))))
    (optimizer-step! opt)
    (test-assert "decoupled weight decay" (close? '(0.899 -1.898) (tensor->list p))))
  (let* ((p (tensor '(5) #:requires-grad #t))
         (opt (make-adamw (list p) #:lr 0.1 #:weight-decay 0)))
    (do ((i 0 (+ i 1))) ((= i 200))
      (optimizer-zero-grad! opt)
      (backward-sum! (tensor-mul p p))
      (optimizer-step! opt))
    (test-assert "minimises p^2" (< (abs (tensor-item p)) 0.1))))

(test-group "clip-grad-norm!"
  (let ((a (tensor '(3) #:requires-grad #t))
        (b (tensor '(4) #:requires-grad #t)))
    (backward-sum! (tensor-mul a a) (tensor-mul b b))  ; grads 6 and 8, norm 10
    (test-assert (close? 10.0 (clip-grad-norm! (list a b) 1.0)))
    (test-assert (close? '(0.6) (tensor->list (tensor-grad a))))
    (test-assert (close? '(0.8) (tensor->list (tensor-grad b))))
    (test-assert "below the limit nothing changes" (close? 1.0 (clip-grad-norm! (list a b) 5.0)))
    (test-assert (close? '(0.6) (tensor->list (tensor-grad a))))))

(test-group "linear layer"
  (set-seed! 7)
  (let ((l (make-linear 4 3)))
    (test-assert (linear? l))
    (test-equal '(3 4) (tensor-shape (linear-weight l)))
    (test-equal '(3) (tensor-shape (linear-bias l)))
    (test-assert (every tensor-requires-grad? (parameters l)))
    (test-assert "Kaiming-uniform bound 1/sqrt(in)"
                 (every (lambda (v) (<= (abs v) 0.5))
                        (append (concatenate (tensor->list (linear-weight l))) (tensor->list (linear-bias l)))))
    (test-equal '(5 3) (tensor-shape (linear-forward l (zeros '(5 4)))))
    (test-equal "#<linear 4 -> 3 bias>" (call-with-output-string (lambda (port) (write l port)))))
  (test-equal 1 (length (parameters (make-linear 2 2 #:bias #f))))
  (test-equal 4 (length (parameters (list (make-linear 2 3) (make-linear 3 1))))))

(test-group "a 2-layer MLP learns XOR"
  (set-seed! 1)
  (let* ((x (tensor '((0 0) (0 1) (1 0) (1 1))))
         (y (tensor '((0) (1) (1) (0))))
         (l1 (make-linear 2 16))
         (l2 (make-linear 16 1))
         (opt (make-adamw (parameters (list l1 l2)) #:lr 0.05 #:weight-decay 0))
         (loss (lambda ()
                 (let ((d (tensor-sub (linear-forward l2 (tensor-tanh (linear-forward l1 x))) y)))
                   (tensor-mean (tensor-mul d d)))))
         (first (tensor-item (loss))))
    (do ((i 0 (+ i 1))) ((= i 300))
      (optimizer-zero-grad! opt)
      (tensor-backward! (loss))
      (clip-grad-norm! (optimizer-parameters opt) 1.0)
      (optimizer-step! opt))
    (test-assert "loss falls by 10x" (< (tensor-item (loss)) (/ first 10)))))

(test-end "train")
