/*
 * ctxutil.h - for the suites of the compiler's own stages (check_diag,
 * check_yaml, check_model, check_tmpl, check_emit): a Run, the compiler's
 * Ctx with its diagnostics captured in memory, so that a test can assert
 * the full text of every message.  Header-only, like testutil.h; include
 * the compiler's nncc.h first.
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

#endif
