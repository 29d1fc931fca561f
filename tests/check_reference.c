/*
 * check_reference.c - holds every generated trainer to the reference
 * backprop (tests/reference/).  For a seeded matrix of networks plus every
 * network in examples/, in float32 and float64 (make test: each generated
 * network in one of them, in turn; make test-full: both), it generates and
 * compiles the trainer (-O2, warnings as errors, as a shared object: GU_CFLAGS),
 * loads identical weights and data into it and into the reference, runs
 * SGD steps with batch sizes 1, 3, 20 and the whole small data set (tiled
 * like the driver when it exceeds max_batch) and compares outputs, loss,
 * deltas, gradients and weights.
 * Pre-training too: networks with a `pretrain:` (the p series, compared
 * on that alone) and the examples that have one run pretrain_step() for
 * each autoencoder from the same weights (the decoders' included) as
 * ref_pretrain_step, and compare the loss and every parameter after each
 * step.  The cases, loading and comparison are shared with check_trajectory
 * (refutil.h); the reference's own tests are check_refself.
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
#include "refutil.h"
#include "testutil.h"

/* Tolerances: TOL relative to max(M_k, FLOOR), as refutil.h explains. */
#define TOL_F64 1e-10
#define TOL_F32 1e-4

#define K_EXPLICIT 3     /* steps through forward/loss/backward/update */
#define K_FUSED 2        /* then steps through step() (when B <= max_batch) */
#define K_OPTIMIZER 22   /* steps of an optimizer network (bias correction, state) */
#define N_GENERATED 25   /* networks drawn by the seeded generator */
#define N_SQUARED 8      /* squared-error networks */
/* The precision the compared gradients are known to (the grads check's own
 * tolerance is looser; what the kernels reach is about this): below it a
 * normalising optimizer's update of a near-zero gradient is undetermined. */
#define NOISE_F32 2e-6
#define NOISE_F64 1e-14
/* Pre-training: steps per autoencoder, for sgd and again for momentum, of
 * the pretrain batch size, 1 and 3 samples. */
#define K_PRETRAIN 3

/* ---- the matrix */

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
	for (size_t l = 0; l < n->n_dense; l++) {
		if (n->drops >> l & 1)
			len += snprintf(d + len, sizeof d - (size_t)len, " -> dropout %g", n->drop_rate[l]);
		len += snprintf(d + len, sizeof d - (size_t)len, " -> %zu %s", n->units[l],
		                activation_table[n->act[l]].name);
	}
	snprintf(d + len, sizeof d - (size_t)len, " -> %s, batch_size %s",
	         n->loss ? n->loss : "softmax", n->batch);
	memcpy(n->desc, d, sizeof d);
}

/* YAML batch_size b, 0 = full. */
static void net_batch(Net *n, size_t b)
{
	if (b)
		snprintf(n->batch, sizeof n->batch, "%zu", b);
	else
		snprintf(n->batch, sizeof n->batch, "full");
}

/* The decks a small network of the o and s series is dealt from; `out` (the
 * output layer's activation) may be `acts` itself. */
typedef struct Decks {
	Deck *in, *units, *classes, *acts, *out, *batch;
} Decks;

/* depth dense layers: inputs, then each hidden layer's units and
 * activation, the classes, the output's activation, the batch. */
static void net_deal(Net *n, size_t depth, const Decks *k, nncc_rng_t *r)
{
	n->inputs = deck_deal(k->in, r);
	n->n_dense = depth;
	for (size_t l = 0; l + 1 < depth; l++) {
		n->units[l] = deck_deal(k->units, r);
		n->act[l] = (Activation)deck_deal(k->acts, r);
	}
	n->units[depth - 1] = deck_deal(k->classes, r);
	n->act[depth - 1] = (Activation)deck_deal(k->out, r);
	net_batch(n, deck_deal(k->batch, r));
}

/* 784 -> 100 relu -> 10 `out` at batch 64: big enough that both passes
 * run on the pool. */
static void net_big(Net *n, Activation out)
{
	n->inputs = 784;
	n->n_dense = 2;
	n->units[0] = 100;
	n->act[0] = ACT_RELU;
	n->units[1] = 10;
	n->act[1] = out;
	net_batch(n, 64);
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
		net_batch(n, deck_deal(&db, &r));
		n->lr = LR;
		net_describe(n);
	}
}

/* Networks o00..: one per optimizer setting of the list, PyTorch's
 * defaults and the variants that take another path (Nesterov, dampening,
 * centered, momentum, amsgrad, weight decay with and without the biases),
 * K_OPTIMIZER steps per batch size so bias corrections and state build up.
 * Shapes from their own seeded decks (the m networks are unaffected); the
 * last two are 784-100-10 at batch 64, big enough that both passes run on
 * the pool (threads 1 and 2 alternate per case as for every network). */
static void matrix_optimizers(uint64_t seed)
{
	static const struct {
		const char *yaml;
		double lr;
	} opts[] = {
		{"{type: sgd, weight_decay: 0.05}", 0.1},
		{"{type: sgd, weight_decay: 0.05, decay_biases: false}", 0.1},
		{"momentum", 0.05},
		{"{type: momentum, momentum: 0.8, nesterov: true, weight_decay: 0.01}", 0.05},
		{"{type: momentum, dampening: 0.3}", 0.05},
		{"{type: adagrad, lr_decay: 0.01, weight_decay: 0.01}", 0.05},
		{"adadelta", 1.0},
		{"{type: rmsprop, weight_decay: 0.01}", 0.01},
		{"{type: rmsprop, centered: true, momentum: 0.5}", 0.005},
		{"adam", 0.01},
		{"{type: adam, amsgrad: true, weight_decay: 0.02, beta1: 0.8}", 0.01},
		{"{type: adamw, weight_decay: 0.1}", 0.01},
		{"{type: adamw, amsgrad: true, decay_biases: false}", 0.01},
		{"{type: adam, beta2: 0.99}", 0.001},   /* big: pooled */
		{"momentum", 0.005},                    /* big: pooled */
	};
	static const size_t inputs[] = {3, 7, 17, 33};
	static const size_t units[] = {2, 5, 13, 33};
	static const size_t classes[] = {2, 3, 7, 10};
	static const size_t acts[] = {ACT_LINEAR, ACT_SIGMOID, ACT_TANH, ACT_RELU};
	static const size_t batches[] = {1, 3, 20, 0};
	Deck di = {inputs, 4, 0, {0}}, du = {units, 4, 0, {0}}, dc = {classes, 4, 0, {0}};
	Deck da = {acts, 4, 0, {0}}, db = {batches, 4, 0, {0}};
	const Decks k = {&di, &du, &dc, &da, &da, &db};
	size_t n_opts = sizeof opts / sizeof opts[0];
	nncc_rng_t r;

	nncc_rng_seed(&r, seed ^ 0x6f7074696d697a65ULL);   /* "optimize" */
	for (size_t i = 0; i < n_opts; i++) {
		Net *n = &G.nets[G.n_nets++];
		snprintf(n->id, sizeof n->id, "o%02zu", i);
		n->seed = nncc_rng_next(&r);
		snprintf(n->optimizer, sizeof n->optimizer, "%s", opts[i].yaml);
		n->lr = opts[i].lr;
		n->steps = K_OPTIMIZER;
		if (i + 2 >= n_opts)
			net_big(n, ACT_LINEAR);
		else
			net_deal(n, i % 3 + 1, &k, &r);
		net_describe(n);
		char d[sizeof n->desc];
		snprintf(d, sizeof d, "%.150s, optimizer %.90s", n->desc, opts[i].yaml);
		memcpy(n->desc, d, sizeof d);
	}
}

/* Networks d00..: dropout on the input and after hidden layers, with odd
 * widths (a mask's 32-bit halves and the vector tails), rate 0 (the
 * identity), three optimizers, tiled batches (3 at max_batch 3; 67 at 64)
 * and a 784-100-10 pooled on two threads; K_OPTIMIZER steps per batch size,
 * each with its own masks.  Fixed shapes: the m and o networks are
 * unaffected. */
static void matrix_dropout(uint64_t seed)
{
	static const struct {
		size_t inputs, n_dense, units[3];
		Activation act[3];
		unsigned drops;
		double rate[3];
		const char *batch, *optimizer;
		double lr;
	} nets[] = {
		{13, 3, {7, 17, 3}, {ACT_TANH, ACT_RELU, ACT_LINEAR}, 1, {0.5}, "3", "", 0.1},
		{17, 3, {13, 5, 7}, {ACT_RELU, ACT_SIGMOID, ACT_LINEAR}, 6, {0, 0.5, 0.2}, "20",
		 "momentum", 0.05},
		{33, 2, {33, 10}, {ACT_SIGMOID, ACT_LINEAR}, 3, {0.1, 0}, "full", "adam", 0.01},
		{7, 2, {2, 3}, {ACT_RELU, ACT_TANH}, 2, {0, 0.9}, "1", "", 0.1},
		{784, 2, {100, 10}, {ACT_RELU, ACT_LINEAR}, 3, {0.2, 0.5}, "64", "", 0.01},
	};
	nncc_rng_t r;

	nncc_rng_seed(&r, seed ^ 0x64726f706f7574ULL);   /* "dropout" */
	for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
		Net *n = &G.nets[G.n_nets++];
		snprintf(n->id, sizeof n->id, "d%02zu", i);
		n->seed = nncc_rng_next(&r);
		n->inputs = nets[i].inputs;
		n->n_dense = nets[i].n_dense;
		for (size_t l = 0; l < n->n_dense; l++) {
			n->units[l] = nets[i].units[l];
			n->act[l] = nets[i].act[l];
			n->drop_rate[l] = nets[i].rate[l];
		}
		n->drops = nets[i].drops;
		snprintf(n->batch, sizeof n->batch, "%s", nets[i].batch);
		snprintf(n->optimizer, sizeof n->optimizer, "%s", nets[i].optimizer);
		n->lr = nets[i].lr;
		n->steps = K_OPTIMIZER;
		net_describe(n);
	}
}

/* Networks s00..: the squared-error loss on a sigmoid or linear output
 * (no softmax), depth 1-3, shapes from their own seeded decks, batch sizes
 * 1, 3, 20 and full; the last is 784-100-10 sigmoid at batch 64, big enough
 * that both passes run on the pool. */
static void matrix_losses(uint64_t seed)
{
	static const size_t inputs[] = {2, 7, 17, 33};
	static const size_t units[] = {1, 3, 13, 33};
	static const size_t classes[] = {2, 3, 7, 10};
	static const size_t acts[] = {ACT_LINEAR, ACT_SIGMOID, ACT_TANH, ACT_RELU};
	static const size_t outs[] = {ACT_SIGMOID, ACT_LINEAR};
	static const size_t batches[] = {1, 3, 20, 0};
	Deck di = {inputs, 4, 0, {0}}, du = {units, 4, 0, {0}}, dc = {classes, 4, 0, {0}};
	Deck da = {acts, 4, 0, {0}}, dout = {outs, 2, 0, {0}}, db = {batches, 4, 0, {0}};
	const Decks k = {&di, &du, &dc, &da, &dout, &db};
	nncc_rng_t r;

	nncc_rng_seed(&r, seed ^ 0x7371756172656421ULL);   /* "squared!" */
	for (size_t i = 0; i < N_SQUARED; i++) {
		Net *n = &G.nets[G.n_nets++];
		snprintf(n->id, sizeof n->id, "s%02zu", i);
		n->seed = nncc_rng_next(&r);
		n->loss = "squared_error";
		n->lr = LR;
		if (i + 1 == N_SQUARED)
			net_big(n, ACT_SIGMOID);
		else
			net_deal(n, i % 3 + 1, &k, &r);
		net_describe(n);
	}
}

/* Networks p00..: a `pretrain:` each (docs/format.md#pretrain), compared
 * through pretrain_step() only (their supervised steps are the m series').
 * Between them, and with examples/mnist-pretrain.yaml (cross_entropy,
 * tied, noise 0.25): both reconstruction losses, tied and untied, noise 0
 * and > 0, one autoencoder and two with a dropout between, and one above a
 * layer that is not pre-trained (relu, then a dropout: evaluation mode),
 * under a squared-error network; odd widths.  Each runs sgd and then
 * momentum (pretrain_step takes mu from its nncc_update_t).  Three
 * networks: each costs two trainers to build, the bulk of its time. */
static void matrix_pretrain(uint64_t seed)
{
	static const struct {
		size_t inputs, n_dense, units[3];
		Activation act[3];
		unsigned drops;
		double rate[3];
		const char *loss, *batch, *tail, *summary;
	} nets[] = {
		{13, 2, {7, 3}, {ACT_TANH, ACT_LINEAR}, 0, {0}, NULL, "4",
		 "pretrain:\n  epochs: 1\n  learning_rate: 0.5\n  noise: 0.3\n",
		 "layer 1: squared_error, untied, noise 0.3"},
		{9, 3, {7, 5, 3}, {ACT_SIGMOID, ACT_SIGMOID, ACT_LINEAR}, 2, {0, 0.25}, NULL, "5",
		 "data:\n  normalize: scale\npretrain:\n  epochs: 1\n  learning_rate: 0.5\n"
		 "  loss: cross_entropy\n",
		 "layers 1, 3: cross_entropy, untied, noise 0"},
		{5, 3, {6, 17, 4}, {ACT_RELU, ACT_TANH, ACT_LINEAR}, 2, {0, 0.5}, "squared_error", "3",
		 "pretrain:\n  epochs: 1\n  learning_rate: 0.5\n  layers: [layer3]\n"
		 "  tied: true\n  noise: 0.5\n",
		 "layer 3: squared_error, tied, noise 0.5"},
	};
	nncc_rng_t r;

	nncc_rng_seed(&r, seed ^ 0x7072657472616e21ULL);   /* "pretran!" */
	for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
		Net *n = &G.nets[G.n_nets++];
		snprintf(n->id, sizeof n->id, "p%02zu", i);
		n->seed = nncc_rng_next(&r);
		n->inputs = nets[i].inputs;
		n->n_dense = nets[i].n_dense;
		for (size_t l = 0; l < n->n_dense; l++) {
			n->units[l] = nets[i].units[l];
			n->act[l] = nets[i].act[l];
			n->drop_rate[l] = nets[i].rate[l];
		}
		n->drops = nets[i].drops;
		n->loss = nets[i].loss;
		snprintf(n->batch, sizeof n->batch, "%s", nets[i].batch);
		n->lr = LR;
		n->tail = nets[i].tail;
		net_describe(n);
		char d[sizeof n->desc];
		snprintf(d, sizeof d, "%.150s; pretrain %.90s", n->desc, nets[i].summary);
		memcpy(n->desc, d, sizeof d);
	}
}

/* ---- one comparison run */

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
		if (!R->z || R->act != ACT_RELU)   /* a layer with z and a relu */
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

/* The tile check of an explicit step: ACT after the forward pass (unless
 * a relu kink makes the run incomparable: then stop), DELTA after the
 * backward pass. */
static int tile_check(Where *w, RefNet *ref, Samples *d, int which, size_t off, size_t k)
{
	if (which == NNCC_T_ACT && relu_kink(w, ref, off, k))
		return 1;
	compare_layers(w, ref, d, which, off, k);
	return 0;
}

/* One SGD step on the B samples from `first` through forward/loss/backward/
 * update, tiled by max_batch like the driver, with every tensor compared.
 * Returns 0, or 1 if a relu kink made the run incomparable. */
static int step_explicit(Where *w, RefNet *ref, Samples *d, size_t first)
{
	const nncc_model_t *gm = w->gm;
	size_t B = w->B;
	double ref_sum = reference_pass(ref, B, d->x + first * gm->n_inputs, d->y + first), loss;

	if (gen_batch(w, ref, d, first, tile_check, &loss))
		return 1;
	check_scalar(w, "loss (sum over the batch)", loss, ref_sum, ref->mloss * (double)B);
	for (size_t p = 0; p < gm->n_params; p++)
		d->got[p] = rget(gm, gm->grads, p) / (double)B;
	check_tensor(w, "grads / batch (mean gradient)", d->got, ref->grads, ref->mgrads,
	             gm->n_params, 0);
	update_both(w, ref, d, w->lr, B);
	compare_params(w, ref, d, "params after update");
	compare_state(w, ref, d);
	return 0;
}

/* One SGD step through step() (B <= max_batch): loss and weights.  Returns
 * 1 if a relu kink made the run incomparable, else 0. */
static int step_fused(Where *w, RefNet *ref, Samples *d, size_t first)
{
	const nncc_model_t *gm = w->gm;
	double ref_sum = reference_pass(ref, w->B, d->x + first * gm->n_inputs, d->y + first);

	double hp[NNCC_MAX_HPARAMS], lr = w->lr;
	nncc_update_t u = gen_update(gm, ref, lr, w->B, hp);
	ref_update(ref, lr);
	update_magnitudes(ref, d);
	w->tile = ALL_TILES;
	double loss = gm->step(w->B, (const char *)d->gx + first * gm->n_inputs * rsize(gm),
	                       d->y + first, &u);
	if (relu_kink(w, ref, 0, w->B))   /* ACT still holds step()'s forward pass */
		return 1;
	sync_undetermined(w, ref);
	check_scalar(w, "step() loss (sum over the batch)", loss, ref_sum, ref->mloss * (double)w->B);
	compare_params(w, ref, d, "params after step()");
	compare_state(w, ref, d);
	return 0;
}

/* The data set size: more than one tile of max_batch (so the full batch
 * exercises accumulation), at least 23 so a batch of 20 fits. */
static size_t data_size(size_t max_batch)
{
	size_t N = max_batch < 64 ? 2 * max_batch + 3 : max_batch + 3;
	return N < 23 ? 23 : N;
}

/* ---- pre-training: pretrain_step() against ref_pretrain_step */

/* The descriptor's autoencoders agree with the IR the reference walks. */
static void pretrain_descriptor(const nncc_model_t *gm, const Model *m)
{
	ck_assert_uint_eq(gm->n_pretrain, m->pre.n);
	ck_assert_uint_eq(gm->n_pretrain_params, m->pre.n_params);
	ck_assert_ptr_nonnull(gm->pretrain_step);
	ck_assert_uint_le(m->pre.c.batch_size, gm->max_batch);
	for (size_t i = 0; i < m->pre.n; i++) {
		const nncc_pretrain_t *g = &gm->pretrain[i];
		const Layer *D = &m->pre.decoder[i];
		ck_assert_uint_eq(g->layer, m->pre.layer[i]);
		ck_assert_uint_eq(g->n_tensors, D->n_tensors);
		for (size_t t = 0; t < D->n_tensors; t++) {
			ck_assert_str_eq(g->tensors[t].name, D->tensors[t].name);
			ck_assert_uint_eq(g->tensors[t].offset, D->tensors[t].offset);
			ck_assert_uint_eq(g->tensors[t].size, D->tensors[t].size);
		}
	}
}

/* N samples for pre-training, exactly representable in the dtype: in
 * [0, 1) under cross_entropy (what it needs), else N(0, 1); scratch for
 * every parameter, the decoders' included. */
static void pretrain_data(Samples *d, const nncc_model_t *gm, const Model *m, size_t N,
                          nncc_rng_t *r)
{
	size_t all = gm->n_params + gm->n_pretrain_params;
	memset(d, 0, sizeof *d);
	d->N = N;
	d->x = calloc(N * gm->n_inputs, sizeof(double));
	d->gx = calloc(N * gm->n_inputs, rsize(gm));
	d->got = calloc(all, sizeof(double));
	d->mparams = calloc(all, sizeof(double));
	ck_assert(d->x && d->gx && d->got && d->mparams);
	for (size_t k = 0; k < N * gm->n_inputs; k++) {
		double v = m->pre.c.loss == NNCC_RECON_CROSS_ENTROPY ? nncc_rng_uniform(r)
		                                                     : nncc_rng_normal(r);
		d->x[k] = rround(gm, v);
		rset(gm, d->gx, k, d->x[k]);
	}
}

/* Fresh weights on both sides: the network's as matrix_weights draws them,
 * then each decoder's, W N(0, 1/rows) and b N(0, 0.1^2). */
static void pretrain_weights(const nncc_model_t *gm, RefNet *ref, Samples *d, nncc_rng_t *r)
{
	matrix_weights(gm, ref, d, r);
	for (size_t i = 0; i < gm->n_pretrain; i++) {
		for (size_t t = 0; t < gm->pretrain[i].n_tensors; t++) {
			const nncc_param_t *T = &gm->pretrain[i].tensors[t];
			for (size_t k = 0; k < T->size; k++)
				ref->params[T->offset + k] =
				    rround(gm, T->bias ? 0.1 * nncc_rng_normal(r)
				                       : nncc_rng_normal(r) / sqrt((double)T->rows));
		}
	}
	for (size_t p = gm->n_params; p < gm->n_params + gm->n_pretrain_params; p++) {
		rset(gm, gm->params, p, ref->params[p]);
		d->mparams[p] = fabs(ref->params[p]);
	}
}

/* Every parameter: the network's by name, then each decoder's tensors as
 * [row][col] (tied: not its W, which is W_E's and no parameter). */
static void pretrain_compare_params(const Where *w, RefNet *ref, Samples *d, const char *what)
{
	const nncc_model_t *gm = w->gm;
	compare_params(w, ref, d, what);
	for (size_t i = 0; i < gm->n_pretrain; i++) {
		const nncc_pretrain_t *A = &gm->pretrain[i];
		for (size_t t = 0; t < A->n_tensors; t++) {
			const nncc_param_t *T = &A->tensors[t];
			if (gm->config.pretrain.tied && !T->bias)
				continue;
			for (size_t k = 0; k < T->size; k++)
				d->got[k] = rget(gm, gm->params, T->offset + k);
			char name[160];
			snprintf(name, sizeof name, "%s: decoder of layer %zu \"%s\", %s", what, A->layer,
			         gm->layers[A->layer].name, T->name);
			check_tensor(w, name, d->got, ref->params + T->offset, d->mparams + T->offset,
			             T->size, T->cols);
		}
	}
}

/* Step w->step of autoencoder i on the w->B samples from `first`, on both
 * sides from the same parameters, momentum mu (0: sgd); then the loss and
 * every parameter. */
static void pretrain_compare_step(const Where *w, RefNet *ref, Samples *d, size_t i,
                                  size_t first, double mu, uint64_t seed)
{
	const nncc_model_t *gm = w->gm;
	size_t n = w->B, in = gm->n_inputs;
	double sum = ref_pretrain_step(ref, i, n, d->x + first * in, w->lr, mu, seed, w->step);
	for (size_t p = 0; p < gm->n_params + gm->n_pretrain_params; p++)
		d->mparams[p] += ref->mstep[p];
	nncc_update_t u = {w->lr, n, w->step, mu > 0 ? &mu : NULL, seed};
	double got = gm->pretrain_step(i, n, (const char *)d->gx + first * in * rsize(gm), &u);
	check_scalar(w, "pretrain_step() loss (sum over the batch)", got, sum,
	             ref->mloss * (double)n);
	pretrain_compare_params(w, ref, d, "params after pretrain_step()");
}

/* The pre-training of case c: from fresh weights, K_PRETRAIN steps of each
 * autoencoder in turn (batches of the pretrain batch size, 1 and 3), once
 * with sgd and once with momentum (the YAML's, or 0.9). */
static void check_pretraining(const Case *c, const Loaded *L)
{
	const nncc_model_t *gm = L->gm;
	const Model *m = L->model;
	char err[512], phase[64];
	nncc_rng_t r;

	pretrain_descriptor(gm, m);
	if (gm->set_threads)
		gm->set_threads(1 + (int)((size_t)(c->net - G.nets) + (size_t)c->f64) % 2);
	nncc_rng_seed(&r, c->net->seed ^ 0x7072657472616e21ULL);
	size_t B = m->pre.c.batch_size, N = B + 3;
	size_t sizes[K_PRETRAIN] = {B, 1, B < 3 ? B : 3};
	Samples d;
	pretrain_data(&d, gm, m, N, &r);
	RefNet *ref = ref_new(m, N, err, sizeof err);
	ck_assert_msg(ref != NULL, "%s: reference: %s", c->id, err);
	const double mus[2] = {0, m->pre.c.momentum > 0 ? m->pre.c.momentum : 0.9};
	const uint64_t seed = nncc_rng_next(&r);   /* the noise masks' */
	for (int o = 0; o < 2; o++) {
		pretrain_weights(gm, ref, &d, &r);
		Where w = {c, gm, c->f64 ? TOL_F64 : TOL_F32, 0, 0, ALL_TILES, "pretraining",
		           m->pre.c.learning_rate};
		pretrain_compare_params(&w, ref, &d, "params as loaded");
		for (size_t i = 0; i < gm->n_pretrain; i++) {
			snprintf(phase, sizeof phase, "pretrain_step() of autoencoder %zu, %s", i,
			         o ? "momentum" : "sgd");
			w.phase = phase;
			for (w.step = 1; w.step <= K_PRETRAIN; w.step++) {
				w.B = sizes[w.step - 1];
				pretrain_compare_step(&w, ref, &d, i, (i + w.step) % (N - w.B + 1), mus[o],
				                      seed);
			}
		}
	}
	ref_free(ref);
	data_free(&d);
}

/* ---- the test */

/* The supervised steps of case c (every network but the p series). */
static void check_training(const Case *c, const Loaded *L)
{
	char err[512];
	nncc_rng_t r;

	const nncc_model_t *gm = L->gm;
	if (gm->set_threads)   /* results must not depend on it; fixed per network */
		gm->set_threads(1 + (int)((size_t)(c->net - G.nets) + (size_t)c->f64) % 2);
	nncc_rng_seed(&r, c->net->seed);
	Samples d;
	matrix_data(&d, gm, data_size(gm->max_batch), &r);
	RefNet *ref = ref_new(L->model, d.N, err, sizeof err);
	ck_assert_msg(ref != NULL, "%s: reference: %s", c->id, err);
	ref->noise = c->f64 ? NOISE_F64 : NOISE_F32;
	/* The net's rate; an example whose optimizer has a default rate of its
	 * own (adam's 0.001) takes that one: LR is a rate for SGD. */
	double lr = c->net->lr;
	if (c->net->example[0] && !isnan(L->model->train.optimizer->default_lr))
		lr = L->model->train.optimizer->default_lr;

	const size_t batches[] = {1, 3, 20, d.N};
	size_t pbytes = gm->n_params * rsize(gm);
	unsigned char *trained = malloc(4 * pbytes + 1);
	ck_assert_ptr_nonnull(trained);
	for (size_t bi = 0; bi < 4; bi++) {
		Where w = {c, gm, c->f64 ? TOL_F64 : TOL_F32, batches[bi], 0, 0, "explicit", lr};
		int kink = 0;
		matrix_weights(gm, ref, &d, &r);
		compare_params(&w, ref, &d, "params as loaded");
		size_t span = d.N - w.B + 1;   /* batch s starts at sample (s*B) % span */
		/* the first steps explicit (every tensor compared), the rest
		 * through step() when the batch fits a tile; a sgd network of the
		 * m series stops after its explicit steps when it does not */
		size_t steps = c->net->steps ? c->net->steps
		               : w.B <= gm->max_batch ? K_EXPLICIT + K_FUSED : K_EXPLICIT;
		for (w.step = 0; w.step < steps && !kink; w.step++) {
			if (w.step < K_EXPLICIT || w.B > gm->max_batch) {
				w.phase = "explicit";
				kink = step_explicit(&w, ref, &d, w.step * w.B % span);
			} else {
				w.phase = "step()";
				kink = step_fused(&w, ref, &d, w.step * w.B % span);
			}
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
	ref_free(ref);
	data_free(&d);
}

START_TEST(test_matrix)
{
	const Case *c = &G.cases[_i];
	Loaded L;

	case_load(&L, c);
	if (L.model->pre.n)   /* the p series, and the examples with a `pretrain:` */
		check_pretraining(c, &L);
	if (!c->net->tail)    /* the p series is here for its pre-training alone */
		check_training(c, &L);
	if (getenv("NNCC_TEST_VERBOSE"))
		fprintf(stderr, "%s: largest error %.2g of the tolerance (%s)\n", c->id, worst_ratio,
		        c->net->desc);
	case_unload(&L);
}
END_TEST

int main(void)
{
	matrix_setup("check_reference");
	matrix_generate(G.seed);
	matrix_optimizers(G.seed);
	matrix_dropout(G.seed);
	matrix_losses(G.seed);
	matrix_pretrain(G.seed);
	matrix_examples(G.seed);
	return matrix_run("reference", test_matrix, 1);
}
