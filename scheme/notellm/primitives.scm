;;; primitives.scm — (notellm primitives): loads the C extension
;;; libguile-notellm once, re-exports its %nl- primitives, <tensor> and
;;; <optimizer>, and installs the exception printers for the notellm-* keys.
;;; The only module that calls load-extension (make check-layering checks).
(define-module (notellm primitives)
  #:use-module (ice-9 match)
  #:use-module (notellm config))

;; Defines and exports the %nl- primitives in this module, also while
;; compiling so that the compiler sees their names.
(eval-when (expand load eval)
  (define (load-notellm-extension)
    "Load libguile-notellm: through GUILE_EXTENSIONS_PATH or LTDL_LIBRARY_PATH
when one is set (uninstalled builds, tests), else from the installed extension
directory, else from Guile's default search path."
    (let* ((installed (string-append %notellm-extension-dir "/libguile-notellm"))
           (names (append (if (or (getenv "GUILE_EXTENSIONS_PATH") (getenv "LTDL_LIBRARY_PATH"))
                              '("libguile-notellm")
                              '())
                          (if (file-exists? (string-append installed ".so")) (list installed) '())
                          '("libguile-notellm"))))
      (let try ((names names))
        (if (null? (cdr names))
            (load-extension (car names) "nl_guile_init")
            (catch 'misc-error
              (lambda () (load-extension (car names) "nl_guile_init"))
              (lambda _ (try (cdr names))))))))
  (load-notellm-extension))

(define (print-notellm-error port key args default-printer)
  "Print a notellm-* exception as KEY: SUBR: MESSAGE."
  (match args
    (((and subr (or #f (? string?) (? symbol?))) (? string? message) (? list? margs) . _)
     (format port "~a: " key)
     (when subr (format port "~a: " subr))
     (display (apply format #f message margs) port))
    (_ (default-printer))))

(for-each (lambda (key) (set-exception-printer! key print-notellm-error))
          (%nl-error-keys))
