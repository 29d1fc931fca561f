/*
 * activation.c - one activation function and its derivative, generated for
 * each row of NNCC_ACTIVATIONS (compiler/nncc.h) that the network uses.
 * The derivative is written in terms of the output y = f(x), so the backward
 * pass needs only the stored activations, not z.
 * Placeholders: NAME (YAML name), FORWARD (expression in x), DERIV (in y).
 */

//@ section activation
/* {{NAME}}: y = f(x), and f'(x) written in terms of y. */
static inline real act_{{NAME}}(real x)
{
	return {{FORWARD}};
}

static inline real act_{{NAME}}_deriv(real y)
{
	(void)y; /* unused when f' is a constant */
	return {{DERIV}};
}
