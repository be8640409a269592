/* Parser API tests: what the dump does not show (lines, heredoc bodies,
 * directives, warnings, comments, the exec-form bit) and the errors. */
#include "tests/unit/sb_test.h"

#include "parser/parser.h"

static struct sb_dockerfile *parse(const char *text)
{
	struct sb_error *err = NULL;
	struct sb_dockerfile *df = sb_dockerfile_parse("Dockerfile", text, strlen(text), &err);
	if (!df)
		fail_msg("unexpected error: %s", err->msg);
	return df;
}

static void expect_error(const char *text, const char *msg)
{
	struct sb_error *err = NULL;
	struct sb_dockerfile *df = sb_dockerfile_parse("Dockerfile", text, strlen(text), &err);
	assert_null(df);
	assert_non_null(err);
	assert_string_equal(err->msg, msg);
	sb_error_free(err);
}

static const char *dump(struct sb_dockerfile *df, struct sb_strbuf *sb)
{
	sb_strbuf_reset(sb);
	assert_int_equal(sb_dockerfile_dump(df, sb), 0);
	return sb->buf;
}

static void test_lines_and_continuations(void **state)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	struct sb_dockerfile *df = parse("FROM a\n"
					 "\n"
					 "RUN one \\\n"
					 "  # inside\n"
					 "    two \\\n"
					 "three\n"
					 "CMD x\n");
	(void)state;
	assert_int_equal(df->root->nchildren, 3);
	assert_int_equal(df->root->children[0]->start_line, 1);
	assert_int_equal(df->root->children[0]->end_line, 1);
	assert_int_equal(df->root->children[1]->start_line, 3);
	assert_int_equal(df->root->children[1]->end_line, 6);
	assert_int_equal(df->root->children[2]->start_line, 7);
	assert_string_equal(dump(df, &sb), "(from \"a\")\n(run \"one     two three\")\n(cmd \"x\")\n");
	assert_int_equal(df->nwarnings, 0);
	sb_dockerfile_free(df);
	sb_strbuf_release(&sb);
}

static void test_empty_continuation_warns(void **state)
{
	struct sb_dockerfile *df = parse("FROM a\nRUN a \\\n\n  b\n");
	(void)state;
	assert_int_equal(df->nwarnings, 1);
	assert_int_equal(df->warnings[0].line, 4);
	assert_string_equal(df->warnings[0].msg, "Empty continuation line found in: RUN a   b");
	sb_dockerfile_free(df);
}

static void test_escaped_escape_does_not_continue(void **state)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	struct sb_dockerfile *df = parse("FROM a\nRUN echo \\\\\nRUN b\n");
	(void)state;
	assert_int_equal(df->root->nchildren, 3);
	assert_string_equal(dump(df, &sb), "(from \"a\")\n(run \"echo \\\\\\\\\")\n(run \"b\")\n");
	sb_dockerfile_free(df);
	sb_strbuf_release(&sb);
}

static void test_directives(void **state)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	struct sb_dockerfile *df = parse("\xEF\xBB\xBF# syntax = docker/dockerfile:1.7\n"
					 "#ESCAPE=`\n"
					 "# check=skip=all\n"
					 "# hello\n"
					 "# escape=\\\n" /* no longer a directive: a comment */
					 "FROM a\n"
					 "RUN dir c:\\ `\n"
					 "  && echo\n");
	(void)state;
	assert_int_equal(df->ndirectives, 3);
	assert_string_equal(df->directives[0].name.ptr, "syntax");
	assert_string_equal(df->directives[0].value.ptr, "docker/dockerfile:1.7");
	assert_int_equal(df->directives[0].line, 1);
	assert_string_equal(df->directives[1].name.ptr, "escape");
	assert_string_equal(df->directives[1].value.ptr, "`");
	assert_string_equal(df->directives[2].value.ptr, "skip=all");
	assert_int_equal(df->escape, '`');
	assert_string_equal(dump(df, &sb), "(from \"a\")\n(run \"dir c:\\\\   && echo\")\n");
	sb_dockerfile_free(df);
	sb_strbuf_release(&sb);
}

static void test_directive_errors(void **state)
{
	(void)state;
	expect_error("# escape=x\nFROM a\n",
		     "Dockerfile:1: invalid escape token 'x' does not match ` or \\");
	expect_error("# syntax=a\n# syntax=b\nFROM a\n",
		     "Dockerfile:2: only one syntax parser directive can be used");
}

static void test_comments_attached(void **state)
{
	struct sb_dockerfile *df = parse("# syntax=x\n# first\n#\n# second\n  # third\nFROM a\n");
	struct sb_node *from;
	(void)state;
	from = df->root->children[0];
	/* an empty comment line resets the run; the directive is not a comment */
	assert_int_equal(from->ncomments, 2);
	assert_string_equal(from->comments[0].ptr, "second");
	/* BuildKit trims from the second byte of the untrimmed line */
	assert_string_equal(from->comments[1].ptr, "# third");
	sb_dockerfile_free(df);
}

static void test_heredocs(void **state)
{
	struct sb_dockerfile *df = parse("FROM a\n"
					 "RUN <<EOF 3<<-'END' cat\n"
					 "echo $HOME\n"
					 "EOF\n"
					 "\tquoted\n"
					 "\tEND\n"
					 "COPY <<\"A\"b /dst\n"
					 "x\r\n"
					 "Ab\r\n"
					 "RUN [\"sh\", \"<<EOF\"]\n"
					 "CMD <<EOF\n");
	struct sb_node *run, *copy;
	(void)state;
	assert_int_equal(df->root->nchildren, 5);
	run = df->root->children[1];
	assert_int_equal(run->nheredocs, 2);
	assert_string_equal(run->heredocs[0].name.ptr, "EOF");
	assert_string_equal(run->heredocs[0].content.ptr, "echo $HOME\n");
	assert_true(run->heredocs[0].expand);
	assert_false(run->heredocs[0].chomp);
	assert_int_equal(run->heredocs[0].fd, 0);
	assert_string_equal(run->heredocs[1].name.ptr, "END");
	assert_string_equal(run->heredocs[1].content.ptr, "\tquoted\n");
	assert_false(run->heredocs[1].expand);
	assert_true(run->heredocs[1].chomp);
	assert_int_equal(run->heredocs[1].fd, 3);
	assert_int_equal(run->start_line, 2);
	assert_int_equal(run->end_line, 6);
	copy = df->root->children[2];
	assert_int_equal(copy->nheredocs, 1);
	assert_string_equal(copy->heredocs[0].name.ptr, "Ab");
	assert_false(copy->heredocs[0].expand);
	assert_string_equal(copy->heredocs[0].content.ptr, "x\r\n");
	/* exec form and CMD take no heredocs */
	assert_int_equal(df->root->children[3]->nheredocs, 0);
	assert_true(df->root->children[3]->json);
	assert_int_equal(df->root->children[4]->nheredocs, 0);
	sb_dockerfile_free(df);
}

static void test_onbuild_heredoc(void **state)
{
	struct sb_dockerfile *df = parse("FROM a\nONBUILD RUN <<EOF\nhi\nEOF\nCMD b\n");
	(void)state;
	assert_int_equal(df->root->nchildren, 3);
	assert_int_equal(df->root->children[1]->nheredocs, 1);
	assert_string_equal(df->root->children[1]->heredocs[0].content.ptr, "hi\n");
	sb_dockerfile_free(df);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("", "Dockerfile:1: file with no instructions");
	expect_error("# just a comment\n\n\n", "Dockerfile:3: file with no instructions");
	expect_error("FROM a\nRUN <<EOF\nno end\n", "Dockerfile:2: unterminated heredoc");
	expect_error("FROM a\nCMD [\"a\", 1]\n",
		     "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only");
	expect_error("FROM a\nENV onlyone\n", "Dockerfile:2: ENV must have two arguments");
	expect_error("FROM a\nLABEL x\n", "Dockerfile:2: LABEL must have two arguments");
	expect_error("FROM a\nENV a=b c\n",
		     "Dockerfile:2: Syntax error - can't find = in \"c\". Must be of the form: name=value");
}

static void test_line_limit(void **state)
{
	struct sb_error *err = NULL;
	size_t n = 5 + SB_DOCKERFILE_MAX_LINE + 1;
	char *text = malloc(n + 2);
	struct sb_dockerfile *df;
	(void)state;
	/* "RUN " + x... : exactly 65535 bytes then '\n' is accepted */
	memcpy(text, "FROM a\n", 7);
	memcpy(text + 7, "RUN ", 4);
	memset(text + 11, 'x', SB_DOCKERFILE_MAX_LINE - 4);
	text[7 + SB_DOCKERFILE_MAX_LINE] = '\n';
	df = sb_dockerfile_parse("Dockerfile", text, 7 + SB_DOCKERFILE_MAX_LINE + 1, &err);
	assert_non_null(df);
	sb_dockerfile_free(df);
	/* one byte more is refused */
	text = realloc(text, 7 + SB_DOCKERFILE_MAX_LINE + 2);
	text[7 + SB_DOCKERFILE_MAX_LINE] = 'x';
	text[7 + SB_DOCKERFILE_MAX_LINE + 1] = '\n';
	df = sb_dockerfile_parse("Dockerfile", text, 7 + SB_DOCKERFILE_MAX_LINE + 2, &err);
	assert_null(df);
	assert_string_equal(err->msg, "Dockerfile:2: dockerfile line greater than max allowed size of 65535");
	sb_error_free(err);
	free(text);
	(void)n;
}

static void test_json_output(void **state)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	struct sb_error *err = NULL;
	struct sb_dockerfile *df = parse("# escape=\\\nFROM a\nCOPY --from=b [\"x\", \"y\"]\nRUN <<EOF\nbody\nEOF\n");
	(void)state;
	assert_int_equal(sb_dockerfile_to_json(df, &sb, &err), 0);
	assert_non_null(strstr(sb.buf, "\"name\": \"COPY\""));
	assert_non_null(strstr(sb.buf, "\"--from=b\""));
	assert_non_null(strstr(sb.buf, "\"json\": true"));
	assert_non_null(strstr(sb.buf, "\"body\": \"body\\n\""));
	assert_non_null(strstr(sb.buf, "\"start_line\": 4"));
	assert_non_null(strstr(sb.buf, "\"end_line\": 6"));
	assert_non_null(strstr(sb.buf, "\"value\": \"\\\\\""));
	sb_strbuf_release(&sb);
	sb_dockerfile_free(df);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_and_continuations),
		cmocka_unit_test(test_empty_continuation_warns),
		cmocka_unit_test(test_escaped_escape_does_not_continue),
		cmocka_unit_test(test_directives),
		cmocka_unit_test(test_directive_errors),
		cmocka_unit_test(test_comments_attached),
		cmocka_unit_test(test_heredocs),
		cmocka_unit_test(test_onbuild_heredoc),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_json_output),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
