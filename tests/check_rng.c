/*
 * check_rng.c - rng.c: determinism per seed, ranges, loose statistics of the
 * uniform and normal draws, below() and Fisher-Yates shuffling.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nncc.h"
#include "testutil.h"

#define N_STAT 100000

START_TEST(same_seed_same_sequence)
{
	nncc_rng_t a, b;
	nncc_rng_seed(&a, 42);
	nncc_rng_seed(&b, 42);
	for (int i = 0; i < 1000; i++)
		ck_assert_uint_eq(nncc_rng_next(&a), nncc_rng_next(&b));
}
END_TEST

/* The first output for seed 0 pins splitmix64 + xoshiro256** down: computed
 * by hand from the reference algorithms (splitmix64 of 0 gives
 * s = e220a8397b1dcdaf, 6e789e6aa1b965f4, 06c45d188009454f, f88bb8a8724c81ec). */
START_TEST(seed_zero_reference_value)
{
	nncc_rng_t r;
	nncc_rng_seed(&r, 0);
	ck_assert_uint_eq(r.s[0], 0xe220a8397b1dcdafULL);
	ck_assert_uint_eq(r.s[1], 0x6e789e6aa1b965f4ULL);
	ck_assert_uint_eq(r.s[2], 0x06c45d188009454fULL);
	ck_assert_uint_eq(r.s[3], 0xf88bb8a8724c81ecULL);
	uint64_t s1 = 0x6e789e6aa1b965f4ULL * 5;
	uint64_t want = ((s1 << 7) | (s1 >> 57)) * 9;
	ck_assert_uint_eq(nncc_rng_next(&r), want);
}
END_TEST

START_TEST(different_seeds_differ)
{
	nncc_rng_t a, b;
	int same = 0;
	nncc_rng_seed(&a, 1);
	nncc_rng_seed(&b, 2);
	for (int i = 0; i < 100; i++)
		same += nncc_rng_next(&a) == nncc_rng_next(&b);
	ck_assert_int_eq(same, 0);
}
END_TEST

START_TEST(uniform_range_and_mean)
{
	nncc_rng_t r;
	double sum = 0, lo = 1, hi = 0;
	nncc_rng_seed(&r, 7);
	for (int i = 0; i < N_STAT; i++) {
		double u = nncc_rng_uniform(&r);
		ck_assert(u >= 0.0 && u < 1.0);
		sum += u;
		lo = u < lo ? u : lo;
		hi = u > hi ? u : hi;
	}
	/* mean 1/2, sd of the mean sqrt(1/12/1e5) ~ 0.0009 */
	ck_assert_double_eq_tol(sum / N_STAT, 0.5, 0.005);
	ck_assert(lo < 0.001 && hi > 0.999);
}
END_TEST

START_TEST(normal_moments)
{
	nncc_rng_t r;
	double sum = 0, sq = 0;
	int beyond3 = 0;
	nncc_rng_seed(&r, 11);
	for (int i = 0; i < N_STAT; i++) {
		double z = nncc_rng_normal(&r);
		ck_assert(isfinite(z));
		sum += z;
		sq += z * z;
		beyond3 += fabs(z) > 3;
	}
	double mean = sum / N_STAT, var = sq / N_STAT - mean * mean;
	ck_assert_double_eq_tol(mean, 0.0, 0.02);
	ck_assert_double_eq_tol(var, 1.0, 0.03);
	/* P(|z| > 3) = 0.0027: expect ~270 */
	ck_assert_int_gt(beyond3, 150);
	ck_assert_int_lt(beyond3, 400);
}
END_TEST

START_TEST(normal_deterministic)
{
	nncc_rng_t a, b;
	nncc_rng_seed(&a, 5);
	nncc_rng_seed(&b, 5);
	for (int i = 0; i < 1000; i++) {
		double x = nncc_rng_normal(&a), y = nncc_rng_normal(&b);
		ck_assert(memcmp(&x, &y, sizeof x) == 0);
	}
}
END_TEST

START_TEST(below_range_and_coverage)
{
	nncc_rng_t r;
	int count[7] = {0};
	nncc_rng_seed(&r, 3);
	for (int i = 0; i < 70000; i++) {
		size_t k = nncc_rng_below(&r, 7);
		ck_assert_uint_lt(k, 7);
		count[k]++;
	}
	for (int k = 0; k < 7; k++)
		ck_assert_int_gt(count[k], 9500); /* expect 10000, sd ~93 */
	ck_assert_uint_eq(nncc_rng_below(&r, 1), 0);
	ck_assert_uint_eq(nncc_rng_below(&r, 0), 0);
	/* a bound near 2^64 exercises the rejection path */
	for (int i = 0; i < 100; i++)
		ck_assert_uint_lt(nncc_rng_below(&r, SIZE_MAX / 3 * 2), SIZE_MAX / 3 * 2);
}
END_TEST

START_TEST(shuffle_is_deterministic_permutation)
{
	enum { N = 1000 };
	size_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
	int seen[N] = {0}, moved = 0;
	nncc_rng_t r1, r2;
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < N; i++)
		a[i] = b[i] = i;
	nncc_rng_seed(&r1, 99);
	nncc_rng_seed(&r2, 99);
	nncc_rng_shuffle(&r1, a, N);
	nncc_rng_shuffle(&r2, b, N);
	for (size_t i = 0; i < N; i++) {
		ck_assert_uint_eq(a[i], b[i]);
		ck_assert_uint_lt(a[i], N);
		seen[a[i]]++;
		moved += a[i] != i;
	}
	for (size_t i = 0; i < N; i++)
		ck_assert_int_eq(seen[i], 1);
	ck_assert_int_gt(moved, N / 2);
	/* n = 0 and 1 are no-ops */
	nncc_rng_shuffle(&r1, a, 0);
	b[0] = 5;
	nncc_rng_shuffle(&r1, b, 1);
	ck_assert_uint_eq(b[0], 5);
	free(a);
	free(b);
}
END_TEST

static Suite *rng_suite(void)
{
	Suite *s = suite_create("rng");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, same_seed_same_sequence);
	tcase_add_test(tc, seed_zero_reference_value);
	tcase_add_test(tc, different_seeds_differ);
	tcase_add_test(tc, uniform_range_and_mean);
	tcase_add_test(tc, normal_moments);
	tcase_add_test(tc, normal_deterministic);
	tcase_add_test(tc, below_range_and_coverage);
	tcase_add_test(tc, shuffle_is_deterministic_permutation);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(rng_suite(), NULL);
}
