/*
 * share.c - one training step shared by the ranks of one machine
 * (--chunks 0 under MPI; docs/scaling.md#one-step-shared-by-the-ranks).
 *
 * The ranks map the same pages over the generated trainer's parameters,
 * optimizer state and layer buffers (nncc_model_t.shared), a POSIX
 * shared-memory object rank 0 creates and unlinks once all have mapped
 * it.  A step is then the thread pool's cut run by processes
 * (nncc_model_t.step_part): each rank runs the forward and backward passes
 * for its rows of the tile, they meet, each runs the weight units it draws
 * from a counter they share (the fused weight gradient and update of W's
 * row tiles), and they meet again.  No gradient is stored or moved; every
 * parameter is computed as one process computes it, so the bits are one
 * process's (without --chunks) whatever the rank count.
 *
 * The meeting point is a sense-reversing barrier in the object's first
 * page: ranks spin, yield (ranks may outnumber cores) and give up after
 * --mpi-timeout seconds, naming a rank that did not come.  A rank whose
 * step failed before the meeting (its stream could not be read) still
 * comes, with a flag that stops every rank's update.
 */
#define _GNU_SOURCE 1   /* MAP_ANONYMOUS with -std=c11 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "driver.h"

/* The object's first page: the barrier, the weight units' counters (one a
 * step, in turns: rank 0 clears the next one while the ranks are in this
 * one's weight pass), the failure flag, each rank's meetings so far. */
struct nncc_share_ctl {
	int count, sense, failed;
	size_t next[2];
	unsigned long long met[NNCC_SHARE_MAX_RANKS];
};

static int share_fail(nncc_err_t *err, const char *text)
{
	nncc_err_set(err, "%s", text);
	return -1;
}

static size_t page_round(size_t n)
{
	return (n + NNCC_PAGE - 1) / NNCC_PAGE * NNCC_PAGE;
}

static double seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Region k's pages, shared (the object's) or private (fresh: their
 * contents are not kept). */
static int map_region(nncc_share_t *s, size_t k, int shared)
{
	const nncc_region_t *g = &s->m->shared[k];
	void *p = shared ? mmap(g->p, page_round(g->bytes), PROT_READ | PROT_WRITE,
	                        MAP_SHARED | MAP_FIXED, s->fd, (off_t)s->off[k])
	                 : mmap(g->p, page_round(g->bytes), PROT_READ | PROT_WRITE,
	                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	return p == g->p ? 0 : -1;
}

/* Region k's pages replaced by the object's (rank 0: with its bytes) or by
 * private ones, its bytes kept. */
static int move_region(nncc_share_t *s, size_t k, int shared, int keep)
{
	const nncc_region_t *g = &s->m->shared[k];
	void *copy = NULL;

	if (keep && !(copy = malloc(g->bytes)))
		return -1;
	if (copy)
		memcpy(copy, g->p, g->bytes);
	if (map_region(s, k, shared)) {
		free(copy);
		return -1;
	}
	if (copy)
		memcpy(g->p, copy, g->bytes);
	free(copy);
	return 0;
}

const char *nncc_share_unfit(const nncc_comm_t *c, const nncc_model_t *m)
{
	long page = sysconf(_SC_PAGESIZE);

	if (c->local != c->size)
		return "its ranks are not all on one machine";
	if (c->size > NNCC_SHARE_MAX_RANKS)
		return "it has more than 256 ranks";
	if (!m->step_part || !m->n_shared)
		return "the trainer's buffers cannot be shared (not compiled with GNU C)";
	if (page != NNCC_PAGE)
		return "this machine's pages are not of 4096 bytes";
	for (size_t k = 0; k < m->n_shared; k++) {
		const nncc_region_t *g = &m->shared[k];
		if ((uintptr_t)g->p % NNCC_PAGE || page_round(g->bytes) > g->room)
			return "the trainer's buffers are not page-aligned (not compiled with GNU C)";
	}
	return NULL;
}

int nncc_share_init(nncc_share_t *s, const nncc_comm_t *c, const nncc_model_t *m,
                    nncc_err_t *err)
{
	size_t total = NNCC_PAGE;
	int pid = c->rank == 0 ? (int)getpid() : 0, bad = 0, any = 0;
	char name[64];

	memset(s, 0, sizeof *s);
	s->m = m;
	s->comm = c;
	s->fd = -1;
	if (!(s->off = malloc(m->n_shared * sizeof *s->off)))
		return share_fail(err, "out of memory for the shared step");
	for (size_t k = 0; k < m->n_shared; k++) {
		s->off[k] = total;
		total += page_round(m->shared[k].bytes);
	}
	if (nncc_comm_max(c, pid, &pid, err))
		return -1;
	snprintf(name, sizeof name, "/nncc-step-%d", pid);
	/* rank 0 makes the object and moves its bytes in; then the others map */
	for (int turn = 0; turn < 2; turn++) {
		if ((c->rank == 0) == (turn == 0)) {
			const int flags = c->rank == 0 ? O_RDWR | O_CREAT | O_EXCL : O_RDWR;
			s->fd = shm_open(name, flags, 0600);
			bad = s->fd < 0;
			/* every page now: a full /dev/shm is an error here, not a
			 * SIGBUS at a page's first touch later */
			if (!bad && c->rank == 0 && (errno = posix_fallocate(s->fd, 0, (off_t)total)))
				bad = 1;
			if (!bad) {
				s->ctl = mmap(NULL, sizeof *s->ctl, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd,
				              0);
				bad = s->ctl == MAP_FAILED;
				if (bad)
					s->ctl = NULL;
			}
			/* 0 or 1: nncc_comm_max below tells every rank */
			for (size_t k = 0; !bad && k < m->n_shared; k++)
				bad = move_region(s, k, 1, c->rank == 0) != 0;
			if (bad)
				snprintf(s->msg, sizeof s->msg,
				         "rank %d: shared memory %s (%zu bytes, in /dev/shm): %s; /dev/shm "
				         "must be writable with that room, or run with --chunks C", c->rank,
				         name, total, strerror(errno));
		}
		if (nncc_comm_max(c, bad, &any, err))
			return -1;
		if (any)
			break;
	}
	if (c->rank == 0)
		shm_unlink(name);
	if (any)
		return share_fail(err, bad ? s->msg : "another rank could not map the shared step's memory");
	s->part = (nncc_part_t){.part = (size_t)c->rank, .parts = (size_t)c->size,
	                        .meet = nncc_share_meet, .next_unit = nncc_share_next, .ctx = s};
	return 0;
}

/* The barrier: every rank's arrival, `failed` or-ed into the object's
 * flag; 1 when some rank failed (every rank sees it), -1 when one did not
 * come within the timeout (s->msg names it). */
static int meet(nncc_share_t *s, int failed)
{
	struct nncc_share_ctl *t = s->ctl;
	const int R = s->comm->size;
	double t0 = 0;
	int sense = !s->sense, any;

	s->sense = sense;
	if (failed)
		__atomic_store_n(&t->failed, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&t->met[s->comm->rank], ++s->meetings, __ATOMIC_RELAXED);
	if (__atomic_add_fetch(&t->count, 1, __ATOMIC_ACQ_REL) == R) {
		any = __atomic_load_n(&t->failed, __ATOMIC_RELAXED);
		__atomic_store_n(&t->count, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&t->failed, 0, __ATOMIC_RELAXED);
		s->failed = any;
		__atomic_store_n(&s->ctl->sense, sense | any << 1, __ATOMIC_RELEASE);
		return any;
	}
	for (unsigned long spin = 1;; spin++) {
		int v = __atomic_load_n(&t->sense, __ATOMIC_ACQUIRE);
		if ((v & 1) == sense)
			return s->failed = v >> 1;
		if (spin % 64)
			continue;
		sched_yield();
		if (spin % 4096 || s->comm->timeout <= 0)
			continue;
		if (!t0) {
			t0 = seconds();
		} else if (seconds() - t0 > s->comm->timeout) {
			int who = 0;
			for (int r = 0; r < R; r++)
				if (__atomic_load_n(&t->met[r], __ATOMIC_RELAXED) < s->meetings) {
					who = r;
					break;
				}
			snprintf(s->msg, sizeof s->msg,
			         "rank %d of %d did not reach the shared step's meeting point within %g s: "
			         "hung, stopped or far slower than the others (--mpi-timeout)",
			         who, R, s->comm->timeout);
			return -1;
		}
	}
}

int nncc_share_meet(void *ctx)
{
	return meet(ctx, 0) != 0;
}

size_t nncc_share_next(void *ctx)
{
	nncc_share_t *s = ctx;
	return __atomic_fetch_add(&s->ctl->next[s->steps & 1], 1, __ATOMIC_ACQ_REL);
}

int nncc_share_step(nncc_share_t *s, nncc_stream_t *st, const nncc_update_t *u, double *loss,
                    nncc_err_t *err)
{
	const void *x, *y = NULL;

	if (!(x = nncc_stream_next(st, u->batch, &y))) {   /* the others stop at the meeting too */
		if (meet(s, 1) < 0)
			return share_fail(err, s->msg);
		*err = st->err;
		return -1;
	}
	*loss = s->m->step_part(u->batch, x, y, u, &s->part);
	if (s->msg[0])   /* meet() timed out */
		return share_fail(err, s->msg);
	if (s->failed)   /* a rank could not read its batch: nobody updated */
		return share_fail(err, "another rank could not read the batch");
	if (s->comm->rank == 0)   /* the next step's counter, unused now */
		__atomic_store_n(&s->ctl->next[(s->steps + 1) & 1], 0, __ATOMIC_RELAXED);
	s->steps++;
	if (meet(s, 0) < 0)
		return share_fail(err, s->msg);
	return 0;
}

int nncc_share_layers(nncc_share_t *s, int shared)
{
	for (size_t k = s->m->shared_params; k < s->m->n_shared; k++)
		if (map_region(s, k, shared))
			return -1;
	return 0;
}

int nncc_share_end(nncc_share_t *s)
{
	int bad = 0;
	if (!s->ctl)
		return 0;
	for (size_t k = 0; k < s->m->n_shared; k++)
		bad |= move_region(s, k, 0, k < s->m->shared_params);
	munmap(s->ctl, sizeof *s->ctl);
	s->ctl = NULL;
	close(s->fd);
	s->fd = -1;
	return bad ? -1 : 0;
}

void nncc_share_fini(nncc_share_t *s)
{
	nncc_share_end(s);
	free(s->off);
	s->off = NULL;
}
