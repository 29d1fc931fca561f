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

#include "driver.h"

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
 * / n.  The sums run over the training set's chunks in file order (one
 * chunk: the whole set), each chain going on from one chunk to the next,
 * so a streamed fit gives the same bits; the sum of all the squares is
 * kept in st->std until pass 1 ends. */
int nncc_norm_fit_begin(nncc_norm_stats_t *st, int kind, size_t dim, nncc_err_t *err)
{
	memset(st, 0, sizeof *st);
	st->kind = kind;
	st->dim = dim;
	st->std = 1;
	switch (kind) {
	case NNCC_NORM_NONE:
	case NNCC_NORM_SCALE:
		return 0;
	case NNCC_NORM_STANDARDIZE:
	case NNCC_NORM_STANDARDIZE_FEATURES:
		st->mean = calloc(dim ? dim : 1, sizeof *st->mean);
		if (kind == NNCC_NORM_STANDARDIZE_FEATURES)   /* the sums of squares first */
			st->stds = calloc(dim ? dim : 1, sizeof *st->stds);
		if (!st->mean || (kind == NNCC_NORM_STANDARDIZE_FEATURES && !st->stds)) {
			nncc_norm_fini(st);
			nncc_err_set(err, "normalisation: out of memory for %zu means", dim);
			return -1;
		}
		return 0;
	}
	nncc_err_set(err, "normalisation: unknown kind %d (expected 0 none, 1 scale, 2 standardize, "
	             "3 standardize_features)", kind);
	return -1;
}

int nncc_norm_fit_passes(int kind)
{
	return kind == NNCC_NORM_STANDARDIZE || kind == NNCC_NORM_STANDARDIZE_FEATURES ? 2 : 0;
}

void nncc_norm_fit_add(nncc_norm_stats_t *st, int pass, const nncc_dataset_t *chunk)
{
	size_t n = chunk->n, dim = st->dim;
	int each = st->kind == NNCC_NORM_STANDARDIZE_FEATURES;

	if (pass == 0) {
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < dim; j++)
				st->mean[j] += input(chunk, i, j);
		return;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < dim; j++) {
			double d = input(chunk, i, j) - st->mean[j];
			double sq = d * d; /* own statement: never fused into an FMA */
			if (each)
				st->stds[j] += sq;
			else
				st->std += sq;
		}
}

int nncc_norm_fit_end_pass(nncc_norm_stats_t *st, int pass, size_t n, nncc_err_t *err)
{
	size_t dim = st->dim;
	if (n == 0 || dim == 0) {
		nncc_norm_fini(st);
		nncc_err_set(err, "normalisation: cannot standardize an empty training set");
		return -1;
	}
	if (pass == 0) {
		for (size_t j = 0; j < dim; j++)
			st->mean[j] /= (double)n;
		st->std = 0;   /* the sum of the squares, from here to pass 1's end */
		return 0;
	}
	if (st->kind == NNCC_NORM_STANDARDIZE_FEATURES) {
		for (size_t j = 0; j < dim; j++) {
			st->stds[j] = sqrt(st->stds[j] / (double)n);
			if (!(st->stds[j] > 0))
				st->stds[j] = 1; /* a constant feature: centring alone */
		}
		st->std = 1;
		return 0;
	}
	st->std = sqrt(st->std / ((double)n * (double)dim));
	if (st->std == 0)
		st->std = 1; /* constant inputs: centring alone, no division by 0 */
	return 0;
}

int nncc_norm_fit(nncc_norm_stats_t *st, int kind, const nncc_dataset_t *train,
                  nncc_err_t *err)
{
	if (nncc_norm_fit_begin(st, kind, train->dim, err))
		return -1;
	for (int pass = 0; pass < nncc_norm_fit_passes(kind); pass++) {
		if (train->n)
			nncc_norm_fit_add(st, pass, train);
		if (nncc_norm_fit_end_pass(st, pass, train->n, err))
			return -1;
	}
	return 0;
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

/* p / div in float32 as q0 = p r (r = 1 / div rounded), then corrected by
 * the exact residual: q0 + (p - q0 div) r, two FMAs (the last step of a
 * Markstein division).  Whether it is the correctly rounded p / div for
 * every byte p is checked once, on the table (nncc_norm_lut); libm's fmaf
 * and the FMA instruction round alike. */
static float div_fma(float p, float r, float div)
{
	float q0 = p * r;
	return fmaf(fmaf(-q0, div, p), r, q0);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define NORM_FMA_PATH 1
/* The same on AVX2 + FMA vectors; the inner loops of 64 are what gcc -O2
 * vectorises (its cheap cost model wants a trip count the vector
 * divides). */
__attribute__((target("avx2,fma"))) static void apply_fma(float *restrict out,
                                                          const uint8_t *restrict pixels,
                                                          size_t count, float r, float div)
{
	size_t k = 0;
	for (; k + 64 <= count; k += 64)
		for (size_t j = 0; j < 64; j++) {
			float p = pixels[k + j], q0 = p * r;
			out[k + j] = __builtin_fmaf(__builtin_fmaf(-q0, div, p), r, q0);
		}
	for (; k < count; k++) {
		float p = pixels[k], q0 = p * r;
		out[k] = __builtin_fmaf(__builtin_fmaf(-q0, div, p), r, q0);
	}
}
#endif

/* Without standardisation a pixel's input depends on its value alone: a
 * table of the 256 (norm_value's own, rounded once) makes the conversion a
 * lookup, the same bits without a division per pixel (a streamed training
 * set converts every tile of every pass: docs/scaling.md), and in float32
 * the FMA path is faster still where it gives the table's every entry. */
int nncc_norm_lut(nncc_norm_lut_t *t, const nncc_norm_stats_t *st, int dtype)
{
	if (st->kind != NNCC_NORM_NONE && st->kind != NNCC_NORM_SCALE)
		return -1;
	t->dtype = dtype;
	t->div = st->kind == NNCC_NORM_SCALE ? 255.0f : 1.0f;
	t->r = 1 / t->div;
	t->fma = 0;
#ifdef NORM_FMA_PATH
	t->fma = dtype == NNCC_F32 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
	for (int v = 0; v < 256; v++) {
		t->d[v] = norm_value(st, v, 0);
		t->f[v] = (float)t->d[v];
		if (div_fma((float)v, t->r, t->div) != t->f[v])
			t->fma = 0;
	}
	return 0;
}

void nncc_norm_apply_lut(const nncc_norm_lut_t *t, void *out, const uint8_t *pixels,
                         size_t count)
{
#ifdef NORM_FMA_PATH
	if (t->fma) {
		apply_fma(out, pixels, count, t->r, t->div);
		return;
	}
#endif
	if (t->dtype == NNCC_F32)
		for (size_t k = 0; k < count; k++)
			((float *)out)[k] = t->f[pixels[k]];
	else
		for (size_t k = 0; k < count; k++)
			((double *)out)[k] = t->d[pixels[k]];
}

void nncc_norm_apply(const nncc_norm_stats_t *st, int dtype, void *out,
                     const uint8_t *pixels, size_t n)
{
	nncc_norm_lut_t t;
	if (nncc_norm_lut(&t, st, dtype) == 0)
		nncc_norm_apply_lut(&t, out, pixels, n * st->dim);
	else
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
