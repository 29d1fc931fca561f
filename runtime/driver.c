/*
 * driver.c - nncc_main(), the generated trainer's command line: parses the
 * options (the model's optimizer hyper-parameters and the learning-rate
 * schedule's keys among them), loads and normalises the IDX data, starts
 * fresh, from --load's weights or where --resume's checkpoint stopped,
 * holds out the last samples of the training file (after --train-limit) for
 * validation, trains the model in mini-batches through the runtime's loop
 * (train.c) at the schedule's rate per update (schedule.c), clipped when
 * asked, validates after every pass and stops early when asked, writes
 * checkpoints, evaluates it and reports.  Gradients and the optimizer are
 * the generated code's business; the report formats live in report.c and
 * plot.c.
 *
 * Vocabulary: N = training samples, B = batch size, T = iterations (one
 * update each), tile = at most m->max_batch samples handed to one entry
 * point call, "stream" = the training samples repeated end to end (in file
 * order, or a fresh permutation per pass when shuffling), step = the
 * optimizer's update counter (t), pass = one epoch of the stream, V =
 * validation samples (the V after the N trained on).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ckd.h"
#include "driver.h"

#define EXIT_USAGE 2
/* Xored into the seed so the shuffle draws a different stream than the
 * weight init (which seeds with the seed itself). */
#define SHUFFLE_STREAM 0x53485546464c4531ull /* "SHUFFL1" */
/* Pre-training: autoencoder i's decoder is drawn from seed ^ PRETRAIN_INIT
 * ^ i, its shuffle from seed ^ PRETRAIN_STREAM ^ i. */
#define PRETRAIN_INIT 0x5052455f494e4954ull   /* "PRE_INIT" */
#define PRETRAIN_STREAM 0x5052455452414e31ull /* "PRETRAN1" */
/* Pre-training steps between the ranks' agreements on a signal (MPI). */
#define PRETRAIN_AGREE 64
/* Evaluations for --log/--plot when --eval-every is not given, and the
 * fewest a plot may have before it gets the default ones added. */
#define DEFAULT_EVALS 50
/* Streamed evaluations read about this many samples at a time. */
#define EVAL_WINDOW 4096
/* Rows a CSV regression's training reader parses at a time (its targets'
 * scratch, src_train.tbuf, holds them): at least a tile.  Fewer rows a call
 * cost: a tile (10 rows) a call made a streamed run 15 % slower. */
#define TRAIN_TCHUNK 256
#define MIN_PLOT_POINTS 10

struct run;

/* A streamed set's image file (or CSV training file), for
 * nncc_window_src_t.read: its samples are read into the run's pixel (values)
 * buffer and converted as nncc_norm_apply (_values) does. */
typedef struct run_src {
	struct run *r;
	nncc_images_t *img;
	const int32_t *labels;       /* the set's, all in memory */
	nncc_csv_train_t *csv;       /* or a CSV training file's rows (labels NULL) */
	double *tbuf;                /* CSV regression: targets as read, tchunk rows (the
	                                run's tbuf; the training file's own, which its
	                                read-ahead thread uses) */
	size_t tchunk;
	const nncc_dataset_t *kept;  /* CSV, rank 0 of a sharded run: the rows its scan kept,
	                                read from memory, not the file (run_keep_shard) */
} run_src_t;

/* Everything one run owns; run_fini() frees it all. */
typedef struct run {
	const nncc_model_t *m;
	const nncc_opts_t *o;
	size_t rsize;                /* bytes per real */
	char *files[NNCC_DATA_FILES];
	nncc_dataset_t train, test;
	nncc_norm_stats_t norm;
	size_t n_train, n_val;       /* N trained on, then V held out, of the file's first N + V */
	void *train_x, *test_x;      /* [N + V][n_inputs] reals, normalised */
	void *data_block;            /* in memory: train_x, test_x, train_y and test_y's
	                              * block, which the ranks on a machine share
	                              * (nncc_comm_shared) */
	int own_copy;                /* in memory under MPI, every rank reads the data and
	                              * holds its own block: it would not fit a machine's
	                              * backing directory shm_dir (shm_room bytes free) */
	size_t shm_room;
	char shm_dir[256];
	const void *train_y, *test_y; /* the labels, or regression's targets as reals */
	size_t y_bytes;              /* per sample in them */
	const void *val_x;           /* train_x's last V rows */
	const void *val_y;           /* their labels or targets */
	nncc_stream_t stream;        /* the training samples, tile by tile */
	const nncc_comm_t *comm;     /* the processes training together */
	int writer;                  /* rank 0: prints and writes the outputs */
	int failed;                  /* an evaluation's exchange failed (said on stderr) */
	nncc_group_t group;          /* --chunks > 0: the chunked step's buffers */
	nncc_share_t share;          /* --chunks 0 under MPI: the step the ranks share */
	int share_on;                /* ... planned (run_group), mapped before run_train */
	size_t *confusion;           /* [K][K] */
	nncc_outfile_t log_out, plot_out; /* --log's and --plot's temporary files */
	FILE *log;                   /* log_out.f while rows go to it, else NULL */
	int signal;                  /* the signal that stopped the training, or 0 */
	size_t log_every, plot_every;
	double *curve_x, *curve_y, *curve_v; /* plot points: iteration, train and val loss
	                                        (one block at curve_x) */
	size_t curve_n, curve_cap;
	uint64_t loaded_iterations;  /* from --load's or --resume's meta */
	nncc_checkpoint_t ck;        /* --resume's optimizer state and position (owned) */
	uint64_t step0;              /* the optimizer's step counter before the run */
	int whole_passes;            /* epochs mode: no batch runs past the end of a pass */
	size_t batch;                /* B, resolved (full batch = n_train) */
	uint64_t samples;            /* trained on so far in this run */
	double lr;                   /* the latest update's rate (before the first: its rate) */
	size_t clipped;              /* updates whose gradient was clipped */
	nncc_eval_t last_train;      /* latest periodic train evaluation */
	size_t last_train_it;        /* its iteration, or SIZE_MAX */
	nncc_eval_t val;             /* latest validation */
	size_t val_it;               /* its iteration, or SIZE_MAX */
	nncc_best_t best;            /* validation's best pass, early stopping's state */
	void *best_params;           /* early stopping: the weights after best.epoch */
	nncc_pretrain_rec_t *pre;    /* pre-training's record, one per autoencoder (owned) */
	double *pre_loss;            /* their losses per epoch (one block, owned) */
	void *pre_x, *pre_y;         /* --pretrain-unlabeled's samples (owned; else NULL) */
	/* --max-memory (docs/scaling.md#larger-than-memory) */
	size_t budget;               /* bytes the run may use */
	size_t mem_used;             /* what the plan says it uses */
	int sharded;                 /* in memory, each rank holds its tiles of every set
	                                (docs/scaling.md#shards): train_x its training and
	                                held-out samples (IDX: bytes as read; CSV: reals),
	                                test_x its test samples, val_block and test_block
	                                their labels or targets */
	nncc_held_t held[3];         /* sharded: the training, held-out and test samples this
	                                rank holds, as the group and its evaluations see them */
	size_t shard_n;              /* sharded: the training samples it holds; shard_stream:
	                                rank 0's part of a full window */
	int shard_stream;            /* streamed and shuffled, sharded: each rank reads its
	                                part of each window (nncc_stream_share) */
	int shard_pretrain;          /* streamed in file order, sharded: pre-training's
	                                (shuffled) stream is shared all the same */
	int streamed;                /* the training set streams from disk (the test set
	                                too, unless held): their samples are not in memory */
	int hold_test;               /* streamed, but the test set is small enough to be
	                                read once and held as reals (mem_plan_windows) */
	size_t window, eval_window;  /* W: the training stream's; E: evaluations' (tiles) */
	size_t gz_points;            /* streamed, shuffled, gzip'd: the training file's
	                                access points (gz_plan), a point every gz_span bytes */
	unsigned long long gz_span;
	size_t gz_eval_points;       /* under MPI, streamed: the gzip'd training file's
	                                access points for its evaluations when the stream
	                                has none, and a gzip'd test file's not held: a
	                                rank inflates its tiles from a point shortly
	                                before them (mem_plan_eval_index, eval_index) */
	size_t gz_test_points;
	size_t window_room;          /* the samples a window could hold (W before its cap at
	                                the training set: pre-training's may be larger) */
	run_src_t src_train, src_test;
	run_src_t src_eval;          /* the training file again, for its evaluations: a
	                                gzip'd one read through the stream's handle
	                                would inflate from the start at the next window
	                                (IDX: a second handle; CSV: csv_eval), sharing
	                                the training handle's access points (gz_plan) */
	uint8_t *pixels;             /* [E][n_inputs] bytes as read, to evaluate */
	nncc_csv_train_t *csv;       /* a streamed CSV training file (src_train's) */
	nncc_csv_train_t *csv_eval;  /* its twin, src_eval's (closed before csv) */
	nncc_csv_train_t *csv_test;  /* a streamed CSV test file (src_test's) */
	double *values;              /* CSV: [E][n_inputs] features as read */
	double *tbuf;                /* CSV regression: [E][n_targets] targets as read, for
	                                src_eval and src_test */
	double *train_tbuf;          /* src_train's: [train_tchunk(r)][n_targets] */
	void *eval_y;                /* CSV: [E] their labels or targets (reals) */
	void *val_block;             /* CSV: the held-out samples' labels or targets (owned) */
	void *test_block;            /* CSV: a held test set's labels or targets (owned) */
	nncc_norm_lut_t lut;         /* the pixels' inputs, when has_lut */
	int has_lut;
	void *eval_x;                /* [E][n_inputs] reals: a window being evaluated */
	double *tile_loss;           /* [E / max_batch] its tiles' loss sums */
} run_t;

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fail(const nncc_model_t *m, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

/* "NAME: error: ..." on stderr, in one write when it fits 4 KiB: under
 * mpirun the ranks' lines would otherwise interleave between the name and
 * the message (`a: error: a: error: update 56: ...`); returns the exit
 * status 1. */
static int fail(const nncc_model_t *m, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	int k = snprintf(line, sizeof line, "%s: error: ", m->name), n = -1;

	if (k > 0 && (size_t)k < sizeof line) {
		va_start(ap, fmt);
		n = vsnprintf(line + k, sizeof line - (size_t)k, fmt, ap);
		va_end(ap);
	}
	if (n >= 0 && (size_t)k + (size_t)n + 1 < sizeof line) {
		line[k + n] = '\n';
		line[k + n + 1] = '\0';
		fputs(line, stderr);
		return 1;
	}
	fprintf(stderr, "%s: error: ", m->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* ---- options ------------------------------------------------------------ */

/* How an option's value is parsed and stored (at offset `off` of nncc_opts_t). */
typedef enum opt_kind {
	OPT_STR,        /* const char * */
	OPT_POSITIVE,   /* size_t >= 1 */
	OPT_EPOCHS,     /* size_t >= 0, clears iterations */
	OPT_ITERATIONS, /* size_t >= 0, clears epochs */
	OPT_EPOCHS0,    /* size_t >= 0 */
	OPT_NO_TRAIN,   /* iterations = epochs = 0 */
	OPT_U64,        /* uint64_t */
	OPT_THREADS,    /* int >= 0 */
	OPT_CHUNKS,     /* size_t >= 0 */
	OPT_LR,         /* double, finite, > 0 */
	OPT_CLIP,       /* double, finite, >= 0 (0 = off) */
	OPT_NONNEG,     /* double, finite, >= 0 */
	OPT_VALIDATION, /* double: an integer >= 0, or a fraction in (0, 1) */
	OPT_METRIC,     /* int, an NNCC_METRICS word */
	OPT_NO_STOP,    /* patience = 0 */
	OPT_BATCH,      /* size_t >= 1, or "full" = 0 */
	OPT_SIZE,       /* size_t >= 1 bytes, with K, M, G or T (powers of 1024) */
	OPT_SET,        /* int = 1 */
	OPT_CLEAR,      /* int = 0 */
	OPT_HELP
} opt_kind_t;

typedef struct opt_def {
	const char *name;
	const char *metavar;  /* NULL: takes no value */
	opt_kind_t kind;
	size_t off;
	const char *help;     /* '\n' starts an indented continuation line */
} opt_def_t;

#define OFF(field) offsetof(nncc_opts_t, field)

static const opt_def_t opt_defs[] = {
	{"data", "DIR", OPT_STR, OFF(data_dir),
	 "directory of the four IDX files (raw or .gz)"},
	{"epochs", "N", OPT_EPOCHS, OFF(epochs),
	 "train for N passes over the training set,\n"
	 "ceil(samples / batch) updates each (the last\n"
	 "one on the rest); with --resume, until N\n"
	 "passes are complete"},
	{"iterations", "N", OPT_ITERATIONS, OFF(iterations),
	 "train for N iterations (optimizer updates),\n"
	 "batches taken from the endless stream (with\n"
	 "--resume: N more); 0 = evaluate only"},
	{"no-train", NULL, OPT_NO_TRAIN, 0, "evaluate only, same as --iterations 0"},
	{"lr", "X", OPT_LR, OFF(lr), "learning rate (the schedule's base rate)"},
	{"clip-norm", "X", OPT_CLIP, OFF(clip_norm),
	 "clip the batch-mean gradient to global L2\n"
	 "norm X before each update (0 = off)"},
	{"batch", "N|full", OPT_BATCH, OFF(batch),
	 "samples per update (full = the training set);\n"
	 "a batch larger than the model's tile runs\n"
	 "forward+backward over consecutive tiles,\n"
	 "accumulating the gradient, then one update"},
	{"seed", "N", OPT_U64, OFF(seed), "seed of the initial weights and the shuffle"},
	{"shuffle", NULL, OPT_SET, OFF(shuffle),
	 "a fresh random order of the training set\nevery epoch"},
	{"no-shuffle", NULL, OPT_CLEAR, OFF(shuffle),
	 "consecutive batches in file order, wrapping\naround at the end"},
	{"threads", "N", OPT_THREADS, OFF(threads), "threads to use (0 = all cores)"},
	{"chunks", "N", OPT_CHUNKS, OFF(chunks),
	 "cut every batch into N fixed chunks whose\n"
	 "gradients are added along a fixed tree: the same\n"
	 "bits for any number of MPI ranks (mpirun -np\n"
	 "R, R <= N; docs/scaling.md); 0 = off, one chain\n"
	 "over the batch"},
	{"mpi-timeout", "SECONDS", OPT_NONNEG, OFF(mpi_timeout),
	 "under mpirun: end the run when an exchange\n"
	 "has waited this long for the ranks, naming\n"
	 "those that did not come; 0 = wait for ever"},
	{"shard", NULL, OPT_SET, OFF(shard),
	 "under mpirun: each rank holds only its share\n"
	 "of the data in memory and gets the rest of\n"
	 "every batch from the ranks that hold it (the\n"
	 "default when the ranks span several machines;\n"
	 "docs/scaling.md#shards)"},
	{"no-shard", NULL, OPT_CLEAR, OFF(shard),
	 "under mpirun: each machine holds the whole\n"
	 "data in memory, once for its ranks"},
	{"optimizer", "NAME", OPT_STR, OFF(optimizer),
	 "the optimizer: fixed when nncc generates the\n"
	 "trainer, only its own name is accepted"},
	{"save", "FILE", OPT_STR, OFF(save),
	 "write the trained weights, the optimizer's\n"
	 "state and step and the training position to\n"
	 "FILE (atomically)"},
	{"checkpoint-every", "N", OPT_POSITIVE, OFF(checkpoint_every),
	 "also write --save's FILE after every update\n"
	 "whose step counter is a multiple of N"},
	{"load", "FILE", OPT_STR, OFF(load),
	 "start from the weights in FILE (and its\n"
	 "normalisation) with a fresh optimizer: zero\n"
	 "state, step 1, data from the first sample"},
	{"resume", "FILE", OPT_STR, OFF(resume),
	 "continue the training FILE was saved from,\n"
	 "exactly: weights, normalisation, optimizer\n"
	 "state and step, data position"},
	{"predict", "FILE", OPT_STR, OFF(predict),
	 "predict mode (needs --load): run the network\n"
	 "over the IDX images in FILE and write one CSV\n"
	 "row per image: sample,class and the outputs\n"
	 "(probabilities with softmax); no training"},
	{"output", "FILE.csv", OPT_STR, OFF(output),
	 "where --predict writes its rows (atomically;\n"
	 "default and '-': standard output)"},
	{"eval-every", "N", OPT_POSITIVE, OFF(eval_every),
	 "every N iterations (and at the start and the\n"
	 "end) compute the mean loss over the whole\n"
	 "training set"},
	{"eval-test", NULL, OPT_SET, OFF(eval_test),
	 "with --eval-every or --log, also compute the\ntest accuracy"},
	{"log", "FILE.csv", OPT_STR, OFF(log),
	 "write one row per evaluation: iteration,epoch,\n"
	 "lr,train_loss[,test_accuracy],seconds\n"
	 "(training time so far); without --eval-every,\n"
	 "evaluate about 50 times"},
	{"plot", "FILE.svg", OPT_STR, OFF(plot),
	 "draw the mean training loss against the\n"
	 "iterations (evaluated as for --log, at least\n"
	 "10 points)"},
	{"train-limit", "N", OPT_POSITIVE, OFF(train_limit),
	 "train on the first N samples of the training\n"
	 "file only (the held-out ones among them)"},
	{"validation", "N|FRACTION", OPT_VALIDATION, OFF(validation),
	 "hold out the last N samples (or that fraction)\n"
	 "of the training set, never trained on, and\n"
	 "report their loss and accuracy after every\n"
	 "epoch; 0 = none"},
	{"patience", "N", OPT_POSITIVE, OFF(patience),
	 "early stopping: stop when the metric has not\n"
	 "improved for N epochs and restore the best\n"
	 "epoch's weights (needs --validation)"},
	{"stop-metric", "NAME", OPT_METRIC, OFF(metric),
	 "what early stopping and the best epoch watch:\n"
	 "val_loss or val_accuracy"},
	{"min-delta", "X", OPT_NONNEG, OFF(min_delta),
	 "early stopping: the least change that counts\n"
	 "as an improvement"},
	{"no-early-stopping", NULL, OPT_NO_STOP, 0, "train all the epochs (patience off)"},
	{"pretrain-epochs", "N", OPT_EPOCHS0, OFF(pretrain_epochs),
	 "pre-training's passes over the training set\n"
	 "per layer (models with `pretrain:`); 0 = skip\n"
	 "it"},
	{"pretrain-lr", "X", OPT_LR, OFF(pretrain_lr), "pre-training's learning rate"},
	{"pretrain-unlabeled", NULL, OPT_SET, OFF(pretrain_unlabeled),
	 "pre-train also on the training file's samples\n"
	 "--train-limit leaves out (as unlabeled data;\n"
	 "never the validation samples)"},
	{"max-memory", "SIZE", OPT_SIZE, OFF(max_memory),
	 "the memory the run may use, in bytes or with\n"
	 "K, M, G (powers of 1024); a training set that\n"
	 "does not fit streams from its file (IDX or\n"
	 "CSV) in windows (docs/scaling.md)"},
	{"json", NULL, OPT_SET, OFF(json), "print the results as one JSON object"},
	{"quiet", NULL, OPT_SET, OFF(quiet), "no progress on stderr"},
	{"help", NULL, OPT_HELP, 0, "show this help"},
};

#define N_OPTS (sizeof opt_defs / sizeof opt_defs[0])
#define OPT_VAL_BASE 256 /* getopt val of option i is OPT_VAL_BASE + i */
/* The options after opt_defs, in getopt's table: --schedule, the
 * schedule's keys (runtime/schedule.c), the optimizer's hyper-parameters,
 * one after the other (getopt stops at the first entry without a name). */
#define MAX_SKEYS 16
#define I_SCHEDULE N_OPTS
#define I_SKEY (N_OPTS + 1)
#define N_LONGS (I_SKEY + MAX_SKEYS + NNCC_MAX_HPARAMS + 1)

/* Option names made from YAML keys ('-' for '_'), and where the
 * hyper-parameters start in getopt's table. */
typedef struct key_names {
	char skey[MAX_SKEYS][32];
	char hparam[NNCC_MAX_HPARAMS][64];
	size_t n_skeys, i_hparam;
} key_names_t;

static void dashes(char *dst, size_t len, const char *key)
{
	snprintf(dst, len, "%s", key);
	for (char *q = dst; *q; q++)
		*q = *q == '_' ? '-' : *q;
}

static void opts_defaults(nncc_opts_t *o, const nncc_model_t *m)
{
	const nncc_config_t *c = &m->config;
	memset(o, 0, sizeof *o);
	o->data_dir = c->data_dir && *c->data_dir ? c->data_dir : ".";
	o->iterations = c->iterations;
	o->epochs = c->iterations ? 0 : c->epochs;
	o->lr = c->learning_rate;
	o->clip_norm = c->clip_norm;
	o->validation = c->validation;
	o->patience = c->patience;
	o->metric = c->metric;
	o->min_delta = c->min_delta;
	o->schedule = c->schedule;
	o->batch = c->batch_size;
	o->seed = c->seed;
	o->shuffle = c->shuffle;
	o->threads = c->threads;
	o->chunks = NNCC_CHUNKS_DEFAULT;
	o->mpi_timeout = NNCC_MPI_TIMEOUT;
	o->shard = -1;
	o->optimizer = m->optimizer;
	o->pretrain_epochs = m->n_pretrain ? c->pretrain.epochs : 0;
	o->pretrain_lr = m->n_pretrain ? c->pretrain.learning_rate : 0;
	for (size_t k = 0; k < m->n_hparams && k < NNCC_MAX_HPARAMS; k++)
		o->hparams[k] = m->hparams[k].value;
}

/* The default an option shows in --help ("" for none).  A flag shows
 * "default" when it is the configured behaviour (--shuffle / --no-shuffle). */
static const char *opt_default(const opt_def_t *d, const nncc_opts_t *o, char *buf, size_t len)
{
	const char *p = (const char *)o + d->off;
	size_t z;
	buf[0] = 0;
	switch (d->kind) {
	case OPT_STR:
		if (*(const char *const *)p)
			snprintf(buf, len, "default: %s", *(const char *const *)p);
		break;
	case OPT_EPOCHS:
	case OPT_EPOCHS0:
	case OPT_ITERATIONS:
	case OPT_POSITIVE:
		memcpy(&z, p, sizeof z);
		if (z)
			snprintf(buf, len, "default: %zu", z);
		break;
	case OPT_BATCH:
		memcpy(&z, p, sizeof z);
		snprintf(buf, len, z ? "default: %zu" : "default: full", z);
		break;
	case OPT_SIZE:
		snprintf(buf, len, "default: half the physical memory");
		break;
	case OPT_U64:
		snprintf(buf, len, "default: %llu", (unsigned long long)*(const uint64_t *)p);
		break;
	case OPT_THREADS:
		snprintf(buf, len, "default: %d", *(const int *)p);
		break;
	case OPT_CHUNKS:
		snprintf(buf, len, "default: %d with MPI, else 0", NNCC_MPI_CHUNKS);
		break;
	case OPT_LR:
	case OPT_CLIP:
		if (d->kind == OPT_LR && *(const double *)p == 0) /* a model without pre-training */
			break;
		if (d->kind == OPT_CLIP && *(const double *)p == 0)
			snprintf(buf, len, "default: off");
		else
			snprintf(buf, len, "default: %g", *(const double *)p);
		break;
	case OPT_NONNEG:
	case OPT_VALIDATION:
		snprintf(buf, len, "default: %g", *(const double *)p);
		break;
	case OPT_METRIC:
		snprintf(buf, len, "default: %s", nncc_metric_name(*(const int *)p));
		break;
	case OPT_SET:
	case OPT_CLEAR:
		if (*(const int *)p == (d->kind == OPT_SET))
			snprintf(buf, len, "default");
		break;
	case OPT_NO_STOP:
		if (!o->patience)
			snprintf(buf, len, "default");
		break;
	case OPT_NO_TRAIN:
	case OPT_HELP:
		break;
	}
	return buf;
}

/* A hyper-parameter fixed when the trainer was generated (its range is one
 * value): it lays out the optimizer's state, as rmsprop's centered. */
static int hparam_fixed(const nncc_hparam_t *h)
{
	return h->min == h->max && !h->min_open && !h->max_open;
}

/* One option in --help: its head, its help ('\n' continues indented) and
 * its default; a head too wide for the column goes on its own line. */
/* A CSV data set is one file per set: the label files are unused. */
static int data_file_used(const nncc_model_t *m, int k)
{
	return m->config.format != NNCC_FORMAT_CSV ||
	       (k != NNCC_FILE_TRAIN_LABELS && k != NNCC_FILE_TEST_LABELS);
}

static void help_row(FILE *f, const char *head, const char *help, const char *dflt)
{
	if (strlen(head) > 20)
		fprintf(f, "  %s\n  %-20s ", head, "");
	else
		fprintf(f, "  %-20s ", head);
	for (const char *s = help; *s; s++) {
		fputc(*s, f);
		if (*s == '\n')
			fprintf(f, "  %-20s ", "");
	}
	if (dflt && *dflt)
		fprintf(f, " [%s]", dflt);
	fputc('\n', f);
}

/* "constant, step, exponential or cosine" into buf. */
static const char *schedule_names(char *buf, size_t len)
{
	buf[0] = 0;
	for (size_t i = 0; i < nncc_schedule_count; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
		         i == 0 ? "" : i + 1 == nncc_schedule_count ? " or " : ", ",
		         nncc_schedules[i].name);
	return buf;
}

/* The units' words joined by sep ("|", " or ") into buf; the units are
 * numbered from 0 (NNCC_UNITS). */
static const char *unit_names(char *buf, size_t len, const char *sep)
{
	buf[0] = 0;
	for (int u = 0; strcmp(nncc_unit_name(u), "?"); u++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", u ? sep : "", nncc_unit_name(u));
	return buf;
}

/* The schedule's options: --schedule and every key, the defaults those of
 * the schedule compiled in. */
static void help_schedule(FILE *f, const nncc_model_t *m, const key_names_t *kn)
{
	const nncc_schedule_t *sc = &m->config.schedule;
	const nncc_schedule_info_t *info = &nncc_schedules[sc->type];
	char head[128], dflt[96], names[128], units[64];
	schedule_names(names, sizeof names);
	unit_names(units, sizeof units, "|");
	fprintf(f, "\nlearning-rate schedule (the rate of update t, from --lr; these\n"
	           "override the YAML):\n");
	snprintf(dflt, sizeof dflt, "default: %s", info->name);
	help_row(f, "--schedule NAME", names, dflt);
	for (size_t k = 0; k < kn->n_skeys; k++) {
		const nncc_schedule_key_t *key = &nncc_schedule_keys[k];
		const char *p = (const char *)sc + key->offset;
		double x;
		uint64_t n;
		int u;
		snprintf(head, sizeof head, "--%s %s", kn->skey[k],
		         key->kind == NNCC_SKEY_NUMBER  ? "X"
		         : key->kind == NNCC_SKEY_COUNT ? "N"
		                                        : units);
		dflt[0] = 0;
		if (!(info->keys >> k & 1)) {
			help_row(f, head, key->help, dflt);
			continue;
		}
		switch (key->kind) {
		case NNCC_SKEY_NUMBER:
			memcpy(&x, p, sizeof x);
			snprintf(dflt, sizeof dflt, "default: %g", x);
			break;
		case NNCC_SKEY_COUNT:
			memcpy(&n, p, sizeof n);
			snprintf(dflt, sizeof dflt, "default: %llu", (unsigned long long)n);
			break;
		default:
			memcpy(&u, p, sizeof u);
			snprintf(dflt, sizeof dflt, "default: %s", nncc_unit_name(u));
			break;
		}
		help_row(f, head, key->help, dflt);
	}
}

static void opts_help(FILE *f, const char *prog, const nncc_model_t *m, const key_names_t *kn)
{
	nncc_opts_t o;
	char buf[256];
	opts_defaults(&o, m);
	fprintf(f, "usage: %s [options]\n", prog);
	fprintf(f, "Trains network '%s' (%s, %zu parameters, tiles of %zu samples) with\n"
	           "mini-batch %s on IDX data, then reports its loss and test accuracy.\n"
	           "Results go to stdout, progress and errors to stderr.\n\noptions:\n",
	        m->name, m->source ? m->source : "?", m->n_params, m->max_batch,
	        m->optimizer ? m->optimizer : "?");
	for (size_t i = 0; i < N_OPTS; i++) {
		const opt_def_t *d = &opt_defs[i];
		char head[64];
		snprintf(head, sizeof head, "--%s%s%s", d->name, d->metavar ? " " : "",
		         d->metavar ? d->metavar : "");
		help_row(f, head, d->help, opt_default(d, &o, buf, sizeof buf));
	}
	help_schedule(f, m, kn);
	if (m->n_hparams)
		fprintf(f, "\n%s hyper-parameters (the optimizer is fixed when nncc generates\n"
		           "the trainer; these override the YAML):\n", m->optimizer);
	for (size_t k = 0; k < m->n_hparams; k++) {
		const nncc_hparam_t *h = &m->hparams[k];
		char head[96];
		const char *what = hparam_fixed(h) ? "fixed at generation" : "default";
		snprintf(head, sizeof head, "--%s %s", kn->hparam[k], h->flag ? "on|off" : "X");
		if (h->flag)
			snprintf(buf, sizeof buf, "%s: %s", what, h->value != 0 ? "on" : "off");
		else
			snprintf(buf, sizeof buf, "%s: %g", what, h->value);
		help_row(f, head, h->help ? h->help : "", buf);
	}
	fprintf(f, "\ndata files (%s, relative to --data):\n", m->config.format == NNCC_FORMAT_CSV
	                                                           ? "CSV" : "IDX");
	for (int i = 0; i < NNCC_DATA_FILES; i++)
		if (data_file_used(m, i))
			fprintf(f, "  %s\n", m->config.files[i] ? m->config.files[i] : nncc_default_files[i]);
}

/* Unsigned decimal, the whole string, no sign. */
static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* A finite decimal number, the whole string. */
static int parse_double(const char *s, double *out)
{
	char *end;
	double x;
	errno = 0;
	x = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(x))
		return -1;
	*out = x;
	return 0;
}

/* "a number in (0, 1]", "a number >= 0" or "an integer in [1, 4294967295]"
 * into expect. */
static const char *range_text(char *expect, size_t len, const char *what, double min, double max,
                              int min_open, int max_open)
{
	if (isinf(max))
		snprintf(expect, len, "%s %s %g", what, min_open ? ">" : ">=", min);
	else if (strcmp(what, "an integer"))
		snprintf(expect, len, "%s in %s%g, %g%s", what, min_open ? "(" : "[", min, max,
		         max_open ? ")" : "]");
	else
		snprintf(expect, len, "%s in %s%.0f, %.0f%s", what, min_open ? "(" : "[", min, max,
		         max_open ? ")" : "]");
	return expect;
}

static int in_range(double x, double min, double max, int min_open, int max_open)
{
	return (min_open ? x > min : x >= min) && (max_open ? x < max : x <= max);
}

/* Stores one option's value; returns NULL or what was expected. */
/* A byte count >= 1, maybe with a suffix K, M, G or T (powers of 1024). */
static int parse_size(const char *s, size_t *out)
{
	static const char units[] = "KMGT";
	size_t len = strlen(s), shift = 0;
	char digits[32];
	const char *u;
	uint64_t v;

	if (len && (u = strchr(units, s[len - 1])) && *u) {
		shift = 10 * (size_t)(u - units + 1);
		len--;
	}
	if (!len || len >= sizeof digits)
		return -1;
	memcpy(digits, s, len);
	digits[len] = 0;
	if (parse_u64(digits, &v) || v == 0 || v > (SIZE_MAX >> shift))
		return -1;
	*out = (size_t)v << shift;
	return 0;
}

static const char *opt_store(const opt_def_t *d, nncc_opts_t *o, const char *arg)
{
	char *p = (char *)o + d->off;
	uint64_t u;
	size_t z;
	double x;
	switch (d->kind) {
	case OPT_STR:
		if (!*arg)
			return "a non-empty name";
		*(const char **)p = arg;
		return NULL;
	case OPT_POSITIVE:
	case OPT_EPOCHS:
	case OPT_EPOCHS0:
	case OPT_ITERATIONS:
	case OPT_CHUNKS:
		if (parse_u64(arg, &u) || u > SIZE_MAX || (d->kind == OPT_POSITIVE && u == 0))
			return d->kind == OPT_POSITIVE ? "an integer >= 1" : "an integer >= 0";
		z = (size_t)u;
		memcpy(p, &z, sizeof z);
		if (d->kind == OPT_EPOCHS)
			o->iterations = 0;
		if (d->kind == OPT_ITERATIONS)
			o->epochs = 0;
		return NULL;
	case OPT_NO_TRAIN:
		o->iterations = o->epochs = 0;
		return NULL;
	case OPT_U64:
		if (parse_u64(arg, &u))
			return "an integer >= 0";
		memcpy(p, &u, sizeof u);
		return NULL;
	case OPT_THREADS:
		if (parse_u64(arg, &u) || u > INT_MAX)
			return "an integer >= 0 (0 = all cores)";
		*(int *)p = (int)u;
		return NULL;
	case OPT_LR:
	case OPT_CLIP:
		if (parse_double(arg, &x) || (d->kind == OPT_LR ? x <= 0 : x < 0))
			return d->kind == OPT_LR ? "a number > 0" : "a number >= 0 (0 = off)";
		memcpy(p, &x, sizeof x);
		return NULL;
	case OPT_NONNEG:
		if (parse_double(arg, &x) || x < 0)
			return "a number >= 0";
		memcpy(p, &x, sizeof x);
		return NULL;
	case OPT_VALIDATION:
		if (parse_u64(arg, &u) == 0 && u <= UINT32_MAX)
			x = (double)u;
		else if (parse_double(arg, &x) || !(x > 0 && x < 1))
			return "an integer >= 0 (a count, 0 = none) or a fraction in (0, 1)";
		memcpy(p, &x, sizeof x);
		return NULL;
	case OPT_METRIC:
		for (int k = 0; strcmp(nncc_metric_name(k), "?"); k++)
			if (!strcmp(arg, nncc_metric_name(k))) {
				memcpy(p, &k, sizeof k);
				return NULL;
			}
		return "val_loss or val_accuracy";
	case OPT_NO_STOP:
		o->patience = 0;
		return NULL;
	case OPT_BATCH:
		if (!strcmp(arg, "full"))
			u = 0;
		else if (parse_u64(arg, &u) || u == 0 || u > SIZE_MAX)
			return "an integer >= 1 or 'full'";
		z = (size_t)u;
		memcpy(p, &z, sizeof z);
		return NULL;
	case OPT_SIZE:
		if (parse_size(arg, &z))
			return "a size in bytes >= 1, or with K, M, G or T (e.g. 512M)";
		memcpy(p, &z, sizeof z);
		return NULL;
	case OPT_SET:
	case OPT_CLEAR:
		*(int *)p = d->kind == OPT_SET;
		return NULL;
	case OPT_HELP:
		return NULL;
	}
	return NULL;
}

/* Stores the value of hyper-parameter h; returns NULL or what was expected. */
static const char *hparam_store(const nncc_hparam_t *h, double *out, const char *arg,
                                char *expect, size_t len)
{
	static const struct {
		const char *word;
		double value;
	} words[] = {{"on", 1}, {"off", 0}, {"true", 1}, {"false", 0}, {"yes", 1}, {"no", 0},
	             {"1", 1}, {"0", 0}};
	double x = NAN;
	int parsed = 0;
	if (h->flag) {
		for (size_t i = 0; i < sizeof words / sizeof words[0] && !parsed; i++)
			if (!strcmp(arg, words[i].word)) {
				x = words[i].value;
				parsed = 1;
			}
	} else {
		parsed = parse_double(arg, &x) == 0;
	}
	if (parsed && in_range(x, h->min, h->max, h->min_open, h->max_open)) {
		*out = x;
		return NULL;
	}
	if (parsed && hparam_fixed(h)) {
		char fixed[32], want[32];
		if (h->flag) {
			snprintf(fixed, sizeof fixed, "%s", h->min != 0 ? "on" : "off");
			snprintf(want, sizeof want, "%s", x != 0 ? "true" : "false");
		} else {
			snprintf(fixed, sizeof fixed, "%g", h->min);
			snprintf(want, sizeof want, "%g", x);
		}
		snprintf(expect, len, "%s: fixed when nncc generated the trainer, as it lays out the "
		         "optimizer's state; regenerate with '%s: %s' in the YAML", fixed, h->name,
		         want);
	} else if (h->flag)
		snprintf(expect, len, "on or off");
	else
		range_text(expect, len, "a number", h->min, h->max, h->min_open, h->max_open);
	return expect;
}

/* Stores the value of schedule key `key` into its field of *s; returns
 * NULL or what was expected. */
static const char *skey_store(const nncc_schedule_key_t *key, nncc_schedule_t *s,
                              const char *arg, char *expect, size_t len)
{
	char *p = (char *)s + key->offset;
	double x;
	uint64_t u;
	int unit;
	switch (key->kind) {
	case NNCC_SKEY_NUMBER:
		if (parse_double(arg, &x) || !in_range(x, key->min, key->max, key->min_open, key->max_open))
			return range_text(expect, len, "a number", key->min, key->max, key->min_open,
			                  key->max_open);
		memcpy(p, &x, sizeof x);
		return NULL;
	case NNCC_SKEY_COUNT:
		if (parse_u64(arg, &u) || !in_range((double)u, key->min, key->max, 0, 0))
			return range_text(expect, len, "an integer", key->min, key->max, 0, 0);
		memcpy(p, &u, sizeof u);
		return NULL;
	default:   /* the units are numbered from 0 (NNCC_UNITS) */
		for (unit = 0; strcmp(nncc_unit_name(unit), "?"); unit++)
			if (!strcmp(arg, nncc_unit_name(unit))) {
				memcpy(p, &unit, sizeof unit);
				return NULL;
			}
		return unit_names(expect, len, " or ");
	}
}

/* The schedule's options as parsed: --schedule's row (NULL when not
 * given), the keys given (bit k = nncc_schedule_keys[k]) and their values. */
typedef struct sched_opts {
	const nncc_schedule_info_t *info;
	unsigned given;
	nncc_schedule_t values;
} sched_opts_t;

/* Copies key k's field from `from` to `to`. */
static void skey_copy(nncc_schedule_t *to, const nncc_schedule_t *from, size_t k)
{
	const nncc_schedule_key_t *key = &nncc_schedule_keys[k];
	size_t size = key->kind == NNCC_SKEY_NUMBER ? sizeof(double)
	              : key->kind == NNCC_SKEY_COUNT ? sizeof(uint64_t)
	                                             : sizeof(int);
	memcpy((char *)to + key->offset, (const char *)from + key->offset, size);
}

/* The run's schedule: the one compiled in, or --schedule's with its
 * defaults, and the keys given.  A key of another schedule, and a key the
 * schedule needs that --schedule did not bring, are usage errors (-1). */
static int schedule_resolve(nncc_opts_t *o, const nncc_model_t *m, const sched_opts_t *so,
                            const key_names_t *kn)
{
	const nncc_schedule_info_t *info = &nncc_schedules[m->config.schedule.type];
	nncc_schedule_t s = m->config.schedule;
	int other = so->info && so->info != info;
	if (other) {
		info = so->info;
		s = info->defaults;
	}
	for (size_t k = 0; k < kn->n_skeys; k++) {
		if (!(so->given >> k & 1))
			continue;
		if (!(info->keys >> k & 1)) {
			fail(m, "--%s is not a key of the %s schedule (this run's; another with "
			        "--schedule NAME)", kn->skey[k], info->name);
			return -1;
		}
		skey_copy(&s, &so->values, k);
	}
	for (size_t k = 0; other && k < kn->n_skeys; k++)
		if (info->required >> k & 1 && !(so->given >> k & 1)) {
			fail(m, "--schedule %s needs --%s", info->name, kn->skey[k]);
			return -1;
		}
	if (s.type == NNCC_SCHEDULE_COSINE && s.t_max && s.t_max <= s.warmup) {
		fail(m, "the cosine schedule's t_max (%llu) must be larger than its warmup (%llu)",
		     (unsigned long long)s.t_max, (unsigned long long)s.warmup);
		return -1;
	}
	o->schedule = s;
	return 0;
}

/* What the options say together: 0, or -1 after a message. */
static int opts_check(const nncc_opts_t *o, const nncc_model_t *m)
{
	if (o->optimizer && m->optimizer && strcmp(o->optimizer, m->optimizer)) {
		fail(m, "this trainer's optimizer is %s: the optimizer is fixed when nncc "
		        "generates the trainer (its state is laid out for it); to train with %s, "
		        "regenerate it with 'optimizer: %s' in the YAML",
		     m->optimizer, o->optimizer, o->optimizer);
		return -1;
	}
	if (o->resume && o->load) {
		fail(m, "--resume and --load exclude each other (--resume continues a training "
		        "exactly, --load starts a fresh optimizer on a file's weights)");
		return -1;
	}
	if (!m->n_pretrain && (o->pretrain_epochs || o->pretrain_lr > 0 || o->pretrain_unlabeled)) {
		fail(m, "this trainer has no pre-training: %s needs a `pretrain:` section in the "
		        "YAML (docs/format.md#pretrain)",
		     o->pretrain_epochs ? "--pretrain-epochs"
		     : o->pretrain_lr > 0 ? "--pretrain-lr" : "--pretrain-unlabeled");
		return -1;
	}
	if (o->checkpoint_every && !o->save) {
		fail(m, "--checkpoint-every needs --save FILE (the file it writes)");
		return -1;
	}
	if (o->patience && o->validation == 0) {
		fail(m, "early stopping (patience %zu) needs a validation set: give --validation "
		        "N|FRACTION, or --no-early-stopping", o->patience);
		return -1;
	}
	if (m->n_targets && o->metric == NNCC_METRIC_VAL_ACCURACY && o->validation > 0) {
		fail(m, "a regression has no accuracy: the best epoch is chosen by val_loss "
		        "(--stop-metric val_loss)");
		return -1;
	}
	if (o->output && !o->predict) {
		fail(m, "--output is where --predict writes: it needs --predict");
		return -1;
	}
	if (o->predict && !o->load) {
		fail(m, "--predict needs --load FILE, the trained weights");
		return -1;
	}
	if (o->predict && (o->save || o->resume || o->log || o->plot)) {
		fail(m, "--predict runs a trained network: %s is for training",
		     o->save ? "--save" : o->resume ? "--resume" : o->log ? "--log" : "--plot");
		return -1;
	}
	return 0;
}

/* getopt_long's table: opt_defs, --schedule, the schedule's keys, the
 * optimizer's hyper-parameters. */
static void opts_table(struct option *longs, key_names_t *kn, const nncc_model_t *m)
{
	memset(longs, 0, N_LONGS * sizeof *longs);
	for (size_t i = 0; i < N_OPTS; i++) {
		longs[i].name = opt_defs[i].name;
		longs[i].has_arg = opt_defs[i].metavar ? required_argument : no_argument;
	}
	longs[I_SCHEDULE].name = "schedule";
	kn->n_skeys = nncc_schedule_key_count < MAX_SKEYS ? nncc_schedule_key_count : MAX_SKEYS;
	kn->i_hparam = I_SKEY + kn->n_skeys;
	for (size_t k = 0; k < kn->n_skeys; k++) {
		dashes(kn->skey[k], sizeof kn->skey[k], nncc_schedule_keys[k].name);
		longs[I_SKEY + k].name = kn->skey[k];
	}
	for (size_t k = 0; k < m->n_hparams; k++) {
		dashes(kn->hparam[k], sizeof kn->hparam[k], m->hparams[k].name);
		longs[kn->i_hparam + k].name = kn->hparam[k];
	}
	for (size_t i = 0; longs[i].name; i++) {
		if (i >= N_OPTS)
			longs[i].has_arg = required_argument;
		longs[i].val = OPT_VAL_BASE + (int)i;
	}
}

/* One option that is not in opt_defs: --schedule, a schedule key or a
 * hyper-parameter (index i of the table).  Returns NULL or what was
 * expected; *name receives the option's name. */
static const char *opt_other(size_t i, const char *arg, nncc_opts_t *o, sched_opts_t *so,
                             const nncc_model_t *m, const key_names_t *kn, const char **name,
                             char *expect, size_t len)
{
	if (i == I_SCHEDULE) {
		*name = "schedule";
		so->info = nncc_schedule_find(arg);
		return so->info ? NULL : schedule_names(expect, len);
	}
	if (i < kn->i_hparam) {
		*name = kn->skey[i - I_SKEY];
		so->given |= 1u << (i - I_SKEY);
		return skey_store(&nncc_schedule_keys[i - I_SKEY], &so->values, arg, expect, len);
	}
	i -= kn->i_hparam;
	*name = kn->hparam[i];
	return hparam_store(&m->hparams[i], &o->hparams[i], arg, expect, len);
}

/* Returns -1 to go on, or the exit status (0 after --help, 2 on bad usage). */
static int opts_parse(nncc_opts_t *o, int argc, char **argv, const nncc_model_t *m)
{
	struct option longs[N_LONGS];
	key_names_t kn;
	sched_opts_t so = {NULL, 0, {0}};
	char expect[256];
	const char *prog = argc > 0 && argv[0] ? argv[0] : m->name;
	const char *bad = NULL;
	int c;

	opts_defaults(o, m);
	opts_table(longs, &kn, m);
	/* getopt keeps global state: start over for every call (tests call
	 * nncc_main repeatedly).  glibc needs 0 for a full reset. */
#ifdef __GLIBC__
	optind = 0;
#else
	optind = 1;
#endif
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", longs, NULL)) != -1) {
		const char *opt = argv[optind - 1], *name;
		size_t at = c >= OPT_VAL_BASE ? (size_t)(c - OPT_VAL_BASE) : 0;
		const opt_def_t *d = c >= OPT_VAL_BASE && at < N_OPTS ? &opt_defs[at] : NULL;
		if (c == 'h' || (d && d->kind == OPT_HELP)) {
			opts_help(stdout, prog, m, &kn);
			return 0;
		}
		if (c == '?') {
			if (optopt)
				fail(m, "unknown option '-%c'", optopt);
			else
				fail(m, "unknown option '%s'", opt);
			bad = "";
			break;
		}
		if (c == ':') {
			fail(m, "option '%s' needs a value", opt);
			bad = "";
			break;
		}
		if (d) {
			name = d->name;
			bad = opt_store(d, o, optarg);
		} else {
			bad = opt_other(at, optarg, o, &so, m, &kn, &name, expect, sizeof expect);
		}
		if (bad) {
			fail(m, "invalid value '%s' for --%s (expected %s)", optarg, name, bad);
			break;
		}
	}
	if (!bad && optind < argc) {
		fail(m, "unexpected argument '%s'", argv[optind]);
		bad = "";
	}
	if (!bad && (schedule_resolve(o, m, &so, &kn) || opts_check(o, m)))
		bad = "";
	if (bad) {
		fprintf(stderr, "Try '%s --help' for the options.\n", prog);
		return EXIT_USAGE;
	}
	return -1;
}

/* The option parsing step alone, for the fuzzing harness (driver.h). */
int nncc_opts_parse(nncc_opts_t *o, int argc, char **argv, const nncc_model_t *m)
{
	return opts_parse(o, argc, argv, m);
}

/* ---- data --------------------------------------------------------------- */

/* dir/name, or name itself when absolute; malloc'd (NULL when out of memory). */
static char *path_join(const char *dir, const char *name)
{
	size_t n;
	char *p;
	if (name[0] == '/')
		return strdup(name);
	n = strlen(dir) + strlen(name) + 2;
	p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* The four data files' paths, from --data and the YAML's names. */
static int run_paths(run_t *r)
{
	const nncc_config_t *c = &r->m->config;
	for (int i = 0; i < NNCC_DATA_FILES; i++) {
		if (!data_file_used(r->m, i))
			continue;
		r->files[i] = path_join(r->o->data_dir, c->files[i] ? c->files[i] : nncc_default_files[i]);
		if (!r->files[i])
			return fail(r->m, "out of memory");
	}
	return 0;
}

/* Where a path leads, to tell whether two name the same file: an existing
 * file is its device and inode (whatever the links and spellings that lead
 * to it); one that does not exist yet is its directory's device and inode
 * and its last name. */
typedef struct file_id {
	int exists;                  /* 1: dev, ino are the file's; 0: its directory's */
	dev_t dev;
	ino_t ino;
	const char *name;            /* not existing: the last component of the path */
} file_id_t;

/* 0, or -1 when the path cannot be placed (then only its spelling counts). */
static int file_id_of(const char *path, file_id_t *id)
{
	struct stat st;
	const char *slash = strrchr(path, '/');
	char *dir;
	int rc;

	memset(id, 0, sizeof *id);
	if (stat(path, &st) == 0) {
		id->exists = 1;
		id->dev = st.st_dev;
		id->ino = st.st_ino;
		return 0;
	}
	if (errno != ENOENT)
		return -1;
	id->name = slash ? slash + 1 : path;
	dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (!dir)
		return -1;
	rc = stat(dir, &st);
	free(dir);
	if (rc != 0)
		return -1;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	return 0;
}

int nncc_same_file(const char *a, const char *b)
{
	file_id_t ia, ib;
	if (!strcmp(a, b))
		return 1;
	if (file_id_of(a, &ia) || file_id_of(b, &ib) || ia.exists != ib.exists)
		return 0;
	return ia.dev == ib.dev && ia.ino == ib.ino && (ia.exists || !strcmp(ia.name, ib.name));
}

/* A device or FIFO (/dev/null): outputs may share it, it is written in place. */
static int is_device(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

/* An output must not be an input, nor another output, through any path or
 * link: refused before anything is written (exit status 2).  --save may be
 * --load's or --resume's file: it is read whole first and replaced in one
 * step at the end (continuing a run in place). */
static int outputs_check(const run_t *r)
{
	const nncc_opts_t *o = r->o;
	const struct {
		const char *opt, *path;
		int replaces_weights;    /* may be --load's or --resume's file */
	} outs[] = {{"--save", o->save, 1}, {"--log", o->log, 0}, {"--plot", o->plot, 0}},
	  ins[] = {{"--load", o->load, 0}, {"--resume", o->resume, 0}};
	const size_t n_outs = sizeof outs / sizeof outs[0], n_ins = sizeof ins / sizeof ins[0];

	for (size_t i = 0; i < n_outs; i++) {
		if (!outs[i].path)
			continue;
		for (size_t j = i + 1; j < n_outs; j++)
			if (outs[j].path && nncc_same_file(outs[i].path, outs[j].path) &&
			    !is_device(outs[i].path))
				return fail(r->m, "%s %s and %s %s are the same file: each output needs its own",
				            outs[i].opt, outs[i].path, outs[j].opt, outs[j].path);
		for (size_t j = 0; j < n_ins; j++)
			if (!outs[i].replaces_weights && ins[j].path && nncc_same_file(outs[i].path, ins[j].path))
				return fail(r->m, "%s %s is %s's file %s: writing it would destroy the weights "
				               "it reads", outs[i].opt, outs[i].path, ins[j].opt, ins[j].path);
		for (int k = 0; k < NNCC_DATA_FILES; k++) {
			char gz[PATH_MAX];
			if (!r->files[k])
				continue;
			int n = snprintf(gz, sizeof gz, "%s.gz", r->files[k]);
			const char *hit = nncc_same_file(outs[i].path, r->files[k]) ? r->files[k]
			                  : n > 0 && (size_t)n < sizeof gz && access(r->files[k], F_OK) &&
			                          nncc_same_file(outs[i].path, gz) ? gz : NULL;
			if (hit)
				return fail(r->m, "%s %s is the data file %s: an output must not overwrite an "
				                  "input", outs[i].opt, outs[i].path, hit);
		}
	}
	return 0;
}

/* --log's and --plot's temporary files, and a trial one in --save's
 * directory: an output that cannot be written is found now, before the
 * training, not after. */
static int run_open_outputs(run_t *r)
{
	const nncc_opts_t *o = r->o;
	nncc_outfile_t probe;
	nncc_err_t err;

	if (o->log) {
		if (nncc_outfile_open(&r->log_out, o->log, "cannot write", &err))
			return fail(r->m, "%s", err.msg);
		r->log = r->log_out.f;
	}
	if (o->plot && nncc_outfile_open(&r->plot_out, o->plot, "cannot write", &err))
		return fail(r->m, "%s", err.msg);
	if (o->save) {
		if (nncc_outfile_open(&probe, o->save, "cannot save weights to", &err))
			return fail(r->m, "%s", err.msg);
		nncc_outfile_abort(&probe);
	}
	return 0;
}

/* Checks one loaded set against the model: inputs, labels, size. */
static int data_check(const run_t *r, const nncc_dataset_t *ds, const char *images,
                      const char *labels)
{
	const nncc_model_t *m = r->m;
	int csv = m->config.format == NNCC_FORMAT_CSV;
	if (csv && ds->class_names && ds->n_classes > m->n_outputs)
		return fail(m, "%s has %zu classes but network '%s' has %zu outputs", images,
		            ds->n_classes, m->name, m->n_outputs);
	if (csv && ds->n_classes > m->n_outputs)
		return fail(m, "%s has label %zu but network '%s' has %zu outputs (labels 0..%zu)",
		            images, ds->n_classes - 1, m->name, m->n_outputs, m->n_outputs - 1);
	if (ds->dim != m->n_inputs)
		return fail(m, "%s has %zu pixels per image but network '%s' expects %zu inputs",
		            images, ds->dim, m->name, m->n_inputs);
	if (ds->n_classes > m->n_outputs)
		return fail(m, "%s has label %zu but network '%s' has %zu outputs (labels 0..%zu)",
		            labels, ds->n_classes - 1, m->name, m->n_outputs, m->n_outputs - 1);
	if (ds->n == 0)
		return fail(m, "%s has no images", images);
	size_t bytes;
	if (!ckd_mul3(&bytes, ds->n, m->n_inputs, r->rsize))
		return fail(m, "%s: %zu images of %zu inputs of %zu bytes overflow size_t", images, ds->n,
		            m->n_inputs, r->rsize);
	return 0;
}

/* --resume and validation: the file's split must be this run's, and its
 * record (BEST section) goes on: the best pass, its weights for early
 * stopping, the passes without improvement. */
static int resume_best(run_t *r)
{
	const nncc_model_t *m = r->m;
	const nncc_opts_t *o = r->o;
	const nncc_checkpoint_t *ck = &r->ck;
	const char *path = o->resume;

	if (!ck->has_best != !r->n_val)
		return fail(m, "cannot resume from %s: it was saved %s a validation set, this run %s "
		               "(resume with the same --validation)", path,
		            ck->has_best ? "with" : "without", r->n_val ? "holds one out" : "has none");
	if (!ck->has_best)
		return 0;
	if (ck->n_train != r->n_train || ck->n_val != r->n_val)
		return fail(m, "cannot resume from %s: it trained on %llu samples and held out %llu, "
		               "this run %zu and %zu (resume with the same --train-limit and "
		               "--validation)", path, (unsigned long long)ck->n_train,
		            (unsigned long long)ck->n_val, r->n_train, r->n_val);
	if (ck->best_epoch && ck->metric != o->metric)
		return fail(m, "cannot resume from %s: it chose its best epoch by %s, this run by %s",
		            path, nncc_metric_name(ck->metric), nncc_metric_name(o->metric));
	if (ck->best_epoch && o->patience && !ck->n_best)
		return fail(m, "cannot resume from %s with early stopping: it was saved without it, so "
		               "it has no best weights to restore", path);
	r->best = (nncc_best_t){ck->best_epoch, ck->best_loss, ck->best_accuracy, ck->wait,
	                        ck->stopped, ck->stopped ? ck->epoch : 0};
	if (r->best_params && ck->n_best)
		memcpy(r->best_params, ck->best, m->n_params * r->rsize);
	return 0;
}

/* The split of the training file: its first --train-limit samples (all
 * without it), of which the last V are held out for validation. */
static int run_split(run_t *r)
{
	const nncc_model_t *m = r->m;
	const nncc_opts_t *o = r->o;
	size_t n = r->train.n, v;

	if (o->train_limit > n)
		return fail(m, "--train-limit %zu is more than the %zu samples of %s", o->train_limit, n,
		            r->files[NNCC_FILE_TRAIN_IMAGES]);
	if (o->train_limit)
		n = o->train_limit;
	v = o->validation >= 1 ? (size_t)o->validation : (size_t)(o->validation * (double)n);
	if (o->validation > 0 && v == 0)
		return fail(m, "validation %g of %zu training samples holds out none (give a count, "
		            "or a larger fraction)", o->validation, n);
	if (v >= n)
		return fail(m, "validation %zu is not smaller than the %zu training samples%s: it must "
		               "leave some to train on", v, n, o->train_limit ? " --train-limit keeps" : "");
	r->n_train = n - v;
	r->n_val = v;
	if (v && o->patience && !r->best_params) {
		size_t bytes;
		if (!ckd_mul_size(&bytes, m->n_params, r->rsize) || !(r->best_params = malloc(bytes)))
			return fail(m, "out of memory for early stopping's copy of the %zu parameters",
			            m->n_params);
	}
	return 0;
}

/* --resume: the file's optimizer must be this trainer's, with as many
 * state slots; its state goes into m->state and its step counter on. */
static int resume_state(run_t *r)
{
	const nncc_model_t *m = r->m;
	const nncc_checkpoint_t *ck = &r->ck;
	const char *path = r->o->resume;

	if (!ck->has_optim)
		return fail(m, "cannot resume from %s: it has no optimizer state (OPTIM section); "
		               "--load starts from its weights with a fresh optimizer", path);
	if (!m->optimizer || strcmp(ck->optimizer, m->optimizer))
		return fail(m, "cannot resume from %s: it was saved by a trainer whose optimizer is %s, "
		               "this one's is %s (--load starts from its weights with a fresh %s)",
		            path, ck->optimizer, m->optimizer ? m->optimizer : "?",
		            m->optimizer ? m->optimizer : "optimizer");
	if (ck->n_state != m->n_state)
		return fail(m, "cannot resume from %s: it holds %zu optimizer state slots per parameter, "
		               "%s here has %zu", path, ck->n_state, m->optimizer, m->n_state);
	if (!ck->has_position)
		return fail(m, "cannot resume from %s: it has no training position (POSITION section)",
		            path);
	if (resume_best(r))
		return 1;
	if (m->n_state)
		memcpy(m->state, ck->state, m->n_state * m->n_params * r->rsize);
	r->step0 = ck->step;
	return 0;
}

/* --resume with another recipe than the saved run's (RECIPE: batch,
 * chunks, the seed when there is dropout) trains on from the saved state,
 * as asked, but does not give the bits of one run with this recipe: said
 * once, on stderr.  The mode is not
 * compared: a run stopped in iterations mode and resumed in epochs mode is
 * exact when no batch ran over a pass's end (docs/trainer.md).  Files older
 * than RECIPE say nothing of it. */
static void resume_recipe(const run_t *r)
{
	const nncc_checkpoint_t *ck = &r->ck;
	uint64_t now = r->group.chunks > 1 ? r->group.chunks : 0;
	char what[256] = "";
	size_t at = 0;

#define DIFFERS(cond, ...)                                                                 \
	do {                                                                                   \
		if ((cond) && at < sizeof what)                                                    \
			at += (size_t)snprintf(what + at, sizeof what - at, __VA_ARGS__);             \
	} while (0)
	DIFFERS(ck->batch != r->batch, ", batch %zu (it was trained with %llu)", r->batch,
	        (unsigned long long)ck->batch);
	DIFFERS(ck->chunks != now, ", --chunks %llu (it had %llu)", (unsigned long long)now,
	        (unsigned long long)ck->chunks);
	DIFFERS(r->m->mask_key && ck->seed != r->o->seed,
	        ", --seed %llu (it had %llu: dropout's masks follow it)",
	        (unsigned long long)r->o->seed, (unsigned long long)ck->seed);
#undef DIFFERS
	if (ck->has_recipe && at && r->writer)
		fprintf(stderr, "%s: warning: resuming %s with%s: it trains on from the saved state, "
		                "but not as one run with this recipe would, bit for bit\n",
		        r->m->name, r->o->resume, what + 1);
}

/* The class names of a weight file are these. */
static int same_names(const char *const *names, size_t n, const nncc_norm_stats_t *st)
{
	if (n != st->n_classes)
		return 0;
	for (size_t k = 0; k < n; k++)
		if (strcmp(names[k], st->class_names[k]))
			return 0;
	return 1;
}

/* a * b + c saturating at SIZE_MAX (an estimate past it is refused anyway). */
static size_t mem_add(size_t c, size_t a, size_t b)
{
	size_t ab;
	return ckd_mul_size(&ab, a, b) && ckd_add_size(&ab, ab, c) ? ab : SIZE_MAX;
}

/* What a CSV set's rows kept by the scan hold once it handed them out (its
 * arrays shrunk to their rows): values, and targets or labels. */
static size_t csv_kept_bytes(const run_t *r, const nncc_dataset_t *ds)
{
	size_t row = r->m->n_inputs * sizeof(double) +
	             (ds->targets ? r->m->n_targets * sizeof(double) : sizeof(int32_t));
	return mem_add(0, ds->n, row);
}

/* Drops a CSV set's rows kept by the scan: the run streams. */
static void csv_unkeep(nncc_dataset_t *ds)
{
	free(ds->values);
	free(ds->labels);
	free(ds->targets);
	ds->values = ds->targets = NULL;
	ds->labels = NULL;
}

/* Whether this rank reads the samples.  In memory under MPI one rank a
 * machine does, the first (local_rank 0): it fits the normalisation and
 * writes both sets' reals and labels into the block the ranks there share
 * (run_load).  The others read only what the plan needs (IDX: the labels;
 * CSV: a scan that keeps no rows, which a streamed run needs anyway) and
 * have no statistics: they convert nothing, and the weight file is rank
 * 0's.  With --pretrain-unlabeled every rank reads (each converts the rows
 * past those in use), and so does every rank when the block would not fit
 * where Open MPI backs shared memory (data_room). */
static int reads_samples(const run_t *r)
{
	return !r->sharded && (r->comm->local_rank == 0 || r->own_copy || r->o->pretrain_unlabeled);
}

/* Whether this run pre-trains (run_pretrain). */
static int runs_pretrain(const run_t *r)
{
	const nncc_opts_t *o = r->o;
	return r->m->n_pretrain && o->pretrain_epochs && !o->load && !o->resume;
}

/* --chunks, or the library's default when not given (0: off). */
static size_t run_chunks(const run_t *r)
{
	return r->o->chunks == NNCC_CHUNKS_DEFAULT ? r->comm->default_chunks : r->o->chunks;
}

/* Whether the run may shard (docs/scaling.md#shards): under MPI with
 * --shard, or by default when the ranks span more than one machine; not
 * with --pretrain-unlabeled's pre-training, whose samples past the
 * training set no rank holds.  An in-memory run then does (a streamed one
 * reads its own samples anyway).  Collective. */
static int run_may_shard(run_t *r)
{
	const nncc_opts_t *o = r->o;
	int spans = 0, unlabeled = runs_pretrain(r) && o->pretrain_unlabeled;
	nncc_err_t err;

	if (nncc_comm_max(r->comm, r->comm->local < r->comm->size, &spans, &err))
		return fail(r->m, "%s", err.msg);
	if (o->shard == 1 && unlabeled && r->comm->size > 1)
		return fail(r->m, "--shard: pre-training with --pretrain-unlabeled reads the file's "
		                  "samples past the training set, which no rank holds; pre-train in a "
		                  "run of its own (--save, then --load) or drop --shard");
	r->sharded = r->comm->size > 1 && !unlabeled && (o->shard == 1 || (o->shard < 0 && spans));
	return 0;
}

/* nncc_csv_scan of file k (NNCC_FILE_TRAIN_IMAGES or _TEST_IMAGES), on
 * rank 0 alone under MPI: it sends the findings (the row count, columns,
 * classes and row starts, not the rows) and the others open the file from
 * them (nncc_csv_scanned, keeping no rows): one scan of the file, not one
 * a rank.  When rank 0's scan fails (its message says why) the others stop
 * too.  Collective. */
static int csv_scan_ranks(run_t *r, nncc_csv_train_t **t, nncc_dataset_t *ds, int k,
                          const char *const *names, size_t n_names, size_t keep,
                          nncc_err_t *err)
{
	const nncc_model_t *m = r->m;
	const nncc_csv_spec_t *spec = &m->config.csv;
	const char *path = r->files[k];
	size_t R = (size_t)r->comm->size, len = 0, n, *count;
	void *buf = NULL;
	int rc = 0;

	if (R == 1)
		return nncc_csv_scan(t, ds, path, spec, m->n_inputs, names, n_names, m->max_batch,
		                     keep, err);
	if (r->comm->rank == 0)
		rc = nncc_csv_scan(t, ds, path, spec, m->n_inputs, names, n_names, m->max_batch, keep,
		                   err) || nncc_csv_scan_pack(*t, ds, &buf, &len, err);
	if (nncc_comm_min_size(r->comm, r->comm->rank ? SIZE_MAX : rc ? 0 : len, &n, err)) {
		free(buf);
		return -1;
	}
	if (rc || !n) {   /* rank 0: its message; the others: */
		if (!rc)
			nncc_err_set(err, "%s: rank 0 could not scan it (its message says why)", path);
		free(buf);
		return -1;
	}
	if ((r->comm->rank && !(buf = malloc(n))) || !(count = calloc(2 * R, sizeof *count))) {
		nncc_err_set(err, "%s: out of memory for its scan's %zu bytes", path, n);
		free(buf);
		return -1;
	}
	count[0] = n;   /* rank 0's n bytes to all; displacements (count + R) 0 */
	rc = nncc_comm_allgather(r->comm, NNCC_BYTES, buf, count, count + R, err);
	if (!rc && r->comm->rank)
		rc = nncc_csv_scanned(t, ds, path, spec, m->n_inputs, names, n_names, m->max_batch, buf,
		                      n, err);
	free(count);
	free(buf);
	return rc;
}

/* format csv: both files, their labels mapped to the same classes, scanned
 * (r->csv, r->csv_test: their rows are read later, whole or streamed,
 * unless the scan kept them: it does while they fit the budget); the
 * classes are
 * YAML's, else those of the weight file the run starts from (--load,
 * --resume), else the training file's (its integers, or its sorted
 * strings), which the test file's labels must then be. */
static int run_load_csv(run_t *r, const char *from)
{
	const nncc_model_t *m = r->m;
	const nncc_csv_spec_t *spec = &m->config.csv;
	const char *const *names = spec->classes;
	size_t n_names = spec->n_classes;
	nncc_weights_file_t wf = {0};
	nncc_err_t err;
	size_t kept;
	int rc = 1, keep;

	if (from && nncc_weights_read(&wf, from, &err))
		return fail(m, "%s", err.msg);
	if (from && n_names && wf.norm.n_classes && !same_names(names, n_names, &wf.norm))
		goto mismatch;
	if (from && !n_names && wf.norm.n_classes) {
		names = (const char *const *)wf.norm.class_names;
		n_names = wf.norm.n_classes;
	}
	/* the rows are kept while they fit by the rank that reads them, and by
	 * rank 0 of a sharded run (run_keep_shard) */
	keep = reads_samples(r) || r->sharded;
	if (csv_scan_ranks(r, &r->csv, &r->train, NNCC_FILE_TRAIN_IMAGES, names, n_names,
	                   keep ? r->budget : 0, &err))
		goto failed;
	kept = r->train.values ? csv_kept_bytes(r, &r->train) : 0;
	if (from && !wf.norm.n_classes && r->train.class_names && !spec->n_classes) {
		nncc_err_set(&err, "%s has class names, but %s was trained on integer labels",
		             r->files[NNCC_FILE_TRAIN_IMAGES], from);
		goto failed;
	}
	if (csv_scan_ranks(r, &r->csv_test, &r->test, NNCC_FILE_TEST_IMAGES,
	                   (const char *const *)r->train.class_names,
	                   r->train.class_names ? r->train.n_classes : 0,
	                   keep && r->budget > kept ? r->budget - kept : 0, &err))
		goto failed;
	if (m->n_targets && r->test.n_targets != m->n_targets) {
		nncc_err_set(&err, "network '%s' is a regression on %zu targets, but %s has %zu",
		             m->name, m->n_targets, r->files[NNCC_FILE_TEST_IMAGES], r->test.n_targets);
		goto failed;
	}
	if (r->test.class_names && !r->train.class_names) {
		nncc_err_set(&err, "%s has labels that are not integers, but %s's are integers",
		             r->files[NNCC_FILE_TEST_IMAGES], r->files[NNCC_FILE_TRAIN_IMAGES]);
		goto failed;
	}
	rc = 0;
	goto done;
mismatch:
	nncc_err_set(&err, "%s names other classes than the YAML's 'classes'", from);
failed:
	fail(m, "%s", err.msg);
done:
	nncc_weights_file_fini(&wf);
	return rc;
}

/* v into reals[j], the model's dtype. */
static void store_real(const nncc_model_t *m, void *reals, size_t j, double v)
{
	if (m->dtype == NNCC_F64)
		((double *)reals)[j] = v;
	else
		((float *)reals)[j] = (float)v;
}

/* What the entry points take as y, written at y (the training set's first
 * `used`, then the test set's): the labels, or for regression the targets
 * converted to the model's reals (one rounding from the file's double). */
static int y_fill(run_t *r, size_t used, char *y)
{
	const nncc_model_t *m = r->m;
	size_t K = m->n_targets;

	if (!K) {
		memcpy(y, r->train.labels, used * sizeof *r->train.labels);
		memcpy(y + used * r->y_bytes, r->test.labels, r->test.n * sizeof *r->test.labels);
		return 0;
	}
	if (r->train.n_targets != K || r->test.n_targets != K)
		return fail(m, "network '%s' is a regression on %zu targets, but the data has %zu",
		            m->name, K, r->train.n_targets);
	for (size_t j = 0; j < used * K; j++)
		store_real(m, y, j, r->train.targets[j]);
	for (size_t j = 0; j < r->test.n * K; j++)
		store_real(m, y + used * r->y_bytes, j, r->test.targets[j]);
	return 0;
}

/* ---- the memory budget and streamed sets (IDX, CSV) --------------------- */

/* The run's memory budget: --max-memory, or half the physical memory
 * (sysconf) shared by the ranks on this machine, or when even that is
 * unknown, no limit.  Ranks agree on the smallest: the budget decides
 * whether the set streams and in which windows, and every rank's stream
 * must be one process's. */
static int mem_budget(run_t *r)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	size_t budget = SIZE_MAX;
	nncc_err_t err;

	if (r->o->max_memory)
		budget = r->o->max_memory;
	else if (pages > 0 && page > 0 && (unsigned long)pages <= SIZE_MAX / (unsigned long)page)
		budget = (size_t)pages * (size_t)page / 2 / (size_t)(r->comm->local > 0 ? r->comm->local
		                                                                       : 1);
	if (nncc_comm_min_size(r->comm, budget, &r->budget, &err))
		return fail(r->m, "%s", err.msg);
	return 0;
}

/* What the run needs besides the sets' samples: the model's buffers
 * (static_bytes: parameters, gradients, optimizer state, one tile's
 * activations and deltas, pre-training's; and one thread's scratch),
 * early stopping's copy, the tile of inputs and the stream's scratch tile,
 * the confusion matrix, and a checkpoint's fixed part (nncc_weights_save
 * builds the file whole: the parameters, the optimizer's state, early
 * stopping's copy, the statistics; its permutation is counted per sample
 * by the callers), and with --chunks the chunked step's sums (the most any
 * rank count needs: nncc_group_bytes).  The checkpoint, one thread and the
 * chunks' sums are counted whether or not the run saves, however many
 * threads and ranks it has: the plan decides a streamed run's windows, so
 * it depends on the recipe and the budget alone.  A model made by hand
 * (static_bytes 0) is estimated: every layer's outputs twice a sample. */
static size_t mem_fixed(const run_t *r)
{
	const nncc_model_t *m = r->m;
	size_t units = 2 * m->n_inputs, best = r->best_params != NULL, bytes;
	if (m->static_bytes) {
		bytes = mem_add(m->static_bytes, 1, m->thread_bytes);
		bytes = mem_add(bytes, m->n_params * r->rsize, best);
	} else {
		for (size_t l = 0; l < m->n_layers; l++)
			units = mem_add(units, 2, m->layers[l].out);
		bytes = mem_add(0, m->n_params * r->rsize, 2 + m->n_state + best);
	}
	bytes = mem_add(bytes, units * r->rsize, m->max_batch);
	bytes = mem_add(bytes, m->max_batch, sizeof(int32_t));
	bytes = mem_add(bytes, m->n_outputs * m->n_outputs, sizeof(size_t));
	bytes = mem_add(bytes, m->n_params * r->rsize, 1 + m->n_state + best);
	bytes = mem_add(bytes, 1, nncc_group_bytes(m, run_chunks(r), runs_pretrain(r)));
	return mem_add(bytes, m->n_inputs, 2 * sizeof(double));
}

/* A checkpoint's permutation entry: a u32 in checkpoint_of's copy and in
 * the file nncc_weights_save builds (mem_fixed). */
#define CK_PERM_BYTES (2 * sizeof(uint32_t))

/* The in-memory run: raw and converted samples of both sets, their labels
 * (or targets: from double to the model's reals), the checkpoint's
 * permutation. */
static size_t mem_in_memory(const run_t *r)
{
	const nncc_model_t *m = r->m;
	size_t row = m->n_inputs * r->rsize, raw = m->config.format == NNCC_FORMAT_CSV
	                                                ? m->n_inputs * sizeof(double) : m->n_inputs;
	size_t y = m->n_targets ? m->n_targets * (sizeof(double) + r->rsize) : sizeof(int32_t);
	size_t bytes = mem_add(mem_fixed(r), r->train.n + r->test.n, raw + y);
	bytes = mem_add(bytes, r->n_train, CK_PERM_BYTES);
	return mem_add(bytes, r->n_train + r->n_val + r->test.n, row);
}

/* The samples evaluations (and a sharded run's reads) take at a time when
 * the budget allows: whole tiles, about EVAL_WINDOW, no more than the
 * largest set needs (data_check: neither set is empty). */
static size_t eval_window_default(const run_t *r)
{
	size_t mb = r->m->max_batch, E = EVAL_WINDOW > mb ? EVAL_WINDOW - EVAL_WINDOW % mb : mb;
	size_t most = r->n_train > r->test.n ? r->n_train : r->test.n;
	most = most / mb * mb + (most % mb ? mb : 0);
	return E < most ? E : most;
}

/* A sharded batch's exchange (nncc_group_shard's buffers for batches of
 * B, samples of hb bytes as held): `out` samples sent; this rank's
 * positions received, as held and as reals, with where each came from; the
 * scratch tile of the stream over them. */
static size_t mem_exchange(const run_t *r, size_t B, size_t out, size_t hb)
{
	const nncc_model_t *m = r->m;
	size_t C = run_chunks(r), row = m->n_inputs * r->rsize;
	size_t yb = m->n_targets ? m->n_targets * r->rsize : sizeof(int32_t);
	size_t bytes = mem_add(0, out, hb + yb);

	bytes = mem_add(bytes, nncc_group_own_max(B, C, (size_t)r->comm->size),
	                2 * (hb + yb) + row + sizeof(int));
	return mem_add(bytes, m->max_batch, row);
}

/* A sharded run (docs/scaling.md#shards): what the largest share needs,
 * so that every rank decides alike: the fixed part; its tiles of the three
 * sets as held (IDX: bytes as read; CSV: reals) with their labels or
 * targets; the checkpoint's permutation; a batch's exchange; rank 0's fit
 * of the statistics reads E samples at a time. */
static size_t mem_sharded(const run_t *r)
{
	const nncc_model_t *m = r->m;
	size_t R = (size_t)r->comm->size, mb = m->max_batch, N = r->n_train, a, b, most = 0;
	size_t row = m->n_inputs * r->rsize, hb = r->csv ? row : m->n_inputs;
	size_t yb = m->n_targets ? m->n_targets * r->rsize : sizeof(int32_t), wire = hb + yb;
	size_t B = r->o->batch && r->o->batch < N ? r->o->batch : N, out = 0, bytes;

	for (size_t q = 0; q < R; q++) {
		size_t held, send;
		nncc_tiles_held(N, mb, q, R, &a, &b);
		held = b - a;
		send = held < B / 2 ? 2 * held : B;   /* nncc_group_shard's max_out */
		out = send > out ? send : out;
		nncc_tiles_held(r->n_val, mb, q, R, &a, &b);
		held += b - a;
		nncc_tiles_held(r->test.n, mb, q, R, &a, &b);
		held += b - a;
		most = held > most ? held : most;
	}
	bytes = mem_add(mem_fixed(r), most, wire);
	bytes = mem_add(bytes, N, CK_PERM_BYTES);
	bytes = mem_add(bytes, 1, mem_exchange(r, B, out, hb));
	if (runs_pretrain(r))   /* pre-training's, beside the training's (at most a batch out) */
		bytes = mem_add(bytes, 1, mem_exchange(r, m->config.pretrain.batch_size,
		                                       m->config.pretrain.batch_size, hb));
	bytes = mem_add(bytes, mb, row);   /* a held tile converted, to evaluate */
	return mem_add(bytes, eval_window_default(r), hb);
}

/* W and E for what is left after `rest` (see mem_plan_windows), and the
 * whole tiles a window could hold before W's cap at the training set (the
 * room pre-training's window may take); the bytes used. */
static size_t mem_plan(const run_t *r, size_t rest, size_t per, size_t ev, size_t E, size_t *W_out,
                       size_t *E_out, size_t *room_out)
{
	size_t mb = r->m->max_batch, W;

	W = mem_add(rest, E, ev) < r->budget ? (r->budget - mem_add(rest, E, ev)) / per : 0;
	if (W < E && W < r->n_train) {   /* tight: E as large as W */
		W = (r->budget - rest) / (per + ev);
		E = W - W % mb > mb ? W - W % mb : mb;
	}
	*room_out = W - W % mb;
	if (W >= r->n_train)
		W = r->n_train;
	else
		W -= W % mb;   /* whole tiles */
	*W_out = W;
	*E_out = E;
	return mem_add(mem_add(rest, W, per), E, ev);
}

/* Rows src_train's targets' scratch holds (CSV regression). */
static size_t train_tchunk(const run_t *r)
{
	return r->m->max_batch > TRAIN_TCHUNK ? r->m->max_batch : TRAIN_TCHUNK;
}

/* The inflated bytes of the training file, or of the test file (CSV: as
 * its scan found them; IDX: the header and the images). */
static unsigned long long file_bytes(const run_t *r, int test)
{
	const nncc_csv_train_t *csv = test ? r->csv_test : r->csv;
	if (csv)
		return nncc_csv_train_bytes(csv);
	return 16 + (unsigned long long)(test ? r->test.n : r->train.n) * r->m->n_inputs;
}

/* Whether the training file, or the test file, can seek (not gzip'd, or
 * indexed; no file: yes), before the run's sources are set up. */
static int file_seekable(const run_t *r, int test)
{
	const nncc_csv_train_t *csv = test ? r->csv_test : r->csv;
	const nncc_images_t *img = test ? r->src_test.img : r->src_train.img;
	if (r->csv)
		return !csv || nncc_csv_train_seekable(csv);
	return !img || nncc_images_seekable(img);
}

/* The bytes of the first n of a file's nf samples in `total` (n <= nf),
 * without total * n wrapping. */
static unsigned long long share_bytes(unsigned long long total, size_t n, size_t nf)
{
	return nf ? total / nf * n + total % nf * n / nf : total;
}

/* Under MPI the evaluations are split among the ranks, each reading its
 * tiles of the set (nncc_group_evaluate_by): a gzip'd file streamed for
 * them gets an index of access points (eval_index), so that a rank
 * inflates its tiles from a point shortly before them, not the file up to
 * them.  The training file's evaluations share the stream's index when it
 * has one, else get their own (r->gz_eval_points); a test file not held
 * gets one (r->gz_test_points); either only when the run evaluates the
 * set more than once.  A point every EVAL_SPAN_MIN bytes of what is
 * evaluated or more, EVAL_POINTS_MIN or more (fewer leave too long a way to a rank's
 * tiles), each file half of what the budget's sixteenth leaves beside the
 * stream's index when both have one; out of the evaluations' room (whole
 * tiles of E, one tile left), not out of the window: the windows, and so
 * the bits, stay one process's (E does not change them).  The new E;
 * *used updated. */
#define EVAL_SPAN_MIN (1u << 16)

#define EVAL_POINTS_MIN 4
static size_t eval_points(unsigned long long total, size_t most)
{
	unsigned long long want = total / EVAL_SPAN_MIN + 1;
	size_t n = want < most ? (size_t)want : most;
	return n < EVAL_POINTS_MIN ? 0 : n;
}

static size_t mem_plan_eval_index(run_t *r, size_t E, size_t ev, size_t *used)
{
	const nncc_opts_t *o = r->o;
	size_t mb = r->m->max_batch, most = r->budget / 16 / NNCC_GZ_POINT_BYTES, spare, cut, n;
	/* evaluated more than once (run_eval_point): the first evaluation
	 * walks the file to record the points, only the later ones save */
	int train = (o->eval_every || o->log || o->plot) && !r->gz_points && !file_seekable(r, 0);
	int test = o->eval_test && (o->eval_every || o->log) && r->test.n && !r->hold_test &&
	           !file_seekable(r, 1);

	most = most > r->gz_points ? most - r->gz_points : 0;
	spare = (E - mb) / mb * mb * ev / NNCC_GZ_POINT_BYTES;
	if (spare < most)
		most = spare;
	/* the training set's evaluations read its first n_train samples */
	r->gz_eval_points =
	    train ? eval_points(share_bytes(file_bytes(r, 0), r->n_train, r->train.n),
	                        test ? most - most / 2 : most)
	          : 0;
	r->gz_test_points = test ? eval_points(file_bytes(r, 1), most - r->gz_eval_points) : 0;
	n = r->gz_eval_points + r->gz_test_points;
	cut = (n * NNCC_GZ_POINT_BYTES + ev - 1) / ev;
	cut = (cut + mb - 1) / mb * mb;
	*used = *used - cut * ev + n * NNCC_GZ_POINT_BYTES;
	return E - cut;
}

/* The samples a window can hold after the rest; a window's sample costs its
 * bytes as read, its label and its permutation's entry, and a checkpoint's
 * two (the window's and the tail's, up to 2 W; the windows' order, 8
 * bytes a window, is left out: at most 8 / max_batch bytes a sample); the
 * stream converts a tile at a time, into the tile: one more tile of bytes.
 * Evaluations read E samples at a time (whole tiles), bytes and reals:
 * about EVAL_WINDOW (no more than the largest set needs), or when the
 * budget is tighter, as many as the training window.  A test set that as reals
 * takes at most a quarter of the bytes left for the window is read once
 * and held (r->hold_test), the window planned again without those bytes:
 * else every evaluation reads it again (and for CSV, parses it).  Sets
 * r->window and r->eval_window, or says what the budget lacks. */
static int mem_plan_windows(run_t *r)
{
	const nncc_model_t *m = r->m;
	size_t nt = m->n_targets, yb = nt ? nt * r->rsize : sizeof(int32_t), tn = r->test.n;
	size_t row = m->n_inputs * r->rsize, raw = r->csv ? m->n_inputs * sizeof(double) : m->n_inputs;
	/* CSV: the reader's copy of a row it parses (features, targets or
	 * label, the label's text and position) and, per sample evaluated, its
	 * label or targets as read and as handed out. */
	size_t held = r->csv ? raw + (nt ? nt : 1) * sizeof(double) + 64 : 0;
	size_t per = raw + held + yb + sizeof(size_t) + 2 * CK_PERM_BYTES;
	size_t ev = row + raw + held + (r->csv ? yb + nt * sizeof(double) : 0);
	size_t mb = m->max_batch, E, E0 = eval_window_default(r), W, rest, least, ts, used, room;
	char b1[32], b2[32], b3[32];

	rest = mem_fixed(r);
	if (r->csv) {   /* where every tile's rows start, in both files */
		rest = mem_add(rest, r->train.n / mb + tn / mb + 2, 32);
	} else {
		rest = mem_add(rest, r->train.n + tn, sizeof(int32_t));   /* the labels */
	}
	rest = mem_add(rest, r->n_val, r->csv ? row + yb : row);      /* held out */
	rest = mem_add(rest, mb, raw);                                /* tile_raw */
	if (r->csv)   /* the training reader's targets as read (src_train.tbuf) */
		rest = mem_add(rest, train_tchunk(r), nt * sizeof(double));
	least = mem_add(mem_add(rest, mb < r->n_train ? mb : r->n_train, per), mb, ev);
	if (mem_add(least, r->gz_points, NNCC_GZ_POINT_BYTES) > r->budget)
		r->gz_points = 0;   /* the least window first */
	rest = mem_add(rest, r->gz_points, NNCC_GZ_POINT_BYTES);
	least = mem_add(least, r->gz_points, NNCC_GZ_POINT_BYTES);
	if (least > r->budget)
		return fail(m, "--max-memory %s is too small: the parameters, optimizer state and "
		               "tiles, the %s and the %zu held-out samples need %s, and one "
		               "window of %zu samples %s more: give at least --max-memory %zuK",
		            nncc_mem_text(b1, sizeof b1, r->budget), r->csv ? "row offsets" : "labels",
		            r->n_val,
		            nncc_mem_text(b2, sizeof b2, rest), mb < r->n_train ? mb : r->n_train,
		            nncc_mem_text(b3, sizeof b3, least - rest), least / 1024 + 1);
	used = mem_plan(r, rest, per, ev, E0, &W, &E, &r->window_room);
	room = r->budget - mem_add(rest, E, ev);   /* the window's, before capping at N */
	ts = mem_add(0, tn, r->csv ? row + yb : row);
	r->hold_test = tn && ts <= room / 4 && mem_add(least, 1, ts) <= r->budget;
	if (r->hold_test)
		used = mem_plan(r, mem_add(rest, 1, ts), per, ev, E0, &W, &E, &r->window_room);
	if (r->comm->size > 1)
		E = mem_plan_eval_index(r, E, ev, &used);
	r->window = W;
	r->eval_window = E;
	r->mem_used = used;
	return 0;
}

/* A streamed run whose ranks share the stream (nncc_stream_share): the
 * plan's bytes with the window's buffers cut to the largest part (its
 * samples as read and their labels: the permutation stays whole) and a
 * batch's exchange, at most B samples sent; pre-training's beside it (its
 * stream is shared too, and the training's exchange is already there). */
static size_t mem_shard_stream(const run_t *r, size_t most)
{
	const nncc_model_t *m = r->m;
	size_t raw = r->csv ? m->n_inputs * sizeof(double) : m->n_inputs;
	size_t yb = m->n_targets ? m->n_targets * r->rsize : sizeof(int32_t);
	size_t B = r->o->batch && r->o->batch < r->n_train ? r->o->batch : r->n_train;
	size_t Bp = m->config.pretrain.batch_size < r->n_train ? m->config.pretrain.batch_size
	                                                       : r->n_train, used;

	used = mem_add(r->mem_used - (r->window - most) * (raw + yb), 1, mem_exchange(r, B, B, raw));
	return runs_pretrain(r) ? mem_add(used, 1, mem_exchange(r, Bp, Bp, raw)) : used;
}

/* A gzip'd training set streamed in shuffled windows gets an index of
 * access points (docs/trainer.md#a-gzipd-training-file): a point every GZ_SPAN_MIN
 * bytes of its data or more, in a sixteenth of the budget at most, so that
 * its windows come in a shuffled order as a raw file's do and a sharded
 * rank inflates its part from the point before it, not the file up to it.
 * Sets r->gz_points (0: none) and r->gz_span. */
#define GZ_SPAN_MIN (1u << 20)
static void gz_plan(run_t *r)
{
	unsigned long long total = file_bytes(r, 0), want = total / GZ_SPAN_MIN + 1;
	size_t most = r->budget / 16 / NNCC_GZ_POINT_BYTES;

	r->gz_points = 0;
	if (!r->o->shuffle || file_seekable(r, 0))
		return;
	r->gz_points = want < most ? (size_t)want : most;
	if (r->gz_points < 2)
		r->gz_points = 0;
	r->gz_span = r->gz_points ? (total + r->gz_points - 1) / r->gz_points : 0;
}

/* In file order a sharded rank reads only its chunks' samples, but
 * pre-training's stream is shuffled: it is shared too (each rank reads its
 * part of each of its windows) when its batch's exchange takes no more
 * than the window's buffers give back (pre-training runs before the
 * training's stream is made, in the room the plan leaves its window:
 * window_room). */
static int pretrain_share_fits(const run_t *r)
{
	const nncc_model_t *m = r->m;
	size_t raw = r->csv ? m->n_inputs * sizeof(double) : m->n_inputs;
	size_t yb = m->n_targets ? m->n_targets * r->rsize : sizeof(int32_t);
	size_t W = r->window_room > r->window ? r->window_room : r->window;
	size_t Bp = m->config.pretrain.batch_size < r->n_train ? m->config.pretrain.batch_size
	                                                       : r->n_train;

	W = W < r->n_train ? W : r->n_train;   /* pretrain_stream's (no unlabeled rows sharded) */
	return mem_exchange(r, Bp, Bp, raw) <=
	       (W - nncc_tiles_most(W, m->max_batch, (size_t)r->comm->size)) * (raw + yb);
}

/* A streamed run's plan (mem_plan_windows) and, when the run would shard
 * (`shard`: run_may_shard), whether its ranks share the stream
 * (docs/scaling.md#shards): when it shuffles (in file order a rank reads
 * only its chunks' samples anyway) and the exchange fits the budget. */
static int run_plan_streamed(run_t *r, int shard)
{
	size_t R = (size_t)r->comm->size, a, b, used;
	gz_plan(r);
	if (mem_plan_windows(r))
		return 1;
	if (r->gz_points && r->window >= r->n_train) {   /* one window: read on, no index */
		r->gz_points = 0;
		if (mem_plan_windows(r))
			return 1;
	}
	if (shard && r->o->shuffle &&
	    (used = mem_shard_stream(r, nncc_tiles_most(r->window, r->m->max_batch, R))) <=
	        r->budget) {
		r->shard_stream = 1;
		nncc_tiles_held(r->window, r->m->max_batch, 0, R, &a, &b);
		r->shard_n = b - a;   /* rank 0's part of a full window */
		r->mem_used = used;
	}
	r->shard_pretrain = shard && !r->o->shuffle && runs_pretrain(r) && pretrain_share_fits(r);
	return 0;
}

/* The IDX sets' headers and labels, not their pixels: enough to plan. */
static int idx_probe(run_t *r)
{
	run_src_t *src[2] = {&r->src_train, &r->src_test};
	nncc_dataset_t *ds[2] = {&r->train, &r->test};
	nncc_err_t err;

	for (int k = 0; k < 2; k++) {
		const char *images = r->files[2 * k], *labels = r->files[2 * k + 1];
		if (nncc_images_open(&src[k]->img, images, &ds[k]->n, &ds[k]->rows, &ds[k]->cols, &err))
			return fail(r->m, "%s", err.msg);
		ds[k]->dim = ds[k]->rows * ds[k]->cols;   /* nncc_images_open checked it */
		if (nncc_labels_load(ds[k], labels, images, &err))
			return fail(r->m, "%s", err.msg);
		src[k]->r = r;
		src[k]->labels = ds[k]->labels;
	}
	return 0;
}

/* nncc_window_src_t's read: samples first .. first + k - 1 of src's file,
 * their pixels into raw and their labels into y. */
static int src_read(void *ctx, size_t first, size_t k, void *raw, void *y, nncc_err_t *err)
{
	run_src_t *src = ctx;
	if (nncc_images_seek(src->img, first, err) || nncc_images_read(src->img, raw, k, err))
		return -1;
	memcpy(y, src->labels + first, k * sizeof *src->labels);
	return 0;
}

/* nncc_window_src_t's convert: k samples' pixels to the model's normalised
 * reals, the bits of nncc_norm_apply (the in-memory run's). */
static void src_convert(void *ctx, const void *raw, size_t k, void *x)
{
	run_t *r = ((run_src_t *)ctx)->r;
	if (r->has_lut)
		nncc_norm_apply_lut(&r->lut, x, raw, k * r->m->n_inputs);
	else
		nncc_norm_apply(&r->norm, r->m->dtype, x, raw, k);
}

/* nncc_window_src_t's read for a CSV file: rows first .. first + k - 1,
 * their features into raw (doubles) and their labels or targets (as the
 * model's reals: one rounding from the file's double, as run_targets) into y. */
static int csv_src_read(void *ctx, size_t first, size_t k, void *raw, void *y, nncc_err_t *err)
{
	run_src_t *src = ctx;
	run_t *r = src->r;
	const nncc_model_t *m = r->m;
	size_t nt = m->n_targets, C = src->tchunk;

	if (src->kept) {   /* the rows as the reader would parse them: the scan's */
		const nncc_dataset_t *ds = src->kept;
		memcpy(raw, ds->values + first * m->n_inputs, k * m->n_inputs * sizeof *ds->values);
		if (!nt)
			memcpy(y, ds->labels + first, k * sizeof *ds->labels);
		for (size_t j = 0; j < k * nt; j++)
			store_real(m, y, j, ds->targets[first * nt + j]);
		return 0;
	}
	if (!nt)
		return nncc_csv_train_rows(src->csv, first, k, raw, y, NULL, err);
	for (size_t d = 0; d < k; d += C) {   /* the targets as read go through tbuf */
		size_t c = k - d < C ? k - d : C;
		if (nncc_csv_train_rows(src->csv, first + d, c, (double *)raw + d * m->n_inputs, NULL,
		                        src->tbuf, err))
			return -1;
		for (size_t j = 0; j < c * nt; j++)
			store_real(m, (char *)y + d * r->y_bytes, j, src->tbuf[j]);
	}
	return 0;
}

/* nncc_window_src_t's convert for a CSV file: nncc_norm_apply_values. */
static void csv_src_convert(void *ctx, const void *raw, size_t k, void *x)
{
	run_t *r = ((run_src_t *)ctx)->r;
	nncc_norm_apply_values(&r->norm, r->m->dtype, x, raw, k);
}

static const char *src_path(const run_src_t *src)
{
	return src->csv ? nncc_csv_train_path(src->csv) : nncc_images_path(src->img);
}

static int src_seekable(const run_src_t *src)
{
	return src->csv ? nncc_csv_train_seekable(src->csv) : nncc_images_seekable(src->img);
}

/* The streamed training file as a window source of W samples a window. */
static nncc_window_src_t train_window_src(run_t *r, size_t W)
{
	nncc_window_src_t src = {src_read, src_convert, &r->src_train, r->m->n_inputs, W,
	                         src_seekable(&r->src_train), 0};
	if (r->csv) {
		src.read = csv_src_read;
		src.convert = csv_src_convert;
		src.raw_bytes = r->m->n_inputs * sizeof(double);
	}
	return src;
}

/* Samples first .. first + k - 1 of src's file as read, k at most E: into
 * the pixel buffer (IDX) or the values buffer and eval_y (CSV); *raw and
 * *y (their labels or targets) point at them. */
static int src_rows(run_src_t *src, size_t first, size_t k, const void **raw, const void **y,
                    nncc_err_t *err)
{
	run_t *r = src->r;
	if (src->csv) {
		*raw = r->values;
		*y = r->eval_y;
		return csv_src_read(src, first, k, r->values, r->eval_y, err);
	}
	*raw = r->pixels;
	*y = src->labels + first;
	if (nncc_images_seek(src->img, first, err) || nncc_images_read(src->img, r->pixels, k, err))
		return -1;
	return 0;
}

/* Samples first .. first + k - 1 of src's file into x, converted, and *y
 * at their labels or targets; k at most E. */
static int src_reals(run_src_t *src, size_t first, size_t k, void *x, const void **y,
                     nncc_err_t *err)
{
	const void *raw;
	if (src_rows(src, first, k, &raw, y, err))
		return -1;
	if (src->csv)
		csv_src_convert(src, raw, k, x);
	else
		src_convert(src, raw, k, x);
	return 0;
}

/* The samples the pixel buffer holds. */
static size_t run_chunk(const run_t *r)
{
	return r->eval_window;
}

/* nncc_norm_fit over the training samples read chunk by chunk in file
 * order: the same sums in the same order, the same bits. */
static int run_fit_streamed(run_t *r)
{
	const nncc_model_t *m = r->m;
	int kind = m->config.normalize;
	size_t N = r->n_train, C = run_chunk(r);
	nncc_err_t err;

	if (nncc_norm_fit_begin(&r->norm, kind, m->n_inputs, &err))
		return fail(m, "%s", err.msg);
	for (int pass = 0; pass < nncc_norm_fit_passes(kind); pass++) {
		for (size_t first = 0; first < N; first += C) {
			nncc_dataset_t chunk = {.n = N - first < C ? N - first : C, .dim = m->n_inputs};
			const void *raw, *y;
			if (src_rows(&r->src_train, first, chunk.n, &raw, &y, &err))
				return fail(m, "%s", err.msg);
			if (r->csv)
				chunk.values = (double *)raw;
			else
				chunk.pixels = (uint8_t *)raw;
			nncc_norm_fit_add(&r->norm, pass, &chunk);
		}
		if (nncc_norm_fit_end_pass(&r->norm, pass, N, &err))
			return fail(m, "%s", err.msg);
	}
	return 0;
}

/* A sharded or streamed run's statistics under MPI: rank 0 fits them in
 * passes over the training file (run_fit_streamed) and sends them to the
 * others, which read no more of it than their share
 * (docs/scaling.md#shards). */
static int run_fit_sharded(run_t *r)
{
	const nncc_model_t *m = r->m;
	int kind = m->config.normalize, feat = kind == NNCC_NORM_STANDARDIZE_FEATURES, rc = 1;
	size_t R = (size_t)r->comm->size, dim = m->n_inputs, n = 1 + dim + (feat ? dim : 0);
	size_t *count = calloc(2 * R, sizeof *count);
	double *buf = malloc(n * sizeof *buf);
	nncc_err_t err;

	if (!count || !buf) {
		fail(m, "out of memory for the statistics of %zu inputs", dim);
		goto done;
	}
	if (!nncc_norm_fit_passes(kind) || r->comm->rank == 0) {
		if (run_fit_streamed(r))
			goto done;
		if (!nncc_norm_fit_passes(kind)) {
			rc = 0;
			goto done;
		}
		buf[0] = r->norm.std;
		memcpy(buf + 1, r->norm.mean, dim * sizeof *buf);
		if (feat)
			memcpy(buf + 1 + dim, r->norm.stds, dim * sizeof *buf);
	} else if (nncc_norm_fit_begin(&r->norm, kind, dim, &err)) {
		fail(m, "%s", err.msg);
		goto done;
	}
	count[0] = n;   /* rank 0's, at 0 of buf (count + R: every displacement 0) */
	if (nncc_comm_allgather(r->comm, NNCC_F64, buf, count, count + R, &err)) {
		fail(m, "the statistics: %s", err.msg);
		goto done;
	}
	r->norm.std = buf[0];
	memcpy(r->norm.mean, buf + 1, dim * sizeof *buf);
	if (feat)
		memcpy(r->norm.stds, buf + 1 + dim, dim * sizeof *buf);
	rc = 0;
done:
	free(count);
	free(buf);
	return rc;
}

/* A scanned CSV file's rows read into ds, EVAL_WINDOW at a time (the
 * reader holds a chunk at a time), then the file closed: the in-memory
 * run's data, as nncc_csv_load would give it. */
static int csv_read_whole(run_t *r, nncc_csv_train_t **csv, nncc_dataset_t *ds)
{
	const nncc_model_t *m = r->m;
	size_t n = ds->n, K = m->n_targets;
	nncc_err_t err;

	if (ds->values) {   /* the scan kept the rows */
		nncc_csv_train_close(*csv);
		*csv = NULL;
		return 0;
	}
	ds->values = malloc(n * m->n_inputs * sizeof *ds->values);   /* data_check bounds it */
	if (K)
		ds->targets = malloc(n * K * sizeof *ds->targets);
	else
		ds->labels = malloc(n * sizeof *ds->labels);
	if (!ds->values || (K ? !ds->targets : !ds->labels))
		return fail(m, "out of memory for the %zu samples of %s", n,
		            nncc_csv_train_path(*csv));
	for (size_t i = 0; i < n; i += EVAL_WINDOW) {
		size_t k = n - i < EVAL_WINDOW ? n - i : EVAL_WINDOW;
		if (nncc_csv_train_rows(*csv, i, k, ds->values + i * m->n_inputs,
		                        K ? NULL : ds->labels + i, K ? ds->targets + i * K : NULL, &err))
			return fail(m, "%s", err.msg);
	}
	nncc_csv_train_close(*csv);
	*csv = NULL;
	return 0;
}

/* A streamed CSV run's buffers for E rows as read. */
static int run_csv_buffers(run_t *r)
{
	const nncc_model_t *m = r->m;
	size_t E = r->eval_window, K = m->n_targets;

	r->y_bytes = K ? K * r->rsize : sizeof(int32_t);
	r->values = malloc(E * m->n_inputs * sizeof *r->values);
	r->eval_y = malloc(E * r->y_bytes);
	if (K) {
		r->tbuf = malloc(E * K * sizeof *r->tbuf);
		r->train_tbuf = malloc(train_tchunk(r) * K * sizeof *r->train_tbuf);
	}
	if (!r->values || !r->eval_y || (K && (!r->tbuf || !r->train_tbuf)))
		return fail(m, "out of memory for a window of %zu samples", E);
	r->src_train = (run_src_t){.r = r, .csv = r->csv, .tbuf = r->train_tbuf,
	                           .tchunk = train_tchunk(r)};
	return 0;
}

/* Samples [first, first + n) of src as reals into x, a chunk at a time,
 * and for CSV their labels or targets into yblock. */
static int src_read_all(run_t *r, run_src_t *src, size_t first, size_t n, void *x, void *yblock)
{
	size_t C = run_chunk(r), row = r->m->n_inputs * r->rsize;
	nncc_err_t err;

	for (size_t done = 0; done < n; done += C) {
		size_t k = n - done < C ? n - done : C;
		const void *y;
		if (src_reals(src, first + done, k, (char *)x + done * row, &y, &err))
			return fail(r->m, "%s", err.msg);
		if (r->csv)
			memcpy((char *)yblock + done * r->y_bytes, y, k * r->y_bytes);
	}
	return 0;
}

/* This rank's index of `points` (mem_plan_eval_index) for its evaluations
 * of the first n samples (its tiles: nncc_tiles_held) of a file of nf
 * samples in `total` bytes of data, an IDX file's or a CSV file's.  Rank
 * 0's tiles start the file (a rewind: no index); rank r's are reached from
 * the last point before them, the points spread over the bytes up to its
 * tiles' end (as a share of the file's samples, and EVAL_REACH more) so
 * that none is thinned out (docs/trainer.md#a-gzipd-training-file). */
#define EVAL_REACH (1u << 18)
static int eval_index(run_t *r, nncc_images_t *img, nncc_csv_train_t *csv, size_t n, size_t nf,
                      unsigned long long total, size_t points, nncc_err_t *err)
{
	size_t first, end;
	unsigned long long reach, span;

	if (!points || !n || nf < n)
		return 0;
	nncc_tiles_held(n, r->m->max_batch, (size_t)r->comm->rank, (size_t)r->comm->size, &first,
	                &end);
	if (!first)
		return 0;
	reach = share_bytes(total, end, nf) + EVAL_REACH;
	span = (reach + points - 2) / (points - 1);
	return csv ? nncc_csv_train_index(csv, span, points, err)
	           : nncc_images_index(img, span, points, err);
}

/* The streamed run's buffers, and the held-out samples (and a held test
 * set) read into memory. */
static int run_stream_setup(run_t *r)
{
	const nncc_model_t *m = r->m;
	size_t C = run_chunk(r), row = m->n_inputs * r->rsize, E = r->eval_window;
	nncc_err_t err;

	if (r->gz_points &&
	    (r->csv ? nncc_csv_train_index(r->csv, r->gz_span, r->gz_points, &err)
	            : nncc_images_index(r->src_train.img, r->gz_span, r->gz_points, &err)))
		return fail(m, "%s", err.msg);
	if (eval_index(r, r->src_test.img, r->csv_test, r->test.n, r->test.n, file_bytes(r, 1),
	               r->gz_test_points, &err))
		return fail(m, "%s", err.msg);
	r->src_eval = r->src_train;
	if (r->csv) {   /* the training set's evaluations read through a twin of its reader */
		if (nncc_csv_train_twin(&r->csv_eval, r->csv, &err))
			return fail(m, "%s", err.msg);
		if (eval_index(r, NULL, r->csv_eval, r->n_train, r->train.n, file_bytes(r, 0),
		               r->gz_eval_points, &err))
			return fail(m, "%s", err.msg);
		r->src_eval.csv = r->csv_eval;
		r->src_eval.tbuf = r->tbuf;
		r->src_eval.tchunk = E;
		r->src_test = (run_src_t){.r = r, .csv = r->csv_test, .tbuf = r->tbuf, .tchunk = E};
	} else {
		size_t n, rows, cols;
		r->train_y = r->train.labels;
		r->test_y = r->test.labels;
		r->val_y = r->train.labels + r->n_train;
		r->has_lut = nncc_norm_lut(&r->lut, &r->norm, m->dtype) == 0;
		if (nncc_images_open(&r->src_eval.img, r->files[0], &n, &rows, &cols, &err))
			return fail(m, "%s", err.msg);
		nncc_images_index_share(r->src_eval.img, r->src_train.img);   /* (gzip'd) */
		if (eval_index(r, r->src_eval.img, NULL, r->n_train, r->train.n, file_bytes(r, 0),
		               r->gz_eval_points, &err))
			return fail(m, "%s", err.msg);
	}
	if (r->n_val)
		r->train_x = malloc(r->n_val * row);   /* mem_plan_windows bounds these */
	if (r->n_val && r->csv)
		r->val_block = malloc(r->n_val * r->y_bytes);
	r->eval_x = malloc(E * row);
	r->tile_loss = malloc(E / m->max_batch * sizeof *r->tile_loss);
	if (r->hold_test) {
		r->test_x = malloc(r->test.n * row);
		if (r->csv)
			r->test_block = malloc(r->test.n * r->y_bytes);
	}
	if (!r->eval_x || !r->tile_loss || (r->n_val && (!r->train_x || (r->csv && !r->val_block))) ||
	    (r->hold_test && (!r->test_x || (r->csv && !r->test_block))))
		return fail(m, "out of memory for the windows of %zu samples", C);
	if (src_read_all(r, &r->src_train, r->n_train, r->n_val, r->train_x, r->val_block) ||
	    (r->hold_test && src_read_all(r, &r->src_test, 0, r->test.n, r->test_x, r->test_block)))
		return 1;
	r->val_x = r->train_x;
	if (r->csv) {
		r->val_y = r->val_block;
		r->test_y = r->test_block;
	}
	return 0;
}

static void raw_free(nncc_dataset_t *ds);

/* Samples [first, first + n) of src's file as a sharded rank holds them
 * (IDX: the bytes as read; CSV: reals) into x, and their labels or targets
 * into y. */
static int shard_read(run_t *r, run_src_t *src, size_t first, size_t n, void *x, void *y)
{
	nncc_err_t err;
	if (!n)   /* (first may be the file's end) */
		return 0;
	if (src->csv)
		return src_read_all(r, src, first, n, x, y);
	if (nncc_images_seek(src->img, first, &err) || nncc_images_read(src->img, x, n, &err))
		return fail(r->m, "%s", err.msg);
	memcpy(y, src->labels + first, n * sizeof *src->labels);
	return 0;
}

/* A sharded run's samples: this rank's tiles of the training samples, the
 * held-out ones and the test set (nncc_tiles_held: the tiles its
 * evaluations forward), read from the files (IDX: held as read, 1 byte a
 * pixel, converted a tile at a time as they are used; CSV: converted to
 * reals now); the readers are closed after.  docs/scaling.md#shards. */
static int run_shard_setup(run_t *r)
{
	const nncc_model_t *m = r->m;
	size_t R = (size_t)r->comm->size, me = (size_t)r->comm->rank, mb = m->max_batch;
	size_t a, b, va, vb, ta, tb, nh, bytes, yb, hb;
	int csv = r->csv != NULL;
	nncc_held_t h = {.bytes = csv ? m->n_inputs * r->rsize : m->n_inputs,
	                 .convert = csv ? NULL : src_convert, .ctx = &r->src_train};

	r->y_bytes = m->n_targets ? m->n_targets * r->rsize : sizeof(int32_t);
	if (!csv)
		r->has_lut = nncc_norm_lut(&r->lut, &r->norm, m->dtype) == 0;
	nncc_tiles_held(r->n_train, mb, me, R, &a, &b);
	nncc_tiles_held(r->n_val, mb, me, R, &va, &vb);
	nncc_tiles_held(r->test.n, mb, me, R, &ta, &tb);
	nh = b - a + vb - va;
	hb = h.bytes;
	if (!ckd_mul_size(&bytes, nh, hb) || !ckd_mul_size(&yb, nh, r->y_bytes) ||
	    !(r->train_x = malloc(bytes ? bytes : 1)) || !(r->val_block = malloc(yb ? yb : 1)) ||
	    !(r->test_x = malloc((tb - ta) * hb + 1)) ||
	    !(r->test_block = malloc((tb - ta) * r->y_bytes + 1)))
		return fail(m, "out of memory for this rank's share of the data: %zu + %zu samples",
		            nh, tb - ta);
	r->held[0] = r->held[1] = r->held[2] = h;
	r->held[0].x = r->train_x;
	r->held[0].y = r->val_block;
	r->held[1].x = (char *)r->train_x + (b - a) * hb;
	r->held[1].y = (char *)r->val_block + (b - a) * r->y_bytes;
	r->held[2].x = r->test_x;
	r->held[2].y = r->test_block;
	if (shard_read(r, &r->src_train, a, b - a, r->train_x, r->val_block) ||
	    shard_read(r, &r->src_train, r->n_train + va, vb - va, (void *)r->held[1].x,
	               (void *)r->held[1].y) ||
	    shard_read(r, &r->src_test, ta, tb - ta, r->test_x, r->test_block))
		return 1;
	/* read: the readers and their buffers go */
	nncc_images_close(r->src_train.img);
	nncc_images_close(r->src_test.img);
	nncc_csv_train_close(r->csv);
	nncc_csv_train_close(r->csv_test);
	r->src_train = r->src_test = (run_src_t){.r = r};
	r->csv = r->csv_test = NULL;
	free(r->pixels);
	free(r->values);
	free(r->tbuf);
	free(r->train_tbuf);
	free(r->eval_y);
	r->pixels = NULL;
	r->values = r->tbuf = r->train_tbuf = NULL;
	r->eval_y = NULL;
	raw_free(&r->train);
	raw_free(&r->test);
	r->shard_n = b - a;
	return 0;
}

/* The in-memory data block (run_load): both sets' reals, the test set's
 * from *off, then from *off_y their labels or targets; *block bytes in
 * all.  Sets r->y_bytes. */
static int data_layout(run_t *r, size_t *off, size_t *off_y, size_t *block)
{
	const nncc_model_t *m = r->m;
	size_t used = r->n_train + r->n_val, row, train_bytes, test_bytes, y_bytes;

	r->y_bytes = m->n_targets ? m->n_targets * r->rsize : sizeof(int32_t);
	if (!ckd_mul_size(&row, m->n_inputs, r->rsize) || !ckd_mul_size(&train_bytes, used, row) ||
	    !ckd_mul_size(&test_bytes, r->test.n, row) ||   /* data_check refuses these first */
	    !ckd_add_size(&y_bytes, used, r->test.n) || !ckd_mul_size(&y_bytes, y_bytes, r->y_bytes))
		return fail(m, "the data overflows size_t");
	*off = train_bytes + (64 - train_bytes % 64) % 64;
	if (!ckd_add_size(off_y, *off, test_bytes) || !ckd_add_size(off_y, *off_y, 63) ||
	    !ckd_add_size(block, *off_y - *off_y % 64, y_bytes))
		return fail(m, "the data overflows size_t");
	*off_y -= *off_y % 64;
	return 0;
}

/* In memory under MPI: whether the data block fits where Open MPI backs
 * memory that a machine's ranks share (a container's /dev/shm is often 64
 * MB).  When it does not on some machine, every rank reads the data and
 * holds a block of its own, as a rank alone on its machine does (the same
 * bits; the budget counts a block a rank anyway), and the report says why.
 * Collective. */
static int data_room(run_t *r)
{
	size_t off, off_y, block;
	nncc_err_t err;

	if (r->comm->size == 1)
		return 0;
	if (data_layout(r, &off, &off_y, &block))
		return 1;
	if (nncc_comm_shared_room(r->comm, block, &r->shm_room, r->shm_dir, sizeof r->shm_dir,
	                          &err))
		return fail(r->m, "%s", err.msg);
	r->own_copy = r->shm_room != SIZE_MAX;
	return 0;
}

/* Rank 0 of a sharded CSV run scans both files for all (csv_scan_ranks),
 * keeping their rows while they fit the budget: when they still fit beside
 * the sharded run's estimate, the statistics' passes and its share come
 * from them (src->kept), and it reads each file once instead of up to four
 * times (the scan, the statistics' two passes, its share); else they go
 * and the file is read again.  run_shard_setup frees them. */
static void run_keep_shard(run_t *r)
{
	size_t kept = r->train.values ? csv_kept_bytes(r, &r->train) : 0;
	if (r->test.values)
		kept = mem_add(kept, 1, csv_kept_bytes(r, &r->test));
	if (mem_add(r->mem_used, 1, kept) > r->budget) {
		csv_unkeep(&r->train);
		csv_unkeep(&r->test);
	}
	r->src_train.kept = r->train.values ? &r->train : NULL;
	r->src_test.kept = r->test.values ? &r->test : NULL;
}

/* Both sets and the plan: the training set streams when the in-memory run
 * does not fit the budget (and so does the test set). */
static int run_load_data(run_t *r, const char *from)
{
	const nncc_model_t *m = r->m;
	nncc_err_t err;

	if (mem_budget(r) || run_may_shard(r))
		return 1;
	if (m->config.format == NNCC_FORMAT_CSV) {
		if (run_load_csv(r, from) || data_check(r, &r->train, r->files[0], r->files[1]) ||
		    data_check(r, &r->test, r->files[2], r->files[3]) || run_split(r))
			return 1;
		r->mem_used = r->sharded ? mem_sharded(r) : mem_in_memory(r);
		if ((r->streamed = r->mem_used > r->budget)) {
			int shard = r->sharded;
			r->sharded = 0;
			csv_unkeep(&r->train);
			csv_unkeep(&r->test);
			return run_plan_streamed(r, shard) || run_csv_buffers(r);
		}
		if (r->sharded) {   /* its share of the rows is read later (run_shard_setup) */
			r->eval_window = eval_window_default(r);
			if (run_csv_buffers(r))
				return 1;
			r->src_test = (run_src_t){.r = r, .csv = r->csv_test, .tbuf = r->tbuf,
			                          .tchunk = r->eval_window};
			run_keep_shard(r);
			return 0;
		}
		if (data_room(r))
			return 1;
		if (!reads_samples(r)) {   /* the machine's first rank reads them (run_load) */
			nncc_csv_train_close(r->csv);
			nncc_csv_train_close(r->csv_test);
			r->csv = r->csv_test = NULL;
			return 0;
		}
		return csv_read_whole(r, &r->csv, &r->train) || csv_read_whole(r, &r->csv_test, &r->test);
	}
	if (idx_probe(r) || data_check(r, &r->train, r->files[0], r->files[1]) ||
	    data_check(r, &r->test, r->files[2], r->files[3]) || run_split(r))
		return 1;
	r->mem_used = r->sharded ? mem_sharded(r) : mem_in_memory(r);
	int shard = r->sharded;
	if ((r->streamed = r->mem_used > r->budget))
		r->sharded = 0;
	if (r->streamed || r->sharded) {   /* the files stay open: read later, in pieces */
		if (r->sharded)
			r->eval_window = eval_window_default(r);
		else if (run_plan_streamed(r, shard))
			return 1;
		if (!(r->pixels = malloc(run_chunk(r) * m->n_inputs)))   /* the fit reads into it */
			return fail(m, "out of memory for a window of %zu samples", run_chunk(r));
		return 0;
	}
	nncc_images_close(r->src_train.img);   /* in memory: read whole, as always */
	nncc_images_close(r->src_test.img);
	r->src_train.img = r->src_test.img = NULL;
	if (data_room(r))
		return 1;
	if (!reads_samples(r))
		return 0;   /* the machine's first rank reads them (run_load) */
	nncc_dataset_fini(&r->train);
	nncc_dataset_fini(&r->test);
	if (nncc_dataset_load(&r->train, r->files[0], r->files[1], &err) ||
	    nncc_dataset_load(&r->test, r->files[2], r->files[3], &err))
		return fail(m, "%s", err.msg);
	return 0;
}

/* Frees a loaded set's samples, labels and targets as read (its counts and
 * class names stay): the data block holds what training reads. */
static void raw_free(nncc_dataset_t *ds)
{
	free(ds->pixels);
	free(ds->values);
	free(ds->labels);
	free(ds->targets);
	ds->pixels = NULL;
	ds->values = NULL;
	ds->labels = NULL;
	ds->targets = NULL;
}

/* Loads both sets, takes the weights and normalisation from --load or
 * --resume (with --resume, the optimizer's state too) or initialises the
 * weights and fits the normalisation on the training set, and converts
 * both sets to the model's reals. */
static int run_load(run_t *r)
{
	const nncc_model_t *m = r->m;
	const nncc_config_t *c = &m->config;
	const char *from = r->o->resume ? r->o->resume : r->o->load;
	nncc_weights_meta_t meta;
	nncc_err_t err;

	if (run_load_data(r, from))
		return 1;
	if (from) {
		if (nncc_weights_load(m, from, &r->norm, &meta, r->o->resume ? &r->ck : NULL, &err))
			return fail(m, "%s", err.msg);
		r->loaded_iterations = meta.iterations;
		if (r->norm.dim && r->norm.dim != m->n_inputs)
			return fail(m, "%s: normalisation statistics for %zu inputs, network has %zu", from,
			            r->norm.dim, m->n_inputs);
		if (r->o->resume && resume_state(r))
			return 1;
	} else {
		nncc_init_params(m, c->init, c->init_scale, c->init_biases, r->o->seed);
	}
	if (!r->norm.dim) { /* nothing loaded: fit on the samples trained on */
		nncc_dataset_t fit = r->train;
		fit.n = r->n_train;
		nncc_norm_fini(&r->norm);
		/* rank 0 alone passes over a file the ranks do not hold whole */
		if (r->sharded || (r->streamed && r->comm->size > 1) ? run_fit_sharded(r)
		    : r->streamed
		        ? run_fit_streamed(r)
		        : reads_samples(r) && nncc_norm_fit(&r->norm, c->normalize, &fit, &err))
			return r->streamed || r->sharded ? 1 : fail(m, "%s", err.msg);
		/* The class names go with the weights (the CLASSES section). */
		r->norm.n_classes = r->train.class_names ? r->train.n_classes : 0;
		r->norm.class_names = r->train.class_names;
		r->train.class_names = NULL;
	}

	if (r->streamed)
		return run_stream_setup(r);
	if (r->sharded)
		return run_shard_setup(r);
	/* Both sets' reals, then their labels or targets, in one block, which
	 * the ranks on this machine share: one of them converts and writes it,
	 * the others read its bytes (every rank's would be the same: the same
	 * files, statistics and arithmetic); or each rank's own (data_room). */
	size_t used = r->n_train + r->n_val, off, off_y, block;
	int fill = 1;
	if (data_layout(r, &off, &off_y, &block))
		return 1;
	if (r->own_copy ? !(r->data_block = malloc(block))
	                : nncc_comm_shared(r->comm, block, &r->data_block, &fill, &err)) {
		char b1[32], b2[32];
		if (r->comm->local <= 1 || r->own_copy)
			return fail(m, "out of memory for the data: %zu + %zu samples of %zu inputs and "
			               "their labels need %zu bytes", used, r->test.n, m->n_inputs, block);
		return fail(m, "%s: the data's %zu + %zu samples of %zu inputs need %s of memory "
		               "shared by the %d ranks on this machine; give Open MPI's "
		               "osc_sm_backing_directory (/dev/shm by default) the room, or stream "
		               "the data with --max-memory below the %s estimate", err.msg, used,
		            r->test.n, m->n_inputs, nncc_mem_text(b1, sizeof b1, block),
		            r->comm->local, nncc_mem_text(b2, sizeof b2, r->mem_used));
	}
	r->train_x = r->data_block;
	r->test_x = (char *)r->data_block + off;
	r->train_y = (char *)r->data_block + off_y;
	r->test_y = (const char *)r->train_y + used * r->y_bytes;
	if (fill && y_fill(r, used, (char *)r->data_block + off_y))
		return 1;
	if (fill && c->format == NNCC_FORMAT_CSV) {
		nncc_norm_apply_values(&r->norm, m->dtype, r->train_x, r->train.values, used);
		nncc_norm_apply_values(&r->norm, m->dtype, r->test_x, r->test.values, r->test.n);
	} else if (fill) {
		nncc_norm_apply(&r->norm, m->dtype, r->train_x, r->train.pixels, used);
		nncc_norm_apply(&r->norm, m->dtype, r->test_x, r->test.pixels, r->test.n);
	}
	if (nncc_comm_shared_ready(r->comm, r->data_block, &err))
		return fail(m, "sharing the data: %s", err.msg);
	/* The data as read is not read again, but for --pretrain-unlabeled's
	 * rows past those in use (pretrain_samples). */
	raw_free(&r->test);
	if (!r->o->pretrain_unlabeled || r->train.n == used)
		raw_free(&r->train);
	r->val_x = (const char *)r->train_x + r->n_train * m->n_inputs * r->rsize;
	r->val_y = (const char *)r->train_y + r->n_train * r->y_bytes;
	return 0;
}



/* ---- training ----------------------------------------------------------- */

/* Whether the evaluations are split among the ranks: when they add up
 * chunks' gradients, and when they share each step (docs/scaling.md). */
static int run_split_eval(const run_t *r)
{
	return (r->group.chunks || r->share_on) && r->comm->size > 1;
}

/* nncc_evaluate, split among the ranks when there are several; a failed
 * exchange is said once and sets r->failed (the training loop and run()
 * end the run). */
static void run_evaluate(run_t *r, const void *x, const void *y, size_t n, nncc_eval_t *ev)
{
	nncc_err_t err;
	if (!run_split_eval(r))
		nncc_evaluate(r->m, x, y, n, ev);
	else if (nncc_group_evaluate(&r->group, r->m, x, y, n, ev, &err) && !r->failed++)
		fail(r->m, "evaluation: %s", err.msg);
}

/* A streamed set's tiles t0 .. t1-1 evaluated as nncc_evaluate_tiles does,
 * their samples read E at a time into eval_x (nncc_tiles_fn: this rank's
 * share under MPI). */
typedef struct src_tiles {
	run_t *r;
	run_src_t *src;
	size_t n;
} src_tiles_t;

static int src_tiles(void *ctx, size_t t0, size_t t1, double *tile_loss, nncc_eval_t *part,
                     nncc_err_t *err)
{
	const src_tiles_t *st = ctx;
	run_t *r = st->r;
	size_t mb = r->m->max_batch, per = r->eval_window / mb, end = st->n;
	double *te = part->tile_err;

	for (size_t t = t0; t < t1; t += per) {
		size_t first = t * mb, tiles = t1 - t < per ? t1 - t : per;
		size_t k = first + tiles * mb < end ? tiles * mb : end - first;
		const void *y;
		if (src_reals(st->src, first, k, r->eval_x, &y, err)) {
			part->tile_err = te;   /* the caller's pointer, as it came */
			return -1;
		}
		part->tile_err = te ? te + 2 * (t - t0) : NULL;
		nncc_evaluate_tiles(r->m, r->eval_x, y, k, 0, tiles, tile_loss + (t - t0), part);
	}
	part->tile_err = te;
	return 0;
}

/* nncc_evaluate over n samples of a streamed set, read E at a time into
 * eval_x: E is a multiple of the tile, so the tiles and the chain of
 * their loss sums are nncc_evaluate's, and so are the bits.  Under MPI each
 * rank reads and forwards its share of the tiles (nncc_group_evaluate_by). */
static void run_evaluate_streamed(run_t *r, run_src_t *src, size_t n, nncc_eval_t *ev)
{
	const nncc_model_t *m = r->m;
	size_t mb = m->max_batch, per = r->eval_window / mb, T = n / mb + (n % mb != 0);
	src_tiles_t st = {r, src, n};
	double sum = 0;
	nncc_err_t err;

	if (run_split_eval(r)) {
		if (nncc_group_evaluate_by(&r->group, m, n, src_tiles, &st, ev, &err) && !r->failed++)
			fail(m, "evaluation: %s", err.msg);
		return;
	}
	nncc_eval_reset(m, n, ev);
	for (size_t t = 0; t < T; t += per) {
		size_t t1 = T - t < per ? T : t + per;
		if (src_tiles(&st, t, t1, r->tile_loss, ev, &err)) {
			if (!r->failed++)
				fail(m, "evaluation: %s", err.msg);
			return;
		}
		for (size_t i = 0; i < t1 - t; i++)
			sum += r->tile_loss[i];
	}
	ev->loss = n ? sum / (double)n : 0;
}

/* A sharded run's set k (training, held out, test: r->held[k]) of n
 * samples, each rank its tiles. */
static void run_evaluate_held(run_t *r, int k, size_t n, nncc_eval_t *ev)
{
	nncc_err_t err;
	if (nncc_group_evaluate_held(&r->group, r->m, &r->held[k], n, ev, &err) && !r->failed++)
		fail(r->m, "evaluation: %s", err.msg);
}

/* The samples trained on, or the test set: in memory or streamed. */
static void run_evaluate_set(run_t *r, int test, nncc_eval_t *ev)
{
	if (r->sharded)
		run_evaluate_held(r, test ? 2 : 0, test ? r->test.n : r->n_train, ev);
	else if (r->streamed && !(test && r->hold_test))
		run_evaluate_streamed(r, test ? &r->src_test : &r->src_eval,
		                      test ? r->test.n : r->n_train, ev);
	else if (test)
		run_evaluate(r, r->test_x, r->test_y, r->test.n, ev);
	else
		run_evaluate(r, r->train_x, r->train_y, r->n_train, ev);
}

/* The validation set's loss and accuracy after `it` iterations (once per
 * iteration). */
static void run_val(run_t *r, size_t it)
{
	if (r->val_it == it)
		return;
	if (r->sharded)
		run_evaluate_held(r, 1, r->n_val, &r->val);
	else
		run_evaluate(r, r->val_x, r->val_y, r->n_val, &r->val);
	r->val_it = it;
}

/* A periodic evaluation after `it` iterations: log row, plot point, line on
 * stderr when the user asked for --eval-every.  `pass_end`: the iteration
 * completed a pass, whose validation gets a row and a point. */
static void run_eval_point(run_t *r, nncc_progress_t *pg, size_t it, double train_s,
                           int pass_end)
{
	const nncc_opts_t *o = r->o;
	nncc_eval_t test = {0};
	double epoch = (double)r->samples / (double)r->n_train;
	/* o->log, not r->log: every rank evaluates alike, rank 0 alone writes */
	int want_test = o->eval_test && (o->log || o->eval_every);

	run_evaluate_set(r, 0, &r->last_train);
	r->last_train_it = it;
	if (want_test)
		run_evaluate_set(r, 1, &test);
	if (r->n_val)
		run_val(r, it);
	double acc = want_test ? nncc_eval_score(r->m, &test) : NAN;
	int on_log = r->log_every && (it % r->log_every == 0 || it == pg->total || pass_end);

	if (r->log && on_log)
		nncc_log_row(r->log, r->m, it, epoch, r->lr, r->last_train.loss, want_test ? &acc : NULL,
		             train_s, r->n_val ? &r->val : NULL);
	if (r->curve_x && r->curve_n < r->curve_cap) {
		r->curve_x[r->curve_n] = (double)it;
		r->curve_v[r->curve_n] = r->n_val ? r->val.loss : NAN;
		r->curve_y[r->curve_n++] = r->last_train.loss;
	}
	if (o->eval_every && on_log && !o->quiet) {
		nncc_progress_break(pg);
		fprintf(stderr, "%s: iteration %zu/%zu (epoch %.2f): train loss %.6f", r->m->name,
		        it, pg->total, epoch, r->last_train.loss);
		if (want_test && r->m->n_targets)
			fprintf(stderr, ", test RMSE %.6g", acc);
		else if (want_test)
			fprintf(stderr, ", test accuracy %.2f%%", 100 * acc);
		if (r->n_val)
			fprintf(stderr, ", val loss %.6f", r->val.loss);
		fputc('\n', stderr);
	}
}

/* After the update `it` that completed pass r->stream.epoch: validation,
 * the best pass so far and early stopping's verdict, on stderr too.
 * Returns 1 when early stopping ends the training here (run_restore
 * then). */
static int run_pass_end(run_t *r, nncc_progress_t *pg, size_t it)
{
	const nncc_model_t *m = r->m;
	const nncc_opts_t *o = r->o;
	nncc_best_t *b = &r->best;
	uint64_t e = r->stream.epoch;

	run_val(r, it);
	double acc = nncc_eval_score(m, &r->val);
	double best = b->epoch ? nncc_metric_value(o->metric, b->loss, b->accuracy) : NAN;
	int better = nncc_metric_improves(o->metric, nncc_metric_value(o->metric, r->val.loss, acc),
	                                  best, o->min_delta);
	if (better) {
		*b = (nncc_best_t){e, r->val.loss, acc, 0, 0, 0};
		if (r->best_params)
			memcpy(r->best_params, m->params, m->n_params * r->rsize);
	} else {
		b->wait++;
	}
	b->stopped = o->patience && b->wait >= o->patience;
	b->stop_epoch = b->stopped ? e : 0;
	if (!o->quiet) {
		nncc_progress_break(pg);
		fprintf(stderr, "%s: epoch %llu: val loss %.6f, val accuracy %.2f%%", m->name,
		        (unsigned long long)e, r->val.loss, 100 * acc);
		if (better)
			fprintf(stderr, " (best so far)\n");
		else
			fprintf(stderr, " (best: epoch %llu; %llu epoch%s without improvement)\n",
			        (unsigned long long)b->epoch, (unsigned long long)b->wait,
			        b->wait == 1 ? "" : "s");
	}
	return b->stopped;
}

/* Early stopping ended the training: back to the best pass's weights. */
static void run_restore(run_t *r)
{
	const nncc_model_t *m = r->m;
	const nncc_best_t *b = &r->best;
	memcpy(m->params, r->best_params, m->n_params * r->rsize);
	r->last_train_it = r->val_it = SIZE_MAX;   /* those were of other weights */
	if (!r->o->quiet)
		fprintf(stderr, "%s: early stopping after epoch %llu: %s did not improve by more than %g "
		                "for %zu epochs; restored the weights of epoch %llu (val loss %.6f, "
		                "val accuracy %.2f%%)\n", m->name, (unsigned long long)b->stop_epoch,
		        nncc_metric_name(r->o->metric), r->o->min_delta, r->o->patience,
		        (unsigned long long)b->epoch, b->loss, 100 * b->accuracy);
}

static int eval_due(const run_t *r, size_t it, size_t T)
{
	if (!r->log_every && !r->plot_every)
		return 0;
	return it == 0 || it == T || (r->log_every && it % r->log_every == 0) ||
	       (r->plot_every && it % r->plot_every == 0);
}

/* The plot's points, 3 doubles each (iteration, train and validation
 * loss), one block: at most one per evaluation and per pass end (at most
 * one per update, and T / floor(N / B) + 2 when a pass takes several),
 * and the first and last.  A count or size past size_t is refused with
 * what it would need. */
static int run_curve_alloc(run_t *r, size_t T, size_t B)
{
	size_t per = r->n_train / B, cap = 3, bytes;   /* B <= N: per >= 1 */
	int ok = ckd_add_size(&cap, cap, T / r->plot_every) &&
	         (!r->log_every || ckd_add_size(&cap, cap, T / r->log_every)) &&
	         (!r->n_val || ckd_add_size(&cap, cap, T / per + 2)) &&
	         ckd_mul3(&bytes, cap, 3, sizeof(double));
	if (!ok)
		return fail(r->m, "--plot: %zu iterations with an evaluation every %zu need more "
		                  "points than memory can address; evaluate less often (--eval-every)",
		            T, r->plot_every < r->log_every || !r->log_every ? r->plot_every
		                                                             : r->log_every);
	r->curve_x = malloc(bytes);
	if (!r->curve_x)
		return fail(r->m, "out of memory for the plot: %zu points need %zu bytes; evaluate "
		                  "less often (--eval-every)", cap, bytes);
	r->curve_y = r->curve_x + cap;
	r->curve_v = r->curve_y + cap;
	r->curve_cap = cap;
	return 0;
}

/* Plans the periodic evaluations, allocates what training needs and puts
 * the stream at its start, or where --resume's file left it. */
static int run_prepare(run_t *r, size_t T, size_t B)
{
	const nncc_model_t *m = r->m;
	const nncc_opts_t *o = r->o;
	/* ceil(T / DEFAULT_EVALS), without T + DEFAULT_EVALS - 1 wrapping */
	size_t dflt = T / DEFAULT_EVALS + (T % DEFAULT_EVALS != 0);
	size_t confusion_bytes;
	nncc_err_t err;

	if (!dflt)
		dflt = 1;

	r->log_every = o->eval_every ? o->eval_every : (o->log || o->plot) ? dflt : 0;
	if (o->plot)
		r->plot_every = o->eval_every && T / o->eval_every >= MIN_PLOT_POINTS
		                    ? o->eval_every : dflt;
	if (r->log)
		nncc_log_header(r->log, m, o->eval_test, r->n_val > 0);
	if (o->plot && run_curve_alloc(r, T, B))
		return 1;
	if (!ckd_mul3(&confusion_bytes, m->n_outputs, m->n_outputs, sizeof *r->confusion) ||
	    !(r->confusion = malloc(confusion_bytes)))
		return fail(m, "out of memory for the confusion matrix of %zu classes", m->n_outputs);
	/* The shuffle draws its own stream: the seed xor a constant (the
	 * weights' initialisation draws from the seed itself). */
	if (r->streamed) {
		nncc_window_src_t src = train_window_src(r, r->window);
		if (nncc_stream_init_windows(&r->stream, m, &src, r->n_train, o->shuffle,
		                             o->seed ^ SHUFFLE_STREAM, &err))
			return fail(m, "%s", err.msg);
		if (r->shard_stream)   /* each rank reads its part of each window */
			nncc_stream_share(&r->stream, (size_t)r->comm->rank, (size_t)r->comm->size);
	} else if (nncc_stream_init(&r->stream, m, r->sharded ? NULL : r->train_x,
	                            r->sharded ? NULL : r->train_y, r->n_train, o->shuffle,
	                            o->seed ^ SHUFFLE_STREAM, &err)) {   /* sharded: the order */
		return fail(m, "%s", err.msg);
	}
	int ck_shuffled = r->ck.n_perm || r->ck.window;
	int windows = r->ck.window || (r->streamed && r->window < r->n_train && r->ck.n_perm);
	if (o->resume && nncc_stream_seek(&r->stream, &r->ck, &err))
		return fail(m, "cannot resume from %s: %s%s", o->resume, err.msg,
		            !ck_shuffled != !o->shuffle ? o->shuffle ? " (resume it with --no-shuffle)"
		                                                     : " (resume it with --shuffle)"
		            : windows ? " (--max-memory decides the windows: resume with the one it "
		                        "was saved with)" : "");
	return 0;
}

/* What the weight file records besides the weights: the optimizer's name,
 * its step counter and state, and where the training stream stands (for
 * an exact continuation; docs/weights.md).  ck->perm is malloc'd. */
static int checkpoint_of(const run_t *r, uint64_t step, nncc_checkpoint_t *ck, nncc_err_t *err)
{
	const nncc_model_t *m = r->m;
	memset(ck, 0, sizeof *ck);
	if (m->optimizer && strlen(m->optimizer) < sizeof ck->optimizer) {
		ck->has_optim = 1;
		memcpy(ck->optimizer, m->optimizer, strlen(m->optimizer));
		ck->step = step;
		ck->n_state = m->n_state;
		ck->state = m->state;
	}
	if (r->n_val) {
		const nncc_best_t *b = &r->best;
		ck->has_best = 1;
		ck->n_train = r->n_train;
		ck->n_val = r->n_val;
		ck->metric = r->o->metric;
		ck->stopped = b->stopped;
		ck->best_epoch = b->epoch;
		ck->wait = b->wait;
		ck->best_loss = b->loss;
		ck->best_accuracy = b->accuracy;
		ck->n_best = r->best_params ? m->n_params : 0;
		ck->best = r->best_params;
	}
	ck->has_recipe = 1;
	ck->batch = r->batch;
	ck->chunks = r->group.chunks > 1 ? r->group.chunks : 0;   /* 1 is the one chain */
	ck->seed = r->o->seed;
	ck->whole_passes = r->whole_passes;
	return nncc_stream_tell(&r->stream, ck, err);
}

/* --save's file after `it` updates of this run (the step counter's value
 * `step`); test_accuracy NaN for the checkpoints written while training. */
static int run_save(run_t *r, size_t it, uint64_t step, double test_accuracy)
{
	const nncc_model_t *m = r->m;
	nncc_weights_meta_t meta = {test_accuracy, r->loaded_iterations + it};
	nncc_checkpoint_t ck;
	nncc_err_t err;
	if (!r->writer)
		return 0;
	int rc = checkpoint_of(r, step, &ck, &err);
	if (!rc)
		rc = nncc_weights_save(m, r->o->save, &r->norm, &meta, &ck, &err);
	free(ck.perm);
	free(ck.order);
	free(ck.wperm);
	return rc ? fail(m, "%s", err.msg) : 0;
}

/* The samples of the next update: B, or in epochs mode what is left of the
 * pass when that is fewer. */
static size_t batch_of(const run_t *r, size_t B)
{
	size_t left = r->stream.n - r->stream.pos;
	return r->whole_passes && left < B ? left : B;
}

/* The loss of update `it` was not finite: the run fails and writes nothing,
 * except --log, kept for the diagnosis with a last row for that update
 * (train_loss the batch's nan or inf, the other measurements nan).
 * Returns 1. */
static int run_diverged(run_t *r, size_t it, double lr, double loss, double train_s)
{
	const nncc_model_t *m = r->m;
	const nncc_opts_t *o = r->o;
	const char *what = isnan(loss) ? "nan" : "inf";
	double no_acc = NAN;
	nncc_eval_t no_val = {.loss = NAN};
	nncc_err_t err;

	if (!r->log)
		return fail(m, "loss became %s at iteration %zu (learning rate %g); try a lower --lr",
		            what, it, lr);
	nncc_log_row(r->log, m, it, (double)r->samples / (double)r->n_train, lr, loss,
	             o->eval_test ? &no_acc : NULL, train_s, r->n_val ? &no_val : NULL);
	r->log = NULL;
	if (nncc_outfile_commit(&r->log_out, &err))
		fail(m, "%s", err.msg);
	return fail(m, "loss became %s at iteration %zu (learning rate %g); try a lower --lr "
	               "(%s has the evaluations up to it, and a last row for it with train_loss %s)",
	            what, it, lr, o->log, what);
}

/* The signal that stops the training, in r->signal: the first one caught
 * by any rank, so that every rank stops after the same update. */
static int run_signal(run_t *r)
{
	nncc_err_t err;
	int local = nncc_signal_pending(), sig = local;
	if (r->comm->size > 1 && nncc_comm_max(r->comm, local, &sig, &err)) {
		fail(r->m, "%s", err.msg);   /* the next exchange fails and ends the run */
		sig = local;
	}
	return r->signal = sig;
}

/* After the last shared step: every rank's parameters and state its own
 * again (their bytes kept), for what follows (restoring the best pass's,
 * the evaluations, the outputs). */
static int run_share_end(run_t *r)
{
	if (r->share.m && nncc_share_end(&r->share))
		return fail(r->m, "cannot map private memory for the parameters: %s", strerror(errno));
	return 0;
}

/* A shared step's layer buffers made this rank's own (shared 0), for its
 * evaluations after update `it` (the others may be in the next step's
 * rows already), or shared again (1). */
static int run_share_layers(run_t *r, int shared, size_t it)
{
	if (r->share.m && nncc_share_layers(&r->share, shared))
		return fail(r->m, "after update %zu: cannot map %s memory for the layers: %s", it,
		            shared ? "the shared step's" : "private", strerror(errno));
	return 0;
}

/* T updates of B samples (the last of each pass shorter in epochs mode),
 * fewer when early stopping ends the training or a signal stops it after an
 * update (r->signal; s->iterations: those run).
 * train_seconds excludes progress output, the periodic evaluations and
 * validations (eval_seconds) and the checkpoints. */
static int run_train(run_t *r, nncc_summary_t *s)
{
	const nncc_model_t *m = r->m;
	const nncc_opts_t *o = r->o;
	size_t T = s->iterations, B = s->batch;
	uint64_t total = r->step0 + T;
	nncc_update_t u = {.lr = o->lr, .hparams = o->hparams, .seed = o->seed};
	nncc_progress_t pg;
	nncc_err_t err;
	double t0, excluded = 0;

	nncc_progress_init(&pg, stderr, o->quiet, m->name, T);
	if (run_signal(r))   /* while the data loaded */
		T = 0;
	r->lr = nncc_schedule_lr(&o->schedule, o->lr, r->step0 + 1, r->stream.epoch, total);
	if (eval_due(r, 0, T)) {
		double e0 = now_seconds();
		if (run_share_layers(r, 0, 0))
			return 1;
		run_eval_point(r, &pg, 0, 0, 0);
		if (run_share_layers(r, 1, 0))
			return 1;
		s->eval_seconds += now_seconds() - e0;
		if (r->failed)
			return 1;
	}
	t0 = now_seconds();
	for (size_t it = 0; it < T;) {   /* not it <= T: T may be SIZE_MAX */
		uint64_t pass = r->stream.epoch;
		int stop = 0;
		double norm;
		it++;
		u.step = r->step0 + it;   /* --load starts a fresh optimizer: step0 = 0 */
		u.batch = batch_of(r, B);
		u.lr = r->lr = nncc_schedule_lr(&o->schedule, o->lr, u.step, r->stream.epoch, total);
		double loss;
		if (r->share.m) {
			if (nncc_share_step(&r->share, &r->stream, &u, &loss, &err))
				return fail(m, "update %zu: %s", it, err.msg);
			norm = 0;
		} else if (!r->group.chunks)
			loss = nncc_train_batch_clip(m, &r->stream, &u, o->clip_norm, &norm);
		else if (nncc_group_batch(&r->group, m, &r->stream, &u, o->clip_norm, &loss, &norm, &err))
			return fail(m, "update %zu: %s", it, err.msg);
		if (r->stream.failed)
			return fail(m, "update %zu: %s", it, r->stream.err.msg);
		loss /= (double)u.batch;
		double t = now_seconds();
		int paused = 0;
		r->samples += u.batch;
		r->clipped += o->clip_norm > 0 && o->clip_norm / (norm + 1e-6) < 1;
		if (!isfinite(loss)) {
			nncc_progress_break(&pg);
			return run_diverged(r, it, u.lr, loss, t - t0 - excluded);
		}
		nncc_tick_t tick = {it, loss, (double)r->samples / (double)r->n_train, u.lr, r->samples,
		                    t - t0 - excluded, t - t0, NAN, NAN};
		if (r->val_it != SIZE_MAX) {   /* the latest validation */
			tick.val_loss = r->val.loss;
			tick.val_accuracy = nncc_eval_score(m, &r->val);
		}
		paused = nncc_progress_step(&pg, &tick);
		int pass_end = r->n_val && r->stream.epoch != pass;
		if (pass_end || eval_due(r, it, T)) {
			double e0 = now_seconds();
			if (run_share_layers(r, 0, it))
				return 1;
			if (pass_end)
				stop = run_pass_end(r, &pg, it);
			if (eval_due(r, it, T) || (pass_end && (o->log || r->curve_x)))
				run_eval_point(r, &pg, it, t - t0 - excluded, pass_end);
			if (run_share_layers(r, 1, it))
				return 1;
			s->eval_seconds += now_seconds() - e0;
			paused = 1;
		}
		if (r->failed)
			return 1;
		if (stop) {
			if (run_share_end(r))
				return 1;
			run_restore(r);
			T = it;
		}
		if (o->checkpoint_every && u.step % o->checkpoint_every == 0 && it < T) {
			if (run_save(r, it, u.step, NAN))
				return 1;
			paused = 1;
		}
		if (paused)
			excluded += now_seconds() - t;
		if (it < T && run_signal(r))
			T = it;   /* the loop ends here; the last update is complete */
	}
	s->iterations = T;
	s->train_seconds = T ? now_seconds() - t0 - excluded : 0;
	nncc_progress_break(&pg);
	return run_share_end(r);
}

/* ---- pre-training (docs/trainer.md#pre-training) ------------------------ */

/* Pre-training's samples: the training samples, then with
 * --pretrain-unlabeled those of the training file past the ones in use
 * (--train-limit's; normalised as the training samples are, labels zero:
 * pre-training reads none).  *x and *y are the training set's own or a new
 * copy in r->pre_x/pre_y. */
static int pretrain_samples(run_t *r, const void **x, const void **y, size_t *n)
{
	const nncc_model_t *m = r->m;
	size_t used = r->n_train + r->n_val, extra = r->train.n - used, row = m->n_inputs * r->rsize;
	size_t total, bytes, ybytes;

	*x = r->train_x;
	*y = r->train_y;
	*n = r->n_train;
	if (!r->o->pretrain_unlabeled || !extra)
		return 0;
	if (!ckd_add_size(&total, r->n_train, extra) || !ckd_mul_size(&bytes, total, row) ||
	    !ckd_mul_size(&ybytes, total, r->y_bytes))
		return fail(m, "pre-training's %zu + %zu samples overflow size_t", r->n_train, extra);
	if (!(r->pre_x = malloc(bytes)) || !(r->pre_y = calloc(1, ybytes)))
		return fail(m, "out of memory for pre-training's %zu samples (%zu bytes)", total, bytes);
	memcpy(r->pre_x, r->train_x, r->n_train * row);
	if (m->config.format == NNCC_FORMAT_CSV)
		nncc_norm_apply_values(&r->norm, m->dtype, (char *)r->pre_x + r->n_train * row,
		                       r->train.values + used * m->n_inputs, extra);
	else
		nncc_norm_apply(&r->norm, m->dtype, (char *)r->pre_x + r->n_train * row,
		                r->train.pixels + used * m->n_inputs, extra);
	*x = r->pre_x;
	*y = r->pre_y;
	*n = total;
	return 0;
}

/* Pre-training's samples when the training set streams: sample i is row i
 * of the training file below `split` (the samples in use), else row i +
 * gap (--pretrain-unlabeled's, past the held-out ones). */
typedef struct pre_src {
	nncc_window_src_t file;  /* the training file's window source */
	size_t split, gap, y_bytes;
} pre_src_t;

static int pre_src_read(void *ctx, size_t first, size_t k, void *raw, void *y, nncc_err_t *err)
{
	const pre_src_t *p = ctx;
	size_t a = first >= p->split ? 0 : p->split - first < k ? p->split - first : k;

	if (a && p->file.read(p->file.ctx, first, a, raw, y, err))
		return -1;
	if (a == k)
		return 0;
	return p->file.read(p->file.ctx, first + a + p->gap, k - a,
	                    (char *)raw + a * p->file.raw_bytes, (char *)y + a * p->y_bytes, err);
}

static void pre_src_convert(void *ctx, const void *raw, size_t k, void *x)
{
	const pre_src_t *p = ctx;
	p->file.convert(p->file.ctx, raw, k, x);
}

/* Pre-training's stream over its N samples, shuffled with seed: in memory,
 * or read from the training file in windows as large as the memory plan
 * leaves room for (the supervised run's window, or up to all N samples
 * when the plan capped it at the training set: one window is the in-memory
 * stream, draw for draw).  The stream's window is freed before the
 * supervised run's is allocated. */
static int pretrain_stream(run_t *r, nncc_stream_t *st, pre_src_t *ps, const void *px,
                           const void *py, size_t N, uint64_t seed, nncc_err_t *err)
{
	const nncc_model_t *m = r->m;
	nncc_window_src_t src;
	size_t W = r->window_room > r->window ? r->window_room : r->window;

	if (!r->streamed)
		return nncc_stream_init(st, m, px, py, N, 1, seed, err);
	ps->file = train_window_src(r, W < N ? W : N);
	ps->split = r->n_train;
	ps->gap = r->n_val;
	ps->y_bytes = m->n_targets ? m->n_targets * r->rsize : sizeof(int32_t);
	src = ps->file;
	src.read = pre_src_read;
	src.convert = pre_src_convert;
	src.ctx = ps;
	return nncc_stream_init_windows(st, m, &src, N, 1, seed, err);
}

/* An autoencoder's stream and chunked step done with. */
static void pretrain_end(nncc_stream_t *st, nncc_group_t *pg)
{
	nncc_stream_fini(st);
	nncc_group_fini(pg);
}

/* Greedy layer-wise pre-training before the supervised run: each
 * autoencoder in turn, --pretrain-epochs passes over the training samples
 * (never the validation ones; with --pretrain-unlabeled also the file's
 * samples past --train-limit's) in a fresh random order per pass, batches of
 * config.pretrain.batch_size (the last of a pass shorter), the decoder drawn
 * as the network's weights are, the step counter from 1.  A line per pass on
 * stderr; the record for the report. */
static int run_pretrain(run_t *r, nncc_summary_t *s)
{
	const nncc_model_t *m = r->m;
	const nncc_opts_t *o = r->o;
	const nncc_pretrain_config_t *c = &m->config.pretrain;
	size_t N, B = c->batch_size, E = o->pretrain_epochs, n = m->n_pretrain;
	double mu = c->momentum, lossb;
	const void *px, *py;
	nncc_err_t err;

	if (!n || !E)
		return 0;
	if (r->streamed) {   /* read from the file: N counts the unlabeled rows */
		N = r->n_train + (o->pretrain_unlabeled ? r->train.n - r->n_train - r->n_val : 0);
		px = py = NULL;
	} else if (pretrain_samples(r, &px, &py, &N)) {
		return -1;
	}
	s->pretrain_samples = N;
	if (!B || B > m->max_batch)
		return fail(m, "model has an invalid pre-training batch size %zu (tile %zu)", B,
		            m->max_batch);
	if (!(r->pre = calloc(n, sizeof *r->pre)) || !(r->pre_loss = calloc(n * E, sizeof(double))))
		return fail(m, "out of memory for pre-training's record (%zu layers x %zu epochs)", n, E);
	for (size_t i = 0; i < n; i++) {
		const nncc_layer_t *L = &m->layers[m->pretrain[i].layer];
		/* the decoder: drawn as the network's weights are, from its own seed */
		nncc_layer_t dl = {.name = "decoder", .kind = "dense",
		                   .n_tensors = m->pretrain[i].n_tensors,
		                   .tensors = m->pretrain[i].tensors};
		nncc_model_t dec = *m;
		dec.n_layers = 1;
		dec.layers = &dl;
		nncc_init_params(&dec, m->config.init, m->config.init_scale, m->config.init_biases,
		                 o->seed ^ PRETRAIN_INIT ^ (uint64_t)i);
		nncc_pretrain_rec_t *rec = &r->pre[i];
		nncc_stream_t st;
		nncc_group_t pg;   /* chunked (--chunks, MPI): the batch's chunks' step */
		pre_src_t ps;
		nncc_update_t u = {.lr = o->pretrain_lr, .hparams = mu > 0 ? &mu : NULL,
		                   .seed = o->seed};
		double t0 = now_seconds();
		rec->layer = m->pretrain[i].layer;
		rec->loss = r->pre_loss + i * E;
		memset(&pg, 0, sizeof pg);
		if (r->group.chunks &&
		    (nncc_group_init_pretrain(&pg, r->comm, m, i, r->group.chunks, &err) ||
		     /* sharded: a batch's samples come from the ranks that hold them */
		     (r->sharded && nncc_group_shard(&pg, m, &r->held[0], N, B < N ? B : N, &err)))) {
			nncc_group_fini(&pg);
			return fail(m, "%s", err.msg);
		}
		if (pretrain_stream(r, &st, &ps, px, py, N, o->seed ^ PRETRAIN_STREAM ^ (uint64_t)i,
		                    &err)) {
			nncc_group_fini(&pg);
			return fail(m, "%s", err.msg);
		}
		if (r->shard_stream || r->shard_pretrain) {   /* each rank its part of each window */
			nncc_held_t h = {.bytes = ps.file.raw_bytes, .convert = pre_src_convert, .ctx = &ps};
			nncc_stream_share(&st, (size_t)r->comm->rank, (size_t)r->comm->size);
			if (nncc_group_shard_stream(&pg, m, &h, B < N ? B : N, &err)) {
				pretrain_end(&st, &pg);
				return fail(m, "%s", err.msg);
			}
		}
		if (i == 0 && r->streamed && r->writer && !o->quiet)
			fprintf(stderr, "%s: memory: pre-training reads its %zu samples in %zu window%s of "
			                "%zu samples%s\n", m->name, N, st.n_windows, st.n_windows == 1 ? "" : "s",
			        st.src.window,
			        r->shard_stream || r->shard_pretrain ? ", each rank its part of each" : "");
		for (size_t ep = 0; ep < E && !r->signal; ep++) {
			double sum = 0;
			for (size_t done = 0; done < N; done += u.batch) {
				const void *y, *x;
				/* under MPI the ranks agree every PRETRAIN_AGREE steps (and
				 * at each pass's start): all stop after the same step */
				if ((r->comm->size == 1 || done == 0 || u.step % PRETRAIN_AGREE == 0) &&
				    run_signal(r)) {
					fprintf(stderr, "%s: pre-training stopped in layer \"%s\", epoch %zu\n",
					        m->name, L->name, ep + 1);
					break;
				}
				u.batch = N - done < B ? N - done : B;
				u.step++;
				if (!r->group.chunks) {
					lossb = (x = nncc_stream_next(&st, u.batch, &y))
					            ? m->pretrain_step(i, u.batch, x, &u) : NAN;
				} else if (nncc_group_pretrain(&pg, m, &st, &u, &lossb, &err)) {
					pretrain_end(&st, &pg);
					return fail(m, "pre-training, layer \"%s\", step %llu: %s", L->name,
					            (unsigned long long)u.step, err.msg);
				}
				if (st.failed) {
					int rc = fail(m, "pre-training, layer \"%s\": %s", L->name, st.err.msg);
					pretrain_end(&st, &pg);   /* (clears st.err) */
					return rc;
				}
				sum += lossb;
				if (!isfinite(lossb)) {
					pretrain_end(&st, &pg);
					return fail(m, "pre-training diverged: layer \"%s\", epoch %zu, step %llu: "
					               "reconstruction loss %g (lower --pretrain-lr, now %g)",
					            L->name, ep + 1, (unsigned long long)u.step, lossb, u.lr);
				}
			}
			if (r->signal)
				break;
			rec->loss[ep] = sum / (double)N;
			rec->epochs = ep + 1;
			if (!o->quiet)
				fprintf(stderr, "%s: pretrain %zu/%zu layer \"%s\" (%zu->%zu->%zu): epoch %zu/%zu, "
				                "%s %.6g per sample, %.1f s\n", m->name, i + 1, n, L->name, L->in,
				        L->out, L->in, ep + 1, E, nncc_recon_name(c->loss), rec->loss[ep],
				        now_seconds() - t0);
		}
		rec->steps = u.step;
		rec->seconds = now_seconds() - t0;
		pretrain_end(&st, &pg);
		s->n_pretrain = i + 1;
		if (r->signal)
			break;
	}
	s->pretrain = r->pre;
	free(r->pre_x);   /* done with: the supervised run needs the memory more */
	free(r->pre_y);
	r->pre_x = r->pre_y = NULL;
	return 0;
}

/* ---- results ------------------------------------------------------------ */

/* The run succeeded: the plot is drawn, then every output is complete on
 * disk (the log and plot as temporary files, --save's file in place)
 * before the log and the plot are renamed into place.  A failure leaves
 * none of them (the temporary files are removed; --save's file is a
 * whole one either way). */
static int run_outputs(run_t *r, nncc_summary_t *s)
{
	const nncc_model_t *m = r->m;
	const nncc_opts_t *o = r->o;
	nncc_err_t err;

	if (o->plot) {
		char title[256], axis[128];
		const char *loss = m->loss_name ? m->loss_name : "loss";
		nncc_series_t curves[2] = {{"training", r->curve_x, r->curve_y, r->curve_n},
		                           {"validation", r->curve_x, r->curve_v, r->curve_n}};
		if (r->n_val) {
			snprintf(title, sizeof title, "%s: training and validation %s", m->name, loss);
			snprintf(axis, sizeof axis, "mean %s", loss);
		} else {
			snprintf(title, sizeof title, "%s: training %s", m->name, loss);
			snprintf(axis, sizeof axis, "mean %s (training set)", loss);
		}
		nncc_plot_svg(r->plot_out.f, title, "iteration", axis, curves, r->n_val ? 2 : 1);
		if (nncc_outfile_finish(&r->plot_out, &err))
			return fail(m, "%s", err.msg);
	}
	r->log = NULL;
	if (nncc_outfile_finish(&r->log_out, &err))
		return fail(m, "%s", err.msg);
	if (o->save && run_save(r, s->iterations, r->step0 + s->iterations,
	                        m->n_targets ? NAN : (double)s->test.correct / (double)s->test.n))
		return 1;
	if (nncc_outfile_commit(&r->log_out, &err) || nncc_outfile_commit(&r->plot_out, &err))
		return fail(m, "%s", err.msg);
	return 0;
}

/* A signal stopped the training after update `it` (0: before the first):
 * --save's file as a checkpoint to resume from (test accuracy unknown, as
 * --checkpoint-every's), no log, no plot, and the exit status 128 + the
 * signal's number. */
static int run_interrupted(run_t *r, const nncc_summary_t *s)
{
	const nncc_model_t *m = r->m;
	const nncc_opts_t *o = r->o;
	size_t it = s->iterations;

	if (!r->writer)   /* rank 0 says it and writes the checkpoint */
		return nncc_signal_status(r->signal);
	fprintf(stderr, "%s: interrupted by %s after %zu of %zu iterations", m->name,
	        nncc_signal_name(r->signal), it, s->planned);
	if (!o->save || !it) {
		fprintf(stderr, "; nothing written%s\n",
		        o->save ? "" : " (--save FILE would have written a checkpoint to resume from)");
		return nncc_signal_status(r->signal);
	}
	fprintf(stderr, "; writing the checkpoint %s\n", o->save);
	if (run_save(r, it, r->step0 + it, NAN))
		return 1;
	fprintf(stderr, "%s: checkpoint %s written (update %llu); to finish the run: the same "
	                "command with --resume %s", m->name, o->save,
	        (unsigned long long)(r->step0 + it), o->save);
	if (o->epochs)
		fprintf(stderr, " (and the same --epochs)\n");
	else
		fprintf(stderr, " --iterations %zu\n", s->planned - it);
	return nncc_signal_status(r->signal);
}

/* The updates of the run: none when --resume's file was stopped early.
 * iterations mode: the option's count (with --resume, that many more).  epochs mode: until `epochs` passes are
 * complete, counting those --resume's position has done, each pass
 * ceil(N / B) updates, the rest of a pass begun ceil(left / B).  Returns
 * 0, or 1 after a message. */
static int run_updates(run_t *r, size_t N, size_t B, size_t *T)
{
	const nncc_opts_t *o = r->o;
	size_t per_epoch = N / B + (N % B != 0), E = o->epochs, e0 = 0, first = 0, n;
	if (o->resume && r->ck.has_best && r->ck.stopped) {   /* early stopping ended it */
		*T = 0;
		return 0;
	}
	if (!E) {
		*T = o->iterations;
		return 0;
	}
	if (o->resume && r->ck.has_position) {
		if (r->ck.epoch >= E) {
			*T = 0;
			return 0;
		}
		e0 = (size_t)r->ck.epoch;
		if (r->ck.sample && r->ck.sample < N) {   /* a pass begun */
			size_t left = N - (size_t)r->ck.sample;
			first = left / B + (left % B != 0);
			e0++;
		}
	}
	if (!ckd_mul_size(&n, E - e0, per_epoch) || !ckd_add_size(&n, n, first))
		return fail(r->m, "--epochs %zu of %zu updates each is more than %zu (SIZE_MAX) "
		                  "updates, the most a run counts", E, per_epoch, (size_t)SIZE_MAX);
	*T = n;
	return 0;
}

/* What the run's counters can hold: the samples it trains on (T * B),
 * the optimizer's step counter and the iterations the weight file records,
 * each 64 bits.  Returns 0, or 1 after a message naming the limit. */
static int run_limits(const run_t *r, size_t T, size_t B)
{
	const nncc_model_t *m = r->m;
	const char *from = r->o->resume ? r->o->resume : r->o->load;
	uint64_t n;
	if (!ckd_mul_u64(&n, T, B))
		return fail(m, "%zu iterations of %zu samples are more than 2^64 - 1 samples, the most "
		               "a run counts (at most %llu iterations at this batch size)", T, B,
		            (unsigned long long)(UINT64_MAX / B));
	if (!ckd_add_u64(&n, r->step0, T))
		return fail(m, "%s's step counter %llu plus %zu iterations is more than 2^64 - 1, the "
		               "most the step counter holds", from, (unsigned long long)r->step0, T);
	if (!ckd_add_u64(&n, r->loaded_iterations, T))
		return fail(m, "%s's %llu iterations plus %zu more are more than 2^64 - 1, the most a "
		               "weight file records", from, (unsigned long long)r->loaded_iterations, T);
	return 0;
}

/* --threads; 0 (all cores) with several ranks on this machine: its cores
 * shared among them, at least one each. */
static int run_threads(const run_t *r)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (r->o->threads || r->comm->local <= 1 || cores < 1)
		return r->o->threads;
	return cores / r->comm->local > 1 ? (int)(cores / r->comm->local) : 1;
}

/* A streamed training set read in file order is read a piece ahead on a
 * thread of its own when the run leaves a core free (one process, fewer
 * threads than cores): the read (and CSV's parsing) leaves the training
 * thread (docs/scaling.md#larger-than-memory).  NNCC_READ_AHEAD=0 turns it
 * off.  The thread reads through src_train alone (its own CSV reader and
 * targets' scratch); the evaluations read through src_eval and src_test. */
static int run_read_ahead(run_t *r, nncc_summary_t *s)
{
	const char *env = getenv("NNCC_READ_AHEAD");
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	nncc_err_t err;
	if (!r->streamed || r->comm->size > 1 || s->threads >= cores ||
	    (env && strcmp(env, "0") == 0))
		return 0;
	nncc_signals_hold(1);   /* the thread never takes them (as the pool's) */
	int rc = nncc_stream_read_ahead(&r->stream, &err);
	nncc_signals_hold(0);
	if (rc < 0)
		return fail(r->m, "%s", err.msg);
	/* A thread that did not start is said, and the run goes on without it
	 * (as the pool goes on with the threads it got): the same samples. */
	if (rc == 0 && err.msg[0] && r->writer && !r->o->quiet)
		fprintf(stderr, "%s: memory: %s: the training thread reads the training set\n",
		        r->m->name, err.msg);
	s->read_ahead = rc;
	if (rc && r->writer && !r->o->quiet)
		fprintf(stderr, "%s: memory: a thread of its own reads the training set %zu samples "
		                "ahead (NNCC_READ_AHEAD=0: on the training thread)\n", r->m->name,
		        r->stream.piece);
	return 0;
}

/* Samples a chunk below which the trainer says that the default chunks
 * cost more than the ranks save (run_group). */
#define CHUNK_FEW 16

/* --chunks 0 on several ranks: they share each step (share.c), when they
 * are on one machine and the step is one tile of the fused kind; else
 * what stops it. */
static int run_share_plan(run_t *r)
{
	const nncc_model_t *m = r->m;
	const char *why = nncc_share_unfit(r->comm, m);
	nncc_err_t err;

	if (why)
		return fail(m, "--chunks 0 on %d ranks shares each step among them, but %s: give "
		               "--chunks C (docs/scaling.md)", r->comm->size, why);
	if (r->batch > m->max_batch)
		return fail(m, "--chunks 0 on %d ranks shares each step among them, a batch being "
		               "one tile: --batch %zu is more than the trainer's tile of %zu (the "
		               "YAML's batch_size); give --chunks C, or generate the trainer with "
		               "batch_size %zu", r->comm->size, r->batch, m->max_batch, r->batch);
	if (r->o->clip_norm > 0)
		return fail(m, "--chunks 0 on %d ranks shares each step among them, and no rank "
		               "holds the whole gradient that --clip-norm measures: give --chunks C",
		            r->comm->size);
	if (r->sharded)
		return fail(m, "--chunks 0 on %d ranks shares each step among them, and each reads "
		               "the whole batch: it does not shard (drop --shard)", r->comm->size);
	if (nncc_group_init_eval(&r->group, r->comm, &err))
		return fail(m, "%s", err.msg);
	r->share_on = 1;
	if (r->writer && !r->o->quiet)
		fprintf(stderr, "%s: the %d ranks share each step: each runs its rows of the batch, "
		                "then its part of the weight gradient and update (--chunks 0: the bits "
		                "of one process)\n", m->name, r->comm->size);
	return 0;
}

/* --chunks (the library's default when not given) among the ranks. */
static int run_group(run_t *r, nncc_summary_t *s)
{
	size_t C = run_chunks(r), B = r->batch, Bp = r->m->config.pretrain.batch_size;
	const char *which = "batches";
	nncc_err_t err;

	s->ranks = r->comm->size;
	s->chunks = C;
	if (!C && r->comm->size > 1)
		return run_share_plan(r);
	if (C && nncc_group_init(&r->group, r->comm, r->m, C, &err))
		return fail(r->m, "%s", err.msg);
	/* The default chunks keep the bits of 1 to 12 ranks; at a few samples
	 * each, their passes over the gradient cost several times what the
	 * samples do (docs/scaling.md#measured): say so, and what is faster.
	 * Pre-training's batches are chunked alike. */
	if (runs_pretrain(r) && Bp < B) {
		B = Bp;
		which = "pre-training's batches";
	}
	if (r->o->chunks == NNCC_CHUNKS_DEFAULT && (size_t)r->comm->size < C &&
	    B < CHUNK_FEW * C && r->writer && !r->o->quiet)
		fprintf(stderr, "%s: note: %s of %zu in %zu chunks, %zu-%zu samples each: each "
		                "chunk is a pass over the whole gradient; --chunks %d (one a rank) is "
		                "faster, with other bits than %zu chunks' (docs/scaling.md)\n",
		        r->m->name, which, B, C, B / C, (B + C - 1) / C, r->comm->size, C);
	if (r->sharded) {
		if (nncc_group_shard(&r->group, r->m, &r->held[0], r->n_train, r->batch, &err))
			return fail(r->m, "%s", err.msg);
		s->sharded = 1;
		s->shard_samples = r->shard_n;
	} else if (r->shard_stream) {
		nncc_window_src_t src = train_window_src(r, r->window);
		nncc_held_t h = {.bytes = src.raw_bytes, .convert = src.convert, .ctx = src.ctx};
		if (nncc_group_shard_stream(&r->group, r->m, &h, r->batch, &err))
			return fail(r->m, "%s", err.msg);
		s->sharded = 1;
		s->shard_samples = r->shard_n;
	}
	return 0;
}

/* The start line of an evaluations' index (mem_plan_eval_index). */
static void say_eval_index(const run_t *r, const char *path, size_t points)
{
	char b[32];
	fprintf(stderr, "%s: memory: %s is gzip'd: its evaluations' index of up to %zu access "
	                "points (%s) lets each rank inflate its tiles from a point shortly before "
	                "them\n", r->m->name, path, points,
	        nncc_mem_text(b, sizeof b, mem_add(0, points, NNCC_GZ_POINT_BYTES)));
}

/* The start line of a streamed run: the plan and the windows (the report's
 * memory line says it for every run). */
static void run_say_memory(const run_t *r, const nncc_summary_t *s)
{
	const nncc_model_t *m = r->m;
	char b1[32], b2[32], b3[32];
	fprintf(stderr, "%s: memory: %s of a %s budget; the training set (%zu samples, %s as "
	                "reals) streams from %s in %zu window%s of %zu samples\n", m->name,
	        nncc_mem_text(b1, sizeof b1, r->mem_used), nncc_mem_text(b2, sizeof b2, r->budget),
	        s->n_train, nncc_mem_text(b3, sizeof b3, mem_add(0, s->n_train, m->n_inputs * r->rsize)),
	        src_path(&r->src_train), s->n_windows, s->n_windows == 1 ? "" : "s", r->window);
	if (r->test.n)
		fprintf(stderr, "%s: memory: the test set (%zu samples) %s\n", m->name, r->test.n,
		        r->hold_test ? "is read once and held as reals"
		                     : "streams too, at each evaluation");
	if (r->gz_eval_points)
		say_eval_index(r, src_path(&r->src_train), r->gz_eval_points);
	if (r->gz_test_points)
		say_eval_index(r, src_path(&r->src_test), r->gz_test_points);
	if (r->shard_stream)
		fprintf(stderr, "%s: memory: sharded: each of the %d ranks reads its part of each "
		                "window (rank 0: %zu samples of a full one)\n", m->name, r->comm->size,
		        r->shard_n);
	else if (r->o->shard == 1 && r->comm->size > 1)
		fprintf(stderr, "%s: memory: --shard: %s\n", m->name,
		        r->o->shuffle ? "not sharded: a batch's exchange does not fit the budget with "
		                        "the window's part; each rank reads whole windows"
		                      : "in file order each rank reads only its chunks' samples");
	if (r->gz_points)
		fprintf(stderr, "%s: memory: %s is gzip'd: an index of up to %zu access points (%s, "
		                "one every %s of its data or more) lets its windows come in a shuffled "
		                "order\n", m->name, src_path(&r->src_train), r->gz_points,
		        nncc_mem_text(b1, sizeof b1, mem_add(0, r->gz_points, NNCC_GZ_POINT_BYTES)),
		        nncc_mem_text(b2, sizeof b2, (size_t)r->gz_span));
	else if (r->o->shuffle && s->n_windows > 1 && !src_seekable(&r->src_train))
		fprintf(stderr, "%s: %s is gzip'd: its windows are read in file order and only the "
		                "samples within a window are shuffled (the budget leaves no room for "
		                "its index: gunzip it for a shuffled window order)\n", m->name,
		        src_path(&r->src_train));
}

static int run(run_t *r, nncc_summary_t *s)
{
	const nncc_model_t *m = r->m;
	const nncc_opts_t *o = r->o;
	size_t N, B;

	if (run_paths(r))
		return 1;
	if (r->writer && outputs_check(r)) {
		fprintf(stderr, "Try '%s --help' for the options.\n", m->name);
		return EXIT_USAGE;
	}
	if ((r->writer && run_open_outputs(r)) || run_load(r))
		return 1;
	N = r->n_train;
	B = o->batch ? o->batch : N;
	if (B > N) {   /* as --batch full: each update takes every sample once */
		if (!o->quiet)
			fprintf(stderr, "%s: batch %zu is more than the %zu training samples: each update "
			                "takes all %zu (full batch)\n", m->name, B, N, N);
		B = N;
	}
	s->n_train = N;
	s->n_file = r->train.n;
	s->n_class_names = r->norm.n_classes;
	s->class_names = r->norm.class_names;
	s->n_val = r->n_val;
	s->batch = B;
	s->mem_budget = r->budget;
	s->mem_used = r->mem_used;
	if (r->data_block && (r->comm->local > 1 || r->own_copy)) {   /* nncc_comm_shared's rule */
		s->shared_by = r->own_copy ? 0 : r->comm->local;
		s->mem_shared = (size_t)((const char *)r->test_y - (const char *)r->train_x) +
		                r->test.n * r->y_bytes;
		if (r->own_copy) {
			s->shm_room = r->shm_room;
			snprintf(s->shm_dir, sizeof s->shm_dir, "%s", r->shm_dir);
		}
	}
	if (r->streamed) {
		s->window = r->window;
		s->gz_points = r->gz_points;
		s->gz_eval_points = r->gz_eval_points;
		s->gz_test_points = r->gz_test_points;
		s->n_windows = N / r->window + (N % r->window != 0);
	}
	if (r->writer && !o->quiet && r->streamed)
		run_say_memory(r, s);
	if (run_updates(r, N, B, &s->iterations) || run_limits(r, s->iterations, B))
		return 1;
	s->planned = s->iterations;
	r->whole_passes = o->epochs > 0;
	r->batch = B;
	if (run_group(r, s))
		return 1;
	if (o->resume)
		resume_recipe(r);
	nncc_signals_hold(1);   /* the pool's threads never take them */
	s->threads = m->set_threads ? m->set_threads(run_threads(r)) : 1;
	nncc_signals_hold(0);
	if (!o->load && !o->resume && run_pretrain(r, s))
		return 1;
	if (r->signal) {   /* in pre-training: no update done, nothing to resume */
		s->iterations = 0;
		return run_interrupted(r, s);
	}
	if (run_prepare(r, s->iterations, B) || run_read_ahead(r, s))
		return 1;
	if (r->share_on) {   /* after pre-training, --load and --resume: every rank's bytes alike */
		nncc_err_t err;
		if (nncc_share_init(&r->share, r->comm, m, &err))
			return fail(m, "%s", err.msg);
	}
	s->step0 = r->step0;
	if (o->resume) {
		s->resumed = o->resume;
		s->resume_epoch = r->stream.epoch;
		s->resume_sample = r->stream.pos;
	}
	if (run_train(r, s))
		return 1;
	if (r->signal)
		return run_interrupted(r, s);
	s->samples = r->samples;
	s->final_lr = s->iterations ? r->lr : NAN;
	s->clipped = r->clipped;

	s->test.confusion = r->confusion;
	run_evaluate_set(r, 1, &s->test);
	if (r->last_train_it == s->iterations)
		s->train = r->last_train;
	else
		run_evaluate_set(r, 0, &s->train);
	if (r->n_val) {
		run_val(r, s->iterations);
		s->val = r->val;
	}
	s->best = r->best;
	if (r->failed)
		return 1;
	if (!r->writer)
		return 0;
	if (o->json)
		nncc_report_json(stdout, s);
	else
		nncc_report_text(stdout, s);
	if (fflush(stdout))
		return fail(m, "cannot write the results: %s", strerror(errno));
	return run_outputs(r, s);
}

static void run_fini(run_t *r)
{
	nncc_stream_fini(&r->stream);   /* first: its read-ahead thread reads src_train */
	for (int i = 0; i < 4; i++)
		free(r->files[i]);
	nncc_dataset_fini(&r->train);
	nncc_dataset_fini(&r->test);
	nncc_norm_fini(&r->norm);
	if (r->data_block) {
		nncc_comm_shared_free(r->comm, r->data_block);
	} else {
		free(r->train_x);
		free(r->test_x);
	}
	nncc_group_fini(&r->group);
	nncc_share_fini(&r->share);
	nncc_checkpoint_fini(&r->ck);
	free(r->confusion);
	free(r->curve_x);   /* curve_y and curve_v are in its block */
	free(r->best_params);
	free(r->pre);
	free(r->pre_loss);
	free(r->pre_x);
	free(r->pre_y);
	nncc_images_close(r->src_train.img);
	nncc_images_close(r->src_test.img);
	nncc_images_close(r->src_eval.img);
	free(r->pixels);
	nncc_csv_train_close(r->csv_eval);
	nncc_csv_train_close(r->csv);
	nncc_csv_train_close(r->csv_test);
	free(r->values);
	free(r->tbuf);
	free(r->train_tbuf);
	free(r->eval_y);
	free(r->val_block);
	free(r->test_block);
	free(r->eval_x);
	free(r->tile_loss);
	nncc_outfile_abort(&r->log_out);   /* nothing after a commit */
	nncc_outfile_abort(&r->plot_out);
}

/* nncc_main on one rank of comm's (the only one without MPI). */
static int trainer_main(int argc, char **argv, const nncc_model_t *m, nncc_comm_t *comm)
{
	nncc_opts_t o;
	nncc_summary_t s;
	run_t r;
	int rc;

	if (m->abi_version != NNCC_ABI_VERSION)
		return fail(m, "generated for runtime ABI %d but this libnncc implements %d; "
		               "regenerate it with the matching nncc",
		            m->abi_version, NNCC_ABI_VERSION);
	if (!m->max_batch || !m->n_inputs || !m->n_outputs || !m->n_layers)
		return fail(m, "model has a zero size (max_batch %zu, inputs %zu, outputs %zu)",
		            m->max_batch, m->n_inputs, m->n_outputs);
	if (!strcmp(nncc_init_name(m->config.init), "?"))
		return fail(m, "model has an unknown init kind %d", m->config.init);
	if (m->config.init_biases != 0 && m->config.init_biases != 1)
		return fail(m, "model has an invalid init_biases %d", m->config.init_biases);
	if (!strcmp(nncc_schedule_name(m->config.schedule.type), "?"))
		return fail(m, "model has an unknown learning-rate schedule %d", m->config.schedule.type);
	if (!(m->config.clip_norm >= 0) || !isfinite(m->config.clip_norm))
		return fail(m, "model has an invalid clip_norm %g", m->config.clip_norm);
	if (!(m->config.validation >= 0) || !isfinite(m->config.validation) ||
	    (m->config.validation >= 1 && m->config.validation != floor(m->config.validation)) ||
	    !strcmp(nncc_metric_name(m->config.metric), "?") || !(m->config.min_delta >= 0) ||
	    !isfinite(m->config.min_delta))
		return fail(m, "model has an invalid validation %g, metric %d or min_delta %g",
		            m->config.validation, m->config.metric, m->config.min_delta);
	if (m->n_hparams > NNCC_MAX_HPARAMS)
		return fail(m, "model has %zu optimizer hyper-parameters; this libnncc takes at most %d",
		            m->n_hparams, NNCC_MAX_HPARAMS);
	if (!m->tensor(NNCC_T_ACT, m->n_layers - 1))
		return fail(m, "model has no output tensor (layer %zu)", m->n_layers - 1);
	rc = opts_parse(&o, argc, argv, m);
	if (rc >= 0)
		return rc;
	comm->timeout = o.mpi_timeout;
	if (o.predict && comm->size > 1)
		return fail(m, "--predict runs in one process, not on %d ranks", comm->size);
	if (o.predict)
		return nncc_predict_main(m, &o);
	if (comm->rank != 0)   /* rank 0 prints and writes (r.writer), the others train along */
		o.quiet = 1;
	memset(&r, 0, sizeof r);
	memset(&s, 0, sizeof s);
	r.m = m;
	r.o = &o;
	r.comm = comm;
	r.writer = comm->rank == 0;
	r.rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float);
	r.last_train_it = r.val_it = SIZE_MAX;
	s.m = m;
	s.o = &o;
	s.data_dir = o.data_dir;
	nncc_signals_catch(m->name);
	rc = run(&r, &s);
	run_fini(&r);
	nncc_signals_release();
	return rc;
}

int nncc_main(int argc, char **argv, const nncc_model_t *m)
{
	nncc_comm_t comm;
	nncc_err_t err;
	int rc;

	if (nncc_comm_init(&comm, &err))
		return fail(m, "%s", err.msg);
	rc = trainer_main(argc, argv, m, &comm);
	nncc_comm_fini(&comm, rc);
	return rc;
}
