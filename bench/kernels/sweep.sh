#!/bin/sh
# sweep.sh - the tile sweeps behind README.md section 2 (one line per build).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-build/bench-kernels}
mkdir -p "$out"
kt() { # kernel in out batch mr nb
	${CC:-gcc} -std=c99 -O2 -march=native -ffp-contract=off -DKK=$1 -DKIN=$2 -DKOUT=$3 \
		-DKB=$4 -DKMR=$5 -DKNB=$6 -o "$out/tile_sweep" "$here/tile_sweep.c" -lm
	"$out/tile_sweep"
}
for t in "5 4" "4 4" "10 2" "8 2"; do kt 0 784 50 20 $t; done
for t in "4 4" "5 4" "6 4" "8 2" "12 2"; do kt 1 784 50 20 $t; done
for t in "8 3" "6 4" "4 6" "12 2"; do kt 0 784 800 64 $t; kt 1 784 800 64 $t; done
for t in "8 1" "16 1" "28 1"; do kt 0 784 10 256 $t; kt 1 784 10 256 $t; done
for t in "8 1" "16 1"; do kt 0 800 10 64 $t; kt 1 800 10 64 $t; done
for t in "8 3" "6 4" "8 2"; do kt 2 800 10 64 $t; done
