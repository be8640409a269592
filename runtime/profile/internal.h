/* Internals of runtime/profile shared between its files. Not API. */
#ifndef SB_PROFILE_INTERNAL_H
#define SB_PROFILE_INTERNAL_H

#include "runtime/core/strbuf.h"
#include "runtime/profile/profile.h"

/* --- paths.c --- */

/* A set of recorded paths: a vector of entries and an open-addressing
 * index over it. */
struct sb_pathmap {
	struct sb_profile_path *v;
	size_t n, alloc;
	size_t *slots; /* index + 1; 0 is empty */
	size_t nslots;
};

void sb_pathmap_init(struct sb_pathmap *m);
void sb_pathmap_release(struct sb_pathmap *m);
/* Add path (or-ing flags into an existing entry; target is kept from the
 * first symlink entry). Returns the entry, valid until the next add. */
struct sb_profile_path *sb_pathmap_add(struct sb_pathmap *m, const char *path, size_t len, unsigned flags,
				       const char *target);
struct sb_profile_path *sb_pathmap_get(const struct sb_pathmap *m, const char *path);
/* Hand the entries over sorted by path; the map is left empty. */
void sb_pathmap_take(struct sb_pathmap *m, struct sb_profile_path **v, size_t *n);
void sb_profile_paths_free(struct sb_profile_path *v, size_t n);
const struct sb_profile_path *sb_profile_paths_find(const struct sb_profile_path *v, size_t n, const char *path);

/* Resolves paths inside a rootfs, recording the hops. */
struct sb_walk {
	int rootfd;
	struct sb_pathmap *map;
	/* The tracee's pid and tid in the sandbox's PID namespace, for
	 * /proc/self and /proc/thread-self; 0 when unknown (left as they
	 * are). */
	pid_t ns_pid, ns_tid;
	/* Asked for ns_pid and ns_tid the first time a walk needs them. */
	void (*want_ns_ids)(struct sb_walk *w);
	void *arg;
};

enum sb_walk_flags {
	SB_WALK_NOFOLLOW = 1 << 0, /* the last component is not followed */
};

/* Walk the absolute path (relative paths are taken from the root) from
 * w->rootfd, recording in w->map every symlink met (SB_PATH_SYMLINK with
 * its target) and the object reached (SB_PATH_EXISTS, SB_PATH_DIR when a
 * directory, plus rec_flags) or, when a component is missing, the path
 * looked for (SB_PATH_MISSING). final (may be NULL) receives the
 * resolved path. Returns 0 when it exists, 1 when missing (or a loop of
 * symlinks, or a special file behind a magic link), -1 when the path is
 * too long. */
int sb_walk_path(struct sb_walk *w, const char *path, unsigned walk_flags, unsigned rec_flags,
		 struct sb_strbuf *final);

/* openat2 of the absolute path abs inside the root (RESOLVE_IN_ROOT), never
 * through a magic link or across a mount (RESOLVE_NO_XDEV). nofollow: abs
 * is a resolved path, symlink-free but for its last component, which is
 * not followed (RESOLVE_NO_SYMLINKS, O_NOFOLLOW); else symlinks are
 * followed inside the root. O_CLOEXEC is added. */
int sb_profile_open_in_root(int rootfd, const char *abs, int flags, bool nofollow);
/* Read the regular file abs (symlinks followed inside the root) whole,
 * up to max bytes; -1 when it is missing, not a regular file, unreadable
 * or larger. */
int sb_profile_read_in_root(int rootfd, const char *abs, size_t max, struct sb_strbuf *out);

#endif
