;;; print.scm — SRFI-64 suite: the printed form of tensors (header, values,
;;; summaries, 0-d, empty, freed) through write, display and format.
(use-modules (srfi srfi-64) (ice-9 format) (notellm))

(define (printed obj) (call-with-output-string (lambda (p) (write obj p))))
(define (header obj) (car (string-split (printed obj) #\newline)))

(test-begin "print")

(test-equal "#<tensor f32[2 3] cpu>\n[[1. 2. 3.]\n [4. 5. 6.]]"
            (printed (tensor '((1 2 3) (4 5 6)))))
(test-equal "#<tensor f32[2 3] cpu requires-grad>"
            (header (zeros '(2 3) #:requires-grad #t)))
(test-equal "display = write" (printed (ones 3)) (call-with-output-string (lambda (p) (display (ones 3) p))))
(test-equal "format ~a" (printed (ones 3)) (format #f "~a" (ones 3)))
(test-equal "0-d" "#<tensor f32[] cpu>\n2.5000" (printed (tensor 2.5)))
(test-equal "0 elements" "#<tensor f32[0 3] cpu>\n[]" (printed (zeros '(0 3))))
(test-equal "integers" "#<tensor i64[3] cpu>\n[ 1 -2 30]" (printed (tensor '(1 -2 30) #:dtype 'i64)))
(test-equal "fixed point" "#<tensor f32[2] cpu>\n[0.5000 1.2500]" (printed (tensor '(0.5 1.25))))
(test-equal "scientific" "#<tensor f32[2] cpu>\n[1.0000e-05 2.0000e+00]" (printed (tensor '(1e-5 2))))
(test-equal "non-finite" "#<tensor f32[3] cpu>\n[ inf -inf  nan]" (printed (tensor '(+inf.0 -inf.0 +nan.0))))
(test-equal "3-d" "#<tensor i32[2 1 2] cpu>\n[[[1 2]]\n\n [[3 4]]]"
            (printed (tensor '(((1 2)) ((3 4))) #:dtype 'i32)))
(test-equal "header only" "#<tensor u8[4] cpu>" (tensor->string (zeros 4 #:dtype 'u8) #:values? #f))
(let* ((big (arange 100 #:dtype 'f32))
       (lines (string-split (printed big) #\newline)))
  (test-equal "summary of a long vector" "[ 0.  1.  2.  3. ... 96. 97. 98. 99.]" (cadr lines)))
(let ((lines (string-split (printed (zeros '(50 40))) #\newline)))
  (test-equal "rows are summarised" 8 (length lines))
  (test-equal "row ellipsis" " ..." (list-ref lines 4))
  (test-equal "column ellipsis" "[[0. 0. 0. 0. ... 0. 0. 0. 0.]" (list-ref lines 1)))
(let ((t (ones 2)))
  (tensor-free! t)
  (test-equal "freed" "#<tensor freed>" (printed t)))
(test-assert "in a list" (string-prefix? "(#<tensor f32[1] cpu>" (printed (list (ones 1)))))

(test-end "print")
