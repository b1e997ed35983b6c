;;; gc-stress.scm — SRFI-64 suite: tensors made and dropped in a loop are
;;; reclaimed by the collector (allocations are reported to the GC), so the
;;; process's peak resident set stays bounded.
(use-modules (srfi srfi-64) (ice-9 rdelim) (notellm))

(define (vm-hwm-kb)
  "Peak resident set size of this process in kB (VmHWM in /proc/self/status)."
  (call-with-input-file "/proc/self/status"
    (lambda (port)
      (let loop ((line (read-line port)))
        (cond ((eof-object? line) 0)
              ((string-prefix? "VmHWM:" line)
               (string->number (car (string-tokenize (substring line 6)))))
              (else (loop (read-line port))))))))

(test-begin "gc-stress")

(let ((mib (* 256 1024)))              ; f32 elements in 1 MiB
  (do ((i 0 (+ i 1))) ((= i 10000))
    (zeros mib))
  (test-assert "10000 x 1 MiB dropped: peak RSS under 400 MB" (< (vm-hwm-kb) (* 400 1024)))
  (do ((i 0 (+ i 1))) ((= i 1000))
    (with-tensor ((t (ones mib)))
      (tensor-fill! t 2)))
  (test-assert "with-tensor frees at once" (< (vm-hwm-kb) (* 400 1024)))
  (gc)
  (test-assert "memory-stats counts the frees"
               (> (assq-ref (memory-stats) 'frees) 1000)))

(test-end "gc-stress")
