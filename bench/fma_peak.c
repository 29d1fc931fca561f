/*
 * fma_peak.c - measures the single-core FMA peak (GFLOP/s) of this machine:
 * 24 independent vector FMA chains (enough to cover latency x pipes), float32
 * and float64, with the widest vectors the build allows (AVX-512, AVX2+FMA,
 * or scalar fallback).  Prints "peak_f32 GFLOPS" and "peak_f64 GFLOPS" lines
 * that bench scripts parse.  Vocabulary: one FMA = 2 FLOP per lane.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define CHAINS 24
#define ITERS 2000000L

#if defined(__AVX512F__)
#define LANES32 16
#define LANES64 8
typedef __m512 vf;
typedef __m512d vd;
#define VF_SET1 _mm512_set1_ps
#define VF_FMA _mm512_fmadd_ps
#define VF_ADD _mm512_add_ps
#define VF_SUM _mm512_reduce_add_ps
#define VD_SET1 _mm512_set1_pd
#define VD_FMA _mm512_fmadd_pd
#define VD_ADD _mm512_add_pd
#define VD_SUM _mm512_reduce_add_pd
#define ISA "avx512"
#elif defined(__AVX2__) && defined(__FMA__)
#define LANES32 8
#define LANES64 4
typedef __m256 vf;
typedef __m256d vd;
#define VF_SET1 _mm256_set1_ps
#define VF_FMA _mm256_fmadd_ps
#define VF_ADD _mm256_add_ps
static float VF_SUM(vf v) { float t[8]; int i; float s = 0; _mm256_storeu_ps(t, v); for (i = 0; i < 8; i++) s += t[i]; return s; }
#define VD_SET1 _mm256_set1_pd
#define VD_FMA _mm256_fmadd_pd
#define VD_ADD _mm256_add_pd
static double VD_SUM(vd v) { double t[4]; int i; double s = 0; _mm256_storeu_pd(t, v); for (i = 0; i < 4; i++) s += t[i]; return s; }
#define ISA "avx2"
#else
#define LANES32 1
#define LANES64 1
typedef float vf;
typedef double vd;
#define VF_SET1(x) (x)
#define VF_FMA(a, b, c) ((a) * (b) + (c))
#define VF_ADD(a, b) ((a) + (b))
#define VF_SUM(a) (a)
#define VD_SET1(x) (x)
#define VD_FMA(a, b, c) ((a) * (b) + (c))
#define VD_ADD(a, b) ((a) + (b))
#define VD_SUM(a) (a)
#define ISA "scalar"
#endif

/* One pass: every chain does ITERS dependent FMAs; the chains are independent. */
static double run_f32(float seed)
{
	vf acc[CHAINS], a = VF_SET1(0.999999f), b = VF_SET1(seed * 1e-7f);
	long it;
	int c;
	double t0, t1;
	for (c = 0; c < CHAINS; c++) acc[c] = VF_SET1((float)c);
	t0 = now();
	for (it = 0; it < ITERS; it++) {
#if defined(__GNUC__)
#pragma GCC unroll 24
#endif
		for (c = 0; c < CHAINS; c++) acc[c] = VF_FMA(acc[c], a, b);
	}
	t1 = now();
	for (c = 1; c < CHAINS; c++) acc[0] = VF_ADD(acc[0], acc[c]);
	if (VF_SUM(acc[0]) == 12345.0f) puts("");
	return 2.0 * LANES32 * CHAINS * (double)ITERS / (t1 - t0) * 1e-9;
}

static double run_f64(double seed)
{
	vd acc[CHAINS], a = VD_SET1(0.999999), b = VD_SET1(seed * 1e-7);
	long it;
	int c;
	double t0, t1;
	for (c = 0; c < CHAINS; c++) acc[c] = VD_SET1((double)c);
	t0 = now();
	for (it = 0; it < ITERS; it++) {
#if defined(__GNUC__)
#pragma GCC unroll 24
#endif
		for (c = 0; c < CHAINS; c++) acc[c] = VD_FMA(acc[c], a, b);
	}
	t1 = now();
	for (c = 1; c < CHAINS; c++) acc[0] = VD_ADD(acc[0], acc[c]);
	if (VD_SUM(acc[0]) == 12345.0) puts("");
	return 2.0 * LANES64 * CHAINS * (double)ITERS / (t1 - t0) * 1e-9;
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 5, r;
	double best32 = 0, best64 = 0, g;
	for (r = 0; r < reps; r++) {
		g = run_f32((float)r + 1.0f);
		if (g > best32) best32 = g;
		g = run_f64((double)r + 1.0);
		if (g > best64) best64 = g;
	}
	printf("isa %s\npeak_f32 %.1f GFLOPS\npeak_f64 %.1f GFLOPS\n", ISA, best32, best64);
	return 0;
}
