/*
 * nncc.h - the runtime ABI between a generated nncc model and the code that
 * drives it (the training driver in libnncc.a, the test suite, other tools).
 *
 * A generated trainer defines one `const nncc_model_t NAME_model` describing
 * its sizes, its parameter block and its entry points; everything else in the
 * generated file is static.  See docs/runtime-abi.md for the full contract.
 *
 * Vocabulary: B = samples in a tile (n <= max_batch), IN/OUT = layer widths,
 * "real" = float or double according to model->dtype.
 */
#ifndef NNCC_H
#define NNCC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NNCC_ABI_VERSION 9

/* ---- Names the compiler and the runtime share: one definition each.
 * X(ID, value, YAML word[, more]); names.c turns values back into words. */
#define NNCC_DTYPES(X)             \
	X(F32, 1, float32, f32, float) \
	X(F64, 2, float64, f64, double)

typedef enum nncc_dtype {
#define NNCC_X(ID, v, name, abbr, ctype) NNCC_##ID = v,
	NNCC_DTYPES(NNCC_X)
#undef NNCC_X
} nncc_dtype_t;

/* Input normalisation (docs/data.md). */
#define NNCC_NORMS(X)                                               \
	X(NONE, 0, none, "x = pixel")                                   \
	X(SCALE, 1, scale, "x = pixel / 255")                           \
	X(STANDARDIZE, 2, standardize, "x = (pixel - mean[j]) / std (one std)")          \
	X(STANDARDIZE_FEATURES, 3, standardize_features, "x = (value - mean[j]) / std[j]")

typedef enum nncc_norm {
#define NNCC_X(ID, v, name, doc) NNCC_NORM_##ID = v,
	NNCC_NORMS(NNCC_X)
#undef NNCC_X
} nncc_norm_t;

/* Initial weights (docs/weights.md).  The last four are torch.nn.init's,
 * from a tensor's fan_in, fan_out and gain (nncc_param_t). */
#define NNCC_INITS(X)                                                               \
	X(NORMAL, 1, normal, "N(0,1) * scale")                                          \
	X(UNIFORM, 2, uniform, "U(-1,1) * scale")                                       \
	X(XAVIER_UNIFORM, 3, xavier_uniform, "U(-a,a), a = gain sqrt(6/(fan_in+fan_out))") \
	X(XAVIER_NORMAL, 4, xavier_normal, "N(0,1) * gain sqrt(2/(fan_in+fan_out))")    \
	X(KAIMING_UNIFORM, 5, kaiming_uniform, "U(-a,a), a = gain sqrt(3/fan_in)")      \
	X(KAIMING_NORMAL, 6, kaiming_normal, "N(0,1) * gain / sqrt(fan_in)")

typedef enum nncc_init {
#define NNCC_X(ID, v, name, doc) NNCC_INIT_##ID = v,
	NNCC_INITS(NNCC_X)
#undef NNCC_X
} nncc_init_t;

/* The data files' format (docs/data.md): X(ID, value, YAML word). */
#define NNCC_FORMATS(X) \
	X(IDX, 0, idx)      \
	X(CSV, 1, csv)

typedef enum nncc_format {
#define NNCC_X(ID, v, name) NNCC_FORMAT_##ID = v,
	NNCC_FORMATS(NNCC_X)
#undef NNCC_X
} nncc_format_t;

/* How a CSV file reads (docs/data.md#csv-files): the YAML's data keys.  A
 * column is named by its header name or by its 0-based index written in
 * decimal ("-1" is the last); the features are the columns that are
 * neither the label nor ignored, in file order. */
typedef struct nncc_csv_spec {
	int delimiter;              /* ',' ; '\t' for TSV ... */
	int header;                 /* 1: the first row (after skip_rows) names the columns */
	size_t skip_rows;           /* lines skipped before it, unparsed */
	const char *label;          /* the label column; NULL = the last */
	size_t n_ignore;
	const char *const *ignore;  /* columns that are neither features nor the label */
	size_t n_targets;           /* > 0: regression, these columns are the targets */
	const char *const *targets; /* (then label and classes are unused) */
	size_t n_classes;           /* 0: labels are 0..K-1, or strings (classes sorted) */
	const char *const *classes; /* the class names, class k = classes[k] */
} nncc_csv_spec_t;

/* What early stopping watches, on the validation set after every pass
 * (docs/trainer.md#validation-and-early-stopping): X(ID, value, YAML word,
 * 1 when larger is better). */
#define NNCC_METRICS(X)                \
	X(VAL_LOSS, 0, val_loss, 0)        \
	X(VAL_ACCURACY, 1, val_accuracy, 1)

typedef enum nncc_metric {
#define NNCC_X(ID, v, name, up) NNCC_METRIC_##ID = v,
	NNCC_METRICS(NNCC_X)
#undef NNCC_X
} nncc_metric_t;

/* Pre-training's reconstruction loss (docs/trainer.md#pre-training):
 * X(ID, value, YAML word). */
#define NNCC_RECONS(X)                \
	X(SQUARED_ERROR, 0, squared_error) \
	X(CROSS_ENTROPY, 1, cross_entropy)

typedef enum nncc_recon {
#define NNCC_X(ID, v, name) NNCC_RECON_##ID = v,
	NNCC_RECONS(NNCC_X)
#undef NNCC_X
} nncc_recon_t;

/* The data files, their YAML keys and default names (relative to the data
 * directory); nncc_config_t.files is indexed by NNCC_FILE_*. */
#define NNCC_DATA_FILES 4
#define NNCC_FILES(X)                                            \
	X(TRAIN_IMAGES, train_images, "train-images-idx3-ubyte")     \
	X(TRAIN_LABELS, train_labels, "train-labels-idx1-ubyte")     \
	X(TEST_IMAGES, test_images, "t10k-images-idx3-ubyte")        \
	X(TEST_LABELS, test_labels, "t10k-labels-idx1-ubyte")

enum {
#define NNCC_X(ID, key, file) NNCC_FILE_##ID,
	NNCC_FILES(NNCC_X)
#undef NNCC_X
};

/* names.c: the words above ("float32", "f32", "standardize", "normal", the
 * default file names); "?" for a value that is not in the list. */
const char *nncc_dtype_name(int dtype);
const char *nncc_dtype_abbr(int dtype);
const char *nncc_norm_name(int norm);
const char *nncc_norm_doc(int norm);    /* "x = pixel / 255" */
const char *nncc_init_name(int init);
const char *nncc_metric_name(int metric);
const char *nncc_format_name(int format);
const char *nncc_recon_name(int recon);
/* The value of `metric` for a validation's mean loss and accuracy. */
double nncc_metric_value(int metric, double loss, double accuracy);
/* 1 when `value` beats `best` by more than min_delta (the metric's
 * direction: lower loss, higher accuracy); always 1 when best is NaN. */
int nncc_metric_improves(int metric, double value, double best, double min_delta);
extern const char *const nncc_default_files[NNCC_DATA_FILES];

/* What nncc_model_t.tensor() can return. */
typedef enum nncc_tensor {
	NNCC_T_ACT = 1,    /* layer output a, [max_batch][out] */
	NNCC_T_DELTA = 2   /* layers with parameters: dL/dz per sample,
	                      [max_batch][out]; NULL for other layers */
} nncc_tensor_t;

/* One parameter tensor of a layer: a (rows, cols) row-major block of
 * params, at the same offset in grads and in every optimizer state slot. */
typedef struct nncc_param {
	const char *name;        /* "W", "b" */
	size_t offset, size;     /* elements; size = rows * cols */
	size_t rows, cols;       /* a vector is 1 x n */
	int bias;                /* 1 for a bias (weight decay may skip it) */
	/* Its initialisation rule's sizes: the fan-in and fan-out of the layer
	 * it belongs to (dense: in and out, for W and b alike) and the gain of
	 * its activation (torch.nn.init.calculate_gain: relu sqrt 2, tanh 5/3,
	 * else 1), for the schemes that scale by them (nncc_init_params). */
	size_t fan_in, fan_out;
	double gain;
} nncc_param_t;

typedef struct nncc_layer {
	const char *name;        /* from the YAML, or "layerN" */
	const char *kind;        /* the YAML type: "dense", "softmax" */
	const char *activation;  /* kinds with an activation: "sigmoid", ...; else NULL */
	size_t in, out;
	/* Parameters, in storage order.  A dense layer has W (in, out),
	 * input-major: W[j][i] = params[W.offset + j*out + i] connects input j
	 * to output i, then b (1, out). */
	size_t n_tensors;
	const nncc_param_t *tensors;
} nncc_layer_t;

/* One hyper-parameter of the optimizer (besides the learning rate): the
 * trainer's option --NAME (with '-' for '_') overrides it.  A model has at
 * most NNCC_MAX_HPARAMS. */
#define NNCC_MAX_HPARAMS 16
typedef struct nncc_hparam {
	const char *name;        /* its YAML key */
	double value;            /* from the YAML, or the default */
	double min, max;         /* accepted range */
	int min_open, max_open;  /* 1: the bound itself is excluded */
	int flag;                /* 1: a switch, 0 or 1 */
	const char *help;
} nncc_hparam_t;

/* One optimizer step: what update() and step() are given. */
typedef struct nncc_update {
	double lr;               /* the learning rate of this step */
	size_t batch;            /* grads hold sums over this many samples */
	uint64_t step;           /* this update's 1-based number, t */
	const double *hparams;   /* n_hparams values, the descriptor's order; NULL if none */
	uint64_t seed;           /* the run's seed: the dropout masks' key (docs/trainer.md#dropout) */
} nncc_update_t;

/* One process's part of a training step that several processes on one
 * machine share (step_part, docs/scaling.md#one-step-shared-by-the-ranks):
 * the parameters, the optimizer's state and the layers' buffers are pages
 * they all map (nncc_model_t.shared).  Part `part` of `parts` runs the
 * forward and backward passes for its rows of the tile, then meet() waits
 * for every part's rows (nonzero: one did not come; the step stops there,
 * nothing updated), then the fused weight gradient and update of the
 * weight units next_unit() hands out (a counter the parts share: each
 * unit once; >= the model's units: none left).  ctx is theirs. */
typedef struct nncc_part {
	size_t part, parts;
	int (*meet)(void *ctx);
	size_t (*next_unit)(void *ctx);
	void *ctx;
} nncc_part_t;

/* A static buffer of the generated trainer that processes can share:
 * `bytes` of data at p, page-aligned (NNCC_PAGE), `room` >= bytes rounded
 * up to a page allocated there (nothing else in its pages). */
#define NNCC_PAGE 4096
typedef struct nncc_region {
	void *p;
	size_t bytes, room;
} nncc_region_t;

/* ---- Learning-rate schedules (schedule.c; docs/trainer.md#learning-rate-schedules).
 * X(ID, value, YAML word). */
#define NNCC_SCHEDULES(X)          \
	X(CONSTANT, 0, constant)       \
	X(STEP, 1, step)               \
	X(EXPONENTIAL, 2, exponential) \
	X(COSINE, 3, cosine)

typedef enum nncc_schedule_type {
#define NNCC_X(ID, v, name) NNCC_SCHEDULE_##ID = v,
	NNCC_SCHEDULES(NNCC_X)
#undef NNCC_X
} nncc_schedule_type_t;

/* What the step and exponential schedules count: X(ID, value, YAML word). */
#define NNCC_UNITS(X)     \
	X(EPOCHS, 0, epochs) \
	X(ITERATIONS, 1, iterations)

typedef enum nncc_unit {
#define NNCC_X(ID, v, name) NNCC_UNIT_##ID = v,
	NNCC_UNITS(NNCC_X)
#undef NNCC_X
} nncc_unit_t;

/* A schedule and its keys; a key another schedule has is left at 0.  The
 * rate of update t (1-based) is nncc_schedule_lr(). */
typedef struct nncc_schedule {
	int type;                /* nncc_schedule_type_t */
	int unit;                /* step, exponential: nncc_unit_t, what i counts */
	double gamma;            /* step, exponential: the decay factor */
	uint64_t step_size;      /* step: units between two decays */
	double min_lr;           /* cosine: the rate it anneals to (eta_min) */
	uint64_t t_max;          /* cosine: the update that reaches min_lr; 0 = the run's last */
	uint64_t warmup;         /* every schedule: updates of linear warmup, 0 = none */
} nncc_schedule_t;

/* One key of a schedule: the YAML key (in `schedule: {type: ..., KEY: ...}`)
 * and the trainer's option --KEY ('-' for '_').  Its field in
 * nncc_schedule_t has the same name, at `offset`. */
typedef enum nncc_skey_kind {
	NNCC_SKEY_NUMBER,        /* double, finite, in [min, max] (open ends as flagged) */
	NNCC_SKEY_COUNT,         /* uint64_t, an integer in [min, max] */
	NNCC_SKEY_UNIT           /* int, an NNCC_UNITS word */
} nncc_skey_kind_t;

typedef struct nncc_schedule_key {
	const char *name;
	int kind;                /* nncc_skey_kind_t */
	size_t offset;           /* of its field in nncc_schedule_t */
	double min, max;
	int min_open, max_open;
	const char *help;
} nncc_schedule_key_t;

/* One schedule: its keys (bit k = nncc_schedule_keys[k]), those without a
 * default, the defaults of the others, and its formula for --help. */
typedef struct nncc_schedule_info {
	const char *name;        /* YAML word */
	unsigned keys, required;
	nncc_schedule_t defaults;
	const char *formula;
} nncc_schedule_info_t;

extern const nncc_schedule_key_t nncc_schedule_keys[];
extern const size_t nncc_schedule_key_count;
extern const nncc_schedule_info_t nncc_schedules[];   /* indexed by nncc_schedule_type_t */
extern const size_t nncc_schedule_count;

/* The row named `name`, or NULL. */
const nncc_schedule_info_t *nncc_schedule_find(const char *name);
/* "cosine", "iterations"; "?" for a value that is not in the list. */
const char *nncc_schedule_name(int type);
const char *nncc_unit_name(int unit);

/* The learning rate of update `step` = t (1-based) of a run of `total`
 * updates (the cosine's horizon when t_max is 0), in epoch `epoch` (passes
 * over the training set completed before the update: the step and
 * exponential schedules' clock when they count epochs), from the base rate:
 *   t <= W (warmup):  base * t / W
 *   otherwise, with i = t - 1 - W (iterations) or epoch (epochs):
 *     constant      base
 *     step          base * gamma^floor(i / step_size)
 *     exponential   base * gamma^i
 *     cosine        min_lr + (base - min_lr) * (1 + cos(pi * (t - 1 - W) / (T - W))) / 2,
 *                   T = t_max, or total when t_max is 0 (min_lr when T <= W)
 * (PyTorch's StepLR, ExponentialLR and CosineAnnealingLR in closed form,
 * after a linear warmup; docs/trainer.md). */
double nncc_schedule_lr(const nncc_schedule_t *s, double base_lr, uint64_t step,
                        uint64_t epoch, uint64_t total);

/* Greedy layer-wise pre-training (docs/trainer.md#pre-training): before
 * supervised training, each pre-trained dense layer in turn, lowest first,
 * learns to reconstruct its input through a decoder of its own (dense,
 * sigmoid), the layers below it fixed; the encoders' weights are the
 * network's initial weights.  The settings all autoencoders share: */
typedef struct nncc_pretrain_config {
	size_t epochs;          /* passes over the training set per layer; 0 = off */
	double learning_rate;
	size_t batch_size;      /* <= max_batch */
	double momentum;        /* 0: plain SGD; else heavy ball, v = mu v + g */
	int loss;               /* nncc_recon_t */
	double noise;           /* denoising: the fraction of inputs set to 0, [0, 1) */
	int tied;               /* the decoder's W is the encoder's, transposed */
} nncc_pretrain_config_t;

/* One autoencoder: its encoder, a layer of the network, and its decoder,
 * dense OUT -> IN with a sigmoid, whose tensors (W (out, in), b (1, in))
 * live in params past the network's n_params (params holds n_params +
 * n_pretrain_params reals; weight files keep the first n_params). */
typedef struct nncc_pretrain {
	size_t layer;            /* the encoder (0-based), a dense layer */
	size_t n_tensors;
	const nncc_param_t *tensors; /* the decoder's, offsets into params */
} nncc_pretrain_t;

/* Training defaults from the YAML; the driver's options override them. */
typedef struct nncc_config {
	double learning_rate;
	nncc_schedule_t schedule; /* the learning rate per update (constant by default) */
	double clip_norm;         /* > 0: clip the batch-mean gradient to this global
	                             L2 norm before each update; 0 = off */
	size_t batch_size;      /* 0 = full batch (the training-set size) */
	size_t iterations;      /* exactly one of iterations/epochs is non-zero */
	size_t epochs;
	uint64_t seed;
	int shuffle;            /* 0: consecutive batches in file order, wrapping */
	/* The samples held out of the training file for validation, its last
	 * ones: 0 = none, an integer >= 1 = that many, in (0, 1) = that
	 * fraction of the samples (rounded down). */
	double validation;
	/* Early stopping on the validation set: patience 0 = off; else stop
	 * after `patience` passes without an improvement of the metric by more
	 * than min_delta, and keep the best pass's weights. */
	size_t patience;
	int metric;             /* nncc_metric_t */
	double min_delta;       /* >= 0 */
	int init;               /* nncc_init_t */
	double init_scale;      /* normal and uniform only */
	int init_biases;        /* 1: biases drawn as the weights are; 0: zero */
	int normalize;          /* nncc_norm_t */
	int threads;            /* 0 = number of cores */
	const char *data_dir;   /* directory of the data files (may be NULL) */
	/* NNCC_FILE_*; NULL = the default name.  CSV: the training and test
	 * files are files[NNCC_FILE_TRAIN_IMAGES] and [NNCC_FILE_TEST_IMAGES]. */
	const char *files[NNCC_DATA_FILES];
	int format;             /* nncc_format_t */
	nncc_csv_spec_t csv;    /* format csv */
	nncc_pretrain_config_t pretrain; /* the YAML's `pretrain` (epochs 0: none) */
} nncc_config_t;

typedef struct nncc_model {
	int abi_version;         /* NNCC_ABI_VERSION */
	const char *name;        /* network name: a C identifier */
	const char *source;      /* the YAML path as given to nncc */
	const char *source_sha256;
	const char *nncc_version;
	int dtype;               /* nncc_dtype_t */
	size_t n_inputs, n_outputs;
	size_t n_layers;
	const nncc_layer_t *layers;
	size_t n_params;
	uint64_t shape_hash;     /* nncc_shape_hash() of the layer list */
	size_t max_batch;        /* tile size: every entry point takes n <= max_batch */
	void *params;            /* n_params reals */
	void *grads;             /* n_params reals, same layout as params */
	/* The optimizer: its name, hyper-parameters and per-parameter state,
	 * n_state slots of n_params reals (slot k at k * n_params, each laid
	 * out as params); state is NULL when n_state is 0. */
	const char *optimizer;
	size_t n_hparams;
	const nncc_hparam_t *hparams;
	size_t n_state;
	void *state;
	const char *loss_name;   /* the loss's YAML word: "cross_entropy", "squared_error" */
	/* What the entry points' y holds: 0, the labels (int32_t[n], classes
	 * 0..n_outputs-1); > 0 (= n_outputs), regression: the targets,
	 * real[n][n_targets]. */
	size_t n_targets;
	nncc_config_t config;

	/* Forward pass for n samples x[n][n_inputs]; fills every layer's ACT. */
	void (*forward)(size_t n, const void *x);
	/* Sum over the tile of the loss, after forward(); y: labels or targets
	 * (n_targets). */
	double (*loss)(size_t n, const void *y);
	/* After forward() on the same x: computes every DELTA and the gradient
	 * SUMS over the tile into grads (grads = ... if !accumulate, grads += ...
	 * if accumulate).  The batch mean is grads / batch. */
	void (*backward)(size_t n, const void *x, const void *y, int accumulate);
	/* The optimizer's step on params (and state) with the gradient sums in
	 * grads over u->batch samples. */
	void (*update)(const nncc_update_t *u);
	/* forward + backward + update on one tile of n = u->batch samples;
	 * returns the tile's loss sum before the update.  Same bits as the
	 * three calls above; fused (grads is left unspecified). */
	double (*step)(size_t n, const void *x, const void *y, const nncc_update_t *u);
	/* Pointer to a per-layer buffer (see nncc_tensor_t), or NULL. */
	void *(*tensor)(int which, size_t layer);
	/* Threads used by the entry points (0 = all cores); returns the number in
	 * use.  Results do not depend on it.  May be NULL (single-threaded). */
	int (*set_threads)(int n);
	/* The dropout masks of the forward() and backward() calls that follow
	 * (docs/trainer.md#dropout): those of update `step` (1-based) of a run
	 * seeded with `seed`, for a tile whose first sample is sample `first` of
	 * its batch.  step 0 (the state a model starts in) is evaluation: every
	 * dropout layer is the identity.  step() draws its masks from its
	 * nncc_update_t (seed, step, first 0) and leaves evaluation behind it.
	 * NULL in a model without dropout layers (nncc generates it only for
	 * models with them). */
	void (*mask_key)(uint64_t seed, uint64_t step, size_t first);

	/* Pre-training (nncc_pretrain_config_t): n_pretrain autoencoders, in the
	 * order they train, their decoders' parameters after the network's. */
	size_t n_pretrain;
	const nncc_pretrain_t *pretrain;
	size_t n_pretrain_params;
	/* One step of autoencoder i on a tile of n = u->batch samples x (the
	 * network's inputs): the layers below its encoder (evaluation mode),
	 * the input corrupted by config.pretrain.noise (masks keyed by u->seed,
	 * u->step), encoder and decoder, the reconstruction loss against the
	 * clean input, backward, then SGD (with momentum u->hparams[0] when
	 * not NULL and > 0; u->step 1 starts the velocity at 0) on the
	 * encoder's and the decoder's tensors.  Returns the tile's loss sum
	 * before the update.  NULL when n_pretrain is 0. */
	double (*pretrain_step)(size_t i, size_t n, const void *x, const nncc_update_t *u);
	/* pretrain_step's two halves (the step is the one, then the other), for
	 * a batch cut into chunks (docs/scaling.md): the gradient sums of
	 * autoencoder i over a tile of n <= max_batch samples x whose row s is
	 * sample first + s of its batch (its noise mask), into grads (the
	 * encoder's and the decoder's tensors; the rest untouched), returning
	 * the tile's loss sum; and the update from the gradient sums in grads
	 * over u->batch samples.  NULL when n_pretrain is 0. */
	double (*pretrain_grad)(size_t i, size_t n, const void *x, const nncc_update_t *u,
	                        size_t first);
	void (*pretrain_update)(size_t i, const nncc_update_t *u);

	/* The bytes of the generated file's static buffers (parameters and
	 * gradients with pre-training's, the optimizer's state, every layer's
	 * tile buffers, the decoders' and pre-training's velocity), and of its
	 * per-thread scratch for each thread in use: the model's part of what
	 * the driver's memory plan counts (--max-memory).  0 in a model made by
	 * hand: the driver then estimates from the sizes above. */
	size_t static_bytes;
	size_t thread_bytes;

	/* step() as part of a step shared by processes (nncc_part_t), over the
	 * whole tile of n = u->batch <= max_batch samples, x and y the same in
	 * every part, on the calling thread; returns the tile's loss sum (every
	 * part the same), NAN when meet() failed.  The same bits as step(). */
	double (*step_part)(size_t n, const void *x, const void *y, const nncc_update_t *u,
	                    const nncc_part_t *p);
	/* What the parts share: regions [0, shared_params) hold the parameters
	 * and the optimizer's state, [shared_params, n_shared) the network's
	 * layer buffers (not grads, nor pre-training's decoders).  n_shared 0
	 * when the compiler could not align them (not GNU C): step_part is not
	 * usable then. */
	size_t n_shared, shared_params;
	const nncc_region_t *shared;
} nncc_model_t;

/* ---- Errors: runtime functions return 0 or -1 and fill an nncc_err_t. */
typedef struct nncc_err {
	char msg[512];
} nncc_err_t;

void nncc_err_set(nncc_err_t *err, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

/* ---- rng.c: xoshiro256** seeded by splitmix64; bit-reproducible. */
typedef struct nncc_rng {
	uint64_t s[4];
} nncc_rng_t;

void nncc_rng_seed(nncc_rng_t *r, uint64_t seed);
uint64_t nncc_rng_next(nncc_rng_t *r);
double nncc_rng_uniform(nncc_rng_t *r);           /* [0, 1) with 53 bits */
double nncc_rng_normal(nncc_rng_t *r);            /* N(0,1) */
size_t nncc_rng_below(nncc_rng_t *r, size_t n);   /* uniform in [0, n) */
void nncc_rng_shuffle(nncc_rng_t *r, size_t *idx, size_t n);

/* ---- idx.c, csv.c: data sets (raw or gzip'd files). */
typedef struct nncc_dataset {
	size_t n;            /* samples */
	size_t dim;          /* inputs per sample (IDX: rows*cols pixels) */
	size_t rows, cols;   /* IDX: the image's; CSV: 1 x dim */
	uint8_t *pixels;     /* IDX: n * dim bytes, owned; NULL for CSV */
	double *values;      /* CSV: n * dim features, owned; NULL for IDX */
	int32_t *labels;     /* n, owned (regression: NULL) */
	double *targets;     /* CSV regression: n * n_targets, owned; else NULL */
	size_t n_targets;
	size_t n_classes;    /* max label + 1, or the number of class names */
	char **class_names;  /* CSV with string labels: n_classes names, owned; else NULL */
} nncc_dataset_t;

/* Loads an image file (idx3, ubyte) and its label file (idx1, ubyte). Each
 * path is tried as given, then with ".gz" appended. */
int nncc_dataset_load(nncc_dataset_t *ds, const char *images, const char *labels,
                      nncc_err_t *err);
void nncc_dataset_fini(nncc_dataset_t *ds);

/* Loads a CSV file as `spec` says, with `dim` features (a file with another
 * number is refused).  Labels: with classes (n_classes names, from the spec,
 * a training set or a weight file), each label must be one of them; without,
 * labels that are all integers >= 0 are the classes, else the sorted set of
 * distinct labels is (ds->class_names).  Errors name FILE:LINE:COL. */
int nncc_csv_load(nncc_dataset_t *ds, const char *path, const nncc_csv_spec_t *spec,
                  size_t dim, const char *const *classes, size_t n_classes, nncc_err_t *err);

/* ---- norm.c: the data's encoding: the input normalisation, computed on
 * the training set, and the class names of string labels (CSV). */
#define NNCC_CLASS_NAME_MAX 256   /* bytes in a class name */
typedef struct nncc_norm_stats {
	int kind;            /* nncc_norm_t */
	size_t dim;
	double *mean;        /* dim entries (both STANDARDIZEs), else NULL; owned */
	double std;          /* STANDARDIZE: std of the centred data, else 1 */
	double *stds;        /* STANDARDIZE_FEATURES: dim entries, else NULL; owned */
	size_t n_classes;    /* 0, or the class names' count (<= the network's outputs) */
	char **class_names;  /* class k's name, owned; NULL when n_classes is 0 */
} nncc_norm_stats_t;

int nncc_norm_fit(nncc_norm_stats_t *st, int kind, const nncc_dataset_t *train,
                  nncc_err_t *err);
/* out: n*dim reals of the given dtype, from pixels (IDX) or values (CSV). */
void nncc_norm_apply(const nncc_norm_stats_t *st, int dtype, void *out,
                     const uint8_t *pixels, size_t n);
void nncc_norm_apply_values(const nncc_norm_stats_t *st, int dtype, void *out,
                            const double *values, size_t n);
void nncc_norm_fini(nncc_norm_stats_t *st);

/* ---- weights.c: weight files (docs/weights.md). */
typedef struct nncc_weights_meta {
	double test_accuracy;      /* NaN when unknown */
	uint64_t iterations;       /* iterations trained */
} nncc_weights_meta_t;

/* FNV-1a 64 over the canonical text of the architecture and dtype, e.g.
 * "nncc-shape f32 in=784 dense:784:50:sigmoid softmax:10:10" (weights.md). */
uint64_t nncc_shape_hash_layers(const nncc_layer_t *layers, size_t n_layers,
                                size_t n_inputs, int dtype);
uint64_t nncc_shape_hash(const nncc_model_t *m);
/* init: nncc_init_t; scale: normal's and uniform's; biases: 1 drawn, 0 zero. */
void nncc_init_params(const nncc_model_t *m, int init, double scale, int biases,
                      uint64_t seed);
/* The spread of a tensor's draws: normal's standard deviation or uniform's
 * bound (scale for normal and uniform; torch.nn.init's for the others). */
double nncc_init_spread(int init, double scale, const nncc_param_t *p);

/* Optimizer state and training position: what an exact resume needs (the
 * OPTIM and POSITION sections of a weight file). */
typedef struct nncc_checkpoint {
	int has_optim;          /* OPTIM section present / to be written */
	char optimizer[32];     /* its name: 1-31 printable ASCII characters, NUL-padded */
	uint64_t step;          /* updates applied (the optimizer's t) */
	size_t n_state;         /* state slots of n_params reals each (model dtype) */
	void *state;            /* n_state * n_params reals, slot after slot;
	                           save: the caller's; read/load: malloc'd (NULL if
	                           empty), owned */
	int has_position;       /* POSITION section present / to be written */
	uint64_t epoch;         /* completed passes over the training set */
	uint64_t sample;        /* index of the next sample within the pass */
	uint64_t rng[4];        /* the shuffle generator's state (nncc_rng_t.s) */
	size_t n_perm;          /* 0 when not shuffling */
	uint32_t *perm;         /* the pass's order, a permutation of 0..n_perm-1;
	                           save: the caller's; read/load: malloc'd (NULL if
	                           empty), owned */
	/* The BEST section: validation's record so far, for runs that hold
	 * out a validation set. */
	int has_best;           /* BEST section present / to be written */
	uint64_t n_train, n_val; /* the split: samples trained on, held out */
	int metric;             /* nncc_metric_t the best pass is chosen by */
	int stopped;            /* 1: early stopping ended the training */
	uint64_t best_epoch;    /* the best pass so far (1-based), 0 = none yet */
	uint64_t wait;          /* passes since it without improvement */
	double best_loss, best_accuracy; /* its validation loss and accuracy */
	size_t n_best;          /* 0, or n_params (early stopping on) */
	void *best;             /* the weights after the best pass, n_best reals;
	                           save: the caller's; read/load: malloc'd (NULL if
	                           empty), owned */
	/* The WINDOWS section: a shuffled position of a training set streamed
	 * in more than one window (docs/trainer.md#the-streamed-shuffle); the
	 * POSITION section then has epoch, sample and rng, and n_perm 0. */
	size_t window;          /* W, samples a window; 0: no WINDOWS section */
	size_t n_windows;       /* ceil(N / W) */
	uint64_t window_pos;    /* the current window's place in the pass's order */
	uint64_t window_at;     /* the next sample's place within that window */
	uint32_t *order;        /* [n_windows] the pass's window order */
	size_t n_wperm;         /* W + N mod W */
	uint32_t *wperm;        /* the full windows' permutation (W entries), then the
	                           tail's (N mod W); save: the caller's, as order;
	                           read/load: malloc'd, owned */
	/* The RECIPE section: what else decides the bits of the next updates,
	 * so that a resume with other values can say it is not the saved
	 * run's continuation. */
	int has_recipe;         /* RECIPE section present / to be written */
	uint64_t batch;         /* samples per update (resolved: full batch = n_train) */
	uint64_t chunks;        /* chunks per batch (--chunks), 0 = one chain (as 1 is) */
	uint64_t seed;          /* --seed: the dropout masks' (the shuffle's is in rng) */
	int whole_passes;       /* 1: epochs mode (a pass's last batch shorter), 0: iterations */
} nncc_checkpoint_t;

/* Frees what a read or load allocated; NULL-safe; leaves *ck zeroed. */
void nncc_checkpoint_fini(nncc_checkpoint_t *ck);

/* Writes format version 2.  norm NULL: kind none; meta NULL: accuracy NaN,
 * 0 iterations; ck NULL: no OPTIM, POSITION, BEST or RECIPE section. */
int nncc_weights_save(const nncc_model_t *m, const char *path,
                      const nncc_norm_stats_t *norm, const nncc_weights_meta_t *meta,
                      const nncc_checkpoint_t *ck, nncc_err_t *err);
/* Loads a version 1 or 2 file into m->params.  norm receives the stored
 * statistics, meta the metadata, ck the OPTIM, POSITION, BEST and RECIPE
 * sections (has_optim, has_position, has_best and has_recipe 0 when
 * absent).  Each may be NULL (not wanted); each is
 * overwritten, not freed first, and written only if the whole load succeeds. */
int nncc_weights_load(const nncc_model_t *m, const char *path,
                      nncc_norm_stats_t *norm, nncc_weights_meta_t *meta,
                      nncc_checkpoint_t *ck, nncc_err_t *err);

/* Whole-file reader that needs no model (used by `nncc --infer`). */
typedef struct nncc_weights_file {
	int version;               /* 1 or 2 */
	int dtype;
	uint64_t shape_hash;
	size_t n_params;
	double *params;            /* n_params, converted exactly to double; owned */
	nncc_norm_stats_t norm;    /* owned */
	nncc_weights_meta_t meta;
	nncc_checkpoint_t ck;      /* owned; state in the file's dtype */
} nncc_weights_file_t;

int nncc_weights_read(nncc_weights_file_t *wf, const char *path, nncc_err_t *err);
void nncc_weights_file_fini(nncc_weights_file_t *wf);

/* ---- train.c: the training loop and evaluation, for the driver, the
 * benchmarks and the tests (docs/runtime-abi.md). */

/* Where a streamed training set's windows come from: read(ctx, first, k,
 * raw, y, err) puts samples first .. first + k - 1 as read (raw_bytes each,
 * e.g. pixels) in raw and their labels or targets in y; 0, or -1 with err
 * set.  convert(ctx, raw, k, x) turns k such samples into the model's
 * reals: the stream converts a tile's samples as it hands them out, so
 * the window holds the file's bytes and the reals stay in the cache.
 * seekable 0: windows can only be read in file order (a gzip'd file without
 * its index of access points), so the stream keeps the windows in file
 * order. */
typedef struct nncc_window_src {
	int (*read)(void *ctx, size_t first, size_t k, void *raw, void *y, nncc_err_t *err);
	void (*convert)(void *ctx, const void *raw, size_t k, void *x);
	void *ctx;
	size_t raw_bytes;        /* bytes of one sample as read */
	size_t window;           /* W: samples a window holds (the last may hold fewer) */
	int seekable;
	size_t piece;            /* file order: samples read at a time, at least a tile;
	                            0: about 256 KiB's worth */
} nncc_window_src_t;

/* The training stream: the samples of a data set repeated end to end, in
 * file order or in a fresh permutation per pass (nncc_rng_shuffle of the
 * previous pass's order, seeded once).  The data set is in memory, or
 * streamed: read from its source a window of W consecutive samples at a
 * time, the pass taking the windows in a shuffled order and each window's
 * samples in a shuffled order (docs/trainer.md#the-streamed-shuffle).  It
 * hands out tiles of up to max_batch samples: a pointer into the data when
 * they are consecutive, else gathered into its scratch tile. */
typedef struct nncc_stream {
	const char *x;           /* [n][row_bytes] inputs, the model's reals; streamed: the
	                            window's [W][src.raw_bytes] as read */
	const char *y;           /* [n][y_bytes] labels (int32_t) or targets (reals);
	                            streamed: the window's [W] */
	size_t n, row_bytes, y_bytes, max_batch;
	size_t pos;              /* next sample of the pass, < n */
	uint64_t epoch;          /* passes completed */
	size_t *perm;            /* [n] this pass's order, or NULL (file order); streamed:
	                            the current window's permutation (wperm or tperm) */
	nncc_rng_t rng;          /* the shuffle's generator */
	void *tile_x;            /* [max_batch] gathered inputs */
	void *tile_y;            /* [max_batch] their labels or targets */
	void *tile_raw;          /* streamed: [max_batch][src.raw_bytes] gathered as read */
	/* Streamed (src.read set); W = src.window. */
	nncc_window_src_t src;
	size_t n_windows;        /* ceil(n / W) */
	size_t wpos;             /* the current window's place in order */
	size_t at, wlen;         /* its next sample, its length */
	size_t loaded;           /* the window whose samples are in x and y, or SIZE_MAX */
	size_t lo, ready;        /* its samples lo .. ready - 1 are, from x and y on */
	size_t piece;            /* samples x holds: W when shuffled or one window, else
	                            (file order) a few tiles, read just ahead of them */
	size_t *order;           /* [n_windows] the pass's window order (shuffling), or NULL */
	size_t *wperm, *tperm;   /* [W] the full windows' order, [n mod W] the tail's */
	int failed;              /* a window could not be read: err says why */
	nncc_err_t err;
	struct nncc_stream_ahead *ahead;   /* the read-ahead thread, or NULL */
	size_t want;             /* samples the caller will take next, or 0 (nncc_stream_want) */
	size_t rank, ranks;      /* shared (nncc_stream_share): a window's part read, of how many;
	                            else 0 */
} nncc_stream_t;

/* The stream over x (n samples of m's inputs) and y (their labels, or
 * targets when m->n_targets), shuffled with `seed` when `shuffle`; -1 (out
 * of memory) or 0.  nncc_stream_fini frees it. */
int nncc_stream_init(nncc_stream_t *s, const nncc_model_t *m, const void *x, const void *y,
                     size_t n, int shuffle, uint64_t seed, nncc_err_t *err);
/* The stream over a streamed training set of n samples, read a window at a
 * time from src (see nncc_window_src_t); with shuffle, the window order is
 * shuffled when src is seekable.  One window of n samples (src.window >=
 * n) is the in-memory stream over them, draw for draw. */
int nncc_stream_init_windows(nncc_stream_t *s, const nncc_model_t *m, const nncc_window_src_t *src,
                             size_t n, int shuffle, uint64_t seed, nncc_err_t *err);
/* The next k <= max_batch samples; *y receives their labels or targets.
 * NULL when a streamed window cannot be read (s->failed, s->err). */
const void *nncc_stream_next(nncc_stream_t *s, size_t k, const void **y);
/* Moves past the next k samples without reading them (another process
 * trains on them: docs/scaling.md); the same position and order after it
 * as after nncc_stream_next's. */
void nncc_stream_skip(nncc_stream_t *s, size_t k);
/* In memory (nncc_stream_init): moves past the next k samples as
 * nncc_stream_skip does, writing their indices (rows of x) into idx: the
 * samples nncc_stream_next would have handed out, in order.  A sharded run
 * (docs/scaling.md#shards) draws its batches' samples so and gets those it
 * does not hold from the ranks that do. */
void nncc_stream_indices(nncc_stream_t *s, size_t k, size_t *idx);
/* The caller will take the next n samples (nncc_stream_next) and may skip
 * the ones after them: streamed in file order, the stream then reads no
 * further ahead than those n (a rank of a data-parallel run, which reads
 * only its chunks' samples: docs/scaling.md), where it would read a whole
 * piece.  It lasts until they are taken or a skip; the same samples either
 * way.  Changes nothing in memory, when shuffled (a window is read whole)
 * or with the read-ahead. */
void nncc_stream_want(nncc_stream_t *s, size_t n);
/* Rank `rank` of `ranks`'s tiles of n samples (tiles of mb), as an
 * evaluation cuts them: samples *first .. *end - 1 (tiles floor(T rank /
 * ranks) .. floor(T (rank + 1) / ranks) - 1 of the T = ceil(n / mb)). */
void nncc_tiles_held(size_t n, size_t mb, size_t rank, size_t ranks, size_t *first, size_t *end);
/* The most samples any rank's tiles of n hold (nncc_tiles_held). */
size_t nncc_tiles_most(size_t n, size_t mb, size_t ranks);
/* Streamed and shuffled, under MPI (docs/scaling.md#shards): from here on
 * the stream reads only rank `rank` of `ranks`'s part of each window (its
 * tiles of the window's samples: nncc_tiles_held) and hands out nothing:
 * nncc_stream_draw moves it.  Its buffers shrink to the largest part.
 * Nothing changes in file order (a rank reads only its chunks' samples
 * there: nncc_stream_want), in memory, or for ranks < 2. */
void nncc_stream_share(nncc_stream_t *s, size_t rank, size_t ranks);
/* Streamed and shuffled: moves past the next sample as nncc_stream_skip(s,
 * 1) does; *holder receives the rank whose part of its window holds it (0
 * when not shared) and, when that is this rank, *x and *y the sample as
 * read and its label or targets, valid until the next call (else NULL).
 * -1 when the part cannot be read (s->failed, s->err). */
int nncc_stream_draw(nncc_stream_t *s, size_t *holder, const void **x, const void **y);
/* File order over several windows: from here on a thread of its own reads
 * each piece while the one before it trains (for a run that leaves a core
 * free; src.read must not share its ctx with anything else meanwhile).  The
 * same samples in the same order; two pieces' buffers instead of one, which
 * must fit in a window's room, else nothing changes.  1 (started), 0 (not
 * for this stream; or the thread did not start, when err's message is not
 * empty: the training thread reads, as without), -1 (out of memory, err
 * says: the stream is unchanged). */
int nncc_stream_read_ahead(nncc_stream_t *s, nncc_err_t *err);
void nncc_stream_fini(nncc_stream_t *s);

/* Where the stream stands, as a weight file's POSITION section: fills
 * ck's has_position, epoch, sample, rng, n_perm and perm (malloc'd when
 * shuffling: the caller frees ck->perm), and for a shuffled stream of
 * several windows the WINDOWS fields (order and wperm malloc'd: the caller
 * frees them too).  -1 (out of memory, or a training set too large for u32
 * indices) or 0. */
int nncc_stream_tell(const nncc_stream_t *s, nncc_checkpoint_t *ck, nncc_err_t *err);
/* Puts the stream where ck's position says: pass, sample, generator and
 * order.  Refuses (-1, message in err, stream unchanged) a checkpoint
 * without a position, a file-order position for a shuffled stream or the
 * other way round, a permutation of another length, a sample past the
 * data, and a shuffled position of other windows (another W, or several
 * windows against one, or in memory). */
int nncc_stream_seek(nncc_stream_t *s, const nncc_checkpoint_t *ck, nncc_err_t *err);

/* One optimizer step on the next u->batch samples of the stream: one fused
 * step() when the batch fits a tile, else forward + backward over
 * consecutive tiles (gradients accumulated) and one update().  Returns the
 * batch's loss sum, computed before the update. */
double nncc_train_batch(const nncc_model_t *m, nncc_stream_t *s, const nncc_update_t *u);

/* The same with the gradient clipped by its global norm (PyTorch's
 * clip_grad_norm_ on the batch MEAN): forward + backward over the batch's
 * tiles (never the fused step()), then with n = nncc_grad_norm(m) / batch,
 * c = max_norm / (n + 1e-6), the gradient sums are scaled by c when c < 1
 * (nncc_grads_scale), then update().  max_norm <= 0 is nncc_train_batch.
 * *norm (may be NULL) receives n, NaN when max_norm <= 0. */
double nncc_train_batch_clip(const nncc_model_t *m, nncc_stream_t *s, const nncc_update_t *u,
                             double max_norm, double *norm);
/* forward + loss + backward over the stream's next n samples, tile after
 * tile, the gradient SUMS over them in grads (the first tile sets them,
 * the others accumulate: one chain per element), the dropout masks those
 * of samples first..first+n-1 of update u->step's batch; returns their
 * loss sum.  n = 0 leaves grads alone and returns 0. */
double nncc_batch_gradient(const nncc_model_t *m, nncc_stream_t *s, const nncc_update_t *u,
                           size_t first, size_t n);
/* After the gradient sums of u->batch samples are in grads: clipped as
 * nncc_train_batch_clip says when max_norm > 0 (*norm, may be NULL: the
 * norm, NaN when max_norm <= 0), then update(). */
void nncc_clip_update(const nncc_model_t *m, const nncc_update_t *u, double max_norm,
                      double *norm);
/* sqrt(sum_k grads[k]^2) over the whole gradient block, in double: eight
 * partial sums s[k mod 8], added pairwise ((s0+s1)+(s2+s3))+((s4+s5)+(s6+s7)). */
double nncc_grad_norm(const nncc_model_t *m);
/* grads[k] *= (real)c for every k. */
void nncc_grads_scale(const nncc_model_t *m, double c);

/* One evaluation of the model over a whole data set. */
typedef struct nncc_eval {
	double loss;                 /* mean loss */
	size_t correct, n;           /* classification */
	double sse, sae;             /* regression: sums of squared and absolute errors
	                                over the n * n_targets outputs: each tile's a
	                                chain of its own, added in tile order */
	size_t *confusion;           /* K*K counts [true][predicted], or NULL; caller's */
	double *tile_err;            /* regression, or NULL: tile t's two sums at
	                                [2 (t - t0)] and [2 (t - t0) + 1]; caller's */
} nncc_eval_t;

/* Forward over n samples in tiles: mean loss, accuracy (the argmax, ties to
 * the lowest class) and, if ev->confusion is set, the confusion counts;
 * for regression (m->n_targets) the error sums instead. */
void nncc_evaluate(const nncc_model_t *m, const void *x, const void *y, size_t n,
                   nncc_eval_t *ev);
/* nncc_evaluate's work on tiles t0 .. t1-1 of the n samples (tile t is
 * samples t max_batch .. min(n, (t+1) max_batch) - 1): adds to ev's
 * correct, confusion (when set) or error sums (and stores each tile's in
 * ev->tile_err when set), stores tile t's loss sum in tile_loss[t - t0]
 * (when not NULL) and returns their sum, added in tile order.  nncc_evaluate is this over every tile, ev zeroed first. */
double nncc_evaluate_tiles(const nncc_model_t *m, const void *x, const void *y, size_t n,
                           size_t t0, size_t t1, double *tile_loss, nncc_eval_t *ev);
/* ev before nncc_evaluate_tiles's first call over n samples: no samples
 * counted yet, the confusion counts (when set) zero. */
void nncc_eval_reset(const nncc_model_t *m, size_t n, nncc_eval_t *ev);
/* Regression's figures: sqrt(sse / (n K)) and sae / (n K). */
double nncc_eval_rmse(const nncc_model_t *m, const nncc_eval_t *ev);
double nncc_eval_mae(const nncc_model_t *m, const nncc_eval_t *ev);
/* The argmax of sample b's output after forward() (the first on ties). */
size_t nncc_predict(const nncc_model_t *m, size_t b);

/* ---- sha256.c */
void nncc_sha256(const void *data, size_t len, uint8_t out[32]);
void nncc_sha256_hex(const void *data, size_t len, char out[65]);

/* ---- driver.c: the generated trainer's main(). */
int nncc_main(int argc, char **argv, const nncc_model_t *m);

#ifdef __cplusplus
}
#endif
#endif
