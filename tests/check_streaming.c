/*
 * check_streaming.c - a training set larger than --max-memory, streamed in
 * windows (docs/trainer.md#the-streamed-shuffle, docs/scaling.md): at the
 * stream API, on a source in memory, file order is the in-memory order for
 * any W, one window is the in-memory shuffle draw for draw, several windows
 * follow an independent replay of the documented algorithm (window order,
 * then each window's order), skip is next unread, tell/seek continue
 * exactly, a source that cannot seek keeps file order, the normalisation
 * fitted chunk by chunk has nncc_norm_fit's bits; through nncc_main on
 * the blobs model (driverutil.h) with IDX files raw and gzip'd: a streamed
 * run in file order saves the bytes of the in-memory one (normalisation
 * statistics included), a shuffled one of several windows resumed saves the
 * bytes of the continuous one, another W is refused, and so is a budget
 * that cannot hold one window.
 * Vocabulary: N samples, W samples a window, the tail = the last, shorter
 * window.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver.h"
#include "driverutil.h"
#include "nncc.h"
#include "testutil.h"

#define SN 50     /* samples of the in-memory source */
#define PASSES 3

/* The source: sample i has inputs (i, 0, 0, 0) and label i % K; reads
 * counts the windows read. */
typedef struct mem_src {
	double x[SN][IN];
	int32_t y[SN];
	size_t reads;
	size_t samples;   /* read, in all */
	size_t end;       /* where the last read ended */
	size_t backward;  /* reads that began before the last one's end, in its window */
	                  /* (file order: only when a pass starts again) */
	size_t window;
	size_t n, rank, ranks;   /* shared (ranks > 1): n samples, reads only rank's part */
} mem_src_t;

static int mem_read(void *ctx, size_t first, size_t k, void *raw, void *y, nncc_err_t *err)
{
	mem_src_t *s = ctx;
	(void)err;
	memcpy(raw, s->x[first], k * sizeof s->x[0]);
	memcpy(y, s->y + first, k * sizeof *s->y);
	s->reads++;
	s->samples += k;
	s->backward += s->window && first < s->end && first / s->window == (s->end - 1) / s->window;
	s->end = first + k;
	if (s->ranks > 1) {   /* within this rank's tiles of the window */
		size_t w = first / s->window, len = s->n - w * s->window, a, b;
		nncc_tiles_held(len < s->window ? len : s->window, blob_model.max_batch, s->rank,
		                s->ranks, &a, &b);
		ck_assert_uint_ge(first, w * s->window + a);
		ck_assert_uint_le(first + k, w * s->window + b);
	}
	return 0;
}

/* As read is as used: the model's reals. */
static void mem_convert(void *ctx, const void *raw, size_t k, void *x)
{
	(void)ctx;
	memcpy(x, raw, k * IN * sizeof(double));
}

static void mem_src_init(mem_src_t *s)
{
	memset(s, 0, sizeof *s);
	for (size_t i = 0; i < SN; i++) {
		s->x[i][0] = (double)i;
		s->y[i] = (int32_t)(i % K);
	}
}

/* The next n samples of the stream, k at a time, as their indices; each
 * label checked against its sample. */
static void take(nncc_stream_t *st, size_t n, size_t k, size_t *out)
{
	for (size_t done = 0; done < n; done += k) {
		const void *yv;
		size_t kk = n - done < k ? n - done : k;
		const double *x = nncc_stream_next(st, kk, &yv);
		ck_assert_ptr_nonnull(x);
		for (size_t i = 0; i < kk; i++) {
			out[done + i] = (size_t)x[i * IN];
			ck_assert_int_eq(((const int32_t *)yv)[i], (int32_t)(out[done + i] % K));
		}
	}
}

static void windows_init(nncc_stream_t *st, mem_src_t *src, size_t W, int seekable,
                         int shuffle, uint64_t seed)
{
	nncc_window_src_t ws = {mem_read, mem_convert, src, sizeof src->x[0], W, seekable, 0};
	nncc_err_t err;
	ck_assert_int_eq(nncc_stream_init_windows(st, &blob_model, &ws, SN, shuffle, seed, &err), 0);
}

/* The streamed shuffle as docs/trainer.md describes it, written from the
 * description: per pass, the window order shuffled (when seekable), then
 * each window in that order, its permutation (the full windows' or the
 * tail's) shuffled just before its samples are taken. */
static void replay(size_t n, size_t W, int seekable, uint64_t seed, size_t passes, size_t *out)
{
	size_t nw = (n + W - 1) / W, tail = n % W, k = 0;
	size_t *order = malloc(nw * sizeof *order), *full = malloc(W * sizeof *full);
	size_t *last = malloc((tail ? tail : 1) * sizeof *last);
	nncc_rng_t g;
	for (size_t i = 0; i < nw; i++)
		order[i] = i;
	for (size_t i = 0; i < W; i++)
		full[i] = i;
	for (size_t i = 0; i < tail; i++)
		last[i] = i;
	nncc_rng_seed(&g, seed);
	for (size_t p = 0; p < passes; p++) {
		if (seekable)
			nncc_rng_shuffle(&g, order, nw);
		for (size_t wi = 0; wi < nw; wi++) {
			size_t w = order[wi], len = w == nw - 1 && tail ? tail : W;
			size_t *perm = len == W ? full : last;
			nncc_rng_shuffle(&g, perm, len);
			for (size_t a = 0; a < len; a++)
				out[k++] = w * W + perm[a];
		}
	}
	free(order);
	free(full);
	free(last);
}

/* File order: every W gives the in-memory stream's samples, across passes
 * and tiles that straddle windows. */
START_TEST(file_order_is_in_memory_order_for_any_w)
{
	static mem_src_t src;
	size_t want[PASSES * SN], got[PASSES * SN];
	nncc_stream_t a, b;
	nncc_err_t err;
	mem_src_init(&src);
	ck_assert_int_eq(nncc_stream_init(&a, &blob_model, src.x, src.y, SN, 0, 7, &err), 0);
	take(&a, PASSES * SN, 7, want);
	nncc_stream_fini(&a);
	for (size_t W = 1; W <= SN + 3; W += 6) {
		windows_init(&b, &src, W, 1, 0, 7);
		take(&b, PASSES * SN, 7, got);
		ck_assert_mem_eq(got, want, sizeof want);
		ck_assert_uint_eq(b.epoch, PASSES);
		nncc_stream_fini(&b);
	}
}
END_TEST

/* Shuffled in one window (W >= N): the in-memory shuffle, draw for draw,
 * and the window is read once for every pass. */
START_TEST(one_window_is_the_in_memory_shuffle)
{
	static mem_src_t src;
	size_t want[PASSES * SN], got[PASSES * SN];
	nncc_stream_t a, b;
	nncc_err_t err;
	mem_src_init(&src);
	ck_assert_int_eq(nncc_stream_init(&a, &blob_model, src.x, src.y, SN, 1, 99, &err), 0);
	take(&a, PASSES * SN, 5, want);
	for (int seekable = 0; seekable < 2; seekable++) {
		src.reads = 0;
		windows_init(&b, &src, SN + 10, seekable, 1, 99);
		take(&b, PASSES * SN, 5, got);
		ck_assert_mem_eq(got, want, sizeof want);
		ck_assert_mem_eq(b.rng.s, a.rng.s, sizeof a.rng.s);
		ck_assert_uint_eq(src.reads, 1);
		nncc_stream_fini(&b);
	}
	nncc_stream_fini(&a);
}
END_TEST

/* Several windows: the documented algorithm replayed independently, for
 * a tail and without one, seekable or not (gzip: the window order stays
 * file order, only the samples within a window are shuffled). */
START_TEST(windows_follow_the_documented_shuffle)
{
	static mem_src_t src;
	static const size_t Ws[] = {7, 10, 16, 25};
	size_t want[PASSES * SN], got[PASSES * SN];
	nncc_stream_t b;
	mem_src_init(&src);
	for (size_t t = 0; t < sizeof Ws / sizeof Ws[0]; t++)
		for (int seekable = 0; seekable < 2; seekable++) {
			size_t W = Ws[t];
			replay(SN, W, seekable, 1234, PASSES, want);
			windows_init(&b, &src, W, seekable, 1, 1234);
			take(&b, PASSES * SN, 3, got);
			ck_assert_mem_eq(got, want, sizeof want);
			nncc_stream_fini(&b);
			/* a pass is a permutation, windows whole; without seeking, in order */
			size_t seen[SN] = {0}, changes = 0;
			for (size_t i = 0; i < SN; i++) {
				seen[got[i]]++;
				changes += i && got[i] / W != got[i - 1] / W;
			}
			for (size_t i = 0; i < SN; i++)
				ck_assert_uint_eq(seen[i], 1);
			ck_assert_uint_eq(changes, (SN + W - 1) / W - 1);   /* windows whole */
			int in_file_order = 1;   /* the window order, over the passes */
			for (size_t i = 1; i < PASSES * SN; i++)
				in_file_order &= i % SN == 0 || got[i] / W >= got[i - 1] / W;
			ck_assert_int_eq(in_file_order, !seekable);
		}
}
END_TEST

/* File order reads a window a piece at a time, only forward, and never
 * the pieces a rank skips whole: interleaved next and skip of 1 to 8
 * samples give the in-memory stream's samples for pieces of one tile and
 * more, windows smaller and larger than a piece. */
START_TEST(file_order_pieces_are_the_window)
{
	static mem_src_t src;
	static const size_t Ws[] = {7, 16, 24, SN}, pieces[] = {8, 9, 19};
	enum { STEPS = 60 };
	size_t want[STEPS * 8], got[STEPS * 8];
	nncc_stream_t a, b;
	nncc_err_t err;
	mem_src_init(&src);
	for (size_t t = 0; t < sizeof Ws / sizeof Ws[0]; t++)
		for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
			nncc_window_src_t ws = {mem_read, mem_convert, &src, sizeof src.x[0], Ws[t], 1,
			                        pieces[p]};
			size_t na = 0, nb = 0, skipped = 0;
			ck_assert_int_eq(nncc_stream_init(&a, &blob_model, src.x, src.y, SN, 0, 3, &err), 0);
			ck_assert_int_eq(nncc_stream_init_windows(&b, &blob_model, &ws, SN, 0, 3, &err), 0);
			src.samples = src.end = src.backward = 0;
			src.window = Ws[t];
			size_t epoch = b.epoch;   /* before the last take and the skips after it */
			for (size_t i = 0; i < STEPS; i++) {
				size_t k = 1 + (i * 5) % 8, backward = src.backward;
				if (i % 4 == 3) {   /* another rank's samples */
					nncc_stream_skip(&a, k);
					nncc_stream_skip(&b, k);
					skipped += k;
					continue;
				}
				take(&a, k, k, want + na);
				take(&b, k, k, got + nb);
				na += k;
				nb += k;
				if (b.epoch == epoch)   /* a new pass starts its windows again */
					ck_assert_msg(src.backward == backward, "W %zu, pieces of %zu: step %zu "
					              "read backwards", Ws[t], pieces[p], i);
				epoch = b.epoch;
			}
			ck_assert_mem_eq(got, want, na * sizeof *got);
			ck_assert_uint_lt(src.samples, na + skipped);   /* some skipped were not read */
			nncc_stream_fini(&a);
			nncc_stream_fini(&b);
		}
}
END_TEST

/* A source whose reads from sample `fail_at` on fail, and which counts the
 * reads made by a thread other than the one that set it up. */
static pthread_t main_thread;
static size_t fail_at = SIZE_MAX, off_main, on_main;

static int ahead_read(void *ctx, size_t first, size_t k, void *raw, void *y, nncc_err_t *err)
{
	__atomic_add_fetch(pthread_equal(pthread_self(), main_thread) ? &on_main : &off_main, 1,
	                   __ATOMIC_RELAXED);
	if (first + k > fail_at) {
		nncc_err_set(err, "sample %zu cannot be read", fail_at);
		return -1;
	}
	return mem_read(ctx, first, k, raw, y, err);
}

/* The read-ahead (a thread reading the next piece) hands out the in-memory
 * stream's samples, with any W and piece, tiles of every size, tiles that
 * straddle windows, skips (another rank's samples), passes and a seek; the
 * thread did read pieces; a read it fails is the stream's error; shuffled,
 * one window or no room for two pieces leave the stream as it was. */
START_TEST(read_ahead_is_the_same_samples)
{
	static mem_src_t src;
	static const size_t Ws[] = {32, 40, 49}, pieces[] = {0, 8, 12, 16};   /* 0: its own */
	enum { STEPS = 90 };
	size_t want[STEPS * 8], got[STEPS * 8];
	nncc_stream_t a, b, c;
	nncc_checkpoint_t ck = {0};
	nncc_err_t err;
	int enabled = 0;
	mem_src_init(&src);
	main_thread = pthread_self();
	for (size_t t = 0; t < sizeof Ws / sizeof Ws[0]; t++)
		for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
			nncc_window_src_t ws = {ahead_read, mem_convert, &src, sizeof src.x[0], Ws[t], 1,
			                        pieces[p]};
			size_t na = 0, nb = 0;
			ck_assert_int_eq(nncc_stream_init(&a, &blob_model, src.x, src.y, SN, 0, 3, &err), 0);
			ck_assert_int_eq(nncc_stream_init_windows(&b, &blob_model, &ws, SN, 0, 3, &err), 0);
			/* two buffers of a tile (8) and a piece must fit in a window */
			int fits = (8 + pieces[p]) * 2 <= Ws[t];
			ck_assert_int_eq(nncc_stream_read_ahead(&b, &err), fits);
			ck_assert(fits == (b.ahead != NULL));
			off_main = 0;
			for (size_t i = 0; i < STEPS; i++) {
				size_t k = 1 + (i * 5) % 8;
				if (i % 7 == 6) {   /* another rank's samples */
					nncc_stream_skip(&a, k);
					nncc_stream_skip(&b, k);
					continue;
				}
				if (i == STEPS / 2) {   /* b continues from a's position */
					ck_assert_int_eq(nncc_stream_tell(&a, &ck, &err), 0);
					ck_assert_int_eq(nncc_stream_seek(&b, &ck, &err), 0);
				}
				take(&a, k, k, want + na);
				take(&b, k, k, got + nb);
				na += k;
				nb += k;
			}
			ck_assert_mem_eq(got, want, na * sizeof *got);
			nncc_stream_fini(&a);
			nncc_stream_fini(&b);
			ck_assert_msg(!fits || __atomic_load_n(&off_main, __ATOMIC_RELAXED) > 0,
			              "W %zu, pieces of %zu: the thread read nothing", Ws[t], pieces[p]);
			enabled += fits;
			if (!fits)
				continue;
			/* Without skips and seeks, every piece but the first is the thread's. */
			ck_assert_int_eq(nncc_stream_init(&a, &blob_model, src.x, src.y, SN, 0, 3, &err), 0);
			ck_assert_int_eq(nncc_stream_init_windows(&b, &blob_model, &ws, SN, 0, 3, &err), 0);
			ck_assert_int_eq(nncc_stream_read_ahead(&b, &err), 1);
			on_main = off_main = 0;
			na = 0;
			for (size_t i = 0; i < STEPS; i++) {
				size_t k = 1 + (i * 3) % 8;
				take(&a, k, k, want + na);
				take(&b, k, k, got + na);
				na += k;
			}
			ck_assert_mem_eq(got, want, na * sizeof *got);
			nncc_stream_fini(&a);
			nncc_stream_fini(&b);
			ck_assert_uint_eq(__atomic_load_n(&on_main, __ATOMIC_RELAXED), 1);
			ck_assert_uint_gt(__atomic_load_n(&off_main, __ATOMIC_RELAXED), 2 * SN / Ws[t]);
		}

	ck_assert_int_eq(enabled, 9);

	/* A failed read ahead: the tile that needs it fails with its message. */
	nncc_window_src_t ws = {ahead_read, mem_convert, &src, sizeof src.x[0], 32, 1, 8};
	ck_assert_int_eq(nncc_stream_init_windows(&b, &blob_model, &ws, SN, 0, 3, &err), 0);
	ck_assert_int_eq(nncc_stream_read_ahead(&b, &err), 1);
	fail_at = 24;
	size_t first_ok[24];
	take(&b, 24, 4, first_ok);
	const void *yv;
	ck_assert_ptr_null(nncc_stream_next(&b, 4, &yv));
	ck_assert_int_eq(b.failed, 1);
	ck_assert_str_eq(b.err.msg, "sample 24 cannot be read");
	fail_at = SIZE_MAX;
	nncc_stream_fini(&b);

	/* Not for these: shuffled, one window, two pieces larger than a window. */
	windows_init(&c, &src, 32, 1, 1, 5);
	ck_assert_int_eq(nncc_stream_read_ahead(&c, &err), 0);
	nncc_stream_fini(&c);
	windows_init(&c, &src, SN, 1, 0, 5);
	ck_assert_int_eq(nncc_stream_read_ahead(&c, &err), 0);
	nncc_stream_fini(&c);
	ws.piece = 9;   /* (8 + 9) * 2 > 32 */
	ck_assert_int_eq(nncc_stream_init_windows(&c, &blob_model, &ws, SN, 0, 3, &err), 0);
	ck_assert_int_eq(nncc_stream_read_ahead(&c, &err), 0);
	ck_assert_ptr_null(c.ahead);
	nncc_stream_fini(&c);
}
END_TEST

/* skip moves as next does (same position, orders and generator), and reads
 * no window. */
START_TEST(skip_is_next_unread)
{
	static mem_src_t src;
	nncc_stream_t a, b;
	size_t got[SN];
	mem_src_init(&src);
	windows_init(&a, &src, 16, 1, 1, 5);
	windows_init(&b, &src, 16, 1, 1, 5);
	src.reads = 0;
	for (size_t k = 1; k <= 8; k++) {
		take(&a, k, k, got);
		size_t reads = src.reads;
		nncc_stream_skip(&b, k);
		ck_assert_uint_eq(src.reads, reads);
		ck_assert_uint_eq(a.pos, b.pos);
		ck_assert_uint_eq(a.epoch, b.epoch);
		ck_assert_uint_eq(a.wpos, b.wpos);
		ck_assert_uint_eq(a.at, b.at);
		ck_assert_mem_eq(a.order, b.order, a.n_windows * sizeof *a.order);
		ck_assert_mem_eq(a.wperm, b.wperm, 16 * sizeof *a.wperm);
		ck_assert_mem_eq(a.rng.s, b.rng.s, sizeof a.rng.s);
	}
	nncc_stream_fini(&a);
	nncc_stream_fini(&b);
}
END_TEST

/* nncc_stream_indices (a sharded run's draw): the indices of the samples
 * nncc_stream_next hands out, in order, shuffled or not, across passes
 * (batches of 7 and 13 straddle them), leaving the stream where next
 * leaves it. */
START_TEST(indices_are_the_next_samples)
{
	static mem_src_t src;
	nncc_stream_t a, b;
	nncc_err_t err;
	size_t want[13], got[13];
	mem_src_init(&src);
	for (int shuffle = 0; shuffle <= 1; shuffle++) {
		ck_assert_int_eq(nncc_stream_init(&a, &blob_model, src.x, src.y, SN, shuffle, 9, &err), 0);
		ck_assert_int_eq(nncc_stream_init(&b, &blob_model, NULL, NULL, SN, shuffle, 9, &err), 0);
		for (size_t i = 0; i < 3 * SN / 7; i++) {
			size_t k = i % 2 ? 13 : 7;
			take(&a, k, 8, want);
			nncc_stream_indices(&b, k, got);
			ck_assert_mem_eq(got, want, k * sizeof *got);
			ck_assert_uint_eq(a.pos, b.pos);
			ck_assert_uint_eq(a.epoch, b.epoch);
		}
		ck_assert_uint_ge(b.epoch, 2);
		nncc_stream_fini(&a);
		nncc_stream_fini(&b);
	}
}
END_TEST

/* nncc_stream_share and nncc_stream_draw (a sharded streamed run): R
 * streams shared among R ranks, each over its own source, draw the samples
 * next hands out from an unshared stream, in its order, over three passes
 * of windows of 16 (a tail of 2), 24 (2 tiles and a third of one) and 50
 * (one window): every rank names the same holder, the rank whose tiles of
 * the window hold the sample (nncc_tiles_held), which alone gets it, as
 * read, with its label; each rank reads only its parts (mem_read checks),
 * together the samples the unshared stream reads; the position is the
 * unshared one's.  next on a shared stream fails with a message. */
START_TEST(shared_windows_split_the_draw)
{
	static mem_src_t src[5];
	static const size_t Ws[] = {16, 24, 50};
	nncc_stream_t a, sh[4];
	size_t want, mb = blob_model.max_batch;
	for (size_t wi = 0; wi < 3; wi++) {
		size_t W = Ws[wi];
		for (size_t R = 2; R <= 4; R++) {
			size_t read = 0;
			mem_src_init(&src[4]);
			windows_init(&a, &src[4], W, 1, 1, 5);
			for (size_t r = 0; r < R; r++) {
				mem_src_init(&src[r]);
				src[r].window = W;
				src[r].n = SN;
				src[r].rank = r;
				src[r].ranks = R;
				windows_init(&sh[r], &src[r], W, 1, 1, 5);
				nncc_stream_share(&sh[r], r, R);
			}
			for (size_t i = 0; i < PASSES * SN; i++) {
				size_t w, j, len, h = SIZE_MAX, lo, hi;
				take(&a, 1, 1, &want);
				w = want / W;
				j = want % W;
				len = SN - w * W < W ? SN - w * W : W;
				for (size_t r = 0; r < R; r++) {
					const void *x, *y;
					size_t o;
					ck_assert_int_eq(nncc_stream_draw(&sh[r], &o, &x, &y), 0);
					if (r == 0)
						h = o;
					ck_assert_uint_eq(o, h);
					ck_assert(!x == (r != h));
					if (x) {
						ck_assert_double_eq(((const double *)x)[0], (double)want);
						ck_assert_int_eq(*(const int32_t *)y, (int32_t)(want % K));
					}
					ck_assert_uint_eq(sh[r].pos, a.pos);
					ck_assert_uint_eq(sh[r].epoch, a.epoch);
				}
				nncc_tiles_held(len, mb, h, R, &lo, &hi);
				ck_assert(lo <= j && j < hi);
			}
			for (size_t r = 0; r < R; r++)
				read += src[r].samples;
			ck_assert_uint_eq(read, src[4].samples);
			ck_assert_ptr_null(nncc_stream_next(&sh[0], 1, &(const void *){NULL}));
			ck_assert(sh[0].failed);
			ck_assert_ptr_nonnull(strstr(sh[0].err.msg, "nncc_stream_draw"));
			for (size_t r = 0; r < R; r++)
				nncc_stream_fini(&sh[r]);
			nncc_stream_fini(&a);
		}
	}
}
END_TEST

/* nncc_stream_want, file order over windows of 16 (tiles straddling them):
 * a rank's pattern (take its chunk, skip the others') reads exactly the
 * samples it takes, where the same pattern without it reads whole pieces;
 * the same samples either way, over several passes.  Shuffled windows are
 * read whole: it changes nothing there. */
START_TEST(want_reads_only_what_is_taken)
{
	static mem_src_t src[2];
	static const size_t chunk[] = {3, 9, 1, 7, 12, 2, 5};
	nncc_stream_t a, b;
	size_t got[2][16], taken = 0;
	for (int shuffle = 0; shuffle < 2; shuffle++) {
		mem_src_init(&src[0]);
		mem_src_init(&src[1]);
		windows_init(&a, &src[0], 16, 1, shuffle, 9);
		windows_init(&b, &src[1], 16, 1, shuffle, 9);
		if (!shuffle)   /* pieces of a tile, smaller than a window */
			a.piece = b.piece = blob_model.max_batch;
		taken = 0;
		for (size_t i = 0; taken < PASSES * SN; i++) {
			size_t k = chunk[i % 7], skip = chunk[(i + 3) % 7];
			nncc_stream_want(&a, k);
			take(&a, k, blob_model.max_batch, got[0]);
			take(&b, k, blob_model.max_batch, got[1]);
			ck_assert_mem_eq(got[0], got[1], k * sizeof got[0][0]);
			nncc_stream_skip(&a, skip);
			nncc_stream_skip(&b, skip);
			taken += k;
		}
		if (shuffle)
			ck_assert_uint_eq(src[0].samples, src[1].samples);
		else {
			ck_assert_uint_eq(src[0].samples, taken);
			ck_assert_uint_gt(src[1].samples, taken + taken / 4);
		}
		nncc_stream_fini(&a);
		nncc_stream_fini(&b);
	}
}
END_TEST

/* tell, then seek in a fresh stream, continues with the same samples; one
 * window's position is the in-memory one's (either way); another W is
 * refused. */
START_TEST(tell_and_seek_continue_exactly)
{
	static mem_src_t src;
	size_t want[2 * SN], got[2 * SN], skip[SN + 13];
	nncc_stream_t a, b;
	nncc_checkpoint_t ck = {0};
	nncc_err_t err;
	mem_src_init(&src);
	for (size_t W = 10; W <= SN; W += 40) {   /* 5 windows, then one */
		windows_init(&a, &src, W, 1, 1, 77);
		take(&a, SN + 13, 4, skip);
		ck_assert_int_eq(nncc_stream_tell(&a, &ck, &err), 0);
		ck_assert_uint_eq(ck.window, W < SN ? W : 0);
		ck_assert_uint_eq(ck.n_perm, W < SN ? 0 : SN);
		take(&a, 2 * SN, 4, want);
		windows_init(&b, &src, W, 1, 1, 1);   /* another seed: the position decides */
		ck_assert_int_eq(nncc_stream_seek(&b, &ck, &err), 0);
		take(&b, 2 * SN, 4, got);
		ck_assert_mem_eq(got, want, sizeof want);
		nncc_stream_fini(&b);
		if (W == SN) {   /* in memory from a one-window position */
			ck_assert_int_eq(nncc_stream_init(&b, &blob_model, src.x, src.y, SN, 1, 1, &err), 0);
			ck_assert_int_eq(nncc_stream_seek(&b, &ck, &err), 0);
			take(&b, 2 * SN, 4, got);
			ck_assert_mem_eq(got, want, sizeof want);
			nncc_stream_fini(&b);
		} else {
			windows_init(&b, &src, W + 1, 1, 1, 1);
			ck_assert_int_eq(nncc_stream_seek(&b, &ck, &err), -1);
			ck_assert_str_eq(err.msg, "its position is shuffled in 5 windows of 10 samples, "
			                          "this run streams 5 windows of 11");
			nncc_stream_fini(&b);
			ck_assert_int_eq(nncc_stream_init(&b, &blob_model, src.x, src.y, SN, 1, 1, &err), 0);
			ck_assert_int_eq(nncc_stream_seek(&b, &ck, &err), -1);
			ck_assert_str_eq(err.msg, "its position is shuffled in windows of 10 samples "
			                          "(streamed), this run holds the training set in memory");
			nncc_stream_fini(&b);
		}
		free(ck.perm);
		free(ck.order);
		free(ck.wperm);
		memset(&ck, 0, sizeof ck);
		nncc_stream_fini(&a);
	}
}
END_TEST

/* The normalisation fitted chunk by chunk in file order (as a streamed
 * run fits it) has the bits of nncc_norm_fit on the whole set, for every
 * kind, pixels and features, whatever the chunks. */
START_TEST(norm_fit_in_chunks_is_the_whole_fit)
{
	enum { NS = 97, DIM = 5 };
	static uint8_t pix[NS * DIM];
	static double val[NS * DIM];
	uint32_t g = 3;
	for (size_t i = 0; i < NS * DIM; i++) {
		g = g * 1664525u + 1013904223u;
		pix[i] = (uint8_t)(g >> 24);
		val[i] = (double)(g >> 8) / 65536.0 - 100.0 + (double)(i % DIM) * 1e6;
	}
	for (int kind = NNCC_NORM_NONE; kind <= NNCC_NORM_STANDARDIZE_FEATURES; kind++)
		for (int feat = 0; feat < 2; feat++) {
			nncc_dataset_t all = {.n = NS, .dim = DIM, .pixels = feat ? NULL : pix,
			                      .values = feat ? val : NULL};
			nncc_norm_stats_t whole, parts;
			nncc_err_t err;
			ck_assert_int_eq(nncc_norm_fit(&whole, kind, &all, &err), 0);
			for (size_t C = 1; C <= NS; C += 24) {
				ck_assert_int_eq(nncc_norm_fit_begin(&parts, kind, DIM, &err), 0);
				for (int pass = 0; pass < nncc_norm_fit_passes(kind); pass++) {
					for (size_t first = 0; first < NS; first += C) {
						nncc_dataset_t chunk = all;
						chunk.n = NS - first < C ? NS - first : C;
						chunk.pixels = feat ? NULL : pix + first * DIM;
						chunk.values = feat ? val + first * DIM : NULL;
						nncc_norm_fit_add(&parts, pass, &chunk);
					}
					ck_assert_int_eq(nncc_norm_fit_end_pass(&parts, pass, NS, &err), 0);
				}
				ck_assert_int_eq(parts.kind, whole.kind);
				ck_assert_mem_eq(&parts.std, &whole.std, sizeof whole.std);
				ck_assert_int_eq(!parts.mean, !whole.mean);
				ck_assert_int_eq(!parts.stds, !whole.stds);
				if (whole.mean)
					ck_assert_mem_eq(parts.mean, whole.mean, DIM * sizeof *whole.mean);
				if (whole.stds)
					ck_assert_mem_eq(parts.stds, whole.stds, DIM * sizeof *whole.stds);
				nncc_norm_fini(&parts);
			}
			nncc_norm_fini(&whole);
		}
}
END_TEST

/* ---- through nncc_main, on IDX files ------------------------------------ */

/* The training and test files of dir gzip'd in place (the raw ones
 * removed). */
static void gzip_data(const char *dir)
{
	static const char *const names[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
	                                    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
	for (size_t k = 0; k < 4; k++) {
		char gz[300];
		size_t len;
		char *p = tu_path(dir, names[k]);
		void *b = tu_read_file(p, &len);
		snprintf(gz, sizeof gz, "%s.gz", p);
		ck_assert_int_eq(tu_write_gz(gz, b, len), 0);
		ck_assert_int_eq(unlink(p), 0);
		free(b);
		free(p);
	}
}

/* One run saving to dir/NAME; its JSON in *json (malloc'd) when asked. */
static void run_saving(const char *dir, const char *name, const char *const *args, char **json)
{
	const char *argv[32];
	size_t n = 0;
	char *path = tu_path(dir, name);
	for (; *args; args++)
		argv[n++] = *args;
	argv[n++] = "--save";
	argv[n++] = path;
	argv[n++] = "--json";
	argv[n] = NULL;
	result_t r = run_net_args(&blob_model, dir, argv);
	ck_assert_msg(r.rc == 0, "%s: %s", name, r.err);
	if (json)
		*json = strdup(r.out);
	result_free(&r);
	free(path);
}

static int same(const char *dir, const char *a, const char *b)
{
	char *pa = tu_path(dir, a), *pb = tu_path(dir, b);
	int eq = tu_same_file(pa, pb);
	free(pa);
	free(pb);
	return eq;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* File order: any budget saves the in-memory run's bytes (weights and the
 * standardisation fitted in streaming passes), with validation and
 * --train-limit too, raw and gzip'd. */
START_TEST(streamed_file_order_is_the_in_memory_run)
{
	char *dir = make_data(IN, K, DATA_BLOBS), *json;
	for (int gz = 0; gz < 2; gz++) {
		if (gz)
			gzip_data(dir);
		run_saving(dir, "mem.w", ARGS("--batch", "7", "--iterations", "90", "--no-shuffle",
		                              "--validation", "30", "--train-limit", "280",
		                              "--eval-every", "30", "--eval-test"), &json);
		ck_assert(strstr(json, "\"streamed\": false"));
		free(json);
		static const char *const budgets[] = {"8K", "12K", "16K"};
		for (size_t k = 0; k < 6; k++) {
			/* each budget with the read-ahead (the run leaves a core free
			 * where there are two) and without (NNCC_READ_AHEAD=0) */
			int off = k >= 3;
			if (off)
				setenv("NNCC_READ_AHEAD", "0", 1);
			run_saving(dir, "win.w", ARGS("--batch", "7", "--iterations", "90", "--no-shuffle",
			                              "--validation", "30", "--train-limit", "280",
			                              "--eval-every", "30", "--eval-test", "--max-memory",
			                              budgets[k % 3]), &json);
			unsetenv("NNCC_READ_AHEAD");
			ck_assert_msg(strstr(json, "\"streamed\": true"), "%s: %s", budgets[k % 3], json);
			ck_assert_double_ge(json_num(json, "windows"), 2);
			int ahead = !off && sysconf(_SC_NPROCESSORS_ONLN) > 1;
			ck_assert_msg(strstr(json, ahead ? "\"read_ahead\": true" : "\"read_ahead\": false"),
			              "%s, read-ahead %s: %s", budgets[k % 3], off ? "off" : "on", json);
			free(json);
			ck_assert_msg(same(dir, "mem.w", "win.w"), "budget %s, read-ahead %s: other bytes",
			              budgets[k % 3], off ? "off" : "on");
		}
	}
	tu_scratch_free(dir);
}
END_TEST

/* Shuffled in several windows: 25 + 35 updates resumed save the bytes of
 * 60 in one run (raw: the window order shuffled; gzip'd: file order, said
 * at the start); another budget's W is refused. */
START_TEST(streamed_shuffle_resumes_exactly)
{
	char *dir = make_data(IN, K, DATA_BLOBS), *first = tu_path(dir, "first.w");
	for (int gz = 0; gz < 2; gz++) {
		if (gz)
			gzip_data(dir);
		run_saving(dir, "whole.w", ARGS("--batch", "7", "--iterations", "60", "--shuffle",
		                                "--max-memory", "12K"), NULL);
		run_saving(dir, "first.w", ARGS("--batch", "7", "--iterations", "25", "--shuffle",
		                                "--max-memory", "12K", "--checkpoint-every", "10"), NULL);
		run_saving(dir, "cont.w", ARGS("--batch", "7", "--iterations", "35", "--shuffle",
		                               "--max-memory", "12K", "--resume", first), NULL);
		ck_assert_msg(same(dir, "whole.w", "cont.w"), "gz %d: the resumed run differs", gz);
		run_saving(dir, "mem.w", ARGS("--batch", "7", "--iterations", "60", "--shuffle"), NULL);
		ck_assert(!same(dir, "whole.w", "mem.w"));   /* windows: another order */

		result_t r = run_net(&blob_model, dir, "--iterations", "5", "--shuffle",
		                     "--max-memory", "8K", "--resume", first, NULL);
		ck_assert_int_eq(r.rc, 1);
		ASSERT_HAS(r.err, "its position is shuffled in 3 windows of 128 samples, this run "
		                  "streams 5 windows of 64 (--max-memory decides the windows: resume "
		                  "with the one it was saved with)\n");
		result_free(&r);
		r = run_net(&blob_model, dir, "--iterations", "5", "--shuffle", "--max-memory", "12K",
		            NULL);
		ck_assert_int_eq(r.rc, 0);
		ASSERT_HAS(r.err, "streams from");
		ASSERT_HAS(r.out, "\nmemory         ");
		ASSERT_HAS(r.out, " budget; the training set streamed in 3 windows of 128 samples\n");
		ck_assert_int_eq(strstr(r.err, "is gzip'd: its windows are read in file order") != NULL,
		                 gz);
		result_free(&r);
	}
	free(first);
	tu_scratch_free(dir);
}
END_TEST

/* A budget that cannot hold the rest and one window of a tile: refused,
 * naming the numbers and the least budget that would do. */
START_TEST(budget_too_small_is_refused)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	result_t r = run_net(&blob_model, dir, "--iterations", "5", "--max-memory", "3K", NULL);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.err, "blobs: error: --max-memory 3.0 KB is too small: the parameters, "
	                        "optimizer state and tiles, the labels and the 0 held-out samples "
	                        "need 3.3 KB, and one window of 8 samples 544 bytes more: give at "
	                        "least --max-memory 4K\n");
	result_free(&r);
	r = run_net(&blob_model, dir, "--iterations", "5", "--max-memory", "1X", NULL);
	ck_assert_int_eq(r.rc, 2);
	ASSERT_HAS(r.err, "invalid value '1X' for --max-memory (expected a size in bytes >= 1, or "
	                  "with K, M, G or T (e.g. 512M))");
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

static Suite *streaming_suite(void)
{
	Suite *s = suite_create("streaming");
	TCase *tc = tcase_create("stream");
	tcase_add_test(tc, file_order_is_in_memory_order_for_any_w);
	tcase_add_test(tc, one_window_is_the_in_memory_shuffle);
	tcase_add_test(tc, windows_follow_the_documented_shuffle);
	tcase_add_test(tc, file_order_pieces_are_the_window);
	tcase_add_test(tc, read_ahead_is_the_same_samples);
	tcase_add_test(tc, skip_is_next_unread);
	tcase_add_test(tc, indices_are_the_next_samples);
	tcase_add_test(tc, want_reads_only_what_is_taken);
	tcase_add_test(tc, shared_windows_split_the_draw);
	tcase_add_test(tc, tell_and_seek_continue_exactly);
	tcase_add_test(tc, norm_fit_in_chunks_is_the_whole_fit);
	suite_add_tcase(s, tc);
	tc = tcase_create("driver");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, streamed_file_order_is_the_in_memory_run);
	tcase_add_test(tc, streamed_shuffle_resumes_exactly);
	tcase_add_test(tc, budget_too_small_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(streaming_suite(), NULL);
}
