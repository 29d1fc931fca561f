/*
 * norm.c - input normalisation.  nncc_norm_fit computes the statistics on the
 * training set; nncc_norm_apply maps bytes to float/double inputs.  Exact
 * formulas (the inference exporter reproduces them bit-for-bit) are in
 * docs/data.md:
 *   NONE         x = (real)pixel
 *   SCALE        x = (real)(pixel / 255.0)
 *   STANDARDIZE  x = (real)((pixel - mean[j]) / std), in double, one rounding
 * where mean[j] is the per-pixel training mean and std is ONE scalar: the
 * standard deviation of all n*dim centred training values (1 if it is 0).
 */
#include <math.h>
#include <stdlib.h>

#include "nncc.h"

/* mean[j] = (sum over i of pixel[i][j]) / n.  The sums are integers below
 * 2^53 for any n < 2^45, so they are exact and mean[j] is correctly rounded.
 * var = (sum over i, then j, of (pixel[i][j] - mean[j])^2) / (n*dim), summed
 * in that fixed order in double. */
static int fit_standardize(nncc_norm_stats_t *st, const nncc_dataset_t *train, nncc_err_t *err)
{
	size_t n = train->n, dim = train->dim;
	const uint8_t *px = train->pixels;
	double ss = 0, var;

	st->mean = calloc(dim, sizeof *st->mean);
	if (!st->mean) {
		nncc_err_set(err, "normalisation: out of memory for %zu means", dim);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < dim; j++)
			st->mean[j] += px[i * dim + j];
	for (size_t j = 0; j < dim; j++)
		st->mean[j] /= (double)n;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < dim; j++) {
			double d = px[i * dim + j] - st->mean[j];
			double sq = d * d; /* own statement: never fused into an FMA */
			ss += sq;
		}
	var = ss / ((double)n * (double)dim);
	st->std = sqrt(var);
	if (st->std == 0)
		st->std = 1; /* constant inputs: centring alone, no division by 0 */
	return 0;
}

int nncc_norm_fit(nncc_norm_stats_t *st, int kind, const nncc_dataset_t *train,
                  nncc_err_t *err)
{
	st->kind = kind;
	st->dim = train->dim;
	st->mean = NULL;
	st->std = 1;
	switch (kind) {
	case NNCC_NORM_NONE:
	case NNCC_NORM_SCALE:
		return 0;
	case NNCC_NORM_STANDARDIZE:
		if (train->n == 0 || train->dim == 0) {
			nncc_err_set(err, "normalisation: cannot standardize an empty training set");
			return -1;
		}
		return fit_standardize(st, train, err);
	}
	nncc_err_set(err, "normalisation: unknown kind %d (expected 0 none, 1 scale, 2 standardize)",
	             kind);
	return -1;
}

/* One pixel in double; the caller rounds once to the output type. */
static double norm_value(const nncc_norm_stats_t *st, uint8_t pixel, size_t j)
{
	switch (st->kind) {
	case NNCC_NORM_SCALE:
		return pixel / 255.0;
	case NNCC_NORM_STANDARDIZE:
		return (pixel - st->mean[j]) / st->std;
	default:
		return pixel;
	}
}

void nncc_norm_apply(const nncc_norm_stats_t *st, int dtype, void *out,
                     const uint8_t *pixels, size_t n)
{
	size_t dim = st->dim;

	if (dtype == NNCC_F32) {
		float *o = out;
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < dim; j++)
				o[i * dim + j] = (float)norm_value(st, pixels[i * dim + j], j);
	} else {
		double *o = out;
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < dim; j++)
				o[i * dim + j] = norm_value(st, pixels[i * dim + j], j);
	}
}

void nncc_norm_fini(nncc_norm_stats_t *st)
{
	if (!st)
		return;
	free(st->mean);
	st->mean = NULL;
}
