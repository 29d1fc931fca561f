/*
 * ref.c - the reference backpropagation (see ref.h for the vocabulary).
 *
 * Textbook formulation, one sample b and one unit at a time, in double:
 *   forward   z_l = W_l^T a_{l-1} + b_l,  a_l = f_l(z_l),  a_0 = x
 *             softmax: a_i = exp(x_i - max x) / sum_k exp(x_k - max x)
 *   loss      cross_entropy L_b = -log a_last[y_b]
 *             squared_error L_b = 1/2 sum_i (a_last_i - [i == y_b])^2
 *             L = (1/n) sum_b L_b
 *   backward  delta_l = dL_b/da_l (.) f_l'(z_l)
 *             dL_b/da_{l-1} = W_l delta_l
 *             dL_b/dx (softmax input) = p - onehot(y_b)   (softmax + CE)
 *             dL_b/da_last = a_last - onehot(y_b)          (squared error)
 *   gradient  dW_l[j][i] = (1/n) sum_b a_{l-1}[b][j] delta_l[b][i]
 *             db_l[i]    = (1/n) sum_b delta_l[b][i]
 *   update    theta -= lr * dtheta   (sgd; the optimizers' table below)
 * and pre-training's autoencoder step (its own section, formulas there).
 * One row per layer kind (forward, backward, error scales), one per loss,
 * reconstruction loss and optimizer, as the compiler has; no `kind ==`
 * branch outside a kind's own functions.  Deliberately slow and obvious:
 * no blocking, no fusion, no shared code with templates/.  Allocation
 * failure aborts (test code).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"

static void *ref_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p) {
		fprintf(stderr, "ref: out of memory\n");
		abort();
	}
	return p;
}

/* ---- activations: the reference's own copy, derivative taken from z. */

double ref_act(Activation act, double z)
{
	switch (act) {
	case ACT_LINEAR:
		return z;                          /* f(z) = z */
	case ACT_SIGMOID:
		return 1.0 / (1.0 + exp(-z));      /* f(z) = 1 / (1 + e^-z) */
	case ACT_TANH:
		return tanh(z);                    /* f(z) = tanh z */
	case ACT_RELU:
		return z > 0.0 ? z : 0.0;          /* f(z) = max(z, 0) */
	case ACT_COUNT:
		break;
	}
	return NAN;  /* ref_new rejects activations the reference lacks */
}

double ref_act_deriv(Activation act, double z)
{
	double s;

	switch (act) {
	case ACT_LINEAR:
		return 1.0;                        /* f'(z) = 1 */
	case ACT_SIGMOID:
		s = 1.0 / (1.0 + exp(-z));
		return s * (1.0 - s);              /* f'(z) = s(z) (1 - s(z)) */
	case ACT_TANH:
		s = tanh(z);
		return 1.0 - s * s;                /* f'(z) = 1 - tanh^2 z */
	case ACT_RELU:
		return z > 0.0 ? 1.0 : 0.0;        /* f'(z) = [z > 0], f'(0) := 0 */
	case ACT_COUNT:
		break;
	}
	return NAN;
}

static int act_known(Activation act)
{
	return act == ACT_LINEAR || act == ACT_SIGMOID || act == ACT_TANH ||
	       act == ACT_RELU;
}

/* ---- the layer kinds: one row each */

/* The input of layer l for sample b: x for the first layer, else a_{l-1}. */
static const double *layer_input(const RefNet *r, size_t l, const double *x, size_t b)
{
	if (l == 0)
		return x + b * r->n_inputs;
	return r->layers[l - 1].a + b * r->layers[l - 1].out;
}

/* Magnitude of layer l's input j for sample b: |x|, or the previous M_a. */
static double input_mag(const RefNet *r, size_t l, const double *x, size_t b, size_t j)
{
	if (l == 0)
		return fabs(x[b * r->n_inputs + j]);
	return r->layers[l - 1].ma[b * r->layers[l - 1].out + j];
}

/* sup |f''|: how fast f' moves when z is off by a rounding error. */
static double act_curvature(Activation act)
{
	switch (act) {
	case ACT_SIGMOID:
		return 0.1;    /* max |s (1-s) (1-2s)| = 0.0962 */
	case ACT_TANH:
		return 0.8;    /* max |-2 t (1-t^2)| = 0.7698 */
	case ACT_LINEAR:
	case ACT_RELU:
	case ACT_COUNT:
		break;
	}
	return 0.0;
}

struct RefKind {
	const char *name;     /* the compiler's kind of that name (kinds.c) */
	int has_params;       /* z, delta and magnitudes kept */
	/* z and a of sample b from its input `in` */
	void (*forward)(RefNet *r, size_t l, size_t b, const double *in);
	/* from g = dL_b/da (its output's gradient; the label y for a kind that
	 * folds the loss in): delta, the gradient means added to grads (1/n
	 * each), and gp = dL_b/d(input) */
	void (*backward)(RefNet *r, size_t l, size_t b, const double *in, const double *g,
	                 int32_t y, double *gp, size_t n);
	/* error scales: M_z, M_a of sample b; then M_delta, M_grads and M_gp from M_g */
	void (*bounds_forward)(RefNet *r, size_t l, size_t b, const double *x);
	void (*bounds_backward)(RefNet *r, size_t l, size_t b, const double *x, const double *mg,
	                        double *mgp, size_t n);
	int folds_loss;       /* its backward takes the label, not g (softmax + CE) */
};

/* dense: z_i = b_i + sum_j W[j][i] x_j, a_i = f(z_i) */
static void dense_forward(RefNet *r, size_t l, size_t b, const double *in)
{
	RefLayer *L = &r->layers[l];
	const double *W = r->params + L->tensors[0].offset;   /* W[j][i], [in][out] */
	const double *bias = r->params + L->tensors[1].offset;
	double *z = L->z + b * L->out, *a = L->a + b * L->out;
	for (size_t i = 0; i < L->out; i++) {
		double s = bias[i];                   /* z_i = b_i */
		for (size_t j = 0; j < L->in; j++)
			s += W[j * L->out + i] * in[j];   /*   + sum_j W[j][i] x_j */
		z[i] = s;
		a[i] = ref_act(L->act, s);            /* a_i = f(z_i) */
	}
}

static void dense_backward(RefNet *r, size_t l, size_t b, const double *in, const double *g,
                           int32_t y, double *gp, size_t n)
{
	RefLayer *L = &r->layers[l];
	double *dW = r->grads + L->tensors[0].offset;       /* [in][out] */
	double *db = r->grads + L->tensors[1].offset;       /* [out] */
	const double *W = r->params + L->tensors[0].offset;
	double *delta = L->delta + b * L->out;
	(void)y;
	for (size_t i = 0; i < L->out; i++)    /* delta_i = dL/da_i f'(z_i) */
		delta[i] = g[i] * ref_act_deriv(L->act, L->z[b * L->out + i]);
	for (size_t i = 0; i < L->out; i++) {
		db[i] += delta[i] / (double)n;                       /* db_i += delta_i / n */
		for (size_t j = 0; j < L->in; j++)
			dW[j * L->out + i] += in[j] * delta[i] / (double)n;  /* dW_ji += x_j delta_i / n */
	}
	for (size_t j = 0; j < L->in; j++) {   /* dL/dx_j = sum_i W[j][i] delta_i */
		double s = 0.0;
		for (size_t i = 0; i < L->out; i++)
			s += W[j * L->out + i] * delta[i];
		gp[j] = s;
	}
}

/* M_z = |b| + sum_j |W_ji| M_in_j, M_a = max(|a|, |f'(z)| M_z) */
static void dense_bounds_forward(RefNet *r, size_t l, size_t b, const double *x)
{
	RefLayer *L = &r->layers[l];
	const double *W = r->params + L->tensors[0].offset;
	for (size_t i = 0; i < L->out; i++) {
		double m = fabs(r->params[L->tensors[1].offset + i]);
		for (size_t j = 0; j < L->in; j++)
			m += fabs(W[j * L->out + i]) * input_mag(r, l, x, b, j);
		size_t q = b * L->out + i;
		L->mz[q] = m;
		L->ma[q] = fmax(fabs(L->a[q]), fabs(ref_act_deriv(L->act, L->z[q])) * m);
	}
}

/* M_d = (|f'(z)| + sup|f''| M_z) M_g;  M_g_prev = sum_i |W_ji| M_d_i;
 * M_dW_ji = mean_b M_in_j M_d_i, M_db_i = mean_b M_d_i */
static void dense_bounds_backward(RefNet *r, size_t l, size_t b, const double *x,
                                  const double *mg, double *mgp, size_t n)
{
	RefLayer *L = &r->layers[l];
	const double *W = r->params + L->tensors[0].offset;
	size_t w = L->tensors[0].offset, bo = L->tensors[1].offset;
	double curv = act_curvature(L->act);
	for (size_t i = 0; i < L->out; i++) {   /* (M_g >= |g| stands in for |g|) */
		size_t q = b * L->out + i;
		L->mdelta[q] = fabs(ref_act_deriv(L->act, L->z[q])) * mg[i] + curv * L->mz[q] * mg[i];
	}
	for (size_t i = 0; i < L->out; i++) {
		double md = L->mdelta[b * L->out + i];
		r->mgrads[bo + i] += md / (double)n;
		for (size_t j = 0; j < L->in; j++)
			r->mgrads[w + j * L->out + i] += input_mag(r, l, x, b, j) * md / (double)n;
	}
	for (size_t j = 0; j < L->in; j++) {
		double s = 0.0;
		for (size_t i = 0; i < L->out; i++)
			s += fabs(W[j * L->out + i]) * L->mdelta[b * L->out + i];
		mgp[j] = s;
	}
}

/* softmax: a_i = exp(x_i - max x) / sum_k exp(x_k - max x) */
static void softmax_forward(RefNet *r, size_t l, size_t b, const double *in)
{
	RefLayer *L = &r->layers[l];
	double *a = L->a + b * L->out;
	double mx = in[0];                        /* max_k x_k, for stability */
	for (size_t i = 1; i < L->out; i++)
		mx = in[i] > mx ? in[i] : mx;
	double sum = 0.0;
	for (size_t i = 0; i < L->out; i++) {
		a[i] = exp(in[i] - mx);               /* e_i = exp(x_i - max) */
		sum += a[i];                          /* sum_k e_k */
	}
	for (size_t i = 0; i < L->out; i++)
		a[i] /= sum;                          /* a_i = e_i / sum_k e_k */
}

/* softmax + cross-entropy together: dL_b/dx_i = p_i - [i == y_b] */
static void softmax_backward(RefNet *r, size_t l, size_t b, const double *in, const double *g,
                             int32_t y, double *gp, size_t n)
{
	const RefLayer *L = &r->layers[l];
	(void)in, (void)g, (void)n;
	for (size_t i = 0; i < L->out; i++)
		gp[i] = L->a[b * L->out + i] - (i == (size_t)y ? 1.0 : 0.0);
}

/* M_p_i = p_i (1 + M_in_i + sum_k p_k M_in_k) */
static void softmax_bounds_forward(RefNet *r, size_t l, size_t b, const double *x)
{
	RefLayer *L = &r->layers[l];
	const double *p = L->a + b * L->out;
	double s = 0.0;
	for (size_t k = 0; k < L->out; k++)
		s += p[k] * input_mag(r, l, x, b, k);
	for (size_t i = 0; i < L->out; i++)
		L->ma[b * L->out + i] = p[i] * (1.0 + input_mag(r, l, x, b, i) + s);
}

/* M_g at the softmax input: |p - onehot| + M_p (mg holds that already: the
 * loss's scales are computed for a layer that folds the loss in). */
static void softmax_bounds_backward(RefNet *r, size_t l, size_t b, const double *x,
                                    const double *mg, double *mgp, size_t n)
{
	(void)x, (void)n;
	memcpy(mgp, mg, r->layers[l].out * sizeof *mgp);
	(void)b;
}

/* dropout, written from docs/trainer.md#dropout: while training
 * a_i = x_i m_i / (1 - rate), m_i = [bits_i >= floor(rate 2^32)], with
 *   mix(z)  = splitmix64's finaliser
 *   R       = mix(mix(mix(seed + G k) + G t) + G b)    k = l + 1, t = update
 *   h       = mix(R + G floor(i / 2))
 *   bits_i  = low 32 bits of h (i even), high 32 bits (i odd)
 * and a = x when evaluating. */
#define GOLDEN 0x9e3779b97f4a7c15ULL

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* m_i: 1 if unit i of sample b is kept at `rate` under the key (seed,
 * layer number k, update t), else 0.  Pre-training's noise draws from it too. */
static int mask_keep(uint64_t seed, uint64_t k, uint64_t t, size_t b, size_t i, double rate)
{
	uint64_t R = mix(mix(mix(seed + GOLDEN * k) + GOLDEN * t) + GOLDEN * b);
	uint64_t h = mix(R + GOLDEN * (i / 2));
	uint32_t bits = i % 2 == 0 ? (uint32_t)h : (uint32_t)(h >> 32);
	return bits >= (uint64_t)ldexp(rate, 32);               /* m_i = [bits_i >= floor(rate 2^32)] */
}

/* m_i / (1 - rate) for unit i of sample b in layer l: 0 or the scale. */
static double dropout_factor(const RefNet *r, size_t l, size_t b, size_t i)
{
	const double rate = r->layers[l].rate;
	if (r->evaluating)
		return 1.0;                                         /* the identity */
	return mask_keep(r->seed, l + 1, r->t + 1, b, i, rate) ? 1.0 / (1.0 - rate) : 0.0;
}

static void dropout_forward(RefNet *r, size_t l, size_t b, const double *in)
{
	RefLayer *L = &r->layers[l];
	double *a = L->a + b * L->out;
	for (size_t i = 0; i < L->out; i++) {
		double f = dropout_factor(r, l, b, i);
		a[i] = f == 0.0 ? 0.0 : in[i] * f;                  /* a_i = x_i m_i / (1 - rate) */
	}
}

static void dropout_backward(RefNet *r, size_t l, size_t b, const double *in, const double *g,
                             int32_t y, double *gp, size_t n)
{
	(void)in, (void)y, (void)n;
	for (size_t i = 0; i < r->layers[l].out; i++) {
		double f = dropout_factor(r, l, b, i);
		gp[i] = f == 0.0 ? 0.0 : g[i] * f;                  /* dL/dx_i = g_i m_i / (1 - rate) */
	}
}

/* M_a_i = M_in_i m_i / (1 - rate) */
static void dropout_bounds_forward(RefNet *r, size_t l, size_t b, const double *x)
{
	RefLayer *L = &r->layers[l];
	for (size_t i = 0; i < L->out; i++)
		L->ma[b * L->out + i] = input_mag(r, l, x, b, i) * dropout_factor(r, l, b, i);
}

/* M_gp_i = M_g_i m_i / (1 - rate) */
static void dropout_bounds_backward(RefNet *r, size_t l, size_t b, const double *x,
                                    const double *mg, double *mgp, size_t n)
{
	(void)x, (void)n;
	for (size_t i = 0; i < r->layers[l].out; i++)
		mgp[i] = mg[i] * dropout_factor(r, l, b, i);
}

static const RefKind ref_kinds[] = {
	{"dense", 1, dense_forward, dense_backward, dense_bounds_forward, dense_bounds_backward, 0},
	{"softmax", 0, softmax_forward, softmax_backward, softmax_bounds_forward,
	 softmax_bounds_backward, 1},
	{"dropout", 0, dropout_forward, dropout_backward, dropout_bounds_forward,
	 dropout_bounds_backward, 0},
};

/* ---- the losses: one row each (named as the compiler's, optim.c), on the
 * output a = a_last[b] (k = its width) and the label y of one sample. */

struct RefLoss {
	const char *name;
	double (*value)(const double *a, size_t k, int32_t y);   /* L_b */
	void (*grad)(const double *a, size_t k, int32_t y, double *g); /* g = dL_b/da */
	/* error scales of sample b: returns M_L_b, fills M_g at the last layer's
	 * output (or at its input, for a kind that folds the loss in) */
	double (*bounds)(RefNet *r, size_t b, const double *x, int32_t y, double *mg);
	int foldable;         /* a kind that folds a loss in (softmax) may be last */
};

/* cross_entropy: L_b = -log a_y */
static double ce_value(const double *a, size_t k, int32_t y)
{
	(void)k;
	return -log(a[y]);
}

/* dL_b/da_i = -1 / a_i if i == y_b, else 0 (a kind that folds the loss in,
 * softmax, takes the label instead) */
static void ce_grad(const double *a, size_t k, int32_t y, double *g)
{
	for (size_t i = 0; i < k; i++)
		g[i] = i == (size_t)y ? -1.0 / a[i] : 0.0;
}

/* M_L = L_b + M_in_y + sum_k p_k M_in_k and M_g = |p - onehot| + M_p at the
 * input of a softmax that folds the loss in; otherwise M_L = |log p_y| +
 * M_a/|p_y| and M_g = |g| (1 + M_a/|a|). */
static double ce_bounds(RefNet *r, size_t b, const double *x, int32_t y, double *mg)
{
	size_t l = r->n_layers - 1, yb = (size_t)y;
	const RefLayer *last = &r->layers[l];
	const double *p = last->a + b * last->out;
	if (last->kind->folds_loss) {
		double s = 0.0;
		for (size_t k = 0; k < last->out; k++)
			s += p[k] * input_mag(r, l, x, b, k);
		for (size_t i = 0; i < last->out; i++)
			mg[i] = fabs(p[i] - (i == yb ? 1.0 : 0.0)) + last->ma[b * last->out + i];
		return -log(p[yb]) + input_mag(r, l, x, b, yb) + s;
	}
	double rel = last->ma[b * last->out + yb] / fabs(p[yb]);
	mg[yb] = (1.0 + rel) / fabs(p[yb]);
	return fabs(log(p[yb])) + rel;
}

/* squared_error: L_b = 1/2 sum_i (a_i - t_i)^2, t = onehot(y_b) */
static double se_value(const double *a, size_t k, int32_t y)
{
	double s = 0.0;
	for (size_t i = 0; i < k; i++) {
		double e = a[i] - (i == (size_t)y ? 1.0 : 0.0);   /* e_i = a_i - t_i */
		s += e * e;                                       /* sum_i e_i^2 */
	}
	return 0.5 * s;                                       /* L_b = 1/2 sum */
}

/* dL_b/da_i = a_i - t_i */
static void se_grad(const double *a, size_t k, int32_t y, double *g)
{
	for (size_t i = 0; i < k; i++)
		g[i] = a[i] - (i == (size_t)y ? 1.0 : 0.0);
}

/* M_L = sum_i (e_i^2 / 2 + |e_i| M_a_i), M_g_i = |e_i| + M_a_i */
static double se_bounds(RefNet *r, size_t b, const double *x, int32_t y, double *mg)
{
	const RefLayer *last = &r->layers[r->n_layers - 1];
	const double *a = last->a + b * last->out, *ma = last->ma + b * last->out;
	double m = 0.0;
	(void)x;
	for (size_t i = 0; i < last->out; i++) {
		double e = fabs(a[i] - (i == (size_t)y ? 1.0 : 0.0));
		m += 0.5 * e * e + e * ma[i];
		mg[i] = e + ma[i];
	}
	return m;
}

static const RefLoss ref_losses[] = {
	{"cross_entropy", ce_value, ce_grad, ce_bounds, 1},
	{"squared_error", se_value, se_grad, se_bounds, 0},
};

static const RefLoss *ref_loss_row(const LossInfo *l)
{
	for (size_t i = 0; l && i < sizeof ref_losses / sizeof ref_losses[0]; i++)
		if (strcmp(ref_losses[i].name, l->name) == 0)
			return &ref_losses[i];
	return NULL;
}

/* ---- pre-training's reconstruction losses: one row each, on one unit j
 * of one sample, r = sigmoid(z) the decoder's output and x the clean input
 * (the target).  dz is dL/dz_D through the sigmoid. */

struct RefRecon {
	int id;               /* its nncc_recon_t */
	double (*value)(double r, double x);           /* L_bj */
	double (*dz)(double r, double z, double x);    /* dL_bj/dz_j */
	/* error scales from those of r, z and x (M_r, M_z, M_x): returns M_L,
	 * *mdz = M_dz (the bounds of ref_bounds, see there) */
	double (*bounds)(double r, double z, double x, double mr, double mz, double mx,
	                 double *mdz);
};

/* squared_error: L_bj = 1/2 (r - x)^2 */
static double recon_se_value(double r, double x)
{
	return 0.5 * (r - x) * (r - x);
}

/* dL/dz = (r - x) sigmoid'(z) */
static double recon_se_dz(double r, double z, double x)
{
	return (r - x) * ref_act_deriv(ACT_SIGMOID, z);
}

/* M_e = |r - x| + M_r + M_x, M_L = e^2/2 + |e| (M_r + M_x),
 * M_dz = (|sigmoid'(z)| + sup|sigmoid''| M_z) M_e */
static double recon_se_bounds(double r, double z, double x, double mr, double mz, double mx,
                              double *mdz)
{
	double e = fabs(r - x);
	*mdz = (ref_act_deriv(ACT_SIGMOID, z) + act_curvature(ACT_SIGMOID) * mz) * (e + mr + mx);
	return 0.5 * e * e + e * (mr + mx);
}

/* ln clamped at -100, as torch's BCELoss */
static double ln100(double v)
{
	return fmax(log(v), -100.0);
}

/* cross_entropy: L_bj = -(x ln r + (1 - x) ln(1 - r)) */
static double recon_ce_value(double r, double x)
{
	return -(x * ln100(r) + (1.0 - x) * ln100(1.0 - r));
}

/* dL/dz = (-x/r + (1 - x)/(1 - r)) r (1 - r) = r - x: the clamps do not
 * enter the gradient (docs/trainer.md#pre-training) */
static double recon_ce_dz(double r, double z, double x)
{
	(void)z;
	return r - x;
}

/* M_L = |x ln r| + |(1-x) ln(1-r)| + (|x|/r + |1-x|/(1-r)) M_r
 *       + (|ln r| + |ln(1-r)|) M_x;   M_dz = |r - x| + M_r + M_x */
static double recon_ce_bounds(double r, double z, double x, double mr, double mz, double mx,
                              double *mdz)
{
	double l0 = ln100(r), l1 = ln100(1.0 - r);
	(void)z, (void)mz;
	*mdz = fabs(r - x) + mr + mx;
	double terms = fabs(x * l0) + fabs((1.0 - x) * l1);
	return terms + (fabs(x) / r + fabs(1.0 - x) / (1.0 - r)) * mr + (fabs(l0) + fabs(l1)) * mx;
}

static const RefRecon ref_recons[] = {
	{NNCC_RECON_SQUARED_ERROR, recon_se_value, recon_se_dz, recon_se_bounds},
	{NNCC_RECON_CROSS_ENTROPY, recon_ce_value, recon_ce_dz, recon_ce_bounds},
};

static const RefRecon *ref_recon_row(int id)
{
	for (size_t i = 0; i < sizeof ref_recons / sizeof ref_recons[0]; i++)
		if (ref_recons[i].id == id)
			return &ref_recons[i];
	return NULL;
}

/* ---- the optimizers: one row each, PyTorch 1.13's update from the
 * batch-mean gradient g of every parameter (docs/optimizers.md).  Each also
 * propagates error scales, as ref_bounds does: from M_g (mgrads) to the
 * magnitude of the step's change M_dp (mstep), the same formula with every
 * term's error bound, first order; and a normalising optimizer (one that
 * divides by a running root of g^2) counts as `undetermined` an element
 * whose g is within r->noise * M_g of 0, where the sign of its update is
 * not determined by a gradient known only to that precision. */

/* The optimizer's hyper-parameter `key`. */
static double hp(const RefNet *r, const char *key)
{
	for (size_t k = 0; k < r->opt->n_hparams; k++)
		if (strcmp(r->opt->hparams[k].key, key) == 0)
			return r->hparams[k];
	fprintf(stderr, "ref: %s has no hyper-parameter %s\n", r->opt->name, key);
	abort();
}

/* State slot k of parameter p, and its error scale. */
#define S(k, p) r->state[(k) * r->n_params + (p)]
#define MS(k, p) r->mstate[(k) * r->n_params + (p)]

/* The L2 weight decay of parameter p: weight_decay, unless p is a bias and
 * decay_biases is off. */
static double decay_of(const RefNet *r, size_t p)
{
	return r->is_bias[p] && hp(r, "decay_biases") == 0 ? 0.0 : hp(r, "weight_decay");
}

/* sqrt(x) and the error scale of sqrt from the error scale mx of x. */
static double msqrt(double x, double mx)
{
	return x > 0 ? mx / (2 * sqrt(x)) : sqrt(mx);
}

static void note_sign(RefNet *r, size_t p, double g, double mg)
{
	if (fabs(g) < r->noise * mg) {
		r->undet[p] = 1;
		r->undetermined++;
	}
}

/* sgd: p -= lr (g + wd p) */
static void sgd_update(RefNet *r, double lr)
{
	for (size_t p = 0; p < r->n_params; p++) {
		double wd = decay_of(r, p);
		double d = r->grads[p] + wd * r->params[p];               /* d = g + wd p */
		r->params[p] -= lr * d;                                   /* p -= lr d */
		r->mstep[p] = lr * (r->mgrads[p] + wd * fabs(r->params[p]));
	}
}

/* momentum: b = d (t = 1 or mu = 0) or mu b + (1 - dampening) d;
 * p -= lr (nesterov ? d + mu b : b) */
static void momentum_update(RefNet *r, double lr)
{
	double mu = hp(r, "momentum"), damp = hp(r, "dampening");
	int nesterov = hp(r, "nesterov") != 0;
	for (size_t p = 0; p < r->n_params; p++) {
		double wd = decay_of(r, p);
		double d = r->grads[p] + wd * r->params[p];               /* d = g + wd p */
		double md = r->mgrads[p] + wd * fabs(r->params[p]);
		if (r->t == 1 || mu == 0) {
			S(0, p) = d;                                          /* b = d */
			MS(0, p) = md;
		} else {
			S(0, p) = mu * S(0, p) + (1 - damp) * d;              /* b = mu b + (1-damp) d */
			MS(0, p) = mu * MS(0, p) + (1 - damp) * md;
		}
		double u = nesterov ? d + mu * S(0, p) : S(0, p);         /* u = d + mu b, or b */
		double mu_ = nesterov ? md + mu * MS(0, p) : MS(0, p);
		r->params[p] -= lr * u;                                   /* p -= lr u */
		r->mstep[p] = lr * mu_;
	}
}

/* adagrad: S += d^2; p -= clr d / (sqrt(S) + eps), clr = lr / (1 + (t-1) lr_decay) */
static void adagrad_update(RefNet *r, double lr)
{
	double eps = hp(r, "eps");
	double clr = lr / (1 + (double)(r->t - 1) * hp(r, "lr_decay"));
	for (size_t p = 0; p < r->n_params; p++) {
		double wd = decay_of(r, p);
		double d = r->grads[p] + wd * r->params[p];               /* d = g + wd p */
		double md = r->mgrads[p] + wd * fabs(r->params[p]);
		note_sign(r, p, d, md);
		S(0, p) += d * d;                                         /* S += d^2 */
		MS(0, p) += 2 * fabs(d) * md;
		double D = sqrt(S(0, p)) + eps;                           /* D = sqrt(S) + eps */
		double mD = msqrt(S(0, p), MS(0, p));
		r->params[p] -= clr * d / D;                              /* p -= clr d / D */
		r->mstep[p] = clr * (md / D + fabs(d) * mD / (D * D));
	}
}

/* adadelta: E = rho E + (1-rho) d^2; u = sqrt(A+eps)/sqrt(E+eps) d;
 * A = rho A + (1-rho) u^2; p -= lr u */
static void adadelta_update(RefNet *r, double lr)
{
	double rho = hp(r, "rho"), eps = hp(r, "eps");
	for (size_t p = 0; p < r->n_params; p++) {
		double wd = decay_of(r, p);
		double d = r->grads[p] + wd * r->params[p];               /* d = g + wd p */
		double md = r->mgrads[p] + wd * fabs(r->params[p]);
		S(0, p) = rho * S(0, p) + (1 - rho) * d * d;              /* E = rho E + (1-rho) d^2 */
		MS(0, p) = rho * MS(0, p) + (1 - rho) * 2 * fabs(d) * md;
		double se = sqrt(S(0, p) + eps), sa = sqrt(S(1, p) + eps);
		double mse = MS(0, p) / (2 * se), msa = MS(1, p) / (2 * sa);
		double u = sa / se * d;                                   /* u = sqrt(A+eps)/sqrt(E+eps) d */
		double mu_ = (msa / se + sa * mse / (se * se)) * fabs(d) + sa / se * md;
		S(1, p) = rho * S(1, p) + (1 - rho) * u * u;              /* A = rho A + (1-rho) u^2 */
		MS(1, p) = rho * MS(1, p) + (1 - rho) * 2 * fabs(u) * mu_;
		r->params[p] -= lr * u;                                   /* p -= lr u */
		r->mstep[p] = lr * mu_;
	}
}

/* rmsprop: E = alpha E + (1-alpha) d^2; centered: G = alpha G + (1-alpha) d,
 * R = sqrt(E - G^2) + eps, else R = sqrt(E) + eps;
 * momentum: b = m b + d / R, p -= lr b; else p -= lr d / R */
static void rmsprop_update(RefNet *r, double lr)
{
	double alpha = hp(r, "alpha"), eps = hp(r, "eps"), mom = hp(r, "momentum");
	int centered = hp(r, "centered") != 0;
	for (size_t p = 0; p < r->n_params; p++) {
		double wd = decay_of(r, p);
		double d = r->grads[p] + wd * r->params[p];               /* d = g + wd p */
		double md = r->mgrads[p] + wd * fabs(r->params[p]);
		note_sign(r, p, d, md);
		S(0, p) = alpha * S(0, p) + (1 - alpha) * d * d;          /* E = alpha E + (1-alpha) d^2 */
		MS(0, p) = alpha * MS(0, p) + (1 - alpha) * 2 * fabs(d) * md;
		double v = S(0, p), mv = MS(0, p);
		if (centered) {
			S(2, p) = alpha * S(2, p) + (1 - alpha) * d;          /* G = alpha G + (1-alpha) d */
			MS(2, p) = alpha * MS(2, p) + (1 - alpha) * md;
			v -= S(2, p) * S(2, p);                               /* E - G^2 */
			mv += 2 * fabs(S(2, p)) * MS(2, p);
		}
		double R = sqrt(v) + eps, mR = msqrt(v, mv);              /* R = sqrt(...) + eps */
		double q = d / R, mq = md / R + fabs(d) * mR / (R * R);
		if (mom > 0) {
			S(1, p) = mom * S(1, p) + q;                          /* b = m b + d / R */
			MS(1, p) = mom * MS(1, p) + mq;
			r->params[p] -= lr * S(1, p);                         /* p -= lr b */
			r->mstep[p] = lr * MS(1, p);
		} else {
			r->params[p] -= lr * q;                               /* p -= lr d / R */
			r->mstep[p] = lr * mq;
		}
	}
}

/* adam (decoupled = 0) and adamw (1): [p *= 1 - lr wd]; m = b1 m + (1-b1) d;
 * v = b2 v + (1-b2) d^2; [vmax = max(vmax, v)];
 * p -= lr/(1-b1^t) m / (sqrt(v)/sqrt(1-b2^t) + eps) */
static void adam_common(RefNet *r, double lr, int decoupled)
{
	double b1 = hp(r, "beta1"), b2 = hp(r, "beta2"), eps = hp(r, "eps");
	int amsgrad = hp(r, "amsgrad") != 0;
	double t = (double)r->t;
	double step = lr / (1 - pow(b1, t)), bc2 = sqrt(1 - pow(b2, t));
	for (size_t p = 0; p < r->n_params; p++) {
		double wd = decay_of(r, p);
		if (decoupled)
			r->params[p] *= 1 - lr * wd;                          /* p *= 1 - lr wd (adamw) */
		double l2 = decoupled ? 0.0 : wd;
		double d = r->grads[p] + l2 * r->params[p];               /* d = g + wd p (adam) */
		double md = r->mgrads[p] + l2 * fabs(r->params[p]);
		note_sign(r, p, d, md);
		S(0, p) = b1 * S(0, p) + (1 - b1) * d;                    /* m = b1 m + (1-b1) d */
		MS(0, p) = b1 * MS(0, p) + (1 - b1) * md;
		S(1, p) = b2 * S(1, p) + (1 - b2) * d * d;                /* v = b2 v + (1-b2) d^2 */
		MS(1, p) = b2 * MS(1, p) + (1 - b2) * 2 * fabs(d) * md;
		double v = S(1, p), mv = MS(1, p);
		if (amsgrad) {
			S(2, p) = fmax(S(2, p), S(1, p));                     /* vmax = max(vmax, v) */
			MS(2, p) = fmax(MS(2, p), MS(1, p));
			v = S(2, p);
			mv = MS(2, p);
		}
		double D = sqrt(v) / bc2 + eps, mD = msqrt(v, mv) / bc2;  /* D = sqrt(v)/bc2 + eps */
		r->params[p] -= step * S(0, p) / D;                       /* p -= step m / D */
		r->mstep[p] = step * (MS(0, p) / D + fabs(S(0, p)) * mD / (D * D));
	}
}

static void adam_update(RefNet *r, double lr)
{
	adam_common(r, lr, 0);
}

static void adamw_update(RefNet *r, double lr)
{
	adam_common(r, lr, 1);
}

#undef S
#undef MS

static const struct {
	const char *name;     /* the compiler's optimizer of that name (optim.c) */
	void (*update)(RefNet *r, double lr);
} ref_optimizers[] = {
	{"sgd", sgd_update},
	{"momentum", momentum_update},
	{"adagrad", adagrad_update},
	{"adadelta", adadelta_update},
	{"rmsprop", rmsprop_update},
	{"adam", adam_update},
	{"adamw", adamw_update},
};

static const RefKind *ref_kind(const KindInfo *k)
{
	for (size_t i = 0; k && i < sizeof ref_kinds / sizeof ref_kinds[0]; i++)
		if (strcmp(ref_kinds[i].name, k->name) == 0)
			return &ref_kinds[i];
	return NULL;
}

static void (*ref_optimizer(const OptimizerInfo *o))(RefNet *, double)
{
	for (size_t i = 0; o && i < sizeof ref_optimizers / sizeof ref_optimizers[0]; i++)
		if (strcmp(ref_optimizers[i].name, o->name) == 0)
			return ref_optimizers[i].update;
	return NULL;
}

/* ---- construction */

/* Checks what the reference relies on: widths chain from the input to the
 * output, a kind that folds the loss in is last, every kind and
 * activation is one the reference implements, and the parameter tensors
 * lie inside [0, n_params) without overlapping. */
static int ref_check(const Model *m, char *err, size_t errlen)
{
	size_t width = m->inputs;
	unsigned char *used = ref_calloc(m->n_params, 1);
	int ok = 0;

	if (m->n_layers == 0) {
		snprintf(err, errlen, "model has no layers");
		goto out;
	}
	if (!ref_loss_row(m->loss)) {
		snprintf(err, errlen, "loss %s not in the reference", m->loss ? m->loss->name : "?");
		goto out;
	}
	if (!ref_optimizer(m->train.optimizer)) {
		snprintf(err, errlen, "optimizer %s not in the reference",
		         m->train.optimizer ? m->train.optimizer->name : "?");
		goto out;
	}
	for (size_t l = 0; l < m->n_layers; l++) {
		const Layer *L = &m->layers[l];
		if (L->in != width) {
			snprintf(err, errlen, "layer %zu: in=%zu but previous width %zu", l, L->in, width);
			goto out;
		}
		width = L->out;
		if (!ref_kind(L->kind)) {
			snprintf(err, errlen, "layer %zu: kind %s not in the reference", l,
			         L->kind ? L->kind->name : "?");
			goto out;
		}
		if (ref_kind(L->kind)->folds_loss && (l + 1 != m->n_layers || L->out != L->in ||
		                                      !ref_loss_row(m->loss)->foldable)) {
			snprintf(err, errlen, "layer %zu: softmax must be last with in == out, under "
			         "cross_entropy", l);
			goto out;
		}
		if (!act_known(L->act)) {
			snprintf(err, errlen, "layer %zu: activation %d not in the reference", l, (int)L->act);
			goto out;
		}
		for (size_t t = 0; t < L->n_tensors; t++) {
			size_t off = L->tensors[t].offset, len = L->tensors[t].size;
			if (off > m->n_params || len > m->n_params - off) {
				snprintf(err, errlen, "layer %zu: %s [%zu, +%zu) outside %zu params", l,
				         L->tensors[t].name, off, len, m->n_params);
				goto out;
			}
			for (size_t p = off; p < off + len; p++) {
				if (used[p]++) {
					snprintf(err, errlen, "layer %zu: parameter %zu used twice", l, p);
					goto out;
				}
			}
		}
	}
	if (width != m->outputs) {
		snprintf(err, errlen, "last layer width %zu != outputs %zu", width, m->outputs);
		goto out;
	}
	ok = 1;
out:
	free(used);
	return ok;
}

/* Checks what pre-training relies on: each encoder a dense layer of the
 * network, its decoder a dense OUT -> IN sigmoid layer with W [OUT][IN] and
 * b [IN], the decoders' tensors inside [n_params, n_params + pre.n_params)
 * without overlapping, a reconstruction loss the reference has. */
static int ref_check_pretrain(const Model *m, char *err, size_t errlen)
{
	const Pretrain *pre = &m->pre;
	unsigned char *used = ref_calloc(pre->n_params, 1);
	int ok = 0;

	if (pre->n && !ref_recon_row(pre->c.loss)) {
		snprintf(err, errlen, "pretrain: loss %d not in the reference", pre->c.loss);
		goto out;
	}
	for (size_t i = 0; i < pre->n; i++) {
		const Layer *D = &pre->decoder[i];
		const Layer *E = pre->layer[i] < m->n_layers ? &m->layers[pre->layer[i]] : NULL;
		if (!E || strcmp(E->kind->name, "dense") != 0 || D->in != E->out || D->out != E->in ||
		    D->act != ACT_SIGMOID || D->n_tensors != 2 ||
		    D->tensors[0].size != E->in * E->out || D->tensors[1].size != E->in) {
			snprintf(err, errlen, "pretrain %zu: not a dense encoder (layer %zu) and a dense "
			         "sigmoid decoder back to its input", i, pre->layer[i]);
			goto out;
		}
		for (size_t t = 0; t < D->n_tensors; t++) {
			size_t off = D->tensors[t].offset, len = D->tensors[t].size;
			if (off < m->n_params || off - m->n_params > pre->n_params ||
			    len > pre->n_params - (off - m->n_params)) {
				snprintf(err, errlen, "pretrain %zu: %s [%zu, +%zu) outside the decoders' "
				         "[%zu, +%zu)", i, D->tensors[t].name, off, len, m->n_params,
				         pre->n_params);
				goto out;
			}
			for (size_t p = off - m->n_params; p < off - m->n_params + len; p++) {
				if (used[p]++) {
					snprintf(err, errlen, "pretrain %zu: parameter %zu used twice", i,
					         m->n_params + p);
					goto out;
				}
			}
		}
	}
	ok = 1;
out:
	free(used);
	return ok;
}

/* The autoencoders' rows and buffers (cap samples), for ref_new. */
static void ref_new_pretrain(RefNet *r, const Model *m, size_t cap)
{
	const Pretrain *pre = &m->pre;
	r->n_ae = pre->n;
	r->n_pre_params = pre->n_params;
	r->recon = ref_recon_row(pre->c.loss);
	r->pre_noise = pre->c.noise;
	r->pre_tied = pre->c.tied;
	r->ae = ref_calloc(pre->n, sizeof *r->ae);
	for (size_t i = 0; i < pre->n; i++) {
		RefAutoencoder *A = &r->ae[i];
		const Layer *E = &m->layers[pre->layer[i]];
		A->layer = pre->layer[i];
		A->k = m->n_layers + 1 + i;
		A->in = E->in;
		A->out = E->out;
		memcpy(A->tensors, pre->decoder[i].tensors, sizeof A->tensors);
		double **in_wide[] = {&A->x, &A->m, &A->xt, &A->zr, &A->rec, &A->dr,
		                      &A->mx, &A->mzr, &A->mr, &A->mdr};
		double **out_wide[] = {&A->zh, &A->h, &A->dh, &A->mzh, &A->mh, &A->mdh};
		for (size_t k = 0; k < sizeof in_wide / sizeof in_wide[0]; k++)
			*in_wide[k] = ref_calloc(cap * A->in, sizeof(double));
		for (size_t k = 0; k < sizeof out_wide / sizeof out_wide[0]; k++)
			*out_wide[k] = ref_calloc(cap * A->out, sizeof(double));
	}
}

static void ref_free_pretrain(RefNet *r)
{
	for (size_t i = 0; i < r->n_ae; i++) {
		RefAutoencoder *A = &r->ae[i];
		double *bufs[] = {A->x, A->m, A->xt, A->zh, A->h, A->dh, A->zr, A->rec, A->dr,
		                  A->mx, A->mzh, A->mh, A->mdh, A->mzr, A->mr, A->mdr};
		for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++)
			free(bufs[k]);
	}
	free(r->ae);
	free(r->velocity);
	free(r->mvelocity);
}

RefNet *ref_new(const Model *m, size_t cap, char *err, size_t errlen)
{
	if (cap == 0)
		cap = 1;
	if (!ref_check(m, err, errlen) || !ref_check_pretrain(m, err, errlen))
		return NULL;
	/* the network's parameters, then the decoders' (none without pretrain) */
	size_t all = m->n_params + m->pre.n_params;
	RefNet *r = ref_calloc(1, sizeof *r);
	r->n_inputs = m->inputs;
	r->n_outputs = m->outputs;
	r->n_layers = m->n_layers;
	r->n_params = m->n_params;
	r->cap = cap;
	r->params = ref_calloc(all, sizeof(double));
	r->grads = ref_calloc(all, sizeof(double));
	r->mgrads = ref_calloc(all, sizeof(double));
	r->velocity = ref_calloc(all, sizeof(double));
	r->mvelocity = ref_calloc(all, sizeof(double));
	r->loss = ref_loss_row(m->loss);
	r->update = ref_optimizer(m->train.optimizer);
	r->opt = m->train.optimizer;
	r->seed = m->train.seed;
	memcpy(r->hparams, m->train.hparams, sizeof r->hparams);
	/* every slot an optimizer may use: the rows decide how many they fill */
	r->n_state = 3;
	r->state = ref_calloc(r->n_state * m->n_params, sizeof(double));
	r->mstate = ref_calloc(r->n_state * m->n_params, sizeof(double));
	r->mstep = ref_calloc(all, sizeof(double));
	r->undet = ref_calloc(m->n_params, 1);
	r->is_bias = ref_calloc(m->n_params, 1);
	for (size_t l = 0; l < m->n_layers; l++)
		for (size_t t = 0; t < m->layers[l].n_tensors; t++)
			if (m->layers[l].tensors[t].bias)
				memset(r->is_bias + m->layers[l].tensors[t].offset, 1,
				       m->layers[l].tensors[t].size);
	r->layers = ref_calloc(m->n_layers, sizeof(RefLayer));
	for (size_t l = 0; l < m->n_layers; l++) {
		const Layer *L = &m->layers[l];
		RefLayer *R = &r->layers[l];
		R->kind = ref_kind(L->kind);
		R->act = L->act;
		R->rate = L->rate;
		R->in = L->in;
		R->out = L->out;
		memcpy(R->tensors, L->tensors, sizeof R->tensors);
		R->n_tensors = L->n_tensors;
		R->a = ref_calloc(cap * L->out, sizeof(double));
		R->ma = ref_calloc(cap * L->out, sizeof(double));
		if (R->kind->has_params) {
			R->z = ref_calloc(cap * L->out, sizeof(double));
			R->delta = ref_calloc(cap * L->out, sizeof(double));
			R->mz = ref_calloc(cap * L->out, sizeof(double));
			R->mdelta = ref_calloc(cap * L->out, sizeof(double));
		}
	}
	ref_new_pretrain(r, m, cap);
	return r;
}

void ref_free(RefNet *r)
{
	if (!r)
		return;
	for (size_t l = 0; l < r->n_layers; l++) {
		free(r->layers[l].z);
		free(r->layers[l].a);
		free(r->layers[l].delta);
		free(r->layers[l].mz);
		free(r->layers[l].ma);
		free(r->layers[l].mdelta);
	}
	free(r->layers);
	free(r->params);
	free(r->grads);
	free(r->mgrads);
	free(r->state);
	free(r->mstate);
	free(r->mstep);
	free(r->undet);
	free(r->is_bias);
	ref_free_pretrain(r);
	free(r);
}

/* ---- forward and loss */

void ref_forward(RefNet *r, size_t n, const double *x)
{
	if (n > r->cap) {
		fprintf(stderr, "ref_forward: n=%zu > cap=%zu\n", n, r->cap);
		abort();
	}
	r->n = n;
	for (size_t l = 0; l < r->n_layers; l++)
		for (size_t b = 0; b < n; b++)
			r->layers[l].kind->forward(r, l, b, layer_input(r, l, x, b));
}

const double *ref_output(const RefNet *r)
{
	return r->layers[r->n_layers - 1].a;
}

double ref_loss(const RefNet *r, size_t n, const int32_t *y)
{
	const double *out = ref_output(r);
	double sum = 0.0;
	for (size_t b = 0; b < n; b++)
		sum += r->loss->value(out + b * r->n_outputs, r->n_outputs, y[b]);   /* L_b */
	return sum / (double)n;                                   /* L = mean_b L_b */
}

/* ---- backward and update */

static size_t widest(const RefNet *r)
{
	size_t w = r->n_inputs;
	for (size_t l = 0; l < r->n_layers; l++)
		w = r->layers[l].out > w ? r->layers[l].out : w;
	return w;
}

void ref_backward(RefNet *r, size_t n, const double *x, const int32_t *y)
{
	size_t wmax = widest(r);
	/* g[b][k] = dL_b/d(output of the layer being processed); gp = the same
	 * for its input.  Widths vary per layer; rows are wmax apart. */
	double *g = ref_calloc(n * wmax, sizeof(double));
	double *gp = ref_calloc(n * wmax, sizeof(double));
	const RefLayer *last = &r->layers[r->n_layers - 1];

	/* The loss's gradient at the output, dL_b/da_last. */
	for (size_t b = 0; b < n; b++)
		r->loss->grad(last->a + b * last->out, last->out, y[b], g + b * wmax);
	memset(r->grads, 0, r->n_params * sizeof(double));

	for (size_t l = r->n_layers; l-- > 0;) {
		for (size_t b = 0; b < n; b++)
			r->layers[l].kind->backward(r, l, b, layer_input(r, l, x, b),
			                                       g + b * wmax, y[b], gp + b * wmax, n);
		double *t = g;                             /* the input's gradient is next */
		g = gp;
		gp = t;
	}
	free(g);
	free(gp);
}

void ref_update(RefNet *r, double lr)
{
	r->t++;
	r->undetermined = 0;
	memset(r->undet, 0, r->n_params);
	r->update(r, lr);
}

void ref_reset(RefNet *r)
{
	memset(r->state, 0, r->n_state * r->n_params * sizeof *r->state);
	memset(r->mstate, 0, r->n_state * r->n_params * sizeof *r->mstate);
	r->t = 0;
	r->undetermined = 0;
}

/* ---- the learning-rate schedule and gradient clipping, from their
 * definitions (docs/trainer.md), one factor at a time */

double ref_schedule_lr(const nncc_schedule_t *s, double base, uint64_t t, uint64_t epoch,
                       uint64_t total)
{
	const double pi = 3.14159265358979323846;
	uint64_t W = s->warmup;
	if (t <= W)                                    /* warmup: base * t / W, t = 1..W */
		return base * ((double)t / (double)W);
	uint64_t i = s->unit == NNCC_UNIT_ITERATIONS   /* the schedule's count: updates */
	                 ? t - W - 1                   /* after the warmup, from 0 */
	                 : epoch;                      /* or passes completed */
	double lr = base;
	switch (s->type) {
	case NNCC_SCHEDULE_CONSTANT:
		return base;                               /* lr = base */
	case NNCC_SCHEDULE_STEP:
		for (uint64_t k = 0; k < i / s->step_size; k++)
			lr *= s->gamma;                        /* one gamma per step_size completed */
		return lr;
	case NNCC_SCHEDULE_EXPONENTIAL:
		for (uint64_t k = 0; k < i; k++)
			lr *= s->gamma;                        /* one gamma per unit completed */
		return lr;
	case NNCC_SCHEDULE_COSINE: {
		uint64_t T = s->t_max ? s->t_max : total;  /* the update that reaches min_lr */
		double progress = (double)(t - W - 1) / (double)(T - W);   /* 0 after the warmup */
		return s->min_lr + 0.5 * (base - s->min_lr) * (1.0 + cos(pi * progress));
	}
	}
	return NAN;
}

double ref_clip(RefNet *r, double max_norm)
{
	double ss = 0.0;
	for (size_t p = 0; p < r->n_params; p++)
		ss += r->grads[p] * r->grads[p];           /* ||g||^2, g = batch means */
	double norm = sqrt(ss);
	double coef = max_norm / (norm + 1e-6);        /* torch's clip_coef */
	if (coef < 1.0)                                /* clamped to 1: no change above */
		for (size_t p = 0; p < r->n_params; p++)
			r->grads[p] *= coef;                   /* g = g * clip_coef */
	return norm;
}

/* ---- pre-training (docs/trainer.md#pre-training): autoencoder A, its
 * encoder E = layers[A->layer] and its decoder D, one sample b at a time:
 *   x     = E's input: the layers below forward, dropout the identity
 *   x~_j  = x_j m_j, m_j = mask_keep(seed, k = D's number, t = step, b, j)
 *           at rate noise (kept units not rescaled)
 *   z_E   = x~ W_E + b_E,  h = f(z_E)                 (E's activation f)
 *   z_D   = h W_D + b_D,   r = sigmoid(z_D)           (W_D = W_E^T when tied)
 *   L_b   = sum_j recon(r_j, x_j)                     (the clean x is the target)
 *   dL_b/dz_D_j = the recon row's dz
 *   dL_b/dz_E_o = f'(z_E_o) sum_j W_D[o][j] dL_b/dz_D_j
 *   dW_D[o][j] = mean_b h_o dz_D_j, db_D = mean_b dz_D,
 *   dW_E[j][o] = mean_b x~_j dz_E_o, db_E = mean_b dz_E;
 *   tied: dW_E[j][o] += dW_D[o][j]  (W_E enters twice: the sum rule)
 *   update, g = the means: p -= lr g, or v = mu v + g, p -= lr v */

static void ae_bounds(RefNet *r, RefAutoencoder *A, size_t n, const double *x);

/* x of every sample: the layers below E forward, evaluating (their z and a
 * are overwritten), then E's input copied out. */
static void ae_input(RefNet *r, RefAutoencoder *A, size_t n, const double *x)
{
	int evaluating = r->evaluating;
	r->evaluating = 1;                                  /* dropout: the identity */
	for (size_t l = 0; l < A->layer; l++)
		for (size_t b = 0; b < n; b++)
			r->layers[l].kind->forward(r, l, b, layer_input(r, l, x, b));
	for (size_t b = 0; b < n; b++)
		memcpy(A->x + b * A->in, layer_input(r, A->layer, x, b), A->in * sizeof(double));
	r->evaluating = evaluating;
}

/* W_D[o][j]: D's own W, or W_E[j][o] when tied. */
static double ae_wd(const RefNet *r, const RefAutoencoder *A, size_t o, size_t j)
{
	if (r->pre_tied)
		return r->params[r->layers[A->layer].tensors[0].offset + j * A->out + o];
	return r->params[A->tensors[0].offset + o * A->in + j];
}

/* x~ = x (.) m for sample b, the mask keyed by (seed, k, step, b, j). */
static void ae_noise(RefNet *r, RefAutoencoder *A, size_t b, uint64_t seed, uint64_t step)
{
	for (size_t j = 0; j < A->in; j++) {
		size_t q = b * A->in + j;
		A->m[q] = mask_keep(seed, A->k, step, b, j, r->pre_noise) ? 1.0 : 0.0;
		A->xt[q] = A->x[q] * A->m[q];                   /* x~_j = x_j m_j */
	}
}

/* h = f(x~ W_E + b_E), r = sigmoid(h W_D + b_D) for sample b. */
static void ae_forward(RefNet *r, RefAutoencoder *A, size_t b)
{
	const RefLayer *E = &r->layers[A->layer];
	const double *WE = r->params + E->tensors[0].offset;   /* W_E[j][o], [in][out] */
	const double *bE = r->params + E->tensors[1].offset;   /* [out] */
	const double *bD = r->params + A->tensors[1].offset;   /* [in] */
	const double *xt = A->xt + b * A->in;
	double *zh = A->zh + b * A->out, *h = A->h + b * A->out;
	double *zr = A->zr + b * A->in, *rec = A->rec + b * A->in;
	for (size_t o = 0; o < A->out; o++) {
		double s = bE[o];                               /* z_E_o = b_E_o */
		for (size_t j = 0; j < A->in; j++)
			s += xt[j] * WE[j * A->out + o];            /*   + sum_j x~_j W_E[j][o] */
		zh[o] = s;
		h[o] = ref_act(E->act, s);                      /* h_o = f(z_E_o) */
	}
	for (size_t j = 0; j < A->in; j++) {
		double s = bD[j];                               /* z_D_j = b_D_j */
		for (size_t o = 0; o < A->out; o++)
			s += h[o] * ae_wd(r, A, o, j);              /*   + sum_o h_o W_D[o][j] */
		zr[j] = s;
		rec[j] = ref_act(ACT_SIGMOID, s);               /* r_j = sigmoid(z_D_j) */
	}
}

/* L_b = sum_j recon(r_j, x_j) */
static double ae_loss(const RefNet *r, const RefAutoencoder *A, size_t b)
{
	double sum = 0.0;
	for (size_t j = 0; j < A->in; j++)
		sum += r->recon->value(A->rec[b * A->in + j], A->x[b * A->in + j]);
	return sum;
}

/* Sample b's deltas, and its share (1/n) of the gradient means. */
static void ae_backward(RefNet *r, RefAutoencoder *A, size_t b, size_t n)
{
	const RefLayer *E = &r->layers[A->layer];
	double *dWE = r->grads + E->tensors[0].offset, *dbE = r->grads + E->tensors[1].offset;
	double *dWD = r->grads + A->tensors[0].offset, *dbD = r->grads + A->tensors[1].offset;
	const double *xt = A->xt + b * A->in, *h = A->h + b * A->out;
	double *dr = A->dr + b * A->in, *dh = A->dh + b * A->out;
	for (size_t j = 0; j < A->in; j++) {     /* dz_D_j = dL_b/dz_D_j, the recon row's */
		size_t q = b * A->in + j;
		dr[j] = r->recon->dz(A->rec[q], A->zr[q], A->x[q]);
	}
	for (size_t o = 0; o < A->out; o++) {    /* dz_E_o = f'(z_E_o) sum_j W_D[o][j] dz_D_j */
		double s = 0.0;
		for (size_t j = 0; j < A->in; j++)
			s += ae_wd(r, A, o, j) * dr[j];
		dh[o] = s * ref_act_deriv(E->act, A->zh[b * A->out + o]);
	}
	for (size_t j = 0; j < A->in; j++) {
		dbD[j] += dr[j] / (double)n;                       /* db_D_j += dz_D_j / n */
		for (size_t o = 0; o < A->out; o++)
			dWD[o * A->in + j] += h[o] * dr[j] / (double)n;    /* dW_D[o][j] += h_o dz_D_j / n */
	}
	for (size_t o = 0; o < A->out; o++) {
		dbE[o] += dh[o] / (double)n;                       /* db_E_o += dz_E_o / n */
		for (size_t j = 0; j < A->in; j++)
			dWE[j * A->out + o] += xt[j] * dh[o] / (double)n;  /* dW_E[j][o] += x~_j dz_E_o / n */
	}
}

/* Zero E's and D's gradients and their error scales. */
static void ae_zero(RefNet *r, const RefAutoencoder *A)
{
	const RefLayer *E = &r->layers[A->layer];
	for (size_t t = 0; t < E->n_tensors; t++) {
		memset(r->grads + E->tensors[t].offset, 0, E->tensors[t].size * sizeof(double));
		memset(r->mgrads + E->tensors[t].offset, 0, E->tensors[t].size * sizeof(double));
	}
	for (size_t t = 0; t < 2; t++) {
		memset(r->grads + A->tensors[t].offset, 0, A->tensors[t].size * sizeof(double));
		memset(r->mgrads + A->tensors[t].offset, 0, A->tensors[t].size * sizeof(double));
	}
}

/* Tied: dW_E[j][o] += dW_D[o][j] (with its error scale). */
static void ae_tie(RefNet *r, const RefAutoencoder *A)
{
	size_t we = r->layers[A->layer].tensors[0].offset, wd = A->tensors[0].offset;
	for (size_t j = 0; j < A->in; j++)
		for (size_t o = 0; o < A->out; o++) {
			r->grads[we + j * A->out + o] += r->grads[wd + o * A->in + j];
			r->mgrads[we + j * A->out + o] += r->mgrads[wd + o * A->in + j];
		}
}

double ref_pretrain_pass(RefNet *r, size_t i, size_t n, const double *x, uint64_t seed,
                         uint64_t step)
{
	if (i >= r->n_ae || n > r->cap) {
		fprintf(stderr, "ref_pretrain_pass: autoencoder %zu of %zu, n=%zu (cap %zu)\n", i,
		        r->n_ae, n, r->cap);
		abort();
	}
	RefAutoencoder *A = &r->ae[i];
	double sum = 0.0;
	ae_input(r, A, n, x);
	ae_zero(r, A);
	for (size_t b = 0; b < n; b++) {
		ae_noise(r, A, b, seed, step);
		ae_forward(r, A, b);
		sum += ae_loss(r, A, b);                        /* sum_b L_b */
		ae_backward(r, A, b, n);
	}
	ae_bounds(r, A, n, x);                              /* mgrads: before the tie adds them */
	if (r->pre_tied)
		ae_tie(r, A);
	return sum;
}

/* One tensor's update from the means g: p -= lr g (mu 0), or v = mu v + g,
 * p -= lr v with v = 0 before step 1; mstep from mgrads alike. */
static void ae_sgd(RefNet *r, const Tensor *T, double lr, double mu, uint64_t step)
{
	for (size_t p = T->offset; p < T->offset + T->size; p++) {
		if (step == 1)
			r->velocity[p] = r->mvelocity[p] = 0.0;    /* each autoencoder starts at rest */
		if (mu > 0) {
			r->velocity[p] = mu * r->velocity[p] + r->grads[p];       /* v = mu v + g */
			r->mvelocity[p] = mu * r->mvelocity[p] + r->mgrads[p];
			r->params[p] -= lr * r->velocity[p];                      /* p -= lr v */
			r->mstep[p] = lr * r->mvelocity[p];
		} else {
			r->params[p] -= lr * r->grads[p];                         /* p -= lr g */
			r->mstep[p] = lr * r->mgrads[p];
		}
	}
}

void ref_pretrain_update(RefNet *r, size_t i, double lr, double mu, uint64_t step)
{
	const RefAutoencoder *A = &r->ae[i];
	const RefLayer *E = &r->layers[A->layer];
	memset(r->mstep, 0, (r->n_params + r->n_pre_params) * sizeof *r->mstep);
	for (size_t t = 0; t < E->n_tensors; t++)
		ae_sgd(r, &E->tensors[t], lr, mu, step);
	for (size_t t = 0; t < 2; t++)
		if (!r->pre_tied || A->tensors[t].bias)    /* tied: W_D is W_E's, not D's */
			ae_sgd(r, &A->tensors[t], lr, mu, step);
}

double ref_pretrain_step(RefNet *r, size_t i, size_t n, const double *x, double lr, double mu,
                         uint64_t seed, uint64_t step)
{
	double sum = ref_pretrain_pass(r, i, n, x, seed, step);
	ref_pretrain_update(r, i, lr, mu, step);
	return sum;
}

/* ---- error scales (ref_bounds): not backprop, the yardstick for comparing */

void ref_bounds(RefNet *r, size_t n, const double *x, const int32_t *y)
{
	for (size_t l = 0; l < r->n_layers; l++)
		for (size_t b = 0; b < n; b++)
			r->layers[l].kind->bounds_forward(r, l, b, x);

	/* loss and output: M_L = mean_b M_L_b and M_g, the loss's rows */
	size_t wmax = widest(r);
	double *mg = ref_calloc(n * wmax, sizeof(double));
	double *mgp = ref_calloc(n * wmax, sizeof(double));
	size_t l = r->n_layers;
	r->mloss = 0.0;
	for (size_t b = 0; b < n; b++)
		r->mloss += r->loss->bounds(r, b, x, y[b], mg + b * wmax) / (double)n;
	memset(r->mgrads, 0, r->n_params * sizeof(double));

	while (l-- > 0) {
		for (size_t b = 0; b < n; b++)
			r->layers[l].kind->bounds_backward(r, l, b, x, mg + b * wmax,
			                                              mgp + b * wmax, n);
		double *t = mg;
		mg = mgp;
		mgp = t;
	}
	free(mg);
	free(mgp);
}

/* Autoencoder A's error scales of sample b's forward pass, after it:
 * M_x (the layers below's M_a), M_x~ = M_x m, M_zE = |b_E| + sum |W_E| M_x~,
 * M_h = max(|h|, |f'| M_zE), M_zD = |b_D| + sum |W_D| M_h, M_r likewise. */
static void ae_bounds_forward(RefNet *r, RefAutoencoder *A, size_t b, const double *x)
{
	const RefLayer *E = &r->layers[A->layer];
	const double *WE = r->params + E->tensors[0].offset;
	const double *bE = r->params + E->tensors[1].offset, *bD = r->params + A->tensors[1].offset;
	for (size_t j = 0; j < A->in; j++)
		A->mx[b * A->in + j] = input_mag(r, A->layer, x, b, j);
	for (size_t o = 0; o < A->out; o++) {
		size_t q = b * A->out + o;
		double m = fabs(bE[o]);
		for (size_t j = 0; j < A->in; j++)
			m += fabs(WE[j * A->out + o]) * A->mx[b * A->in + j] * A->m[b * A->in + j];
		A->mzh[q] = m;
		A->mh[q] = fmax(fabs(A->h[q]), fabs(ref_act_deriv(E->act, A->zh[q])) * m);
	}
	for (size_t j = 0; j < A->in; j++) {
		size_t q = b * A->in + j;
		double m = fabs(bD[j]);
		for (size_t o = 0; o < A->out; o++)
			m += fabs(ae_wd(r, A, o, j)) * A->mh[b * A->out + o];
		A->mzr[q] = m;
		A->mr[q] = fmax(A->rec[q], ref_act_deriv(ACT_SIGMOID, A->zr[q]) * m);
	}
}

/* ... and of its backward pass: M_dzD from the recon row, M_gE = sum |W_D|
 * M_dzD, M_dzE = (|f'| + sup|f''| M_zE) M_gE; the gradients' means
 * M_dW_D = mean M_h M_dzD, M_dW_E = mean M_x~ M_dzE, M_db likewise.
 * Returns M_L_b. */
static double ae_bounds_backward(RefNet *r, RefAutoencoder *A, size_t b, size_t n)
{
	const RefLayer *E = &r->layers[A->layer];
	size_t we = E->tensors[0].offset, be = E->tensors[1].offset;
	size_t wd = A->tensors[0].offset, bd = A->tensors[1].offset;
	double ml = 0.0, curv = act_curvature(E->act);
	for (size_t j = 0; j < A->in; j++) {
		size_t q = b * A->in + j;
		ml += r->recon->bounds(A->rec[q], A->zr[q], A->x[q], A->mr[q], A->mzr[q], A->mx[q],
		                       &A->mdr[q]);
	}
	for (size_t o = 0; o < A->out; o++) {
		size_t q = b * A->out + o;
		double mg = 0.0;
		for (size_t j = 0; j < A->in; j++)
			mg += fabs(ae_wd(r, A, o, j)) * A->mdr[b * A->in + j];
		A->mdh[q] = (fabs(ref_act_deriv(E->act, A->zh[q])) + curv * A->mzh[q]) * mg;
	}
	for (size_t j = 0; j < A->in; j++) {
		double md = A->mdr[b * A->in + j], mxt = A->mx[b * A->in + j] * A->m[b * A->in + j];
		r->mgrads[bd + j] += md / (double)n;
		for (size_t o = 0; o < A->out; o++) {
			r->mgrads[wd + o * A->in + j] += A->mh[b * A->out + o] * md / (double)n;
			r->mgrads[we + j * A->out + o] += mxt * A->mdh[b * A->out + o] / (double)n;
		}
	}
	for (size_t o = 0; o < A->out; o++)
		r->mgrads[be + o] += A->mdh[b * A->out + o] / (double)n;
	return ml;
}

/* Autoencoder A's magnitudes after its pass over n samples: the layers
 * below (evaluating, as the pass ran them), then each sample's; mloss =
 * the mean M_L_b.  E's and D's mgrads were zeroed by the pass. */
static void ae_bounds(RefNet *r, RefAutoencoder *A, size_t n, const double *x)
{
	int evaluating = r->evaluating;
	r->evaluating = 1;
	for (size_t l = 0; l < A->layer; l++)
		for (size_t b = 0; b < n; b++)
			r->layers[l].kind->bounds_forward(r, l, b, x);
	r->evaluating = evaluating;
	r->mloss = 0.0;
	for (size_t b = 0; b < n; b++) {
		ae_bounds_forward(r, A, b, x);
		r->mloss += ae_bounds_backward(r, A, b, n) / (double)n;
	}
}
