/*
 * opt_rmsprop.c - RMSprop, as PyTorch 1.13's torch.optim.RMSprop computes
 * it:
 *   d = g + wd * p                      g the batch-mean gradient
 *   E = alpha * E + (1 - alpha) * d * d
 *   centered:  G = alpha * G + (1 - alpha) * d,   r = sqrt(E - G * G) + eps
 *   else:      r = sqrt(E) + eps
 *   momentum > 0:  b = momentum * b + d / r,   p = p - lr * b
 *   else:          p = p - lr * d / r
 * State slots: E, the momentum buffer b (used when momentum > 0) and, when
 * the trainer is generated with `centered`, the average gradient G.  (See
 * opt_sgd.c for the template's contract.)  Placeholders: N_STATE, STRIDE,
 * HP_<KEY>.
 */

//@ section optimizer
/* ---- The optimizer: rmsprop,  E = alpha E + (1-alpha) d^2;
 * r = sqrt(E [- G^2]) + eps;  p = p - lr (momentum ? (b = m b + d / r) : d / r).
 * State: E, b, G (centered). */
#define OPT_STATE {{N_STATE}}
#define OPT_STRIDE {{STRIDE}}

typedef struct OptStep {
	real lr, inv, eps;   /* lr, 1 / B, eps */
	real alpha, alpha1;  /* alpha, 1 - alpha */
	real mom;            /* momentum (0: none) */
	real wd[2];          /* weight decay of weights [0] and biases [1] */
} OptStep;

static void opt_prepare(OptStep *o, const nncc_update_t *u)
{
	o->lr = (real)u->lr;
	o->inv = (real)(1.0 / (double)u->batch);
	o->eps = (real){{HP_EPS}};
	o->alpha = (real){{HP_ALPHA}};
	o->alpha1 = (real)(1.0 - {{HP_ALPHA}});
	o->mom = (real){{HP_MOMENTUM}};
	o->wd[0] = (real){{HP_WEIGHT_DECAY}};
	o->wd[1] = {{HP_DECAY_BIASES}} != 0 ? o->wd[0] : (real)0;
}

KERN_INLINE void opt_scalar(const OptStep *o, int bias, real g, real *p, real *E, real *b,
                            real *G)
{
	const real d = opt_mean_s(g, o->inv, o->wd[bias], *p);
	real r;
	*E = FMA(o->alpha, *E, o->alpha1 * d * d);
	if (OPT_STATE > 2) {   /* centered */
		*G = FMA(o->alpha, *G, o->alpha1 * d);
		r = SQRT(FMA(-*G, *G, *E)) + o->eps;
	} else {
		r = SQRT(*E) + o->eps;
	}
	if (o->mom != (real)0) {
		*b = FMA(o->mom, *b, d / r);
		*p = FMA(-o->lr, *b, *p);
	} else {
		*p = FMA(-o->lr, d / r, *p);
	}
}

//@ section vector
#if KERN_SIMD
KERN_INLINE void opt_vector(const OptStep *o, const int c, int bias, vreal g, vreal *p, vreal *E,
                            vreal *b, vreal *G)
{
	const vreal d = opt_mean_v(g, o->inv, o->wd[bias], *p);
	const vreal alpha = V_SET1(o->alpha), alpha1 = V_SET1(o->alpha1);
	vreal r;
	(void)c;
	*E = V_FMA(alpha, *E, V_MUL(V_MUL(alpha1, d), d));
	if (OPT_STATE > 2) {   /* centered */
		*G = V_FMA(alpha, *G, V_MUL(alpha1, d));
		r = V_ADD(V_SQRT(V_FNMA(*G, *G, *E)), V_SET1(o->eps));
	} else {
		r = V_ADD(V_SQRT(*E), V_SET1(o->eps));
	}
	if (o->mom != (real)0) {
		*b = V_FMA(V_SET1(o->mom), *b, V_DIV(d, r));
		*p = V_FNMA(V_SET1(o->lr), *b, *p);
	} else {
		*p = V_FNMA(V_SET1(o->lr), V_DIV(d, r), *p);
	}
}
#endif
