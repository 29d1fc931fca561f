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

//@ section std
/* The training normalisation (standardize): x = (pixel - mean[j]) / std. */
#define {{U}}_STD {{STD}} /* {{STD_DEC}} */

//@ section layer_sizes
#define {{U}}_L{{K}}_IN {{IN}}
#define {{U}}_L{{K}}_OUT {{OUT}}
#define {{U}}_L{{K}}_ZP {{ZP}} /* {{ZP_DOC}} */

//@ section layer_decl
static const int8_t {{P}}_l{{K}}_w[{{U}}_L{{K}}_IN][{{U}}_L{{K}}_OUT]; /* W[j][i]: input j -> unit i */
static const int32_t {{P}}_l{{K}}_b[{{U}}_L{{K}}_OUT];
static const int32_t {{P}}_l{{K}}_m[{{U}}_L{{K}}_OUT];
static const unsigned char {{P}}_l{{K}}_n[{{U}}_L{{K}}_OUT];

//@ section layer_decl_lut
static const unsigned char {{P}}_l{{K}}_lut[256];

//@ section layer_begin
/* layer {{K}} "{{NAME}}": dense {{IN}}->{{OUT}}, {{ACT}} ({{LOC}}), int8
 * acc = b + x W in int32 over the nonzero inputs,
 * {{DOC}} */
static void {{P}}_l{{K}}_forward({{Y}} *restrict y, const unsigned char *restrict x)
{
	int32_t acc[{{U}}_L{{K}}_OUT];
	size_t i, j;

	for (i = 0; i < {{U}}_L{{K}}_OUT; i++)
		acc[i] = {{P}}_l{{K}}_b[i];
	for (j = 0; j < {{U}}_L{{K}}_IN; j++) {
		const int32_t xj = x[j];
		const int8_t *w = {{P}}_l{{K}}_w[j];

		if (xj == 0)
			continue;
//@ section layer_axpy_main
		/* {{MAIN}} outputs, a multiple of 16: gcc -O2 vectorises it */
		for (i = 0; i < {{MAIN}}; i++)
			acc[i] += xj * w[i];
//@ section layer_axpy_tail
		for (i = {{MAIN}}; i < {{U}}_L{{K}}_OUT; i++)
			acc[i] += xj * w[i];
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

//@ section output_softmax
/* layer {{K}} "{{NAME}}": softmax ({{LOC}}) of the scores {{U}}_LOGIT_SCALE * z,
 * the largest subtracted so expf cannot overflow. */
static void {{P}}_output(float out[{{U}}_OUTPUTS], const int32_t z[{{U}}_OUTPUTS])
{
	const float top = (float)z[{{P}}_argmax(z)];
	float sum = 0;
	size_t i;

	for (i = 0; i < {{U}}_OUTPUTS; i++) {
		out[i] = expf(((float)z[i] - top) * (float){{U}}_LOGIT_SCALE);
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
/* ---- Quantised parameters.  Per dense layer: W[in][out] int8 (unit i in
 * steps of its own scale), b[out] int32 (at the scale of the accumulator,
 * the input's zero point folded in), the multipliers m[out] and shifts
 * n[out] of the requantisation, and for sigmoid/tanh the 256-entry table. */

//@ section layer_w
/* layer {{K}} "{{NAME}}": W {{IN}}x{{OUT}} */
static const int8_t {{P}}_l{{K}}_w[{{U}}_L{{K}}_IN][{{U}}_L{{K}}_OUT] = {
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
