/* One logical Dockerfile line to a node: BuildKit's splitCommand,
 * extractBuilderFlags and the per-instruction argument parsers of
 * line_parsers.go. The quirks are BuildKit's and are kept on purpose: a
 * Dockerfile must mean here what it means to `docker build`. */
#include <locale.h>
#include <wctype.h>

#include "parser/parser.h"
#include "runtime/core/utf8.h"

/* Go's regexp class [\t\v\f\r ] (BuildKit's reWhitespace). */
static bool is_re_ws(unsigned char c)
{
	return c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == ' ';
}

/* unicode.IsSpace(rune(b)) on a single byte, as BuildKit's byte loops do:
 * 0x85 and 0xA0 count, even when they are part of a multi-byte rune. */
static bool is_space_byte(unsigned char c)
{
	return c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || c == ' ' ||
	       c == 0x85 || c == 0xA0;
}

static struct sb_str str_dup(struct sb_arena *a, const char *p, size_t n)
{
	struct sb_str s = { sb_arena_strndup(a, p, n), n };
	return s;
}

static struct sb_str strbuf_to_str(struct sb_arena *a, const struct sb_strbuf *sb)
{
	return str_dup(a, sb->buf, sb->len);
}

/* strings.TrimSpace. */
static void trim_space(const char **p, size_t *n)
{
	const char *s = *p;
	size_t len = *n, i = 0, end = 0, w;

	while (i < len) {
		int32_t r = sb_utf8_decode(s + i, len - i, &w);
		if (!sb_unicode_is_space(r))
			break;
		i += w;
	}
	for (size_t j = i; j < len; j += w) {
		int32_t r = sb_utf8_decode(s + j, len - j, &w);
		if (!sb_unicode_is_space(r))
			end = j + w;
	}
	*p = s + i;
	*n = end > i ? end - i : 0;
}

static locale_t utf8_locale(void)
{
	static locale_t loc;
	if (!loc) {
		loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
		if (!loc)
			loc = newlocale(LC_CTYPE_MASK, "C", (locale_t)0);
	}
	return loc;
}

/* strings.ToLower: ASCII fast path, else rune by rune (invalid bytes
 * become U+FFFD, as strings.Map does). */
static struct sb_str go_to_lower(struct sb_arena *a, const char *s, size_t n)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	struct sb_str out;
	bool ascii = true;
	size_t w;

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			ascii = false;
	if (ascii) {
		char *p = sb_arena_strndup(a, s, n);
		for (size_t i = 0; i < n; i++)
			if (p[i] >= 'A' && p[i] <= 'Z')
				p[i] = (char)(p[i] + 32);
		out.ptr = p;
		out.len = n;
		return out;
	}
	for (size_t i = 0; i < n; i += w) {
		int32_t r = sb_utf8_decode(s + i, n - i, &w);
		if (r != SB_RUNE_ERROR)
			r = (int32_t)towlower_l((wint_t)r, utf8_locale());
		sb_strbuf_add_rune(&sb, r);
	}
	out = strbuf_to_str(a, &sb);
	sb_strbuf_release(&sb);
	return out;
}

static struct sb_node *new_node(struct sb_arena *a, const char *p, size_t n)
{
	struct sb_node *node = sb_arena_alloc(a, sizeof(*node));
	node->value = str_dup(a, p, n);
	return node;
}

static void push_str(struct sb_arena *a, struct sb_str **v, size_t *n, size_t *alloc, struct sb_str s)
{
	if (*n == *alloc) {
		size_t na = *alloc ? *alloc * 2 : 4;
		struct sb_str *nv = sb_arena_calloc(a, na, sizeof(*nv));
		if (*n)
			memcpy(nv, *v, *n * sizeof(*nv));
		*v = nv;
		*alloc = na;
	}
	(*v)[(*n)++] = s;
}

/* BuildKit's extractBuilderFlags: leading `--words` are flags; quotes are
 * removed, the escape token escapes the next byte, `--` alone ends the flags.
 * Bytes are handled one at a time and appended as runes, so a byte >= 0x80
 * is re-encoded as the code point of the same value, as BuildKit does. */
static void extract_flags(struct sb_arena *a, char escape, const char *line, size_t len, const char **rest,
			  size_t *restlen, struct sb_str **flags, size_t *nflags)
{
	enum { IN_SPACES, IN_WORD, IN_QUOTE } phase = IN_SPACES;
	struct sb_strbuf word = SB_STRBUF_INIT;
	size_t alloc = 0;
	bool blank_ok = false;
	unsigned char quote = 0, ch = 0;

	*rest = line + len;
	*restlen = 0;
	for (size_t pos = 0; pos <= len; pos++) {
		if (pos != len)
			ch = (unsigned char)line[pos];
		if (phase == IN_SPACES) {
			if (pos == len)
				break;
			if (is_space_byte(ch))
				continue;
			if (ch != '-' || pos + 1 == len || line[pos + 1] != '-') {
				*rest = line + pos;
				*restlen = len - pos;
				goto out;
			}
			phase = IN_WORD;
		}
		if (pos == len) {
			bool dashdash = word.len == 2 && memcmp(word.buf, "--", 2) == 0;
			if (!dashdash && (blank_ok || word.len > 0))
				push_str(a, flags, nflags, &alloc, strbuf_to_str(a, &word));
			break;
		}
		if (phase == IN_WORD) {
			if (is_space_byte(ch)) {
				phase = IN_SPACES;
				if (word.len == 2 && memcmp(word.buf, "--", 2) == 0) {
					*rest = line + pos;
					*restlen = len - pos;
					goto out;
				}
				if (blank_ok || word.len > 0)
					push_str(a, flags, nflags, &alloc, strbuf_to_str(a, &word));
				sb_strbuf_reset(&word);
				blank_ok = false;
				continue;
			}
			if (ch == '\'' || ch == '"') {
				quote = ch;
				blank_ok = true;
				phase = IN_QUOTE;
				continue;
			}
			if (ch == (unsigned char)escape) {
				if (pos + 1 == len)
					continue;
				ch = (unsigned char)line[++pos];
			}
			sb_strbuf_add_rune(&word, ch);
			continue;
		}
		/* IN_QUOTE */
		if (ch == quote) {
			phase = IN_WORD;
			continue;
		}
		if (ch == (unsigned char)escape) {
			if (pos + 1 == len) {
				phase = IN_WORD;
				continue;
			}
			ch = (unsigned char)line[++pos];
		}
		sb_strbuf_add_rune(&word, ch);
	}
out:
	sb_strbuf_release(&word);
}

/* BuildKit's parseWords: whitespace-separated words, quotes kept, the
 * escape token kept with the character it escapes. */
static size_t parse_words(struct sb_arena *a, const char *rest, size_t len, char escape,
			  struct sb_str **words)
{
	enum { IN_SPACES, IN_WORD, IN_QUOTE } phase = IN_SPACES;
	struct sb_strbuf sb = SB_STRBUF_INIT;
	size_t n = 0, alloc = 0, w = 0;
	int32_t quote = 0, ch = 0;
	bool blank_ok = false;

	*words = NULL;
	for (size_t pos = 0; pos <= len; pos += w) {
		if (pos != len)
			ch = sb_utf8_decode(rest + pos, len - pos, &w);
		if (phase == IN_SPACES) {
			if (pos == len)
				break;
			if (sb_unicode_is_space(ch))
				continue;
			phase = IN_WORD;
		}
		if (pos == len) {
			if (blank_ok || sb.len > 0)
				push_str(a, words, &n, &alloc, strbuf_to_str(a, &sb));
			break;
		}
		if (phase == IN_WORD) {
			if (sb_unicode_is_space(ch)) {
				phase = IN_SPACES;
				if (blank_ok || sb.len > 0)
					push_str(a, words, &n, &alloc, strbuf_to_str(a, &sb));
				sb_strbuf_reset(&sb);
				blank_ok = false;
				continue;
			}
			if (ch == '\'' || ch == '"') {
				quote = ch;
				blank_ok = true;
				phase = IN_QUOTE;
			}
			if (ch == escape) {
				if (pos + w == len)
					continue;
				sb_strbuf_add_rune(&sb, ch);
				pos += w;
				ch = sb_utf8_decode(rest + pos, len - pos, &w);
			}
			sb_strbuf_add_rune(&sb, ch);
			continue;
		}
		/* IN_QUOTE */
		if (ch == quote)
			phase = IN_WORD;
		if (ch == escape && quote != '\'') {
			if (pos + w == len) {
				phase = IN_WORD;
				continue;
			}
			pos += w;
			sb_strbuf_add_rune(&sb, ch);
			ch = sb_utf8_decode(rest + pos, len - pos, &w);
		}
		sb_strbuf_add_rune(&sb, ch);
	}
	sb_strbuf_release(&sb);
	return n;
}

/* A chain of nodes from an array of strings. */
static struct sb_node *chain(struct sb_arena *a, const struct sb_str *v, size_t n)
{
	struct sb_node *head = NULL, **tail = &head;
	for (size_t i = 0; i < n; i++) {
		struct sb_node *node = sb_arena_alloc(a, sizeof(*node));
		node->value = v[i];
		*tail = node;
		tail = &node->next;
	}
	return head;
}

/* parseStringsWhitespaceDelimited: split on runs of [\t\v\f\r ]. */
static struct sb_node *parse_ws_delimited(struct sb_arena *a, const char *rest, size_t len)
{
	struct sb_node *head = NULL, **tail = &head;
	size_t i = 0;

	if (len == 0)
		return NULL;
	for (;;) {
		size_t start = i;
		while (i < len && !is_re_ws((unsigned char)rest[i]))
			i++;
		*tail = new_node(a, rest + start, i - start);
		tail = &(*tail)->next;
		if (i == len)
			break;
		while (i < len && is_re_ws((unsigned char)rest[i]))
			i++;
		/* regexp.Split yields an empty last field after a trailing
		 * separator, and BuildKit keeps it (the caller's TrimSpace
		 * makes that rare). */
	}
	return head;
}

static struct sb_node *parse_maybe_json(struct sb_parse_ctx *ctx, const char *rest, size_t len,
					bool *json, bool to_list, struct sb_error **err)
{
	struct sb_str *v = NULL;
	size_t n = 0;
	int r;

	if (len == 0 && !to_list)
		return NULL;
	r = sb_parse_json_strings(ctx->arena, rest, len, &v, &n, err);
	if (r < 0)
		return NULL;
	if (r > 0) {
		*json = true;
		return chain(ctx->arena, v, n);
	}
	if (to_list)
		return parse_ws_delimited(ctx->arena, rest, len);
	return new_node(ctx->arena, rest, len);
}

static struct sb_node *kv_node(struct sb_arena *a, const char *k, size_t kn, const char *v, size_t vn,
			       const char *sep, struct sb_node ***tail)
{
	struct sb_node *key = new_node(a, k, kn);
	key->next = new_node(a, v, vn);
	key->next->next = new_node(a, sep, strlen(sep));
	**tail = key;
	*tail = &key->next->next->next;
	return key;
}

/* parseNameVal for ENV and LABEL: `KEY=VALUE ...`, or the legacy
 * `KEY VALUE` (a space before any `=`). */
static struct sb_node *parse_name_val(struct sb_parse_ctx *ctx, const char *rest, size_t len,
				      const char *what, struct sb_error **err)
{
	struct sb_node *head = NULL, **tail = &head;
	struct sb_str *words;
	size_t n = parse_words(ctx->arena, rest, len, ctx->escape, &words);

	if (n == 0)
		return NULL;
	if (!memchr(words[0].ptr, '=', words[0].len)) {
		size_t i = 0, j;
		while (i < len && !is_re_ws((unsigned char)rest[i]))
			i++;
		if (i == len) {
			sb_error_setx(err, EINVAL, "%s must have two arguments", what);
			return NULL;
		}
		j = i;
		while (j < len && is_re_ws((unsigned char)rest[j]))
			j++;
		kv_node(ctx->arena, rest, i, rest + j, len - j, "", &tail);
		return head;
	}
	for (size_t i = 0; i < n; i++) {
		const char *eq = memchr(words[i].ptr, '=', words[i].len);
		if (!eq) {
			struct sb_strbuf q = SB_STRBUF_INIT;
			sb_go_quote(&q, words[i].ptr, words[i].len);
			sb_error_setx(err, EINVAL,
				      "Syntax error - can't find = in %s. Must be of the form: name=value",
				      q.buf);
			sb_strbuf_release(&q);
			return NULL;
		}
		kv_node(ctx->arena, words[i].ptr, (size_t)(eq - words[i].ptr), eq + 1,
			words[i].len - (size_t)(eq - words[i].ptr) - 1, "=", &tail);
	}
	return head;
}

/* parseHealthConfig: a type word, then the command as parseMaybeJSON. The
 * word boundary is found byte by byte, as BuildKit does. */
static struct sb_node *parse_health(struct sb_parse_ctx *ctx, const char *rest, size_t len, bool *json,
				    struct sb_error **err)
{
	size_t sep = 0, next;
	struct sb_node *typ;
	struct sb_error *e = NULL;

	while (sep < len && !is_space_byte((unsigned char)rest[sep]))
		sep++;
	next = sep;
	while (next < len && is_space_byte((unsigned char)rest[next]))
		next++;
	if (sep == 0)
		return NULL;
	typ = new_node(ctx->arena, rest, sep);
	typ->next = parse_maybe_json(ctx, rest + next, len - next, json, false, &e);
	if (e) {
		*err = e;
		return NULL;
	}
	return typ;
}

enum parser_kind {
	P_IGNORE, P_JSON_LIST, P_NAME_OR_NAMEVAL, P_MAYBE_JSON, P_ENV, P_LABEL, P_WS,
	P_HEALTH, P_STRING, P_SUBCOMMAND,
};

static const struct {
	const char *name;
	enum parser_kind kind;
} dispatch[] = {
	{ "add", P_JSON_LIST },      { "arg", P_NAME_OR_NAMEVAL }, { "cmd", P_MAYBE_JSON },
	{ "copy", P_JSON_LIST },     { "entrypoint", P_MAYBE_JSON }, { "env", P_ENV },
	{ "expose", P_WS },          { "from", P_WS },               { "healthcheck", P_HEALTH },
	{ "label", P_LABEL },        { "maintainer", P_STRING },     { "onbuild", P_SUBCOMMAND },
	{ "run", P_MAYBE_JSON },     { "shell", P_MAYBE_JSON },      { "stopsignal", P_STRING },
	{ "user", P_STRING },        { "volume", P_JSON_LIST },      { "workdir", P_STRING },
};

struct sb_node *sb_parse_instruction(struct sb_parse_ctx *ctx, const char *line, size_t len,
				     struct sb_error **err)
{
	struct sb_arena *a = ctx->arena;
	enum parser_kind kind = P_IGNORE;
	const char *t = line, *rest = NULL;
	size_t tn = len, cmdlen = 0, restlen = 0;
	struct sb_node *node;

	trim_space(&t, &tn);
	while (cmdlen < tn && !is_re_ws((unsigned char)t[cmdlen]))
		cmdlen++;

	node = sb_arena_alloc(a, sizeof(*node));
	node->value = str_dup(a, t, cmdlen);
	node->lower = go_to_lower(a, t, cmdlen);
	node->original = str_dup(a, line, len);

	if (cmdlen < tn) {
		const char *r = t + cmdlen;
		size_t rn = tn - cmdlen;
		while (rn && is_re_ws((unsigned char)*r)) {
			r++;
			rn--;
		}
		extract_flags(a, ctx->escape, r, rn, &rest, &restlen, &node->flags, &node->nflags);
		trim_space(&rest, &restlen);
	}
	if (!rest)
		rest = "";

	for (size_t i = 0; i < SB_ARRAY_SIZE(dispatch); i++) {
		if (node->lower.len == strlen(dispatch[i].name) &&
		    memcmp(node->lower.ptr, dispatch[i].name, node->lower.len) == 0) {
			kind = dispatch[i].kind;
			break;
		}
	}

	switch (kind) {
	case P_IGNORE:
		node->next = sb_arena_alloc(a, sizeof(*node));
		node->next->value = str_dup(a, "", 0);
		break;
	case P_JSON_LIST:
		node->next = parse_maybe_json(ctx, rest, restlen, &node->json, true, err);
		break;
	case P_MAYBE_JSON:
		node->next = parse_maybe_json(ctx, rest, restlen, &node->json, false, err);
		break;
	case P_NAME_OR_NAMEVAL: {
		struct sb_str *words;
		size_t n = parse_words(a, rest, restlen, ctx->escape, &words);
		node->next = chain(a, words, n);
		break;
	}
	case P_ENV:
		node->next = parse_name_val(ctx, rest, restlen, "ENV", err);
		break;
	case P_LABEL:
		node->next = parse_name_val(ctx, rest, restlen, "LABEL", err);
		break;
	case P_WS:
		node->next = parse_ws_delimited(a, rest, restlen);
		break;
	case P_HEALTH:
		node->next = parse_health(ctx, rest, restlen, &node->json, err);
		break;
	case P_STRING:
		node->next = restlen ? new_node(a, rest, restlen) : NULL;
		break;
	case P_SUBCOMMAND:
		if (restlen) {
			struct sb_node *child;
			/* Go's growable stacks take any nesting; a C stack
			 * does not, and no Dockerfile nests ONBUILD this deep
			 * (BuildKit refuses ONBUILD ONBUILD later anyway). */
			if (ctx->depth >= SB_MAX_ONBUILD_DEPTH) {
				sb_error_setx(err, EINVAL, "ONBUILD nested more than %d deep",
					      SB_MAX_ONBUILD_DEPTH);
				return NULL;
			}
			ctx->depth++;
			child = sb_parse_instruction(ctx, rest, restlen, err);
			ctx->depth--;
			if (!child)
				return NULL;
			node->next = sb_arena_alloc(a, sizeof(*node));
			node->next->value = str_dup(a, "", 0);
			node->next->children = sb_arena_alloc(a, sizeof(struct sb_node *));
			node->next->children[0] = child;
			node->next->nchildren = 1;
		}
		break;
	}
	if (err && *err)
		return NULL;
	return node;
}
