;;; notebook.scm — (notellm notebook): what scripts and reports share —
;;; command-line options, a stopwatch and Markdown tables. Used by the
;;; notebooks and by visual-ignorance-report. Depends on Guile only.
(define-module (notellm notebook)
  #:use-module (ice-9 format)
  #:export (script-flag? script-option make-stopwatch markdown-table))

(define* (script-flag? name #:optional (args (cdr (command-line))))
  "Whether the option NAME (e.g. \"--quick\") is among ARGS (default: the
script's command-line arguments)."
  (and (member name args) #t))

(define* (script-option name default #:optional (args (cdr (command-line))))
  "The word after the option NAME among ARGS (default: the script's
command-line arguments), or DEFAULT when NAME is absent or last."
  (let ((m (member name args)))
    (if (and m (pair? (cdr m))) (cadr m) default)))

(define (make-stopwatch)
  "A procedure returning the seconds (a real) since make-stopwatch was called."
  (let ((t0 (get-internal-real-time)))
    (lambda () (exact->inexact (/ (- (get-internal-real-time) t0) internal-time-units-per-second)))))

(define (markdown-table header rows)
  "A Markdown table (a string ending in a newline) with the column titles
HEADER and ROWS, each a list of cells: strings as they are, exact integers
as integers, other numbers with 3 decimals, anything else as display shows
it."
  (let ((cell (lambda (x)
                (cond ((string? x) x)
                      ((and (number? x) (exact? x) (integer? x)) (number->string x))
                      ((number? x) (format #f "~,3f" x))
                      (else (format #f "~a" x)))))
        (line (lambda (cells) (string-append "| " (string-join cells " | ") " |\n"))))
    (string-append (line (map (lambda (h) (format #f "~a" h)) header))
                   (line (map (lambda (_) "---") header))
                   (string-concatenate (map (lambda (r) (line (map cell r))) rows)))))
