/*
 * tile_sweep.c - times ONE kernel of dense_layer.h for one shape and tile, to
 * choose tiles per shape (the emitter's rule in README.md came from these).
 * Everything is a -D: KK (0 forward, 1 dW + fused SGD, 2 backward data),
 * KIN, KOUT, KB (batch), KMR, KNB (tile, used for all three kernels).
 * Prints GF/s = 2*KB*KIN*KOUT / time, minimum over 40 timed calls.
 * Example: cc -O2 -march=native -ffp-contract=off -DKK=1 -DKIN=784 -DKOUT=50 \
 *          -DKB=20 -DKMR=8 -DKNB=2 tile_sweep.c -lm   (see sweep.sh)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nncc_kern.h"

#define L t_
#define IN KIN
#define OUT KOUT
#define BMAX KB
#define ACT ACT_SIGMOID
#define PACT ACT_SIGMOID
#define FWD_MR KMR
#define FWD_NB KNB
#define DW_MR KMR
#define DW_NB KNB
#define DX_MR KMR
#define DX_NB KNB
#include "dense_layer.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static real *buf(size_t n, double scale)
{
	void *v = NULL;
	size_t i;
	real *p;
	if (posix_memalign(&v, 64, n * sizeof(real)) != 0) exit(1);
	p = v;
	for (i = 0; i < n; i++) p[i] = (real)(((double)rand() / RAND_MAX * 2 - 1) * scale);
	return p;
}

int main(void)
{
	real *X = buf((size_t)KB * KIN, 1), *P = buf((size_t)KIN * KOUT + KOUT, 0.1);
	real *G = buf((size_t)KIN * KOUT + KOUT, 0), *Y = buf((size_t)KB * KIN + KB * KOUT, 0);
	real *D = buf((size_t)KB * KOUT, 0.01), *pk = buf(t_pack_len, 0);
	int it, rep, n = (int)(2e6 / (2.0 * KB * KIN * KOUT)) + 1;
	double t0, t, best = 1e9;
	for (rep = 0; rep < 40; rep++) {
		t0 = now();
		for (it = 0; it < n; it++) {
#if KK == 0
			t_forward(Y, X, P, 0, KB, 0, t_fwd_nch);
#elif KK == 1
			t_backward_weights(GRAD_SGD, KB, P, G, X, D, (real)1e-9, 0, t_dw_njt, 0, t_dw_nch);
#else
			t_backward_data(Y, X, D, P, pk, 0, KB, 0, t_dx_nch);
#endif
		}
		t = now() - t0;
		if (t < best) best = t;
	}
	if (best < 0) {   /* never: keeps every kernel and buffer referenced */
		t_forward(Y, X, P, 0, KB, 0, t_fwd_nch);
		t_backward_weights(GRAD_SET, KB, P, G, X, D, 0, 0, t_dw_njt, 0, t_dw_nch);
		t_backward_data(Y, X, D, P, pk, 0, KB, 0, t_dx_nch);
	}
	printf("%s %dx%d B=%d MR=%d NB=%d: %.1f GF/s\n", KK == 0 ? "fwd" : KK == 1 ? "dW+SGD" : "dX",
	       KIN, KOUT, KB, KMR, KNB, 2.0 * KB * KIN * KOUT * n / best * 1e-9);
	return Y[5] == (real)1234;
}
