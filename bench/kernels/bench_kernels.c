/*
 * bench_kernels.c - microbenchmarks and bit-identity checks for the dense
 * kernels in dense_layer.h, against a naive baseline (plain loops, same
 * maths, same flags).  Synthetic data of MNIST's shape; no files read.
 *
 *   bench_kernels kern [reps]       GFLOP/s per kernel and shape, fast vs naive
 *   bench_kernels step THREADS      W1/W3/W4 steps and B=1 inference
 *   bench_kernels hash THREADS      FNV-1a of parameters after fixed training
 *                                   runs (compare across builds/threads)
 *
 * Build: see run.sh (NNCC_REAL_F64 for double, NNCC_NO_SIMD for the
 * fallback).  Vocabulary: B = tile batch, s = lr / batch.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nncc_kern.h"
#include "pool.h"

#define MIN2(a, b) ((a) < (b) ? (a) : (b))

/* ---- layer instantiations: what the emitter would write per layer ------ */
/* W1: softmax regression 784-10, full batch in tiles of 256. */
#define L sm_
#define IN 784
#define OUT 10
#define BMAX 256
#define ACT ACT_LINEAR
#define PACT ACT_LINEAR
#define FWD_MR 16
#define FWD_NB 1
#define DW_MR 28
#define DW_NB 1
#define DX_MR 8
#define DX_NB 2
#include "dense_layer.h"

/* W3: 784-50 sigmoid-10, batch 20. */
#define L a1_
#define IN 784
#define OUT 50
#define BMAX 20
#define ACT ACT_SIGMOID
#define PACT ACT_LINEAR
#define FWD_MR 10
#define FWD_NB 2
#define DW_MR 8
#define DW_NB 2
#define DX_MR 5
#define DX_NB 4
#include "dense_layer.h"

#define L a2_
#define IN 50
#define OUT 10
#define BMAX 20
#define ACT ACT_LINEAR
#define PACT ACT_SIGMOID
#define FWD_MR 20
#define FWD_NB 1
#define DW_MR 5
#define DW_NB 1
#define DX_MR 5
#define DX_NB 4
#include "dense_layer.h"

/* Single-image inference of W3's first layer: one row, all 4 vectors of OUT
 * in one tile (4 independent chains instead of 2: latency-bound at B=1). */
#define L i1_
#define IN 784
#define OUT 50
#define BMAX 1
#define ACT ACT_SIGMOID
#define PACT ACT_LINEAR
#define FWD_MR 1
#define FWD_NB 4
#define DW_MR 8
#define DW_NB 2
#define DX_MR 1
#define DX_NB 4
#define FORWARD_ONLY
#include "dense_layer.h"

/* W4: 784-800 sigmoid-10, batch 64. */
#define L b1_
#define IN 784
#define OUT 800
#define BMAX 64
#define ACT ACT_SIGMOID
#define PACT ACT_LINEAR
#define FWD_MR 8
#define FWD_NB 3
#define DW_MR 8
#define DW_NB 3
#define DX_MR 8
#define DX_NB 3
#include "dense_layer.h"

#define L b2_
#define IN 800
#define OUT 10
#define BMAX 64
#define ACT ACT_LINEAR
#define PACT ACT_SIGMOID
#define FWD_MR 16
#define FWD_NB 1
#define DW_MR 8
#define DW_NB 1
#define DX_MR 8
#define DX_NB 2
#include "dense_layer.h"

#define NIN 784
#define NCLS 10
#define NTRAIN 60000

/* ---- softmax + cross-entropy delta, per row (both paths: same scalar code) */
static void softmax_delta(real *Pr, real *D, real *loss, const real *Z, const int *y,
                          size_t r0, size_t r1)
{
	size_t r;
	int i;
	for (r = r0; r < r1; r++) {
		const real *z = Z + r * NCLS;
		real m = z[0], s = R(0.0), e[NCLS];
		for (i = 1; i < NCLS; i++) m = z[i] > m ? z[i] : m;
		for (i = 0; i < NCLS; i++) {
			e[i] = nncc_exp(z[i] - m);
			s = s + e[i];
		}
		for (i = 0; i < NCLS; i++) {
			real p = e[i] / s;
			Pr[r * NCLS + i] = p;
			D[r * NCLS + i] = p - (i == y[r] ? R(1.0) : R(0.0));
		}
		loss[r] = (real)log((double)s) - (z[y[r]] - m);
	}
}

/* ---- naive baseline: textbook loops, runtime-free constant sizes -------- */
static real naive_act(int act, real z)
{
#if defined(NNCC_REAL_F64)
	return act == ACT_SIGMOID ? 1.0 / (1.0 + exp(-z)) : z;
#else
	return act == ACT_SIGMOID ? 1.0f / (1.0f + expf(-z)) : z;
#endif
}

static void naive_forward(real *Y, const real *X, const real *P, size_t n, size_t in,
                          size_t out, int act)
{
	size_t b, i, k;
	for (b = 0; b < n; b++)
		for (i = 0; i < out; i++) {
			real z = P[in * out + i];
			for (k = 0; k < in; k++) z += X[b * in + k] * P[k * out + i];
			Y[b * out + i] = naive_act(act, z);
		}
}

static void naive_grads(real *G, const real *X, const real *D, size_t n, size_t in, size_t out)
{
	size_t b, i, j;
	for (j = 0; j < in; j++)
		for (i = 0; i < out; i++) {
			real g = 0;
			for (b = 0; b < n; b++) g += X[b * in + j] * D[b * out + i];
			G[j * out + i] = g;
		}
	for (i = 0; i < out; i++) {
		real g = 0;
		for (b = 0; b < n; b++) g += D[b * out + i];
		G[in * out + i] = g;
	}
}

static void naive_backdata(real *Dp, const real *Ap, const real *D, const real *P, size_t n,
                           size_t in, size_t out)
{
	size_t b, i, j;
	for (b = 0; b < n; b++)
		for (j = 0; j < in; j++) {
			real g = 0, y = Ap[b * in + j];
			for (i = 0; i < out; i++) g += D[b * out + i] * P[j * out + i];
			Dp[b * in + j] = y * (1 - y) * g;
		}
}

static void naive_update(real *P, const real *G, size_t np, real s)
{
	size_t p;
	for (p = 0; p < np; p++) P[p] -= s * G[p];
}

/* ---- utilities ----------------------------------------------------------- */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_state = 88172645463325252ull;
static double rnd(void)   /* uniform [-1, 1) */
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) * 0x1p-52 - 1.0;
}

static void *xalloc(size_t n)
{
	void *p = NULL;
	if (posix_memalign(&p, 64, (n + 63) / 64 * 64) != 0) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	memset(p, 0, n);
	return p;
}

static real *rvec(size_t n, double scale)
{
	real *v = xalloc(n * sizeof(real));
	size_t i;
	/* zero buffers draw nothing, so buffer sizes (tile choices) do not
	 * shift the random stream the parameters are drawn from */
	for (i = 0; scale != 0 && i < n; i++) v[i] = (real)(rnd() * scale);
	return v;
}

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	const unsigned char *c = p;
	size_t i;
	for (i = 0; i < n; i++) h = (h ^ c[i]) * 0x100000001b3ull;
	return h;
}

/* Best (minimum) time per call of STMT over `reps` timed batches, each batch
 * repeated until it lasts >= 1 ms.  The minimum filters out preemption: the
 * machine is shared, and a long sustained run measures the neighbours. */
#define TIMEIT(out_sec, reps, STMT)                                     \
	do {                                                                \
		double best_ = 1e30, t0_, t_;                                   \
		long it_, n_ = 1;                                               \
		int rep_;                                                       \
		for (;;) {                                                      \
			t0_ = now();                                                \
			for (it_ = 0; it_ < n_; it_++) { STMT; }                    \
			t_ = now() - t0_;                                           \
			if (t_ >= 1e-3) break;                                      \
			n_ *= 2;                                                    \
		}                                                               \
		for (rep_ = 0; rep_ < (reps); rep_++) {                         \
			t0_ = now();                                                \
			for (it_ = 0; it_ < n_; it_++) { STMT; }                    \
			t_ = (now() - t0_) / (double)n_;                            \
			if (t_ < best_) best_ = t_;                                 \
		}                                                               \
		(out_sec) = best_;                                              \
	} while (0)

/* ---- a two-layer network (IN-HID-10) trained with fused SGD ------------- */
typedef struct Net2 {
	size_t hid, bmax;
	real *P, *G;                 /* [W1 b1 W2 b2] */
	real *H, *Z, *Pr, *D2, *D1;  /* [B][HID], [B][10] x3, [B][HID] */
	real *loss;                  /* [B] */
	real *pk[POOL_MAX];          /* backward_data scratch per thread */
	const real *x;
	const int *y;
	size_t n;
	real s;
} Net2;

static void net2_init(Net2 *net, size_t hid, size_t bmax, size_t pack_len)
{
	size_t np = NIN * hid + hid + hid * NCLS + NCLS, t;
	net->hid = hid;
	net->bmax = bmax;
	net->P = rvec(np, 0.1);
	net->G = rvec(np, 0.0);
	net->H = rvec(bmax * hid, 0);
	net->Z = rvec(bmax * NCLS, 0);
	net->Pr = rvec(bmax * NCLS, 0);
	net->D2 = rvec(bmax * NCLS, 0);
	net->D1 = rvec(bmax * hid, 0);
	net->loss = rvec(bmax, 0);
	for (t = 0; t < POOL_MAX; t++) net->pk[t] = NULL;
	for (t = 0; t < 2; t++) net->pk[t] = rvec(pack_len, 0);
}

/* Rows of unit u when the tile is cut into units of q rows. */
static void unit_rows(size_t n, size_t q, size_t u, size_t *r0, size_t *r1)
{
	*r0 = MIN2(u * q, n);
	*r1 = MIN2(u * q + q, n);
}

#define CEIL(a, b) (((a) + (b) - 1) / (b))

/* The step in two phases: A over batch rows (forward, softmax, backward
 * data; no cross-row dependence), B over weight rows (fused dW + SGD).  One
 * barrier between them, one at the end. */
#define NET2_STEP(NAME, LA, LB, LI, HID, ROWS_PER_UNIT, TILES_PER_UNIT)                    \
	static void NAME##_phase_a(void *arg, size_t u, int tid)                               \
	{                                                                                      \
		Net2 *net = arg;                                                                   \
		size_t r0, r1;                                                                     \
		unit_rows(net->n, ROWS_PER_UNIT, u, &r0, &r1);                                     \
		LA##forward(net->H, net->x, net->P, r0, r1, 0, LA##fwd_nch);                       \
		LB##forward(net->Z, net->H, net->P + NIN * HID + HID, r0, r1, 0, LB##fwd_nch);     \
		softmax_delta(net->Pr, net->D2, net->loss, net->Z, net->y, r0, r1);                \
		LB##backward_data(net->D1, net->H, net->D2, net->P + NIN * HID + HID,              \
		                  net->pk[tid], r0, r1, 0, LB##dx_nch);                            \
	}                                                                                      \
	/* units: first LB's j tiles in groups, then LA's */                                   \
	static void NAME##_phase_b(void *arg, size_t u, int tid)                               \
	{                                                                                      \
		Net2 *net = arg;                                                                   \
		size_t nub = CEIL(LB##dw_njt, TILES_PER_UNIT), t0, t1;                             \
		(void)tid;                                                                         \
		if (u < nub) {                                                                     \
			t0 = u * TILES_PER_UNIT;                                                       \
			t1 = MIN2(t0 + TILES_PER_UNIT, LB##dw_njt);                                    \
			LB##backward_weights(GRAD_SGD, net->n, net->P + NIN * HID + HID,               \
			                     net->G + NIN * HID + HID, net->H, net->D2, net->s, t0,    \
			                     t1, 0, LB##dw_nch);                                       \
		} else {                                                                           \
			t0 = (u - nub) * TILES_PER_UNIT;                                               \
			t1 = MIN2(t0 + TILES_PER_UNIT, LA##dw_njt);                                    \
			LA##backward_weights(GRAD_SGD, net->n, net->P, net->G, net->x, net->D1,        \
			                     net->s, t0, t1, 0, LA##dw_nch);                           \
		}                                                                                  \
	}                                                                                      \
	static double NAME##_step(Pool *pool, Net2 *net, const real *x, const int *y,         \
	                          size_t n, real lr)                                           \
	{                                                                                      \
		double l = 0;                                                                      \
		size_t r;                                                                          \
		net->x = x;                                                                        \
		net->y = y;                                                                        \
		net->n = n;                                                                        \
		net->s = (real)((double)lr / (double)n);                                           \
		pool_run(pool, NAME##_phase_a, net, CEIL(n, ROWS_PER_UNIT));                       \
		pool_run(pool, NAME##_phase_b, net,                                                \
		         CEIL(LB##dw_njt, TILES_PER_UNIT) + CEIL(LA##dw_njt, TILES_PER_UNIT));     \
		for (r = 0; r < n; r++) l += (double)net->loss[r];                                 \
		return l;                                                                          \
	}                                                                                      \
	static int NAME##_infer1(Net2 *net, const real *x)                                     \
	{                                                                                      \
		int i, best = 0;                                                                   \
		LI##forward(net->H, x, net->P, 0, 1, 0, LI##fwd_nch);                              \
		LB##forward(net->Z, net->H, net->P + NIN * HID + HID, 0, 1, 0, LB##fwd_nch);       \
		for (i = 1; i < NCLS; i++) best = net->Z[i] > net->Z[best] ? i : best;             \
		return best;                                                                       \
	}

NET2_STEP(w3, a1_, a2_, i1_, 50, 10, 8)
NET2_STEP(w4, b1_, b2_, b1_, 800, 16, 8)

/* The same step with the naive kernels (single thread, separate update). */
static double net2_naive_step(Net2 *net, const real *x, const int *y, size_t n, real lr)
{
	size_t hid = net->hid, np = NIN * hid + hid + hid * NCLS + NCLS, r;
	real *P2 = net->P + NIN * hid + hid, *G2 = net->G + NIN * hid + hid;
	double l = 0;
	naive_forward(net->H, x, net->P, n, NIN, hid, ACT_SIGMOID);
	naive_forward(net->Z, net->H, P2, n, hid, NCLS, ACT_LINEAR);
	softmax_delta(net->Pr, net->D2, net->loss, net->Z, y, 0, n);
	naive_backdata(net->D1, net->H, net->D2, P2, n, hid, NCLS);
	naive_grads(G2, net->H, net->D2, n, hid, NCLS);
	naive_grads(net->G, x, net->D1, n, NIN, hid);
	naive_update(net->P, net->G, np, (real)((double)lr / (double)n));
	for (r = 0; r < n; r++) l += (double)net->loss[r];
	return l;
}

/* ---- W1: softmax regression, full batch in tiles of 256 ---------------- */
#ifndef SM_B
#define SM_B 256
#endif
typedef struct Net1 {
	real *P, *G, *Z, *Pr, *D, *loss; /* loss: [NTRAIN] */
	const real *x;
	const int *y;
	size_t row0, n;
	int first;
	real s;
} Net1;

#define W1_ROWS 32    /* rows per phase-A unit */
#define W1_TILES 4    /* j tiles per phase-B unit */
#define W1_PARAMS 1024 /* parameters per update unit */

static void w1_phase_a(void *arg, size_t u, int tid)
{
	Net1 *net = arg;
	size_t r0, r1;
	(void)tid;
	unit_rows(net->n, W1_ROWS, u, &r0, &r1);
	sm_forward(net->Z, net->x + net->row0 * NIN, net->P, r0, r1, 0, sm_fwd_nch);
	softmax_delta(net->Pr, net->D, net->loss + net->row0, net->Z, net->y + net->row0, r0, r1);
}

static void w1_phase_b(void *arg, size_t u, int tid)
{
	Net1 *net = arg;
	size_t t0 = u * W1_TILES, t1 = MIN2(t0 + W1_TILES, sm_dw_njt);
	(void)tid;
	sm_backward_weights(net->first ? GRAD_SET : GRAD_ACC, net->n, net->P, net->G,
	                    net->x + net->row0 * NIN, net->D, net->s, t0, t1, 0, sm_dw_nch);
}

static void w1_update(void *arg, size_t u, int tid)
{
	Net1 *net = arg;
	size_t lo = u * W1_PARAMS, hi = MIN2(lo + W1_PARAMS, NIN * NCLS + NCLS), p;
	(void)tid;
	for (p = lo; p < hi; p++) net->P[p] = FMA(-net->s, net->G[p], net->P[p]);
}

static double w1_step(Pool *pool, Net1 *net, const real *x, const int *y, size_t ntot, real lr)
{
	double l = 0;
	size_t r;
	net->x = x;
	net->y = y;
	net->s = (real)((double)lr / (double)ntot);
	for (net->row0 = 0; net->row0 < ntot; net->row0 += SM_B) {
		net->n = MIN2(SM_B, ntot - net->row0);
		net->first = net->row0 == 0;
		pool_run(pool, w1_phase_a, net, CEIL(net->n, W1_ROWS));
		pool_run(pool, w1_phase_b, net, CEIL(sm_dw_njt, W1_TILES));
	}
	pool_run(pool, w1_update, net, CEIL(NIN * NCLS + NCLS, W1_PARAMS));
	for (r = 0; r < ntot; r++) l += (double)net->loss[r];
	return l;
}

static double w1_naive_step(Net1 *net, const real *x, const int *y, size_t ntot, real lr)
{
	size_t r0, n, p, np = NIN * NCLS + NCLS;
	real *g = xalloc(np * sizeof(real));
	double l = 0;
	memset(net->G, 0, np * sizeof(real));
	for (r0 = 0; r0 < ntot; r0 += SM_B) {
		n = MIN2(SM_B, ntot - r0);
		naive_forward(net->Z, x + r0 * NIN, net->P, n, NIN, NCLS, ACT_LINEAR);
		softmax_delta(net->Pr, net->D, net->loss + r0, net->Z, y + r0, 0, n);
		naive_grads(g, x + r0 * NIN, net->D, n, NIN, NCLS);
		for (p = 0; p < np; p++) net->G[p] += g[p];
	}
	naive_update(net->P, net->G, np, (real)((double)lr / (double)ntot));
	for (r0 = 0; r0 < ntot; r0++) l += (double)net->loss[r0];
	free(g);
	return l;
}

static void net1_init(Net1 *net)
{
	net->P = rvec(NIN * NCLS + NCLS, 0.1);
	net->G = rvec(NIN * NCLS + NCLS, 0);
	net->Z = rvec(SM_B * NCLS, 0);
	net->Pr = rvec(SM_B * NCLS, 0);
	net->D = rvec(SM_B * NCLS, 0);
	net->loss = rvec(NTRAIN, 0);
}

/* ---- data ---------------------------------------------------------------- */
static real *data_x;
static int *data_y;

static void data_make(void)
{
	size_t i;
	data_x = xalloc((size_t)NTRAIN * NIN * sizeof(real));
	data_y = xalloc(NTRAIN * sizeof(int));
	for (i = 0; i < (size_t)NTRAIN * NIN; i++) data_x[i] = (real)rnd();
	for (i = 0; i < NTRAIN; i++) {
		/* a learnable label: sign pattern of a few pixels */
		const real *x = data_x + i * NIN;
		data_y[i] = (int)((x[100] > 0) + 2 * (x[300] > 0) + 4 * (x[500] > 0)) + (x[700] > 0.5);
	}
}

/* ---- modes ---------------------------------------------------------------- */
#if defined(NNCC_REAL_F64)
#define DTYPE "f64"
#else
#define DTYPE "f32"
#endif

static void report(const char *what, const char *kern, double flop, double t_fast, double t_naive)
{
	printf("%-26s %-10s %9.2f us %8.1f GF/s | naive %9.2f us %7.1f GF/s | x%.1f\n", what, kern,
	       t_fast * 1e6, flop / t_fast * 1e-9, t_naive * 1e6, flop / t_naive * 1e-9,
	       t_naive / t_fast);
}

static void mode_kern(int reps)
{
	double tf, tn;
	real *X = data_x, *pk = rvec(800 * 64 + 4096, 0);
	real *Y = rvec(256 * 800, 0), *D = rvec(256 * 800, 0.01), *Dp = rvec(256 * 800, 0);
	real *A = rvec(256 * 800, 1.0), *P = rvec(800 * 800 + 800, 0.1), *G = rvec(800 * 800 + 800, 0);
	real s = (real)1e-9;

#define KROW(name, LP, in, out, n, act)                                                     \
	TIMEIT(tf, reps, LP##forward(Y, X, P, 0, n, 0, LP##fwd_nch));                           \
	TIMEIT(tn, reps, naive_forward(Y, X, P, n, in, out, act));                              \
	report(name, "forward", 2.0 * n * in * out, tf, tn);                                    \
	TIMEIT(tf, reps, LP##backward_weights(GRAD_SGD, n, P, G, X, D, s, 0, LP##dw_njt, 0,     \
	                                      LP##dw_nch));                                     \
	TIMEIT(tn, reps, (naive_grads(G, X, D, n, in, out), naive_update(P, G, in * out + out, s))); \
	report(name, "dW+SGD", 2.0 * n * in * out + 2.0 * in * out, tf, tn);                    \
	TIMEIT(tf, reps, LP##backward_weights(GRAD_SET, n, P, G, X, D, s, 0, LP##dw_njt, 0,     \
	                                      LP##dw_nch));                                     \
	TIMEIT(tn, reps, naive_grads(G, X, D, n, in, out));                                     \
	report(name, "dW", 2.0 * n * in * out, tf, tn);                                         \
	TIMEIT(tf, reps, LP##backward_data(Dp, A, D, P, pk, 0, n, 0, LP##dx_nch));              \
	TIMEIT(tn, reps, naive_backdata(Dp, A, D, P, n, in, out));                              \
	report(name, "dX*f'", 2.0 * n * in * out, tf, tn);

	printf("# kernels, " DTYPE ", one thread (GF/s = useful FLOP / time)\n");
	KROW("784x10  B=256 (W1)", sm_, 784, 10, 256, ACT_LINEAR)
	KROW("784x50  B=20  (W3 L1)", a1_, 784, 50, 20, ACT_SIGMOID)
	KROW("50x10   B=20  (W3 L2)", a2_, 50, 10, 20, ACT_LINEAR)
	KROW("784x800 B=64  (W4 L1)", b1_, 784, 800, 64, ACT_SIGMOID)
	KROW("800x10  B=64  (W4 L2)", b2_, 800, 10, 64, ACT_LINEAR)
	KROW("784x50  B=1   (infer)", a1_, 784, 50, 1, ACT_SIGMOID)
	KROW("50x10   B=1   (infer)", a2_, 50, 10, 1, ACT_LINEAR)
#undef KROW
	free(pk); free(Y); free(D); free(Dp); free(A); free(P); free(G);
}

static double flop_net2(size_t hid, size_t b)
{
	/* forward 2*in*out per sample per layer; dW every layer; dX all but the
	 * first; the update 2*in*out per step (issue 6's definition). */
	double f1 = 2.0 * NIN * hid, f2 = 2.0 * hid * NCLS;
	return (double)b * (f1 + f2) + (double)b * (f1 + f2) + (double)b * f2 + (f1 + f2);
}

static void mode_step(int threads, int reps)
{
	Pool pool;
	Net2 w3, w4, w3n, w4n;
	Net1 w1, w1n;
	double t, tn, fl;
	size_t i, step;
	volatile int sink = 0;
	pool_init(&pool, threads);
	printf("# steps, " DTYPE ", %d thread(s)\n", pool.n);
	net2_init(&w3, 50, 20, 4096);
	net2_init(&w3n, 50, 20, 4096);
	net2_init(&w4, 800, 64, b2_pack_len);
	net2_init(&w4n, 800, 64, b2_pack_len);
	net1_init(&w1);
	net1_init(&w1n);

	step = 0;
	fl = flop_net2(50, 20);
	TIMEIT(t, reps, (w3_step(&pool, &w3, data_x + (step % 3000) * 20 * NIN, data_y + (step % 3000) * 20, 20, (real)0.3), step++));
	step = 0;
	TIMEIT(tn, reps, (net2_naive_step(&w3n, data_x + (step % 3000) * 20 * NIN, data_y + (step % 3000) * 20, 20, (real)0.3), step++));
	printf("W3 784-50-10 B=20 step     %8.2f us %7.1f GF/s  epoch(3000) %.3f s  30000 it %.2f s | naive %8.2f us %6.1f GF/s x%.1f\n",
	       t * 1e6, fl / t * 1e-9, t * 3000, t * 30000, tn * 1e6, fl / tn * 1e-9, tn / t);

	step = 0;
	fl = flop_net2(800, 64);
	TIMEIT(t, reps, (w4_step(&pool, &w4, data_x + (step % 937) * 64 * NIN, data_y + (step % 937) * 64, 64, (real)0.1), step++));
	step = 0;
	TIMEIT(tn, 1, (net2_naive_step(&w4n, data_x + (step % 937) * 64 * NIN, data_y + (step % 937) * 64, 64, (real)0.1), step++));
	printf("W4 784-800-10 B=64 step    %8.2f us %7.1f GF/s  epoch(937.5) %.3f s | naive %8.2f us %6.1f GF/s x%.1f\n",
	       t * 1e6, fl / t * 1e-9, t * 937.5, tn * 1e6, fl / tn * 1e-9, tn / t);

	fl = (double)NTRAIN * 2.0 * NIN * NCLS * 2 + 2.0 * NIN * NCLS;
	TIMEIT(t, reps > 3 ? 3 : reps, w1_step(&pool, &w1, data_x, data_y, NTRAIN, (real)0.3));
	TIMEIT(tn, 1, w1_naive_step(&w1n, data_x, data_y, NTRAIN, (real)0.3));
	printf("W1 784-10 full-batch step  %8.2f ms %7.1f GF/s | naive %8.2f ms %6.1f GF/s x%.1f\n",
	       t * 1e3, fl / t * 1e-9, tn * 1e3, fl / tn * 1e-9, tn / t);

	i = 0;
	TIMEIT(t, reps, (sink += w3_infer1(&w3, data_x + (i % 10000) * NIN), i++));
	printf("infer 784-50-10 B=1        %8.3f us/image (%.1f GF/s)\n", t * 1e6,
	       2.0 * (NIN * 50 + 50 * NCLS) / t * 1e-9);
	TIMEIT(t, reps, (sink += w4_infer1(&w4, data_x + (i % 10000) * NIN), i++));
	printf("infer 784-800-10 B=1       %8.3f us/image (%.1f GF/s)%s\n", t * 1e6,
	       2.0 * (NIN * 800 + 800 * NCLS) / t * 1e-9, sink == -1 ? " " : "");
	pool_fini(&pool);
}

static void mode_w1parts(int reps)
{
	Net1 w1;
	real *Zall = rvec((size_t)NTRAIN * NCLS, 0), *Dall = rvec((size_t)NTRAIN * NCLS, 0);
	double t;
	size_t r0;
	net1_init(&w1);
	TIMEIT(t, reps, for (r0 = 0; r0 < NTRAIN; r0 += SM_B) sm_forward(Zall + r0 * NCLS, data_x + r0 * NIN, w1.P, 0, MIN2(SM_B, NTRAIN - r0), 0, sm_fwd_nch));
	printf("W1 parts: forward over all tiles %.2f ms\n", t * 1e3);
	TIMEIT(t, reps, softmax_delta(Zall, Dall, w1.loss, Zall, data_y, 0, NTRAIN));
	printf("W1 parts: softmax_delta        %.2f ms\n", t * 1e3);
	TIMEIT(t, reps, for (r0 = 0; r0 < NTRAIN; r0 += SM_B) sm_backward_weights(GRAD_ACC, MIN2(SM_B, NTRAIN - r0), w1.P, w1.G, data_x + r0 * NIN, Dall + r0 * NCLS, 0, 0, sm_dw_njt, 0, sm_dw_nch));
	printf("W1 parts: dW over all tiles    %.2f ms\n", t * 1e3);
	TIMEIT(t, reps, for (r0 = 0; r0 < NTRAIN; r0 += SM_B) { sm_forward(Zall + r0 * NCLS, data_x + r0 * NIN, w1.P, 0, MIN2(SM_B, NTRAIN - r0), 0, sm_fwd_nch); sm_backward_weights(GRAD_ACC, MIN2(SM_B, NTRAIN - r0), w1.P, w1.G, data_x + r0 * NIN, Dall + r0 * NCLS, 0, 0, sm_dw_njt, 0, sm_dw_nch);});
	printf("W1 parts: fwd+dW per tile      %.2f ms\n", t * 1e3);
	{
		size_t rb;
		for (rb = 8; rb <= 64; rb *= 2) {
			TIMEIT(t, reps, for (r0 = 0; r0 < NTRAIN; r0 += rb) { size_t nn = MIN2(rb, NTRAIN - r0); sm_forward(Zall + r0 * NCLS, data_x + r0 * NIN, w1.P, 0, nn, 0, sm_fwd_nch); softmax_delta(Zall, Dall, w1.loss, Zall, data_y, r0, r0 + nn); sm_backward_weights(GRAD_ACC, nn, w1.P, w1.G, data_x + r0 * NIN, Dall + r0 * NCLS, 0, 0, sm_dw_njt, 0, sm_dw_nch);});
			printf("W1 parts: fused row blocks of %zu: %.2f ms\n", rb, t * 1e3);
		}
	}
}

static void mode_phases(int threads, int reps)
{
	Pool pool;
	Net2 w4, w3;
	double ta, tb;
	pool_init(&pool, threads);
	net2_init(&w4, 800, 64, b2_pack_len);
	net2_init(&w3, 50, 20, 4096);
	w4_step(&pool, &w4, data_x, data_y, 64, (real)0.1);
	w3_step(&pool, &w3, data_x, data_y, 20, (real)0.1);
	TIMEIT(ta, reps, pool_run(&pool, w4_phase_a, &w4, 4));
	TIMEIT(tb, reps, pool_run(&pool, w4_phase_b, &w4, CEIL(b2_dw_njt, 8) + CEIL(b1_dw_njt, 8)));
	printf("W4 phases, %d thread(s): A (rows) %.1f us, B (weights) %.1f us\n", pool.n, ta * 1e6, tb * 1e6);
	TIMEIT(ta, reps, pool_run(&pool, w3_phase_a, &w3, 2));
	TIMEIT(tb, reps, pool_run(&pool, w3_phase_b, &w3, CEIL(a2_dw_njt, 8) + CEIL(a1_dw_njt, 8)));
	printf("W3 phases, %d thread(s): A (rows) %.2f us, B (weights) %.2f us\n", pool.n, ta * 1e6, tb * 1e6);
	pool_fini(&pool);
}

static void mode_hash(int threads)
{
	Pool pool;
	Net2 w3, w4;
	Net1 w1;
	size_t st;
	double l3 = 0, l4 = 0, l1 = 0;
	pool_init(&pool, threads);
	net2_init(&w3, 50, 20, 4096);
	net2_init(&w4, 800, 64, b2_pack_len);
	net1_init(&w1);
	for (st = 0; st < 300; st++)
		l3 = w3_step(&pool, &w3, data_x + st * 20 * NIN, data_y + st * 20, st % 7 ? 20 : 13, (real)0.3);
	for (st = 0; st < 20; st++)
		l4 = w4_step(&pool, &w4, data_x + st * 64 * NIN, data_y + st * 64, st % 5 ? 64 : 37, (real)0.1);
	for (st = 0; st < 2; st++) l1 = w1_step(&pool, &w1, data_x, data_y, 10000 + 37 * st, (real)0.3);
	if (getenv("BK_DUMP")) {   /* parameters, for measuring differences between builds */
		FILE *f = fopen(getenv("BK_DUMP"), "wb");
		if (f) {
			fwrite(w3.P, sizeof(real), NIN * 50 + 50 + 510, f);
			fwrite(w4.P, sizeof(real), NIN * 800 + 800 + 8010, f);
			fwrite(w1.P, sizeof(real), 7850, f);
			fclose(f);
		}
	}
	printf("hash " DTYPE " w3 %016llx loss %.9g\n", (unsigned long long)fnv(w3.P, (NIN * 50 + 50 + 510) * sizeof(real), 14695981039346656037ull), l3);
	printf("hash " DTYPE " w4 %016llx loss %.9g\n", (unsigned long long)fnv(w4.P, (NIN * 800 + 800 + 8010) * sizeof(real), 14695981039346656037ull), l4);
	printf("hash " DTYPE " w1 %016llx loss %.9g\n", (unsigned long long)fnv(w1.P, 7850 * sizeof(real), 14695981039346656037ull), l1);
	pool_fini(&pool);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "kern";
	int arg = argc > 2 ? atoi(argv[2]) : 1;
	data_make();
	if (!strcmp(mode, "kern")) mode_kern(argc > 2 ? arg : 15);
	else if (!strcmp(mode, "step")) mode_step(arg, argc > 3 ? atoi(argv[3]) : 15);
	else if (!strcmp(mode, "hash")) mode_hash(arg);
	else if (!strcmp(mode, "phases")) mode_phases(arg, 15);
	else if (!strcmp(mode, "w1parts")) mode_w1parts(argc > 2 ? arg : 5);
	else {
		fprintf(stderr, "usage: bench_kernels kern|step|hash [n]\n");
		return 2;
	}
	return 0;
}
