;;; repl.scm — (notellm repl): what the `notellm` executable does, in Scheme:
;;; evaluating input with `key: who: message' error reports, meta-commands,
;;; completion candidates, the Ctrl-C handler, scripts and -c. The C side
;;; (repl/main.c) owns only the terminal: readline, history, signals.
(define-module (notellm repl)
  #:use-module (ice-9 format)
  #:use-module (ice-9 match)
  #:use-module (srfi srfi-1)
  #:use-module (notellm)
  #:use-module (notellm primitives)
  #:export (repl-input-status repl-evaluate repl-completions repl-run-script repl-run-expression
            repl-run-command repl-command?
            repl-user-module install-interrupt-handler! repl-error-message))

(define %user-module #f)

(define (repl-user-module)
  "The module REPL input and scripts are evaluated in: (guile-user) with
(notellm) and (ice-9 session) (for `help' and `apropos') imported."
  (unless %user-module
    (let ((m (resolve-module '(guile-user))))
      (module-use! m (resolve-interface '(notellm)))
      (module-use! m (resolve-interface '(ice-9 session)))
      (set! %user-module m)))
  %user-module)

;;; ---- errors ----------------------------------------------------------------

(define (repl-error-message key args)
  "Format an exception as one line: KEY: WHO: MESSAGE."
  (define (fmt msg margs)
    (catch #t
      (lambda () (apply format #f msg (or margs '())))
      (lambda _ (format #f "~a ~s" msg margs))))
  (match args
    (((and who (or #f (? string?) (? symbol?))) (? string? msg) (and margs (or #f (? list?))) . _)
     (if who
         (format #f "~a: ~a: ~a" key who (fmt msg margs))
         (format #f "~a: ~a" key (fmt msg margs))))
    (_ (format #f "~a: ~s" key args))))

(define (report-error key args)
  (let ((port (current-error-port)))
    (display (repl-error-message key args) port)
    (newline port)
    (force-output port)))

;;; ---- reading ---------------------------------------------------------------

(define (read-all str)
  "Read every form of STR; throws read-error on bad or incomplete input."
  (call-with-input-string str
    (lambda (port)
      (let loop ((forms '()))
        (let ((x (read port)))
          (if (eof-object? x) (reverse forms) (loop (cons x forms))))))))

(define (repl-input-status str)
  "'complete when STR holds whole forms (or a meta-command), 'incomplete when
its parentheses or strings are still open, 'error for other read errors."
  (if (meta-command? str)
      'complete
      (catch 'read-error
        (lambda () (read-all str) 'complete)
        (lambda (key . args)
          (if (string-contains (repl-error-message key args) "end of input") 'incomplete 'error)))))

;;; ---- evaluation ------------------------------------------------------------

(define (print-result v)
  (unless (unspecified? v)
    (write v)
    (newline)))

(define (eval-form form)
  "Evaluate FORM in the user module, print its values; errors are reported,
never raised. Returns #t on success."
  (catch #t
    (lambda ()
      (call-with-values (lambda () (eval form (repl-user-module)))
        (lambda vals (for-each print-result vals)))
      #t)
    (lambda (key . args)
      (if (eq? key 'quit) (apply throw key args))
      (report-error key args)
      #f)))

(define (repl-evaluate str)
  "Evaluate the complete input STR (forms or one meta-command) and print the
results; errors are printed as KEY: WHO: MESSAGE on stderr. Returns #t when
every form succeeded."
  (let ((ok (if (meta-command? str)
                (run-meta-command (string-trim-both str))
                (catch #t
                  (lambda () (every eval-form (read-all str)))
                  (lambda (key . args)
                    (if (eq? key 'quit) (apply throw key args))
                    (report-error key args)
                    #f)))))
    (force-output (current-output-port))
    ok))

;;; ---- meta-commands ---------------------------------------------------------

(define (meta-command? str)
  (string-prefix? "," (string-trim str)))

(define (format-bytes n)
  (cond ((>= n (expt 2 30)) (format #f "~,2f GiB" (/ n (expt 2 30))))
        ((>= n (expt 2 20)) (format #f "~,2f MiB" (/ n (expt 2 20))))
        ((>= n 1024) (format #f "~,1f KiB" (/ n 1024.)))
        (else (format #f "~a B" n))))

(define (meta-time expr-str)
  (let* ((forms (read-all expr-str))
         (t0 (get-internal-real-time))
         (ok (every eval-form forms)))
    (synchronize)
    (format #t ";; ~,4f s wall~%" (/ (- (get-internal-real-time) t0) 1. internal-time-units-per-second))
    ok))

(define (meta-mem)
  (let ((s (memory-stats)))
    (format #t ";; host tensors: ~a live, ~a peak, ~a allocations, ~a frees; ~a cached for reuse~%"
            (format-bytes (assq-ref s 'live-bytes)) (format-bytes (assq-ref s 'peak-bytes))
            (assq-ref s 'allocs) (assq-ref s 'frees) (format-bytes (assq-ref s 'cached-bytes)))
    #t))

(define (meta-device rest)
  (unless (string-null? rest) (set-default-device! rest))
  (format #t ";; default device: ~a (~a CUDA device~:p)~%" (default-device) (cuda-device-count))
  #t)

(define meta-help-text
  ";; ,time EXPR     evaluate EXPR and print the wall time (synchronizing CUDA)
;; ,mem           host tensor memory: live, peak, allocations
;; ,device [DEV]  show or set the default device (cpu, cuda:0, ...)
;; ,help          this text; (help NAME) shows a procedure's documentation
;; ,quit          leave (also Ctrl-D)
")

(define (run-meta-command str)
  (let* ((sp (string-index str #\space))
         (cmd (substring str 1 (or sp (string-length str))))
         (rest (if sp (string-trim-both (substring str sp)) "")))
    (catch #t
      (lambda ()
        (match cmd
          ("time" (meta-time rest))
          ("mem" (meta-mem))
          ("device" (meta-device rest))
          ((or "help" "h") (display meta-help-text) #t)
          ((or "quit" "q") (exit 0))
          (_ (format (current-error-port) "notellm-error: unknown meta-command ,~a (try ,help)~%" cmd) #f)))
      (lambda (key . args)
        (if (eq? key 'quit) (apply throw key args))
        (report-error key args)
        #f))))

;;; ---- completion ------------------------------------------------------------

(define (repl-completions prefix)
  "Sorted names bound in the user module and the modules it uses that start
with PREFIX (meta-commands when PREFIX starts with a comma)."
  (if (string-prefix? "," prefix)
      (filter (lambda (s) (string-prefix? prefix s)) '(",time" ",mem" ",device" ",help" ",quit"))
      (let ((names '()))
        (define (collect m)
          (module-for-each (lambda (sym var)
                             (let ((s (symbol->string sym)))
                               (when (string-prefix? prefix s) (set! names (cons s names)))))
                           m))
        (let ((m (repl-user-module)))
          (collect m)
          (for-each collect (module-uses m)))
        (sort (delete-duplicates names) string<?))))

;;; ---- Ctrl-C ----------------------------------------------------------------

(define (install-interrupt-handler!)
  "Make SIGINT raise notellm-interrupted at the next safe point of Scheme code.
The executable's C handler also sets the runtime flag that kernels poll; when a
kernel already reported the interrupt (and cleared the flag), this handler
stays quiet so one Ctrl-C gives one error."
  (sigaction SIGINT
    (lambda (sig)
      (when (%nl-interrupt-pending?)
        (%nl-interrupt-clear!)
        (throw 'notellm-interrupted #f "interrupted by the user" '() #f)))))

;;; ---- scripts ---------------------------------------------------------------

(define (repl-run-script file)
  "Load FILE in the user module. On an uncaught error print KEY: WHO: MESSAGE
on stderr and exit with status 1; (exit N) in the script exits with N."
  (catch #t
    (lambda () (save-module-excursion
                (lambda () (set-current-module (repl-user-module)) (primitive-load file))))
    (lambda (key . args)
      (if (eq? key 'quit) (apply throw key args))
      (report-error key args)
      (exit 1))))

(define (repl-run-command name args)
  "Run the subcommand NAME of `notellm NAME ARGS...` and exit with its status;
an uncaught error prints KEY: WHO: MESSAGE on stderr and exits with 1."
  (catch #t
    (lambda () (exit ((module-ref (resolve-interface '(notellm commands)) 'run-command) name args)))
    (lambda (key . args)
      (if (eq? key 'quit) (apply throw key args))
      (report-error key args)
      (exit 1))))

(define (repl-command? name)
  "#t if NAME is a subcommand of the notellm executable."
  ((module-ref (resolve-interface '(notellm commands)) 'command?) name))

(define (repl-run-expression str)
  "Evaluate the forms of STR like the REPL does; exit with status 1 if one fails."
  (unless (repl-evaluate str) (exit 1)))
