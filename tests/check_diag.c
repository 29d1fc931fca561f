/*
 * check_diag.c - arena.c and diag.c: zeroed, aligned arena allocations of
 * every size; the exact diagnostic format (location, source line, caret
 * under the right column with tabs and UTF-8), locations without a caret,
 * mark conversion and the whole-file reader; output bounded for any input
 * (errors capped, long lines windowed, long messages cut, control
 * characters not echoed).
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

/* Defect 6 of issue 14: each error reprinted a 44 KB line, one fputc at a
 * time.  A long line is shown as a window of DIAG_LINE_WINDOW bytes around
 * the column, cut with "...", the caret still under the column. */
START_TEST(long_line_window)
{
	size_t n = 50000;
	char *src = malloc(n + 2);
	ck_assert_ptr_nonnull(src);
	for (size_t i = 0; i < n; i++)
		src[i] = (char)('a' + i % 26);
	src[n] = '\n';
	src[n + 1] = 0;
	for (int k = 0; k < 3; k++) {
		int col = k == 0 ? 3 : k == 1 ? 25000 : (int)n;
		Run r;
		run_src(&r, src);
		diag_error(&r.ctx, (Loc){"f.yaml", 1, col}, "bad");
		const char *out = run_out(&r);
		const char *line = strchr(out, '\n') + 1;
		const char *caret = strchr(line, '\n') + 1;
		size_t shown = (size_t)(caret - line - 1);
		ck_assert_uint_le(shown, DIAG_LINE_WINDOW + 6);
		ck_assert_int_eq(strncmp(line, "...", 3) == 0, k > 0);   /* cut on the left */
		ck_assert_int_eq(strncmp(caret - 4, "...", 3) == 0, k < 2);   /* and the right */
		/* The caret is under the column's character. */
		size_t at = strcspn(caret, "^");
		ck_assert_uint_lt(at, shown);
		ck_assert_int_eq(line[at], src[col - 1]);
		ck_assert_str_eq(caret + at, "^\n");
		run_fini(&r);
	}
	free(src);
}
END_TEST

/* Control characters in a source line are shown as '?': a YAML file cannot
 * send escape sequences to the terminal of whoever reads its errors. */
START_TEST(control_characters_shown_as_question_marks)
{
	expect_diag("a: \x1b[2Jx\x07\n", (Loc){"f.yaml", 1, 4},
	            "f.yaml:1:4: error: bad thing\na: ?[2Jx?\n   ^\n");
}
END_TEST

/* Defect 6: 20 000 bad keys printed 3 MB.  The first DIAG_MAX_SHOWN errors
 * are shown, the rest counted, and diag_summary says how many. */
START_TEST(errors_capped_with_summary)
{
	Run r;
	run_src(&r, "k: v\n");
	for (int i = 0; i < 100000; i++)
		diag_error(&r.ctx, (Loc){"f.yaml", 1, 1}, "error %d", i);
	diag_fatal(&r.ctx, "one more");
	ck_assert_uint_eq(r.ctx.n_errors, 100001);
	diag_summary(&r.ctx);
	const char *out = run_out(&r);
	char last[64];
	snprintf(last, sizeof last, "f.yaml:1:1: error: error %d\n", DIAG_MAX_SHOWN - 1);
	ck_assert_ptr_nonnull(strstr(out, last));
	snprintf(last, sizeof last, "error %d\n", DIAG_MAX_SHOWN);
	ck_assert_ptr_null(strstr(out, last));
	ck_assert_ptr_null(strstr(out, "one more"));
	char tail[128];
	snprintf(tail, sizeof tail, "nncc: and %d more errors not shown (%d shown)\n",
	         100001 - DIAG_MAX_SHOWN, DIAG_MAX_SHOWN);
	ck_assert_str_eq(out + strlen(out) - strlen(tail), tail);
	run_fini(&r);

	/* No summary when nothing was held back. */
	run_src(&r, NULL);
	diag_fatal(&r.ctx, "only");
	diag_summary(&r.ctx);
	ck_assert_str_eq(run_out(&r), "nncc: error: only\n");
	run_fini(&r);
}
END_TEST

/* A message is cut at DIAG_MSG_MAX bytes (a 1 MB key name is not echoed). */
START_TEST(long_message_cut)
{
	size_t n = 100000;
	char *key = malloc(n + 1);
	ck_assert_ptr_nonnull(key);
	memset(key, 'k', n);
	key[n] = 0;
	Run r;
	run_src(&r, NULL);
	diag_fatal(&r.ctx, "unknown key '%s'", key);
	const char *out = run_out(&r);
	ck_assert_uint_eq(strlen(out), strlen("nncc: error: ") + DIAG_MSG_MAX + strlen("...\n"));
	ck_assert_str_eq(out + strlen(out) - 5, "k...\n");
	run_fini(&r);
	free(key);
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
	tcase_add_test(tc, long_line_window);
	tcase_add_test(tc, control_characters_shown_as_question_marks);
	tcase_add_test(tc, errors_capped_with_summary);
	tcase_add_test(tc, long_message_cut);
	tcase_add_test(tc, marks_are_zero_based);
	tcase_add_test(tc, read_whole_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(diag_suite(), NULL);
}
