/*
 * ref.c - the reference backpropagation (see ref.h for the vocabulary).
 *
 * Textbook formulation, one sample b and one unit at a time, in double:
 *   forward   z_l = W_l^T a_{l-1} + b_l,  a_l = f_l(z_l),  a_0 = x
 *             softmax: a_i = exp(x_i - max x) / sum_k exp(x_k - max x)
 *   loss      L_b = -log a_last[y_b],  L = (1/n) sum_b L_b
 *   backward  delta_l = dL_b/da_l (.) f_l'(z_l)
 *             dL_b/da_{l-1} = W_l delta_l
 *             dL_b/dx (softmax input) = p - onehot(y_b)   (softmax + CE)
 *   gradient  dW_l[j][i] = (1/n) sum_b a_{l-1}[b][j] delta_l[b][i]
 *             db_l[i]    = (1/n) sum_b delta_l[b][i]
 *   update    theta -= lr * dtheta
 * Deliberately slow and obvious: no blocking, no fusion, no shared code with
 * templates/.  Allocation failure aborts (this is test code).
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

/* ---- construction */

/* Checks what the reference relies on: widths chain from the input to the
 * output, softmax (if any) is last, and the dense layers' parameter ranges
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
	for (size_t l = 0; l < m->n_layers; l++) {
		const Layer *L = &m->layers[l];
		if (L->in != width) {
			snprintf(err, errlen, "layer %zu: in=%zu but previous width %zu", l, L->in, width);
			goto out;
		}
		width = L->out;
		if (L->kind == LAYER_SOFTMAX) {
			if (l + 1 != m->n_layers || L->out != L->in) {
				snprintf(err, errlen, "layer %zu: softmax must be last with in == out", l);
				goto out;
			}
			continue;
		}
		if (L->kind != LAYER_DENSE) {
			snprintf(err, errlen, "layer %zu: kind %d not in the reference", l, (int)L->kind);
			goto out;
		}
		if (!act_known(L->act)) {
			snprintf(err, errlen, "layer %zu: activation %d not in the reference", l, (int)L->act);
			goto out;
		}
		/* weights [in][out] then bias [out], each inside the block, disjoint */
		size_t ranges[2][2] = {{L->w_offset, L->in * L->out}, {L->b_offset, L->out}};
		for (int k = 0; k < 2; k++) {
			size_t off = ranges[k][0], len = ranges[k][1];
			if (off > m->n_params || len > m->n_params - off) {
				snprintf(err, errlen, "layer %zu: %s [%zu, +%zu) outside %zu params", l,
				         k ? "bias" : "weights", off, len, m->n_params);
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

RefNet *ref_new(const Model *m, size_t cap, char *err, size_t errlen)
{
	if (cap == 0)
		cap = 1;
	if (!ref_check(m, err, errlen))
		return NULL;
	RefNet *r = ref_calloc(1, sizeof *r);
	r->n_inputs = m->inputs;
	r->n_outputs = m->outputs;
	r->n_layers = m->n_layers;
	r->n_params = m->n_params;
	r->cap = cap;
	r->params = ref_calloc(m->n_params, sizeof(double));
	r->grads = ref_calloc(m->n_params, sizeof(double));
	r->mgrads = ref_calloc(m->n_params, sizeof(double));
	r->layers = ref_calloc(m->n_layers, sizeof(RefLayer));
	for (size_t l = 0; l < m->n_layers; l++) {
		const Layer *L = &m->layers[l];
		RefLayer *R = &r->layers[l];
		R->kind = L->kind;
		R->act = L->act;
		R->in = L->in;
		R->out = L->out;
		R->w_offset = L->w_offset;
		R->b_offset = L->b_offset;
		R->a = ref_calloc(cap * L->out, sizeof(double));
		R->ma = ref_calloc(cap * L->out, sizeof(double));
		if (L->kind == LAYER_DENSE) {
			R->z = ref_calloc(cap * L->out, sizeof(double));
			R->delta = ref_calloc(cap * L->out, sizeof(double));
			R->mz = ref_calloc(cap * L->out, sizeof(double));
			R->mdelta = ref_calloc(cap * L->out, sizeof(double));
		}
	}
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
	free(r);
}

/* The input of layer l for sample b: x for the first layer, else a_{l-1}. */
static const double *layer_input(const RefNet *r, size_t l, const double *x, size_t b)
{
	if (l == 0)
		return x + b * r->n_inputs;
	return r->layers[l - 1].a + b * r->layers[l - 1].out;
}

/* ---- forward and loss */

void ref_forward(RefNet *r, size_t n, const double *x)
{
	if (n > r->cap) {
		fprintf(stderr, "ref_forward: n=%zu > cap=%zu\n", n, r->cap);
		abort();
	}
	r->n = n;
	for (size_t l = 0; l < r->n_layers; l++) {
		RefLayer *L = &r->layers[l];
		for (size_t b = 0; b < n; b++) {
			const double *in = layer_input(r, l, x, b);
			double *z = L->z ? L->z + b * L->out : NULL;
			double *a = L->a + b * L->out;
			if (L->kind == LAYER_DENSE) {
				const double *W = r->params + L->w_offset;   /* W[j][i], [in][out] */
				const double *bias = r->params + L->b_offset;
				for (size_t i = 0; i < L->out; i++) {
					double s = bias[i];                   /* z_i = b_i */
					for (size_t j = 0; j < L->in; j++)
						s += W[j * L->out + i] * in[j];   /*   + sum_j W[j][i] x_j */
					z[i] = s;
					a[i] = ref_act(L->act, s);            /* a_i = f(z_i) */
				}
			} else {
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
		}
	}
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
		sum += -log(out[b * r->n_outputs + (size_t)y[b]]);   /* L_b = -log a[y_b] */
	return sum / (double)n;                                   /* L = mean_b L_b */
}

/* ---- backward and update */

void ref_backward(RefNet *r, size_t n, const double *x, const int32_t *y)
{
	size_t wmax = r->n_inputs;
	for (size_t l = 0; l < r->n_layers; l++)
		wmax = r->layers[l].out > wmax ? r->layers[l].out : wmax;
	/* g[b][k] = dL_b/d(output of the layer being processed); gp = the same
	 * for its input.  Widths vary per layer; rows are wmax apart. */
	double *g = ref_calloc(n * wmax, sizeof(double));
	double *gp = ref_calloc(n * wmax, sizeof(double));
	size_t l = r->n_layers;
	const RefLayer *last = &r->layers[l - 1];

	if (last->kind == LAYER_SOFTMAX) {
		/* softmax + cross-entropy together: dL_b/dx_i = p_i - [i == y_b] */
		for (size_t b = 0; b < n; b++)
			for (size_t i = 0; i < last->out; i++)
				g[b * wmax + i] = last->a[b * last->out + i] - (i == (size_t)y[b] ? 1.0 : 0.0);
		l--;
	} else {
		/* no softmax: dL_b/da_i = -1 / a_i if i == y_b, else 0 */
		for (size_t b = 0; b < n; b++)
			for (size_t i = 0; i < last->out; i++)
				g[b * wmax + i] = i == (size_t)y[b] ? -1.0 / last->a[b * last->out + i] : 0.0;
	}
	memset(r->grads, 0, r->n_params * sizeof(double));

	while (l-- > 0) {
		RefLayer *L = &r->layers[l];
		double *dW = r->grads + L->w_offset;       /* [in][out] */
		double *db = r->grads + L->b_offset;       /* [out] */
		const double *W = r->params + L->w_offset;
		for (size_t b = 0; b < n; b++) {
			const double *in = layer_input(r, l, x, b);
			double *delta = L->delta + b * L->out;
			for (size_t i = 0; i < L->out; i++)    /* delta_i = dL/da_i f'(z_i) */
				delta[i] = g[b * wmax + i] * ref_act_deriv(L->act, L->z[b * L->out + i]);
			for (size_t i = 0; i < L->out; i++) {
				db[i] += delta[i] / (double)n;                       /* db_i += delta_i / n */
				for (size_t j = 0; j < L->in; j++)
					dW[j * L->out + i] += in[j] * delta[i] / (double)n;  /* dW_ji += x_j delta_i / n */
			}
			for (size_t j = 0; j < L->in; j++) {   /* dL/dx_j = sum_i W[j][i] delta_i */
				double s = 0.0;
				for (size_t i = 0; i < L->out; i++)
					s += W[j * L->out + i] * delta[i];
				gp[b * wmax + j] = s;
			}
		}
		double *t = g;                             /* the input's gradient is next */
		g = gp;
		gp = t;
	}
	free(g);
	free(gp);
}

void ref_update(RefNet *r, double lr)
{
	for (size_t p = 0; p < r->n_params; p++)
		r->params[p] -= lr * r->grads[p];          /* theta -= lr dL/dtheta */
}

/* ---- error scales (ref_bounds): not backprop, the yardstick for comparing */

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

/* Magnitude of layer l's input for sample b: |x|, or the previous M_a. */
static double input_mag(const RefNet *r, size_t l, const double *x, size_t b, size_t j)
{
	if (l == 0)
		return fabs(x[b * r->n_inputs + j]);
	return r->layers[l - 1].ma[b * r->layers[l - 1].out + j];
}

void ref_bounds(RefNet *r, size_t n, const double *x, const int32_t *y)
{
	/* forward: M_z = |b| + sum_j |W_ji| M_in_j, M_a = max(|a|, |f'(z)| M_z);
	 * softmax: M_p_i = p_i (1 + M_in_i + sum_k p_k M_in_k) */
	for (size_t l = 0; l < r->n_layers; l++) {
		RefLayer *L = &r->layers[l];
		for (size_t b = 0; b < n; b++) {
			if (L->kind == LAYER_SOFTMAX) {
				const double *p = L->a + b * L->out;
				double s = 0.0;
				for (size_t k = 0; k < L->out; k++)
					s += p[k] * input_mag(r, l, x, b, k);
				for (size_t i = 0; i < L->out; i++)
					L->ma[b * L->out + i] = p[i] * (1.0 + input_mag(r, l, x, b, i) + s);
				continue;
			}
			const double *W = r->params + L->w_offset;
			for (size_t i = 0; i < L->out; i++) {
				double m = fabs(r->params[L->b_offset + i]);
				for (size_t j = 0; j < L->in; j++)
					m += fabs(W[j * L->out + i]) * input_mag(r, l, x, b, j);
				size_t q = b * L->out + i;
				L->mz[q] = m;
				L->ma[q] = fmax(fabs(L->a[q]), fabs(ref_act_deriv(L->act, L->z[q])) * m);
			}
		}
	}

	/* loss and output: M_L = mean_b (L_b + M_in_y + sum_k p_k M_in_k);
	 * M_g = |p - onehot| + M_p for the softmax input (or |g| (1 + M_a/|a|)) */
	size_t wmax = r->n_inputs;
	for (size_t l = 0; l < r->n_layers; l++)
		wmax = r->layers[l].out > wmax ? r->layers[l].out : wmax;
	double *mg = ref_calloc(n * wmax, sizeof(double));
	double *mgp = ref_calloc(n * wmax, sizeof(double));
	size_t l = r->n_layers;
	const RefLayer *last = &r->layers[l - 1];
	r->mloss = 0.0;
	for (size_t b = 0; b < n; b++) {
		const double *p = last->a + b * last->out;
		size_t yb = (size_t)y[b];
		if (last->kind == LAYER_SOFTMAX) {
			double s = 0.0;
			for (size_t k = 0; k < last->out; k++)
				s += p[k] * input_mag(r, l - 1, x, b, k);
			r->mloss += (-log(p[yb]) + input_mag(r, l - 1, x, b, yb) + s) / (double)n;
			for (size_t i = 0; i < last->out; i++)
				mg[b * wmax + i] = fabs(p[i] - (i == yb ? 1.0 : 0.0)) + last->ma[b * last->out + i];
		} else {
			double rel = last->ma[b * last->out + yb] / fabs(p[yb]);
			r->mloss += (fabs(log(p[yb])) + rel) / (double)n;
			mg[b * wmax + yb] = (1.0 + rel) / fabs(p[yb]);
		}
	}
	if (last->kind == LAYER_SOFTMAX)
		l--;
	memset(r->mgrads, 0, r->n_params * sizeof(double));

	/* backward: M_d = (|f'(z)| + sup|f''| M_z) M_g;  M_g_prev = sum_i |W_ji| M_d_i;
	 * gradients: M_dW_ji = mean_b M_in_j M_d_i, M_db_i = mean_b M_d_i */
	while (l-- > 0) {
		RefLayer *L = &r->layers[l];
		const double *W = r->params + L->w_offset;
		double curv = act_curvature(L->act);
		for (size_t b = 0; b < n; b++) {
			for (size_t i = 0; i < L->out; i++) {   /* (M_g >= |g| stands in for |g|) */
				size_t q = b * L->out + i;
				double m = mg[b * wmax + i];
				L->mdelta[q] = fabs(ref_act_deriv(L->act, L->z[q])) * m + curv * L->mz[q] * m;
			}
			for (size_t i = 0; i < L->out; i++) {
				double md = L->mdelta[b * L->out + i];
				r->mgrads[L->b_offset + i] += md / (double)n;
				for (size_t j = 0; j < L->in; j++)
					r->mgrads[L->w_offset + j * L->out + i] += input_mag(r, l, x, b, j) * md / (double)n;
			}
			for (size_t j = 0; j < L->in; j++) {
				double s = 0.0;
				for (size_t i = 0; i < L->out; i++)
					s += fabs(W[j * L->out + i]) * L->mdelta[b * L->out + i];
				mgp[b * wmax + j] = s;
			}
		}
		double *t = mg;
		mg = mgp;
		mgp = t;
	}
	free(mg);
	free(mgp);
}
