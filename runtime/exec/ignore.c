/* Go's filepath.Match and moby/patternmatcher, byte for byte where it
 * matters: COPY wildcards, --exclude and .dockerignore all use them, and a
 * file one builder copies and another skips is a different image.
 *
 * patternmatcher compiles each pattern to a Go regexp (a star is
 * "[^/]*", "?" is "[^/]", a double star is "(.*\/)?", or ".*" at the end)
 * unless it is an exact path, a prefix ("foo/" and a double star) or a
 * suffix (a double star, then literal text): those
 * three are compared as strings, which is not always what the regexp
 * would say (a double star then "foo" matches "barfoo"). Both paths are kept here. */
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/core/utf8.h"
#include "runtime/exec/match.h"

/* An ignore file past this is not a list of patterns. */
#define IGNORE_FILE_MAX (4u << 20)

/* ---- Go's filepath.Match ---- */

static size_t rune_at(const char *s, size_t n, int32_t *r)
{
	size_t w;
	*r = sb_utf8_decode(s, n, &w);
	return w;
}

/* Go's getEsc: one class bound, escapes resolved. -1: bad pattern. */
static int get_esc(const char **chunk, const char *end, int32_t *r)
{
	const char *c = *chunk;
	size_t w;
	if (c >= end || *c == '-' || *c == ']')
		return -1;
	if (*c == '\\') {
		c++;
		if (c >= end)
			return -1;
	}
	w = rune_at(c, (size_t)(end - c), r);
	if (*r == SB_RUNE_ERROR && w == 1)
		return -1;
	c += w;
	if (c >= end)
		return -1;
	*chunk = c;
	return 0;
}

/* Go's scanChunk. */
static void scan_chunk(const char **pattern, bool *star, const char **chunk, const char **chunk_end)
{
	const char *p = *pattern;
	bool inrange = false;
	*star = false;
	while (*p == '*') {
		p++;
		*star = true;
	}
	*chunk = p;
	for (; *p; p++) {
		if (*p == '\\') {
			if (p[1])
				p++;
		} else if (*p == '[') {
			inrange = true;
		} else if (*p == ']') {
			inrange = false;
		} else if (*p == '*' && !inrange) {
			break;
		}
	}
	*chunk_end = p;
	*pattern = p;
}

/* Go's matchChunk: 1 with *rest, 0, -1 bad pattern. */
static int match_chunk(const char *chunk, const char *end, const char *s, const char **rest)
{
	bool failed = false;
	while (chunk < end) {
		if (!failed && !*s)
			failed = true;
		switch (*chunk) {
		case '[': {
			int32_t r = 0, lo, hi;
			bool negated = false, match = false;
			int nrange = 0;
			if (!failed)
				s += rune_at(s, strlen(s), &r);
			chunk++;
			if (chunk < end && *chunk == '^') {
				negated = true;
				chunk++;
			}
			for (;;) {
				if (chunk < end && *chunk == ']' && nrange > 0) {
					chunk++;
					break;
				}
				if (get_esc(&chunk, end, &lo) < 0)
					return -1;
				hi = lo;
				if (*chunk == '-') {
					chunk++;
					if (get_esc(&chunk, end, &hi) < 0)
						return -1;
				}
				if (lo <= r && r <= hi)
					match = true;
				nrange++;
			}
			if (match == negated)
				failed = true;
			break;
		}
		case '?':
			if (!failed) {
				int32_t r;
				if (*s == '/')
					failed = true;
				s += rune_at(s, strlen(s), &r);
			}
			chunk++;
			break;
		case '\\':
			chunk++;
			if (chunk >= end)
				return -1;
			/* fall through */
		default:
			if (!failed) {
				if (*chunk != *s)
					failed = true;
				s++;
			}
			chunk++;
			break;
		}
	}
	if (failed)
		return 0;
	*rest = s;
	return 1;
}

int sb_go_match(const char *pattern, const char *name)
{
	while (*pattern) {
		bool star;
		const char *chunk, *chunk_end, *t = NULL;
		int ok;

		scan_chunk(&pattern, &star, &chunk, &chunk_end);
		if (star && chunk == chunk_end)
			return strchr(name, '/') ? 0 : 1;
		ok = match_chunk(chunk, chunk_end, name, &t);
		if (ok == 1 && (!*t || *pattern)) {
			name = t;
			continue;
		}
		if (ok < 0)
			goto bad;
		if (star) {
			bool found = false;
			for (size_t i = 0; name[i] && name[i] != '/'; i++) {
				ok = match_chunk(chunk, chunk_end, name + i + 1, &t);
				if (ok == 1) {
					if (!*pattern && *t)
						continue;
					name = t;
					found = true;
					break;
				}
				if (ok < 0)
					goto bad;
			}
			if (found)
				continue;
		}
		/* Go checks the rest of the pattern before saying no. */
		while (*pattern) {
			scan_chunk(&pattern, &star, &chunk, &chunk_end);
			if (match_chunk(chunk, chunk_end, "", &t) < 0)
				goto bad;
		}
		return 0;
	}
	return *name ? 0 : 1;
bad:
	errno = EINVAL;
	return -1;
}

bool sb_has_wildcards(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\') {
			if (!s[1])
				break;
			s++;
		} else if (*s == '*' || *s == '?' || *s == '[') {
			return true;
		}
	}
	return false;
}

/* ---- moby/patternmatcher ---- */

enum tok_kind {
	TOK_LIT,   /* one byte */
	TOK_STAR,  /* [^/]* */
	TOK_ONE,   /* [^/], one rune */
	TOK_DSTAR, /* (.*\/)? */
	TOK_ANY,   /* .* */
	TOK_CLASS, /* [...] */
};

struct tok {
	enum tok_kind kind;
	char c;
	bool negated;
	int32_t (*ranges)[2];
	size_t nranges;
};

enum match_type { MATCH_EXACT, MATCH_PREFIX, MATCH_SUFFIX, MATCH_REGEXP };

struct pattern {
	bool exclusion;
	char *cleaned;
	enum match_type type;
	struct tok *toks;
	size_t ntoks, atoks;
};

struct sb_patterns {
	struct pattern *v;
	size_t n;
	bool exclusions;
};

struct sb_ignore {
	struct sb_patterns *p;
};

/* Go's path.Clean. */
char *sb_go_clean(const char *p)
{
	struct sb_strbuf out = SB_STRBUF_INIT;
	bool rooted = *p == '/';
	size_t dotdot = 0;

	if (rooted) {
		sb_strbuf_addc(&out, '/');
		dotdot = 1;
	}
	while (*p) {
		const char *e;
		size_t n;
		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchr(p, '/');
		n = e ? (size_t)(e - p) : strlen(p);
		if (n == 1 && p[0] == '.') {
			/* skip */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (out.len > dotdot) {
				size_t i = out.len - 1;
				while (i > dotdot && out.buf[i] != '/')
					i--;
				sb_strbuf_truncate(&out, i);
			} else if (!rooted) {
				if (out.len)
					sb_strbuf_addc(&out, '/');
				sb_strbuf_adds(&out, "..");
				dotdot = out.len;
			}
		} else {
			if ((rooted && out.len != 1) || (!rooted && out.len))
				sb_strbuf_addc(&out, '/');
			sb_strbuf_add(&out, p, n);
		}
		p += n;
	}
	if (!out.len)
		sb_strbuf_addc(&out, '.');
	return sb_strbuf_detach(&out, NULL);
}

static struct tok *add_tok(struct pattern *pt, enum tok_kind kind, char c)
{
	struct tok *t;
	pt->toks = sb_xgrow(pt->toks, &pt->atoks, pt->ntoks + 1, sizeof(*pt->toks));
	t = &pt->toks[pt->ntoks++];
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->c = c;
	return t;
}

/* patternmatcher's compile(), tokens instead of a regexp string. The
 * pattern has passed sb_go_match, so classes are well formed. */
static void compile(struct pattern *pt)
{
	const char *p = pt->cleaned;
	bool first = true;

	pt->type = MATCH_EXACT;
	while (*p) {
		if (*p == '*') {
			if (p[1] == '*') {
				p += 2;
				if (*p == '/')
					p++;
				if (!*p) {
					if (pt->type == MATCH_EXACT) {
						pt->type = MATCH_PREFIX;
					} else {
						add_tok(pt, TOK_ANY, 0);
						pt->type = MATCH_REGEXP;
					}
				} else {
					add_tok(pt, TOK_DSTAR, 0);
					pt->type = MATCH_REGEXP;
				}
				if (first)
					pt->type = MATCH_SUFFIX;
			} else {
				add_tok(pt, TOK_STAR, 0);
				pt->type = MATCH_REGEXP;
				p++;
			}
		} else if (*p == '?') {
			add_tok(pt, TOK_ONE, 0);
			pt->type = MATCH_REGEXP;
			p++;
		} else if (*p == '\\') {
			p++;
			if (*p) {
				add_tok(pt, TOK_LIT, *p++);
				pt->type = MATCH_REGEXP;
			} else {
				add_tok(pt, TOK_LIT, '\\');
			}
		} else if (*p == '[') {
			struct tok *t = add_tok(pt, TOK_CLASS, 0);
			size_t alloc = 0;
			const char *end = p + strlen(p);
			p++;
			if (*p == '^') {
				t->negated = true;
				p++;
			}
			while (*p && !(*p == ']' && t->nranges)) {
				int32_t lo, hi;
				if (get_esc(&p, end, &lo) < 0)
					break;
				hi = lo;
				if (*p == '-') {
					p++;
					if (get_esc(&p, end, &hi) < 0)
						break;
				}
				t->ranges = sb_xgrow(t->ranges, &alloc, t->nranges + 1, sizeof(*t->ranges));
				t->ranges[t->nranges][0] = lo;
				t->ranges[t->nranges][1] = hi;
				t->nranges++;
			}
			if (*p == ']')
				p++;
			pt->type = MATCH_REGEXP;
		} else {
			add_tok(pt, TOK_LIT, *p++);
		}
		first = false;
	}
}

static bool match_toks(const struct tok *t, size_t n, const char *s)
{
	for (; n; t++, n--) {
		switch (t->kind) {
		case TOK_LIT:
			if (*s != t->c)
				return false;
			s++;
			break;
		case TOK_ONE:
		case TOK_CLASS: {
			int32_t r;
			size_t w;
			bool in = false;
			if (!*s || (t->kind == TOK_ONE && *s == '/'))
				return false;
			w = rune_at(s, strlen(s), &r);
			if (t->kind == TOK_CLASS) {
				for (size_t i = 0; i < t->nranges; i++)
					if (t->ranges[i][0] <= r && r <= t->ranges[i][1])
						in = true;
				if (in == t->negated)
					return false;
			}
			s += w;
			break;
		}
		case TOK_STAR:
			/* Longest first, then backtrack. */
			for (size_t len = strcspn(s, "/") + 1; len--;)
				if (match_toks(t + 1, n - 1, s + len))
					return true;
			return false;
		case TOK_ANY:
			for (size_t len = strlen(s) + 1; len--;)
				if (match_toks(t + 1, n - 1, s + len))
					return true;
			return false;
		case TOK_DSTAR:
			/* Nothing, or anything ending in "/". */
			for (const char *q = s + strlen(s); q > s; q--)
				if (q[-1] == '/' && match_toks(t + 1, n - 1, q))
					return true;
			return match_toks(t + 1, n - 1, s);
		}
	}
	return !*s;
}

static bool pattern_match(const struct pattern *pt, const char *path)
{
	size_t n = strlen(pt->cleaned);
	switch (pt->type) {
	case MATCH_EXACT:
		return !strcmp(path, pt->cleaned);
	case MATCH_PREFIX:
		return !strncmp(path, pt->cleaned, n - 2);
	case MATCH_SUFFIX: {
		const char *suffix = pt->cleaned + 2;
		size_t sl = n - 2, pl = strlen(path);
		if (pl >= sl && !memcmp(path + pl - sl, suffix, sl))
			return true;
		return suffix[0] == '/' && !strcmp(path, suffix + 1);
	}
	case MATCH_REGEXP:
		return match_toks(pt->toks, pt->ntoks, path);
	}
	return false;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static char *trim(const char *s)
{
	size_t n;
	while (is_space(*s))
		s++;
	n = strlen(s);
	while (n && is_space(s[n - 1]))
		n--;
	return sb_xstrndup(s, n);
}

int sb_patterns_new(const char *const *patterns, size_t n, struct sb_patterns **out, struct sb_error **err)
{
	struct sb_patterns *pm = sb_xcalloc(1, sizeof(*pm));

	*out = NULL;
	pm->v = sb_xcalloc(n ? n : 1, sizeof(*pm->v));
	for (size_t i = 0; i < n; i++) {
		sb_autofree char *t = trim(patterns[i]);
		sb_autofree char *clean = NULL;
		struct pattern *pt;
		const char *p;

		if (!*t)
			continue;
		clean = sb_go_clean(t);
		p = clean;
		pt = &pm->v[pm->n];
		if (*p == '!') {
			if (!p[1]) {
				sb_patterns_free(pm);
				return sb_error_setx(err, EINVAL, "illegal exclusion pattern: \"!\"");
			}
			pt->exclusion = true;
			pm->exclusions = true;
			p++;
		}
		if (sb_go_match(p, ".") < 0) {
			sb_patterns_free(pm);
			return sb_error_setx(err, EINVAL, "invalid pattern %s: syntax error in pattern", patterns[i]);
		}
		pt->cleaned = sb_xstrdup(p);
		compile(pt);
		pm->n++;
	}
	*out = pm;
	return 0;
}

bool sb_patterns_match(const struct sb_patterns *pm, const char *path)
{
	sb_autofree char *parent = NULL;
	const char *slash = strrchr(path, '/');
	bool matched = false;

	if (!pm)
		return false;
	parent = slash ? sb_xstrndup(path, (size_t)(slash - path)) : NULL;
	for (size_t i = 0; i < pm->n; i++) {
		const struct pattern *pt = &pm->v[i];
		bool m;
		/* An inclusion after a match, or an exception before one,
		 * cannot change the answer. */
		if (pt->exclusion != matched)
			continue;
		m = pattern_match(pt, path);
		if (!m && parent) {
			/* Or one of the parent directories, shortest first. */
			for (char *q = parent;; q++) {
				q = strchr(q, '/');
				if (q)
					*q = '\0';
				m = pattern_match(pt, parent);
				if (q)
					*q = '/';
				if (m || !q)
					break;
			}
		}
		if (m)
			matched = !pt->exclusion;
	}
	return matched;
}

bool sb_patterns_may_include_below(const struct sb_patterns *pm, const char *dir)
{
	size_t dl = strlen(dir);
	if (!pm || !pm->exclusions)
		return false;
	for (size_t i = 0; i < pm->n; i++) {
		const struct pattern *pt = &pm->v[i];
		if (!pt->exclusion)
			continue;
		if (pt->type != MATCH_EXACT)
			return true; /* a wildcard may match anything below */
		if (!strncmp(pt->cleaned, dir, dl) && pt->cleaned[dl] == '/')
			return true;
	}
	return false;
}

void sb_patterns_free(struct sb_patterns *pm)
{
	if (!pm)
		return;
	for (size_t i = 0; i < pm->n; i++) {
		for (size_t j = 0; j < pm->v[i].ntoks; j++)
			free(pm->v[i].toks[j].ranges);
		free(pm->v[i].toks);
		free(pm->v[i].cleaned);
	}
	free(pm->v);
	free(pm);
}

/* ---- .dockerignore ---- */

int sb_ignore_parse(const char *text, struct sb_ignore **out, struct sb_error **err)
{
	sb_autofree char *copy = sb_xstrdup(text);
	char **lines = NULL;
	size_t n = 0, alloc = 0;
	struct sb_patterns *pm = NULL;
	char *save = NULL, *line;
	int ret;

	*out = NULL;
	/* moby's ignorefile.ReadAll: a UTF-8 BOM is dropped, "#" lines are
	 * comments before any trimming, then each pattern is trimmed,
	 * cleaned and made relative to the context ("/a" is "a"). */
	line = copy;
	if (!strncmp(line, "\xef\xbb\xbf", 3))
		line += 3;
	for (line = strtok_r(line, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		sb_autofree char *t = NULL, *clean = NULL;
		bool invert;
		const char *p;
		if (*line == '#')
			continue;
		t = trim(line);
		if (!*t)
			continue;
		invert = *t == '!';
		p = t;
		if (invert) {
			char *u = trim(t + 1);
			free(t);
			t = u;
			p = t;
		}
		if (*p) {
			clean = sb_go_clean(p);
			p = clean;
			if (p[0] == '/' && p[1])
				p++;
		}
		lines = sb_xgrow(lines, &alloc, n + 1, sizeof(*lines));
		lines[n++] = invert ? sb_xasprintf("!%s", p) : sb_xstrdup(p);
	}
	ret = sb_patterns_new((const char *const *)lines, n, &pm, err);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	if (ret < 0)
		return sb_error_wrap(err, "parse .dockerignore");
	*out = sb_xmalloc(sizeof(**out));
	(*out)->p = pm;
	return 0;
}

static int read_ignore(int ctx_fd, const char *name, struct sb_strbuf *text, bool *found, struct sb_error **err)
{
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	sb_autoclose int fd = (int)syscall(SYS_openat2, ctx_fd, name, &how, sizeof(how));
	*found = false;
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : sb_error_set(err, errno, "open %s", name);
	*found = true;
	return sb_read_fd(fd, name, IGNORE_FILE_MAX, text, err);
}

int sb_ignore_load(int ctx_fd, const char *dockerfile_name, struct sb_ignore **out, struct sb_error **err)
{
	struct sb_strbuf text = SB_STRBUF_INIT;
	bool found = false;
	int ret = -1;

	*out = NULL;
	if (dockerfile_name && *dockerfile_name) {
		const char *base = strrchr(dockerfile_name, '/');
		sb_autofree char *name = sb_xasprintf("%s.dockerignore", base ? base + 1 : dockerfile_name);
		if (read_ignore(ctx_fd, name, &text, &found, err) < 0)
			goto out;
	}
	if (!found && read_ignore(ctx_fd, ".dockerignore", &text, &found, err) < 0)
		goto out;
	ret = found ? sb_ignore_parse(text.buf, out, err) : 0;
out:
	sb_strbuf_release(&text);
	return ret;
}

bool sb_ignore_match(const struct sb_ignore *ig, const char *path)
{
	return ig && sb_patterns_match(ig->p, path);
}

const struct sb_patterns *sb_ignore_patterns(const struct sb_ignore *ig)
{
	return ig ? ig->p : NULL;
}

void sb_ignore_free(struct sb_ignore *ig)
{
	if (!ig)
		return;
	sb_patterns_free(ig->p);
	free(ig);
}
