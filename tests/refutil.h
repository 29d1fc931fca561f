/*
 * refutil.h - what the suites that hold generated trainers to the reference
 * backprop (check_reference, check_trajectory) share: the networks and their
 * cases (YAML in a scratch directory, all built with one make: genutil.h),
 * a case loaded next to the front end's IR it was compiled from, samples in
 * both representations, a batch through the generated entry points tiled as
 * the driver tiles it, the SGD update on both sides, and the comparison that
 * prints the tensor, index and values and fails.  Header-only.
 * Vocabulary: B = batch, N = samples, tile = at most max_batch samples handed
 * to one entry point, M = the reference's magnitude of an element.
 */
#ifndef NNCC_REFUTIL_H
#define NNCC_REFUTIL_H

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
#define FLOOR 1e-6

#define LR 0.1           /* the generated networks' YAML learning rate */
#define MAX_DENSE 5
#define MAX_NETS 96

/* ---- the networks and their cases */

typedef struct Net {
	char id[32];             /* "m07", or "ex_softmax" for examples/softmax.yaml */
	char desc[256];          /* one line: "784 -> 13 tanh -> 3 linear -> softmax, batch_size 20" */
	uint64_t seed;           /* weights and data */
	char example[256];       /* examples/X.yaml, or "" for a generated network */
	size_t inputs, n_dense, units[MAX_DENSE];
	Activation act[MAX_DENSE];
	char batch[24];          /* YAML batch_size */
	char optimizer[160];     /* YAML value of training.optimizer, "" = the default (sgd) */
	const char *loss;        /* YAML loss without a softmax layer; NULL: softmax,
	                            cross_entropy */
	double lr;               /* learning rate */
	size_t steps;            /* steps per batch size */
	unsigned drops;          /* bit l: a dropout layer before dense layer l (0: on the input) */
	double drop_rate[MAX_DENSE];
	const char *tail;        /* YAML appended verbatim (top-level `pretrain:`, `data:`);
	                            NULL: none */
} Net;

typedef struct Case {
	const Net *net;
	int f64;
	char id[48];             /* "m07_f32": file stem and network name */
} Case;

static struct {
	const char *suite;       /* "check_reference": names the binary in rerun hints */
	uint64_t seed;           /* NNCC_TEST_SEED */
	const char *only;        /* NNCC_TEST_NET */
	char *dir;               /* scratch */
	Net nets[MAX_NETS];
	size_t n_nets;
	Case cases[2 * MAX_NETS];
	size_t n_cases;
} G;

/* G from the environment, and a fresh scratch directory for the cases. */
static inline void matrix_setup(const char *suite)
{
	const char *s = getenv("NNCC_TEST_SEED");
	G.suite = suite;
	G.seed = s && *s ? strtoull(s, NULL, 0) : 1;
	G.only = getenv("NNCC_TEST_NET");
	G.dir = tu_mkdtemp();
}

/* The reference experiments' networks, verbatim from examples/. */
static inline void matrix_examples(uint64_t seed)
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
		n->lr = LR;
		/* keyed by the name, so a new example does not change the others */
		uint64_t h = 0xcbf29ce484222325ULL;
		for (const char *p = n->id; *p; p++)
			h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
		n->seed = seed ^ h;
	}
	free(list);
}

/* NNCC_TEST_NET names a network ("m07": both dtypes; "ex": every example)
 * or one case ("m07_f32"): whether it selects net id's case in that dtype. */
static inline int selected_case(const char *id, int f64)
{
	if (!G.only || !*G.only)
		return 1;
	size_t k = strlen(id), o = strlen(G.only);
	if (strncmp(id, G.only, o) == 0 && (id[o] == 0 || id[o] == '_'))
		return 1;
	return o == k + 4 && strncmp(G.only, id, k) == 0 &&
	       strcmp(G.only + k, f64 ? "_f64" : "_f32") == 0;
}

/* Whether NNCC_TEST_NET selects either of net id's cases. */
static inline int selected(const char *id)
{
	return selected_case(id, 0) || selected_case(id, 1);
}

/* The YAML the case is compiled from. */
static inline char *case_yaml(const Case *c)
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
	for (size_t l = 0; l < n->n_dense; l++) {
		if (n->drops >> l & 1)
			buf_printf(&b, "  - type: dropout\n    rate: %.17g\n", n->drop_rate[l]);
		buf_printf(&b, "  - type: dense\n    units: %zu\n    activation: %s\n", n->units[l],
		           activation_table[n->act[l]].name);
	}
	buf_printf(&b, "%sloss: %s\ntraining:\n  learning_rate: %.17g\n  batch_size: %s\n"
	               "  iterations: 1\n",
	           n->loss ? "" : "  - type: softmax\n", n->loss ? n->loss : "cross_entropy", n->lr,
	           n->batch);
	if (n->optimizer[0])
		buf_printf(&b, "  optimizer: %s\n", n->optimizer);
	if (n->tail)
		buf_puts(&b, n->tail);
	return b.data;
}

static inline char *case_path(const Case *c, const char *ext)
{
	char name[128];
	snprintf(name, sizeof name, "%s.%s", c->id, ext);
	return tu_path(G.dir, name);
}

/* Adds the case of net n in one dtype (its YAML is written by cases_build). */
static inline void case_add(const Net *n, int f64)
{
	Case *c = &G.cases[G.n_cases++];
	c->net = n;
	c->f64 = f64;
	snprintf(c->id, sizeof c->id, "%s_%s", n->id, f64 ? "f64" : "f32");
}

/* Writes every case's YAML and builds them all with one make. */
static inline void cases_build(void)
{
	GuJob jobs[2 * MAX_NETS];
	for (size_t i = 0; i < G.n_cases; i++) {
		char *path = case_path(&G.cases[i], "yaml");
		char *text = case_yaml(&G.cases[i]);
		if (tu_write_text(path, text) != 0)
			abort();
		free(text);
		free(path);
		jobs[i].id = G.cases[i].id;
	}
	char *out = NULL;
	if (gu_build(G.dir, jobs, G.n_cases, &out) != 0)
		fprintf(stderr, "%s: some networks did not build (their tests "
		                "fail with the reason):\n%s", G.suite, out ? out : "");
	free(out);
}

/* ---- reading and writing the generated model's reals */

static inline double rget(const nncc_model_t *m, const void *p, size_t k)
{
	return m->dtype == NNCC_F32 ? (double)((const float *)p)[k] : ((const double *)p)[k];
}

static inline void rset(const nncc_model_t *m, void *p, size_t k, double v)
{
	if (m->dtype == NNCC_F32)
		((float *)p)[k] = (float)v;
	else
		((double *)p)[k] = v;
}

/* v as the model stores it (rounded to float for float32), so the reference
 * starts from exactly the generated code's values. */
static inline double rround(const nncc_model_t *m, double v)
{
	return m->dtype == NNCC_F32 ? (double)(float)v : v;
}

/* Bytes per real in the model's dtype. */
static inline size_t rsize(const nncc_model_t *m)
{
	return m->dtype == NNCC_F32 ? sizeof(float) : sizeof(double);
}

/* ---- comparison */

/* Where a comparison happens, for the failure message. */
typedef struct Where {
	const Case *c;
	const nncc_model_t *gm;
	double tol;
	size_t B, step, tile;    /* tile: ALL_TILES once the batch is done */
	const char *phase;       /* "explicit", "step()", "trajectory" */
	double lr;               /* the learning rate of the steps */
} Where;

#define ALL_TILES ((size_t)-1)

/* The largest error/TOL seen by this process (one case: Check forks). */
static double worst_ratio;

static inline double relerr(double got, double want, double floor)
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
static inline void check_tensor(const Where *w, const char *tensor, const double *got,
                                const double *want, const double *mag, size_t count,
                                size_t width)
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
	         "  rerun: NNCC_TEST_SEED=%llu NNCC_TEST_NET=%s build/tests/%s; "
	         "YAML: %s/%s.yaml",
	         w->c->id, (unsigned long long)n->seed, n->desc, w->c->f64 ? "float64" : "float32",
	         w->gm->max_batch, w->B, w->phase, w->step, tile, tensor, bad, count, w->tol,
	         FLOOR, where[0], first, got[first], want[first], mag[first],
	         relerr(got[first], want[first], fmax(mag[first], FLOOR)),
	         where[1], worst, got[worst], want[worst], mag[worst], maxerr, (unsigned long long)G.seed,
	         w->c->id, G.suite, G.dir, w->c->id);
	fprintf(stderr, "FAIL %s\n", msg);
	ck_assert_msg(0, "%s", msg);
}

static inline void check_scalar(const Where *w, const char *what, double got, double want,
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

static inline void case_load(Loaded *L, const Case *c)
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
		ck_assert_str_eq(g->kind, r->kind->name);
		ck_assert_uint_eq(g->n_tensors, r->n_tensors);
		for (size_t t = 0; t < r->n_tensors; t++) {
			ck_assert_str_eq(g->tensors[t].name, r->tensors[t].name);
			ck_assert_uint_eq(g->tensors[t].offset, r->tensors[t].offset);
			ck_assert_uint_eq(g->tensors[t].size, r->tensors[t].size);
		}
		if (r->kind->has_activation)
			ck_assert_str_eq(g->activation, activation_table[r->act].name);
		else
			ck_assert_ptr_null(g->activation);
		/* a delta dL/dz exactly for the layers with parameters */
		ck_assert((gm->tensor(NNCC_T_DELTA, l) != NULL) == (r->n_tensors > 0));
		ck_assert_ptr_nonnull(gm->tensor(NNCC_T_ACT, l));
	}
	ck_assert_ptr_null(gm->tensor(NNCC_T_ACT, m->n_layers));
}

static inline void case_unload(Loaded *L)
{
	dlclose(L->handle);
	ctx_fini(&L->ctx);
}

/* ---- samples, and one batch on both sides */

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

static inline void data_free(Samples *d)
{
	free(d->x);
	free(d->gx);
	free(d->y);
	free(d->got);
	free(d->mparams);
}

/* The reference's pass over B samples: forward, backward (mean gradients)
 * and the magnitudes.  Returns its loss summed over the batch, as the
 * generated loss() counts it. */
static inline double reference_pass(RefNet *ref, size_t B, const double *x, const int32_t *y)
{
	ref_forward(ref, B, x);
	double sum = ref_loss(ref, B, y) * (double)B;
	ref_backward(ref, B, x, y);
	ref_bounds(ref, B, x, y);
	return sum;
}

/* Checks a tile's tensors `which` (NNCC_T_ACT after its forward pass,
 * NNCC_T_DELTA after its backward pass) for its k samples from `off` of the
 * batch; returns non-zero to stop the batch there. */
typedef int TileCheck(Where *w, RefNet *ref, Samples *d, int which, size_t off, size_t k);

/* w->B samples from sample `first` of d through the generated forward,
 * loss and backward, cut into tiles of at most max_batch samples as the
 * driver cuts them (the first tile with accumulate = 0, the rest with 1;
 * w->tile counts them).  *loss gets the loss summed over the batch.
 * Returns 0, or non-zero if `check` (may be NULL) stopped the batch. */
static inline int gen_batch(Where *w, RefNet *ref, Samples *d, size_t first, TileCheck *check,
                            double *loss)
{
	const nncc_model_t *gm = w->gm;
	size_t B = w->B, rs = rsize(gm);
	const char *gx = (const char *)d->gx + first * gm->n_inputs * rs;
	const int32_t *y = d->y + first;

	*loss = 0;
	w->tile = 0;
	for (size_t off = 0; off < B; off += gm->max_batch, w->tile++) {
		size_t k = B - off < gm->max_batch ? B - off : gm->max_batch;
		const void *xt = gx + off * gm->n_inputs * rs;
		if (gm->mask_key)   /* the reference's masks (NULL: no dropout) */
			gm->mask_key(ref->seed, ref->t + 1, off);
		gm->forward(k, xt);
		if (check && check(w, ref, d, NNCC_T_ACT, off, k))
			return 1;
		*loss += gm->loss(k, y + off);
		gm->backward(k, xt, y + off, off > 0);
		if (check && check(w, ref, d, NNCC_T_DELTA, off, k))
			return 1;
	}
	if (gm->mask_key)
		gm->mask_key(0, 0, 0);
	w->tile = ALL_TILES;
	return 0;
}

/* The generated code's nncc_update_t for the reference's next step: its
 * number, the descriptor's hyper-parameters (hp holds NNCC_MAX_HPARAMS). */
static inline nncc_update_t gen_update(const nncc_model_t *gm, const RefNet *ref, double lr,
                                       size_t B, double *hp)
{
	for (size_t k = 0; k < gm->n_hparams; k++)
		hp[k] = gm->hparams[k].value;
	return (nncc_update_t){lr, B, ref->t + 1, gm->n_hparams ? hp : NULL, ref->seed};
}

/* The weights' magnitudes after the reference's update: each grows by the
 * error scale of its change. */
static inline void update_magnitudes(RefNet *ref, Samples *d)
{
	for (size_t p = 0; p < ref->n_params; p++)
		d->mparams[p] += ref->mstep[p];
}

/* After both updates: an element whose update the reference could not
 * determine (a normalising optimizer on a gradient within its precision of
 * 0: the sign of the step is the rounding's) takes the generated code's
 * parameter and optimizer state, and the comparison goes on with it. */
static inline void sync_undetermined(const Where *w, RefNet *ref)
{
	const nncc_model_t *gm = w->gm;
	if (!ref->undetermined)
		return;
	for (size_t p = 0; p < gm->n_params; p++) {
		if (!ref->undet[p])
			continue;
		ref->params[p] = rget(gm, gm->params, p);
		for (size_t k = 0; k < gm->n_state; k++)
			ref->state[k * gm->n_params + p] = rget(gm, gm->state, k * gm->n_params + p);
	}
	if (getenv("NNCC_TEST_VERBOSE"))
		fprintf(stderr, "note: %s batch %zu step %zu: %zu update(s) of %s on a gradient "
		        "within %.0e of 0: taken from the generated code\n", w->c->id, w->B, w->step,
		        ref->undetermined, ref->opt->name, ref->noise);
}

/* One optimizer step's update on both sides (the generated update() and
 * the reference's), and the weights' magnitudes with it. */
static inline void update_both(const Where *w, RefNet *ref, Samples *d, double lr, size_t B)
{
	double hp[NNCC_MAX_HPARAMS];
	nncc_update_t u = gen_update(w->gm, ref, lr, B, hp);
	w->gm->update(&u);
	ref_update(ref, lr);
	update_magnitudes(ref, d);
	sync_undetermined(w, ref);
}

/* ---- a matrix suite's data, weights and main() */

/* N seeded samples, exactly representable in the model's dtype, and the
 * scratch the comparisons use (wide enough for any layer's tile). */
static inline void matrix_data(Samples *d, const nncc_model_t *gm, size_t N, nncc_rng_t *r)
{
	size_t rs = rsize(gm);
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

/* Fresh weights N(0, 1/IN) and biases N(0, 0.1^2), the same in both, and a
 * fresh optimizer on both sides. */
static inline void matrix_weights(const nncc_model_t *gm, RefNet *ref, Samples *d,
                                  nncc_rng_t *r)
{
	for (size_t l = 0; l < gm->n_layers; l++) {
		const nncc_layer_t *L = &gm->layers[l];
		for (size_t t = 0; t < L->n_tensors; t++) {   /* W (rows = fan-in), then b */
			const nncc_param_t *T = &L->tensors[t];
			for (size_t k = 0; k < T->size; k++)
				ref->params[T->offset + k] =
				    rround(gm, T->bias ? 0.1 * nncc_rng_normal(r)
				                       : nncc_rng_normal(r) / sqrt((double)T->rows));
		}
	}
	for (size_t p = 0; p < gm->n_params; p++) {
		rset(gm, gm->params, p, ref->params[p]);
		d->mparams[p] = fabs(ref->params[p]);
	}
	/* a fresh optimizer on both sides */
	ref_reset(ref);
	if (gm->n_state)
		memset(gm->state, 0, gm->n_state * gm->n_params * rsize(gm));
}

/* A matrix suite's main(): the selected cases, built at once, then `test`
 * once per case.  Without `thin` every network runs in both dtypes.  With
 * it (check_reference) both run for the examples, under NNCC_TEST_FULL
 * (make test-full) and when NNCC_TEST_NET names a network; else each
 * generated network runs in one, float32 and float64 in turn down the list
 * (the seed's parity picks the first): building the trainers is most of
 * the suite's time (docs/testing.md#make-test-and-make-test-full). */
static inline int matrix_run(const char *name, const TTest *test, int thin)
{
	int both = !thin || tu_full() || (G.only && *G.only);
	for (size_t i = 0; i < G.n_nets; i++) {
		const Net *n = &G.nets[i];
		int all = both || strncmp(n->id, "ex_", 3) == 0;
		for (int f64 = 0; f64 < 2; f64++)
			if (selected_case(n->id, f64) && (all || (size_t)f64 == ((i + G.seed) & 1)))
				case_add(n, f64);
	}
	cases_build();
	Suite *s = suite_create(name);
	TCase *tc = tcase_create("generated_vs_reference");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test, 0, (int)G.n_cases);
	suite_add_tcase(s, tc);
	return tu_suite_main(s, G.dir);
}

static inline void compare_params(const Where *w, RefNet *ref, Samples *d, const char *what)
{
	for (size_t p = 0; p < w->gm->n_params; p++)
		d->got[p] = rget(w->gm, w->gm->params, p);
	check_tensor(w, what, d->got, ref->params, d->mparams, w->gm->n_params, 0);
}

/* The optimizer's state, slot by slot, against the reference's; the
 * yardstick is the larger of the slot's value and its error scale. */
static inline void compare_state(const Where *w, RefNet *ref, Samples *d)
{
	const nncc_model_t *gm = w->gm;
	size_t n = gm->n_params;
	double *mag = malloc(n * sizeof *mag);
	ck_assert_ptr_nonnull(mag);
	for (size_t k = 0; k < gm->n_state; k++) {
		char what[64];
		for (size_t p = 0; p < n; p++) {
			d->got[p] = rget(gm, gm->state, k * n + p);
			mag[p] = fmax(fabs(ref->state[k * n + p]), ref->mstate[k * n + p]);
		}
		snprintf(what, sizeof what, "optimizer state slot %zu (%s)", k, ref->opt->name);
		check_tensor(w, what, d->got, ref->state + k * n, mag, n, 0);
	}
	free(mag);
}

#endif
