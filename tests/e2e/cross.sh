#!/bin/sh
# cross.sh - exported inference code on ARM (issue 13, docs/embedding.md
# "On ARM"): networks trained here on MNIST are exported with `nncc --infer`
# as float, as `--quantize int8` and as `--quantize int8 --no-float`, then
#  - built for Linux on AArch64 and on 32-bit ARM (armhf) with Debian's
#    cross compilers, statically, and run under qemu-user over the MNIST test
#    images: every output of NAME_forward_u8 (float) or int32 logit of
#    NAME_logits_u8 (int8), and every NAME_predict_u8 class, must have the
#    bits of the x86-64 build of the same file;
#  - compiled for bare-metal Cortex-M0+ (no FPU) and Cortex-M4F
#    (-mfpu=fpv4-sp-d16 -mfloat-abi=hard) with arm-none-eabi-gcc -Os and
#    -Wall -Wextra -Werror, with no .data or .bss, their .text printed; the
#    --no-float objects must call nothing but libgcc helpers and memcpy/memset.
# What is not installed (gcc-aarch64-linux-gnu, gcc-arm-linux-gnueabihf,
# gcc-arm-none-eabi, qemu-user; the CI installs them) is named and left out;
# with none of them, or without data/mnist, the script prints SKIPPED and
# exits 77 (not a pass).  With a sanitizer build's nncc (CI's SAN=1 pass)
# only the exports and their x86-64 builds run.  Run from the top directory
# (tests/run.sh); uses $NNCC and $CC.
set -eu
NNCC=${NNCC:-build/nncc}
CC=${CC:-cc}
say() { echo "cross: $*"; }
fail() {
	echo "cross: FAIL: $*" >&2
	exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

if [ ! -f data/mnist/t10k-images-idx3-ubyte ] || [ ! -f data/mnist/train-images-idx3-ubyte ]; then
	say "SKIPPED: no uncompressed data/mnist (run 'make data')"
	exit 77
fi
# Linux targets: name, compiler, emulator, flags, images.  armhf twice: as
# Debian builds it (VFPv3: no FMA instruction, so the exact fma comes from
# libm; slow under qemu, hence 300 images) and with VFPv4 (ARMv7 cores from
# the Cortex-A7 on), which has the FMA instruction for float and double.
all_targets="aarch64|aarch64-linux-gnu-gcc|qemu-aarch64||10000
armhf|arm-linux-gnueabihf-gcc|qemu-arm||300
armhf-vfpv4|arm-linux-gnueabihf-gcc|qemu-arm|-mfpu=neon-vfpv4|10000"
# A sanitizer build of nncc (make SAN=1: its --libs adds -fsanitize) is
# here for nncc's own memory, the exports' emitter and quantiser and the
# trainers' driver: the ARM builds and runs of the same text are the plain
# run's, so it keeps the x86-64 builds only.
sanitized=0
case $("$NNCC" --libs) in *-fsanitize=*) sanitized=1 ;; esac
[ "$sanitized" = 0 ] || all_targets=""
targets=""
for t in $all_targets; do
	IFS='|' read -r name tcc emu flags count <<EOT
$t
EOT
	if have "$tcc" && have "$emu"; then
		targets="$targets $t"
	else
		say "$name left out: $tcc or $emu not installed"
	fi
done
bare=0
if [ "$sanitized" = 1 ]; then
	say "sanitizer build: exports and x86-64 builds only (the ARM targets are the plain run's)"
elif have arm-none-eabi-gcc && have arm-none-eabi-size; then
	bare=1
else
	say "Cortex-M left out: arm-none-eabi-gcc not installed"
fi
if [ "$sanitized" = 0 ] && [ -z "$targets" ] && [ "$bare" = 0 ]; then
	say "SKIPPED: no ARM cross compiler (apt-get install gcc-aarch64-linux-gnu" \
		"gcc-arm-linux-gnueabihf gcc-arm-none-eabi qemu-user)"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nncc-e2e-cross.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The networks: the tutorial's 784-50 sigmoid-10 (float32: an exp in every
# hidden unit), a relu/tanh/sigmoid net in float64 and a tanh net in
# float32 (exp and tanh are nncc's own, not libm's, whose last bit varies
# between C libraries), each trained briefly here.
cp examples/sgd20.yaml "$tmp/sgd20.yaml"
cat > "$tmp/deep64.yaml" <<'EOF'
network: deep64
input: 784
dtype: float64
layers:
  - { type: dense, units: 40, activation: relu }
  - { type: dense, units: 24, activation: tanh }
  - { type: dense, units: 20, activation: sigmoid }
  - { type: dense, units: 10, activation: linear }
  - type: softmax
loss: cross_entropy
training: { learning_rate: 0.1, batch_size: 32, iterations: 400, seed: 3 }
data: { dir: data/mnist, normalize: standardize }
EOF
cat > "$tmp/tanh32.yaml" <<'EOF'
network: tanh32
input: 784
layers:
  - { type: dense, units: 30, activation: tanh }
  - { type: dense, units: 10, activation: tanh }
  - type: softmax
loss: cross_entropy
training: { learning_rate: 0.05, batch_size: 16, iterations: 400, seed: 5 }
data: { dir: data/mnist }
EOF

# The harness: every test image (or the first argv[3]) through
# NAME_forward_u8 (float exports) or NAME_logits_u8 (int8, -DINT8: no
# floating point; with -DINT8_FLOAT also the int8 export's float
# NAME_forward_u8) and NAME_predict_u8; the results' bytes go to a file.
# With -DTRAIN (an export with --trainable), first one NAME_train_step_u8
# per image with its label (argv[4], the label file), then all parameters
# (NAME_params_get) before the outputs.
cat > "$tmp/harness.c" <<'EOF'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include NET_HEADER
#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define N(x) CAT(NET, x)
#define U(x) CAT(NET_UPPER, x)

int main(int argc, char **argv)
{
	static unsigned char px[U(_INPUTS)];
#ifdef INT8
	int32_t out[U(_OUTPUTS)];
#else
	N(_real) out[U(_OUTPUTS)];
#endif
	unsigned char head[16];
	FILE *in, *res;
	long n, i;

	if (argc < 3 || !(in = fopen(argv[1], "rb")) || !(res = fopen(argv[2], "wb")))
		return 2;
	if (fread(head, 1, 16, in) != 16)
		return 3;
	n = (long)head[4] << 24 | (long)head[5] << 16 | (long)head[6] << 8 | (long)head[7];
	if (argc > 3 && atol(argv[3]) < n)
		n = atol(argv[3]);
#ifdef TRAIN
	{
		static N(_real) params[U(_PARAMS)];
		FILE *lab = argc > 4 ? fopen(argv[4], "rb") : NULL;
		if (!lab || fseek(lab, 8, SEEK_SET) != 0)
			return 6;
		for (i = 0; i < n; i++) {
			int label = fgetc(lab);
			if (label == EOF || fread(px, 1, sizeof px, in) != sizeof px ||
			    N(_train_step_u8)(px, label, (N(_real))0.01) != 0)
				return 7;
		}
		N(_params_get)(params);
		if (fwrite(params, sizeof params, 1, res) != 1 || fseek(in, 16, SEEK_SET) != 0)
			return 8;
		fclose(lab);
	}
#endif
	for (i = 0; i < n; i++) {
		int k;
		if (fread(px, 1, sizeof px, in) != sizeof px)
			return 4;
#ifdef INT8
		N(_logits_u8)(px, out);
#ifdef INT8_FLOAT
		{
			float p[U(_OUTPUTS)];
			N(_forward_u8)(px, p);
			if (fwrite(p, sizeof p, 1, res) != 1)
				return 5;
		}
#endif
#else
		N(_forward_u8)(px, out);
#endif
		k = N(_predict_u8)(px);
		if (fwrite(out, sizeof out, 1, res) != 1 || fputc(k, res) == EOF)
			return 5;
	}
	return fclose(res) != 0 || fclose(in) != 0;
}
EOF

test_images=data/mnist/t10k-images-idx3-ubyte
test_labels=data/mnist/t10k-labels-idx1-ubyte
strict="-std=c99 -Wall -Wextra -pedantic -Werror"

# check VARIANT FLAGS WHAT: $tmp/VARIANT.c (network $name) built here and for
# each Linux target, run over the test images, the results compared byte for
# byte; then compiled for the Cortex-M cores.
check() {
	v=$1 hflags=$2
	# Training runs one step per image: every build trains on the same 300.
	limit=10000
	case $hflags in *TRAIN*) limit=300 ;; esac
	# shellcheck disable=SC2086
	$CC $strict -O2 $hflags -I"$tmp" -DNET="$name" -DNET_UPPER="$upper" -DNET_HEADER="\"$v.h\"" \
		-o "$tmp/$v.x86" "$tmp/harness.c" "$tmp/$v.c" -lm || fail "$v: x86-64 build"
	"$tmp/$v.x86" "$test_images" "$tmp/$v.x86.out" "$limit" "$test_labels" ||
		fail "$v: x86-64 run"
	for t in $targets; do
		IFS='|' read -r arch tcc emu flags count <<EOT
$t
EOT
		[ "$count" -le "$limit" ] || count=$limit
		# shellcheck disable=SC2086
		$tcc $strict -O2 $flags $hflags -static -I"$tmp" -DNET="$name" -DNET_UPPER="$upper" \
			-DNET_HEADER="\"$v.h\"" -o "$tmp/$v.$arch" "$tmp/harness.c" "$tmp/$v.c" -lm ||
			fail "$v: $arch build ($tcc $flags)"
		$emu "$tmp/$v.$arch" "$test_images" "$tmp/$v.$arch.out" "$count" "$test_labels" ||
			fail "$v: $arch run under $emu"
		bytes=$(($(wc -c < "$tmp/$v.$arch.out")))
		[ "$bytes" -gt 0 ] || fail "$v: $arch wrote nothing"
		cmp -s -n "$bytes" "$tmp/$v.x86.out" "$tmp/$v.$arch.out" ||
			fail "$v: $arch results differ from x86-64's:" \
				"$(cmp -n "$bytes" "$tmp/$v.x86.out" "$tmp/$v.$arch.out" 2>&1 | head -n 1)"
		say "$v ($name, $arch under $emu): the first $count test images give x86-64's" \
			"$3, bit for bit"
	done
	[ "$bare" = 1 ] || return 0
	for cpu in m0plus m4f; do
		case $cpu in
		m0plus) flags="-mcpu=cortex-m0plus -mthumb" ;;
		m4f) flags="-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard" ;;
		esac
		# shellcheck disable=SC2086
		arm-none-eabi-gcc $strict -Os $flags -c "$tmp/$v.c" -o "$tmp/$v.$cpu.o" ||
			fail "$v: Cortex-$cpu build"
		arm-none-eabi-size "$tmp/$v.$cpu.o" | awk -v n="$v" -v c="$cpu" \
			'NR == 2 { printf "cross: %s: Cortex-%s -Os: text %s, data %s, bss %s\n", n, c, $1, $2, $3 }'
		case $v in
		*.train)
			# Writable: the trained parameters (.data) and the training
			# buffers (.bss), as the header's memory ledger says.
			ram=$(sed -n 's/^#define [A-Z0-9_]*_RAM_BYTES \([0-9]*\).*/\1/p' "$tmp/$v.h" | head -n 1)
			tram=$(sed -n 's/^#define [A-Z0-9_]*_TRAIN_RAM_BYTES \([0-9]*\).*/\1/p' "$tmp/$v.h")
			arm-none-eabi-size "$tmp/$v.$cpu.o" |
				awk -v r="$ram" -v t="$tram" 'NR == 2 && !($2 == r - t && $2 + $3 <= r) { exit 1 }' ||
				fail "$v: Cortex-$cpu .data/.bss do not match the ledger (RAM $ram, training $tram)"
			;;
		*)
			# No writable globals: the parameters are const (flash).
			arm-none-eabi-size "$tmp/$v.$cpu.o" | awk 'NR == 2 && ($2 != 0 || $3 != 0) { exit 1 }' ||
				fail "$v: Cortex-$cpu object has .data or .bss"
			;;
		esac
		# --no-float code calls no libm: only libgcc's helpers (__aeabi_*:
		# 64-bit shifts and products on cores without them) and the
		# memcpy/memset that gcc may emit even for freestanding code.
		case $v in
		*.int8nf)
			calls=$(arm-none-eabi-nm -u "$tmp/$v.$cpu.o" | awk '{ print $2 }' |
				grep -v -E '^(__aeabi_[a-z0-9]+|memcpy|memset|memmove)$' || true)
			[ -z "$calls" ] || fail "$v: Cortex-$cpu object calls" $calls
			;;
		esac
	done
}

for net in sgd20 deep64 tanh32; do
	name=$(sed -n 's/^network: *//p' "$tmp/$net.yaml")
	upper=$(echo "$name" | tr '[:lower:]' '[:upper:]')
	"$NNCC" "$tmp/$net.yaml" -o "$tmp/$net.trainer.c" || fail "$net: nncc failed"
	# shellcheck disable=SC2046
	$CC -O2 "$tmp/$net.trainer.c" $("$NNCC" --cflags) $("$NNCC" --libs) -o "$tmp/$net.trainer" ||
		fail "$net: the trainer does not build"
	"$tmp/$net.trainer" --iterations 300 --save "$tmp/$net.w" --quiet >/dev/null ||
		fail "$net: training failed"
	"$NNCC" "$tmp/$net.yaml" --infer --weights "$tmp/$net.w" -o "$tmp/$net.c" ||
		fail "$net: export failed"
	check "$net" "" "outputs and classes"
	# int8 (docs/embedding.md#int8-export), with and without its float API.
	"$NNCC" "$tmp/$net.yaml" --infer --weights "$tmp/$net.w" --quantize int8 \
		--calibrate 200 -o "$tmp/$net.int8.c" >/dev/null || fail "$net: int8 export failed"
	check "$net.int8" "-DINT8 -DINT8_FLOAT" "int32 logits, float outputs and classes"
	"$NNCC" "$tmp/$net.yaml" --infer --weights "$tmp/$net.w" --quantize int8 --no-float \
		--calibrate 200 -o "$tmp/$net.int8nf.c" >/dev/null ||
		fail "$net: int8 --no-float export failed"
	check "$net.int8nf" -DINT8 "int32 logits and classes"
	# On-device training (docs/embedding.md#on-device-fine-tuning): one
	# step per image, then the parameters and the outputs.
	"$NNCC" "$tmp/$net.yaml" --infer --weights "$tmp/$net.w" --trainable all \
		-o "$tmp/$net.train.c" || fail "$net: --trainable export failed"
	check "$net.train" -DTRAIN "trained parameters, outputs and classes"
done
say "ok"
