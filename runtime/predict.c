/*
 * predict.c - the trainer's predict mode:
 *
 *     ./net --load W --predict IMAGES [--output OUT.csv]
 *
 * runs the network of W (its weights and its normalisation) over an IDX
 * image file, raw or gzip'd, and writes one CSV row per image:
 *
 *     sample,class,p0,p1,...      (softmax: the class probabilities)
 *     sample,class,y0,y1,...      (squared error: the outputs)
 *
 * sample counts from 0, class is the argmax (ties to the lowest, as in
 * evaluation).  The images are read and the rows written one tile of
 * max_batch images at a time, so memory does not grow with the file.  OUT
 * is written atomically (a temporary file in its directory, renamed when
 * every row is written); a failure leaves no OUT and an existing one as it
 * was.  Without --output (or with "-") the rows go to standard output; an
 * OUT that exists and is not a regular file (a FIFO, /dev/null) is written
 * in place.  docs/trainer.md#predict.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckd.h"
#include "driver.h"

/* Where the rows go. */
typedef struct sink {
	FILE *f;
	const char *path;   /* as given; "-" = stdout */
	char *tmp;          /* the temporary file until renamed, or NULL */
} sink_t;

static int same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

static int sink_open(sink_t *k, const char *path, nncc_err_t *err)
{
	struct stat st;
	memset(k, 0, sizeof *k);
	k->path = path;
	if (!strcmp(path, "-")) {
		k->f = stdout;
		return 0;
	}
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		nncc_err_set(err, "cannot write %s: it is a directory", path);
		return -1;
	}
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		k->f = fopen(path, "w");
	} else {
		size_t n = strlen(path);
		int fd;
		if (!(k->tmp = malloc(n + sizeof ".tmp.XXXXXX"))) {
			nncc_err_set(err, "cannot write %s: out of memory", path);
			return -1;
		}
		memcpy(k->tmp, path, n);
		memcpy(k->tmp + n, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
		fd = mkstemp(k->tmp);
		if (fd >= 0) {
			/* mkstemp makes it 0600; a CSV gets the usual mode. */
			mode_t mask = umask(0);
			umask(mask);
			if (fchmod(fd, 0666 & ~mask) != 0 || !(k->f = fdopen(fd, "w"))) {
				int saved = errno;
				close(fd);
				unlink(k->tmp);
				errno = saved;
			}
		}
		if (!k->f) {
			free(k->tmp);
			k->tmp = NULL;
		}
	}
	if (!k->f) {
		nncc_err_set(err, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Ends the rows: 0 when every byte reached OUT (renamed into place), -1
 * with err set and no trace of the temporary file otherwise.  ok 0: a
 * failure elsewhere, the rows are dropped. */
static int sink_close(sink_t *k, int ok, nncc_err_t *err)
{
	int failed = !ok;
	if (!k->f)
		return -1;
	if (ok && (fflush(k->f) != 0 || ferror(k->f) || (k->tmp && fsync(fileno(k->f)) != 0))) {
		nncc_err_set(err, "cannot write %s: %s", k->path, strerror(errno));
		failed = 1;
	}
	if (k->f != stdout && fclose(k->f) != 0 && !failed) {
		nncc_err_set(err, "cannot write %s: %s", k->path, strerror(errno));
		failed = 1;
	}
	k->f = NULL;
	if (k->tmp) {
		if (!failed && rename(k->tmp, k->path) != 0) {
			nncc_err_set(err, "cannot write %s: %s", k->path, strerror(errno));
			failed = 1;
		}
		if (failed)
			unlink(k->tmp);
		free(k->tmp);
		k->tmp = NULL;
	}
	return failed ? -1 : 0;
}

/* One row per image of the tile just forwarded. */
static void write_rows(FILE *f, const nncc_model_t *m, size_t first, size_t k)
{
	const void *out = m->tensor(NNCC_T_ACT, m->n_layers - 1);
	size_t K = m->n_outputs;
	for (size_t b = 0; b < k; b++) {
		fprintf(f, "%zu,%zu", first + b, nncc_predict(m, b));
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
	sink_t out = {0};
	uint8_t *pixels = NULL;
	void *x = NULL;
	size_t n, rows, cols, rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float);
	const char *out_path = o->output ? o->output : "-";
	int ok = 0, opened = 0;

	/* (opts_check refused --predict without --load, or with training outputs.) */
	if (strcmp(out_path, "-") && (same_file(out_path, o->predict) ||
	                              same_file(out_path, o->load))) {
		nncc_err_set(&err, "--output %s is %s %s: refusing to overwrite it", out_path,
		             same_file(out_path, o->load) ? "the weight file" : "the image file",
		             same_file(out_path, o->load) ? o->load : o->predict);
		return fail(m, err.msg);
	}
	if (nncc_weights_load(m, o->load, &norm, NULL, NULL, &err))
		return fail(m, err.msg);
	if (!norm.dim) {   /* no statistics stored: only a kind that needs none */
		norm.kind = m->config.normalize;
		norm.dim = m->n_inputs;
		norm.std = 1;
		if (norm.kind == NNCC_NORM_STANDARDIZE) {
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
	if (nncc_images_open(&in, o->predict, &n, &rows, &cols, &err))
		goto done;
	if ((uint64_t)rows * cols != m->n_inputs) {
		nncc_err_set(&err, "%s: images of %zu x %zu = %llu pixels, the network takes %zu "
		             "inputs", o->predict, rows, cols, (unsigned long long)rows * cols,
		             m->n_inputs);
		goto done;
	}
	pixels = malloc(m->max_batch * m->n_inputs);
	x = malloc(m->max_batch * m->n_inputs * rsize);
	if (!pixels || !x) {
		nncc_err_set(&err, "out of memory for a tile of %zu images", m->max_batch);
		goto done;
	}
	if (sink_open(&out, out_path, &err))
		goto done;
	opened = 1;
	if (m->set_threads)
		m->set_threads(o->threads);
	if (m->mask_key)
		m->mask_key(0, 0, 0);   /* evaluation: dropout is the identity */
	fprintf(out.f, "sample,class");
	for (size_t i = 0; i < m->n_outputs; i++)
		fprintf(out.f, ",%s%zu", strcmp(m->loss_name, "cross_entropy") ? "y" : "p", i);
	fputc('\n', out.f);
	for (size_t at = 0; at < n; at += m->max_batch) {
		size_t k = n - at < m->max_batch ? n - at : m->max_batch;
		if (nncc_images_read(in, pixels, k, &err))
			goto done;
		nncc_norm_apply(&norm, m->dtype, x, pixels, k);
		m->forward(k, x);
		write_rows(out.f, m, at, k);
		if (ferror(out.f)) {
			nncc_err_set(&err, "cannot write %s: %s", out_path, strerror(errno));
			goto done;
		}
	}
	ok = 1;
done:
	if (opened && sink_close(&out, ok, &err))
		ok = 0;
	nncc_images_close(in);
	nncc_norm_fini(&norm);
	free(pixels);
	free(x);
	if (!ok)
		return fail(m, err.msg);
	if (!o->quiet)
		fprintf(stderr, "%s: %zu images of %s predicted%s%s\n", m->name, n, o->predict,
		        strcmp(out_path, "-") ? " into " : "", strcmp(out_path, "-") ? out_path : "");
	return 0;
}
