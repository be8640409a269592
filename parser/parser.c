/* Dockerfile bytes to AST: BuildKit's Parse() loop. Lines are read as
 * bufio.Scanner reads them (64 KiB limit, line endings kept), parser
 * directives are recognised only before anything else, continuation lines
 * are joined with their leading whitespace kept, comment lines inside a
 * continuation are dropped without ending it, and heredoc bodies follow
 * the instruction that opens them. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parser/parser.h"
#include "parser/shell.h"
#include "runtime/core/fs.h"
#include "runtime/core/utf8.h"

/* A Dockerfile bigger than this is refused before it is read: no real one
 * comes near it, and the parser holds the whole file in memory. */
#define SB_DOCKERFILE_MAX_FILE (256u * 1024 * 1024)

struct scanner {
	const char *data;
	size_t len, pos;
	/* the last line read, with its line ending */
	const char *line;
	size_t linelen;
	bool too_long;
};

/* bufio.Scanner with BuildKit's scanLines: a token is a line with its '\n'.
 * A token must fit the 64 KiB buffer: a line of 65535 bytes plus '\n' is
 * the longest accepted. */
static bool scan(struct scanner *s)
{
	const char *nl;
	size_t avail, tok;

	if (s->pos >= s->len || s->too_long)
		return false;
	avail = s->len - s->pos;
	nl = memchr(s->data + s->pos, '\n', avail);
	tok = nl ? (size_t)(nl - (s->data + s->pos)) + 1 : avail;
	if (tok > SB_DOCKERFILE_MAX_LINE + 1 || (!nl && tok > SB_DOCKERFILE_MAX_LINE)) {
		s->too_long = true;
		return false;
	}
	s->line = s->data + s->pos;
	s->linelen = tok;
	s->pos += tok;
	return true;
}

struct directives {
	char escape;
	bool done;
	bool seen_syntax, seen_escape, seen_check;
};

/* bytes.TrimLeftFunc(unicode.IsSpace) */
static void trim_left_space(const char **p, size_t *n)
{
	size_t w;
	while (*n) {
		int32_t r = sb_utf8_decode(*p, *n, &w);
		if (!sb_unicode_is_space(r))
			break;
		*p += w;
		*n -= w;
	}
}

/* bytes.TrimRight(src, "\r\n") */
static void trim_newline(const char *p, size_t *n)
{
	while (*n && (p[*n - 1] == '\r' || p[*n - 1] == '\n'))
		(*n)--;
}

static bool is_comment(const char *p, size_t n)
{
	trim_left_space(&p, &n);
	return n > 0 && p[0] == '#';
}

/* Go RE2's \s */
static bool is_re_s(char c)
{
	return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* BuildKit's DirectiveParser.ParseLine: `#` then
 * ^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$ with a known key. Returns 1 for a
 * directive (name and value set), 0 for none, -1 on error. */
static int parse_directive(struct directives *d, const char *p, size_t n, struct sb_str *name,
			   struct sb_str *value, struct sb_error **err)
{
	size_t i = 0, ks, ke, vs, ve;
	char key[16];

	if (d->done)
		return 0;
	if (n == 0 || p[0] != '#')
		goto not_directive;
	p++;
	n--;
	trim_left_space(&p, &n);
	if (n == 0 || !is_alpha(p[0]))
		goto not_directive;
	ks = i++;
	while (i < n && (is_alpha(p[i]) || (p[i] >= '0' && p[i] <= '9')))
		i++;
	ke = i;
	while (i < n && is_re_s(p[i]))
		i++;
	if (i >= n || p[i] != '=')
		goto not_directive;
	i++;
	/* \s*(.+?)\s*$ : the value runs from the first non-\s byte to the
	 * last; if everything left is \s, greedy \s* backs off one byte so the
	 * value is the last one. */
	ve = n;
	while (ve > i && is_re_s(p[ve - 1]))
		ve--;
	if (ve == i) {
		if (n == i)
			goto not_directive;
		vs = n - 1;
		ve = n;
	} else {
		vs = i;
		while (vs < ve && is_re_s(p[vs]))
			vs++;
	}
	if (ke - ks >= sizeof(key))
		goto not_directive;
	for (size_t k = ks; k < ke; k++)
		key[k - ks] = (char)(p[k] >= 'A' && p[k] <= 'Z' ? p[k] + 32 : p[k]);
	key[ke - ks] = '\0';

	bool *seen;
	if (strcmp(key, "syntax") == 0)
		seen = &d->seen_syntax;
	else if (strcmp(key, "escape") == 0)
		seen = &d->seen_escape;
	else if (strcmp(key, "check") == 0)
		seen = &d->seen_check;
	else
		goto not_directive;
	if (*seen)
		return sb_error_setx(err, EINVAL, "only one %s parser directive can be used", key);
	*seen = true;
	name->ptr = seen == &d->seen_syntax ? "syntax" : seen == &d->seen_escape ? "escape" : "check";
	name->len = strlen(name->ptr);
	value->ptr = p + vs;
	value->len = ve - vs;
	if (seen == &d->seen_escape) {
		if (value->len != 1 || (value->ptr[0] != '`' && value->ptr[0] != '\\'))
			return sb_error_setx(err, EINVAL, "invalid escape token '%.*s' does not match ` or \\",
					     (int)value->len, value->ptr);
		d->escape = value->ptr[0];
	}
	return 1;

not_directive:
	d->done = true;
	return 0;
}

/* The continuation regex ([^E])E[ \t]*$|^E[ \t]*$ for escape E: the line
 * ends in E (then blanks) not preceded by another E. Strips E and the
 * blanks. */
static bool trim_continuation(const struct directives *d, const char *p, size_t *n)
{
	size_t e = *n;
	while (e > 0 && (p[e - 1] == ' ' || p[e - 1] == '\t'))
		e--;
	if (e == 0 || p[e - 1] != d->escape)
		return false;
	if (e >= 2 && p[e - 2] == d->escape)
		return false;
	*n = e - 1;
	return true;
}

struct parser {
	struct sb_dockerfile *df;
	struct directives d;
	struct scanner s;
	int line; /* lines read so far */
	struct sb_strbuf buf;
	struct sb_str *comments;
	size_t ncomments, acomments;
	size_t ainstr, adirectives, awarnings;
};

static int fail(struct parser *p, int line, struct sb_error **err)
{
	if (line < 1)
		line = 1;
	return sb_error_wrap(err, "%s:%d", p->df->filename, line);
}

/* processLine: trim the line ending (and leading blanks for a first line),
 * look for a directive, and drop a comment. */
static int process_line(struct parser *p, const char *raw, size_t n, bool strip_left, const char **out,
			size_t *outn, bool *directive, struct sb_error **err)
{
	struct sb_str name = { NULL, 0 }, value = { NULL, 0 };
	int r;

	trim_newline(raw, &n);
	if (strip_left)
		trim_left_space(&raw, &n);
	r = parse_directive(&p->d, raw, n, &name, &value, err);
	if (r < 0)
		return -1;
	*directive = r > 0;
	if (r > 0) {
		struct sb_directive *dir;
		struct sb_dockerfile *df = p->df;
		if (df->ndirectives == p->adirectives) {
			size_t na = p->adirectives ? p->adirectives * 2 : 4;
			struct sb_directive *nd = sb_arena_calloc(&df->arena, na, sizeof(*nd));
			if (df->ndirectives)
				memcpy(nd, df->directives, df->ndirectives * sizeof(*nd));
			df->directives = nd;
			p->adirectives = na;
		}
		dir = &df->directives[df->ndirectives++];
		dir->name = name;
		dir->value.ptr = sb_arena_strndup(&df->arena, value.ptr, value.len);
		dir->value.len = value.len;
		dir->line = p->line + 1;
	}
	if (is_comment(raw, n))
		n = 0;
	*out = raw;
	*outn = n;
	return 0;
}

static void add_comment(struct parser *p, const char *raw, size_t n)
{
	const char *c = raw + 1;
	size_t cn = n - 1;
	size_t w;
	size_t last = 0;
	/* strings.TrimSpace(string(bytesRead[1:])) of the untrimmed line */
	trim_left_space(&c, &cn);
	for (size_t i = 0; i < cn; i += w) {
		int32_t r = sb_utf8_decode(c + i, cn - i, &w);
		if (!sb_unicode_is_space(r))
			last = i + w;
	}
	cn = last;
	if (cn == 0) {
		p->ncomments = 0;
		return;
	}
	if (p->ncomments == p->acomments) {
		size_t na = p->acomments ? p->acomments * 2 : 4;
		struct sb_str *nc = sb_arena_calloc(&p->df->arena, na, sizeof(*nc));
		if (p->ncomments)
			memcpy(nc, p->comments, p->ncomments * sizeof(*nc));
		p->comments = nc;
		p->acomments = na;
	}
	p->comments[p->ncomments].ptr = sb_arena_strndup(&p->df->arena, c, cn);
	p->comments[p->ncomments].len = cn;
	p->ncomments++;
}

static void add_warning(struct parser *p, int line, const char *logical, size_t n)
{
	struct sb_dockerfile *df = p->df;
	if (df->nwarnings == p->awarnings) {
		size_t na = p->awarnings ? p->awarnings * 2 : 4;
		struct sb_warning *nw = sb_arena_calloc(&df->arena, na, sizeof(*nw));
		if (df->nwarnings)
			memcpy(nw, df->warnings, df->nwarnings * sizeof(*nw));
		df->warnings = nw;
		p->awarnings = na;
	}
	{
		struct sb_strbuf sb = SB_STRBUF_INIT;
		sb_strbuf_adds(&sb, "Empty continuation line found in: ");
		sb_strbuf_add(&sb, logical, n);
		df->warnings[df->nwarnings].msg = sb_arena_strndup(&df->arena, sb.buf, sb.len);
		df->warnings[df->nwarnings].line = line;
		df->nwarnings++;
		sb_strbuf_release(&sb);
	}
}

static bool can_contain_heredoc(const struct sb_node *node)
{
	static const char *const names[] = { "add", "copy", "run" };
	if (node->lower.len == 7 && memcmp(node->lower.ptr, "onbuild", 7) == 0 && node->next &&
	    node->next->nchildren > 0)
		node = node->next->children[0];
	for (size_t i = 0; i < SB_ARRAY_SIZE(names); i++)
		if (node->lower.len == strlen(names[i]) && memcmp(node->lower.ptr, names[i], node->lower.len) == 0)
			return !node->json;
	return false;
}

static size_t count_quotes(const char *s, size_t n)
{
	size_t q = 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\'' || s[i] == '"')
			q++;
	return q;
}

/* ParseHeredoc: ^(\d*)<<(-?)\s*([^<]*)$ and a one-word delimiter. Returns 1
 * with *h filled, 0 when the word is not a heredoc, -1 on a lexer error.
 * Words carry lengths: a delimiter may hold a NUL byte. */
static int parse_heredoc_word(struct sb_arena *a, const char *w, size_t wn, struct sb_heredoc *h,
			      struct sb_error **err)
{
	const char *p = w, *end = w + wn, *rest;
	struct sb_shlex lex;
	struct sb_shlex_result words, raw;
	uint64_t fd = 0;
	bool overflow = false;
	int rc = 0;

	while (p < end && *p >= '0' && *p <= '9') {
		unsigned d = (unsigned)(*p - '0');
		if (fd > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			fd = fd * 10 + d;
		p++;
	}
	if (overflow)
		fd = UINT64_MAX; /* strconv.ParseUint's value on ErrRange */
	if (end - p < 2 || p[0] != '<' || p[1] != '<')
		return 0;
	p += 2;
	memset(h, 0, sizeof(*h));
	if (p < end && *p == '-') {
		h->chomp = true;
		p++;
	}
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\f' || *p == '\r'))
		p++; /* \s* after <<- : BuildKit allows "<< EOF" */
	rest = p;
	if (memchr(rest, '<', (size_t)(end - rest)) || rest == end)
		return 0;

	sb_shlex_init(&lex, '\\');
	lex.skip_unset_env = true;
	memset(&raw, 0, sizeof(raw));
	if (sb_shlex_process(&lex, rest, (size_t)(end - rest), NULL, &words, err) < 0)
		return -1;
	if (words.nwords != 1)
		goto out;
	lex.raw_quotes = true;
	if (sb_shlex_process(&lex, rest, (size_t)(end - rest), NULL, &raw, err) < 0) {
		rc = -1;
		goto out;
	}
	if (raw.nwords != words.nwords) {
		rc = sb_error_setx(err, EINVAL, "internal lexing of heredoc produced inconsistent results: %.*s",
				   (int)(end - rest), rest);
		goto out;
	}
	h->name.ptr = sb_arena_strndup(a, words.words[0], words.word_lens[0]);
	h->name.len = words.word_lens[0];
	h->fd = fd;
	h->expand = count_quotes(words.words[0], words.word_lens[0]) == count_quotes(raw.words[0], raw.word_lens[0]);
	rc = 1;
out:
	sb_shlex_result_release(&words);
	sb_shlex_result_release(&raw);
	return rc;
}

/* heredocsFromLine: every word of the line (lexed with quotes and escapes
 * kept, unset variables left as written) that is a heredoc opener. */
static int heredocs_from_line(struct sb_arena *a, const char *line, size_t len, struct sb_heredoc **out,
			      size_t *nout, struct sb_error **err)
{
	struct sb_shlex lex;
	struct sb_error *ignored = NULL;
	struct sb_shlex_result words;
	size_t alloc = 0;
	int rc = 0;

	*out = NULL;
	*nout = 0;
	sb_shlex_init(&lex, '\\');
	lex.raw_quotes = true;
	lex.raw_escapes = true;
	lex.skip_unset_env = true;
	/* BuildKit ignores a lexer error here: the line simply has no
	 * heredocs. */
	if (sb_shlex_process(&lex, line, len, NULL, &words, &ignored) < 0) {
		sb_error_free(ignored);
		return 0;
	}
	for (size_t i = 0; i < words.nwords; i++) {
		struct sb_heredoc h;
		int r = parse_heredoc_word(a, words.words[i], words.word_lens[i], &h, err);
		if (r < 0) {
			rc = -1;
			break;
		}
		if (r == 0)
			continue;
		if (*nout == alloc) {
			size_t na = alloc ? alloc * 2 : 2;
			struct sb_heredoc *nh = sb_arena_calloc(a, na, sizeof(*nh));
			if (*nout)
				memcpy(nh, *out, *nout * sizeof(*nh));
			*out = nh;
			alloc = na;
		}
		(*out)[(*nout)++] = h;
	}
	sb_shlex_result_release(&words);
	return rc;
}

static void add_child(struct parser *p, struct sb_node *child)
{
	struct sb_node *root = p->df->root;
	if (root->nchildren == p->ainstr) {
		size_t na = p->ainstr ? p->ainstr * 2 : 16;
		struct sb_node **nc = sb_arena_calloc(&p->df->arena, na, sizeof(*nc));
		if (root->nchildren)
			memcpy(nc, root->children, root->nchildren * sizeof(*nc));
		root->children = nc;
		p->ainstr = na;
	}
	root->children[root->nchildren++] = child;
	if (root->start_line < 0)
		root->start_line = child->start_line;
	root->end_line = child->end_line;
}

static int read_heredocs(struct parser *p, struct sb_node *child, int start_line, struct sb_error **err)
{
	struct sb_arena *a = &p->df->arena;
	for (size_t i = 0; i < child->nheredocs; i++) {
		struct sb_heredoc *h = &child->heredocs[i];
		struct sb_strbuf content = SB_STRBUF_INIT;
		bool terminated = false;
		while (scan(&p->s)) {
			const char *t = p->s.line;
			size_t tn = p->s.linelen;
			p->line++;
			trim_newline(t, &tn);
			if (h->chomp)
				while (tn && *t == '\t') {
					t++;
					tn--;
				}
			if (tn == h->name.len && memcmp(t, h->name.ptr, tn) == 0) {
				terminated = true;
				break;
			}
			sb_strbuf_add(&content, p->s.line, p->s.linelen);
		}
		h->content.ptr = sb_arena_strndup(a, content.buf, content.len);
		h->content.len = content.len;
		sb_strbuf_release(&content);
		if (p->s.too_long)
			return -1;
		if (!terminated) {
			sb_error_setx(err, EINVAL, "unterminated heredoc");
			return fail(p, start_line, err);
		}
	}
	return 0;
}

static int parse_all(struct parser *p, struct sb_error **err)
{
	struct sb_parse_ctx ctx = { &p->df->arena, '\\', 0 };

	while (scan(&p->s)) {
		const char *raw = p->s.line, *tok;
		size_t rawn = p->s.linelen, tokn;
		bool directive, eol, has_empty = false;
		int start_line;
		struct sb_node *child;

		if (p->line == 0 && rawn >= 3 && memcmp(raw, "\xEF\xBB\xBF", 3) == 0) {
			raw += 3;
			rawn -= 3;
		}
		if (is_comment(raw, rawn))
			add_comment(p, raw, rawn);
		if (process_line(p, raw, rawn, true, &tok, &tokn, &directive, err) < 0)
			return fail(p, p->line + 1, err);
		if (directive && p->ncomments)
			p->ncomments--;
		p->line++;
		start_line = p->line;
		eol = !trim_continuation(&p->d, tok, &tokn);
		if (eol && tokn == 0)
			continue;
		sb_strbuf_reset(&p->buf);
		sb_strbuf_add(&p->buf, tok, tokn);

		while (!eol && scan(&p->s)) {
			const char *craw = p->s.line;
			size_t crawn = p->s.linelen;
			if (process_line(p, craw, crawn, false, &tok, &tokn, &directive, err) < 0)
				return fail(p, p->line + 1, err);
			p->line++;
			if (is_comment(craw, crawn))
				continue;
			{
				const char *e = tok;
				size_t en = tokn;
				trim_newline(e, &en);
				trim_left_space(&e, &en);
				if (en == 0) {
					has_empty = true;
					continue;
				}
			}
			eol = !trim_continuation(&p->d, tok, &tokn);
			sb_strbuf_add(&p->buf, tok, tokn);
		}
		if (p->s.too_long)
			break;
		if (has_empty)
			add_warning(p, p->line, p->buf.buf, p->buf.len);

		ctx.escape = p->d.escape;
		child = sb_parse_instruction(&ctx, p->buf.buf, p->buf.len, err);
		if (!child)
			return fail(p, start_line, err);
		child->comments = p->comments;
		child->ncomments = p->ncomments;
		p->comments = NULL;
		p->ncomments = p->acomments = 0;

		if (can_contain_heredoc(child) && memmem(p->buf.buf, p->buf.len, "<<", 2)) {
			if (heredocs_from_line(&p->df->arena, p->buf.buf, p->buf.len, &child->heredocs,
					       &child->nheredocs, err) < 0)
				return fail(p, start_line, err);
			if (read_heredocs(p, child, start_line, err) < 0) {
				if (p->s.too_long)
					break;
				return -1;
			}
		}
		child->start_line = start_line;
		child->end_line = p->line;
		add_child(p, child);
	}
	if (p->s.too_long) {
		sb_error_setx(err, E2BIG, "dockerfile line greater than max allowed size of %d",
			      SB_DOCKERFILE_MAX_LINE);
		return fail(p, p->line + 1, err);
	}
	if (p->df->root->nchildren == 0) {
		sb_error_setx(err, EINVAL, "file with no instructions");
		return fail(p, p->line, err);
	}
	return 0;
}

struct sb_dockerfile *sb_dockerfile_parse(const char *filename, const char *data, size_t len,
					  struct sb_error **err)
{
	struct sb_dockerfile *df = sb_xcalloc(1, sizeof(*df));
	struct parser p;

	sb_arena_init(&df->arena);
	df->filename = sb_arena_strndup(&df->arena, filename, strlen(filename));
	df->root = sb_arena_alloc(&df->arena, sizeof(*df->root));
	df->root->start_line = -1;
	df->root->value.ptr = "";

	memset(&p, 0, sizeof(p));
	p.df = df;
	p.d.escape = '\\';
	p.s.data = data;
	p.s.len = len;
	sb_strbuf_init(&p.buf, 0);
	if (parse_all(&p, err) < 0) {
		sb_strbuf_release(&p.buf);
		sb_dockerfile_free(df);
		return NULL;
	}
	sb_strbuf_release(&p.buf);
	df->escape = p.d.escape;
	return df;
}

void sb_dockerfile_free(struct sb_dockerfile *df)
{
	if (!df)
		return;
	sb_arena_release(&df->arena);
	free(df);
}

struct sb_dockerfile *sb_dockerfile_parse_file(const char *path, struct sb_error **err)
{
	struct sb_strbuf sb;
	struct sb_dockerfile *df;
	sb_autoclose int fd = -1;
	bool std = strcmp(path, "-") == 0;

	sb_strbuf_init(&sb, 0);
	fd = std ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		sb_error_set(err, errno, "open %s", path);
		return NULL;
	}
	if (sb_read_fd(fd, path, SB_DOCKERFILE_MAX_FILE, &sb, err) < 0) {
		sb_strbuf_release(&sb);
		return NULL;
	}
	df = sb_dockerfile_parse(std ? "<stdin>" : path, sb.buf, sb.len, err);
	sb_strbuf_release(&sb);
	return df;
}
