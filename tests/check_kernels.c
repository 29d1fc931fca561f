/*
 * check_kernels.c - Check suite for the floating-point contract of the
 * generated kernels (docs/performance.md): every output element is one FMA
 * chain, so results must be bit-identical
 *   - between the AVX-512 path, the run-time dispatch build (its own choice;
 *     check_isa.c forces each instruction set) and the portable fallback,
 *   - between gcc and clang, and with -ffp-contract=fast,
 *   - between 1 and 2 threads, on networks big enough that every pass
 *     (rows and weights) runs on the pool,
 *   - between step() and forward + loss + backward(0) + update (the fused
 *     SGD in the weight pass), through the ABI,
 * for float32 and float64, with odd widths (masked tails), every activation,
 * partial tiles and accumulated (full-batch) gradients.  One harness per
 * network prints a hash of the parameters after a fixed training run; the
 * builds and thread counts must all print the same line.
 * Runs from the top directory (make test); needs gcc and clang.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../compiler/nncc.h"
#include "testutil.h"

/* Big enough that both passes use the pool (>= 3e6 FLOP per row pass and
 * >= 1e7 per weight pass at batch 64), odd widths so every kernel has a
 * masked tail vector, every activation, a hidden-to-hidden delta. */
static const char net_yaml[] =
	"network: kern\ninput: 100\n%s"
	"layers:\n"
	"  - {type: dense, units: 300, activation: sigmoid}\n"
	"  - {type: dense, units: 200, activation: tanh}\n"
	"  - {type: dense, units: 70, activation: relu}\n"
	"  - {type: dense, units: 13, activation: linear}\n"
	"  - {type: softmax}\n"
	"training: {learning_rate: 0.5, batch_size: 64, iterations: 1}\n";

/* The run: deterministic weights and data; four step() calls (full and
 * partial tiles), then two full-batch updates over 3 tiles (64 + 64 + 17,
 * gradients accumulated); a hash of every parameter bit and of the losses.
 * Before that, step() against forward + loss + backward(0) + update on the
 * same tile, bit for bit. */
static const char harness[] =
	"#include <math.h>\n"
	"#include <stdio.h>\n"
	"#include <stdlib.h>\n"
	"#include <string.h>\n"
	"#include \"nncc.h\"\n"
	"extern const nncc_model_t kern_model;\n"
	"#define N 145\n"
	"static real x[N][100], p0[250000];\n"
	"static int32_t y[N];\n"
	"static unsigned long long h = 14695981039346656037ull;\n"
	"static void hash(const void *p, size_t n)\n"
	"{ const unsigned char *c = p; for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 0x100000001b3ull; }\n"
	"int main(int argc, char **argv)\n"
	"{\n"
	"	const nncc_model_t *m = &kern_model;\n"
	"	real *params = m->params;\n"
	"	size_t P = m->n_params, bytes = P * sizeof(real);\n"
	"	int want = atoi(argv[1]), got = m->set_threads(want);\n"
	"	if (got != want) { printf(\"set_threads(%d) = %d\\n\", want, got); return 1; }\n"
	"	if (2 * P > 250000 || m->max_batch != 64) { printf(\"descriptor\\n\"); return 1; }\n"
	"	for (size_t k = 0; k < P; k++) params[k] = (real)(sin((double)k * 1.7) * 0.15);\n"
	"	for (int b = 0; b < N; b++) {\n"
	"		y[b] = b % 13;\n"
	"		for (int j = 0; j < 100; j++) x[b][j] = (real)cos((b * 101 + j) * 0.37);\n"
	"	}\n"
	"	memcpy(p0, params, bytes);\n"
	"	nncc_update_t u64 = {0.5, 64, 1, NULL}, uN = {0.5, N, 1, NULL};\n"
	"	double l1 = m->step(64, x, y, &u64);\n"
	"	memcpy(p0 + P, params, bytes);   /* after step() */\n"
	"	memcpy(params, p0, bytes);\n"
	"	m->forward(64, x);\n"
	"	double l2 = m->loss(64, y);\n"
	"	m->backward(64, x, y, 0);\n"
	"	m->update(&u64);\n"
	"	if (l1 != l2 || memcmp(params, p0 + P, bytes) != 0) {\n"
	"		size_t k = 0;\n"
	"		while (k < P && !memcmp(params + k, p0 + P + k, sizeof(real))) k++;\n"
	"		printf(\"step() != forward+loss+backward+update: loss %.17g vs %.17g, \"\n"
	"		       \"param %zu %.17g vs %.17g\\n\", l1, l2, k, k < P ? (double)p0[P + k] : 0.0,\n"
	"		       k < P ? (double)params[k] : 0.0);\n"
	"		return 1;\n"
	"	}\n"
	"	static const size_t tiles[4] = {64, 37, 64, 1};\n"
	"	for (int s = 0; s < 4; s++) {\n"
	"		nncc_update_t u = {0.5, tiles[s], 2 + (uint64_t)s, NULL};\n"
	"		double l = m->step(tiles[s], x[s * 20], y + s * 20, &u);\n"
	"		hash(&l, sizeof l);\n"
	"	}\n"
	"	for (int s = 0; s < 2; s++) {\n"
	"		double l = 0;\n"
	"		for (size_t d = 0; d < N; d += 64) {\n"
	"			size_t k = N - d < 64 ? N - d : 64;\n"
	"			m->forward(k, x[d]);\n"
	"			l += m->loss(k, y + d);\n"
	"			m->backward(k, x[d], y + d, d > 0);\n"
	"		}\n"
	"		m->update(&uN);\n"
	"		hash(&l, sizeof l);\n"
	"	}\n"
	"	hash(params, bytes);\n"
	"	hash(m->grads, bytes);\n"
	"	printf(\"hash %016llx\\n\", h);\n"
	"	return 0;\n"
	"}\n";

/* Builds of the generated code: all must agree. */
static const struct {
	const char *cc, *flags, *what;
} builds[] = {
	{"gcc", "-O2 -march=native -ffp-contract=off", "AVX-512 path (where the CPU has it)"},
	{"gcc", "-O2 -ffp-contract=off", "run-time dispatch (the CPU's best set)"},
	{"gcc", "-O2 -DKERN_NO_DISPATCH -ffp-contract=off", "portable fallback (libm fma)"},
	{"clang", "-O2 -march=native -ffp-contract=off", "clang"},
	{"gcc", "-O2 -march=native -ffp-contract=fast", "gcc contracting a*b+c"},
	{"gcc", "-O2 -march=native -DKERN_NO_SIMD -ffp-contract=off", "forced fallback with FMA"},
};

/* The network (dtype_line in its YAML) and the harness (reals of type
 * `real`) in dir: kern.yaml, its trainer kern.c, h.c. */
static void write_inputs(const char *dir, const char *dtype_line, const char *real)
{
	char yaml[2048];
	snprintf(yaml, sizeof yaml, net_yaml, dtype_line);
	char *yp = tu_path(dir, "kern.yaml"), *cp = tu_path(dir, "kern.c"), *hp = tu_path(dir, "h.c");
	ck_assert_int_eq(tu_write_text(yp, yaml), 0);
	char harn[8192];
	snprintf(harn, sizeof harn, "typedef %s real;\n%s", real, harness);
	ck_assert_int_eq(tu_write_text(hp, harn), 0);
	char *out = NULL;
	int rc = tu_run(&out, "%s %s -o %s", tu_nncc(), yp, cp);
	ck_assert_msg(rc == 0, "nncc: %s", out);
	free(out);
	free(yp);
	free(cp);
	free(hp);
}

static void run_dtype(const char *dtype_line, const char *tag)
{
	char *dir = tu_mkdtemp();
	write_inputs(dir, dtype_line, strcmp(tag, "f64") ? "float" : "double");
	char *cp = tu_path(dir, "kern.c"), *hp = tu_path(dir, "h.c");
	char *out = NULL;
	int rc;

	char ref[128] = "";
	const char *ref_what = NULL;
	for (size_t b = 0; b < sizeof builds / sizeof builds[0]; b++) {
		char exe[64];
		snprintf(exe, sizeof exe, "%s/h%zu", dir, b);
		rc = tu_run(&out, "%s -std=c99 %s -DNNCC_NO_MAIN -Iruntime %s %s -o %s -lm -lpthread",
		            builds[b].cc, builds[b].flags, cp, hp, exe);
		ck_assert_msg(rc == 0, "%s %s does not build:\n%s", builds[b].cc, builds[b].flags, out);
		free(out);
		for (int threads = 1; threads <= 2; threads++) {
			rc = tu_run(&out, "%s %d", exe, threads);
			ck_assert_msg(rc == 0 && strncmp(out, "hash ", 5) == 0,
			              "%s: %s %s, %d thread(s): %s", tag, builds[b].cc, builds[b].flags,
			              threads, out);
			if (!ref_what) {
				snprintf(ref, sizeof ref, "%s", out);
				ref_what = builds[b].what;
			}
			ck_assert_msg(strcmp(out, ref) == 0,
			              "%s: %s (%s %s, %d thread(s)) gives %s but %s (1 thread) gave %s",
			              tag, builds[b].what, builds[b].cc, builds[b].flags, threads, out,
			              ref_what, ref);
			free(out);
		}
	}
	free(cp);
	free(hp);
	tu_scratch_free(dir);
}

START_TEST(test_bits_f32)
{
	run_dtype("", "f32");
}
END_TEST

START_TEST(test_bits_f64)
{
	run_dtype("dtype: float64\n", "f64");
}
END_TEST

/* The generated KERN_ROWS_* (the rows nncc_kern.h spells per block
 * kernel) are each the height of the kernel's tallest tile: one row fewer
 * and that tile would lose a row, so the trainer must stop at it
 * (KERN_ROWS_CHECK's trap), never give a result. */
START_TEST(test_rows_guard)
{
	static const char *const kernels[] = {"FWD", "DW", "DWT", "DX"};
	if (!__builtin_cpu_supports("avx512f")) {
		/* -march=native then builds the AVX2 copy, whose blocks have at
		 * most 6 rows whatever KERN_ROWS_* says: nothing to check */
		fprintf(stderr, "check_kernels: rows_guard not run: no AVX-512 on this CPU\n");
		return;
	}
	char *dir = tu_mkdtemp();
	write_inputs(dir, "", "float");
	char *cp = tu_path(dir, "kern.c");
	char top[4096];
	ck_assert_ptr_nonnull(getcwd(top, sizeof top));
	char *out = NULL;
	int rc;
	size_t len;
	char *text = tu_read_file(cp, &len);
	ck_assert_ptr_nonnull(text);
	for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
		char key[64];
		snprintf(key, sizeof key, "\n#define KERN_ROWS_%s ", kernels[k]);
		const char *at = strstr(text, key);
		ck_assert_msg(at != NULL, "no KERN_ROWS_%s in the trainer", kernels[k]);
		int rows = atoi(at + strlen(key));
		ck_assert_msg(rows >= 2, "KERN_ROWS_%s is %d: this network should have taller tiles",
		              kernels[k], rows);
		rc = tu_run(&out, "cd %s && sed 's/^#define KERN_ROWS_%s %d/#define KERN_ROWS_%s %d/' "
		            "kern.c > low.c && %s -std=c99 -O2 -march=native -DNNCC_NO_MAIN "
		            "-I%s/runtime low.c h.c -o low -lm -lpthread && "
		            "{ ./low 1; echo \"status $?\"; }", dir, kernels[k], rows, kernels[k],
		            rows - 1, tu_cc(), top);
		ck_assert_msg(rc == 0, "KERN_ROWS_%s %d: %s", kernels[k], rows - 1, out);
		const char *st = strstr(out, "status ");
		ck_assert_msg(st && atoi(st + 7) >= 128 && !strstr(out, "hash "),
		              "KERN_ROWS_%s lowered to %d: the trainer ran on (%s)", kernels[k],
		              rows - 1, out);
		free(out);
	}
	free(text);
	free(cp);
	tu_scratch_free(dir);
}
END_TEST

/* V_MSTORE, the store of a vector's lanes m, writes exactly those lanes:
 * every mask of a vector, float32 and float64, through the AVX2 halves
 * (whose row tails are plain stores, not vmaskmov: nncc_vec.h) and the
 * AVX-512 masks.  Each store goes into a guarded buffer, and a tail (the
 * first k lanes) also into a heap block of exactly k reals, which
 * AddressSanitizer checks for a write past its end. */
static const char mstore_prog[] =
	"#include <stdio.h>\n"
	"#include <stdlib.h>\n"
	"#include <string.h>\n"
	"#include \"nncc_simd.h\"\n"
	"#include \"nncc_vec.h\"\n"
	"int main(void)\n"
	"{\n"
	"	real src[VLW], buf[3 * VLW];\n"
	"	unsigned long bad = 0;\n"
	"	for (int l = 0; l < VLW; l++) src[l] = (real)(l + 1);\n"
	"	for (unsigned m = 0; m < (1u << VLW); m++) {\n"
	"		for (int l = 0; l < 3 * VLW; l++) buf[l] = (real)-7;\n"
	"		V_MSTORE(buf + VLW, (vmask)m, V_LOAD(src));\n"
	"		for (int l = 0; l < 3 * VLW; l++) {\n"
	"			int in = l >= VLW && l < 2 * VLW && (m >> (l - VLW) & 1u);\n"
	"			real want = in ? src[l - VLW] : (real)-7;\n"
	"			if (memcmp(&buf[l], &want, sizeof want) != 0 && bad++ < 5)\n"
	"				printf(\"mask %#x: lane %d is %g, not %g\\n\", m, l - VLW,\n"
	"				       (double)buf[l], (double)want);\n"
	"		}\n"
	"	}\n"
	"	for (int k = 1; k <= VLW; k++) {\n"
	"		real *p = malloc((size_t)k * sizeof *p);\n"
	"		if (!p) return 2;\n"
	"		V_MSTORE(p, (vmask)((1u << k) - 1u), V_LOAD(src));\n"
	"		if (memcmp(p, src, (size_t)k * sizeof *p) != 0 && bad++ < 5)\n"
	"			printf(\"the first %d lanes are not stored\\n\", k);\n"
	"		free(p);\n"
	"	}\n"
	"	printf(\"stores %lu wrong\\n\", bad);\n"
	"	return bad != 0;\n"
	"}\n";

START_TEST(test_mstore)
{
	static const struct {
		const char *flags, *what;
		int avx512;
	} isas[] = {
		{"-mavx2 -mfma", "avx2", 0},
		{"-mavx512f -mavx512dq -mavx2 -mfma", "avx512", 1},
	};
	char *dir = tu_mkdtemp();
	char *cp = tu_path(dir, "ms.c");
	char top[4096], *out = NULL;
	int ran = 0;
	ck_assert_ptr_nonnull(getcwd(top, sizeof top));
	ck_assert_int_eq(tu_write_text(cp, mstore_prog), 0);
	for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++)
		for (int f64 = 0; f64 <= 1; f64++) {
			const char *dt = f64 ? "KERN_F64" : "KERN_F32";
			int rc = tu_run(&out, "%s -std=c99 -O2 %s -Wall -Wextra -Werror "
			                "-fsanitize=address,undefined -fno-sanitize-recover=all -D%s "
			                "-I%s/runtime %s -o %s/ms", tu_cc(), isas[i].flags, dt, top, cp, dir);
			ck_assert_msg(rc == 0, "%s %s does not build:\n%s", isas[i].what, dt, out);
			free(out);
			if (isas[i].avx512 ? !__builtin_cpu_supports("avx512f") ||
			                         !__builtin_cpu_supports("avx512dq")
			                   : !__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
				continue;
			rc = tu_run(&out, "%s/ms", dir);
			ck_assert_msg(rc == 0 && strstr(out, "stores 0 wrong"), "%s %s: %s", isas[i].what,
			              dt, out);
			free(out);
			ran++;
		}
	ck_assert_msg(ran > 0, "this CPU has neither AVX2 nor AVX-512: no masked store ran");
	free(cp);
	tu_scratch_free(dir);
}
END_TEST

static Suite *kernels_suite(void)
{
	Suite *s = suite_create("kernels");
	TCase *tc = tcase_create("bits");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_bits_f32);
	tcase_add_test(tc, test_bits_f64);
	tcase_add_test(tc, test_rows_guard);
	tcase_add_test(tc, test_mstore);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(kernels_suite(), NULL);
}
