/*
 * optim.c - the optimizers, one row each in optimizer_table, and the losses
 * (loss_table).  An optimizer's row: the YAML word, the hyper-parameters
 * (keys of the `optimizer` mapping, defaults and ranges as in PyTorch
 * 1.13's torch.optim, the trainer's --options), its default learning rate,
 * the per-parameter state slots, the rules between hyper-parameters, and
 * the template (templates/opt_NAME.c) that holds its update as a scalar
 * formula and as the epilogue of the fused weight-gradient kernel.  Adding
 * an optimizer: a row here, its template, the reference's formula
 * (tests/reference/ref.c), tests and docs (docs/architecture.md).  The
 * formulas: docs/optimizers.md.
 */
#include <math.h>
#include <string.h>

#include "nncc.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Every optimizer's L2 weight decay and whether it reaches the biases. */
#define HP_DECAY(def)                                                                 \
	{"weight_decay", (def), 0, HUGE_VAL, false, false, false, false,                  \
	 "weight decay (L2 penalty)"},                                                    \
	{"decay_biases", 1, 0, 1, false, false, true, false, "decay the biases too"}

static const HParam sgd_hp[] = {HP_DECAY(0)};

static const HParam momentum_hp[] = {
	{"momentum", 0.9, 0, HUGE_VAL, false, false, false, false, "momentum factor"},
	{"dampening", 0, 0, 1, false, false, false, false, "dampening for momentum"},
	{"nesterov", 0, 0, 1, false, false, true, false, "Nesterov momentum"},
	HP_DECAY(0),
};

static const HParam adagrad_hp[] = {
	{"lr_decay", 0, 0, HUGE_VAL, false, false, false, false, "learning rate decay"},
	{"eps", 1e-10, 0, HUGE_VAL, true, false, false, false, "term added to the denominator"},
	HP_DECAY(0),
};

static const HParam adadelta_hp[] = {
	{"rho", 0.9, 0, 1, false, false, false, false, "decay of the running averages"},
	{"eps", 1e-6, 0, HUGE_VAL, true, false, false, false, "term added inside the square roots"},
	HP_DECAY(0),
};

static const HParam rmsprop_hp[] = {
	{"alpha", 0.99, 0, 1, false, false, false, false, "smoothing constant"},
	{"eps", 1e-8, 0, HUGE_VAL, true, false, false, false, "term added to the denominator"},
	{"momentum", 0, 0, HUGE_VAL, false, false, false, false, "momentum factor"},
	{"centered", 0, 0, 1, false, false, true, true,
	 "normalise by the variance of the gradient"},
	HP_DECAY(0),
};

#define HP_ADAM(decay)                                                                      \
	{"beta1", 0.9, 0, 1, false, true, false, false, "decay of the first moment"},           \
	{"beta2", 0.999, 0, 1, false, true, false, false, "decay of the second moment"},        \
	{"eps", 1e-8, 0, HUGE_VAL, true, false, false, false, "term added to the denominator"}, \
	{"amsgrad", 0, 0, 1, false, false, true, true, "the maximum of past second moments"},   \
	HP_DECAY(decay)

static const HParam adam_hp[] = {HP_ADAM(0)};
static const HParam adamw_hp[] = {HP_ADAM(0.01)};

/* The value of hyper-parameter `key` of row o in hp. */
static double hp_of(const OptimizerInfo *o, const double *hp, const char *key)
{
	for (size_t k = 0; k < o->n_hparams; k++)
		if (strcmp(o->hparams[k].key, key) == 0)
			return hp[k];
	NNCC_UNREACHABLE();
}

static size_t no_state(const double *hp)
{
	(void)hp;
	return 0;
}

static size_t one_slot(const double *hp)
{
	(void)hp;
	return 1;
}

static size_t two_slots(const double *hp)
{
	(void)hp;
	return 2;
}

/* E and the momentum buffer, and G when centered. */
static size_t rmsprop_state(const double *hp)
{
	return hp_of(optimizer_find("rmsprop"), hp, "centered") != 0 ? 3 : 2;
}

/* m and v, and vmax with amsgrad (adam and adamw alike). */
static size_t adam_state(const double *hp)
{
	return hp_of(optimizer_find("adam"), hp, "amsgrad") != 0 ? 3 : 2;
}

/* PyTorch's rule: "Nesterov momentum requires a momentum and zero dampening". */
static const char *momentum_check(const double *hp)
{
	const OptimizerInfo *o = optimizer_find("momentum");
	if (hp_of(o, hp, "nesterov") != 0 &&
	    (hp_of(o, hp, "momentum") <= 0 || hp_of(o, hp, "dampening") != 0))
		return "nesterov needs momentum > 0 and dampening 0";
	return NULL;
}

/* The first row is the default (`optimizer` left out). */
const OptimizerInfo optimizer_table[] = {
	{"sgd", sgd_hp, ARRAY_LEN(sgd_hp), NAN, no_state, NULL, "opt_sgd.c", 0,
	 "p -= lr * (g + wd p), g the batch-mean gradient"},
	{"momentum", momentum_hp, ARRAY_LEN(momentum_hp), NAN, one_slot, momentum_check,
	 "opt_momentum.c", 0, "b = mu b + (1 - dampening) (g + wd p); p -= lr b (or Nesterov's)"},
	{"adagrad", adagrad_hp, ARRAY_LEN(adagrad_hp), 0.01, one_slot, NULL, "opt_adagrad.c", 0,
	 "S += g^2; p -= lr g / (sqrt(S) + eps)"},
	{"adadelta", adadelta_hp, ARRAY_LEN(adadelta_hp), 1.0, two_slots, NULL, "opt_adadelta.c", 0,
	 "E = rho E + (1-rho) g^2; u = sqrt(A+eps)/sqrt(E+eps) g; A = rho A + (1-rho) u^2; p -= lr u"},
	{"rmsprop", rmsprop_hp, ARRAY_LEN(rmsprop_hp), 0.01, rmsprop_state, NULL, "opt_rmsprop.c", 0,
	 "E = alpha E + (1-alpha) g^2; p -= lr g / (sqrt(E) + eps)"},
	{"adam", adam_hp, ARRAY_LEN(adam_hp), 0.001, adam_state, NULL, "opt_adam.c", 0,
	 "m, v = moving averages of g, g^2; p -= lr m^ / (sqrt(v^) + eps)"},
	{"adamw", adamw_hp, ARRAY_LEN(adamw_hp), 0.001, adam_state, NULL, "opt_adam.c", 1,
	 "p *= 1 - lr wd; then Adam's step without L2"},
};
const size_t optimizer_count = ARRAY_LEN(optimizer_table);

const OptimizerInfo *optimizer_find(const char *name)
{
	for (size_t k = 0; k < optimizer_count; k++)
		if (strcmp(optimizer_table[k].name, name) == 0)
			return &optimizer_table[k];
	return NULL;
}

/* The first row is the default (`loss` left out).  Squared error takes
 * the outputs the tutorial applies it to: sigmoid, whose (0, 1) matches the
 * one-hot targets, and linear.  Not relu: an output unit whose z < 0 for
 * every sample gets no gradient and never learns its class back; not tanh:
 * its "off" target 0 sits in the middle of (-1, 1), not at a saturated end. */
const LossInfo loss_table[] = {
	{"cross_entropy", "softmax", 0, true, "cross_entropy.c",
	 "L = sum_s -log a[s][y_s]; dL/dz = a - onehot(y) at the softmax input"},
	{"squared_error", "dense", 1u << ACT_SIGMOID | 1u << ACT_LINEAR, false, "squared_error.c",
	 "L = sum_s 1/2 sum_i (a[s][i] - onehot(y_s)[i])^2; dL/da = a - onehot(y)"},
};
const size_t loss_count = ARRAY_LEN(loss_table);

const LossInfo *loss_find(const char *name)
{
	for (size_t k = 0; k < loss_count; k++)
		if (strcmp(loss_table[k].name, name) == 0)
			return &loss_table[k];
	return NULL;
}

bool loss_fits(const LossInfo *l, const Layer *L)
{
	return strcmp(L->kind->name, l->output) == 0 &&
	       (!L->kind->has_activation || (l->acts >> L->act & 1));
}

const char *loss_output_text(Arena *A, const LossInfo *l)
{
	const char *s = arena_printf(A, "a %s output layer", l->output);
	for (size_t a = 0, k = 0; l->acts && a < ACT_COUNT; a++)
		if (l->acts >> a & 1)
			s = arena_printf(A, "%s%s%s", s, k++ ? " or " : " with activation ",
			                 activation_table[a].name);
	return s;
}
