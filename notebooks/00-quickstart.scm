;;; 00-quickstart.scm — a first tour of notellm: tensors, views, autograd,
;;; and a tiny MLP trained with AdamW, from Scheme.
;;;
;;; Run:  notellm notebooks/00-quickstart.scm [--quick] [--out DIR]
;;; --quick trains for fewer steps (make check uses it); --out DIR writes
;;; DIR/report.md with the loss curve as a table. Same seed, same numbers.

(use-modules (notellm) (ice-9 format) (srfi srfi-1))

(define quick? (script-flag? "--quick"))
(define out-dir (script-option "--out" #f))
(set-seed! 0)

;;; ## Tensors
;;; A tensor has a dtype, a shape and a device, and prints a few rows of
;;; values. Nested lists go in, nested lists come out.

(define a (tensor '((1 2 3) (4 5 6))))
(format #t "a = ~a~%" a)
(format #t "shape ~a, dtype ~a, device ~a~%" (tensor-shape a) (tensor-dtype a) (tensor-device a))

;;; ## Views share storage
;;; A transpose or a narrow is a view: writing through it changes `a`.

(define col (tensor-narrow a 1 1 1))  ; column 1, as a [2 1] view
(tensor-fill! col 0)
(format #t "after zeroing column 1 through a view: ~a~%" (tensor->list a))
(format #t "a^T = ~a~%" (tensor->list (tensor-transpose a 0 1)))

;;; ## Autograd
;;; Mark leaves with #:requires-grad, build an expression, call backward.
;;; d/dx sum(x * x) = 2x.

(define x (tensor '(1 -2 3) #:requires-grad #t))
(define y (tensor-sum (tensor-mul x x)))
(tensor-backward! y)
(format #t "y = ~a, dy/dx = ~a~%" (tensor-item y) (tensor->list (tensor-grad x)))

;;; ## A tiny MLP
;;; Fit y = sin(x) on 64 points of [-3, 3] with a 1-32-1 tanh network,
;;; mean squared error and AdamW. The loss should fall by orders of magnitude.

(define n 64)
(define xs (map (lambda (i) (- (* 6.0 (/ i (- n 1))) 3.0)) (iota n)))
(define inputs (tensor (map list xs)))                 ; [64 1]
(define targets (tensor (map (lambda (v) (list (sin v))) xs)))  ; [64 1]

(define l1 (make-linear 1 32))
(define l2 (make-linear 32 1))
(define opt (make-adamw (parameters (list l1 l2)) #:lr 0.01 #:weight-decay 0.0))

(define (predict x) (linear-forward l2 (tensor-tanh (linear-forward l1 x))))
(define (mse p t) (let ((d (tensor-sub p t))) (tensor-mean (tensor-mul d d))))

(define steps (if quick? 300 2000))
(define curve
  (let loop ((step 0) (acc '()))
    (if (= step steps)
        (reverse acc)
        (let ((loss (mse (predict inputs) targets)))
          (optimizer-zero-grad! opt)
          (tensor-backward! loss)
          (optimizer-step! opt)
          (let ((v (tensor-item loss)))
            (when (zero? (modulo step (quotient steps 10)))
              (format #t "step ~4d  loss ~,6f~%" step v))
            (loop (+ step 1) (cons v acc)))))))

(define final-loss (tensor-item (with-no-grad (mse (predict inputs) targets))))
(format #t "final loss after ~a steps: ~,6f (first ~,6f)~%" steps final-loss (car curve))

;;; ## Report
(define (mkdir-p dir)
  (unless (or (string-null? dir) (file-exists? dir))
    (mkdir-p (dirname dir))
    (mkdir dir)))

(when out-dir
  (mkdir-p out-dir)
  (call-with-output-file (string-append out-dir "/report.md")
    (lambda (port)
      (format port "# notellm quickstart~%~%A 1-32-1 tanh MLP fitted to sin(x) on 64 points with AdamW (lr 0.01), seed 0.~%~%")
      (format port "| step | loss |~%|---:|---:|~%")
      (for-each (lambda (i) (format port "| ~a | ~,6f |~%" i (list-ref curve i)))
                (filter (lambda (i) (zero? (modulo i (quotient steps 10)))) (iota steps)))
      (format port "~%Final loss: ~,6f~%" final-loss)))
  (format #t "report: ~a/report.md~%" out-dir))
