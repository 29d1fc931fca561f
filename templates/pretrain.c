/*
 * pretrain.c - greedy layer-wise pre-training (docs/trainer.md#pre-training).
 * Autoencoder I trains one dense layer of the network, its encoder E, to
 * reconstruct the layer's own input x through a decoder D of its own (a
 * dense layer OUT -> IN with a sigmoid, parameters after the network's):
 *   x~ = x with a fraction `noise` of its units set to 0 (x~ = x without),
 *   h  = f(x~ W_E + b_E),   r = sigmoid(h W_D + b_D),
 *   squared_error  L = 1/2 sum_j (r_j - x_j)^2,            dL/dz_D = (r - x) r (1 - r)
 *   cross_entropy  L = -sum_j x_j ln r_j + (1 - x_j) ln(1 - r_j),   dL/dz_D = r - x
 *                  (each ln clamped at -100, as torch's BCELoss),
 * then g_E = dL/dz_D W_D^T, dL/dz_E = f'(h) g_E, the gradient sums over the
 * tile dW_D = h^T dL/dz_D and dW_E = x~^T dL/dz_E (the layers' own kernels,
 * nothing fused), and SGD on E's and D's tensors only.  With tied weights
 * W_D = W_E^T (copied in before the step), W_E's gradient is the sum of
 * both layers' (dW_E + dW_D^T), and D's own tensor is its bias alone.  The layers below E
 * run forward in evaluation mode (dropout is the identity there): they were
 * pre-trained before it.  The noise masks come from the dropout generator,
 * keyed by (seed, D, step, sample, unit), with no 1/(1 - noise) scaling.
 * Placeholders: I = the autoencoder's number (0-based), E/D = its encoder's
 * and decoder's layer numbers (their constants L<E>_*, L<D>_*), FE/FD =
 * their function prefixes, AE/GE/DE and AD/GD/DD = their outputs,
 * gradients and deltas, XE = the encoder's input as `real *`, C = the
 * noise buffer, T = the reconstruction's target element (s, j), TN = its
 * name in formulas, ACT_ID = the encoder's activation, NAME = its name.
 */

//@ section sgd
/* ---- Pre-training's update (pretrain.c), shared by the autoencoders:
 * len parameters p from their gradient sums g over u->batch samples,
 *   p <- p - lr * g / B,               or with momentum mu = u->hparams[0] > 0
 *   v <- mu * v + g / B,  p <- p - lr * v   (torch.optim.SGD, no dampening;
 * v starts at 0 on the first step of each autoencoder, so v_1 = g / B). */
static void pretrain_sgd(real *p, const real *g, real *v, size_t len, const nncc_update_t *u)
{
	const real scale = (real)(u->lr / (double)u->batch), inv = (real)(1.0 / (double)u->batch);
	const real lr = (real)u->lr, mu = u->hparams ? (real)u->hparams[0] : (real)0;

	if (u->step == 1)
		memset(v, 0, len * sizeof *v);
	if (mu > 0) {
		for (size_t q = 0; q < len; q++) {
			v[q] = FMA(mu, v[q], g[q] * inv);
			p[q] = FMA(-lr, v[q], p[q]);
		}
	} else {
		for (size_t q = 0; q < len; q++)
			p[q] = FMA(-scale, g[q], p[q]);
	}
}

//@ section transpose
/* dst (rows x cols) = src^T, or dst += src^T with add, src being cols x
 * rows: the tied weights' copy and their gradients' sum, in 16 x 16
 * blocks so that the strided side stays in the cache. */
static void pretrain_transpose(real *dst, const real *src, size_t rows, size_t cols, int add)
{
	for (size_t a0 = 0; a0 < rows; a0 += 16)
		for (size_t b0 = 0; b0 < cols; b0 += 16)
			for (size_t a = a0; a < KERN_MIN(a0 + 16, rows); a++)
				for (size_t b = b0; b < KERN_MIN(b0 + 16, cols); b++)
					dst[a * cols + b] = add ? dst[a * cols + b] + src[b * rows + a]
					                        : src[b * rows + a];
}

//@ section rows
/* ==== autoencoder {{I}}: layer {{E}} "{{NAME}}" ({{IN_N}} -> {{OUT_N}}) and its decoder,
 * layer {{D}} ({{OUT_N}} -> {{IN_N}}, sigmoid), reconstruction loss {{LOSS}}.
 * Rows [r0, r1) of the tile: the layers below (evaluation), the noise, the
 * encoder and the decoder, the reconstruction's gradient, backward to d{{E}}. */
static void pretrain{{I}}_rows(size_t unit, int tid)
{
	const size_t r0 = unit * kern_job.rows, r1 = KERN_MIN(r0 + kern_job.rows, kern_job.n);

	(void)tid;

//@ section noise_input
	/* x~ = x with the noise's units zeroed (kern_job.y is the clean x) */
	kern_mask(&{{C}}[0][0], (const real *)kern_job.y, L{{E}}_IN, {{D}}, PRE{{I}}_DROP_BELOW,
	          (real)1, &kern_job.noise, r0, r1);

//@ section noise_hidden
	/* keep the clean input in {{C}} (the target), then mask {{XN}} in place */
	memcpy(&{{C}}[r0][0], &{{XN}}[r0][0], (r1 - r0) * sizeof {{C}}[0]);
	kern_mask(&{{XN}}[0][0], &{{XN}}[0][0], L{{E}}_IN, {{D}}, PRE{{I}}_DROP_BELOW, (real)1,
	          &kern_job.noise, r0, r1);

//@ section encode
	{{FE}}_forward(r0, r1); /* h = {{AE}} */
	{{FD}}_forward(r0, r1); /* r = {{AD}} */

//@ section recon_squared_error
	/* squared error: g{{D}} = r - {{TN}}; the decoder's backward takes it through
	 * sigmoid' to d{{D}} and on to g{{E}} = d{{D}} W{{D}}^T */
	for (size_t s = r0; s < r1; s++)
		for (size_t j = 0; j < L{{E}}_IN; j++)
			{{GD}}[s][j] = {{AD}}[s][j] - {{T}};
	{{FD}}_backward(r0, r1, tid);

//@ section recon_cross_entropy
	/* cross entropy on the sigmoid: d{{D}} = r - {{TN}}, g{{E}} = d{{D}} W{{D}}^T */
	for (size_t s = r0; s < r1; s++)
		for (size_t j = 0; j < L{{E}}_IN; j++)
			{{DD}}[s][j] = {{AD}}[s][j] - {{T}};
	kern_dx(&{{GE}}[0][0], &{{DD}}[0][0], &params[L{{D}}_W], pack[tid], L{{D}}_IN, L{{D}}_OUT,
	        L{{D}}_DX_MR, L{{D}}_DX_NB, r0, r1);

//@ section rows_end
	/* d{{E}} = f'(h) g{{E}} */
	kern_deriv(&{{DE}}[0][0], &{{AE}}[0][0], &{{GE}}[0][0], L{{E}}_OUT, {{ACT_ID}}, r0, r1);
}

/* Autoencoder {{I}}'s weight gradients: the decoder's row tiles, then the
 * encoder's (sums over the tile, into grads). */
static void pretrain{{I}}_weights(size_t unit, int tid)
{
	(void)tid;
	if (unit < L{{D}}_DW_UNITS)
		{{FD}}_gradient(unit);
	else
		{{FE}}_gradient(unit - L{{D}}_DW_UNITS);
}

/* The reconstruction loss summed over the tile's n samples. */
static double pretrain{{I}}_loss(size_t n)
{
	double sum = 0;

	for (size_t s = 0; s < n; s++)
		for (size_t j = 0; j < L{{E}}_IN; j++) {
			const double r = {{AD}}[s][j], t = {{T}};

//@ section loss_squared_error
			sum += 0.5 * (r - t) * (r - t);

//@ section loss_cross_entropy
			sum -= t * fmax(log(r), -100.0) + (1 - t) * fmax(log1p(-r), -100.0);

//@ section step
		}
	return sum;
}

/* Autoencoder {{I}}'s gradient sums over a tile of n samples x (the network's
 * inputs), row s being sample first + s of its batch (its noise), into the
 * encoder's and the decoder's gradients; returns the tile's reconstruction
 * loss sum.  Under MPI each rank calls it on its chunks of the batch. */
static double pretrain{{I}}_grad(size_t n, const void *x, const nncc_update_t *u, size_t first)
{
	double sum;

//@ section tie
	/* tied weights: the decoder's W is the encoder's, transposed */
	pretrain_transpose(&params[L{{D}}_W], &params[L{{E}}_W], L{{E}}_OUT, L{{E}}_IN, 0);

//@ section run
	kern_job.n = n;
	kern_job.x = {{JOB_X}};
	kern_job.y = x; /* the clean inputs */
	kern_job.mask.step = 0; /* the layers below: evaluation */
	kern_job.noise = (KernMask){u->seed, {{NOISE_STEP}}, first};
	kern_run_rows(pretrain{{I}}_rows, n, ROWS_PER_UNIT, POOL_ROWS, THREADS);
	sum = pretrain{{I}}_loss(n);
	kern_job.mode = KERN_GRAD_SET;
	kern_run(pretrain{{I}}_weights, L{{D}}_DW_UNITS + L{{E}}_DW_UNITS, POOL_WEIGHTS, THREADS);
	return sum;
}

//@ section update_untied
/* Autoencoder {{I}}'s update from the gradient sums over u->batch samples:
 * SGD on the encoder's and the decoder's tensors. */
static void pretrain{{I}}_update(const nncc_update_t *u)
{
	pretrain_sgd(&params[L{{E}}_W], &grads[L{{E}}_W], pre_velocity, L{{E}}_PARAMS, u);
	pretrain_sgd(&params[L{{D}}_W], &grads[L{{D}}_W], pre_velocity + L{{E}}_PARAMS,
	             L{{D}}_PARAMS, u);
}

//@ section update_tied
/* Autoencoder {{I}}'s update from the gradient sums over u->batch samples:
 * W_E's gradient gets W_D's, transposed (W_D = W_E^T is not a parameter of
 * its own), then SGD on the encoder and the decoder's bias. */
static void pretrain{{I}}_update(const nncc_update_t *u)
{
	pretrain_transpose(&grads[L{{E}}_W], &grads[L{{D}}_W], L{{E}}_IN, L{{E}}_OUT, 1);
	pretrain_sgd(&params[L{{E}}_W], &grads[L{{E}}_W], pre_velocity, L{{E}}_PARAMS, u);
	pretrain_sgd(&params[L{{D}}_B], &grads[L{{D}}_B], pre_velocity + L{{E}}_PARAMS, L{{E}}_IN,
	             u);
}

//@ section dispatch
#if KERN_DISPATCH
#undef pretrain_grad
#undef pretrain_update
/* Pre-training's entry points, by instruction set (KERN_ISA_*). */
static double (*const pretrain_grads[KERN_N_ISAS])(size_t, size_t, const void *,
                                                  const nncc_update_t *, size_t) = {
	pretrain_grad_generic, pretrain_grad_fma, pretrain_grad_avx2, pretrain_grad_avx512};
static void (*const pretrain_updates[KERN_N_ISAS])(size_t, const nncc_update_t *) = {
	pretrain_update_generic, pretrain_update_fma, pretrain_update_avx2, pretrain_update_avx512};

static double pretrain_grad(size_t i, size_t n, const void *x, const nncc_update_t *u,
                            size_t first)
{
	return pretrain_grads[kern_isa](i, n, x, u, first);
}

static void pretrain_update(size_t i, const nncc_update_t *u)
{
	pretrain_updates[kern_isa](i, u);
}
#endif

//@ section step_entry
/* One step of autoencoder i on a tile of n = u->batch samples: its gradient
 * sums, then its update (nncc.h). */
static double pretrain_step(size_t i, size_t n, const void *x, const nncc_update_t *u)
{
	const double sum = pretrain_grad(i, n, x, u, 0);

	pretrain_update(i, u);
	return sum;
}
