/*
 * opt_momentum.c - SGD with heavy-ball momentum, optionally Nesterov's, as
 * PyTorch 1.13's torch.optim.SGD with momentum > 0 computes it:
 *   d = g + wd * p                      g the batch-mean gradient
 *   b = d                               on the first step (every step if mu = 0)
 *   b = mu * b + (1 - dampening) * d    after it
 *   d = d + mu * b  (nesterov)   or   d = b
 *   p = p - lr * d
 * One state slot: the momentum buffer b.  (See opt_sgd.c for the template's
 * contract.)  Two copies of the fused update (OPT_CASES, nncc_pool.h), one
 * per Nesterov switch, so that neither switch is tested per vector there;
 * the first step, rare, takes the unfused update.  Placeholders: N_STATE,
 * STRIDE, HP_<KEY>.
 */

//@ section optimizer
/* ---- The optimizer: momentum,  b = mu b + (1 - dampening) d (b = d on the
 * first step);  p = p - lr (nesterov ? d + mu b : b).  State: b. */
#define OPT_STATE {{N_STATE}}
#define OPT_STRIDE {{STRIDE}}
#define OPT_CASES 2 /* the fused update's copies: c = 0 heavy ball, 1 Nesterov */

typedef struct OptStep {
	real lr, inv;    /* lr, 1 / B */
	real mu, damp1;  /* momentum, 1 - dampening */
	int first;       /* b = d: the first step, or no momentum */
	int nesterov;
	real wd[2];      /* weight decay of weights [0] and biases [1] */
} OptStep;

static void opt_prepare(OptStep *o, const nncc_update_t *u)
{
	o->lr = (real)u->lr;
	o->inv = (real)(1.0 / (double)u->batch);
	o->mu = (real){{HP_MOMENTUM}};
	o->damp1 = (real)(1.0 - {{HP_DAMPENING}});
	o->first = u->step == 1 || o->mu == 0;   /* momentum 0: plain SGD, as in torch */
	o->nesterov = {{HP_NESTEROV}} != 0;
	o->wd[0] = (real){{HP_WEIGHT_DECAY}};
	o->wd[1] = {{HP_DECAY_BIASES}} != 0 ? o->wd[0] : (real)0;
}

/* The fused copy for the step: none on the first (b = d). */
KERN_INLINE int opt_case(const OptStep *o)
{
	return o->first ? KERN_CASE_ANY : o->nesterov;
}

KERN_INLINE void opt_scalar(const OptStep *o, int bias, real g, real *p, real *b, real *s1,
                            real *s2)
{
	real d = opt_mean_s(g, o->inv, o->wd[bias], *p);
	(void)s1, (void)s2;
	*b = o->first ? d : FMA(o->mu, *b, o->damp1 * d);
	d = o->nesterov ? FMA(o->mu, *b, d) : *b;
	*p = FMA(-o->lr, d, *p);
}

//@ section vector
#if KERN_SIMD
/* opt_scalar's selects, constant in the fused copies: not the first step,
 * Nesterov's when c = 1. */
KERN_INLINE void opt_vector(const OptStep *o, const int c, int bias, vreal g, vreal *p,
                            vreal *b, vreal *s1, vreal *s2)
{
	const int first = c == KERN_CASE_ANY && o->first;
	const int nesterov = c == KERN_CASE_ANY ? o->nesterov : c == 1;
	vreal d = opt_mean_v(g, o->inv, o->wd[bias], *p);
	(void)s1, (void)s2;
	*b = first ? d : V_FMA(V_SET1(o->mu), *b, V_MUL(V_SET1(o->damp1), d));
	d = nesterov ? V_FMA(V_SET1(o->mu), *b, d) : *b;
	*p = V_FNMA(V_SET1(o->lr), d, *p);
}
#endif
