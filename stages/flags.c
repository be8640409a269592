/* Instruction flags, as BuildKit's instructions/bflag.go reads them. */
#include <strings.h>

#include "stages/stages.h"

static struct sb_flag *find_flag(struct sb_flag *flags, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(flags[i].name) == len && memcmp(flags[i].name, name, len) == 0)
			return &flags[i];
	return NULL;
}

int sb_flags_parse(struct sb_arena *arena, const struct sb_str *args, size_t nargs,
		   struct sb_flag *flags, size_t nflags, struct sb_error **err)
{
	for (size_t i = 0; i < nflags; i++) {
		if (flags[i].type == SB_FLAG_BOOL && !flags[i].value)
			flags[i].value = "false";
		if (flags[i].type == SB_FLAG_STRING && !flags[i].value)
			flags[i].value = "";
	}
	for (size_t i = 0; i < nargs; i++) {
		const char *arg = args[i].ptr;
		size_t len = args[i].len;
		const char *eq, *value = "";
		size_t nlen;
		struct sb_flag *f;

		if (len < 2 || arg[0] != '-' || arg[1] != '-')
			return sb_error_setx(err, EINVAL, "arg should start with -- : %.*s", (int)len, arg);
		/* BuildKit stops at a bare "--": what follows is not read at all */
		if (len == 2)
			return 0;
		arg += 2;
		len -= 2;
		eq = memchr(arg, '=', len);
		nlen = eq ? (size_t)(eq - arg) : len;
		if (eq)
			value = sb_arena_strndup(arena, eq + 1, len - nlen - 1);
		f = find_flag(flags, nflags, arg, nlen);
		/* BuildKit's current message keeps the dashes (parse_test.go:
		 * "MAINTAINER --boo joe@example.com" fails with
		 * "unknown flag: --boo"); the other messages are its bflag.go's,
		 * lower-cased as Go error strings now are. */
		if (!f)
			return sb_error_setx(err, EINVAL, "unknown flag: --%.*s", (int)nlen, arg);
		if (f->used && f->type != SB_FLAG_STRINGS)
			return sb_error_setx(err, EINVAL, "duplicate flag specified: %.*s", (int)nlen, arg);
		f->used = true;
		switch (f->type) {
		case SB_FLAG_BOOL:
			if (eq && !*value)
				return sb_error_setx(err, EINVAL, "missing a value on flag: %s", f->name);
			if (!*value || strcasecmp(value, "true") == 0)
				f->value = "true";
			else if (strcasecmp(value, "false") == 0)
				f->value = "false";
			else
				return sb_error_setx(err, EINVAL, "expecting boolean value for flag %s, not: %s",
						     f->name, value);
			break;
		case SB_FLAG_STRING:
			if (!eq)
				return sb_error_setx(err, EINVAL, "missing a value on flag: %s", f->name);
			f->value = value;
			break;
		case SB_FLAG_STRINGS: {
			const char **nv;
			if (!eq)
				return sb_error_setx(err, EINVAL, "missing a value on flag: %s", f->name);
			nv = sb_arena_calloc(arena, f->nvalues + 1, sizeof(*nv));
			if (f->nvalues)
				memcpy(nv, f->values, f->nvalues * sizeof(*nv));
			nv[f->nvalues++] = value;
			f->values = nv;
			break;
		}
		}
	}
	return 0;
}
