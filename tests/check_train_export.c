/*
 * check_train_export.c - `nncc --infer --trainable MODE`: on-device
 * fine-tuning in exported code.  Small seeded networks (relu, sigmoid and
 * tanh hidden layers; float32 and float64) get deterministic weights
 * (sin(k*1.7)*0.5); each mode's export runs train_step (and train_step_u8)
 * on seeded samples, and every step is compared bit for bit with the
 * generated trainer's batch-1 SGD step (built with -DNNCC_NO_MAIN, driven
 * through runtime/nncc.h's step()) from the same parameters: the trainable
 * parameters must be the trainer's, the frozen ones unchanged.  Also: the
 * memory ledger against nm's symbol sizes, strict compilation under gcc and
 * clang, the error paths.  Vocabulary: mode = all | last | bias.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/nncc.h" /* runtime/nncc.h comes first on the path */
#include "ctxutil.h"
#include "nncc_exp.h"

#define STRICT "-std=c99 -pedantic -Wall -Wextra -Wconversion -Wshadow -Werror"
#define N_STEPS 8
#define N_BATCH 6 /* batch steps of 1-4 samples (with -DTN_TRAIN_BATCH) */

static const char *const modes[] = {"all", "last", "bias"};
static const char *const acts[] = {"relu", "sigmoid", "tanh"};

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A seeded network "tn": 1-3 hidden layers of 3-10 units, activations
 * cycling through relu, sigmoid, tanh from `first_act`, and an output
 * dense layer (linear, or tanh when out_act) before the softmax; extra =
 * YAML lines before it, opt = more training keys (", optimizer: ..."). */
static char *net_yaml(const char *dir, uint64_t seed, const char *dtype, int first_act,
                      bool out_act, const char *extra, const char *opt)
{
	uint64_t s = seed * 2654435761u + 1;
	char text[4096];
	int n = snprintf(text, sizeof text, "network: tn\ninput: %d\ndtype: %s\nlayers:\n",
	                 5 + (int)(rng_next(&s) % 8), dtype);
	int hidden = 1 + (int)(rng_next(&s) % 3);
	for (int h = 0; h < hidden; h++)
		n += snprintf(text + n, sizeof text - (size_t)n,
		              "  - { type: dense, units: %d, activation: %s }\n",
		              3 + (int)(rng_next(&s) % 8), acts[(first_act + h) % 3]);
	n += snprintf(text + n, sizeof text - (size_t)n,
	              "%s  - { type: dense, units: %d, activation: %s }\n  - type: softmax\n"
	              "training: { learning_rate: 0.1, batch_size: 4, iterations: 1%s }\n",
	              extra, 3 + (int)(rng_next(&s) % 3), out_act ? "tanh" : "linear", opt);
	char *p = tu_path(dir, "tn.yaml");
	ck_assert_int_eq(tu_write_text(p, text), 0);
	return p;
}

/* sin(k*1.7)*0.5 parameters saved as tn.weights with normalisation kind. */
static void make_weights(const char *yaml, const char *dir, int kind)
{
	Ctx ctx;
	ctx_init(&ctx, stderr);
	Model *m = model_load(&ctx, yaml);
	ck_assert_ptr_nonnull(m);
	void *params = malloc(m->n_params * 8);
	ck_assert_ptr_nonnull(params);
	for (size_t k = 0; k < m->n_params; k++) {
		double v = sin((double)k * 1.7) * 0.5;
		if (m->dtype == DTYPE_F32)
			((float *)params)[k] = (float)v;
		else
			((double *)params)[k] = v;
	}
	nncc_norm_stats_t st = {0};
	st.kind = kind;
	st.dim = m->inputs;
	st.std = 1;
	if (kind == NNCC_NORM_STANDARDIZE) {
		st.mean = malloc(m->inputs * sizeof *st.mean);
		ck_assert_ptr_nonnull(st.mean);
		for (size_t j = 0; j < m->inputs; j++)
			st.mean[j] = 90 + 50 * sin((double)j * 0.37);
		st.std = 71.25;
	}
	char *w = tu_path(dir, "tn.weights");
	ctx_weights_save(&ctx, m, params, &st, NAN, w);
	nncc_norm_fini(&st);
	free(w);
	free(params);
	ctx_fini(&ctx);
}

/* Runs N_STEPS steps in both, from the device's parameters each time: for
 * step n, train_step_u8 on seeded pixels when n is odd, train_step on seeded
 * reals (a quarter of them 0) when even; lr varies.  Writes, per step, the
 * parameters before, the device's after and the trainer's after. */
static const char *const harness =
	"#include <stdint.h>\n"
	"#include <stdio.h>\n"
	"#include <string.h>\n"
	"#include \"nncc.h\"\n"
	"#include \"exp.h\"\n"
	"extern const nncc_model_t tn_model;\n"
	"typedef tn_real real;\n"
	"int main(void)\n"
	"{\n"
	"\tconst nncc_model_t *m = &tn_model;\n"
	"\tstatic real before[TN_PARAMS], dev[TN_PARAMS], x[TN_INPUTS];\n"
	"\tstatic unsigned char px[TN_INPUTS];\n"
	"\tdouble hp[16];\n"
	"\tuint64_t s = 88172645463325252ull;\n"
	"\tFILE *f = fopen(\"out.bin\", \"wb\");\n"
	"\tif (!f || m->n_params != TN_PARAMS || m->n_hparams > 16) return 2;\n"
	"\tfor (size_t k = 0; k < m->n_hparams; k++) hp[k] = m->hparams[k].value;\n"
	"\tfor (int n = 0; n < %d; n++) {\n"
	"\t\tint32_t y;\n"
	"\t\treal lr = (real)(0.05 * (n %% 4 + 1));\n"
	"\t\tfor (int j = 0; j < TN_INPUTS; j++) {\n"
	"\t\t\ts ^= s << 13; s ^= s >> 7; s ^= s << 17;\n"
	"\t\t\tpx[j] = (unsigned char)(s %% 4 == 0 ? 0 : s >> 56);\n"
	"\t\t\tx[j] = s %% 4 == 0 ? (real)0 : (real)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);\n"
	"\t\t}\n"
	"\t\ty = (int32_t)(s >> 33) %% TN_OUTPUTS;\n"
	"\t\tif (n %% 2) tn_normalize_u8(x, px);\n"
	"\t\ttn_params_get(before);\n"
	"\t\tmemcpy(m->params, before, sizeof before);\n"
	"\t\tnncc_update_t u = {(double)lr, 1, (uint64_t)n + 1, hp, 1};\n"
	"\t\tm->step(1, x, &y, &u);\n"
	"\t\tif ((n %% 2 ? tn_train_step_u8(px, y, lr) : tn_train_step(x, y, lr)) != 0) return 3;\n"
	"\t\ttn_params_get(dev);\n"
	"\t\tfwrite(before, sizeof before, 1, f);\n"
	"\t\tfwrite(dev, sizeof dev, 1, f);\n"
	"\t\tfwrite(m->params, sizeof dev, 1, f);\n"
	"\t}\n"
	"#ifdef TN_TRAIN_BATCH\n"
	"\tfor (int n = 0; n < %d; n++) {\n"
	"\t\tstatic real xb[4 * TN_INPUTS];\n"
	"\t\tstatic unsigned char pb[4 * TN_INPUTS];\n"
	"\t\tint32_t yb[4]; int lb[4]; size_t nb = 1 + (size_t)(n %% 4);\n"
	"\t\treal lr = (real)(0.05 * (n %% 3 + 1));\n"
	"\t\tfor (size_t b = 0; b < nb; b++) {\n"
	"\t\t\tfor (int j = 0; j < TN_INPUTS; j++) {\n"
	"\t\t\t\ts ^= s << 13; s ^= s >> 7; s ^= s << 17;\n"
	"\t\t\t\tpb[b * TN_INPUTS + j] = (unsigned char)(s %% 4 == 0 ? 0 : s >> 56);\n"
	"\t\t\t\txb[b * TN_INPUTS + j] = s %% 4 == 0 ? (real)0 : (real)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);\n"
	"\t\t\t}\n"
	"\t\t\tyb[b] = (int32_t)(s >> 33) %% TN_OUTPUTS; lb[b] = (int)yb[b];\n"
	"\t\t\tif (n %% 2) tn_normalize_u8(xb + b * TN_INPUTS, pb + b * TN_INPUTS);\n"
	"\t\t}\n"
	"\t\ttn_params_get(before);\n"
	"\t\tmemcpy(m->params, before, sizeof before);\n"
	"\t\tnncc_update_t u = {(double)lr, nb, (uint64_t)(%d + n) + 1, hp, 1};\n"
	"\t\tm->step(nb, xb, yb, &u);\n"
	"\t\tif ((n %% 2 ? tn_train_batch_u8(pb, lb, nb, lr) : tn_train_batch(xb, lb, nb, lr)) != 0) return 7;\n"
	"\t\ttn_params_get(dev);\n"
	"\t\tfwrite(before, sizeof before, 1, f);\n"
	"\t\tfwrite(dev, sizeof dev, 1, f);\n"
	"\t\tfwrite(m->params, sizeof dev, 1, f);\n"
	"\t\tlb[0] = -1;\n"
	"\t\tif (tn_train_batch(xb, lb, nb, lr) != -1 || tn_train_batch(xb, lb + 1, 0, lr) != -1) return 8;\n"
	"\t}\n"
	"#endif\n"
	"\tif (tn_train_step(x, TN_OUTPUTS, (real)0.1) != -1 || tn_train_step(x, -1, (real)0.1) != -1)\n"
	"\t\treturn 4;\n"
	"\ttn_params_get(before);\n"
	"\tif (memcmp(before, dev, sizeof dev)) return 5; /* a bad label changes nothing */\n"
	"\treturn fclose(f) != 0;\n"
	"}\n";

/* Whether parameter p of m trains in mode (the documented rule). */
static bool trains(const Model *m, const char *mode, size_t p)
{
	size_t last = 0;
	for (size_t k = 0; k < m->n_layers; k++)
		if (m->layers[k].n_tensors)
			last = k;
	for (size_t k = 0; k < m->n_layers; k++)
		for (size_t t = 0; t < m->layers[k].n_tensors; t++) {
			const Tensor *T = &m->layers[k].tensors[t];
			if (p < T->offset || p >= T->offset + T->size)
				continue;
			return strcmp(mode, "all") == 0 || (strcmp(mode, "bias") == 0 && T->bias) ||
			       (strcmp(mode, "last") == 0 && k == last);
		}
	ck_abort_msg("parameter %zu is in no tensor", p);
	return false;
}

/* Checks out.bin in dir: trainable parameters bit for bit the trainer's,
 * frozen ones unchanged, and some trainable one changed at every step. */
static void check_steps(const char *dir, const Model *m, const char *mode, const char *what,
                        size_t steps)
{
	size_t rs = m->dtype == DTYPE_F32 ? 4 : 8, np = m->n_params, len = 0;
	char *p = tu_path(dir, "out.bin");
	unsigned char *b = tu_read_file(p, &len);
	ck_assert_msg(b && len == steps * 3 * np * rs, "%s: out.bin has %zu bytes", what, len);
	for (size_t n = 0; n < steps; n++) {
		const unsigned char *before = b + (3 * n) * np * rs, *dev = before + np * rs,
		                    *ref = dev + np * rs;
		size_t changed = 0;
		for (size_t k = 0; k < np; k++) {
			const unsigned char *want = trains(m, mode, k) ? ref : before;
			double dv = rs == 4 ? ((const float *)dev)[k] : ((const double *)dev)[k];
			double wv = rs == 4 ? ((const float *)want)[k] : ((const double *)want)[k];
			ck_assert_msg(memcmp(dev + k * rs, want + k * rs, rs) == 0,
			              "%s, step %zu, parameter %zu (%s): device %.17g, %s %.17g, "
			              "difference %g",
			              what, n, k, trains(m, mode, k) ? "trainable" : "frozen", dv,
			              trains(m, mode, k) ? "trainer" : "before", wv, dv - wv);
			changed += memcmp(dev + k * rs, before + k * rs, rs) != 0;
		}
		ck_assert_msg(changed > 0, "%s, step %zu: no parameter changed", what, n);
	}
	free(b);
	free(p);
}

/* One network: the trainer once, then each mode's export, its harness in
 * the default build and the portable path (-DTN_NO_SIMD). */
static void check_network(uint64_t seed, const char *dtype, int first_act, bool out_act,
                          const char *opt)
{
	char *dir = tu_mkdtemp(), top[4096], *out = NULL;
	ck_assert_ptr_nonnull(getcwd(top, sizeof top));
	char *yaml = net_yaml(dir, seed, dtype, first_act, out_act, "", opt);
	int norm = strcmp(dtype, "float64") == 0 ? NNCC_NORM_STANDARDIZE : NNCC_NORM_SCALE;
	make_weights(yaml, dir, norm);
	Ctx ctx;
	ctx_init(&ctx, stderr);
	Model *m = model_load(&ctx, yaml);
	ck_assert_ptr_nonnull(m);
	char src[8192];
	snprintf(src, sizeof src, harness, N_STEPS, N_BATCH, N_STEPS);
	char *hp = tu_path(dir, "cmp.c");
	ck_assert_int_eq(tu_write_text(hp, src), 0);
	int st = tu_run(&out, "cd %s && %s/%s tn.yaml -o t.c && %s -std=c99 -O1 -I%s/runtime "
	                      "-DNNCC_NO_MAIN -c t.c -o t.o",
	                dir, tu_nncc()[0] == '/' ? "" : top, tu_nncc(), tu_cc(), top);
	ck_assert_msg(st == 0, "trainer:\n%s", out);
	free(out);
	for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
		static const char *const builds[] = {"-O2 -DTN_TRAIN_BATCH", "-O2 -DTN_NO_SIMD"};
		for (size_t b = 0; b < 2; b++) {
			char what[256];
			snprintf(what, sizeof what, "seed %llu %s --trainable %s %s",
			         (unsigned long long)seed, dtype, modes[k], builds[b]);
			st = tu_run(&out, "cd %s && %s/%s tn.yaml --infer --weights tn.weights "
			                  "--trainable %s -o exp.c && %s %s %s -c exp.c && "
			                  "%s -std=c99 -O1 -I%s/runtime %s -o cmp cmp.c t.o exp.o "
			                  "%s/build/libnncc.a -lcsv -lz -lm -lpthread && ./cmp",
			            dir, tu_nncc()[0] == '/' ? "" : top, tu_nncc(), modes[k], tu_cc(),
			            STRICT, builds[b], tu_cc(), top, b ? "" : "-DTN_TRAIN_BATCH", top);
			ck_assert_msg(st == 0, "%s: exit %d:\n%s", what, st, out);
			free(out);
			check_steps(dir, m, modes[k], what, N_STEPS + (b ? 0 : N_BATCH));
		}
	}
	free(hp);
	free(yaml);
	ctx_fini(&ctx);
	tu_scratch_free(dir);
}

/* Momentum: Nesterov with weight decay (not on the biases), and dampening
 * with decay everywhere; SGD with weight decay. */
#define NESTEROV ", optimizer: { type: momentum, momentum: 0.9, nesterov: true, " \
                 "weight_decay: 0.01, decay_biases: false }"
#define DAMPENED ", optimizer: { type: momentum, momentum: 0.5, dampening: 0.25, " \
                 "weight_decay: 0.001 }"
#define SGD_WD ", optimizer: { type: sgd, weight_decay: 0.003 }"

START_TEST(test_bits_f32)
{
	check_network(1, "float32", 0, false, "");
	check_network(2, "float32", 1, true, NESTEROV);
}
END_TEST

START_TEST(test_bits_f64)
{
	check_network(3, "float64", 2, false, DAMPENED);
	check_network(4, "float64", 0, true, SGD_WD);
}
END_TEST

/* Sums nm -S sizes in dir's `obj` of the symbols whose type is in `types`
 * and whose name starts with `prefix` (exp's table: gcc "poly.0", clang
 * "tn_exp.poly"). */
static size_t nm_sum(const char *dir, const char *obj, const char *types, const char *prefix)
{
	char *out = NULL;
	int st = tu_run(&out, "cd %s && nm -S -t d %s | awk '$3 ~ /^[%s]$/ && index($4, \"%s\") == 1 "
	                      "{ s += $2 } END { print s + 0 }'",
	                dir, obj, types, prefix);
	ck_assert_msg(st == 0, "nm: %s", out);
	size_t v = (size_t)strtoull(out, NULL, 10);
	free(out);
	return v;
}

static size_t header_macro(const char *dir, const char *name)
{
	char *p = tu_path(dir, "exp.h");
	size_t len;
	char *h = tu_read_file(p, &len), pat[128];
	ck_assert_ptr_nonnull(h);
	snprintf(pat, sizeof pat, "#define %s ", name);
	char *at = strstr(h, pat);
	ck_assert_msg(at != NULL, "exp.h has no %s", name);
	size_t v = (size_t)strtoull(at + strlen(pat), NULL, 10);
	free(h);
	free(p);
	return v;
}

/* The ledger's macros are what the compiler lays out: .rodata symbols =
 * FLASH, the writable parameters = RAM - TRAIN_RAM, the training buffers =
 * TRAIN_RAM + TRAIN_BATCH_RAM (-O0 with the batch form; at most TRAIN_RAM at
 * -O2 without it), exp's table the same (exact at -O0),
 * under gcc and clang; and
 * RAM - TRAIN_RAM + FLASH = every parameter and table. */
START_TEST(test_ledger)
{
	static const char *const ccs[] = {"gcc", "clang"};
	char *dir = tu_mkdtemp(), top[4096], *out = NULL;
	ck_assert_ptr_nonnull(getcwd(top, sizeof top));
	for (int d = 0; d < 2; d++) {
		const char *dtype = d ? "float64" : "float32";
		char *yaml = net_yaml(dir, 7, dtype, d, false, "", d ? NESTEROV : "");
		make_weights(yaml, dir, d ? NNCC_NORM_STANDARDIZE : NNCC_NORM_SCALE);
		Ctx ctx;
		ctx_init(&ctx, stderr);
		Model *m = model_load(&ctx, yaml);
		ck_assert_ptr_nonnull(m);
		/* the means (standardize), exp's polynomial (folded into the code
		 * when optimised) */
		size_t rs = d ? 8 : 4, npoly = d ? NNCC_EXP_NPOLY_F64 : NNCC_EXP_NPOLY_F32,
		       tables = (d ? m->inputs * 8 : 0) + npoly * rs;
		for (size_t k = 0; k < 3; k++) {
			int st = tu_run(&out, "cd %s && %s/%s tn.yaml --infer --weights tn.weights "
			                      "--trainable %s -o exp.c",
			                dir, tu_nncc()[0] == '/' ? "" : top, tu_nncc(), modes[k]);
			ck_assert_msg(st == 0, "%s", out);
			free(out);
			size_t ram = header_macro(dir, "TN_RAM_BYTES"),
			       train = header_macro(dir, "TN_TRAIN_RAM_BYTES"),
			       flash = header_macro(dir, "TN_FLASH_BYTES");
			size_t trainable = 0;
			for (size_t p = 0; p < m->n_params; p++)
				trainable += trains(m, modes[k], p) ? rs : 0;
			ck_assert_uint_eq(ram - train, trainable);
			ck_assert_uint_eq(flash + trainable, m->n_params * rs + tables);
			for (size_t c = 0; c < 2; c++) {
				if (tu_run(NULL, "command -v %s", ccs[c]) != 0)
					continue;
				static const char *const opts[] = {"-O0 -DTN_TRAIN_BATCH", "-O2"};
				size_t batch = header_macro(dir, "TN_TRAIN_BATCH_RAM_BYTES");
				ck_assert_uint_eq(batch, trainable);
				for (int o = 0; o < 2; o++) {
					st = tu_run(&out, "cd %s && %s %s %s -c exp.c -o l.o", dir, ccs[c], STRICT,
					            opts[o]);
					ck_assert_msg(st == 0 && out[0] == 0, "%s %s: %s", ccs[c], dtype, out);
					free(out);
					/* The parameters exactly; the training buffers exactly as
					 * declared (-O0), at most that optimised (gcc may turn a
					 * delta buffer into registers). */
					size_t poly = nm_sum(dir, "l.o", "rR", "tn_exp_poly");
					ck_assert_uint_eq(nm_sum(dir, "l.o", "rR", "tn_l") +
					                      nm_sum(dir, "l.o", "rR", "tn_mean"),
					                  flash - npoly * rs);
					ck_assert_uint_eq(nm_sum(dir, "l.o", "rR", "tn_") - poly,
					                  flash - npoly * rs); /* nothing else */
					ck_assert(o == 0 ? poly == npoly * rs : poly <= npoly * rs);
					ck_assert_uint_eq(nm_sum(dir, "l.o", "dDbB", "tn_l"), ram - train);
					size_t bufs = nm_sum(dir, "l.o", "dDbB", "tn_train_");
					if (o == 0)
						ck_assert_uint_eq(bufs, train + batch);
					else
						ck_assert_msg(bufs <= train && bufs > 0, "%s %s: %zu > %zu", ccs[c],
						              opts[o], bufs, train);
					ck_assert_uint_eq(nm_sum(dir, "l.o", "dDbB", "tn_") - bufs, ram - train);
				}
			}
		}
		ctx_fini(&ctx);
		free(yaml);
	}
	tu_scratch_free(dir);
}
END_TEST

/* Header-only: everything static inline, and still strict-clean. */
START_TEST(test_header_only)
{
	char *dir = tu_mkdtemp(), top[4096], *out = NULL;
	ck_assert_ptr_nonnull(getcwd(top, sizeof top));
	char *yaml = net_yaml(dir, 9, "float32", 1, false, "", "");
	make_weights(yaml, dir, NNCC_NORM_SCALE);
	char *u = tu_path(dir, "use.c");
	ck_assert_int_eq(tu_write_text(u, "#include \"tn.h\"\n"
	                                  "int use(const unsigned char *px);\n"
	                                  "int use(const unsigned char *px)\n"
	                                  "{\n\treturn tn_train_step_u8(px, 1, 0.1f) + "
	                                  "tn_predict_u8(px);\n}\n"),
	                 0);
	int st = tu_run(&out, "cd %s && %s/%s tn.yaml --infer --weights tn.weights --header-only "
	                      "--trainable last -o tn.h && %s %s -O2 -c use.c",
	                dir, tu_nncc()[0] == '/' ? "" : top, tu_nncc(), tu_cc(), STRICT);
	ck_assert_msg(st == 0 && !strstr(out, "warning"), "%s", out);
	free(out);
	free(u);
	free(yaml);
	tu_scratch_free(dir);
}
END_TEST

static void expect_error(const char *dir, const char *args, const char *msg)
{
	char *out = NULL, top[4096];
	ck_assert_ptr_nonnull(getcwd(top, sizeof top));
	int st = tu_run(&out, "cd '%s' && %s/%s %s", dir, tu_nncc()[0] == '/' ? "" : top, tu_nncc(),
	                args);
	ck_assert_msg(st == 1, "nncc %s: exit %d, expected 1:\n%s", args, st, out);
	ck_assert_msg(strstr(out, msg) != NULL, "nncc %s: expected \"%s\" in:\n%s", args, msg, out);
	free(out);
	ck_assert_msg(!tu_run(NULL, "cd '%s' && test ! -e out.c && test ! -e out.h", dir),
	              "nncc %s left output files", args);
}

START_TEST(test_errors)
{
	char *dir = tu_mkdtemp();
	char *yaml = net_yaml(dir, 5, "float32", 0, false, "", "");
	make_weights(yaml, dir, NNCC_NORM_SCALE);
	expect_error(dir, "tn.yaml --trainable all -o out.c", "nncc: error: --trainable needs --infer");
	expect_error(dir, "tn.yaml --infer --weights tn.weights --trainable first -o out.c",
	             "nncc: error: unknown --trainable mode 'first' (expected: all, last, bias)");
	expect_error(dir, "tn.yaml --infer --weights tn.weights -o out.c --trainable",
	             "nncc: error: --trainable needs an argument");
	/* A squared-error network: no softmax to train through. */
	char *sq = tu_path(dir, "sq.yaml");
	ck_assert_int_eq(tu_write_text(sq, "network: tn\ninput: 4\nlayers:\n"
	                                   "  - { type: dense, units: 3, activation: sigmoid }\n"
	                                   "loss: squared_error\n"
	                                   "training: { learning_rate: 0.1, batch_size: 1, "
	                                   "iterations: 1 }\n"),
	                 0);
	make_weights(sq, dir, NNCC_NORM_SCALE);
	expect_error(dir, "sq.yaml --infer --weights tn.weights --trainable last -o out.c",
	             "sq.yaml:4:5: error: --trainable: network \"tn\" ends in dense with loss "
	             "squared_error: on-device training needs a softmax output with the "
	             "cross_entropy loss");
	/* Dropout: the trainer's step would drop units the device keeps. */
	free(yaml);
	yaml = net_yaml(dir, 5, "float32", 0, false, "  - { type: dropout, rate: 0.5 }\n", "");
	make_weights(yaml, dir, NNCC_NORM_SCALE);
	expect_error(dir, "tn.yaml --infer --weights tn.weights --trainable bias -o out.c",
	             "error: --trainable: network \"tn\" has a dropout layer: on-device training "
	             "has none");
	free(sq);
	free(yaml);
	tu_scratch_free(dir);
}
END_TEST

static Suite *train_export_suite(void)
{
	Suite *s = suite_create("train_export");
	TCase *tc = tcase_create("train_export");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_header_only);
	tcase_add_test(tc, test_ledger);
	tcase_add_test(tc, test_bits_f32);
	tcase_add_test(tc, test_bits_f64);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(train_export_suite(), NULL);
}
