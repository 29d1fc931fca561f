/*
 * testutil.h - helpers shared by the Check suites: files written, read and
 * compared; IDX data sets (the MNIST format, raw or gzip'd); scratch
 * directories (per suite or per test, kept when something failed); output
 * captured in memory; commands run with their output; golden values; and
 * the suite's main().  Header-only (static inline functions), so a suite is
 * its .c file plus the headers it includes.  Helpers that only run inside a
 * test fail it with ck_assert; those a suite may call from main() (before
 * Check runs anything) return a status or abort.
 */
#ifndef NNCC_TESTUTIL_H
#define NNCC_TESTUTIL_H

#include <check.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "../runtime/nncc.h"   /* nncc_rng for seeded data */

/* 1 in a build with AddressSanitizer (make SAN=1): gcc says so with
 * __SANITIZE_ADDRESS__, clang through __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
#define TU_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_SANITIZED 1
#endif
#endif
#ifndef TU_SANITIZED
#define TU_SANITIZED 0
#endif

/* ---- files */

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

/* The same, gzip-compressed (zlib's gzopen "wb"). */
static inline int tu_write_gz(const char *path, const void *data, size_t len)
{
	gzFile f = gzopen(path, "wb");
	if (!f)
		return -1;
	int w = gzwrite(f, data, (unsigned)len);
	return (gzclose(f) == Z_OK && w == (int)len) ? 0 : -1;
}

/* The whole file, with a NUL after its *len bytes (len may be NULL);
 * malloc'd.  Fails the test if the file cannot be read. */
static inline void *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	size_t cap = 1 << 16, n = 0, r;
	char *buf = malloc(cap);
	ck_assert_ptr_nonnull(buf);
	while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (cap - n < 2) {
			buf = realloc(buf, cap *= 2);
			ck_assert_ptr_nonnull(buf);
		}
	}
	ck_assert_msg(!ferror(f), "cannot read %s", path);
	fclose(f);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

/* 1 if files a and b hold the same bytes. */
static inline int tu_same_file(const char *a, const char *b)
{
	size_t la, lb;
	char *x = tu_read_file(a, &la), *y = tu_read_file(b, &lb);
	int same = la == lb && memcmp(x, y, la) == 0;
	free(x);
	free(y);
	return same;
}

static inline int tu_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Entries in directory dir other than . and .. */
static inline size_t tu_dir_entries(const char *dir)
{
	size_t n = 0;
	DIR *dp = opendir(dir);
	ck_assert_msg(dp != NULL, "cannot open directory %s", dir);
	for (struct dirent *de; (de = readdir(dp)) != NULL;)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(dp);
	return n;
}

/* ---- IDX files: a big-endian header (magic 0x00000803 and n, rows, cols
 * for images; 0x00000801 and n for labels), then one byte per pixel or
 * label.  Pixels are [n][rows * cols]. */

static inline void tu_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* An idx3 image file in memory, *len bytes (malloc'd, with one spare zero
 * byte after them so a test can append a trailing byte). */
static inline uint8_t *tu_idx_images(const uint8_t *pix, uint32_t n, uint32_t rows,
                                     uint32_t cols, size_t *len)
{
	size_t bytes = (size_t)n * rows * cols;
	uint8_t *b = calloc(16 + bytes + 1, 1);
	if (!b)
		abort();
	tu_put_be32(b, 0x803);
	tu_put_be32(b + 4, n);
	tu_put_be32(b + 8, rows);
	tu_put_be32(b + 12, cols);
	memcpy(b + 16, pix, bytes);
	*len = 16 + bytes;
	return b;
}

/* An idx1 label file in memory, likewise. */
static inline uint8_t *tu_idx_labels(const uint8_t *lab, uint32_t n, size_t *len)
{
	uint8_t *b = calloc(8 + (size_t)n + 1, 1);
	if (!b)
		abort();
	tu_put_be32(b, 0x801);
	tu_put_be32(b + 4, n);
	memcpy(b + 8, lab, n);
	*len = 8 + (size_t)n;
	return b;
}

/* A data set as the driver finds it: dir/SET-images-idx3-ubyte and
 * dir/SET-labels-idx1-ubyte (SET "train" or "t10k", possibly "sub/train").
 * Returns 0, or -1 if a file could not be written. */
static inline int tu_idx_write(const char *dir, const char *set, const uint8_t *pix,
                               const uint8_t *lab, size_t n, size_t rows, size_t cols)
{
	char name[256];
	size_t len;
	int rc = 0;
	uint8_t *b = tu_idx_images(pix, (uint32_t)n, (uint32_t)rows, (uint32_t)cols, &len);
	snprintf(name, sizeof name, "%s-images-idx3-ubyte", set);
	char *p = tu_path(dir, name);
	rc |= tu_write(p, b, len);
	free(p);
	free(b);
	b = tu_idx_labels(lab, (uint32_t)n, &len);
	snprintf(name, sizeof name, "%s-labels-idx1-ubyte", set);
	p = tu_path(dir, name);
	rc |= tu_write(p, b, len);
	free(p);
	free(b);
	return rc;
}

/* tu_idx_write of n seeded samples that training can learn from.  Drawn
 * from nncc_rng seeded with `seed`, sample by sample: the label y =
 * below(classes), then each pixel p = below(256) where p lies in band y
 * of the image cut into `bands` equal runs of pixels (p * bands / dim ==
 * y), else below(dark). */
static inline int tu_idx_write_banded(const char *dir, const char *set, size_t n, size_t rows,
                                      size_t cols, size_t classes, size_t bands, size_t dark,
                                      uint64_t seed)
{
	size_t dim = rows * cols;
	uint8_t *pix = malloc(n * dim), *lab = malloc(n);
	if (!pix || !lab)
		abort();
	nncc_rng_t r;
	nncc_rng_seed(&r, seed);
	for (size_t b = 0; b < n; b++) {
		size_t y = nncc_rng_below(&r, classes);
		lab[b] = (uint8_t)y;
		for (size_t p = 0; p < dim; p++)
			pix[b * dim + p] = (uint8_t)nncc_rng_below(&r, p * bands / dim == y ? 256 : dark);
	}
	int rc = tu_idx_write(dir, set, pix, lab, n, rows, cols);
	free(pix);
	free(lab);
	return rc;
}

/* ---- output captured in memory */

/* What is written to `f` collects in `text` (open_memstream). */
typedef struct TuCapture {
	FILE *f;
	char *text;
	size_t len;
} TuCapture;

/* Starts capturing and returns the stream to write to. */
static inline FILE *tu_capture_open(TuCapture *c)
{
	c->text = NULL;
	c->len = 0;
	c->f = open_memstream(&c->text, &c->len);
	ck_assert_ptr_nonnull(c->f);
	return c->f;
}

/* Everything written so far, NUL-terminated; valid until tu_capture_close. */
static inline const char *tu_capture_text(TuCapture *c)
{
	fflush(c->f);
	return c->text;
}

static inline void tu_capture_close(TuCapture *c)
{
	fclose(c->f);
	free(c->text);
}

/* ---- commands */

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

/* The nncc binary under test ($NNCC, default build/nncc). */
static inline const char *tu_nncc(void)
{
	const char *n = getenv("NNCC");
	return n && *n ? n : "build/nncc";
}

/* Whether NNCC_TEST_FULL is set (make test-full): the suites that build
 * many trainers then build their whole matrices, not make test's share. */
static inline int tu_full(void)
{
	const char *f = getenv("NNCC_TEST_FULL");
	return f && *f && strcmp(f, "0") != 0;
}

/* ---- scratch directories */

/* Removes scratch directory dir, unless `failed` or NNCC_TEST_KEEP is set:
 * then it stays, and its path is printed so its files can be read.
 * Returns 0, or non-zero if it could not be removed. */
static inline int tu_scratch_cleanup(const char *dir, int failed)
{
	const char *keep = getenv("NNCC_TEST_KEEP");
	if (failed || (keep && *keep)) {
		fprintf(stderr, "scratch files kept in %s\n", dir);
		return 0;
	}
	return tu_run(NULL, "rm -rf '%s'", dir);
}

/* The end of a test's own scratch directory (from tu_mkdtemp): removed as
 * above and its name freed.  A test that failed never gets here, so its
 * files stay. */
static inline void tu_scratch_free(char *dir)
{
	ck_assert_msg(tu_scratch_cleanup(dir, 0) == 0, "cannot remove %s", dir);
	free(dir);
}

/* A scratch directory per test, as a checked fixture:
 *     tcase_add_checked_fixture(tc, tu_scratch_setup, tu_scratch_teardown);
 * and the test reaches it as tu_scratch. */
static char *tu_scratch __attribute__((unused));

static inline void tu_scratch_setup(void)
{
	tu_scratch = tu_mkdtemp();
}

static inline void tu_scratch_teardown(void)
{
	tu_scratch_free(tu_scratch);
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

/* ---- the suite's main() */

/* Runs every test of s and returns main()'s status: EXIT_SUCCESS only if
 * all passed.  `scratch`, the suite's own scratch directory (malloc'd, or
 * NULL), is then cleaned up (tu_scratch_cleanup) and freed. */
static inline int tu_suite_main(Suite *s, char *scratch)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (scratch) {
		tu_scratch_cleanup(scratch, failed);
		free(scratch);
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
