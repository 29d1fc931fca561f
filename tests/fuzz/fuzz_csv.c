/*
 * fuzz_csv.c - libFuzzer harness: the CSV loader (runtime/csv.c) through
 * libcsv, whole (nncc_csv_load, as training reads a file) and streamed
 * (nncc_csv_open/read/close, as --predict does), and the normalisation
 * fitted on what it loads (standardize_features).
 *
 * Input: byte 0 picks the spec (bits 0-1 the delimiter: ',' ';' '\t' ' ';
 * bit 2 header; bit 3 the label by name "y" instead of the last column;
 * bit 4 a regression on targets "y" and "-2"; bit 5 given classes; bit 6
 * ignore column 0), byte 1 the features the "network" takes (0-7),
 * byte 2 skip_rows (0-3), the rest is the file.  The file is a memfd, opened
 * by path as the driver does.  What it checks: a load that succeeds has the
 * shapes the driver relies on (finite features, labels in range, class names
 * sorted and distinct); streaming returns the same features; and the
 * loader's fast path for plain lines (plain_line) gives what libcsv alone
 * gives (NNCC_CSV_LIBCSV=1): the same error, or the same samples.
 */
#define _GNU_SOURCE
#include <math.h>
#include <string.h>

#include "driver.h"
#include "fuzzutil.h"

static FuzzFile file;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_file_open(&file, "data.csv");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char delims[4] = {',', ';', '\t', ' '};
	static const char *const targets[] = {"y", "-2"};
	static const char *const classes[] = {"b", "a", "0", "x y"};
	static const char *const ignore[] = {"0"};
	if (size < 3)
		return 0;
	unsigned flags = data[0];
	size_t dim = data[1] % 8;
	nncc_csv_spec_t spec = {
		.delimiter = delims[flags & 3],
		.header = (flags >> 2) & 1,
		.skip_rows = data[2] % 4,
		.label = flags & 8 ? "y" : NULL,
	};
	if (flags & 16) {
		spec.n_targets = 2;
		spec.targets = targets;
	}
	if (flags & 64) {
		spec.n_ignore = 1;
		spec.ignore = ignore;
	}
	fuzz_file_set(&file, data + 3, size - 3);

	nncc_dataset_t ds, slow;
	nncc_err_t err, slow_err;
	const char *const *given = flags & 32 ? classes : NULL;
	size_t n_given = flags & 32 ? 4 : 0;
	int rc = nncc_csv_load(&ds, file.path, &spec, dim, given, n_given, &err);
	setenv("NNCC_CSV_LIBCSV", "1", 1);
	int slow_rc = nncc_csv_load(&slow, file.path, &spec, dim, given, n_given, &slow_err);
	unsetenv("NNCC_CSV_LIBCSV");
	if (rc != slow_rc || (rc && strcmp(err.msg, slow_err.msg)))
		abort();
	if (rc == 0) {
		size_t ny = spec.n_targets ? ds.n * 2 * sizeof(double) : ds.n * sizeof(int32_t);
		if (slow.n != ds.n || slow.n_classes != ds.n_classes ||
		    memcmp(slow.values, ds.values, ds.n * dim * sizeof(double)) ||
		    memcmp(spec.n_targets ? (void *)slow.targets : (void *)slow.labels,
		           spec.n_targets ? (void *)ds.targets : (void *)ds.labels, ny))
			abort();
		for (size_t k = 0; ds.class_names && k < ds.n_classes; k++)
			if (strcmp(ds.class_names[k], slow.class_names[k]))
				abort();
		nncc_dataset_fini(&slow);
	}
	if (rc == 0) {
		if (ds.n == 0 || ds.dim != dim || !ds.values)
			abort();
		for (size_t k = 0; k < ds.n * dim; k++)
			if (!isfinite(ds.values[k]))
				abort();
		if (spec.n_targets) {
			if (ds.labels || ds.n_targets != 2)
				abort();
			for (size_t k = 0; k < ds.n * 2; k++)
				if (!isfinite(ds.targets[k]))
					abort();
		} else {
			for (size_t i = 0; i < ds.n; i++)
				if (ds.labels[i] < 0 || (size_t)ds.labels[i] >= ds.n_classes)
					abort();
			for (size_t k = 1; ds.class_names && !given && k < ds.n_classes; k++)
				if (strcmp(ds.class_names[k - 1], ds.class_names[k]) >= 0)
					abort();
		}
		nncc_norm_stats_t st;
		if (dim && nncc_norm_fit(&st, NNCC_NORM_STANDARDIZE_FEATURES, &ds, &err) == 0) {
			for (size_t j = 0; j < dim; j++)
				if (!(st.stds[j] > 0))
					abort();
			nncc_norm_fini(&st);
		}
		/* Streamed: the same features, 3 rows at a time. */
		nncc_csv_in_t *in;
		if (nncc_csv_open(&in, file.path, &spec, dim, &err) == 0) {
			double v[3 * 8];
			size_t got, at = 0;
			while (nncc_csv_read(in, v, 3, &got, &err) == 0 && got) {
				if (at + got > ds.n || memcmp(v, ds.values + at * dim, got * dim * sizeof *v))
					abort();
				at += got;
			}
			nncc_csv_close(in);
		}
		nncc_dataset_fini(&ds);
	}
	return 0;
}
