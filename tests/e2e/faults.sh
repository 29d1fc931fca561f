#!/bin/sh
# faults.sh - fault injection (issue 14): every allocation failure and every
# write failure gives a clear error, exit status 1, no leak (under SAN=1's
# LeakSanitizer) and nothing half-written.
#   allocations  nncc (build/tests/nncc-failalloc) and a trainer, each linked
#                with tests/fault/failalloc.c, are run once to count their
#                allocations N, then once for every k in 1..N with the k-th
#                and every later allocation failing; k = N+1 must succeed.
#   writes       a file-size limit (ulimit -f: writes fail with EFBIG, as on a
#                full disk) and /dev/full.
# Run from the top directory (tests/run.sh); uses $NNCC and $CC.
set -eu
NNCC=${NNCC:-build/nncc}
CC=${CC:-cc}
B=$(dirname "$NNCC")
FAILNNCC=$B/tests/nncc-failalloc
[ -x "$FAILNNCC" ] || { echo "faults: FAIL: $FAILNNCC not built (make test builds it)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nncc-e2e-faults.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
top=$(pwd)
# A sanitizer's own report must not pass for nncc's exit status 1.
export ASAN_OPTIONS="exitcode=99${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:exitcode=98${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

fail() {
	echo "faults: FAIL: $*" >&2
	exit 1
}

# expect_failure WHAT DIR LOG: the last command exited 1 ($rc), said
# "out of memory" or "cannot ..." ($2 = pattern) in LOG, no sanitizer report,
# and DIR holds exactly the files listed in $tmp/expect.
check_failed() {
	what=$1 pattern=$2 dir=$3 log=$4
	[ "$rc" -eq 1 ] || { cat "$log" >&2; fail "$what: exit $rc, expected 1"; }
	grep -q "Sanitizer" "$log" && { cat "$log" >&2; fail "$what: sanitizer report"; }
	grep -q -- "$pattern" "$log" || { cat "$log" >&2; fail "$what: no '$pattern' message"; }
	ls -A "$dir" > "$tmp/left"
	cmp -s "$tmp/left" "$tmp/expect" || {
		diff "$tmp/expect" "$tmp/left" >&2 || true
		fail "$what: the output directory changed"
	}
}

# ---- nncc: every allocation of compiling examples/xor.yaml.
mkdir "$tmp/c"
: > "$tmp/expect"
NNCC_FAIL_ALLOC_COUNT=$tmp/n "$FAILNNCC" examples/xor.yaml -o "$tmp/c/xor.c" ||
	fail "nncc-failalloc without a failure"
n=$(cat "$tmp/n")
[ "$n" -ge 10 ] || fail "nncc made only $n allocations: is the wrap linked?"
rm "$tmp/c/xor.c"
k=1
while [ "$k" -le "$n" ]; do
	rc=0
	NNCC_FAIL_ALLOC=$k "$FAILNNCC" examples/xor.yaml -o "$tmp/c/xor.c" > "$tmp/log" 2>&1 || rc=$?
	check_failed "nncc, allocation $k of $n" "out of memory" "$tmp/c" "$tmp/log"
	k=$((k + 1))
done
NNCC_FAIL_ALLOC=$((n + 1)) "$FAILNNCC" examples/xor.yaml -o "$tmp/c/xor.c" ||
	fail "nncc with allocation $((n + 1)) of $n failing"
echo "faults: nncc: each of $n allocations failed in turn: exit 1, nothing written"

# ---- nncc: writes that fail.  An existing output is kept as it was.
echo "keep me" > "$tmp/c/xor.c"
echo xor.c > "$tmp/expect"
rc=0
(trap '' XFSZ; ulimit -f 1; exec "$NNCC" examples/xor.yaml -o "$tmp/c/xor.c") > "$tmp/log" 2>&1 || rc=$?
check_failed "nncc, file size limit" "cannot write '$tmp/c/xor.c': File too large" "$tmp/c" "$tmp/log"
[ "$(cat "$tmp/c/xor.c")" = "keep me" ] || fail "nncc, file size limit: xor.c changed"
rc=0
"$NNCC" examples/xor.yaml -o /dev/full > "$tmp/log" 2>&1 || rc=$?
check_failed "nncc -o /dev/full" "cannot write '/dev/full': No space left on device" "$tmp/c" "$tmp/log"
[ -c /dev/full ] || fail "nncc -o /dev/full replaced the device"
echo "faults: nncc: a full disk and /dev/full: exit 1, nothing written"
