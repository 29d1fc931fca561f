/*
 * idx.c - loads an MNIST-style dataset: an idx3 image file and an idx1 label
 * file, each raw or gzip'd (a file that starts with the gzip magic 1f 8b is
 * inflated with zlib, member after member; a path that does not exist is
 * retried with ".gz" appended).  Only element type 0x08 (unsigned byte) is
 * accepted.  The whole file is validated: magic, dimensions, exact length,
 * gzip integrity, and nothing after the data: no extra bytes, decompressed
 * or after the last gzip member.  See docs/data.md.
 *
 * Vocabulary: n = samples, dim = rows*cols pixels per sample; a member is
 * one gzip stream (header, deflate data, CRC-32 and length); a gzip file is
 * one or more of them back to back.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "ckd.h"
#include "driver.h"

#define IDX_TYPE_UBYTE 0x08
#define IMAGES_HEADER_LEN 16      /* magic, n, rows, cols */
#define IDX_READ_CHUNK (1u << 20) /* bytes of body read per call */
#define IDX_IN_BUFFER (1u << 17)  /* bytes of the file read at a time */
#define GZ_MAGIC0 0x1f
#define GZ_MAGIC1 0x8b
#define GZ_WINDOW (15 + 16)       /* inflateInit2: a gzip wrapper only, 32 KiB window */
#define GZ_RAW (-15)              /* inflateReset2: deflate data, no wrapper (from a point) */
#define GZ_DICT 32768u            /* deflate's window: what a point keeps */
#define GZ_RESTORE_MIN (1u << 16) /* a point this far ahead is cheaper than inflating to it */

/* An access point of a gzip'd file (docs/trainer.md#a-gzipd-training-file): a
 * deflate block boundary where inflating can start again without the bytes
 * before it.  zlib's zran.c describes the technique. */
typedef struct GzPoint {
	unsigned long long out;   /* bytes of data before it (all members) */
	unsigned long long in;    /* the file's offset of the first byte not inflated */
	unsigned long long mout;  /* of `out`, its member's */
	uint32_t crc;             /* its member's CRC-32 up to it */
	int bits;                 /* bits of byte in - 1 not inflated yet (0..7) */
	unsigned wlen;            /* the window: the last wlen (<= 32 KiB) bytes */
	unsigned char *window;
} GzPoint;

/* A file's access points, by out; shared by the handles of one file
 * (nncc_images_index_share), freed with the last. */
typedef struct GzIndex {
	GzPoint *pt;
	size_t n_pt, max_pt;
	unsigned long long span;     /* data between points, at least */
	int refs;
} GzIndex;

/* One open IDX file; path is the name actually opened (maybe with .gz).
 * Both kinds read through in[]: z.next_in, z.avail_in are what is left of
 * it (a raw file copies from it). */
typedef struct IdxFile {
	FILE *f;
	char *path;
	unsigned char *in;       /* IDX_IN_BUFFER bytes */
	unsigned long long read; /* bytes of the file read into in[] so far */
	int gz;                  /* gzip: z inflates */
	int z_ready;             /* inflateInit2 done */
	int member_end;          /* the last member read ended (its CRC checked) */
	int cut;                 /* the file ended inside a member */
	int seeked;              /* raw: the next read comes after a seek */
	z_stream z;
	/* gzip: where the data is, and the access points (idx_index) */
	unsigned long long out;      /* bytes of data inflated to here */
	unsigned long long mout;     /* of them, the member's */
	unsigned long long inflated; /* bytes inflated in all (skipped, again) */
	int raw;                     /* from a point: bare deflate, CRC-32 checked here */
	uint32_t crc;                /* raw: the member's CRC-32 so far */
	GzIndex *ix;                 /* access points (idx_index), or NULL */
} IdxFile;

static void idx_close(IdxFile *f)
{
	if (f->f)
		fclose(f->f);
	if (f->z_ready)
		inflateEnd(&f->z);
	if (f->ix && --f->ix->refs == 0) {
		for (size_t k = 0; k < f->ix->n_pt; k++)
			free(f->ix->pt[k].window);
		free(f->ix->pt);
		free(f->ix);
	}
	free(f->in);
	free(f->path);
	memset(f, 0, sizeof *f);
}

static int read_error(IdxFile *f, nncc_err_t *err)
{
	nncc_err_set(err, "file %s: read error: %s", f->path, strerror(errno));
	return -1;
}

/* Makes at least `want` (<= IDX_IN_BUFFER) bytes of the file available at
 * z.next_in, fewer only at its end; -1 on a read error. */
static int idx_input(IdxFile *f, unsigned want, nncc_err_t *err)
{
	z_stream *z = &f->z;
	while (z->avail_in < want) {
		size_t n;
		if (z->avail_in && z->next_in != f->in)
			memmove(f->in, z->next_in, z->avail_in);
		z->next_in = f->in;
		n = fread(f->in + z->avail_in, 1, IDX_IN_BUFFER - z->avail_in, f->f);
		if (n == 0)
			return ferror(f->f) ? read_error(f, err) : 0;
		z->avail_in += (uInt)n;
		f->read += n;
	}
	return 0;
}

/* Opens path, or path".gz" if path does not exist, and tells gzip from raw
 * by its first two bytes. */
static int idx_open(IdxFile *f, const char *path, nncc_err_t *err)
{
	size_t len = strlen(path), plen;
	int saved;

	memset(f, 0, sizeof *f);
	if (!ckd_add_size(&plen, len, sizeof ".gz") || !(f->path = malloc(plen)) ||
	    !(f->in = malloc(IDX_IN_BUFFER))) {
		nncc_err_set(err, "file %s: out of memory", path);
		idx_close(f);
		return -1;
	}
	memcpy(f->path, path, len + 1);
	errno = 0;
	f->f = fopen(f->path, "rb");
	if (f->f)
		goto opened;
	saved = errno;
	if (saved == ENOENT) {
		memcpy(f->path + len, ".gz", sizeof ".gz");
		errno = 0;
		f->f = fopen(f->path, "rb");
		if (f->f)
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
	f->z.next_in = f->in;
	if (idx_input(f, 2, err) < 0)
		goto fail;
	f->gz = f->z.avail_in >= 2 && f->in[0] == GZ_MAGIC0 && f->in[1] == GZ_MAGIC1;
	if (!f->gz)
		return 0;
	if (inflateInit2(&f->z, GZ_WINDOW) != Z_OK) {
		nncc_err_set(err, "file %s: out of memory for zlib", f->path);
		goto fail;
	}
	f->z_ready = 1;
	return 0;
fail:
	idx_close(f);
	return -1;
}

/* The file goes on after its last gzip member with something that is not
 * another one: counts it to the end for the message. */
static int gz_trailing(IdxFile *f, nncc_err_t *err)
{
	unsigned long long at = f->read - f->z.avail_in;
	f->z.avail_in = 0;
	while (idx_input(f, 1, err) == 0 && f->z.avail_in)
		f->z.avail_in = 0;
	if (ferror(f->f))
		return -1;
	nncc_err_set(err, "file %s: unexpected trailing data (%llu bytes after the gzip data, "
	             "which ends at offset %llu)", f->path, f->read - at, at);
	return -1;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* At a deflate block boundary: a new access point when the last one is
 * `span` bytes of data behind.  With max_pt held, every other one goes
 * first (the first stays) and the span doubles, so the points stay spread
 * over the data in at most max_pt windows.  0, or -1 with err set. */
static int gz_point_add(IdxFile *f, nncc_err_t *err)
{
	GzIndex *ix = f->ix;
	GzPoint *p;

	if (ix->n_pt && f->out < ix->pt[ix->n_pt - 1].out + ix->span)
		return 0;
	if (ix->n_pt == ix->max_pt) {   /* max_pt >= 2: at least one slot frees */
		size_t k = 0;
		for (size_t j = 0; j < ix->n_pt; j++) {
			if (j % 2)
				free(ix->pt[j].window);
			else
				ix->pt[k++] = ix->pt[j];
		}
		ix->n_pt = k;
		ix->span *= 2;
		if (f->out < ix->pt[ix->n_pt - 1].out + ix->span)
			return 0;
	}
	p = &ix->pt[ix->n_pt];
	if (!(p->window = malloc(GZ_DICT))) {
		nncc_err_set(err, "file %s: out of memory for a gzip access point", f->path);
		return -1;
	}
	if (inflateGetDictionary(&f->z, p->window, &p->wlen) != Z_OK) {
		free(p->window);
		nncc_err_set(err, "file %s: zlib cannot give its window", f->path);
		return -1;
	}
	p->out = f->out;
	p->in = f->read - f->z.avail_in;
	p->mout = f->mout;
	p->crc = f->raw ? f->crc : (uint32_t)f->z.adler;   /* gzip: zlib's running check */
	p->bits = f->z.data_type & 7;
	ix->n_pt++;
	return 0;
}

/* The end of a member inflated from a point: its trailer (CRC-32 and
 * length mod 2^32) checked here, as zlib checks it from the member's
 * start.  0 (with f->cut when the file ends first), or -1 with err set. */
static int gz_trailer(IdxFile *f, nncc_err_t *err)
{
	z_stream *z = &f->z;
	if (idx_input(f, 8, err) < 0)
		return -1;
	if (z->avail_in < 8) {
		f->cut = 1;
		z->avail_in = 0;
		return 0;
	}
	if (le32(z->next_in) != f->crc || le32(z->next_in + 4) != (uint32_t)f->mout) {
		nncc_err_set(err, "file %s: corrupt gzip data (incorrect %s check)", f->path,
		             le32(z->next_in) != f->crc ? "data" : "length");
		return -1;
	}
	z->next_in += 8;
	z->avail_in -= 8;
	return 0;
}

/* Inflates up to len bytes; returns the count (short only at the end of the
 * data: after the last member, or with f->cut when the file ends inside
 * one), or -1 with err set when the gzip data is damaged.  With access
 * points on, inflate stops at every block boundary to record them. */
static long long gz_read(IdxFile *f, unsigned char *buf, size_t len, nncc_err_t *err)
{
	z_stream *z = &f->z;
	size_t got = 0;
	int flush = f->ix ? Z_BLOCK : Z_NO_FLUSH;

	while (got < len) {
		int rc;
		size_t made;
		if (f->member_end) {   /* the end of the file, or another member */
			if (idx_input(f, 2, err) < 0)
				return -1;
			if (z->avail_in == 0 || f->cut)
				break;
			if (z->avail_in < 2 || z->next_in[0] != GZ_MAGIC0 || z->next_in[1] != GZ_MAGIC1)
				return gz_trailing(f, err);
			inflateReset2(z, GZ_WINDOW);
			f->member_end = f->raw = 0;
			f->mout = 0;
		}
		if (idx_input(f, 1, err) < 0)
			return -1;
		if (z->avail_in == 0) {
			f->cut = 1;
			break;
		}
		z->next_out = buf + got;
		z->avail_out = len - got < UINT_MAX ? (uInt)(len - got) : UINT_MAX;
		rc = inflate(z, flush);
		made = (size_t)(z->next_out - buf) - got;
		if (f->raw)
			f->crc = (uint32_t)crc32(f->crc, buf + got, (uInt)made);
		got += made;
		f->out += made;
		f->mout += made;
		f->inflated += made;
		if (rc == Z_STREAM_END) {
			if (f->raw && gz_trailer(f, err))
				return -1;
			f->member_end = 1;
		} else if (rc == Z_MEM_ERROR) {
			nncc_err_set(err, "file %s: out of memory for zlib", f->path);
			return -1;
		} else if (rc != Z_OK && rc != Z_BUF_ERROR) {
			nncc_err_set(err, "file %s: corrupt gzip data (%s)", f->path,
			             z->msg ? z->msg : zError(rc));
			return -1;
		} else if (f->ix && (z->data_type & 128) && !(z->data_type & 64) &&
		           gz_point_add(f, err)) {
			return -1;
		}
	}
	return (long long)got;
}

/* Inflating again from the file's start. */
static int gz_rewind(IdxFile *f, nncc_err_t *err)
{
	if (fseeko(f->f, 0, SEEK_SET) != 0)
		return read_error(f, err);
	f->read = 0;
	f->z.next_in = f->in;
	f->z.avail_in = 0;
	inflateReset2(&f->z, GZ_WINDOW);
	f->out = f->mout = 0;
	f->raw = f->member_end = f->cut = 0;
	return 0;
}

/* Inflating from point p: bare deflate from its byte (the bits of the byte
 * before it primed), its window as the dictionary, the member's CRC-32
 * carried on here. */
static int gz_restore(IdxFile *f, const GzPoint *p, nncc_err_t *err)
{
	z_stream *z = &f->z;
	unsigned long long at = p->in - (p->bits ? 1 : 0);

	if (fseeko(f->f, (off_t)at, SEEK_SET) != 0)
		return read_error(f, err);
	f->read = at;
	z->next_in = f->in;
	z->avail_in = 0;
	inflateReset2(z, GZ_RAW);
	if (p->bits) {
		if (idx_input(f, 1, err) < 0)
			return -1;
		if (z->avail_in == 0) {
			nncc_err_set(err, "file %s: ends before byte %llu (changed since it was read?)",
			             f->path, at);
			return -1;
		}
		inflatePrime(z, p->bits, z->next_in[0] >> (8 - p->bits));
		z->next_in++;
		z->avail_in--;
	}
	if (p->wlen && inflateSetDictionary(z, p->window, p->wlen) != Z_OK) {
		nncc_err_set(err, "file %s: zlib refuses an access point's window", f->path);
		return -1;
	}
	f->out = p->out;
	f->mout = p->mout;
	f->crc = p->crc;
	f->raw = 1;
	f->member_end = f->cut = 0;
	return 0;
}

/* The last access point at or before byte `to` of the data, or NULL. */
static const GzPoint *gz_point_before(const IdxFile *f, unsigned long long to)
{
	size_t lo = 0, hi = f->ix ? f->ix->n_pt : 0;   /* [0, lo) are <= to, [hi, n) beyond */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->ix->pt[mid].out <= to)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &f->ix->pt[lo - 1] : NULL;
}

/* To byte `to` of the gzip'd data: inflating on to it, or from the last
 * access point before it when that is behind or well ahead, or from the
 * start.  0; 1 when the data ends first; -1 with err set. */
static int gz_seek(IdxFile *f, unsigned long long to, nncc_err_t *err)
{
	unsigned char skip[16384];
	const GzPoint *p = gz_point_before(f, to);

	if (p && (to < f->out || p->out >= f->out + GZ_RESTORE_MIN)) {
		if (gz_restore(f, p, err))
			return -1;
	} else if (to < f->out && gz_rewind(f, err)) {
		return -1;
	}
	while (f->out < to) {
		unsigned long long todo = to - f->out;
		long long got = gz_read(f, skip, todo < sizeof skip ? (size_t)todo : sizeof skip, err);
		if (got < 0)
			return -1;
		if (got == 0)
			return 1;
	}
	return 0;
}

/* Access points every `span` bytes of data (at least), at most `points`
 * of them (>= 2); a raw file needs none. */
static int idx_index(IdxFile *f, unsigned long long span, size_t points, nncc_err_t *err)
{
	if (!f->gz || f->ix)
		return 0;
	if (points < 2 || span == 0) {
		nncc_err_set(err, "file %s: an index needs 2 or more points, a span of 1 or more bytes",
		             f->path);
		return -1;
	}
	if (!(f->ix = calloc(1, sizeof *f->ix)) || !(f->ix->pt = calloc(points, sizeof *f->ix->pt))) {
		free(f->ix);
		f->ix = NULL;
		nncc_err_set(err, "file %s: out of memory for %zu gzip access points", f->path, points);
		return -1;
	}
	f->ix->max_pt = points;
	f->ix->span = span;
	f->ix->refs = 1;
	return 0;
}

/* f reads through src's access points too (the same file opened twice). */
static void idx_index_share(IdxFile *f, const IdxFile *src)
{
	if (!f->gz || f->ix || !src->ix)
		return;
	f->ix = src->ix;
	f->ix->refs++;
}

/* Reads up to len bytes; returns the count (short only at end of data), or
 * -1 with err set when the file is unreadable or not valid gzip. */
static long long idx_read(IdxFile *f, void *buf, size_t len, nncc_err_t *err)
{
	size_t got = 0;

	if (f->gz)
		return gz_read(f, buf, len, err);
	while (got < len) {
		size_t k;
		/* straight into buf: a large read, or the first after a seek (a
		 * rank reading its chunks of a batch: what in[] would read past
		 * them is another rank's, IDX_IN_BUFFER bytes read for a few
		 * samples each time) */
		if (!f->z.avail_in && (len - got >= IDX_IN_BUFFER || f->seeked)) {
			f->seeked = 0;
			k = fread((unsigned char *)buf + got, 1, len - got, f->f);
			f->read += k;
			got += k;
			if (k == 0)
				return ferror(f->f) ? read_error(f, err) : (long long)got;
			continue;
		}
		if (idx_input(f, 1, err) < 0)
			return -1;
		if (f->z.avail_in == 0)
			break;
		k = len - got < f->z.avail_in ? len - got : f->z.avail_in;
		memcpy((unsigned char *)buf + got, f->z.next_in, k);
		f->z.next_in += k;
		f->z.avail_in -= (uInt)k;
		got += k;
	}
	return (long long)got;
}

/* After the data: anything more is an error (decompressed, or raw bytes
 * after the last gzip member), and so is a bad gzip trailer (the CRC is
 * only checked once the member is read to its end). */
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
		nncc_err_set(err, "file %s: truncated: expected %zu bytes of %s, got %zu%s", f->path,
		             len, what, got, f->cut ? " (gzip stream ends early)" : "");
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
	if (!ckd_mul_size(&dim, d[1], d[2])) {
		nncc_err_set(err, "file %s: %u x %u pixels per image overflows size_t", f.path,
		             (unsigned)d[1], (unsigned)d[2]);
		goto fail;
	}
	if (!ckd_mul_size(&total, d[0], dim)) {
		nncc_err_set(err, "file %s: %u images of %zu pixels overflow size_t", f.path,
		             (unsigned)d[0], dim);
		goto fail;
	}
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
	size_t bytes;

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
	if (!ckd_mul_size(&bytes, n, sizeof *ds->labels) || !(ds->labels = malloc(bytes))) {
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

/* ---- Streaming an image file (predict mode): the header, then the images
 * a few at a time, then the same end-of-data checks as a whole load. */

struct nncc_images {
	IdxFile f;
	size_t n, dim, left;   /* images in the file, pixels each, not read yet */
	int size_checked;      /* a raw file's length was found right (seeks) */
};

int nncc_images_open(nncc_images_t **out, const char *path, size_t *n, size_t *rows,
                     size_t *cols, nncc_err_t *err)
{
	uint32_t d[3];
	nncc_images_t *s = calloc(1, sizeof *s);
	*out = NULL;
	if (!s) {
		nncc_err_set(err, "file %s: out of memory", path);
		return -1;
	}
	if (idx_open(&s->f, path, err) < 0) {
		free(s);
		return -1;
	}
	if (idx_header(&s->f, 3, d, err) < 0)
		goto fail;
	if (!ckd_mul_size(&s->dim, d[1], d[2])) {
		nncc_err_set(err, "file %s: %u x %u pixels per image overflows size_t", s->f.path,
		             (unsigned)d[1], (unsigned)d[2]);
		goto fail;
	}
	s->n = s->left = d[0];
	*n = d[0];
	*rows = d[1];
	*cols = d[2];
	*out = s;
	return 0;
fail:
	nncc_images_close(s);
	return -1;
}

int nncc_images_read(nncc_images_t *s, uint8_t *pixels, size_t k, nncc_err_t *err)
{
	size_t len;
	long long got;
	if (k > s->left || !ckd_mul_size(&len, k, s->dim)) {
		nncc_err_set(err, "file %s: %zu images asked for, %zu left", s->f.path, k, s->left);
		return -1;
	}
	got = idx_read(&s->f, pixels, len, err);
	if (got < 0)
		return -1;
	if ((size_t)got < len) {
		nncc_err_set(err, "file %s: truncated: image %zu of %zu ends early%s", s->f.path,
		             s->n - s->left + (size_t)got / s->dim + 1, s->n,
		             s->f.cut ? " (gzip stream ends early)" : "");
		return -1;
	}
	s->left -= k;
	if (s->left == 0) {
		size_t total;
		if (!ckd_mul_size(&total, s->n, s->dim))
			total = SIZE_MAX;
		return idx_expect_end(&s->f, total, err);
	}
	return 0;
}

/* A raw file holds exactly the header and the images (a gzip'd one is
 * checked as it is read to its end). */
static int images_size_check(nncc_images_t *s, nncc_err_t *err)
{
	struct stat st;
	unsigned long long want = IMAGES_HEADER_LEN + (unsigned long long)s->n * s->dim;
	if (fstat(fileno(s->f.f), &st) != 0)
		return read_error(&s->f, err);
	if ((unsigned long long)st.st_size < want) {
		nncc_err_set(err, "file %s: truncated: expected %llu bytes (%zu images of %zu pixels), "
		             "the file has %llu", s->f.path, want, s->n, s->dim,
		             (unsigned long long)st.st_size);
		return -1;
	}
	if ((unsigned long long)st.st_size > want) {
		nncc_err_set(err, "file %s: unexpected trailing data (%llu bytes after %llu bytes of "
		             "data)", s->f.path, (unsigned long long)st.st_size - want,
		             want - IMAGES_HEADER_LEN);
		return -1;
	}
	s->size_checked = 1;
	return 0;
}

const char *nncc_images_path(const nncc_images_t *s)
{
	return s->f.path;
}

int nncc_images_seekable(const nncc_images_t *s)
{
	return !s->f.gz || s->f.ix;
}

int nncc_images_seek(nncc_images_t *s, size_t first, nncc_err_t *err)
{
	if (first > s->n) {
		nncc_err_set(err, "file %s: image %zu asked for, it has %zu", s->f.path, first, s->n);
		return -1;
	}
	if (!s->f.gz) {
		if (!s->size_checked && images_size_check(s, err))
			return -1;
		if (fseeko(s->f.f, (off_t)(IMAGES_HEADER_LEN + (unsigned long long)first * s->dim),
		           SEEK_SET) != 0)
			return read_error(&s->f, err);
		s->f.z.next_in = s->f.in;   /* what was read ahead is elsewhere now */
		s->f.z.avail_in = 0;
		s->f.seeked = 1;
		s->left = s->n - first;
		return 0;
	}
	switch (gz_seek(&s->f, IMAGES_HEADER_LEN + (unsigned long long)first * s->dim, err)) {
	case 0:
		s->left = s->n - first;
		return 0;
	case 1:
		nncc_err_set(err, "file %s: truncated: image %zu of %zu ends early%s", s->f.path,
		             first, s->n, s->f.cut ? " (gzip stream ends early)" : "");
	}
	return -1;
}

int nncc_images_index(nncc_images_t *s, unsigned long long span, size_t points, nncc_err_t *err)
{
	return idx_index(&s->f, span, points, err);
}

void nncc_images_index_share(nncc_images_t *s, const nncc_images_t *src)
{
	idx_index_share(&s->f, &src->f);
}

unsigned long long nncc_images_inflated(const nncc_images_t *s)
{
	return s->f.inflated;
}

void nncc_images_close(nncc_images_t *s)
{
	if (!s)
		return;
	idx_close(&s->f);
	free(s);
}

/* ---- Any data file as bytes (CSV files, csv.c): the same opening, gzip
 * detection and gzip checks as an IDX file. */

struct nncc_rfile {
	IdxFile f;
	unsigned long long pos;   /* bytes handed out (gzip: inflated) so far */
};

int nncc_rfile_open(nncc_rfile_t **out, const char *path, nncc_err_t *err)
{
	nncc_rfile_t *r = calloc(1, sizeof *r);
	*out = NULL;
	if (!r) {
		nncc_err_set(err, "file %s: out of memory", path);
		return -1;
	}
	if (idx_open(&r->f, path, err) < 0) {
		free(r);
		return -1;
	}
	*out = r;
	return 0;
}

long long nncc_rfile_read(nncc_rfile_t *r, void *buf, size_t len, nncc_err_t *err)
{
	long long got = idx_read(&r->f, buf, len, err);
	if (got == 0 && r->f.cut) {
		nncc_err_set(err, "file %s: truncated: the gzip stream ends early", r->f.path);
		return -1;
	}
	if (got > 0)
		r->pos += (unsigned long long)got;
	return got;
}

int nncc_rfile_seekable(const nncc_rfile_t *r)
{
	return !r->f.gz || r->f.ix;
}

int nncc_rfile_seek(nncc_rfile_t *r, unsigned long long off, nncc_err_t *err)
{
	if (!r->f.gz) {
		if (fseeko(r->f.f, (off_t)off, SEEK_SET) != 0)
			return read_error(&r->f, err);
		r->f.z.next_in = r->f.in;   /* what was read ahead is elsewhere now */
		r->f.z.avail_in = 0;
		r->pos = off;
		return 0;
	}
	switch (gz_seek(&r->f, off, err)) {
	case 0:
		r->pos = off;
		return 0;
	case 1:
		if (r->f.cut)
			nncc_err_set(err, "file %s: truncated: the gzip stream ends early", r->f.path);
		else
			nncc_err_set(err, "file %s: ends before byte %llu (changed since it was read?)",
			             r->f.path, off);
	}
	return -1;
}

int nncc_rfile_index(nncc_rfile_t *r, unsigned long long span, size_t points, nncc_err_t *err)
{
	return idx_index(&r->f, span, points, err);
}

void nncc_rfile_index_share(nncc_rfile_t *r, const nncc_rfile_t *src)
{
	idx_index_share(&r->f, &src->f);
}

unsigned long long nncc_rfile_inflated(const nncc_rfile_t *r)
{
	return r->f.inflated;
}

const char *nncc_rfile_path(const nncc_rfile_t *r)
{
	return r->f.path;
}

void nncc_rfile_close(nncc_rfile_t *r)
{
	if (!r)
		return;
	idx_close(&r->f);
	free(r);
}

int nncc_labels_load(nncc_dataset_t *ds, const char *labels, const char *images,
                     nncc_err_t *err)
{
	return load_labels(ds, labels, images, err);
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
	free(ds->values);
	free(ds->targets);
	free(ds->labels);
	if (ds->class_names)
		for (size_t k = 0; k < ds->n_classes; k++)
			free(ds->class_names[k]);
	free(ds->class_names);
	memset(ds, 0, sizeof *ds);
}
