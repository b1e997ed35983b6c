# lib.sh — helpers for the REPL tests (sourced): run the uninstalled binary,
# compare output, count checks, exit with the automake status.
bld=${abs_top_builddir:-.}
pass=0
fail=0
nl() { "$bld/pre-inst-env" notellm "$@"; }
nl_stdin() { f=$1; shift; "$bld/pre-inst-env" notellm "$@" < "$f"; }
check() {
  name=$1; shift
  if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi
}
expect_out() {
  name=$1 want=$2; shift 2
  got=$("$@" 2>/dev/null)
  case $got in *"$want"*) check "$name" true ;; *) echo "     want: $want"; echo "     got:  $got"; check "$name" false ;; esac
}
expect_err() {
  name=$1 want=$2; shift 2
  got=$("$@" 2>&1 >/dev/null)
  case $got in *"$want"*) check "$name" true ;; *) echo "     want: $want"; echo "     got:  $got"; check "$name" false ;; esac
}
expect_status() {
  name=$1 want=$2; shift 2
  "$@" >/dev/null 2>&1
  st=$?
  [ "$st" = "$want" ] || echo "     status $st, want $want"
  check "$name" test "$st" = "$want"
}
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
# png_size FILE: "WIDTH HEIGHT" from the PNG's IHDR chunk.
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{ print $1*16777216 + $2*65536 + $3*256 + $4, $5*16777216 + $6*65536 + $7*256 + $8 }'; }
# check_png NAME FILE [W H]: FILE decodes with notellm's image reader and,
# when given, is W x H pixels.
check_png() {
  name=$1 file=$2
  if nl -c "(use-modules (notellm)) (load-image \"$file\")" >/dev/null 2>&1 &&
     { [ $# -lt 4 ] || [ "$(png_size "$file")" = "$3 $4" ]; }; then
    check "$name" true
  else
    echo "     $file: size $(png_size "$file" 2>/dev/null), want ${3:-any} ${4:-}"; check "$name" false
  fi
}
