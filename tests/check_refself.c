/*
 * check_refself.c - the reference backprop (tests/reference/) on its own,
 * before anything is held to it: a 1-1-2 network worked out by hand (the
 * values are in the test's comment), each activation against its closed
 * form and its derivative against a difference quotient, central
 * differences of its own loss for every parameter of small networks with
 * every activation, the magnitudes of ref_bounds, and the parameter
 * layouts ref_new refuses.  Pre-training's autoencoder step likewise: a
 * 2-1-2 autoencoder by hand (each loss, tied and not, sgd and momentum),
 * the noise masks against docs/trainer.md's formula, and central
 * differences of its reconstruction loss for every encoder and decoder
 * parameter.  No generated code.  AE = autoencoder, E/D = its
 * encoder/decoder.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "testutil.h"

/* Builds m: inputs -> dense units[k] (acts[k]) ... -> optional softmax, with
 * the parameters laid out layer after layer (W then b), as the compiler does. */
static void hand_model(Model *m, Layer *layers, size_t inputs, const size_t *units,
                       const Activation *acts, size_t n_dense, int softmax)
{
	size_t width = inputs, off = 0;

	memset(m, 0, sizeof *m);
	m->name = "hand";
	m->train.optimizer = optimizer_find("sgd");
	m->loss = loss_find("cross_entropy");
	m->inputs = inputs;
	m->layers = layers;
	for (size_t l = 0; l < n_dense; l++) {
		Layer *L = &layers[l];
		memset(L, 0, sizeof *L);
		L->kind = kind_find("dense");
		L->in = width;
		L->out = units[l];
		L->act = acts[l];
		L->n_tensors = L->kind->tensors(L, off);   /* W, then b */
		L->n_params = L->in * L->out + L->out;
		off += L->n_params;
		width = L->out;
	}
	if (softmax) {
		Layer *L = &layers[n_dense];
		memset(L, 0, sizeof *L);
		L->kind = kind_find("softmax");
		L->in = L->out = width;
	}
	m->n_layers = n_dense + (softmax ? 1 : 0);
	m->outputs = width;
	m->n_params = off;
}

/* Inserts a dropout layer of `rate` before layers[at] (at >= 1; layers has
 * room for one more). */
static void hand_dropout(Model *m, Layer *layers, size_t at, double rate)
{
	memmove(&layers[at + 1], &layers[at], (m->n_layers - at) * sizeof *layers);
	Layer *L = &layers[at];
	memset(L, 0, sizeof *L);
	L->kind = kind_find("dropout");
	L->in = L->out = layers[at - 1].out;
	L->rate = rate;
	m->n_layers++;
}

/* m's `pretrain`: one autoencoder per encoder enc[i] (a dense layer), its
 * decoder dense OUT -> IN sigmoid with W then b past the network's
 * parameters, as the compiler lays them out. */
static void hand_pretrain(Model *m, Layer *dec, size_t *enc, size_t n, int loss, double noise,
                          int tied)
{
	size_t off = m->n_params;
	m->pre.c.epochs = 1;
	m->pre.c.loss = loss;
	m->pre.c.noise = noise;
	m->pre.c.tied = tied;
	m->pre.n = n;
	m->pre.layer = enc;
	m->pre.decoder = dec;
	for (size_t i = 0; i < n; i++) {
		const Layer *E = &m->layers[enc[i]];
		Layer *D = &dec[i];
		memset(D, 0, sizeof *D);
		D->kind = kind_find("dense");
		D->in = E->out;
		D->out = E->in;
		D->act = ACT_SIGMOID;
		D->n_tensors = D->kind->tensors(D, off);   /* W (OUT, IN), then b (IN) */
		D->n_params = D->in * D->out + D->out;
		off += D->n_params;
	}
	m->pre.n_params = off - m->n_params;
}

static void expect_close(const char *what, double got, double want, double tol)
{
	double err = fabs(got - want) / fmax(fabs(want), 1e-6);
	ck_assert_msg(err <= tol, "%s: got %.17g, want %.17g (relative error %.3g > %.3g)",
	              what, got, want, err, tol);
}

/* x = 2 -> dense 1 sigmoid (w = 0.25, b = -0.5) -> dense 2 linear
 * (W = [1, -1], b = 0) -> softmax, label 1.  By hand:
 *   z1 = 0.25*2 - 0.5 = 0, a1 = 1/2, f'(z1) = 1/4
 *   z2 = [0.5, -0.5], p = [s, 1 - s] with s = sigmoid(1) = 0.7310585786300049
 *   L = -log(1 - s) = log(1 + e) = 1.3132616875182228
 *   delta2 = p - onehot(1) = [s, -s]
 *   delta1 = f'(z1) * (1*s + (-1)*(-s)) = s/2
 *   dW2 = a1 * delta2 = [s/2, -s/2], db2 = delta2, dW1 = x * delta1 = s, db1 = s/2
 * A batch of two copies of the sample has the same means. */
START_TEST(test_ref_hand)
{
	Model m;
	Layer layers[3];
	size_t units[] = {1, 2};
	Activation acts[] = {ACT_SIGMOID, ACT_LINEAR};
	char err[256];
	const double s = 0.7310585786300049;

	hand_model(&m, layers, 1, units, acts, 2, 1);
	ck_assert_uint_eq(m.n_params, 6);
	RefNet *r = ref_new(&m, 2, err, sizeof err);
	ck_assert_msg(r != NULL, "%s", err);
	const double init[6] = {0.25, -0.5, 1.0, -1.0, 0.0, 0.0};
	memcpy(r->params, init, sizeof init);
	const double x[2] = {2.0, 2.0};
	const int32_t y[2] = {1, 1};

	ref_forward(r, 2, x);
	expect_close("a1", r->layers[0].a[1], 0.5, 1e-15);
	expect_close("z2[0]", r->layers[1].z[2], 0.5, 1e-15);
	expect_close("p[0]", ref_output(r)[0], s, 1e-15);
	expect_close("p[1]", ref_output(r)[3], 1.0 - s, 1e-15);
	expect_close("loss", ref_loss(r, 2, y), 1.3132616875182228, 1e-15);
	ref_backward(r, 2, x, y);
	expect_close("delta2[0]", r->layers[1].delta[0], s, 1e-15);
	expect_close("delta2[1]", r->layers[1].delta[1], -s, 1e-15);
	expect_close("delta1", r->layers[0].delta[1], s / 2, 1e-15);
	const double want[6] = {s, s / 2, s / 2, -s / 2, s, -s};
	for (int p = 0; p < 6; p++) {
		char what[32];
		snprintf(what, sizeof what, "grads[%d]", p);
		expect_close(what, r->grads[p], want[p], 1e-15);
	}
	ref_update(r, 0.1);
	for (int p = 0; p < 6; p++) {
		char what[32];
		snprintf(what, sizeof what, "params[%d] after update", p);
		expect_close(what, r->params[p], init[p] - 0.1 * want[p], 1e-15);
	}
	ref_free(r);
}
END_TEST

/* The squared error, by hand: x = 2 -> dense 2 sigmoid (W = [0.25, -0.25],
 * b = [-0.5, 0.5]) under loss squared_error, label 0:
 *   z = [0, 0], a = [1/2, 1/2], f'(z) = 1/4
 *   L = 1/2 ((1/2 - 1)^2 + (1/2 - 0)^2) = 1/4
 *   dL/da = a - onehot(0) = [-1/2, 1/2], delta = [-1/8, 1/8]
 *   dW = x delta = [-1/4, 1/4], db = delta */
START_TEST(test_ref_squared_error)
{
	Model m;
	Layer layers[1];
	size_t units[] = {2};
	Activation acts[] = {ACT_SIGMOID};
	char err[256];

	hand_model(&m, layers, 1, units, acts, 1, 0);
	m.loss = loss_find("squared_error");
	RefNet *r = ref_new(&m, 1, err, sizeof err);
	ck_assert_msg(r != NULL, "%s", err);
	const double init[4] = {0.25, -0.25, -0.5, 0.5};
	memcpy(r->params, init, sizeof init);
	const double x[1] = {2.0};
	const int32_t y[1] = {0};

	ref_forward(r, 1, x);
	expect_close("loss", ref_loss(r, 1, y), 0.25, 1e-15);
	ref_backward(r, 1, x, y);
	const double want[4] = {-0.25, 0.25, -0.125, 0.125};
	for (int p = 0; p < 4; p++) {
		char what[32];
		snprintf(what, sizeof what, "grads[%d]", p);
		expect_close(what, r->grads[p], want[p], 1e-15);
	}
	ref_free(r);

	/* softmax folds cross-entropy in: the reference refuses it under
	 * squared error */
	Layer two[2];
	hand_model(&m, two, 1, units, acts, 1, 1);
	m.loss = loss_find("squared_error");
	ck_assert_ptr_null(ref_new(&m, 1, err, sizeof err));
	ck_assert_str_eq(err, "layer 1: softmax must be last with in == out, under cross_entropy");
}
END_TEST

/* Each activation by its closed form at a few points, and its derivative
 * against a central difference of the activation itself. */
START_TEST(test_ref_activations)
{
	const double zs[] = {-3.0, -0.5, 0.25, 2.0};
	for (size_t k = 0; k < sizeof zs / sizeof zs[0]; k++) {
		double z = zs[k];
		expect_close("linear", ref_act(ACT_LINEAR, z), z, 0);
		expect_close("sigmoid", ref_act(ACT_SIGMOID, z), exp(z) / (exp(z) + 1.0), 1e-15);
		expect_close("tanh", ref_act(ACT_TANH, z), (exp(2 * z) - 1) / (exp(2 * z) + 1), 1e-14);
		expect_close("relu", ref_act(ACT_RELU, z), z > 0 ? z : 0, 0);
		for (int a = 0; a < ACT_COUNT; a++) {
			double h = 1e-6;
			double fd = (ref_act((Activation)a, z + h) - ref_act((Activation)a, z - h)) / (2 * h);
			char what[64];
			snprintf(what, sizeof what, "f'(%g) of activation %d", z, a);
			expect_close(what, ref_act_deriv((Activation)a, z), fd, 1e-8);
		}
	}
	ck_assert(ref_act_deriv(ACT_RELU, 0.0) == 0.0);
}
END_TEST

/* Finite differences of the reference's own loss, for every parameter of
 * small networks with every activation (with and without a final softmax). */
START_TEST(test_ref_fd)
{
	static const size_t shapes[][4] = {{3, 0, 0, 0}, {4, 3, 0, 0}, {2, 5, 3, 0}, {3, 2, 4, 3}};
	static const size_t n_dense[] = {1, 2, 3, 4};
	int shape = _i / ACT_COUNT;
	Activation act = (Activation)(_i % ACT_COUNT);
	int softmax = shape != 0 || act != ACT_RELU;  /* one case without softmax */
	Model m;
	Layer layers[6];
	Activation acts[4];
	char err[256];
	size_t nd = n_dense[shape];

	for (size_t l = 0; l < nd; l++)
		acts[l] = (l + 1 == nd && softmax) ? ACT_LINEAR : act;
	if (nd == 1)
		acts[0] = act;   /* the output layer itself has the activation */
	if (!softmax)
		acts[nd - 1] = ACT_SIGMOID;   /* -log needs a positive output */
	hand_model(&m, layers, 5, shapes[shape], acts, nd, softmax);
	const size_t n = 4;
	RefNet *r = ref_new(&m, n, err, sizeof err);
	ck_assert_msg(r != NULL, "%s", err);
	double x[4 * 5];
	int32_t y[4];
	for (size_t i = 0; i < n * 5; i++)
		x[i] = sin((double)i * 0.7 + 0.3);
	for (size_t b = 0; b < n; b++)
		y[b] = (int32_t)((b * 7 + 1) % m.outputs);
	for (size_t p = 0; p < m.n_params; p++)
		r->params[p] = sin((double)p * 1.7) * 0.5;
	ref_forward(r, n, x);
	ref_backward(r, n, x, y);
	double gmax = 0;
	for (size_t p = 0; p < m.n_params; p++) {
		const double h = 1e-5, g = r->grads[p], keep = r->params[p];
		r->params[p] = keep + h;
		ref_forward(r, n, x);
		double lp = ref_loss(r, n, y);
		r->params[p] = keep - h;
		ref_forward(r, n, x);
		double lm = ref_loss(r, n, y);
		r->params[p] = keep;
		double fd = (lp - lm) / (2 * h);
		double e = fabs(fd - g) / fmax(fabs(g), 1e-3);
		ck_assert_msg(e <= 1e-6, "act %d shape %d param %zu: backprop %.12g, finite difference "
		              "%.12g (error %.3g)", (int)act, shape, p, g, fd, e);
		gmax = fmax(gmax, fabs(g));
	}
	ck_assert_msg(gmax > 1e-3, "act %d shape %d: gradient is all (near) zero", (int)act, shape);
	ref_free(r);
}
END_TEST

/* Layouts the reference refuses: overlapping or out-of-range parameters,
 * the decoders' too. */
START_TEST(test_ref_rejects)
{
	Model m;
	Layer layers[3];
	size_t units[] = {2, 2};
	Activation acts[] = {ACT_TANH, ACT_LINEAR};
	char err[256];

	hand_model(&m, layers, 3, units, acts, 2, 1);
	layers[1].tensors[0].offset = 2;   /* inside layer 0's weights */
	ck_assert(ref_new(&m, 1, err, sizeof err) == NULL);
	ck_assert_msg(strstr(err, "used twice") != NULL, "%s", err);
	hand_model(&m, layers, 3, units, acts, 2, 1);
	m.n_params -= 1;
	ck_assert(ref_new(&m, 1, err, sizeof err) == NULL);
	ck_assert_msg(strstr(err, "outside") != NULL, "%s", err);
	hand_model(&m, layers, 3, units, acts, 2, 1);
	layers[1].in = 3;
	ck_assert(ref_new(&m, 1, err, sizeof err) == NULL);
	ck_assert_msg(strstr(err, "previous width") != NULL, "%s", err);

	/* pre-training: a decoder inside the network's parameters, two
	 * decoders sharing one, a decoder that is not a sigmoid */
	Layer dec[2];
	size_t enc[] = {0, 1};
	hand_model(&m, layers, 3, units, acts, 2, 1);
	hand_pretrain(&m, dec, enc, 2, NNCC_RECON_SQUARED_ERROR, 0, 0);
	RefNet *r = ref_new(&m, 1, err, sizeof err);
	ck_assert_msg(r != NULL, "%s", err);
	ref_free(r);
	dec[0].tensors[1].offset = 0;
	ck_assert(ref_new(&m, 1, err, sizeof err) == NULL);
	ck_assert_msg(strstr(err, "outside the decoders'") != NULL, "%s", err);
	hand_pretrain(&m, dec, enc, 2, NNCC_RECON_SQUARED_ERROR, 0, 0);
	dec[1].tensors[0].offset = dec[0].tensors[1].offset;
	ck_assert(ref_new(&m, 1, err, sizeof err) == NULL);
	ck_assert_msg(strstr(err, "used twice") != NULL, "%s", err);
	hand_pretrain(&m, dec, enc, 2, NNCC_RECON_SQUARED_ERROR, 0, 0);
	dec[1].act = ACT_TANH;
	ck_assert(ref_new(&m, 1, err, sizeof err) == NULL);
	ck_assert_msg(strstr(err, "pretrain 1: not a dense encoder") != NULL, "%s", err);
}
END_TEST

/* ref_bounds: every magnitude is at least |value|, and where nothing can
 * cancel (positive inputs, weights and biases, linear layers) it is |value|. */
START_TEST(test_ref_bounds)
{
	Model m;
	Layer layers[4];
	size_t units[] = {3, 4, 2};
	Activation acts[] = {ACT_LINEAR, ACT_LINEAR, ACT_LINEAR};
	char err[256];
	const double x[2 * 5] = {0.1, 0.2, 0.3, 0.4, 0.5, 1.0, 0.9, 0.8, 0.7, 0.6};
	const int32_t y[2] = {0, 1};

	for (int mixed = 0; mixed < 2; mixed++) {
		if (mixed) {
			acts[0] = ACT_TANH;
			acts[1] = ACT_RELU;
			acts[2] = ACT_SIGMOID;
		}
		hand_model(&m, layers, 5, units, acts, 3, 1);
		RefNet *r = ref_new(&m, 2, err, sizeof err);
		ck_assert_msg(r != NULL, "%s", err);
		for (size_t p = 0; p < m.n_params; p++)
			r->params[p] = mixed ? sin((double)p * 1.7) * 0.5 : 0.05 + 0.01 * (double)(p % 7);
		ref_forward(r, 2, x);
		ref_backward(r, 2, x, y);
		ref_bounds(r, 2, x, y);
		for (size_t l = 0; l < 3; l++) {
			const RefLayer *L = &r->layers[l];
			for (size_t q = 0; q < 2 * L->out; q++) {
				ck_assert(L->mz[q] >= fabs(L->z[q]));
				ck_assert(L->ma[q] >= fabs(L->a[q]));
				ck_assert(L->mdelta[q] >= fabs(L->delta[q]));
				if (!mixed)
					expect_close("M_z of a sum of positive terms", L->mz[q], L->z[q], 1e-15);
			}
		}
		for (size_t p = 0; p < m.n_params; p++)
			ck_assert(r->mgrads[p] >= fabs(r->grads[p]));
		ck_assert(r->mloss >= ref_loss(r, 2, y));
		ref_free(r);
	}
}
END_TEST

/* The autoencoder by hand: x = [1, 0] -> E dense 1 linear (W_E = [2, -2]^T,
 * b_E = -1.5) -> D dense 2 sigmoid (W_D = [2, -2] = W_E^T, so tied or not
 * the forward pass is the same; b_D = [-1, 1]), no noise:
 *   z_E = 2*1 - 2*0 - 1.5 = 0.5 = h;  z_D = [2*0.5 - 1, -2*0.5 + 1] = [0, 0],
 *   r = [1/2, 1/2], sigmoid'(z_D) = 1/4
 * squared_error: L = 1/2 ((1/2 - 1)^2 + (1/2)^2) = 1/4,
 *   dz_D = (r - x) r (1 - r) = [-1/8, 1/8], dz_E = 2 (-1/8) - 2 (1/8) = -1/2
 * cross_entropy: L = -ln(1/2) - ln(1 - 1/2) = 2 ln 2,
 *   dz_D = r - x = [-1/2, 1/2], dz_E = 2 (-1/2) - 2 (1/2) = -2
 * gradients: dW_E = x dz_E = [dz_E, 0], db_E = dz_E, dW_D = h dz_D,
 *   db_D = dz_D; tied: dW_E[j] += dW_D[0][j]; the rest of grads untouched (0).
 * Network: 2 -> dense 1 linear -> dense 2 linear -> softmax (not used:
 * only layer 0 is pre-trained).  A batch of two copies has the same means
 * and twice the loss sum.  sgd: p -= lr g; momentum (mu 0.9), two steps:
 * v1 = g1, v2 = mu g1 + g2, p2 = p1 - lr v2. */
START_TEST(test_ref_pretrain_hand)
{
	int loss = _i / 4 ? NNCC_RECON_CROSS_ENTROPY : NNCC_RECON_SQUARED_ERROR;
	int tied = _i / 2 % 2, momentum = _i % 2;
	Model m;
	Layer layers[3], dec[1];
	size_t units[] = {1, 2}, enc[] = {0};
	Activation acts[] = {ACT_LINEAR, ACT_LINEAR};
	char err[256];
	const double lr = 0.1, mu = momentum ? 0.9 : 0.0;

	hand_model(&m, layers, 2, units, acts, 2, 1);
	hand_pretrain(&m, dec, enc, 1, loss, 0.0, tied);
	ck_assert_uint_eq(m.n_params, 7);
	ck_assert_uint_eq(m.pre.n_params, 4);
	RefNet *r = ref_new(&m, 2, err, sizeof err);
	ck_assert_msg(r != NULL, "%s", err);
	/* W_E[0], W_E[1], b_E; the output layer's 4; W_D[0][0], W_D[0][1], b_D */
	const double init[11] = {2, -2, -1.5, 0, 0, 0, 0, 2, -2, -1, 1};
	memcpy(r->params, init, sizeof init);
	const double x[4] = {1, 0, 1, 0};

	double dzd = loss == NNCC_RECON_SQUARED_ERROR ? 0.125 : 0.5;   /* dz_D = [-dzd, dzd] */
	double dze = loss == NNCC_RECON_SQUARED_ERROR ? -0.5 : -2.0;
	double want_loss = loss == NNCC_RECON_SQUARED_ERROR ? 0.25 : 2 * log(2.0);
	double want[11] = {0};
	want[0] = dze + (tied ? -0.5 * dzd : 0);   /* dW_E[0] (+ dW_D[0][0] = h dz_D0) */
	want[1] = tied ? 0.5 * dzd : 0;            /* dW_E[1] = x_1 dz_E (+ dW_D[0][1]) */
	want[2] = dze;
	want[7] = -0.5 * dzd;                      /* dW_D = h dz_D */
	want[8] = 0.5 * dzd;
	want[9] = -dzd;                            /* db_D = dz_D */
	want[10] = dzd;

	expect_close("loss sum of 2 copies", ref_pretrain_pass(r, 0, 2, x, 1, 1), 2 * want_loss,
	             1e-15);
	expect_close("h", r->ae[0].h[1], 0.5, 1e-15);
	expect_close("r[0]", r->ae[0].rec[0], 0.5, 1e-15);
	expect_close("dz_E", r->ae[0].dh[0], dze, 1e-15);
	for (int p = 0; p < 11; p++) {
		char what[48];
		snprintf(what, sizeof what, "grads[%d] of 2 copies", p);
		expect_close(what, r->grads[p], want[p], 1e-15);
	}
	expect_close("loss sum of 1", ref_pretrain_step(r, 0, 1, x, lr, mu, 1, 1), want_loss, 1e-15);
	double p1[11];
	for (int p = 0; p < 11; p++) {
		char what[48];
		snprintf(what, sizeof what, "grads[%d]", p);
		expect_close(what, r->grads[p], want[p], 1e-15);
		/* tied: D's W slot is W_E's, never updated; the rest of the
		 * network is not E or D: it does not move */
		double moves = (tied && (p == 7 || p == 8)) || (p >= 3 && p < 7) ? 0 : 1;
		p1[p] = init[p] - moves * lr * want[p];
		snprintf(what, sizeof what, "params[%d] after step 1", p);
		expect_close(what, r->params[p], p1[p], 1e-15);
	}
	/* step 2 from p1, on its own gradients g2: v2 = mu v1 + g2, v1 = g1 */
	ref_pretrain_step(r, 0, 1, x, lr, mu, 1, 2);
	for (int p = 0; p < 11; p++) {
		char what[48];
		double moves = (tied && (p == 7 || p == 8)) || (p >= 3 && p < 7) ? 0 : 1;
		snprintf(what, sizeof what, "params[%d] after step 2", p);
		expect_close(what, r->params[p], p1[p] - moves * lr * (mu * want[p] + r->grads[p]),
		             1e-14);
	}
	ref_free(r);
}
END_TEST

/* The splitmix64 finaliser, as docs/trainer.md#dropout writes it. */
static uint64_t doc_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The noise: unit j of sample b of autoencoder i is zeroed exactly when
 * docs/trainer.md's generator (dropout's, k = n_layers + 1 + i, t = the
 * step, no scaling) says so, about `noise` of them are, and the dropout
 * below the encoder is the identity (the encoder's x is the sigmoid's
 * output itself).  Network: 40 -> dense 30 sigmoid -> dropout 0.5 -> dense
 * 20 tanh -> dense 3 linear, both hidden layers pre-trained, noise 0.3. */
START_TEST(test_ref_pretrain_noise)
{
	Model m;
	Layer layers[5], dec[2];
	size_t units[] = {30, 20, 3}, enc[] = {0, 2};
	Activation acts[] = {ACT_SIGMOID, ACT_TANH, ACT_LINEAR};
	char err[256];
	const double noise = 0.3;
	const uint64_t G = 0x9e3779b97f4a7c15ULL, seed = 77;
	double x[3 * 40];

	hand_model(&m, layers, 40, units, acts, 3, 0);
	hand_dropout(&m, layers, 1, 0.5);
	hand_pretrain(&m, dec, enc, 2, NNCC_RECON_SQUARED_ERROR, noise, 0);
	RefNet *r = ref_new(&m, 3, err, sizeof err);
	ck_assert_msg(r != NULL, "%s", err);
	for (size_t p = 0; p < m.n_params + m.pre.n_params; p++)
		r->params[p] = sin((double)p * 1.7) * 0.5;
	for (size_t k = 0; k < 3 * 40; k++)
		x[k] = 0.5 + 0.5 * sin((double)k * 0.9 + 0.1);   /* none is 0 */
	size_t dropped = 0, units_seen = 0;
	for (size_t i = 0; i < 2; i++) {
		const RefAutoencoder *A = &r->ae[i];
		for (uint64_t t = 1; t <= 2; t++) {
			ref_pretrain_pass(r, i, 3, x, seed, t);
			uint64_t k = m.n_layers + 1 + i;   /* the decoder's number: 5, 6 */
			ck_assert_uint_eq(A->k, k);
			for (size_t b = 0; b < 3; b++) {
				uint64_t R = doc_mix(doc_mix(doc_mix(seed + G * k) + G * t) + G * b);
				for (size_t j = 0; j < A->in; j++) {
					uint64_t h = doc_mix(R + G * (j / 2));
					uint32_t bits = j % 2 ? (uint32_t)(h >> 32) : (uint32_t)h;
					int kept = bits >= (uint32_t)(noise * 4294967296.0);
					size_t q = b * A->in + j;
					double xe = i == 0 ? x[b * 40 + j] : r->layers[0].a[b * 30 + j];
					ck_assert_msg(A->x[q] == xe, "AE %zu [%zu][%zu]: x %g, want %g", i, b,
					              j, A->x[q], xe);
					ck_assert_msg(A->xt[q] == (kept ? xe : 0.0), "AE %zu t %d [%zu][%zu]: "
					              "x~ %g, kept %d", i, (int)t, b, j, A->xt[q], kept);
					dropped += !kept;
					units_seen++;
				}
			}
		}
	}
	/* 2 * 3 * (40 + 30) = 420 units: a rate of 0.3 drops 126 +- 9.4 (1 sigma) */
	ck_assert_msg(dropped > 90 && dropped < 160, "%zu of %zu dropped at noise %g", dropped,
	              units_seen, noise);
	ref_free(r);
}
END_TEST

/* Central differences of the reconstruction loss (the batch mean, a
 * function of E's and D's parameters with the mask fixed by seed and step)
 * against the pass's gradients, for every parameter of E and D of both
 * autoencoders of 5 -> dense 4 sigmoid -> dropout 0.5 -> dense 3 tanh ->
 * dense 2 linear -> softmax, each loss, tied or not, noise 0 or 0.3.  Tied,
 * D's W slot is not a parameter: the loss does not move with it.  Also:
 * the magnitudes bound the values, and the update moves E and D (tied: not
 * D's W) by -lr g and nothing else. */
START_TEST(test_ref_pretrain_fd)
{
	int loss = _i / 4 ? NNCC_RECON_CROSS_ENTROPY : NNCC_RECON_SQUARED_ERROR;
	int tied = _i / 2 % 2;
	double noise = _i % 2 ? 0.3 : 0.0;
	Model m;
	Layer layers[5], dec[2];
	size_t units[] = {4, 3, 2}, enc[] = {0, 2};
	Activation acts[] = {ACT_SIGMOID, ACT_TANH, ACT_LINEAR};
	char err[256];
	const size_t n = 4;
	double x[4 * 5];

	hand_model(&m, layers, 5, units, acts, 3, 1);
	hand_dropout(&m, layers, 1, 0.5);
	hand_pretrain(&m, dec, enc, 2, loss, noise, tied);
	size_t all = m.n_params + m.pre.n_params;
	RefNet *r = ref_new(&m, n, err, sizeof err);
	ck_assert_msg(r != NULL, "%s", err);
	for (size_t p = 0; p < all; p++)
		r->params[p] = sin((double)p * 1.7) * 0.5;
	for (size_t k = 0; k < n * 5; k++)
		x[k] = 0.5 + 0.45 * sin((double)k * 0.7 + 0.3);   /* in (0, 1), as cross_entropy's */
	double *g = malloc(all * sizeof *g), *keep = malloc(all * sizeof *keep);
	ck_assert(g && keep);
	for (size_t i = 0; i < 2; i++) {
		double sum = ref_pretrain_pass(r, i, n, x, 5, 3);
		memcpy(g, r->grads, all * sizeof *g);
		ck_assert(r->mloss >= sum / (double)n);
		const Tensor *Ts[4] = {&layers[enc[i]].tensors[0], &layers[enc[i]].tensors[1],
		                       &dec[i].tensors[0], &dec[i].tensors[1]};
		double gmax = 0;
		for (size_t t = 0; t < 4; t++) {
			int slot = tied && t == 2;   /* tied: D's W slot, not read */
			for (size_t p = Ts[t]->offset; p < Ts[t]->offset + Ts[t]->size; p++) {
				const double h = 1e-5, k = r->params[p];
				r->params[p] = k + h;
				double lp = ref_pretrain_pass(r, i, n, x, 5, 3) / (double)n;
				r->params[p] = k - h;
				double lm = ref_pretrain_pass(r, i, n, x, 5, 3) / (double)n;
				r->params[p] = k;
				double fd = (lp - lm) / (2 * h), want = slot ? 0.0 : g[p];
				double e = fabs(fd - want) / fmax(fabs(want), 1e-3);
				ck_assert_msg(e <= 1e-6, "loss %d tied %d noise %g AE %zu param %zu: "
				              "backprop %.12g, finite difference %.12g (error %.3g)", loss,
				              tied, noise, i, p, want, fd, e);
				ck_assert(r->mgrads[p] >= fabs(g[p]));
				gmax = fmax(gmax, fabs(want));
			}
		}
		ck_assert_msg(gmax > 1e-3, "AE %zu: gradient is all (near) zero", i);
		/* the update: E and D (tied: D's bias) by -lr g, nothing else */
		ref_pretrain_pass(r, i, n, x, 5, 3);
		memcpy(keep, r->params, all * sizeof *keep);
		ref_pretrain_update(r, i, 0.5, 0.0, 1);
		for (size_t p = 0; p < all; p++) {
			int moves = 0;
			for (size_t t = 0; t < 4; t++)
				moves |= p >= Ts[t]->offset && p < Ts[t]->offset + Ts[t]->size &&
				         !(tied && t == 2);
			ck_assert_msg(r->params[p] == (moves ? keep[p] - 0.5 * g[p] : keep[p]),
			              "AE %zu param %zu: %.17g from %.17g, gradient %.17g (moves %d)", i,
			              p, r->params[p], keep[p], g[p], moves);
		}
	}
	free(g);
	free(keep);
	ref_free(r);
}
END_TEST

static Suite *refself_suite(void)
{
	Suite *s = suite_create("refself");
	TCase *tc = tcase_create("reference_itself");
	tcase_add_test(tc, test_ref_bounds);
	tcase_add_test(tc, test_ref_hand);
	tcase_add_test(tc, test_ref_squared_error);
	tcase_add_test(tc, test_ref_activations);
	tcase_add_loop_test(tc, test_ref_fd, 0, 4 * ACT_COUNT);
	tcase_add_test(tc, test_ref_rejects);
	tcase_add_loop_test(tc, test_ref_pretrain_hand, 0, 8);
	tcase_add_test(tc, test_ref_pretrain_noise);
	tcase_add_loop_test(tc, test_ref_pretrain_fd, 0, 8);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(refself_suite(), NULL);
}

