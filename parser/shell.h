/* The shell-word expander, as BuildKit's frontend/dockerfile/shell Lex.
 *
 * Used by the parser (heredoc detection) and later by stages/ for ENV, ARG,
 * COPY, WORKDIR, EXPOSE, ... Expands $v, ${v}, ${v:-w}, ${v-w}, ${v:+w},
 * ${v+w}, ${v:?msg}, ${v?msg}, ${v#p}, ${v##p}, ${v%p}, ${v%%p}, ${v/a/b},
 * ${v//a/b}, with BuildKit's quoting and escaping rules, and splits words
 * where BuildKit splits.
 */
#ifndef SB_PARSER_SHELL_H
#define SB_PARSER_SHELL_H

#include "runtime/core/error.h"
#include "runtime/core/strv.h"

/* Bounds BuildKit does not have. One call builds at most max_len bytes in
 * all (results, words, intermediate strings, pattern matchers), so nested
 * ${v//p/r} cannot multiply without limit; past it the call fails with
 * E2BIG. Substitutions nest at most SB_SHLEX_MAX_DEPTH deep (E2BIG past
 * that), as the expander recurses. */
#define SB_SHLEX_MAX_LEN ((size_t)64 << 20)
#define SB_SHLEX_MAX_DEPTH 1000

struct sb_shlex {
	char escape;              /* '\\' (default) or '`' */
	bool raw_quotes;          /* keep quote characters in the result */
	bool raw_escapes;         /* keep escape characters in the result */
	bool skip_process_quotes; /* treat quotes as ordinary characters */
	bool skip_unset_env;      /* leave $unset references as written */
	size_t max_len;           /* bytes one call may build; 0: SB_SHLEX_MAX_LEN */
};

/* Initialise with BuildKit's defaults for the given escape token. */
void sb_shlex_init(struct sb_shlex *lex, char escape);

/* Variable lookup. get() returns the value of name[0..len) or NULL when it is
 * unset (an empty string is set-but-empty). */
struct sb_shlex_env {
	const char *(*get)(void *ctx, const char *name, size_t len);
	void *ctx;
};

/* An environment over an array of "KEY=VALUE" strings; later entries win,
 * as BuildKit's env list. */
struct sb_shlex_envlist {
	const char *const *kv;
	size_t n;
};
void sb_shlex_env_from_list(struct sb_shlex_env *env, struct sb_shlex_envlist *list);

struct sb_shlex_result {
	char *result;     /* the expanded word, as ProcessWord */
	char **words;     /* the expanded words, as ProcessWords */
	size_t *word_lens;/* their byte lengths (a word may hold a NUL) */
	size_t nwords;
	char **matched;   /* variables referenced and set, sorted, unique */
	size_t nmatched;
	char **unmatched; /* variables referenced and unset, sorted, unique */
	size_t nunmatched;
	size_t result_len; /* bytes in result: it may hold a NUL from the input */
};
void sb_shlex_result_release(struct sb_shlex_result *res);

/* Expand word[0..len). env may be NULL (nothing is set). On failure returns
 * -1 and sets *err to BuildKit's message (e.g. "FOO: is not allowed to be
 * unset", "unexpected end of statement while looking for matching double-
 * quote"); res is then left empty. As in BuildKit the message is wrapped
 * with the source, Go-quoted: `failed to process "${FOO?}": FOO: is not
 * allowed to be unset`. err->code is EINVAL, or E2BIG past the bounds above.
 *
 * The input is read as Go reads it, rune by rune: an invalid UTF-8 byte is
 * written back as U+FFFD (variable values are copied as they are), and a
 * byte-order mark at the very start is dropped.
 *
 * Words follow BuildKit to the letter, including three things one may not
 * expect: "<<" keeps the spaces, tabs and CRs after it in its word ("cat <<
 * EOF" makes "cat", "<< EOF"); an empty quoted string ("" or '') makes no
 * word; and a ${...} with a modifier (${v:-w}, ${v#p}, ${v/p/r}, ...) drops
 * the part of the word gathered before it, because BuildKit's frames share
 * one word buffer and a nested frame clears it: ab${X:-c}d makes the word
 * "cd" (the result is "abcd"). Patterns in # % / are BuildKit's: '*', '?',
 * "\*", "\?", "\\"; '[' and the rest are literals; '*' and '?' do not
 * match '\n'. */
int sb_shlex_process(const struct sb_shlex *lex, const char *word, size_t len,
		     const struct sb_shlex_env *env, struct sb_shlex_result *res,
		     struct sb_error **err);

/* Convenience wrappers over sb_shlex_process(). */
int sb_shlex_process_word(const struct sb_shlex *lex, const char *word,
			  const struct sb_shlex_env *env, char **out, struct sb_error **err);
int sb_shlex_process_words(const struct sb_shlex *lex, const char *word, size_t len,
			   const struct sb_shlex_env *env, char ***words, size_t *nwords,
			   struct sb_error **err);

#endif
