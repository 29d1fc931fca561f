#!/bin/sh
# bench/stream.sh [ROUNDS] - a streamed training set against the same one in
# memory (docs/scaling.md#larger-than-memory): W3 (784-50-10, batch 20,
# bench/nets/w3.yaml) for ITERATIONS updates (default 30000, the recipe's
# 10 epochs) on one thread, from IDX files in the page cache, as
#   in memory      the default budget: the sets converted once
#   streamed       --max-memory BUDGET (default 24M: several windows of the
#                  60000 samples, each read per pass and converted per tile)
#   serial         file order streamed with NNCC_READ_AHEAD=0: the read on
#                  the training thread (by default a thread of its own reads
#                  the next piece, as the run leaves the second core free)
# in file order and shuffled, in turns for ROUNDS rounds (default 3); prints
# each variant's best train_seconds and streamed / in memory (issue 15's
# goal: within 10 %); then the same for a CSV set (below).  Run from the
# top after `make`; uses CC, DATA (default data/mnist), OUT (default
# build/stream-bench), BUDGET, ITERATIONS, CSV_ROWS, CSV_ITER, CSV_BUDGET.
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
	printf 'no-shuffle serial %s\n' \
		"$(NNCC_READ_AHEAD=0 seconds no-shuffle --max-memory "$BUDGET")" >>"$OUT/times"
done
windows=$(sed -n 's/.*"windows": \([0-9]*\).*/\1/p' "$OUT/out")
printf 'W3, %s updates of 20, 1 thread, best of %s rounds; streamed: --max-memory %s, %s windows\n' \
	"$ITERATIONS" "$ROUNDS" "$BUDGET" "$windows"
printf '%-12s %12s %12s %8s\n' order "in memory s" "streamed s" ratio
for order in no-shuffle shuffle; do
	awk -v o="$order" '$1 == o && (!($2 in b) || $3 < b[$2]) { b[$2] = $3 }
		END { printf "%-12s %12.3f %12.3f %8.2f\n", o, b["memory"], b["streamed"],
		      b["streamed"] / b["memory"]
		      if ("serial" in b)
			      printf "%-12s %12s %12.3f %8.2f  (read on the training thread)\n", o,
			             "", b["serial"], b["serial"] / b["memory"] }' "$OUT/times"
done

# CSV: a tabular set parsed per window instead of once.  CSV_ROWS rows
# (default 200000) of 16 features and a class of 3, generated here (12 MB
# of text, in the page cache), 16-64 relu-3 softmax, batch 32, CSV_ITER
# updates (default 20000: 3.2 passes), in memory against --max-memory
# CSV_BUDGET (default 4M), raw and gzip'd.
CSV_ROWS=${CSV_ROWS:-200000}
CSV_ITER=${CSV_ITER:-20000}
CSV_BUDGET=${CSV_BUDGET:-4M}
mkdir -p "$OUT/csv" "$OUT/csvgz"
awk -v n="$CSV_ROWS" 'BEGIN {
	s = 7
	printf "f1"; for (j = 2; j <= 16; j++) printf ",f%d", j; print ",label"
	for (i = 0; i < n; i++) {
		c = i % 3
		for (j = 1; j <= 16; j++) {
			s = (s * 1103515245 + 12345) % 2147483648
			printf "%.6g,", (j % 4 + 1) * (c * 0.7 + s / 2147483648.0)
		}
		printf "%d\n", c
	}
}' >"$OUT/csv/train.csv"
head -n 20001 "$OUT/csv/train.csv" >"$OUT/csv/test.csv"
gzip -c "$OUT/csv/train.csv" >"$OUT/csvgz/train.csv.gz"
cp "$OUT/csv/test.csv" "$OUT/csvgz/test.csv"
cat >"$OUT/tab.yaml" <<'YAML'
network: bench_tab
input: 16
layers:
  - {type: dense, units: 64, activation: relu}
  - {type: dense, units: 3, activation: linear}
  - {type: softmax}
loss: cross_entropy
training: {learning_rate: 0.05, batch_size: 32, iterations: 1000, seed: 1}
data: {format: csv, train: train.csv, test: test.csv, header: true, label: label,
       normalize: standardize_features}
YAML
build/nncc "$OUT/tab.yaml" -o "$OUT/tab.c"
# shellcheck disable=SC2046
"$CC" -O2 "$OUT/tab.c" $(build/nncc --cflags) $(build/nncc --libs) -o "$OUT/tab"
# tab DIR ORDER [ARGS...]: train_seconds, and the whole run's wall time.
tab() {
	dir=$1 order=$2
	shift 2
	t0=$(date +%s.%N)
	"$OUT/tab" --data "$dir" --threads 1 --iterations "$CSV_ITER" "--$order" --json --quiet \
		"$@" >"$OUT/out" || die "tab $dir $order $*: failed"
	t1=$(date +%s.%N)
	printf '%s %s' "$(sed -n 's/.*"train_seconds": \([^,]*\),.*/\1/p' "$OUT/out")" \
		"$(echo "$t0 $t1" | awk '{ print $2 - $1 }')"
}
: >"$OUT/ctimes"
for round in $(seq "$ROUNDS"); do
	for src in csv csvgz; do
		for order in no-shuffle shuffle; do
			printf '%s %s memory %s\n' "$src" "$order" "$(tab "$OUT/$src" "$order")" >>"$OUT/ctimes"
			printf '%s %s streamed %s\n' "$src" "$order" \
				"$(tab "$OUT/$src" "$order" --max-memory "$CSV_BUDGET")" >>"$OUT/ctimes"
		done
	done
done
windows=$(sed -n 's/.*"windows": \([0-9]*\).*/\1/p' "$OUT/out")
printf '\nCSV %s rows x 16, 16-64-3, %s updates of 32, 1 thread, best of %s; streamed: --max-memory %s, %s windows\n' \
	"$CSV_ROWS" "$CSV_ITER" "$ROUNDS" "$CSV_BUDGET" "$windows"
printf '%-6s %-12s %10s %10s %6s %12s %12s\n' file order "memory s" "stream s" ratio \
	"memory run s" "stream run s"
for src in csv csvgz; do
	for order in no-shuffle shuffle; do
		awk -v f="$src" -v o="$order" '$1 == f && $2 == o {
			if (!($3 in b) || $4 < b[$3]) b[$3] = $4
			if (!($3 in w) || $5 < w[$3]) w[$3] = $5 }
			END { printf "%-6s %-12s %10.3f %10.3f %6.2f %12.2f %12.2f\n", f, o, b["memory"],
			      b["streamed"], b["streamed"] / b["memory"], w["memory"], w["streamed"] }' \
			"$OUT/ctimes"
	done
done
printf 'load: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
