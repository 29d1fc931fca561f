/*
 * idxgen.c - writes a seeded IDX data set for the e2e scripts (stream.sh,
 * mpi.sh): idxgen DIR N_TRAIN N_TEST ROWS COLS CLASSES writes
 * DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte.  Sample i has class
 * i % CLASSES and is bright (150 + noise) in its class's band of pixels
 * (pixel j is in band j * CLASSES / (ROWS * COLS)), dark (noise, 0 .. 63)
 * elsewhere; the noise is an LCG seeded per set.
 */
#include <stdio.h>
#include <stdlib.h>

static void be32(FILE *f, unsigned long v)
{
	putc((int)(v >> 24 & 255), f);
	putc((int)(v >> 16 & 255), f);
	putc((int)(v >> 8 & 255), f);
	putc((int)(v & 255), f);
}

static int set(const char *dir, const char *name, unsigned long n, unsigned long rows,
               unsigned long cols, unsigned long classes, unsigned long s)
{
	unsigned long dim = rows * cols;
	char p[4096];
	FILE *f;

	snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", dir, name);
	if (!(f = fopen(p, "wb")))
		return 1;
	be32(f, 0x803), be32(f, n), be32(f, rows), be32(f, cols);
	for (unsigned long i = 0; i < n; i++)
		for (unsigned long j = 0; j < dim; j++) {
			s = (s * 1103515245ul + 12345ul) & 0xfffffffful;
			putc((int)((j * classes / dim == i % classes) * 150 + (s >> 26)), f);
		}
	if (fclose(f))
		return 1;
	snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", dir, name);
	if (!(f = fopen(p, "wb")))
		return 1;
	be32(f, 0x801), be32(f, n);
	for (unsigned long i = 0; i < n; i++)
		putc((int)(i % classes), f);
	return fclose(f) != 0;
}

int main(int argc, char **argv)
{
	unsigned long a[5];
	if (argc != 7) {
		fprintf(stderr, "usage: idxgen DIR N_TRAIN N_TEST ROWS COLS CLASSES\n");
		return 2;
	}
	for (int k = 0; k < 5; k++)
		a[k] = strtoul(argv[k + 2], NULL, 10);
	return set(argv[1], "train", a[0], a[2], a[3], a[4], 5) ||
	       set(argv[1], "t10k", a[1], a[2], a[3], a[4], 9);
}
