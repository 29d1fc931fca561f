/*
 * group.c - data-parallel training's step: a batch cut into C chunks whose
 * gradient sums are added in chunk order, however many ranks computed them
 * (docs/scaling.md).  Each gradient element of one process is ONE chain
 * over the batch's samples (runtime/nncc_kern.h); split among ranks that
 * chain would be re-associated by the split, so here it is cut once, at
 * boundaries that depend on B and C only: chunk c's chain, then the chunks
 * added left to right.  The exchange itself is comm.c's or mpi.c's.
 * Vocabulary: B = batch, C = chunks, P = parameters, R = ranks, slice r =
 * the parameters rank r adds up.
 */
#include <stdlib.h>
#include <string.h>

#include "ckd.h"
#include "driver.h"

/* floor(n * i / k) without n * i overflowing: the start of part i of n
 * things cut into k parts (i <= k). */
static size_t cut(size_t n, size_t i, size_t k)
{
	return n / k * i + n % k * i / k;
}

int nncc_group_init(nncc_group_t *g, const nncc_comm_t *c, const nncc_model_t *m, size_t chunks,
                    nncc_err_t *err)
{
	size_t R = (size_t)c->size, P = m->n_params, me = (size_t)c->rank, own, slice, sb, rb;
	size_t rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float);

	memset(g, 0, sizeof *g);
	if (chunks < R) {
		nncc_err_set(err, "--chunks %zu is fewer than the %zu ranks: each rank computes at "
		                  "least one chunk of every batch", chunks, R);
		return -1;
	}
	g->comm = c;
	g->chunks = chunks;
	g->c0 = malloc((R + 1) * sizeof *g->c0);
	g->lo = malloc((R + 1) * sizeof *g->lo);
	g->cnt = malloc(5 * R * sizeof *g->cnt);
	g->loss = malloc(chunks * sizeof *g->loss);
	if (!g->c0 || !g->lo || !g->cnt || !g->loss)
		goto oom;
	for (size_t r = 0; r <= R; r++) {
		g->c0[r] = cut(chunks, r, R);
		g->lo[r] = cut(P, r, R);
	}
	own = g->c0[me + 1] - g->c0[me];
	slice = g->lo[me + 1] - g->lo[me];
	if (!ckd_mul3(&sb, own, P, rsize) || !ckd_mul3(&rb, chunks, slice, rsize))
		goto oom;
	g->send = malloc(sb ? sb : 1);
	g->rows = R == 1 ? g->send : malloc(rb ? rb : 1);
	if (!g->send || !g->rows)
		goto oom;
	return 0;
oom:
	nncc_err_set(err, "out of memory for the gradients of %zu chunks of %zu parameters", chunks,
	             P);
	nncc_group_fini(g);
	return -1;
}

void nncc_group_fini(nncc_group_t *g)
{
	if (g->rows != g->send)
		free(g->rows);
	free(g->send);
	free(g->c0);
	free(g->lo);
	free(g->cnt);
	free(g->loss);
	memset(g, 0, sizeof *g);
}

/* dst[j] = rows[0][j] + rows[1][j] + ... + rows[C-1][j], left to right, in
 * the dtype: the one order every rank count shares. */
#define FOLD(T)                                                          \
	do {                                                                 \
		T *d = dst;                                                      \
		const T *x = rows;                                               \
		memcpy(d, x, n * sizeof(T));                                     \
		for (size_t c = 1; c < C; c++)                                   \
			for (size_t j = 0; j < n; j++)                               \
				d[j] += x[c * n + j];                                    \
	} while (0)

static void fold(int dtype, void *dst, const void *rows, size_t C, size_t n)
{
	if (dtype == NNCC_F64)
		FOLD(double);
	else
		FOLD(float);
}

/* The chunks of this rank, each a chain from zero, copied slice by slice
 * into g->send; the others' samples skipped.  Chunk losses into g->loss. */
static void own_chunks(nncc_group_t *g, const nncc_model_t *m, nncc_stream_t *s,
                       const nncc_update_t *u)
{
	size_t R = (size_t)g->comm->size, me = (size_t)g->comm->rank, C = g->chunks;
	size_t own = g->c0[me + 1] - g->c0[me];
	size_t rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float);

	for (size_t c = 0; c < C; c++) {
		size_t b0 = cut(u->batch, c, C), n = cut(u->batch, c + 1, C) - b0;
		if (c < g->c0[me] || c >= g->c0[me + 1]) {
			nncc_stream_skip(s, n);
			continue;
		}
		g->loss[c] = nncc_batch_gradient(m, s, u, b0, n);
		if (!n)
			memset(m->grads, 0, m->n_params * rsize);
		for (size_t d = 0; d < R; d++) {
			size_t len = g->lo[d + 1] - g->lo[d], at = own * g->lo[d] + (c - g->c0[me]) * len;
			memcpy((char *)g->send + at * rsize, (const char *)m->grads + g->lo[d] * rsize,
			       len * rsize);
		}
	}
}

int nncc_group_batch(nncc_group_t *g, const nncc_model_t *m, nncc_stream_t *s,
                     const nncc_update_t *u, double max_norm, double *loss, double *norm,
                     nncc_err_t *err)
{
	const nncc_comm_t *c = g->comm;
	size_t R = (size_t)c->size, me = (size_t)c->rank, C = g->chunks;
	size_t own = g->c0[me + 1] - g->c0[me], slice = g->lo[me + 1] - g->lo[me];
	size_t rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float);
	size_t *scount = g->cnt, *sdispl = scount + R, *rcount = sdispl + R, *rdispl = rcount + R;
	size_t *len = rdispl + R;

	own_chunks(g, m, s, u);
	for (size_t r = 0; r < R; r++) {
		len[r] = g->lo[r + 1] - g->lo[r];
		scount[r] = own * len[r];
		sdispl[r] = own * g->lo[r];
		rcount[r] = (g->c0[r + 1] - g->c0[r]) * slice;
		rdispl[r] = g->c0[r] * slice;
	}
	if (g->rows != g->send &&
	    nncc_comm_alltoall(c, m->dtype, g->send, scount, sdispl, g->rows, rcount, rdispl, err))
		return -1;
	fold(m->dtype, (char *)m->grads + g->lo[me] * rsize, g->rows, C, slice);
	/* the parameters' slices, then the chunks' losses (rcount: chunks per rank) */
	for (size_t r = 0; r < R; r++)
		rcount[r] = g->c0[r + 1] - g->c0[r];
	if (nncc_comm_allgather(c, m->dtype, m->grads, len, g->lo, err) ||
	    nncc_comm_allgather(c, NNCC_F64, g->loss, rcount, g->c0, err))
		return -1;
	*loss = 0;
	for (size_t k = 0; k < C; k++)
		*loss += g->loss[k];
	nncc_clip_update(m, u, max_norm, norm);
	return 0;
}
