#!/bin/sh
# bench/rowsplit.sh [ROUNDS] - the prototype of docs/scaling.md's proposal
# for small batches (bench/rowsplit.c): the step of W4 (784-800-10, a tile
# of 64), of W4 with Adam and of W4 with dropout, by one process as the
# generated step() runs it, by 2 processes sharing the parameters, the
# optimizer's state and the layers' buffers, splitting the tile's rows and
# then W's row tiles as the thread pool does, and by step() on its thread
# pool (all cores); STEPS updates (default 600), in turns for ROUNDS rounds
# (default 3).  Prints each run's ms a step and the parameters' hash (the
# same for all of a network: the bits of one process), then the best of
# each and the ratios.  Not part of `make bench`: a design's measurement.
# Run from the top after `make`; uses CC, OUT (default build/rowsplit),
# STEPS, NETS (default "w4 w4_adam w4_dropout", from bench/nets).  Linux.
set -eu

ROUNDS=${1:-3}
CC=${CC:-cc}
OUT=${OUT:-build/rowsplit}
STEPS=${STEPS:-600}
NETS=${NETS:-w4 w4_adam w4_dropout}

die() { printf 'bench/rowsplit.sh: %s\n' "$*" >&2; exit 1; }

[ -x build/nncc ] || die "build/nncc missing (make)"
mkdir -p "$OUT"
for net in $NETS; do
	build/nncc "bench/nets/$net.yaml" -o "$OUT/$net.c"
	# The buffers the processes share (all the static reals but the
	# gradient and the per-thread scratch), page-aligned, with a page of
	# slack after each so that the shared pages hold nothing else; their
	# sizes without the slack, for SHARE().
	sed -e 's/^static real params\[N_PARAMS\];/static real params[N_PARAMS + 1024] __attribute__((aligned(4096)));/' \
		-e 's/^static real state\[OPT_STATE \* N_PARAMS\];/static real state[OPT_STATE * N_PARAMS + 1024] __attribute__((aligned(4096)));/' \
		-e 's/^static real \([agd][0-9]*\)\[MAX_BATCH\]\[\(L[0-9]*_OUT\)\];/static real \1[MAX_BATCH + 4096 \/ sizeof(real) \/ \2 + 1][\2] __attribute__((aligned(4096)));/' \
		"$OUT/$net.c" >"$OUT/$net-shared.c"
	sed -n -e 's/^static real params\[.*/SHARE(params, sizeof(real) * N_PARAMS)/p' \
		-e 's/^static real state\[.*/SHARE(state, sizeof(real) * OPT_STATE * N_PARAMS)/p' \
		-e 's/^static real \([agd][0-9]*\)\[MAX_BATCH\]\[\(L[0-9]*_OUT\)\];.*/SHARE(\1, sizeof(real) * MAX_BATCH * \2)/p' \
		"$OUT/$net.c" >"$OUT/$net-share.h"
	[ "$(grep -c 'aligned(4096)' "$OUT/$net-shared.c")" = "$(wc -l <"$OUT/$net-share.h")" ] &&
		[ "$(wc -l <"$OUT/$net-share.h")" -ge 3 ] ||
		die "$net: the generated buffers' declarations changed: $OUT/$net-shared.c"
	mask=0
	! grep -q '^static void mask_key(' "$OUT/$net.c" || mask=1
	# shellcheck disable=SC2046
	"$CC" -O2 -march=native -DROWSPLIT_NET="\"$PWD/$OUT/$net-shared.c\"" \
		-DROWSPLIT_SHARE="\"$PWD/$OUT/$net-share.h\"" -DROWSPLIT_MASK=$mask \
		$(build/nncc --cflags) bench/rowsplit.c -o "$OUT/$net" -lm -lpthread
done
for net in $NETS; do
	: >"$OUT/$net.runs"
	for _ in $(seq "$ROUNDS"); do
		taskset -c 0 "$OUT/$net" 0 "$STEPS" >>"$OUT/$net.runs"
		"$OUT/$net" 2 "$STEPS" >>"$OUT/$net.runs"
		"$OUT/$net" t "$STEPS" >>"$OUT/$net.runs"
	done
	sed "s/^/$net: /" "$OUT/$net.runs"
	[ "$(awk '{print $NF}' "$OUT/$net.runs" | sort -u | wc -l)" = 1 ] ||
		die "$net: the parameters differ between the runs"
	awk -v net="$net" '$2 ~ /^process/ { if ($1 == 1 && (!a || $3 < a)) a = $3; if ($1 == 2 && (!b || $3 < b)) b = $3 }
		$2 == "threads:" && (!t || $3 < t) { t = $3; n = $1 }
		END { printf "%s, best ms a step: 1 process %.3f; 2 processes %.3f (%.2fx); %d threads %.3f (%.2fx)\n",
			net, a, b, a / b, n, t, a / t }' "$OUT/$net.runs"
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
