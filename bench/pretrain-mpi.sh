#!/bin/sh
# bench/pretrain-mpi.sh [ROUNDS] - pre-training split among ranks on this
# machine (docs/scaling.md#measured): examples/mnist-pretrain.yaml
# (784-256-128-10, two tied denoising autoencoders) with its pre-training
# batch_size set to BATCH (default 20, the example's), one pass over
# SAMPLES MNIST images (default 10000), as
#   1 thread        one process, the one-chain step (--chunks 0)
#   2 threads       the same on two threads
#   2 ranks, C      mpirun -np 2, one thread each, --chunks C, C = 2 and 12
# alternately for ROUNDS rounds (default 3); prints each variant's best
# pre-training seconds (the layers' `seconds` in the JSON) and its speed
# against one thread.  Run from the top after `make MPI=1`; uses CC, DATA
# (default data/mnist), OUT (default build/pretrain-bench), BATCH, SAMPLES.
# Wall-clock times on a shared machine: look at the load.
set -eu

ROUNDS=${1:-3}
CC=${CC:-cc}
OUT=${OUT:-build/pretrain-bench}
DATA=${DATA:-data/mnist}
BATCH=${BATCH:-20}
SAMPLES=${SAMPLES:-10000}

die() { printf 'bench/pretrain-mpi.sh: %s\n' "$*" >&2; exit 1; }

[ -x build/nncc ] && [ -f build/libnncc_mpi.a ] || die "build/libnncc_mpi.a missing (make MPI=1)"
[ -f "$DATA/train-images-idx3-ubyte" ] || [ -f "$DATA/train-images-idx3-ubyte.gz" ] ||
	die "$DATA has no IDX training images (make data)"
command -v mpirun >/dev/null 2>&1 || die "no mpirun (apt-get install openmpi-bin)"
command -v python3 >/dev/null 2>&1 || die "no python3 (it reads the JSON)"
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
sed "s/batch_size: 20/batch_size: $BATCH/" examples/mnist-pretrain.yaml >"$OUT/pre.yaml"
build/nncc "$OUT/pre.yaml" -o "$OUT/pre.c"
# shellcheck disable=SC2046
"$CC" -O2 "$OUT/pre.c" $(build/nncc --cflags) $(build/nncc --libs) -o "$OUT/pre"
# shellcheck disable=SC2046
mpicc -O2 "$OUT/pre.c" $(build/nncc --cflags --mpi) $(build/nncc --libs --mpi) -o "$OUT/pre-mpi"

# seconds VARIANT: one run's pre-training seconds (both layers).
seconds() {
	case $1 in
	t1 | t2) set -- "$OUT/pre" --threads "${1#t}" --chunks 0 ;;
	r2c2 | r2c12)
		set -- mpirun --oversubscribe --mca mpi_yield_when_idle 1 -np 2 "$OUT/pre-mpi" \
			--threads 1 --chunks "${1#r2c}"
		;;
	esac
	"$@" --data "$DATA" --train-limit "$SAMPLES" --pretrain-epochs 1 --iterations 1 --quiet \
		--json 2>/dev/null | python3 -c 'import json, sys
d = json.load(sys.stdin)
print("%.3f" % sum(l["seconds"] for l in d["pretrain"]["layers"]))'
}

variants="t1 t2 r2c2 r2c12"
b=0 best_t1=0   # (set through eval below)
for v in $variants; do eval "best_$v=999999"; done
r=0
while [ "$r" -lt "$ROUNDS" ]; do
	for v in $variants; do
		s=$(seconds "$v") || die "variant $v failed"
		eval "b=\$best_$v"
		eval "best_$v=$(awk -v a="$s" -v b="$b" 'BEGIN { print (a < b) ? a : b }')"
	done
	r=$((r + 1))
done

printf 'pre-training %s samples, batch %s, best of %s (load %s)\n\n' "$SAMPLES" "$BATCH" \
	"$ROUNDS" "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
printf '| variant                  |  pretrain s |    speed |\n'
printf '|--------------------------|-------------|----------|\n'
for v in $variants; do
	case $v in
	t1) name="1 process, 1 thread" ;;
	t2) name="1 process, 2 threads" ;;
	r2c2) name="2 ranks, --chunks 2" ;;
	r2c12) name="2 ranks, --chunks 12" ;;
	esac
	eval "s=\$best_$v"
	printf '| %-24s | %11s | %7sx |\n' "$name" "$s" \
		"$(awk -v a="$best_t1" -v b="$s" 'BEGIN { printf "%.2f", a / b }')"
done
