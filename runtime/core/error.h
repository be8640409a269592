/* The error contract of libslimbuild, written once.
 *
 * A function that can fail takes `struct sb_error **err` as its last
 * argument, returns a negative int (or NULL) on failure and sets *err only
 * then. The caller owns the error and frees it with sb_error_free().
 * Capture errno at the failure site:
 *
 *	if (fd < 0)
 *		return sb_error_set(err, errno, "open %s", path);
 *
 * and add context on the way up with sb_error_wrap():
 *
 *	if (unpack(..., err) < 0)
 *		return sb_error_wrap(err, "unpack layer %s", digest);
 *
 * which turns "open etc/passwd: No such file" into
 * "unpack layer sha256:...: open etc/passwd: No such file".
 */
#ifndef SB_ERROR_H
#define SB_ERROR_H

#include "runtime/core/common.h"

struct sb_error {
	int code;  /* an errno value, or 0 when none applies */
	char *msg; /* the whole message, context first */
};

/* Set *err (when err is non-NULL and *err is NULL) to a new error. When code
 * is non-zero, ": strerror(code)" is appended. Returns -1. */
int sb_error_set(struct sb_error **err, int code, const char *fmt, ...) SB_PRINTF(3, 4);

/* Like sb_error_set() without the strerror suffix: for messages that must
 * read exactly as given (a parser's "file:line: message"). Returns -1. */
int sb_error_setx(struct sb_error **err, int code, const char *fmt, ...) SB_PRINTF(3, 4);

/* Prefix the existing error's message with "context: ". Returns -1. */
int sb_error_wrap(struct sb_error **err, const char *fmt, ...) SB_PRINTF(2, 3);

void sb_error_free(struct sb_error *e);

/* Free *e and set it to NULL; for cleanup attributes. */
void sb_error_freep(struct sb_error **e);
#define sb_autoerror __attribute__((cleanup(sb_error_freep)))

#endif
