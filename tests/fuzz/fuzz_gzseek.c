/*
 * fuzz_gzseek.c - libFuzzer harness: seeks in a gzip'd file through its
 * index of access points (runtime/idx.c, nncc_rfile_index;
 * docs/trainer.md#a-gzipd-training-file).
 *
 * Input: byte 0 is flags, byte 1 the index's most points (2 + b % 31),
 * bytes 2-3 its span (1 + u16 LE), byte 4 the seeks' count S (% 33), then
 * S seeks of 4 bytes (the offset and the length, u16 LE each, taken modulo
 * the data's size), then the payload.  Flag bit 0 gzips the payload here
 * (bits 1-2: the level, 1, 6, 9 or 0 = stored; at memLevel 1 deflate ends
 * a block every 128 symbols, so a small payload has many boundaries), in
 * one member, or with bit 3 in three (split at a third and two thirds);
 * without bit 0 the payload goes as it is, gzip data of its own or not.
 *
 * Odd seeks go through a second handle of the file that shares the first
 * one's points (nncc_rfile_index_share, as the driver's training-set
 * evaluations do), so each handle restores from points the other added.
 *
 * The oracle: the file read through once without an index gives the data
 * D (or an error).  When it does, the indexed reader must read D through
 * once (recording its points), and then every seek must read exactly D's
 * bytes there: an access point restored in the wrong place, with the
 * wrong window or bits, or a member's trailer checked wrongly is a
 * mismatch or an error, and aborts.  When it does not, the same calls
 * must only end in errors, never a crash.
 */
#define _GNU_SOURCE
#include <zlib.h>

#include "driver.h"
#include "fuzzutil.h"

#define MAX_DATA (1u << 20)   /* inflated: more is not read (a zip bomb's) */

static FuzzFile file;
static uint8_t *want, *got;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_file_open(&file, "gz");
	want = malloc(MAX_DATA);
	got = malloc(MAX_DATA);
	if (!want || !got)
		abort();
	return 0;
}

/* data[0..n) as one gzip member at `level`, appended to out at *len. */
static void gz_member(uint8_t *out, size_t *len, size_t cap, const uint8_t *data, size_t n,
                      int level)
{
	z_stream z = {0};
	if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 1, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)n;
	z.next_out = out + *len;
	z.avail_out = (uInt)(cap - *len);
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		abort();
	*len += z.total_out;
	deflateEnd(&z);
}

/* The whole file through r, up to MAX_DATA bytes: the count, or -1. */
static long long read_all(nncc_rfile_t *r, uint8_t *buf)
{
	size_t n = 0;
	nncc_err_t err;
	for (;;) {
		long long k = nncc_rfile_read(r, buf + n, MAX_DATA - n < 4096 ? MAX_DATA - n : 4096,
		                              &err);
		if (k < 0)
			return -1;
		if (k == 0 || (n += (size_t)k) == MAX_DATA)
			return (long long)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int levels[4] = {1, 6, 9, 0};
	if (size < 5)
		return 0;
	unsigned flags = data[0], points = 2 + data[1] % 31, span = 1 + (data[2] | data[3] << 8);
	size_t seeks = data[4] % 33;
	if (size < 5 + 4 * seeks)
		return 0;
	const uint8_t *script = data + 5, *payload = script + 4 * seeks;
	size_t n = size - 5 - 4 * seeks;

	if (flags & 1) {
		size_t cap = 3 * (compressBound((uLong)n) + 64), len = 0;
		uint8_t *gz = malloc(cap);
		int level = levels[flags >> 1 & 3];
		if (!gz)
			abort();
		if (flags & 8) {
			gz_member(gz, &len, cap, payload, n / 3, level);
			gz_member(gz, &len, cap, payload + n / 3, 2 * n / 3 - n / 3, level);
			gz_member(gz, &len, cap, payload + 2 * n / 3, n - 2 * n / 3, level);
		} else {
			gz_member(gz, &len, cap, payload, n, level);
		}
		fuzz_file_set(&file, gz, len);
		free(gz);
	} else {
		fuzz_file_set(&file, payload, n);
	}

	nncc_rfile_t *plain, *r, *h[2];
	nncc_err_t err;
	if (nncc_rfile_open(&plain, file.path, &err))
		return 0;
	long long total = read_all(plain, want);
	nncc_rfile_close(plain);
	int whole = total >= 0 && total < (long long)MAX_DATA;   /* D, all of it */

	if (nncc_rfile_open(&r, file.path, &err))
		abort();   /* it opened a moment ago */
	if (nncc_rfile_index(r, span, points, &err))
		abort();
	if (nncc_rfile_open(&h[1], file.path, &err))
		abort();
	nncc_rfile_index_share(h[1], r);
	h[0] = r;
	long long again = read_all(r, got);
	if (whole && (again != total || memcmp(want, got, (size_t)total) != 0))
		abort();   /* the first pass, recording points, reads D */
	for (size_t s = 0; s < seeks; s++) {
		size_t off = (size_t)(script[4 * s] | script[4 * s + 1] << 8);
		size_t len = (size_t)(script[4 * s + 2] | script[4 * s + 3] << 8);
		if (whole) {
			off = total ? off % ((size_t)total + 1) : 0;
			len = len < (size_t)total - off ? len : (size_t)total - off;
		}
		if (nncc_rfile_seek(h[s % 2], off, &err)) {
			if (whole)
				abort();
			continue;
		}
		long long k = len ? nncc_rfile_read(h[s % 2], got, len, &err) : 0;
		if (whole && (k != (long long)len || memcmp(want + off, got, len) != 0))
			abort();
	}
	nncc_rfile_close(r);
	nncc_rfile_close(h[1]);
	return 0;
}
