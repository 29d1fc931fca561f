/*
 * testutil.h - small helpers shared by the Check suites: scratch directories,
 * writing files, running commands and capturing their output.  Header-only
 * (static functions) so each suite stays one file.
 */
#ifndef NNCC_TESTUTIL_H
#define NNCC_TESTUTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A fresh directory under $TMPDIR (or /tmp); the caller owns the string. */
static inline char *tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char *p = malloc(4096);
	if (!p)
		abort();
	snprintf(p, 4096, "%s/nncc-test-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(p))
		abort();
	return p;
}

static inline char *tu_path(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (!p)
		abort();
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static inline int tu_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(data, 1, len, f);
	return (fclose(f) == 0 && w == len) ? 0 : -1;
}

static inline int tu_write_text(const char *path, const char *text)
{
	return tu_write(path, text, strlen(text));
}

/* Runs `sh -c cmd` with stdout+stderr captured into *out (malloc'd, NUL
 * terminated; may be NULL to discard).  Returns the exit status, or -1 if the
 * command could not run or was killed by a signal. */
static inline int tu_run(char **out, const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	char full[8300];
	snprintf(full, sizeof full, "(%s) 2>&1", cmd);
	FILE *p = popen(full, "r");
	if (!p)
		return -1;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		abort();
	size_t r;
	while ((r = fread(buf + len, 1, cap - len - 1, p)) > 0) {
		len += r;
		if (cap - len < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
	}
	buf[len] = 0;
	int st = pclose(p);
	if (out)
		*out = buf;
	else
		free(buf);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* The C compiler tests use for generated code ($CC, default cc). */
static inline const char *tu_cc(void)
{
	const char *cc = getenv("CC");
	return cc && *cc ? cc : "cc";
}

/* Golden values: a table file of lines "ID VALUE" pins results that must not
 * change (the bits of trained weights across a redesign).  tu_golden()
 * compares `value` with the entry for `id` and returns NULL, or a message
 * (malloc'd) saying what differs.  With NNCC_GOLDEN_WRITE=FILE set it appends
 * "ID VALUE" to FILE instead and returns NULL: that is how a table is
 * recorded (sort the result into tests/golden/; docs/testing.md). */
static inline char *tu_golden(const char *table, const char *id, const char *value)
{
	const char *w = getenv("NNCC_GOLDEN_WRITE");
	char line[512], *msg = malloc(1024);
	if (!msg)
		abort();
	if (w && *w) {
		FILE *f = fopen(w, "a");
		if (!f || fprintf(f, "%s %s\n", id, value) < 0 || fclose(f) != 0)
			abort();
		free(msg);
		return NULL;
	}
	FILE *f = fopen(table, "r");
	if (!f) {
		snprintf(msg, 1024, "cannot read the golden table %s", table);
		return msg;
	}
	size_t idlen = strlen(id);
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, id, idlen) != 0 || line[idlen] != ' ')
			continue;
		fclose(f);
		line[strcspn(line, "\n")] = 0;
		if (strcmp(line + idlen + 1, value) == 0) {
			free(msg);
			return NULL;
		}
		snprintf(msg, 1024, "%s: got %s, but %s pins %s", id, value, table, line + idlen + 1);
		return msg;
	}
	fclose(f);
	snprintf(msg, 1024, "%s: no entry in %s (a new case: record it with NNCC_GOLDEN_WRITE, "
	         "docs/testing.md)", id, table);
	return msg;
}

/* The nncc binary under test ($NNCC, default build/nncc). */
static inline const char *tu_nncc(void)
{
	const char *n = getenv("NNCC");
	return n && *n ? n : "build/nncc";
}

#endif
