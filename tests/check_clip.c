/*
 * check_clip.c - gradient clipping by global norm (nncc_train_batch_clip,
 * runtime/train.c) on generated trainers, held to the reference's ref_clip
 * (tests/reference/): for a few networks in float32 and float64, with a
 * batch inside one tile (so clipping replaces the fused step()) and a full
 * batch over several tiles, six clipped updates through the runtime's
 * stream on both sides, comparing the gradient norm, the loss and the
 * weights after each update; then a clipping that is never reached gives
 * the bits of an update without clipping.  The cases, loading and
 * comparison are check_reference's (refutil.h).
 * Vocabulary: B = batch, N = samples, M = the reference's magnitude of an
 * element, n = the batch-mean gradient's norm, c = the clipping factor.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nncc.h"       /* runtime ABI: first on the include path */
#include "refutil.h"
#include "testutil.h"

/* Tolerances: TOL relative to max(M_k, FLOOR), as in check_reference. */
#define TOL_F64 1e-10
#define TOL_F32 1e-4

#define STEPS 6

/* The networks: no relu, so that no unit sits on its kink. */
static void nets_make(uint64_t seed)
{
	static const struct {
		const char *id, *batch;
		size_t inputs, n_dense, units[3];
		Activation act[3];
	} def[] = {
		{"c0", "3", 13, 2, {7, 5}, {ACT_TANH, ACT_LINEAR}},
		{"c1", "full", 33, 3, {17, 13, 10}, {ACT_SIGMOID, ACT_TANH, ACT_LINEAR}},
		{"c2", "20", 100, 2, {33, 7}, {ACT_SIGMOID, ACT_LINEAR}},
	};
	nncc_rng_t r;
	nncc_rng_seed(&r, seed);
	for (size_t i = 0; i < sizeof def / sizeof def[0]; i++) {
		Net *n = &G.nets[G.n_nets++];
		snprintf(n->id, sizeof n->id, "%s", def[i].id);
		snprintf(n->batch, sizeof n->batch, "%s", def[i].batch);
		n->seed = nncc_rng_next(&r);
		n->lr = LR;
		n->inputs = def[i].inputs;
		n->n_dense = def[i].n_dense;
		int len = snprintf(n->desc, sizeof n->desc, "%zu", n->inputs);
		for (size_t l = 0; l < n->n_dense; l++) {
			n->units[l] = def[i].units[l];
			n->act[l] = def[i].act[l];
			len += snprintf(n->desc + len, sizeof n->desc - (size_t)len, " -> %zu %s",
			                n->units[l], activation_table[n->act[l]].name);
		}
		snprintf(n->desc + len, sizeof n->desc - (size_t)len, " -> softmax, batch_size %s",
		         def[i].batch);
	}
}

/* The B samples the stream hands out next (from sample `pos`, wrapping),
 * copied for the reference. */
static void batch_of(const Samples *d, size_t n_inputs, size_t pos, size_t B, double *x,
                     int32_t *y)
{
	for (size_t b = 0; b < B; b++) {
		size_t k = (pos + b) % d->N;
		memcpy(x + b * n_inputs, d->x + k * n_inputs, n_inputs * sizeof *x);
		y[b] = d->y[k];
	}
}

/* The batch-mean gradient's norm in the reference, and S = sum_k |g_k| M_k:
 * the norm of gradients each off by about u M_k is off by about u S / n. */
static double ref_norm(const RefNet *ref, double *S)
{
	double ss = 0, s = 0;
	for (size_t p = 0; p < ref->n_params; p++) {
		ss += ref->grads[p] * ref->grads[p];
		s += fabs(ref->grads[p]) * ref->mgrads[p];
	}
	*S = s;
	return sqrt(ss);
}

START_TEST(test_clip)
{
	const Case *c = &G.cases[_i];
	Loaded L;
	char err[512];
	nncc_err_t nerr;
	nncc_rng_t r;
	double hp[NNCC_MAX_HPARAMS];

	case_load(&L, c);
	const nncc_model_t *gm = L.gm;
	if (gm->set_threads)
		gm->set_threads(1 + _i % 2);
	nncc_rng_seed(&r, c->net->seed);
	size_t N = gm->max_batch < 64 ? 2 * gm->max_batch + 3 : gm->max_batch + 3;
	N = N < 23 ? 23 : N;
	Samples d;
	matrix_data(&d, gm, N, &r);
	RefNet *ref = ref_new(L.model, N, err, sizeof err);
	ck_assert_msg(ref != NULL, "%s: reference: %s", c->id, err);
	size_t B = strcmp(c->net->batch, "full") ? (size_t)strtoul(c->net->batch, NULL, 10) : N;
	double *x = malloc(B * gm->n_inputs * sizeof *x);
	int32_t *y = malloc(B * sizeof *y);
	double *add = malloc(gm->n_params * sizeof *add);
	ck_assert(x && y && add);
	matrix_weights(gm, ref, &d, &r);
	nncc_stream_t s;
	ck_assert_int_eq(nncc_stream_init(&s, gm, d.gx, d.y, N, 0, 0, &nerr), 0);

	/* max_norm: 0.6 of the first batch's norm, so that it clips at first */
	double S, max_norm;
	batch_of(&d, gm->n_inputs, 0, B, x, y);
	reference_pass(ref, B, x, y);
	max_norm = 0.6 * ref_norm(ref, &S);
	size_t clipped = 0;
	Where w = {c, gm, c->f64 ? TOL_F64 : TOL_F32, B, 0, ALL_TILES, "clipped", LR};
	for (w.step = 0; w.step < STEPS; w.step++) {
		batch_of(&d, gm->n_inputs, s.pos, B, x, y);
		double ref_sum = reference_pass(ref, B, x, y);
		double n = ref_norm(ref, &S), got_n;
		for (size_t p = 0; p < gm->n_params; p++)   /* |d(c g_p)| <= c (M_p + |g_p| S / n^2) */
			add[p] = ref->mgrads[p] + fabs(ref->grads[p]) * S / (n * n);
		ck_assert_double_eq(ref_clip(ref, max_norm), n);
		double coef = fmin(1.0, max_norm / (n + 1e-6));
		clipped += coef < 1;
		nncc_update_t u = gen_update(gm, ref, LR, B, hp);
		double loss = nncc_train_batch_clip(gm, &s, &u, max_norm, &got_n);
		ref_update(ref, LR);
		for (size_t p = 0; p < gm->n_params; p++)
			d.mparams[p] += LR * coef * add[p];
		check_scalar(&w, "gradient norm (batch mean)", got_n, n, S / n);
		check_scalar(&w, "loss (sum over the batch)", loss, ref_sum, ref->mloss * (double)B);
		compare_params(&w, ref, &d, "params after a clipped update");
	}
	ck_assert_msg(clipped >= 1, "%s: no update was clipped", c->id);

	/* A clipping never reached: the bits of the same update unclipped. */
	size_t pbytes = gm->n_params * rsize(gm), sbytes = gm->n_state * pbytes;
	unsigned char *p0 = malloc(pbytes + 1), *s0 = malloc(sbytes + 1), *p1 = malloc(pbytes + 1);
	ck_assert(p0 && s0 && p1);
	memcpy(p0, gm->params, pbytes);
	if (sbytes)
		memcpy(s0, gm->state, sbytes);
	size_t pos = s.pos;
	uint64_t epoch = s.epoch;
	nncc_update_t u = gen_update(gm, ref, LR, B, hp);
	nncc_train_batch_clip(gm, &s, &u, 1e300, NULL);
	memcpy(p1, gm->params, pbytes);
	memcpy(gm->params, p0, pbytes);
	if (sbytes)
		memcpy(gm->state, s0, sbytes);
	s.pos = pos;
	s.epoch = epoch;
	nncc_train_batch(gm, &s, &u);
	ck_assert_msg(memcmp(p1, gm->params, pbytes) == 0,
	              "%s: clipping never reached changed the bits of the update", c->id);

	free(p0);
	free(s0);
	free(p1);
	free(x);
	free(y);
	free(add);
	nncc_stream_fini(&s);
	ref_free(ref);
	data_free(&d);
	case_unload(&L);
}
END_TEST

int main(void)
{
	matrix_setup("check_clip");
	nets_make(G.seed);
	return matrix_run("clip", test_clip, 0);
}
