#!/bin/sh
# blobs.sh - end to end without MNIST: writes a seeded 3-class data set of
# separable "blobs" (20 pixels, IDX files), compiles a small YAML network with
# nncc, builds the trainer against libnncc.a with -Werror, trains it, and
# checks through the --json line that the training loss falls well below its
# starting value and the test accuracy is high.  Twice: mini-batches of one
# tile, and full batch (600 samples = many tiles accumulated per update).
# Run from the top directory (tests/run.sh); uses $NNCC and $CC.
set -eu
NNCC=${NNCC:-build/nncc}
CC=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nncc-e2e-blobs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "blobs: FAIL: $*" >&2
	exit 1
}

# The data: class c is bright on pixels 6c..6c+5 and dim elsewhere, plus noise
# from a fixed LCG, so a linear layer separates the classes.
cat > "$tmp/gen.c" <<'GEN'
#include <stdio.h>
#include <stdint.h>
static uint32_t state = 12345;
static unsigned noise(void) { state = state * 1664525u + 1013904223u; return state >> 26; }
static void be32(FILE *f, uint32_t v)
{
	fputc((int)(v >> 24), f); fputc((int)(v >> 16 & 255), f);
	fputc((int)(v >> 8 & 255), f); fputc((int)(v & 255), f);
}
static int write_set(const char *images, const char *labels, unsigned n)
{
	FILE *fi = fopen(images, "wb"), *fl = fopen(labels, "wb");
	if (!fi || !fl) return 1;
	be32(fi, 0x803); be32(fi, n); be32(fi, 4); be32(fi, 5);
	be32(fl, 0x801); be32(fl, n);
	for (unsigned s = 0; s < n; s++) {
		unsigned c = s % 3;
		for (unsigned p = 0; p < 20; p++)
			fputc((int)((p / 6 == c ? 180 : 40) + noise()), fi);
		fputc((int)c, fl);
	}
	return fclose(fi) | fclose(fl);
}
int main(int argc, char **argv)
{
	char a[4096], b[4096];
	if (argc != 2) return 2;
	snprintf(a, sizeof a, "%s/train-images-idx3-ubyte", argv[1]);
	snprintf(b, sizeof b, "%s/train-labels-idx1-ubyte", argv[1]);
	if (write_set(a, b, 600)) return 1;
	snprintf(a, sizeof a, "%s/t10k-images-idx3-ubyte", argv[1]);
	snprintf(b, sizeof b, "%s/t10k-labels-idx1-ubyte", argv[1]);
	return write_set(a, b, 300);
}
GEN
mkdir "$tmp/data"
$CC -std=c99 -O2 "$tmp/gen.c" -o "$tmp/gen" || fail "cannot build the data generator"
"$tmp/gen" "$tmp/data" || fail "cannot write the data set"

cat > "$tmp/blobs.yaml" <<'YAML'
network: blobs
input: 20
layers:
  - {name: hidden, type: dense, units: 8, activation: tanh}
  - {name: out, type: dense, units: 3, activation: linear}
  - {type: softmax}
training:
  learning_rate: 0.5
  batch_size: 10
  iterations: 600
  seed: 7
  shuffle: true
  init: {distribution: normal, scale: 0.1}
data:
  normalize: scale
YAML

"$NNCC" "$tmp/blobs.yaml" -o "$tmp/blobs.c" || fail "nncc failed"
# shellcheck disable=SC2046
$CC -O2 -std=c99 -Wall -Wextra -pedantic -Werror "$tmp/blobs.c" $("$NNCC" --cflags) \
	$("$NNCC" --libs) -o "$tmp/blobs" || fail "the generated trainer does not build"

# field NAME: the value of "NAME" in the JSON line in $tmp/out.
field() {
	v=$(tail -n 1 "$tmp/out" | sed -n "s/.*\"$1\": \([^,}]*\).*/\1/p")
	[ -n "$v" ] || fail "no \"$1\" in: $(tail -n 1 "$tmp/out")"
	echo "$v"
}

"$tmp/blobs" --data "$tmp/data" --iterations 0 --json --quiet > "$tmp/out" ||
	fail "evaluation run failed"
loss0=$(field train_loss)

for batch in 10 full; do
	iters=600
	[ "$batch" = full ] && iters=150
	"$tmp/blobs" --data "$tmp/data" --batch "$batch" --iterations "$iters" --json --quiet \
		> "$tmp/out" || fail "training (batch $batch) failed"
	loss=$(field train_loss)
	acc=$(field test_accuracy)
	echo "blobs: batch $batch: train loss $loss0 -> $loss, test accuracy $acc"
	awk -v a="$loss0" -v b="$loss" 'BEGIN { exit !(b < a / 5) }' ||
		fail "batch $batch: the loss did not fall enough ($loss0 -> $loss)"
	awk -v a="$acc" 'BEGIN { exit !(a >= 0.97) }' ||
		fail "batch $batch: test accuracy $acc < 0.97"
done
echo "blobs: ok"
