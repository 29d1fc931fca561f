/*
 * check_predict.c - the trainer's predict mode (runtime/predict.c) on the
 * hand-written blobs model of driverutil.h: every row is the network's
 * output for its image (class = argmax, the values to the last bit), the
 * same from a gzip'd file and on standard output; and on every failure
 * (no weights, a damaged or mismatched image file, an output that is an
 * input, training options) an error, exit status 1 and no output file, an
 * existing one unchanged.
 */
#include "driverutil.h"

#include <sys/stat.h>

/* The test set's images, as the driver names them in make_data's dir. */
static char *test_images(const char *dir)
{
	return tu_path(dir, "t10k-images-idx3-ubyte");
}

/* Trains 40 iterations and saves the weights: dir/w.bin. */
static char *trained(const char *dir)
{
	char *w = tu_path(dir, "w.bin");
	result_t r = run_net(&blob_model, dir, "--iterations", "40", "--save", w, NULL);
	ck_assert_msg(r.rc == 0, "%s", r.err);
	result_free(&r);
	return w;
}

/* The rows predict mode must write for the weights in w and the test set:
 * computed here with the model's own forward() on the normalised images. */
static char *expected_rows(const char *dir, const char *w)
{
	nncc_norm_stats_t norm;
	nncc_dataset_t ds;
	nncc_err_t err;
	char *images = test_images(dir), *labels = tu_path(dir, "t10k-labels-idx1-ubyte");
	ck_assert_int_eq(nncc_weights_load(&blob_model, w, &norm, NULL, NULL, &err), 0);
	ck_assert_int_eq(nncc_dataset_load(&ds, images, labels, &err), 0);
	double *x = malloc(ds.n * IN * sizeof *x);
	size_t cap = 64 + ds.n * 80, len = 0;
	char *text = malloc(cap);
	ck_assert_ptr_nonnull(x);
	ck_assert_ptr_nonnull(text);
	nncc_norm_apply(&norm, NNCC_F64, x, ds.pixels, ds.n);
	len += (size_t)snprintf(text, cap, "sample,class,p0,p1,p2\n");
	for (size_t at = 0; at < ds.n; at += blob_model.max_batch) {
		size_t k = ds.n - at < blob_model.max_batch ? ds.n - at : blob_model.max_batch;
		blob_model.forward(k, x + at * IN);
		for (size_t b = 0; b < k; b++)
			len += (size_t)snprintf(text + len, cap - len, "%zu,%zu,%.17g,%.17g,%.17g\n",
			                        at + b, nncc_predict(&blob_model, b), probs[b][0],
			                        probs[b][1], probs[b][2]);
	}
	ck_assert_uint_lt(len, cap);
	free(x);
	nncc_dataset_fini(&ds);
	nncc_norm_fini(&norm);
	free(images);
	free(labels);
	return text;
}

START_TEST(predict_rows_are_the_networks_outputs)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *w = trained(dir), *images = test_images(dir), *out = tu_path(dir, "p.csv");
	char *want = expected_rows(dir, w);

	result_t r = run_net(&blob_model, dir, "--load", w, "--predict", images, "--output", out,
	                     NULL);
	ck_assert_msg(r.rc == 0, "%s", r.err);
	ASSERT_HAS(r.err, "blobs: 90 images of ");
	char *got = tu_read_file(out, NULL);
	ck_assert_str_eq(got, want);
	free(got);
	result_free(&r);

	/* Standard output, and a gzip'd file found as IMAGES.gz: the same rows. */
	ck_assert_int_eq(tu_run(NULL, "gzip '%s'", images), 0);
	r = run_net(&blob_model, dir, "--load", w, "--predict", images, "--quiet", NULL);
	ck_assert_msg(r.rc == 0, "%s", r.err);
	ck_assert_str_eq(r.out, want);
	ck_assert_str_eq(r.err, "");
	result_free(&r);

	free(want);
	free(w);
	free(images);
	free(out);
	tu_scratch_free(dir);
}
END_TEST

/* A failed prediction: exit 1, the message, no new file in dir and an
 * existing output as it was. */
static void expect_failure(const char *dir, int rc, const char *msg, const char *const *args)
{
	size_t before = tu_dir_entries(dir);
	result_t r = run_net_args(&blob_model, dir, args);
	ck_assert_msg(r.rc == rc, "exit %d, expected %d: %s", r.rc, rc, r.err);
	ck_assert_msg(strstr(r.err, msg), "expected \"%s\" in:\n%s", msg, r.err);
	ck_assert_uint_eq(tu_dir_entries(dir), before);   /* (stdout.txt, stderr.txt exist) */
	result_free(&r);
}

#define FAILS(dir, msg, ...) \
	expect_failure((dir), 1, (msg), (const char *const[]){__VA_ARGS__, NULL})
/* A command line that does not go together: exit 2 and the usage hint. */
#define USAGE(dir, msg, ...) \
	expect_failure((dir), 2, (msg), (const char *const[]){__VA_ARGS__, NULL})

START_TEST(predict_failure_leaves_no_output)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *w = trained(dir), *images = test_images(dir), *out = tu_path(dir, "p.csv");
	char *cut = tu_path(dir, "cut-images"), *tail = tu_path(dir, "tail-images");
	char *narrow = tu_path(dir, "narrow-images"), *keep = tu_path(dir, "keep.csv");
	result_t r = run_net(&blob_model, dir, "--quiet", NULL);   /* stdout.txt, stderr.txt */
	result_free(&r);
	ck_assert_int_eq(tu_write_text(keep, "an earlier prediction\n"), 0);

	/* The image file cut short in the last tile (5 bytes: image 89 of 90 is
	 * the first incomplete one), or with a byte after it;
	 * images of 2 x 3 pixels for a network of 4 inputs. */
	size_t len;
	uint8_t *file = (uint8_t *)tu_read_file(images, &len);
	ck_assert_int_eq(tu_write(cut, file, len - 5), 0);
	ck_assert_int_eq(tu_write(tail, file, len + 1), 0);   /* tu_read_file's NUL */
	uint8_t pix[6 * 3] = {0};
	size_t nlen;
	uint8_t *n6 = tu_idx_images(pix, 3, 2, 3, &nlen);
	ck_assert_int_eq(tu_write(narrow, n6, nlen), 0);
	free(n6);
	free(file);

	FAILS(dir, "truncated: image 89 of 90 ends early", "--load", w, "--predict", cut,
	      "--output", out);
	FAILS(dir, "truncated", "--load", w, "--predict", cut, "--output", keep);
	FAILS(dir, "unexpected trailing data (1 bytes after 360 bytes of data)", "--load", w,
	      "--predict", tail, "--output", out);
	FAILS(dir, "images of 2 x 3 = 6 pixels, the network takes 4 inputs", "--load", w,
	      "--predict", narrow, "--output", out);
	USAGE(dir, "--predict needs --load FILE, the trained weights", "--predict", images);
	USAGE(dir, "--output is where --predict writes: it needs --predict", "--output", out);
	USAGE(dir, "--predict runs a trained network: --save is for training", "--load", w,
	      "--predict", images, "--save", out);
	FAILS(dir, "is the weight file", "--load", w, "--predict", images, "--output", w);
	FAILS(dir, "is the image file", "--load", w, "--predict", images, "--output", images);
	FAILS(dir, "cannot write", "--load", w, "--predict", images, "--output", dir);
	char *deep = tu_path(dir, "no/such/dir.csv");
	FAILS(dir, "cannot write", "--load", w, "--predict", images, "--output", deep);
	free(deep);

	char *kept = tu_read_file(keep, NULL);
	ck_assert_str_eq(kept, "an earlier prediction\n");
	free(kept);
	struct stat st;
	ck_assert_int_ne(stat(out, &st), 0);
	free(w);
	free(images);
	free(out);
	free(cut);
	free(tail);
	free(narrow);
	free(keep);
	tu_scratch_free(dir);
}
END_TEST

/* An output that exists and is not a regular file is written in place
 * (renaming over it would replace it): /dev/null takes the rows, and
 * /dev/full's error is reported. */
START_TEST(predict_into_a_device)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *w = trained(dir), *images = test_images(dir);
	result_t r = run_net(&blob_model, dir, "--load", w, "--predict", images, "--output",
	                     "/dev/null", NULL);
	ck_assert_msg(r.rc == 0, "%s", r.err);
	result_free(&r);
	r = run_net(&blob_model, dir, "--load", w, "--predict", images, "--output", "/dev/full",
	            NULL);
	ck_assert_int_eq(r.rc, 1);
	ASSERT_HAS(r.err, "cannot write /dev/full: No space left on device");
	result_free(&r);
	struct stat st;
	ck_assert_int_eq(stat("/dev/full", &st), 0);
	ck_assert(S_ISCHR(st.st_mode));
	free(w);
	free(images);
	tu_scratch_free(dir);
}
END_TEST

static Suite *predict_suite(void)
{
	Suite *s = suite_create("predict");
	TCase *tc = tcase_create("predict");
	tcase_add_test(tc, predict_rows_are_the_networks_outputs);
	tcase_add_test(tc, predict_failure_leaves_no_output);
	tcase_add_test(tc, predict_into_a_device);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(predict_suite(), NULL);
}
