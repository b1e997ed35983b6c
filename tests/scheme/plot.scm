;;; plot.scm — SRFI-64 suite of (notellm plot): line plots and heatmaps are
;;; written as PNG files of the requested size, and bad arguments raise.
(use-modules (ice-9 binary-ports) (rnrs bytevectors) (srfi srfi-64) (notellm))

(define tmp (mkdtemp (string-copy "/tmp/nl-plot-XXXXXX")))
(define (at name) (string-append tmp "/" name))

(define (error-key thunk)
  "The key thrown by THUNK, or 'no-error."
  (catch #t (lambda () (thunk) 'no-error) (lambda (key . args) key)))

(define (png-size file)
  "The (width height) of the PNG FILE from its IHDR chunk."
  (let ((b (call-with-input-file file get-bytevector-all #:binary #t)))
    (list (bytevector-u32-ref b 16 (endianness big)) (bytevector-u32-ref b 20 (endianness big)))))

(test-begin "plot")

(test-group "line plots"
  (plot-lines (at "lines.png") (list (list "train" '(1 2 3 4) '(2.0 1.5 1.2 1.1))
                                     (list "val" '(2 4) '(1.8 1.3)))
              #:title "loss" #:xlabel "step" #:ylabel "loss" #:smooth 2 #:width 320 #:height 200)
  (test-assert (file-exists? (at "lines.png")))
  (test-equal '(320 200) (png-size (at "lines.png")))
  (test-equal '(3 64 64) (tensor-shape (load-image (at "lines.png") #:size 64)))
  (test-eq 'notellm-error (error-key (lambda () (plot-lines (at "x.png") '()))))
  (test-eq 'notellm-error (error-key (lambda () (plot-lines (at "x.png") (list (list "a" '(1 2) '(1.0)))))))
  (test-eq 'notellm-error
           (error-key (lambda () (plot-lines (at "x.png") (list (list "a" '(1) '(1.0))) #:width 10))))
  (test-eq 'notellm-io-error
           (error-key (lambda () (plot-lines (at "no-dir/x.png") (list (list "a" '(1 2) '(1.0 2.0))))))))

(test-group "heatmaps"
  (plot-heatmap (at "heat.png") '((0.1 0.9) (0.5 0.2)) #:title "attention" #:width 200 #:height 160)
  (test-equal '(200 160) (png-size (at "heat.png")))
  (test-eq 'notellm-shape-error (error-key (lambda () (plot-heatmap (at "h.png") '((1 2) (3))))))
  (test-eq 'wrong-type-arg (error-key (lambda () (plot-heatmap (at "h.png") '())))))

(system* "rm" "-rf" tmp)
(test-end "plot")
