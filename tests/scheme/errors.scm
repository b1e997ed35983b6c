;;; errors.scm — SRFI-64 suite: every error key raised by a real bad call,
;;; the printed form of the exceptions, and that failures neither crash,
;;; corrupt the session's tensors nor leak memory.
(use-modules (srfi srfi-64) (rnrs bytevectors) (notellm))

(define (error-key thunk)
  "The key thrown by THUNK, or 'no-error."
  (catch #t (lambda () (thunk) 'no-error) (lambda (key . args) key)))

(define (error-text thunk)
  "The printed exception thrown by THUNK."
  (catch #t (lambda () (thunk) "no error")
    (lambda (key . args)
      (call-with-output-string (lambda (port) (print-exception port #f key args))))))

(define m23 (zeros '(2 3)))
(define m45 (zeros '(4 5)))

(test-begin "errors")

(test-group "notellm-shape-error"
  (test-eq 'notellm-shape-error (error-key (lambda () (tensor-matmul m23 m45))))
  (test-eq 'notellm-shape-error (error-key (lambda () (tensor-add m23 m45))))
  (test-eq 'notellm-shape-error (error-key (lambda () (tensor-reshape m23 '(4)))))
  (test-eq 'notellm-shape-error (error-key (lambda () (tensor '((1 2) (3))))))
  (test-eq 'notellm-shape-error (error-key (lambda () (tensor-item m23))))
  (test-eq 'notellm-shape-error (error-key (lambda () (tensor-ref m23 0))))
  (test-eq 'notellm-shape-error (error-key (lambda () (zeros '(2 -3)))))
  (test-eq 'notellm-shape-error (error-key (lambda () (bytevector->tensor (make-bytevector 10) '(3)))))
  (test-eq 'notellm-shape-error (error-key (lambda () (tensor-backward! (ones 3 #:requires-grad #t))))))

(test-group "notellm-dtype-error"
  (test-eq 'notellm-dtype-error (error-key (lambda () (zeros 3 #:dtype 'f64))))
  (test-eq 'notellm-dtype-error (error-key (lambda () (set-tensor-requires-grad! (arange 3)))))
  (test-eq 'notellm-dtype-error (error-key (lambda () (rand 3 #:dtype 'i32))))
  (test-eq 'notellm-dtype-error (error-key (lambda () (tensor-matmul (arange 4) (arange 4)))))
  (test-eq 'notellm-dtype-error (error-key (lambda () (tensor-embedding m23 (zeros 2))))))

(test-group "notellm-device-error"
  (unless (cuda-available?)
    (test-eq 'notellm-device-error (error-key (lambda () (zeros 3 #:device 'cuda:0))))
    (test-eq 'notellm-device-error (error-key (lambda () (tensor-to m23 #:device 'cuda:0))))
    (test-eq 'notellm-device-error (error-key (lambda () (tensor '(1 2) #:device 'cuda)))))
  (test-eq 'notellm-device-error (error-key (lambda () (zeros 3 #:device 'tpu)))))

(test-group "notellm-error"
  (let ((t (ones 2)))
    (tensor-free! t)
    (test-eq 'notellm-error (error-key (lambda () (tensor-add t t))))
    (test-eq 'notellm-error (error-key (lambda () (tensor-shape t))))
    (test-assert "freed message" (string-contains (error-text (lambda () (tensor->list t))) "the tensor was freed")))
  (test-eq 'notellm-error (error-key (lambda () (arange 0 1 0))))
  (test-eq 'notellm-error (error-key (lambda () (set-tensor-requires-grad! (tensor-add (ones 1 #:requires-grad #t) 1) #f))))
  (test-eq "backward twice" 'notellm-error
           (let ((y (tensor-sum (tensor-mul (ones 2 #:requires-grad #t) 3))))
             (tensor-backward! y)
             (error-key (lambda () (tensor-backward! y))))))

(test-group "out-of-range"
  (test-eq 'out-of-range (error-key (lambda () (tensor-ref m23 2 0))))
  (test-eq 'out-of-range (error-key (lambda () (tensor-ref m23 0 -4))))
  (test-eq 'out-of-range (error-key (lambda () (tensor-permute m23 '(0 2)))))
  (test-eq 'out-of-range (error-key (lambda () (set-threads! 0)))))

(test-group "wrong-type-arg"
  (test-eq 'wrong-type-arg (error-key (lambda () (tensor-add "x" m23))))
  (test-eq 'wrong-type-arg (error-key (lambda () (tensor-shape 42))))
  (test-eq 'wrong-type-arg (error-key (lambda () (zeros "3"))))
  (test-eq 'wrong-type-arg (error-key (lambda () (tensor '(1 "a")))))
  (test-eq 'wrong-type-arg (error-key (lambda () (tensor-narrow m23 0.5 0 1))))
  (test-eq 'wrong-type-arg (error-key (lambda () (tensor-concat (list m23 'x)))))
  (test-eq 'wrong-type-arg (error-key (lambda () (f32vector->tensor #u8(1 2 3 4)))))
  (test-eq 'wrong-type-arg (error-key (lambda () (optimizer-step! m23)))))

(test-group "printed exceptions"
  (test-equal "notellm-shape-error: tensor-reshape: "
              (substring (error-text (lambda () (tensor-reshape m23 '(4)))) 0 37))
  (test-assert (string-prefix? "notellm-shape-error: tensor-matmul: matmul: "
                               (error-text (lambda () (tensor-matmul m23 m45)))))
  (test-assert (string-contains (error-text (lambda () (tensor-matmul m23 m45))) "[2 3]"))
  (test-assert (string-prefix? "notellm-dtype-error: zeros: unknown dtype 'f64'"
                               (error-text (lambda () (zeros 3 #:dtype 'f64))))))

(test-group "notellm-out-of-memory"
  ;; 2^44 floats = 64 TiB: far beyond this machine; the allocator runs the GC,
  ;; retries once, then raises, and the session goes on.
  (test-eq 'notellm-out-of-memory (error-key (lambda () (zeros (list 65536 65536 4096)))))
  (test-equal 6.0 (tensor-item (tensor-sum (ones '(2 3))))))

(test-group "errors keep the session intact"
  (test-equal '((0.0 0.0 0.0) (0.0 0.0 0.0)) (tensor->list m23))
  (let ((live (assq-ref (memory-stats) 'live-bytes)))
    (do ((i 0 (+ i 1))) ((= i 300))
      (error-key (lambda () (tensor-matmul m23 m45)))
      (error-key (lambda () (tensor '((1 2) (3)))))
      (error-key (lambda () (tensor-add m23 m45))))
    (test-assert "failed calls leak no tensor memory"
                 (<= (assq-ref (memory-stats) 'live-bytes) live))))

(test-end "errors")
