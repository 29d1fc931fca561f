#!/bin/sh
# run.sh [matrix|quick] - builds the kernel benchmarks into build/bench-kernels and
# runs (1) the bit-identity matrix: parameter hashes after fixed training runs
# must agree across gcc/clang, -O2/-O3, AVX-512/fallback, -ffp-contract
# off/fast, 1/2 threads, per dtype (the full matrix, 32 builds, with
# `matrix`; gcc/clang x AVX-512/fallback at -O2 otherwise); exits non-zero on
# any mismatch; (2) unless `quick`: the FMA peak, the per-kernel table and the
# step table (1 and 2 threads).
# Output: stdout (redirect to keep it).  CC list: CCS="gcc clang".
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-build/bench-kernels}
mkdir -p "$out"
CCS=${CCS:-"gcc clang"}
BASE="-std=c99 -Wall -Wextra -pedantic -Werror -march=native"
fail=0

build() { # name cc flags...
	name=$1; cc=$2; shift 2
	$cc $BASE "$@" -o "$out/$name" "$here/bench_kernels.c" -lm -lpthread
}

echo "# bit-identity matrix"
for dt in f32 f64; do
	dflag=""; [ $dt = f64 ] && dflag="-DNNCC_REAL_F64"
	ref=""
	for cc in $CCS; do
		command -v $cc >/dev/null 2>&1 || continue
		opts=-O2; fpcs=-ffp-contract=off
		[ "${1:-}" = matrix ] && { opts="-O2 -O3"; fpcs="-ffp-contract=off -ffp-contract=fast"; }
		for opt in $opts; do
			for simd in "" -DNNCC_NO_SIMD; do
				for fpc in $fpcs; do
					build hash_$dt $cc $opt $simd $fpc $dflag
					for th in 1 2; do
						h=$("$out/hash_$dt" hash $th | awk '{print $3 "=" $4}' | tr '\n' ' ')
						[ -n "$ref" ] || ref=$h
						st=same
						[ "$h" = "$ref" ] || { st=DIFFERENT; fail=1; }
						echo "$dt $cc $opt ${simd:-simd} $fpc threads=$th: $h $st"
					done
				done
			done
		done
	done
done
[ "${1:-}" = quick ] || [ "${1:-}" = matrix ] && exit $fail

cc1=$(echo $CCS | cut -d' ' -f1)
$cc1 -O2 -march=native -o "$out/fma_peak" "$here/fma_peak.c"
"$out/fma_peak"
for dt in f32 f64; do
	dflag=""; [ $dt = f64 ] && dflag="-DNNCC_REAL_F64"
	build bk_$dt $cc1 -O2 -ffp-contract=off $dflag
	"$out/bk_$dt" kern
	"$out/bk_$dt" step 1
	"$out/bk_$dt" step 2
done
exit $fail
