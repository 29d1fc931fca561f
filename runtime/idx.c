/*
 * idx.c - loads an MNIST-style dataset: an idx3 image file and an idx1 label
 * file, each raw or gzip'd (zlib's gzread reads both; a path that does not
 * exist is retried with ".gz" appended).  Only element type 0x08 (unsigned
 * byte) is accepted.  The whole file is validated: magic, dimensions, exact
 * length, gzip integrity.  See docs/data.md.
 *
 * Vocabulary: n = samples, dim = rows*cols pixels per sample.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "nncc.h"

#define IDX_TYPE_UBYTE 0x08
#define IDX_READ_CHUNK (1u << 20) /* bytes per gzread() call */
#define IDX_GZ_BUFFER (1u << 17)  /* zlib's input buffer (default 8 KiB) */

/* One open IDX file; path is the name actually opened (maybe with .gz). */
typedef struct IdxFile {
	gzFile gz;
	char *path;
} IdxFile;

static void idx_close(IdxFile *f)
{
	if (f->gz)
		gzclose(f->gz);
	free(f->path);
	f->gz = NULL;
	f->path = NULL;
}

/* Opens path, or path".gz" if path does not exist. */
static int idx_open(IdxFile *f, const char *path, nncc_err_t *err)
{
	size_t len = strlen(path);
	int saved;

	f->gz = NULL;
	f->path = malloc(len + 4);
	if (!f->path) {
		nncc_err_set(err, "file %s: out of memory", path);
		return -1;
	}
	memcpy(f->path, path, len + 1);
	errno = 0;
	f->gz = gzopen(f->path, "rb");
	if (f->gz)
		goto opened;
	saved = errno;
	if (saved == ENOENT) {
		memcpy(f->path + len, ".gz", 4);
		errno = 0;
		f->gz = gzopen(f->path, "rb");
		if (f->gz)
			goto opened;
		if (errno == ENOENT) {
			nncc_err_set(err, "file %s: cannot open: %s (also tried %s)", path,
			             strerror(ENOENT), f->path);
			idx_close(f);
			return -1;
		}
		saved = errno;
	}
	nncc_err_set(err, "file %s: cannot open: %s", f->path,
	             saved ? strerror(saved) : "out of memory");
	idx_close(f);
	return -1;
opened:
	gzbuffer(f->gz, IDX_GZ_BUFFER);
	return 0;
}

/* gzerror() messages read "PATH: reason"; the caller names the file already. */
static const char *gz_reason(const char *msg, const char *path)
{
	size_t n = strlen(path);
	if (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
		return msg + n + 2;
	return msg;
}

/* Reads up to len bytes; returns the count (short only at end of data), or
 * -1 with err set when the file is unreadable or not valid gzip. */
static long long idx_read(IdxFile *f, void *buf, size_t len, nncc_err_t *err)
{
	size_t got = 0;

	while (got < len) {
		size_t want = len - got < IDX_READ_CHUNK ? len - got : IDX_READ_CHUNK;
		int r = gzread(f->gz, (unsigned char *)buf + got, (unsigned)want);
		if (r < 0) {
			int errnum;
			const char *msg = gzerror(f->gz, &errnum);
			if (errnum == Z_ERRNO)
				nncc_err_set(err, "file %s: read error: %s", f->path,
				             strerror(errno));
			else
				nncc_err_set(err, "file %s: corrupt gzip data (%s)", f->path,
				             gz_reason(msg, f->path));
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (long long)got;
}

/* After the data: anything more is an error, and so is a bad gzip trailer
 * (the CRC is only checked once the stream is read to its end). */
static int idx_expect_end(IdxFile *f, size_t data_len, nncc_err_t *err)
{
	unsigned char buf[4096];
	unsigned long long extra = 0;
	long long r;

	while ((r = idx_read(f, buf, sizeof buf, err)) > 0)
		extra += (unsigned long long)r;
	if (r < 0)
		return -1;
	if (extra) {
		nncc_err_set(err, "file %s: unexpected trailing data (%llu bytes after %zu bytes of data)",
		             f->path, extra, data_len);
		return -1;
	}
	return 0;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks the 4-byte magic 00 00 08 ndims. */
static int idx_check_magic(const IdxFile *f, const unsigned char *h, unsigned ndims,
                           nncc_err_t *err)
{
	const char *kind = ndims == 3 ? "image" : "label";

	if (h[0] != 0 || h[1] != 0) {
		nncc_err_set(err, "file %s: not an IDX file (magic 0x%08x, expected 0x%08x for an %s file)",
		             f->path, (unsigned)be32(h), 0x800u | ndims, kind);
		return -1;
	}
	if (h[2] != IDX_TYPE_UBYTE) {
		nncc_err_set(err, "file %s: unsupported IDX element type 0x%02x (expected 0x08, unsigned byte)",
		             f->path, h[2]);
		return -1;
	}
	if (h[3] != ndims) {
		nncc_err_set(err, "file %s: IDX file has %u dimensions, expected %u for an %s file",
		             f->path, h[3], ndims, kind);
		return -1;
	}
	return 0;
}

/* Reads and checks the header: the magic, then ndims big-endian u32 sizes,
 * each > 0, into dims.  The magic is checked as soon as it is read, so a
 * file of the wrong kind is reported as such even when it is short. */
static int idx_header(IdxFile *f, unsigned ndims, uint32_t *dims, nncc_err_t *err)
{
	unsigned char h[16];
	size_t hlen = 4 + 4 * (size_t)ndims;
	long long got = idx_read(f, h, 4, err), more = 0;

	if (got < 0)
		return -1;
	if (got == 4) {
		if (idx_check_magic(f, h, ndims, err) < 0)
			return -1;
		more = idx_read(f, h + 4, hlen - 4, err);
		if (more < 0)
			return -1;
	}
	if ((size_t)(got + more) < hlen) {
		nncc_err_set(err, "file %s: truncated: expected %zu bytes of header, got %lld", f->path,
		             hlen, got + more);
		return -1;
	}
	for (unsigned i = 0; i < ndims; i++) {
		dims[i] = be32(h + 4 + 4 * i);
		if (dims[i] == 0) {
			nncc_err_set(err, "file %s: dimension %u is 0", f->path, i + 1);
			return -1;
		}
	}
	return 0;
}

/* Reads len bytes of `what` into a new buffer.  The buffer grows with the
 * data actually read, so a header that claims more than the file holds
 * reports "truncated" instead of allocating the claimed size up front. */
static int idx_read_body(IdxFile *f, size_t len, const char *what, uint8_t **out, nncc_err_t *err)
{
	size_t cap = len < IDX_READ_CHUNK ? len : IDX_READ_CHUNK;
	size_t got = 0;
	uint8_t *buf = malloc(cap);

	if (!buf)
		goto oom;
	while (got < len) {
		long long r;
		if (got == cap) {
			size_t ncap = cap > len / 2 ? len : cap * 2;
			uint8_t *nb = realloc(buf, ncap);
			if (!nb)
				goto oom;
			buf = nb;
			cap = ncap;
		}
		r = idx_read(f, buf + got, cap - got, err);
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (got < len) {
		int errnum;
		gzerror(f->gz, &errnum);
		nncc_err_set(err, "file %s: truncated: expected %zu bytes of %s, got %zu%s", f->path,
		             len, what, got, errnum == Z_BUF_ERROR ? " (gzip stream ends early)" : "");
		goto fail;
	}
	*out = buf;
	return 0;
oom:
	nncc_err_set(err, "file %s: out of memory reading %zu bytes of %s", f->path, len, what);
fail:
	free(buf);
	return -1;
}

static int load_images(nncc_dataset_t *ds, const char *path, nncc_err_t *err)
{
	IdxFile f;
	uint32_t d[3];
	size_t dim, total;

	if (idx_open(&f, path, err) < 0)
		return -1;
	if (idx_header(&f, 3, d, err) < 0)
		goto fail;
	dim = (size_t)d[1] * d[2]; /* two u32s: fits when size_t is 64-bit */
	if (d[1] != 0 && dim / d[1] != d[2]) {
		nncc_err_set(err, "file %s: %u x %u pixels per image overflows size_t", f.path,
		             (unsigned)d[1], (unsigned)d[2]);
		goto fail;
	}
	if (dim > SIZE_MAX / d[0]) {
		nncc_err_set(err, "file %s: %u images of %zu pixels overflow size_t", f.path,
		             (unsigned)d[0], dim);
		goto fail;
	}
	total = (size_t)d[0] * dim;
	if (idx_read_body(&f, total, "pixel data", &ds->pixels, err) < 0)
		goto fail;
	if (idx_expect_end(&f, total, err) < 0)
		goto fail;
	ds->n = d[0];
	ds->rows = d[1];
	ds->cols = d[2];
	ds->dim = dim;
	idx_close(&f);
	return 0;
fail:
	idx_close(&f);
	return -1;
}

/* Labels are bytes, so always < 256; they are widened to int32. */
static int load_labels(nncc_dataset_t *ds, const char *path, const char *images_path,
                       nncc_err_t *err)
{
	IdxFile f;
	uint32_t n;
	uint8_t *raw = NULL;
	unsigned max = 0;

	if (idx_open(&f, path, err) < 0)
		return -1;
	if (idx_header(&f, 1, &n, err) < 0)
		goto fail;
	if (n != ds->n) {
		nncc_err_set(err, "file %s: has %u labels but image file %s has %zu images", f.path,
		             (unsigned)n, images_path, ds->n);
		goto fail;
	}
	if (idx_read_body(&f, n, "label data", &raw, err) < 0)
		goto fail;
	if (idx_expect_end(&f, n, err) < 0)
		goto fail;
	ds->labels = malloc(n * sizeof *ds->labels);
	if (!ds->labels) {
		nncc_err_set(err, "file %s: out of memory for %u labels", f.path, (unsigned)n);
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		ds->labels[i] = raw[i];
		if (raw[i] > max)
			max = raw[i];
	}
	ds->n_classes = (size_t)max + 1;
	free(raw);
	idx_close(&f);
	return 0;
fail:
	free(raw);
	idx_close(&f);
	return -1;
}

int nncc_dataset_load(nncc_dataset_t *ds, const char *images, const char *labels,
                      nncc_err_t *err)
{
	memset(ds, 0, sizeof *ds);
	if (load_images(ds, images, err) < 0 || load_labels(ds, labels, images, err) < 0) {
		nncc_dataset_fini(ds);
		return -1;
	}
	return 0;
}

void nncc_dataset_fini(nncc_dataset_t *ds)
{
	if (!ds)
		return;
	free(ds->pixels);
	free(ds->labels);
	memset(ds, 0, sizeof *ds);
}
