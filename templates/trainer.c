/*
 * trainer.c - the fixed text of a generated trainer, around what emit.c
 * writes from the plan (the header's layer table, sizes, buffers, the
 * per-layer functions from each kind's template, the lists of calls):
 * the includes, the passes' work-unit wrappers, the entry points of the
 * runtime ABI (runtime/nncc.h) and main().  The network-independent
 * machinery (kernels, thread pool) is in runtime/nncc_kern.h.
 * Every name but P_model, the one external symbol, is static and free of
 * the network's name (which could clash with it); the per-layer functions
 * all start "lK_".  Placeholders: P = network name, DTYPE = F32 or F64,
 * REAL = float or double.  A network with dropout gets step_rows_masked
 * (instead of step_rows), mask_key and descriptor_mask_key; one without
 * carries no mask code (its mask_key is NULL).
 */

//@ section prologue
#ifndef KERN_COPY /* the shared part, up to the kernel section */
#define KERN_{{DTYPE}} 1
#include "nncc_simd.h" /* real = {{REAL}}, exp, the activations, the instruction sets */
#include "nncc.h"      /* the runtime ABI: nncc_model_t */

//@ section pool
#include "nncc_pool.h" /* the thread pool, the optimizer's scalar epilogue, the dispatch */

//@ section copies
#endif /* the shared part */

/* ==== The kernel section: the vector layer, the kernels, the layers, the
 * passes and the entry points, for one instruction set.  Built without
 * -march (KERN_DISPATCH), this file includes itself once per instruction
 * set to compile the section for each (functions get the set's suffix:
 * l1_hidden_forward_avx2), and the entry points after it call the copy
 * picked when the file is loaded (docs/kernels.md#instruction-sets).
 * Otherwise the section is compiled once, for the compiler's target. */
#if KERN_DISPATCH && !defined(KERN_COPY)
#define KERN_COPY 1
#define KERN_ISA KERN_ISA_AVX512
#include __FILE_NAME__
#undef KERN_ISA
#define KERN_ISA KERN_ISA_AVX2
#include __FILE_NAME__
#undef KERN_ISA
#define KERN_ISA KERN_ISA_FMA
#include __FILE_NAME__
#undef KERN_ISA
#define KERN_ISA KERN_ISA_GENERIC
#include __FILE_NAME__
#undef KERN_COPY
#else
#include "nncc_vec.h" /* the copy's target and vectors (vreal, V_*) */

//@ section kernels
#include "nncc_kern.h" /* the kernels, with the optimizer's epilogue; the copy's names */

//@ section rows_begin
/* ---- The passes, cut into work units that kern_run() hands to the pool:
 * the row passes ROWS_PER_UNIT samples of the tile each (the whole tile on
 * one thread), the weight pass the layers' row tiles of W.  What a unit
 * computes does not depend on the thread that runs it, so results do not
 * depend on the thread count. */

/* forward: every layer's output for the unit's rows, first layer first. */
static void forward_rows(size_t unit, int tid)
{
	const size_t r0 = unit * kern_job.rows, r1 = KERN_MIN(r0 + kern_job.rows, kern_job.n);

	(void)tid;

//@ section rows_backward
}

/* backward: every layer's gradients for the unit's rows, last layer first. */
static void backward_rows(size_t unit, int tid)
{
	const size_t r0 = unit * kern_job.rows, r1 = KERN_MIN(r0 + kern_job.rows, kern_job.n);

//@ section rows_weights
}

/* A training step's row pass: both, unit by unit. */
static void step_rows(size_t unit, int tid)
{
	forward_rows(unit, tid);
	backward_rows(unit, tid);
}

/* One unit of the weight pass: row tiles of one layer's W, last layer first. */
static void weight_unit(size_t unit, int tid)
{
	(void)tid;

//@ section rows_end
}

//@ section entry
/* ---- The entry points (runtime/nncc.h, docs/runtime-abi.md). */

/* Forward pass over a tile: x (n, N_INPUTS) -> every layer's output. */
static void forward(size_t n, const void *x)
{
	kern_job.n = n;
	kern_job.x = x;
	kern_run_rows(forward_rows, n, ROWS_PER_UNIT, POOL_ROWS, THREADS);
}

//@ section backward
/* Backward pass over a tile, after forward() on the same x: every layer's
 * gradients, last layer first, and the weight gradients summed over the
 * tile into grads (assigned, or added to what is there when accumulate is
 * set: a batch larger than a tile is accumulated tile by tile). */
static void backward(size_t n, const void *x, const void *y, int accumulate)
{
	kern_job.n = n;
	kern_job.x = x;
	kern_job.y = y;
	kern_run_rows(backward_rows, n, ROWS_PER_UNIT, POOL_ROWS, THREADS);
	kern_job.mode = accumulate ? KERN_GRAD_ACC : KERN_GRAD_SET;
	kern_run(weight_unit, WEIGHT_UNITS, POOL_WEIGHTS, THREADS);
}

/* The optimizer's step on every parameter tensor, with the gradient sums
 * in grads (after backward() over a whole batch of u->batch samples). */
static void update(const nncc_update_t *u)
{
	OptStep o;

	kern_prepare(&o, u, {{DEFAULTS}});
	for (size_t l = 0; l < N_LAYERS; l++)
		for (size_t t = 0; t < layers[l].n_tensors; t++) {
			const nncc_param_t *T = &layers[l].tensors[t];
			kern_update(&o, T->bias, params, grads, {{STATE}}, T->offset, T->size);
		}
}

//@ section step
/* One training step on a tile of n samples, fused: forward, loss and every
 * layer's gradients row by row, then the weight gradient with the
 * optimizer's step in the same pass (no gradient is stored, no update
 * pass).  The same bits as forward + loss + backward(0) + update: the same
 * FMA chains{{MASK_NOTE}}.
 * Returns the tile's loss sum, computed before the update; grads is left
 * unspecified. */
static double step(size_t n, const void *x, const void *y, const nncc_update_t *u)
{
	double sum;

	kern_job.n = n;
	kern_job.x = x;
	kern_job.y = y;

//@ section step_rows
	kern_run_rows(step_rows, n, ROWS_PER_UNIT, POOL_ROWS, THREADS);

//@ section step_rows_masked
	kern_job.mask = (KernMask){u->seed, u->step, 0};
	kern_run_rows(step_rows, n, ROWS_PER_UNIT, POOL_ROWS, THREADS);
	kern_job.mask.step = 0;

//@ section step_end
	sum = loss(n, y);
	kern_job.mode = KERN_GRAD_UPDATE;
	kern_prepare(&kern_job.opt, u, {{DEFAULTS}});
	kern_run(weight_unit, WEIGHT_UNITS, POOL_WEIGHTS, THREADS);
	return sum;
}

//@ section step_part
/* step() as part p->part of p->parts processes sharing the buffers
 * (nncc_part_t): its rows, then the weight units it draws; the same bits. */
static double step_part(size_t n, const void *x, const void *y, const nncc_update_t *u,
                        const nncc_part_t *p)
{
	double sum;
	size_t q;

	kern_job.n = n;
	kern_job.x = x;
	kern_job.y = y;
	kern_job.rows = (n + p->parts - 1) / p->parts;

//@ section step_part_rows
	if (p->part * kern_job.rows < n)
		step_rows(p->part, 0);

//@ section step_part_rows_masked
	kern_job.mask = (KernMask){u->seed, u->step, 0};
	if (p->part * kern_job.rows < n)
		step_rows(p->part, 0);
	kern_job.mask.step = 0;

//@ section step_part_end
	if (p->meet(p->ctx))
		return NAN;   /* a part did not come: nothing updated */
	sum = loss(n, y);
	kern_job.mode = KERN_GRAD_UPDATE;
	kern_prepare(&kern_job.opt, u, {{DEFAULTS}});
	while ((q = p->next_unit(p->ctx)) < WEIGHT_UNITS)
		weight_unit(q, 0);
	return sum;
}

//@ section copy_end
KERN_COPY_END
#endif /* the kernel section */

#ifndef KERN_COPY /* the shared part again */
#include "nncc_dispatch.h" /* with KERN_DISPATCH: the entry points call the copy chosen */

//@ section mask_key
/* The dropout masks of the calls that follow (step 0: evaluation). */
static void mask_key(uint64_t seed, uint64_t step, size_t first)
{
	kern_job.mask = (KernMask){seed, step, first};
}

//@ section threads
/* Threads for the pooled passes (0 = all cores); returns the number in use. */
static int set_threads(int n)
{
	return kern_set_threads(n, POOL_ROWS || POOL_WEIGHTS);
}

/* Per-layer buffers for tools and tests (layer is 0-based): NNCC_T_ACT the
 * outputs a (MAX_BATCH, OUT), NNCC_T_DELTA the deltas dL/dz of a layer with
 * parameters (MAX_BATCH, OUT); NULL for anything else. */
static void *tensor(int which, size_t layer)
{
	static void *const act[N_LAYERS] = { {{ACTS}} };
	static void *const delta[N_LAYERS] = { {{DELTAS}} };

	if (layer >= N_LAYERS)
		return NULL;
	return which == NNCC_T_ACT ? act[layer] : which == NNCC_T_DELTA ? delta[layer] : NULL;
}

//@ section descriptor
/* ---- The model descriptor: all the driver and other tools use. */
const nncc_model_t {{P}}_model = {
	.abi_version = NNCC_ABI_VERSION,
	.name = {{NAME}},
	.source = {{SOURCE}},
	.source_sha256 = "{{SHA256}}",
	.nncc_version = "{{VERSION}}",
	.dtype = {{DTYPE}},
	.n_inputs = N_INPUTS,
	.n_outputs = N_OUTPUTS,
	.n_layers = N_LAYERS,
	.layers = layers,
	.n_params = N_PARAMS,
	.shape_hash = UINT64_C({{HASH}}),
	.max_batch = MAX_BATCH,
	.params = params,
	.grads = grads,
	.optimizer = {{OPTIMIZER}},
	.n_hparams = {{N_HPARAMS}},
	.hparams = {{HPARAMS}},
	.n_state = OPT_STATE,
	.state = {{STATE}},
	.loss_name = {{LOSS}},
	.n_targets = {{N_TARGETS}}, /* 0: labels; > 0: regression targets */
	.config = {
		.learning_rate = {{LR}},
		.schedule = { {{SCHEDULE}} },
		.clip_norm = {{CLIP_NORM}}, /* 0: no clipping */
		.validation = {{VALIDATION}}, /* held out: 0 none, >= 1 a count, < 1 a fraction */
		.patience = {{PATIENCE}}, /* early stopping: 0 = off */
		.metric = {{METRIC}},
		.min_delta = {{MIN_DELTA}},
		.batch_size = {{BATCH}}
		.iterations = {{ITERATIONS}},
		.epochs = {{EPOCHS}},
		.seed = UINT64_C({{SEED}}),
		.shuffle = {{SHUFFLE}},
		.init = {{INIT}},
		.init_scale = {{INIT_SCALE}},
		.init_biases = {{INIT_BIASES}},
		.normalize = {{NORMALIZE}},
		.threads = {{THREADS}},
		.data_dir = {{DATA_DIR}},
		.files = { {{FILES}} },
		.format = {{FORMAT}},{{CSV}}{{PRETRAIN}}
	},
	.forward = forward,
	.loss = loss,
	.backward = backward,
	.update = update,
	.step = step,
	.tensor = tensor,
	.static_bytes = STATIC_BYTES, .thread_bytes = THREAD_BYTES, /* for the memory plan */
	.step_part = step_part, /* with what the processes share (GNU C aligns it) */
	.n_shared = KERN_SHARED_OK ? N_SHARED : 0, .shared_params = N_SHARED_PARAMS,
	.shared = KERN_SHARED_OK ? shared_regions : NULL,
	.set_threads = set_threads,

//@ section descriptor_mask_key
	.mask_key = mask_key, /* dropout: the masks' key */

//@ section descriptor_pretrain
	.n_pretrain = N_PRETRAIN, /* pre-training's autoencoders */
	.pretrain = pretrain_table,
	.n_pretrain_params = N_PRETRAIN_PARAMS,
	.pretrain_step = pretrain_step,
	.pretrain_grad = pretrain_grad,
	.pretrain_update = pretrain_update,

//@ section descriptor_end
};

//@ section main
/* The training driver in libnncc.a: options, data, training loop, report.
 * Compile with -DNNCC_NO_MAIN to drive {{P}}_model from your own code. */
#ifndef NNCC_NO_MAIN
int main(int argc, char **argv)
{
	return nncc_main(argc, argv, &{{P}}_model);
}
#endif
#endif /* the shared part */
