/*
 * nncc_vec.h - the vector layer of ONE instruction set: vreal (a vector of
 * VLW reals) and vmask (its lanes), the V_* operations on them, the
 * vector exp and activations.  No include guard: a generated file includes
 * it at the start of its kernel section, once per copy of that section
 * (KERN_ISA says which; nncc_simd.h), and it begins the copy: the
 * compiler's target for the functions that follow (until KERN_COPY_END)
 * and the copy's name suffix KERN_SFX.
 *   avx512   __m512 / __m512d, masks __mmask16 / __mmask8
 *   avx2     the same width as two 256-bit halves (lo = lanes 0..VL/2-1),
 *            masks emulated: a mask stays a bit per lane; a load under a
 *            mask is vmaskmov (no fault on the lanes left out), and so is
 *            a store, except of a vector's first lanes (a row's tail):
 *            plain stores of exactly those lanes, far cheaper on AMD
 *   fma, generic  no vectors (KERN_SIMD 0): the kernels' portable loops
 * Every path performs the same IEEE operations in the same order per
 * lane, so they give the same bits (docs/kernels.md#instruction-sets).
 */

#undef KERN_SFX
#undef KERN_SIMD
#undef KERN_COPY_END
#undef KERN_REG
#undef KERN_OPAQUE
#undef VL
#undef V_ZERO
#undef V_SET1
#undef V_LOAD
#undef V_MLOAD
#undef V_STORE
#undef V_MSTORE
#undef V_FMA
#undef V_FNMA
#undef V_ADD
#undef V_SUB
#undef V_MUL
#undef V_DIV
#undef V_SQRT
#undef V_MAX
#undef V_MIN
#undef V_GT
#undef V_BLEND
#undef V_CASTI
#undef V_CASTR
#undef VI_SUB
#undef VI_ADD
#undef VI_SET1
#undef VI_SHL
#undef VI_IOTA_STRIDE
#undef V_MGATHER
#undef V_MSCATTER

/* The copy's suffix and target.  Each compiler has its own pragma for
 * "the functions from here on are compiled for": gcc's target/push_options,
 * clang's attribute push. */
#if !KERN_DISPATCH
#define KERN_SFX
#define KERN_COPY_END
#elif KERN_ISA == KERN_ISA_GENERIC
#define KERN_SFX _generic
#define KERN_COPY_END
#else
#if KERN_ISA == KERN_ISA_AVX512
#define KERN_SFX _avx512
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx2,fma")
#endif
#elif KERN_ISA == KERN_ISA_AVX2
#define KERN_SFX _avx2
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#else
#define KERN_SFX _fma
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("fma")
#endif
#endif
#if defined(__clang__)
#define KERN_COPY_END _Pragma("clang attribute pop")
#else
#define KERN_COPY_END _Pragma("GCC pop_options")
#endif
#endif

/* The names this header defines per copy (KERN_ISA_NAME), and the
 * optimizer's opt_vector, which follows it. */
#define vreal KERN_ISA_NAME(vreal)
#define vmask KERN_ISA_NAME(vmask)
#define vindex KERN_ISA_NAME(vindex)
#define v_exp_reduce KERN_ISA_NAME(v_exp_reduce)
#define v_exp KERN_ISA_NAME(v_exp)
#define v_tanh KERN_ISA_NAME(v_tanh)
#define v_act_fwd KERN_ISA_NAME(v_act_fwd)
#define v_act_fwd_ptr KERN_ISA_NAME(v_act_fwd_ptr)
#define v_act_fwd_fn KERN_ISA_NAME(v_act_fwd_fn)
#define v_act_deriv_mul KERN_ISA_NAME(v_act_deriv_mul)
#define opt_mean_v KERN_ISA_NAME(opt_mean_v)
#define opt_vector KERN_ISA_NAME(opt_vector)

#if KERN_ISA == KERN_ISA_AVX512
#define KERN_SIMD 1
#define VL VLW
/* Pins a loaded vector in a register: without it gcc re-reads the vector as
 * a memory operand of every FMA (a split load per FMA on rows of 50 floats:
 * 2x slower).  Emits no instruction. */
#define KERN_REG(v) __asm__("" : "+v"(v))
/* Makes a pointer opaque where a block starts, so that its loads stay in the
 * block: hoisted out of the loop over a tile's rows, the bias vectors of the
 * forward block held three registers through its inner loop, and gcc spilled
 * the weight vectors instead (30% slower on 1024-wide layers). */
#define KERN_OPAQUE(p) __asm__ volatile("" : "+r"(p))
#if defined(KERN_F32)
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
#else
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

#elif KERN_ISA == KERN_ISA_AVX2
#define KERN_SIMD 1
#define VL VLW
/* Both halves in registers, as KERN_REG does for a 512-bit vector. */
#define KERN_REG(v) __asm__("" : "+x"((v).lo), "+x"((v).hi))
#define KERN_OPAQUE(p) __asm__ volatile("" : "+r"(p))
#if defined(KERN_F32)
typedef __m256 avx2_half;
#define AVX2_R(op) _mm256_##op##_ps /* an operation on a half of reals */
#define AVX2_I(op) _mm256_##op##_epi32 /* ... on a half of their bits */
#define AVX2_HL 8                 /* lanes per half */
#define AVX2_BITS _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128)
#define AVX2_SET1I(x) _mm256_set1_epi32((int)(x))
#define AVX2_TOI _mm256_castps_si256   /* the bits of a half */
#define AVX2_FROMI _mm256_castsi256_ps
#define AVX2_GATHER(m, i, p) _mm256_mask_i32gather_ps(_mm256_setzero_ps(), (p), (i), \
	_mm256_castsi256_ps(m), 4)
typedef uint16_t vmask;
typedef int32_t avx2_lane_index;
#else
typedef __m256d avx2_half;
#define AVX2_R(op) _mm256_##op##_pd
#define AVX2_I(op) _mm256_##op##_epi64
#define AVX2_HL 4
#define AVX2_BITS _mm256_setr_epi64x(1, 2, 4, 8)
#define AVX2_SET1I(x) _mm256_set1_epi64x((long long)(x))
#define AVX2_TOI _mm256_castpd_si256
#define AVX2_FROMI _mm256_castsi256_pd
#define AVX2_GATHER(m, i, p) _mm256_mask_i64gather_pd(_mm256_setzero_pd(), (p), (i), \
	_mm256_castsi256_pd(m), 8)
typedef uint8_t vmask;
typedef int64_t avx2_lane_index;
#endif
typedef struct { avx2_half lo, hi; } vreal;
typedef struct { __m256i lo, hi; } vindex; /* the bits of a vreal, or lane offsets */

/* The lanes of one half selected by the bits of m (lane l: bit l), as a
 * vector of all-ones/all-zeros lanes. */
KERN_INLINE __m256i avx2_lanes(unsigned m)
{
	return AVX2_I(cmpeq)(_mm256_and_si256(AVX2_SET1I(m), AVX2_BITS), AVX2_BITS);
}

KERN_INLINE vreal avx2_pair(avx2_half lo, avx2_half hi)
{
	vreal v;
	v.lo = lo;
	v.hi = hi;
	return v;
}

KERN_INLINE vindex avx2_ipair(__m256i lo, __m256i hi)
{
	vindex v;
	v.lo = lo;
	v.hi = hi;
	return v;
}

/* The operations, half by half. */
#define AVX2_UNARY(name, op) \
	KERN_INLINE vreal avx2_##name(vreal a) { return avx2_pair(op(a.lo), op(a.hi)); }
#define AVX2_BINARY(name, op) \
	KERN_INLINE vreal avx2_##name(vreal a, vreal b) \
	{ return avx2_pair(op(a.lo, b.lo), op(a.hi, b.hi)); }
#define AVX2_TERNARY(name, op) \
	KERN_INLINE vreal avx2_##name(vreal a, vreal b, vreal c) \
	{ return avx2_pair(op(a.lo, b.lo, c.lo), op(a.hi, b.hi, c.hi)); }
#define AVX2_IBINARY(name, op) \
	KERN_INLINE vindex avx2_##name(vindex a, vindex b) \
	{ return avx2_ipair(op(a.lo, b.lo), op(a.hi, b.hi)); }
AVX2_UNARY(sqrt, AVX2_R(sqrt))
AVX2_BINARY(add, AVX2_R(add))
AVX2_BINARY(sub, AVX2_R(sub))
AVX2_BINARY(mul, AVX2_R(mul))
AVX2_BINARY(div, AVX2_R(div))
AVX2_BINARY(max, AVX2_R(max))
AVX2_BINARY(min, AVX2_R(min))
AVX2_TERNARY(fma, AVX2_R(fmadd))
AVX2_TERNARY(fnma, AVX2_R(fnmadd))
AVX2_IBINARY(isub, AVX2_I(sub))
AVX2_IBINARY(iadd, AVX2_I(add))
#undef AVX2_UNARY
#undef AVX2_BINARY
#undef AVX2_TERNARY
#undef AVX2_IBINARY

KERN_INLINE vreal avx2_set1(real x)
{
	return avx2_pair(AVX2_R(set1)(x), AVX2_R(set1)(x));
}

KERN_INLINE vreal avx2_load(const real *p)
{
	return avx2_pair(AVX2_R(loadu)(p), AVX2_R(loadu)(p + AVX2_HL));
}

KERN_INLINE void avx2_store(real *p, vreal v)
{
	AVX2_R(storeu)(p, v.lo);
	AVX2_R(storeu)(p + AVX2_HL, v.hi);
}

/* gcc's -Warray-bounds sees the full-width branch of a mask known only at
 * run time reach past a small array, which it never does: hide p's origin
 * from it then (no instruction).  The AVX-512 path has one masked access
 * instead. */
#define AVX2_HIDE(p, m) do { if (!__builtin_constant_p(m)) __asm__("" : "+r"(p)); } while (0)

/* Lanes m of p (0 elsewhere); the lanes left out are not read, and a half
 * with no lane is not addressed (it may lie past the array). */
KERN_INLINE vreal avx2_mload(vmask m, const real *p)
{
	AVX2_HIDE(p, m);
	if (m == (vmask)~0u)
		return avx2_load(p);
	return avx2_pair(AVX2_R(maskload)(p, avx2_lanes(m)),
	                 (unsigned)m >> AVX2_HL
	                     ? AVX2_R(maskload)(p + AVX2_HL, avx2_lanes((unsigned)m >> AVX2_HL))
	                     : AVX2_R(setzero)());
}

/* The first k lanes of a half at p, 0 < k < AVX2_HL, as one to three
 * plain stores.  AMD's Zen 3 takes about 14 cycles for a masked store
 * (vmaskmovps) where a store takes one, and the layers' row tails are
 * stored every step (docs/performance.md, "Masked stores on AVX2"). */
KERN_INLINE void avx2_store_first(real *p, unsigned k, avx2_half v)
{
#if defined(KERN_F32)
	__m128 x = _mm256_castps256_ps128(v);
	if (k & 4u) {
		_mm_storeu_ps(p, x);
		x = _mm256_extractf128_ps(v, 1);
		p += 4;
	}
	if (k & 2u) {
		_mm_storel_epi64((__m128i *)(void *)p, _mm_castps_si128(x));
		x = _mm_movehl_ps(x, x);
		p += 2;
	}
	if (k & 1u)
		_mm_store_ss(p, x);
#else
	__m128d x = _mm256_castpd256_pd128(v);
	if (k & 2u) {
		_mm_storeu_pd(p, x);
		x = _mm256_extractf128_pd(v, 1);
		p += 2;
	}
	if (k & 1u)
		_mm_store_sd(p, x);
#endif
}

KERN_INLINE void avx2_mstore(real *p, vmask m, vreal v)
{
	const unsigned half = (1u << AVX2_HL) - 1u, lo = (unsigned)m & half,
	               hi = (unsigned)m >> AVX2_HL;
	AVX2_HIDE(p, m);
	if (m == (vmask)~0u) {
		avx2_store(p, v);
		return;
	}
	if (((unsigned)m & ((unsigned)m + 1u)) == 0) {   /* the first lanes: a row's tail */
		if (lo == half) {
			AVX2_R(storeu)(p, v.lo);
			if (hi)
				avx2_store_first(p + AVX2_HL, (unsigned)__builtin_popcount(hi), v.hi);
		} else if (lo) {
			avx2_store_first(p, (unsigned)__builtin_popcount(lo), v.lo);
		}
		return;
	}
	AVX2_R(maskstore)(p, avx2_lanes(m), v.lo);
	if ((unsigned)m >> AVX2_HL)
		AVX2_R(maskstore)(p + AVX2_HL, avx2_lanes((unsigned)m >> AVX2_HL), v.hi);
}

/* a > b per lane, as a mask (ordered: NaN is not greater). */
KERN_INLINE vmask avx2_gt(vreal a, vreal b)
{
	return (vmask)((unsigned)AVX2_R(movemask)(AVX2_R(cmp)(a.lo, b.lo, _CMP_GT_OQ)) |
	               (unsigned)AVX2_R(movemask)(AVX2_R(cmp)(a.hi, b.hi, _CMP_GT_OQ)) << AVX2_HL);
}

/* m ? b : a per lane. */
KERN_INLINE vreal avx2_blend(vmask m, vreal a, vreal b)
{
	return avx2_pair(
		AVX2_R(blendv)(a.lo, b.lo, AVX2_FROMI(avx2_lanes(m))),
		AVX2_R(blendv)(a.hi, b.hi, AVX2_FROMI(avx2_lanes((unsigned)m >> AVX2_HL))));
}

KERN_INLINE vindex avx2_casti(vreal v)
{
	return avx2_ipair(AVX2_TOI(v.lo), AVX2_TOI(v.hi));
}

KERN_INLINE vreal avx2_castr(vindex i)
{
	return avx2_pair(AVX2_FROMI(i.lo), AVX2_FROMI(i.hi));
}

KERN_INLINE vindex avx2_iset1(ureal x)
{
	return avx2_ipair(AVX2_SET1I(x), AVX2_SET1I(x));
}

KERN_INLINE vindex avx2_ishl(vindex a, int n)
{
	return avx2_ipair(AVX2_I(slli)(a.lo, n), AVX2_I(slli)(a.hi, n));
}

/* Lane l: l * s, the offsets of a column of a row-major array of rows of s. */
KERN_INLINE vindex avx2_iota(avx2_lane_index s)
{
	avx2_lane_index t[2 * AVX2_HL];
	int l;
	for (l = 0; l < 2 * AVX2_HL; l++)
		t[l] = l * s;
	return avx2_ipair(_mm256_loadu_si256((const __m256i *)t),
	                  _mm256_loadu_si256((const __m256i *)(t + AVX2_HL)));
}

/* p[idx[l]] for the lanes of m, 0 elsewhere. */
KERN_INLINE vreal avx2_mgather(vmask m, vindex idx, const real *p)
{
	return avx2_pair(AVX2_GATHER(avx2_lanes(m), idx.lo, p),
	                 AVX2_GATHER(avx2_lanes((unsigned)m >> AVX2_HL), idx.hi, p));
}

/* p[idx[l]] = v[l] for the lanes of m (AVX2 has no scatter: lane by lane). */
KERN_INLINE void avx2_mscatter(real *p, vmask m, vindex idx, vreal v)
{
	real t[2 * AVX2_HL];
	avx2_lane_index o[2 * AVX2_HL];
	int l;
	avx2_store(t, v);
	_mm256_storeu_si256((__m256i *)o, idx.lo);
	_mm256_storeu_si256((__m256i *)(o + AVX2_HL), idx.hi);
	for (l = 0; l < 2 * AVX2_HL; l++)
		if ((unsigned)m >> l & 1u)
			p[o[l]] = t[l];
}

#define V_ZERO() avx2_set1(R(0.0))
#define V_SET1(x) avx2_set1(x)
#define V_LOAD(p) avx2_load(p)
#define V_MLOAD(m, p) avx2_mload((m), (p))
#define V_STORE(p, v) avx2_store((p), (v))
#define V_MSTORE(p, m, v) avx2_mstore((p), (m), (v))
#define V_FMA(a, b, c) avx2_fma((a), (b), (c))   /* a*b + c, one rounding */
#define V_FNMA(a, b, c) avx2_fnma((a), (b), (c)) /* c - a*b, one rounding */
#define V_ADD(a, b) avx2_add((a), (b))
#define V_SUB(a, b) avx2_sub((a), (b))
#define V_MUL(a, b) avx2_mul((a), (b))
#define V_DIV(a, b) avx2_div((a), (b))
#define V_SQRT(a) avx2_sqrt(a)
#define V_MAX(a, b) avx2_max((a), (b))   /* a > b ? a : b */
#define V_MIN(a, b) avx2_min((a), (b))   /* a < b ? a : b */
#define V_GT(a, b) avx2_gt((a), (b))
#define V_BLEND(m, a, b) avx2_blend((m), (a), (b)) /* m ? b : a */
#define V_CASTI(v) avx2_casti(v)
#define V_CASTR(i) avx2_castr(i)
#define VI_SUB(a, b) avx2_isub((a), (b))
#define VI_ADD(a, b) avx2_iadd((a), (b))
#define VI_SET1(x) avx2_iset1((ureal)(x))
#define VI_SHL(a, n) avx2_ishl((a), (n))
#define VI_IOTA_STRIDE(s) avx2_iota(s)
#define V_MGATHER(m, idx, p) avx2_mgather((m), (idx), (p))
#define V_MSCATTER(p, m, idx, v) avx2_mscatter((p), (m), (idx), (v))

#else
#define KERN_SIMD 0
#define KERN_REG(v) ((void)0)
#define KERN_OPAQUE(p) ((void)0)
#endif

#if KERN_SIMD
/* kern_exp_reduce, kern_exp and kern_tanh (nncc_simd.h) on a vector: the
 * same operations in the same order. */
KERN_INLINE vreal v_exp_reduce(vreal x, vreal *s)
{
	vreal t, nf, r;
	t = V_FMA(x, V_SET1(EXP_LOG2E), V_SET1(EXP_MAGIC));
	nf = V_SUB(t, V_SET1(EXP_MAGIC));
	r = V_FNMA(nf, V_SET1(EXP_LN2HI), x);
	r = V_FNMA(nf, V_SET1(EXP_LN2LO), r);
	*s = V_CASTR(VI_SHL(VI_ADD(VI_SUB(V_CASTI(t), V_CASTI(V_SET1(EXP_MAGIC))),
	                           VI_SET1(EXP_BIAS)), EXP_SHIFT));
	return r;
}

KERN_INLINE vreal v_exp(vreal x)
{
	vreal r, s, p;
	int k;
	x = V_MAX(V_SET1(EXP_LO), x);
	x = V_MIN(V_SET1(EXP_HI), x);
	r = v_exp_reduce(x, &s);
	p = V_SET1(exp_poly[0]);
	KERN_UNROLL
	for (k = 1; k < EXP_NPOLY; k++)
		p = V_FMA(p, r, V_SET1(exp_poly[k]));
	return V_MUL(p, s);
}

KERN_INLINE vreal v_tanh(vreal x)
{
	vreal a, v, r, s, h, e, y;
	vmask neg = V_GT(V_ZERO(), x);   /* x < 0 */
	int k;
	a = V_BLEND(neg, x, V_SUB(V_ZERO(), x));
	v = V_ADD(a, a);
	v = V_MIN(V_SET1(EXP_TANH_HI), v);
	r = v_exp_reduce(v, &s);
	h = V_SET1(exp_poly[0]);
	KERN_UNROLL
	for (k = 1; k < EXP_NPOLY - 1; k++)
		h = V_FMA(h, r, V_SET1(exp_poly[k]));
	e = V_FMA(s, V_MUL(h, r), V_SUB(s, V_SET1(R(1.0))));
	y = V_DIV(e, V_ADD(e, V_SET1(R(2.0))));
	return V_BLEND(neg, y, V_SUB(V_ZERO(), y));
}

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
	case ACT_TANH:
		return v_tanh(z);
	case ACT_RELU:      /* x > 0 ? x : 0 (NaN gives 0, as the scalar one) */
		return V_BLEND(V_GT(z, V_ZERO()), V_ZERO(), z);
	default:
		V_STORE(t, z);
		for (l = 0; l < VL; l++)
			t[l] = act_fwd(act, t[l]);
		return V_LOAD(t);
	}
}

/* v_act_fwd with the activation fixed, one per row of nncc_act.h
 * (v_act_fwd_NAME), and their table by id: kern_fwd_block applies
 * v_act_fwd_fn[ACT], which a layer's constant ACT resolves to one direct,
 * inlined call (see "Compile time" in nncc_kern.h). */
typedef vreal (*v_act_fwd_ptr)(vreal);
#define V_ACT_FN(ID, name, fwd, deriv, gain) \
	KERN_INLINE vreal KERN_ISA_NAME(v_act_fwd_##name)(vreal z) { return v_act_fwd(ACT_##ID, z); }
NNCC_ACTIVATIONS(V_ACT_FN)
#undef V_ACT_FN
static const v_act_fwd_ptr v_act_fwd_fn[ACT_COUNT] = {
#define V_ACT_PTR(ID, name, fwd, deriv, gain) KERN_ISA_NAME(v_act_fwd_##name),
	NNCC_ACTIVATIONS(V_ACT_PTR)
#undef V_ACT_PTR
};

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

KERN_INLINE vreal opt_mean_v(vreal g, real inv, real wd, vreal p)
{
	return V_FMA(V_SET1(wd), p, V_MUL(g, V_SET1(inv)));
}
#endif
