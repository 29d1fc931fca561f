/*
 * failalloc.c - allocation-failure injection for the fault tests (the way
 * SQLite tests itself): linked into a test build of nncc or of a trainer
 * with
 *
 *     -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup
 *     -Wl,--wrap=pthread_create
 *
 * so that every allocation nncc's own code makes (compiler, runtime,
 * generated trainer) comes here first, and every thread it starts.
 * Environment:
 *
 *     NNCC_FAIL_ALLOC=k        the k-th allocation (1-based) returns NULL with
 *                              errno ENOMEM, and so does every later one
 *                              ("persistent" failure: code that retries or
 *                              falls back must still fail cleanly)
 *     NNCC_FAIL_ALLOC_COUNT=F  at exit, write the number of allocations made
 *                              to F (how far a test has to walk k)
 *     NNCC_FAIL_THREAD=1       every pthread_create fails with EAGAIN (a
 *                              thread limit: ulimit -u, RLIMIT_NPROC)
 *
 * Allocations inside libc, libyaml and zlib do not come through here: the
 * wrap renames only the calls in the objects linked with the flag.  Not part
 * of any shipped program.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
int __real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*f)(void *), void *arg);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*f)(void *), void *arg);

/* Atomic: a trainer's worker threads may allocate too.  fail_at is read
 * once, on the first allocation (made before any thread starts). */
static atomic_ulong count;
static unsigned long fail_at;
static int armed;

static void write_count(void)
{
	const char *path = getenv("NNCC_FAIL_ALLOC_COUNT");
	FILE *f = path ? fopen(path, "w") : NULL;
	if (f) {
		fprintf(f, "%lu\n", (unsigned long)atomic_load(&count));
		fclose(f);
	}
}

/* True when this allocation is to fail. */
static int fail_now(void)
{
	if (!armed) {
		armed = 1;
		const char *k = getenv("NNCC_FAIL_ALLOC");
		fail_at = k ? strtoul(k, NULL, 10) : 0;
		if (getenv("NNCC_FAIL_ALLOC_COUNT"))
			atexit(write_count);
	}
	unsigned long k = atomic_fetch_add(&count, 1) + 1;
	if (fail_at && k >= fail_at) {
		errno = ENOMEM;
		return 1;
	}
	return 0;
}

void *__wrap_malloc(size_t size)
{
	return fail_now() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	return fail_now() ? NULL : __real_realloc(p, size);
}

char *__wrap_strdup(const char *s)
{
	return fail_now() ? NULL : __real_strdup(s);
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*f)(void *), void *arg)
{
	const char *v = getenv("NNCC_FAIL_THREAD");
	if (v && strcmp(v, "1") == 0)
		return EAGAIN;
	return __real_pthread_create(t, a, f, arg);
}
