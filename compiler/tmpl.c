/*
 * tmpl.c - growable text buffers and template expansion.  A template is a C
 * file from templates/ (compiled in as build/templates.c) split into sections
 * by lines "//@ section NAME"; text before the first section is the file's own
 * description and is never emitted.  Expansion substitutes {{NAME}}
 * placeholders and nothing else: no conditionals, no loops (decisions stay in
 * the plan and the kinds' hooks).  It is strict so a typo in a template or
 * the emitter is caught by the unit test that expands every section: an
 * unknown placeholder, a value that is NULL, a value the section never uses
 * (unless the caller passed it as `shared`, a set several sections draw
 * from) and an unknown section are all errors naming template:line.
 */
#include <stdlib.h>
#include <string.h>

#include "nncc.h"

#define SECTION_MARK "//@ section "

/* ---- Buf: malloc'd, owned by whoever called buf_init; buf_fini frees. */

void buf_init(Buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_fini(Buf *b)
{
	free(b->data);
	buf_init(b);
}

/* Makes room for n more bytes plus the terminating NUL. */
static void buf_reserve(Buf *b, size_t n)
{
	if (n < b->cap - b->len && b->data)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len <= n) {
		if (cap > SIZE_MAX / 2) {
			fputs("nncc: out of memory (text buffer)\n", stderr);
			exit(1);
		}
		cap *= 2;
	}
	char *p = realloc(b->data, cap);
	if (!p) {
		fprintf(stderr, "nncc: out of memory (allocating %zu bytes)\n", cap);
		exit(1);
	}
	b->data = p;
	b->cap = cap;
}

static void buf_putn(Buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = 0;
}

void buf_puts(Buf *b, const char *s)
{
	buf_putn(b, s, strlen(s));
}

void buf_vprintf(Buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		NNCC_UNREACHABLE();
	buf_reserve(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void buf_printf(Buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

const char *text_comment_safe(Arena *a, const char *s)
{
	s = s ? s : "";
	size_t n = strlen(s);
	char *r = arena_alloc(a, 2 * n + 1), *q = r;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char out = c >= 0x20 && c < 0x7f ? (char)c : '?';
		if ((out == '/' && q > r && q[-1] == '*') || (out == '*' && q > r && q[-1] == '/') ||
		    (out == '?' && q > r && q[-1] == '?'))
			*q++ = ' ';
		*q++ = out;
	}
	*q = 0;
	return r;
}

const char *text_upper(Arena *a, const char *s)
{
	char *r = arena_strdup(a, s);
	for (char *q = r; *q; q++)
		if (*q >= 'a' && *q <= 'z')
			*q = (char)(*q - 'a' + 'A');
	return r;
}

/* s as a C string literal, quotes included; NULL gives "NULL". */
const char *text_c_string(Arena *a, const char *s)
{
	if (!s)
		return "NULL";
	Buf b;
	buf_init(&b);
	buf_puts(&b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\' || *p == '?')   /* '?': no trigraphs */
			buf_printf(&b, "\\%c", *p);
		else if (*p >= 0x20 && *p < 0x7f)
			buf_printf(&b, "%c", *p);
		else    /* octal escapes cannot swallow the next character as hex ones do */
			buf_printf(&b, "\\%03o", *p);
	}
	buf_puts(&b, "\"");
	char *r = arena_strdup(a, b.data);
	buf_fini(&b);
	return r;
}

/* The shortest decimal that reads back as exactly v (0.3, not 0.2999...). */
const char *text_double(Arena *a, double v)
{
	char tmp[64];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	return arena_strdup(a, tmp);
}

/* ---- templates */

const Template *tmpl_find(const char *name)
{
	for (size_t i = 0; i < builtin_templates_count; i++)
		if (strcmp(builtin_templates[i].name, name) == 0)
			return &builtin_templates[i];
	return NULL;
}

/* A section's text: [begin, end) of the template, starting on line `line`.
 * Leading and trailing blank lines are dropped (the emitter spaces sections). */
typedef struct Section {
	const char *begin, *end;
	int line;
} Section;

static const char *line_end(const char *p)
{
	const char *nl = strchr(p, '\n');
	return nl ? nl + 1 : p + strlen(p);
}

static bool line_is_blank(const char *p, const char *end)
{
	for (; p < end; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			return false;
	return true;
}

/* Finds section `name` of t; false if there is none. */
static bool section_find(const Template *t, const char *name, Section *s)
{
	size_t mark_len = strlen(SECTION_MARK), name_len = strlen(name);
	const char *p = t->text;
	int line = 1;

	while (*p) {
		const char *next = line_end(p);
		line++;
		if (strncmp(p, SECTION_MARK, mark_len) == 0 &&
		    strncmp(p + mark_len, name, name_len) == 0 &&
		    line_is_blank(p + mark_len + name_len, next))
			break;
		p = next;
	}
	if (!*p)
		return false;
	/* The body runs to the next "//@" line or the end of the file. */
	const char *begin = line_end(p), *end = begin;
	while (*end && strncmp(end, "//@", 3) != 0)
		end = line_end(end);
	while (begin < end && line_is_blank(begin, line_end(begin))) {
		begin = line_end(begin);
		line++;
	}
	while (end > begin) {
		const char *last = end - 1;
		while (last > begin && last[-1] != '\n')
			last--;
		if (!line_is_blank(last, end))
			break;
		end = last;
	}
	s->begin = begin;
	s->end = end;
	s->line = line;
	return true;
}

static bool is_name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Drops what a failed expansion appended. */
static int tmpl_fail(Buf *out, size_t old_len)
{
	if (out->data) {
		out->len = old_len;
		out->data[old_len] = 0;
	}
	return -1;
}

int tmpl_expand(Ctx *ctx, Buf *out, const char *name, const char *section,
                const TmplVar *vars, size_t n_vars)
{
	const Template *t = tmpl_find(name);
	if (!t) {
		diag_fatal(ctx, "unknown template '%s'", name);
		return -1;
	}
	return tmpl_expand_template(ctx, out, t, section, NULL, 0, vars, n_vars);
}

/* The value of placeholder id in vars, else in shared; NULL if neither has
 * it.  *u is set to mark it used when it comes from vars. */
static const TmplVar *var_find(const TmplVar *shared, size_t n_shared, const TmplVar *vars,
                               size_t n_vars, const char *id, size_t id_len, bool *used)
{
	for (size_t v = 0; v < n_vars; v++)
		if (strlen(vars[v].name) == id_len && memcmp(vars[v].name, id, id_len) == 0) {
			used[v] = true;
			return &vars[v];
		}
	for (size_t v = 0; v < n_shared; v++)
		if (strlen(shared[v].name) == id_len && memcmp(shared[v].name, id, id_len) == 0)
			return &shared[v];
	return NULL;
}

int tmpl_expand_template(Ctx *ctx, Buf *out, const Template *t, const char *section,
                         const TmplVar *shared, size_t n_shared, const TmplVar *vars,
                         size_t n_vars)
{
	const char *name = t->name;
	Section s;
	if (!section_find(t, section, &s)) {
		diag_fatal(ctx, "template %s: unknown section '%s'", name, section);
		return -1;
	}
	bool *used = arena_alloc(ctx->arena, n_vars ? n_vars : 1);
	for (size_t i = 0; i < n_vars + n_shared; i++)
		for (size_t k = 0; k < i; k++) {
			const char *a = i < n_vars ? vars[i].name : shared[i - n_vars].name;
			const char *b = k < n_vars ? vars[k].name : shared[k - n_vars].name;
			if (strcmp(a, b) == 0) {
				diag_fatal(ctx, "template %s: value {{%s}} given twice", name, a);
				return -1;
			}
		}

	size_t old_len = out->len;
	int line = s.line;
	const char *p = s.begin;
	while (p < s.end) {
		const char *open = p;
		while (open < s.end && !(open[0] == '{' && open + 1 < s.end && open[1] == '{')) {
			if (*open == '\n')
				line++;
			open++;
		}
		buf_putn(out, p, (size_t)(open - p));
		if (open >= s.end)
			break;
		const char *id = open + 2, *q = id;
		while (q < s.end && is_name_char(*q))
			q++;
		if (q == id || q + 1 >= s.end || q[0] != '}' || q[1] != '}') {
			diag_fatal(ctx, "template %s:%d: malformed placeholder (expected {{NAME}})",
			           name, line);
			return tmpl_fail(out, old_len);
		}
		size_t id_len = (size_t)(q - id);
		const TmplVar *v = var_find(shared, n_shared, vars, n_vars, id, id_len, used);
		if (!v) {
			diag_fatal(ctx, "template %s:%d: unknown placeholder {{%.*s}}", name, line,
			           (int)id_len, id);
			return tmpl_fail(out, old_len);
		}
		if (!v->value) {
			diag_fatal(ctx, "template %s:%d: missing value for {{%s}}", name, line, v->name);
			return tmpl_fail(out, old_len);
		}
		buf_puts(out, v->value);
		p = q + 2;
	}
	for (size_t i = 0; i < n_vars; i++)
		if (!used[i]) {
			diag_fatal(ctx, "template %s:%d: unused value {{%s}} in section '%s'", name,
			           s.line, vars[i].name, section);
			return tmpl_fail(out, old_len);
		}
	return 0;
}
