/*
 * pool.h - a persistent pthread pool for the training step.
 * pool_run(p, fn, arg, units) calls fn(arg, unit, tid) once for every unit
 * in [0, units); threads CLAIM units from a shared counter, so whichever
 * thread is running does the work.  What a unit computes never depends on
 * which thread runs it (callers cut work into fixed units: row blocks, j
 * tiles), so results are bit-identical for any thread count, and a worker
 * that the OS has descheduled (a shared, oversubscribed machine) costs at
 * most the unit it holds instead of a time slice per barrier.
 * Workers spin briefly on the generation, then sleep on a condition
 * variable.  `tid` (0 = the caller) only selects per-thread scratch memory.
 */
#ifndef NNCC_POOL_H
#define NNCC_POOL_H

#include <pthread.h>
#include <sched.h>
#include <stdint.h>

#define POOL_MAX 64
#define POOL_SPIN 20000   /* polls before a worker sleeps */

typedef void (*pool_fn)(void *arg, size_t unit, int tid);

typedef struct Pool {
	int n;                      /* threads including the caller */
	pthread_t th[POOL_MAX];
	int tid[POOL_MAX];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pool_fn fn;
	void *arg;
	uint64_t claim;             /* generation << 32 | next unit */
	uint64_t units;
	uint64_t done;              /* units finished in this generation */
	unsigned gen;
	int quit;
} Pool;

typedef struct PoolStart {
	Pool *p;
	int tid;
} PoolStart;

static PoolStart pool_start[POOL_MAX];

static void pool_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Claims and runs units of generation `gen` until none are left. */
static void pool_drain(Pool *p, unsigned gen, int tid)
{
	for (;;) {
		uint64_t c = __atomic_load_n(&p->claim, __ATOMIC_ACQUIRE);
		uint64_t unit = c & 0xffffffffu;
		if ((unsigned)(c >> 32) != gen || unit >= p->units) return;
		if (__atomic_compare_exchange_n(&p->claim, &c, c + 1, 0, __ATOMIC_ACQ_REL,
		                                __ATOMIC_ACQUIRE)) {
			p->fn(p->arg, (size_t)unit, tid);
			__atomic_add_fetch(&p->done, 1, __ATOMIC_ACQ_REL);
		}
	}
}

static void *pool_worker(void *v)
{
	PoolStart *ps = v;
	Pool *p = ps->p;
	unsigned seen = 0;
	for (;;) {
		unsigned g;
		long spin = 0;
		while ((g = __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE)) == seen && spin < POOL_SPIN) {
			pool_pause();
			spin++;
		}
		if (g == seen) {
			pthread_mutex_lock(&p->mu);
			while ((g = __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE)) == seen)
				pthread_cond_wait(&p->cv, &p->mu);
			pthread_mutex_unlock(&p->mu);
		}
		seen = g;
		if (__atomic_load_n(&p->quit, __ATOMIC_ACQUIRE)) return NULL;
		pool_drain(p, g, ps->tid);
	}
}

static int pool_init(Pool *p, int n)
{
	int t;
	if (n < 1) n = 1;
	if (n > POOL_MAX) n = POOL_MAX;
	p->n = n;
	p->gen = 0;
	p->claim = 0;
	p->units = 0;
	p->done = 0;
	p->quit = 0;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (t = 1; t < n; t++) {
		pool_start[t].p = p;
		pool_start[t].tid = t;
		if (pthread_create(&p->th[t], NULL, pool_worker, &pool_start[t]) != 0) {
			p->n = t;
			break;
		}
	}
	return p->n;
}

static void pool_kick(Pool *p, unsigned gen)
{
	pthread_mutex_lock(&p->mu);
	__atomic_store_n(&p->gen, gen, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void pool_run(Pool *p, pool_fn fn, void *arg, size_t units)
{
	unsigned gen;
	long spin = 0;
	size_t u;
	if (p->n == 1 || units == 1) {
		for (u = 0; u < units; u++) fn(arg, u, 0);
		return;
	}
	gen = p->gen + 1;
	p->fn = fn;
	p->arg = arg;
	p->units = units;
	__atomic_store_n(&p->done, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&p->claim, (uint64_t)gen << 32, __ATOMIC_RELEASE);
	pool_kick(p, gen);
	pool_drain(p, gen, 0);
	/* Only units claimed by a worker and still running are left. */
	while (__atomic_load_n(&p->done, __ATOMIC_ACQUIRE) != units) {
		if (++spin < POOL_SPIN) pool_pause();
		else sched_yield();
	}
}

static void pool_fini(Pool *p)
{
	int t;
	if (p->n > 1) {
		__atomic_store_n(&p->quit, 1, __ATOMIC_RELEASE);
		pool_kick(p, p->gen + 1);
		for (t = 1; t < p->n; t++) pthread_join(p->th[t], NULL);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
}

#endif
