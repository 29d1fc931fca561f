/*
 * check_golden.c - pins the bits of trained weights through the whole
 * pipeline (nncc, $CC with `nncc --cflags`, the libnncc driver): every
 * examples/ *.yaml, in float32 and float64, trained for a few iterations on
 * seeded synthetic data with several option sets (the YAML's own batch on
 * one thread, a shuffled run on two threads, a full batch that spans
 * tiles, an odd batch), and the SHA-256 of the saved parameters compared
 * with tests/golden/driver.sha256.  A redesign of the generated code, the
 * kernels or the driver must leave every one of these bits alone; a change
 * that means to alter them re-records the table (docs/testing.md).
 * Vocabulary: run = one trainer invocation with one option set.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nncc.h"
#include "testutil.h"

#define GOLDEN "tests/golden/driver.sha256"
#define STRICT "-std=c99 -Wall -Wextra -pedantic -Werror -O2"
#define N_TRAIN 300   /* > 256, the largest tile: full batch accumulates */
#define N_TEST 40
#define MAX_EXAMPLES 32

static struct {
	char *dir;
	char names[MAX_EXAMPLES][64];   /* "sgd20" for examples/sgd20.yaml */
	size_t n;
} G;

/* The option sets every example is trained with. */
static const struct {
	const char *id, *opts;
} runs[] = {
	{"yaml", "--iterations 6 --threads 1"},
	{"shuffle2", "--iterations 9 --shuffle --threads 2 --seed 3"},
	{"full", "--iterations 2 --batch full"},
	{"batch7", "--iterations 5 --batch 7 --lr 0.05"},
};

/* The data is written before the tests run, outside Check: failures abort. */
static void must(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "check_golden: cannot write the data: %s\n", what);
		abort();
	}
}

/* n seeded samples of `rows` x `cols` pixels with labels < classes: the
 * label brightens one band of the image, so training has something to do. */
static void write_set(const char *set, size_t n, size_t rows, size_t cols, size_t classes,
                      uint64_t seed)
{
	must(tu_idx_write_banded(G.dir, set, n, rows, cols, classes, classes, 80, seed) == 0, set);
}

/* The data sets: MNIST-shaped (784 pixels, 10 classes) and XOR-shaped
 * (2 inputs, 2 classes), in dir/m and dir/x. */
static void data_write(void)
{
	must(tu_run(NULL, "mkdir -p %s/m %s/x", G.dir, G.dir) == 0, G.dir);
	write_set("m/train", N_TRAIN, 28, 28, 10, 1);
	write_set("m/t10k", N_TEST, 28, 28, 10, 2);
	write_set("x/train", N_TRAIN, 1, 2, 2, 3);
	write_set("x/t10k", N_TEST, 1, 2, 2, 4);
}

/* examples/NAME.yaml with the dtype set and the data files named as
 * data_write() names them; built into dir/NAME_DTYPE. */
static char *build(const char *name, int f64)
{
	char id[96], *text = NULL, *out = NULL;
	snprintf(id, sizeof id, "%s_%s", name, f64 ? "f64" : "f32");
	char *exe = tu_path(G.dir, id);
	/* The data file names go (the defaults are what data_write() writes);
	 * they are strings in the descriptor and change no parameter. */
	ck_assert_int_eq(tu_run(&text, "grep -Ev '^ *(train|test)_(images|labels):' examples/%s.yaml",
	                        name), 0);
	char *yaml = malloc(strlen(text) + 256);
	ck_assert_ptr_nonnull(yaml);
	sprintf(yaml, "%s\ndtype: %s\n", text, f64 ? "float64" : "float32");
	char *ypath = malloc(strlen(exe) + 8);
	ck_assert_ptr_nonnull(ypath);
	sprintf(ypath, "%s.yaml", exe);
	ck_assert_int_eq(tu_write_text(ypath, yaml), 0);
	/* The run-time dispatch build (no -march: every instruction set's
	 * copy) under the strict flags: check_emit leaves the examples' gcc
	 * -O2 dispatch build to this one. */
	int st = tu_run(&out, "%s %s -o %s.c && %s " STRICT " %s.c $(%s --cflags) -o %s $(%s --libs)",
	                tu_nncc(), ypath, exe, tu_cc(), exe, tu_nncc(), exe, tu_nncc());
	ck_assert_msg(st == 0, "building examples/%s.yaml (%s) failed:\n%s", name,
	              f64 ? "float64" : "float32", out);
	free(out);
	free(text);
	free(yaml);
	free(ypath);
	return exe;
}

/* SHA-256 of the parameters in a weight file, as doubles (exact for both
 * dtypes): independent of the file's layout and version. */
static void params_hash(const char *path, char hex[65])
{
	nncc_weights_file_t wf;
	nncc_err_t err;
	ck_assert_msg(nncc_weights_read(&wf, path, &err) == 0, "%s", err.msg);
	nncc_sha256_hex(wf.params, wf.n_params * sizeof(double), hex);
	nncc_weights_file_fini(&wf);
}

START_TEST(test_example)
{
	const char *name = G.names[_i / 2];
	int f64 = _i % 2;
	char *exe = build(name, f64);
	/* 784-input examples train on dir/m, the 2-input XOR on dir/x. */
	char *out = NULL;
	int st = tu_run(&out, "grep -E '^input: *784 *$' examples/%s.yaml", name);
	const char *sub = st == 0 ? "m" : "x";
	free(out);
	for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
		char id[160], hex[65];
		snprintf(id, sizeof id, "%s_%s_%s", name, f64 ? "f64" : "f32", runs[k].id);
		char *w = tu_path(G.dir, id);
		st = tu_run(&out, "%s --data %s/%s --quiet --save %s %s", exe, G.dir, sub, w,
		            runs[k].opts);
		ck_assert_msg(st == 0, "%s: %s --save %s %s failed (%d):\n%s", id, exe, w, runs[k].opts,
		              st, out);
		free(out);
		params_hash(w, hex);
		char *why = tu_golden(GOLDEN, id, hex);
		ck_assert_msg(why == NULL, "%s", why);
		free(w);
	}
	free(exe);
}
END_TEST

/* Every examples/NAME.yaml, in name order. */
static void examples_list(void)
{
	char *list = NULL;
	if (tu_run(&list, "ls examples/*.yaml") != 0)
		abort();
	for (char *s = strtok(list, "\n"); s && G.n < MAX_EXAMPLES; s = strtok(NULL, "\n")) {
		const char *base = strrchr(s, '/') ? strrchr(s, '/') + 1 : s;
		snprintf(G.names[G.n], sizeof G.names[G.n], "%.*s", (int)(strlen(base) - 5), base);
		G.n++;
	}
	free(list);
}

static Suite *golden_suite(void)
{
	Suite *s = suite_create("golden");
	TCase *tc = tcase_create("examples_through_the_driver");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_example, 0, (int)(2 * G.n));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	G.dir = tu_mkdtemp();
	examples_list();
	data_write();
	return tu_suite_main(golden_suite(), G.dir);
}
