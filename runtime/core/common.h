/* The one header every slimbuild source includes after its own system
 * headers: common system headers, allocation helpers, cleanup attributes,
 * then the banned-call list. */
#ifndef SB_COMMON_H
#define SB_COMMON_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SB_UNUSED __attribute__((unused))
#define SB_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Out-of-memory is fatal: these never return NULL. */
void *sb_xmalloc(size_t n);
void *sb_xcalloc(size_t nmemb, size_t size);
void *sb_xrealloc(void *p, size_t n);
/* Grow an array to hold at least `want` elements of `size` bytes; overflow is
 * fatal like out-of-memory. Updates *alloc. */
void *sb_xgrow(void *p, size_t *alloc, size_t want, size_t size);
char *sb_xstrdup(const char *s);
char *sb_xstrndup(const char *s, size_t n);
char *sb_xasprintf(const char *fmt, ...) SB_PRINTF(1, 2);

/* Checked size arithmetic for anything derived from input. Return false on
 * overflow. */
static inline bool sb_add_ok(size_t a, size_t b, size_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}
static inline bool sb_mul_ok(size_t a, size_t b, size_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

/* FNV-1a over n bytes: the hash of the path sets. */
static inline uint64_t sb_hash_fnv1a(const void *data, size_t n)
{
	const unsigned char *s = data;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ull;
	}
	return h;
}

void sb_freep(void *p);
void sb_closep(int *fd);
void sb_fclosep(FILE **f);

#define sb_autofree __attribute__((cleanup(sb_freep)))
#define sb_autoclose __attribute__((cleanup(sb_closep)))
#define sb_autofclose __attribute__((cleanup(sb_fclosep)))

/* Take ownership from an auto-cleaned pointer. */
static inline void *sb_steal_ptr(void *pp)
{
	void **p = (void **)pp;
	void *v = *p;
	*p = NULL;
	return v;
}
#define sb_steal(pp) sb_steal_ptr(pp)

#include "runtime/core/banned.h"

#endif
