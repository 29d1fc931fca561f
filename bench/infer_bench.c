/*
 * infer_bench.c - times the code exported by `nncc --infer` (NAME_predict,
 * NAME_predict_u8 and NAME_forward, one image at a time, over the test set).
 * Built with -DNET=<name>, -DNET_UPPER=<NAME> and -DNET_HEADER='"<name>.h"',
 * and -DIMPL='"export_int8"' for an export with --quantize int8 (the same
 * API, in float; its records are tagged with IMPL); links the exported NAME.c
 * and, for the data loader and the normalisation only, libnncc.a.  The
 * inputs are normalised with the statistics stored in the weight file, as
 * the trainer did.
 *   infer_bench DATA_DIR WEIGHTS [PRED] [--budget S]
 * PRED: the trainer's predictions (one byte per test image, from bench.c);
 * the agreement is reported as a fact.  Output: R/I records as in bench.c.
 * The export has no batched entry point: its throughput is the per-image loop.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nncc.h"
#include NET_HEADER

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define NET_PREDICT CAT(NET, _predict)
#define NET_PREDICT_U8 CAT(NET, _predict_u8)
#define NET_FORWARD CAT(NET, _forward)
#define NET_REAL CAT(NET, _real)
#define NET_IN CAT(NET_UPPER, _INPUTS)
#define NET_OUT CAT(NET_UPPER, _OUTPUTS)

#define MAX_REPS 9
#ifndef IMPL
#define IMPL "export"
#endif
#ifdef INT8
typedef float net_real; /* the int8 export's float API */
#else
typedef NET_REAL net_real;
#endif

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *msg, const char *arg)
{
	fprintf(stderr, "infer_bench: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Times fn over the n test inputs until the budget is spent (3..9 reps). */
#define TIME_LOOP(t, reps, budget, body)                                     \
	do {                                                                     \
		double spent_ = 0;                                                   \
		for (reps = 0; reps < MAX_REPS; reps++) {                            \
			if (reps >= 3 && spent_ + t[reps - 1] > budget)                  \
				break;                                                       \
			double t0_ = now();                                              \
			body;                                                            \
			t[reps] = now() - t0_;                                           \
			spent_ += t[reps];                                               \
		}                                                                    \
	} while (0)

static void put_timing(const char *work, double *t, int reps, size_t n, double flop,
                       const char *note)
{
	qsort(t, (size_t)reps, sizeof *t, cmp_double);
	double med = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
	printf("R\timpl=" IMPL "\twork=%s\tthreads=1\treps=%d\tmin=%.9g\tmed=%.9g\tsamples=%zu"
	       "\tflop=%.6g\tnote=%s\n",
	       work, reps, t[0], med, n, flop, note);
}

int main(int argc, char **argv)
{
	double budget = 5, t[MAX_REPS];
	const char *pred_path = NULL;
	nncc_dataset_t test;
	nncc_weights_file_t wf;
	nncc_err_t err;
	char pi[4096], pl[4096];
	int reps;

	if (argc < 3)
		die("usage: infer_bench DATA_DIR WEIGHTS [PRED] [--budget S]", NULL);
	for (int a = 3; a < argc; a++) {
		if (!strcmp(argv[a], "--budget") && a + 1 < argc)
			budget = strtod(argv[++a], NULL);
		else
			pred_path = argv[a];
	}
	snprintf(pi, sizeof pi, "%s/t10k-images-idx3-ubyte", argv[1]);
	snprintf(pl, sizeof pl, "%s/t10k-labels-idx1-ubyte", argv[1]);
	if (nncc_dataset_load(&test, pi, pl, &err) || nncc_weights_read(&wf, argv[2], &err))
		die(err.msg, NULL);
	if (test.dim != NET_IN)
		die("the test set does not match the network's input", pi);
	int dtype = sizeof(net_real) == sizeof(double) ? NNCC_F64 : NNCC_F32;
	net_real *x = malloc(test.n * NET_IN * sizeof *x);
	unsigned char *pred = malloc(test.n);
	if (!x || !pred)
		die("out of memory", NULL);
	nncc_norm_apply(&wf.norm, dtype, x, test.pixels, test.n);

	/* Useful FLOP of one forward pass: 2*in*out per dense layer, from the
	 * parameter count (weights + biases) of a 784-H-10 network. */
	size_t hidden = (wf.n_params - NET_OUT) / (NET_IN + 1 + NET_OUT);
	double flop = 2.0 * (double)(NET_IN * hidden + hidden * NET_OUT);

	size_t correct = 0, agree = 0, sink = 0;
	for (size_t s = 0; s < test.n; s++) {  /* warm-up + correctness facts */
		pred[s] = (unsigned char)NET_PREDICT(&x[s * NET_IN]);
		correct += pred[s] == test.labels[s];
	}
	TIME_LOOP(t, reps, budget, for (size_t s = 0; s < test.n; s++)
	                               sink += (size_t)NET_PREDICT(&x[s * NET_IN]));
	put_timing("export.1", t, reps, test.n, (double)test.n * flop, "NAME_predict per image");
	TIME_LOOP(t, reps, budget, for (size_t s = 0; s < test.n; s++)
	                               sink += (size_t)NET_PREDICT_U8(&test.pixels[s * NET_IN]));
	put_timing("export.u8", t, reps, test.n, (double)test.n * flop,
	           "NAME_predict_u8 per image (raw pixels)");
	net_real out[NET_OUT];
	TIME_LOOP(t, reps, budget, for (size_t s = 0; s < test.n; s++) {
		NET_FORWARD(&x[s * NET_IN], out);
		sink += out[0] > 0.5f;
	});
	put_timing("export.fwd", t, reps, test.n, (double)test.n * flop,
	           "NAME_forward per image (softmax probabilities)");
	printf("I\timpl=" IMPL "\tkey=infer.test_accuracy\tthreads=1\tvalue=%.2f\n",
	       100.0 * (double)correct / (double)test.n);
	if (pred_path) {
		FILE *f = fopen(pred_path, "rb");
		unsigned char *tp = malloc(test.n);
		if (!f || !tp || fread(tp, 1, test.n, f) != test.n)
			die("cannot read the trainer's predictions", pred_path);
		fclose(f);
		for (size_t s = 0; s < test.n; s++)
			agree += tp[s] == pred[s];
		printf("I\timpl=" IMPL "\tkey=agree_with_trainer\tthreads=1\tvalue=%zu/%zu\n", agree,
		       test.n);
		free(tp);
	}
	fprintf(stderr, "%s", sink == 12345 ? " " : "");
	free(x);
	free(pred);
	nncc_weights_file_fini(&wf);
	nncc_dataset_fini(&test);
	return 0;
}
