;;; notellm.scm — (notellm): the everyday API in one import. Re-exports every
;;; public binding of (notellm tensor), (notellm train), (notellm nn),
;;; (notellm text), (notellm models), (notellm data), (notellm plot),
;;; (notellm eval), (notellm probe) and (notellm notebook), so `(use-modules (notellm))` is all a
;;; notebook or the REPL needs.
(define-module (notellm)
  #:use-module (notellm tensor)
  #:use-module (notellm train)
  #:use-module (notellm nn)
  #:use-module (notellm text)
  #:use-module (notellm models)
  #:use-module (notellm data)
  #:use-module (notellm plot)
  #:use-module (notellm eval)
  #:use-module (notellm probe)
  #:use-module (notellm notebook))

(module-re-export!
 (current-module)
 (apply append (map (lambda (name) (module-map (lambda (sym var) sym) (resolve-interface name)))
                    '((notellm tensor) (notellm train) (notellm nn) (notellm text) (notellm models) (notellm data)
                      (notellm plot) (notellm eval) (notellm probe) (notellm notebook)))))
