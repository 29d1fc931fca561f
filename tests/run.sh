#!/bin/sh
# run.sh SUITE... - runs each Check suite binary and then the end-to-end
# scripts in tests/e2e/; prints one closing line "N passed, N failed" and
# exits non-zero if anything failed.  Check's own summary lines are kept.
set -u
pass=0
fail=0
failed=""
for t in "$@"; do
	echo "== $t"
	if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="$failed $t"; fi
done
for t in tests/e2e/*.sh; do
	[ -f "$t" ] || continue
	echo "== $t"
	if sh "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="$failed $t"; fi
done
[ -z "$failed" ] || echo "failed:$failed"
echo "suites: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
