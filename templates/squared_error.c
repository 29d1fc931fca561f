/*
 * squared_error.c - the squared-error loss on a sigmoid or linear dense
 * output layer, no softmax, against the one-hot label (classification) or
 * the real targets t (regression, n_targets > 0):
 * L_s = 1/2 sum_i (o[s][i] - t[s][i])^2, t = onehot(y[s]) or the targets,
 * summed over the tile (the driver divides by the batch).  Its gradient
 * dL/do = o - t is the output layer's g, which that layer's backward
 * multiplies by f'.
 * Placeholders: O/ON = the output buffer and its name, G/GN = the output's
 * gradient buffer and its name, OUT = the width's constant, OUT_N its
 * value, T = target i of sample s in the tile (KERN_LABEL's one-hot, or
 * KERN_TARGET), TN = how the comment names it.
 */

//@ section backward
/* the loss's gradient at the output, rows [r0, r1) of the tile:
 *   {{GN}}[s][i] = dL/d{{ON}}[s][i] = {{ON}}[s][i] - {{TN}} */
KERN_LAYER void loss_backward(size_t r0, size_t r1)
{
	for (size_t s = r0; s < r1; s++)
		for (size_t i = 0; i < {{OUT}}; i++)
			{{G}}[s][i] = {{O}}[s][i] - {{T}};
}

//@ section loss
/* The loss summed over a tile of n samples after forward(), in double:
 *   sum_s 1/2 sum_i ({{ON}}[s][i] - onehot(y[s])[i])^2     ({{ON}} (B, {{OUT_N}})) */
static double loss(size_t n, const void *labels)
{
	const int32_t *y = labels;
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

//@ section loss_targets
/* The loss summed over a tile of n samples after forward(), in double:
 *   sum_s 1/2 sum_i ({{ON}}[s][i] - t[s][i])^2     ({{ON}}, t (B, {{OUT_N}})) */
static double loss(size_t n, const void *targets)
{
	const real *t = targets;   /* t[s][i] at t[s * N_OUTPUTS + i] */
	double sum = 0;

	for (size_t s = 0; s < n; s++) {
		double ls = 0;
		for (size_t i = 0; i < N_OUTPUTS; i++) {
			double e = (double){{O}}[s][i] - (double)t[s * N_OUTPUTS + i];
			ls += e * e;
		}
		sum += 0.5 * ls;
	}
	return sum;
}
