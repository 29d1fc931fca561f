/*
 * check_driver.c - driver.c, report.c, plot.c: nncc_main() end to end on a
 * hand-written model that implements the runtime ABI (softmax regression,
 * 4 inputs -> 3 classes, double) and small IDX files of three separable
 * blobs written into a scratch directory.  Each nncc_main() call runs in a
 * forked child with stdout and stderr captured in files.
 *
 * Vocabulary: N = training samples, B = batch, T = iterations.
 */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver.h"
#include "nncc.h"
#include "testutil.h"

#define IN 4
#define K 3
#define NP (IN * K + K)   /* W[IN][K] input-major, then b[K] */
#define TILE_MAX 512      /* buffers fit the largest max_batch below */
#define N_TRAIN 300
#define N_TEST 90
#define RECORD_MAX 4096

/* ---- the model: softmax regression in double, static buffers ----------- */

static double params[NP], grads[NP];
static double logits[TILE_MAX][K];   /* layer 0 ACT  (max_batch, K) */
static double probs[TILE_MAX][K];    /* layer 1 ACT  (max_batch, K) */
static double delta[TILE_MAX][K];    /* layer 0 DELTA */

/* What the driver fed to backward(): first input of each sample (with
 * normalize none it is pixel 0, which the "index" data sets to i % 251). */
static double record_x0[RECORD_MAX];
static size_t record_n;
static size_t last_update_batch, updates;
static size_t nan_at;                /* step returns NaN at this call (0: never) */
static size_t steps;

static void blob_forward(size_t n, const void *xv)
{
	const double *x = xv;
	for (size_t b = 0; b < n; b++) {
		double mx = -INFINITY, sum = 0;
		for (size_t i = 0; i < K; i++) {
			double z = params[IN * K + i];
			for (size_t j = 0; j < IN; j++)
				z += params[j * K + i] * x[b * IN + j];
			logits[b][i] = z;
			mx = fmax(mx, z);
		}
		for (size_t i = 0; i < K; i++)
			sum += probs[b][i] = exp(logits[b][i] - mx);
		for (size_t i = 0; i < K; i++)
			probs[b][i] /= sum;
	}
}

static double blob_loss(size_t n, const int32_t *y)
{
	double s = 0;
	for (size_t b = 0; b < n; b++)
		s -= log(probs[b][y[b]]);
	return s;
}

/* Per-sample sums in sample order, so a batch split into tiles gives the
 * same bits as one tile. */
static void blob_backward(size_t n, const void *xv, const int32_t *y, int accumulate)
{
	const double *x = xv;
	if (!accumulate)
		memset(grads, 0, sizeof grads);
	for (size_t b = 0; b < n; b++) {
		if (record_n < RECORD_MAX)
			record_x0[record_n++] = x[b * IN];
		for (size_t i = 0; i < K; i++)
			delta[b][i] = probs[b][i] - (y[b] == (int32_t)i);
		for (size_t j = 0; j < IN; j++)
			for (size_t i = 0; i < K; i++)
				grads[j * K + i] += x[b * IN + j] * delta[b][i];
		for (size_t i = 0; i < K; i++)
			grads[IN * K + i] += delta[b][i];
	}
}

static void blob_update(double lr, size_t batch)
{
	for (size_t k = 0; k < NP; k++)
		params[k] -= lr / (double)batch * grads[k];
	last_update_batch = batch;
	updates++;
}

static double blob_step(size_t n, const void *x, const int32_t *y, double lr)
{
	blob_forward(n, x);
	double l = blob_loss(n, y);
	blob_backward(n, x, y, 0);
	blob_update(lr, n);
	return ++steps == nan_at ? NAN : l;
}

static void *blob_tensor(int which, size_t layer)
{
	if (which == NNCC_T_ACT)
		return layer == 0 ? (void *)logits : layer == 1 ? (void *)probs : NULL;
	return which == NNCC_T_DELTA && layer == 0 ? (void *)delta : NULL;
}

static int blob_set_threads(int n)
{
	return n ? n : 2;
}

static const nncc_layer_t blob_layers[] = {
	{"out", NNCC_LAYER_DENSE, "linear", IN, K, 0, IN * K},
	{"layer2", NNCC_LAYER_SOFTMAX, "softmax", K, K, 0, 0},
};

static const nncc_model_t blob_model = {
	.abi_version = NNCC_ABI_VERSION,
	.name = "blobs",
	.source = "blobs.yaml",
	.source_sha256 = "0",
	.nncc_version = "test",
	.dtype = NNCC_F64,
	.n_inputs = IN,
	.n_outputs = K,
	.n_layers = 2,
	.layers = blob_layers,
	.n_params = NP,
	.max_batch = 8,
	.params = params,
	.grads = grads,
	.config = {
		.learning_rate = 0.5,
		.batch_size = 10,
		.epochs = 5,
		.seed = 1,
		.init = NNCC_INIT_NORMAL,
		.init_scale = 0.1,
		.normalize = NNCC_NORM_STANDARDIZE,
		.threads = 1,
	},
	.forward = blob_forward,
	.loss = blob_loss,
	.backward = blob_backward,
	.update = blob_update,
	.step = blob_step,
	.tensor = blob_tensor,
	.set_threads = NULL,
};

/* ---- data --------------------------------------------------------------- */

typedef enum { DATA_BLOBS, DATA_INDEX } data_kind_t;

/* Three blobs (class c is bright in pixel c, noise +-40 from a seeded LCG),
 * or DATA_INDEX: pixel 0 = i % 251 so the order samples arrive in shows. */
static void make_set(uint8_t *pix, uint8_t *lab, size_t n, size_t dim, size_t classes,
                     uint32_t seed, data_kind_t kind)
{
	uint32_t s = seed;
	for (size_t i = 0; i < n; i++) {
		lab[i] = (uint8_t)(i % classes);
		for (size_t j = 0; j < dim; j++) {
			s = s * 1664525u + 1013904223u;
			int v = (j == lab[i] ? 200 : 60) + (int)(s >> 24) % 81 - 40;
			pix[i * dim + j] = (uint8_t)v;
		}
		if (kind == DATA_INDEX)
			pix[i * dim] = (uint8_t)(i % 251);
	}
}

/* A scratch directory with train and test sets; tu_scratch_free() it. */
static char *make_data(size_t dim, size_t classes, data_kind_t kind)
{
	char *dir = tu_mkdtemp();
	uint8_t *pix = malloc(N_TRAIN * dim), lab[N_TRAIN];
	ck_assert_ptr_nonnull(pix);
	make_set(pix, lab, N_TRAIN, dim, classes, 11, kind);
	ck_assert_int_eq(tu_idx_write(dir, "train", pix, lab, N_TRAIN, 1, dim), 0);
	make_set(pix, lab, N_TEST, dim, classes, 22, kind);
	ck_assert_int_eq(tu_idx_write(dir, "t10k", pix, lab, N_TEST, 1, dim), 0);
	free(pix);
	return dir;
}

/* ---- running nncc_main -------------------------------------------------- */

typedef struct result {
	int rc;
	char *out, *err;   /* captured stdout, stderr (malloc'd) */
} result_t;

/* nncc_main(m) with argv = {"net", "--data", dir, args..., NULL} in a child. */
static result_t run_net(const nncc_model_t *m, const char *dir, ...)
{
	char *argv[64] = {"net", "--data", (char *)dir};
	int argc = 3;
	va_list ap;
	va_start(ap, dir);
	for (char *a; (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;

	char *outp = tu_path(dir, "stdout.txt"), *errp = tu_path(dir, "stderr.txt");
	result_t r = {.rc = -1};
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (!freopen(outp, "w", stdout) || !freopen(errp, "w", stderr))
			_exit(99);
		free(outp); /* LSan checks the child at exit */
		free(errp);
		exit(nncc_main(argc, argv, m));
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "nncc_main crashed (status %d)", st);
	r.rc = WEXITSTATUS(st);
	r.out = tu_read_file(outp, NULL);
	r.err = tu_read_file(errp, NULL);
	free(outp);
	free(errp);
	return r;
}

static void result_free(result_t *r)
{
	free(r->out);
	free(r->err);
}

/* The number after "key": in a JSON text (NAN if missing). */
static double json_num(const char *json, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\": ", key);
	const char *p = strstr(json, pat);
	return p ? strtod(p + strlen(pat), NULL) : NAN;
}

static size_t count_lines(const char *s, const char *containing)
{
	size_t n = 0;
	for (const char *line = s; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char *copy = strndup(line, len);
		n += !containing || strstr(copy, containing);
		free(copy);
		line = end ? end + 1 : NULL;
	}
	return n;
}

#define ASSERT_HAS(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)), "expected \"%s\" in:\n%s", (needle), (hay))

/* ---- tests -------------------------------------------------------------- */

START_TEST(trains_blobs)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	result_t r0 = run_net(&blob_model, dir, "--iterations", "0", "--json", NULL);
	result_t r1 = run_net(&blob_model, dir, "--json", NULL);
	ck_assert_int_eq(r0.rc, 0);
	ck_assert_int_eq(r1.rc, 0);
	double l0 = json_num(r0.out, "train_loss"), l1 = json_num(r1.out, "train_loss");
	ck_assert_msg(l1 < 0.5 * l0, "loss %g -> %g", l0, l1);
	ck_assert_double_ge(json_num(r1.out, "test_accuracy"), 0.97);
	ck_assert_double_eq(json_num(r1.out, "iterations"), 5 * 30);
	ck_assert_double_eq(json_num(r1.out, "epochs"), 5);
	result_free(&r0);
	result_free(&r1);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(text_report)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	result_t r = run_net(&blob_model, dir, NULL);
	ck_assert_int_eq(r.rc, 0);
	ASSERT_HAS(r.out, "network        blobs (blobs.yaml)");
	ASSERT_HAS(r.out, "parameters     15 (f64)");
	ASSERT_HAS(r.out, "150 iterations = 5.00 epochs, batch 10, lr 0.5, seed 1");
	ASSERT_HAS(r.out, "test accuracy  ");
	ASSERT_HAS(r.out, "/90)");
	ASSERT_HAS(r.out, "confusion matrix (rows: true label, columns: predicted)");
	ASSERT_HAS(r.out, "  accuracy\n");
	/* Header + one row per class, each with a per-class accuracy. */
	ck_assert_uint_eq(count_lines(strstr(r.out, "confusion"), "%"), K);
	/* stdout has results only; progress went to stderr, and nothing else. */
	ck_assert_ptr_null(strstr(r.out, "iteration "));
	ASSERT_HAS(r.err, "blobs: iteration 150/150");
	ck_assert_uint_eq(count_lines(r.err, NULL), count_lines(r.err, "blobs: iteration"));
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(json_last_line)
{
	static const char *const keys[] = {
		"network", "parameters", "dtype", "epochs", "iterations", "batch_size",
		"learning_rate", "seed", "train_loss", "test_loss", "test_accuracy",
		"train_seconds", "samples_per_second", "threads", "data_dir", "confusion",
	};
	char *dir = make_data(IN, K, DATA_BLOBS);
	result_t r = run_net(&blob_model, dir, "--json", "--quiet", NULL);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.err, "");
	size_t len = strlen(r.out);
	ck_assert_uint_gt(len, 2);
	ck_assert_int_eq(r.out[0], '{');
	ck_assert_int_eq(r.out[len - 2], '}');
	ck_assert_int_eq(r.out[len - 1], '\n');
	ck_assert_uint_eq(count_lines(r.out, NULL), 1);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char pat[64];
		snprintf(pat, sizeof pat, "\"%s\": ", keys[i]);
		ASSERT_HAS(r.out, pat);
	}
	ASSERT_HAS(r.out, "\"network\": \"blobs\"");
	ASSERT_HAS(r.out, "\"dtype\": \"f64\"");
	char want[4200];
	snprintf(want, sizeof want, "\"data_dir\": \"%s\"", dir);
	ASSERT_HAS(r.out, want);
	/* K rows of K counts summing to the test set size. */
	const char *c = strstr(r.out, "\"confusion\": [[");
	ck_assert_ptr_nonnull(c);
	c += strlen("\"confusion\": [");
	double total = 0;
	for (int t = 0; t < K; t++) {
		ck_assert_int_eq(*c, '[');
		char *end;
		for (int p = 0; p < K; p++) {
			total += strtod(c + 1, &end);
			c = end;
			if (p < K - 1) {
				ck_assert_int_eq(*c, ',');
				c++;
			}
		}
		ck_assert_int_eq(*c, ']');
		c += t < K - 1 ? 3 : 1;
	}
	ck_assert_double_eq(total, N_TEST);
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(epochs_and_iterations_override_each_other)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	/* ceil(300 / 7) = 43 iterations per epoch. */
	result_t a = run_net(&blob_model, dir, "--json", "--batch", "7", "--epochs", "2", NULL);
	result_t b = run_net(&blob_model, dir, "--json", "--epochs", "2", "--iterations", "5", NULL);
	result_t c = run_net(&blob_model, dir, "--json", "--iterations", "5", "--epochs", "1", NULL);
	result_t d = run_net(&blob_model, dir, "--json", "--batch", "full", "--iterations", "3", NULL);
	ck_assert_double_eq(json_num(a.out, "iterations"), 86);
	ck_assert_double_eq_tol(json_num(a.out, "epochs"), 86.0 * 7 / 300, 1e-9);
	ck_assert_double_eq(json_num(a.out, "batch_size"), 7);
	ck_assert_double_eq(json_num(b.out, "iterations"), 5);
	ck_assert_double_eq(json_num(c.out, "iterations"), 30);
	ck_assert_double_eq(json_num(d.out, "batch_size"), N_TRAIN);
	ck_assert_double_eq(json_num(d.out, "epochs"), 3);
	result_free(&a);
	result_free(&b);
	result_free(&c);
	result_free(&d);
	tu_scratch_free(dir);
}
END_TEST

/* Batches within a tile use step(); larger ones accumulate over tiles and
 * call update(lr, B) once.  Both must learn. */
START_TEST(small_and_large_batches_learn)
{
	static const char *const batches[] = {"4", "8", "20", "full"};
	char *dir = make_data(IN, K, DATA_BLOBS);
	result_t r0 = run_net(&blob_model, dir, "--iterations", "0", "--json", NULL);
	double l0 = json_num(r0.out, "train_loss");
	for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++) {
		result_t r = run_net(&blob_model, dir, "--json", "--batch", batches[i],
		                     "--iterations", "60", NULL);
		ck_assert_int_eq(r.rc, 0);
		double l = json_num(r.out, "train_loss");
		ck_assert_msg(l < 0.5 * l0, "batch %s: loss %g -> %g", batches[i], l0, l);
		ck_assert_double_ge(json_num(r.out, "test_accuracy"), 0.95);
		result_free(&r);
	}
	result_free(&r0);
	tu_scratch_free(dir);
}
END_TEST

/* A full batch through 8-sample tiles (accumulate) and through one tile
 * (step) gives the same weights, bit for bit. */
START_TEST(accumulated_batch_equals_one_step)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	nncc_model_t big = blob_model;
	big.max_batch = TILE_MAX;
	char *wa = tu_path(dir, "tiles.w"), *wb = tu_path(dir, "one.w");
	result_t a = run_net(&blob_model, dir, "--batch", "full", "--iterations", "20", "--save",
	                     wa, NULL);
	result_t b = run_net(&big, dir, "--batch", "full", "--iterations", "20", "--save", wb, NULL);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_eq(b.rc, 0);
	ck_assert(tu_same_file(wa, wb));
	result_free(&a);
	result_free(&b);
	free(wa);
	free(wb);
	tu_scratch_free(dir);
}
END_TEST

/* update() gets the batch size, not the tile size. */
START_TEST(large_batch_updates_with_batch_size)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	updates = 0;
	last_update_batch = 0;
	record_n = 0;
	pid_t pid;
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char *argv[] = {"net", "--data", dir, "--batch", "20", "--iterations", "3", "--quiet",
		                NULL};
		if (!freopen("/dev/null", "w", stdout))
			_exit(99);
		int rc = nncc_main(8, argv, &blob_model);
		exit(rc == 0 && updates == 3 && last_update_batch == 20 && record_n == 60 ? 0 : 1);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	tu_scratch_free(dir);
}
END_TEST

/* Runs the index data set through nncc_main in this (forked) process and
 * returns what backward() saw: the sample indices in order. */
static size_t train_order(const char *dir, const char *batch, const char *iters, int shuffle,
                          size_t max_batch, size_t *idx)
{
	nncc_model_t m = blob_model;
	m.config.normalize = NNCC_NORM_NONE;
	m.max_batch = max_batch;
	/* Raw pixels as inputs: a small lr keeps the loss finite. */
	char *argv[] = {"net", "--data", (char *)dir, "--batch", (char *)batch, "--iterations",
	                (char *)iters, shuffle ? "--shuffle" : "--no-shuffle", "--quiet",
	                "--lr", "1e-5", NULL};
	FILE *devnull = freopen("/dev/null", "w", stdout);
	ck_assert_ptr_nonnull(devnull);
	record_n = 0;
	ck_assert_int_eq(nncc_main(11, argv, &m), 0);
	for (size_t i = 0; i < record_n; i++)
		idx[i] = (size_t)record_x0[i];
	return record_n;
}

START_TEST(file_order_wraps_around)
{
	char *dir = make_data(IN, K, DATA_INDEX);
	size_t *idx = malloc(RECORD_MAX * sizeof *idx);
	/* B = 7 <= tile: batch 42 covers samples 294..299, 0. */
	size_t n = train_order(dir, "7", "90", 0, 8, idx);
	ck_assert_uint_eq(n, 630);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(idx[i], (i % N_TRAIN) % 251);
	/* B = 20 > tile (accumulate path), 300 / 20 batches per pass. */
	n = train_order(dir, "20", "31", 0, 8, idx);
	ck_assert_uint_eq(n, 620);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(idx[i], (i % N_TRAIN) % 251);
	free(idx);
	tu_scratch_free(dir);
}
END_TEST

/* With --shuffle, each pass over the stream is a permutation of the
 * training set, and the passes differ. */
START_TEST(shuffle_permutes_each_epoch)
{
	char *dir = make_data(IN, K, DATA_INDEX);
	size_t *idx = malloc(RECORD_MAX * sizeof *idx);
	size_t n = train_order(dir, "7", "129", 1, 8, idx); /* 903 samples: 3 passes + 3 */
	ck_assert_uint_eq(n, 903);
	for (size_t pass = 0; pass < 3; pass++) {
		size_t seen[251] = {0}, in_order = 0;
		for (size_t i = 0; i < N_TRAIN; i++) {
			seen[idx[pass * N_TRAIN + i]]++;
			in_order += idx[pass * N_TRAIN + i] == i % 251;
		}
		for (size_t v = 0; v < 251; v++)
			ck_assert_uint_eq(seen[v], v < N_TRAIN - 251 ? 2 : 1);
		ck_assert_uint_lt(in_order, 30);
	}
	ck_assert(memcmp(idx, idx + N_TRAIN, N_TRAIN * sizeof *idx) != 0);
	free(idx);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(save_then_load_reproduces)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *w = tu_path(dir, "w.bin");
	result_t a = run_net(&blob_model, dir, "--json", "--iterations", "40", "--save", w, NULL);
	result_t b = run_net(&blob_model, dir, "--json", "--load", w, "--iterations", "0", NULL);
	result_t c = run_net(&blob_model, dir, "--json", "--load", w, "--no-train", NULL);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_eq(b.rc, 0);
	ck_assert_int_eq(c.rc, 0);
	ck_assert_double_eq(json_num(a.out, "test_accuracy"), json_num(b.out, "test_accuracy"));
	ck_assert_double_eq(json_num(a.out, "test_loss"), json_num(b.out, "test_loss"));
	ck_assert_double_eq(json_num(a.out, "train_loss"), json_num(c.out, "train_loss"));
	ck_assert_double_eq(json_num(b.out, "iterations"), 0);

	nncc_weights_file_t wf;
	nncc_err_t err;
	ck_assert_int_eq(nncc_weights_read(&wf, w, &err), 0);
	ck_assert_uint_eq(wf.meta.iterations, 40);
	ck_assert_double_eq(wf.meta.test_accuracy, json_num(a.out, "test_accuracy"));
	ck_assert_int_eq(wf.norm.kind, NNCC_NORM_STANDARDIZE);
	nncc_weights_file_fini(&wf);
	result_free(&a);
	result_free(&b);
	result_free(&c);
	free(w);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(load_error_is_reported)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	result_t r = run_net(&blob_model, dir, "--load", "/nonexistent/w.bin", NULL);
	ck_assert_int_eq(r.rc, 1);
	ASSERT_HAS(r.err, "blobs: error: ");
	ASSERT_HAS(r.err, "/nonexistent/w.bin");
	ck_assert_str_eq(r.out, "");
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(seed_determines_weights)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *a = tu_path(dir, "a.w"), *b = tu_path(dir, "b.w"), *c = tu_path(dir, "c.w");
	result_t ra = run_net(&blob_model, dir, "--seed", "3", "--shuffle", "--save", a, NULL);
	result_t rb = run_net(&blob_model, dir, "--seed", "3", "--shuffle", "--save", b, NULL);
	result_t rc = run_net(&blob_model, dir, "--seed", "4", "--shuffle", "--save", c, NULL);
	ck_assert_int_eq(ra.rc, 0);
	ck_assert_int_eq(rb.rc, 0);
	ck_assert_int_eq(rc.rc, 0);
	ck_assert(tu_same_file(a, b));
	ck_assert(!tu_same_file(a, c));
	result_free(&ra);
	result_free(&rb);
	result_free(&rc);
	free(a);
	free(b);
	free(c);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(missing_data_names_the_file)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *nowhere = tu_path(dir, "nowhere");
	result_t r = run_net(&blob_model, dir, "--data", nowhere, NULL); /* the last --data wins */
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.out, "");
	ck_assert_msg(strncmp(r.err, "blobs: error: ", 14) == 0, "%s", r.err);
	ASSERT_HAS(r.err, "nowhere/train-images-idx3-ubyte");
	result_free(&r);
	free(nowhere);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(config_data_dir_and_absolute_names)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *abs = tu_path(dir, "t10k-labels-idx1-ubyte");
	nncc_model_t m = blob_model;
	m.config.data_dir = "/nonexistent";
	m.config.test_labels = abs;
	/* --data overrides config.data_dir; an absolute name ignores both. */
	result_t r = run_net(&m, dir, "--iterations", "1", NULL);
	ck_assert_int_eq(r.rc, 0);
	result_free(&r);
	m.config.data_dir = dir;
	char *argv[] = {"net", "--iterations", "1", "--quiet", NULL};
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(99);
		exit(nncc_main(4, argv, &m));
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	free(abs);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(inputs_mismatch)
{
	char *dir = make_data(9, K, DATA_BLOBS);
	result_t r = run_net(&blob_model, dir, NULL);
	char want[4300];
	ck_assert_int_eq(r.rc, 1);
	snprintf(want, sizeof want,
	         "blobs: error: %s/train-images-idx3-ubyte has 9 pixels per image but network "
	         "'blobs' expects 4 inputs\n",
	         dir);
	ck_assert_str_eq(r.err, want);
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(labels_beyond_outputs)
{
	char *dir = make_data(IN, 4, DATA_BLOBS);
	result_t r = run_net(&blob_model, dir, NULL);
	char want[4300];
	ck_assert_int_eq(r.rc, 1);
	snprintf(want, sizeof want,
	         "blobs: error: %s/train-labels-idx1-ubyte has label 3 but network 'blobs' has 3 "
	         "outputs (labels 0..2)\n",
	         dir);
	ck_assert_str_eq(r.err, want);
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(nan_loss_stops)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *w = tu_path(dir, "w.bin");
	steps = 0;
	nan_at = 5;
	/* --batch 5: one step() per iteration, the call that returns NaN. */
	result_t r = run_net(&blob_model, dir, "--quiet", "--batch", "5", "--save", w, NULL);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.err, "blobs: error: loss became nan at iteration 5 (learning rate 0.5); "
	                        "try a lower --lr\n");
	ck_assert_str_eq(r.out, "");
	ck_assert_int_ne(access(w, F_OK), 0);
	result_free(&r);
	nan_at = 0;
	r = run_net(&blob_model, dir, "--quiet", "--lr", "1e308", "--save", w, NULL);
	ck_assert_int_eq(r.rc, 1);
	ASSERT_HAS(r.err, "blobs: error: loss became ");
	ASSERT_HAS(r.err, " at iteration ");
	ASSERT_HAS(r.err, "(learning rate 1e+308); try a lower --lr\n");
	ck_assert_int_ne(access(w, F_OK), 0);
	result_free(&r);
	free(w);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(log_csv_rows)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *log = tu_path(dir, "log.csv");
	result_t r = run_net(&blob_model, dir, "--iterations", "95", "--eval-every", "10",
	                     "--eval-test", "--log", log, NULL);
	ck_assert_int_eq(r.rc, 0);
	/* Iterations 0, 10, ..., 90 and the last one, 95. */
	char *csv = tu_read_file(log, NULL);
	ck_assert_uint_eq(count_lines(csv, NULL), 1 + 11);
	ck_assert(strncmp(csv, "iteration,epoch,train_loss,test_accuracy,seconds\n0,0,", 53) == 0);
	ASSERT_HAS(csv, "\n95,3.16667,");
	ck_assert_uint_eq(count_lines(r.err, "train loss"), 11);
	ck_assert_uint_eq(count_lines(r.err, "test accuracy"), 11);
	free(csv);
	result_free(&r);

	/* Without --eval-every: the default evaluations, no test column. */
	r = run_net(&blob_model, dir, "--iterations", "200", "--log", log, "--quiet", NULL);
	ck_assert_int_eq(r.rc, 0);
	csv = tu_read_file(log, NULL);
	ck_assert(strncmp(csv, "iteration,epoch,train_loss,seconds\n", 35) == 0);
	ck_assert_uint_eq(count_lines(csv, NULL), 1 + 51);
	ck_assert_str_eq(r.err, "");
	free(csv);
	result_free(&r);
	free(log);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(plot_svg)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *svg = tu_path(dir, "loss.svg");
	/* --eval-every alone would give 2 points: the plot gets the default ones. */
	result_t r = run_net(&blob_model, dir, "--iterations", "120", "--eval-every", "1000",
	                     "--plot", svg, "--quiet", NULL);
	ck_assert_int_eq(r.rc, 0);
	char *s = tu_read_file(svg, NULL);
	ASSERT_HAS(s, "<svg");
	ASSERT_HAS(s, "</svg>");
	ASSERT_HAS(s, "<title>blobs: training cross-entropy</title>");
	ASSERT_HAS(s, "<polyline");
	ASSERT_HAS(s, ">iteration</text>");
	ck_assert_uint_ge(count_lines(s, "<circle"), 10);
	free(s);
	result_free(&r);
	free(svg);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(plot_unwritable)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	result_t r = run_net(&blob_model, dir, "--plot", "/nonexistent/p.svg", NULL);
	ck_assert_int_eq(r.rc, 1);
	ASSERT_HAS(r.err, "blobs: error: cannot write /nonexistent/p.svg: No such file");
	result_free(&r);
	r = run_net(&blob_model, dir, "--log", "/nonexistent/l.csv", NULL);
	ck_assert_int_eq(r.rc, 1);
	ASSERT_HAS(r.err, "blobs: error: cannot write /nonexistent/l.csv: No such file");
	ck_assert_str_eq(r.out, "");
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(progress_lines)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	result_t r = run_net(&blob_model, dir, "--iterations", "100", NULL);
	ck_assert_int_eq(r.rc, 0);
	/* Not a terminal: one plain line per 10% of the run. */
	ck_assert_uint_eq(count_lines(r.err, "blobs: iteration "), 10);
	ASSERT_HAS(r.err, "blobs: iteration 10/100  epoch 0.33  loss ");
	ASSERT_HAS(r.err, "samples/s  ETA ");
	ck_assert_ptr_null(strchr(r.err, '\r'));
	result_free(&r);
	r = run_net(&blob_model, dir, "--iterations", "100", "--quiet", NULL);
	ck_assert_str_eq(r.err, "");
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(threads_option)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	nncc_model_t m = blob_model;
	m.set_threads = blob_set_threads;
	result_t r = run_net(&m, dir, "--json", "--threads", "0", "--iterations", "1", NULL);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_double_eq(json_num(r.out, "threads"), 2);
	result_free(&r);
	r = run_net(&blob_model, dir, "--json", "--threads", "4", "--iterations", "1", NULL);
	ck_assert_double_eq(json_num(r.out, "threads"), 1); /* no set_threads: one */
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(bad_options_exit_2)
{
	static const char *const bad[][3] = {
		{"--epochs", "abc", "invalid value 'abc' for --epochs (expected an integer >= 0)"},
		{"--epochs", "-1", "invalid value '-1' for --epochs"},
		{"--iterations", "1x", "invalid value '1x' for --iterations"},
		{"--lr", "0", "invalid value '0' for --lr (expected a number > 0)"},
		{"--lr", "nan", "invalid value 'nan' for --lr"},
		{"--batch", "0", "invalid value '0' for --batch (expected an integer >= 1 or 'full')"},
		{"--batch", "half", "invalid value 'half' for --batch"},
		{"--eval-every", "0", "invalid value '0' for --eval-every (expected an integer >= 1)"},
		{"--threads", "-2", "invalid value '-2' for --threads"},
		{"--seed", "", "invalid value '' for --seed"},
		{"--bogus", NULL, "unknown option '--bogus'"},
		{"-x", NULL, "unknown option '-x'"},
		{"stray", NULL, "unexpected argument 'stray'"},
		{"--lr", NULL, "option '--lr' needs a value"},
	};
	char *dir = make_data(IN, K, DATA_BLOBS);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		result_t r = run_net(&blob_model, dir, bad[i][0], bad[i][1], NULL);
		char want[256];
		ck_assert_int_eq(r.rc, 2);
		snprintf(want, sizeof want, "blobs: error: %s", bad[i][2]);
		ASSERT_HAS(r.err, want);
		ASSERT_HAS(r.err, "Try 'net --help' for the options.\n");
		ck_assert_str_eq(r.out, "");
		result_free(&r);
	}
	tu_scratch_free(dir);
}
END_TEST

START_TEST(help_shows_defaults)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	result_t r = run_net(&blob_model, dir, "--help", NULL);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.err, "");
	ASSERT_HAS(r.out, "usage: net [options]");
	ASSERT_HAS(r.out, "--lr X");
	ASSERT_HAS(r.out, "[default: 0.5]");
	ASSERT_HAS(r.out, "[default: 10]");
	ASSERT_HAS(r.out, "[default: 5]");
	ASSERT_HAS(r.out, "consecutive tiles");
	ASSERT_HAS(r.out, "around at the end [default]");
	for (const char *const *o = (const char *const[]){"--data", "--epochs", "--iterations",
	                                                    "--batch", "--seed", "--shuffle",
	                                                    "--no-shuffle", "--threads", "--save",
	                                                    "--load", "--json", "--quiet",
	                                                    "--eval-every", "--eval-test", "--log",
	                                                    "--plot", "--no-train", NULL};
	     *o; o++)
		ASSERT_HAS(r.out, *o);
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(abi_mismatch)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	nncc_model_t m = blob_model;
	m.abi_version = NNCC_ABI_VERSION + 1;
	result_t r = run_net(&m, dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	ASSERT_HAS(r.err, "blobs: error: generated for runtime ABI 2 but this libnncc implements 1");
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

static void *no_tensor(int which, size_t layer)
{
	(void)which;
	(void)layer;
	return NULL;
}

START_TEST(broken_model)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	nncc_model_t m = blob_model;
	m.config.init = 0;
	result_t r = run_net(&m, dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.err, "blobs: error: model has an unknown init kind 0\n");
	result_free(&r);
	m = blob_model;
	m.tensor = no_tensor;
	r = run_net(&m, dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.err, "blobs: error: model has no output tensor (layer 1)\n");
	result_free(&r);
	m = blob_model;
	m.max_batch = 0;
	r = run_net(&m, dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.err, "blobs: error: model has a zero size (max_batch 0, inputs 4, "
	                        "outputs 3)\n");
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(nice_ticks)
{
	double first, step;
	int count;
	nncc_nice_ticks(0, 30000, 8, &first, &step, &count);
	ck_assert_double_eq(first, 0);
	ck_assert_double_eq(step, 5000);
	ck_assert_int_eq(count, 7);
	nncc_nice_ticks(0.23, 2.31, 8, &first, &step, &count);
	ck_assert_double_eq_tol(first, 0.0, 1e-12);
	ck_assert_double_eq_tol(step, 0.5, 1e-12);
	ck_assert_int_eq(count, 6);
	nncc_nice_ticks(0.0712, 0.0931, 6, &first, &step, &count);
	ck_assert_double_eq_tol(step, 0.005, 1e-12);
	ck_assert_double_eq_tol(first, 0.07, 1e-12);
	ck_assert_int_le(count, 6);
	ck_assert(first + step * (count - 1) >= 0.0931 - 1e-12);
	nncc_nice_ticks(1, 1, 8, &first, &step, &count); /* a single value */
	ck_assert(first <= 1 && first + step * (count - 1) >= 1 && count >= 2);
}
END_TEST

static Suite *driver_suite(void)
{
	Suite *s = suite_create("driver");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, trains_blobs);
	tcase_add_test(tc, text_report);
	tcase_add_test(tc, json_last_line);
	tcase_add_test(tc, epochs_and_iterations_override_each_other);
	tcase_add_test(tc, small_and_large_batches_learn);
	tcase_add_test(tc, accumulated_batch_equals_one_step);
	tcase_add_test(tc, large_batch_updates_with_batch_size);
	tcase_add_test(tc, file_order_wraps_around);
	tcase_add_test(tc, shuffle_permutes_each_epoch);
	tcase_add_test(tc, save_then_load_reproduces);
	tcase_add_test(tc, load_error_is_reported);
	tcase_add_test(tc, seed_determines_weights);
	tcase_add_test(tc, missing_data_names_the_file);
	tcase_add_test(tc, config_data_dir_and_absolute_names);
	tcase_add_test(tc, inputs_mismatch);
	tcase_add_test(tc, labels_beyond_outputs);
	tcase_add_test(tc, nan_loss_stops);
	tcase_add_test(tc, log_csv_rows);
	tcase_add_test(tc, plot_svg);
	tcase_add_test(tc, plot_unwritable);
	tcase_add_test(tc, progress_lines);
	tcase_add_test(tc, threads_option);
	tcase_add_test(tc, bad_options_exit_2);
	tcase_add_test(tc, help_shows_defaults);
	tcase_add_test(tc, abi_mismatch);
	tcase_add_test(tc, broken_model);
	tcase_add_test(tc, nice_ticks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(driver_suite(), NULL);
}
