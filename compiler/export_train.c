/*
 * export_train.c - on-device fine-tuning for exported inference code (nncc
 * --infer --trainable MODE): which parameters train (and so live in RAM),
 * the memory ledger (header comment and macros), and NAME_train_step, one
 * SGD (or momentum) step of batch 1 with the generated trainer's bits.  The
 * fixed text is templates/export_train.c; the decisions are made here.  The
 * batch form (-DNAME_TRAIN_BATCH) sums the gradients first.  No other loss
 * than softmax + cross-entropy.
 * Vocabulary as in export.c; d = a chain position (0 = first chain layer),
 * "lowest" = the lowest chain position with a trainable tensor.
 */
#include <string.h>

#include "nncc.h"
#include "../runtime/nncc_exp.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *name;
	TrainMode mode;
	const char *doc;
} train_modes[] = {
	{"all", TRAIN_ALL, "every parameter"},
	{"last", TRAIN_LAST, "the last dense layer's W and b"},
	{"bias", TRAIN_BIAS, "every dense layer's bias"},
};

TrainMode export_train_mode(const char *name)
{
	for (size_t k = 0; k < ARRAY_LEN(train_modes); k++)
		if (strcmp(name, train_modes[k].name) == 0)
			return train_modes[k].mode;
	return TRAIN_NONE;
}

static const char *mode_doc(TrainMode t, bool name)
{
	for (size_t k = 0; k < ARRAY_LEN(train_modes); k++)
		if (train_modes[k].mode == t)
			return name ? train_modes[k].name : train_modes[k].doc;
	NNCC_UNREACHABLE();
}

bool export_train_tensor(const Exporter *x, size_t k, size_t t)
{
	TrainMode mode = (TrainMode)x->opt->trainable;

	if (mode == TRAIN_NONE || x->m->layers[k].kind->export_role != EXPORT_CHAIN)
		return false;
	if (mode == TRAIN_ALL)
		return true;
	if (mode == TRAIN_BIAS)
		return t == 1;
	return k == x->chain[x->n_chain - 1];   /* TRAIN_LAST */
}

/* The lowest chain position whose layer trains something. */
static size_t lowest(const Exporter *x)
{
	return (TrainMode)x->opt->trainable == TRAIN_LAST ? x->n_chain - 1 : 0;
}

int export_train_check(const Exporter *x)
{
	const Model *m = x->m;
	const Layer *last = &m->layers[m->n_layers - 1];

	if (x->opt->trainable == TRAIN_NONE)
		return 0;
	if (last->kind->export_role != EXPORT_OUTPUT || strcmp(m->loss->name, "cross_entropy") != 0) {
		diag_error(x->ctx, last->loc,
		           "--trainable: network \"%s\" ends in %s with loss %s: on-device training "
		           "needs a softmax output with the cross_entropy loss",
		           m->name, last->kind->name, m->loss->name);
		return -1;
	}
	for (size_t k = 0; k < m->n_layers; k++)
		if (m->layers[k].kind->export_role == EXPORT_NONE) {
			diag_error(x->ctx, m->layers[k].loc,
			           "--trainable: network \"%s\" has a %s layer: on-device training has "
			           "none (export it without --trainable, or remove the layer)",
			           m->name, m->layers[k].kind->name);
			return -1;
		}
	return 0;
}

/* The device's optimizer: the YAML's when it is sgd or momentum (its
 * hyper-parameters), plain SGD without weight decay for any other. */
typedef struct DeviceOpt {
	bool momentum, nesterov;
	double wd, wdb, mu, damp1;
} DeviceOpt;

static DeviceOpt device_opt(const Model *m)
{
	const OptimizerInfo *o = m->train.optimizer;
	DeviceOpt d = {0};
	double biases = 1, damp = 0;

	if (!o || (strcmp(o->name, "sgd") != 0 && strcmp(o->name, "momentum") != 0))
		return d;
	d.momentum = strcmp(o->name, "momentum") == 0;
	for (size_t k = 0; k < o->n_hparams; k++) {
		const char *key = o->hparams[k].key;
		double v = m->train.hparams[k];
		if (strcmp(key, "weight_decay") == 0)
			d.wd = v;
		else if (strcmp(key, "decay_biases") == 0)
			biases = v;
		else if (strcmp(key, "momentum") == 0)
			d.mu = v;
		else if (strcmp(key, "dampening") == 0)
			damp = v;
		else if (strcmp(key, "nesterov") == 0)
			d.nesterov = v != 0;
	}
	d.wdb = biases != 0 ? d.wd : 0;
	d.damp1 = 1.0 - damp;   /* as the trainer's opt_prepare, in double */
	return d;
}

/* ---- the ledger */

typedef struct Ledger {
	size_t trainable, state, acts, scratch;   /* RAM */
	size_t frozen, tables;                     /* flash */
} Ledger;

static Ledger ledger(const Exporter *x)
{
	const Model *m = x->m;
	const int norm = x->opt->norm->kind;
	size_t rs = x->f32 ? 4 : 8;
	bool mom = device_opt(m).momentum;
	Ledger g = {.state = mom ? 1 : 0};   /* momentum: the "started" flag */

	for (size_t d = 0; d < x->n_chain; d++) {
		const Layer *l = &m->layers[x->chain[d]];
		for (size_t t = 0; t < l->n_tensors; t++) {
			size_t bytes = l->tensors[t].size * rs;
			bool tr = export_train_tensor(x, x->chain[d], t);
			*(tr ? &g.trainable : &g.frozen) += bytes;
			g.state += tr && mom ? bytes : 0;   /* momentum's v */
		}
		g.acts += l->out * rs;
		if (d >= lowest(x))
			g.scratch += l->out * rs;
	}
	if (norm == NNCC_NORM_STANDARDIZE || norm == NNCC_NORM_STANDARDIZE_FEATURES)
		g.tables += m->inputs * 8;
	if (norm == NNCC_NORM_STANDARDIZE_FEATURES)
		g.tables += m->inputs * 8;
	/* the softmax's exp (P_exp): its polynomial's coefficients */
	g.tables += (x->f32 ? NNCC_EXP_NPOLY_F32 : NNCC_EXP_NPOLY_F64) * rs;
	return g;
}

void export_train_comment(const Exporter *x, Buf *b)
{
	TrainMode mode = (TrainMode)x->opt->trainable;

	if (mode == TRAIN_NONE)
		return;
	Ledger g = ledger(x);
	size_t ram = g.trainable + g.state + g.acts + g.scratch;
	buf_printf(b, " * On-device fine-tuning: --trainable %s (%s), %s.\n"
	              " * Memory ledger (bytes, computed by nncc):\n"
	              " *   RAM   trainable parameters (.data)              %10zu\n"
	              " *         optimizer state (.bss)                    %10zu\n"
	              " *         activations kept for backward (.bss)      %10zu\n"
	              " *         scratch: deltas (.bss)                    %10zu\n"
	              " *         total %s_RAM_BYTES%*s %10zu  (%s_TRAIN_RAM_BYTES %zu)\n"
	              " *         + the batch form's gradient sums (.bss), with\n"
	              " *           -D%s_TRAIN_BATCH: %s_TRAIN_BATCH_RAM_BYTES %zu\n"
	              " *   flash frozen parameters (.rodata)               %10zu\n"
	              " *         tables: normalisation, exp (.rodata)      %10zu\n"
	              " *         total %s_FLASH_BYTES%*s %10zu  (code not counted)\n"
	              " *   The trainable parameters and buffers are writable statics:\n"
	              " *   train_step and the inference functions must not run concurrently.\n"
	              " *   train_step's stack: the inference's plus a few scalars.\n *\n",
	           mode_doc(mode, true), mode_doc(mode, false),
	           device_opt(x->m).momentum ? "momentum" : "SGD", g.trainable, g.state, g.acts,
	           g.scratch, x->u, (int)(35 - strlen(x->u) - 10), "", ram, x->u,
	           g.state + g.acts + g.scratch, x->u, x->u, g.trainable, g.frozen, g.tables, x->u,
	           (int)(35 - strlen(x->u) - 12), "", g.frozen + g.tables);
}

int export_train_header(const Exporter *x, Buf *h)
{
	if (x->opt->trainable == TRAIN_NONE)
		return 0;
	Ctx *ctx = x->ctx;
	Ledger g = ledger(x);
	TmplVar v[] = {{"P", x->p},
	               {"U", x->u},
	               {"REAL", x->real},
	               {"MODE", mode_doc((TrainMode)x->opt->trainable, true)},
	               {"PARAMS", plan_num(ctx->arena, x->m->n_params)},
	               {"RAM", plan_num(ctx->arena, g.trainable + g.state + g.acts + g.scratch)},
	               {"TRAIN_RAM", plan_num(ctx->arena, g.state + g.acts + g.scratch)},
	               {"FLASH", plan_num(ctx->arena, g.frozen + g.tables)},
	               {"BATCH_RAM", plan_num(ctx->arena, g.trainable)}};
	const size_t n = ARRAY_LEN(v);

	buf_puts(h, "\n");
	if (export_tmpl(x, h, "export_train.c", "macros", v, n, NULL, 0) < 0)
		return -1;
	if (x->opt->header_only)
		return 0;
	buf_puts(h, "\n");
	if (export_tmpl(x, h, "export_train.c", "decls", v, n, NULL, 0) < 0 ||
	    export_tmpl(x, h, "export_train.c", "decl_batch", v, n, NULL, 0) < 0 ||
	    (device_opt(x->m).momentum &&
	     export_tmpl(x, h, "export_train.c", "decl_reset", v, n, NULL, 0) < 0))
		return -1;
	return export_tmpl(x, h, "export_train.c", "decls_end", v, n, NULL, 0);
}

/* ---- the code */

static const char *hex(Ctx *ctx, double v)
{
	Buf b;
	buf_init(&b);
	export_hex(&b, v, false);
	const char *r = arena_strdup(ctx->arena, b.data);
	buf_fini(&b);
	return r;
}

/* The buffers and the training forward pass. */
static int put_forward(const Exporter *x, Buf *c, const TmplVar *sh, size_t nsh)
{
	Arena *A = x->ctx->arena;
	bool mom = device_opt(x->m).momentum;

	for (size_t d = 0; d < x->n_chain; d++) {
		TmplVar v[] = {{"K", plan_num(A, x->chain[d] + 1)}};
		if ((mom && export_train_tensor(x, x->chain[d], 0) &&
		     export_tmpl(x, c, "export_train.c", "state_w", sh, nsh, v, 1) < 0) ||
		    (mom && export_train_tensor(x, x->chain[d], 1) &&
		     export_tmpl(x, c, "export_train.c", "state_b", sh, nsh, v, 1) < 0) ||
		    export_tmpl(x, c, "export_train.c", "act_buf", sh, nsh, v, ARRAY_LEN(v)) < 0 ||
		    (d >= lowest(x) &&
		     export_tmpl(x, c, "export_train.c", "delta_buf", sh, nsh, v, ARRAY_LEN(v)) < 0))
			return -1;
	}
	buf_puts(c, "\n");
	for (size_t d = 0; d < x->n_chain; d++) {
		TmplVar v[] = {{"K", plan_num(A, x->chain[d] + 1)},
		               {"KB", plan_num(A, d ? x->chain[d - 1] + 1 : 0)}};
		if (export_tmpl(x, c, "export_train.c", d ? "forward_call" : "forward_begin", sh, nsh,
		                v, d ? 2 : 1) < 0)
			return -1;
	}
	return export_tmpl(x, c, "export_train.c", "forward_end", NULL, 0, NULL, 0);
}

/* P_train_backward: the output delta, then the backward pass down to the
 * lowest trainable layer. */
static int put_backward(const Exporter *x, Buf *c, const TmplVar *sh, size_t nsh)
{
	const Model *m = x->m;
	Arena *A = x->ctx->arena;
	size_t top = x->chain[x->n_chain - 1];
	const Layer *lt = &m->layers[top];
	TmplVar vt[] = {{"K", plan_num(A, top + 1)}, {"DERIV", export_act_deriv(x, lt->act)}};

	if (export_tmpl(x, c, "export_train.c", "backward_begin", sh, nsh, vt, 1) < 0)
		return -1;
	buf_puts(c, "\n");
	if (lt->act != ACT_LINEAR &&
	    export_tmpl(x, c, "export_train.c", "deriv_last", sh, nsh, vt, 2) < 0)
		return -1;
	for (size_t d = x->n_chain - 1; d > lowest(x); d--) {
		const Layer *below = &m->layers[x->chain[d - 1]];
		TmplVar v[] = {{"K", plan_num(A, x->chain[d] + 1)},
		               {"KB", plan_num(A, x->chain[d - 1] + 1)},
		               {"DERIV", export_act_deriv(x, below->act)}};
		bool lin = below->act == ACT_LINEAR;
		if (d + 1 < x->n_chain || lt->act != ACT_LINEAR)
			buf_puts(c, "\n");
		if (export_tmpl(x, c, "export_train.c", "backward", sh, nsh, v, 2) < 0 ||
		    export_tmpl(x, c, "export_train.c", lin ? "backward_linear" : "backward_deriv", sh,
		                nsh, v + 1, lin ? 1 : 2) < 0)
			return -1;
	}
	return export_tmpl(x, c, "export_train.c", "function_end", NULL, 0, NULL, 0);
}

/* x[j] of chain position d's input: the sample's (layer 1) or the layer
 * below's kept output. */
static const char *input_j(const Exporter *x, size_t d)
{
	Arena *A = x->ctx->arena;
	return d ? arena_printf(A, "%s_train_a%zu[j]", x->p, x->chain[d - 1] + 1)
	         : arena_printf(A, "px ? %s_pixel(px[j], j) : x[j]", x->p);
}

/* An update function: P_train_update1 (one sample's gradient from its
 * deltas) or, batch, P_train_update_batch (the sums). */
static int put_update(const Exporter *x, Buf *c, const TmplVar *sh, size_t nsh, bool batch)
{
	Arena *A = x->ctx->arena;
	bool mom = device_opt(x->m).momentum;
	TmplVar vb[] = {{"SUFFIX", batch ? "_batch" : "1"},
	                {"ARGS", arena_printf(A, batch ? "%s lr, size_t n"
	                                              : "const %s *x, const unsigned char *px, "
	                                                "%s lr", x->real, x->real)},
	                {"N", batch ? "n" : "1"},
	                {"UNUSED", batch ? "" : "\t(void)x, (void)px;\n"},
	                {"UPDATE_DOC", batch ? "the gradient sums of a batch of n"
	                                     : "one sample's gradient G = x d from the deltas"}};

	if (export_tmpl(x, c, "export_train.c", "update_begin", sh, nsh, vb, ARRAY_LEN(vb)) < 0 ||
	    (mom && export_tmpl(x, c, "export_train.c", "step_momentum", sh, nsh, NULL, 0) < 0))
		return -1;
	for (size_t d = lowest(x); d < x->n_chain; d++) {
		size_t k = x->chain[d];
		const char *K = plan_num(A, k + 1);
		TmplVar v[] = {{"K", K},
		               {"XJ", batch ? "0" : input_j(x, d)},
		               {"GW", batch ? arena_printf(A, "%s_train_g%s_w[j][i]", x->p, K)
		                            : arena_printf(A, "%s_FMA(xj, %s_train_d%s[i], (%s)0)", x->u,
		                                           x->p, K, x->real)},
		               {"GB", batch ? arena_printf(A, "%s_train_g%s_b[i]", x->p, K)
		                            : arena_printf(A, "((%s)0 + %s_train_d%s[i])", x->real,
		                                           x->p, K)}};
		TmplVar vbias[] = {v[0], v[3]};
		if (d > lowest(x) || mom)
			buf_puts(c, "\n");
		if ((export_train_tensor(x, k, 0) &&
		     export_tmpl(x, c, "export_train.c", mom ? "update_w_momentum" : "update_w", sh,
		                 nsh, v, 3) < 0) ||
		    (export_train_tensor(x, k, 1) &&
		     export_tmpl(x, c, "export_train.c", mom ? "update_b_momentum" : "update_b", sh,
		                 nsh, vbias, 2) < 0))
			return -1;
	}
	return export_tmpl(x, c, "export_train.c", "function_end", NULL, 0, NULL, 0);
}

/* The batch form, under #if defined(U_TRAIN_BATCH): the sums, their
 * accumulation, the update from them, the API. */
static int put_batch(const Exporter *x, Buf *c, const TmplVar *sh, size_t nsh)
{
	Arena *A = x->ctx->arena;

	if (export_tmpl(x, c, "export_train.c", "batch_begin", sh, nsh, NULL, 0) < 0)
		return -1;
	for (int pass = 0; pass < 2; pass++) {   /* the arrays, then the accumulation */
		if (pass && (buf_puts(c, "\n"),
		             export_tmpl(x, c, "export_train.c", "acc_begin", sh, nsh, NULL, 0) < 0))
			return -1;
		for (size_t d = lowest(x); d < x->n_chain; d++) {
			size_t k = x->chain[d];
			TmplVar v[] = {{"K", plan_num(A, k + 1)}, {"XJ", input_j(x, d)}};
			if ((export_train_tensor(x, k, 0) &&
			     export_tmpl(x, c, "export_train.c", pass ? "acc_w" : "grad_w", sh, nsh, v,
			                 pass ? 2 : 1) < 0) ||
			    (export_train_tensor(x, k, 1) &&
			     export_tmpl(x, c, "export_train.c", pass ? "acc_b" : "grad_b", sh, nsh, v,
			                 1) < 0))
				return -1;
		}
		if (pass && export_tmpl(x, c, "export_train.c", "function_end", NULL, 0, NULL, 0) < 0)
			return -1;
	}
	buf_puts(c, "\n");
	if (put_update(x, c, sh, nsh, true) < 0)
		return -1;
	buf_puts(c, "\n");
	return export_tmpl(x, c, "export_train.c", "batch_api", sh, nsh, NULL, 0);
}

/* The parameter accessors. */
static int put_accessors(const Exporter *x, Buf *c, const TmplVar *sh, size_t nsh)
{
	Arena *A = x->ctx->arena;

	if (export_tmpl(x, c, "export_train.c", "get_begin", sh, nsh, NULL, 0) < 0)
		return -1;

	for (size_t d = 0; d < x->n_chain; d++) {
		TmplVar v[] = {{"K", plan_num(A, x->chain[d] + 1)}};
		if (export_tmpl(x, c, "export_train.c", "get_layer", sh, nsh, v, 1) < 0)
			return -1;
	}
	if (export_tmpl(x, c, "export_train.c", "set_begin", sh, nsh, NULL, 0) < 0)
		return -1;
	for (size_t d = 0; d < x->n_chain; d++) {
		const Layer *l = &x->m->layers[x->chain[d]];
		for (size_t t = 0; t < 2; t++) {
			TmplVar v[] = {{"K", plan_num(A, x->chain[d] + 1)},
			               {"OFF", plan_num(A, l->tensors[t].offset)}};
			if (export_train_tensor(x, x->chain[d], t) &&
			    export_tmpl(x, c, "export_train.c", t ? "set_b" : "set_w", sh, nsh, v, 2) < 0)
				return -1;
		}
	}
	return export_tmpl(x, c, "export_train.c", "set_end", NULL, 0, NULL, 0);
}

int export_train_code(const Exporter *x, Buf *c)
{
	if (x->opt->trainable == TRAIN_NONE)
		return 0;
	Ctx *ctx = x->ctx;
	DeviceOpt o = device_opt(x->m);
	TmplVar sh[] = {{"P", x->p},
	                {"U", x->u},
	                {"REAL", x->real},
	                {"API", x->opt->header_only ? "static inline " : ""},
	                {"MODE", mode_doc((TrainMode)x->opt->trainable, true)},
	                {"WD", hex(ctx, o.wd)},
	                {"WDB", hex(ctx, o.wdb)},
	                {"WD_DEC", arena_printf(ctx->arena, "%g", o.wd)},
	                {"MU", hex(ctx, o.mu)},
	                {"MU_DEC", arena_printf(ctx->arena, "%g", o.mu)},
	                {"DAMP1", hex(ctx, o.damp1)},
	                {"NESTEROV", o.nesterov ? "1" : "0"}};
	const size_t nsh = ARRAY_LEN(sh);

	if (export_tmpl(x, c, "export_train.c", "begin", sh, nsh, NULL, 0) < 0 ||
	    (o.momentum && export_tmpl(x, c, "export_train.c", "begin_momentum", sh, nsh, NULL, 0) < 0) ||
	    put_forward(x, c, sh, nsh) < 0)
		return -1;
	buf_puts(c, "\n");
	if (put_backward(x, c, sh, nsh) < 0)
		return -1;
	buf_puts(c, "\n");
	if (put_update(x, c, sh, nsh, false) < 0)
		return -1;
	buf_puts(c, "\n");
	if (export_tmpl(x, c, "export_train.c", "step_api", sh, nsh, NULL, 0) < 0)
		return -1;
	buf_puts(c, "\n");
	if (put_batch(x, c, sh, nsh) < 0 || put_accessors(x, c, sh, nsh) < 0)
		return -1;
	if (o.momentum) {
		buf_puts(c, "\n");
		return export_tmpl(x, c, "export_train.c", "reset_momentum", sh, nsh, NULL, 0);
	}
	return 0;
}
