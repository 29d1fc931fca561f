/*
 * optim.c - the optimizers, one row each in optimizer_table, and the losses
 * (loss_table).  An optimizer's row: the YAML word,
 * the hyper-parameters (keys of the `optimizer` mapping, defaults as in
 * PyTorch 1.13's torch.optim, ranges, the trainer's --options), the
 * per-parameter state slots, and the template (templates/opt_NAME.c) that
 * holds its update as a scalar formula and as the epilogue of the fused
 * weight-gradient kernel.  Adding an optimizer: a row here, its template,
 * the reference's formula (tests/reference/ref.c), tests and docs
 * (docs/architecture.md).
 */
#include "nncc.h"

const OptimizerInfo optimizer_table[OPT_COUNT] = {
	[OPT_SGD] = {"sgd", NULL, 0, 0, "opt_sgd.c", "p -= lr * g (g = the batch-mean gradient)"},
};

const LossInfo loss_table[LOSS_COUNT] = {
	[LOSS_CROSS_ENTROPY] = {"cross_entropy", LAYER_SOFTMAX, "cross_entropy.c"},
};
