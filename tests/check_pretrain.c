/*
 * check_pretrain.c - greedy layer-wise autoencoder pre-training
 * (docs/trainer.md#pre-training) in generated trainers.  Through the ABI's
 * pretrain_step() on float64 networks of three autoencoders (sigmoid, tanh
 * and relu encoders above a dropout and a layer not pre-trained), for each
 * reconstruction loss with and without noise, and with tied weights: each
 * encoder and decoder parameter moves by -lr/B times the central difference
 * of the returned loss sum and nothing else moves (lr 0 moves nothing: the
 * differences use it); the loss is the formulas of templates/pretrain.c,
 * computed here from the descriptors; momentum's velocity is
 * torch.optim.SGD's and restarts at step 1; the noise drops a fraction
 * `noise` of the encoder's inputs, per sample, keyed by seed and step;
 * pretrain_grad and pretrain_update are pretrain_step's halves, bit for
 * bit, and a batch's parts' gradient sums add up to the batch's.  Then
 * end to end (nncc, $CC, the libnncc driver): the per-epoch lines, the same
 * weights for a seed with 1 and 2 threads, --pretrain-epochs 0 as the
 * network without `pretrain:`.
 * Vocabulary: AE = autoencoder, E/D = its encoder/decoder, B = samples in
 * the tile, h = finite-difference step, p0 = the parameters before a step.
 */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nncc.h"
#include "genutil.h"
#include "testutil.h"

/* |g - fd| / max(|g|, FD_FLOOR) <= FD_TOL, g = the step's change / (-lr/B).
 * The loss is a SUM over B samples of up to 7 units (about 20 with
 * cross-entropy), so a central difference with step h is off by about
 * eps*L/h + h^2 L''' ~ 5e-10 + 1e-10: against gradients of at least FD_FLOOR
 * that is < 1e-6 (measured: 3e-7 with cross-entropy, 3e-8 with squared
 * error); a wrong gradient (the mean's, a missing term) is off by far more. */
#define FD_H 1e-5
#define FD_TOL 2e-6
#define FD_FLOOR 1e-3
/* The loss against the reference: the same formulas in another order. */
#define LOSS_TOL 1e-12
#define B 4                /* samples per tile: the nets' batch_size */
#define MAX_W 16           /* widest layer of the nets */
#define SEED 11            /* the noise's key */
#define STEP 3
#define MASK_SEED 7        /* a dropout key pretrain_step must not use */
#define N_AE 3
#define MU 0.5             /* momentum passed in u->hparams (the YAML says 0.9) */

/* ---- the float64 networks of the in-process tests */

typedef struct PtNet {
	const char *id;        /* file stem and network name */
	const char *loss;      /* reconstruction loss */
	double noise;
	int tied;              /* W_D = W_E^T */
} PtNet;

static const PtNet nets[] = {
	{"pt_se0", "squared_error", 0, 0},
	{"pt_seq", "squared_error", 0.25, 0},
	{"pt_ce0", "cross_entropy", 0, 0},
	{"pt_ceq", "cross_entropy", 0.4, 0},
	{"pt_tied", "squared_error", 0, 1},
};
#define N_NETS (sizeof nets / sizeof nets[0])
static const size_t clean_nets[] = {0, 2, 4};      /* noise 0: test_loss_value */
static const size_t momentum_nets[] = {1, 3, 4};   /* test_momentum */
#define N_CLEAN (sizeof clean_nets / sizeof clean_nets[0])
#define N_MOMENTUM (sizeof momentum_nets / sizeof momentum_nets[0])

/* Layer 0 "h1" reads the inputs, layer 2 "h2" a dropout of h1's sigmoid,
 * layer 4 "h4" the sigmoid of h3, which is not pre-trained: cross_entropy
 * is allowed for all three encoders. */
static const char net_layers[] =
	"  - {name: h1, type: dense, units: 6, activation: sigmoid}\n"
	"  - {type: dropout, rate: 0.5}\n"
	"  - {name: h2, type: dense, units: 5, activation: tanh}\n"
	"  - {name: h3, type: dense, units: 4, activation: sigmoid}\n"
	"  - {name: h4, type: dense, units: 5, activation: relu}\n"
	"  - {name: out, type: dense, units: 3, activation: linear}\n"
	"  - {type: softmax}\n";
#define N_IN 7
static const size_t ae_layer[N_AE] = {0, 2, 4};

static char *scratch;

static double *P(const nncc_model_t *m)
{
	return m->params;
}

static size_t n_all(const nncc_model_t *m)
{
	return m->n_params + m->n_pretrain_params;
}

static const nncc_model_t *load(const PtNet *g, void **handle)
{
	char err[1024];
	char *why = gu_failure(scratch, g->id);
	ck_assert_msg(why == NULL, "%s did not build:\n%s", g->id, why);
	const nncc_model_t *m = gu_load(scratch, g->id, g->id, handle, err, sizeof err);
	ck_assert_msg(m != NULL, "%s", err);
	ck_assert_int_eq(m->dtype, NNCC_F64);
	ck_assert_uint_eq(m->n_pretrain, N_AE);
	ck_assert_ptr_nonnull(m->pretrain_step);
	ck_assert_uint_eq(m->max_batch, B);
	ck_assert_ptr_nonnull(m->mask_key);   /* the dropout's */
	if (m->set_threads)
		m->set_threads(1);
	return m;
}

static const nncc_layer_t *encoder(const nncc_model_t *m, size_t i)
{
	return &m->layers[m->pretrain[i].layer];
}

/* Tensor t ("W" or "b") of AE i's encoder (dec 0) or decoder (dec 1). */
static const nncc_param_t *tensor_of(const nncc_model_t *m, size_t i, int dec, const char *t)
{
	const nncc_layer_t *E = encoder(m, i);
	size_t n = dec ? m->pretrain[i].n_tensors : E->n_tensors;
	const nncc_param_t *ts = dec ? m->pretrain[i].tensors : E->tensors;
	for (size_t k = 0; k < n; k++)
		if (strcmp(ts[k].name, t) == 0)
			return &ts[k];
	ck_abort_msg("AE %zu: no tensor %s in its %s", i, t, dec ? "decoder" : "encoder");
	return NULL;
}

static int tied(const nncc_model_t *m)
{
	return m->config.pretrain.tied;
}

/* 1 if parameter p is one of AE i's (its encoder's or its decoder's; with
 * tied weights the decoder's W is a copy, not a parameter). */
static int owned(const nncc_model_t *m, size_t i, size_t p)
{
	for (int dec = 0; dec < 2; dec++)
		for (const char *const *t = (const char *const[]){"W", "b", NULL}; *t; t++) {
			const nncc_param_t *T = tensor_of(m, i, dec, *t);
			if (dec && tied(m) && strcmp(*t, "W") == 0)
				continue;
			if (p >= T->offset && p < T->offset + T->size)
				return 1;
		}
	return 0;
}

/* Tied weights: 1 if p is in AE i's decoder W, which each step overwrites
 * with W_E^T, and then *src = the W_E element it copies. */
static int tied_copy(const nncc_model_t *m, size_t i, size_t p, size_t *src)
{
	const nncc_param_t *WD = tensor_of(m, i, 1, "W"), *WE = tensor_of(m, i, 0, "W");
	if (!tied(m) || p < WD->offset || p >= WD->offset + WD->size)
		return 0;
	size_t k = (p - WD->offset) / WD->cols, j = (p - WD->offset) % WD->cols;
	*src = WE->offset + j * WE->cols + k;   /* W_D[k][j] = W_E[j][k] */
	return 1;
}

/* "layer 2 \"h2\" W[1][3]", or "decoder of \"h2\" b[4]" for a decoder's. */
static void param_name(char *s, size_t len, const nncc_model_t *m, size_t p)
{
	for (size_t i = 0; i < m->n_pretrain; i++)
		for (size_t t = 0; t < m->pretrain[i].n_tensors; t++) {
			const nncc_param_t *T = &m->pretrain[i].tensors[t];
			if (p < T->offset || p >= T->offset + T->size)
				continue;
			size_t k = p - T->offset;
			snprintf(s, len, "decoder of \"%s\" %s[%zu][%zu]", encoder(m, i)->name, T->name,
			         k / T->cols, k % T->cols);
			return;
		}
	gu_param_name(s, len, m, p);
}

/* Deterministic weights, p -> 0.5 sin(1.7 p), but for a relu encoder: W
 * scaled to |W| <= 0.2 and biases of magnitude >= 1, so that with inputs in
 * [0, 1] no unit is within reach of the kink, whatever the noise drops
 * (relu_margin checks it). */
static void set_weights(const nncc_model_t *m)
{
	for (size_t p = 0; p < n_all(m); p++)
		P(m)[p] = sin((double)p * 1.7) * 0.5;
	for (size_t i = 0; i < m->n_pretrain; i++) {
		if (strcmp(encoder(m, i)->activation, "relu") != 0)
			continue;
		const nncc_param_t *W = tensor_of(m, i, 0, "W"), *b = tensor_of(m, i, 0, "b");
		for (size_t k = 0; k < W->size; k++)
			P(m)[W->offset + k] *= 0.4;
		for (size_t k = 0; k < b->size; k++)
			P(m)[b->offset + k] = (k % 3 == 1 ? -1 : 1) * (1 + 0.05 * (double)k);
	}
}

/* x[s][j] = 0.5 + 0.45 sin(1.3 k + phase), k = s * N_IN + j: in (0, 1). */
static void data(double *x, size_t n, double phase)
{
	for (size_t k = 0; k < n * N_IN; k++)
		x[k] = 0.5 + 0.45 * sin(1.3 * (double)k + phase);
}

/* ---- the reference: plain double C from the descriptors */

static double act(const char *name, double z)
{
	if (strcmp(name, "sigmoid") == 0)
		return 1 / (1 + exp(-z));              /* 1 / (1 + e^-z) */
	if (strcmp(name, "tanh") == 0)
		return tanh(z);
	if (strcmp(name, "relu") == 0)
		return z > 0 ? z : 0;                  /* max(z, 0) */
	if (strcmp(name, "linear") == 0)
		return z;
	ck_abort_msg("the reference has no activation %s", name);
	return 0;
}

/* out[i] = f(b[i] + sum_j in[j] W[j][i]), W (in, out) input-major. */
static void dense(double *out, const double *in, const double *W, const double *b, size_t nin,
                  size_t nout, const char *f)
{
	for (size_t i = 0; i < nout; i++) {
		double z = b[i];
		for (size_t j = 0; j < nin; j++)
			z += in[j] * W[j * nout + i];
		out[i] = act(f, z);
	}
}

/* Sample x's input to AE i's encoder (its width returned): the layers
 * below it in evaluation mode, dropout the identity. */
static size_t encoder_input(const nncc_model_t *m, size_t i, const double *x, double *c)
{
	size_t w = m->n_inputs;
	double t[MAX_W];
	memcpy(c, x, w * sizeof *c);
	for (size_t l = 0; l < m->pretrain[i].layer; l++) {
		const nncc_layer_t *L = &m->layers[l];
		if (strcmp(L->kind, "dropout") == 0)
			continue;                          /* evaluation: a = x */
		ck_assert_str_eq(L->kind, "dense");
		ck_assert_uint_le(L->out, MAX_W);
		dense(t, c, P(m) + L->tensors[0].offset, P(m) + L->tensors[1].offset, L->in, L->out,
		      L->activation);
		memcpy(c, t, L->out * sizeof *c);
		w = L->out;
	}
	return w;
}

/* AE i's reconstruction loss summed over n samples x, with input unit j of
 * sample s set to 0 where drop[s * width + j] (drop NULL: none):
 *   x~ = x without the dropped units,  h = f(x~ W_E + b_E),
 *   r = sigmoid(h W_D + b_D),  W_D (E.out, E.in), tied: W_E^T,
 *   squared_error  L = 1/2 sum_j (r_j - x_j)^2
 *   cross_entropy  L = -sum_j x_j max(ln r_j, -100) + (1 - x_j) max(ln(1 - r_j), -100)
 * against the clean x. */
static double ref_loss(const nncc_model_t *m, size_t i, size_t n, const double *x,
                       const unsigned char *drop, int cross_entropy)
{
	const nncc_layer_t *E = encoder(m, i);
	const double *WE = P(m) + tensor_of(m, i, 0, "W")->offset;
	const double *bE = P(m) + tensor_of(m, i, 0, "b")->offset;
	const double *WD = P(m) + tensor_of(m, i, 1, "W")->offset;
	const double *bD = P(m) + tensor_of(m, i, 1, "b")->offset;
	double sum = 0, WT[MAX_W * MAX_W];
	if (tied(m)) {   /* W_D = W_E^T */
		for (size_t j = 0; j < E->in; j++)
			for (size_t k = 0; k < E->out; k++)
				WT[k * E->in + j] = WE[j * E->out + k];
		WD = WT;
	}
	for (size_t s = 0; s < n; s++) {
		double c[MAX_W], xt[MAX_W], h[MAX_W], r[MAX_W];
		size_t w = encoder_input(m, i, x + s * m->n_inputs, c);
		ck_assert_uint_eq(w, E->in);
		for (size_t j = 0; j < w; j++)
			xt[j] = drop && drop[s * w + j] ? 0 : c[j];
		dense(h, xt, WE, bE, E->in, E->out, E->activation);
		dense(r, h, WD, bD, E->out, E->in, "sigmoid");
		for (size_t j = 0; j < w; j++) {
			if (cross_entropy)
				sum -= c[j] * fmax(log(r[j]), -100.0) + (1 - c[j]) * fmax(log(1 - r[j]), -100.0);
			else
				sum += 0.5 * (r[j] - c[j]) * (r[j] - c[j]);
		}
	}
	return sum;
}

/* For a relu encoder: min over samples and units of |b_k| - sum_j |c_j W_jk|,
 * a lower bound of |z_k| whatever units the noise drops; +inf otherwise. */
static double relu_margin(const nncc_model_t *m, size_t i, size_t n, const double *x)
{
	const nncc_layer_t *E = encoder(m, i);
	const double *W = P(m) + tensor_of(m, i, 0, "W")->offset;
	const double *b = P(m) + tensor_of(m, i, 0, "b")->offset;
	double margin = INFINITY;
	if (strcmp(E->activation, "relu") != 0)
		return margin;
	for (size_t s = 0; s < n; s++) {
		double c[MAX_W];
		encoder_input(m, i, x + s * m->n_inputs, c);
		for (size_t k = 0; k < E->out; k++) {
			double reach = 0;
			for (size_t j = 0; j < E->in; j++)
				reach += fabs(c[j] * W[j * E->out + k]);
			margin = fmin(margin, fabs(b[k]) - reach);
		}
	}
	return margin;
}

/* ---- calls */

/* One step of AE i; hparams NULL is plain SGD.  The network's dropout is
 * set to training masks first: pre-training must still run the layers
 * below the encoder in evaluation mode. */
static double step(const nncc_model_t *m, size_t i, size_t n, const double *x, double lr,
                   uint64_t seed, uint64_t t, const double *hparams)
{
	nncc_update_t u = {.lr = lr, .batch = n, .step = t, .hparams = hparams, .seed = seed};
	m->mask_key(MASK_SEED, STEP, 0);
	return m->pretrain_step(i, n, x, &u);
}

/* The loss sum at the current parameters: a step with lr 0, which leaves
 * them alone (test_gradients checks it). */
static double loss_at(const nncc_model_t *m, size_t i, size_t n, const double *x, uint64_t t)
{
	return step(m, i, n, x, 0, SEED, t, NULL);
}

static double *save_params(const nncc_model_t *m)
{
	double *p = malloc(n_all(m) * sizeof *p);
	ck_assert_ptr_nonnull(p);
	memcpy(p, P(m), n_all(m) * sizeof *p);
	return p;
}

static void restore_params(const nncc_model_t *m, const double *p)
{
	memcpy(P(m), p, n_all(m) * sizeof *p);
}

/* Every parameter (the decoders' too) has the bits of want[]; else the
 * test fails naming the first that differs and `what` should have kept. */
static void expect_same(const nncc_model_t *m, const double *want, const char *fmt, ...)
{
	char what[256], name[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	for (size_t p = 0; p < n_all(m); p++) {
		if (memcmp(&want[p], &P(m)[p], sizeof want[p]) == 0)
			continue;
		param_name(name, sizeof name, m, p);
		ck_abort_msg("%s: parameter %zu, %s, is %.17g, not %.17g", what, p, name, P(m)[p],
		             want[p]);
	}
}

/* ---- 1. gradients by finite differences */

/* Tied weights: a step, whatever AE i's decoder W holds, first copies
 * W_E^T there (and computes the loss with it). */
static void check_tie(const nncc_model_t *m, size_t i, const double *x)
{
	const nncc_param_t *WD = tensor_of(m, i, 1, "W");
	size_t src;
	double want = loss_at(m, i, B, x, STEP);
	for (size_t k = 0; k < WD->size; k++)
		P(m)[WD->offset + k] = 7;
	double got = loss_at(m, i, B, x, STEP);
	ck_assert_msg(memcmp(&got, &want, sizeof got) == 0, "tied AE %zu: with 7 in the decoder's W "
	              "the loss is %.17g, with W_E^T %.17g", i, got, want);
	for (size_t p = WD->offset; p < WD->offset + WD->size; p++) {
		ck_assert(tied_copy(m, i, p, &src));
		ck_assert_msg(memcmp(&P(m)[p], &P(m)[src], sizeof P(m)[p]) == 0,
		              "tied AE %zu: the decoder's W[%zu][%zu] = %.17g after a step, W_E's "
		              "element %.17g", i, (p - WD->offset) / WD->cols, (p - WD->offset) % WD->cols,
		              P(m)[p], P(m)[src]);
	}
}

/* Case _i: net _i / N_AE, autoencoder _i % N_AE.  One plain-SGD step with
 * lr = B (so lr/B = 1): each of the AE's parameters moves by minus the
 * central difference of the loss sum; every other parameter keeps its
 * bits (with tied weights, the decoder's W holds W_E^T from before the
 * step). */
START_TEST(test_gradients)
{
	const PtNet *g = &nets[_i / N_AE];
	size_t i = (size_t)_i % N_AE;
	void *handle;
	const nncc_model_t *m = load(g, &handle);
	double x[B * N_IN];
	char name[160];

	data(x, B, 0.2);
	set_weights(m);
	double margin = relu_margin(m, i, B, x);
	ck_assert_msg(margin > 1e-3, "%s AE %zu: a relu unit comes within %g of its kink", g->id, i,
	              margin);
	if (g->tied)
		check_tie(m, i, x);   /* from here on the decoder's W is W_E^T */
	double *p0 = save_params(m), *fd = calloc(n_all(m), sizeof *fd);
	ck_assert_ptr_nonnull(fd);
	double l0 = loss_at(m, i, B, x, STEP);
	expect_same(m, p0, "%s AE %zu: a step with lr 0 changes nothing", g->id, i);
	ck_assert_msg(isfinite(l0) && l0 > 0, "%s AE %zu: loss %g", g->id, i, l0);

	size_t n_owned = 0;
	for (size_t p = 0; p < n_all(m); p++) {
		if (!owned(m, i, p))
			continue;
		n_owned++;
		P(m)[p] = p0[p] + FD_H;
		double lp = loss_at(m, i, B, x, STEP);
		P(m)[p] = p0[p] - FD_H;
		double lm = loss_at(m, i, B, x, STEP);
		P(m)[p] = p0[p];
		fd[p] = (lp - lm) / (2 * FD_H);
	}
	ck_assert_uint_eq(n_owned, encoder(m, i)->in * encoder(m, i)->out * (g->tied ? 1 : 2) +
	                               encoder(m, i)->out + encoder(m, i)->in);
	expect_same(m, p0, "%s AE %zu: the differences put every parameter back", g->id, i);

	double lr = B, l1 = step(m, i, B, x, lr, SEED, STEP, NULL), gmax = 0;
	ck_assert_msg(memcmp(&l1, &l0, sizeof l0) == 0,
	              "%s AE %zu: the step returned loss %.17g, the same step with lr 0 %.17g: the "
	              "loss is the one before the update", g->id, i, l1, l0);
	size_t nonzero = 0;
	for (size_t p = 0; p < n_all(m); p++) {
		param_name(name, sizeof name, m, p);
		if (!owned(m, i, p)) {
			ck_assert_msg(memcmp(&p0[p], &P(m)[p], sizeof p0[p]) == 0,
			              "%s AE %zu: parameter %zu, %s, is not the AE's but moved: %.17g -> %.17g",
			              g->id, i, p, name, p0[p], P(m)[p]);
			continue;
		}
		double grad = (p0[p] - P(m)[p]) / (lr / B);
		double e = fabs(grad - fd[p]) / fmax(fabs(grad), FD_FLOOR);
		ck_assert_msg(e <= FD_TOL,
		              "%s (%s, noise %g) AE %zu: parameter %zu, %s: the step's change / (-lr/B) "
		              "= %.12g, the central difference of the loss sum (h %g) %.12g: error %.3g > %g",
		              g->id, g->loss, g->noise, i, p, name, grad, (double)FD_H, fd[p], e, FD_TOL);
		gmax = fmax(gmax, fabs(grad));
		nonzero += fabs(fd[p]) > 1e-7;
	}
	/* A step that moves nothing would pass the loop above. */
	ck_assert_msg(gmax > 1e-3, "%s AE %zu: the gradient is all (near) zero (max %g)", g->id, i,
	              gmax);
	ck_assert_msg(nonzero * 2 > n_owned, "%s AE %zu: only %zu of %zu parameters move the loss",
	              g->id, i, nonzero, n_owned);
	free(fd);
	free(p0);
	dlclose(handle);
}
END_TEST

/* ---- 2. the loss against the reference */

/* Noise 0 (case _i: net clean_nets[_i / N_AE], AE _i % N_AE): the returned sum is
 * ref_loss, for a full tile and a short one, before and after a step; for
 * cross_entropy also with decoder outputs that reach the clamp (ln r and
 * ln(1 - r) below -100). */
START_TEST(test_loss_value)
{
	const PtNet *g = &nets[clean_nets[_i / N_AE]];
	size_t i = (size_t)_i % N_AE;
	void *handle;
	const nncc_model_t *m = load(g, &handle);
	int ce = strcmp(g->loss, "cross_entropy") == 0;
	double x[B * N_IN];

	ck_assert(g->noise == 0);
	set_weights(m);
	for (size_t n = B; n >= B - 1; n--) {
		data(x, n, 0.7 * (double)n);
		for (int t = 0; t < 2; t++) {   /* before and after a step with lr 1 */
			double want = ref_loss(m, i, n, x, NULL, ce);
			double got = step(m, i, n, x, 1, SEED, 1 + (uint64_t)t, NULL);
			ck_assert_msg(fabs(got - want) <= LOSS_TOL * fabs(want),
			              "%s AE %zu, %zu samples, step %d: pretrain_step returns %.17g, the "
			              "reference sum %.17g", g->id, i, n, t + 1, got, want);
		}
	}
	if (ce) {
		const nncc_param_t *bD = tensor_of(m, i, 1, "b");
		P(m)[bD->offset] = -200;      /* r_0 = e^-200: ln r_0 clamped */
		P(m)[bD->offset + 1] = 200;   /* r_1 = 1: ln(1 - r_1) = -inf, clamped */
		data(x, B, 0.1);
		double want = ref_loss(m, i, B, x, NULL, ce);
		double got = loss_at(m, i, B, x, 1);
		ck_assert_msg(isfinite(got) && fabs(got - want) <= LOSS_TOL * fabs(want),
		              "%s AE %zu, clamped ln: pretrain_step returns %.17g, the reference %.17g",
		              g->id, i, got, want);
	}
	dlclose(handle);
}
END_TEST

/* ---- 3. momentum */

/* The gradient sums of AE i's parameters at the current parameters and
 * key (seed, t), from a plain-SGD step with lr = B: g = p - p'.  The
 * parameters are put back. */
static double *grad_of(const nncc_model_t *m, size_t i, const double *x, uint64_t t)
{
	double *g = calloc(n_all(m), sizeof *g), *p = save_params(m);
	ck_assert_ptr_nonnull(g);
	step(m, i, B, x, B, SEED, t, NULL);
	for (size_t q = 0; q < n_all(m); q++)
		g[q] = p[q] - P(m)[q];
	restore_params(m, p);
	free(p);
	return g;
}

/* The AE's parameters against want[], to 1e-12 (the steps are about 1e-2). */
static void expect_params(const nncc_model_t *m, size_t i, const double *want, const char *what)
{
	char name[160];
	for (size_t p = 0; p < n_all(m); p++) {
		if (!owned(m, i, p))
			continue;
		param_name(name, sizeof name, m, p);
		ck_assert_msg(fabs(P(m)[p] - want[p]) <= 1e-12 * fmax(1, fabs(want[p])),
		              "AE %zu, %s: parameter %zu, %s = %.17g, torch.optim.SGD's %.17g", i, what,
		              p, name, P(m)[p], want[p]);
	}
}

/* Case _i: net momentum_nets[_i / N_AE] (with noise, each step has its own
 * mask; tied, the velocity of W_E takes both gradients), AE _i % N_AE.
 * With mu = u->hparams[0], lr = B:  v1 = g1/B, p1 = p0 - lr v1;
 * v2 = mu v1 + g2/B, p2 = p1 - lr v2; and a step 1 after them starts again
 * from v = 0.  g_t is the gradient at p_{t-1} under step t's mask. */
START_TEST(test_momentum)
{
	const PtNet *g = &nets[momentum_nets[_i / N_AE]];
	size_t i = (size_t)_i % N_AE;
	void *handle;
	const nncc_model_t *m = load(g, &handle);
	const double mu = MU, lr = B;
	double x[B * N_IN];
	size_t np = n_all(m);
	double *want = calloc(np, sizeof *want), *v1 = calloc(np, sizeof *v1);
	ck_assert(want && v1);

	data(x, B, 1.1);
	set_weights(m);
	double *p0 = save_params(m), *g1 = grad_of(m, i, x, 1);
	step(m, i, B, x, lr, SEED, 1, &mu);
	for (size_t q = 0; q < np; q++) {
		v1[q] = g1[q] / B;
		want[q] = p0[q] - lr * v1[q];
	}
	expect_params(m, i, want, "momentum step 1");
	double *p1 = save_params(m), *g2 = grad_of(m, i, x, 2);

	/* Again from p0, so that the velocity is step 1's whatever the plain
	 * step did to it; then step 2. */
	restore_params(m, p0);
	step(m, i, B, x, lr, SEED, 1, &mu);
	expect_same(m, p1, "AE %zu: momentum step 1 from p0 again (its velocity starts at 0)", i);
	step(m, i, B, x, lr, SEED, 2, &mu);
	for (size_t q = 0; q < np; q++)
		want[q] = p1[q] - lr * (mu * v1[q] + g2[q] / B);
	expect_params(m, i, want, "momentum step 2");
	double *p2 = save_params(m), *g3 = grad_of(m, i, x, 1);

	/* The velocity v2 again (grad_of's step 1 cleared it), then a step 1:
	 * v = g3/B, not mu v2 + g3/B. */
	restore_params(m, p0);
	step(m, i, B, x, lr, SEED, 1, &mu);
	step(m, i, B, x, lr, SEED, 2, &mu);
	expect_same(m, p2, "AE %zu: momentum steps 1 and 2 from p0 again", i);
	step(m, i, B, x, lr, SEED, 1, &mu);
	double far = 0;
	for (size_t q = 0; q < np; q++) {
		want[q] = p2[q] - lr * g3[q] / B;
		if (owned(m, i, q))   /* what a velocity kept would add */
			far = fmax(far, fabs(lr * mu * (mu * v1[q] + g2[q] / B)));
	}
	ck_assert_msg(far > 1e-4, "AE %zu: the velocity is too small to tell (%g)", i, far);
	expect_params(m, i, want, "a step 1 after step 2 (the velocity restarts)");
	free(p0);
	free(p1);
	free(p2);
	free(g1);
	free(g2);
	free(g3);
	free(want);
	free(v1);
	dlclose(handle);
}
END_TEST

/* ---- 4. pretrain_step's halves: pretrain_grad and pretrain_update */

/* 1 if p is in AE i's encoder or decoder (tied: the decoder's W too, whose
 * gradient the update folds into W_E's). */
static int in_ae(const nncc_model_t *m, size_t i, size_t p)
{
	size_t src;
	return owned(m, i, p) || tied_copy(m, i, p, &src);
}

/* AE i's gradient sums over rows [a, b) of x, as samples a.. of the
 * batch (their noise) into g[] (every parameter's slot; 0 outside AE i);
 * returns the loss sum.  The other gradients must keep a sentinel. */
static double chunk_grad(const nncc_model_t *m, size_t i, const double *x, size_t a, size_t b,
                         size_t first, double *g)
{
	nncc_update_t u = {.lr = 1, .batch = B, .step = STEP, .seed = SEED};
	double *G = m->grads;
	char name[160];
	for (size_t p = 0; p < n_all(m); p++)
		G[p] = 12345.0;
	m->mask_key(MASK_SEED, STEP, 0);
	double l = m->pretrain_grad(i, b - a, x + a * m->n_inputs, &u, first);
	for (size_t p = 0; p < n_all(m); p++) {
		param_name(name, sizeof name, m, p);
		if (!in_ae(m, i, p))
			ck_assert_msg(G[p] == 12345.0, "AE %zu: pretrain_grad wrote the gradient of %s, "
			              "not one of its tensors", i, name);
		g[p] = in_ae(m, i, p) ? G[p] : 0;
	}
	return l;
}

/* Case _i: every net, AE _i % N_AE.  pretrain_grad then pretrain_update
 * have pretrain_step's bits (loss and parameters); pretrain_grad writes
 * only AE i's gradients and moves no parameter of the network; the batch
 * cut in two (rows 0 and 1 .. B-1, the second with first = 1) gives
 * gradient and loss sums that add up to the whole batch's (to 1e-12: two
 * summation orders), its noise being the whole batch's rows' (with noise,
 * first = 0 for the second part gives other sums). */
START_TEST(test_halves)
{
	const PtNet *g = &nets[_i / N_AE];
	size_t i = (size_t)_i % N_AE, np;
	void *handle;
	const nncc_model_t *m = load(g, &handle);
	double x[B * N_IN], lr = 0.5;
	char name[160];

	ck_assert_ptr_nonnull(m->pretrain_grad);
	ck_assert_ptr_nonnull(m->pretrain_update);
	np = n_all(m);
	data(x, B, 0.7);
	set_weights(m);
	double *p0 = save_params(m);
	double want = step(m, i, B, x, lr, SEED, STEP, NULL);
	double *p1 = save_params(m);

	restore_params(m, p0);
	nncc_update_t u = {.lr = lr, .batch = B, .step = STEP, .seed = SEED};
	m->mask_key(MASK_SEED, STEP, 0);
	double got = m->pretrain_grad(i, B, x, &u, 0);
	for (size_t p = 0; p < np; p++) {
		size_t src;
		param_name(name, sizeof name, m, p);
		if (!tied_copy(m, i, p, &src))
			ck_assert_msg(memcmp(&P(m)[p], &p0[p], sizeof p0[p]) == 0,
			              "%s AE %zu: pretrain_grad moved %s", g->id, i, name);
	}
	m->pretrain_update(i, &u);
	ck_assert_msg(memcmp(&got, &want, sizeof got) == 0, "%s AE %zu: pretrain_grad's loss %.17g, "
	              "pretrain_step's %.17g", g->id, i, got, want);
	expect_same(m, p1, "%s AE %zu: pretrain_grad + pretrain_update against pretrain_step",
	            g->id, i);

	double *whole = calloc(np, sizeof *whole), *part = calloc(np, sizeof *part);
	double *rest = calloc(np, sizeof *rest);
	ck_assert(whole && part && rest);
	restore_params(m, p0);
	double lw = chunk_grad(m, i, x, 0, B, 0, whole);
	double l0 = chunk_grad(m, i, x, 0, 1, 0, part);
	double l1 = chunk_grad(m, i, x, 1, B, 1, rest);
	ck_assert_msg(fabs(l0 + l1 - lw) <= 1e-12 * fabs(lw), "%s AE %zu: the parts' losses %.17g + "
	              "%.17g, the whole batch's %.17g", g->id, i, l0, l1, lw);
	double off = 0, scale = 0;
	for (size_t p = 0; p < np; p++) {
		param_name(name, sizeof name, m, p);
		ck_assert_msg(fabs(part[p] + rest[p] - whole[p]) <= 1e-12 * fmax(1, fabs(whole[p])),
		              "%s AE %zu: %s's gradient: the parts' %.17g + %.17g, the whole batch's "
		              "%.17g", g->id, i, name, part[p], rest[p], whole[p]);
		scale = fmax(scale, fabs(whole[p]));
	}
	if (g->noise > 0) {   /* the second part drawn as if it began the batch */
		double l1x = chunk_grad(m, i, x, 1, B, 0, rest);
		for (size_t p = 0; p < np; p++)
			off = fmax(off, fabs(part[p] + rest[p] - whole[p]));
		ck_assert_msg(off > 1e-6 * scale || fabs(l0 + l1x - lw) > 1e-9 * fabs(lw),
		              "%s AE %zu: first = 0 for rows 1.. gives the whole batch's sums too: "
		              "the noise does not depend on first", g->id, i);
	}
	free(whole);
	free(part);
	free(rest);
	free(p0);
	free(p1);
	dlclose(handle);
}
END_TEST

/* ---- 5. the noise's masks */

#define MASK_STEPS 400

/* After a step from p0 on n samples: bit j set when row j of W_E (input
 * unit j) kept its bits, i.e. its gradient x~_j dL/dz_E summed over the
 * samples is 0. */
static unsigned zero_rows(const nncc_model_t *m, size_t i, const double *p0)
{
	const nncc_param_t *W = tensor_of(m, i, 0, "W");
	unsigned rows = 0;
	for (size_t j = 0; j < W->rows; j++)
		if (memcmp(&p0[W->offset + j * W->cols], &P(m)[W->offset + j * W->cols],
		           W->cols * sizeof(double)) == 0)
			rows |= 1u << j;
	return rows;
}

/* Case _i: every net, AE _i % N_AE.  One sample per step, each step from
 * p0 with the step counter 1..MASK_STEPS: the units whose W_E row keeps
 * its bits are the dropped ones (with them zeroed, ref_loss gives the
 * returned loss, against the clean input); each unit is dropped in a
 * fraction `noise` of the steps, within 5 binomial standard deviations
 * (none without noise); the same seed and step drop the same units, another
 * seed others.  With two copies of the sample per step, a row stays only
 * when both drop the unit: a fraction noise^2 (the masks are per sample). */
START_TEST(test_noise_masks)
{
	const PtNet *g = &nets[_i / N_AE];
	size_t i = (size_t)_i % N_AE;
	void *handle;
	const nncc_model_t *m = load(g, &handle);
	int ce = strcmp(g->loss, "cross_entropy") == 0;
	const double q = g->noise;
	double x[2 * N_IN];
	size_t in = encoder(m, i)->in, per_unit[MAX_W] = {0}, pairs = 0;
	unsigned pattern[20];
	unsigned char drop[MAX_W];

	data(x, 1, 0.4);
	memcpy(x + N_IN, x, N_IN * sizeof *x);
	set_weights(m);
	double *p0 = save_params(m);
	for (uint64_t t = 1; t <= MASK_STEPS; t++) {
		restore_params(m, p0);
		double l = step(m, i, 1, x, 1, SEED, t, NULL);
		unsigned rows = zero_rows(m, i, p0);
		if (t <= 20)
			pattern[t - 1] = rows;
		for (size_t j = 0; j < in; j++)
			per_unit[j] += drop[j] = (rows >> j) & 1;
		restore_params(m, p0);
		double want = ref_loss(m, i, 1, x, drop, ce);
		ck_assert_msg(fabs(l - want) <= LOSS_TOL * fabs(want),
		              "%s AE %zu step %llu: loss %.17g, the reference with units 0x%x dropped "
		              "(those whose W row kept its bits) %.17g", g->id, i, (unsigned long long)t,
		              l, rows, want);
		step(m, i, 2, x, 2, SEED, t, NULL);
		unsigned both = zero_rows(m, i, p0);
		ck_assert_msg((both & ~rows) == 0, "%s AE %zu step %llu: sample 0 of two kept units 0x%x "
		              "that it drops alone (0x%x)", g->id, i, (unsigned long long)t, both, rows);
		for (size_t j = 0; j < in; j++)
			pairs += (both >> j) & 1;
	}
	for (size_t j = 0; j < in; j++) {
		double mean = MASK_STEPS * q, tol = 5 * sqrt(MASK_STEPS * q * (1 - q));
		ck_assert_msg(fabs((double)per_unit[j] - mean) <= tol,
		              "%s AE %zu: input unit %zu dropped in %zu of %d steps, expected %g +- %g "
		              "(noise %g)", g->id, i, j, per_unit[j], MASK_STEPS, mean, tol, q);
	}
	double n2 = (double)(MASK_STEPS * in), mean2 = n2 * q * q;
	ck_assert_msg(fabs((double)pairs - mean2) <= 5 * sqrt(n2 * q * q * (1 - q * q)),
	              "%s AE %zu: with two samples per step %zu of %g unit-steps are dropped in "
	              "both, expected %g (noise^2; the same mask for every sample gives %g)", g->id,
	              i, pairs, n2, mean2, n2 * q);

	/* The same key again: the same bits. */
	restore_params(m, p0);
	double la = step(m, i, 1, x, 1, SEED, 5, NULL);
	double *pa = save_params(m);
	restore_params(m, p0);
	double lb = step(m, i, 1, x, 1, SEED, 5, NULL);
	ck_assert_msg(memcmp(&la, &lb, sizeof la) == 0, "%s AE %zu: seed %d step 5 twice: loss "
	              "%.17g, then %.17g", g->id, i, SEED, la, lb);
	expect_same(m, pa, "%s AE %zu: seed %d step 5 twice", g->id, i, SEED);
	/* Another seed: other masks (with noise). */
	size_t same = 0;
	for (uint64_t t = 1; t <= 20; t++) {
		restore_params(m, p0);
		step(m, i, 1, x, 1, SEED + 1, t, NULL);
		same += zero_rows(m, i, p0) == pattern[t - 1];
	}
	if (q > 0)
		ck_assert_msg(same < 20, "%s AE %zu: seeds %d and %d drop the same units in 20 steps",
		              g->id, i, SEED, SEED + 1);
	else
		ck_assert_uint_eq(same, 20);
	free(pa);
	free(p0);
	dlclose(handle);
}
END_TEST

/* The ABI's description of the autoencoders: the encoders are the YAML's
 * `layers`, each decoder is W (E.out, E.in) and b (1, E.in), the decoders
 * tile [n_params, n_params + n_pretrain_params), and config.pretrain holds
 * the YAML's settings. */
START_TEST(test_layout)
{
	const PtNet *g = &nets[_i];
	void *handle;
	const nncc_model_t *m = load(g, &handle);
	const nncc_pretrain_config_t *c = &m->config.pretrain;
	size_t at = m->n_params;

	for (size_t i = 0; i < N_AE; i++) {
		const nncc_layer_t *E = encoder(m, i);
		ck_assert_uint_eq(m->pretrain[i].layer, ae_layer[i]);
		ck_assert_str_eq(E->kind, "dense");
		ck_assert_uint_eq(m->pretrain[i].n_tensors, 2);
		const nncc_param_t *W = &m->pretrain[i].tensors[0], *b = &m->pretrain[i].tensors[1];
		ck_assert_str_eq(W->name, "W");
		ck_assert_str_eq(b->name, "b");
		ck_assert_uint_eq(W->rows, E->out);
		ck_assert_uint_eq(W->cols, E->in);
		ck_assert_uint_eq(W->size, E->out * E->in);
		ck_assert_uint_eq(b->rows, 1);
		ck_assert_uint_eq(b->cols, E->in);
		ck_assert_uint_eq(b->size, E->in);
		ck_assert(!W->bias && b->bias);
		ck_assert_uint_eq(W->offset, at);
		ck_assert_uint_eq(b->offset, at + W->size);
		at += W->size + b->size;
	}
	ck_assert_uint_eq(at, n_all(m));
	ck_assert_uint_eq(c->epochs, 1);
	ck_assert_uint_eq(c->batch_size, B);
	ck_assert(c->learning_rate == 0.1);
	ck_assert(c->momentum == 0.9);
	ck_assert(c->noise == g->noise);
	ck_assert_int_eq(c->tied, g->tied);
	ck_assert_int_eq(c->loss, strcmp(g->loss, "cross_entropy") == 0 ? NNCC_RECON_CROSS_ENTROPY
	                                                                  : NNCC_RECON_SQUARED_ERROR);
	dlclose(handle);
}
END_TEST

/* ---- 6. the driver */

#define SIDE 10            /* 10x10 images: 100 inputs */
#define N_TRAIN 300        /* batches of 128: the last of each pass 44 */
#define N_TEST 40
#define PT_EPOCHS 2        /* drv_pretrain's epochs */

/* Big enough for the thread pool (rows pass of a 128-sample tile above
 * plan.c's threshold), so that 1 and 2 threads differ in how they work. */
static const char drv_net[] =
	"network: ptd\ninput: 100\nlayers:\n"
	"  - {name: hidden, type: dense, units: 96, activation: sigmoid}\n"
	"  - {name: hidden2, type: dense, units: 64, activation: relu}\n"
	"  - {name: out, type: dense, units: 4, activation: linear}\n"
	"  - {type: softmax}\n"
	"training:\n  learning_rate: 0.1\n  batch_size: 128\n  epochs: 1\n  seed: 5\n"
	"  shuffle: true\ndata:\n  normalize: scale\n";
static const char drv_pretrain[] =
	"pretrain:\n  epochs: 2\n  learning_rate: 0.5\n  optimizer: momentum\n  momentum: 0.5\n"
	"  noise: 0.25\n";

static const char *const drv_ids[2] = {"drv_pt", "drv_nopt"};

/* Starts building scratch/ID/net from scratch/ID/net.yaml for both driver
 * trainers in the background, while gu_build makes the shared objects;
 * each writes ID/done when it has finished.  They are compiled for this
 * CPU (-march=native: one copy of the kernels, a third less compile time;
 * the copies' agreement is check_isa's). */
static void drivers_start(void)
{
	char cmd[4096] = "";
	for (int k = 0; k < 2; k++) {
		char *d = tu_path(scratch, drv_ids[k]), text[2048], part[1024];
		char *yaml = tu_path(d, "net.yaml");
		snprintf(text, sizeof text, "%s%s", drv_net, k == 0 ? drv_pretrain : "");
		if (mkdir(d, 0777) != 0 || tu_write_text(yaml, text) != 0)
			abort();
		snprintf(part, sizeof part, "((%s %s -o %s/net.c && %s -O2 -march=native %s/net.c "
		         "$(%s --cflags) -o %s/net $(%s --libs)) > %s/build.log 2>&1; touch %s/done) "
		         "< /dev/null & ", tu_nncc(), yaml, d, tu_cc(), d, tu_nncc(), d, tu_nncc(), d, d);
		strcat(cmd, part);
		free(yaml);
		free(d);
	}
	if (tu_run(NULL, "%s", cmd) != 0)
		abort();
	if (tu_idx_write_banded(scratch, "train", N_TRAIN, SIDE, SIDE, 4, 4, 64, 21) != 0 ||
	    tu_idx_write_banded(scratch, "t10k", N_TEST, SIDE, SIDE, 4, 4, 64, 22) != 0)
		abort();
}

/* Waits (up to 10 minutes) for drivers_start's builds. */
static void drivers_wait(void)
{
	for (int k = 0; k < 2; k++) {
		char *d = tu_path(scratch, drv_ids[k]), *done = tu_path(d, "done");
		for (int t = 0; t < 600 && !tu_exists(done); t++)
			sleep(1);
		free(done);
		free(d);
	}
}

/* Runs scratch/ID/net --data scratch OPTS, which must exit 0; its output
 * (stdout and stderr) is returned (malloc'd). */
static char *drive(const char *id, const char *fmt, ...)
{
	char opts[1024], *text = NULL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(opts, sizeof opts, fmt, ap);
	va_end(ap);
	char *d = tu_path(scratch, id), *exe = tu_path(d, "net");
	if (!tu_exists(exe)) {
		char *log = tu_path(d, "build.log");
		ck_abort_msg("%s was not built:\n%s", exe, tu_exists(log) ? (char *)tu_read_file(log, NULL)
		                                                          : "(no log)");
	}
	int st = tu_run(&text, "%s --data %s %s", exe, scratch, opts);
	ck_assert_msg(st == 0, "%s %s failed (%d):\n%s", exe, opts, st, text);
	free(exe);
	free(d);
	return text;
}

/* The weights of a saved file (n_params of them, as doubles; malloc'd). */
static double *weights_of(const char *path, size_t *n)
{
	nncc_weights_file_t wf;
	nncc_err_t err;
	ck_assert_msg(nncc_weights_read(&wf, path, &err) == 0, "%s", err.msg);
	double *w = malloc(wf.n_params * sizeof *w);
	ck_assert_ptr_nonnull(w);
	memcpy(w, wf.params, wf.n_params * sizeof *w);
	*n = wf.n_params;
	nncc_weights_file_fini(&wf);
	return w;
}

/* One line per layer and pass, in order, each with a finite loss, and
 * the last pass's loss below the first's. */
START_TEST(test_driver_lines)
{
	static const char *const names[2] = {"hidden", "hidden2"};
	static const size_t widths[2][2] = {{100, 96}, {96, 64}};
	char *out = drive("drv_pt", "--seed 9 --threads 1"), *at = out;
	for (size_t i = 0; i < 2; i++) {
		double first = NAN;
		for (size_t e = 1; e <= PT_EPOCHS; e++) {
			char want[160], loss[32];
			size_t n = 0;
			double l;
			snprintf(want, sizeof want, "ptd: pretrain %zu/2 layer \"%s\" (%zu->%zu->%zu): "
			         "epoch %zu/%d, ", i + 1, names[i], widths[i][0], widths[i][1],
			         widths[i][0], e, PT_EPOCHS);
			char *line = strstr(at, want);
			ck_assert_msg(line != NULL, "no line \"%s...\" (in order) in:\n%s", want, out);
			line += strlen(want);
			ck_assert_msg(sscanf(line, "%31s %lf per sample%zn", loss, &l, &n) == 2 && n > 0,
			              "cannot read the loss in: %.80s", line);
			ck_assert_str_eq(loss, "squared_error");
			ck_assert_msg(isfinite(l) && l > 0, "layer %s epoch %zu: loss %g", names[i], e, l);
			if (e == 1)
				first = l;
			else
				ck_assert_msg(l < first, "layer %s: epoch %zu's loss %g is not below epoch 1's %g",
				              names[i], e, l, first);
			at = line;
		}
	}
	ck_assert_msg(strstr(at, "ptd: pretrain") == NULL, "more pretrain lines than 2 x 2:\n%s", out);
	free(out);
	out = drive("drv_pt", "--seed 9 --threads 1 --quiet");
	ck_assert_msg(strstr(out, "pretrain 1/2") == NULL, "--quiet prints:\n%s", out);
	free(out);
}
END_TEST

/* The same seed: the same bytes in two runs, and with 2 threads (on the
 * pool); another seed: other weights. */
START_TEST(test_driver_deterministic)
{
	char *a = tu_path(scratch, "det_a.w"), *b = tu_path(scratch, "det_b.w"),
	     *c = tu_path(scratch, "det_c.w"), *d = tu_path(scratch, "det_d.w");
	free(drive("drv_pt", "--seed 9 --threads 1 --quiet --save %s", a));
	free(drive("drv_pt", "--seed 9 --threads 1 --quiet --save %s", b));
	ck_assert_msg(tu_same_file(a, b), "two runs with seed 9: %s and %s differ", a, b);
	char *src = tu_path(scratch, "drv_pt/net.c"), *text = tu_read_file(src, NULL);
	ck_assert_msg(strstr(text, "#define POOL_ROWS 1\n"), "%s: the row passes are not on the "
	              "thread pool (plan.c's threshold?): 1 and 2 threads would run alike", src);
	free(text);
	free(src);
	char *json = drive("drv_pt", "--seed 9 --threads 2 --quiet --json --save %s", c);
	ck_assert_msg(strstr(json, "\"threads\": 2,"), "the pool is not used: %s", json);
	free(json);
	ck_assert_msg(tu_same_file(a, c), "seed 9 with 1 and 2 threads: %s and %s differ", a, c);
	free(drive("drv_pt", "--seed 10 --threads 1 --quiet --save %s", d));
	ck_assert_msg(!tu_same_file(a, d), "seeds 9 and 10 give the same weights");
	free(a);
	free(b);
	free(c);
	free(d);
}
END_TEST

/* The chunked step (nncc_group_pretrain: pretrain_grad, the encoder's and
 * decoder's gradients gathered and put back, pretrain_update) with one
 * chunk is pretrain_step: --chunks 1 writes the bytes of --chunks 0 (whose
 * supervised step is the same one chain); with 3 chunks, other bits (the
 * batch's sums in another order) that train as well. */
START_TEST(test_driver_chunks)
{
	char *a = tu_path(scratch, "ch_a.w"), *b = tu_path(scratch, "ch_b.w"),
	     *c = tu_path(scratch, "ch_c.w"), *d = tu_path(scratch, "ch_d.w");
	free(drive("drv_pt", "--seed 9 --threads 1 --quiet --chunks 0 --save %s", a));
	free(drive("drv_pt", "--seed 9 --threads 1 --quiet --chunks 1 --save %s", b));
	ck_assert_msg(tu_same_file(a, b), "--chunks 0 and --chunks 1: %s and %s differ", a, b);
	char *one = drive("drv_pt", "--seed 9 --threads 1 --chunks 0 --iterations 0 --save %s", c);
	char *three = drive("drv_pt", "--seed 9 --threads 1 --chunks 3 --iterations 0 --save %s", d);
	ck_assert_msg(!tu_same_file(c, d), "pre-training with --chunks 3 gives the bits of one "
	              "chain: the chunks are not in use");
	/* the last pass's mean loss of each layer: the same to 1e-4 */
	const char *p = one, *q = three;
	int lines = 0;
	while ((p = strstr(p, "epoch 2/2, squared_error ")) &&
	       (q = strstr(q, "epoch 2/2, squared_error "))) {
		double lp = strtod(p + 25, NULL), lq = strtod(q + 25, NULL);
		ck_assert_msg(lp > 0 && fabs(lp - lq) <= 1e-4 * lp, "--chunks 0 and 3 pre-train "
		              "apart (%g, %g):\n%s\n%s", lp, lq, one, three);
		p++, q++, lines++;
	}
	ck_assert_msg(lines >= 2, "no pre-training lines:\n%s", three);
	free(one);
	free(three);
	free(a);
	free(b);
	free(c);
	free(d);
}
END_TEST

/* --pretrain-epochs 0 is the network without `pretrain:` (the same
 * initial weights and training stream: the driver's pre-training draws
 * from streams of its own); with pre-training the weights differ.  After
 * pre-training alone (--iterations 0), only the encoders have moved: the
 * output layer has the initial weights. */
START_TEST(test_driver_skip)
{
	char *s = tu_path(scratch, "skip_0.w"), *n = tu_path(scratch, "skip_nopt.w"),
	     *p = tu_path(scratch, "skip_pt.w"), *i0 = tu_path(scratch, "skip_pt_i0.w"),
	     *n0 = tu_path(scratch, "skip_nopt_i0.w");
	char *out = drive("drv_pt", "--seed 9 --pretrain-epochs 0 --save %s", s);
	ck_assert_msg(strstr(out, "pretrain 1/") == NULL, "--pretrain-epochs 0 pre-trains:\n%s", out);
	free(out);
	free(drive("drv_nopt", "--seed 9 --quiet --save %s", n));
	ck_assert_msg(tu_same_file(s, n), "--pretrain-epochs 0 (%s) and no pretrain section (%s) "
	              "differ", s, n);
	free(drive("drv_pt", "--seed 9 --quiet --save %s", p));
	ck_assert_msg(!tu_same_file(p, n), "pre-training changed nothing: %s and %s are the same",
	              p, n);

	free(drive("drv_pt", "--seed 9 --quiet --iterations 0 --save %s", i0));
	free(drive("drv_nopt", "--seed 9 --quiet --iterations 0 --save %s", n0));
	size_t np, nn;
	double *wp = weights_of(i0, &np), *wn = weights_of(n0, &nn);
	ck_assert_uint_eq(np, nn);
	/* hidden: W 100x96 + b 96; hidden2: W 96x64 + b 64; out: W 64x4 + b 4 */
	const size_t ends[3] = {100 * 96 + 96, 100 * 96 + 96 + 96 * 64 + 64, np};
	size_t moved[3] = {0}, from = 0;
	for (int l = 0; l < 3; l++) {
		for (size_t k = from; k < ends[l]; k++)
			moved[l] += memcmp(&wp[k], &wn[k], sizeof wp[k]) != 0;
		ck_assert_msg(l == 2 ? moved[l] == 0 : moved[l] * 2 > ends[l] - from,
		              "after pre-training alone, %zu of the %zu weights of layer %d differ from "
		              "the initial ones", moved[l], ends[l] - from, l);
		from = ends[l];
	}
	free(wp);
	free(wn);
	free(s);
	free(n);
	free(p);
	free(i0);
	free(n0);
}
END_TEST

/* The float64 networks as gu_build's jobs, the driver's trainers beside
 * them. */
static void build(void)
{
	GuJob jobs[N_NETS];
	char *out = NULL;
	drivers_start();
	for (size_t k = 0; k < N_NETS; k++) {
		char name[64], text[2048];
		snprintf(name, sizeof name, "%s.yaml", nets[k].id);
		char *path = tu_path(scratch, name);
		snprintf(text, sizeof text,
		         "network: %s\ninput: %d\ndtype: float64\nlayers:\n%s"
		         "training:\n  learning_rate: 0.1\n  batch_size: %d\n  iterations: 1\n"
		         "data:\n  normalize: scale\n"
		         "pretrain:\n  epochs: 1\n  loss: %s\n  noise: %g\n  optimizer: momentum\n"
		         "  momentum: 0.9\n  layers: [h1, h2, h4]\n%s",
		         nets[k].id, N_IN, net_layers, B, nets[k].loss, nets[k].noise,
		         nets[k].tied ? "  tied: true\n" : "");
		if (tu_write_text(path, text) != 0)
			abort();
		free(path);
		jobs[k].id = nets[k].id;
	}
	if (gu_build(scratch, jobs, N_NETS, &out) != 0)
		fprintf(stderr, "check_pretrain: some networks did not build:\n%s", out ? out : "");
	free(out);
	drivers_wait();
}

static Suite *pretrain_suite(void)
{
	Suite *s = suite_create("pretrain");
	TCase *tc = tcase_create("pretrain_step");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_layout, 0, (int)N_NETS);
	tcase_add_loop_test(tc, test_gradients, 0, (int)(N_NETS * N_AE));
	tcase_add_loop_test(tc, test_loss_value, 0, (int)(N_CLEAN * N_AE));
	tcase_add_loop_test(tc, test_momentum, 0, (int)(N_MOMENTUM * N_AE));
	tcase_add_loop_test(tc, test_noise_masks, 0, (int)(N_NETS * N_AE));
	tcase_add_loop_test(tc, test_halves, 0, (int)(N_NETS * N_AE));
	suite_add_tcase(s, tc);
	TCase *drv = tcase_create("driver");
	tcase_set_timeout(drv, 120);
	tcase_add_test(drv, test_driver_lines);
	tcase_add_test(drv, test_driver_deterministic);
	tcase_add_test(drv, test_driver_chunks);
	tcase_add_test(drv, test_driver_skip);
	suite_add_tcase(s, drv);
	return s;
}

int main(void)
{
	scratch = tu_mkdtemp();
	build();
	return tu_suite_main(pretrain_suite(), scratch);
}
