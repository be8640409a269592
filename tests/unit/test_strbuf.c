#include "tests/unit/sb_test.h"

#include "runtime/core/strbuf.h"
#include "runtime/core/utf8.h"
#include "runtime/core/error.h"

static void test_strbuf_basic(void **state)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	(void)state;
	assert_string_equal(sb.buf, "");
	assert_int_equal(sb_strbuf_adds(&sb, "abc"), 0);
	assert_int_equal(sb_strbuf_addf(&sb, "-%d-", 42), 0);
	assert_string_equal(sb.buf, "abc-42-");
	sb_strbuf_truncate(&sb, 2);
	assert_string_equal(sb.buf, "ab");
	sb_strbuf_release(&sb);
	assert_string_equal(sb.buf, "");
}

static void test_strbuf_max(void **state)
{
	struct sb_strbuf sb;
	(void)state;
	sb_strbuf_init(&sb, 4);
	assert_int_equal(sb_strbuf_adds(&sb, "abcd"), 0);
	assert_int_equal(sb_strbuf_addc(&sb, 'e'), -1);
	assert_int_equal(errno, E2BIG);
	assert_string_equal(sb.buf, "abcd");
	sb_strbuf_release(&sb);
}

static void test_strbuf_long_format(void **state)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	char big[1000];
	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(sb_strbuf_addf(&sb, "<%s>", big), 0);
	assert_int_equal(sb.len, 1001);
	assert_int_equal(sb.buf[1000], '>');
	free(sb_strbuf_detach(&sb, NULL));
}

static void check_quote(const char *in, size_t n, const char *want)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	assert_int_equal(sb_go_quote(&sb, in, n), 0);
	assert_string_equal(sb.buf, want);
	sb_strbuf_release(&sb);
}

static void test_go_quote(void **state)
{
	(void)state;
	check_quote("abc", 3, "\"abc\"");
	check_quote("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
	check_quote("\a\b\f\n\r\t\v", 7, "\"\\a\\b\\f\\n\\r\\t\\v\"");
	check_quote("\x01\x7f", 2, "\"\\x01\\x7f\"");
	check_quote("\xff", 1, "\"\\xff\"");
	check_quote("\xc3\xa9", 2, "\"\xc3\xa9\"");          /* é printable */
	check_quote("\xc2\xa0", 2, "\"\\u00a0\"");           /* NBSP not printable */
	check_quote("\xe2\x80\x8b", 3, "\"\\u200b\"");       /* ZWSP (Cf) */
	check_quote("\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\""); /* emoji */
	check_quote("\xf3\xa0\x80\x81", 4, "\"\\U000e0001\"");     /* tag char */
	check_quote("\xed\xa0\x80", 3, "\"\\xed\\xa0\\x80\"");     /* surrogate */
	check_quote("\xef\xbf\xbd", 3, "\"\xef\xbf\xbd\"");       /* real U+FFFD */
	check_quote("a\0b", 3, "\"a\\x00b\"");
}

static void test_error_wrap(void **state)
{
	struct sb_error *err = NULL;
	(void)state;
	assert_int_equal(sb_error_set(&err, ENOENT, "open %s", "x"), -1);
	assert_int_equal(sb_error_wrap(&err, "unpack %d", 1), -1);
	assert_string_equal(err->msg, "unpack 1: open x: No such file or directory");
	assert_int_equal(err->code, ENOENT);
	/* a second set does not overwrite the first error */
	sb_error_set(&err, EIO, "other");
	assert_int_equal(err->code, ENOENT);
	sb_error_free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strbuf_basic),
		cmocka_unit_test(test_strbuf_max),
		cmocka_unit_test(test_strbuf_long_format),
		cmocka_unit_test(test_go_quote),
		cmocka_unit_test(test_error_wrap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
