/*
 * rng.c - the runtime's only source of randomness: xoshiro256** (Blackman &
 * Vigna), its 256-bit state filled by splitmix64 from a 64-bit seed.  Every
 * function is a pure function of the state, so a seed reproduces weights and
 * batch orders bit-for-bit on every host.  No global state.
 *
 * normal() is the Box-Muller transform returning only the cosine branch: it
 * consumes exactly two uniforms per call and keeps no spare between calls.
 */
#include <math.h>

#include "nncc.h"

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* splitmix64 as in the xoshiro reference code; advances *x. */
static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void nncc_rng_seed(nncc_rng_t *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
	/* splitmix64 is a bijection of distinct counters, so the four words
	 * cannot all be zero (the one state xoshiro must avoid). */
}

uint64_t nncc_rng_next(nncc_rng_t *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* The top 53 bits scaled by 2^-53: every value k/2^53, k in [0, 2^53). */
double nncc_rng_uniform(nncc_rng_t *r)
{
	return (double)(nncc_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Box-Muller: u1 in (0, 1] so log() is finite, u2 in [0, 1);
 * z = sqrt(-2 ln u1) * cos(2 pi u2). */
double nncc_rng_normal(nncc_rng_t *r)
{
	const double two_pi = 6.283185307179586476925286766559;
	double u1 = 1.0 - nncc_rng_uniform(r);
	double u2 = nncc_rng_uniform(r);
	return sqrt(-2.0 * log(u1)) * cos(two_pi * u2);
}

/* Unbiased: draws below the largest multiple of n that fits in 2^64 are
 * accepted and reduced mod n; the rest (fewer than n of 2^64) are redrawn.
 * n == 0 returns 0. */
size_t nncc_rng_below(nncc_rng_t *r, size_t n)
{
	uint64_t un = (uint64_t)n;
	uint64_t threshold, x;

	if (n == 0)
		return 0;
	threshold = (0 - un) % un; /* 2^64 mod n */
	do
		x = nncc_rng_next(r);
	while (x < threshold);
	return (size_t)(x % un);
}

/* Fisher-Yates, from the back: idx[i] swaps with idx[below(i + 1)]. */
void nncc_rng_shuffle(nncc_rng_t *r, size_t *idx, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = nncc_rng_below(r, i);
		size_t t = idx[i - 1];
		idx[i - 1] = idx[j];
		idx[j] = t;
	}
}
