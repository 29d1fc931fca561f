/*
 * check_tmpl.c - Check suite for compiler/tmpl.c: Buf growth, placeholder
 * substitution and sections on small inline templates, every error message
 * in full (template:line included), and the expansion of every section of
 * every built-in template with a value for each placeholder it names.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/nncc.h"
#include "ctxutil.h"
#include "testutil.h"

/* Line 1 is the description, sections start on lines 2 and 6. */
static const Template t_small = {
	"t.c",
	"/* t.c - a test template */\n"      /* 1 */
	"//@ section one\n"                   /* 2 */
	"\n"                                  /* 3 */
	"int {{NAME}}[{{N}}]; /* {{N}} */\n"  /* 4 */
	"\n"                                  /* 5 */
	"//@ section two\n"                   /* 6 */
	"x = {{X}};\n"                        /* 7 */
	"y = {{Y}} + {{X}};\n"                /* 8 */
	"//@ section bad\n"                   /* 9 */
	"a {{ X}}\n",                         /* 10 */
};

START_TEST(test_buf)
{
	Buf b;
	buf_init(&b);
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i % 10);
	buf_puts(&b, "end");
	ck_assert_uint_eq(b.len, 2003);
	ck_assert_uint_eq(strlen(b.data), 2003);
	ck_assert(strncmp(b.data, "0,1,2,", 6) == 0);
	ck_assert_str_eq(b.data + 2000, "end");
	buf_fini(&b);
	ck_assert_ptr_null(b.data);
	buf_fini(&b);   /* twice is fine */
}
END_TEST

START_TEST(test_expand_sections)
{
	Run c;
	run_init(&c);
	Buf b;
	buf_init(&b);
	TmplVar one[] = {{"NAME", "table"}, {"N", "16"}};
	ck_assert_int_eq(tmpl_expand_template(&c.ctx, &b, &t_small, "one", NULL, 0, one, 2), 0);
	/* Blank lines around a section are dropped; the description never shows. */
	ck_assert_str_eq(b.data, "int table[16]; /* 16 */\n");
	TmplVar two[] = {{"Y", "2"}, {"X", "1"}};
	ck_assert_int_eq(tmpl_expand_template(&c.ctx, &b, &t_small, "two", NULL, 0, two, 2), 0);
	ck_assert_str_eq(b.data, "int table[16]; /* 16 */\nx = 1;\ny = 2 + 1;\n");
	ck_assert_int_eq(c.ctx.n_errors, 0);
	ck_assert_str_eq(run_out(&c), "");
	buf_fini(&b);
	run_fini(&c);
}
END_TEST

/* Expands `section` of t_small with vars, expects failure with exactly
 * `message` and the buffer left as it was. */
static void expect_error(const char *section, const TmplVar *vars, size_t n, const char *message)
{
	Run c;
	run_init(&c);
	Buf b;
	buf_init(&b);
	buf_puts(&b, "before\n");
	ck_assert_int_eq(tmpl_expand_template(&c.ctx, &b, &t_small, section, NULL, 0, vars, n), -1);
	ck_assert_str_eq(b.data, "before\n");
	ck_assert_str_eq(run_out(&c), message);
	ck_assert_int_eq(c.ctx.n_errors, 1);
	buf_fini(&b);
	run_fini(&c);
}

START_TEST(test_unknown_placeholder)
{
	TmplVar vars[] = {{"NAME", "t"}, {"NN", "1"}};
	expect_error("one", vars, 2, "nncc: error: template t.c:4: unknown placeholder {{N}}\n");
}
END_TEST

START_TEST(test_missing_value)
{
	TmplVar vars[] = {{"X", "1"}, {"Y", NULL}};
	expect_error("two", vars, 2, "nncc: error: template t.c:8: missing value for {{Y}}\n");
}
END_TEST

START_TEST(test_unused_value)
{
	TmplVar vars[] = {{"X", "1"}, {"Y", "2"}, {"OUTS", "3"}};
	expect_error("two", vars, 3,
	             "nncc: error: template t.c:7: unused value {{OUTS}} in section 'two'\n");
}
END_TEST

START_TEST(test_unknown_section)
{
	expect_error("on", NULL, 0, "nncc: error: template t.c: unknown section 'on'\n");
}
END_TEST

START_TEST(test_malformed)
{
	TmplVar vars[] = {{"X", "1"}};
	expect_error("bad", vars, 1,
	             "nncc: error: template t.c:10: malformed placeholder (expected {{NAME}})\n");
}
END_TEST

START_TEST(test_duplicate_value)
{
	TmplVar vars[] = {{"X", "1"}, {"Y", "2"}, {"X", "3"}};
	expect_error("two", vars, 3, "nncc: error: template t.c: value {{X}} given twice\n");
}
END_TEST

/* Shared values may go unused; a name given both ways is an error. */
START_TEST(test_shared_values)
{
	Run c;
	run_init(&c);
	Buf b;
	buf_init(&b);
	TmplVar shared[] = {{"NAME", "table"}, {"X", "1"}, {"UNUSED", "9"}};
	TmplVar vars[] = {{"N", "16"}};
	ck_assert_int_eq(tmpl_expand_template(&c.ctx, &b, &t_small, "one", shared, 3, vars, 1), 0);
	ck_assert_str_eq(b.data, "int table[16]; /* 16 */\n");
	TmplVar twice[] = {{"X", "2"}, {"Y", "2"}};
	ck_assert_int_eq(tmpl_expand_template(&c.ctx, &b, &t_small, "two", shared, 3, twice, 2), -1);
	ck_assert_str_eq(run_out(&c), "nncc: error: template t.c: value {{X}} given twice\n");
	/* ... and a value of `vars` must still be used */
	TmplVar extra[] = {{"N", "16"}, {"OUTS", "3"}};
	ck_assert_int_eq(tmpl_expand_template(&c.ctx, &b, &t_small, "one", shared, 3, extra, 2), -1);
	buf_fini(&b);
	run_fini(&c);
}
END_TEST

START_TEST(test_unknown_template)
{
	Run c;
	run_init(&c);
	Buf b;
	buf_init(&b);
	ck_assert_int_eq(tmpl_expand(&c.ctx, &b, "nope.c", "forward", NULL, 0), -1);
	ck_assert_str_eq(run_out(&c), "nncc: error: unknown template 'nope.c'\n");
	ck_assert_ptr_null(tmpl_find("nope.c"));
	buf_fini(&b);
	run_fini(&c);
}
END_TEST

/* The placeholders of the section starting after `mark` (up to the next
 * "//@" line), each once, into names[] (arena strings); returns the count. */
static size_t section_placeholders(Ctx *ctx, const char *body, const char **names, size_t max)
{
	size_t n = 0;
	const char *end = strstr(body, "\n//@");
	end = end ? end : body + strlen(body);
	for (const char *p = strstr(body, "{{"); p && p < end; p = strstr(p + 2, "{{")) {
		const char *q = strstr(p, "}}");
		ck_assert_ptr_nonnull(q);
		char *name = arena_strndup(ctx->arena, p + 2, (size_t)(q - p - 2));
		size_t k = 0;
		while (k < n && strcmp(names[k], name) != 0)
			k++;
		if (k == n) {
			ck_assert_uint_lt(n, max);
			names[n++] = name;
		}
	}
	return n;
}

/* Every section of every built-in template expands, given a value for each
 * placeholder it names, and leaves no "{{" behind. */
START_TEST(test_every_builtin_section)
{
	static const char *const required[] = {"dense.c", "softmax.c", "opt_sgd.c", "trainer.c",
	                                       "cross_entropy.c", "export.c", "export.h"};
	for (size_t k = 0; k < sizeof required / sizeof required[0]; k++)
		ck_assert_msg(tmpl_find(required[k]), "template %s is not built in", required[k]);

	size_t sections = 0;
	for (size_t t = 0; t < builtin_templates_count; t++) {
		const Template *tp = &builtin_templates[t];
		size_t in_file = 0;
		for (const char *p = strstr(tp->text, "//@ section "); p;
		     p = strstr(p + 1, "//@ section ")) {
			Run c;
			run_init(&c);
			const char *eol = strchr(p, '\n');
			ck_assert_ptr_nonnull(eol);
			const char *name = arena_strndup(c.ctx.arena, p + 12, (size_t)(eol - p - 12));
			const char *names[64];
			size_t n = section_placeholders(&c.ctx, eol + 1, names, 64);
			TmplVar vars[64];
			for (size_t v = 0; v < n; v++)
				vars[v] = (TmplVar){names[v], "VALUE"};
			Buf b;
			buf_init(&b);
			int rc = tmpl_expand(&c.ctx, &b, tp->name, name, vars, n);
			ck_assert_msg(rc == 0, "%s section %s: %s", tp->name, name, run_out(&c));
			ck_assert_msg(b.len > 0, "%s section %s is empty", tp->name, name);
			ck_assert_msg(!strstr(b.data, "{{"), "%s section %s: {{ left", tp->name, name);
			buf_fini(&b);
			run_fini(&c);
			in_file++;
		}
		ck_assert_msg(in_file > 0, "template %s has no section", tp->name);
		sections += in_file;
	}
	ck_assert_uint_ge(sections, 10);
}
END_TEST

/* "back" must not pick up section "backward". */
START_TEST(test_section_prefix)
{
	Run c;
	run_init(&c);
	Buf b;
	buf_init(&b);
	ck_assert_int_eq(tmpl_expand(&c.ctx, &b, "dense.c", "back", NULL, 0), -1);
	ck_assert_str_eq(run_out(&c), "nncc: error: template dense.c: unknown section 'back'\n");
	buf_fini(&b);
	run_fini(&c);
}
END_TEST

static Suite *tmpl_suite(void)
{
	Suite *s = suite_create("tmpl");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_buf);
	tcase_add_test(tc, test_expand_sections);
	tcase_add_test(tc, test_unknown_placeholder);
	tcase_add_test(tc, test_missing_value);
	tcase_add_test(tc, test_unused_value);
	tcase_add_test(tc, test_unknown_section);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_duplicate_value);
	tcase_add_test(tc, test_shared_values);
	tcase_add_test(tc, test_unknown_template);
	tcase_add_test(tc, test_every_builtin_section);
	tcase_add_test(tc, test_section_prefix);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(tmpl_suite(), NULL);
}
