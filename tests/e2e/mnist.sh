#!/bin/sh
# mnist.sh - the reference softmax-regression experiment on real MNIST:
# examples/softmax.yaml as written (full batch, 100 iterations) must reach
# >= 0.90 test accuracy (reference: 90.52%).  Needs data/mnist (`make data`);
# without it the test prints SKIPPED and exits 77, which is not a pass.
# Run from the top directory (tests/run.sh); uses $NNCC and $CC.
set -eu
NNCC=${NNCC:-build/nncc}
CC=${CC:-cc}
if [ ! -f data/mnist/train-images-idx3-ubyte ] && [ ! -f data/mnist/train-images-idx3-ubyte.gz ]; then
	echo "mnist: SKIPPED: no data/mnist (run 'make data')"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nncc-e2e-mnist.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "mnist: FAIL: $*" >&2
	exit 1
}

"$NNCC" examples/softmax.yaml -o "$tmp/softmax.c" || fail "nncc failed"
# shellcheck disable=SC2046
$CC -O2 "$tmp/softmax.c" $("$NNCC" --cflags) $("$NNCC" --libs) -o "$tmp/softmax" ||
	fail "the generated trainer does not build"
"$tmp/softmax" --data data/mnist --json --quiet > "$tmp/out" || fail "training failed"
acc=$(tail -n 1 "$tmp/out" | sed -n 's/.*"test_accuracy": \([^,}]*\).*/\1/p')
[ -n "$acc" ] || fail "no test_accuracy in: $(tail -n 1 "$tmp/out")"
echo "mnist: examples/softmax.yaml: test accuracy $acc"
awk -v a="$acc" 'BEGIN { exit !(a >= 0.90) }' || fail "test accuracy $acc < 0.90"
echo "mnist: ok"
