#!/bin/sh
# bench/run.sh - the benchmark of issue 6, run by `make bench` from the top of
# the repository after build/nncc and build/libnncc.a are built.  In one
# invocation it measures the FMA peak, generates and builds the trainers of
# bench/nets/*.yaml with the current emitter, builds the naive baseline
# (bench/naive.c) with the same flags, times W1, W3, W4 and inference at 1 and
# 2 threads, and W3 and W4 with other optimizers (issue 10: w3_momentum,
# w3_adam, w4_adam, against SGD in the same run), W4 with dropout (issue 11,
# against W4 in the same run) and the MNIST MLP recipe (issue 11: one epoch
# at 1 and 2 threads, against the same recipe in PyTorch; it adds about a
# minute of nncc epochs and one to two of PyTorch's to the run), exports
# the W3 network with
# `nncc --infer` and times it, times W3 (with its inference) and W4 built
# without -march under each instruction set against the -march=native build
# (issue 12: NNCC_ISA; the table's last section, from bench/isa.awk), runs
# bench/torch_bench.py when python3-torch is importable, W4 on 2 MPI ranks
# against one process (batch 1024, and 64 where the ranks can share each
# step) and pre-training on 2 ranks (issue 15: bench/mpi.sh,
# bench/pretrain-mpi.sh, when built with MPI=1), then
# prints the table and writes it to docs/bench.md (atomically).  Every number in the table is measured in this run; peers
# quoted from issue 6 are labelled as such.
# Environment: CC (default cc), NNCC (default build/nncc), DATA (default
# data/mnist, else a synthetic set of the same shape), OUT (build/bench),
# DOC (docs/bench.md), PYTHON (/usr/bin/python3).
set -eu

CC=${CC:-cc}
NNCC=${NNCC:-build/nncc}
OUT=${OUT:-build/bench}
DOC=${DOC:-docs/bench.md}
PYTHON=${PYTHON:-/usr/bin/python3}
OPT="-O2 -march=native"
here=bench
start=$(date +%s)

say() { printf '%s\n' "$*" >&2; }
die() { say "bench/run.sh: $*"; exit 1; }

[ -x "$NNCC" ] || die "$NNCC not found (run: make bench)"
[ -f "$here/bench.c" ] || die "run from the top of the repository"
mkdir -p "$OUT"
rec=$OUT/records.tsv
: > "$rec"
NNCC_CFLAGS=$($NNCC --cflags)
NNCC_LIBS=$($NNCC --libs)
CFLAGS_ALL="$OPT $NNCC_CFLAGS"
load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

# ---- build ------------------------------------------------------------------
say "bench: building with $CC $CFLAGS_ALL"
"$CC" $OPT -o "$OUT/fma_peak" "$here/fma_peak.c"

# Generated trainers: C size and the time gcc takes on them (issue 6 limits
# both for 784-800-10), then one bench binary per workload and its other
# optimizers (issue 10), which bench.c times in alternation with it.
for w in w1 w3 w4 w3_momentum w3_adam w4_adam w4_dropout mlp; do
	"$NNCC" "$here/nets/$w.yaml" -o "$OUT/$w.c"
	t0=$(date +%s.%N)
	"$CC" $CFLAGS_ALL -DNNCC_NO_MAIN -c "$OUT/$w.c" -o "$OUT/$w.o"
	t1=$(date +%s.%N)
	bytes=$(wc -c < "$OUT/$w.c")
	printf 'I\timpl=nncc\tkey=%s.c_bytes\tthreads=1\tvalue=%s\n' "$w" "$bytes" >> "$rec"
	printf 'I\timpl=nncc\tkey=%s.compile_s\tthreads=1\tvalue=%s\n' "$w" \
		"$(echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}')" >> "$rec"
done
group_build() { # binary workload...
	bin=$1 models="" objs=""
	shift
	for w in "$@"; do
		models="$models M(bench_${w}_model)"
		objs="$objs $OUT/$w.o"
	done
	"$CC" $CFLAGS_ALL "-DBENCH_MODELS=$models" -o "$OUT/$bin" "$here/bench.c" $objs $NNCC_LIBS
}
group_build bench_w1 w1
group_build bench_w3 w3 w3_momentum w3_adam
group_build bench_w4 w4 w4_adam w4_dropout
group_build bench_mlp mlp

# The naive baseline, same flags, one build per shape.
naive_build() { # workload hidden max_batch
	"$CC" $CFLAGS_ALL -DNAIVE_SYM=naive_$1_model -DNAIVE_IN=784 -DNAIVE_HID=$2 \
		-DNAIVE_OUT=10 -DNAIVE_MAXB=$3 -c "$here/naive.c" -o "$OUT/naive_$1.o"
	"$CC" $CFLAGS_ALL -DBENCH_MODEL=naive_$1_model -o "$OUT/naive_$1" \
		"$here/bench.c" "$OUT/naive_$1.o" $NNCC_LIBS
}
w1_maxb=$(sed -n 's/^#define MAX_BATCH \([0-9]*\).*/\1/p' "$OUT/w1.c")
naive_build w1 0 "${w1_maxb:-256}"
naive_build w3 50 20
naive_build w4 800 64

# ---- data -------------------------------------------------------------------
DATA=${DATA:-data/mnist}
if [ -f "$DATA/train-images-idx3-ubyte" ] || [ -f "$DATA/train-images-idx3-ubyte.gz" ]; then
	data_kind="real MNIST ($DATA)"
else
	DATA=$OUT/synthetic
	mkdir -p "$DATA"
	[ -f "$DATA/t10k-labels-idx1-ubyte" ] || "$OUT/naive_w3" synth "$DATA"
	data_kind="synthetic set of MNIST's shape (60000 + 10000 images, $DATA; data/mnist absent: make data)"
fi
say "bench: data: $data_kind"

# ---- peak -------------------------------------------------------------------
say "bench: FMA peak"
peak_out=$("$OUT/fma_peak" 30)
isa=$(echo "$peak_out" | awk '/^isa/ {print $2}')
peak1=$(echo "$peak_out" | awk '/^peak_f32/ {print $2}')
# Both cores: two copies at once, summed; the best of three rounds
# (informational: the machine is shared).
peak2=0
for round in 1 2 3; do
	"$OUT/fma_peak" 60 > "$OUT/peak_a" & pa=$!
	"$OUT/fma_peak" 60 > "$OUT/peak_b" & pb=$!
	wait $pa; wait $pb
	peak2=$(cat "$OUT/peak_a" "$OUT/peak_b" |
		awk -v best="$peak2" '/^peak_f32/ {s += $2} END {printf "%.1f", (s > best ? s : best)}')
done

# ---- runs -------------------------------------------------------------------
run() { # label command...
	say "bench: [$(( $(date +%s) - start )) s] $1"
	shift
	"$@" >> "$rec"
}
# nncc: two passes of 1 and 2 threads, alternating; budgets are per pass.
run "W1 nncc (1, 2 threads, 2 passes)" "$OUT/bench_w1" w1 "$DATA" --threads 1,2 --passes 2 \
	--budget 4 --min-reps 2
# W3 (with inference) and W4 with each optimizer in one process each: every
# epoch of SGD's run is followed by the same epoch of momentum's and Adam's,
# so the optimizers share the spells of load from the machine's other users
# (bench.c); each is timed as W3 and W4 always were (1 and 2 threads, two
# passes; the budget is per workload).
run "W3 + inference nncc, with momentum and adam (1, 2 threads, 2 passes)" "$OUT/bench_w3" \
	w3,w3_momentum,w3_adam "$DATA" --threads 1,2 --passes 2 --budget 10 --min-reps 1 \
	--save "$OUT/w3.weights" --pred "$OUT/w3.pred"
run "W4 nncc, with adam and with dropout (1, 2 threads, 2 passes)" "$OUT/bench_w4" \
	w4,w4_adam,w4_dropout "$DATA" \
	--threads 1,2 --passes 2 --budget 8 --min-reps 1
# The MLP recipe: one shuffled epoch (469 updates) per thread count and
# round, 3-16 s each on this machine: the budget lets one rep of each.  When
# PyTorch is there, its epochs of the same recipe run in turns with nncc's,
# two rounds, so that both see the same spells of load from the machine's
# other users (the ratio is issue 11's target); report.awk keeps the fastest
# epoch of each side.
have_torch=0
"$PYTHON" -c 'import torch, numpy' >/dev/null 2>&1 && have_torch=1
: > "$OUT/torch.tsv"
: > "$OUT/torch.err"
for round in 1 2; do
	run "MLP recipe nncc (1, 2 threads), round $round" "$OUT/bench_mlp" mlp "$DATA" \
		--threads 1,2 --passes 1 --budget 1 --min-reps 1
	if [ $have_torch = 1 ]; then
		say "bench: [$(( $(date +%s) - start )) s] MLP recipe PyTorch (1, 2 threads), round $round"
		"$PYTHON" "$here/torch_bench.py" "$DATA" --mlp >> "$OUT/torch.tsv" 2>> "$OUT/torch.err" ||
			say "bench: bench/torch_bench.py --mlp failed (see $OUT/torch.err)"
	fi
done
run "W1 naive" "$OUT/naive_w1" w1 "$DATA" --impl naive --threads 1 --budget 4 --min-reps 1
run "W3 + inference naive (3000 steps, scaled)" "$OUT/naive_w3" w3 "$DATA" --impl naive \
	--threads 1 --steps 3000 --budget 4 --min-reps 1
run "W4 naive (20 steps, scaled)" "$OUT/naive_w4" w4 "$DATA" --impl naive --threads 1 \
	--steps 20 --budget 4 --min-reps 1

# Instruction sets (issue 12): W3 (with its one-image inference) and W4
# built without -march (the run-time dispatch build: nncc --cflags alone),
# run with the kernels it picks by itself (impl=auto) and with NNCC_ISA=avx2,
# fma and generic, against the same workload built with $OPT (impl=native);
# one process each, in turns, two rounds.  fma and generic (~10x and ~100x
# slower) run W4 only, 20 steps scaled to an epoch.  Records in isa.tsv.
isa_build() { # binary workload flags...
	bin=$1 w=$2
	shift 2
	"$CC" -O2 "$@" $NNCC_CFLAGS -DNNCC_NO_MAIN -c "$OUT/$w.c" -o "$OUT/$bin.o"
	"$CC" -O2 "$@" $NNCC_CFLAGS "-DBENCH_MODEL=bench_${w}_model" -o "$OUT/$bin" \
		"$here/bench.c" "$OUT/$bin.o" $NNCC_LIBS
}
isa_run() { # impl NNCC_ISA binary workload options...
	impl=$1 want=$2 bin=$3 w=$4
	shift 4
	say "bench: [$(( $(date +%s) - start )) s] $w $impl"
	NNCC_ISA=$want "$OUT/$bin" "$w" "$DATA" --impl "$impl" --threads 1 "$@" \
		>> "$OUT/isa.tsv" 2>> "$OUT/isa.err"
}
say "bench: building W3 and W4 without -march"
for w in w3 w4; do
	isa_build "isa_${w}_native" $w $OPT
	isa_build "isa_${w}_any" $w
done
: > "$OUT/isa.tsv"
: > "$OUT/isa.err"
for round in 1 2; do
	for w in w3 w4; do
		isa_run native "" "isa_${w}_native" $w --budget 3 --min-reps 1
		isa_run auto "" "isa_${w}_any" $w --budget 3 --min-reps 1
		isa_run avx2 avx2 "isa_${w}_any" $w --budget 3 --min-reps 1
	done
	for isa in fma generic; do
		isa_run $isa $isa isa_w4_any w4 --steps 20 --budget 1 --min-reps 1
	done
done

# Exported inference code, from the weights of the W3 run.
say "bench: nncc --infer"
"$NNCC" "$here/nets/w3.yaml" --infer --weights "$OUT/w3.weights" -o "$OUT/bench_w3_infer.c"
"$CC" $CFLAGS_ALL -c "$OUT/bench_w3_infer.c" -o "$OUT/bench_w3_infer.o"
size "$OUT/bench_w3_infer.o" | awk 'NR == 2 {printf "I\timpl=export\tkey=object_size\tthreads=1\tvalue=%s (text %s, data %s, bss %s)\n", $4, $1, $2, $3}' >> "$rec"
"$CC" $CFLAGS_ALL -I"$OUT" -DNET=bench_w3 -DNET_UPPER=BENCH_W3 \
	-DNET_HEADER='"bench_w3_infer.h"' \
	-o "$OUT/infer_bench" "$here/infer_bench.c" "$OUT/bench_w3_infer.o" $NNCC_LIBS
run "exported inference" "$OUT/infer_bench" "$DATA" "$OUT/w3.weights" "$OUT/w3.pred"
# The same network exported with --quantize int8 (calibrated on 1000
# training images): AVX-512 VNNI where the CPU has it.
"$NNCC" "$here/nets/w3.yaml" --infer --weights "$OUT/w3.weights" --quantize int8 --data "$DATA" \
	-o "$OUT/bench_w3_int8.c" >&2
"$CC" $CFLAGS_ALL -c "$OUT/bench_w3_int8.c" -o "$OUT/bench_w3_int8.o"
size "$OUT/bench_w3_int8.o" | awk 'NR == 2 {printf "I\timpl=export_int8\tkey=object_size\tthreads=1\tvalue=%s (text %s, data %s, bss %s)\n", $4, $1, $2, $3}' >> "$rec"
"$CC" $CFLAGS_ALL -I"$OUT" -DNET=bench_w3 -DNET_UPPER=BENCH_W3 -DINT8 '-DIMPL="export_int8"' \
	-DNET_HEADER='"bench_w3_int8.h"' \
	-o "$OUT/infer_bench_int8" "$here/infer_bench.c" "$OUT/bench_w3_int8.o" $NNCC_LIBS
run "exported inference, int8" "$OUT/infer_bench_int8" "$DATA" "$OUT/w3.weights" "$OUT/w3.pred"

# PyTorch, when Debian's python3-torch (and numpy, which the script needs)
# is importable: the other workloads (its MLP ran above).
if [ $have_torch = 1 ]; then
	torch_ver=$("$PYTHON" -c 'import torch; print(torch.__version__)')
	torch_status="PyTorch $torch_ver ($PYTHON), torch.set_num_threads 1 and 2, the faster one counts"
	say "bench: [$(( $(date +%s) - start )) s] PyTorch $torch_ver (1, 2 threads)"
	# A failing script loses the PyTorch rows, not the whole benchmark.
	"$PYTHON" "$here/torch_bench.py" "$DATA" --no-mlp >> "$OUT/torch.tsv" 2>> "$OUT/torch.err" ||
		torch_status="PyTorch $torch_ver: **failed** (bench/torch_bench.py; see $OUT/torch.err)"
	grep '^[RI]	' "$OUT/torch.tsv" >> "$rec" || :
else
	torch_status="PyTorch: skipped (python3-torch or python3-numpy not installed)"
	say "bench: $torch_status"
fi

# ---- issue 15: data-parallel W4 on 2 ranks (bench/mpi.sh) ---------------------
# Batch 1024: at W4's own 64 the gradient exchange costs more than a rank
# saves (docs/scaling.md#measured).  Needs `make bench MPI=1` and mpirun.
mpi_status=
if [ -f build/libnncc_mpi.a ] && command -v mpirun >/dev/null 2>&1; then
	say "bench: [$(( $(date +%s) - start )) s] data-parallel W4, batch 1024 (bench/mpi.sh)"
	BATCH=1024 ITERATIONS=40 OUT=$OUT/mpi DATA=$DATA sh "$here/mpi.sh" 3 > "$OUT/mpi.md" 2>/dev/null ||
		mpi_status="**failed** (run bench/mpi.sh for the message)"
	say "bench: [$(( $(date +%s) - start )) s] data-parallel W4, batch 64 (bench/mpi.sh)"
	BATCH=64 ITERATIONS=300 OUT=$OUT/mpi64 DATA=$DATA sh "$here/mpi.sh" 3 > "$OUT/mpi64.md" 2>/dev/null ||
		mpi_status="**failed** (run bench/mpi.sh for the message)"
	# pre-training split among the ranks, at a batch of 256 (at the
	# example's 20 no split pays on one machine: docs/scaling.md#measured)
	say "bench: [$(( $(date +%s) - start )) s] pre-training on 2 ranks, batch 256 (bench/pretrain-mpi.sh)"
	BATCH=256 OUT=$OUT/pretrain DATA=$DATA sh "$here/pretrain-mpi.sh" 3 > "$OUT/pretrain.md" 2>/dev/null ||
		printf '**failed** (run bench/pretrain-mpi.sh for the message)\n' > "$OUT/pretrain.md"
else
	mpi_status="skipped: \`make bench MPI=1\` builds build/libnncc_mpi.a (needs libopenmpi-dev, openmpi-bin)"
fi

# ---- report -----------------------------------------------------------------
load1=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)
cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo "?")
ccver=$("$CC" --version | head -n 1)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo "unknown")
dirty=$(git status --porcelain --untracked-files=no -- compiler templates runtime 2>/dev/null | wc -l)
[ "$dirty" -eq 0 ] || rev="$rev + uncommitted changes in compiler/ templates/ runtime/"
emit_rev=$(git log -1 --format='%h %s' -- templates compiler/emit.c 2>/dev/null || echo "?")
elapsed=$(( $(date +%s) - start ))

tmp=$DOC.tmp.$$
awk -F '\t' -f "$here/report.awk" \
	-v cpu="$cpu" -v cores="$cores" -v isa="$isa" -v peak1="$peak1" -v peak2="$peak2" \
	-v cc="$ccver" -v flags="$CFLAGS_ALL" -v rev="$rev" -v emit_rev="$emit_rev" \
	-v nncc="$NNCC" -v nncc_ver="$("$NNCC" --version 2>&1 | head -n 1)" -v data="$data_kind" \
	-v torch="$torch_status" -v load0="$load0" -v load1="$load1" \
	-v elapsed="$elapsed" -v date="$(date -u '+%Y-%m-%d %H:%M UTC')" \
	"$rec" > "$tmp" || { rm -f "$tmp"; die "report failed"; }
# PyTorch's W3 time for the instruction-set table: this run's, else issue 6's.
torch_w3=$(awk -F '\t' '$1 == "R" && /impl=torch/ && /work=W3.full/ {
	for (i = 2; i <= NF; i++) if ($i ~ /^min=/) { t = substr($i, 5) + 0; if (b == "" || t < b) b = t }
} END { print b }' "$rec")
if [ -n "$torch_w3" ]; then torch_src="measured"; else torch_w3=7.7; torch_src="issue 6's quote"; fi
awk -F '\t' -v torch_w3="$torch_w3" -v torch_src="$torch_src" -f "$here/isa.awk" \
	"$OUT/isa.tsv" >> "$tmp" || { rm -f "$tmp"; die "instruction-set report failed"; }
{
	printf '\n## Issue 15: data-parallel training (bench/mpi.sh)\n\n'
	if [ -n "$mpi_status" ]; then
		printf '%s\n' "$mpi_status"
	else
		printf 'W4 (784-800-10) trained with batch 1024 in one process and on 2 MPI ranks of one thread each (best of 3 rounds; `--chunks C`: the bits of any rank count <= C, docs/scaling.md); streamed: shuffled from the file in windows (`--max-memory 24M`), sharded: each rank reads half of every window. Goal: 2 ranks at least 1.6x one thread.\n\n'
		awk 'NR == 1 { print; print ""; next } { print }' "$OUT/mpi.md"   # a blank line before the table
		awk '$1 == "t1" && (!t || $2 < t) { t = $2 } $1 == "r2c2" && (!r || $2 < r) { r = $2 }
			END { if (t && r) printf "\n2 ranks (--chunks 2) against 1 thread: %.2fx, goal 1.6x: %s\n", t / r, (t / r >= 1.6 ? "met" : "not met") }' \
			"$OUT/mpi/times"
		printf '\nW4 at its own batch of 64 (300 updates), where the ranks can also share each step (`--chunks 0`: one machine, one tile a batch, the bits of one process; docs/scaling.md#one-step-shared-by-the-ranks):\n\n'
		awk 'NR == 1 { print; print ""; next } { print }' "$OUT/mpi64.md"
		awk '$1 == "t1" && (!t || $2 < t) { t = $2 } $1 == "r2c0" && (!r || $2 < r) { r = $2 }
			END { if (t && r) printf "\n2 ranks sharing the step (--chunks 0) against 1 thread at batch 64: %.2fx, goal 1.6x: %s\n", t / r, (t / r >= 1.6 ? "met" : "not met") }' \
			"$OUT/mpi64/times"
		printf '\nPre-training (examples/mnist-pretrain.yaml, its two tied autoencoders, one pass; bench/pretrain-mpi.sh): '
		cat "$OUT/pretrain.md"   # (its blank line after the first is its own)
	fi
} >> "$tmp"
mv "$tmp" "$DOC"
cat "$DOC"
say "bench: wrote $DOC (${elapsed} s)"
