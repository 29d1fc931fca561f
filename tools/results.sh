#!/bin/sh
# results.sh - `make results`: builds and trains every example, then writes
# docs/results.md (accuracy against the reference figures, final training
# loss, time, throughput, machine, revision) and the training curves
# docs/img/*.svg.  Nothing in docs/results.md is typed by hand (the section
# docs/results-sklearn.md is copied in as tools/sklearn-reference.py wrote it).
#
# Each run: variant YAML (dtype / normalisation changed with sed) -> nncc ->
# cc -O2 -march=native -> trainer --json.  Runs go one after the other so the
# timings do not disturb each other.
set -eu
B=${B:-build}
CC=${CC:-cc}
out=$B/results
mkdir -p "$out" docs/img
rm -f "$out"/*.json

if [ ! -f data/mnist/train-images-idx3-ubyte ]; then
	echo "results: data/mnist is missing; run 'make data' first" >&2
	exit 1
fi

# json KEY FILE: the value of a scalar key in a one-line JSON object.
json() {
	sed -n "s/.*\"$1\": *\"\{0,1\}\([^,\"}]*\).*/\1/p" "$2"
}

# run ID YAML DTYPE NORM [PLOT]
run() {
	id=$1 yaml=$2 dtype=$3 norm=$4 plot=${5:-}
	v=$out/$id.yaml
	sed -e "s/^\(  normalize:\).*/\1 $norm/" "$yaml" >"$v"
	if [ "$dtype" = float64 ]; then
		sed -i -e "s/^\(input:.*\)/\1\ndtype: float64/" "$v"
	fi
	name=$(sed -n 's/^network: *\([A-Za-z0-9_]*\).*/\1/p' "$v")
	"$B/nncc" "$v" -o "$out/$id.c"
	# shellcheck disable=SC2046
	"$CC" -O2 -march=native "$out/$id.c" $("$B/nncc" --cflags) $("$B/nncc" --libs) -o "$out/$id"
	set -- --json --quiet --save "$out/$id.weights"
	[ -z "$plot" ] || set -- "$@" --plot "docs/img/$id.svg"
	echo "results: $id ($name, $dtype, $norm)" >&2
	"$out/$id" "$@" >"$out/$id.out"
	tail -n 1 "$out/$id.out" >"$out/$id.json"
	printf '  %s: test accuracy %s, %s s\n' "$id" "$(json test_accuracy "$out/$id.json")" \
		"$(json train_seconds "$out/$id.json")" >&2
}

pct() { awk -v a="$1" 'BEGIN { printf "%.2f%%", a * 100 }'; }

# int8 ID: the int8 export of run ID's weights (seed 1, float32) -> a row of
# $int8_rows from what nncc prints: float and int8 test accuracy, bytes.
int8_rows=""
int8() {
	id=$1
	[ -f "$out/$id.weights" ] || return 0
	line=$("$B/nncc" "$out/$id.yaml" --infer --weights "$out/$id.weights" --quantize int8 \
		-o "$out/$id-int8.c")
	echo "  $line" >&2
	int8_rows="$int8_rows$(echo "$line" | sed -n "s/.*test accuracy float \([0-9.]*%\), int8 \([0-9.]*%\).*parameters float \([0-9]*\) bytes, int8 \([0-9]*\) bytes.*/| $id | \1 | \2 | \3 | \4 |/p")
"
}

# tab ID: examples/tabular/ID.yaml over seeds 1-3 -> a row of $tabular:
# mean (range) of the test accuracy, or of the RMSE and MAE (regression).
tabular=""
tab() {
	id=$1 yaml=examples/tabular/$1.yaml
	[ -f "data/sklearn/$id-train.csv" ] || { echo "results: no data/sklearn ($id): run 'make data'" >&2; return 0; }
	"$B/nncc" "$yaml" -o "$out/tab-$id.c"
	# shellcheck disable=SC2046
	"$CC" -O2 -march=native "$out/tab-$id.c" $("$B/nncc" --cflags) $("$B/nncc" --libs) -o "$out/tab-$id"
	vals=""
	for seed in 1 2 3; do
		"$out/tab-$id" --seed "$seed" --json --quiet | tail -n 1 >"$out/tab-$id-$seed.json"
		f=$out/tab-$id-$seed.json
		if grep -q '"test_rmse": [0-9]' "$f"; then
			vals="$vals $(json test_rmse "$f"):$(json test_mae "$f")"
		else
			vals="$vals $(json test_accuracy "$f")"
		fi
	done
	net=$(sed -n 's/^input: *\([0-9]*\).*/\1/p' "$yaml")
	net="$net$(sed -n 's/.*type: dense, units: \([0-9]*\), activation: \([a-z]*\).*/ -> \1 \2/p' "$yaml" | tr -d '\n') "
	row=$(echo "$vals" | awk -v id="$id" -v net="$net" '{
		for (i = 1; i <= NF; i++) { split($i, p, ":"); a[i] = p[1]; b[i] = p[2] }
		lo = hi = a[1]; s = 0; sb = 0
		for (i = 1; i <= NF; i++) { s += a[i]; sb += b[i]; if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
		if (b[1] == "")
			printf "| %s | `examples/tabular/%s.yaml` | %s| %.2f%% (%.2f-%.2f%%) | - |\n", id, id, net, s / NF * 100, lo * 100, hi * 100
		else
			printf "| %s | `examples/tabular/%s.yaml` | %s| RMSE %.2f (%.2f-%.2f) | %.2f |\n", id, id, net, s / NF, lo, hi, sb / NF
	}')
	tabular="$tabular$row
"
	echo "  tabular $id: $vals" >&2
}
num() { awk -v a="$1" -v f="$2" 'BEGIN { printf f, a }'; }

for id in iris wine breast-cancer digits diabetes; do
	tab "$id"
done
run softmax examples/softmax.yaml float32 standardize plot
run softmax-f64 examples/softmax.yaml float64 standardize
run sigmoid50 examples/sigmoid50-fullbatch.yaml float32 standardize plot
run sigmoid50-f64 examples/sigmoid50-fullbatch.yaml float64 standardize
run sigmoid50-squared examples/sigmoid50-squared.yaml float32 standardize plot
run sigmoid50-squared-f64 examples/sigmoid50-squared.yaml float64 standardize
run sgd20 examples/sgd20.yaml float32 scale plot
run sgd20-f64 examples/sgd20.yaml float64 scale
run sgd20-std examples/sgd20.yaml float32 standardize plot
run sgd20-std-f64 examples/sgd20.yaml float64 standardize
# The standardize figure depends on the initial weights: the same recipe over
# seeds 1-8 (float32), to compare with the independent implementations' range.
seeds=""
for seed in 1 2 3 4 5 6 7 8; do
	"$out/sgd20-std" --json --quiet --seed "$seed" | tail -n 1 >"$out/seed.json"
	seeds="$seeds $(json test_accuracy "$out/seed.json")"
done
echo "  sgd20-std over seeds 1-8:$seeds" >&2
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
	run fashion examples/fashion.yaml float32 scale plot
else
	echo "results: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist); skipping fashion" >&2
fi
run momentum examples/momentum.yaml float32 scale plot
run momentum-f64 examples/momentum.yaml float64 scale
run adam examples/adam.yaml float32 standardize plot
run adam-f64 examples/adam.yaml float64 standardize
run xor examples/xor.yaml float32 standardize plot
# The MLP recipes (issue 11): seed 1 as every run, then seeds 2 and 3 of the
# same trainer, reported as mean and range.
seeds_of() { # ID: seeds 2 and 3 of a run that is built; prints all three accuracies
	acc=$(json test_accuracy "$out/$1.json")
	for seed in 2 3; do
		"$out/$1" --json --quiet --seed "$seed" | tail -n 1 >"$out/seed.json"
		acc="$acc $(json test_accuracy "$out/seed.json")"
	done
	echo "$acc"
}
run mnist-mlp examples/mnist-mlp.yaml float32 standardize plot
mlp_seeds=$(seeds_of mnist-mlp)
echo "  mnist-mlp over seeds 1-3: $mlp_seeds" >&2
fmlp_seeds=""
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
	run fashion-mlp examples/fashion-mlp.yaml float32 standardize plot
	fmlp_seeds=$(seeds_of fashion-mlp)
	echo "  fashion-mlp over seeds 1-3: $fmlp_seeds" >&2
fi

# Pre-training, measured: examples/mnist-pretrain.yaml with 1000 labels
# (--train-limit) and with all 60000, without pre-training
# (--pretrain-epochs 0), pre-trained on the images trained on, and (1000
# labels) pre-trained on all 60000 images (--pretrain-unlabeled); seeds 1-3.
run mnist-pretrain examples/mnist-pretrain.yaml float32 scale plot
pre_rows=""
for limit in 1000 all; do
	row=""
	for v in none own unlabeled; do
		[ "$limit:$v" != all:unlabeled ] || { row="$row| - "; continue; }
		set -- --json --quiet
		[ "$limit" = all ] || set -- "$@" --train-limit "$limit"
		[ "$v" != none ] || set -- "$@" --pretrain-epochs 0
		[ "$v" != unlabeled ] || set -- "$@" --pretrain-unlabeled
		acc="" pres=0 trs=0
		for seed in 1 2 3; do
			"$out/mnist-pretrain" "$@" --seed "$seed" | tail -n 1 >"$out/seed.json"
			acc="$acc $(json test_accuracy "$out/seed.json")"
			trs=$(awk -v a="$trs" -v b="$(json train_seconds "$out/seed.json")" 'BEGIN { print a + b }')
			# every pre-trained layer's "seconds" (none: 0)
			pres=$(grep -o '"seconds": [0-9.e+-]*}' "$out/seed.json" | tr -d '}' |
				awk -v a="$pres" '{ a += $2 } END { print a }')
		done
		echo "  mnist-pretrain labels $limit, $v: $acc" >&2
		row="$row|$(echo "$acc" | awk -v p="$pres" -v t="$trs" '{ min = 1; max = 0; for (i = 1; i <= NF; i++) { s += $i; if ($i < min) min = $i; if ($i > max) max = $i }
			printf " %.2f%% (%.2f-%.2f%%), %.0f + %.0f s ", s / NF * 100, min * 100, max * 100, p / NF, t / NF }')"
	done
	pre_rows="$pre_rows| $limit $row |
"
done

for id in softmax sigmoid50-squared sgd20 sgd20-std adam mnist-mlp; do
	int8 "$id"
done

# On-device fine-tuning on a shifted domain (tools/personalise.sh).
B="$B" CC="$CC" OUT="$out/personalise" sh tools/personalise.sh > "$out/personalise.md"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# (its own outputs, rewritten as it goes, do not count)
dirty=$(git status --porcelain -- . ':!docs/results.md' ':!docs/img' 2>/dev/null | grep -v '^??' | head -n 1)
[ -z "$dirty" ] || rev="$rev (with uncommitted changes)"

row() { # ID EXAMPLE REFERENCE NORM
	id=$1
	f=$out/$id.json
	[ -f "$f" ] || return 0
	f64=""
	[ ! -f "$out/$id-f64.json" ] || f64=$(pct "$(json test_accuracy "$out/$id-f64.json")")
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$4" "$3" \
		"$(pct "$(json test_accuracy "$f")")" "${f64:--}" \
		"$(num "$(json train_loss "$f")" %.4f)" "$(num "$(json train_seconds "$f")" %.2f)" \
		"$(num "$(json samples_per_second "$f")" %.0f)" "$(json threads "$f")"
}

{
	echo "# Results"
	echo
	echo "Generated by \`make results\` (tools/results.sh): every example built with"
	echo "\`cc -O2 -march=native\`, trained with the hyper-parameters in its YAML file,"
	echo "evaluated on the 10000 test images. Do not edit by hand."
	echo
	echo "- Machine: $cpu, $(nproc) cores"
	echo "- Compiler: $("$CC" --version | head -n 1)"
	echo "- nncc revision: $rev"
	echo
	echo "| Example | Inputs | Reference | nncc float32 | nncc float64 | Train loss | Train s | Samples/s | Threads |"
	echo "|---|---|---|---|---|---|---|---|---|"
	row softmax "softmax.yaml (784-10, full batch, 100 it.)" "90.52%" standardize
	row sigmoid50 "sigmoid50-fullbatch.yaml (784-50-10, full batch, 1000 it.)" "94.01%" standardize
	row sigmoid50-squared "sigmoid50-squared.yaml (784-50-10 sigmoid, squared error, full batch, 1000 it.)" "sigmoid50's cross-entropy figure" standardize
	row sgd20 "sgd20.yaml (784-50-10, batch 20, 30000 it.)" "96.55%" "scale (x/255)"
	row sgd20-std "sgd20.yaml with standardize" "95.4-95.9% (independent implementations)" standardize
	row momentum "momentum.yaml (sgd20 with Nesterov momentum, decay, shuffled)" "sgd20's 96.55%" "scale (x/255)"
	row adam "adam.yaml (784-256-128-10 relu, Adam, cosine, 10 epochs)" "98.0-98.3% (Keras/PyTorch MLPs)" standardize
	row mnist-mlp "mnist-mlp.yaml (784-1024-1024-10 relu, dropout, Adam, cosine, 40 epochs)" "98.40% (Keras mnist_mlp), 98.75-98.95% (Srivastava et al.)" standardize
	row mnist-pretrain "mnist-pretrain.yaml (784-256-128-10 sigmoid, denoising autoencoder pre-training, momentum, 30 epochs)" "-" "scale (x/255)"
	row fashion "fashion.yaml (sgd20 on Fashion-MNIST)" "-" "scale (x/255)"
	row fashion-mlp "fashion-mlp.yaml (mnist-mlp's recipe on Fashion-MNIST)" "87-88% (the dataset's MLP benchmarks)" standardize
	row xor "xor.yaml (2-8-2 tanh, shipped data)" "-" standardize
	echo
	echo "Train loss is the mean over the whole training set after training (float32"
	echo "run): cross-entropy, or squared error for sigmoid50-squared; times are training"
	echo "only (float32), with the threads the trainer chose (all cores by default; passes"
	echo "too small to gain from a second thread run on one)."
	echo "The machine is shared, so times vary by tens of percent between runs."
	echo
	echo "## Preprocessing of sgd20"
	echo
	echo "The reference figure for the SGD experiment (96.55%) is reached with x/255"
	echo "scaling; with \`standardize\`, independent implementations of exactly that recipe"
	echo "(numpy, PyTorch, FANN, darknet: randn*0.1 init, consecutive batches of 20) reach"
	echo "95.4-95.9% on this machine; compare nncc's row above (the exact figure depends"
	echo "on the initial weights, i.e. on the seed and the random generator)."
	echo "$seeds" | awk '{ min = 1; max = 0; for (i = 1; i <= NF; i++) { s += $i; if ($i < min) min = $i; if ($i > max) max = $i }
		printf "Over seeds 1-8 (float32) the standardize recipe reaches %.2f%% on average (%.2f-%.2f%%).\n", s / NF * 100, min * 100, max * 100 }'
	echo "\`examples/sgd20.yaml\` therefore uses \`normalize: scale\`; the standardize run is"
	echo "kept in the table so both are visible. The full-batch experiments use"
	echo "\`standardize\`, as their reference does."
	echo
	echo "## The MLP recipes over seeds"
	echo
	echo "Test accuracy of the float32 trainer with seeds 1, 2 and 3 (the weights, the"
	echo "shuffle and the dropout masks all follow from the seed):"
	echo
	for r in "mnist-mlp:$mlp_seeds" "fashion-mlp:$fmlp_seeds"; do
		[ -n "${r#*:}" ] || continue
		echo "${r#*:}" | awk -v id="${r%%:*}" '{ min = 1; max = 0; for (i = 1; i <= NF; i++) { s += $i; if ($i < min) min = $i; if ($i > max) max = $i }
			printf "- %s: mean %.2f%%, range %.2f-%.2f%% (", id, s / NF * 100, min * 100, max * 100
			for (i = 1; i <= NF; i++) printf "%s%.2f%%", (i > 1 ? ", " : ""), $i * 100
			print ")" }'
	done
	echo
	echo "## On-device fine-tuning"
	echo
	echo "\`tools/personalise.sh\`: examples/sgd20.yaml trained as its recipe says, exported"
	echo "with \`--trainable all|last|bias\` (docs/embedding.md#on-device-fine-tuning), then"
	echo "fine-tuned by \`NAME_train_step_u8\` alone on the first 100 or 500 training images"
	echo "of a shifted domain (inverted digits, or digits turned 90 degrees), 5 passes, one"
	echo "step per sample; test accuracy on the 10000 test images, shifted and unshifted;"
	echo "RAM is the ledger's \`NAME_RAM_BYTES\` / \`NAME_TRAIN_RAM_BYTES\`."
	echo
	cat "$out/personalise.md"
	echo
	if [ -n "$int8_rows" ]; then
		echo "## int8 export"
		echo
		echo "\`nncc --infer --quantize int8\` of the float32 runs' weights (seed 1;"
		echo "docs/embedding.md#int8-export), calibrated on the first 1000 training images;"
		echo "test accuracy of the float network and of the int8 code, as nncc prints them,"
		echo "and the parameters' bytes."
		echo
		echo "| Run | Float | int8 | Parameters float (bytes) | int8 (bytes) |"
		echo "|---|---|---|---|---|"
		printf '%s' "$int8_rows"
		echo
	fi
	if [ -n "$pre_rows" ]; then
		echo "## Pre-training"
		echo
		echo "\`examples/mnist-pretrain.yaml\` (784-256-128-10 sigmoid; each hidden layer first"
		echo "pre-trained 5 epochs as a denoising autoencoder, docs/trainer.md#pre-training),"
		echo "float32, test accuracy over seeds 1-3, mean (range). Labels: the first N"
		echo "training images (\`--train-limit\`); the supervised recipe (momentum 0.9, lr"
		echo "0.05, batches of 20, 30 epochs) is the same in every column. \"On the labelled"
		echo "images\" pre-trains on the images trained on; \"on all 60000 images\" also on"
		echo "the rest of the training file, without their labels (\`--pretrain-unlabeled\`)."
		echo
		echo "| Labels | No pre-training | Pre-trained on the labelled images | Pre-trained on all 60000 images |"
		echo "|---|---|---|---|"
		printf '%s' "$pre_rows"
		echo
		echo "Times: pre-training + supervised training, seconds, mean of the three runs."
		echo
	fi
	# scikit-learn's figures on the tabular data (tools/sklearn-reference.py,
	# run by hand: scikit-learn is not a dependency of nncc).
	if [ -f docs/results-sklearn.md ]; then
		cat docs/results-sklearn.md
		echo
	fi
	if [ -n "$tabular" ]; then
		echo "### nncc on the same files"
		echo
		echo "The examples in \`examples/tabular/\` (CSV input, \`standardize\` = each feature"
		echo "its own mean and std), float32, seeds 1, 2, 3: mean (range)."
		echo
		echo "| Data set | Example | Network | Test accuracy or RMSE | Test MAE |"
		echo "|---|---|---|---|---|"
		printf '%s' "$tabular"
		echo
	fi
	echo "## Training curves"
	echo
	for id in softmax sigmoid50 sigmoid50-squared sgd20 sgd20-std momentum adam mnist-mlp mnist-pretrain fashion fashion-mlp xor; do
		[ -f "docs/img/$id.svg" ] || continue
		echo "### $id"
		echo
		echo "![training loss of $id](img/$id.svg)"
		echo
	done
} >docs/results.md.tmp
mv docs/results.md.tmp docs/results.md
echo "results: wrote docs/results.md and docs/img/*.svg"
