/*
 * comm.c - the training run's processes when there is only one: the
 * default libnncc.a's, with no MPI.  Rank 0 of 1; the exchanges copy or do
 * nothing.  runtime/mpi.c is the Open MPI version of the same functions
 * (libnncc_mpi.a, make MPI=1); driver.h documents them.
 */
#include <stdlib.h>
#include <string.h>

#include "driver.h"

int nncc_comm_init(nncc_comm_t *c, nncc_err_t *err)
{
	(void)err;
	c->rank = 0;
	c->size = 1;
	c->local = 1;
	c->local_rank = 0;
	c->timeout = 0;
	c->default_chunks = 0;   /* one chain over the batch, as always */
	return 0;
}

void nncc_comm_fini(const nncc_comm_t *c, int status)
{
	(void)c;
	(void)status;
}

int nncc_comm_alltoall(const nncc_comm_t *c, int dtype, const void *send, const size_t *scount,
                       const size_t *sdispl, void *recv, const size_t *rcount,
                       const size_t *rdispl, nncc_err_t *err)
{
	size_t rs = dtype == NNCC_F64 ? sizeof(double) : dtype == NNCC_BYTES ? 1 : sizeof(float);
	(void)c;
	(void)rcount;
	(void)err;
	memmove((char *)recv + rdispl[0] * rs, (const char *)send + sdispl[0] * rs, scount[0] * rs);
	return 0;
}

int nncc_comm_allgather(const nncc_comm_t *c, int dtype, void *buf, const size_t *count,
                        const size_t *displ, nncc_err_t *err)
{
	(void)c, (void)dtype, (void)buf, (void)count, (void)displ, (void)err;
	return 0;
}

int nncc_comm_max(const nncc_comm_t *c, int v, int *out, nncc_err_t *err)
{
	(void)c;
	(void)err;
	*out = v;
	return 0;
}

int nncc_comm_min_size(const nncc_comm_t *c, size_t v, size_t *out, nncc_err_t *err)
{
	(void)c;
	(void)err;
	*out = v;
	return 0;
}

int nncc_comm_shared(const nncc_comm_t *c, size_t bytes, void **p, int *fill, nncc_err_t *err)
{
	(void)c;
	*fill = 1;
	if (!(*p = malloc(bytes ? bytes : 1)))
		nncc_err_set(err, "out of memory for %zu bytes", bytes);
	return *p ? 0 : -1;
}

int nncc_comm_shared_room(const nncc_comm_t *c, size_t bytes, size_t *room, char *dir,
                          size_t dirlen, nncc_err_t *err)
{
	(void)c, (void)bytes, (void)err;
	*room = SIZE_MAX;
	if (dirlen)
		*dir = 0;
	return 0;
}

int nncc_comm_shared_ready(const nncc_comm_t *c, void *p, nncc_err_t *err)
{
	(void)c, (void)p, (void)err;
	return 0;
}

void nncc_comm_shared_free(const nncc_comm_t *c, void *p)
{
	(void)c;
	free(p);
}
