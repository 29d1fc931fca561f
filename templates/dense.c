/*
 * dense.c - the fully connected layer: z = x.W + b, a = f(z).
 * W is input-major: W[j][i] = params[W_OFF + j*OUT + i] connects input j to
 * output i.  Each section is one pass of one layer over a range of the work
 * (rows of the tile, or tiles of W), so the thread pool can hand the ranges
 * out; the arithmetic is in kern.c's kernels, called with this layer's named
 * sizes and register tiles (chosen by nncc per shape), and is the same chain
 * per element whichever ranges run where (docs/performance.md).
 * Vocabulary: n = samples in the tile, rows [r0, r1) of it, j = input,
 * i = output, d = delta dL/dz.  Placeholders: FN = function prefix,
 * IN/OUT/W_OFF/B_OFF = size and offset constants, PARAMS/GRADS = the blocks,
 * A/D = this layer's output and delta buffers (MAX_BATCH, OUT), ACT = its
 * activation id, *_MR/*_NB = its tile constants.
 */

//@ section forward
/* a = f(x.W + b) for rows [r0, r1): x (n, IN) -> a (n, OUT), bias and
 * activation fused into the store; {{FWD_MR}} x {{FWD_NB}} tiles. */
KERN_LAYER void {{FN}}_forward(size_t r0, size_t r1, const real *x)
{
	kern_fwd(&{{A}}[0][0], x, &{{PARAMS}}[{{W_OFF}}],
	         &{{PARAMS}}[{{B_OFF}}], {{IN}}, {{OUT}}, {{ACT}},
	         {{FWD_MR}}, {{FWD_NB}}, r0, r1);
}

//@ section backward_softmax
/* Delta of the layer feeding softmax + cross-entropy, rows [r0, r1):
 * d[b][i] = f'(a[b][i]) * (o[b][i] - onehot(y[b])[i]), o = softmax output. */
KERN_LAYER void {{FN}}_backward(size_t r0, size_t r1, const int32_t *y)
{
	for (size_t b = r0; b < r1; b++)
		for (size_t i = 0; i < {{OUT}}; i++) {
			const real onehot = i == (size_t)y[b] ? (real)1 : (real)0;
			const real dLda = {{O}}[b][i] - onehot;
			{{D}}[b][i] = act_deriv({{ACT}}, {{A}}[b][i]) * dLda;
		}
}

//@ section backward_hidden
/* Delta of a hidden layer from the next dense layer's W' (OUT, NEXT_OUT) and
 * delta d' (n, NEXT_OUT), rows [r0, r1):
 * d[b][j] = f'(a[b][j]) * sum_i d'[b][i] * W'[j][i], f' fused into the store;
 * {{DX_MR}} x {{DX_NB}} tiles, pk = per-thread scratch ({{PACK_LEN}} reals). */
KERN_LAYER void {{FN}}_backward(size_t r0, size_t r1, real *pk)
{
	kern_dx(&{{D}}[0][0], &{{A}}[0][0], &{{NEXT_D}}[0][0],
	        &{{PARAMS}}[{{NEXT_W_OFF}}], pk, {{OUT}},
	        {{NEXT_OUT}}, {{ACT}}, {{DX_MR}}, {{DX_NB}}, r0, r1);
}

//@ section gradient
/* Gradient sums over the tile, work unit `unit` ({{DW_TPU}} tiles of
 * {{DW_MR}} rows of W, the last tile is b): dW[j][i] = sum_b x[b][j] * d[b][i],
 * db[i] = sum_b d[b][i]; x (n, IN), d (n, OUT).  mode: KERN_GRAD_SET (grads
 * = sums), KERN_GRAD_ACC (grads += sums) or KERN_GRAD_SGD (params -= s * sums,
 * fused: no gradient is stored); {{DW_MR}} x {{DW_NB}} tiles. */
KERN_LAYER void {{FN}}_gradient(int mode, size_t n, const real *x, real s, size_t unit)
{
	const size_t tiles = KERN_DW_TILES({{IN}}, {{DW_MR}});
	const size_t t0 = unit * {{DW_TPU}}, t1 = KERN_MIN(t0 + {{DW_TPU}}, tiles);

	kern_dw(mode, n, &{{PARAMS}}[{{W_OFF}}], &{{PARAMS}}[{{B_OFF}}],
	        &{{GRADS}}[{{W_OFF}}], &{{GRADS}}[{{B_OFF}}], x, &{{D}}[0][0],
	        s, {{IN}}, {{OUT}}, {{DW_MR}}, {{DW_NB}}, t0, t1);
}
