/*
 * mkseeds.c - writes the seed inputs of the harnesses whose input is not a
 * file of the tree as it is: weight files (nncc_weights_save's version 2,
 * with and without a checkpoint, and version 1 by hand), IDX files (raw and
 * gzip'd, in fuzz_idx's layout), trainer command lines (fuzz_options's
 * layout) and seeks in gzip'd files (fuzz_gzseek's layout).  The YAML harness's seeds are examples/ and tests/ themselves
 * (run.sh).  `make fuzz-seeds` runs it into tests/fuzz/corpus/NAME/seed-*;
 * the output is committed, so this only needs running when a format
 * changes.
 *
 * usage: mkseeds CORPUS_DIR   (writes CORPUS_DIR/{weights,idx,options,gzseek}/seed-*)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <zlib.h>

#include "fuzzutil.h"

static const char *top;

/* TOP/harness/seed-NAME holds the flag byte `flags` (if >= 0) then data. */
static void seed(const char *harness, const char *name, int flags, const void *data, size_t n)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", top, harness);
	if (mkdir(path, 0777) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof path, "%s/%s/seed-%s", top, harness, name);
	FILE *f = fopen(path, "wb");
	if (!f || (flags >= 0 && fputc(flags, f) == EOF) || fwrite(data, 1, n, f) != n ||
	    fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* ---- weights: for fuzzutil.h's network, as fuzz_weights.c loads them */

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = malloc(1 << 16);
	if (!f || !b) {
		perror(path);
		exit(1);
	}
	*n = fread(b, 1, 1 << 16, f);
	fclose(f);
	return b;
}

/* One saved file as a seed (flag bit 1: the model is float64). */
static void weights_seed(const char *name, int dtype, int norm_kind, const nncc_checkpoint_t *ck)
{
	static double p64[FUZZ_NP], state64[3 * FUZZ_NP], best64[FUZZ_NP];
	static float p32[FUZZ_NP], state32[3 * FUZZ_NP], best32[FUZZ_NP];
	double mean[FUZZ_IN] = {12.5, 200, 0, 99.25};
	nncc_model_t m = {FUZZ_MODEL_FIELDS, .dtype = dtype,
	                  .params = dtype == NNCC_F64 ? (void *)p64 : (void *)p32};
	for (size_t k = 0; k < FUZZ_NP; k++)
		p64[k] = p32[k] = (float)k / 8 - 1;
	for (size_t k = 0; k < 3 * FUZZ_NP; k++)
		state64[k] = state32[k] = (float)k / 16;
	for (size_t k = 0; k < FUZZ_NP; k++)
		best64[k] = best32[k] = (float)k / 4;
	nncc_norm_stats_t norm = {.kind = norm_kind, .dim = FUZZ_IN,
	                          .mean = norm_kind == NNCC_NORM_STANDARDIZE ? mean : NULL,
	                          .std = norm_kind == NNCC_NORM_STANDARDIZE ? 57.5 : 1};
	nncc_weights_meta_t meta = {0.875, 1200};
	nncc_checkpoint_t c;
	if (ck) {
		c = *ck;
		c.state = dtype == NNCC_F64 ? (void *)state64 : (void *)state32;
		c.best = dtype == NNCC_F64 ? (void *)best64 : (void *)best32;
	}
	char dir[] = "/tmp/nncc-mkseeds-XXXXXX", path[64];
	nncc_err_t err;
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(path, sizeof path, "%s/w", dir);
	if (nncc_weights_save(&m, path, &norm, &meta, ck ? &c : NULL, &err) < 0) {
		fprintf(stderr, "mkseeds: %s\n", err.msg);
		exit(1);
	}
	size_t n;
	uint8_t *b = slurp(path, &n);
	seed("weights", name, dtype == NNCC_F64 ? 2 : 0, b, n);
	free(b);
	unlink(path);
	rmdir(dir);
}

/* A version 1 file (docs/weights.md): the 56-byte header, mean[] when
 * standardized, META, the parameters, the CRC-32. */
static void weights_v1(const char *name, int dtype, int norm_kind)
{
	nncc_model_t m = {.dtype = dtype, .n_inputs = FUZZ_IN, .n_layers = 2, .layers = fuzz_layers};
	size_t rs = dtype == NNCC_F64 ? 8 : 4, at = 56;
	uint8_t b[1024] = "NNCCWTS";
	fuzz_le_put(b + 8, 1, 4);
	fuzz_le_put(b + 12, (uint64_t)dtype, 4);
	fuzz_le_put(b + 16, nncc_shape_hash(&m), 8);
	fuzz_le_put(b + 24, FUZZ_NP, 8);
	fuzz_le_put(b + 32, FUZZ_IN, 8);
	fuzz_le_put(b + 40, (uint64_t)norm_kind, 4);
	double std = norm_kind == NNCC_NORM_STANDARDIZE ? 64.0 : 1.0;
	memcpy(b + 48, &std, 8);
	for (size_t j = 0; norm_kind == NNCC_NORM_STANDARDIZE && j < FUZZ_IN; j++, at += 8) {
		double v = 30.0 * (double)j;
		memcpy(b + at, &v, 8);
	}
	double acc = 0.5;
	memcpy(b + at, &acc, 8);
	fuzz_le_put(b + at + 8, 77, 8);
	at += 16;
	for (size_t k = 0; k < FUZZ_NP; k++, at += rs) {
		double v = (double)k / 2 - 3;
		float f = (float)v;
		if (rs == 8)
			memcpy(b + at, &v, 8);
		else
			memcpy(b + at, &f, 4);
	}
	fuzz_le_put(b + at, crc32(crc32(0L, Z_NULL, 0), b, (uInt)at), 4);
	seed("weights", name, dtype == NNCC_F64 ? 2 : 0, b, at + 4);
}

static void weights(void)
{
	static uint32_t perm[10] = {3, 1, 4, 0, 5, 9, 2, 6, 8, 7};
	nncc_checkpoint_t full = {
		.has_optim = 1, .optimizer = "adam", .step = 41, .n_state = 2,
		.has_position = 1, .epoch = 4, .sample = 6, .rng = {1, 2, 3, 4}, .n_perm = 10,
		.perm = perm,
		.has_best = 1, .n_train = 10, .n_val = 2, .metric = NNCC_METRIC_VAL_ACCURACY,
		.best_epoch = 3, .wait = 1, .best_loss = 0.25, .best_accuracy = 0.5, .n_best = FUZZ_NP,
		.has_recipe = 1, .batch = 20, .chunks = 12, .seed = 7, .whole_passes = 1,
	};
	nncc_checkpoint_t small = {
		.has_optim = 1, .optimizer = "momentum", .step = 7, .n_state = 1,
		.has_position = 1, .epoch = 1, .sample = 3,
	};
	nncc_checkpoint_t stopped = {
		.has_optim = 1, .optimizer = "sgd", .step = 9,
		.has_best = 1, .n_train = 8, .n_val = 4, .metric = NNCC_METRIC_VAL_LOSS,
		.stopped = 1, .best_epoch = 2, .wait = 3, .best_loss = 1.5, .best_accuracy = 0.75,
	};
	weights_seed("v2-f32-none", NNCC_F32, NNCC_NORM_NONE, NULL);
	weights_seed("v2-f64-standardize", NNCC_F64, NNCC_NORM_STANDARDIZE, NULL);
	weights_seed("v2-f32-scale-checkpoint", NNCC_F32, NNCC_NORM_SCALE, &full);
	weights_seed("v2-f64-standardize-checkpoint", NNCC_F64, NNCC_NORM_STANDARDIZE, &full);
	weights_seed("v2-f64-position", NNCC_F64, NNCC_NORM_SCALE, &small);
	weights_seed("v2-f32-stopped", NNCC_F32, NNCC_NORM_NONE, &stopped);
	weights_v1("v1-f32-none", NNCC_F32, NNCC_NORM_NONE);
	weights_v1("v1-f64-standardize", NNCC_F64, NNCC_NORM_STANDARDIZE);
}

/* ---- IDX: fuzz_idx's layout, flags, u32 LE image length, images, labels */

static void idx_seed(const char *name, int flags, size_t n, size_t rows, size_t cols)
{
	size_t dim = rows * cols, ilen = 16 + n * dim, llen = 8 + n;
	uint8_t *b = calloc(1, 4 + ilen + llen), *im = b + 4, *lb = im + ilen;
	if (!b)
		exit(1);
	fuzz_le_put(b, ilen, 4);
	uint8_t ih[16] = {0, 0, 8, 3}, lh[8] = {0, 0, 8, 1};
	for (int i = 0; i < 4; i++) {
		ih[4 + i] = (uint8_t)(n >> (24 - 8 * i));
		ih[8 + i] = (uint8_t)(rows >> (24 - 8 * i));
		ih[12 + i] = (uint8_t)(cols >> (24 - 8 * i));
		lh[4 + i] = (uint8_t)(n >> (24 - 8 * i));
	}
	memcpy(im, ih, 16);
	memcpy(lb, lh, 8);
	for (size_t i = 0; i < n * dim; i++)
		im[16 + i] = (uint8_t)(i * 37 % 256);
	for (size_t i = 0; i < n; i++)
		lb[8 + i] = (uint8_t)(i % 10);
	seed("idx", name, flags, b, 4 + ilen + llen);
	free(b);
}

/* Image and label files gzip'd here (gzip's own format, not the harness's
 * flag): the bytes reach the loader as they are. */
static void idx_gz_seed(void)
{
	uint8_t im[16 + 2 * 9] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3};
	uint8_t lb[8 + 2] = {0, 0, 8, 1, 0, 0, 0, 2, 1, 7};
	for (size_t i = 16; i < sizeof im; i++)
		im[i] = (uint8_t)(i * 11);
	uint8_t out[512];
	size_t n = 4;
	const uint8_t *parts[2] = {im, lb};
	size_t lens[2] = {sizeof im, sizeof lb};
	for (int k = 0; k < 2; k++) {
		z_stream z = {0};
		if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			exit(1);
		z.next_in = (Bytef *)(uintptr_t)parts[k];
		z.avail_in = (uInt)lens[k];
		z.next_out = out + n;
		z.avail_out = (uInt)(sizeof out - n);
		if (deflate(&z, Z_FINISH) != Z_STREAM_END)
			exit(1);
		if (k == 0)
			fuzz_le_put(out, z.total_out, 4);
		n += z.total_out;
		deflateEnd(&z);
	}
	seed("idx", "gzip-in-input", 0, out, n);
}

static void idx(void)
{
	idx_seed("raw-3x2x2", 0, 3, 2, 2);
	idx_seed("raw-2x28x28", 0, 2, 28, 28);
	idx_seed("gz-images-5x3x4", 1 | 1 << 2, 5, 3, 4);
	idx_seed("gz-both-4x1x5", 3 | 2 << 2, 4, 1, 5);
	idx_seed("gz-labels-stored-1x1x1", 2 | 3 << 2, 1, 1, 1);
	idx_gz_seed();
}

/* ---- options: byte 0 picks the model (fuzz_options.c), then argv */

static void opt_seed(const char *name, int flags, const char *words)
{
	char b[1024];
	size_t n = strlen(words);
	memcpy(b, words, n);
	for (size_t i = 0; i < n; i++)
		if (b[i] == ' ')
			b[i] = '\n';
	seed("options", name, flags, b, n);
}

static void options(void)
{
	/* optimizer_table's rows: sgd 0, momentum 1, ... (bits 0-3); schedules
	 * constant, step, exponential, cosine (bits 4-5); bit 6 validation. */
	opt_seed("help", 0, "--help");
	opt_seed("h", 0, "-h");
	opt_seed("train", 0, "--data data/mnist --epochs 3 --batch 32 --lr 0.05 --seed 7 --shuffle --threads 2");
	opt_seed("full-batch", 0, "--batch=full --iterations=100 --no-shuffle --quiet --json");
	opt_seed("no-train", 0, "--no-train --load w.bin --eval-test");
	opt_seed("save", 1, "--save w.bin --checkpoint-every 50 --log run.csv --plot run.svg --eval-every 10");
	opt_seed("resume", 2, "--resume w.bin --epochs 5");
	opt_seed("clip", 3, "--clip-norm 1.5 --train-limit 1000 --optimizer momentum");
	opt_seed("validation", 0, "--validation 0.1 --patience 3 --stop-metric val_accuracy --min-delta 0.001");
	opt_seed("no-stop", 64, "--no-early-stopping --validation 500");
	opt_seed("step", 0, "--schedule step --step-size 2 --gamma 0.5 --unit iterations --warmup 10");
	opt_seed("exponential", 0, "--schedule exponential --gamma 0.9 --unit epochs");
	opt_seed("cosine", 48, "--min-lr 0.001 --t-max 500 --warmup 20");
	opt_seed("step-compiled", 16, "--gamma 0.2 --step-size 10");
	opt_seed("hparams-momentum", 1, "--momentum 0.9 --nesterov 1 --dampening 0 --weight-decay 0.0001");
	opt_seed("hparams-adam", 5, "--beta1 0.8 --beta2 0.99 --eps 1e-7 --amsgrad 0 --decay-biases 1");
	opt_seed("hparams-rmsprop", 4, "--alpha 0.9 --centered 1 --momentum 0.5");
	opt_seed("bad-value", 0, "--epochs -1");
	opt_seed("missing-value", 0, "--lr");
	opt_seed("unknown", 0, "--frobnicate -x extra");
	opt_seed("conflict", 0, "--resume a --load b");
}

/* ---- gzseek: flags, points, span (u16), seeks, the seeks, the payload */

static void gzseek_seed(const char *name, int flags, unsigned points, unsigned span,
                        size_t n_payload)
{
	static const unsigned seeks[][2] = {{900, 40}, {10, 300}, {2500, 7}, {0, 1}, {1700, 900}};
	size_t k = sizeof seeks / sizeof seeks[0], n = 4 + 4 * k;
	uint8_t *b = malloc(n + n_payload);
	if (!b)
		exit(1);
	b[0] = (uint8_t)points;
	b[1] = (uint8_t)(span - 1);
	b[2] = (uint8_t)((span - 1) >> 8);
	b[3] = (uint8_t)k;
	for (size_t i = 0; i < k; i++) {
		fuzz_le_put(b + 4 + 4 * i, seeks[i][0], 2);
		fuzz_le_put(b + 6 + 4 * i, seeks[i][1], 2);
	}
	for (size_t i = 0; i < n_payload; i++)   /* words of a small alphabet: Huffman blocks */
		b[n + i] = (uint8_t)("abcdefgh \n"[(i * 7 + i / 13) % 10]);
	seed("gzseek", name, flags, b, n + n_payload);
	free(b);
}

static void gzseek_seeds(void)
{
	gzseek_seed("one-member", 1 | 1 << 1, 4, 200, 3000);
	gzseek_seed("three-members", 1 | 2 << 1 | 8, 30, 64, 3000);
	gzseek_seed("stored-thinned", 1 | 3 << 1 | 8, 0, 1, 2000);
	gzseek_seed("raw-file", 0, 6, 100, 1500);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds CORPUS_DIR\n");
		return 2;
	}
	top = argv[1];
	weights();
	idx();
	options();
	gzseek_seeds();
	return 0;
}
