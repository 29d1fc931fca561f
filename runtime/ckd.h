/*
 * ckd.h - checked size arithmetic, the one place nncc's compiler and runtime
 * multiply or add counts that come from input (YAML, options, IDX headers,
 * weight files).  Each returns false, and leaves *out alone, when the exact
 * result does not fit; callers turn that into an error naming the limit.
 *
 *     size_t bytes;
 *     if (!ckd_mul3(&bytes, n, dim, sizeof(float)))
 *         return error("%zu samples of %zu values overflow size_t", n, dim);
 *
 * Internal to nncc (not installed): the names are short and generic.
 */
#ifndef NNCC_CKD_H
#define NNCC_CKD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool ckd_add_size(size_t *out, size_t a, size_t b)
{
	if (a > SIZE_MAX - b)
		return false;
	*out = a + b;
	return true;
}

static inline bool ckd_mul_size(size_t *out, size_t a, size_t b)
{
	if (b && a > SIZE_MAX / b)
		return false;
	*out = a * b;
	return true;
}

/* a * b * c */
static inline bool ckd_mul3(size_t *out, size_t a, size_t b, size_t c)
{
	size_t ab;
	return ckd_mul_size(&ab, a, b) && ckd_mul_size(out, ab, c);
}

static inline bool ckd_add_u64(uint64_t *out, uint64_t a, uint64_t b)
{
	if (a > UINT64_MAX - b)
		return false;
	*out = a + b;
	return true;
}

static inline bool ckd_mul_u64(uint64_t *out, uint64_t a, uint64_t b)
{
	if (b && a > UINT64_MAX / b)
		return false;
	*out = a * b;
	return true;
}

/* a * b + c */
static inline bool ckd_mul_add_u64(uint64_t *out, uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t ab;
	return ckd_mul_u64(&ab, a, b) && ckd_add_u64(out, ab, c);
}

/* A u64 count as a size_t (they differ on 32-bit hosts). */
static inline bool ckd_size_of_u64(size_t *out, uint64_t v)
{
	if (v > SIZE_MAX)
		return false;
	*out = (size_t)v;
	return true;
}

#endif
