/*
 * check_werror.c - a property test: every network the compiler accepts
 * gives a trainer and inference code that compile without a single
 * diagnostic under gcc AND clang (a missing one is a failure):
 *   trainer (nncc NET.yaml):  -std=c99 -pedantic -Wall -Wextra -Werror
 *                             $(nncc --cflags): the run-time dispatch build
 *                             (no -march: every instruction set's copy),
 *                             the AVX-512 path alone and the portable one
 *                             (-DKERN_NO_SIMD);
 *   export (nncc --infer):    -std=c99 -pedantic -Wall -Wextra -Werror
 *                             -Wtype-limits -Wshadow -Wconversion, the .c/.h
 *                             pair in each of its paths and --header-only.
 * The networks are drawn from a seed (NNCC_WERROR_SEED, default 1; the
 * count NNCC_WERROR_N, default 100, or 200 under NNCC_TEST_FULL): 1-5
 * dense layers, widths 1..300 with every SIMD edge (the sizes around
 * 16/32/64/128/256), every activation, loss, optimizer (and its layout
 * switches), dtype, init scheme, normalisation and schedule, dropout on
 * the input and between layers, batch sizes around the tile sizes.  Decks
 * deal each value once before repeating one, so the default run covers
 * them all (test_coverage checks that).  A weight file for each export
 * is written here (nncc_weights_save on the model's descriptor, as
 * check_infer does), not trained.
 * Every compile runs through one `make -k -j2` (the table `jobs`).  gcc's
 * flow-based warnings (-Wmaybe-uninitialized, -Warray-bounds, unused
 * statics) need the optimiser, so gcc compiles the portable trainer and the
 * default export at -O2 (the AVX-512 and the dispatch trainers, whose -O2
 * takes ~10 s, for every NTH_O2-th network); clang's warnings all come from its front end,
 * so clang runs -fsyntax-only.  Exports are compiled BATCH networks to a
 * translation unit.  A failure prints the seed, the step, the networks'
 * YAML and how to rerun one, and the compiler's output.
 * NNCC_WERROR_NET=wNNN builds one network only; NNCC_TEST_KEEP=1 keeps the
 * files.  Runs from the top directory (make test; docs/testing.md).
 */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../compiler/nncc.h"
#include "ctxutil.h"

#define N_FULL 200        /* networks under NNCC_TEST_FULL (make test-full) */
#define N_DEFAULT 100     /* in make test: the full run's first half, covering every value */
#define SEED_DEFAULT 1
#define NTH_O2 50         /* every 50th network: gcc -O2 on its AVX-512 and dispatch trainers */
#define BATCH 25          /* exports per translation unit */
#define MAX_DENSE 5
#define YAML_MAX 4096

#define STRICT "-std=c99 -pedantic -Wall -Wextra -Werror"
#define STRICT_EXPORT STRICT " -Wtype-limits -Wshadow -Wconversion"

/* ---- the generator */

/* A deck deals every value once, in a seeded order, before reshuffling. */
typedef struct Deck {
	size_t n, next;
	size_t order[64];
} Deck;

static size_t deal(Deck *d, nncc_rng_t *r)
{
	if (d->next == 0 || d->next == d->n) {
		for (size_t i = 0; i < d->n; i++)
			d->order[i] = i;
		nncc_rng_shuffle(r, d->order, d->n);
		d->next = 0;
	}
	return d->order[d->next++];
}

/* Widths at the edges of the kernels' blocks: 16 floats / 8 doubles a
 * vector, 4 vectors a chunk, 64 inputs a nonzero mask, the export's 64-byte
 * rows and its 16-byte ones for narrow layers. */
static const size_t edges[] = {1,  2,   3,   4,   5,   7,   8,   9,   15,  16,  17, 31,
                               32, 33,  63,  64,  65,  127, 128, 129, 255, 256, 257, 299, 300};
#define N_EDGES (sizeof edges / sizeof edges[0])
static const char *const batches[] = {"1", "2", "3", "7", "16", "17", "64", "100", "1000", "full"};
#define N_BATCHES (sizeof batches / sizeof batches[0])
static const char *const schedules[] = {
	NULL, "constant", "{type: constant, warmup: 3}", "{type: step, step_size: 2}",
	"{type: step, step_size: 5, gamma: 0.5, unit: iterations, warmup: 1}",
	"{type: exponential, gamma: 0.9}", "cosine", "{type: cosine, min_lr: 0.001, t_max: 50, warmup: 5}"};
#define N_SCHEDULES (sizeof schedules / sizeof schedules[0])
/* Names for the network and its layers, besides the defaults: C keywords,
 * libc and generated names stay apart from the generated code's own. */
static const char *const net_names[] = {"x", "N", "Mixed_Case9", "_net", "real", "int", "exp",
                                        "main", "kern", "forward", "params", "nncc"};
#define N_NET_NAMES (sizeof net_names / sizeof net_names[0])
static const char *const layer_names[] = {"hidden", "out", "h_1", "X", "_x", "forward", "params",
                                          "int", "a1", "step", "loss", "model"};
#define N_LAYER_NAMES (sizeof layer_names / sizeof layer_names[0])

/* The init schemes' words (nncc_init_name), NNCC_INITS' values 1.. */
#define N_INITS 6
#define N_NORMS 4

/* One generated network. */
typedef struct Net {
	char id[24];
	char yaml[YAML_MAX];
	char desc[256];
	int f64, norm;            /* its dtype, the normalisation its weight file carries */
	int csv, regression;      /* format csv; targets (a regression) */
	size_t n_classes;         /* class names in its weight file (0: none) */
	size_t sizes[MAX_DENSE + 1];
	size_t n_dense;
	unsigned acts, opt, loss, init; /* what it covers, as bits */
} Net;

typedef struct Text {
	char *s;
	size_t len, cap;
} Text;

static void put(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(Text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	ck_assert_msg(n >= 0 && (size_t)n < t->cap - t->len, "generated YAML too long");
	t->len += (size_t)n;
}

/* The decks of one run; one generator for all networks, so a run is one
 * sequence and a network is found again by its seed and its number. */
typedef struct Gen {
	nncc_rng_t r;
	Deck depth, edge, edge_at, dtype, act, out_act, loss, opt, init, norm, batch, sched;
	unsigned batch_names;     /* net_names taken in this batch of exports */
} Gen;

static int coin(Gen *g, unsigned percent)
{
	return nncc_rng_below(&g->r, 100) < percent;
}

/* A width: mostly small (compile time grows with the exported arrays),
 * sometimes anywhere in 1..300. */
static size_t width(Gen *g)
{
	if (coin(g, 15))
		return 1 + nncc_rng_below(&g->r, 300);
	return 1 + nncc_rng_below(&g->r, 24);
}

/* A value for hyper-parameter h inside its range. */
static double hparam_value(Gen *g, const HParam *h)
{
	if (h->flag)
		return (double)nncc_rng_below(&g->r, 2);
	double lo = h->min, hi = isinf(h->max) ? h->min + 2 : h->max;
	double v = lo + (hi - lo) * nncc_rng_uniform(&g->r);
	if ((h->min_open && v <= lo) || (h->max_open && v >= hi))
		v = (lo + hi) / 2;
	return v;
}

/* Network k of the run: its YAML and what it covers. */
static void net_generate(Gen *g, size_t k, Net *n)
{
	memset(n, 0, sizeof *n);
	snprintf(n->id, sizeof n->id, "w%03zu", k);
	Text t = {n->yaml, 0, sizeof n->yaml};
	nncc_rng_t *r = &g->r;

	/* The shape: widths, one of them at a SIMD edge: the deck's first pass
	 * puts each edge on the input, its second on a layer, then anywhere
	 * (so that make test's 100 networks cover both for every edge). */
	size_t nd = 1 + deal(&g->depth, r);
	n->n_dense = nd;
	for (size_t l = 0; l <= nd; l++)
		n->sizes[l] = width(g);
	size_t at = deal(&g->edge_at, r), pass = k / N_EDGES;
	at = pass == 0 ? 0 : pass == 1 ? 1 + at % nd : at % (nd + 1);
	n->sizes[at] = edges[deal(&g->edge, r)];
	if (coin(g, 20)) {   /* a second edge, elsewhere */
		size_t at2 = (at + 1 + nncc_rng_below(r, nd)) % (nd + 1);
		n->sizes[at2] = edges[nncc_rng_below(r, N_EDGES)];
	}
	const LossInfo *loss = &loss_table[deal(&g->loss, r)];
	n->loss = 1u << (loss - loss_table);
	bool softmax = strcmp(loss->output, "softmax") == 0;

	/* A name from the list, once per batch (they share a file). */
	const char *name = n->id;
	if (k % BATCH == 0)
		g->batch_names = 0;
	size_t pick = nncc_rng_below(r, N_NET_NAMES);
	if (coin(g, 25) && !(g->batch_names >> pick & 1)) {
		g->batch_names |= 1u << pick;
		name = net_names[pick];
	}
	put(&t, "# check_werror network %s\nnetwork: %s\ninput: %zu\n", n->id, name, n->sizes[0]);
	n->f64 = (int)deal(&g->dtype, r);
	if (n->f64 || coin(g, 50))
		put(&t, "dtype: %s\n", n->f64 ? "float64" : "float32");
	put(&t, "layers:\n");
	int desc = snprintf(n->desc, sizeof n->desc, "%zu", n->sizes[0]);

	unsigned used_names = 0;
	if (coin(g, 25)) {
		put(&t, "  - { type: dropout, rate: %g }\n", coin(g, 30) ? 0 : 0.5);
		desc += snprintf(n->desc + desc, sizeof n->desc - (size_t)desc, " drop");
	}
	for (size_t l = 0; l < nd; l++) {
		bool last = l + 1 == nd;
		const char *act = NULL;
		if (last && !softmax) {
			/* the output activations the loss takes */
			size_t want = deal(&g->out_act, r), seen = 0;
			for (size_t a = 0;; a = (a + 1) % ACT_COUNT)
				if (loss->acts >> a & 1 && seen++ == want) {
					act = activation_table[a].name;
					n->acts |= 1u << a;
					break;
				}
		} else {
			size_t a = deal(&g->act, r);  /* ACT_COUNT + 1: identity, + 2: left out */
			if (a < ACT_COUNT) {
				act = activation_table[a].name;
				n->acts |= 1u << a;
			} else if (a == ACT_COUNT) {
				act = "identity";
				n->acts |= 1u << ACT_LINEAR;
			} else {
				n->acts |= 1u << ACT_LINEAR;
			}
		}
		put(&t, "  - { ");
		size_t nm = nncc_rng_below(r, N_LAYER_NAMES);
		if (coin(g, 40) && !(used_names >> nm & 1)) {
			used_names |= 1u << nm;
			put(&t, "name: %s, ", layer_names[nm]);
		}
		put(&t, "type: dense, units: %zu", n->sizes[l + 1]);
		if (act)
			put(&t, ", activation: %s", act);
		put(&t, " }\n");
		desc += snprintf(n->desc + desc, sizeof n->desc - (size_t)desc, " %zu %s",
		                 n->sizes[l + 1], act ? act : "linear");
		if ((!last || softmax) && coin(g, 20)) {
			put(&t, "  - { type: dropout, rate: %g }\n",
			    coin(g, 20) ? 0 : 0.05 + 0.9 * nncc_rng_uniform(r));
			desc += snprintf(n->desc + desc, sizeof n->desc - (size_t)desc, " drop");
		}
	}
	if (softmax)
		put(&t, "  - %s\n", coin(g, 50) ? "type: softmax" : "{ name: probs, type: softmax }");
	if (!softmax || coin(g, 50))
		put(&t, "loss: %s\n", loss->name);

	/* Training: the optimizer with some of its hyper-parameters set. */
	size_t o = deal(&g->opt, r);
	const OptimizerInfo *opt = &optimizer_table[o / 2];
	n->opt = 1u << (o / 2);
	put(&t, "training:\n");
	double hp[NNCC_MAX_HPARAMS];
	char hps[512] = "";
	int hl = 0;
	for (;;) {
		hl = 0;
		hps[0] = 0;
		for (size_t h = 0; h < opt->n_hparams; h++) {
			const HParam *p = &opt->hparams[h];
			hp[h] = p->def;
			/* odd cards set every layout switch: the state layouts */
			bool set = p->layout ? o % 2 == 1 : coin(g, 30);
			if (!set)
				continue;
			hp[h] = p->layout ? 1 : hparam_value(g, p);
			if (p->flag)
				hl += snprintf(hps + hl, sizeof hps - (size_t)hl, ", %s: %s", p->key,
				               hp[h] != 0 ? "true" : "false");
			else
				hl += snprintf(hps + hl, sizeof hps - (size_t)hl, ", %s: %.17g", p->key, hp[h]);
		}
		if (!opt->check || !opt->check(hp))
			break;
	}
	if (hl)
		put(&t, "  optimizer: { type: %s%s }\n", opt->name, hps);
	else if (o / 2 != 0 || coin(g, 50))
		put(&t, "  optimizer: %s\n", opt->name);
	if (isnan(opt->default_lr) || coin(g, 50))
		put(&t, "  learning_rate: %g\n", 0.001 + nncc_rng_uniform(r));
	const char *sched = schedules[deal(&g->sched, r)];
	if (sched)
		put(&t, "  schedule: %s\n", sched);
	if (coin(g, 20))
		put(&t, "  clip_norm: %g\n", 0.5 + nncc_rng_uniform(r));
	put(&t, "  batch_size: %s\n", batches[deal(&g->batch, r)]);
	if (coin(g, 50))
		put(&t, "  iterations: %zu\n", 1 + nncc_rng_below(r, 100000));
	else
		put(&t, "  epochs: %zu\n", 1 + nncc_rng_below(r, 30));
	if (coin(g, 30))
		put(&t, "  seed: %llu\n", (unsigned long long)nncc_rng_next(r));
	if (coin(g, 30))
		put(&t, "  shuffle: %s\n", coin(g, 50) ? "true" : "false");
	size_t init = deal(&g->init, r);  /* N_INITS: left out */
	if (init < N_INITS) {
		n->init = 1u << init;
		const char *iname = nncc_init_name((int)init + 1);
		put(&t, "  init: { distribution: %s", iname);
		if (init + 1 <= NNCC_INIT_UNIFORM && coin(g, 50))
			put(&t, ", scale: %g", 0.01 + nncc_rng_uniform(r));
		if (coin(g, 50))
			put(&t, ", biases: %s", coin(g, 50) ? "zero" : "drawn");
		put(&t, " }\n");
	}
	bool val_accuracy = false;
	if (coin(g, 20)) {
		put(&t, "  validation: %s\n", coin(g, 50) ? "100" : "0.1");
		if (coin(g, 50)) {
			val_accuracy = coin(g, 50);
			put(&t, "  early_stopping: { patience: 3, metric: %s }\n",
			    val_accuracy ? "val_accuracy" : "val_loss");
		}
	}
	if (coin(g, 20))
		put(&t, "  threads: %zu\n", nncc_rng_below(r, 5));
	n->norm = (int)deal(&g->norm, r);  /* N_NORMS: left out (standardize) */
	n->csv = coin(g, 30);
	if (n->csv) {   /* CSV files: a regression, or class names, or labels 0..K-1 */
		size_t K = n->sizes[nd];
		put(&t, "data: { format: csv, train: a.csv, test: b.csv");
		if (!softmax && !val_accuracy && coin(g, 60)) {
			n->regression = 1;
			put(&t, ", targets: [");
			for (size_t i = 0; i < K; i++)
				put(&t, "%st%zu", i ? ", " : "", i);
			put(&t, "]");
		} else if (coin(g, 50)) {
			n->n_classes = K;
			put(&t, ", classes: [");
			for (size_t i = 0; i < K; i++)
				put(&t, "%s\"c%zu\"", i ? ", " : "", i);
			put(&t, "]");
		}
		if (coin(g, 30))
			put(&t, ", delimiter: tab, header: false, skip_rows: 2, ignore: [0, -2]");
		if (n->norm < N_NORMS)
			put(&t, ", normalize: %s", nncc_norm_name(n->norm));
		else
			n->norm = NNCC_NORM_STANDARDIZE_FEATURES;
		put(&t, " }\n");
	} else if (n->norm < N_NORMS) {
		put(&t, "data: { normalize: %s }\n", nncc_norm_name(n->norm));
	} else {
		n->norm = NNCC_NORM_STANDARDIZE;
	}
	snprintf(n->desc + desc, sizeof n->desc - (size_t)desc, ", %s, %s, %s, %s%s", loss->name,
	         opt->name, n->f64 ? "float64" : "float32", nncc_norm_name(n->norm),
	         n->regression ? ", regression" : n->n_classes ? ", class names" : "");
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	return v && *v ? strtoull(v, NULL, 10) : def;
}

/* The run's networks, from NNCC_WERROR_SEED (malloc'd). */
static Net *nets_generate(uint64_t seed, size_t count)
{
	Gen g;
	memset(&g, 0, sizeof g);
	nncc_rng_seed(&g.r, seed);
	g.depth.n = MAX_DENSE;
	g.edge.n = N_EDGES;
	g.edge_at.n = MAX_DENSE + 1;
	g.dtype.n = 2;
	g.act.n = ACT_COUNT + 2;
	g.out_act.n = 2;   /* squared_error takes two activations */
	g.loss.n = loss_count;
	g.opt.n = 2 * optimizer_count;
	g.init.n = N_INITS + 1;
	g.norm.n = N_NORMS + 1;
	g.batch.n = N_BATCHES;
	g.sched.n = N_SCHEDULES;
	Net *n = calloc(count, sizeof *n);
	ck_assert_ptr_nonnull(n);
	for (size_t k = 0; k < count; k++)
		net_generate(&g, k, &n[k]);
	return n;
}

/* ---- weight files */

/* Writes path's weights: sin(k*1.7)*0.5, with exact zeros of both signs,
 * subnormals and the largest finite values sprinkled in (the exporter's
 * hex literals), and normalisation `kind`. */
static void write_weights(const Net *n, const char *yaml, const char *path)
{
	Ctx ctx;
	ctx_init(&ctx, stderr);
	Model *m = model_load(&ctx, yaml);
	ck_assert_msg(m != NULL, "%s: nncc refuses a generated network (YAML %s)", n->id, yaml);
	void *params = malloc(m->n_params * 8);
	ck_assert_ptr_nonnull(params);
	static const double special[] = {0.0, -0.0, 0x1p-149, -0x1p-1074, 0x1.fffffep127, 1e300, -1};
	for (size_t k = 0; k < m->n_params; k++) {
		double v = sin((double)k * 1.7) * 0.5;
		if (k % 13 == 5)
			v = special[(k / 13) % (sizeof special / sizeof special[0])];
		if (n->f64)
			((double *)params)[k] = v;
		else
			((float *)params)[k] = (float)(fabs(v) > 1e38 ? copysign(3e38, v) : v);
	}
	nncc_norm_stats_t st = {0};
	st.kind = n->norm;
	st.dim = m->inputs;
	st.std = 1;
	if (n->norm == NNCC_NORM_STANDARDIZE || n->norm == NNCC_NORM_STANDARDIZE_FEATURES) {
		st.mean = malloc(m->inputs * sizeof *st.mean);
		ck_assert_ptr_nonnull(st.mean);
		for (size_t j = 0; j < m->inputs; j++)
			st.mean[j] = j % 7 == 3 ? 0 : 100 + 60 * sin((double)j * 0.37);
		st.std = 77.7123456789;
	}
	if (n->norm == NNCC_NORM_STANDARDIZE_FEATURES) {
		st.std = 1;
		st.stds = malloc(m->inputs * sizeof *st.stds);
		ck_assert_ptr_nonnull(st.stds);
		for (size_t j = 0; j < m->inputs; j++)
			st.stds[j] = j % 5 == 1 ? 1 : 0.001 + 40 * fabs(cos((double)j * 0.61));
	}
	if (n->n_classes) {   /* names a C string must escape */
		static const char *const odd[] = {"plain", "with \"quotes\"", "back\\slash",
		                                  "*/ comment end", "tab\there", "ünïcode"};
		st.n_classes = n->n_classes;
		st.class_names = calloc(n->n_classes, sizeof *st.class_names);
		ck_assert_ptr_nonnull(st.class_names);
		for (size_t k = 0; k < n->n_classes; k++) {
			char name[64];
			snprintf(name, sizeof name, "%s %zu", odd[k % 6], k);
			st.class_names[k] = strdup(name);
			ck_assert_ptr_nonnull(st.class_names[k]);
		}
	}
	ctx_weights_save(&ctx, m, params, &st, n->f64 ? NAN : 0.8125, path);
	nncc_norm_fini(&st);
	free(params);
	ctx_fini(&ctx);
}

/* ---- the compiles */

/* What a job compiles: a network's trainer (ID.c), or a batch's exports:
 * one translation unit that includes up to BATCH networks' NAME.c files
 * (each includes its NAME.h), or their --header-only headers.  Exported
 * names all carry the network's name, so networks share a file (as
 * embedding.md promises), and the system headers (immintrin.h takes most of
 * a small compile's time) are read once per batch. */
typedef enum Input { TRAINER, EXPORT, HEADER } Input;

typedef struct Job {
	const char *name, *cc, *flags;
	Input input;
	int nth;                  /* trainers: only every nth network (0, 1: all) */
} Job;

/* Make variables: $(T) and $(X) the strict flags of trainers and exports;
 * $(CFL) `nncc --cflags`; on x86-64 $(V4) = -march=x86-64-v4 (the AVX-512
 * paths, FMA and AVX-512BW included) and $(F) = -mavx512f (AVX-512F only:
 * the export's path without BW and FMA), and $(PCH_GCC), $(PCH_CLANG) the
 * AVX-512 trainer's precompiled immintrin.h; all empty elsewhere.
 * $(NO_SIMD) and $(MULADD) are a batch's -DNAME_NO_SIMD and -DNAME_MULADD. */
static const Job jobs[] = {
	{"gcc-trainer-portable-O2", "gcc", "$(T) $(CFL) -DKERN_NO_SIMD -O2 -c", TRAINER, 1},
	{"clang-trainer-portable", "clang", "$(T) $(CFL) -DKERN_NO_SIMD -fsyntax-only", TRAINER, 1},
	{"gcc-trainer-dispatch", "gcc", "$(T) $(CFL) -fsyntax-only", TRAINER, 1},
	{"clang-trainer-dispatch", "clang", "$(T) $(CFL) -fsyntax-only", TRAINER, 1},
	{"gcc-trainer-dispatch-O2", "gcc", "$(T) $(CFL) -O2 -c", TRAINER, NTH_O2},
	{"gcc-trainer-simd", "gcc", "$(T) $(CFL) $(V4) $(PCH_GCC) -fsyntax-only", TRAINER, 1},
	{"clang-trainer-simd", "clang", "$(T) $(CFL) $(V4) $(PCH_CLANG) -fsyntax-only", TRAINER, 1},
	{"gcc-trainer-simd-O2", "gcc", "$(T) $(CFL) $(V4) -O2 -c", TRAINER, NTH_O2},
	{"gcc-export-O2", "gcc", "$(X) -O2 -c", EXPORT, 1},
	{"gcc-export-simd", "gcc", "$(X) $(V4) -fsyntax-only", EXPORT, 1},
	{"gcc-export-avx512f", "gcc", "$(X) $(F) -fsyntax-only", EXPORT, 1},
	{"gcc-export-muladd-Os", "gcc", "$(X) $(NO_SIMD) $(MULADD) -Os -c", EXPORT, 1},
	{"gcc-header-only", "gcc", "$(X) -fsyntax-only", HEADER, 1},
	{"clang-export", "clang", "$(X) -fsyntax-only", EXPORT, 1},
	{"clang-export-simd", "clang", "$(X) $(V4) -fsyntax-only", EXPORT, 1},
	{"clang-export-avx512f", "clang", "$(X) $(F) -fsyntax-only", EXPORT, 1},
	{"clang-export-muladd", "clang", "$(X) $(NO_SIMD) $(MULADD) -fsyntax-only", EXPORT, 1},
	{"clang-header-only", "clang", "$(X) -fsyntax-only", HEADER, 1},
};
#define N_JOBS (sizeof jobs / sizeof jobs[0])

static bool job_runs(const Job *j, size_t k)
{
	return j->input != TRAINER || j->nth <= 1 || k % (size_t)j->nth == 0;
}

/* The network's name from its YAML, and in upper case (the exporter's
 * macro prefix). */
static void net_name(const Net *n, char *name, char *upper, size_t len)
{
	const char *p = strstr(n->yaml, "\nnetwork: ");
	ck_assert_ptr_nonnull(p);
	p += strlen("\nnetwork: ");
	size_t i = 0;
	for (; p[i] && p[i] != '\n' && i + 1 < len; i++) {
		name[i] = p[i];
		upper[i] = (char)(p[i] >= 'a' && p[i] <= 'z' ? p[i] - 'a' + 'A' : p[i]);
	}
	name[i] = upper[i] = 0;
}

/* The file a batch's EXPORT or HEADER job compiles: bNN.c or bNNh.c. */
static const char *batch_file(Input in)
{
	return in == EXPORT ? "" : "h";
}

/* Writes dir/build.mk: per network its trainer, its exports (the .c/.h
 * pair, and the header-only form) and its trainer's jobs; per batch the
 * two files that include its exports and the export jobs.  Each step
 * writes its output to STEP.log, and STEP.ok when it passed silently. */
static char *write_makefile(const char *dir, const Net *n, size_t count, const bool *want,
                            const char *cflags, bool x86)
{
	char *mk = tu_path(dir, "build.mk");
	FILE *f = fopen(mk, "w");
	ck_assert_ptr_nonnull(f);
	/* $(call run,STEP,CMD): CMD's output in STEP.log, and STEP.ok only when
	 * it exits 0 and prints nothing (a warning -Werror leaves alone fails
	 * too); the log of a failure ends with the command. */
	fprintf(f, "# generated by check_werror: YAML -> trainer and exports -> every compile\n"
	           "NNCC := %s\nCFL := %s\nD := %s\n"
	           "T := " STRICT "\nX := " STRICT_EXPORT "\n"
	           "run = { $(2); } > $(1).log 2>&1 && [ ! -s $(1).log ] && : > $(1).ok || "
	           "{ echo 'command: $(2)' >> $(1).log; exit 1; }\n"
	           ".DEFAULT_GOAL := all\n.DELETE_ON_ERROR:\n",
	        tu_nncc(), cflags, dir);
	/* The AVX-512 trainer's immintrin.h, precompiled with the flags of the
	 * jobs that use it (-Winvalid-pch: gcc must not quietly ignore it).  It
	 * defines _POSIX_C_SOURCE, as nncc_simd.h does before its includes. */
	if (x86) {
		char *h = tu_path(dir, "pch.h");
		ck_assert_int_eq(
			tu_write_text(h, "#define _POSIX_C_SOURCE 200809L\n#include <immintrin.h>\n"), 0);
		free(h);
		fprintf(f, "V4 := -march=x86-64-v4\nF := -mavx512f\n"
		           "PCH_GCC := -Winvalid-pch -include $(D)/pch.h\n"
		           "PCH_CLANG := -include-pch $(D)/pch.clang\n"
		           "PCH := $(D)/pch.h.gch $(D)/pch.clang\n"
		           "$(D)/pch.h.gch: $(D)/pch.h\n"
		           "\t@$(call run,$(D)/pch-gcc,gcc $(T) $(CFL) $(V4) -x c-header $< -o $@)\n"
		           "$(D)/pch.clang: $(D)/pch.h\n"
		           "\t@$(call run,$(D)/pch-clang,clang $(T) $(CFL) $(V4) -x c-header $< -o $@)\n");
	}
	fprintf(f, "all:");
	for (size_t k = 0; k < count; k++)
		for (size_t j = 0; j < N_JOBS && want[k]; j++)
			if (jobs[j].input == TRAINER && job_runs(&jobs[j], k))
				fprintf(f, " $(D)/%s.%s.ok", n[k].id, jobs[j].name);
	for (size_t b = 0; b * BATCH < count; b++) {
		bool any = false;
		for (size_t k = b * BATCH; k < count && k < (b + 1) * BATCH; k++)
			any |= want[k];
		for (size_t j = 0; j < N_JOBS && any; j++)
			if (jobs[j].input != TRAINER)
				fprintf(f, " $(D)/b%02zu.%s.ok", b, jobs[j].name);
	}
	fprintf(f, "\n");

	for (size_t k = 0; k < count; k++) {
		if (!want[k])
			continue;
		const char *id = n[k].id;
		fprintf(f, "$(D)/%s.c: $(D)/%s.yaml\n"
		           "\t@$(call run,$(D)/%s.nncc,$(NNCC) $< -o $@)\n",
		        id, id, id);
		fprintf(f, "$(D)/%sx.c: $(D)/%s.yaml $(D)/%s.w\n"
		           "\t@$(call run,$(D)/%s.infer,$(NNCC) $< --infer --weights $(D)/%s.w -o $@)\n",
		        id, id, id, id, id);
		fprintf(f, "$(D)/%sh.h: $(D)/%s.yaml $(D)/%s.w\n"
		           "\t@$(call run,$(D)/%s.header,"
		           "$(NNCC) $< --infer --weights $(D)/%s.w --header-only -o $@)\n",
		        id, id, id, id, id);
		for (size_t j = 0; j < N_JOBS; j++) {
			const Job *jb = &jobs[j];
			if (jb->input != TRAINER || !job_runs(jb, k))
				continue;
			bool pch = strstr(jb->flags, "PCH") != NULL;
			fprintf(f, "$(D)/%s.%s.ok: $(D)/%s.c%s\n"
			           "\t@$(call run,$(D)/%s.%s,%s %s $< -o $(D)/%s.%s.o)\n",
			        id, jb->name, id, pch && x86 ? " $(PCH)" : "", id, jb->name, jb->cc,
			        jb->flags, id, jb->name);
		}
	}

	for (size_t b = 0; b * BATCH < count; b++) {
		char files[2][BATCH * 32] = {"", ""}, defs[2][BATCH * 96] = {"", ""};
		size_t len[2] = {0, 0}, dlen[2] = {0, 0};
		char src[2][BATCH * 48] = {"", ""};
		size_t slen[2] = {0, 0};
		for (size_t k = b * BATCH; k < count && k < (b + 1) * BATCH; k++) {
			if (!want[k])
				continue;
			char name[80], upper[80];
			net_name(&n[k], name, upper, sizeof name);
			len[0] += (size_t)snprintf(files[0] + len[0], sizeof files[0] - len[0],
			                           " $(D)/%sx.c", n[k].id);
			len[1] += (size_t)snprintf(files[1] + len[1], sizeof files[1] - len[1],
			                           " $(D)/%sh.h", n[k].id);
			dlen[0] += (size_t)snprintf(defs[0] + dlen[0], sizeof defs[0] - dlen[0],
			                            " -D%s_NO_SIMD", upper);
			dlen[1] += (size_t)snprintf(defs[1] + dlen[1], sizeof defs[1] - dlen[1],
			                            " -D%s_MULADD", upper);
			slen[0] += (size_t)snprintf(src[0] + slen[0], sizeof src[0] - slen[0],
			                            "#include \"%sx.c\"\n", n[k].id);
			slen[1] += (size_t)snprintf(src[1] + slen[1], sizeof src[1] - slen[1],
			                            "#include \"%sh.h\"\n", n[k].id);
		}
		if (!len[0])
			continue;
		for (int in = 0; in < 2; in++) {
			char name[32];
			snprintf(name, sizeof name, "b%02zu%s.c", b, batch_file(in ? HEADER : EXPORT));
			char *p = tu_path(dir, name);
			ck_assert_int_eq(tu_write_text(p, src[in]), 0);
			free(p);
		}
		fprintf(f, "$(D)/b%02zu.%%: NO_SIMD :=%s\n$(D)/b%02zu.%%: MULADD :=%s\n", b, defs[0], b,
		        defs[1]);
		for (size_t j = 0; j < N_JOBS; j++) {
			const Job *jb = &jobs[j];
			if (jb->input == TRAINER)
				continue;
			fprintf(f, "$(D)/b%02zu.%s.ok: $(D)/b%02zu%s.c%s\n"
			           "\t@$(call run,$(D)/b%02zu.%s,%s %s $< -o $(D)/b%02zu.%s.o)\n",
			        b, jb->name, b, batch_file(jb->input), files[jb->input == HEADER], b,
			        jb->name, jb->cc, jb->flags, b, jb->name);
		}
	}
	ck_assert_int_eq(fclose(f), 0);
	return mk;
}

/* The first lines of file `path` (malloc'd), or NULL if it does not exist. */
static char *log_head(const char *path, size_t max_lines)
{
	size_t len;
	char *s = tu_read_file(path, &len);
	if (!s)
		return NULL;
	size_t lines = 0, i = 0;
	for (; i < len && lines < max_lines; i++)
		lines += s[i] == '\n';
	if (i < len) {
		char *t = realloc(s, i + 16);
		ck_assert_ptr_nonnull(t);
		s = t;
		strcpy(s + i, "  [...]\n");
	}
	return s;
}

/* Why step `step` (ID.nncc, ID.JOB, bNN.JOB, ...) did not pass: its log,
 * or NULL if it passed. */
static char *step_failure(const char *dir, const char *step)
{
	char name[128];
	snprintf(name, sizeof name, "%s.ok", step);
	char *ok = tu_path(dir, name);
	bool passed = tu_exists(ok);
	free(ok);
	if (passed)
		return NULL;
	snprintf(name, sizeof name, "%s.log", step);
	char *log = tu_path(dir, name);
	char *text = log_head(log, 40);
	free(log);
	return text ? text : strdup("(not run: a step before it failed)\n");
}

/* The CPU time of this process's finished children (make and, through it,
 * every command), user + system, in seconds. */
static double cpu_seconds(void)
{
	struct rusage ru;
	ck_assert_int_eq(getrusage(RUSAGE_CHILDREN, &ru), 0);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static const char *seed_text(uint64_t seed)
{
	static char s[32];
	snprintf(s, sizeof s, "%llu", (unsigned long long)seed);
	return s;
}

/* Reports one failed step: the networks it concerns (those of a batch that
 * its log names, else all of them), their YAML and how to rerun one. */
static void report(const char *dir, uint64_t seed, const Net *n, size_t k0, size_t k1,
                   const bool *want, const char *step, const char *why)
{
	fprintf(stderr, "check_werror: seed %s: %s failed\n", seed_text(seed), step);
	bool named = false;
	for (size_t k = k0; k < k1; k++)
		named |= want[k] && strstr(why, n[k].id) != NULL && k1 - k0 > 1;
	for (size_t k = k0; k < k1; k++) {
		if (!want[k] || (named && !strstr(why, n[k].id)))
			continue;
		fprintf(stderr, "  network %s (%s)\n    YAML: %s/%s.yaml\n"
		                "    rerun: NNCC_WERROR_SEED=%s NNCC_WERROR_NET=%s build/tests/check_werror\n",
		        n[k].id, n[k].desc, dir, n[k].id, seed_text(seed), n[k].id);
	}
	fprintf(stderr, "%s\n", why);
}

/* ---- tests */

/* The default run's networks cover every activation, loss, optimizer,
 * dtype, init scheme and normalisation, each depth, and each SIMD edge as
 * an input width and as a layer's width. */
START_TEST(test_coverage)
{
	Net *n = nets_generate(SEED_DEFAULT, N_DEFAULT);
	unsigned acts = 0, opts = 0, losses = 0, inits = 0, f64 = 0, norms = 0;
	bool edge_in[N_EDGES] = {0}, edge_out[N_EDGES] = {0};
	size_t depths[MAX_DENSE + 1] = {0};
	for (size_t k = 0; k < N_DEFAULT; k++) {
		acts |= n[k].acts;
		opts |= n[k].opt;
		losses |= n[k].loss;
		inits |= n[k].init;
		f64 |= 1u << n[k].f64;
		norms |= 1u << n[k].norm;
		depths[n[k].n_dense]++;
		for (size_t e = 0; e < N_EDGES; e++) {
			edge_in[e] |= n[k].sizes[0] == edges[e];
			for (size_t l = 1; l <= n[k].n_dense; l++)
				edge_out[e] |= n[k].sizes[l] == edges[e];
		}
	}
	ck_assert_uint_eq(acts, (1u << ACT_COUNT) - 1);
	ck_assert_uint_eq(opts, (1u << optimizer_count) - 1);
	ck_assert_uint_eq(losses, (1u << loss_count) - 1);
	ck_assert_uint_eq(inits, (1u << N_INITS) - 1);
	ck_assert_uint_eq(f64, 3);
	ck_assert_uint_eq(norms, (1u << N_NORMS) - 1);
	for (size_t d = 1; d <= MAX_DENSE; d++)
		ck_assert_msg(depths[d] > 0, "no network with %zu dense layers", d);
	for (size_t e = 0; e < N_EDGES; e++)
		ck_assert_msg(edge_in[e] && edge_out[e], "width %zu: as input %d, as a layer %d",
		              edges[e], edge_in[e], edge_out[e]);
	free(n);
}
END_TEST

static void need_compiler(const char *cc)
{
	char *out = NULL;
	int st = tu_run(&out, "%s --version", cc);
	ck_assert_msg(st == 0, "%s is required by this suite (apt-get install %s): %s", cc, cc,
	              out ? out : "");
	free(out);
}

/* Every network's trainer and exports compile silently in every job. */
START_TEST(test_compiles)
{
	need_compiler("gcc");
	need_compiler("clang");
	uint64_t seed = env_u64("NNCC_WERROR_SEED", SEED_DEFAULT);
	size_t count = (size_t)env_u64("NNCC_WERROR_N", tu_full() ? N_FULL : N_DEFAULT);
	const char *only = getenv("NNCC_WERROR_NET");
	ck_assert_msg(count > 0 && count <= 1000, "NNCC_WERROR_N must be 1 to 1000");
	Net *n = nets_generate(seed, count);
	bool *want = calloc(count, sizeof *want);
	ck_assert_ptr_nonnull(want);
	char *dir = tu_mkdtemp();
	size_t wanted = 0;
	for (size_t k = 0; k < count; k++) {
		want[k] = !only || !*only || strcmp(only, n[k].id) == 0;
		if (!want[k])
			continue;
		wanted++;
		char name[64];
		snprintf(name, sizeof name, "%s.yaml", n[k].id);
		char *yaml = tu_path(dir, name);
		ck_assert_int_eq(tu_write_text(yaml, n[k].yaml), 0);
		snprintf(name, sizeof name, "%s.w", n[k].id);
		char *w = tu_path(dir, name);
		write_weights(&n[k], yaml, w);
		free(yaml);
		free(w);
	}
	ck_assert_msg(wanted > 0, "NNCC_WERROR_NET=%s: no such network (w000 .. w%03zu)", only,
	              count - 1);
	fprintf(stderr, "check_werror: seed %s, %zu networks in %s\n", seed_text(seed), wanted, dir);

	char *cflags = NULL;
	ck_assert_int_eq(tu_run(&cflags, "%s --cflags", tu_nncc()), 0);
	cflags[strcspn(cflags, "\n")] = 0;
	char *arch = NULL;
	bool x86 = tu_run(&arch, "gcc -dumpmachine") == 0 && strncmp(arch, "x86_64", 6) == 0;
	free(arch);
	char *mk = write_makefile(dir, n, count, want, cflags, x86);
	char *out = NULL;
	/* A suite may run under `make test`: keep the outer jobserver out. */
	double cpu0 = cpu_seconds();
	int st = tu_run(&out, "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -k -j2 -f %s", mk);

	size_t failed = 0, total = 0;
	char step[128];
	if (x86)
		for (int c = 0; c < 2; c++) {
			snprintf(step, sizeof step, "pch-%s", c ? "clang" : "gcc");
			char *why = step_failure(dir, step);
			total++;
			if (why && failed++ < 8)
				fprintf(stderr, "check_werror: %s failed\n%s\n", step, why);
			free(why);
		}
	static const char *const gen[] = {"nncc", "infer", "header"};
	for (size_t k = 0; k < count; k++) {
		for (size_t s = 0; s < 3 + N_JOBS && want[k]; s++) {
			const Job *j = s < 3 ? NULL : &jobs[s - 3];
			if (j && (j->input != TRAINER || !job_runs(j, k)))
				continue;
			snprintf(step, sizeof step, "%s.%s", n[k].id, j ? j->name : gen[s]);
			total++;
			char *why = step_failure(dir, step);
			if (why && failed++ < 8)
				report(dir, seed, n, k, k + 1, want, step, why);
			free(why);
		}
	}
	for (size_t b = 0; b * BATCH < count; b++) {
		size_t k0 = b * BATCH, k1 = k0 + BATCH < count ? k0 + BATCH : count;
		bool any = false;
		for (size_t k = k0; k < k1; k++)
			any |= want[k];
		for (size_t j = 0; j < N_JOBS && any; j++) {
			if (jobs[j].input == TRAINER)
				continue;
			snprintf(step, sizeof step, "b%02zu.%s", b, jobs[j].name);
			total++;
			char *why = step_failure(dir, step);
			if (why && failed++ < 8)
				report(dir, seed, n, k0, k1, want, step, why);
			free(why);
		}
	}
	if (failed > 8)
		fprintf(stderr, "check_werror: ... and %zu more failed steps\n", failed - 8);
	if (failed && st != 0 && out && *out)
		fprintf(stderr, "make said:\n%s", out);
	ck_assert_msg(failed == 0, "%zu of %zu steps failed (seed %s, files in %s)", failed, total,
	              seed_text(seed), dir);
	ck_assert_msg(st == 0, "make failed, but every step passed:\n%s", out);
	fprintf(stderr, "check_werror: %zu steps passed, %.0f s of CPU\n", total, cpu_seconds() - cpu0);
	ck_assert_int_eq(tu_scratch_cleanup(dir, 0), 0);
	free(out);
	free(mk);
	free(cflags);
	free(dir);
	free(want);
	free(n);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("werror");
	TCase *tc = tcase_create("werror");
	tcase_add_test(tc, test_coverage);
	tcase_add_test(tc, test_compiles);
	tcase_set_timeout(tc, 1800);
	suite_add_tcase(s, tc);
	return tu_suite_main(s, NULL);
}
