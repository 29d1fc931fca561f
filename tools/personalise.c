/*
 * personalise.c - the on-device fine-tuning experiment (issue 13,
 * docs/embedding.md "On-device fine-tuning"): a network trained on MNIST
 * meets a shifted domain and adapts to it with NAME_train_step_u8 alone,
 * as a device would.
 *   personalise DATA_DIR SHIFT N PASSES LR
 * SHIFT is `invert` (pixel -> 255 - pixel: light digits on dark paper) or
 * `rotate` (each image turned 90 degrees clockwise).  The first N training
 * images, shifted, are the user's samples: PASSES passes over them in order,
 * one step each at rate LR.  Accuracy is measured on the 10000 test images,
 * shifted and as they are, before and after.  Prints one tab-separated line:
 *   shifted_before shifted_after original_before original_after RAM TRAIN_RAM FLASH
 * Built with -DNET=<name> -DNET_UPPER=<NAME> -DNET_HEADER='"<name>.h"', the
 * export made with --trainable; links the exported NAME.c and nothing else
 * (the IDX files are read here).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include NET_HEADER

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define N_(x) CAT(NET, x)
#define U_(x) CAT(NET_UPPER, x)

#define SIDE 28
#define PIXELS (SIDE * SIDE)

typedef struct {
	unsigned char *px, *labels;
	size_t n;
} set_t;

static void die(const char *msg, const char *arg)
{
	fprintf(stderr, "personalise: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	exit(1);
}

static unsigned long be32(const unsigned char *b)
{
	return (unsigned long)b[0] << 24 | (unsigned long)b[1] << 16 | (unsigned long)b[2] << 8 | b[3];
}

/* An IDX image file and its labels: 28x28 images only. */
static void load(set_t *s, const char *dir, const char *prefix)
{
	char path[4096];
	unsigned char head[16];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
	if (!(f = fopen(path, "rb")) || fread(head, 1, 16, f) != 16 || be32(head) != 0x803 ||
	    be32(head + 8) != SIDE || be32(head + 12) != SIDE)
		die("not a 28x28 IDX image file", path);
	s->n = be32(head + 4);
	if (!(s->px = malloc(s->n * PIXELS)) || fread(s->px, PIXELS, s->n, f) != s->n)
		die("short or unreadable image file", path);
	fclose(f);
	snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
	if (!(f = fopen(path, "rb")) || fread(head, 1, 8, f) != 8 || be32(head) != 0x801 ||
	    be32(head + 4) != s->n)
		die("not the IDX label file of the images", path);
	if (!(s->labels = malloc(s->n)) || fread(s->labels, 1, s->n, f) != s->n)
		die("short or unreadable label file", path);
	fclose(f);
}

/* The shift, in place. */
static void shift(set_t *s, const char *kind)
{
	unsigned char img[PIXELS];
	for (size_t k = 0; k < s->n; k++) {
		unsigned char *p = s->px + k * PIXELS;
		if (strcmp(kind, "invert") == 0) {
			for (size_t j = 0; j < PIXELS; j++)
				p[j] = (unsigned char)(255 - p[j]);
		} else { /* rotate: row r, column c <- row SIDE-1-c, column r */
			for (size_t r = 0; r < SIDE; r++)
				for (size_t c = 0; c < SIDE; c++)
					img[r * SIDE + c] = p[(SIDE - 1 - c) * SIDE + r];
			memcpy(p, img, PIXELS);
		}
	}
}

static double accuracy(const set_t *s)
{
	size_t ok = 0;
	for (size_t k = 0; k < s->n; k++)
		ok += N_(_predict_u8)(s->px + k * PIXELS) == (int)s->labels[k];
	return (double)ok / (double)s->n;
}

int main(int argc, char **argv)
{
	set_t train, test, shifted;

	if (argc != 6 || (strcmp(argv[2], "invert") != 0 && strcmp(argv[2], "rotate") != 0))
		die("usage: personalise DATA_DIR invert|rotate N PASSES LR", NULL);
	if (U_(_INPUTS) != PIXELS)
		die("the network does not take 28x28 images", NULL);
	size_t n = strtoul(argv[3], NULL, 10), passes = strtoul(argv[4], NULL, 10);
	N_(_real) lr = (N_(_real))strtod(argv[5], NULL);
	load(&train, argv[1], "train");
	load(&test, argv[1], "t10k");
	load(&shifted, argv[1], "t10k");
	if (n == 0 || n > train.n)
		die("N must be 1 .. the training set's size", argv[3]);
	shift(&train, argv[2]);
	shift(&shifted, argv[2]);

	double sb = accuracy(&shifted), ob = accuracy(&test);
	for (size_t p = 0; p < passes; p++)
		for (size_t k = 0; k < n; k++)
			if (N_(_train_step_u8)(train.px + k * PIXELS, train.labels[k], lr) != 0)
				die("train_step refused a sample", NULL);
	printf("%.4f\t%.4f\t%.4f\t%.4f\t%lu\t%lu\t%lu\n", sb, accuracy(&shifted), ob, accuracy(&test),
	       (unsigned long)U_(_RAM_BYTES), (unsigned long)U_(_TRAIN_RAM_BYTES),
	       (unsigned long)U_(_FLASH_BYTES));
	free(train.px), free(train.labels), free(test.px), free(test.labels);
	free(shifted.px), free(shifted.labels);
	return 0;
}
