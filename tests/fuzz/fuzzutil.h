/*
 * fuzzutil.h - what the libFuzzer harnesses share (header-only, like
 * tests/testutil.h): the entry points' prototypes, the network of the
 * runtime harnesses' model descriptors, an input handed to a loader that
 * only takes a path (through a memfd: no disk, nothing to clean
 * up, and the loader opens it as it opens any file), a little-endian
 * reader, and the split of an input into NUL- or newline-separated words.
 *
 * A harness that includes this must define _GNU_SOURCE first (memfd_create).
 */
#ifndef NNCC_FUZZUTIL_H
#define NNCC_FUZZUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "nncc.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The network of the runtime harnesses' descriptors: 4 inputs -> dense 3
 * (linear) -> softmax, as tests/driverutil.h's "blobs" (W input-major, then
 * b).  Only descriptors: nothing runs it. */
#define FUZZ_IN 4
#define FUZZ_K 3
#define FUZZ_NP (FUZZ_IN * FUZZ_K + FUZZ_K)

static const nncc_param_t fuzz_tensors[] = {
	{"W", 0, FUZZ_IN * FUZZ_K, FUZZ_IN, FUZZ_K, 0, FUZZ_IN, FUZZ_K, 1.0},
	{"b", FUZZ_IN * FUZZ_K, FUZZ_K, 1, FUZZ_K, 1, FUZZ_IN, FUZZ_K, 1.0},
};

static const nncc_layer_t fuzz_layers[] = {
	{"out", "dense", "linear", FUZZ_IN, FUZZ_K, 2, fuzz_tensors},
	{"layer2", "softmax", NULL, FUZZ_K, FUZZ_K, 0, NULL},
};

/* The descriptor fields of that network, for an nncc_model_t initializer
 * (the dtype, params and the optimizer are the harness's). */
#define FUZZ_MODEL_FIELDS                                                          \
	.abi_version = NNCC_ABI_VERSION, .name = "fuzz", .source = "fuzz.yaml",       \
	.n_inputs = FUZZ_IN, .n_outputs = FUZZ_K, .n_layers = 2, .layers = fuzz_layers, \
	.n_params = FUZZ_NP, .max_batch = 8

/* An in-memory file with a path: /proc/self/fd/N. */
typedef struct FuzzFile {
	int fd;
	char path[64];
} FuzzFile;

/* Once, from LLVMFuzzerInitialize. */
static inline void fuzz_file_open(FuzzFile *f, const char *name)
{
	f->fd = memfd_create(name, 0);
	if (f->fd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
}

/* Makes the file hold exactly data[0..n). */
static inline void fuzz_file_set(FuzzFile *f, const void *data, size_t n)
{
	if (ftruncate(f->fd, 0) != 0 || (n && pwrite(f->fd, data, n, 0) != (ssize_t)n)) {
		perror("memfd write");
		abort();
	}
}

static inline uint32_t fuzz_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* v as `bytes` little-endian bytes at p. */
static inline void fuzz_le_put(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> 8 * i);
}

/* Splits data into words at NUL and newline bytes: a malloc'd argv of
 * *argc words after argv0 (argv[*argc] = NULL), each a malloc'd copy.
 * An empty word between two separators is kept (an empty argument). */
static inline char **fuzz_words(const uint8_t *data, size_t size, const char *argv0, int *argc)
{
	size_t n = 1;
	for (size_t i = 0; i < size; i++)
		n += data[i] == 0 || data[i] == '\n';
	char **argv = calloc(n + 2, sizeof *argv);
	if (!argv)
		abort();
	argv[0] = strdup(argv0);
	int k = 1;
	for (size_t i = 0, start = 0; i <= size; i++) {
		if (i < size && data[i] != 0 && data[i] != '\n')
			continue;
		if (i > start || i < size) {        /* no empty word after a final separator */
			argv[k] = malloc(i - start + 1);
			if (!argv[k])
				abort();
			memcpy(argv[k], data + start, i - start);
			argv[k][i - start] = 0;
			k++;
		}
		start = i + 1;
	}
	*argc = k;
	return argv;
}

static inline void fuzz_words_free(char **argv, int argc)
{
	for (int k = 0; k < argc; k++)
		free(argv[k]);
	free(argv);
}

#endif
