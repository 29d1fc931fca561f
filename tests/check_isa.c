/*
 * check_isa.c - the run-time choice of kernels (docs/kernels.md#instruction-sets),
 * end to end through the real pipeline (nncc, $CC, the libnncc driver): a
 * trainer built without -march, run with NNCC_ISA = avx512, avx2, fma and
 * generic, writes the same weight file and the same loss trajectory (--log,
 * less its clock column) as the same trainer built with -march=native, bit
 * for bit: with 1 and 2 threads and with a full batch accumulated over
 * tiles.  Networks: float32 and float64, every activation, dropout, SGD,
 * momentum and Adam, both losses, pre-training (both reconstruction losses,
 * noise, tied and untied), widths with odd tails around the vector
 * and register-block sizes.  Each run must say which kernels ran (the
 * NNCC_ISA line on stderr); a set the CPU lacks is reported and the test
 * still compares the bits of the set that ran instead.  An unknown NNCC_ISA
 * is reported and falls back.  Data: seeded 6x6 "images" of three classes.
 * A sanitizer build runs two of the networks (isa_suite says which, why).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nncc.h"
#include "testutil.h"

#define SIDE 6
#define N_TRAIN 60
#define N_TEST 12

static char *dir;

/* The networks: name, dtype, layers, loss and training lines. */
static const struct {
	const char *name, *body;
} nets[] = {
	{"isa_f32", "dtype: float32\nlayers:\n"
	            "  - {type: dense, units: 37, activation: sigmoid}\n"
	            "  - {type: dense, units: 19, activation: tanh}\n"
	            "  - {type: dense, units: 17, activation: relu}\n"
	            "  - {type: dense, units: 3, activation: linear}\n"
	            "  - {type: softmax}\n"
	            "training:\n  learning_rate: 0.3\n  batch_size: 7\n  iterations: 40\n"},
	{"isa_f64", "dtype: float64\nlayers:\n"
	            "  - {type: dropout, rate: 0.2}\n"
	            "  - {type: dense, units: 33, activation: relu}\n"
	            "  - {type: dropout, rate: 0.3}\n"
	            "  - {type: dense, units: 13, activation: tanh}\n"
	            "  - {type: dense, units: 3}\n  - {type: softmax}\n"
	            "training:\n  optimizer: adam\n  learning_rate: 0.01\n  batch_size: 5\n"
	            "  iterations: 40\n"},
	{"isa_sq", "dtype: float32\nlayers:\n"
	           "  - {type: dense, units: 70, activation: tanh}\n"
	           "  - {type: dropout, rate: 0.5}\n"
	           "  - {type: dense, units: 10, activation: sigmoid}\n"
	           "loss: squared_error\n"
	           "training:\n  optimizer: momentum\n  learning_rate: 0.5\n  batch_size: 16\n"
	           "  iterations: 30\n"},
	/* pre-training: both layers as denoising autoencoders, tied, momentum */
	{"isa_pre", "dtype: float32\nlayers:\n"
	            "  - {type: dense, units: 37, activation: sigmoid}\n"
	            "  - {type: dropout, rate: 0.2}\n"
	            "  - {type: dense, units: 19, activation: tanh}\n"
	            "  - {type: dense, units: 3}\n  - {type: softmax}\n"
	            "pretrain:\n  epochs: 2\n  learning_rate: 0.1\n  batch_size: 9\n"
	            "  optimizer: momentum\n  noise: 0.3\n  tied: true\n"
	            "training:\n  learning_rate: 0.3\n  batch_size: 7\n  iterations: 20\n"},
	/* the upper layer alone, untied, cross-entropy on the sigmoid below */
	{"isa_pre64", "dtype: float64\nlayers:\n"
	              "  - {type: dense, units: 33, activation: sigmoid}\n"
	              "  - {name: h2, type: dense, units: 13, activation: relu}\n"
	              "  - {type: dense, units: 3}\n  - {type: softmax}\n"
	              "pretrain:\n  epochs: 2\n  learning_rate: 0.05\n  batch_size: 6\n"
	              "  loss: cross_entropy\n  noise: 0.1\n  layers: [h2]\n"
	              "training:\n  learning_rate: 0.3\n  batch_size: 5\n  iterations: 20\n"},
};
#define N_NETS (sizeof nets / sizeof nets[0])

static const char *const isas[] = {"avx512", "avx2", "fma", "generic"};
#define N_ISAS (sizeof isas / sizeof isas[0])

/* A trainer of net k built with `flags` (before nncc's own); returns its
 * path (malloc'd), or NULL when the compiler rejects `flags` themselves
 * (-march=native where the compiler does not know this CPU). */
static char *build(size_t k, const char *tag, const char *flags)
{
	char name[64], *out = NULL;
	snprintf(name, sizeof name, "%s.yaml", nets[k].name);
	char *yaml = tu_path(dir, name);
	char text[2048];
	snprintf(text, sizeof text,
	         "network: %s\ninput: %d\n%s  shuffle: true\n  seed: 5\n"
	         "data:\n  dir: %s\n  normalize: standardize\n",
	         nets[k].name, SIDE * SIDE, nets[k].body, dir);
	ck_assert_int_eq(tu_write_text(yaml, text), 0);
	snprintf(name, sizeof name, "%s.c", nets[k].name);
	char *c = tu_path(dir, name);
	int st = tu_run(&out, "%s %s -o %s", tu_nncc(), yaml, c);
	ck_assert_msg(st == 0, "nncc %s: %s", yaml, out);
	free(out);
	if (tu_run(NULL, "echo 'int x;' | %s %s -x c -c -o /dev/null -", tu_cc(), flags) != 0) {
		free(yaml);
		free(c);
		return NULL;
	}
	snprintf(name, sizeof name, "%s-%s", nets[k].name, tag);
	char *exe = tu_path(dir, name);
	st = tu_run(&out, "%s -O2 %s %s $(%s --cflags) -o %s $(%s --libs)", tu_cc(), flags, c,
	            tu_nncc(), exe, tu_nncc());
	ck_assert_msg(st == 0, "%s -O2 %s %s failed:\n%s", tu_cc(), flags, c, out);
	free(out);
	free(yaml);
	free(c);
	return exe;
}

/* Runs exe with `env` (NNCC_ISA=... or empty) and options; its weights go
 * to dir/STEM.w, its log less the clock column to dir/STEM.loss.  Returns
 * what it printed on stderr and stdout (malloc'd). */
static char *train(const char *exe, const char *env, const char *stem, const char *opts)
{
	char *out = NULL;
	int st = tu_run(&out, "cd %s && env %s %s --data . --quiet --save %s.w --log %s.csv %s && "
	                "cut -d, -f1-4 %s.csv > %s.loss",
	                dir, env, exe, stem, stem, opts, stem, stem);
	ck_assert_msg(st == 0, "%s %s %s failed (%d):\n%s", env, exe, opts, st, out);
	return out;
}

/* Whether dir/A.EXT and dir/B.EXT hold the same bytes. */
static int same(const char *a, const char *b, const char *ext)
{
	char na[128], nb[128];
	snprintf(na, sizeof na, "%s.%s", a, ext);
	snprintf(nb, sizeof nb, "%s.%s", b, ext);
	char *pa = tu_path(dir, na), *pb = tu_path(dir, nb);
	int r = tu_same_file(pa, pb);
	free(pa);
	free(pb);
	return r;
}

/* The NNCC_ISA line of a run that asked for `isa`: it ran, or it says the
 * CPU lacks it. */
static void check_said(const char *out, const char *isa, const char *exe)
{
	char ran[128], lacks[128];
	snprintf(ran, sizeof ran, "nncc: NNCC_ISA=%s: running the %s kernels\n", isa, isa);
	snprintf(lacks, sizeof lacks, "nncc: NNCC_ISA=%s: this CPU lacks it; running the ", isa);
	ck_assert_msg(strstr(out, ran) || strstr(out, lacks),
	              "NNCC_ISA=%s %s: no line saying which kernels ran:\n%s", isa, exe, out);
}

START_TEST(test_same_bits)
{
	const size_t k = (size_t)_i;
	static const char *const runs[][2] = {
		{"t1", "--seed 11"},
		{"t2", "--seed 11 --threads 2"},
		{"full", "--seed 3 --batch full --iterations 5"},
	};
	ck_assert_int_eq(tu_idx_write_banded(dir, "train", N_TRAIN, SIDE, SIDE, 3, SIDE, 96, 1), 0);
	ck_assert_int_eq(tu_idx_write_banded(dir, "t10k", N_TEST, SIDE, SIDE, 3, SIDE, 96, 2), 0);
	char *any = build(k, "any", "");
	char *native = build(k, "native", "-march=native");
	for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
		char ref[64], stem[64];
		/* the reference: the -march=native build, else the dispatch build's choice */
		snprintf(ref, sizeof ref, "%s-ref-%s", nets[k].name, runs[r][0]);
		free(train(native ? native : any, "", ref, runs[r][1]));
		for (size_t i = 0; i < N_ISAS; i++) {
			char env[64];
			snprintf(env, sizeof env, "NNCC_ISA=%s", isas[i]);
			snprintf(stem, sizeof stem, "%s-%s-%s", nets[k].name, isas[i], runs[r][0]);
			char *out = train(any, env, stem, runs[r][1]);
			check_said(out, isas[i], any);
			free(out);
			ck_assert_msg(same(ref, stem, "w"), "%s %s: NNCC_ISA=%s wrote other weights than "
			              "the %s build (%s.w vs %s.w in %s)", nets[k].name, runs[r][1], isas[i],
			              native ? "-march=native" : "default", stem, ref, dir);
			ck_assert_msg(same(ref, stem, "loss"), "%s %s: NNCC_ISA=%s logged other losses "
			              "(%s.loss vs %s.loss in %s)", nets[k].name, runs[r][1], isas[i], stem,
			              ref, dir);
		}
	}
	free(any);
	free(native);
}
END_TEST

/* An unknown set is reported and the trainer runs on (the best set). */
START_TEST(test_unknown_isa)
{
	ck_assert_int_eq(tu_idx_write_banded(dir, "train", N_TRAIN, SIDE, SIDE, 3, SIDE, 96, 1), 0);
	ck_assert_int_eq(tu_idx_write_banded(dir, "t10k", N_TEST, SIDE, SIDE, 3, SIDE, 96, 2), 0);
	char *any = build(0, "any", "");
	char *out = train(any, "NNCC_ISA=sse9", "unknown", "--iterations 2");
	ck_assert_msg(strstr(out, "nncc: NNCC_ISA=sse9: unknown (expected avx512, avx2, fma or "
	                          "generic); running the "),
	              "NNCC_ISA=sse9: %s", out);
	free(out);
	free(any);
}
END_TEST

static Suite *isa_suite(void)
{
	Suite *s = suite_create("isa");
	TCase *tc = tcase_create("same_bits");
	tcase_set_timeout(tc, 600);
	if (TU_SANITIZED) {
		/* A sanitizer build (make SAN=1) is here for libnncc's memory:
		 * the choice of kernels, the driver and pre-training's driver
		 * under ASan.  The kernels run uninstrumented in the generated
		 * code, and every network's bits are the plain build's test:
		 * here isa_f64 (Adam, dropout) and isa_pre (pre-training). */
		tcase_add_loop_test(tc, test_same_bits, 1, 2);
		tcase_add_loop_test(tc, test_same_bits, 3, 4);
	} else {
		tcase_add_loop_test(tc, test_same_bits, 0, (int)N_NETS);
	}
	tcase_add_test(tc, test_unknown_isa);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	dir = tu_mkdtemp();
	return tu_suite_main(isa_suite(), dir);
}
