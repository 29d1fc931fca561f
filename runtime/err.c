/*
 * err.c - the runtime's error reporting: every runtime function that can fail
 * returns -1 and leaves a human-readable message in a caller-supplied
 * nncc_err_t.  Nothing here prints or exits; the caller decides.
 */
#include <stdarg.h>
#include <stdio.h>

#include "nncc.h"

/* Formats into err->msg (truncated to fit); err may be NULL. */
void nncc_err_set(nncc_err_t *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
}
