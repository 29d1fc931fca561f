/*
 * quant.c - int8 quantisation for the inference export (nncc --infer
 * --quantize int8): calibrates the activations' ranges on training samples
 * with the float network (in double), quantises the weights per output
 * channel, computes the biases, the requantisation multipliers and shifts
 * and the sigmoid/tanh tables, and runs the resulting integer network over
 * the test set to measure its accuracy against the float one.  The scheme
 * is docs/embedding.md#int8-export, step by step; export_int8.c writes it as
 * C.  It does not write any text.  Vocabulary: q = an 8-bit value, a domain
 * (s, zp) reads q as the real s * (q - zp); acc = an int32 accumulator;
 * chain = the layers that compute the scores (export.c's word).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nncc.h"

/* What quantisation needs to know of an activation, by its id: whether a
 * table computes it, the fixed domain of its output, and the input range
 * past which its 8-bit output no longer changes (the table's input range
 * is the calibrated range cut to [-sat, sat]).  Rows for the activations
 * computed in the integer domain (linear, relu) are all zeros. */
static const struct {
	bool table;
	double s_out;
	int32_t zp_out;
	double sat;
} act_quant[ACT_COUNT] = {
	[ACT_SIGMOID] = {true, 1.0 / 255, 0, 6.25},  /* sigmoid(6.25) = 1 - 0.5/255 */
	[ACT_TANH] = {true, 1.0 / 127, 128, 3.125},  /* tanh(3.125) = 1 - 0.5/127 */
};

/* f(z) in double: the float network's activation. */
static double act_eval(Activation a, double z)
{
	switch (a) {
	case ACT_LINEAR:
		return z;
	case ACT_SIGMOID:
		return 1 / (1 + exp(-z));
	case ACT_TANH:
		return tanh(z);
	case ACT_RELU:
		return z > 0 ? z : 0;
	case ACT_COUNT:
		break;
	}
	NNCC_UNREACHABLE();
}

/* round(acc * m / 2^n), halves away from zero, exactly (docs step 7). */
int64_t quant_rq(int32_t acc, int32_t m, int n)
{
	int64_t p = (int64_t)acc * m;
	uint64_t a = p < 0 ? (uint64_t)0 - (uint64_t)p : (uint64_t)p;
	int64_t r = (int64_t)((a + ((uint64_t)1 << (n - 1))) >> n);
	return p < 0 ? -r : r;
}

static int32_t clamp_q(int64_t r, int32_t lo)
{
	return (int32_t)(r < lo ? lo : r > 255 ? 255 : r);
}

/* ---- the float network, in double */

typedef struct FloatNet {
	const Model *m;
	const double *params;
	size_t n;              /* chain layers */
	const size_t *chain;
	double *z, *a;         /* per layer: OUT values, at off[d] */
	size_t *off;
} FloatNet;

/* Forward one normalised input x: z = b + x W (j in order, from b), a = f(z). */
static void float_forward(FloatNet *f, const double *x)
{
	for (size_t d = 0; d < f->n; d++) {
		const Layer *l = &f->m->layers[f->chain[d]];
		const double *W = f->params + l->tensors[0].offset, *b = f->params + l->tensors[1].offset;
		double *z = f->z + f->off[d], *a = f->a + f->off[d];
		const double *in = d == 0 ? x : f->a + f->off[d - 1];
		for (size_t i = 0; i < l->out; i++)
			z[i] = b[i];
		for (size_t j = 0; j < l->in; j++)
			for (size_t i = 0; i < l->out; i++)
				z[i] += in[j] * W[j * l->out + i];
		for (size_t i = 0; i < l->out; i++)
			a[i] = act_eval(l->act, z[i]);
	}
}

static size_t argmax_d(const double *v, size_t n)
{
	size_t best = 0;
	for (size_t i = 1; i < n; i++)
		if (v[i] > v[best])
			best = i;
	return best;
}

/* ---- quantisation */

/* m = f * 2^e: M = round(f * 2^31), n = 31 - e (docs step 6). */
static int multiplier(Ctx *ctx, double m, int32_t *M, int *n, const Layer *l)
{
	int e;
	double f = frexp(m, &e);
	double r = round(ldexp(f, 31));
	if (r == ldexp(1, 31)) {
		r = ldexp(1, 30);
		e++;
	}
	if (!(m > 0) || 31 - e < 1 || 31 - e > 62) {
		diag_fatal(ctx, "--quantize int8: layer \"%s\": requantisation multiplier %g is out "
		                "of range (2^-31 .. 2^30): the weights or the calibrated range are "
		                "degenerate", l->name, m);
		return -1;
	}
	*M = (int32_t)r;
	*n = 31 - e;
	return 0;
}

/* The domain of a range [lo, hi] that holds 0: s = (hi - lo) / 255,
 * zp = round(-lo / s) in [0, 255] (docs step 5). */
static void domain_with_zero(double lo, double hi, double *s, int32_t *zp)
{
	lo = lo < 0 ? lo : 0;
	hi = hi > 0 ? hi : 0;
	*s = hi > lo ? (hi - lo) / 255 : 1;
	double z = round(-lo / *s);
	*zp = (int32_t)(z < 0 ? 0 : z > 255 ? 255 : z);
}

/* Steps 0 and 1: the layer's float weights W'[in][out] and biases b' (the
 * normalisation folded into the first layer), and its int8 weights with
 * their scales sw[out]. */
static void quant_weights(Arena *A, const Layer *l, const double *params,
                          const nncc_norm_stats_t *norm, bool first, QLayer *ql, double *b,
                          double *sw)
{
	size_t in = l->in, out = l->out;
	double *W = arena_alloc(A, in * out * sizeof *W);
	double div = 1;

	if (first)
		div = norm->kind == NNCC_NORM_STANDARDIZE ? norm->std
		      : norm->kind == NNCC_NORM_SCALE     ? 255
		                                          : 1;
	for (size_t k = 0; k < in * out; k++)
		W[k] = params[l->tensors[0].offset + k] / div;
	for (size_t i = 0; i < out; i++) {
		double sum = 0;
		if (first && norm->kind == NNCC_NORM_STANDARDIZE)
			for (size_t j = 0; j < in; j++)
				sum += norm->mean[j] * W[j * out + i];
		b[i] = params[l->tensors[1].offset + i] - sum;
	}
	ql->w = arena_alloc(A, in * out);
	for (size_t i = 0; i < out; i++) {
		double amax = 0;
		for (size_t j = 0; j < in; j++)
			amax = fmax(amax, fabs(W[j * out + i]));
		sw[i] = amax > 0 ? amax / 127 : 1;
		for (size_t j = 0; j < in; j++) {
			double r = round(W[j * out + i] / sw[i]);
			ql->w[j * out + i] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
		}
	}
}

/* Step 5: the requantisation target (s_t, zp_t). */
static int quant_target(Ctx *ctx, const Layer *l, QLayer *ql, const double *sw)
{
	const double sat = act_quant[l->act].sat;

	if (ql->last) {
		ql->s_t = 0;
		for (size_t i = 0; i < l->out; i++)
			ql->s_t = fmax(ql->s_t, ql->s_in * sw[i]);
		ql->zp_t = 0;
	} else if (act_quant[l->act].table) {
		double lo = fmax(ql->lo, -sat), hi = fmin(ql->hi, sat);
		if (!(hi > lo)) {
			lo = -sat;
			hi = sat;
		}
		ql->s_t = (hi - lo) / 255;
		if (fabs(-lo / ql->s_t) > 1 << 24) {
			diag_fatal(ctx, "--quantize int8: layer \"%s\": the calibrated range [%g, %g] is "
			                "too narrow for a table", l->name, lo, hi);
			return -1;
		}
		ql->zp_t = (int32_t)round(-lo / ql->s_t);
	} else {
		domain_with_zero(ql->lo, ql->hi, &ql->s_t, &ql->zp_t);
	}
	return 0;
}

/* Layer d's weights, bias, target domain, multipliers and table, from its
 * input domain (s_in, zp_in) and calibrated range. */
static int quant_layer(Ctx *ctx, const Model *m, const double *params,
                       const nncc_norm_stats_t *norm, QLayer *ql, bool first)
{
	const Layer *l = &m->layers[ql->k];
	Arena *A = ctx->arena;
	size_t in = l->in, out = l->out;
	double *b = arena_alloc(A, out * sizeof *b), *sw = arena_alloc(A, out * sizeof *sw);

	quant_weights(A, l, params, norm, first, ql, b, sw);
	if (quant_target(ctx, l, ql, sw) < 0)
		return -1;
	/* Steps 3 and 6: biases (zero point folded in) and multipliers. */
	ql->b = arena_alloc(A, out * sizeof *ql->b);
	ql->m = arena_alloc(A, out * sizeof *ql->m);
	ql->n = arena_alloc(A, out * sizeof *ql->n);
	for (size_t i = 0; i < out; i++) {
		double bq = round(b[i] / (ql->s_in * sw[i]));
		int64_t colsum = 0;
		for (size_t j = 0; j < in; j++)
			colsum += ql->w[j * out + i];
		double total = bq - (double)ql->zp_in * (double)colsum;
		/* |acc| <= |bias| + IN * 255 * 127 must fit in int32. */
		if (fabs(total) + (double)in * 255 * 127 > 2147483647.0) {
			diag_fatal(ctx, "--quantize int8: layer \"%s\": unit %zu's bias %g is too large "
			                "for an int32 accumulator at scale %g",
			           l->name, i, b[i], ql->s_in * sw[i]);
			return -1;
		}
		ql->b[i] = (int32_t)total;
		if (multiplier(ctx, ql->s_in * sw[i] / ql->s_t, &ql->m[i], &ql->n[i], l) < 0)
			return -1;
	}
	/* Step 8: the output domain and, for sigmoid/tanh, the table. */
	if (ql->last) {
		ql->s_out = ql->s_t;
		ql->zp_out = 0;
	} else if (act_quant[l->act].table) {
		ql->s_out = act_quant[l->act].s_out;
		ql->zp_out = act_quant[l->act].zp_out;
		for (int k = 0; k < 256; k++) {
			double y = act_eval(l->act, ql->s_t * (double)(k - ql->zp_t));
			double r = round(y / ql->s_out) + ql->zp_out;
			ql->lut[k] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
		}
	} else {
		ql->s_out = ql->s_t;
		ql->zp_out = ql->zp_t;
	}
	return 0;
}

/* The integer network on raw pixels px: the int32 logits (docs steps 4-8). */
void quant_forward(const QNet *q, const uint8_t *px, uint8_t *buf0, uint8_t *buf1,
                   int32_t *acc, int32_t *logits)
{
	const uint8_t *x = px;
	for (size_t d = 0; d < q->n; d++) {
		const QLayer *ql = &q->l[d];
		uint8_t *y = d % 2 == 0 ? buf0 : buf1;
		for (size_t i = 0; i < ql->out; i++)
			acc[i] = ql->b[i];
		for (size_t j = 0; j < ql->in; j++)
			for (size_t i = 0; i < ql->out; i++)
				acc[i] += (int32_t)x[j] * ql->w[j * ql->out + i];
		for (size_t i = 0; i < ql->out; i++) {
			int64_t r = quant_rq(acc[i], ql->m[i], ql->n[i]);
			if (ql->last)
				logits[i] = (int32_t)r;
			else if (act_quant[ql->act].table)
				y[i] = ql->lut[clamp_q(ql->zp_t + r, 0)];
			else
				y[i] = (uint8_t)clamp_q(ql->zp_t + r, ql->act == ACT_RELU ? ql->zp_t : 0);
		}
		x = y;
	}
}

/* ---- the data */

static const char *data_path(Ctx *ctx, const char *dir, const char *name)
{
	return name[0] == '/' ? name : arena_printf(ctx->arena, "%s/%s", dir, name);
}

static int load_set(Ctx *ctx, const Model *m, nncc_dataset_t *ds, const char *images,
                    const char *labels)
{
	nncc_err_t err;
	if (nncc_dataset_load(ds, images, labels, &err) < 0) {
		diag_fatal(ctx, "--quantize int8: cannot read the data: %s", err.msg);
		return -1;
	}
	if (ds->dim != m->inputs) {
		diag_fatal(ctx, "--quantize int8: %s has %zu pixels per image, the network %zu inputs",
		           images, ds->dim, m->inputs);
		nncc_dataset_fini(ds);
		return -1;
	}
	return 0;
}

/* Which layers are quantised, and whether the model allows it. */
static int quant_check(Ctx *ctx, const Model *m, QNet *q)
{
	if (m->data.format != NNCC_FORMAT_IDX) {
		diag_fatal(ctx, "--quantize int8: network \"%s\" reads %s data; int8 export "
		                "calibrates on IDX images only (format: idx)",
		           m->name, nncc_format_name(m->data.format));
		return -1;
	}
	q->l = arena_alloc(ctx->arena, m->n_layers * sizeof *q->l);
	for (size_t k = 0; k < m->n_layers; k++) {
		const Layer *l = &m->layers[k];
		if (l->kind->export_role != EXPORT_CHAIN)
			continue;
		/* The integer layer is z = b + x W: tensors W (in x out) and b (out). */
		if (l->n_tensors != 2 || l->tensors[0].rows != l->in || l->tensors[0].cols != l->out ||
		    l->tensors[1].size != l->out) {
			diag_error(ctx, l->loc, "--quantize int8: layer \"%s\" (%s) is not a W, b layer",
			           l->name, l->kind->name);
			return -1;
		}
		q->l[q->n++] = (QLayer){.k = k, .in = l->in, .out = l->out, .act = l->act,
		                        .lo = HUGE_VAL, .hi = -HUGE_VAL};
	}
	QLayer *last = &q->l[q->n - 1];
	last->last = true;
	if (last->act == ACT_RELU) {
		diag_error(ctx, m->layers[last->k].loc,
		           "--quantize int8: the last dense layer \"%s\" has activation relu: the "
		           "prediction is the argmax of the int32 scores, which needs linear, sigmoid "
		           "or tanh there",
		           m->layers[last->k].name);
		return -1;
	}
	return 0;
}

/* The float network over q's chain layers, its buffers in the arena. */
static FloatNet float_net(Arena *A, const Model *m, const double *params, const QNet *q)
{
	FloatNet fn = {.m = m, .params = params, .n = q->n};
	size_t *chain = arena_alloc(A, q->n * sizeof *chain), *off = arena_alloc(A, q->n * sizeof *off);
	size_t tot = 0;

	for (size_t d = 0; d < q->n; d++) {
		chain[d] = q->l[d].k;
		off[d] = tot;
		tot += q->l[d].out;
	}
	fn.chain = chain;
	fn.off = off;
	fn.z = arena_alloc(A, tot * sizeof *fn.z);
	fn.a = arena_alloc(A, tot * sizeof *fn.a);
	return fn;
}

/* Calibration: each layer's range of z (table layers) or a over the first
 * n images of train (docs step 5). */
static void calibrate(FloatNet *fn, QNet *q, const nncc_norm_stats_t *norm,
                      const nncc_dataset_t *train, size_t n, double *x)
{
	for (size_t s = 0; s < n; s++) {
		nncc_norm_apply(norm, NNCC_F64, x, train->pixels + s * train->dim, 1);
		float_forward(fn, x);
		for (size_t d = 0; d < q->n; d++) {
			const double *v = (act_quant[q->l[d].act].table ? fn->z : fn->a) + fn->off[d];
			for (size_t i = 0; i < q->l[d].out; i++) {
				q->l[d].lo = fmin(q->l[d].lo, v[i]);
				q->l[d].hi = fmax(q->l[d].hi, v[i]);
			}
		}
	}
}

/* The test accuracy of the float network and of the integer one (the
 * argmax of the scores, the first on ties), and the parameter bytes. */
static void measure(Arena *A, FloatNet *fn, QNet *q, const nncc_norm_stats_t *norm,
                    const nncc_dataset_t *test, double *x)
{
	size_t maxout = 0, ok_f = 0, ok_q = 0, nout = q->l[q->n - 1].out;

	for (size_t d = 0; d < q->n; d++)
		maxout = q->l[d].out > maxout ? q->l[d].out : maxout;
	uint8_t *b0 = arena_alloc(A, maxout), *b1 = arena_alloc(A, maxout);
	int32_t *acc = arena_alloc(A, maxout * sizeof *acc), *lg = arena_alloc(A, maxout * sizeof *lg);
	for (size_t s = 0; s < test->n; s++) {
		const uint8_t *px = test->pixels + s * test->dim;
		nncc_norm_apply(norm, NNCC_F64, x, px, 1);
		float_forward(fn, x);
		quant_forward(q, px, b0, b1, acc, lg);
		size_t best = 0;
		for (size_t i = 1; i < nout; i++)
			if (lg[i] > lg[best])
				best = i;
		ok_f += (int32_t)argmax_d(fn->z + fn->off[q->n - 1], nout) == test->labels[s];
		ok_q += (int32_t)best == test->labels[s];
	}
	q->n_test = test->n;
	q->acc_float = (double)ok_f / (double)test->n;   /* an IDX set has n > 0 */
	q->acc_int8 = (double)ok_q / (double)test->n;
	q->bytes_float = fn->m->n_params * (fn->m->dtype == DTYPE_F32 ? 4 : 8);
	for (size_t d = 0; d < q->n; d++)  /* w (in groups of 4 inputs), b, m, n (a byte), the table */
		q->bytes_int8 += (q->l[d].in + 3) / 4 * 4 * q->l[d].out + q->l[d].out * 9 +
		                 (quant_uses_table(&q->l[d]) ? 256 : 0);
}

int quant_build(Ctx *ctx, const Model *m, const double *params, const nncc_norm_stats_t *norm,
                const char *data_dir, size_t n_calib, QNet *q)
{
	const char *dir = data_dir ? data_dir : m->data.dir ? m->data.dir : ".";
	const char *f[NNCC_DATA_FILES];
	nncc_dataset_t train, test;
	int rc = -1;

	memset(q, 0, sizeof *q);
	if (quant_check(ctx, m, q) < 0)
		return -1;
	for (int k = 0; k < NNCC_DATA_FILES; k++)
		f[k] = data_path(ctx, dir, m->data.files[k] ? m->data.files[k] : nncc_default_files[k]);
	if (load_set(ctx, m, &train, f[NNCC_FILE_TRAIN_IMAGES], f[NNCC_FILE_TRAIN_LABELS]) < 0)
		return -1;
	if (load_set(ctx, m, &test, f[NNCC_FILE_TEST_IMAGES], f[NNCC_FILE_TEST_LABELS]) < 0) {
		nncc_dataset_fini(&train);
		return -1;
	}
	if (n_calib > train.n) {
		diag_fatal(ctx, "--calibrate %zu: the training set %s has %zu images", n_calib,
		           f[NNCC_FILE_TRAIN_IMAGES], train.n);
		goto out;
	}
	q->n_calib = n_calib;
	q->calib_from = f[NNCC_FILE_TRAIN_IMAGES];
	FloatNet fn = float_net(ctx->arena, m, params, q);
	double *x = arena_alloc(ctx->arena, m->inputs * sizeof *x);
	calibrate(&fn, q, norm, &train, n_calib, x);
	/* Quantisation, layer by layer: each one's input domain is the output
	 * domain of the one before (raw pixels for the first). */
	q->l[0].s_in = 1;
	q->l[0].zp_in = 0;
	for (size_t d = 0; d < q->n; d++) {
		if (d > 0) {
			q->l[d].s_in = q->l[d - 1].s_out;
			q->l[d].zp_in = q->l[d - 1].zp_out;
		}
		if (quant_layer(ctx, m, params, norm, &q->l[d], d == 0) < 0)
			goto out;
	}
	q->logit_scale = q->l[q->n - 1].s_t;
	measure(ctx->arena, &fn, q, norm, &test, x);
	rc = 0;
out:
	nncc_dataset_fini(&train);
	nncc_dataset_fini(&test);
	return rc;
}

bool quant_uses_table(const QLayer *ql)
{
	return act_quant[ql->act].table && !ql->last;
}
