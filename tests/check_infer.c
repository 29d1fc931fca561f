/*
 * check_infer.c - `nncc --infer`: the exported inference C.  Weight files are
 * made here from deterministic parameters (sin(k*1.7)*0.5, nncc_weights_save
 * on a hand-made nncc_model_t), independent of the trainer; the exported code
 * is compiled with $CC (and gcc/clang when present) under the strict flags
 * and checked against the reference forward (tests/reference), against the
 * runtime's normalisation bit-for-bit, with nm, through every error path, in
 * examples/embed, and - when data/mnist exists - against a real trainer on
 * the whole MNIST test set.  Vocabulary: IN/OUT = network inputs/outputs.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nncc.h"
#include "ref.h"
#include "ctxutil.h"

#define STRICT "-std=c99 -Wall -Wextra -pedantic -Wconversion -Wshadow -Werror"
#define N_SAMPLES 400

/* A small net of every activation: 20 -> 16 sigmoid -> 12 tanh -> 9 relu
 * -> 7 linear -> softmax. */
#define SMALL_HIDDEN                                                   \
	"network: small\n"                                                 \
	"input: 20\n"                                                      \
	"dtype: %s\n"                                                      \
	"layers:\n"                                                        \
	"  - { name: h1, type: dense, units: 16, activation: sigmoid }\n"  \
	"  - { name: h2, type: dense, units: 12, activation: tanh }\n"     \
	"  - { name: h3, type: dense, units: 9, activation: relu }\n"
#define SMALL_TRAINING "training: { learning_rate: 0.1, batch_size: 4, iterations: 1 }\n"

static const char *const small_yaml =
	SMALL_HIDDEN
	"  - { name: out, type: dense, units: 7, activation: linear }\n"
	"  - type: softmax\n"
	SMALL_TRAINING;

/* The same hidden layers under squared error: a sigmoid output, no
 * softmax, so the exported outputs are the last dense layer's. */
static const char *const squared_yaml =
	SMALL_HIDDEN
	"  - { name: out, type: dense, units: 7, activation: sigmoid }\n"
	"loss: squared_error\n"
	SMALL_TRAINING;

/* small_yaml with dropout on the input and after h2: the same parameters,
 * and inference code that must compute the same bits. */
static const char *const dropout_yaml =
	"network: small\n"
	"input: 20\n"
	"dtype: %s\n"
	"layers:\n"
	"  - { type: dropout, rate: 0.2 }\n"
	"  - { name: h1, type: dense, units: 16, activation: sigmoid }\n"
	"  - { name: h2, type: dense, units: 12, activation: tanh }\n"
	"  - { name: drop, type: dropout, rate: 0.5 }\n"
	"  - { name: h3, type: dense, units: 9, activation: relu }\n"
	"  - { name: out, type: dense, units: 7, activation: linear }\n"
	"  - type: softmax\n"
	"training: { learning_rate: 0.1, batch_size: 4, iterations: 1 }\n";

static const char *const other_yaml =
	"network: small\n"
	"input: 20\n"
	"layers:\n"
	"  - { name: h1, type: dense, units: 15, activation: sigmoid }\n"
	"  - { name: out, type: dense, units: 7, activation: linear }\n"
	"  - type: softmax\n"
	"training: { learning_rate: 0.1, batch_size: 4, iterations: 1 }\n";

/* ---- fixtures: YAML + weight file */

static Model *load_model(Ctx *ctx, const char *path)
{
	Model *m = model_load(ctx, path);
	ck_assert_msg(m != NULL, "model_load(%s) failed", path);
	return m;
}

static char *write_yaml(const char *dir, const char *name, const char *fmt, const char *arg)
{
	char text[4096];
	snprintf(text, sizeof text, fmt, arg);
	char *p = tu_path(dir, name);
	ck_assert_int_eq(tu_write_text(p, text), 0);
	return p;
}

/* Deterministic normalisation statistics of a kind, dim entries. */
static void make_norm(nncc_norm_stats_t *st, int kind, size_t dim)
{
	memset(st, 0, sizeof *st);
	st->kind = kind;
	st->dim = dim;
	st->std = 1;
	if (kind != NNCC_NORM_STANDARDIZE)
		return;
	st->mean = malloc(dim * sizeof *st->mean);
	ck_assert_ptr_nonnull(st->mean);
	for (size_t j = 0; j < dim; j++)
		st->mean[j] = 100 + 60 * sin((double)j * 0.37) + 1.0 / 3;
	st->std = 77.7123456789;
}

/* Saves sin(k*1.7)*scale parameters for the network in yaml to wpath, with
 * normalisation `kind` and test accuracy acc; returns the params as doubles
 * (malloc'd, exact). */
static double *make_weights(const char *yaml, const char *wpath, int kind, double acc,
                            double scale)
{
	Ctx ctx;
	ctx_init(&ctx, stderr);
	Model *m = load_model(&ctx, yaml);
	double *d = malloc(m->n_params * sizeof *d);
	void *params = malloc(m->n_params * 8);
	ck_assert(d && params);
	for (size_t k = 0; k < m->n_params; k++) {
		double v = sin((double)k * 1.7) * scale;
		if (m->dtype == DTYPE_F32) {
			((float *)params)[k] = (float)v;
			v = (float)v;
		} else {
			((double *)params)[k] = v;
		}
		d[k] = v;
	}
	nncc_norm_stats_t st;
	make_norm(&st, kind, m->inputs);
	ctx_weights_save(&ctx, m, params, &st, acc, wpath);
	nncc_norm_fini(&st);
	free(params);
	ctx_fini(&ctx);
	return d;
}

static void export_ok(const char *yaml, const char *w, const char *out_c, const char *extra)
{
	char *out = NULL;
	int st = tu_run(&out, "%s %s --infer --weights %s -o %s %s", tu_nncc(), yaml, w, out_c,
	                extra);
	ck_assert_msg(st == 0, "nncc --infer failed (%d):\n%s", st, out);
	free(out);
}

/* A fixture directory with small.yaml (float32 or float64), weights and the
 * exported small.c/small.h. */
typedef struct Fix {
	char *dir, *yaml, *w, *c, *h;
	double *params;
	int kind;
} Fix;

static void fix_init_yaml(Fix *f, const char *yaml, const char *dtype, int kind)
{
	f->dir = tu_mkdtemp();
	f->yaml = write_yaml(f->dir, "small.yaml", yaml, dtype);
	f->w = tu_path(f->dir, "small.weights");
	f->c = tu_path(f->dir, "small.c");
	f->h = tu_path(f->dir, "small.h");
	f->kind = kind;
	f->params = make_weights(f->yaml, f->w, kind, 0.8125, 0.5);
	export_ok(f->yaml, f->w, f->c, "");
}

static void fix_init(Fix *f, const char *dtype, int kind)
{
	fix_init_yaml(f, small_yaml, dtype, kind);
}

static void fix_fini(Fix *f)
{
	tu_scratch_free(f->dir);
	free(f->yaml);
	free(f->w);
	free(f->c);
	free(f->h);
	free(f->params);
}

/* ---- compilation */

/* The compilers to try: $CC, plus gcc and clang when installed. */
static const char *compilers[] = {NULL, "gcc", "clang"};

static int have(const char *cc)
{
	return tu_run(NULL, "command -v %s", cc) == 0;
}

/* Whether cc accepts -march=native here (not every compiler/CPU does). */
static int have_native(const char *cc)
{
	return tu_run(NULL, "echo 'int x;' | %s -march=native -x c -c -o /dev/null -", cc) == 0;
}

/* The strict warning flags at every optimisation level, with and without
 * -march=native (the AVX-512 and AVX2 paths are compiled either way on
 * x86-64: for the command line's target or through target attributes), the
 * AVX2 path alone (-DSMALL_NO_AVX512), and the portable path alone, in both
 * of its forms (fma, multiply-add). */
static void compile_strict(const char *dir, const char *src, const char *what)
{
	static const char *opts[] = {"-O0", "-O2", "-Os", "-O2 -march=native", "-Os -march=native",
	                             "-O2 -DSMALL_NO_SIMD", "-O2 -DSMALL_NO_SIMD -DSMALL_MULADD",
	                             "-O2 -DSMALL_NO_AVX512", "-O2 -march=native -DSMALL_NO_AVX512"};
	for (size_t c = 0; c < sizeof compilers / sizeof compilers[0]; c++) {
		const char *cc = compilers[c] ? compilers[c] : tu_cc();
		if (!have(cc))
			continue;
		int native = have_native(cc);
		for (size_t o = 0; o < sizeof opts / sizeof opts[0]; o++) {
			if (!native && strstr(opts[o], "-march=native"))
				continue;
			char *out = NULL;
			int st = tu_run(&out, "cd '%s' && %s %s %s -c %s -o strict.o", dir, cc, STRICT,
			                opts[o], src);
			ck_assert_msg(st == 0 && out[0] == 0, "%s: %s %s %s:\n%s", what, cc, opts[o], src,
			              out);
			free(out);
		}
	}
}

START_TEST(test_compiles_strict)
{
	static const char *dtypes[] = {"float32", "float64"};
	for (int d = 0; d < 2; d++) {
		Fix f;
		fix_init(&f, dtypes[d], d == 0 ? NNCC_NORM_STANDARDIZE : NNCC_NORM_SCALE);
		compile_strict(f.dir, "small.c", dtypes[d]);
		/* Header-only: two networks in one translation unit, each used once
		 * (the unused static inline functions must not warn). */
		char *ho = tu_path(f.dir, "small_ho.h");
		export_ok(f.yaml, f.w, ho, "--header-only");
		ck_assert(tu_exists(ho));
		char *c2 = tu_path(f.dir, "small_ho.c");
		ck_assert(!tu_exists(c2));
		char *y2 = write_yaml(f.dir, "other.yaml", "network: other\ninput: 20\nlayers:\n"
		                                             "  - { type: dense, units: 5 }\n"
		                                             "  - type: softmax\n"
		                                             "training: { learning_rate: 0.1, "
		                                             "batch_size: 4, iterations: 1 }\n%s",
		                      "");
		char *w2 = tu_path(f.dir, "other.weights");
		free(make_weights(y2, w2, NNCC_NORM_NONE, NAN, 0.5));
		char *h2 = tu_path(f.dir, "other.h");
		export_ok(y2, w2, h2, "--header-only");
		char *tu = tu_path(f.dir, "two.c");
		ck_assert_int_eq(tu_write_text(tu, "#include \"small_ho.h\"\n#include \"other.h\"\n"
		                                   "int use(const unsigned char *px);\n"
		                                   "int use(const unsigned char *px)\n"
		                                   "{\n\treturn small_predict_u8(px) + "
		                                   "other_predict_u8(px);\n}\n"),
		                 0);
		compile_strict(f.dir, "two.c", "header-only, two networks");
		free(ho);
		free(c2);
		free(y2);
		free(w2);
		free(h2);
		free(tu);
		fix_fini(&f);
	}
}
END_TEST

/* ---- agreement with the reference forward */

/* A program that runs every API entry point of the exported network on
 * samples.u8 and writes norm.bin (normalize_u8), fwd.bin (forward_u8), and
 * pred.bin (int32: predict_u8, predict on the normalised input, argmax of
 * forward); it fails itself if a _workspace variant or forward disagrees
 * with forward_u8 bit for bit. */
static const char *const harness_fmt =
	"#include <stdio.h>\n"
	"#include <string.h>\n"
	"#include \"%s\"\n"
	"#define P(x) small_##x\n"
	"typedef small_real real;\n"
	"int main(void)\n"
	"{\n"
	"\tstatic unsigned char px[SMALL_INPUTS];\n"
	"\treal x[SMALL_INPUTS], o[SMALL_OUTPUTS], o2[SMALL_OUTPUTS], ws[SMALL_WORKSPACE_SIZE];\n"
	"\tFILE *in = fopen(\"samples.u8\", \"rb\"), *fn = fopen(\"norm.bin\", \"wb\");\n"
	"\tFILE *ff = fopen(\"fwd.bin\", \"wb\"), *fp = fopen(\"pred.bin\", \"wb\");\n"
	"\tif (!in || !fn || !ff || !fp) return 3;\n"
	"\twhile (fread(px, 1, sizeof px, in) == sizeof px) {\n"
	"\t\tint k[3], best = 0;\n"
	"\t\tP(normalize_u8)(x, px);\n"
	"\t\tP(forward_u8)(px, o);\n"
	"\t\tP(forward)(x, o2);\n"
	"\t\tif (memcmp(o, o2, sizeof o)) return 4;\n"
	"\t\tP(forward_workspace)(x, o2, ws);\n"
	"\t\tif (memcmp(o, o2, sizeof o)) return 5;\n"
	"\t\tk[0] = P(predict_u8)(px);\n"
	"\t\tk[1] = P(predict)(x);\n"
	"\t\tif (P(predict_workspace)(x, ws) != k[1]) return 6;\n"
	"\t\tfor (int i = 1; i < SMALL_OUTPUTS; i++) if (o[i] > o[best]) best = i;\n"
	"\t\tk[2] = best;\n"
	"\t\tfwrite(x, sizeof x, 1, fn);\n"
	"\t\tfwrite(o, sizeof o, 1, ff);\n"
	"\t\tfwrite(k, sizeof k, 1, fp);\n"
	"\t}\n"
	"\treturn fclose(fn) | fclose(ff) | fclose(fp);\n"
	"}\n";

static void *read_all(const char *dir, const char *name, size_t want)
{
	char *p = tu_path(dir, name);
	size_t got;
	void *b = tu_read_file(p, &got);
	ck_assert_msg(got == want, "%s: %zu bytes, expected %zu", p, got, want);
	free(p);
	return b;
}

/* Runs the harness against fix f (split or header-only) and checks it. */
static void check_agreement(Fix *f, bool header_only, double tol)
{
	Ctx ctx;
	ctx_init(&ctx, stderr);
	Model *m = load_model(&ctx, f->yaml);
	bool f32 = m->dtype == DTYPE_F32;
	size_t rs = f32 ? 4 : 8, IN = m->inputs, OUT = m->outputs;

	/* Seeded samples: random bytes, a few constant images. */
	unsigned char *px = malloc(N_SAMPLES * IN);
	ck_assert_ptr_nonnull(px);
	nncc_rng_t r;
	nncc_rng_seed(&r, 42);
	for (size_t k = 0; k < N_SAMPLES * IN; k++)
		px[k] = (unsigned char)nncc_rng_below(&r, 256);
	memset(px, 0, IN);
	memset(px + IN, 255, IN);
	char *sp = tu_path(f->dir, "samples.u8");
	ck_assert_int_eq(tu_write(sp, px, N_SAMPLES * IN), 0);

	char src[4096];
	snprintf(src, sizeof src, harness_fmt, header_only ? "small_ho.h" : "small.h");
	char *hp = tu_path(f->dir, "harness.c");
	ck_assert_int_eq(tu_write_text(hp, src), 0);
	char *out = NULL;
	int st = tu_run(&out, "cd '%s' && %s -std=c99 -O2 -o harness harness.c %s -lm && ./harness",
	                f->dir, tu_cc(), header_only ? "" : "small.c");
	ck_assert_msg(st == 0, "harness failed (%d):\n%s", st, out);
	free(out);
	/* Every path gives the same bits: the portable loops (fma from libm
	 * here unless the CPU flags say FMA), -march=native (AVX-512 or the
	 * portable loops with an FMA instruction) and the AVX2 path (at run time
	 * and built in, where the CPU has AVX2; else the portable loops)
	 * against the default build. */
	static const char *const paths[] = {"-O2 -DSMALL_NO_SIMD", "-O2 -march=native",
	                                    "-O0 -march=native", "-O2 -DSMALL_NO_AVX512",
	                                    "-O2 -march=native -DSMALL_NO_AVX512"};
	for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++) {
		if (strstr(paths[k], "native") && !have_native(tu_cc()))
			continue;
		st = tu_run(&out, "cd '%s' && mkdir -p p && cp fwd.bin pred.bin norm.bin p/ && "
		                  "%s -std=c99 %s -o harness2 harness.c %s -lm && ./harness2 && "
		                  "cmp fwd.bin p/fwd.bin && cmp pred.bin p/pred.bin && cmp norm.bin p/norm.bin",
		            f->dir, tu_cc(), paths[k], header_only ? "" : "small.c");
		ck_assert_msg(st == 0, "%s: not the default build's bits (%d):\n%s", paths[k], st, out);
		free(out);
	}

	/* normalize_u8 == the runtime's normalisation, bit for bit. */
	nncc_norm_stats_t stats;
	make_norm(&stats, f->kind, IN);
	void *want = malloc(N_SAMPLES * IN * rs);
	nncc_norm_apply(&stats, f32 ? NNCC_F32 : NNCC_F64, want, px, N_SAMPLES);
	void *norm = read_all(f->dir, "norm.bin", N_SAMPLES * IN * rs);
	ck_assert_msg(memcmp(norm, want, N_SAMPLES * IN * rs) == 0,
	              "normalize_u8 differs from nncc_norm_apply");

	/* Reference forward in double on the same (rounded) inputs. */
	char err[256];
	RefNet *ref = ref_new(m, N_SAMPLES, err, sizeof err);
	ck_assert_msg(ref != NULL, "%s", err);
	memcpy(ref->params, f->params, m->n_params * sizeof *ref->params);
	double *x = malloc(N_SAMPLES * IN * sizeof *x);
	for (size_t k = 0; k < N_SAMPLES * IN; k++)
		x[k] = f32 ? ((float *)want)[k] : ((double *)want)[k];
	ref_forward(ref, N_SAMPLES, x);
	const double *ro = ref_output(ref);
	/* the argmax's scores: the softmax's input, or a sigmoid output itself */
	bool softmax = strcmp(m->layers[m->n_layers - 1].kind->name, "softmax") == 0;
	const double *scores = ref->layers[m->n_layers - (softmax ? 2 : 1)].a;

	void *fwd = read_all(f->dir, "fwd.bin", N_SAMPLES * OUT * rs);
	int32_t *pred = read_all(f->dir, "pred.bin", N_SAMPLES * 3 * sizeof(int32_t));
	double maxd = 0;
	size_t ambiguous = 0;
	for (size_t b = 0; b < N_SAMPLES; b++) {
		size_t best = 0, second = OUT;
		for (size_t i = 0; i < OUT; i++) {
			double got = f32 ? ((float *)fwd)[b * OUT + i] : ((double *)fwd)[b * OUT + i];
			double d = fabs(got - ro[b * OUT + i]);
			ck_assert_msg(d <= tol, "forward sample %zu output %zu: exported %.9g, reference "
			                        "%.9g (diff %g > %g)",
			              b, i, got, ro[b * OUT + i], d, tol);
			maxd = d > maxd ? d : maxd;
			if (scores[b * OUT + i] > scores[b * OUT + best])
				best = i;
		}
		for (size_t i = 0; i < OUT; i++)
			if (i != best && (second == OUT || scores[b * OUT + i] > scores[b * OUT + second]))
				second = i;
		ck_assert_msg(pred[3 * b] == pred[3 * b + 1] && pred[3 * b] == pred[3 * b + 2],
		              "sample %zu: predict_u8 %d, predict %d, argmax forward %d", b,
		              pred[3 * b], pred[3 * b + 1], pred[3 * b + 2]);
		/* A near-tie may fall either way in float; everything else must agree. */
		if (scores[b * OUT + best] - scores[b * OUT + second] < 1e-5) {
			ambiguous++;
			continue;
		}
		ck_assert_msg(pred[3 * b] == (int32_t)best, "sample %zu: exported predicts %d, reference %zu",
		              b, pred[3 * b], best);
	}
	ck_assert_msg(ambiguous < N_SAMPLES / 100, "%zu near-ties", ambiguous);
	ck_assert_msg(maxd > 0 || !f32, "float32 outputs identical to double: suspicious");

	free(pred);
	free(fwd);
	free(x);
	ref_free(ref);
	free(norm);
	free(want);
	nncc_norm_fini(&stats);
	free(hp);
	free(sp);
	free(px);
	ctx_fini(&ctx);
}

START_TEST(test_agreement_f32)
{
	Fix f;
	fix_init(&f, "float32", NNCC_NORM_STANDARDIZE);
	check_agreement(&f, false, 1e-6);
	fix_fini(&f);
}
END_TEST

START_TEST(test_agreement_f64_scale)
{
	Fix f;
	fix_init(&f, "float64", NNCC_NORM_SCALE);
	check_agreement(&f, false, 1e-12);
	fix_fini(&f);
}
END_TEST

START_TEST(test_agreement_squared_error)
{
	Fix f;
	fix_init_yaml(&f, squared_yaml, "float32", NNCC_NORM_STANDARDIZE);
	check_agreement(&f, false, 1e-6);
	fix_fini(&f);
}
END_TEST

START_TEST(test_agreement_header_only_none)
{
	Fix f;
	fix_init(&f, "float32", NNCC_NORM_NONE);
	char *ho = tu_path(f.dir, "small_ho.h");
	free(f.params);  /* raw 0..255 inputs: smaller weights keep the softmax busy */
	f.params = make_weights(f.yaml, f.w, NNCC_NORM_NONE, NAN, 0.05);
	export_ok(f.yaml, f.w, ho, "--header-only");
	check_agreement(&f, true, 1e-6);
	free(ho);
	fix_fini(&f);
}
END_TEST

/* Dropout is the identity at inference: the exported code of a network
 * with dropout layers names none and gives the bits of the same network
 * without them. */
START_TEST(test_dropout_absent)
{
	Fix f;
	fix_init(&f, "float32", NNCC_NORM_STANDARDIZE);
	check_agreement(&f, false, 1e-6);   /* harness.c, and fwd.bin without dropout */
	char *dy = write_yaml(f.dir, "drop.yaml", dropout_yaml, "float32");
	char *dw = tu_path(f.dir, "drop.weights");
	double *dp = make_weights(dy, dw, NNCC_NORM_STANDARDIZE, 0.8125, 0.5);
	export_ok(dy, dw, f.c, "");         /* small.c, small.h from drop.yaml */
	char *out = NULL;
	int st = tu_run(&out, "cd '%s' && mkdir -p d && cp fwd.bin pred.bin d/ && "
	                      "%s -std=c99 -O2 -o harness3 harness.c small.c -lm && ./harness3 && "
	                      "cmp fwd.bin d/fwd.bin && cmp pred.bin d/pred.bin && "
	                      "grep -q 'drop.yaml' small.c && ! grep -i dropout small.c small.h",
	                f.dir, tu_cc());
	ck_assert_msg(st == 0, "the export with dropout differs (%d):\n%s", st, out);
	free(out);
	free(dp);
	free(dw);
	free(dy);
	fix_fini(&f);
}
END_TEST

/* ---- the files themselves */

START_TEST(test_header_comment_and_determinism)
{
	Fix f;
	fix_init(&f, "float32", NNCC_NORM_STANDARDIZE);
	char *h = NULL, *c = NULL, *sha = NULL;
	ck_assert_int_eq(tu_run(&h, "cat '%s'", f.h), 0);
	ck_assert_int_eq(tu_run(&c, "cat '%s'", f.c), 0);
	ck_assert_int_eq(tu_run(&sha, "sha256sum < '%s' | cut -c1-64", f.w), 0);
	sha[64] = 0;
	ck_assert_msg(strstr(h, sha) != NULL, "weight file sha256 %s not in the header", sha);
	ck_assert_ptr_nonnull(strstr(h, "test accuracy recorded at training time: 81.25%"));
	ck_assert_ptr_nonnull(strstr(h, "Generated by nncc"));
	ck_assert_ptr_nonnull(strstr(h, "small.yaml (sha256 "));
	ck_assert_ptr_nonnull(strstr(h, "#define SMALL_WORKSPACE_SIZE 28"));  /* 16 + 12 */
	ck_assert_ptr_nonnull(strstr(h, "int small_predict_u8(const unsigned char"));
	ck_assert_ptr_nonnull(strstr(c, "#include \"small.h\""));
	ck_assert_ptr_nonnull(strstr(c, "static const float small_l1_w[SMALL_L1_IN][SMALL_L1_OUT] = {"));
	/* Weights come after the logic. */
	ck_assert(strstr(c, "= {") > strstr(c, "small_predict_u8("));
	/* Same input, same bytes. */
	char *c2p = tu_path(f.dir, "again.c");
	export_ok(f.yaml, f.w, c2p, "");
	char *c2 = NULL;
	ck_assert_int_eq(tu_run(&c2, "cat '%s'", c2p), 0);
	const char *a = strstr(c, "#include"), *b = strstr(c2, "#include");
	ck_assert_msg(strcmp(strstr(a, "\n"), strstr(b, "\n")) == 0, "export is not deterministic");
	free(h);
	free(c);
	free(c2);
	free(c2p);
	free(sha);
	fix_fini(&f);
}
END_TEST

/* No allocation, nothing from libnncc, no writable data in the object. */
START_TEST(test_nm_clean)
{
	Fix f;
	fix_init(&f, "float32", NNCC_NORM_STANDARDIZE);
	char *out = NULL;
	int st = tu_run(&out, "cd '%s' && %s -std=c99 -O2 -c small.c -o small.o && nm small.o", f.dir,
	                tu_cc());
	ck_assert_msg(st == 0, "%s", out);
	static const char *bad[] = {"malloc", "calloc", "realloc", "free", "nncc_"};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
		ck_assert_msg(strstr(out, bad[k]) == NULL, "nm small.o mentions %s:\n%s", bad[k], out);
	ck_assert_ptr_nonnull(strstr(out, " T small_predict_u8"));
	free(out);
	/* Writable data would show as B/b/D/d/C symbols. */
	st = tu_run(&out, "cd '%s' && nm small.o | awk '$(NF-1) ~ /^[BbDdCc]$/'", f.dir);
	ck_assert_msg(st == 0 && out[0] == 0, "writable symbols:\n%s", out);
	free(out);
	fix_fini(&f);
}
END_TEST

/* ---- errors: exit 1, the message, no output file */

static void expect_error(const char *dir, const char *args, const char *msg)
{
	char *out = NULL;
	int st = tu_run(&out, "cd '%s' && \"$NNCC_ABS\" %s", dir, args);
	ck_assert_msg(st == 1, "nncc %s: exit %d, expected 1:\n%s", args, st, out);
	ck_assert_msg(strstr(out, msg) != NULL, "nncc %s: expected \"%s\" in:\n%s", args, msg, out);
	free(out);
	ck_assert_int_eq(tu_run(&out, "cd '%s' && ls out.c out.h 2>/dev/null | wc -l", dir), 0);
	ck_assert_msg(atoi(out) == 0, "nncc %s left output files", args);
	free(out);
}

START_TEST(test_errors)
{
	char abs[8192], top[4096];
	ck_assert_ptr_nonnull(getcwd(top, sizeof top));
	snprintf(abs, sizeof abs, "%s/%s", top, tu_nncc());
	setenv("NNCC_ABS", tu_nncc()[0] == '/' ? tu_nncc() : abs, 1);
	Fix f;
	fix_init(&f, "float32", NNCC_NORM_STANDARDIZE);
	char *oy = write_yaml(f.dir, "other.yaml", other_yaml, "");
	char *ow = tu_path(f.dir, "other.weights");
	free(make_weights(oy, ow, NNCC_NORM_STANDARDIZE, NAN, 0.5));
	/* A damaged copy: one byte flipped in the parameters. */
	ck_assert_int_eq(tu_run(NULL, "cd '%s' && cp small.weights bad.weights && printf 'X' | "
	                              "dd of=bad.weights bs=1 seek=300 conv=notrunc 2>/dev/null",
	                        f.dir),
	                 0);
	ck_assert_int_eq(tu_run(NULL, "cd '%s' && head -c 40 small.weights > short.weights", f.dir), 0);

	expect_error(f.dir, "small.yaml --infer --weights other.weights -o out.c",
	             "nncc: error: weight file other.weights was saved for another network "
	             "(shape hash 0x");
	expect_error(f.dir, "small.yaml --infer --weights nothere.weights -o out.c",
	             "nncc: error: cannot read weights: file nothere.weights: cannot open: No such "
	             "file or directory");
	expect_error(f.dir, "small.yaml --infer --weights bad.weights -o out.c",
	             "nncc: error: cannot read weights: file bad.weights: checksum mismatch: the "
	             "file is damaged");
	expect_error(f.dir, "small.yaml --infer --weights short.weights -o out.c",
	             "nncc: error: cannot read weights: file short.weights: truncated");
	expect_error(f.dir, "small.yaml --infer -o out.c",
	             "nncc: error: --infer needs --weights FILE");
	expect_error(f.dir, "small.yaml --header-only -o out.c",
	             "nncc: error: --header-only needs --infer");
	expect_error(f.dir, "small.yaml --weights small.weights -o out.c",
	             "nncc: error: --weights needs --infer");
	expect_error(f.dir, "small.yaml --infer --weights small.weights --frobnicate -o out.c",
	             "--frobnicate");
	/* Issue 14, defect 3: an output that is an input is refused, the input kept. */
	char *before = NULL, *after = NULL;
	ck_assert_int_eq(tu_run(&before, "cd '%s' && cksum small.yaml small.weights", f.dir), 0);
	expect_error(f.dir, "small.yaml --infer --weights small.weights --header-only -o small.yaml",
	             "nncc: error: output 'small.yaml' is the network file 'small.yaml': refusing "
	             "to overwrite it");
	expect_error(f.dir, "small.yaml --infer --weights small.weights --header-only "
	                    "-o ./small.weights",
	             "nncc: error: output './small.weights' is the weight file 'small.weights': "
	             "refusing to overwrite it");
	ck_assert_int_eq(tu_run(NULL, "cd '%s' && ln -s small.weights w.h", f.dir), 0);
	expect_error(f.dir, "small.yaml --infer --weights small.weights -o w.c",
	             "nncc: error: output 'w.h' is the weight file 'small.weights'");
	ck_assert_int_eq(tu_run(&after, "cd '%s' && cksum small.yaml small.weights && "
	                                "! test -e w.c", f.dir), 0);
	ck_assert_str_eq(after, before);
	free(before);
	free(after);
	/* Defect 11: a header name #include "..." cannot spell. */
	expect_error(f.dir, "small.yaml --infer --weights small.weights -o 'a\"b.c'",
	             "nncc: error: --infer: the header name 'a\"b.h' cannot be written in "
	             "#include \"...\" (it holds '\"'): choose another -o");
	expect_error(f.dir, "small.yaml --infer --weights small.weights -o 'a\\b.c'",
	             "(it holds '\\')");
	free(oy);
	free(ow);
	fix_fini(&f);
}
END_TEST

/* ---- examples/embed */

/* A 28x28 "7": a bar across the top and a diagonal down-left. */
static void draw_seven(unsigned char img[28 * 28])
{
	memset(img, 0, 28 * 28);
	for (int c = 6; c < 22; c++)
		for (int r = 5; r < 8; r++)
			img[r * 28 + c] = 250;
	for (int r = 8; r < 24; r++)
		for (int d = 0; d < 3; d++)
			img[r * 28 + 21 - (r - 8) * 10 / 16 + d - 1] = 230;
}

START_TEST(test_embed_example)
{
	char *dir = tu_mkdtemp();
	char *w = tu_path(dir, "sgd20.weights");
	double *params = make_weights("examples/sgd20.yaml", w, NNCC_NORM_STANDARDIZE, 0.9655, 0.1);
	free(params);
	char *out = NULL, top[4096];
	ck_assert_ptr_nonnull(getcwd(top, sizeof top));
	int st = tu_run(&out, "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C examples/embed "
	                      "NNCC=%s%s%s WEIGHTS=%s OUT=%s CC=%s",
	                tu_nncc()[0] == '/' ? "" : top, tu_nncc()[0] == '/' ? "" : "/", tu_nncc(),
	                w, dir, tu_cc());
	ck_assert_msg(st == 0, "make -C examples/embed:\n%s", out);
	free(out);

	unsigned char img[28 * 28];
	draw_seven(img);
	char hdr[32];
	int n = snprintf(hdr, sizeof hdr, "P5\n# a seven\n28 28\n255\n");
	unsigned char file[64 + 28 * 28];
	memcpy(file, hdr, (size_t)n);
	memcpy(file + n, img, sizeof img);
	char *p5 = tu_path(dir, "seven.pgm");
	ck_assert_int_eq(tu_write(p5, file, (size_t)n + sizeof img), 0);
	/* The same image as plain (P2) text. */
	char *p2 = tu_path(dir, "seven-ascii.pgm");
	FILE *f = fopen(p2, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "P2\n28 28\n255\n");
	for (int k = 0; k < 28 * 28; k++)
		fprintf(f, "%d%c", img[k], k % 28 == 27 ? '\n' : ' ');
	fclose(f);
	/* And as an IDX file of two images. */
	unsigned char two[2 * 28 * 28];
	memcpy(two, img, sizeof img);
	memcpy(two + sizeof img, img, sizeof img);
	size_t idx_len;
	uint8_t *idx = tu_idx_images(two, 2, 28, 28, &idx_len);
	char *ip = tu_path(dir, "two-idx3-ubyte");
	ck_assert_int_eq(tu_write(ip, idx, idx_len), 0);
	free(idx);

	st = tu_run(&out, "%s/classify %s %s %s", dir, p5, p2, ip);
	ck_assert_msg(st == 0, "classify failed (%d):\n%s", st, out);
	int k1, k2, k3, k4;
	double c1, c2, c3, c4;
	char *line2 = strchr(out, '\n');
	ck_assert_ptr_nonnull(line2);
	ck_assert_msg(sscanf(strstr(out, ": "), ": %d (%lf%%)", &k1, &c1) == 2, "%s", out);
	ck_assert_msg(sscanf(strstr(line2, ": "), ": %d (%lf%%)", &k2, &c2) == 2, "%s", out);
	char *l3 = strstr(out, "two-idx3-ubyte[0]: "), *l4 = strstr(out, "two-idx3-ubyte[1]: ");
	ck_assert_msg(l3 && l4, "%s", out);
	ck_assert_int_eq(sscanf(l3 + 19, "%d (%lf%%)", &k3, &c3), 2);
	ck_assert_int_eq(sscanf(l4 + 19, "%d (%lf%%)", &k4, &c4), 2);
	ck_assert(k1 >= 0 && k1 < 10 && c1 > 0 && c1 <= 100);
	ck_assert_msg(k1 == k2 && k1 == k3 && k1 == k4 && c1 == c2 && c1 == c3,
	              "same image, different answers:\n%s", out);
	free(out);
	/* A bad file is an error, not a guess. */
	ck_assert_int_eq(tu_write_text(p2, "P2\n27 28\n255\n0\n"), 0);
	st = tu_run(&out, "%s/classify %s", dir, p2);
	ck_assert_msg(st == 1 && strstr(out, "28x28"), "classify on a 27x28 image: %d\n%s", st, out);
	free(out);
	free(p5);
	free(p2);
	free(ip);
	free(w);
	tu_scratch_free(dir);
}
END_TEST

/* ---- MNIST: the trainer's own evaluation vs the exported code, bit for bit:
 * examples/sgd20.yaml (sigmoid hidden layer, softmax), whose exp is the
 * trainer's kern_exp in both. */

static const char *const mnist_harness =
	"#include <stdio.h>\n"
	"#include <stdlib.h>\n"
	"#include <string.h>\n"
	"#include \"nncc.h\"\n"
	"#include \"exp.h\"\n"
	"extern const nncc_model_t mnist_sgd20_model;\n"
	"int main(void)\n"
	"{\n"
	"\tconst nncc_model_t *m = &mnist_sgd20_model;\n"
	"\tnncc_err_t err; nncc_norm_stats_t st; nncc_dataset_t ds;\n"
	"\tif (nncc_weights_load(m, \"w.bin\", &st, NULL, NULL, &err) ||\n"
	"\t    nncc_dataset_load(&ds, \"%s/t10k-images-idx3-ubyte\", \"%s/t10k-labels-idx1-ubyte\", &err))\n"
	"\t\t{ fprintf(stderr, \"%%s\\n\", err.msg); return 2; }\n"
	"\tfloat *x = malloc(m->max_batch * ds.dim * sizeof *x);\n"
	"\tsize_t ok_t = 0, ok_e = 0, bad = 0; double maxd = 0;\n"
	"\tfor (size_t b0 = 0; b0 < ds.n; b0 += m->max_batch) {\n"
	"\t\tsize_t n = ds.n - b0 < m->max_batch ? ds.n - b0 : m->max_batch;\n"
	"\t\tnncc_norm_apply(&st, NNCC_F32, x, ds.pixels + b0 * ds.dim, n);\n"
	"\t\tm->forward(n, x);\n"
	"\t\tconst float *a = m->tensor(NNCC_T_ACT, m->n_layers - 1);\n"
	"\t\tfor (size_t b = 0; b < n; b++) {\n"
	"\t\t\tconst float *o = a + b * m->n_outputs; float e[MNIST_SGD20_OUTPUTS];\n"
	"\t\t\tint t = 0;\n"
	"\t\t\tfor (int i = 1; i < 10; i++) if (o[i] > o[t]) t = i;\n"
	"\t\t\tint k = mnist_sgd20_predict_u8(ds.pixels + (b0 + b) * ds.dim);\n"
	"\t\t\tmnist_sgd20_forward_u8(ds.pixels + (b0 + b) * ds.dim, e);\n"
	"\t\t\tfor (int i = 0; i < 10; i++) { double d = e[i] - o[i]; if (d < 0) d = -d; if (d > maxd) maxd = d; }\n"
	"\t\t\tif (k != t) { bad++; fprintf(stderr, \"image %%zu: exported %%d, trainer %%d\\n\", b0 + b, k, t); }\n"
	"\t\t\tok_t += t == ds.labels[b0 + b]; ok_e += k == ds.labels[b0 + b];\n"
	"\t\t}\n"
	"\t}\n"
	"\tprintf(\"trainer %%zu exported %%zu of %%zu, %%zu disagree, max diff %%g\\n\", ok_t, ok_e, ds.n, bad, maxd);\n"
	"\treturn bad != 0 || maxd != 0 || ok_t != ok_e;\n"
	"}\n";

START_TEST(test_mnist_vs_trainer)
{
	if (!tu_exists("data/mnist/t10k-images-idx3-ubyte") &&
	    !tu_exists("data/mnist/t10k-images-idx3-ubyte.gz")) {
		fprintf(stderr, "check_infer: data/mnist absent, MNIST agreement skipped\n");
		return;
	}
	char *dir = tu_mkdtemp();
	char top[4096];
	ck_assert_ptr_nonnull(getcwd(top, sizeof top));
	char *out = NULL;
	int st = tu_run(&out,
	                "%s examples/sgd20.yaml -o %s/t.c && cd %s && "
	                "%s -std=c99 -O2 -I%s/runtime -o train t.c %s/build/libnncc.a -lcsv -lz -lm -lpthread && "
	                "./train --data %s/data/mnist --iterations 300 --save w.bin --quiet",
	                tu_nncc(), dir, dir, tu_cc(), top, top, top);
	ck_assert_msg(st == 0, "training failed:\n%s", out);
	free(out);
	st = tu_run(&out, "cd %s && %s/%s %s/examples/sgd20.yaml --infer --weights w.bin -o exp.c",
	            dir, tu_nncc()[0] == '/' ? "" : top, tu_nncc(), top);
	ck_assert_msg(st == 0, "export failed:\n%s", out);
	free(out);
	char src[16384], mn[4200];
	snprintf(mn, sizeof mn, "%s/data/mnist", top);
	snprintf(src, sizeof src, mnist_harness, mn, mn);
	char *hp = tu_path(dir, "cmp.c");
	ck_assert_int_eq(tu_write_text(hp, src), 0);
	/* The default build (the AVX-512 kernel where the CPU has it) and the
	 * portable loops alone must both agree. */
	st = tu_run(&out, "cd %s && %s -std=c99 -O2 -I%s/runtime -DNNCC_NO_MAIN -o cmp cmp.c t.c exp.c "
	                  "%s/build/libnncc.a -lcsv -lz -lm -lpthread && ./cmp && "
	                  "%s -std=c99 -O2 -DMNIST_SGD20_NO_SIMD -c exp.c -o exp2.o && "
	                  "%s -std=c99 -O2 -I%s/runtime -DNNCC_NO_MAIN -o cmp2 cmp.c t.c exp2.o "
	                  "%s/build/libnncc.a -lcsv -lz -lm -lpthread && ./cmp2",
	            dir, tu_cc(), top, top, tu_cc(), tu_cc(), top, top);
	ck_assert_msg(st == 0, "exported code disagrees with the trainer:\n%s", out);
	fprintf(stderr, "check_infer: MNIST: %s", out);
	free(out);
	free(hp);
	tu_scratch_free(dir);
}
END_TEST

static Suite *infer_suite(void)
{
	Suite *s = suite_create("infer");
	TCase *tc = tcase_create("export");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_header_comment_and_determinism);
	tcase_add_test(tc, test_agreement_f32);
	tcase_add_test(tc, test_dropout_absent);
	tcase_add_test(tc, test_agreement_f64_scale);
	tcase_add_test(tc, test_agreement_header_only_none);
	tcase_add_test(tc, test_agreement_squared_error);
	tcase_add_test(tc, test_compiles_strict);
	tcase_add_test(tc, test_nm_clean);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_embed_example);
	tcase_add_test(tc, test_mnist_vs_trainer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(infer_suite(), NULL);
}
