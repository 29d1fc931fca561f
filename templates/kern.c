/*
 * kern.c - the kernel support of a generated trainer, emitted once per file:
 * the vector layer (AVX-512 intrinsics behind `#if KERN_SIMD`, a portable
 * scalar fallback otherwise), the bit-exact exp, the vector activations, the
 * three dense-layer kernels (forward, backward-data, weight gradient) written
 * once with their sizes as arguments, and the thread pool.  The per-layer
 * functions (dense.c) call the kernels with their named constant sizes and
 * tiles; the kernels are always inlined, so every layer gets a fully
 * specialised copy with compile-time tails and no remainder branches.
 *
 * Floating-point policy (docs/performance.md): every output element is ONE
 * sequential chain over its sum index and every multiply-add in it is an
 * explicit FMA, so tiles, vector width, thread count and tile size
 * (max_batch) cannot change a result, and the AVX-512 path equals the
 * fallback bit for bit.  Build with -ffp-contract=off (nncc --cflags).
 * Why the tiles, named accumulators, KERN_REG and the pool look as they do
 * (measurements, compiler pitfalls): docs/kernels.md.
 * Vocabulary: VL = reals per vector, MR x NB = register tile (rows x
 * vectors), n = rows in the tile, j = input, i = output, d = delta.
 * Sections: simd (once, first), real_f32 or real_f64 (the dtype's constants
 * and vector operations), support (exp, tiles), vact (after the
 * activations), kernels, pool.  No placeholders.
 */

//@ section simd
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

//@ section real_f32
/* float: the scalar FMA, the exp constants and, on the vector path, 16
 * floats per vector. */
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

//@ section real_f64
/* double: the scalar FMA, the exp constants and, on the vector path, 8
 * doubles per vector. */
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

//@ section support
#if KERN_SIMD
/* Named accumulators for register tiles of up to KERN_MAXMR rows x
 * KERN_MAXNB vectors: acc<r>_<v>.  Arrays of vectors indexed in unrolled
 * loops are fine for gcc, but clang 14 leaves them on the stack (10x slower),
 * so tiles are spelled with names; the guards `(r) < mr` are compile-time
 * constants after inlining and the unused names vanish. */
#define KERN_MAXMR 32
#define KERN_MAXNB 4
#define KERN_ROWS(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) \
	M(12) M(13) M(14) M(15) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) M(24) \
	M(25) M(26) M(27) M(28) M(29) M(30) M(31)
#define KERN_VECS(M, r) M(r, 0) M(r, 1) M(r, 2) M(r, 3)
#define KERN_ACC(r, v) acc##r##_##v
#define KERN_ACC_DECL1(r, v) vreal KERN_ACC(r, v) = V_ZERO();
#define KERN_ACC_DECLR(r) KERN_VECS(KERN_ACC_DECL1, r)
#define KERN_ACC_DECL KERN_ROWS(KERN_ACC_DECLR)
/* Lanes of the last vector of a row of `len` reals (a constant). */
#define V_TAIL(len) ((vmask)(((len) % VL) ? ((1u << ((len) % VL)) - 1u) : (vmask)~0u))
#define V_ALL ((vmask)~0u)
#endif
/* Vectors per row of `len` reals, and the mask of vector v of the chunk
 * that starts at vector c0 of such a row. */
#define KERN_NV(len) (((len) + VLW - 1) / VLW)
#define KERN_MASK(len, c0, v) ((c0) + (v) == KERN_NV(len) - 1 ? V_TAIL(len) : V_ALL)
#define KERN_MIN(a, b) ((a) < (b) ? (a) : (b))

/* Modes of the weight gradient (a constant in each inlined copy: a run-time
 * mode makes gcc spill the accumulators). */
#define KERN_GRAD_SET 0 /* G = X^T D */
#define KERN_GRAD_ACC 1 /* G += X^T D: the chain continues from G */
#define KERN_GRAD_SGD 2 /* W -= s * X^T D, b -= s * sum D; G is scratch (fallback) */

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

//@ section vact
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

//@ section kernels
/* ---- Dense-layer kernels.  Layouts are the ABI's: X (n, IN), Y and D (n,
 * OUT) row-major, W (IN, OUT) input-major, bias (OUT).  Arguments in upper
 * case and mr/nb are constants at every call (the per-layer functions pass
 * named sizes and tiles), so after inlining each layer has its own
 * specialised code.  The chains (the FP contract):
 *   forward   y[b][i] = f(z), z = bias[i]; z = FMA(x[b][k], W[k][i], z), k = 0..IN-1
 *   gradient  g = 0 (or G[j][i]); g = FMA(x[b][j], d[b][i], g), b = 0..n-1;
 *             bias: g = g + d[b][i]; fused SGD: W[j][i] = FMA(-s, g, W[j][i])
 *   data      g = 0; g = FMA(d[b][i], W[j][i], g), i = 0..OUT-1;
 *             dp[b][j] = f'(ap[b][j]) * g
 * Tiles split only the free dimensions, never a chain. */

#if KERN_SIMD
/* Rows [row, row+mr) x vectors [c0, c0+nb) of Y = f(X W + bias). */
KERN_INLINE void kern_fwd_tile(real *Y, const real *X, const real *W, const real *bias,
                               const size_t IN, const size_t OUT, const int ACT, size_t row,
                               size_t c0, const int mr, const int nb)
{
	const real *x = X + row * IN, *w = W + c0 * VL;
	real *y = Y + row * OUT + c0 * VL;
	const vmask m0 = KERN_MASK(OUT, c0, 0), m1 = KERN_MASK(OUT, c0, 1),
	            m2 = KERN_MASK(OUT, c0, 2), m3 = KERN_MASK(OUT, c0, 3);
	vreal b0 = V_ZERO(), b1 = V_ZERO(), b2 = V_ZERO(), b3 = V_ZERO();
	size_t k;
	KERN_ACC_DECL
	if (nb > 0) b0 = V_MLOAD(m0, bias + c0 * VL);
	if (nb > 1) b1 = V_MLOAD(m1, bias + c0 * VL + VL);
	if (nb > 2) b2 = V_MLOAD(m2, bias + c0 * VL + 2 * VL);
	if (nb > 3) b3 = V_MLOAD(m3, bias + c0 * VL + 3 * VL);
#define INIT1(r, v) if ((r) < mr && (v) < nb) KERN_ACC(r, v) = b##v;
#define INITR(r) KERN_VECS(INIT1, r)
	KERN_ROWS(INITR)
#undef INIT1
#undef INITR
	for (k = 0; k < IN; k++) {
		vreal w0 = V_ZERO(), w1 = V_ZERO(), w2 = V_ZERO(), w3 = V_ZERO();
		const real *wk = w + k * OUT;
		if (nb > 0) { w0 = V_MLOAD(m0, wk); KERN_REG(w0); }
		if (nb > 1) { w1 = V_MLOAD(m1, wk + VL); KERN_REG(w1); }
		if (nb > 2) { w2 = V_MLOAD(m2, wk + 2 * VL); KERN_REG(w2); }
		if (nb > 3) { w3 = V_MLOAD(m3, wk + 3 * VL); KERN_REG(w3); }
#define FMA1(r, v) if ((v) < nb) KERN_ACC(r, v) = V_FMA(xb, w##v, KERN_ACC(r, v));
#define FMAR(r) if ((r) < mr) { const vreal xb = V_SET1(x[(size_t)(r) * IN + k]); KERN_VECS(FMA1, r) }
		KERN_ROWS(FMAR)
#undef FMA1
#undef FMAR
	}
#define STORE1(r, v) if ((r) < mr && (v) < nb) \
	V_MSTORE(y + (size_t)(r) * OUT + (v) * VL, m##v, v_act_fwd(ACT, KERN_ACC(r, v)));
#define STORER(r) KERN_VECS(STORE1, r)
	KERN_ROWS(STORER)
#undef STORE1
#undef STORER
}

/* Rows [r0, r1) of one column chunk: full MR-row tiles, then the remainder
 * (only when n is not a multiple of MR) in compile-time tiles of 8, 4 and 1
 * rows: few variants keep the code and its compile time small. */
KERN_INLINE void kern_fwd_rows(real *Y, const real *X, const real *W, const real *bias,
                               const size_t IN, const size_t OUT, const int ACT, const int MR,
                               size_t r0, size_t r1, size_t c0, const int nb)
{
	size_t row = r0;
	for (; row + (size_t)MR <= r1; row += (size_t)MR)
		kern_fwd_tile(Y, X, W, bias, IN, OUT, ACT, row, c0, MR, nb);
	for (; MR > 8 && row + 8 <= r1; row += 8)
		kern_fwd_tile(Y, X, W, bias, IN, OUT, ACT, row, c0, 8, nb);
	for (; MR > 4 && row + 4 <= r1; row += 4)
		kern_fwd_tile(Y, X, W, bias, IN, OUT, ACT, row, c0, 4, nb);
	for (; MR > 1 && row < r1; row++)
		kern_fwd_tile(Y, X, W, bias, IN, OUT, ACT, row, c0, 1, nb);
}
#endif

/* Y[r] = f(X[r] W + bias) for rows [r0, r1); MR x NB register tiles. */
KERN_INLINE void kern_fwd(real *Y, const real *X, const real *W, const real *bias,
                          const size_t IN, const size_t OUT, const int ACT, const int MR,
                          const int NB, size_t r0, size_t r1)
{
#if KERN_SIMD
	const size_t nch = (KERN_NV(OUT) + (size_t)NB - 1) / (size_t)NB;   /* column chunks */
	const int lastnb = (int)(KERN_NV(OUT) - (nch - 1) * (size_t)NB);
	size_t ch;
	if (KERN_NV(OUT) <= KERN_MAXNB && r1 - r0 < 4) {
		/* A few rows (inference): latency-bound, so all of a row's
		 * vectors at once, as independent chains. */
		for (; r0 < r1; r0++)
			kern_fwd_tile(Y, X, W, bias, IN, OUT, ACT, r0, 0, 1, (int)KERN_NV(OUT));
		return;
	}
	for (ch = 0; ch + 1 < nch; ch++)
		kern_fwd_rows(Y, X, W, bias, IN, OUT, ACT, MR, r0, r1, ch * (size_t)NB, NB);
	kern_fwd_rows(Y, X, W, bias, IN, OUT, ACT, MR, r0, r1, ch * (size_t)NB, lastnb);
#else
	size_t r, k, i;
	(void)MR;
	(void)NB;
	for (r = r0; r < r1; r++) {
		real *y = Y + r * OUT;
		const real *x = X + r * IN;
		for (i = 0; i < OUT; i++)
			y[i] = bias[i];
		for (k = 0; k < IN; k++) {
			const real xk = x[k], *w = W + k * OUT;
			for (i = 0; i < OUT; i++)
				y[i] = FMA(xk, w[i], y[i]);
		}
		for (i = 0; i < OUT; i++)
			y[i] = act_fwd(ACT, y[i]);
	}
#endif
}

#if KERN_SIMD
/* Rows j [j, j+mr) x vectors [c0, c0+nb) of X^T D, then the mode's epilogue
 * into G (set/accumulate) or W (fused SGD). */
KERN_INLINE void kern_dw_tile(const int mode, size_t n, real *W, real *G, const real *X,
                              const real *D, real s, const size_t IN, const size_t OUT,
                              size_t j, size_t c0, const int mr, const int nb)
{
	const vmask m0 = KERN_MASK(OUT, c0, 0), m1 = KERN_MASK(OUT, c0, 1),
	            m2 = KERN_MASK(OUT, c0, 2), m3 = KERN_MASK(OUT, c0, 3);
	const size_t o = j * OUT + c0 * VL;   /* tile origin in W and G */
	const vreal vs = V_SET1(s);
	size_t b;
	KERN_ACC_DECL
#define INIT1(r, v) if ((r) < mr && (v) < nb && mode == KERN_GRAD_ACC) \
	KERN_ACC(r, v) = V_MLOAD(m##v, G + o + (size_t)(r) * OUT + (v) * VL);
#define INITR(r) KERN_VECS(INIT1, r)
	KERN_ROWS(INITR)
#undef INIT1
#undef INITR
	for (b = 0; b < n; b++) {
		const real *x = X + b * IN + j, *db = D + b * OUT + c0 * VL;
		vreal d0 = V_ZERO(), d1 = V_ZERO(), d2 = V_ZERO(), d3 = V_ZERO();
		if (nb > 0) { d0 = V_MLOAD(m0, db); KERN_REG(d0); }
		if (nb > 1) { d1 = V_MLOAD(m1, db + VL); KERN_REG(d1); }
		if (nb > 2) { d2 = V_MLOAD(m2, db + 2 * VL); KERN_REG(d2); }
		if (nb > 3) { d3 = V_MLOAD(m3, db + 3 * VL); KERN_REG(d3); }
#define FMA1(r, v) if ((v) < nb) KERN_ACC(r, v) = V_FMA(xb, d##v, KERN_ACC(r, v));
#define FMAR(r) if ((r) < mr) { const vreal xb = V_SET1(x[r]); KERN_VECS(FMA1, r) }
		KERN_ROWS(FMAR)
#undef FMA1
#undef FMAR
	}
#define STORE1(r, v) if ((r) < mr && (v) < nb) { \
		real *p_ = (mode == KERN_GRAD_SGD ? W : G) + o + (size_t)(r) * OUT + (v) * VL; \
		V_MSTORE(p_, m##v, mode == KERN_GRAD_SGD \
			? V_FNMA(vs, KERN_ACC(r, v), V_MLOAD(m##v, p_)) : KERN_ACC(r, v)); }
#define STORER(r) KERN_VECS(STORE1, r)
	KERN_ROWS(STORER)
#undef STORE1
#undef STORER
}

/* The bias "row": g = g + d[b][i] (== FMA(1, d, g)), same epilogues. */
KERN_INLINE void kern_db_tile(const int mode, size_t n, real *bias, real *Gb, const real *D,
                              real s, const size_t OUT, size_t c0, const int nb)
{
	const vmask m0 = KERN_MASK(OUT, c0, 0), m1 = KERN_MASK(OUT, c0, 1),
	            m2 = KERN_MASK(OUT, c0, 2), m3 = KERN_MASK(OUT, c0, 3);
	const size_t o = c0 * VL;
	const vreal vs = V_SET1(s);
	size_t b;
	vreal acc0_0 = V_ZERO(), acc0_1 = V_ZERO(), acc0_2 = V_ZERO(), acc0_3 = V_ZERO();
#define INIT1(r, v) if ((v) < nb && mode == KERN_GRAD_ACC) \
	KERN_ACC(r, v) = V_MLOAD(m##v, Gb + o + (v) * VL);
	KERN_VECS(INIT1, 0)
#undef INIT1
	for (b = 0; b < n; b++) {
		const real *db = D + b * OUT + o;
#define ADD1(r, v) if ((v) < nb) \
	KERN_ACC(r, v) = V_ADD(KERN_ACC(r, v), V_MLOAD(m##v, db + (v) * VL));
		KERN_VECS(ADD1, 0)
#undef ADD1
	}
#define STORE1(r, v) if ((v) < nb) { \
		real *p_ = (mode == KERN_GRAD_SGD ? bias : Gb) + o + (v) * VL; \
		V_MSTORE(p_, m##v, mode == KERN_GRAD_SGD \
			? V_FNMA(vs, KERN_ACC(r, v), V_MLOAD(m##v, p_)) : KERN_ACC(r, v)); }
	KERN_VECS(STORE1, 0)
#undef STORE1
}

/* Layers with OUT <= VL (one vector per row of OUT, e.g. 10 classes):
 * vectorised along j instead, so every lane is used.  Rows i [0, OUT) x
 * vectors [c0, c0+nb) of j: per sample b, nb loads of X[b][j..], OUT
 * broadcasts of D[b][i]; the same chain per element, so the same bits.  G
 * and W are read and written transposed (stride OUT) with gathers and
 * scatters, once per tile. */
KERN_INLINE void kern_dwt_tile(const int mode, size_t n, real *W, real *G, const real *X,
                               const real *D, real s, const size_t IN, const size_t OUT,
                               size_t c0, const int nb)
{
	const vmask m0 = KERN_MASK(IN, c0, 0), m1 = KERN_MASK(IN, c0, 1),
	            m2 = KERN_MASK(IN, c0, 2), m3 = KERN_MASK(IN, c0, 3);
	const vindex idx = VI_IOTA_STRIDE((int)OUT);   /* j -> j * OUT */
	const vreal vs = V_SET1(s);
	size_t b;
	KERN_ACC_DECL
#define AT(r, v) ((c0 + (v)) * VL * OUT + (size_t)(r))   /* W[j0 of vector v][i = r] */
#define INIT1(r, v) if ((size_t)(r) < OUT && (v) < nb && mode == KERN_GRAD_ACC) \
	KERN_ACC(r, v) = V_MGATHER(m##v, idx, G + AT(r, v));
#define INITR(r) KERN_VECS(INIT1, r)
	KERN_ROWS(INITR)
#undef INIT1
#undef INITR
	for (b = 0; b < n; b++) {
		const real *x = X + b * IN + c0 * VL, *d = D + b * OUT;
		vreal x0 = V_ZERO(), x1 = V_ZERO(), x2 = V_ZERO(), x3 = V_ZERO();
		if (nb > 0) { x0 = V_MLOAD(m0, x); KERN_REG(x0); }
		if (nb > 1) { x1 = V_MLOAD(m1, x + VL); KERN_REG(x1); }
		if (nb > 2) { x2 = V_MLOAD(m2, x + 2 * VL); KERN_REG(x2); }
		if (nb > 3) { x3 = V_MLOAD(m3, x + 3 * VL); KERN_REG(x3); }
#define FMA1(r, v) if ((v) < nb) KERN_ACC(r, v) = V_FMA(x##v, db, KERN_ACC(r, v));
#define FMAR(r) if ((size_t)(r) < OUT) { const vreal db = V_SET1(d[r]); KERN_VECS(FMA1, r) }
		KERN_ROWS(FMAR)
#undef FMA1
#undef FMAR
	}
#define STORE1(r, v) if ((size_t)(r) < OUT && (v) < nb) { \
		real *p_ = (mode == KERN_GRAD_SGD ? W : G) + AT(r, v); \
		V_MSCATTER(p_, m##v, idx, mode == KERN_GRAD_SGD \
			? V_FNMA(vs, KERN_ACC(r, v), V_MGATHER(m##v, idx, p_)) : KERN_ACC(r, v)); }
#define STORER(r) KERN_VECS(STORE1, r)
	KERN_ROWS(STORER)
#undef STORE1
#undef STORER
#undef AT
}

/* j tiles [jt0, jt1) of one column chunk; tile njt-1 is the bias row. */
KERN_INLINE void kern_dw_chunk(const int mode, size_t n, real *W, real *bias, real *G,
                               real *Gb, const real *X, const real *D, real s, const size_t IN,
                               const size_t OUT, const int MR, size_t jt0, size_t jt1,
                               size_t c0, const int nb)
{
	const size_t njt = (IN + (size_t)MR - 1) / (size_t)MR + 1;
	const int lastmr = (int)(IN - (njt - 2) * (size_t)MR);
	size_t jt;
	for (jt = jt0; jt < jt1; jt++) {
		if (jt + 2 < njt || (jt + 2 == njt && lastmr == MR))
			kern_dw_tile(mode, n, W, G, X, D, s, IN, OUT, jt * (size_t)MR, c0, MR, nb);
		else if (jt + 2 == njt)
			kern_dw_tile(mode, n, W, G, X, D, s, IN, OUT, jt * (size_t)MR, c0, lastmr, nb);
		else
			kern_db_tile(mode, n, bias, Gb, D, s, OUT, c0, nb);
	}
}

KERN_INLINE void kern_dw_mode(const int mode, size_t n, real *W, real *bias, real *G, real *Gb,
                              const real *X, const real *D, real s, const size_t IN,
                              const size_t OUT, const int MR, const int NB, size_t jt0,
                              size_t jt1)
{
	const size_t nch = (KERN_NV(OUT) + (size_t)NB - 1) / (size_t)NB;
	const int lastnb = (int)(KERN_NV(OUT) - (nch - 1) * (size_t)NB);
	size_t ch;
	if (KERN_NV(OUT) == 1 && MR % VL == 0 && MR / VL <= KERN_MAXNB) {
		/* one vector of OUT: the j-vectorised tiles, MR = whole vectors of j */
		const size_t njt = (IN + (size_t)MR - 1) / (size_t)MR + 1;
		const int lastv = (int)(KERN_NV(IN) - (njt - 2) * (size_t)(MR / VL));
		size_t jt;
		for (jt = jt0; jt < jt1; jt++) {
			if (jt + 2 < njt)
				kern_dwt_tile(mode, n, W, G, X, D, s, IN, OUT, jt * (size_t)(MR / VL), MR / VL);
			else if (jt + 2 == njt)
				kern_dwt_tile(mode, n, W, G, X, D, s, IN, OUT, jt * (size_t)(MR / VL), lastv);
			else
				kern_db_tile(mode, n, bias, Gb, D, s, OUT, 0, 1);
		}
		return;
	}
	for (ch = 0; ch + 1 < nch; ch++)
		kern_dw_chunk(mode, n, W, bias, G, Gb, X, D, s, IN, OUT, MR, jt0, jt1,
		              ch * (size_t)NB, NB);
	kern_dw_chunk(mode, n, W, bias, G, Gb, X, D, s, IN, OUT, MR, jt0, jt1, ch * (size_t)NB,
	              lastnb);
}
#endif

/* Weight and bias gradient of the tile (n rows of X and D) for j tiles
 * [jt0, jt1) of MR rows of W (tile ceil(IN/MR) is the bias), all of OUT:
 * mode KERN_GRAD_SET/ACC into G, Gb; KERN_GRAD_SGD into W, bias with
 * s = lr / batch. */
KERN_INLINE void kern_dw(int mode, size_t n, real *W, real *bias, real *G, real *Gb,
                         const real *X, const real *D, real s, const size_t IN,
                         const size_t OUT, const int MR, const int NB, size_t jt0, size_t jt1)
{
#if KERN_SIMD
	if (mode == KERN_GRAD_SGD)
		kern_dw_mode(KERN_GRAD_SGD, n, W, bias, G, Gb, X, D, s, IN, OUT, MR, NB, jt0, jt1);
	else if (mode == KERN_GRAD_ACC)
		kern_dw_mode(KERN_GRAD_ACC, n, W, bias, G, Gb, X, D, s, IN, OUT, MR, NB, jt0, jt1);
	else
		kern_dw_mode(KERN_GRAD_SET, n, W, bias, G, Gb, X, D, s, IN, OUT, MR, NB, jt0, jt1);
#else
	/* The chain runs in G's row (a vectorised local row array met a gcc 12
	 * stack-alignment miscompile), so G is scratch in fused-SGD mode. */
	const size_t njt = (IN + (size_t)MR - 1) / (size_t)MR + 1;
	const size_t j0 = KERN_MIN(jt0 * (size_t)MR, IN);
	const size_t j1 = jt1 >= njt ? IN + 1 : KERN_MIN(jt1 * (size_t)MR, IN);
	size_t j, b, i;
	(void)NB;
	for (j = j0; j < j1; j++) {   /* j == IN: the bias row */
		real *g = j == IN ? Gb : G + j * OUT, *w = j == IN ? bias : W + j * OUT;
		if (mode != KERN_GRAD_ACC)
			for (i = 0; i < OUT; i++)
				g[i] = R(0.0);
		for (b = 0; b < n; b++) {
			const real *d = D + b * OUT;
			if (j == IN) {
				for (i = 0; i < OUT; i++)
					g[i] = g[i] + d[i];
			} else {
				const real xb = X[b * IN + j];
				for (i = 0; i < OUT; i++)
					g[i] = FMA(xb, d[i], g[i]);
			}
		}
		if (mode == KERN_GRAD_SGD)
			for (i = 0; i < OUT; i++)
				w[i] = FMA(-s, g[i], w[i]);
	}
#endif
}

/* Tiles of the weight gradient (the last one is the bias row). */
#define KERN_DW_TILES(IN, MR) (((IN) + (MR) - 1) / (MR) + 1)

#if KERN_SIMD
/* Rows [row, row+mr) x vectors [c0, c0+nb) of IN; pk holds W^T for the
 * chunk: pk[i][v*VL + lane] = W[(c0 + v)*VL + lane][i]. */
KERN_INLINE void kern_dx_tile(real *Dp, const real *Ap, const real *D, const real *pk,
                              const size_t IN, const size_t OUT, const int PACT, size_t row,
                              size_t c0, const int mr, const int nb)
{
	const vmask m0 = KERN_MASK(IN, c0, 0), m1 = KERN_MASK(IN, c0, 1),
	            m2 = KERN_MASK(IN, c0, 2), m3 = KERN_MASK(IN, c0, 3);
	const real *d = D + row * OUT;
	const size_t o = row * IN + c0 * VL;
	size_t i;
	KERN_ACC_DECL
	for (i = 0; i < OUT; i++) {
		const real *pi = pk + i * (size_t)nb * VL;
		vreal w0 = V_ZERO(), w1 = V_ZERO(), w2 = V_ZERO(), w3 = V_ZERO();
		if (nb > 0) { w0 = V_LOAD(pi); KERN_REG(w0); }
		if (nb > 1) { w1 = V_LOAD(pi + VL); KERN_REG(w1); }
		if (nb > 2) { w2 = V_LOAD(pi + 2 * VL); KERN_REG(w2); }
		if (nb > 3) { w3 = V_LOAD(pi + 3 * VL); KERN_REG(w3); }
#define FMA1(r, v) if ((v) < nb) KERN_ACC(r, v) = V_FMA(db, w##v, KERN_ACC(r, v));
#define FMAR(r) if ((r) < mr) { const vreal db = V_SET1(d[(size_t)(r) * OUT + i]); KERN_VECS(FMA1, r) }
		KERN_ROWS(FMAR)
#undef FMA1
#undef FMAR
	}
#define STORE1(r, v) if ((r) < mr && (v) < nb) { \
		const size_t q_ = o + (size_t)(r) * IN + (v) * VL; \
		V_MSTORE(Dp + q_, m##v, v_act_deriv_mul(PACT, V_MLOAD(m##v, Ap + q_), KERN_ACC(r, v))); }
#define STORER(r) KERN_VECS(STORE1, r)
	KERN_ROWS(STORER)
#undef STORE1
#undef STORER
}

/* One column chunk of IN for rows [r0, r1): pack W^T for it (one gather per
 * output and vector, used by every row), then the tiles. */
KERN_INLINE void kern_dx_chunk(real *Dp, const real *Ap, const real *D, const real *W, real *pk,
                               const size_t IN, const size_t OUT, const int PACT, const int MR,
                               size_t r0, size_t r1, size_t c0, const int nb)
{
	size_t i, row = r0;
	int v;
	for (i = 0; i < OUT; i++) {
		KERN_UNROLL
		for (v = 0; v < nb; v++) {
			const size_t j = (c0 + (size_t)v) * VL;
			const vmask m = c0 + (size_t)v == KERN_NV(IN) - 1 ? V_TAIL(IN) : V_ALL;
			V_STORE(pk + (i * (size_t)nb + (size_t)v) * VL,
			        V_MGATHER(m, VI_IOTA_STRIDE((int)OUT), W + j * OUT + i));
		}
	}
	for (; row + (size_t)MR <= r1; row += (size_t)MR)
		kern_dx_tile(Dp, Ap, D, pk, IN, OUT, PACT, row, c0, MR, nb);
	for (; MR > 8 && row + 8 <= r1; row += 8)   /* the tail, as in kern_fwd_rows */
		kern_dx_tile(Dp, Ap, D, pk, IN, OUT, PACT, row, c0, 8, nb);
	for (; MR > 4 && row + 4 <= r1; row += 4)
		kern_dx_tile(Dp, Ap, D, pk, IN, OUT, PACT, row, c0, 4, nb);
	for (; MR > 1 && row < r1; row++)
		kern_dx_tile(Dp, Ap, D, pk, IN, OUT, PACT, row, c0, 1, nb);
}
#endif

/* Dp[r] = f'(Ap[r]) * (D[r] W^T) for rows [r0, r1): the delta of the layer
 * below from this layer's W (IN, OUT) and delta D (n, OUT). */
KERN_INLINE void kern_dx(real *Dp, const real *Ap, const real *D, const real *W, real *pk,
                         const size_t IN, const size_t OUT, const int PACT, const int MR,
                         const int NB, size_t r0, size_t r1)
{
#if KERN_SIMD
	const size_t nch = (KERN_NV(IN) + (size_t)NB - 1) / (size_t)NB;
	const int lastnb = (int)(KERN_NV(IN) - (nch - 1) * (size_t)NB);
	size_t ch;
	for (ch = 0; ch + 1 < nch; ch++)
		kern_dx_chunk(Dp, Ap, D, W, pk, IN, OUT, PACT, MR, r0, r1, ch * (size_t)NB, NB);
	kern_dx_chunk(Dp, Ap, D, W, pk, IN, OUT, PACT, MR, r0, r1, ch * (size_t)NB, lastnb);
#else
	size_t r, j, i;
	(void)pk;
	(void)MR;
	(void)NB;
	for (r = r0; r < r1; r++) {
		const real *d = D + r * OUT;
		for (j = 0; j < IN; j++) {
			const real *w = W + j * OUT;
			real g = R(0.0);
			for (i = 0; i < OUT; i++)
				g = FMA(d[i], w[i], g);
			Dp[r * IN + j] = act_deriv(PACT, Ap[r * IN + j]) * g;
		}
	}
#endif
}

//@ section pool
/* ---- The thread pool.  kern_pool_run(p, fn, units) calls fn(unit, tid)
 * once for every unit in [0, units): threads CLAIM units from a shared
 * counter, and what a unit computes never depends on the thread that runs
 * it (units are fixed row blocks and weight tiles), so results are
 * bit-identical for any thread count, and a worker the OS has descheduled
 * costs at most the unit it holds.  Workers spin briefly, then sleep on a
 * condition variable.  tid (0 = the caller) only selects scratch memory.
 * GCC/clang builtins for the atomics; elsewhere one thread. */
#define KERN_MAX_THREADS 64
#define KERN_SPIN 20000   /* polls before a worker sleeps */

typedef void (*kern_unit_fn)(size_t unit, int tid);

typedef struct KernPool KernPool;
typedef struct KernStart {
	KernPool *p;
	int tid;
} KernStart;

struct KernPool {
	int n;                       /* threads including the caller; 0 = not started */
	pthread_t th[KERN_MAX_THREADS];
	KernStart start[KERN_MAX_THREADS];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	kern_unit_fn fn;
	uint64_t claim;              /* generation << 32 | next unit */
	uint64_t units;
	uint64_t done;               /* units finished in this generation */
	unsigned gen;
	int quit;
};

#if defined(__GNUC__)
#define KERN_HAVE_THREADS 1
#define KERN_LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define KERN_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static void kern_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Claims and runs units of generation gen until none is left. */
static void kern_pool_drain(KernPool *p, unsigned gen, int tid)
{
	for (;;) {
		uint64_t c = KERN_LOAD(&p->claim), unit = c & 0xffffffffu;
		if ((unsigned)(c >> 32) != gen || unit >= p->units)
			return;
		if (__atomic_compare_exchange_n(&p->claim, &c, c + 1, 0, __ATOMIC_ACQ_REL,
		                                __ATOMIC_ACQUIRE)) {
			p->fn((size_t)unit, tid);
			__atomic_add_fetch(&p->done, 1, __ATOMIC_ACQ_REL);
		}
	}
}

static void *kern_pool_worker(void *arg)
{
	KernStart *ks = arg;
	KernPool *p = ks->p;
	unsigned seen = 0, g;
	for (;;) {
		long spin = 0;
		while ((g = KERN_LOAD(&p->gen)) == seen && spin < KERN_SPIN) {
			kern_pause();
			spin++;
		}
		if (g == seen) {
			pthread_mutex_lock(&p->mu);
			while ((g = KERN_LOAD(&p->gen)) == seen)
				pthread_cond_wait(&p->cv, &p->mu);
			pthread_mutex_unlock(&p->mu);
		}
		seen = g;
		if (KERN_LOAD(&p->quit))
			return NULL;
		kern_pool_drain(p, g, ks->tid);
	}
}

static void kern_pool_kick(KernPool *p, unsigned gen)
{
	pthread_mutex_lock(&p->mu);
	KERN_STORE(&p->gen, gen);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Starts n threads (the caller is one of them); returns how many run. */
static int kern_pool_start(KernPool *p, int n)
{
	int t;
	n = n < 1 ? 1 : n > KERN_MAX_THREADS ? KERN_MAX_THREADS : n;
	p->n = n;
	p->gen = 0;
	p->claim = p->units = p->done = 0;
	p->quit = 0;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (t = 1; t < n; t++) {
		p->start[t].p = p;
		p->start[t].tid = t;
		if (pthread_create(&p->th[t], NULL, kern_pool_worker, &p->start[t]) != 0) {
			p->n = t;
			break;
		}
	}
	return p->n;
}

static void kern_pool_stop(KernPool *p)
{
	int t;
	if (p->n == 0)
		return;
	if (p->n > 1) {
		KERN_STORE(&p->quit, 1);
		kern_pool_kick(p, p->gen + 1);
		for (t = 1; t < p->n; t++)
			pthread_join(p->th[t], NULL);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	p->n = 0;
}

static void kern_pool_run(KernPool *p, kern_unit_fn fn, size_t units)
{
	unsigned gen;
	long spin = 0;
	size_t u;
	if (p->n <= 1 || units <= 1) {
		for (u = 0; u < units; u++)
			fn(u, 0);
		return;
	}
	gen = p->gen + 1;
	p->fn = fn;
	p->units = units;
	KERN_STORE(&p->done, 0);
	KERN_STORE(&p->claim, (uint64_t)gen << 32);
	kern_pool_kick(p, gen);
	kern_pool_drain(p, gen, 0);
	/* Only units that a worker claimed and is still running are left. */
	while (KERN_LOAD(&p->done) != units) {
		if (++spin < KERN_SPIN)
			kern_pause();
		else
			sched_yield();
	}
}
#else
#define KERN_HAVE_THREADS 0
static int kern_pool_start(KernPool *p, int n)
{
	(void)n;
	return p->n = 1;
}

static void kern_pool_stop(KernPool *p)
{
	p->n = 0;
}

static void kern_pool_run(KernPool *p, kern_unit_fn fn, size_t units)
{
	size_t u;
	(void)p;
	for (u = 0; u < units; u++)
		fn(u, 0);
}
#endif

/* Online cores: what threads = 0 means. */
static int kern_cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > KERN_MAX_THREADS ? KERN_MAX_THREADS : (int)n;
}
