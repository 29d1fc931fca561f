/*
 * check_reference.c - holds every generated trainer to the reference
 * backprop (tests/reference/).  For a seeded matrix of networks plus every
 * network in examples/, in float32 and float64, it generates and compiles
 * the trainer (-O2, as a shared object), loads identical weights and data
 * into it and into the reference, runs SGD steps with batch sizes 1, 3, 20
 * and the whole small data set (tiled like the driver when it exceeds
 * max_batch) and compares outputs, loss, deltas, gradients and weights.
 * Also: the reference's own unit tests, and 20-step trajectories on MNIST.
 * Vocabulary: B = batch, N = samples in the data set, K = SGD steps,
 * tile = at most max_batch samples handed to one entry point.
 * How to read a failure and rerun one network: docs/testing.md.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nncc.h"       /* runtime ABI: first on the include path */
#include "ref.h"        /* the reference, and the compiler's IR */
#include "genutil.h"
#include "testutil.h"

/* Element k of a tensor passes if
 *     |gen_k - ref_k| / max(M_k, FLOOR) <= TOL
 * where M_k >= |ref_k| is the reference's magnitude for it (ref_bounds):
 * rounding error in a sum is proportional to its terms, not to its result,
 * so an element that cancels to near zero is judged relative to the size of
 * what it was computed from.  Where nothing cancels, M_k = |ref_k| up to
 * small factors.  docs/testing.md has the why and the measurements. */
#define TOL_F64 1e-10
#define TOL_F32 1e-4
#define TOL_TRAJECTORY 1e-9
#define FLOOR 1e-6

#define K_EXPLICIT 3     /* SGD steps through forward/loss/backward/update */
#define K_FUSED 2        /* then steps through step() (when B <= max_batch) */
#define LR 0.1
#define N_GENERATED 25   /* networks drawn by the seeded generator */
#define MAX_DENSE 5
#define MAX_NETS 64

/* ---- the matrix */

typedef struct Net {
	char id[32];             /* "m07", or "ex_softmax" for examples/softmax.yaml */
	char desc[256];          /* one line: "784 -> 13 tanh -> 3 linear -> softmax, batch_size 20" */
	uint64_t seed;           /* weights and data */
	char example[256];       /* examples/X.yaml, or "" for a generated network */
	size_t inputs, n_dense, units[MAX_DENSE];
	Activation act[MAX_DENSE];
	char batch[24];          /* YAML batch_size */
} Net;

typedef struct Case {
	const Net *net;
	int f64;
	char id[48];             /* "m07_f32": file stem and network name */
} Case;

static struct {
	uint64_t seed;           /* NNCC_TEST_SEED */
	const char *only;        /* NNCC_TEST_NET */
	char *dir;               /* scratch */
	Net nets[MAX_NETS];
	size_t n_nets;
	Case cases[2 * MAX_NETS];
	size_t n_cases;
} G;

static const char *const act_names[] = {
#define X(e, name, fwd, deriv) [e] = name,
	NNCC_ACTIVATIONS(X)
#undef X
};

/* A deck deals every value once, in a seeded order, before reshuffling:
 * each size and activation is covered, and the combinations vary. */
typedef struct Deck {
	const size_t *v;
	size_t n, next;
	size_t order[16];
} Deck;

static size_t deck_deal(Deck *d, nncc_rng_t *r)
{
	if (d->next == 0 || d->next == d->n) {
		for (size_t i = 0; i < d->n; i++)
			d->order[i] = i;
		nncc_rng_shuffle(r, d->order, d->n);
		d->next = 0;
	}
	return d->v[d->order[d->next++]];
}

static void net_describe(Net *n)
{
	char d[sizeof n->desc];
	int len = snprintf(d, sizeof d, "%zu", n->inputs);
	for (size_t l = 0; l < n->n_dense; l++)
		len += snprintf(d + len, sizeof d - (size_t)len, " -> %zu %s", n->units[l],
		                act_names[n->act[l]]);
	snprintf(d + len, sizeof d - (size_t)len, " -> softmax, batch_size %s", n->batch);
	memcpy(n->desc, d, sizeof d);
}

/* Networks m00.. from the base seed: depth 1-4 hidden layers (i % 4 + 1)
 * plus the output layer; inputs, units, classes, activations and batch
 * sizes dealt from decks.  Only the last has a single class: its gradient
 * is identically zero, so it tests the shapes but can catch no maths. */
static void matrix_generate(uint64_t seed)
{
	static const size_t inputs[] = {1, 2, 3, 7, 13, 17, 33, 100, 784};
	static const size_t units[] = {1, 2, 3, 7, 13, 17, 33, 100};
	static const size_t classes[] = {2, 3, 7, 10, 13, 17};
	static const size_t acts[] = {ACT_LINEAR, ACT_SIGMOID, ACT_TANH, ACT_RELU};
	static const size_t batches[] = {1, 3, 20, 0};
	Deck di = {inputs, 9, 0, {0}}, du = {units, 8, 0, {0}}, dc = {classes, 6, 0, {0}};
	Deck da = {acts, 4, 0, {0}}, dout = {acts, 4, 0, {0}}, db = {batches, 4, 0, {0}};
	nncc_rng_t r;

	nncc_rng_seed(&r, seed);
	for (size_t i = 0; i < N_GENERATED; i++) {
		Net *n = &G.nets[G.n_nets++];
		snprintf(n->id, sizeof n->id, "m%02zu", i);
		n->seed = nncc_rng_next(&r);
		n->inputs = deck_deal(&di, &r);
		n->n_dense = i % 4 + 2;
		for (size_t l = 0; l + 1 < n->n_dense; l++) {
			n->units[l] = deck_deal(&du, &r);
			n->act[l] = (Activation)deck_deal(&da, &r);
		}
		n->units[n->n_dense - 1] = deck_deal(&dc, &r);
		if (i + 1 == N_GENERATED)   /* one degenerate softmax: 1 class, loss 0 */
			n->units[n->n_dense - 1] = 1;
		n->act[n->n_dense - 1] = (Activation)deck_deal(&dout, &r);
		size_t b = deck_deal(&db, &r);
		if (b)
			snprintf(n->batch, sizeof n->batch, "%zu", b);
		else
			snprintf(n->batch, sizeof n->batch, "full");
		net_describe(n);
	}
}

/* The reference experiments' networks, verbatim from examples/. */
static void matrix_examples(uint64_t seed)
{
	char *list = NULL;
	if (tu_run(&list, "ls examples/*.yaml 2>/dev/null") != 0) {
		free(list);
		return;
	}
	for (char *s = strtok(list, "\n"); s && G.n_nets < MAX_NETS; s = strtok(NULL, "\n")) {
		Net *n = &G.nets[G.n_nets++];
		const char *base = strrchr(s, '/') ? strrchr(s, '/') + 1 : s;
		int len = snprintf(n->id, sizeof n->id, "ex_%s", base);
		n->id[len - 5] = 0;   /* drop ".yaml" */
		for (char *p = n->id; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
				*p = '_';
		snprintf(n->example, sizeof n->example, "%s", s);
		snprintf(n->desc, sizeof n->desc, "%s as written", s);
		/* keyed by the name, so a new example does not change the others */
		uint64_t h = 0xcbf29ce484222325ULL;
		for (const char *p = n->id; *p; p++)
			h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
		n->seed = seed ^ h;
	}
	free(list);
}

static int selected(const char *id)
{
	if (!G.only || !*G.only)
		return 1;
	size_t k = strlen(G.only);
	return strncmp(id, G.only, k) == 0 && (id[k] == 0 || id[k] == '_');
}

/* The YAML the case is compiled from. */
static char *case_yaml(const Case *c)
{
	const Net *n = c->net;
	Buf b;

	buf_init(&b);
	if (n->example[0]) {
		char *text = NULL;
		if (tu_run(&text, "cat %s", n->example) != 0)
			abort();
		buf_puts(&b, text);
		free(text);
		if (c->f64)
			buf_puts(&b, "\ndtype: float64\n");
		return b.data;
	}
	buf_printf(&b, "# %s (test matrix, seed %llu)\nnetwork: %s\ninput: %zu\ndtype: %s\nlayers:\n",
	           n->desc, (unsigned long long)G.seed, c->id, n->inputs,
	           c->f64 ? "float64" : "float32");
	for (size_t l = 0; l < n->n_dense; l++)
		buf_printf(&b, "  - type: dense\n    units: %zu\n    activation: %s\n", n->units[l],
		           act_names[n->act[l]]);
	buf_printf(&b, "  - type: softmax\nloss: cross_entropy\ntraining:\n"
	               "  learning_rate: %g\n  batch_size: %s\n  iterations: 1\n",
	           LR, n->batch);
	return b.data;
}

static char *case_path(const Case *c, const char *ext)
{
	char name[128];
	snprintf(name, sizeof name, "%s.%s", c->id, ext);
	return tu_path(G.dir, name);
}

/* ---- reading and writing the generated model's reals */

static double rget(const nncc_model_t *m, const void *p, size_t k)
{
	return m->dtype == NNCC_F32 ? (double)((const float *)p)[k] : ((const double *)p)[k];
}

static void rset(const nncc_model_t *m, void *p, size_t k, double v)
{
	if (m->dtype == NNCC_F32)
		((float *)p)[k] = (float)v;
	else
		((double *)p)[k] = v;
}

/* v as the model stores it (rounded to float for float32), so the reference
 * starts from exactly the generated code's values. */
static double rround(const nncc_model_t *m, double v)
{
	return m->dtype == NNCC_F32 ? (double)(float)v : v;
}

/* ---- comparison */

/* Where a comparison happens, for the failure message. */
typedef struct Where {
	const Case *c;
	const nncc_model_t *gm;
	double tol;
	size_t B, step, tile;    /* tile: ALL_TILES once the batch is done */
	const char *phase;       /* "explicit", "step()", "trajectory" */
} Where;

#define ALL_TILES ((size_t)-1)

/* The largest error/TOL seen by this process (one case: Check forks). */
static double worst_ratio;

static double relerr(double got, double want, double floor)
{
	if (isnan(got) != isnan(want))
		return INFINITY;
	if (isnan(got))
		return 0;
	return fabs(got - want) / fmax(fabs(want), floor);
}

/* Compares got[k] with want[k]; `width` > 0 names indices [sample][unit],
 * width == 0 names parameters.  On failure prints the case, the tensor, the
 * first and the worst offending index with both values, and fails. */
static void check_tensor(const Where *w, const char *tensor, const double *got,
                         const double *want, const double *mag, size_t count, size_t width)
{
	size_t bad = 0, first = 0, worst = 0;
	double maxerr = 0;

	for (size_t k = 0; k < count; k++) {
		double e = relerr(got[k], want[k], fmax(mag[k], FLOOR));
		if (e > w->tol && bad++ == 0)
			first = k;
		if (e > maxerr || (isinf(e) && !isinf(maxerr))) {
			maxerr = e;
			worst = k;
		}
	}
	worst_ratio = fmax(worst_ratio, maxerr / w->tol);
	if (bad == 0)
		return;
	char where[2][160];
	size_t idx[2] = {first, worst};
	for (int i = 0; i < 2; i++) {
		if (width)
			snprintf(where[i], sizeof where[i], "[%zu][%zu]", idx[i] / width, idx[i] % width);
		else
			gu_param_name(where[i], sizeof where[i], w->gm, idx[i]);
	}
	const Net *n = w->c->net;
	char msg[2048], tile[32] = "after the last tile";
	if (w->tile != ALL_TILES)
		snprintf(tile, sizeof tile, "tile %zu", w->tile);
	snprintf(msg, sizeof msg,
	         "%s (net seed %llu): %s, %s, max_batch %zu\n"
	         "  batch %zu, %s SGD step %zu, %s: %s differs in %zu of %zu elements "
	         "(tolerance %.0e relative to max(M, %.0e), M = the reference's magnitude):\n"
	         "  first %s (index %zu): generated %.17g, reference %.17g, M %.3g, error %.3g\n"
	         "  worst %s (index %zu): generated %.17g, reference %.17g, M %.3g, error %.3g\n"
	         "  rerun: NNCC_TEST_SEED=%llu NNCC_TEST_NET=%s build/tests/check_reference; "
	         "YAML: %s/%s.yaml",
	         w->c->id, (unsigned long long)n->seed, n->desc, w->c->f64 ? "float64" : "float32",
	         w->gm->max_batch, w->B, w->phase, w->step, tile, tensor, bad, count, w->tol,
	         FLOOR, where[0], first, got[first], want[first], mag[first],
	         relerr(got[first], want[first], fmax(mag[first], FLOOR)),
	         where[1], worst, got[worst], want[worst], mag[worst], maxerr, (unsigned long long)G.seed,
	         w->c->id, G.dir, w->c->id);
	fprintf(stderr, "FAIL %s\n", msg);
	ck_assert_msg(0, "%s", msg);
}

static void check_scalar(const Where *w, const char *what, double got, double want,
                         double mag)
{
	check_tensor(w, what, &got, &want, &mag, 1, 1);
}

/* ---- loading a case */

typedef struct Loaded {
	Ctx ctx;
	Model *model;            /* the front end's IR, for the reference */
	void *handle;
	const nncc_model_t *gm;  /* the generated trainer */
} Loaded;

static void case_load(Loaded *L, const Case *c)
{
	char *yaml = case_path(c, "yaml");
	char err[1024];

	char *why = gu_failure(G.dir, c->id);
	ck_assert_msg(why == NULL, "%s (%s): did not build:\n%s", c->id, c->net->desc, why);
	ctx_init(&L->ctx, stderr);
	L->model = model_load(&L->ctx, yaml);
	ck_assert_msg(L->model != NULL, "%s: the front end rejected %s", c->id, yaml);
	L->gm = gu_load(G.dir, c->id, L->model->name, &L->handle, err, sizeof err);
	ck_assert_msg(L->gm != NULL, "%s: %s", c->id, err);
	free(yaml);

	/* The descriptor agrees with the IR the reference walks. */
	const nncc_model_t *gm = L->gm;
	const Model *m = L->model;
	ck_assert_int_eq(gm->abi_version, NNCC_ABI_VERSION);
	ck_assert_int_eq(gm->dtype, c->f64 ? NNCC_F64 : NNCC_F32);
	ck_assert_uint_eq(gm->n_inputs, m->inputs);
	ck_assert_uint_eq(gm->n_outputs, m->outputs);
	ck_assert_uint_eq(gm->n_params, m->n_params);
	ck_assert_uint_eq(gm->n_layers, m->n_layers);
	ck_assert_uint_ge(gm->max_batch, 1);
	for (size_t l = 0; l < m->n_layers; l++) {
		const nncc_layer_t *g = &gm->layers[l];
		const Layer *r = &m->layers[l];
		ck_assert_msg(g->in == r->in && g->out == r->out, "%s layer %zu: %zu->%zu, IR %zu->%zu",
		              c->id, l, g->in, g->out, r->in, r->out);
		ck_assert_int_eq(g->kind, r->kind == LAYER_DENSE ? NNCC_LAYER_DENSE : NNCC_LAYER_SOFTMAX);
		if (r->kind == LAYER_DENSE) {
			ck_assert_uint_eq(g->w_offset, r->w_offset);
			ck_assert_uint_eq(g->b_offset, r->b_offset);
			ck_assert_str_eq(g->activation, act_names[r->act]);
			ck_assert_ptr_nonnull(gm->tensor(NNCC_T_DELTA, l));
		} else {
			ck_assert_ptr_null(gm->tensor(NNCC_T_DELTA, l));
		}
		ck_assert_ptr_nonnull(gm->tensor(NNCC_T_ACT, l));
	}
	ck_assert_ptr_null(gm->tensor(NNCC_T_ACT, m->n_layers));
}

static void case_unload(Loaded *L)
{
	dlclose(L->handle);
	ctx_fini(&L->ctx);
}

/* ---- one comparison run */

/* The data and a scratch area for one case, in both representations. */
typedef struct Samples {
	size_t N;
	double *x;               /* [N][IN], values exactly representable in the dtype */
	void *gx;                /* the same in the model's dtype */
	int32_t *y;              /* [N] */
	double *got;             /* scratch for converted generated tensors */
	double *mparams;         /* [n_params] magnitude of each weight: |initial| +
	                            lr * the gradient magnitudes of every step so far */
} Samples;

static void data_make(Samples *d, const nncc_model_t *gm, size_t N, nncc_rng_t *r)
{
	size_t rs = gm->dtype == NNCC_F32 ? sizeof(float) : sizeof(double);
	size_t width = gm->n_params;
	for (size_t l = 0; l < gm->n_layers; l++)
		width = gm->layers[l].out * N > width ? gm->layers[l].out * N : width;
	d->N = N;
	d->x = calloc(N * gm->n_inputs, sizeof(double));
	d->gx = calloc(N * gm->n_inputs, rs);
	d->y = calloc(N, sizeof(int32_t));
	d->got = calloc(width, sizeof(double));
	d->mparams = calloc(gm->n_params, sizeof(double));
	ck_assert(d->x && d->gx && d->y && d->got && d->mparams);
	for (size_t k = 0; k < N * gm->n_inputs; k++) {
		d->x[k] = rround(gm, nncc_rng_normal(r));
		rset(gm, d->gx, k, d->x[k]);
	}
	for (size_t b = 0; b < N; b++)
		d->y[b] = (int32_t)nncc_rng_below(r, gm->n_outputs);
}

static void data_free(Samples *d)
{
	free(d->x);
	free(d->gx);
	free(d->y);
	free(d->got);
	free(d->mparams);
}

/* Fresh weights N(0, 1/IN) and biases N(0, 0.1^2), in both. */
static void weights_init(const nncc_model_t *gm, RefNet *ref, Samples *d, nncc_rng_t *r)
{
	for (size_t l = 0; l < gm->n_layers; l++) {
		const nncc_layer_t *L = &gm->layers[l];
		if (L->kind != NNCC_LAYER_DENSE)
			continue;
		for (size_t k = 0; k < L->in * L->out; k++)
			ref->params[L->w_offset + k] =
			    rround(gm, nncc_rng_normal(r) / sqrt((double)L->in));
		for (size_t k = 0; k < L->out; k++)
			ref->params[L->b_offset + k] = rround(gm, 0.1 * nncc_rng_normal(r));
	}
	for (size_t p = 0; p < gm->n_params; p++) {
		rset(gm, gm->params, p, ref->params[p]);
		d->mparams[p] = fabs(ref->params[p]);
	}
}

/* The reference's SGD update, and the weights' magnitudes with it. */
static void update_both(const nncc_model_t *gm, RefNet *ref, Samples *d, double lr, size_t B)
{
	gm->update(lr, B);
	ref_update(ref, lr);
	for (size_t p = 0; p < gm->n_params; p++)
		d->mparams[p] += lr * ref->mgrads[p];
}

static void compare_params(const Where *w, RefNet *ref, Samples *d, const char *what)
{
	for (size_t p = 0; p < w->gm->n_params; p++)
		d->got[p] = rget(w->gm, w->gm->params, p);
	check_tensor(w, what, d->got, ref->params, d->mparams, w->gm->n_params, 0);
}

/* The generated tensor `which` of every layer for the k samples of a tile
 * starting at sample `off` of the reference's batch, in the order the pass
 * computes them (ACT first to last, DELTA last to first), so the first
 * failure names the layer where the error starts. */
static void compare_layers(const Where *w, RefNet *ref, Samples *d, int which, size_t off,
                           size_t k)
{
	size_t nl = w->gm->n_layers;
	for (size_t t = 0; t < nl; t++) {
		size_t l = which == NNCC_T_ACT ? t : nl - 1 - t;
		const RefLayer *R = &ref->layers[l];
		const double *want = which == NNCC_T_ACT ? R->a : R->delta;
		const double *mag = which == NNCC_T_ACT ? R->ma : R->mdelta;
		if (!want)
			continue;
		const void *buf = w->gm->tensor(which, l);
		for (size_t q = 0; q < k * R->out; q++)
			d->got[q] = rget(w->gm, buf, q);
		char name[96];
		snprintf(name, sizeof name, "%s of layer %zu \"%s\"",
		         which == NNCC_T_ACT ? "ACT (output a)" : "DELTA (dL/dz)", l,
		         w->gm->layers[l].name);
		check_tensor(w, name, d->got, want + off * R->out, mag + off * R->out, k * R->out,
		             R->out);
	}
}

/* A relu unit whose z is within rounding of 0 may be on in one precision
 * and off in the other; from there on the two runs legitimately differ.
 * Returns 1 (and notes it) if a tile of k samples at `off` has such a unit
 * whose |z| is below the ACT tolerance; a flip with a larger z is left for
 * the ACT comparison to fail on. */
static int relu_kink(const Where *w, const RefNet *ref, size_t off, size_t k)
{
	for (size_t l = 0; l < ref->n_layers; l++) {
		const RefLayer *R = &ref->layers[l];
		if (R->kind != LAYER_DENSE || R->act != ACT_RELU)
			continue;
		const void *a = w->gm->tensor(NNCC_T_ACT, l);
		for (size_t q = 0; q < k * R->out; q++) {
			double z = R->z[off * R->out + q];
			if ((z > 0) != (rget(w->gm, a, q) > 0) &&
			    fabs(z) <= w->tol * fmax(R->mz[off * R->out + q], FLOOR)) {
				fprintf(stderr, "note: %s batch %zu step %zu: relu unit [%zu][%zu] of layer %zu "
				        "has z = %.3g, on one side of 0 here and the other there; the rest "
				        "of this run is not compared\n", w->c->id, w->B, w->step,
				        off + q / R->out, q % R->out, l, z);
				return 1;
			}
		}
	}
	return 0;
}

/* One SGD step on the B samples at x0/gx0 through forward/loss/backward/
 * update, tiled by max_batch like the driver, with every tensor compared.
 * Returns 0, or 1 if a relu kink made the run incomparable. */
static int step_explicit(Where *w, RefNet *ref, Samples *d, size_t first)
{
	const nncc_model_t *gm = w->gm;
	size_t B = w->B, rs = gm->dtype == NNCC_F32 ? sizeof(float) : sizeof(double);
	const double *x = d->x + first * gm->n_inputs;
	const char *gx = (const char *)d->gx + first * gm->n_inputs * rs;
	const int32_t *y = d->y + first;

	ref_forward(ref, B, x);
	double ref_sum = ref_loss(ref, B, y) * (double)B;
	ref_backward(ref, B, x, y);
	ref_bounds(ref, B, x, y);

	double loss = 0;
	w->tile = 0;
	for (size_t off = 0; off < B; off += gm->max_batch, w->tile++) {
		size_t k = B - off < gm->max_batch ? B - off : gm->max_batch;
		const void *xt = gx + off * gm->n_inputs * rs;
		gm->forward(k, xt);
		if (relu_kink(w, ref, off, k))
			return 1;
		compare_layers(w, ref, d, NNCC_T_ACT, off, k);
		loss += gm->loss(k, y + off);
		gm->backward(k, xt, y + off, off > 0);
		compare_layers(w, ref, d, NNCC_T_DELTA, off, k);
	}
	w->tile = ALL_TILES;
	check_scalar(w, "loss (sum over the batch)", loss, ref_sum, ref->mloss * (double)B);
	for (size_t p = 0; p < gm->n_params; p++)
		d->got[p] = rget(gm, gm->grads, p) / (double)B;
	check_tensor(w, "grads / batch (mean gradient)", d->got, ref->grads, ref->mgrads,
	             gm->n_params, 0);
	update_both(gm, ref, d, LR, B);
	compare_params(w, ref, d, "params after update");
	return 0;
}

/* One SGD step through step() (B <= max_batch): loss and weights.  Returns
 * 1 if a relu kink made the run incomparable, else 0. */
static int step_fused(Where *w, RefNet *ref, Samples *d, size_t first)
{
	const nncc_model_t *gm = w->gm;
	size_t rs = gm->dtype == NNCC_F32 ? sizeof(float) : sizeof(double);
	const double *x = d->x + first * gm->n_inputs;

	ref_forward(ref, w->B, x);
	double ref_sum = ref_loss(ref, w->B, d->y + first) * (double)w->B;
	ref_backward(ref, w->B, x, d->y + first);
	ref_bounds(ref, w->B, x, d->y + first);
	ref_update(ref, LR);
	for (size_t p = 0; p < gm->n_params; p++)
		d->mparams[p] += LR * ref->mgrads[p];
	w->tile = ALL_TILES;
	double loss = gm->step(w->B, (const char *)d->gx + first * gm->n_inputs * rs,
	                       d->y + first, LR);
	if (relu_kink(w, ref, 0, w->B))   /* ACT still holds step()'s forward pass */
		return 1;
	check_scalar(w, "step() loss (sum over the batch)", loss, ref_sum, ref->mloss * (double)w->B);
	compare_params(w, ref, d, "params after step()");
	return 0;
}

/* The data set size: more than one tile of max_batch (so the full batch
 * exercises accumulation), at least 23 so a batch of 20 fits. */
static size_t data_size(size_t max_batch)
{
	size_t N = max_batch < 64 ? 2 * max_batch + 3 : max_batch + 3;
	return N < 23 ? 23 : N;
}

START_TEST(test_matrix)
{
	const Case *c = &G.cases[_i];
	Loaded L;
	char err[512];
	nncc_rng_t r;

	case_load(&L, c);
	const nncc_model_t *gm = L.gm;
	if (gm->set_threads)   /* results must not depend on it; fixed per network */
		gm->set_threads(1 + (int)((size_t)(c->net - G.nets) + (size_t)c->f64) % 2);
	nncc_rng_seed(&r, c->net->seed);
	Samples d;
	data_make(&d, gm, data_size(gm->max_batch), &r);
	RefNet *ref = ref_new(L.model, d.N, err, sizeof err);
	ck_assert_msg(ref != NULL, "%s: reference: %s", c->id, err);

	const size_t batches[] = {1, 3, 20, d.N};
	size_t pbytes = gm->n_params * (gm->dtype == NNCC_F32 ? sizeof(float) : sizeof(double));
	unsigned char *trained = malloc(4 * pbytes + 1);
	ck_assert_ptr_nonnull(trained);
	for (size_t bi = 0; bi < 4; bi++) {
		Where w = {c, gm, c->f64 ? TOL_F64 : TOL_F32, batches[bi], 0, 0, "explicit"};
		int kink = 0;
		weights_init(gm, ref, &d, &r);
		compare_params(&w, ref, &d, "params as loaded");
		size_t span = d.N - w.B + 1;   /* batch s starts at sample (s*B) % span */
		for (w.step = 0; w.step < K_EXPLICIT && !kink; w.step++)
			kink = step_explicit(&w, ref, &d, w.step * w.B % span);
		if (w.B <= gm->max_batch) {
			w.phase = "step()";
			for (; w.step < K_EXPLICIT + K_FUSED && !kink; w.step++)
				kink = step_fused(&w, ref, &d, w.step * w.B % span);
		}
		memcpy(trained + bi * pbytes, gm->params, pbytes);
	}
	/* The trained bits are pinned (tests/golden/reference.sha256): a redesign
	 * of the generated code must not change a single one. */
	if (G.seed == 1) {
		char hex[65];
		nncc_sha256_hex(trained, 4 * pbytes, hex);
		char *why = tu_golden("tests/golden/reference.sha256", c->id, hex);
		ck_assert_msg(why == NULL, "%s (after the 4 batch sizes' steps)", why);
	}
	free(trained);
	if (getenv("NNCC_TEST_VERBOSE"))
		fprintf(stderr, "%s: largest error %.2g of the tolerance (%s)\n", c->id, worst_ratio,
		        c->net->desc);
	ref_free(ref);
	data_free(&d);
	case_unload(&L);
}
END_TEST

/* ---- trajectory: 20 full-batch steps on 1000 MNIST images (or synthetic) */

#define TRAJ_N 1000
#define TRAJ_STEPS 20
#define TRAJ_LR 0.3

static const char *const traj_examples[] = {"ex_softmax", "ex_sigmoid50_fullbatch"};

/* 1000 images normalised as the examples say (standardize); real MNIST
 * when data/mnist has it, else seeded synthetic 28x28 images whose class
 * decides which of ten blocks is bright. */
static void traj_data(const nncc_model_t *gm, Samples *d, const char **source)
{
	nncc_dataset_t ds = {0};
	nncc_err_t err;
	nncc_norm_stats_t st = {0};
	size_t rs = gm->dtype == NNCC_F32 ? sizeof(float) : sizeof(double);

	d->N = TRAJ_N;
	d->x = calloc(TRAJ_N * 784, sizeof(double));
	d->gx = calloc(TRAJ_N * 784, rs);
	d->y = calloc(TRAJ_N, sizeof(int32_t));
	d->got = calloc(gm->n_params > TRAJ_N * 784 ? gm->n_params : TRAJ_N * 784, sizeof(double));
	d->mparams = calloc(gm->n_params, sizeof(double));
	ck_assert(d->x && d->gx && d->y && d->got && d->mparams);
	if (nncc_dataset_load(&ds, "data/mnist/train-images-idx3-ubyte",
	                      "data/mnist/train-labels-idx1-ubyte", &err) == 0 &&
	    ds.n >= TRAJ_N && ds.dim == 784) {
		ds.n = TRAJ_N;   /* the slice: first 1000 images (fit and apply) */
		*source = "data/mnist (first 1000 training images)";
	} else {
		nncc_dataset_fini(&ds);
		nncc_rng_t r;
		nncc_rng_seed(&r, 1000);
		ds.n = TRAJ_N;
		ds.dim = 784;
		ds.rows = ds.cols = 28;
		ds.n_classes = 10;
		ds.pixels = malloc(TRAJ_N * 784);
		ds.labels = malloc(TRAJ_N * sizeof(int32_t));
		ck_assert(ds.pixels && ds.labels);
		for (size_t b = 0; b < TRAJ_N; b++) {
			ds.labels[b] = (int32_t)nncc_rng_below(&r, 10);
			for (size_t p = 0; p < 784; p++) {
				int bright = p / 78 == (size_t)ds.labels[b];
				ds.pixels[b * 784 + p] = (uint8_t)nncc_rng_below(&r, bright ? 256 : 64);
			}
		}
		*source = "synthetic 784-pixel images (no data/mnist)";
	}
	ck_assert_int_eq(nncc_norm_fit(&st, NNCC_NORM_STANDARDIZE, &ds, &err), 0);
	nncc_norm_apply(&st, NNCC_F64, d->x, ds.pixels, TRAJ_N);
	nncc_norm_apply(&st, gm->dtype, d->gx, ds.pixels, TRAJ_N);
	for (size_t k = 0; k < TRAJ_N * 784; k++)
		d->x[k] = rround(gm, d->x[k]);
	memcpy(d->y, ds.labels, TRAJ_N * sizeof(int32_t));
	nncc_norm_fini(&st);
	nncc_dataset_fini(&ds);
}

START_TEST(test_trajectory)
{
	const Case *c = NULL;
	for (size_t i = 0; i < G.n_cases; i++)
		if (G.cases[i].f64 && strncmp(G.cases[i].id, traj_examples[_i],
		                              strlen(traj_examples[_i])) == 0)
			c = &G.cases[i];
	if (!c) {
		ck_assert_msg(G.only && *G.only, "examples/%s.yaml is missing from the matrix",
		              traj_examples[_i] + 3);
		return;   /* not selected by NNCC_TEST_NET */
	}
	Loaded L;
	char err[512];
	const char *source;
	case_load(&L, c);
	const nncc_model_t *gm = L.gm;
	ck_assert_uint_eq(gm->n_inputs, 784);
	Samples d;
	traj_data(gm, &d, &source);
	RefNet *ref = ref_new(L.model, TRAJ_N, err, sizeof err);
	ck_assert_msg(ref != NULL, "%s: reference: %s", c->id, err);
	nncc_init_params(gm, NNCC_INIT_NORMAL, 0.1, 1);
	for (size_t p = 0; p < gm->n_params; p++) {
		ref->params[p] = rget(gm, gm->params, p);
		d.mparams[p] = fabs(ref->params[p]);
	}

	Where w = {c, gm, TOL_TRAJECTORY, TRAJ_N, 0, ALL_TILES, "trajectory"};
	for (w.step = 0; w.step < TRAJ_STEPS; w.step++) {
		ref_forward(ref, TRAJ_N, d.x);
		double ref_sum = ref_loss(ref, TRAJ_N, d.y) * TRAJ_N;
		ref_backward(ref, TRAJ_N, d.x, d.y);
		ref_bounds(ref, TRAJ_N, d.x, d.y);
		double loss = 0;
		for (size_t off = 0; off < TRAJ_N; off += gm->max_batch) {
			size_t k = TRAJ_N - off < gm->max_batch ? TRAJ_N - off : gm->max_batch;
			const double *xt = (const double *)d.gx + off * 784;
			gm->forward(k, xt);
			loss += gm->loss(k, d.y + off);
			gm->backward(k, xt, d.y + off, off > 0);
		}
		update_both(gm, ref, &d, TRAJ_LR, TRAJ_N);
		check_scalar(&w, "loss (sum over the 1000 images)", loss, ref_sum, ref->mloss * TRAJ_N);
		compare_params(&w, ref, &d, "params after the step");
	}
	if (G.seed == 1) {   /* pinned like the matrix */
		char hex[65], id[128];
		nncc_sha256_hex(gm->params, gm->n_params * sizeof(double), hex);
		snprintf(id, sizeof id, "trajectory_%s_%s", c->id,
		         strncmp(source, "data/mnist", 10) == 0 ? "mnist" : "synthetic");
		char *why = tu_golden("tests/golden/reference.sha256", id, hex);
		ck_assert_msg(why == NULL, "%s (on %s)", why, source);
	}
	/* The trajectory went somewhere: the loss fell. */
	ref_forward(ref, TRAJ_N, d.x);
	double final = ref_loss(ref, TRAJ_N, d.y);
	ck_assert_msg(final < log(10.0) * 0.9, "%s on %s: loss after %d steps is %g", c->id,
	              source, TRAJ_STEPS, final);
	if (getenv("NNCC_TEST_VERBOSE"))
		fprintf(stderr, "%s trajectory on %s: largest error %.2g of the tolerance, loss %g\n",
		        c->id, source, worst_ratio, final);
	ref_free(ref);
	data_free(&d);
	case_unload(&L);
}
END_TEST

/* ---- the reference on its own: hand-computed values and finite differences */

/* Builds m: inputs -> dense units[k] (acts[k]) ... -> optional softmax, with
 * the parameters laid out layer after layer (W then b), as the compiler does. */
static void hand_model(Model *m, Layer *layers, size_t inputs, const size_t *units,
                       const Activation *acts, size_t n_dense, int softmax)
{
	size_t width = inputs, off = 0;

	memset(m, 0, sizeof *m);
	m->name = "hand";
	m->inputs = inputs;
	m->layers = layers;
	for (size_t l = 0; l < n_dense; l++) {
		Layer *L = &layers[l];
		memset(L, 0, sizeof *L);
		L->kind = LAYER_DENSE;
		L->in = width;
		L->out = units[l];
		L->act = acts[l];
		L->w_offset = off;
		L->b_offset = off + L->in * L->out;
		L->n_params = L->in * L->out + L->out;
		off += L->n_params;
		width = L->out;
	}
	if (softmax) {
		Layer *L = &layers[n_dense];
		memset(L, 0, sizeof *L);
		L->kind = LAYER_SOFTMAX;
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
	layers[1].w_offset = 2;   /* inside layer 0's weights */
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

static void reference_selftests(TCase *tc)
{
	tcase_add_test(tc, test_ref_bounds);
	tcase_add_test(tc, test_ref_hand);
	tcase_add_test(tc, test_ref_activations);
	tcase_add_loop_test(tc, test_ref_fd, 0, 4 * ACT_COUNT);
	tcase_add_test(tc, test_ref_rejects);
}

/* ---- setup */

static Suite *reference_suite(void)
{
	Suite *s = suite_create("reference");
	TCase *tc = tcase_create("reference_itself");
	reference_selftests(tc);
	suite_add_tcase(s, tc);

	tc = tcase_create("generated_vs_reference");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_matrix, 0, (int)G.n_cases);
	suite_add_tcase(s, tc);

	tc = tcase_create("trajectory");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_trajectory, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

/* Writes every selected case's YAML and builds them all with one make. */
static void matrix_build(void)
{
	GuJob jobs[2 * MAX_NETS];
	for (size_t i = 0; i < G.n_nets; i++) {
		if (!selected(G.nets[i].id))
			continue;
		for (int f64 = 0; f64 < 2; f64++) {
			Case *c = &G.cases[G.n_cases++];
			c->net = &G.nets[i];
			c->f64 = f64;
			snprintf(c->id, sizeof c->id, "%s_%s", G.nets[i].id, f64 ? "f64" : "f32");
			char *path = case_path(c, "yaml");
			char *text = case_yaml(c);
			if (tu_write_text(path, text) != 0)
				abort();
			free(text);
			free(path);
			jobs[G.n_cases - 1].id = c->id;
		}
	}
	char *out = NULL;
	if (gu_build(G.dir, jobs, G.n_cases, &out) != 0)
		fprintf(stderr, "check_reference: some networks did not build (their tests "
		                "fail with the reason):\n%s", out ? out : "");
	free(out);
}

int main(void)
{
	const char *s = getenv("NNCC_TEST_SEED");
	G.seed = s && *s ? strtoull(s, NULL, 0) : 1;
	G.only = getenv("NNCC_TEST_NET");
	G.dir = tu_mkdtemp();
	matrix_generate(G.seed);
	matrix_examples(G.seed);
	matrix_build();

	return tu_suite_main(reference_suite(), G.dir);
}
