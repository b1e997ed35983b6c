#!/bin/sh
# check-layering.sh — DESIGN.md §1: dependencies point down only
# (repl -> scheme -> runtime -> kernels). Fails listing each violation.
cd "${abs_top_srcdir:-$(dirname "$0")/..}" || exit 99
bad=0
report() { echo "layering: $1"; bad=1; }

# libguile.h only in scheme/glue and repl
for f in $(grep -rl --include='*.c' --include='*.h' --include='*.cu' 'libguile' runtime kernels tests/ops tests/unit 2>/dev/null); do
  report "$f includes libguile (only scheme/glue and repl may)"
done
# the runtime and kernels never reach up into scheme/ or repl/
for f in $(grep -rlE '#include *"[^"]*(scheme|repl)/' runtime kernels 2>/dev/null); do
  report "$f includes a scheme/ or repl/ header"
done
# kernels see data structures only: no op front-ends, no autograd
for f in $(grep -rlE '#include *"[^"]*(ops\.h|autograd\.h|ops/common\.h)"' kernels 2>/dev/null); do
  report "$f (a kernel) includes an op front-end or autograd header"
done
# scheme/notellm modules never load the extension except through one module
n=$(grep -rl --include='*.scm' 'load-extension' scheme 2>/dev/null | wc -l)
[ "$n" -le 1 ] || report "load-extension appears in $n Scheme files (one module owns it)"

[ $bad -eq 0 ] && echo "layering: ok"
exit $bad
