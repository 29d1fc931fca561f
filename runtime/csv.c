/*
 * csv.c - loads a data set from a CSV or TSV file (docs/data.md#csv-files):
 * numeric features and one label column, an optional header row naming the
 * columns, columns to ignore, lines to skip.  Fields are split by libcsv
 * (RFC 4180 quoting, strict mode: a stray quote is an error); this file
 * keeps track of where each field starts, so that every error is
 * "FILE:LINE:COL: ..." and names the column.  The file is read through
 * idx.c's byte reader, so a gzip'd CSV reads like a plain one.  A training
 * file too large for memory is scanned first (every check, the count, the
 * classes, where every tile's first row starts) and then read by row
 * number (nncc_csv_scan, nncc_csv_train_rows).
 *
 * Labels: with class names given (the YAML's `classes`, or the training
 * set's when this is the test set), each label must be one of them.
 * Without, labels that are all decimal integers are the classes themselves;
 * otherwise the distinct labels, sorted by their bytes (strcmp), are the
 * class names, class k the k-th (as scikit-learn's LabelEncoder does).
 *
 * Vocabulary: a field is one cell as libcsv hands it over; a row is one
 * record (it may span lines when a quoted field holds a line break); a
 * column is a field's index in its row, 0-based here and 1-based in
 * messages.
 */
#include <csv.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckd.h"
#include "driver.h"

#define CSV_CHUNK (1u << 16)     /* bytes read at a time */
#define CSV_MAX_COLUMNS 1000000  /* a header or row wider than this is refused */

/* Where a field starts: 1-based line and byte column. */
typedef struct Pos {
	size_t line, col;
} Pos;

typedef struct Field {
	size_t off;   /* its text, NUL-terminated, at row_text + off */
	Pos at;
} Field;

typedef struct Loader {
	const nncc_csv_spec_t *spec;
	const char *path;         /* as opened (maybe with .gz) */
	size_t dim;               /* features the network takes */
	int need_label;           /* 0: predict mode, the label column may be absent */
	const char *const *classes; /* given class names, or NULL */
	size_t n_given;
	size_t *given_order;      /* indices of classes sorted by name, for bsearch */
	nncc_err_t *err;
	int failed;

	/* The reading position (of the byte being fed to libcsv). */
	size_t line, line_start;  /* line number; offset of its first byte */
	unsigned long long offset;
	Pos next;                 /* where the next field starts */
	unsigned long long next_off; /* its byte offset */
	unsigned long long events; /* fields and rows ended so far */
	int nul_seen;             /* a NUL byte was read: fields are searched for one */
	int row_start;            /* libcsv is between rows (a row just ended, or fresh) */
	int plain;                /* plain lines skip libcsv (not NNCC_CSV_LIBCSV=1) */

	/* The row being collected. */
	char *row_text;
	size_t text_len, text_cap;
	Field *fields;
	size_t n_fields, fields_cap;
	Pos row_at;               /* where the row starts */
	unsigned long long row_off; /* its byte offset */

	/* The columns, from the header or the first row. */
	size_t n_columns;         /* 0 until known */
	char **names;             /* header names, or NULL */
	unsigned char *role;      /* per column: ROLE_* */
	size_t label_col;

	/* The data. */
	size_t n, cap;
	double *values;           /* n * dim */
	double *targets;          /* n * n_targets (regression) */
	size_t *target_col;       /* regression: the target columns, in the spec's order */
	char **label_text;        /* n labels as written (no given classes) */
	int32_t *labels;          /* n (given classes) */
	Pos *label_at;            /* n: where each label is, for later messages */

	/* A streamed training set's first pass: where every tile-th row starts. */
	size_t tile, base;        /* rows a tile; rows read and dropped before these n */
	struct CsvStart *starts;  /* [n_starts] rows 0, tile, 2 tile, ... */
	size_t n_starts, starts_cap;
} Loader;

/* Where a row starts: its byte (of the inflated data, when gzip'd) and
 * position. */
typedef struct CsvStart {
	unsigned long long off;
	Pos at;
} CsvStart;

enum { ROLE_FEATURE, ROLE_LABEL, ROLE_IGNORE, ROLE_TARGET };

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void fail_at(Loader *L, Pos at, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	if (L->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (at.line)
		nncc_err_set(L->err, "%s:%zu:%zu: %s", L->path, at.line, at.col, msg);
	else
		nncc_err_set(L->err, "%s: %s", L->path, msg);
	L->failed = 1;
}

static void fail_oom(Loader *L)
{
	fail_at(L, (Pos){0, 0}, "out of memory after %zu rows", L->n);
}

/* A cell's text for a message: at most 40 bytes, other bytes than printable
 * ASCII as '?'. */
static const char *shown(char *out, const char *s)
{
	size_t k = 0;
	for (; s[k] && k < 40; k++)
		out[k] = s[k] >= 0x20 && s[k] < 0x7f ? s[k] : '?';
	if (s[k]) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = 0;
	return out;
}

/* "column 5 ('alcohol')" or "column 5". */
static const char *column_text(char *out, size_t size, const Loader *L, size_t c)
{
	char name[48];
	if (L->names)
		snprintf(out, size, "column %zu ('%s')", c + 1, shown(name, L->names[c]));
	else
		snprintf(out, size, "column %zu", c + 1);
	return out;
}

/* ---- Columns: the label and the ignored ones, by name or index. */

/* The column `word` names: a header name, else a decimal index (negative
 * from the end); -1 if none. */
static long long find_column(const Loader *L, const char *word)
{
	char *end;
	long long k;

	if (L->names)
		for (size_t c = 0; c < L->n_columns; c++)
			if (strcmp(L->names[c], word) == 0)
				return (long long)c;
	errno = 0;
	k = strtoll(word, &end, 10);
	if (!*word || *end || errno)
		return -1;
	if (k < 0)
		k += (long long)L->n_columns;
	return k >= 0 && (unsigned long long)k < L->n_columns ? k : -1;
}

static int set_columns(Loader *L, Pos at)
{
	const nncc_csv_spec_t *sp = L->spec;
	const char *label = sp->label ? sp->label : "-1";
	size_t n_features = 0;
	long long c;

	if (!(L->role = calloc(L->n_columns, 1))) {
		fail_oom(L);
		return -1;
	}
	L->label_col = SIZE_MAX;
	if (!L->need_label && L->n_columns == L->dim + sp->n_ignore)
		goto ignored;   /* no label column */
	if (sp->n_targets) {
		if (!(L->target_col = calloc(sp->n_targets, sizeof *L->target_col))) {
			fail_oom(L);
			return -1;
		}
		for (size_t i = 0; i < sp->n_targets; i++) {
			c = find_column(L, sp->targets[i]);
			if (c < 0 || L->role[c] == ROLE_TARGET) {
				fail_at(L, at, "targets: '%s' is %s", sp->targets[i],
				        c < 0 ? "not a column" : "listed twice");
				return -1;
			}
			L->role[c] = ROLE_TARGET;
			L->target_col[i] = (size_t)c;
		}
		L->label_col = SIZE_MAX - 1;   /* targets, not a label */
		goto ignored;
	}
	c = find_column(L, label);
	if (c < 0 && !L->need_label)
		goto ignored;   /* predict: no such column, so no label */
	if (c < 0) {
		fail_at(L, at, "the label column '%s' is not %s (%zu columns%s)", label,
		        L->names ? "a column name or index" : "a column index", L->n_columns,
		        L->names ? "" : "; names need header: true");
		return -1;
	}
	L->label_col = (size_t)c;
	L->role[c] = ROLE_LABEL;
ignored:
	for (size_t i = 0; i < sp->n_ignore; i++) {
		c = find_column(L, sp->ignore[i]);
		if (c < 0 || L->role[c] != ROLE_FEATURE) {
			fail_at(L, at, "ignore: '%s' is %s", sp->ignore[i],
			        c < 0                        ? "not a column"
			        : L->role[c] == ROLE_LABEL   ? "the label column"
			        : L->role[c] == ROLE_TARGET  ? "a target column"
			                                     : "listed twice");
			return -1;
		}
		L->role[c] = ROLE_IGNORE;
	}
	for (size_t k = 0; k < L->n_columns; k++)
		n_features += L->role[k] == ROLE_FEATURE;
	if (n_features != L->dim) {
		char what[48];
		if (L->label_col == SIZE_MAX - 1)
			snprintf(what, sizeof what, "%zu target%s", sp->n_targets,
			         sp->n_targets == 1 ? "" : "s");
		else
			snprintf(what, sizeof what, "%s", L->label_col == SIZE_MAX ? "no label" : "one label");
		fail_at(L, at, "%zu columns give %zu features (%s, %zu ignored), but the network "
		        "takes %zu inputs", L->n_columns, n_features, what, sp->n_ignore, L->dim);
		return -1;
	}
	return 0;
}

/* ---- Rows */

static int grow_to(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 16, bytes;
	void *q;
	while (n < need)
		if (!ckd_mul_size(&n, n, 2))
			return -1;
	if (!ckd_mul_size(&bytes, n, elem) || !(q = realloc(*p, bytes)))
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

/* *p holds at least `need` elems of `elem` bytes after it (doubled as
 * needed); -1 when out of memory.  The check is inline: it runs twice a
 * field. */
static inline int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	return need <= *cap ? 0 : grow_to(p, cap, need, elem);
}

/* libcsv: one field (NUL-terminated: CSV_APPEND_NULL). */
static void on_field(void *s, size_t len, void *data)
{
	Loader *L = data;
	size_t need;

	if (L->failed)
		return;
	if (L->n_fields >= CSV_MAX_COLUMNS) {
		fail_at(L, L->row_at, "more than %d fields in a row", CSV_MAX_COLUMNS);
		return;
	}
	if (!ckd_add_size(&need, L->text_len, len) || !ckd_add_size(&need, need, 1) ||
	    grow((void **)&L->row_text, &L->text_cap, need, 1) ||
	    grow((void **)&L->fields, &L->fields_cap, L->n_fields + 1, sizeof *L->fields)) {
		fail_oom(L);
		return;
	}
	if (len)
		memcpy(L->row_text + L->text_len, s, len);
	L->row_text[L->text_len + len] = 0;
	if (L->nul_seen && memchr(L->row_text + L->text_len, 0, len)) {
		fail_at(L, L->next, "a NUL byte in a field: not a text file?");
		return;
	}
	if (L->n_fields == 0) {
		L->row_at = L->next;
		L->row_off = L->next_off;
	}
	L->fields[L->n_fields++] = (Field){L->text_len, L->next};
	L->text_len += len + 1;
	L->events++;
}

static int header_row(Loader *L)
{
	L->n_columns = L->n_fields;
	if (!(L->names = calloc(L->n_columns, sizeof *L->names))) {
		fail_oom(L);
		return -1;
	}
	for (size_t c = 0; c < L->n_columns; c++)
		if (!(L->names[c] = strdup(L->row_text + L->fields[c].off))) {
			fail_oom(L);
			return -1;
		}
	return set_columns(L, L->row_at);
}

/* Clinger's fast path: s is a plain decimal, [+-]digits[.digits][(e|E)
 * [+-]digits] with a digit before or after the point, followed by nothing
 * but blanks, whose digits make an integer w <= 2^53 and whose power of
 * ten p (the exponent less the digits after the point) is within +-22.
 * Then w and 10^|p| are exact doubles and w * 10^p (w / 10^-p) is a
 * single correctly rounded operation: strtod's result, bit for bit.
 * Returns 1 with *out set; 0 for anything else (strtod decides: other
 * forms, errors, and every case off the fast path). */
static int fast_decimal(const char *s, double *out)
{
#if FLT_EVAL_METHOD == 0
	static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
	                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
	const uint64_t max = (uint64_t)1 << 53;
	uint64_t w = 0;
	long digits = 0, frac = 0, e = 0, p;
	int neg = 0, eneg = 0;
	double v;

	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	for (; *s >= '0' && *s <= '9'; s++, digits++)
		if ((w = w * 10 + (uint64_t)(*s - '0')) > max)
			return 0;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++, digits++, frac++)
			if ((w = w * 10 + (uint64_t)(*s - '0')) > max)
				return 0;
	if (!digits)
		return 0;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			eneg = *s++ == '-';
		if (*s < '0' || *s > '9')
			return 0;
		for (; *s >= '0' && *s <= '9'; s++)
			if ((e = e * 10 + (*s - '0')) > 1000)
				return 0;
	}
	while (*s == ' ' || *s == '\t')
		s++;
	p = (eneg ? -e : e) - frac;
	if (*s || p < -22 || p > 22)
		return 0;
	v = p >= 0 ? (double)w * pow10[p] : (double)w / pow10[-p];
	*out = neg ? -v : v;
	return 1;
#else
	(void)s;
	(void)out;
	return 0;
#endif
}

/* A feature cell: a finite decimal or hexadecimal number, spaces around it
 * allowed (libcsv trims them outside quotes). */
static int parse_feature(Loader *L, size_t c, double *out)
{
	const Field *f = &L->fields[c];
	const char *s = L->row_text + f->off;
	char col[96], cell[48], *end;
	double v;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s) {
		fail_at(L, f->at, "%s: empty cell, expected a number",
		        column_text(col, sizeof col, L, c));
		return -1;
	}
	if (fast_decimal(s, out))
		return 0;
	errno = 0;
	v = strtod(s, &end);
	while (*end == ' ' || *end == '\t')
		end++;
	if (end == s || *end) {
		fail_at(L, f->at, "%s: '%s' is not a number", column_text(col, sizeof col, L, c),
		        shown(cell, s));
		return -1;
	}
	if (!isfinite(v) || (errno == ERANGE && fabs(v) > 1)) {
		fail_at(L, f->at, "%s: '%s' is %s", column_text(col, sizeof col, L, c), shown(cell, s),
		        isnan(v) ? "not a number (NaN): a feature must be finite"
		                 : "out of range: a feature must be finite");
		return -1;
	}
	*out = v;
	return 0;
}

/* qsort's comparison of indices into sort_names (qsort_r is not C11). */
static const char *const *sort_names;
static int by_name(const void *a, const void *b)
{
	return strcmp(sort_names[*(const size_t *)a], sort_names[*(const size_t *)b]);
}

/* The index of `label` among the given classes, or -1. */
static long given_class(const Loader *L, const char *label)
{
	size_t lo = 0, hi = L->n_given;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(label, L->classes[L->given_order[mid]]);
		if (c == 0)
			return (long)L->given_order[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* The classes for a message: "a, b, c" (the first 10). */
static const char *class_list(char *out, size_t size, const char *const *names, size_t n)
{
	size_t at = 0;
	out[0] = 0;
	for (size_t k = 0; k < n && k < 10 && at < size; k++) {
		char name[48];
		int w = snprintf(out + at, size - at, "%s'%s'", k ? ", " : "", shown(name, names[k]));
		if (w < 0)
			break;
		at += (size_t)w;
	}
	if (n > 10 && at < size)
		snprintf(out + at, size - at, " and %zu more", n - 10);
	return out;
}

static void data_row(Loader *L)
{
	size_t j = 0, need;
	const Field *lf;
	const char *label;

	if (L->n_fields != L->n_columns) {
		fail_at(L, L->row_at, "%zu fields, but %s has %zu (a ragged row)", L->n_fields,
		        L->names ? "the header" : "the first row", L->n_columns);
		return;
	}
	if (L->n == L->cap) {   /* values, labels, label_text grow with label_at */
		size_t cap = L->cap, bytes;
		double *v;
		int32_t *y;
		char **t;
		size_t nt = L->spec->n_targets ? L->spec->n_targets : 1;
		if (grow((void **)&L->label_at, &cap, L->n + 1, sizeof *L->label_at) ||
		    !ckd_mul3(&bytes, cap, L->dim ? L->dim : 1, sizeof *v) ||
		    !ckd_mul_size(&need, cap, sizeof *t))
			goto oom;
		if (!(v = realloc(L->values, bytes)))
			goto oom;
		L->values = v;
		if (!ckd_mul3(&bytes, cap, nt, sizeof *v) || !(v = realloc(L->targets, bytes)))
			goto oom;
		L->targets = v;
		if (!(y = realloc(L->labels, cap * sizeof *y)))
			goto oom;
		L->labels = y;
		if (!(t = realloc(L->label_text, need)))
			goto oom;
		L->label_text = t;
		L->cap = cap;
	}
	for (size_t c = 0; c < L->n_columns; c++)
		if (L->role[c] == ROLE_FEATURE && parse_feature(L, c, &L->values[L->n * L->dim + j++]))
			return;
	if (L->label_col == SIZE_MAX - 1 && L->need_label) {   /* regression */
		for (size_t i = 0; i < L->spec->n_targets; i++)
			if (parse_feature(L, L->target_col[i], &L->targets[L->n * L->spec->n_targets + i]))
				return;
	}
	if (L->label_col >= SIZE_MAX - 1 || !L->need_label) {   /* no label to read */
		L->labels[L->n] = -1;
		L->label_text[L->n] = NULL;
		L->label_at[L->n++] = L->row_at;
		return;
	}
	lf = &L->fields[L->label_col];
	label = L->row_text + lf->off;
	if (!*label) {
		char col[96];
		fail_at(L, lf->at, "%s: empty label", column_text(col, sizeof col, L, L->label_col));
		return;
	}
	if (L->classes) {
		long k = given_class(L, label);
		if (k < 0) {
			char col[96], cell[48], list[600];
			fail_at(L, lf->at, "%s: unknown label '%s' (the classes are %s)",
			        column_text(col, sizeof col, L, L->label_col), shown(cell, label),
			        class_list(list, sizeof list, L->classes, L->n_given));
			return;
		}
		L->labels[L->n] = (int32_t)k;
		L->label_text[L->n] = NULL;
	} else if (!(L->label_text[L->n] = strdup(label))) {
		fail_oom(L);
		return;
	}
	L->label_at[L->n] = lf->at;
	L->n++;
	return;
oom:
	fail_oom(L);
}

/* libcsv: the end of a row. */
static void on_row(int term, void *data)
{
	Loader *L = data;
	(void)term;
	if (L->failed)
		return;
	if (L->n_columns == 0) {
		if (L->spec->header) {
			header_row(L);
			goto done;
		}
		L->n_columns = L->n_fields;
		if (set_columns(L, L->row_at))
			return;
	}
	if (L->tile && L->base + L->n == L->n_starts * L->tile) {   /* row n_starts * tile */
		if (grow((void **)&L->starts, &L->starts_cap, L->n_starts + 1, sizeof *L->starts)) {
			fail_oom(L);
			return;
		}
		L->starts[L->n_starts++] = (CsvStart){L->row_off, L->row_at};
	}
	data_row(L);
done:
	L->n_fields = L->text_len = 0;
	L->events++;
	L->row_start = 1;
}

/* ---- Reading */

static int is_space_tab(unsigned char c)
{
	return c == ' ';
}

static int is_space_none(unsigned char c)
{
	(void)c;
	return 0;
}

/* Blanks around an unquoted field, as parser_init tells libcsv. */
static int is_blank(int delim, unsigned char c)
{
	return (c == ' ' && delim != ' ') || (c == '\t' && delim != '\t' && delim != ' ');
}

/* feed's fast path: buf[i..] is a whole line at a row's start with no
 * quote and no '\r' but before its '\n', and something other than blanks
 * in it; it is split at the delimiters and each field's blanks trimmed, as
 * libcsv does for unquoted fields, and handed to on_field and on_row with
 * the positions feed would give them.  Anything else (quoting, a row
 * ended by a lone '\r', a blank line, a line the read cut) is libcsv's:
 * returns 0, nothing done.  Else the index after the line's '\n'. */
static size_t plain_line(Loader *L, const unsigned char *buf, size_t i, size_t len)
{
	int delim = (unsigned char)L->spec->delimiter;
	const unsigned char *nl = memchr(buf + i, '\n', len - i);
	size_t end, s = i, j = i;

	if (!nl)
		return 0;
	end = (size_t)(nl - buf);
	if (end > i && buf[end - 1] == '\r')
		end--;
	if (memchr(buf + i, '"', end - i) || memchr(buf + i, '\r', end - i))
		return 0;
	while (j < end && is_blank(delim, buf[j]))
		j++;
	if (j == end)
		return 0;
	for (j = i; !L->failed; s = ++j) {
		size_t a = s, b;
		while (j < end && buf[j] != delim)
			j++;
		b = j;
		while (a < b && is_blank(delim, buf[a]))
			a++;
		while (b > a && is_blank(delim, buf[b - 1]))
			b--;
		L->next_off = L->offset + (s - i);
		L->next = (Pos){L->line, (size_t)(L->next_off - L->line_start) + 1};
		on_field((void *)(buf + a), b - a, L);
		if (j == end)
			break;
	}
	on_row('\n', L);
	L->offset += (size_t)(nl - buf) + 1 - i;
	L->line++;
	L->line_start = L->offset;
	L->next = (Pos){L->line, 1};
	L->next_off = L->offset;
	return (size_t)(nl - buf) + 1;
}

/* Feeds buf[0..len) to libcsv, one run at a time, so that a field's end is
 * always the last byte fed: its position is known; a plain line at a row's
 * start goes around libcsv (plain_line).  skip: lines still to be skipped
 * (skip_rows), counted down here. */
static int feed(Loader *L, struct csv_parser *p, const unsigned char *buf, size_t len,
                size_t *skip, const unsigned char *special)
{
	size_t i = 0;

	/* A field's NUL is looked for only once one was read (a field may
	 * span two reads: the flag stays), not in every field. */
	L->nul_seen = L->nul_seen || memchr(buf, 0, len);
	while (i < len && !L->failed) {
		size_t j = i;
		if (*skip) {   /* a skipped line: up to its '\n', unparsed */
			const unsigned char *nl = memchr(buf + i, '\n', len - i);
			size_t end = nl ? (size_t)(nl - buf) + 1 : len;
			L->offset += end - i;
			if (nl) {
				(*skip)--;
				L->line++;
				L->line_start = L->offset;
				L->next = (Pos){L->line, 1};
				L->next_off = L->offset;
			}
			i = end;
			continue;
		}
		if (L->row_start && L->plain && !L->nul_seen) {
			size_t end = plain_line(L, buf, i, len);
			if (end) {
				i = end;
				continue;
			}
		}
		while (j < len && !special[buf[j]])
			j++;
		if (j < len)
			j++;   /* the special byte ends the run */
		{
			unsigned long long before = L->events;
			size_t done;
			L->row_start = 0;   /* on_row says when a row ends */
			done = csv_parse(p, buf + i, j - i, on_field, on_row, L);
			if (done != j - i) {
				/* (no line break in buf[i..i+done): it would have ended the run) */
				fail_at(L, (Pos){L->line, (size_t)(L->offset + done - L->line_start) + 1},
				        "%s", csv_error(p) == CSV_EPARSE
				                  ? "malformed quoting (a quote inside an unquoted field, or "
				                    "text after a closing quote)"
				                  : csv_strerror(csv_error(p)));
				return -1;
			}
			L->offset += j - i;
			if (buf[j - 1] == '\n') {
				L->line++;
				L->line_start = L->offset;
			}
			/* A field or a row ended on the run's last byte, or a line
			 * break passed between rows: the next field starts after it. */
			if (L->events != before || (buf[j - 1] == '\n' && L->n_fields == 0)) {
				L->next = (Pos){L->line, (size_t)(L->offset - L->line_start) + 1};
				L->next_off = L->offset;
			}
		}
		i = j;
	}
	return L->failed ? -1 : 0;
}

/* The file being read: libcsv's parser fed from a chunk buffer. */
typedef struct Reader {
	Loader *L;
	nncc_rfile_t *f;
	struct csv_parser p;
	int p_ready, eof;
	unsigned char *buf, special[256];
	size_t skip;              /* lines still to skip */
} Reader;

static void reader_close(Reader *R)
{
	if (R->p_ready)
		csv_free(&R->p);
	free(R->buf);
	nncc_rfile_close(R->f);
	memset(R, 0, sizeof *R);
}

/* libcsv's parser, fresh (at a row's start). */
static int parser_init(Reader *R)
{
	char delim = R->L->spec->delimiter;
	if (csv_init(&R->p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL))
		return -1;
	R->p_ready = 1;
	R->L->row_start = 1;
	csv_set_delim(&R->p, (unsigned char)delim);
	/* blanks: ' ' and '\t' (NULL: libcsv's own test, without a call per
	 * byte), but never the delimiter */
	csv_set_space_func(&R->p, delim == '\t' ? is_space_tab : delim == ' ' ? is_space_none : NULL);
	return 0;
}

static int reader_open(Reader *R, Loader *L, const char *path)
{
	memset(R, 0, sizeof *R);
	R->L = L;
	if (nncc_rfile_open(&R->f, path, L->err))
		return -1;
	L->path = nncc_rfile_path(R->f);
	if (!(R->buf = malloc(CSV_CHUNK)) || parser_init(R)) {
		fail_oom(L);
		reader_close(R);
		return -1;
	}
	R->special[(unsigned char)L->spec->delimiter] = R->special['\n'] = R->special['\r'] = 1;
	R->skip = L->spec->skip_rows;
	const char *libcsv = getenv("NNCC_CSV_LIBCSV");   /* 1: every line through libcsv */
	L->plain = !(libcsv && !strcmp(libcsv, "1"));
	L->line = 1;
	L->next = (Pos){1, 1};
	L->next_off = L->offset = 0;
	return 0;
}

/* Reads on until the loader holds `want` rows or the file ends. */
static int reader_fill(Reader *R, size_t want)
{
	Loader *L = R->L;
	long long got;

	while (!R->eof && L->n < want) {
		got = nncc_rfile_read(R->f, R->buf, CSV_CHUNK, L->err);
		if (got < 0) {
			L->failed = 1;
			return -1;
		}
		if (got > 0) {
			if (feed(L, &R->p, R->buf, (size_t)got, &R->skip, R->special))
				return -1;
			continue;
		}
		R->eof = 1;
		if (csv_fini(&R->p, on_field, on_row, L) && !L->failed)
			fail_at(L, L->next, "the file ends inside a quoted field (a quote is not closed)");
	}
	return L->failed ? -1 : 0;
}

/* ---- Labels */

static int is_decimal(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* No given classes: integer labels as they are, or the sorted distinct
 * strings as the classes. */
static int label_classes(Loader *L, nncc_dataset_t *ds)
{
	size_t n = L->n, k = 0, *order = NULL;
	int integers = 1;

	/* (L->labels has room for the n labels: data_row grew it.) */
	for (size_t i = 0; i < n && integers; i++)
		integers = is_decimal(L->label_text[i]);
	if (integers) {
		long max = -1;
		for (size_t i = 0; i < n; i++) {
			char *end;
			long v;
			errno = 0;
			v = strtol(L->label_text[i], &end, 10);
			if (errno || v > INT32_MAX - 1) {
				char cell[48];
				fail_at(L, L->label_at[i], "label '%s' is too large",
				        shown(cell, L->label_text[i]));
				return -1;
			}
			L->labels[i] = (int32_t)v;
			if (v > max)
				max = v;
		}
		ds->n_classes = (size_t)(max + 1);
		return 0;
	}
	/* Sorted distinct strings. */
	if (!(order = malloc(n * sizeof *order)))
		goto oom;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	sort_names = (const char *const *)L->label_text;
	qsort(order, n, sizeof *order, by_name);
	if (!(ds->class_names = calloc(n, sizeof *ds->class_names)))
		goto oom;
	for (size_t i = 0; i < n; i++) {
		const char *s = L->label_text[order[i]];
		if (k == 0 || strcmp(s, ds->class_names[k - 1])) {
			if (strlen(s) > NNCC_CLASS_NAME_MAX) {
				char cell[48];
				fail_at(L, L->label_at[order[i]], "label '%s' is longer than %d bytes",
				        shown(cell, s), NNCC_CLASS_NAME_MAX);
				free(order);
				return -1;
			}
			if (!(ds->class_names[k++] = strdup(s)))
				goto oom;
			ds->n_classes = k;
		}
		L->labels[order[i]] = (int32_t)(k - 1);
	}
	free(order);
	return 0;
oom:
	free(order);
	fail_oom(L);
	return -1;
}

/* What a loader owns. */
static void loader_fini(Loader *L)
{
	free(L->given_order);
	free(L->row_text);
	free(L->fields);
	if (L->names)
		for (size_t c = 0; c < L->n_columns; c++)
			free(L->names[c]);
	free(L->names);
	free(L->role);
	free(L->values);
	free(L->targets);
	free(L->target_col);
	if (L->label_text)
		for (size_t i = 0; i < L->n; i++)
			free(L->label_text[i]);
	free(L->label_text);
	free(L->labels);
	free(L->label_at);
	free(L->starts);
}

int nncc_csv_load(nncc_dataset_t *ds, const char *path, const nncc_csv_spec_t *spec,
                  size_t dim, const char *const *classes, size_t n_classes, nncc_err_t *err)
{
	Loader L = {.spec = spec, .path = path, .dim = dim, .need_label = 1, .err = err};
	Reader R = {0};
	int rc = -1;

	memset(ds, 0, sizeof *ds);
	if (n_classes) {
		L.classes = classes;
		L.n_given = n_classes;
		if (!(L.given_order = malloc(n_classes * sizeof *L.given_order))) {
			nncc_err_set(err, "%s: out of memory", path);
			return -1;
		}
		for (size_t k = 0; k < n_classes; k++)
			L.given_order[k] = k;
		sort_names = classes;
		qsort(L.given_order, n_classes, sizeof *L.given_order, by_name);
	}
	if (reader_open(&R, &L, path) || reader_fill(&R, SIZE_MAX))
		goto done;
	if (L.n == 0) {
		fail_at(&L, (Pos){0, 0}, "no data rows%s", L.n_columns ? "" : " (the file is empty)");
		goto done;
	}
	if (!spec->n_targets && !L.classes && label_classes(&L, ds))
		goto done;
	if (L.classes) {
		if (!(ds->class_names = calloc(n_classes, sizeof *ds->class_names)))
			goto oom;
		ds->n_classes = n_classes;
		for (size_t k = 0; k < n_classes; k++)
			if (!(ds->class_names[k] = strdup(classes[k])))
				goto oom;
	}
	ds->n = L.n;
	ds->dim = dim;
	ds->rows = 1;
	ds->cols = dim;
	ds->values = L.values;
	L.values = NULL;
	if (spec->n_targets) {   /* regression: targets, no labels */
		ds->targets = L.targets;
		ds->n_targets = spec->n_targets;
		L.targets = NULL;
	} else {
		ds->labels = L.labels;
		L.labels = NULL;
	}
	rc = 0;
	goto done;
oom:
	fail_oom(&L);
done:
	if (rc)
		nncc_dataset_fini(ds);
	reader_close(&R);
	loader_fini(&L);
	return rc;
}


/* ---- Streaming (predict mode): the features of a file whose label column
 * may be absent, a few rows at a time. */

struct nncc_csv_in {
	Loader L;
	Reader R;
	size_t handed;            /* rows returned so far */
};

int nncc_csv_open(nncc_csv_in_t **out, const char *path, const nncc_csv_spec_t *spec,
                  size_t dim, nncc_err_t *err)
{
	nncc_csv_in_t *in = calloc(1, sizeof *in);
	*out = NULL;
	if (!in) {
		nncc_err_set(err, "%s: out of memory", path);
		return -1;
	}
	in->L = (Loader){.spec = spec, .path = path, .dim = dim, .need_label = 0, .err = err};
	if (reader_open(&in->R, &in->L, path)) {
		loader_fini(&in->L);
		free(in);
		return -1;
	}
	*out = in;
	return 0;
}

int nncc_csv_read(nncc_csv_in_t *in, double *values, size_t k, size_t *got, nncc_err_t *err)
{
	Loader *L = &in->L;
	size_t m, dim = L->dim;

	L->err = err;
	*got = 0;
	if (reader_fill(&in->R, k))
		return -1;
	m = L->n < k ? L->n : k;
	if (m == 0 && in->handed == 0) {
		fail_at(L, (Pos){0, 0}, "no data rows%s", L->n_columns ? "" : " (the file is empty)");
		return -1;
	}
	if (m) {
		memcpy(values, L->values, m * dim * sizeof *values);
		memmove(L->values, L->values + m * dim, (L->n - m) * dim * sizeof *values);
	}
	L->n -= m;   /* (the rows' labels are not read in this mode) */
	in->handed += m;
	*got = m;
	return 0;
}

void nncc_csv_close(nncc_csv_in_t *in)
{
	if (!in)
		return;
	reader_close(&in->R);
	loader_fini(&in->L);
	free(in);
}

void nncc_csv_write_field(FILE *f, const char *s)
{
	if (!s[strcspn(s, ",\"\r\n")]) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* ---- A streamed training set (docs/scaling.md#larger-than-memory): a
 * first pass validates every row as nncc_csv_load does, counts them, finds
 * the classes (a set as large as the classes, not the rows) and records
 * where every tile-th row starts; rows are then read by number, by seeking
 * to the start at or before the first (a gzip'd file inflates again from
 * its start to go back). */

struct nncc_csv_train {
	Loader L;                 /* holds rows L.base .. L.base + L.n - 1 */
	Reader R;
	const nncc_csv_train_t *of; /* a twin (nncc_csv_train_twin): L's columns, classes
	                             and row starts are of's */
	int integers;             /* the labels are the integers written */
	char **found;             /* the classes: given (copied) or the sorted distinct
	                             string labels (owned) */
	size_t n_found;
	size_t tile_rows;         /* a start is recorded every tile_rows rows */
	unsigned long long bytes; /* the file's data (gzip: inflated), as the scan found it */
	/* The scan's rows kept for the caller (nncc_csv_scan's keep): while
	 * they take at most `keep` bytes; keep 0 once they would not. */
	size_t keep, kept_bytes, kn, kcap;
	double *kvalues, *ktargets;
	int32_t *klabels;
	char **ktext;             /* labels as written, when not yet classes */
};

/* Frees the kept rows and keeps no more. */
static void keep_drop(nncc_csv_train_t *t)
{
	for (size_t i = 0; t->ktext && i < t->kn; i++)
		free(t->ktext[i]);
	free(t->ktext);
	free(t->kvalues);
	free(t->ktargets);
	free(t->klabels);
	t->ktext = NULL;
	t->kvalues = t->ktargets = NULL;
	t->klabels = NULL;
	t->kn = t->kcap = t->keep = 0;
}

/* Appends the loader's rows to the kept ones (their label texts moved, not
 * copied), or drops them all when they would take more than t->keep bytes
 * or memory runs out (keeping is only a shortcut: the rows can be read
 * again). */
static void keep_rows(nncc_csv_train_t *t)
{
	Loader *L = &t->L;
	size_t dim = L->dim, nt = L->spec->n_targets, n = t->kn + L->n, bytes = t->kept_bytes;
	size_t cap = t->kcap;

	if (!L->n)
		return;
	for (size_t i = 0; i < L->n; i++)
		bytes += L->label_text[i] ? strlen(L->label_text[i]) + 1 + 2 * sizeof(void *) : 0;
	bytes += L->n * ((dim + nt) * sizeof(double) + sizeof(int32_t) + sizeof(char *));
	if (bytes > t->keep / 2) {   /* growing by doubling: up to twice what is kept */
		keep_drop(t);
		return;
	}
	t->kept_bytes = bytes;
	if (n > cap) {
		cap = cap ? cap : 1024;
		while (cap < n)
			cap *= 2;
		double *v;
		int32_t *y;
		char **x;
		if (!(v = realloc(t->kvalues, cap * (dim ? dim : 1) * sizeof *v)))
			goto drop;
		t->kvalues = v;
		if (nt) {
			if (!(v = realloc(t->ktargets, cap * nt * sizeof *v)))
				goto drop;
			t->ktargets = v;
		}
		if (!(y = realloc(t->klabels, cap * sizeof *y)))
			goto drop;
		t->klabels = y;
		if (!(x = realloc(t->ktext, cap * sizeof *x)))
			goto drop;
		t->ktext = x;
		t->kcap = cap;
	}
	memcpy(t->kvalues + t->kn * dim, L->values, L->n * dim * sizeof *L->values);
	if (nt)
		memcpy(t->ktargets + t->kn * nt, L->targets, L->n * nt * sizeof *L->targets);
	memcpy(t->klabels + t->kn, L->labels, L->n * sizeof *L->labels);
	for (size_t i = 0; i < L->n; i++) {
		t->ktext[t->kn + i] = L->label_text[i];
		L->label_text[i] = NULL;
	}
	t->kn = n;
	return;
drop:
	keep_drop(t);
}

/* *p reallocated to its first `bytes` (kept as it is when that fails). */
static void shrink(void **p, size_t bytes)
{
	void *q = *p && bytes ? realloc(*p, bytes) : NULL;
	if (q)
		*p = q;
}

/* The kept rows into ds (all of them: the scan kept every row), labels
 * as nncc_csv_train_rows hands them out: a label kept as written is the
 * integer written, or its class (the scan's classes are known by now). */
static void keep_give(nncc_csv_train_t *t, nncc_dataset_t *ds)
{
	Loader *L = &t->L;
	for (size_t i = 0; i < t->kn; i++)
		if (t->ktext[i])
			t->klabels[i] = t->integers ? (int32_t)strtol(t->ktext[i], NULL, 10)
			                            : (int32_t)given_class(L, t->ktext[i]);
	shrink((void **)&t->kvalues, t->kn * (L->dim ? L->dim : 1) * sizeof *t->kvalues);
	shrink((void **)&t->ktargets, t->kn * L->spec->n_targets * sizeof *t->ktargets);
	shrink((void **)&t->klabels, t->kn * sizeof *t->klabels);
	ds->values = t->kvalues;
	if (L->spec->n_targets) {
		ds->targets = t->ktargets;
		t->ktargets = NULL;
	} else {
		ds->labels = t->klabels;
		t->klabels = NULL;
	}
	t->kvalues = NULL;
	keep_drop(t);
}

/* Drops the loader's first m rows. */
static void loader_drop(Loader *L, size_t m)
{
	size_t dim = L->dim, nt = L->spec->n_targets ? L->spec->n_targets : 1, rest = L->n - m;
	if (!m)
		return;
	for (size_t i = 0; L->label_text && i < m; i++)
		free(L->label_text[i]);
	memmove(L->values, L->values + m * dim, rest * dim * sizeof *L->values);
	memmove(L->targets, L->targets + m * nt, rest * nt * sizeof *L->targets);
	memmove(L->labels, L->labels + m, rest * sizeof *L->labels);
	memmove(L->label_text, L->label_text + m, rest * sizeof *L->label_text);
	memmove(L->label_at, L->label_at + m, rest * sizeof *L->label_at);
	L->n = rest;
	L->base += m;
}

/* The first pass's labels: whether all are integers (the largest, the first
 * too large), and the distinct texts sorted, with where each first is. */
typedef struct Scan {
	int integers, big;
	long max;
	Pos big_at;
	char big_text[48];
	char **set;
	Pos *set_at;
	size_t n_set, cap;
} Scan;

/* The loader's rows' labels into sc; -1 when out of memory. */
static int scan_labels(Loader *L, Scan *sc)
{
	for (size_t i = 0; i < L->n; i++) {
		const char *t = L->label_text[i];
		size_t lo = 0, hi = sc->n_set;
		if (!t)
			continue;
		if (sc->integers && !is_decimal(t))
			sc->integers = 0;
		if (sc->integers) {
			long v;
			errno = 0;
			v = strtol(t, NULL, 10);
			if ((errno || v > INT32_MAX - 1) && !sc->big++) {
				sc->big_at = L->label_at[i];
				shown(sc->big_text, t);
			}
			sc->max = v > sc->max ? v : sc->max;
		}
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = strcmp(t, sc->set[mid]);
			if (c == 0)
				break;
			if (c < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
		if (lo < hi)
			continue;
		size_t cap = sc->cap;
		if (grow((void **)&sc->set, &cap, sc->n_set + 1, sizeof *sc->set) ||
		    grow((void **)&sc->set_at, &sc->cap, sc->n_set + 1, sizeof *sc->set_at))
			return -1;
		memmove(sc->set + lo + 1, sc->set + lo, (sc->n_set - lo) * sizeof *sc->set);
		memmove(sc->set_at + lo + 1, sc->set_at + lo, (sc->n_set - lo) * sizeof *sc->set_at);
		if (!(sc->set[lo] = strdup(t)))
			return -1;
		sc->set_at[lo] = L->label_at[i];
		sc->n_set++;
	}
	return 0;
}

/* No classes given: the scan's integers, or its strings as the classes
 * (then the loader maps each label to its class as given ones). */
static int scan_classes(nncc_csv_train_t *t, Scan *sc, nncc_dataset_t *ds)
{
	Loader *L = &t->L;
	if ((t->integers = sc->integers)) {
		if (sc->big) {
			fail_at(L, sc->big_at, "label '%s' is too large", sc->big_text);
			return -1;
		}
		ds->n_classes = (size_t)(sc->max + 1);
		return 0;
	}
	for (size_t k = 0; k < sc->n_set; k++)
		if (strlen(sc->set[k]) > NNCC_CLASS_NAME_MAX) {
			char cell[48];
			fail_at(L, sc->set_at[k], "label '%s' is longer than %d bytes",
			        shown(cell, sc->set[k]), NNCC_CLASS_NAME_MAX);
			return -1;
		}
	t->found = sc->set;
	t->n_found = sc->n_set;
	sc->set = NULL;
	if (!(L->given_order = malloc(t->n_found * sizeof *L->given_order)))
		return -1;
	for (size_t k = 0; k < t->n_found; k++)
		L->given_order[k] = k;
	L->classes = (const char *const *)t->found;
	L->n_given = t->n_found;
	return 0;
}

/* The given classes copied (the rows are read after the caller's go), and
 * their order by name for the lookup; -1 when out of memory. */
static int given_classes(nncc_csv_train_t *t, const char *const *classes, size_t n_classes)
{
	Loader *L = &t->L;
	if (!(t->found = calloc(n_classes, sizeof *t->found)))
		return -1;
	for (t->n_found = 0; t->n_found < n_classes; t->n_found++)
		if (!(t->found[t->n_found] = strdup(classes[t->n_found])))
			return -1;
	L->classes = (const char *const *)t->found;
	L->n_given = n_classes;
	if (!(L->given_order = malloc(n_classes * sizeof *L->given_order)))
		return -1;
	for (size_t k = 0; k < n_classes; k++)
		L->given_order[k] = k;
	sort_names = classes;
	qsort(L->given_order, n_classes, sizeof *L->given_order, by_name);
	return 0;
}

/* A training file's reader before it opens the file: the loader's
 * settings and the given classes; NULL when out of memory (err says so). */
static nncc_csv_train_t *train_new(const char *path, const nncc_csv_spec_t *spec, size_t dim,
                                   const char *const *classes, size_t n_classes, size_t tile,
                                   nncc_err_t *err)
{
	nncc_csv_train_t *t = calloc(1, sizeof *t);
	if (t) {
		t->L = (Loader){.spec = spec, .path = path, .dim = dim, .need_label = 1, .err = err,
		                .tile = tile ? tile : 1};
		if (!n_classes || !given_classes(t, classes, n_classes))
			return t;
		nncc_csv_train_close(t);
	}
	nncc_err_set(err, "%s: out of memory", path);
	return NULL;
}

/* The end of a scan (or of nncc_csv_scanned): ds's counts and class names
 * (L's classes: given or found); -1 when out of memory. */
static int scan_done(nncc_csv_train_t *t, nncc_dataset_t *ds, size_t dim)
{
	Loader *L = &t->L;
	if (L->classes) {
		size_t K = L->n_given;
		if (!(ds->class_names = calloc(K, sizeof *ds->class_names)))
			return -1;
		ds->n_classes = K;
		for (size_t k = 0; k < K; k++)
			if (!(ds->class_names[k] = strdup(L->classes[k])))
				return -1;
	}
	ds->dim = ds->cols = dim;
	ds->rows = 1;
	ds->n_targets = L->spec->n_targets;
	t->tile_rows = L->tile;
	L->tile = 0;   /* the starts are known */
	return 0;
}

int nncc_csv_scan(nncc_csv_train_t **out, nncc_dataset_t *ds, const char *path,
                  const nncc_csv_spec_t *spec, size_t dim, const char *const *classes,
                  size_t n_classes, size_t tile, size_t keep, nncc_err_t *err)
{
	nncc_csv_train_t *t = train_new(path, spec, dim, classes, n_classes, tile, err);
	Scan sc = {.integers = 1, .max = -1};
	Loader *L;
	int rc = -1;

	*out = NULL;
	memset(ds, 0, sizeof *ds);
	if (!t)
		return -1;
	L = &t->L;
	if (reader_open(&t->R, L, path))
		goto done;
	t->keep = keep;
	while (!t->R.eof) {
		if (reader_fill(&t->R, 1))
			goto done;
		if (scan_labels(L, &sc))
			goto oom;
		if (t->keep)
			keep_rows(t);
		loader_drop(L, L->n);
	}
	ds->n = L->base;
	t->bytes = L->offset;
	if (ds->n == 0) {
		fail_at(L, (Pos){0, 0}, "no data rows%s", L->n_columns ? "" : " (the file is empty)");
		goto done;
	}
	if (!spec->n_targets && !n_classes && scan_classes(t, &sc, ds))
		goto done;
	if (scan_done(t, ds, dim))
		goto oom;
	if (t->keep && t->kn == ds->n)
		keep_give(t, ds);
	keep_drop(t);
	rc = 0;
	goto done;
oom:
	fail_oom(L);
done:
	for (size_t k = 0; sc.set && k < sc.n_set; k++)
		free(sc.set[k]);
	free(sc.set);
	free(sc.set_at);
	if (rc) {
		nncc_dataset_fini(ds);
		nncc_csv_train_close(t);
	} else {
		*out = t;
	}
	return rc;
}

int nncc_csv_train_seekable(const nncc_csv_train_t *t)
{
	return nncc_rfile_seekable(t->R.f);
}

unsigned long long nncc_csv_train_bytes(const nncc_csv_train_t *t)
{
	return t->bytes;
}

int nncc_csv_train_index(nncc_csv_train_t *t, unsigned long long span, size_t points,
                         nncc_err_t *err)
{
	return nncc_rfile_index(t->R.f, span, points, err);
}

unsigned long long nncc_csv_train_inflated(const nncc_csv_train_t *t)
{
	return nncc_rfile_inflated(t->R.f);
}

const char *nncc_csv_train_path(const nncc_csv_train_t *t)
{
	return t->L.path;
}

/* The reader at the recorded start of row s * tile, holding no rows. */
static int train_seek(nncc_csv_train_t *t, size_t s)
{
	Loader *L = &t->L;
	Reader *R = &t->R;
	CsvStart st = L->starts[s];
	if (nncc_rfile_seek(R->f, st.off, L->err))
		return -1;
	L->path = nncc_rfile_path(R->f);   /* (gzip: opened again) */
	csv_free(&R->p);
	R->p_ready = 0;
	if (parser_init(R)) {
		fail_oom(L);
		return -1;
	}
	R->eof = 0;
	R->skip = 0;
	loader_drop(L, L->n);
	L->n_fields = L->text_len = 0;
	L->line = st.at.line;
	L->line_start = st.off - (st.at.col - 1);
	L->offset = L->next_off = st.off;
	L->next = st.at;
	return 0;
}

int nncc_csv_train_rows(nncc_csv_train_t *t, size_t first, size_t k, double *values,
                        int32_t *labels, double *targets, nncc_err_t *err)
{
	Loader *L = &t->L;
	size_t dim = L->dim, nt = L->spec->n_targets;

	L->err = err;
	L->failed = 0;
	if (first < L->base || first > L->base + L->n) {
		size_t s = first / t->tile_rows;
		if (s >= L->n_starts) {
			nncc_err_set(err, "%s: row %zu asked for, it has fewer", L->path, first + 1);
			return -1;
		}
		if (train_seek(t, s))
			return -1;
		L->base = s * t->tile_rows;
	}
	while (L->base < first) {
		if (reader_fill(&t->R, first - L->base))
			return -1;
		if (!L->n)
			break;
		loader_drop(L, L->n < first - L->base ? L->n : first - L->base);
	}
	if (L->base == first && reader_fill(&t->R, k))
		return -1;
	if (L->base != first || L->n < k) {
		nncc_err_set(err, "%s: ends before row %zu (changed since it was read?)", L->path,
		             first + k);
		return -1;
	}
	memcpy(values, L->values, k * dim * sizeof *values);
	if (nt)
		memcpy(targets, L->targets, k * nt * sizeof *targets);
	else if (t->integers)
		for (size_t i = 0; i < k; i++)
			labels[i] = (int32_t)strtol(L->label_text[i], NULL, 10);
	else
		memcpy(labels, L->labels, k * sizeof *labels);
	loader_drop(L, k);
	return 0;
}

int nncc_csv_train_twin(nncc_csv_train_t **out, const nncc_csv_train_t *t, nncc_err_t *err)
{
	const Loader *P = &t->L;
	nncc_csv_train_t *u = calloc(1, sizeof *u);

	*out = NULL;
	if (!u) {
		nncc_err_set(err, "%s: out of memory", P->path);
		return -1;
	}
	u->of = t;
	u->integers = t->integers;
	u->tile_rows = t->tile_rows;
	u->L = (Loader){.spec = P->spec, .dim = P->dim, .need_label = P->need_label,
	                .classes = P->classes, .n_given = P->n_given, .given_order = P->given_order,
	                .err = err, .n_columns = P->n_columns, .names = P->names, .role = P->role,
	                .label_col = P->label_col, .target_col = P->target_col,
	                .starts = P->starts, .n_starts = P->n_starts};
	if (reader_open(&u->R, &u->L, P->path)) {
		nncc_csv_train_close(u);
		return -1;
	}
	nncc_rfile_index_share(u->R.f, t->R.f);   /* t's access points, when it has them */
	u->L.base = P->base + P->n;   /* past the rows: the first read seeks (no header, no skip) */
	*out = u;
	return 0;
}

/* ---- A scan's findings as bytes, for the ranks that do not scan
 * (nncc_csv_scan_pack, nncc_csv_scanned): sizes as uint64, texts as a
 * size and their bytes, in the machine's byte order (the ranks' machines
 * are alike, as for every exchange). */

static void put(unsigned char *b, size_t *at, const void *src, size_t n)
{
	if (b)   /* NULL: only counts */
		memcpy(b + *at, src, n);
	*at += n;
}

static void put_size(unsigned char *b, size_t *at, size_t v)
{
	uint64_t u = v;
	put(b, at, &u, sizeof u);
}

static void put_text(unsigned char *b, size_t *at, const char *s)
{
	put_size(b, at, strlen(s));
	put(b, at, s, strlen(s));
}

/* The findings into b (NULL: their size); returns their size. */
static size_t pack(const nncc_csv_train_t *t, const nncc_dataset_t *ds, unsigned char *b)
{
	const Loader *L = &t->L;
	size_t at = 0;
	put_size(b, &at, ds->n);
	put_size(b, &at, ds->n_classes);
	put_size(b, &at, (size_t)t->integers);
	put_size(b, &at, L->n_columns);
	put(b, &at, L->role, L->n_columns);
	put_size(b, &at, L->label_col);
	for (size_t i = 0; i < L->spec->n_targets; i++)
		put_size(b, &at, L->target_col[i]);
	put_size(b, &at, L->names != NULL);
	for (size_t c = 0; L->names && c < L->n_columns; c++)
		put_text(b, &at, L->names[c]);
	put_size(b, &at, t->n_found);
	for (size_t k = 0; k < t->n_found; k++)
		put_text(b, &at, t->found[k]);
	put_size(b, &at, (size_t)t->bytes);
	put_size(b, &at, L->n_starts);
	for (size_t i = 0; i < L->n_starts; i++) {
		put_size(b, &at, (size_t)L->starts[i].off);
		put_size(b, &at, L->starts[i].at.line);
		put_size(b, &at, L->starts[i].at.col);
	}
	return at;
}

int nncc_csv_scan_pack(const nncc_csv_train_t *t, const nncc_dataset_t *ds, void **buf,
                       size_t *len, nncc_err_t *err)
{
	*len = pack(t, ds, NULL);
	if (!(*buf = malloc(*len))) {
		nncc_err_set(err, "%s: out of memory for its scan's %zu bytes", t->L.path, *len);
		return -1;
	}
	pack(t, ds, *buf);
	return 0;
}

/* Reading packed bytes: *ok turns 0 past their end (and stays). */
typedef struct Unpack {
	const unsigned char *p;
	size_t at, len;
	int ok;
} Unpack;

static void get(Unpack *u, void *dst, size_t n)
{
	if (!u->ok || n > u->len - u->at) {
		u->ok = 0;
		memset(dst, 0, n);
		return;
	}
	memcpy(dst, u->p + u->at, n);
	u->at += n;
}

static size_t get_size(Unpack *u)
{
	uint64_t v;
	get(u, &v, sizeof v);
	if (v > SIZE_MAX)
		u->ok = 0;
	return u->ok ? (size_t)v : 0;
}

/* A count of things of at least `least` bytes each that the rest can hold. */
static size_t get_count(Unpack *u, size_t least)
{
	size_t n = get_size(u);
	if (n > (u->len - u->at) / least)
		u->ok = 0;
	return u->ok ? n : 0;
}

static char *get_text(Unpack *u)
{
	size_t n = get_count(u, 1);
	char *s = u->ok ? malloc(n + 1) : NULL;
	if (s) {
		get(u, s, n);
		s[n] = '\0';
	}
	return s;
}

/* The findings of nncc_csv_scan_pack into t and ds; -1 when they are not
 * whole (err says so) or memory runs out. */
static int unpack(nncc_csv_train_t *t, nncc_dataset_t *ds, const void *buf, size_t len,
                  int given, nncc_err_t *err)
{
	Loader *L = &t->L;
	Unpack u = {buf, 0, len, 1};
	size_t nt = L->spec->n_targets, n_found;

	ds->n = L->base = get_size(&u);
	ds->n_classes = get_size(&u);
	t->integers = get_size(&u) != 0;
	L->n_columns = get_count(&u, 1);
	if (!(L->role = malloc(L->n_columns ? L->n_columns : 1)) ||
	    (nt && !(L->target_col = calloc(nt, sizeof *L->target_col))))
		goto oom;
	get(&u, L->role, L->n_columns);
	L->label_col = get_size(&u);
	for (size_t i = 0; i < nt; i++)
		L->target_col[i] = get_size(&u);
	if (get_size(&u)) {
		if (!(L->names = calloc(L->n_columns ? L->n_columns : 1, sizeof *L->names)))
			goto oom;
		for (size_t c = 0; c < L->n_columns; c++)
			if (!(L->names[c] = get_text(&u)) && u.ok)
				goto oom;
	}
	n_found = get_count(&u, sizeof(uint64_t));
	if (!given && n_found) {   /* the strings found: the classes, in their order */
		if (!(t->found = calloc(n_found, sizeof *t->found)) ||
		    !(L->given_order = malloc(n_found * sizeof *L->given_order)))
			goto oom;
		for (t->n_found = 0; t->n_found < n_found; t->n_found++) {
			L->given_order[t->n_found] = t->n_found;
			if (!(t->found[t->n_found] = get_text(&u)) && u.ok)
				goto oom;
		}
		L->classes = (const char *const *)t->found;
		L->n_given = n_found;
	} else {
		for (size_t k = 0; k < n_found; k++)   /* the given ones: the caller's */
			free(get_text(&u));
	}
	t->bytes = get_size(&u);
	L->n_starts = get_count(&u, 3 * sizeof(uint64_t));
	if (!(L->starts = malloc((L->n_starts ? L->n_starts : 1) * sizeof *L->starts)))
		goto oom;
	for (size_t i = 0; i < L->n_starts; i++) {
		L->starts[i].off = get_size(&u);
		L->starts[i].at.line = get_size(&u);
		L->starts[i].at.col = get_size(&u);
	}
	for (size_t i = 0; i < nt; i++)   /* the columns it names are there */
		u.ok &= L->target_col[i] < L->n_columns;
	if (L->label_col >= L->n_columns && L->label_col < SIZE_MAX - 1)   /* (none; targets) */
		u.ok = 0;
	if (!u.ok || u.at != len) {
		nncc_err_set(err, "%s: its scan's %zu bytes from rank 0 are not whole", L->path, len);
		return -1;
	}
	return 0;
oom:
	nncc_err_set(err, "%s: out of memory for its scan's %zu bytes", L->path, len);
	return -1;
}

int nncc_csv_scanned(nncc_csv_train_t **out, nncc_dataset_t *ds, const char *path,
                     const nncc_csv_spec_t *spec, size_t dim, const char *const *classes,
                     size_t n_classes, size_t tile, const void *buf, size_t len,
                     nncc_err_t *err)
{
	nncc_csv_train_t *t = train_new(path, spec, dim, classes, n_classes, tile, err);
	Loader *L;

	*out = NULL;
	memset(ds, 0, sizeof *ds);
	if (!t)
		return -1;
	L = &t->L;
	if (reader_open(&t->R, L, path) || unpack(t, ds, buf, len, n_classes > 0, err))
		goto fail;
	if (scan_done(t, ds, dim)) {
		nncc_err_set(err, "%s: out of memory", path);
		goto fail;
	}
	*out = t;   /* past the rows (L->base = n): the first read seeks */
	return 0;
fail:
	nncc_dataset_fini(ds);
	nncc_csv_train_close(t);
	return -1;
}

void nncc_csv_train_close(nncc_csv_train_t *t)
{
	if (!t)
		return;
	if (t->of) {   /* what loader_fini would free is the original's */
		t->L.given_order = NULL;
		t->L.names = NULL;
		t->L.role = NULL;
		t->L.target_col = NULL;
		t->L.starts = NULL;
	}
	reader_close(&t->R);
	keep_drop(t);
	if (t->found)
		t->L.classes = NULL;
	loader_fini(&t->L);
	for (size_t k = 0; k < t->n_found; k++)
		free(t->found[k]);
	free(t->found);
	free(t);
}
