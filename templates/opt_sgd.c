/*
 * opt_sgd.c - plain stochastic gradient descent, the tutorial's optimizer:
 *   p <- p - lr * g,   g = (1/B) sum_s dL_s/dp, the batch-mean gradient
 * for every parameter p.  An optimizer's template defines what nncc_kern.h
 * asks of it (OPT_STATE, OPT_STRIDE, OptStep, opt_scalar, opt_vector: see
 * there) plus opt_prepare, which turns the driver's nncc_update_t into the
 * step's constants.  The kernels call opt_vector in the epilogue of the
 * fused weight-gradient pass and opt_scalar elsewhere, with g = the SUM of
 * the gradient over the batch: the 1/B goes into the constant.
 * Placeholders: N_STATE = its state slots (optim.c's row), STRIDE = the
 * parameter count constant.
 */

//@ section optimizer
/* ---- The optimizer: sgd,  p <- p - lr * (1/B) sum_s dL_s/dp.  No state. */
#define OPT_STATE {{N_STATE}}
#define OPT_STRIDE {{STRIDE}}

typedef struct OptStep {
	real scale;   /* lr / B: the gradient arrives as a sum over the batch */
} OptStep;

static void opt_prepare(OptStep *o, const nncc_update_t *u)
{
	o->scale = (real)(u->lr / (double)u->batch);
}

/* p = p - scale * g in one rounding (an FMA), g = the gradient sum. */
KERN_INLINE void opt_scalar(const OptStep *o, int bias, real g, real *p, real *s0, real *s1,
                           real *s2)
{
	(void)bias, (void)s0, (void)s1, (void)s2;
	*p = FMA(-o->scale, g, *p);
}

#if KERN_SIMD
KERN_INLINE void opt_vector(const OptStep *o, int bias, vreal g, vreal *p, vreal *s0,
                           vreal *s1, vreal *s2)
{
	(void)bias, (void)s0, (void)s1, (void)s2;
	*p = V_FNMA(V_SET1(o->scale), g, *p);   /* the same FMA, 16 or 8 at a time */
}
#endif
