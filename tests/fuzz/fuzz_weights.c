/*
 * fuzz_weights.c - libFuzzer harness: the weight and checkpoint reader
 * (runtime/weights.c): nncc_weights_read, what `nncc --infer` reads, and
 * nncc_weights_load into a model, what the trainer's --load and --resume
 * read (parameters, normalisation, metadata, and the OPTIM, POSITION and
 * BEST sections of a checkpoint).
 *
 * Input: byte 0 is flags, the rest is the file (format versions 1 and 2,
 * docs/weights.md).  The file's last 4 bytes are its CRC-32, which a mutated
 * file would almost never match: the harness writes the right one unless
 * flag bit 2 is set, so the fuzzer gets past the checksum to the sections.
 * Likewise a file holds the shape hash of its network, which the fuzzer
 * cannot guess: with bit 0 the harness writes this harness's model's dtype,
 * shape hash, parameter and input counts into the header (offsets 12 to 40,
 * the same in both versions), so nncc_weights_load gets past its model
 * checks.  Bit 1 picks the model's dtype (float64, else float32); bit 3
 * loads with NULL norm, meta and checkpoint (nothing but the parameters).
 * The file is a memfd; both functions open it by path.
 */
#define _GNU_SOURCE
#include <zlib.h>

#include "fuzzutil.h"

static double params64[FUZZ_NP];
static float params32[FUZZ_NP];

/* fuzzutil.h's network, in either dtype. */
static nncc_model_t model = {FUZZ_MODEL_FIELDS};

static FuzzFile file;
static uint8_t *buf;
static size_t buf_cap;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_file_open(&file, "weights");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned flags = data[0];
	data++;
	size--;
	if (size > buf_cap) {
		free(buf);
		buf_cap = size;
		buf = malloc(buf_cap);
		if (!buf)
			abort();
	}
	if (size)
		memcpy(buf, data, size);

	model.dtype = flags & 2 ? NNCC_F64 : NNCC_F32;
	model.params = flags & 2 ? (void *)params64 : (void *)params32;
	if (flags & 1 && size >= 40) {
		fuzz_le_put(buf + 12, (uint64_t)model.dtype, 4);
		fuzz_le_put(buf + 16, nncc_shape_hash(&model), 8);
		fuzz_le_put(buf + 24, FUZZ_NP, 8);
		fuzz_le_put(buf + 32, FUZZ_IN, 8);
	}
	if (!(flags & 4) && size >= 4)
		fuzz_le_put(buf + size - 4, crc32(crc32(0L, Z_NULL, 0), buf, (uInt)(size - 4)), 4);
	fuzz_file_set(&file, buf, size);

	nncc_err_t err;
	nncc_weights_file_t wf;
	if (nncc_weights_read(&wf, file.path, &err) == 0) {
		/* What --infer relies on (export.c's check_weight_file). */
		if (wf.norm.kind == NNCC_NORM_STANDARDIZE && !wf.norm.mean && wf.norm.dim)
			abort();
		if (wf.ck.n_perm && !wf.ck.perm)
			abort();
		nncc_weights_file_fini(&wf);
	}

	nncc_norm_stats_t norm;
	nncc_weights_meta_t meta;
	nncc_checkpoint_t ck;
	int want = !(flags & 8);
	if (nncc_weights_load(&model, file.path, want ? &norm : NULL, want ? &meta : NULL,
	                      want ? &ck : NULL, &err) == 0 && want) {
		nncc_norm_fini(&norm);
		nncc_checkpoint_fini(&ck);
	}
	return 0;
}
