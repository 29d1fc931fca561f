/*
 * kinds.c - the layer kinds, one row each in kind_table: a kind's YAML keys,
 * where it may stand, its output width, its parameter tensors and its
 * template file (templates/KIND.c, which holds its trainer passes and its
 * exported inference code).  The front end (model.c), the planner and
 * emitter (plan.c, emit.c) and the exporter (export.c) iterate over these
 * rows; what a kind's code needs beyond the row lives in its template and
 * in the kind's own functions here, never in a `kind ==` branch elsewhere.
 * Adding a kind: a row and its functions here, templates/KIND.c, the
 * reference's forward/backward (tests/reference/ref.c), tests and docs
 * (docs/architecture.md walks through it).
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "nncc.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const Range units_range = {1, NNCC_MAX_UNITS};

/* ---- helpers for the kinds' hooks */

static size_t ceil_div(size_t a, size_t b)
{
	return (a + b - 1) / b;
}

/* An expression of nncc_act.h as a comment shows it: without the casts. */
static const char *formula(Arena *A, const char *expr)
{
	char *s = arena_strdup(A, expr), *q = s;
	for (const char *p = expr; *p;)
		if (strncmp(p, "(real)", 6) == 0)
			p += 6;
		else
			*q++ = *p++;
	*q = 0;
	return text_comment_safe(A, s);
}

/* "10 rows x 2 vectors" */
static const char *tile_text(Arena *A, int mr, int nb)
{
	return arena_printf(A, "%d row%s x %d vector%s", mr, mr == 1 ? "" : "s", nb,
	                    nb == 1 ? "" : "s");
}

/* The values every section of a kind's template may use (shared). */
enum { SHARED_MAX = 24 };

static size_t layer_vars(Emitter *e, size_t l, TmplVar *v)
{
	Arena *A = e->ctx->arena;
	const Layer *L = &e->m->layers[l];
	const LayerPlan *lp = &e->plan->layers[l];
	size_t n = 0;
	v[n++] = (TmplVar){"K", plan_num(A, lp->k)};
	v[n++] = (TmplVar){"NAME", text_comment_safe(A, L->name)};
	v[n++] = (TmplVar){"FN", lp->fn};
	v[n++] = (TmplVar){"A", lp->a};
	v[n++] = (TmplVar){"AN", lp->a};
	v[n++] = (TmplVar){"X", lp->x};
	v[n++] = (TmplVar){"XN", lp->xn};
	v[n++] = (TmplVar){"IN", lp->in};
	v[n++] = (TmplVar){"OUT", lp->out};
	v[n++] = (TmplVar){"IN_N", plan_num(A, L->in)};
	v[n++] = (TmplVar){"OUT_N", plan_num(A, L->out)};
	if (lp->g)
		v[n++] = (TmplVar){"G", lp->g};
	if (lp->d)
		v[n++] = (TmplVar){"D", lp->d};
	if (lp->gx) {
		v[n++] = (TmplVar){"GX", lp->gx};
		v[n++] = (TmplVar){"GXN", lp->gxn};
	}
	return n;
}

/* ---- dense: z = x W + b, a = f(z) */

static const Field dense_fields[] = {
	{"units", NODE_SCALAR, field_size, offsetof(Layer, out), true, &units_range},
	{"activation", NODE_SCALAR, field_activation, offsetof(Layer, act), false, NULL},
};

static size_t dense_out(const Layer *L, size_t in)
{
	(void)in;
	return L->out;   /* `units` */
}

/* W (IN, OUT) input-major, then b (OUT); both initialised with the
 * layer's fan-in IN and fan-out OUT (as torch.nn.Linear's) and the gain of
 * its activation. */
static size_t dense_tensors(Layer *L, size_t at)
{
	double gain = activation_table[L->act].gain;
	L->tensors[0] =
		(Tensor){"W", at, L->in * L->out, L->in, L->out, false, L->in, L->out, gain};
	L->tensors[1] =
		(Tensor){"b", at + L->in * L->out, L->out, 1, L->out, true, L->in, L->out, gain};
	return 2;
}

/* ---- softmax: a = exp(x - max x) / sum exp(x - max x), with the
 * cross-entropy loss folded into its backward pass */

static size_t same_width(const Layer *L, size_t in)
{
	(void)L;
	return in;
}

static size_t no_tensors(Layer *L, size_t at)
{
	(void)L, (void)at;
	return 0;
}

/* Vectors per tile row for a row of nv vectors: all of them up to 3, two
 * for 4 (two chunks of 2), else 3 (most chunks full).  When rows are few
 * the tile is latency-bound: take up to 4 independent chains.
 * (docs/kernels.md: 20-28 accumulators per tile, the tile height dividing
 * the rows it sweeps, as few column chunks as possible.) */
static int tile_nb(size_t nv, size_t rows)
{
	if (rows < 4)
		return (int)(nv < 4 ? nv : 4);
	return nv <= 3 ? (int)nv : nv == 4 ? 2 : 3;
}

/* The largest divisor of len that is <= cap, so no tail tile runs; when that
 * is under cap/2 (len prime, say), cap itself and a compile-time tail. */
static int tile_mr(size_t len, int cap)
{
	int best = 1;
	for (int d = 1; d <= cap && (size_t)d <= len; d++)
		if (len % (size_t)d == 0)
			best = d;
	return best * 2 < cap && len > (size_t)cap ? cap : best;
}

/* A block kernel's rows (Plan.rows_*): the most of any tile it runs. */
static void rows_grow(int *most, int rows)
{
	if (rows > *most)
		*most = rows;
}

/* Weight-gradient tiles per work unit when the weight pass is pooled. */
#define DENSE_TILES_PER_UNIT 8

static void dense_cost(const Model *m, size_t l, size_t B, double *rows, double *weights)
{
	const Layer *L = &m->layers[l];
	double f = 2.0 * (double)B * (double)L->in * (double)L->out;
	*rows += l > 0 ? 2 * f : f;   /* forward, and the input gradient but for layer 1 */
	*weights += f;
}

static void dense_plan(Plan *p, size_t l)
{
	const Layer *L = &p->m->layers[l];
	LayerPlan *lp = &p->layers[l];
	Tiles *t = &lp->t;
	size_t R = p->rows_per_unit, vl = p->vl, nv = ceil_div(L->out, vl);

	t->fwd_nb = tile_nb(nv, R);
	t->fwd_mr = tile_mr(R, t->fwd_nb == 1 ? 20 : t->fwd_nb == 2 ? 12 : 8);
	t->dw_nb = tile_nb(nv, 4);
	t->dw_mr = tile_mr(L->in, t->dw_nb == 1 ? 28 : 8);
	if (nv == 1) {
		/* OUT fits one vector: kern_dw vectorises along j instead (full
		 * lanes), OUT rows x up to 4 vectors of j, ~24 accumulators. */
		size_t nbj = 24 / L->out;
		nbj = nbj < 1 ? 1 : nbj > 4 ? 4 : nbj;
		t->dw_mr = (int)(nbj * vl);
	}
	/* the block kernels' rows (Plan): a layer with one vector of OUT
	 * runs kern_dwt_block on OUT rows, any other kern_dw_block on DW_MR */
	rows_grow(&p->rows_fwd, t->fwd_mr);
	if (nv == 1)
		rows_grow(&p->rows_dwt, (int)L->out);
	else
		rows_grow(&p->rows_dw, t->dw_mr);
	t->dw_tiles = ceil_div(L->in, (size_t)t->dw_mr) + 1;
	t->dw_tpu = p->pool_weights ? DENSE_TILES_PER_UNIT : t->dw_tiles;
	lp->units = ceil_div(t->dw_tiles, t->dw_tpu);
	if (lp->gx) {
		/* the input gradient (none below the first layer with parameters,
		 * e.g. after a dropout on the input: its pack would be unused): rows
		 * of IN reals from W read transposed */
		size_t nvx = ceil_div(L->in, vl);
		t->dx_nb = nvx <= 4 ? (int)nvx : L->out <= 16 ? 2 : 3;
		t->dx_mr = tile_mr(R, 24 / t->dx_nb);
		rows_grow(&p->rows_dx, t->dx_mr);
		lp->pack_len = L->out * (size_t)t->dx_nb * vl;
	}
	plan_const(p, l, "FWD_MR", (size_t)t->fwd_mr, NULL);
	plan_const(p, l, "FWD_NB", (size_t)t->fwd_nb, NULL);
	plan_const(p, l, "DW_MR", (size_t)t->dw_mr, NULL);
	plan_const(p, l, "DW_NB", (size_t)t->dw_nb, NULL);
	plan_const(p, l, "DW_TILES", t->dw_tiles, NULL);
	plan_const(p, l, "DW_TPU", t->dw_tpu, NULL);
	plan_const(p, l, "DW_UNITS", lp->units, NULL);
	if (t->dx_nb) {
		plan_const(p, l, "DX_MR", (size_t)t->dx_mr, NULL);
		plan_const(p, l, "DX_NB", (size_t)t->dx_nb, NULL);
	}
}

/* "L1_FWD_MR": a constant of plan_const. */
static const char *lconst(Emitter *e, size_t l, const char *what)
{
	return arena_printf(e->ctx->arena, "L%zu_%s", l + 1, what);
}

static void dense_code(Emitter *e, size_t l, Pass pass)
{
	Arena *A = e->ctx->arena;
	const Layer *L = &e->m->layers[l];
	const LayerPlan *lp = &e->plan->layers[l];
	const Tiles *t = &lp->t;
	const ActivationInfo *act = &activation_table[L->act];
	TmplVar v[SHARED_MAX];
	size_t n = layer_vars(e, l, v);
	v[n++] = (TmplVar){"W", lp->tensor[0]};
	v[n++] = (TmplVar){"B", lp->tensor[1]};
	v[n++] = (TmplVar){"ACT", act->name};
	v[n++] = (TmplVar){"ACT_ID", act->id};

	switch (pass) {
	case PASS_FORWARD: {
		TmplVar f[] = {{"FWD_TILE", tile_text(A, t->fwd_mr, t->fwd_nb)},
		               {"FWD_MR", lconst(e, l, "FWD_MR")},
		               {"FWD_NB", lconst(e, l, "FWD_NB")}};
		emit_tmpl(e, L->kind->tmpl, "forward", v, n, f, ARRAY_LEN(f));
		break;
	}
	case PASS_BACKWARD: {
		TmplVar b[] = {{"DERIV", formula(A, act->deriv)}};
		emit_tmpl(e, L->kind->tmpl, "backward", v, n, b, ARRAY_LEN(b));
		if (lp->gx) {
			TmplVar x[] = {{"DX_TILE", tile_text(A, t->dx_mr, t->dx_nb)},
			               {"DX_MR", lconst(e, l, "DX_MR")},
			               {"DX_NB", lconst(e, l, "DX_NB")}};
			emit_tmpl(e, L->kind->tmpl, "backward_input", v, n, x, ARRAY_LEN(x));
		}
		emit_tmpl(e, L->kind->tmpl, "backward_end", NULL, 0, NULL, 0);
		break;
	}
	case PASS_GRADIENT: {
		bool jvec = t->dw_mr % (int)e->plan->vl == 0 && L->out <= e->plan->vl;
		const char *tile = jvec ? arena_printf(A, "%zu rows x %d vectors of j", L->out,
		                                       t->dw_mr / (int)e->plan->vl)
		                        : tile_text(A, t->dw_mr, t->dw_nb);
		TmplVar g[] = {{"DW_TILE", tile},
		               {"DW_TILES_N", plan_num(A, t->dw_tiles)},
		               {"DW_TPU_N", plan_num(A, t->dw_tpu)},
		               {"DW_TILES", lconst(e, l, "DW_TILES")},
		               {"DW_TPU", lconst(e, l, "DW_TPU")},
		               {"DW_MR", lconst(e, l, "DW_MR")},
		               {"DW_NB", lconst(e, l, "DW_NB")},
		               {"SW", lp->state[0]},
		               {"SB", lp->state[1]},
		               /* a decoder (pre-training) only ever sets grads */
		               {"MODE", l < e->m->n_layers ? "kern_job.mode" : "KERN_GRAD_SET"}};
		emit_tmpl(e, L->kind->tmpl, "gradient", v, n, g, ARRAY_LEN(g));
		break;
	}
	}
}

static void dense_describe(Buf *b, const Layer *L)
{
	buf_printf(b, "dense %zu->%zu, %s", L->in, L->out, activation_table[L->act].name);
}

/* Exported inference: sizes, declarations, the forward function (and, for
 * the first chain layer, its variant from raw pixels) and the arrays. */
static int dense_export_code(const Exporter *x, size_t k, bool u8, Buf *c)
{
	const Layer *l = &x->m->layers[k];
	Arena *A = x->ctx->arena;
	const char *in_decl = u8 ? "const unsigned char *restrict px"
	                         : arena_printf(A, "const %s *restrict in", x->real);
	const char *load = u8 ? arena_printf(A, "%s_pixel(px[j], j)", x->p) : "in[j]";
	/* The portable axpy: whole 64-byte blocks (16-byte ones for narrow
	 * layers), a count gcc -O2 vectorises without a remainder loop. */
	size_t block = (x->f32 ? 16 : 8) / (l->out < (x->f32 ? 16u : 8u) ? 4 : 1);
	size_t main = l->out - l->out % block;
	TmplVar v[] = {{"P", x->p},
	               {"U", x->u},
	               {"REAL", x->real},
	               {"K", plan_num(A, k + 1)},
	               {"NAME", text_comment_safe(A, l->name)},
	               {"IN", plan_num(A, l->in)},
	               {"OUT", plan_num(A, l->out)},
	               {"ACT", activation_table[l->act].name},
	               {"LOC", export_loc(x->ctx, l->loc)},
	               {"VARIANT", u8 ? ", from raw pixels" : ""},
	               {"SUFFIX", u8 ? "_u8" : ""},
	               {"IN_DECL", in_decl},
	               {"LOAD", load},
	               {"IN_NAME", u8 ? "px" : "in"},
	               {"XPX", u8 ? "NULL, px" : "in, NULL"},
	               {"MAIN", plan_num(A, main)},
	               {"SIMD_BYTES", plan_num(A, block * (x->f32 ? 4 : 8))},
	               {"EXPR", export_act_expr(x, l->act)}};
	size_t n = ARRAY_LEN(v);

	const char *t = l->kind->tmpl;

	if (export_tmpl(x, c, t, "export_begin", v, n, NULL, 0) < 0 ||
	    (main > 0 && export_tmpl(x, c, t, "export_axpy_main", v, n, NULL, 0) < 0) ||
	    (main < l->out && export_tmpl(x, c, t, "export_axpy_tail", v, n, NULL, 0) < 0) ||
	    export_tmpl(x, c, t, "export_axpy_end", NULL, 0, NULL, 0) < 0 ||
	    (l->act != ACT_LINEAR && export_tmpl(x, c, t, "export_act", v, n, NULL, 0) < 0) ||
	    export_tmpl(x, c, t, "export_end", NULL, 0, NULL, 0) < 0)
		return -1;
	buf_puts(c, "\n");
	return 0;
}

static int dense_export(const Exporter *x, size_t k, ExportPart part, Buf *c)
{
	const Layer *l = &x->m->layers[k];
	Arena *A = x->ctx->arena;
	size_t vl = x->f32 ? 16 : 8;
	TmplVar v[] = {{"P", x->p},
	               {"U", x->u},
	               {"REAL", x->real},
	               {"K", plan_num(A, k + 1)},
	               {"NAME", text_comment_safe(A, l->name)},
	               {"IN", plan_num(A, l->in)},
	               {"OUT", plan_num(A, l->out)},
	               {"VECS", plan_num(A, ceil_div(l->out, vl))},
	               {"WCONST", export_train_tensor(x, k, 0) ? "" : "const "},
	               {"BCONST", export_train_tensor(x, k, 1) ? "" : "const "}};
	size_t n = ARRAY_LEN(v);
	const double *w = x->opt->weights;

	switch (part) {
	case EXPORT_SIZES:
		return export_tmpl(x, c, l->kind->tmpl, "export_sizes", v, n, NULL, 0);
	case EXPORT_DECL:
		return export_tmpl(x, c, l->kind->tmpl, "export_decl", v, n, NULL, 0);
	case EXPORT_CODE:
		return dense_export_code(x, k, false, c) < 0 ||
		               (x->chain[0] == k && dense_export_code(x, k, true, c) < 0)
		           ? -1
		           : 0;
	case EXPORT_PARAMS:
		buf_puts(c, "\n");
		if (export_tmpl(x, c, l->kind->tmpl, "export_weights", v, n, NULL, 0) < 0)
			return -1;
		for (size_t j = 0; j < l->in; j++) {
			buf_puts(c, "\t{");
			for (size_t i = 0; i < l->out; i++) {
				buf_puts(c, i > 0 && i % (x->f32 ? 5 : 4) == 0 ? "\n\t  " : " ");
				export_hex(c, w[l->tensors[0].offset + j * l->out + i], x->f32);
				buf_puts(c, ",");
			}
			buf_puts(c, " },\n");
		}
		if (export_tmpl(x, c, "export.c", "array_end", NULL, 0, NULL, 0) < 0)
			return -1;
		buf_puts(c, "\n");
		if (export_tmpl(x, c, l->kind->tmpl, "export_bias", v, n, NULL, 0) < 0)
			return -1;
		export_values(c, w + l->tensors[1].offset, l->out, x->f32, "\t");
		return export_tmpl(x, c, "export.c", "array_end", NULL, 0, NULL, 0);
	}
	return 0;
}

/* ---- softmax */

static void no_cost(const Model *m, size_t l, size_t B, double *rows, double *weights)
{
	(void)m, (void)l, (void)B, (void)rows, (void)weights;
}

static void no_plan(Plan *p, size_t l)
{
	(void)p, (void)l;
}

static void softmax_code(Emitter *e, size_t l, Pass pass)
{
	TmplVar v[SHARED_MAX];
	size_t n = layer_vars(e, l, v);
	if (pass == PASS_FORWARD)
		emit_tmpl(e, e->m->layers[l].kind->tmpl, "forward", v, n, NULL, 0);
	else if (pass == PASS_BACKWARD)
		emit_tmpl(e, e->m->layers[l].kind->tmpl, "backward", v, n, NULL, 0);
}

static void softmax_describe(Buf *b, const Layer *L)
{
	buf_printf(b, "softmax %zu->%zu", L->in, L->out);
}

static int softmax_export(const Exporter *x, size_t k, ExportPart part, Buf *c)
{
	const Layer *l = &x->m->layers[k];
	Arena *A = x->ctx->arena;
	if (part != EXPORT_CODE)
		return 0;
	TmplVar v[] = {{"P", x->p},
	               {"U", x->u},
	               {"REAL", x->real},
	               {"K", plan_num(A, k + 1)},
	               {"NAME", text_comment_safe(A, l->name)},
	               {"IN", plan_num(A, l->in)},
	               {"OUT", plan_num(A, l->out)},
	               {"LOC", export_loc(x->ctx, l->loc)},
	               {"EXP", x->exp_fn}};
	return export_tmpl(x, c, l->kind->tmpl, "export_output", NULL, 0, v, ARRAY_LEN(v));
}

/* ---- dropout: a = x * m / (1 - rate) while training, m[s][i] in {0, 1}
 * kept with probability 1 - rate from a counter-based generator
 * (nncc_kern.h, kern_dropout); the identity when evaluating, and nothing
 * in inference code. */

static const Field dropout_fields[] = {
	{"rate", NODE_SCALAR, field_fraction, offsetof(Layer, rate), true, NULL},
};

/* The two row passes each read and write OUT reals per sample, with a
 * hash per two units. */
static void dropout_cost(const Model *m, size_t l, size_t B, double *rows, double *weights)
{
	(void)weights;
	*rows += 2.0 * (double)B * (double)m->layers[l].out;
}

static void dropout_code(Emitter *e, size_t l, Pass pass)
{
	Arena *A = e->ctx->arena;
	const Layer *L = &e->m->layers[l];
	TmplVar v[SHARED_MAX];
	size_t n = layer_vars(e, l, v);
	/* a unit is dropped when its 32 random bits are below rate * 2^32 */
	v[n++] = (TmplVar){"DROP_BELOW", lconst(e, l, "DROP_BELOW")};
	v[n++] = (TmplVar){"SCALE", lconst(e, l, "SCALE")};
	if (pass == PASS_FORWARD) {
		TmplVar f[] = {{"RATE", text_double(A, L->rate)},
		               {"DROP_BELOW_N", plan_num(A, (size_t)ldexp(L->rate, 32))},
		               {"SCALE_N", text_double(A, 1 / (1 - L->rate))}};
		emit_tmpl(e, L->kind->tmpl, "forward", v, n, f, ARRAY_LEN(f));
	} else if (pass == PASS_BACKWARD) {
		emit_tmpl(e, L->kind->tmpl, "backward", v, n, NULL, 0);
	}
}

static void dropout_describe(Buf *b, const Layer *L)
{
	buf_printf(b, "dropout %zu->%zu, rate %g", L->in, L->out, L->rate);
}

/* Inference code has no dropout: the chain goes from the layer below to the
 * layer above. */
static int no_export(const Exporter *x, size_t l, ExportPart part, Buf *c)
{
	(void)x, (void)l, (void)part, (void)c;
	return 0;
}

const KindInfo kind_table[] = {
	{
		.name = "dense",
		.fields = dense_fields,
		.n_fields = ARRAY_LEN(dense_fields),
		.first_ok = true,
		.has_activation = true,
		.out = dense_out,
		.tensors = dense_tensors,
		.tmpl = "dense.c",
		.cost = dense_cost,
		.plan = dense_plan,
		.code = dense_code,
		.export_role = EXPORT_CHAIN,
		.export = dense_export,
		.describe = dense_describe,
	},
	{
		.name = "softmax",
		.last_only = true,
		.out = same_width,
		.tensors = no_tensors,
		.tmpl = "softmax.c",
		.cost = no_cost,
		.plan = no_plan,
		.code = softmax_code,
		.export_role = EXPORT_OUTPUT,
		.export = softmax_export,
		.describe = softmax_describe,
	},
	{
		.name = "dropout",
		.fields = dropout_fields,
		.n_fields = ARRAY_LEN(dropout_fields),
		.first_ok = true,
		.not_last = true,
		.after = "dense",
		.masks = true,
		.out = same_width,
		.tensors = no_tensors,
		.tmpl = "dropout.c",
		.cost = dropout_cost,
		.plan = no_plan,
		.code = dropout_code,
		.export_role = EXPORT_NONE,
		.export = no_export,
		.describe = dropout_describe,
	},
};
const size_t kind_count = ARRAY_LEN(kind_table);

const KindInfo *kind_find(const char *name)
{
	for (size_t k = 0; k < kind_count; k++)
		if (strcmp(kind_table[k].name, name) == 0)
			return &kind_table[k];
	return NULL;
}
