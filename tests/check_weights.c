/*
 * check_weights.c - weights.c: the shape hash against its canonical text,
 * parameter initialisation order and determinism, bit-exact save/load and
 * read round trips (f32 and f64) with normalisation statistics, metadata and
 * each optional section (optimizer state, training position), the byte
 * layout against files built field by field as docs/weights.md describes
 * (format 2, and format 1 which still loads), every rejection with its full
 * message, damaged files (cut, flipped) that must fail without crashing, and
 * the atomic save.
 *
 * The models are built by hand: 4 inputs, dense 4->3 sigmoid, dense 3->2
 * linear, softmax.  Layer 1 stores its biases BEFORE its weights so that the
 * test sees the draw order (W then b per layer), not just the storage order.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "nncc.h"
#include "testutil.h"

#define NP 23

/* 4 -> 3 sigmoid -> 2 linear -> softmax, the tensors laid out out of layer
 * order on purpose (W1 at 3, b1 at 0): initialisation follows the
 * descriptor's tensors, not the offsets. */
static const nncc_param_t t1[2] = {{"W", 3, 12, 4, 3, 0, 4, 3, 1.0},
                                   {"b", 0, 3, 1, 3, 1, 4, 3, 1.0}};
static const nncc_param_t t2[2] = {{"W", 15, 6, 3, 2, 0, 3, 2, 1.0},
                                   {"b", 21, 2, 1, 2, 1, 3, 2, 1.0}};

static const nncc_layer_t layers[3] = {
	{"hidden", "dense", "sigmoid", 4, 3, 2, t1},
	{"out", "dense", "linear", 3, 2, 2, t2},
	{"prob", "softmax", NULL, 2, 2, 0, NULL},
};

/* Same sizes, another activation: another network with the same n_params. */
static const nncc_layer_t layers_tanh[3] = {
	{"hidden", "dense", "tanh", 4, 3, 2, t1},
	{"out", "dense", "linear", 3, 2, 2, t2},
	{"prob", "softmax", NULL, 2, 2, 0, NULL},
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

static void put_param(const nncc_model_t *m, size_t k, double v)
{
	if (m->dtype == NNCC_F32)
		((float *)m->params)[k] = (float)v;
	else
		((double *)m->params)[k] = v;
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
		{"l1", "dense", "sigmoid", 784, 50, 0, NULL},
		{"l2", "dense", "linear", 50, 10, 0, NULL},
		{"l3", "softmax", NULL, 10, 10, 0, NULL},
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

	nncc_init_params(&m64, NNCC_INIT_NORMAL, 0.5, 1, 17);
	nncc_init_params(&m32, NNCC_INIT_NORMAL, 0.5, 1, 17);
	nncc_rng_seed(&r, 17);
	for (size_t k = 0; k < NP; k++) {
		double v = nncc_rng_normal(&r) * 0.5;
		ck_assert(p64[order[k]] == v);
		ck_assert(p32[order[k]] == (float)v);
	}
	nncc_init_params(&m64, NNCC_INIT_UNIFORM, 0.1, 1, 17);
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
	nncc_init_params(&m, NNCC_INIT_NORMAL, 1.0, 1, 42);
	memcpy(a, p32, sizeof a);
	memset(p32, 0, sizeof p32);
	nncc_init_params(&m, NNCC_INIT_NORMAL, 1.0, 1, 42);
	ck_assert(memcmp(a, p32, sizeof a) == 0);
	nncc_init_params(&m, NNCC_INIT_NORMAL, 1.0, 1, 43);
	int same = 0;
	for (size_t k = 0; k < NP; k++)
		same += a[k] == p32[k];
	ck_assert_int_eq(same, 0);
}
END_TEST

/* ---- what the files hold */

static double mean4[4] = {0.5, 12.25, -3.0, 1e-300};
static const uint32_t perm5[5] = {4, 2, 0, 1, 3};

/* Bit patterns a round trip must keep: -0, the smallest denormal, the
 * largest finite value, the most negative normal one, a denormal with a
 * pattern, then ordinary values.  (Infinities and NaNs a load refuses:
 * reject_nonfinite.) */
static const uint32_t bits32[5] = {0x80000000u, 0x00000001u, 0x7f7fffffu, 0xff7fffffu,
                                   0x000f1234u};
static const uint64_t bits64[5] = {0x8000000000000000ull, 0x0000000000000001ull,
                                   0x7fefffffffffffffull, 0xffefffffffffffffull,
                                   0x000f000000001234ull};

/* Entry k of n reals: the special patterns first, then sin(k*1.7)*0.5+seed. */
static void fill_reals(void *p, int dtype, size_t n, double seed)
{
	for (size_t k = 0; k < n; k++) {
		double v = sin((double)k * 1.7) * 0.5 + seed;
		float f = (float)v;
		if (dtype == NNCC_F32)
			memcpy((float *)p + k, k < 5 ? (const void *)&bits32[k] : &f, 4);
		else
			memcpy((double *)p + k, k < 5 ? (const void *)&bits64[k] : &v, 8);
	}
}

/* The model's parameters: ordinary values (nncc_weights_read converts them
 * to double), -0 first. */
static void fill_params(const nncc_model_t *m)
{
	for (size_t k = 0; k < NP; k++)
		put_param(m, k, k == 0 ? -0.0 : sin((double)k * 1.7) * 0.5);
}

static float state32[2 * NP];
static double state64[2 * NP];

/* An "adam" checkpoint: two slots of state in the model's dtype, after 7
 * steps; position: epoch 3, sample 2 of the pass perm5. */
static nncc_checkpoint_t checkpoint(int dtype, int optim, int position)
{
	nncc_checkpoint_t ck;
	void *state = dtype == NNCC_F32 ? (void *)state32 : (void *)state64;
	memset(&ck, 0, sizeof ck);
	fill_reals(state, dtype, 2 * NP, 3.0);
	ck.has_optim = optim;
	strcpy(ck.optimizer, "adam");
	ck.step = 7;
	ck.n_state = 2;
	ck.state = state;
	ck.has_position = position;
	ck.epoch = 3;
	ck.sample = 2;
	for (int i = 0; i < 4; i++)
		ck.rng[i] = 0x0123456789abcdefull * (uint64_t)(i + 1);
	ck.n_perm = 5;
	ck.perm = (uint32_t *)perm5;
	return ck;
}

/* got holds what was saved from want (state in dtype). */
static void expect_checkpoint(const nncc_checkpoint_t *got, const nncc_checkpoint_t *want,
                              int dtype)
{
	ck_assert_int_eq(got->has_optim, want->has_optim);
	ck_assert_int_eq(got->has_position, want->has_position);
	if (want->has_optim) {
		ck_assert_str_eq(got->optimizer, want->optimizer);
		ck_assert_uint_eq(got->step, want->step);
		ck_assert_uint_eq(got->n_state, want->n_state);
		ck_assert(want->n_state == 0 ||
		          memcmp(got->state, want->state,
		                 want->n_state * NP * (dtype == NNCC_F32 ? 4 : 8)) == 0);
	} else {
		ck_assert_uint_eq(got->n_state, 0);
		ck_assert_ptr_null(got->state);
	}
	if (want->has_position) {
		ck_assert_uint_eq(got->epoch, want->epoch);
		ck_assert_uint_eq(got->sample, want->sample);
		ck_assert(memcmp(got->rng, want->rng, sizeof got->rng) == 0);
		ck_assert_uint_eq(got->n_perm, want->n_perm);
		ck_assert(want->n_perm == 0 ||
		          memcmp(got->perm, want->perm, want->n_perm * sizeof *want->perm) == 0);
	} else {
		ck_assert_uint_eq(got->n_perm, 0);
		ck_assert_ptr_null(got->perm);
	}
}

/* ---- round trips */

/* Save with the chosen optional sections, then load and read back: every
 * bit of the parameters, the statistics, the metadata and the checkpoint. */
static void round_trip(int dtype, int optim, int position)
{
	nncc_model_t m = model(dtype, layers);
	nncc_norm_stats_t st = {.kind = NNCC_NORM_STANDARDIZE, .dim = 4, .mean = mean4, .std = 78.5}, st2;
	nncc_weights_meta_t meta = {0.9731, 12345}, meta2;
	nncc_checkpoint_t ck = checkpoint(dtype, optim, position), ck2;
	nncc_err_t err = {{0}};
	char *path = tu_path(tu_scratch, "w.nnw");
	float s32[NP];
	double s64[NP];

	fill_params(&m);
	memcpy(s32, p32, sizeof s32);
	memcpy(s64, p64, sizeof s64);
	ck_assert_msg(nncc_weights_save(&m, path, &st, &meta, &ck, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(tu_dir_entries(tu_scratch), 1);
	memset(p32, 0, sizeof p32);
	memset(p64, 0, sizeof p64);
	ck_assert_msg(nncc_weights_load(&m, path, &st2, &meta2, &ck2, &err) == 0, "%s", err.msg);
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
	expect_checkpoint(&ck2, &ck, dtype);
	nncc_norm_fini(&st2);
	nncc_checkpoint_fini(&ck2);
	ck_assert_ptr_null(ck2.state);
	ck_assert_ptr_null(ck2.perm);
	ck_assert_int_eq(ck2.has_optim, 0);
	nncc_checkpoint_fini(NULL);

	/* ck NULL: the sections are skipped, the rest loads. */
	memset(p32, 0, sizeof p32);
	memset(p64, 0, sizeof p64);
	ck_assert_msg(nncc_weights_load(&m, path, NULL, NULL, NULL, &err) == 0, "%s", err.msg);
	ck_assert(dtype == NNCC_F32 ? memcmp(s32, p32, sizeof s32) == 0
	                            : memcmp(s64, p64, sizeof s64) == 0);

	nncc_weights_file_t wf;
	ck_assert_msg(nncc_weights_read(&wf, path, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(wf.version, 2);
	ck_assert_int_eq(wf.dtype, dtype);
	ck_assert_uint_eq(wf.shape_hash, m.shape_hash);
	ck_assert_uint_eq(wf.n_params, NP);
	for (size_t k = 0; k < NP; k++)
		ck_assert(wf.params[k] == (dtype == NNCC_F32 ? (double)s32[k] : s64[k]));
	ck_assert(signbit(wf.params[0]));
	ck_assert(memcmp(wf.norm.mean, mean4, sizeof mean4) == 0);
	ck_assert(wf.norm.std == 78.5 && wf.meta.iterations == 12345);
	expect_checkpoint(&wf.ck, &ck, dtype);
	nncc_weights_file_fini(&wf);
	ck_assert_ptr_null(wf.params);
	ck_assert_ptr_null(wf.ck.state);
	nncc_weights_file_fini(NULL);
	free(path);
}

START_TEST(round_trip_f32)
{
	for (int i = 0; i < 4; i++)
		round_trip(NNCC_F32, i & 1, i >> 1);
}
END_TEST

START_TEST(round_trip_f64)
{
	for (int i = 0; i < 4; i++)
		round_trip(NNCC_F64, i & 1, i >> 1);
}
END_TEST

/* No norm, no meta: kind none, accuracy NaN, 0 iterations; norm/meta NULL
 * on load are fine too. */
START_TEST(round_trip_without_norm_and_meta)
{
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_norm_stats_t scale = {.kind = NNCC_NORM_SCALE, .dim = 4, .mean = NULL, .std = 1}, st;
	nncc_weights_meta_t meta;
	nncc_err_t err = {{0}};
	char *path = tu_path(tu_scratch, "w");

	nncc_init_params(&m, NNCC_INIT_UNIFORM, 1.0, 1, 9);
	ck_assert_msg(nncc_weights_save(&m, path, NULL, NULL, NULL, &err) == 0, "%s", err.msg);
	ck_assert_msg(nncc_weights_load(&m, path, &st, &meta, NULL, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(st.kind, NNCC_NORM_NONE);
	ck_assert_ptr_null(st.mean);
	ck_assert(isnan(meta.test_accuracy));
	ck_assert_uint_eq(meta.iterations, 0);
	ck_assert_msg(nncc_weights_load(&m, path, NULL, NULL, NULL, &err) == 0, "%s", err.msg);
	ck_assert_msg(nncc_weights_save(&m, path, &scale, NULL, NULL, &err) == 0, "%s", err.msg);
	ck_assert_msg(nncc_weights_load(&m, path, &st, NULL, NULL, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(st.kind, NNCC_NORM_SCALE);
	ck_assert(st.std == 1.0);
	free(path);
}
END_TEST

/* Empty state and permutation (plain SGD, no shuffle), a 31-character
 * name, and a checkpoint with neither section, which writes the same bytes
 * as none at all. */
START_TEST(round_trip_empty_checkpoint)
{
	nncc_model_t m = model(NNCC_F64, layers);
	nncc_checkpoint_t ck, ck2;
	nncc_err_t err = {{0}};
	char *path = tu_path(tu_scratch, "w"), *path2 = tu_path(tu_scratch, "w2");
	size_t len, len2;

	memset(&ck, 0, sizeof ck);
	ck.has_optim = ck.has_position = 1;
	strcpy(ck.optimizer, "sgd-with-a-thirty-one-char-name");
	ck.step = 1ull << 40;
	ck.sample = 59999;
	ck.rng[3] = UINT64_MAX;
	fill_params(&m);
	ck_assert_msg(nncc_weights_save(&m, path, NULL, NULL, &ck, &err) == 0, "%s", err.msg);
	ck_assert_msg(nncc_weights_load(&m, path, NULL, NULL, &ck2, &err) == 0, "%s", err.msg);
	expect_checkpoint(&ck2, &ck, NNCC_F64);
	nncc_checkpoint_fini(&ck2);

	ck.has_optim = ck.has_position = 0;
	ck_assert_msg(nncc_weights_save(&m, path, NULL, NULL, &ck, &err) == 0, "%s", err.msg);
	ck_assert_msg(nncc_weights_save(&m, path2, NULL, NULL, NULL, &err) == 0, "%s", err.msg);
	uint8_t *a = tu_read_file(path, &len), *b = tu_read_file(path2, &len2);
	ck_assert_uint_eq(len, len2);
	ck_assert(memcmp(a, b, len) == 0);
	ck_assert_msg(nncc_weights_load(&m, path, NULL, NULL, &ck2, &err) == 0, "%s", err.msg);
	ck_assert(!ck2.has_optim && !ck2.has_position && !ck2.state && !ck2.perm);
	free(a);
	free(b);
	free(path);
	free(path2);
}
END_TEST

/* ---- files built byte by byte, as another writer would (docs/weights.md) */

typedef struct Img {
	uint8_t b[4096];
	size_t n;
} Img;

static void img_bytes(Img *im, const void *p, size_t n)
{
	ck_assert_uint_le(im->n + n, sizeof im->b);
	memcpy(im->b + im->n, p, n);
	im->n += n;
}

static void img_u32(Img *im, uint32_t v)
{
	uint8_t b[4];
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> 8 * i);
	img_bytes(im, b, 4);
}

static void img_u64(Img *im, uint64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> 8 * i);
	img_bytes(im, b, 8);
}

static void img_f64(Img *im, double d)
{
	uint64_t v;
	memcpy(&v, &d, 8);
	img_u64(im, v);
}

/* n reals of the dtype from native memory. */
static void img_reals(Img *im, int dtype, const void *p, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (dtype == NNCC_F32) {
			uint32_t u;
			memcpy(&u, (const float *)p + k, 4);
			img_u32(im, u);
		} else {
			uint64_t u;
			memcpy(&u, (const double *)p + k, 8);
			img_u64(im, u);
		}
	}
}

static void img_crc(Img *im)
{
	img_u32(im, (uint32_t)crc32(0, im->b, (uInt)im->n));
}

/* Recomputes the CRC of a whole file image in place. */
static void fix_crc(uint8_t *b, size_t len)
{
	uint32_t c = (uint32_t)crc32(0, b, (uInt)(len - 4));
	for (int i = 0; i < 4; i++)
		b[len - 4 + i] = (uint8_t)(c >> 8 * i);
}

/* A version 1 file: the header with the normalisation, mean[] if
 * standardize, accuracy, iterations, parameters, CRC. */
static void img_v1(Img *im, const nncc_model_t *m, const nncc_norm_stats_t *st,
                   const nncc_weights_meta_t *meta)
{
	im->n = 0;
	img_bytes(im, "NNCCWTS", 8);
	img_u32(im, 1);
	img_u32(im, (uint32_t)m->dtype);
	img_u64(im, m->shape_hash);
	img_u64(im, m->n_params);
	img_u64(im, m->n_inputs);
	img_u32(im, (uint32_t)st->kind);
	img_u32(im, 0);
	img_f64(im, st->std);
	if (st->kind == NNCC_NORM_STANDARDIZE)
		for (size_t j = 0; j < st->dim; j++)
			img_f64(im, st->mean[j]);
	img_f64(im, meta->test_accuracy);
	img_u64(im, meta->iterations);
	img_reals(im, m->dtype, m->params, m->n_params);
	img_crc(im);
}

/* A version 2 file of the tiny model, every field settable.  The payloads
 * are the round trip's: standardize with mean4 when norm_kind says so, the
 * meta {0.9731, 12345}, the parameters, two slots of state and perm5. */
typedef struct Spec {
	const char *tags;       /* the sections in file order, space separated */
	uint32_t version, dtype;
	uint64_t n_params, n_inputs;
	int n_sect_delta;       /* added to the header's section count */
	uint32_t norm_kind;     /* NORM's kind field */
	double std;
	char name[32];          /* OPTIM's name field, as is */
	uint64_t n_state;       /* OPTIM's n_state field (the payload has 2 slots) */
	uint64_t sample, n_perm; /* POSITION's fields (the payload has 5 entries) */
	uint32_t perm[5];
	const char *resize;     /* this section's payload is cut or zero-filled */
	size_t resize_to;       /* to this many bytes (its length field agrees) */
	const char *lie;        /* this section's length field is off */
	int64_t lie_by;         /* by this many bytes */
} Spec;

static Spec spec(const char *tags)
{
	Spec sp;
	memset(&sp, 0, sizeof sp);
	sp.tags = tags;
	sp.version = 2;
	sp.dtype = NNCC_F32;
	sp.n_params = NP;
	sp.n_inputs = 4;
	sp.norm_kind = NNCC_NORM_STANDARDIZE;
	sp.std = 78.5;
	strcpy(sp.name, "adam");
	sp.n_state = 2;
	sp.sample = 2;
	sp.n_perm = 5;
	memcpy(sp.perm, perm5, sizeof sp.perm);
	return sp;
}

/* The payload of the section named tag (anything unknown: empty). */
static void spec_payload(Img *p, const Spec *sp, const char *tag, const nncc_model_t *m,
                         const nncc_checkpoint_t *ck)
{
	p->n = 0;
	if (strcmp(tag, "NORM") == 0) {
		img_u32(p, sp->norm_kind);
		img_u32(p, 0);
		img_f64(p, sp->std);
		if (sp->norm_kind == NNCC_NORM_STANDARDIZE)
			for (int j = 0; j < 4; j++)
				img_f64(p, mean4[j]);
	} else if (strcmp(tag, "META") == 0) {
		img_f64(p, 0.9731);
		img_u64(p, 12345);
	} else if (strcmp(tag, "PARAMS") == 0) {
		img_reals(p, m->dtype, m->params, NP);
	} else if (strcmp(tag, "OPTIM") == 0) {
		img_bytes(p, sp->name, 32);
		img_u64(p, ck->step);
		img_u64(p, sp->n_state);
		img_reals(p, m->dtype, ck->state, 2 * NP);
	} else if (strcmp(tag, "POSITION") == 0) {
		img_u64(p, ck->epoch);
		img_u64(p, sp->sample);
		for (int i = 0; i < 4; i++)
			img_u64(p, ck->rng[i]);
		img_u64(p, sp->n_perm);
		for (int i = 0; i < 5; i++)
			img_u32(p, sp->perm[i]);
	}
}

static void img_v2(Img *im, const Spec *sp)
{
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_checkpoint_t ck = checkpoint(NNCC_F32, 1, 1);
	char tags[200], *save = NULL;
	uint32_t n_sect = 0;
	Img *p = malloc(sizeof *p);

	ck_assert_ptr_nonnull(p);
	fill_params(&m);
	snprintf(tags, sizeof tags, "%s", sp->tags);
	for (char *t = strtok_r(tags, " ", &save); t; t = strtok_r(NULL, " ", &save))
		n_sect++;
	im->n = 0;
	img_bytes(im, "NNCCWTS", 8);
	img_u32(im, sp->version);
	img_u32(im, sp->dtype);
	img_u64(im, m.shape_hash);
	img_u64(im, sp->n_params);
	img_u64(im, sp->n_inputs);
	img_u32(im, (uint32_t)((int)n_sect + sp->n_sect_delta));
	img_u32(im, 0);
	snprintf(tags, sizeof tags, "%s", sp->tags);
	for (char *t = strtok_r(tags, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		char tag[8] = {0};
		spec_payload(p, sp, t, &m, &ck);
		if (sp->resize && strcmp(t, sp->resize) == 0) {
			if (sp->resize_to > p->n)
				memset(p->b + p->n, 0, sp->resize_to - p->n);
			p->n = sp->resize_to;
		}
		memcpy(tag, t, strlen(t) < 8 ? strlen(t) : 8);
		img_bytes(im, tag, 8);
		img_u64(im, p->n + (uint64_t)(sp->lie && strcmp(t, sp->lie) == 0 ? sp->lie_by : 0));
		img_bytes(im, p->b, p->n);
	}
	img_crc(im);
	free(p);
}

static void write_img(const char *path, const Img *im)
{
	ck_assert_int_eq(tu_write(path, im->b, im->n), 0);
}

/* The writer's bytes are those of the documented layout, built here field by
 * field; a few fixed offsets are checked by hand on top. */
START_TEST(layout_matches_docs)
{
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_norm_stats_t st = {.kind = NNCC_NORM_STANDARDIZE, .dim = 4, .mean = mean4, .std = 78.5};
	nncc_weights_meta_t meta = {0.9731, 12345};
	nncc_checkpoint_t ck = checkpoint(NNCC_F32, 1, 1);
	Spec sp = spec("NORM META PARAMS OPTIM POSITION");
	nncc_err_t err = {{0}};
	char *path = tu_path(tu_scratch, "w");
	size_t len;
	Img im;

	fill_params(&m);
	ck_assert_msg(nncc_weights_save(&m, path, &st, &meta, &ck, &err) == 0, "%s", err.msg);
	uint8_t *b = tu_read_file(path, &len);
	img_v2(&im, &sp);
	ck_assert_uint_eq(len, 48 + (16 + 48) + (16 + 16) + (16 + 4 * NP) +
	                           (16 + 48 + 2 * 4 * NP) + (16 + 56 + 4 * 5) + 4);
	ck_assert_uint_eq(len, im.n);
	ck_assert(memcmp(b, im.b, len) == 0);
	ck_assert(memcmp(b, "NNCCWTS\0", 8) == 0);
	ck_assert(b[8] == 2 && b[12] == 1 && b[24] == NP && b[32] == 4 && b[40] == 5);
	ck_assert(memcmp(b + 48, "NORM\0\0\0\0", 8) == 0 && b[56] == 48 && b[64] == 2);
	ck_assert(memcmp(b + 112, "META\0\0\0\0", 8) == 0);
	ck_assert(memcmp(b + 144, "PARAMS\0\0", 8) == 0 && b[152] == 4 * NP);
	ck_assert(memcmp(b + 252, "OPTIM\0\0\0", 8) == 0 && memcmp(b + 268, "adam\0", 5) == 0);
	ck_assert(memcmp(b + 500, "POSITION", 8) == 0);
	uint32_t crc = (uint32_t)crc32(0, b, (uInt)(len - 4));
	ck_assert(b[len - 4] == (crc & 0xff) && b[len - 1] == crc >> 24);
	free(b);
	free(path);
}
END_TEST

/* ---- format version 1 still loads */

static void v1_loads(int dtype, const nncc_norm_stats_t *st)
{
	nncc_model_t m = model(dtype, layers);
	nncc_weights_meta_t meta = {0.875, 600}, meta2;
	nncc_norm_stats_t st2;
	nncc_checkpoint_t ck2;
	nncc_weights_file_t wf;
	nncc_err_t err = {{0}};
	char *path = tu_path(tu_scratch, "v1");
	uint8_t keep[NP * 8];
	Img im;

	fill_params(&m);
	memcpy(keep, m.params, NP * (dtype == NNCC_F32 ? 4 : 8));
	img_v1(&im, &m, st, &meta);
	ck_assert_uint_eq(im.n, 56 + (st->kind == NNCC_NORM_STANDARDIZE ? 32 : 0) + 16 +
	                            NP * (dtype == NNCC_F32 ? 4 : 8) + 4);
	write_img(path, &im);
	memset(p32, 0, sizeof p32);
	memset(p64, 0, sizeof p64);
	ck_assert_msg(nncc_weights_load(&m, path, &st2, &meta2, &ck2, &err) == 0, "%s", err.msg);
	ck_assert(memcmp(keep, m.params, NP * (dtype == NNCC_F32 ? 4 : 8)) == 0);
	ck_assert_int_eq(st2.kind, st->kind);
	ck_assert(st2.std == (st->kind == NNCC_NORM_STANDARDIZE ? st->std : 1.0));
	if (st->kind == NNCC_NORM_STANDARDIZE)
		ck_assert(memcmp(st2.mean, st->mean, 4 * sizeof *st->mean) == 0);
	else
		ck_assert_ptr_null(st2.mean);
	ck_assert(meta2.test_accuracy == 0.875 && meta2.iterations == 600);
	ck_assert(!ck2.has_optim && !ck2.has_position && !ck2.state && !ck2.perm);
	nncc_norm_fini(&st2);

	ck_assert_msg(nncc_weights_read(&wf, path, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(wf.version, 1);
	ck_assert_int_eq(wf.dtype, dtype);
	ck_assert_uint_eq(wf.n_params, NP);
	for (size_t k = 0; k < NP; k++)
		ck_assert(wf.params[k] == (dtype == NNCC_F32 ? (double)p32[k] : p64[k]));
	ck_assert_int_eq(wf.norm.kind, st->kind);
	ck_assert(wf.meta.iterations == 600);
	ck_assert(!wf.ck.has_optim && !wf.ck.has_position);
	nncc_weights_file_fini(&wf);
	free(path);
}

START_TEST(v1_files_still_load)
{
	nncc_norm_stats_t standardize = {.kind = NNCC_NORM_STANDARDIZE, .dim = 4, .mean = mean4, .std = 78.5};
	nncc_norm_stats_t scale = {.kind = NNCC_NORM_SCALE, .dim = 4, .mean = NULL, .std = 1.0};
	v1_loads(NNCC_F32, &standardize);
	v1_loads(NNCC_F64, &standardize);
	v1_loads(NNCC_F32, &scale);
	v1_loads(NNCC_F64, &scale);
}
END_TEST

/* ---- rejections */

/* Saves the f32 model to dir/w (no norm, meta or checkpoint: 224 bytes) and
 * returns the path. */
static char *saved(void)
{
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_err_t err = {{0}};
	char *path = tu_path(tu_scratch, "w");
	nncc_init_params(&m, NNCC_INIT_NORMAL, 1.0, 1, 1);
	ck_assert_msg(nncc_weights_save(&m, path, NULL, NULL, NULL, &err) == 0, "%s", err.msg);
	return path;
}

/* Loads path into model m and returns the result; on failure the
 * parameters, the norm, meta and checkpoint structs stay untouched. */
static int load_untouched(const nncc_model_t *m, const char *path, nncc_err_t *err)
{
	nncc_norm_stats_t st = {.kind = 77, .dim = 0, .mean = NULL, .std = 0};
	nncc_weights_meta_t meta = {-1, 99};
	nncc_checkpoint_t ck;
	uint8_t keep[NP * 8];
	size_t size = NP * (m->dtype == NNCC_F32 ? 4 : 8);
	int rc;

	memset(&ck, 0, sizeof ck);
	ck.has_optim = 55;
	ck.n_perm = 66;
	for (size_t k = 0; k < NP; k++)
		put_param(m, k, (double)k);
	memcpy(keep, m->params, size);
	rc = nncc_weights_load(m, path, &st, &meta, &ck, err);
	if (rc == 0) {
		nncc_norm_fini(&st);
		nncc_checkpoint_fini(&ck);
		return 0;
	}
	ck_assert(memcmp(keep, m->params, size) == 0);
	ck_assert_int_eq(st.kind, 77);
	ck_assert_uint_eq(meta.iterations, 99);
	ck_assert(ck.has_optim == 55 && ck.n_perm == 66 && !ck.state && !ck.perm);
	return rc;
}

/* Loads path into model m and expects `want`, nothing touched. */
static void expect_load_fail(const nncc_model_t *m, const char *path, const char *want)
{
	nncc_err_t err = {{0}};
	ck_assert_int_eq(load_untouched(m, path, &err), -1);
	ck_assert_str_eq(err.msg, want);
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
	ck_assert_ptr_null(wf.ck.state);
}

/* Both load and read reject path with want, a format with "%s" for path. */
static void expect_fail(const char *path, const char *want_fmt)
{
	nncc_model_t m = model(NNCC_F32, layers);
	char want[800];
	snprintf(want, sizeof want, want_fmt, path);
	expect_load_fail(&m, path, want);
	expect_read_fail(path, want);
}

/* A NaN or an infinity with a valid checksum (a diverged run saved by
 * hand, an edited file): refused, naming the file, the parameter and its
 * place, and the model untouched.  In the weights, in the normalisation's
 * means, and in a checkpoint's optimizer state (only when the caller asks
 * for the checkpoint). */
START_TEST(reject_nonfinite)
{
	static const struct {
		size_t k;
		double v;
		const char *want;
	} cases[] = {
		{7, NAN, "parameter 7 (layer 1 \"hidden\", W[1][1]) is nan"},
		{1, INFINITY, "parameter 1 (layer 1 \"hidden\", b[1]) is inf"},
		{22, -INFINITY, "parameter 22 (layer 2 \"out\", b[1]) is -inf"},
	};
	static const char tail[] = ": a weight file must hold finite numbers (did the training that "
	                           "wrote it diverge?)";
	char *path = tu_path(tu_scratch, "w"), want[800];
	nncc_err_t err = {{0}};
	for (int dtype = NNCC_F32; dtype <= NNCC_F64; dtype++) {
		nncc_model_t m = model(dtype, layers);
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			fill_params(&m);
			put_param(&m, cases[i].k, cases[i].v);
			ck_assert_msg(nncc_weights_save(&m, path, NULL, NULL, NULL, &err) == 0, "%s",
			              err.msg);
			ck_assert_int_eq(load_untouched(&m, path, &err), -1);
			snprintf(want, sizeof want, "file %s: %s%s", path, cases[i].want, tail);
			ck_assert_str_eq(err.msg, want);
		}
		/* The state: slot 1, parameter 2; without a checkpoint wanted it loads. */
		nncc_checkpoint_t ck = checkpoint(dtype, 1, 0);
		fill_params(&m);
		if (dtype == NNCC_F32)
			state32[NP + 2] = NAN;
		else
			state64[NP + 2] = NAN;
		ck_assert_msg(nncc_weights_save(&m, path, NULL, NULL, &ck, &err) == 0, "%s", err.msg);
		ck_assert_int_eq(load_untouched(&m, path, &err), -1);
		snprintf(want, sizeof want, "file %s: optimizer state slot 1 of parameter 2 (layer 1 "
		         "\"hidden\", b[2]) is nan%s", path, tail);
		ck_assert_str_eq(err.msg, want);
		ck_assert_msg(nncc_weights_load(&m, path, NULL, NULL, NULL, &err) == 0, "%s", err.msg);
	}
	/* A mean of the normalisation. */
	nncc_model_t m = model(NNCC_F64, layers);
	double mean[4] = {1, 2, NAN, 4};
	nncc_norm_stats_t st = {.kind = NNCC_NORM_STANDARDIZE, .dim = 4, .mean = mean, .std = 2};
	fill_params(&m);
	ck_assert_msg(nncc_weights_save(&m, path, &st, NULL, NULL, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(load_untouched(&m, path, &err), -1);
	snprintf(want, sizeof want, "file %s: normalisation mean[2] is nan%s", path, tail);
	ck_assert_str_eq(err.msg, want);
	free(path);
}
END_TEST

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
	char *path = saved();
	damage(path, 8, 1, 0); /* version 2 -> 3 */
	expect_fail(path, "file %s: unsupported weight file version 3 (this nncc reads versions 1 and 2)");
	damage(path, 8, 3, 0); /* 3 -> 0 */
	expect_fail(path, "file %s: unsupported weight file version 0 (this nncc reads versions 1 and 2)");
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
	ck_assert_msg(nncc_weights_save(&m64, path, NULL, NULL, NULL, &err) == 0, "%s", err.msg);
	snprintf(want, sizeof want, "file %s holds f64 weights, but this network uses f32", path);
	expect_load_fail(&m32, path, want);
	free(path);
}
END_TEST

/* The right shape hash (written by another tool) but other sizes. */
START_TEST(reject_sizes)
{
	char *path = tu_path(tu_scratch, "w"), want[600];
	nncc_model_t m = model(NNCC_F32, layers);
	Spec sp = spec("NORM META PARAMS");
	Img im;
	sp.n_inputs = 5;
	sp.norm_kind = NNCC_NORM_SCALE;
	img_v2(&im, &sp);
	write_img(path, &im);
	snprintf(want, sizeof want, "file %s has 23 parameters and 5 inputs, this network 23 and 4",
	         path);
	expect_load_fail(&m, path, want);
	free(path);
}
END_TEST

START_TEST(reject_truncated)
{
	char *path = saved();
	size_t full = 48 + 32 + 32 + (16 + 4 * NP) + 4, len;
	uint8_t *b = tu_read_file(path, &len);
	ck_assert_uint_eq(len, full);
	ck_assert_int_eq(tu_write(path, b, full - 10), 0);
	expect_fail(path, "file %s: truncated: expected 224 bytes, got 214");
	/* PARAMS's header (at 112) is cut: only a lower bound is known. */
	ck_assert_int_eq(tu_write(path, b, 120), 0);
	expect_fail(path, "file %s: truncated: expected at least 132 bytes, got 120");
	ck_assert_int_eq(tu_write(path, b, 51), 0);
	expect_fail(path, "file %s: truncated: 51 bytes, shorter than the header");
	ck_assert_int_eq(tu_write(path, b, 5), 0);
	expect_fail(path, "file %s: truncated: 5 bytes, shorter than the header");
	free(b);
	free(path);
}
END_TEST

START_TEST(reject_flipped_byte)
{
	char *path = saved(), want[600];
	nncc_model_t m = model(NNCC_F32, layers);
	size_t len;
	damage(path, 150, 0x10, 0); /* inside the parameters */
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
	ck_assert_int_eq(nncc_weights_load(&m, path, NULL, NULL, NULL, &err), -1);
	snprintf(want, sizeof want, "file %s: checksum mismatch: the file is damaged", path);
	ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "message: %s", err.msg);
	free(path);
}
END_TEST

START_TEST(reject_trailing_byte)
{
	char *path = saved();
	damage(path, 0, 0, 1);
	expect_fail(path, "file %s: 1 unexpected trailing bytes after the checksum");
	free(path);
}
END_TEST

START_TEST(reject_missing_file)
{
	char *path = tu_path(tu_scratch, "nope");
	expect_fail(path, "file %s: cannot open: No such file or directory");
	free(path);
}
END_TEST

/* Version 1's checks and messages are those of before version 2. */
START_TEST(reject_v1)
{
	nncc_model_t m = model(NNCC_F64, layers);
	nncc_norm_stats_t st = {.kind = NNCC_NORM_STANDARDIZE, .dim = 4, .mean = mean4, .std = 78.5};
	nncc_weights_meta_t meta = {0.5, 1};
	char *path = tu_path(tu_scratch, "w");
	Img im;

	fill_params(&m);
	img_v1(&im, &m, &st, &meta); /* 56 + 32 + 16 + 8*23 + 4 = 292 bytes */
	ck_assert_int_eq(tu_write(path, im.b, im.n - 7), 0);
	expect_fail(path, "file %s: truncated: expected 292 bytes, got 285");
	ck_assert_int_eq(tu_write(path, im.b, 59), 0);
	expect_fail(path, "file %s: truncated: 59 bytes, shorter than the header");
	im.b[im.n++] = 0;
	write_img(path, &im);
	expect_fail(path, "file %s: 1 unexpected trailing bytes after the checksum");
	im.n--;
	im.b[12] = 3; /* dtype 3, with a valid checksum */
	fix_crc(im.b, im.n);
	write_img(path, &im);
	expect_fail(path, "file %s: invalid header (dtype 3, norm kind 2, 292 bytes)");
	im.b[12] = NNCC_F64;
	memset(im.b + 48, 0, 8); /* std 0 */
	fix_crc(im.b, im.n);
	write_img(path, &im);
	expect_fail(path, "file %s: invalid normalisation std 0");
	free(path);
}
END_TEST

/* A well-formed file (valid CRC) whose structure breaks one rule. */
static void expect_spec_fail(const Spec *sp, const char *want_fmt)
{
	char *path = tu_path(tu_scratch, "w");
	Img im;
	img_v2(&im, sp);
	write_img(path, &im);
	expect_fail(path, want_fmt);
	free(path);
}

/* Section offsets of "NORM META PARAMS ...": 48, 112, 144, 252, 500. */
START_TEST(reject_structure)
{
	Spec sp = spec("NORM META PARAMS");
	sp.dtype = 3;
	expect_spec_fail(&sp, "file %s: invalid dtype 3 (1 = f32, 2 = f64)");
	sp = spec("NORM META PARAMS");
	sp.n_sect_delta = 1;
	expect_spec_fail(&sp, "file %s: section 4 of 4 (at offset 252) runs past the checksum at offset 252");
	sp = spec("NORM META PARAMS");
	sp.lie = "PARAMS";
	sp.lie_by = 1;
	expect_spec_fail(&sp, "file %s: section 3 of 3 (at offset 144) runs past the checksum at offset 252");
	sp.lie_by = -1; /* the section's own length check comes first */
	expect_spec_fail(&sp, "file %s: section 'PARAMS' at offset 144: 91 bytes, expected 92");
	sp = spec("NORM META PARAMS OPTIM");
	sp.n_sect_delta = -1;
	expect_spec_fail(&sp, "file %s: 248 bytes between the last of the 3 sections and the checksum");
	sp = spec("NORM META PARAMS");
	sp.n_sect_delta = -3;
	expect_spec_fail(&sp, "file %s: 204 bytes between the last of the 0 sections and the checksum");
	sp = spec("");
	expect_spec_fail(&sp, "file %s: missing section 'NORM'");
}
END_TEST

START_TEST(reject_section_order)
{
	static const struct {
		const char *tags, *want;
	} cases[] = {
		{"NORM META PARAMS EXTRA", "file %s: unknown section 'EXTRA' at offset 252"},
		{"NORM META params", "file %s: unknown section 'params' at offset 144"},
		{"NORM META PARAMS\x01", "file %s: unknown section 'PARAMS\\x01' at offset 144"},
		{"NORM META PARAMSXYZ", "file %s: unknown section 'PARAMSXY' at offset 144"},
		{"NORM META PARAMS NORM", "file %s: repeated section 'NORM' at offset 252"},
		{"NORM META PARAMS OPTIM OPTIM", "file %s: repeated section 'OPTIM' at offset 500"},
		{"NORM PARAMS META",
		 "file %s: section 'META' at offset 220 is out of order (the order is NORM, CLASSES, META, PARAMS, OPTIM, POSITION, WINDOWS, BEST, RECIPE)"},
		{"NORM META PARAMS POSITION OPTIM",
		 "file %s: section 'OPTIM' at offset 344 is out of order (the order is NORM, CLASSES, META, PARAMS, OPTIM, POSITION, WINDOWS, BEST, RECIPE)"},
		{"META PARAMS", "file %s: missing section 'NORM'"},
		{"NORM PARAMS", "file %s: missing section 'META'"},
		{"NORM META", "file %s: missing section 'PARAMS'"},
		{"NORM META OPTIM", "file %s: missing section 'PARAMS'"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		Spec sp = spec(cases[i].tags);
		expect_spec_fail(&sp, cases[i].want);
	}
}
END_TEST

START_TEST(reject_norm_meta_params)
{
	Spec sp = spec("NORM META PARAMS");
	sp.resize = "NORM";
	sp.resize_to = 8;
	expect_spec_fail(&sp, "file %s: section 'NORM' at offset 48: 8 bytes, expected at least 16");
	sp.resize_to = 56;
	expect_spec_fail(&sp, "file %s: section 'NORM' at offset 48: 56 bytes, expected 48");
	sp.norm_kind = NNCC_NORM_NONE; /* no mean[], but 48 bytes */
	sp.resize_to = 48;
	expect_spec_fail(&sp, "file %s: section 'NORM' at offset 48: 48 bytes, expected 16");
	sp = spec("NORM META PARAMS");
	sp.norm_kind = 7;
	expect_spec_fail(&sp, "file %s: section 'NORM' at offset 48: invalid normalisation kind 7");
	sp = spec("NORM META PARAMS");
	sp.std = 0;
	expect_spec_fail(&sp, "file %s: section 'NORM' at offset 48: invalid normalisation std 0");
	sp.std = NAN;
	expect_spec_fail(&sp, "file %s: section 'NORM' at offset 48: invalid normalisation std nan");
	sp = spec("NORM META PARAMS");
	sp.n_inputs = 1ull << 61; /* 8 * n_inputs overflows */
	expect_spec_fail(&sp, "file %s: section 'NORM' at offset 48: n_inputs 2305843009213693952 is too large");
	sp = spec("NORM META PARAMS");
	sp.resize = "META";
	sp.resize_to = 24;
	expect_spec_fail(&sp, "file %s: section 'META' at offset 112: 24 bytes, expected 16");
	sp = spec("NORM META PARAMS");
	sp.n_params = NP + 1;
	expect_spec_fail(&sp, "file %s: section 'PARAMS' at offset 144: 92 bytes, expected 96");
	sp.n_params = 1ull << 62; /* 4 * n_params overflows */
	expect_spec_fail(&sp, "file %s: section 'PARAMS' at offset 144: n_params 4611686018427387904 is too large");
}
END_TEST

START_TEST(reject_optim)
{
	static const char bad_names[][32] = {
		"",                               /* empty */
		"adam w",                         /* a space */
		"ad\tam",                         /* a control character */
		"\xe4" "dam",                     /* not ASCII */
		{'a', 'd', 'a', 'm', 0, 'x'},     /* not NUL-padded */
		{'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '1', '2', '3', '4', '5',
		 '6', '7', '8', '9', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '1'},
	};
	Spec sp = spec("NORM META PARAMS OPTIM");
	for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
		memcpy(sp.name, bad_names[i], 32);
		expect_spec_fail(&sp, "file %s: section 'OPTIM' at offset 252: the optimizer name is not 1 to 31 printable ASCII characters padded with NULs");
	}
	sp = spec("NORM META PARAMS OPTIM");
	sp.resize = "OPTIM";
	sp.resize_to = 40;
	expect_spec_fail(&sp, "file %s: section 'OPTIM' at offset 252: 40 bytes, expected at least 48");
	sp.resize_to = 48; /* n_state says 2 */
	expect_spec_fail(&sp, "file %s: section 'OPTIM' at offset 252: 48 bytes, expected 232");
	sp = spec("NORM META PARAMS OPTIM");
	sp.n_state = 3;
	expect_spec_fail(&sp, "file %s: section 'OPTIM' at offset 252: 232 bytes, expected 324");
	sp.n_state = 1ull << 62; /* n_state * 92 overflows */
	expect_spec_fail(&sp, "file %s: section 'OPTIM' at offset 252: n_state 4611686018427387904 is too large for 23 parameters");
	sp.n_state = 1ull << 40; /* no overflow, just far more than the file holds */
	expect_spec_fail(&sp, "file %s: section 'OPTIM' at offset 252: 232 bytes, expected 101155069755440");
}
END_TEST

START_TEST(reject_position)
{
	Spec sp = spec("NORM META PARAMS OPTIM POSITION");
	sp.resize = "POSITION";
	sp.resize_to = 50;
	expect_spec_fail(&sp, "file %s: section 'POSITION' at offset 500: 50 bytes, expected at least 56");
	sp = spec("NORM META PARAMS OPTIM POSITION");
	sp.n_perm = 6;
	expect_spec_fail(&sp, "file %s: section 'POSITION' at offset 500: 76 bytes, expected 80");
	sp.n_perm = 1ull << 62; /* 4 * n_perm overflows */
	expect_spec_fail(&sp, "file %s: section 'POSITION' at offset 500: n_perm 4611686018427387904 is too large");
	sp = spec("NORM META PARAMS POSITION");
	sp.sample = 6;
	expect_spec_fail(&sp, "file %s: section 'POSITION' at offset 252: sample 6 is past the end of the pass (n_perm 5)");
	sp = spec("NORM META PARAMS POSITION");
	sp.perm[2] = 5;
	expect_spec_fail(&sp, "file %s: section 'POSITION' at offset 252: perm[2] = 5 is out of range (n_perm 5)");
	sp.perm[2] = 4;
	expect_spec_fail(&sp, "file %s: section 'POSITION' at offset 252: perm[2] = 4 is repeated (n_perm 5)");
	sp.perm[2] = UINT32_MAX;
	expect_spec_fail(&sp, "file %s: section 'POSITION' at offset 252: perm[2] = 4294967295 is out of range (n_perm 5)");
}
END_TEST

/* The builder's own file loads: the rejections above differ from it in the
 * one field they change.  sample == n_perm (a finished pass) is fine, as is
 * any sample without a permutation. */
START_TEST(spec_baseline_loads)
{
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_err_t err = {{0}};
	char *path = tu_path(tu_scratch, "w");
	Spec sp = spec("NORM META PARAMS OPTIM POSITION");
	Img im;
	img_v2(&im, &sp);
	write_img(path, &im);
	ck_assert_msg(load_untouched(&m, path, &err) == 0, "%s", err.msg);
	sp.sample = 5;
	img_v2(&im, &sp);
	write_img(path, &im);
	ck_assert_msg(load_untouched(&m, path, &err) == 0, "%s", err.msg);
	sp = spec("NORM META PARAMS POSITION");
	sp.n_perm = 0;
	sp.sample = 1u << 31;
	sp.resize = "POSITION";
	sp.resize_to = 56;
	img_v2(&im, &sp);
	write_img(path, &im);
	ck_assert_msg(load_untouched(&m, path, &err) == 0, "%s", err.msg);
	free(path);
}
END_TEST

/* A small file with both optional sections, cut at every length and with
 * every byte flipped: an error each time, never a crash (run it under
 * SAN=1).  The same with the checksum recomputed, so that the structure
 * checks see the damage: a cut file must still fail; after a flipped bit a
 * load may succeed (a flipped parameter is still a parameter), but a
 * failure names the file. */
START_TEST(damaged_files_never_crash)
{
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_norm_stats_t st = {.kind = NNCC_NORM_STANDARDIZE, .dim = 4, .mean = mean4, .std = 78.5};
	nncc_checkpoint_t ck = checkpoint(NNCC_F32, 1, 1);
	nncc_weights_file_t wf;
	nncc_err_t err = {{0}};
	char *path = tu_path(tu_scratch, "w"), prefix[600];
	size_t len, ok = 0;

	fill_params(&m);
	ck_assert_msg(nncc_weights_save(&m, path, &st, NULL, &ck, &err) == 0, "%s", err.msg);
	uint8_t *b = tu_read_file(path, &len), *d = malloc(len);
	ck_assert_ptr_nonnull(d);
	snprintf(prefix, sizeof prefix, "file %s", path);
	for (size_t cut = 0; cut < len; cut++) {
		ck_assert_int_eq(tu_write(path, b, cut), 0);
		ck_assert_int_eq(load_untouched(&m, path, &err), -1);
		ck_assert_int_eq(nncc_weights_read(&wf, path, &err), -1);
		if (cut < 4)
			continue;
		memcpy(d, b, cut);
		fix_crc(d, cut);
		ck_assert_int_eq(tu_write(path, d, cut), 0);
		ck_assert_int_eq(load_untouched(&m, path, &err), -1);
		ck_assert_msg(strncmp(err.msg, prefix, strlen(prefix)) == 0, "%s", err.msg);
	}
	for (size_t at = 0; at < len; at++) {
		memcpy(d, b, len);
		d[at] ^= 0xff;
		ck_assert_int_eq(tu_write(path, d, len), 0);
		ck_assert_int_eq(load_untouched(&m, path, &err), -1);
		ck_assert_int_eq(nncc_weights_read(&wf, path, &err), -1);
		if (at >= len - 4)
			continue;
		d[at] = b[at] ^ (uint8_t)(1u << (at % 8));
		fix_crc(d, len);
		ck_assert_int_eq(tu_write(path, d, len), 0);
		if (load_untouched(&m, path, &err) == 0) {
			ok++;
			continue;
		}
		ck_assert_msg(strncmp(err.msg, prefix, strlen(prefix)) == 0, "at %zu: %s", at, err.msg);
		if (nncc_weights_read(&wf, path, &err) == 0)
			nncc_weights_file_fini(&wf);
	}
	ck_assert_uint_gt(ok, 0);
	free(b);
	free(d);
	free(path);
}
END_TEST

/* ---- saving */

START_TEST(save_replaces_atomically)
{
	char *path = saved();
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_err_t err = {{0}};
	float second[NP];
	nncc_init_params(&m, NNCC_INIT_NORMAL, 1.0, 1, 2);
	memcpy(second, p32, sizeof second);
	ck_assert_msg(nncc_weights_save(&m, path, NULL, NULL, NULL, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(tu_dir_entries(tu_scratch), 1);
	memset(p32, 0, sizeof p32);
	ck_assert_msg(nncc_weights_load(&m, path, NULL, NULL, NULL, &err) == 0, "%s", err.msg);
	ck_assert(memcmp(second, p32, sizeof second) == 0);
	free(path);
}
END_TEST

START_TEST(save_into_missing_directory)
{
	char *path = tu_path(tu_scratch, "no/such/dir/w"), prefix[600], *p;
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_err_t err = {{0}};
	ck_assert_int_eq(nncc_weights_save(&m, path, NULL, NULL, NULL, &err), -1);
	snprintf(prefix, sizeof prefix, "cannot save weights to %s: cannot create %s.tmp.", path,
	         path);
	ck_assert_msg(strncmp(err.msg, prefix, strlen(prefix)) == 0, "message: %s", err.msg);
	p = strstr(err.msg, ": No such file or directory");
	ck_assert_msg(p && p[strlen(": No such file or directory")] == 0, "message: %s", err.msg);
	ck_assert_int_eq(tu_dir_entries(tu_scratch), 0);
	free(path);
}
END_TEST

/* The target is a directory: refused before a temporary file is made, the
 * directory untouched.  (Until nncc_outfile_open checked, the temporary
 * file was written and the rename failed.) */
START_TEST(save_onto_a_directory_is_refused)
{
	char *path = tu_path(tu_scratch, "w"), *inner;
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_err_t err = {{0}};
	char want[600];
	ck_assert_int_eq(tu_run(NULL, "mkdir '%s'", path), 0);
	inner = tu_path(path, "keep");
	ck_assert_int_eq(tu_write_text(inner, "old"), 0);
	ck_assert_int_eq(nncc_weights_save(&m, path, NULL, NULL, NULL, &err), -1);
	snprintf(want, sizeof want, "cannot save weights to %s: it is a directory", path);
	ck_assert_str_eq(err.msg, want);
	ck_assert_int_eq(tu_dir_entries(tu_scratch), 1);
	ck_assert_int_eq(tu_dir_entries(path), 1);
	free(inner);
	free(path);
}
END_TEST

/* A target that is a device is written in place, never renamed over (as
 * root, a rename replaced /dev/null): /dev/null takes the file, /dev/full's
 * error is reported, and both stay devices. */
START_TEST(save_into_a_device_in_place)
{
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_err_t err = {{0}};
	struct stat st;
	ck_assert_int_eq(nncc_weights_save(&m, "/dev/null", NULL, NULL, NULL, &err), 0);
	ck_assert_int_eq(nncc_weights_save(&m, "/dev/full", NULL, NULL, NULL, &err), -1);
	ck_assert_msg(strstr(err.msg, "No space left on device") != NULL, "message: %s", err.msg);
	ck_assert_int_eq(stat("/dev/null", &st), 0);
	ck_assert(S_ISCHR(st.st_mode));
	ck_assert_int_eq(stat("/dev/full", &st), 0);
	ck_assert(S_ISCHR(st.st_mode));
}
END_TEST

/* Saves m with norm st and checkpoint ck and expects want (a format with
 * "%s" for the path) and no file. */
static void expect_save_fail(const nncc_model_t *m, const nncc_norm_stats_t *st,
                             const nncc_checkpoint_t *ck, const char *want_fmt)
{
	char *path = tu_path(tu_scratch, "w"), want[800];
	nncc_err_t err = {{0}};
	ck_assert_int_eq(nncc_weights_save(m, path, st, NULL, ck, &err), -1);
	snprintf(want, sizeof want, want_fmt, path);
	ck_assert_str_eq(err.msg, want);
	ck_assert_int_eq(tu_dir_entries(tu_scratch), 0);
	free(path);
}

START_TEST(save_rejects_bad_norm)
{
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_norm_stats_t st = {.kind = NNCC_NORM_STANDARDIZE, .dim = 3, .mean = mean4, .std = 1};
	expect_save_fail(&m, &st, NULL,
	                 "cannot save weights to %s: normalisation has 3 means, the network 4 inputs");
	st.kind = 5;
	expect_save_fail(&m, &st, NULL,
	                 "cannot save weights to %s: invalid model (dtype 1, norm kind 5)");
}
END_TEST

/* The writer refuses what the reader would reject. */
START_TEST(save_rejects_bad_checkpoint)
{
	static const char *const names[] = {"", "adam w", "\x7f",
	                                    "0123456789012345678901234567890123456789"};
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_checkpoint_t ck = checkpoint(NNCC_F32, 1, 1);
	uint32_t perm[5];

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		ck = checkpoint(NNCC_F32, 1, 1);
		memcpy(ck.optimizer, names[i], strlen(names[i]) < 32 ? strlen(names[i]) + 1 : 32);
		expect_save_fail(&m, NULL, &ck, "cannot save weights to %s: the optimizer name is not 1 to 31 printable ASCII characters padded with NULs");
	}
	ck = checkpoint(NNCC_F32, 1, 1);
	ck.state = NULL;
	expect_save_fail(&m, NULL, &ck, "cannot save weights to %s: optimizer state is NULL (2 slots)");
	ck = checkpoint(NNCC_F32, 1, 1);
	ck.perm = NULL;
	expect_save_fail(&m, NULL, &ck, "cannot save weights to %s: position perm is NULL (5 entries)");
	ck = checkpoint(NNCC_F32, 1, 1);
	ck.sample = 6;
	expect_save_fail(&m, NULL, &ck, "cannot save weights to %s: training position: sample 6 is past the end of the pass (n_perm 5)");
	ck = checkpoint(NNCC_F32, 0, 1);
	memcpy(perm, perm5, sizeof perm);
	perm[4] = 2;
	ck.perm = perm;
	expect_save_fail(&m, NULL, &ck, "cannot save weights to %s: training position: perm[4] = 2 is repeated (n_perm 5)");
	perm[4] = 9;
	expect_save_fail(&m, NULL, &ck, "cannot save weights to %s: training position: perm[4] = 9 is out of range (n_perm 5)");
	/* Sizes that overflow are refused before anything is read from them. */
	ck = checkpoint(NNCC_F32, 1, 0);
	ck.n_state = SIZE_MAX / 2;
	expect_save_fail(&m, NULL, &ck, "cannot save weights to %s: too large for one file (23 parameters, 9223372036854775807 optimizer state slots, 0 perm entries)");
	ck = checkpoint(NNCC_F32, 0, 1);
	ck.n_perm = SIZE_MAX / 4;
	expect_save_fail(&m, NULL, &ck, "cannot save weights to %s: too large for one file (23 parameters, 0 optimizer state slots, 4611686018427387903 perm entries)");
	ck = checkpoint(NNCC_F32, 1, 1);
	ck.n_state = (SIZE_MAX - 200) / (4 * NP); /* fits in 64 bits, not with the rest */
	expect_save_fail(&m, NULL, &ck, "cannot save weights to %s: too large for one file (23 parameters, 200508087757712515 optimizer state slots, 5 perm entries)");
}
END_TEST

/* RECIPE: saved and read back field by field; a save with batch 0 or a
 * mode flag past 1 is refused, and so is a file that has one. */
START_TEST(recipe_round_trip_and_rejects)
{
	nncc_model_t m = model(NNCC_F32, layers);
	nncc_checkpoint_t ck, got;
	nncc_err_t err = {{0}};
	char *path = tu_path(tu_scratch, "w"), want[400];
	size_t len, at = 48;
	uint8_t *b;

	memset(&ck, 0, sizeof ck);
	ck.has_recipe = 1;
	ck.batch = 20;
	ck.chunks = 12;
	ck.seed = UINT64_MAX;
	ck.whole_passes = 1;
	fill_params(&m);
	ck_assert_msg(nncc_weights_save(&m, path, NULL, NULL, &ck, &err) == 0, "%s", err.msg);
	ck_assert_msg(nncc_weights_load(&m, path, NULL, NULL, &got, &err) == 0, "%s", err.msg);
	ck_assert(got.has_recipe && !got.has_optim && !got.has_position && !got.has_best);
	ck_assert_uint_eq(got.batch, 20);
	ck_assert_uint_eq(got.chunks, 12);
	ck_assert_uint_eq(got.seed, UINT64_MAX);
	ck_assert_int_eq(got.whole_passes, 1);
	nncc_checkpoint_fini(&got);

	/* the flag at payload offset 24 set to 2, the checksum made good */
	b = tu_read_file(path, &len);
	while (memcmp(b + at, "RECIPE\0\0", 8))
		at += 16 + (size_t)b[at + 8] + ((size_t)b[at + 9] << 8) + ((size_t)b[at + 10] << 16);
	b[at + 16 + 24] = 2;
	fix_crc(b, len);
	ck_assert_int_eq(tu_write(path, b, len), 0);
	ck_assert_int_eq(nncc_weights_load(&m, path, NULL, NULL, &got, &err), -1);
	snprintf(want, sizeof want, "file %s: section 'RECIPE' at offset %zu: invalid batch 20 or "
	         "whole_passes flag 2", path, at);
	ck_assert_str_eq(err.msg, want);
	free(b);
	unlink(path);

	ck.whole_passes = 2;
	expect_save_fail(&m, NULL, &ck, "cannot save weights to %s: recipe batch 20, whole_passes 2");
	ck.whole_passes = 0;
	ck.batch = 0;
	expect_save_fail(&m, NULL, &ck, "cannot save weights to %s: recipe batch 0, whole_passes 0");
	free(path);
}
END_TEST

/* torch.nn.init's schemes on one wide layer, W (FI, FO) and b (FO), drawn
 * in double: the sample mean and variance of W within 5 standard errors of
 * the scheme's (a normal's variance has standard error var sqrt(2/n), a
 * U(-a,a)'s a^2 sqrt(4/45/n)), a uniform's draws inside [-a, a] and
 * reaching above 0.999 a.  The spreads are torch's formulas written out. */
#define FI 400
#define FO 300
static double wide[(FI + 1) * FO];

static void expect_scheme(int init, double gain, double spread, int uniform)
{
	const nncc_param_t t[2] = {{"W", 0, FI * FO, FI, FO, 0, FI, FO, gain},
	                           {"b", FI * FO, FO, 1, FO, 1, FI, FO, gain}};
	const nncc_layer_t l = {"wide", "dense", "relu", FI, FO, 2, t};
	nncc_model_t m;
	double n = FI * FO, sum = 0, sq = 0, max = 0, var, want, se;

	memset(&m, 0, sizeof m);
	m.dtype = NNCC_F64;
	m.n_layers = 1;
	m.layers = &l;
	m.n_params = (FI + 1) * FO;
	m.params = wide;
	ck_assert_double_eq_tol(nncc_init_spread(init, 0.1, &t[0]), spread, 1e-15 * spread);
	nncc_init_params(&m, init, 0.1, 0, 5);
	for (size_t k = 0; k < FI * FO; k++) {
		sum += wide[k];
		sq += wide[k] * wide[k];
		max = fmax(max, fabs(wide[k]));
	}
	var = sq / n - (sum / n) * (sum / n);
	want = uniform ? spread * spread / 3 : spread * spread;
	se = uniform ? spread * spread * sqrt(4.0 / 45 / n) : want * sqrt(2 / n);
	ck_assert_msg(fabs(sum / n) < 5 * sqrt(want / n), "%s: mean %g", nncc_init_name(init), sum / n);
	ck_assert_msg(fabs(var - want) < 5 * se, "%s: variance %g, want %g", nncc_init_name(init),
	              var, want);
	if (uniform)
		ck_assert_msg(max <= spread && max > 0.999 * spread, "%s: max %g, bound %g",
		              nncc_init_name(init), max, spread);
	for (size_t k = FI * FO; k < (FI + 1) * FO; k++)
		ck_assert(wide[k] == 0); /* biases: zero */

	/* Drawn biases come from the same distribution, after all of W. */
	nncc_init_params(&m, init, 0.1, 1, 5);
	sq = 0;
	for (size_t k = FI * FO; k < (FI + 1) * FO; k++) {
		ck_assert(!uniform || fabs(wide[k]) <= spread);
		sq += wide[k] * wide[k];
	}
	ck_assert_msg(fabs(sq / FO - want) < 5 * (uniform ? spread * spread * sqrt(4.0 / 45 / FO)
	                                                  : want * sqrt(2.0 / FO)),
	              "%s: bias variance %g, want %g", nncc_init_name(init), sq / FO, want);
}

START_TEST(init_torch_schemes)
{
	const double gains[] = {1.0, 5.0 / 3, sqrt(2.0)};
	for (size_t g = 0; g < sizeof gains / sizeof gains[0]; g++) {
		double x = gains[g] * sqrt(2.0 / (FI + FO)), k = gains[g] / sqrt(FI);
		expect_scheme(NNCC_INIT_XAVIER_UNIFORM, gains[g], sqrt(3.0) * x, 1);
		expect_scheme(NNCC_INIT_XAVIER_NORMAL, gains[g], x, 0);
		expect_scheme(NNCC_INIT_KAIMING_UNIFORM, gains[g], sqrt(3.0) * k, 1);
		expect_scheme(NNCC_INIT_KAIMING_NORMAL, gains[g], k, 0);
	}
	expect_scheme(NNCC_INIT_NORMAL, 1.0, 0.1, 0);
	expect_scheme(NNCC_INIT_UNIFORM, 1.0, 0.1, 1);
}
END_TEST

/* Zero biases draw nothing: the next layer's W takes the draws the
 * biases would have taken. */
START_TEST(init_zero_biases_draw_nothing)
{
	nncc_model_t m = model(NNCC_F64, layers);
	nncc_rng_t r;

	const double a1 = sqrt(3.0) * (1.0 / sqrt(4.0)), a2 = sqrt(3.0) * (1.0 / sqrt(3.0));

	nncc_init_params(&m, NNCC_INIT_KAIMING_UNIFORM, 0.1, 0, 3);
	nncc_rng_seed(&r, 3);
	for (size_t k = 0; k < 12; k++)
		ck_assert(p64[3 + k] == (2.0 * nncc_rng_uniform(&r) - 1.0) * a1);
	for (size_t k = 0; k < 6; k++)
		ck_assert(p64[15 + k] == (2.0 * nncc_rng_uniform(&r) - 1.0) * a2);
	for (size_t k = 0; k < 3; k++)
		ck_assert(p64[k] == 0);
	ck_assert(p64[21] == 0 && p64[22] == 0);
}
END_TEST

static Suite *weights_suite(void)
{
	Suite *s = suite_create("weights");
	TCase *core = tcase_create("init");
	TCase *file = tcase_create("file");
	TCase *bad = tcase_create("reject");
	TCase *damaged = tcase_create("damaged");
	tcase_add_test(core, shape_hash_is_fnv1a_of_canonical_text);
	tcase_add_test(core, init_order_and_values);
	tcase_add_test(core, init_deterministic_per_seed);
	tcase_add_test(core, init_torch_schemes);
	tcase_add_test(core, init_zero_biases_draw_nothing);
	tcase_add_checked_fixture(file, tu_scratch_setup, tu_scratch_teardown);
	tcase_add_checked_fixture(bad, tu_scratch_setup, tu_scratch_teardown);
	tcase_add_checked_fixture(damaged, tu_scratch_setup, tu_scratch_teardown);
	/* Some 2400 small files written and read back: seconds on a slow disk. */
	tcase_set_timeout(damaged, 60);
	tcase_add_test(file, round_trip_f32);
	tcase_add_test(file, round_trip_f64);
	tcase_add_test(file, round_trip_without_norm_and_meta);
	tcase_add_test(file, round_trip_empty_checkpoint);
	tcase_add_test(file, layout_matches_docs);
	tcase_add_test(file, v1_files_still_load);
	tcase_add_test(file, spec_baseline_loads);
	tcase_add_test(file, save_replaces_atomically);
	tcase_add_test(file, save_into_missing_directory);
	tcase_add_test(file, save_onto_a_directory_is_refused);
	tcase_add_test(file, save_into_a_device_in_place);
	tcase_add_test(file, save_rejects_bad_norm);
	tcase_add_test(file, save_rejects_bad_checkpoint);
	tcase_add_test(file, recipe_round_trip_and_rejects);
	tcase_add_test(bad, reject_bad_magic);
	tcase_add_test(bad, reject_nonfinite);
	tcase_add_test(bad, reject_version);
	tcase_add_test(bad, reject_other_network);
	tcase_add_test(bad, reject_dtype);
	tcase_add_test(bad, reject_sizes);
	tcase_add_test(bad, reject_truncated);
	tcase_add_test(bad, reject_flipped_byte);
	tcase_add_test(bad, reject_flipped_header_byte);
	tcase_add_test(bad, reject_trailing_byte);
	tcase_add_test(bad, reject_missing_file);
	tcase_add_test(bad, reject_v1);
	tcase_add_test(bad, reject_structure);
	tcase_add_test(bad, reject_section_order);
	tcase_add_test(bad, reject_norm_meta_params);
	tcase_add_test(bad, reject_optim);
	tcase_add_test(bad, reject_position);
	tcase_add_test(damaged, damaged_files_never_crash);
	suite_add_tcase(s, core);
	suite_add_tcase(s, file);
	suite_add_tcase(s, bad);
	suite_add_tcase(s, damaged);
	return s;
}

int main(void)
{
	return tu_suite_main(weights_suite(), NULL);
}
