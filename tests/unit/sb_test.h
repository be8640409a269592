/* Common includes for cmocka unit tests: cmocka needs these first. */
#ifndef SB_TEST_H
#define SB_TEST_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Helpers several test programs share. */
static inline int sb_test_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

/* rm -rf without following symlinks. */
static inline void sb_test_rm_tree(const char *p)
{
	nftw(p, sb_test_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* system() of a formatted command; its status. */
static inline int sb_test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int sb_test_sh(const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	int rc;
	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) >= 0);
	va_end(ap);
	rc = system(cmd);
	free(cmd);
	return rc;
}
#endif
