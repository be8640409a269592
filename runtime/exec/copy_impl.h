/* Internals of copy.c (placing files) and source.c (reading sources)
 * shared between the two. Not part of the library's API. */
#ifndef SB_EXEC_COPY_IMPL_H
#define SB_EXEC_COPY_IMPL_H

#include <sys/stat.h>

#include "runtime/exec/match.h"

struct entry {
	char *rel;     /* below the source item; "" for the item itself */
	struct stat st;
	char *link;    /* symlink target */
};

struct tree {
	struct entry *v;
	size_t n, alloc;
};

struct hardlink {
	dev_t dev;
	ino_t ino;
	char *dst; /* relative to the target directory */
};

/* A directory whose mode and times wait until its contents are in. */
struct pending_dir {
	char *dst; /* relative to the target directory */
	struct stat st;
};

struct copier {
	const struct sb_copy_spec *spec;
	bool digest_only;
	struct sb_sha256 hash;
	const struct sb_patterns *ignore;
	struct sb_patterns *excludes;
	bool chown;
	uid_t uid;
	gid_t gid;
	bool chmod;
	struct sb_chmod mode;
	char *dest;    /* clean, relative to the destination root ("" is "/") */
	bool dest_dir; /* written with a trailing "/" (or several sources) */
	bool root;     /* euid 0: owners and device nodes can be set */
	unsigned char *buf;
	/* per placed tree; with --parents, per instruction: every item keeps
	 * its path, so a file linked to one placed before (by any source)
	 * becomes a link to it, and link paths are then below the
	 * destination root (target_rel says where the tree's target is) */
	char *target_rel;
	struct hardlink *links;
	size_t nlinks, alinks;
	struct pending_dir *dirs;
	size_t ndirs, adirs;
	/* --parents: the directories make_parents created (relative to the
	 * destination root), whose times are set again once everything is
	 * in them */
	struct pending_dir *made;
	size_t nmade, amade;
};

/* One source item: a path in the source root, resolved. */
struct item {
	char *path;     /* clean, in the source root */
	char *ex;       /* its own path for --exclude (NULL: not checked) */
	char *ex_below; /* the --exclude prefix of what it holds ("" or, with --parents, its path) */
	int fd;         /* O_PATH, symlinks followed (--parents: none below the pivot) */
	size_t pivot_len; /* --parents: the length of the pivot prefix of path */
	bool nofollow;  /* --parents: path is a pattern of a walk, no symlink on it is followed */
	struct stat st;
};

/* One thing to copy: an item of the source root, a download or a
 * heredoc. */
struct job {
	struct item it;
	struct tree t;
	const char *word;  /* as written, for messages */
	char *name;        /* --parents: the path kept below the destination */
	char *pivot;       /* --parents: where that path starts in the source */
	const char *url;
	const struct sb_inline *file;
};

struct jobs {
	struct job *v;
	size_t n, alloc;
};

/* ---- source.c ---- */

/* openat2(RESOLVE_IN_ROOT) of rel ("" is the root itself). */
int sb_copy_open_in_root(int rootfd, const char *rel, int flags, bool follow);
/* An item of the source root: followed in the root, or, with --parents,
 * its pivot followed and nothing below it (ELOOP on a symlink above the
 * last component; the symlink itself when it is the last). */
int sb_copy_open_item(struct copier *c, const struct item *it, int flags);
/* p cleaned against "/", without the leading "/" ("" is the root). */
char *sb_copy_root_clean(const char *p);
char *sb_copy_join(const char *a, const char *b);
char *sb_copy_dir_of(const char *p);
const char *sb_copy_base_of(const char *p);
void sb_copy_quote(struct sb_strbuf *sb, const char *s);

void sb_copy_tree_release(struct tree *t);
void sb_copy_job_release(struct job *j);
struct job *sb_copy_new_job(struct jobs *js, const char *word);
/* Resolve one source word (wildcards, --parents, .dockerignore,
 * --exclude) into jobs with their collected trees; nothing there is
 * "\"word\": not found". */
int sb_copy_add_word(struct copier *c, struct jobs *js, const char *word, struct sb_error **err);

#endif
