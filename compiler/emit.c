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

/* Work-size thresholds for the thread pool (FLOP of a pass at MAX_BATCH):
 * below them synchronising costs more than a second core saves.  Measured
 * (docs/performance.md): a 784-50-10 step at batch 20 has 1.6 MFLOP per pass
 * and runs 1.5-3x SLOWER on two threads on a loaded machine (the second core
 * re-reads W after every update); the 784-10 full-batch weight pass is
 * memory-bound and slower on two cores; 784-800-10 at batch 64 (80 MFLOP per
 * pass) gains 1.75x. */
#define EMIT_POOL_ROWS_FLOP 3e6
#define EMIT_POOL_WEIGHTS_FLOP 1e7
/* Weight-gradient tiles per work unit when the weight pass is pooled. */
#define EMIT_TILES_PER_UNIT 8

/* A dense layer's register tiles (rows x vectors of VL reals) and work
 * units, chosen by tiles_choose(). */
typedef struct Tiles {
	int fwd_mr, fwd_nb;      /* forward: rows of the tile x vectors of OUT */
	int dw_mr, dw_nb;        /* weight gradient: rows j of W x vectors of OUT */
	int dx_mr, dx_nb;        /* backward-data (hidden layers): rows x vectors of OUT */
	size_t dw_tiles;         /* j tiles, the bias row included */
	size_t dw_tpu;           /* j tiles per work unit */
	size_t dw_units;
	size_t pack_len;         /* backward-data scratch per thread */
} Tiles;

/* Names the generated code uses for one layer. */
typedef struct LayerNames {
	const char *fn;          /* static function prefix: "l1_hidden" */
	const char *in, *out;    /* size constants: "MNIST_L1_IN" */
	const char *w_off, *b_off; /* dense: offset constants */
	const char *a, *d;       /* output and delta buffers; d is NULL for softmax */
	const char *input;       /* the layer's input as a const real *: "mnist_job.x",
	                            "&mnist_a1[0][0]" */
} LayerNames;

typedef struct Emitter {
	Ctx *ctx;
	Buf *out;
	const Model *m;
	const char *p, *u;       /* network prefix, lower and upper case */
	LayerNames *names;       /* n_layers */
	Tiles *tiles;            /* n_layers (dense layers only) */
	size_t rows_per_unit;    /* rows of a work unit of the row passes */
	bool pool_rows, pool_weights;
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
	const char *name, *ctype, *tanh, *log, *fma, *runtime, *kern;
	size_t vl;   /* reals per AVX-512 vector */
} dtypes[] = {
	[DTYPE_F32] = {"float32", "float", "tanhf", "logf", "fmaf", "NNCC_F32", "real_f32", 16},
	[DTYPE_F64] = {"float64", "double", "tanh", "log", "fma", "NNCC_F64", "real_f64", 8},
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

/* "ACT_SIGMOID": the id of an activation in generated code. */
static const char *activation_id(Emitter *e, Activation a)
{
	return arena_printf(e->ctx->arena, "ACT_%s", upper(e, activation_table[a].name));
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
		nm->input = l == 0 ? arena_printf(A, "%s_job.x", e->p)
		                   : arena_printf(A, "&%s[0][0]", e->names[l - 1].a);
	}
}

static size_t max_batch(const Model *m)
{
	size_t bs = m->train.batch_size;
	return bs >= 1 && bs <= EMIT_MAX_TILE ? bs : EMIT_MAX_TILE;
}

/* ---- register tiles and work units (docs/kernels.md, section 4:
 * 20-28 accumulators per tile, the tile height dividing the rows it
 * sweeps, as few column chunks as possible) */

static size_t ceil_div(size_t a, size_t b)
{
	return (a + b - 1) / b;
}

/* Vectors per tile row for a row of nv vectors: all of them up to 3, two
 * for 4 (two chunks of 2), else 3 (most chunks full).  When rows are few
 * the tile is latency-bound: take up to 4 independent chains. */
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

static void tiles_choose(Emitter *e)
{
	const Model *m = e->m;
	size_t B = max_batch(m), vl = dtypes[m->dtype].vl;
	double rows_flop = 0, weights_flop = 0;
	for (size_t l = 0; l < m->n_layers; l++) {
		const Layer *ly = &m->layers[l];
		if (ly->kind != LAYER_DENSE)
			continue;
		rows_flop += 2.0 * (double)B * (double)ly->in * (double)ly->out;
		if (l > 0)   /* the backward-data pass into layer l-1 */
			rows_flop += 2.0 * (double)B * (double)ly->in * (double)ly->out;
		weights_flop += 2.0 * (double)B * (double)ly->in * (double)ly->out;
	}
	/* Row passes: 4 units at B >= 64, 2 at B >= 16, else one (no pool). */
	size_t units = B >= 64 ? 4 : B >= 16 ? 2 : 1;
	e->pool_rows = units > 1 && rows_flop >= EMIT_POOL_ROWS_FLOP;
	e->rows_per_unit = e->pool_rows ? ceil_div(B, units) : B;
	e->pool_weights = weights_flop >= EMIT_POOL_WEIGHTS_FLOP;

	size_t R = e->rows_per_unit;
	e->tiles = arena_alloc(e->ctx->arena, m->n_layers * sizeof *e->tiles);
	for (size_t l = 0; l < m->n_layers; l++) {
		const Layer *ly = &m->layers[l];
		Tiles *t = &e->tiles[l];
		if (ly->kind != LAYER_DENSE)
			continue;
		size_t nv = ceil_div(ly->out, vl);
		t->fwd_nb = tile_nb(nv, R);
		t->fwd_mr = tile_mr(R, t->fwd_nb == 1 ? 20 : t->fwd_nb == 2 ? 12 : 8);
		t->dw_nb = tile_nb(nv, 4);
		t->dw_mr = tile_mr(ly->in, t->dw_nb == 1 ? 28 : 8);
		if (nv == 1) {
			/* OUT fits one vector: kern_dw vectorises along j instead
			 * (full lanes), OUT rows x up to 4 vectors of j, ~24 acc. */
			size_t nbj = 24 / ly->out;
			nbj = nbj < 1 ? 1 : nbj > 4 ? 4 : nbj;
			t->dw_mr = (int)(nbj * vl);
		}
		t->dw_tiles = ceil_div(ly->in, (size_t)t->dw_mr) + 1;
		t->dw_tpu = e->pool_weights ? EMIT_TILES_PER_UNIT : t->dw_tiles;
		t->dw_units = ceil_div(t->dw_tiles, t->dw_tpu);
		if (m->layers[l + 1].kind == LAYER_DENSE) {
			/* backward-data into this layer: a row of `out` reals from
			 * the next layer's W, read transposed */
			size_t nvx = nv, next_out = m->layers[l + 1].out;
			t->dx_nb = nvx <= 4 ? (int)nvx : next_out <= 16 ? 2 : 3;
			t->dx_mr = tile_mr(R, 24 / t->dx_nb);
			t->pack_len = next_out * (size_t)t->dx_nb * vl;
		}
	}
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

/* The work units of the passes and which ones use the thread pool. */
static void emit_threads(Emitter *e)
{
	const Model *m = e->m;
	size_t units = 0, pack = 0;
	for (size_t l = 0; l < m->n_layers; l++) {
		units += e->tiles[l].dw_units;
		pack = pack > e->tiles[l].pack_len ? pack : e->tiles[l].pack_len;
	}
	emit_blank(e);
	emit_line(e, "/* Threads.  A pass is cut into fixed work units that the pool hands out:");
	emit_line(e, " * row passes (forward, deltas) ROWS_PER_UNIT samples each, the weight pass");
	emit_line(e, " * the layers' j tiles; results do not depend on which thread runs a unit.");
	emit_line(e, " * A pass uses the pool when it has >= %.0e (rows) or %.0e (weights) FLOP",
	          EMIT_POOL_ROWS_FLOP, EMIT_POOL_WEIGHTS_FLOP);
	emit_line(e, " * at MAX_BATCH; below that, synchronising costs more than it saves. */");
	emit_line(e, "#define %s_THREADS %d /* training.threads: 0 = all cores */", e->u,
	          m->train.threads);
	emit_line(e, "#define %s_ROWS_PER_UNIT %zu", e->u, e->rows_per_unit);
	emit_line(e, "#define %s_ROW_UNITS(n) (((n) + %s_ROWS_PER_UNIT - 1) / %s_ROWS_PER_UNIT)",
	          e->u, e->u, e->u);
	emit_line(e, "#define %s_WEIGHT_UNITS %zu", e->u, units);
	emit_line(e, "#define %s_POOL_ROWS %d", e->u, e->pool_rows ? 1 : 0);
	emit_line(e, "#define %s_POOL_WEIGHTS %d", e->u, e->pool_weights ? 1 : 0);
	emit_line(e, "#define %s_POOLED (%s_POOL_ROWS || %s_POOL_WEIGHTS)", e->u, e->u, e->u);
	if (pack)
		emit_line(e, "#define %s_PACK_LEN %zu /* backward-data scratch per thread */", e->u,
		          pack);
}

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
			const Tiles *t = &e->tiles[l];
			emit_line(e, "#define %s %zu", nm->w_off, ly->w_offset);
			emit_line(e, "#define %s %zu", nm->b_off, ly->b_offset);
			if (t->dw_mr % (int)dtypes[m->dtype].vl == 0 && ly->out <= dtypes[m->dtype].vl)
				emit_line(e, "/* register tiles, rows x vectors of %zu reals: forward %d x %d, "
				          "weight gradient %zu x %d (j-vectorised: OUT <= %zu)",
				          dtypes[m->dtype].vl, t->fwd_mr, t->fwd_nb, ly->out,
				          t->dw_mr / (int)dtypes[m->dtype].vl, dtypes[m->dtype].vl);
			else
				emit_line(e, "/* register tiles, rows x vectors of %zu reals: forward %d x %d, "
				          "weight gradient %d x %d", dtypes[m->dtype].vl, t->fwd_mr, t->fwd_nb,
				          t->dw_mr, t->dw_nb);
			emit_line(e, " * (%zu tiles of W's rows and b, %zu per work unit)%s", t->dw_tiles,
			          t->dw_tpu, t->dx_nb ? "," : " */");
			if (t->dx_nb)
				emit_line(e, " * backward-data into this layer %d x %d */", t->dx_mr,
				          t->dx_nb);
			emit_line(e, "#define %s_L%zu_FWD_MR %d", e->u, l + 1, t->fwd_mr);
			emit_line(e, "#define %s_L%zu_FWD_NB %d", e->u, l + 1, t->fwd_nb);
			emit_line(e, "#define %s_L%zu_DW_MR %d", e->u, l + 1, t->dw_mr);
			emit_line(e, "#define %s_L%zu_DW_NB %d", e->u, l + 1, t->dw_nb);
			emit_line(e, "#define %s_L%zu_DW_TPU %zu", e->u, l + 1, t->dw_tpu);
			emit_line(e, "#define %s_L%zu_DW_UNITS %zu", e->u, l + 1, t->dw_units);
			if (t->dx_nb) {
				emit_line(e, "#define %s_L%zu_DX_MR %d", e->u, l + 1, t->dx_mr);
				emit_line(e, "#define %s_L%zu_DX_NB %d", e->u, l + 1, t->dx_nb);
			}
		}
	}
	emit_threads(e);
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
	emit_blank(e);
	emit_line(e, "/* The pass being run, read by the work units; the pool; per-thread scratch. */");
	emit_line(e, "static struct {");
	e->indent++;
	emit_line(e, "size_t n;           /* samples in the tile */");
	emit_line(e, "const real *x;      /* (n, N_INPUTS) */");
	emit_line(e, "const int32_t *y;   /* (n) */");
	emit_line(e, "int mode;           /* weight pass: KERN_GRAD_SET, _ACC or _SGD */");
	emit_line(e, "real s;             /* KERN_GRAD_SGD: lr / batch */");
	e->indent--;
	emit_line(e, "} %s_job;", e->p);
	emit_line(e, "static KernPool %s_pool;", e->p);
	if (m->n_layers > 2)   /* a hidden layer: backward-data packs W^T */
		emit_line(e, "static real %s_pack[KERN_MAX_THREADS][%s_PACK_LEN];", e->p, e->u);
}

/* f and f' of every activation in nncc's table (the kernels dispatch on an
 * id, so all are defined; unused static inline functions cost nothing),
 * their ids, and act_fwd/act_deriv by id. */
static void emit_activations(Emitter *e)
{
	for (size_t k = 0; k < ACT_COUNT; k++) {
		const ActivationInfo *ai = &activation_table[k];
		TmplVar vars[] = {
			{"NAME", ai->name}, {"FORWARD", ai->forward}, {"DERIV", ai->derivative}};
		emit_blank(e);
		emit_tmpl(e, "activation.c", "activation", vars, ARRAY_LEN(vars));
	}
	emit_blank(e);
	emit_line(e, "/* Activation ids: the kernels' epilogues take one as a constant. */");
	emit_line(e, "enum {");
	e->indent++;
	for (size_t k = 0; k < ACT_COUNT; k++)
		emit_line(e, "%s,", activation_id(e, (Activation)k));
	e->indent--;
	emit_line(e, "};");
	static const char *const which[2][2] = {{"fwd", "x"}, {"deriv", "y"}};
	for (int w = 0; w < 2; w++) {
		emit_blank(e);
		emit_line(e, "static inline real act_%s(int act, real %s)", which[w][0], which[w][1]);
		emit_line(e, "{");
		e->indent++;
		emit_line(e, "switch (act) {");
		for (size_t k = 0; k < ACT_COUNT; k++)
			emit_line(e, "case %s: return act_%s%s(%s);", activation_id(e, (Activation)k),
			          activation_table[k].name, w ? "_deriv" : "", which[w][1]);
		emit_line(e, "default: return %s;", which[w][1]);
		emit_line(e, "}");
		e->indent--;
		emit_line(e, "}");
	}
}

/* ---- layer kinds */

/* "MNIST_L1_FWD_MR": a per-layer constant of emit_sizes. */
static const char *layer_const(Emitter *e, size_t l, const char *what)
{
	return arena_printf(e->ctx->arena, "%s_L%zu_%s", e->u, l + 1, what);
}

static void dense_code(Emitter *e, size_t l)
{
	const Layer *ly = &e->m->layers[l];
	const LayerNames *nm = &e->names[l], *next = &e->names[l + 1];
	Arena *A = e->ctx->arena;
	const char *params = arena_printf(A, "%s_params", e->p);
	const char *grads = arena_printf(A, "%s_grads", e->p);
	const char *act = activation_id(e, ly->act);

	TmplVar fwd[] = {{"FN", nm->fn},         {"IN", nm->in},       {"OUT", nm->out},
	                 {"W_OFF", nm->w_off},   {"B_OFF", nm->b_off}, {"PARAMS", params},
	                 {"A", nm->a},           {"ACT", act},
	                 {"FWD_MR", layer_const(e, l, "FWD_MR")},
	                 {"FWD_NB", layer_const(e, l, "FWD_NB")}};
	emit_tmpl(e, "dense.c", "forward", fwd, ARRAY_LEN(fwd));
	emit_blank(e);
	if (e->m->layers[l + 1].kind == LAYER_SOFTMAX) {
		TmplVar bwd[] = {{"FN", nm->fn}, {"OUT", nm->out}, {"D", nm->d},
		                 {"A", nm->a},   {"O", next->a},   {"ACT", act}};
		emit_tmpl(e, "dense.c", "backward_softmax", bwd, ARRAY_LEN(bwd));
	} else {
		TmplVar bwd[] = {{"FN", nm->fn},
		                 {"OUT", nm->out},
		                 {"NEXT_OUT", next->out},
		                 {"PARAMS", params},
		                 {"NEXT_W_OFF", next->w_off},
		                 {"NEXT_D", next->d},
		                 {"D", nm->d},
		                 {"A", nm->a},
		                 {"ACT", act},
		                 {"DX_MR", layer_const(e, l, "DX_MR")},
		                 {"DX_NB", layer_const(e, l, "DX_NB")},
		                 {"PACK_LEN", arena_printf(A, "%s_PACK_LEN", e->u)}};
		emit_tmpl(e, "dense.c", "backward_hidden", bwd, ARRAY_LEN(bwd));
	}
	emit_blank(e);
	TmplVar grad[] = {{"FN", nm->fn},       {"IN", nm->in},       {"OUT", nm->out},
	                  {"W_OFF", nm->w_off}, {"B_OFF", nm->b_off}, {"PARAMS", params},
	                  {"GRADS", grads},     {"D", nm->d},
	                  {"DW_MR", layer_const(e, l, "DW_MR")},
	                  {"DW_NB", layer_const(e, l, "DW_NB")},
	                  {"DW_TPU", layer_const(e, l, "DW_TPU")}};
	emit_tmpl(e, "dense.c", "gradient", grad, ARRAY_LEN(grad));
}

static void dense_backward_calls(Emitter *e, size_t l)
{
	const LayerNames *nm = &e->names[l];
	if (e->m->layers[l + 1].kind == LAYER_SOFTMAX)
		emit_line(e, "%s_backward(r0, r1, %s_job.y);", nm->fn, e->p);
	else
		emit_line(e, "%s_backward(r0, r1, %s_pack[tid]);", nm->fn, e->p);
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

/* The work units of the row passes and of the weight pass. */
static void emit_units(Emitter *e)
{
	const Model *m = e->m;
	const char *P = e->p, *U = e->u;
	bool hidden = false;
	for (size_t l = 0; l + 2 < m->n_layers; l++)
		hidden = true;

	emit_blank(e);
	emit_line(e, "/* ---- The passes, cut into work units for %s_run(). */", P);
	emit_blank(e);
	emit_line(e, "/* Rows [r0, r1) of the tile in row unit `unit`. */");
	emit_line(e, "static void %s_unit_rows(size_t unit, size_t *r0, size_t *r1)", P);
	emit_line(e, "{");
	e->indent++;
	emit_line(e, "*r0 = unit * %s_ROWS_PER_UNIT;", U);
	emit_line(e, "*r1 = KERN_MIN(*r0 + %s_ROWS_PER_UNIT, %s_job.n);", U, P);
	e->indent--;
	emit_line(e, "}");

	emit_blank(e);
	emit_line(e, "/* Every layer's output a for the unit's rows, first layer first. */");
	emit_line(e, "static void %s_forward_rows(size_t unit, int tid)", P);
	emit_line(e, "{");
	e->indent++;
	emit_line(e, "size_t r0, r1;");
	emit_line(e, "(void)tid;");
	emit_line(e, "%s_unit_rows(unit, &r0, &r1);", P);
	for (size_t l = 0; l < m->n_layers; l++)
		emit_line(e, "%s_forward(r0, r1, %s);", e->names[l].fn, e->names[l].input);
	e->indent--;
	emit_line(e, "}");

	emit_blank(e);
	emit_line(e, "/* Every dense layer's delta d for the unit's rows, last layer first. */");
	emit_line(e, "static void %s_backward_rows(size_t unit, int tid)", P);
	emit_line(e, "{");
	e->indent++;
	emit_line(e, "size_t r0, r1;");
	if (!hidden)
		emit_line(e, "(void)tid;");
	emit_line(e, "%s_unit_rows(unit, &r0, &r1);", P);
	for (size_t l = m->n_layers; l-- > 0;)
		kinds[m->layers[l].kind].backward_calls(e, l);
	e->indent--;
	emit_line(e, "}");

	emit_blank(e);
	emit_line(e, "/* step(): both, row by row. */");
	emit_line(e, "static void %s_step_rows(size_t unit, int tid)", P);
	emit_line(e, "{");
	e->indent++;
	emit_line(e, "%s_forward_rows(unit, tid);", P);
	emit_line(e, "%s_backward_rows(unit, tid);", P);
	e->indent--;
	emit_line(e, "}");

	emit_blank(e);
	emit_line(e, "/* One unit of the weight pass: j tiles of one dense layer, last layer first. */");
	emit_line(e, "static void %s_weight_unit(size_t unit, int tid)", P);
	emit_line(e, "{");
	e->indent++;
	emit_line(e, "(void)tid;");
	size_t first = 0;
	for (size_t l = m->n_layers; l-- > 0;) {
		if (m->layers[l].kind != LAYER_DENSE)
			continue;
		const char *call = arena_printf(e->ctx->arena,
		                                "%s_gradient(%s_job.mode, %s_job.n, %s, %s_job.s, unit);",
		                                e->names[l].fn, P, P, e->names[l].input, P);
		if (l == first) {
			emit_line(e, "%s", call);
			break;
		}
		emit_line(e, "if (unit < %s_L%zu_DW_UNITS) {", U, l + 1);
		e->indent++;
		emit_line(e, "%s", call);
		emit_line(e, "return;");
		e->indent--;
		emit_line(e, "}");
		emit_line(e, "unit -= %s_L%zu_DW_UNITS;", U, l + 1);
	}
	e->indent--;
	emit_line(e, "}");
}

static void emit_entry_points(Emitter *e)
{
	const Model *m = e->m;
	Arena *A = e->ctx->arena;
	const char *P = e->p, *U = e->u;
	TmplVar pu[] = {{"P", P}, {"U", U}};

	emit_units(e);
	emit_blank(e);
	emit_tmpl(e, "model.c", "set_threads", pu, ARRAY_LEN(pu));
	emit_blank(e);
	emit_tmpl(e, "model.c", "run", pu, ARRAY_LEN(pu));

	emit_blank(e);
	emit_line(e, "/* Forward pass over a tile: x (n, N_INPUTS) -> every layer's a. */");
	emit_line(e, "static void %s_forward(size_t n, const void *x)", P);
	emit_line(e, "{");
	e->indent++;
	emit_line(e, "%s_job.n = n;", P);
	emit_line(e, "%s_job.x = x;", P);
	emit_line(e, "%s_run(%s_forward_rows, %s_ROW_UNITS(n), %s_POOL_ROWS);", P, P, U, U);
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
	emit_line(e, "%s_job.n = n;", P);
	emit_line(e, "%s_job.x = x;", P);
	emit_line(e, "%s_job.y = y;", P);
	emit_line(e, "%s_run(%s_backward_rows, %s_ROW_UNITS(n), %s_POOL_ROWS);", P, P, U, U);
	emit_line(e, "%s_job.mode = accumulate ? KERN_GRAD_ACC : KERN_GRAD_SET;", P);
	emit_line(e, "%s_run(%s_weight_unit, %s_WEIGHT_UNITS, %s_POOL_WEIGHTS);", P, P, U, U);
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
	emit_tmpl(e, "model.c", "step", pu, ARRAY_LEN(pu));
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
	emit_line(e, ".set_threads = %s_set_threads,", P);
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

	tiles_choose(e);

	emit_header(e, opt);
	emit_blank(e);
	TmplVar pro[] = {{"REAL", dtypes[m->dtype].ctype},
	                 {"TANH", dtypes[m->dtype].tanh},
	                 {"LOG", dtypes[m->dtype].log},
	                 {"FMA", dtypes[m->dtype].fma}};
	emit_tmpl(e, "model.c", "prologue", pro, ARRAY_LEN(pro));
	emit_blank(e);
	emit_tmpl(e, "kern.c", "simd", NULL, 0);
	emit_blank(e);
	emit_tmpl(e, "kern.c", dtypes[m->dtype].kern, NULL, 0);
	emit_blank(e);
	emit_tmpl(e, "kern.c", "support", NULL, 0);
	emit_activations(e);
	emit_blank(e);
	emit_tmpl(e, "kern.c", "vact", NULL, 0);
	emit_blank(e);
	emit_tmpl(e, "kern.c", "kernels", NULL, 0);
	emit_blank(e);
	emit_tmpl(e, "kern.c", "pool", NULL, 0);
	emit_blank(e);
	emit_sizes(e);
	emit_blank(e);
	emit_buffers(e);
	emit_layers(e);
	emit_entry_points(e);
	emit_tensor(e);
	emit_descriptor(e);
	emit_blank(e);
	TmplVar mainv[] = {{"P", e->p}};
	emit_tmpl(e, "model.c", "main", mainv, ARRAY_LEN(mainv));
	return e->failed ? -1 : 0;
}
