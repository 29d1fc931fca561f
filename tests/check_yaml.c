/*
 * check_yaml.c - yaml.c: documents become the right Node tree with 1-based
 * line:col; what yaml.c rejects (anchors, aliases, tags, duplicate and
 * non-scalar keys, several documents, deep nesting, empty input) and
 * libyaml's syntax errors are reported with the right location and text.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/nncc.h"
#include "ctxutil.h"
#include "testutil.h"

/* One parse with diagnostics captured in memory (run_out). */
static Node *run_parse(Run *r, const char *src, size_t len)
{
	run_init(r);
	return yaml_parse(&r->ctx, "t.yaml", src, len);
}

static Node *run_str(Run *r, const char *src)
{
	return run_parse(r, src, strlen(src));
}

/* Parses src, expects failure and a diagnostic containing `want`. */
static void expect_error(const char *src, size_t len, const char *want)
{
	Run r;
	Node *root = run_parse(&r, src, len);
	ck_assert_msg(root == NULL, "parse of %s succeeded", src);
	ck_assert_int_gt(r.ctx.n_errors, 0);
	ck_assert_msg(strstr(run_out(&r), want), "expected \"%s\" in:\n%s", want, run_out(&r));
	run_fini(&r);
}

#define EXPECT_ERROR(src, want) expect_error(src, sizeof src - 1, want)

static void assert_loc(const Node *n, int line, int col)
{
	ck_assert_str_eq(n->loc.file, "t.yaml");
	ck_assert_int_eq(n->loc.line, line);
	ck_assert_int_eq(n->loc.col, col);
}

static void assert_scalar(const Node *n, const char *s, bool quoted, int line, int col)
{
	ck_assert_int_eq(n->kind, NODE_SCALAR);
	ck_assert_str_eq(n->str, s);
	ck_assert_int_eq(n->quoted, quoted);
	assert_loc(n, line, col);
}

START_TEST(block_tree_with_marks)
{
	Run r;
	Node *root = run_str(&r, "# comment\n"
	                         "a: 1\n"
	                         "b:\n"
	                         "  - x\n"
	                         "  - {c: 'd', e: \"f\"}\n"
	                         "g: |\n"
	                         "  text\n");
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(r.ctx.n_errors, 0);
	ck_assert_str_eq(run_out(&r), "");
	ck_assert_int_eq(root->kind, NODE_MAP);
	assert_loc(root, 2, 1);
	ck_assert_uint_eq(root->n, 3);
	assert_scalar(root->keys[0], "a", false, 2, 1);
	assert_scalar(root->items[0], "1", false, 2, 4);
	assert_scalar(root->keys[1], "b", false, 3, 1);

	const Node *seq = root->items[1];
	ck_assert_int_eq(seq->kind, NODE_SEQ);
	assert_loc(seq, 4, 3);
	ck_assert_uint_eq(seq->n, 2);
	assert_scalar(seq->items[0], "x", false, 4, 5);
	const Node *flow = seq->items[1];
	ck_assert_int_eq(flow->kind, NODE_MAP);
	assert_loc(flow, 5, 5);
	ck_assert_uint_eq(flow->n, 2);
	assert_scalar(flow->keys[0], "c", false, 5, 6);
	assert_scalar(flow->items[0], "d", true, 5, 9);
	assert_scalar(flow->keys[1], "e", false, 5, 14);
	assert_scalar(flow->items[1], "f", true, 5, 17);

	assert_scalar(root->items[2], "text\n", true, 6, 4);
	run_fini(&r);
}
END_TEST

START_TEST(empty_values_and_sequences)
{
	Run r;
	Node *root = run_str(&r, "a:\nb: []\nc: {}\n");
	ck_assert_ptr_nonnull(root);
	assert_scalar(root->items[0], "", false, 1, 3);
	ck_assert_int_eq(root->items[1]->kind, NODE_SEQ);
	ck_assert_uint_eq(root->items[1]->n, 0);
	ck_assert_int_eq(root->items[2]->kind, NODE_MAP);
	ck_assert_uint_eq(root->items[2]->n, 0);
	run_fini(&r);
}
END_TEST

START_TEST(columns_count_characters)
{
	/* "é" is two bytes but one column, as libyaml counts. */
	Run r;
	Node *root = run_str(&r, "k: {\xc3\xa9: 1, z: 2}\n");
	ck_assert_ptr_nonnull(root);
	assert_scalar(root->items[0]->keys[1], "z", false, 1, 11);
	run_fini(&r);
}
END_TEST

START_TEST(explicit_document_markers)
{
	Run r;
	Node *root = run_str(&r, "---\na: 1\n...\n");
	ck_assert_ptr_nonnull(root);
	assert_scalar(root->items[0], "1", false, 2, 4);
	run_fini(&r);
}
END_TEST

START_TEST(kind_names)
{
	ck_assert_str_eq(node_kind_name(NODE_SCALAR), "a scalar");
	ck_assert_str_eq(node_kind_name(NODE_MAP), "a mapping");
	ck_assert_str_eq(node_kind_name(NODE_SEQ), "a sequence");
}
END_TEST

START_TEST(syntax_errors)
{
	EXPECT_ERROR("a: [1, 2\nb: 3\n",
	             "t.yaml:2:2: error: YAML syntax error: did not find expected ',' or ']' "
	             "(while parsing a flow sequence at 1:4)");
	EXPECT_ERROR("a: b: c\n",
	             "t.yaml:1:5: error: YAML syntax error: mapping values are not allowed "
	             "in this context");
	EXPECT_ERROR("a:\n\tb: 1\n", "t.yaml:2:1: error: YAML syntax error: found character "
	                             "that cannot start any token");
	EXPECT_ERROR("a: 1\n  b: 2\n", "t.yaml:2:4: error: YAML syntax error: mapping values "
	                               "are not allowed in this context");
	EXPECT_ERROR("a: 'open\n", "t.yaml:2:1: error: YAML syntax error: found unexpected "
	                           "end of stream (while scanning a quoted scalar at 1:4)");
}
END_TEST

START_TEST(syntax_error_caret)
{
	Run r;
	ck_assert_ptr_null(run_str(&r, "a: 1\nb: c: d\n"));
	ck_assert_str_eq(run_out(&r), "t.yaml:2:5: error: YAML syntax error: mapping values are "
	                        "not allowed in this context\n"
	                        "b: c: d\n"
	                        "    ^\n");
	run_fini(&r);
}
END_TEST

START_TEST(invalid_utf8)
{
	EXPECT_ERROR("a: 1\nb: \xff\n",
	             "t.yaml:2:4: error: invalid YAML input: invalid leading UTF-8 octet "
	             "(byte 0xff)");
}
END_TEST

START_TEST(empty_input)
{
	EXPECT_ERROR("", "t.yaml:1:1: error: empty document");
	EXPECT_ERROR("# only a comment\n\n", "t.yaml:1:1: error: empty document");
	EXPECT_ERROR("---\n", "t.yaml:2:1: error: empty document");
}
END_TEST

START_TEST(anchors_aliases_tags)
{
	EXPECT_ERROR("a: &x 1\n",
	             "t.yaml:1:4: error: anchors are not supported (found '&x')");
	EXPECT_ERROR("a: 1\nb: *x\n",
	             "t.yaml:2:4: error: aliases are not supported (found '*x')");
	EXPECT_ERROR("a: !!int 3\n", "t.yaml:1:4: error: tags are not supported "
	                             "(found tag 'tag:yaml.org,2002:int')");
	EXPECT_ERROR("a: !local {b: 1}\n",
	             "t.yaml:1:4: error: tags are not supported (found tag '!local')");
	EXPECT_ERROR("a: &s [1]\n",
	             "t.yaml:1:4: error: anchors are not supported (found '&s')");
}
END_TEST

START_TEST(every_error_is_reported)
{
	/* Parsing goes on after a non-syntax error: all three are reported. */
	Run r;
	ck_assert_ptr_null(run_str(&r, "a: &x 1\nb: *x\na: 2\n"));
	ck_assert_int_eq(r.ctx.n_errors, 3);
	ck_assert_ptr_nonnull(strstr(run_out(&r), "t.yaml:1:4: error: anchors"));
	ck_assert_ptr_nonnull(strstr(run_out(&r), "t.yaml:2:4: error: aliases"));
	ck_assert_ptr_nonnull(strstr(run_out(&r), "t.yaml:3:1: error: duplicate key 'a'"));
	run_fini(&r);
}
END_TEST

START_TEST(duplicate_keys)
{
	EXPECT_ERROR("a: 1\nb: 2\na: 3\n",
	             "t.yaml:3:1: error: duplicate key 'a' (first given at 1:1)");
	EXPECT_ERROR("x:\n  - {k: 1, k: 2}\n",
	             "t.yaml:2:12: error: duplicate key 'k' (first given at 2:6)");
}
END_TEST

/* Defect 7 of issue 14: duplicates were found by comparing every key with
 * every earlier one.  With a hash set, 100 000 distinct keys (colliding
 * prefixes, the same lengths) parse without an error, and duplicates hidden
 * among them are each found at their first occurrence. */
START_TEST(duplicate_keys_in_a_large_mapping)
{
	size_t n = 100000, cap = n * 24 + 64, len = 0;
	char *src = malloc(cap);
	ck_assert_ptr_nonnull(src);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(src + len, cap - len, "key%06zu: %zu\n", i, i);
	Run r;
	Node *root = run_parse(&r, src, len);
	ck_assert_ptr_nonnull(root);
	ck_assert_uint_eq(root->n, n);
	ck_assert_str_eq(root->keys[n - 1]->str, "key099999");
	ck_assert_str_eq(root->items[n - 1]->str, "99999");
	run_fini(&r);

	/* Lines 100001 and 100002 repeat keys of lines 1 and 54321. */
	len += (size_t)snprintf(src + len, cap - len, "key000000: x\nkey054320: y\n");
	root = run_parse(&r, src, len);
	ck_assert_ptr_null(root);
	ck_assert_uint_eq(r.ctx.n_errors, 2);
	ck_assert_ptr_nonnull(strstr(run_out(&r), "t.yaml:100001:1: error: duplicate key "
	                                          "'key000000' (first given at 1:1)"));
	ck_assert_ptr_nonnull(strstr(run_out(&r), "t.yaml:100002:1: error: duplicate key "
	                                          "'key054320' (first given at 54321:1)"));
	run_fini(&r);
	free(src);
}
END_TEST

/* Found by fuzz_yaml: an empty collection before any child had been parsed
 * took an offset of the children's stack while it was still NULL (UBSan:
 * "applying zero offset to null pointer").  Empty collections, first and
 * nested, parse to zero children. */
START_TEST(empty_collections)
{
	static const char *const srcs[] = {"{}", "[]", "a: {}\n", "a: []\nb: [[], {}]\n"};
	for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
		Run r;
		Node *root = run_str(&r, srcs[i]);
		ck_assert_msg(root != NULL, "%s: %s", srcs[i], run_out(&r));
		ck_assert_uint_eq(root->n, i < 2 ? 0 : i == 2 ? 1 : 2);
		if (i >= 2)
			ck_assert_uint_eq(root->items[0]->n, 0);
		run_fini(&r);
	}
}
END_TEST

START_TEST(non_scalar_key)
{
	EXPECT_ERROR("? [a]\n: 1\n",
	             "t.yaml:1:3: error: mapping keys must be scalars, got a sequence");
}
END_TEST

START_TEST(multiple_documents)
{
	EXPECT_ERROR("a: 1\n---\nb: 2\n", "t.yaml:2:1: error: multiple YAML documents are "
	                                  "not supported");
}
END_TEST

START_TEST(nesting_limit)
{
	char deep[200];
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	expect_error(deep, sizeof deep, "t.yaml:1:65: error: nesting deeper than 64 levels");
}
END_TEST

START_TEST(nul_in_scalar)
{
	EXPECT_ERROR("a: \"x\\0y\"\n", "t.yaml:1:4: error: scalar contains a NUL character");
}
END_TEST

static Suite *yaml_suite(void)
{
	Suite *s = suite_create("yaml");
	TCase *tc = tcase_create("tree");
	tcase_add_test(tc, block_tree_with_marks);
	tcase_add_test(tc, empty_values_and_sequences);
	tcase_add_test(tc, columns_count_characters);
	tcase_add_test(tc, explicit_document_markers);
	tcase_add_test(tc, kind_names);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_test(tc, syntax_errors);
	tcase_add_test(tc, syntax_error_caret);
	tcase_add_test(tc, invalid_utf8);
	tcase_add_test(tc, empty_input);
	tcase_add_test(tc, anchors_aliases_tags);
	tcase_add_test(tc, every_error_is_reported);
	tcase_add_test(tc, duplicate_keys);
	tcase_add_test(tc, duplicate_keys_in_a_large_mapping);
	tcase_add_test(tc, empty_collections);
	tcase_add_test(tc, non_scalar_key);
	tcase_add_test(tc, multiple_documents);
	tcase_add_test(tc, nesting_limit);
	tcase_add_test(tc, nul_in_scalar);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(yaml_suite(), NULL);
}
