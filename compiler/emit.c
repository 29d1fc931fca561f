/*
 * emit.c - Model -> the C of a trainer.  Decides what goes where: the header
 * comment, size constants, buffers, which template section each layer uses,
 * the call order in NAME_forward/NAME_backward and the nncc_model_t
 * descriptor.  The numeric kernels live in templates/ (expanded by tmpl.c);
 * the few lines written here go through emit_line().  Output depends only on
 * the Model, the options and the version: no clock, no absolute paths.
 * Vocabulary: P = network prefix ("mnist"), U = its upper case ("MNIST"),
 * l = 0-based layer index (the generated names use l + 1).
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nncc.h"
#include "../runtime/nncc.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Largest tile compiled in; bigger batches are accumulated tile by tile. */
#define EMIT_MAX_TILE 256

/* Names the generated code uses for one layer. */
typedef struct LayerNames {
	const char *fn;          /* static function prefix: "l1_hidden" */
	const char *in, *out;    /* size constants: "MNIST_L1_IN" */
	const char *w_off, *b_off; /* dense: offset constants */
	const char *a, *d;       /* output and delta buffers; d is NULL for softmax */
	const char *input;       /* the layer's input as a const real *: "x", "&mnist_a1[0][0]" */
} LayerNames;

typedef struct Emitter {
	Ctx *ctx;
	Buf *out;
	const Model *m;
	const char *p, *u;       /* network prefix, lower and upper case */
	LayerNames *names;       /* n_layers */
	int indent;
	bool failed;
} Emitter;

/* One row per layer kind: how its template is used.  Adding a kind = a row
 * here, templates/KIND.c and a test. */
typedef struct KindEmitter {
	const char *runtime_kind;     /* nncc_layer_kind_t constant */
	void (*code)(Emitter *e, size_t l);           /* the layer's static functions */
	void (*backward_calls)(Emitter *e, size_t l); /* its lines in NAME_backward */
} KindEmitter;

/* Per dtype: the C type and the <math.h> functions the templates use. */
static const struct {
	const char *name, *ctype, *exp, *tanh, *log, *fma, *runtime;
} dtypes[] = {
	[DTYPE_F32] = {"float32", "float", "expf", "tanhf", "logf", "fmaf", "NNCC_F32"},
	[DTYPE_F64] = {"float64", "double", "exp", "tanh", "log", "fma", "NNCC_F64"},
};

/* One row per optimizer: a template with an "update" section. */
static const struct {
	const char *name, *tmpl;
} optimizers[] = {
	[OPT_SGD] = {"sgd", "sgd.c"},
};

static const char *const init_names[] = {
	[INIT_NORMAL] = "NNCC_INIT_NORMAL",
	[INIT_UNIFORM] = "NNCC_INIT_UNIFORM",
};

static const char *const norm_names[] = {
	[NORM_NONE] = "NNCC_NORM_NONE",
	[NORM_SCALE] = "NNCC_NORM_SCALE",
	[NORM_STANDARDIZE] = "NNCC_NORM_STANDARDIZE",
};

static void emit_line(Emitter *e, const char *fmt, ...) NNCC_PRINTF(2, 3);

/* Appends one line at the current indentation. */
static void emit_line(Emitter *e, const char *fmt, ...)
{
	for (int i = 0; i < e->indent; i++)
		buf_puts(e->out, "\t");
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(e->out, fmt, ap);
	va_end(ap);
	buf_puts(e->out, "\n");
}

static void emit_blank(Emitter *e)
{
	buf_puts(e->out, "\n");
}

static void emit_tmpl(Emitter *e, const char *tmpl, const char *section, const TmplVar *vars,
                      size_t n_vars)
{
	if (tmpl_expand(e->ctx, e->out, tmpl, section, vars, n_vars) != 0)
		e->failed = true;
}

/* ---- text helpers (results owned by the arena) */

static const char *comment_safe(Emitter *e, const char *s)
{
	return text_comment_safe(e->ctx->arena, s);
}

/* s as a C string literal, quotes included; NULL gives "NULL". */
static const char *c_string(Emitter *e, const char *s)
{
	if (!s)
		return "NULL";
	Buf b;
	buf_init(&b);
	buf_puts(&b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\' || *p == '?')   /* '?': no trigraphs */
			buf_printf(&b, "\\%c", *p);
		else if (*p >= 0x20 && *p < 0x7f)
			buf_printf(&b, "%c", *p);
		else    /* octal escapes cannot swallow the next character as hex ones do */
			buf_printf(&b, "\\%03o", *p);
	}
	buf_puts(&b, "\"");
	char *r = arena_strdup(e->ctx->arena, b.data);
	buf_fini(&b);
	return r;
}

/* The shortest decimal that reads back as exactly v (0.3, not 0.2999...). */
static const char *c_double(Emitter *e, double v)
{
	char tmp[64];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	return arena_strdup(e->ctx->arena, tmp);
}

static int max_int(int a, int b)
{
	return a > b ? a : b;
}

static const char *upper(Emitter *e, const char *s)
{
	char *r = arena_strdup(e->ctx->arena, s);
	for (char *q = r; *q; q++)
		if (*q >= 'a' && *q <= 'z')
			*q = (char)(*q - 'a' + 'A');
	return r;
}

static const char *activation_name(const Layer *ly)
{
	return ly->kind == LAYER_DENSE ? activation_table[ly->act].name : "softmax";
}

static const char *kind_name(LayerKind k)
{
	static const char *const names[LAYER_COUNT] = {
		[LAYER_DENSE] = "dense",
		[LAYER_SOFTMAX] = "softmax",
	};
	return names[k];
}

/* "l2_hidden"; a layer with its default name "layerN" is "lN_KIND".  The
 * index keeps names unique whatever the YAML names are. */
static const char *layer_fn(Emitter *e, size_t l)
{
	const Layer *ly = &e->m->layers[l];
	const char *deflt = arena_printf(e->ctx->arena, "layer%zu", l + 1);
	const char *base = strcmp(ly->name, deflt) == 0 ? kind_name(ly->kind) : ly->name;
	char *fn = arena_printf(e->ctx->arena, "l%zu_%s", l + 1, base);
	for (char *q = fn; *q; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
		      (*q >= '0' && *q <= '9') || *q == '_'))
			*q = '_';
	return fn;
}

static void names_init(Emitter *e)
{
	Arena *A = e->ctx->arena;
	const Model *m = e->m;
	e->names = arena_alloc(A, m->n_layers * sizeof *e->names);
	for (size_t l = 0; l < m->n_layers; l++) {
		LayerNames *nm = &e->names[l];
		nm->fn = layer_fn(e, l);
		nm->in = arena_printf(A, "%s_L%zu_IN", e->u, l + 1);
		nm->out = arena_printf(A, "%s_L%zu_OUT", e->u, l + 1);
		nm->w_off = arena_printf(A, "%s_L%zu_W_OFF", e->u, l + 1);
		nm->b_off = arena_printf(A, "%s_L%zu_B_OFF", e->u, l + 1);
		nm->a = arena_printf(A, "%s_a%zu", e->p, l + 1);
		nm->d = m->layers[l].kind == LAYER_DENSE ? arena_printf(A, "%s_d%zu", e->p, l + 1)
		                                         : NULL;
		nm->input = l == 0 ? "x" : arena_printf(A, "&%s[0][0]", e->names[l - 1].a);
	}
}

static size_t max_batch(const Model *m)
{
	size_t bs = m->train.batch_size;
	return bs >= 1 && bs <= EMIT_MAX_TILE ? bs : EMIT_MAX_TILE;
}

/* ---- the model's shape, checked again here because the generated code
 * relies on it: dense layers, then one softmax last, fed by a dense layer. */
static int check_shape(Ctx *ctx, const Model *m)
{
	if (m->n_layers < 2 || m->layers[m->n_layers - 1].kind != LAYER_SOFTMAX) {
		diag_error(ctx, m->n_layers ? m->layers[m->n_layers - 1].loc : (Loc){m->path, 0, 0},
		           "the trainer needs a softmax layer last, after a dense layer");
		return -1;
	}
	for (size_t l = 0; l + 1 < m->n_layers; l++)
		if (m->layers[l].kind != LAYER_DENSE) {
			diag_error(ctx, m->layers[l].loc,
			           "layer \"%s\": only dense layers can come before the softmax",
			           m->layers[l].name);
			return -1;
		}
	return 0;
}

/* ---- header comment */

static void emit_header(Emitter *e, const EmitOptions *opt)
{
	const Model *m = e->m;
	emit_line(e, "/*");
	emit_line(e, " * Generated by nncc %s from %s (sha256 %s). Do not edit.", NNCC_VERSION,
	          comment_safe(e, m->path), m->sha256);
	if (opt->command_line)
		emit_line(e, " * Command: %s", comment_safe(e, opt->command_line));
	emit_line(e, " *");
	emit_line(e, " * Network %s: %zu inputs, %zu outputs, %s, tiles of up to %zu samples.",
	          m->name, m->inputs, m->outputs, dtypes[m->dtype].name, max_batch(m));
	emit_line(e, " *");

	/* The layer table, columns sized to their widest entry. */
	int w_name = 4, w_in = 2, w_out = 3, w_act = 10, w_params = 6;
	for (size_t l = 0; l < m->n_layers; l++) {
		const Layer *ly = &m->layers[l];
		w_name = max_int(w_name, (int)strlen(comment_safe(e, ly->name)));
		w_in = max_int(w_in, snprintf(NULL, 0, "%zu", ly->in));
		w_out = max_int(w_out, snprintf(NULL, 0, "%zu", ly->out));
		w_act = max_int(w_act, (int)strlen(activation_name(ly)));
	}
	w_params = max_int(w_params, snprintf(NULL, 0, "%zu", m->n_params));
	emit_line(e, " *   #  %-*s  %-7s  %*s -> %-*s  %-*s  %*s", w_name, "name", "kind", w_in,
	          "in", w_out, "out", w_act, "activation", w_params, "params");
	for (size_t l = 0; l < m->n_layers; l++) {
		const Layer *ly = &m->layers[l];
		emit_line(e, " *  %2zu  %-*s  %-7s  %*zu -> %-*zu  %-*s  %*zu", l + 1, w_name,
		          comment_safe(e, ly->name), kind_name(ly->kind), w_in, ly->in, w_out,
		          ly->out, w_act, activation_name(ly), w_params, ly->n_params);
	}
	int w_row = w_name + 2 + 7 + 2 + w_in + 4 + w_out + 2 + w_act;
	emit_line(e, " *      %*s  %*zu", w_row, "total", w_params, m->n_params);
	emit_line(e, " *");
	emit_line(e, " * Loss: cross-entropy on the softmax output.  Optimizer: %s.",
	          optimizers[m->train.optimizer].name);
	emit_line(e, " * Parameters: one block; per dense layer W (IN, OUT) input-major, then b (OUT).");
	emit_line(e, " */");
}

/* ---- sizes and buffers */

static void emit_sizes(Emitter *e)
{
	const Model *m = e->m;
	emit_line(e, "/* Sizes in elements.  B = samples in a tile, at most MAX_BATCH. */");
	emit_line(e, "#define %s_N_INPUTS %zu", e->u, m->inputs);
	emit_line(e, "#define %s_N_OUTPUTS %zu", e->u, m->outputs);
	emit_line(e, "#define %s_N_LAYERS %zu", e->u, m->n_layers);
	emit_line(e, "#define %s_N_PARAMS %zu", e->u, m->n_params);
	emit_line(e, "#define %s_MAX_BATCH %zu", e->u, max_batch(m));
	for (size_t l = 0; l < m->n_layers; l++) {
		const Layer *ly = &m->layers[l];
		const LayerNames *nm = &e->names[l];
		emit_blank(e);
		emit_line(e, "/* layer %zu \"%s\": %s */", l + 1, comment_safe(e, ly->name),
		          ly->kind == LAYER_DENSE ? "W (IN, OUT) at W_OFF, b (OUT) at B_OFF"
		                                  : "no parameters");
		emit_line(e, "#define %s %zu", nm->in, ly->in);
		emit_line(e, "#define %s %zu", nm->out, ly->out);
		if (ly->kind == LAYER_DENSE) {
			emit_line(e, "#define %s %zu", nm->w_off, ly->w_offset);
			emit_line(e, "#define %s %zu", nm->b_off, ly->b_offset);
		}
	}
}

static void emit_buffers(Emitter *e)
{
	const Model *m = e->m;
	emit_line(e, "/* Parameters and their gradient sums: one block each, the same layout. */");
	emit_line(e, "static real %s_params[%s_N_PARAMS]; /* (%zu) */", e->p, e->u, m->n_params);
	emit_line(e, "static real %s_grads[%s_N_PARAMS];  /* (%zu) */", e->p, e->u, m->n_params);
	emit_blank(e);
	emit_line(e, "/* Per layer: outputs a and, for dense layers, deltas d = dL/dz. */");
	for (size_t l = 0; l < m->n_layers; l++) {
		const LayerNames *nm = &e->names[l];
		emit_line(e, "static real %s[%s_MAX_BATCH][%s]; /* (B, %zu) */", nm->a, e->u, nm->out,
		          m->layers[l].out);
		if (nm->d)
			emit_line(e, "static real %s[%s_MAX_BATCH][%s]; /* (B, %zu) */", nm->d, e->u,
			          nm->out, m->layers[l].out);
	}
}

/* f and f' for each activation the network uses, in table order. */
static void emit_activations(Emitter *e)
{
	bool used[ACT_COUNT] = {false};
	for (size_t l = 0; l < e->m->n_layers; l++)
		if (e->m->layers[l].kind == LAYER_DENSE)
			used[e->m->layers[l].act] = true;
	for (size_t k = 0; k < ACT_COUNT; k++) {
		if (!used[k])
			continue;
		const ActivationInfo *ai = &activation_table[k];
		TmplVar vars[] = {
			{"NAME", ai->name}, {"FORWARD", ai->forward}, {"DERIV", ai->derivative}};
		emit_blank(e);
		emit_tmpl(e, "activation.c", "activation", vars, ARRAY_LEN(vars));
	}
}

/* ---- layer kinds */

static void dense_code(Emitter *e, size_t l)
{
	const Layer *ly = &e->m->layers[l];
	const LayerNames *nm = &e->names[l], *next = &e->names[l + 1];
	Arena *A = e->ctx->arena;
	const char *params = arena_printf(A, "%s_params", e->p);
	const char *grads = arena_printf(A, "%s_grads", e->p);
	const char *act = arena_printf(A, "act_%s", activation_table[ly->act].name);
	const char *deriv = arena_printf(A, "act_%s_deriv", activation_table[ly->act].name);

	TmplVar fwd[] = {{"FN", nm->fn},         {"IN", nm->in},     {"OUT", nm->out},
	                 {"W_OFF", nm->w_off},   {"B_OFF", nm->b_off}, {"PARAMS", params},
	                 {"A", nm->a},           {"ACT", act}};
	emit_tmpl(e, "dense.c", "forward", fwd, ARRAY_LEN(fwd));
	emit_blank(e);
	if (e->m->layers[l + 1].kind == LAYER_SOFTMAX) {
		TmplVar bwd[] = {{"FN", nm->fn}, {"OUT", nm->out}, {"D", nm->d},
		                 {"A", nm->a},   {"O", next->a},   {"DERIV", deriv}};
		emit_tmpl(e, "dense.c", "backward_softmax", bwd, ARRAY_LEN(bwd));
	} else {
		TmplVar bwd[] = {{"FN", nm->fn},          {"OUT", nm->out},
		                 {"NEXT_OUT", next->out}, {"PARAMS", params},
		                 {"NEXT_W_OFF", next->w_off}, {"NEXT_D", next->d},
		                 {"D", nm->d},            {"A", nm->a},
		                 {"DERIV", deriv}};
		emit_tmpl(e, "dense.c", "backward_hidden", bwd, ARRAY_LEN(bwd));
	}
	emit_blank(e);
	TmplVar grad[] = {{"FN", nm->fn},       {"IN", nm->in},       {"OUT", nm->out},
	                  {"W_OFF", nm->w_off}, {"B_OFF", nm->b_off}, {"GRADS", grads},
	                  {"D", nm->d}};
	emit_tmpl(e, "dense.c", "gradient", grad, ARRAY_LEN(grad));
}

static void dense_backward_calls(Emitter *e, size_t l)
{
	const LayerNames *nm = &e->names[l];
	if (e->m->layers[l + 1].kind == LAYER_SOFTMAX)
		emit_line(e, "%s_backward(n, y);", nm->fn);
	else
		emit_line(e, "%s_backward(n);", nm->fn);
	emit_line(e, "%s_gradient(n, %s);", nm->fn, nm->input);
}

static void softmax_code(Emitter *e, size_t l)
{
	const LayerNames *nm = &e->names[l];
	TmplVar vars[] = {{"FN", nm->fn}, {"IN", nm->in}, {"OUT", nm->out}, {"A", nm->a}};
	emit_tmpl(e, "softmax.c", "forward", vars, ARRAY_LEN(vars));
}

static void softmax_backward_calls(Emitter *e, size_t l)
{
	emit_line(e, "/* layer %zu (softmax): folded into layer %zu's delta */", l + 1, l);
}

static const KindEmitter kinds[LAYER_COUNT] = {
	[LAYER_DENSE] = {"NNCC_LAYER_DENSE", dense_code, dense_backward_calls},
	[LAYER_SOFTMAX] = {"NNCC_LAYER_SOFTMAX", softmax_code, softmax_backward_calls},
};

static void emit_layers(Emitter *e)
{
	const Model *m = e->m;
	for (size_t l = 0; l < m->n_layers; l++) {
		const Layer *ly = &m->layers[l];
		char what[96];
		if (ly->kind == LAYER_DENSE)
			snprintf(what, sizeof what, "dense %zu->%zu, %s", ly->in, ly->out,
			         activation_table[ly->act].name);
		else
			snprintf(what, sizeof what, "%s %zu->%zu", kind_name(ly->kind), ly->in, ly->out);
		emit_blank(e);
		emit_line(e, "/* layer %zu \"%s\": %s (%s:%d:%d) */", l + 1, comment_safe(e, ly->name),
		          what, comment_safe(e, ly->loc.file ? ly->loc.file : m->path), ly->loc.line,
		          ly->loc.col);
		emit_blank(e);
		kinds[ly->kind].code(e, l);
	}
}

/* ---- entry points */

static void emit_entry_points(Emitter *e)
{
	const Model *m = e->m;
	Arena *A = e->ctx->arena;
	const char *P = e->p;

	emit_blank(e);
	emit_line(e, "/* Forward pass over a tile: x (n, N_INPUTS) -> every layer's a. */");
	emit_line(e, "static void %s_forward(size_t n, const void *x)", P);
	emit_line(e, "{");
	e->indent++;
	for (size_t l = 0; l < m->n_layers; l++)
		emit_line(e, "%s_forward(n, %s);", e->names[l].fn, e->names[l].input);
	e->indent--;
	emit_line(e, "}");

	emit_blank(e);
	TmplVar loss[] = {{"P", P}, {"A", e->names[m->n_layers - 1].a}};
	emit_tmpl(e, "softmax.c", "loss", loss, ARRAY_LEN(loss));

	emit_blank(e);
	emit_line(e, "/* Backward pass over a tile, after forward() on the same x: every dense");
	emit_line(e, " * layer's delta, last layer first, and the gradient sums into grads");
	emit_line(e, " * (assigned, or added to what is there when accumulate is set). */");
	emit_line(e, "static void %s_backward(size_t n, const void *x, const int32_t *y, int accumulate)",
	          P);
	emit_line(e, "{");
	e->indent++;
	emit_line(e, "if (!accumulate)");
	e->indent++;
	emit_line(e, "memset(%s_grads, 0, sizeof %s_grads);", P, P);
	e->indent--;
	for (size_t l = m->n_layers; l-- > 0;)
		kinds[m->layers[l].kind].backward_calls(e, l);
	e->indent--;
	emit_line(e, "}");

	emit_blank(e);
	const char *n_params = arena_printf(A, "%s_N_PARAMS", e->u);
	TmplVar upd[] = {{"P", P},
	                 {"N_PARAMS", n_params},
	                 {"PARAMS", arena_printf(A, "%s_params", P)},
	                 {"GRADS", arena_printf(A, "%s_grads", P)}};
	emit_tmpl(e, optimizers[m->train.optimizer].tmpl, "update", upd, ARRAY_LEN(upd));

	emit_blank(e);
	TmplVar step[] = {{"P", P}};
	emit_tmpl(e, "model.c", "step", step, ARRAY_LEN(step));
}

/* tensor(): the per-layer buffer tables. */
static void emit_tensor(Emitter *e)
{
	const Model *m = e->m;
	Arena *A = e->ctx->arena;
	Buf acts, deltas;
	buf_init(&acts);
	buf_init(&deltas);
	for (size_t l = 0; l < m->n_layers; l++) {
		buf_printf(&acts, "%s%s", l ? ", " : "", e->names[l].a);
		buf_printf(&deltas, "%s%s", l ? ", " : "", e->names[l].d ? e->names[l].d : "NULL");
	}
	TmplVar tensor[] = {{"P", e->p},
	                    {"N_LAYERS", arena_printf(A, "%s_N_LAYERS", e->u)},
	                    {"ACTS", arena_strdup(A, acts.data)},
	                    {"DELTAS", arena_strdup(A, deltas.data)}};
	buf_fini(&acts);
	buf_fini(&deltas);
	emit_blank(e);
	emit_tmpl(e, "model.c", "tensor", tensor, ARRAY_LEN(tensor));
}

/* ---- the descriptor */

static void emit_layer_table(Emitter *e)
{
	const Model *m = e->m;
	emit_line(e, "static const nncc_layer_t %s_layers[%s_N_LAYERS] = {", e->p, e->u);
	e->indent++;
	for (size_t l = 0; l < m->n_layers; l++) {
		const Layer *ly = &m->layers[l];
		const LayerNames *nm = &e->names[l];
		emit_line(e, "{.name = %s, .kind = %s, .activation = \"%s\",", c_string(e, ly->name),
		          kinds[ly->kind].runtime_kind, activation_name(ly));
		if (ly->kind == LAYER_DENSE) {
			emit_line(e, " .in = %s, .out = %s,", nm->in, nm->out);
			emit_line(e, " .w_offset = %s, .b_offset = %s},", nm->w_off, nm->b_off);
		} else {
			emit_line(e, " .in = %s, .out = %s},", nm->in, nm->out);
		}
	}
	e->indent--;
	emit_line(e, "};");
}

static void emit_config(Emitter *e)
{
	const Training *t = &e->m->train;
	const Data *d = &e->m->data;
	emit_line(e, ".config = {");
	e->indent++;
	emit_line(e, ".learning_rate = %s,", c_double(e, t->learning_rate));
	emit_line(e, ".batch_size = %zu,%s", t->batch_size, t->batch_size ? "" : " /* full batch */");
	emit_line(e, ".iterations = %zu,", t->iterations);
	emit_line(e, ".epochs = %zu,", t->epochs);
	emit_line(e, ".seed = UINT64_C(%" PRIu64 "),", t->seed);
	emit_line(e, ".shuffle = %d,", t->shuffle ? 1 : 0);
	emit_line(e, ".init = %s,", init_names[t->init]);
	emit_line(e, ".init_scale = %s,", c_double(e, t->init_scale));
	emit_line(e, ".normalize = %s,", norm_names[d->normalize]);
	emit_line(e, ".threads = %d,", t->threads);
	emit_line(e, ".data_dir = %s,", c_string(e, d->dir));
	emit_line(e, ".train_images = %s,", c_string(e, d->train_images));
	emit_line(e, ".train_labels = %s,", c_string(e, d->train_labels));
	emit_line(e, ".test_images = %s,", c_string(e, d->test_images));
	emit_line(e, ".test_labels = %s,", c_string(e, d->test_labels));
	e->indent--;
	emit_line(e, "},");
}

static void emit_descriptor(Emitter *e)
{
	const Model *m = e->m;
	const char *P = e->p;
	uint64_t hash = model_shape_hash(e->ctx->arena, m);

	emit_blank(e);
	emit_line(e, "/* The model descriptor: all the driver and other tools use (runtime/nncc.h). */");
	emit_layer_table(e);
	emit_blank(e);
	emit_line(e, "const nncc_model_t %s_model = {", P);
	e->indent++;
	emit_line(e, ".abi_version = NNCC_ABI_VERSION,");
	emit_line(e, ".name = %s,", c_string(e, m->name));
	emit_line(e, ".source = %s,", c_string(e, m->path));
	emit_line(e, ".source_sha256 = \"%s\",", m->sha256);
	emit_line(e, ".nncc_version = \"%s\",", NNCC_VERSION);
	emit_line(e, ".dtype = %s,", dtypes[m->dtype].runtime);
	emit_line(e, ".n_inputs = %s_N_INPUTS,", e->u);
	emit_line(e, ".n_outputs = %s_N_OUTPUTS,", e->u);
	emit_line(e, ".n_layers = %s_N_LAYERS,", e->u);
	emit_line(e, ".layers = %s_layers,", P);
	emit_line(e, ".n_params = %s_N_PARAMS,", e->u);
	emit_line(e, ".shape_hash = UINT64_C(0x%016" PRIx64 "),", hash);
	emit_line(e, ".max_batch = %s_MAX_BATCH,", e->u);
	emit_line(e, ".params = %s_params,", P);
	emit_line(e, ".grads = %s_grads,", P);
	emit_config(e);
	emit_line(e, ".forward = %s_forward,", P);
	emit_line(e, ".loss = %s_loss,", P);
	emit_line(e, ".backward = %s_backward,", P);
	emit_line(e, ".update = %s_update,", P);
	emit_line(e, ".step = %s_step,", P);
	emit_line(e, ".tensor = %s_tensor,", P);
	emit_line(e, ".set_threads = NULL, /* single-threaded */");
	e->indent--;
	emit_line(e, "};");
}

int emit_trainer(Ctx *ctx, const Model *m, const EmitOptions *opt, Buf *out)
{
	if (check_shape(ctx, m) != 0)
		return -1;
	Emitter em = {.ctx = ctx, .out = out, .m = m, .p = m->name};
	Emitter *e = &em;
	e->u = upper(e, m->name);
	names_init(e);

	emit_header(e, opt);
	emit_blank(e);
	TmplVar pro[] = {{"REAL", dtypes[m->dtype].ctype},
	                 {"EXP", dtypes[m->dtype].exp},
	                 {"TANH", dtypes[m->dtype].tanh},
	                 {"LOG", dtypes[m->dtype].log},
	                 {"FMA", dtypes[m->dtype].fma}};
	emit_tmpl(e, "model.c", "prologue", pro, ARRAY_LEN(pro));
	emit_blank(e);
	emit_sizes(e);
	emit_blank(e);
	emit_buffers(e);
	emit_activations(e);
	emit_layers(e);
	emit_entry_points(e);
	emit_tensor(e);
	emit_descriptor(e);
	emit_blank(e);
	TmplVar mainv[] = {{"P", e->p}};
	emit_tmpl(e, "model.c", "main", mainv, ARRAY_LEN(mainv));
	return e->failed ? -1 : 0;
}
