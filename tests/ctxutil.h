/*
 * ctxutil.h - for the suites of the compiler's own stages (check_diag,
 * check_yaml, check_model, check_tmpl, check_emit): a Run, the compiler's
 * Ctx with its diagnostics captured in memory, so that a test can assert
 * the full text of every message; and a weight file for a parsed Model
 * (ctx_weights_save).  Header-only, like testutil.h; include the compiler's
 * nncc.h first.
 */
#ifndef NNCC_CTXUTIL_H
#define NNCC_CTXUTIL_H

#include "testutil.h"

typedef struct Run {
	Ctx ctx;
	TuCapture err;           /* what the Ctx reported */
} Run;

static inline void run_init(Run *r)
{
	ctx_init(&r->ctx, tu_capture_open(&r->err));
}

/* The diagnostics so far (valid until run_fini). */
static inline const char *run_out(Run *r)
{
	return tu_capture_text(&r->err);
}

static inline void run_fini(Run *r)
{
	ctx_fini(&r->ctx);
	tu_capture_close(&r->err);
}

/* Saves params (m->n_params reals of m's dtype) as a weight file for m, as
 * the trainer's --save would (nncc_weights_save on m's descriptor), with
 * normalisation st and test accuracy acc (NaN: unknown); fails the test
 * otherwise.  The layer descriptors live in ctx's arena. */
static inline void ctx_weights_save(Ctx *ctx, const Model *m, const void *params,
                                    const nncc_norm_stats_t *st, double acc, const char *path)
{
	nncc_layer_t *ls = calloc(m->n_layers, sizeof *ls);
	ck_assert_ptr_nonnull(ls);
	for (size_t k = 0; k < m->n_layers; k++)
		ls[k] = model_layer_desc(ctx->arena, m, k);
	nncc_model_t nm = {0};
	nm.abi_version = NNCC_ABI_VERSION;
	nm.name = m->name;
	nm.dtype = m->dtype == DTYPE_F32 ? NNCC_F32 : NNCC_F64;
	nm.n_inputs = m->inputs;
	nm.n_outputs = m->outputs;
	nm.n_layers = m->n_layers;
	nm.layers = ls;
	nm.n_params = m->n_params;
	nm.params = (void *)(uintptr_t)params;
	nm.shape_hash = nncc_shape_hash(&nm);
	nncc_weights_meta_t meta = {acc, 1234};
	nncc_err_t err;
	ck_assert_msg(nncc_weights_save(&nm, path, st, &meta, NULL, &err) == 0, "%s: %s", path,
	              err.msg);
	free(ls);
}

#endif
