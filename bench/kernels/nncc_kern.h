/*
 * nncc_kern.h - the vector layer under the dense-layer kernels: the `real`
 * type, a vector type `vreal` of VL reals with AVX-512 intrinsics, the
 * bit-exact exp/sigmoid used by both the vector path and the scalar fallback,
 * and the activation epilogues.  It does no GEMM itself (see dense_layer.h).
 *
 * Configuration (compile-time): NNCC_REAL_F64 selects double (default float);
 * NNCC_NO_SIMD forces the scalar fallback even when __AVX512F__ is defined.
 *
 * Floating-point policy (see README.md): every multiply-add is an explicit
 * FMA (V_FMA / FMA), nothing else may be contracted, so the code must be
 * built with -ffp-contract=off (gcc in GNU mode contracts a*b+c otherwise).
 * Every output element is one sequential chain over its reduction index, so
 * results do not depend on tiling, vector width, thread count or compiler.
 */
#ifndef NNCC_KERN_H
#define NNCC_KERN_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__) && !defined(NNCC_NO_SIMD)
#define NNCC_SIMD 1
#include <immintrin.h>
#else
#define NNCC_SIMD 0
#endif

#if defined(__GNUC__)
#define NNCC_INLINE static inline __attribute__((always_inline))
#define NNCC_UNROLL _Pragma("GCC unroll 64")
/* Pins a loaded vector in a register: stops the compiler from re-reading it
 * as a memory operand of every FMA (gcc does, and unaligned rows then cost
 * a split load per FMA: 2x slower on 784x50). Emits no instruction. */
#define NNCC_REG(v) __asm__("" : "+v"(v))
#else
#define NNCC_INLINE static inline
#define NNCC_UNROLL
#define NNCC_REG(v) ((void)0)
#endif

/* Modes of backward_weights. */
#define GRAD_SET 0   /* G = X^T D */
#define GRAD_ACC 1   /* G += X^T D (the chain continues from G) */
#define GRAD_SGD 2   /* W -= s * X^T D, b -= s * sum D (fused SGD); G unspecified */

/* Largest register tile (rows x vectors) the kernels spell out. */
#define NNCC_MAXMR 32
#define NNCC_MAXNB 4

#define ACT_LINEAR 0
#define ACT_SIGMOID 1
#define ACT_TANH 2
#define ACT_RELU 3

/* ---- real, its integer twin and the scalar FMA ------------------------- */
#if defined(NNCC_REAL_F64)
typedef double real;
typedef uint64_t ureal;
#if defined(NNCC_NO_FMA)
#define FMA(a, b, c) ((a) * (b) + (c))
#else
#define FMA fma
#endif
#define R(c) c
#define EXP_LO (-708.0)          /* exp(EXP_LO) is normal */
#define EXP_HI 709.0             /* exp(EXP_HI) is finite */
#define EXP_SHIFT 52
#define EXP_BIAS 1023
#define EXP_MAGIC 0x1.8p52       /* adding it rounds to an integer */
#else
typedef float real;
typedef uint32_t ureal;
#if defined(NNCC_NO_FMA)
#define FMA(a, b, c) ((a) * (b) + (c))   /* needs -ffp-contract=off */
#else
#define FMA fmaf
#endif
#define R(c) c##f
#define EXP_LO (-87.0f)
#define EXP_HI 88.0f
#define EXP_SHIFT 23
#define EXP_BIAS 127
#define EXP_MAGIC 0x1.8p23f
#endif

/* ---- vreal: VL reals in one AVX-512 register --------------------------- */
#if NNCC_SIMD
#if defined(NNCC_REAL_F64)
#define VL 8
typedef __m512d vreal;
typedef __mmask8 vmask;
#define V_ZERO() _mm512_setzero_pd()
#define V_SET1(x) _mm512_set1_pd(x)
#define V_LOAD(p) _mm512_loadu_pd(p)
#define V_MLOAD(m, p) _mm512_maskz_loadu_pd((m), (p))
#define V_STORE(p, v) _mm512_storeu_pd((p), (v))
#define V_MSTORE(p, m, v) _mm512_mask_storeu_pd((p), (m), (v))
#define V_FMA(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define V_FNMA(a, b, c) _mm512_fnmadd_pd((a), (b), (c)) /* c - a*b */
#define V_ADD(a, b) _mm512_add_pd((a), (b))
#define V_SUB(a, b) _mm512_sub_pd((a), (b))
#define V_MUL(a, b) _mm512_mul_pd((a), (b))
#define V_DIV(a, b) _mm512_div_pd((a), (b))
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
#define VI_IOTA_STRIDE(s) _mm512_setr_epi64((long long)0, (s), 2 * (s), 3 * (s), 4 * (s), 5 * (s), 6 * (s), 7 * (s))
#define V_MGATHER(m, idx, p) _mm512_mask_i64gather_pd(V_ZERO(), (m), (idx), (p), 8)
#else
#define VL 16
typedef __m512 vreal;
typedef __mmask16 vmask;
#define V_ZERO() _mm512_setzero_ps()
#define V_SET1(x) _mm512_set1_ps(x)
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_MLOAD(m, p) _mm512_maskz_loadu_ps((m), (p))
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_MSTORE(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_FNMA(a, b, c) _mm512_fnmadd_ps((a), (b), (c))
#define V_ADD(a, b) _mm512_add_ps((a), (b))
#define V_SUB(a, b) _mm512_sub_ps((a), (b))
#define V_MUL(a, b) _mm512_mul_ps((a), (b))
#define V_DIV(a, b) _mm512_div_ps((a), (b))
#define V_MAX(a, b) _mm512_max_ps((a), (b))
#define V_MIN(a, b) _mm512_min_ps((a), (b))
#define V_GT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_GT_OQ)
#define V_BLEND(m, a, b) _mm512_mask_blend_ps((m), (a), (b))
#define V_CASTI(v) _mm512_castps_si512(v)
#define V_CASTR(i) _mm512_castsi512_ps(i)
#define VI_SUB(a, b) _mm512_sub_epi32((a), (b))
#define VI_ADD(a, b) _mm512_add_epi32((a), (b))
#define VI_SET1(x) _mm512_set1_epi32((int)(x))
#define VI_SHL(a, n) _mm512_slli_epi32((a), (n))
#define VI_IOTA_STRIDE(s) _mm512_setr_epi32(0, (s), 2 * (s), 3 * (s), 4 * (s), 5 * (s), 6 * (s), \
	7 * (s), 8 * (s), 9 * (s), 10 * (s), 11 * (s), 12 * (s), 13 * (s), 14 * (s), 15 * (s))
#define V_MGATHER(m, idx, p) _mm512_mask_i32gather_ps(V_ZERO(), (m), (idx), (p), 4)
#endif
#if defined(NNCC_NO_FMA)   /* experiment: separate multiply and add */
#undef V_FMA
#undef V_FNMA
#if defined(NNCC_REAL_F64)
#define V_FMA(a, b, c) _mm512_add_pd(_mm512_mul_pd((a), (b)), (c))
#define V_FNMA(a, b, c) _mm512_sub_pd((c), _mm512_mul_pd((a), (b)))
#else
#define V_FMA(a, b, c) _mm512_add_ps(_mm512_mul_ps((a), (b)), (c))
#define V_FNMA(a, b, c) _mm512_sub_ps((c), _mm512_mul_ps((a), (b)))
#endif
#endif
/* Named accumulators for register tiles of up to NNCC_MAXMR rows x
 * NNCC_MAXNB vectors: acc<r>_<v>.  Arrays of vectors indexed in unrolled
 * loops are fine for gcc but clang 14 leaves them on the stack (no SROA after
 * full unrolling: 10x slower), so tiles are spelled with names; the guards
 * `(r) < mr` are compile-time constants and the dead names vanish. */
#define NNCC_ROWS(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) \
	M(12) M(13) M(14) M(15) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) M(24) \
	M(25) M(26) M(27) M(28) M(29) M(30) M(31)
#define NNCC_VECS(M, r) M(r, 0) M(r, 1) M(r, 2) M(r, 3)
#define NNCC_ACC(r, v) acc##r##_##v
#define NNCC_ACC_DECL1(r, v) vreal NNCC_ACC(r, v) = V_ZERO();
#define NNCC_ACC_DECLR(r) NNCC_VECS(NNCC_ACC_DECL1, r)
#define NNCC_ACC_DECL NNCC_ROWS(NNCC_ACC_DECLR)
/* Lanes of the last vector of a row of `len` reals: a compile-time constant. */
#define V_TAIL(len) ((vmask)(((len) % VL) ? ((1u << ((len) % VL)) - 1u) : (vmask)~0u))
#define V_ALL ((vmask)~0u)
#endif
/* Nominal vector width: chunk widths are multiples of it in every build, so
 * the thread split (in tiles/chunks) means the same thing in the fallback. */
#if defined(NNCC_REAL_F64)
#define VLW 8
#else
#define VLW 16
#endif

/* ---- exp: one fixed sequence of IEEE operations ------------------------
 * x clamped to [EXP_LO, EXP_HI] (NaN passes through), n = round(x/ln2) by the
 * magic-number addition, r = x - n*ln2 in two FMAs (Cody-Waite), exp(r) by a
 * Taylor polynomial in Horner form (FMAs), times 2^n built from bits.
 * Accuracy: <= 2 ulp in float, <= 2 ulp in double (measured in README.md).
 * The scalar and the vector version perform the same operations in the same
 * order, so they agree bit for bit. */
#if defined(NNCC_REAL_F64)
#define EXP_LOG2E 0x1.71547652b82fep0
#define EXP_LN2HI 0x1.62e42fefa39efp-1
#define EXP_LN2LO 0x1.abc9e3b39803fp-56
#define EXP_NPOLY 14
static const double exp_poly[EXP_NPOLY] = {
	1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
	1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0,
	1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0};
#else
#define EXP_LOG2E 0x1.715476p0f
#define EXP_LN2HI 0x1.62e4p-1f   /* 16 significant bits: n*LN2HI is exact */
#define EXP_LN2LO 0x1.7f7d1cp-20f
#define EXP_NPOLY 8
static const float exp_poly[EXP_NPOLY] = {
	1.0f / 5040.0f, 1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f,
	1.0f / 6.0f, 0.5f, 1.0f, 1.0f};
#endif

NNCC_INLINE real nncc_exp(real x)
{
	real t, nf, r, p, s;
	ureal u;
	int k;
	x = EXP_LO > x ? EXP_LO : x;   /* same operand order as V_MAX(lo, x) */
	x = EXP_HI < x ? EXP_HI : x;
	t = FMA(x, EXP_LOG2E, EXP_MAGIC);
	nf = t - EXP_MAGIC;
	r = FMA(-nf, EXP_LN2HI, x);
	r = FMA(-nf, EXP_LN2LO, r);
	p = exp_poly[0];
	for (k = 1; k < EXP_NPOLY; k++) p = FMA(p, r, exp_poly[k]);
	memcpy(&u, &t, sizeof u);
	{
		real magic = EXP_MAGIC;
		ureal um;
		memcpy(&um, &magic, sizeof um);
		u = (ureal)((u - um + (ureal)EXP_BIAS) << EXP_SHIFT);
	}
	memcpy(&s, &u, sizeof s);
	return p * s;
}

#if NNCC_SIMD
NNCC_INLINE vreal v_exp(vreal x)
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
	NNCC_UNROLL
	for (k = 1; k < EXP_NPOLY; k++) p = V_FMA(p, r, V_SET1(exp_poly[k]));
	s = V_CASTR(VI_SHL(VI_ADD(VI_SUB(V_CASTI(t), V_CASTI(V_SET1(EXP_MAGIC))),
	                          VI_SET1(EXP_BIAS)), EXP_SHIFT));
	return V_MUL(p, s);
}
#endif

/* ---- activations: forward from z, derivative from the output y ---------- */
NNCC_INLINE real act_fwd(int act, real z)
{
	switch (act) {
	case ACT_SIGMOID: return R(1.0) / (R(1.0) + nncc_exp(R(0.0) - z));
#if defined(NNCC_REAL_F64)
	case ACT_TANH: return tanh(z);
#else
	case ACT_TANH: return tanhf(z);
#endif
	case ACT_RELU: return R(0.0) > z ? R(0.0) : z;   /* NaN passes */
	default: return z;
	}
}

NNCC_INLINE real act_deriv(int act, real y)
{
	switch (act) {
	case ACT_SIGMOID: return y * (R(1.0) - y);
	case ACT_TANH: return FMA(-y, y, R(1.0));
	case ACT_RELU: return y > R(0.0) ? R(1.0) : R(0.0);
	default: return R(1.0);
	}
}

#if NNCC_SIMD
NNCC_INLINE vreal v_act_fwd(int act, vreal z)
{
	switch (act) {
	case ACT_SIGMOID:
		return V_DIV(V_SET1(R(1.0)), V_ADD(V_SET1(R(1.0)), v_exp(V_SUB(V_ZERO(), z))));
	case ACT_TANH: {
		/* tanh has no vector twin here: lane by lane through libm, so
		 * the fallback (same libm call) agrees bit for bit. */
		real t[VL];
		int l;
		V_STORE(t, z);
		for (l = 0; l < VL; l++) t[l] = act_fwd(ACT_TANH, t[l]);
		return V_LOAD(t);
	}
	case ACT_RELU: return V_MAX(V_ZERO(), z);
	default: return z;
	}
}

/* d = f'(y) * g, with f' in the same operation order as act_deriv(). */
NNCC_INLINE vreal v_act_deriv_mul(int act, vreal y, vreal g)
{
	switch (act) {
	case ACT_SIGMOID: return V_MUL(V_MUL(y, V_SUB(V_SET1(R(1.0)), y)), g);
	case ACT_TANH: return V_MUL(V_FNMA(y, y, V_SET1(R(1.0))), g);
	case ACT_RELU: return V_MUL(V_BLEND(V_GT(y, V_ZERO()), V_ZERO(), V_SET1(R(1.0))), g);
	default: return g;
	}
}
#endif

#endif
