/*
 * check_weights.c - weights.c: the shape hash against its canonical text,
 * parameter initialisation order and determinism, bit-exact save/load and
 * read round trips (f32 and f64) with normalisation statistics and metadata,
 * every rejection with its full message, and the atomic save.
 *
 * The models are built by hand: 4 inputs, dense 4->3 sigmoid, dense 3->2
 * linear, softmax.  Layer 1 stores its biases BEFORE its weights so that the
 * test sees the draw order (W then b per layer), not just the storage order.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "nncc.h"
#include "testutil.h"

#define NP 23

static const nncc_layer_t layers[3] = {
	{"hidden", NNCC_LAYER_DENSE, "sigmoid", 4, 3, 3, 0},
	{"out", NNCC_LAYER_DENSE, "linear", 3, 2, 15, 21},
	{"prob", NNCC_LAYER_SOFTMAX, "softmax", 2, 2, 0, 0},
};

/* Same sizes, another activation: another network with the same n_params. */
static const nncc_layer_t layers_tanh[3] = {
	{"hidden", NNCC_LAYER_DENSE, "tanh", 4, 3, 3, 0},
	{"out", NNCC_LAYER_DENSE, "linear", 3, 2, 15, 21},
	{"prob", NNCC_LAYER_SOFTMAX, "softmax", 2, 2, 0, 0},
};

static float p32[NP], g32[NP];
static double p64[NP], g64[NP];

static nncc_model_t model(int dtype, const nncc_layer_t *ls)
{
	nncc_model_t m;
	memset(&m, 0, sizeof m);
	m.abi_version = NNCC_ABI_VERSION;
	m.name = "tiny";
	m.dtype = dtype;
	m.n_inputs = 4;
	m.n_outputs = 2;
	m.n_layers = 3;
	m.layers = ls;
	m.n_params = NP;
	m.shape_hash = nncc_shape_hash_layers(ls, 3, 4, dtype);
	m.max_batch = 1;
	m.params = dtype == NNCC_F32 ? (void *)p32 : (void *)p64;
	m.grads = dtype == NNCC_F32 ? (void *)g32 : (void *)g64;
	return m;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/* ---- shape hash and init */

START_TEST(shape_hash_is_fnv1a_of_canonical_text)
{
	static const nncc_layer_t mnist[3] = {
		{"l1", NNCC_LAYER_DENSE, "sigmoid", 784, 50, 0, 39200},
		{"l2", NNCC_LAYER_DENSE, "linear", 50, 10, 39250, 39750},
		{"l3", NNCC_LAYER_SOFTMAX, "softmax", 10, 10, 0, 0},
	};
	ck_assert_uint_eq(fnv1a("a"), 0xaf63dc4c8601ec8cULL); /* FNV test vector */
	ck_assert_uint_eq(nncc_shape_hash_layers(mnist, 3, 784, NNCC_F32),
	                  fnv1a("nncc-shape f32 in=784 dense:784:50:sigmoid dense:50:10:linear softmax:10:10"));
	ck_assert_uint_eq(nncc_shape_hash_layers(layers, 3, 4, NNCC_F64),
	                  fnv1a("nncc-shape f64 in=4 dense:4:3:sigmoid dense:3:2:linear softmax:2:2"));
	nncc_model_t m = model(NNCC_F32, layers);
	ck_assert_uint_eq(nncc_shape_hash(&m), m.shape_hash);
	ck_assert_uint_ne(nncc_shape_hash_layers(layers, 3, 4, NNCC_F32),
	                  nncc_shape_hash_layers(layers_tanh, 3, 4, NNCC_F32));
}
END_TEST

/* One rng stream: layer 1 W (12) then b (3), layer 2 W (6) then b (2). */
START_TEST(init_order_and_values)
{
	static const size_t order[NP] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0, 1, 2,
	                                 15, 16, 17, 18, 19, 20, 21, 22};
	nncc_model_t m64 = model(NNCC_F64, layers), m32 = model(NNCC_F32, layers);
	nncc_rng_t r;

	nncc_init_params(&m64, NNCC_INIT_NORMAL, 0.5, 17);
	nncc_init_params(&m32, NNCC_INIT_NORMAL, 0.5, 17);
	nncc_rng_seed(&r, 17);
	for (size_t k = 0; k < NP; k++) {
		double v = nncc_rng_normal(&r) * 0.5;
		ck_assert(p64[order[k]] == v);
		ck_assert(p32[order[k]] == (float)v);
	}
	nncc_init_params(&m64, NNCC_INIT_UNIFORM, 0.1, 17);
	nncc_rng_seed(&r, 17);
	for (size_t k = 0; k < NP; k++) {
		double v = (2.0 * nncc_rng_uniform(&r) - 1.0) * 0.1;
		ck_assert(p64[order[k]] == v);
		ck_assert(fabs(v) <= 0.1);
	}
}
END_TEST

START_TEST(init_deterministic_per_seed)
{
	nncc_model_t m = model(NNCC_F32, layers);
	float a[NP];
	nncc_init_params(&m, NNCC_INIT_NORMAL, 1.0, 42);
	memcpy(a, p32, sizeof a);
	memset(p32, 0, sizeof p32);
	nncc_init_params(&m, NNCC_INIT_NORMAL, 1.0, 42);
	ck_assert(memcmp(a, p32, sizeof a) == 0);
	nncc_init_params(&m, NNCC_INIT_NORMAL, 1.0, 43);
	int same = 0;
	for (size_t k = 0; k < NP; k++)
		same += a[k] == p32[k];
	ck_assert_int_eq(same, 0);
}
END_TEST

/* ---- round trips */

static double mean4[4] = {0.5, 12.25, -3.0, 1e-300};

static void round_trip(int dtype)
{
	nncc_model_t m = model(dtype, layers);
	nncc_norm_stats_t st = {NNCC_NORM_STANDARDIZE, 4, mean4, 78.5};
	nncc_weights_meta_t meta = {0.9731, 12345}, meta2;
	nncc_norm_stats_t st2;
	nncc_err_t err = {{0}};
	char *path = tu_path(tu_scratch, "w.nnw");
	float s32[NP];
	double s64[NP];

	nncc_init_params(&m, NNCC_INIT_NORMAL, 1.0, 5);
	memcpy(s32, p32, sizeof s32);
	memcpy(s64, p64, sizeof s64);
	ck_assert_msg(nncc_weights_save(&m, path, &st, &meta, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(tu_dir_entries(tu_scratch), 1);
	memset(p32, 0, sizeof p32);
	memset(p64, 0, sizeof p64);
	ck_assert_msg(nncc_weights_load(&m, path, &st2, &meta2, &err) == 0, "%s", err.msg);
	if (dtype == NNCC_F32)
		ck_assert(memcmp(s32, p32, sizeof s32) == 0);
	else
		ck_assert(memcmp(s64, p64, sizeof s64) == 0);
	ck_assert_int_eq(st2.kind, NNCC_NORM_STANDARDIZE);
	ck_assert_uint_eq(st2.dim, 4);
	ck_assert(memcmp(st2.mean, mean4, sizeof mean4) == 0);
	ck_assert(st2.std == 78.5);
	ck_assert(meta2.test_accuracy == 0.9731);
	ck_assert_uint_eq(meta2.iterations, 12345);
	nncc_norm_fini(&st2);

	nncc_weights_file_t wf;
	ck_assert_msg(nncc_weights_read(&wf, path, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(wf.version, 1);
	ck_assert_int_eq(wf.dtype, dtype);
	ck_assert_uint_eq(wf.shape_hash, m.shape_hash);
	ck_assert_uint_eq(wf.n_params, NP);
	for (size_t k = 0; k < NP; k++)
		ck_assert(wf.params[k] == (dtype == NNCC_F32 ? (double)s32[k] : s64[k]));
	ck_assert(memcmp(wf.norm.mean, mean4, sizeof mean4) == 0);
	ck_assert(wf.norm.std == 78.5 && wf.meta.iterations == 12345);
	nncc_weights_file_fini(&wf);
	ck_assert_ptr_null(wf.params);
	nncc_weights_file_fini(NULL);
	free(path);
}

START_TEST(round_trip_f32)
{
	round_trip(NNCC_F32);
}
END_TEST

START_TEST(round_trip_f64)
{
	round_trip(NNCC_F64);
}
END_TEST

/* No norm, no meta: kind none, accuracy NaN, 0 iterations; norm/meta NULL
 * on load are fine too. */
START_TEST(round_trip_without_norm_and_meta)
{
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_norm_stats_t scale = {NNCC_NORM_SCALE, 4, NULL, 1}, st;
	nncc_weights_meta_t meta;
	nncc_err_t err = {{0}};
	char *path = tu_path(tu_scratch, "w");

	nncc_init_params(&m, NNCC_INIT_UNIFORM, 1.0, 9);
	ck_assert_msg(nncc_weights_save(&m, path, NULL, NULL, &err) == 0, "%s", err.msg);
	ck_assert_msg(nncc_weights_load(&m, path, &st, &meta, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(st.kind, NNCC_NORM_NONE);
	ck_assert_ptr_null(st.mean);
	ck_assert(isnan(meta.test_accuracy));
	ck_assert_uint_eq(meta.iterations, 0);
	ck_assert_msg(nncc_weights_load(&m, path, NULL, NULL, &err) == 0, "%s", err.msg);
	ck_assert_msg(nncc_weights_save(&m, path, &scale, NULL, &err) == 0, "%s", err.msg);
	ck_assert_msg(nncc_weights_load(&m, path, &st, NULL, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(st.kind, NNCC_NORM_SCALE);
	ck_assert(st.std == 1.0);
	free(path);
}
END_TEST

/* The documented layout, byte by byte, for an f32 file without mean[]. */
START_TEST(layout_matches_docs)
{
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_weights_meta_t meta = {NAN, 7};
	nncc_err_t err = {{0}};
	char *path = tu_path(tu_scratch, "w");
	size_t len;

	for (size_t k = 0; k < NP; k++)
		p32[k] = (float)k + 0.5f;
	ck_assert_msg(nncc_weights_save(&m, path, NULL, &meta, &err) == 0, "%s", err.msg);
	uint8_t *b = tu_read_file(path, &len);
	ck_assert_uint_eq(len, 56 + 16 + 4 * NP + 4);
	ck_assert(memcmp(b, "NNCCWTS\0", 8) == 0);
	ck_assert(b[8] == 1 && b[9] == 0 && b[12] == 1 && b[40] == 0 && b[44] == 0);
	uint64_t h = 0;
	for (int i = 7; i >= 0; i--)
		h = h << 8 | b[16 + i];
	ck_assert_uint_eq(h, m.shape_hash);
	ck_assert(b[24] == NP && b[32] == 4);
	ck_assert(b[48 + 7] == 0x3f && b[48 + 6] == 0xf0); /* std 1.0 */
	ck_assert(b[64] == 7);                              /* iterations */
	ck_assert(b[72 + 4 * 1 + 3] == 0x3f && b[72 + 4 + 2] == 0xc0); /* 1.5f */
	uint32_t crc = (uint32_t)crc32(0, b, (uInt)(len - 4));
	ck_assert(b[len - 4] == (crc & 0xff) && b[len - 1] == crc >> 24);
	free(b);
	free(path);
}
END_TEST

/* ---- rejections */

/* Saves the f32 model to dir/w and returns the path. */
static char *saved(void)
{
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_err_t err = {{0}};
	char *path = tu_path(tu_scratch, "w");
	nncc_init_params(&m, NNCC_INIT_NORMAL, 1.0, 1);
	ck_assert_msg(nncc_weights_save(&m, path, NULL, NULL, &err) == 0, "%s", err.msg);
	return path;
}

/* Loads path into model m and expects `want`; the parameters, the norm and
 * meta structs stay untouched. */
static void expect_load_fail(const nncc_model_t *m, const char *path, const char *want)
{
	nncc_err_t err = {{0}};
	nncc_norm_stats_t st = {77, 0, NULL, 0};
	nncc_weights_meta_t meta = {-1, 99};
	float keep[NP];

	for (size_t k = 0; k < NP; k++)
		p32[k] = (float)k;
	memcpy(keep, p32, sizeof keep);
	ck_assert_int_eq(nncc_weights_load(m, path, &st, &meta, &err), -1);
	ck_assert_str_eq(err.msg, want);
	ck_assert(memcmp(keep, p32, sizeof keep) == 0);
	ck_assert_int_eq(st.kind, 77);
	ck_assert_uint_eq(meta.iterations, 99);
}

/* Rewrites dir/w with byte `at` xor-ed with x, or cut/extended to len. */
static void damage(const char *path, size_t at, uint8_t x, long delta_len)
{
	size_t len;
	uint8_t *b = tu_read_file(path, &len);
	b[at] ^= x;
	if (delta_len > 0) {
		b = realloc(b, len + (size_t)delta_len);
		ck_assert_ptr_nonnull(b);
		memset(b + len, 0, (size_t)delta_len);
	}
	ck_assert_int_eq(tu_write(path, b, len + (size_t)delta_len), 0);
	free(b);
}

static void expect_read_fail(const char *path, const char *want)
{
	nncc_weights_file_t wf;
	nncc_err_t err = {{0}};
	ck_assert_int_eq(nncc_weights_read(&wf, path, &err), -1);
	ck_assert_str_eq(err.msg, want);
	ck_assert_ptr_null(wf.params);
}

START_TEST(reject_bad_magic)
{
	char *path = tu_path(tu_scratch, "w"), want[600];
	nncc_model_t m = model(NNCC_F32, layers);
	ck_assert_int_eq(tu_write_text(path, "P5\n28 28\n255\n..."), 0);
	snprintf(want, sizeof want, "file %s: not an nncc weight file (bad magic)", path);
	expect_load_fail(&m, path, want);
	expect_read_fail(path, want);
	ck_assert_int_eq(tu_write_text(path, ""), 0);
	snprintf(want, sizeof want, "file %s: not an nncc weight file (empty)", path);
	expect_load_fail(&m, path, want);
	free(path);
}
END_TEST

START_TEST(reject_version)
{
	char *path = saved(), want[600];
	nncc_model_t m = model(NNCC_F32, layers);
	damage(path, 8, 3, 0); /* version 1 -> 2 */
	snprintf(want, sizeof want,
	         "file %s: unsupported weight file version 2 (this nncc reads version 1)", path);
	expect_load_fail(&m, path, want);
	free(path);
}
END_TEST

START_TEST(reject_other_network)
{
	char *path = saved(), want[600];
	nncc_model_t m = model(NNCC_F32, layers_tanh), saved_m = model(NNCC_F32, layers);
	snprintf(want, sizeof want,
	         "file %s was saved for another network (shape hash 0x%016llx, this network 0x%016llx)",
	         path, (unsigned long long)saved_m.shape_hash, (unsigned long long)m.shape_hash);
	expect_load_fail(&m, path, want);
	free(path);
}
END_TEST

START_TEST(reject_dtype)
{
	nncc_model_t m64 = model(NNCC_F64, layers), m32 = model(NNCC_F32, layers);
	nncc_err_t err = {{0}};
	char *path = tu_path(tu_scratch, "w"), want[600];
	ck_assert_msg(nncc_weights_save(&m64, path, NULL, NULL, &err) == 0, "%s", err.msg);
	snprintf(want, sizeof want, "file %s holds f64 weights, but this network uses f32", path);
	expect_load_fail(&m32, path, want);
	free(path);
}
END_TEST

START_TEST(reject_truncated)
{
	char *path = saved(), want[600];
	nncc_model_t m = model(NNCC_F32, layers);
	size_t full = 56 + 16 + 4 * NP + 4, len;
	uint8_t *b = tu_read_file(path, &len);
	ck_assert_uint_eq(len, full);
	ck_assert_int_eq(tu_write(path, b, full - 10), 0);
	snprintf(want, sizeof want, "file %s: truncated: expected %zu bytes, got %zu", path, full,
	         full - 10);
	expect_load_fail(&m, path, want);
	expect_read_fail(path, want);
	ck_assert_int_eq(tu_write(path, b, 30), 0);
	snprintf(want, sizeof want, "file %s: truncated: 30 bytes, shorter than the header", path);
	expect_load_fail(&m, path, want);
	ck_assert_int_eq(tu_write(path, b, 5), 0);
	snprintf(want, sizeof want, "file %s: truncated: 5 bytes, shorter than the header", path);
	expect_load_fail(&m, path, want);
	free(b);
	free(path);
}
END_TEST

START_TEST(reject_flipped_byte)
{
	char *path = saved(), want[600];
	nncc_model_t m = model(NNCC_F32, layers);
	size_t len;
	damage(path, 100, 0x10, 0); /* inside the parameters */
	uint8_t *b = tu_read_file(path, &len);
	uint32_t stored = b[len - 4] | (uint32_t)b[len - 3] << 8 | (uint32_t)b[len - 2] << 16 |
	                  (uint32_t)b[len - 1] << 24;
	uint32_t computed = (uint32_t)crc32(0, b, (uInt)(len - 4));
	snprintf(want, sizeof want,
	         "file %s: checksum mismatch: the file is damaged (stored CRC-32 0x%08x, computed 0x%08x)",
	         path, (unsigned)stored, (unsigned)computed);
	expect_load_fail(&m, path, want);
	expect_read_fail(path, want);
	free(b);
	free(path);
}
END_TEST

/* A flipped bit in the header's dtype is damage, not a dtype mismatch. */
START_TEST(reject_flipped_header_byte)
{
	char *path = saved();
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_err_t err = {{0}};
	char want[600];
	damage(path, 12, 0x02, 0); /* dtype 1 -> 3 */
	ck_assert_int_eq(nncc_weights_load(&m, path, NULL, NULL, &err), -1);
	snprintf(want, sizeof want, "file %s: checksum mismatch: the file is damaged", path);
	ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "message: %s", err.msg);
	free(path);
}
END_TEST

START_TEST(reject_trailing_byte)
{
	char *path = saved(), want[600];
	nncc_model_t m = model(NNCC_F32, layers);
	damage(path, 0, 0, 1);
	snprintf(want, sizeof want, "file %s: 1 unexpected trailing bytes after the checksum", path);
	expect_load_fail(&m, path, want);
	expect_read_fail(path, want);
	free(path);
}
END_TEST

START_TEST(reject_missing_file)
{
	char *path = tu_path(tu_scratch, "nope"), want[600];
	nncc_model_t m = model(NNCC_F32, layers);
	snprintf(want, sizeof want, "file %s: cannot open: No such file or directory", path);
	expect_load_fail(&m, path, want);
	expect_read_fail(path, want);
	free(path);
}
END_TEST

/* ---- atomic save */

START_TEST(save_replaces_atomically)
{
	char *path = saved();
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_err_t err = {{0}};
	float second[NP];
	nncc_init_params(&m, NNCC_INIT_NORMAL, 1.0, 2);
	memcpy(second, p32, sizeof second);
	ck_assert_msg(nncc_weights_save(&m, path, NULL, NULL, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(tu_dir_entries(tu_scratch), 1);
	memset(p32, 0, sizeof p32);
	ck_assert_msg(nncc_weights_load(&m, path, NULL, NULL, &err) == 0, "%s", err.msg);
	ck_assert(memcmp(second, p32, sizeof second) == 0);
	free(path);
}
END_TEST

START_TEST(save_into_missing_directory)
{
	char *path = tu_path(tu_scratch, "no/such/dir/w"), prefix[600], *p;
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_err_t err = {{0}};
	ck_assert_int_eq(nncc_weights_save(&m, path, NULL, NULL, &err), -1);
	snprintf(prefix, sizeof prefix, "cannot save weights to %s: cannot create %s.tmp.", path,
	         path);
	ck_assert_msg(strncmp(err.msg, prefix, strlen(prefix)) == 0, "message: %s", err.msg);
	p = strstr(err.msg, ": No such file or directory");
	ck_assert_msg(p && p[strlen(": No such file or directory")] == 0, "message: %s", err.msg);
	ck_assert_int_eq(tu_dir_entries(tu_scratch), 0);
	free(path);
}
END_TEST

/* The target is a non-empty directory: the rename fails after the temp file
 * is written; the temp file is removed and the target is untouched. */
START_TEST(save_rename_failure_cleans_up)
{
	char *path = tu_path(tu_scratch, "w"), *inner;
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_err_t err = {{0}};
	char prefix[600];
	ck_assert_int_eq(tu_run(NULL, "mkdir '%s'", path), 0);
	inner = tu_path(path, "keep");
	ck_assert_int_eq(tu_write_text(inner, "old"), 0);
	ck_assert_int_eq(nncc_weights_save(&m, path, NULL, NULL, &err), -1);
	snprintf(prefix, sizeof prefix, "cannot save weights to %s: rename from %s.tmp.", path, path);
	ck_assert_msg(strncmp(err.msg, prefix, strlen(prefix)) == 0, "message: %s", err.msg);
	ck_assert_int_eq(tu_dir_entries(tu_scratch), 1);
	ck_assert_int_eq(tu_dir_entries(path), 1);
	free(inner);
	free(path);
}
END_TEST

START_TEST(save_rejects_bad_norm)
{
	char *path = tu_path(tu_scratch, "w"), want[600];
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_norm_stats_t st = {NNCC_NORM_STANDARDIZE, 3, mean4, 1};
	nncc_err_t err = {{0}};
	ck_assert_int_eq(nncc_weights_save(&m, path, &st, NULL, &err), -1);
	snprintf(want, sizeof want,
	         "cannot save weights to %s: normalisation has 3 means, the network 4 inputs", path);
	ck_assert_str_eq(err.msg, want);
	ck_assert_int_eq(tu_dir_entries(tu_scratch), 0);
	free(path);
}
END_TEST

static Suite *weights_suite(void)
{
	Suite *s = suite_create("weights");
	TCase *core = tcase_create("init");
	TCase *file = tcase_create("file");
	TCase *bad = tcase_create("reject");
	tcase_add_test(core, shape_hash_is_fnv1a_of_canonical_text);
	tcase_add_test(core, init_order_and_values);
	tcase_add_test(core, init_deterministic_per_seed);
	tcase_add_checked_fixture(file, tu_scratch_setup, tu_scratch_teardown);
	tcase_add_checked_fixture(bad, tu_scratch_setup, tu_scratch_teardown);
	tcase_add_test(file, round_trip_f32);
	tcase_add_test(file, round_trip_f64);
	tcase_add_test(file, round_trip_without_norm_and_meta);
	tcase_add_test(file, layout_matches_docs);
	tcase_add_test(file, save_replaces_atomically);
	tcase_add_test(file, save_into_missing_directory);
	tcase_add_test(file, save_rename_failure_cleans_up);
	tcase_add_test(file, save_rejects_bad_norm);
	tcase_add_test(bad, reject_bad_magic);
	tcase_add_test(bad, reject_version);
	tcase_add_test(bad, reject_other_network);
	tcase_add_test(bad, reject_dtype);
	tcase_add_test(bad, reject_truncated);
	tcase_add_test(bad, reject_flipped_byte);
	tcase_add_test(bad, reject_flipped_header_byte);
	tcase_add_test(bad, reject_trailing_byte);
	tcase_add_test(bad, reject_missing_file);
	suite_add_tcase(s, core);
	suite_add_tcase(s, file);
	suite_add_tcase(s, bad);
	return s;
}

int main(void)
{
	return tu_suite_main(weights_suite(), NULL);
}
