#!/bin/sh
# cli.sh — the notellm executable without a terminal: -c, scripts and their
# exit status and error line, piped input, options, UTF-8 under LC_ALL=C.
. "${abs_top_srcdir:-.}/tests/repl/lib.sh"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

expect_out "-c prints results" "3" nl -c '(+ 1 2)'
expect_out "(help NAME) shows the docstring" "Softmax of X" nl -c "(help tensor-softmax)"
expect_out "-c with tensors" "#<tensor f32[2] cpu>" nl -c '(ones (list 2))'
expect_status "-c exits 3 on (exit 3)" 3 nl -c '(exit 3)'
expect_status "--version" 0 nl --version
expect_out "--version text" "notellm" nl --version
expect_out "--help mentions --threads" "--threads" nl --help
expect_status "unknown option" 2 nl --bogus
expect_err "unknown option message" "unknown option '--bogus'" nl --bogus
expect_status "--threads needs a number" 2 nl --threads many
expect_out "--device sets the constructors' default" "cpu" nl --device cpu -c "(tensor-device (zeros 2))"
expect_err "--device cuda:0 without CUDA: tensors raise a device error" "notellm-device-error" nl --device cuda:0 -c "(zeros 2)"
expect_out "--threads 1 applies" "1" nl --threads 1 -c '(threads)'
expect_out "--seed makes rand reproducible" "$(nl --seed 7 -c '(tensor->list (rand (list 3)))')" nl --seed 7 -c '(tensor->list (rand (list 3)))'

printf '(display (cdr (command-line)))\n(newline)\n' > "$tmp/ok.scm"
expect_out "script sees its arguments" "(a b)" nl "$tmp/ok.scm" a b
expect_status "script succeeds" 0 nl "$tmp/ok.scm"
printf '(display "before")\n(newline)\n(tensor-matmul (zeros (list 2 3)) (zeros (list 4 5)))\n(display "after")\n' > "$tmp/bad.scm"
expect_status "failing script exits 1" 1 nl "$tmp/bad.scm"
expect_err "failing script: key: who: message" "notellm-shape-error: tensor-matmul: matmul: inner dims differ: a is [2 3], b is [4 5]" nl "$tmp/bad.scm"
expect_status "missing script exits 1" 1 nl "$tmp/does-not-exist.scm"

printf '(define x 5)\n(car 1)\n(+ x\n 1)\n' > "$tmp/in.scm"
expect_out "piped input continues after an error" "6" nl_stdin "$tmp/in.scm"
expect_err "piped input reports the error" "wrong-type-arg: car: Wrong type (expecting pair): 1" nl_stdin "$tmp/in.scm"
printf ',help\n' > "$tmp/meta.scm"
expect_out "meta-command ,help" ",time EXPR" nl_stdin "$tmp/meta.scm"
printf ',mem\n' > "$tmp/mem.scm"
expect_out "meta-command ,mem" "host tensors:" nl_stdin "$tmp/mem.scm"
printf ',time (+ 1 2)\n' > "$tmp/time.scm"
expect_out "meta-command ,time" "s wall" nl_stdin "$tmp/time.scm"

expect_out "--help lists the commands" "gen-notes DIR" nl --help
expect_status "gen-notes writes a benchmark that loads without problems" 0 nl gen-notes "$tmp/gn" --items 12 --image-size 32
expect_out "gen-notes reports what it wrote" "train notes" nl gen-notes "$tmp/gn2" --items 12 --image-size 32 --seed 3
expect_status "gen-notes refuses a non-empty directory" 1 nl gen-notes "$tmp/gn" --items 12
expect_status "gen-notes: a bad number is a usage error" 2 nl gen-notes "$tmp/gn3" --items many
expect_status "train: a missing configuration exits 1" 1 nl train "$tmp/none.json"
expect_err "train: names the missing file" "cannot open $tmp/none.json" nl train "$tmp/none.json"
expect_status "train without arguments is a usage error" 2 nl train
expect_status "eval: a missing checkpoint exits 1" 1 nl eval "$tmp/no-checkpoint"
expect_status "eval: three directories are a usage error" 2 nl eval "$tmp/a" "$tmp/b" "$tmp/c"
expect_out "eval --help lists --json and --plot" "--plot FILE" nl eval --help

out=$(LC_ALL=C LANG= nl -c '(display "λ→x")')
check "UTF-8 output under LC_ALL=C" test "$out" = "λ→x"
finish
