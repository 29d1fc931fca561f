/*
 * names.c - the words of the names nncc.h lists once (NNCC_DTYPES,
 * NNCC_NORMS, NNCC_INITS, NNCC_METRICS, NNCC_FORMATS, NNCC_RECONS, NNCC_FILES), for the runtime's
 * messages and the compiler's YAML tables alike, and the metrics' direction.
 * Nothing here is spelled a second time.
 */
#include <math.h>

#include "nncc.h"

const char *nncc_dtype_name(int dtype)
{
	switch (dtype) {
#define NNCC_X(ID, v, name, abbr, ctype) case v: return #name;
	NNCC_DTYPES(NNCC_X)
#undef NNCC_X
	}
	return "?";
}

const char *nncc_dtype_abbr(int dtype)
{
	switch (dtype) {
#define NNCC_X(ID, v, name, abbr, ctype) case v: return #abbr;
	NNCC_DTYPES(NNCC_X)
#undef NNCC_X
	}
	return "?";
}

const char *nncc_norm_name(int norm)
{
	switch (norm) {
#define NNCC_X(ID, v, name, doc) case v: return #name;
	NNCC_NORMS(NNCC_X)
#undef NNCC_X
	}
	return "?";
}

const char *nncc_norm_doc(int norm)
{
	switch (norm) {
#define NNCC_X(ID, v, name, doc) case v: return doc;
	NNCC_NORMS(NNCC_X)
#undef NNCC_X
	}
	return "?";
}

const char *nncc_init_name(int init)
{
	switch (init) {
#define NNCC_X(ID, v, name, doc) case v: return #name;
	NNCC_INITS(NNCC_X)
#undef NNCC_X
	}
	return "?";
}

const char *nncc_format_name(int format)
{
	switch (format) {
#define NNCC_X(ID, v, name) case v: return #name;
	NNCC_FORMATS(NNCC_X)
#undef NNCC_X
	}
	return "?";
}

const char *nncc_recon_name(int recon)
{
	switch (recon) {
#define NNCC_X(ID, v, name) case v: return #name;
	NNCC_RECONS(NNCC_X)
#undef NNCC_X
	}
	return "?";
}

const char *nncc_metric_name(int metric)
{
	switch (metric) {
#define NNCC_X(ID, v, name, up) case v: return #name;
	NNCC_METRICS(NNCC_X)
#undef NNCC_X
	}
	return "?";
}

/* Larger is better for the metrics flagged `up`. */
static int metric_up(int metric)
{
	switch (metric) {
#define NNCC_X(ID, v, name, up) case v: return up;
	NNCC_METRICS(NNCC_X)
#undef NNCC_X
	}
	return 0;
}

double nncc_metric_value(int metric, double loss, double accuracy)
{
	return metric_up(metric) ? accuracy : loss;
}

int nncc_metric_improves(int metric, double value, double best, double min_delta)
{
	if (isnan(best))
		return 1;
	return metric_up(metric) ? value > best + min_delta : value < best - min_delta;
}

const char *const nncc_default_files[NNCC_DATA_FILES] = {
#define NNCC_X(ID, key, file) [NNCC_FILE_##ID] = file,
	NNCC_FILES(NNCC_X)
#undef NNCC_X
};
