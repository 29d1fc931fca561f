/*
 * group.c - data-parallel training's step: a batch cut into C chunks whose
 * gradient sums are added along one fixed binary tree, however many ranks
 * computed them (docs/scaling.md).  Each gradient element of one process
 * is ONE chain over the batch's samples (runtime/nncc_kern.h); split among
 * ranks that chain would be re-associated by the split, so here it is cut
 * once, at boundaries that depend on B and C only: chunk c's chain, then
 * the chunks' sums added pairwise along a tree that depends on C only.  A
 * rank adds up the subtrees that lie in its own chunks before it sends
 * (at most about 2 log2 C vectors instead of one per chunk); the rank that
 * adds up a slice of the parameters completes the tree.  The exchange
 * itself is comm.c's or mpi.c's.
 * Vocabulary: B = batch, C = chunks, P = parameters, R = ranks, slice r =
 * the parameters rank r adds up, subtree = chunks lo .. hi-1 that are one
 * node of the tree.
 */
#include <math.h>
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

/* ---- The tree the chunks' sums are added along (docs/scaling.md). */

size_t nncc_tree_mid(size_t lo, size_t hi)
{
	size_t h = 1;
	while (2 * h < hi - lo)
		h *= 2;
	return lo + h;
}

size_t nncc_tree_nodes(size_t lo, size_t hi, size_t a, size_t b, size_t *nodes, size_t n)
{
	if (hi <= a || b <= lo || lo == hi)
		return n;
	if (a <= lo && hi <= b) {
		if (nodes) {
			nodes[2 * n] = lo;
			nodes[2 * n + 1] = hi;
		}
		return n + 1;
	}
	n = nncc_tree_nodes(lo, nncc_tree_mid(lo, hi), a, b, nodes, n);
	return nncc_tree_nodes(nncc_tree_mid(lo, hi), hi, a, b, nodes, n);
}

size_t nncc_tree_depth(size_t leaves)
{
	/* After chunk c (not the last) the pending subtrees are the 1 bits of
	 * c + 1; the most ones below `leaves` are those of 2^d - 1, d =
	 * floor(log2 leaves). */
	size_t d = 0;
	for (size_t v = leaves; v > 1; v >>= 1)
		d++;
	return d;
}

/* d[j] += s[j], j < n: 8 at a time, which -O2 turns into vector
 * additions (it vectorizes no loop whose count it must test), the same sums
 * element by element.  The buffers never overlap (restrict parameters: GCC
 * trusts those, not restrict locals). */
#define ADD_INTO(name, T)                                                              \
	static void name(T *restrict d, const T *restrict s, size_t n)                     \
	{                                                                                  \
		size_t j = 0;                                                                  \
		for (; j + 8 <= n; j += 8) {                                                   \
			d[j] += s[j], d[j + 1] += s[j + 1], d[j + 2] += s[j + 2];                  \
			d[j + 3] += s[j + 3], d[j + 4] += s[j + 4], d[j + 5] += s[j + 5];          \
			d[j + 6] += s[j + 6], d[j + 7] += s[j + 7];                                \
		}                                                                              \
		for (; j < n; j++)                                                             \
			d[j] += s[j];                                                              \
	}
ADD_INTO(add_f32, float)
ADD_INTO(add_f64, double)

/* dst[j] += src[j], j < n, in the dtype. */
static void add_into(int dtype, void *dst, const void *src, size_t n)
{
	if (dtype == NNCC_F64)
		add_f64(dst, src, n);
	else
		add_f32(dst, src, n);
}

void nncc_tree_fold(int dtype, size_t n, void *leaf, int last, nncc_fold_t *f)
{
	size_t rsize = dtype == NNCC_F64 ? sizeof(double) : sizeof(float), size = 1;
	char *cur = leaf;

	if (last) {   /* the node is complete: its pending subtrees, right to left */
		for (; f->sp; f->sp--)
			add_into(dtype, leaf, f->stack + (f->sp - 1) * n * rsize, n);
		return;
	}
	/* equal subtrees merge (a binary counter): the left one's slot takes
	 * the sum; what is left pending goes into slot sp */
	while (f->sp && f->sizes[f->sp - 1] == size) {
		char *left = f->stack + (f->sp - 1) * n * rsize;
		add_into(dtype, left, cur, n);
		cur = left;
		size *= 2;
		f->sp--;
	}
	if (cur == leaf)
		memcpy(f->stack + f->sp * n * rsize, leaf, n * rsize);
	f->sizes[f->sp++] = size;
}

void *nncc_tree_combine(int dtype, size_t n, void *rows, const size_t *nodes, size_t count,
                        size_t lo, size_t hi)
{
	size_t rsize = dtype == NNCC_F64 ? sizeof(double) : sizeof(float), mid;
	char *left;

	for (size_t k = 0; k < count; k++)
		if (nodes[2 * k] == lo && nodes[2 * k + 1] == hi)
			return (char *)rows + k * n * rsize;
	mid = nncc_tree_mid(lo, hi);
	left = nncc_tree_combine(dtype, n, rows, nodes, count, lo, mid);
	add_into(dtype, left, nncc_tree_combine(dtype, n, rows, nodes, count, mid, hi), n);
	return left;
}

/* ---- The step's buffers. */

/* Rank me of R's share of a P-real gradient in C chunks (C >= R), as
 * group_init lays it out: its subtrees (mine), the deepest one's fold
 * depth and its slice of the parameters. */
typedef struct Shape {
	size_t mine, depth, slice;
} Shape;

static Shape shape(size_t C, size_t R, size_t me, size_t P)
{
	size_t c0 = cut(C, me, R), c1 = cut(C, me + 1, R), nodes[2 * 2 * 66];
	Shape sh = {.slice = cut(P, me + 1, R) - cut(P, me, R)};

	/* an interval's cover takes at most 2 nodes a level, and a tree of
	 * C <= SIZE_MAX leaves has at most 66 levels */
	sh.mine = nncc_tree_nodes(0, C, c0, c1, nodes, 0);
	for (size_t k = 0; k < sh.mine; k++) {
		size_t d = nncc_tree_depth(nodes[2 * k + 1] - nodes[2 * k]);
		sh.depth = d > sh.depth ? d : sh.depth;
	}
	return sh;
}

/* The reals group_init allocates on rank me of R (fold, send, rows): the
 * fold's stack takes the deepest subtree's depth, send the rank's subtrees
 * when there are several, rows the slice of every rank's subtrees. */
static size_t shape_reals(const Shape *sh, size_t R, size_t total, size_t P)
{
	size_t send = R > 1 && sh->mine > 1 ? sh->mine : 0;
	return (sh->depth + send) * P + (R > 1 ? total * sh->slice : 0);
}

/* Counting beyond this many chunks takes long (C^2 log C): a bound instead. */
#define GROUP_EXACT_CHUNKS 256

size_t nncc_group_reals_exact(size_t C, size_t P)
{
	size_t most = 0;
	for (size_t R = 1; R <= C; R++) {
		size_t total = 0;
		for (size_t me = 0; me < R; me++)
			total += shape(C, R, me, P).mine;
		for (size_t me = 0; me < R; me++) {
			Shape sh = shape(C, R, me, P);
			size_t n = shape_reals(&sh, R, total, P);
			most = n > most ? n : most;
		}
	}
	return most;
}

size_t nncc_group_reals(size_t C, size_t P)
{
	size_t L = nncc_tree_depth(C);
	if (C <= GROUP_EXACT_CHUNKS)
		return nncc_group_reals_exact(C, P);
	/* depth <= L; at most 2 (L + 1) subtrees a rank (2 a level of a tree
	 * of at most L + 1 levels), so total <= 2 (L + 1) R and every slice
	 * <= P / R + 1 */
	return (L + 4 * (L + 1)) * P + 2 * (L + 1) * C;
}

size_t nncc_group_bytes(const nncc_model_t *m, size_t C, int pretrain)
{
	size_t rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float), most = 0;
	/* c0, lo, n0 (C + 1 each at most), cnt (5 C), loss (C doubles), nodes
	 * (2 C - 1 subtrees at most, 2 each), the fold's sizes (64) */
	size_t small = ((3 * (C + 1) + 5 * C + C + 4 * C + 64) * sizeof(size_t));

	if (!C)
		return 0;
	/* pre-training's group (its gradient gathered into vec) lives beside
	 * the training's */
	for (size_t i = 0; pretrain && i < m->n_pretrain; i++) {
		const nncc_layer_t *E = &m->layers[m->pretrain[i].layer];
		size_t P = 0, n;
		for (size_t j = 0; j < E->n_tensors; j++)
			P += E->tensors[j].size;
		for (size_t j = 0; j < m->pretrain[i].n_tensors; j++)
			P += m->pretrain[i].tensors[j].size;
		n = nncc_group_reals(C, P) + P;
		most = n > most ? n : most;
	}
	return (nncc_group_reals(C, m->n_params) + most) * rsize + (pretrain ? 2 : 1) * small;
}

/* ---- The step. */

/* The buffers of a step whose gradient is P reals (nncc_group_init's, or
 * one autoencoder's). */
static int group_init(nncc_group_t *g, const nncc_comm_t *c, int dtype, size_t P, size_t chunks,
                      nncc_err_t *err)
{
	size_t R = (size_t)c->size, me = (size_t)c->rank, sb, rb, fb;
	size_t rsize = dtype == NNCC_F64 ? sizeof(double) : sizeof(float);
	Shape sh;

	memset(g, 0, sizeof *g);
	g->P = P;
	if (chunks < R) {
		nncc_err_set(err, "--chunks %zu is fewer than the %zu ranks: each rank computes at "
		                  "least one chunk of every batch", chunks, R);
		return -1;
	}
	g->comm = c;
	g->chunks = chunks;
	g->c0 = malloc((R + 1) * sizeof *g->c0);
	g->lo = malloc((R + 1) * sizeof *g->lo);
	g->n0 = malloc((R + 1) * sizeof *g->n0);
	g->cnt = malloc(5 * R * sizeof *g->cnt);
	g->loss = malloc(chunks * sizeof *g->loss);
	if (!g->c0 || !g->lo || !g->n0 || !g->cnt || !g->loss)
		goto oom;
	g->n0[0] = 0;
	for (size_t r = 0; r <= R; r++) {
		g->c0[r] = cut(chunks, r, R);
		g->lo[r] = cut(P, r, R);
		if (r)   /* rank r-1's subtrees: at most 2 log2 C */
			g->n0[r] = nncc_tree_nodes(0, chunks, g->c0[r - 1], g->c0[r], NULL, g->n0[r - 1]);
	}
	g->nodes = malloc(2 * g->n0[R] * sizeof *g->nodes);
	if (!g->nodes)
		goto oom;
	for (size_t r = 0; r < R; r++)
		nncc_tree_nodes(0, chunks, g->c0[r], g->c0[r + 1], g->nodes, g->n0[r]);
	sh = shape(chunks, R, me, P);   /* what nncc_group_bytes counts */
	if (!ckd_mul3(&sb, sh.mine, P, rsize) || !ckd_mul3(&rb, g->n0[R], sh.slice, rsize) ||
	    !ckd_mul3(&fb, sh.depth, P, rsize))
		goto oom;
	/* A lone subtree's sum is sent from the gradient itself (laid out
	 * slice after slice already); several are copied into send,
	 * slice-major. */
	if (R > 1 && sh.mine > 1 && !(g->send = malloc(sb)))
		goto oom;
	if (R > 1 && !(g->rows = malloc(rb ? rb : 1)))
		goto oom;
	if (sh.depth && (!(g->fold.stack = malloc(fb)) ||
	                 !(g->fold.sizes = malloc(sh.depth * sizeof *g->fold.sizes))))
		goto oom;
	return 0;
oom:
	nncc_err_set(err, "out of memory for the gradients of %zu chunks of %zu parameters", chunks,
	             P);
	nncc_group_fini(g);
	return -1;
}

int nncc_group_init_eval(nncc_group_t *g, const nncc_comm_t *c, nncc_err_t *err)
{
	memset(g, 0, sizeof *g);
	g->comm = c;
	if (!(g->cnt = malloc(5 * (size_t)c->size * sizeof *g->cnt))) {
		nncc_err_set(err, "out of memory for the evaluations' counts of %d ranks", c->size);
		return -1;
	}
	return 0;
}

int nncc_group_init(nncc_group_t *g, const nncc_comm_t *c, const nncc_model_t *m, size_t chunks,
                    nncc_err_t *err)
{
	return group_init(g, c, m->dtype, m->n_params, chunks, err);
}

int nncc_group_init_pretrain(nncc_group_t *g, const nncc_comm_t *c, const nncc_model_t *m,
                             size_t i, size_t chunks, nncc_err_t *err)
{
	const nncc_layer_t *E = &m->layers[m->pretrain[i].layer];
	const nncc_param_t *t[2] = {E->tensors, m->pretrain[i].tensors};
	size_t nt[2] = {E->n_tensors, m->pretrain[i].n_tensors}, P = 0, k = 0;
	size_t rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float);

	for (int h = 0; h < 2; h++)
		for (size_t j = 0; j < nt[h]; j++)
			P += t[h][j].size;
	if (group_init(g, c, m->dtype, P, chunks, err))
		return -1;
	g->pretrain = i;
	g->n_seg = nt[0] + nt[1];
	g->seg = malloc(g->n_seg * sizeof *g->seg);
	g->vec = malloc(P ? P * rsize : 1);
	if (!g->seg || !g->vec) {
		nncc_err_set(err, "out of memory for pre-training's gradients of %zu chunks", chunks);
		nncc_group_fini(g);
		return -1;
	}
	for (int h = 0; h < 2; h++)
		for (size_t j = 0; j < nt[h]; j++, k++) {
			g->seg[k][0] = t[h][j].offset;
			g->seg[k][1] = t[h][j].size;
		}
	return 0;
}

void nncc_group_fini(nncc_group_t *g)
{
	free(g->seg);
	free(g->vec);
	nncc_stream_fini(&g->local);
	free(g->first);
	free(g->from);
	free(g->out);
	free(g->in);
	free(g->braw);
	free(g->bx);
	free(g->by);
	free(g->tile);
	free(g->fold.stack);
	free(g->fold.sizes);
	free(g->rows);
	free(g->send);
	free(g->nodes);
	free(g->c0);
	free(g->lo);
	free(g->n0);
	free(g->cnt);
	free(g->loss);
	memset(g, 0, sizeof *g);
}

/* ---- Shards (docs/scaling.md#shards): rank r holds the training samples
 * of its evaluation tiles, as read (an IDX file's bytes) or as reals (a
 * CSV file's); a batch's samples travel as held to the ranks whose chunks
 * they fall in, in one MPI_Alltoallv a batch, and are converted there. */

static size_t y_size(const nncc_model_t *m, size_t rsize)
{
	return m->n_targets ? m->n_targets * rsize : sizeof(int32_t);
}

/* The most positions k of C chunks take in a batch of b <= B samples:
 * floor(b c1 / C) - floor(b c0 / C) <= ceil(b k / C). */
static size_t own_bound(size_t B, size_t C, size_t k)
{
	size_t own = B / C * k + (B % C * k + C - 1) / C;
	return own < B ? own : B;
}

size_t nncc_group_own_max(size_t B, size_t C, size_t ranks)
{
	return !C || C < ranks ? B : own_bound(B, C, C / ranks + (C % ranks != 0));
}

/* The exchange's buffers: at most max_out samples sent a batch of at most
 * B, h->bytes + the label or targets each. */
static int shard_buffers(nncc_group_t *g, const nncc_model_t *m, const nncc_held_t *h,
                         size_t max_out, size_t B, nncc_err_t *err)
{
	size_t me = (size_t)g->comm->rank, C = g->chunks, k = g->c0[me + 1] - g->c0[me];
	size_t rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float), yb = y_size(m, rsize);
	size_t wire = h->bytes + yb, ob, ib, rb, xb, ybb;

	g->max_own = own_bound(B, C, k);   /* <= nncc_group_own_max(B, C, R) */
	g->max_out = max_out;
	if (!ckd_mul_size(&ob, g->max_out, wire) || !ckd_mul_size(&ib, g->max_own, wire) ||
	    !ckd_mul_size(&rb, g->max_own, h->bytes) || !ckd_mul3(&xb, g->max_own, m->n_inputs, rsize) ||
	    !ckd_mul_size(&ybb, g->max_own, yb))
		goto oom;
	g->from = malloc(g->max_own ? g->max_own * sizeof *g->from : 1);
	g->out = malloc(ob ? ob : 1);
	g->in = malloc(ib ? ib : 1);
	g->bx = malloc(xb ? xb : 1);
	g->by = malloc(ybb ? ybb : 1);
	if (h->convert && !(g->braw = malloc(rb ? rb : 1)))
		goto oom;
	if (!g->from || !g->out || !g->in || !g->bx || !g->by)
		goto oom;
	if (nncc_stream_init(&g->local, m, NULL, NULL, 0, 0, 0, err))   /* over bx, by */
		return -1;
	g->held = *h;
	return 0;
oom:
	nncc_err_set(err, "out of memory for a sharded batch of %zu samples of %zu inputs", B,
	             m->n_inputs);
	return -1;
}

int nncc_group_shard(nncc_group_t *g, const nncc_model_t *m, const nncc_held_t *h, size_t n,
                     size_t B, nncc_err_t *err)
{
	size_t R = (size_t)g->comm->size, me = (size_t)g->comm->rank, held, tb;

	if (!(g->first = malloc((R + 1) * sizeof *g->first)) ||
	    !ckd_mul3(&tb, m->max_batch, m->n_inputs, m->dtype == NNCC_F64 ? 8 : 4) ||
	    (h->convert && !(g->tile = malloc(tb)))) {   /* held tiles converted to evaluate */
		nncc_err_set(err, "out of memory for a sharded batch of %zu samples of %zu inputs", B,
		             m->n_inputs);
		return -1;
	}
	for (size_t r = 0; r < R; r++)
		nncc_tiles_held(n, m->max_batch, r, R, &g->first[r], &g->first[r + 1]);
	held = g->first[me + 1] - g->first[me];
	/* a batch (B <= n) spans at most two passes: each held sample at most
	 * twice in it */
	return shard_buffers(g, m, h, held < B / 2 ? 2 * held : B, B, err);
}

int nncc_group_shard_stream(nncc_group_t *g, const nncc_model_t *m, const nncc_held_t *h,
                            size_t B, nncc_err_t *err)
{
	g->stream_shared = 1;
	return shard_buffers(g, m, h, B, B, err);
}

/* The rank that holds training sample i (in memory). */
static size_t holder(const nncc_group_t *g, size_t i)
{
	size_t lo = 0, hi = (size_t)g->comm->size;   /* first[lo] <= i < first[hi] */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (g->first[mid] <= i)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* The batch's next sample drawn from s: *o the rank that holds it and,
 * when this rank does, *x and *y where (else NULL).  -1 when a streamed
 * part cannot be read. */
static int draw(const nncc_group_t *g, const nncc_model_t *m, nncc_stream_t *s, size_t *o,
                const void **x, const void **y, nncc_err_t *err)
{
	const nncc_held_t *h = &g->held;
	size_t rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float);
	size_t me = (size_t)g->comm->rank, i;

	if (g->stream_shared) {
		if (nncc_stream_draw(s, o, x, y)) {
			*err = s->err;
			return -1;
		}
		return 0;
	}
	nncc_stream_indices(s, 1, &i);
	*o = holder(g, i);
	*x = *y = NULL;
	if (*o == me) {
		i -= g->first[me];
		*x = (const char *)h->x + i * h->bytes;
		*y = (const char *)h->y + i * y_size(m, rsize);
	}
	return 0;
}

/* The batch's B samples drawn from s in order; each rank sends the ones it
 * holds to the ranks whose chunks they fall in (in position order), and
 * this rank's positions' samples, in order, end up in bx (converted) and
 * by, which g->local hands out. */
static int shard_exchange(nncc_group_t *g, const nncc_model_t *m, nncc_stream_t *s, size_t B,
                          nncc_err_t *err)
{
	const nncc_comm_t *c = g->comm;
	const nncc_held_t *h = &g->held;
	size_t R = (size_t)c->size, me = (size_t)c->rank, C = g->chunks;
	size_t rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float), yb = y_size(m, rsize);
	size_t hb = h->bytes, wire = hb + yb, at = 0;
	size_t q0 = cut(B, g->c0[me], C), q1 = cut(B, g->c0[me + 1], C);
	size_t *scount = g->cnt, *sdispl = scount + R, *rcount = sdispl + R, *rdispl = rcount + R;
	size_t *next = rdispl + R;
	char *raw = h->convert ? g->braw : g->bx;

	memset(rcount, 0, R * sizeof *rcount);
	for (size_t d = 0; d < R; d++) {   /* d's positions, in order: 0 .. B-1 in all */
		sdispl[d] = at;
		for (size_t p = cut(B, g->c0[d], C); p < cut(B, g->c0[d + 1], C); p++) {
			const void *x, *y;
			size_t o;
			if (draw(g, m, s, &o, &x, &y, err))
				return -1;
			if (x) {   /* this rank holds it: to d */
				memcpy((char *)g->out + at, x, hb);
				memcpy((char *)g->out + at + hb, y, yb);
				at += wire;
			}
			if (d == me) {   /* where this rank's come from */
				g->from[p - q0] = (int)o;
				rcount[o] += wire;
			}
		}
		scount[d] = at - sdispl[d];
	}
	for (size_t r = 0, sum = 0; r < R; sum += rcount[r], r++)
		next[r] = rdispl[r] = sum;
	if (nncc_comm_alltoall(c, NNCC_BYTES, g->out, scount, sdispl, g->in, rcount, rdispl, err))
		return -1;
	for (size_t p = q0; p < q1; p++) {
		size_t o = (size_t)g->from[p - q0], j = p - q0;
		memcpy(raw + j * hb, (const char *)g->in + next[o], hb);
		memcpy((char *)g->by + j * yb, (const char *)g->in + next[o] + hb, yb);
		next[o] += wire;
	}
	if (h->convert)
		h->convert(h->ctx, raw, q1 - q0, g->bx);
	g->local.x = g->bx;
	g->local.y = g->by;
	g->local.n = q1 - q0;
	g->local.pos = 0;
	return 0;
}

/* Chunk c of autoencoder g->pretrain's batch: its n samples' gradient sums
 * gathered from m->grads into g->vec, the chunk's rows being samples b0 ..
 * of the batch (their noise); its loss sum (NAN when the stream fails). */
static double pretrain_chunk(nncc_group_t *g, const nncc_model_t *m, nncc_stream_t *s,
                             const nncc_update_t *u, size_t b0, size_t n)
{
	size_t rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float), at = 0;
	const void *x, *y;
	double loss = 0;

	if (n) {
		if (!(x = nncc_stream_next(s, n, &y)))   /* s->failed */
			return NAN;
		loss = m->pretrain_grad(g->pretrain, n, x, u, b0);
	}
	for (size_t k = 0; k < g->n_seg; at += g->seg[k][1], k++) {
		if (n)
			memcpy((char *)g->vec + at * rsize, (const char *)m->grads + g->seg[k][0] * rsize,
			       g->seg[k][1] * rsize);
		else
			memset((char *)g->vec + at * rsize, 0, g->seg[k][1] * rsize);
	}
	return loss;
}

/* This rank's chunks, each a chain from zero, folded along the tree into
 * the sums of its subtrees (the gradient, m->grads or pre-training's
 * g->vec, holds the last one's; with several, each is copied into
 * g->send, slice by slice); the others' samples skipped.  Chunk losses
 * into g->loss. */
static void own_chunks(nncc_group_t *g, const nncc_model_t *m, nncc_stream_t *s,
                       nncc_stream_t *others, const nncc_update_t *u)
{
	size_t R = (size_t)g->comm->size, me = (size_t)g->comm->rank, C = g->chunks;
	size_t k = g->n0[me], mine = g->n0[me + 1] - g->n0[me];
	size_t rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float);
	void *grad = g->vec ? g->vec : m->grads;

	for (size_t c = 0; c < C; c++) {
		size_t b0 = cut(u->batch, c, C), n = cut(u->batch, c + 1, C) - b0;
		if (c < g->c0[me] || c >= g->c0[me + 1]) {
			if (others)
				nncc_stream_skip(others, n);
			continue;
		}
		if (R > 1 && c == g->c0[me])   /* streamed in file order: this rank's chunks
		                                 (consecutive samples) in one read, none past them */
			nncc_stream_want(s, cut(u->batch, g->c0[me + 1], C) - b0);
		if (g->vec) {
			g->loss[c] = pretrain_chunk(g, m, s, u, b0, n);
		} else {
			g->loss[c] = nncc_batch_gradient(m, s, u, b0, n);
			if (!n)
				memset(m->grads, 0, m->n_params * rsize);
		}
		const int last = c + 1 == g->nodes[2 * k + 1];   /* subtree k's last chunk */
		nncc_tree_fold(m->dtype, g->P, grad, last, &g->fold);
		if (!last)
			continue;
		for (size_t d = 0; g->send && d < R; d++) {   /* subtree k done */
			size_t len = g->lo[d + 1] - g->lo[d];
			size_t at = mine * g->lo[d] + (k - g->n0[me]) * len;
			memcpy((char *)g->send + at * rsize, (const char *)grad + g->lo[d] * rsize,
			       len * rsize);
		}
		k++;
	}
}

/* After own_chunks: every rank gets the tree's sums in the gradient (its
 * slice completed here, the others' gathered) and *loss, the chunks' loss
 * sums added in chunk order.  -1 when the exchange fails. */
static int exchange(nncc_group_t *g, const nncc_model_t *m, double *loss, nncc_err_t *err)
{
	const nncc_comm_t *c = g->comm;
	size_t R = (size_t)c->size, me = (size_t)c->rank, C = g->chunks;
	size_t mine = g->n0[me + 1] - g->n0[me], slice = g->lo[me + 1] - g->lo[me];
	size_t rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float);
	size_t *scount = g->cnt, *sdispl = scount + R, *rcount = sdispl + R, *rdispl = rcount + R;
	size_t *len = rdispl + R;
	void *grad = g->vec ? g->vec : m->grads;

	for (size_t r = 0; r < R; r++) {
		len[r] = g->lo[r + 1] - g->lo[r];
		scount[r] = mine * len[r];
		sdispl[r] = mine * g->lo[r];
		rcount[r] = (g->n0[r + 1] - g->n0[r]) * slice;
		rdispl[r] = g->n0[r] * slice;
	}
	if (R > 1) {
		if (nncc_comm_alltoall(c, m->dtype, g->send ? g->send : grad, scount, sdispl, g->rows,
		                       rcount, rdispl, err))
			return -1;
		memcpy((char *)grad + g->lo[me] * rsize,
		       nncc_tree_combine(m->dtype, slice, g->rows, g->nodes, g->n0[R], 0, C),
		       slice * rsize);
	}
	/* the parameters' slices, then the chunks' losses (rcount: chunks per rank) */
	for (size_t r = 0; r < R; r++)
		rcount[r] = g->c0[r + 1] - g->c0[r];
	if (nncc_comm_allgather(c, m->dtype, grad, len, g->lo, err) ||
	    nncc_comm_allgather(c, NNCC_F64, g->loss, rcount, g->c0, err))
		return -1;
	*loss = 0;
	for (size_t k = 0; k < C; k++)
		*loss += g->loss[k];
	return 0;
}

/* A step's chunks and exchange: sharded, the batch's samples first. */
static int chunked(nncc_group_t *g, const nncc_model_t *m, nncc_stream_t *s,
                   const nncc_update_t *u, double *loss, nncc_err_t *err)
{
	if (!g->out) {   /* not sharded */
		own_chunks(g, m, s, s, u);
	} else if (shard_exchange(g, m, s, u->batch, err)) {
		return -1;
	} else {
		own_chunks(g, m, &g->local, NULL, u);
	}
	return exchange(g, m, loss, err);
}

int nncc_group_batch(nncc_group_t *g, const nncc_model_t *m, nncc_stream_t *s,
                     const nncc_update_t *u, double max_norm, double *loss, double *norm,
                     nncc_err_t *err)
{
	if (chunked(g, m, s, u, loss, err))
		return -1;
	nncc_clip_update(m, u, max_norm, norm);
	return 0;
}

int nncc_group_pretrain(nncc_group_t *g, const nncc_model_t *m, nncc_stream_t *s,
                        const nncc_update_t *u, double *loss, nncc_err_t *err)
{
	size_t rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float), at = 0;

	if (chunked(g, m, s, u, loss, err))
		return -1;
	for (size_t k = 0; k < g->n_seg; at += g->seg[k][1], k++)
		memcpy((char *)m->grads + g->seg[k][0] * rsize, (const char *)g->vec + at * rsize,
		       g->seg[k][1] * rsize);
	m->pretrain_update(g->pretrain, u);
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

/* nncc_tiles_fn over a sharded rank's tiles t0 .. t1-1 of n samples, held
 * from tile t0's first sample on: each tile converted into g->tile, when
 * they are not held as reals, and evaluated on its own (the same tiles,
 * the same bits). */
typedef struct held_tiles {
	const nncc_group_t *g;
	const nncc_model_t *m;
	const nncc_held_t *h;
	size_t n;
} held_tiles_t;

static int held_tiles(void *ctx, size_t t0, size_t t1, double *tile_loss, nncc_eval_t *part,
                      nncc_err_t *err)
{
	const held_tiles_t *ht = ctx;
	const nncc_model_t *m = ht->m;
	const nncc_held_t *h = ht->h;
	size_t rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float);
	size_t mb = m->max_batch, skip = t0 * mb, yb = y_size(m, rsize);
	double *te = part->tile_err;
	(void)err;

	if (t0 == t1)
		return 0;
	if (!h->convert) {
		nncc_evaluate_tiles(m, h->x, h->y, ht->n - skip, 0, t1 - t0, tile_loss, part);
		return 0;
	}
	for (size_t t = t0; t < t1; t++) {
		size_t at = t * mb - skip, k = ht->n - t * mb < mb ? ht->n - t * mb : mb;
		h->convert(h->ctx, (const char *)h->x + at * h->bytes, k, ht->g->tile);
		part->tile_err = te ? te + 2 * (t - t0) : NULL;
		nncc_evaluate_tiles(m, ht->g->tile, (const char *)h->y + at * yb, k, 0, 1,
		                    tile_loss + (t - t0), part);
	}
	part->tile_err = te;
	return 0;
}

int nncc_group_evaluate_held(nncc_group_t *g, const nncc_model_t *m, const nncc_held_t *h,
                             size_t n, nncc_eval_t *ev, nncc_err_t *err)
{
	held_tiles_t ht = {g, m, h, n};
	return nncc_group_evaluate_by(g, m, n, held_tiles, &ht, ev, err);
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
