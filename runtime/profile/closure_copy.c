/* Writing a closure out: every kept entry copied from the fat rootfs into
 * an empty directory with its metadata exactly, for sb_layer_pack_dir().
 *
 * Both trees are reached only through openat2 from their root
 * descriptors, and every closure path is symlink-free but for its last
 * component (which is never followed), so neither a symlink in the
 * rootfs nor one already copied can lead a read or a write elsewhere. */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/profile/closure.h"
#include "runtime/profile/internal.h"

struct pending_dir {
	const char *path;
	struct stat st;
};

struct copy_state {
	int rootfd, destfd;
	bool root; /* euid 0: owners and device nodes can be set */
	struct sb_pathmap links; /* "dev:ino" -> the first copy's path (as target) */
	struct pending_dir *dirs;
	size_t ndirs, adirs;
	/* the parent directory of the last entry, open in the destination */
	char *parent;
	int parentfd;
};

/* Owner, mode, xattrs (from src), times. chown first: it clears set-id
 * bits and security.capability. */
static int set_meta(struct copy_state *s, int fd, const struct stat *st, int src, const char *what,
		    struct sb_error **err)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	if (fchown(fd, st->st_uid, st->st_gid) < 0 && s->root)
		return sb_error_set(err, errno, "chown %s", what);
	if (fchmod(fd, st->st_mode & 07777) < 0)
		return sb_error_set(err, errno, "chmod %s", what);
	if (sb_copy_xattrs(src, fd, what, err) < 0)
		return -1;
	if (futimens(fd, ts) < 0)
		return sb_error_set(err, errno, "set times of %s", what);
	return 0;
}

/* The destination directory that will hold path; *leaf its last
 * component. */
static int parent_of(struct copy_state *s, const char *path, const char **leaf, struct sb_error **err)
{
	const char *slash = strrchr(path, '/');
	size_t len = (size_t)(slash - path);
	*leaf = slash + 1;
	if (s->parent && strlen(s->parent) == len && !memcmp(s->parent, path, len))
		return s->parentfd;
	free(s->parent);
	if (s->parentfd >= 0)
		close(s->parentfd);
	s->parent = sb_xstrndup(path, len);
	s->parentfd = sb_profile_open_in_root(s->destfd, len ? s->parent : "/", O_RDONLY | O_DIRECTORY, true);
	if (s->parentfd < 0) {
		int e = errno;
		free(s->parent);
		s->parent = NULL;
		return sb_error_set(err, e, "open %s in the destination (is its parent in the closure?)",
				    len ? path : "/");
	}
	return s->parentfd;
}

static int copy_file(struct copy_state *s, const char *path, const struct stat *st, int pfd, const char *leaf,
		     struct sb_error **err)
{
	sb_autoclose int in = -1, out = -1;

	if (st->st_nlink > 1) {
		char key[64];
		const struct sb_profile_path *first;
		int n = snprintf(key, sizeof(key), "%llx:%llx", (unsigned long long)st->st_dev,
				 (unsigned long long)st->st_ino);
		first = sb_pathmap_get(&s->links, key);
		if (first) {
			if (linkat(s->destfd, first->target + 1, pfd, leaf, 0) < 0)
				return sb_error_set(err, errno, "link %s to %s", path, first->target);
			return 0;
		}
		sb_pathmap_add(&s->links, key, (size_t)n, 0, path);
	}
	in = sb_profile_open_in_root(s->rootfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, true);
	if (in < 0)
		return sb_error_set(err, errno, "open %s in the rootfs", path);
	out = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return sb_error_set(err, errno, "create %s", path);
	if (sb_copy_fd(in, out, path, err) < 0)
		return -1;
	return set_meta(s, out, st, in, path, err);
}

/* Symlinks, fifos and device nodes. */
static int copy_special(struct copy_state *s, const char *path, int src, const struct stat *st, int pfd,
			const char *leaf, struct sb_error **err)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	int r;

	if (S_ISLNK(st->st_mode)) {
		char target[PATH_MAX + 1];
		ssize_t n = readlinkat(src, "", target, sizeof(target) - 1);
		if (n < 0)
			return sb_error_set(err, errno, "readlink %s", path);
		target[n] = '\0';
		r = symlinkat(target, pfd, leaf);
	} else if (S_ISFIFO(st->st_mode)) {
		r = mkfifoat(pfd, leaf, 0600);
	} else if (s->root) {
		r = mknodat(pfd, leaf, (st->st_mode & S_IFMT) | 0600, st->st_rdev);
	} else {
		return sb_error_setx(err, EPERM, "cannot create device node %s", path);
	}
	if (r < 0)
		return sb_error_set(err, errno, "create %s", path);
	if (fchownat(pfd, leaf, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 && s->root)
		return sb_error_set(err, errno, "chown %s", path);
	if (!S_ISLNK(st->st_mode) && fchmodat(pfd, leaf, st->st_mode & 07777, 0) < 0)
		return sb_error_set(err, errno, "chmod %s", path);
	if (utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return sb_error_set(err, errno, "set times of %s", path);
	return 0;
}

static int copy_entry(struct copy_state *s, const char *path, struct sb_error **err)
{
	sb_autoclose int src = sb_profile_open_in_root(s->rootfd, path, O_PATH, true);
	const char *leaf;
	struct stat st;
	int pfd;

	if (src < 0 || fstat(src, &st) < 0)
		return sb_error_set(err, errno, "open %s in the rootfs", path);
	if (S_ISSOCK(st.st_mode))
		return 0;
	pfd = parent_of(s, path, &leaf, err);
	if (pfd < 0)
		return -1;
	if (S_ISDIR(st.st_mode)) {
		if (mkdirat(pfd, leaf, 0700) < 0 && errno != EEXIST)
			return sb_error_set(err, errno, "mkdir %s", path);
		s->dirs = sb_xgrow(s->dirs, &s->adirs, s->ndirs + 1, sizeof(*s->dirs));
		s->dirs[s->ndirs++] = (struct pending_dir){ path, st };
		return 0;
	}
	if (S_ISREG(st.st_mode))
		return copy_file(s, path, &st, pfd, leaf, err);
	return copy_special(s, path, src, &st, pfd, leaf, err);
}

/* Directory metadata once their contents are in, deepest first. */
static int finish_dirs(struct copy_state *s, struct sb_error **err)
{
	for (size_t i = s->ndirs; i-- > 0;) {
		const struct pending_dir *d = &s->dirs[i];
		sb_autoclose int src = sb_profile_open_in_root(s->rootfd, d->path, O_RDONLY | O_DIRECTORY, true);
		sb_autoclose int dst = sb_profile_open_in_root(s->destfd, d->path, O_RDONLY | O_DIRECTORY, true);
		if (src < 0 || dst < 0)
			return sb_error_set(err, errno, "open %s", d->path);
		if (set_meta(s, dst, &d->st, src, d->path, err) < 0)
			return -1;
	}
	return 0;
}

int sb_closure_copy(int rootfd, const struct sb_closure *c, const char *dest_dir, struct sb_error **err)
{
	struct copy_state s = { .rootfd = rootfd, .root = geteuid() == 0, .parentfd = -1 };
	int ret = -1;

	s.destfd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s.destfd < 0)
		return sb_error_set(err, errno, "open %s", dest_dir);
	sb_pathmap_init(&s.links);
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].path[0] != '/' || !c->v[i].path[1]) {
			sb_error_setx(err, EINVAL, "closure path %s is not absolute", c->v[i].path);
			goto out;
		}
		if (copy_entry(&s, c->v[i].path, err) < 0)
			goto out;
	}
	ret = finish_dirs(&s, err);
out:
	if (ret < 0)
		sb_error_wrap(err, "copy the closure to %s", dest_dir);
	sb_pathmap_release(&s.links);
	free(s.dirs);
	free(s.parent);
	if (s.parentfd >= 0)
		close(s.parentfd);
	close(s.destfd);
	return ret;
}
