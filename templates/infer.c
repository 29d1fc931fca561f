infer.c - the exported inference code (nncc --infer), used by compiler/infer.c.
One section per piece, expanded in this order: includes, sizes, the forward
declarations of the baked-in parameters, one function per layer, the output
stage, the public API; the parameter arrays themselves are written by infer.c
after the logic.  {{P}} is the network name (every identifier carries it so
several networks can share one program, even one translation unit in the
header-only form), {{U}} the same in upper case, {{REAL}} float or double.
{{API}} is "" (external functions in NAME.c) or "static inline " (header-only).

//@ section includes
#include <math.h>
#include <stddef.h>

//@ section include_header
#include "{{HEADER}}"

//@ section sizes_layer
#define {{U}}_L{{K}}_IN {{IN}}
#define {{U}}_L{{K}}_OUT {{OUT}}

//@ section sizes_buffers
/* Activations ping-pong between two scratch buffers: layers 1, 3, ... write
 * the first ({{U}}_BUF0 reals), layers 2, 4, ... the second. */
#define {{U}}_BUF0 {{BUF0}}

//@ section decl_dense
static const {{REAL}} {{P}}_l{{K}}_w[{{U}}_L{{K}}_IN][{{U}}_L{{K}}_OUT]; /* W[j][i]: input j -> unit i */
static const {{REAL}} {{P}}_l{{K}}_b[{{U}}_L{{K}}_OUT];

//@ section decl_mean
static const double {{P}}_mean[{{U}}_INPUTS]; /* per-pixel training mean */

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

//@ section dense_begin
/* layer {{K}} "{{NAME}}": dense {{IN}}->{{OUT}}, {{ACT}} ({{LOC}}){{VARIANT}}
 * z = b + sum over j of x[j] * W[j], accumulated input by input so the inner
 * loop is a contiguous axpy that compilers vectorise without -ffast-math. */
static void {{P}}_l{{K}}_forward{{SUFFIX}}({{REAL}} z[{{U}}_L{{K}}_OUT], {{IN_DECL}})
{
	size_t i, j;

	for (i = 0; i < {{U}}_L{{K}}_OUT; i++)
		z[i] = {{P}}_l{{K}}_b[i];
	for (j = 0; j < {{U}}_L{{K}}_IN; j++) {
		const {{REAL}} xj = {{LOAD}};
		const {{REAL}} *w = {{P}}_l{{K}}_w[j];
		for (i = 0; i < {{U}}_L{{K}}_OUT; i++)
			z[i] += xj * w[i];
	}

//@ section dense_act
	for (i = 0; i < {{U}}_L{{K}}_OUT; i++) {
		const {{REAL}} x = z[i];
		z[i] = {{EXPR}};
	}

//@ section dense_end
}

//@ section softmax
/* layer {{K}} "{{NAME}}": softmax {{IN}}->{{OUT}} ({{LOC}})
 * out = exp(z - max z) / sum, the max subtracted so exp cannot overflow. */
static void {{P}}_output({{REAL}} out[{{U}}_OUTPUTS], const {{REAL}} z[{{U}}_OUTPUTS])
{
	{{REAL}} max = z[0], sum = 0;
	size_t i;

	for (i = 1; i < {{U}}_OUTPUTS; i++)
		if (z[i] > max)
			max = z[i];
	for (i = 0; i < {{U}}_OUTPUTS; i++) {
		out[i] = {{EXP}}(z[i] - max);
		sum += out[i];
	}
	for (i = 0; i < {{U}}_OUTPUTS; i++)
		out[i] /= sum;
}

//@ section identity
/* No softmax layer: the outputs are the last layer's activations. */
static void {{P}}_output({{REAL}} out[{{U}}_OUTPUTS], const {{REAL}} z[{{U}}_OUTPUTS])
{
	size_t i;

	for (i = 0; i < {{U}}_OUTPUTS; i++)
		out[i] = z[i];
}

//@ section logits_begin
/* Runs the layers up to the scores the prediction is the argmax of (the
 * softmax input), from normalised inputs `in` or, when px is not NULL, from
 * raw pixels.  Returns where in scratch the scores are. */
static const {{REAL}} *{{P}}_scores(const {{REAL}} *in, const unsigned char *px,
	{{REAL}} scratch[{{U}}_WORKSPACE_SIZE])
{
	{{REAL}} *s0 = scratch, *s1 = scratch + {{U}}_BUF0;

	(void)s1; /* unused with one dense layer */
	if (px)
		{{P}}_l1_forward_u8(s0, px);
	else
		{{P}}_l1_forward(s0, in);

//@ section logits_call
	{{P}}_l{{K}}_forward({{DST}}, {{SRC}});

//@ section logits_end
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

//@ section weights_begin
/* layer {{K}} "{{NAME}}": W {{IN}}x{{OUT}} */
static const {{REAL}} {{P}}_l{{K}}_w[{{U}}_L{{K}}_IN][{{U}}_L{{K}}_OUT] = {

//@ section bias_begin
/* layer {{K}} "{{NAME}}": b {{OUT}} */
static const {{REAL}} {{P}}_l{{K}}_b[{{U}}_L{{K}}_OUT] = {

//@ section mean_begin
/* Per-pixel means of the training set (standardize), double as in training. */
static const double {{P}}_mean[{{U}}_INPUTS] = {

//@ section array_end
};
