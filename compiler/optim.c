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
#include <string.h>

#include "nncc.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The first row is the default (`optimizer` left out). */
const OptimizerInfo optimizer_table[] = {
	{"sgd", NULL, 0, 0, "opt_sgd.c", "p -= lr * g (g = the batch-mean gradient)"},
};
const size_t optimizer_count = ARRAY_LEN(optimizer_table);

const OptimizerInfo *optimizer_find(const char *name)
{
	for (size_t k = 0; k < optimizer_count; k++)
		if (strcmp(optimizer_table[k].name, name) == 0)
			return &optimizer_table[k];
	return NULL;
}

/* The first row is the default (`loss` left out). */
const LossInfo loss_table[] = {
	{"cross_entropy", "softmax", "cross_entropy.c"},
};
const size_t loss_count = ARRAY_LEN(loss_table);

const LossInfo *loss_find(const char *name)
{
	for (size_t k = 0; k < loss_count; k++)
		if (strcmp(loss_table[k].name, name) == 0)
			return &loss_table[k];
	return NULL;
}
