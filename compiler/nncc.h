/*
 * nncc.h - the compiler's one internal header: the IR and each file's
 * exports, under a heading per file.
 *
 * Pipeline: yaml.c (libyaml -> Node tree with marks) -> model.c (validate ->
 * Model, with the rows of kinds.c and optim.c) -> plan.c (Model -> Plan:
 * names, tiles, work units) -> emit.c (Plan -> trainer C, through tmpl.c
 * and the built-in templates); export.c (Model + weights -> inference C).
 * All compiler memory comes from the Ctx's arena and is freed once.
 * Vocabulary: Loc = 1-based file:line:col; IN/OUT = layer widths.
 */
#ifndef NNCC_COMPILER_H
#define NNCC_COMPILER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../runtime/nncc.h"  /* the runtime ABI: dtype, norm and init values */

#define NNCC_VERSION "0.1.0"

#define NNCC_UNREACHABLE() nncc_unreachable(__FILE__, __LINE__)

/* Upper bounds checked by validation (overflow safety, not policy). */
#define NNCC_MAX_UNITS ((size_t)1 << 24)
#define NNCC_MAX_LAYERS 64
#define NNCC_MAX_PARAMS ((size_t)1 << 31)
/* The largest tile the trainer compiles in (MAX_BATCH); bigger batches are
 * accumulated tile by tile (plan.c). */
#define PLAN_MAX_TILE 256

#define NNCC_PRINTF(a, b) __attribute__((format(printf, a, b)))

typedef struct Loc {
	const char *file;  /* as given on the command line */
	int line, col;     /* 1-based; 0 when unknown */
} Loc;

/* ---- arena.c: bump allocator, freed once. Allocation failure aborts with a
 * message (the compiler cannot continue without memory). */
typedef struct Arena Arena;

Arena *arena_new(void);
void arena_free(Arena *a);                 /* arena_free(NULL) is a no-op */
void *arena_alloc(Arena *a, size_t size);  /* zeroed, max-aligned */
/* "nncc: out of memory (allocating N bytes)" and exit 1: the compiler's one
 * answer to a failed allocation. */
_Noreturn void nncc_oom(size_t size);
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...) NNCC_PRINTF(2, 3);

/* ---- diag.c: diagnostics.  Everything the compiler says goes to ctx->err. */
typedef struct Ctx {
	Arena *arena;
	FILE *err;          /* diagnostics stream (stderr in nncc) */
	const char *src;    /* text of the YAML being compiled, for caret lines */
	size_t src_len;
	const char *src_file; /* the path src is the text of: carets only for its Locs */
	size_t n_errors;    /* all errors, shown or not */
} Ctx;

/* Bounds on what one compilation prints, whatever its input. */
enum {
	DIAG_MAX_SHOWN = 20,       /* errors shown; the rest are counted */
	DIAG_MSG_MAX = 1024,       /* bytes of one message */
	DIAG_LINE_WINDOW = 160,    /* bytes of a source line around the column */
};

void ctx_init(Ctx *ctx, FILE *err);
void ctx_fini(Ctx *ctx);
/* "file:line:col: error: message", then the source line and a caret. */
void diag_error(Ctx *ctx, Loc loc, const char *fmt, ...) NNCC_PRINTF(3, 4);
void diag_verror(Ctx *ctx, Loc loc, const char *fmt, va_list ap);
/* "nncc: error: message" for errors without a location (files, options). */
void diag_fatal(Ctx *ctx, const char *fmt, ...) NNCC_PRINTF(2, 3);
/* "nncc: and N more errors not shown" when more than DIAG_MAX_SHOWN were reported. */
void diag_summary(Ctx *ctx);
_Noreturn void nncc_unreachable(const char *file, int line);
/* libyaml's 0-based line/column -> a 1-based Loc (the one place this happens). */
Loc diag_loc_from_mark(const char *file, size_t line0, size_t col0);
/* Reads a whole file into the arena (NUL-terminated); NULL + diagnostic on error. */
char *read_file(Ctx *ctx, const char *path, size_t *len);

/* ---- yaml.c: YAML text -> Node tree. Anchors/aliases and tags are errors. */
/* NODE_ANY is never a node's kind: a Field of that kind takes any node and
 * its handler checks the kind itself. */
typedef enum NodeKind { NODE_SCALAR, NODE_MAP, NODE_SEQ, NODE_ANY } NodeKind;

typedef struct Node Node;
struct Node {
	NodeKind kind;
	Loc loc;            /* where the node starts */
	const char *str;    /* NODE_SCALAR: the value */
	bool quoted;        /* NODE_SCALAR: was quoted (so never a number/bool) */
	size_t n;           /* NODE_MAP: pairs; NODE_SEQ: items */
	Node **keys;        /* NODE_MAP: scalar keys */
	Node **items;       /* NODE_MAP: values; NODE_SEQ: items */
};

/* Parses `src` (the text of `path`); NULL after a diagnostic. Duplicate map
 * keys are errors. */
Node *yaml_parse(Ctx *ctx, const char *path, const char *src, size_t len);
const char *node_kind_name(NodeKind k);   /* "a scalar", "a mapping", ... */

/* ---- model.c: the validated IR. */

/* Activations: the rows of runtime/nncc_act.h (one definition for the
 * compiler, the generated code and the docs). */
#include "../runtime/nncc_act.h"

typedef enum Activation {
#define X(ID, name, fwd, deriv, gain) ACT_##ID,
	NNCC_ACTIVATIONS(X)
#undef X
	ACT_COUNT
} Activation;

typedef struct ActivationInfo {
	const char *id;        /* its id in the generated code: "ACT_SIGMOID" */
	const char *name;      /* YAML word */
	const char *forward;   /* f(x), as written in nncc_act.h */
	const char *deriv;     /* f'(x) in terms of y = f(x) */
	double gain;           /* torch.nn.init.calculate_gain's */
} ActivationInfo;

extern const ActivationInfo activation_table[ACT_COUNT];

/* Layer kinds, optimizers and losses are rows of tables (kinds.c,
 * optim.c), named by their YAML words: no enum lists them a second time.
 * The IR points at the rows. */
typedef struct KindInfo KindInfo;
typedef struct OptimizerInfo OptimizerInfo;
typedef struct LossInfo LossInfo;

/* One parameter tensor of a layer: a (rows, cols) row-major block of the
 * parameter array (and, at the same offsets, of the gradient and of every
 * optimizer state slot). */
typedef struct Tensor {
	const char *name;     /* "W", "b" */
	size_t offset, size;  /* elements into the parameter block; size = rows * cols */
	size_t rows, cols;    /* a vector is 1 x n */
	bool bias;            /* a bias: weight decay can leave it out */
	size_t fan_in, fan_out; /* the init rule's sizes (nncc_param_t) */
	double gain;          /* and its activation's gain */
} Tensor;

#define NNCC_MAX_TENSORS 4

typedef struct Layer {
	const KindInfo *kind; /* its row of kind_table; NULL until its `type` parsed */
	Loc loc;              /* the layer's mapping in the YAML */
	const char *name;     /* given, or "layerN" (1-based) */
	size_t in, out;
	Activation act;       /* kinds with an `activation` key; else ACT_LINEAR */
	double rate;          /* dropout: the probability of dropping a unit, [0, 1) */
	Tensor tensors[NNCC_MAX_TENSORS]; /* its parameters, in storage order */
	size_t n_tensors;
	size_t n_params;      /* sum of the tensors' sizes */
} Layer;

typedef enum DType { DTYPE_F32 = NNCC_F32, DTYPE_F64 = NNCC_F64 } DType;

typedef struct Training {
	Loc loc;
	const OptimizerInfo *optimizer;
	double hparams[NNCC_MAX_HPARAMS]; /* the optimizer's, in its row's order */
	double learning_rate;
	nncc_schedule_t schedule; /* a row of the runtime's nncc_schedules and its keys */
	double clip_norm;      /* 0 = no clipping */
	double validation;     /* held out: 0 = none, >= 1 a count, (0, 1) a fraction */
	size_t patience;       /* early stopping: 0 = off */
	int metric;            /* nncc_metric_t */
	double min_delta;
	size_t batch_size;     /* 0 = full batch */
	size_t iterations;     /* exactly one of iterations/epochs is non-zero */
	size_t epochs;
	uint64_t seed;
	bool shuffle;
	int init;              /* nncc_init_t */
	double init_scale;     /* normal and uniform only */
	int init_biases;       /* 1: drawn as the weights, 0: zero (an enum field) */
	int threads;           /* 0 = all cores */
} Training;

typedef struct Data {
	const char *dir;       /* may be NULL */
	/* IDX: train images/labels, test images/labels; CSV: the training file
	 * in [NNCC_FILE_TRAIN_IMAGES], the test file in [NNCC_FILE_TEST_IMAGES]. */
	const char *files[NNCC_DATA_FILES];
	int normalize;         /* nncc_norm_t */
	int format;            /* nncc_format_t */
	Loc format_loc;
	const char *train, *test; /* CSV files as given (NULL: not given) */
	nncc_csv_spec_t csv;   /* format csv */
	const Node *csv_key;   /* the first CSV-only key given, for format idx's message */
	Loc classes_loc, targets_loc;
} Data;

/* pretrain: greedy layer-wise autoencoders (docs/format.md#pretrain).  Each
 * pre-trained layer (a dense layer below the output layer) gets a decoder,
 * a dense layer OUT -> IN with a sigmoid, whose tensors follow the
 * network's parameters (offsets from Model.n_params on). */
typedef struct Pretrain {
	Loc loc;                   /* the mapping; line 0 when there is none */
	Loc batch_loc, loss_loc;   /* its batch_size's and loss's values, or loc */
	nncc_pretrain_config_t c;  /* epochs 0: no pre-training */
	int optimizer;             /* 0 sgd, 1 momentum (the YAML's word) */
	bool tied;                 /* `tied` (c.tied once checked) */
	const Node *layers_node;   /* `layers`, resolved once the network has its shape */
	size_t n;                  /* autoencoders */
	size_t *layer;             /* each one's encoder, 0-based */
	Layer *decoder;            /* each one's decoder */
	size_t n_params;           /* the decoders' parameters */
} Pretrain;

typedef struct Model {
	const char *path;      /* the YAML file as given */
	char sha256[65];       /* of the YAML text, hex */
	const char *name;      /* C identifier */
	size_t inputs, outputs;
	DType dtype;
	Layer *layers;
	size_t n_layers;
	size_t n_params;
	const LossInfo *loss;
	Training train;
	Data data;
	Pretrain pre;
} Model;

/* The table-driven parser, shared with the kinds' and optimizers' rows:
 * a mapping's keys are Fields (key, node kind, handler, offsetof, required). */
typedef struct Field Field;
typedef void (*FieldFn)(Ctx *ctx, const Field *f, const Node *val, void *obj);
struct Field {
	const char *key;
	NodeKind kind;
	FieldFn parse;
	size_t offset;
	bool required;
	const void *aux;          /* Range, EnumTable or Table, per handler */
};

typedef struct Range {
	uint64_t min, max;
} Range;

void field_size(Ctx *ctx, const Field *f, const Node *val, void *obj);       /* size_t in Range */
void field_activation(Ctx *ctx, const Field *f, const Node *val, void *obj); /* Activation */
void field_fraction(Ctx *ctx, const Field *f, const Node *val, void *obj);   /* double in [0, 1) */

/* Validates the document into a Model; NULL after one or more diagnostics
 * (validation continues past the first error where it can). */
Model *model_from_yaml(Ctx *ctx, const char *path, const Node *root);
/* yaml_parse + model_from_yaml on a file, filling sha256. */
Model *model_load(Ctx *ctx, const char *path);
/* The runtime's descriptor of layer l (kind name, activation, sizes,
 * tensors), owned by the arena: the shape hash and tools see the same. */
nncc_layer_t model_layer_desc(Arena *a, const Model *m, size_t l);
/* FNV-1a shape hash of m, the value nncc_shape_hash() gives the generated
 * descriptor at run time (computed by the runtime's own function). */
uint64_t model_shape_hash(Arena *a, const Model *m);
const char *dtype_name(DType t);       /* "float32" / "float64" */

/* ---- kinds.c: the layer kinds, one row each: what the front end, the
 * planner, the trainer's emitter and the exporter need of a kind. */
typedef struct Buf Buf;
typedef struct Plan Plan;
typedef struct Emitter Emitter;
typedef struct Exporter Exporter;

/* The trainer's passes over one layer, in the order they run. */
typedef enum Pass { PASS_FORWARD, PASS_BACKWARD, PASS_GRADIENT } Pass;

/* What a layer is in exported inference code: a link of the chain that
 * computes the scores, the output stage applied for probabilities only
 * (softmax: predictions take the argmax of the scores), or nothing. */
typedef enum ExportRole { EXPORT_CHAIN, EXPORT_OUTPUT, EXPORT_NONE } ExportRole;
/* The parts of the exported file a layer writes, in file order. */
typedef enum ExportPart { EXPORT_SIZES, EXPORT_DECL, EXPORT_CODE, EXPORT_PARAMS } ExportPart;

struct KindInfo {
	const char *name;          /* the YAML `type` */
	const Field *fields;       /* its keys besides `name` and `type` */
	size_t n_fields;
	bool first_ok;             /* may be the first layer */
	bool last_only;            /* must be the last layer */
	bool not_last;             /* may not be the last layer */
	const char *after;         /* the only kind it may follow, or NULL: any */
	bool has_activation;       /* has an `activation` key (shape hash, tables) */
	bool masks;                /* draws dropout masks: the trainer gets mask_key */
	/* The output width for input width `in` (L's keys are parsed). */
	size_t (*out)(const Layer *L, size_t in);
	/* Appends L's parameter tensors (in, out set) at offsets from `at`;
	 * returns how many (0 .. NNCC_MAX_TENSORS). */
	size_t (*tensors)(Layer *L, size_t at);
	const char *tmpl;          /* its template file under templates/ */
	/* The work of layer l for a tile of B samples, in FLOP: the row passes
	 * (forward, backward) and the weight pass; the planner's thread policy. */
	void (*cost)(const Model *m, size_t l, size_t B, double *rows, double *weights);
	/* Fills the kind's part of plan->layers[l] (tiles, work units,
	 * scratch, constants) once the thread policy is known. */
	void (*plan)(Plan *p, size_t l);
	/* Writes layer l's function for one pass (every kind has forward and
	 * backward; gradient only with parameters), from its template. */
	void (*code)(Emitter *e, size_t l, Pass pass);
	/* Exported inference: layer l's role, and its part `part` of the file
	 * from its template (0, or -1 after a diagnostic). */
	ExportRole export_role;
	int (*export)(const Exporter *x, size_t l, ExportPart part, Buf *out);
	/* Appends one line for tables and banners: "dense 784->50, sigmoid". */
	void (*describe)(Buf *b, const Layer *L);
};

extern const KindInfo kind_table[];
extern const size_t kind_count;
const KindInfo *kind_find(const char *name);   /* NULL if there is none */

/* ---- optim.c: the optimizers, one row each. */
typedef struct HParam {
	const char *key;           /* YAML key (optimizer mapping) and --option */
	double def;                /* the default (PyTorch 1.13's) */
	double min, max;           /* accepted range; max may be HUGE_VAL */
	bool min_open, max_open;   /* the bound itself is excluded */
	bool flag;                 /* 0 or 1 (true/false in YAML) */
	bool layout;               /* it decides the state slots: fixed when nncc
	                              generates the trainer, not an option */
	const char *help;
} HParam;

struct OptimizerInfo {
	const char *name;          /* YAML word */
	const HParam *hparams;
	size_t n_hparams;
	double default_lr;         /* PyTorch's default rate; NAN: learning_rate is required */
	/* State slots per parameter (0..3) for hyper-parameters hp. */
	size_t (*n_state)(const double *hp);
	/* NULL, or why hp cannot go together ("nesterov needs ..."). */
	const char *(*check)(const double *hp);
	const char *tmpl;          /* its template file under templates/ */
	int variant;               /* tells apart rows sharing a template ({{VARIANT}}) */
	const char *formula;       /* one line for the generated file's header */
};

extern const OptimizerInfo optimizer_table[];
extern const size_t optimizer_count;
const OptimizerInfo *optimizer_find(const char *name);   /* NULL if there is none */

/* Losses, one row each (optim.c): the output layer each needs and the
 * template with its `loss` section (the generated loss()).  A folded loss's
 * gradient is part of its output kind's backward pass (softmax + cross
 * entropy); otherwise the template's `backward` section writes the output
 * layer's g = dL/da, which that layer's backward takes as any other. */
struct LossInfo {
	const char *name;          /* YAML word */
	const char *output;        /* the last layer's kind (its name) */
	unsigned acts;             /* a kind with an activation: the ones it may
	                              have (bits 1u << ACT_*) */
	bool folded;
	const char *tmpl;
	const char *formula;       /* one line for the generated file's header */
};

extern const LossInfo loss_table[];
extern const size_t loss_count;
const LossInfo *loss_find(const char *name);
/* Whether layer L may be the last one under loss l. */
bool loss_fits(const LossInfo *l, const Layer *L);
/* "a softmax output layer", "a dense output layer with activation sigmoid
 * or linear" (arena-allocated). */
const char *loss_output_text(Arena *A, const LossInfo *l);   /* NULL if there is none */

/* ---- tmpl.c: template expansion.  A template is C text with {{NAME}}
 * placeholders, split into sections by lines "//@ section NAME".  Expansion
 * fails on an unknown placeholder, a missing value or an unused value. */
struct Buf {
	char *data;
	size_t len, cap;
};

void buf_init(Buf *b);
void buf_fini(Buf *b);
void buf_puts(Buf *b, const char *s);
void buf_printf(Buf *b, const char *fmt, ...) NNCC_PRINTF(2, 3);
void buf_vprintf(Buf *b, const char *fmt, va_list ap);
/* s as the body of a C comment or string: printable ASCII only, with a space
 * cutting each comment start and end ("/ *", "* /": gcc warns about a nested
 * start) and each "??" (a trigraph).  Owned by the arena. */
const char *text_comment_safe(Arena *a, const char *s);
/* s in upper case; s as a C string literal (quotes included, "NULL" for
 * NULL); the shortest decimal that reads back as exactly v.  Arena-owned. */
const char *text_upper(Arena *a, const char *s);
const char *text_c_string(Arena *a, const char *s);
const char *text_double(Arena *a, double v);

typedef struct TmplVar {
	const char *name;
	const char *value;
} TmplVar;

typedef struct Template {
	const char *name;     /* file name under templates/, e.g. "dense.c" */
	const char *text;
} Template;

extern const Template builtin_templates[];   /* build/templates.c */
extern const size_t builtin_templates_count;

const Template *tmpl_find(const char *name);
/* Appends section `section` of template `name` to out with vars substituted;
 * 0 on success, -1 after a diagnostic naming template:line. */
int tmpl_expand(Ctx *ctx, Buf *out, const char *name, const char *section,
                const TmplVar *vars, size_t n_vars);
/* The same for a template that need not be built in (the unit tests), with
 * a second set of values, `shared`, that the section may leave unused. */
int tmpl_expand_template(Ctx *ctx, Buf *out, const Template *t, const char *section,
                         const TmplVar *shared, size_t n_shared, const TmplVar *vars,
                         size_t n_vars);

/* ---- plan.c: every decision the trainer's emitter takes, made before any
 * text is written: names, tiles, work units, the thread policy.  A Plan can
 * be printed (plan_print) and tested on its own. */

/* A named size constant of the generated file: "#define NAME VALUE". */
typedef struct Const {
	const char *name;
	size_t value;
	const char *comment;       /* may be NULL */
} Const;

#define PLAN_MAX_CONSTS 16

/* A dense layer's register tiles (rows x vectors of VL reals), planned by
 * its kind: forward, weight gradient (rows j of W), backward-data. */
typedef struct Tiles {
	int fwd_mr, fwd_nb;
	int dw_mr, dw_nb;
	int dx_mr, dx_nb;          /* 0 when the layer computes no input gradient */
	size_t dw_tiles;           /* row tiles of W, the bias row included */
	size_t dw_tpu;             /* tiles per work unit */
} Tiles;

typedef struct LayerPlan {
	size_t k;                  /* 1-based number, in every generated name */
	const char *fn;            /* function prefix: "l1_hidden" */
	const char *a;             /* output (MAX_BATCH, OUT): "a1" */
	const char *g;             /* dL/da, written by the layer above: "g1"; NULL for the last
	                              and when no layer up to this one has parameters */
	const char *d;             /* dL/dz (layers with parameters): "d1"; else NULL */
	const char *x, *xn;        /* the input as `const real *` and its name: "kern_job.x", "x" */
	const char *gx, *gxn;      /* the input's gradient buffer (as an array) and its name;
	                              NULL for the first layer and above layers without
	                              parameters only (no layer below needs it) */
	const char *in, *out;      /* size constants "L1_IN", "L1_OUT" */
	const char **tensor;       /* offset constant per tensor: "L1_W", "L1_B" */
	const char **state;        /* per tensor: its optimizer state ("&state[0][L1_W]" or "NULL") */
	Tiles t;                   /* kinds with kernels */
	size_t units;              /* work units of the weight pass (0: no parameters) */
	size_t pack_len;           /* per-thread scratch (reals) */
	Const consts[PLAN_MAX_CONSTS]; /* the layer's constants after IN/OUT/tensors */
	size_t n_consts;
} LayerPlan;

struct Plan {
	const Model *m;
	const OptimizerInfo *opt;
	size_t n_state;            /* its state slots for the model's hyper-parameters */
	size_t vl;                 /* reals per AVX-512 vector of the dtype */
	size_t max_batch;          /* the tile size */
	size_t rows_per_unit;      /* samples per work unit of the row passes */
	bool pool_rows, pool_weights;
	double rows_flop, weights_flop;
	size_t weight_units;       /* over all layers */
	size_t pack_len;           /* the largest layer's */
	/* The most rows of any tile each AVX-512 block kernel is given:
	 * kern_fwd_block, kern_dw_block, kern_dwt_block, kern_dx_block (0:
	 * none); the trainer's KERN_ROWS_* (nncc_kern.h spells only these). */
	int rows_fwd, rows_dw, rows_dwt, rows_dx;
	LayerPlan *layers;         /* n_layers */
};

/* Owned by the arena; NULL after a diagnostic (a model the trainer cannot
 * take). */
Plan *plan_build(Ctx *ctx, const Model *m);
/* The plan as text, one decision per line (tests, nncc --plan). */
void plan_print(const Plan *p, Buf *out);
/* "123" in the arena. */
const char *plan_num(Arena *a, size_t v);
/* Appends a constant to layer l's list. */
void plan_const(Plan *p, size_t l, const char *what, size_t value, const char *comment);

/* ---- emit.c: Model -> C. */
typedef struct EmitOptions {
	const char *command_line;  /* for the header comment */
	/* inference export (nncc --infer) */
	const double *weights;     /* n_params, NULL for a trainer */
	const char *weights_path;
	const char *weights_sha256;
	const nncc_norm_stats_t *norm;
	double test_accuracy;      /* NaN when unknown */
	bool header_only;
	const char *header_name;   /* the .h file name the .c includes */
	/* int8 export (--quantize int8) */
	bool quantize;
	size_t calibrate;          /* training images to calibrate on */
	bool no_float;             /* no floating point at run time */
	const char *data_dir;      /* --data, or NULL: the YAML's data.dir */
	Buf *report;               /* NULL, or where the accuracy line is appended */
	int trainable;             /* TrainMode: --trainable, TRAIN_NONE without */
} EmitOptions;

struct Emitter {
	Ctx *ctx;
	Buf *out;
	const Model *m;
	const Plan *plan;
	int indent;
	bool failed;
};

/* Writes the trainer C file to out; 0 or -1 after a diagnostic. */
int emit_trainer(Ctx *ctx, const Model *m, const EmitOptions *opt, Buf *out);
/* One line at the current indentation (for the variable-length lists). */
void emit_line(Emitter *e, const char *fmt, ...) NNCC_PRINTF(2, 3);
void emit_blank(Emitter *e);
/* Section `section` of template `tmpl` with the values in vars (every one
 * must be used) and in shared (a set several sections draw from). */
void emit_tmpl(Emitter *e, const char *tmpl, const char *section, const TmplVar *shared,
               size_t n_shared, const TmplVar *vars, size_t n_vars);

/* ---- export.c: inference export (nncc --infer).  export_infer reads
 * opt->weights_path, checks it holds weights for m (dtype, shape hash,
 * sizes) and writes the inference header (and, unless header_only, the .c);
 * emit_infer does the writing from weights already in opt.  0, or -1 after
 * a diagnostic (nothing appended is valid). */
int export_infer(Ctx *ctx, const Model *m, const EmitOptions *opt, Buf *h, Buf *c);
int emit_infer(Ctx *ctx, const Model *m, const EmitOptions *opt, Buf *h, Buf *c);

/* What the kinds' export hooks see. */
struct Exporter {
	Ctx *ctx;
	const Model *m;
	const EmitOptions *opt;     /* weights, norm, header_only */
	const char *p, *u;          /* network name, upper case */
	const char *real;           /* "float" / "double" */
	const char *exp_fn;         /* the exp the code calls: the file's own, NAME_exp */
	const char *tanh_fn;        /* the tanh: the file's own, NAME_tanh */
	bool f32;
	size_t *chain, n_chain;     /* the chain layers' indices */
	size_t buf0, workspace;     /* the ping-pong scratch plan, in reals */
};

/* Section `section` of template `tmpl` (values as emit_tmpl); 0 or -1. */
int export_tmpl(const Exporter *x, Buf *out, const char *tmpl, const char *section,
                const TmplVar *shared, size_t n_shared, const TmplVar *vars, size_t n_vars);
/* An exact hex-float literal of v; n values as an initializer body. */
void export_hex(Buf *b, double v, bool f32);
void export_values(Buf *b, const double *v, size_t n, bool f32, const char *indent);
/* Activation a's f(x) with the export's types and functions; its f'(y). */
const char *export_act_expr(const Exporter *x, Activation a);
const char *export_act_deriv(const Exporter *x, Activation a);
/* "file:line:col", comment-safe. */
const char *export_loc(Ctx *ctx, Loc loc);
/* The file's own exp and tanh, P_exp and P_tanh (those asked for): the
 * trainer's kern_exp and kern_tanh with their constants (runtime/nncc_exp.h)
 * as exact literals, calling the file's U_FMA; on x86-64 without -mfma a
 * second copy of each compiled for the FMA instruction. */
int export_math(const Exporter *x, Buf *c, bool use_exp, bool use_tanh);
/* The normalisation's per-input array v after section `begin` of export.c. */
int export_norm_array(const Exporter *x, Buf *c, const char *begin, const double *v);
/* The header comment's provenance lines (command, source, weights). */
void export_provenance(const Exporter *x, Buf *b);

/* ---- quant.c: int8 quantisation (docs/embedding.md#int8-export).  A
 * domain (s, zp) reads an 8-bit q as the real s * (q - zp). */
typedef struct QLayer {
	size_t k;                  /* the model's layer index */
	size_t in, out;
	Activation act;
	bool last;                 /* writes the int32 logits */
	double lo, hi;             /* calibrated range of z (table layers) or a */
	double s_in;               /* its input's domain */
	int32_t zp_in;
	double s_t;                /* requantisation target: output, table input or logits */
	int32_t zp_t;
	double s_out;              /* its output's domain (the logits' for the last) */
	int32_t zp_out;
	int8_t *w;                 /* [in][out], the first layer's with the normalisation folded in */
	int32_t *b, *m;            /* [out]: bias at scale s_in * s_w[i], zero point folded in;
	                              multiplier in [2^30, 2^31) */
	int *n;                    /* [out]: right shift, 1..62 */
	uint8_t lut[256];          /* sigmoid/tanh hidden layers: output q of table input q */
} QLayer;

typedef struct QNet {
	QLayer *l;                 /* the chain layers, arena-owned */
	size_t n;
	double logit_scale;        /* score = logit_scale * int32 logit */
	size_t n_calib, n_test;
	const char *calib_from;    /* the training images file */
	double acc_float, acc_int8;  /* on the test set */
	size_t bytes_float, bytes_int8;  /* parameters (int8: with multipliers, shifts, tables) */
} QNet;

/* Calibrates on the first n_calib training images of m's data (data_dir,
 * or the YAML's data.dir), quantises params and measures both networks on
 * the test set; 0, or -1 after a diagnostic. */
int quant_build(Ctx *ctx, const Model *m, const double *params, const nncc_norm_stats_t *norm,
                const char *data_dir, size_t n_calib, QNet *q);
/* round(acc * m / 2^n), halves away from zero (n in 1..62). */
int64_t quant_rq(int32_t acc, int32_t m, int n);
/* The integer network on raw pixels: the int32 logits; buf0/buf1 hold the
 * widest layer's bytes, acc its int32s. */
void quant_forward(const QNet *q, const uint8_t *px, uint8_t *buf0, uint8_t *buf1,
                   int32_t *acc, int32_t *logits);
/* Whether a layer's activation is a table (sigmoid, tanh; not the last layer). */
bool quant_uses_table(const QLayer *ql);

/* ---- export_int8.c: the int8 inference C from a QNet (h: the header, c:
 * the code, or everything in h with header_only). */
int export_int8(const Exporter *x, const QNet *q, Buf *h, Buf *c);

/* ---- export_train.c: on-device fine-tuning (nncc --infer --trainable
 * MODE): NAME_train_step, the parameters it trains in RAM, the memory
 * ledger.  Each function is a no-op (0) when opt->trainable is TRAIN_NONE. */
typedef enum TrainMode { TRAIN_NONE, TRAIN_ALL, TRAIN_LAST, TRAIN_BIAS } TrainMode;
TrainMode export_train_mode(const char *name);   /* TRAIN_NONE: not a mode */
/* Whether tensor t (0 = W, 1 = b) of layer k is trainable (lives in RAM). */
bool export_train_tensor(const Exporter *x, size_t k, size_t t);
/* The network must suit the mode: a softmax output, no dropout. */
int export_train_check(const Exporter *x);
/* The ledger's lines in the header comment; its macros and the API in the
 * header; the code after the inference API. */
void export_train_comment(const Exporter *x, Buf *b);
int export_train_header(const Exporter *x, Buf *h);
int export_train_code(const Exporter *x, Buf *c);

#endif
