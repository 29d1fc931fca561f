/*
 * check_emit.c - Check suite for compiler/emit.c and the nncc command line
 * (compiler/main.c).  The generated C of the examples, tests/valid/ and a few
 * networks written here must compile with -std=c99 -Wall -Wextra -pedantic
 * -Werror under gcc AND clang (a missing clang is a failure; the examples'
 * two long gcc -O2 builds are check_reference's and check_golden's), be
 * byte-identical from run to run, and carry the documented header, names and
 * descriptor; the plan (plan.c) prints the decisions it was written from.
 * One float64 trainer is linked with libnncc.a and checked at
 * run time: shape hash, tensors, finite-difference gradients, accumulation,
 * the SGD update and step().  The CLI cases run build/nncc ($NNCC).
 * Runs from the top directory (make test).
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../compiler/nncc.h"
#include "ctxutil.h"
#include "testutil.h"

static const char *const compilers[] = {"gcc", "clang"};
#define STRICT "-std=c99 -Wall -Wextra -pedantic -Werror -O2"

/* Networks written by this suite, besides examples/ and tests/valid/. */
static const struct {
	const char *id, *yaml;
} nets[] = {
	{"acts64",
	 "network: acts64\ninput: 6\ndtype: float64\nlayers:\n"
	 "  - {name: t, type: dense, units: 5, activation: tanh}\n"
	 "  - {name: s, type: dense, units: 4, activation: sigmoid}\n"
	 "  - {name: r, type: dense, units: 7, activation: relu}\n"
	 "  - {name: o, type: dense, units: 3, activation: linear}\n"
	 "  - {type: softmax}\n"
	 "training: {learning_rate: 0.5, batch_size: 4, iterations: 10}\n"},
	{"big_batch",
	 "network: big_batch\ninput: 3\nlayers:\n"
	 "  - {type: dense, units: 2, activation: sigmoid}\n  - {type: softmax}\n"
	 "training: {learning_rate: 0.1, batch_size: 1000, iterations: 1}\n"},
	{"one",
	 "network: one\ninput: 2\nlayers:\n"
	 "  - {name: only, type: dense, units: 2}\n  - {type: softmax}\n"
	 "training: {learning_rate: 0.1, batch_size: 1, epochs: 1}\n"},
	{"cosine",
	 "network: cosine\ninput: 2\nlayers:\n"
	 "  - {type: dense, units: 2}\n  - {type: softmax}\n"
	 "training: {learning_rate: 0.1, batch_size: 1, epochs: 1, clip_norm: 1e-3,\n"
	 "  schedule: {type: cosine, min_lr: 1e-4, t_max: 50, warmup: 5}}\n"},
	{"regress",
	 "network: regress\ninput: 3\nlayers:\n"
	 "  - {type: dense, units: 4, activation: tanh}\n"
	 "  - {name: out, type: dense, units: 2, activation: linear}\nloss: squared_error\n"
	 "training: {learning_rate: 0.1, batch_size: 8, epochs: 1}\n"
	 "data: {format: csv, train: a.csv, test: b.csv, targets: [y1, \"y 2\"], ignore: id,\n"
	 "  delimiter: tab}\n"},
};

/* The directory shared by the suite's files (made once per process). */
static const char *scratch(void)
{
	static char *dir;
	if (!dir)
		dir = tu_mkdtemp();
	return dir;
}

/* Removes the scratch directory at the end of a test that passed (Check
 * runs each test in its own process; a failing one keeps its files). */
static void scratch_rm(void)
{
	ck_assert_int_eq(tu_scratch_cleanup(scratch(), 0), 0);
}

/* Path of this suite's YAML for nets[i], written on first use. */
static char *net_path(size_t i)
{
	char name[64];
	snprintf(name, sizeof name, "%s.yaml", nets[i].id);
	char *p = tu_path(scratch(), name);
	ck_assert_int_eq(tu_write_text(p, nets[i].yaml), 0);
	return p;
}

/* Loads path and emits its trainer into out (the Run keeps the Model). */
static const Model *emit_file(Run *r, const char *path, Buf *out)
{
	const Model *m = model_load(&r->ctx, path);
	ck_assert_msg(m != NULL, "%s does not load: %s", path, run_out(r));
	EmitOptions opt = {.command_line = "nncc test", .test_accuracy = NAN};
	buf_init(out);
	ck_assert_msg(emit_trainer(&r->ctx, m, &opt, out) == 0, "%s: %s", path, run_out(r));
	return m;
}

/* Every YAML the compile test covers: examples/, tests/valid/, nets[]. */
static size_t all_inputs(char **paths, size_t max)
{
	size_t n = 0;
	static const char *const dirs[] = {"examples", "tests/valid"};
	for (size_t d = 0; d < 2; d++) {
		DIR *dp = opendir(dirs[d]);
		ck_assert_msg(dp != NULL, "cannot open %s (run from the top directory)", dirs[d]);
		struct dirent *de;
		while ((de = readdir(dp)) != NULL) {
			size_t len = strlen(de->d_name);
			if (len > 5 && strcmp(de->d_name + len - 5, ".yaml") == 0) {
				ck_assert_uint_lt(n, max);
				paths[n++] = tu_path(dirs[d], de->d_name);
			}
		}
		closedir(dp);
	}
	for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
		ck_assert_uint_lt(n, max);
		paths[n++] = net_path(i);
	}
	return n;
}

static void need_compiler(const char *cc)
{
	char *out = NULL;
	int rc = tu_run(&out, "%s --version", cc);
	ck_assert_msg(rc == 0, "%s is needed to test the generated C and was not found "
	                       "(install it: tools/install-deps.sh): %s", cc, out);
	free(out);
}

/* ---- the generated C compiles cleanly and is deterministic */

/* Whether $CC, which check_reference and check_golden compile the
 * examples with, is gcc (its --version names the FSF; clang's does not). */
static int cc_is_gcc(void)
{
	static int known = -1;
	if (known < 0) {
		char *out = NULL;
		known = tu_run(&out, "%s --version", tu_cc()) == 0 && out &&
		        strstr(out, "Free Software Foundation") != NULL;
		free(out);
	}
	return known;
}

/* The input whose trainers clang also compiles through its optimiser and
 * code generator (every input goes through clang's front end and IR
 * generation): f32 Adam with dropout, the fused update's widest copy. */
#define CLANG_FULL "examples/mnist-mlp.yaml"

START_TEST(test_compiles_strict)
{
	char *paths[64];
	size_t n = all_inputs(paths, 64);
	ck_assert_uint_ge(n, 8);
	int clang_full = 0;
	for (size_t c = 0; c < 2; c++)
		need_compiler(compilers[c]);
	for (size_t i = 0; i < n; i++) {
		Run r1, r2;
		Buf a, b;
		run_init(&r1);
		run_init(&r2);
		emit_file(&r1, paths[i], &a);
		emit_file(&r2, paths[i], &b);
		ck_assert_msg(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
		              "%s: two emissions differ", paths[i]);
		char name[32];
		snprintf(name, sizeof name, "gen%zu.c", i);
		char *c_path = tu_path(scratch(), name);
		ck_assert_int_eq(tu_write(c_path, a.data, a.len), 0);
		/* -DNNCC_NO_MAIN only drops main(): once is enough.  -march=native
		 * builds the AVX-512 path where the machine has it, no -march the
		 * run-time dispatch build (every instruction set's copy), and
		 * -DKERN_NO_DISPATCH the portable fallback alone: all must compile.
		 * gcc's flow warnings need its optimiser, so gcc compiles at -O2.
		 * clang's warnings come from its front end, and the always_inline
		 * kernels' target checks from its IR generation, so clang stops
		 * there (-disable-llvm-passes, -emit-llvm): 0.6 s instead of 14-19 s
		 * a trainer.  For CLANG_FULL it runs the optimiser and the back
		 * end too.  A sanitizer build (make SAN=1) checks the emitter's
		 * memory; the compilers' flow warnings on the same text are the
		 * plain build's job, so there gcc's two 11-22 s compiles stop at
		 * its front end (docs/testing.md#how-it-runs-and-stays-fast).
		 * An example's two long gcc compiles are other suites' builds
		 * under the same flags, float32 and float64, when $CC is gcc (as
		 * in make test): check_reference's (-march=native) and
		 * check_golden's (the dispatch build, main() included); then gcc
		 * stops at its front end for them here too.
		 * tests/valid/layers64.yaml (NNCC_MAX_LAYERS layers of every width
		 * 2..64) keeps gcc's dispatch build, every instruction set's copy
		 * of every tail (77 s of gcc), and only the front end of its
		 * AVX-512 build (36 s; the same copy is in the dispatch build). */
		const int full = strcmp(paths[i], CLANG_FULL) == 0;
		const int example = strncmp(paths[i], "examples/", 9) == 0 && cc_is_gcc();
		const int deep = strcmp(paths[i], "tests/valid/layers64.yaml") == 0;
		clang_full += full;
		for (size_t c = 0; c < 2; c++)
			for (int v = 0; v < 3 - (int)c; v++) {
				static const char *const variant[3] = {"-march=native", "",
				                                       "-DNNCC_NO_MAIN -DKERN_NO_DISPATCH"};
				const char *stop = "";
				if (c == 0 && (TU_SANITIZED || example) && v < 2)
					stop = "-fsyntax-only";
				else if (c == 0 && deep && v == 0)
					stop = "-fsyntax-only";
				else if (c == 1 && (!full || TU_SANITIZED))
					stop = "-Xclang -disable-llvm-passes -emit-llvm";
				char *out = NULL;
				int rc = tu_run(&out, "%s " STRICT " %s %s -Iruntime -c %s -o %s.o",
				                compilers[c], variant[v], stop, c_path, c_path);
				ck_assert_msg(rc == 0, "%s (from %s) does not compile with %s " STRICT
				              " %s %s:\n%s", c_path, paths[i], compilers[c], variant[v],
				              stop, out);
				free(out);
			}
		free(c_path);
		buf_fini(&a);
		buf_fini(&b);
		run_fini(&r1);
		run_fini(&r2);
	}
	ck_assert_msg(clang_full == 1, "%s is not among the inputs", CLANG_FULL);
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	scratch_rm();
}
END_TEST

/* ---- what the generated file says */

static void assert_has(const Buf *b, const char *needle)
{
	ck_assert_msg(strstr(b->data, needle) != NULL, "generated code lacks:\n%s", needle);
}

/* first comes before second in b, both present. */
static void assert_order(const Buf *b, const char *first, const char *second)
{
	const char *f = strstr(b->data, first), *s = strstr(b->data, second);
	ck_assert_msg(f && s && f < s, "expected \"%s\" before \"%s\"", first, second);
}

/* A regression reads real targets: KERN_TARGET in the loss's gradient, the
 * targets' loss, n_targets and the CSV spec in the descriptor. */
START_TEST(test_regression_text)
{
	Run r;
	Buf b;
	run_init(&r);
	char *path = net_path(4);
	emit_file(&r, path, &b);
	assert_has(&b, "\t\t\tg2[s][i] = a2[s][i] - KERN_TARGET(s, i);\n");
	assert_has(&b, "static double loss(size_t n, const void *targets)\n");
	assert_has(&b, "\t.n_targets = 2, /* 0: labels; > 0: regression targets */\n");
	assert_has(&b, "static const char *const csv_targets[2] = {\n\t\"y1\",\n\t\"y 2\",\n};\n");
	assert_has(&b, "\t\t.format = NNCC_FORMAT_CSV,\n\t\t.csv = {\n\t\t\t.delimiter = '\\t',\n");
	assert_has(&b, "\t\t\t.n_targets = 2,\n\t\t\t.targets = csv_targets,\n");
	ck_assert_ptr_null(strstr(b.data, "KERN_LABEL"));
	buf_fini(&b);
	run_fini(&r);
	free(path);
	scratch_rm();
}
END_TEST

START_TEST(test_sgd20_text)
{
	Run r;
	Buf b;
	run_init(&r);
	const Model *m = emit_file(&r, "examples/sgd20.yaml", &b);
	char head[300];
	snprintf(head, sizeof head,
	         "/*\n * mnist_sgd20: a trainer generated by nncc %s from examples/sgd20.yaml\n"
	         " * (sha256 %s).  Do not edit: regenerate.\n * Command: nncc test\n",
	         NNCC_VERSION, m->sha256);
	ck_assert_msg(strncmp(b.data, head, strlen(head)) == 0, "header:\n%.400s", b.data);
	assert_has(&b, " *   #  name    kind      in -> out  activation  params\n"
	               " *   1  hidden  dense    784 -> 50   sigmoid      39250\n"
	               " *   2  out     dense     50 -> 10   linear         510\n"
	               " *   3  layer3  softmax   10 -> 10                    0\n"
	               " *                                        total   39760\n");
	assert_has(&b, "#define KERN_F32 1\n#include \"nncc_simd.h\"");
	assert_has(&b, "#include \"nncc.h\"");
	assert_has(&b, "#include \"nncc_kern.h\"");
	assert_has(&b, "#define L1_IN 784\n");
	assert_has(&b, "#define MAX_BATCH 20\n");
	assert_has(&b, "#define N_PARAMS 39760\n");
	assert_has(&b, "#define L2_W 39250 /* W2 (50, 10) in params */\n"
	               "#define L2_B 39750 /* b2 (1, 10) in params */\n");
	/* the buffers processes may share: page-aligned, a page of slack, listed */
	assert_has(&b, "static real params[N_PARAMS + KERN_SLACK(1)] KERN_SHARED;");
	assert_has(&b, "static real a1[MAX_BATCH + KERN_SLACK(L1_OUT)][L1_OUT] KERN_SHARED; "
	               "/* (B, 50) */\n");
	assert_has(&b, "static const nncc_region_t shared_regions[N_SHARED] = {\n"
	               "\t{params, N_PARAMS * sizeof(real), sizeof params}, "
	               "{a1, MAX_BATCH * sizeof a1[0], sizeof a1},\n");
	assert_has(&b, "#define N_SHARED_PARAMS 1\n");
	assert_has(&b, "static double step_part(size_t n, const void *x, const void *y, "
	               "const nncc_update_t *u,\n");
	assert_has(&b, "/* ==== layer 1 \"hidden\": dense 784->50, sigmoid (examples/sgd20.yaml:8:5) */\n");
	assert_has(&b, "/* ==== layer 3 \"layer3\": softmax 10->10 (examples/sgd20.yaml:16:5) */\n");
	/* each layer's formula and shapes next to its call; numbers in comments */
	assert_has(&b, " *   a1[s][i] = sigmoid(sum_j x[s][j] W1[j][i] + b1[i])\n"
	               " *   x (B, 784), W1 (784, 50), b1 (50) -> a1 (B, 50);\n");
	assert_has(&b, " *   d1[s][i] = sigmoid'(a1[s][i]) * g1[s][i],   sigmoid'(y) = y * (1 - y) */");
	assert_has(&b, " *   g2[s][i] = dL/da2[s][i] = a3[s][i] - onehot(y[s])[i] */");
	ck_assert_msg(!strstr(b.data, "{{") && !strstr(b.data, " x L1_FWD_NB"),
	              "a placeholder or a macro name in a comment");
	/* forward in layer order, backward in reverse, in the file and the calls */
	assert_order(&b, "void l1_hidden_forward(", "void l2_out_forward(");
	assert_order(&b, "void l3_softmax_backward(", "void l2_out_backward(");
	assert_order(&b, "void l2_out_backward(", "void l1_hidden_backward(");
	assert_has(&b, "\tl1_hidden_forward(r0, r1);\n\tl2_out_forward(r0, r1);\n"
	               "\tl3_softmax_forward(r0, r1);\n");
	assert_has(&b, "\tl3_softmax_backward(r0, r1, tid);\n\tl2_out_backward(r0, r1, tid);\n"
	               "\tl1_hidden_backward(r0, r1, tid);\n");
	assert_has(&b, "\tif (unit < L2_DW_UNITS) {\n\t\tl2_out_gradient(unit);\n\t\treturn;\n\t}\n"
	               "\tunit -= L2_DW_UNITS;\n\tl1_hidden_gradient(unit);\n");
	/* tiles and thread policy from the phase-1 table (docs/kernels.md) */
	assert_has(&b, "#define L1_FWD_MR 10\n#define L1_FWD_NB 2\n#define L1_DW_MR 8\n"
	               "#define L1_DW_NB 2\n");
	assert_has(&b, "#define POOL_ROWS 0\n#define POOL_WEIGHTS 0\n");
	/* the optimizer, and its fused epilogue before the kernels */
	assert_has(&b, "#define OPT_STATE 0\n#define OPT_STRIDE N_PARAMS\n");
	assert_order(&b, "opt_vector(", "#include \"nncc_kern.h\"");
	assert_has(&b, "\t.config = {\n\t\t.learning_rate = 0.3,\n"
	               "\t\t.schedule = { .type = NNCC_SCHEDULE_CONSTANT, .warmup = 0 },\n"
	               "\t\t.clip_norm = 0, /* 0: no clipping */\n"
	               "\t\t.validation = 0, /* held out: 0 none, >= 1 a count, < 1 a fraction */\n"
	               "\t\t.patience = 0, /* early stopping: 0 = off */\n"
	               "\t\t.metric = NNCC_METRIC_VAL_LOSS,\n\t\t.min_delta = 0,\n\t\t.batch_size = 20,\n"
	               "\t\t.iterations = 30000,\n");
	assert_has(&b, "\t.optimizer = \"sgd\",\n\t.n_hparams = 2,\n");
	assert_has(&b, "\t{\"hidden\", \"dense\", \"sigmoid\", L1_IN, L1_OUT, 2, l1_tensors},\n");
	assert_has(&b, "\t.set_threads = set_threads,");
	/* No dropout, no mask code. */
	ck_assert_ptr_null(strstr(b.data, "mask_key"));
	ck_assert_ptr_null(strstr(b.data, "KernMask"));
	assert_has(&b, "#ifndef NNCC_NO_MAIN\nint main(int argc, char **argv)\n{\n"
	               "\treturn nncc_main(argc, argv, &mnist_sgd20_model);\n}\n#endif\n");
	/* The network, not the machinery: the file a learner opens stays short.
	 * (460 until the kernel section became one copy per instruction set:
	 * the self-includes, the per-copy names and the shared part's brackets
	 * take ~45 lines; the dispatch itself is in runtime/nncc_dispatch.h;
	 * 515 until the four KERN_ROWS_* below; 519 until step_part and the
	 * shared regions' table, for ranks sharing a step.) */
	size_t lines = 0;
	for (const char *q = b.data; *q; q++)
		lines += *q == '\n';
	ck_assert_msg(lines <= 556, "examples/sgd20.yaml's trainer is %zu lines (aim: <= 556)", lines);
	/* The rows each block kernel spells: the most of any tile it runs.
	 * Forward: 10 and 20 (FWD_MR); weight gradient: layer 1's 8 (DW_MR,
	 * 50 outputs) and layer 2's 10 outputs (one vector: kern_dwt_block);
	 * input gradient: layer 2's 5 (DX_MR). */
	assert_has(&b, "#define KERN_ROWS_FWD 20 /* the most rows of a tile, per kernel: "
	               "nncc_kern.h */\n#define KERN_ROWS_DW 8\n#define KERN_ROWS_DWT 10\n"
	               "#define KERN_ROWS_DX 5\n");
	/* No absolute path of ours leaks in. */
	char cwd[PATH_MAX];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	ck_assert_msg(!strstr(b.data, cwd), "the output names the working directory");
	buf_fini(&b);
	run_fini(&r);
}
END_TEST

/* The schedule and the clipping reach the descriptor's config: the type
 * and each of its keys, by name. */
START_TEST(test_schedule_config)
{
	Run r;
	Buf b;
	run_init(&r);
	emit_file(&r, "tests/valid/full.yaml", &b);
	assert_has(&b, "\t\t.schedule = { .type = NNCC_SCHEDULE_STEP, .gamma = 0.5, "
	               ".step_size = 3, .unit = NNCC_UNIT_ITERATIONS, .warmup = 7 },\n"
	               "\t\t.clip_norm = 2.5, /* 0: no clipping */\n");
	buf_fini(&b);
	char *p = net_path(3);
	emit_file(&r, p, &b);
	assert_has(&b, "\t\t.schedule = { .type = NNCC_SCHEDULE_COSINE, .min_lr = 0.0001, "
	               ".t_max = 50, .warmup = 5 },\n\t\t.clip_norm = 0.001,");
	free(p);
	buf_fini(&b);
	run_fini(&r);
	scratch_rm();
}
END_TEST

/* A trainer with dropout keys its masks in step() and has mask_key. */
START_TEST(test_dropout_masks)
{
	Run r;
	Buf b;
	run_init(&r);
	emit_file(&r, "tests/valid/dropout.yaml", &b);
	assert_has(&b, "\tkern_job.mask = (KernMask){u->seed, u->step, 0};\n"
	               "\tkern_run_rows(step_rows, n, ROWS_PER_UNIT, POOL_ROWS, THREADS);\n"
	               "\tkern_job.mask.step = 0;\n");
	assert_has(&b, "static void mask_key(uint64_t seed, uint64_t step, size_t first)\n");
	assert_has(&b, "\t.set_threads = set_threads,\n\t.mask_key = mask_key, /* dropout: the masks' key */\n};\n");
	buf_fini(&b);
	run_fini(&r);
	scratch_rm();
}
END_TEST

/* A loss that is not folded into its output layer: the squared error's
 * gradient function writes g2, the output layer's backward takes it (times
 * sigmoid'), and the row pass calls it first; the descriptor names the loss
 * and the config the init rule; each tensor carries its activation's gain. */
START_TEST(test_squared_error_text)
{
	Run r;
	Buf b;
	run_init(&r);
	emit_file(&r, "examples/sigmoid50-squared.yaml", &b);
	assert_has(&b, " *            L = sum_s 1/2 sum_i (a[s][i] - onehot(y_s)[i])^2; "
	               "dL/da = a - onehot(y)\n");
	assert_has(&b, "static real g2[MAX_BATCH + KERN_SLACK(L2_OUT)][L2_OUT] KERN_SHARED; /* (B, 10) */\n");
	assert_has(&b, "KERN_LAYER void loss_backward(size_t r0, size_t r1)\n{\n"
	               "\tfor (size_t s = r0; s < r1; s++)\n\t\tfor (size_t i = 0; i < L2_OUT; i++)\n"
	               "\t\t\tg2[s][i] = a2[s][i] - (i == (size_t)KERN_LABEL(s) ? (real)1 : (real)0);\n");
	assert_has(&b, "kern_deriv(&d2[0][0], &a2[0][0], &g2[0][0], L2_OUT, ACT_SIGMOID, r0, r1);");
	assert_has(&b, "\tloss_backward(r0, r1);\n\tl2_out_backward(r0, r1, tid);\n"
	               "\tl1_hidden_backward(r0, r1, tid);\n");
	assert_has(&b, "\t{\"W\", L1_W, 39200, 784, 50, 0, 784, 50, 1},\n");
	assert_has(&b, "\t.loss_name = \"squared_error\",\n");
	assert_has(&b, "\t.n_targets = 0, /* 0: labels; > 0: regression targets */\n");
	assert_has(&b, "\t\t.init = NNCC_INIT_NORMAL,\n\t\t.init_scale = 0.1,\n"
	               "\t\t.init_biases = 1,\n");
	buf_fini(&b);
	run_fini(&r);
	scratch_rm();
}
END_TEST

/* The plan of the trainer: names, tiles, units, pooling, as text. */
START_TEST(test_plan)
{
	Run r;
	run_init(&r);
	const Model *m = model_load(&r.ctx, "examples/sgd20.yaml");
	ck_assert_ptr_nonnull(m);
	const Plan *p = plan_build(&r.ctx, m);
	ck_assert_ptr_nonnull(p);
	Buf b;
	buf_init(&b);
	plan_print(p, &b);
	assert_has(&b, "network mnist_sgd20: float32, max_batch 20, optimizer sgd (0 state slots)\n"
	               "rows: 20 per unit, pooled no (1.61e+06 FLOP); weights: 2 units, pooled no "
	               "(1.59e+06 FLOP); pack 640\n"
	               "layer 1 l1_hidden: dense 784->50, sigmoid; a a1, g g1, d d1, input x, "
	               "input gradient -, weight units 1\n"
	               "  L1_W = 0 (W 784 x 50), state NULL\n"
	               "  L1_B = 39200 (b 1 x 50), state NULL\n"
	               "  L1_FWD_MR = 10\n");
	assert_has(&b, "layer 2 l2_out: dense 50->10, linear; a a2, g g2, d d2, input a1, "
	               "input gradient g1, weight units 1\n");
	assert_has(&b, "  L2_DW_MR = 32\n");    /* j-vectorised: OUT <= 16 */
	assert_has(&b, "  L2_DX_MR = 5\n  L2_DX_NB = 4\n");
	assert_has(&b, "layer 3 l3_softmax: softmax 10->10; a a3, g -, d -, input a2, "
	               "input gradient g2, weight units 0\n");
	buf_fini(&b);
	/* a big network pools both passes and cuts the weight pass in units of 8 tiles */
	char *path = tu_path(scratch(), "wide.yaml");
	ck_assert_int_eq(tu_write_text(path, "network: wide\ninput: 784\nlayers:\n"
	                 "  - {type: dense, units: 800, activation: relu}\n"
	                 "  - {type: dense, units: 10}\n  - {type: softmax}\n"
	                 "training: {learning_rate: 0.1, batch_size: 64, iterations: 1}\n"), 0);
	m = model_load(&r.ctx, path);
	ck_assert_ptr_nonnull(m);
	p = plan_build(&r.ctx, m);
	ck_assert(p && p->pool_rows && p->pool_weights && p->rows_per_unit == 16);
	ck_assert_uint_eq(p->layers[0].t.dw_tpu, 8);
	ck_assert_uint_eq(p->weight_units, p->layers[0].units + p->layers[1].units);
	free(path);
	run_fini(&r);
	scratch_rm();
}
END_TEST

static void assert_max_batch(const char *path, const char *expect)
{
	Run r;
	Buf b;
	run_init(&r);
	emit_file(&r, path, &b);
	assert_has(&b, expect);
	buf_fini(&b);
	run_fini(&r);
}

START_TEST(test_max_batch)
{
	assert_max_batch("examples/softmax.yaml", "#define MAX_BATCH 256\n");
	char *p = net_path(1);
	assert_max_batch(p, "#define MAX_BATCH 256\n");
	free(p);
	p = net_path(2);
	assert_max_batch(p, "#define MAX_BATCH 1\n");
	free(p);
	p = net_path(0);
	assert_max_batch(p, "#define KERN_F64 1\n#include \"nncc_simd.h\" /* real = double,");
	free(p);
	scratch_rm();
}
END_TEST

/* Names and paths are the user's: they must not break comments or strings. */
START_TEST(test_hostile_names)
{
	Run r;
	Buf b;
	run_init(&r);
	char *p = net_path(0);
	Model *m = (Model *)model_load(&r.ctx, p);
	ck_assert_ptr_nonnull(m);
	m->path = "dir */ x\"y\\z?\?/*.yaml";
	m->layers[0].name = "a*/b\"c\\d\n";
	m->data.dir = "we\"ird\\dir";
	EmitOptions opt = {.command_line = "nncc '*/' x", .test_accuracy = NAN};
	buf_init(&b);
	ck_assert_int_eq(emit_trainer(&r.ctx, m, &opt, &b), 0);
	assert_has(&b, "\t{\"a*/b\\\"c\\\\d\\012\", \"dense\",");
	assert_has(&b, ".source = \"dir */ x\\\"y\\\\z\\?\\?/*.yaml\",");
	/* Both comment ends are cut: a comment start inside a comment is a
	 * -Wcomment warning (issue 14, defect 5). */
	assert_has(&b, " from dir * / x\"y\\z? ?/ *.yaml\n");
	assert_has(&b, "/* ==== layer 1 \"a* /b\"c\\d?\": dense 6->5, tanh (");
	assert_has(&b, "/* layer 1 \"a* /b\"c\\d?\" forward, rows");
	char *c_path = tu_path(scratch(), "hostile.c");
	ck_assert_int_eq(tu_write(c_path, b.data, b.len), 0);
	char *out = NULL;
	int rc = tu_run(&out, "%s " STRICT " -Iruntime -c %s -o %s.o", tu_cc(), c_path, c_path);
	ck_assert_msg(rc == 0, "%s:\n%s", c_path, out);
	free(out);
	free(c_path);
	free(p);
	buf_fini(&b);
	run_fini(&r);
	scratch_rm();
}
END_TEST

/* The emitter refuses shapes its templates do not handle (model.c rejects
 * them first; this is the emitter's own guard). */
START_TEST(test_untrainable_shape)
{
	Run r;
	Buf b;
	run_init(&r);
	char *p = net_path(2);
	Model *m = (Model *)model_load(&r.ctx, p);
	ck_assert_ptr_nonnull(m);
	EmitOptions opt = {.test_accuracy = NAN};
	Layer swapped[2] = {m->layers[1], m->layers[0]};
	m->layers = swapped;
	buf_init(&b);
	ck_assert_int_eq(emit_trainer(&r.ctx, m, &opt, &b), -1);
	char expect[512];
	snprintf(expect, sizeof expect,
	         "%s:%d:%d: error: the trainer cannot have a softmax layer first\n", p,
	         swapped[0].loc.line, swapped[0].loc.col);
	ck_assert_msg(strncmp(run_out(&r), expect, strlen(expect)) == 0, "got: %s",
	              run_out(&r));
	free(p);
	buf_fini(&b);
	run_fini(&r);
	scratch_rm();
}
END_TEST

/* ---- a generated float64 trainer at run time */

static const char harness[] =
	"#include <math.h>\n"
	"#include <stdio.h>\n"
	"#include <string.h>\n"
	"#include \"nncc.h\"\n"
	"extern const nncc_model_t acts64_model;\n"
	"#define N 3\n"
	"static double g[4096], p0[4096];\n"
	"#define FAIL(...) do { printf(__VA_ARGS__); printf(\"\\n\"); return 1; } while (0)\n"
	"int main(void)\n"
	"{\n"
	"	const nncc_model_t *m = &acts64_model;\n"
	"	double *params = m->params, *grads = m->grads, x[N][6];\n"
	"	int32_t y[N] = {0, 2, 1};\n"
	"	size_t P = m->n_params, L = m->n_layers;\n"
	"	if (m->shape_hash != nncc_shape_hash(m)) FAIL(\"shape hash differs\");\n"
	"	if (m->dtype != NNCC_F64 || m->max_batch != 4 || P > 4096) FAIL(\"descriptor\");\n"
	"	for (size_t k = 0; k < P; k++) params[k] = sin((double)k * 1.7) * 0.5;\n"
	"	for (int b = 0; b < N; b++) for (int j = 0; j < 6; j++) x[b][j] = cos((b * 7 + j) * 0.9);\n"
	"	m->forward(N, x);\n"
	"	double loss = m->loss(N, y);\n"
	"	double *o = m->tensor(NNCC_T_ACT, L - 1);\n"
	"	for (int b = 0; b < N; b++) { double s = 0; for (int i = 0; i < 3; i++) s += o[b * 3 + i];\n"
	"		if (fabs(s - 1) > 1e-12) FAIL(\"softmax row %d sums to %g\", b, s); }\n"
	"	if (m->tensor(NNCC_T_DELTA, L - 1) || m->tensor(NNCC_T_ACT, L) || !m->tensor(NNCC_T_DELTA, 0))\n"
	"		FAIL(\"tensor()\");\n"
	"	m->backward(N, x, y, 0);\n"
	"	memcpy(g, grads, P * sizeof *g);\n"
	"	size_t nonzero = 0;\n"
	"	for (size_t k = 0; k < P; k++) {\n"
	"		double h = 1e-5, v = params[k];\n"
	"		params[k] = v + h; m->forward(N, x); double lp = m->loss(N, y);\n"
	"		params[k] = v - h; m->forward(N, x); double lm = m->loss(N, y);\n"
	"		params[k] = v;\n"
	"		double fd = (lp - lm) / (2 * h);\n"
	"		if (fabs(fd - g[k]) > 1e-6 * (1 + fabs(fd)))\n"
	"			FAIL(\"param %zu: gradient %.10g, finite difference %.10g\", k, g[k], fd);\n"
	"		nonzero += g[k] != 0;\n"
	"	}\n"
	"	if (nonzero < P / 2) FAIL(\"only %zu of %zu gradients are non-zero\", nonzero, P);\n"
	"	m->forward(N, x);\n"
	"	m->backward(N, x, y, 1);\n"
	"	for (size_t k = 0; k < P; k++) if (fabs(grads[k] - 2 * g[k]) > 1e-12 * (1 + fabs(g[k])))\n"
	"		FAIL(\"accumulate: grads[%zu] = %g, expected %g\", k, grads[k], 2 * g[k]);\n"
	"	memcpy(p0, params, P * sizeof *p0);\n"
	"	nncc_update_t u4 = {0.5, 4, 1, NULL}, uN = {0.5, N, 1, NULL};\n"
	"	m->update(&u4);\n"
	"	for (size_t k = 0; k < P; k++) if (params[k] != fma(-(0.5 / 4), grads[k], p0[k]))\n"
	"		FAIL(\"update: params[%zu]\", k);\n"
	"	memcpy(params, p0, P * sizeof *p0);\n"
	"	double sl = m->step(N, x, y, &uN);\n"
	"	if (sl != loss) FAIL(\"step loss %.17g, loss %.17g\", sl, loss);\n"
	"	for (size_t k = 0; k < P; k++) if (fabs(params[k] - (p0[k] - (0.5 / N) * g[k])) > 1e-15)\n"
	"		FAIL(\"step: params[%zu]\", k);\n"
	"	printf(\"ok %zu params\\n\", P);\n"
	"	return 0;\n"
	"}\n";

START_TEST(test_runtime_f64)
{
	Run r;
	Buf b;
	run_init(&r);
	char *p = net_path(0);
	emit_file(&r, p, &b);
	char *c_path = tu_path(scratch(), "acts64.c");
	char *h_path = tu_path(scratch(), "harness.c");
	char *exe = tu_path(scratch(), "harness");
	ck_assert_int_eq(tu_write(c_path, b.data, b.len), 0);
	ck_assert_int_eq(tu_write_text(h_path, harness), 0);
	char *out = NULL;
	int rc = tu_run(&out, "%s -std=c99 -O2 -DNNCC_NO_MAIN $(%s --cflags) %s %s $(%s --libs) -o %s",
	                tu_cc(), tu_nncc(), c_path, h_path, tu_nncc(), exe);
	ck_assert_msg(rc == 0, "harness does not build:\n%s", out);
	free(out);
	rc = tu_run(&out, "%s", exe);
	ck_assert_msg(rc == 0 && strncmp(out, "ok ", 3) == 0, "harness (%s): %s", exe, out);
	free(out);
	free(exe);
	free(h_path);
	free(c_path);
	free(p);
	buf_fini(&b);
	run_fini(&r);
	scratch_rm();
}
END_TEST

/* ---- the command line */

static int nncc(char **out, const char *args)
{
	return tu_run(out, "%s %s", tu_nncc(), args);
}

static void expect_cli(const char *args, int status, const char *output)
{
	char *out = NULL;
	int rc = nncc(&out, args);
	ck_assert_msg(rc == status, "nncc %s: status %d, expected %d; output: %s", args, rc,
	              status, out);
	ck_assert_msg(strcmp(out, output) == 0, "nncc %s printed:\n%s\nexpected:\n%s", args, out,
	              output);
	free(out);
}

START_TEST(test_cli_info)
{
	char cwd[PATH_MAX], bin[PATH_MAX], expect[PATH_MAX + 64];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	ck_assert_ptr_nonnull(realpath(tu_nncc(), bin));
	*strrchr(bin, '/') = 0;
	expect_cli("--version", 0, "nncc " NNCC_VERSION "\n");
	snprintf(expect, sizeof expect, "-I%s/runtime -ffp-contract=off\n", cwd);
	expect_cli("--cflags", 0, expect);
	char *out = NULL;
	ck_assert_int_eq(nncc(&out, "--libs"), 0);
	snprintf(expect, sizeof expect, "%s/libnncc.a -lcsv -lz -lm -lpthread", bin);
	ck_assert_msg(strncmp(out, expect, strlen(expect)) == 0, "--libs: %s", out);
	free(out);
	ck_assert_int_eq(nncc(&out, "--help"), 0);
	ck_assert(strncmp(out, "usage: nncc [options] NET.yaml\n", 31) == 0);
	free(out);
}
END_TEST

START_TEST(test_cli_errors)
{
	expect_cli("", 1, "nncc: error: no input file (usage: nncc [options] NET.yaml)\n");
	expect_cli("--frobnicate x.yaml", 1,
	           "nncc: error: unknown option '--frobnicate' (nncc --help lists them)\n");
	expect_cli("a.yaml b.yaml", 1, "nncc: error: more than one input file ('a.yaml' and "
	                               "'b.yaml')\n");
	expect_cli("examples/sgd20.yaml -o", 1, "nncc: error: -o needs an argument\n");
	expect_cli("--weights w.bin examples/sgd20.yaml", 1, "nncc: error: --weights needs --infer\n");
	expect_cli("--header-only examples/sgd20.yaml", 1,
	           "nncc: error: --header-only needs --infer\n");
	expect_cli("--cflags examples/sgd20.yaml", 1,
	           "nncc: error: unexpected input file 'examples/sgd20.yaml' with --cflags\n");
	expect_cli("--check --libs", 1, "nncc: error: --libs cannot be combined with other modes\n");
	expect_cli("examples/sgd20.yaml -o /nonexistent-dir/x.c", 1,
	           "nncc: error: cannot write '/nonexistent-dir/x.c': No such file or directory\n");
	expect_cli("examples/sgd20.yaml --infer --weights w.bin -o x.txt", 1,
	           "nncc: error: --infer: -o 'x.txt' must end in .c (the header is named after it)\n");
	expect_cli("examples/sgd20.yaml --infer --weights w.bin -o -", 1,
	           "nncc: error: --infer writes two files: -o must name the .c file, not stdout "
	           "(or add --header-only)\n");
	expect_cli("--check examples/sgd20.yaml", 0, "");
	expect_cli("--plan examples/sgd20.yaml --infer", 1,
	           "nncc: error: --plan is the trainer's plan: it cannot be combined with --infer\n");
	expect_cli("--plan --check examples/sgd20.yaml", 1,
	           "nncc: error: --check cannot be combined with other modes\n");
}
END_TEST

/* --plan prints the plan_print text of the YAML and writes nothing. */
START_TEST(test_cli_plan)
{
	char *out = NULL;
	int rc = nncc(&out, "--plan examples/xor.yaml");
	ck_assert_int_eq(rc, 0);
	static const char head[] = "network xor: float32, max_batch 16, optimizer sgd";
	ck_assert_msg(strncmp(out, head, strlen(head)) == 0 &&
	              strstr(out, "\nlayer 2 l2_out: dense 8->2, linear;") &&
	              strstr(out, "  L2_DX_NB = 1\n"), "%s", out);
	free(out);
	ck_assert_int_eq(nncc(&out, "--help"), 0);
	ck_assert_msg(strstr(out, "  --plan ") && !strstr(out, "--header-only) in the current"),
	              "%s", out);
	free(out);
}
END_TEST

/* A failed run leaves an existing output untouched and no temporary file. */
START_TEST(test_cli_atomic)
{
	char *dir = tu_mkdtemp();
	char *bad = tu_path(dir, "bad.yaml"), *out_c = tu_path(dir, "out.c");
	ck_assert_int_eq(tu_write_text(bad, "network: bad\ninput: 0\n"), 0);
	ck_assert_int_eq(tu_write_text(out_c, "keep me\n"), 0);
	char args[8192], *out = NULL;
	snprintf(args, sizeof args, "%s -o %s", bad, out_c);
	ck_assert_int_eq(nncc(&out, args), 1);
	ck_assert_msg(strstr(out, "error") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(tu_run(&out, "cat %s", out_c), 0);
	ck_assert_str_eq(out, "keep me\n");
	free(out);
	ck_assert_uint_eq(tu_dir_entries(dir), 2);
	/* --check writes nothing, even for a good file. */
	snprintf(args, sizeof args, "--check examples/sgd20.yaml -o %s/x.c", dir);
	ck_assert_int_eq(nncc(NULL, args), 0);
	ck_assert_uint_eq(tu_dir_entries(dir), 2);
	/* A good run replaces it, with a normal file mode. */
	snprintf(args, sizeof args, "examples/sgd20.yaml -o %s", out_c);
	ck_assert_int_eq(nncc(NULL, args), 0);
	ck_assert_int_eq(tu_run(&out, "head -c 2 %s; test -r %s && ls -l %s | cut -c1-4", out_c,
	                        out_c, out_c), 0);
	ck_assert_str_eq(out, "/*-rw-\n");
	free(out);
	ck_assert_uint_eq(tu_dir_entries(dir), 2);
	free(bad);
	free(out_c);
	tu_scratch_free(dir);
}
END_TEST

/* Issue 14, defect 3: `-o net.yaml` replaced the network with C.  An output
 * that is the input, through any path or link, is refused before anything
 * is written. */
START_TEST(test_cli_output_is_input)
{
	char *dir = tu_mkdtemp();
	char *out = NULL, *before = NULL, *after = NULL;
	ck_assert_int_eq(tu_run(NULL, "cp examples/xor.yaml %s/net.yaml && cd %s && "
	                              "ln -s net.yaml sym.c && ln net.yaml hard.c", dir, dir), 0);
	ck_assert_int_eq(tu_run(&before, "cksum < %s/net.yaml", dir), 0);
	static const char *const outs[] = {"net.yaml", "./net.yaml", "sym.c", "hard.c"};
	for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
		char args[8192], want[8192];
		snprintf(args, sizeof args, "%s/net.yaml -o %s/%s", dir, dir, outs[i]);
		snprintf(want, sizeof want, "nncc: error: output '%s/%s' is the network file "
		                            "'%s/net.yaml': refusing to overwrite it (name another "
		                            "output with -o)\n", dir, outs[i], dir);
		expect_cli(args, 1, want);
	}
	ck_assert_int_eq(tu_run(&after, "cksum < %s/net.yaml", dir), 0);
	ck_assert_str_eq(after, before);
	ck_assert_uint_eq(tu_dir_entries(dir), 3);
	free(before);
	free(after);
	free(out);
	tu_scratch_free(dir);
}
END_TEST

/* Issue 14, defect 6: a hostile 10 MB YAML (1.4 M unknown keys in one flow
 * mapping on one line) is answered with 20 errors, each line windowed, and
 * a count of the rest: a few KB, not hundreds of MB. */
START_TEST(test_cli_bounded_diagnostics)
{
	char *dir = tu_mkdtemp();
	char *path = tu_path(dir, "keys.yaml");
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	size_t n = 0;
	fputs("{", f);
	for (long bytes = 0; bytes < 10L << 20; n++)
		bytes += fprintf(f, "%sk%zu: 1", n ? ", " : "", n);
	fputs("}\n", f);
	ck_assert_int_eq(fclose(f), 0);
	char args[8192], *out = NULL;
	snprintf(args, sizeof args, "--check %s", path);
	ck_assert_int_eq(nncc(&out, args), 1);
	ck_assert_uint_lt(strlen(out), 20 * (DIAG_MSG_MAX + 2 * DIAG_LINE_WINDOW));
	ck_assert_msg(strstr(out, ":1:2: error: unknown key 'k0' at top level (expected: network,"),
	              "%.2000s", out);
	char tail[128];
	/* Every key, and the 4 required keys it lacks (network, input, layers,
	 * training). */
	snprintf(tail, sizeof tail, "\nnncc: and %zu more errors not shown (20 shown)\n",
	         n + 4 - 20);
	ck_assert_msg(strlen(out) > strlen(tail) &&
	              strcmp(out + strlen(out) - strlen(tail), tail) == 0, "%s",
	              out + (strlen(out) > 300 ? strlen(out) - 300 : 0));
	free(out);
	free(path);
	tu_scratch_free(dir);
}
END_TEST

/* Issue 14, defect 5: a YAML under a directory whose name starts with '*'
 * put a comment start (slash, star) into every generated file's header
 * comment, which fails -Wall -Werror.  The trainer compiles warning-free
 * from such a path. */
START_TEST(test_cli_comment_start_in_path)
{
	char *dir = tu_mkdtemp();
	char *out = NULL;
	ck_assert_int_eq(tu_run(NULL, "mkdir '%s/x' '%s/x/*y' && cp examples/xor.yaml "
	                              "'%s/x/*y/n.yaml'", dir, dir, dir), 0);
	int rc = tu_run(&out, "%s '%s/x/*y/n.yaml' -o '%s/n.c' && %s " STRICT " -Iruntime -c "
	                      "'%s/n.c' -o '%s/n.o'", tu_nncc(), dir, dir, tu_cc(), dir, dir);
	ck_assert_msg(rc == 0, "%s", out);
	free(out);
	ck_assert_int_eq(tu_run(&out, "grep -c 'x/ \\*y/n.yaml' '%s/n.c'", dir), 0);
	ck_assert_int_gt(atoi(out), 0);
	free(out);
	tu_scratch_free(dir);
}
END_TEST

/* Issue 14, defect 11: -o 'a"b.c' wrote #include "a"b.h", which does not
 * compile.  A header name #include "..." cannot spell is refused before
 * the weights are read or anything is written. */
START_TEST(test_cli_header_name_unspellable)
{
	expect_cli("examples/xor.yaml --infer --weights none.weights -o '/nonexistent/a\"b.c'", 1,
	           "nncc: error: --infer: the header name 'a\"b.h' cannot be written in "
	           "#include \"...\" (it holds '\"'): choose another -o\n");
	expect_cli("examples/xor.yaml --infer --weights none.weights -o 'x\\y.c'", 1,
	           "nncc: error: --infer: the header name 'x\\y.h' cannot be written in "
	           "#include \"...\" (it holds '\\'): choose another -o\n");
}
END_TEST

/* Default output name, stdout, and byte-identical runs. */
START_TEST(test_cli_outputs)
{
	char *dir = tu_mkdtemp(), cwd[PATH_MAX];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	char *nncc_abs = realpath(tu_nncc(), NULL);
	ck_assert_ptr_nonnull(nncc_abs);
	char *out = NULL;
	int rc = tu_run(&out, "cd %s && %s %s/examples/sgd20.yaml && ls", dir, nncc_abs, cwd);
	ck_assert_msg(rc == 0, "%s", out);
	ck_assert_str_eq(out, "sgd20.c\n");
	free(out);
	char *a = NULL, *b = NULL;
	ck_assert_int_eq(nncc(&a, "examples/sgd20.yaml -o -"), 0);
	ck_assert_int_eq(nncc(&b, "examples/sgd20.yaml -o -"), 0);
	ck_assert(strncmp(a, "/*\n * mnist_sgd20: a trainer generated by nncc ", 46) == 0);
	ck_assert_msg(strstr(a, " * Command: nncc examples/sgd20.yaml -o -\n") != NULL, "%.400s", a);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	free(nncc_abs);
	tu_scratch_free(dir);
}
END_TEST

static Suite *emit_suite(void)
{
	Suite *s = suite_create("emit");
	TCase *tc = tcase_create("emit");
	/* A hang guard, not a timing goal: test_compiles_strict runs ~50
	 * compilations, the dispatch builds among them, up to 15 minutes on a
	 * loaded 2-core machine. */
	tcase_set_timeout(tc, 1800);
	tcase_add_test(tc, test_compiles_strict);
	tcase_add_test(tc, test_sgd20_text);
	tcase_add_test(tc, test_regression_text);
	tcase_add_test(tc, test_schedule_config);
	tcase_add_test(tc, test_dropout_masks);
	tcase_add_test(tc, test_squared_error_text);
	tcase_add_test(tc, test_plan);
	tcase_add_test(tc, test_max_batch);
	tcase_add_test(tc, test_hostile_names);
	tcase_add_test(tc, test_untrainable_shape);
	tcase_add_test(tc, test_runtime_f64);
	suite_add_tcase(s, tc);
	TCase *cli = tcase_create("cli");
	tcase_set_timeout(cli, 120);
	tcase_add_test(cli, test_cli_info);
	tcase_add_test(cli, test_cli_errors);
	tcase_add_test(cli, test_cli_plan);
	tcase_add_test(cli, test_cli_atomic);
	tcase_add_test(cli, test_cli_outputs);
	tcase_add_test(cli, test_cli_output_is_input);
	tcase_add_test(cli, test_cli_bounded_diagnostics);
	tcase_add_test(cli, test_cli_comment_start_in_path);
	tcase_add_test(cli, test_cli_header_name_unspellable);
	suite_add_tcase(s, cli);
	return s;
}

int main(void)
{
	return tu_suite_main(emit_suite(), NULL);
}
