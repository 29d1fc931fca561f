#!/bin/sh
# demo.sh - the main job end to end (run by `make demo` after deps, build and
# data): compile examples/sgd20.yaml to C, build the trainer, train it on
# MNIST with progress on screen, print accuracy, confusion matrix and plot.
set -eu
B=${B:-build}
out=$B/demo
mkdir -p "$out"
echo "== nncc examples/sgd20.yaml -o $out/sgd20.c"
"$B/nncc" examples/sgd20.yaml -o "$out/sgd20.c"
echo "== cc -O2 $out/sgd20.c \$($B/nncc --cflags) \$($B/nncc --libs) -o $out/sgd20"
# shellcheck disable=SC2046
${CC:-cc} -O2 "$out/sgd20.c" $("$B/nncc" --cflags) $("$B/nncc" --libs) -o "$out/sgd20"
echo "== $out/sgd20 --data data/mnist --eval-every 1500 --plot $out/sgd20.svg --save $out/sgd20.weights"
"$out/sgd20" --data data/mnist --eval-every 1500 --plot "$out/sgd20.svg" --save "$out/sgd20.weights"
echo
echo "training curve: $out/sgd20.svg    weights: $out/sgd20.weights"
