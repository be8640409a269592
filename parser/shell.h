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

struct sb_shlex {
	char escape;              /* '\\' (default) or '`' */
	bool raw_quotes;          /* keep quote characters in the result */
	bool raw_escapes;         /* keep escape characters in the result */
	bool skip_process_quotes; /* treat quotes as ordinary characters */
	bool skip_unset_env;      /* leave $unset references as written */
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
	size_t nwords;
	char **matched;   /* variables referenced and set, sorted, unique */
	size_t nmatched;
	char **unmatched; /* variables referenced and unset, sorted, unique */
	size_t nunmatched;
};
void sb_shlex_result_release(struct sb_shlex_result *res);

/* Expand word[0..len). env may be NULL (nothing is set). On failure returns
 * -1 and sets *err to BuildKit's message (e.g. "FOO: is not allowed to be
 * unset", "unexpected end of statement while looking for matching double-
 * quote"); res is then left empty. */
int sb_shlex_process(const struct sb_shlex *lex, const char *word, size_t len,
		     const struct sb_shlex_env *env, struct sb_shlex_result *res,
		     struct sb_error **err);

/* Convenience wrappers over sb_shlex_process(). */
int sb_shlex_process_word(const struct sb_shlex *lex, const char *word,
			  const struct sb_shlex_env *env, char **out, struct sb_error **err);
int sb_shlex_process_words(const struct sb_shlex *lex, const char *word, size_t len,
			   const struct sb_shlex_env *env, char ***words, size_t *nwords,
			   struct sb_error **err);

/* Free a vector of n strings and the vector. */
void sb_strv_free(char **v, size_t n);

#endif
