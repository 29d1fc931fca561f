/*
 * diag.c - diagnostics and the compilation context.  A located error is
 * "file:line:col: error: message" followed by the source line and a caret
 * under the column; everything goes to ctx->err, never stdout.  Also the one
 * place libyaml's 0-based marks become 1-based Locs, and the whole-file reader.
 * Columns count characters (UTF-8 code points), as libyaml does.
 */
#include <errno.h>
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

/* Prints source line loc.line and a caret under loc.col.  Tabs in the line
 * are copied into the caret line so the caret lines up in a terminal. */
static void diag_show_line(Ctx *ctx, Loc loc)
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
	fprintf(ctx->err, "%.*s\n", (int)(eol - p), p);
	int col = 1;
	for (const char *q = p; q < eol && col < loc.col; q++) {
		if (((unsigned char)*q & 0xC0) == 0x80)
			continue;          /* UTF-8 continuation byte: same column */
		fputc(*q == '\t' ? '\t' : ' ', ctx->err);
		col++;
	}
	for (; col < loc.col; col++)
		fputc(' ', ctx->err);
	fputs("^\n", ctx->err);
}

void diag_verror(Ctx *ctx, Loc loc, const char *fmt, va_list ap)
{
	ctx->n_errors++;
	if (loc.file && loc.line > 0)
		fprintf(ctx->err, "%s:%d:%d: error: ", loc.file, loc.line, loc.col);
	else if (loc.file)
		fprintf(ctx->err, "%s: error: ", loc.file);
	else
		fputs("nncc: error: ", ctx->err);
	vfprintf(ctx->err, fmt, ap);
	fputc('\n', ctx->err);
	diag_show_line(ctx, loc);
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
	ctx->n_errors++;
	fputs("nncc: error: ", ctx->err);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(ctx->err, fmt, ap);
	va_end(ap);
	fputc('\n', ctx->err);
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
