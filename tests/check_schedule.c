/*
 * check_schedule.c - the learning-rate schedules (runtime/schedule.c) held
 * to the reference's ref_schedule_lr (tests/reference/ref.c, written from
 * the formulas of docs/trainer.md): nncc_schedule_lr for every schedule,
 * unit and warmup over hundreds of updates; a few rates worked out by hand;
 * and the rates the driver actually used, read back from the --log CSV of
 * the "blobs" model (driverutil.h) for schedules given on the command line
 * and compiled in.
 * Vocabulary: t = update number (1-based), W = warmup, T = the run's
 * updates, N = training samples, B = batch.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nncc.h"       /* runtime ABI: first on the include path */
#include "ref.h"
#include "driverutil.h"
#include "testutil.h"

#define TOL 1e-12       /* relative: pow() against repeated products */

static void assert_rate(double got, double want, const char *what, uint64_t t)
{
	double err = fabs(got - want) / fmax(fabs(want), 1e-300);
	ck_assert_msg(err <= TOL, "%s, update %llu: runtime %.17g, reference %.17g (relative %.3g)",
	              what, (unsigned long long)t, got, want, err);
}

/* Every schedule, with and without warmup, counting epochs and iterations,
 * over 400 updates of a run with 23 updates per epoch. */
START_TEST(runtime_matches_reference)
{
	const nncc_schedule_t base[] = {
		{.type = NNCC_SCHEDULE_CONSTANT},
		{.type = NNCC_SCHEDULE_STEP, .gamma = 0.5, .step_size = 3},
		{.type = NNCC_SCHEDULE_STEP, .gamma = 0.9, .step_size = 25},
		{.type = NNCC_SCHEDULE_EXPONENTIAL, .gamma = 0.97},
		{.type = NNCC_SCHEDULE_COSINE},
		{.type = NNCC_SCHEDULE_COSINE, .min_lr = 0.02},
		{.type = NNCC_SCHEDULE_COSINE, .min_lr = 0.001, .t_max = 250},   /* past t_max too */
	};
	const uint64_t T = 400, per_epoch = 23, warmups[] = {0, 1, 7};
	size_t compared = 0;
	for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
		for (int unit = NNCC_UNIT_EPOCHS; unit <= NNCC_UNIT_ITERATIONS; unit++)
			for (size_t w = 0; w < 3; w++) {
				nncc_schedule_t s = base[i];
				char what[128];
				s.unit = unit;
				s.warmup = warmups[w];
				snprintf(what, sizeof what, "%s, %s, warmup %llu", nncc_schedule_name(s.type),
				         nncc_unit_name(unit), (unsigned long long)s.warmup);
				for (uint64_t t = 1; t <= T; t++, compared++)
					assert_rate(nncc_schedule_lr(&s, 0.3, t, (t - 1) / per_epoch, T),
					            ref_schedule_lr(&s, 0.3, t, (t - 1) / per_epoch, T), what, t);
			}
	ck_assert_uint_eq(compared, 7 * 2 * 3 * 400);
}
END_TEST

/* Rates worked out by hand from the definitions. */
START_TEST(hand_values)
{
	const double pi = 3.14159265358979323846;
	static const struct {
		nncc_schedule_t s;
		uint64_t t, epoch, total;
		double want;
	} v[] = {
		/* step, iterations: gamma once per 3 updates */
		{{.type = NNCC_SCHEDULE_STEP, .unit = NNCC_UNIT_ITERATIONS, .gamma = 0.5, .step_size = 3}, 3, 9, 10, 1},
		{{.type = NNCC_SCHEDULE_STEP, .unit = NNCC_UNIT_ITERATIONS, .gamma = 0.5, .step_size = 3}, 4, 9, 10, 0.5},
		{{.type = NNCC_SCHEDULE_STEP, .unit = NNCC_UNIT_ITERATIONS, .gamma = 0.5, .step_size = 3}, 7, 9, 10, 0.25},
		/* step, epochs: the epoch alone counts */
		{{.type = NNCC_SCHEDULE_STEP, .gamma = 0.5, .step_size = 2}, 1000, 3, 2000, 0.5},
		{{.type = NNCC_SCHEDULE_STEP, .gamma = 0.5, .step_size = 2}, 1000, 4, 2000, 0.25},
		/* exponential per epoch */
		{{.type = NNCC_SCHEDULE_EXPONENTIAL, .gamma = 0.5}, 50, 3, 100, 0.125},
		/* warmup 4: t / 4, then the schedule from its start */
		{{.type = NNCC_SCHEDULE_CONSTANT, .warmup = 4}, 1, 0, 10, 0.25},
		{{.type = NNCC_SCHEDULE_CONSTANT, .warmup = 4}, 2, 0, 10, 0.5},
		{{.type = NNCC_SCHEDULE_CONSTANT, .warmup = 4}, 4, 0, 10, 1},
		{{.type = NNCC_SCHEDULE_CONSTANT, .warmup = 4}, 5, 0, 10, 1},
		{{.type = NNCC_SCHEDULE_EXPONENTIAL, .unit = NNCC_UNIT_ITERATIONS, .gamma = 0.5, .warmup = 4}, 5, 0, 10, 1},
		{{.type = NNCC_SCHEDULE_EXPONENTIAL, .unit = NNCC_UNIT_ITERATIONS, .gamma = 0.5, .warmup = 4}, 7, 0, 10, 0.25},
		/* cosine over 4 updates: 1, (1 + cos(pi/4)) / 2, 1/2, (1 - cos(pi/4)) / 2 */
		{{.type = NNCC_SCHEDULE_COSINE}, 1, 0, 4, 1},
		{{.type = NNCC_SCHEDULE_COSINE}, 2, 0, 4, 0.85355339059327373},
		{{.type = NNCC_SCHEDULE_COSINE}, 3, 0, 4, 0.5},
		{{.type = NNCC_SCHEDULE_COSINE}, 4, 0, 4, 0.14644660940672624},
		/* cosine after a warmup of 2 in a run of 6: base at t = 2 and 3 */
		{{.type = NNCC_SCHEDULE_COSINE, .warmup = 2}, 2, 0, 6, 1},
		{{.type = NNCC_SCHEDULE_COSINE, .warmup = 2}, 3, 0, 6, 1},
		{{.type = NNCC_SCHEDULE_COSINE, .warmup = 2}, 5, 0, 6, 0.5},
		/* to min_lr 0.2 over t_max 3: t = 3 is 0.2 + 0.8 (1 + cos(2 pi / 3)) / 2 = 0.4 */
		{{.type = NNCC_SCHEDULE_COSINE, .min_lr = 0.2, .t_max = 3}, 3, 0, 100, 0.4},
	};
	(void)pi;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		double got = nncc_schedule_lr(&v[i].s, 1.0, v[i].t, v[i].epoch, v[i].total);
		ck_assert_msg(fabs(got - v[i].want) <= 1e-15, "case %zu (%s, t %llu): %.17g, want %.17g",
		              i, nncc_schedule_name(v[i].s.type), (unsigned long long)v[i].t, got,
		              v[i].want);
		double ref = ref_schedule_lr(&v[i].s, 1.0, v[i].t, v[i].epoch, v[i].total);
		ck_assert_msg(fabs(ref - v[i].want) <= 1e-15, "reference, case %zu: %.17g, want %.17g",
		              i, ref, v[i].want);
	}
	/* the cosine's midpoint from its definition, not typed in */
	nncc_schedule_t c = {.type = NNCC_SCHEDULE_COSINE, .min_lr = 0.1};
	ck_assert_double_eq_tol(nncc_schedule_lr(&c, 0.3, 51, 0, 100),
	                        0.1 + 0.2 * (1 + cos(pi * 0.5)) / 2, 1e-16);
}
END_TEST

/* The driver's rates, read back from --log with --eval-every 1: row `it`
 * has the rate of update it (row 0: of update 1) with 17 digits. */
static void check_log(const nncc_model_t *m, const nncc_schedule_t *s, double base, size_t B,
                      int epochs_mode, size_t T, const char *const *args)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *log = tu_path(dir, "log.csv");
	const char *argv[32] = {"--quiet", "--log", log, "--eval-every", "1"};
	size_t n = 5;
	for (; *args; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	result_t r = run_net_args(m, dir, argv);
	ck_assert_msg(r.rc == 0, "%s", r.err);
	char *csv = tu_read_file(log, NULL), *line = strchr(csv, '\n');
	size_t per_epoch = (N_TRAIN + B - 1) / B, rows = 0;
	for (; line && line[1]; line = strchr(line + 1, '\n'), rows++) {
		size_t it = (size_t)strtoull(line + 1, NULL, 10), t = it ? it : 1;
		const char *p = strchr(strchr(line + 1, ',') + 1, ',') + 1;
		double lr = strtod(p, NULL);
		/* the passes completed before update t: whole passes of
		 * per_epoch updates, or B samples per update wrapping around */
		uint64_t epoch = epochs_mode ? (t - 1) / per_epoch : (t - 1) * B / N_TRAIN;
		assert_rate(lr, ref_schedule_lr(s, base, t, epoch, T), nncc_schedule_name(s->type), t);
	}
	ck_assert_uint_eq(rows, T + 1);
	free(csv);
	free(log);
	result_free(&r);
	tu_scratch_free(dir);
}

START_TEST(driver_uses_the_schedule)
{
	nncc_schedule_t s;

	s = (nncc_schedule_t){.type = NNCC_SCHEDULE_STEP, .gamma = 0.5, .step_size = 2, .warmup = 5};
	check_log(&blob_model, &s, 0.5, 7, 0, 100,
	          (const char *[]){"--iterations", "100", "--batch", "7", "--schedule", "step",
	                           "--step-size", "2", "--gamma", "0.5", "--warmup", "5", NULL});
	s = (nncc_schedule_t){.type = NNCC_SCHEDULE_EXPONENTIAL, .gamma = 0.9};
	check_log(&blob_model, &s, 0.5, 7, 1, 3 * 43,
	          (const char *[]){"--epochs", "3", "--batch", "7", "--schedule", "exponential",
	                           "--gamma", "0.9", NULL});
	s = (nncc_schedule_t){.type = NNCC_SCHEDULE_EXPONENTIAL, .unit = NNCC_UNIT_ITERATIONS,
	                      .gamma = 0.95, .warmup = 3};
	check_log(&blob_model, &s, 0.2, 10, 0, 60,
	          (const char *[]){"--iterations", "60", "--lr", "0.2", "--schedule", "exponential",
	                           "--gamma", "0.95", "--unit", "iterations", "--warmup", "3", NULL});
	s = (nncc_schedule_t){.type = NNCC_SCHEDULE_COSINE, .min_lr = 0.01, .warmup = 10};
	check_log(&blob_model, &s, 0.5, 10, 0, 60,
	          (const char *[]){"--iterations", "60", "--schedule", "cosine", "--warmup", "10",
	                           "--min-lr", "0.01", NULL});
	s = (nncc_schedule_t){.type = NNCC_SCHEDULE_COSINE, .t_max = 30};
	check_log(&blob_model, &s, 0.5, 10, 0, 50,
	          (const char *[]){"--iterations", "50", "--schedule", "cosine", "--t-max", "30", NULL});
	s = (nncc_schedule_t){.type = NNCC_SCHEDULE_CONSTANT, .warmup = 8};
	check_log(&blob_model, &s, 0.5, 10, 0, 20,
	          (const char *[]){"--iterations", "20", "--warmup", "8", NULL});
}
END_TEST

/* A schedule compiled into the descriptor is used as it is, its keys
 * overridden one by one; --schedule with another type starts from that
 * type's defaults. */
START_TEST(compiled_schedule_and_overrides)
{
	nncc_model_t m = blob_model;
	nncc_schedule_t s;
	m.config.schedule = (nncc_schedule_t){.type = NNCC_SCHEDULE_STEP, .unit = NNCC_UNIT_ITERATIONS,
	                                      .gamma = 0.5, .step_size = 4, .warmup = 2};
	s = m.config.schedule;
	check_log(&m, &s, 0.5, 10, 0, 30, (const char *[]){"--iterations", "30", NULL});
	s.gamma = 0.8;
	check_log(&m, &s, 0.5, 10, 0, 30,
	          (const char *[]){"--iterations", "30", "--gamma", "0.8", NULL});
	s = (nncc_schedule_t){.type = NNCC_SCHEDULE_COSINE};
	check_log(&m, &s, 0.5, 10, 0, 30,
	          (const char *[]){"--iterations", "30", "--schedule", "cosine", NULL});
	s = (nncc_schedule_t){.type = NNCC_SCHEDULE_STEP, .unit = NNCC_UNIT_ITERATIONS, .gamma = 0.5,
	                      .step_size = 4, .warmup = 2};
	check_log(&m, &s, 0.5, 10, 0, 30,
	          (const char *[]){"--iterations", "30", "--schedule", "step", NULL});
}
END_TEST

static Suite *schedule_suite(void)
{
	Suite *s = suite_create("schedule");
	TCase *tc = tcase_create("rates");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, runtime_matches_reference);
	tcase_add_test(tc, hand_values);
	tcase_add_test(tc, driver_uses_the_schedule);
	tcase_add_test(tc, compiled_schedule_and_overrides);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(schedule_suite(), NULL);
}
