/* Internals of runtime/exec shared between its files: Go's
 * filepath.Match, moby/patternmatcher patterns (ignore.c), --chmod modes
 * (mode.c) and URL downloads (fetch.c). Not part of the library's API; the
 * unit tests include it. */
#ifndef SB_EXEC_MATCH_H
#define SB_EXEC_MATCH_H

#include <sys/types.h>

#include "runtime/exec/copy.h"

/* ---- ignore.c ---- */

/* Go's path/filepath.Match on Linux: 1 when name matches pattern, 0 when
 * not, -1 (errno EINVAL) for a malformed pattern (ErrBadPattern), which
 * like Go is reported even when the match failed early. */
int sb_go_match(const char *pattern, const char *name);
/* Go's path.Clean ("" is "."). Caller frees. */
char *sb_go_clean(const char *p);
/* fsutil's containsWildcards: an unescaped '*', '?' or '['. */
bool sb_has_wildcards(const char *s);

/* An ordered list of patterns with moby/patternmatcher semantics: each is
 * trimmed and filepath.Clean'ed; "!" marks an exception. */
struct sb_patterns;
int sb_patterns_new(const char *const *patterns, size_t n, struct sb_patterns **out, struct sb_error **err);
/* patternmatcher.MatchesOrParentMatches. */
bool sb_patterns_match(const struct sb_patterns *p, const char *path);
/* Whether some "!" pattern could re-include a path below dir: when false
 * an excluded directory can be skipped whole. */
bool sb_patterns_may_include_below(const struct sb_patterns *p, const char *dir);
void sb_patterns_free(struct sb_patterns *p);
/* The patterns behind an ignore set (NULL for NULL). */
const struct sb_patterns *sb_ignore_patterns(const struct sb_ignore *ig);

/* ---- mode.c ---- */

/* A --chmod value: octal (0 to 07777) or symbolic ("u+x,g-w", "a=rX"),
 * as BuildKit accepts since 0.13. */
struct sb_chmod {
	bool octal;
	mode_t mode; /* octal */
	char *sym;   /* symbolic, validated */
};
int sb_chmod_parse(const char *s, struct sb_chmod *out, struct sb_error **err);
/* The permission bits (07777) a copied entry gets, from its source mode. */
mode_t sb_chmod_apply(const struct sb_chmod *c, mode_t old, bool is_dir);
void sb_chmod_release(struct sb_chmod *c);

/* ---- fetch.c ---- */

struct sb_fetch_result {
	int fd;               /* an unlinked temporary file holding the body, at offset 0 */
	char digest[SB_DIGEST_SIZE];
	int64_t mtime;        /* Last-Modified, or -1 */
	uint64_t size;
};

/* Download url (http or https, redirects followed) into an unlinked
 * temporary file. With checksum ("sha256:<hex>"), a body with another
 * digest is an error and no file is returned. */
int sb_fetch_url(const char *url, const char *checksum, const struct sb_progress *progress,
		 struct sb_fetch_result *out, struct sb_error **err);
/* The file name BuildKit gives a URL's download: the last path component,
 * else "__unnamed__". Caller frees. */
char *sb_url_file_name(const char *url);
bool sb_is_url(const char *s);
bool sb_is_git_url(const char *s);

#endif
