/*
 * model.c - validates the YAML Node tree into the Model IR.
 * Parsing is table-driven: each mapping has a Table of Fields (key, node
 * kind, handler, offsetof, required); each layer kind is a kind_table row
 * (kinds.c), each optimizer an optimizer_table row (optim.c) and each
 * learning-rate schedule a row of the runtime's nncc_schedules (schedule.c).
 * Unknown keys, wrong node kinds and bad scalars are errors, never defaults.
 * Validation keeps going past an error to report the rest, then fills the
 * shapes: IN/OUT per layer and the parameter block (each layer's tensors from
 * its kind's row, in layer order).  It does not touch files other than the
 * YAML.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nncc.h"
#include "../runtime/ckd.h"
#include "../runtime/nncc.h"  /* nncc_sha256_hex */

enum { IDENT_MAX = 63, SHOWN_MAX = 40 };

/* ---- Name tables: YAML words <-> enum values. */

typedef struct EnumName {
	const char *name;
	int value;
} EnumName;

typedef struct EnumTable {
	const char *what;         /* for "unknown WHAT 'x' (expected: ...)" */
	const EnumName *names;
	size_t n;
} EnumTable;

#define ENUM_TABLE(what, arr) {what, arr, sizeof arr / sizeof arr[0]}

/* The activation rows of nncc_act.h, as text. */
const ActivationInfo activation_table[ACT_COUNT] = {
#define X(ID, name, fwd, deriv, gain) [ACT_##ID] = {"ACT_" #ID, #name, #fwd, #deriv, gain},
	NNCC_ACTIVATIONS(X)
#undef X
};

static const EnumName act_names[] = {
#define X(ID, name, fwd, deriv, gain) {#name, ACT_##ID},
	NNCC_ACTIVATIONS(X)
#undef X
	{"identity", ACT_LINEAR},  /* alias */
};
static const EnumName dtype_names[] = {
#define X(ID, v, name, abbr, ctype) {#name, NNCC_##ID},
	NNCC_DTYPES(X)
#undef X
};
static const EnumName init_names[] = {
#define X(ID, v, name, doc) {#name, NNCC_INIT_##ID},
	NNCC_INITS(X)
#undef X
};
static const EnumName norm_names[] = {
#define X(ID, v, name, doc) {#name, NNCC_NORM_##ID},
	NNCC_NORMS(X)
#undef X
};
static const EnumName metric_names[] = {
#define X(ID, v, name, up) {#name, NNCC_METRIC_##ID},
	NNCC_METRICS(X)
#undef X
};
static const EnumName unit_names[] = {
#define X(ID, v, name) {#name, NNCC_UNIT_##ID},
	NNCC_UNITS(X)
#undef X
};

static const EnumName recon_names[] = {
#define X(ID, v, name) {#name, NNCC_RECON_##ID},
	NNCC_RECONS(X)
#undef X
};
static const EnumName pre_opt_names[] = {{"sgd", 0}, {"momentum", 1}};

static const EnumTable act_table = ENUM_TABLE("activation", act_names);
static const EnumTable dtype_table = ENUM_TABLE("dtype", dtype_names);
static const EnumName biases_names[] = {{"zero", 0}, {"drawn", 1}};
static const EnumTable init_table = ENUM_TABLE("distribution", init_names);
static const EnumTable biases_table = ENUM_TABLE("biases", biases_names);
static const EnumTable norm_table = ENUM_TABLE("normalize", norm_names);
static const EnumTable unit_table = ENUM_TABLE("unit", unit_names);
static const EnumTable metric_table = ENUM_TABLE("metric", metric_names);
static const EnumTable recon_table = ENUM_TABLE("reconstruction loss", recon_names);
static const EnumTable pre_opt_table = ENUM_TABLE("pre-training optimizer", pre_opt_names);

/* Enum fields are written as int (see field_enum). */
_Static_assert(sizeof(Activation) == sizeof(int), "enum size");
_Static_assert(sizeof(DType) == sizeof(int), "enum size");

static const EnumName *enum_find(const EnumTable *t, const char *word)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->names[i].name, word) == 0)
			return &t->names[i];
	return NULL;
}

static const char *enum_name(const EnumTable *t, int value)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->names[i].value == value)
			return t->names[i].name;
	NNCC_UNREACHABLE();
}

const char *dtype_name(DType t) { return enum_name(&dtype_table, (int)t); }

/* ---- Fields (nncc.h) and tables. */

typedef struct Table {
	const Field *fields;
	size_t n;
	const char *where;        /* "in 'training'" */
	/* Cross-key checks once every key is parsed (may be NULL). */
	void (*check)(Ctx *ctx, const Node *map, void *obj);
	/* A key not in the table: true after a diagnostic of its own (a key
	 * that belongs to a nested mapping); may be NULL. */
	bool (*unknown)(Ctx *ctx, const Node *key);
} Table;

static const Node *map_get(const Node *map, const char *key)
{
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->keys[i]->str, key) == 0)
			return map->items[i];
	return NULL;
}

static const Node *map_key(const Node *map, const char *key)
{
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->keys[i]->str, key) == 0)
			return map->keys[i];
	return NULL;
}

/* What a node was, for "got ...": 'value', "value" (a quoted string), an
 * empty value, a mapping.  Long values are cut; control characters shown
 * as '?'.  Owner: the arena. */
static const char *found(Ctx *ctx, const Node *n)
{
	if (n->kind != NODE_SCALAR)
		return node_kind_name(n->kind);
	if (!n->str[0] && !n->quoted)
		return "an empty value";
	size_t len = strlen(n->str);
	size_t shown = len > SHOWN_MAX ? SHOWN_MAX : len;
	while (shown < len && ((unsigned char)n->str[shown] & 0xC0) == 0x80)
		shown--;  /* never cut a UTF-8 character in half */
	char *s = arena_strndup(ctx->arena, n->str, shown);
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	const char *more = shown < len ? "..." : "";
	if (n->quoted)
		return arena_printf(ctx->arena, "\"%s%s\" (a quoted string)", s, more);
	return arena_printf(ctx->arena, "'%s%s'", s, more);
}

/* found() for a node of the wrong kind: "a scalar 'dense'", "a mapping". */
static const char *found_kind(Ctx *ctx, const Node *n)
{
	if (n->kind != NODE_SCALAR || (!n->str[0] && !n->quoted))
		return found(ctx, n);
	return arena_printf(ctx->arena, "a scalar %s", found(ctx, n));
}

/* "a, b, c": the names of n table rows of `size` bytes each, the name a
 * `const char *` at offset `off` of a row (a Field's key, a kind's name...),
 * after `first` when it is not NULL.  Owner: the arena. */
static const char *names_of(Ctx *ctx, const char *first, const void *rows, size_t n,
                            size_t size, size_t off)
{
	const char *s = first ? first : "";
	for (size_t i = 0; i < n; i++) {
		const char *name;
		memcpy(&name, (const char *)rows + i * size + off, sizeof name);
		s = arena_printf(ctx->arena, "%s%s%s", s, *s ? ", " : "", name);
	}
	return s;
}

#define NAMES_OF(ctx, first, rows, n, type, field) \
	names_of((ctx), (first), (rows), (n), sizeof(type), offsetof(type, field))

/* Every key of map must be in t; each value must have the field's kind;
 * required keys must be present (reported at the mapping). */
static void parse_map(Ctx *ctx, const Node *map, const Table *t, const char *where,
                      void *obj)
{
	const char *expected = NULL;   /* made once: a mapping may hold 10^6 unknown keys */
	for (size_t i = 0; i < map->n; i++) {
		const Node *key = map->keys[i], *val = map->items[i];
		const Field *f = NULL;
		for (size_t j = 0; j < t->n && !f; j++)
			if (strcmp(t->fields[j].key, key->str) == 0)
				f = &t->fields[j];
		if (!f && t->unknown && t->unknown(ctx, key))
			continue;
		if (!f) {
			if (!expected)
				expected = NAMES_OF(ctx, NULL, t->fields, t->n, Field, key);
			diag_error(ctx, key->loc, "unknown key '%s' %s (expected: %s)", key->str,
			           where, expected);
			continue;
		}
		if (val->kind != f->kind && f->kind != NODE_ANY) {
			diag_error(ctx, val->loc, "'%s' must be %s, got %s", f->key,
			           node_kind_name(f->kind), found_kind(ctx, val));
			continue;
		}
		f->parse(ctx, f, val, obj);
	}
	for (size_t j = 0; j < t->n; j++)
		if (t->fields[j].required && !map_get(map, t->fields[j].key))
			diag_error(ctx, map->loc, "missing required key '%s' %s", t->fields[j].key,
			           where);
	if (t->check)
		t->check(ctx, map, obj);
}

/* ---- Scalar handlers. */

static void *field_ptr(const Field *f, void *obj)
{
	return (char *)obj + f->offset;
}

/* Plain decimal digits with an optional '+'.  *overflow set past UINT64_MAX. */
static bool scan_u64(const Node *n, uint64_t *out, bool *overflow)
{
	const char *s = n->str;
	*overflow = false;
	if (n->quoted)
		return false;
	if (*s == '+')
		s++;
	if (!*s)
		return false;
	uint64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			*overflow = true;
		else
			v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* An integer in f->aux's Range; false after a diagnostic. */
static bool get_count(Ctx *ctx, const Field *f, const Node *val, uint64_t *out)
{
	const Range *r = f->aux;
	uint64_t v;
	bool overflow;
	if (!scan_u64(val, &v, &overflow) || v < r->min) {
		diag_error(ctx, val->loc, "'%s' must be an integer %s, got %s", f->key,
		           r->min ? "> 0" : ">= 0", found(ctx, val));
		return false;
	}
	if (overflow || v > r->max) {
		diag_error(ctx, val->loc, "'%s' is too large: %s (at most %llu)", f->key,
		           found(ctx, val), (unsigned long long)r->max);
		return false;
	}
	*out = v;
	return true;
}

void field_size(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	uint64_t v;
	if (get_count(ctx, f, val, &v))
		*(size_t *)field_ptr(f, obj) = (size_t)v;
}

static void field_int(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	uint64_t v;
	if (get_count(ctx, f, val, &v))
		*(int *)field_ptr(f, obj) = (int)v;
}

static void field_u64(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	uint64_t v;
	bool overflow;
	if (!scan_u64(val, &v, &overflow))
		diag_error(ctx, val->loc, "'%s' must be an unsigned 64-bit integer, got %s",
		           f->key, found(ctx, val));
	else if (overflow)
		diag_error(ctx, val->loc, "'%s' is too large: %s (at most %llu)", f->key,
		           found(ctx, val), (unsigned long long)UINT64_MAX);
	else
		*(uint64_t *)field_ptr(f, obj) = v;
}

/* batch_size: an integer in range, or `full` (stored as 0). */
static void field_batch(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	const Range *r = f->aux;
	uint64_t v;
	bool overflow;
	if (strcmp(val->str, "full") == 0) {
		*(size_t *)field_ptr(f, obj) = 0;
	} else if (!scan_u64(val, &v, &overflow) || v < r->min) {
		diag_error(ctx, val->loc, "'%s' must be an integer > 0 or 'full', got %s",
		           f->key, found(ctx, val));
	} else if (overflow || v > r->max) {
		diag_error(ctx, val->loc, "'%s' is too large: %s (at most %llu)", f->key,
		           found(ctx, val), (unsigned long long)r->max);
	} else {
		*(size_t *)field_ptr(f, obj) = (size_t)v;
	}
}

/* A finite number in decimal notation (no hex, inf or nan): 1, or 0 when
 * val is not one (the caller says what it expected), or -1 after reporting
 * a number a double cannot hold (1e-320 underflows, 1e400 overflows), as
 * the trainer's options do. */
static int scan_number(Ctx *ctx, const char *key, const Node *n, double *out)
{
	const char *s = n->str;
	char *end = NULL;
	if (n->quoted || !*s || strspn(s, "0123456789+-.eE") != strlen(s))
		return 0;
	errno = 0;
	*out = strtod(s, &end);
	if (*end)
		return 0;
	if (errno == ERANGE) {
		diag_error(ctx, n->loc, "'%s' is out of range: %s is too %s for a double", key, s,
		           fabs(*out) < 1 ? "small (below 2.2e-308)" : "large");
		return -1;
	}
	return isfinite(*out);
}

/* A finite number > 0. */
static void field_positive(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	double v;
	int got = scan_number(ctx, f->key, val, &v);
	if (got < 0)
		return;
	if (!got || !(v > 0)) {
		diag_error(ctx, val->loc, "'%s' must be a finite number > 0, got %s", f->key,
		           found(ctx, val));
		return;
	}
	*(double *)field_ptr(f, obj) = v;
}

/* A finite number >= 0. */
static void field_nonneg(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	double v;
	int got = scan_number(ctx, f->key, val, &v);
	if (got < 0)
		return;
	if (!got || !(v >= 0)) {
		diag_error(ctx, val->loc, "'%s' must be a finite number >= 0, got %s", f->key,
		           found(ctx, val));
		return;
	}
	*(double *)field_ptr(f, obj) = v;
}

/* A number in [0, 1) (dropout's rate). */
void field_fraction(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	double v;
	int got = scan_number(ctx, f->key, val, &v);
	if (got < 0)
		return;
	if (!got || !(v >= 0 && v < 1)) {
		diag_error(ctx, val->loc, "'%s' must be a number in [0, 1), got %s", f->key,
		           found(ctx, val));
		return;
	}
	*(double *)field_ptr(f, obj) = v;
}

/* validation: a count of samples (plain digits, 0 = none), or a fraction
 * of the training set strictly between 0 and 1.  Stored as a double, as
 * the runtime's config has it. */
static void field_validation(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	const Range *r = f->aux;
	uint64_t n;
	bool overflow;
	double v;
	int got;
	if (scan_u64(val, &n, &overflow)) {
		if (overflow || n > r->max)
			diag_error(ctx, val->loc, "'%s' is too large: %s (at most %llu)", f->key,
			           found(ctx, val), (unsigned long long)r->max);
		else
			*(double *)field_ptr(f, obj) = (double)n;
	} else if ((got = scan_number(ctx, f->key, val, &v)) < 0) {
		return;
	} else if (!got || !(v > 0 && v < 1)) {
		diag_error(ctx, val->loc, "'%s' must be a count of samples (an integer >= 0) or a "
		           "fraction in (0, 1), got %s", f->key, found(ctx, val));
	} else {
		*(double *)field_ptr(f, obj) = v;
	}
}

static void field_bool(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	static const EnumName words[] = {{"true", 1}, {"false", 0}, {"yes", 1},
	                                 {"no", 0},   {"on", 1},     {"off", 0}};
	for (size_t i = 0; !val->quoted && i < sizeof words / sizeof words[0]; i++) {
		if (strcmp(val->str, words[i].name) == 0) {
			*(bool *)field_ptr(f, obj) = words[i].value;
			return;
		}
	}
	diag_error(ctx, val->loc,
	           "'%s' must be a boolean (true/false, yes/no, on/off), got %s", f->key,
	           found(ctx, val));
}

static void field_enum(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	const EnumTable *t = f->aux;
	const EnumName *e = enum_find(t, val->str);
	if (!e) {
		diag_error(ctx, val->loc, "unknown %s %s (expected: %s)", t->what,
		           found(ctx, val), NAMES_OF(ctx, NULL, t->names, t->n, EnumName, name));
		return;
	}
	int v = e->value;
	memcpy(field_ptr(f, obj), &v, sizeof v);
}

void field_activation(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	const Field g = {f->key, f->kind, field_enum, f->offset, f->required, &act_table};
	field_enum(ctx, &g, val, obj);
}

static bool is_ident(const char *s)
{
	static const char first[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
	size_t len = strlen(s);
	return len >= 1 && len <= IDENT_MAX && strchr(first, s[0]) &&
	       strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_") ==
	           len;
}

static void field_ident(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	if (!is_ident(val->str)) {
		diag_error(ctx, val->loc,
		           "'%s' must be a C identifier ([A-Za-z_][A-Za-z0-9_]*, at most %d "
		           "characters), got %s",
		           f->key, IDENT_MAX, found(ctx, val));
		return;
	}
	*(const char **)field_ptr(f, obj) = val->str;
}

/* A file or directory name: non-empty, no control characters. */
static void field_path(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	const char *s = val->str;
	bool ok = *s != '\0';
	for (; ok && *s; s++)
		ok = (unsigned char)*s >= 0x20 && *s != 0x7f;
	if (!ok) {
		diag_error(ctx, val->loc,
		           "'%s' must be a non-empty path without control characters, got %s",
		           f->key, found(ctx, val));
		return;
	}
	*(const char **)field_ptr(f, obj) = val->str;
}

/* A nested mapping, parsed with the Table in aux into obj + offset. */
static void field_map(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	const Table *t = f->aux;
	parse_map(ctx, val, t, t->where, field_ptr(f, obj));
}

/* Already handled before the layer's table was chosen (layer `type`). */
static void field_done(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	(void)ctx, (void)f, (void)val, (void)obj;
}

/* ---- Layers: one kind_table row per kind (kinds.c). */

static const Range units_range = {1, NNCC_MAX_UNITS};
static const Range count_range = {1, UINT32_MAX};
static const Range threads_range = {0, 1024};
static const Range skip_range = {0, UINT32_MAX};

/* Every kind's first two keys. */
static const Field layer_common[] = {
	{"name", NODE_SCALAR, field_ident, offsetof(Layer, name), false, NULL},
	{"type", NODE_SCALAR, field_done, 0, true, NULL},
};

static const char *layer_kinds_list(Ctx *ctx)
{
	return NAMES_OF(ctx, NULL, kind_table, kind_count, KindInfo, name);
}

/* "layer \"hidden\"" or "layer 3" for messages.  Owner: the arena. */
static const char *layer_label(Ctx *ctx, const Node *item, size_t i)
{
	const Node *name = item->kind == NODE_MAP ? map_get(item, "name") : NULL;
	if (name && name->kind == NODE_SCALAR && is_ident(name->str))
		return arena_printf(ctx->arena, "layer \"%s\"", name->str);
	return arena_printf(ctx->arena, "layer %zu", i + 1);
}

/* One layer mapping.  Its `type` picks the kind whose fields apply;
 * L->kind stays NULL when the type is missing or unknown. */
static void parse_layer(Ctx *ctx, const Node *item, size_t i, Layer *L)
{
	L->kind = NULL;
	L->loc = item->loc;
	L->act = ACT_LINEAR;
	L->name = arena_printf(ctx->arena, "layer%zu", i + 1);
	const char *label = layer_label(ctx, item, i);
	if (item->kind != NODE_MAP) {
		diag_error(ctx, item->loc, "%s must be a mapping, got %s", label,
		           found_kind(ctx, item));
		return;
	}
	const Node *type = map_get(item, "type");
	if (!type) {
		diag_error(ctx, item->loc, "missing required key 'type' in %s (expected: %s)",
		           label, layer_kinds_list(ctx));
		return;
	}
	if (type->kind != NODE_SCALAR) {
		diag_error(ctx, type->loc, "'type' must be a scalar, got %s", found(ctx, type));
		return;
	}
	L->kind = kind_find(type->str);
	if (!L->kind) {
		diag_error(ctx, type->loc, "unknown layer type %s (expected: %s)",
		           found(ctx, type), layer_kinds_list(ctx));
		return;
	}
	const KindInfo *kind = L->kind;
	size_t n = sizeof layer_common / sizeof layer_common[0];
	Field *fields = arena_alloc(ctx->arena, (n + kind->n_fields) * sizeof *fields);
	memcpy(fields, layer_common, sizeof layer_common);
	if (kind->n_fields)
		memcpy(fields + n, kind->fields, kind->n_fields * sizeof *fields);
	Table t = {fields, n + kind->n_fields, NULL, NULL, NULL};
	parse_map(ctx, item, &t, arena_printf(ctx->arena, "in %s", label), L);
}

static void field_layers(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	Model *m = obj;
	(void)f;
	if (val->n == 0) {
		diag_error(ctx, val->loc, "'layers' must not be empty (expected at least one layer)");
		return;
	}
	if (val->n > NNCC_MAX_LAYERS) {
		diag_error(ctx, val->items[NNCC_MAX_LAYERS]->loc,
		           "too many layers: %zu (at most %d)", val->n, NNCC_MAX_LAYERS);
		return;
	}
	m->n_layers = val->n;
	m->layers = arena_alloc(ctx->arena, val->n * sizeof *m->layers);
	for (size_t i = 0; i < val->n; i++)
		parse_layer(ctx, val->items[i], i, &m->layers[i]);
}

/* ---- Top-level, training and data tables. */

static void training_check(Ctx *ctx, const Node *map, void *obj)
{
	Training *t = obj;
	t->loc = map->loc;
	const Node *it = map_key(map, "iterations"), *ep = map_key(map, "epochs");
	if (it && ep)
		diag_error(ctx, ep->loc,
		           "give exactly one of 'iterations' and 'epochs', got both "
		           "('iterations' at %d:%d)",
		           it->loc.line, it->loc.col);
	else if (!it && !ep)
		diag_error(ctx, map->loc,
		           "missing 'iterations' or 'epochs' in 'training' (give exactly one)");
	/* Early stopping watches the validation set: absent, or a count of 0
	 * (a bad value was reported already). */
	const Node *es = map_key(map, "early_stopping"), *val = map_get(map, "validation");
	uint64_t n_val = 1;
	bool overflow;
	if (es && (!val || (scan_u64(val, &n_val, &overflow) && n_val == 0)))
		diag_error(ctx, es->loc, "'early_stopping' needs a validation set: add 'validation: N' "
		           "(samples held out) or 'validation: 0.1' (a fraction) to 'training'");
	/* The rate: the YAML's, else the optimizer's default (PyTorch's). */
	if (!map_key(map, "learning_rate")) {
		if (isnan(t->optimizer->default_lr))
			diag_error(ctx, map->loc,
			           "missing required key 'learning_rate' in 'training' (%s has no "
			           "default rate)", t->optimizer->name);
		else
			t->learning_rate = t->optimizer->default_lr;
	}
}

/* ---- The loss: a loss_table row (optim.c). */

static void field_loss(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	const LossInfo *l = loss_find(val->str);
	if (!l) {
		diag_error(ctx, val->loc, "unknown loss %s (expected: %s)", found(ctx, val),
		           NAMES_OF(ctx, NULL, loss_table, loss_count, LossInfo, name));
		return;
	}
	*(const LossInfo **)((char *)obj + f->offset) = l;
}

/* ---- The optimizer: `optimizer: NAME`, or a mapping with `type: NAME` and
 * the row's hyper-parameters (optim.c). */

static const char *optimizer_list(Ctx *ctx)
{
	return NAMES_OF(ctx, NULL, optimizer_table, optimizer_count, OptimizerInfo, name);
}

static const char *hparam_list(Ctx *ctx, const OptimizerInfo *o)
{
	return NAMES_OF(ctx, "type", o->hparams, o->n_hparams, HParam, key);
}

/* One hyper-parameter's value: a boolean for a flag, else a finite number
 * in the row's range. */
static void parse_hparam(Ctx *ctx, const HParam *h, const Node *val, double *out)
{
	if (h->flag) {
		bool b = false;
		const Field f = {h->key, NODE_SCALAR, field_bool, 0, false, NULL};
		size_t before = ctx->n_errors;
		field_bool(ctx, &f, val, &b);
		if (ctx->n_errors == before)
			*out = b;
		return;
	}
	double v;
	int got = scan_number(ctx, h->key, val, &v);
	if (got < 0)
		return;
	if (!got || (h->min_open ? !(v > h->min) : !(v >= h->min)) ||
	    (h->max_open ? !(v < h->max) : !(v <= h->max))) {
		if (isinf(h->max))
			diag_error(ctx, val->loc, "'%s' must be a number %s %g, got %s", h->key,
			           h->min_open ? ">" : ">=", h->min, found(ctx, val));
		else
			diag_error(ctx, val->loc, "'%s' must be a number in %s%g, %g%s, got %s", h->key,
			           h->min_open ? "(" : "[", h->min, h->max, h->max_open ? ")" : "]",
			           found(ctx, val));
		return;
	}
	*out = v;
}

/* The row named by `type`, or NULL after a diagnostic. */
static const OptimizerInfo *optimizer_named(Ctx *ctx, const Node *type)
{
	const OptimizerInfo *o = optimizer_find(type->str);
	if (!o)
		diag_error(ctx, type->loc, "unknown optimizer %s (expected: %s)", found(ctx, type),
		           optimizer_list(ctx));
	return o;
}

/* Optimizer o with its default hyper-parameters. */
static void optimizer_set(Training *t, const OptimizerInfo *o)
{
	t->optimizer = o;
	for (size_t k = 0; k < o->n_hparams; k++)
		t->hparams[k] = o->hparams[k].def;
}

static void field_optimizer(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	Training *t = obj;
	(void)f;
	if (val->kind == NODE_SCALAR) {
		const OptimizerInfo *o = optimizer_named(ctx, val);
		if (o)
			optimizer_set(t, o);
		return;
	}
	if (val->kind != NODE_MAP) {
		diag_error(ctx, val->loc, "'optimizer' must be a name or a mapping with 'type', got %s",
		           found_kind(ctx, val));
		return;
	}
	const Node *type = map_get(val, "type");
	if (!type || type->kind != NODE_SCALAR) {
		diag_error(ctx, type ? type->loc : val->loc,
		           "'optimizer' needs 'type: NAME' (expected: %s)", optimizer_list(ctx));
		return;
	}
	const OptimizerInfo *info = optimizer_named(ctx, type);
	if (!info)
		return;
	optimizer_set(t, info);
	for (size_t i = 0; i < val->n; i++) {
		const Node *key = val->keys[i], *v = val->items[i];
		const HParam *h = NULL;
		size_t k;
		if (strcmp(key->str, "type") == 0)
			continue;
		for (k = 0; k < info->n_hparams && !h; k++)
			if (strcmp(info->hparams[k].key, key->str) == 0)
				h = &info->hparams[k];
		if (!h) {
			char other[256] = "";   /* "adam and adamw": the rows that have it */
			size_t n_other = 0;
			for (int pass = 0; pass < 2; pass++)
				for (size_t j = 0, nth = 0; j < optimizer_count; j++)
					for (size_t q = 0; q < optimizer_table[j].n_hparams; q++) {
						if (strcmp(optimizer_table[j].hparams[q].key, key->str) != 0)
							continue;
						if (pass == 0)
							n_other++;
						else
							snprintf(other + strlen(other), sizeof other - strlen(other),
							         "%s%s", nth == 0 ? "" : nth + 1 == n_other ? " and " : ", ",
							         optimizer_table[j].name);
						nth++;
					}
			if (n_other)
				diag_error(ctx, key->loc, "'%s' is a hyper-parameter of %s, not of %s "
				           "(expected: %s)", key->str, other, info->name,
				           hparam_list(ctx, info));
			else
				diag_error(ctx, key->loc, "unknown key '%s' in 'training.optimizer' "
				           "(expected: %s)", key->str, hparam_list(ctx, info));
			continue;
		}
		if (v->kind != NODE_SCALAR) {
			diag_error(ctx, v->loc, "'%s' must be a scalar, got %s", h->key, found_kind(ctx, v));
			continue;
		}
		parse_hparam(ctx, h, v, &t->hparams[k - 1]);
	}
	const char *why = info->check ? info->check(t->hparams) : NULL;
	if (why)
		diag_error(ctx, val->loc, "%s optimizer: %s", info->name, why);
}

/* ---- The learning-rate schedule: `schedule: NAME`, or a mapping with
 * `type: NAME` and that row's keys.  The rows and the keys are the
 * runtime's (runtime/schedule.c), which the driver's options use too. */

static const char *schedule_list(Ctx *ctx)
{
	return NAMES_OF(ctx, NULL, nncc_schedules, nncc_schedule_count, nncc_schedule_info_t, name);
}

/* "type, gamma, step_size, unit, warmup": the keys schedule s takes. */
static const char *schedule_keys(Ctx *ctx, const nncc_schedule_info_t *s)
{
	const char *list = "type";
	for (size_t k = 0; k < nncc_schedule_key_count; k++)
		if (s->keys >> k & 1)
			list = arena_printf(ctx->arena, "%s, %s", list, nncc_schedule_keys[k].name);
	return list;
}

/* "the cosine schedule", "the step and exponential schedules": those that
 * have key k. */
static const char *schedules_with(Ctx *ctx, size_t k)
{
	const char *list = "";
	size_t n = 0, have = 0;
	for (size_t i = 0; i < nncc_schedule_count; i++)
		have += nncc_schedules[i].keys >> k & 1;
	for (size_t i = 0; i < nncc_schedule_count; i++) {
		if (!(nncc_schedules[i].keys >> k & 1))
			continue;
		n++;
		list = arena_printf(ctx->arena, "%s%s%s", list,
		                    n == 1 ? "" : n == have ? " and " : ", ", nncc_schedules[i].name);
	}
	return arena_printf(ctx->arena, "the %s schedule%s", list, have > 1 ? "s" : "");
}

/* The index of schedule key `name`, or -1. */
static int schedule_key_find(const char *name)
{
	for (size_t k = 0; k < nncc_schedule_key_count; k++)
		if (strcmp(nncc_schedule_keys[k].name, name) == 0)
			return (int)k;
	return -1;
}

/* One key's value into its field of *s: a number or a count in the key's
 * range, or a unit word. */
static void parse_schedule_key(Ctx *ctx, const nncc_schedule_key_t *key, const Node *val,
                               nncc_schedule_t *s)
{
	char *p = (char *)s + key->offset;
	if (key->kind == NNCC_SKEY_UNIT) {
		const Field f = {key->name, NODE_SCALAR, field_enum, key->offset, false, &unit_table};
		field_enum(ctx, &f, val, s);
	} else if (key->kind == NNCC_SKEY_COUNT) {
		const Range r = {(uint64_t)key->min, (uint64_t)key->max};
		const Field f = {key->name, NODE_SCALAR, NULL, key->offset, false, &r};
		uint64_t v;
		if (get_count(ctx, &f, val, &v))
			memcpy(p, &v, sizeof v);
	} else {
		const HParam h = {.key = key->name, .min = key->min, .max = key->max,
		                  .min_open = key->min_open, .max_open = key->max_open};
		double v = NAN;
		size_t before = ctx->n_errors;
		parse_hparam(ctx, &h, val, &v);
		if (ctx->n_errors == before)
			memcpy(p, &v, sizeof v);
	}
}

/* A schedule key written directly in `training`. */
static bool training_unknown(Ctx *ctx, const Node *key)
{
	int k = schedule_key_find(key->str);
	if (k < 0)
		return false;
	const nncc_schedule_info_t *first = NULL;
	size_t have = 0;
	for (size_t i = 0; i < nncc_schedule_count; i++)
		if (nncc_schedules[i].keys >> k & 1) {
			first = first ? first : &nncc_schedules[i];
			have++;
		}
	diag_error(ctx, key->loc, "'%s' belongs in 'schedule', not in 'training': write "
	           "schedule: {type: %s, %s: ...} (%s %s it)", key->str, first->name, key->str,
	           schedules_with(ctx, (size_t)k), have > 1 ? "have" : "has");
	return true;
}

static void field_schedule(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	Training *t = obj;
	const nncc_schedule_info_t *info;
	const Node *type = val;
	unsigned given = 0;
	(void)f;
	if (val->kind == NODE_MAP) {
		type = map_get(val, "type");
		if (!type || type->kind != NODE_SCALAR) {
			diag_error(ctx, type ? type->loc : val->loc,
			           "'schedule' needs 'type: NAME' (expected: %s)", schedule_list(ctx));
			return;
		}
	} else if (val->kind != NODE_SCALAR) {
		diag_error(ctx, val->loc, "'schedule' must be a name or a mapping with 'type', got %s",
		           found_kind(ctx, val));
		return;
	}
	info = nncc_schedule_find(type->str);
	if (!info) {
		diag_error(ctx, type->loc, "unknown schedule %s (expected: %s)", found(ctx, type),
		           schedule_list(ctx));
		return;
	}
	t->schedule = info->defaults;
	for (size_t i = 0; val->kind == NODE_MAP && i < val->n; i++) {
		const Node *key = val->keys[i], *v = val->items[i];
		int k = schedule_key_find(key->str);
		if (strcmp(key->str, "type") == 0)
			continue;
		if (k >= 0 && !(info->keys >> k & 1)) {
			diag_error(ctx, key->loc, "'%s' is a key of %s, not of %s (expected: %s)", key->str,
			           schedules_with(ctx, (size_t)k), info->name, schedule_keys(ctx, info));
			continue;
		}
		if (k < 0) {
			diag_error(ctx, key->loc, "unknown key '%s' in 'training.schedule' (expected: %s)",
			           key->str, schedule_keys(ctx, info));
			continue;
		}
		given |= 1u << k;
		if (v->kind != NODE_SCALAR) {
			diag_error(ctx, v->loc, "'%s' must be a scalar, got %s", key->str, found_kind(ctx, v));
			continue;
		}
		parse_schedule_key(ctx, &nncc_schedule_keys[k], v, &t->schedule);
	}
	const Node *t_max = val->kind == NODE_MAP ? map_get(val, "t_max") : NULL;
	if (t_max && t->schedule.t_max && t->schedule.t_max <= t->schedule.warmup)
		diag_error(ctx, t_max->loc, "'t_max' must be larger than 'warmup', got %llu and %llu",
		           (unsigned long long)t->schedule.t_max, (unsigned long long)t->schedule.warmup);
	for (size_t k = 0; k < nncc_schedule_key_count; k++) {
		if (!(info->required >> k & 1) || given >> k & 1)
			continue;
		if (val->kind == NODE_SCALAR)
			diag_error(ctx, val->loc, "schedule '%s' needs '%s': write schedule: {type: %s, "
			           "%s: ...}", info->name, nncc_schedule_keys[k].name, info->name,
			           nncc_schedule_keys[k].name);
		else
			diag_error(ctx, val->loc, "missing required key '%s' in 'training.schedule' "
			           "(schedule '%s' needs it)", nncc_schedule_keys[k].name, info->name);
	}
}

/* normal and uniform take a scale and draw the biases by default (as
 * before the others existed); torch.nn.init's schemes take their spread
 * from the layer and leave the biases zero unless told. */
static void init_check(Ctx *ctx, const Node *map, void *obj)
{
	Training *t = obj;
	const Node *scale = map_get(map, "scale"), *biases = map_get(map, "biases");
	bool scaled = t->init == NNCC_INIT_NORMAL || t->init == NNCC_INIT_UNIFORM;
	if (scale && !scaled)
		diag_error(ctx, scale->loc, "'scale' applies to normal and uniform, not to %s (its "
		           "spread comes from the layer's sizes and activation)",
		           nncc_init_name(t->init));
	if (!biases)
		t->init_biases = scaled;
}

static const Field init_fields[] = {
	{"distribution", NODE_SCALAR, field_enum, offsetof(Training, init), false, &init_table},
	{"scale", NODE_SCALAR, field_positive, offsetof(Training, init_scale), false, NULL},
	{"biases", NODE_SCALAR, field_enum, offsetof(Training, init_biases), false, &biases_table},
};
static const Table init_tbl = {init_fields, sizeof init_fields / sizeof init_fields[0],
                               "in 'training.init'", init_check, NULL};

/* early_stopping: {patience, metric, min_delta} (docs/format.md). */
static const Field early_fields[] = {
	{"patience", NODE_SCALAR, field_size, offsetof(Training, patience), true, &count_range},
	{"metric", NODE_SCALAR, field_enum, offsetof(Training, metric), false, &metric_table},
	{"min_delta", NODE_SCALAR, field_nonneg, offsetof(Training, min_delta), false, NULL},
};
static const Table early_tbl = {early_fields, sizeof early_fields / sizeof early_fields[0],
                                "in 'training.early_stopping'", NULL, NULL};

static const Field training_fields[] = {
	{"optimizer", NODE_ANY, field_optimizer, 0, false, NULL},
	{"learning_rate", NODE_SCALAR, field_positive, offsetof(Training, learning_rate), false,
	 NULL},
	{"schedule", NODE_ANY, field_schedule, 0, false, NULL},
	{"clip_norm", NODE_SCALAR, field_positive, offsetof(Training, clip_norm), false, NULL},
	{"batch_size", NODE_SCALAR, field_batch, offsetof(Training, batch_size), true,
	 &count_range},
	{"iterations", NODE_SCALAR, field_size, offsetof(Training, iterations), false,
	 &count_range},
	{"epochs", NODE_SCALAR, field_size, offsetof(Training, epochs), false, &count_range},
	{"seed", NODE_SCALAR, field_u64, offsetof(Training, seed), false, NULL},
	{"shuffle", NODE_SCALAR, field_bool, offsetof(Training, shuffle), false, NULL},
	{"init", NODE_MAP, field_map, 0, false, &init_tbl},
	{"validation", NODE_SCALAR, field_validation, offsetof(Training, validation), false,
	 &count_range},
	{"early_stopping", NODE_MAP, field_map, 0, false, &early_tbl},
	{"threads", NODE_SCALAR, field_int, offsetof(Training, threads), false, &threads_range},
};
static const Table training_tbl = {training_fields,
                                   sizeof training_fields / sizeof training_fields[0],
                                   "in 'training'", training_check, training_unknown};

/* ---- data: IDX files (MNIST's format) or CSV files (docs/format.md#data). */

static const EnumName format_names[] = {
#define X(ID, v, name) {#name, NNCC_FORMAT_##ID},
	NNCC_FORMATS(X)
#undef X
};
static const EnumTable format_table = ENUM_TABLE("format", format_names);

static void field_format(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	((Data *)obj)->format_loc = val->loc;
	field_enum(ctx, f, val, obj);
}

/* The keys only CSV reads: remembered for format idx's message. */
static void csv_key_seen(Data *d, const Node *val)
{
	if (d && !d->csv_key)
		d->csv_key = val;
}

static void field_csv_path(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	csv_key_seen(obj, val);
	field_path(ctx, f, val, obj);
}

/* One byte that can split fields: ",", "\t" (or the word tab), ";", "|",
 * " "... not a quote, a line break or a NUL. */
static void field_delimiter(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	const char *s = strcmp(val->str, "tab") == 0 ? "\t" : val->str;
	csv_key_seen(obj, val);
	if (strlen(s) != 1 || *s == '"' || *s == '\n' || *s == '\r') {
		diag_error(ctx, val->loc, "'%s' must be one character other than a quote or a line "
		           "break (\",\", \";\", \"\\t\" or tab, ...), got %s", f->key, found(ctx, val));
		return;
	}
	((Data *)obj)->csv.delimiter = (unsigned char)*s;
}

static void field_csv_bool(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	bool b = false;
	const Field g = {f->key, f->kind, field_bool, 0, false, NULL};
	csv_key_seen(obj, val);
	field_bool(ctx, &g, val, &b);
	((Data *)obj)->csv.header = b;
}

static void field_skip_rows(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	csv_key_seen(obj, val);
	field_size(ctx, f, val, obj);
}

/* A column: its header name or its 0-based index (negative from the end). */
static bool column_ok(Ctx *ctx, const char *key, const Node *val)
{
	if (val->kind != NODE_SCALAR || !*val->str || strlen(val->str) > NNCC_CLASS_NAME_MAX) {
		diag_error(ctx, val->loc, "'%s' must name a column (its header name, or its index "
		           "from 0), got %s", key, found(ctx, val));
		return false;
	}
	return true;
}

static void field_label(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	csv_key_seen(obj, val);
	if (column_ok(ctx, f->key, val))
		((Data *)obj)->csv.label = val->str;
}

/* A list of scalars, or one scalar, into an arena array. */
static const char *const *scalar_list(Ctx *ctx, const Node *val, size_t *n)
{
	const char **v;
	if (val->kind == NODE_SCALAR) {
		*n = 1;
		v = arena_alloc(ctx->arena, sizeof *v);
		v[0] = val->str;
		return v;
	}
	*n = val->n;
	v = arena_alloc(ctx->arena, (val->n ? val->n : 1) * sizeof *v);
	for (size_t i = 0; i < val->n; i++)
		v[i] = val->items[i]->str;
	return v;
}

/* A column or a list of them (ignore, targets); NULL after a diagnostic. */
static const char *const *column_list(Ctx *ctx, const Field *f, const Node *val, size_t *n)
{
	csv_key_seen(NULL, val);
	if (val->kind == NODE_MAP || (val->kind == NODE_SEQ && val->n == 0)) {
		diag_error(ctx, val->loc, "'%s' must be a column or a non-empty list of columns, got %s",
		           f->key, val->kind == NODE_SEQ ? "an empty list" : found_kind(ctx, val));
		return NULL;
	}
	for (size_t i = 0; val->kind == NODE_SEQ && i < val->n; i++)
		if (!column_ok(ctx, f->key, val->items[i]))
			return NULL;
	if (val->kind == NODE_SCALAR && !column_ok(ctx, f->key, val))
		return NULL;
	return scalar_list(ctx, val, n);
}

static void field_ignore(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	Data *d = obj;
	csv_key_seen(d, val);
	d->csv.ignore = column_list(ctx, f, val, &d->csv.n_ignore);
}

/* Regression: the target columns (the network's outputs, in order). */
static void field_targets(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	Data *d = obj;
	csv_key_seen(d, val);
	d->targets_loc = val->loc;
	d->csv.targets = column_list(ctx, f, val, &d->csv.n_targets);
	if (!d->csv.targets)
		d->csv.n_targets = 0;
}

/* The class names, class k the k-th: distinct, 1..NNCC_CLASS_NAME_MAX bytes. */
static void field_classes(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	Data *d = obj;
	csv_key_seen(d, val);
	if (val->kind != NODE_SEQ || val->n == 0) {
		diag_error(ctx, val->loc, "'%s' must be a non-empty list of class names, got %s",
		           f->key, val->kind == NODE_SEQ ? "an empty list" : found_kind(ctx, val));
		return;
	}
	for (size_t i = 0; i < val->n; i++) {
		const Node *c = val->items[i];
		if (c->kind != NODE_SCALAR || !*c->str || strlen(c->str) > NNCC_CLASS_NAME_MAX) {
			diag_error(ctx, c->loc, "a class name must be a scalar of 1 to %d bytes, got %s",
			           NNCC_CLASS_NAME_MAX, found(ctx, c));
			return;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(val->items[j]->str, c->str) == 0) {
				diag_error(ctx, c->loc, "class '%s' is listed twice (classes %zu and %zu)",
				           c->str, j, i);
				return;
			}
	}
	d->classes_loc = val->loc;
	d->csv.classes = scalar_list(ctx, val, &d->csv.n_classes);
}

/* Format idx takes the IDX keys, csv the CSV keys; csv needs both files
 * and standardizes each feature on its own. */
static void data_check(Ctx *ctx, const Node *map, void *obj)
{
	Data *d = obj;
	if (d->format == NNCC_FORMAT_IDX) {
		if (d->csv_key)
			diag_error(ctx, d->csv_key->loc, "this key is for CSV files: add 'format: csv' "
			           "to 'data' (the format is idx, MNIST's)");
		return;
	}
	static const char *const idx_keys[] = {
#define X(ID, key, file) #key,
		NNCC_FILES(X)
#undef X
	};
	for (size_t i = 0; i < map->n; i++)
		for (int k = 0; k < NNCC_DATA_FILES; k++)
			if (strcmp(map->keys[i]->str, idx_keys[k]) == 0)
				diag_error(ctx, map->keys[i]->loc, "'%s' is for IDX files; a CSV file holds "
				           "its labels: give 'train' and 'test'", map->keys[i]->str);
	if (!d->train || !d->test)
		diag_error(ctx, map->loc, "format csv needs 'train' and 'test' (the two CSV files)");
	if (d->csv.n_targets && (map_get(map, "label") || map_get(map, "classes")))
		diag_error(ctx, d->targets_loc, "'targets' (regression) and '%s' (classification) "
		           "exclude each other", map_get(map, "label") ? "label" : "classes");
	for (int k = 0; k < NNCC_DATA_FILES; k++)
		d->files[k] = NULL;
	d->files[NNCC_FILE_TRAIN_IMAGES] = d->train;
	d->files[NNCC_FILE_TEST_IMAGES] = d->test;
	if (d->normalize == NNCC_NORM_STANDARDIZE)
		d->normalize = NNCC_NORM_STANDARDIZE_FEATURES;
}

static const Field data_fields[] = {
	{"format", NODE_SCALAR, field_format, offsetof(Data, format), false, &format_table},
	{"dir", NODE_SCALAR, field_path, offsetof(Data, dir), false, NULL},
#define X(ID, key, file) \
	{#key, NODE_SCALAR, field_path, offsetof(Data, files) + NNCC_FILE_##ID * sizeof(char *), \
	 false, NULL},
	NNCC_FILES(X)
#undef X
	{"train", NODE_SCALAR, field_csv_path, offsetof(Data, train), false, NULL},
	{"test", NODE_SCALAR, field_csv_path, offsetof(Data, test), false, NULL},
	{"delimiter", NODE_SCALAR, field_delimiter, 0, false, NULL},
	{"header", NODE_SCALAR, field_csv_bool, 0, false, NULL},
	{"skip_rows", NODE_SCALAR, field_skip_rows, offsetof(Data, csv.skip_rows), false,
	 &skip_range},
	{"label", NODE_SCALAR, field_label, 0, false, NULL},
	{"ignore", NODE_ANY, field_ignore, 0, false, NULL},
	{"targets", NODE_ANY, field_targets, 0, false, NULL},
	{"classes", NODE_ANY, field_classes, 0, false, NULL},
	{"normalize", NODE_SCALAR, field_enum, offsetof(Data, normalize), false, &norm_table},
};
static const Table data_tbl = {data_fields, sizeof data_fields / sizeof data_fields[0],
                               "in 'data'", data_check, NULL};

/* ---- pretrain: the autoencoders' settings (docs/format.md#pretrain); the
 * layers and the defaults that come from `training` are resolved in
 * pretrain_resolve, once the network has its shape. */

static void field_pre_layers(Ctx *ctx, const Field *f, const Node *val, void *obj)
{
	(void)f;
	if (!val->n)
		diag_error(ctx, val->loc, "'layers' in 'pretrain' is empty (leave it out to pre-train "
		           "every dense layer below the output layer)");
	for (size_t i = 0; i < val->n; i++)
		if (val->items[i]->kind != NODE_SCALAR)
			diag_error(ctx, val->items[i]->loc, "'layers' in 'pretrain' lists layer names, got %s",
			           found_kind(ctx, val->items[i]));
	((Pretrain *)obj)->layers_node = val;
}

static void pretrain_check(Ctx *ctx, const Node *map, void *obj)
{
	Pretrain *p = obj;
	const Node *mu = map_key(map, "momentum"), *batch = map_get(map, "batch_size");
	p->loc = map->loc;
	const Node *loss = map_get(map, "loss");
	p->batch_loc = batch ? batch->loc : map->loc;
	p->loss_loc = loss ? loss->loc : map->loc;
	p->c.tied = p->tied;
	if (mu && p->optimizer == 0)
		diag_error(ctx, mu->loc, "'momentum' in 'pretrain' needs 'optimizer: momentum' (sgd "
		           "has none)");
	else if (!mu && p->optimizer == 1)
		p->c.momentum = 0.9;
	else if (mu && !(p->c.momentum > 0 && p->c.momentum < 1))
		diag_error(ctx, map_get(map, "momentum")->loc, "'momentum' must be in (0, 1), got %s",
		           found(ctx, map_get(map, "momentum")));
}

static const Field pretrain_fields[] = {
	{"epochs", NODE_SCALAR, field_size, offsetof(Pretrain, c.epochs), true, &count_range},
	{"learning_rate", NODE_SCALAR, field_positive, offsetof(Pretrain, c.learning_rate), false,
	 NULL},
	{"batch_size", NODE_SCALAR, field_size, offsetof(Pretrain, c.batch_size), false,
	 &count_range},
	{"optimizer", NODE_SCALAR, field_enum, offsetof(Pretrain, optimizer), false, &pre_opt_table},
	{"momentum", NODE_SCALAR, field_nonneg, offsetof(Pretrain, c.momentum), false, NULL},
	{"loss", NODE_SCALAR, field_enum, offsetof(Pretrain, c.loss), false, &recon_table},
	{"noise", NODE_SCALAR, field_fraction, offsetof(Pretrain, c.noise), false, NULL},
	{"tied", NODE_SCALAR, field_bool, offsetof(Pretrain, tied), false, NULL},
	{"layers", NODE_SEQ, field_pre_layers, 0, false, NULL},
};
static const Table pretrain_tbl = {pretrain_fields,
                                   sizeof pretrain_fields / sizeof pretrain_fields[0],
                                   "in 'pretrain'", pretrain_check, NULL};

static const Field root_fields[] = {
	{"network", NODE_SCALAR, field_ident, offsetof(Model, name), true, NULL},
	{"input", NODE_SCALAR, field_size, offsetof(Model, inputs), true, &units_range},
	{"dtype", NODE_SCALAR, field_enum, offsetof(Model, dtype), false, &dtype_table},
	{"layers", NODE_SEQ, field_layers, 0, true, NULL},
	{"loss", NODE_SCALAR, field_loss, offsetof(Model, loss), false, NULL},
	{"training", NODE_MAP, field_map, offsetof(Model, train), true, &training_tbl},
	{"data", NODE_MAP, field_map, offsetof(Model, data), false, &data_tbl},
	{"pretrain", NODE_MAP, field_map, offsetof(Model, pre), false, &pretrain_tbl},
};
static const Table root_tbl = {root_fields, sizeof root_fields / sizeof root_fields[0],
                               "at top level", NULL, NULL};

static void model_defaults(Model *m)
{
	m->dtype = DTYPE_F32;
	m->loss = &loss_table[0];
	optimizer_set(&m->train, &optimizer_table[0]);
	m->train.schedule = nncc_schedules[NNCC_SCHEDULE_CONSTANT].defaults;
	m->train.seed = 1;
	m->train.shuffle = false;
	m->train.init = NNCC_INIT_NORMAL;
	m->train.init_scale = 0.1;
	m->train.init_biases = 1;
	m->train.threads = 0;
	m->data.dir = "data/mnist";
	for (int i = 0; i < NNCC_DATA_FILES; i++)
		m->data.files[i] = nncc_default_files[i];
	m->data.normalize = NNCC_NORM_STANDARDIZE;
	m->data.format = NNCC_FORMAT_IDX;
	m->data.csv.delimiter = ',';
	m->data.csv.header = 1;
}

/* ---- Cross-key checks and shapes. */

/* The kinds that may be first, for the message: "dense". */
static const char *first_kinds(Ctx *ctx)
{
	const char *s = "";
	for (size_t k = 0; k < kind_count; k++)
		if (kind_table[k].first_ok)
			s = arena_printf(ctx->arena, "%s%s%s", s, *s ? " or " : "", kind_table[k].name);
	return s;
}

/* Layer order (first/last rules), the loss's output layer, unique names. */
static void check_layer_order(Ctx *ctx, Model *m, const Node *root)
{
	size_t n = m->n_layers;
	for (size_t i = 0; i < n; i++) {
		const Layer *L = &m->layers[i];
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->layers[j].name, L->name) == 0) {
				diag_error(ctx, L->loc, "duplicate layer name \"%s\" (layer %zu at %d:%d)",
				           L->name, j + 1, m->layers[j].loc.line, m->layers[j].loc.col);
				break;
			}
		if (!L->kind)
			continue;
		const KindInfo *kind = L->kind;
		if (i == 0 && !kind->first_ok)
			diag_error(ctx, L->loc, "the first layer must be %s, got %s", first_kinds(ctx),
			           kind->name);
		else if (i + 1 < n && kind->last_only)
			diag_error(ctx, L->loc, "%s must be the last layer (it is layer %zu of %zu)",
			           kind->name, i + 1, n);
		else if (i + 1 == n && kind->not_last)
			diag_error(ctx, L->loc, "%s cannot be the last layer", kind->name);
		else if (i > 0 && kind->after && m->layers[i - 1].kind &&
		         strcmp(m->layers[i - 1].kind->name, kind->after) != 0)
			diag_error(ctx, L->loc, "%s must follow the input or a %s layer, not %s \"%s\"",
			           kind->name, kind->after, m->layers[i - 1].kind->name,
			           m->layers[i - 1].name);
	}
	const Layer *last = &m->layers[n - 1];
	const Node *loss = map_get(root, "loss");
	if (!last->kind || (loss && (loss->kind != NODE_SCALAR || !loss_find(loss->str))))
		return;  /* already reported */
	if (loss_fits(m->loss, last))
		return;
	/* Name what fits: the losses the last layer would take. */
	const char *is = last->kind->has_activation
	                     ? arena_printf(ctx->arena, "%s, %s", last->kind->name,
	                                    activation_table[last->act].name)
	                     : last->kind->name;
	const char *fits = "";
	for (size_t k = 0; k < loss_count; k++)
		if (loss_fits(&loss_table[k], last))
			fits = arena_printf(ctx->arena, "%s%s%s", fits, *fits ? " or " : "; loss ",
			                    loss_table[k].name);
	diag_error(ctx, loss ? loss->loc : last->loc,
	           "loss '%s'%s needs %s (the last layer \"%s\" is %s%s%s)", m->loss->name,
	           loss ? "" : " (the default)", loss_output_text(ctx->arena, m->loss), last->name,
	           is, fits, *fits ? " fits it" : "");
}

/* Fills in/out, the parameter tensors and n_params; only when every layer
 * parsed.  A kind's tensors hold at most (in + 1) * out parameters. */
static void model_shape(Ctx *ctx, Model *m)
{
	if (!m->inputs || !m->n_layers)
		return;
	for (size_t i = 0; i < m->n_layers; i++)
		if (!m->layers[i].kind)
			return;
	size_t width = m->inputs, total = 0;
	for (size_t i = 0; i < m->n_layers; i++) {
		Layer *L = &m->layers[i];
		const KindInfo *kind = L->kind;
		L->in = width;
		L->out = kind->out(L, width);
		if (!L->out)
			return;   /* a key it needs was reported */
		/* in, out <= 2^24 already; checked anyway, for a 32-bit size_t. */
		size_t most;   /* (in + 1) * out */
		if (!ckd_mul_size(&most, L->in, L->out) || !ckd_add_size(&most, most, L->out) ||
		    most > NNCC_MAX_PARAMS - total) {
			diag_error(ctx, L->loc,
			           "too many parameters: layer \"%s\" (%zu->%zu) takes the "
			           "network past %zu",
			           L->name, L->in, L->out, NNCC_MAX_PARAMS);
			return;
		}
		L->n_tensors = kind->tensors(L, total);
		L->n_params = 0;
		for (size_t t = 0; t < L->n_tensors; t++)
			L->n_params += L->tensors[t].size;
		total += L->n_params;
		width = L->out;
	}
	if (!total && !ctx->n_errors) {   /* (softmax first is reported already) */
		diag_error(ctx, m->layers[0].loc, "the network has no parameters to train "
		           "(no dense layer)");
		return;
	}
	m->n_params = total;
	m->outputs = width;
}

/* The layer whose output layer e reads while pre-training (the layers
 * below in evaluation mode: dropout is the identity), or NULL: the inputs. */
static const Layer *input_source(const Model *m, size_t e)
{
	while (e-- > 0)
		if (m->layers[e].kind->has_activation)
			return &m->layers[e];
	return NULL;
}

/* pretrain's layers, its defaults from `training` and the decoders, once
 * the network has its shape. */
static void pretrain_resolve(Ctx *ctx, Model *m)
{
	Pretrain *p = &m->pre;
	const Layer *out = NULL;   /* the output layer: the last with parameters */
	size_t n = 0, total = 0;

	if (!p->loc.line)
		return;
	for (size_t l = 0; l < m->n_layers; l++)
		if (m->layers[l].n_tensors)
			out = &m->layers[l];
	bool *on = arena_alloc(ctx->arena, m->n_layers * sizeof *on);
	const Node *ln = p->layers_node;
	for (size_t i = 0; ln && i < ln->n; i++) {
		const Node *item = ln->items[i];
		size_t l = 0;
		if (item->kind != NODE_SCALAR)
			continue;
		while (l < m->n_layers && strcmp(m->layers[l].name, item->str) != 0)
			l++;
		if (l == m->n_layers)
			diag_error(ctx, item->loc, "no layer named %s in the network", found(ctx, item));
		else if (on[l])
			diag_error(ctx, item->loc, "layer \"%s\" is listed twice", item->str);
		else if (&m->layers[l] == out || strcmp(m->layers[l].kind->name, "dense") != 0)
			diag_error(ctx, item->loc, "layer \"%s\" cannot be pre-trained: only a dense layer "
			           "below the output layer can (it is %s)", item->str,
			           &m->layers[l] == out ? "the output layer"
			                                : arena_printf(ctx->arena, "a %s layer",
			                                               m->layers[l].kind->name));
		else
			on[l] = true;
	}
	for (size_t l = 0; !ln && l < m->n_layers; l++)
		on[l] = &m->layers[l] != out && strcmp(m->layers[l].kind->name, "dense") == 0;
	for (size_t l = 0; l < m->n_layers; l++)
		n += on[l];
	if (!n && !ln) {
		diag_error(ctx, p->loc, "'pretrain' needs a hidden dense layer: the network has none "
		           "below its output layer");
		return;
	}
	if (!p->c.learning_rate)
		p->c.learning_rate = m->train.learning_rate;
	if (!p->c.batch_size) {
		size_t B = m->train.batch_size;
		if (B < 1 || B > PLAN_MAX_TILE)
			diag_error(ctx, p->loc, "'pretrain' needs a 'batch_size' (at most %d): training's "
			           "is %s", PLAN_MAX_TILE, B ? "larger" : "the full batch");
		p->c.batch_size = B;
	} else if (p->c.batch_size > PLAN_MAX_TILE) {
		diag_error(ctx, p->batch_loc, "pretrain's 'batch_size' is too large: %zu (at most %d)",
		           p->c.batch_size, PLAN_MAX_TILE);
	}
	p->n = 0;
	p->layer = arena_alloc(ctx->arena, (n ? n : 1) * sizeof *p->layer);
	p->decoder = arena_alloc(ctx->arena, (n ? n : 1) * sizeof *p->decoder);
	for (size_t l = 0; l < m->n_layers; l++) {
		if (!on[l])
			continue;
		const Layer *E = &m->layers[l];
		const Layer *src = input_source(m, l);
		if (p->c.loss == NNCC_RECON_CROSS_ENTROPY &&
		    (src ? src->act != ACT_SIGMOID : m->data.normalize != NNCC_NORM_SCALE))
			diag_error(ctx, p->loss_loc, "pretrain's loss cross_entropy needs inputs in [0, 1], but "
			           "layer \"%s\" reads %s (use loss: squared_error)", E->name,
			           src ? arena_printf(ctx->arena, "the %s output of \"%s\"",
			                              activation_table[src->act].name, src->name)
			               : arena_printf(ctx->arena, "inputs normalized by %s, not scale",
			                              nncc_norm_name(m->data.normalize)));
		Layer *D = &p->decoder[p->n];
		*D = (Layer){.kind = E->kind, .loc = p->loc, .in = E->out, .out = E->in,
		             .act = ACT_SIGMOID,
		             .name = arena_printf(ctx->arena, "%s_decoder", E->name)};
		D->n_tensors = D->kind->tensors(D, m->n_params + total);
		for (size_t t = 0; t < D->n_tensors; t++)
			D->n_params += D->tensors[t].size;
		if (D->n_params > NNCC_MAX_PARAMS - m->n_params - total) {
			diag_error(ctx, p->loc, "too many parameters: the decoder of layer \"%s\" takes "
			           "the trainer past %zu", E->name, NNCC_MAX_PARAMS);
			return;
		}
		total += D->n_params;
		p->layer[p->n++] = l;
	}
	p->n_params = total;
}

/* Owner: the arena. */
Model *model_from_yaml(Ctx *ctx, const char *path, const Node *root)
{
	size_t errors_before = ctx->n_errors;
	Model *m = arena_alloc(ctx->arena, sizeof *m);
	m->path = path;
	model_defaults(m);
	if (root->kind != NODE_MAP) {
		diag_error(ctx, root->loc, "the document must be a mapping, got %s",
		           found_kind(ctx, root));
		return NULL;
	}
	parse_map(ctx, root, &root_tbl, root_tbl.where, m);
	if (m->n_layers) {
		check_layer_order(ctx, m, root);
		model_shape(ctx, m);
		if (ctx->n_errors == errors_before)
			pretrain_resolve(ctx, m);
	}
	if (ctx->n_errors == errors_before && m->data.csv.n_targets) {
		if (strcmp(m->loss->name, "squared_error"))
			diag_error(ctx, m->data.targets_loc, "regression ('targets') needs loss: "
			           "squared_error on a linear output layer, not %s", m->loss->name);
		else if (m->train.metric == NNCC_METRIC_VAL_ACCURACY)
			diag_error(ctx, m->data.targets_loc, "a regression has no accuracy: early_stopping's "
			           "metric must be val_loss");
		else if (m->data.csv.n_targets != m->outputs)
			diag_error(ctx, m->data.targets_loc, "%zu target column%s, but the network has %zu "
			           "outputs", m->data.csv.n_targets, m->data.csv.n_targets == 1 ? "" : "s",
			           m->outputs);
	}
	if (ctx->n_errors == errors_before && m->data.csv.n_classes > m->outputs)
		diag_error(ctx, m->data.classes_loc, "%zu classes, but the network has %zu outputs",
		           m->data.csv.n_classes, m->outputs);
	return ctx->n_errors == errors_before ? m : NULL;
}

/* Owner: the arena. */
Model *model_load(Ctx *ctx, const char *path)
{
	size_t len;
	char *src = read_file(ctx, path, &len);
	if (!src)
		return NULL;
	Node *root = yaml_parse(ctx, path, src, len);
	if (!root)
		return NULL;
	Model *m = model_from_yaml(ctx, path, root);
	if (m)
		nncc_sha256_hex(src, len, m->sha256);
	return m;
}

nncc_layer_t model_layer_desc(Arena *a, const Model *m, size_t l)
{
	const Layer *L = &m->layers[l];
	nncc_param_t *ts = arena_alloc(a, (L->n_tensors ? L->n_tensors : 1) * sizeof *ts);
	for (size_t t = 0; t < L->n_tensors; t++) {
		const Tensor *T = &L->tensors[t];
		ts[t] = (nncc_param_t){T->name, T->offset, T->size,   T->rows,    T->cols,
		                       T->bias, T->fan_in, T->fan_out, T->gain};
	}
	return (nncc_layer_t){
		.name = L->name,
		.kind = L->kind->name,
		.activation = L->kind->has_activation ? activation_table[L->act].name : NULL,
		.in = L->in,
		.out = L->out,
		.n_tensors = L->n_tensors,
		.tensors = ts,
	};
}

uint64_t model_shape_hash(Arena *a, const Model *m)
{
	nncc_layer_t *ls = arena_alloc(a, (m->n_layers ? m->n_layers : 1) * sizeof *ls);
	for (size_t l = 0; l < m->n_layers; l++)
		ls[l] = model_layer_desc(a, m, l);
	return nncc_shape_hash_layers(ls, m->n_layers, m->inputs, (int)m->dtype);
}
