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
#include <string.h>

#include "nncc.h"

/* Input j of sample i, a pixel or a feature. */
static double input(const nncc_dataset_t *ds, size_t i, size_t j)
{
	return ds->values ? ds->values[i * ds->dim + j] : ds->pixels[i * ds->dim + j];
}

/* mean[j] = (sum over i of v[i][j]) / n.  For pixels the sums are integers
 * below 2^53 for any n < 2^45, so they are exact and mean[j] is correctly
 * rounded; features are summed in sample order in double.  The squares
 * (v[i][j] - mean[j])^2 are summed over i, then j, in that fixed order in
 * double: var = all of them / (n*dim), or per feature var[j] = column j's
 * / n. */
static int fit_standardize(nncc_norm_stats_t *st, const nncc_dataset_t *train, int each,
                           nncc_err_t *err)
{
	size_t n = train->n, dim = train->dim;
	double ss = 0;

	st->mean = calloc(dim, sizeof *st->mean);
	if (each)
		st->stds = calloc(dim, sizeof *st->stds);   /* the sums of squares first */
	if (!st->mean || (each && !st->stds)) {
		nncc_err_set(err, "normalisation: out of memory for %zu means", dim);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < dim; j++)
			st->mean[j] += input(train, i, j);
	for (size_t j = 0; j < dim; j++)
		st->mean[j] /= (double)n;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < dim; j++) {
			double d = input(train, i, j) - st->mean[j];
			double sq = d * d; /* own statement: never fused into an FMA */
			if (each)
				st->stds[j] += sq;
			else
				ss += sq;
		}
	if (each) {
		for (size_t j = 0; j < dim; j++) {
			st->stds[j] = sqrt(st->stds[j] / (double)n);
			if (!(st->stds[j] > 0))
				st->stds[j] = 1; /* a constant feature: centring alone */
		}
		return 0;
	}
	st->std = sqrt(ss / ((double)n * (double)dim));
	if (st->std == 0)
		st->std = 1; /* constant inputs: centring alone, no division by 0 */
	return 0;
}

int nncc_norm_fit(nncc_norm_stats_t *st, int kind, const nncc_dataset_t *train,
                  nncc_err_t *err)
{
	memset(st, 0, sizeof *st);
	st->kind = kind;
	st->dim = train->dim;
	st->std = 1;
	switch (kind) {
	case NNCC_NORM_NONE:
	case NNCC_NORM_SCALE:
		return 0;
	case NNCC_NORM_STANDARDIZE:
	case NNCC_NORM_STANDARDIZE_FEATURES:
		if (train->n == 0 || train->dim == 0) {
			nncc_err_set(err, "normalisation: cannot standardize an empty training set");
			return -1;
		}
		if (fit_standardize(st, train, kind == NNCC_NORM_STANDARDIZE_FEATURES, err) == 0)
			return 0;
		nncc_norm_fini(st);
		return -1;
	}
	nncc_err_set(err, "normalisation: unknown kind %d (expected 0 none, 1 scale, 2 standardize, "
	             "3 standardize_features)", kind);
	return -1;
}

/* One input in double; the caller rounds once to the output type. */
static double norm_value(const nncc_norm_stats_t *st, double v, size_t j)
{
	switch (st->kind) {
	case NNCC_NORM_SCALE:
		return v / 255.0;
	case NNCC_NORM_STANDARDIZE:
		return (v - st->mean[j]) / st->std;
	case NNCC_NORM_STANDARDIZE_FEATURES:
		return (v - st->mean[j]) / st->stds[j];
	default:
		return v;
	}
}

/* out[i][j] = norm_value(IN[i][j]) for pixels or values. */
#define NORM_APPLY(in)                                                                \
	do {                                                                              \
		size_t dim_ = st->dim;                                                        \
		for (size_t i_ = 0; i_ < n; i_++)                                             \
			for (size_t j_ = 0; j_ < dim_; j_++) {                                    \
				double x_ = norm_value(st, (in)[i_ * dim_ + j_], j_);                 \
				if (dtype == NNCC_F32)                                                \
					((float *)out)[i_ * dim_ + j_] = (float)x_;                       \
				else                                                                  \
					((double *)out)[i_ * dim_ + j_] = x_;                             \
			}                                                                         \
	} while (0)

void nncc_norm_apply(const nncc_norm_stats_t *st, int dtype, void *out,
                     const uint8_t *pixels, size_t n)
{
	NORM_APPLY(pixels);
}

void nncc_norm_apply_values(const nncc_norm_stats_t *st, int dtype, void *out,
                            const double *values, size_t n)
{
	NORM_APPLY(values);
}

void nncc_norm_fini(nncc_norm_stats_t *st)
{
	if (!st)
		return;
	free(st->mean);
	free(st->stds);
	for (size_t k = 0; k < st->n_classes; k++)
		free(st->class_names[k]);
	free(st->class_names);
	st->mean = st->stds = NULL;
	st->class_names = NULL;
	st->n_classes = 0;
}
