#include "runtime/core/strbuf.h"

char sb_strbuf_empty[1];

void sb_strbuf_init(struct sb_strbuf *sb, size_t max)
{
	sb->buf = sb_strbuf_empty;
	sb->len = 0;
	sb->alloc = 0;
	sb->max = max;
}

void sb_strbuf_release(struct sb_strbuf *sb)
{
	if (sb->alloc)
		free(sb->buf);
	sb_strbuf_init(sb, sb->max);
}

char *sb_strbuf_detach(struct sb_strbuf *sb, size_t *len)
{
	char *p;
	if (len)
		*len = sb->len;
	p = sb->alloc ? sb->buf : sb_xstrdup("");
	sb_strbuf_init(sb, sb->max);
	return p;
}

void sb_strbuf_reset(struct sb_strbuf *sb)
{
	sb_strbuf_truncate(sb, 0);
}

void sb_strbuf_truncate(struct sb_strbuf *sb, size_t len)
{
	if (len >= sb->len)
		return;
	sb->len = len;
	sb->buf[len] = '\0';
}

int sb_strbuf_grow(struct sb_strbuf *sb, size_t n)
{
	size_t want;
	if (!sb_add_ok(sb->len, n, &want) || !sb_add_ok(want, 1, &want) ||
	    (sb->max && want - 1 > sb->max)) {
		errno = E2BIG;
		return -1;
	}
	if (want <= sb->alloc)
		return 0;
	if (!sb->alloc) {
		size_t alloc = 0;
		sb->buf = sb_xgrow(NULL, &alloc, want, 1);
		sb->buf[0] = '\0';
		sb->alloc = alloc;
		return 0;
	}
	sb->buf = sb_xgrow(sb->buf, &sb->alloc, want, 1);
	return 0;
}

int sb_strbuf_add(struct sb_strbuf *sb, const void *data, size_t n)
{
	if (sb_strbuf_grow(sb, n) < 0)
		return -1;
	if (n)
		memcpy(sb->buf + sb->len, data, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
	return 0;
}

int sb_strbuf_adds(struct sb_strbuf *sb, const char *s)
{
	return sb_strbuf_add(sb, s, strlen(s));
}

int sb_strbuf_addc(struct sb_strbuf *sb, char c)
{
	return sb_strbuf_add(sb, &c, 1);
}

int sb_strbuf_addf(struct sb_strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;
	char tmp[256];

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(tmp))
		return sb_strbuf_add(sb, tmp, (size_t)n);
	if (sb_strbuf_grow(sb, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
	return 0;
}
