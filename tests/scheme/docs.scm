;;; docs.scm — SRFI-64 suite: every exported procedure of every loaded
;;; (notellm ...) module (all of scheme/notellm/ are loaded) has a docstring,
;;; so `(help name)' works.
(use-modules (ice-9 ftw) (srfi srfi-1) (srfi srfi-64) (notellm))

(define (source-module-names)
  "The module names of every scheme/notellm/*.scm in the source tree."
  (let ((dir (string-append (or (getenv "abs_top_srcdir") "..") "/scheme/notellm")))
    (map (lambda (file) (list 'notellm (string->symbol (basename file ".scm"))))
         (filter (lambda (f) (string-suffix? ".scm" f)) (scandir dir)))))

(define (notellm-modules)
  "Every (notellm ...) module: those of the source tree, loaded now, and the
other loaded ones under (notellm), including (notellm) itself."
  (for-each resolve-interface (source-module-names))
  (let walk ((m (resolve-module '(notellm))))
    (cons m (append-map walk (hash-map->list (lambda (name sub) sub) (module-submodules m))))))

(test-begin "docs")

(test-assert "the umbrella module re-exports the API"
             (> (length (module-map (lambda (s v) s) (resolve-interface '(notellm)))) 100))

(define (undocumented m)
  "Exported procedures of module M without a docstring of a few words."
  (filter-map
   identity
   (module-map
    (lambda (name var)
      (and (variable-bound? var)
           (procedure? (variable-ref var))
           (let ((doc (procedure-documentation (variable-ref var))))
             (not (and (string? doc) (> (string-length doc) 10))))
           name))
    (module-public-interface m))))

(for-each (lambda (m)
            (test-equal (format #f "~a" (module-name m)) '() (undocumented m)))
          (filter module-public-interface (notellm-modules)))

(test-assert "help finds the documentation"
             (let ((env (make-fresh-user-module)))
               (module-use! env (resolve-interface '(notellm)))
               (module-use! env (resolve-interface '(ice-9 session)))
               (string-contains (with-output-to-string (lambda () (eval '(help tensor-matmul) env)))
                                "matrix product")))

(test-end "docs")
