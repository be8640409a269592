/* Sandbox helpers several unit tests share (after sb_test.h). */
#ifndef SB_TEST_SANDBOX_H
#define SB_TEST_SANDBOX_H

#include "runtime/sandbox/sandbox.h"
#include "tests/unit/sb_test.h"

/* A spec over a fresh overlay of lower over base: new upperN, workN and
 * mergedN directories under tmp (N counts the calls). Returns the upper
 * directory; the strings stay valid until the next call. */
static inline const char *sb_test_fresh_spec(struct sb_sandbox_spec *spec, const char *tmp, const char *lower,
					     const char *base, unsigned timeout)
{
	static const char *lowers[3];
	static char upper[160], work[160], merged[160];
	static int n;
	n++;
	snprintf(upper, sizeof(upper), "%s/upper%d", tmp, n);
	snprintf(work, sizeof(work), "%s/work%d", tmp, n);
	snprintf(merged, sizeof(merged), "%s/merged%d", tmp, n);
	assert_int_equal(mkdir(upper, 0755), 0);
	assert_int_equal(mkdir(work, 0755), 0);
	assert_int_equal(mkdir(merged, 0755), 0);
	lowers[0] = lower;
	lowers[1] = base;
	lowers[2] = NULL;
	sb_sandbox_spec_init(spec);
	spec->rootfs = merged;
	spec->lower_dirs = lowers;
	spec->upper_dir = upper;
	spec->work_dir = work;
	spec->timeout = timeout;
	return upper;
}

#endif
