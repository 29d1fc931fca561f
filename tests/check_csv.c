/*
 * check_csv.c - csv.c: CSV and TSV data sets.  Features and labels read
 * exactly; the label column by name, by index and by default the last;
 * ignored columns; skipped lines; RFC 4180 quoting (a quoted delimiter,
 * quote and line break); CRLF; gzip; string labels mapped to sorted class
 * names or to given ones; and every error with its FILE:LINE:COL and
 * column: a bad cell, NaN, an empty cell, a ragged row, an unknown label,
 * a stray quote, an unclosed quote, an empty file, a wrong feature count.
 * Predict mode's loader: the label column may be absent.  A streamed
 * training file: the first pass and rows read by number.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "nncc.h"
#include "testutil.h"

#define dir tu_scratch

/* Writes text to DIR/name; returns the path (the caller frees it). */
static char *file(const char *name, const char *text)
{
	char *p = tu_path(dir, name);
	ck_assert_int_eq(tu_write_text(p, text), 0);
	return p;
}

static const nncc_csv_spec_t comma = {.delimiter = ',', .header = 1};

/* Loads, expecting success. */
static void load(nncc_dataset_t *ds, const char *text, const nncc_csv_spec_t *sp, size_t dim,
                 const char *const *classes, size_t n_classes)
{
	nncc_err_t err = {{0}};
	char *p = file("d.csv", text);
	int rc = nncc_csv_load(ds, p, sp, dim, classes, n_classes, &err);
	ck_assert_msg(rc == 0, "%s", err.msg);
	free(p);
}

/* Loads, expecting the error "DIR/d.csv" + `want`. */
static void load_fails(const char *text, const nncc_csv_spec_t *sp, size_t dim,
                       const char *const *classes, size_t n_classes, const char *want)
{
	nncc_err_t err = {{0}};
	nncc_dataset_t ds;
	char *p = file("d.csv", text), expect[600];
	ck_assert_int_eq(nncc_csv_load(&ds, p, sp, dim, classes, n_classes, &err), -1);
	snprintf(expect, sizeof expect, "%s%s", p, want);
	ck_assert_str_eq(err.msg, expect);
	ck_assert_ptr_null(ds.values);
	ck_assert_ptr_null(ds.labels);
	free(p);
}

START_TEST(integer_labels_last_column)
{
	nncc_dataset_t ds;
	load(&ds, "a,b,y\n1.5,-2e3,0\n0x10, 7 ,2\n", &comma, 2, NULL, 0);
	ck_assert_uint_eq(ds.n, 2);
	ck_assert_uint_eq(ds.dim, 2);
	ck_assert(ds.values[0] == 1.5 && ds.values[1] == -2000 && ds.values[2] == 16 &&
	          ds.values[3] == 7);
	ck_assert_int_eq(ds.labels[0], 0);
	ck_assert_int_eq(ds.labels[1], 2);
	ck_assert_uint_eq(ds.n_classes, 3);
	ck_assert_ptr_null(ds.class_names);
	ck_assert_ptr_null(ds.pixels);
	nncc_dataset_fini(&ds);
}
END_TEST

/* Strings: the sorted distinct labels are the classes. */
START_TEST(string_labels_sorted)
{
	nncc_dataset_t ds;
	load(&ds, "x,kind\n1,dog\n2,cat\n3,emu\n4,cat\n", &comma, 1, NULL, 0);
	ck_assert_uint_eq(ds.n_classes, 3);
	ck_assert_str_eq(ds.class_names[0], "cat");
	ck_assert_str_eq(ds.class_names[1], "dog");
	ck_assert_str_eq(ds.class_names[2], "emu");
	ck_assert_int_eq(ds.labels[0], 1);
	ck_assert_int_eq(ds.labels[1], 0);
	ck_assert_int_eq(ds.labels[2], 2);
	ck_assert_int_eq(ds.labels[3], 0);
	nncc_dataset_fini(&ds);
}
END_TEST

/* Given classes keep their order; an unknown label is an error. */
START_TEST(given_classes)
{
	static const char *const cls[] = {"zebra", "ant"};
	nncc_dataset_t ds;
	load(&ds, "x,kind\n1,ant\n2,zebra\n", &comma, 1, cls, 2);
	ck_assert_int_eq(ds.labels[0], 1);
	ck_assert_int_eq(ds.labels[1], 0);
	ck_assert_uint_eq(ds.n_classes, 2);
	ck_assert_str_eq(ds.class_names[0], "zebra");
	nncc_dataset_fini(&ds);
	load_fails("x,kind\n1,ant\n2,bee\n", &comma, 1, cls, 2,
	           ":3:3: column 2 ('kind'): unknown label 'bee' (the classes are 'zebra', 'ant')");
}
END_TEST

/* The label by name or index, ignored columns by name or index, TSV,
 * skipped lines, no header. */
START_TEST(columns_by_name_and_index)
{
	static const char *const ign[] = {"id", "-1"};
	nncc_csv_spec_t sp = {.delimiter = '\t', .header = 1, .skip_rows = 2, .label = "y",
	                      .n_ignore = 2, .ignore = ign};
	nncc_dataset_t ds;
	load(&ds, "# a comment line\n# another, with \"quotes\n"
	          "id\ty\tf1\tf2\tnote\n7\t1\t0.5\t0.25\tx\n8\t0\t-1\t2\ty\n", &sp, 2, NULL, 0);
	ck_assert_uint_eq(ds.n, 2);
	ck_assert(ds.values[0] == 0.5 && ds.values[1] == 0.25 && ds.values[2] == -1 &&
	          ds.values[3] == 2);
	ck_assert_int_eq(ds.labels[0], 1);
	nncc_dataset_fini(&ds);

	nncc_csv_spec_t nh = {.delimiter = ';', .header = 0, .label = "0"};
	load(&ds, "2;1.0;3\n0;4;5\n", &nh, 2, NULL, 0);
	ck_assert_int_eq(ds.labels[0], 2);
	ck_assert(ds.values[0] == 1.0 && ds.values[1] == 3 && ds.values[3] == 5);
	nncc_dataset_fini(&ds);
}
END_TEST

/* RFC 4180: quoted delimiters, doubled quotes, line breaks in a field, CRLF
 * line ends; the error positions after such a row are still right. */
START_TEST(rfc4180_quoting)
{
	nncc_dataset_t ds;
	load(&ds, "x,\"the, label\"\r\n\"1.5\",\"a \"\"b\"\", c\"\r\n2,\"two\r\nlines\"\r\n", &comma,
	     1, NULL, 0);
	ck_assert_uint_eq(ds.n, 2);
	ck_assert(ds.values[0] == 1.5 && ds.values[1] == 2);
	ck_assert_str_eq(ds.class_names[0], "a \"b\", c");
	ck_assert_str_eq(ds.class_names[1], "two\r\nlines");
	nncc_dataset_fini(&ds);
	load_fails("x,y\n1,\"two\nlines\"\n3x,b\n", &comma, 1, NULL, 0,
	           ":4:1: column 1 ('x'): '3x' is not a number");
}
END_TEST

START_TEST(gzip_file)
{
	static const char text[] = "a,y\n1,0\n2,1\n";
	nncc_err_t err = {{0}};
	nncc_dataset_t ds;
	char *p = tu_path(dir, "g.csv.gz");
	ck_assert_int_eq(tu_write_gz(p, text, sizeof text - 1), 0);
	ck_assert_msg(nncc_csv_load(&ds, p, &comma, 1, NULL, 0, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(ds.n, 2);
	ck_assert(ds.values[1] == 2);
	nncc_dataset_fini(&ds);
	free(p);
}
END_TEST

START_TEST(bad_cells)
{
	load_fails("a,b,y\n1,2,0\n3,x4,1\n", &comma, 2, NULL, 0,
	           ":3:3: column 2 ('b'): 'x4' is not a number");
	load_fails("a,b,y\n1,nan,0\n", &comma, 2, NULL, 0,
	           ":2:3: column 2 ('b'): 'nan' is not a number (NaN): a feature must be finite");
	load_fails("a,b,y\n1,1e999,0\n", &comma, 2, NULL, 0,
	           ":2:3: column 2 ('b'): '1e999' is out of range: a feature must be finite");
	load_fails("a,b,y\n1,,0\n", &comma, 2, NULL, 0,
	           ":2:3: column 2 ('b'): empty cell, expected a number");
	load_fails("a,b,y\n1,2,\n", &comma, 2, NULL, 0, ":2:5: column 3 ('y'): empty label");
	nncc_csv_spec_t nh = {.delimiter = ',', .header = 0};
	load_fails("1,2,0\n1,zz,1\n", &nh, 2, NULL, 0, ":2:3: column 2: 'zz' is not a number");
}
END_TEST

/* A NUL byte in a field is an error at the field: in a short file, and in
 * a field that begins in the loader's first 64 KiB read (where the NUL is,
 * its last byte) and ends in the second. */
START_TEST(nul_byte_in_a_field)
{
	static const char row[] = "1,2,0\n", bad[] = "3,4\0" "5,1\n";
	const size_t k = 10921;   /* 6 + 6 k + 3 = 65535: the NUL ends the first read */
	nncc_err_t err = {{0}};
	nncc_dataset_t ds;
	char *p = tu_path(dir, "nul.csv"), expect[600];
	char *text = malloc(6 + 6 * k + sizeof bad - 1);
	const char *want[2] = {":3:3: a NUL byte in a field: not a text file?",
	                       ":10923:3: a NUL byte in a field: not a text file?"};
	for (int big = 0; big < 2; big++) {
		size_t rows = big ? k : 1, len = 0;
		ck_assert_ptr_nonnull(text);
		memcpy(text, "a,b,y\n", 6);
		for (len = 6; len < 6 + 6 * rows; len += 6)
			memcpy(text + len, row, 6);
		memcpy(text + len, bad, sizeof bad - 1);
		len += sizeof bad - 1;
		ck_assert_int_eq(tu_write(p, text, len), 0);
		ck_assert_int_eq(nncc_csv_load(&ds, p, &comma, 2, NULL, 0, &err), -1);
		snprintf(expect, sizeof expect, "%s%s", p, want[big]);
		ck_assert_str_eq(err.msg, expect);
	}
	free(text);
	free(p);
}
END_TEST

/* Loads `text` (len bytes) with and without NNCC_CSV_LIBCSV=1 (every line
 * through libcsv, not only the lines plain_line leaves it): the same
 * result, error message or samples, bit for bit. */
static int same_both_ways(const char *text, size_t len, const nncc_csv_spec_t *sp, int n)
{
	nncc_dataset_t ds[2];
	nncc_err_t err[2] = {{{0}}, {{0}}};
	int rc[2];
	char *p = tu_path(dir, "both.csv");
	ck_assert_int_eq(tu_write(p, text, len), 0);
	for (int k = 0; k < 2; k++) {
		if (k)
			setenv("NNCC_CSV_LIBCSV", "1", 1);
		rc[k] = nncc_csv_load(&ds[k], p, sp, 2, NULL, 0, &err[k]);
		unsetenv("NNCC_CSV_LIBCSV");
	}
	ck_assert_msg(rc[0] == rc[1], "file %d: %s / %s", n, rc[0] ? err[0].msg : "loaded",
	              rc[1] ? err[1].msg : "loaded");
	if (rc[0])
		ck_assert_str_eq(err[0].msg, err[1].msg);
	else {
		ck_assert_uint_eq(ds[0].n, ds[1].n);
		ck_assert_uint_eq(ds[0].n_classes, ds[1].n_classes);
		ck_assert(!memcmp(ds[0].values, ds[1].values, ds[0].n * 2 * sizeof(double)));
		ck_assert(!memcmp(ds[0].labels, ds[1].labels, ds[0].n * sizeof(int32_t)));
		for (size_t c = 0; ds[0].class_names && c < ds[0].n_classes; c++)
			ck_assert_str_eq(ds[0].class_names[c], ds[1].class_names[c]);
		nncc_dataset_fini(&ds[0]);
		nncc_dataset_fini(&ds[1]);
	}
	free(p);
	return rc[0];
}

/* The loader's fast path for plain lines against libcsv alone, on 1200
 * files of 1-30 rows drawn from a seed: mostly numbers and delimiters, with
 * blanks, quotes, '\r', blank lines, words and ragged rows mixed in, for
 * the delimiters ',', ';', '\t' and ' ', with and without a header; and a
 * long file whose lines straddle the loader's reads. */
START_TEST(plain_lines_as_libcsv)
{
	static const char *const atoms[] = {"1", "2.5", "-3e2", "0", "7", " ", "\t", "\"", "\r",
	                                    "\n", "x", "\"4\"", "\r\n", "  9  ", "1e999", ""};
	static const int delims[] = {',', ';', '\t', ' '};
	nncc_rng_t rng;
	char *text = malloc(1 << 20);
	size_t len;
	int loaded = 0, refused = 0;
	ck_assert_ptr_nonnull(text);
	nncc_rng_seed(&rng, 11);
	for (int n = 0; n < 1200; n++) {
		nncc_csv_spec_t sp = {.delimiter = delims[n % 4], .header = (n / 4) % 2};
		char d = (char)sp.delimiter;
		size_t rows = 1 + nncc_rng_next(&rng) % 30;
		len = 0;
		if (sp.header)
			len += (size_t)sprintf(text, "a%cb%cy\n", d, d);
		for (size_t r = 0; r < rows; r++) {
			uint64_t u = nncc_rng_next(&rng);
			if (u % 40) {   /* a row of numbers, its label last */
				len += (size_t)sprintf(text + len, "%s%d%c %u%c%u%s", u % 5 ? "" : " ",
				                       (int)(u >> 8) % 100 - 50, d, (unsigned)(u >> 16) % 9, d,
				                       (unsigned)(u >> 24) % 3, u % 7 ? "\n" : "\r\n");
				continue;
			}
			for (int a = 0; a < 6; a++) {   /* anything */
				uint64_t v = nncc_rng_next(&rng);
				const char *atom = v % 3 ? atoms[v % 16] : NULL;
				if (atom)
					len += (size_t)sprintf(text + len, "%s", atom);
				else
					text[len++] = d;
			}
			text[len++] = '\n';
		}
		if (same_both_ways(text, len, &sp, n))
			refused++;
		else
			loaded++;
	}
	ck_assert_msg(loaded > 300 && refused > 300, "%d files loaded, %d refused: the draw "
	              "should give plenty of both", loaded, refused);
	/* 20000 rows (~200 KB: four reads), one blank line and one CRLF row */
	nncc_csv_spec_t sp = comma;
	len = (size_t)sprintf(text, "a,b,y\n");
	for (int r = 0; r < 20000; r++) {
		if (r == 7000)
			text[len++] = '\n';
		else if (r == 13001)
			len += (size_t)sprintf(text + len, " %d , %d,%d\r\n", r, r % 97, r % 3);
		else
			len += (size_t)sprintf(text + len, "%d,%d.25,%d\n", r, r % 97, r % 3);
	}
	ck_assert_int_eq(same_both_ways(text, len, &sp, -1), 0);
	free(text);
}
END_TEST

START_TEST(bad_rows_and_files)
{
	load_fails("a,b,y\n1,2,0\n3,4\n", &comma, 2, NULL, 0,
	           ":3:1: 2 fields, but the header has 3 (a ragged row)");
	load_fails("a,b,y\n1,2,0\n3,\"4\"x,1\n", &comma, 2, NULL, 0,
	           ":3:6: malformed quoting (a quote inside an unquoted field, or text after a "
	           "closing quote)");
	load_fails("a,b,y\n1,2,\"0\n", &comma, 2, NULL, 0,
	           ":2:5: the file ends inside a quoted field (a quote is not closed)");
	load_fails("", &comma, 2, NULL, 0, ": no data rows (the file is empty)");
	load_fails("a,b,y\n", &comma, 2, NULL, 0, ": no data rows");
	load_fails("a,b,c,y\n1,2,3,0\n", &comma, 2, NULL, 0,
	           ":1:1: 4 columns give 3 features (one label, 0 ignored), but the network takes "
	           "2 inputs");
	nncc_csv_spec_t sp = comma;
	sp.label = "class";
	load_fails("a,b,y\n1,2,0\n", &sp, 2, NULL, 0,
	           ":1:1: the label column 'class' is not a column name or index (3 columns)");
	static const char *const ign[] = {"y"};
	sp.label = NULL;
	sp.n_ignore = 1;
	sp.ignore = ign;
	load_fails("a,b,y\n1,2,0\n", &sp, 2, NULL, 0, ":1:1: ignore: 'y' is the label column");
	static const char *const twice[] = {"a", "0"};
	sp.n_ignore = 2;
	sp.ignore = twice;
	load_fails("a,b,c,y\n1,2,3,0\n", &sp, 2, NULL, 0, ":1:1: ignore: '0' is listed twice");
}
END_TEST

/* Regression: target columns by name or index, read as numbers, no labels;
 * a bad target is an error like a bad feature. */
START_TEST(regression_targets)
{
	static const char *const tg[] = {"y2", "1"};
	nncc_csv_spec_t sp = {.delimiter = ',', .header = 1, .n_targets = 2, .targets = tg};
	nncc_dataset_t ds;
	load(&ds, "a,y1,b,y2\n1,10,2,-1e2\n3,20,4,0.5\n", &sp, 2, NULL, 0);
	ck_assert_uint_eq(ds.n, 2);
	ck_assert_uint_eq(ds.n_targets, 2);
	ck_assert_ptr_null(ds.labels);
	ck_assert(ds.values[0] == 1 && ds.values[1] == 2 && ds.values[2] == 3 && ds.values[3] == 4);
	ck_assert(ds.targets[0] == -100 && ds.targets[1] == 10 && ds.targets[2] == 0.5 &&
	          ds.targets[3] == 20);
	nncc_dataset_fini(&ds);
	load_fails("a,y1,b,y2\n1,10,2,x\n", &sp, 2, NULL, 0,
	           ":2:8: column 4 ('y2'): 'x' is not a number");
	load_fails("a,y1,b\n1,10,2\n", &sp, 2, NULL, 0, ":1:1: targets: 'y2' is not a column");
	load_fails("a,y1,b,y2\n1,10,2,3\n", &sp, 3, NULL, 0,
	           ":1:1: 4 columns give 2 features (2 targets, 0 ignored), but the network takes 3 "
	           "inputs");
}
END_TEST

/* Predict's reader: with or without the label column (labels unread), a
 * few rows at a time, the same numbers as a whole load; no rows is an
 * error. */
START_TEST(inputs_streamed)
{
	nncc_err_t err = {{0}};
	nncc_csv_in_t *in;
	double v[3 * 2];
	size_t got, total = 0;
	char *p = file("p.csv", "a,b\n1,2\n3,4\n5,6\n7,8\n9,10\n");
	ck_assert_msg(nncc_csv_open(&in, p, &comma, 2, &err) == 0, "%s", err.msg);
	for (int call = 0; call < 3; call++) {
		ck_assert_msg(nncc_csv_read(in, v, 3, &got, &err) == 0, "%s", err.msg);
		ck_assert_uint_eq(got, call == 0 ? 3 : call == 1 ? 2 : 0);
		for (size_t i = 0; i < got * 2; i++)
			ck_assert(v[i] == (double)(total * 2 + i + 1));
		total += got;
	}
	nncc_csv_close(in);
	free(p);
	p = file("p.csv", "a,b,y\n1,2,unseen\n");
	ck_assert_msg(nncc_csv_open(&in, p, &comma, 2, &err) == 0, "%s", err.msg);
	ck_assert_msg(nncc_csv_read(in, v, 3, &got, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(got, 1);
	ck_assert(v[0] == 1 && v[1] == 2);
	nncc_csv_close(in);
	free(p);
	p = file("p.csv", "a,b\n");
	ck_assert_int_eq(nncc_csv_open(&in, p, &comma, 2, &err), 0);
	ck_assert_int_eq(nncc_csv_read(in, v, 3, &got, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "p.csv: no data rows"));
	nncc_csv_close(in);
	free(p);
	p = file("p.csv", "a,b\n1,2\n3,x\n");
	ck_assert_int_eq(nncc_csv_open(&in, p, &comma, 2, &err), 0);
	ck_assert_int_eq(nncc_csv_read(in, v, 3, &got, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "p.csv:3:3: column 2 ('b'): 'x' is not a number"));
	nncc_csv_close(in);
	free(p);
}
END_TEST

/* Integer labels (the largest 12: 13 classes) in column y, or a regression
 * on column t with y ignored. */
static const char k_text[] = "a,y,t\n1,3,0.5\n2,0,-1\n3,12,2.25\n";
static const char *const k_tn[] = {"t"}, *const k_ig[] = {"y"};
static const nncc_csv_spec_t k_cls = {.delimiter = ',', .header = 1, .label = "y"};
static const nncc_csv_spec_t k_reg = {.delimiter = ',', .header = 1, .n_ignore = 1,
                                      .ignore = k_ig, .n_targets = 1, .targets = k_tn};

/* 23 rows after a skipped line and a header, CRLF, string labels k0..k2,
 * every fifth's label quoted over a line break ("z\nK"); its length. */
static size_t s_text(char *text, size_t size)
{
	size_t at = (size_t)snprintf(text, size, "# skipped\r\nx,kind,y\r\n");
	for (int i = 0; i < 23; i++)
		at += (size_t)snprintf(text + at, size - at, i % 5 == 2 ? "%d,\"z\n%d\",%d.5\r\n"
		                                                        : "%d,k%d,%d.5\r\n",
		                       i, i % 3, -i);
	return at;
}
static const nncc_csv_spec_t s_spec = {.delimiter = ',', .header = 1, .skip_rows = 1,
                                       .label = "kind"};

/* A streamed training file: nncc_csv_scan finds what nncc_csv_load does
 * (count, classes) and its errors; nncc_csv_train_rows reads rows by
 * number, back and forth and from inside a tile, over quoted line breaks
 * and CRLF: load's rows.  Raw and gzip'd. */
START_TEST(training_rows_streamed)
{
	char text[4096];
	size_t at = s_text(text, sizeof text);
	nncc_csv_spec_t sp = s_spec;
	static const size_t firsts[] = {16, 0, 8, 5, 9};
	static const size_t ks[] = {7, 8, 8, 3, 2};
	for (int gz = 0; gz < 2; gz++) {
		char *p = tu_path(dir, gz ? "s.csv.gz" : "s.csv");
		ck_assert_int_eq(gz ? tu_write_gz(p, text, at) : tu_write_text(p, text), 0);
		nncc_err_t err = {{0}};
		nncc_dataset_t ds, sc;
		nncc_csv_train_t *t;
		ck_assert_msg(nncc_csv_load(&ds, p, &sp, 2, NULL, 0, &err) == 0, "%s", err.msg);
		ck_assert_msg(nncc_csv_scan(&t, &sc, p, &sp, 2, NULL, 0, 4, 0, &err) == 0, "%s", err.msg);
		ck_assert_uint_eq(sc.n, 23);
		ck_assert_ptr_null(sc.values);
		ck_assert_uint_eq(sc.n_classes, ds.n_classes);
		for (size_t c = 0; c < ds.n_classes; c++)
			ck_assert_str_eq(sc.class_names[c], ds.class_names[c]);
		ck_assert_int_eq(nncc_csv_train_seekable(t), !gz);
		for (size_t r = 0; r < sizeof firsts / sizeof *firsts; r++) {
			double v[16];
			int32_t y[8];
			ck_assert_msg(nncc_csv_train_rows(t, firsts[r], ks[r], v, y, NULL, &err) == 0, "%s",
			              err.msg);
			for (size_t i = 0; i < ks[r]; i++) {
				size_t row = firsts[r] + i;
				ck_assert_int_eq(y[i], ds.labels[row]);
				ck_assert(v[2 * i] == ds.values[2 * row] && v[2 * i + 1] == ds.values[2 * row + 1]);
			}
		}
		nncc_csv_train_close(t);
		nncc_dataset_fini(&sc);
		/* With room to keep them, the scan hands out load's rows; with too
		 * little, none. */
		ck_assert_msg(nncc_csv_scan(&t, &sc, p, &sp, 2, NULL, 0, 4, 1 << 20, &err) == 0, "%s",
		              err.msg);
		ck_assert_ptr_nonnull(sc.values);
		ck_assert_ptr_nonnull(sc.labels);
		for (size_t row = 0; row < 23; row++) {
			ck_assert_int_eq(sc.labels[row], ds.labels[row]);
			ck_assert(sc.values[2 * row] == ds.values[2 * row] &&
			          sc.values[2 * row + 1] == ds.values[2 * row + 1]);
		}
		nncc_csv_train_close(t);
		nncc_dataset_fini(&sc);
		ck_assert_msg(nncc_csv_scan(&t, &sc, p, &sp, 2, NULL, 0, 4, 200, &err) == 0, "%s",
		              err.msg);
		ck_assert_ptr_null(sc.values);
		ck_assert_ptr_null(sc.labels);
		nncc_csv_train_close(t);
		nncc_dataset_fini(&sc);
		nncc_dataset_fini(&ds);
		free(p);
	}
	/* Integer labels, and regression targets, kept: load's. */
	{
		char *p = file("k.csv", k_text);
		const nncc_csv_spec_t cls = k_cls, reg = k_reg;
		nncc_err_t err = {{0}};
		nncc_dataset_t ds, sc;
		nncc_csv_train_t *t;
		ck_assert_msg(nncc_csv_load(&ds, p, &cls, 2, NULL, 0, &err) == 0, "%s", err.msg);
		ck_assert_msg(nncc_csv_scan(&t, &sc, p, &cls, 2, NULL, 0, 2, 1 << 20, &err) == 0, "%s",
		              err.msg);
		ck_assert_uint_eq(sc.n_classes, 13);
		ck_assert_ptr_nonnull(sc.labels);
		for (size_t row = 0; row < 3; row++)
			ck_assert_int_eq(sc.labels[row], ds.labels[row]);
		ck_assert_int_eq(sc.labels[2], 12);
		ck_assert(sc.values[5] == 2.25);
		nncc_csv_train_close(t);
		nncc_dataset_fini(&sc);
		nncc_dataset_fini(&ds);
		ck_assert_msg(nncc_csv_load(&ds, p, &reg, 1, NULL, 0, &err) == 0, "%s", err.msg);
		ck_assert_msg(nncc_csv_scan(&t, &sc, p, &reg, 1, NULL, 0, 2, 1 << 20, &err) == 0, "%s",
		              err.msg);
		ck_assert_ptr_nonnull(sc.targets);
		ck_assert_ptr_null(sc.labels);
		for (size_t row = 0; row < 3; row++)
			ck_assert(sc.targets[row] == ds.targets[row] && sc.values[row] == ds.values[row]);
		ck_assert(sc.targets[2] == 2.25);
		nncc_csv_train_close(t);
		nncc_dataset_fini(&sc);
		nncc_dataset_fini(&ds);
		free(p);
	}
	/* A bad cell deep in the file: load's error. */
	char *p = file("bad.csv", "a,y\n1,0\n2,1\n3,0\n4,1\n5,0\n6,1\n7,0\n8x,1\n");
	nncc_err_t e1 = {{0}}, e2 = {{0}};
	nncc_dataset_t ds;
	nncc_csv_train_t *t;
	ck_assert_int_eq(nncc_csv_load(&ds, p, &comma, 1, NULL, 0, &e1), -1);
	ck_assert_int_eq(nncc_csv_scan(&t, &ds, p, &comma, 1, NULL, 0, 2, 0, &e2), -1);
	ck_assert_ptr_null(t);
	ck_assert_str_eq(e2.msg, e1.msg);
	ck_assert_ptr_nonnull(strstr(e2.msg, "bad.csv:9:1: column 1 ('a'): '8x' is not a number"));
	free(p);
}
END_TEST

/* Every feature is strtod's double, bit for bit, whether the parser takes
 * its fast path (a short decimal, a small power of ten) or not: edge cases
 * of the fast path (2^53, 10^22, 10^23, 19 and 20 digits) and 100000
 * generated decimals, short and long, with and without exponents, signs,
 * leading zeros and trailing blanks. */
START_TEST(numbers_as_strtod)
{
	static const char *const edge[] = {
		"9007199254740992", "9007199254740993", "-9007199254740992e22", "9007199254740992e-22",
		"1e22", "1e23", "1e-22", "1e-23", "123456789012345678e-22", "0.1", "-0", "+.5", "5.",
		"0.30000000000000004", "12345678901234567890", "1234567890123456789", "4.9e-324",
		"2.2250738585072014e-308", "1.7976931348623157e308", "0x1p3", "00000000000000000000001",
		"0.0000000000000000000000001", "1.0000000000000000000000", "7e+0", "7E-0", "3.14 \t"};
	enum { N = 100000 };
	size_t ne = sizeof edge / sizeof *edge, cap = (N + ne) * 64 + 16, at = 0;
	char *text = malloc(cap), (*cells)[64] = malloc((N + ne) * sizeof *cells);
	uint64_t x = 0x9e3779b97f4a7c15u;
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(cells);
	at += (size_t)snprintf(text, cap, "x,y\n");
	for (size_t i = 0; i < N + ne; i++) {
		char *c = cells[i];
		size_t k = 0;
		if (i < ne) {
			snprintf(c, 64, "%s", edge[i]);
		} else {
			int short_form = (x >> 7) % 2, nd, nf;
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			if (x % 3)
				c[k++] = "+-"[x % 3 - 1];
			nd = (int)((x >> 8) % (short_form ? 9 : 21));
			nf = (int)((x >> 16) % (short_form ? 9 : 21));
			for (int d = 0; d < nd; d++, x ^= x << 13, x ^= x >> 7, x ^= x << 17)
				c[k++] = (char)('0' + x % 10);
			if (!nd || (x >> 24) % 4) {
				c[k++] = '.';
				for (int d = 0; d < nf || (!nd && !d); d++, x ^= x << 13, x ^= x >> 7, x ^= x << 17)
					c[k++] = (char)('0' + x % 10);
			}
			if ((x >> 32) % 2) {
				int e = (int)((x >> 40) % (short_form ? 30 : 250));
				k += (size_t)snprintf(c + k, 64 - k, "%c%s%d", (x >> 50) % 2 ? 'e' : 'E',
				                      (x >> 52) % 2 ? "-" : (x >> 53) % 2 ? "+" : "", e);
			}
			if ((x >> 56) % 8 == 0)
				c[k++] = ' ';
			c[k] = 0;
		}
		at += (size_t)snprintf(text + at, cap - at, "%s,0\n", c);
	}
	char *p = file("n.csv", text);
	nncc_csv_spec_t sp = {.delimiter = ',', .header = 1, .label = "y"};
	nncc_err_t err = {{0}};
	nncc_dataset_t ds;
	ck_assert_msg(nncc_csv_load(&ds, p, &sp, 1, NULL, 0, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(ds.n, N + ne);
	for (size_t i = 0; i < N + ne; i++) {
		double want = strtod(cells[i], NULL);
		ck_assert_msg(memcmp(&ds.values[i], &want, sizeof want) == 0, "'%s': %.17g, strtod %.17g",
		              cells[i], ds.values[i], want);
	}
	nncc_dataset_fini(&ds);
	free(p);
	free(cells);
	free(text);
}
END_TEST

/* A twin of a streamed training file's reader (the driver's training-set
 * evaluations) reads the same rows with a position of its own: the
 * original goes on from where it was.  Gzip'd, neither inflates more than
 * the file's bytes once (no seek back: inflating again from the start),
 * and the original's own seek back then does, on the file it holds open
 * (removed once both are open). */
START_TEST(training_rows_twin)
{
	char text[4096];
	size_t at = (size_t)snprintf(text, sizeof text, "x,kind,y\n");
	for (int i = 0; i < 23; i++)
		at += (size_t)snprintf(text + at, sizeof text - at, "%d,k%d,%d.5\n", i, i % 3, -i);
	nncc_csv_spec_t sp = {.delimiter = ',', .header = 1, .label = "kind"};
	for (int gz = 0; gz < 2; gz++) {
		char *p = tu_path(dir, gz ? "w.csv.gz" : "w.csv");
		ck_assert_int_eq(gz ? tu_write_gz(p, text, at) : tu_write_text(p, text), 0);
		nncc_err_t err = {{0}};
		nncc_dataset_t ds, sc;
		nncc_csv_train_t *t, *u;
		double v[16];
		int32_t y[8];
		ck_assert_msg(nncc_csv_load(&ds, p, &sp, 2, NULL, 0, &err) == 0, "%s", err.msg);
		ck_assert_msg(nncc_csv_scan(&t, &sc, p, &sp, 2, NULL, 0, 4, 0, &err) == 0, "%s", err.msg);
		ck_assert_msg(nncc_csv_train_rows(t, 0, 8, v, y, NULL, &err) == 0, "%s", err.msg);
		unsigned long long t0 = nncc_csv_train_inflated(t);   /* (its scan's pass too) */
		ck_assert_msg(nncc_csv_train_twin(&u, t, &err) == 0, "%s", err.msg);
		ck_assert_int_eq(remove(p), 0);
		for (size_t first = 0; first < 23; first += 5) {
			size_t k = 23 - first < 5 ? 23 - first : 5;
			ck_assert_msg(nncc_csv_train_rows(u, first, k, v, y, NULL, &err) == 0, "%s", err.msg);
			for (size_t i = 0; i < k; i++) {
				size_t row = first + i;
				ck_assert_int_eq(y[i], ds.labels[row]);
				ck_assert(v[2 * i] == ds.values[2 * row] && v[2 * i + 1] == ds.values[2 * row + 1]);
			}
		}
		ck_assert_msg(nncc_csv_train_rows(t, 8, 8, v, y, NULL, &err) == 0, "%s", err.msg);
		for (size_t i = 0; i < 8; i++)
			ck_assert(y[i] == ds.labels[8 + i] && v[2 * i] == ds.values[2 * (8 + i)]);
		if (gz) {
			ck_assert_uint_le(nncc_csv_train_inflated(u), at);
			ck_assert_uint_le(nncc_csv_train_inflated(t) - t0, at);
		}
		unsigned long long before = nncc_csv_train_inflated(t);
		ck_assert_msg(nncc_csv_train_rows(t, 3, 2, v, y, NULL, &err) == 0, "%s", err.msg);
		ck_assert(y[0] == ds.labels[3] && y[1] == ds.labels[4] && v[2] == ds.values[8]);
		if (gz)   /* from the start: the header and the first rows again */
			ck_assert_uint_gt(nncc_csv_train_inflated(t) - before, 9 + 3 * 8);
		nncc_csv_train_close(u);
		nncc_csv_train_close(t);
		nncc_dataset_fini(&sc);
		nncc_dataset_fini(&ds);
		free(p);
	}
}
END_TEST

/* The scan's findings packed (nncc_csv_scan_pack) open the file without a
 * scan (nncc_csv_scanned, a data-parallel run's ranks but 0): the same
 * count and classes (found strings, given ones, integers), and rows by
 * number that are load's, over a skipped line, a header, quoted line
 * breaks and CRLF, raw and gzip'd; regression targets too.  A pack cut
 * short or with a byte too many is refused. */
START_TEST(training_rows_from_a_pack)
{
	char text[4096];
	size_t at = s_text(text, sizeof text);
	nncc_csv_spec_t sp = s_spec;
	static const size_t firsts[] = {16, 0, 8, 5, 9, 22};
	static const size_t ks[] = {7, 8, 8, 3, 2, 1};
	for (int gz = 0; gz < 2; gz++) {
		char *p = tu_path(dir, gz ? "pk.csv.gz" : "pk.csv");
		ck_assert_int_eq(gz ? tu_write_gz(p, text, at) : tu_write_text(p, text), 0);
		nncc_err_t err = {{0}};
		nncc_dataset_t ds, sc, uc;
		nncc_csv_train_t *t, *u;
		void *buf;
		size_t len;
		ck_assert_msg(nncc_csv_load(&ds, p, &sp, 2, NULL, 0, &err) == 0, "%s", err.msg);
		ck_assert_msg(nncc_csv_scan(&t, &sc, p, &sp, 2, NULL, 0, 4, 0, &err) == 0, "%s", err.msg);
		ck_assert_int_eq(nncc_csv_scan_pack(t, &sc, &buf, &len, &err), 0);
		for (int given = 0; given < 2; given++) {
			ck_assert_msg(nncc_csv_scanned(&u, &uc, p, &sp, 2,
			                               given ? (const char *const *)ds.class_names : NULL,
			                               given ? ds.n_classes : 0, 4, buf, len, &err) == 0,
			              "%s", err.msg);
			ck_assert_uint_eq(uc.n, 23);
			ck_assert_uint_eq(uc.n_classes, ds.n_classes);
			for (size_t c = 0; c < ds.n_classes; c++)
				ck_assert_str_eq(uc.class_names[c], ds.class_names[c]);
			ck_assert_ptr_null(uc.values);
			for (size_t r = 0; r < sizeof firsts / sizeof *firsts; r++) {
				double v[16];
				int32_t y[8];
				ck_assert_msg(nncc_csv_train_rows(u, firsts[r], ks[r], v, y, NULL, &err) == 0,
				              "%s", err.msg);
				for (size_t i = 0; i < ks[r]; i++) {
					size_t row = firsts[r] + i;
					ck_assert_int_eq(y[i], ds.labels[row]);
					ck_assert(v[2 * i] == ds.values[2 * row] &&
					          v[2 * i + 1] == ds.values[2 * row + 1]);
				}
			}
			nncc_csv_train_close(u);
			nncc_dataset_fini(&uc);
		}
		for (int d = -1; d <= 1; d += 2) {   /* cut short; a byte too many */
			char *b2 = malloc(len + 1);
			memcpy(b2, buf, len);
			b2[len] = 0;
			ck_assert_int_eq(nncc_csv_scanned(&u, &uc, p, &sp, 2, NULL, 0, 4, b2,
			                                  (size_t)((long)len + d), &err), -1);
			ck_assert_ptr_null(u);
			ck_assert_ptr_nonnull(strstr(err.msg, "are not whole"));
			free(b2);
		}
		free(buf);
		nncc_csv_train_close(t);
		nncc_dataset_fini(&sc);
		nncc_dataset_fini(&ds);
		free(p);
	}
	/* Integer labels; regression targets. */
	char *p = file("pk2.csv", k_text);
	for (int rg = 0; rg < 2; rg++) {
		const nncc_csv_spec_t *spec = rg ? &k_reg : &k_cls;
		size_t dim = rg ? 1 : 2, len;
		nncc_err_t err = {{0}};
		nncc_dataset_t ds, sc, uc;
		nncc_csv_train_t *t, *u;
		double v[6], tg[3];
		int32_t y[3];
		void *buf;
		ck_assert_msg(nncc_csv_load(&ds, p, spec, dim, NULL, 0, &err) == 0, "%s", err.msg);
		ck_assert_msg(nncc_csv_scan(&t, &sc, p, spec, dim, NULL, 0, 2, 0, &err) == 0, "%s",
		              err.msg);
		ck_assert_int_eq(nncc_csv_scan_pack(t, &sc, &buf, &len, &err), 0);
		ck_assert_msg(nncc_csv_scanned(&u, &uc, p, spec, dim, NULL, 0, 2, buf, len, &err) == 0,
		              "%s", err.msg);
		ck_assert_uint_eq(uc.n, 3);
		ck_assert_uint_eq(uc.n_classes, rg ? 0 : 13);
		ck_assert_uint_eq(uc.n_targets, rg ? 1 : 0);
		ck_assert_msg(nncc_csv_train_rows(u, 0, 3, v, y, tg, &err) == 0, "%s", err.msg);
		for (size_t row = 0; row < 3; row++) {
			ck_assert(v[dim * row] == ds.values[dim * row]);
			if (rg)
				ck_assert(tg[row] == ds.targets[row]);
			else
				ck_assert_int_eq(y[row], ds.labels[row]);
		}
		free(buf);
		nncc_csv_train_close(u);
		nncc_csv_train_close(t);
		nncc_dataset_fini(&uc);
		nncc_dataset_fini(&sc);
		nncc_dataset_fini(&ds);
	}
	free(p);
}
END_TEST

static Suite *csv_suite(void)
{
	Suite *s = suite_create("csv");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, tu_scratch_setup, tu_scratch_teardown);
	tcase_add_test(tc, integer_labels_last_column);
	tcase_add_test(tc, string_labels_sorted);
	tcase_add_test(tc, given_classes);
	tcase_add_test(tc, columns_by_name_and_index);
	tcase_add_test(tc, rfc4180_quoting);
	tcase_add_test(tc, gzip_file);
	tcase_add_test(tc, training_rows_twin);
	tcase_add_test(tc, training_rows_from_a_pack);
	tcase_add_test(tc, numbers_as_strtod);
	tcase_add_test(tc, bad_cells);
	tcase_add_test(tc, bad_rows_and_files);
	tcase_add_test(tc, nul_byte_in_a_field);
	tcase_add_test(tc, inputs_streamed);
	tcase_add_test(tc, regression_targets);
	tcase_add_test(tc, training_rows_streamed);
	suite_add_tcase(s, tc);
	tc = tcase_create("fast path");   /* 2400 loads: seconds under a sanitizer */
	tcase_add_checked_fixture(tc, tu_scratch_setup, tu_scratch_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, plain_lines_as_libcsv);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(csv_suite(), NULL);
}
