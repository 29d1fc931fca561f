/*
 * nncc_pool.h - what every copy of a generated trainer's kernels shares
 * (nncc_kern.h is compiled once per instruction set; this once): the
 * thread pool that runs a pass's fixed work units, the pass being run
 * (kern_job), the optimizer's scalar epilogue, the dropout hash, and the
 * run-time choice of the copy (kern_isa_pick).  Shipped with the runtime
 * and included once by each generated file, after nncc_simd.h and after
 * the file's optimizer, which must define:
 *
 *   OPT_STATE     state slots per parameter, 0..3 (SGD 0, momentum 1, Adam 2)
 *   OPT_STRIDE    reals between one parameter's slots (the parameter count:
 *                 slot k of parameter q is state[k * OPT_STRIDE + q])
 *   OptStep       a step's constants (lr / batch, bias corrections, ...)
 *   opt_prepare(OptStep *, const nncc_update_t *)
 *   opt_scalar(const OptStep *, int bias, real g, real *p, real *s0, real *s1, real *s2)
 *
 * and, in each copy of the kernel section, opt_vector (the same on vreal;
 * only when KERN_SIMD): see nncc_kern.h.  Optionally also (defaults below):
 *
 *   OPT_CASES     copies of the fused update, 1 or 2: opt_vector's case c is
 *                 a constant in each, so a choice made once per step (such
 *                 as momentum's Nesterov switch) is not tested per vector
 *   opt_case(const OptStep *)  the copy for this step, 0 .. OPT_CASES - 1,
 *                 or KERN_CASE_ANY (nncc_simd.h): none, the sums go to the
 *                 gradient block and the unfused update decides per vector
 */
#ifndef NNCC_POOL_H
#define NNCC_POOL_H

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#ifndef OPT_STATE
#error "include nncc_pool.h after the optimizer (OPT_STATE, OptStep, opt_prepare, opt_scalar)"
#endif

#ifndef OPT_CASES   /* the default: one fused copy, for every step */
#define OPT_CASES 1
KERN_INLINE int opt_case(const OptStep *opt)
{
	(void)opt;
	return 0;
}
#endif
#if OPT_CASES < 1 || OPT_CASES > 2
#error "OPT_CASES: 1 or 2 copies of the fused update (kern_dw)"
#endif

/* Modes of the weight gradient (a constant in each inlined copy: a run-time
 * mode makes gcc spill the accumulators). */
#define KERN_GRAD_SET 0    /* G = X^T D */
#define KERN_GRAD_ACC 1    /* G += X^T D: the chain continues from G */
#define KERN_GRAD_UPDATE 2 /* the optimizer's step with the sums X^T D as the
                              gradient: G is not written (scratch in the fallback) */

/* ---- The optimizer's epilogue: load a parameter and its state, step,
 * store.  S is the state block at the tensor (NULL when OPT_STATE is 0),
 * q the element's offset in it; only the slots the optimizer has are read. */
KERN_INLINE void kern_opt_s(const OptStep *opt, const int bias, real g, real *p, real *S,
                            size_t q)
{
	real s0 = R(0.0), s1 = R(0.0), s2 = R(0.0);
	if (OPT_STATE > 0) s0 = S[q];
	if (OPT_STATE > 1) s1 = S[q + OPT_STRIDE];
	if (OPT_STATE > 2) s2 = S[q + 2 * OPT_STRIDE];
	opt_scalar(opt, bias, g, p, &s0, &s1, &s2);
	if (OPT_STATE > 0) S[q] = s0;
	if (OPT_STATE > 1) S[q + OPT_STRIDE] = s1;
	if (OPT_STATE > 2) S[q + 2 * OPT_STRIDE] = s2;
}

/* The step's constants for the driver's update u; defaults (the YAML's
 * hyper-parameters) stand in when u carries none. */
static void kern_prepare(OptStep *opt, const nncc_update_t *u, const double *defaults)
{
	nncc_update_t v = *u;

	if (!v.hparams)
		v.hparams = defaults;
	opt_prepare(opt, &v);
}

/* ---- The thread pool.  kern_pool_run(p, fn, units) calls fn(unit, tid)
 * once for every unit in [0, units): threads CLAIM units, their own first
 * (kern_pool_drain), and what a unit computes never depends on the thread
 * that runs it (units are fixed row blocks and weight tiles), so results are
 * bit-identical for any thread count, and a worker the OS has descheduled
 * costs at most the unit it holds.  Workers spin briefly, then sleep on a
 * condition variable.  tid (0 = the caller) only selects scratch memory.
 * GCC/clang builtins for the atomics; elsewhere one thread. */
#define KERN_MAX_THREADS 64
#define KERN_SPIN 20000   /* polls before a worker sleeps */

typedef void (*kern_unit_fn)(size_t unit, int tid);

/* Keeps counters that different threads write on cache lines of their own
 * (64 bytes on the x86-64 and ARM cores nncc targets). */
#if defined(__GNUC__)
#define KERN_LINE __attribute__((aligned(64)))
#else
#define KERN_LINE
#endif

typedef struct KernPool KernPool;
/* Thread t's home units t, t + n, t + 2n, ... of the current generation:
 * claim is generation << 32 | k, the next to run being unit k * n + t, and
 * end counts them.  One cache line each. */
typedef struct KernRange {
	uint64_t claim KERN_LINE;
	uint64_t end;
} KernRange;
typedef struct KernStart {
	KernPool *p;
	int tid;
} KernStart;

struct KernPool {
	int n;                       /* threads including the caller; 0 = not started */
	pthread_t th[KERN_MAX_THREADS];
	KernStart start[KERN_MAX_THREADS];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	kern_unit_fn fn;
	unsigned gen;
	int quit;
	KernRange range[KERN_MAX_THREADS];
	uint64_t done KERN_LINE;     /* units finished in this generation */
};

#if defined(__GNUC__)
#define KERN_HAVE_THREADS 1
#define KERN_LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define KERN_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static void kern_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Claims and runs units of generation gen until none is left: first its
 * home units, then what is left of the others' (a unit is claimed by a
 * compare-and-swap on its home's counter, so it runs once, whoever runs
 * it).  Home units keep a thread on the same weight tiles and optimizer
 * state from one step to the next instead of moving them between cores
 * (W4 with Adam on 2 threads: 0.87 s an epoch with one shared counter,
 * 0.78 s with homes); dealing them out round-robin balances passes whose
 * units differ in cost by layer. */
static void kern_pool_drain(KernPool *p, unsigned gen, int tid)
{
	int k;
	for (k = 0; k < p->n; k++) {
		int home = (tid + k) % p->n;
		KernRange *r = &p->range[home];
		for (;;) {
			uint64_t c = KERN_LOAD(&r->claim), unit = c & 0xffffffffu;
			if ((unsigned)(c >> 32) != gen || unit >= KERN_LOAD(&r->end))
				break;
			if (__atomic_compare_exchange_n(&r->claim, &c, c + 1, 0,
			                                __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
				p->fn((size_t)unit * (size_t)p->n + (size_t)home, tid);
				__atomic_add_fetch(&p->done, 1, __ATOMIC_ACQ_REL);
			}
		}
	}
}

static void *kern_pool_worker(void *arg)
{
	KernStart *ks = arg;
	KernPool *p = ks->p;
	unsigned seen = 0, g;
	for (;;) {
		long spin = 0;
		while ((g = KERN_LOAD(&p->gen)) == seen && spin < KERN_SPIN) {
			kern_pause();
			spin++;
		}
		if (g == seen) {
			pthread_mutex_lock(&p->mu);
			while ((g = KERN_LOAD(&p->gen)) == seen)
				pthread_cond_wait(&p->cv, &p->mu);
			pthread_mutex_unlock(&p->mu);
		}
		seen = g;
		if (KERN_LOAD(&p->quit))
			return NULL;
		kern_pool_drain(p, g, ks->tid);
	}
}

static void kern_pool_kick(KernPool *p, unsigned gen)
{
	pthread_mutex_lock(&p->mu);
	KERN_STORE(&p->gen, gen);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Starts n threads (the caller is one of them); returns how many run. */
static int kern_pool_start(KernPool *p, int n)
{
	int t;
	n = n < 1 ? 1 : n > KERN_MAX_THREADS ? KERN_MAX_THREADS : n;
	p->n = n;
	p->gen = 0;
	p->done = 0;
	memset(p->range, 0, sizeof p->range);
	p->quit = 0;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (t = 1; t < n; t++) {
		p->start[t].p = p;
		p->start[t].tid = t;
		if (pthread_create(&p->th[t], NULL, kern_pool_worker, &p->start[t]) != 0) {
			p->n = t;
			break;
		}
	}
	return p->n;
}

static void kern_pool_stop(KernPool *p)
{
	int t;
	if (p->n == 0)
		return;
	if (p->n > 1) {
		KERN_STORE(&p->quit, 1);
		kern_pool_kick(p, p->gen + 1);
		for (t = 1; t < p->n; t++)
			pthread_join(p->th[t], NULL);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	p->n = 0;
}

static void kern_pool_run(KernPool *p, kern_unit_fn fn, size_t units)
{
	unsigned gen;
	long spin = 0;
	size_t u;
	int t;
	if (p->n <= 1 || units <= 1) {
		for (u = 0; u < units; u++)
			fn(u, 0);
		return;
	}
	gen = p->gen + 1;
	p->fn = fn;
	KERN_STORE(&p->done, 0);
	for (t = 0; t < p->n; t++) {
		KERN_STORE(&p->range[t].end, (uint64_t)((units + (size_t)(p->n - 1 - t)) / (size_t)p->n));
		KERN_STORE(&p->range[t].claim, (uint64_t)gen << 32);
	}
	kern_pool_kick(p, gen);
	kern_pool_drain(p, gen, 0);
	/* Only units that a worker claimed and is still running are left. */
	while (KERN_LOAD(&p->done) != units) {
		if (++spin < KERN_SPIN)
			kern_pause();
		else
			sched_yield();
	}
}
#else
#define KERN_HAVE_THREADS 0
static int kern_pool_start(KernPool *p, int n)
{
	(void)n;
	return p->n = 1;
}

static void kern_pool_stop(KernPool *p)
{
	p->n = 0;
}

static void kern_pool_run(KernPool *p, kern_unit_fn fn, size_t units)
{
	size_t u;
	(void)p;
	for (u = 0; u < units; u++)
		fn(u, 0);
}
#endif

/* Online cores: what threads = 0 means. */
static int kern_cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > KERN_MAX_THREADS ? KERN_MAX_THREADS : (int)n;
}

/* ---- The pass being run and its pool: one of each per generated file. */

/* Whose dropout masks the row passes draw (nncc_model_t.mask_key): update
 * `step` of the run seeded `seed`, the tile's row 0 being sample `first` of
 * the batch; step 0 = evaluation (dropout is the identity). */
typedef struct KernMask {
	uint64_t seed, step;
	size_t first;
} KernMask;

/* The static buffers processes can share (nncc_model_t.shared): aligned
 * to a page, with KERN_SLACK(w) rows of w reals more than they use, so
 * that their pages hold nothing else.  Only GNU C can align them (else
 * the descriptor lists none). */
#if defined(__GNUC__)
#define KERN_SHARED __attribute__((aligned(NNCC_PAGE)))
#define KERN_SHARED_OK 1
#else
#define KERN_SHARED
#define KERN_SHARED_OK 0
#endif
#define KERN_SLACK(w) ((NNCC_PAGE / sizeof(real) + (w) - 1) / (w))

typedef struct KernJob {
	size_t n;           /* samples in the tile */
	const real *x;      /* (n, N_INPUTS) */
	const void *y;      /* (n) labels (int32_t), or (n, N_OUTPUTS) targets */
	int mode;           /* weight pass: KERN_GRAD_SET, _ACC or _UPDATE */
	OptStep opt;        /* KERN_GRAD_UPDATE: the step's constants */
	KernMask mask;      /* the row passes' dropout masks */
	KernMask noise;     /* pre-training's denoising masks */
	size_t rows;        /* row passes: samples per unit (kern_run_rows) */
} KernJob;

static KernJob kern_job;

/* Sample s's label, and output i's target for regression, in the tile. */
#define KERN_LABEL(s) (((const int32_t *)kern_job.y)[s])
#define KERN_TARGET(s, i) (((const real *)kern_job.y)[(s) * N_OUTPUTS + (i)])
static KernPool kern_pool;

/* Threads for the pooled passes (0 = all cores); returns the number in use.
 * `pooled` is 0 when no pass of the network is big enough to share.
 * Results do not depend on it: work units are fixed. */
static int kern_set_threads(int n, int pooled)
{
	if (!pooled)
		return 1;
	kern_pool_stop(&kern_pool);
	return kern_pool_start(&kern_pool, n > 0 ? n : kern_cores());
}

/* Runs work units [0, units) of a pass: on the pool when `pooled` (the
 * passes big enough to gain from it), else in order on this thread.  The
 * pool starts on first use with `threads` (training.threads). */
static void kern_run(kern_unit_fn fn, size_t units, int pooled, int threads)
{
	size_t u;
	if (pooled && kern_pool.n == 0)
		kern_set_threads(threads, 1);
	if (pooled) {
		kern_pool_run(&kern_pool, fn, units);
		return;
	}
	for (u = 0; u < units; u++)
		fn(u, 0);
}

/* Runs a row pass over the tile's n samples: `rows` samples per unit
 * (ROWS_PER_UNIT) when it runs on the pool with more than one thread, all
 * of them in one unit on one thread, so that no unit reads the layers'
 * weights again or packs W^T again (one thread, MNIST MLP: 9% of the
 * epoch).  Samples do not depend on each other, so results do not depend
 * on the cut. */
static void kern_run_rows(kern_unit_fn fn, size_t n, size_t rows, int pooled, int threads)
{
	if (pooled && kern_pool.n == 0)
		kern_set_threads(threads, 1);
	kern_job.rows = pooled && kern_pool.n > 1 ? rows : n;
	kern_run(fn, n ? (n + kern_job.rows - 1) / kern_job.rows : 0, pooled, threads);
}

/* ---- Dropout (docs/trainer.md#dropout).  Unit i of sample b in layer k
 * is kept when its 32 random bits are >= THRESH = floor(rate * 2^32):
 *   R    = mix(mix(mix(seed + G k) + G step) + G b)   (once per sample)
 *   h    = mix(R + G floor(i / 2))                     (one per 2 units)
 *   bits = the low 32 bits of h for an even i, the high 32 for an odd i
 * with mix = splitmix64's finaliser, G = 0x9e3779b97f4a7c15, arithmetic
 * mod 2^64, b the sample's index in its batch and step the update's number:
 * a mask depends on nothing else, so not on threads, tiles or where a
 * --resume started. */
#define KERN_GOLDEN UINT64_C(0x9e3779b97f4a7c15)
#define KERN_MIX1 UINT64_C(0xbf58476d1ce4e5b9)
#define KERN_MIX2 UINT64_C(0x94d049bb133111eb)

static inline uint64_t kern_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * KERN_MIX1;
	z = (z ^ (z >> 27)) * KERN_MIX2;
	return z ^ (z >> 31);
}

/* ---- Which copy of the kernel section runs (docs/kernels.md#instruction-sets).
 * With KERN_DISPATCH, the best instruction set the CPU has (and the OS
 * saves the registers of: __builtin_cpu_supports checks both), chosen
 * once when the file is loaded; the environment variable NNCC_ISA (avx512,
 * avx2, fma or generic) asks for one, for tests and benchmarks.  A name
 * that is unknown, or a set the CPU lacks (or, without dispatch, one the
 * file was not built for), is reported on stderr and the best set runs
 * instead; a set that was asked for and runs is reported too, so that a
 * log says what ran.  The copies give the same bits. */
static const char *const kern_isa_names[KERN_N_ISAS] = {"generic", "fma", "avx2", "avx512"};

/* Whether this file can run copy `isa` on this CPU. */
static int kern_isa_have(int isa)
{
#if KERN_DISPATCH
	switch (isa) {
	case KERN_ISA_AVX512:
		return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
	case KERN_ISA_AVX2:
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	case KERN_ISA_FMA:
		return __builtin_cpu_supports("fma");
	default:
		return 1;
	}
#else
	return isa == KERN_ISA;
#endif
}

static int kern_isa_pick(void)
{
	const char *want = getenv("NNCC_ISA");
	int isa, best = KERN_ISA_GENERIC;

#if KERN_DISPATCH
	__builtin_cpu_init(); /* before __builtin_cpu_supports in a constructor */
#endif
	for (isa = KERN_N_ISAS - 1; isa > KERN_ISA_GENERIC && !kern_isa_have(isa); isa--)
		;
	best = isa;
	if (!want || !*want)
		return best;
	for (isa = 0; isa < KERN_N_ISAS && strcmp(want, kern_isa_names[isa]) != 0; isa++)
		;
	if (isa == KERN_N_ISAS) {
		fprintf(stderr, "nncc: NNCC_ISA=%s: unknown (expected avx512, avx2, fma or generic); "
		                "running the %s kernels\n", want, kern_isa_names[best]);
	} else if (!kern_isa_have(isa)) {
		fprintf(stderr, "nncc: NNCC_ISA=%s: %s; running the %s kernels\n", want,
		        KERN_DISPATCH ? "this CPU lacks it"
		                      : "this trainer was built for one instruction set (-march)",
		        kern_isa_names[best]);
	} else {
		fprintf(stderr, "nncc: NNCC_ISA=%s: running the %s kernels\n", want, want);
		return isa;
	}
	return best;
}

#if defined(__GNUC__)
/* The copy in use: chosen before main (or at dlopen); until then 0, the
 * generic copy, which gives the same bits. */
static int kern_isa;
static void kern_isa_init(void) __attribute__((constructor));
static void kern_isa_init(void)
{
	kern_isa = kern_isa_pick();
}
#endif

/* The entry points of one copy (runtime/nncc.h's signatures). */
typedef struct KernEntries {
	void (*forward)(size_t n, const void *x);
	void (*backward)(size_t n, const void *x, const void *y, int accumulate);
	void (*update)(const nncc_update_t *u);
	double (*step)(size_t n, const void *x, const void *y, const nncc_update_t *u);
	double (*step_part)(size_t n, const void *x, const void *y, const nncc_update_t *u,
	                    const nncc_part_t *p);
} KernEntries;

#if KERN_HAVE_THREADS
/* The workers must be gone before their code is (dlclose, exit). */
static void kern_threads_fini(void) __attribute__((destructor));
static void kern_threads_fini(void)
{
	kern_pool_stop(&kern_pool);
}
#endif

#endif
