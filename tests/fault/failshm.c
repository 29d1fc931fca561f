/*
 * failshm.c - failure injection for the MPI tests of ranks sharing each
 * step (tests/e2e/mpi.sh): linked into an MPI trainer with
 *
 *     -Wl,--wrap=shm_open,--wrap=posix_fallocate,--wrap=mmap,--wrap=fread
 *
 * so that the calls the runtime makes to share a step among the ranks of
 * one machine (runtime/share.c), and its reads of the data (runtime/idx.c,
 * CSV too), come here first.  Environment:
 *
 *     NNCC_FAIL_SHM_OPEN=1     shm_open fails with EACCES (a /dev/shm the
 *                              user may not write)
 *     NNCC_FAIL_FALLOCATE=1    posix_fallocate fails with ENOSPC (a full
 *                              /dev/shm: a container's default is 64 MB)
 *     NNCC_FAIL_MMAP=k         the k-th mmap (1-based) fails with ENOMEM, and
 *                              so does every later one
 *     NNCC_FAIL_MMAP_COUNT=F   at exit, write the number of mmap calls to F
 *     NNCC_FAIL_FREAD=k        the k-th fread (1-based) and every later one
 *                              read nothing, as at the end of the file (a
 *                              file cut short under a streaming rank)
 *     NNCC_FAIL_FREAD_COUNT=F  at exit, write the number of fread calls to F
 *     NNCC_FAIL_RANK=r         only in the rank r (Open MPI's
 *                              OMPI_COMM_WORLD_RANK); every process without it
 *
 * Calls inside libc and Open MPI do not come through here: the wrap renames
 * only the calls in the objects linked with the flag.  Not part of any
 * shipped program.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>

int __real_shm_open(const char *name, int flags, mode_t mode);
int __real_posix_fallocate(int fd, off_t off, off_t len);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
size_t __real_fread(void *p, size_t size, size_t n, FILE *f);

int __wrap_shm_open(const char *name, int flags, mode_t mode);
int __wrap_posix_fallocate(int fd, off_t off, off_t len);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
size_t __wrap_fread(void *p, size_t size, size_t n, FILE *f);

/* The calls so far; the trainer maps and reads from its main thread only. */
static unsigned long mmaps, freads;

/* True in the process the injection is for (NNCC_FAIL_RANK). */
static int this_rank(void)
{
	const char *want = getenv("NNCC_FAIL_RANK"), *rank = getenv("OMPI_COMM_WORLD_RANK");
	return !want || (rank && strcmp(want, rank) == 0);
}

static int set(const char *name)
{
	const char *v = getenv(name);
	return v && strcmp(v, "1") == 0 && this_rank();
}

static void write_count(const char *name, unsigned long n)
{
	const char *path = getenv(name);
	FILE *f = path && this_rank() ? fopen(path, "w") : NULL;
	if (f) {
		fprintf(f, "%lu\n", n);
		fclose(f);
	}
}

static void write_counts(void)
{
	write_count("NNCC_FAIL_MMAP_COUNT", mmaps);
	write_count("NNCC_FAIL_FREAD_COUNT", freads);
}

/* True when call n of a kind is to fail: the value of `name` is k and n >= k. */
static int fail_now(const char *name, unsigned long n)
{
	static int armed;
	const char *k = getenv(name);
	const unsigned long at = k ? strtoul(k, NULL, 10) : 0;
	if (!armed) {
		armed = 1;
		atexit(write_counts);
	}
	return at && n >= at && this_rank();
}

int __wrap_shm_open(const char *name, int flags, mode_t mode)
{
	if (set("NNCC_FAIL_SHM_OPEN")) {
		errno = EACCES;
		return -1;
	}
	return __real_shm_open(name, flags, mode);
}

int __wrap_posix_fallocate(int fd, off_t off, off_t len)
{
	if (set("NNCC_FAIL_FALLOCATE"))
		return ENOSPC;
	return __real_posix_fallocate(fd, off, len);
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (fail_now("NNCC_FAIL_MMAP", ++mmaps)) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return __real_mmap(addr, len, prot, flags, fd, off);
}

size_t __wrap_fread(void *p, size_t size, size_t n, FILE *f)
{
	if (fail_now("NNCC_FAIL_FREAD", ++freads))
		return 0;
	return __real_fread(p, size, n, f);
}
