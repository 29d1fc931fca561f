/*
 * export.c - the fixed parts of exported inference code (nncc --infer),
 * used by compiler/export.c: the includes, the buffer plan, the input
 * normalisation, the multiply-add and AVX-512 kernel shared by the layers,
 * the scores chain, the public API and the brackets of the parameter
 * arrays.  Each layer kind's own code (its sizes, declarations, function
 * and parameter arrays) is in the kind's template, sections export_*.
 * {{P}} is the network name (every identifier carries it so several
 * networks can share one program, even one translation unit in the
 * header-only form), {{U}} the same in upper case, {{REAL}} float or double.
 * {{API}} is "" (external functions in NAME.c) or "static inline "
 * (header-only).
 */

//@ section includes
#include <math.h>
#include <stddef.h>
#include <stdint.h>

//@ section include_header
#include "{{HEADER}}"

//@ section sizes_buffers
/* Activations ping-pong between two scratch buffers: layers 1, 3, ... write
 * the first ({{U}}_BUF0 reals), layers 2, 4, ... the second. */
#define {{U}}_BUF0 {{BUF0}}

//@ section decl_mean
static const double {{P}}_mean[{{U}}_INPUTS]; /* per-pixel training mean */

//@ section decl_std
static const double {{P}}_std[{{U}}_INPUTS]; /* per-feature training std */

//@ section class_names_begin
/* The class names of the training data: class k is {{P}}_class_names[k]. */
static const char *const {{P}}_class_names[{{K}}] = {
//@ section class_name
{{API}}const char *{{P}}_class_name(int k)
{
	return k >= 0 && k < {{K}} ? {{P}}_class_names[k] : NULL;
}

//@ section pixel_none
/* Training normalisation: none, x = pixel. */
static {{REAL}} {{P}}_pixel(unsigned char v, size_t j)
{
	(void)j;
	return ({{REAL}})v;
}

//@ section pixel_scale
/* Training normalisation: scale, x = pixel / 255 computed in double and
 * rounded once, exactly as the trainer did. */
static {{REAL}} {{P}}_pixel(unsigned char v, size_t j)
{
	(void)j;
	return ({{REAL}})((double)v / 255.0);
}

//@ section pixel_standardize
/* Training normalisation: standardize, x = (pixel - mean[j]) / std computed in
 * double and rounded once, exactly as the trainer did. */
#define {{U}}_STD {{STD}} /* {{STD_DEC}} */

static {{REAL}} {{P}}_pixel(unsigned char v, size_t j)
{
	return ({{REAL}})(((double)v - {{P}}_mean[j]) / {{U}}_STD);
}

//@ section pixel_standardize_features
/* Training normalisation: standardize_features, x = (v - mean[j]) / std[j]
 * computed in double and rounded once, exactly as the trainer did. */
static {{REAL}} {{P}}_pixel(unsigned char v, size_t j)
{
	return ({{REAL}})(((double)v - {{P}}_mean[j]) / {{P}}_std[j]);
}

/* Raw feature values (as in the CSV file) to the network's inputs. */
{{API}}void {{P}}_normalize(const double raw[{{U}}_INPUTS], {{REAL}} x[{{U}}_INPUTS])
{
	size_t j;

	for (j = 0; j < {{U}}_INPUTS; j++)
		x[j] = ({{REAL}})((raw[j] - {{P}}_mean[j]) / {{P}}_std[j]);
}

//@ section simd
/* ---- Arithmetic.  Each output of a dense layer is one chain over the
 * layer's inputs in input order, the trainer's own:
 *     z = b[i];  z = fma(x[j], W[j][i], z) for j = 0 .. IN-1;  a = f(z)
 * with an exactly rounded fma, so the results are the trainer's bit for bit
 * in every path, with any compiler and flags (no -ffp-contract needed: the
 * code has no a * b + c to contract).  Inputs that are exactly 0 (most pixels
 * of a digit, a relu's zeros) are skipped: fma(0, w, z) == z, so skipping
 * changes nothing but, at most, the sign of an exact zero.
 * Paths: AVX-512 intrinsics when the compiler targets AVX-512 (-march=native
 * on such a CPU); on other x86-64 builds with gcc/clang the same kernel is
 * compiled for AVX-512 anyway and used when the CPU has it, and else the
 * same chains on AVX2 + FMA when the CPU has those.  Otherwise the
 * portable loops, whose fma is one instruction where the target has FMA
 * (-mfma, -march=native, AArch64, Cortex-M4F/M7 in float) and libm's {{FMA}}
 * elsewhere: exact but slow.  Define {{U}}_MULADD to multiply, then add there
 * instead (no libm call; results then within rounding of the trainer's), and
 * {{U}}_NO_SIMD to force the portable path, {{U}}_NO_AVX512 to leave AVX-512
 * out (the AVX2 path where the CPU has it: for tests and benchmarks). */
#if defined(__FMA__) || defined({{FAST}}){{HWFMA}}
#if defined(__GNUC__)
#define {{U}}_FMA(a, b, c) __builtin_{{FMA}}((a), (b), (c)) /* inline even at -O0 */
#else
#define {{U}}_FMA(a, b, c) {{FMA}}((a), (b), (c))
#endif
#elif defined({{U}}_MULADD)
#define {{U}}_FMA(a, b, c) ((c) + (a) * (b))
#else
#define {{U}}_FMA(a, b, c) {{FMA}}((a), (b), (c))
#endif

#if defined(__AVX512F__) && defined(__GNUC__) && !defined({{U}}_NO_SIMD) && !defined({{U}}_NO_AVX512)
#define {{U}}_AVX512 1 /* built for AVX-512 */
#define {{U}}_TARGET
#define {{U}}_HAVE_AVX512 1
#elif defined(__x86_64__) && defined(__GNUC__) && !defined({{U}}_NO_SIMD)
#if !defined({{U}}_NO_AVX512)
#define {{U}}_AVX512 2 /* compiled for AVX-512 here, used if the CPU has it */
#define {{U}}_TARGET __attribute__((target("avx512f,avx512bw,fma")))
#define {{U}}_HAVE_AVX512 (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
#endif
/* Without AVX-512 (in the CPU, or by {{U}}_NO_AVX512): the same chains on
 * AVX2 + FMA, {{VL2}} outputs per vector, when the CPU has them. */
#if defined(__AVX2__) && defined(__FMA__)
#define {{U}}_AVX2 1 /* built for AVX2 */
#define {{U}}_TARGET2
#define {{U}}_HAVE_AVX2 1
#else
#define {{U}}_AVX2 2 /* compiled for AVX2 here, used if the CPU has it */
#define {{U}}_TARGET2 __attribute__((target("avx2,fma")))
#define {{U}}_HAVE_AVX2 (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
#endif
#endif

#if defined({{U}}_AVX512) || defined({{U}}_AVX2)
#include <immintrin.h>
#endif

#if defined({{U}}_AVX512)

/* Lanes of vector v of a row of n {{REAL}}s: all of them but in the last,
 * partial vector (none past it).  A constant once the kernel is inlined. */
static inline {{MASK}} {{P}}_lanes(size_t v, size_t n)
{
	if ((v + 1) * {{VL}} <= n)
		return ({{MASK}})~0u;
	return v * {{VL}} < n ? ({{MASK}})((1u << (n - v * {{VL}})) - 1u) : ({{MASK}})0;
}

/* Bit j % 64 of nz[j / 64] is set when x[j] != 0 (or NaN). */
static inline {{U}}_TARGET void {{P}}_nonzero(uint64_t *nz, const {{REAL}} *x, size_t n)
{
	size_t j;

	for (j = 0; j < (n + 63) / 64; j++)
		nz[j] = 0;
	for (j = 0; j < n; j += {{VL}}) {
		const {{V}} v = _mm512_maskz_loadu_{{VS}}({{P}}_lanes(j / {{VL}}, n), x + j);
		nz[j / 64] |= (uint64_t)_mm512_cmp_{{VS}}_mask(v, _mm512_setzero_{{VS}}(), _CMP_NEQ_UQ)
		              << j % 64;
	}
}

/* Vectors c0 .. c0+nb-1 (nb <= 4) of z = b + x W for one input: the chains
 * of up to 4 x {{VL}} outputs run side by side, over the inputs flagged in nz,
 * from x or, when px is not NULL, from raw pixels.  One input is latency-
 * bound (each chain waits for its previous FMA), so the independent chains
 * are what keeps the FMA units busy.  The sizes are constants after
 * inlining; the empty asm keeps each loaded row in a register. */
static inline __attribute__((always_inline)) {{U}}_TARGET void {{P}}_chunk({{REAL}} *restrict z,
	const {{REAL}} *restrict x, const unsigned char *restrict px, const uint64_t *restrict nz,
	const {{REAL}} *restrict w, const {{REAL}} *restrict b, const size_t nin, const size_t nout,
	const size_t c0, const int nb)
{
	const {{MASK}} m0 = {{P}}_lanes(c0, nout), m1 = {{P}}_lanes(c0 + 1, nout),
	        m2 = {{P}}_lanes(c0 + 2, nout), m3 = {{P}}_lanes(c0 + 3, nout);
	{{V}} a0 = _mm512_setzero_{{VS}}(), a1 = a0, a2 = a0, a3 = a0;
	size_t k;

	b += c0 * {{VL}};
	if (nb > 0) a0 = _mm512_maskz_loadu_{{VS}}(m0, b);
	if (nb > 1) a1 = _mm512_maskz_loadu_{{VS}}(m1, b + {{VL}});
	if (nb > 2) a2 = _mm512_maskz_loadu_{{VS}}(m2, b + 2 * {{VL}});
	if (nb > 3) a3 = _mm512_maskz_loadu_{{VS}}(m3, b + 3 * {{VL}});
	for (k = 0; k < (nin + 63) / 64; k++) {
		uint64_t m = nz[k];

		while (m) {
			const size_t j = k * 64 + (size_t)__builtin_ctzll(m);
			const {{REAL}} *wj = w + j * nout + c0 * {{VL}};
			const {{REAL}} xj = px ? {{P}}_pixel(px[j], j) : x[j];
			{{V}} xb, w0, w1, w2, w3;

			m &= m - 1;
			if (xj == 0)
				continue;
			xb = _mm512_set1_{{VS}}(xj);
			if (nb > 0) { w0 = _mm512_maskz_loadu_{{VS}}(m0, wj); __asm__("" : "+v"(w0)); a0 = _mm512_fmadd_{{VS}}(xb, w0, a0); }
			if (nb > 1) { w1 = _mm512_maskz_loadu_{{VS}}(m1, wj + {{VL}}); __asm__("" : "+v"(w1)); a1 = _mm512_fmadd_{{VS}}(xb, w1, a1); }
			if (nb > 2) { w2 = _mm512_maskz_loadu_{{VS}}(m2, wj + 2 * {{VL}}); __asm__("" : "+v"(w2)); a2 = _mm512_fmadd_{{VS}}(xb, w2, a2); }
			if (nb > 3) { w3 = _mm512_maskz_loadu_{{VS}}(m3, wj + 3 * {{VL}}); __asm__("" : "+v"(w3)); a3 = _mm512_fmadd_{{VS}}(xb, w3, a3); }
		}
	}
	z += c0 * {{VL}};
	if (nb > 0) _mm512_mask_storeu_{{VS}}(z, m0, a0);
	if (nb > 1) _mm512_mask_storeu_{{VS}}(z + {{VL}}, m1, a1);
	if (nb > 2) _mm512_mask_storeu_{{VS}}(z + 2 * {{VL}}, m2, a2);
	if (nb > 3) _mm512_mask_storeu_{{VS}}(z + 3 * {{VL}}, m3, a3);
}
#endif

#if defined({{U}}_AVX2)
/* The AVX2 path: vectors of {{VL2}} {{REAL}}s; a lane's mask is all ones.
 * Lanes of vector v of a row of n: those before n. */
static inline {{U}}_TARGET2 __m256i {{P}}_lanes2(size_t v, size_t n)
{
	const size_t left = n > v * {{VL2}} ? n - v * {{VL2}} : 0;

	return {{CMPGT2}}({{SET1I2}}(({{ICAST2}})(left < {{VL2}} ? left : {{VL2}})), {{IOTA2}});
}

/* {{P}}_nonzero with AVX2. */
static inline {{U}}_TARGET2 void {{P}}_nonzero2(uint64_t *nz, const {{REAL}} *x, size_t n)
{
	size_t j;

	for (j = 0; j < (n + 63) / 64; j++)
		nz[j] = 0;
	for (j = 0; j < n; j += {{VL2}}) {
		const {{V2}} v = _mm256_maskload_{{VS}}(x + j, {{P}}_lanes2(j / {{VL2}}, n));
		nz[j / 64] |= (uint64_t)(unsigned)_mm256_movemask_{{VS}}(
			_mm256_cmp_{{VS}}(v, _mm256_setzero_{{VS}}(), _CMP_NEQ_UQ)) << j % 64;
	}
}

/* {{P}}_chunk with AVX2: vectors c0 .. c0+nb-1 (nb <= 4) of {{VL2}} outputs. */
static inline __attribute__((always_inline)) {{U}}_TARGET2 void {{P}}_chunk2({{REAL}} *restrict z,
	const {{REAL}} *restrict x, const unsigned char *restrict px, const uint64_t *restrict nz,
	const {{REAL}} *restrict w, const {{REAL}} *restrict b, const size_t nin, const size_t nout,
	const size_t c0, const int nb)
{
	const __m256i m0 = {{P}}_lanes2(c0, nout), m1 = {{P}}_lanes2(c0 + 1, nout),
	              m2 = {{P}}_lanes2(c0 + 2, nout), m3 = {{P}}_lanes2(c0 + 3, nout);
	{{V2}} a0 = _mm256_setzero_{{VS}}(), a1 = a0, a2 = a0, a3 = a0;
	size_t k;

	b += c0 * {{VL2}};
	if (nb > 0) a0 = _mm256_maskload_{{VS}}(b, m0);
	if (nb > 1) a1 = _mm256_maskload_{{VS}}(b + {{VL2}}, m1);
	if (nb > 2) a2 = _mm256_maskload_{{VS}}(b + 2 * {{VL2}}, m2);
	if (nb > 3) a3 = _mm256_maskload_{{VS}}(b + 3 * {{VL2}}, m3);
	for (k = 0; k < (nin + 63) / 64; k++) {
		uint64_t m = nz[k];

		while (m) {
			const size_t j = k * 64 + (size_t)__builtin_ctzll(m);
			const {{REAL}} *wj = w + j * nout + c0 * {{VL2}};
			const {{REAL}} xj = px ? {{P}}_pixel(px[j], j) : x[j];
			{{V2}} xb;

			m &= m - 1;
			if (xj == 0)
				continue;
			xb = _mm256_set1_{{VS}}(xj);
			if (nb > 0) a0 = _mm256_fmadd_{{VS}}(xb, _mm256_maskload_{{VS}}(wj, m0), a0);
			if (nb > 1) a1 = _mm256_fmadd_{{VS}}(xb, _mm256_maskload_{{VS}}(wj + {{VL2}}, m1), a1);
			if (nb > 2) a2 = _mm256_fmadd_{{VS}}(xb, _mm256_maskload_{{VS}}(wj + 2 * {{VL2}}, m2), a2);
			if (nb > 3) a3 = _mm256_fmadd_{{VS}}(xb, _mm256_maskload_{{VS}}(wj + 3 * {{VL2}}, m3), a3);
		}
	}
	z += c0 * {{VL2}};
	if (nb > 0) _mm256_maskstore_{{VS}}(z, m0, a0);
	if (nb > 1) _mm256_maskstore_{{VS}}(z + {{VL2}}, m1, a1);
	if (nb > 2) _mm256_maskstore_{{VS}}(z + 2 * {{VL2}}, m2, a2);
	if (nb > 3) _mm256_maskstore_{{VS}}(z + 3 * {{VL2}}, m3, a3);
}

/* A dense layer's z = b + x W on the AVX2 path, given its nonzero inputs:
 * chunks of 4 vectors, then the rest (constants after inlining). */
static inline __attribute__((always_inline)) {{U}}_TARGET2 void {{P}}_dense2({{REAL}} *restrict z,
	const {{REAL}} *restrict x, const unsigned char *restrict px, const uint64_t *restrict nz,
	const {{REAL}} *restrict w, const {{REAL}} *restrict b, const size_t nin, const size_t nout)
{
	const size_t vecs = (nout + {{VL2}} - 1) / {{VL2}};
	size_t c = 0;

	for (; c + 4 <= vecs; c += 4)
		{{P}}_chunk2(z, x, px, nz, w, b, nin, nout, c, 4);
	if (vecs % 4)
		{{P}}_chunk2(z, x, px, nz, w, b, nin, nout, c, (int)(vecs % 4));
}
#endif

#if defined({{U}}_AVX512) || defined({{U}}_AVX2)

//@ section exp_reduce_doc
{{POLY_DECL}}/* exp's range reduction as the trainer's (kern_exp_reduce in nncc's
 * runtime): one fixed sequence of exactly rounded operations, so exp and
 * tanh give the same bits on every machine and with any compiler, and no
 * libm call.  n = round(x / ln 2) by adding 1.5 * 2^{{SHIFT}}, r = x - n ln 2
 * in two fmas, |r| <= ln 2 / 2; returns r, *s = 2^n built from the bits of
 * the rounded sum. */
//@ section exp_reduce
static {{ATTR}}{{REAL}} {{P}}_exp_reduce_{{SFX}}({{REAL}} x, {{REAL}} *s)
{
	union {
		{{REAL}} r;
		{{UINT}} u;
	} t, p2, magic;
	{{REAL}} nf, r;

	magic.r = {{MAGIC}};
	t.r = {{FMA}}(x, {{LOG2E}}, {{MAGIC}});
	nf = t.r - {{MAGIC}};
	r = {{FMA}}(-nf, {{LN2HI}}, x);
	r = {{FMA}}(-nf, {{LN2LO}}, r);
	p2.u = ({{UINT}})((t.u - magic.u + {{BIAS}}u) << {{SHIFT}});
	*s = p2.r;
	return r;
}

//@ section exp_doc
/* exp(x) as the trainer computes it (kern_exp): x clamped to [{{LO_DEC}}, {{HI_DEC}}],
 * reduced, exp(r) by a Taylor polynomial of degree {{DEGREE}} in Horner form,
 * times 2^n.  Error < 1 ulp. */
//@ section exp
static {{ATTR}}{{REAL}} {{P}}_exp_{{SFX}}({{REAL}} x)
{
	const {{REAL}} *poly = {{P}}_exp_poly;
	{{REAL}} r, s, p;
	int k;

	x = {{LO}} > x ? {{LO}} : x;
	x = {{HI}} < x ? {{HI}} : x;
	r = {{P}}_exp_reduce_{{SFX}}(x, &s);
	p = poly[0];
	for (k = 1; k < {{NPOLY}}; k++)
		p = {{FMA}}(p, r, poly[k]);
	return p * s;
}

//@ section tanh_doc
/* tanh(x) as the trainer computes it (kern_tanh): e / (e + 2) with
 * e = expm1(2|x|), negated for x < 0.  v = 2|x| clamped to {{TANH_HI_DEC}}, reduced,
 * q = exp(r) - 1 = r h(r) (h: the exp polynomial less its constant term),
 * e = 2^n q + (2^n - 1) in one fma.  Error < 3.5 ulp; tanh(-0) = +0. */
//@ section tanh
static {{ATTR}}{{REAL}} {{P}}_tanh_{{SFX}}({{REAL}} x)
{
	const {{REAL}} *poly = {{P}}_exp_poly;
	{{REAL}} a, v, r, s, h, e, y;
	int k;

	a = x < 0 ? 0 - x : x;
	v = a + a;
	v = {{TANH_HI}} < v ? {{TANH_HI}} : v;
	r = {{P}}_exp_reduce_{{SFX}}(v, &s);
	h = poly[0];
	for (k = 1; k < {{NPOLY}} - 1; k++)
		h = {{FMA}}(h, r, poly[k]);
	e = {{FMA}}(s, h * r, s - 1);
	y = e / (e + 2);
	return x < 0 ? 0 - y : y;
}

//@ section exp_fma_begin
/* On x86-64 without -mfma, {{U}}_FMA is libm's {{FMAF}} (exact, but a call):
 * the same functions compiled with the FMA instruction (suffix _fma), used
 * when the CPU has it.  The same bits either way. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__FMA__) && !defined({{U}}_MULADD)
#define {{U}}_EXP_FMA 1
//@ section exp_fma_end
#endif

//@ section exp_dispatch
/* {{FN}}: the FMA instruction's copy where it is there and {{U}}_FMA is a call. */
static {{REAL}} {{P}}_{{FN}}({{REAL}} x)
{
#if defined({{U}}_EXP_FMA)
	if (__builtin_cpu_supports("fma"))
		return {{P}}_{{FN}}_fma(x);
#endif
	return {{P}}_{{FN}}_plain(x);
}

//@ section nonzero_u8_px
/* For raw pixels: x[j] == 0 exactly when pixel j is 0.  Byte by byte (the
 * AVX2 path's; unused when AVX-512BW does it and there is no AVX2 path), */
static inline __attribute__((unused)) void {{P}}_nonzero2_u8(uint64_t *nz,
	const unsigned char *px, size_t n)
{
	size_t j;

	for (j = 0; j < (n + 63) / 64; j++)
		nz[j] = 0;
	for (j = 0; j < n; j++)
		nz[j / 64] |= (uint64_t)(px[j] != 0) << j % 64;
}

/* and 64 bytes at a time with AVX-512BW. */
#if defined({{U}}_AVX512)
static inline {{U}}_TARGET void {{P}}_nonzero_u8(uint64_t *nz, const unsigned char *px, size_t n)
{
#if defined(__AVX512BW__) || {{U}}_AVX512 == 2
	size_t j;

	for (j = 0; j < n; j += 64) {
		const __mmask64 lanes = n - j >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (n - j)) - 1;
		const __m512i v = _mm512_maskz_loadu_epi8(lanes, px + j);
		nz[j / 64] = _mm512_test_epi8_mask(v, v);
	}
#else
	{{P}}_nonzero2_u8(nz, px, n);
#endif
}
#endif
#endif

//@ section nonzero_u8_all
/* For raw pixels: every input may be nonzero (standardize: x[j] == 0 only
 * when the pixel equals the mean, which the kernel checks itself). */
static inline void {{P}}_nonzero2_u8(uint64_t *nz, const unsigned char *px, size_t n)
{
	size_t j;

	(void)px;
	for (j = 0; j < (n + 63) / 64; j++)
		nz[j] = n - 64 * j >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << (n - 64 * j)) - 1;
}

#if defined({{U}}_AVX512)
static inline {{U}}_TARGET void {{P}}_nonzero_u8(uint64_t *nz, const unsigned char *px, size_t n)
{
	{{P}}_nonzero2_u8(nz, px, n);
}
#endif
#endif

//@ section identity
/* No softmax layer: the outputs are the last layer's activations. */
static void {{P}}_output({{REAL}} out[{{U}}_OUTPUTS], const {{REAL}} z[{{U}}_OUTPUTS])
{
	size_t i;

	for (i = 0; i < {{U}}_OUTPUTS; i++)
		out[i] = z[i];
}

//@ section scores_begin
/* Runs the layers up to the scores the prediction is the argmax of (the
 * softmax input), from normalised inputs `in` or, when px is not NULL, from
 * raw pixels.  Returns where in scratch the scores are. */
static const {{REAL}} *{{P}}_scores(const {{REAL}} *in, const unsigned char *px,
	{{REAL}} scratch[{{U}}_WORKSPACE_SIZE])
{
	{{REAL}} *s0 = scratch, *s1 = scratch + {{U}}_BUF0;

	(void)s1; /* unused with one layer */
	if (px)
		{{P}}_l{{K}}_forward_u8(s0, px);
	else
		{{P}}_l{{K}}_forward(s0, in);

//@ section scores_call
	{{P}}_l{{K}}_forward({{DST}}, {{SRC}});

//@ section scores_end
	return {{LAST}};
}

//@ section api
/* Index of the largest score, the first one on ties. */
static int {{P}}_argmax(const {{REAL}} z[{{U}}_OUTPUTS])
{
	size_t i, best = 0;

	for (i = 1; i < {{U}}_OUTPUTS; i++)
		if (z[i] > z[best])
			best = i;
	return (int)best;
}

{{API}}void {{P}}_forward_workspace(const {{REAL}} in[{{U}}_INPUTS], {{REAL}} out[{{U}}_OUTPUTS],
	{{REAL}} scratch[{{U}}_WORKSPACE_SIZE])
{
	{{P}}_output(out, {{P}}_scores(in, NULL, scratch));
}

{{API}}void {{P}}_forward(const {{REAL}} in[{{U}}_INPUTS], {{REAL}} out[{{U}}_OUTPUTS])
{
	{{REAL}} scratch[{{U}}_WORKSPACE_SIZE];

	{{P}}_output(out, {{P}}_scores(in, NULL, scratch));
}

{{API}}void {{P}}_forward_u8(const unsigned char pixels[{{U}}_INPUTS], {{REAL}} out[{{U}}_OUTPUTS])
{
	{{REAL}} scratch[{{U}}_WORKSPACE_SIZE];

	{{P}}_output(out, {{P}}_scores(NULL, pixels, scratch));
}

{{API}}int {{P}}_predict_workspace(const {{REAL}} in[{{U}}_INPUTS],
	{{REAL}} scratch[{{U}}_WORKSPACE_SIZE])
{
	return {{P}}_argmax({{P}}_scores(in, NULL, scratch));
}

{{API}}int {{P}}_predict(const {{REAL}} in[{{U}}_INPUTS])
{
	{{REAL}} scratch[{{U}}_WORKSPACE_SIZE];

	return {{P}}_argmax({{P}}_scores(in, NULL, scratch));
}

{{API}}int {{P}}_predict_u8(const unsigned char pixels[{{U}}_INPUTS])
{
	{{REAL}} scratch[{{U}}_WORKSPACE_SIZE];

	return {{P}}_argmax({{P}}_scores(NULL, pixels, scratch));
}

{{API}}void {{P}}_normalize_u8({{REAL}} x[{{U}}_INPUTS], const unsigned char pixels[{{U}}_INPUTS])
{
	size_t j;

	for (j = 0; j < {{U}}_INPUTS; j++)
		x[j] = {{P}}_pixel(pixels[j], j);
}

//@ section params_begin
/* ---- Trained parameters (hex floats: exact).  Layout as in the weight file:
 * per dense layer W[in][out] input-major, then b[out]. */

//@ section mean_begin
/* Per-pixel means of the training set (standardize), double as in training. */
static const double {{P}}_mean[{{U}}_INPUTS] = {

//@ section std_begin
/* Per-feature standard deviations of the training set (standardize_features). */
static const double {{P}}_std[{{U}}_INPUTS] = {

//@ section array_end
};
