/*
 * check_trajectory.c - 20 full-batch SGD steps of two examples
 * (examples/softmax.yaml and the 784-50-10 sigmoid network), float64, on
 * the first 1000 MNIST training images (seeded synthetic images without
 * data/mnist), generated trainer against the reference backprop: the loss
 * and every weight after every step, the trained bits pinned in
 * tests/golden/reference.sha256, and the loss must fall.  The cases,
 * loading and comparison are check_reference's (refutil.h).
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nncc.h"       /* runtime ABI: first on the include path */
#include "refutil.h"
#include "testutil.h"

/* The tolerance relative to max(M_k, FLOOR), as refutil.h explains. */
#define TOL_TRAJECTORY 1e-9

#define TRAJ_N 1000
#define TRAJ_STEPS 20
#define TRAJ_LR 0.3

static const char *const traj_examples[] = {"ex_softmax", "ex_sigmoid50_fullbatch"};
#define N_TRAJ (sizeof traj_examples / sizeof traj_examples[0])

/* 1000 images normalised as the examples say (standardize); real MNIST
 * when data/mnist has it, else seeded synthetic 28x28 images whose class
 * decides which of ten blocks is bright. */
static void traj_data(const nncc_model_t *gm, Samples *d, const char **source)
{
	nncc_dataset_t ds = {0};
	nncc_err_t err;
	nncc_norm_stats_t st = {0};
	size_t rs = rsize(gm);

	d->N = TRAJ_N;
	d->x = calloc(TRAJ_N * 784, sizeof(double));
	d->gx = calloc(TRAJ_N * 784, rs);
	d->y = calloc(TRAJ_N, sizeof(int32_t));
	d->got = calloc(gm->n_params > TRAJ_N * 784 ? gm->n_params : TRAJ_N * 784, sizeof(double));
	d->mparams = calloc(gm->n_params, sizeof(double));
	ck_assert(d->x && d->gx && d->y && d->got && d->mparams);
	if (nncc_dataset_load(&ds, "data/mnist/train-images-idx3-ubyte",
	                      "data/mnist/train-labels-idx1-ubyte", &err) == 0 &&
	    ds.n >= TRAJ_N && ds.dim == 784) {
		ds.n = TRAJ_N;   /* the slice: first 1000 images (fit and apply) */
		*source = "data/mnist (first 1000 training images)";
	} else {
		nncc_dataset_fini(&ds);
		nncc_rng_t r;
		nncc_rng_seed(&r, 1000);
		ds.n = TRAJ_N;
		ds.dim = 784;
		ds.rows = ds.cols = 28;
		ds.n_classes = 10;
		ds.pixels = malloc(TRAJ_N * 784);
		ds.labels = malloc(TRAJ_N * sizeof(int32_t));
		ck_assert(ds.pixels && ds.labels);
		for (size_t b = 0; b < TRAJ_N; b++) {
			ds.labels[b] = (int32_t)nncc_rng_below(&r, 10);
			for (size_t p = 0; p < 784; p++) {
				int bright = p / 78 == (size_t)ds.labels[b];
				ds.pixels[b * 784 + p] = (uint8_t)nncc_rng_below(&r, bright ? 256 : 64);
			}
		}
		*source = "synthetic 784-pixel images (no data/mnist)";
	}
	ck_assert_int_eq(nncc_norm_fit(&st, NNCC_NORM_STANDARDIZE, &ds, &err), 0);
	nncc_norm_apply(&st, NNCC_F64, d->x, ds.pixels, TRAJ_N);
	nncc_norm_apply(&st, gm->dtype, d->gx, ds.pixels, TRAJ_N);
	for (size_t k = 0; k < TRAJ_N * 784; k++)
		d->x[k] = rround(gm, d->x[k]);
	memcpy(d->y, ds.labels, TRAJ_N * sizeof(int32_t));
	nncc_norm_fini(&st);
	nncc_dataset_fini(&ds);
}

START_TEST(test_trajectory)
{
	const Case *c = NULL;
	for (size_t i = 0; i < G.n_cases; i++)
		if (G.cases[i].f64 && strncmp(G.cases[i].id, traj_examples[_i],
		                              strlen(traj_examples[_i])) == 0)
			c = &G.cases[i];
	if (!c) {
		ck_assert_msg(G.only && *G.only, "examples/%s.yaml is missing from the matrix",
		              traj_examples[_i] + 3);
		return;   /* not selected by NNCC_TEST_NET */
	}
	Loaded L;
	char err[512];
	const char *source;
	case_load(&L, c);
	const nncc_model_t *gm = L.gm;
	ck_assert_uint_eq(gm->n_inputs, 784);
	Samples d;
	traj_data(gm, &d, &source);
	RefNet *ref = ref_new(L.model, TRAJ_N, err, sizeof err);
	ck_assert_msg(ref != NULL, "%s: reference: %s", c->id, err);
	nncc_init_params(gm, NNCC_INIT_NORMAL, 0.1, 1, 1);
	for (size_t p = 0; p < gm->n_params; p++) {
		ref->params[p] = rget(gm, gm->params, p);
		d.mparams[p] = fabs(ref->params[p]);
	}

	Where w = {c, gm, TOL_TRAJECTORY, TRAJ_N, 0, ALL_TILES, "trajectory", TRAJ_LR};
	for (w.step = 0; w.step < TRAJ_STEPS; w.step++) {
		double ref_sum = reference_pass(ref, TRAJ_N, d.x, d.y), loss;
		gen_batch(&w, ref, &d, 0, NULL, &loss);
		update_both(&w, ref, &d, w.lr, TRAJ_N);
		check_scalar(&w, "loss (sum over the 1000 images)", loss, ref_sum, ref->mloss * TRAJ_N);
		compare_params(&w, ref, &d, "params after the step");
	}
	if (G.seed == 1) {   /* pinned like the matrix */
		char hex[65], id[128];
		nncc_sha256_hex(gm->params, gm->n_params * sizeof(double), hex);
		snprintf(id, sizeof id, "trajectory_%s_%s", c->id,
		         strncmp(source, "data/mnist", 10) == 0 ? "mnist" : "synthetic");
		char *why = tu_golden("tests/golden/reference.sha256", id, hex);
		ck_assert_msg(why == NULL, "%s (on %s)", why, source);
	}
	/* The trajectory went somewhere: the loss fell. */
	ref_forward(ref, TRAJ_N, d.x);
	double final = ref_loss(ref, TRAJ_N, d.y);
	ck_assert_msg(final < log(10.0) * 0.9, "%s on %s: loss after %d steps is %g", c->id,
	              source, TRAJ_STEPS, final);
	if (getenv("NNCC_TEST_VERBOSE"))
		fprintf(stderr, "%s trajectory on %s: largest error %.2g of the tolerance, loss %g\n",
		        c->id, source, worst_ratio, final);
	ref_free(ref);
	data_free(&d);
	case_unload(&L);
}
END_TEST

static Suite *trajectory_suite(void)
{
	Suite *s = suite_create("trajectory");
	TCase *tc = tcase_create("trajectory");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_trajectory, 0, (int)N_TRAJ);
	suite_add_tcase(s, tc);
	return s;
}

/* Only the trajectory examples are built, in float64. */
int main(void)
{
	matrix_setup("check_trajectory");
	matrix_examples(G.seed);
	for (size_t i = 0; i < G.n_nets; i++)
		for (size_t t = 0; t < N_TRAJ; t++)
			if (strcmp(G.nets[i].id, traj_examples[t]) == 0 && selected(G.nets[i].id))
				case_add(&G.nets[i], 1);
	cases_build();
	return tu_suite_main(trajectory_suite(), G.dir);
}
