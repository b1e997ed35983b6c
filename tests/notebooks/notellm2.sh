#!/bin/sh
# notellm2.sh — notebooks/20-notellm2.scm (the main job) in --quick mode: it
# runs, writes report.md with every table row and figure, the figures decode
# as PNG, every recall/saliency number is finite and within [0, 1], every
# variant's validation loss fell, and a second run prints the same numbers;
# with --seeds 2 the seed table holds both seeds and their mean.
. "${abs_top_srcdir:-.}/tests/repl/lib.sh"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
nb="${abs_top_srcdir:-.}/notebooks/20-notellm2.scm"
variants="mm_basic late_fusion_only late_fusion micl notellm2"

nl "$nb" --quick --out "$tmp/r1" > "$tmp/run1" 2> "$tmp/err1"
check "the notebook runs" test $? -eq 0 || tail -20 "$tmp/run1" "$tmp/err1"
rep="$tmp/r1/report.md"
check "the report is written" test -s "$rep"
for v in $variants; do
  check "recall and training rows for $v" test "$(grep -c "^| $v |" "$rep")" -ge 3
done
check "findings are listed" test "$(grep -c '^- \[[x ]\]' "$rep")" -eq 6
# Every figure the report links exists and decodes with the expected size.
figs=$(sed -n 's/^!\[[^]]*\](\([^)]*\))$/\1/p' "$rep")
check "the report links loss, recall and saliency figures" test "$(echo "$figs" | wc -w)" -eq 10
for f in $figs; do
  check_png "$f decodes as an 800x500 PNG" "$tmp/r1/$f" 800 500
done
# Numbers: the recall cells (R@10 / MRR), ablation recall and saliency shares
# lie in [0, 1]; the cosines in [-1, 1].
cells() { sed -n "/^## $1/,/^## /p" "$rep" | grep '^| [a-z]' | grep -v '^| variant' \
          | cut -d'|' -f3- | tr '|/' '\n\n' | tr -d ' ' | grep -v '^$'; }
in_range() { awk -v lo="$1" -v n="$2" '{ k++; if (!($1 ~ /^-?[0-9.]+$/) || $1 < lo || $1 > 1) bad = 1 }
                                       END { exit bad || k != n }'; }
check "recall cells are numbers in [0, 1]" in_range 0 50 <<EOF2
$(cells Recall)
EOF2
check "ablation recall cells are numbers in [0, 1]" in_range 0 30 <<EOF2
$(cells "Modality ablation: R")
EOF2
check "cosines are numbers in [-1, 1]" in_range -1 15 <<EOF2
$(cells "Modality ablation: mean")
EOF2
check "saliency shares are numbers in [0, 1]" in_range 0 $((4 * 3 * 2)) <<EOF2
$(cells Saliency)
EOF2
awk -F'|' '/^## Training/ { t = 1 } /^## Recall/ { t = 0 }
  t && $2 ~ /[a-z]/ && $2 !~ /variant/ { if (!($4 + 0 < $3 + 0)) { print "     val loss did not fall:", $0; bad = 1 } }
  END { exit bad }' "$rep"
check "every variant's validation loss fell" test $? -eq 0

nl "$nb" --quick --out "$tmp/r2" > "$tmp/run2" 2> "$tmp/err2"
grep -v "^report:" "$tmp/run1" | sed -E 's/[0-9]+ s([;)])/s\1/g' > "$tmp/n1"
grep -v "^report:" "$tmp/run2" | sed -E 's/[0-9]+ s([;)])/s\1/g' > "$tmp/n2"
cmp -s "$tmp/n1" "$tmp/n2" || diff "$tmp/n1" "$tmp/n2" | head -20
check "two runs print the same numbers" cmp -s "$tmp/n1" "$tmp/n2"

# Two model seeds: a per-seed column each, their mean (cells rounded to 3
# decimals, so within 0.001), findings counted per seed.
nl "$nb" --quick --seeds 2 --out "$tmp/r3" > "$tmp/run3" 2> "$tmp/err3"
check "the notebook runs with --seeds 2" test $? -eq 0 || tail -20 "$tmp/run3" "$tmp/err3"
rep3="$tmp/r3/report.md"
check "the seed table has seeds 11 and 12 and their mean" grep -q '^| variant | seed 11 | seed 12 | mean |' "$rep3"
awk -F'|' '/^## Seeds/ { t = 1; next } /^## / { t = 0 }
  t && $2 ~ /[a-z]/ && $2 !~ /variant/ { n++; d = ($3 + $4) / 2 - $5; if (d > 0.0011 || d < -0.0011) { print "     mean is not the mean:", $0; bad = 1 } }
  END { exit bad || n != 5 }' "$rep3"
check "each variant's mean is the mean of its two seeds" test $? -eq 0
check "findings count the seeds" test "$(grep -c 'holds in [0-2] of 2 seeds' "$rep3")" -eq 6
finish
