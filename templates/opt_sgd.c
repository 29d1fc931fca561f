/*
 * opt_sgd.c - plain stochastic gradient descent, the tutorial's optimizer:
 *   p <- p - lr * (g + wd * p),   g = (1/B) sum_s dL_s/dp
 * for every parameter p, g the batch-mean gradient, wd the L2 weight decay
 * (PyTorch's torch.optim.SGD without momentum).  An optimizer's template
 * defines what nncc_pool.h and nncc_kern.h ask of it (OPT_STATE, OPT_STRIDE,
 * OptStep, opt_prepare, opt_scalar, opt_vector: see there; optionally
 * OPT_CASES and opt_case, as opt_momentum.c); opt_prepare turns the
 * driver's nncc_update_t into the step's constants.  Section
 * `optimizer` is compiled once, section `vector` (opt_vector) in each copy
 * of the kernel section.  The kernels call
 * opt_vector in the epilogue of the fused weight-gradient pass and
 * opt_scalar elsewhere, with the gradient SUM over the batch; the scalar
 * and vector forms do the same operations in the same order.  opt_vector's
 * c names the fused update's copy (one here: c = 0, unused).
 * Placeholders: N_STATE = its state slots (optim.c's row), STRIDE = the
 * parameter count constant, HP_<KEY> = the hyper-parameter KEY's value in
 * the update (u->hparams[k]).
 */

//@ section optimizer
/* ---- The optimizer: sgd,  p <- p - lr * (g + wd * p), g the batch-mean
 * gradient.  No state. */
#define OPT_STATE {{N_STATE}}
#define OPT_STRIDE {{STRIDE}}

typedef struct OptStep {
	real scale;   /* lr / B: the gradient arrives as a sum over the batch */
	real lrwd[2]; /* lr * weight decay of weights [0] and biases [1] (0: none) */
} OptStep;

static void opt_prepare(OptStep *o, const nncc_update_t *u)
{
	const double wd = {{HP_WEIGHT_DECAY}};
	o->scale = (real)(u->lr / (double)u->batch);
	o->lrwd[0] = (real)(u->lr * wd);
	o->lrwd[1] = (real)(u->lr * ({{HP_DECAY_BIASES}} != 0 ? wd : 0));
}

/* p = (p - lr wd p) - (lr / B) sum: without decay the inner FMA is exact
 * and the step is one rounding, the tutorial's update. */
KERN_INLINE void opt_scalar(const OptStep *o, int bias, real g, real *p, real *s0, real *s1,
                            real *s2)
{
	(void)s0, (void)s1, (void)s2;
	*p = FMA(-o->scale, g, FMA(-o->lrwd[bias], *p, *p));
}

//@ section vector
#if KERN_SIMD
KERN_INLINE void opt_vector(const OptStep *o, const int c, int bias, vreal g, vreal *p, vreal *s0,
                            vreal *s1, vreal *s2)
{
	(void)c, (void)s0, (void)s1, (void)s2;
	*p = V_FNMA(V_SET1(o->scale), g, V_FNMA(V_SET1(o->lrwd[bias]), *p, *p));
}
#endif
