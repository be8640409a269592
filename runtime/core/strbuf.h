/* The one string builder. Its buffer is never NULL and always
 * NUL-terminated, even right after sb_strbuf_init(). A non-zero max bounds
 * what may be built from untrusted input: an append past it fails with
 * E2BIG and leaves the buffer as it was. */
#ifndef SB_STRBUF_H
#define SB_STRBUF_H

#include "runtime/core/common.h"

struct sb_strbuf {
	char *buf;
	size_t len;
	size_t alloc; /* 0 while buf points at the shared empty string */
	size_t max;   /* 0: unbounded */
};

#define SB_STRBUF_INIT { sb_strbuf_empty, 0, 0, 0 }
extern char sb_strbuf_empty[1];

void sb_strbuf_init(struct sb_strbuf *sb, size_t max);
/* Free the contents; the struct can be used again. */
void sb_strbuf_release(struct sb_strbuf *sb);
/* Take the string (caller frees); the builder is left empty. */
char *sb_strbuf_detach(struct sb_strbuf *sb, size_t *len);
void sb_strbuf_reset(struct sb_strbuf *sb);
/* Appends return 0, or -1 with errno E2BIG when max would be passed. */
int sb_strbuf_add(struct sb_strbuf *sb, const void *data, size_t n);
int sb_strbuf_adds(struct sb_strbuf *sb, const char *s);
int sb_strbuf_addc(struct sb_strbuf *sb, char c);
int sb_strbuf_addf(struct sb_strbuf *sb, const char *fmt, ...) SB_PRINTF(2, 3);
/* Make room for n more bytes. */
int sb_strbuf_grow(struct sb_strbuf *sb, size_t n);
void sb_strbuf_truncate(struct sb_strbuf *sb, size_t len);

#endif
