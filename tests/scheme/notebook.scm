;;; notebook.scm — SRFI-64 suite of (notellm notebook): command-line
;;; options, the stopwatch and Markdown tables.
(use-modules (srfi srfi-64) (notellm))

(test-begin "notebook")

(test-group "options"
  (let ((args '("--quick" "--out" "dir" "--seeds")))
    (test-assert "a flag that is there" (script-flag? "--quick" args))
    (test-assert "a flag that is not" (not (script-flag? "--slow" args)))
    (test-equal "an option's value" "dir" (script-option "--out" "report" args))
    (test-equal "an absent option gives the default" "report" (script-option "--data" "report" args))
    (test-equal "an option without a value gives the default" "3" (script-option "--seeds" "3" args))))

(test-group "stopwatch"
  (let* ((w (make-stopwatch)) (a (w)) (b (begin (usleep 20000) (w))))
    (test-assert "starts near 0" (and (>= a 0) (< a 1)))
    (test-assert "counts seconds" (>= b 0.02))))

(test-group "markdown tables"
  (test-equal "header, rule, rows; integers as they are, other numbers with 3 decimals"
    "| variant | R@10 | n |\n| --- | --- | --- |\n| basic | 0.292 | 357 |\n| mm | 0.300 | x |\n"
    (markdown-table '("variant" "R@10" n) '(("basic" 0.2915 357) (mm 0.3 "x"))))
  (test-equal "no rows" "| a |\n| --- |\n" (markdown-table '("a") '())))

(test-end "notebook")
