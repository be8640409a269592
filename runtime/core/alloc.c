#include <unistd.h>

#include "runtime/core/common.h"

static void sb_die_oom(size_t n)
{
	/* Out-of-memory is not an error path (STYLE.md); there is nothing a
	 * caller could do with it. */
	static const char msg[] = "slimbuild: out of memory\n";
	(void)n;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing left to report with */
	}
	abort();
}

void *sb_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		sb_die_oom(n);
	return p;
}

void *sb_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		sb_die_oom(nmemb * size);
	return p;
}

void *sb_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		sb_die_oom(n);
	return q;
}

void *sb_xgrow(void *p, size_t *alloc, size_t want, size_t size)
{
	size_t n = *alloc, bytes;
	if (want <= n)
		return p;
	if (n < 8)
		n = 8;
	while (n < want) {
		if (!sb_mul_ok(n, 2, &n))
			sb_die_oom(SIZE_MAX);
	}
	if (!sb_mul_ok(n, size, &bytes))
		sb_die_oom(SIZE_MAX);
	p = sb_xrealloc(p, bytes);
	*alloc = n;
	return p;
}

char *sb_xstrdup(const char *s)
{
	return sb_xstrndup(s, strlen(s));
}

char *sb_xstrndup(const char *s, size_t n)
{
	char *p = sb_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *sb_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;
	int r;
	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		sb_die_oom(0);
	return p;
}

void sb_freep(void *p)
{
	free(*(void **)p);
}

void sb_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

void sb_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
