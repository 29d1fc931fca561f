/*
 * sgd.c - the plain SGD optimizer.  An optimizer is one template with an
 * "update" section defining P_update(lr, batch) plus one row in emit.c's
 * optimizer table; one that keeps state (momentum, Adam) declares its static
 * buffers, with the parameter block's layout, in the same section.
 * Placeholders: P = network prefix, N_PARAMS = size constant, PARAMS/GRADS =
 * the parameter and gradient blocks.
 */

//@ section update
/* SGD on the batch-mean gradient: params -= (lr / batch) * grads, one loop
 * over the whole block (grads holds sums over the batch's samples). */
static void {{P}}_update(double lr, size_t batch)
{
	const real scale = (real)(lr / (double)batch);

	for (size_t k = 0; k < {{N_PARAMS}}; k++)
		{{PARAMS}}[k] = FMA(-scale, {{GRADS}}[k], {{PARAMS}}[k]);
}
