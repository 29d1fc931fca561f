/*
 * softmax.c - the softmax output layer, a = exp(x - max x) / sum exp(x -
 * max x) per sample, in the trainer (forward, backward) and in exported
 * inference code (export_*).  Its backward pass is the one of softmax
 * followed by the cross-entropy loss (the loss it is validated with): the
 * Jacobian of softmax times dL/da collapses to a - onehot(y), written
 * straight into the gradient of the layer below.
 * Placeholders: K, NAME, FN, A/X = its output and input buffers, AN/XN
 * their names in formulas, IN/OUT and IN_N/OUT_N = sizes (equal), GX/GXN =
 * the input's gradient buffer and its name.
 */

//@ section forward
/* layer {{K}} "{{NAME}}" forward, rows [r0, r1) of the tile, numerically stable:
 *   {{AN}}[s][i] = exp({{XN}}[s][i] - m) / sum_k exp({{XN}}[s][k] - m),  m = max_k {{XN}}[s][k]
 *   {{XN}} (B, {{IN_N}}) -> {{AN}} (B, {{OUT_N}}) */
KERN_LAYER void {{FN}}_forward(size_t r0, size_t r1)
{
	const real *x = {{X}};

	for (size_t s = r0; s < r1; s++) {
		const real *xs = &x[s * {{IN}}];
		real max = xs[0], sum = 0;
		for (size_t i = 1; i < {{IN}}; i++)
			if (xs[i] > max)
				max = xs[i];
		for (size_t i = 0; i < {{OUT}}; i++) {
			{{A}}[s][i] = EXP(xs[i] - max);
			sum += {{A}}[s][i];
		}
		for (size_t i = 0; i < {{OUT}}; i++)
			{{A}}[s][i] /= sum;
	}
}

//@ section backward
/* layer {{K}} "{{NAME}}" backward with the cross-entropy loss, rows [r0, r1):
 *   {{GXN}}[s][i] = dL/d{{XN}}[s][i] = {{AN}}[s][i] - onehot(y[s])[i] */
KERN_LAYER void {{FN}}_backward(size_t r0, size_t r1, int tid)
{
	(void)tid;
	for (size_t s = r0; s < r1; s++)
		for (size_t i = 0; i < {{OUT}}; i++)
			{{GX}}[s][i] = {{A}}[s][i] - (i == (size_t)KERN_LABEL(s) ? (real)1 : (real)0);
}

//@ section export_output
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
