/*
 * check_idx.c - idx.c: loading raw and gzip'd IDX files, the ".gz" fallback,
 * gzip files of several members, and every rejection with its full message
 * (trailing bytes after the gzip data among them).  All files are generated
 * here into a scratch directory (gzip variants through zlib's gzopen "wb").
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "nncc.h"
#include "testutil.h"

#define N_IMG 5
#define ROWS 3
#define COLS 4
#define DIM (ROWS * COLS)

static const uint8_t labels5[N_IMG] = {0, 3, 1, 2, 3};

static uint8_t pixel(size_t i, size_t j)
{
	return (uint8_t)(i * 37 + j * 11 + 5);
}

/* An idx3 image file in a malloc'd buffer: n images rows x cols of
 * pixel(i, j), with one spare byte after its *len bytes. */
static uint8_t *images_buf(uint32_t n, uint32_t rows, uint32_t cols, size_t *len)
{
	size_t dim = (size_t)rows * cols;
	uint8_t *pix = malloc(n * dim);
	ck_assert_ptr_nonnull(pix);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < dim; j++)
			pix[i * dim + j] = pixel(i, j);
	uint8_t *b = tu_idx_images(pix, n, rows, cols, len);
	free(pix);
	return b;
}

/* Writes data to dir/name (gzip'd when gz) and returns the path (owned). */
static char *write_file(const char *name, const void *data, size_t len, int gz)
{
	char *p = tu_path(tu_scratch, name);
	ck_assert_int_eq(gz ? tu_write_gz(p, data, len) : tu_write(p, data, len), 0);
	return p;
}

static char *good_images(const char *name, int gz)
{
	size_t len;
	uint8_t *b = images_buf(N_IMG, ROWS, COLS, &len);
	char *p = write_file(name, b, len, gz);
	free(b);
	return p;
}

static char *good_labels(const char *name, int gz)
{
	size_t len;
	uint8_t *b = tu_idx_labels(labels5, N_IMG, &len);
	char *p = write_file(name, b, len, gz);
	free(b);
	return p;
}

static void check_good(const nncc_dataset_t *ds)
{
	ck_assert_uint_eq(ds->n, N_IMG);
	ck_assert_uint_eq(ds->rows, ROWS);
	ck_assert_uint_eq(ds->cols, COLS);
	ck_assert_uint_eq(ds->dim, DIM);
	ck_assert_uint_eq(ds->n_classes, 4);
	for (size_t i = 0; i < N_IMG; i++) {
		ck_assert_int_eq(ds->labels[i], labels5[i]);
		for (size_t j = 0; j < DIM; j++)
			ck_assert_uint_eq(ds->pixels[i * DIM + j], pixel(i, j));
	}
}

/* Loads and expects failure with exactly `want` as the message. */
static void expect_fail(const char *img, const char *lab, const char *want)
{
	nncc_dataset_t ds;
	nncc_err_t err = {{0}};
	ck_assert_int_eq(nncc_dataset_load(&ds, img, lab, &err), -1);
	ck_assert_str_eq(err.msg, want);
	ck_assert_ptr_null(ds.pixels);
	ck_assert_ptr_null(ds.labels);
}

START_TEST(raw_files_load)
{
	char *img = good_images("img", 0), *lab = good_labels("lab", 0);
	nncc_dataset_t ds;
	nncc_err_t err = {{0}};
	ck_assert_msg(nncc_dataset_load(&ds, img, lab, &err) == 0, "%s", err.msg);
	check_good(&ds);
	nncc_dataset_fini(&ds);
	ck_assert_ptr_null(ds.pixels);
	nncc_dataset_fini(&ds); /* twice is harmless */
	nncc_dataset_fini(NULL);
	free(img);
	free(lab);
}
END_TEST

START_TEST(gz_files_load)
{
	char *img = good_images("img.gz", 1), *lab = good_labels("lab.gz", 1);
	nncc_dataset_t ds;
	nncc_err_t err = {{0}};
	ck_assert_msg(nncc_dataset_load(&ds, img, lab, &err) == 0, "%s", err.msg);
	check_good(&ds);
	nncc_dataset_fini(&ds);
	free(img);
	free(lab);
}
END_TEST

/* "img" does not exist but "img.gz" does; labels stay raw. */
START_TEST(gz_suffix_fallback)
{
	char *gz = good_images("img.gz", 1), *lab = good_labels("lab", 0);
	char *img = tu_path(tu_scratch, "img");
	nncc_dataset_t ds;
	nncc_err_t err = {{0}};
	ck_assert_msg(nncc_dataset_load(&ds, img, lab, &err) == 0, "%s", err.msg);
	check_good(&ds);
	nncc_dataset_fini(&ds);
	free(gz);
	free(img);
	free(lab);
}
END_TEST

/* A gzip'd file under a name without .gz is read too (zlib sniffs it). */
START_TEST(gz_content_without_suffix)
{
	char *img = good_images("img", 1), *lab = good_labels("lab", 1);
	nncc_dataset_t ds;
	nncc_err_t err = {{0}};
	ck_assert_msg(nncc_dataset_load(&ds, img, lab, &err) == 0, "%s", err.msg);
	check_good(&ds);
	nncc_dataset_fini(&ds);
	free(img);
	free(lab);
}
END_TEST

START_TEST(missing_file)
{
	char *lab = good_labels("lab", 0), *img = tu_path(tu_scratch, "nope");
	char want[600];
	snprintf(want, sizeof want, "file %s: cannot open: No such file or directory (also tried %s.gz)",
	         img, img);
	expect_fail(img, lab, want);
	free(img);
	free(lab);
}
END_TEST

START_TEST(directory_is_not_a_file)
{
	char *lab = good_labels("lab", 0);
	char want[600];
	snprintf(want, sizeof want, "file %s: read error: Is a directory", tu_scratch);
	expect_fail(tu_scratch, lab, want);
	free(lab);
}
END_TEST

/* Builds images with one header byte changed and expects `fmt` % path. */
static void bad_image_header(size_t at, uint8_t value, const char *fmt)
{
	size_t len;
	uint8_t *b = images_buf(N_IMG, ROWS, COLS, &len);
	char want[600];
	b[at] = value;
	char *img = write_file("img", b, len, 0), *lab = good_labels("lab", 0);
	snprintf(want, sizeof want, fmt, img);
	expect_fail(img, lab, want);
	free(b);
	free(img);
	free(lab);
}

START_TEST(wrong_magic)
{
	bad_image_header(0, 0x12,
	                 "file %s: not an IDX file (magic 0x12000803, expected 0x00000803 for an image file)");
}
END_TEST

START_TEST(wrong_type_byte)
{
	bad_image_header(2, 0x0d,
	                 "file %s: unsupported IDX element type 0x0d (expected 0x08, unsigned byte)");
}
END_TEST

START_TEST(wrong_dimension_count)
{
	bad_image_header(3, 2, "file %s: IDX file has 2 dimensions, expected 3 for an image file");
}
END_TEST

START_TEST(zero_dimension)
{
	size_t len;
	uint8_t *b = images_buf(N_IMG, ROWS, COLS, &len);
	char want[600];
	tu_put_be32(b + 12, 0);
	char *img = write_file("img", b, len, 0), *lab = good_labels("lab", 0);
	snprintf(want, sizeof want, "file %s: dimension 3 is 0", img);
	expect_fail(img, lab, want);
	free(b);
	free(img);
	free(lab);
}
END_TEST

/* Labels passed where images are expected: the magic says idx1. */
START_TEST(labels_as_images)
{
	char *lab = good_labels("lab", 0);
	char want[600];
	snprintf(want, sizeof want, "file %s: IDX file has 1 dimensions, expected 3 for an image file",
	         lab);
	expect_fail(lab, lab, want);
	free(lab);
}
END_TEST

START_TEST(truncated_pixels)
{
	size_t len;
	uint8_t *b = images_buf(N_IMG, ROWS, COLS, &len);
	char want[600];
	char *img = write_file("img", b, len - 1, 0), *lab = good_labels("lab", 0);
	snprintf(want, sizeof want, "file %s: truncated: expected 60 bytes of pixel data, got 59", img);
	expect_fail(img, lab, want);
	free(b);
	free(img);
	free(lab);
}
END_TEST

/* A header claiming 2^32-1 images of 255x255 must not allocate 280 GB up
 * front: the data runs out first. */
START_TEST(huge_claim_is_truncated)
{
	size_t len;
	uint8_t *b = images_buf(N_IMG, ROWS, COLS, &len);
	char want[600];
	tu_put_be32(b + 4, 0xffffffffu);
	tu_put_be32(b + 8, 255);
	tu_put_be32(b + 12, 255);
	char *img = write_file("img", b, len, 0), *lab = good_labels("lab", 0);
	snprintf(want, sizeof want,
	         "file %s: truncated: expected %zu bytes of pixel data, got 60", img,
	         (size_t)0xffffffffu * 255 * 255);
	expect_fail(img, lab, want);
	free(b);
	free(img);
	free(lab);
}
END_TEST

START_TEST(truncated_header)
{
	size_t len;
	uint8_t *b = images_buf(N_IMG, ROWS, COLS, &len);
	char want[600];
	char *img = write_file("img", b, 10, 0), *lab = good_labels("lab", 0);
	snprintf(want, sizeof want, "file %s: truncated: expected 16 bytes of header, got 10", img);
	expect_fail(img, lab, want);
	free(b);
	free(img);
	free(lab);
}
END_TEST

START_TEST(empty_file)
{
	char *img = write_file("img", "", 0, 0), *lab = good_labels("lab", 0);
	char want[600];
	snprintf(want, sizeof want, "file %s: truncated: expected 16 bytes of header, got 0", img);
	expect_fail(img, lab, want);
	free(img);
	free(lab);
}
END_TEST

START_TEST(trailing_bytes)
{
	size_t len;
	uint8_t *b = images_buf(N_IMG, ROWS, COLS, &len);
	char want[600];
	b[len] = 0;
	char *img = write_file("img", b, len + 1, 0), *lab = good_labels("lab", 0);
	snprintf(want, sizeof want,
	         "file %s: unexpected trailing data (1 bytes after 60 bytes of data)", img);
	expect_fail(img, lab, want);
	free(b);
	free(img);
	free(lab);
}
END_TEST

START_TEST(trailing_bytes_in_labels_gz)
{
	size_t len;
	uint8_t *b = tu_idx_labels(labels5, N_IMG, &len);
	char want[600];
	b[len] = 7;
	char *img = good_images("img", 0), *lab = write_file("lab.gz", b, len + 1, 1);
	snprintf(want, sizeof want,
	         "file %s: unexpected trailing data (1 bytes after 5 bytes of data)", lab);
	expect_fail(img, lab, want);
	free(b);
	free(img);
	free(lab);
}
END_TEST

/* The gzip'd form of `len` bytes, in memory: written with tu_write_gz
 * and read back; *gz_len receives its size, with `spare` spare bytes. */
static uint8_t *gz_bytes(const void *data, size_t len, size_t spare, size_t *gz_len)
{
	char *p = tu_path(tu_scratch, "tmp.gz");
	ck_assert_int_eq(tu_write_gz(p, data, len), 0);
	uint8_t *gz = tu_read_file(p, gz_len);
	ck_assert_ptr_nonnull(gz);
	gz = realloc(gz, *gz_len + spare);
	ck_assert_ptr_nonnull(gz);
	ck_assert_int_eq(remove(p), 0);
	free(p);
	return gz;
}

/* Bytes after the last gzip member that are not another one: zlib's
 * gzread ignores them, the loader must not (docs/data.md: trailing bytes
 * are an error).  Text, one zero byte of padding, and a lone first magic
 * byte. */
START_TEST(gzip_trailing_garbage_is_an_error)
{
	static const struct {
		const char *bytes;
		size_t n;
	} tails[] = {{"garbage\n", 8}, {"", 1}, {"\x1f", 1}};
	size_t len, n;
	uint8_t *b = images_buf(N_IMG, ROWS, COLS, &len);
	char *lab = good_labels("lab", 0), want[700];
	for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
		uint8_t *gz = gz_bytes(b, len, tails[t].n, &n);
		memcpy(gz + n, tails[t].bytes, tails[t].n);
		char *img = write_file("img.gz", gz, n + tails[t].n, 0);
		snprintf(want, sizeof want, "file %s: unexpected trailing data (%zu bytes after the "
		         "gzip data, which ends at offset %zu)", img, tails[t].n, n);
		expect_fail(img, lab, want);
		free(gz);
		free(img);
	}
	free(b);
	free(lab);
}
END_TEST

/* A second member with more decompressed bytes than the header claims:
 * the trailing data is counted after decompression. */
START_TEST(gzip_extra_member_is_trailing_data)
{
	size_t len, n1, n2;
	uint8_t *b = images_buf(N_IMG, ROWS, COLS, &len);
	uint8_t *gz = gz_bytes(b, len, 0, &n1), *more = gz_bytes("abc", 3, 0, &n2);
	gz = realloc(gz, n1 + n2);
	ck_assert_ptr_nonnull(gz);
	memcpy(gz + n1, more, n2);
	char *img = write_file("img.gz", gz, n1 + n2, 0), *lab = good_labels("lab", 0);
	char want[600];
	snprintf(want, sizeof want,
	         "file %s: unexpected trailing data (3 bytes after 60 bytes of data)", img);
	expect_fail(img, lab, want);
	free(b);
	free(gz);
	free(more);
	free(img);
	free(lab);
}
END_TEST

/* gzip files may hold several members back to back (gzip a b > c, or
 * appended with >>): the data split over two members loads. */
START_TEST(gzip_members_concatenated_load)
{
	size_t len, n1, n2;
	uint8_t *b = images_buf(N_IMG, ROWS, COLS, &len);
	uint8_t *gz = gz_bytes(b, 20, 0, &n1), *rest = gz_bytes(b + 20, len - 20, 0, &n2);
	gz = realloc(gz, n1 + n2);
	ck_assert_ptr_nonnull(gz);
	memcpy(gz + n1, rest, n2);
	char *img = write_file("img.gz", gz, n1 + n2, 0), *lab = good_labels("lab.gz", 1);
	nncc_dataset_t ds;
	nncc_err_t err = {{0}};
	ck_assert_msg(nncc_dataset_load(&ds, img, lab, &err) == 0, "%s", err.msg);
	check_good(&ds);
	nncc_dataset_fini(&ds);
	free(b);
	free(gz);
	free(rest);
	free(img);
	free(lab);
}
END_TEST

START_TEST(mismatched_counts)
{
	size_t len;
	uint8_t *b = tu_idx_labels(labels5, N_IMG - 1, &len);
	char want[800];
	char *img = good_images("img", 0), *lab = write_file("lab", b, len, 0);
	snprintf(want, sizeof want, "file %s: has 4 labels but image file %s has 5 images", lab,
	         img);
	expect_fail(img, lab, want);
	free(b);
	free(img);
	free(lab);
}
END_TEST

/* Labels are bytes: 255 is the largest, and gives 256 classes. */
START_TEST(largest_label)
{
	static const uint8_t lab255[N_IMG] = {1, 255, 0, 0, 0};
	size_t len;
	uint8_t *b = tu_idx_labels(lab255, N_IMG, &len);
	char *img = good_images("img", 0), *lab = write_file("lab", b, len, 0);
	nncc_dataset_t ds;
	nncc_err_t err = {{0}};
	ck_assert_msg(nncc_dataset_load(&ds, img, lab, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(ds.n_classes, 256);
	ck_assert_int_eq(ds.labels[1], 255);
	nncc_dataset_fini(&ds);
	free(b);
	free(img);
	free(lab);
}
END_TEST

/* Enough incompressible pixels that the .gz has a long deflate body. */
static char *big_gz_images(size_t *gz_len, uint8_t **gz_bytes)
{
	enum { N = 200, R = 28, C = 28 };
	size_t len;
	uint8_t *b = images_buf(N, R, C, &len);
	uint32_t x = 12345;
	for (size_t k = 16; k < len; k++) {
		x = x * 1103515245u + 12345u;
		b[k] = (uint8_t)(x >> 24);
	}
	char *p = write_file("img.gz", b, len, 1);
	free(b);
	FILE *f = fopen(p, "rb");
	ck_assert_ptr_nonnull(f);
	*gz_bytes = malloc(len * 2);
	ck_assert_ptr_nonnull(*gz_bytes);
	*gz_len = fread(*gz_bytes, 1, len * 2, f);
	fclose(f);
	ck_assert_uint_gt(*gz_len, 10000);
	return p;
}

START_TEST(corrupt_gzip)
{
	size_t n;
	uint8_t *gz;
	char *img = big_gz_images(&n, &gz), *lab = good_labels("lab", 0);
	nncc_dataset_t ds;
	nncc_err_t err = {{0}};
	char want[600];
	for (size_t k = n / 2; k < n / 2 + 8; k++)
		gz[k] ^= 0xa5;
	ck_assert_int_eq(tu_write(img, gz, n), 0);
	ck_assert_int_eq(nncc_dataset_load(&ds, img, lab, &err), -1);
	snprintf(want, sizeof want, "file %s: corrupt gzip data (", img);
	ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "message: %s", err.msg);
	free(gz);
	free(img);
	free(lab);
}
END_TEST

/* A bad CRC in the gzip trailer: the data decodes, the check fails. */
START_TEST(gzip_bad_crc)
{
	size_t n;
	uint8_t *gz;
	char *img = big_gz_images(&n, &gz), *lab = good_labels("lab", 0);
	char want[600];
	gz[n - 8] ^= 1;
	ck_assert_int_eq(tu_write(img, gz, n), 0);
	snprintf(want, sizeof want, "file %s: corrupt gzip data (incorrect data check)", img);
	expect_fail(img, lab, want);
	free(gz);
	free(img);
	free(lab);
}
END_TEST

START_TEST(truncated_gzip)
{
	size_t n;
	uint8_t *gz;
	char *img = big_gz_images(&n, &gz), *lab = good_labels("lab", 0);
	nncc_dataset_t ds;
	nncc_err_t err = {{0}};
	char want[600];
	ck_assert_int_eq(tu_write(img, gz, n / 2), 0);
	ck_assert_int_eq(nncc_dataset_load(&ds, img, lab, &err), -1);
	snprintf(want, sizeof want, "file %s: truncated: expected %d bytes of pixel data, got ", img,
	         200 * 28 * 28);
	ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "message: %s", err.msg);
	ck_assert_msg(strstr(err.msg, " (gzip stream ends early)"), "message: %s", err.msg);
	free(gz);
	free(img);
	free(lab);
}
END_TEST

/* ---- access points (nncc_images_index) */

enum { IX_N = 600, IX_R = 28, IX_C = 28, IX_DIM = IX_R * IX_C };

/* IX_N images of small random values (3 bits: deflate codes them in
 * Huffman blocks, so block boundaries fall inside bytes), in three gzip
 * members split at odd offsets; the raw file's bytes into *raw. */
static char *index_file(uint8_t **raw, size_t *raw_len)
{
	size_t len, cut[4], total = 0;
	uint8_t *b = images_buf(IX_N, IX_R, IX_C, &len), *all = NULL;
	uint32_t x = 2024;
	for (size_t k = 16; k < len; k++) {
		x = x * 1103515245u + 12345u;
		b[k] = (uint8_t)(x >> 29);
	}
	cut[0] = 0, cut[1] = len / 3 + 7, cut[2] = 2 * len / 3 + 101, cut[3] = len;
	for (int m = 0; m < 3; m++) {
		size_t n;
		uint8_t *gz = gz_bytes(b + cut[m], cut[m + 1] - cut[m], 0, &n);
		all = realloc(all, total + n);
		ck_assert_ptr_nonnull(all);
		memcpy(all + total, gz, n);
		total += n;
		free(gz);
	}
	char *p = write_file("ix.gz", all, total, 0);
	free(all);
	*raw = b;
	*raw_len = len;
	return p;
}

static nncc_images_t *index_open(const char *path, unsigned long long span, size_t points)
{
	nncc_images_t *s;
	size_t n, r, c;
	nncc_err_t err = {{0}};
	ck_assert_msg(nncc_images_open(&s, path, &n, &r, &c, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, IX_N);
	ck_assert_int_eq(nncc_images_seekable(s), 0);
	ck_assert_msg(nncc_images_index(s, span, points, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(nncc_images_seekable(s), 1);
	return s;
}

/* Images first .. first + k - 1 from s, compared with the raw file's. */
static void index_read(nncc_images_t *s, const uint8_t *raw, size_t first, size_t k)
{
	static uint8_t buf[IX_N * IX_DIM];
	nncc_err_t err = {{0}};
	ck_assert_msg(nncc_images_seek(s, first, &err) == 0, "seek %zu: %s", first, err.msg);
	ck_assert_msg(nncc_images_read(s, buf, k, &err) == 0, "read %zu+%zu: %s", first, k, err.msg);
	ck_assert_msg(memcmp(buf, raw + 16 + first * IX_DIM, k * IX_DIM) == 0,
	              "images %zu .. %zu differ", first, first + k - 1);
}

/* Seeks anywhere, back and forth, read what the raw file holds; with the
 * points recorded by one pass, going back costs what lies between the
 * last point before it and the images read, not the data from the start. */
START_TEST(index_seeks_read_the_data)
{
	size_t len;
	uint8_t *raw;
	char *path = index_file(&raw, &len);
	nncc_images_t *s = index_open(path, 8192, 128);
	uint32_t x = 7;
	unsigned long long before, cost;

	index_read(s, raw, 0, IX_N);   /* one pass: the points */
	for (int t = 0; t < 200; t++) {
		size_t first, k;
		x = x * 1103515245u + 12345u;
		first = (x >> 8) % IX_N;
		k = 1 + (x >> 20) % 5;
		index_read(s, raw, first, first + k <= IX_N ? k : IX_N - first);
	}
	index_read(s, raw, IX_N - 10, 10);
	before = nncc_images_inflated(s);
	index_read(s, raw, IX_N - 20, 5);
	cost = nncc_images_inflated(s) - before;
	ck_assert_msg(cost < 5 * IX_DIM + 64 * 1024, "going back inflated %llu bytes", cost);
	before = nncc_images_inflated(s);
	index_read(s, raw, 3, 2);   /* before the first block's end: from the start */
	cost = nncc_images_inflated(s) - before;
	ck_assert_msg(cost < 64 * 1024, "the first images inflated %llu bytes", cost);
	nncc_images_close(s);
	free(raw);
	free(path);
}
END_TEST

/* Two points at most: the span doubles as the data goes on, and every seek
 * still reads the right images. */
START_TEST(index_thins_its_points)
{
	size_t len;
	uint8_t *raw;
	char *path = index_file(&raw, &len);
	nncc_images_t *s = index_open(path, 1, 2);
	for (size_t first = IX_N; first-- > 0;)
		index_read(s, raw, first, 1);
	nncc_images_close(s);
	free(raw);
	free(path);
}
END_TEST

/* A member's trailer changed on disk after the points were taken: reading
 * from a point to the member's end checks its CRC-32 and length as zlib
 * does from the member's start. */
START_TEST(index_checks_the_trailer)
{
	for (int which = 0; which < 2; which++) {
		size_t len, n, m1 = 0;
		uint8_t *raw, *gz;
		char *path = index_file(&raw, &len), want[600];
		nncc_images_t *s = index_open(path, 4096, 256);
		nncc_err_t err = {{0}};
		uint8_t buf[IX_DIM];
		FILE *f;

		index_read(s, raw, 0, IX_N);
		gz = tu_read_file(path, &n);
		ck_assert_ptr_nonnull(gz);
		for (size_t k = 10; k + 1 < n; k++)   /* the second member's magic */
			if (gz[k] == 0x1f && gz[k + 1] == 0x8b && gz[k + 2] == 8) {
				m1 = k;
				break;
			}
		ck_assert_uint_gt(m1, 0);
		f = fopen(path, "r+b");
		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(fseek(f, (long)(m1 - 8 + 4 * which), SEEK_SET), 0);
		ck_assert_int_eq(fputc(gz[m1 - 8 + 4 * which] ^ 1, f), gz[m1 - 8 + 4 * which] ^ 1);
		ck_assert_int_eq(fclose(f), 0);
		/* the first member ends in image (len / 3 + 7 - 16) / 784: read across it */
		ck_assert_int_eq(nncc_images_seek(s, (len / 3 + 7 - 16) / IX_DIM - 30, &err), 0);
		int rc = 0;
		for (int i = 0; i < 31 && rc == 0; i++)
			rc = nncc_images_read(s, buf, 1, &err);
		ck_assert_int_eq(rc, -1);
		snprintf(want, sizeof want, "file %s: corrupt gzip data (incorrect %s check)", path,
		         which ? "length" : "data");
		ck_assert_str_eq(err.msg, want);
		nncc_images_close(s);
		free(gz);
		free(raw);
		free(path);
	}
}
END_TEST

/* A second handle of the file shares the first's points (the driver's
 * training-set evaluations): it reads near the end without inflating the
 * data before, adds points the first then uses, and keeps them when the
 * first is closed. */
START_TEST(index_shared_by_two_handles)
{
	size_t len;
	uint8_t *raw;
	char *path = index_file(&raw, &len);
	nncc_images_t *a = index_open(path, 8192, 128), *b;
	size_t n, r, c;
	nncc_err_t err = {{0}};
	unsigned long long before;

	ck_assert_msg(nncc_images_open(&b, path, &n, &r, &c, &err) == 0, "%s", err.msg);
	nncc_images_index_share(b, a);
	ck_assert_int_eq(nncc_images_seekable(b), 1);
	index_read(a, raw, 0, IX_N / 2);   /* a's points cover the first half */
	index_read(b, raw, IX_N / 2 - 10, 5);
	ck_assert_msg(nncc_images_inflated(b) < 5 * IX_DIM + 64 * 1024 + 16, "b inflated %llu",
	              nncc_images_inflated(b));
	index_read(b, raw, IX_N - 5, 5);   /* b goes on to the end: points for a */
	before = nncc_images_inflated(a);
	index_read(a, raw, IX_N - 20, 10);
	ck_assert_msg(nncc_images_inflated(a) - before < 10 * IX_DIM + 64 * 1024,
	              "a inflated %llu past b's points", nncc_images_inflated(a) - before);
	nncc_images_close(a);
	before = nncc_images_inflated(b);
	index_read(b, raw, IX_N / 3, 10);
	ck_assert_msg(nncc_images_inflated(b) - before < 10 * IX_DIM + 64 * 1024, "b inflated %llu",
	              nncc_images_inflated(b) - before);
	nncc_images_close(b);
	free(raw);
	free(path);
}
END_TEST

/* The same for any data file (CSV: nncc_rfile_index). */
START_TEST(rfile_index_seeks)
{
	size_t len;
	uint8_t *raw, buf[3000];
	char *path = index_file(&raw, &len);
	nncc_rfile_t *r;
	nncc_err_t err = {{0}};
	unsigned long long before;
	ck_assert_msg(nncc_rfile_open(&r, path, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(nncc_rfile_seekable(r), 0);
	ck_assert_int_eq(nncc_rfile_index(r, 8192, 64, &err), 0);
	ck_assert_int_eq(nncc_rfile_seekable(r), 1);
	for (int t = 0; t < 2; t++) {
		for (size_t off = len - sizeof buf; off > 0; off = off > 40000 ? off - 40000 : 0) {
			before = nncc_rfile_inflated(r);
			ck_assert_msg(nncc_rfile_seek(r, off, &err) == 0, "%s", err.msg);
			ck_assert_int_eq(nncc_rfile_read(r, buf, sizeof buf, &err), (long long)sizeof buf);
			ck_assert_msg(memcmp(buf, raw + off, sizeof buf) == 0, "bytes at %zu differ", off);
			if (t)   /* the points of the first round */
				ck_assert_msg(nncc_rfile_inflated(r) - before < sizeof buf + 64 * 1024,
				              "to %zu: %llu bytes", off, nncc_rfile_inflated(r) - before);
		}
	}
	nncc_rfile_close(r);
	free(raw);
	free(path);
}
END_TEST

/* An index of fewer than 2 points or a span of 0 bytes is refused with
 * the reason (and the handle reads on without one); a raw file needs none
 * (seekable as it is: no index made, no error). */
START_TEST(index_refuses_what_cannot_work)
{
	size_t len, n, r, c;
	uint8_t *raw;
	char *path = index_file(&raw, &len), *plain;
	nncc_images_t *s;
	nncc_err_t err = {{0}};

	ck_assert_msg(nncc_images_open(&s, path, &n, &r, &c, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(nncc_images_index(s, 4096, 1, &err), -1);
	ck_assert_msg(strstr(err.msg, "an index needs 2 or more points, a span of 1 or more bytes") &&
	                  strstr(err.msg, "ix.gz"),
	              "%s", err.msg);
	err.msg[0] = 0;
	ck_assert_int_eq(nncc_images_index(s, 0, 8, &err), -1);
	ck_assert_msg(strstr(err.msg, "an index needs 2 or more points"), "%s", err.msg);
	ck_assert_int_eq(nncc_images_seekable(s), 0);
	index_read(s, raw, 5, 3);   /* without an index, from the start */
	ck_assert_int_eq(nncc_images_index(s, 4096, 8, &err), 0);
	ck_assert_int_eq(nncc_images_seekable(s), 1);
	index_read(s, raw, 2, 2);
	nncc_images_close(s);

	plain = write_file("ix.raw", raw, len, 0);
	ck_assert_msg(nncc_images_open(&s, plain, &n, &r, &c, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(nncc_images_seekable(s), 1);
	ck_assert_int_eq(nncc_images_index(s, 0, 0, &err), 0);
	index_read(s, raw, IX_N - 4, 4);
	index_read(s, raw, 1, 1);
	ck_assert_uint_eq(nncc_images_inflated(s), 0);
	nncc_images_close(s);
	free(plain);
	free(raw);
	free(path);
}
END_TEST

/* The file cut on disk after its points were taken: a seek that inflates
 * from a point past the new end is an error naming the file (the byte it
 * lacks, or the gzip stream's early end), never a crash or other bytes;
 * every point tried, from the last image down. */
START_TEST(index_file_cut_after_its_points)
{
	size_t len, n = 0, fails = 0, lacks = 0;
	uint8_t *raw;
	char *path = index_file(&raw, &len);
	nncc_images_t *s = index_open(path, 4096, 256);
	static uint8_t buf[IX_DIM];
	nncc_err_t err = {{0}};

	index_read(s, raw, 0, IX_N);   /* the points */
	ck_assert_int_eq(truncate(path, 40), 0);
	for (size_t first = IX_N; first-- > IX_N / 2; n++) {
		err.msg[0] = 0;
		if (nncc_images_seek(s, first, &err) == 0 && nncc_images_read(s, buf, 1, &err) == 0) {
			ck_assert_msg(0, "image %zu read from a file of 40 bytes", first);
			continue;
		}
		fails++;
		lacks += strstr(err.msg, "ends before byte") != NULL;   /* a point's first byte */
		ck_assert_msg(strstr(err.msg, "ix.gz") &&
		                  (strstr(err.msg, "ends before byte") || strstr(err.msg, "ends early") ||
		                   strstr(err.msg, "truncated")),
		              "image %zu: %s", first, err.msg);
	}
	ck_assert_uint_eq(fails, n);
	ck_assert_uint_gt(lacks, 0);
	nncc_images_close(s);
	free(raw);
	free(path);
}
END_TEST

static Suite *idx_suite(void)
{
	Suite *s = suite_create("idx");
	TCase *ok = tcase_create("load");
	TCase *bad = tcase_create("reject");
	TCase *ix = tcase_create("index");
	tcase_add_checked_fixture(ok, tu_scratch_setup, tu_scratch_teardown);
	tcase_add_checked_fixture(ix, tu_scratch_setup, tu_scratch_teardown);
	tcase_add_test(ix, index_seeks_read_the_data);
	tcase_add_test(ix, index_thins_its_points);
	tcase_add_test(ix, index_checks_the_trailer);
	tcase_add_test(ix, index_shared_by_two_handles);
	tcase_add_test(ix, rfile_index_seeks);
	tcase_add_test(ix, index_refuses_what_cannot_work);
	tcase_add_test(ix, index_file_cut_after_its_points);
	tcase_add_checked_fixture(bad, tu_scratch_setup, tu_scratch_teardown);
	tcase_add_test(ok, raw_files_load);
	tcase_add_test(ok, gz_files_load);
	tcase_add_test(ok, gz_suffix_fallback);
	tcase_add_test(ok, gz_content_without_suffix);
	tcase_add_test(ok, largest_label);
	tcase_add_test(ok, gzip_members_concatenated_load);
	tcase_add_test(bad, missing_file);
	tcase_add_test(bad, directory_is_not_a_file);
	tcase_add_test(bad, wrong_magic);
	tcase_add_test(bad, wrong_type_byte);
	tcase_add_test(bad, wrong_dimension_count);
	tcase_add_test(bad, zero_dimension);
	tcase_add_test(bad, labels_as_images);
	tcase_add_test(bad, truncated_pixels);
	tcase_add_test(bad, huge_claim_is_truncated);
	tcase_add_test(bad, truncated_header);
	tcase_add_test(bad, empty_file);
	tcase_add_test(bad, trailing_bytes);
	tcase_add_test(bad, trailing_bytes_in_labels_gz);
	tcase_add_test(bad, gzip_trailing_garbage_is_an_error);
	tcase_add_test(bad, gzip_extra_member_is_trailing_data);
	tcase_add_test(bad, mismatched_counts);
	tcase_add_test(bad, corrupt_gzip);
	tcase_add_test(bad, gzip_bad_crc);
	tcase_add_test(bad, truncated_gzip);
	suite_add_tcase(s, ok);
	suite_add_tcase(s, bad);
	suite_add_tcase(s, ix);
	return s;
}

int main(void)
{
	return tu_suite_main(idx_suite(), NULL);
}
