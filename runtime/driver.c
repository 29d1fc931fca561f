/*
 * driver.c - nncc_main(), the generated trainer's command line: parses the
 * options (the model's optimizer hyper-parameters among them), loads and
 * normalises the IDX data, trains the model in mini-batches through the
 * runtime's loop (train.c), evaluates it and reports.  Gradients and the
 * optimizer are the generated code's business; the report formats live in
 * report.c and plot.c.
 *
 * Vocabulary: N = training samples, B = batch size, T = iterations (one
 * update each), tile = at most m->max_batch samples handed to one entry
 * point call, "stream" = the training samples repeated end to end (in file
 * order, or a fresh permutation per pass when shuffling).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "driver.h"

#define EXIT_USAGE 2
/* Xored into the seed so the shuffle draws a different stream than the
 * weight init (which seeds with the seed itself). */
#define SHUFFLE_STREAM 0x53485546464c4531ull /* "SHUFFL1" */
/* Evaluations for --log/--plot when --eval-every is not given, and the
 * fewest a plot may have before it gets the default ones added. */
#define DEFAULT_EVALS 50
#define MIN_PLOT_POINTS 10

/* Everything one run owns; run_fini() frees it all. */
typedef struct run {
	const nncc_model_t *m;
	const nncc_opts_t *o;
	size_t rsize;                /* bytes per real */
	char *files[NNCC_DATA_FILES];
	nncc_dataset_t train, test;
	nncc_norm_stats_t norm;
	void *train_x, *test_x;      /* [N][n_inputs] reals, normalised */
	nncc_stream_t stream;        /* the training samples, tile by tile */
	size_t *confusion;           /* [K][K] */
	FILE *log;
	size_t log_every, plot_every;
	double *curve_x, *curve_y;   /* plot points: iteration, train loss */
	size_t curve_n, curve_cap;
	uint64_t loaded_iterations;  /* from --load's meta */
	nncc_eval_t last_train;      /* latest periodic train evaluation */
	size_t last_train_it;        /* its iteration, or SIZE_MAX */
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

/* "NAME: error: ..." on stderr; returns the exit status 1. */
static int fail(const nncc_model_t *m, const char *fmt, ...)
{
	va_list ap;
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
	OPT_NO_TRAIN,   /* iterations = epochs = 0 */
	OPT_U64,        /* uint64_t */
	OPT_THREADS,    /* int >= 0 */
	OPT_LR,         /* double, finite, > 0 */
	OPT_BATCH,      /* size_t >= 1, or "full" = 0 */
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
	 "train for N epochs of ceil(samples / batch)\niterations"},
	{"iterations", "N", OPT_ITERATIONS, OFF(iterations),
	 "train for N iterations (optimizer updates);\n0 = evaluate only"},
	{"no-train", NULL, OPT_NO_TRAIN, 0, "evaluate only, same as --iterations 0"},
	{"lr", "X", OPT_LR, OFF(lr), "learning rate"},
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
	{"save", "FILE", OPT_STR, OFF(save), "write the trained weights to FILE"},
	{"load", "FILE", OPT_STR, OFF(load),
	 "start from the weights in FILE instead of the\n"
	 "initialisation, with its normalisation"},
	{"eval-every", "N", OPT_POSITIVE, OFF(eval_every),
	 "every N iterations (and at the start and the\n"
	 "end) compute the mean cross-entropy over the\n"
	 "whole training set"},
	{"eval-test", NULL, OPT_SET, OFF(eval_test),
	 "with --eval-every or --log, also compute the\ntest accuracy"},
	{"log", "FILE.csv", OPT_STR, OFF(log),
	 "write one row per evaluation: iteration,epoch,\n"
	 "train_loss[,test_accuracy],seconds (training\n"
	 "time so far); without --eval-every, evaluate\n"
	 "about 50 times"},
	{"plot", "FILE.svg", OPT_STR, OFF(plot),
	 "draw the training cross-entropy against the\n"
	 "iterations (evaluated as for --log, at least\n"
	 "10 points)"},
	{"json", NULL, OPT_SET, OFF(json), "print the results as one JSON object"},
	{"quiet", NULL, OPT_SET, OFF(quiet), "no progress on stderr"},
	{"help", NULL, OPT_HELP, 0, "show this help"},
};

#define N_OPTS (sizeof opt_defs / sizeof opt_defs[0])
#define OPT_VAL_BASE 256 /* getopt val of opt_defs[i] is OPT_VAL_BASE + i */

static void opts_defaults(nncc_opts_t *o, const nncc_model_t *m)
{
	const nncc_config_t *c = &m->config;
	memset(o, 0, sizeof *o);
	o->data_dir = c->data_dir && *c->data_dir ? c->data_dir : ".";
	o->iterations = c->iterations;
	o->epochs = c->iterations ? 0 : c->epochs;
	o->lr = c->learning_rate;
	o->batch = c->batch_size;
	o->seed = c->seed;
	o->shuffle = c->shuffle;
	o->threads = c->threads;
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
	case OPT_U64:
		snprintf(buf, len, "default: %llu", (unsigned long long)*(const uint64_t *)p);
		break;
	case OPT_THREADS:
		snprintf(buf, len, "default: %d", *(const int *)p);
		break;
	case OPT_LR:
		snprintf(buf, len, "default: %g", *(const double *)p);
		break;
	case OPT_SET:
	case OPT_CLEAR:
		if (*(const int *)p == (d->kind == OPT_SET))
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

static void opts_help(FILE *f, const char *prog, const nncc_model_t *m)
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
	char head[NNCC_MAX_HPARAMS + N_OPTS][64];
	int w = 20;   /* the help column: after the longest option */
	for (size_t i = 0; i < N_OPTS + m->n_hparams; i++) {
		const char *name = i < N_OPTS ? opt_defs[i].name : m->hparams[i - N_OPTS].name;
		const char *metavar = i < N_OPTS ? opt_defs[i].metavar
		                      : m->hparams[i - N_OPTS].flag ? "on|off" : "X";
		int n = snprintf(head[i], sizeof head[i], "--%s%s%s", name, metavar ? " " : "",
		                 metavar ? metavar : "");
		for (int c = 2; c < n && head[i][c] != ' '; c++)
			head[i][c] = head[i][c] == '_' ? '-' : head[i][c];
		w = n > w ? n : w;
	}
	for (size_t i = 0; i < N_OPTS; i++) {
		const opt_def_t *d = &opt_defs[i];
		fprintf(f, "  %-*s ", w, head[i]);
		for (const char *s = d->help; *s; s++) {
			fputc(*s, f);
			if (*s == '\n')
				fprintf(f, "  %-*s ", w, "");
		}
		if (*opt_default(d, &o, buf, sizeof buf))
			fprintf(f, " [%s]", buf);
		fputc('\n', f);
	}
	if (m->n_hparams)
		fprintf(f, "\n%s hyper-parameters (the optimizer is fixed when nncc generates\n"
		           "the trainer; these override the YAML):\n", m->optimizer);
	for (size_t k = 0; k < m->n_hparams; k++) {
		const nncc_hparam_t *h = &m->hparams[k];
		fprintf(f, "  %-*s %s [%s: ", w, head[N_OPTS + k], h->help ? h->help : "",
		        hparam_fixed(h) ? "fixed at generation" : "default");
		if (h->flag)
			fprintf(f, "%s]\n", h->value != 0 ? "on" : "off");
		else
			fprintf(f, "%g]\n", h->value);
	}
	fprintf(f, "\ndata files (relative to --data):\n");
	for (int i = 0; i < NNCC_DATA_FILES; i++)
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

/* Stores one option's value; returns NULL or what was expected. */
static const char *opt_store(const opt_def_t *d, nncc_opts_t *o, const char *arg)
{
	char *p = (char *)o + d->off;
	uint64_t u;
	size_t z;
	switch (d->kind) {
	case OPT_STR:
		if (!*arg)
			return "a non-empty name";
		*(const char **)p = arg;
		return NULL;
	case OPT_POSITIVE:
	case OPT_EPOCHS:
	case OPT_ITERATIONS:
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
	case OPT_LR: {
		char *end;
		double x;
		errno = 0;
		x = strtod(arg, &end);
		if (!*arg || *end || errno || !isfinite(x) || x <= 0)
			return "a number > 0";
		memcpy(p, &x, sizeof x);
		return NULL;
	}
	case OPT_BATCH:
		if (!strcmp(arg, "full"))
			u = 0;
		else if (parse_u64(arg, &u) || u == 0 || u > SIZE_MAX)
			return "an integer >= 1 or 'full'";
		z = (size_t)u;
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
	char *end;
	double x = NAN;
	int parsed = 0;
	if (h->flag) {
		for (size_t i = 0; i < sizeof words / sizeof words[0] && !parsed; i++)
			if (!strcmp(arg, words[i].word)) {
				x = words[i].value;
				parsed = 1;
			}
	} else {
		errno = 0;
		x = strtod(arg, &end);
		parsed = *arg && !*end && !errno && isfinite(x);
	}
	if (parsed && (h->min_open ? x > h->min : x >= h->min) &&
	    (h->max_open ? x < h->max : x <= h->max)) {
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
	else if (isinf(h->max))
		snprintf(expect, len, "a number %s %g", h->min_open ? ">" : ">=", h->min);
	else
		snprintf(expect, len, "a number in %s%g, %g%s", h->min_open ? "(" : "[", h->min,
		         h->max, h->max_open ? ")" : "]");
	return expect;
}

/* Returns -1 to go on, or the exit status (0 after --help, 2 on bad usage). */
static int opts_parse(nncc_opts_t *o, int argc, char **argv, const nncc_model_t *m)
{
	struct option longs[N_OPTS + NNCC_MAX_HPARAMS + 1];
	char hp_names[NNCC_MAX_HPARAMS][64], expect[256];
	const char *prog = argc > 0 && argv[0] ? argv[0] : m->name;
	const char *bad = NULL;
	int c;

	opts_defaults(o, m);
	for (size_t i = 0; i < N_OPTS; i++) {
		longs[i].name = opt_defs[i].name;
		longs[i].has_arg = opt_defs[i].metavar ? required_argument : no_argument;
		longs[i].flag = NULL;
		longs[i].val = OPT_VAL_BASE + (int)i;
	}
	/* The optimizer's hyper-parameters: --NAME with '-' for '_'. */
	for (size_t k = 0; k < m->n_hparams; k++) {
		snprintf(hp_names[k], sizeof hp_names[k], "%s", m->hparams[k].name);
		for (char *q = hp_names[k]; *q; q++)
			*q = *q == '_' ? '-' : *q;
		longs[N_OPTS + k].name = hp_names[k];
		longs[N_OPTS + k].has_arg = required_argument;
		longs[N_OPTS + k].flag = NULL;
		longs[N_OPTS + k].val = OPT_VAL_BASE + (int)(N_OPTS + k);
	}
	memset(&longs[N_OPTS + m->n_hparams], 0, sizeof longs[0]);
	/* getopt keeps global state: start over for every call (tests call
	 * nncc_main repeatedly).  glibc needs 0 for a full reset. */
#ifdef __GLIBC__
	optind = 0;
#else
	optind = 1;
#endif
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", longs, NULL)) != -1) {
		const char *opt = argv[optind - 1];
		size_t at = c >= OPT_VAL_BASE ? (size_t)(c - OPT_VAL_BASE) : 0;
		const opt_def_t *d = c >= OPT_VAL_BASE && at < N_OPTS ? &opt_defs[at] : NULL;
		if (c == 'h' || (d && d->kind == OPT_HELP)) {
			opts_help(stdout, prog, m);
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
		if (!d) {   /* a hyper-parameter */
			bad = hparam_store(&m->hparams[at - N_OPTS], &o->hparams[at - N_OPTS], optarg,
			                   expect, sizeof expect);
			if (bad) {
				fail(m, "invalid value '%s' for --%s (expected %s)", optarg,
				     hp_names[at - N_OPTS], bad);
				break;
			}
			continue;
		}
		bad = opt_store(d, o, optarg);
		if (bad) {
			fail(m, "invalid value '%s' for --%s (expected %s)", optarg, d->name, bad);
			break;
		}
	}
	if (!bad && optind < argc) {
		fail(m, "unexpected argument '%s'", argv[optind]);
		bad = "";
	}
	if (bad) {
		fprintf(stderr, "Try '%s --help' for the options.\n", prog);
		return EXIT_USAGE;
	}
	return -1;
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

/* Checks one loaded set against the model: inputs, labels, size. */
static int data_check(const run_t *r, const nncc_dataset_t *ds, const char *images,
                      const char *labels)
{
	const nncc_model_t *m = r->m;
	if (ds->dim != m->n_inputs)
		return fail(m, "%s has %zu pixels per image but network '%s' expects %zu inputs",
		            images, ds->dim, m->name, m->n_inputs);
	if (ds->n_classes > m->n_outputs)
		return fail(m, "%s has label %zu but network '%s' has %zu outputs (labels 0..%zu)",
		            labels, ds->n_classes - 1, m->name, m->n_outputs, m->n_outputs - 1);
	if (ds->n == 0)
		return fail(m, "%s has no images", images);
	if (ds->n > SIZE_MAX / r->rsize / m->n_inputs)
		return fail(m, "%s: too many images (%zu) for memory", images, ds->n);
	return 0;
}

/* Loads both sets, takes the normalisation from --load or fits it on the
 * training set, and converts both sets to the model's reals. */
static int run_load(run_t *r)
{
	const nncc_model_t *m = r->m;
	const nncc_config_t *c = &m->config;
	nncc_weights_meta_t meta;
	nncc_err_t err;

	for (int i = 0; i < NNCC_DATA_FILES; i++) {
		r->files[i] = path_join(r->o->data_dir, c->files[i] ? c->files[i] : nncc_default_files[i]);
		if (!r->files[i])
			return fail(m, "out of memory");
	}
	if (nncc_dataset_load(&r->train, r->files[0], r->files[1], &err) ||
	    nncc_dataset_load(&r->test, r->files[2], r->files[3], &err))
		return fail(m, "%s", err.msg);
	if (data_check(r, &r->train, r->files[0], r->files[1]) ||
	    data_check(r, &r->test, r->files[2], r->files[3]))
		return 1;

	if (r->o->load) {
		if (nncc_weights_load(m, r->o->load, &r->norm, &meta, NULL, &err))
			return fail(m, "%s", err.msg);
		r->loaded_iterations = meta.iterations;
		if (r->norm.dim && r->norm.dim != m->n_inputs)
			return fail(m, "%s: normalisation statistics for %zu inputs, network has %zu",
			            r->o->load, r->norm.dim, m->n_inputs);
	} else {
		nncc_init_params(m, c->init, c->init_scale, r->o->seed);
	}
	if (!r->norm.dim) { /* nothing loaded: fit on the training set */
		nncc_norm_fini(&r->norm);
		if (nncc_norm_fit(&r->norm, c->normalize, &r->train, &err))
			return fail(m, "%s", err.msg);
	}

	r->train_x = malloc(r->train.n * m->n_inputs * r->rsize);
	r->test_x = malloc(r->test.n * m->n_inputs * r->rsize);
	if (!r->train_x || !r->test_x)
		return fail(m, "out of memory for the data (%zu + %zu images of %zu inputs)",
		            r->train.n, r->test.n, m->n_inputs);
	nncc_norm_apply(&r->norm, m->dtype, r->train_x, r->train.pixels, r->train.n);
	nncc_norm_apply(&r->norm, m->dtype, r->test_x, r->test.pixels, r->test.n);
	return 0;
}

/* ---- training ----------------------------------------------------------- */

/* A periodic evaluation after `it` iterations: log row, plot point, line on
 * stderr when the user asked for --eval-every. */
static void run_eval_point(run_t *r, nncc_progress_t *pg, size_t it, size_t B,
                           double train_s)
{
	const nncc_opts_t *o = r->o;
	nncc_eval_t test = {0};
	double epoch = (double)it * (double)B / (double)r->train.n;
	int want_test = o->eval_test && (r->log || o->eval_every);

	nncc_evaluate(r->m, r->train_x, r->train.labels, r->train.n, &r->last_train);
	r->last_train_it = it;
	if (want_test)
		nncc_evaluate(r->m, r->test_x, r->test.labels, r->test.n, &test);
	double acc = want_test ? (double)test.correct / (double)test.n : NAN;
	int on_log = r->log_every && (it % r->log_every == 0 || it == pg->total);

	if (r->log && on_log)
		nncc_log_row(r->log, it, epoch, r->last_train.loss, want_test ? &acc : NULL,
		             train_s);
	if (r->curve_x && r->curve_n < r->curve_cap) {
		r->curve_x[r->curve_n] = (double)it;
		r->curve_y[r->curve_n++] = r->last_train.loss;
	}
	if (o->eval_every && on_log && !o->quiet) {
		nncc_progress_break(pg);
		fprintf(stderr, "%s: iteration %zu/%zu (epoch %.2f): train loss %.6f", r->m->name,
		        it, pg->total, epoch, r->last_train.loss);
		if (want_test)
			fprintf(stderr, ", test accuracy %.2f%%", 100 * acc);
		fputc('\n', stderr);
	}
}

static int eval_due(const run_t *r, size_t it, size_t T)
{
	if (!r->log_every && !r->plot_every)
		return 0;
	return it == 0 || it == T || (r->log_every && it % r->log_every == 0) ||
	       (r->plot_every && it % r->plot_every == 0);
}

/* Plans the periodic evaluations and allocates what training needs. */
static int run_prepare(run_t *r, size_t T)
{
	const nncc_model_t *m = r->m;
	const nncc_opts_t *o = r->o;
	size_t dflt = T > DEFAULT_EVALS ? (T + DEFAULT_EVALS - 1) / DEFAULT_EVALS : 1;
	nncc_err_t err;

	r->log_every = o->eval_every ? o->eval_every : (o->log || o->plot) ? dflt : 0;
	if (o->plot)
		r->plot_every = o->eval_every && T / o->eval_every >= MIN_PLOT_POINTS
		                    ? o->eval_every : dflt;
	if (o->log) {
		r->log = fopen(o->log, "w");
		if (!r->log)
			return fail(m, "cannot write %s: %s", o->log, strerror(errno));
		nncc_log_header(r->log, o->eval_test);
	}
	if (o->plot) {
		r->curve_cap = 3 + T / r->plot_every + (r->log_every ? T / r->log_every : 0);
		r->curve_x = malloc(r->curve_cap * sizeof *r->curve_x);
		r->curve_y = malloc(r->curve_cap * sizeof *r->curve_y);
	}
	r->confusion = malloc(m->n_outputs * m->n_outputs * sizeof *r->confusion);
	if ((o->plot && (!r->curve_x || !r->curve_y)) || !r->confusion)
		return fail(m, "out of memory");
	/* The shuffle draws its own stream: the seed xor a constant (the
	 * weights' initialisation draws from the seed itself). */
	if (nncc_stream_init(&r->stream, m, r->train_x, r->train.labels, r->train.n,
	                     o->shuffle && T, o->seed ^ SHUFFLE_STREAM, &err))
		return fail(m, "%s", err.msg);
	return 0;
}

/* T updates of B samples.  train_seconds excludes progress output and the
 * periodic evaluations (eval_seconds). */
static int run_train(run_t *r, nncc_summary_t *s)
{
	const nncc_model_t *m = r->m;
	size_t T = s->iterations, B = s->batch;
	nncc_update_t u = {.lr = r->o->lr, .batch = B, .hparams = r->o->hparams};
	nncc_progress_t pg;
	double t0, excluded = 0;

	nncc_progress_init(&pg, stderr, r->o->quiet, m->name, T, B, r->train.n);
	if (eval_due(r, 0, T)) {
		double e0 = now_seconds();
		run_eval_point(r, &pg, 0, B, 0);
		s->eval_seconds += now_seconds() - e0;
	}
	t0 = now_seconds();
	for (size_t it = 1; it <= T; it++) {
		u.step = it;   /* --load starts a fresh optimizer */
		double loss = nncc_train_batch(m, &r->stream, &u) / (double)B;
		double t = now_seconds();
		int paused = 0;
		if (!isfinite(loss)) {
			nncc_progress_break(&pg);
			return fail(m, "loss became %s at iteration %zu (learning rate %g); try a lower --lr",
			            isnan(loss) ? "nan" : "inf", it, r->o->lr);
		}
		paused = nncc_progress_step(&pg, it, loss, t - t0 - excluded, t - t0);
		if (eval_due(r, it, T)) {
			double e0 = now_seconds();
			run_eval_point(r, &pg, it, B, t - t0 - excluded);
			s->eval_seconds += now_seconds() - e0;
			paused = 1;
		}
		if (paused)
			excluded += now_seconds() - t;
	}
	s->train_seconds = T ? now_seconds() - t0 - excluded : 0;
	nncc_progress_break(&pg);
	return 0;
}

/* ---- results ------------------------------------------------------------ */

/* What the weight file records besides the weights: the optimizer's name,
 * its step counter and state, and where the training stream stands (for
 * an exact continuation; docs/weights.md).  ck->perm is malloc'd. */
static int checkpoint_of(const run_t *r, const nncc_summary_t *s, nncc_checkpoint_t *ck)
{
	const nncc_model_t *m = r->m;
	const nncc_stream_t *st = &r->stream;
	memset(ck, 0, sizeof *ck);
	if (m->optimizer && strlen(m->optimizer) < sizeof ck->optimizer) {
		ck->has_optim = 1;
		memcpy(ck->optimizer, m->optimizer, strlen(m->optimizer));
		ck->step = s->iterations;
		ck->n_state = m->n_state;
		ck->state = m->state;
	}
	ck->has_position = 1;
	ck->epoch = st->epoch;
	ck->sample = st->pos;
	memcpy(ck->rng, st->rng.s, sizeof ck->rng);
	if (st->perm && st->n <= UINT32_MAX) {
		ck->perm = malloc(st->n * sizeof *ck->perm);
		if (!ck->perm)
			return -1;
		for (size_t i = 0; i < st->n; i++)
			ck->perm[i] = (uint32_t)st->perm[i];
		ck->n_perm = st->n;
	}
	return 0;
}

static int run_outputs(run_t *r, nncc_summary_t *s)
{
	const nncc_model_t *m = r->m;
	const nncc_opts_t *o = r->o;
	nncc_err_t err;

	if (r->log) {
		int bad = ferror(r->log) | fclose(r->log);
		r->log = NULL;
		if (bad)
			return fail(m, "cannot write %s: %s", o->log, strerror(errno));
	}
	if (o->plot) {
		char title[256];
		FILE *f = fopen(o->plot, "w");
		int bad = !f;
		snprintf(title, sizeof title, "%s: training cross-entropy", m->name);
		if (f) {
			bad = nncc_plot_svg(f, title, "iteration", "mean cross-entropy (training set)",
			                    r->curve_x, r->curve_y, r->curve_n);
			bad |= fclose(f);
		}
		if (bad) {
			int e = errno;
			remove(o->plot);
			return fail(m, "cannot write %s: %s", o->plot, strerror(e));
		}
	}
	if (o->save) {
		nncc_weights_meta_t meta = {
			.test_accuracy = (double)s->test.correct / (double)s->test.n,
			.iterations = r->loaded_iterations + s->iterations,
		};
		nncc_checkpoint_t ck;
		int rc;
		if (checkpoint_of(r, s, &ck))
			return fail(m, "out of memory");
		rc = nncc_weights_save(m, o->save, &r->norm, &meta, &ck, &err);
		free(ck.perm);
		if (rc)
			return fail(m, "%s", err.msg);
	}
	return 0;
}

static int run(run_t *r, nncc_summary_t *s)
{
	const nncc_model_t *m = r->m;
	const nncc_opts_t *o = r->o;
	size_t N, B, per_epoch;

	if (run_load(r))
		return 1;
	N = r->train.n;
	B = o->batch ? o->batch : N;
	per_epoch = N / B + (N % B != 0);
	if (o->epochs > SIZE_MAX / per_epoch)
		return fail(m, "--epochs %zu is too many iterations", o->epochs);
	s->n_train = N;
	s->batch = B;
	s->iterations = o->iterations ? o->iterations : o->epochs * per_epoch;
	s->threads = m->set_threads ? m->set_threads(o->threads) : 1;
	if (run_prepare(r, s->iterations) || run_train(r, s))
		return 1;

	s->test.confusion = r->confusion;
	nncc_evaluate(m, r->test_x, r->test.labels, r->test.n, &s->test);
	if (r->last_train_it == s->iterations)
		s->train = r->last_train;
	else
		nncc_evaluate(m, r->train_x, r->train.labels, N, &s->train);
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
	for (int i = 0; i < 4; i++)
		free(r->files[i]);
	nncc_dataset_fini(&r->train);
	nncc_dataset_fini(&r->test);
	nncc_norm_fini(&r->norm);
	free(r->train_x);
	free(r->test_x);
	nncc_stream_fini(&r->stream);
	free(r->confusion);
	free(r->curve_x);
	free(r->curve_y);
	if (r->log)
		fclose(r->log);
}

int nncc_main(int argc, char **argv, const nncc_model_t *m)
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
	if (m->n_hparams > NNCC_MAX_HPARAMS)
		return fail(m, "model has %zu optimizer hyper-parameters; this libnncc takes at most %d",
		            m->n_hparams, NNCC_MAX_HPARAMS);
	if (!m->tensor(NNCC_T_ACT, m->n_layers - 1))
		return fail(m, "model has no output tensor (layer %zu)", m->n_layers - 1);
	rc = opts_parse(&o, argc, argv, m);
	if (rc >= 0)
		return rc;
	memset(&r, 0, sizeof r);
	memset(&s, 0, sizeof s);
	r.m = m;
	r.o = &o;
	r.rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float);
	r.last_train_it = SIZE_MAX;
	s.m = m;
	s.o = &o;
	s.data_dir = o.data_dir;
	rc = run(&r, &s);
	run_fini(&r);
	return rc;
}
