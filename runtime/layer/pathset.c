/* A hash set of paths that also knows which directories lie above its
 * members: whiteouts ask both "did this layer write X?" and "did it write
 * anything below X?". Open addressing, FNV-1a. */
#include "runtime/layer/internal.h"

enum { MEMBER = 1, ANCESTOR = 2 };

void sb_pathset_init(struct sb_pathset *s)
{
	memset(s, 0, sizeof(*s));
}

void sb_pathset_release(struct sb_pathset *s)
{
	for (size_t i = 0; i < s->nslots; i++)
		free(s->slots[i]);
	free(s->slots);
	free(s->kind);
	memset(s, 0, sizeof(*s));
}

static size_t find(const struct sb_pathset *s, const char *p, size_t n)
{
	size_t mask = s->nslots - 1;
	size_t i = (size_t)sb_hash_fnv1a(p, n) & mask;
	while (s->slots[i] && !(strlen(s->slots[i]) == n && !memcmp(s->slots[i], p, n)))
		i = (i + 1) & mask;
	return i;
}

static void grow(struct sb_pathset *s)
{
	struct sb_pathset old = *s;
	size_t n;

	if (!sb_mul_ok(old.nslots ? old.nslots : 32, 2, &n))
		abort(); /* as out of memory */
	s->nslots = n;
	s->used = 0;
	s->slots = sb_xcalloc(n, sizeof(*s->slots));
	s->kind = sb_xcalloc(n, 1);
	for (size_t i = 0; i < old.nslots; i++) {
		if (!old.slots[i])
			continue;
		size_t j = find(s, old.slots[i], strlen(old.slots[i]));
		s->slots[j] = old.slots[i];
		s->kind[j] = old.kind[i];
		s->used++;
	}
	free(old.slots);
	free(old.kind);
}

/* Mark p[0..n) with bit; returns the previous bits. */
static int mark(struct sb_pathset *s, const char *p, size_t n, int bit)
{
	size_t i;
	int was;

	if ((s->used + 1) * 4 >= s->nslots * 3)
		grow(s);
	i = find(s, p, n);
	if (!s->slots[i]) {
		s->slots[i] = sb_xstrndup(p, n);
		s->used++;
	}
	was = s->kind[i];
	s->kind[i] |= (unsigned char)bit;
	return was;
}

void sb_pathset_add(struct sb_pathset *s, const char *path)
{
	size_t n = strlen(path);
	mark(s, path, n, MEMBER);
	/* Ancestors, nearest first; once one is marked, so are its own. */
	for (;;) {
		const char *slash = n ? memrchr(path, '/', n) : NULL;
		n = slash ? (size_t)(slash - path) : 0;
		if (mark(s, path, n, ANCESTOR) & ANCESTOR)
			return;
		if (!n)
			return;
	}
}

static int kind_of(const struct sb_pathset *s, const char *path)
{
	size_t i;
	if (!s->nslots)
		return 0;
	i = find(s, path, strlen(path));
	return s->slots[i] ? s->kind[i] : 0;
}

bool sb_pathset_has(const struct sb_pathset *s, const char *path)
{
	return kind_of(s, path) & MEMBER;
}

bool sb_pathset_has_below(const struct sb_pathset *s, const char *path)
{
	return kind_of(s, path) & ANCESTOR;
}
