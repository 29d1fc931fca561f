/*
 * nncc.h - the compiler's one internal header: the IR and each file's
 * exports, under a heading per file.
 *
 * Pipeline: yaml.c (libyaml -> Node tree with marks) -> model.c (validate ->
 * Model) -> emit.c (Model -> C, through tmpl.c and the built-in templates).
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

#define NNCC_VERSION "0.1.0"

#define NNCC_UNREACHABLE() nncc_unreachable(__FILE__, __LINE__)

/* Upper bounds checked by validation (overflow safety, not policy). */
#define NNCC_MAX_UNITS ((size_t)1 << 24)
#define NNCC_MAX_LAYERS 64
#define NNCC_MAX_PARAMS ((size_t)1 << 31)

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
	int n_errors;
} Ctx;

void ctx_init(Ctx *ctx, FILE *err);
void ctx_fini(Ctx *ctx);
/* "file:line:col: error: message", then the source line and a caret. */
void diag_error(Ctx *ctx, Loc loc, const char *fmt, ...) NNCC_PRINTF(3, 4);
void diag_verror(Ctx *ctx, Loc loc, const char *fmt, va_list ap);
/* "nncc: error: message" for errors without a location (files, options). */
void diag_fatal(Ctx *ctx, const char *fmt, ...) NNCC_PRINTF(2, 3);
_Noreturn void nncc_unreachable(const char *file, int line);
/* libyaml's 0-based line/column -> a 1-based Loc (the one place this happens). */
Loc diag_loc_from_mark(const char *file, size_t line0, size_t col0);
/* Reads a whole file into the arena (NUL-terminated); NULL + diagnostic on error. */
char *read_file(Ctx *ctx, const char *path, size_t *len);

/* ---- yaml.c: YAML text -> Node tree. Anchors/aliases and tags are errors. */
typedef enum NodeKind { NODE_SCALAR, NODE_MAP, NODE_SEQ } NodeKind;

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

/* Activations: enum, YAML name, forward f(x), derivative in terms of the
 * output y = f(x).  Expressions use the generated code's `real`, EXP, TANH
 * and FMA macros; a multiply-add is always an explicit FMA (the trainer's
 * floating-point policy, docs/performance.md).  Adding one = one row here
 * (the reference has its own copy). */
#define NNCC_ACTIVATIONS(X)                                            \
	X(ACT_LINEAR, "linear", "x", "(real)1")                           \
	X(ACT_SIGMOID, "sigmoid", "(real)1 / ((real)1 + EXP(-x))",        \
	  "y * ((real)1 - y)")                                            \
	X(ACT_TANH, "tanh", "TANH(x)", "FMA(-y, y, (real)1)")              \
	X(ACT_RELU, "relu", "x > (real)0 ? x : (real)0",                  \
	  "y > (real)0 ? (real)1 : (real)0")

typedef enum Activation {
#define X(e, name, fwd, deriv) e,
	NNCC_ACTIVATIONS(X)
#undef X
	ACT_COUNT
} Activation;

typedef struct ActivationInfo {
	const char *name, *forward, *derivative;
} ActivationInfo;

extern const ActivationInfo activation_table[ACT_COUNT];

typedef enum LayerKind { LAYER_DENSE, LAYER_SOFTMAX, LAYER_COUNT } LayerKind;

typedef struct Layer {
	LayerKind kind;
	Loc loc;              /* the layer's mapping in the YAML */
	const char *name;     /* given, or "layerN" (1-based) */
	size_t in, out;       /* softmax: in == out */
	Activation act;       /* dense only */
	size_t w_offset;      /* dense: element offsets into the parameter block, */
	size_t b_offset;      /*   weights input-major W[in][out], then bias[out] */
	size_t n_params;      /* dense: in*out + out; softmax: 0 */
} Layer;

typedef enum DType { DTYPE_F32, DTYPE_F64 } DType;
typedef enum Loss { LOSS_CROSS_ENTROPY } Loss;
typedef enum Optimizer { OPT_SGD } Optimizer;
typedef enum Init { INIT_NORMAL, INIT_UNIFORM } Init;
typedef enum Norm { NORM_NONE, NORM_SCALE, NORM_STANDARDIZE } Norm;

typedef struct Training {
	Loc loc;
	Optimizer optimizer;
	double learning_rate;
	size_t batch_size;     /* 0 = full batch */
	size_t iterations;     /* exactly one of iterations/epochs is non-zero */
	size_t epochs;
	uint64_t seed;
	bool shuffle;
	Init init;
	double init_scale;
	int threads;           /* 0 = all cores */
} Training;

typedef struct Data {
	const char *dir;       /* may be NULL */
	const char *train_images, *train_labels, *test_images, *test_labels;
	Norm normalize;
} Data;

typedef struct Model {
	const char *path;      /* the YAML file as given */
	char sha256[65];       /* of the YAML text, hex */
	const char *name;      /* C identifier */
	size_t inputs, outputs;
	DType dtype;
	Layer *layers;
	size_t n_layers;
	size_t n_params;
	Loss loss;
	Training train;
	Data data;
} Model;

/* Validates the document into a Model; NULL after one or more diagnostics
 * (validation continues past the first error where it can). */
Model *model_from_yaml(Ctx *ctx, const char *path, const Node *root);
/* yaml_parse + model_from_yaml on a file, filling sha256. */
Model *model_load(Ctx *ctx, const char *path);
/* FNV-1a shape hash of m, the value nncc_shape_hash() gives the generated
 * descriptor at run time (computed by the runtime's own function). */
uint64_t model_shape_hash(Arena *a, const Model *m);
const char *layer_kind_name(LayerKind k);
const char *dtype_name(DType t);       /* "float32" / "float64" */
const char *norm_name(Norm n);

/* ---- tmpl.c: template expansion.  A template is C text with {{NAME}}
 * placeholders, split into sections by lines "//@ section NAME".  Expansion
 * fails on an unknown placeholder, a missing value or an unused value. */
typedef struct Buf {
	char *data;
	size_t len, cap;
} Buf;

void buf_init(Buf *b);
void buf_fini(Buf *b);
void buf_puts(Buf *b, const char *s);
void buf_printf(Buf *b, const char *fmt, ...) NNCC_PRINTF(2, 3);
void buf_vprintf(Buf *b, const char *fmt, va_list ap);
/* s as the body of a C comment or string: printable ASCII only, with a space
 * cutting each comment end and each "??" (a trigraph).  Owned by the arena. */
const char *text_comment_safe(Arena *a, const char *s);

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
/* The same for a template that need not be built in (the unit tests). */
int tmpl_expand_template(Ctx *ctx, Buf *out, const Template *t, const char *section,
                         const TmplVar *vars, size_t n_vars);

/* ---- emit.c: Model -> C. */
typedef struct EmitOptions {
	const char *command_line;  /* for the header comment */
	/* inference export (nncc --infer) */
	const double *weights;     /* n_params, NULL for a trainer */
	const char *weights_path;
	const char *weights_sha256;
	const void *norm;          /* const nncc_norm_stats_t * */
	double test_accuracy;      /* NaN when unknown */
	bool header_only;
	const char *header_name;   /* the .h file name the .c includes */
} EmitOptions;

/* Writes the trainer C file to out; 0 or -1 after a diagnostic. */
int emit_trainer(Ctx *ctx, const Model *m, const EmitOptions *opt, Buf *out);
/* Writes the inference header (and, unless header_only, the .c). */
int emit_infer(Ctx *ctx, const Model *m, const EmitOptions *opt, Buf *h, Buf *c);

/* ---- infer.c: emit_infer above, and the --infer entry point: reads
 * opt->weights_path, checks it holds weights for m (dtype, shape hash,
 * sizes), fills the other weight fields of a copy of opt from the file and
 * calls emit_infer.  0, or -1 after a diagnostic (nothing appended is valid). */
int infer_export(Ctx *ctx, const Model *m, const EmitOptions *opt, Buf *h, Buf *c);

#endif
