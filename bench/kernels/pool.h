/*
 * pool.h - a persistent pthread pool for the training step: pool_run(fn)
 * runs fn(arg, tid, nthreads) on every thread (the caller is tid 0) and
 * returns when all are done.  Workers spin briefly on a generation counter,
 * then sleep on a condition variable, so an idle or oversubscribed machine
 * does not burn a core.  The pool decides nothing about the maths: callers
 * split work in fixed units (row tiles, j tiles), which keeps results
 * independent of the thread count.  Single-header, static functions.
 */
#ifndef NNCC_POOL_H
#define NNCC_POOL_H

#include <pthread.h>
#include <sched.h>

#define POOL_MAX 64
#define POOL_SPIN 20000   /* polls before sleeping (~10-50 us) */

typedef void (*pool_fn)(void *arg, int tid, int nthreads);

typedef struct Pool {
	int n;                      /* threads including the caller */
	pthread_t th[POOL_MAX];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pool_fn fn;
	void *arg;
	unsigned gen;               /* bumped by pool_run; workers run on change */
	int done;                   /* workers finished with this generation */
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
		p->fn(p->arg, ps->tid, p->n);
		__atomic_add_fetch(&p->done, 1, __ATOMIC_ACQ_REL);
	}
}

static int pool_init(Pool *p, int n)
{
	int t;
	if (n < 1) n = 1;
	if (n > POOL_MAX) n = POOL_MAX;
	p->n = n;
	p->gen = 0;
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

static void pool_kick(Pool *p)
{
	pthread_mutex_lock(&p->mu);
	__atomic_add_fetch(&p->gen, 1, __ATOMIC_ACQ_REL);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void pool_run(Pool *p, pool_fn fn, void *arg)
{
	long spin = 0;
	if (p->n == 1) {
		fn(arg, 0, 1);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	__atomic_store_n(&p->done, 0, __ATOMIC_RELEASE);
	pool_kick(p);
	fn(arg, 0, p->n);
	while (__atomic_load_n(&p->done, __ATOMIC_ACQUIRE) != p->n - 1) {
		if (++spin < POOL_SPIN) pool_pause();
		else sched_yield();
	}
}

static void pool_fini(Pool *p)
{
	int t;
	if (p->n > 1) {
		__atomic_store_n(&p->quit, 1, __ATOMIC_RELEASE);
		pool_kick(p);
		for (t = 1; t < p->n; t++) pthread_join(p->th[t], NULL);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
}

/* [lo, hi) of `units` for thread tid of nt: a fixed partition of fixed units. */
static void pool_range(size_t units, int tid, int nt, size_t *lo, size_t *hi)
{
	*lo = units * (size_t)tid / (size_t)nt;
	*hi = units * (size_t)(tid + 1) / (size_t)nt;
}

#endif
