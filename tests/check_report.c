/*
 * check_report.c - report.c and plot.c, through nncc_main() on the "blobs"
 * model and its data (driverutil.h): the text report with its confusion
 * matrix, the one-line JSON summary, progress lines on stderr (and none
 * with --quiet), the --log CSV rows, the --plot SVG and the errors for an
 * unwritable file, and the axis ticks (nncc_nice_ticks).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "driverutil.h"
#include "nncc.h"
#include "testutil.h"

START_TEST(text_report)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	result_t r = run_net(&blob_model, dir, "--switch-test", "yes", NULL);
	ck_assert_int_eq(r.rc, 0);
	ASSERT_HAS(r.out, "network        blobs (blobs.yaml)");
	ASSERT_HAS(r.out, "optimizer      blobsgd: beta_test 0.5, switch_test on, "
	                  "layout_switch_test off\n");
	ASSERT_HAS(r.out, "parameters     15 (f64)");
	ASSERT_HAS(r.out, "150 iterations = 5.00 epochs, batch 10, lr 0.5, seed 1");
	ASSERT_HAS(r.out, "\nschedule       constant (warmup 0); last rate 0.5\n");
	ck_assert_ptr_null(strstr(r.out, "clip norm"));
	ck_assert_ptr_null(strstr(r.out, "resumed"));
	ck_assert_ptr_null(strstr(r.out, "pretrain"));
	ASSERT_HAS(r.out, "test accuracy  ");
	ASSERT_HAS(r.out, "/90)");
	ASSERT_HAS(r.out, "confusion matrix (rows: true label, columns: predicted)");
	ASSERT_HAS(r.out, "  accuracy\n");
	/* Header + one row per class, each with a per-class accuracy. */
	ck_assert_uint_eq(count_lines(strstr(r.out, "confusion"), "%"), K);
	/* stdout has results only; progress went to stderr, and nothing else. */
	ck_assert_ptr_null(strstr(r.out, "iteration "));
	ASSERT_HAS(r.err, "blobs: iteration 150/150");
	ck_assert_uint_eq(count_lines(r.err, NULL), count_lines(r.err, "blobs: iteration"));
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(json_last_line)
{
	static const char *const keys[] = {
		"network", "parameters", "dtype", "epochs", "iterations", "batch_size",
		"learning_rate", "seed", "train_loss", "test_loss", "test_accuracy",
		"train_seconds", "samples_per_second", "threads", "data_dir", "confusion",
		"schedule", "final_lr", "clip_norm", "clipped_updates", "step", "resumed_from",
	};
	char *dir = make_data(IN, K, DATA_BLOBS);
	result_t r = run_net(&blob_model, dir, "--json", "--quiet", NULL);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.err, "");
	size_t len = strlen(r.out);
	ck_assert_uint_gt(len, 2);
	ck_assert_int_eq(r.out[0], '{');
	ck_assert_int_eq(r.out[len - 2], '}');
	ck_assert_int_eq(r.out[len - 1], '\n');
	ck_assert_uint_eq(count_lines(r.out, NULL), 1);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char pat[64];
		snprintf(pat, sizeof pat, "\"%s\": ", keys[i]);
		ASSERT_HAS(r.out, pat);
	}
	ASSERT_HAS(r.out, "\"network\": \"blobs\"");
	ASSERT_HAS(r.out, "\"dtype\": \"f64\"");
	ASSERT_HAS(r.out, "\"pretrain\": null"); /* a model without pre-training */
	ASSERT_HAS(r.out, "\"optimizer\": \"blobsgd\", \"hparams\": {\"beta_test\": 0.5, "
	                  "\"switch_test\": false, \"layout_switch_test\": false}");
	char want[4200];
	snprintf(want, sizeof want, "\"data_dir\": \"%s\"", dir);
	ASSERT_HAS(r.out, want);
	/* K rows of K counts summing to the test set size. */
	const char *c = strstr(r.out, "\"confusion\": [[");
	ck_assert_ptr_nonnull(c);
	c += strlen("\"confusion\": [");
	double total = 0;
	for (int t = 0; t < K; t++) {
		ck_assert_int_eq(*c, '[');
		char *end;
		for (int p = 0; p < K; p++) {
			total += strtod(c + 1, &end);
			c = end;
			if (p < K - 1) {
				ck_assert_int_eq(*c, ',');
				c++;
			}
		}
		ck_assert_int_eq(*c, ']');
		c += t < K - 1 ? 3 : 1;
	}
	ck_assert_double_eq(total, N_TEST);
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(log_csv_rows)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *log = tu_path(dir, "log.csv");
	result_t r = run_net(&blob_model, dir, "--iterations", "95", "--eval-every", "10",
	                     "--eval-test", "--log", log, NULL);
	ck_assert_int_eq(r.rc, 0);
	/* Iterations 0, 10, ..., 90 and the last one, 95. */
	char *csv = tu_read_file(log, NULL);
	ck_assert_uint_eq(count_lines(csv, NULL), 1 + 11);
	ck_assert(strncmp(csv, "iteration,epoch,lr,train_loss,test_accuracy,seconds\n0,0,0.5,",
	                  60) == 0);
	ASSERT_HAS(csv, "\n95,3.16667,0.5,");
	ck_assert_uint_eq(count_lines(r.err, "train loss"), 11);
	ck_assert_uint_eq(count_lines(r.err, "test accuracy"), 11);
	free(csv);
	result_free(&r);

	/* Without --eval-every: the default evaluations, no test column. */
	r = run_net(&blob_model, dir, "--iterations", "200", "--log", log, "--quiet", NULL);
	ck_assert_int_eq(r.rc, 0);
	csv = tu_read_file(log, NULL);
	ck_assert(strncmp(csv, "iteration,epoch,lr,train_loss,seconds\n", 38) == 0);
	ck_assert_uint_eq(count_lines(csv, NULL), 1 + 51);
	ck_assert_str_eq(r.err, "");
	free(csv);
	result_free(&r);
	free(log);
	tu_scratch_free(dir);
}
END_TEST

/* The schedule and the clipping in every report: the text lines, the
 * JSON keys (the cosine's horizon as used), the progress line's rate. */
START_TEST(schedule_and_clipping_reported)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	result_t r = run_net(&blob_model, dir, "--iterations", "100", "--schedule", "step",
	                     "--step-size", "10", "--unit", "iterations", "--gamma", "0.5",
	                     "--clip-norm", "0.01", NULL);
	ck_assert_int_eq(r.rc, 0);
	ASSERT_HAS(r.out, "\nschedule       step (gamma 0.5, step_size 10, unit iterations, "
	                  "warmup 0); last rate 0.000976562\n");
	ASSERT_HAS(r.out, "\nclip norm      0.01 (100 of 100 updates clipped)\n");
	/* update 10 still has i = 9: 0.5; update 20, i = 19: 0.25 */
	ASSERT_HAS(r.err, "blobs: iteration 10/100  epoch 0.33  lr 0.5  loss ");
	ASSERT_HAS(r.err, "blobs: iteration 20/100  epoch 0.67  lr 0.25  loss ");
	result_free(&r);

	r = run_net(&blob_model, dir, "--iterations", "100", "--schedule", "step", "--step-size",
	            "10", "--unit", "iterations", "--gamma", "0.5", "--clip-norm", "0.01", "--json",
	            "--quiet", NULL);
	ck_assert_int_eq(r.rc, 0);
	ASSERT_HAS(r.out, "\"learning_rate\": 0.5, \"schedule\": {\"type\": \"step\", \"gamma\": 0.5, "
	                  "\"step_size\": 10, \"unit\": \"iterations\", \"warmup\": 0}, "
	                  "\"final_lr\": 0.0009765625, \"clip_norm\": 0.01, \"clipped_updates\": 100, "
	                  "\"step\": 100, \"resumed_from\": null, ");
	result_free(&r);

	r = run_net(&blob_model, dir, "--iterations", "100", "--schedule", "cosine", "--warmup",
	            "5", "--json", "--quiet", NULL);
	ck_assert_int_eq(r.rc, 0);
	ASSERT_HAS(r.out, "\"schedule\": {\"type\": \"cosine\", \"min_lr\": 0, \"t_max\": 100, "
	                  "\"warmup\": 5}, \"final_lr\": ");
	ASSERT_HAS(r.out, "\"clip_norm\": null, \"clipped_updates\": 0, ");
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(plot_svg)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *svg = tu_path(dir, "loss.svg");
	/* --eval-every alone would give 2 points: the plot gets the default ones. */
	result_t r = run_net(&blob_model, dir, "--iterations", "120", "--eval-every", "1000",
	                     "--plot", svg, "--quiet", NULL);
	ck_assert_int_eq(r.rc, 0);
	char *s = tu_read_file(svg, NULL);
	ASSERT_HAS(s, "<svg");
	ASSERT_HAS(s, "</svg>");
	ASSERT_HAS(s, "<title>blobs: training cross_entropy</title>");
	ASSERT_HAS(s, "<polyline");
	ASSERT_HAS(s, ">iteration</text>");
	ck_assert_uint_ge(count_lines(s, "<circle"), 10);
	free(s);
	result_free(&r);
	free(svg);
	tu_scratch_free(dir);
}
END_TEST

/* An output that cannot be written is found before the training (its
 * temporary file, or a trial one for --save): nothing on stdout. */
START_TEST(plot_unwritable)
{
	static const char *const cases[][3] = {
		{"--plot", "/nonexistent/p.svg", "cannot write"},
		{"--log", "/nonexistent/l.csv", "cannot write"},
		{"--save", "/nonexistent/w", "cannot save weights to"},
	};
	char *dir = make_data(IN, K, DATA_BLOBS), want[200];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		result_t r = run_net(&blob_model, dir, cases[i][0], cases[i][1], NULL);
		ck_assert_int_eq(r.rc, 1);
		snprintf(want, sizeof want, "blobs: error: %s %s: cannot create %s.tmp.", cases[i][2],
		         cases[i][1], cases[i][1]);
		ASSERT_HAS(r.err, want);
		ASSERT_HAS(r.err, ": No such file or directory\n");
		ck_assert_str_eq(r.out, "");
		ck_assert_uint_eq(count_lines(r.err, "iteration"), 0);
		result_free(&r);
	}
	tu_scratch_free(dir);
}
END_TEST

START_TEST(progress_lines)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	result_t r = run_net(&blob_model, dir, "--iterations", "100", NULL);
	ck_assert_int_eq(r.rc, 0);
	/* Not a terminal: one plain line per 10% of the run. */
	ck_assert_uint_eq(count_lines(r.err, "blobs: iteration "), 10);
	ASSERT_HAS(r.err, "blobs: iteration 10/100  epoch 0.33  lr 0.5  loss ");
	ASSERT_HAS(r.err, "samples/s  ETA ");
	ck_assert_ptr_null(strchr(r.err, '\r'));
	result_free(&r);
	r = run_net(&blob_model, dir, "--iterations", "100", "--quiet", NULL);
	ck_assert_str_eq(r.err, "");
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

/* The non-terminal progress marks, k tenths of the run, for a total so
 * large that k * total wraps: a line at the first update would claim 20%. */
START_TEST(progress_huge_total)
{
	static const size_t totals[] = {(size_t)1 << 63, SIZE_MAX, 100};
	for (size_t i = 0; i < sizeof totals / sizeof totals[0]; i++) {
		size_t total = totals[i];
		TuCapture c;
		nncc_progress_t p;
		nncc_tick_t t = {1, 0.5, 0, 0.1, 1, 1, 1, NAN, NAN};
		nncc_progress_init(&p, tu_capture_open(&c), 0, "net", total);
		ck_assert_int_eq(nncc_progress_step(&p, &t), 0);
		t.done = total / 10 + (total % 10 != 0);   /* the first 10% mark */
		ck_assert_int_eq(nncc_progress_step(&p, &t), 1);
		t.done = total - 1;
		nncc_progress_step(&p, &t);
		t.done = total;
		ck_assert_int_eq(nncc_progress_step(&p, &t), 1);
		tu_capture_close(&c);
	}
}
END_TEST

START_TEST(nice_ticks)
{
	double first, step;
	int count;
	nncc_nice_ticks(0, 30000, 8, &first, &step, &count);
	ck_assert_double_eq(first, 0);
	ck_assert_double_eq(step, 5000);
	ck_assert_int_eq(count, 7);
	nncc_nice_ticks(0.23, 2.31, 8, &first, &step, &count);
	ck_assert_double_eq_tol(first, 0.0, 1e-12);
	ck_assert_double_eq_tol(step, 0.5, 1e-12);
	ck_assert_int_eq(count, 6);
	nncc_nice_ticks(0.0712, 0.0931, 6, &first, &step, &count);
	ck_assert_double_eq_tol(step, 0.005, 1e-12);
	ck_assert_double_eq_tol(first, 0.07, 1e-12);
	ck_assert_int_le(count, 6);
	ck_assert(first + step * (count - 1) >= 0.0931 - 1e-12);
	nncc_nice_ticks(1, 1, 8, &first, &step, &count); /* a single value */
	ck_assert(first <= 1 && first + step * (count - 1) >= 1 && count >= 2);
}
END_TEST

static Suite *report_suite(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("outputs");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, text_report);
	tcase_add_test(tc, json_last_line);
	tcase_add_test(tc, log_csv_rows);
	tcase_add_test(tc, schedule_and_clipping_reported);
	tcase_add_test(tc, plot_svg);
	tcase_add_test(tc, plot_unwritable);
	tcase_add_test(tc, progress_lines);
	tcase_add_test(tc, progress_huge_total);
	tcase_add_test(tc, nice_ticks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(report_suite(), NULL);
}
