#!/bin/sh
# bench/rowsplit.sh [ROUNDS] - the prototype of docs/scaling.md's proposal
# for small batches (bench/rowsplit.c): W4's step (784-800-10, a tile of
# 64) by one process, as the generated step() runs it, by 2 processes
# sharing the parameters and the layers' buffers, splitting the tile's rows
# and then W's row tiles as the thread pool does, and by step() on its
# thread pool (all cores); STEPS updates (default
# 600), in turns for ROUNDS rounds (default 3).  Prints each run's ms a step
# and the parameters' hash (the same for all: the bits of one process),
# then the best of each and the ratios.  Not part of `make bench`: a
# design's measurement.  Run from the top after `make`; uses CC, OUT
# (default build/rowsplit), STEPS.  Linux, x86-64 or any CPU -march=native
# names.
set -eu

ROUNDS=${1:-3}
CC=${CC:-cc}
OUT=${OUT:-build/rowsplit}
STEPS=${STEPS:-600}

die() { printf 'bench/rowsplit.sh: %s\n' "$*" >&2; exit 1; }

[ -x build/nncc ] || die "build/nncc missing (make)"
mkdir -p "$OUT"
build/nncc bench/nets/w4.yaml -o "$OUT/w4.c"
# The buffers the processes share, page-aligned, with a page of slack
# after each so that the shared pages hold nothing else.
sed -e 's/^static real params\[N_PARAMS\];/static real params[N_PARAMS + 1024] __attribute__((aligned(4096)));/' \
	-e 's/^static real \([agd][0-9]*\)\[MAX_BATCH\]\[\(L[0-9]*_OUT\)\];/static real \1[MAX_BATCH + 4096 \/ sizeof(real) \/ \2 + 1][\2] __attribute__((aligned(4096)));/' \
	"$OUT/w4.c" >"$OUT/w4-shared.c"
[ "$(grep -c 'aligned(4096)' "$OUT/w4-shared.c")" = 8 ] ||
	die "the generated buffers' declarations changed: $OUT/w4-shared.c"
# shellcheck disable=SC2046
"$CC" -O2 -march=native -DROWSPLIT_NET="\"$PWD/$OUT/w4-shared.c\"" $(build/nncc --cflags) \
	bench/rowsplit.c -o "$OUT/rowsplit" -lm -lpthread
: >"$OUT/runs"
for _ in $(seq "$ROUNDS"); do
	taskset -c 0 "$OUT/rowsplit" 0 "$STEPS" | tee -a "$OUT/runs"
	"$OUT/rowsplit" 2 "$STEPS" | tee -a "$OUT/runs"
	"$OUT/rowsplit" t "$STEPS" | tee -a "$OUT/runs"
done
[ "$(awk '{print $NF}' "$OUT/runs" | sort -u | wc -l)" = 1 ] ||
	die "the parameters differ between the runs"
awk '$2 ~ /^process/ { if ($1 == 1 && (!a || $3 < a)) a = $3; if ($1 == 2 && (!b || $3 < b)) b = $3 }
	$2 == "threads:" && (!t || $3 < t) { t = $3; n = $1 }
	END { printf "best, ms a step: 1 process %.3f; 2 processes %.3f (%.2fx); %d threads %.3f (%.2fx)\n",
		a, b, a / b, n, t, a / t }' \
	"$OUT/runs"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
