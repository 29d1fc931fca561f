#!/bin/sh
# run.sh SUITE... - runs each Check suite binary and the end-to-end scripts
# in tests/e2e/, NNCC_TEST_JOBS at a time (default: the number of CPUs);
# prints each one's output whole when it ends, with its wall time and CPU
# time (its own and its children's), then the failed ones' last 20 lines
# again, and one closing line "N passed, N failed, N skipped" (after
# "failed: ..." when any did); exits non-zero if anything
# failed.  An e2e script that exits 77 was skipped (e.g. no data/mnist): it
# counts as neither pass nor fail.  Check's own summary lines are kept.
#
# The suites are independent (each works in its own mkdtemp directory), so
# they run side by side; the longest are started first (the order below) so
# that the two cores stay busy to the end.  Check's per-test timeouts are
# doubled when suites share the CPUs (CK_TIMEOUT_MULTIPLIER, unless set):
# they catch hangs, not slowness.
set -u

if [ "${1-}" = "--one" ]; then
	# run.sh --one DIR INDEX PROGRAM: one suite or script, output to
	# DIR/INDEX.log, status to DIR/INDEX.rc, then the log to stdout under
	# a lock so that two suites' logs never interleave.
	dir=$2 i=$3 t=$4
	start=$(date +%s)
	case $t in
	*.sh) sh "$t" >"$dir/$i.log" 2>&1 ;;
	*) "$t" >"$dir/$i.log" 2>&1 ;;
	esac
	rc=$?
	secs=$(($(date +%s) - start))
	# CPU seconds of the suite and everything it ran (the compilers, the
	# trainers): `times`' second line, the children's user and system.
	times >"$dir/$i.times"
	cpu=$(awk 'NR == 2 { sub(/s$/, "", $1); sub(/s$/, "", $2); split($1, u, "m");
		split($2, s, "m"); printf "%d", u[1] * 60 + u[2] + s[1] * 60 + s[2] + 0.5 }' "$dir/$i.times")
	echo "$rc" >"$dir/$i.rc"
	case $rc in
	0) what=passed ;;
	77) case $t in *.sh) what=skipped ;; *) what="failed (exit 77)" ;; esac ;;
	*) what="failed (exit $rc)" ;;
	esac
	{
		echo "== $t: $what, ${secs} s (CPU ${cpu} s)"
		cat "$dir/$i.log"
	} >"$dir/$i.out"
	if command -v flock >/dev/null 2>&1; then
		flock "$dir/lock" cat "$dir/$i.out"
	else
		cat "$dir/$i.out"
	fi
	exit 0
fi

jobs=${NNCC_TEST_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}
case $jobs in '' | *[!0-9]* | 0) jobs=1 ;; esac
[ "$jobs" -gt 1 ] && : "${CK_TIMEOUT_MULTIPLIER:=2}" && export CK_TIMEOUT_MULTIPLIER

dir=$(mktemp -d "${TMPDIR:-/tmp}/nncc-run.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
: >"$dir/lock"

# The suites given, then the e2e scripts.
all="$*"
for t in tests/e2e/*.sh; do
	[ -f "$t" ] && all="$all $t"
done
# The longest first, so that no long one starts near the end (measured in
# make test and make SAN=1 test-unit, 2026-12-05; the rest keep their order).
long="check_reference check_werror check_emit check_golden check_infer check_resume stream.sh
	cross.sh mpi.sh check_isa csvstream.sh check_train_export check_kernels check_quant faults.sh
	check_gradcheck mnist.sh check_pretrain install.sh regression.sh"
list=
for l in $long; do
	for t in $all; do
		case $t in */"$l") list="$list $t" ;; esac
	done
done
for t in $all; do
	case " $list " in *" $t "*) ;; *) list="$list $t" ;; esac
done

echo "running $(echo $list | wc -w) suites, $jobs at a time"
start=$(date +%s)
i=0
for t in $list; do
	i=$((i + 1))
	printf '%s %s\n' "$i" "$t"
done | xargs -P "$jobs" -n 2 sh "$0" --one "$dir"

pass=0
fail=0
skip=0
failed=""
i=0
for t in $list; do
	i=$((i + 1))
	rc=$(cat "$dir/$i.rc" 2>/dev/null || echo lost)
	case $rc:$t in
	0:*) pass=$((pass + 1)) ;;
	77:*.sh) skip=$((skip + 1)) ;;
	*) fail=$((fail + 1)); failed="$failed $t" ;;
	esac
done
# The failed ones' last lines again, so that the end of the output (all a
# CI log may keep) says why, not only which.
i=0
for t in $list; do
	i=$((i + 1))
	case " $failed " in
	*" $t "*)
		echo "== again, the end of $t's output:"
		tail -n 20 "$dir/$i.log" 2>/dev/null | cut -c1-400
		;;
	esac
done
[ -z "$failed" ] || echo "failed:$failed"
echo "suites: $pass passed, $fail failed, $skip skipped ($(($(date +%s) - start)) s)"
[ "$fail" -eq 0 ]
