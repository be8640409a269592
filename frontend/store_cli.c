#include <time.h>

#include "frontend/cli.h"
#include "frontend/store_cli.h"

int sb_cli_open_store(struct sb_store *s)
{
	struct sb_error *err = NULL;
	if (sb_store_open(s, NULL, &err) < 0) {
		sb_cli_fail(err);
		return -1;
	}
	return 0;
}

int sb_cli_parse_ref(const char *verb, const char *arg, struct sb_reference *ref)
{
	struct sb_error *err = NULL;
	if (sb_reference_parse(arg, ref, &err) == 0)
		return 0;
	fprintf(stderr, "slimbuild %s: %s\n", verb, err->msg);
	sb_error_free(err);
	return -1;
}

void sb_cli_human_size(int64_t bytes, char *out, size_t n)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1000 && u + 1 < SB_ARRAY_SIZE(units)) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(out, n, "%" PRId64 "B", bytes);
	else
		snprintf(out, n, "%.3g%s", v, units[u]);
}

void sb_cli_human_age(const char *rfc3339, char *out, size_t n)
{
	struct tm tm;
	time_t t, now = time(NULL);
	long d;
	memset(&tm, 0, sizeof(tm));
	if (!rfc3339 || !strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(out, n, "N/A");
		return;
	}
	t = timegm(&tm);
	d = (long)(now - t);
	if (d < 60)
		snprintf(out, n, "Less than a minute ago");
	else if (d < 3600)
		snprintf(out, n, "%ld minutes ago", d / 60);
	else if (d < 86400 * 2)
		snprintf(out, n, "%ld hours ago", d / 3600);
	else if (d < 86400 * 14)
		snprintf(out, n, "%ld days ago", d / 86400);
	else if (d < 86400 * 60)
		snprintf(out, n, "%ld weeks ago", d / (86400 * 7));
	else if (d < 86400 * 365 * 2)
		snprintf(out, n, "%ld months ago", d / (86400 * 30));
	else
		snprintf(out, n, "%ld years ago", d / (86400 * 365));
}
