/*
 * squared_error.c - the squared-error loss on a sigmoid or linear dense
 * output layer, against the one-hot label, no softmax:
 * L_s = 1/2 sum_i (o[s][i] - onehot(y[s])[i])^2, summed over the tile (the
 * driver divides by the batch).  Its gradient dL/do = o - onehot(y) is the
 * output layer's g, which that layer's backward multiplies by f'.
 * Placeholders: O/ON = the output buffer and its name, G/GN = the output's
 * gradient buffer and its name, OUT = the width's constant, OUT_N its value.
 */

//@ section backward
/* the loss's gradient at the output, rows [r0, r1) of the tile:
 *   {{GN}}[s][i] = dL/d{{ON}}[s][i] = {{ON}}[s][i] - onehot(y[s])[i] */
KERN_LAYER void loss_backward(size_t r0, size_t r1)
{
	for (size_t s = r0; s < r1; s++)
		for (size_t i = 0; i < {{OUT}}; i++)
			{{G}}[s][i] = {{O}}[s][i] - (i == (size_t)kern_job.y[s] ? (real)1 : (real)0);
}

//@ section loss
/* The loss summed over a tile of n samples after forward(), in double:
 *   sum_s 1/2 sum_i ({{ON}}[s][i] - onehot(y[s])[i])^2     ({{ON}} (B, {{OUT_N}})) */
static double loss(size_t n, const int32_t *y)
{
	double sum = 0;

	for (size_t s = 0; s < n; s++) {
		double ls = 0;
		for (size_t i = 0; i < N_OUTPUTS; i++) {
			double e = (double){{O}}[s][i] - (i == (size_t)y[s] ? 1.0 : 0.0);
			ls += e * e;
		}
		sum += 0.5 * ls;
	}
	return sum;
}
