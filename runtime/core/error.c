#include "runtime/core/error.h"

static int error_vset(struct sb_error **err, int code, bool with_errno, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
static int error_vset(struct sb_error **err, int code, bool with_errno, const char *fmt, va_list ap)
{
	struct sb_error *e;
	char *msg = NULL;

	if (!err || *err)
		return -1;
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	if (with_errno && code) {
		char *full = sb_xasprintf("%s: %s", msg, strerror(code));
		free(msg);
		msg = full;
	}
	e = sb_xmalloc(sizeof(*e));
	e->code = code;
	e->msg = msg;
	*err = e;
	return -1;
}

int sb_error_set(struct sb_error **err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_vset(err, code, true, fmt, ap);
	va_end(ap);
	return -1;
}

int sb_error_setx(struct sb_error **err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_vset(err, code, false, fmt, ap);
	va_end(ap);
	return -1;
}

int sb_error_wrap(struct sb_error **err, const char *fmt, ...)
{
	va_list ap;
	char *ctx = NULL, *full;

	if (!err || !*err)
		return -1;
	va_start(ap, fmt);
	if (vasprintf(&ctx, fmt, ap) < 0)
		abort();
	va_end(ap);
	full = sb_xasprintf("%s: %s", ctx, (*err)->msg);
	free(ctx);
	free((*err)->msg);
	(*err)->msg = full;
	return -1;
}

void sb_error_free(struct sb_error *e)
{
	if (!e)
		return;
	free(e->msg);
	free(e);
}

void sb_error_freep(struct sb_error **e)
{
	sb_error_free(*e);
	*e = NULL;
}
