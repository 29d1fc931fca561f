/*
 * check_driver.c - driver.c's training loop, through nncc_main() on the
 * hand-written "blobs" model and its data (driverutil.h): it learns with
 * small and large batches; a batch larger than max_batch is accumulated
 * over tiles into one update(lr, B) and gives the bits of one step();
 * samples arrive in file order (wrapping around) or shuffled per epoch; in
 * epochs mode every pass is whole, its last batch shorter; the seed fixes
 * the weights; --save/--load round-trips; a NaN loss stops it; clipping
 * scales the update; --resume continues a run bit for bit (iterations and
 * epochs, file order and shuffled, optimizer state, after a crash from a
 * --checkpoint-every file) and refuses a checkpoint that does not fit.
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../runtime/driver.h"
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

/* The parameters of two weight files are the same bits (their RECIPE
 * sections may differ). */
static int same_params(const char *a, const char *b)
{
	nncc_weights_file_t wa, wb;
	nncc_err_t err;
	ck_assert_msg(nncc_weights_read(&wa, a, &err) == 0, "%s", err.msg);
	ck_assert_msg(nncc_weights_read(&wb, b, &err) == 0, "%s", err.msg);
	int same = wa.n_params == wb.n_params &&
	           !memcmp(wa.params, wb.params, wa.n_params * sizeof *wa.params);
	nncc_weights_file_fini(&wa);
	nncc_weights_file_fini(&wb);
	return same;
}

/* --chunks (docs/scaling.md) in one process: one chunk is the one chain
 * (the same bytes as without); 3 chunks of a 20-sample batch in 8-sample
 * tiles give other bytes, the same every time; 3 chunks of a 3-sample
 * batch (one sample each, added along the tree: (s0 + s1) + s2) are the
 * chain itself again (the same parameters; the file records --chunks 3). */
START_TEST(chunks_in_one_process)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	const char *chunks[4] = {"0", "1", "3", "3"}, *batch[2] = {"20", "3"};
	for (int b = 0; b < 2; b++) {
		char *w[4];
		for (int k = 0; k < 4; k++) {
			char name[32];
			snprintf(name, sizeof name, "c%d-%d.w", k, b);
			w[k] = tu_path(dir, name);
			result_t r = run_net(&blob_model, dir, "--batch", batch[b], "--iterations", "30",
			                     "--shuffle", "--clip-norm", "0.5", "--chunks", chunks[k],
			                     "--save", w[k], NULL);
			ck_assert_msg(r.rc == 0, "--chunks %s: %s", chunks[k], r.err);
			result_free(&r);
		}
		ck_assert(tu_same_file(w[0], w[1]));
		ck_assert(same_params(w[0], w[2]) == (b == 1));
		ck_assert(tu_same_file(w[2], w[3]));
		for (int k = 0; k < 4; k++)
			free(w[k]);
	}
	tu_scratch_free(dir);
}
END_TEST

/* The memory estimate counts the chunked step's sums (nncc_group_bytes: the
 * most any rank count needs), and nothing else changes with --chunks. */
static size_t json_estimate(const char *out)
{
	const char *p = strstr(out, "\"estimate\": ");
	ck_assert_msg(p != NULL, "no estimate in the JSON: %s", out);
	return (size_t)strtoull(p + strlen("\"estimate\": "), NULL, 10);
}

START_TEST(chunks_counted_in_the_estimate)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	static const char *chunks[] = {"0", "3", "12"};
	size_t est[3];
	for (int k = 0; k < 3; k++) {
		result_t r = run_net(&blob_model, dir, "--batch", "20", "--iterations", "2", "--chunks",
		                     chunks[k], "--json", NULL);
		ck_assert_msg(r.rc == 0, "--chunks %s: %s", chunks[k], r.err);
		est[k] = json_estimate(r.out);
		result_free(&r);
	}
	ck_assert_uint_gt(nncc_group_bytes(&blob_model, 3, 0), 0);
	ck_assert_uint_eq(est[1] - est[0], nncc_group_bytes(&blob_model, 3, 0));
	ck_assert_uint_eq(est[2] - est[0], nncc_group_bytes(&blob_model, 12, 0));
	tu_scratch_free(dir);
}
END_TEST

/* nncc_stream_skip leaves a shuffled stream where nncc_stream_next does,
 * across pass ends (fresh orders) too. */
START_TEST(stream_skip_is_next_unread)
{
	static const double x[10 * IN];
	static const int32_t y[10];
	nncc_stream_t a, b;
	nncc_err_t err;
	const void *yy;
	ck_assert_int_eq(nncc_stream_init(&a, &blob_model, x, y, 10, 1, 42, &err), 0);
	ck_assert_int_eq(nncc_stream_init(&b, &blob_model, x, y, 10, 1, 42, &err), 0);
	for (size_t k = 1; k <= 7; k++) {
		nncc_stream_next(&a, k, &yy);
		nncc_stream_skip(&b, k);
		ck_assert_uint_eq(a.pos, b.pos);
		ck_assert_uint_eq(a.epoch, b.epoch);
		ck_assert_mem_eq(a.perm, b.perm, 10 * sizeof *a.perm);
		ck_assert_mem_eq(a.rng.s, b.rng.s, sizeof a.rng.s);
	}
	ck_assert_uint_ge(a.epoch, 2);
	nncc_stream_fini(&a);
	nncc_stream_fini(&b);
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

/* nncc_main(m) in this (forked) process with {"net", "--data", dir,
 * "--quiet", args..., NULL}, stdout to /dev/null; the records start empty. */
static int train_here(const nncc_model_t *m, const char *dir, const char *const *args)
{
	char *argv[32] = {"net", "--data", (char *)dir, "--quiet"};
	int argc = 4;
	for (; *args; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	ck_assert_ptr_nonnull(freopen("/dev/null", "w", stdout));
	record_n = updates = 0;
	return nncc_main(argc, argv, m);
}

/* Epochs mode: each pass is the N samples once, ceil(N / B) updates, the
 * last on N mod B of them, the next pass from sample 0 (reshuffled); the
 * report counts whole epochs.  Batches in a tile (7) and over tiles (40). */
START_TEST(epochs_are_whole_passes)
{
	char *dir = make_data(IN, K, DATA_INDEX);
	nncc_model_t m = blob_model;
	m.config.normalize = NNCC_NORM_NONE;
	static const struct {
		const char *batch;
		size_t B, per_epoch, last;
	} c[] = {{"7", 7, 43, 6}, {"40", 40, 8, 20}, {"125", 125, 3, 50}};
	for (size_t i = 0; i < 3; i++)
		for (int shuffle = 0; shuffle < 2; shuffle++) {
			const char *args[] = {"--lr", "1e-5", "--batch", c[i].batch, "--epochs", "2",
			                      shuffle ? "--shuffle" : "--no-shuffle", NULL};
			ck_assert_int_eq(train_here(&m, dir, args), 0);
			ck_assert_uint_eq(updates, 2 * c[i].per_epoch);
			for (size_t u = 0; u < updates; u++)
				ck_assert_uint_eq(record_batch[u],
				                  u % c[i].per_epoch + 1 == c[i].per_epoch ? c[i].last : c[i].B);
			ck_assert_uint_eq(record_n, 2 * N_TRAIN);
			for (size_t pass = 0; pass < 2; pass++) {
				size_t seen[251] = {0}, in_order = 0;
				for (size_t k = 0; k < N_TRAIN; k++) {
					size_t v = (size_t)record_x0[pass * N_TRAIN + k];
					seen[v]++;
					in_order += v == k % 251;
				}
				for (size_t v = 0; v < 251; v++)
					ck_assert_uint_eq(seen[v], v < N_TRAIN - 251 ? 2 : 1);
				if (shuffle)
					ck_assert_uint_lt(in_order, 30);
				else
					ck_assert_uint_eq(in_order, N_TRAIN);
			}
		}
	result_t r = run_net(&blob_model, dir, "--batch", "125", "--epochs", "1", NULL);
	ck_assert_int_eq(r.rc, 0);
	ASSERT_HAS(r.out, "training       3 iterations = 1.00 epochs, batch 125,");
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

/* Clipping on but never reached gives the bits of no clipping (backward
 * + update against the fused step); reached, every update moves the
 * weights by lr * max_norm (the batch-mean gradient scaled to max_norm). */
START_TEST(clip_norm_scales_the_update)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *w0 = tu_path(dir, "w0"), *w1 = tu_path(dir, "w1"), *w2 = tu_path(dir, "w2");
	result_t a = run_net(&blob_model, dir, "--batch", "5", "--iterations", "40", "--save", w1,
	                     NULL);
	result_t b = run_net(&blob_model, dir, "--batch", "5", "--iterations", "40", "--clip-norm",
	                     "1e9", "--save", w2, "--json", NULL);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_eq(b.rc, 0);
	ck_assert(tu_same_file(w1, w2));
	ASSERT_HAS(b.out, "\"clipped_updates\": 0,");
	result_free(&a);
	result_free(&b);
	for (int it = 0; it < 2; it++) {
		a = run_net(&blob_model, dir, "--iterations", it ? "1" : "0", "--clip-norm", "0.01",
		            "--lr", "0.5", "--save", it ? w1 : w0, NULL);
		ck_assert_int_eq(a.rc, 0);
		result_free(&a);
	}
	nncc_weights_file_t f0, f1;
	nncc_err_t err;
	ck_assert_int_eq(nncc_weights_read(&f0, w0, &err), 0);
	ck_assert_int_eq(nncc_weights_read(&f1, w1, &err), 0);
	double ss = 0;
	for (size_t k = 0; k < NP; k++)
		ss += (f1.params[k] - f0.params[k]) * (f1.params[k] - f0.params[k]);
	ck_assert_double_eq_tol(sqrt(ss), 0.5 * 0.01, 0.5 * 0.01 * 1e-6);
	nncc_weights_file_fini(&f0);
	nncc_weights_file_fini(&f1);
	free(w0);
	free(w1);
	free(w2);
	tu_scratch_free(dir);
}
END_TEST

/* ---- resume */

/* "blobsgd" with one state slot: momentum v = beta v + g / B, p -= lr v,
 * beta the hyper-parameter, so that a resume without the state would
 * differ. */
static double velocity[NP];

static void blobm_update(const nncc_update_t *u)
{
	for (size_t k = 0; k < NP; k++) {
		velocity[k] = u->hparams[0] * velocity[k] + grads[k] / (double)u->batch;
		params[k] -= u->lr * velocity[k];
	}
	if (updates < RECORD_MAX)
		record_batch[updates] = u->batch;
	last_update_step = u->step;
	updates++;
}

static double blobm_step(size_t n, const void *x, const void *y, const nncc_update_t *u)
{
	blob_forward(n, x);
	double l = blob_loss(n, y);
	blob_backward(n, x, y, 0);
	blobm_update(u);
	return ++steps == nan_at ? NAN : l;
}

static nncc_model_t blobm(void)
{
	nncc_model_t m = blob_model;
	m.update = blobm_update;
	m.step = blobm_step;
	m.n_state = 1;
	m.state = velocity;
	return m;
}

/* Two runs, `first` then `--resume` with `second`, against one run with
 * `whole`: the saved files are the same bytes. */
static void resume_case(const nncc_model_t *m, const char *dir, const char *const *whole,
                        const char *const *first, const char *const *second, const char *what)
{
	char *a = tu_path(dir, "whole.w"), *b = tu_path(dir, "first.w"), *c = tu_path(dir, "cont.w");
	const char *args[3][24];
	const char *const *given[3] = {whole, first, second};
	const char *save[3] = {a, b, c};
	for (int k = 0; k < 3; k++) {
		size_t n = 0;
		if (k == 2) {
			args[k][n++] = "--resume";
			args[k][n++] = b;
		}
		for (const char *const *p = given[k]; *p; p++)
			args[k][n++] = *p;
		args[k][n++] = "--save";
		args[k][n++] = save[k];
		args[k][n] = NULL;
		result_t r = run_net_args(m, dir, args[k]);
		ck_assert_msg(r.rc == 0, "%s, run %d: %s", what, k, r.err);
		result_free(&r);
	}
	ck_assert_msg(tu_same_file(a, c), "%s: the resumed run's file differs from the whole run's",
	              what);
	free(a);
	free(b);
	free(c);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

START_TEST(resume_continues_exactly)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	nncc_model_t models[2] = {blob_model, blobm()};
	for (int k = 0; k < 2; k++) {
		const nncc_model_t *m = &models[k];
		for (int sh = 0; sh < 2; sh++) {
			const char *order = sh ? "--shuffle" : "--no-shuffle";
			/* iterations: 25 + 35 = 60 batches of 7 (wrapping mid-batch) */
			resume_case(m, dir, ARGS("--batch", "7", "--iterations", "60", order),
			            ARGS("--batch", "7", "--iterations", "25", order),
			            ARGS("--batch", "7", "--iterations", "35", order), "iterations");
			/* a batch over tiles (20 > max_batch 8) */
			resume_case(m, dir, ARGS("--batch", "20", "--iterations", "40", order),
			            ARGS("--batch", "20", "--iterations", "17", order),
			            ARGS("--batch", "20", "--iterations", "23", order), "tiled");
			/* epochs: 1 then up to 3, the last batch of each pass 6 */
			resume_case(m, dir, ARGS("--batch", "7", "--epochs", "3", order),
			            ARGS("--batch", "7", "--epochs", "1", order),
			            ARGS("--batch", "7", "--epochs", "3", order), "epochs");
			/* iterations mode stopped mid-pass, finished in epochs mode */
			resume_case(m, dir, ARGS("--batch", "7", "--epochs", "3", order),
			            ARGS("--batch", "7", "--iterations", "20", order),
			            ARGS("--batch", "7", "--epochs", "3", order), "mid-pass");
			/* a schedule that counts epochs and one that counts updates */
			resume_case(m, dir,
			            ARGS("--batch", "7", "--epochs", "3", order, "--schedule", "step",
			                 "--step-size", "1", "--gamma", "0.5", "--clip-norm", "0.3"),
			            ARGS("--batch", "7", "--epochs", "1", order, "--schedule", "step",
			                 "--step-size", "1", "--gamma", "0.5", "--clip-norm", "0.3"),
			            ARGS("--batch", "7", "--epochs", "3", order, "--schedule", "step",
			                 "--step-size", "1", "--gamma", "0.5", "--clip-norm", "0.3"),
			            "step schedule");
			resume_case(m, dir,
			            ARGS("--iterations", "60", order, "--schedule", "cosine", "--t-max",
			                 "60", "--warmup", "10"),
			            ARGS("--iterations", "30", order, "--schedule", "cosine", "--t-max",
			                 "60", "--warmup", "10"),
			            ARGS("--iterations", "30", order, "--schedule", "cosine", "--t-max",
			                 "60", "--warmup", "10"),
			            "cosine");
		}
	}
	tu_scratch_free(dir);
}
END_TEST

/* Without the optimizer's state a resume would not be exact: the momentum
 * model resumed as the stateless one (by --load) differs. */
START_TEST(load_is_not_resume)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	nncc_model_t m = blobm();
	char *a = tu_path(dir, "a"), *b = tu_path(dir, "b"), *c = tu_path(dir, "c");
	result_t r = run_net(&m, dir, "--iterations", "40", "--save", a, NULL);
	result_free(&r);
	r = run_net(&m, dir, "--iterations", "20", "--save", b, NULL);
	result_free(&r);
	r = run_net(&m, dir, "--load", b, "--iterations", "20", "--save", c, NULL);
	ck_assert_int_eq(r.rc, 0);
	result_free(&r);
	ck_assert(!tu_same_file(a, c));
	/* --load: the step counter from 1 and the data from sample 0 */
	char *dx = make_data(IN, K, DATA_INDEX);
	nncc_model_t raw = blob_model;
	raw.config.normalize = NNCC_NORM_NONE;
	ck_assert_int_eq(train_here(&raw, dx, ARGS("--lr", "1e-5", "--batch", "7", "--iterations",
	                                           "10", "--save", b)), 0);
	ck_assert_int_eq(train_here(&raw, dx, ARGS("--lr", "1e-5", "--batch", "7", "--iterations",
	                                           "3", "--load", b)), 0);
	ck_assert_uint_eq(last_update_step, 3);
	ck_assert_uint_eq((size_t)record_x0[0], 0);
	/* --resume: on from step 11 and sample 70 */
	ck_assert_int_eq(train_here(&raw, dx, ARGS("--lr", "1e-5", "--batch", "7", "--iterations",
	                                           "3", "--resume", b)), 0);
	ck_assert_uint_eq(last_update_step, 13);
	ck_assert_uint_eq((size_t)record_x0[0], 70);
	free(a);
	free(b);
	free(c);
	tu_scratch_free(dx);
	tu_scratch_free(dir);
}
END_TEST

/* A run that dies (here: the loss becomes NaN at update 75) leaves its
 * last --checkpoint-every file (update 60; test accuracy unknown), and
 * resuming from it ends where the run would have: the same file. */
START_TEST(checkpoint_survives_a_crash)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *a = tu_path(dir, "a"), *ck = tu_path(dir, "ck"), *c = tu_path(dir, "c");
	nncc_model_t m = blobm();
	result_t r = run_net(&m, dir, "--batch", "5", "--iterations", "100", "--save", a, NULL);
	ck_assert_int_eq(r.rc, 0);
	result_free(&r);
	steps = 0;
	nan_at = 75;
	r = run_net(&m, dir, "--batch", "5", "--iterations", "100", "--checkpoint-every", "30",
	            "--save", ck, NULL);
	nan_at = 0;
	ck_assert_int_eq(r.rc, 1);
	ASSERT_HAS(r.err, "loss became nan at iteration 75");
	result_free(&r);
	nncc_weights_file_t wf;
	nncc_err_t err;
	ck_assert_int_eq(nncc_weights_read(&wf, ck, &err), 0);
	ck_assert_uint_eq(wf.meta.iterations, 60);
	ck_assert(isnan(wf.meta.test_accuracy));
	ck_assert_uint_eq(wf.ck.step, 60);
	ck_assert_uint_eq(wf.ck.n_state, 1);
	nncc_weights_file_fini(&wf);
	ck_assert_uint_eq(tu_dir_entries(dir), 4 + 2 + 2);   /* data, stdout/stderr, a, ck */
	r = run_net(&m, dir, "--batch", "5", "--resume", ck, "--iterations", "40", "--save", c,
	            NULL);
	ck_assert_int_eq(r.rc, 0);
	ASSERT_HAS(r.out, "resumed        from ");
	ASSERT_HAS(r.out, " at update 60 (epoch 1, sample 0)\n");
	result_free(&r);
	ck_assert(tu_same_file(a, c));
	free(a);
	free(ck);
	free(c);
	tu_scratch_free(dir);
}
END_TEST

/* A checkpoint records its batch and --chunks (RECIPE): a resume with
 * others runs, with one warning that names them; with the same, none. */
START_TEST(resume_with_another_recipe_warns)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *a = tu_path(dir, "a"), want[512];
	nncc_weights_file_t wf;
	nncc_err_t err;
	result_t r = run_net(&blob_model, dir, "--batch", "7", "--iterations", "10", "--chunks", "3",
	                     "--save", a, NULL);
	ck_assert_int_eq(r.rc, 0);
	result_free(&r);
	ck_assert_int_eq(nncc_weights_read(&wf, a, &err), 0);
	ck_assert(wf.ck.has_recipe);
	ck_assert_uint_eq(wf.ck.batch, 7);
	ck_assert_uint_eq(wf.ck.chunks, 3);
	ck_assert_uint_eq(wf.ck.whole_passes, 0);
	nncc_weights_file_fini(&wf);
	r = run_net(&blob_model, dir, "--batch", "7", "--chunks", "3", "--iterations", "5",
	            "--resume", a, NULL);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_msg(!strstr(r.err, "warning"), "a warning with the same recipe:\n%s", r.err);
	result_free(&r);
	r = run_net(&blob_model, dir, "--batch", "5", "--iterations", "5", "--resume", a, NULL);
	ck_assert_int_eq(r.rc, 0);
	snprintf(want, sizeof want, "blobs: warning: resuming %s with batch 5 (it was trained with "
	         "7), --chunks 0 (it had 3): it trains on from the saved state, but not as one run "
	         "with this recipe would, bit for bit\n", a);
	ASSERT_HAS(r.err, want);
	result_free(&r);
	free(a);
	tu_scratch_free(dir);
}
END_TEST

/* A checkpoint that cannot continue this run: each refusal names the file
 * and what does not fit. */
START_TEST(resume_refusals)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *w = tu_path(dir, "w"), *bad = tu_path(dir, "bad");
	result_t r = run_net(&blob_model, dir, "--iterations", "3", "--save", w, NULL);
	ck_assert_int_eq(r.rc, 0);
	result_free(&r);
	nncc_model_t other = blob_model, stateful = blob_model;
	other.optimizer = "other";
	stateful.n_state = 1;
	stateful.state = velocity;
	uint32_t perm[5] = {4, 3, 2, 1, 0};
	nncc_checkpoint_t cks[] = {
		{.has_optim = 1, .optimizer = "blobsgd"},                          /* no POSITION */
		{.has_optim = 1, .optimizer = "blobsgd", .has_position = 1, .n_perm = 5, .perm = perm},
		{.has_optim = 1, .optimizer = "blobsgd", .has_position = 1, .sample = 500},
	};
	static const char *const why[] = {
		"it has no training position (POSITION section)",
		"its shuffled position orders 5 samples, the training set has 300",
		"its position (sample 500) is past the 300 samples of the training set",
	};
	char want[4400];
	nncc_err_t err;
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(nncc_weights_save(&blob_model, bad, NULL, NULL, &cks[i], &err), 0);
		r = run_net(&blob_model, dir, "--resume", bad, i == 1 ? "--shuffle" : "--no-shuffle",
		            NULL);
		ck_assert_int_eq(r.rc, 1);
		snprintf(want, sizeof want, "blobs: error: cannot resume from %s: %s\n", bad, why[i]);
		ck_assert_str_eq(r.err, want);
		ck_assert_str_eq(r.out, "");
		result_free(&r);
	}
	ck_assert_int_eq(nncc_weights_save(&blob_model, bad, NULL, NULL, NULL, &err), 0);
	r = run_net(&blob_model, dir, "--resume", bad, NULL);
	snprintf(want, sizeof want, "blobs: error: cannot resume from %s: it has no optimizer state "
	         "(OPTIM section); --load starts from its weights with a fresh optimizer\n", bad);
	ck_assert_str_eq(r.err, want);
	result_free(&r);
	r = run_net(&other, dir, "--resume", w, NULL);
	snprintf(want, sizeof want, "blobs: error: cannot resume from %s: it was saved by a trainer "
	         "whose optimizer is blobsgd, this one's is other (--load starts from its weights "
	         "with a fresh other)\n", w);
	ck_assert_str_eq(r.err, want);
	result_free(&r);
	r = run_net(&stateful, dir, "--resume", w, NULL);
	snprintf(want, sizeof want, "blobs: error: cannot resume from %s: it holds 0 optimizer state "
	         "slots per parameter, blobsgd here has 1\n", w);
	ck_assert_str_eq(r.err, want);
	result_free(&r);
	r = run_net(&blob_model, dir, "--resume", w, "--shuffle", NULL);
	snprintf(want, sizeof want, "blobs: error: cannot resume from %s: its position is in file "
	         "order, this run shuffles (resume it with --no-shuffle)\n", w);
	ck_assert_str_eq(r.err, want);
	result_free(&r);
	free(w);
	free(bad);
	tu_scratch_free(dir);
}
END_TEST

/* Epochs mode resumed after the last epoch trains nothing and saves the
 * position it read. */
START_TEST(resume_after_the_last_epoch)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *a = tu_path(dir, "a"), *b = tu_path(dir, "b");
	result_t r = run_net(&blob_model, dir, "--epochs", "2", "--shuffle", "--save", a, NULL);
	ck_assert_int_eq(r.rc, 0);
	result_free(&r);
	r = run_net(&blob_model, dir, "--epochs", "2", "--shuffle", "--resume", a, "--save", b,
	            "--json", NULL);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_double_eq(json_num(r.out, "iterations"), 0);
	ck_assert_double_eq(json_num(r.out, "step"), 60);
	result_free(&r);
	ck_assert(tu_same_file(a, b));
	free(a);
	free(b);
	tu_scratch_free(dir);
}
END_TEST

/* docs/trainer.md's description of the shuffle, written out from the
 * text (not from rng.c): the driver's order must be that one. */
static uint64_t doc_rotl(uint64_t x, int k)
{
	return x << k | x >> (64 - k);
}

static uint64_t doc_next(uint64_t s[4])
{
	uint64_t result = doc_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t;
	s[3] = doc_rotl(s[3], 45);
	return result;
}

static uint64_t doc_below(uint64_t s[4], uint64_t n)
{
	uint64_t threshold = (0 - n) % n, x;   /* 2^64 mod n */
	do
		x = doc_next(s);
	while (x < threshold);
	return x % n;
}

START_TEST(shuffle_replays_from_the_docs)
{
	char *dir = make_data(IN, K, DATA_INDEX);
	nncc_model_t m = blob_model;
	m.config.normalize = NNCC_NORM_NONE;
	ck_assert_int_eq(train_here(&m, dir, ARGS("--lr", "1e-5", "--batch", "7", "--iterations",
	                                          "90", "--shuffle", "--seed", "5")), 0);
	ck_assert_uint_eq(record_n, 630);
	uint64_t s[4], x = 5 ^ 0x53485546464c4531ull;
	for (int i = 0; i < 4; i++) {   /* splitmix64 */
		uint64_t z = x += 0x9e3779b97f4a7c15ull;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		s[i] = z ^ (z >> 31);
	}
	size_t perm[N_TRAIN];
	for (size_t i = 0; i < N_TRAIN; i++)
		perm[i] = i;
	for (size_t k = 0; k < record_n; k++) {
		if (k % N_TRAIN == 0)   /* a new pass: the previous order shuffled again */
			for (size_t i = N_TRAIN; i > 1; i--) {
				size_t j = (size_t)doc_below(s, i), t = perm[i - 1];
				perm[i - 1] = perm[j];
				perm[j] = t;
			}
		ck_assert_msg((size_t)record_x0[k] == perm[k % N_TRAIN] % 251,
		              "sample %zu of the run: %g, the documented order's %zu", k, record_x0[k],
		              perm[k % N_TRAIN]);
	}
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

/* --iterations 2^64 - 1 with --plot died of SIGFPE (the default
 * evaluation interval (T + 49) / 50 wrapped to 0); with batches of 10 the
 * run would train on more samples than 64 bits count: refused, nothing
 * written. */
START_TEST(iterations_past_the_sample_limit)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *svg = tu_path(dir, "p.svg"), *csv = tu_path(dir, "l.csv");
	result_t r = run_net(&blob_model, dir, "--iterations", "18446744073709551615", "--plot", svg,
	                     "--log", csv, NULL);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.err, "blobs: error: 18446744073709551615 iterations of 10 samples are more "
	                        "than 2^64 - 1 samples, the most a run counts (at most "
	                        "1844674407370955161 iterations at this batch size)\n");
	ck_assert_str_eq(r.out, "");
	ck_assert(!tu_exists(svg) && !tu_exists(csv));
	result_free(&r);
	r = run_net(&blob_model, dir, "--epochs", "18446744073709551615", NULL);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.err, "blobs: error: --epochs 18446744073709551615 of 30 updates each is "
	                        "more than 18446744073709551615 (SIZE_MAX) updates, the most a run "
	                        "counts\n");
	result_free(&r);
	free(svg);
	free(csv);
	tu_scratch_free(dir);
}
END_TEST

/* --eval-every 1 --plot over 2^62 iterations: the plot's capacity times
 * sizeof(double) wrapped to a small malloc and the run overflowed the heap.
 * Refused before anything is allocated, naming what to change. */
START_TEST(plot_points_past_memory)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *svg = tu_path(dir, "p.svg");
	result_t r = run_net(&blob_model, dir, "--batch", "1", "--iterations", "4611686018427387904",
	                     "--eval-every", "1", "--plot", svg, NULL);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.err, "blobs: error: --plot: 4611686018427387904 iterations with an "
	                        "evaluation every 1 need more points than memory can address; "
	                        "evaluate less often (--eval-every)\n");
	ck_assert(!tu_exists(svg));
	result_free(&r);
	free(svg);
	tu_scratch_free(dir);
}
END_TEST

/* --batch 2^64 - 1 spun for ever on one update.  A batch larger than the
 * training set takes the set once per update, as --batch full: the same
 * bytes, batch_size N in the report, a note on stderr. */
START_TEST(batch_larger_than_training_set_is_full_batch)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *wa = tu_path(dir, "a.w"), *wb = tu_path(dir, "b.w");
	result_t a = run_net(&blob_model, dir, "--batch", "18446744073709551615", "--iterations", "3",
	                     "--json", "--save", wa, NULL);
	result_t b = run_net(&blob_model, dir, "--batch", "full", "--iterations", "3", "--json",
	                     "--save", wb, "--quiet", NULL);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_eq(b.rc, 0);
	ASSERT_HAS(a.err, "blobs: batch 18446744073709551615 is more than the 300 training samples: "
	                  "each update takes all 300 (full batch)\n");
	ck_assert_double_eq(json_num(a.out, "batch_size"), N_TRAIN);
	ck_assert(tu_same_file(wa, wb));
	result_free(&a);
	result_free(&b);
	free(wa);
	free(wb);
	tu_scratch_free(dir);
}
END_TEST

/* A weight file with a NaN (CRC valid) loaded for training and for
 * --no-train without a word; nncc --infer already refused it.  Both runs
 * now stop, naming the file and the parameter. */
START_TEST(load_refuses_nonfinite_weights)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *w = tu_path(dir, "w.bin");
	nncc_norm_stats_t st;
	nncc_weights_meta_t meta;
	nncc_err_t err;
	result_t r = run_net(&blob_model, dir, "--iterations", "5", "--save", w, "--quiet", NULL);
	ck_assert_int_eq(r.rc, 0);
	result_free(&r);
	ck_assert_msg(nncc_weights_load(&blob_model, w, &st, &meta, NULL, &err) == 0, "%s", err.msg);
	params[IN * K + 1] = NAN;   /* b[1] */
	ck_assert_msg(nncc_weights_save(&blob_model, w, &st, &meta, NULL, &err) == 0, "%s", err.msg);
	nncc_norm_fini(&st);
	static const char *const modes[][2] = {{"--no-train", NULL}, {"--iterations", "3"}};
	for (size_t i = 0; i < 2; i++) {
		r = run_net(&blob_model, dir, "--load", w, modes[i][0], modes[i][1], NULL);
		ck_assert_int_eq(r.rc, 1);
		char want[600];
		snprintf(want, sizeof want, "blobs: error: file %s: parameter 13 (layer 1 \"out\", b[1]) "
		         "is nan: a weight file must hold finite numbers (did the training that wrote "
		         "it diverge?)\n", w);
		ck_assert_str_eq(r.err, want);
		ck_assert_str_eq(r.out, "");
		result_free(&r);
	}
	free(w);
	tu_scratch_free(dir);
}
END_TEST

/* ---- what a failed run leaves ------------------------------------------ */

/* Files in dir whose name has ".tmp." (an output's temporary file). */
static size_t tmp_files(const char *dir)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	for (struct dirent *e; (e = readdir(d));)
		n += strstr(e->d_name, ".tmp.") != NULL;
	closedir(d);
	return n;
}

/* The last line of a text. */
static const char *last_line(const char *s)
{
	const char *end = s + strlen(s), *p;
	if (end > s && end[-1] == '\n')
		end--;
	for (p = end; p > s && p[-1] != '\n'; p--)
		;
	return p;
}

/* A diverged run left its log (header, rows, a "-nan" row) and nothing
 * said so.  Now: the log is kept for the diagnosis, whole, ending with a
 * row for the update whose loss was not finite (train_loss nan, never
 * "-nan"), the message names it; no plot, no weights, no temporary file. */
START_TEST(divergence_keeps_a_marked_log)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *csv = tu_path(dir, "l.csv"), *svg = tu_path(dir, "p.svg"), *w = tu_path(dir, "w");
	char want[600];
	steps = 0;
	nan_at = 7;
	/* --batch 5: one step() per iteration, the call that returns NaN. */
	result_t r = run_net(&blob_model, dir, "--quiet", "--batch", "5", "--eval-every", "2",
	                     "--eval-test", "--validation", "30", "--log", csv, "--plot", svg,
	                     "--save", w, NULL);
	nan_at = 0;
	ck_assert_int_eq(r.rc, 1);
	snprintf(want, sizeof want, "blobs: error: loss became nan at iteration 7 (learning rate 0.5); "
	         "try a lower --lr (%s has the evaluations up to it, and a last row for it with "
	         "train_loss nan)\n", csv);
	ck_assert_str_eq(r.err, want);
	char *log = tu_read_file(csv, NULL);
	ck_assert_ptr_nonnull(log);
	ck_assert_uint_eq(count_lines(log, NULL), 1 + 4 + 1);   /* header, 0 2 4 6, 7 */
	ASSERT_HAS(log, "iteration,epoch,lr,train_loss,test_accuracy,seconds,val_loss,val_accuracy\n");
	const char *last = last_line(log);
	/* epoch 35 / 270 samples, lr 0.5, the batch's loss, test accuracy */
	ck_assert_msg(!strncmp(last, "7,0.12963,0.5,nan,nan,", strlen("7,0.12963,0.5,nan,nan,")), "%s",
	              last);
	ck_assert_msg(strstr(last, ",nan,nan\n") != NULL, "%s", last);
	ck_assert_ptr_null(strstr(log, "-nan"));
	ck_assert(!tu_exists(svg) && !tu_exists(w));
	ck_assert_uint_eq(tmp_files(dir), 0);
	free(log);
	result_free(&r);
	free(csv);
	free(svg);
	free(w);
	tu_scratch_free(dir);
}
END_TEST

/* --save failed at the end after --log and --plot were written, and they
 * stayed.  Now the log and the plot are renamed into place only after the
 * weights are saved: a failed save leaves neither, and no temporary file.
 * (The target is /dev/full: written in place, the save fails at its end.) */
START_TEST(failed_save_leaves_no_log_or_plot)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *csv = tu_path(dir, "l.csv"), *svg = tu_path(dir, "p.svg");
	result_t r = run_net(&blob_model, dir, "--quiet", "--iterations", "20", "--log", csv,
	                     "--plot", svg, "--save", "/dev/full", NULL);
	ck_assert_int_eq(r.rc, 1);
	ASSERT_HAS(r.err, "blobs: error: cannot save weights to /dev/full: ");
	ASSERT_HAS(r.err, "No space left on device");
	ck_assert(!tu_exists(csv) && !tu_exists(svg));
	ck_assert_uint_eq(tmp_files(dir), 0);
	result_free(&r);
	/* The same run with a writable --save: all three. */
	char *w2 = tu_path(dir, "w2");
	r = run_net(&blob_model, dir, "--quiet", "--iterations", "20", "--log", csv, "--plot", svg,
	            "--save", w2, NULL);
	ck_assert_int_eq(r.rc, 0);
	ck_assert(tu_exists(csv) && tu_exists(svg) && tu_exists(w2));
	ck_assert_uint_eq(tmp_files(dir), 0);
	result_free(&r);
	free(w2);
	free(csv);
	free(svg);
	tu_scratch_free(dir);
}
END_TEST

/* An output that is an input (a data file, --resume's weights, through
 * another spelling or a link), or two outputs that are one file, is
 * refused before anything is written (exit status 2).  --save onto
 * --resume's file continues a run in place. */
START_TEST(output_that_is_an_input_is_refused)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *data = tu_path(dir, "train-images-idx3-ubyte"), *w = tu_path(dir, "w");
	char *csv = tu_path(dir, "l.csv"), *csv2 = tu_path(dir, "./l.csv"), *link = tu_path(dir, "ln");
	char want[800];
	size_t len0, len;
	void *before = tu_read_file(data, &len0);
	result_t r = run_net(&blob_model, dir, "--quiet", "--log", data, NULL);
	ck_assert_int_eq(r.rc, 2);
	snprintf(want, sizeof want, "blobs: error: --log %s is the data file %s: an output must not "
	         "overwrite an input\n", data, data);
	ASSERT_HAS(r.err, want);
	void *after = tu_read_file(data, &len);
	ck_assert(len == len0 && memcmp(before, after, len) == 0);
	ck_assert_uint_eq(tmp_files(dir), 0);
	result_free(&r);
	r = run_net(&blob_model, dir, "--quiet", "--log", csv, "--plot", csv2, NULL);
	ck_assert_int_eq(r.rc, 2);
	snprintf(want, sizeof want, "blobs: error: --log %s and --plot %s are the same file: each "
	         "output needs its own\n", csv, csv2);
	ASSERT_HAS(r.err, want);
	ck_assert(!tu_exists(csv));
	result_free(&r);
	/* A checkpoint, then --plot onto it through a symbolic link. */
	r = run_net(&blob_model, dir, "--quiet", "--iterations", "30", "--save", w, NULL);
	ck_assert_int_eq(r.rc, 0);
	result_free(&r);
	ck_assert_int_eq(symlink(w, link), 0);
	r = run_net(&blob_model, dir, "--quiet", "--resume", w, "--plot", link, NULL);
	ck_assert_int_eq(r.rc, 2);
	snprintf(want, sizeof want, "blobs: error: --plot %s is --resume's file %s: writing it would "
	         "destroy the weights it reads\n", link, w);
	ASSERT_HAS(r.err, want);
	result_free(&r);
	r = run_net(&blob_model, dir, "--quiet", "--resume", w, "--save", link, "--iterations", "30",
	            "--json", NULL);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_double_eq(json_num(r.out, "step"), 60);
	result_free(&r);
	free(before);
	free(after);
	free(data);
	free(w);
	free(csv);
	free(csv2);
	free(link);
	tu_scratch_free(dir);
}
END_TEST

/* ---- signals ------------------------------------------------------------ */

/* Waits (up to 30 s) until dir/stderr.txt holds `needle`. */
static void wait_for_stderr(const char *dir, const char *needle)
{
	char *errp = tu_path(dir, "stderr.txt");
	for (int i = 0; i < 3000; i++) {
		struct timespec ten_ms = {0, 10000000};
		char *text = tu_exists(errp) ? tu_read_file(errp, NULL) : NULL;
		int found = text && strstr(text, needle);
		free(text);
		if (found) {
			free(errp);
			return;
		}
		nanosleep(&ten_ms, NULL);
	}
	ck_abort_msg("no \"%s\" on the trainer's stderr", needle);
}

/* A long run (--eval-every prints a line every 2000 updates) with --save,
 * --log and --plot, shuffled; args[] ends with NULL. */
static pid_t spawn_long_run(const char *dir, const char *w, const char *csv, const char *svg)
{
	const char *args[] = {"--batch", "5", "--shuffle", "--iterations", "100000000",
	                      "--eval-every", "2000", "--save", w, "--log", csv, "--plot", svg,
	                      NULL};
	return spawn_net_args(&blob_model, dir, args);
}

/* Ctrl-C: the update under way finishes, --save's file is written as a
 * checkpoint, stderr says where and how to go on, the exit status is 130;
 * no log, plot or temporary file.  The checkpoint holds the update it
 * says, and --resume from it gives the bytes of an uninterrupted run. */
START_TEST(sigint_writes_a_checkpoint_that_resumes)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *w = tu_path(dir, "w"), *csv = tu_path(dir, "l.csv"), *svg = tu_path(dir, "p.svg");
	char *a = tu_path(dir, "a"), *b = tu_path(dir, "b"), n_more[32], want[600];
	pid_t pid = spawn_long_run(dir, w, csv, svg);
	wait_for_stderr(dir, "blobs: iteration 2000/100000000");
	ck_assert_int_eq(kill(pid, SIGINT), 0);
	result_t r = wait_net(pid, dir);
	ck_assert_int_eq(r.rc, 130);
	ASSERT_HAS(r.err, "blobs: interrupted by SIGINT after ");
	ck_assert_str_eq(r.out, "");
	ck_assert(!tu_exists(csv) && !tu_exists(svg));
	ck_assert_uint_eq(tmp_files(dir), 0);

	nncc_checkpoint_t ck;
	nncc_norm_stats_t st;
	nncc_weights_meta_t meta;
	nncc_err_t err;
	ck_assert_msg(nncc_weights_load(&blob_model, w, &st, &meta, &ck, &err) == 0, "%s", err.msg);
	unsigned long long done = (unsigned long long)ck.step;
	ck_assert_uint_ge(done, 2000);
	ck_assert_uint_eq(meta.iterations, done);
	ck_assert(isnan(meta.test_accuracy));
	snprintf(want, sizeof want, "blobs: interrupted by SIGINT after %llu of 100000000 iterations; "
	         "writing the checkpoint %s\nblobs: checkpoint %s written (update %llu); to finish "
	         "the run: the same command with --resume %s --iterations %llu\n", done, w, w, done,
	         w, 100000000ull - done);
	ASSERT_HAS(r.err, want);
	nncc_checkpoint_fini(&ck);
	nncc_norm_fini(&st);
	result_free(&r);

	snprintf(n_more, sizeof n_more, "%llu", done + 7);
	r = run_net(&blob_model, dir, "--quiet", "--batch", "5", "--shuffle", "--iterations", n_more,
	            "--save", a, NULL);
	ck_assert_int_eq(r.rc, 0);
	result_free(&r);
	r = run_net(&blob_model, dir, "--quiet", "--batch", "5", "--shuffle", "--iterations", "7",
	            "--resume", w, "--save", b, NULL);
	ck_assert_int_eq(r.rc, 0);
	result_free(&r);
	ck_assert(tu_same_file(a, b));
	free(a);
	free(b);
	free(w);
	free(csv);
	free(svg);
	tu_scratch_free(dir);
}
END_TEST

/* A second signal stops at once: the temporary files of the outputs (the
 * log's and the plot's exist all along) are removed, nothing is written,
 * and the status is 128 + the second signal's number.  The two are sent
 * while the trainer is stopped, so both arrive before it can act on the
 * first. */
START_TEST(second_signal_exits_at_once)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *w = tu_path(dir, "w"), *csv = tu_path(dir, "l.csv"), *svg = tu_path(dir, "p.svg");
	pid_t pid = spawn_long_run(dir, w, csv, svg);
	wait_for_stderr(dir, "blobs: iteration 2000/100000000");
	ck_assert_uint_eq(tmp_files(dir), 2);
	ck_assert_int_eq(kill(pid, SIGSTOP), 0);
	ck_assert_int_eq(kill(pid, SIGINT), 0);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(kill(pid, SIGCONT), 0);
	result_t r = wait_net(pid, dir);
	ck_assert_int_eq(r.rc, 128 + SIGTERM);
	ASSERT_HAS(r.err, "blobs: interrupted again: stopped at once, nothing more written\n");
	ck_assert(!tu_exists(w) && !tu_exists(csv) && !tu_exists(svg));
	ck_assert_uint_eq(tmp_files(dir), 0);
	result_free(&r);
	free(w);
	free(csv);
	free(svg);
	tu_scratch_free(dir);
}
END_TEST

/* --iterations 2^64 - 1 of one sample is a count the run can hold: with
 * --plot it died of SIGFPE at once (the default interval (T + 49) / 50
 * wrapped to 0).  Now it trains until stopped. */
START_TEST(huge_iteration_count_trains_until_stopped)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *svg = tu_path(dir, "p.svg");
	const char *args[] = {"--batch", "1", "--iterations", "18446744073709551615", "--plot", svg,
	                      NULL};
	struct timespec ms = {0, 1000000};
	pid_t pid = spawn_net_args(&blob_model, dir, args);
	/* No progress line before 10% of the run: the plot's temporary file
	 * says the signals are caught; then time to load and start. */
	for (int i = 0; i < 30000 && !tmp_files(dir); i++)
		nanosleep(&ms, NULL);
	ck_assert_uint_eq(tmp_files(dir), 1);
	ms.tv_nsec = 300000000;
	nanosleep(&ms, NULL);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	result_t r = wait_net(pid, dir);
	ck_assert_int_eq(r.rc, 128 + SIGTERM);
	ASSERT_HAS(r.err, "blobs: interrupted by SIGTERM after ");
	ASSERT_HAS(r.err, " of 18446744073709551615 iterations; nothing written (--save FILE would "
	                  "have written a checkpoint to resume from)\n");
	ck_assert(!tu_exists(svg));
	result_free(&r);
	free(svg);
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
	tcase_add_test(tc, epochs_are_whole_passes);
	tcase_add_test(tc, clip_norm_scales_the_update);
	tcase_add_test(tc, shuffle_replays_from_the_docs);
	suite_add_tcase(s, tc);
	tc = tcase_create("limits");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, iterations_past_the_sample_limit);
	tcase_add_test(tc, plot_points_past_memory);
	tcase_add_test(tc, batch_larger_than_training_set_is_full_batch);
	suite_add_tcase(s, tc);
	tc = tcase_create("resume");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, resume_continues_exactly);
	tcase_add_test(tc, load_is_not_resume);
	tcase_add_test(tc, checkpoint_survives_a_crash);
	tcase_add_test(tc, resume_refusals);
	tcase_add_test(tc, resume_with_another_recipe_warns);
	tcase_add_test(tc, resume_after_the_last_epoch);
	tcase_add_test(tc, load_refuses_nonfinite_weights);
	suite_add_tcase(s, tc);
	tc = tcase_create("failures");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, divergence_keeps_a_marked_log);
	tcase_add_test(tc, failed_save_leaves_no_log_or_plot);
	tcase_add_test(tc, output_that_is_an_input_is_refused);
	tcase_add_test(tc, sigint_writes_a_checkpoint_that_resumes);
	tcase_add_test(tc, second_signal_exits_at_once);
	tcase_add_test(tc, huge_iteration_count_trains_until_stopped);
	tcase_add_test(tc, chunks_in_one_process);
	tcase_add_test(tc, chunks_counted_in_the_estimate);
	tcase_add_test(tc, stream_skip_is_next_unread);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(driver_suite(), NULL);
}
