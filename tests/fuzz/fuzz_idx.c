/*
 * fuzz_idx.c - libFuzzer harness: the IDX loader (runtime/idx.c), raw and
 * gzip'd, and the normalisation fitted on what it loads (runtime/norm.c).
 *
 * Input: byte 0 is flags, bytes 1-4 the image file's length n (u32 LE,
 * clipped to what follows), then n bytes of image file and the rest is the
 * label file.  Flag bit 0 gzips the image file and bit 1 the label file
 * here before the loader sees them (bits 2-3: the level, 1, 6, 9 or 0 =
 * stored), so the fuzzer mutates IDX structure under gzip too; without
 * them the bytes go as they are, which may be gzip data of their own (the
 * loader tells by the magic, as gzread does).  The two files are memfds:
 * nncc_dataset_load opens them by path, as the driver does.
 */
#define _GNU_SOURCE
#include <zlib.h>

#include "fuzzutil.h"

static FuzzFile images, labels;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_file_open(&images, "images");
	fuzz_file_open(&labels, "labels");
	return 0;
}

/* f holds data, gzip'd at `level` when gz. */
static void put(FuzzFile *f, const uint8_t *data, size_t n, int gz, int level)
{
	if (!gz) {
		fuzz_file_set(f, data, n);
		return;
	}
	/* The smallest window and memory level (the inputs are small): zlib's
	 * default ones are ~400 KiB of allocations, which under ASan cost
	 * more than the load itself. */
	z_stream z = {0};
	if (deflateInit2(&z, level, Z_DEFLATED, 9 + 16, 1, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	uLong cap = deflateBound(&z, (uLong)n);
	uint8_t *out = malloc(cap);
	if (!out)
		abort();
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		abort();
	fuzz_file_set(f, out, z.total_out);
	deflateEnd(&z);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int levels[4] = {1, 6, 9, 0};
	if (size < 5)
		return 0;
	unsigned flags = data[0];
	size_t n = fuzz_le32(data + 1);
	data += 5;
	size -= 5;
	if (n > size)
		n = size;
	int level = levels[flags >> 2 & 3];
	put(&images, data, n, flags & 1, level);
	put(&labels, data + n, size - n, flags & 2, level);

	nncc_dataset_t ds;
	nncc_err_t err;
	if (nncc_dataset_load(&ds, images.path, labels.path, &err) == 0) {
		/* What the driver relies on. */
		if (ds.dim != ds.rows * ds.cols || ds.n_classes < 1 || ds.n_classes > 256)
			abort();
		for (size_t i = 0; i < ds.n; i++)
			if (ds.labels[i] < 0 || (size_t)ds.labels[i] >= ds.n_classes)
				abort();
		/* Standardize over the whole set (every pixel is read), then apply
		 * to the first samples in both dtypes. */
		nncc_norm_stats_t st;
		if (nncc_norm_fit(&st, NNCC_NORM_STANDARDIZE, &ds, &err) == 0) {
			size_t k = ds.n < 4 ? ds.n : 4, len = k * ds.dim;
			double *out = malloc((len ? len : 1) * sizeof *out);
			if (!out)
				abort();
			nncc_norm_apply(&st, NNCC_F32, out, ds.pixels, k);
			nncc_norm_apply(&st, NNCC_F64, out, ds.pixels, k);
			free(out);
			nncc_norm_fini(&st);
		}
		nncc_dataset_fini(&ds);
	}
	return 0;
}
