#!/bin/sh
# personalise.sh - the on-device fine-tuning experiment (issue 13), run by
# `make results` (tools/results.sh) and written up in docs/embedding.md:
# examples/sgd20.yaml trained on MNIST as the recipe says (seed 1), exported
# with --trainable all, last and bias, then, on a shifted domain (digits
# inverted, or turned 90 degrees), fine-tuned with NAME_train_step_u8 on the
# first 100 or 500 shifted training images (5 passes, one step per sample)
# at three rates; accuracy on the 10000 test images, shifted and as they
# are, before and after (tools/personalise.c).  Prints a Markdown table on
# stdout.  Needs data/mnist; B (build), CC (cc), OUT ($B/personalise).
set -eu
B=${B:-build}
CC=${CC:-cc}
OUT=${OUT:-$B/personalise}
NNCC=$B/nncc
mkdir -p "$OUT"
[ -f data/mnist/train-images-idx3-ubyte ] || {
	echo "personalise: data/mnist is missing; run 'make data' first" >&2
	exit 1
}

"$NNCC" examples/sgd20.yaml -o "$OUT/sgd20.c"
# shellcheck disable=SC2046
"$CC" -O2 -march=native "$OUT/sgd20.c" $("$NNCC" --cflags) $("$NNCC" --libs) -o "$OUT/sgd20"
echo "personalise: training examples/sgd20.yaml" >&2
"$OUT/sgd20" --data data/mnist --save "$OUT/sgd20.weights" --quiet >/dev/null
for mode in all last bias; do
	"$NNCC" examples/sgd20.yaml --infer --weights "$OUT/sgd20.weights" --trainable "$mode" \
		-o "$OUT/$mode.c"
	"$CC" -std=c99 -O2 -Wall -Wextra -I"$OUT" -DNET=mnist_sgd20 -DNET_UPPER=MNIST_SGD20 \
		-DNET_HEADER="\"$mode.h\"" tools/personalise.c "$OUT/$mode.c" -lm -o "$OUT/p_$mode"
done

pct() { awk -v a="$1" 'BEGIN { printf "%.1f%%", a * 100 }'; }

echo "| shift | mode | RAM / of it training (bytes) | rate | shifted, before | after 100 samples | after 500 | unshifted, before | after 500 |"
echo "|---|---|---|---|---|---|---|---|---|"
for shift in invert rotate; do
	for mode in all last bias; do
		for lr in 0.01 0.03 0.1; do
			echo "personalise: $shift $mode lr $lr" >&2
			set -- $("$OUT/p_$mode" data/mnist "$shift" 100 5 "$lr")
			a100=$2
			set -- $("$OUT/p_$mode" data/mnist "$shift" 500 5 "$lr")
			echo "| $shift | \`$mode\` | $5 / $6 | $lr | $(pct "$1") | $(pct "$a100") |" \
				"$(pct "$2") | $(pct "$3") | $(pct "$4") |"
		done
	done
done
