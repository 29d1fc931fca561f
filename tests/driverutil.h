/*
 * driverutil.h - what the driver suites (check_driver, check_options,
 * check_report) share: a hand-written model that implements the runtime ABI
 * (softmax regression "blobs", 4 inputs -> 3 classes, double, in static
 * buffers), small IDX files of three separable blobs written into a scratch
 * directory, and nncc_main() run in a forked child with stdout and stderr
 * captured in files.  Header-only, like testutil.h.
 * Vocabulary: N = training samples, B = batch, T = iterations.
 */
#ifndef NNCC_DRIVERUTIL_H
#define NNCC_DRIVERUTIL_H

#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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
static size_t record_batch[RECORD_MAX];   /* u->batch of each update() */
static uint64_t last_update_step;    /* the step counter update()/step() saw */
static double last_beta;             /* the hyper-parameter they saw */
static size_t nan_at;                /* step returns NaN at this call (0: never) */
static size_t steps;

static inline void blob_forward(size_t n, const void *xv)
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

static inline double blob_loss(size_t n, const void *labels)
{
	const int32_t *y = labels;
	double s = 0;
	for (size_t b = 0; b < n; b++)
		s -= log(probs[b][y[b]]);
	return s;
}

/* Per-sample sums in sample order, so a batch split into tiles gives the
 * same bits as one tile. */
static inline void blob_backward(size_t n, const void *xv, const void *labels, int accumulate)
{
	const double *x = xv;
	const int32_t *y = labels;
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

static inline void blob_update(const nncc_update_t *u)
{
	for (size_t k = 0; k < NP; k++)
		params[k] -= u->lr / (double)u->batch * grads[k];
	if (updates < RECORD_MAX)
		record_batch[updates] = u->batch;
	last_update_batch = u->batch;
	last_update_step = u->step;
	last_beta = u->hparams ? u->hparams[0] : NAN;
	updates++;
}

static inline double blob_step(size_t n, const void *x, const void *y,
                               const nncc_update_t *u)
{
	blob_forward(n, x);
	double l = blob_loss(n, y);
	blob_backward(n, x, y, 0);
	blob_update(u);
	return ++steps == nan_at ? NAN : l;
}

static inline void *blob_tensor(int which, size_t layer)
{
	if (which == NNCC_T_ACT)
		return layer == 0 ? (void *)logits : layer == 1 ? (void *)probs : NULL;
	return which == NNCC_T_DELTA && layer == 0 ? (void *)delta : NULL;
}

static const nncc_param_t blob_tensors[] = {
	{"W", 0, IN * K, IN, K, 0, IN, K, 1.0},
	{"b", IN * K, K, 1, K, 1, IN, K, 1.0},
};

static const nncc_layer_t blob_layers[] = {
	{"out", "dense", "linear", IN, K, 2, blob_tensors},
	{"layer2", "softmax", NULL, K, K, 0, NULL},
};

/* Optimizer hyper-parameters, to test the driver's generic options: a
 * number, a switch, and a switch fixed at generation (min == max: it lays
 * out the state, as rmsprop's centered). */
static const nncc_hparam_t blob_hparams[] = {
	{"beta_test", 0.5, 0, 1, 0, 1, 0, "a hyper-parameter in [0, 1)"},
	{"switch_test", 0, 0, 1, 0, 0, 1, "a switch"},
	{"layout_switch_test", 0, 0, 0, 0, 0, 1, "a switch fixed at generation"},
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
	.optimizer = "blobsgd",
	.loss_name = "cross_entropy",
	.n_hparams = 3,
	.hparams = blob_hparams,
	.config = {
		.learning_rate = 0.5,
		.batch_size = 10,
		.epochs = 5,
		.seed = 1,
		.init = NNCC_INIT_NORMAL,
		.init_scale = 0.1,
		.init_biases = 1,
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
static inline void make_set(uint8_t *pix, uint8_t *lab, size_t n, size_t dim, size_t classes,
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
static inline char *make_data(size_t dim, size_t classes, data_kind_t kind)
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

/* Starts nncc_main(m) with argv = {"net", "--data", dir, args..., NULL}
 * in a child whose stdout and stderr go to dir/stdout.txt and
 * dir/stderr.txt; args ends with NULL.  Returns its pid (wait_net). */
static inline pid_t spawn_net_args(const nncc_model_t *m, const char *dir,
                                   const char *const *args)
{
	char *argv[64] = {"net", "--data", (char *)dir};
	int argc = 3;
	for (; *args; args++) {
		ck_assert_int_lt(argc, 63);
		argv[argc++] = (char *)*args;
	}
	argv[argc] = NULL;

	char *outp = tu_path(dir, "stdout.txt"), *errp = tu_path(dir, "stderr.txt");
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
	free(outp);
	free(errp);
	return pid;
}

/* Waits for spawn_net_args's child: its exit status and what it wrote. */
static inline result_t wait_net(pid_t pid, const char *dir)
{
	char *outp = tu_path(dir, "stdout.txt"), *errp = tu_path(dir, "stderr.txt");
	result_t r = {.rc = -1};
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

/* nncc_main(m) with argv = {"net", "--data", dir, args..., NULL} in a
 * child, to its end; args ends with NULL. */
static inline result_t run_net_args(const nncc_model_t *m, const char *dir,
                                    const char *const *args)
{
	return wait_net(spawn_net_args(m, dir, args), dir);
}

/* The same with the arguments as parameters, ending with NULL. */
static inline result_t run_net(const nncc_model_t *m, const char *dir, ...)
{
	const char *args[61];
	size_t n = 0;
	va_list ap;
	va_start(ap, dir);
	for (const char *a; (a = va_arg(ap, const char *));) {
		ck_assert_uint_lt(n, 60);
		args[n++] = a;
	}
	va_end(ap);
	args[n] = NULL;
	return run_net_args(m, dir, args);
}

static inline void result_free(result_t *r)
{
	free(r->out);
	free(r->err);
}

/* The number after "key": in a JSON text (NAN if missing). */
static inline double json_num(const char *json, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\": ", key);
	const char *p = strstr(json, pat);
	return p ? strtod(p + strlen(pat), NULL) : NAN;
}

static inline size_t count_lines(const char *s, const char *containing)
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

#endif
