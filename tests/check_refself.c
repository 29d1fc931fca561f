/*
 * check_refself.c - the reference backprop (tests/reference/) on its own,
 * before anything is held to it: a 1-1-2 network worked out by hand (the
 * values are in the test's comment), each activation against its closed
 * form and its derivative against a difference quotient, central
 * differences of its own loss for every parameter of small networks with
 * every activation, the magnitudes of ref_bounds, and the parameter
 * layouts ref_new refuses.  No generated code.
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

/* Layouts the reference refuses: overlapping or out-of-range parameters. */
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
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(refself_suite(), NULL);
}

