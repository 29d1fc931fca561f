/*
 * model.c - the fixed parts of a generated trainer: the prologue (includes,
 * the `real` type and its maths functions), the training step, the tensor
 * accessor and main().  The variable-length parts (sizes, buffers, the calls
 * in NAME_forward/NAME_backward, the descriptor) are written by emit.c.
 * Placeholders: P = network prefix (C identifier), REAL/EXP/TANH/LOG/FMA = the
 * dtype's type and <math.h> functions.
 */

//@ section prologue
#include <math.h>
#include <string.h>

#include "nncc.h"

/* Every value is a `real`; the maths functions follow it. */
typedef {{REAL}} real;
#define EXP {{EXP}}
#define TANH {{TANH}}
#define LOG {{LOG}}
/* Every multiply-add is this explicit, exactly rounded FMA; nothing else may
 * be contracted, so build with -ffp-contract=off (nncc --cflags). */
#define FMA {{FMA}}

//@ section step
/* One training step on a tile of n samples: forward, loss, backward, update.
 * Returns the tile's loss sum, computed before the update. */
static double {{P}}_step(size_t n, const void *x, const int32_t *y, double lr)
{
	{{P}}_forward(n, x);
	double loss = {{P}}_loss(n, y);
	{{P}}_backward(n, x, y, 0);
	{{P}}_update(lr, n);
	return loss;
}

//@ section tensor
/* Per-layer buffers for tools and tests (layer is 0-based): NNCC_T_ACT gives
 * the outputs a (MAX_BATCH, OUT), NNCC_T_DELTA the deltas dL/dz of a dense
 * layer (MAX_BATCH, OUT); NULL for anything else. */
static void *{{P}}_tensor(int which, size_t layer)
{
	static void *const act[{{N_LAYERS}}] = { {{ACTS}} };
	static void *const delta[{{N_LAYERS}}] = { {{DELTAS}} };

	if (layer >= {{N_LAYERS}})
		return NULL;
	if (which == NNCC_T_ACT)
		return act[layer];
	if (which == NNCC_T_DELTA)
		return delta[layer];
	return NULL;
}

//@ section main
/* The training driver in libnncc.a: options, data, training loop, report.
 * Compile with -DNNCC_NO_MAIN to drive {{P}}_model from your own code. */
#ifndef NNCC_NO_MAIN
int main(int argc, char **argv)
{
	return nncc_main(argc, argv, &{{P}}_model);
}
#endif
