/*
 * fuzz_yaml.c - libFuzzer harness: the compiler's front end and both
 * emitters.  The input is the text of a NET.yaml.  It goes through
 * yaml_parse and model_from_yaml (what model_load does after reading the
 * file, and the sha256 it fills); a model that validates is planned and
 * printed (nncc --plan), emitted as a trainer (emit_trainer) and, with made-up weights, as
 * inference C (emit_infer: the .h/.c pair, then --header-only).
 *
 * The export's weights are deterministic and exact in float32, and its
 * normalisation is the YAML's kind (standardize gets made-up means), so
 * emit_infer's own checks pass and it writes every part.  It is skipped
 * for models with more than FUZZ_MAX_EXPORT parameters or inputs: the
 * exported file spells out every weight, and a 2^31-parameter network
 * (a valid one) would only measure the time it takes to print them.
 *
 * Diagnostics go to /dev/null.  The arena and every Buf are freed per
 * input, so ASan's leak check turns a leak in the compiler into a crash.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../compiler/nncc.h"

#define FUZZ_MAX_EXPORT ((size_t)1 << 16)

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	devnull = fopen("/dev/null", "w");
	if (!devnull)
		abort();
	return 0;
}

/* emit_infer on m with weights params[k] = small multiples of 2^-10 and the
 * YAML's normalisation. */
static void export(Ctx *ctx, const Model *m, bool header_only)
{
	double *w = malloc((m->n_params ? m->n_params : 1) * sizeof *w);
	double *mean = malloc(m->inputs * sizeof *mean), *stds = malloc(m->inputs * sizeof *stds);
	if (!w || !mean || !stds)
		abort();
	for (size_t k = 0; k < m->n_params; k++)
		w[k] = ldexp((double)(int)(k * 2654435761u % 2001u) - 1000, -10);
	for (size_t k = 0; k < m->inputs; k++) {
		mean[k] = (double)(k % 256) / 3;
		stds[k] = 0.25 + (double)(k % 7);
	}
	static char *names[] = {"a", "b \"quoted\"", "c"};
	bool both = m->data.normalize == NNCC_NORM_STANDARDIZE ||
	            m->data.normalize == NNCC_NORM_STANDARDIZE_FEATURES;
	nncc_norm_stats_t norm = {
		.kind = m->data.normalize,
		.dim = m->inputs,
		.mean = both ? mean : NULL,
		.std = m->data.normalize == NNCC_NORM_STANDARDIZE ? 61.5 : 1,
		.stds = m->data.normalize == NNCC_NORM_STANDARDIZE_FEATURES ? stds : NULL,
		/* string labels: their names, as many as fit */
		.n_classes = m->data.csv.n_classes ? (m->outputs < 3 ? m->outputs : 3) : 0,
		.class_names = names,
	};
	EmitOptions eo = {
		.command_line = "nncc --infer --weights fuzz.wts fuzz.yaml -o fuzz.c",
		.weights = w,
		.weights_path = "fuzz.wts",
		.weights_sha256 = "0000000000000000000000000000000000000000000000000000000000000000",
		.norm = &norm,
		.test_accuracy = header_only ? 0.9875 : NAN,
		.header_only = header_only,
		.header_name = header_only ? "fuzz.h" : NULL,
	};
	Buf h, c;
	buf_init(&h);
	buf_init(&c);
	emit_infer(ctx, m, &eo, &h, &c);
	buf_fini(&h);
	buf_fini(&c);
	free(w);
	free(mean);
	free(stds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char path[] = "fuzz.yaml";
	Ctx ctx;

	ctx_init(&ctx, devnull);
	/* read_file's contract: the text is NUL-terminated. */
	char *src = arena_alloc(ctx.arena, size + 1);
	memcpy(src, data, size);
	Node *root = yaml_parse(&ctx, path, src, size);
	Model *m = root ? model_from_yaml(&ctx, path, root) : NULL;
	if (m) {
		nncc_sha256_hex(src, size, m->sha256);
		EmitOptions eo = {.command_line = "nncc fuzz.yaml", .test_accuracy = NAN};
		Buf out;
		buf_init(&out);
		const Plan *p = plan_build(&ctx, m);   /* nncc --plan */
		if (p)
			plan_print(p, &out);
		emit_trainer(&ctx, m, &eo, &out);
		buf_fini(&out);
		if (m->n_params <= FUZZ_MAX_EXPORT && m->inputs <= FUZZ_MAX_EXPORT) {
			export(&ctx, m, false);
			export(&ctx, m, true);
		}
	}
	ctx_fini(&ctx);
	return 0;
}
