#include "runtime/core/arena.h"

struct sb_arena_chunk {
	struct sb_arena_chunk *prev;
	size_t size;
	_Alignas(16) unsigned char data[];
};

#define SB_ARENA_CHUNK (64 * 1024)

void sb_arena_init(struct sb_arena *a)
{
	a->head = NULL;
	a->used = 0;
	a->total = 0;
}

void sb_arena_release(struct sb_arena *a)
{
	struct sb_arena_chunk *c = a->head;
	while (c) {
		struct sb_arena_chunk *prev = c->prev;
		free(c);
		c = prev;
	}
	sb_arena_init(a);
}

void *sb_arena_alloc(struct sb_arena *a, size_t n)
{
	size_t need, size;
	void *p;

	if (!sb_add_ok(n, 15, &need))
		abort();
	need &= ~(size_t)15;
	if (!need)
		need = 16;
	if (!a->head || a->head->size - a->used < need) {
		struct sb_arena_chunk *c;
		size = need > SB_ARENA_CHUNK / 4 ? need : SB_ARENA_CHUNK;
		if (!sb_add_ok(size, sizeof(*c), &size))
			abort();
		c = sb_xmalloc(size);
		c->size = size - sizeof(*c);
		if (need > SB_ARENA_CHUNK / 4 && a->head) {
			/* A big block gets a chunk of its own behind the current
			 * one, so the free space of the current one is kept. */
			c->prev = a->head->prev;
			a->head->prev = c;
			memset(c->data, 0, need);
			a->total += need;
			return c->data;
		}
		c->prev = a->head;
		a->head = c;
		a->used = 0;
	}
	p = a->head->data + a->used;
	a->used += need;
	a->total += need;
	memset(p, 0, need);
	return p;
}

void *sb_arena_calloc(struct sb_arena *a, size_t n, size_t size)
{
	size_t bytes;
	if (!sb_mul_ok(n, size, &bytes))
		abort();
	return sb_arena_alloc(a, bytes);
}

char *sb_arena_strndup(struct sb_arena *a, const char *s, size_t n)
{
	size_t bytes;
	char *p;
	if (!sb_add_ok(n, 1, &bytes))
		abort();
	p = sb_arena_alloc(a, bytes);
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}
