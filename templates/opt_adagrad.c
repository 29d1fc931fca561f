/*
 * opt_adagrad.c - AdaGrad, as PyTorch 1.13's torch.optim.Adagrad computes
 * it (t = the step counter, from 1):
 *   d = g + wd * p                      g the batch-mean gradient
 *   S = S + d * d
 *   p = p - clr * d / (sqrt(S) + eps),  clr = lr / (1 + (t - 1) * lr_decay)
 * One state slot: the sum of squares S, starting at 0 (PyTorch's
 * initial_accumulator_value 0).  (See opt_sgd.c for the template's
 * contract.)  Placeholders: N_STATE, STRIDE, HP_<KEY>.
 */

//@ section optimizer
/* ---- The optimizer: adagrad,  S = S + d^2;  p = p - clr d / (sqrt(S) + eps).
 * State: S. */
#define OPT_STATE {{N_STATE}}
#define OPT_STRIDE {{STRIDE}}

typedef struct OptStep {
	real clr, inv, eps;  /* lr / (1 + (t - 1) lr_decay), 1 / B, eps */
	real wd[2];          /* weight decay of weights [0] and biases [1] */
} OptStep;

static void opt_prepare(OptStep *o, const nncc_update_t *u)
{
	o->clr = (real)(u->lr / (1.0 + (double)(u->step - 1) * {{HP_LR_DECAY}}));
	o->inv = (real)(1.0 / (double)u->batch);
	o->eps = (real){{HP_EPS}};
	o->wd[0] = (real){{HP_WEIGHT_DECAY}};
	o->wd[1] = {{HP_DECAY_BIASES}} != 0 ? o->wd[0] : (real)0;
}

KERN_INLINE void opt_scalar(const OptStep *o, int bias, real g, real *p, real *S, real *s1,
                            real *s2)
{
	const real d = opt_mean_s(g, o->inv, o->wd[bias], *p);
	(void)s1, (void)s2;
	*S = FMA(d, d, *S);
	*p = FMA(-o->clr, d / (SQRT(*S) + o->eps), *p);
}

//@ section vector
#if KERN_SIMD
KERN_INLINE void opt_vector(const OptStep *o, const int c, int bias, vreal g, vreal *p, vreal *S,
                            vreal *s1, vreal *s2)
{
	const vreal d = opt_mean_v(g, o->inv, o->wd[bias], *p);
	(void)c, (void)s1, (void)s2;
	*S = V_FMA(d, d, *S);
	*p = V_FNMA(V_SET1(o->clr), V_DIV(d, V_ADD(V_SQRT(*S), V_SET1(o->eps))), *p);
}
#endif
