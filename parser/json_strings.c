/* The exec form's JSON, read exactly as BuildKit's json.Unmarshal into
 * []any reads it: strict RFC 8259 syntax, nesting up to Go's limit of
 * 10000, invalid UTF-8 inside strings replaced by U+FFFD, lone surrogate
 * escapes replaced by U+FFFD. Anything that is not valid JSON makes the
 * caller fall back to shell form; valid JSON with a non-string element is
 * an error. */
#include "parser/parser.h"
#include "runtime/core/utf8.h"

#define GO_JSON_MAX_DEPTH 10000

struct jscan {
	const char *s;
	size_t n, i;
};

static bool is_jws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(struct jscan *j)
{
	while (j->i < j->n && is_jws(j->s[j->i]))
		j->i++;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Validate a string starting at the opening quote; leaves i after it. */
static bool scan_string(struct jscan *j)
{
	j->i++;
	while (j->i < j->n) {
		unsigned char c = (unsigned char)j->s[j->i];
		if (c == '"') {
			j->i++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			char e;
			if (++j->i >= j->n)
				return false;
			e = j->s[j->i];
			if (e == 'u') {
				for (int k = 1; k <= 4; k++)
					if (j->i + (size_t)k >= j->n || !is_hex(j->s[j->i + (size_t)k]))
						return false;
				j->i += 5;
				continue;
			}
			if (!strchr("\"\\/bfnrt", e) || e == '\0')
				return false;
		}
		j->i++;
	}
	return false;
}

static bool scan_number(struct jscan *j)
{
	size_t i = j->i;
	const char *s = j->s;
	if (i < j->n && s[i] == '-')
		i++;
	if (i >= j->n)
		return false;
	if (s[i] == '0') {
		i++;
	} else if (s[i] >= '1' && s[i] <= '9') {
		while (i < j->n && s[i] >= '0' && s[i] <= '9')
			i++;
	} else {
		return false;
	}
	if (i < j->n && s[i] == '.') {
		i++;
		if (i >= j->n || s[i] < '0' || s[i] > '9')
			return false;
		while (i < j->n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < j->n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < j->n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= j->n || s[i] < '0' || s[i] > '9')
			return false;
		while (i < j->n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	j->i = i;
	return true;
}

static bool scan_literal(struct jscan *j, const char *lit)
{
	size_t k = strlen(lit);
	if (j->n - j->i < k || memcmp(j->s + j->i, lit, k) != 0)
		return false;
	j->i += k;
	return true;
}

/* Validate one whole JSON document (Go's checkValid), iteratively so that
 * nesting costs no C stack. */
static bool json_valid(const char *s, size_t n)
{
	struct jscan j = { s, n, 0 };
	char stack[GO_JSON_MAX_DEPTH + 1]; /* '[' or '{' per level */
	int depth = 0;

	skip_ws(&j);
	for (;;) {
		/* expect a value */
		skip_ws(&j);
		if (j.i >= j.n)
			return false;
		switch (j.s[j.i]) {
		case '[':
		case '{':
			if (depth >= GO_JSON_MAX_DEPTH)
				return false;
			stack[depth++] = j.s[j.i];
			j.i++;
			skip_ws(&j);
			if (j.i < j.n && j.s[j.i] == (stack[depth - 1] == '[' ? ']' : '}')) {
				j.i++;
				depth--;
				goto after_value;
			}
			if (stack[depth - 1] == '{') {
				if (j.i >= j.n || j.s[j.i] != '"' || !scan_string(&j))
					return false;
				skip_ws(&j);
				if (j.i >= j.n || j.s[j.i] != ':')
					return false;
				j.i++;
			}
			continue;
		case '"':
			if (!scan_string(&j))
				return false;
			break;
		case 't':
			if (!scan_literal(&j, "true"))
				return false;
			break;
		case 'f':
			if (!scan_literal(&j, "false"))
				return false;
			break;
		case 'n':
			if (!scan_literal(&j, "null"))
				return false;
			break;
		default:
			if (!scan_number(&j))
				return false;
			break;
		}
after_value:
		for (;;) {
			skip_ws(&j);
			if (depth == 0)
				return j.i == j.n;
			if (j.i >= j.n)
				return false;
			if (j.s[j.i] == ',') {
				j.i++;
				if (stack[depth - 1] == '{') {
					skip_ws(&j);
					if (j.i >= j.n || j.s[j.i] != '"' || !scan_string(&j))
						return false;
					skip_ws(&j);
					if (j.i >= j.n || j.s[j.i] != ':')
						return false;
					j.i++;
				}
				break; /* next value */
			}
			if (j.s[j.i] == (stack[depth - 1] == '[' ? ']' : '}')) {
				j.i++;
				depth--;
				continue;
			}
			return false;
		}
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return c - 'A' + 10;
}

static int32_t get_u4(const char *p)
{
	return (hexval(p[0]) << 12) | (hexval(p[1]) << 8) | (hexval(p[2]) << 4) | hexval(p[3]);
}

/* Decode a validated string literal s[0..n) (quotes excluded), as Go's
 * unquote. */
static struct sb_str decode_string(struct sb_arena *a, const char *s, size_t n)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	struct sb_str out;
	size_t i = 0, w;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\') {
			char e = s[i + 1];
			i += 2;
			switch (e) {
			case 'b': sb_strbuf_addc(&sb, '\b'); break;
			case 'f': sb_strbuf_addc(&sb, '\f'); break;
			case 'n': sb_strbuf_addc(&sb, '\n'); break;
			case 'r': sb_strbuf_addc(&sb, '\r'); break;
			case 't': sb_strbuf_addc(&sb, '\t'); break;
			case 'u': {
				int32_t r = get_u4(s + i);
				i += 4;
				if (r >= 0xD800 && r < 0xE000) {
					int32_t r2;
					if (r < 0xDC00 && i + 6 <= n && s[i] == '\\' && s[i + 1] == 'u' &&
					    (r2 = get_u4(s + i + 2)) >= 0xDC00 && r2 < 0xE000) {
						r = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
						i += 6;
					} else {
						r = SB_RUNE_ERROR;
					}
				}
				sb_strbuf_add_rune(&sb, r);
				break;
			}
			default: /* " \ / */
				sb_strbuf_addc(&sb, e);
				break;
			}
			continue;
		}
		if (c < 0x80) {
			sb_strbuf_addc(&sb, (char)c);
			i++;
			continue;
		}
		{
			int32_t r = sb_utf8_decode(s + i, n - i, &w);
			if (r == SB_RUNE_ERROR && w == 1)
				sb_strbuf_add_rune(&sb, SB_RUNE_ERROR);
			else
				sb_strbuf_add(&sb, s + i, w);
			i += w;
		}
	}
	out.ptr = sb_arena_strndup(a, sb.buf, sb.len);
	out.len = sb.len;
	sb_strbuf_release(&sb);
	return out;
}

int sb_parse_json_strings(struct sb_arena *a, const char *s, size_t n, struct sb_str **out,
			  size_t *nout, struct sb_error **err)
{
	size_t i = 0, w, count = 0, alloc = 0;
	struct sb_str *v = NULL;
	struct jscan j;

	*out = NULL;
	*nout = 0;
	/* strings.TrimLeftFunc(rest, unicode.IsSpace), then a '[' prefix. */
	while (i < n) {
		int32_t r = sb_utf8_decode(s + i, n - i, &w);
		if (!sb_unicode_is_space(r))
			break;
		i += w;
	}
	s += i;
	n -= i;
	if (n == 0 || s[0] != '[')
		return 0;
	if (!json_valid(s, n))
		return 0;

	j.s = s;
	j.n = n;
	j.i = 1;
	for (;;) {
		size_t start;
		skip_ws(&j);
		if (s[j.i] == ']')
			break;
		if (s[j.i] != '"') {
			sb_error_setx(err, EINVAL,
				      "when using JSON array syntax, arrays must be comprised of strings only");
			return -1;
		}
		start = j.i;
		scan_string(&j);
		if (count == alloc) {
			size_t na = alloc ? alloc * 2 : 4;
			struct sb_str *nv = sb_arena_calloc(a, na, sizeof(*nv));
			if (count)
				memcpy(nv, v, count * sizeof(*nv));
			v = nv;
			alloc = na;
		}
		v[count++] = decode_string(a, s + start + 1, j.i - start - 2);
		skip_ws(&j);
		if (s[j.i] == ',')
			j.i++;
	}
	*out = v;
	*nout = count;
	return 1;
}
