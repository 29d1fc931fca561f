/*
 * arena.c - the compiler's bump allocator.  Every compiler allocation comes
 * from one Arena and is released by a single arena_free(), so there is no
 * per-node free and the compiler is LSan-clean by construction.
 * Blocks are chained; a request larger than a block gets a block of its own.
 * Allocation failure is fatal: the compiler cannot continue without memory.
 */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "nncc.h"

enum { ARENA_BLOCK = 64 * 1024 };
#define ARENA_ALIGN alignof(max_align_t)

typedef struct Block Block;
struct Block {
	Block *next;
	size_t used, cap;          /* bytes of data[] */
	alignas(max_align_t) unsigned char data[];
};

struct Arena {
	Block *head;               /* the block being filled; older ones follow */
};

_Noreturn void nncc_oom(size_t size)
{
	fprintf(stderr, "nncc: out of memory (allocating %zu bytes)\n", size);
	exit(1);
}

/* Owner: the caller (free with arena_free). */
Arena *arena_new(void)
{
	Arena *a = calloc(1, sizeof *a);
	if (!a)
		nncc_oom(sizeof *a);
	return a;
}

void arena_free(Arena *a)
{
	if (!a)
		return;
	for (Block *b = a->head, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	free(a);
}

static Block *block_new(size_t cap)
{
	if (cap > SIZE_MAX - sizeof(Block))
		nncc_oom(cap);
	/* calloc: a block's bytes are handed out once, so they are zero already
	 * (fresh pages from the kernel cost no memset). */
	Block *b = calloc(1, sizeof(Block) + cap);
	if (!b)
		nncc_oom(cap);
	b->next = NULL;
	b->used = 0;
	b->cap = cap;
	return b;
}

/* Owner: the arena.  Zeroed and aligned for any type. */
void *arena_alloc(Arena *a, size_t size)
{
	if (size == 0)
		size = 1;
	if (size > SIZE_MAX - ARENA_ALIGN)
		nncc_oom(size);
	size_t rounded = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	Block *b = a->head;
	if (!b || b->cap - b->used < rounded) {
		if (rounded > ARENA_BLOCK / 4) {
			/* Big request: its own block, linked behind the current one so
			 * the current block keeps being filled. */
			Block *big = block_new(rounded);
			if (b) {
				big->next = b->next;
				b->next = big;
			} else {
				a->head = big;
			}
			big->used = rounded;
			return big->data;
		}
		b = block_new(ARENA_BLOCK);
		b->next = a->head;
		a->head = b;
	}
	void *p = b->data + b->used;
	b->used += rounded;
	return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n)
{
	if (n == SIZE_MAX)
		nncc_oom(n);
	char *p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_strdup(Arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *arena_printf(Arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		NNCC_UNREACHABLE();
	char *p = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}
