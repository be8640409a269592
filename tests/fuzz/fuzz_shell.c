/* libFuzzer target: the shell-word expander, in every lexer mode BuildKit
 * uses and with both escape tokens. Any input must expand or fail with an
 * error; neither may crash, leak or read out of bounds, and what comes back
 * must keep the contract of parser/shell.h. */
#include "parser/shell.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Values with pattern characters, blanks, a newline, an invalid byte and
 * "$0" for ReplaceAllString, so that the operators have something to chew
 * on; later entries win. */
static const char *const env_kv[] = {
	"PWD=/home", "A=abab", "STAR=a*b?c\\d", "SP= a  b ", "NL=l1\nl2", "BAD=\xff\xe2\x82x",
	"TPL=<$0|$$|${0}|$1>", "EMPTY=", "NOEQ", "=anon", "A=aXbXa", "U=\xc3\xa9t\xc3\xa9",
};

/* raw quotes, raw escapes, skip quotes, skip unset: plain expansion, the
 * heredoc detection, heredoc bodies, and the rest for coverage */
static const unsigned modes[] = { 0, 1 | 2 | 8, 4 | 8, 4, 1, 2, 8, 1 | 2 | 4 | 8 };

static void check_sorted(char **v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (strcmp(v[i - 1], v[i]) >= 0)
			abort();
}

static void run(const char *in, size_t len, char escape, unsigned mode, const struct sb_shlex_env *env)
{
	struct sb_shlex lex;
	struct sb_shlex_result res;
	struct sb_error *err = NULL;

	sb_shlex_init(&lex, escape);
	lex.raw_quotes = mode & 1;
	lex.raw_escapes = mode & 2;
	lex.skip_process_quotes = mode & 4;
	lex.skip_unset_env = mode & 8;
	/* small enough that substitutions multiplying their input fail fast */
	lex.max_len = (size_t)1 << 18;

	if (sb_shlex_process(&lex, in, len, env, &res, &err) < 0) {
		if (!err || strncmp(err->msg, "failed to process \"", 19) != 0)
			abort();
		if (err->code != EINVAL && err->code != E2BIG)
			abort();
		if (res.result || res.words || res.nwords || res.matched || res.unmatched)
			abort();
		sb_error_free(err);
		return;
	}
	if (err || !res.result || res.result[res.result_len] != '\0')
		abort();
	/* BuildKit never makes an empty word; a word can only look empty
	 * here when it starts with a NUL of the input */
	for (size_t i = 0; i < res.nwords; i++)
		if (!res.words[i][0] && !memchr(in, '\0', len))
			abort();
	if (!memchr(in, '\0', len) && strlen(res.result) != res.result_len)
		abort();
	check_sorted(res.matched, res.nmatched);
	check_sorted(res.unmatched, res.nunmatched);
	/* the environment does not change during a call */
	for (size_t i = 0, j = 0; i < res.nmatched && j < res.nunmatched;) {
		int c = strcmp(res.matched[i], res.unmatched[j]);
		if (c == 0)
			abort();
		if (c < 0)
			i++;
		else
			j++;
	}
	sb_shlex_result_release(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_shlex_envlist list = { env_kv, SB_ARRAY_SIZE(env_kv) };
	struct sb_shlex_env env;
	char **words = NULL;
	size_t nwords = 0;
	struct sb_error *err = NULL;
	struct sb_shlex lex;

	sb_shlex_env_from_list(&env, &list);
	for (size_t m = 0; m < SB_ARRAY_SIZE(modes); m++) {
		run((const char *)data, size, '\\', modes[m], &env);
		run((const char *)data, size, '`', modes[m], &env);
	}

	/* the wrapper, with no environment at all */
	sb_shlex_init(&lex, '\\');
	lex.max_len = (size_t)1 << 18;
	if (sb_shlex_process_words(&lex, (const char *)data, size, NULL, &words, &nwords, &err) < 0) {
		if (words || nwords || !err)
			abort();
		sb_error_free(err);
	} else {
		sb_strv_free(words, nwords);
	}
	return 0;
}
