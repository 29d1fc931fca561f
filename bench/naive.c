/*
 * naive.c - the benchmark's NAIVE BASELINE trainer: the same maths as a
 * generated nncc trainer (dense sigmoid hidden layer, optional; dense linear
 * output layer; softmax + cross-entropy; plain SGD on the batch mean), written
 * the way a textbook writes it: one triple loop per matrix product, the
 * forward pass as a dot product per output, the update as its own pass.
 * It implements the runtime ABI (runtime/nncc.h), so bench.c drives it
 * exactly as it drives a generated trainer.  Single-threaded
 * (set_threads = NULL), float32 only.
 *
 * Shapes are compile-time constants, given with -D:
 *   NAIVE_SYM   symbol of the model descriptor (e.g. naive_w3_model)
 *   NAIVE_IN    inputs (784)         NAIVE_HID  hidden units, 0 = no hidden layer
 *   NAIVE_OUT   classes (10)         NAIVE_MAXB tile size (max_batch)
 * Layout (the ABI's): W[j][i] = P[w_off + j*out + i] (input-major), then b.
 * Vocabulary: n = samples in the tile, b = sample, j = input, i = output.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nncc.h"

#if !defined(NAIVE_SYM) || !defined(NAIVE_IN) || !defined(NAIVE_HID) || \
	!defined(NAIVE_OUT) || !defined(NAIVE_MAXB)
#error "define NAIVE_SYM, NAIVE_IN, NAIVE_HID, NAIVE_OUT and NAIVE_MAXB"
#endif

#define IN NAIVE_IN
#define HID NAIVE_HID
#define OUT NAIVE_OUT
#define MAXB NAIVE_MAXB

#if HID > 0
#define L2_IN HID                       /* the output layer's input width */
#define N_DENSE 2
#define W1_OFF 0                        /* hidden layer: W1 (IN, HID), b1 (HID) */
#define B1_OFF (IN * HID)
#define W2_OFF (IN * HID + HID)         /* output layer: W2 (HID, OUT), b2 (OUT) */
#else
#define L2_IN IN
#define N_DENSE 1
#define W2_OFF 0
#endif
#define B2_OFF (W2_OFF + L2_IN * OUT)
#define N_PARAMS (B2_OFF + OUT)

typedef float real;

static real P[N_PARAMS];        /* parameters */
static real G[N_PARAMS];        /* gradient sums, same layout */
#if HID > 0
static real H[MAXB][HID];       /* hidden activations (MAXB, HID) */
static real DH[MAXB][HID];      /* hidden deltas (MAXB, HID) */
#endif
static real Z[MAXB][OUT];       /* output layer, linear (MAXB, OUT) */
static real DZ[MAXB][OUT];      /* its deltas (MAXB, OUT) */
static real O[MAXB][OUT];       /* softmax output (MAXB, OUT) */

/* y[b][i] = f(bias[i] + sum_j x[b][j] * W[j][i]); W at P[w_off], bias after it. */
static void dense_forward(real *y, const real *x, size_t n, size_t in, size_t out,
                          size_t w_off, int sigmoid)
{
	for (size_t b = 0; b < n; b++)
		for (size_t i = 0; i < out; i++) {
			real z = P[w_off + in * out + i];
			for (size_t j = 0; j < in; j++)
				z += x[b * in + j] * P[w_off + j * out + i];
			y[b * out + i] = sigmoid ? 1.0f / (1.0f + expf(-z)) : z;
		}
}

/* G[j][i] (+)= sum_b x[b][j] * d[b][i]; Gb[i] (+)= sum_b d[b][i]. */
static void dense_gradient(const real *x, const real *d, size_t n, size_t in, size_t out,
                           size_t w_off, int accumulate)
{
	for (size_t j = 0; j < in; j++)
		for (size_t i = 0; i < out; i++) {
			real g = 0;
			for (size_t b = 0; b < n; b++)
				g += x[b * in + j] * d[b * out + i];
			G[w_off + j * out + i] = accumulate ? G[w_off + j * out + i] + g : g;
		}
	for (size_t i = 0; i < out; i++) {
		real g = 0;
		for (size_t b = 0; b < n; b++)
			g += d[b * out + i];
		G[w_off + in * out + i] = accumulate ? G[w_off + in * out + i] + g : g;
	}
}

static void naive_forward(size_t n, const void *xv)
{
	const real *x = xv;
#if HID > 0
	dense_forward(&H[0][0], x, n, IN, HID, W1_OFF, 1);
	dense_forward(&Z[0][0], &H[0][0], n, HID, OUT, W2_OFF, 0);
#else
	dense_forward(&Z[0][0], x, n, IN, OUT, W2_OFF, 0);
#endif
	for (size_t b = 0; b < n; b++) {  /* softmax, max subtracted */
		real mx = Z[b][0], sum = 0;
		for (size_t i = 1; i < OUT; i++)
			mx = Z[b][i] > mx ? Z[b][i] : mx;
		for (size_t i = 0; i < OUT; i++) {
			O[b][i] = expf(Z[b][i] - mx);
			sum += O[b][i];
		}
		for (size_t i = 0; i < OUT; i++)
			O[b][i] /= sum;
	}
}

static double naive_loss(size_t n, const void *labels)
{
	const int32_t *y = labels;
	double sum = 0;
	for (size_t b = 0; b < n; b++)
		sum -= log((double)O[b][y[b]]);
	return sum;
}

static void naive_backward(size_t n, const void *xv, const void *labels, int accumulate)
{
	const real *x = xv;
	const int32_t *y = labels;
	for (size_t b = 0; b < n; b++)  /* softmax + cross-entropy, linear output */
		for (size_t i = 0; i < OUT; i++)
			DZ[b][i] = O[b][i] - (i == (size_t)y[b] ? 1.0f : 0.0f);
#if HID > 0
	for (size_t b = 0; b < n; b++)  /* DH = H(1-H) * (DZ W2^T) */
		for (size_t j = 0; j < HID; j++) {
			real s = 0;
			for (size_t i = 0; i < OUT; i++)
				s += DZ[b][i] * P[W2_OFF + j * OUT + i];
			DH[b][j] = H[b][j] * (1.0f - H[b][j]) * s;
		}
	dense_gradient(&H[0][0], &DZ[0][0], n, HID, OUT, W2_OFF, accumulate);
	dense_gradient(x, &DH[0][0], n, IN, HID, W1_OFF, accumulate);
#else
	dense_gradient(x, &DZ[0][0], n, IN, OUT, W2_OFF, accumulate);
#endif
}

static void naive_update(const nncc_update_t *u)
{
	const real s = (real)(u->lr / (double)u->batch);
	for (size_t k = 0; k < N_PARAMS; k++)
		P[k] -= s * G[k];
}

static double naive_step(size_t n, const void *x, const void *y, const nncc_update_t *u)
{
	naive_forward(n, x);
	double loss = naive_loss(n, y);
	naive_backward(n, x, y, 0);
	naive_update(u);
	return loss;
}

static void *naive_tensor(int which, size_t layer)
{
	if (layer == N_DENSE - 1)
		return which == NNCC_T_ACT ? (void *)Z : which == NNCC_T_DELTA ? (void *)DZ : NULL;
#if HID > 0
	if (layer == 0)
		return which == NNCC_T_ACT ? (void *)H : which == NNCC_T_DELTA ? (void *)DH : NULL;
#endif
	if (layer == N_DENSE && which == NNCC_T_ACT)
		return O;
	return NULL;
}

#if HID > 0
static const nncc_param_t naive_hidden[] = {
	{"W", W1_OFF, IN * HID, IN, HID, 0, IN, HID, 1.0},
	{"b", B1_OFF, HID, 1, HID, 1, IN, HID, 1.0},
};
#endif
static const nncc_param_t naive_out[] = {
	{"W", W2_OFF, L2_IN * OUT, L2_IN, OUT, 0, L2_IN, OUT, 1.0},
	{"b", B2_OFF, OUT, 1, OUT, 1, L2_IN, OUT, 1.0},
};

static const nncc_layer_t naive_layers[] = {
#if HID > 0
	{"hidden", "dense", "sigmoid", IN, HID, 2, naive_hidden},
#endif
	{"out", "dense", "linear", L2_IN, OUT, 2, naive_out},
	{"softmax", "softmax", NULL, OUT, OUT, 0, NULL},
};

/* config is not used by the benchmark, which has its own workload table. */
const nncc_model_t NAIVE_SYM = {
	.abi_version = NNCC_ABI_VERSION,
	.name = "naive",
	.source = "bench/naive.c",
	.source_sha256 = "",
	.nncc_version = "naive",
	.dtype = NNCC_F32,
	.n_inputs = IN,
	.n_outputs = OUT,
	.n_layers = N_DENSE + 1,
	.layers = naive_layers,
	.n_params = N_PARAMS,
	.shape_hash = 0,
	.max_batch = MAXB,
	.params = P,
	.grads = G,
	.optimizer = "sgd",
	.config = {.learning_rate = 0.1, .batch_size = MAXB, .iterations = 1, .seed = 1,
	           .init = NNCC_INIT_NORMAL, .init_scale = 0.1, .init_biases = 1, .normalize = NNCC_NORM_SCALE},
	.forward = naive_forward,
	.loss = naive_loss,
	.backward = naive_backward,
	.update = naive_update,
	.step = naive_step,
	.tensor = naive_tensor,
	.set_threads = NULL,
};
