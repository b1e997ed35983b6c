#!/bin/sh
# tty.sh — the interactive prompt through a real terminal (tmux): tab
# completion, multi-line input, an error then a correct expression, Ctrl-C in
# a Scheme loop, in a C kernel loop and at the prompt with every binding
# intact, Ctrl-C during train! then inspecting the run, and history
# persisted across two sessions.
. "${abs_top_srcdir:-.}/tests/repl/lib.sh"
command -v tmux >/dev/null || { echo "tmux not installed: skipped"; exit 77; }
tmp=$(mktemp -d) || exit 99
sock="nltest$$-1"
T() { tmux -L "$sock" "$@"; }
trap 'T kill-server 2>/dev/null; rm -rf "$tmp"' EXIT

screen() { T capture-pane -p -t s -S -200 2>/dev/null; }
# wait_for TEXT [SECONDS]: poll the screen until TEXT appears (default 30 s:
# generous for a loaded 2-core machine, costless when it passes).
wait_for() {
  i=0
  while [ $i -lt $(( ${2:-30} * 10 )) ]; do
    screen | grep -qF -- "$1" && return 0
    sleep 0.1
    i=$((i + 1))
  done
  echo "     timed out waiting for: $1"; screen | tail -15 | sed 's/^/     | /'
  return 1
}
start() {
  # a plain shell first, then the command typed into it (tmux starting the
  # program directly is fragile: a fast exit takes the server down)
  T new-session -d -s s -x 150 -y 50 -c "$tmp" "sh"
  T send-keys -t s "NOTELLM_HISTORY=$tmp/history $bld/pre-inst-env notellm; echo EXITED-\$?" Enter
  check "the prompt appears" wait_for "notellm>" 20
}
send() { T send-keys -t s "$@"; }

start
send '(define keep 42)' Enter
send '(tensor-matm' Tab
check "tab completes tensor-matm to tensor-matmul" wait_for "(tensor-matmul"
send ' (ones (list 2 3)) (ones (list 3 2)))' Enter
check "the completed call runs" wait_for "[[3. 3.]"
send '(car 1)' Enter
check "an error prints key: who: message" wait_for "wrong-type-arg: car: Wrong type (expecting pair): 1"
send '(+ keep' Enter
check "open parentheses continue the input" wait_for "...>"
send '1)' Enter
check "then the whole form is evaluated" wait_for "43"
send '(let loop () (loop))' Enter
sleep 1
send C-c
check "Ctrl-C stops a Scheme loop" wait_for "notellm-interrupted: interrupted by the user"
send '(+ keep 100)' Enter
check "bindings survive the interrupt" wait_for "142"
send '(define a (rand (list 32 256 256)))' Enter
send '(let loop ((i 0)) (tensor-matmul a a) (loop (+ i 1)))' Enter
sleep 1.5
send C-c
send '(tensor-shape a)' Enter
check "Ctrl-C stops a loop of C kernels; the tensor is intact" wait_for "(32 256 256)"
send '(half typed'
wait_for "(half typed" >/dev/null  # typed before the Ctrl-C, even on a loaded machine
send C-c
sleep 0.3
send '(* keep 2)' Enter
check "Ctrl-C at the prompt discards the line" wait_for "84"
cat > "$tmp/run.scm" <<EOF
(set-threads! 1)
(generate-notes "$tmp/data" #:items 20 #:seed 2 #:image-size 32)
(train-tokenizer (list "$tmp/data/notes_train.csv") "$tmp/tok.json" #:vocab-size 400)
(define run (make-run '((method . "notellm2") (data_dir . "$tmp/data") (tokenizer . "$tmp/tok.json")
  (out_dir . "$tmp/run") (lang . "en") (max_steps . 100000) (pairs_per_batch . 2) (max_note_tokens . 96)
  (llm . ((hidden_size . 32) (intermediate_size . 32) (num_layers . 1) (num_heads . 2) (num_kv_heads . 1) (head_dim . 16)))
  (vision . ((hidden_size . 16) (intermediate_size . 16) (num_layers . 1) (num_heads . 2) (image_size . 32) (patch_size . 16)))
  (qformer . ((hidden_size . 16) (intermediate_size . 16) (num_layers . 1) (num_heads . 2) (num_query_tokens . 2))))))
(display "RUN-READY")
EOF
send "(load \"$tmp/run.scm\")" Enter
check "a training run is built" wait_for "RUN-READY" 60
send '(train! run)' Enter
wait_for "step " 60 >/dev/null
sleep 1
send C-c
check "Ctrl-C stops train! at a step boundary" wait_for "(resume! run) continues"
send '(tensor-shape (assoc-ref (run-parameters run) "head.tau"))' Enter
check "the interrupted run can be inspected" wait_for "(1)"
send '(> (assq-ref (run-info run) (quote steps-done)) 0)' Enter
check "steps done before the interrupt are kept" wait_for "#t"
send C-d
check "Ctrl-D leaves with status 0" wait_for "EXITED-0"
T kill-server
sock="nltest$$-2" # a fresh server: reusing a socket right after kill-server races

start
send Up
check "history from the first session is recalled" wait_for "(> (assq-ref (run-info run)"
send C-u ',quit' Enter
check ",quit leaves" wait_for "EXITED-0"
check "history file holds the session" grep -qF '(define keep 42)' "$tmp/history"
finish
