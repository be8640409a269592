#include "runtime/core/utf8.h"

extern const uint32_t sb_unicode_print_ranges[][2];
extern const size_t sb_unicode_print_nranges;

int32_t sb_utf8_decode(const char *str, size_t n, size_t *width)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char c = s[0];
	int32_t r;
	size_t need;
	unsigned char lo = 0x80, hi = 0xBF;

	*width = 1;
	if (c < 0x80)
		return c;
	if (c < 0xC2)
		return SB_RUNE_ERROR;
	if (c < 0xE0) {
		need = 1;
		r = c & 0x1F;
	} else if (c < 0xF0) {
		need = 2;
		r = c & 0x0F;
		if (c == 0xE0)
			lo = 0xA0; /* no overlong forms */
		else if (c == 0xED)
			hi = 0x9F; /* no surrogates */
	} else if (c < 0xF5) {
		need = 3;
		r = c & 0x07;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F; /* nothing past U+10FFFF */
	} else {
		return SB_RUNE_ERROR;
	}
	if (n < need + 1)
		return SB_RUNE_ERROR;
	if (s[1] < lo || s[1] > hi)
		return SB_RUNE_ERROR;
	r = (r << 6) | (s[1] & 0x3F);
	for (size_t i = 2; i <= need; i++) {
		if (s[i] < 0x80 || s[i] > 0xBF)
			return SB_RUNE_ERROR;
		r = (r << 6) | (s[i] & 0x3F);
	}
	*width = need + 1;
	return r;
}

size_t sb_utf8_encode(int32_t r, char out[4])
{
	if (r < 0 || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
		r = SB_RUNE_ERROR;
	if (r < 0x80) {
		out[0] = (char)r;
		return 1;
	}
	if (r < 0x800) {
		out[0] = (char)(0xC0 | (r >> 6));
		out[1] = (char)(0x80 | (r & 0x3F));
		return 2;
	}
	if (r < 0x10000) {
		out[0] = (char)(0xE0 | (r >> 12));
		out[1] = (char)(0x80 | ((r >> 6) & 0x3F));
		out[2] = (char)(0x80 | (r & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (r >> 18));
	out[1] = (char)(0x80 | ((r >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((r >> 6) & 0x3F));
	out[3] = (char)(0x80 | (r & 0x3F));
	return 4;
}

int sb_strbuf_add_rune(struct sb_strbuf *sb, int32_t r)
{
	char b[4];
	size_t n = sb_utf8_encode(r, b);
	return sb_strbuf_add(sb, b, n);
}

bool sb_unicode_is_space(int32_t r)
{
	/* Go's unicode.IsSpace: the Latin-1 set below, then White_Space. */
	switch (r) {
	case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
	case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
	case 0x202F: case 0x205F: case 0x3000:
		return true;
	default:
		return r >= 0x2000 && r <= 0x200A;
	}
}

bool sb_unicode_is_print(int32_t r)
{
	size_t lo = 0, hi = sb_unicode_print_nranges;
	if (r < 0)
		return false;
	if (r < 0x7F)
		return r >= 0x20;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((uint32_t)r < sb_unicode_print_ranges[mid][0])
			hi = mid;
		else if ((uint32_t)r > sb_unicode_print_ranges[mid][1])
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

int sb_go_quote(struct sb_strbuf *sb, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, w;
	int rc = sb_strbuf_addc(sb, '"');

	while (rc == 0 && i < n) {
		int32_t r = sb_utf8_decode(s + i, n - i, &w);
		char esc[11];
		if (w == 1 && r == SB_RUNE_ERROR) {
			unsigned char b = (unsigned char)s[i];
			esc[0] = '\\'; esc[1] = 'x'; esc[2] = hex[b >> 4]; esc[3] = hex[b & 15];
			rc = sb_strbuf_add(sb, esc, 4);
		} else if (r == '"' || r == '\\') {
			esc[0] = '\\'; esc[1] = (char)r;
			rc = sb_strbuf_add(sb, esc, 2);
		} else if (sb_unicode_is_print(r)) {
			rc = sb_strbuf_add(sb, s + i, w);
		} else {
			const char *named = NULL;
			switch (r) {
			case '\a': named = "\\a"; break;
			case '\b': named = "\\b"; break;
			case '\f': named = "\\f"; break;
			case '\n': named = "\\n"; break;
			case '\r': named = "\\r"; break;
			case '\t': named = "\\t"; break;
			case '\v': named = "\\v"; break;
			default: break;
			}
			if (named) {
				rc = sb_strbuf_add(sb, named, 2);
			} else if (r < ' ' || r == 0x7F) {
				esc[0] = '\\'; esc[1] = 'x'; esc[2] = hex[(r >> 4) & 15]; esc[3] = hex[r & 15];
				rc = sb_strbuf_add(sb, esc, 4);
			} else if (r < 0x10000) {
				esc[0] = '\\'; esc[1] = 'u';
				for (int k = 0; k < 4; k++)
					esc[2 + k] = hex[(r >> (12 - 4 * k)) & 15];
				rc = sb_strbuf_add(sb, esc, 6);
			} else {
				esc[0] = '\\'; esc[1] = 'U';
				for (int k = 0; k < 8; k++)
					esc[2 + k] = hex[(r >> (28 - 4 * k)) & 15];
				rc = sb_strbuf_add(sb, esc, 10);
			}
		}
		i += w;
	}
	return rc ? rc : sb_strbuf_addc(sb, '"');
}
