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
	if (!ckd_mul3(&sb, R == 1 ? 1 : own, P, rsize) || !ckd_mul3(&rb, chunks, slice, rsize))
		goto oom;
	/* One rank: send is the running sum of the chunks (none with one
	 * chunk).  One chunk among several ranks: its gradient in m->grads is
	 * already laid out slice after slice, and is sent from there. */
	if (own > 1) {
		g->send = malloc(sb);
		if (!g->send)
			goto oom;
	}
	if (R > 1) {
		g->rows = malloc(rb ? rb : 1);
		if (!g->rows)
			goto oom;
	}
	return 0;
oom:
	nncc_err_set(err, "out of memory for the gradients of %zu chunks of %zu parameters", chunks,
	             P);
	nncc_group_fini(g);
	return -1;
}

void nncc_group_fini(nncc_group_t *g)
{
	free(g->rows);
	free(g->send);
	free(g->c0);
	free(g->lo);
	free(g->cnt);
	free(g->loss);
	memset(g, 0, sizeof *g);
}

/* dst[j] = (((dst[j] + rows[0][j]) + rows[1][j]) + ... + rows[C-1][j]),
 * left to right, in the dtype: the one order every rank count shares
 * (with dst first the first chunk's sum). */
#define ADD_ROWS(T)                                                      \
	do {                                                                 \
		T *d = dst;                                                      \
		const T *x = rows;                                               \
		for (size_t c = 0; c < C; c++)                                   \
			for (size_t j = 0; j < n; j++)                               \
				d[j] += x[c * n + j];                                    \
	} while (0)

static void add_rows(int dtype, void *dst, const void *rows, size_t C, size_t n)
{
	if (dtype == NNCC_F64)
		ADD_ROWS(double);
	else
		ADD_ROWS(float);
}

/* One rank: chunk c's sums (in m->grads) into the running sum g->send,
 * folded as they come (the same additions, in the same order, as the
 * ranks' fold); the last one adds the running sum into m->grads instead
 * (a + b is b + a, bit for bit), which is then the batch's. */
static void fold_as_produced(nncc_group_t *g, const nncc_model_t *m, size_t c, size_t rsize)
{
	size_t P = m->n_params;
	if (g->chunks == 1)
		return;
	if (c == 0)
		memcpy(g->send, m->grads, P * rsize);
	else if (c + 1 < g->chunks)
		add_rows(m->dtype, g->send, m->grads, 1, P);
	else
		add_rows(m->dtype, m->grads, g->send, 1, P);
}

/* The chunks of this rank, each a chain from zero, copied slice by slice
 * into g->send (a lone chunk among ranks stays in m->grads; one rank folds
 * them as they come); the others' samples skipped.  Chunk losses into
 * g->loss. */
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
		if (R == 1) {
			fold_as_produced(g, m, c, rsize);
			continue;
		}
		for (size_t d = 0; g->send && d < R; d++) {
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
	if (R > 1) {
		char *mine = (char *)m->grads + g->lo[me] * rsize;
		if (nncc_comm_alltoall(c, m->dtype, g->send ? g->send : m->grads, scount, sdispl,
		                       g->rows, rcount, rdispl, err))
			return -1;
		memcpy(mine, g->rows, slice * rsize);
		add_rows(m->dtype, mine, (const char *)g->rows + slice * rsize, C - 1, slice);
	}
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

/* Rank r evaluates tiles floor(T r / R) .. floor(T (r+1) / R) - 1; the
 * tiles' loss sums are gathered and added in tile order, as one process
 * adds them.  Classification: the counts (correct, the confusion matrix)
 * are gathered as doubles (exact below 2^53) and added; regression: each
 * tile's two error sums (a chain of its own) are gathered and added in tile
 * order too.  buf: [T] tile losses, then regression's [2T] error sums or
 * classification's [R][1 + K*K] counts; conf: [K*K] this rank's confusion. */
static int split_evaluate(nncc_group_t *g, const nncc_model_t *m, size_t n, nncc_tiles_fn tiles,
                          void *ctx, nncc_eval_t *ev, double *buf, size_t *conf, nncc_err_t *err)
{
	const nncc_comm_t *c = g->comm;
	size_t R = (size_t)c->size, me = (size_t)c->rank, K = m->n_outputs, KK = K * K;
	size_t T = n / m->max_batch + (n % m->max_batch != 0), t0 = cut(T, me, R);
	size_t *count = g->cnt, *displ = count + R, per = m->n_targets ? 0 : 1 + KK;
	double *counts = buf + T, *mine = counts + me * per, sum = 0;
	nncc_eval_t part = {.confusion = ev->confusion && per ? conf : NULL,
	                    .tile_err = per ? NULL : buf + T + 2 * t0};

	if (part.confusion)
		memset(conf, 0, KK * sizeof *conf);
	if (tiles(ctx, t0, cut(T, me + 1, R), buf + t0, &part, err))
		return -1;
	if (per) {
		mine[0] = (double)part.correct;
		for (size_t k = 0; k < KK; k++)
			mine[1 + k] = part.confusion ? (double)conf[k] : 0;
	}
	for (size_t r = 0; r < R; r++) {
		count[r] = cut(T, r + 1, R) - cut(T, r, R);
		displ[r] = cut(T, r, R);
	}
	if (nncc_comm_allgather(c, NNCC_F64, buf, count, displ, err))
		return -1;
	for (size_t r = 0; r < R; r++) {
		count[r] = per ? per : 2 * (cut(T, r + 1, R) - cut(T, r, R));
		displ[r] = T + (per ? r * per : 2 * cut(T, r, R));
	}
	if (nncc_comm_allgather(c, NNCC_F64, buf, count, displ, err))
		return -1;
	for (size_t t = 0; t < T; t++)
		sum += buf[t];
	ev->n = n;
	ev->loss = n ? sum / (double)n : 0;
	ev->correct = 0;
	ev->sse = ev->sae = 0;
	for (size_t t = 0; !per && t < T; t++) {
		ev->sse += counts[2 * t];
		ev->sae += counts[2 * t + 1];
	}
	if (ev->confusion && per)
		memset(ev->confusion, 0, KK * sizeof *ev->confusion);
	for (size_t r = 0; per && r < R; r++) {
		ev->correct += (size_t)counts[r * per];
		for (size_t k = 0; ev->confusion && k < KK; k++)
			ev->confusion[k] += (size_t)counts[r * per + 1 + k];
	}
	return 0;
}

/* nncc_tiles_fn over samples in memory. */
typedef struct mem_tiles {
	const nncc_model_t *m;
	const void *x, *y;
	size_t n;
} mem_tiles_t;

static int mem_tiles(void *ctx, size_t t0, size_t t1, double *tile_loss, nncc_eval_t *part,
                     nncc_err_t *err)
{
	const mem_tiles_t *mt = ctx;
	(void)err;
	nncc_evaluate_tiles(mt->m, mt->x, mt->y, mt->n, t0, t1, tile_loss, part);
	return 0;
}

int nncc_group_evaluate(nncc_group_t *g, const nncc_model_t *m, const void *x, const void *y,
                        size_t n, nncc_eval_t *ev, nncc_err_t *err)
{
	mem_tiles_t mt = {m, x, y, n};
	if (g->comm->size == 1) {
		nncc_evaluate(m, x, y, n, ev);
		return 0;
	}
	return nncc_group_evaluate_by(g, m, n, mem_tiles, &mt, ev, err);
}

int nncc_group_evaluate_by(nncc_group_t *g, const nncc_model_t *m, size_t n,
                           nncc_tiles_fn tiles, void *ctx, nncc_eval_t *ev, nncc_err_t *err)
{
	size_t R = (size_t)g->comm->size, KK = m->n_outputs * m->n_outputs, bytes;
	size_t T = n / m->max_batch + (n % m->max_batch != 0);
	size_t doubles = SIZE_MAX;   /* kept by a product that overflows: the add fails */
	double *buf;
	size_t *conf;
	int rc;

	(void)(m->n_targets ? ckd_mul_size(&doubles, T, 2) : ckd_mul_size(&doubles, R, 1 + KK));
	if (!ckd_add_size(&doubles, doubles, T) ||
	    !ckd_mul_size(&bytes, doubles, sizeof *buf) || !(buf = malloc(bytes))) {
		nncc_err_set(err, "out of memory for the evaluation of %zu samples on %zu ranks", n, R);
		return -1;
	}
	conf = malloc(KK * sizeof *conf);
	if (!conf) {
		free(buf);
		nncc_err_set(err, "out of memory for a confusion matrix of %zu classes", m->n_outputs);
		return -1;
	}
	rc = split_evaluate(g, m, n, tiles, ctx, ev, buf, conf, err);
	free(buf);
	free(conf);
	return rc;
}
