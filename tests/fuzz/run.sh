#!/bin/sh
# tests/fuzz/run.sh - what `make fuzz` runs (docs/testing.md#fuzzing), from
# the top directory: for each harness given (build-fuzz/fuzz_NAME), first
# replay its inputs (tests/fuzz/corpus/NAME/ and its seeds) once each, then,
# if FUZZ_SECONDS > 0, fuzz it for that long with tests/fuzz/NAME.dict when
# there is one.  New inputs go to build-fuzz/corpus/NAME/ (not the tree), a
# crashing one to build-fuzz/crashes/; any crash, leak, timeout or
# out-of-memory fails the run (exit 1).  Logs: build-fuzz/logs/NAME*.log.
#
# The harnesses run NNCC_TEST_JOBS at a time (default: the number of CPUs;
# libFuzzer's own runs are single-threaded), each one's lines printed
# together when it ends.
#
# The seeds of the YAML harness are the tree's own networks: examples/,
# tests/valid/ and tests/errors/ (copied, so a new file there is a seed
# without further work).  The others' are in their corpus (`make fuzz-seeds`).
set -eu

secs=${FUZZ_SECONDS:-0}
case $secs in *[!0-9]*) echo "run.sh: FUZZ_SECONDS must be a number of seconds" >&2; exit 2;; esac
out=build-fuzz

if [ "${1-}" != "--one" ]; then
	mkdir -p "$out/logs" "$out/crashes"
	jobs=${NNCC_TEST_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}
	case $jobs in '' | *[!0-9]* | 0) jobs=1 ;; esac
	# xargs exits non-zero when any harness did (its lines say which).
	printf '%s\n' "$@" | xargs -P "$jobs" -n 1 sh "$0" --one || exit 1
	exit 0
fi

# run.sh --one HARNESS: one harness, its lines to stdout at the end.
bin=$2
name=${bin##*/fuzz_}
res=$out/logs/$name.out
: > "$res"
status=0
fuzz_one() {
	seeds=$out/seeds/$name
	rm -rf "$seeds"
	mkdir -p "$seeds" "$out/corpus/$name"
	# Seeds that are files of the tree, one line per harness that has them
	# (a CSV reader's harness would add: csv) cp tests/.../*.csv "$seeds/" ;;).
	case $name in
	yaml) cp examples/*.yaml tests/valid/*.yaml tests/errors/*.yaml "$seeds/" ;;
	esac
	dirs=$seeds
	[ -d "tests/fuzz/corpus/$name" ] && dirs="tests/fuzz/corpus/$name $dirs"

	# Replay: every committed input once (-runs=0 runs the corpus and stops).
	log=$out/logs/$name-replay.log
	# shellcheck disable=SC2086
	if ! "$bin" -runs=0 -close_fd_mask=3 -timeout=25 -artifact_prefix="$out/crashes/$name-" \
		$dirs > "$log" 2>&1; then
		tail -n 40 "$log"
		echo "FAIL fuzz_$name: an input of $dirs fails (log: $log)" >&2
		return 1
	fi
	stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 |
		sed 's/^#\([0-9]*\).*cov: \([0-9]*\) ft: \([0-9]*\).*/\1 runs, cov \2, ft \3/')
	echo "  REPLAY  fuzz_$name: $stats"
	[ "$secs" -gt 0 ] || return 0

	dict=
	[ -f "tests/fuzz/$name.dict" ] && dict=-dict=tests/fuzz/$name.dict
	log=$out/logs/$name.log
	# shellcheck disable=SC2086
	if ! "$bin" $dict -max_total_time="$secs" -print_final_stats=1 -close_fd_mask=3 \
		-timeout=25 -artifact_prefix="$out/crashes/$name-" "$out/corpus/$name" $dirs \
		> "$log" 2>&1; then
		tail -n 60 "$log"
		echo "FAIL fuzz_$name: crash (input: $(ls -t "$out/crashes/$name-"* 2>/dev/null | head -n 1);" \
			"fix it and keep the input in tests/fuzz/corpus/$name/; log: $log)" >&2
		return 1
	fi
	stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 |
		sed 's/^#\([0-9]*\).*cov: \([0-9]*\) ft: \([0-9]*\) corp: \([^ ]*\).*/\1 runs, cov \2, ft \3, corpus \4/')
	echo "  FUZZ    fuzz_$name: ${secs}s, $stats"
}
# The lines go out in one piece, under a lock where flock(1) exists.
fuzz_one > "$res" 2>&1 || status=1
if command -v flock >/dev/null 2>&1; then
	flock "$out/logs" cat "$res"
else
	cat "$res"
fi
exit $status
