/*
 * check_gradcheck.c - finite differences on generated float64 trainers, so
 * the reference is not the only witness: for every parameter of a few small
 * networks (each activation, depth 1 to 4 hidden layers), the gradient the
 * generated backward() computes must match a central difference of the
 * generated loss() itself, under each loss (cross-entropy after softmax,
 * squared error on a sigmoid or linear output, against one-hot labels or,
 * for a regression, real targets).  With one sample, each
 * dense layer's DELTA must match the central difference with respect to its
 * bias.  Dropout layers are checked with a fixed mask: every pass draws the
 * masks of one training key (MASK_SEED, MASK_STEP), so the loss is a smooth
 * function of the parameters for the differences too.
 * Vocabulary: n = samples, h = finite-difference step, L = mean loss.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nncc.h"
#include "genutil.h"
#include "testutil.h"

/* |backprop - fd| / max(|backprop|, FD_FLOOR) <= FD_TOL.  A central
 * difference of a double loss of size ~1 with step h is off by about
 * eps*L/h + h^2 L''' ~ 1e-11 + 1e-10: judged against gradients of at least
 * FD_FLOOR that is 1e-7, well under FD_TOL; a wrong gradient is off by ~1. */
#define FD_H 1e-5
#define FD_TOL 1e-6
#define FD_FLOOR 1e-3
#define N_SAMPLES 3

typedef struct GcNet {
	const char *id;          /* file stem and network name */
	const char *layers;      /* YAML layer list (dense layers) */
	size_t inputs;
	const char *loss;        /* NULL: softmax appended, cross_entropy */
	const char *targets;     /* regression: the YAML's data.targets, else NULL */
} GcNet;

/* A tile's labels, or its targets for a regression. */
typedef union GcY {
	int32_t label[N_SAMPLES];
	double target[N_SAMPLES * 16];
} GcY;

#define DENSE(u, a) "  - type: dense\n    units: " #u "\n    activation: " a "\n"
#define DROPOUT(r) "  - type: dropout\n    rate: " #r "\n"
#define MASK_SEED 7
#define MASK_STEP 3

static const GcNet nets[] = {
	{"gc_sigmoid", DENSE(5, "sigmoid") DENSE(3, "linear"), 4, NULL, NULL},
	{"gc_tanh", DENSE(4, "tanh") DENSE(3, "tanh") DENSE(2, "linear"), 3, NULL, NULL},
	{"gc_relu", DENSE(6, "relu") DENSE(3, "relu") DENSE(3, "linear"), 5, NULL, NULL},
	{"gc_linear", DENSE(3, "linear") DENSE(4, "sigmoid"), 2, NULL, NULL},
	{"gc_deep", DENSE(3, "sigmoid") DENSE(4, "tanh") DENSE(3, "relu") DENSE(4, "linear")
	                DENSE(3, "tanh"), 3, NULL, NULL},
	{"gc_softmax_only", DENSE(4, "linear"), 7, NULL, NULL},
	{"gc_squared_sigmoid", DENSE(5, "tanh") DENSE(3, "sigmoid"), 4, "squared_error", NULL},
	{"gc_squared_linear", DENSE(4, "relu") DENSE(3, "linear"), 3, "squared_error", NULL},
	{"gc_regression", DENSE(5, "tanh") DENSE(2, "linear"), 4, "squared_error", "[t1, t2]"},
	{"gc_regression_deep", DENSE(4, "sigmoid") DENSE(3, "relu") DENSE(1, "linear"), 3,
	 "squared_error", "t"},
	{"gc_dropout", DROPOUT(0.25) DENSE(7, "tanh") DROPOUT(0.5) DENSE(5, "sigmoid")
	                   DROPOUT(0.25) DENSE(3, "linear"), 9, NULL, NULL},
};
#define N_NETS (sizeof nets / sizeof nets[0])

static char *scratch;

static const nncc_model_t *load(const GcNet *g, void **handle)
{
	char err[1024];
	char *why = gu_failure(scratch, g->id);
	ck_assert_msg(why == NULL, "%s did not build:\n%s", g->id, why);
	const nncc_model_t *m = gu_load(scratch, g->id, g->id, handle, err, sizeof err);
	ck_assert_msg(m != NULL, "%s", err);
	ck_assert_int_eq(m->dtype, NNCC_F64);
	if (m->set_threads)
		m->set_threads(1);
	if (m->mask_key)   /* dropout: one fixed mask throughout (NULL: none) */
		m->mask_key(MASK_SEED, MASK_STEP, 0);
	return m;
}

/* Deterministic data: x[b][j] = cos(1.3 (b IN + j) + 0.2), y[b] = (2b+1) % OUT,
 * or for a regression t[b][i] = 2 sin(0.7 (b OUT + i)) - 0.5. */
static void data(const nncc_model_t *m, double *x, GcY *y, size_t n)
{
	for (size_t k = 0; k < n * m->n_inputs; k++)
		x[k] = cos(1.3 * (double)k + 0.2);
	for (size_t b = 0; b < n && !m->n_targets; b++)
		y->label[b] = (int32_t)((2 * b + 1) % m->n_outputs);
	for (size_t k = 0; k < n * m->n_targets; k++)
		y->target[k] = 2 * sin(0.7 * (double)k) - 0.5;
}

/* Mean loss of the generated model at its current parameters. */
static double mean_loss(const nncc_model_t *m, size_t n, const double *x, const void *y)
{
	m->forward(n, x);
	return m->loss(n, y) / (double)n;
}

static double *P(const nncc_model_t *m)
{
	return m->params;
}

/* Central difference of the mean loss with respect to parameter p. */
static double fd(const nncc_model_t *m, size_t p, size_t n, const double *x, const void *y)
{
	double keep = P(m)[p];
	P(m)[p] = keep + FD_H;
	double lp = mean_loss(m, n, x, y);
	P(m)[p] = keep - FD_H;
	double lm = mean_loss(m, n, x, y);
	P(m)[p] = keep;
	return (lp - lm) / (2 * FD_H);
}

static void set_weights(const nncc_model_t *m)
{
	for (size_t p = 0; p < m->n_params; p++)
		P(m)[p] = sin((double)p * 1.7) * 0.5;
}

/* Every parameter: backward()'s grads / n against the central difference. */
START_TEST(test_params)
{
	const GcNet *g = &nets[_i];
	void *handle;
	const nncc_model_t *m = load(g, &handle);
	double x[N_SAMPLES * 16];
	GcY yy, *y = &yy;
	size_t n = N_SAMPLES <= m->max_batch ? N_SAMPLES : m->max_batch;

	ck_assert_uint_le(m->n_inputs, 16);
	ck_assert_uint_le(m->n_outputs, 16);
	ck_assert_uint_eq(m->n_targets, g->targets ? m->n_outputs : 0);
	data(m, x, y, n);
	set_weights(m);
	m->forward(n, x);
	m->backward(n, x, y, 0);
	double *grad = malloc(m->n_params * sizeof(double));
	ck_assert_ptr_nonnull(grad);
	for (size_t p = 0; p < m->n_params; p++)
		grad[p] = ((double *)m->grads)[p] / (double)n;

	double gmax = 0;
	size_t nonzero = 0;
	for (size_t p = 0; p < m->n_params; p++) {
		double f = fd(m, p, n, x, y);
		double e = fabs(grad[p] - f) / fmax(fabs(grad[p]), FD_FLOOR);
		char name[160];
		gu_param_name(name, sizeof name, m, p);
		ck_assert_msg(e <= FD_TOL,
		              "%s (%zu inputs):\n%s  parameter %zu, %s: backward() gives grads/n = %.12g (n = %zu), "
		              "the central difference of the mean loss (h %g) %.12g: error %.3g > %g",
		              g->id, g->inputs, g->layers, p, name, grad[p], n, (double)FD_H, f, e,
		              FD_TOL);
		gmax = fmax(gmax, fabs(grad[p]));
		nonzero += fabs(f) > 1e-7;
	}
	/* A backward() that writes nothing would pass the loop above. */
	ck_assert_msg(gmax > 1e-3, "%s: gradient is all (near) zero (max %g)", g->id, gmax);
	ck_assert_msg(nonzero * 2 > m->n_params, "%s: only %zu of %zu parameters move the loss",
	              g->id, nonzero, m->n_params);
	free(grad);
	dlclose(handle);
}
END_TEST

/* One sample: DELTA of each dense layer is dL/dz = dL/db. */
START_TEST(test_deltas)
{
	const GcNet *g = &nets[_i];
	void *handle;
	const nncc_model_t *m = load(g, &handle);
	double x[16];
	GcY yy, *y = &yy;

	data(m, x, y, 1);
	set_weights(m);
	m->forward(1, x);
	m->backward(1, x, y, 0);
	for (size_t t = 0; t < m->n_layers; t++) {   /* last first: where an error starts */
		size_t l = m->n_layers - 1 - t;
		const nncc_layer_t *L = &m->layers[l];
		if (strcmp(L->kind, "dense") != 0)
			continue;
		double *delta = malloc(L->out * sizeof(double));
		ck_assert_ptr_nonnull(delta);
		m->forward(1, x);
		m->backward(1, x, y, 0);
		memcpy(delta, m->tensor(NNCC_T_DELTA, l), L->out * sizeof(double));
		for (size_t i = 0; i < L->out; i++) {
			double f = fd(m, L->tensors[1].offset + i, 1, x, y);   /* b: dL/db = dL/dz */
			double e = fabs(delta[i] - f) / fmax(fabs(delta[i]), FD_FLOOR);
			ck_assert_msg(e <= FD_TOL,
			              "%s layer %zu \"%s\": DELTA[0][%zu] = %.12g, central difference "
			              "of the loss in b[%zu] = %.12g: error %.3g > %g",
			              g->id, l, L->name, i, delta[i], i, f, e, FD_TOL);
		}
		free(delta);
	}
	dlclose(handle);
}
END_TEST

/* The fixed mask is a mask: a dropout layer's output is its input times 0
 * or 1 / (1 - rate), both seen, and the input itself when evaluating. */
START_TEST(test_dropout_mask)
{
	const GcNet *g = &nets[N_NETS - 1];
	void *handle;
	const nncc_model_t *m = load(g, &handle);
	double x[N_SAMPLES * 16];
	GcY y;
	size_t dropped = 0, kept = 0, width = m->layers[0].out;

	ck_assert_str_eq(m->layers[0].kind, "dropout");
	data(m, x, &y, N_SAMPLES);
	set_weights(m);
	m->forward(N_SAMPLES, x);
	const double *a = m->tensor(NNCC_T_ACT, 0);
	for (size_t q = 0; q < N_SAMPLES * width; q++) {
		ck_assert_msg(x[q] != 0, "sample data has a zero input at %zu", q);
		dropped += a[q] == 0;
		kept += a[q] == x[q] * (1 / (1 - 0.25));
	}
	ck_assert_uint_eq(dropped + kept, N_SAMPLES * width);
	ck_assert_msg(dropped > 0 && kept > dropped, "%zu dropped, %zu kept", dropped, kept);
	m->mask_key(0, 0, 0);
	m->forward(N_SAMPLES, x);
	for (size_t q = 0; q < N_SAMPLES * width; q++)
		ck_assert_msg(a[q] == x[q], "evaluation: a[%zu] = %g, x = %g", q, a[q], x[q]);
	dlclose(handle);
}
END_TEST

static void build(void)
{
	GuJob jobs[N_NETS];
	for (size_t i = 0; i < N_NETS; i++) {
		char name[128], *text = NULL;
		snprintf(name, sizeof name, "%s.yaml", nets[i].id);
		char *path = tu_path(scratch, name);
		size_t len = strlen(nets[i].layers) + 512;
		text = malloc(len);
		if (!text)
			abort();
		snprintf(text, len,
		         "network: %s\ninput: %zu\ndtype: float64\nlayers:\n%s%s"
		         "loss: %s\ntraining:\n  learning_rate: 0.1\n  batch_size: %d\n"
		         "  iterations: 1\n%s%s%s",
		         nets[i].id, nets[i].inputs, nets[i].layers,
		         nets[i].loss ? "" : "  - type: softmax\n",
		         nets[i].loss ? nets[i].loss : "cross_entropy", N_SAMPLES,
		         nets[i].targets ? "data: {format: csv, train: a.csv, test: b.csv, targets: " : "",
		         nets[i].targets ? nets[i].targets : "", nets[i].targets ? "}\n" : "");
		if (tu_write_text(path, text) != 0)
			abort();
		free(text);
		free(path);
		jobs[i].id = nets[i].id;
	}
	char *out = NULL;
	if (gu_build(scratch, jobs, N_NETS, &out) != 0)
		fprintf(stderr, "check_gradcheck: some networks did not build:\n%s", out ? out : "");
	free(out);
}

static Suite *gradcheck_suite(void)
{
	Suite *s = suite_create("gradcheck");
	TCase *tc = tcase_create("finite_differences");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_params, 0, (int)N_NETS);
	tcase_add_loop_test(tc, test_deltas, 0, (int)N_NETS);
	tcase_add_test(tc, test_dropout_mask);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	scratch = tu_mkdtemp();
	build();
	return tu_suite_main(gradcheck_suite(), scratch);
}
