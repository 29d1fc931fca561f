#!/bin/sh
# regression.sh - end to end regression on CSV files: writes a seeded data
# set whose two targets are smooth functions of three features (plus a
# little noise), compiles a network with `targets:` and squared error,
# trains it, and checks: the test RMSE is far below the targets' own spread
# (what predicting their mean gives); the report, the JSON and the CSV log
# speak of RMSE and MAE, not accuracy; --predict writes the two outputs
# under the target columns' names, the same numbers a --load evaluation
# scores; early stopping by accuracy is refused.  Run from the top directory
# (tests/run.sh).
set -eu
NNCC=${NNCC:-build/nncc}
CC=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nncc-e2e-regression.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "regression: FAIL: $*" >&2
	exit 1
}

# gen N SEED: "a,b,c,up,down": up = 3a - 2b + c^2 + 10, down = sin(2a) b
# + noise, features in [-1, 1).
gen() {
	awk -v n="$1" -v seed="$2" 'BEGIN {
		s = seed
		print "a,b,c,up,down"
		for (i = 0; i < n; i++) {
			for (j = 0; j < 4; j++) {
				s = (s * 1103515245 + 12345) % 2147483648
				v[j] = 2 * s / 2147483648.0 - 1
			}
			printf "%.6f,%.6f,%.6f,%.6f,%.6f\n", v[0], v[1], v[2],
			       3 * v[0] - 2 * v[1] + v[2] * v[2] + 10 + 0.05 * v[3],
			       sin(2 * v[0]) * v[1] + 0.05 * v[3]
		}
	}'
}
gen 400 3 > "$tmp/train.csv"
gen 100 5 > "$tmp/test.csv"

cat > "$tmp/reg.yaml" <<YAML
network: reg
input: 3
layers:
  - {type: dense, units: 16, activation: tanh}
  - {type: dense, units: 2, activation: linear}
loss: squared_error
training:
  optimizer: adam
  learning_rate: 0.02
  batch_size: 16
  epochs: 150
  shuffle: true
  init: {distribution: xavier_uniform}
data:
  format: csv
  dir: $tmp
  train: train.csv
  test: test.csv
  targets: [up, down]
YAML

"$NNCC" "$tmp/reg.yaml" -o "$tmp/reg.c" || fail "nncc failed"
# shellcheck disable=SC2046
$CC -O2 -std=c99 -Wall -Wextra -pedantic -Werror "$tmp/reg.c" $("$NNCC" --cflags) \
	$("$NNCC" --libs) -o "$tmp/reg" || fail "the generated trainer does not build"

"$tmp/reg" --save "$tmp/w" --log "$tmp/log.csv" --eval-test --quiet > "$tmp/report" ||
	fail "training failed"
grep -q '^test RMSE ' "$tmp/report" || fail "no test RMSE in: $(cat "$tmp/report")"
grep -q '^test MAE ' "$tmp/report" || fail "no test MAE in the report"
! grep -q 'accuracy\|confusion' "$tmp/report" || fail "a regression report speaks of accuracy"
head -n 1 "$tmp/log.csv" | grep -q '^iteration,epoch,lr,train_loss,test_rmse,seconds$' ||
	fail "log header: $(head -n 1 "$tmp/log.csv")"

# The spread of the targets: the RMSE of predicting their test mean.
spread=$(sed 1d "$tmp/test.csv" | awk -F, '{ for (j = 4; j <= 5; j++) { s[j] += $j; q[j] += $j * $j } n++ }
	END { v = 0; for (j = 4; j <= 5; j++) v += q[j] / n - (s[j] / n) ^ 2; print sqrt(v / 2) }')
"$tmp/reg" --load "$tmp/w" --no-train --json --quiet > "$tmp/json" || fail "--load failed"
rmse=$(sed -n 's/.*"test_rmse": \([^,}]*\).*/\1/p' "$tmp/json")
mae=$(sed -n 's/.*"test_mae": \([^,}]*\).*/\1/p' "$tmp/json")
grep -q '"test_accuracy": null' "$tmp/json" || fail "JSON test_accuracy is not null"
[ -n "$rmse" ] && [ -n "$mae" ] || fail "no test_rmse/test_mae in $(cat "$tmp/json")"
awk -v r="$rmse" -v s="$spread" 'BEGIN { exit !(r < 0.15 * s) }' ||
	fail "test RMSE $rmse is not well below the targets' spread $spread"

# --predict: the outputs under the targets' names; their RMSE is the JSON's.
"$tmp/reg" --load "$tmp/w" --predict "$tmp/test.csv" --output "$tmp/p.csv" --quiet ||
	fail "--predict failed"
[ "$(head -n 1 "$tmp/p.csv")" = "sample,up,down" ] || fail "predict header: $(head -n 1 "$tmp/p.csv")"
sed 1d "$tmp/test.csv" | cut -d, -f4,5 > "$tmp/truth"
prmse=$(sed 1d "$tmp/p.csv" | paste -d, - "$tmp/truth" |
	awk -F, '{ e1 = $2 - $4; e2 = $3 - $5; s += e1 * e1 + e2 * e2; n += 2 } END { printf "%.4g", sqrt(s / n) }')
awk -v a="$prmse" -v b="$rmse" 'BEGIN { d = a - b; exit !(d < 1e-3 * b && d > -1e-3 * b) }' ||
	fail "predictions' RMSE $prmse, the evaluation's $rmse"

# Early stopping by accuracy means nothing here.
if "$tmp/reg" --validation 50 --stop-metric val_accuracy --epochs 1 --quiet \
	> /dev/null 2> "$tmp/err"; then
	fail "--stop-metric val_accuracy was accepted for a regression"
fi
grep -q "a regression has no accuracy" "$tmp/err" || fail "message: $(cat "$tmp/err")"
echo "regression: ok (test RMSE $rmse, MAE $mae; the targets' spread $spread)"
