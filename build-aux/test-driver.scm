;;; test-driver.scm — an Automake test driver for SRFI-64 suites written in
;;; Guile: loads the test file in this process with a runner that reports
;;; every test as PASS/FAIL/XFAIL/XPASS/SKIP (stdout, .log, .trs); an
;;; uncaught exception or a suite with no tests is an ERROR.
;;; Usage (SCM_LOG_DRIVER): guile test-driver.scm --test-name N --log-file L
;;;   --trs-file T [--color-tests yes|no] [--expect-failure yes|no]
;;;   [--enable-hard-errors yes|no] -- [COMPILER...] TEST-FILE
(use-modules (ice-9 format)
             (ice-9 match)
             (srfi srfi-1)
             (srfi srfi-64))

(define stdout (current-output-port))

(define (parse-args args)
  "The driver options as an alist and the test file (the last argument)."
  (let loop ((args args) (opts '()))
    (match args
      (("--" rest ... file) (values opts file))
      (((? (lambda (a) (string-prefix? "--" a)) opt) value . rest)
       (loop rest (acons (string->symbol (substring opt 2)) value opts)))
      (_ (format (current-error-port) "test-driver.scm: bad arguments ~s~%" args)
         (exit 99)))))

(define colors
  '((PASS . "\x1b[0;32m") (FAIL . "\x1b[0;31m") (XPASS . "\x1b[0;31m")
    (XFAIL . "\x1b[1;32m") (SKIP . "\x1b[1;34m") (ERROR . "\x1b[0;35m")))

(define (make-reporter test-name trs log color?)
  "A procedure (result description) writing one result line to stdout and the
.trs file, and returning the result."
  (lambda (result description)
    (format trs ":test-result: ~a ~a~%" result description)
    (format log "~a: ~a~%" result description)
    (format stdout "~a~a~a: ~a - ~a~%"
            (if color? (assq-ref colors result) "") result (if color? "\x1b[m" "")
            test-name description)
    result))

(define (result-symbol kind)
  (case kind
    ((pass) 'PASS) ((fail) 'FAIL) ((xpass) 'XPASS) ((xfail) 'XFAIL) ((skip) 'SKIP)
    (else 'ERROR)))

(define (test-label runner)
  "The test's name, or its line when it has none."
  (let ((name (test-runner-test-name runner)))
    (if (and name (not (string-null? name)))
        name
        (format #f "line ~a" (or (test-result-ref runner 'source-line) "?")))))

(define (describe-failure runner log)
  "Write what SRFI-64 knows about the failed test to LOG."
  (for-each (lambda (key)
              (let ((v (test-result-ref runner key)))
                (when v (format log "  ~a: ~s~%" key v))))
            '(source-file source-line source-form expected-value actual-value
              expected-error actual-error)))

(define (make-runner report log)
  "A SRFI-64 runner that reports each test through REPORT; its aux value
collects the results."
  (let ((runner (test-runner-null)))
    (test-runner-aux-value! runner '())
    (test-runner-on-test-end!
     runner
     (lambda (r)
       (let* ((result (result-symbol (test-result-kind r)))
              (path (test-runner-group-path r))
              (name (string-join (append (if (pair? path) (cdr path) '())
                                         (list (test-label r)))
                                 " / ")))
         (when (memq result '(FAIL XPASS ERROR)) (describe-failure r log))
         (test-runner-aux-value! r (cons (report result name) (test-runner-aux-value r))))))
    (test-runner-on-bad-count! runner (lambda (r count expected)
                                        (report 'ERROR (format #f "test-end: ~a tests, expected ~a" count expected))))
    (test-runner-on-bad-end-name! runner (lambda (r begin end)
                                           (report 'ERROR (format #f "test-end ~a does not match ~a" end begin))))
    runner))

(define (run-suite file report log)
  "Load FILE with our runner; the list of results (an uncaught exception adds
an ERROR)."
  (let* ((runner (make-runner report log))
         (results '()))
    (test-runner-factory (lambda () runner))
    (test-runner-current #f)
    (catch #t
      (lambda ()
        (with-output-to-port log
          (lambda ()
            (with-error-to-port log
              (lambda ()
                ;; load resolves relative names against the driver's directory
                (save-module-excursion
                 (lambda ()
                   (set-current-module (make-fresh-user-module))
                   (load (canonicalize-path file))))))))
        (set! results (test-runner-aux-value runner)))
      (lambda (key . args)
        (set! results (cons (report 'ERROR (format #f "uncaught exception ~a" key))
                            (test-runner-aux-value runner))))
      (lambda (key . args)
        (format log "Uncaught exception in ~a:~%" file)
        (print-exception log #f key args)
        (display-backtrace (make-stack #t 3) log)))
    (if (null? results)
        (list (report 'ERROR "no tests ran"))
        results)))

(define (main args)
  (call-with-values (lambda () (parse-args (cdr args)))
    (lambda (opts file)
      (let* ((opt (lambda (k default) (or (assq-ref opts k) default)))
             (log (open-output-file (opt 'log-file (string-append file ".log"))))
             (trs (open-output-file (opt 'trs-file (string-append file ".trs"))))
             (report (make-reporter (opt 'test-name file) trs log (string=? (opt 'color-tests "no") "yes")))
             (results (run-suite file report log))
             (bad? (lambda (r) (memq r '(FAIL XPASS ERROR)))))
        (format trs ":global-test-result: ~a~%"
                (cond ((memq 'ERROR results) 'ERROR)
                      ((or (memq 'FAIL results) (memq 'XPASS results)) 'FAIL)
                      ((every (lambda (r) (eq? r 'SKIP)) results) 'SKIP)
                      (else 'PASS)))
        (format trs ":recheck: ~a~%" (if (any bad? results) "yes" "no"))
        (format trs ":copy-in-global-log: ~a~%" (if (any bad? results) "yes" "no"))
        (close-port log)
        (close-port trs)
        (exit 0)))))

(main (command-line))
