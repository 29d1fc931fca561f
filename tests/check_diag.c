/*
 * check_diag.c - arena.c and diag.c: zeroed, aligned arena allocations of
 * every size; the exact diagnostic format (location, source line, caret
 * under the right column with tabs and UTF-8), locations without a caret,
 * mark conversion and the whole-file reader.
 */
#include <check.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../compiler/nncc.h"
#include "ctxutil.h"
#include "testutil.h"

START_TEST(arena_allocations)
{
	Arena *a = arena_new();
	for (size_t size = 0; size < 70000; size = size * 3 + 1) {
		unsigned char *p = arena_alloc(a, size);
		ck_assert_uint_eq((uintptr_t)p % alignof(max_align_t), 0);
		for (size_t i = 0; i < size; i++)
			ck_assert_uint_eq(p[i], 0);
		memset(p, 0xAB, size);   /* ASan catches an overrun */
	}
	for (int i = 0; i < 100000; i++)
		*(int *)arena_alloc(a, sizeof(int)) = i;
	ck_assert_str_eq(arena_strdup(a, "hello"), "hello");
	ck_assert_str_eq(arena_strndup(a, "hello", 3), "hel");
	ck_assert_str_eq(arena_printf(a, "%s-%d", "x", 42), "x-42");
	arena_free(a);
	arena_free(NULL);
}
END_TEST

/* Captured diagnostics for one Ctx whose source is `src` from "f.yaml". */
static void run_src(Run *r, const char *src)
{
	run_init(r);
	r->ctx.src = src;
	r->ctx.src_len = src ? strlen(src) : 0;
	r->ctx.src_file = "f.yaml";
}

static void expect_diag(const char *src, Loc loc, const char *want)
{
	Run r;
	run_src(&r, src);
	diag_error(&r.ctx, loc, "bad %s", "thing");
	ck_assert_str_eq(run_out(&r), want);
	ck_assert_int_eq(r.ctx.n_errors, 1);
	run_fini(&r);
}

START_TEST(error_with_caret)
{
	const char *src = "a: 1\nunits: -3\nz: 2\n";
	expect_diag(src, (Loc){"f.yaml", 2, 8},
	            "f.yaml:2:8: error: bad thing\nunits: -3\n       ^\n");
	expect_diag(src, (Loc){"f.yaml", 1, 1}, "f.yaml:1:1: error: bad thing\na: 1\n^\n");
	/* Last line without a newline; CRLF line ends are not shown. */
	expect_diag("a: 1\r\nb: 2", (Loc){"f.yaml", 1, 4},
	            "f.yaml:1:4: error: bad thing\na: 1\n   ^\n");
	expect_diag("a: 1\nb: 2", (Loc){"f.yaml", 2, 4},
	            "f.yaml:2:4: error: bad thing\nb: 2\n   ^\n");
	/* A column just past the end of the line (end-of-line errors). */
	expect_diag("a:\n", (Loc){"f.yaml", 1, 3}, "f.yaml:1:3: error: bad thing\na:\n  ^\n");
}
END_TEST

START_TEST(caret_tabs_and_utf8)
{
	/* A tab is copied so the caret lines up; a 2-byte character is one column. */
	expect_diag("\tk: v\n", (Loc){"f.yaml", 1, 5},
	            "f.yaml:1:5: error: bad thing\n\tk: v\n\t   ^\n");
	expect_diag("n: \xc3\xa9x\n", (Loc){"f.yaml", 1, 5},
	            "f.yaml:1:5: error: bad thing\nn: \xc3\xa9x\n    ^\n");
}
END_TEST

START_TEST(no_caret_without_source)
{
	/* Another file (a template, say), no line, no file, past the end. */
	expect_diag("a: 1\n", (Loc){"dense.c", 1, 1}, "dense.c:1:1: error: bad thing\n");
	expect_diag("a: 1\n", (Loc){"f.yaml", 0, 0}, "f.yaml: error: bad thing\n");
	expect_diag("a: 1\n", (Loc){NULL, 0, 0}, "nncc: error: bad thing\n");
	expect_diag("a: 1\n", (Loc){"f.yaml", 9, 1}, "f.yaml:9:1: error: bad thing\n");
	expect_diag(NULL, (Loc){"f.yaml", 1, 1}, "f.yaml:1:1: error: bad thing\n");
}
END_TEST

START_TEST(fatal_and_count)
{
	Run r;
	run_src(&r, NULL);
	diag_fatal(&r.ctx, "cannot open '%s'", "x");
	diag_error(&r.ctx, (Loc){"f.yaml", 0, 0}, "two");
	ck_assert_str_eq(run_out(&r), "nncc: error: cannot open 'x'\nf.yaml: error: two\n");
	ck_assert_int_eq(r.ctx.n_errors, 2);
	run_fini(&r);
}
END_TEST

START_TEST(marks_are_zero_based)
{
	Loc loc = diag_loc_from_mark("f.yaml", 0, 0);
	ck_assert_str_eq(loc.file, "f.yaml");
	ck_assert_int_eq(loc.line, 1);
	ck_assert_int_eq(loc.col, 1);
	loc = diag_loc_from_mark("f.yaml", 6, 4);
	ck_assert_int_eq(loc.line, 7);
	ck_assert_int_eq(loc.col, 5);
}
END_TEST

START_TEST(read_whole_file)
{
	char path[] = "/tmp/nncc-diag-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	/* Bigger than the reader's first chunk, with a NUL inside. */
	size_t n = 10000;
	char *data = malloc(n);
	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (char)('a' + i % 26);
	data[5] = '\0';
	ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
	close(fd);

	Run r;
	run_src(&r, NULL);
	size_t len = 0;
	char *text = read_file(&r.ctx, path, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(len, n);
	ck_assert_mem_eq(text, data, n);
	ck_assert_int_eq(text[n], '\0');
	ck_assert_int_eq(r.ctx.n_errors, 0);

	unlink(path);
	ck_assert_ptr_null(read_file(&r.ctx, path, &len));
	char want[128];
	snprintf(want, sizeof want, "nncc: error: cannot open '%s': No such file or directory\n",
	         path);
	ck_assert_str_eq(run_out(&r), want);
	run_fini(&r);
	free(data);
}
END_TEST

static Suite *diag_suite(void)
{
	Suite *s = suite_create("diag");
	TCase *tc = tcase_create("arena");
	tcase_add_test(tc, arena_allocations);
	suite_add_tcase(s, tc);
	tc = tcase_create("diag");
	tcase_add_test(tc, error_with_caret);
	tcase_add_test(tc, caret_tabs_and_utf8);
	tcase_add_test(tc, no_caret_without_source);
	tcase_add_test(tc, fatal_and_count);
	tcase_add_test(tc, marks_are_zero_based);
	tcase_add_test(tc, read_whole_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(diag_suite(), NULL);
}
