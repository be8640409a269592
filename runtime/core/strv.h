/* A growable vector of owned strings, always NULL-terminated (argv-like)
 * once something was pushed. */
#ifndef SB_CORE_STRV_H
#define SB_CORE_STRV_H

#include <stddef.h>

struct sb_strv {
	char **v;     /* NULL until the first push */
	size_t n, alloc;
};
#define SB_STRV_INIT { NULL, 0, 0 }

/* Append s, which the vector then owns. */
void sb_strv_push(struct sb_strv *sv, char *s);
/* Free every string and the vector; sv can be used again. */
void sb_strv_release(struct sb_strv *sv);

/* Free a vector of n strings and the vector. */
void sb_strv_free(char **v, size_t n);

#endif
