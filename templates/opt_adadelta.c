/*
 * opt_adadelta.c - AdaDelta, as PyTorch 1.13's torch.optim.Adadelta
 * computes it:
 *   d = g + wd * p                      g the batch-mean gradient
 *   E = rho * E + (1 - rho) * d * d
 *   u = sqrt(A + eps) / sqrt(E + eps) * d
 *   A = rho * A + (1 - rho) * u * u
 *   p = p - lr * u
 * Two state slots: the running averages of the squared gradients E and of
 * the squared updates A.  (See opt_sgd.c for the template's contract.)
 * Placeholders: N_STATE, STRIDE, HP_<KEY>.
 */

//@ section optimizer
/* ---- The optimizer: adadelta,  E = rho E + (1-rho) d^2;
 * u = sqrt(A + eps) / sqrt(E + eps) d;  A = rho A + (1-rho) u^2;  p = p - lr u.
 * State: E, A. */
#define OPT_STATE {{N_STATE}}
#define OPT_STRIDE {{STRIDE}}

typedef struct OptStep {
	real lr, inv, eps;  /* lr, 1 / B, eps */
	real rho, rho1;     /* rho, 1 - rho */
	real wd[2];         /* weight decay of weights [0] and biases [1] */
} OptStep;

static void opt_prepare(OptStep *o, const nncc_update_t *u)
{
	o->lr = (real)u->lr;
	o->inv = (real)(1.0 / (double)u->batch);
	o->eps = (real){{HP_EPS}};
	o->rho = (real){{HP_RHO}};
	o->rho1 = (real)(1.0 - {{HP_RHO}});
	o->wd[0] = (real){{HP_WEIGHT_DECAY}};
	o->wd[1] = {{HP_DECAY_BIASES}} != 0 ? o->wd[0] : (real)0;
}

KERN_INLINE void opt_scalar(const OptStep *o, int bias, real g, real *p, real *E, real *A,
                            real *s2)
{
	const real d = opt_mean_s(g, o->inv, o->wd[bias], *p);
	real u;
	(void)s2;
	*E = FMA(o->rho, *E, o->rho1 * d * d);
	u = SQRT(*A + o->eps) / SQRT(*E + o->eps) * d;
	*A = FMA(o->rho, *A, o->rho1 * u * u);
	*p = FMA(-o->lr, u, *p);
}

//@ section vector
#if KERN_SIMD
KERN_INLINE void opt_vector(const OptStep *o, const int c, int bias, vreal g, vreal *p, vreal *E,
                            vreal *A, vreal *s2)
{
	const vreal d = opt_mean_v(g, o->inv, o->wd[bias], *p), eps = V_SET1(o->eps);
	const vreal rho = V_SET1(o->rho), rho1 = V_SET1(o->rho1);
	vreal u;
	(void)c, (void)s2;
	*E = V_FMA(rho, *E, V_MUL(V_MUL(rho1, d), d));
	u = V_MUL(V_DIV(V_SQRT(V_ADD(*A, eps)), V_SQRT(V_ADD(*E, eps))), d);
	*A = V_FMA(rho, *A, V_MUL(V_MUL(rho1, u), u));
	*p = V_FNMA(V_SET1(o->lr), u, *p);
}
#endif
