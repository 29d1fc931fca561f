#!/bin/sh
# mpi.sh - data-parallel training on Open MPI (issue 15, docs/scaling.md):
# builds libnncc_mpi.a (make MPI=1) and small trainers on a seeded CSV data
# set, then checks that `mpirun -np N` for N = 1, 2, 3, 4 writes weight files
# byte-identical to one process of the default libnncc.a with the same
# --chunks, for
#  - float32, adam, dropout, shuffled, chunks of two tiles (batch 100 of a
#    trainer whose tile is 8), then batches of 7 (some of the 12 chunks empty)
#    and of 290 (most straddle two passes);
#  - float64, nesterov momentum with weight decay, dropout, file order, the
#    gradient clipped, --epochs with a short last batch, a validation set
#    and early stopping;
# and that their --log rows (evaluations split among the ranks) are the
# same but for the time; the same for 2, 3 and 4 ranks sharded (--shard:
# each holds its tiles of the data, a batch's samples travel to the ranks
# whose chunks they fall in), for CSV and IDX, also saved by 4 sharded ranks
# and resumed by 3, and a sharded CSV read once by rank 0; pre-training
# (chunked, sharded in memory and streamed too) likewise, --shard with
# --pretrain-unlabeled refused;
# that a run saved by 3 ranks and resumed by 2 equals the run without a
# stop; that a training set streamed in windows (--max-memory; IDX, then
# CSV) and shuffled gives 1 and 2 ranks the bytes of one process, also when
# the ranks are given different budgets; that rank counts --chunks cannot
# serve are refused; that a rank killed mid-run ends the job (no hang) with mpirun's message naming it; and
# that a rank that hangs (SIGSTOP) ends it after --mpi-timeout, rank 0
# naming it (in training and in pre-training); and that the shared step's
# system calls failing (tests/fault/failshm.c: a full /dev/shm, one not
# writable, every mmap in the setup and some around evaluations and at the
# end), and one rank's reads, stop every rank with the reason, leaving
# nothing in /dev/shm.
# Under the sanitizer build (build-san/) the comparisons run fewer rank
# counts.  Without mpirun or mpicc it prints SKIPPED and exits 77 (not a
# pass).  The
# machine may have 2 cores: --oversubscribe, --threads 1, small networks.
# Run from the top directory (tests/run.sh); uses $NNCC and $CC.
set -eu
NNCC=${NNCC:-build/nncc}
CC=${CC:-cc}
MAKE=${MAKE:-make}
say() { echo "mpi: $*"; }
fail() {
	echo "mpi: FAIL: $*" >&2
	exit 1
}

if ! command -v mpirun >/dev/null 2>&1 || ! command -v mpicc >/dev/null 2>&1; then
	say "SKIPPED: no Open MPI (apt-get install libopenmpi-dev openmpi-bin)"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nncc-e2e-mpi.XXXXXX")
trap 'umount "$tmp/small" 2>/dev/null || :; rm -rf "$tmp"' EXIT
# Open MPI refuses root without these (CI runs as root).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI's own allocations are not ours to leak-check (SAN=1).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

# The MPI runtime next to $NNCC's libnncc.a: build/ or build-san/.
dir=$(dirname "$NNCC")
san=
[ "$(basename "$dir")" = build-san ] && san=SAN=1
# The rank counts the comparisons with one process run: all of them, and
# in the sanitizer pass (CI's SAN=1, a memory error's hunt) fewer: uneven
# splits (3), several subtrees a rank (2, 4), sharded 3 and 4 (the bits
# for every count are the plain pass's to check).
ranks="1 2 3 4" shard_ranks="2 3 4" stream_ranks="1 2 3" few_ranks="2 3"
[ -z "$san" ] || ranks="2 3" shard_ranks="3 4" stream_ranks="1 3" few_ranks=3
# shellcheck disable=SC2086
$MAKE -s MPI=1 $san CC="$CC" "$dir/libnncc_mpi.a" >"$tmp/make.log" 2>&1 ||
	fail "make MPI=1 $dir/libnncc_mpi.a failed: $(cat "$tmp/make.log")"

# 300 training and 90 test rows, 6 features, 3 classes (LCG noise).
gen() {
	awk -v n="$1" -v seed="$2" 'BEGIN {
		s = seed
		for (i = 0; i < n; i++) {
			c = i % 3
			for (j = 1; j <= 6; j++) {
				s = (s * 1103515245 + 12345) % 2147483648
				printf "%.6g,", (j % 3 == c) * 1.5 + s / 2147483648.0
			}
			printf "%d\n", c
		}
	}'
}
gen 300 5 >"$tmp/train.csv"
gen 90 9 >"$tmp/test.csv"

# build NAME: NAME.yaml to NAME.c, and the trainer twice: NAME with
# libnncc.a, NAME-mpi with libnncc_mpi.a.  The generated code does not
# depend on MPI (only the runtime does): one object, linked with each.
# (p below is built as docs/scaling.md says, with mpicc in one step.)
build() {
	"$NNCC" "$tmp/$1.yaml" -o "$tmp/$1.c" || fail "nncc $1.yaml failed: $(cat "$tmp/$1.yaml")"
	# shellcheck disable=SC2046
	$CC -O2 -c "$tmp/$1.c" $("$NNCC" --cflags) -o "$tmp/$1.o" ||
		fail "the trainer $1 does not compile"
	# shellcheck disable=SC2046
	$CC "$tmp/$1.o" $("$NNCC" --libs) -o "$tmp/$1" || fail "the trainer $1 does not link"
	# shellcheck disable=SC2046
	mpicc "$tmp/$1.o" $("$NNCC" --libs --mpi) -o "$tmp/$1-mpi" ||
		fail "the MPI trainer $1-mpi does not link"
}

# net NAME DTYPE OPTIMIZER SHUFFLE: the YAML, then the trainer twice: with
# libnncc.a (NAME) and with libnncc_mpi.a (NAME-mpi).
net() {
	cat >"$tmp/$1.yaml" <<YAML
network: $1
input: 6
dtype: $2
layers:
  - {type: dense, units: 12, activation: tanh}
  - {type: dropout, rate: 0.25}
  - {type: dense, units: 3, activation: linear}
  - {type: softmax}
training:
  optimizer: $3
  learning_rate: 0.05
  batch_size: 8
  iterations: 30
  seed: 3
  shuffle: $4
data:
  format: csv
  dir: $tmp
  train: train.csv
  test: test.csv
  header: false
  normalize: standardize
YAML
	build "$1"
}
net a float32 adam true
net b float64 "{type: momentum, momentum: 0.9, nesterov: true, weight_decay: 0.001}" false

# The --log rows without the column of seconds.
nosecs() {
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "seconds") c = i }
		{ $c = ""; print }' "$1"
}

# matches TAG RUN WHAT: $tmp/TAG.RUN (a weight file) and TAG.RUN.csv (its
# --log) are one process's TAG.ref and TAG.ref.rows but for the time.
matches() {
	cmp -s "$tmp/$1.ref" "$tmp/$1.$2" || fail "$1: the weight file of $3 differs from one process's"
	nosecs "$tmp/$1.$2.csv" | cmp -s "$tmp/$1.ref.rows" - ||
		fail "$1: the --log of $3 differs from one process's"
}

# same NAME TAG ARGS...: one process with --chunks 12, then 1..4 ranks
# (the default 12 chunks), and 2..4 ranks sharded (--shard: each holds its
# share of the data and gets the rest of every batch from the others):
# every weight file the same bytes, every --log row (the evaluations, split
# among the ranks) the same but for the time.
same() {
	name=$1 tag=$2
	shift 2
	"$tmp/$name" --chunks 12 --threads 1 --quiet --save "$tmp/$tag.ref" --eval-every 10 \
		--eval-test --log "$tmp/$tag.ref.csv" "$@" >"$tmp/out" ||
		fail "$tag: one process failed: $(cat "$tmp/out")"
	nosecs "$tmp/$tag.ref.csv" >"$tmp/$tag.ref.rows"
	for n in $ranks; do
		mpirun --oversubscribe -np $n "$tmp/$name-mpi" --threads 1 --quiet --eval-every 10 \
			--eval-test --log "$tmp/$tag.$n.csv" --save "$tmp/$tag.$n" "$@" >"$tmp/out" 2>&1 ||
			fail "$tag: $n ranks failed: $(cat "$tmp/out")"
		matches "$tag" "$n" "$n ranks"
	done
	for n in $shard_ranks; do
		mpirun --oversubscribe -np $n "$tmp/$name-mpi" --shard --threads 1 --eval-every 10 \
			--eval-test --log "$tmp/$tag.s$n.csv" --save "$tmp/$tag.s$n" "$@" >"$tmp/out" 2>&1 ||
			fail "$tag: $n ranks sharded failed: $(cat "$tmp/out")"
		grep -q "^memory .*, in memory, sharded: each of the $n ranks holds its share" "$tmp/out" ||
			fail "$tag: $n ranks with --shard: the report does not say it: $(cat "$tmp/out")"
		matches "$tag" "s$n" "$n ranks sharded"
	done
	say "$tag: ranks $ranks write the bytes of one process; so do ranks $shard_ranks sharded"
}
same a a-adam --batch 100
same a a-batch7 --batch 7
# Batches of 290 of 300 samples: most straddle two passes, where a rank
# may hold more of a batch's samples than it holds samples (some twice).
same a a-batch290 --batch 290
same b b-momentum --batch 64 --epochs 3 --clip-norm 0.05 --validation 60 --patience 1
# Regression (the class column as a real target): its error sums are split
# among the ranks too, tile by tile, and validation picks the same weights.
sed -e 's/^network: a$/network: r/' -e 's/units: 3, activation: linear/units: 1, activation: linear/' \
	-e '/type: softmax/d' -e 's/^training:$/loss: squared_error\ntraining:/' \
	-e 's/^  normalize: standardize$/  normalize: standardize_features\n  targets: [6]/' \
	"$tmp/a.yaml" >"$tmp/r.yaml"
build r
same r r-regression --batch 8 --epochs 4 --validation 60 --patience 2
grep -q "test_rmse" "$tmp/r-regression.ref.rows" || fail "r: no test_rmse in its --log"
# String labels: the classes are the names the scan finds (the ranks that
# do not read the samples scan without keeping rows; the labels reach them
# in the shared block).
for f in train test; do
	sed -e 's/,0$/,cat/' -e 's/,1$/,dog/' -e 's/,2$/,emu/' "$tmp/$f.csv" >"$tmp/s-$f.csv"
done
sed -e 's/^network: a$/network: s/' -e 's/train: train.csv/train: s-train.csv/' \
	-e 's/test: test.csv/test: s-test.csv/' "$tmp/a.yaml" >"$tmp/s.yaml"
build s
same s s-strings --batch 30
grep -q "^training .*per rank, 4 ranks, batches in 12 chunks" "$tmp/out" ||
	fail "the report does not say the ranks and chunks: $(cat "$tmp/out")"
# One chunk per rank (its gradient sent straight from the gradient block):
# --chunks 2 on 2 ranks, --chunks 3 on 3, against one process.
for n in 2 3; do
	"$tmp/a" --chunks $n --threads 1 --quiet --save "$tmp/one.ref" --batch 100 >"$tmp/out" ||
		fail "--chunks $n in one process failed: $(cat "$tmp/out")"
	mpirun --oversubscribe -np $n "$tmp/a-mpi" --chunks $n --threads 1 --quiet \
		--save "$tmp/one.$n" --batch 100 >"$tmp/out" 2>&1 ||
		fail "--chunks $n on $n ranks failed: $(cat "$tmp/out")"
	cmp -s "$tmp/one.ref" "$tmp/one.$n" ||
		fail "--chunks $n on $n ranks: not the bytes of one process"
done
say "one chunk per rank (2 and 3 ranks): the bytes of one process"
# --chunks 0 on ranks of one machine: they share each step (the
# parameters, optimizer state and layer buffers in shared memory; each runs
# its rows of the batch, then weight units from a shared counter): the bytes
# and --log rows of one process without chunks, for any rank count; with
# dropout and Adam (a), float64 momentum with decay (b), a short last batch
# in epochs mode, evaluations, validation with early stopping, streamed
# data, a checkpoint resumed on another rank count.
# shared NAME TAG ARGS...
shared() {
	name=$1 tag=$2
	shift 2
	"$tmp/$name" --threads 1 --quiet --save "$tmp/$tag.ref" --eval-every 5 --eval-test \
		--log "$tmp/$tag.ref.csv" "$@" >"$tmp/out" 2>&1 ||
		fail "$tag: one process failed: $(cat "$tmp/out")"
	nosecs "$tmp/$tag.ref.csv" >"$tmp/$tag.ref.rows"
	for n in $ranks; do
		mpirun --oversubscribe -np $n "$tmp/$name-mpi" --chunks 0 --threads 1 --eval-every 5 \
			--eval-test --log "$tmp/$tag.$n.csv" --save "$tmp/$tag.$n" "$@" >"$tmp/out" 2>&1 ||
			fail "$tag: $n ranks sharing the step failed: $(cat "$tmp/out")"
		[ "$n" = 1 ] || { grep -q "the $n ranks share each step" "$tmp/out" &&
			grep -q "^training .* per rank, $n ranks sharing each step" "$tmp/out"; } ||
			fail "$tag: $n ranks with --chunks 0: the start or the report does not say they share the step: $(cat "$tmp/out")"
		matches "$tag" "$n" "$n ranks sharing the step"
	done
	say "$tag: ranks $ranks sharing each step (--chunks 0) write the bytes of one process"
}
shared a a-share --batch 8
shared a a-share5 --batch 5 --epochs 3
shared b b-share --batch 7 --validation 60 --patience 1 --epochs 4
shared a a-share-stream --batch 8 --max-memory 32K
grep -q "streams from" "$tmp/out" || fail "a-share-stream: the data does not stream: $(cat "$tmp/out")"
mpirun --oversubscribe -np 3 "$tmp/a-mpi" --chunks 0 --threads 1 --quiet --batch 6 \
	--iterations 20 --save "$tmp/a-share.half" >"$tmp/out" 2>&1 ||
	fail "3 ranks sharing the step, 20 updates: $(cat "$tmp/out")"
mpirun --oversubscribe -np 2 "$tmp/a-mpi" --chunks 0 --threads 1 --quiet --batch 6 \
	--iterations 20 --resume "$tmp/a-share.half" --save "$tmp/a-share.res" >"$tmp/out" 2>&1 ||
	fail "2 ranks sharing the step, resumed: $(cat "$tmp/out")"
"$tmp/a" --threads 1 --quiet --batch 6 --iterations 40 --save "$tmp/a-share.40" >"$tmp/out" 2>&1 ||
	fail "one process, 40 updates: $(cat "$tmp/out")"
cmp -s "$tmp/a-share.40" "$tmp/a-share.res" ||
	fail "saved by 3 ranks sharing the step, resumed by 2: not one process's 40 updates"
say "sharing the step, saved by 3 ranks and resumed by 2: the bytes of one process"
# What it cannot do, said before any work: a batch of several tiles, the
# gradient's norm (--clip-norm), --shard.
for args in "--batch 9" "--clip-norm 1" "--shard"; do
	# shellcheck disable=SC2086
	if mpirun --oversubscribe -np 2 "$tmp/a-mpi" --chunks 0 --threads 1 --quiet $args \
		--iterations 3 >"$tmp/out" 2>&1; then
		fail "2 ranks, --chunks 0 $args: no error"
	fi
	grep -q "error: --chunks 0 on 2 ranks shares each step among them, .*--" "$tmp/out" ||
		fail "2 ranks, --chunks 0 $args: not the error that says why: $(cat "$tmp/out")"
done
say "sharing the step refuses a batch of several tiles, --clip-norm, --shard: $(grep -m 1 error "$tmp/out")"
# The shared step's system calls failing (tests/fault/failshm.c wraps
# them): a full /dev/shm (rank 0's posix_fallocate), one it may not write
# (rank 1's shm_open), and each of rank 1's mmap calls in turn, persistently
# from there on (in the setup, around the evaluations, at the end): every
# rank stops (no hang, no crash), one says why, and no shared-memory object
# is left behind.
# shellcheck disable=SC2046
mpicc "$tmp/a.o" tests/fault/failshm.c $("$NNCC" --libs --mpi) \
	-Wl,--wrap=shm_open,--wrap=posix_fallocate,--wrap=mmap,--wrap=fread -o "$tmp/a-failshm" ||
	fail "the trainer a does not link with tests/fault/failshm.c"
objects() { find /dev/shm -maxdepth 1 -name 'nncc-step-*' 2>/dev/null | wc -l; }
left=$(objects)
# failing NP ENV... -- ARGS...: NP ranks with --chunks 0, ARGS and the
# injection ENV must end in time with an error, each rank's error line
# whole (one write: it once was three, and the ranks' lines interleaved as
# "a: error: a: error: ..."); the output in $tmp/out.
failing() {
	np=$1 env_='' rc=0
	shift
	while [ "$1" != -- ]; do env_="$env_ $1"; shift; done
	shift
	# shellcheck disable=SC2086
	env $env_ timeout 120 mpirun --oversubscribe -np "$np" "$tmp/a-failshm" --chunks 0 \
		--threads 1 --quiet --mpi-timeout 20 "$@" >"$tmp/out" 2>&1 || rc=$?
	[ "$rc" -ne 0 ] || fail "$env_ $*: the run did not fail: $(cat "$tmp/out")"
	[ "$rc" -ne 124 ] || fail "$env_ $*: hung (killed after 120 s): $(cat "$tmp/out")"
	! grep -Eq "Segmentation|SIGSEGV|signal 11|AddressSanitizer|runtime error" "$tmp/out" ||
		fail "$env_ $*: crashed: $(cat "$tmp/out")"
	! grep -q "error: [^ ]*: error: " "$tmp/out" ||
		fail "$env_ $*: the ranks' error lines are interleaved: $(cat "$tmp/out")"
}
failing 2 NNCC_FAIL_FALLOCATE=1 NNCC_FAIL_RANK=0 --
grep -q "rank 0: shared memory /nncc-step-[0-9]* ([0-9]* bytes, in /dev/shm): No space left on device; /dev/shm must be writable with that room, or run with --chunks C" "$tmp/out" ||
	fail "a full /dev/shm: not the error that says so: $(cat "$tmp/out")"
failing 3 NNCC_FAIL_SHM_OPEN=1 NNCC_FAIL_RANK=1 --
{ grep -q "rank 1: shared memory /nncc-step-[0-9]* .*: Permission denied" "$tmp/out" &&
	grep -q "another rank could not map the shared step's memory" "$tmp/out"; } ||
	fail "rank 1 cannot open the shared memory: not the errors that say so: $(cat "$tmp/out")"
NNCC_FAIL_MMAP_COUNT=$tmp/mmaps NNCC_FAIL_RANK=1 mpirun --oversubscribe -np 2 \
	"$tmp/a-failshm" --chunks 0 --threads 1 --quiet --iterations 2 --eval-every 1 \
	>"$tmp/out" 2>&1 || fail "a-failshm without a failure: $(cat "$tmp/out")"
maps=$(cat "$tmp/mmaps")
NNCC_FAIL_MMAP_COUNT=$tmp/mmaps NNCC_FAIL_RANK=1 mpirun --oversubscribe -np 2 \
	"$tmp/a-failshm" --chunks 0 --threads 1 --quiet --iterations 2 \
	>"$tmp/out" 2>&1 || fail "a-failshm without a failure: $(cat "$tmp/out")"
# 1 + R calls in the setup (R regions), R at the end: the rest are the
# evaluations' (3 of them, 2 calls for each region of the layers)
setup=$(( ($(cat "$tmp/mmaps") - 1) / 2 + 1 ))
[ "$setup" -ge 3 ] && [ "$maps" -gt $((2 * setup)) ] ||
	fail "rank 1 made $maps mmap calls, $setup in the setup: is the wrap linked?"
: >"$tmp/why"
k=1
while [ "$k" -le "$maps" ]; do
	failing 2 NNCC_FAIL_MMAP=$k NNCC_FAIL_RANK=1 -- --iterations 2 --eval-every 1
	grep -Eo "shared memory /nncc-step|another rank could not map|cannot map (private|the shared step's) memory for the (layers|parameters)" \
		"$tmp/out" >>"$tmp/why" || fail "mmap call $k of $maps failing: no error that says so: $(cat "$tmp/out")"
	# a failure in the setup stops the ranks there, before any update
	[ "$k" -gt "$setup" ] || ! grep -q "after update\|iteration" "$tmp/out" ||
		fail "mmap call $k of $maps (the setup's) failing: not stopped in the setup: $(cat "$tmp/out")"
	# every call of the setup, then the first of each kind and the last ones
	if [ "$k" -lt 16 ] || [ "$k" -ge $((maps - 3)) ]; then
		k=$((k + 1))
	else
		k=$((k + 7))
		[ "$k" -lt $((maps - 3)) ] || k=$((maps - 3))
	fi
done
for why in "shared memory /nncc-step" "cannot map private memory for the layers" \
	"cannot map the shared step's memory for the layers" "cannot map private memory for the parameters"; do
	grep -q "$why" "$tmp/why" || fail "no mmap call failing gave \"$why\""
done
[ "$(objects)" = "$left" ] || fail "shared-memory objects left in /dev/shm: $(ls /dev/shm)"
say "the shared step's shm_open, posix_fallocate and $maps mmap calls failing: an error that says which, every rank stops, nothing left in /dev/shm"
# Rank 1's stream meeting the end of train.csv halfway through the run
# (its reads failing): every rank stops at that update, before anyone
# updates, rank 0 saying another rank could not read the batch and rank 1
# what it could not read; --save is not written.
NNCC_FAIL_FREAD_COUNT=$tmp/freads NNCC_FAIL_RANK=1 mpirun --oversubscribe -np 2 \
	"$tmp/a-failshm" --chunks 0 --threads 1 --quiet --batch 8 --max-memory 32K \
	--iterations 100 >"$tmp/out" 2>&1 || fail "a-failshm streamed: $(cat "$tmp/out")"
reads=$(cat "$tmp/freads")
[ "$reads" -ge 8 ] || fail "rank 1 made only $reads fread calls: is the wrap linked?"
failing 2 NNCC_FAIL_FREAD=$((reads / 2)) NNCC_FAIL_RANK=1 -- --batch 8 --max-memory 32K \
	--iterations 100 --save "$tmp/fread.w"
u0=$(sed -n 's/.*update \([0-9]*\): another rank could not read the batch.*/\1/p' "$tmp/out")
u1=$(sed -n 's/.*update \([0-9]*\): [^ ]*train\.csv: ends before row .*/\1/p' "$tmp/out")
[ -n "$u0" ] && [ "$u0" = "$u1" ] ||
	fail "rank 1's read failing: not rank 0's and rank 1's errors at one update: $(cat "$tmp/out")"
[ ! -e "$tmp/fread.w" ] || fail "rank 1's read failing: --save was written"
say "rank 1's reads failing in update $u0 of 100: every rank stops there, each saying why"
# Default chunks of a few samples each: rank 0 says what they cost and what
# is faster (batches of 20: 1-2 samples a chunk); not at 200 (16-17), nor
# when --chunks is given.
mpirun --oversubscribe -np 2 "$tmp/a-mpi" --threads 1 --batch 20 --iterations 3 >"$tmp/out" 2>&1 ||
	fail "2 ranks, batch 20: $(cat "$tmp/out")"
[ "$(grep -c "note: batches of 20 in 12 chunks, 1-2 samples each: .* --chunks 2 (one a rank) is faster" \
	"$tmp/out")" = 1 ] || fail "2 ranks, batch 20: not one note on the chunks: $(cat "$tmp/out")"
for args in "--batch 200" "--batch 20 --chunks 12"; do
	# shellcheck disable=SC2086
	mpirun --oversubscribe -np 2 "$tmp/a-mpi" --threads 1 $args --iterations 3 >"$tmp/out" 2>&1 ||
		fail "2 ranks, $args: $(cat "$tmp/out")"
	! grep -q "note: batches of" "$tmp/out" || fail "2 ranks, $args: a note on the chunks: $(cat "$tmp/out")"
done
say "default chunks of 1-2 samples: rank 0 notes that --chunks 2 is faster (not at batch 200, nor with --chunks given)"
# In memory, the ranks on a machine hold both sets' reals once (a shared
# window): the JSON and the report say so; one process holds its own.
mpirun --oversubscribe -np 2 "$tmp/a-mpi" --threads 1 --batch 100 --json >"$tmp/out" 2>"$tmp/err" ||
	fail "2 ranks, --json: $(cat "$tmp/out" "$tmp/err")"
grep -Eq '"shared": [1-9][0-9]*, "shared_by": 2, "sharded": false' "$tmp/out" ||
	fail "2 ranks in memory: the JSON does not say that 2 ranks share the data: $(cat "$tmp/out" "$tmp/err")"
mpirun --oversubscribe -np 2 "$tmp/a-mpi" --threads 1 --batch 100 >"$tmp/out" 2>&1 ||
	fail "2 ranks: $(cat "$tmp/out")"
grep -q "^memory .*, in memory; its .* of reals and labels held once for the 2 ranks on this machine" \
	"$tmp/out" || fail "2 ranks in memory: the report does not say the data is shared: $(cat "$tmp/out")"
"$tmp/a" --threads 1 --batch 100 --json --quiet >"$tmp/out" || fail "one process, --json"
grep -q '"shared": 0, "shared_by": 1, "sharded": false, "shard_samples": 300, ' "$tmp/out" ||
	fail "one process: the JSON says its data is shared: $(cat "$tmp/out")"
# No room for the shared window (a backing directory that does not exist):
# a clear error that says what to do, not a crash or a hang.
timeout 60 mpirun --oversubscribe -np 2 --mca osc_sm_backing_directory "$tmp/none/here" \
	"$tmp/a-mpi" --threads 1 --batch 100 >"$tmp/out" 2>&1 &&
	fail "2 ranks without a shared window: no error: $(cat "$tmp/out")"
grep -q "error: MPI_Win_allocate_shared failed on rank 0 of 2: .*memory shared by the 2 ranks on this machine; give Open MPI's osc_sm_backing_directory" \
	"$tmp/out" || fail "2 ranks without a shared window: not the error expected: $(cat "$tmp/out")"
say "in memory, 2 ranks hold the data once; without a shared window: $(grep -o 'error: MPI_Win.*' "$tmp/out" | head -n 1)"
# A backing directory with too little room for the window (a container's
# /dev/shm is often 64 MB; here a 256 KiB tmpfs, which root can mount): each
# rank reads the data and holds its own, the report says why, the JSON
# shares nothing, and the weights are one process's.
mkdir "$tmp/small"
if mount -t tmpfs -o size=256k tmpfs "$tmp/small" 2>/dev/null; then
	"$tmp/a" --threads 1 --batch 100 --chunks 12 --save "$tmp/own.ref" --quiet ||
		fail "one process, --chunks 12"
	mpirun --oversubscribe -np 2 --mca osc_sm_backing_directory "$tmp/small" "$tmp/a-mpi" \
		--threads 1 --batch 100 --save "$tmp/own.2" >"$tmp/out" 2>&1 ||
		fail "2 ranks, a small backing directory: $(cat "$tmp/out")"
	grep -q "^memory .*, in memory; each rank holds its own .* of reals and labels: a machine's backing directory for shared memory ($tmp/small, Open MPI's osc_sm_backing_directory) has 256 KB free" \
		"$tmp/out" || fail "2 ranks, a small backing directory: the report does not say why each rank holds its own data: $(cat "$tmp/out")"
	cmp -s "$tmp/own.ref" "$tmp/own.2" ||
		fail "2 ranks, a small backing directory: not the bytes of one process"
	mpirun --oversubscribe -np 2 --mca osc_sm_backing_directory "$tmp/small" "$tmp/a-mpi" \
		--threads 1 --batch 100 --json >"$tmp/out" 2>"$tmp/err" ||
		fail "2 ranks, a small backing directory, --json: $(cat "$tmp/out" "$tmp/err")"
	grep -q '"shared": 0, "shared_by": 1, "sharded": false' "$tmp/out" ||
		fail "2 ranks, a small backing directory: the JSON says the data is shared: $(cat "$tmp/out")"
	umount "$tmp/small"
	say "a backing directory too small for the window: each rank holds its own copy, one process's bytes"
else
	say "not checked: a backing directory too small for the window (mounting a tmpfs needs root)"
fi
# Ranks on two machines (NNCC_MPI_MACHINES=2: consecutive ranks in two
# blocks, as if placed on two machines by slot). By default the run shards
# (the ranks span machines) and says so; --no-shard holds the data once a
# machine, each machine's first rank reading it (3 ranks: a machine of two
# and one alone). The bytes of one process either way.
for n in 3 4; do
	mpirun --oversubscribe -np $n -x NNCC_MPI_MACHINES=2 "$tmp/a-mpi" --threads 1 --batch 100 \
		--json --save "$tmp/m2.$n" >"$tmp/out" 2>"$tmp/err" || fail "$n ranks on 2 machines: $(cat "$tmp/out" "$tmp/err")"
	grep -q '"shared": 0, "shared_by": 1, "sharded": true' "$tmp/out" ||
		fail "$n ranks on 2 machines: not sharded by default: $(cat "$tmp/out" "$tmp/err")"
	cmp -s "$tmp/m2.$n" "$tmp/a-adam.ref" || fail "$n ranks on 2 machines: not one process's bytes"
	mpirun --oversubscribe -np $n -x NNCC_MPI_MACHINES=2 "$tmp/a-mpi" --no-shard --threads 1 \
		--batch 100 --json --save "$tmp/m2n.$n" >"$tmp/out" 2>"$tmp/err" ||
		fail "$n ranks on 2 machines, --no-shard: $(cat "$tmp/out" "$tmp/err")"
	grep -Eq '"shared": [1-9][0-9]*, "shared_by": 2, "sharded": false' "$tmp/out" ||
		fail "$n ranks on 2 machines, --no-shard: rank 0's machine does not hold the data once for 2: $(cat "$tmp/out" "$tmp/err")"
	cmp -s "$tmp/m2n.$n" "$tmp/a-adam.ref" ||
		fail "$n ranks on 2 machines, --no-shard: not one process's bytes"
done
say "3 and 4 ranks on 2 machines: sharded by default, the data once a machine with --no-shard; the bytes of one process"
# One chain over the batch (no --chunks) is another order: other bits.
"$tmp/a" --threads 1 --quiet --save "$tmp/plain" --batch 100 >/dev/null || fail "plain run failed"
cmp -s "$tmp/plain" "$tmp/a-adam.ref" && fail "--chunks 12 and one chain gave the same bits"

# Stopped after 12 updates on 3 ranks, resumed on 2: the run of 30.
mpirun --oversubscribe -np 3 "$tmp/a-mpi" --threads 1 --quiet --batch 100 --iterations 12 \
	--save "$tmp/ck" >"$tmp/out" 2>&1 || fail "3 ranks, 12 updates: $(cat "$tmp/out")"
mpirun --oversubscribe -np 2 "$tmp/a-mpi" --threads 1 --quiet --resume "$tmp/ck" --batch 100 \
	--iterations 18 --save "$tmp/resumed" >"$tmp/out" 2>&1 || fail "resumed on 2 ranks: $(cat "$tmp/out")"
cmp -s "$tmp/resumed" "$tmp/a-adam.ref" ||
	fail "saved by 3 ranks and resumed by 2: not the bits of the run without a stop"
say "saved by 3 ranks, resumed by 2: the same bytes"
# Sharded: saved by 4 ranks, resumed by 3 (other shards, the same order).
mpirun --oversubscribe -np 4 "$tmp/a-mpi" --shard --threads 1 --quiet --batch 100 \
	--iterations 12 --save "$tmp/ck4" >"$tmp/out" 2>&1 || fail "4 ranks sharded, 12 updates: $(cat "$tmp/out")"
mpirun --oversubscribe -np 3 "$tmp/a-mpi" --shard --threads 1 --quiet --resume "$tmp/ck4" \
	--batch 100 --iterations 18 --save "$tmp/resumed4" >"$tmp/out" 2>&1 ||
	fail "resumed on 3 ranks sharded: $(cat "$tmp/out")"
cmp -s "$tmp/resumed4" "$tmp/a-adam.ref" ||
	fail "saved by 4 ranks sharded and resumed by 3: not the bits of the run without a stop"
say "sharded, saved by 4 ranks and resumed by 3: the same bytes"
# What a sharded rank holds: its tiles (of 8) of each set, 12 of the 38
# tiles of 300 training samples for rank 0 of 3 (the JSON's shard_samples).
mpirun --oversubscribe -np 3 "$tmp/a-mpi" --shard --threads 1 --batch 100 --json >"$tmp/out" 2>"$tmp/err" ||
	fail "3 ranks sharded, --json: $(cat "$tmp/out" "$tmp/err")"
grep -q '"shared": 0, "shared_by": 1, "sharded": true, "shard_samples": 96, ' "$tmp/out" ||
	fail "3 ranks sharded: the JSON does not say rank 0 holds 96 samples: $(cat "$tmp/out" "$tmp/err")"
# A budget the whole set does not fit (42 KB) but a share does (33 KB on 2
# ranks, 28 KB on 4): sharded, the run stays in memory, with the bytes of
# one process; not sharded, it streams.
for n in 2 4; do
	mpirun --oversubscribe -np $n "$tmp/a-mpi" --shard --max-memory 38K --threads 1 --batch 100 \
		--json --save "$tmp/m30.$n" >"$tmp/out" 2>"$tmp/err" || fail "$n ranks sharded in 38K: $(cat "$tmp/out" "$tmp/err")"
	grep -q '"streamed": false, .*"sharded": true' "$tmp/out" ||
		fail "$n ranks sharded in 38K: not in memory and sharded: $(cat "$tmp/out" "$tmp/err")"
	cmp -s "$tmp/m30.$n" "$tmp/a-adam.ref" ||
		fail "$n ranks sharded in 38K: not the bytes of one process"
done
mpirun --oversubscribe -np 2 "$tmp/a-mpi" --no-shard --max-memory 38K --threads 1 --batch 100 \
	--json >"$tmp/out" 2>"$tmp/err" || fail "2 ranks in 38K: $(cat "$tmp/out" "$tmp/err")"
grep -q '"streamed": true' "$tmp/out" || fail "2 ranks not sharded in 38K: not streamed: $(cat "$tmp/out" "$tmp/err")"
say "sharded, a share of the set fits a budget the whole does not: in memory, the same bytes"

# Streamed (--max-memory far below the data: several windows), shuffled:
# 1 and 2 ranks write the bytes of one process.  IDX files of 300 training
# and 90 test images of 6 pixels, 3 classes (tests/e2e/idxgen.c).
mkdir "$tmp/idx"
$CC -o "$tmp/idxgen" tests/e2e/idxgen.c && "$tmp/idxgen" "$tmp/idx" 300 90 1 6 3 ||
	fail "cannot write the IDX data"
sed -e 's/^network: a$/network: c/' -e '/format: csv/d' -e '/train: train.csv/d' \
	-e '/test: test.csv/d' -e '/header: false/d' -e "s|dir: $tmp\$|dir: $tmp/idx|" \
	"$tmp/a.yaml" >"$tmp/c.yaml"
build c
# In memory, IDX: the first rank of the machine reads the images, fits the
# statistics and converts both sets for all; the others read the labels.
# Sharded, each rank reads its tiles' images and holds their bytes (the
# statistics from passes over the file, as a streamed run fits them).
same c c-idx --batch 20 --epochs 2
# normalize: scale (the pixels converted through a table of their 256
# values: a sharded rank holds the bytes and converts a tile as it uses it)
# and a held-out set.
sed -e 's/^network: c$/network: f/' -e 's/normalize: standardize$/normalize: scale/' \
	"$tmp/c.yaml" >"$tmp/f.yaml"
build f
same f f-idx-scale --batch 20 --epochs 2 --validation 50
# streamed NAME BUDGET WHAT [ORDER]: trainer NAME with --max-memory BUDGET
# streams in several windows, and NAME-mpi on 1 and 2 ranks writes its
# bytes; ORDER --no-shuffle: file order (a rank reads only its chunks'
# samples: nncc_stream_want).
streamed() {
	order=${4:---shuffle}
	"$tmp/$1" --chunks 12 --threads 1 --batch 20 --max-memory "$2" "$order" --json \
		--eval-every 7 --eval-test --log "$tmp/$1.slog" --save "$tmp/$1.sref" \
		>"$tmp/out" 2>"$tmp/err" || fail "$3 streamed, one process: $(cat "$tmp/err")"
	grep -Eq '"streamed": true, "window": [0-9]+, "windows": ([2-9]|[1-9][0-9]+)[,}]' "$tmp/out" ||
		fail "$3: $2 does not stream in several windows: $(cat "$tmp/out")"
	nosecs "$tmp/$1.slog" >"$tmp/$1.srows"
	for n in $stream_ranks; do
		mpirun --oversubscribe -np $n "$tmp/$1-mpi" --threads 1 --quiet --batch 20 \
			--max-memory "$2" "$order" --eval-every 7 --eval-test --log "$tmp/$1.slog$n" \
			--save "$tmp/$1.s$n" >"$tmp/out" 2>&1 ||
			fail "$3 streamed $order, $n ranks: $(cat "$tmp/out")"
		cmp -s "$tmp/$1.sref" "$tmp/$1.s$n" ||
			fail "$3 streamed $order: the weight file of $n ranks differs from one process's"
		nosecs "$tmp/$1.slog$n" | cmp -s "$tmp/$1.srows" - ||
			fail "$3 streamed $order: the --log of $n ranks differs from one process's"
	done
	say "$3 streamed in windows, $order: ranks $stream_ranks write the bytes and --log rows of one process"
}
# mixed NAME BUDGET: rank 1 given 1G, rank 0 BUDGET: the ranks stream with
# the smaller (as a rank on a smaller machine would make them), the bytes of
# one process given BUDGET.
mixed() {
	mpirun --oversubscribe -np 1 "$tmp/$1-mpi" --threads 1 --quiet --batch 20 --max-memory "$2" \
		--save "$tmp/$1.mixed" : -np 1 "$tmp/$1-mpi" --threads 1 --quiet --batch 20 \
		--max-memory 1G --save "$tmp/$1.mixed" >"$tmp/out" 2>&1 ||
		fail "--max-memory $2 and 1G on 2 ranks: $(cat "$tmp/out")"
	cmp -s "$tmp/$1.sref" "$tmp/$1.mixed" ||
		fail "--max-memory $2 and 1G on 2 ranks: not the bytes of one process at $2"
	say "ranks given $2 and 1G stream with $2: the bytes of one process"
}
streamed c 16K IDX --no-shuffle
streamed c 16K IDX
mixed c 16K
streamed a 28K CSV   # the CSV set, the trainers a and a-mpi
streamed a 28K CSV --no-shuffle

# Streamed and sharded (--shard, shuffled): each rank reads only its tiles
# of each window, and a batch's samples travel as in memory.  Sets whose
# share does not fit the budget either (else the run stays in memory,
# sharded): 20000 IDX images of 8x8 pixels, 40000 CSV rows.  One process
# and 2, 3, 4 ranks, 2100 updates of 20 (windows of a few hundred samples:
# batches straddle them, and passes): the same bytes and --log rows.
# sharded NAME BUDGET WHAT
sharded() {
	"$tmp/$1" --chunks 12 --threads 1 --batch 20 --iterations 2100 --max-memory "$2" \
		--eval-every 500 --eval-test --log "$tmp/$1.hlog" --save "$tmp/$1.href" \
		>"$tmp/out" 2>&1 || fail "$3 streamed, one process: $(cat "$tmp/out")"
	nosecs "$tmp/$1.hlog" >"$tmp/$1.hrows"
	for n in $shard_ranks; do
		mpirun --oversubscribe -np $n "$tmp/$1-mpi" --shard --threads 1 --batch 20 \
			--iterations 2100 --max-memory "$2" --eval-every 500 --eval-test --json \
			--log "$tmp/$1.hlog$n" --save "$tmp/$1.h$n" >"$tmp/out" 2>"$tmp/err" ||
			fail "$3 streamed, $n ranks sharded: $(cat "$tmp/out" "$tmp/err")"
		# (the JSON alone: mpirun may cut a long line where stderr's come in)
		grep -Eq '"streamed": true, "window": [0-9]+, "windows": [0-9]{2,}, .*"sharded": true' \
			"$tmp/out" || fail "$3, $n ranks with --shard: not streamed in windows and sharded: $(cat "$tmp/out" "$tmp/err")"
		cmp -s "$tmp/$1.href" "$tmp/$1.h$n" ||
			fail "$3 streamed, sharded: the weight file of $n ranks differs from one process's"
		nosecs "$tmp/$1.hlog$n" | cmp -s "$tmp/$1.hrows" - ||
			fail "$3 streamed, sharded: the --log of $n ranks differs from one process's"
	done
	say "$3 streamed and sharded (each rank reads its part of each window): ranks $shard_ranks write the bytes and --log rows of one process"
}
mkdir "$tmp/idx2"
"$tmp/idxgen" "$tmp/idx2" 20000 90 8 8 3 || fail "cannot write the IDX data"
sed -e 's/^network: c$/network: g/' -e 's/^input: 6$/input: 64/' -e "s|dir: $tmp/idx\$|dir: $tmp/idx2|" \
	"$tmp/c.yaml" >"$tmp/g.yaml"
build g
sharded g 260K IDX
# gzip'd (20000 images of 28x28: 15.7 MB of data), streamed and shuffled
# with its index of access points (docs/trainer.md#a-gzipd-training-file):
# each rank inflates its part of each window from the point before it, and
# the bytes are one process's.  The plain pass only: the index's memory
# errors are check_idx's and fuzz_gzseek's hunt under the sanitizers (and
# csvstream.sh's gzip'd CSV with its index), and this set is large.
if [ -z "$san" ]; then
	mkdir "$tmp/idx3"
	"$tmp/idxgen" "$tmp/idx3" 20000 90 28 28 3 && gzip "$tmp"/idx3/* ||
		fail "cannot write the gzip'd data"
	sed -e 's/^network: c$/network: h/' -e 's/^input: 6$/input: 784/' \
		-e "s|dir: $tmp/idx\$|dir: $tmp/idx3|" "$tmp/c.yaml" >"$tmp/h.yaml"
	build h
	sharded h 6M IDX-gzip
	grep -q '"gz_points": [1-9]' "$tmp/out" ||
		fail "IDX-gzip: no index of access points: $(cat "$tmp/out")"
else
	say "IDX-gzip streamed and sharded: the plain pass's (a sanitizer build)"
fi
# The evaluations' indexes (docs/trainer.md#a-gzipd-training-file): under
# MPI each rank evaluates its tiles of a set, and a gzip'd file streamed for
# it gets an index of access points, so that the rank inflates its tiles
# from the point before them: the training file in file order (the stream
# has no index then) and a test file too large to hold.  20000 + 20000
# images of 8x8 (1.3 MB of data each) here, 40000 + 40000 CSV rows (2.2
# MB) below: one process and 2, 3 ranks, the same weights and --log rows
# (the training loss and test accuracy at each evaluation).
# evalindex NAME BUDGET WHAT
evalindex() {
	"$tmp/$1" --chunks 12 --threads 1 --batch 20 --iterations 600 --max-memory "$2" \
		--no-shuffle --eval-every 200 --eval-test --log "$tmp/$1.elog" --save "$tmp/$1.eref" \
		>"$tmp/out" 2>&1 || fail "$3 streamed, one process: $(cat "$tmp/out")"
	nosecs "$tmp/$1.elog" >"$tmp/$1.erows"
	for n in $few_ranks; do
		mpirun --oversubscribe -np $n "$tmp/$1-mpi" --threads 1 --batch 20 --iterations 600 \
			--max-memory "$2" --no-shuffle --eval-every 200 --eval-test --json \
			--log "$tmp/$1.elog$n" --save "$tmp/$1.e$n" >"$tmp/out" 2>"$tmp/err" ||
			fail "$3 streamed, $n ranks: $(cat "$tmp/out" "$tmp/err")"
		grep -Eq '"gz_points": 0, "gz_index": 0, "eval_gz_points": ([4-9]|[1-9][0-9]+), "eval_gz_index": [1-9][0-9]+, "test_gz_points": ([4-9]|[1-9][0-9]+), ' \
			"$tmp/out" || fail "$3, $n ranks: not an index for each set's evaluations: $(cat "$tmp/out")"
		cmp -s "$tmp/$1.eref" "$tmp/$1.e$n" ||
			fail "$3 evaluated through indexes: the weight file of $n ranks differs from one process's"
		nosecs "$tmp/$1.elog$n" | cmp -s "$tmp/$1.erows" - ||
			fail "$3 evaluated through indexes: the --log of $n ranks differs from one process's"
	done
	say "$3 gzip'd, the sets' evaluations through indexes: ranks $few_ranks write the bytes and --log rows of one process"
}
mkdir "$tmp/idx4"
"$tmp/idxgen" "$tmp/idx4" 20000 20000 8 8 3 && gzip "$tmp"/idx4/* ||
	fail "cannot write the gzip'd IDX data"
sed -e 's/^network: g$/network: e/' -e "s|dir: $tmp/idx2\$|dir: $tmp/idx4|" \
	"$tmp/g.yaml" >"$tmp/e.yaml"
build e
evalindex e 8M IDX
# What the indexes save: rank 1 of 2 reads, for each evaluation past the
# first ones, under 3/4 of the two gzip'd files (without them, all of both:
# its tiles are the files' second half, inflated from the start).  The
# shell that ran rank RCHAR_RANK (default 0) counts in /proc/PID/io's rchar what
# the trainer it waited for read; two runs, the evaluations counted by
# their --log rows, take out what does not depend on them.
cat >"$tmp/rchar.sh" <<'EOF'
"$@" >/dev/null 2>&1 || exit
[ "$OMPI_COMM_WORLD_RANK" != "${RCHAR_RANK:-0}" ] || sed -n 's/^rchar: //p' "/proc/$$/io" >"${RCHAR:?}"
EOF
for every in 600 100; do
	RCHAR_RANK=1 RCHAR="$tmp/rchar.$every" mpirun --oversubscribe -x RCHAR_RANK -x RCHAR -np 2 sh \
		"$tmp/rchar.sh" "$tmp/e-mpi" --threads 1 --batch 20 --iterations 600 --max-memory 8M \
		--no-shuffle --eval-every $every --eval-test --log "$tmp/e.rlog$every" >"$tmp/out" 2>&1 ||
		fail "IDX gzip'd, 2 ranks, --eval-every $every: $(cat "$tmp/out")"
done
evals=$(($(wc -l <"$tmp/e.rlog100") - $(wc -l <"$tmp/e.rlog600")))
files=$(($(wc -c <"$tmp/idx4/train-images-idx3-ubyte.gz") + $(wc -c <"$tmp/idx4/t10k-images-idx3-ubyte.gz")))
each=$((($(cat "$tmp/rchar.100") - $(cat "$tmp/rchar.600")) / evals))
[ "$evals" -ge 3 ] && [ "$each" -lt $((files * 3 / 4)) ] ||
	fail "IDX gzip'd, 2 ranks: rank 1 read $each bytes an evaluation ($evals more), not under 3/4 of the files' $files"
say "IDX gzip'd, 2 ranks: rank 1 reads $each bytes an evaluation, $((each * 100 / files)) % of the two files"
# Ranks sharing each step (--chunks 0) split the evaluations as well: rank 1
# reads its tiles alone (every rank read both files whole each time before).
for every in 600 100; do
	RCHAR_RANK=1 RCHAR="$tmp/rchar0.$every" mpirun --oversubscribe -x RCHAR_RANK -x RCHAR -np 2 \
		sh "$tmp/rchar.sh" "$tmp/e-mpi" --chunks 0 --threads 1 --batch 8 --iterations 600 \
		--max-memory 8M --no-shuffle --eval-every $every --eval-test --log "$tmp/e.r0log$every" \
		>"$tmp/out" 2>&1 || fail "IDX gzip'd, 2 ranks sharing the step, --eval-every $every: $(cat "$tmp/out")"
done
evals=$(($(wc -l <"$tmp/e.r0log100") - $(wc -l <"$tmp/e.r0log600")))
each=$((($(cat "$tmp/rchar0.100") - $(cat "$tmp/rchar0.600")) / evals))
[ "$evals" -ge 3 ] && [ "$each" -lt $((files * 3 / 4)) ] ||
	fail "IDX gzip'd, 2 ranks sharing the step: rank 1 read $each bytes an evaluation ($evals more), not under 3/4 of the files' $files"
say "IDX gzip'd, 2 ranks sharing the step: rank 1 reads $each bytes an evaluation, $((each * 100 / files)) % of the two files"
# A run that evaluates each set once (no --eval-every, --log or --plot)
# plans no index (its one evaluation would only record the points); with
# --train-limit the training file's is sized from the samples evaluated.
mpirun --oversubscribe -np 2 "$tmp/e-mpi" --threads 1 --batch 20 --iterations 20 \
	--max-memory 8M --no-shuffle --eval-test --json >"$tmp/out" 2>&1 ||
	fail "IDX gzip'd, 2 ranks, evaluated once: $(cat "$tmp/out")"
grep -q '"eval_gz_points": 0, "eval_gz_index": 0, "test_gz_points": 0, "test_gz_index": 0' \
	"$tmp/out" || fail "IDX gzip'd, 2 ranks, each set evaluated once: an index planned: $(cat "$tmp/out")"
for limit in 20000 5000; do
	mpirun --oversubscribe -np 2 "$tmp/e-mpi" --threads 1 --batch 20 --iterations 20 \
		--max-memory 8M --no-shuffle --eval-every 10 --train-limit $limit --json >"$tmp/out" 2>&1 ||
		fail "IDX gzip'd, 2 ranks, --train-limit $limit: $(cat "$tmp/out")"
	sed -n 's/.*"eval_gz_points": \([0-9]*\),.*/\1/p' "$tmp/out" >"$tmp/points.$limit"
done
[ "$(cat "$tmp/points.5000")" -ge 4 ] && [ "$(cat "$tmp/points.5000")" -lt "$(cat "$tmp/points.20000")" ] ||
	fail "IDX gzip'd, --train-limit 5000: $(cat "$tmp/points.5000") points, 20000: $(cat "$tmp/points.20000")"
say "IDX gzip'd, 2 ranks: no index for one evaluation; $(cat "$tmp/points.5000") points for 5000 samples evaluated, $(cat "$tmp/points.20000") for 20000"
# Saved by 4 sharded ranks mid-pass, resumed by 3: the continuous run's bytes.
mpirun --oversubscribe -np 4 "$tmp/g-mpi" --shard --threads 1 --quiet --batch 20 \
	--iterations 1000 --max-memory 260K --save "$tmp/g.ck4" >"$tmp/out" 2>&1 ||
	fail "IDX streamed, 4 ranks sharded, 1000 updates: $(cat "$tmp/out")"
mpirun --oversubscribe -np 3 "$tmp/g-mpi" --shard --threads 1 --quiet --resume "$tmp/g.ck4" \
	--batch 20 --iterations 1100 --max-memory 260K --save "$tmp/g.ck43" >"$tmp/out" 2>&1 ||
	fail "IDX streamed, resumed on 3 ranks sharded: $(cat "$tmp/out")"
cmp -s "$tmp/g.href" "$tmp/g.ck43" ||
	fail "IDX streamed and sharded, saved by 4 ranks and resumed by 3: not the bits of the run without a stop"
say "IDX streamed and sharded, saved by 4 ranks and resumed by 3: the same bytes"
# Pre-training streamed and sharded: its stream is shared as training's
# (each rank reads its part of each of pre-training's windows, a batch's
# samples exchanged): 2 to 4 ranks write one process's bytes.
sed -e 's/^network: g$/network: gp/' "$tmp/g.yaml" >"$tmp/gp.yaml"
printf 'pretrain:\n  epochs: 1\n  learning_rate: 0.05\n  batch_size: 16\n  loss: squared_error\n  tied: true\n' \
	>>"$tmp/gp.yaml"
build gp
"$tmp/gp" --chunks 12 --threads 1 --batch 20 --iterations 50 --max-memory 500K \
	--save "$tmp/gp.ref" >"$tmp/out" 2>&1 || fail "gp streamed, one process: $(cat "$tmp/out")"
grep -Eq "pre-training reads its 20000 samples in [0-9]{2,} windows" "$tmp/out" ||
	fail "gp: pre-training does not stream in windows at 500K: $(cat "$tmp/out")"
for n in $shard_ranks; do
	mpirun --oversubscribe -np $n "$tmp/gp-mpi" --shard --threads 1 --batch 20 --iterations 50 \
		--max-memory 500K --save "$tmp/gp.$n" >"$tmp/out" 2>&1 ||
		fail "gp streamed, $n ranks sharded: $(cat "$tmp/out")"
	grep -Eq "pre-training reads its 20000 samples in [0-9]+ windows of [0-9]+ samples, each rank its part of each" \
		"$tmp/out" || fail "gp, $n ranks with --shard: pre-training's stream not shared: $(cat "$tmp/out")"
	cmp -s "$tmp/gp.ref" "$tmp/gp.$n" ||
		fail "gp streamed and sharded: the weight file of $n ranks (pre-trained) differs from one process's"
done
say "pre-training streamed and sharded (each rank reads its part of each window): ranks $shard_ranks write the bytes of one process"
# In file order a sharded rank reads only its chunks' samples, and
# pre-training's stream (shuffled) is shared all the same.
"$tmp/gp" --chunks 12 --threads 1 --batch 20 --iterations 50 --max-memory 500K --no-shuffle \
	--save "$tmp/gp.fref" >"$tmp/out" 2>&1 || fail "gp streamed in file order, one process: $(cat "$tmp/out")"
for n in $few_ranks; do
	mpirun --oversubscribe -np $n "$tmp/gp-mpi" --shard --threads 1 --batch 20 --iterations 50 \
		--max-memory 500K --no-shuffle --save "$tmp/gp.f$n" >"$tmp/out" 2>&1 ||
		fail "gp streamed in file order, $n ranks sharded: $(cat "$tmp/out")"
	grep -Eq "pre-training reads its 20000 samples in [0-9]+ windows of [0-9]+ samples, each rank its part of each" \
		"$tmp/out" || fail "gp in file order, $n ranks with --shard: pre-training's stream not shared: $(cat "$tmp/out")"
	cmp -s "$tmp/gp.fref" "$tmp/gp.f$n" ||
		fail "gp streamed in file order and sharded: the weight file of $n ranks (pre-trained) differs from one process's"
done
say "pre-training streamed and sharded in file order (its stream shared): ranks $few_ranks write the bytes of one process"
# A budget the exchange does not fit beside the window's part: not sharded
# (each rank reads whole windows, as without --shard), and it says so.
mpirun --oversubscribe -np 2 "$tmp/g-mpi" --shard --threads 1 --batch 20 --iterations 30 \
	--max-memory 140K --json >"$tmp/out" 2>"$tmp/err" || fail "IDX streamed in 140K on 2 ranks: $(cat "$tmp/out" "$tmp/err")"
grep -q '"streamed": true, .*"sharded": false' "$tmp/out" &&
	grep -q "memory: --shard: not sharded: a batch's exchange does not fit the budget" "$tmp/err" ||
	fail "IDX streamed in 140K, --shard: not refused with the reason: $(cat "$tmp/out" "$tmp/err")"
mkdir "$tmp/csv2"
gen 40000 7 >"$tmp/csv2/train.csv"
cp "$tmp/test.csv" "$tmp/csv2/test.csv"
sed -e 's/^network: a$/network: k/' -e "s|dir: $tmp\$|dir: $tmp/csv2|" "$tmp/a.yaml" >"$tmp/k.yaml"
build k
sharded k 260K CSV
mkdir "$tmp/csv4"
gen 40000 7 | gzip >"$tmp/csv4/train.csv.gz" && gen 40000 8 | gzip >"$tmp/csv4/test.csv.gz" ||
	fail "cannot write the gzip'd CSV data"
sed -e 's/^network: k$/network: kz/' -e "s|dir: $tmp/csv2\$|dir: $tmp/csv4|" \
	-e 's/train: train.csv$/train: train.csv.gz/' -e 's/test: test.csv$/test: test.csv.gz/' \
	"$tmp/k.yaml" >"$tmp/kz.yaml"
build kz
evalindex kz 5M CSV
# In memory and sharded, rank 0 scans the CSV files for all and keeps their
# rows while they fit the budget: the statistics' two passes and its share
# come from them, so it reads each file once (it read the training file
# 3.5 times: the scan, the passes, its share).  The shell that ran rank 0
# counts in /proc/PID/io's rchar what the trainer it waited for read
# (rchar.sh, above).
"$tmp/k" --chunks 12 --threads 1 --batch 20 --iterations 300 --save "$tmp/k.mref" \
	>"$tmp/out" 2>&1 || fail "CSV in memory, one process: $(cat "$tmp/out")"
RCHAR="$tmp/rchar" mpirun --oversubscribe -x RCHAR -np 2 sh "$tmp/rchar.sh" "$tmp/k-mpi" --shard \
	--threads 1 --batch 20 --iterations 300 --save "$tmp/k.m2" >"$tmp/out" 2>&1 ||
	fail "CSV in memory, 2 ranks sharded: $(cat "$tmp/out")"
cmp -s "$tmp/k.mref" "$tmp/k.m2" || fail "CSV in memory, 2 ranks sharded: not the bytes of one process"
files=$(($(wc -c <"$tmp/csv2/train.csv") + $(wc -c <"$tmp/csv2/test.csv")))
[ -s "$tmp/rchar" ] && [ "$(cat "$tmp/rchar")" -lt $((files + files / 2)) ] ||
	fail "CSV in memory, sharded: rank 0 read $(cat "$tmp/rchar") bytes, not the files' $files once"
say "CSV in memory, sharded: rank 0 reads the files once ($(cat "$tmp/rchar") bytes for $files), the bytes of one process"
# Regression (targets travel as reals; standardize_features' statistics).
sed -e 's/^network: r$/network: q/' -e "s|dir: $tmp\$|dir: $tmp/csv2|" "$tmp/r.yaml" >"$tmp/q.yaml"
build q
sharded q 260K "CSV regression"

# What --chunks cannot do: fewer chunks than ranks; none on ranks of two
# machines (NNCC_MPI_MACHINES=2: they share no memory for the step).
for bad in "1 3 --chunks 2|fewer than the 3 ranks" \
	"2 2 --chunks 0|--chunks 0 on 2 ranks shares each step among them, but its ranks are not all on one machine"; do
	args=${bad%%|*} want=${bad#*|}
	# shellcheck disable=SC2086
	set -- $args
	machines=$1 np=$2
	shift 2
	if mpirun --oversubscribe -np "$np" -x NNCC_MPI_MACHINES="$machines" "$tmp/a-mpi" --threads 1 \
		--quiet "$@" >"$tmp/out" 2>&1; then
		fail "-np $np $*: accepted"
	fi
	grep -q -e "$want" "$tmp/out" || fail "-np $np $*: no '$want' in: $(cat "$tmp/out")"
done
say "refused: fewer chunks than ranks, --chunks 0 on ranks of two machines"

# rank_pid N [PROGRAM]: the pid of rank N of the running job of PROGRAM
# (default a-mpi; Open MPI puts OMPI_COMM_WORLD_RANK in each rank's
# environment), waiting up to 10 s.
rank_pid() {
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		for p in $(pgrep -f "^$tmp/${2:-a-mpi}" || true); do
			if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then
				echo "$p"
				return 0
			fi
		done
		sleep 0.5
	done
	return 1
}

# ends JOB WHAT: the job ends within 30 s of WHAT and exits non-zero.
ends() {
	waited=0
	while kill -0 "$1" 2>/dev/null; do
		sleep 1
		waited=$((waited + 1))
		[ "$waited" -lt 30 ] || {
			kill "$1" 2>/dev/null
			fail "the job still runs 30 s after $2"
		}
	done
	if wait "$1"; then fail "the job exited 0 after $2"; fi
}

# stopped JOB RANK PROGRAM WHAT: SIGSTOP to rank RANK of the job (of
# PROGRAM), then the job must end (ends); the rank is killed after.
stopped() {
	victim=$(rank_pid "$2" "$3") || fail "rank $2 of $4 did not start"
	sleep 1
	kill -STOP "$victim"
	ends "$1" "rank $2 of $4 was stopped"
	kill -9 "$victim" 2>/dev/null || true
}

# A rank killed mid-run: mpirun ends the job and names it.
mpirun --oversubscribe -np 2 "$tmp/a-mpi" --threads 1 --quiet --iterations 100000000 \
	--batch 100 >"$tmp/out" 2>&1 &
job=$!
victim=$(rank_pid 1) || fail "rank 1 of the killed-rank run did not start"
sleep 1
kill -9 "$victim"
ends "$job" "rank 1 was killed"
grep -q "rank 1" "$tmp/out" || fail "rank 1 is not named after it was killed: $(cat "$tmp/out")"
say "a killed rank ends the job in ${waited} s: $(grep -m 1 "rank 1" "$tmp/out")"

# A rank that hangs (stopped): the others' exchange times out, rank 0 names it.
mpirun --oversubscribe -np 2 "$tmp/a-mpi" --threads 1 --quiet --iterations 100000000 \
	--batch 100 --mpi-timeout 3 >"$tmp/out" 2>&1 &
job=$!
stopped "$job" 1 a-mpi "the hung-rank run"
# Stopped outside an exchange, or inside one it had reached (rare).
grep -Eq "rank 1 of 2 (did not reach|reached) MPI_[A-Za-z]* .*within 3 s" "$tmp/out" ||
	fail "rank 0 does not name the stopped rank 1: $(cat "$tmp/out")"
say "a stopped rank ends the job in ${waited} s: $(grep -m 1 "rank 1 of 2" "$tmp/out")"

# Sharing the step (--chunks 0): a stopped rank is named too, by the
# shared step's meeting point (or by the signal agreement's MPI_Allreduce).
mpirun --oversubscribe -np 2 "$tmp/a-mpi" --chunks 0 --threads 1 --quiet \
	--iterations 100000000 --batch 8 --mpi-timeout 3 >"$tmp/out" 2>&1 &
job=$!
stopped "$job" 1 a-mpi "the hung shared-step run"
grep -Eq "rank 1 of 2 (did not reach|reached) (MPI_[A-Za-z]*|the shared step's meeting point) .*within 3 s" \
	"$tmp/out" || fail "rank 0 does not name the stopped rank 1 sharing the step: $(cat "$tmp/out")"
say "a stopped rank sharing the step ends the job in ${waited} s: $(grep -m 1 "rank 1 of 2" "$tmp/out")"

# Rank 0 stopped: rank 1's exchange times out and it names rank 0.
mpirun --oversubscribe -np 2 "$tmp/a-mpi" --threads 1 --quiet --iterations 100000000 \
	--batch 100 --mpi-timeout 3 >"$tmp/out" 2>&1 &
job=$!
stopped "$job" 0 a-mpi "the hung-rank-0 run"
grep -Eq "rank 0 of 2 (did not reach|reached) MPI_[A-Za-z]* .*within 3 s" "$tmp/out" ||
	fail "rank 1 does not name the stopped rank 0: $(cat "$tmp/out")"
say "a stopped rank 0 ends the job in ${waited} s: $(grep -m 1 "rank 0 of 2" "$tmp/out")"

# Pre-training is data-parallel too: each autoencoder's batches are cut
# into the same chunks, its gradient sums added along the same tree (tied
# weights, noise keyed by a sample's place in the batch, momentum): 1 to 4
# ranks write the bytes of one process with --chunks 12; so do 2 to 4
# sharded ranks (a pre-training batch's samples exchanged as a training
# batch's).
sed -e 's/^network: a$/network: q/' "$tmp/a.yaml" >"$tmp/q.yaml"
printf 'pretrain:\n  epochs: 2\n  learning_rate: 0.05\n  batch_size: 8\n  optimizer: momentum\n  momentum: 0.9\n  loss: squared_error\n  noise: 0.2\n  tied: true\n' \
	>>"$tmp/q.yaml"
build q
"$tmp/q" --chunks 12 --threads 1 --quiet --save "$tmp/q.ref" >"$tmp/out" ||
	fail "q: one process failed: $(cat "$tmp/out")"
"$tmp/q" --chunks 12 --threads 1 --quiet --save "$tmp/q.nopre" --pretrain-epochs 0 >"$tmp/out" ||
	fail "q: one process with --pretrain-epochs 0 failed: $(cat "$tmp/out")"
cmp -s "$tmp/q.ref" "$tmp/q.nopre" && fail "q: pre-training changed nothing"
for n in $ranks; do
	mpirun --oversubscribe -np $n "$tmp/q-mpi" --threads 1 --save "$tmp/q.$n" >"$tmp/out" 2>&1 ||
		fail "q: $n ranks failed: $(cat "$tmp/out")"
	cmp -s "$tmp/q.ref" "$tmp/q.$n" ||
		fail "q: the weight file of $n ranks (pre-trained) differs from one process's"
done
grep -q "pretrain 1/1 layer .*epoch 2/2" "$tmp/out" ||
	fail "q: no pre-training lines on 4 ranks: $(cat "$tmp/out")"
for n in $shard_ranks; do
	mpirun --oversubscribe -np $n "$tmp/q-mpi" --shard --threads 1 --save "$tmp/q.s$n" \
		>"$tmp/out" 2>&1 || fail "q: $n ranks sharded failed: $(cat "$tmp/out")"
	grep -q "^memory .*, in memory, sharded: each of the $n ranks" "$tmp/out" ||
		fail "q: $n ranks with --shard: not sharded: $(cat "$tmp/out")"
	cmp -s "$tmp/q.ref" "$tmp/q.s$n" ||
		fail "q: the weight file of $n ranks sharded (pre-trained) differs from one process's"
done
say "pre-training: ranks $ranks, and ranks $shard_ranks sharded, write the bytes of one process"
# --chunks 0: every rank pre-trains alone (one process's bits), then they
# share the training's steps.
"$tmp/q" --threads 1 --quiet --save "$tmp/q.c0" >"$tmp/out" ||
	fail "q: one process without chunks failed: $(cat "$tmp/out")"
for n in $few_ranks; do
	mpirun --oversubscribe -np $n "$tmp/q-mpi" --chunks 0 --threads 1 --quiet \
		--save "$tmp/q.c0.$n" >"$tmp/out" 2>&1 || fail "q: $n ranks, --chunks 0: $(cat "$tmp/out")"
	cmp -s "$tmp/q.c0" "$tmp/q.c0.$n" ||
		fail "q: the weight file of $n ranks sharing the steps (pre-trained) differs from one process's"
done
say "pre-training, then the ranks sharing the steps (--chunks 0): ranks $few_ranks write the bytes of one process"

# SIGINT to one rank during pre-training (whose ranks agree on signals
# every 64 steps, not at every exchange): both stop in the same pass and
# end as one process does (nothing written before the first update); no
# rank waits for the others to time out.
sed -e 's/^network: a$/network: p/' -e '/type: dropout/d' "$tmp/a.yaml" >"$tmp/p.yaml"
printf 'pretrain:\n  epochs: 1000000\n  learning_rate: 0.01\n  batch_size: 8\n  loss: squared_error\n' \
	>>"$tmp/p.yaml"
"$NNCC" "$tmp/p.yaml" -o "$tmp/p.c" || fail "nncc p.yaml failed"
# shellcheck disable=SC2046
mpicc -O2 "$tmp/p.c" $("$NNCC" --cflags --mpi) $("$NNCC" --libs --mpi) -o "$tmp/p-mpi" ||
	fail "p-mpi does not build"
# Pre-training's batches (8) chunked by the default 12: the note names them
# when they are smaller than the training's (200).
mpirun --oversubscribe -np 2 "$tmp/p-mpi" --threads 1 --batch 200 --iterations 2 \
	--pretrain-epochs 1 >"$tmp/out" 2>&1 || fail "p-mpi, one pre-training pass: $(cat "$tmp/out")"
[ "$(grep -c "note: pre-training's batches of 8 in 12 chunks, 0-1 samples each: .* --chunks 2 (one a rank) is faster" \
	"$tmp/out")" = 1 ] || fail "2 ranks, pre-training's batch 8: not one note on its chunks: $(cat "$tmp/out")"
say "pre-training's batches of 8 in 12 chunks: rank 0 notes that --chunks 2 is faster"
mpirun --oversubscribe -np 2 "$tmp/p-mpi" --threads 1 --quiet --mpi-timeout 3 \
	>"$tmp/out" 2>&1 &
job=$!
victim=$(rank_pid 1 p-mpi) || fail "rank 1 of the pre-training run did not start"
sleep 1
kill -INT "$victim"
ends "$job" "rank 1 got SIGINT in pre-training"
grep -q "within 3 s" "$tmp/out" && fail "a rank timed out after SIGINT in pre-training: $(cat "$tmp/out")"
[ "$(grep "pre-training stopped in layer" "$tmp/out" | sort -u | wc -l)" = 1 ] &&
	[ "$(grep -c "pre-training stopped in layer" "$tmp/out")" = 2 ] ||
	fail "the 2 ranks did not stop pre-training at the same place: $(cat "$tmp/out")"
grep -q "interrupted by SIGINT after 0 of 30 iterations; nothing written" "$tmp/out" ||
	fail "the run did not end as interrupted: $(cat "$tmp/out")"
say "SIGINT to rank 1 in pre-training: both ranks stop in the same pass, in ${waited} s"
# Rank 1 stopped in pre-training: rank 0's exchange of a step's gradients
# times out and names it, with the layer and step (or, at a step where the
# ranks agree on signals, that MPI_Allreduce does).
mpirun --oversubscribe -np 2 "$tmp/p-mpi" --threads 1 --quiet --mpi-timeout 3 >"$tmp/out" 2>&1 &
job=$!
stopped "$job" 1 p-mpi "the stopped pre-training run"
grep -Eq 'error: pre-training, layer "layer1", step [0-9]+: rank 1 of 2 (did not reach|reached) MPI_[A-Za-z]* .*within 3 s|rank 1 of 2 (did not reach|reached) MPI_Allreduce .*within 3 s' \
	"$tmp/out" || fail "rank 0 does not name rank 1 stopped in pre-training: $(cat "$tmp/out")"
say "a stopped rank in pre-training ends the job in ${waited} s: $(grep -m 1 "rank 1 of 2" "$tmp/out")"
# --shard with --pretrain-unlabeled (samples no rank holds): refused,
# saying why and what to do.
mpirun --oversubscribe -np 2 "$tmp/p-mpi" --shard --pretrain-unlabeled --train-limit 200 \
	--threads 1 --quiet >"$tmp/out" 2>&1 &&
	fail "--shard with --pretrain-unlabeled: no error: $(cat "$tmp/out")"
grep -q "error: --shard: pre-training with --pretrain-unlabeled reads" "$tmp/out" ||
	fail "--shard with --pretrain-unlabeled: not the error expected: $(cat "$tmp/out")"
say "--shard with --pretrain-unlabeled: $(grep -m 1 -o 'error: --shard.*' "$tmp/out")"
