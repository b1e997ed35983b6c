#!/bin/sh
# notellm.sh — notebooks/10-notellm.scm in --quick mode: it runs, writes
# report.md with a row per variant in every table, its recall figure decodes,
# recall and generation scores are numbers in [0, 1], and every trained
# variant's validation loss fell.
. "${abs_top_srcdir:-.}/tests/repl/lib.sh"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
nb="${abs_top_srcdir:-.}/notebooks/10-notellm.scm"

nl "$nb" --quick --out "$tmp/r" > "$tmp/out" 2>&1
check "the notebook runs" test $? -eq 0 || tail -20 "$tmp/out"
rep="$tmp/r/report.md"
check "the report is written" test -s "$rep"
for v in zero-shot text_only "w/o GCL" notellm "notellm α=1"; do
  check "training and recall rows for $v" test "$(grep -c "^| $v |" "$rep")" -ge 3
done
check "generation rows for the four models with an LM head trained or not" \
  test "$(sed -n '/^## Generation/,$p' "$rep" | grep -c '^| \(zero-shot\|w/o GCL\|notellm\)')" -eq 4
check_png "recall.png decodes as an 800x500 PNG" "$tmp/r/recall.png" 800 500
# Recall cells and generation scores (all columns after the note count) in [0, 1].
sed -n '/^## Recall/,/^## Generation/p' "$rep" | grep '^| [a-z]' | grep -v '^| variant' | cut -d'|' -f3- \
  | tr '|' '\n' | tr -d ' ' | grep -v '^$' > "$tmp/cells"
sed -n '/^## Generation/,/^Examples/p' "$rep" | grep '^| [a-z]' | grep -v '^| variant' | cut -d'|' -f4- \
  | tr '|' '\n' | tr -d ' ' | grep -v '^$' >> "$tmp/cells"
check "recall and generation cells are numbers in [0, 1]" \
  awk '{ n++; if (!($1 ~ /^[0-9.]+$/) || $1 < 0 || $1 > 1) bad = 1 } END { exit bad || n != 5 * 4 + 5 * 5 + 4 * 6 }' "$tmp/cells"
awk -F'|' '/^## Training/ { t = 1 } /^## Recall/ { t = 0 }
  t && $2 ~ /[a-z]/ && $2 !~ /variant|zero-shot/ { if (!($4 + 0 < $3 + 0)) { print "     val loss did not fall:", $0; bad = 1 } }
  END { exit bad }' "$rep"
check "every trained variant's validation loss fell" test $? -eq 0
finish
