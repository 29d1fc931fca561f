/*
 * dense.c - the fully connected layer: z = x.W + b, a = f(z).
 * W is input-major: W[j][i] = params[W_OFF + j*OUT + i] connects input j to
 * output i, so the forward pass and the gradient are axpy loops over the
 * output index i, which vectorise without -ffast-math.  Each section is one
 * kernel, kept apart so faster kernels can replace them one by one.
 * Vocabulary: n = samples in the tile, b = sample, j = input, i = output,
 * d = delta dL/dz.  Placeholders: FN = function prefix, IN/OUT/W_OFF/B_OFF =
 * size and offset constants, PARAMS/GRADS = the blocks, A/D = this layer's
 * output and delta buffers (MAX_BATCH, OUT), ACT/DERIV = f and f'(y).
 */

//@ section forward
/* a = f(x.W + b); x (n, IN) -> a (n, OUT).  z is built in place in a. */
static void {{FN}}_forward(size_t n, const real *x)
{
	/* W (IN, OUT) and bias (OUT) in the parameter block */
	const real (*W)[{{OUT}}] =
		(const real (*)[{{OUT}}])&{{PARAMS}}[{{W_OFF}}];
	const real *bias = &{{PARAMS}}[{{B_OFF}}];

	for (size_t b = 0; b < n; b++) {
		const real *xb = &x[b * {{IN}}];
		real *a = {{A}}[b];
		for (size_t i = 0; i < {{OUT}}; i++)
			a[i] = bias[i];
		for (size_t j = 0; j < {{IN}}; j++) {
			const real xj = xb[j];
			for (size_t i = 0; i < {{OUT}}; i++)
				a[i] = FMA(xj, W[j][i], a[i]);
		}
		for (size_t i = 0; i < {{OUT}}; i++)
			a[i] = {{ACT}}(a[i]);
	}
}

//@ section backward_softmax
/* Delta of the layer feeding softmax + cross-entropy:
 * d[b][i] = f'(a[b][i]) * (o[b][i] - onehot(y[b])[i]), o = softmax output. */
static void {{FN}}_backward(size_t n, const int32_t *y)
{
	for (size_t b = 0; b < n; b++)
		for (size_t i = 0; i < {{OUT}}; i++) {
			const real onehot = i == (size_t)y[b] ? (real)1 : (real)0;
			const real dLda = {{O}}[b][i] - onehot;
			{{D}}[b][i] = {{DERIV}}({{A}}[b][i]) * dLda;
		}
}

//@ section backward_hidden
/* Delta of a hidden layer from the next dense layer's W' (OUT, NEXT_OUT) and
 * delta d' (n, NEXT_OUT): d[b][j] = f'(a[b][j]) * sum_i W'[j][i] * d'[b][i]. */
static void {{FN}}_backward(size_t n)
{
	const real (*Wn)[{{NEXT_OUT}}] =
		(const real (*)[{{NEXT_OUT}}])&{{PARAMS}}[{{NEXT_W_OFF}}];

	for (size_t b = 0; b < n; b++)
		for (size_t j = 0; j < {{OUT}}; j++) {
			real sum = 0;
			for (size_t i = 0; i < {{NEXT_OUT}}; i++)
				sum = FMA({{NEXT_D}}[b][i], Wn[j][i], sum);
			{{D}}[b][j] = {{DERIV}}({{A}}[b][j]) * sum;
		}
}

//@ section gradient
/* Gradient sums over the tile, added to grads: dW[j][i] += sum_b x[b][j] * d[b][i],
 * db[i] += sum_b d[b][i]; x (n, IN), d (n, OUT). */
static void {{FN}}_gradient(size_t n, const real *x)
{
	/* dW (IN, OUT) and db (OUT) in the gradient block */
	real (*dW)[{{OUT}}] =
		(real (*)[{{OUT}}])&{{GRADS}}[{{W_OFF}}];
	real *db = &{{GRADS}}[{{B_OFF}}];

	for (size_t b = 0; b < n; b++) {
		const real *xb = &x[b * {{IN}}];
		for (size_t j = 0; j < {{IN}}; j++) {
			const real xj = xb[j];
			for (size_t i = 0; i < {{OUT}}; i++)
				dW[j][i] = FMA(xj, {{D}}[b][i], dW[j][i]);
		}
		for (size_t i = 0; i < {{OUT}}; i++)
			db[i] = db[i] + {{D}}[b][i];
	}
}
