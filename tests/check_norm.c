/*
 * check_norm.c - norm.c: exact statistics on tiny data, the standardised
 * training set having mean 0 and std 1, scale and none, float and double
 * outputs bit-for-bit against the formulas in docs/data.md, and errors.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "nncc.h"
#include "testutil.h"

/* 2 samples x 3 pixels: means {2, 15, 255}; centred values +-2, +-5, 0;
 * var = (4 + 25 + 0) * 2 / 6. */
static uint8_t tiny[6] = {0, 10, 255, 4, 20, 255};

static nncc_dataset_t dataset(uint8_t *px, size_t n, size_t dim)
{
	nncc_dataset_t ds;
	memset(&ds, 0, sizeof ds);
	ds.n = n;
	ds.dim = dim;
	ds.rows = 1;
	ds.cols = dim;
	ds.pixels = px;
	return ds;
}

START_TEST(standardize_exact_stats)
{
	nncc_dataset_t ds = dataset(tiny, 2, 3);
	nncc_norm_stats_t st;
	nncc_err_t err = {{0}};
	ck_assert_int_eq(nncc_norm_fit(&st, NNCC_NORM_STANDARDIZE, &ds, &err), 0);
	ck_assert_int_eq(st.kind, NNCC_NORM_STANDARDIZE);
	ck_assert_uint_eq(st.dim, 3);
	ck_assert(st.mean[0] == 2.0 && st.mean[1] == 15.0 && st.mean[2] == 255.0);
	ck_assert(st.std == sqrt(58.0 / 6.0));
	nncc_norm_fini(&st);
	ck_assert_ptr_null(st.mean);
	nncc_norm_fini(&st);
	nncc_norm_fini(NULL);
}
END_TEST

/* Every output equals the documented formula, computed in double and
 * rounded once. */
START_TEST(standardize_apply_f32_f64)
{
	nncc_dataset_t ds = dataset(tiny, 2, 3);
	nncc_norm_stats_t st;
	nncc_err_t err = {{0}};
	float o32[6];
	double o64[6];
	ck_assert_int_eq(nncc_norm_fit(&st, NNCC_NORM_STANDARDIZE, &ds, &err), 0);
	nncc_norm_apply(&st, NNCC_F32, o32, tiny, 2);
	nncc_norm_apply(&st, NNCC_F64, o64, tiny, 2);
	for (size_t k = 0; k < 6; k++) {
		double want = (tiny[k] - st.mean[k % 3]) / st.std;
		ck_assert(o64[k] == want);
		ck_assert(o32[k] == (float)want);
	}
	ck_assert(o64[2] == 0.0 && o64[5] == 0.0);
	ck_assert(o64[0] == -2.0 / sqrt(58.0 / 6.0));
	nncc_norm_fini(&st);
}
END_TEST

START_TEST(standardized_data_has_mean0_std1)
{
	enum { N = 500, D = 20 };
	uint8_t *px = malloc(N * D);
	double *o = malloc(N * D * sizeof *o);
	uint32_t x = 1;
	ck_assert_ptr_nonnull(px);
	ck_assert_ptr_nonnull(o);
	for (size_t k = 0; k < N * D; k++) {
		x = x * 1664525u + 1013904223u;
		/* columns with different ranges and offsets */
		px[k] = (uint8_t)((x >> 24) % (10 + 12 * (k % D)) + 3 * (k % D));
	}
	nncc_dataset_t ds = dataset(px, N, D);
	nncc_norm_stats_t st;
	nncc_err_t err = {{0}};
	ck_assert_int_eq(nncc_norm_fit(&st, NNCC_NORM_STANDARDIZE, &ds, &err), 0);
	nncc_norm_apply(&st, NNCC_F64, o, px, N);
	double sq = 0;
	for (size_t j = 0; j < D; j++) {
		double s = 0;
		for (size_t i = 0; i < N; i++)
			s += o[i * D + j];
		ck_assert_double_eq_tol(s / N, 0.0, 1e-12);
	}
	for (size_t k = 0; k < N * D; k++)
		sq += o[k] * o[k];
	ck_assert_double_eq_tol(sqrt(sq / (N * D)), 1.0, 1e-12);
	nncc_norm_fini(&st);
	free(px);
	free(o);
}
END_TEST

START_TEST(constant_data_uses_std_1)
{
	static uint8_t flat[4] = {7, 7, 7, 7};
	nncc_dataset_t ds = dataset(flat, 2, 2);
	nncc_norm_stats_t st;
	nncc_err_t err = {{0}};
	double o[4];
	ck_assert_int_eq(nncc_norm_fit(&st, NNCC_NORM_STANDARDIZE, &ds, &err), 0);
	ck_assert(st.std == 1.0);
	nncc_norm_apply(&st, NNCC_F64, o, flat, 2);
	for (int k = 0; k < 4; k++)
		ck_assert(o[k] == 0.0);
	nncc_norm_fini(&st);
}
END_TEST

START_TEST(scale_and_none)
{
	nncc_dataset_t ds = dataset(tiny, 2, 3);
	nncc_norm_stats_t st;
	nncc_err_t err = {{0}};
	float o32[6];
	double o64[6];

	ck_assert_int_eq(nncc_norm_fit(&st, NNCC_NORM_SCALE, &ds, &err), 0);
	ck_assert_ptr_null(st.mean);
	ck_assert(st.std == 1.0);
	nncc_norm_apply(&st, NNCC_F32, o32, tiny, 2);
	nncc_norm_apply(&st, NNCC_F64, o64, tiny, 2);
	for (size_t k = 0; k < 6; k++) {
		ck_assert(o64[k] == tiny[k] / 255.0);
		ck_assert(o32[k] == (float)(tiny[k] / 255.0));
	}
	ck_assert(o64[2] == 1.0 && o32[0] == 0.0f);
	nncc_norm_fini(&st);

	ck_assert_int_eq(nncc_norm_fit(&st, NNCC_NORM_NONE, &ds, &err), 0);
	ck_assert_ptr_null(st.mean);
	nncc_norm_apply(&st, NNCC_F32, o32, tiny, 2);
	nncc_norm_apply(&st, NNCC_F64, o64, tiny, 2);
	for (size_t k = 0; k < 6; k++)
		ck_assert(o64[k] == tiny[k] && o32[k] == tiny[k]);
	nncc_norm_fini(&st);
}
END_TEST

/* The pixel table and its FMA path (when this CPU has one) give every
 * byte the bits of p / 255.0 (or p) rounded once, in long runs with every
 * tail length; double stays on the table. */
START_TEST(lut_paths_give_the_division)
{
	static const int kinds[2] = {NNCC_NORM_SCALE, NNCC_NORM_NONE};
	uint8_t px[700];
	float got[700];
	double gotd[700];
	for (size_t i = 0; i < sizeof px; i++)
		px[i] = (uint8_t)(i * 37 + i / 256);
	for (int k = 0; k < 2; k++) {
		nncc_norm_stats_t st = {.kind = kinds[k], .dim = 1, .std = 1};
		nncc_norm_lut_t t, td;
		ck_assert_int_eq(nncc_norm_lut(&t, &st, NNCC_F32), 0);
		ck_assert_int_eq(nncc_norm_lut(&td, &st, NNCC_F64), 0);
		ck_assert_int_eq(td.fma, 0);
		for (size_t n = 0; n <= sizeof px; n += n < 140 ? 1 : 97) {
			nncc_norm_apply_lut(&t, got, px, n);
			nncc_norm_apply_lut(&td, gotd, px, n);
			for (size_t i = 0; i < n; i++) {
				double want = kinds[k] == NNCC_NORM_SCALE ? px[i] / 255.0 : px[i];
				ck_assert_msg(got[i] == (float)want, "kind %d fma %d: pixel %u gives %a, not %a",
				              kinds[k], t.fma, px[i], got[i], (float)want);
				ck_assert(gotd[i] == want);
			}
		}
	}
	nncc_norm_stats_t std = {.kind = NNCC_NORM_STANDARDIZE, .dim = 1, .std = 2};
	nncc_norm_lut_t t;
	ck_assert_int_eq(nncc_norm_lut(&t, &std, NNCC_F32), -1);
}
END_TEST

START_TEST(errors)
{
	nncc_dataset_t ds = dataset(tiny, 2, 3);
	nncc_norm_stats_t st;
	nncc_err_t err = {{0}};
	ck_assert_int_eq(nncc_norm_fit(&st, 9, &ds, &err), -1);
	ck_assert_str_eq(err.msg,
	                 "normalisation: unknown kind 9 (expected 0 none, 1 scale, 2 standardize, "
	                 "3 standardize_features)");
	ck_assert_ptr_null(st.mean);
	ds.n = 0;
	ck_assert_int_eq(nncc_norm_fit(&st, NNCC_NORM_STANDARDIZE, &ds, &err), -1);
	ck_assert_str_eq(err.msg, "normalisation: cannot standardize an empty training set");
	ck_assert_ptr_null(st.mean);
}
END_TEST

/* standardize_features on values (CSV): each input its own mean and
 * population std; a constant feature gets std 1; the outputs are the
 * formula rounded once. */
START_TEST(standardize_features_values)
{
	double v[6] = {1.5, -2, 7, 2.5, 4, 7};   /* 2 samples x 3 features */
	nncc_dataset_t ds = {.n = 2, .dim = 3, .rows = 1, .cols = 3, .values = v};
	nncc_norm_stats_t st;
	nncc_err_t err = {{0}};
	float o32[6];
	double o64[6];
	ck_assert_int_eq(nncc_norm_fit(&st, NNCC_NORM_STANDARDIZE_FEATURES, &ds, &err), 0);
	ck_assert(st.mean[0] == 2.0 && st.mean[1] == 1.0 && st.mean[2] == 7.0);
	ck_assert(st.stds[0] == 0.5 && st.stds[1] == 3.0 && st.stds[2] == 1.0);
	nncc_norm_apply_values(&st, NNCC_F32, o32, v, 2);
	nncc_norm_apply_values(&st, NNCC_F64, o64, v, 2);
	for (size_t k = 0; k < 6; k++) {
		double want = (v[k] - st.mean[k % 3]) / st.stds[k % 3];
		ck_assert(o64[k] == want);
		ck_assert(o32[k] == (float)want);
	}
	ck_assert(o64[0] == -1 && o64[3] == 1 && o64[1] == -1 && o64[2] == 0);
	nncc_norm_fini(&st);
	ck_assert_ptr_null(st.stds);
}
END_TEST

static Suite *norm_suite(void)
{
	Suite *s = suite_create("norm");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, standardize_exact_stats);
	tcase_add_test(tc, standardize_apply_f32_f64);
	tcase_add_test(tc, standardized_data_has_mean0_std1);
	tcase_add_test(tc, constant_data_uses_std_1);
	tcase_add_test(tc, scale_and_none);
	tcase_add_test(tc, lut_paths_give_the_division);
	tcase_add_test(tc, errors);
	tcase_add_test(tc, standardize_features_values);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(norm_suite(), NULL);
}
