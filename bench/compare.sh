#!/bin/sh
# bench/compare.sh REV [ROUNDS] - the benchmark workloads of this tree against
# another revision, side by side in one run: builds REV (a git worktree under
# $OUT/baseline), generates and builds bench/nets/w1, w3 and w4 with each
# tree's own nncc, runtime and bench.c, then runs the two builds of each
# workload alternately for ROUNDS rounds (default 3) and prints, per timing,
# the best time of each and the ratio this/REV (< 1: this tree is faster).
# Also compares the exported inference of W3 (nncc --infer, one image at a
# time).  For a redesign that must not change speed (docs/bench.md).  Run
# from the top of the repository after `make`; uses CC, DATA (default
# data/mnist) and OUT (default build/compare).  Times are wall clock on a
# shared machine: only the ratio within one run means anything.
set -eu

REV=${1:?usage: bench/compare.sh REV [ROUNDS]}
ROUNDS=${2:-3}
CC=${CC:-cc}
OUT=${OUT:-build/compare}
DATA=${DATA:-data/mnist}
OPT="-O2 -march=native"
top=$(pwd)

say() { printf '%s\n' "$*" >&2; }
die() { say "bench/compare.sh: $*"; exit 1; }

[ -x build/nncc ] || die "build/nncc missing (run make)"
[ -f "$DATA/train-images-idx3-ubyte" ] || [ -f "$DATA/train-images-idx3-ubyte.gz" ] ||
	die "$DATA has no MNIST (make data)"
mkdir -p "$OUT"
base=$OUT/baseline
if [ ! -d "$base" ]; then
	git worktree add --detach "$base" "$REV" >/dev/null 2>&1 || die "cannot check out $REV"
fi
git -C "$base" checkout -q --detach "$REV" || die "cannot check out $REV in $base"
say "compare: building $REV in $base"
make -C "$base" -j2 all >/dev/null 2>&1 || die "$REV does not build"

# build TREE TAG: the three bench binaries and the exported W3 inference of
# one tree into $OUT/TAG.
build() {
	tree=$1 tag=$2 dir=$OUT/$2
	mkdir -p "$dir"
	nncc=$tree/build/nncc
	flags="$OPT $($nncc --cflags)"
	libs=$($nncc --libs)
	for w in w1 w3 w4; do
		"$nncc" "$tree/bench/nets/$w.yaml" -o "$dir/$w.c"
		"$CC" $flags -DNNCC_NO_MAIN -c "$dir/$w.c" -o "$dir/$w.o"
		"$CC" $flags -DBENCH_MODEL=bench_${w}_model -o "$dir/bench_$w" \
			"$tree/bench/bench.c" "$dir/$w.o" $libs
	done
	# The W3 weights to export: one full run of this tree's own trainer.
	"$dir/bench_w3" w3 "$top/$DATA" --threads 1 --budget 1 --min-reps 1 \
		--save "$dir/w3.weights" --pred "$dir/w3.pred" > /dev/null
	"$nncc" "$tree/bench/nets/w3.yaml" --infer --weights "$dir/w3.weights" \
		-o "$dir/bench_w3_infer.c"
	"$CC" $flags -c "$dir/bench_w3_infer.c" -o "$dir/bench_w3_infer.o"
	"$CC" $flags -I"$dir" -DNET=bench_w3 -DNET_UPPER=BENCH_W3 \
		-DNET_HEADER='"bench_w3_infer.h"' -o "$dir/infer_bench" \
		"$tree/bench/infer_bench.c" "$dir/bench_w3_infer.o" $libs
}
say "compare: building the workloads (this tree, then $REV)"
build "$top" new
build "$top/$base" old

rec=$OUT/records.tsv
: > "$rec"
# run TAG: one round of every workload of one build, tagged.
run() {
	dir=$OUT/$1
	{
		"$dir/bench_w1" w1 "$top/$DATA" --threads 1 --budget 3 --min-reps 2
		"$dir/bench_w3" w3 "$top/$DATA" --threads 1 --budget 6 --min-reps 1
		"$dir/bench_w4" w4 "$top/$DATA" --threads 1,2 --budget 6 --min-reps 1
		"$dir/infer_bench" "$top/$DATA" "$dir/w3.weights" "$dir/w3.pred"
	} 2>/dev/null | awk -v tag="$1" -F '\t' '$1 == "R" {print tag "\t" $0}' >> "$rec"
}
r=1
while [ "$r" -le "$ROUNDS" ]; do
	say "compare: round $r of $ROUNDS"
	if [ $((r % 2)) -eq 1 ]; then run new; run old; else run old; run new; fi
	r=$((r + 1))
done

# Best time per (build, work, threads) over the rounds, then the ratios
# (plain awk: Debian's is mawk).
printf '| work | threads | this tree (s) | %s (s) | this / %s |\n|---|---:|---:|---:|---:|\n' \
	"$REV" "$REV"
awk -F '\t' '
	function field(s,   a) { split(s, a, "="); return a[2] }
	{
		key = field($3) " " field($4) "\t" field($5); t = field($7) + 0
		if (!((key, $1) in best) || t < best[key, $1]) best[key, $1] = t
		keys[key] = 1
	}
	END {
		for (k in keys)
			if ((k, "new") in best && (k, "old") in best) {
				split(k, p, "\t")
				printf "| %s | %s | %.4g | %.4g | %.3f |\n", p[1], p[2], best[k, "new"],
				       best[k, "old"], best[k, "new"] / best[k, "old"]
			}
	}' "$rec" | sort
