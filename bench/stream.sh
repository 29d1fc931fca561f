#!/bin/sh
# bench/stream.sh [ROUNDS] - a streamed training set against the same one in
# memory (docs/scaling.md#larger-than-memory): W3 (784-50-10, batch 20,
# bench/nets/w3.yaml) for ITERATIONS updates (default 30000, the recipe's
# 10 epochs) on one thread, from IDX files in the page cache, as
#   in memory      the default budget: the sets converted once
#   streamed       --max-memory BUDGET (default 24M: several windows of the
#                  60000 samples, each read per pass and converted per tile)
# in file order and shuffled, in turns for ROUNDS rounds (default 3); prints
# each variant's best train_seconds and streamed / in memory (issue 15's
# goal: within 10 %).  Run from the top after `make`; uses CC, DATA
# (default data/mnist), OUT (default build/stream-bench), BUDGET, ITERATIONS.
# Wall-clock times on a shared machine: look at the load.
set -eu

ROUNDS=${1:-3}
CC=${CC:-cc}
OUT=${OUT:-build/stream-bench}
DATA=${DATA:-data/mnist}
BUDGET=${BUDGET:-24M}
ITERATIONS=${ITERATIONS:-30000}

die() { printf 'bench/stream.sh: %s\n' "$*" >&2; exit 1; }

[ -x build/nncc ] || die "build/nncc missing (make)"
[ -f "$DATA/train-images-idx3-ubyte" ] || die "$DATA has no raw IDX training images (make data)"
mkdir -p "$OUT"
build/nncc bench/nets/w3.yaml -o "$OUT/w3.c"
# shellcheck disable=SC2046
"$CC" -O2 "$OUT/w3.c" $(build/nncc --cflags) $(build/nncc --libs) -o "$OUT/w3"
cat "$DATA"/*-ubyte >/dev/null   # into the page cache

# seconds ORDER [ARGS...]: one run's train_seconds (and its windows on fd 3).
seconds() {
	order=$1
	shift
	"$OUT/w3" --data "$DATA" --threads 1 --iterations "$ITERATIONS" "--$order" --json --quiet \
		"$@" >"$OUT/out" || die "w3 $order $*: failed"
	sed -n 's/.*"train_seconds": \([^,]*\),.*/\1/p' "$OUT/out"
}

: >"$OUT/times"
for round in $(seq "$ROUNDS"); do
	for order in no-shuffle shuffle; do
		printf '%s memory %s\n' "$order" "$(seconds "$order")" >>"$OUT/times"
		printf '%s streamed %s\n' "$order" "$(seconds "$order" --max-memory "$BUDGET")" >>"$OUT/times"
	done
done
windows=$(sed -n 's/.*"windows": \([0-9]*\).*/\1/p' "$OUT/out")
printf 'W3, %s updates of 20, 1 thread, best of %s rounds; streamed: --max-memory %s, %s windows\n' \
	"$ITERATIONS" "$ROUNDS" "$BUDGET" "$windows"
printf '%-12s %12s %12s %8s\n' order "in memory s" "streamed s" ratio
for order in no-shuffle shuffle; do
	awk -v o="$order" '$1 == o && (!($2 in b) || $3 < b[$2]) { b[$2] = $3 }
		END { printf "%-12s %12.3f %12.3f %8.2f\n", o, b["memory"], b["streamed"],
		      b["streamed"] / b["memory"] }' "$OUT/times"
done
printf 'load: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
