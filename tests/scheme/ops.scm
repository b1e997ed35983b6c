;;; ops.scm — SRFI-64 suite: every op of runtime/ops.h through its Scheme
;;; binding, against values computed by hand (the numerical conformance of
;;; the kernels is tested in C by tests/ops).
(use-modules (srfi srfi-1) (srfi srfi-64) (notellm))

(define (close? a b)
  "Nested lists of numbers equal within 1e-4 (relative for large values)."
  (cond ((and (number? a) (number? b))
         (or (= a b) (< (abs (- a b)) (* 1e-4 (max 1 (abs a) (abs b))))))
        ((and (pair? a) (pair? b)) (and (= (length a) (length b)) (every close? a b)))
        (else (equal? a b))))

(define-syntax-rule (test-values name expected expr)
  (test-assert name (close? expected (tensor->list expr))))

(define m (tensor '((1 2 3) (4 5 6))))
(define (sigmoid x) (/ 1 (+ 1 (exp (- x)))))
(define (silu x) (* x (sigmoid x)))

(test-begin "ops")

(test-group "arithmetic"
  (test-values "broadcast add" '((11 22 33) (14 25 36)) (tensor-add m (tensor '(10 20 30))))
  (test-values "tensor - number" '((0 1 2) (3 4 5)) (tensor-sub m 1))
  (test-values "number - tensor" '(9 8) (tensor-sub 10 (tensor '(1 2))))
  (test-values "number + tensor" '(3 4) (tensor-add 2 (tensor '(1 2))))
  (test-values "tensor * number" '((2 4 6) (8 10 12)) (tensor-mul m 2.0))
  (test-values "number * tensor" '(3 6) (tensor-mul 3 (tensor '(1 2))))
  (test-values "tensor * tensor" '((1 4 9) (16 25 36)) (tensor-mul m m))
  (test-values "tensor / number" '(0.25 0.5) (tensor-div (tensor '(1 2)) 4))
  (test-values "number / tensor" '(0.5 0.25) (tensor-div 1 (tensor '(2 4))))
  (test-values "tensor / tensor" '(3 -2) (tensor-div (tensor '(6 4)) (tensor '(2 -2))))
  (test-values "scale" '(3 5) (tensor-scale (tensor '(1 2)) 2 1)))

(test-group "unary"
  (let ((xs '(-1.5 -0.25 0.5 2.0)))
    (for-each
     (lambda (name op f)
       (test-values name (map f xs) (op (tensor xs))))
     '("exp" "tanh" "sigmoid" "relu" "silu" "quick-gelu" "gelu" "gelu-tanh")
     (list tensor-exp tensor-tanh tensor-sigmoid tensor-relu tensor-silu tensor-quick-gelu
           tensor-gelu tensor-gelu-tanh)
     (list exp tanh sigmoid (lambda (x) (max x 0)) (lambda (x) (* x (sigmoid x)))
           (lambda (x) (* x (sigmoid (* 1.702 x))))
           (lambda (x) (assv-ref '((-1.5 . -0.10021080) (-0.25 . -0.10032342)
                                   (0.5 . 0.34573123) (2.0 . 1.95449974)) x))
           (lambda (x) (* 0.5 x (+ 1 (tanh (* (sqrt (/ 2 3.141592653589793))
                                               (+ x (* 0.044715 x x x))))))))))
  (let ((xs '(0.25 1.0 4.0)))
    (test-values "log" (map log xs) (tensor-log (tensor xs)))
    (test-values "sqrt" (map sqrt xs) (tensor-sqrt (tensor xs)))
    (test-values "rsqrt" (map (lambda (x) (/ 1 (sqrt x))) xs) (tensor-rsqrt (tensor xs)))))

(test-group "swiglu"
  (test-values "silu(gate) * up" (list (* 2 (silu 1.0)) (* -1 (silu -2.0)))
               (tensor-swiglu (tensor '(1 -2)) (tensor '(2 -1))))
  (test-error "shapes must match" #t (tensor-swiglu (tensor '(1 2)) (tensor '(1 2 3)))))

(test-group "selection"
  (test-values "where" '(1 20 3)
               (tensor-where (tensor '(1 0 1) #:dtype 'u8) (tensor '(1 2 3)) (tensor '(10 20 30))))
  (test-values "masked-fill" '((1 -inf.0 3) (4 -inf.0 6))
               (tensor-masked-fill m (tensor '(0 1 0) #:dtype 'u8) -inf.0))
  (let ((x (ones 3)))
    (test-eq "dropout when not training" x (tensor-dropout x #:training #f))
    (test-eq "dropout with p 0" x (tensor-dropout x #:p 0)))
  (let ((kept (lambda () (tensor->list (tensor-dropout (ones 10000) #:p 0.25)))))
    (test-assert "dropout keeps 1/(1-p)-scaled values"
                 (every (lambda (v) (or (zero? v) (close? v (/ 4 3)))) (kept)))
    (test-assert "dropout rate" (< 2200 (count zero? (kept)) 2800))))

(test-group "reductions"
  (test-values "sum all" 21.0 (tensor-sum m))
  (test-equal "sum all is 0-d" '() (tensor-shape (tensor-sum m)))
  (test-values "sum dim 0" '(5 7 9) (tensor-sum m #:dim 0))
  (test-values "sum dim -1 keepdim" '((6) (15)) (tensor-sum m #:dim -1 #:keepdim #t))
  (test-values "mean all" 3.5 (tensor-mean m))
  (test-values "mean dim 1" '(2 5) (tensor-mean m #:dim 1))
  (test-values "max dim 1" '(3 6) (tensor-max m #:dim 1))
  (test-values "max all" 6.0 (tensor-max m))
  (test-values "max all keepdim" '((6.0)) (tensor-max m #:keepdim #t))
  (test-equal "argmax dim 0" '(1 1 1) (tensor->list (tensor-argmax m #:dim 0)))
  (test-eq 'i64 (tensor-dtype (tensor-argmax m #:dim 0)))
  (test-equal "argmax all (flat index)" 5 (tensor-item (tensor-argmax m))))

(test-group "linear algebra"
  (let ((a (tensor '((1 2) (3 4))))
        (b (tensor '((5 6) (7 8)))))
    (test-values "matmul" '((19 22) (43 50)) (tensor-matmul a b))
    (test-values "matmul trans-a" '((26 30) (38 44)) (tensor-matmul a b #:trans-a #t))
    (test-values "matmul trans-b" '((17 23) (39 53)) (tensor-matmul a b #:trans-b #t))
    (test-values "batched" '(((19 22) (43 50)) ((19 22) (43 50)))
                 (tensor-matmul (tensor-expand (tensor-unsqueeze a 0) '(2 2 2)) b)))
  (let ((x (tensor '((1 2))))
        (w (tensor '((1 0) (0 1) (1 1)))))
    (test-values "linear" '((1 2 3)) (tensor-linear x w))
    (test-values "linear with bias" '((1.5 2.5 3.5)) (tensor-linear x w (tensor '(0.5 0.5 0.5))))))

(test-group "softmax"
  (let* ((e (map exp '(1 2 3)))
         (z (apply + e)))
    (test-values "softmax" (map (lambda (v) (/ v z)) e) (tensor-softmax (tensor '(1 2 3))))
    (test-values "log-softmax" (map (lambda (v) (log (/ v z))) e) (tensor-log-softmax (tensor '(1 2 3))))
    (test-values "softmax dim 0" '((0.5) (0.5)) (tensor-softmax (tensor '((3) (3))) #:dim 0))))

(test-group "indexing"
  (let ((w (tensor '((0 1) (2 3) (4 5)))))
    (test-values "embedding" '((4 5) (0 1)) (tensor-embedding w (tensor '(2 0) #:dtype 'i64)))
    (test-values "embedding i32 2-d ids" '(((2 3)) ((4 5))) (tensor-embedding w (tensor '((1) (2)) #:dtype 'i32))))
  (test-values "index-select" '((3 1) (6 4)) (tensor-index-select m 1 (tensor '(2 0) #:dtype 'i64)))
  (test-values "concat dim 0" '((1 2 3) (4 5 6) (1 2 3) (4 5 6)) (tensor-concat (list m m)))
  (test-values "concat dim 1" '((1 2 3 1) (4 5 6 4)) (tensor-concat (list m (tensor-narrow m 1 0 1)) #:dim 1)))

(test-group "normalisation"
  (let ((r (/ 1 (sqrt 12.5))))
    (test-values "rmsnorm" (list (list (* 3 r) (* 4 r))) (tensor-rmsnorm (tensor '((3 4))) #:eps 0))
    (test-values "rmsnorm weight" (list (list (* 6 r) (* 4 r))) (tensor-rmsnorm (tensor '((3 4))) (tensor '(2 1)) #:eps 0)))
  (test-values "layernorm" '((-1 1)) (tensor-layernorm (tensor '((1 3))) #:eps 0))
  (test-values "layernorm affine" '((-1 5)) (tensor-layernorm (tensor '((1 3))) (tensor '(2 3)) (tensor '(1 2)) #:eps 0))
  (test-values "l2-normalize" '((0.6 0.8) (0 1)) (tensor-l2-normalize (tensor '((3 4) (0 2)))))
  (let ((x (tensor '((((1 0) (0 1))))))) ; [1 1 2 2]
    (test-values "rope at position 0 is the identity" (tensor->list x)
                 (tensor-rope x (tensor '(0 0) #:dtype 'i64)))
    (test-values "rope rotates by the position" (list (list (list (list 1 0) (list (- (sin 1)) (cos 1)))))
                 (tensor-rope x (tensor '(0 1) #:dtype 'i64)))))

(test-group "attention"
  (let ((q (tensor '((((1 0) (0 1))))))      ; [1 1 2 2]
        (k (tensor '((((1 0) (1 0))))))
        (v (tensor '((((1 2) (3 4)))))))
    (test-values "equal scores average the values" '((((2 3) (2 3)))) (tensor-attention q k v))
    (test-values "causal" '((((1 2) (2 3)))) (tensor-attention q k v #:causal #t))
    (call-with-values (lambda () (tensor-attention q k v #:causal #t #:return-probs #t))
      (lambda (out probs)
        (test-equal '(1 1 2 2) (tensor-shape probs))
        (test-values "probabilities" '((((1 0) (0.5 0.5)))) probs)))
    (test-values "key mask" '((((1 2) (1 2))))
                 (tensor-attention q k v #:mask (tensor '((1 0)) #:dtype 'u8)))))

(test-group "loss"
  (test-values "uniform logits" (log 4) (tensor-cross-entropy (zeros '(2 4)) (tensor '(1 3) #:dtype 'i64)))
  (test-values "ignore-index" (log 4) (tensor-cross-entropy (zeros '(2 4)) (tensor '(1 -100) #:dtype 'i64)))
  (test-values "confident" (log (+ 1 (exp -10)))
               (tensor-cross-entropy (tensor '((10 0))) (tensor '(0) #:dtype 'i64))))

(test-group "kernel profile"
  (let* ((out (open-output-string))
         (a (rand '(64 64)))
         (v (profile-kernels (lambda () (tensor-sum (tensor-matmul a a)) 42) #:port out))
         (rows (kernel-profile))
         (table (get-output-string out)))
    (test-equal "returns the thunk's value" 42 v)
    (test-equal "one matmul counted" 1 (cadr (assq 'matmul rows)))
    (test-assert "seconds are positive" (every (lambda (r) (>= (caddr r) 0)) rows))
    (test-assert "no add ran" (not (assq 'add rows)))
    (test-assert "the table names the op" (string-contains table "matmul"))
    (tensor-matmul a a)
    (test-equal "nothing counted after the thunk" 1 (cadr (assq 'matmul (kernel-profile))))
    (profile-kernels (lambda () #t) #:port #f)
    (test-equal "a new profile starts empty" '() (kernel-profile))))

(test-end "ops")
