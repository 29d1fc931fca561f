#!/bin/sh
# faults.sh - fault injection (issue 14): every allocation failure and every
# write failure gives a clear error, exit status 1, no leak (under SAN=1's
# LeakSanitizer) and nothing half-written.
#   allocations  nncc (build/tests/nncc-failalloc) and the xor trainer, each
#                linked with tests/fault/failalloc.c, are run once to count
#                their allocations N, then once for every k in 1..N with the
#                k-th and every later allocation failing; k = N+1 must
#                succeed.  nncc: three compilations; the trainer: a run
#                writing --save, --log and --plot, one with --chunks 5 (the
#                chunk tree's buffers), one streamed and read ahead (its
#                buffers), and --predict.
#   threads      every pthread_create failing (NNCC_FAIL_THREAD=1, as under
#                a thread limit): the trainer runs on the one thread it has
#                and reads a stream itself, says so, and saves the same bytes.
#   writes       a file-size limit (ulimit -f: writes fail with EFBIG, as on a
#                full disk), /dev/full and a read-only directory (as user
#                nobody when run as root).
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

# check_failed WHAT PATTERN DIR LOG: the last command exited 1 ($rc), printed
# PATTERN ("out of memory", "cannot write ...") into LOG and no sanitizer
# report, and DIR holds exactly the files listed in $tmp/expect.  (sh has no
# locals: its variables are cf_*.)
check_failed() {
	cf_what=$1 cf_pattern=$2 cf_dir=$3 cf_log=$4
	[ "$rc" -eq 1 ] || { cat "$cf_log" >&2; fail "$cf_what: exit $rc, expected 1"; }
	grep -q "Sanitizer" "$cf_log" && { cat "$cf_log" >&2; fail "$cf_what: sanitizer report"; }
	grep -q -- "$cf_pattern" "$cf_log" ||
		{ cat "$cf_log" >&2; fail "$cf_what: no '$cf_pattern' message"; }
	ls -A "$cf_dir" > "$tmp/left"
	cmp -s "$tmp/left" "$tmp/expect" || {
		diff "$tmp/expect" "$tmp/left" >&2 || true
		fail "$cf_what: the output directory changed"
	}
}

# walk_nncc WHAT ARGS...: $FAILNNCC ARGS, which writes into $tmp/c, once to
# count its allocations n (its outputs kept in $tmp/ref), then with each k in
# 1..n failing: exit 1, "out of memory" and nothing written; or, where the
# program gets by without that allocation (the trainer's thread pool falls
# back to one thread), exit 0 with every output and the same bytes (the log
# and the plot, which hold times, only present).
walk_nncc() {
	what=$1
	shift
	rm -rf "$tmp/c" "$tmp/ref" && mkdir "$tmp/c"
	NNCC_FAIL_ALLOC_COUNT=$tmp/n "$FAILNNCC" "$@" > "$tmp/log" 2>&1 ||
		{ cat "$tmp/log" >&2; fail "$what: $FAILNNCC without a failure"; }
	n=$(cat "$tmp/n")
	[ "$n" -ge 10 ] || fail "$what: only $n allocations: is the wrap linked?"
	mv "$tmp/c" "$tmp/ref" && mkdir "$tmp/c"
	k=1
	while [ "$k" -le "$n" ]; do
		rc=0
		NNCC_FAIL_ALLOC=$k "$FAILNNCC" "$@" > "$tmp/log" 2>&1 || rc=$?
		if [ "$rc" -eq 0 ]; then
			[ "$(ls -A "$tmp/c")" = "$(ls -A "$tmp/ref")" ] ||
				fail "$what, allocation $k of $n: exit 0 without every output"
			for f in "$tmp/ref"/*; do
				case $f in *.svg | *l.csv) continue ;; esac
				cmp -s "$f" "$tmp/c/${f##*/}" ||
					fail "$what, allocation $k of $n: exit 0, ${f##*/} differs"
			done
			rm -rf "$tmp/c" && mkdir "$tmp/c"
		else
			: > "$tmp/expect"
			check_failed "$what, allocation $k of $n" "out of memory" "$tmp/c" "$tmp/log"
		fi
		k=$((k + 1))
	done
	NNCC_FAIL_ALLOC=$((n + 1)) "$FAILNNCC" "$@" > "$tmp/log" 2>&1 ||
		{ cat "$tmp/log" >&2; fail "$what with allocation $((n + 1)) of $n failing"; }
	echo "faults: $what: each of $n allocations failed in turn: exit 1 and nothing written," \
		"or the same outputs"
}

# Weights for the export, from a one-epoch run of the xor trainer.
"$NNCC" examples/xor.yaml -o "$tmp/xor.c"
$CC -O1 $("$NNCC" --cflags) "$tmp/xor.c" $("$NNCC" --libs) -o "$tmp/xor" ||
	fail "cannot build the xor trainer"
"$tmp/xor" --epochs 1 --save "$tmp/xor.weights" > /dev/null 2>&1 || fail "xor trainer"

walk_nncc "nncc xor.yaml" examples/xor.yaml -o "$tmp/c/xor.c"
walk_nncc "nncc mnist-mlp.yaml" examples/mnist-mlp.yaml -o "$tmp/c/mlp.c"
walk_nncc "nncc --infer" examples/xor.yaml --infer --weights "$tmp/xor.weights" -o "$tmp/c/x.c"

# ---- A trainer: every allocation of a short run that writes all its outputs
# (weights, log, plot), then of predict mode.
$CC -O1 $("$NNCC" --cflags) "$tmp/xor.c" tests/fault/failalloc.c $("$NNCC" --libs) \
	-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=pthread_create \
	-o "$tmp/xor-failalloc" ||
	fail "cannot build the xor trainer with failalloc.c"
FAILNNCC=$tmp/xor-failalloc
walk_nncc "trainer" --quiet --epochs 3 --threads 2 --save "$tmp/c/w" --log "$tmp/c/l.csv" \
	--plot "$tmp/c/p.svg"
# Batches in 5 chunks (docs/scaling.md): the chunk tree's buffers too.
walk_nncc "trainer, --chunks 5" --quiet --epochs 3 --threads 1 --batch 3 --chunks 5 \
	--save "$tmp/c/w"
# Streamed in windows (--max-memory 8K) and read ahead on a thread of its
# own (--threads 1 leaves a core free): its buffers' allocations too.
if [ "$(nproc)" -gt 1 ]; then
	"$tmp/xor" --quiet --epochs 3 --threads 1 --no-shuffle --max-memory 8K --json > "$tmp/log" 2>&1 ||
		fail "xor trainer streamed: $(cat "$tmp/log")"
	grep -q '"read_ahead": true' "$tmp/log" || fail "xor trainer at 8K: not read ahead: $(cat "$tmp/log")"
	walk_nncc "trainer, streamed and read ahead" --quiet --epochs 3 --threads 1 --no-shuffle \
		--max-memory 8K --save "$tmp/c/w"
else
	echo "faults: one core: the read-ahead's allocations not walked (it needs a free core)"
fi

# ---- Threads that do not start (NNCC_FAIL_THREAD=1: every pthread_create
# fails with EAGAIN, as under a thread limit).  The pool trains on the one
# thread it has, the read-ahead leaves the read to the training thread and
# says so; the same bytes as the runs that had their threads.
"$tmp/xor-failalloc" --quiet --epochs 3 --threads 2 --save "$tmp/t2.ref" > "$tmp/log" 2>&1 ||
	fail "xor trainer, 2 threads: $(cat "$tmp/log")"
NNCC_FAIL_THREAD=1 "$tmp/xor-failalloc" --quiet --epochs 3 --threads 2 --json --save "$tmp/t2.w" \
	> "$tmp/log" 2>&1 || fail "xor trainer, 2 threads asked, none started: $(cat "$tmp/log")"
grep -q '"threads": 1,' "$tmp/log" || fail "no thread started: not on 1 thread: $(cat "$tmp/log")"
cmp -s "$tmp/t2.ref" "$tmp/t2.w" || fail "no thread started: other weights than 2 threads'"
echo "faults: no thread started (2 asked): exit 0 on 1 thread, the weights of 2"
if [ "$(nproc)" -gt 1 ]; then
	"$tmp/xor-failalloc" --quiet --epochs 3 --threads 1 --no-shuffle --max-memory 8K \
		--save "$tmp/t1.ref" > "$tmp/log" 2>&1 || fail "xor trainer streamed: $(cat "$tmp/log")"
	NNCC_FAIL_THREAD=1 "$tmp/xor-failalloc" --epochs 3 --threads 1 --no-shuffle --max-memory 8K \
		--json --save "$tmp/t1.w" > "$tmp/log" 2>&1 ||
		fail "xor trainer streamed, the read-ahead thread not started: $(cat "$tmp/log")"
	grep -q "memory: the read-ahead thread did not start (.*): the training thread reads" \
		"$tmp/log" || fail "the read-ahead thread not started: not said: $(cat "$tmp/log")"
	grep -q '"read_ahead": false' "$tmp/log" ||
		fail "the read-ahead thread not started: read_ahead not false: $(cat "$tmp/log")"
	cmp -s "$tmp/t1.ref" "$tmp/t1.w" ||
		fail "the read-ahead thread not started: other weights than the run read ahead"
	echo "faults: the read-ahead thread not started: said, exit 0, the weights read ahead"
fi
walk_nncc "trainer --predict" --load "$tmp/xor.weights" \
	--predict examples/xor/test-images-idx3-ubyte --output "$tmp/c/p.csv"

# ---- nncc: writes that fail.  An existing output is kept as it was.
rm -rf "$tmp/c" && mkdir "$tmp/c"
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

# ---- The trainer: writes that fail.  Its earlier outputs stay as they were.
rm -rf "$tmp/c" && mkdir "$tmp/c"
for f in w l.csv p.svg; do echo "keep me" > "$tmp/c/$f"; done
ls -A "$tmp/c" > "$tmp/expect"
rc=0
# (The limit applies to the test's own log too: the report goes to /dev/null.)
(trap '' XFSZ; ulimit -f 1; exec "$tmp/xor" --quiet --epochs 3 --save "$tmp/c/w" \
	--log "$tmp/c/l.csv" --plot "$tmp/c/p.svg") > /dev/null 2> "$tmp/log" || rc=$?
check_failed "trainer, file size limit" "File too large" "$tmp/c" "$tmp/log"
for f in w l.csv p.svg; do
	[ "$(cat "$tmp/c/$f")" = "keep me" ] || fail "trainer, file size limit: $f changed"
done
rc=0
"$tmp/xor" --quiet --epochs 3 --save /dev/full > "$tmp/log" 2>&1 || rc=$?
check_failed "trainer --save /dev/full" "No space left on device" "$tmp/c" "$tmp/log"
[ -c /dev/full ] || fail "trainer --save /dev/full replaced the device"
echo "faults: trainer: a full disk and /dev/full: exit 1, earlier outputs kept"

# ---- A read-only directory.  Root writes into any directory, so as root
# the programs run as user nobody (setpriv), when nobody can run them.
chmod 755 "$tmp"
mkdir "$tmp/ro" && chmod 555 "$tmp/ro"
as=
if [ "$(id -u)" -eq 0 ]; then
	as="setpriv --reuid=65534 --regid=65534 --clear-groups"
	if ! $as "$NNCC" --check examples/xor.yaml > /dev/null 2>&1 ||
		! $as test -r examples/xor/train-images-idx3-ubyte -a -x "$tmp/xor"; then
		echo "faults: read-only directory: not checked (running as root, and user nobody" \
			"cannot run $NNCC or read examples/xor here)"
		as=none
	fi
fi
if [ "$as" != none ]; then
	: > "$tmp/expect"
	rc=0
	$as "$NNCC" examples/xor.yaml -o "$tmp/ro/xor.c" > "$tmp/log" 2>&1 || rc=$?
	check_failed "nncc into a read-only directory" "cannot write '$tmp/ro/xor.c': Permission denied" \
		"$tmp/ro" "$tmp/log"
	rc=0
	$as "$tmp/xor" --quiet --epochs 1 --save "$tmp/ro/w" > /dev/null 2> "$tmp/log" || rc=$?
	check_failed "trainer --save into a read-only directory" \
		"cannot save weights to $tmp/ro/w: cannot create $tmp/ro/w.tmp." "$tmp/ro" "$tmp/log"
	echo "faults: a read-only directory: exit 1, nothing written"
fi
