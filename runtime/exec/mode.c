/* --chmod: octal, or chmod(1)'s symbolic clauses as BuildKit takes them
 * (dchapes/mode, a port of BSD setmode with a zero umask): "who" letters
 * u g o a (none means a), then one or more operators + - = each followed
 * by permissions r w x X s t or a single u g o to copy from. */
#include <sys/stat.h>

#include "runtime/exec/match.h"

static bool valid_symbolic(const char *s)
{
	for (;;) {
		while (*s && strchr("ugoa", *s))
			s++;
		if (!*s || !strchr("+-=", *s))
			return false;
		while (*s && strchr("+-=", *s)) {
			s++;
			if (*s && strchr("ugo", *s)) {
				s++;
			} else {
				while (*s && strchr("rwxXst", *s))
					s++;
			}
		}
		if (!*s)
			return true;
		if (*s != ',')
			return false;
		s++;
	}
}

int sb_chmod_parse(const char *s, struct sb_chmod *out, struct sb_error **err)
{
	char *end = NULL;
	unsigned long v;

	memset(out, 0, sizeof(*out));
	if (!s || !*s)
		return sb_error_setx(err, EINVAL, "invalid chmod parameter: ''");
	if (*s >= '0' && *s <= '9') {
		errno = 0;
		v = strtoul(s, &end, 8);
		if (errno || *end || v > 07777)
			return sb_error_setx(err, EINVAL,
					     "invalid chmod parameter: '%s'. it should be octal string and between 0 and 07777",
					     s);
		out->octal = true;
		out->mode = (mode_t)v;
		return 0;
	}
	if (!valid_symbolic(s))
		return sb_error_setx(err, EINVAL, "invalid chmod parameter: '%s'", s);
	out->sym = sb_xstrdup(s);
	return 0;
}

static mode_t who_mask(unsigned who)
{
	mode_t m = 0;
	if (who & 1)
		m |= S_IRWXU | S_ISUID;
	if (who & 2)
		m |= S_IRWXG | S_ISGID;
	if (who & 4)
		m |= S_IRWXO | S_ISVTX;
	return m;
}

mode_t sb_chmod_apply(const struct sb_chmod *c, mode_t old, bool is_dir)
{
	mode_t mode = old & 07777;
	const char *s;

	if (c->octal)
		return c->mode;
	s = c->sym;
	while (*s) {
		unsigned who = 0;
		for (; *s && strchr("ugoa", *s); s++)
			who |= *s == 'u' ? 1 : *s == 'g' ? 2 : *s == 'o' ? 4 : 7;
		if (!who)
			who = 7;
		while (*s && strchr("+-=", *s)) {
			char op = *s++;
			mode_t perm = 0, mask = who_mask(who);
			if (*s && strchr("ugo", *s)) {
				unsigned shift = *s == 'u' ? 6 : *s == 'g' ? 3 : 0;
				mode_t bits = (mode >> shift) & 7;
				perm = (bits << 6) | (bits << 3) | bits;
				s++;
			} else {
				for (; *s && strchr("rwxXst", *s); s++) {
					switch (*s) {
					case 'r': perm |= 0444; break;
					case 'w': perm |= 0222; break;
					case 'x': perm |= 0111; break;
					case 'X':
						if (is_dir || (mode & 0111))
							perm |= 0111;
						break;
					case 's': perm |= S_ISUID | S_ISGID; break;
					case 't': perm |= S_ISVTX; break;
					}
				}
			}
			perm &= mask;
			if (op == '+')
				mode |= perm;
			else if (op == '-')
				mode &= ~perm;
			else
				mode = (mode & ~mask) | perm;
		}
		if (*s == ',')
			s++;
	}
	return mode;
}

void sb_chmod_release(struct sb_chmod *c)
{
	free(c->sym);
	c->sym = NULL;
}
