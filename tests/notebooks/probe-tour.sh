#!/bin/sh
# probe-tour.sh — notebooks/30-probe-tour.scm in --quick mode: it runs, prints
# the per-layer attention table with shares summing to 1, writes its report
# and the probe report, and every figure they link decodes as a PNG.
. "${abs_top_srcdir:-.}/tests/repl/lib.sh"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
nb="${abs_top_srcdir:-.}/notebooks/30-probe-tour.scm"

nl "$nb" --quick --out "$tmp/r" > "$tmp/out" 2>&1
check "the notebook runs" test $? -eq 0 || tail -20 "$tmp/out"
check "the report is written" test -s "$tmp/r/report.md"
check "the probe report is written" test -s "$tmp/r/report/report.md"
# The attention table: one row per layer, image + text + sink = 1.
awk '/^layer  image/ { t = 1; next } t && /^ *[0-9]+ / { n++; s = $2 + $3 + $4; if (s < 0.998 || s > 1.002) bad = 1 }
     t && !/^ *[0-9]+ / { t = 0 } END { exit bad || n != 2 }' "$tmp/out"
check "two layer rows whose image, text and sink shares sum to 1" test $? -eq 0
for rep in "$tmp/r/report.md" "$tmp/r/report/report.md"; do
  dir=$(dirname "$rep")
  for f in $(sed -n 's/^!\[[^]]*\](\([^)]*\))$/\1/p' "$rep"); do
    check_png "$(basename "$dir")/$f decodes as a PNG" "$dir/$f"
  done
done
check "the tour links five figures" test "$(grep -c '^!\[' "$tmp/r/report.md")" -eq 5
finish
