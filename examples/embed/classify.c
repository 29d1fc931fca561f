/*
 * classify.c - classifies 28x28 grey images with a network exported by
 * `nncc --infer` and compiled in: PGM files (binary P5 or plain P2, any
 * maxval up to 255) and IDX image files (uncompressed idx3-ubyte, such as
 * MNIST's t10k-images-idx3-ubyte).  Prints "FILE: CLASS (CONFIDENCE%)" per
 * image, "FILE[i]: ..." for the images of an IDX file.  MNIST digits are
 * white on black; --invert reads black-on-white drawings.  The network is
 * mnist_sgd20 from digits.h unless built with -DNET=name -DNET_UPPER=NAME
 * -DNET_HEADER='"name.h"'.  It is plain C99 and needs no nncc header.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef NET
#define NET mnist_sgd20
#define NET_UPPER MNIST_SGD20
#endif
#ifndef NET_HEADER
#define NET_HEADER "digits.h"
#endif
#include NET_HEADER

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define INPUTS CAT(NET_UPPER, _INPUTS)
#define OUTPUTS CAT(NET_UPPER, _OUTPUTS)
#define SIDE 28
#define MAX_FILE (64L << 20) /* larger inputs are not images of 28x28 */

#if INPUTS != SIDE * SIDE
#error "classify.c needs a network with 28x28 = 784 inputs"
#endif

typedef CAT(NET, _real) real;

static int invert;

/* Prints the class and its probability for one image. */
static void classify(const char *label, long index, unsigned char px[INPUTS])
{
	real p[OUTPUTS];
	int k;

	if (invert)
		for (size_t j = 0; j < INPUTS; j++)
			px[j] = (unsigned char)(255 - px[j]);
	k = CAT(NET, _predict_u8)(px);
	CAT(NET, _forward_u8)(px, p);
	if (index >= 0)
		printf("%s[%ld]: %d (%.1f%%)\n", label, index, k, 100.0 * (double)p[k]);
	else
		printf("%s: %d (%.1f%%)\n", label, k, 100.0 * (double)p[k]);
}

/* Reads a whole file; NULL after a message. */
static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b = NULL;
	long n;

	if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > MAX_FILE ||
	    fseek(f, 0, SEEK_SET) != 0 || !(b = malloc((size_t)n + 1)) ||
	    fread(b, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "classify: cannot read %s\n", path);
		free(b);
		if (f)
			fclose(f);
		return NULL;
	}
	fclose(f);
	b[n] = 0;
	*len = (size_t)n;
	return b;
}

/* PGM header and plain-text numbers: whitespace and # comments between. */
static int pgm_number(const unsigned char *b, size_t len, size_t *at, long *v)
{
	while (*at < len && (b[*at] == '#' || b[*at] == ' ' || b[*at] == '\t' ||
	                     b[*at] == '\n' || b[*at] == '\r'))
		if (b[(*at)++] == '#')
			while (*at < len && b[*at] != '\n')
				(*at)++;
	if (*at >= len || b[*at] < '0' || b[*at] > '9')
		return -1;
	for (*v = 0; *at < len && b[*at] >= '0' && b[*at] <= '9' && *v < 1000000; (*at)++)
		*v = *v * 10 + (b[*at] - '0');
	return 0;
}

static int read_pgm(const char *path, const unsigned char *b, size_t len)
{
	unsigned char px[INPUTS];
	size_t at = 2;
	long w, h, maxval, v;
	int plain = b[1] == '2';

	if (pgm_number(b, len, &at, &w) || pgm_number(b, len, &at, &h) ||
	    pgm_number(b, len, &at, &maxval) || maxval < 1 || maxval > 255) {
		fprintf(stderr, "classify: %s: bad PGM header\n", path);
		return -1;
	}
	if (w != SIDE || h != SIDE) {
		fprintf(stderr, "classify: %s: expected a 28x28 image, got %ldx%ld\n", path, w, h);
		return -1;
	}
	at++; /* the single whitespace before binary data */
	for (size_t j = 0; j < INPUTS; j++) {
		if (plain ? pgm_number(b, len, &at, &v) != 0 : at >= len) {
			fprintf(stderr, "classify: %s: truncated after %zu pixels\n", path, j);
			return -1;
		}
		if (!plain)
			v = b[at++];
		if (v > maxval) {
			fprintf(stderr, "classify: %s: pixel %zu is %ld, above maxval %ld\n", path, j,
			        v, maxval);
			return -1;
		}
		px[j] = (unsigned char)((v * 255 + maxval / 2) / maxval);
	}
	classify(path, -1, px);
	return 0;
}

static unsigned long be32(const unsigned char *p)
{
	return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 |
	       (unsigned long)p[3];
}

static int read_idx(const char *path, const unsigned char *b, size_t len)
{
	unsigned char px[INPUTS];
	unsigned long n = be32(b + 4), rows = be32(b + 8), cols = be32(b + 12);

	if (rows != SIDE || cols != SIDE) {
		fprintf(stderr, "classify: %s: expected 28x28 images, got %lux%lu\n", path, rows, cols);
		return -1;
	}
	if ((len - 16) / INPUTS < n || (len - 16) % INPUTS != 0) {
		fprintf(stderr, "classify: %s: %lu images announced, %zu bytes of pixels\n", path, n,
		        len - 16);
		return -1;
	}
	for (unsigned long i = 0; i < n; i++) {
		memcpy(px, b + 16 + i * INPUTS, INPUTS);
		classify(path, (long)i, px);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 0, files = 0;

	for (int i = 1; i < argc && rc == 0; i++) {
		unsigned char *b;
		size_t len;
		if (strcmp(argv[i], "--invert") == 0) {
			invert = 1;
			continue;
		}
		if (strcmp(argv[i], "--help") == 0 || argv[i][0] == '-') {
			fprintf(stderr, "usage: classify [--invert] FILE.pgm|FILE-idx3-ubyte...\n");
			return strcmp(argv[i], "--help") == 0 ? 0 : 1;
		}
		files++;
		if (!(b = slurp(argv[i], &len)))
			return 1;
		if (len >= 2 && b[0] == 'P' && (b[1] == '5' || b[1] == '2'))
			rc = read_pgm(argv[i], b, len);
		else if (len >= 16 && b[0] == 0 && b[1] == 0 && b[2] == 8 && b[3] == 3)
			rc = read_idx(argv[i], b, len);
		else {
			fprintf(stderr, "classify: %s: not a PGM (P5/P2) or IDX image file\n", argv[i]);
			rc = -1;
		}
		free(b);
	}
	if (files == 0) {
		fprintf(stderr, "usage: classify [--invert] FILE.pgm|FILE-idx3-ubyte...\n");
		return 1;
	}
	return rc == 0 ? 0 : 1;
}
