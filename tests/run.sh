#!/bin/sh
# run.sh SUITE... - runs each Check suite binary and then the end-to-end
# scripts in tests/e2e/; prints one closing line "N passed, N failed,
# N skipped" and exits non-zero if anything failed.  An e2e script that exits
# 77 was skipped (e.g. no data/mnist): it counts as neither pass nor fail.
# Check's own summary lines are kept.
set -u
pass=0
fail=0
skip=0
failed=""
for t in "$@"; do
	echo "== $t"
	if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="$failed $t"; fi
done
for t in tests/e2e/*.sh; do
	[ -f "$t" ] || continue
	echo "== $t"
	sh "$t"
	rc=$?
	case $rc in
	0) pass=$((pass + 1)) ;;
	77) skip=$((skip + 1)) ;;
	*) fail=$((fail + 1)); failed="$failed $t" ;;
	esac
done
[ -z "$failed" ] || echo "failed:$failed"
echo "suites: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
