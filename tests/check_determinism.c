/*
 * check_determinism.c - end to end through the real pipeline (nncc, $CC,
 * the libnncc driver): the same YAML gives byte-identical C, and a trainer
 * run twice with the same seed writes bit-identical weight files (--save),
 * also with another thread count and with the full batch split into tiles;
 * a different seed gives different weights.  float32 and float64.
 * Data: a few dozen seeded 4x4 "images" of three classes written as IDX.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nncc.h"
#include "testutil.h"

#define SIDE 4
#define N_TRAIN 50
#define N_TEST 12

static char *dir;

/* n seeded samples of three classes: class c brightens row c (of SIDE). */
static void write_set(const char *set, size_t n, uint64_t seed)
{
	ck_assert_int_eq(tu_idx_write_banded(dir, set, n, SIDE, SIDE, 3, SIDE, 96, seed), 0);
}

/* nncc twice on the YAML, the C files compared, then one trainer built
 * from it.  Returns the trainer's path (malloc'd). */
static char *build(const char *dtype)
{
	char name[64], *out = NULL;
	snprintf(name, sizeof name, "det_%s.yaml", dtype);
	char *yaml = tu_path(dir, name);
	char text[1024];
	snprintf(text, sizeof text,
	         "network: det_%s\ninput: %d\ndtype: %s\nlayers:\n"
	         "  - {type: dense, units: 7, activation: sigmoid}\n"
	         "  - {type: dense, units: 5, activation: tanh}\n"
	         "  - {type: dense, units: 3}\n  - {type: softmax}\n"
	         "training:\n  learning_rate: 0.3\n  batch_size: 4\n  iterations: 40\n"
	         "  shuffle: true\n  seed: 5\ndata:\n  dir: %s\n  normalize: standardize\n",
	         dtype, SIDE * SIDE, dtype, dir);
	ck_assert_int_eq(tu_write_text(yaml, text), 0);
	snprintf(name, sizeof name, "det_%s", dtype);
	char *exe = tu_path(dir, name);
	int st = tu_run(&out, "%s %s -o %s.c && mv %s.c %s.first.c && %s %s -o %s.c && cmp %s.first.c %s.c",
	                tu_nncc(), yaml, exe, exe, exe, tu_nncc(), yaml, exe, exe, exe);
	ck_assert_msg(st == 0, "nncc twice on %s must give byte-identical C:\n%s", yaml, out);
	free(out);
	st = tu_run(&out, "%s -O2 %s.c $(%s --cflags) -o %s $(%s --libs)", tu_cc(), exe, tu_nncc(),
	            exe, tu_nncc());
	ck_assert_msg(st == 0, "compiling %s.c failed:\n%s", exe, out);
	free(out);
	free(yaml);
	return exe;
}

/* Runs the trainer with extra options, saving the weights to dir/NAME. */
static char *train(const char *exe, const char *save, const char *opts)
{
	char *w = tu_path(dir, save), *out = NULL;
	int st = tu_run(&out, "%s --data %s --save %s %s", exe, dir, w, opts);
	ck_assert_msg(st == 0, "%s --save %s %s failed (%d):\n%s", exe, w, opts, st, out);
	free(out);
	return w;
}

START_TEST(test_seed)
{
	const char *dtype = _i ? "float64" : "float32";
	write_set("train", N_TRAIN, 1);
	write_set("t10k", N_TEST, 2);
	char *exe = build(dtype);
	char n[4][64];
	const char *opts[4] = {"--seed 11", "--seed 11", "--seed 11 --threads 2", "--seed 12"};
	char *w[4];
	for (int k = 0; k < 4; k++) {
		snprintf(n[k], sizeof n[k], "%s-%d.weights", dtype, k);
		w[k] = train(exe, n[k], opts[k]);
	}
	ck_assert_msg(tu_same_file(w[0], w[1]), "%s: two runs with --seed 11 wrote different weight "
	              "files %s and %s", dtype, w[0], w[1]);
	ck_assert_msg(tu_same_file(w[0], w[2]), "%s: --threads 2 changed the weights (%s vs %s)", dtype,
	              w[0], w[2]);
	ck_assert_msg(!tu_same_file(w[0], w[3]), "%s: --seed 11 and --seed 12 wrote identical weights "
	              "(%s)", dtype, w[0]);

	/* A full batch larger than the tile (4) goes through accumulate. */
	char *f1 = train(exe, "full-a.weights", "--seed 3 --batch full --iterations 5");
	char *f2 = train(exe, "full-b.weights", "--seed 3 --batch full --iterations 5");
	ck_assert_msg(tu_same_file(f1, f2), "%s: full-batch runs with one seed differ", dtype);
	for (int k = 0; k < 4; k++)
		free(w[k]);
	free(f1);
	free(f2);
	free(exe);
}
END_TEST

static Suite *determinism_suite(void)
{
	Suite *s = suite_create("determinism");
	TCase *tc = tcase_create("same_seed_same_bits");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_seed, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	dir = tu_mkdtemp();
	return tu_suite_main(determinism_suite(), dir);
}
