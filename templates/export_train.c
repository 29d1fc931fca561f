/*
 * export_train.c - on-device fine-tuning in exported inference code (nncc
 * --infer --trainable MODE), used by compiler/export_train.c: the ledger's
 * macros, the static buffers, the training forward pass (each layer's output
 * kept), the backward pass, the SGD or momentum step of one sample or (the
 * batch form) of the gradient sums of n, the parameter accessors.  Every sum is the generated trainer's chain at batch 1, in its
 * order, with the file's exactly rounded {{U}}_FMA (docs/kernels.md, "The
 * floating-point contract"), so a step gives the trainer's bits.
 * {{P}}/{{U}} = network name and upper case, {{REAL}} = float or double,
 * {{API}} = "" or "static inline " (header-only), K = 1-based layer index,
 * KB = the layer below's.
 */

//@ section macros
/* On-device fine-tuning ({{MODE}}): the memory ledger in bytes (see the
 * header comment).  RAM = everything static and writable; TRAIN_RAM = the
 * part of it only {{P}}_train_step uses (activations, deltas, optimizer
 * state); FLASH = the const parameters and tables (code not counted). */
#define {{U}}_PARAMS {{PARAMS}} /* parameters, the weight file's layout */
#define {{U}}_RAM_BYTES {{RAM}}
#define {{U}}_TRAIN_RAM_BYTES {{TRAIN_RAM}}
#define {{U}}_FLASH_BYTES {{FLASH}}
/* With -D{{U}}_TRAIN_BATCH (the batch form): the gradient sums, more RAM. */
#define {{U}}_TRAIN_BATCH_RAM_BYTES {{BATCH_RAM}}

//@ section decls
#ifdef __cplusplus
extern "C" {
#endif

/* One SGD step on one sample (x normalised as in training, its class
 * label): p = p - lr * dL/dp for the trainable parameters, L the softmax
 * cross-entropy.  Returns 0, or -1 (nothing changed) for a label that is not
 * a class.  Not reentrant: the parameters and buffers are static. */
int {{P}}_train_step(const {{REAL}} x[{{U}}_INPUTS], int label, {{REAL}} lr);
/* The same from raw 0..255 pixels, normalised as in training. */
int {{P}}_train_step_u8(const unsigned char pixels[{{U}}_INPUTS], int label, {{REAL}} lr);
/* Every parameter, in the weight file's layout (per dense layer W[in][out],
 * then b[out]), out of the current ones. */
void {{P}}_params_get({{REAL}} p[{{U}}_PARAMS]);
/* Sets the trainable parameters from p (same layout); the frozen ones are
 * const and p's values for them are ignored. */
void {{P}}_params_set(const {{REAL}} p[{{U}}_PARAMS]);

//@ section decl_batch
#if defined({{U}}_TRAIN_BATCH)
#include <stddef.h>

/* One step on the mean gradient of n >= 1 samples, x[s * {{U}}_INPUTS + j]
 * (or raw pixels): the trainer's step with batch_size n.  -1 (nothing
 * changed) for n = 0 or a label that is not a class. */
int {{P}}_train_batch(const {{REAL}} x[], const int labels[], size_t n, {{REAL}} lr);
int {{P}}_train_batch_u8(const unsigned char pixels[], const int labels[], size_t n, {{REAL}} lr);
#endif

//@ section decl_reset
/* Momentum: the next train_step is a first step (v = its gradient). */
void {{P}}_train_reset(void);

//@ section decls_end

#ifdef __cplusplus
}
#endif

//@ section begin

/* ---- On-device fine-tuning ({{MODE}}).  One step on one sample:
 *   forward, keeping every layer's output a_K;
 *   d_L = softmax(z_L) - onehot(label)            (softmax + cross-entropy)
 *   g_KB[j] = sum_i d_K[i] W_K[j][i]  (i in order; old W)   d_KB = f'(a_KB) g_KB
 *   W_K[j][i] = fma(-lr, fma(x[j], d_K[i], 0), fma(-lr wd, W, W))
 *   b_K[i]    = fma(-lr, 0 + d_K[i], fma(-lr wd_b, b, b))
 * the generated trainer's chains at batch 1 (docs/embedding.md, "On-device
 * fine-tuning"), for SGD; wd = the YAML's weight_decay ({{WD_DEC}}). */
#define {{U}}_WEIGHT_DECAY {{WD}}
#define {{U}}_WEIGHT_DECAY_BIAS {{WDB}}

//@ section begin_momentum
/* Momentum (the YAML's optimizer, PyTorch's SGD with momentum as the trainer
 * computes it, templates/opt_momentum.c, at batch 1):
 *   d = fma(wd, p, g);  v = d on the first step, else fma(mu, v, (1 - dampening) d)
 *   p = fma(-lr, nesterov ? fma(mu, v, d) : v, p)
 * State: v per trainable parameter, and whether a step has run. */
#define {{U}}_MOMENTUM {{MU}} /* {{MU_DEC}} */
#define {{U}}_DAMP1 {{DAMP1}} /* 1 - dampening */
#define {{U}}_NESTEROV {{NESTEROV}}
static unsigned char {{P}}_train_started; /* 0: the next step is the first */

//@ section state_w
static {{REAL}} {{P}}_train_v{{K}}_w[{{U}}_L{{K}}_IN][{{U}}_L{{K}}_OUT]; /* layer {{K}}'s W momentum */

//@ section state_b
static {{REAL}} {{P}}_train_v{{K}}_b[{{U}}_L{{K}}_OUT]; /* layer {{K}}'s b momentum */

//@ section act_buf
static {{REAL}} {{P}}_train_a{{K}}[{{U}}_L{{K}}_OUT]; /* layer {{K}}'s output, kept for backward */

//@ section delta_buf
static {{REAL}} {{P}}_train_d{{K}}[{{U}}_L{{K}}_OUT]; /* layer {{K}}'s delta dL/dz */

//@ section forward_begin

/* The forward pass of a training step, from x or (px not NULL) raw pixels:
 * every layer's output kept. */
static void {{P}}_train_forward(const {{REAL}} *x, const unsigned char *px)
{
	if (px)
		{{P}}_l{{K}}_forward_u8({{P}}_train_a{{K}}, px);
	else
		{{P}}_l{{K}}_forward({{P}}_train_a{{K}}, x);

//@ section forward_call
	{{P}}_l{{K}}_forward({{P}}_train_a{{K}}, {{P}}_train_a{{KB}});

//@ section forward_end
}

//@ section backward_begin
/* Forward and backward of one sample, from x or (px not NULL) raw pixels
 * normalised where they are used (no copy of the input): every delta d_K
 * down to the lowest trained layer, with the current (old) weights. */
static void {{P}}_train_backward(const {{REAL}} *x, const unsigned char *px, int label)
{
	size_t i, j;

	(void)i, (void)j;
	{{P}}_train_forward(x, px);
	/* softmax + cross-entropy: d = p - onehot(label) */
	{{P}}_output({{P}}_train_d{{K}}, {{P}}_train_a{{K}});
	{{P}}_train_d{{K}}[label] -= 1;

//@ section deriv_last
	for (i = 0; i < {{U}}_L{{K}}_OUT; i++) {
		const {{REAL}} y = {{P}}_train_a{{K}}[i];
		{{P}}_train_d{{K}}[i] = ({{DERIV}}) * {{P}}_train_d{{K}}[i];
	}

//@ section backward
	/* layer {{K}} -> layer {{KB}}: g = W{{K}} d{{K}}, then d{{KB}} = f'(a{{KB}}) g */
	for (j = 0; j < {{U}}_L{{K}}_IN; j++) {
		{{REAL}} g = 0;
		for (i = 0; i < {{U}}_L{{K}}_OUT; i++)
			g = {{U}}_FMA({{P}}_train_d{{K}}[i], {{P}}_l{{K}}_w[j][i], g);

//@ section backward_deriv
		{
			const {{REAL}} y = {{P}}_train_a{{KB}}[j];
			{{P}}_train_d{{KB}}[j] = ({{DERIV}}) * g;
		}
	}

//@ section backward_linear
		{{P}}_train_d{{KB}}[j] = g;
	}

//@ section function_end
}

//@ section update_begin
/* The optimizer's step on the trainable parameters, {{UPDATE_DOC}};
 * scale = lr / n and inv = 1 / n as the trainer's opt_prepare. */
static void {{P}}_train_update{{SUFFIX}}({{ARGS}})
{
	const {{REAL}} scale = ({{REAL}})((double)lr / (double){{N}});
	const {{REAL}} inv = ({{REAL}})(1.0 / (double){{N}});
	const {{REAL}} lrwd = ({{REAL}})((double)lr * {{U}}_WEIGHT_DECAY);
	const {{REAL}} lrwdb = ({{REAL}})((double)lr * {{U}}_WEIGHT_DECAY_BIAS);
	size_t i, j;

	(void)scale, (void)inv, (void)lrwd, (void)lrwdb, (void)i, (void)j;
{{UNUSED}}
//@ section update_w
	/* layer {{K}}: W = W - scale dW - lr wd W */
	for (j = 0; j < {{U}}_L{{K}}_IN; j++) {
		const {{REAL}} xj = {{XJ}};

		(void)xj;
		for (i = 0; i < {{U}}_L{{K}}_OUT; i++) {
			{{REAL}} *p = &{{P}}_l{{K}}_w[j][i];
			*p = {{U}}_FMA(-scale, {{GW}}, {{U}}_FMA(-lrwd, *p, *p));
		}
	}

//@ section update_b
	/* layer {{K}}: b = b - scale db - lr wd b */
	for (i = 0; i < {{U}}_L{{K}}_OUT; i++) {
		{{REAL}} *p = &{{P}}_l{{K}}_b[i];
		*p = {{U}}_FMA(-scale, {{GB}}, {{U}}_FMA(-lrwdb, *p, *p));
	}

//@ section step_momentum
	const {{REAL}} mu = ({{REAL}}){{U}}_MOMENTUM, damp1 = ({{REAL}}){{U}}_DAMP1;
	const int first = !{{P}}_train_started || mu == 0;

	{{P}}_train_started = 1;

//@ section update_w_momentum
	/* layer {{K}}: momentum on W */
	for (j = 0; j < {{U}}_L{{K}}_IN; j++) {
		const {{REAL}} xj = {{XJ}};

		(void)xj;
		for (i = 0; i < {{U}}_L{{K}}_OUT; i++) {
			{{REAL}} *p = &{{P}}_l{{K}}_w[j][i], *v = &{{P}}_train_v{{K}}_w[j][i];
			const {{REAL}} d = {{U}}_FMA(({{REAL}}){{U}}_WEIGHT_DECAY, *p, {{GW}} * inv);

			*v = first ? d : {{U}}_FMA(mu, *v, damp1 * d);
			*p = {{U}}_FMA(-lr, {{U}}_NESTEROV ? {{U}}_FMA(mu, *v, d) : *v, *p);
		}
	}

//@ section update_b_momentum
	/* layer {{K}}: momentum on b */
	for (i = 0; i < {{U}}_L{{K}}_OUT; i++) {
		{{REAL}} *p = &{{P}}_l{{K}}_b[i], *v = &{{P}}_train_v{{K}}_b[i];
		const {{REAL}} d = {{U}}_FMA(({{REAL}}){{U}}_WEIGHT_DECAY_BIAS, *p, {{GB}} * inv);

		*v = first ? d : {{U}}_FMA(mu, *v, damp1 * d);
		*p = {{U}}_FMA(-lr, {{U}}_NESTEROV ? {{U}}_FMA(mu, *v, d) : *v, *p);
	}

//@ section reset_momentum
/* The next step is the first: the momentum starts again from its gradient. */
{{API}}void {{P}}_train_reset(void)
{
	{{P}}_train_started = 0;
}

//@ section step_api
{{API}}int {{P}}_train_step(const {{REAL}} x[{{U}}_INPUTS], int label, {{REAL}} lr)
{
	if (label < 0 || label >= {{U}}_OUTPUTS)
		return -1;
	{{P}}_train_backward(x, NULL, label);
	{{P}}_train_update1(x, NULL, lr);
	return 0;
}

{{API}}int {{P}}_train_step_u8(const unsigned char pixels[{{U}}_INPUTS], int label, {{REAL}} lr)
{
	if (label < 0 || label >= {{U}}_OUTPUTS)
		return -1;
	{{P}}_train_backward(NULL, pixels, label);
	{{P}}_train_update1(NULL, pixels, lr);
	return 0;
}

//@ section batch_begin
#if defined({{U}}_TRAIN_BATCH)
/* ---- The batch form (built with -D{{U}}_TRAIN_BATCH): the gradient sums over
 * the batch, {{U}}_TRAIN_BATCH_RAM_BYTES more RAM. */

//@ section grad_w
static {{REAL}} {{P}}_train_g{{K}}_w[{{U}}_L{{K}}_IN][{{U}}_L{{K}}_OUT]; /* layer {{K}}'s dW sum */

//@ section grad_b
static {{REAL}} {{P}}_train_g{{K}}_b[{{U}}_L{{K}}_OUT]; /* layer {{K}}'s db sum */

//@ section acc_begin

/* Adds one sample's gradient to the sums (first: from 0), each one chain
 * over the samples in order, as the trainer's. */
static void {{P}}_train_accumulate(const {{REAL}} *x, const unsigned char *px, int first)
{
	size_t i, j;

	(void)i, (void)j, (void)x, (void)px;

//@ section acc_w
	for (j = 0; j < {{U}}_L{{K}}_IN; j++) {
		const {{REAL}} xj = {{XJ}};

		for (i = 0; i < {{U}}_L{{K}}_OUT; i++)
			{{P}}_train_g{{K}}_w[j][i] = {{U}}_FMA(xj, {{P}}_train_d{{K}}[i],
			                                  first ? ({{REAL}})0 : {{P}}_train_g{{K}}_w[j][i]);
	}

//@ section acc_b
	for (i = 0; i < {{U}}_L{{K}}_OUT; i++)
		{{P}}_train_g{{K}}_b[i] = (first ? ({{REAL}})0 : {{P}}_train_g{{K}}_b[i]) + {{P}}_train_d{{K}}[i];

//@ section batch_api
static int {{P}}_train_batch_px(const {{REAL}} *x, const unsigned char *px, const int *labels,
	size_t n, {{REAL}} lr)
{
	size_t s;

	if (n == 0)
		return -1;
	for (s = 0; s < n; s++)
		if (labels[s] < 0 || labels[s] >= {{U}}_OUTPUTS)
			return -1;
	for (s = 0; s < n; s++) {
		const {{REAL}} *xs = x ? x + s * {{U}}_INPUTS : NULL;
		const unsigned char *ps = px ? px + s * {{U}}_INPUTS : NULL;

		{{P}}_train_backward(xs, ps, labels[s]);
		{{P}}_train_accumulate(xs, ps, s == 0);
	}
	{{P}}_train_update_batch(lr, n);
	return 0;
}

{{API}}int {{P}}_train_batch(const {{REAL}} x[], const int labels[], size_t n, {{REAL}} lr)
{
	return {{P}}_train_batch_px(x, NULL, labels, n, lr);
}

{{API}}int {{P}}_train_batch_u8(const unsigned char pixels[], const int labels[], size_t n,
	{{REAL}} lr)
{
	return {{P}}_train_batch_px(NULL, pixels, labels, n, lr);
}
#endif

//@ section get_begin
{{API}}void {{P}}_params_get({{REAL}} p[{{U}}_PARAMS])
{
	size_t i, j, o = 0;

	(void)i, (void)j;

//@ section get_layer
	for (j = 0; j < {{U}}_L{{K}}_IN; j++)
		for (i = 0; i < {{U}}_L{{K}}_OUT; i++)
			p[o++] = {{P}}_l{{K}}_w[j][i];
	for (i = 0; i < {{U}}_L{{K}}_OUT; i++)
		p[o++] = {{P}}_l{{K}}_b[i];

//@ section set_begin
}

{{API}}void {{P}}_params_set(const {{REAL}} p[{{U}}_PARAMS])
{
	size_t i, j;

	(void)i, (void)j;

//@ section set_w
	for (j = 0; j < {{U}}_L{{K}}_IN; j++)
		for (i = 0; i < {{U}}_L{{K}}_OUT; i++)
			{{P}}_l{{K}}_w[j][i] = p[{{OFF}} + j * {{U}}_L{{K}}_OUT + i];

//@ section set_b
	for (i = 0; i < {{U}}_L{{K}}_OUT; i++)
		{{P}}_l{{K}}_b[i] = p[{{OFF}} + i];

//@ section set_end
}
