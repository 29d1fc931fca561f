/*
 * nncc_simd.h - the numbers of a generated trainer that do not depend on
 * the instruction set: the `real` type and its maths functions, the
 * bit-exact exp, the activation functions of nncc_act.h in scalar form,
 * and which instruction sets the file is compiled for (KERN_DISPATCH,
 * KERN_ISA).  Network-independent: a generated file defines KERN_F32 or
 * KERN_F64 and includes it first; the vector layer of one instruction set
 * is nncc_vec.h, the kernels nncc_kern.h, the thread pool nncc_pool.h.
 * Shipped with the runtime (found through `nncc --cflags`).
 *
 * Floating-point policy (docs/performance.md): every multiply-add is an
 * explicit, exactly rounded FMA and nothing else may be contracted (build
 * with -ffp-contract=off, which `nncc --cflags` prints), so every vector
 * path and the portable fallback give the same bits, as do gcc and clang.
 * Vocabulary: VLW = the nominal vector width in reals (16 floats, 8
 * doubles) that every path keeps, so tile counts mean the same; ISA = an
 * instruction set the kernels are compiled for.  Everything here is
 * static: one copy per generated file.
 */
#ifndef NNCC_SIMD_H
#define NNCC_SIMD_H

#if !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* sysconf, pthreads (nncc_pool.h) */
#endif
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nncc_act.h"
#include "nncc_exp.h"

/* The instruction sets a copy of the kernels can be compiled for, from the
 * most portable up (docs/kernels.md#instruction-sets):
 *   generic  plain C, libm's fma
 *   fma      the same C compiled with FMA instructions (no libm call)
 *   avx2     AVX2 + FMA: each 16-float vector as two 256-bit halves
 *   avx512   AVX-512F + DQ: one 512-bit register per vector */
#define KERN_ISA_GENERIC 0
#define KERN_ISA_FMA 1
#define KERN_ISA_AVX2 2
#define KERN_ISA_AVX512 3
#define KERN_N_ISAS 4

/* Run-time dispatch (KERN_DISPATCH 1): a file built without -march, with
 * optimisation, for an x86-64 compiler that has GNU C and __FILE_NAME__
 * (gcc >= 12, clang) compiles its kernel section once per instruction set
 * and picks one copy when it is loaded (nncc_pool.h, kern_isa_pick).
 * Otherwise there is one copy, for the instruction set the compiler
 * targets (-march=native on an AVX-512 machine: avx512).  Not at -O0: the
 * kernels rely on inlining and constant folding to shed the tiles' unused
 * rows, and four unfolded copies take gigabytes to compile.
 * -DKERN_NO_DISPATCH keeps one copy; -DKERN_NO_SIMD also makes it the
 * portable one. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__FILE_NAME__) && \
    defined(__OPTIMIZE__) && !defined(__AVX2__) && !defined(__FMA__) && \
    !defined(__AVX512F__) && !defined(KERN_NO_DISPATCH) && !defined(KERN_NO_SIMD)
#define KERN_DISPATCH 1
#include <immintrin.h>
#else
#define KERN_DISPATCH 0
#if defined(__AVX512F__) && !defined(KERN_NO_SIMD)
#define KERN_ISA KERN_ISA_AVX512
#include <immintrin.h>
#elif defined(__AVX2__) && defined(__FMA__) && !defined(KERN_NO_SIMD)
#define KERN_ISA KERN_ISA_AVX2
#include <immintrin.h>
#elif defined(__FMA__)
#define KERN_ISA KERN_ISA_FMA
#else
#define KERN_ISA KERN_ISA_GENERIC
#endif
#endif

/* The name of a function of the kernel section in the copy being compiled:
 * KERN_ISA_NAME(kern_fwd) is kern_fwd_avx2 in the avx2 copy (KERN_SFX, set
 * by nncc_vec.h), plain kern_fwd when there is one copy. */
#define KERN_PASTE2(a, b) a##b
#define KERN_PASTE(a, b) KERN_PASTE2(a, b)
#define KERN_ISA_NAME(name) KERN_PASTE(name, KERN_SFX)

/* KERN_INLINE: the kernels, specialised into each per-layer function.
 * KERN_LAYER: the per-layer functions themselves stay functions: inlined
 * into a pass with the other layers, gcc 12 spills the register tiles
 * (784x50 forward: 30% slower). */
#if defined(__GNUC__)
#define KERN_LAYER static __attribute__((noinline))
#define KERN_INLINE static inline __attribute__((always_inline, unused))
#define KERN_UNROLL _Pragma("GCC unroll 64")
#else
#define KERN_LAYER static
#define KERN_INLINE static inline
#define KERN_UNROLL
#endif

#if defined(KERN_F32) == defined(KERN_F64)
#error "define exactly one of KERN_F32 and KERN_F64 before including nncc_simd.h"
#endif

#if defined(KERN_F32)
/* float: the type, its maths functions, the exp constants. */
typedef float real;
#define LOG logf
#define FMA fmaf
#define SQRT sqrtf   /* correctly rounded, as the vector square root */
#define R(c) c##f
typedef uint32_t ureal;     /* the bits of a real */
#define EXP_NPOLY NNCC_EXP_NPOLY_F32
#define EXP_SHIFT NNCC_EXP_SHIFT_F32
#define EXP_BIAS NNCC_EXP_BIAS_F32
#define KERN_EXP_C(name, f32, f64) static const float EXP_##name = f32;
static const float exp_poly[EXP_NPOLY] = NNCC_EXP_POLY_F32;
#define VLW 16              /* nominal vector width: tile counts mean the same on every path */
#else
/* double: the type, its maths functions, the exp constants. */
typedef double real;
#define LOG log
#define FMA fma
#define SQRT sqrt    /* correctly rounded, as the vector square root */
#define R(c) c
typedef uint64_t ureal;     /* the bits of a real */
#define EXP_NPOLY NNCC_EXP_NPOLY_F64
#define EXP_SHIFT NNCC_EXP_SHIFT_F64
#define EXP_BIAS NNCC_EXP_BIAS_F64
#define KERN_EXP_C(name, f32, f64) static const double EXP_##name = f64;
static const double exp_poly[EXP_NPOLY] = NNCC_EXP_POLY_F64;
#define VLW 8               /* nominal vector width: tile counts mean the same on every path */
#endif

/* exp is kern_exp and tanh kern_tanh (below): the same bits from the
 * vector and the scalar code, on every machine, and from exported inference
 * code (the constants: nncc_exp.h). */
NNCC_EXP_CONSTANTS(KERN_EXP_C)
#undef KERN_EXP_C
#define EXP kern_exp
#define TANH kern_tanh

/* exp's range reduction: n = round(x / ln 2) by the magic-number addition,
 * r = x - n ln 2 in two FMAs (Cody-Waite), |r| <= ln 2 / 2; returns r and
 * sets *s = 2^n, built from the bits of the rounded sum.  x must lie in
 * [EXP_LO, EXP_HI] (or be NaN). */
static inline real kern_exp_reduce(real x, real *s)
{
	real t, nf, r;
	ureal u, um;
	const real magic = EXP_MAGIC;
	t = FMA(x, EXP_LOG2E, EXP_MAGIC);
	nf = t - EXP_MAGIC;
	r = FMA(-nf, EXP_LN2HI, x);
	r = FMA(-nf, EXP_LN2LO, r);
	memcpy(&u, &t, sizeof u);
	memcpy(&um, &magic, sizeof um);
	u = (ureal)((u - um + (ureal)EXP_BIAS) << EXP_SHIFT);
	memcpy(s, &u, sizeof u);
	return r;
}

/* exp(x) as one fixed sequence of IEEE operations: x clamped to [EXP_LO,
 * EXP_HI] (NaN passes), reduced (kern_exp_reduce), exp(r) by a Taylor
 * polynomial in Horner form, times 2^n.  The scalar and the vector version
 * perform the same operations in the same order, so they agree bit for
 * bit; error < 1 ulp (measured over [-87, 88] in float). */
static inline real kern_exp(real x)
{
	real r, s, p;
	int k;
	x = EXP_LO > x ? EXP_LO : x;   /* the operand order of V_MAX(lo, x) */
	x = EXP_HI < x ? EXP_HI : x;
	r = kern_exp_reduce(x, &s);
	p = exp_poly[0];
	for (k = 1; k < EXP_NPOLY; k++)
		p = FMA(p, r, exp_poly[k]);
	return p * s;
}

/* tanh(x) = e / (e + 2) with e = expm1(2|x|), negated for x < 0.  expm1
 * from exp's pieces without cancellation: v = 2|x| clamped to EXP_TANH_HI
 * (where the quotient is 1 in either type), reduced to 2^n and r, q =
 * exp(r) - 1 = r h(r) with h the exp polynomial less its constant term
 * (when n = 0, r = v exactly), e = 2^n q + (2^n - 1) in one FMA (2^n - 1 is
 * exact for the n that matter).  Error < 3.3 ulp (measured: every third
 * float, 2e8 doubles), tanh(-0) = +0, NaN passes; the vector form performs
 * the same operations.  libm's tanh differs between C libraries in its
 * last bit, so it has no place in code that promises the same bits
 * everywhere. */
static inline real kern_tanh(real x)
{
	real a, v, r, s, h, e, y;
	int k;
	a = x < 0 ? 0 - x : x;
	v = a + a;
	v = EXP_TANH_HI < v ? EXP_TANH_HI : v;
	r = kern_exp_reduce(v, &s);
	h = exp_poly[0];
	for (k = 1; k < EXP_NPOLY - 1; k++)
		h = FMA(h, r, exp_poly[k]);
	e = FMA(s, h * r, s - 1);
	y = e / (e + 2);
	return x < 0 ? 0 - y : y;
}

/* ---- The activations of nncc_act.h: act_NAME(x) = f(x) and
 * act_NAME_deriv(y) = f'(x) in terms of y = f(x); their ids ACT_ID, which
 * the kernels take as constants, and act_fwd/act_deriv by id. */
#define KERN_ACT_FN(ID, name, fwd, deriv, gain)                                    \
	static inline real act_##name(real x) { return fwd; }                    \
	static inline real act_##name##_deriv(real y) { (void)y; return deriv; }
NNCC_ACTIVATIONS(KERN_ACT_FN)
#undef KERN_ACT_FN

enum {
#define KERN_ACT_ID(ID, name, fwd, deriv, gain) ACT_##ID,
	NNCC_ACTIVATIONS(KERN_ACT_ID)
#undef KERN_ACT_ID
	ACT_COUNT
};

static inline real act_fwd(int act, real x)
{
	switch (act) {
#define KERN_ACT_CASE(ID, name, fwd, deriv, gain) case ACT_##ID: return act_##name(x);
	NNCC_ACTIVATIONS(KERN_ACT_CASE)
#undef KERN_ACT_CASE
	default: return x;
	}
}

static inline real act_deriv(int act, real y)
{
	switch (act) {
#define KERN_ACT_CASE(ID, name, fwd, deriv, gain) case ACT_##ID: return act_##name##_deriv(y);
	NNCC_ACTIVATIONS(KERN_ACT_CASE)
#undef KERN_ACT_CASE
	default: return y;
	}
}

/* ---- For the optimizers (templates/opt_*.c): the batch-mean gradient of
 * a parameter p from the kernels' gradient sum g, with PyTorch's L2 weight
 * decay, g / B + wd * p.  inv = 1 / B.  No branch on wd (a branch in the
 * kernels' unrolled epilogues doubles them): with wd = 0 the FMA adds an
 * exact 0. */
static inline real opt_mean_s(real g, real inv, real wd, real p)
{
	return FMA(wd, p, g * inv);
}

/* opt_vector's case c when it is not a constant: in the unfused update, and
 * on a step for which opt_case names no fused copy (nncc_pool.h). */
#define KERN_CASE_ANY (-1)

#endif
