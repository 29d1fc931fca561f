/*
 * bench.c - times trained networks through the runtime ABI (runtime/nncc.h)
 * only, so the same source measures a generated trainer (compiled with
 * -DNNCC_NO_MAIN) and the naive baseline (bench/naive.c).  The models are
 * chosen at build time, one per workload named on the command line:
 * -DBENCH_MODEL=bench_w3_model, or several timed in alternation, e.g.
 * -DBENCH_MODELS='M(bench_w3_model) M(bench_w3_adam_model)' run as
 * `bench w3,w3_adam DATA`.  Workloads (issue 6):
 *   w1  softmax 784-10: full-batch steps over the training set, run as the
 *       driver runs them (tiles of max_batch: forward + backward(accumulate),
 *       then one update)
 *   w3  784-50-10, batch 20: the 30000-iteration run, timed per epoch; then
 *       inference over the test set with n = 1 and n = max_batch
 *   w4  784-800-10, batch 64: epochs of 938 steps
 *   w3_momentum, w3_adam, w4_adam (issue 10): W3 and W4 with another
 *       optimizer (records tagged W3-momentum, W3-adam, W4-adam), timed in
 *       the same process as W3 or W4, epoch for epoch in turn, so that both
 *       see the same load from the machine's other users; bench/report.awk
 *       divides their times by SGD's; w4_dropout (issue 11) likewise
 *   mlp (issue 11) the MNIST MLP recipe, 784-1024-1024-10 relu with
 *       dropout, Adam, cosine schedule, batch 128 shuffled: whole epochs
 *       (469 updates, the last of 96) as the driver trains them
 *   synth DIR   writes a synthetic data set of MNIST's shape as IDX files
 * --threads 1,2 --passes 2 runs every workload at 1, 2, 1, 2 threads and
 * pools the reps of both passes into one record per thread count.
 * Output on stdout, one tab-separated record per line, parsed by
 * bench/report.awk: "R" = a timing (reps, min and median seconds per rep,
 * samples and useful FLOP per rep), "I" = a fact (accuracy, loss, threads).
 * Useful FLOP (issue 6): forward 2*in*out per sample per layer, backward dW
 * for every layer and dX for all but the first (2*in*out each per sample),
 * the update 2*in*out per step, whatever the optimizer (its extra
 * elementwise work is not useful FLOP: the same network has the same count,
 * so GFLOP/s falls by what the optimizer costs).  Nothing here asserts a
 * timing.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nncc.h"

/* The models linked in, one per workload named on the command line, in
 * order: -DBENCH_MODELS='M(bench_w3_model) M(bench_w3_adam_model)', or
 * -DBENCH_MODEL=bench_w3_model for one. */
#if defined(BENCH_MODEL) && !defined(BENCH_MODELS)
#define BENCH_MODELS M(BENCH_MODEL)
#endif
#ifndef BENCH_MODELS
#error "build with -DBENCH_MODELS='M(<NAME>_model) ...' or -DBENCH_MODEL=<NAME>_model"
#endif
#define M(sym) extern const nncc_model_t sym;
BENCH_MODELS
#undef M
#define M(sym) &sym,
static const nncc_model_t *const models[] = {BENCH_MODELS};
#undef M
#define N_MODELS (sizeof models / sizeof *models)

#define MAX_REPS 64     /* reps of one measurement */
#define MAX_TIMES 256   /* times of one result over all passes */
#define MAX_RESULTS 32
#define MAX_GROUP 4     /* workloads timed in alternation in one process */
#define MAX_KEY 48      /* a record's work or key name */
#define N_CLASSES 10
#define N_PIXELS 784

/* How a workload is timed. */
enum { RUN_W1, RUN_W3, RUN_W4, RUN_PASS };

/* What a recipe has that the issue 6 workloads do not (NULL for them). */
typedef struct recipe {
	size_t dense;         /* dense layers */
	int init;             /* nncc_init_t (biases zero) instead of N(0,1) * scale */
	int schedule;         /* nncc_schedule_type_t, over the run of `units` epochs */
} recipe_t;

/* The MLP recipe: 784-1024-1024-10, kaiming_normal, cosine schedule. */
static const recipe_t mlp_recipe = {3, NNCC_INIT_KAIMING_NORMAL, NNCC_SCHEDULE_COSINE};

/* The benchmark's definition of each workload; the YAMLs in bench/nets must
 * agree (checked for generated models, hyper-parameters included). */
typedef struct workload {
	const char *name;     /* the command line's: w3_adam */
	const char *tag;      /* its records' prefix: W3-adam.epoch */
	int run;              /* RUN_W1/W3/W4/PASS */
	int infer;            /* 1: also time inference with the trained W3 */
	size_t hidden;        /* units of the first hidden layer, 0 = none */
	size_t batch;         /* samples per update, 0 = the whole training set */
	double lr;
	int normalize;        /* nncc_norm_t */
	double init_scale;    /* N(0,1) * scale, seed 1 (0 with a recipe's init) */
	size_t steps;         /* updates in one timed unit (an epoch / one step) */
	size_t units;         /* units in a full run (W3: 10 epochs; a recipe's epochs) */
	const char *optimizer;
	struct { const char *key; double value; } hp[6];  /* hyper-parameters, in full */
	const char *works[5]; /* the R records it produces, NULL-terminated */
	const recipe_t *recipe; /* RUN_PASS: shuffled passes, init and schedule; else NULL */
} workload_t;

/* Every hyper-parameter that changes the update; no weight decay.  Adam's
 * are PyTorch's defaults for torch.optim.Adam, written out in the YAMLs. */
#define SGD_HP {{"weight_decay", 0}}
#define MOMENTUM_HP {{"momentum", 0.9}, {"dampening", 0}, {"nesterov", 0}, {"weight_decay", 0}}
#define ADAM_HP \
	{{"beta1", 0.9}, {"beta2", 0.999}, {"eps", 1e-8}, {"amsgrad", 0}, {"weight_decay", 0}}

static const workload_t workloads[] = {
	{"w1", "W1", RUN_W1, 0, 0, 0, 0.3, NNCC_NORM_STANDARDIZE, 0.1, 1, 1, "sgd", SGD_HP,
	 {"W1", NULL}, NULL},
	{"w3", "W3", RUN_W3, 1, 50, 20, 0.3, NNCC_NORM_SCALE, 0.1, 3000, 10, "sgd", SGD_HP,
	 {"W3.epoch", "W3.full", "infer.1", "infer.B", NULL}, NULL},
	{"w4", "W4", RUN_W4, 0, 800, 64, 0.1, NNCC_NORM_SCALE, 0.05, 938, 1, "sgd", SGD_HP,
	 {"W4.epoch", NULL}, NULL},
	{"w3_momentum", "W3-momentum", RUN_W3, 0, 50, 20, 0.03, NNCC_NORM_SCALE, 0.1, 3000, 10,
	 "momentum", MOMENTUM_HP, {"W3-momentum.epoch", "W3-momentum.full", NULL}, NULL},
	{"w3_adam", "W3-adam", RUN_W3, 0, 50, 20, 0.001, NNCC_NORM_SCALE, 0.1, 3000, 10, "adam",
	 ADAM_HP, {"W3-adam.epoch", "W3-adam.full", NULL}, NULL},
	{"w4_adam", "W4-adam", RUN_W4, 0, 800, 64, 0.001, NNCC_NORM_SCALE, 0.05, 938, 1, "adam",
	 ADAM_HP, {"W4-adam.epoch", NULL}, NULL},
	{"w4_dropout", "W4-dropout", RUN_W4, 0, 800, 64, 0.1, NNCC_NORM_SCALE, 0.05, 938, 1, "sgd",
	 SGD_HP, {"W4-dropout.epoch", NULL}, NULL},
	{"mlp", "MLP", RUN_PASS, 0, 1024, 128, 0.001, NNCC_NORM_STANDARDIZE, 0, 469, 20, "adam",
	 ADAM_HP, {"MLP.epoch", NULL}, &mlp_recipe},
};

typedef struct timing {
	double t[MAX_REPS];
	int n;
} timing_t;

/* One R record: the times of every pass, seconds per rep (already scaled). */
typedef struct result {
	char work[MAX_KEY];
	int threads;
	double t[MAX_TIMES];
	int n;
	double samples, flop;  /* per rep */
	char note[128];
} result_t;

typedef struct bench {
	const nncc_model_t *m;
	const workload_t *w;
	const char *impl;          /* label in the records: nncc, naive */
	size_t rsize;              /* bytes per real */
	nncc_dataset_t train, test;
	nncc_norm_stats_t norm;
	void *train_x, *test_x;    /* normalised, [n][784] reals */
	nncc_stream_t stream;      /* the training samples in file order, as the driver has them */
	uint64_t updates;          /* the step counter of the run in progress */
	double budget;             /* seconds per measurement before stopping */
	int min_reps;
	size_t steps;              /* != 0: time only this many updates and scale */
	int pass;                  /* I records only in pass 0 */
	result_t results[MAX_RESULTS];
	int n_results;
} bench_t;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *msg, const char *arg)
{
	fprintf(stderr, "bench: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Whether another rep fits: always below min_reps, never above MAX_REPS or
 * max_reps, else only if one more rep like the last stays within the budget. */
static int want_more(const bench_t *bn, const timing_t *t, double spent, int max_reps)
{
	if (t->n < bn->min_reps)
		return 1;
	if (t->n >= max_reps || t->n >= MAX_REPS)
		return 0;
	return spent + t->t[t->n - 1] <= bn->budget;
}

/* Adds one measurement's reps to its result (created on first use); `scale`:
 * a rep that timed `scale` of the unit counts as its time / scale. */
static void add_timing(bench_t *bn, const char *work, int threads, const timing_t *t,
                       double samples, double flop, double scale, const char *note)
{
	result_t *r = NULL;
	for (int i = 0; i < bn->n_results; i++)
		if (bn->results[i].threads == threads && !strcmp(bn->results[i].work, work))
			r = &bn->results[i];
	if (!r) {
		if (bn->n_results == MAX_RESULTS)
			die("too many results", work);
		r = &bn->results[bn->n_results++];
		snprintf(r->work, sizeof r->work, "%s", work);
		r->threads = threads;
		r->samples = samples;
		r->flop = flop;
		snprintf(r->note, sizeof r->note, "%s", note ? note : "");
	}
	for (int i = 0; i < t->n && r->n < MAX_TIMES; i++)
		r->t[r->n++] = t->t[i] / scale;
}

/* R records: min and median seconds per rep over all passes. */
static void put_results(bench_t *bn)
{
	for (int i = 0; i < bn->n_results; i++) {
		result_t *r = &bn->results[i];
		qsort(r->t, (size_t)r->n, sizeof *r->t, cmp_double);
		double med = r->n % 2 ? r->t[r->n / 2] : 0.5 * (r->t[r->n / 2 - 1] + r->t[r->n / 2]);
		printf("R\timpl=%s\twork=%s\tthreads=%d\treps=%d\tmin=%.9g\tmed=%.9g"
		       "\tsamples=%.0f\tflop=%.6g\tnote=%s\n",
		       bn->impl, r->work, r->threads, r->n, r->t[0], med, r->samples, r->flop,
		       r->note);
	}
	fflush(stdout);
}

/* The name of the workload's record `what`: W3-adam.full. */
static const char *wkey(const bench_t *bn, const char *what, char buf[MAX_KEY])
{
	snprintf(buf, MAX_KEY, "%s.%s", bn->w->tag, what);
	return buf;
}

static void put_info(const bench_t *bn, const char *key, int threads, const char *fmt, double v)
{
	if (bn->pass)
		return;
	printf("I\timpl=%s\tkey=%s\tthreads=%d\tvalue=", bn->impl, key, threads);
	printf(fmt, v);
	printf("\n");
	fflush(stdout);
}

/* I record of the parameters' FNV-1a 64 hash: equal hashes = identical bits
 * (results must not depend on the thread count). */
static void put_params_hash(const bench_t *bn, const char *key, int threads)
{
	const unsigned char *p = bn->m->params;
	uint64_t h = 0xcbf29ce484222325u;
	if (bn->pass)
		return;
	for (size_t k = 0; k < bn->m->n_params * bn->rsize; k++)
		h = (h ^ p[k]) * 0x100000001b3u;
	printf("I\timpl=%s\tkey=%s\tthreads=%d\tvalue=%016llx\n", bn->impl, key, threads,
	       (unsigned long long)h);
	fflush(stdout);
}

/* ---- useful FLOP (issue 6) ------------------------------------------- */
static double flop_forward(const nncc_model_t *m)
{
	double f = 0;
	for (size_t l = 0; l < m->n_layers; l++)
		if (m->layers[l].n_tensors)   /* the dense layers */
			f += 2.0 * (double)m->layers[l].in * (double)m->layers[l].out;
	return f;
}

static double flop_sample(const nncc_model_t *m)
{
	double f = 0;
	int first = 1;
	for (size_t l = 0; l < m->n_layers; l++) {
		const nncc_layer_t *L = &m->layers[l];
		if (!L->n_tensors)   /* the dense layers */
			continue;
		double io = 2.0 * (double)L->in * (double)L->out;
		f += io + io + (first ? 0 : io);  /* forward, dW, dX */
		first = 0;
	}
	return f;
}

/* FLOP of `steps` updates of `batch` samples each. */
static double flop_train(const nncc_model_t *m, size_t batch, size_t steps)
{
	return (double)steps * ((double)batch * flop_sample(m) + flop_forward(m));
}

/* ---- data ------------------------------------------------------------ */
static void load_set(nncc_dataset_t *ds, const char *dir, const char *images,
                     const char *labels)
{
	char pi[4096], pl[4096];
	nncc_err_t err;
	snprintf(pi, sizeof pi, "%s/%s", dir, images);
	snprintf(pl, sizeof pl, "%s/%s", dir, labels);
	if (nncc_dataset_load(ds, pi, pl, &err))
		die(err.msg, NULL);
	if (ds->dim != N_PIXELS)
		die("the data set does not have 784 pixels per image", pi);
}

static void bench_load(bench_t *bn, const char *dir)
{
	const nncc_model_t *m = bn->m;
	nncc_err_t err;

	load_set(&bn->train, dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte");
	load_set(&bn->test, dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte");
	if (nncc_norm_fit(&bn->norm, bn->w->normalize, &bn->train, &err))
		die(err.msg, NULL);
	bn->rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float);
	bn->train_x = malloc(bn->train.n * N_PIXELS * bn->rsize);
	bn->test_x = malloc(bn->test.n * N_PIXELS * bn->rsize);
	if (!bn->train_x || !bn->test_x)
		die("out of memory", NULL);
	nncc_norm_apply(&bn->norm, m->dtype, bn->train_x, bn->train.pixels, bn->train.n);
	nncc_norm_apply(&bn->norm, m->dtype, bn->test_x, bn->test.pixels, bn->test.n);
}

/* The data of `from` (same set, normalisation and dtype) for bn too. */
static void bench_share(bench_t *bn, const bench_t *from)
{
	bn->train = from->train;
	bn->test = from->test;
	bn->norm = from->norm;
	bn->rsize = from->rsize;
	bn->train_x = from->train_x;
	bn->test_x = from->test_x;
}

/* Synthetic set of MNIST's shape: ten random sparse prototypes, each image
 * one of them with a fifth of its pixels re-drawn.  Only the shape matters
 * for timing; the structure lets training make progress. */
static void synth_write(const char *dir, const char *images, const char *labels, size_t n,
                        uint64_t seed, const uint8_t *proto)
{
	char p[4096];
	nncc_rng_t r;
	nncc_rng_seed(&r, seed);
	snprintf(p, sizeof p, "%s/%s", dir, images);
	FILE *fi = fopen(p, "wb");
	snprintf(p, sizeof p, "%s/%s", dir, labels);
	FILE *fl = fopen(p, "wb");
	if (!fi || !fl)
		die("cannot write the synthetic data set", p);
	uint8_t hi[16] = {0, 0, 8, 3}, hl[8] = {0, 0, 8, 1}, img[N_PIXELS];
	for (int k = 0; k < 4; k++) {
		hi[4 + k] = hl[4 + k] = (uint8_t)(n >> (24 - 8 * k));
		hi[8 + k] = hi[12 + k] = (uint8_t)(28 >> (24 - 8 * k));
	}
	fwrite(hi, 1, sizeof hi, fi);
	fwrite(hl, 1, sizeof hl, fl);
	for (size_t s = 0; s < n; s++) {
		uint8_t y = (uint8_t)nncc_rng_below(&r, N_CLASSES);
		for (size_t j = 0; j < N_PIXELS; j++)
			img[j] = nncc_rng_below(&r, 5) ? proto[y * N_PIXELS + j]
			       : nncc_rng_below(&r, 5) ? 0 : (uint8_t)nncc_rng_below(&r, 256);
		fwrite(img, 1, N_PIXELS, fi);
		fputc(y, fl);
	}
	if (fclose(fi) | fclose(fl))
		die("cannot write the synthetic data set", dir);
}

static void synth(const char *dir)
{
	static uint8_t proto[N_CLASSES * N_PIXELS];
	nncc_rng_t r;
	nncc_rng_seed(&r, 6);
	for (size_t k = 0; k < sizeof proto; k++)
		proto[k] = nncc_rng_below(&r, 5) ? 0 : (uint8_t)(128 + nncc_rng_below(&r, 128));
	synth_write(dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000, 1, proto);
	synth_write(dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000, 2, proto);
}

/* ---- training, through the runtime's loop (runtime/train.c) ------------- */

/* One update on the next B samples, with the optimizer's hyper-parameters
 * as the YAML set them; returns the loss sum before it. */
static double train_batch(bench_t *bn, size_t B, double lr)
{
	double hp[NNCC_MAX_HPARAMS];
	for (size_t k = 0; k < bn->m->n_hparams && k < NNCC_MAX_HPARAMS; k++)
		hp[k] = bn->m->hparams[k].value;
	nncc_update_t u = {.lr = lr, .batch = B, .step = ++bn->updates,
	                   .hparams = bn->m->n_hparams ? hp : NULL, .seed = bn->m->config.seed};
	return nncc_train_batch(bn->m, &bn->stream, &u);
}

/* The stream at the first sample of a pass: in file order, or (a recipe)
 * shuffled with the run's seed, a fresh order every pass. */
static void bench_rewind(bench_t *bn)
{
	nncc_err_t err;
	nncc_stream_fini(&bn->stream);
	if (nncc_stream_init(&bn->stream, bn->m, bn->train_x, bn->train.labels, bn->train.n,
	                     bn->w->recipe != NULL, 1, &err))
		die(err.msg, NULL);
}

/* Fresh weights (seed 1: N(0,1) * scale with drawn biases, or a recipe's
 * scheme with zero biases) and optimizer state (every slot 0, as in a new
 * trainer), the stream back at the first sample, the step counter at 0. */
static void bench_init_params(bench_t *bn)
{
	const recipe_t *r = bn->w->recipe;
	nncc_init_params(bn->m, r ? r->init : NNCC_INIT_NORMAL, bn->w->init_scale, !r, 1);
	if (bn->m->n_state)
		memset(bn->m->state, 0, bn->m->n_state * bn->m->n_params * bn->rsize);
	bench_rewind(bn);
	bn->updates = 0;
}

/* Classifies the test set with tiles of k samples; writes the predictions to
 * pred (may be NULL); returns the number correct. */
static size_t classify(const bench_t *bn, size_t k, uint8_t *pred)
{
	const nncc_model_t *m = bn->m;
	size_t row = N_PIXELS * bn->rsize, correct = 0;
	for (size_t at = 0; at < bn->test.n; at += k) {
		size_t kk = bn->test.n - at < k ? bn->test.n - at : k;
		m->forward(kk, (const char *)bn->test_x + at * row);
		for (size_t b = 0; b < kk; b++) {
			size_t c = nncc_predict(m, b);
			correct += c == (size_t)bn->test.labels[at + b];
			if (pred)
				pred[at + b] = (uint8_t)c;
		}
	}
	return correct;
}

/* ---- workloads ---------------------------------------------------------- */
static void run_w1(bench_t *bn, int threads)
{
	const nncc_model_t *m = bn->m;
	size_t B = bn->train.n;
	timing_t t = {.n = 0};
	double spent = 0;

	bench_init_params(bn);
	double t0 = now();
	double loss = train_batch(bn, B, bn->w->lr);  /* warm-up, from the init */
	double warm = now() - t0;
	char k[MAX_KEY];
	put_info(bn, wkey(bn, "loss_step1", k), threads, "%.9g", loss / (double)B);
	put_params_hash(bn, wkey(bn, "params_step1", k), threads);
	if (bn->min_reps <= 1 && warm > bn->budget) {  /* too slow to repeat */
		t.t[t.n++] = warm;
	} else {
		do {
			t0 = now();
			train_batch(bn, B, bn->w->lr);
			t.t[t.n] = now() - t0;
			spent += t.t[t.n++];
		} while (want_more(bn, &t, spent, 9));
	}
	add_timing(bn, bn->w->tag, threads, &t, (double)B, flop_train(m, B, 1), 1,
	           t.n == 1 && spent == 0 ? "first step, not repeated" : "");
}

/* Whether a group of workloads timed in alternation (bench/run.sh puts an
 * optimizer's W3 or W4 in the same process as SGD's) does another round:
 * want_more for the round of all, the group's time against its members'
 * budgets; every member has had as many reps. */
static int group_more(bench_t *const *g, int ng, const timing_t *t, double spent, int max_reps)
{
	double round = 0;
	if (t[0].n < g[0]->min_reps)
		return 1;
	if (t[0].n >= max_reps || t[0].n >= MAX_REPS)
		return 0;
	for (int i = 0; i < ng; i++)
		round += t[i].t[t[i].n - 1];
	return spent + round <= g[0]->budget * ng;
}

/* W3: the full 30000-iteration run (10 epochs of 3000 steps) of each member
 * of the group, their epochs alternating, each epoch timed; the first run's
 * weights go to `save` (the first member's).  With bn->steps, only that
 * many steps of each, scaled. */
static void run_w3(bench_t *const *g, int ng, int threads, const char *save)
{
	const size_t per_epoch = g[0]->w->steps, epochs = g[0]->w->units;
	timing_t full[MAX_GROUP] = {{.n = 0}}, ep[MAX_GROUP] = {{.n = 0}};
	double spent = 0;
	char note[128] = "", k[MAX_KEY];

	if (g[0]->steps && g[0]->steps < per_epoch * epochs) {
		/* Scaled: time `steps` updates from the init, as one rep. */
		for (int i = 0; i < ng; i++) {
			bench_t *bn = g[i];
			bench_init_params(bn);
			double loss = 0, t0 = now();
			for (size_t s = 0; s < bn->steps; s++)
				loss += train_batch(bn, bn->w->batch, bn->w->lr);
			double dt = now() - t0;
			if (bn->steps >= per_epoch)
				put_info(bn, wkey(bn, "loss_epoch1", k), threads, "%.9g",
				         loss / (double)(bn->steps * bn->w->batch));
			ep[i].t[ep[i].n++] = dt * (double)per_epoch / (double)bn->steps;
			full[i].t[full[i].n++] = dt * (double)(per_epoch * epochs) / (double)bn->steps;
		}
		snprintf(note, sizeof note, "scaled from %zu steps", g[0]->steps);
	} else {
		do {
			double loss1[MAX_GROUP] = {0}, run[MAX_GROUP] = {0};
			for (int i = 0; i < ng; i++)
				bench_init_params(g[i]);
			for (size_t e = 0; e < epochs; e++)
				for (int i = 0; i < ng; i++) {
					double loss = 0, t0 = now();
					for (size_t s = 0; s < per_epoch; s++)
						loss += train_batch(g[i], g[i]->w->batch, g[i]->w->lr);
					double dt = now() - t0;
					if (ep[i].n < MAX_REPS)
						ep[i].t[ep[i].n++] = dt;
					run[i] += dt;
					if (e == 0)
						loss1[i] = loss;
				}
			for (int i = 0; i < ng; i++) {
				bench_t *bn = g[i];
				full[i].t[full[i].n++] = run[i];
				spent += run[i];
				if (full[i].n > 1)
					continue;
				size_t correct = classify(bn, bn->m->max_batch, NULL);
				double acc = 100.0 * (double)correct / (double)bn->test.n;
				put_info(bn, wkey(bn, "loss_epoch1", k), threads, "%.9g",
				         loss1[i] / (double)(per_epoch * bn->w->batch));
				put_info(bn, wkey(bn, "test_accuracy", k), threads, "%.2f", acc);
				put_params_hash(bn, wkey(bn, "params_30000", k), threads);
				if (save && i == 0) {
					nncc_weights_meta_t meta = {acc / 100.0, per_epoch * epochs};
					nncc_err_t err;
					if (nncc_weights_save(bn->m, save, &bn->norm, &meta, NULL, &err))
						die(err.msg, NULL);
				}
			}
		} while (group_more(g, ng, full, spent, 3));
	}
	for (int i = 0; i < ng; i++) {
		bench_t *bn = g[i];
		size_t B = bn->w->batch;
		add_timing(bn, wkey(bn, "epoch", k), threads, &ep[i], (double)(per_epoch * B),
		           flop_train(bn->m, B, per_epoch), 1, note);
		add_timing(bn, wkey(bn, "full", k), threads, &full[i],
		           (double)(per_epoch * epochs * B), flop_train(bn->m, B, per_epoch * epochs),
		           1, note);
	}
}

/* W4: epochs of 938 steps after 20 warm-up steps, the group's members
 * alternating epoch by epoch.  With bn->steps, that many steps from the
 * init, scaled. */
static void run_w4(bench_t *const *g, int ng, int threads)
{
	const size_t full = g[0]->w->steps, steps = g[0]->steps ? g[0]->steps : full;
	const size_t warm = g[0]->steps ? 0 : 20;  /* else the timed steps are the first */
	double loss[MAX_GROUP] = {0}, spent = 0;
	timing_t t[MAX_GROUP] = {{.n = 0}};
	char note[128] = "", k[MAX_KEY];

	if (!warm)
		snprintf(note, sizeof note, "scaled from %zu steps", steps);
	for (int i = 0; i < ng; i++) {
		bench_init_params(g[i]);
		for (size_t s = 0; s < warm; s++)
			loss[i] += train_batch(g[i], g[i]->w->batch, g[i]->w->lr);
		if (warm)
			put_params_hash(g[i], wkey(g[i], "params_20steps", k), threads);
	}
	do {
		for (int i = 0; i < ng; i++) {
			double t0 = now();
			for (size_t s = 0; s < steps; s++) {
				double l = train_batch(g[i], g[i]->w->batch, g[i]->w->lr);
				if (t[i].n == 0 && warm == 0 && s < 20)
					loss[i] += l;
			}
			t[i].t[t[i].n] = now() - t0;
			spent += t[i].t[t[i].n++];
		}
	} while (group_more(g, ng, t, spent, 5));
	for (int i = 0; i < ng; i++) {
		const size_t B = g[i]->w->batch;
		if (steps >= 20 || warm)
			put_info(g[i], wkey(g[i], "loss_20steps", k), threads, "%.9g",
			         loss[i] / (20.0 * (double)B));
		add_timing(g[i], wkey(g[i], "epoch", k), threads, &t[i], (double)(full * B),
		           flop_train(g[i]->m, B, full), (double)steps / (double)full, note);
	}
}

/* A recipe (MLP): whole passes over the training set, each in a fresh
 * order, in batches of B whose last is what the pass has left, at the
 * learning rate of the recipe's schedule over its `units` epochs: the
 * driver's epochs mode (runtime/driver.c, run_train), through the same
 * runtime calls.  20 warm-up updates, then the stream starts a pass again
 * and the members of the group alternate pass by pass. */
static double pass_lr(const bench_t *bn, uint64_t total)
{
	return nncc_schedule_lr(&bn->m->config.schedule, bn->w->lr, bn->updates + 1,
	                        bn->stream.epoch, total);
}

static void run_pass(bench_t *const *g, int ng, int threads)
{
	const size_t B = g[0]->w->batch, n = g[0]->train.n, steps = (n + B - 1) / B;
	const uint64_t total = (uint64_t)(steps * g[0]->w->units);
	double loss[MAX_GROUP] = {0}, spent = 0;
	timing_t t[MAX_GROUP] = {{.n = 0}};
	char k[MAX_KEY];

	for (int i = 0; i < ng; i++) {
		bench_init_params(g[i]);
		for (size_t s = 0; s < 20; s++)
			loss[i] += train_batch(g[i], B, pass_lr(g[i], total));
		put_params_hash(g[i], wkey(g[i], "params_20steps", k), threads);
		bench_rewind(g[i]);
	}
	do {
		for (int i = 0; i < ng; i++) {
			bench_t *bn = g[i];
			const uint64_t pass = bn->stream.epoch;
			double t0 = now();
			while (bn->stream.epoch == pass) {
				size_t left = n - bn->stream.pos;
				train_batch(bn, left < B ? left : B, pass_lr(bn, total));
			}
			t[i].t[t[i].n] = now() - t0;
			spent += t[i].t[t[i].n++];
		}
	} while (group_more(g, ng, t, spent, 5));
	for (int i = 0; i < ng; i++) {
		put_info(g[i], wkey(g[i], "loss_20steps", k), threads, "%.9g",
		         loss[i] / (20.0 * (double)B));
		add_timing(g[i], wkey(g[i], "epoch", k), threads, &t[i], (double)n,
		           (double)n * flop_sample(g[i]->m) + (double)steps * flop_forward(g[i]->m), 1,
		           "");
	}
}

/* Inference over the test set: forward + argmax, tiles of k samples. */
static void run_infer(bench_t *bn, int threads, size_t k, const char *work,
                      const char *pred_path)
{
	const nncc_model_t *m = bn->m;
	timing_t t = {.n = 0};
	double spent = 0;
	uint8_t *pred = malloc(bn->test.n);
	if (!pred)
		die("out of memory", NULL);

	size_t correct = classify(bn, k, pred);  /* warm-up */
	do {
		double t0 = now();
		classify(bn, k, NULL);
		t.t[t.n] = now() - t0;
		spent += t.t[t.n++];
	} while (want_more(bn, &t, spent, 9));
	add_timing(bn, work, threads, &t, (double)bn->test.n,
	           (double)bn->test.n * flop_forward(m), 1, "");
	if (k == 1) {
		put_info(bn, "infer.test_accuracy", threads, "%.2f",
		         100.0 * (double)correct / (double)bn->test.n);
		if (pred_path) {
			FILE *f = fopen(pred_path, "wb");
			if (!f || fwrite(pred, 1, bn->test.n, f) != bn->test.n || fclose(f))
				die("cannot write", pred_path);
		}
	}
	free(pred);
}

/* ---- main --------------------------------------------------------------- */
static void check_model(const bench_t *bn)
{
	const nncc_model_t *m = bn->m;
	const workload_t *w = bn->w;
	size_t dense = 0, width = 0;
	if (m->abi_version != NNCC_ABI_VERSION)
		die("ABI version mismatch", m->name);
	for (size_t l = 0; l < m->n_layers; l++)
		if (m->layers[l].n_tensors) {   /* a dense layer */
			if (dense++ == 0 && w->hidden)
				width = m->layers[l].out;
		}
	if (m->n_inputs != N_PIXELS || m->n_outputs != N_CLASSES ||
	    dense != (w->recipe ? w->recipe->dense : w->hidden ? 2u : 1u) || width != w->hidden)
		die("the model does not have the workload's shape", w->name);
	if (strcmp(bn->impl, "naive") &&
	    (m->config.batch_size != w->batch || m->config.learning_rate != w->lr ||
	     m->config.normalize != w->normalize ||
	     (w->recipe ? m->config.init != w->recipe->init || m->config.init_biases ||
	                  !m->config.shuffle || m->config.schedule.type != w->recipe->schedule ||
	                  m->config.schedule.min_lr != 0 || m->config.schedule.t_max ||
	                  m->config.schedule.warmup || m->config.epochs != w->units
	                : m->config.init_scale != w->init_scale)))
		die("the model's YAML disagrees with the workload table in bench.c", w->name);
	if (w->batch > m->max_batch)
		die("the workload's batch does not fit one tile", w->name);
	if (!m->optimizer || strcmp(m->optimizer, w->optimizer))
		die("the model's optimizer is not the workload's", w->optimizer);
	for (size_t k = 0; w->hp[k].key && strcmp(bn->impl, "naive"); k++) {
		size_t h = 0;
		while (h < m->n_hparams && strcmp(m->hparams[h].name, w->hp[k].key))
			h++;
		if (h == m->n_hparams || m->hparams[h].value != w->hp[k].value)
			die("the model's optimizer settings disagree with the workload table in bench.c",
			    w->hp[k].key);
	}
}

/* The workloads named in `list` (w3,w3_momentum,...) into bs[], one per
 * linked model in order, with the options of `opt`. */
static int bench_group(bench_t *bs, const char *list, const bench_t *opt)
{
	int n = 0;
	for (const char *p = list; *p; p += *p == ',') {
		size_t len = strcspn(p, ",");
		const workload_t *w = NULL;
		for (size_t i = 0; i < sizeof workloads / sizeof *workloads; i++)
			if (strlen(workloads[i].name) == len && !strncmp(p, workloads[i].name, len))
				w = &workloads[i];
		if (!w)
			die("unknown workload", p);
		if ((size_t)n == N_MODELS)
			die("more workloads than models linked in", list);
		bs[n] = *opt;
		bs[n].m = models[n];
		bs[n].w = w;
		if (w->run != bs[0].w->run || w->units != bs[0].w->units ||
		    w->steps != bs[0].w->steps || w->normalize != bs[0].w->normalize ||
		    bs[n].m->dtype != bs[0].m->dtype)
			die("workloads timed together must have the same kind, steps, data and dtype",
			    list);
		check_model(&bs[n]);
		n++;
		p += len;
	}
	if ((size_t)n != N_MODELS)
		die("fewer workloads than models linked in", list);
	return n;
}

int main(int argc, char **argv)
{
	static bench_t bs[MAX_GROUP];
	bench_t opt = {.impl = "nncc", .budget = 10, .min_reps = 3};
	const char *save = NULL, *pred = NULL;
	int threads[8] = {1, 2}, n_threads = 2, passes = 1, ng;

	if (argc >= 3 && !strcmp(argv[1], "synth")) {
		synth(argv[2]);
		return 0;
	}
	if (argc < 3)
		die("usage: bench WORKLOAD[,WORKLOAD...] DATA_DIR [--impl NAME] [--threads 1,2] "
		    "[--steps N] [--passes N] [--budget S] [--min-reps N] [--save WEIGHTS] "
		    "[--pred FILE] | bench synth DIR  (WORKLOAD: w1, w3, w4, w3_momentum, w3_adam, "
		    "w4_adam, w4_dropout, mlp; one per linked model)",
		    NULL);
	if (N_MODELS > MAX_GROUP)
		die("too many models linked in", NULL);
	for (int a = 3; a < argc; a += 2) {  /* every option takes a value */
		const char *v = a + 1 < argc ? argv[a + 1] : NULL;
		if (!v)
			die("missing value for", argv[a]);
		if (!strcmp(argv[a], "--impl"))
			opt.impl = v;
		else if (!strcmp(argv[a], "--steps"))
			opt.steps = (size_t)strtoul(v, NULL, 10);
		else if (!strcmp(argv[a], "--budget"))
			opt.budget = strtod(v, NULL);
		else if (!strcmp(argv[a], "--min-reps"))
			opt.min_reps = atoi(v);
		else if (!strcmp(argv[a], "--passes"))
			passes = atoi(v) > 0 ? atoi(v) : 1;
		else if (!strcmp(argv[a], "--save"))
			save = v;
		else if (!strcmp(argv[a], "--pred"))
			pred = v;
		else if (!strcmp(argv[a], "--threads")) {
			char *end;
			n_threads = 0;
			for (const char *p = v; *p && n_threads < 8; p = *end ? end + 1 : end)
				threads[n_threads++] = (int)strtol(p, &end, 10);
		} else
			die("unknown option", argv[a]);
	}
	ng = bench_group(bs, argv[1], &opt);
	bench_load(&bs[0], argv[2]);
	for (int i = 1; i < ng; i++)  /* same data, normalisation and dtype: shared */
		bench_share(&bs[i], &bs[0]);

	/* Passes alternate the thread counts (1, 2, 1, 2, ...) so that both see
	 * the same spells of load from the machine's other users; the records
	 * pool the reps of every pass.  The workloads of a group alternate
	 * inside each measurement (run_w3, run_w4). */
	for (int pass = 0; pass < passes; pass++)
		for (int t = 0; t < n_threads; t++) {
			const int th = threads[t];
			bench_t *g[MAX_GROUP];
			int n = 0;
			for (int i = 0; i < ng; i++) {
				bench_t *bn = &bs[i];
				bn->pass = pass;
				if (!bn->m->set_threads && th != 1) {
					for (const char *const *wk = bn->w->works; *wk && !pass; wk++)
						printf("R\timpl=%s\twork=%s\tthreads=%d\tstatus=n/a\n",
						       bn->impl, *wk, th);
					continue;
				}
				if (bn->m->set_threads) {
					char key[MAX_KEY];
					put_info(bn, wkey(bn, "threads_in_use", key), th, "%.0f",
					         bn->m->set_threads(th));
				}
				g[n++] = bn;
			}
			if (!n)
				continue;
			if (g[0]->w->run == RUN_W3)
				run_w3(g, n, th, pass == 0 && th == 1 ? save : NULL);
			else if (g[0]->w->run == RUN_W4)
				run_w4(g, n, th);
			else if (g[0]->w->run == RUN_PASS)
				run_pass(g, n, th);
			for (int i = 0; i < n; i++) {
				if (g[i]->w->run == RUN_W1)
					run_w1(g[i], th);
				if (g[i]->w->infer) {
					run_infer(g[i], th, 1, "infer.1", pass == 0 && th == 1 ? pred : NULL);
					run_infer(g[i], th, g[i]->m->max_batch, "infer.B", NULL);
				}
			}
		}
	for (int i = 0; i < ng; i++)
		put_results(&bs[i]);
	return 0;
}
