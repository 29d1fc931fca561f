/*
 * softmax.c - the softmax output layer and the cross-entropy loss on it.
 * Its backward pass is folded into the dense layer that feeds it (see the
 * backward_softmax section of dense.c): for softmax + cross-entropy,
 * dL/dz = o - onehot(y).
 * Placeholders: FN = function prefix, IN/OUT = size constants (equal),
 * A = the output buffer (MAX_BATCH, OUT), P = network prefix.
 */

//@ section forward
/* a = softmax(x) per sample, numerically stable: exp(x - max) / sum, for
 * rows [r0, r1) of the tile.  x (n, IN) -> a (n, OUT) */
static void {{FN}}_forward(size_t r0, size_t r1, const real *x)
{
	for (size_t b = r0; b < r1; b++) {
		const real *xb = &x[b * {{IN}}];
		real max = xb[0];
		for (size_t i = 1; i < {{IN}}; i++)
			if (xb[i] > max)
				max = xb[i];
		real sum = 0;
		for (size_t i = 0; i < {{OUT}}; i++) {
			{{A}}[b][i] = EXP(xb[i] - max);
			sum += {{A}}[b][i];
		}
		for (size_t i = 0; i < {{OUT}}; i++)
			{{A}}[b][i] /= sum;
	}
}

//@ section loss
/* Cross-entropy summed over the tile: sum_b -log(o[b][y[b]]), o = the softmax
 * output (n, OUT) of the last forward().  A probability that underflowed to 0
 * gives inf on purpose: the driver reports it. */
static double {{P}}_loss(size_t n, const int32_t *y)
{
	double sum = 0;

	for (size_t b = 0; b < n; b++)
		sum -= (double)LOG({{A}}[b][y[b]]);
	return sum;
}
