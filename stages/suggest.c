/* "(did you mean X?)" hints, as BuildKit's util/suggest: the closest option
 * within a Levenshtein distance of 2, first found on a tie; no hint when
 * the value is itself an option. */
#include <ctype.h>

#include "stages/stages.h"

static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	sb_autofree size_t *row = sb_xcalloc(lb + 1, sizeof(size_t));

	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

static char *dup_case(const char *s, int (*conv)(int))
{
	char *d = sb_xstrdup(s);
	for (char *p = d; *p; p++)
		*p = (char)conv((unsigned char)*p);
	return d;
}

int sb_suggest_wrap(struct sb_error **err, const char *val, const char *const *options, size_t n,
		    bool case_sensitive)
{
	sb_autofree char *v = case_sensitive ? sb_xstrdup(val) : dup_case(val, tolower);
	sb_autofree char *match = NULL;
	size_t mindist = 3;

	for (size_t i = 0; i < n; i++) {
		sb_autofree char *o = case_sensitive ? sb_xstrdup(options[i]) : dup_case(options[i], tolower);
		size_t d;
		if (strcmp(v, o) == 0)
			return -1;
		d = distance(v, o);
		if (d < mindist) {
			free(match);
			match = sb_steal(&o);
			mindist = d;
		}
	}
	if (!match || !*err)
		return -1;
	if (!case_sensitive) {
		/* matchCase: follow the value when it is all one case */
		sb_autofree char *lower = dup_case(val, tolower), *upper = dup_case(val, toupper);
		if (strcmp(val, upper) == 0 && strcmp(val, lower) != 0) {
			char *m = dup_case(match, toupper);
			free(match);
			match = m;
		}
	}
	{
		char *full = sb_xasprintf("%s (did you mean %s?)", (*err)->msg, match);
		free((*err)->msg);
		(*err)->msg = full;
	}
	return 0;
}
