/*
 * check_driver.c - driver.c's training loop, through nncc_main() on the
 * hand-written "blobs" model and its data (driverutil.h): it learns with
 * small and large batches; a batch larger than max_batch is accumulated
 * over tiles into one update(lr, B) and gives the bits of one step();
 * samples arrive in file order (wrapping around) or shuffled per epoch; the
 * seed fixes the weights; --save/--load round-trips; a NaN loss stops it.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driverutil.h"
#include "nncc.h"
#include "testutil.h"

START_TEST(trains_blobs)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	result_t r0 = run_net(&blob_model, dir, "--iterations", "0", "--json", NULL);
	result_t r1 = run_net(&blob_model, dir, "--json", NULL);
	ck_assert_int_eq(r0.rc, 0);
	ck_assert_int_eq(r1.rc, 0);
	double l0 = json_num(r0.out, "train_loss"), l1 = json_num(r1.out, "train_loss");
	ck_assert_msg(l1 < 0.5 * l0, "loss %g -> %g", l0, l1);
	ck_assert_double_ge(json_num(r1.out, "test_accuracy"), 0.97);
	ck_assert_double_eq(json_num(r1.out, "iterations"), 5 * 30);
	ck_assert_double_eq(json_num(r1.out, "epochs"), 5);
	result_free(&r0);
	result_free(&r1);
	tu_scratch_free(dir);
}
END_TEST

/* Batches within a tile use step(); larger ones accumulate over tiles and
 * call update(lr, B) once.  Both must learn. */
START_TEST(small_and_large_batches_learn)
{
	static const char *const batches[] = {"4", "8", "20", "full"};
	char *dir = make_data(IN, K, DATA_BLOBS);
	result_t r0 = run_net(&blob_model, dir, "--iterations", "0", "--json", NULL);
	double l0 = json_num(r0.out, "train_loss");
	for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++) {
		result_t r = run_net(&blob_model, dir, "--json", "--batch", batches[i],
		                     "--iterations", "60", NULL);
		ck_assert_int_eq(r.rc, 0);
		double l = json_num(r.out, "train_loss");
		ck_assert_msg(l < 0.5 * l0, "batch %s: loss %g -> %g", batches[i], l0, l);
		ck_assert_double_ge(json_num(r.out, "test_accuracy"), 0.95);
		result_free(&r);
	}
	result_free(&r0);
	tu_scratch_free(dir);
}
END_TEST

/* A full batch through 8-sample tiles (accumulate) and through one tile
 * (step) gives the same weights, bit for bit. */
START_TEST(accumulated_batch_equals_one_step)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	nncc_model_t big = blob_model;
	big.max_batch = TILE_MAX;
	char *wa = tu_path(dir, "tiles.w"), *wb = tu_path(dir, "one.w");
	result_t a = run_net(&blob_model, dir, "--batch", "full", "--iterations", "20", "--save",
	                     wa, NULL);
	result_t b = run_net(&big, dir, "--batch", "full", "--iterations", "20", "--save", wb, NULL);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_eq(b.rc, 0);
	ck_assert(tu_same_file(wa, wb));
	result_free(&a);
	result_free(&b);
	free(wa);
	free(wb);
	tu_scratch_free(dir);
}
END_TEST

/* update() gets the batch size, not the tile size. */
START_TEST(large_batch_updates_with_batch_size)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	updates = 0;
	last_update_batch = 0;
	record_n = 0;
	pid_t pid;
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char *argv[] = {"net", "--data", dir, "--batch", "20", "--iterations", "3", "--quiet",
		                NULL};
		if (!freopen("/dev/null", "w", stdout))
			_exit(99);
		int rc = nncc_main(8, argv, &blob_model);
		exit(rc == 0 && updates == 3 && last_update_batch == 20 && record_n == 60 ? 0 : 1);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	tu_scratch_free(dir);
}
END_TEST

/* Runs the index data set through nncc_main in this (forked) process and
 * returns what backward() saw: the sample indices in order. */
static size_t train_order(const char *dir, const char *batch, const char *iters, int shuffle,
                          size_t max_batch, size_t *idx)
{
	nncc_model_t m = blob_model;
	m.config.normalize = NNCC_NORM_NONE;
	m.max_batch = max_batch;
	/* Raw pixels as inputs: a small lr keeps the loss finite. */
	char *argv[] = {"net", "--data", (char *)dir, "--batch", (char *)batch, "--iterations",
	                (char *)iters, shuffle ? "--shuffle" : "--no-shuffle", "--quiet",
	                "--lr", "1e-5", NULL};
	FILE *devnull = freopen("/dev/null", "w", stdout);
	ck_assert_ptr_nonnull(devnull);
	record_n = 0;
	ck_assert_int_eq(nncc_main(11, argv, &m), 0);
	for (size_t i = 0; i < record_n; i++)
		idx[i] = (size_t)record_x0[i];
	return record_n;
}

START_TEST(file_order_wraps_around)
{
	char *dir = make_data(IN, K, DATA_INDEX);
	size_t *idx = malloc(RECORD_MAX * sizeof *idx);
	/* B = 7 <= tile: batch 42 covers samples 294..299, 0. */
	size_t n = train_order(dir, "7", "90", 0, 8, idx);
	ck_assert_uint_eq(n, 630);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(idx[i], (i % N_TRAIN) % 251);
	/* B = 20 > tile (accumulate path), 300 / 20 batches per pass. */
	n = train_order(dir, "20", "31", 0, 8, idx);
	ck_assert_uint_eq(n, 620);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(idx[i], (i % N_TRAIN) % 251);
	free(idx);
	tu_scratch_free(dir);
}
END_TEST

/* With --shuffle, each pass over the stream is a permutation of the
 * training set, and the passes differ. */
START_TEST(shuffle_permutes_each_epoch)
{
	char *dir = make_data(IN, K, DATA_INDEX);
	size_t *idx = malloc(RECORD_MAX * sizeof *idx);
	size_t n = train_order(dir, "7", "129", 1, 8, idx); /* 903 samples: 3 passes + 3 */
	ck_assert_uint_eq(n, 903);
	for (size_t pass = 0; pass < 3; pass++) {
		size_t seen[251] = {0}, in_order = 0;
		for (size_t i = 0; i < N_TRAIN; i++) {
			seen[idx[pass * N_TRAIN + i]]++;
			in_order += idx[pass * N_TRAIN + i] == i % 251;
		}
		for (size_t v = 0; v < 251; v++)
			ck_assert_uint_eq(seen[v], v < N_TRAIN - 251 ? 2 : 1);
		ck_assert_uint_lt(in_order, 30);
	}
	ck_assert(memcmp(idx, idx + N_TRAIN, N_TRAIN * sizeof *idx) != 0);
	free(idx);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(save_then_load_reproduces)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *w = tu_path(dir, "w.bin");
	result_t a = run_net(&blob_model, dir, "--json", "--iterations", "40", "--save", w, NULL);
	result_t b = run_net(&blob_model, dir, "--json", "--load", w, "--iterations", "0", NULL);
	result_t c = run_net(&blob_model, dir, "--json", "--load", w, "--no-train", NULL);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_eq(b.rc, 0);
	ck_assert_int_eq(c.rc, 0);
	ck_assert_double_eq(json_num(a.out, "test_accuracy"), json_num(b.out, "test_accuracy"));
	ck_assert_double_eq(json_num(a.out, "test_loss"), json_num(b.out, "test_loss"));
	ck_assert_double_eq(json_num(a.out, "train_loss"), json_num(c.out, "train_loss"));
	ck_assert_double_eq(json_num(b.out, "iterations"), 0);

	nncc_weights_file_t wf;
	nncc_err_t err;
	ck_assert_int_eq(nncc_weights_read(&wf, w, &err), 0);
	ck_assert_uint_eq(wf.meta.iterations, 40);
	ck_assert_double_eq(wf.meta.test_accuracy, json_num(a.out, "test_accuracy"));
	ck_assert_int_eq(wf.norm.kind, NNCC_NORM_STANDARDIZE);
	nncc_weights_file_fini(&wf);
	result_free(&a);
	result_free(&b);
	result_free(&c);
	free(w);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(seed_determines_weights)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *a = tu_path(dir, "a.w"), *b = tu_path(dir, "b.w"), *c = tu_path(dir, "c.w");
	result_t ra = run_net(&blob_model, dir, "--seed", "3", "--shuffle", "--save", a, NULL);
	result_t rb = run_net(&blob_model, dir, "--seed", "3", "--shuffle", "--save", b, NULL);
	result_t rc = run_net(&blob_model, dir, "--seed", "4", "--shuffle", "--save", c, NULL);
	ck_assert_int_eq(ra.rc, 0);
	ck_assert_int_eq(rb.rc, 0);
	ck_assert_int_eq(rc.rc, 0);
	ck_assert(tu_same_file(a, b));
	ck_assert(!tu_same_file(a, c));
	result_free(&ra);
	result_free(&rb);
	result_free(&rc);
	free(a);
	free(b);
	free(c);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(nan_loss_stops)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *w = tu_path(dir, "w.bin");
	steps = 0;
	nan_at = 5;
	/* --batch 5: one step() per iteration, the call that returns NaN. */
	result_t r = run_net(&blob_model, dir, "--quiet", "--batch", "5", "--save", w, NULL);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.err, "blobs: error: loss became nan at iteration 5 (learning rate 0.5); "
	                        "try a lower --lr\n");
	ck_assert_str_eq(r.out, "");
	ck_assert_int_ne(access(w, F_OK), 0);
	result_free(&r);
	nan_at = 0;
	r = run_net(&blob_model, dir, "--quiet", "--lr", "1e308", "--save", w, NULL);
	ck_assert_int_eq(r.rc, 1);
	ASSERT_HAS(r.err, "blobs: error: loss became ");
	ASSERT_HAS(r.err, " at iteration ");
	ASSERT_HAS(r.err, "(learning rate 1e+308); try a lower --lr\n");
	ck_assert_int_ne(access(w, F_OK), 0);
	result_free(&r);
	free(w);
	tu_scratch_free(dir);
}
END_TEST

static Suite *driver_suite(void)
{
	Suite *s = suite_create("driver");
	TCase *tc = tcase_create("training");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, trains_blobs);
	tcase_add_test(tc, small_and_large_batches_learn);
	tcase_add_test(tc, accumulated_batch_equals_one_step);
	tcase_add_test(tc, large_batch_updates_with_batch_size);
	tcase_add_test(tc, file_order_wraps_around);
	tcase_add_test(tc, shuffle_permutes_each_epoch);
	tcase_add_test(tc, save_then_load_reproduces);
	tcase_add_test(tc, seed_determines_weights);
	tcase_add_test(tc, nan_loss_stops);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(driver_suite(), NULL);
}
