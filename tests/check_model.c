/*
 * check_model.c - model.c: each YAML file in tests/valid/ becomes the expected
 * Model (sizes, offsets, defaults, locations), the examples load cleanly, and
 * one data-driven runner checks every file in tests/errors/ against the
 * "# expect: LINE:COL: MESSAGE" on its first line, caret line included.
 * Run from the top directory (the paths are relative to it).
 */
#include <check.h>
#include <glob.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/nncc.h"
#include "../runtime/nncc.h"
#include "ctxutil.h"
#include "testutil.h"

/* Loads a file that must be valid: no diagnostics at all. */
static const Model *load_ok(Run *r, const char *path)
{
	run_init(r);
	const Model *m = model_load(&r->ctx, path);
	const char *out = run_out(r);
	ck_assert_msg(m != NULL, "%s failed:\n%s", path, out);
	ck_assert_int_eq(r->ctx.n_errors, 0);
	ck_assert_str_eq(out, "");
	return m;
}

/* The same for text with no file behind it. */
static const Model *load_text(Run *r, const char *src)
{
	run_init(r);
	const Node *root = yaml_parse(&r->ctx, "text.yaml", src, strlen(src));
	const Model *m = root ? model_from_yaml(&r->ctx, "text.yaml", root) : NULL;
	const char *out = run_out(r);
	ck_assert_msg(m != NULL, "text failed:\n%s", out);
	return m;
}

static void assert_dense(const Layer *L, const char *name, size_t in, size_t out,
                         Activation act, size_t w_offset)
{
	ck_assert_str_eq(L->kind->name, "dense");
	ck_assert_str_eq(L->name, name);
	ck_assert_uint_eq(L->in, in);
	ck_assert_uint_eq(L->out, out);
	ck_assert_int_eq(L->act, act);
	ck_assert_uint_eq(L->n_tensors, 2);
	ck_assert_str_eq(L->tensors[0].name, "W");
	ck_assert_uint_eq(L->tensors[0].offset, w_offset);
	ck_assert_uint_eq(L->tensors[0].rows, in);
	ck_assert_uint_eq(L->tensors[0].cols, out);
	ck_assert(!L->tensors[0].bias);
	ck_assert_str_eq(L->tensors[1].name, "b");
	ck_assert_uint_eq(L->tensors[1].offset, w_offset + in * out);
	ck_assert_uint_eq(L->tensors[1].size, out);
	ck_assert(L->tensors[1].bias);
	for (int t = 0; t < 2; t++)   /* the init rule's sizes: the layer's */
		ck_assert(L->tensors[t].fan_in == in && L->tensors[t].fan_out == out);
	ck_assert_uint_eq(L->n_params, in * out + out);
}

static void assert_softmax(const Layer *L, const char *name, size_t width)
{
	ck_assert_str_eq(L->kind->name, "softmax");
	ck_assert_str_eq(L->name, name);
	ck_assert_uint_eq(L->in, width);
	ck_assert_uint_eq(L->out, width);
	ck_assert_uint_eq(L->n_params, 0);
}

static void assert_loc(Loc loc, const char *file, int line, int col)
{
	ck_assert_str_eq(loc.file, file);
	ck_assert_int_eq(loc.line, line);
	ck_assert_int_eq(loc.col, col);
}

START_TEST(minimal_takes_defaults)
{
	Run r;
	const Model *m = load_ok(&r, "tests/valid/minimal.yaml");
	ck_assert_str_eq(m->path, "tests/valid/minimal.yaml");
	ck_assert_str_eq(m->name, "tiny");
	ck_assert_uint_eq(m->inputs, 3);
	ck_assert_uint_eq(m->outputs, 2);
	ck_assert_int_eq(m->dtype, DTYPE_F32);
	ck_assert_str_eq(m->loss->name, "cross_entropy");
	ck_assert_uint_eq(m->n_layers, 2);
	assert_dense(&m->layers[0], "layer1", 3, 2, ACT_LINEAR, 0);
	assert_softmax(&m->layers[1], "layer2", 2);
	assert_loc(m->layers[0].loc, "tests/valid/minimal.yaml", 5, 5);
	assert_loc(m->layers[1].loc, "tests/valid/minimal.yaml", 7, 5);
	ck_assert_uint_eq(m->n_params, 8);

	const Training *t = &m->train;
	assert_loc(t->loc, "tests/valid/minimal.yaml", 9, 3);
	ck_assert_str_eq(t->optimizer->name, "sgd");
	ck_assert_double_eq(t->learning_rate, 0.1);
	ck_assert_int_eq(t->schedule.type, NNCC_SCHEDULE_CONSTANT);
	ck_assert_uint_eq(t->schedule.warmup, 0);
	ck_assert_double_eq(t->clip_norm, 0);
	ck_assert_uint_eq(t->batch_size, 4);
	ck_assert_uint_eq(t->iterations, 0);
	ck_assert_uint_eq(t->epochs, 2);
	ck_assert_uint_eq(t->seed, 1);
	ck_assert(!t->shuffle);
	ck_assert_int_eq(t->init, NNCC_INIT_NORMAL);
	ck_assert_double_eq(t->init_scale, 0.1);
	ck_assert_int_eq(t->threads, 0);

	const Data *d = &m->data;
	ck_assert_str_eq(d->dir, "data/mnist");
	ck_assert_str_eq(d->files[NNCC_FILE_TRAIN_IMAGES], "train-images-idx3-ubyte");
	ck_assert_str_eq(d->files[NNCC_FILE_TRAIN_LABELS], "train-labels-idx1-ubyte");
	ck_assert_str_eq(d->files[NNCC_FILE_TEST_IMAGES], "t10k-images-idx3-ubyte");
	ck_assert_str_eq(d->files[NNCC_FILE_TEST_LABELS], "t10k-labels-idx1-ubyte");
	ck_assert_int_eq(d->normalize, NNCC_NORM_STANDARDIZE);
	run_fini(&r);
}
END_TEST

START_TEST(full_sets_every_key)
{
	Run r;
	const Model *m = load_ok(&r, "tests/valid/full.yaml");
	ck_assert_str_eq(m->name, "Full_net2");
	ck_assert_int_eq(m->dtype, DTYPE_F64);
	ck_assert_uint_eq(m->inputs, 5);
	ck_assert_uint_eq(m->n_layers, 4);
	assert_dense(&m->layers[0], "h1", 5, 4, ACT_TANH, 0);
	assert_dense(&m->layers[1], "h2", 4, 3, ACT_RELU, 24);
	assert_dense(&m->layers[2], "logits", 3, 2, ACT_LINEAR, 39);
	assert_softmax(&m->layers[3], "probs", 2);
	assert_loc(m->layers[2].loc, "tests/valid/full.yaml", 14, 5);
	ck_assert_uint_eq(m->n_params, 47);
	ck_assert_uint_eq(m->outputs, 2);

	const Training *t = &m->train;
	ck_assert_double_eq(t->learning_rate, 0.025);
	ck_assert_int_eq(t->schedule.type, NNCC_SCHEDULE_STEP);
	ck_assert_double_eq(t->schedule.gamma, 0.5);
	ck_assert_uint_eq(t->schedule.step_size, 3);
	ck_assert_int_eq(t->schedule.unit, NNCC_UNIT_ITERATIONS);
	ck_assert_uint_eq(t->schedule.warmup, 7);
	ck_assert_double_eq(t->clip_norm, 2.5);
	ck_assert_uint_eq(t->batch_size, 7);
	ck_assert_uint_eq(t->iterations, 123);
	ck_assert_uint_eq(t->epochs, 0);
	ck_assert_uint_eq(t->seed, UINT64_MAX);
	ck_assert(t->shuffle);
	ck_assert_int_eq(t->init, NNCC_INIT_UNIFORM);
	ck_assert_double_eq(t->init_scale, 0.5);
	ck_assert_int_eq(t->threads, 3);

	ck_assert_str_eq(m->data.dir, "/tmp/some data");
	ck_assert_str_eq(m->data.files[NNCC_FILE_TRAIN_IMAGES], "a.idx");
	ck_assert_str_eq(m->data.files[NNCC_FILE_TRAIN_LABELS], "b.idx");
	ck_assert_str_eq(m->data.files[NNCC_FILE_TEST_IMAGES], "c.idx");
	ck_assert_str_eq(m->data.files[NNCC_FILE_TEST_LABELS], "d.idx");
	ck_assert_int_eq(m->data.normalize, NNCC_NORM_SCALE);
	run_fini(&r);
}
END_TEST

/* Each schedule by name or as a mapping: its defaults, its keys, and the
 * keys of other schedules left at 0. */
START_TEST(schedules)
{
	static const char *const head =
	    "network: s\ninput: 2\nlayers: [{type: dense, units: 2}, {type: softmax}]\n"
	    "training: {learning_rate: 0.1, batch_size: 2, iterations: 3, schedule: ";
	static const struct {
		const char *yaml;
		nncc_schedule_t want;
	} cases[] = {
		{"constant", {.type = NNCC_SCHEDULE_CONSTANT}},
		{"{type: constant, warmup: 4}", {.type = NNCC_SCHEDULE_CONSTANT, .warmup = 4}},
		{"{type: step, step_size: 2}", {.type = NNCC_SCHEDULE_STEP, .gamma = 0.1, .step_size = 2}},
		{"{type: exponential, gamma: 0.9, unit: iterations}",
		 {.type = NNCC_SCHEDULE_EXPONENTIAL, .unit = NNCC_UNIT_ITERATIONS, .gamma = 0.9}},
		{"cosine", {.type = NNCC_SCHEDULE_COSINE}},
		{"{type: cosine, min_lr: 1e-3, t_max: 50, warmup: 5}",
		 {.type = NNCC_SCHEDULE_COSINE, .min_lr = 1e-3, .t_max = 50, .warmup = 5}},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char src[512];
		Run r;
		snprintf(src, sizeof src, "%s%s}\n", head, cases[i].yaml);
		const Model *m = load_text(&r, src);
		const nncc_schedule_t *s = &m->train.schedule, *w = &cases[i].want;
		ck_assert_msg(s->type == w->type && s->unit == w->unit && s->gamma == w->gamma &&
		                  s->step_size == w->step_size && s->min_lr == w->min_lr &&
		                  s->t_max == w->t_max && s->warmup == w->warmup,
		              "schedule: %s", cases[i].yaml);
		run_fini(&r);
	}
}
END_TEST

/* Each init distribution, its biases rule (drawn by default for normal and
 * uniform, zero for torch's schemes, either when given) and the gain every
 * tensor carries: torch.nn.init.calculate_gain of the layer's activation. */
START_TEST(init_schemes_and_gains)
{
	static const char *const head =
	    "network: s\ninput: 2\nlayers: [{type: dense, units: 3, activation: relu},\n"
	    "  {type: dense, units: 3, activation: tanh}, {type: dense, units: 3, activation: "
	    "sigmoid},\n  {type: dense, units: 2}, {type: softmax}]\n"
	    "training: {learning_rate: 0.1, batch_size: 2, iterations: 3, init: ";
	static const struct {
		const char *yaml;
		int init, biases;
	} cases[] = {
		{"{distribution: normal}", NNCC_INIT_NORMAL, 1},
		{"{distribution: uniform, biases: zero}", NNCC_INIT_UNIFORM, 0},
		{"{distribution: xavier_uniform}", NNCC_INIT_XAVIER_UNIFORM, 0},
		{"{distribution: xavier_normal, biases: drawn}", NNCC_INIT_XAVIER_NORMAL, 1},
		{"{distribution: kaiming_uniform}", NNCC_INIT_KAIMING_UNIFORM, 0},
		{"{distribution: kaiming_normal, biases: zero}", NNCC_INIT_KAIMING_NORMAL, 0},
	};
	const double gains[4] = {sqrt(2.0), 5.0 / 3, 1, 1};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char src[512];
		Run r;
		snprintf(src, sizeof src, "%s%s}\n", head, cases[i].yaml);
		const Model *m = load_text(&r, src);
		ck_assert_msg(m->train.init == cases[i].init && m->train.init_biases == cases[i].biases,
		              "init: %s", cases[i].yaml);
		for (size_t l = 0; l < 4; l++)
			for (size_t t = 0; t < 2; t++)
				ck_assert(m->layers[l].tensors[t].gain == gains[l]);
		run_fini(&r);
	}
}
END_TEST

START_TEST(flow_style_and_full_batch)
{
	Run r;
	const Model *m = load_ok(&r, "tests/valid/flow.yaml");
	ck_assert_str_eq(m->name, "flow_net");
	assert_dense(&m->layers[0], "layer1", 2, 3, ACT_SIGMOID, 0);
	assert_dense(&m->layers[1], "layer2", 3, 2, ACT_LINEAR, 9);
	assert_softmax(&m->layers[2], "out", 2);
	assert_loc(m->layers[2].loc, "tests/valid/flow.yaml", 4, 11);
	ck_assert_uint_eq(m->n_params, 17);
	ck_assert_uint_eq(m->train.batch_size, 0);
	ck_assert_uint_eq(m->train.iterations, 5);
	ck_assert_double_eq(m->train.learning_rate, 1.0);
	ck_assert(!m->train.shuffle);
	ck_assert_str_eq(m->train.optimizer->name, "sgd");   /* {type: sgd} */
	ck_assert_int_eq(m->data.normalize, NNCC_NORM_NONE);
	run_fini(&r);
}
END_TEST

START_TEST(max_layers)
{
	Run r;
	const Model *m = load_ok(&r, "tests/valid/layers64.yaml");
	ck_assert_uint_eq(m->n_layers, NNCC_MAX_LAYERS);
	size_t width = 1, offset = 0;
	for (size_t i = 0; i + 1 < m->n_layers; i++) {
		char name[32];
		snprintf(name, sizeof name, "layer%zu", i + 1);
		assert_dense(&m->layers[i], name, width, i + 2, ACT_RELU, offset);
		offset += width * (i + 2) + i + 2;
		width = i + 2;
	}
	assert_softmax(&m->layers[63], "layer64", 64);
	ck_assert_uint_eq(m->n_params, offset);
	ck_assert_uint_eq(m->outputs, 64);
	run_fini(&r);
}
END_TEST

/* Each bound at its limit.  Text, not a tests/valid file: the parameter
 * count (2^24 * 127 + 127, just under NNCC_MAX_PARAMS) is far too big to
 * hand to anything that would generate and compile code for it. */
START_TEST(bounds_at_limit)
{
	Run r;
	const Model *m = load_text(
		&r, "network: n23456789012345678901234567890123456789012345678901234567890123\n"
		    "input: 16777216\n"
		    "layers: [{type: dense, units: 127}, {type: softmax}]\n"
		    "training: {learning_rate: 1e300, batch_size: 4294967295,\n"
		    "           epochs: 4294967295, seed: 0, threads: 1024}\n");
	ck_assert_uint_eq(strlen(m->name), 63);
	ck_assert_uint_eq(m->inputs, NNCC_MAX_UNITS);
	ck_assert_uint_eq(m->n_params, NNCC_MAX_UNITS * 127 + 127);
	ck_assert_uint_le(m->n_params, NNCC_MAX_PARAMS);
	ck_assert_uint_eq(m->train.batch_size, 4294967295u);
	ck_assert_uint_eq(m->train.epochs, 4294967295u);
	ck_assert_uint_eq(m->train.seed, 0);
	ck_assert_int_eq(m->train.threads, 1024);
	ck_assert_double_eq(m->train.learning_rate, 1e300);
	run_fini(&r);
}
END_TEST

START_TEST(booleans_and_numbers)
{
	static const struct {
		const char *word;
		bool value;
	} words[] = {{"true", true}, {"yes", true}, {"on", true},
	             {"false", false}, {"no", false}, {"off", false}};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		char src[256];
		snprintf(src, sizeof src,
		         "network: b\ninput: 1\nlayers: [{type: dense, units: 2}, {type: softmax}]\n"
		         "training: {learning_rate: .5e1, batch_size: +3, iterations: 007, "
		         "shuffle: %s}\n",
		         words[i].word);
		Run r;
		const Model *m = load_text(&r, src);
		ck_assert_int_eq(m->train.shuffle, words[i].value);
		ck_assert_double_eq(m->train.learning_rate, 5.0);
		ck_assert_uint_eq(m->train.batch_size, 3);
		ck_assert_uint_eq(m->train.iterations, 7);
		run_fini(&r);
	}
}
END_TEST

START_TEST(sha256_of_the_file)
{
	const char *path = "tests/valid/minimal.yaml";
	size_t n;
	char *buf = tu_read_file(path, &n), want[65];
	nncc_sha256_hex(buf, n, want);
	free(buf);
	Run r;
	const Model *m = load_ok(&r, path);
	ck_assert_str_eq(m->sha256, want);
	run_fini(&r);
}
END_TEST

START_TEST(examples_load)
{
	glob_t g;
	ck_assert_int_eq(glob("examples/*.yaml", 0, NULL, &g), 0);
	ck_assert_uint_gt(g.gl_pathc, 0);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		Run r;
		const Model *m = load_ok(&r, g.gl_pathv[i]);
		ck_assert_uint_gt(m->n_params, 0);
		run_fini(&r);
	}
	globfree(&g);
}
END_TEST

START_TEST(names)
{
	ck_assert_str_eq(activation_table[ACT_LINEAR].name, "linear");
	ck_assert_str_eq(activation_table[ACT_SIGMOID].name, "sigmoid");
	ck_assert_str_eq(activation_table[ACT_SIGMOID].deriv, "y * ((real)1 - y)");
	ck_assert_str_eq(activation_table[ACT_TANH].name, "tanh");
	ck_assert_str_eq(activation_table[ACT_RELU].name, "relu");
	for (int a = 0; a < ACT_COUNT; a++)
		ck_assert(activation_table[a].forward && activation_table[a].deriv);
	ck_assert_str_eq(kind_find("dense")->name, "dense");
	ck_assert_ptr_null(kind_find("conv"));
	ck_assert_str_eq(loss_find("cross_entropy")->output, "softmax");
	ck_assert_str_eq(dtype_name(DTYPE_F32), "float32");
	ck_assert_str_eq(dtype_name(DTYPE_F64), "float64");
	ck_assert_str_eq(nncc_norm_name(NNCC_NORM_NONE), "none");
	ck_assert_str_eq(nncc_norm_name(NNCC_NORM_SCALE), "scale");
	ck_assert_str_eq(nncc_norm_name(NNCC_NORM_STANDARDIZE), "standardize");
	ck_assert_str_eq(nncc_init_name(NNCC_INIT_UNIFORM), "uniform");
	ck_assert_str_eq(nncc_dtype_abbr(NNCC_F64), "f64");
	ck_assert_str_eq(nncc_default_files[NNCC_FILE_TEST_LABELS], "t10k-labels-idx1-ubyte");
	ck_assert_str_eq(optimizer_find("sgd")->name, "sgd");
	ck_assert_ptr_eq(optimizer_find("sgd"), &optimizer_table[0]);   /* the default */
}
END_TEST

START_TEST(missing_file)
{
	Run r;
	run_init(&r);
	ck_assert_ptr_null(model_load(&r.ctx, "tests/valid/no-such-file.yaml"));
	ck_assert_str_eq(run_out(&r), "nncc: error: cannot open 'tests/valid/no-such-file.yaml': "
	                        "No such file or directory\n");
	run_fini(&r);
}
END_TEST

/* ---- The error-file runner. */

#define ERROR_GLOB "tests/errors/*.yaml"

/* Line `line` (1-based) of text, without its newline; malloc'd. */
static char *nth_line(const char *text, int line)
{
	const char *p = text;
	for (int i = 1; i < line && p; i++) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (!p)
		return NULL;
	size_t n = strcspn(p, "\n");
	char *s = malloc(n + 1);
	ck_assert_ptr_nonnull(s);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* Loop test _i: the _i-th error file (glob order is sorted, so stable). */
START_TEST(error_file)
{
	glob_t g;
	ck_assert_int_eq(glob(ERROR_GLOB, 0, NULL, &g), 0);
	ck_assert_uint_lt((size_t)_i, g.gl_pathc);
	const char *path = g.gl_pathv[_i];

	char *src = tu_read_file(path, NULL);
	int line = 0, col = 0, used = 0;
	ck_assert_msg(sscanf(src, "# expect: %d:%d: %n", &line, &col, &used) == 2 && used,
	              "%s: first line must be '# expect: LINE:COL: MESSAGE'", path);
	char *msg = nth_line(src + used, 1);
	char want[1024];
	snprintf(want, sizeof want, "%s:%d:%d: error: %s", path, line, col, msg);

	Run r;
	run_init(&r);
	const Model *m = model_load(&r.ctx, path);
	const char *out = run_out(&r);
	ck_assert_msg(m == NULL, "%s: loaded without an error", path);
	ck_assert_int_gt(r.ctx.n_errors, 0);
	const char *hit = strstr(out, want);
	ck_assert_msg(hit, "%s: expected\n  %s\ngot\n%s", path, want, out);

	/* The diagnostic is followed by its source line and a caret under col. */
	char *shown = nth_line(hit, 2), *caret = nth_line(hit, 3);
	char *source = nth_line(src, line);
	ck_assert_ptr_nonnull(shown);
	ck_assert_ptr_nonnull(caret);
	ck_assert_str_eq(shown, source ? source : "");
	ck_assert_uint_eq(strlen(caret), (size_t)col);
	ck_assert_int_eq(caret[col - 1], '^');
	ck_assert_uint_eq(strspn(caret, " \t"), (size_t)col - 1);

	free(shown);
	free(caret);
	free(source);
	free(msg);
	free(src);
	run_fini(&r);
	globfree(&g);
}
END_TEST

static Suite *model_suite(void)
{
	Suite *s = suite_create("model");
	TCase *tc = tcase_create("valid");
	tcase_add_test(tc, minimal_takes_defaults);
	tcase_add_test(tc, full_sets_every_key);
	tcase_add_test(tc, schedules);
	tcase_add_test(tc, init_schemes_and_gains);
	tcase_add_test(tc, flow_style_and_full_batch);
	tcase_add_test(tc, max_layers);
	tcase_add_test(tc, bounds_at_limit);
	tcase_add_test(tc, booleans_and_numbers);
	tcase_add_test(tc, sha256_of_the_file);
	tcase_add_test(tc, examples_load);
	tcase_add_test(tc, names);
	tcase_add_test(tc, missing_file);
	suite_add_tcase(s, tc);

	glob_t g;
	size_t n = glob(ERROR_GLOB, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
	globfree(&g);
	tc = tcase_create("errors");
	/* No error files at all is itself a failure (run from the top dir?). */
	tcase_add_loop_test(tc, error_file, 0, n ? (int)n : 1);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(model_suite(), NULL);
}
