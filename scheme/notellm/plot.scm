;;; plot.scm — (notellm plot): figures as PNG files drawn with cairo — line
;;; plots (loss curves, recall curves), grouped bars (recall@K), heatmaps
;;; (attention). Shared by the trainer, the evaluation and the probes.
;;; Depends on (notellm primitives).
(define-module (notellm plot)
  #:use-module (notellm primitives)
  #:export (plot-lines plot-heatmap plot-bars))

(define* (plot-lines file series #:key (title "") (xlabel "") (ylabel "") (smooth 0) (log-y #f)
                     (width 800) (height 500))
  "Write a line plot PNG to FILE (atomically). SERIES is a list of
(LABEL XS YS) with XS and YS lists of numbers of equal length (NaN breaks a
line). SMOOTH > 1 draws a centred moving average of that window over a
faint raw line; LOG-Y uses a logarithmic y axis."
  (%nl-plot-lines file (list title xlabel ylabel)
                  (map (lambda (s) (cons (car s) (cons (cadr s) (caddr s)))) series)
                  (list smooth log-y width height)))

(define* (plot-heatmap file rows #:key (title "") (width 700) (height 600))
  "Write a heatmap PNG of ROWS (a list of equal-length lists of numbers, first
row on top) to FILE with a viridis colour bar."
  (%nl-plot-heatmap file title rows (list width height)))

(define* (plot-bars file groups series rows #:key (title "") (width 800) (height 500))
  "Write a grouped bar chart PNG to FILE (atomically): GROUPS, a list of
labels along x; SERIES, a list of legend labels; ROWS, one list of values
per series with one value per group (#f leaves that bar out). Bars start at
0 and carry their value when there is room."
  (%nl-plot-bars file title groups series rows (list width height)))
