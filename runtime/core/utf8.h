/* UTF-8 and Unicode helpers that reproduce Go's standard library exactly,
 * because BuildKit's behaviour is defined by it: utf8.DecodeRune,
 * unicode.IsSpace, strconv.IsPrint and strconv.Quote (Unicode 15.0, as
 * current Go releases). */
#ifndef SB_UTF8_H
#define SB_UTF8_H

#include "runtime/core/common.h"
#include "runtime/core/strbuf.h"

#define SB_RUNE_ERROR 0xFFFD

/* Decode one rune from s[0..n). n must be > 0. Invalid or truncated input
 * decodes as (SB_RUNE_ERROR, width 1), as Go's utf8.DecodeRune. */
int32_t sb_utf8_decode(const char *s, size_t n, size_t *width);
/* Encode r (invalid runes as U+FFFD) into out; returns the byte count (1-4). */
size_t sb_utf8_encode(int32_t r, char out[4]);
/* Append rune r as UTF-8; returns sb_strbuf_add's result. */
int sb_strbuf_add_rune(struct sb_strbuf *sb, int32_t r);
/* Go's unicode.IsSpace. */
bool sb_unicode_is_space(int32_t r);
/* Go's strconv.IsPrint. */
bool sb_unicode_is_print(int32_t r);
/* Append s[0..n) quoted as Go's strconv.Quote. */
int sb_go_quote(struct sb_strbuf *sb, const char *s, size_t n);

#endif
