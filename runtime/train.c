/*
 * train.c - the training loop's inner parts and evaluation, as an API: the
 * stream of training tiles (file order or shuffled per pass), one optimizer
 * step on a batch (fused when it fits a tile, accumulated over tiles when
 * it does not, or clipped by its global norm first), the stream's position
 * as a checkpoint and back, and the evaluation of a data set.  The driver, the
 * benchmarks and the tests all train through these, so there is one batch
 * loop.  Gradients are the generated code's business.
 * Vocabulary: N = samples, B = batch, tile = at most max_batch samples
 * handed to one entry point, K = classes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ckd.h"
#include "nncc.h"

/* Bytes of one sample's label or targets. */
static size_t y_bytes(const nncc_model_t *m)
{
	return m->n_targets ? m->n_targets * (m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float))
	                    : sizeof(int32_t);
}

int nncc_stream_init(nncc_stream_t *s, const nncc_model_t *m, const void *x, const void *y,
                     size_t n, int shuffle, uint64_t seed, nncc_err_t *err)
{
	size_t rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float), tile, labels, perm;
	memset(s, 0, sizeof *s);
	s->y_bytes = y_bytes(m);
	if (!ckd_mul_size(&s->row_bytes, m->n_inputs, rsize) ||
	    !ckd_mul_size(&tile, m->max_batch, s->row_bytes) ||
	    !ckd_mul_size(&labels, m->max_batch, s->y_bytes) ||
	    !ckd_mul_size(&perm, n, sizeof *s->perm)) {
		nncc_err_set(err, "the training stream of %zu samples overflows size_t", n);
		return -1;
	}
	s->x = x;
	s->y = y;
	s->n = n;
	s->max_batch = m->max_batch;
	s->tile_x = malloc(tile);
	s->tile_y = malloc(labels);
	if (shuffle && n > 0) {
		s->perm = malloc(perm);
		if (s->perm) {
			for (size_t i = 0; i < n; i++)
				s->perm[i] = i;
			nncc_rng_seed(&s->rng, seed);
			nncc_rng_shuffle(&s->rng, s->perm, n);
		}
	}
	if (!s->tile_x || !s->tile_y || (shuffle && n > 0 && !s->perm)) {
		nncc_stream_fini(s);
		nncc_err_set(err, "out of memory for the training stream (%zu samples)", n);
		return -1;
	}
	return 0;
}

void nncc_stream_fini(nncc_stream_t *s)
{
	free(s->perm);
	free(s->tile_x);
	free(s->tile_y);
	memset(s, 0, sizeof *s);
}

/* One sample further: the next pass (in a fresh order) after the last. */
static void stream_advance(nncc_stream_t *s)
{
	if (++s->pos == s->n) {
		s->pos = 0;
		s->epoch++;
		if (s->perm)
			nncc_rng_shuffle(&s->rng, s->perm, s->n);
	}
}

const void *nncc_stream_next(nncc_stream_t *s, size_t k, const void **y)
{
	if (!s->perm && s->pos + k <= s->n) {
		const void *x = s->x + s->pos * s->row_bytes;
		*y = s->y + s->pos * s->y_bytes;
		s->pos += k;
		if (s->pos == s->n) {
			s->pos = 0;
			s->epoch++;
		}
		return x;
	}
	for (size_t i = 0; i < k; i++) {
		size_t j = s->perm ? s->perm[s->pos] : s->pos;
		memcpy((char *)s->tile_x + i * s->row_bytes, s->x + j * s->row_bytes, s->row_bytes);
		memcpy((char *)s->tile_y + i * s->y_bytes, s->y + j * s->y_bytes, s->y_bytes);
		stream_advance(s);
	}
	*y = s->tile_y;
	return s->tile_x;
}

void nncc_stream_skip(nncc_stream_t *s, size_t k)
{
	for (size_t i = 0; i < k; i++)
		stream_advance(s);
}

int nncc_stream_tell(const nncc_stream_t *s, nncc_checkpoint_t *ck, nncc_err_t *err)
{
	ck->has_position = 1;
	ck->epoch = s->epoch;
	ck->sample = s->pos;
	memcpy(ck->rng, s->rng.s, sizeof ck->rng);
	ck->n_perm = 0;
	ck->perm = NULL;
	if (!s->perm)
		return 0;
	if (s->n > UINT32_MAX) {
		nncc_err_set(err, "the training position of %zu samples does not fit u32 indices", s->n);
		return -1;
	}
	ck->perm = malloc(s->n * sizeof *ck->perm);   /* less than s->perm's n * sizeof(size_t) */
	if (!ck->perm) {
		nncc_err_set(err, "out of memory for the training position (%zu samples)", s->n);
		return -1;
	}
	for (size_t i = 0; i < s->n; i++)
		ck->perm[i] = (uint32_t)s->perm[i];
	ck->n_perm = s->n;
	return 0;
}

int nncc_stream_seek(nncc_stream_t *s, const nncc_checkpoint_t *ck, nncc_err_t *err)
{
	if (!ck->has_position) {
		nncc_err_set(err, "it has no training position (POSITION section)");
		return -1;
	}
	if (!s->perm != !ck->n_perm) {
		nncc_err_set(err, "its position is %s, this run %s", ck->n_perm ? "shuffled" : "in file order",
		             s->perm ? "shuffles" : "takes the samples in file order");
		return -1;
	}
	if (ck->n_perm && ck->n_perm != s->n) {
		nncc_err_set(err, "its shuffled position orders %zu samples, the training set has %zu",
		             ck->n_perm, s->n);
		return -1;
	}
	if (ck->sample >= s->n) {
		nncc_err_set(err, "its position (sample %llu) is past the %zu samples of the training set",
		             (unsigned long long)ck->sample, s->n);
		return -1;
	}
	for (size_t i = 0; i < ck->n_perm; i++)
		s->perm[i] = ck->perm[i];
	s->pos = (size_t)ck->sample;
	s->epoch = ck->epoch;
	memcpy(s->rng.s, ck->rng, sizeof s->rng.s);
	return 0;
}

/* The dropout masks of the calls that follow (a model may have no
 * mask_key: it has no dropout). */
static void set_mask(const nncc_model_t *m, uint64_t seed, uint64_t step, size_t first)
{
	if (m->mask_key)
		m->mask_key(seed, step, first);
}

double nncc_batch_gradient(const nncc_model_t *m, nncc_stream_t *s, const nncc_update_t *u,
                           size_t first, size_t n)
{
	const void *y;
	const void *x;
	double sum = 0;

	for (size_t done = 0; done < n;) {
		size_t k = n - done < m->max_batch ? n - done : m->max_batch;
		x = nncc_stream_next(s, k, &y);
		set_mask(m, u->seed, u->step, first + done);
		m->forward(k, x);
		sum += m->loss(k, y);
		m->backward(k, x, y, done > 0);
		done += k;
	}
	set_mask(m, 0, 0, 0);
	return sum;
}

double nncc_train_batch(const nncc_model_t *m, nncc_stream_t *s, const nncc_update_t *u)
{
	const void *y;
	const void *x;
	double sum;

	if (u->batch <= m->max_batch) {
		x = nncc_stream_next(s, u->batch, &y);
		return m->step(u->batch, x, y, u);
	}
	sum = nncc_batch_gradient(m, s, u, 0, u->batch);
	m->update(u);
	return sum;
}

/* Eight partial sums, s_j = sum of g_k^2 over k = j mod 8, added pairwise
 * at the end: a fixed order (so the same bits whatever the threads or
 * tiles), and independent chains that gcc -O2 vectorises (one chain of n
 * dependent additions took about 16 us for W3's 39760 parameters, these
 * about 10: the float to double conversions bound it). */
#define NORM_SUMS(T)                                                              \
	do {                                                                          \
		const T *g = m->grads;                                                    \
		for (; k + 8 <= n; k += 8) {                                              \
			s0 += (double)g[k] * g[k], s1 += (double)g[k + 1] * g[k + 1];         \
			s2 += (double)g[k + 2] * g[k + 2], s3 += (double)g[k + 3] * g[k + 3]; \
			s4 += (double)g[k + 4] * g[k + 4], s5 += (double)g[k + 5] * g[k + 5]; \
			s6 += (double)g[k + 6] * g[k + 6], s7 += (double)g[k + 7] * g[k + 7]; \
		}                                                                         \
		for (; k < n; k++)                                                        \
			tail[k % 8] = (double)g[k] * g[k];                                    \
	} while (0)

double nncc_grad_norm(const nncc_model_t *m)
{
	double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0, tail[8] = {0};
	size_t n = m->n_params, k = 0;
	if (m->dtype == NNCC_F64)
		NORM_SUMS(double);
	else
		NORM_SUMS(float);
	s0 += tail[0], s1 += tail[1], s2 += tail[2], s3 += tail[3];
	s4 += tail[4], s5 += tail[5], s6 += tail[6], s7 += tail[7];
	return sqrt(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)));
}

/* g[k] *= c, eight at a time (so that gcc -O2 vectorizes it), then the
 * rest. */
#define SCALE(T, c)                                                        \
	do {                                                                   \
		T *g = m->grads, f = (T)(c);                                       \
		for (; k + 8 <= n; k += 8) {                                       \
			g[k] *= f, g[k + 1] *= f, g[k + 2] *= f, g[k + 3] *= f;        \
			g[k + 4] *= f, g[k + 5] *= f, g[k + 6] *= f, g[k + 7] *= f;    \
		}                                                                  \
		for (; k < n; k++)                                                 \
			g[k] *= f;                                                     \
	} while (0)

/* In the dtype, as torch's grad.mul_(clip_coef) on a float32 tensor. */
void nncc_grads_scale(const nncc_model_t *m, double c)
{
	size_t n = m->n_params, k = 0;
	if (m->dtype == NNCC_F64)
		SCALE(double, c);
	else
		SCALE(float, c);
}

/* PyTorch 1.13's clip_grad_norm_(max_norm, norm_type=2) computes the norm
 * per tensor in the parameters' dtype and multiplies by the coefficient
 * clamped to 1; here the norm is one sum in double (the same up to
 * rounding), the coefficient is rounded to the dtype as torch's is, and a
 * coefficient >= 1, a no-op there, is skipped. */
double nncc_train_batch_clip(const nncc_model_t *m, nncc_stream_t *s, const nncc_update_t *u,
                             double max_norm, double *norm)
{
	double sum;

	if (!(max_norm > 0)) {
		if (norm)
			*norm = NAN;
		return nncc_train_batch(m, s, u);
	}
	sum = nncc_batch_gradient(m, s, u, 0, u->batch);
	nncc_clip_update(m, u, max_norm, norm);
	return sum;
}

void nncc_clip_update(const nncc_model_t *m, const nncc_update_t *u, double max_norm,
                      double *norm)
{
	double n = NAN, c;

	if (max_norm > 0) {
		n = nncc_grad_norm(m) / (double)u->batch;   /* the norm of the batch mean */
		c = max_norm / (n + 1e-6);
		if (c < 1)
			nncc_grads_scale(m, c);
	}
	if (norm)
		*norm = n;
	m->update(u);
}

size_t nncc_predict(const nncc_model_t *m, size_t b)
{
	const void *out = m->tensor(NNCC_T_ACT, m->n_layers - 1);
	size_t K = m->n_outputs, best = 0;
	for (size_t i = 1; i < K; i++) {
		double vi, vb;
		if (m->dtype == NNCC_F64) {
			vi = ((const double *)out)[b * K + i];
			vb = ((const double *)out)[b * K + best];
		} else {
			vi = ((const float *)out)[b * K + i];
			vb = ((const float *)out)[b * K + best];
		}
		if (vi > vb)
			best = i;
	}
	return best;
}

/* Regression: the errors of the tile just forwarded, added to ev's sums
 * in sample order, output by output. */
static void add_errors(const nncc_model_t *m, const void *t, size_t k, nncc_eval_t *ev)
{
	const void *out = m->tensor(NNCC_T_ACT, m->n_layers - 1);
	size_t K = m->n_outputs;
	for (size_t j = 0; j < k * K; j++) {
		double e = m->dtype == NNCC_F64
		                   ? ((const double *)out)[j] - ((const double *)t)[j]
		                   : (double)((const float *)out)[j] - (double)((const float *)t)[j];
		double sq = e * e;   /* own statement: never fused into an FMA */
		ev->sse += sq;
		ev->sae += fabs(e);
	}
}

double nncc_evaluate_tiles(const nncc_model_t *m, const void *x, const void *y, size_t n,
                           size_t t0, size_t t1, double *tile_loss, nncc_eval_t *ev)
{
	size_t K = m->n_outputs, yb = y_bytes(m);
	size_t row = m->n_inputs * (m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float));
	double sum = 0;

	set_mask(m, 0, 0, 0);   /* evaluation: dropout is the identity */
	for (size_t t = t0; t < t1; t++) {
		size_t at = t * m->max_batch, k = n - at < m->max_batch ? n - at : m->max_batch;
		const void *yk = (const char *)y + at * yb;
		m->forward(k, (const char *)x + at * row);
		double loss = m->loss(k, yk);
		if (tile_loss)
			tile_loss[t - t0] = loss;
		sum += loss;
		if (m->n_targets) {
			add_errors(m, yk, k, ev);
			continue;
		}
		for (size_t b = 0; b < k; b++) {
			size_t best = nncc_predict(m, b), truth = (size_t)((const int32_t *)yk)[b];
			ev->correct += best == truth;
			if (ev->confusion)
				ev->confusion[truth * K + best]++;
		}
	}
	return sum;
}

void nncc_evaluate(const nncc_model_t *m, const void *x, const void *y, size_t n,
                   nncc_eval_t *ev)
{
	size_t K = m->n_outputs, tiles = n / m->max_batch + (n % m->max_batch != 0);
	double sum;

	ev->n = n;
	ev->correct = 0;
	ev->sse = ev->sae = 0;
	if (ev->confusion && !m->n_targets)
		memset(ev->confusion, 0, K * K * sizeof *ev->confusion);
	sum = nncc_evaluate_tiles(m, x, y, n, 0, tiles, NULL, ev);
	ev->loss = n ? sum / (double)n : 0;
}

double nncc_eval_rmse(const nncc_model_t *m, const nncc_eval_t *ev)
{
	return ev->n ? sqrt(ev->sse / ((double)ev->n * (double)m->n_outputs)) : NAN;
}

double nncc_eval_mae(const nncc_model_t *m, const nncc_eval_t *ev)
{
	return ev->n ? ev->sae / ((double)ev->n * (double)m->n_outputs) : NAN;
}
