/*
 * yaml.c - YAML text -> Node tree, built from libyaml's event API.
 * Every node keeps the 1-based Loc it starts at.  This layer knows nothing
 * about networks: it only rejects what nncc never accepts in any document
 * (anchors, aliases, tags, duplicate or non-scalar keys, several documents,
 * absurd nesting) and reports libyaml's own syntax errors with their mark.
 * Vocabulary: event = one libyaml parse event; P = the parse state.
 */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "nncc.h"

enum { YAML_MAX_DEPTH = 64 };

typedef struct Parser {
	Ctx *ctx;
	const char *path;
	yaml_parser_t yp;
	int depth;
	/* The children of every open collection, innermost last: a collection's
	 * children are copied out of it, exactly sized, when it ends.  One
	 * buffer for the whole file (malloc'd, freed by yaml_parse). */
	Node **stack;
	size_t top, cap;
} Parser;

static void stack_push(Parser *P, Node *node)
{
	if (P->top == P->cap) {
		size_t cap = P->cap ? P->cap * 2 : 256;
		Node **bigger = cap <= SIZE_MAX / sizeof *bigger
		                        ? realloc(P->stack, cap * sizeof *bigger) : NULL;
		if (!bigger)
			nncc_oom(cap * sizeof *bigger);
		P->stack = bigger;
		P->cap = cap;
	}
	P->stack[P->top++] = node;
}

const char *node_kind_name(NodeKind k)
{
	switch (k) {
	case NODE_SCALAR: return "a scalar";
	case NODE_MAP: return "a mapping";
	case NODE_SEQ: return "a sequence";
	case NODE_ANY: return "any value";
	}
	NNCC_UNREACHABLE();
}

static Loc mark_loc(const Parser *P, yaml_mark_t m)
{
	return diag_loc_from_mark(P->path, m.line, m.column);
}

/* The reader reports a byte offset, not a mark: count lines and characters. */
static Loc offset_loc(const Parser *P, size_t offset)
{
	const char *s = P->ctx->src;
	size_t line = 0, col = 0;
	for (size_t i = 0; i < offset && i < P->ctx->src_len; i++) {
		if (s[i] == '\n') {
			line++;
			col = 0;
		} else if (((unsigned char)s[i] & 0xC0) != 0x80) {
			col++;
		}
	}
	return diag_loc_from_mark(P->path, line, col);
}

/* libyaml failed: report its problem text at its mark. */
static void report_syntax(Parser *P)
{
	yaml_parser_t *yp = &P->yp;
	const char *problem = yp->problem ? yp->problem : "unknown error";
	switch (yp->error) {
	case YAML_READER_ERROR:
		if (yp->problem_value != -1)
			diag_error(P->ctx, offset_loc(P, yp->problem_offset),
			           "invalid YAML input: %s (byte 0x%02x)", problem,
			           (unsigned)yp->problem_value & 0xFFu);
		else
			diag_error(P->ctx, offset_loc(P, yp->problem_offset),
			           "invalid YAML input: %s", problem);
		return;
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
		if (yp->context) {
			Loc c = mark_loc(P, yp->context_mark);
			diag_error(P->ctx, mark_loc(P, yp->problem_mark),
			           "YAML syntax error: %s (%s at %d:%d)", problem,
			           yp->context, c.line, c.col);
		} else {
			diag_error(P->ctx, mark_loc(P, yp->problem_mark),
			           "YAML syntax error: %s", problem);
		}
		return;
	case YAML_MEMORY_ERROR:
		diag_fatal(P->ctx, "out of memory parsing '%s'", P->path);
		return;
	default:
		diag_error(P->ctx, mark_loc(P, yp->problem_mark), "YAML error: %s", problem);
		return;
	}
}

/* Next event into *ev; false after reporting a syntax error. */
static bool next_event(Parser *P, yaml_event_t *ev)
{
	if (yaml_parser_parse(&P->yp, ev))
		return true;
	report_syntax(P);
	return false;
}

/* Anchors and tags would make the document mean something other than what
 * nncc reads: reject them (and keep going, to report the rest). */
static void reject_anchor_tag(Parser *P, const yaml_event_t *ev,
                              const yaml_char_t *anchor, const yaml_char_t *tag)
{
	Loc loc = mark_loc(P, ev->start_mark);
	if (anchor)
		diag_error(P->ctx, loc,
		           "anchors are not supported (found '&%s'); write the value out",
		           (const char *)anchor);
	if (tag)
		diag_error(P->ctx, loc, "tags are not supported (found tag '%s')",
		           (const char *)tag);
}

static Node *parse_node(Parser *P, yaml_event_t *ev);

/* Pushes the nodes up to `end` (for a map, alternately keys and values).
 * ev is the start event; consumed.  False on a syntax error. */
static bool parse_children(Parser *P, yaml_event_type_t end)
{
	for (;;) {
		yaml_event_t ev;
		if (!next_event(P, &ev))
			return false;
		if (ev.type == end) {
			yaml_event_delete(&ev);
			return true;
		}
		Node *child = parse_node(P, &ev);
		if (!child)
			return false;
		stack_push(P, child);
	}
}

/* FNV-1a: the key set below only needs a cheap, well-spread hash. */
static uint64_t key_hash(const char *s)
{
	uint64_t h = 14695981039346656037u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

/* Splits alternating key/value nodes into map->keys/items, checking keys.
 * Duplicates are found through an open-addressing set of the scalar keys
 * (at most half full), so a mapping of n keys costs O(n), not O(n^2). */
static void map_fill(Parser *P, Node *map, Node *const *kv, size_t n_kv)
{
	Arena *a = P->ctx->arena;
	map->n = n_kv / 2;
	map->keys = arena_alloc(a, (map->n ? map->n : 1) * sizeof *map->keys);
	map->items = arena_alloc(a, (map->n ? map->n : 1) * sizeof *map->items);
	size_t cap = 8;
	while (cap < 2 * map->n)
		cap *= 2;   /* n < n_kv, a count of arena objects: cannot overflow */
	const Node **set = arena_alloc(a, cap * sizeof *set);   /* zeroed */
	for (size_t i = 0; i < map->n; i++) {
		Node *key = kv[2 * i];
		map->keys[i] = key;
		map->items[i] = kv[2 * i + 1];
		if (key->kind != NODE_SCALAR) {
			diag_error(P->ctx, key->loc, "mapping keys must be scalars, got %s",
			           node_kind_name(key->kind));
			continue;
		}
		size_t h = (size_t)key_hash(key->str) & (cap - 1);
		while (set[h] && strcmp(set[h]->str, key->str) != 0)
			h = (h + 1) & (cap - 1);
		if (set[h])
			diag_error(P->ctx, key->loc, "duplicate key '%s' (first given at %d:%d)",
			           key->str, set[h]->loc.line, set[h]->loc.col);
		else
			set[h] = key;
	}
}

/* A scalar or alias event becomes a scalar node.  An alias is reported and
 * stands in as an empty scalar, so the rest of the file is still checked. */
static void parse_scalar(Parser *P, const yaml_event_t *ev, Node *node)
{
	node->kind = NODE_SCALAR;
	if (ev->type == YAML_ALIAS_EVENT) {
		diag_error(P->ctx, node->loc,
		           "aliases are not supported (found '*%s'); write the value out",
		           (const char *)ev->data.alias.anchor);
		node->str = "";
		return;
	}
	reject_anchor_tag(P, ev, ev->data.scalar.anchor, ev->data.scalar.tag);
	node->str = arena_strndup(P->ctx->arena, (const char *)ev->data.scalar.value,
	                          ev->data.scalar.length);
	/* Quoted and block scalars are always strings, never numbers or booleans. */
	node->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
	/* "\0" in a double-quoted scalar would silently cut the C string short. */
	if (strlen(node->str) != ev->data.scalar.length)
		diag_error(P->ctx, node->loc, "scalar contains a NUL character");
}

/* A mapping or sequence: its children up to the matching end event.  ev is
 * consumed.  False on a syntax error or when nesting is too deep. */
static bool parse_collection(Parser *P, yaml_event_t *ev, Node *node)
{
	bool is_map = ev->type == YAML_MAPPING_START_EVENT;
	if (is_map)
		reject_anchor_tag(P, ev, ev->data.mapping_start.anchor,
		                  ev->data.mapping_start.tag);
	else
		reject_anchor_tag(P, ev, ev->data.sequence_start.anchor,
		                  ev->data.sequence_start.tag);
	yaml_event_delete(ev);
	/* Recursion depth is bounded so a hostile file cannot blow the stack. */
	if (P->depth >= YAML_MAX_DEPTH) {
		diag_error(P->ctx, node->loc, "nesting deeper than %d levels", YAML_MAX_DEPTH);
		return false;
	}
	size_t first = P->top;
	P->depth++;
	bool ok = parse_children(P, is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT);
	P->depth--;
	if (!ok)
		return false;
	size_t n = P->top - first;
	Node **kids = n ? P->stack + first : NULL;   /* no stack yet before a first child */
	node->kind = is_map ? NODE_MAP : NODE_SEQ;
	if (is_map) {
		map_fill(P, node, kids, n);
	} else {
		node->n = n;
		node->items = arena_alloc(P->ctx->arena, (n ? n : 1) * sizeof *node->items);
		if (n)
			memcpy(node->items, kids, n * sizeof *kids);
	}
	P->top = first;
	return true;
}

/* Builds the node that starts with *ev (consumed).  NULL only when parsing
 * cannot go on (a syntax error); other problems are reported and parsing
 * continues, so one run shows them all. */
static Node *parse_node(Parser *P, yaml_event_t *ev)
{
	Node *node = arena_alloc(P->ctx->arena, sizeof *node);
	node->loc = mark_loc(P, ev->start_mark);
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
	case YAML_ALIAS_EVENT:
		parse_scalar(P, ev, node);
		yaml_event_delete(ev);
		return node;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		return parse_collection(P, ev, node) ? node : NULL;
	default:
		NNCC_UNREACHABLE();  /* libyaml only starts a node with these */
	}
}

/* Walks stream-start, one document, stream-end.  The root, or NULL. */
static Node *parse_stream(Parser *P)
{
	yaml_event_t ev;
	if (!next_event(P, &ev))
		return NULL;
	yaml_event_delete(&ev);            /* STREAM_START */
	if (!next_event(P, &ev))
		return NULL;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		diag_error(P->ctx, diag_loc_from_mark(P->path, 0, 0),
		           "empty document (expected a mapping of network settings)");
		return NULL;
	}
	yaml_event_delete(&ev);            /* DOCUMENT_START */
	if (!next_event(P, &ev))
		return NULL;
	Node *root = parse_node(P, &ev);
	if (!root)
		return NULL;
	if (root->kind == NODE_SCALAR && !root->quoted && !root->str[0]) {
		diag_error(P->ctx, root->loc,
		           "empty document (expected a mapping of network settings)");
		return NULL;
	}
	if (!next_event(P, &ev))
		return NULL;
	yaml_event_delete(&ev);            /* DOCUMENT_END */
	if (!next_event(P, &ev))
		return NULL;
	if (ev.type != YAML_STREAM_END_EVENT) {
		diag_error(P->ctx, mark_loc(P, ev.start_mark),
		           "multiple YAML documents are not supported (found a second one)");
		yaml_event_delete(&ev);
		return NULL;
	}
	yaml_event_delete(&ev);
	return root;
}

/* Owner: the arena.  Also makes src the Ctx's caret source. */
Node *yaml_parse(Ctx *ctx, const char *path, const char *src, size_t len)
{
	ctx->src = src;
	ctx->src_len = len;
	ctx->src_file = path;
	Parser P = {.ctx = ctx, .path = path};
	if (!yaml_parser_initialize(&P.yp)) {
		diag_fatal(ctx, "cannot initialise the YAML parser (out of memory)");
		return NULL;
	}
	yaml_parser_set_input_string(&P.yp, (const unsigned char *)src, len);
	size_t errors_before = ctx->n_errors;
	Node *root = parse_stream(&P);
	yaml_parser_delete(&P.yp);
	free(P.stack);
	return ctx->n_errors == errors_before ? root : NULL;
}
