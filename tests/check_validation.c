/*
 * check_validation.c - the driver's validation set, early stopping and
 * --train-limit, through nncc_main() on the hand-written "blobs" model
 * (driverutil.h): the held-out samples are never trained on (changing them
 * leaves the trained weights alone), --train-limit trains as a file of only
 * those samples would, the reported validation numbers are those of the
 * saved weights on the held-out samples (computed here, apart from the
 * runtime), early stopping on a validation set that gets worse with
 * training stops at the right pass with that pass's weights, a resume in
 * the middle continues such a run byte for byte, and bad values are
 * refused with clear messages.
 * Vocabulary: V = held-out samples (the last of the training file), bad =
 * a validation set whose labels are all wrong, so its loss rises as the
 * model learns the blobs.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "driverutil.h"
#include "nncc.h"
#include "testutil.h"

#define V 60
#define PER_EPOCH ((N_TRAIN - V) / 10)   /* updates per pass at the model's batch of 10 */

/* A scratch directory with blob data whose first `n` training samples are
 * make_set's; from sample `from` on (when < n) the pixels are inverted and
 * the labels shifted (a wrong label for every held-out sample). */
static char *data_with(size_t n, size_t from)
{
	char *dir = tu_mkdtemp();
	uint8_t *pix = malloc(N_TRAIN * IN), lab[N_TRAIN];
	ck_assert_ptr_nonnull(pix);
	make_set(pix, lab, N_TRAIN, IN, K, 11, DATA_BLOBS);
	for (size_t i = from; i < n; i++)
		lab[i] = (uint8_t)((lab[i] + 1) % K);
	for (size_t i = from * IN; i < n * IN; i++)
		pix[i] = (uint8_t)(255 - pix[i]);
	ck_assert_int_eq(tu_idx_write(dir, "train", pix, lab, n, 1, IN), 0);
	make_set(pix, lab, N_TEST, IN, K, 22, DATA_BLOBS);
	ck_assert_int_eq(tu_idx_write(dir, "t10k", pix, lab, N_TEST, 1, IN), 0);
	free(pix);
	return dir;
}

/* The weights (PARAMS) of a saved file. */
static void params_of(const char *path, double *out)
{
	nncc_weights_file_t wf;
	nncc_err_t err;
	ck_assert_msg(nncc_weights_read(&wf, path, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(wf.n_params, NP);
	memcpy(out, wf.params, sizeof(double) * NP);
	nncc_weights_file_fini(&wf);
}

/* Trains in dir with args (NULL-terminated) and --save dir/name; returns
 * the run's JSON (malloc'd) and the saved weights in w. */
static char *train_save(const char *dir, const char *name, double *w, const char *const *args)
{
	const char *all[32];
	size_t n = 0;
	char *path = tu_path(dir, name);
	for (; *args; args++)
		all[n++] = *args;
	all[n++] = "--json";
	all[n++] = "--quiet";
	all[n++] = "--save";
	all[n++] = path;
	all[n] = NULL;
	result_t r = run_net_args(&blob_model, dir, all);
	ck_assert_msg(r.rc == 0, "%s", r.err);
	params_of(path, w);
	free(r.err);
	free(path);
	return r.out;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The held-out samples are never trained on, shuffled or not: other pixels
 * and labels there give the same weights and training loss, but another
 * validation loss. */
START_TEST(held_out_samples_are_not_trained_on)
{
	char *a = data_with(N_TRAIN, N_TRAIN), *b = data_with(N_TRAIN, N_TRAIN - V);
	static const char *const order[] = {"--shuffle", "--no-shuffle"};
	for (int k = 0; k < 2; k++) {
		double wa[NP], wb[NP];
		char *ja = train_save(a, "w", wa, ARGS("--validation", "60", order[k], "--epochs", "3"));
		char *jb = train_save(b, "w", wb, ARGS("--validation", "60", order[k], "--epochs", "3"));
		ck_assert_msg(!memcmp(wa, wb, sizeof wa), "%s: the held-out samples changed the weights",
		              order[k]);
		ck_assert_double_eq(json_num(ja, "train_loss"), json_num(jb, "train_loss"));
		ck_assert_double_ne(json_num(ja, "val_loss"), json_num(jb, "val_loss"));
		ck_assert_double_eq(json_num(ja, "train_samples"), N_TRAIN - V);
		ck_assert_double_eq(json_num(ja, "validation_samples"), V);
		free(ja);
		free(jb);
	}
	tu_scratch_free(a);
	tu_scratch_free(b);
}
END_TEST

/* --train-limit N trains as a file of its first N samples does; a
 * fraction holds out that part of those N. */
START_TEST(train_limit_is_a_shorter_file)
{
	char *full = data_with(N_TRAIN, N_TRAIN), *cut = data_with(200, 200);
	double wa[NP], wb[NP];
	char *ja = train_save(full, "w", wa, ARGS("--train-limit", "200", "--validation", "0.25"));
	char *jb = train_save(cut, "w", wb, ARGS("--validation", "50"));
	ck_assert(!memcmp(wa, wb, sizeof wa));
	ck_assert_double_eq(json_num(ja, "train_samples"), 150);
	ck_assert_double_eq(json_num(ja, "validation_samples"), 50);
	ck_assert_double_eq(json_num(ja, "train_file_samples"), N_TRAIN);
	ck_assert_double_eq(json_num(jb, "train_file_samples"), 200);
	ck_assert_double_eq(json_num(ja, "val_loss"), json_num(jb, "val_loss"));
	free(ja);
	free(jb);
	tu_scratch_free(full);
	tu_scratch_free(cut);
}
END_TEST

/* The reported val_loss and val_accuracy are the saved weights' on the
 * last V samples, normalised with the file's statistics: recomputed here
 * with this file's own softmax regression. */
START_TEST(validation_numbers_are_the_weights_on_the_held_out_samples)
{
	char *dir = data_with(N_TRAIN, N_TRAIN);
	double w[NP];
	char *json = train_save(dir, "w", w, ARGS("--validation", "60", "--epochs", "2"));
	char *path = tu_path(dir, "w");
	nncc_weights_file_t wf;
	nncc_err_t err;
	ck_assert_int_eq(nncc_weights_read(&wf, path, &err), 0);
	uint8_t pix[N_TRAIN * IN], lab[N_TRAIN];
	make_set(pix, lab, N_TRAIN, IN, K, 11, DATA_BLOBS);
	double loss = 0;
	size_t correct = 0;
	for (size_t s = N_TRAIN - V; s < N_TRAIN; s++) {
		double z[K], mx = -INFINITY, sum = 0;
		size_t arg = 0;
		for (size_t i = 0; i < K; i++) {
			z[i] = w[IN * K + i];
			for (size_t j = 0; j < IN; j++)   /* standardize: (pixel - mean[j]) / std */
				z[i] += w[j * K + i] * ((pix[s * IN + j] - wf.norm.mean[j]) / wf.norm.std);
			mx = fmax(mx, z[i]);
			arg = z[i] > z[arg] ? i : arg;
		}
		for (size_t i = 0; i < K; i++)
			sum += exp(z[i] - mx);
		loss += log(sum) + mx - z[lab[s]];
		correct += arg == lab[s];
	}
	ck_assert_double_eq_tol(json_num(json, "val_loss"), loss / V, 1e-8 * loss / V);
	ck_assert_double_eq_tol(json_num(json, "val_accuracy"), (double)correct / V, 1e-9);
	nncc_weights_file_fini(&wf);
	free(path);
	free(json);
	tu_scratch_free(dir);
}
END_TEST

/* On a validation set whose labels are all wrong, the loss is lowest after
 * the first pass and rises after: patience 2 stops after pass 3 and keeps
 * the weights of pass 1, which a 1-pass run saves too. */
START_TEST(early_stopping_keeps_the_best_pass)
{
	char *dir = data_with(N_TRAIN, N_TRAIN - V);
	double w1[NP], ws[NP];
	free(train_save(dir, "one", w1, ARGS("--validation", "60", "--epochs", "1")));
	char *json = train_save(dir, "stop", ws,
	                        ARGS("--validation", "60", "--epochs", "20", "--patience", "2"));
	ck_assert_msg(!memcmp(w1, ws, sizeof w1), "the restored weights are not pass 1's");
	ck_assert_double_eq(json_num(json, "iterations"), 3 * PER_EPOCH);
	ck_assert_double_eq(json_num(json, "stopped_epoch"), 3);
	ck_assert_double_eq(json_num(json, "kept_epoch"), 1);
	ASSERT_HAS(json, "\"stopped\": true");
	ASSERT_HAS(json, "\"best\": {\"epoch\": 1, \"metric\": \"val_loss\"");
	free(json);

	/* By val_accuracy it stops too, 2 passes after its best. */
	json = train_save(dir, "acc", ws, ARGS("--validation", "60", "--epochs", "20", "--patience",
	                                       "2", "--stop-metric", "val_accuracy"));
	ASSERT_HAS(json, "\"stopped\": true");
	ck_assert_double_eq(json_num(json, "stopped_epoch") - json_num(json, "kept_epoch"), 2);
	free(json);

	/* Without the patience running out, the last weights stay. */
	json = train_save(dir, "last", ws, ARGS("--validation", "60", "--epochs", "3", "--patience",
	                                        "5"));
	ASSERT_HAS(json, "\"stopped\": false");
	ck_assert_msg(memcmp(w1, ws, sizeof w1), "the last weights were replaced");
	free(json);
	tu_scratch_free(dir);
}
END_TEST

/* Two halves with a --resume between give the bytes of one run, with
 * validation and early stopping on: when the stop comes in the second
 * half, and when neither stops; and resuming a stopped run trains no more. */
START_TEST(resume_with_early_stopping_is_exact)
{
	char *dir = data_with(N_TRAIN, N_TRAIN - V);
	char *a = tu_path(dir, "whole.w"), *b = tu_path(dir, "first.w"), *c = tu_path(dir, "rest.w");
	static const char *const cases[][3] = {
		{"20", "2", "2"},   /* stops after pass 3, in the second half */
		{"4", "2", "9"},    /* runs all 4 passes */
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const char *E = cases[k][0], *half = cases[k][1], *P = cases[k][2];
		result_t r[3] = {
			run_net(&blob_model, dir, "--shuffle", "--validation", "60", "--patience", P,
			        "--epochs", E, "--save", a, NULL),
			run_net(&blob_model, dir, "--shuffle", "--validation", "60", "--patience", P,
			        "--epochs", half, "--save", b, NULL),
			run_net(&blob_model, dir, "--shuffle", "--validation", "60", "--patience", P,
			        "--epochs", E, "--resume", b, "--save", c, NULL),
		};
		for (int i = 0; i < 3; i++) {
			ck_assert_msg(r[i].rc == 0, "case %zu run %d: %s", k, i, r[i].err);
			result_free(&r[i]);
		}
		ck_assert_msg(tu_same_file(a, c), "case %zu: the resumed run's file differs", k);
		if (k > 0)
			continue;
		result_t again = run_net(&blob_model, dir, "--validation", "60", "--patience", "2",
		                         "--epochs", "20", "--shuffle", "--resume", a, "--json", NULL);
		ck_assert_int_eq(again.rc, 0);
		ck_assert_double_eq(json_num(again.out, "iterations"), 0);
		ASSERT_HAS(again.out, "\"stopped\": true");
		result_free(&again);
	}
	free(a);
	free(b);
	free(c);
	tu_scratch_free(dir);
}
END_TEST

/* What validation and early stopping refuse: usage errors (exit 2) and a
 * split that does not fit the data (exit 1). */
START_TEST(bad_values_are_refused)
{
	static const char *const usage[][3] = {
		{"--validation", "1.5", "invalid value '1.5' for --validation (expected an integer >= 0 "
		                        "(a count, 0 = none) or a fraction in (0, 1))"},
		{"--validation", "-3", "invalid value '-3' for --validation"},
		{"--patience", "0", "invalid value '0' for --patience (expected an integer >= 1)"},
		{"--stop-metric", "val_acc", "invalid value 'val_acc' for --stop-metric (expected "
		                             "val_loss or val_accuracy)"},
		{"--min-delta", "-1", "invalid value '-1' for --min-delta (expected a number >= 0)"},
		{"--train-limit", "0", "invalid value '0' for --train-limit (expected an integer >= 1)"},
		{"--patience", "3", "early stopping (patience 3) needs a validation set: give "
		                    "--validation N|FRACTION, or --no-early-stopping"},
	};
	static const char *const data[][5] = {
		{"--validation", "300", "--epochs", "1",
		 "validation 300 is not smaller than the 300 training samples: it must leave some to "
		 "train on"},
		{"--validation", "0.001", "--epochs", "1",
		 "validation 0.001 of 300 training samples holds out none (give a count, or a larger "
		 "fraction)"},
		{"--train-limit", "301", "--epochs", "1", "--train-limit 301 is more than the 300 "
		                                          "samples of"},
	};
	char *dir = data_with(N_TRAIN, N_TRAIN);
	for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
		result_t r = run_net(&blob_model, dir, usage[i][0], usage[i][1], NULL);
		char want[512];
		snprintf(want, sizeof want, "blobs: error: %s", usage[i][2]);
		ck_assert_int_eq(r.rc, 2);
		ASSERT_HAS(r.err, want);
		result_free(&r);
	}
	for (size_t i = 0; i < sizeof data / sizeof data[0]; i++) {
		result_t r = run_net(&blob_model, dir, data[i][0], data[i][1], data[i][2], data[i][3],
		                     NULL);
		char want[512];
		snprintf(want, sizeof want, "blobs: error: %s", data[i][4]);
		ck_assert_int_eq(r.rc, 1);
		ASSERT_HAS(r.err, want);
		result_free(&r);
	}
	tu_scratch_free(dir);
}
END_TEST

/* The CSV log gets val_loss and val_accuracy as its last columns, and a
 * row at every pass end; the plot a validation curve and a legend. */
START_TEST(log_and_plot_show_validation)
{
	char *dir = data_with(N_TRAIN, N_TRAIN);
	char *log = tu_path(dir, "log.csv"), *svg = tu_path(dir, "plot.svg");
	result_t r = run_net(&blob_model, dir, "--validation", "60", "--epochs", "3", "--eval-every",
	                     "7", "--log", log, "--plot", svg, NULL);
	ck_assert_msg(r.rc == 0, "%s", r.err);
	char *csv = tu_read_file(log, NULL), *plot = tu_read_file(svg, NULL);
	const char *head = "iteration,epoch,lr,train_loss,seconds,val_loss,val_accuracy\n";
	ck_assert_msg(!strncmp(csv, head, strlen(head)), "%s", csv);
	for (int e = 1; e <= 3; e++) {
		char row[32];
		snprintf(row, sizeof row, "\n%d,%d,", e * PER_EPOCH, e);
		ASSERT_HAS(csv, row);
		snprintf(row, sizeof row, "blobs: epoch %d: val loss ", e);
		ASSERT_HAS(r.err, row);
	}
	ck_assert_uint_eq(count_lines(plot, "<polyline"), 2);
	ASSERT_HAS(plot, ">validation</text>");
	free(csv);
	free(plot);
	free(log);
	free(svg);
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

static Suite *validation_suite(void)
{
	Suite *s = suite_create("validation");
	TCase *tc = tcase_create("validation");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, held_out_samples_are_not_trained_on);
	tcase_add_test(tc, train_limit_is_a_shorter_file);
	tcase_add_test(tc, validation_numbers_are_the_weights_on_the_held_out_samples);
	tcase_add_test(tc, early_stopping_keeps_the_best_pass);
	tcase_add_test(tc, resume_with_early_stopping_is_exact);
	tcase_add_test(tc, bad_values_are_refused);
	tcase_add_test(tc, log_and_plot_show_validation);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(validation_suite(), NULL);
}
