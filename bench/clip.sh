#!/bin/sh
# bench/clip.sh [ROUNDS] - what gradient clipping costs on W3 (784-50-10,
# batch 20, 30000 updates: bench/nets/w3.yaml), through the generated
# trainer's driver: the same trainer run without clipping (the fused
# step()), with --clip-norm 1e9 (the gradient-then-update path and the norm,
# never clipping: the same bits) and with --clip-norm 0.1 (scaling about 96%
# of the updates), alternately for ROUNDS rounds (default 3), on one thread and on
# all cores.  Prints each variant's best train_seconds and its ratio to no
# clipping.  Run from the top of the repository after `make`; uses CC, DATA
# (default data/mnist) and OUT (default build/clip).  Wall-clock times on a
# shared machine: only the ratios within one run mean anything.
set -eu

ROUNDS=${1:-3}
CC=${CC:-cc}
OUT=${OUT:-build/clip}
DATA=${DATA:-data/mnist}

die() { printf 'bench/clip.sh: %s\n' "$*" >&2; exit 1; }

[ -x build/nncc ] || die "build/nncc missing (run make)"
[ -f "$DATA/train-images-idx3-ubyte" ] || [ -f "$DATA/train-images-idx3-ubyte.gz" ] ||
	die "$DATA has no MNIST (make data)"
mkdir -p "$OUT"
build/nncc bench/nets/w3.yaml -o "$OUT/w3.c"
# shellcheck disable=SC2046
"$CC" -O2 -march=native "$OUT/w3.c" $(build/nncc --cflags) -o "$OUT/w3" $(build/nncc --libs)

# seconds VARIANT THREADS: one run's train_seconds.
seconds() {
	case $1 in
	off) clip= ;;
	never) clip="--clip-norm 1e9" ;;
	on) clip="--clip-norm 0.1" ;;
	esac
	# shellcheck disable=SC2086
	"$OUT/w3" --data "$DATA" --quiet --json --threads "$2" $clip |
		sed -n 's/.*"train_seconds": \([0-9.e+-]*\).*/\1/p'
}

printf 'W3 (bench/nets/w3.yaml), best of %s rounds, %s\n' "$ROUNDS" "$(date -u +%Y-%m-%d)"
printf '%-8s %-34s %10s %8s\n' threads variant seconds ratio
for threads in 1 0; do
	best_off= best_never= best_on=
	r=0
	while [ "$r" -lt "$ROUNDS" ]; do
		for v in off never on; do
			s=$(seconds "$v" "$threads")
			eval "b=\${best_$v}"
			# shellcheck disable=SC2154
			if [ -z "$b" ] || awk -v s="$s" -v b="$b" 'BEGIN { exit !(s < b) }'; then
				eval "best_$v=$s"
			fi
		done
		r=$((r + 1))
	done
	for v in off never on; do
		case $v in
		off) what="no clipping (fused step)" ;;
		never) what="--clip-norm 1e9 (never clips)" ;;
		on) what="--clip-norm 0.1 (clips)" ;;
		esac
		eval "b=\${best_$v}"
		printf '%-8s %-34s %10.3f %8.2f\n' "$([ "$threads" = 0 ] && echo all || echo 1)" \
			"$what" "$b" "$(awk -v b="$b" -v o="$best_off" 'BEGIN { print b / o }')"
	done
done
