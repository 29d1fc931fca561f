/*
 * dense.c - the fully connected layer, z = x W + b, a = f(z), in the
 * trainer (forward, backward, gradient) and in exported inference code
 * (export_*).  W is input-major: W[j][i] = params[W + j*OUT + i] connects
 * input j to output i; b = params[B .. B+OUT).  Each trainer section is one
 * pass of one layer over a range of the work (rows [r0, r1) of the tile, or
 * one work unit of W's row tiles), so the thread pool can hand the ranges
 * out; the arithmetic is nncc_kern.h's, called with this layer's named sizes
 * and register tiles, and it is the same chain per element whichever ranges
 * run where.
 * Vocabulary: s = sample, j = input, i = output; a = f(z) the output, g =
 * dL/da (written by the layer above), d = dL/dz the delta.
 * Placeholders every section may use: K = layer number, NAME, FN = function
 * prefix, A/D/G/X = buffers (X the input as `const real *`), AN/XN = their
 * names in formulas, IN/OUT/W/B = size and offset constants, IN_N/OUT_N
 * their values, ACT = the activation's name, ACT_ID its kernel id;
 * export_*: WCONST/BCONST = "const " (flash) or "" (trained on the device,
 * nncc --trainable: RAM).
 */

//@ section forward
/* layer {{K}} "{{NAME}}" forward, rows [r0, r1) of the tile:
 *   {{AN}}[s][i] = {{ACT}}(sum_j {{XN}}[s][j] W{{K}}[j][i] + b{{K}}[i])
 *   {{XN}} (B, {{IN_N}}), W{{K}} ({{IN_N}}, {{OUT_N}}), b{{K}} ({{OUT_N}}) -> {{AN}} (B, {{OUT_N}});
 *   register tiles of {{FWD_TILE}}, bias and {{ACT}} fused into the store */
KERN_LAYER void {{FN}}_forward(size_t r0, size_t r1)
{
	kern_fwd(&{{A}}[0][0], {{X}}, &params[{{W}}], &params[{{B}}], {{IN}}, {{OUT}}, {{ACT_ID}},
	         {{FWD_MR}}, {{FWD_NB}}, r0, r1);
}

//@ section backward
/* layer {{K}} "{{NAME}}" backward, rows [r0, r1) of the tile:
 *   d{{K}}[s][i] = {{ACT}}'({{AN}}[s][i]) * g{{K}}[s][i],   {{ACT}}'(y) = {{DERIV}} */
KERN_LAYER void {{FN}}_backward(size_t r0, size_t r1, int tid)
{
	(void)tid;
	kern_deriv(&{{D}}[0][0], &{{A}}[0][0], &{{G}}[0][0], {{OUT}}, {{ACT_ID}}, r0, r1);

//@ section backward_input
	/* the gradient of this layer's input, for the layer below:
	 *   {{GXN}}[s][j] = sum_i d{{K}}[s][i] W{{K}}[j][i]    ({{IN_N}} x {{OUT_N}} per sample;
	 *   register tiles of {{DX_TILE}}, W{{K}}^T packed per thread) */
	kern_dx(&{{GX}}[0][0], &{{D}}[0][0], &params[{{W}}], pack[tid], {{IN}}, {{OUT}},
	        {{DX_MR}}, {{DX_NB}}, r0, r1);

//@ section backward_end
}

//@ section gradient
/* layer {{K}} "{{NAME}}" weight gradient over the tile, work unit `unit`:
 *   dW{{K}}[j][i] = sum_s {{XN}}[s][j] d{{K}}[s][i],   db{{K}}[i] = sum_s d{{K}}[s][i]
 * {{DW_TILES_N}} tiles of W{{K}}'s rows (register tiles of {{DW_TILE}}; the last tile is
 * b{{K}}), {{DW_TPU_N}} per work unit.  {{MODE}}: the sums go to grads (set
 * or added) or straight into the optimizer's step (fused: nothing stored). */
KERN_LAYER void {{FN}}_gradient(size_t unit)
{
	const size_t t0 = unit * {{DW_TPU}}, t1 = KERN_MIN(t0 + {{DW_TPU}}, {{DW_TILES}});

	kern_dw({{MODE}}, kern_job.n, &params[{{W}}], &params[{{B}}], &grads[{{W}}],
	        &grads[{{B}}], {{SW}}, {{SB}}, {{X}}, &{{D}}[0][0], &kern_job.opt, {{IN}},
	        {{OUT}}, {{DW_MR}}, {{DW_NB}}, t0, t1);
}

//@ section export_sizes
#define {{U}}_L{{K}}_IN {{IN}}
#define {{U}}_L{{K}}_OUT {{OUT}}
#define {{U}}_L{{K}}_VECS {{VECS}} /* AVX-512 vectors per row of outputs */

//@ section export_decl
static {{WCONST}}{{REAL}} {{P}}_l{{K}}_w[{{U}}_L{{K}}_IN][{{U}}_L{{K}}_OUT]; /* W[j][i]: input j -> unit i */
static {{BCONST}}{{REAL}} {{P}}_l{{K}}_b[{{U}}_L{{K}}_OUT];

//@ section export_begin
/* layer {{K}} "{{NAME}}": dense {{IN}}->{{OUT}}, {{ACT}} ({{LOC}}){{VARIANT}}
 * z = b + x W, one chain per output over the nonzero inputs (see Arithmetic),
 * then the activation. */
#if defined({{U}}_AVX512)
static {{U}}_TARGET void {{P}}_l{{K}}_avx512{{SUFFIX}}({{REAL}} *restrict z, {{IN_DECL}})
{
	uint64_t nz[({{U}}_L{{K}}_IN + 63) / 64]; /* the nonzero inputs */
	size_t c = 0;

	{{P}}_nonzero{{SUFFIX}}(nz, {{IN_NAME}}, {{U}}_L{{K}}_IN);
	for (; c + 4 <= {{U}}_L{{K}}_VECS; c += 4)
		{{P}}_chunk(z, {{XPX}}, nz, &{{P}}_l{{K}}_w[0][0], {{P}}_l{{K}}_b, {{U}}_L{{K}}_IN,
		            {{U}}_L{{K}}_OUT, c, 4);
	if ({{U}}_L{{K}}_VECS % 4) /* the last vectors; a constant */
		{{P}}_chunk(z, {{XPX}}, nz, &{{P}}_l{{K}}_w[0][0], {{P}}_l{{K}}_b, {{U}}_L{{K}}_IN,
		            {{U}}_L{{K}}_OUT, c, {{U}}_L{{K}}_VECS % 4);
}
#endif

#if defined({{U}}_AVX2)
static {{U}}_TARGET2 void {{P}}_l{{K}}_avx2{{SUFFIX}}({{REAL}} *restrict z, {{IN_DECL}})
{
	uint64_t nz[({{U}}_L{{K}}_IN + 63) / 64]; /* the nonzero inputs */

	{{P}}_nonzero2{{SUFFIX}}(nz, {{IN_NAME}}, {{U}}_L{{K}}_IN);
	{{P}}_dense2(z, {{XPX}}, nz, &{{P}}_l{{K}}_w[0][0], {{P}}_l{{K}}_b, {{U}}_L{{K}}_IN,
	             {{U}}_L{{K}}_OUT);
}
#endif

static void {{P}}_l{{K}}_forward{{SUFFIX}}({{REAL}} *restrict z, {{IN_DECL}})
{
#if defined({{U}}_AVX512)
	if ({{U}}_HAVE_AVX512) {
		{{P}}_l{{K}}_avx512{{SUFFIX}}(z, {{IN_NAME}});
	} else
#endif
#if defined({{U}}_AVX2)
	if ({{U}}_HAVE_AVX2) {
		{{P}}_l{{K}}_avx2{{SUFFIX}}(z, {{IN_NAME}});
	} else
#endif
	{
		for (size_t i = 0; i < {{U}}_L{{K}}_OUT; i++)
			z[i] = {{P}}_l{{K}}_b[i];
		for (size_t j = 0; j < {{U}}_L{{K}}_IN; j++) {
			const {{REAL}} xj = {{LOAD}};
			const {{REAL}} *restrict w = {{P}}_l{{K}}_w[j];

			if (xj == 0)
				continue;

//@ section export_axpy_main
			/* {{MAIN}} outputs in whole {{SIMD_BYTES}}-byte blocks: a loop compilers
			 * vectorise at -O2 without a remainder */
			for (size_t i = 0; i < {{MAIN}}; i++)
				z[i] = {{U}}_FMA(xj, w[i], z[i]);

//@ section export_axpy_tail
			/* the outputs past the last whole {{SIMD_BYTES}}-byte block */
			for (size_t i = {{MAIN}}; i < {{U}}_L{{K}}_OUT; i++)
				z[i] = {{U}}_FMA(xj, w[i], z[i]);

//@ section export_axpy_end
		}
	}

//@ section export_act
	for (size_t i = 0; i < {{U}}_L{{K}}_OUT; i++) {
		const {{REAL}} x = z[i];
		z[i] = {{EXPR}};
	}

//@ section export_end
}

//@ section export_weights
/* layer {{K}} "{{NAME}}": W {{IN}}x{{OUT}} */
static {{WCONST}}{{REAL}} {{P}}_l{{K}}_w[{{U}}_L{{K}}_IN][{{U}}_L{{K}}_OUT] = {

//@ section export_bias
/* layer {{K}} "{{NAME}}": b {{OUT}} */
static {{BCONST}}{{REAL}} {{P}}_l{{K}}_b[{{U}}_L{{K}}_OUT] = {
