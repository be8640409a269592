/* COPY and ADD: the file operations of one instruction, with Docker's
 * semantics (BuildKit's dockerfile2llb + fileop copy), and the
 * .dockerignore matcher of the build context.
 *
 * The destination is a directory tree (the merged rootfs of the step, an
 * overlay mount the executor made, or a plain directory): every path in it
 * is resolved with openat2(RESOLVE_IN_ROOT), so a symlink in the image
 * never leads a write out of it. Sources are read relative to a source
 * root (the build context, or the rootfs of a stage or image for --from),
 * also without leaving it. */
#ifndef SB_EXEC_COPY_H
#define SB_EXEC_COPY_H

#include <sys/types.h>

#include "runtime/core/digest.h"
#include "runtime/core/error.h"
#include "runtime/core/progress.h"
#include "stages/stages.h"

/* ---- .dockerignore (moby/patternmatcher semantics) ---- */

struct sb_ignore;

/* Read <dockerfile_name>.dockerignore when it exists beside the context
 * root (BuildKit's per-Dockerfile ignore file, dockerfile_name being the
 * Dockerfile's base name), else .dockerignore, from the context directory
 * ctx_fd. *out is NULL when neither exists. */
int sb_ignore_load(int ctx_fd, const char *dockerfile_name, struct sb_ignore **out, struct sb_error **err);
/* From the text of an ignore file (tests). */
int sb_ignore_parse(const char *text, struct sb_ignore **out, struct sb_error **err);
/* Whether a context path ("dir/file", no leading "/", cleaned) is
 * excluded, with "!" exceptions and parent-directory matches applied as
 * patternmatcher.MatchesOrParentMatches does. ig may be NULL. */
bool sb_ignore_match(const struct sb_ignore *ig, const char *path);
void sb_ignore_free(struct sb_ignore *ig);

/* ---- COPY / ADD ---- */

struct sb_copy_spec {
	int src_fd;                 /* the source root (context or rootfs) */
	bool src_is_context;        /* .dockerignore applies; owners become 0:0 */
	const struct sb_ignore *ignore;
	const char *const *srcs;    /* source words, expanded; wildcards allowed; ADD: URLs */
	size_t nsrcs;
	const struct sb_inline *files; /* heredoc sources (COPY <<EOF) */
	size_t nfiles;
	const char *dest;           /* expanded destination as written; a trailing "/" makes a directory */
	const char *workdir;        /* the stage's WORKDIR, for a relative dest ("" or NULL: "/") */
	int dst_fd;                 /* the destination root */
	/* --chown as written, expanded, or NULL: "user[:group]", names looked
	 * up in the destination's /etc/passwd and /etc/group. As BuildKit, a
	 * numeric user without a group gets gid = uid, a name its passwd
	 * group, and an unknown name 0. Created parents get it too. */
	const char *chown;
	const char *chmod;          /* --chmod: octal or symbolic (u+x,g-w), or NULL */
	const char *const *excludes;/* --exclude patterns */
	size_t nexcludes;
	bool parents;               /* --parents */
	bool add;                   /* ADD: tar sources are extracted, URLs downloaded */
	int unpack;                 /* ADD --unpack: -1 default, 0, 1 */
	const char *checksum;       /* ADD --checksum (sha256:...) or NULL */
	bool keep_git_dir;
	const struct sb_progress *progress;
};

/* A digest of everything the copy reads: for each source file in the
 * order it would be copied, its path relative to the copy, type, mode,
 * (owner when !src_is_context), link target and content hash; the
 * heredoc bodies; for URLs the downloaded content (or the --checksum when
 * given). Not mtimes. The executor puts it in the step's cache key.
 * A missing source fails as the copy would. */
int sb_copy_digest(const struct sb_copy_spec *spec, char out[SB_DIGEST_SIZE], struct sb_error **err);

/* Perform the copy into spec->dst_fd.
 *
 * Semantics are BuildKit's (see copy.c), with these deliberate
 * differences:
 * - Several sources (words, heredocs, or a wildcard's matches) always go
 *   into dest as a directory, trailing "/" or not: BuildKit would write
 *   each over the last, the classic builder refused. A wildcard with one
 *   match still names the file (COPY app-*.jar app.jar).
 * - A file copied onto an existing symlink replaces the link; BuildKit
 *   writes through it (inside the root).
 * - --exclude also applies to a wildcard's matches themselves (as the
 *   documentation's examples expect), relative to where the wildcard
 *   starts; BuildKit only checks what a source holds.
 * - --chmod sets all of 07777 (set-id and sticky bits included).
 * - ADD of a tar refuses entries climbing out of the destination, and
 *   absolute symlinks on the way to an entry (the layer unpacker's
 *   rules); BuildKit clamps such names into the destination.
 * - Git sources fail with "not supported"; a download is capped at 64 GiB.
 * A missing source fails with `"word": not found` (ENOENT) for the
 * executor to prefix with FILE:LINE. */
int sb_copy_run(const struct sb_copy_spec *spec, struct sb_error **err);

#endif
