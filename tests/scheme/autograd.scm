;;; autograd.scm — SRFI-64 suite: gradients computed from Scheme against
;;; hand-derived values, accumulation, retain-grad/retain-graph, detach and
;;; with-no-grad.
(use-modules (srfi srfi-1) (srfi srfi-64) (notellm))

(define (close? a b)
  (cond ((and (number? a) (number? b)) (< (abs (- a b)) 1e-4))
        ((and (pair? a) (pair? b)) (and (= (length a) (length b)) (every close? a b)))
        (else (equal? a b))))

(define (grad-list t) (let ((g (tensor-grad t))) (and g (tensor->list g))))

(test-begin "autograd")

(test-group "polynomial"
  ;; y = sum(3x^2 + 2x)  =>  dy/dx = 6x + 2
  (let* ((x (tensor '(1 2 3) #:requires-grad #t))
         (y (tensor-sum (tensor-add (tensor-mul (tensor-mul x x) 3) (tensor-mul x 2)))))
    (test-assert (tensor-requires-grad? y))
    (test-equal "#<tensor f32[] cpu requires-grad grad-fn=sum>" (tensor->string y #:values? #f))
    (test-assert "no gradient before backward" (not (tensor-grad x)))
    (tensor-backward! y)
    (test-assert (close? '(8 14 20) (grad-list x)))))

(test-group "matmul and mean"
  ;; y = mean(A B) over 4 elements  =>  dA = (1/4) 1 B^T, dB = (1/4) A^T 1
  (let* ((a (tensor '((1 2) (3 4)) #:requires-grad #t))
         (b (tensor '((5 6) (7 8)) #:requires-grad #t)))
    (tensor-backward! (tensor-mean (tensor-matmul a b)))
    (test-assert (close? '((2.75 3.75) (2.75 3.75)) (grad-list a)))
    (test-assert (close? '((1 1) (1.5 1.5)) (grad-list b)))))

(test-group "cross-entropy"
  ;; d/dlogits = softmax - onehot, averaged over rows
  (let ((logits (zeros '(1 2) #:requires-grad #t)))
    (tensor-backward! (tensor-cross-entropy logits (tensor '(0) #:dtype 'i64)))
    (test-assert (close? '((-0.5 0.5)) (grad-list logits)))))

(test-group "accumulation and zero-grad"
  (let ((x (tensor '(1 2) #:requires-grad #t)))
    (tensor-backward! (tensor-sum (tensor-mul x 3)))
    (tensor-backward! (tensor-sum (tensor-mul x 3)))
    (test-assert "two backwards add up" (close? '(6 6) (grad-list x)))
    (tensor-zero-grad! x)
    (test-assert (not (tensor-grad x)))))

(test-group "explicit gradient, retain-graph, retain-grad"
  (let* ((x (tensor '(1 2 3) #:requires-grad #t))
         (y (tensor-mul x 2)))
    (tensor-backward! y #:gradient (tensor '(1 10 100)) #:retain-graph #t)
    (test-assert (close? '(2 20 200) (grad-list x)))
    (tensor-backward! y #:gradient (ones 3))
    (test-assert "second backward of a retained graph" (close? '(4 22 202) (grad-list x))))
  (let* ((x (tensor '(1 2) #:requires-grad #t))
         (z (tensor-retain-grad! (tensor-mul x 2)))
         (w (tensor-mul x 5)))
    (tensor-backward! (tensor-sum (tensor-add (tensor-mul z z) w)))
    (test-assert "retained non-leaf gradient" (close? '(4 8) (grad-list z)))
    (test-assert "other non-leaf gradients are dropped" (not (tensor-grad w)))
    (test-assert (close? '(13 21) (grad-list x)))))

(test-group "detach and no-grad"
  (let* ((x (tensor '(1 2) #:requires-grad #t))
         (y (tensor-sum (tensor-mul (tensor-detach x) x))))
    (tensor-backward! y)
    (test-assert "detached operand is a constant" (close? '(1 2) (grad-list x))))
  (let ((x (ones 2 #:requires-grad #t)))
    (test-assert (grad-enabled?))
    (test-assert "with-no-grad records nothing"
                 (not (tensor-requires-grad? (with-no-grad (tensor-mul x 2)))))
    (test-assert (not (with-no-grad (grad-enabled?))))
    (test-assert "grad mode restored" (grad-enabled?))
    (catch 'oops (lambda () (with-no-grad (throw 'oops))) (const #f))
    (test-assert "grad mode restored after a throw" (grad-enabled?))
    (test-assert (not (call-with-no-grad (lambda () (tensor-requires-grad? (tensor-add x x))))))
    (set-tensor-requires-grad! x #f)
    (test-assert (not (tensor-requires-grad? (tensor-mul x 2))))))

(test-end "autograd")
