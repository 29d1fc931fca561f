/*
 * model.c - the fixed parts of a generated trainer: the prologue (includes,
 * the `real` type and its maths functions), running passes on the thread
 * pool, set_threads, the fused training step, the tensor accessor and
 * main().  The variable-length parts (sizes, buffers, the calls
 * in NAME_forward/NAME_backward, the descriptor) are written by emit.c.
 * Placeholders: P/U = network prefix (C identifier) and its upper case,
 * REAL/TANH/LOG/FMA = the dtype's type and <math.h> functions.
 */

//@ section prologue
#if !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* sysconf, pthreads */
#endif
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "nncc.h"

/* Every value is a `real`; the maths functions follow it.  exp is kern_exp
 * (below): the same bits from the vector and the scalar code. */
typedef {{REAL}} real;
#define EXP kern_exp
#define TANH {{TANH}}
#define LOG {{LOG}}
/* Every multiply-add is this explicit, exactly rounded FMA; nothing else may
 * be contracted, so build with -ffp-contract=off (nncc --cflags). */
#define FMA {{FMA}}

//@ section run
/* Runs work units [0, units) of a pass: on the pool when `pooled` (the
 * emitter pools the passes big enough to gain from it), else in order on
 * this thread.  The pool starts on first use with training.threads. */
static void {{P}}_run(kern_unit_fn fn, size_t units, int pooled)
{
	if (pooled && {{P}}_pool.n == 0)
		{{P}}_set_threads({{U}}_THREADS);
	if (pooled) {
		kern_pool_run(&{{P}}_pool, fn, units);
		return;
	}
	for (size_t u = 0; u < units; u++)
		fn(u, 0);
}

//@ section set_threads
/* Threads for the pooled passes (0 = all cores); returns the number in use.
 * Results do not depend on it: work units are fixed. */
static int {{P}}_set_threads(int n)
{
	if (!{{U}}_POOLED)
		return 1;   /* no pass of this network is big enough to share */
	kern_pool_stop(&{{P}}_pool);
	return kern_pool_start(&{{P}}_pool, n > 0 ? n : kern_cores());
}

#if KERN_HAVE_THREADS
/* The workers must be gone before their code is (dlclose, exit). */
static void {{P}}_threads_fini(void) __attribute__((destructor));
static void {{P}}_threads_fini(void)
{
	kern_pool_stop(&{{P}}_pool);
}
#endif

//@ section step
/* One training step on a tile of n samples, fused: forward, loss and every
 * delta row by row, then the weight gradient with the SGD update in the same
 * pass (params -= lr/n * X^T D: no gradient is stored, no update pass).  The
 * same bits as forward + backward(accumulate 0) + update(lr, n): the same
 * FMA chains.  Returns the tile's loss sum, computed before the update;
 * grads is left unspecified. */
static double {{P}}_step(size_t n, const void *x, const int32_t *y, double lr)
{
	{{P}}_job.n = n;
	{{P}}_job.x = x;
	{{P}}_job.y = y;
	{{P}}_run({{P}}_step_rows, {{U}}_ROW_UNITS(n), {{U}}_POOL_ROWS);
	double loss = {{P}}_loss(n, y);
	{{P}}_job.mode = KERN_GRAD_SGD;
	{{P}}_job.s = (real)(lr / (double)n);
	{{P}}_run({{P}}_weight_unit, {{U}}_WEIGHT_UNITS, {{U}}_POOL_WEIGHTS);
	return loss;
}

//@ section tensor
/* Per-layer buffers for tools and tests (layer is 0-based): NNCC_T_ACT gives
 * the outputs a (MAX_BATCH, OUT), NNCC_T_DELTA the deltas dL/dz of a dense
 * layer (MAX_BATCH, OUT); NULL for anything else. */
static void *{{P}}_tensor(int which, size_t layer)
{
	static void *const act[{{N_LAYERS}}] = { {{ACTS}} };
	static void *const delta[{{N_LAYERS}}] = { {{DELTAS}} };

	if (layer >= {{N_LAYERS}})
		return NULL;
	if (which == NNCC_T_ACT)
		return act[layer];
	if (which == NNCC_T_DELTA)
		return delta[layer];
	return NULL;
}

//@ section main
/* The training driver in libnncc.a: options, data, training loop, report.
 * Compile with -DNNCC_NO_MAIN to drive {{P}}_model from your own code. */
#ifndef NNCC_NO_MAIN
int main(int argc, char **argv)
{
	return nncc_main(argc, argv, &{{P}}_model);
}
#endif
