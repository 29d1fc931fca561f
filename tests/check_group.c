/*
 * check_group.c - the tree the chunks' gradient sums are added along
 * (runtime/group.c, docs/scaling.md), as pure functions: the split rule,
 * the subtrees a rank's chunks cover, the one-rank fold (chunks as they
 * come) against a recursive sum written here from the rule, and every
 * rank count's subtrees completed by nncc_tree_combine against the one-rank
 * fold, bit for bit.  The values are drawn over many binades, so that
 * another order of the additions gives other bits (checked: left to right
 * does).  The exchange itself is tests/e2e/mpi.sh's.
 * Vocabulary: C = chunks, R = ranks, n = reals per chunk.
 */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/driver.h"
#include "testutil.h"

#define N 64            /* reals per chunk */
#define MAX_C 40

static size_t cut(size_t n, size_t i, size_t k)
{
	return n * i / k;
}

/* The rule as docs/scaling.md states it: the largest power of two below
 * the size. */
static size_t rule_mid(size_t lo, size_t hi)
{
	size_t p = 1;
	while (p * 2 < hi - lo)
		p *= 2;
	return lo + p;
}

/* Chunks lo .. hi-1 of x added along the rule, recursively, into out:
 * in double, each float32 sum rounded to float (the float addition's
 * result: a double holds the exact sum of two floats' worth of bits). */
static void ref_sum(int dtype, const double *x, size_t lo, size_t hi, double *out)
{
	double right[N];
	if (hi - lo == 1) {
		memcpy(out, x + lo * N, sizeof right);
		return;
	}
	ref_sum(dtype, x, lo, rule_mid(lo, hi), out);
	ref_sum(dtype, x, rule_mid(lo, hi), hi, right);
	for (size_t j = 0; j < N; j++)
		out[j] = dtype == NNCC_F64 ? out[j] + right[j] : (double)(float)(out[j] + right[j]);
}

/* C chunks of N reals, signs and binades 2^-20 .. 2^20 at random; as
 * doubles too in xd unless it is NULL. */
static void fill(nncc_rng_t *rng, int dtype, void *x, double *xd, size_t C)
{
	for (size_t i = 0; i < C * N; i++) {
		double v = ldexp(1 + nncc_rng_uniform(rng), (int)(nncc_rng_next(rng) % 41) - 20);
		v = nncc_rng_next(rng) & 1 ? -v : v;
		if (dtype == NNCC_F64)
			((double *)x)[i] = v;
		else
			((float *)x)[i] = (float)v;
		if (xd)
			xd[i] = dtype == NNCC_F64 ? v : (double)(float)v;
	}
}

/* The fold of chunks lo .. hi-1 of x as group.c runs it: each chunk copied
 * into a scratch leaf (the gradient block, overwritten by the next chunk),
 * its sum left in out. */
static void fold(int dtype, const void *x, size_t lo, size_t hi, void *out)
{
	size_t rs = dtype == NNCC_F64 ? sizeof(double) : sizeof(float);
	size_t depth = nncc_tree_depth(hi - lo);
	nncc_fold_t f = {.stack = malloc((depth ? depth : 1) * N * rs),
	                 .sizes = malloc((depth ? depth : 1) * sizeof(size_t))};
	ck_assert(f.stack && f.sizes);
	for (size_t c = lo; c < hi; c++) {
		memcpy(out, (const char *)x + c * N * rs, N * rs);
		nncc_tree_fold(dtype, N, out, c + 1 == hi, &f);
		ck_assert_uint_le(f.sp, depth);
	}
	ck_assert_uint_eq(f.sp, 0);
	free(f.stack);
	free(f.sizes);
}

/* Shards (docs/scaling.md#shards): the ranks' tiles of n samples cover
 * 0 .. n-1 once, in rank order, each share whole tiles (but the set's last)
 * and the shares' tile counts within one of each other; the bound on a
 * rank's positions in a batch of b <= B holds for every rank and b, and is
 * reached (so it is not slack by more than the rounding). */
START_TEST(shards_and_own_bound)
{
	static const size_t ns[] = {0, 1, 7, 8, 9, 300, 1000}, mbs[] = {1, 8, 64};
	for (size_t R = 1; R <= 5; R++)
		for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
			for (size_t b = 0; b < sizeof mbs / sizeof mbs[0]; b++) {
				size_t n = ns[a], mb = mbs[b], end = 0, lo = SIZE_MAX, hi = 0;
				for (size_t r = 0; r < R; r++) {
					size_t f, e;
					nncc_tiles_held(n, mb, r, R, &f, &e);
					ck_assert_uint_eq(f, end);
					ck_assert_uint_le(f, e);
					ck_assert(f % mb == 0);
					ck_assert(e % mb == 0 || e == n);
					size_t tiles = (e - f + mb - 1) / mb;
					lo = tiles < lo ? tiles : lo;
					hi = tiles > hi ? tiles : hi;
					end = e;
				}
				ck_assert_uint_eq(end, n);
				ck_assert_uint_le(hi - lo, 1);
			}
	for (size_t C = 1; C <= 13; C++)
		for (size_t R = 1; R <= C; R++)
			for (size_t B = 1; B <= 40; B++) {
				size_t bound = nncc_group_own_max(B, C, R), most = 0;
				for (size_t bb = 1; bb <= B; bb++)
					for (size_t r = 0; r < R; r++) {
						size_t c0 = C / R * r + C % R * r / R;
						size_t c1 = C / R * (r + 1) + C % R * (r + 1) / R;
						size_t p0 = bb / C * c0 + bb % C * c0 / C;
						size_t p1 = bb / C * c1 + bb % C * c1 / C;
						most = p1 - p0 > most ? p1 - p0 : most;
					}
				ck_assert_uint_le(most, bound);
				ck_assert_uint_le(bound, most + 1);
			}
	ck_assert_uint_eq(nncc_group_own_max(10, 2, 3), 10);   /* fewer chunks than ranks */
}
END_TEST

START_TEST(split_rule)
{
	const size_t sizes[][2] = {{2, 1}, {3, 2}, {4, 2}, {5, 4}, {8, 4}, {9, 8}, {12, 8}, {17, 16}};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		ck_assert_uint_eq(nncc_tree_mid(0, sizes[i][0]), sizes[i][1]);
		ck_assert_uint_eq(nncc_tree_mid(7, 7 + sizes[i][0]), 7 + sizes[i][1]);
	}
	/* the pending subtrees of a fold: the bits of the chunks seen */
	ck_assert_uint_eq(nncc_tree_depth(1), 0);
	ck_assert_uint_eq(nncc_tree_depth(2), 1);
	ck_assert_uint_eq(nncc_tree_depth(8), 3);    /* 0..6 seen: 7 = 111b, the most */
	ck_assert_uint_eq(nncc_tree_depth(4), 2);
	ck_assert_uint_eq(nncc_tree_depth(9), 3);
	ck_assert_uint_eq(nncc_tree_depth(12), 3);
	/* the most 1 bits among 1 .. leaves - 1, counted */
	for (size_t leaves = 1, most = 0; leaves < 5000; leaves++) {
		size_t bits = 0;
		for (size_t v = leaves - 1; v; v >>= 1)
			bits += v & 1;
		most = bits > most ? bits : most;
		ck_assert_uint_eq(nncc_tree_depth(leaves), most);
	}
	ck_assert_uint_eq(nncc_tree_depth(SIZE_MAX), sizeof(size_t) * CHAR_BIT - 1);
}
END_TEST

/* The default 12 chunks among 1, 2, 3, 4 ranks: the subtrees docs/scaling.md
 * lists. */
START_TEST(subtrees_of_twelve)
{
	const size_t want[4][8] = {
		{0, 12},
		{0, 4, 4, 6, 6, 8, 8, 12},
		{0, 4, 4, 8, 8, 12},
		{0, 2, 2, 3, 3, 4, 4, 6},   /* rank 0 and 1 of 4; ranks 2, 3 below */
	};
	const size_t counts[4] = {1, 4, 3, 4};
	for (size_t R = 1; R <= 3; R++) {
		size_t nodes[2 * MAX_C], n = 0;
		for (size_t r = 0; r < R; r++)
			n = nncc_tree_nodes(0, 12, cut(12, r, R), cut(12, r + 1, R), nodes, n);
		ck_assert_uint_eq(n, counts[R - 1]);
		for (size_t k = 0; k < 2 * n; k++)
			ck_assert_uint_eq(nodes[k], want[R - 1][k]);
	}
	size_t nodes[2 * MAX_C], n = 0;
	for (size_t r = 0; r < 4; r++)
		n = nncc_tree_nodes(0, 12, 3 * r, 3 * r + 3, nodes, n);
	ck_assert_uint_eq(n, 8);
	for (size_t k = 0; k < 8; k++)
		ck_assert_uint_eq(nodes[k], want[3][k]);
	const size_t rest[8] = {6, 8, 8, 9, 9, 10, 10, 12};
	for (size_t k = 0; k < 8; k++)
		ck_assert_uint_eq(nodes[8 + k], rest[k]);
	/* NULL only counts */
	ck_assert_uint_eq(nncc_tree_nodes(0, 12, 0, 6, NULL, 5), 7);
}
END_TEST

/* Every C up to MAX_C, both dtypes: the fold of all chunks is the
 * recursive sum, bit for bit; and for some C it is not the left-to-right
 * sum (so the comparison would see another order). */
START_TEST(fold_is_the_tree)
{
	nncc_rng_t rng;
	int differs = 0;
	nncc_rng_seed(&rng, 42);
	for (int dtype = NNCC_F32; dtype <= NNCC_F64; dtype++)
		for (size_t C = 1; C <= MAX_C; C++) {
			size_t rs = dtype == NNCC_F64 ? sizeof(double) : sizeof(float);
			char *x = malloc(C * N * rs), got[N * sizeof(double)], want[N * sizeof(double)];
			char chain[N * sizeof(double)];
			double *xd = malloc(C * N * sizeof *xd), sum[N];
			ck_assert(x && xd);
			fill(&rng, dtype, x, xd, C);
			fold(dtype, x, 0, C, got);
			ref_sum(dtype, xd, 0, C, sum);
			for (size_t j = 0; j < N; j++) {
				if (dtype == NNCC_F64)
					((double *)want)[j] = sum[j];
				else
					((float *)want)[j] = (float)sum[j];
			}
			ck_assert_msg(!memcmp(got, want, N * rs), "%s, %zu chunks: not the tree's sum",
			              dtype == NNCC_F64 ? "float64" : "float32", C);
			memcpy(chain, x, N * rs);
			for (size_t c = 1; c < C; c++)
				for (size_t j = 0; j < N; j++) {
					if (dtype == NNCC_F64)
						((double *)chain)[j] += ((const double *)x)[c * N + j];
					else
						((float *)chain)[j] += ((const float *)x)[c * N + j];
				}
			differs += memcmp(chain, want, N * rs) != 0;
			free(x);
			free(xd);
		}
	ck_assert_msg(differs > 10, "left to right gave other bits than the tree for only %d of %d sizes",
	              differs, 2 * MAX_C);
}
END_TEST

/* Every C up to MAX_C and every R up to C: each rank folds its subtrees,
 * the subtrees' sums (in rank order) are completed by nncc_tree_combine:
 * the one-rank fold's bits.  No rank has more than 2 ceil(log2 C) subtrees,
 * and they cover its chunks exactly. */
START_TEST(ranks_complete_the_tree)
{
	nncc_rng_t rng;
	nncc_rng_seed(&rng, 7);
	for (int dtype = NNCC_F32; dtype <= NNCC_F64; dtype++)
		for (size_t C = 1; C <= MAX_C; C++) {
			size_t rs = dtype == NNCC_F64 ? sizeof(double) : sizeof(float), lg = 0;
			char *x = malloc(C * N * rs), *rows = malloc(C * N * rs), one[N * sizeof(double)];
			ck_assert(x && rows);
			fill(&rng, dtype, x, NULL, C);
			fold(dtype, x, 0, C, one);
			while (((size_t)1 << lg) < C)
				lg++;
			for (size_t R = 1; R <= C; R++) {
				size_t nodes[2 * 2 * MAX_C], n = 0;
				for (size_t r = 0; r < R; r++) {
					size_t a = cut(C, r, R), b = cut(C, r + 1, R), from = n, next = a;
					n = nncc_tree_nodes(0, C, a, b, nodes, n);
					ck_assert_uint_le(n - from, lg ? 2 * lg : 1);
					for (size_t k = from; k < n; k++) {
						ck_assert_uint_eq(nodes[2 * k], next);
						next = nodes[2 * k + 1];
						fold(dtype, x, nodes[2 * k], nodes[2 * k + 1], rows + k * N * rs);
					}
					ck_assert_uint_eq(next, b);
				}
				const void *sum = nncc_tree_combine(dtype, N, rows, nodes, n, 0, C);
				ck_assert_msg(!memcmp(sum, one, N * rs), "%s, %zu chunks on %zu ranks: not the "
				              "bits of one rank", dtype == NNCC_F64 ? "float64" : "float32", C, R);
			}
			free(x);
			free(rows);
		}
}
END_TEST

/* The memory plan's count of the chunked step's buffers (nncc_group_reals):
 * for every rank count R <= C and every rank, the reals nncc_group_init
 * allocated, read off the group it made (the fold's stack: its deepest
 * subtree's depth; send and rows when they are there), are at most the
 * count, and some rank of some R takes all of it; beyond 256 chunks the
 * count is a bound. */
static size_t group_reals(const nncc_group_t *g, size_t R, size_t me, size_t P)
{
	size_t depth = 0, slice = g->lo[me + 1] - g->lo[me], mine = g->n0[me + 1] - g->n0[me];
	for (size_t k = g->n0[me]; k < g->n0[me + 1]; k++) {
		size_t d = 0;
		for (size_t n = g->nodes[2 * k + 1] - g->nodes[2 * k]; n > 1; n /= 2)
			d++;   /* floor(log2 n): a subtree of n chunks pends that many */
		depth = d > depth ? d : depth;
	}
	ck_assert((g->fold.stack != NULL) == (depth > 0));
	return depth * P + (g->send ? mine * P : 0) + (g->rows ? g->n0[R] * slice : 0);
}

START_TEST(buffers_counted)
{
	static const size_t Ps[] = {1, 7, 1000};
	for (size_t a = 0; a < sizeof Ps / sizeof Ps[0]; a++)
		for (size_t C = 1; C <= MAX_C; C++) {
			size_t P = Ps[a], most = 0;
			nncc_model_t m = {.dtype = NNCC_F32, .n_params = P};
			for (size_t R = 1; R <= C; R++)
				for (size_t me = 0; me < R; me++) {
					nncc_comm_t c = {.rank = (int)me, .size = (int)R};
					nncc_group_t g;
					nncc_err_t err;
					ck_assert_msg(nncc_group_init(&g, &c, &m, C, &err) == 0, "%s", err.msg);
					size_t n = group_reals(&g, R, me, P);
					most = n > most ? n : most;
					nncc_group_fini(&g);
				}
			ck_assert_uint_eq(nncc_group_reals_exact(C, P), most);
			ck_assert_uint_eq(nncc_group_reals(C, P), most);
		}
	/* 12 chunks: 3 P in one process (the fold of a subtree of 8), 6 P on
	 * rank 0 of 2 (its subtrees 0-3 and 4-5: a fold of 2, both sent, and
	 * the 4 subtrees' halves of P received) */
	ck_assert_uint_eq(nncc_group_reals(12, 1000), 6000);
	for (size_t C = 250; C <= 300; C += 5)
		ck_assert_uint_ge(nncc_group_reals(C, 1000), nncc_group_reals_exact(C, 1000));
	ck_assert_uint_eq(nncc_group_reals(256, 10), nncc_group_reals_exact(256, 10));
}
END_TEST

static Suite *group_suite(void)
{
	Suite *s = suite_create("group");
	TCase *tc = tcase_create("tree");
	tcase_add_test(tc, split_rule);
	tcase_add_test(tc, shards_and_own_bound);
	tcase_add_test(tc, subtrees_of_twelve);
	tcase_add_test(tc, fold_is_the_tree);
	tcase_add_test(tc, ranks_complete_the_tree);
	tcase_add_test(tc, buffers_counted);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(group_suite(), NULL);
}
