;;; ops.scm — notellm side of bench/run: times a few workloads and prints
;;; "NAME SECONDS" lines (best of N runs). Run through bench/run, which
;;; times PyTorch on the same workloads in the same run and prints ratios.
(use-modules (notellm) (ice-9 format))

(set-seed! 0)
(define (best-of n thunk)
  "The smallest wall time of N runs of THUNK, in seconds."
  (let loop ((i 0) (best +inf.0))
    (if (= i n)
        best
        (let ((t0 (get-internal-real-time)))
          (thunk)
          (loop (+ i 1) (min best (/ (- (get-internal-real-time) t0) 1. internal-time-units-per-second)))))))

(define (report name secs) (format #t "~a ~,6f~%" name secs))

;; matmul 1024^3
(let ((a (rand '(1024 1024))) (b (rand '(1024 1024))))
  (report "matmul-1024" (best-of 10 (lambda () (tensor-matmul a b)))))

;; a 2-layer MLP forward + backward: x [256 512] -> 2048 -> 512
(let* ((x (rand '(256 512)))
       (l1 (make-linear 512 2048)) (l2 (make-linear 2048 512)))
  (report "mlp-fwd-bwd"
          (best-of 10 (lambda ()
                        (let ((y (tensor-sum (linear-forward l2 (tensor-gelu (linear-forward l1 x))))))
                          (tensor-backward! y)
                          (for-each tensor-zero-grad! (parameters (list l1 l2))))))))

;; causal attention forward + backward: B 4, NH 8, T 128, HS 64
(let ((q (rand '(4 8 128 64) #:requires-grad #t))
      (k (rand '(4 8 128 64) #:requires-grad #t))
      (v (rand '(4 8 128 64) #:requires-grad #t)))
  (report "attention-fwd-bwd"
          (best-of 10 (lambda ()
                        (tensor-backward! (tensor-sum (tensor-attention q k v #:causal #t)))
                        (for-each tensor-zero-grad! (list q k v))))))

;; softmax + cross-entropy over a 32000 vocabulary, 256 rows, forward + backward
(let ((logits (rand '(256 32000) #:requires-grad #t))
      (targets (arange 256)))
  (report "cross-entropy-32k"
          (best-of 10 (lambda ()
                        (tensor-backward! (tensor-cross-entropy logits targets))
                        (tensor-zero-grad! logits)))))
