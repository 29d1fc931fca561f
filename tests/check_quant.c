/*
 * check_quant.c - `nncc --infer --quantize int8`: the int8 inference C.
 * Small networks get deterministic weights (sin(k*1.7)*scale) and seeded
 * IDX data written here; the exported code is compiled with $CC (and gcc
 * and clang when present) under the strict flags, and its int32 logits are
 * compared, for every test sample, with a reference quantised forward
 * written below from the scheme in docs/embedding.md#int8-export (it shares
 * no code with compiler/quant.c).  Then the error paths and, when
 * data/mnist exists, the accuracy cost on a trained sgd20.
 * Vocabulary: q = an 8-bit value, (s, zp) a domain (real = s * (q - zp)),
 * IN = network inputs.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../compiler/nncc.h"
#include "ctxutil.h"

#define STRICT "-std=c99 -pedantic -Wall -Wextra -Wconversion -Wshadow -Werror"
#define ROWS 3
#define COLS 7 /* 21 inputs: the last group of 4 is partial */
#define IN (ROWS * COLS)
#define N_TRAIN 300
#define N_TEST 250
#define N_CALIB 200
#define CLASSES 6

/* ---- fixtures: data, YAML, weights */

typedef struct Fix {
	char *dir, *yaml, *w;
	uint8_t train[N_TRAIN * IN], test[N_TEST * IN];
	double *params;
	nncc_norm_stats_t norm;
	Ctx ctx;
	Model *m;
} Fix;

/* Seeded images: each pixel 0 with probability 1/4 (the zero skip), else
 * uniform. */
static void make_pixels(uint8_t *pix, uint8_t *lab, size_t n, uint64_t seed)
{
	nncc_rng_t r;
	nncc_rng_seed(&r, seed);
	for (size_t k = 0; k < n * IN; k++)
		pix[k] = nncc_rng_below(&r, 4) == 0 ? 0 : (uint8_t)nncc_rng_below(&r, 256);
	for (size_t k = 0; k < n; k++)
		lab[k] = (uint8_t)nncc_rng_below(&r, CLASSES);
}

/* yaml_fmt has one %s: the data directory. */
static void fix_init(Fix *f, const char *yaml_fmt, int norm_kind, double scale)
{
	uint8_t lab[N_TRAIN > N_TEST ? N_TRAIN : N_TEST];
	char text[4096];

	memset(f, 0, sizeof *f);
	f->dir = tu_mkdtemp();
	make_pixels(f->train, lab, N_TRAIN, 11);
	ck_assert_int_eq(tu_idx_write(f->dir, "train", f->train, lab, N_TRAIN, ROWS, COLS), 0);
	make_pixels(f->test, lab, N_TEST, 12);
	ck_assert_int_eq(tu_idx_write(f->dir, "t10k", f->test, lab, N_TEST, ROWS, COLS), 0);
	snprintf(text, sizeof text, yaml_fmt, f->dir);
	f->yaml = tu_path(f->dir, "net.yaml");
	ck_assert_int_eq(tu_write_text(f->yaml, text), 0);
	f->w = tu_path(f->dir, "net.weights");

	ctx_init(&f->ctx, stderr);
	f->m = model_load(&f->ctx, f->yaml);
	ck_assert_msg(f->m != NULL, "model_load failed");
	/* The weight file holds the network's dtype; f->params are exact copies. */
	bool f32 = f->m->dtype == DTYPE_F32;
	void *pf = malloc(f->m->n_params * 8);
	f->params = malloc(f->m->n_params * sizeof *f->params);
	ck_assert(pf && f->params);
	for (size_t k = 0; k < f->m->n_params; k++) {
		double v = sin((double)k * 1.7) * scale;
		if (f32)
			v = ((float *)pf)[k] = (float)v;
		else
			((double *)pf)[k] = v;
		f->params[k] = v;
	}
	/* Normalisation statistics as a weight file carries them. */
	f->norm.kind = norm_kind;
	f->norm.dim = IN;
	f->norm.std = 1;
	if (norm_kind == NNCC_NORM_STANDARDIZE) {
		f->norm.mean = malloc(IN * sizeof *f->norm.mean);
		ck_assert_ptr_nonnull(f->norm.mean);
		for (size_t j = 0; j < IN; j++)
			f->norm.mean[j] = 90 + 50 * sin((double)j * 0.37) + 1.0 / 3;
		f->norm.std = 71.123456789;
	}
	ctx_weights_save(&f->ctx, f->m, pf, &f->norm, 0.5, f->w);
	free(pf);
}

static void fix_fini(Fix *f)
{
	nncc_norm_fini(&f->norm);
	ctx_fini(&f->ctx);
	free(f->params);
	free(f->yaml);
	free(f->w);
	tu_scratch_free(f->dir);
}

/* ---- the reference: docs/embedding.md#int8-export, step by step */

typedef struct RLayer {
	size_t in, out;
	Activation act;
	bool last, table;
	const double *W, *b;       /* the float parameters [in][out], [out] */
	double lo, hi;             /* calibrated range */
	double s_in, s_t, s_o;
	int32_t zp_in, zp_t, zp_o;
	int8_t *wq;
	int32_t *bq, *M;
	int *n;
	uint8_t T[256];
} RLayer;

typedef struct RNet {
	RLayer l[8];
	size_t n;
} RNet;

static double ref_f(Activation a, double z)
{
	if (a == ACT_SIGMOID)
		return 1 / (1 + exp(-z));
	if (a == ACT_TANH)
		return tanh(z);
	if (a == ACT_RELU)
		return z > 0 ? z : 0;
	return z;
}

/* The normalised input, as docs/data.md writes it (in double). */
static double ref_norm(const nncc_norm_stats_t *st, uint8_t p, size_t j)
{
	if (st->kind == NNCC_NORM_STANDARDIZE)
		return ((double)p - st->mean[j]) / st->std;
	if (st->kind == NNCC_NORM_SCALE)
		return (double)p / 255.0;
	return (double)p;
}

/* Step 7: round(acc * M / 2^n), halves away from zero. */
static int64_t ref_rq(int32_t acc, int32_t M, int n)
{
	int64_t p = (int64_t)acc * M;
	uint64_t mag = (uint64_t)(p < 0 ? -p : p);
	uint64_t half = (uint64_t)1 << (n - 1), one = (uint64_t)1 << n;
	int64_t r = (int64_t)((mag + half) / one);
	return p < 0 ? -r : r;
}

static int32_t ref_clamp(int64_t v, int32_t lo, int32_t hi)
{
	return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

static void ref_build(RNet *r, const Fix *f)
{
	const Model *m = f->m;
	memset(r, 0, sizeof *r);
	for (size_t k = 0; k < m->n_layers; k++) {
		const Layer *L = &m->layers[k];
		if (L->kind->export_role != EXPORT_CHAIN)
			continue;
		RLayer *l = &r->l[r->n++];
		l->in = L->in;
		l->out = L->out;
		l->act = L->act;
		l->W = f->params + L->tensors[0].offset;
		l->b = f->params + L->tensors[1].offset;
		l->lo = HUGE_VAL;
		l->hi = -HUGE_VAL;
	}
	r->l[r->n - 1].last = true;
	for (size_t d = 0; d < r->n; d++)
		r->l[d].table = !r->l[d].last && (r->l[d].act == ACT_SIGMOID || r->l[d].act == ACT_TANH);

	/* Calibration: the float network in double on the first N_CALIB
	 * training images; the range of z (table layers) or of a. */
	double x[64], z[64], a[64];
	for (size_t s = 0; s < N_CALIB; s++) {
		for (size_t j = 0; j < IN; j++)
			x[j] = ref_norm(&f->norm, f->train[s * IN + j], j);
		for (size_t d = 0; d < r->n; d++) {
			RLayer *l = &r->l[d];
			for (size_t i = 0; i < l->out; i++) {
				z[i] = l->b[i];
				for (size_t j = 0; j < l->in; j++)
					z[i] += x[j] * l->W[j * l->out + i];
				a[i] = ref_f(l->act, z[i]);
				double v = l->table ? z[i] : a[i];
				l->lo = v < l->lo ? v : l->lo;
				l->hi = v > l->hi ? v : l->hi;
			}
			memcpy(x, a, l->out * sizeof *x);
		}
	}
	for (size_t d = 0; d < r->n; d++) {
		RLayer *l = &r->l[d];
		size_t in = l->in, out = l->out;
		double *W = malloc(in * out * sizeof *W), *b = malloc(out * sizeof *b);
		double *sw = malloc(out * sizeof *sw);
		l->wq = malloc(in * out);
		l->bq = malloc(out * sizeof *l->bq);
		l->M = malloc(out * sizeof *l->M);
		l->n = malloc(out * sizeof *l->n);
		/* Step 2: the input's domain. */
		l->s_in = d ? r->l[d - 1].s_o : 1;
		l->zp_in = d ? r->l[d - 1].zp_o : 0;
		/* Step 0: the first layer takes pixels, the normalisation folded in. */
		double div = 1;
		if (d == 0 && f->norm.kind == NNCC_NORM_STANDARDIZE)
			div = f->norm.std;
		if (d == 0 && f->norm.kind == NNCC_NORM_SCALE)
			div = 255;
		for (size_t k = 0; k < in * out; k++)
			W[k] = l->W[k] / div;
		for (size_t i = 0; i < out; i++) {
			double sum = 0;
			for (size_t j = 0; d == 0 && f->norm.kind == NNCC_NORM_STANDARDIZE && j < in; j++)
				sum += f->norm.mean[j] * W[j * out + i];
			b[i] = l->b[i] - sum;
		}
		/* Step 1: weights per output channel. */
		for (size_t i = 0; i < out; i++) {
			double amax = 0;
			for (size_t j = 0; j < in; j++)
				amax = fabs(W[j * out + i]) > amax ? fabs(W[j * out + i]) : amax;
			sw[i] = amax > 0 ? amax / 127 : 1;
			for (size_t j = 0; j < in; j++)
				l->wq[j * out + i] = (int8_t)ref_clamp((int64_t)round(W[j * out + i] / sw[i]),
				                                       -127, 127);
		}
		/* Step 5: the target domain. */
		if (l->last) {
			l->s_t = 0;
			for (size_t i = 0; i < out; i++)
				l->s_t = l->s_in * sw[i] > l->s_t ? l->s_in * sw[i] : l->s_t;
			l->zp_t = 0;
		} else if (l->table) {
			double sat = l->act == ACT_SIGMOID ? 6.25 : 3.125;
			double lo = l->lo > -sat ? l->lo : -sat, hi = l->hi < sat ? l->hi : sat;
			if (!(hi > lo)) {
				lo = -sat;
				hi = sat;
			}
			l->s_t = (hi - lo) / 255;
			l->zp_t = (int32_t)round(-lo / l->s_t);
		} else {
			double lo = l->lo < 0 ? l->lo : 0, hi = l->hi > 0 ? l->hi : 0;
			l->s_t = hi > lo ? (hi - lo) / 255 : 1;
			l->zp_t = ref_clamp((int64_t)round(-lo / l->s_t), 0, 255);
		}
		/* Steps 3 and 6: bias and multiplier. */
		for (size_t i = 0; i < out; i++) {
			int64_t colsum = 0;
			for (size_t j = 0; j < in; j++)
				colsum += l->wq[j * out + i];
			l->bq[i] = (int32_t)((int64_t)round(b[i] / (l->s_in * sw[i])) - l->zp_in * colsum);
			int e;
			double fr = frexp(l->s_in * sw[i] / l->s_t, &e);
			double M = round(ldexp(fr, 31));
			if (M == 2147483648.0) {
				M = 1073741824.0;
				e++;
			}
			l->M[i] = (int32_t)M;
			l->n[i] = 31 - e;
			ck_assert(l->n[i] >= 1 && l->n[i] <= 62);
		}
		/* Step 8: the output domain and the table. */
		if (l->table) {
			l->s_o = l->act == ACT_SIGMOID ? 1.0 / 255 : 1.0 / 127;
			l->zp_o = l->act == ACT_SIGMOID ? 0 : 128;
			for (int k = 0; k < 256; k++) {
				double y = ref_f(l->act, l->s_t * (double)(k - l->zp_t));
				l->T[k] = (uint8_t)ref_clamp((int64_t)round(y / l->s_o) + l->zp_o, 0, 255);
			}
		} else {
			l->s_o = l->s_t;
			l->zp_o = l->last ? 0 : l->zp_t;
		}
		free(W);
		free(b);
		free(sw);
	}
}

/* Steps 4-8 on raw pixels: the int32 logits. */
static void ref_logits(const RNet *r, const uint8_t *px, int32_t *logits)
{
	int32_t q[64], next[64];
	for (size_t j = 0; j < IN; j++)
		q[j] = px[j];
	for (size_t d = 0; d < r->n; d++) {
		const RLayer *l = &r->l[d];
		for (size_t i = 0; i < l->out; i++) {
			int32_t acc = l->bq[i];
			for (size_t j = 0; j < l->in; j++)
				acc += q[j] * l->wq[j * l->out + i];
			int64_t v = ref_rq(acc, l->M[i], l->n[i]);
			if (l->last)
				logits[i] = (int32_t)v;
			else if (l->table)
				next[i] = l->T[ref_clamp(l->zp_t + v, 0, 255)];
			else
				next[i] = ref_clamp(l->zp_t + v, l->act == ACT_RELU ? l->zp_t : 0, 255);
		}
		memcpy(q, next, l->out * sizeof *q);
	}
}

static void ref_free(RNet *r)
{
	for (size_t d = 0; d < r->n; d++) {
		free(r->l[d].wq);
		free(r->l[d].bq);
		free(r->l[d].M);
		free(r->l[d].n);
	}
}

/* ---- the exported code against the reference */

/* Runs every entry point on test.u8 and writes logits.bin (int32 per
 * output) and pred.bin (int32: predict_u8, and without NOFLOAT predict on
 * the normalised input and the argmax of forward_u8). */
static const char *const harness =
	"#include <stdio.h>\n"
	"#include HEADER\n"
	"int main(void)\n"
	"{\n"
	"\tstatic unsigned char px[NET_INPUTS];\n"
	"\tFILE *in = fopen(\"test.u8\", \"rb\"), *fl = fopen(\"logits.bin\", \"wb\");\n"
	"\tFILE *fp = fopen(\"pred.bin\", \"wb\");\n"
	"\tif (!in || !fl || !fp) return 3;\n"
	"\twhile (fread(px, 1, sizeof px, in) == sizeof px) {\n"
	"\t\tint32_t z[NET_OUTPUTS], k[3];\n"
	"\t\tnet_logits_u8(px, z);\n"
	"\t\tk[0] = k[1] = k[2] = net_predict_u8(px);\n"
	"#ifndef NOFLOAT\n"
	"\t\t{\n"
	"\t\t\tfloat x[NET_INPUTS], p[NET_OUTPUTS];\n"
	"\t\t\tint i, best = 0;\n"
	"\t\t\tfor (i = 0; i < NET_INPUTS; i++) x[i] = NORM;\n"
	"\t\t\tk[1] = net_predict(x);\n"
	"\t\t\tnet_forward_u8(px, p);\n"
	"\t\t\tfor (i = 1; i < NET_OUTPUTS; i++) if (p[i] > p[best]) best = i;\n"
	"\t\t\tk[2] = best;\n"
	"\t\t}\n"
	"#endif\n"
	"\t\tfwrite(z, sizeof z, 1, fl);\n"
	"\t\tfwrite(k, sizeof k, 1, fp);\n"
	"\t}\n"
	"\treturn fclose(fl) | fclose(fp);\n"
	"}\n";

static char *nncc_abs(void)
{
	char top[4096];
	ck_assert_ptr_nonnull(getcwd(top, sizeof top));
	const char *n = tu_nncc();
	size_t len = strlen(top) + strlen(n) + 2;
	char *p = malloc(len);
	ck_assert_ptr_nonnull(p);
	snprintf(p, len, "%s%s%s", n[0] == '/' ? "" : top, n[0] == '/' ? "" : "/", n);
	return p;
}

/* Exports f's network int8 with `extra` options as net.c (or the header
 * only); returns nncc's output. */
static char *export_q(const Fix *f, const char *out, const char *extra)
{
	char *log = NULL, *nn = nncc_abs();
	int st = tu_run(&log, "cd '%s' && %s net.yaml --infer --weights net.weights --quantize int8 "
	                      "--calibrate %d -o %s %s",
	                f->dir, nn, N_CALIB, out, extra);
	ck_assert_msg(st == 0, "nncc --quantize int8 failed (%d):\n%s", st, log);
	free(nn);
	return log;
}

/* The strict flags, gcc and clang, -O0/-O2/-Os. */
static void compile_strict(const char *dir, const char *src)
{
	static const char *ccs[] = {NULL, "gcc", "clang"};
	static const char *opts[] = {"-O0", "-O2", "-Os"};
	for (size_t c = 0; c < 3; c++) {
		const char *cc = ccs[c] ? ccs[c] : tu_cc();
		if (tu_run(NULL, "command -v %s", cc) != 0)
			continue;
		for (size_t o = 0; o < 3; o++) {
			char *out = NULL;
			int st = tu_run(&out, "cd '%s' && %s %s %s -c %s -o strict.o", dir, cc, STRICT,
			                opts[o], src);
			ck_assert_msg(st == 0 && out[0] == 0, "%s %s %s:\n%s", cc, opts[o], src, out);
			free(out);
		}
	}
}

/* The normalised input of pixel px[i], as C text for the harness. */
static const char *norm_expr(const Fix *f)
{
	if (f->norm.kind == NNCC_NORM_SCALE)
		return "(float)(px[i] / 255.0)";
	if (f->norm.kind == NNCC_NORM_NONE)
		return "(float)px[i]";
	return "(float)((px[i] - MEAN(i)) / STD)";
}

/* Compiles the harness with the export (`src` = "net.c", or "" for a
 * header-only one), runs it on the test images and checks every logit and
 * prediction against the reference. */
static void check_build_against_reference(const Fix *f, const char *src, const char *defs)
{
	char *p = tu_path(f->dir, "test.u8");
	ck_assert_int_eq(tu_write(p, f->test, sizeof f->test), 0);
	free(p);
	p = tu_path(f->dir, "harness.c");
	ck_assert_int_eq(tu_write_text(p, harness), 0);
	free(p);
	/* standardize: the harness's MEAN(i) and STD are the weight file's. */
	char mean[8192] = "";
	if (f->norm.kind == NNCC_NORM_STANDARDIZE) {
		size_t n = (size_t)snprintf(mean, sizeof mean, "-DSTD=%.17g '-DMEAN(i)=((const double[]){",
		                            f->norm.std);
		for (size_t j = 0; j < IN; j++)
			n += (size_t)snprintf(mean + n, sizeof mean - n, "%.17g,", f->norm.mean[j]);
		snprintf(mean + n, sizeof mean - n, "})[i]'");
	}
	char *out = NULL;
	int st = tu_run(&out, "cd '%s' && %s -std=c99 -O2 %s %s '-DNORM=%s' -o harness harness.c %s -lm "
	                      "&& ./harness",
	                f->dir, tu_cc(), defs, mean, norm_expr(f), src);
	ck_assert_msg(st == 0, "harness failed (%d):\n%s", st, out);
	free(out);

	RNet r;
	ref_build(&r, f);
	size_t OUT = f->m->outputs, len;
	p = tu_path(f->dir, "logits.bin");
	int32_t *got = tu_read_file(p, &len);
	free(p);
	ck_assert_uint_eq(len, N_TEST * OUT * sizeof(int32_t));
	p = tu_path(f->dir, "pred.bin");
	int32_t *pred = tu_read_file(p, &len);
	free(p);
	ck_assert_uint_eq(len, N_TEST * 3 * sizeof(int32_t));
	size_t spread = 0;
	for (size_t s = 0; s < N_TEST; s++) {
		int32_t want[64];
		ref_logits(&r, f->test + s * IN, want);
		size_t best = 0;
		for (size_t i = 0; i < OUT; i++) {
			ck_assert_msg(got[s * OUT + i] == want[i],
			              "sample %zu logit %zu: exported %d, reference %d", s, i,
			              got[s * OUT + i], want[i]);
			best = want[i] > want[best] ? i : best;
			spread += want[i] != want[0];
		}
		ck_assert_msg(pred[3 * s] == (int32_t)best && pred[3 * s + 1] == (int32_t)best &&
		                  pred[3 * s + 2] == (int32_t)best,
		              "sample %zu: predict_u8 %d, predict %d, argmax forward_u8 %d; reference %zu",
		              s, pred[3 * s], pred[3 * s + 1], pred[3 * s + 2], best);
	}
	/* Logits that all agreed trivially (all equal) would prove little. */
	ck_assert_msg(spread > N_TEST, "the logits hardly vary (%zu)", spread);
	free(got);
	free(pred);
	ref_free(&r);
}

/* The same with the default build (AVX-512 VNNI where the CPU has it) and
 * with the portable loops alone (NET_NO_SIMD): the same integers. */
static void check_against_reference(const Fix *f, const char *src, const char *defs)
{
	char portable[512];
	check_build_against_reference(f, src, defs);
	snprintf(portable, sizeof portable, "%s -DNET_NO_SIMD", defs);
	check_build_against_reference(f, src, portable);
}

#define NET(hidden, normalize)                                                 \
	"network: net\n"                                                           \
	"input: 21\n"                                                              \
	"layers:\n" hidden                                                         \
	"  - { name: out, type: dense, units: 6, activation: linear }\n"           \
	"  - type: softmax\n"                                                      \
	"training: { learning_rate: 0.1, batch_size: 4, iterations: 1 }\n"        \
	"data: { dir: %s, normalize: " normalize " }\n"

static void check_net(const char *yaml, int norm, double scale)
{
	Fix f;
	fix_init(&f, yaml, norm, scale);
	char *log = export_q(&f, "net.c", "");
	ck_assert_msg(strstr(log, "int8: test accuracy float ") != NULL, "%s", log);
	free(log);
	compile_strict(f.dir, "net.c");
	check_against_reference(&f, "net.c", "-DHEADER='\"net.h\"'");
	fix_fini(&f);
}

/* One hidden activation per network, each with another normalisation. */
static const struct {
	const char *yaml;
	int norm;
	double scale;            /* of the weights */
} one_act[] = {
	{NET("  - { name: h, type: dense, units: 12, activation: relu }\n", "scale"),
	 NNCC_NORM_SCALE, 0.5},
	{NET("  - { name: h, type: dense, units: 17, activation: linear }\n", "standardize"),
	 NNCC_NORM_STANDARDIZE, 0.5},
	/* raw 0..255 inputs: small weights keep the sigmoid off its rails */
	{NET("  - { name: h, type: dense, units: 16, activation: sigmoid }\n", "none"),
	 NNCC_NORM_NONE, 0.02},
	{NET("  - { name: h, type: dense, units: 33, activation: tanh }\n", "scale"),
	 NNCC_NORM_SCALE, 0.3},
};

START_TEST(test_one_activation)
{
	check_net(one_act[_i].yaml, one_act[_i].norm, one_act[_i].scale);
}
END_TEST

/* A float64 network: the same scheme on its double weights, the float
 * API still float. */
START_TEST(test_float64)
{
	static const char *const yaml =
		"network: net\ninput: 21\ndtype: float64\nlayers:\n"
		"  - { name: h, type: dense, units: 14, activation: tanh }\n"
		"  - { name: out, type: dense, units: 6, activation: linear }\n"
		"  - type: softmax\n"
		"training: { learning_rate: 0.1, batch_size: 4, iterations: 1 }\n"
		"data: { dir: %s, normalize: standardize }\n";
	check_net(yaml, NNCC_NORM_STANDARDIZE, 0.4);
}
END_TEST

/* Every activation in one deep net (both buffers), header-only and
 * --no-float too. */
static const char *const deep_yaml =
	NET("  - { type: dropout, rate: 0.2 }\n"
	    "  - { name: h1, type: dense, units: 16, activation: sigmoid }\n"
	    "  - { name: h2, type: dense, units: 12, activation: tanh }\n"
	    "  - { name: h3, type: dense, units: 9, activation: relu }\n"
	    "  - { name: h4, type: dense, units: 8, activation: linear }\n",
	    "standardize");

START_TEST(test_deep_all_forms)
{
	Fix f;
	fix_init(&f, deep_yaml, NNCC_NORM_STANDARDIZE, 0.5);
	char *log = export_q(&f, "net.c", "");
	free(log);
	compile_strict(f.dir, "net.c");
	check_against_reference(&f, "net.c", "-DHEADER='\"net.h\"'");

	/* Header-only: the same logits, and no warning for unused functions. */
	log = export_q(&f, "ho.h", "--header-only");
	free(log);
	ck_assert_int_eq(tu_run(NULL, "cd '%s' && printf '#include \"ho.h\"\\nint use(const unsigned "
	                              "char *p);\\nint use(const unsigned char *p) { return "
	                              "net_predict_u8(p); }\\n' > use.c", f.dir), 0);
	compile_strict(f.dir, "use.c");
	check_against_reference(&f, "", "-DHEADER='\"ho.h\"'");

	/* --no-float: the same logits; no float type, no libm, no writable data. */
	log = export_q(&f, "nf.c", "--no-float");
	free(log);
	compile_strict(f.dir, "nf.c");
	char *out = NULL;
	int st = tu_run(&out, "cd '%s' && for f in nf.c nf.h; do %s -fpreprocessed -dD -E $f; done | "
	                      "grep -nwE 'float|double|math\\.h'", f.dir, tu_cc());
	ck_assert_msg(st == 1, "floating point in the --no-float export:\n%s", out);
	free(out);
	st = tu_run(&out, "cd '%s' && %s -std=c99 -O2 -c nf.c -o nf.o && nm nf.o", f.dir, tu_cc());
	ck_assert_msg(st == 0, "%s", out);
	ck_assert_msg(!strstr(out, "exp") && !strstr(out, "malloc") && strstr(out, "T net_predict_u8"),
	              "nm nf.o:\n%s", out);
	free(out);
	st = tu_run(&out, "cd '%s' && nm nf.o | awk '$(NF-1) ~ /^[BbDdCc]$/'", f.dir);
	ck_assert_msg(st == 0 && out[0] == 0, "writable symbols:\n%s", out);
	free(out);
	check_against_reference(&f, "nf.c", "-DNOFLOAT -DHEADER='\"nf.h\"'");
	fix_fini(&f);
}
END_TEST

/* No softmax: a sigmoid output under squared error; forward gives the
 * sigmoid of the dequantised logits. */
START_TEST(test_squared_error_sigmoid_out)
{
	static const char *const yaml =
		"network: net\ninput: 21\nlayers:\n"
		"  - { name: h, type: dense, units: 10, activation: relu }\n"
		"  - { name: out, type: dense, units: 6, activation: sigmoid }\n"
		"loss: squared_error\n"
		"training: { learning_rate: 0.1, batch_size: 4, iterations: 1 }\n"
		"data: { dir: %s, normalize: scale }\n";
	check_net(yaml, NNCC_NORM_SCALE, 0.5);
}
END_TEST

/* The figures nncc prints are the reference's: the int8 accuracy is the
 * reference's argmax against the labels. */
START_TEST(test_printed_accuracy)
{
	Fix f;
	fix_init(&f, NET("  - { name: h, type: dense, units: 12, activation: relu }\n", "scale"),
	         NNCC_NORM_SCALE, 0.5);
	char *log = export_q(&f, "net.c", "");
	double fl, q8;
	size_t n, nc, pf, pq;
	const char *at = strstr(log, "test accuracy float ");
	ck_assert_msg(at && sscanf(at, "test accuracy float %lf%%, int8 %lf%% (%zu images; "
	                               "calibrated on %zu); parameters float %zu bytes, int8 %zu bytes",
	                           &fl, &q8, &n, &nc, &pf, &pq) == 6, "%s", log);
	ck_assert_uint_eq(n, N_TEST);
	ck_assert_uint_eq(nc, N_CALIB);
	ck_assert_uint_eq(pf, f.m->n_params * 4);
	/* int8: W (21 inputs in groups of 4: 24 rows), then b, m (int32) and n
	 * (a byte) per unit; no tables here. */
	ck_assert_uint_eq(pq, 24 * 12 + 12 * 9 + 12 * 6 + 6 * 9);

	uint8_t lab[N_TEST];
	make_pixels(f.test, lab, N_TEST, 12);
	RNet r;
	ref_build(&r, &f);
	size_t ok = 0;
	for (size_t s = 0; s < N_TEST; s++) {
		int32_t z[64];
		size_t best = 0;
		ref_logits(&r, f.test + s * IN, z);
		for (size_t i = 1; i < f.m->outputs; i++)
			best = z[i] > z[best] ? i : best;
		ok += best == lab[s];
	}
	char want[32];
	snprintf(want, sizeof want, "int8 %.2f%%", 100.0 * (double)ok / N_TEST);
	ck_assert_msg(strstr(log, want), "expected \"%s\" in:\n%s", want, log);
	/* And in the generated header comment. */
	char *h = NULL;
	ck_assert_int_eq(tu_run(&h, "cat '%s/net.h'", f.dir), 0);
	ck_assert_msg(strstr(h, want) && strstr(h, "calibrated on") && strstr(h, "parameters: float"),
	              "%s", h);
	free(h);
	free(log);
	/* The same inputs give the same bytes (but for the command line). */
	log = export_q(&f, "again.c", "");
	free(log);
	ck_assert_int_eq(tu_run(NULL, "cd '%s' && cmp -s net.c again.c && exit 1; "
	                              "diff net.c again.c | grep '^[<>]' | grep -v 'command:\\|net.c\\|again.c\\|"
	                              "#include' && exit 1; exit 0", f.dir), 0);
	ref_free(&r);
	fix_fini(&f);
}
END_TEST

/* ---- errors: exit 1, the message, no output file */

static void expect_error(const Fix *f, const char *args, const char *msg)
{
	char *out = NULL, *nn = nncc_abs();
	int st = tu_run(&out, "cd '%s' && %s %s", f->dir, nn, args);
	ck_assert_msg(st == 1, "nncc %s: exit %d, expected 1:\n%s", args, st, out);
	ck_assert_msg(strstr(out, msg) != NULL, "nncc %s: expected \"%s\" in:\n%s", args, msg, out);
	free(out);
	ck_assert_int_eq(tu_run(&out, "cd '%s' && ls out.c out.h 2>/dev/null | wc -l", f->dir), 0);
	ck_assert_msg(atoi(out) == 0, "nncc %s left output files", args);
	free(out);
	free(nn);
}

START_TEST(test_errors)
{
	Fix f;
	fix_init(&f, NET("  - { name: h, type: dense, units: 12, activation: relu }\n", "scale"),
	         NNCC_NORM_SCALE, 0.5);
	expect_error(&f, "net.yaml --quantize int8 -o out.c",
	             "nncc: error: --quantize needs --infer (it quantises an exported network)");
	expect_error(&f, "net.yaml --infer --weights net.weights --quantize int4 -o out.c",
	             "nncc: error: --quantize: unknown scheme 'int4' (expected: int8)");
	expect_error(&f, "net.yaml --infer --weights net.weights --quantize int8 --calibrate 0 -o out.c",
	             "nncc: error: --calibrate: expected a number of training images >= 1, got '0'");
	expect_error(&f, "net.yaml --infer --weights net.weights --quantize int8 --calibrate 12x "
	                 "-o out.c",
	             "nncc: error: --calibrate: expected a number of training images >= 1, got '12x'");
	expect_error(&f, "net.yaml --infer --weights net.weights --quantize int8 --calibrate 301 "
	                 "-o out.c",
	             "nncc: error: --calibrate 301: the training set ");
	expect_error(&f, "net.yaml --infer --weights net.weights --calibrate 10 -o out.c",
	             "nncc: error: --calibrate needs --quantize int8");
	expect_error(&f, "net.yaml --infer --weights net.weights --no-float -o out.c",
	             "nncc: error: --no-float needs --quantize int8");
	expect_error(&f, "net.yaml --infer --weights net.weights --quantize int8 --data nothere "
	                 "-o out.c",
	             "nncc: error: --quantize int8: cannot read the data: file "
	             "nothere/train-images-idx3-ubyte: cannot open");
	char *help = NULL;
	ck_assert_int_eq(tu_run(&help, "%s --help", tu_nncc()), 0);
	ck_assert_msg(strstr(help, "\n  --quantize int8  with --infer:") &&
	              strstr(help, "\n  --calibrate N    with --quantize:") &&
	              strstr(help, "\n  --data DIR       with --quantize:") &&
	              strstr(help, "\n  --no-float       with --quantize:"), "%s", help);
	free(help);
	fix_fini(&f);

	/* The prediction is the argmax of the int32 logits: no relu there. */
	static const char *const relu_out =
		"network: net\ninput: 21\nlayers:\n"
		"  - { name: h, type: dense, units: 10, activation: relu }\n"
		"  - { name: out, type: dense, units: 6, activation: relu }\n"
		"  - type: softmax\n"
		"training: { learning_rate: 0.1, batch_size: 4, iterations: 1 }\n"
		"data: { dir: %s }\n";
	fix_init(&f, relu_out, NNCC_NORM_NONE, 0.5);
	expect_error(&f, "net.yaml --infer --weights net.weights --quantize int8 -o out.c",
	             "net.yaml:5:5: error: --quantize int8: the last dense layer \"out\" has "
	             "activation relu");
	fix_fini(&f);

	/* Calibration reads IDX images only. */
	static const char *const csv_net =
		"network: net\ninput: 21\nlayers:\n"
		"  - { name: out, type: dense, units: 6 }\n"
		"  - type: softmax\n"
		"training: { learning_rate: 0.1, batch_size: 4, iterations: 1 }\n"
		"data: { dir: %s, format: csv, train: a.csv, test: b.csv, normalize: none }\n";
	fix_init(&f, csv_net, NNCC_NORM_NONE, 0.5);
	expect_error(&f, "net.yaml --infer --weights net.weights --quantize int8 -o out.c",
	             "nncc: error: --quantize int8: network \"net\" reads csv data; int8 export "
	             "calibrates on IDX images only (format: idx)");
	fix_fini(&f);
}
END_TEST

/* ---- MNIST: the accuracy cost on a trained sgd20 */

static const char *const mnist_harness =
	"#include <stdio.h>\n"
	"#include \"q.h\"\n"
	"int main(void)\n"
	"{\n"
	"\tstatic unsigned char px[784], lab[1];\n"
	"\tFILE *fi = fopen(\"%s/t10k-images-idx3-ubyte\", \"rb\");\n"
	"\tFILE *fl = fopen(\"%s/t10k-labels-idx1-ubyte\", \"rb\");\n"
	"\tint ok = 0, n = 0;\n"
	"\tif (!fi || !fl || fseek(fi, 16, SEEK_SET) || fseek(fl, 8, SEEK_SET)) return 2;\n"
	"\twhile (fread(px, 1, 784, fi) == 784 && fread(lab, 1, 1, fl) == 1)\n"
	"\t\tok += mnist_sgd20_predict_u8(px) == lab[0], n++;\n"
	"\tprintf(\"int8 %%d of %%d\\n\", ok, n);\n"
	"\treturn n != 10000;\n"
	"}\n";

START_TEST(test_mnist_sgd20)
{
	if (!tu_exists("data/mnist/t10k-images-idx3-ubyte") ||
	    !tu_exists("data/mnist/train-images-idx3-ubyte")) {
		fprintf(stderr, "check_quant: data/mnist absent (or gzip'd), MNIST accuracy skipped\n");
		return;
	}
	char *dir = tu_mkdtemp(), *nn = nncc_abs(), top[4096];
	ck_assert_ptr_nonnull(getcwd(top, sizeof top));
	char *out = NULL;
	/* The whole sgd20 recipe (30000 updates) takes about a second. */
	int st = tu_run(&out,
	                "%s examples/sgd20.yaml -o %s/t.c && cd %s && "
	                "%s -O2 -I%s/runtime -ffp-contract=off -o train t.c %s/build/libnncc.a "
	                "-lcsv -lz -lm -lpthread && "
	                "./train --data %s/data/mnist --threads 1 --save w.bin | grep 'test accuracy'",
	                nn, dir, dir, tu_cc(), top, top, top);
	ck_assert_msg(st == 0, "training failed:\n%s", out);
	double fl;
	const char *ta = strstr(out, "test accuracy");
	ck_assert_msg(ta && sscanf(ta, "test accuracy %lf%%", &fl) == 1, "%s", out);
	free(out);
	st = tu_run(&out, "cd %s && %s %s/examples/sgd20.yaml --infer --weights w.bin --quantize int8 "
	                  "--data %s/data/mnist -o q.c",
	            dir, nn, top, top);
	ck_assert_msg(st == 0, "export failed:\n%s", out);
	double pf, pq;
	const char *at = strstr(out, "test accuracy float ");
	ck_assert_msg(at && sscanf(at, "test accuracy float %lf%%, int8 %lf%%", &pf, &pq) == 2, "%s",
	              out);
	free(out);
	char src[16384], mn[4200];
	snprintf(mn, sizeof mn, "%s/data/mnist", top);
	snprintf(src, sizeof src, mnist_harness, mn, mn);
	char *hp = tu_path(dir, "acc.c");
	ck_assert_int_eq(tu_write_text(hp, src), 0);
	st = tu_run(&out, "cd %s && %s -std=c99 -O2 -o acc acc.c q.c -lm && ./acc", dir, tu_cc());
	ck_assert_msg(st == 0, "%s", out);
	int ok, n;
	ck_assert_int_eq(sscanf(out, "int8 %d of %d", &ok, &n), 2);
	free(out);
	double q8 = 100.0 * ok / n;
	fprintf(stderr, "check_quant: MNIST sgd20: trainer %.2f%%, nncc float %.2f%%, int8 %.2f%% "
	                "(compiled: %.2f%%)\n", fl, pf, pq, q8);
	/* nncc's own figure is the compiled code's, and the cost is small. */
	ck_assert_msg(fabs(q8 - pq) < 0.005, "nncc printed int8 %.2f%%, the code gets %.2f%%", pq, q8);
	ck_assert_msg(q8 >= fl - 0.3, "int8 %.2f%% loses more than 0.3 points of %.2f%%", q8, fl);
	ck_assert_msg(fabs(pf - fl) <= 0.1, "nncc's float accuracy %.2f%%, the trainer's %.2f%%", pf, fl);
	free(hp);
	free(nn);
	tu_scratch_free(dir);
}
END_TEST

static Suite *quant_suite(void)
{
	Suite *s = suite_create("quant");
	TCase *tc = tcase_create("int8");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_one_activation, 0, sizeof one_act / sizeof one_act[0]);
	tcase_add_test(tc, test_deep_all_forms);
	tcase_add_test(tc, test_float64);
	tcase_add_test(tc, test_squared_error_sigmoid_out);
	tcase_add_test(tc, test_printed_accuracy);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_mnist_sgd20);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(quant_suite(), NULL);
}
