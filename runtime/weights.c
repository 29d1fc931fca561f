/*
 * weights.c - parameter initialisation, the network shape hash, and weight
 * files: save (atomic: temp file + fsync + rename), load into a model, and a
 * model-free reader.  The byte layout is specified in docs/weights.md; every
 * field is little-endian whatever the host.  A file is read whole and
 * validated (magic, version, length, CRC-32) before anything is copied out,
 * so a failed load leaves the model and the caller's structs untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "nncc.h"

#define WTS_MAGIC "NNCCWTS" /* 8 bytes with the NUL */
#define WTS_MAGIC_LEN 8
#define WTS_VERSION 1
#define WTS_HEADER_LEN 56 /* magic .. norm std; mean[] follows */

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

/* One rng stream over every layer's parameter tensors in order (a dense
 * layer: all of W in storage order, then b); each value is computed in
 * double and rounded once.  init must be NNCC_INIT_NORMAL or
 * NNCC_INIT_UNIFORM (checked by callers). */
void nncc_init_params(const nncc_model_t *m, int init, double scale, uint64_t seed)
{
	nncc_rng_t r;

	nncc_rng_seed(&r, seed);
	for (size_t li = 0; li < m->n_layers; li++) {
		const nncc_layer_t *l = &m->layers[li];
		for (size_t t = 0; t < l->n_tensors; t++) {
			const nncc_param_t *p = &l->tensors[t];
			for (size_t k = 0; k < p->size; k++) {
				double v = init == NNCC_INIT_UNIFORM
				                   ? (2.0 * nncc_rng_uniform(&r) - 1.0) * scale
				                   : nncc_rng_normal(&r) * scale;
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

/* ---- the file image */

/* A parsed, checked file image; pointers point into the caller's buffer. */
typedef struct WtsView {
	int dtype;
	uint64_t shape_hash;
	size_t n_params, n_inputs;
	int norm_kind;
	double std;
	const uint8_t *mean;   /* n_inputs f64 LE, or NULL */
	double test_accuracy;
	uint64_t iterations;
	const uint8_t *params; /* n_params reals LE */
} WtsView;

/* Bytes in a file with these fields, or 0 if they are invalid or the size
 * overflows. */
static size_t wts_file_len(int dtype, int norm_kind, uint64_t n_inputs, uint64_t n_params)
{
	uint64_t len = WTS_HEADER_LEN + 16 + 4, rs;

	if (dtype != NNCC_F32 && dtype != NNCC_F64)
		return 0;
	if (norm_kind != NNCC_NORM_NONE && norm_kind != NNCC_NORM_SCALE &&
	    norm_kind != NNCC_NORM_STANDARDIZE)
		return 0;
	rs = real_size(dtype);
	if (norm_kind == NNCC_NORM_STANDARDIZE) {
		if (n_inputs > (SIZE_MAX - len) / 8)
			return 0;
		len += 8 * n_inputs;
	}
	if (n_params > (SIZE_MAX - len) / rs)
		return 0;
	return (size_t)(len + rs * n_params);
}

static int wts_parse(const uint8_t *b, size_t len, const char *path, WtsView *v, nncc_err_t *err)
{
	uint32_t version, stored, computed;
	size_t want, at;

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
	if (version != WTS_VERSION) {
		nncc_err_set(err, "file %s: unsupported weight file version %u (this nncc reads version %d)",
		             path, (unsigned)version, WTS_VERSION);
		return -1;
	}
	if (len < WTS_HEADER_LEN + 4) {
		nncc_err_set(err, "file %s: truncated: %zu bytes, shorter than the header", path, len);
		return -1;
	}
	v->dtype = (int)le32_get(b + 12);
	v->shape_hash = le64_get(b + 16);
	v->norm_kind = (int)le32_get(b + 40);
	want = wts_file_len(v->dtype, v->norm_kind, le64_get(b + 32), le64_get(b + 24));
	if (want && len < want) {
		nncc_err_set(err, "file %s: truncated: expected %zu bytes, got %zu", path, want, len);
		return -1;
	}
	if (want && len > want && crc_buf(b, want - 4) == le32_get(b + want - 4)) {
		nncc_err_set(err, "file %s: %zu unexpected trailing bytes after the checksum", path,
		             len - want);
		return -1;
	}
	stored = le32_get(b + len - 4);
	computed = crc_buf(b, len - 4);
	if (stored != computed) {
		nncc_err_set(err, "file %s: checksum mismatch: the file is damaged (stored CRC-32 0x%08x, computed 0x%08x)",
		             path, (unsigned)stored, (unsigned)computed);
		return -1;
	}
	/* The checksum holds, so anything odd below comes from the writer. */
	if (want != len) {
		nncc_err_set(err, "file %s: invalid header (dtype %d, norm kind %d, %zu bytes)", path,
		             v->dtype, v->norm_kind, len);
		return -1;
	}
	v->n_params = (size_t)le64_get(b + 24);
	v->n_inputs = (size_t)le64_get(b + 32);
	v->std = f64_get(b + 48);
	at = WTS_HEADER_LEN;
	v->mean = NULL;
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
	v->params = b + at + 16;
	return 0;
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

/* st receives a copy of the view's statistics (mean allocated). */
static int norm_from_view(nncc_norm_stats_t *st, const WtsView *v, const char *path,
                          nncc_err_t *err)
{
	double *mean = NULL;

	if (v->mean) {
		mean = malloc((v->n_inputs ? v->n_inputs : 1) * sizeof *mean);
		if (!mean) {
			nncc_err_set(err, "file %s: out of memory for %zu means", path, v->n_inputs);
			return -1;
		}
		for (size_t j = 0; j < v->n_inputs; j++)
			mean[j] = f64_get(v->mean + 8 * j);
	}
	st->kind = v->norm_kind;
	st->dim = v->n_inputs;
	st->mean = mean;
	st->std = v->mean ? v->std : 1;
	return 0;
}

/* ---- save */

/* Best effort: makes the rename durable by syncing the directory that holds
 * path.  Failure is ignored: the new file is complete either way. */
static void sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;
	int fd;

	if (!slash) {
		fd = open(".", O_RDONLY);
	} else {
		size_t n = slash == path ? 1 : (size_t)(slash - path);
		d = malloc(n + 1);
		if (!d)
			return;
		memcpy(d, path, n);
		d[n] = 0;
		fd = open(d, O_RDONLY);
		free(d);
	}
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Writes buf to path through path.tmp.XXXXXX in the same directory: on
 * success the rename replaces path in one step; on failure the temp file is
 * removed and path is untouched. */
static int write_atomic(const char *path, const uint8_t *buf, size_t len, nncc_err_t *err)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + sizeof ".tmp.XXXXXX");
	size_t done = 0;
	int fd;

	if (!tmp) {
		nncc_err_set(err, "cannot save weights to %s: out of memory", path);
		return -1;
	}
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
	fd = mkstemp(tmp);
	if (fd < 0) {
		nncc_err_set(err, "cannot save weights to %s: cannot create %s: %s", path, tmp,
		             strerror(errno));
		free(tmp);
		return -1;
	}
	while (done < len) {
		ssize_t w = write(fd, buf + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			nncc_err_set(err, "cannot save weights to %s: write to %s failed: %s", path,
			             tmp, w < 0 ? strerror(errno) : "no progress");
			goto fail;
		}
		done += (size_t)w;
	}
	/* mkstemp creates 0600; a weight file is ordinary data. */
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		nncc_err_set(err, "cannot save weights to %s: %s: %s", path, tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		nncc_err_set(err, "cannot save weights to %s: closing %s: %s", path, tmp,
		             strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		nncc_err_set(err, "cannot save weights to %s: rename from %s: %s", path, tmp,
		             strerror(errno));
		goto fail;
	}
	sync_dir(path);
	free(tmp);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

int nncc_weights_save(const nncc_model_t *m, const char *path,
                      const nncc_norm_stats_t *norm, const nncc_weights_meta_t *meta,
                      nncc_err_t *err)
{
	int kind = norm ? norm->kind : NNCC_NORM_NONE;
	size_t len = wts_file_len(m->dtype, kind, m->n_inputs, m->n_params);
	size_t at = WTS_HEADER_LEN;
	uint8_t *b;
	int rc;

	if (!len) {
		nncc_err_set(err, "cannot save weights to %s: invalid model (dtype %d, norm kind %d)",
		             path, m->dtype, kind);
		return -1;
	}
	if (kind == NNCC_NORM_STANDARDIZE && (norm->dim != m->n_inputs || !norm->mean)) {
		nncc_err_set(err, "cannot save weights to %s: normalisation has %zu means, the network %zu inputs",
		             path, norm->mean ? norm->dim : 0, m->n_inputs);
		return -1;
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
	le32_put(b + 40, (uint32_t)kind);
	le32_put(b + 44, 0);
	f64_put(b + 48, kind == NNCC_NORM_STANDARDIZE ? norm->std : 1.0);
	if (kind == NNCC_NORM_STANDARDIZE)
		for (size_t j = 0; j < m->n_inputs; j++, at += 8)
			f64_put(b + at, norm->mean[j]);
	f64_put(b + at, meta ? meta->test_accuracy : NAN);
	le64_put(b + at + 8, meta ? meta->iterations : 0);
	at += 16;
	for (size_t k = 0; k < m->n_params; k++) {
		if (m->dtype == NNCC_F32) {
			uint32_t u;
			memcpy(&u, (const float *)m->params + k, 4);
			le32_put(b + at + 4 * k, u);
		} else {
			f64_put(b + at + 8 * k, ((const double *)m->params)[k]);
		}
	}
	le32_put(b + len - 4, crc_buf(b, len - 4));
	rc = write_atomic(path, b, len, err);
	free(b);
	return rc;
}

/* ---- load and read */

int nncc_weights_load(const nncc_model_t *m, const char *path,
                      nncc_norm_stats_t *norm, nncc_weights_meta_t *meta,
                      nncc_err_t *err)
{
	uint8_t *b = NULL;
	size_t len;
	WtsView v;
	uint64_t hash = nncc_shape_hash(m);
	nncc_norm_stats_t st;

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
		nncc_err_set(err, "file %s has %zu parameters and %zu inputs, this network %zu and %zu",
		             path, v.n_params, v.n_inputs, m->n_params, m->n_inputs);
		goto fail;
	}
	if (norm && norm_from_view(&st, &v, path, err) < 0)
		goto fail;
	for (size_t k = 0; k < v.n_params; k++)
		put_real(m->params, m->dtype, k, real_get(v.params, v.dtype, k));
	if (norm)
		*norm = st;
	if (meta) {
		meta->test_accuracy = v.test_accuracy;
		meta->iterations = v.iterations;
	}
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
	wf->params = malloc((v.n_params ? v.n_params : 1) * sizeof *wf->params);
	if (!wf->params) {
		nncc_err_set(err, "file %s: out of memory for %zu parameters", path, v.n_params);
		goto fail;
	}
	if (norm_from_view(&wf->norm, &v, path, err) < 0)
		goto fail;
	for (size_t k = 0; k < v.n_params; k++)
		wf->params[k] = real_get(v.params, v.dtype, k);
	wf->version = WTS_VERSION;
	wf->dtype = v.dtype;
	wf->shape_hash = v.shape_hash;
	wf->n_params = v.n_params;
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
	memset(wf, 0, sizeof *wf);
}
