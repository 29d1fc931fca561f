/*
 * quant.c - the fixed parts of int8 inference code (nncc --infer --quantize
 * int8), used by compiler/export_int8.c: the includes, the requantisation,
 * one dense layer's integer function (its accumulation, then one of three
 * endings: clamp, table, logits), the logits chain's brackets, the integer
 * API and, unless --no-float, the float API (input quantisation, the
 * output stage).  The scheme is docs/embedding.md#int8-export.  {{P}} is
 * the network name, {{U}} the same in upper case, {{K}} a 1-based layer
 * index, {{API}} "" or "static inline " (header-only).
 */

//@ section includes
#include <stddef.h>
#include <stdint.h>

//@ section includes_float
#include <math.h>

//@ section rq
/* ---- Arithmetic.  Every dense layer accumulates in int32:
 *     acc[i] = b[i] + sum over j of x[j] * W[j][i]
 * (x[j] 0..255, W int8; the input's zero point is folded into b, so an input
 * of 0 adds nothing and is skipped), then requantises each acc to 8 bits
 * with its unit's multiplier m[i] and shift n[i]:
 *     r = round(acc * m[i] / 2^n[i]), halves away from zero,
 * computed exactly in 64-bit integers.  The same integers on every target
 * and compiler: no floating point up to the logits. */
static int64_t {{P}}_rq(int32_t acc, int32_t m, int n)
{
	const int64_t p = (int64_t)acc * m;
	const uint64_t a = p < 0 ? (uint64_t)0 - (uint64_t)p : (uint64_t)p;
	const int64_t r = (int64_t)((a + ((uint64_t)1 << (n - 1))) >> n);

	return p < 0 ? -r : r;
}

//@ section vnni
/* ---- AVX-512 VNNI (x86-64, gcc/clang): vpdpbusd adds to each of 16 int32
 * lanes the products of 4 unsigned bytes of x and 4 signed bytes of W, so
 * one instruction takes 4 inputs of 16 units; W is stored 4 inputs of a
 * unit side by side for it (see the parameters).  Integer sums: the same
 * integers as the portable loops, in any order.  Compiled for AVX-512 VNNI
 * here and used when the CPU has it ({{U}}_NO_SIMD leaves it out). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined({{U}}_NO_SIMD)
#include <immintrin.h>
#include <string.h>
#define {{U}}_VNNI 1
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
#define {{U}}_TARGET_VNNI
#define {{U}}_HAVE_VNNI 1
#else
#define {{U}}_TARGET_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define {{U}}_HAVE_VNNI (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw"))
#endif

/* Lanes of vector v of n units: all 16 but in the last, partial one. */
static inline {{U}}_TARGET_VNNI __mmask16 {{P}}_vlanes(size_t v, size_t n)
{
	if ((v + 1) * 16 <= n)
		return (__mmask16)~0u;
	return v * 16 < n ? (__mmask16)((1u << (n - v * 16)) - 1u) : (__mmask16)0;
}

/* Vectors c0 .. c0+nb-1 (nb <= 4) of acc = b + x W, side by side over the
 * quads of inputs that are not all 0.  The sizes are constants after
 * inlining. */
static inline __attribute__((always_inline)) {{U}}_TARGET_VNNI void {{P}}_vnni(int32_t *restrict acc,
	const unsigned char *restrict x, const int8_t *restrict w, const int32_t *restrict b,
	const size_t nin, const size_t nout, const size_t c0, const int nb)
{
	const __mmask16 m0 = {{P}}_vlanes(c0, nout), m1 = {{P}}_vlanes(c0 + 1, nout),
	                m2 = {{P}}_vlanes(c0 + 2, nout), m3 = {{P}}_vlanes(c0 + 3, nout);
	__m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
	size_t q, k;

	if (nb > 0) a0 = _mm512_maskz_loadu_epi32(m0, b + c0 * 16);
	if (nb > 1) a1 = _mm512_maskz_loadu_epi32(m1, b + (c0 + 1) * 16);
	if (nb > 2) a2 = _mm512_maskz_loadu_epi32(m2, b + (c0 + 2) * 16);
	if (nb > 3) a3 = _mm512_maskz_loadu_epi32(m3, b + (c0 + 3) * 16);
	for (q = 0; q < (nin + 3) / 4; q++) {
		const int8_t *wq = w + (q * nout + c0 * 16) * 4;
		uint32_t xq = 0;
		__m512i xb;

		if (4 * q + 4 <= nin) {   /* 4 inputs, x[4q] lowest: one load (x86) */
			memcpy(&xq, x + 4 * q, 4);
		} else {                  /* the last 1-3 (a constant) */
			for (k = 0; 4 * q + k < nin; k++)
				xq |= (uint32_t)x[4 * q + k] << (8 * k);
		}
		if (xq == 0)
			continue;
		xb = _mm512_set1_epi32((int)xq);
		if (nb > 0) a0 = _mm512_dpbusd_epi32(a0, xb, _mm512_maskz_loadu_epi32(m0, wq));
		if (nb > 1) a1 = _mm512_dpbusd_epi32(a1, xb, _mm512_maskz_loadu_epi32(m1, wq + 64));
		if (nb > 2) a2 = _mm512_dpbusd_epi32(a2, xb, _mm512_maskz_loadu_epi32(m2, wq + 128));
		if (nb > 3) a3 = _mm512_dpbusd_epi32(a3, xb, _mm512_maskz_loadu_epi32(m3, wq + 192));
	}
	acc += c0 * 16;
	if (nb > 0) _mm512_mask_storeu_epi32(acc, m0, a0);
	if (nb > 1) _mm512_mask_storeu_epi32(acc + 16, m1, a1);
	if (nb > 2) _mm512_mask_storeu_epi32(acc + 32, m2, a2);
	if (nb > 3) _mm512_mask_storeu_epi32(acc + 48, m3, a3);
}
#endif

//@ section std
/* The training normalisation (standardize): x = (pixel - mean[j]) / std. */
#define {{U}}_STD {{STD}} /* {{STD_DEC}} */

//@ section layer_sizes
#define {{U}}_L{{K}}_IN {{IN}}
#define {{U}}_L{{K}}_OUT {{OUT}}
#define {{U}}_L{{K}}_QUADS {{QUADS}} /* groups of 4 inputs, the last padded with 0 */
#define {{U}}_L{{K}}_ZP {{ZP}} /* {{ZP_DOC}} */

//@ section layer_decl
static const int8_t {{P}}_l{{K}}_w[{{U}}_L{{K}}_QUADS][{{U}}_L{{K}}_OUT][4]; /* W[j/4][i][j%4]: input j -> unit i */
static const int32_t {{P}}_l{{K}}_b[{{U}}_L{{K}}_OUT];
static const int32_t {{P}}_l{{K}}_m[{{U}}_L{{K}}_OUT];
static const unsigned char {{P}}_l{{K}}_n[{{U}}_L{{K}}_OUT];

//@ section layer_decl_lut
static const unsigned char {{P}}_l{{K}}_lut[256];

//@ section layer_begin
/* layer {{K}} "{{NAME}}": dense {{IN}}->{{OUT}}, {{ACT}} ({{LOC}}), int8
 * acc = b + x W in int32 over the nonzero inputs,
 * {{DOC}} */
#if defined({{U}}_VNNI)
static {{U}}_TARGET_VNNI void {{P}}_l{{K}}_vnni(int32_t *restrict acc, const unsigned char *restrict x)
{
	const size_t vecs = ({{U}}_L{{K}}_OUT + 15) / 16;
	size_t c = 0;

	for (; c + 4 <= vecs; c += 4)
		{{P}}_vnni(acc, x, &{{P}}_l{{K}}_w[0][0][0], {{P}}_l{{K}}_b, {{U}}_L{{K}}_IN, {{U}}_L{{K}}_OUT, c, 4);
	if (vecs % 4) /* the last vectors; a constant */
		{{P}}_vnni(acc, x, &{{P}}_l{{K}}_w[0][0][0], {{P}}_l{{K}}_b, {{U}}_L{{K}}_IN, {{U}}_L{{K}}_OUT, c,
		           (int)(vecs % 4));
}
#endif

static void {{P}}_l{{K}}_forward({{Y}} *restrict y, const unsigned char *restrict x)
{
	int32_t acc[{{U}}_L{{K}}_OUT];
	size_t i, j;

#if defined({{U}}_VNNI)
	if ({{U}}_HAVE_VNNI) {
		{{P}}_l{{K}}_vnni(acc, x);
	} else
#endif
	{
		for (i = 0; i < {{U}}_L{{K}}_OUT; i++)
			acc[i] = {{P}}_l{{K}}_b[i];
		/* 4 inputs at a time, skipped when all 4 are 0 */
		for (j = 0; j < {{U}}_L{{K}}_IN / 4; j++) {
			const int32_t x0 = x[4 * j], x1 = x[4 * j + 1], x2 = x[4 * j + 2], x3 = x[4 * j + 3];
			const int8_t(*w)[4] = {{P}}_l{{K}}_w[j];

			if ((x0 | x1 | x2 | x3) == 0)
				continue;
//@ section layer_axpy_main
			/* {{MAIN}} outputs, a multiple of 16 */
			for (i = 0; i < {{MAIN}}; i++)
				acc[i] += x0 * w[i][0] + x1 * w[i][1] + x2 * w[i][2] + x3 * w[i][3];
//@ section layer_axpy_tail
			for (i = {{MAIN}}; i < {{U}}_L{{K}}_OUT; i++)
				acc[i] += x0 * w[i][0] + x1 * w[i][1] + x2 * w[i][2] + x3 * w[i][3];
//@ section layer_quads_end
		}
//@ section layer_rest
		/* the last {{REST}} inputs, one at a time */
		for (j = {{U}}_L{{K}}_IN / 4 * 4; j < {{U}}_L{{K}}_IN; j++) {
			const int32_t xj = x[j];

			if (xj == 0)
				continue;
			for (i = 0; i < {{U}}_L{{K}}_OUT; i++)
				acc[i] += xj * {{P}}_l{{K}}_w[j / 4][i][j % 4];
		}
//@ section layer_requant
	}
	for (i = 0; i < {{U}}_L{{K}}_OUT; i++) {
		const int64_t r = {{P}}_rq(acc[i], {{P}}_l{{K}}_m[i], {{P}}_l{{K}}_n[i]);

//@ section layer_clamp
		const int64_t q = {{U}}_L{{K}}_ZP + r;

		y[i] = (unsigned char)(q < {{LO}} ? {{LO}} : q > 255 ? 255 : q);
	}
}

//@ section layer_lut
		const int64_t q = {{U}}_L{{K}}_ZP + r;

		y[i] = {{P}}_l{{K}}_lut[q < 0 ? 0 : q > 255 ? 255 : q];
	}
}

//@ section layer_logits

		y[i] = (int32_t)r;
	}
}

//@ section logits_begin
/* The int32 logits of raw pixels: the layers in order, their 8-bit outputs
 * taking turns in two buffers. */
static void {{P}}_logits(int32_t out[{{U}}_OUTPUTS], const unsigned char px[{{U}}_INPUTS])
{
//@ section logits_end
}

//@ section api
/* Index of the largest logit, the first one on ties. */
static int {{P}}_argmax(const int32_t z[{{U}}_OUTPUTS])
{
	size_t i, best = 0;

	for (i = 1; i < {{U}}_OUTPUTS; i++)
		if (z[i] > z[best])
			best = i;
	return (int)best;
}

{{API}}void {{P}}_logits_u8(const unsigned char pixels[{{U}}_INPUTS], int32_t logits[{{U}}_OUTPUTS])
{
	{{P}}_logits(logits, pixels);
}

{{API}}int {{P}}_predict_u8(const unsigned char pixels[{{U}}_INPUTS])
{
	int32_t z[{{U}}_OUTPUTS];

	{{P}}_logits(z, pixels);
	return {{P}}_argmax(z);
}

//@ section quantize
/* Normalised inputs back to the pixels they stand for (the inverse of the
 * training normalisation, {{NORM}}), rounded to the nearest and clamped to
 * 0..255: the first layer reads pixels. */
static void {{P}}_quantize(unsigned char q[{{U}}_INPUTS], const float in[{{U}}_INPUTS])
{
	size_t j;

	for (j = 0; j < {{U}}_INPUTS; j++) {
		const double v = {{PIXEL}};

		q[j] = (unsigned char)(!(v > 0) ? 0 : v >= 255 ? 255 : v + 0.5);
	}
}

//@ section float_fma
/* The exact multiply-add of the output stage's exp/tanh (one instruction
 * where the target has FMA). */
#define {{U}}_FMA fmaf

//@ section output_softmax
/* layer {{K}} "{{NAME}}": softmax ({{LOC}}) of the scores {{U}}_LOGIT_SCALE * z,
 * the largest subtracted so exp cannot overflow; exp is the file's own
 * ({{EXP}}), the same bits on every machine. */
static void {{P}}_output(float out[{{U}}_OUTPUTS], const int32_t z[{{U}}_OUTPUTS])
{
	const float top = (float)z[{{P}}_argmax(z)];
	float sum = 0;
	size_t i;

	for (i = 0; i < {{U}}_OUTPUTS; i++) {
		out[i] = {{EXP}}(((float)z[i] - top) * (float){{U}}_LOGIT_SCALE);
		sum += out[i];
	}
	for (i = 0; i < {{U}}_OUTPUTS; i++)
		out[i] /= sum;
}

//@ section output_act
/* No softmax: the outputs are {{ACT}}(score), score = {{U}}_LOGIT_SCALE * z. */
static void {{P}}_output(float out[{{U}}_OUTPUTS], const int32_t z[{{U}}_OUTPUTS])
{
	size_t i;

	for (i = 0; i < {{U}}_OUTPUTS; i++) {
		const float x = (float)z[i] * (float){{U}}_LOGIT_SCALE;

		out[i] = {{EXPR}};
	}
}

//@ section api_float
{{API}}void {{P}}_forward_u8(const unsigned char pixels[{{U}}_INPUTS], float out[{{U}}_OUTPUTS])
{
	int32_t z[{{U}}_OUTPUTS];

	{{P}}_logits(z, pixels);
	{{P}}_output(out, z);
}

{{API}}void {{P}}_forward(const float in[{{U}}_INPUTS], float out[{{U}}_OUTPUTS])
{
	unsigned char q[{{U}}_INPUTS];

	{{P}}_quantize(q, in);
	{{P}}_forward_u8(q, out);
}

{{API}}int {{P}}_predict(const float in[{{U}}_INPUTS])
{
	unsigned char q[{{U}}_INPUTS];

	{{P}}_quantize(q, in);
	return {{P}}_predict_u8(q);
}

//@ section params_begin
/* ---- Quantised parameters.  Per dense layer: W int8 (unit i in steps of
 * its own scale), inputs 4j .. 4j+3 of unit i side by side in W[j][i][0..3]
 * (the last group padded with 0), b[out] int32 (at the scale of the accumulator,
 * the input's zero point folded in), the multipliers m[out] and shifts
 * n[out] of the requantisation, and for sigmoid/tanh the 256-entry table. */

//@ section layer_w
/* layer {{K}} "{{NAME}}": W {{IN}}x{{OUT}}, as [{{QUADS}}][{{OUT}}][4] */
static const int8_t {{P}}_l{{K}}_w[{{U}}_L{{K}}_QUADS][{{U}}_L{{K}}_OUT][4] = {
//@ section layer_b
/* layer {{K}} "{{NAME}}": b, m, n */
static const int32_t {{P}}_l{{K}}_b[{{U}}_L{{K}}_OUT] = {
//@ section layer_m
static const int32_t {{P}}_l{{K}}_m[{{U}}_L{{K}}_OUT] = {
//@ section layer_n
static const unsigned char {{P}}_l{{K}}_n[{{U}}_L{{K}}_OUT] = {
//@ section layer_lut_begin
/* layer {{K}} "{{NAME}}": {{ACT}} table, output q of table input k */
static const unsigned char {{P}}_l{{K}}_lut[256] = {
