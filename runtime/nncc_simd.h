/*
 * nncc_simd.h - the numbers of a generated trainer: the `real` type and its
 * maths functions, the vector layer (AVX-512 intrinsics behind `#if
 * KERN_SIMD`, nothing otherwise), the bit-exact exp, and the activation
 * functions of nncc_act.h in scalar and vector form.  Network-independent:
 * a generated file defines KERN_F32 or KERN_F64 and includes it first;
 * nncc_kern.h (the kernels and the thread pool) comes after the file's
 * optimizer.  Shipped with the runtime (found through `nncc --cflags`).
 *
 * Floating-point policy (docs/performance.md): every multiply-add is an
 * explicit, exactly rounded FMA and nothing else may be contracted (build
 * with -ffp-contract=off, which `nncc --cflags` prints), so the vector path
 * and the portable fallback give the same bits, as do gcc and clang.
 * Vocabulary: VL = reals per vector (the fallback keeps VLW, the nominal
 * width, so tile counts mean the same), vreal/vmask = a vector and its lane
 * mask.  Everything here is static: one copy per generated file.
 */
#ifndef NNCC_SIMD_H
#define NNCC_SIMD_H

#if !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* sysconf, pthreads (nncc_kern.h) */
#endif
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nncc_act.h"

/* The vector path needs AVX-512F (e.g. -march=native on a recent x86-64);
 * everything else builds the portable fallback, which gives the same bits.
 * -DKERN_NO_SIMD forces the fallback. */
#if defined(__AVX512F__) && !defined(KERN_NO_SIMD)
#define KERN_SIMD 1
#include <immintrin.h>
#else
#define KERN_SIMD 0
#endif

/* KERN_INLINE: the kernels, specialised into each per-layer function.
 * KERN_LAYER: the per-layer functions themselves stay functions: inlined
 * into a pass with the other layers, gcc 12 spills the register tiles
 * (784x50 forward: 30% slower). */
#if defined(__GNUC__)
#define KERN_LAYER static __attribute__((noinline))
#define KERN_INLINE static inline __attribute__((always_inline, unused))
#define KERN_UNROLL _Pragma("GCC unroll 64")
/* Pins a loaded vector in a register: without it gcc re-reads the vector as
 * a memory operand of every FMA (a split load per FMA on rows of 50 floats:
 * 2x slower).  Emits no instruction. */
#define KERN_REG(v) __asm__("" : "+v"(v))
#else
#define KERN_LAYER static
#define KERN_INLINE static inline
#define KERN_UNROLL
#define KERN_REG(v) ((void)0)
#endif

#if defined(KERN_F32) == defined(KERN_F64)
#error "define exactly one of KERN_F32 and KERN_F64 before including nncc_simd.h"
#endif

#if defined(KERN_F32)
/* float: the type, its maths functions, the exp constants and, on the
 * vector path, 16 floats per vector. */
typedef float real;
#define TANH tanhf
#define LOG logf
#define FMA fmaf
#define SQRT sqrtf   /* correctly rounded, as the vector square root */
#define R(c) c##f
typedef uint32_t ureal;     /* the bits of a real */
#define EXP_LO (-87.0f)     /* exp(EXP_LO) is normal */
#define EXP_HI 88.0f        /* exp(EXP_HI) is finite */
#define EXP_SHIFT 23
#define EXP_BIAS 127
#define EXP_MAGIC 0x1.8p23f /* adding it rounds to an integer */
#define EXP_LOG2E 0x1.715476p0f
#define EXP_LN2HI 0x1.62e4p-1f /* 16 significant bits: n * EXP_LN2HI is exact */
#define EXP_LN2LO 0x1.7f7d1cp-20f
#define EXP_NPOLY 8
static const float exp_poly[EXP_NPOLY] = {
	1.0f / 5040.0f, 1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f,
	1.0f / 6.0f, 0.5f, 1.0f, 1.0f};
#define VLW 16              /* nominal vector width: tile counts mean the same in the fallback */
#if KERN_SIMD
#define VL 16
typedef __m512 vreal;
typedef __mmask16 vmask;
#define V_ZERO() _mm512_setzero_ps()
#define V_SET1(x) _mm512_set1_ps(x)
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_MLOAD(m, p) _mm512_maskz_loadu_ps((m), (p))
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_MSTORE(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))   /* a*b + c, one rounding */
#define V_FNMA(a, b, c) _mm512_fnmadd_ps((a), (b), (c)) /* c - a*b, one rounding */
#define V_ADD(a, b) _mm512_add_ps((a), (b))
#define V_SUB(a, b) _mm512_sub_ps((a), (b))
#define V_MUL(a, b) _mm512_mul_ps((a), (b))
#define V_DIV(a, b) _mm512_div_ps((a), (b))
#define V_SQRT(a) _mm512_sqrt_ps(a)
#define V_MAX(a, b) _mm512_max_ps((a), (b))   /* a > b ? a : b */
#define V_MIN(a, b) _mm512_min_ps((a), (b))   /* a < b ? a : b */
#define V_GT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_GT_OQ)
#define V_BLEND(m, a, b) _mm512_mask_blend_ps((m), (a), (b)) /* m ? b : a */
#define V_CASTI(v) _mm512_castps_si512(v)
#define V_CASTR(i) _mm512_castsi512_ps(i)
#define VI_SUB(a, b) _mm512_sub_epi32((a), (b))
#define VI_ADD(a, b) _mm512_add_epi32((a), (b))
#define VI_SET1(x) _mm512_set1_epi32((int)(x))
#define VI_SHL(a, n) _mm512_slli_epi32((a), (n))
#define VI_IOTA_STRIDE(s) _mm512_setr_epi32(0, (s), 2 * (s), 3 * (s), 4 * (s), 5 * (s), \
	6 * (s), 7 * (s), 8 * (s), 9 * (s), 10 * (s), 11 * (s), 12 * (s), 13 * (s), 14 * (s), 15 * (s))
#define V_MGATHER(m, idx, p) _mm512_mask_i32gather_ps(V_ZERO(), (m), (idx), (p), 4)
#define V_MSCATTER(p, m, idx, v) _mm512_mask_i32scatter_ps((p), (m), (idx), (v), 4)
typedef __m512i vindex;
#endif
#else
/* double: the type, its maths functions, the exp constants and, on the
 * vector path, 8 doubles per vector. */
typedef double real;
#define TANH tanh
#define LOG log
#define FMA fma
#define SQRT sqrt    /* correctly rounded, as the vector square root */
#define R(c) c
typedef uint64_t ureal;     /* the bits of a real */
#define EXP_LO (-708.0)     /* exp(EXP_LO) is normal */
#define EXP_HI 709.0        /* exp(EXP_HI) is finite */
#define EXP_SHIFT 52
#define EXP_BIAS 1023
#define EXP_MAGIC 0x1.8p52  /* adding it rounds to an integer */
#define EXP_LOG2E 0x1.71547652b82fep0
#define EXP_LN2HI 0x1.62e42fefa39efp-1
#define EXP_LN2LO 0x1.abc9e3b39803fp-56
#define EXP_NPOLY 14
static const double exp_poly[EXP_NPOLY] = {
	1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
	1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0,
	1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0};
#define VLW 8               /* nominal vector width: tile counts mean the same in the fallback */
#if KERN_SIMD
#define VL 8
typedef __m512d vreal;
typedef __mmask8 vmask;
#define V_ZERO() _mm512_setzero_pd()
#define V_SET1(x) _mm512_set1_pd(x)
#define V_LOAD(p) _mm512_loadu_pd(p)
#define V_MLOAD(m, p) _mm512_maskz_loadu_pd((m), (p))
#define V_STORE(p, v) _mm512_storeu_pd((p), (v))
#define V_MSTORE(p, m, v) _mm512_mask_storeu_pd((p), (m), (v))
#define V_FMA(a, b, c) _mm512_fmadd_pd((a), (b), (c))   /* a*b + c, one rounding */
#define V_FNMA(a, b, c) _mm512_fnmadd_pd((a), (b), (c)) /* c - a*b, one rounding */
#define V_ADD(a, b) _mm512_add_pd((a), (b))
#define V_SUB(a, b) _mm512_sub_pd((a), (b))
#define V_MUL(a, b) _mm512_mul_pd((a), (b))
#define V_DIV(a, b) _mm512_div_pd((a), (b))
#define V_SQRT(a) _mm512_sqrt_pd(a)
#define V_MAX(a, b) _mm512_max_pd((a), (b))   /* a > b ? a : b */
#define V_MIN(a, b) _mm512_min_pd((a), (b))   /* a < b ? a : b */
#define V_GT(a, b) _mm512_cmp_pd_mask((a), (b), _CMP_GT_OQ)
#define V_BLEND(m, a, b) _mm512_mask_blend_pd((m), (a), (b)) /* m ? b : a */
#define V_CASTI(v) _mm512_castpd_si512(v)
#define V_CASTR(i) _mm512_castsi512_pd(i)
#define VI_SUB(a, b) _mm512_sub_epi64((a), (b))
#define VI_ADD(a, b) _mm512_add_epi64((a), (b))
#define VI_SET1(x) _mm512_set1_epi64(x)
#define VI_SHL(a, n) _mm512_slli_epi64((a), (n))
#define VI_IOTA_STRIDE(s) _mm512_setr_epi64((long long)0, (s), 2 * (s), 3 * (s), 4 * (s), \
	5 * (s), 6 * (s), 7 * (s))
#define V_MGATHER(m, idx, p) _mm512_mask_i64gather_pd(V_ZERO(), (m), (idx), (p), 8)
#define V_MSCATTER(p, m, idx, v) _mm512_mask_i64scatter_pd((p), (m), (idx), (v), 8)
typedef __m512i vindex;
#endif
#endif

/* exp is kern_exp (below): the same bits from the vector and the scalar code. */
#define EXP kern_exp

/* exp(x) as one fixed sequence of IEEE operations: x clamped to [EXP_LO,
 * EXP_HI] (NaN passes), n = round(x / ln 2) by the magic-number addition,
 * r = x - n ln 2 in two FMAs (Cody-Waite), exp(r) by a Taylor polynomial in
 * Horner form, times 2^n built from bits.  The scalar and the vector version
 * perform the same operations in the same order, so they agree bit for bit;
 * error < 1 ulp (measured over [-87, 88] in float). */
static inline real kern_exp(real x)
{
	real t, nf, r, p, s;
	ureal u, um;
	const real magic = EXP_MAGIC;
	int k;
	x = EXP_LO > x ? EXP_LO : x;   /* the operand order of V_MAX(lo, x) */
	x = EXP_HI < x ? EXP_HI : x;
	t = FMA(x, EXP_LOG2E, EXP_MAGIC);
	nf = t - EXP_MAGIC;
	r = FMA(-nf, EXP_LN2HI, x);
	r = FMA(-nf, EXP_LN2LO, r);
	p = exp_poly[0];
	for (k = 1; k < EXP_NPOLY; k++)
		p = FMA(p, r, exp_poly[k]);
	memcpy(&u, &t, sizeof u);
	memcpy(&um, &magic, sizeof um);
	u = (ureal)((u - um + (ureal)EXP_BIAS) << EXP_SHIFT);
	memcpy(&s, &u, sizeof s);
	return p * s;
}

#if KERN_SIMD
KERN_INLINE vreal v_exp(vreal x)
{
	vreal t, nf, r, p, s;
	int k;
	x = V_MAX(V_SET1(EXP_LO), x);
	x = V_MIN(V_SET1(EXP_HI), x);
	t = V_FMA(x, V_SET1(EXP_LOG2E), V_SET1(EXP_MAGIC));
	nf = V_SUB(t, V_SET1(EXP_MAGIC));
	r = V_FNMA(nf, V_SET1(EXP_LN2HI), x);
	r = V_FNMA(nf, V_SET1(EXP_LN2LO), r);
	p = V_SET1(exp_poly[0]);
	KERN_UNROLL
	for (k = 1; k < EXP_NPOLY; k++)
		p = V_FMA(p, r, V_SET1(exp_poly[k]));
	s = V_CASTR(VI_SHL(VI_ADD(VI_SUB(V_CASTI(t), V_CASTI(V_SET1(EXP_MAGIC))),
	                          VI_SET1(EXP_BIAS)), EXP_SHIFT));
	return V_MUL(p, s);
}
#endif

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

#if KERN_SIMD
/* The activations on a vector, the same operations in the same order as
 * act_fwd()/act_deriv() above (the scalar ones from nncc's activation
 * table); any activation without a vector form here runs lane by lane
 * through the scalar function, which is also bit-identical. */
KERN_INLINE vreal v_act_fwd(int act, vreal z)
{
	real t[VL];
	int l;
	switch (act) {
	case ACT_LINEAR:
		return z;
	case ACT_SIGMOID:   /* 1 / (1 + exp(-x)) */
		return V_DIV(V_SET1(R(1.0)), V_ADD(V_SET1(R(1.0)), v_exp(V_SUB(V_ZERO(), z))));
	case ACT_RELU:      /* x > 0 ? x : 0 (NaN gives 0, as the scalar one) */
		return V_BLEND(V_GT(z, V_ZERO()), V_ZERO(), z);
	default:
		V_STORE(t, z);
		for (l = 0; l < VL; l++)
			t[l] = act_fwd(act, t[l]);
		return V_LOAD(t);
	}
}

/* f'(y) * g, f' written in terms of the output y as in act_deriv(). */
KERN_INLINE vreal v_act_deriv_mul(int act, vreal y, vreal g)
{
	real t[VL];
	int l;
	switch (act) {
	case ACT_LINEAR:    /* 1 * g == g */
		return g;
	case ACT_SIGMOID:   /* y * (1 - y) */
		return V_MUL(V_MUL(y, V_SUB(V_SET1(R(1.0)), y)), g);
	case ACT_TANH:      /* FMA(-y, y, 1) */
		return V_MUL(V_FNMA(y, y, V_SET1(R(1.0))), g);
	case ACT_RELU:      /* y > 0 ? 1 : 0 */
		return V_MUL(V_BLEND(V_GT(y, V_ZERO()), V_ZERO(), V_SET1(R(1.0))), g);
	default:
		V_STORE(t, y);
		for (l = 0; l < VL; l++)
			t[l] = act_deriv(act, t[l]);
		return V_MUL(V_LOAD(t), g);
	}
}
#endif

/* ---- For the optimizers (templates/opt_*.c): the batch-mean gradient of
 * a parameter p from the kernels' gradient sum g, with PyTorch's L2 weight
 * decay, g / B + wd * p.  inv = 1 / B.  No branch on wd (a branch in the
 * kernels' unrolled epilogues doubles them): with wd = 0 the FMA adds an
 * exact 0. */
static inline real opt_mean_s(real g, real inv, real wd, real p)
{
	return FMA(wd, p, g * inv);
}

#if KERN_SIMD
KERN_INLINE vreal opt_mean_v(vreal g, real inv, real wd, vreal p)
{
	return V_FMA(V_SET1(wd), p, V_MUL(g, V_SET1(inv)));
}
#endif

#endif
