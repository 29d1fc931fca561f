/*
 * opt_adam.c - Adam and AdamW, as PyTorch 1.13's torch.optim.Adam and
 * AdamW compute them (t = the step counter, from 1):
 *   adam:   d = g + wd * p         adamw: d = g, and first p = p * (1 - lr * wd)
 *   m = beta1 * m + (1 - beta1) * d
 *   v = beta2 * v + (1 - beta2) * d * d
 *   amsgrad: vmax = max(vmax, v), and vmax stands for v below
 *   p = p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * g the batch-mean gradient.  State slots: m, v and, when the trainer is
 * generated with `amsgrad`, vmax.  One template for both rows of optim.c:
 * VARIANT is 1 for adamw (decoupled decay).  (See opt_sgd.c for the template's contract.)
 * Placeholders: N_STATE, STRIDE, NAME, VARIANT, HP_<KEY>.
 */

//@ section optimizer
/* ---- The optimizer: {{NAME}},  m = b1 m + (1-b1) d;  v = b2 v + (1-b2) d^2;
 * p = p - lr/(1-b1^t) m / (sqrt(v)/sqrt(1-b2^t) + eps).  State: m, v[, vmax]. */
#define OPT_STATE {{N_STATE}}
#define OPT_STRIDE {{STRIDE}}
#define OPT_DECOUPLED {{VARIANT}} /* weight decay: 1 = p * (1 - lr wd), 0 = L2 in the gradient */

typedef struct OptStep {
	real step, inv, eps;  /* lr / (1 - beta1^t), 1 / B, eps */
	real b1, b11;         /* beta1, 1 - beta1 */
	real b2, b21;         /* beta2, 1 - beta2 */
	real bc2;             /* sqrt(1 - beta2^t) */
	real wd[2];           /* L2 weight decay of weights [0] and biases [1] (adam) */
	real keep[2];         /* 1 - lr wd for weights [0] and biases [1] (adamw) */
} OptStep;

static void opt_prepare(OptStep *o, const nncc_update_t *u)
{
	const double t = (double)u->step, b1 = {{HP_BETA1}}, b2 = {{HP_BETA2}};
	const double wd = {{HP_WEIGHT_DECAY}}, wdb = {{HP_DECAY_BIASES}} != 0 ? wd : 0;
	o->step = (real)(u->lr / (1.0 - pow(b1, t)));
	o->inv = (real)(1.0 / (double)u->batch);
	o->eps = (real){{HP_EPS}};
	o->b1 = (real)b1;
	o->b11 = (real)(1.0 - b1);
	o->b2 = (real)b2;
	o->b21 = (real)(1.0 - b2);
	o->bc2 = (real)sqrt(1.0 - pow(b2, t));
	o->wd[0] = OPT_DECOUPLED ? (real)0 : (real)wd;
	o->wd[1] = OPT_DECOUPLED ? (real)0 : (real)wdb;
	o->keep[0] = (real)(1.0 - u->lr * (OPT_DECOUPLED ? wd : 0));
	o->keep[1] = (real)(1.0 - u->lr * (OPT_DECOUPLED ? wdb : 0));
}

KERN_INLINE void opt_scalar(const OptStep *o, int bias, real g, real *p, real *m, real *v,
                            real *vmax)
{
	real d;
	if (OPT_DECOUPLED)   /* keep = 1 without decay: exact */
		*p = *p * o->keep[bias];
	d = opt_mean_s(g, o->inv, o->wd[bias], *p);
	*m = FMA(o->b1, *m, o->b11 * d);
	*v = FMA(o->b2, *v, o->b21 * d * d);
	if (OPT_STATE > 2) {   /* amsgrad */
		*vmax = *vmax > *v ? *vmax : *v;
		*p = FMA(-o->step, *m / (SQRT(*vmax) / o->bc2 + o->eps), *p);
	} else {
		*p = FMA(-o->step, *m / (SQRT(*v) / o->bc2 + o->eps), *p);
	}
}

//@ section vector
#if KERN_SIMD
KERN_INLINE void opt_vector(const OptStep *o, const int c, int bias, vreal g, vreal *p, vreal *m,
                            vreal *v, vreal *vmax)
{
	vreal d;
	(void)c;
	if (OPT_DECOUPLED)
		*p = V_MUL(*p, V_SET1(o->keep[bias]));
	d = opt_mean_v(g, o->inv, o->wd[bias], *p);
	*m = V_FMA(V_SET1(o->b1), *m, V_MUL(V_SET1(o->b11), d));
	*v = V_FMA(V_SET1(o->b2), *v, V_MUL(V_MUL(V_SET1(o->b21), d), d));
	if (OPT_STATE > 2) {   /* amsgrad */
		*vmax = V_MAX(*vmax, *v);
		*p = V_FNMA(V_SET1(o->step),
		            V_DIV(*m, V_ADD(V_DIV(V_SQRT(*vmax), V_SET1(o->bc2)), V_SET1(o->eps))), *p);
	} else {
		*p = V_FNMA(V_SET1(o->step),
		            V_DIV(*m, V_ADD(V_DIV(V_SQRT(*v), V_SET1(o->bc2)), V_SET1(o->eps))), *p);
	}
}
#endif
