/* A bump allocator for data with one lifetime, such as a parsed Dockerfile:
 * many small allocations, freed together by sb_arena_release(). */
#ifndef SB_ARENA_H
#define SB_ARENA_H

#include "runtime/core/common.h"

struct sb_arena_chunk;
struct sb_arena {
	struct sb_arena_chunk *head;
	size_t used;  /* bytes used in head */
	size_t total; /* bytes handed out, for statistics */
};

void sb_arena_init(struct sb_arena *a);
/* Free every allocation; the arena can be used again. */
void sb_arena_release(struct sb_arena *a);
/* Zeroed, 16-byte aligned memory; never NULL (out of memory is fatal). */
void *sb_arena_alloc(struct sb_arena *a, size_t n);
/* Zeroed array of n elements, overflow-checked. */
void *sb_arena_calloc(struct sb_arena *a, size_t n, size_t size);
/* Copy s[0..n) and NUL-terminate it. */
char *sb_arena_strndup(struct sb_arena *a, const char *s, size_t n);

#endif
