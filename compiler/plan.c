/*
 * plan.c - Model -> Plan: every decision the trainer's emitter takes,
 * before any text.  The generic ones are here: the tile size (MAX_BATCH),
 * the names of each layer's functions, buffers and constants, whether the
 * row passes and the weight pass run on the thread pool and how the work
 * is cut into units; each kind's `plan` hook (kinds.c) adds its own (a
 * dense layer's register tiles).  plan_print shows the result as text.
 * Vocabulary: l = 0-based layer index, k = l + 1 (in every generated
 * name), B = samples in a tile, VL = reals per AVX-512 vector.
 */
#include <string.h>

#include "nncc.h"


/* Work thresholds for the thread pool (FLOP of a pass at MAX_BATCH): below
 * them synchronising costs more than a second core saves.  Measured
 * (docs/performance.md): a 784-50-10 step at batch 20 has 1.6 MFLOP per pass
 * and runs 1.5-3x SLOWER on two threads on a loaded machine (the second core
 * re-reads W after every update); the 784-10 full-batch weight pass is
 * memory-bound and slower on two cores; 784-800-10 at batch 64 (80 MFLOP per
 * pass) gains 1.75x. */
#define PLAN_POOL_ROWS_FLOP 3e6
#define PLAN_POOL_WEIGHTS_FLOP 1e7

const char *plan_num(Arena *a, size_t v)
{
	return arena_printf(a, "%zu", v);
}

void plan_const(Plan *p, size_t l, const char *what, size_t value, const char *comment)
{
	LayerPlan *lp = &p->layers[l];
	if (lp->n_consts == PLAN_MAX_CONSTS)
		NNCC_UNREACHABLE();
	lp->consts[lp->n_consts++] = (Const){what, value, comment};
}

/* "l2_hidden"; a layer with its default name "layerN" is "lN_KIND".  The
 * number keeps names unique whatever the YAML names are. */
static const char *layer_fn(Arena *A, const Model *m, size_t l)
{
	const Layer *L = &m->layers[l];
	const char *deflt = arena_printf(A, "layer%zu", l + 1);
	const char *base = strcmp(L->name, deflt) == 0 ? L->kind->name : L->name;
	char *fn = arena_printf(A, "l%zu_%s", l + 1, base);
	for (char *q = fn; *q; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
		      (*q >= '0' && *q <= '9') || *q == '_'))
			*q = '_';
	return fn;
}

/* "L1_W" for tensor "W" of layer 1. */
static const char *tensor_const(Arena *A, size_t k, const char *name)
{
	return text_upper(A, arena_printf(A, "L%zu_%s", k, name));
}

/* Whether the gradient of layer l's output is needed: some layer up to l
 * has parameters.  Below the first one (a dropout on the input) no
 * gradient is computed. */
static bool grad_needed(const Model *m, size_t l)
{
	for (size_t i = 0; i <= l; i++)
		if (m->layers[i].n_tensors)
			return true;
	return false;
}

/* Layer k's (1-based) sizes and tensors: their offset constants and, with
 * `state`, where the optimizer's state of each lives. */
static void layer_tensors(Arena *A, LayerPlan *lp, const Layer *L, size_t k, bool state)
{
	lp->in = arena_printf(A, "L%zu_IN", k);
	lp->out = arena_printf(A, "L%zu_OUT", k);
	lp->tensor = arena_alloc(A, (L->n_tensors + 1) * sizeof *lp->tensor);
	lp->state = arena_alloc(A, (L->n_tensors + 1) * sizeof *lp->state);
	for (size_t t = 0; t < L->n_tensors; t++) {
		lp->tensor[t] = tensor_const(A, k, L->tensors[t].name);
		lp->state[t] = state ? arena_printf(A, "&state[%s]", lp->tensor[t]) : "NULL";
	}
}

static void layer_names(Arena *A, Plan *p, size_t l)
{
	const Model *m = p->m;
	const Layer *L = &m->layers[l];
	LayerPlan *lp = &p->layers[l];
	size_t k = l + 1;

	lp->k = k;
	lp->fn = layer_fn(A, m, l);
	lp->a = arena_printf(A, "a%zu", k);
	/* g: the layer above reads it (grad_needed), or, for the last layer, a
	 * loss that is not folded into it writes it */
	lp->g = (l + 1 < m->n_layers ? grad_needed(m, l) : !m->loss->folded)
	            ? arena_printf(A, "g%zu", k)
	            : NULL;
	lp->d = L->n_tensors ? arena_printf(A, "d%zu", k) : NULL;
	lp->x = l == 0 ? "kern_job.x" : arena_printf(A, "&a%zu[0][0]", l);
	lp->xn = l == 0 ? "x" : arena_printf(A, "a%zu", l);
	lp->gx = l > 0 && grad_needed(m, l - 1) ? arena_printf(A, "g%zu", l) : NULL;
	lp->gxn = lp->gx;
	layer_tensors(A, lp, L, k, p->n_state != 0);
}

/* Autoencoder i's decoder, plan layer l = n_layers + i: it reads its
 * encoder's output and writes the gradient of it (SE: its own g is the
 * reconstruction loss's). */
static void decoder_names(Arena *A, Plan *p, size_t i)
{
	const Model *m = p->m;
	size_t l = m->n_layers + i, k = l + 1, e = m->pre.layer[i] + 1;
	const Layer *L = &m->layers[l];
	LayerPlan *lp = &p->layers[l];

	lp->k = k;
	lp->fn = arena_printf(A, "l%zu%s_decoder", k, strchr(layer_fn(A, m, e - 1), '_'));
	lp->a = arena_printf(A, "a%zu", k);
	lp->g = arena_printf(A, "g%zu", k);
	lp->d = arena_printf(A, "d%zu", k);
	lp->x = arena_printf(A, "&a%zu[0][0]", e);
	lp->xn = arena_printf(A, "a%zu", e);
	lp->gx = arena_printf(A, "g%zu", e);
	lp->gxn = lp->gx;
	layer_tensors(A, lp, L, k, false); /* pre-training's SGD keeps no optimizer state */
}

/* What the trainer's code relies on, whatever built the Model: the kinds'
 * first/last rules and the loss's output layer (model.c checks the same on
 * YAML; this guards other callers). */
static int plan_check(Ctx *ctx, const Model *m)
{
	for (size_t l = 0; l < m->n_layers; l++) {
		const KindInfo *k = m->layers[l].kind;
		if ((l == 0 && !k->first_ok) || (l + 1 < m->n_layers && k->last_only)) {
			diag_error(ctx, m->layers[l].loc, "the trainer cannot have a %s layer %s", k->name,
			           l == 0 ? "first" : "before the last");
			return -1;
		}
	}
	const Layer *last = m->n_layers ? &m->layers[m->n_layers - 1] : NULL;
	if (!last || !loss_fits(m->loss, last)) {
		diag_error(ctx, last ? last->loc : (Loc){m->path, 0, 0},
		           "the trainer needs %s last (loss %s)",
		           loss_output_text(ctx->arena, m->loss), m->loss->name);
		return -1;
	}
	return 0;
}

Plan *plan_build(Ctx *ctx, const Model *m)
{
	Arena *A = ctx->arena;
	Plan *p;
	size_t B;

	if (plan_check(ctx, m) != 0)
		return NULL;
	p = arena_alloc(A, sizeof *p);
	/* The plan's model: m with the decoders after its layers (n_layers is
	 * the network's; layers[n_layers + i] is autoencoder i's decoder). */
	Model *mx = arena_alloc(A, sizeof *mx);
	*mx = *m;
	mx->layers = arena_alloc(A, (m->n_layers + m->pre.n) * sizeof *mx->layers);
	memcpy(mx->layers, m->layers, m->n_layers * sizeof *mx->layers);
	if (m->pre.n)
		memcpy(mx->layers + m->n_layers, m->pre.decoder, m->pre.n * sizeof *mx->layers);
	m = mx;
	p->m = m;
	p->opt = m->train.optimizer;
	p->n_state = p->opt->n_state(m->train.hparams);
	p->vl = m->dtype == DTYPE_F64 ? 8 : 16;
	B = m->train.batch_size;
	p->max_batch = B >= 1 && B <= PLAN_MAX_TILE ? B : PLAN_MAX_TILE;
	if (m->pre.n && m->pre.c.batch_size > p->max_batch)
		p->max_batch = m->pre.c.batch_size;
	p->layers = arena_alloc(A, (m->n_layers + m->pre.n) * sizeof *p->layers);

	/* The thread policy: a row pass of the whole tile is cut into 4 units
	 * at B >= 64, 2 at B >= 16, else one (no pool); each pass is pooled
	 * only when it has the work to gain from it. */
	for (size_t l = 0; l < m->n_layers; l++)
		m->layers[l].kind->cost(m, l, p->max_batch, &p->rows_flop,
		                                   &p->weights_flop);
	size_t units = p->max_batch >= 64 ? 4 : p->max_batch >= 16 ? 2 : 1;
	p->pool_rows = units > 1 && p->rows_flop >= PLAN_POOL_ROWS_FLOP;
	p->rows_per_unit = p->pool_rows ? (p->max_batch + units - 1) / units : p->max_batch;
	p->pool_weights = p->weights_flop >= PLAN_POOL_WEIGHTS_FLOP;

	for (size_t l = 0; l < m->n_layers; l++) {
		layer_names(A, p, l);
		m->layers[l].kind->plan(p, l);
		p->weight_units += p->layers[l].units;
		if (p->layers[l].pack_len > p->pack_len)
			p->pack_len = p->layers[l].pack_len;
	}
	for (size_t i = 0; i < m->pre.n; i++) {
		size_t l = m->n_layers + i;
		decoder_names(A, p, i);
		m->layers[l].kind->plan(p, l);
		if (p->layers[l].pack_len > p->pack_len)
			p->pack_len = p->layers[l].pack_len;
	}
	return p;
}

void plan_print(const Plan *p, Buf *out)
{
	const Model *m = p->m;
	buf_printf(out, "network %s: %s, max_batch %zu, optimizer %s (%zu state slots)\n", m->name,
	           dtype_name(m->dtype), p->max_batch, p->opt->name, p->n_state);
	buf_printf(out, "rows: %zu per unit, pooled %s (%.3g FLOP); weights: %zu units, pooled %s "
	                "(%.3g FLOP); pack %zu\n",
	           p->rows_per_unit, p->pool_rows ? "yes" : "no", p->rows_flop, p->weight_units,
	           p->pool_weights ? "yes" : "no", p->weights_flop, p->pack_len);
	if (m->pre.n)
		buf_printf(out, "pretrain: %zu autoencoders, batch %zu, %s, %zu decoder parameters\n",
		           m->pre.n, m->pre.c.batch_size, nncc_recon_name(m->pre.c.loss), m->pre.n_params);
	for (size_t l = 0; l < m->n_layers + m->pre.n; l++) {
		const LayerPlan *lp = &p->layers[l];
		const Layer *L = &m->layers[l];
		if (l >= m->n_layers)
			buf_printf(out, "decoder of layer %zu, ", m->pre.layer[l - m->n_layers] + 1);
		buf_printf(out, "layer %zu %s: ", lp->k, lp->fn);
		L->kind->describe(out, L);
		buf_printf(out, "; a %s, g %s, d %s, input %s, input gradient %s, weight units %zu\n",
		           lp->a, lp->g ? lp->g : "-", lp->d ? lp->d : "-", lp->xn,
		           lp->gx ? lp->gx : "-", lp->units);
		for (size_t t = 0; t < L->n_tensors; t++)
			buf_printf(out, "  %s = %zu (%s %zu x %zu), state %s\n", lp->tensor[t],
			           L->tensors[t].offset, L->tensors[t].name, L->tensors[t].rows,
			           L->tensors[t].cols, lp->state[t]);
		for (size_t c = 0; c < lp->n_consts; c++)
			buf_printf(out, "  L%zu_%s = %zu\n", lp->k, lp->consts[c].name, lp->consts[c].value);
	}
}
