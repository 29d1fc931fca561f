/*
 * mpi.c - the training run's processes under Open MPI: comm.c's functions
 * (driver.h) on MPI_COMM_WORLD, for libnncc_mpi.a (make MPI=1; built with
 * mpicc, linked into trainers built with mpicc: docs/scaling.md).  Errors
 * return (MPI_ERRORS_RETURN) with MPI's own message and the rank; a rank
 * that dies is Open MPI's to notice: mpirun then ends the job and names it;
 * a rank that hangs is found by the timeout (--mpi-timeout): every
 * exchange is non-blocking, waited for until the deadline, and every rank
 * sends rank 0 a note as it reaches one, so that rank 0 names those that
 * did not.
 * Not in the default libnncc.a, which needs no MPI.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "driver.h"

/* "MPI_Alltoallv failed on rank 1 of 2: MESSAGE" into err; returns -1. */
static int mpi_failed(const nncc_comm_t *c, const char *call, int code, nncc_err_t *err)
{
	char msg[MPI_MAX_ERROR_STRING];
	int len = 0;
	if (MPI_Error_string(code, msg, &len) != MPI_SUCCESS)
		snprintf(msg, sizeof msg, "error %d", code);
	nncc_err_set(err, "%s failed on rank %d of %d: %s", call, c->rank, c->size, msg);
	return -1;
}

/* The ranks on this machine (MPI_COMM_TYPE_SHARED), and the blocks of
 * memory they share (nncc_comm_shared): released by nncc_comm_fini. */
static MPI_Comm node = MPI_COMM_NULL;
#define SHARED_MAX 4
static struct {
	void *base;
	size_t bytes;
	int writer;   /* this rank fills it */
	MPI_Win win;
} shared[SHARED_MAX];
static int n_shared;

int nncc_comm_init(nncc_comm_t *c, nncc_err_t *err)
{
	const char *machines;
	int n_machines;
	int code, done;

	c->rank = 0;
	c->size = 1;
	c->local = 1;
	c->local_rank = 0;
	c->timeout = 0;
	c->default_chunks = NNCC_MPI_CHUNKS;
	if ((code = MPI_Initialized(&done)) != MPI_SUCCESS || (!done && (code = MPI_Init(NULL, NULL))))
		return mpi_failed(c, "MPI_Init", code, err);
	if ((code = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)) ||
	    (code = MPI_Comm_rank(MPI_COMM_WORLD, &c->rank)) ||
	    (code = MPI_Comm_size(MPI_COMM_WORLD, &c->size)))
		return mpi_failed(c, "MPI_Comm_rank", code, err);
	/* the ranks sharing this machine's memory: they share its cores */
	if ((code = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c->rank,
	                                MPI_INFO_NULL, &node)))
		return mpi_failed(c, "MPI_Comm_split_type", code, err);
	if ((machines = getenv("NNCC_MPI_MACHINES")) && (n_machines = atoi(machines)) > 1) {
		/* tests: the ranks act as if on K machines, blocks of consecutive
		 * ranks (as mpirun places them by slot); a part of this machine's
		 * ranks still shares its memory */
		MPI_Comm part;
		int color = (int)((long long)c->rank * n_machines / c->size);
		if ((code = MPI_Comm_split(node, color, c->rank, &part)))
			return mpi_failed(c, "MPI_Comm_split", code, err);
		MPI_Comm_free(&node);
		node = part;
	}
	if ((code = MPI_Comm_size(node, &c->local)) || (code = MPI_Comm_rank(node, &c->local_rank)))
		return mpi_failed(c, "MPI_Comm_size", code, err);
	return 0;
}

void nncc_comm_fini(const nncc_comm_t *c, int status)
{
	if (status != 0 && status < 128 && c->size > 1) {
		fflush(stdout);
		fflush(stderr);
		MPI_Abort(MPI_COMM_WORLD, status);
	}
	/* every rank ends here with status 0 or a signal's, after the same
	 * update: the windows' release is collective on the machine's ranks */
	for (int i = n_shared - 1; i >= 0; i--) {
		MPI_Win_unlock_all(shared[i].win);
		MPI_Win_free(&shared[i].win);
	}
	n_shared = 0;
	if (node != MPI_COMM_NULL)
		MPI_Comm_free(&node);
	MPI_Finalize();
}

#define NOTE_TAG 7301   /* a rank's note to rank 0: it reached an exchange (rank 0's
                         * to the others: NOTE_TAG + 1) */

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Rank 0, after a timeout: "ranks 1, 3 of 4 did not reach CALL within T s
 * ..."; reqs[r] is the note of rank r. */
static void name_missing(const nncc_comm_t *c, const char *call, MPI_Request *reqs,
                         nncc_err_t *err)
{
	char ranks[256] = "";
	size_t len = 0;
	int missing = 0;
	for (int r = 1; r < c->size; r++) {
		int arrived = 0;
		MPI_Test(&reqs[r], &arrived, MPI_STATUS_IGNORE);
		if (!arrived && len < sizeof ranks - 16) {
			len += (size_t)snprintf(ranks + len, sizeof ranks - len, "%s%d", missing ? ", " : "",
			                        r);
			missing++;
		}
	}
	if (missing)
		nncc_err_set(err, "rank%s %s of %d did not reach %s within %g s: hung, stopped or far "
		                  "slower than the others (--mpi-timeout)", missing > 1 ? "s" : "", ranks,
		             c->size, call, c->timeout);
	else if (c->size == 2)   /* rank 0 is here, testing: the other one stalls the exchange */
		nncc_err_set(err, "rank 1 of 2 reached %s but did not finish it within %g s: hung, "
		                  "stopped or far slower than rank 0 (--mpi-timeout)", call, c->timeout);
	else
		nncc_err_set(err, "%s did not complete within %g s, though every rank reached it: one "
		                  "of ranks 1 to %d hung, stopped or is far slower inside it "
		                  "(--mpi-timeout)", call, c->timeout, c->size - 1);
}

/* Waits for the exchange *req just started (code: what starting it
 * returned) for at most c->timeout seconds (0: for ever); -1 with err set
 * on an error or at the deadline. */
static int finish(const nncc_comm_t *c, const char *call, int code, MPI_Request *req,
                  nncc_err_t *err)
{
	MPI_Request *reqs;
	int *notes, n = 1, done = 0, rc = -1;
	double deadline;

	if (code != MPI_SUCCESS)
		return mpi_failed(c, call, code, err);
	if (!(c->timeout > 0) || c->size == 1) {
		code = MPI_Wait(req, MPI_STATUS_IGNORE);
		return code == MPI_SUCCESS ? 0 : mpi_failed(c, call, code, err);
	}
	reqs = malloc(2 * (size_t)c->size * sizeof *reqs);
	notes = calloc((size_t)c->size + 1, sizeof *notes);
	if (!reqs || !notes) {
		free(reqs);
		free(notes);
		nncc_err_set(err, "out of memory for the MPI requests of %d ranks", c->size);
		return -1;
	}
	/* reqs: the exchange; on rank 0 the others' notes (reqs[r] is rank r's),
	 * then its own to each; elsewhere its note to rank 0, then rank 0's
	 * (reqs[2]). */
	reqs[0] = *req;
	if (c->rank == 0) {
		for (int r = 1; r < c->size; r++)
			MPI_Irecv(&notes[r], 1, MPI_INT, r, NOTE_TAG, MPI_COMM_WORLD, &reqs[n++]);
		for (int r = 1; r < c->size; r++)
			MPI_Isend(&notes[0], 1, MPI_INT, r, NOTE_TAG + 1, MPI_COMM_WORLD, &reqs[n++]);
	} else {
		MPI_Isend(&notes[0], 1, MPI_INT, 0, NOTE_TAG, MPI_COMM_WORLD, &reqs[n++]);
		MPI_Irecv(&notes[c->size], 1, MPI_INT, 0, NOTE_TAG + 1, MPI_COMM_WORLD, &reqs[n++]);
	}
	deadline = now_seconds() + c->timeout;
	while ((code = MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE)) == MPI_SUCCESS && !done &&
	       now_seconds() < deadline)
		;
	if (code != MPI_SUCCESS)
		mpi_failed(c, call, code, err);
	else if (done)
		rc = 0;
	else if (c->rank == 0)
		name_missing(c, call, reqs, err);
	else if (MPI_Test(&reqs[2], &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done)
		nncc_err_set(err, "rank 0 of %d did not reach %s within %g s: hung, stopped or far "
		                  "slower than the others (--mpi-timeout; seen by rank %d)", c->size, call,
		             c->timeout, c->rank);
	else if (c->size == 2)
		nncc_err_set(err, "rank 0 of 2 reached %s but did not finish it within %g s: hung, "
		                  "stopped or far slower than rank 1 (--mpi-timeout)", call, c->timeout);
	else
		nncc_err_set(err, "rank %d of %d waited %g s in %s for the other ranks "
		                  "(--mpi-timeout; rank 0 names those missing)", c->rank, c->size,
		             c->timeout, call);
	free(reqs);
	free(notes);
	return rc;
}

/* n counts of size_t as MPI's ints; -1 when one does not fit. */
static int to_int(const nncc_comm_t *c, int *out, const size_t *in, nncc_err_t *err)
{
	for (int r = 0; r < c->size; r++) {
		if (in[r] > INT_MAX) {
			nncc_err_set(err, "an MPI count of %zu elements is more than %d (INT_MAX): use "
			                  "fewer chunks (--chunks), more ranks or, sharded, a smaller "
			                  "batch", in[r], INT_MAX);
			return -1;
		}
		out[r] = (int)in[r];
	}
	return 0;
}

static MPI_Datatype mpi_type(int dtype)
{
	return dtype == NNCC_F64 ? MPI_DOUBLE : dtype == NNCC_BYTES ? MPI_BYTE : MPI_FLOAT;
}

int nncc_comm_alltoall(const nncc_comm_t *c, int dtype, const void *send, const size_t *scount,
                       const size_t *sdispl, void *recv, const size_t *rcount,
                       const size_t *rdispl, nncc_err_t *err)
{
	int *v = malloc(4 * (size_t)c->size * sizeof *v), code, rc = -1;
	int *sc = v, *sd = v + c->size, *rn = v + 2 * c->size, *rd = v + 3 * c->size;

	if (!v) {
		nncc_err_set(err, "out of memory for the MPI counts of %d ranks", c->size);
		return -1;
	}
	if (!to_int(c, sc, scount, err) && !to_int(c, sd, sdispl, err) &&
	    !to_int(c, rn, rcount, err) && !to_int(c, rd, rdispl, err)) {
		MPI_Request req;
		code = MPI_Ialltoallv(send, sc, sd, mpi_type(dtype), recv, rn, rd, mpi_type(dtype),
		                      MPI_COMM_WORLD, &req);
		rc = finish(c, "MPI_Alltoallv", code, &req, err);
	}
	free(v);
	return rc;
}

int nncc_comm_allgather(const nncc_comm_t *c, int dtype, void *buf, const size_t *count,
                        const size_t *displ, nncc_err_t *err)
{
	int *v = malloc(2 * (size_t)c->size * sizeof *v), code, rc = -1;

	if (!v) {
		nncc_err_set(err, "out of memory for the MPI counts of %d ranks", c->size);
		return -1;
	}
	if (!to_int(c, v, count, err) && !to_int(c, v + c->size, displ, err)) {
		MPI_Request req;
		code = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, v, v + c->size,
		                       mpi_type(dtype), MPI_COMM_WORLD, &req);
		rc = finish(c, "MPI_Allgatherv", code, &req, err);
	}
	free(v);
	return rc;
}

int nncc_comm_max(const nncc_comm_t *c, int v, int *out, nncc_err_t *err)
{
	MPI_Request req;
	int code = MPI_Iallreduce(&v, out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &req);
	return finish(c, "MPI_Allreduce", code, &req, err);
}

int nncc_comm_min_size(const nncc_comm_t *c, size_t v, size_t *out, nncc_err_t *err)
{
	MPI_Request req;
	uint64_t in = v, min;
	int code = MPI_Iallreduce(&in, &min, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD, &req);
	if (finish(c, "MPI_Allreduce", code, &req, err))
		return -1;
	*out = (size_t)min;
	return 0;
}

int nncc_comm_shared(const nncc_comm_t *c, size_t bytes, void **p, int *fill, nncc_err_t *err)
{
	MPI_Aint size;
	int code, unit, me, ready;
	char *base;

	*p = NULL;
	*fill = 1;
	/* every rank here first (under --mpi-timeout): the allocation blocks;
	 * every rank of the job, also those alone on their machine */
	if (nncc_comm_max(c, 0, &ready, err))
		return -1;
	if (c->local <= 1) {   /* alone on this machine */
		if (!(*p = malloc(bytes ? bytes : 1)))
			nncc_err_set(err, "out of memory for %zu bytes", bytes);
		return *p ? 0 : -1;
	}
	if (n_shared == SHARED_MAX || bytes > (size_t)PTRDIFF_MAX) {
		nncc_err_set(err, "cannot share %zu bytes among this machine's ranks (block %d of %d)",
		             bytes, n_shared + 1, SHARED_MAX);
		return -1;
	}
	me = c->local_rank;
	code = MPI_Win_allocate_shared(me == 0 ? (MPI_Aint)bytes : 0, 1, MPI_INFO_NULL, node, &base,
	                               &shared[n_shared].win);
	if (code != MPI_SUCCESS)
		return mpi_failed(c, "MPI_Win_allocate_shared", code, err);
	if ((code = MPI_Win_shared_query(shared[n_shared].win, 0, &size, &unit, &base)) ||
	    (code = MPI_Win_lock_all(MPI_MODE_NOCHECK, shared[n_shared].win))) {
		MPI_Win_free(&shared[n_shared].win);
		return mpi_failed(c, "MPI_Win_shared_query", code, err);
	}
	shared[n_shared].bytes = bytes;
	shared[n_shared].writer = me == 0;
	shared[n_shared++].base = base;
	*p = base;
	*fill = me == 0;
	return 0;
}

/* Open MPI's osc_sm_backing_directory, where MPI_Win_allocate_shared puts
 * the file that backs a block, through the MPI tool interface (which sees
 * --mca, the environment and the parameter files alike); /dev/shm, its
 * default on Linux, when the interface does not name it. */
static void backing_dir(char *dir, size_t n)
{
	int provided, num, count;
	MPI_T_cvar_handle h;

	snprintf(dir, n, "/dev/shm");
	if (MPI_T_init_thread(MPI_THREAD_SINGLE, &provided) != MPI_SUCCESS)
		return;
	if (MPI_T_cvar_get_num(&num) != MPI_SUCCESS)
		num = 0;
	for (int i = 0; i < num; i++) {
		char name[128], desc[4], *v;
		int nl = sizeof name, dl = sizeof desc, verbosity, bind, scope;
		MPI_Datatype type;
		MPI_T_enum values;
		if (MPI_T_cvar_get_info(i, name, &nl, &verbosity, &type, &values, desc, &dl, &bind,
		                        &scope) != MPI_SUCCESS ||
		    strcmp(name, "osc_sm_backing_directory") != 0)
			continue;
		if (type == MPI_CHAR && MPI_T_cvar_handle_alloc(i, NULL, &h, &count) == MPI_SUCCESS) {
			if (count > 0 && (v = calloc((size_t)count + 1, 1))) {
				if (MPI_T_cvar_read(h, v) == MPI_SUCCESS && *v)
					snprintf(dir, n, "%s", v);
				free(v);
			}
			MPI_T_cvar_handle_free(&h);
		}
		break;
	}
	MPI_T_finalize();
}

int nncc_comm_shared_room(const nncc_comm_t *c, size_t bytes, size_t *room, char *dir,
                          size_t dirlen, nncc_err_t *err)
{
	struct statvfs st;
	size_t mine = SIZE_MAX;
	char d[1024];

	backing_dir(d, sizeof d);
	if (dirlen)
		snprintf(dir, dirlen, "%s", d);
	/* the machine's first rank asks for all of them (the others' answer
	 * would be the same, but for what another process writes meanwhile);
	 * a little over `bytes`: Open MPI's own header */
	if (c->local > 1 && c->local_rank == 0 && statvfs(d, &st) == 0) {
		uint64_t free_bytes = (uint64_t)st.f_bavail * st.f_frsize;
		if (free_bytes < (uint64_t)bytes + (1u << 20))
			mine = free_bytes < SIZE_MAX ? (size_t)free_bytes : SIZE_MAX - 1;
	}
	return nncc_comm_min_size(c, mine, room, err);
}

/* Maps a reader's pages of a shared block now (a read a page): the first
 * touch of each is a page fault, which in the training loop (samples drawn
 * at random) held up every exchange: W4 on 2 ranks, 40 updates of 1024,
 * took 0.55 s instead of 0.33 s. */
static void prefault(const void *p, size_t bytes)
{
	const volatile char *c = p;
	long page = sysconf(_SC_PAGESIZE);
	size_t step = page > 0 ? (size_t)page : 4096;
	for (size_t i = 0; i < bytes; i += step)
		(void)c[i];
}

int nncc_comm_shared_ready(const nncc_comm_t *c, void *p, nncc_err_t *err)
{
	int i, any;
	for (i = 0; i < n_shared && shared[i].base != p; i++)
		;
	if (i < n_shared)   /* the writer's stores, before the barrier */
		MPI_Win_sync(shared[i].win);
	if (nncc_comm_max(c, 0, &any, err))
		return -1;
	if (i < n_shared && !shared[i].writer) {   /* ... seen by the readers after it */
		MPI_Win_sync(shared[i].win);
		prefault(shared[i].base, shared[i].bytes);
	}
	return 0;
}

void nncc_comm_shared_free(const nncc_comm_t *c, void *p)
{
	(void)c;
	for (int i = 0; i < n_shared; i++)
		if (shared[i].base == p)
			return;   /* nncc_comm_fini's */
	free(p);
}
