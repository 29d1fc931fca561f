/*
 * export.c - exports a trained network as self-contained inference C (nncc
 * --infer): NAME.h with the sizes and API, NAME.c with one function per
 * layer and the weights baked in as exact hex-float `static const` arrays
 * after the logic (or everything in one header with --header-only).  The
 * generated code needs no nncc header, no malloc and no writable global.
 * The fixed text comes from templates/export.{c,h}, each layer's from its
 * kind's template (sections export_*, written by the kind's export hook in
 * kinds.c); the decisions (the buffer plan, the literals) are made here.
 * Vocabulary: P = network name, U = P in upper case, K = 1-based layer
 * index, real = float or double; the chain = the layers that compute scores
 * into the two ping-pong buffers, the output stage = a last layer applied
 * only when probabilities are asked for (softmax).
 */
#include <math.h>
#include <string.h>

#include "nncc.h"
#include "../runtime/nncc_exp.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Literals per line: float32 hex literals are about 15 characters, float64 22. */
#define VALUES_PER_LINE(f32) ((f32) ? 5u : 4u)

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
void export_hex(Buf *b, double v, bool f32)
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
void export_values(Buf *b, const double *v, size_t n, bool f32, const char *indent)
{
	for (size_t k = 0; k < n; k++) {
		buf_puts(b, k % VALUES_PER_LINE(f32) == 0 ? indent : " ");
		export_hex(b, v[k], f32);
		buf_puts(b, k + 1 < n && (k + 1) % VALUES_PER_LINE(f32) != 0 ? "," : ",\n");
	}
}

/* The activation table's expression with the generated code's names
 * replaced: real by the concrete type, EXP, TANH and FMA by the file's own
 * P_exp, P_tanh and U_FMA, so no unprefixed macro leaks into a header-only
 * user's namespace. */
static const char *export_expr(const Exporter *in, const char *s)
{
	const struct {
		const char *from, *to;
	} subst[] = {{"real", in->real},
	             {"EXP", in->exp_fn},                           /* see "exp" */
	             {"TANH", in->tanh_fn},                         /* see "tanh" */
	             {"FMA", arena_printf(in->ctx->arena, "%s_FMA", in->u)}}; /* see "simd" */
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
				rep = subst[k].to;
		if (rep)
			buf_puts(&b, rep);
		else
			buf_printf(&b, "%.*s", (int)n, s);
		s += n;
	}
	const char *r = arena_strdup(in->ctx->arena, b.data ? b.data : "");
	buf_fini(&b);
	return r;
}

const char *export_act_expr(const Exporter *in, Activation a)
{
	return export_expr(in, activation_table[a].forward);
}

/* f'(y) in terms of the output y, for the on-device backward pass. */
const char *export_act_deriv(const Exporter *in, Activation a)
{
	return export_expr(in, activation_table[a].deriv);
}

const char *export_loc(Ctx *ctx, Loc loc)
{
	return comment_safe(ctx, arena_printf(ctx->arena, "%s:%d:%d", loc.file ? loc.file : "?",
	                                      loc.line, loc.col));
}

int export_tmpl(const Exporter *in, Buf *out, const char *tmpl, const char *section,
                const TmplVar *shared, size_t n_shared, const TmplVar *vars, size_t n_vars)
{
	const Template *t = tmpl_find(tmpl);
	if (!t) {
		diag_fatal(in->ctx, "unknown template '%s'", tmpl);
		return -1;
	}
	return tmpl_expand_template(in->ctx, out, t, section, shared, n_shared, vars, n_vars);
}

/* One section of export.c/.h with vars (every one used). */
#define put(in, out, tmpl, section, vars) \
	export_tmpl((in), (out), (tmpl), (section), NULL, 0, (vars), ARRAY_LEN(vars))
#define put0(in, out, tmpl, section) export_tmpl((in), (out), (tmpl), (section), NULL, 0, NULL, 0)

/* ---- checks */

/* The exporter's structural assumptions, from the kinds' roles: at least one
 * chain layer, and an output-stage layer (softmax) only last. */
static int check_model(Ctx *ctx, const Model *m)
{
	size_t chain = 0;
	for (size_t k = 0; k < m->n_layers; k++) {
		const Layer *l = &m->layers[k];
		ExportRole role = l->kind->export_role;
		if (role == EXPORT_OUTPUT && k + 1 != m->n_layers) {
			diag_error(ctx, l->loc, "cannot export network \"%s\": %s must be the last layer",
			           m->name, l->kind->name);
			return -1;
		}
		chain += role == EXPORT_CHAIN;
	}
	if (!chain) {
		diag_error(ctx, m->n_layers ? m->layers[0].loc : (Loc){m->path, 0, 0},
		           "cannot export network \"%s\": no layer computes anything", m->name);
		return -1;
	}
	return 0;
}

/* ---- the header comment */

void export_provenance(const Exporter *in, Buf *b)
{
	const EmitOptions *o = in->opt;
	Ctx *ctx = in->ctx;

	buf_printf(b, " * Generated by nncc %s; do not edit.\n", NNCC_VERSION);
	if (o->command_line)
		buf_printf(b, " *   command:  %s\n", comment_safe(ctx, o->command_line));
	buf_printf(b, " *   source:   %s (sha256 %s)\n", comment_safe(ctx, in->m->path),
	           in->m->sha256);
	buf_printf(b, " *   weights:  %s (sha256 %s)\n", comment_safe(ctx, o->weights_path),
	           o->weights_sha256 ? o->weights_sha256 : "?");
}

static const char *make_comment(const Exporter *in, const char *file_name)
{
	const Model *m = in->m;
	const EmitOptions *o = in->opt;
	const nncc_norm_stats_t *norm = o->norm;
	Ctx *ctx = in->ctx;
	size_t rs = in->f32 ? 4 : 8, bitmap = 0;
	Buf b;

	for (size_t k = 0; k < m->n_layers; k++) {
		const Layer *l = &m->layers[k];
		if (l->kind->export_role != EXPORT_CHAIN)
			continue;
		if ((l->in + 63) / 64 * 8 > bitmap)
			bitmap = (l->in + 63) / 64 * 8;
	}
	buf_init(&b);
	buf_printf(&b, "/*\n * %s - %s: inference for a network trained with nncc.\n",
	           comment_safe(ctx, file_name), m->name);
	export_provenance(in, &b);
	if (!isnan(o->test_accuracy))
		buf_printf(&b, " *   test accuracy recorded at training time: %.2f%%\n",
		           100 * o->test_accuracy);
	else
		buf_puts(&b, " *   test accuracy: not recorded in the weight file\n");
	buf_printf(&b, " *   numbers:  %s; input normalisation: %s, %s\n", in->real,
	           nncc_norm_name(norm->kind), nncc_norm_doc(norm->kind));
	buf_puts(&b, " *\n *   layer                    kind        in -> out   activation   params\n");
	for (size_t k = 0; k < m->n_layers; k++) {
		const Layer *l = &m->layers[k];
		const KindInfo *kind = l->kind;
		if (kind->export_role == EXPORT_NONE)
			continue;   /* training only (dropout): not in inference code */
		buf_printf(&b, " *   %-3zu %-20s %-8s %6zu -> %-6zu %-10s %8zu\n", k + 1,
		           comment_safe(ctx, l->name), kind->name, l->in, l->out,
		           kind->has_activation ? activation_table[l->act].name : "-", l->n_params);
	}
	buf_printf(&b, " *   %66s %8zu\n *\n", "total", m->n_params);
	export_train_comment(in, &b);
	if (o->trainable == TRAIN_NONE) {
		buf_printf(&b, " * Memory: %zu bytes of const parameters (may live in flash)",
		           m->n_params * rs);
		if (norm->kind == NNCC_NORM_STANDARDIZE)
			buf_printf(&b, "\n *   + %zu bytes of normalisation means", m->inputs * 8);
		if (norm->kind == NNCC_NORM_STANDARDIZE_FEATURES)
			buf_printf(&b, "\n *   + %zu bytes of normalisation means and stds", m->inputs * 16);
		buf_puts(&b, ".\n");
	}
	buf_printf(&b, " * Stack: each call keeps %s_WORKSPACE_SIZE = %zu %ss (%zu bytes: the\n"
	               " *   two largest activation buffers) on the stack; the _workspace\n"
	               " *   variants take that scratch from the caller instead.  The AVX-512\n"
	               " *   path adds a bitmap of the nonzero inputs (%zu bytes).  No malloc%s\n",
	           in->u, in->workspace, in->real, in->workspace * rs, bitmap,
	           o->trainable == TRAIN_NONE ? ",\n *   no writable globals: reentrant and thread-safe."
	                                      : " (the\n *   writable statics are in the ledger).");
	buf_printf(&b, " * libm: %s only where the target has no FMA instruction, unless\n"
	               " *   -D%s_MULADD (see Arithmetic).  The exp and tanh it needs are the\n"
	               " *   file's own (%s_exp, %s_tanh): the trainer's bits on every machine.\n",
	           in->f32 ? "fmaf" : "fma", in->u, m->name, m->name);
	if (m->data.csv.n_targets)   /* a regression: the outputs are the prediction */
		buf_printf(&b,
		           " *\n * Usage (%s_INPUTS = %zu inputs, %s_OUTPUTS = %zu predicted values):\n"
		           " *   %s y[%s_OUTPUTS]; %s_forward(x, y);   x normalised as in training\n",
		           in->u, m->inputs, in->u, m->outputs, in->real, in->u, m->name);
	else
		buf_printf(&b,
		           " *\n * Usage (%s_INPUTS = %zu inputs, %s_OUTPUTS = %zu classes):\n"
		           " *   int k = %s_predict_u8(pixels);   raw 0..255 pixels, normalised here\n"
		           " *   int k = %s_predict(x);           x already normalised as in training\n"
		           " *   %s p[%s_OUTPUTS]; %s_forward_u8(pixels, p);   probabilities\n",
		           in->u, m->inputs, in->u, m->outputs, m->name, m->name, in->real, in->u, m->name);
	if (norm->kind == NNCC_NORM_STANDARDIZE_FEATURES)
		buf_printf(&b, " * Tabular inputs: %s_normalize(raw, x) maps raw feature values to x as\n"
		               " *   in training, then %s_%s.\n", m->name, m->name,
		           m->data.csv.n_targets ? "forward(x, y)" : "predict(x)");
	if (norm->n_classes)
		buf_printf(&b, " * Class names: %s_class_name(k) (the training data's labels).\n",
		           m->name);
	buf_puts(&b, " */\n");
	const char *r = arena_strdup(ctx->arena, b.data);
	buf_fini(&b);
	return r;
}

/* ---- the code */

/* The pixel normalisation function and, for standardize, the std macro. */
static int put_pixel(const Exporter *in, Buf *c)
{
	const nncc_norm_stats_t *norm = in->opt->norm;
	TmplVar v[] = {{"P", in->p}, {"REAL", in->real}};
	TmplVar vs0[] = {{"P", in->p}, {"REAL", in->real}, {"U", in->u},
	                 {"API", in->opt->header_only ? "static inline " : ""}};
	int rc;

	if (norm->kind == NNCC_NORM_STANDARDIZE_FEATURES) {
		rc = put(in, c, "export.c", "pixel_standardize_features", vs0);
	} else if (norm->kind == NNCC_NORM_STANDARDIZE) {
		Buf std;
		buf_init(&std);
		export_hex(&std, norm->std, false);
		TmplVar vs[] = {{"P", in->p}, {"REAL", in->real}, {"U", in->u},
		                {"STD", arena_strdup(in->ctx->arena, std.data)},
		                {"STD_DEC", arena_printf(in->ctx->arena, "%.17g", norm->std)}};
		buf_fini(&std);
		rc = put(in, c, "export.c", "pixel_standardize", vs);
	} else {
		rc = put(in, c, "export.c",
		         norm->kind == NNCC_NORM_SCALE ? "pixel_scale" : "pixel_none", v);
	}
	buf_puts(c, "\n");
	return rc;
}

/* Whether the network calls fn, "EXP" or "TANH": an activation whose
 * expression has it, or for EXP a softmax output. */
static bool uses_fn(const Model *m, const char *fn)
{
	for (size_t k = 0; k < m->n_layers; k++) {
		const Layer *l = &m->layers[k];
		if ((l->kind->export_role == EXPORT_OUTPUT && strcmp(fn, "EXP") == 0) ||
		    (l->kind->export_role == EXPORT_CHAIN && l->kind->has_activation &&
		     strstr(activation_table[l->act].forward, fn)))
			return true;
	}
	return false;
}

int export_math(const Exporter *in, Buf *c, bool use_exp, bool use_tanh)
{
	if (!use_exp && !use_tanh)
		return 0;
	Arena *A = in->ctx->arena;
	const bool f = in->f32;
	static const float poly32[NNCC_EXP_NPOLY_F32] = NNCC_EXP_POLY_F32;
	static const double poly64[NNCC_EXP_NPOLY_F64] = NNCC_EXP_POLY_F64;
	double poly[NNCC_EXP_NPOLY_F64];
	size_t np = f ? NNCC_EXP_NPOLY_F32 : NNCC_EXP_NPOLY_F64;
	enum {
#define EXP_ID(name, f32, f64) EXP_##name,
		NNCC_EXP_CONSTANTS(EXP_ID)
#undef EXP_ID
		EXP_N
	};
	static const double c32[EXP_N] = {
#define EXP_F32(name, f32, f64) f32,
		NNCC_EXP_CONSTANTS(EXP_F32)
#undef EXP_F32
	};
	static const double c64[EXP_N] = {
#define EXP_F64(name, f32, f64) f64,
		NNCC_EXP_CONSTANTS(EXP_F64)
#undef EXP_F64
	};
	const char *lit[EXP_N];
	Buf b;

	for (size_t k = 0; k < EXP_N; k++) {
		buf_init(&b);
		export_hex(&b, f ? c32[k] : c64[k], f);
		lit[k] = arena_strdup(A, b.data);
		buf_fini(&b);
	}
	for (size_t k = 0; k < np; k++)
		poly[k] = f ? (double)poly32[k] : poly64[k];
	buf_init(&b);
	export_values(&b, poly, np, f, "\t");
	const char *poly_text = arena_strdup(A, b.data);
	buf_fini(&b);
	const char *fma = f ? "fmaf" : "fma";
	/* shared by the sections, so not every one need be used by each */
	TmplVar v[] = {{"POLY_DECL", arena_printf(A, "/* the Taylor coefficients of exp, highest "
	                                             "degree first */\n"
	                                             "static const %s %s_exp_poly[%zu] = {\n%s};\n\n",
	                                             in->real, in->p, np, poly_text)},
	               {"P", in->p},
	               {"SFX", "plain"},
	               {"ATTR", ""},
	               {"FMA", arena_printf(A, "%s_FMA", in->u)},
	               {"REAL", in->real},
	               {"UINT", f ? "uint32_t" : "uint64_t"},
	               {"LO", lit[EXP_LO]},
	               {"HI", lit[EXP_HI]},
	               {"LO_DEC", arena_printf(A, "%g", f ? c32[EXP_LO] : c64[EXP_LO])},
	               {"HI_DEC", arena_printf(A, "%g", f ? c32[EXP_HI] : c64[EXP_HI])},
	               {"TANH_HI", lit[EXP_TANH_HI]},
	               {"TANH_HI_DEC", arena_printf(A, "%g", f ? c32[EXP_TANH_HI] : c64[EXP_TANH_HI])},
	               {"MAGIC", lit[EXP_MAGIC]},
	               {"LOG2E", lit[EXP_LOG2E]},
	               {"LN2HI", lit[EXP_LN2HI]},
	               {"LN2LO", lit[EXP_LN2LO]},
	               {"NPOLY", szs(in->ctx, np)},
	               {"DEGREE", szs(in->ctx, np - 1)},
	               {"SHIFT", szs(in->ctx, f ? NNCC_EXP_SHIFT_F32 : NNCC_EXP_SHIFT_F64)},
	               {"BIAS", szs(in->ctx, f ? NNCC_EXP_BIAS_F32 : NNCC_EXP_BIAS_F64)}};
	TmplVar vb[] = {{"U", in->u}, {"FMAF", fma}};

	static const char *const fns[][2] = {{"exp_reduce_doc", "exp_reduce"}, {"exp_doc", "exp"},
	                                     {"tanh_doc", "tanh"}};
	for (int copy = 0; copy < 2; copy++) {
		if (copy == 1) {
			/* the copy: the builtin, compiled for the FMA instruction;
			 * the comments once, above the first */
			if (put(in, c, "export.c", "exp_fma_begin", vb) < 0)
				return -1;
			v[2].value = "fma";
			v[3].value = "__attribute__((target(\"fma\"))) ";
			v[4].value = arena_printf(A, "__builtin_%s", fma);
		}
		for (size_t k = 0; k < ARRAY_LEN(fns); k++) {
			if ((k == 1 && !use_exp) || (k == 2 && !use_tanh))
				continue;
			if ((copy == 0 && export_tmpl(in, c, "export.c", fns[k][0], v, ARRAY_LEN(v), NULL,
			                              0) < 0) ||
			    export_tmpl(in, c, "export.c", fns[k][1], v, ARRAY_LEN(v), NULL, 0) < 0)
				return -1;
			buf_puts(c, "\n");
		}
	}
	if (put0(in, c, "export.c", "exp_fma_end") < 0)
		return -1;
	buf_puts(c, "\n");
	for (int k = 0; k < 2; k++) {
		if (!(k == 0 ? use_exp : use_tanh))
			continue;
		TmplVar vd[] = {{"P", in->p}, {"U", in->u}, {"REAL", in->real},
		                {"FN", k == 0 ? "exp" : "tanh"}};
		if (put(in, c, "export.c", "exp_dispatch", vd) < 0)
			return -1;
		buf_puts(c, "\n");
	}
	return 0;
}

/* The multiply-add macro and the AVX-512 kernel (see the template). */
static int put_simd(const Exporter *in, Buf *c)
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
	               {"V2", in->f32 ? "__m256" : "__m256d"},
	               {"VL2", in->f32 ? "8" : "4"},
	               {"CMPGT2", in->f32 ? "_mm256_cmpgt_epi32" : "_mm256_cmpgt_epi64"},
	               {"SET1I2", in->f32 ? "_mm256_set1_epi32" : "_mm256_set1_epi64x"},
	               {"ICAST2", in->f32 ? "int" : "long long"},
	               {"IOTA2", in->f32 ? "_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)"
	                                 : "_mm256_setr_epi64x(0, 1, 2, 3)"},
	               /* ARM: float FMA on any FPU that has it, double on AArch64 */
	               {"HWFMA", in->f32 ? " || defined(__ARM_FEATURE_FMA)"
	                                 : " || (defined(__ARM_FEATURE_FMA) && defined(__aarch64__))"}};
	TmplVar vu[] = {{"P", in->p}, {"U", in->u}};
	bool px = in->opt->norm->kind != NNCC_NORM_STANDARDIZE &&
	          in->opt->norm->kind != NNCC_NORM_STANDARDIZE_FEATURES;

	if (put(in, c, "export.c", "simd", v) < 0)
		return -1;
	buf_puts(c, "\n");
	if (put(in, c, "export.c", px ? "nonzero_u8_px" : "nonzero_u8_all", vu) < 0)
		return -1;
	buf_puts(c, "\n");
	return export_math(in, c, uses_fn(in->m, "EXP"), uses_fn(in->m, "TANH"));
}

/* The scores: the chain layers in order, chain layer d (0-based) writing
 * s0 if d is even, s1 if odd, and reading the other; the first one is
 * called by scores_begin, from the inputs or the raw pixels. */
static int put_scores(const Exporter *in, Buf *c)
{
	const Model *m = in->m;
	TmplVar vb[] = {{"P", in->p}, {"U", in->u}, {"REAL", in->real},
	                {"K", szs(in->ctx, in->chain[0] + 1)}};
	const char *last = "s0";
	size_t d = 0;

	if (put(in, c, "export.c", "scores_begin", vb) < 0)
		return -1;
	for (size_t k = 0; k < m->n_layers; k++) {
		if (m->layers[k].kind->export_role != EXPORT_CHAIN)
			continue;
		last = d % 2 == 0 ? "s0" : "s1";
		if (d++ == 0)
			continue;
		TmplVar v[] = {{"P", in->p},
		               {"K", szs(in->ctx, k + 1)},
		               {"DST", last},
		               {"SRC", d % 2 == 0 ? "s0" : "s1"}};
		if (put(in, c, "export.c", "scores_call", v) < 0)
			return -1;
	}
	TmplVar ve[] = {{"LAST", last}};
	if (put(in, c, "export.c", "scores_end", ve) < 0)
		return -1;
	buf_puts(c, "\n");
	return 0;
}

/* Every layer's part `part`, in order. */
static int put_layers(const Exporter *in, Buf *c, ExportPart part)
{
	for (size_t k = 0; k < in->m->n_layers; k++)
		if (in->m->layers[k].kind->export(in, k, part, c) < 0)
			return -1;
	return 0;
}

/* A per-input double array of the normalisation: section `begin`
 * (mean_begin, std_begin), the values, the end. */
int export_norm_array(const Exporter *in, Buf *c, const char *begin, const double *v)
{
	TmplVar vars[] = {{"P", in->p}, {"U", in->u}};

	buf_puts(c, "\n");
	if (put(in, c, "export.c", begin, vars) < 0)
		return -1;
	export_values(c, v, in->m->inputs, false, "\t");
	return put0(in, c, "export.c", "array_end");
}

/* The baked-in parameters, after the logic: each kind writes its arrays. */
static int put_params(const Exporter *in, Buf *c)
{
	const nncc_norm_stats_t *norm = in->opt->norm;

	buf_puts(c, "\n");
	if (put0(in, c, "export.c", "params_begin") < 0 || put_layers(in, c, EXPORT_PARAMS) < 0)
		return -1;
	if ((norm->kind == NNCC_NORM_STANDARDIZE || norm->kind == NNCC_NORM_STANDARDIZE_FEATURES) &&
	    export_norm_array(in, c, "mean_begin", norm->mean) < 0)
		return -1;
	if (norm->kind == NNCC_NORM_STANDARDIZE_FEATURES &&
	    export_norm_array(in, c, "std_begin", norm->stds) < 0)
		return -1;
	return 0;
}

/* The class names of string labels (CSV), when the weight file has them. */
static int put_class_names(const Exporter *in, Buf *c)
{
	const nncc_norm_stats_t *norm = in->opt->norm;
	TmplVar v[] = {{"P", in->p}, {"K", szs(in->ctx, norm->n_classes)}};

	if (!norm->n_classes)
		return 0;
	buf_puts(c, "\n");
	if (put(in, c, "export.c", "class_names_begin", v) < 0)
		return -1;
	for (size_t k = 0; k < norm->n_classes; k++)
		buf_printf(c, "\t%s,\n", text_c_string(in->ctx->arena, norm->class_names[k]));
	if (put0(in, c, "export.c", "array_end") < 0)
		return -1;
	buf_puts(c, "\n");
	return 0;
}

/* Its accessor, with the API (after the arrays' declarations). */
static int put_class_name(const Exporter *in, Buf *c)
{
	TmplVar v[] = {{"P", in->p}, {"API", in->opt->header_only ? "static inline " : ""},
	               {"K", szs(in->ctx, in->opt->norm->n_classes)}};
	if (!in->opt->norm->n_classes)
		return 0;
	buf_puts(c, "\n");
	return put(in, c, "export.c", "class_name", v);
}

/* Everything after the includes: sizes, declarations, layers, API, weights. */
static int put_code(const Exporter *in, Buf *c)
{
	const Model *m = in->m;
	const Layer *last = &m->layers[m->n_layers - 1];
	TmplVar vp[] = {{"P", in->p}, {"U", in->u}, {"REAL", in->real}};
	TmplVar vbuf[] = {{"U", in->u}, {"BUF0", szs(in->ctx, in->buf0)}};
	TmplVar vmean[] = {{"P", in->p}, {"U", in->u}};
	TmplVar vapi[] = {{"P", in->p},
	                  {"U", in->u},
	                  {"REAL", in->real},
	                  {"API", in->opt->header_only ? "static inline " : ""}};

	if (put_layers(in, c, EXPORT_SIZES) < 0 || put(in, c, "export.c", "sizes_buffers", vbuf) < 0)
		return -1;
	buf_puts(c, "\n");
	if (put_layers(in, c, EXPORT_DECL) < 0)
		return -1;
	if ((in->opt->norm->kind == NNCC_NORM_STANDARDIZE ||
	     in->opt->norm->kind == NNCC_NORM_STANDARDIZE_FEATURES) &&
	    put(in, c, "export.c", "decl_mean", vmean) < 0)
		return -1;
	if (in->opt->norm->kind == NNCC_NORM_STANDARDIZE_FEATURES &&
	    put(in, c, "export.c", "decl_std", vmean) < 0)
		return -1;
	if (put_class_names(in, c) < 0)
		return -1;
	buf_puts(c, "\n");
	if (put_pixel(in, c) < 0 || put_simd(in, c) < 0 || put_layers(in, c, EXPORT_CODE) < 0)
		return -1;
	/* No output stage: the outputs are the last chain layer's scores. */
	if (last->kind->export_role != EXPORT_OUTPUT &&
	    put(in, c, "export.c", "identity", vp) < 0)
		return -1;
	buf_puts(c, "\n");
	if (put_scores(in, c) < 0 || put(in, c, "export.c", "api", vapi) < 0 ||
	    put_class_name(in, c) < 0 || export_train_code(in, c) < 0)
		return -1;
	return put_params(in, c);
}

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
	Exporter in = {.ctx = ctx, .m = m, .opt = opt, .p = m->name, .f32 = m->dtype == DTYPE_F32};
	size_t buf1 = 0, d = 0;

	if (!opt->weights || !norm)
		NNCC_UNREACHABLE();
	if (check_model(ctx, m) < 0 || check_weights(ctx, m, opt) < 0)
		return -1;
	in.u = text_upper(ctx->arena, m->name);
	if (opt->quantize) {
		QNet q;
		if (quant_build(ctx, m, opt->weights, norm, opt->data_dir, opt->calibrate, &q) < 0)
			return -1;
		return export_int8(&in, &q, h, c);
	}
	in.real = in.f32 ? "float" : "double";
	in.exp_fn = arena_printf(ctx->arena, "%s_exp", m->name);
	in.tanh_fn = arena_printf(ctx->arena, "%s_tanh", m->name);
	in.chain = arena_alloc(ctx->arena, m->n_layers * sizeof *in.chain);
	for (size_t k = 0; k < m->n_layers; k++) {
		const Layer *l = &m->layers[k];
		if (l->kind->export_role != EXPORT_CHAIN)
			continue;
		in.chain[in.n_chain++] = k;
		if (d++ % 2 == 0)
			in.buf0 = l->out > in.buf0 ? l->out : in.buf0;
		else
			buf1 = l->out > buf1 ? l->out : buf1;
	}
	in.workspace = in.buf0 + buf1;
	if (export_train_check(&in) < 0)
		return -1;

	const char *hname = opt->header_name ? opt->header_name : "network.h";
	size_t hlen = strlen(hname);
	const char *cname = hlen > 2 && strcmp(hname + hlen - 2, ".h") == 0
	                            ? arena_printf(ctx->arena, "%.*s.c", (int)(hlen - 2), hname)
	                            : arena_printf(ctx->arena, "%s.c", hname);
	TmplVar vg[] = {{"U", in.u}};
	TmplVar vm[] = {{"P", in.p},
	                {"U", in.u},
	                {"REAL", in.real},
	                {"INPUTS", szs(ctx, m->inputs)},
	                {"OUTPUTS", szs(ctx, m->outputs)},
	                {"WORKSPACE", szs(ctx, in.workspace)}};
	TmplVar vd[] = {{"P", in.p}, {"U", in.u}, {"REAL", in.real}};
	TmplVar vd1[] = {{"P", in.p}};

	buf_puts(h, make_comment(&in, hname));
	if (put(&in, h, "export.h", "guard_begin", vg) < 0)
		return -1;
	buf_puts(h, "\n");
	if (put(&in, h, "export.h", "macros", vm) < 0 || export_train_header(&in, h) < 0)
		return -1;
	buf_puts(h, "\n");
	if (opt->header_only) {
		if (put0(&in, h, "export.c", "includes") < 0)
			return -1;
		buf_puts(h, "\n");
		if (put_code(&in, h) < 0)
			return -1;
	} else if (put(&in, h, "export.h", "decls", vd) < 0 ||
	           (norm->kind == NNCC_NORM_STANDARDIZE_FEATURES &&
	            put(&in, h, "export.h", "decl_normalize", vd) < 0) ||
	           (norm->n_classes && put(&in, h, "export.h", "decl_class_name", vd1) < 0) ||
	           put0(&in, h, "export.h", "decls_end") < 0) {
		return -1;
	}
	buf_puts(h, "\n");
	if (put0(&in, h, "export.h", "guard_end") < 0)
		return -1;
	if (opt->header_only)
		return 0;

	TmplVar vh[] = {{"HEADER", comment_safe(ctx, hname)}};
	buf_puts(c, make_comment(&in, cname));
	if (put(&in, c, "export.c", "include_header", vh) < 0 ||
	    put0(&in, c, "export.c", "includes") < 0)
		return -1;
	buf_puts(c, "\n");
	return put_code(&in, c);
}

/* ---- entry points */

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
	if ((wf->norm.kind == NNCC_NORM_STANDARDIZE || wf->norm.kind == NNCC_NORM_STANDARDIZE_FEATURES) &&
	    (wf->norm.dim != m->inputs || !wf->norm.mean)) {
		diag_fatal(ctx, "weight file %s: normalisation has %zu means, the network %zu inputs",
		           path, wf->norm.dim, m->inputs);
		return -1;
	}
	return 0;
}

int export_infer(Ctx *ctx, const Model *m, const EmitOptions *opt, Buf *h, Buf *c)
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
