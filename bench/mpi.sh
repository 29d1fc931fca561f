#!/bin/sh
# bench/mpi.sh [ROUNDS] - data-parallel training on this machine
# (docs/scaling.md#measured): W4 (784-800-10, bench/nets/w4.yaml) for
# ITERATIONS updates (default 300) of BATCH samples (default 64, W4's), as
#   1 thread        one process, one chain over the batch (no chunks)
#   2 threads       the same on two threads
#   chunks C, 1 p   one process, --chunks C (the bits of any rank count <= C)
#   2 ranks, 0      mpirun -np 2, one thread each, --chunks 0: the ranks
#                   share each step (docs/scaling.md#one-step-shared-by-the-ranks;
#                   a batch of one tile: BATCH <= 64 only)
#   2 ranks, C      mpirun -np 2, one thread each, --chunks C
#   2 ranks, 2, sh  the same, --chunks 2 --shard (each rank holds its half of
#                   the data; a batch's samples travel between them)
# and streamed from the file (shuffled, --max-memory STREAM_MEMORY, default
# 24M: MNIST in 16 windows), one thread, then 2 ranks with --chunks 2 each
# reading whole windows (--no-shard) and each reading its half of every
# window (--shard),
# for C = 2 and 12, alternately for ROUNDS rounds (default 2); prints each
# variant's best train_seconds and its speed against one thread.  Run from
# the top after `make MPI=1`; uses CC, DATA (default data/mnist: any IDX
# set of 784-pixel images), OUT (default build/mpi-bench), BATCH,
# ITERATIONS.  Wall-clock times on a shared machine: look at the load.
set -eu

ROUNDS=${1:-2}
CC=${CC:-cc}
OUT=${OUT:-build/mpi-bench}
DATA=${DATA:-data/mnist}
BATCH=${BATCH:-64}
ITERATIONS=${ITERATIONS:-300}
STREAM_MEMORY=${STREAM_MEMORY:-24M}

die() { printf 'bench/mpi.sh: %s\n' "$*" >&2; exit 1; }

[ -x build/nncc ] && [ -f build/libnncc_mpi.a ] || die "build/libnncc_mpi.a missing (make MPI=1)"
[ -f "$DATA/train-images-idx3-ubyte" ] || [ -f "$DATA/train-images-idx3-ubyte.gz" ] ||
	die "$DATA has no IDX training images (make data)"
command -v mpirun >/dev/null 2>&1 || die "no mpirun (apt-get install openmpi-bin)"
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
build/nncc bench/nets/w4.yaml -o "$OUT/w4.c"
# shellcheck disable=SC2046
"$CC" -O2 "$OUT/w4.c" $(build/nncc --cflags) $(build/nncc --libs) -o "$OUT/w4"
# shellcheck disable=SC2046
mpicc -O2 "$OUT/w4.c" $(build/nncc --cflags --mpi) $(build/nncc --libs --mpi) -o "$OUT/w4-mpi"

# seconds VARIANT: one run's train_seconds.
seconds() {
	case $1 in
	t1) set -- "$OUT/w4" --threads 1 ;;
	t2) set -- "$OUT/w4" --threads 2 ;;
	c2 | c12) set -- "$OUT/w4" --threads 1 --chunks "${1#c}" ;;
	r2c0 | r2c2 | r2c12)
		set -- mpirun --oversubscribe --mca mpi_yield_when_idle 1 -np 2 "$OUT/w4-mpi" \
			--threads 1 --chunks "${1#r2c}" --no-shard
		;;
	r2c2s)
		set -- mpirun --oversubscribe --mca mpi_yield_when_idle 1 -np 2 "$OUT/w4-mpi" \
			--threads 1 --chunks 2 --shard
		;;
	z1) set -- "$OUT/w4" --threads 1 --shuffle --max-memory "$STREAM_MEMORY" ;;
	zr2 | zr2s)
		[ "$1" = zr2s ] && sh=--shard || sh=--no-shard
		set -- mpirun --oversubscribe --mca mpi_yield_when_idle 1 -np 2 "$OUT/w4-mpi" \
			--threads 1 --chunks 2 --shuffle --max-memory "$STREAM_MEMORY" "$sh"
		;;
	esac
	"$@" --data "$DATA" --batch "$BATCH" --iterations "$ITERATIONS" --quiet --json |
		sed -n 's/.*"train_seconds": \([0-9.e+-]*\).*/\1/p'
}

# --chunks 0 (the ranks share each step) needs a batch of one tile: W4's 64
share=
[ "$BATCH" -gt 64 ] || share=r2c0
variants="t1 t2 c2 c12 $share r2c2 r2c12 r2c2s z1 zr2 zr2s"
for r in $(seq "$ROUNDS"); do
	for v in $variants; do
		printf '%s %s\n' "$v" "$(seconds "$v")"
	done
	printf 'round %s done, load %s\n' "$r" "$(cut -d' ' -f1-3 /proc/loadavg)" >&2
done >"$OUT/times"

printf 'W4, batch %s, %s updates, best of %s rounds (load at the end: %s)\n' "$BATCH" \
	"$ITERATIONS" "$ROUNDS" "$(cut -d' ' -f1-3 /proc/loadavg)"
awk '
	!($1 in best) || $2 < best[$1] { best[$1] = $2 }
	END {
		split("t1 t2 c2 c12 r2c0 r2c2 r2c12 r2c2s z1 zr2 zr2s", order, " ")
		name["t1"] = "1 process, 1 thread"; name["t2"] = "1 process, 2 threads"
		name["c2"] = "1 process, --chunks 2"; name["c12"] = "1 process, --chunks 12"
		name["r2c0"] = "2 ranks, --chunks 0 (shared)"
		name["r2c2"] = "2 ranks, --chunks 2"; name["r2c12"] = "2 ranks, --chunks 12"
		name["r2c2s"] = "2 ranks, --chunks 2, sharded"
		name["z1"] = "streamed, 1 thread"
		name["zr2"] = "streamed, 2 ranks"
		name["zr2s"] = "streamed, 2 ranks, sharded"
		printf "| %-28s | %10s | %8s |\n", "variant", "train s", "speed"
		printf "|%s|%s|%s|\n", "------------------------------", "------------", "----------"
		for (i = 1; i <= 11; i++)
			if (order[i] in best)
				printf "| %-28s | %10.3f | %7.2fx |\n", name[order[i]], best[order[i]],
					best["t1"] / best[order[i]]
	}' "$OUT/times"
