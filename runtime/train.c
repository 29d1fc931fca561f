/*
 * train.c - the training loop's inner parts and evaluation, as an API: the
 * stream of training tiles (file order or shuffled per pass; in memory or
 * streamed from disk a window at a time), one optimizer step on a batch
 * (fused when it fits a tile, accumulated over tiles when it does not, or
 * clipped by its global norm first), the stream's position as a checkpoint
 * and back, and the evaluation of a data set.  The driver, the
 * benchmarks and the tests all train through these, so there is one batch
 * loop.  Gradients are the generated code's business.
 * Vocabulary: N = samples, B = batch, tile = at most max_batch samples
 * handed to one entry point, K = classes.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ckd.h"
#include "nncc.h"

/* Bytes a streamed window is read in at a time, in file order (about half
 * a core's L2: read, then converted while still there). */
#define STREAM_PIECE (256u << 10)
/* ... and with the read-ahead, where the reading core is not the
 * converting one (W3 streamed in file order: 1.13x the in-memory time with
 * 256 KiB, 1.10x with 1 MiB; docs/scaling.md). */
#define AHEAD_PIECE (1u << 20)

/* Bytes of one sample's label or targets. */
static size_t y_bytes(const nncc_model_t *m)
{
	return m->n_targets ? m->n_targets * (m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float))
	                    : sizeof(int32_t);
}

/* What both kinds of stream have: the sizes and the scratch tile. */
static int stream_alloc(nncc_stream_t *s, const nncc_model_t *m, size_t n, nncc_err_t *err)
{
	size_t rsize = m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float), tile, labels;
	memset(s, 0, sizeof *s);
	s->y_bytes = y_bytes(m);
	s->n = n;
	s->max_batch = m->max_batch;
	s->loaded = SIZE_MAX;
	if (!ckd_mul_size(&s->row_bytes, m->n_inputs, rsize) ||
	    !ckd_mul_size(&tile, m->max_batch, s->row_bytes) ||
	    !ckd_mul_size(&labels, m->max_batch, s->y_bytes)) {
		nncc_err_set(err, "the training stream of %zu samples overflows size_t", n);
		return -1;
	}
	s->tile_x = malloc(tile);
	s->tile_y = malloc(labels);
	if (!s->tile_x || !s->tile_y) {
		nncc_stream_fini(s);
		nncc_err_set(err, "out of memory for the training stream (%zu samples)", n);
		return -1;
	}
	return 0;
}

/* n indices 0 .. n-1, malloc'd (NULL when out of memory or n is 0). */
static size_t *identity(size_t n)
{
	size_t *p = n && n <= SIZE_MAX / sizeof *p ? malloc(n * sizeof *p) : NULL;
	for (size_t i = 0; p && i < n; i++)
		p[i] = i;
	return p;
}

int nncc_stream_init(nncc_stream_t *s, const nncc_model_t *m, const void *x, const void *y,
                     size_t n, int shuffle, uint64_t seed, nncc_err_t *err)
{
	if (stream_alloc(s, m, n, err))
		return -1;
	s->x = x;
	s->y = y;
	if (shuffle && n > 0) {
		if (!(s->perm = identity(n))) {
			nncc_stream_fini(s);
			nncc_err_set(err, "out of memory for the training stream (%zu samples)", n);
			return -1;
		}
		nncc_rng_seed(&s->rng, seed);
		nncc_rng_shuffle(&s->rng, s->perm, n);
	}
	return 0;
}

/* ---- Streamed: the window at s->wpos of the pass's order. */

static size_t window_index(const nncc_stream_t *s)
{
	return s->order ? s->order[s->wpos] : s->wpos;
}

static size_t window_len(const nncc_stream_t *s, size_t w)
{
	size_t W = s->src.window;
	return w == s->n_windows - 1 && s->n % W ? s->n % W : W;
}

/* The stream enters the window at s->wpos: its first sample, and when
 * shuffling its permutation (the full windows' or the tail's) shuffled
 * again, before any of its samples is read. */
static void window_enter(nncc_stream_t *s)
{
	size_t w = window_index(s);
	s->wlen = window_len(s, w);
	s->at = 0;
	if (s->order) {
		s->perm = s->wlen == s->src.window ? s->wperm : s->tperm;
		nncc_rng_shuffle(&s->rng, s->perm, s->wlen);
	}
}

/* A pass begins: the window order shuffled again (when the source can
 * seek: a gzip'd one without its index keeps file order), then its first
 * window. */
static void pass_start(nncc_stream_t *s)
{
	s->wpos = 0;
	if (s->order && s->src.seekable)
		nncc_rng_shuffle(&s->rng, s->order, s->n_windows);
	window_enter(s);
}

void nncc_tiles_held(size_t n, size_t mb, size_t rank, size_t ranks, size_t *first, size_t *end)
{
	size_t T = n / mb + (n % mb != 0);
	size_t t0 = T / ranks * rank + T % ranks * rank / ranks;   /* floor(T rank / ranks) */
	size_t t1 = T / ranks * (rank + 1) + T % ranks * (rank + 1) / ranks;
	*first = t0 * mb < n ? t0 * mb : n;   /* t <= T: t mb < n + mb */
	*end = t1 * mb < n ? t1 * mb : n;
}

size_t nncc_tiles_most(size_t n, size_t mb, size_t ranks)
{
	size_t most = 0, a, b;
	for (size_t q = 0; q < ranks; q++) {
		nncc_tiles_held(n, mb, q, ranks, &a, &b);
		most = b - a > most ? b - a : most;
	}
	return most;
}

/* The samples of the current window a shuffled stream reads: all of them,
 * or when shared (nncc_stream_share) this rank's tiles of them. */
static void window_part(const nncc_stream_t *s, size_t *a, size_t *b)
{
	if (s->ranks > 1) {
		nncc_tiles_held(s->wlen, s->max_batch, s->rank, s->ranks, a, b);
	} else {
		*a = 0;
		*b = s->wlen;
	}
}

/* ---- Read-ahead (file order, nncc_stream_read_ahead): a thread of its
 * own reads the next piece into a spare buffer while the current piece's
 * tiles train, so the read (the kernel's copy from the page cache, or
 * gzip's inflation) leaves the training thread.  Each buffer holds a tile's
 * room, for the samples of the previous piece not handed out yet, then a
 * piece.  The thread only ever runs src.read; the stream checks that it
 * read the samples it now wants (a seek or a skip elsewhere: it waits for
 * the read, drops it and reads them itself), so the samples and their
 * order are those of a stream without it. */
enum { AHEAD_IDLE, AHEAD_WORK, AHEAD_DONE, AHEAD_QUIT };

struct nncc_stream_ahead {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;        /* state changed (both sides wait on it) */
	int state;
	nncc_window_src_t src;
	size_t first, k;          /* the read: samples first .. first + k - 1 of the file */
	char *x, *y;              /* where it goes */
	int rc;                   /* src.read's result, and its message */
	nncc_err_t err;
	char *xb[2], *yb[2];      /* the buffers: [max_batch + piece] samples each */
	int cur;                  /* the one x and y point into */
};

static void *ahead_main(void *arg)
{
	struct nncc_stream_ahead *a = arg;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (a->state == AHEAD_IDLE || a->state == AHEAD_DONE)
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->state == AHEAD_QUIT)
			break;
		size_t first = a->first, k = a->k;
		char *x = a->x, *y = a->y;
		nncc_err_t err = {{0}};
		pthread_mutex_unlock(&a->mu);
		int rc = a->src.read(a->src.ctx, first, k, x, y, &err);
		pthread_mutex_lock(&a->mu);
		a->rc = rc;
		a->err = err;
		a->state = AHEAD_DONE;
		pthread_cond_broadcast(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* The thread reads samples first .. first + k - 1 into x and y. */
static void ahead_start(struct nncc_stream_ahead *a, size_t first, size_t k, char *x, char *y)
{
	pthread_mutex_lock(&a->mu);
	a->first = first;
	a->k = k;
	a->x = x;
	a->y = y;
	a->state = AHEAD_WORK;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

/* Waits for the read in flight, if any: 1 when it was samples first ..
 * first + k - 1 (its result in a->rc, a->err), else 0 (dropped). */
static int ahead_take(struct nncc_stream_ahead *a, size_t first, size_t k)
{
	pthread_mutex_lock(&a->mu);
	while (a->state == AHEAD_WORK)
		pthread_cond_wait(&a->cv, &a->mu);
	int hit = a->state == AHEAD_DONE && a->first == first && a->k == k;
	a->state = AHEAD_IDLE;
	pthread_mutex_unlock(&a->mu);
	return hit;
}

/* Frees a and its buffers (a may be NULL). */
static void ahead_free(struct nncc_stream_ahead *a)
{
	for (int b = 0; a && b < 2; b++) {
		free(a->xb[b]);
		free(a->yb[b]);
	}
	free(a);
}

/* Ends the thread (after the read in flight) and frees a. */
static void ahead_stop(struct nncc_stream_ahead *a)
{
	pthread_mutex_lock(&a->mu);
	while (a->state == AHEAD_WORK)
		pthread_cond_wait(&a->cv, &a->mu);
	a->state = AHEAD_QUIT;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	ahead_free(a);
}

/* The piece read at sample g of the file: up to s->piece samples, within
 * g's window. */
static size_t ahead_len(const nncc_stream_t *s, size_t g)
{
	size_t W = s->src.window, left = window_len(s, g / W) - g % W;
	return left < s->piece ? left : s->piece;
}

int nncc_stream_init_windows(nncc_stream_t *s, const nncc_model_t *m, const nncc_window_src_t *src,
                             size_t n, int shuffle, uint64_t seed, nncc_err_t *err)
{
	size_t W = src->window < n ? src->window : n, xb, yb;
	if (!n || !W) {
		nncc_err_set(err, "a streamed training set needs samples and windows of at least one "
		                  "(%zu samples, windows of %zu)", n, src->window);
		return -1;
	}
	if (stream_alloc(s, m, n, err))
		return -1;
	s->src = *src;
	s->src.window = W;
	s->n_windows = n / W + (n % W != 0);
	size_t rb = src->raw_bytes, mb = s->max_batch;
	s->piece = src->piece ? src->piece : rb <= STREAM_PIECE / mb ? STREAM_PIECE / rb / mb * mb : mb;
	/* shuffled, the window is read whole; one window is read once */
	s->piece = shuffle || s->n_windows == 1 || s->piece > W ? W : s->piece < mb ? mb : s->piece;
	void *x = ckd_mul_size(&xb, s->piece, rb) ? malloc(xb) : NULL;
	s->tile_raw = rb <= SIZE_MAX / mb ? malloc(mb * rb) : NULL;
	void *y = ckd_mul_size(&yb, s->piece, s->y_bytes) ? malloc(yb) : NULL;
	s->x = x;
	s->y = y;
	if (shuffle) {
		s->order = identity(s->n_windows);
		s->wperm = identity(W);
		s->tperm = n % W ? identity(n % W) : NULL;
		nncc_rng_seed(&s->rng, seed);
	}
	if (!x || !y || !s->tile_raw || (shuffle && (!s->order || !s->wperm || (n % W && !s->tperm)))) {
		nncc_stream_fini(s);
		nncc_err_set(err, "out of memory for the training stream's window of %zu samples", W);
		return -1;
	}
	pass_start(s);
	return 0;
}

void nncc_stream_fini(nncc_stream_t *s)
{
	if (s->ahead) {   /* x and y point into its buffers */
		ahead_stop(s->ahead);
		s->x = s->y = NULL;
		s->ahead = NULL;
	}
	if (s->src.read) {
		free((void *)s->x);   /* the window's buffers are the stream's own */
		free((void *)s->y);
		free(s->order);
		free(s->wperm);
		free(s->tperm);
		free(s->tile_raw);
	} else {
		free(s->perm);
	}
	free(s->tile_x);
	free(s->tile_y);
	memset(s, 0, sizeof *s);
}

int nncc_stream_read_ahead(nncc_stream_t *s, nncc_err_t *err)
{
	size_t rb = s->src.raw_bytes, yb = s->y_bytes, mb = s->max_batch, W = s->src.window;
	size_t p = s->piece;
	err->msg[0] = '\0';   /* stays empty unless the thread or its memory fails */
	if (!s->src.read || s->order || s->n_windows == 1 || s->ahead || s->failed)
		return 0;   /* in memory, shuffled or one window */
	if (!s->src.piece && s->loaded == SIZE_MAX) {
		/* Nothing read yet: AHEAD_PIECE, or half a window less a tile. */
		size_t half = W / 2 >= 2 * mb ? (W / 2 - mb) / mb * mb : 0;
		p = AHEAD_PIECE / rb / mb * mb;
		p = p < mb ? mb : p < half ? p : half;
	}
	if (!p || (mb + p) * 2 > W)
		return 0;   /* no room for two pieces */
	struct nncc_stream_ahead *a = calloc(1, sizeof *a);
	if (!a)
		goto oom;
	for (int b = 0; b < 2; b++) {   /* W samples fit: (mb + p) * 2 <= W */
		a->xb[b] = malloc((mb + p) * rb);
		a->yb[b] = malloc((mb + p) * yb);
		if (!a->xb[b] || !a->yb[b])
			goto oom;
	}
	a->src = s->src;
	if (pthread_mutex_init(&a->mu, NULL))
		goto oom;
	if (pthread_cond_init(&a->cv, NULL)) {
		pthread_mutex_destroy(&a->mu);
		goto oom;
	}
	int rc = pthread_create(&a->thread, NULL, ahead_main, a);
	if (rc) {   /* a thread limit, say: the training thread reads, as without */
		pthread_cond_destroy(&a->cv);
		pthread_mutex_destroy(&a->mu);
		ahead_free(a);
		nncc_err_set(err, "the read-ahead thread did not start (%s)", strerror(rc));
		return 0;
	}
	/* The samples x holds move to the front room's end of buffer 0. */
	size_t held = s->loaded == SIZE_MAX ? 0 : s->ready - s->lo;
	memcpy(a->xb[0] + mb * rb, s->x, held * rb);
	memcpy(a->yb[0] + mb * yb, s->y, held * yb);
	free((void *)s->x);
	free((void *)s->y);
	s->x = a->xb[0] + mb * rb;
	s->y = a->yb[0] + mb * yb;
	s->piece = p;
	s->ahead = a;
	return 1;
oom:
	ahead_free(a);
	nncc_err_set(err, "out of memory for the training stream's read-ahead");
	return -1;
}

/* The current window's samples s->at .. upto - 1 into x and y, unless they
 * are there.  Shuffled, the whole window is read (x holds it); in file
 * order a piece of a few tiles (about STREAM_PIECE bytes) is, into the same
 * small buffer each time, just before its tiles are converted: the read
 * writes where the cache is warm and the conversion finds the bytes there
 * (a whole window read at once is in memory again by then).  The samples
 * of a piece not handed out yet move to the front (at most a tile: reads
 * only go forward, as a gzip'd file needs). */
static int piece_ahead(nncc_stream_t *s, size_t w, size_t keep);

static int window_load(nncc_stream_t *s, size_t upto)
{
	size_t w = window_index(s), rb = s->src.raw_bytes, yb = s->y_bytes, keep, to, a = 0, b = 0;
	if (s->perm) {   /* shuffled: all of it, or this rank's part, at once */
		window_part(s, &a, &b);
		upto = b;
	}
	if (s->loaded != w || (!s->perm && s->at < s->lo)) {
		s->loaded = w;
		s->lo = s->ready = s->perm ? a : s->at;
	}
	if (upto <= s->ready)
		return 0;
	keep = s->ready - s->lo;   /* shuffled: 0, the window is read whole */
	if (!s->perm) {   /* skipped samples (another rank's) are not read */
		keep = s->ready > s->at ? s->ready - s->at : 0;
		s->ready = s->ready > s->at ? s->ready : s->at;
		if (s->ahead)
			return piece_ahead(s, w, keep);
		if (s->at > s->lo && keep) {
			memmove((char *)s->x, s->x + (s->at - s->lo) * rb, keep * rb);
			memmove((char *)s->y, s->y + (s->at - s->lo) * yb, keep * yb);
		}
		s->lo = s->at;
	}
	to = s->perm ? b : s->lo + s->piece < s->wlen ? s->lo + s->piece : s->wlen;
	if (!s->perm && s->want && s->at + s->want < to)   /* no further than wanted */
		to = s->at + s->want > upto ? s->at + s->want : upto;
	if (s->src.read(s->src.ctx, w * s->src.window + s->ready, to - s->ready,
	                (char *)s->x + keep * rb, (char *)s->y + keep * yb, &s->err)) {
		s->loaded = SIZE_MAX;
		s->failed = 1;
		return -1;
	}
	s->ready = to;
	return 0;
}

/* window_load's read with the read-ahead (file order), the window's
 * samples at .. ready - 1 (keep of them, less than a tile) not handed out
 * yet: they go in front of the other buffer's piece, which the thread has
 * read (or, if it read other samples, the stream reads now); then the
 * thread reads the piece after it, wrapping to the file's start, into the
 * buffer just left.  A piece here starts where the last one ended (not at
 * the first sample not handed out): the same samples, read in other chunks. */
static int piece_ahead(nncc_stream_t *s, size_t w, size_t keep)
{
	struct nncc_stream_ahead *a = s->ahead;
	size_t rb = s->src.raw_bytes, yb = s->y_bytes, mb = s->max_batch;
	size_t first = w * s->src.window + s->ready, k = ahead_len(s, first);
	int nb = a->cur ^ 1;
	char *x = a->xb[nb] + (mb - keep) * rb, *y = a->yb[nb] + (mb - keep) * yb;
	memcpy(x, s->x + (s->at - s->lo) * rb, keep * rb);   /* beside the piece, not in it */
	memcpy(y, s->y + (s->at - s->lo) * yb, keep * yb);
	int rc;
	if (ahead_take(a, first, k)) {
		rc = a->rc;
		if (rc)
			s->err = a->err;
	} else {
		rc = s->src.read(s->src.ctx, first, k, x + keep * rb, y + keep * yb, &s->err);
	}
	if (rc) {
		s->loaded = SIZE_MAX;
		s->failed = 1;
		return -1;
	}
	a->cur = nb;
	s->x = x;
	s->y = y;
	s->lo = s->at;
	s->ready += k;
	size_t next = first + k < s->n ? first + k : 0;
	ahead_start(a, next, ahead_len(s, next), a->xb[nb ^ 1] + mb * rb, a->yb[nb ^ 1] + mb * yb);
	return 0;
}

/* One sample further: the next pass (in a fresh order) after the last;
 * streamed, the next window after the window's last sample. */
static void stream_advance(nncc_stream_t *s)
{
	if (s->src.read) {
		s->pos++;
		if (++s->at < s->wlen)
			return;
		if (++s->wpos < s->n_windows) {
			window_enter(s);
			return;
		}
		s->pos = 0;
		s->epoch++;
		pass_start(s);
		return;
	}
	if (++s->pos == s->n) {
		s->pos = 0;
		s->epoch++;
		if (s->perm)
			nncc_rng_shuffle(&s->rng, s->perm, s->n);
	}
}

/* Streamed: the next k samples as read (consecutive ones in the window
 * itself, else gathered into tile_raw), converted into tile_x. */
static const void *window_next(nncc_stream_t *s, size_t k, const void **y)
{
	size_t rb = s->src.raw_bytes;
	const char *raw;

	if (s->ranks > 1) {   /* a part of the window: nncc_stream_draw's */
		nncc_err_set(&s->err, "a shared stream hands out its samples by nncc_stream_draw");
		s->failed = 1;
		return NULL;
	}
	if (!s->perm && s->at + k <= s->wlen) {
		if (window_load(s, s->at + k))
			return NULL;
		raw = s->x + (s->at - s->lo) * rb;
		*y = s->y + (s->at - s->lo) * s->y_bytes;
		for (size_t i = 0; i < k; i++)   /* the next window is read when needed */
			stream_advance(s);
		s->want = s->want > k ? s->want - k : 0;
	} else {
		for (size_t i = 0; i < k; i++) {
			if (window_load(s, s->at + 1))
				return NULL;
			size_t j = s->perm ? s->perm[s->at] - s->lo : s->at - s->lo;
			memcpy((char *)s->tile_raw + i * rb, s->x + j * rb, rb);
			memcpy((char *)s->tile_y + i * s->y_bytes, s->y + j * s->y_bytes, s->y_bytes);
			stream_advance(s);
			s->want -= s->want > 0;
		}
		raw = s->tile_raw;
		*y = s->tile_y;
	}
	s->src.convert(s->src.ctx, raw, k, s->tile_x);
	return s->tile_x;
}

const void *nncc_stream_next(nncc_stream_t *s, size_t k, const void **y)
{
	const char *x;

	if (s->src.read)
		return window_next(s, k, y);
	if (!s->perm && s->pos + k <= s->n) {   /* consecutive: the data itself */
		x = s->x + s->pos * s->row_bytes;
		*y = s->y + s->pos * s->y_bytes;
		s->pos += k;
		if (s->pos == s->n) {
			s->pos = 0;
			s->epoch++;
		}
		return x;
	}
	for (size_t i = 0; i < k; i++) {
		size_t j = s->perm ? s->perm[s->pos] : s->pos;
		memcpy((char *)s->tile_x + i * s->row_bytes, s->x + j * s->row_bytes, s->row_bytes);
		memcpy((char *)s->tile_y + i * s->y_bytes, s->y + j * s->y_bytes, s->y_bytes);
		stream_advance(s);
	}
	*y = s->tile_y;
	return s->tile_x;
}

void nncc_stream_skip(nncc_stream_t *s, size_t k)
{
	s->want = 0;
	for (size_t i = 0; i < k; i++)   /* no window is read for it */
		stream_advance(s);
}

void nncc_stream_indices(nncc_stream_t *s, size_t k, size_t *idx)
{
	for (size_t i = 0; i < k; i++) {
		idx[i] = s->perm ? s->perm[s->pos] : s->pos;
		stream_advance(s);
	}
}

void nncc_stream_share(nncc_stream_t *s, size_t rank, size_t ranks)
{
	size_t most;   /* the largest part of a full window */
	void *x, *y;

	if (!s->src.read || !s->order || ranks < 2 || rank >= ranks)
		return;
	most = nncc_tiles_most(s->src.window, s->max_batch, ranks);
	s->rank = rank;
	s->ranks = ranks;
	s->loaded = SIZE_MAX;
	/* smaller (most <= W, the buffers' size): a failed shrink keeps them */
	if ((x = realloc((void *)s->x, (most ? most : 1) * s->src.raw_bytes)))
		s->x = x;
	if ((y = realloc((void *)s->y, (most ? most : 1) * s->y_bytes)))
		s->y = y;
}

int nncc_stream_draw(nncc_stream_t *s, size_t *holder, const void **x, const void **y)
{
	size_t j = s->perm[s->at], lo = 0, hi = s->ranks > 1 ? s->ranks : 1, a, b;

	while (hi - lo > 1) {   /* the last rank whose part starts at or before j */
		size_t mid = lo + (hi - lo) / 2;
		nncc_tiles_held(s->wlen, s->max_batch, mid, s->ranks, &a, &b);
		if (a <= j)
			lo = mid;
		else
			hi = mid;
	}
	*holder = lo;
	*x = *y = NULL;
	if (lo == s->rank) {
		if (window_load(s, s->wlen))
			return -1;
		*x = s->x + (j - s->lo) * s->src.raw_bytes;
		*y = s->y + (j - s->lo) * s->y_bytes;
	}
	stream_advance(s);
	return 0;
}

void nncc_stream_want(nncc_stream_t *s, size_t n)
{
	s->want = n;
}

/* n indices as u32, malloc'd; NULL when out of memory. */
static uint32_t *indices_u32(const size_t *p, size_t n)
{
	uint32_t *q = malloc((n ? n : 1) * sizeof *q);
	for (size_t i = 0; q && i < n; i++)
		q[i] = (uint32_t)p[i];
	return q;
}

int nncc_stream_tell(const nncc_stream_t *s, nncc_checkpoint_t *ck, nncc_err_t *err)
{
	int windows = s->src.read && s->order && s->n_windows > 1;
	ck->has_position = 1;
	ck->epoch = s->epoch;
	ck->sample = s->pos;
	memcpy(ck->rng, s->rng.s, sizeof ck->rng);
	ck->n_perm = 0;
	ck->perm = NULL;
	ck->window = ck->n_windows = ck->n_wperm = 0;
	ck->order = ck->wperm = NULL;
	if (!s->perm)
		return 0;
	if (s->n > UINT32_MAX) {
		nncc_err_set(err, "the training position of %zu samples does not fit u32 indices", s->n);
		return -1;
	}
	if (!windows) {   /* in memory, or one window: the same position */
		if (!(ck->perm = indices_u32(s->src.read ? s->wperm : s->perm, s->n)))
			goto oom;
		ck->n_perm = s->n;
		return 0;
	}
	size_t W = s->src.window, tail = s->n % W;
	ck->order = indices_u32(s->order, s->n_windows);
	ck->wperm = malloc((W + tail) * sizeof *ck->wperm);
	if (!ck->order || !ck->wperm) {
		free(ck->order);
		free(ck->wperm);
		ck->order = ck->wperm = NULL;
		goto oom;
	}
	for (size_t i = 0; i < W + tail; i++)
		ck->wperm[i] = (uint32_t)(i < W ? s->wperm[i] : s->tperm[i - W]);
	ck->window = W;
	ck->n_windows = s->n_windows;
	ck->n_wperm = W + tail;
	ck->window_pos = s->wpos;
	ck->window_at = s->at;
	return 0;
oom:
	nncc_err_set(err, "out of memory for the training position (%zu samples)", s->n);
	return -1;
}

/* Whether ck's windows are s's, and its window position one of them;
 * a message in err when not. */
static int seek_windows_check(const nncc_stream_t *s, const nncc_checkpoint_t *ck,
                              nncc_err_t *err)
{
	size_t W = s->src.window, done = 0;
	if (!s->src.read || s->n_windows == 1) {
		nncc_err_set(err, "its position is shuffled in windows of %zu samples (streamed), this "
		                  "run %s", ck->window, s->src.read ? "reads the training set in one "
		                  "window" : "holds the training set in memory");
		return -1;
	}
	if (ck->window != W || ck->n_windows != s->n_windows || ck->n_wperm != W + s->n % W) {
		nncc_err_set(err, "its position is shuffled in %zu windows of %zu samples, this run "
		                  "streams %zu windows of %zu", ck->n_windows, ck->window,
		             s->n_windows, W);
		return -1;
	}
	if (!s->src.seekable)
		for (size_t i = 0; i < ck->n_windows; i++)
			if (ck->order[i] != i) {
				nncc_err_set(err, "its window order is shuffled, this run reads a gzip'd "
				                  "file whose windows come in file order");
				return -1;
			}
	if (ck->window_pos >= ck->n_windows ||
	    ck->window_at >= window_len(s, ck->order[ck->window_pos])) {
		nncc_err_set(err, "its window position (window %llu, sample %llu) is past the data",
		             (unsigned long long)ck->window_pos, (unsigned long long)ck->window_at);
		return -1;
	}
	for (size_t i = 0; i < ck->window_pos; i++)
		done += window_len(s, ck->order[i]);
	if (done + ck->window_at != ck->sample) {
		nncc_err_set(err, "its window position (window %llu, sample %llu) is not sample %llu "
		                  "of the pass", (unsigned long long)ck->window_pos,
		             (unsigned long long)ck->window_at, (unsigned long long)ck->sample);
		return -1;
	}
	return 0;
}

int nncc_stream_seek(nncc_stream_t *s, const nncc_checkpoint_t *ck, nncc_err_t *err)
{
	int s_shuffled = s->src.read ? s->order != NULL : s->perm != NULL;
	int ck_shuffled = ck->n_perm || ck->window;
	int windows = s->src.read && s->n_windows > 1;
	if (!ck->has_position) {
		nncc_err_set(err, "it has no training position (POSITION section)");
		return -1;
	}
	if (s_shuffled != ck_shuffled) {
		nncc_err_set(err, "its position is %s, this run %s", ck_shuffled ? "shuffled" : "in file order",
		             s_shuffled ? "shuffles" : "takes the samples in file order");
		return -1;
	}
	if (ck->n_perm && ck->n_perm != s->n) {
		nncc_err_set(err, "its shuffled position orders %zu samples, the training set has %zu",
		             ck->n_perm, s->n);
		return -1;
	}
	if (ck->sample >= s->n) {
		nncc_err_set(err, "its position (sample %llu) is past the %zu samples of the training set",
		             (unsigned long long)ck->sample, s->n);
		return -1;
	}
	if (ck->window && seek_windows_check(s, ck, err))
		return -1;
	if (ck->n_perm && windows) {
		nncc_err_set(err, "its position is a shuffled order of the %zu samples in memory, this "
		                  "run streams them in %zu windows of %zu", s->n, s->n_windows,
		             s->src.window);
		return -1;
	}
	s->pos = (size_t)ck->sample;
	s->epoch = ck->epoch;
	memcpy(s->rng.s, ck->rng, sizeof s->rng.s);
	if (!s->src.read) {
		for (size_t i = 0; i < ck->n_perm; i++)
			s->perm[i] = ck->perm[i];
		return 0;
	}
	s->loaded = SIZE_MAX;
	if (!ck->window) {   /* file order, or shuffled in one window */
		s->wpos = s->pos / s->src.window;
		for (size_t i = 0; i < ck->n_perm; i++)
			s->wperm[i] = ck->perm[i];
	} else {
		size_t W = s->src.window;
		for (size_t i = 0; i < ck->n_windows; i++)
			s->order[i] = ck->order[i];
		for (size_t i = 0; i < ck->n_wperm; i++)
			*(i < W ? &s->wperm[i] : &s->tperm[i - W]) = ck->wperm[i];
		s->wpos = (size_t)ck->window_pos;
	}
	s->wlen = window_len(s, window_index(s));
	s->at = ck->window ? (size_t)ck->window_at : s->pos - s->wpos * s->src.window;
	if (s->order)
		s->perm = s->wlen == s->src.window ? s->wperm : s->tperm;
	return 0;
}

/* The dropout masks of the calls that follow (a model may have no
 * mask_key: it has no dropout). */
static void set_mask(const nncc_model_t *m, uint64_t seed, uint64_t step, size_t first)
{
	if (m->mask_key)
		m->mask_key(seed, step, first);
}

double nncc_batch_gradient(const nncc_model_t *m, nncc_stream_t *s, const nncc_update_t *u,
                           size_t first, size_t n)
{
	const void *y;
	const void *x;
	double sum = 0;

	for (size_t done = 0; done < n;) {
		size_t k = n - done < m->max_batch ? n - done : m->max_batch;
		x = nncc_stream_next(s, k, &y);
		if (!x)   /* a streamed window could not be read: s->failed */
			return NAN;
		set_mask(m, u->seed, u->step, first + done);
		m->forward(k, x);
		sum += m->loss(k, y);
		m->backward(k, x, y, done > 0);
		done += k;
	}
	set_mask(m, 0, 0, 0);
	return sum;
}

double nncc_train_batch(const nncc_model_t *m, nncc_stream_t *s, const nncc_update_t *u)
{
	const void *y;
	const void *x;
	double sum;

	if (u->batch <= m->max_batch) {
		x = nncc_stream_next(s, u->batch, &y);
		return x ? m->step(u->batch, x, y, u) : NAN;
	}
	sum = nncc_batch_gradient(m, s, u, 0, u->batch);
	if (s->failed)
		return NAN;   /* no update from part of a batch */
	m->update(u);
	return sum;
}

/* Eight partial sums, s_j = sum of g_k^2 over k = j mod 8, added pairwise
 * at the end: a fixed order (so the same bits whatever the threads or
 * tiles), and independent chains that gcc -O2 vectorises (one chain of n
 * dependent additions took about 16 us for W3's 39760 parameters, these
 * about 10: the float to double conversions bound it). */
#define NORM_SUMS(T)                                                              \
	do {                                                                          \
		const T *g = m->grads;                                                    \
		for (; k + 8 <= n; k += 8) {                                              \
			s0 += (double)g[k] * g[k], s1 += (double)g[k + 1] * g[k + 1];         \
			s2 += (double)g[k + 2] * g[k + 2], s3 += (double)g[k + 3] * g[k + 3]; \
			s4 += (double)g[k + 4] * g[k + 4], s5 += (double)g[k + 5] * g[k + 5]; \
			s6 += (double)g[k + 6] * g[k + 6], s7 += (double)g[k + 7] * g[k + 7]; \
		}                                                                         \
		for (; k < n; k++)                                                        \
			tail[k % 8] = (double)g[k] * g[k];                                    \
	} while (0)

double nncc_grad_norm(const nncc_model_t *m)
{
	double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0, tail[8] = {0};
	size_t n = m->n_params, k = 0;
	if (m->dtype == NNCC_F64)
		NORM_SUMS(double);
	else
		NORM_SUMS(float);
	s0 += tail[0], s1 += tail[1], s2 += tail[2], s3 += tail[3];
	s4 += tail[4], s5 += tail[5], s6 += tail[6], s7 += tail[7];
	return sqrt(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)));
}

/* g[k] *= c, eight at a time (so that gcc -O2 vectorizes it), then the
 * rest. */
#define SCALE(T, c)                                                        \
	do {                                                                   \
		T *g = m->grads, f = (T)(c);                                       \
		for (; k + 8 <= n; k += 8) {                                       \
			g[k] *= f, g[k + 1] *= f, g[k + 2] *= f, g[k + 3] *= f;        \
			g[k + 4] *= f, g[k + 5] *= f, g[k + 6] *= f, g[k + 7] *= f;    \
		}                                                                  \
		for (; k < n; k++)                                                 \
			g[k] *= f;                                                     \
	} while (0)

/* In the dtype, as torch's grad.mul_(clip_coef) on a float32 tensor. */
void nncc_grads_scale(const nncc_model_t *m, double c)
{
	size_t n = m->n_params, k = 0;
	if (m->dtype == NNCC_F64)
		SCALE(double, c);
	else
		SCALE(float, c);
}

/* PyTorch 1.13's clip_grad_norm_(max_norm, norm_type=2) computes the norm
 * per tensor in the parameters' dtype and multiplies by the coefficient
 * clamped to 1; here the norm is one sum in double (the same up to
 * rounding), the coefficient is rounded to the dtype as torch's is, and a
 * coefficient >= 1, a no-op there, is skipped. */
double nncc_train_batch_clip(const nncc_model_t *m, nncc_stream_t *s, const nncc_update_t *u,
                             double max_norm, double *norm)
{
	double sum;

	if (!(max_norm > 0)) {
		if (norm)
			*norm = NAN;
		return nncc_train_batch(m, s, u);
	}
	sum = nncc_batch_gradient(m, s, u, 0, u->batch);
	if (s->failed)
		return NAN;
	nncc_clip_update(m, u, max_norm, norm);
	return sum;
}

void nncc_clip_update(const nncc_model_t *m, const nncc_update_t *u, double max_norm,
                      double *norm)
{
	double n = NAN, c;

	if (max_norm > 0) {
		n = nncc_grad_norm(m) / (double)u->batch;   /* the norm of the batch mean */
		c = max_norm / (n + 1e-6);
		if (c < 1)
			nncc_grads_scale(m, c);
	}
	if (norm)
		*norm = n;
	m->update(u);
}

size_t nncc_predict(const nncc_model_t *m, size_t b)
{
	const void *out = m->tensor(NNCC_T_ACT, m->n_layers - 1);
	size_t K = m->n_outputs, best = 0;
	for (size_t i = 1; i < K; i++) {
		double vi, vb;
		if (m->dtype == NNCC_F64) {
			vi = ((const double *)out)[b * K + i];
			vb = ((const double *)out)[b * K + best];
		} else {
			vi = ((const float *)out)[b * K + i];
			vb = ((const float *)out)[b * K + best];
		}
		if (vi > vb)
			best = i;
	}
	return best;
}

/* Regression: the errors of the tile just forwarded, summed from zero in
 * sample order, output by output (a tile's chain is the same whichever
 * rank computes it), into sums[0] (squared) and sums[1] (absolute). */
static void tile_errors(const nncc_model_t *m, const void *t, size_t k, double sums[2])
{
	const void *out = m->tensor(NNCC_T_ACT, m->n_layers - 1);
	size_t K = m->n_outputs;
	sums[0] = sums[1] = 0;
	for (size_t j = 0; j < k * K; j++) {
		double e = m->dtype == NNCC_F64
		                   ? ((const double *)out)[j] - ((const double *)t)[j]
		                   : (double)((const float *)out)[j] - (double)((const float *)t)[j];
		double sq = e * e;   /* own statement: never fused into an FMA */
		sums[0] += sq;
		sums[1] += fabs(e);
	}
}

double nncc_evaluate_tiles(const nncc_model_t *m, const void *x, const void *y, size_t n,
                           size_t t0, size_t t1, double *tile_loss, nncc_eval_t *ev)
{
	size_t K = m->n_outputs, yb = y_bytes(m);
	size_t row = m->n_inputs * (m->dtype == NNCC_F64 ? sizeof(double) : sizeof(float));
	double sum = 0;

	set_mask(m, 0, 0, 0);   /* evaluation: dropout is the identity */
	for (size_t t = t0; t < t1; t++) {
		size_t at = t * m->max_batch, k = n - at < m->max_batch ? n - at : m->max_batch;
		const void *yk = (const char *)y + at * yb;
		m->forward(k, (const char *)x + at * row);
		double loss = m->loss(k, yk);
		if (tile_loss)
			tile_loss[t - t0] = loss;
		sum += loss;
		if (m->n_targets) {
			double sums[2];
			tile_errors(m, yk, k, sums);
			ev->sse += sums[0];
			ev->sae += sums[1];
			if (ev->tile_err)
				memcpy(ev->tile_err + 2 * (t - t0), sums, sizeof sums);
			continue;
		}
		for (size_t b = 0; b < k; b++) {
			size_t best = nncc_predict(m, b), truth = (size_t)((const int32_t *)yk)[b];
			ev->correct += best == truth;
			if (ev->confusion)
				ev->confusion[truth * K + best]++;
		}
	}
	return sum;
}

void nncc_eval_reset(const nncc_model_t *m, size_t n, nncc_eval_t *ev)
{
	size_t K = m->n_outputs;
	ev->n = n;
	ev->correct = 0;
	ev->sse = ev->sae = 0;
	if (ev->confusion && !m->n_targets)
		memset(ev->confusion, 0, K * K * sizeof *ev->confusion);
}

void nncc_evaluate(const nncc_model_t *m, const void *x, const void *y, size_t n,
                   nncc_eval_t *ev)
{
	size_t tiles = n / m->max_batch + (n % m->max_batch != 0);
	double sum;

	nncc_eval_reset(m, n, ev);
	sum = nncc_evaluate_tiles(m, x, y, n, 0, tiles, NULL, ev);
	ev->loss = n ? sum / (double)n : 0;
}

double nncc_eval_rmse(const nncc_model_t *m, const nncc_eval_t *ev)
{
	return ev->n ? sqrt(ev->sse / ((double)ev->n * (double)m->n_outputs)) : NAN;
}

double nncc_eval_mae(const nncc_model_t *m, const nncc_eval_t *ev)
{
	return ev->n ? ev->sae / ((double)ev->n * (double)m->n_outputs) : NAN;
}
