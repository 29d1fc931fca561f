/*
 * rowsplit.c - a measured prototype, not part of nncc: the thread pool's
 * split of a training step (docs/kernels.md) run by processes instead of
 * threads, as docs/scaling.md ("What is left", speed at small batches)
 * proposes for the ranks of one machine.  bench/rowsplit.sh generates a
 * trainer (W4, and W4 with Adam and with dropout), gives its parameter,
 * optimizer state and layer buffers page alignment and a page of slack,
 * lists them (ROWSPLIT_SHARE) and compiles this file around it (it
 * #includes the generated C, ROWSPLIT_NET, so it reaches the static
 * buffers and the passes' work-unit functions).
 *
 *   rowsplit 0 STEPS   one process: the generated step()'s passes in order
 *   rowsplit t STEPS   the generated step() itself, on its thread pool (all
 *                      cores: the threads split the step as below)
 *   rowsplit P STEPS   P processes (fork) sharing the parameters and the
 *                      layers' buffers (MAP_SHARED pages moved over the
 *                      static arrays with mremap): process p runs the
 *                      forward and backward row pass for its share of the
 *                      tile's rows, a barrier, then weight units (the fused
 *                      weight gradient and update of W's row tiles)
 *                      taken from a shared counter, a barrier
 *
 * STEPS updates on one tile of 64 samples (random pixels and labels: the
 * timing and the bits do not need MNIST); prints ms a step and an FNV-1a
 * hash of the parameters, which must be the same for every P: each
 * parameter is the one process's chain over the tile, whoever computes it.
 * Linux only (mremap, sched_setaffinity).
 */
#define _GNU_SOURCE 1
#define NNCC_NO_MAIN 1
#include ROWSPLIT_NET

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TILE 64

/* Moves shared pages over a static buffer, its contents copied. */
static void share(void *addr, size_t bytes)
{
	size_t len = (bytes + 4095) & ~(size_t)4095;
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED) {
		perror("rowsplit: mmap");
		exit(1);
	}
	memcpy(m, addr, len);
	if (mremap(m, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, addr) != addr) {
		perror("rowsplit: mremap");
		exit(1);
	}
}

/* A sense-reversing spin barrier in shared memory, and the weight pass's
 * unit counters (one a step, in turns, reset by process 0 a step ahead). */
typedef struct Shared {
	int count, sense;
	size_t next[2];
} Shared;

static Shared *sh;
static int sense;

static void barrier(int procs)
{
	sense = !sense;
	if (__atomic_add_fetch(&sh->count, 1, __ATOMIC_ACQ_REL) == procs) {
		__atomic_store_n(&sh->count, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&sh->sense, sense, __ATOMIC_RELEASE);
	} else {
		while (__atomic_load_n(&sh->sense, __ATOMIC_ACQUIRE) != sense)
			;
	}
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 40;
}

static unsigned long long fnv1a(const void *p, size_t n)
{
	const unsigned char *b = p;
	unsigned long long h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

int main(int argc, char **argv)
{
	static real x[TILE * N_INPUTS];
	static int32_t y[TILE];
	int threads = argc > 1 && strcmp(argv[1], "t") == 0;
	int procs = argc > 1 ? atoi(argv[1]) : 0, steps = argc > 2 ? atoi(argv[2]) : 300, me = 0;
	nncc_update_t u = {.lr = 0.001, .batch = TILE, .seed = 1};
	uint64_t s = 12345;
	double t0, t1;

	if (procs < 0 || procs > TILE || steps < 1 || TILE > MAX_BATCH) {
		fprintf(stderr, "usage: rowsplit PROCESSES(0..%d)|t STEPS\n", TILE);
		return 2;
	}
	for (size_t i = 0; i < TILE * N_INPUTS; i++)
		x[i] = (real)lcg(&s) / (real)(1 << 24);
	for (size_t i = 0; i < TILE; i++)
		y[i] = (int32_t)(lcg(&s) % N_OUTPUTS);
	for (size_t i = 0; i < N_PARAMS; i++)
		params[i] = ((real)lcg(&s) / (real)(1 << 24) - (real)0.5) * (real)0.1;
	if (threads) {
		int n = set_threads(0);
		t0 = now();
		for (int it = 0; it < steps; it++) {
			u.step = (uint64_t)it + 1;
			(void)step(TILE, x, y, &u);
		}
		t1 = now();
		printf("%d threads:   %.3f ms a step, parameters %016llx\n", n,
		       (t1 - t0) / steps * 1e3, fnv1a(params, sizeof(real) * N_PARAMS));
		return 0;
	}
	kern_job.n = TILE;
	kern_job.x = x;
	kern_job.y = y;
	if (procs == 0) {   /* step(): one row unit, then every weight unit */
		kern_job.rows = TILE;
		t0 = now();
		for (int it = 0; it < steps; it++) {
			u.step = (uint64_t)it + 1;
#if ROWSPLIT_MASK
			kern_job.mask = (KernMask){u.seed, u.step, 0};
#endif
			step_rows(0, 0);
			(void)loss(TILE, y);
			kern_job.mode = KERN_GRAD_UPDATE;
			kern_prepare(&kern_job.opt, &u, hparam_values);
			for (size_t q = 0; q < WEIGHT_UNITS; q++)
				weight_unit(q, 0);
		}
		t1 = now();
		printf("1 process:   %.3f ms a step, parameters %016llx\n", (t1 - t0) / steps * 1e3,
		       fnv1a(params, sizeof(real) * N_PARAMS));
		return 0;
	}
#define SHARE(a, bytes) share(a, bytes);
#include ROWSPLIT_SHARE   /* the script's list: the parameters, state and layers' buffers */
#undef SHARE
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("rowsplit: mmap");
		return 1;
	}
	for (int p = 1; p < procs && !me; p++)
		if (fork() == 0)
			me = p;
	{
		cpu_set_t cs;
		CPU_ZERO(&cs);
		CPU_SET((size_t)me % (size_t)sysconf(_SC_NPROCESSORS_ONLN), &cs);
		sched_setaffinity(0, sizeof cs, &cs);
	}
	kern_job.rows = (TILE + (size_t)procs - 1) / (size_t)procs;   /* a row unit each */
	barrier(procs);
	t0 = now();
	for (int it = 0; it < steps; it++) {
		u.step = (uint64_t)it + 1;
#if ROWSPLIT_MASK   /* dropout: step()'s masks */
		kern_job.mask = (KernMask){u.seed, u.step, 0};
#endif
		if ((size_t)me * kern_job.rows < TILE)
			step_rows((size_t)me, 0);
		barrier(procs);   /* every row's activations and deltas written */
		(void)loss(TILE, y);
		kern_job.mode = KERN_GRAD_UPDATE;
		kern_prepare(&kern_job.opt, &u, hparam_values);
		for (size_t q; (q = __atomic_fetch_add(&sh->next[it & 1], 1, __ATOMIC_ACQ_REL)) <
		               WEIGHT_UNITS;)
			weight_unit(q, 0);
		if (me == 0)
			__atomic_store_n(&sh->next[(it + 1) & 1], 0, __ATOMIC_RELAXED);
		barrier(procs);   /* every parameter updated */
	}
	t1 = now();
	if (me)
		return 0;
	while (wait(NULL) > 0)
		;
	printf("%d processes: %.3f ms a step, parameters %016llx\n", procs, (t1 - t0) / steps * 1e3,
	       fnv1a(params, sizeof(real) * N_PARAMS));
	return 0;
}
