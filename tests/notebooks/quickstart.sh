#!/bin/sh
# quickstart.sh — notebooks/00-quickstart.scm in --quick mode: it runs, the
# MLP's loss falls below 0.005 from above 0.5, it writes its report, and a
# second run with the same seed prints exactly the same numbers.
. "${abs_top_srcdir:-.}/tests/repl/lib.sh"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
nb="${abs_top_srcdir:-.}/notebooks/00-quickstart.scm"

nl "$nb" --quick --out "$tmp/r1" > "$tmp/run1" 2>&1
check "the notebook runs" test $? -eq 0
nl "$nb" --quick --out "$tmp/r2" > "$tmp/run2" 2>&1
line=$(grep '^final loss' "$tmp/run1")
first=$(echo "$line" | sed 's/.*(first \([0-9.]*\)).*/\1/')
final=$(echo "$line" | sed 's/.*steps: \([0-9.]*\) .*/\1/')
echo "     $line"
check "the loss starts above 0.5" awk -v v="$first" 'BEGIN { exit !(v > 0.5) }'
check "the loss ends below 0.005" awk -v v="$final" 'BEGIN { exit !(v < 0.005) }'
check "the report is written" grep -q "Final loss" "$tmp/r1/report.md"
grep -v "^report:" "$tmp/run1" > "$tmp/n1"; grep -v "^report:" "$tmp/run2" > "$tmp/n2"
check "two runs print the same numbers" cmp -s "$tmp/n1" "$tmp/n2"
finish
