/*
 * export_int8.c - writes the int8 inference C (nncc --infer --quantize
 * int8) from a quantised network (quant.c): NAME.h with the sizes and the
 * API, NAME.c with the requantisation, one integer function per dense layer,
 * the logits chain, the API and the quantised parameters after the logic
 * (or everything in one header).  The fixed text is templates/quant.c and
 * quant.h (with export.h's guard); the decisions are quant.c's.  With
 * --no-float the float API is left out and the code has no floating point.
 * Vocabulary as in export.c; d = 0-based index among the chain layers.
 */
#include <string.h>

#include "nncc.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define put(x, out, tmpl, section, vars) \
	export_tmpl((x), (out), (tmpl), (section), NULL, 0, (vars), ARRAY_LEN(vars))
#define put0(x, out, tmpl, section) export_tmpl((x), (out), (tmpl), (section), NULL, 0, NULL, 0)

/* Integers per line of an initializer. */
enum { INTS_PER_LINE = 12 };
/* The accumulation runs over whole blocks of this many outputs, then the
 * rest: a trip count gcc -O2 vectorises without a remainder loop (16 int8
 * weights are one 16-byte vector). */
enum { AXPY_BLOCK = 16 };

static const char *num(const Exporter *x, size_t v)
{
	return plan_num(x->ctx->arena, v);
}

static const char *hex(const Exporter *x, double v)
{
	Buf b;
	buf_init(&b);
	export_hex(&b, v, false);
	const char *r = arena_strdup(x->ctx->arena, b.data);
	buf_fini(&b);
	return r;
}

/* The values a section of layer d may use (shared: it need not use all). */
enum { N_LAYER_VARS = 7 };

static void layer_vars(const Exporter *x, const QNet *q, size_t d, TmplVar *v)
{
	const QLayer *ql = &q->l[d];
	v[0] = (TmplVar){"P", x->p};
	v[1] = (TmplVar){"U", x->u};
	v[2] = (TmplVar){"K", num(x, ql->k + 1)};
	v[3] = (TmplVar){"NAME", text_comment_safe(x->ctx->arena, x->m->layers[ql->k].name)};
	v[4] = (TmplVar){"IN", num(x, ql->in)};
	v[5] = (TmplVar){"OUT", num(x, ql->out)};
	v[6] = (TmplVar){"QUADS", num(x, (ql->in + 3) / 4)};
}

#define putl(x, out, section, lv, vars) \
	export_tmpl((x), (out), "quant.c", (section), (lv), N_LAYER_VARS, (vars), ARRAY_LEN(vars))
#define putl0(x, out, section, lv) \
	export_tmpl((x), (out), "quant.c", (section), (lv), N_LAYER_VARS, NULL, 0)

/* n integers from get(k) as an initializer body, then "};". */
static int put_ints(const Exporter *x, Buf *c, size_t n, long long (*get)(const QLayer *, size_t),
                    const QLayer *ql)
{
	for (size_t k = 0; k < n; k++)
		buf_printf(c, "%s%lld,%s", k % INTS_PER_LINE == 0 ? "\t" : " ", get(ql, k),
		           (k + 1) % INTS_PER_LINE == 0 || k + 1 == n ? "\n" : "");
	return put0(x, c, "export.c", "array_end");
}

static long long get_b(const QLayer *ql, size_t k) { return ql->b[k]; }
static long long get_m(const QLayer *ql, size_t k) { return ql->m[k]; }
static long long get_n(const QLayer *ql, size_t k) { return ql->n[k]; }
static long long get_lut(const QLayer *ql, size_t k) { return ql->lut[k]; }

/* ---- the header comment */

static const char *make_comment(const Exporter *x, const QNet *q, const char *file_name)
{
	const Model *m = x->m;
	Ctx *ctx = x->ctx;
	Buf b;

	buf_init(&b);
	buf_printf(&b, "/*\n * %s - %s: int8 inference for a network trained with nncc.\n",
	           text_comment_safe(ctx->arena, file_name), m->name);
	export_provenance(x, &b);
	buf_printf(&b, " *   quantised: int8 weights per output channel, uint8 activations,\n"
	               " *     int32 accumulators (docs/embedding.md#int8-export); calibrated on\n"
	               " *     the first %zu images of %s\n",
	           q->n_calib, text_comment_safe(ctx->arena, q->calib_from));
	buf_printf(&b, " *   test accuracy (%zu images): float %.2f%%, int8 %.2f%%\n", q->n_test,
	           100 * q->acc_float, 100 * q->acc_int8);
	buf_printf(&b, " *   parameters: float %zu bytes, int8 %zu bytes (%.2fx smaller)\n",
	           q->bytes_float, q->bytes_int8, (double)q->bytes_float / (double)q->bytes_int8);
	buf_printf(&b, " *   input: raw pixels, the normalisation (%s) folded into layer %zu\n",
	           nncc_norm_name(x->opt->norm->kind), q->l[0].k + 1);
	buf_puts(&b, " *\n *   layer                    in -> out   activation  input (s, zp)"
	             "           output (s, zp)\n");
	for (size_t d = 0; d < q->n; d++) {
		const QLayer *ql = &q->l[d];
		buf_printf(&b, " *   %-3zu %-20s %6zu -> %-6zu %-10s  %-12.6g %-4d    ", ql->k + 1,
		           text_comment_safe(ctx->arena, m->layers[ql->k].name), ql->in, ql->out,
		           activation_table[ql->act].name, ql->s_in, (int)ql->zp_in);
		if (ql->last)
			buf_printf(&b, "int32 logits x %.6g\n", ql->s_out);
		else
			buf_printf(&b, "%-12.6g %d\n", ql->s_out, (int)ql->zp_out);
	}
	buf_printf(&b, " *\n * Usage (%s_INPUTS = %zu pixels, %s_OUTPUTS = %zu classes):\n"
	               " *   int k = %s_predict_u8(pixels);   raw 0..255 pixels\n",
	           x->u, m->inputs, x->u, m->outputs, m->name);
	/* forward's output stage: a softmax, or the last layer's activation */
	bool softmax = m->layers[m->n_layers - 1].kind->export_role == EXPORT_OUTPUT;
	Activation out = q->l[q->n - 1].act;
	const char *libm = softmax || out == ACT_SIGMOID || out == ACT_TANH
	                           ? "fmaf in forward's own exp/tanh, only where the target has no\n"
	                             " *   FMA instruction"
	                           : "none for forward";
	if (x->opt->no_float)
		buf_puts(&b, " * Built with --no-float: no floating point, no libm.\n");
	else
		buf_printf(&b, " *   float p[%s_OUTPUTS]; %s_forward_u8(pixels, p);   %s\n"
		               " * libm: %s; the rest needs none.\n",
		           x->u, m->name, softmax ? "probabilities" : "outputs", libm);
	buf_puts(&b, " */\n");
	const char *r = arena_strdup(ctx->arena, b.data);
	buf_fini(&b);
	return r;
}

/* ---- the code */

/* Layer d's function: accumulation, then clamp, table or logits. */
static int put_layer(const Exporter *x, const QNet *q, size_t d, Buf *c)
{
	const QLayer *ql = &q->l[d];
	const Layer *l = &x->m->layers[ql->k];
	bool table = quant_uses_table(ql);
	const char *lo = ql->act == ACT_RELU ? arena_printf(x->ctx->arena, "%s_L%zu_ZP", x->u, ql->k + 1)
	                                     : "0";
	const char *doc = ql->last    ? "then the int32 logits round(acc * m / 2^n)."
	                  : table     ? "then the table of its activation at round(acc * m / 2^n) + ZP."
	                  : ql->act == ACT_RELU ? "then relu: max(ZP, round(acc * m / 2^n) + ZP), at most 255."
	                                        : "then round(acc * m / 2^n) + ZP, clamped to 0..255.";
	TmplVar lv[N_LAYER_VARS];
	TmplVar v[] = {{"ACT", activation_table[ql->act].name},
	               {"LOC", export_loc(x->ctx, l->loc)},
	               {"DOC", doc},
	               {"Y", ql->last ? "int32_t" : "unsigned char"}};
	TmplVar vc[] = {{"LO", lo}};

	size_t main = ql->out - ql->out % AXPY_BLOCK;
	TmplVar vx[] = {{"MAIN", num(x, main)}};
	TmplVar vr[] = {{"REST", num(x, ql->in % 4)}};

	layer_vars(x, q, d, lv);
	if (putl(x, c, "layer_begin", lv, v) < 0 ||
	    (main > 0 && putl(x, c, "layer_axpy_main", lv, vx) < 0) ||
	    (main < ql->out && putl(x, c, "layer_axpy_tail", lv, vx) < 0) ||
	    putl0(x, c, "layer_quads_end", lv) < 0 ||
	    (ql->in % 4 && putl(x, c, "layer_rest", lv, vr) < 0) ||
	    putl0(x, c, "layer_requant", lv) < 0)
		return -1;
	int rc = ql->last ? put0(x, c, "quant.c", "layer_logits")
	         : table  ? putl0(x, c, "layer_lut", lv)
	                  : putl(x, c, "layer_clamp", lv, vc);
	buf_puts(c, "\n");
	return rc;
}

/* The chain: layer d writes s(d % 2) from s((d - 1) % 2), the first reads
 * px, the last writes out. */
static int put_logits(const Exporter *x, const QNet *q, Buf *c)
{
	TmplVar v[] = {{"P", x->p}, {"U", x->u}};

	if (put(x, c, "quant.c", "logits_begin", v) < 0)
		return -1;
	for (size_t b = 0; b < 2 && b + 1 < q->n; b++)
		buf_printf(c, "\tunsigned char s%zu[%s_BUF%zu];\n", b, x->u, b);
	if (q->n > 1)
		buf_puts(c, "\n");
	for (size_t d = 0; d < q->n; d++)
		buf_printf(c, "\t%s_l%zu_forward(%s, %s);\n", x->p, q->l[d].k + 1,
		           d + 1 == q->n ? "out" : d % 2 ? "s1" : "s0",
		           d == 0 ? "px" : d % 2 ? "s0" : "s1");
	if (put0(x, c, "quant.c", "logits_end") < 0)
		return -1;
	buf_puts(c, "\n");
	return 0;
}

/* The float API: input quantisation, output stage, the functions. */
static int put_float_api(const Exporter *x, const QNet *q, Buf *c)
{
	const nncc_norm_stats_t *norm = x->opt->norm;
	const Model *m = x->m;
	const Layer *last = &m->layers[m->n_layers - 1];
	const QLayer *ql = &q->l[q->n - 1];
	const char *pixel = norm->kind == NNCC_NORM_STANDARDIZE
	                            ? arena_printf(x->ctx->arena, "(double)in[j] * %s_STD + %s_mean[j]",
	                                           x->u, x->p)
	                    : norm->kind == NNCC_NORM_SCALE ? "(double)in[j] * 255"
	                                                    : "(double)in[j]";
	TmplVar vq[] = {{"P", x->p}, {"U", x->u}, {"NORM", nncc_norm_doc(norm->kind)}, {"PIXEL", pixel}};
	TmplVar va[] = {{"P", x->p}, {"U", x->u}, {"API", x->opt->header_only ? "static inline " : ""}};

	const bool softmax = last->kind->export_role == EXPORT_OUTPUT;
	const bool use_exp = softmax || strstr(activation_table[ql->act].forward, "EXP");
	const bool use_tanh = !softmax && strstr(activation_table[ql->act].forward, "TANH");
	TmplVar vf[] = {{"U", x->u}};

	if (put(x, c, "quant.c", "quantize", vq) < 0)
		return -1;
	buf_puts(c, "\n");
	/* the output stage's exp or tanh: the float export's, so the same bits
	 * on every machine */
	if ((use_exp || use_tanh) &&
	    (put(x, c, "quant.c", "float_fma", vf) < 0 || export_math(x, c, use_exp, use_tanh) < 0))
		return -1;
	if (softmax) {
		TmplVar v[] = {{"P", x->p}, {"U", x->u}, {"K", num(x, m->n_layers)},
		               {"NAME", text_comment_safe(x->ctx->arena, last->name)},
		               {"LOC", export_loc(x->ctx, last->loc)}, {"EXP", x->exp_fn}};
		if (put(x, c, "quant.c", "output_softmax", v) < 0)
			return -1;
	} else {
		TmplVar v[] = {{"P", x->p}, {"U", x->u}, {"ACT", activation_table[ql->act].name},
		               {"EXPR", export_act_expr(x, ql->act)}};
		if (put(x, c, "quant.c", "output_act", v) < 0)
			return -1;
	}
	buf_puts(c, "\n");
	return put(x, c, "quant.c", "api_float", va);
}

static int put_params(const Exporter *x, const QNet *q, Buf *c)
{
	if (put0(x, c, "quant.c", "params_begin") < 0)
		return -1;
	for (size_t d = 0; d < q->n; d++) {
		const QLayer *ql = &q->l[d];
		TmplVar lv[N_LAYER_VARS];
		layer_vars(x, q, d, lv);
		buf_puts(c, "\n");
		if (putl0(x, c, "layer_w", lv) < 0)
			return -1;
		for (size_t j = 0; j < ql->in; j += 4) {   /* W[j/4][i][j%4], 0 past IN */
			buf_puts(c, "\t{");
			for (size_t i = 0; i < ql->out; i++) {
				buf_puts(c, i > 0 && i % 4 == 0 ? "\n\t {" : " {");
				for (size_t k = j; k < j + 4; k++)
					buf_printf(c, "%d%s", k < ql->in ? (int)ql->w[k * ql->out + i] : 0,
					           k + 1 < j + 4 ? ", " : "},");
			}
			buf_puts(c, " },\n");
		}
		if (put0(x, c, "export.c", "array_end") < 0)
			return -1;
		buf_puts(c, "\n");
		if (putl0(x, c, "layer_b", lv) < 0 || put_ints(x, c, ql->out, get_b, ql) < 0 ||
		    putl0(x, c, "layer_m", lv) < 0 || put_ints(x, c, ql->out, get_m, ql) < 0 ||
		    putl0(x, c, "layer_n", lv) < 0 || put_ints(x, c, ql->out, get_n, ql) < 0)
			return -1;
		if (quant_uses_table(ql)) {
			TmplVar vt[] = {{"ACT", activation_table[ql->act].name}};
			buf_puts(c, "\n");
			if (putl(x, c, "layer_lut_begin", lv, vt) < 0 ||
			    put_ints(x, c, 256, get_lut, ql) < 0)
				return -1;
		}
	}
	return 0;
}

/* Everything after the includes: sizes, declarations, code, parameters. */
static int put_code(const Exporter *x, const QNet *q, Buf *c)
{
	const nncc_norm_stats_t *norm = x->opt->norm;
	bool fl = !x->opt->no_float, mean = fl && norm->kind == NNCC_NORM_STANDARDIZE;
	size_t buf[2] = {0, 0};
	TmplVar vp[] = {{"P", x->p}};
	TmplVar vm[] = {{"P", x->p}, {"U", x->u}};
	TmplVar va[] = {{"P", x->p}, {"U", x->u}, {"API", x->opt->header_only ? "static inline " : ""}};

	for (size_t d = 0; d < q->n; d++) {
		const QLayer *ql = &q->l[d];
		TmplVar lv[N_LAYER_VARS];
		TmplVar v[] = {{"ZP", arena_printf(x->ctx->arena, "%d", (int)ql->zp_t)},
		               {"ZP_DOC", ql->last ? "the logits have none"
		                          : quant_uses_table(ql) ? "zero point of the table's input"
		                                                 : "zero point of the output"}};
		layer_vars(x, q, d, lv);
		if (putl(x, c, "layer_sizes", lv, v) < 0)
			return -1;
		if (d + 1 < q->n && ql->out > buf[d % 2])
			buf[d % 2] = ql->out;
	}
	for (size_t b = 0; b < 2; b++)
		if (buf[b])
			buf_printf(c, "#define %s_BUF%zu %zu /* bytes: the outputs of layers %s */\n", x->u,
			           b, buf[b], b ? "2, 4, ..." : "1, 3, ...");
	if (mean) {
		TmplVar vs[] = {{"U", x->u}, {"STD", hex(x, norm->std)},
		                {"STD_DEC", arena_printf(x->ctx->arena, "%.17g", norm->std)}};
		if (put(x, c, "quant.c", "std", vs) < 0)
			return -1;
	}
	buf_puts(c, "\n");
	for (size_t d = 0; d < q->n; d++) {
		TmplVar lv[N_LAYER_VARS];
		layer_vars(x, q, d, lv);
		if (putl0(x, c, "layer_decl", lv) < 0 ||
		    (quant_uses_table(&q->l[d]) && putl0(x, c, "layer_decl_lut", lv) < 0))
			return -1;
	}
	if (mean && put(x, c, "export.c", "decl_mean", vm) < 0)
		return -1;
	buf_puts(c, "\n");
	if (put(x, c, "quant.c", "rq", vp) < 0 || put(x, c, "quant.c", "vnni", vm) < 0)
		return -1;
	buf_puts(c, "\n");
	for (size_t d = 0; d < q->n; d++)
		if (put_layer(x, q, d, c) < 0)
			return -1;
	if (put_logits(x, q, c) < 0 || put(x, c, "quant.c", "api", va) < 0)
		return -1;
	buf_puts(c, "\n");
	if (fl && put_float_api(x, q, c) < 0)
		return -1;
	buf_puts(c, "\n");
	if (put_params(x, q, c) < 0)
		return -1;
	return mean ? export_norm_array(x, c, "mean_begin", norm->mean) : 0;
}

static int put_includes(const Exporter *x, Buf *b)
{
	if (put0(x, b, "quant.c", "includes") < 0 ||
	    (!x->opt->no_float && put0(x, b, "quant.c", "includes_float") < 0))
		return -1;
	buf_puts(b, "\n");
	return 0;
}

int export_int8(const Exporter *x0, const QNet *q, Buf *h, Buf *c)
{
	Exporter xf = *x0;     /* the float API is float whatever the network's dtype */
	const Exporter *x = &xf;
	const Model *m = x->m;
	Ctx *ctx = x->ctx;

	xf.f32 = true;
	xf.real = "float";
	xf.exp_fn = arena_printf(ctx->arena, "%s_exp", m->name);
	xf.tanh_fn = arena_printf(ctx->arena, "%s_tanh", m->name);
	const char *hname = x->opt->header_name ? x->opt->header_name : "network.h";
	size_t hlen = strlen(hname);
	const char *cname = hlen > 2 && strcmp(hname + hlen - 2, ".h") == 0
	                            ? arena_printf(ctx->arena, "%.*s.c", (int)(hlen - 2), hname)
	                            : arena_printf(ctx->arena, "%s.c", hname);
	TmplVar vg[] = {{"U", x->u}};
	TmplVar vm[] = {{"U", x->u},
	                {"INPUTS", num(x, m->inputs)},
	                {"OUTPUTS", num(x, m->outputs)},
	                {"SCALE", hex(x, q->logit_scale)},
	                {"SCALE_DEC", arena_printf(ctx->arena, "%.9g", q->logit_scale)}};
	TmplVar vd[] = {{"P", x->p}, {"U", x->u}};

	if (x->opt->report)
		buf_printf(x->opt->report,
		           "nncc: %s int8: test accuracy float %.2f%%, int8 %.2f%% (%zu images; "
		           "calibrated on %zu); parameters float %zu bytes, int8 %zu bytes\n",
		           m->name, 100 * q->acc_float, 100 * q->acc_int8, q->n_test, q->n_calib,
		           q->bytes_float, q->bytes_int8);
	buf_puts(h, make_comment(x, q, hname));
	if (put(x, h, "export.h", "guard_begin", vg) < 0)
		return -1;
	buf_puts(h, "\n");
	if (put(x, h, "quant.h", "macros", vm) < 0)
		return -1;
	buf_puts(h, "\n");
	if (x->opt->header_only) {
		if (put_includes(x, h) < 0 || put_code(x, q, h) < 0)
			return -1;
	} else if (put(x, h, "quant.h", "decls", vd) < 0 ||
	           (!x->opt->no_float && put(x, h, "quant.h", "decls_float", vd) < 0) ||
	           put0(x, h, "export.h", "decls_end") < 0) {
		return -1;
	}
	buf_puts(h, "\n");
	if (put0(x, h, "export.h", "guard_end") < 0)
		return -1;
	if (x->opt->header_only)
		return 0;

	TmplVar vh[] = {{"HEADER", text_comment_safe(ctx->arena, hname)}};
	buf_puts(c, make_comment(x, q, cname));
	if (put(x, c, "export.c", "include_header", vh) < 0 || put_includes(x, c) < 0)
		return -1;
	return put_code(x, q, c);
}
