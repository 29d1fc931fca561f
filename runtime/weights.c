/*
 * weights.c - parameter initialisation, the network shape hash, and weight
 * files: save (atomic: temp file + fsync + rename, output.c), load into a model, and a
 * model-free reader.  The byte layout is specified in docs/weights.md; every
 * field is little-endian whatever the host.  Saves write format version 2: a
 * header, then tagged sections (NORM, META, PARAMS, and the optional
 * CLASSES, and OPTIM, POSITION, WINDOWS, BEST and RECIPE an exact resume
 * needs), then a CRC-32; version 1 files still read.  A file is read whole
 * and validated (magic, version, CRC-32, then every section) before
 * anything is copied out, so a failed load leaves the model and the
 * caller's structs untouched.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ckd.h"
#include "driver.h"
#include "nncc.h"

#define WTS_MAGIC "NNCCWTS" /* 8 bytes with the NUL */
#define WTS_MAGIC_LEN 8
#define WTS_VERSION 2        /* what saves write */
#define WTS_V1 1             /* still read */
#define WTS_V1_HEADER_LEN 56 /* v1: magic .. norm std; mean[] follows */
#define WTS_HEADER_LEN 48    /* v2: magic .. reserved; sections follow */
#define WTS_SECT_HEAD_LEN 16 /* char tag[8], u64 payload length */
#define WTS_TAG_LEN 8
#define WTS_CRC_LEN 4

/* Fixed parts of the section payloads (v1 has the same NORM fields in its
 * header and the same META fields after mean[]). */
#define NORM_FIXED 16     /* u32 kind, u32 reserved, f64 std; f64 mean[] (and std[]) follow */
#define CLASSES_FIXED 8   /* u32 n_classes, u32 reserved; per class u32 length, bytes */
#define CLASS_NAME_MAX NNCC_CLASS_NAME_MAX
#define CLASSES_MAX 65536
#define META_LEN 16       /* f64 test accuracy, u64 iterations */
#define WTS_NAME_LEN 32   /* OPTIM: char name[32] */
#define OPTIM_FIXED 48    /* name, u64 step, u64 n_state; the state follows */
#define POSITION_FIXED 56 /* u64 epoch, sample, rng[4], n_perm; u32 perm[] follows */
#define RECIPE_LEN 32     /* u64 batch, chunks, seed, u32 whole_passes, reserved */
#define BEST_FIXED 64     /* u64 n_train, n_val, u32 metric, stopped, u64 best_epoch,
                             wait, f64 best_loss, best_accuracy, u64 n_best; reals follow */
#define WINDOWS_FIXED 40  /* u64 window, n_windows, window_pos, window_at, n_wperm; u32
                             order[n_windows], wperm[n_wperm] follow */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* ---- shape hash */

static uint64_t fnv_str(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= FNV_PRIME;
	}
	return h;
}

/* FNV-1a 64 over the canonical text, fed piece by piece:
 *   "nncc-shape " DTYPE " in=" N_INPUTS, then per layer " " LAYER where
 *   LAYER is "KIND:IN:OUT" followed by ":ACTIVATION" for a kind that has
 *   one ("dense:784:50:sigmoid", "softmax:10:10"). */
uint64_t nncc_shape_hash_layers(const nncc_layer_t *layers, size_t n_layers,
                                size_t n_inputs, int dtype)
{
	char num[80];
	uint64_t h = FNV_OFFSET;

	h = fnv_str(h, "nncc-shape ");
	h = fnv_str(h, nncc_dtype_abbr(dtype));
	snprintf(num, sizeof num, " in=%zu", n_inputs);
	h = fnv_str(h, num);
	for (size_t i = 0; i < n_layers; i++) {
		const nncc_layer_t *l = &layers[i];
		h = fnv_str(h, " ");
		h = fnv_str(h, l->kind ? l->kind : "?");
		snprintf(num, sizeof num, ":%zu:%zu", l->in, l->out);
		h = fnv_str(h, num);
		if (l->activation) {
			h = fnv_str(h, ":");
			h = fnv_str(h, l->activation);
		}
	}
	return h;
}

uint64_t nncc_shape_hash(const nncc_model_t *m)
{
	return nncc_shape_hash_layers(m->layers, m->n_layers, m->n_inputs, m->dtype);
}

/* ---- initialisation */

static void put_real(void *params, int dtype, size_t k, double v)
{
	if (dtype == NNCC_F32)
		((float *)params)[k] = (float)v;
	else
		((double *)params)[k] = v;
}

/* torch.nn.init's formulas, in its order of operations: xavier's std =
 * gain * sqrt(2 / (fan_in + fan_out)), kaiming's (mode fan_in) std = gain /
 * sqrt(fan_in), a uniform's bound sqrt(3) * std. */
double nncc_init_spread(int init, double scale, const nncc_param_t *p)
{
	double xavier = p->gain * sqrt(2.0 / (double)(p->fan_in + p->fan_out));
	double kaiming = p->gain / sqrt((double)p->fan_in);

	switch (init) {
	case NNCC_INIT_XAVIER_UNIFORM:
		return sqrt(3.0) * xavier;
	case NNCC_INIT_XAVIER_NORMAL:
		return xavier;
	case NNCC_INIT_KAIMING_UNIFORM:
		return sqrt(3.0) * kaiming;
	case NNCC_INIT_KAIMING_NORMAL:
		return kaiming;
	}
	return scale;
}

/* One rng stream over every layer's parameter tensors in order (a dense
 * layer: all of W in storage order, then b); each value is computed in
 * double and rounded once.  Zero biases draw nothing.  init must be a
 * nncc_init_t (checked by callers). */
void nncc_init_params(const nncc_model_t *m, int init, double scale, int biases,
                      uint64_t seed)
{
	int uniform = init == NNCC_INIT_UNIFORM || init == NNCC_INIT_XAVIER_UNIFORM ||
	              init == NNCC_INIT_KAIMING_UNIFORM;
	nncc_rng_t r;

	nncc_rng_seed(&r, seed);
	for (size_t li = 0; li < m->n_layers; li++) {
		const nncc_layer_t *l = &m->layers[li];
		for (size_t t = 0; t < l->n_tensors; t++) {
			const nncc_param_t *p = &l->tensors[t];
			double spread = nncc_init_spread(init, scale, p);
			for (size_t k = 0; k < p->size; k++) {
				double v = p->bias && !biases ? 0.0
				           : uniform          ? (2.0 * nncc_rng_uniform(&r) - 1.0) * spread
				                              : nncc_rng_normal(&r) * spread;
				put_real(m->params, m->dtype, p->offset + k, v);
			}
		}
	}
}

/* ---- little-endian encoding */

static void le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void f64_put(uint8_t *p, double d)
{
	uint64_t v;
	memcpy(&v, &d, 8);
	le64_put(p, v);
}

static uint32_t le32_get(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t le64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static double f64_get(const uint8_t *p)
{
	uint64_t v = le64_get(p);
	double d;
	memcpy(&d, &v, 8);
	return d;
}

static size_t real_size(int dtype)
{
	return dtype == NNCC_F32 ? 4 : 8;
}

/* CRC-32 of a buffer of any size (zlib's crc32 takes uInt lengths). */
static uint32_t crc_buf(const uint8_t *p, size_t len)
{
	uLong c = crc32(0L, Z_NULL, 0);
	while (len) {
		uInt chunk = len > (1u << 30) ? (1u << 30) : (uInt)len;
		c = crc32(c, p, chunk);
		p += chunk;
		len -= chunk;
	}
	return (uint32_t)c;
}

/* n reals of the dtype between native memory and the file's LE bytes, bit
 * for bit (NaN payloads included). */
static void reals_put(uint8_t *dst, int dtype, const void *src, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (dtype == NNCC_F32) {
			uint32_t u;
			memcpy(&u, (const float *)src + k, 4);
			le32_put(dst + 4 * k, u);
		} else {
			uint64_t u;
			memcpy(&u, (const double *)src + k, 8);
			le64_put(dst + 8 * k, u);
		}
	}
}

static void reals_get(void *dst, int dtype, const uint8_t *src, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (dtype == NNCC_F32) {
			uint32_t u = le32_get(src + 4 * k);
			memcpy((float *)dst + k, &u, 4);
		} else {
			uint64_t u = le64_get(src + 8 * k);
			memcpy((double *)dst + k, &u, 8);
		}
	}
}

/* Entry k of n reals LE, converted exactly to double. */
static double real_get(const uint8_t *p, int dtype, size_t k)
{
	if (dtype == NNCC_F32) {
		uint32_t u = le32_get(p + 4 * k);
		float x;
		memcpy(&x, &u, 4);
		return x;
	}
	return f64_get(p + 8 * k);
}

/* ---- the file image */

/* A parsed, checked file image; pointers point into the caller's buffer.
 * The optional sections are kept as their payloads, already checked, and
 * decoded by ck_from_view. */
typedef struct WtsView {
	int version;
	int dtype;
	uint64_t shape_hash;
	uint64_t n_params, n_inputs;
	int norm_kind;
	double std;
	const uint8_t *mean;     /* n_inputs f64 LE, or NULL */
	const uint8_t *stds;     /* n_inputs f64 LE (standardize_features), or NULL */
	const uint8_t *classes;  /* CLASSES payload, or NULL */
	double test_accuracy;
	uint64_t iterations;
	const uint8_t *params;   /* n_params reals LE */
	const uint8_t *optim;    /* OPTIM payload, or NULL */
	const uint8_t *position; /* POSITION payload, or NULL */
	const uint8_t *best;     /* BEST payload, or NULL */
	const uint8_t *windows;  /* WINDOWS payload, or NULL */
	const uint8_t *recipe;   /* RECIPE payload, or NULL */
} WtsView;

static int norm_kind_valid(uint32_t kind)
{
	return kind == NNCC_NORM_NONE || kind == NNCC_NORM_SCALE || kind == NNCC_NORM_STANDARDIZE ||
	       kind == NNCC_NORM_STANDARDIZE_FEATURES;
}

/* f64s per input a normalisation kind stores: standardize its means,
 * standardize_features its means and stds. */
static uint64_t norm_per_input(int kind)
{
	return kind == NNCC_NORM_STANDARDIZE ? 1 : kind == NNCC_NORM_STANDARDIZE_FEATURES ? 2 : 0;
}

static int dtype_valid(uint32_t dtype)
{
	return dtype == NNCC_F32 || dtype == NNCC_F64;
}

/* Payload sizes the fields imply (shared by the writer and the reader);
 * -1 if the size overflows. */
static int norm_len(int kind, uint64_t n_inputs, uint64_t *len)
{
	uint64_t k;
	return ckd_mul_u64(&k, n_inputs, norm_per_input(kind)) &&
	               ckd_mul_add_u64(len, k, 8, NORM_FIXED) ? 0 : -1;
}

static int params_len(int dtype, uint64_t n_params, uint64_t *len)
{
	return ckd_mul_u64(len, n_params, real_size(dtype)) ? 0 : -1;
}

static int optim_len(int dtype, uint64_t n_params, uint64_t n_state, uint64_t *len)
{
	uint64_t slot;
	if (params_len(dtype, n_params, &slot) < 0)
		return -1;
	return ckd_mul_add_u64(len, n_state, slot, OPTIM_FIXED) ? 0 : -1;
}

static int position_len(uint64_t n_perm, uint64_t *len)
{
	return ckd_mul_add_u64(len, n_perm, 4, POSITION_FIXED) ? 0 : -1;
}

static int windows_len(uint64_t n_windows, uint64_t n_wperm, uint64_t *len)
{
	uint64_t n;
	return ckd_add_u64(&n, n_windows, n_wperm) && ckd_mul_add_u64(len, n, 4, WINDOWS_FIXED)
	               ? 0 : -1;
}

static int best_len(int dtype, uint64_t n_best, uint64_t *len)
{
	return ckd_mul_add_u64(len, n_best, real_size(dtype), BEST_FIXED) ? 0 : -1;
}

/* NULL if the 32 bytes of an OPTIM name are 1 to 31 printable ASCII
 * characters padded with NULs, else what is wrong. */
static const char *optim_name_problem(const uint8_t *name)
{
	size_t n = 0;

	while (n < WTS_NAME_LEN && name[n] > 0x20 && name[n] < 0x7f)
		n++;
	for (size_t i = n; i < WTS_NAME_LEN; i++)
		if (name[i])
			n = 0;
	if (n == 0 || n == WTS_NAME_LEN)
		return "the optimizer name is not 1 to 31 printable ASCII characters padded with NULs";
	return NULL;
}

/* 0 if the POSITION fields agree: sample <= n_perm when there is a
 * permutation, and perm (n_perm u32 LE) is one of 0 .. n_perm-1.  Else -1,
 * with what is wrong in why. */
static int position_problem(char *why, size_t why_len, uint64_t sample, size_t n_perm,
                            const uint8_t *perm)
{
	uint8_t *seen;

	if (n_perm && sample > n_perm) {
		snprintf(why, why_len, "sample %llu is past the end of the pass (n_perm %zu)",
		         (unsigned long long)sample, n_perm);
		return -1;
	}
	seen = calloc(n_perm / 8 + 1, 1);
	if (!seen) {
		snprintf(why, why_len, "out of memory checking a permutation of %zu entries", n_perm);
		return -1;
	}
	for (size_t i = 0; i < n_perm; i++) {
		uint32_t j = le32_get(perm + 4 * i);
		if (j >= n_perm || (seen[j / 8] >> (j % 8) & 1)) {
			snprintf(why, why_len, j >= n_perm ? "perm[%zu] = %u is out of range (n_perm %zu)"
			                                    : "perm[%zu] = %u is repeated (n_perm %zu)",
			         i, (unsigned)j, n_perm);
			free(seen);
			return -1;
		}
		seen[j / 8] |= (uint8_t)(1u << (j % 8));
	}
	free(seen);
	return 0;
}

/* 0 if the CRC-32 at the end of the file holds.  Otherwise says why the
 * file is damaged, from the length its header implies: want (0 if unknown;
 * only a lower bound if at_least). */
static int check_crc(const uint8_t *b, size_t len, size_t want, int at_least, const char *path,
                     nncc_err_t *err)
{
	uint32_t stored = le32_get(b + len - WTS_CRC_LEN), computed = crc_buf(b, len - WTS_CRC_LEN);

	if (stored == computed)
		return 0;
	if (want && len < want) {
		nncc_err_set(err, "file %s: truncated: expected %s%zu bytes, got %zu", path,
		             at_least ? "at least " : "", want, len);
		return -1;
	}
	if (want && !at_least && len > want &&
	    crc_buf(b, want - WTS_CRC_LEN) == le32_get(b + want - WTS_CRC_LEN)) {
		nncc_err_set(err, "file %s: %zu unexpected trailing bytes after the checksum", path,
		             len - want);
		return -1;
	}
	nncc_err_set(err, "file %s: checksum mismatch: the file is damaged (stored CRC-32 0x%08x, computed 0x%08x)",
	             path, (unsigned)stored, (unsigned)computed);
	return -1;
}

/* ---- format version 1 (read only) */

/* Bytes in a v1 file with these fields, or 0 if they are invalid or the size
 * overflows. */
static size_t v1_file_len(uint32_t dtype, uint32_t norm_kind, uint64_t n_inputs, uint64_t n_params)
{
	uint64_t len = WTS_V1_HEADER_LEN + META_LEN + WTS_CRC_LEN;
	size_t out;

	if (!dtype_valid(dtype) || !norm_kind_valid(norm_kind) ||
	    norm_kind == NNCC_NORM_STANDARDIZE_FEATURES)   /* version 2 on */
		return 0;
	if ((norm_kind == NNCC_NORM_STANDARDIZE && !ckd_mul_add_u64(&len, n_inputs, 8, len)) ||
	    !ckd_mul_add_u64(&len, n_params, real_size((int)dtype), len) ||
	    !ckd_size_of_u64(&out, len))
		return 0;
	return out;
}

static int parse_v1(const uint8_t *b, size_t len, const char *path, WtsView *v, nncc_err_t *err)
{
	size_t want, at = WTS_V1_HEADER_LEN;

	if (len < WTS_V1_HEADER_LEN + WTS_CRC_LEN) {
		nncc_err_set(err, "file %s: truncated: %zu bytes, shorter than the header", path, len);
		return -1;
	}
	want = v1_file_len(le32_get(b + 12), le32_get(b + 40), le64_get(b + 32), le64_get(b + 24));
	if (check_crc(b, len, want, 0, path, err) < 0)
		return -1;
	/* The checksum holds, so anything odd below comes from the writer. */
	if (want != len) {
		nncc_err_set(err, "file %s: invalid header (dtype %d, norm kind %d, %zu bytes)", path,
		             (int)le32_get(b + 12), (int)le32_get(b + 40), len);
		return -1;
	}
	v->dtype = (int)le32_get(b + 12);
	v->shape_hash = le64_get(b + 16);
	v->n_params = le64_get(b + 24);
	v->n_inputs = le64_get(b + 32);
	v->norm_kind = (int)le32_get(b + 40);
	v->std = f64_get(b + 48);
	if (v->norm_kind == NNCC_NORM_STANDARDIZE) {
		if (!(v->std > 0 && isfinite(v->std))) {
			nncc_err_set(err, "file %s: invalid normalisation std %g", path, v->std);
			return -1;
		}
		v->mean = b + at;
		at += 8 * v->n_inputs;
	}
	v->test_accuracy = f64_get(b + at);
	v->iterations = le64_get(b + at + 8);
	v->params = b + at + META_LEN;
	return 0;
}

/* ---- format version 2: sections */

/* One section of the file being parsed. */
typedef struct Sect {
	const char *tag;  /* its name from sect_table */
	size_t at;        /* file offset of its header */
	const uint8_t *p; /* payload */
	uint64_t len;     /* payload bytes */
} Sect;

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static void sect_fail(nncc_err_t *err, const char *path, const Sect *s, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	nncc_err_set(err, "file %s: section '%s' at offset %zu: %s", path, s->tag, s->at, why);
}

/* The payload must be exactly (or at least) want bytes. */
static int sect_len_check(const Sect *s, uint64_t want, int at_least, const char *path,
                          nncc_err_t *err)
{
	if (at_least ? s->len >= want : s->len == want)
		return 0;
	sect_fail(err, path, s, "%llu bytes, expected %s%llu", (unsigned long long)s->len,
	          at_least ? "at least " : "", (unsigned long long)want);
	return -1;
}

/* NORM: u32 kind, u32 reserved, f64 std, f64 mean[n_inputs] if standardize. */
static int sect_norm(WtsView *v, const Sect *s, const char *path, nncc_err_t *err)
{
	uint32_t kind;
	uint64_t want;

	if (sect_len_check(s, NORM_FIXED, 1, path, err) < 0)
		return -1;
	kind = le32_get(s->p);
	if (!norm_kind_valid(kind)) {
		sect_fail(err, path, s, "invalid normalisation kind %u", (unsigned)kind);
		return -1;
	}
	if (norm_len((int)kind, v->n_inputs, &want) < 0) {
		sect_fail(err, path, s, "n_inputs %llu is too large", (unsigned long long)v->n_inputs);
		return -1;
	}
	if (sect_len_check(s, want, 0, path, err) < 0)
		return -1;
	v->norm_kind = (int)kind;
	v->std = f64_get(s->p + 8);
	if (kind == NNCC_NORM_STANDARDIZE) {
		if (!(v->std > 0 && isfinite(v->std))) {
			sect_fail(err, path, s, "invalid normalisation std %g", v->std);
			return -1;
		}
		v->mean = s->p + NORM_FIXED;
	}
	if (kind == NNCC_NORM_STANDARDIZE_FEATURES) {
		v->mean = s->p + NORM_FIXED;
		v->stds = v->mean + 8 * v->n_inputs;
		for (uint64_t j = 0; j < v->n_inputs; j++) {
			double sd = f64_get(v->stds + 8 * j);
			if (!(sd > 0 && isfinite(sd))) {
				sect_fail(err, path, s, "invalid normalisation std[%llu] %g",
				          (unsigned long long)j, sd);
				return -1;
			}
		}
	}
	return 0;
}

/* CLASSES: u32 n_classes, u32 reserved, then per class u32 length and its
 * name's bytes: 1..NNCC_CLASS_NAME_MAX of them, no NUL. */
static int sect_classes(WtsView *v, const Sect *s, const char *path, nncc_err_t *err)
{
	uint32_t n;
	uint64_t at = CLASSES_FIXED;

	if (sect_len_check(s, CLASSES_FIXED, 1, path, err) < 0)
		return -1;
	n = le32_get(s->p);
	if (n == 0 || n > CLASSES_MAX) {
		sect_fail(err, path, s, "%u class names (expected 1 to %d)", (unsigned)n, CLASSES_MAX);
		return -1;
	}
	for (uint32_t k = 0; k < n; k++) {
		uint32_t len;
		if (s->len - at < 4) {
			sect_fail(err, path, s, "class %u of %u runs past the section's end", (unsigned)k,
			          (unsigned)n);
			return -1;
		}
		len = le32_get(s->p + at);
		if (len == 0 || len > CLASS_NAME_MAX || s->len - at - 4 < len ||
		    memchr(s->p + at + 4, 0, len)) {
			sect_fail(err, path, s, "class %u: invalid name (%u bytes)", (unsigned)k,
			          (unsigned)len);
			return -1;
		}
		at += 4 + len;
	}
	if (at != s->len) {
		sect_fail(err, path, s, "%llu bytes after the %u class names",
		          (unsigned long long)(s->len - at), (unsigned)n);
		return -1;
	}
	v->classes = s->p;
	return 0;
}

/* META: f64 test accuracy, u64 iterations. */
static int sect_meta(WtsView *v, const Sect *s, const char *path, nncc_err_t *err)
{
	if (sect_len_check(s, META_LEN, 0, path, err) < 0)
		return -1;
	v->test_accuracy = f64_get(s->p);
	v->iterations = le64_get(s->p + 8);
	return 0;
}

/* PARAMS: n_params reals. */
static int sect_params(WtsView *v, const Sect *s, const char *path, nncc_err_t *err)
{
	uint64_t want;

	if (params_len(v->dtype, v->n_params, &want) < 0) {
		sect_fail(err, path, s, "n_params %llu is too large", (unsigned long long)v->n_params);
		return -1;
	}
	if (sect_len_check(s, want, 0, path, err) < 0)
		return -1;
	v->params = s->p;
	return 0;
}

/* OPTIM: char name[32], u64 step, u64 n_state, n_state * n_params reals. */
static int sect_optim(WtsView *v, const Sect *s, const char *path, nncc_err_t *err)
{
	uint64_t n_state, want;
	const char *bad;

	if (sect_len_check(s, OPTIM_FIXED, 1, path, err) < 0)
		return -1;
	bad = optim_name_problem(s->p);
	if (bad) {
		sect_fail(err, path, s, "%s", bad);
		return -1;
	}
	n_state = le64_get(s->p + WTS_NAME_LEN + 8);
	if (optim_len(v->dtype, v->n_params, n_state, &want) < 0) {
		sect_fail(err, path, s, "n_state %llu is too large for %llu parameters",
		          (unsigned long long)n_state, (unsigned long long)v->n_params);
		return -1;
	}
	if (sect_len_check(s, want, 0, path, err) < 0)
		return -1;
	v->optim = s->p;
	return 0;
}

/* POSITION: u64 epoch, u64 sample, u64 rng[4], u64 n_perm, u32 perm[n_perm]. */
static int sect_position(WtsView *v, const Sect *s, const char *path, nncc_err_t *err)
{
	uint64_t n_perm, want;
	char why[160];

	if (sect_len_check(s, POSITION_FIXED, 1, path, err) < 0)
		return -1;
	n_perm = le64_get(s->p + 48);
	if (position_len(n_perm, &want) < 0) {
		sect_fail(err, path, s, "n_perm %llu is too large", (unsigned long long)n_perm);
		return -1;
	}
	if (sect_len_check(s, want, 0, path, err) < 0)
		return -1;
	/* The length check bounds n_perm by the file size. */
	if (position_problem(why, sizeof why, le64_get(s->p + 8), (size_t)n_perm,
	                     s->p + POSITION_FIXED) < 0) {
		sect_fail(err, path, s, "%s", why);
		return -1;
	}
	v->position = s->p;
	return 0;
}

/* BEST: u64 n_train, u64 n_val, u32 metric, u32 stopped, u64 best_epoch,
 * u64 wait, f64 best_loss, f64 best_accuracy, u64 n_best (0 or n_params),
 * n_best reals. */
static int sect_best(WtsView *v, const Sect *s, const char *path, nncc_err_t *err)
{
	uint64_t n_best, want;
	uint32_t metric;

	if (sect_len_check(s, BEST_FIXED, 1, path, err) < 0)
		return -1;
	metric = le32_get(s->p + 16);
	n_best = le64_get(s->p + 56);
	if (!strcmp(nncc_metric_name((int)metric), "?") || le32_get(s->p + 20) > 1) {
		sect_fail(err, path, s, "invalid metric %u or stopped flag %u", (unsigned)metric,
		          (unsigned)le32_get(s->p + 20));
		return -1;
	}
	if (n_best && n_best != v->n_params) {
		sect_fail(err, path, s, "n_best %llu is neither 0 nor n_params %llu",
		          (unsigned long long)n_best, (unsigned long long)v->n_params);
		return -1;
	}
	if (best_len(v->dtype, n_best, &want) < 0 || sect_len_check(s, want, 0, path, err) < 0)
		return -1;
	v->best = s->p;
	return 0;
}

/* RECIPE: u64 batch, u64 chunks, u64 seed, u32 whole_passes (0 or 1),
 * u32 reserved. */
static int sect_recipe(WtsView *v, const Sect *s, const char *path, nncc_err_t *err)
{
	if (sect_len_check(s, RECIPE_LEN, 0, path, err) < 0)
		return -1;
	if (!le64_get(s->p) || le32_get(s->p + 24) > 1) {
		sect_fail(err, path, s, "invalid batch %llu or whole_passes flag %u",
		          (unsigned long long)le64_get(s->p), (unsigned)le32_get(s->p + 24));
		return -1;
	}
	v->recipe = s->p;
	return 0;
}

/* WINDOWS: u64 window, u64 n_windows, u64 window_pos, u64 window_at,
 * u64 n_wperm, u32 order[n_windows], u32 wperm[n_wperm]; after a POSITION
 * whose n_perm is 0 (docs/weights.md). */
static int sect_windows(WtsView *v, const Sect *s, const char *path, nncc_err_t *err)
{
	uint64_t W, n_windows, n_wperm, want;
	char why[160];

	if (sect_len_check(s, WINDOWS_FIXED, 1, path, err) < 0)
		return -1;
	W = le64_get(s->p);
	n_windows = le64_get(s->p + 8);
	n_wperm = le64_get(s->p + 32);
	if (windows_len(n_windows, n_wperm, &want) < 0 || sect_len_check(s, want, 0, path, err) < 0)
		return -1;
	if (!v->position || le64_get(v->position + 48)) {
		sect_fail(err, path, s, "it needs a POSITION section without a permutation");
		return -1;
	}
	if (W == 0 || n_windows < 2 || n_wperm < W || n_wperm - W >= W ||
	    le64_get(s->p + 16) >= n_windows) {
		sect_fail(err, path, s, "inconsistent windows: %llu of %llu samples, %llu permuted, "
		          "window %llu", (unsigned long long)n_windows, (unsigned long long)W,
		          (unsigned long long)n_wperm, (unsigned long long)le64_get(s->p + 16));
		return -1;
	}
	/* The length check bounds the counts by the file size. */
	const uint8_t *order = s->p + WINDOWS_FIXED, *wperm = order + 4 * n_windows;
	if (position_problem(why, sizeof why, 0, (size_t)n_windows, order) < 0 ||
	    position_problem(why, sizeof why, 0, (size_t)W, wperm) < 0 ||
	    position_problem(why, sizeof why, 0, (size_t)(n_wperm - W), wperm + 4 * W) < 0) {
		sect_fail(err, path, s, "%s", why);
		return -1;
	}
	v->windows = s->p;
	return 0;
}

/* ---- format version 2: writing sections */

/* What a save writes, for the section encoders. */
typedef struct SaveIn {
	const nncc_model_t *m;
	int norm_kind;
	const nncc_norm_stats_t *norm;   /* may be NULL: kind none, no classes */
	const nncc_weights_meta_t *meta; /* may be NULL */
	const nncc_checkpoint_t *ck;     /* may be NULL */
} SaveIn;

/* Section encoders: set *len to the payload size and, if p is not NULL,
 * write the payload there.  Return 1 if the section is written, 0 if it is
 * absent, -1 if its size overflows. */
static int enc_norm(uint8_t *p, uint64_t *len, const SaveIn *in)
{
	int kind = in->norm_kind;

	if (norm_len(kind, in->m->n_inputs, len) < 0)
		return -1;
	if (p) {
		le32_put(p, (uint32_t)kind);
		le32_put(p + 4, 0);
		f64_put(p + 8, kind == NNCC_NORM_STANDARDIZE ? in->norm->std : 1.0);
		if (norm_per_input(kind))
			for (size_t j = 0; j < in->m->n_inputs; j++)
				f64_put(p + NORM_FIXED + 8 * j, in->norm->mean[j]);
		if (kind == NNCC_NORM_STANDARDIZE_FEATURES)
			for (size_t j = 0; j < in->m->n_inputs; j++)
				f64_put(p + NORM_FIXED + 8 * (in->m->n_inputs + j), in->norm->stds[j]);
	}
	return 1;
}

static int enc_classes(uint8_t *p, uint64_t *len, const SaveIn *in)
{
	const nncc_norm_stats_t *st = in->norm;

	if (!st || !st->n_classes)
		return 0;
	*len = CLASSES_FIXED;
	for (size_t k = 0; k < st->n_classes; k++)
		*len += 4 + strlen(st->class_names[k]);   /* save_check_classes bounds them */
	if (p) {
		size_t at = CLASSES_FIXED;
		le32_put(p, (uint32_t)st->n_classes);
		le32_put(p + 4, 0);
		for (size_t k = 0; k < st->n_classes; k++) {
			size_t n = strlen(st->class_names[k]);
			le32_put(p + at, (uint32_t)n);
			memcpy(p + at + 4, st->class_names[k], n);
			at += 4 + n;
		}
	}
	return 1;
}

static int enc_meta(uint8_t *p, uint64_t *len, const SaveIn *in)
{
	*len = META_LEN;
	if (p) {
		f64_put(p, in->meta ? in->meta->test_accuracy : NAN);
		le64_put(p + 8, in->meta ? in->meta->iterations : 0);
	}
	return 1;
}

static int enc_params(uint8_t *p, uint64_t *len, const SaveIn *in)
{
	if (params_len(in->m->dtype, in->m->n_params, len) < 0)
		return -1;
	if (p)
		reals_put(p, in->m->dtype, in->m->params, in->m->n_params);
	return 1;
}

/* The name is copied up to its first NUL (at most 32 bytes) and NUL-padded;
 * the save checks the result with optim_name_problem. */
static int enc_optim(uint8_t *p, uint64_t *len, const SaveIn *in)
{
	const nncc_checkpoint_t *ck = in->ck;

	if (!ck || !ck->has_optim)
		return 0;
	if (optim_len(in->m->dtype, in->m->n_params, ck->n_state, len) < 0)
		return -1;
	if (p) {
		memset(p, 0, WTS_NAME_LEN);
		memcpy(p, ck->optimizer, strnlen(ck->optimizer, WTS_NAME_LEN));
		le64_put(p + WTS_NAME_LEN, ck->step);
		le64_put(p + WTS_NAME_LEN + 8, ck->n_state);
		reals_put(p + OPTIM_FIXED, in->m->dtype, ck->state, ck->n_state * in->m->n_params);
	}
	return 1;
}

static int enc_position(uint8_t *p, uint64_t *len, const SaveIn *in)
{
	const nncc_checkpoint_t *ck = in->ck;

	if (!ck || !ck->has_position)
		return 0;
	if (position_len(ck->n_perm, len) < 0)
		return -1;
	if (p) {
		le64_put(p, ck->epoch);
		le64_put(p + 8, ck->sample);
		for (int i = 0; i < 4; i++)
			le64_put(p + 16 + 8 * i, ck->rng[i]);
		le64_put(p + 48, ck->n_perm);
		for (size_t i = 0; i < ck->n_perm; i++)
			le32_put(p + POSITION_FIXED + 4 * i, ck->perm[i]);
	}
	return 1;
}

static int enc_windows(uint8_t *p, uint64_t *len, const SaveIn *in)
{
	const nncc_checkpoint_t *ck = in->ck;

	if (!ck || !ck->has_position || !ck->window)
		return 0;
	if (windows_len(ck->n_windows, ck->n_wperm, len) < 0)
		return -1;
	if (p) {
		le64_put(p, ck->window);
		le64_put(p + 8, ck->n_windows);
		le64_put(p + 16, ck->window_pos);
		le64_put(p + 24, ck->window_at);
		le64_put(p + 32, ck->n_wperm);
		for (size_t i = 0; i < ck->n_windows; i++)
			le32_put(p + WINDOWS_FIXED + 4 * i, ck->order[i]);
		for (size_t i = 0; i < ck->n_wperm; i++)
			le32_put(p + WINDOWS_FIXED + 4 * (ck->n_windows + i), ck->wperm[i]);
	}
	return 1;
}

static int enc_best(uint8_t *p, uint64_t *len, const SaveIn *in)
{
	const nncc_checkpoint_t *ck = in->ck;

	if (!ck || !ck->has_best)
		return 0;
	if (best_len(in->m->dtype, ck->n_best, len) < 0)
		return -1;
	if (p) {
		le64_put(p, ck->n_train);
		le64_put(p + 8, ck->n_val);
		le32_put(p + 16, (uint32_t)ck->metric);
		le32_put(p + 20, (uint32_t)ck->stopped);
		le64_put(p + 24, ck->best_epoch);
		le64_put(p + 32, ck->wait);
		f64_put(p + 40, ck->best_loss);
		f64_put(p + 48, ck->best_accuracy);
		le64_put(p + 56, ck->n_best);
		reals_put(p + BEST_FIXED, in->m->dtype, ck->best, ck->n_best);
	}
	return 1;
}

static int enc_recipe(uint8_t *p, uint64_t *len, const SaveIn *in)
{
	const nncc_checkpoint_t *ck = in->ck;

	if (!ck || !ck->has_recipe)
		return 0;
	*len = RECIPE_LEN;
	if (p) {
		le64_put(p, ck->batch);
		le64_put(p + 8, ck->chunks);
		le64_put(p + 16, ck->seed);
		le32_put(p + 24, (uint32_t)ck->whole_passes);
		le32_put(p + 28, 0);
	}
	return 1;
}

/* ---- format version 2: the section table */

enum {
	SECT_NORM, SECT_CLASSES, SECT_META, SECT_PARAMS, SECT_OPTIM, SECT_POSITION, SECT_WINDOWS,
	SECT_BEST, SECT_RECIPE, N_SECT
};

/* The sections in their file order.  tag is NUL-padded to 8 bytes as in the
 * file ("POSITION" uses all 8). */
static const struct {
	char tag[WTS_TAG_LEN + 1];
	int required;
	int (*parse)(WtsView *v, const Sect *s, const char *path, nncc_err_t *err);
	int (*encode)(uint8_t *p, uint64_t *len, const SaveIn *in);
} sect_table[N_SECT] = {
	[SECT_NORM] = {"NORM", 1, sect_norm, enc_norm},
	[SECT_CLASSES] = {"CLASSES", 0, sect_classes, enc_classes},
	[SECT_META] = {"META", 1, sect_meta, enc_meta},
	[SECT_PARAMS] = {"PARAMS", 1, sect_params, enc_params},
	[SECT_OPTIM] = {"OPTIM", 0, sect_optim, enc_optim},
	[SECT_POSITION] = {"POSITION", 0, sect_position, enc_position},
	[SECT_WINDOWS] = {"WINDOWS", 0, sect_windows, enc_windows},
	[SECT_BEST] = {"BEST", 0, sect_best, enc_best},
	[SECT_RECIPE] = {"RECIPE", 0, sect_recipe, enc_recipe},
};

static int sect_find(const uint8_t *tag)
{
	for (size_t k = 0; k < N_SECT; k++)
		if (memcmp(tag, sect_table[k].tag, WTS_TAG_LEN) == 0)
			return (int)k;
	return -1;
}

/* A file's tag as text: up to its last non-NUL byte, other than printable
 * ASCII as \xNN.  out has room for 4*8+1 bytes. */
static void tag_text(char *out, const uint8_t *tag)
{
	int n = WTS_TAG_LEN;

	while (n > 0 && !tag[n - 1])
		n--;
	for (int i = 0; i < n; i++)
		out += tag[i] > 0x20 && tag[i] < 0x7f ? sprintf(out, "%c", tag[i])
		                                      : sprintf(out, "\\x%02x", tag[i]);
	*out = 0;
}

/* "NORM, META, ..." into out (room for N_SECT * 10 bytes). */
static void sect_order_text(char *out)
{
	for (size_t k = 0; k < N_SECT; k++)
		out += sprintf(out, "%s%s", k ? ", " : "", sect_table[k].tag);
}

/* The file length that n_sect section headers imply, read as far as the
 * bytes go: exact, a lower bound (*at_least) if they run off the end, or 0
 * if a length overflows.  Only used to say why a checksum fails. */
static size_t v2_extent(const uint8_t *b, size_t len, uint32_t n_sect, int *at_least)
{
	size_t at = WTS_HEADER_LEN;

	*at_least = 0;
	for (uint32_t i = 0; i < n_sect; i++) {
		uint64_t plen;
		if (at > len || len - at < WTS_SECT_HEAD_LEN + WTS_CRC_LEN) {
			*at_least = 1;
			return at + WTS_SECT_HEAD_LEN + WTS_CRC_LEN;
		}
		plen = le64_get(b + at + 8);
		/* Leaves room for the next section header and the CRC. */
		if (plen > SIZE_MAX - at - 2 * (WTS_SECT_HEAD_LEN + WTS_CRC_LEN))
			return 0;
		at += WTS_SECT_HEAD_LEN + (size_t)plen;
	}
	return at + WTS_CRC_LEN;
}

static int parse_v2(const uint8_t *b, size_t len, const char *path, WtsView *v, nncc_err_t *err)
{
	uint32_t n_sect, dtype;
	size_t at = WTS_HEADER_LEN, end, want;
	int at_least, last = -1;
	unsigned seen = 0;

	if (len < WTS_HEADER_LEN + WTS_CRC_LEN) {
		nncc_err_set(err, "file %s: truncated: %zu bytes, shorter than the header", path, len);
		return -1;
	}
	n_sect = le32_get(b + 40);
	want = v2_extent(b, len, n_sect, &at_least);
	if (check_crc(b, len, want, at_least, path, err) < 0)
		return -1;
	/* The checksum holds, so anything odd below comes from the writer. */
	dtype = le32_get(b + 12);
	if (!dtype_valid(dtype)) {
		nncc_err_set(err, "file %s: invalid dtype %u (1 = f32, 2 = f64)", path, (unsigned)dtype);
		return -1;
	}
	v->dtype = (int)dtype;
	v->shape_hash = le64_get(b + 16);
	v->n_params = le64_get(b + 24);
	v->n_inputs = le64_get(b + 32);
	end = len - WTS_CRC_LEN;
	for (uint32_t i = 0; i < n_sect; i++) {
		char text[4 * WTS_TAG_LEN + 1];
		uint64_t plen = 0;
		int k;

		if (end - at < WTS_SECT_HEAD_LEN ||
		    (plen = le64_get(b + at + 8)) > end - at - WTS_SECT_HEAD_LEN) {
			nncc_err_set(err, "file %s: section %u of %u (at offset %zu) runs past the checksum at offset %zu",
			             path, (unsigned)i + 1, (unsigned)n_sect, at, end);
			return -1;
		}
		k = sect_find(b + at);
		if (k < 0) {
			tag_text(text, b + at);
			nncc_err_set(err, "file %s: unknown section '%s' at offset %zu", path, text, at);
			return -1;
		}
		if (seen >> k & 1) {
			nncc_err_set(err, "file %s: repeated section '%s' at offset %zu", path,
			             sect_table[k].tag, at);
			return -1;
		}
		if (k < last) {
			char order[N_SECT * (WTS_TAG_LEN + 2)];
			sect_order_text(order);
			nncc_err_set(err, "file %s: section '%s' at offset %zu is out of order (the order is %s)",
			             path, sect_table[k].tag, at, order);
			return -1;
		}
		Sect s = {sect_table[k].tag, at, b + at + WTS_SECT_HEAD_LEN, plen};
		if (sect_table[k].parse(v, &s, path, err) < 0)
			return -1;
		seen |= 1u << k;
		last = k;
		at += WTS_SECT_HEAD_LEN + (size_t)plen;
	}
	if (at != end) {
		nncc_err_set(err, "file %s: %zu bytes between the last of the %u sections and the checksum",
		             path, end - at, (unsigned)n_sect);
		return -1;
	}
	for (size_t k = 0; k < N_SECT; k++)
		if (sect_table[k].required && !(seen >> k & 1)) {
			nncc_err_set(err, "file %s: missing section '%s'", path, sect_table[k].tag);
			return -1;
		}
	return 0;
}

static int wts_parse(const uint8_t *b, size_t len, const char *path, WtsView *v, nncc_err_t *err)
{
	uint32_t version;

	memset(v, 0, sizeof *v);
	if (len == 0) {
		nncc_err_set(err, "file %s: not an nncc weight file (empty)", path);
		return -1;
	}
	if (memcmp(b, WTS_MAGIC, len < WTS_MAGIC_LEN ? len : WTS_MAGIC_LEN) != 0) {
		nncc_err_set(err, "file %s: not an nncc weight file (bad magic)", path);
		return -1;
	}
	if (len < 12) {
		nncc_err_set(err, "file %s: truncated: %zu bytes, shorter than the header", path, len);
		return -1;
	}
	version = le32_get(b + 8);
	if (version != WTS_V1 && version != WTS_VERSION) {
		nncc_err_set(err, "file %s: unsupported weight file version %u (this nncc reads versions %d and %d)",
		             path, (unsigned)version, WTS_V1, WTS_VERSION);
		return -1;
	}
	v->version = (int)version;
	return version == WTS_V1 ? parse_v1(b, len, path, v, err) : parse_v2(b, len, path, v, err);
}

/* Reads a whole file into a new buffer. */
static int read_file(const char *path, uint8_t **out, size_t *out_len, nncc_err_t *err)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16, len = 0, r;
	uint8_t *buf;

	if (!f) {
		nncc_err_set(err, "file %s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	buf = malloc(cap);
	if (!buf)
		goto oom;
	while ((r = fread(buf + len, 1, cap - len, f)) > 0) {
		len += r;
		if (len == cap) {
			uint8_t *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
			if (!nb)
				goto oom;
			buf = nb;
			cap *= 2;
		}
	}
	if (ferror(f)) {
		nncc_err_set(err, "file %s: read error: %s", path, strerror(errno));
		goto fail;
	}
	fclose(f);
	*out = buf;
	*out_len = len;
	return 0;
oom:
	nncc_err_set(err, "file %s: out of memory reading it", path);
fail:
	free(buf);
	fclose(f);
	return -1;
}

/* ---- copying out of a view */

/* n f64s of a view, allocated (NULL when p is). */
static int f64s_from_view(double **out, const uint8_t *p, uint64_t n)
{
	*out = NULL;
	if (!p)
		return 0;
	/* n is bounded by the file size. */
	if (!(*out = malloc((n ? (size_t)n : 1) * sizeof **out)))
		return -1;
	for (size_t j = 0; j < n; j++)
		(*out)[j] = f64_get(p + 8 * j);
	return 0;
}

/* st receives a copy of the view's statistics and class names (allocated). */
static int norm_from_view(nncc_norm_stats_t *st, const WtsView *v, const char *path,
                          nncc_err_t *err)
{
	memset(st, 0, sizeof *st);
	st->kind = v->norm_kind;
	st->dim = (size_t)v->n_inputs;
	st->std = v->mean && !v->stds ? v->std : 1;
	if (f64s_from_view(&st->mean, v->mean, v->n_inputs) < 0 ||
	    f64s_from_view(&st->stds, v->stds, v->n_inputs) < 0)
		goto oom;
	if (v->classes) {
		size_t n = le32_get(v->classes), at = CLASSES_FIXED;
		if (!(st->class_names = calloc(n, sizeof *st->class_names)))
			goto oom;
		st->n_classes = n;
		for (size_t k = 0; k < n; k++) {
			size_t len = le32_get(v->classes + at);
			if (!(st->class_names[k] = malloc(len + 1)))
				goto oom;
			memcpy(st->class_names[k], v->classes + at + 4, len);
			st->class_names[k][len] = 0;
			at += 4 + len;
		}
	}
	return 0;
oom:
	nncc_norm_fini(st);
	nncc_err_set(err, "file %s: out of memory for the normalisation of %llu inputs and the "
	             "class names", path, (unsigned long long)v->n_inputs);
	return -1;
}

/* c receives the view's OPTIM, POSITION, BEST and RECIPE, zeroed when
 * absent; the state and best weights (in the file's dtype) and perm are
 * allocated, NULL when empty.  The sections were checked, so their sizes
 * are bounded by the file size. */
static int ck_from_view(nncc_checkpoint_t *c, const WtsView *v, const char *path,
                        nncc_err_t *err)
{
	memset(c, 0, sizeof *c);
	if (v->optim) {
		const uint8_t *p = v->optim;
		size_t n_state = (size_t)le64_get(p + WTS_NAME_LEN + 8), n;
		if (!ckd_mul_size(&n, n_state, (size_t)v->n_params))   /* sect_optim bounds it */
			goto oom;
		c->has_optim = 1;
		memcpy(c->optimizer, p, WTS_NAME_LEN);
		c->step = le64_get(p + WTS_NAME_LEN);
		c->n_state = n_state;
		if (n && !(c->state = malloc(n * real_size(v->dtype))))
			goto oom;
		reals_get(c->state, v->dtype, p + OPTIM_FIXED, n);
	}
	if (v->position) {
		const uint8_t *p = v->position;
		c->has_position = 1;
		c->epoch = le64_get(p);
		c->sample = le64_get(p + 8);
		for (int i = 0; i < 4; i++)
			c->rng[i] = le64_get(p + 16 + 8 * i);
		c->n_perm = (size_t)le64_get(p + 48);
		if (c->n_perm && !(c->perm = malloc(c->n_perm * sizeof *c->perm)))
			goto oom;
		for (size_t i = 0; i < c->n_perm; i++)
			c->perm[i] = le32_get(p + POSITION_FIXED + 4 * i);
	}
	if (v->windows) {
		const uint8_t *p = v->windows;
		c->window = (size_t)le64_get(p);
		c->n_windows = (size_t)le64_get(p + 8);
		c->window_pos = le64_get(p + 16);
		c->window_at = le64_get(p + 24);
		c->n_wperm = (size_t)le64_get(p + 32);
		if (!(c->order = malloc(c->n_windows * sizeof *c->order)) ||
		    !(c->wperm = malloc(c->n_wperm * sizeof *c->wperm)))
			goto oom;
		for (size_t i = 0; i < c->n_windows; i++)
			c->order[i] = le32_get(p + WINDOWS_FIXED + 4 * i);
		for (size_t i = 0; i < c->n_wperm; i++)
			c->wperm[i] = le32_get(p + WINDOWS_FIXED + 4 * (c->n_windows + i));
	}
	if (v->best) {
		const uint8_t *p = v->best;
		c->has_best = 1;
		c->n_train = le64_get(p);
		c->n_val = le64_get(p + 8);
		c->metric = (int)le32_get(p + 16);
		c->stopped = (int)le32_get(p + 20);
		c->best_epoch = le64_get(p + 24);
		c->wait = le64_get(p + 32);
		c->best_loss = f64_get(p + 40);
		c->best_accuracy = f64_get(p + 48);
		c->n_best = (size_t)le64_get(p + 56);
		if (c->n_best && !(c->best = malloc(c->n_best * real_size(v->dtype))))
			goto oom;
		reals_get(c->best, v->dtype, p + BEST_FIXED, c->n_best);
	}
	if (v->recipe) {
		c->has_recipe = 1;
		c->batch = le64_get(v->recipe);
		c->chunks = le64_get(v->recipe + 8);
		c->seed = le64_get(v->recipe + 16);
		c->whole_passes = (int)le32_get(v->recipe + 24);
	}
	return 0;
oom:
	nncc_err_set(err, "file %s: out of memory for the optimizer state and training position",
	             path);
	nncc_checkpoint_fini(c);
	return -1;
}

void nncc_checkpoint_fini(nncc_checkpoint_t *ck)
{
	if (!ck)
		return;
	free(ck->state);
	free(ck->perm);
	free(ck->order);
	free(ck->wperm);
	free(ck->best);
	memset(ck, 0, sizeof *ck);
}

/* ---- save */

/* Checks what the encoders cannot: the caller's pointers, and after encoding
 * the optimizer name and the position, with the reader's own checks. */
static int save_check_ck(const nncc_model_t *m, const nncc_checkpoint_t *ck, const char *path,
                         nncc_err_t *err)
{
	if (!ck)
		return 0;
	if (ck->has_optim && ck->n_state && !ck->state) {
		nncc_err_set(err, "cannot save weights to %s: optimizer state is NULL (%zu slots)", path,
		             ck->n_state);
		return -1;
	}
	if (ck->has_position && ck->n_perm && !ck->perm) {
		nncc_err_set(err, "cannot save weights to %s: position perm is NULL (%zu entries)", path,
		             ck->n_perm);
		return -1;
	}
	if (ck->has_position && ck->window &&
	    (ck->n_perm || !ck->order || !ck->wperm || ck->n_windows < 2 || ck->n_wperm < ck->window)) {
		nncc_err_set(err, "cannot save weights to %s: inconsistent windows (%zu of %zu samples, "
		             "%zu permuted, n_perm %zu)", path, ck->n_windows, ck->window, ck->n_wperm,
		             ck->n_perm);
		return -1;
	}
	if (ck->has_best && ck->n_best && (ck->n_best != m->n_params || !ck->best)) {
		nncc_err_set(err, "cannot save weights to %s: %zu best weights%s, the network has "
		             "%zu parameters", path, ck->n_best, ck->best ? "" : " at NULL", m->n_params);
		return -1;
	}
	if (ck->has_best && !strcmp(nncc_metric_name(ck->metric), "?")) {
		nncc_err_set(err, "cannot save weights to %s: unknown metric %d", path, ck->metric);
		return -1;
	}
	if (ck->has_recipe && (!ck->batch || (unsigned)ck->whole_passes > 1)) {
		nncc_err_set(err, "cannot save weights to %s: recipe batch %llu, whole_passes %d", path,
		             (unsigned long long)ck->batch, ck->whole_passes);
		return -1;
	}
	return 0;
}

static int save_check_encoded(const uint8_t *optim, const uint8_t *position, const char *path,
                              nncc_err_t *err)
{
	char why[160];
	const char *bad = optim ? optim_name_problem(optim) : NULL;

	if (bad) {
		nncc_err_set(err, "cannot save weights to %s: %s", path, bad);
		return -1;
	}
	if (position && position_problem(why, sizeof why, le64_get(position + 8),
	                                 (size_t)le64_get(position + 48),
	                                 position + POSITION_FIXED) < 0) {
		nncc_err_set(err, "cannot save weights to %s: training position: %s", path, why);
		return -1;
	}
	return 0;
}

/* The class names a save writes: at most n_outputs, each 1..NNCC_CLASS_NAME_MAX
 * bytes. */
static int save_check_classes(const nncc_model_t *m, const nncc_norm_stats_t *st,
                              const char *path, nncc_err_t *err)
{
	if (st->n_classes > m->n_outputs || (st->n_classes && !st->class_names)) {
		nncc_err_set(err, "cannot save weights to %s: %zu class names for %zu outputs", path,
		             st->n_classes, m->n_outputs);
		return -1;
	}
	for (size_t k = 0; k < st->n_classes; k++) {
		size_t n = strlen(st->class_names[k]);
		if (n == 0 || n > CLASS_NAME_MAX) {
			nncc_err_set(err, "cannot save weights to %s: class %zu's name has %zu bytes "
			             "(1 to %d)", path, k, n, CLASS_NAME_MAX);
			return -1;
		}
	}
	return 0;
}

int nncc_weights_save(const nncc_model_t *m, const char *path, const nncc_norm_stats_t *norm,
                      const nncc_weights_meta_t *meta, const nncc_checkpoint_t *ck,
                      nncc_err_t *err)
{
	SaveIn in = {m, norm ? norm->kind : NNCC_NORM_NONE, norm, meta, ck};
	uint64_t plen[N_SECT];
	int present[N_SECT];
	size_t len = WTS_HEADER_LEN + WTS_CRC_LEN, at = WTS_HEADER_LEN, payload[N_SECT] = {0};
	uint32_t n_sect = 0;
	uint8_t *b;
	int rc;

	if (!dtype_valid((uint32_t)m->dtype) || !norm_kind_valid((uint32_t)in.norm_kind)) {
		nncc_err_set(err, "cannot save weights to %s: invalid model (dtype %d, norm kind %d)",
		             path, m->dtype, in.norm_kind);
		return -1;
	}
	if (norm_per_input(in.norm_kind) &&
	    (norm->dim != m->n_inputs || !norm->mean ||
	     (in.norm_kind == NNCC_NORM_STANDARDIZE_FEATURES && !norm->stds))) {
		nncc_err_set(err, "cannot save weights to %s: normalisation has %zu means, the network %zu inputs",
		             path, norm->mean ? norm->dim : 0, m->n_inputs);
		return -1;
	}
	if (norm && save_check_classes(m, norm, path, err) < 0)
		return -1;
	if (save_check_ck(m, ck, path, err) < 0)
		return -1;
	for (size_t k = 0; k < N_SECT; k++) {
		present[k] = sect_table[k].encode(NULL, &plen[k], &in);
		if (present[k] < 0 ||
		    (present[k] && plen[k] > SIZE_MAX - len - WTS_SECT_HEAD_LEN)) {
			nncc_err_set(err, "cannot save weights to %s: too large for one file (%zu parameters, %zu optimizer state slots, %zu perm entries)",
			             path, m->n_params, ck && ck->has_optim ? ck->n_state : 0,
			             ck && ck->has_position ? ck->n_perm : 0);
			return -1;
		}
		if (present[k]) {
			len += WTS_SECT_HEAD_LEN + (size_t)plen[k];
			n_sect++;
		}
	}
	b = calloc(1, len);
	if (!b) {
		nncc_err_set(err, "cannot save weights to %s: out of memory (%zu bytes)", path, len);
		return -1;
	}
	memcpy(b, WTS_MAGIC, WTS_MAGIC_LEN);
	le32_put(b + 8, WTS_VERSION);
	le32_put(b + 12, (uint32_t)m->dtype);
	le64_put(b + 16, nncc_shape_hash(m));
	le64_put(b + 24, m->n_params);
	le64_put(b + 32, m->n_inputs);
	le32_put(b + 40, n_sect);
	le32_put(b + 44, 0);
	for (size_t k = 0; k < N_SECT; k++) {
		if (!present[k])
			continue;
		memcpy(b + at, sect_table[k].tag, WTS_TAG_LEN);
		le64_put(b + at + 8, plen[k]);
		payload[k] = at + WTS_SECT_HEAD_LEN;
		sect_table[k].encode(b + payload[k], &plen[k], &in);
		at += WTS_SECT_HEAD_LEN + (size_t)plen[k];
	}
	if (save_check_encoded(present[SECT_OPTIM] ? b + payload[SECT_OPTIM] : NULL,
	                       present[SECT_POSITION] ? b + payload[SECT_POSITION] : NULL, path,
	                       err) < 0) {
		free(b);
		return -1;
	}
	le32_put(b + len - WTS_CRC_LEN, crc_buf(b, len - WTS_CRC_LEN));
	rc = nncc_write_whole(path, "cannot save weights to", b, len, err);
	free(b);
	return rc;
}

/* ---- load and read */

/* The first of n reals (LE, the dtype's) that is NaN or infinite: its
 * index, or n when they all are finite. */
static size_t first_nonfinite(const uint8_t *p, int dtype, size_t n)
{
	size_t k = 0;
	while (k < n && isfinite(real_get(p, dtype, k)))
		k++;
	return k;
}

/* "nan", "inf" or "-inf" (printf gives "-nan" for some NaNs). */
static const char *nonfinite_name(double x)
{
	return isnan(x) ? "nan" : x > 0 ? "inf" : "-inf";
}

/* Where parameter k of m is, as 'layer 1 "hidden", W[2][1]' (a vector's
 * element as b[5]). */
static void param_place(char *buf, size_t len, const nncc_model_t *m, size_t k)
{
	for (size_t li = 0; li < m->n_layers; li++) {
		const nncc_layer_t *l = &m->layers[li];
		for (size_t t = 0; t < l->n_tensors; t++) {
			const nncc_param_t *p = &l->tensors[t];
			size_t e = k - p->offset;
			if (k < p->offset || e >= p->size)
				continue;
			if (p->rows > 1 && p->cols)
				snprintf(buf, len, "layer %zu \"%s\", %s[%zu][%zu]", li + 1, l->name, p->name,
				         e / p->cols, e % p->cols);
			else
				snprintf(buf, len, "layer %zu \"%s\", %s[%zu]", li + 1, l->name, p->name, e);
			return;
		}
	}
	snprintf(buf, len, "in no tensor");
}

/* A weight file holds finite numbers only: a NaN or an infinity in the
 * weights, in the optimizer state or early stopping's best weights a
 * checkpoint brings, or in the normalisation's means (a diverged training
 * saved by hand, or a file edited with a valid CRC) would train or
 * evaluate to NaN without a word.  0, or -1 naming the first one. */
static int check_finite(const WtsView *v, const nncc_model_t *m, int with_ck, const char *path,
                        nncc_err_t *err)
{
	size_t n = m->n_params, k, n_state = 0;
	char place[160];
	const char *why = "a weight file must hold finite numbers (did the training that wrote it "
	                  "diverge?)";

	if ((k = first_nonfinite(v->params, v->dtype, n)) < n) {
		param_place(place, sizeof place, m, k);
		nncc_err_set(err, "file %s: parameter %zu (%s) is %s: %s", path, k, place,
		             nonfinite_name(real_get(v->params, v->dtype, k)), why);
		return -1;
	}
	/* (sect_norm refused a non-finite or non-positive std[j].) */
	if (v->mean && (k = first_nonfinite(v->mean, NNCC_F64, (size_t)v->n_inputs)) < v->n_inputs) {
		nncc_err_set(err, "file %s: normalisation mean[%zu] is %s: %s", path, k,
		             nonfinite_name(f64_get(v->mean + 8 * k)), why);
		return -1;
	}
	if (with_ck && v->optim)
		n_state = (size_t)le64_get(v->optim + WTS_NAME_LEN + 8);
	for (size_t slot = 0; slot < n_state; slot++) {
		const uint8_t *p = v->optim + OPTIM_FIXED + slot * n * real_size(v->dtype);
		if ((k = first_nonfinite(p, v->dtype, n)) < n) {
			param_place(place, sizeof place, m, k);
			nncc_err_set(err, "file %s: optimizer state slot %zu of parameter %zu (%s) is %s: %s",
			             path, slot, k, place, nonfinite_name(real_get(p, v->dtype, k)), why);
			return -1;
		}
	}
	if (with_ck && v->best && le64_get(v->best + 56) &&
	    (k = first_nonfinite(v->best + BEST_FIXED, v->dtype, n)) < n) {
		param_place(place, sizeof place, m, k);
		nncc_err_set(err, "file %s: early stopping's best weights: parameter %zu (%s) is %s: %s",
		             path, k, place, nonfinite_name(real_get(v->best + BEST_FIXED, v->dtype, k)),
		             why);
		return -1;
	}
	return 0;
}

int nncc_weights_load(const nncc_model_t *m, const char *path, nncc_norm_stats_t *norm,
                      nncc_weights_meta_t *meta, nncc_checkpoint_t *ck, nncc_err_t *err)
{
	uint8_t *b = NULL;
	size_t len;
	WtsView v;
	uint64_t hash = nncc_shape_hash(m);
	nncc_norm_stats_t st = {0};
	nncc_checkpoint_t c;

	if (read_file(path, &b, &len, err) < 0)
		return -1;
	if (wts_parse(b, len, path, &v, err) < 0)
		goto fail;
	if (v.dtype != m->dtype) {
		nncc_err_set(err, "file %s holds %s weights, but this network uses %s", path,
		             nncc_dtype_abbr(v.dtype), nncc_dtype_abbr(m->dtype));
		goto fail;
	}
	if (v.shape_hash != hash) {
		nncc_err_set(err, "file %s was saved for another network (shape hash 0x%016llx, this network 0x%016llx)",
		             path, (unsigned long long)v.shape_hash, (unsigned long long)hash);
		goto fail;
	}
	if (v.n_params != m->n_params || v.n_inputs != m->n_inputs) {
		nncc_err_set(err, "file %s has %llu parameters and %llu inputs, this network %zu and %zu",
		             path, (unsigned long long)v.n_params, (unsigned long long)v.n_inputs,
		             m->n_params, m->n_inputs);
		goto fail;
	}
	if (v.classes && le32_get(v.classes) > m->n_outputs) {
		nncc_err_set(err, "file %s names %u classes, this network has %zu outputs", path,
		             (unsigned)le32_get(v.classes), m->n_outputs);
		goto fail;
	}
	if (check_finite(&v, m, ck != NULL, path, err) < 0)
		goto fail;
	if (norm && norm_from_view(&st, &v, path, err) < 0)
		goto fail;
	if (ck && ck_from_view(&c, &v, path, err) < 0) {
		nncc_norm_fini(&st);
		goto fail;
	}
	/* Nothing fails from here: the model and the out-structs change together. */
	reals_get(m->params, m->dtype, v.params, m->n_params);
	if (norm)
		*norm = st;
	if (meta) {
		meta->test_accuracy = v.test_accuracy;
		meta->iterations = v.iterations;
	}
	if (ck)
		*ck = c;
	free(b);
	return 0;
fail:
	free(b);
	return -1;
}

int nncc_weights_read(nncc_weights_file_t *wf, const char *path, nncc_err_t *err)
{
	uint8_t *b = NULL;
	size_t len;
	WtsView v;

	memset(wf, 0, sizeof *wf);
	if (read_file(path, &b, &len, err) < 0)
		return -1;
	if (wts_parse(b, len, path, &v, err) < 0)
		goto fail;
	/* The PARAMS check bounds n_params by the file size. */
	wf->params = malloc((v.n_params ? (size_t)v.n_params : 1) * sizeof *wf->params);
	if (!wf->params) {
		nncc_err_set(err, "file %s: out of memory for %llu parameters", path,
		             (unsigned long long)v.n_params);
		goto fail;
	}
	if (norm_from_view(&wf->norm, &v, path, err) < 0 || ck_from_view(&wf->ck, &v, path, err) < 0)
		goto fail;
	for (size_t k = 0; k < v.n_params; k++)
		wf->params[k] = real_get(v.params, v.dtype, k);
	wf->version = v.version;
	wf->dtype = v.dtype;
	wf->shape_hash = v.shape_hash;
	wf->n_params = (size_t)v.n_params;
	wf->meta.test_accuracy = v.test_accuracy;
	wf->meta.iterations = v.iterations;
	free(b);
	return 0;
fail:
	free(b);
	nncc_weights_file_fini(wf);
	return -1;
}

void nncc_weights_file_fini(nncc_weights_file_t *wf)
{
	if (!wf)
		return;
	free(wf->params);
	nncc_norm_fini(&wf->norm);
	nncc_checkpoint_fini(&wf->ck);
	memset(wf, 0, sizeof *wf);
}
