/*
 * infer.c - exports a trained network as self-contained inference C (nncc
 * --infer): NAME.h with the sizes and API, NAME.c with one function per
 * layer and the weights baked in as exact hex-float `static const` arrays
 * after the logic (or everything in one header with --header-only).  The
 * generated code needs no nncc header, no malloc and no writable global.
 * Text comes from templates/infer.{c,h}; the decisions (which sections, the
 * buffer plan, the literals) are made here.  Vocabulary: P = network name,
 * U = P in upper case, K = 1-based layer index, real = float or double.
 */
#include <math.h>
#include <string.h>

#include "nncc.h"
#include "../runtime/nncc.h"

/* Literals per line: float32 hex literals are about 15 characters, float64 22. */
#define VALUES_PER_LINE(f32) ((f32) ? 5u : 4u)

/* What every section needs, computed once. */
typedef struct Infer {
	Ctx *ctx;
	const Model *m;
	const EmitOptions *opt;
	const char *p, *u;          /* network name, upper case */
	const char *real;           /* "float" / "double" */
	const char *exp_fn;         /* "expf" / "exp" */
	bool f32;
	size_t buf0, workspace;     /* the ping-pong scratch plan, in reals */
	const char *comment;        /* the file header comment */
} Infer;

static const char *szs(Ctx *ctx, size_t v)
{
	return arena_printf(ctx->arena, "%zu", v);
}

static const char *comment_safe(Ctx *ctx, const char *s)
{
	return text_comment_safe(ctx->arena, s);
}

/* Appends an exact C hex-float literal for v (finite), e.g. -0x1.8p-3f.
 * Written by hand rather than with %a so the text does not depend on the C
 * library: the mantissa's 52 fraction bits, trailing zero nibbles dropped. */
static void put_hex(Buf *b, double v, bool f32)
{
	const char *suffix = f32 ? "f" : "";
	const char *sign = signbit(v) ? "-" : "";
	char digits[16];
	int e, nd = 0;

	if (v == 0) {
		buf_printf(b, "%s0x0p+0%s", sign, suffix);
		return;
	}
	double m = frexp(fabs(v), &e);          /* m in [0.5, 1) */
	uint64_t frac = (uint64_t)ldexp(m * 2 - 1, 52); /* exact: 52 bits */
	for (int k = 12; k >= 0 && frac; k--) {
		digits[nd++] = "0123456789abcdef"[(frac >> (4 * k)) & 0xf];
		frac &= ((uint64_t)1 << (4 * k)) - 1;
	}
	digits[nd] = 0;
	buf_printf(b, "%s0x1%s%sp%+d%s", sign, nd ? "." : "", digits, e - 1, suffix);
}

/* Appends n values as an initializer body, VALUES_PER_LINE per line. */
static void put_values(Buf *b, const double *v, size_t n, bool f32, const char *indent)
{
	for (size_t k = 0; k < n; k++) {
		buf_puts(b, k % VALUES_PER_LINE(f32) == 0 ? indent : " ");
		put_hex(b, v[k], f32);
		buf_puts(b, k + 1 < n && (k + 1) % VALUES_PER_LINE(f32) != 0 ? "," : ",\n");
	}
}

/* The activation table's expression with the generated code's macros
 * (real, EXP, TANH, FMA) replaced by the concrete type, the libm functions
 * and the file's own U_FMA, so no unprefixed macro leaks into a header-only
 * user's namespace. */
static const char *act_expr(const Infer *in, Activation a)
{
	static const struct {
		const char *from, *f32, *f64;
	} subst[] = {{"real", "float", "double"}, {"EXP", "expf", "exp"}, {"TANH", "tanhf", "tanh"},
	             {"FMA", NULL, NULL}};
	const char *s = activation_table[a].forward;
	Buf b;

	buf_init(&b);
	while (*s) {
		size_t n = 0;
		while (s[n] == '_' || (s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		       (n > 0 && s[n] >= '0' && s[n] <= '9'))
			n++;
		if (n == 0) {
			char c[2] = {*s++, 0};
			buf_puts(&b, c);
			continue;
		}
		const char *rep = NULL;
		for (size_t k = 0; k < sizeof subst / sizeof subst[0]; k++)
			if (strlen(subst[k].from) == n && strncmp(s, subst[k].from, n) == 0)
				rep = in->f32 ? subst[k].f32 : subst[k].f64;
		if (rep)
			buf_puts(&b, rep);
		else if (n == 3 && strncmp(s, "FMA", 3) == 0)
			buf_printf(&b, "%s_FMA", in->u);  /* the file's multiply-add, see "simd" */
		else
			buf_printf(&b, "%.*s", (int)n, s);
		s += n;
	}
	const char *r = arena_strdup(in->ctx->arena, b.data ? b.data : "");
	buf_fini(&b);
	return r;
}

static const char *loc_str(Ctx *ctx, Loc loc)
{
	return comment_safe(ctx, arena_printf(ctx->arena, "%s:%d:%d", loc.file ? loc.file : "?",
	                                      loc.line, loc.col));
}

/* Expands one section; vars end with a {NULL, NULL} sentinel. */
static int put(const Infer *in, Buf *out, const char *tmpl, const char *section,
               const TmplVar *vars)
{
	size_t n = 0;
	while (vars[n].name)
		n++;
	return tmpl_expand(in->ctx, out, tmpl, section, vars, n);
}

/* ---- checks */

static bool act_needs_libm(Activation a)
{
	return strstr(activation_table[a].forward, "EXP") || strstr(activation_table[a].forward, "TANH");
}

/* The exporter's structural assumptions: dense layers first (at least one),
 * an optional softmax last. */
static int check_model(Ctx *ctx, const Model *m)
{
	if (m->n_layers == 0 || m->layers[0].kind != LAYER_DENSE) {
		diag_error(ctx, m->n_layers ? m->layers[0].loc : (Loc){m->path, 0, 0},
		           "cannot export network \"%s\": the first layer must be dense", m->name);
		return -1;
	}
	for (size_t k = 0; k < m->n_layers; k++) {
		const Layer *l = &m->layers[k];
		if (l->kind == LAYER_SOFTMAX && k + 1 != m->n_layers) {
			diag_error(ctx, l->loc, "cannot export network \"%s\": softmax must be the last layer",
			           m->name);
			return -1;
		}
		if (l->kind != LAYER_DENSE && l->kind != LAYER_SOFTMAX)
			NNCC_UNREACHABLE();
	}
	return 0;
}

/* ---- the header comment */

static const char *make_comment(const Infer *in, const char *file_name)
{
	const Model *m = in->m;
	const EmitOptions *o = in->opt;
	const nncc_norm_stats_t *norm = o->norm;
	Ctx *ctx = in->ctx;
	size_t rs = in->f32 ? 4 : 8, bitmap = 0;
	bool libm = false;
	Buf b;

	for (size_t k = 0; k < m->n_layers; k++)
		if (m->layers[k].kind == LAYER_DENSE && act_needs_libm(m->layers[k].act))
			libm = true;
	buf_init(&b);
	buf_printf(&b, "/*\n * %s - %s: inference for a network trained with nncc.\n",
	           comment_safe(ctx, file_name), m->name);
	buf_printf(&b, " * Generated by nncc %s; do not edit.\n", NNCC_VERSION);
	if (o->command_line)
		buf_printf(&b, " *   command:  %s\n", comment_safe(ctx, o->command_line));
	buf_printf(&b, " *   source:   %s (sha256 %s)\n", comment_safe(ctx, m->path), m->sha256);
	buf_printf(&b, " *   weights:  %s (sha256 %s)\n", comment_safe(ctx, o->weights_path),
	           o->weights_sha256 ? o->weights_sha256 : "?");
	if (!isnan(o->test_accuracy))
		buf_printf(&b, " *   test accuracy recorded at training time: %.2f%%\n",
		           100 * o->test_accuracy);
	else
		buf_puts(&b, " *   test accuracy: not recorded in the weight file\n");
	buf_printf(&b, " *   numbers:  %s; input normalisation: %s\n", in->real,
	           norm->kind == NNCC_NORM_STANDARDIZE ? "standardize (per-pixel mean, one std)"
	           : norm->kind == NNCC_NORM_SCALE     ? "scale (pixel / 255)"
	                                               : "none");
	buf_puts(&b, " *\n *   layer                    kind        in -> out   activation   params\n");
	for (size_t k = 0; k < m->n_layers; k++) {
		const Layer *l = &m->layers[k];
		if (l->kind == LAYER_DENSE && (l->in + 63) / 64 * 8 > bitmap)
			bitmap = (l->in + 63) / 64 * 8;
		buf_printf(&b, " *   %-3zu %-20s %-8s %6zu -> %-6zu %-10s %8zu\n", k + 1,
		           comment_safe(ctx, l->name), layer_kind_name(l->kind), l->in, l->out,
		           l->kind == LAYER_DENSE ? activation_table[l->act].name : "-", l->n_params);
	}
	buf_printf(&b, " *   %66s %8zu\n *\n", "total", m->n_params);
	buf_printf(&b, " * Memory: %zu bytes of const parameters (may live in flash)", m->n_params * rs);
	if (norm->kind == NNCC_NORM_STANDARDIZE)
		buf_printf(&b, "\n *   + %zu bytes of normalisation means", m->inputs * 8);
	buf_printf(&b, ".\n * Stack: each call keeps %s_WORKSPACE_SIZE = %zu %ss (%zu bytes: the\n"
	               " *   two largest activation buffers) on the stack; the _workspace\n"
	               " *   variants take that scratch from the caller instead.  The AVX-512\n"
	               " *   path adds a bitmap of the nonzero inputs (%zu bytes).  No malloc,\n"
	               " *   no writable globals: reentrant and thread-safe.\n",
	           in->u, in->workspace, in->real, in->workspace * rs, bitmap);
	buf_printf(&b, " * libm: forward needs %s; predict %s.\n", in->exp_fn,
	           libm ? "too (the hidden activations)"
	                : arena_printf(ctx->arena, "needs none where the target has an FMA\n"
	                                           " *   instruction, or with -D%s_MULADD (see Arithmetic)",
	                               in->u));
	buf_printf(&b,
	           " *\n * Usage (%s_INPUTS = %zu inputs, %s_OUTPUTS = %zu classes):\n"
	           " *   int k = %s_predict_u8(pixels);   raw 0..255 pixels, normalised here\n"
	           " *   int k = %s_predict(x);           x already normalised as in training\n"
	           " *   %s p[%s_OUTPUTS]; %s_forward_u8(pixels, p);   probabilities\n"
	           " */\n",
	           in->u, m->inputs, in->u, m->outputs, m->name, m->name, in->real, in->u, m->name);
	const char *r = arena_strdup(ctx->arena, b.data);
	buf_fini(&b);
	return r;
}

/* ---- the code */

/* Section vars shared by the layer sections. */
#define LAYER_VARS(in, k) \
	{"P", (in)->p}, {"U", (in)->u}, {"REAL", (in)->real}, {"K", szs((in)->ctx, (k) + 1)}

static int put_dense(const Infer *in, Buf *c, size_t k, bool u8)
{
	const Layer *l = &in->m->layers[k];
	Ctx *ctx = in->ctx;
	const char *in_decl = u8 ? "const unsigned char *restrict px"
	                         : arena_printf(ctx->arena, "const %s *restrict in", in->real);
	const char *load = u8 ? arena_printf(ctx->arena, "%s_pixel(px[j], j)", in->p) : "in[j]";
	/* The portable axpy: whole 64-byte blocks (16-byte ones for narrow
	 * layers), a count gcc -O2 vectorises without a remainder loop. */
	size_t block = (in->f32 ? 16 : 8) / (l->out < (in->f32 ? 16u : 8u) ? 4 : 1);
	TmplVar v[] = {LAYER_VARS(in, k),
	               {"NAME", comment_safe(ctx, l->name)},
	               {"IN", szs(ctx, l->in)},
	               {"OUT", szs(ctx, l->out)},
	               {"ACT", activation_table[l->act].name},
	               {"LOC", loc_str(ctx, l->loc)},
	               {"VARIANT", u8 ? ", from raw pixels" : ""},
	               {"SUFFIX", u8 ? "_u8" : ""},
	               {"IN_DECL", in_decl},
	               {"LOAD", load},
	               {"IN_NAME", u8 ? "px" : "in"},
	               {"XPX", u8 ? "NULL, px" : "in, NULL"},
	               {"MAIN", szs(ctx, l->out - l->out % block)},
	               {"SIMD_BYTES", szs(ctx, block * (in->f32 ? 4 : 8))},
	               {NULL, NULL}};
	TmplVar va[] = {{"U", in->u},
	                {"REAL", in->real},
	                {"K", szs(ctx, k + 1)},
	                {"EXPR", act_expr(in, l->act)},
	                {NULL, NULL}};
	TmplVar ve[] = {{NULL, NULL}};

	if (put(in, c, "infer.c", "dense_begin", v) < 0)
		return -1;
	if (l->act != ACT_LINEAR && put(in, c, "infer.c", "dense_act", va) < 0)
		return -1;
	if (put(in, c, "infer.c", "dense_end", ve) < 0)
		return -1;
	buf_puts(c, "\n");
	return 0;
}

/* The pixel normalisation function and, for standardize, the std macro. */
static int put_pixel(const Infer *in, Buf *c)
{
	const nncc_norm_stats_t *norm = in->opt->norm;
	TmplVar v[] = {{"P", in->p}, {"REAL", in->real}, {NULL, NULL}, {NULL, NULL}, {NULL, NULL},
	               {NULL, NULL}};
	const char *section = "pixel_none";

	if (norm->kind == NNCC_NORM_SCALE) {
		section = "pixel_scale";
	} else if (norm->kind == NNCC_NORM_STANDARDIZE) {
		Buf std;
		buf_init(&std);
		put_hex(&std, norm->std, false);
		section = "pixel_standardize";
		v[2] = (TmplVar){"U", in->u};
		v[3] = (TmplVar){"STD", arena_strdup(in->ctx->arena, std.data)};
		v[4] = (TmplVar){"STD_DEC", arena_printf(in->ctx->arena, "%.17g", norm->std)};
		buf_fini(&std);
	}
	if (put(in, c, "infer.c", section, v) < 0)
		return -1;
	buf_puts(c, "\n");
	return 0;
}

/* The multiply-add macro and the AVX-512 kernel (see the template). */
static int put_simd(const Infer *in, Buf *c)
{
	TmplVar v[] = {{"P", in->p},
	               {"U", in->u},
	               {"REAL", in->real},
	               {"FMA", in->f32 ? "fmaf" : "fma"},
	               {"FAST", in->f32 ? "__FP_FAST_FMAF" : "__FP_FAST_FMA"},
	               {"V", in->f32 ? "__m512" : "__m512d"},
	               {"VS", in->f32 ? "ps" : "pd"},
	               {"MASK", in->f32 ? "__mmask16" : "__mmask8"},
	               {"VL", in->f32 ? "16" : "8"},
	               /* ARM: float FMA on any FPU that has it, double on AArch64 */
	               {"HWFMA", in->f32 ? " || defined(__ARM_FEATURE_FMA)"
	                                 : " || (defined(__ARM_FEATURE_FMA) && defined(__aarch64__))"},
	               {NULL, NULL}};
	TmplVar vu[] = {{"P", in->p}, {"U", in->u}, {NULL, NULL}};
	const nncc_norm_stats_t *norm = in->opt->norm;
	bool px = norm->kind != NNCC_NORM_STANDARDIZE;

	if (put(in, c, "infer.c", "simd", v) < 0)
		return -1;
	buf_puts(c, "\n");
	if (put(in, c, "infer.c", px ? "nonzero_u8_px" : "nonzero_u8_all", vu) < 0)
		return -1;
	buf_puts(c, "\n");
	return 0;
}

/* Scores = the last dense layer's output; dense layer d (0-based among the
 * dense layers) writes s0 if d is even, s1 if odd, and reads the other. */
static int put_scores(const Infer *in, Buf *c)
{
	const Model *m = in->m;
	TmplVar vb[] = {{"P", in->p}, {"U", in->u}, {"REAL", in->real}, {NULL, NULL}};
	const char *last = "s0";
	size_t d = 0;

	if (put(in, c, "infer.c", "logits_begin", vb) < 0)
		return -1;
	for (size_t k = 0; k < m->n_layers; k++) {
		if (m->layers[k].kind != LAYER_DENSE)
			continue;
		last = d % 2 == 0 ? "s0" : "s1";
		if (d++ == 0)
			continue;  /* layer 1 is called by logits_begin (from in or px) */
		TmplVar v[] = {{"P", in->p},
		               {"K", szs(in->ctx, k + 1)},
		               {"DST", last},
		               {"SRC", d % 2 == 0 ? "s0" : "s1"},
		               {NULL, NULL}};
		if (put(in, c, "infer.c", "logits_call", v) < 0)
			return -1;
	}
	TmplVar ve[] = {{"LAST", last}, {NULL, NULL}};
	if (put(in, c, "infer.c", "logits_end", ve) < 0)
		return -1;
	buf_puts(c, "\n");
	return 0;
}

/* The baked-in parameters, after the logic: W rows in braces, exact literals. */
static int put_params(const Infer *in, Buf *c)
{
	const Model *m = in->m;
	const double *w = in->opt->weights;
	const nncc_norm_stats_t *norm = in->opt->norm;
	TmplVar ve[] = {{NULL, NULL}};

	buf_puts(c, "\n");
	if (put(in, c, "infer.c", "params_begin", ve) < 0)
		return -1;
	for (size_t k = 0; k < m->n_layers; k++) {
		const Layer *l = &m->layers[k];
		if (l->kind != LAYER_DENSE)
			continue;
		TmplVar v[] = {LAYER_VARS(in, k),
		               {"NAME", comment_safe(in->ctx, l->name)},
		               {"IN", szs(in->ctx, l->in)},
		               {"OUT", szs(in->ctx, l->out)},
		               {NULL, NULL}};
		buf_puts(c, "\n");
		if (put(in, c, "infer.c", "weights_begin", v) < 0)
			return -1;
		for (size_t j = 0; j < l->in; j++) {
			buf_puts(c, "\t{");
			for (size_t i = 0; i < l->out; i++) {
				buf_puts(c, i > 0 && i % VALUES_PER_LINE(in->f32) == 0 ? "\n\t  " : " ");
				put_hex(c, w[l->w_offset + j * l->out + i], in->f32);
				buf_puts(c, ",");
			}
			buf_puts(c, " },\n");
		}
		if (put(in, c, "infer.c", "array_end", ve) < 0)
			return -1;
		TmplVar vb[] = {LAYER_VARS(in, k),
		                {"NAME", comment_safe(in->ctx, l->name)},
		                {"OUT", szs(in->ctx, l->out)},
		                {NULL, NULL}};
		buf_puts(c, "\n");
		if (put(in, c, "infer.c", "bias_begin", vb) < 0)
			return -1;
		put_values(c, w + l->b_offset, l->out, in->f32, "\t");
		if (put(in, c, "infer.c", "array_end", ve) < 0)
			return -1;
	}
	if (norm->kind == NNCC_NORM_STANDARDIZE) {
		TmplVar v[] = {{"P", in->p}, {"U", in->u}, {NULL, NULL}};
		buf_puts(c, "\n");
		if (put(in, c, "infer.c", "mean_begin", v) < 0)
			return -1;
		put_values(c, norm->mean, m->inputs, false, "\t");
		if (put(in, c, "infer.c", "array_end", ve) < 0)
			return -1;
	}
	return 0;
}

/* Everything after the includes: sizes, declarations, layers, API, weights. */
static int put_code(const Infer *in, Buf *c)
{
	const Model *m = in->m;
	const nncc_norm_stats_t *norm = in->opt->norm;
	const Layer *last = &m->layers[m->n_layers - 1];
	TmplVar vp[] = {{"P", in->p}, {"U", in->u}, {"REAL", in->real}, {NULL, NULL}};

	for (size_t k = 0; k < m->n_layers; k++) {
		const Layer *l = &m->layers[k];
		size_t vl = in->f32 ? 16 : 8;
		TmplVar v[] = {{"U", in->u}, {"K", szs(in->ctx, k + 1)}, {"IN", szs(in->ctx, l->in)},
		               {"OUT", szs(in->ctx, l->out)}, {"VECS", szs(in->ctx, (l->out + vl - 1) / vl)},
		               {NULL, NULL}};
		if (l->kind == LAYER_DENSE && put(in, c, "infer.c", "sizes_layer", v) < 0)
			return -1;
	}
	TmplVar vbuf[] = {{"U", in->u}, {"BUF0", szs(in->ctx, in->buf0)}, {NULL, NULL}};
	if (put(in, c, "infer.c", "sizes_buffers", vbuf) < 0)
		return -1;
	buf_puts(c, "\n");
	for (size_t k = 0; k < m->n_layers; k++) {
		TmplVar v[] = {LAYER_VARS(in, k), {NULL, NULL}};
		if (m->layers[k].kind == LAYER_DENSE && put(in, c, "infer.c", "decl_dense", v) < 0)
			return -1;
	}
	TmplVar vmean[] = {{"P", in->p}, {"U", in->u}, {NULL, NULL}};
	if (norm->kind == NNCC_NORM_STANDARDIZE && put(in, c, "infer.c", "decl_mean", vmean) < 0)
		return -1;
	buf_puts(c, "\n");
	if (put_pixel(in, c) < 0 || put_simd(in, c) < 0)
		return -1;
	for (size_t k = 0; k < m->n_layers; k++)
		if (m->layers[k].kind == LAYER_DENSE &&
		    (put_dense(in, c, k, false) < 0 || (k == 0 && put_dense(in, c, k, true) < 0)))
			return -1;
	if (last->kind == LAYER_SOFTMAX) {
		TmplVar v[] = {{"P", in->p},
		               {"U", in->u},
		               {"REAL", in->real},
		               {"K", szs(in->ctx, m->n_layers)},
		               {"NAME", comment_safe(in->ctx, last->name)},
		               {"IN", szs(in->ctx, last->in)},
		               {"OUT", szs(in->ctx, last->out)},
		               {"LOC", loc_str(in->ctx, last->loc)},
		               {"EXP", in->exp_fn},
		               {NULL, NULL}};
		if (put(in, c, "infer.c", "softmax", v) < 0)
			return -1;
	} else if (put(in, c, "infer.c", "identity", vp) < 0) {
		return -1;
	}
	buf_puts(c, "\n");
	if (put_scores(in, c) < 0)
		return -1;
	TmplVar vapi[] = {{"P", in->p},
	                  {"U", in->u},
	                  {"REAL", in->real},
	                  {"API", in->opt->header_only ? "static inline " : ""},
	                  {NULL, NULL}};
	if (put(in, c, "infer.c", "api", vapi) < 0)
		return -1;
	return put_params(in, c);
}

/* ---- entry points */

/* Every parameter must be representable as a literal (training can diverge
 * to inf/NaN) and, for float32, exactly a float. */
static int check_weights(Ctx *ctx, const Model *m, const EmitOptions *opt)
{
	for (size_t k = 0; k < m->n_params; k++) {
		double v = opt->weights[k];
		if (!isfinite(v)) {
			diag_fatal(ctx, "weight file %s: parameter %zu is %g: the training diverged, "
			                "nothing sensible to export",
			           opt->weights_path, k, v);
			return -1;
		}
		if (m->dtype == DTYPE_F32 && (double)(float)v != v) {
			diag_fatal(ctx, "weight file %s: parameter %zu (%.17g) is not a float32 value",
			           opt->weights_path, k, v);
			return -1;
		}
	}
	return 0;
}

int emit_infer(Ctx *ctx, const Model *m, const EmitOptions *opt, Buf *h, Buf *c)
{
	const nncc_norm_stats_t *norm = opt->norm;
	Infer in = {ctx, m, opt, m->name, NULL, NULL, NULL, m->dtype == DTYPE_F32, 0, 0, NULL};
	size_t buf1 = 0, d = 0;

	if (!opt->weights || !norm)
		NNCC_UNREACHABLE();
	if (check_model(ctx, m) < 0 || check_weights(ctx, m, opt) < 0)
		return -1;
	char *u = arena_strdup(ctx->arena, m->name);
	for (char *q = u; *q; q++)
		if (*q >= 'a' && *q <= 'z')
			*q = (char)(*q - 'a' + 'A');
	in.u = u;
	in.real = in.f32 ? "float" : "double";
	in.exp_fn = in.f32 ? "expf" : "exp";
	for (size_t k = 0; k < m->n_layers; k++) {
		const Layer *l = &m->layers[k];
		if (l->kind != LAYER_DENSE)
			continue;
		if (d++ % 2 == 0)
			in.buf0 = l->out > in.buf0 ? l->out : in.buf0;
		else
			buf1 = l->out > buf1 ? l->out : buf1;
	}
	in.workspace = in.buf0 + buf1;

	const char *hname = opt->header_name ? opt->header_name : "network.h";
	size_t hlen = strlen(hname);
	const char *cname = hlen > 2 && strcmp(hname + hlen - 2, ".h") == 0
	                            ? arena_printf(ctx->arena, "%.*s.c", (int)(hlen - 2), hname)
	                            : arena_printf(ctx->arena, "%s.c", hname);
	TmplVar ve[] = {{NULL, NULL}};
	TmplVar vg[] = {{"U", in.u}, {NULL, NULL}};
	TmplVar vm[] = {{"P", in.p},
	                {"U", in.u},
	                {"REAL", in.real},
	                {"INPUTS", szs(ctx, m->inputs)},
	                {"OUTPUTS", szs(ctx, m->outputs)},
	                {"WORKSPACE", szs(ctx, in.workspace)},
	                {NULL, NULL}};
	TmplVar vd[] = {{"P", in.p}, {"U", in.u}, {"REAL", in.real}, {NULL, NULL}};

	buf_puts(h, make_comment(&in, hname));
	if (put(&in, h, "infer.h", "guard_begin", vg) < 0)
		return -1;
	buf_puts(h, "\n");
	if (put(&in, h, "infer.h", "macros", vm) < 0)
		return -1;
	buf_puts(h, "\n");
	if (opt->header_only) {
		if (put(&in, h, "infer.c", "includes", ve) < 0)
			return -1;
		buf_puts(h, "\n");
		if (put_code(&in, h) < 0)
			return -1;
	} else if (put(&in, h, "infer.h", "decls", vd) < 0) {
		return -1;
	}
	buf_puts(h, "\n");
	if (put(&in, h, "infer.h", "guard_end", ve) < 0)
		return -1;
	if (opt->header_only)
		return 0;

	TmplVar vh[] = {{"HEADER", comment_safe(ctx, hname)}, {NULL, NULL}};
	buf_puts(c, make_comment(&in, cname));
	if (put(&in, c, "infer.c", "include_header", vh) < 0 ||
	    put(&in, c, "infer.c", "includes", ve) < 0)
		return -1;
	buf_puts(c, "\n");
	return put_code(&in, c);
}

/* Checks the file holds weights for m: dtype, shape hash, sizes. */
static int check_weight_file(Ctx *ctx, const Model *m, const char *path,
                             const nncc_weights_file_t *wf)
{
	int dtype = m->dtype == DTYPE_F32 ? NNCC_F32 : NNCC_F64;
	uint64_t hash = model_shape_hash(ctx->arena, m);

	if (wf->dtype != dtype) {
		diag_fatal(ctx, "weight file %s holds %s weights, but network \"%s\" (%s) uses %s", path,
		           wf->dtype == NNCC_F32 ? "float32" : "float64", m->name, m->path,
		           dtype_name(m->dtype));
		return -1;
	}
	if (wf->shape_hash != hash || wf->n_params != m->n_params) {
		diag_fatal(ctx, "weight file %s was saved for another network (shape hash 0x%016llx, "
		                "%zu parameters; network \"%s\" in %s has 0x%016llx, %zu)",
		           path, (unsigned long long)wf->shape_hash, wf->n_params, m->name, m->path,
		           (unsigned long long)hash, m->n_params);
		return -1;
	}
	if (wf->norm.kind == NNCC_NORM_STANDARDIZE && (wf->norm.dim != m->inputs || !wf->norm.mean)) {
		diag_fatal(ctx, "weight file %s: normalisation has %zu means, the network %zu inputs",
		           path, wf->norm.dim, m->inputs);
		return -1;
	}
	return 0;
}

int infer_export(Ctx *ctx, const Model *m, const EmitOptions *opt, Buf *h, Buf *c)
{
	EmitOptions o = *opt;
	nncc_weights_file_t wf;
	nncc_err_t err;
	char sha[65];
	size_t len;
	int rc = -1;

	if (!o.weights_path) {
		diag_fatal(ctx, "--infer needs --weights FILE (a weight file saved by the trainer's --save)");
		return -1;
	}
	if (nncc_weights_read(&wf, o.weights_path, &err) < 0) {
		diag_fatal(ctx, "cannot read weights: %s", err.msg);
		return -1;
	}
	if (check_weight_file(ctx, m, o.weights_path, &wf) < 0)
		goto out;
	const char *bytes = read_file(ctx, o.weights_path, &len);
	if (!bytes)
		goto out;
	nncc_sha256_hex(bytes, len, sha);
	o.weights = wf.params;
	o.weights_sha256 = sha;
	o.norm = &wf.norm;
	o.test_accuracy = wf.meta.test_accuracy;
	rc = emit_infer(ctx, m, &o, h, c);
out:
	nncc_weights_file_fini(&wf);
	return rc;
}
