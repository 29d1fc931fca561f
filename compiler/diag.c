/*
 * diag.c - diagnostics and the compilation context.  A located error is
 * "file:line:col: error: message" followed by the source line and a caret
 * under the column; everything goes to ctx->err, never stdout.  Output is
 * bounded for any input: the first DIAG_MAX_SHOWN errors are shown (the rest
 * only counted, diag_summary says how many), a message is cut at
 * DIAG_MSG_MAX bytes and a long source line shown as a window.  Also the one
 * place libyaml's 0-based marks become 1-based Locs, and the whole-file reader.
 * Columns count characters (UTF-8 code points), as libyaml does.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "nncc.h"

void ctx_init(Ctx *ctx, FILE *err)
{
	memset(ctx, 0, sizeof *ctx);
	ctx->arena = arena_new();
	ctx->err = err;
}

void ctx_fini(Ctx *ctx)
{
	arena_free(ctx->arena);
	ctx->arena = NULL;
}

Loc diag_loc_from_mark(const char *file, size_t line0, size_t col0)
{
	Loc loc = {file, 0, 0};
	/* Clamp rather than wrap: a Loc is for humans. */
	loc.line = line0 < (size_t)INT32_MAX ? (int)line0 + 1 : INT32_MAX;
	loc.col = col0 < (size_t)INT32_MAX ? (int)col0 + 1 : INT32_MAX;
	return loc;
}

/* One diagnostic is built in a DiagText and written with one fwrite: the
 * error stream is usually unbuffered stderr, and a character at a time
 * there made thousands of errors cost minutes. */
typedef struct DiagText {
	char s[DIAG_MSG_MAX + 3 * DIAG_LINE_WINDOW + 64];
	size_t n;
} DiagText;

static void text_put(DiagText *t, const char *p, size_t n)
{
	size_t room = sizeof t->s - t->n;
	n = n < room ? n : room;
	memcpy(t->s + t->n, p, n);
	t->n += n;
}

static void text_putc(DiagText *t, char c)
{
	text_put(t, &c, 1);
}

/* Appends the source line loc.line and a caret under loc.col.  A line
 * longer than DIAG_LINE_WINDOW bytes is shown as a window around the column,
 * with "..." where it is cut.  Tabs are copied into the caret line so the
 * caret lines up in a terminal; other control characters are shown as '?'
 * (a YAML file is not allowed to move the cursor of whoever reads the error). */
static void diag_show_line(const Ctx *ctx, Loc loc, DiagText *t)
{
	if (!ctx->src || !ctx->src_file || !loc.file || loc.line <= 0 ||
	    strcmp(ctx->src_file, loc.file) != 0)
		return;
	const char *p = ctx->src, *end = ctx->src + ctx->src_len;
	for (int line = 1; line < loc.line; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return;            /* past the end: no line to show */
		p = nl + 1;
	}
	const char *eol = memchr(p, '\n', (size_t)(end - p));
	if (!eol)
		eol = end;
	if (eol > p && eol[-1] == '\r')
		eol--;
	/* at = the column's byte (columns count UTF-8 code points); past the
	 * end of the line, `extra` columns of padding. */
	const char *at = p;
	int col = 1;
	while (at < eol && col < loc.col) {
		at++;
		while (at < eol && ((unsigned char)*at & 0xC0) == 0x80)
			at++;          /* UTF-8 continuation byte: same column */
		col++;
	}
	int extra = loc.col - col < DIAG_LINE_WINDOW ? loc.col - col : DIAG_LINE_WINDOW;
	const char *from = p, *to = eol;
	if (to - from > DIAG_LINE_WINDOW) {
		if (at - from > DIAG_LINE_WINDOW / 2)
			from = at - DIAG_LINE_WINDOW / 2;
		while (from > p && ((unsigned char)*from & 0xC0) == 0x80)
			from--;            /* start on a character */
		if (to - from > DIAG_LINE_WINDOW)
			to = from + DIAG_LINE_WINDOW;
		while (to < eol && ((unsigned char)*to & 0xC0) == 0x80)
			to++;
	}
	const char *cut_left = from > p ? "..." : "";
	text_put(t, cut_left, strlen(cut_left));
	for (const char *q = from; q < to; q++) {
		unsigned char c = (unsigned char)*q;
		text_putc(t, c == '\t' || (c >= 0x20 && c != 0x7f) ? (char)c : '?');
	}
	if (to < eol)
		text_put(t, "...", 3);
	text_putc(t, '\n');
	text_put(t, "   ", strlen(cut_left));
	for (const char *q = from; q < at; q++)
		if (((unsigned char)*q & 0xC0) != 0x80)
			text_putc(t, *q == '\t' ? '\t' : ' ');
	for (; extra > 0; extra--)
		text_putc(t, ' ');
	text_put(t, "^\n", 2);
}

/* Counts the error; false when it is past the DIAG_MAX_SHOWN shown ones. */
static bool diag_count(Ctx *ctx)
{
	ctx->n_errors++;
	return ctx->n_errors <= DIAG_MAX_SHOWN;
}

/* Appends the formatted message, cut at DIAG_MSG_MAX bytes with "...". */
static void text_vprintf(DiagText *t, const char *fmt, va_list ap)
{
	char msg[DIAG_MSG_MAX + 1];
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	if (n < 0)
		n = 0;
	text_put(t, msg, (size_t)n < DIAG_MSG_MAX ? (size_t)n : DIAG_MSG_MAX);
	if ((size_t)n > DIAG_MSG_MAX)
		text_put(t, "...", 3);
	text_putc(t, '\n');
}

void diag_verror(Ctx *ctx, Loc loc, const char *fmt, va_list ap)
{
	if (!diag_count(ctx))
		return;
	DiagText t = {.n = 0};
	char head[64];
	if (loc.file && loc.line > 0) {
		/* The file name as given, however long: it is the user's own. */
		fprintf(ctx->err, "%s", loc.file);
		snprintf(head, sizeof head, ":%d:%d: error: ", loc.line, loc.col);
	} else if (loc.file) {
		fprintf(ctx->err, "%s", loc.file);
		snprintf(head, sizeof head, ": error: ");
	} else {
		snprintf(head, sizeof head, "nncc: error: ");
	}
	text_put(&t, head, strlen(head));
	text_vprintf(&t, fmt, ap);
	diag_show_line(ctx, loc, &t);
	fwrite(t.s, 1, t.n, ctx->err);
}

void diag_error(Ctx *ctx, Loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_verror(ctx, loc, fmt, ap);
	va_end(ap);
}

void diag_fatal(Ctx *ctx, const char *fmt, ...)
{
	if (!diag_count(ctx))
		return;
	DiagText t = {.n = 0};
	text_put(&t, "nncc: error: ", strlen("nncc: error: "));
	va_list ap;
	va_start(ap, fmt);
	text_vprintf(&t, fmt, ap);
	va_end(ap);
	fwrite(t.s, 1, t.n, ctx->err);
}

void diag_summary(Ctx *ctx)
{
	if (ctx->n_errors > DIAG_MAX_SHOWN)
		fprintf(ctx->err, "nncc: and %zu more error%s not shown (%d shown)\n",
		        ctx->n_errors - DIAG_MAX_SHOWN,
		        ctx->n_errors - DIAG_MAX_SHOWN == 1 ? "" : "s", DIAG_MAX_SHOWN);
}

_Noreturn void nncc_unreachable(const char *file, int line)
{
	fflush(NULL);
	fprintf(stderr, "nncc: internal error at %s:%d\n", file, line);
	exit(1);
}

/* Owner: the arena.  Reads in chunks so pipes and /dev/stdin work too. */
char *read_file(Ctx *ctx, const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		diag_fatal(ctx, "cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	if (!buf) {
		fclose(f);
		diag_fatal(ctx, "out of memory reading '%s'", path);
		return NULL;
	}
	for (;;) {
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		char *bigger = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
		if (!bigger) {
			free(buf);
			fclose(f);
			diag_fatal(ctx, "out of memory reading '%s'", path);
			return NULL;
		}
		buf = bigger;
		cap *= 2;
	}
	int failed = ferror(f);
	int saved = errno;
	fclose(f);
	if (failed) {
		free(buf);
		diag_fatal(ctx, "cannot read '%s': %s", path, strerror(saved));
		return NULL;
	}
	char *text = arena_strndup(ctx->arena, buf, n);
	free(buf);
	if (len)
		*len = n;
	return text;
}
