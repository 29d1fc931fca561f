/*
 * cross_entropy.c - the cross-entropy loss on a softmax output:
 * L_s = -log o[s][y[s]], summed over the tile (the driver divides by the
 * batch).  Its gradient is folded into the softmax layer's backward pass
 * (softmax.c).  Placeholders: O = the output buffer, ON its name, OUT_N
 * its width.
 */

//@ section loss
/* The loss summed over a tile of n samples after forward():
 *   sum_s -log {{ON}}[s][y[s]]     ({{ON}} = the softmax output, (B, {{OUT_N}}))
 * A probability that underflowed to 0 gives inf on purpose: the driver
 * reports it. */
static double loss(size_t n, const void *labels)
{
	const int32_t *y = labels;
	double sum = 0;

	for (size_t s = 0; s < n; s++)
		sum -= (double)LOG({{O}}[s][y[s]]);
	return sum;
}
