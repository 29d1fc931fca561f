/*
 * ref.h - the reference backpropagation: plain double-precision training of
 * a parsed nncc Model, walked layer by layer and unit by unit at run time.
 * It is the witness the generated trainers are compared against, so it is
 * written to be checked against the textbook in minutes, not to be fast: no
 * code generation, no templates, no blocking, no numeric code shared with
 * templates/ (it has its own activation functions).
 *
 * Vocabulary: n = samples in the batch (n <= cap), IN/OUT = layer widths,
 * z = pre-activation, a = layer output, delta = dL_b/dz for one sample b
 * (L_b = -log(a_last[b][y[b]]) or 1/2 sum_i (a_last[b][i] - onehot(y[b])_i)^2,
 * the Model's loss), L = (1/n) sum_b L_b = the batch-mean loss.
 *
 * Parameter layout is the Model's (compiler/nncc.h): a layer's tensors at
 * their offsets; for a dense layer W[j][i] = params[W + j*OUT + i] connects
 * input j to output i, and b[i] = params[B + i].  grads has the same layout
 * and holds the batch-MEAN gradients dL/dparams (the generated ABI keeps
 * SUMS; compare grads_generated / n with these).
 *
 * Pre-training (ref_pretrain_*): autoencoder i's step, E = its encoder (a
 * layer of the network), D = its decoder, x = E's input, x~ = x with the
 * noise's units zeroed, h = E's output, r = the reconstruction; the
 * decoders' tensors follow the network's in params (n_pre_params more).
 *
 * Each layer kind is a row of the reference's own table (ref.c: its
 * forward, backward and error-scale formulas), each optimizer a row of
 * another (its update), mirroring the compiler's kinds.c and optim.c rows
 * but sharing no numeric code with them.
 */
#ifndef NNCC_REF_H
#define NNCC_REF_H

#include <stddef.h>
#include <stdint.h>

/* The compiler's IR (Model, Layer, Activation).  Spelled as a path because
 * runtime/nncc.h has the same name and comes first on the include path. */
#include "../../compiler/nncc.h"

typedef struct RefKind RefKind;
typedef struct RefLoss RefLoss;

typedef struct RefLayer {
	const RefKind *kind;  /* its row of the reference's own kind table (ref.c) */
	Activation act;       /* kinds with an activation */
	double rate;          /* dropout: the probability of dropping a unit */
	size_t in, out;
	Tensor tensors[NNCC_MAX_TENSORS]; /* as the Model's: offsets into params/grads */
	size_t n_tensors;
	double *z;            /* [cap][out] pre-activation (with parameters); else NULL */
	double *a;            /* [cap][out] output a = f(z), or softmax(x) */
	double *delta;        /* [cap][out] dL_b/dz (with parameters); else NULL */
	/* Magnitudes from ref_bounds(), same shapes (see there). */
	double *mz, *ma, *mdelta;
} RefLayer;

/* Pre-training (docs/trainer.md#pre-training): autoencoder i of the
 * Model's `pretrain`, its encoder E a dense layer of the network and its
 * decoder D a dense OUT -> IN layer with a sigmoid, whose tensors lie past
 * the network's n_params.  Per sample b: x = E's input (the layers below
 * in evaluation mode), m = the noise mask, x~ = x (.) m, h = f(x~ W_E +
 * b_E), r = sigmoid(h W_D + b_D), W_D = W_E^T when tied. */
typedef struct RefAutoencoder {
	size_t layer;          /* E: layers[layer], a dense layer */
	uint64_t k;            /* D's 1-based number, the noise masks' layer:
	                          n_layers + 1 + i */
	size_t in, out;        /* E's widths: x, x~ and r are IN wide, h OUT */
	Tensor tensors[NNCC_MAX_TENSORS]; /* D's W [out][in] and b [in] (offsets past n_params) */
	double *x, *m, *xt;    /* [cap][in] E's clean input (the target), the mask (0 or 1), x~ */
	double *zh, *h, *dh;   /* [cap][out] E's z, h = f(z) and dL_b/dz */
	double *zr, *rec, *dr; /* [cap][in] D's z, r = sigmoid(z) and dL_b/dz */
	/* Magnitudes from the pass (see ref_bounds), same shapes. */
	double *mx, *mzh, *mh, *mdh, *mzr, *mr, *mdr;
} RefAutoencoder;

typedef struct RefRecon RefRecon;

typedef struct RefNet RefNet;
struct RefNet {
	size_t n_inputs, n_outputs;
	size_t n_layers;
	RefLayer *layers;     /* owned */
	size_t n_params;
	const RefLoss *loss;  /* the Model's loss (its row of the reference's table) */
	double *params;       /* [n_params], owned */
	double *grads;        /* [n_params] batch means, owned */
	/* the Model's optimizer (its row of the reference's own table), its
	 * row of the compiler's (for the hyper-parameters' names) and values */
	void (*update)(RefNet *r, double lr);
	const OptimizerInfo *opt;
	double hparams[NNCC_MAX_HPARAMS];
	size_t n_state;       /* its state: n_state slots of n_params, owned */
	double *state, *mstate; /* and the state's error scales */
	unsigned char *is_bias; /* [n_params] 1 for a bias (decay_biases) */
	uint64_t t;           /* updates done */
	/* Dropout's masks: those of update t + 1 of a run seeded `seed` (the
	 * Model's training seed; tests may set another), sample b of the batch
	 * being b; `evaluating` set: dropout is the identity. */
	uint64_t seed;
	int evaluating;
	double *mstep;        /* [n_params] error scale of the last update's change
	                         of each parameter (from mgrads: call ref_bounds first) */
	double noise;         /* relative precision of the compared gradients */
	size_t undetermined;  /* the last update's elements whose sign the
	                         gradient's precision leaves open, */
	unsigned char *undet; /* [n_params] flagged 1 */
	double *mgrads;       /* [n_params] magnitudes from ref_bounds() */
	double mloss;         /* magnitude of the batch-mean loss, ref_bounds() */
	size_t cap;           /* largest n accepted by the entry points */
	size_t n;             /* samples of the last ref_forward */
	/* Pre-training (n_ae 0 without `pretrain`): the autoencoders in the
	 * order they train.  params, grads, mgrads and mstep then hold
	 * n_params + n_pre_params reals, the decoders' tensors at the Model's
	 * offsets past the network's (every other entry point still walks the
	 * first n_params only); velocity, of the same length, is momentum's. */
	size_t n_ae;
	RefAutoencoder *ae;     /* [n_ae], owned */
	size_t n_pre_params;
	const RefRecon *recon;  /* the reconstruction loss (its row of ref.c's table) */
	double pre_noise;       /* the fraction of E's inputs zeroed */
	int pre_tied;           /* W_D = W_E^T: D's W slot is not read or written */
	double *velocity, *mvelocity; /* [n_params + n_pre_params], and its error scale */
};

/* Builds a reference for model m with room for cap samples, parameters
 * zeroed.  Returns NULL and writes a reason into err (errlen bytes) if the
 * model uses something the reference does not implement or its parameter
 * layout is inconsistent (overlapping or out of range).  The caller owns
 * the result: ref_free(). */
RefNet *ref_new(const Model *m, size_t cap, char *err, size_t errlen);
void ref_free(RefNet *r);   /* ref_free(NULL) is a no-op */

/* x[n][n_inputs] -> every layer's z and a.  n <= cap. */
void ref_forward(RefNet *r, size_t n, const double *x);
/* After ref_forward on the same n: (1/n) sum_b L_b. */
double ref_loss(const RefNet *r, size_t n, const int32_t *y);
/* After ref_forward on the same x: every delta, and grads = batch-mean
 * gradients (overwritten, never accumulated). */
void ref_backward(RefNet *r, size_t n, const double *x, const int32_t *y);
/* One step of the Model's optimizer with learning rate lr on the
 * batch-mean gradients in grads (sgd: params -= lr * grads); counts t and
 * fills mstep (after ref_bounds on the same batch). */
void ref_update(RefNet *r, double lr);
/* Zero state, t and the undetermined count: a fresh optimizer. */
void ref_reset(RefNet *r);

/* The learning rate of update t (1-based) under schedule s from the base
 * rate `base`, in epoch `epoch` (passes completed before the update) of a
 * run of `total` updates (docs/trainer.md#learning-rate-schedules). */
double ref_schedule_lr(const nncc_schedule_t *s, double base, uint64_t t, uint64_t epoch,
                       uint64_t total);
/* Gradient clipping by global norm, PyTorch's clip_grad_norm_(max_norm) on
 * grads (the batch means): with n = ||grads||_2, grads *= max_norm /
 * (n + 1e-6) when that is below 1.  Returns n. */
double ref_clip(RefNet *r, double max_norm);

/* Error scales for comparing other implementations with the reference.
 * After ref_forward and ref_backward on the same n, x, y: fills mz, ma,
 * mdelta, mgrads and mloss with M >= |value| such that any implementation
 * that rounds with unit u is off by about c*u*M (c a small multiple of the
 * sum lengths).  M is the same formulas with every term replaced by its
 * absolute value (first-order running error analysis): a result that
 * cancels to near zero keeps the size of its terms.  Not part of the
 * textbook backprop above; only the comparison uses it. */
void ref_bounds(RefNet *r, size_t n, const double *x, const int32_t *y);

/* ---- Pre-training: one step of autoencoder i, as the generated
 * pretrain_step(i, n, x, u) takes it (docs/trainer.md#pre-training). */

/* x[n][n_inputs] (the network's inputs), n <= cap: the layers below E
 * forward in evaluation mode (dropout the identity; their z and a are
 * overwritten), the noise mask of unit j of sample b keyed by (seed,
 * D's number k, step, b, j) at rate pre_noise with no rescaling, E and D
 * forward, the loss against the clean x, backward.  grads of E's and D's
 * tensors = batch MEANS of the gradients (the rest untouched; tied: W_E's
 * includes W_D's transposed, W_D's slot holds W_D's own), and their error
 * scales mgrads, mloss (the batch-mean loss's), as ref_bounds gives them.
 * Returns the reconstruction loss SUMMED over the n samples. */
double ref_pretrain_pass(RefNet *r, size_t i, size_t n, const double *x, uint64_t seed,
                         uint64_t step);
/* The update of E's and D's tensors (tied: D's bias only, not its W) from
 * the means in grads: mu == 0: p -= lr g; else v = mu v + g (v = 0 before
 * step 1), p -= lr v.  mstep = each parameter's change's error scale (0
 * for those not updated). */
void ref_pretrain_update(RefNet *r, size_t i, double lr, double mu, uint64_t step);
/* ref_pretrain_pass, then ref_pretrain_update; returns the pass's loss sum. */
double ref_pretrain_step(RefNet *r, size_t i, size_t n, const double *x, double lr, double mu,
                         uint64_t seed, uint64_t step);

/* The network's output a_last, [n][n_outputs] after ref_forward. */
const double *ref_output(const RefNet *r);

/* The activation functions, exposed for the reference's own unit tests. */
double ref_act(Activation act, double z);        /* f(z) */
double ref_act_deriv(Activation act, double z);  /* f'(z), from z */

#endif
