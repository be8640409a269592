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
#include <unistd.h>

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
/* The Debian minbase rootfs the test suite extracts once per machine
 * (tests/unit/test_sandbox.c makes it; CI runs that test first). */
#define SB_TEST_BASE_ROOTFS "/var/cache/slimbuild/bookworm-minbase.d"

/* Skip the running test unless cond holds. */
#define SB_TEST_NEED(cond)          \
	do {                        \
		if (!(cond))        \
			skip();     \
	} while (0)

/* A scratch directory (/tmp/PREFIX.XXXXXX) into dir, and DIR/lower
 * (the test's own top layer) into lower when it is not NULL. */
static inline void sb_test_scratch(char *dir, size_t n, const char *prefix, char *lower, size_t nlower)
{
	snprintf(dir, n, "/tmp/%s.XXXXXX", prefix);
	assert_non_null(mkdtemp(dir));
	if (lower) {
		snprintf(lower, nlower, "%s/lower", dir);
		assert_int_equal(mkdir(lower, 0755), 0);
	}
}
#endif
