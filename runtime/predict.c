/*
 * predict.c - the trainer's predict mode:
 *
 *     ./net --load W --predict IMAGES [--output OUT.csv]
 *
 * runs the network of W (its weights and its normalisation) over an IDX
 * image file or, for a network trained on CSV files, a CSV file read as
 * the YAML's `data` says (its label column may be there or not), raw or
 * gzip'd, and writes one CSV row per sample:
 *
 *     sample,class,p0,p1,...        (softmax: the class probabilities)
 *     sample,class,y0,y1,...        (squared error: the outputs)
 *     sample,class,label,p0,p1,...  (W names the classes: label is class's name)
 *     sample,T1,T2,...              (regression: the outputs, headed by the
 *                                    YAML's target columns)
 *
 * sample counts from 0, class is the argmax (ties to the lowest, as in
 * evaluation).  Samples are read and the rows written one tile of
 * max_batch samples at a time, so memory does not grow with the file.  OUT
 * is written atomically (a temporary file in its directory, renamed when
 * every row is written); a failure leaves no OUT and an existing one as it
 * was.  Without --output (or with "-") the rows go to standard output; an
 * OUT that exists and is not a regular file (a FIFO, /dev/null) is written
 * in place.  Ctrl-C (SIGINT, SIGTERM) stops it after the tile under way,
 * with no OUT.  docs/trainer.md#predict.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

/* One row per sample of the tile just forwarded. */
static void write_rows(FILE *f, const nncc_model_t *m, const nncc_norm_stats_t *st,
                       size_t first, size_t k)
{
	const void *out = m->tensor(NNCC_T_ACT, m->n_layers - 1);
	size_t K = m->n_outputs;
	for (size_t b = 0; b < k; b++) {
		size_t c = m->n_targets ? 0 : nncc_predict(m, b);
		fprintf(f, "%zu", first + b);
		if (!m->n_targets)
			fprintf(f, ",%zu", c);
		if (st->n_classes) {
			fputc(',', f);
			nncc_csv_write_field(f, c < st->n_classes ? st->class_names[c] : "");
		}
		for (size_t i = 0; i < K; i++) {
			if (m->dtype == NNCC_F64)
				fprintf(f, ",%.17g", ((const double *)out)[b * K + i]);
			else   /* 9 digits: the float back, bit for bit */
				fprintf(f, ",%.9g", (double)((const float *)out)[b * K + i]);
		}
		fputc('\n', f);
	}
}

static int fail(const nncc_model_t *m, const char *msg)
{
	fflush(stdout);
	fprintf(stderr, "%s: error: %s\n", m->name, msg);
	return 1;
}

int nncc_predict_main(const nncc_model_t *m, const nncc_opts_t *o)
{
	nncc_err_t err;
	nncc_norm_stats_t norm = {0};
	nncc_images_t *in = NULL;
	nncc_outfile_t out = {0};   /* unused for stdout */
	FILE *f = stdout;
	uint8_t *pixels = NULL;
	nncc_csv_in_t *csv = NULL;
	double *values = NULL;
	int is_csv = m->config.format == NNCC_FORMAT_CSV;
	void *x = NULL;
	size_t n, rows, cols, rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float);
	const char *out_path = o->output ? o->output : "-";
	int ok = 0, status = 1;

	/* (opts_check refused --predict without --load, or with training outputs.) */
	if (strcmp(out_path, "-") && (nncc_same_file(out_path, o->predict) ||
	                              nncc_same_file(out_path, o->load))) {
		int w = nncc_same_file(out_path, o->load);
		nncc_err_set(&err, "--output %s is %s %s: refusing to overwrite it", out_path,
		             w ? "the weight file" : "the image file", w ? o->load : o->predict);
		return fail(m, err.msg);
	}
	if (nncc_weights_load(m, o->load, &norm, NULL, NULL, &err))
		return fail(m, err.msg);
	if (!norm.dim) {   /* no statistics stored: only a kind that needs none */
		norm.kind = m->config.normalize;
		norm.dim = m->n_inputs;
		norm.std = 1;
		if (norm.kind == NNCC_NORM_STANDARDIZE || norm.kind == NNCC_NORM_STANDARDIZE_FEATURES) {
			nncc_err_set(&err, "%s holds no normalisation statistics, and the network "
			             "standardizes its inputs", o->load);
			goto done;
		}
	}
	if (norm.dim != m->n_inputs) {
		nncc_err_set(&err, "%s: normalisation statistics for %zu inputs, network has %zu",
		             o->load, norm.dim, m->n_inputs);
		goto done;
	}
	if (is_csv) {
		if (nncc_csv_open(&csv, o->predict, &m->config.csv, m->n_inputs, &err))
			goto done;
		n = SIZE_MAX;   /* unknown until the end */
	} else if (nncc_images_open(&in, o->predict, &n, &rows, &cols, &err)) {
		goto done;
	}
	if (!is_csv && (uint64_t)rows * cols != m->n_inputs) {
		nncc_err_set(&err, "%s: images of %zu x %zu = %llu pixels, the network takes %zu "
		             "inputs", o->predict, rows, cols, (unsigned long long)rows * cols,
		             m->n_inputs);
		goto done;
	}
	pixels = malloc(m->max_batch * m->n_inputs);
	values = malloc(m->max_batch * m->n_inputs * sizeof *values);
	x = malloc(m->max_batch * m->n_inputs * rsize);
	if (!pixels || !values || !x) {
		nncc_err_set(&err, "out of memory for a tile of %zu images", m->max_batch);
		goto done;
	}
	nncc_signals_catch(m->name);
	if (strcmp(out_path, "-")) {
		if (nncc_outfile_open(&out, out_path, "cannot write", &err))
			goto done;
		f = out.f;
	}
	nncc_signals_hold(1);   /* the pool's threads never take them */
	if (m->set_threads)
		m->set_threads(o->threads);
	nncc_signals_hold(0);
	if (m->mask_key)
		m->mask_key(0, 0, 0);   /* evaluation: dropout is the identity */
	fprintf(f, "sample%s%s", m->n_targets ? "" : ",class", norm.n_classes ? ",label" : "");
	for (size_t i = 0; i < m->n_outputs; i++) {
		if (m->n_targets && i < m->config.csv.n_targets) {
			fputc(',', f);
			nncc_csv_write_field(f, m->config.csv.targets[i]);
		} else {
			fprintf(f, ",%s%zu", strcmp(m->loss_name, "cross_entropy") ? "y" : "p", i);
		}
	}
	fputc('\n', f);
	for (size_t at = 0, k; at < n; at += k) {
		k = n - at < m->max_batch ? n - at : m->max_batch;
		if (nncc_signal_pending()) {   /* Ctrl-C: stop, and leave no OUT */
			int sig = nncc_signal_pending();
			if (is_csv)
				nncc_err_set(&err, "interrupted by %s after %zu samples: nothing written",
				             nncc_signal_name(sig), at);
			else
				nncc_err_set(&err, "interrupted by %s after %zu of %zu images: nothing written",
				             nncc_signal_name(sig), at, n);
			status = nncc_signal_status(sig);
			goto done;
		}
		if (is_csv) {
			if (nncc_csv_read(csv, values, k, &k, &err))
				goto done;
			if (k == 0) {   /* the end of the file */
				n = at;
				break;
			}
			nncc_norm_apply_values(&norm, m->dtype, x, values, k);
		} else {
			if (nncc_images_read(in, pixels, k, &err))
				goto done;
			nncc_norm_apply(&norm, m->dtype, x, pixels, k);
		}
		m->forward(k, x);
		write_rows(f, m, &norm, at, k);
		if (ferror(f)) {
			nncc_err_set(&err, "cannot write %s: %s", out_path, strerror(errno));
			goto done;
		}
	}
	if (f == stdout && fflush(stdout) != 0) {
		nncc_err_set(&err, "cannot write to standard output: %s", strerror(errno));
		goto done;
	}
	ok = f == stdout || nncc_outfile_commit(&out, &err) == 0;
done:
	if (!ok)
		nncc_outfile_abort(&out);
	nncc_images_close(in);
	nncc_csv_close(csv);
	free(values);
	nncc_norm_fini(&norm);
	free(pixels);
	free(x);
	nncc_signals_release();
	if (!ok) {
		fail(m, err.msg);
		return status;
	}
	if (!o->quiet)
		fprintf(stderr, "%s: %zu %s of %s predicted%s%s\n", m->name, n,
		        is_csv ? "samples" : "images", o->predict,
		        strcmp(out_path, "-") ? " into " : "", strcmp(out_path, "-") ? out_path : "");
	return 0;
}
