/* COPY and ADD with BuildKit's semantics: dockerfile2llb's dispatchCopy
 * turns the instruction into fileop copies, and tonistiigi/fsutil's
 * copy.Copy performs each one. The rules kept from there:
 *
 * - A source is cleaned against its root ("../x" is "x"), its own
 *   symlinks are followed (FollowSymlinks), wildcards are Go's
 *   filepath.Match over the path below the first wildcard component.
 * - A directory source copies its contents (CopyDirContentsOnly); the
 *   destination directory itself gets no metadata from it.
 * - The destination's parent (or the destination, when it ends in "/")
 *   is created 0755, owned by --chown when given (copy.MkdirAll).
 * - A file onto an existing directory goes inside it.
 * - Every copied entry keeps its mode, mtime, xattrs and, for a --from
 *   source, its owner; context files become 0:0; --chown and --chmod
 *   apply to everything copied. Symlinks below a source are copied as
 *   symlinks; hard links within one source stay links.
 * - --parents: a source is an include pattern of a walk from its pivot
 *   (no symlink below the pivot followed; one named last is copied as
 *   one; nothing matched, nothing copied). Every item keeps its path, so
 *   slimbuild also keeps hard links between the sources of the
 *   instruction, which fsutil, copying each source apart, does not.
 *
 * Every write goes through a descriptor: the destination's directories are
 * resolved with openat2(RESOLVE_IN_ROOT), so a symlink in the image (to
 * "/", to "../../..") resolves inside the destination root, and entries
 * are created with *at() calls and O_NOFOLLOW on directories the copy
 * opened itself. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/core/utf8.h"
#include "runtime/exec/copy_impl.h"
#include "runtime/layer/internal.h"
#include "runtime/sandbox/sandbox.h"

#define COPY_CHUNK (256u * 1024)

/* copy.MkdirAll inside the destination root: missing directories are made
 * 0755 and given the --chown owner. Returns a directory descriptor. */
static int mkdir_all(struct copier *c, const char *rel, struct sb_error **err)
{
	int cur, fd = sb_copy_open_in_root(c->spec->dst_fd, rel, O_RDONLY | O_DIRECTORY, true);
	struct sb_strbuf prefix = SB_STRBUF_INIT;
	const char *p = rel;

	if (fd >= 0 || errno != ENOENT) {
		if (fd < 0)
			return sb_error_set(err, errno, "open /%s", rel);
		return fd;
	}
	cur = sb_copy_open_in_root(c->spec->dst_fd, "", O_RDONLY | O_DIRECTORY, true);
	if (cur < 0)
		return sb_error_set(err, errno, "open the destination root");
	while (*p) {
		size_t n = strcspn(p, "/");
		sb_autofree char *comp = sb_xstrndup(p, n);
		int next;
		if (prefix.len)
			sb_strbuf_addc(&prefix, '/');
		sb_strbuf_adds(&prefix, comp);
		next = sb_copy_open_in_root(c->spec->dst_fd, prefix.buf, O_RDONLY | O_DIRECTORY, true);
		if (next < 0 && errno == ENOENT) {
			if (mkdirat(cur, comp, 0755) == 0) {
				/* the umask must not decide the mode */
				if (fchmodat(cur, comp, 0755, 0) < 0 ||
				    (c->chown && fchownat(cur, comp, c->uid, c->gid, AT_SYMLINK_NOFOLLOW) < 0)) {
					sb_error_set(err, errno, "mkdir /%s", prefix.buf);
					goto fail;
				}
			} else if (errno != EEXIST) {
				sb_error_set(err, errno, "mkdir /%s", prefix.buf);
				goto fail;
			}
			next = sb_copy_open_in_root(c->spec->dst_fd, prefix.buf, O_RDONLY | O_DIRECTORY, true);
		}
		if (next < 0) {
			sb_error_set(err, errno, "mkdir /%s", prefix.buf);
			goto fail;
		}
		close(cur);
		cur = next;
		p += n;
		while (*p == '/')
			p++;
	}
	sb_strbuf_release(&prefix);
	return cur;
fail:
	close(cur);
	sb_strbuf_release(&prefix);
	return -1;
}

/* ---- owners ---- */

static bool parse_uint32(const char *s, uint32_t *out)
{
	char *end = NULL;
	unsigned long long v;
	if (!*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* BuildKit's llb.WithUser + file.readUser: "user[:group]", each part a
 * number or a name looked up in the destination's /etc/passwd and
 * /etc/group. A numeric user without a group gets gid = uid; a name gets
 * its passwd entry's group; an unknown name leaves 0, as BuildKit does. */
static int resolve_chown(struct copier *c, const char *spec, struct sb_error **err)
{
	sb_autofree char *user = NULL;
	const char *colon = strchr(spec, ':');
	uint32_t id;

	user = colon ? sb_xstrndup(spec, (size_t)(colon - spec)) : sb_xstrdup(spec);
	c->chown = true;
	c->uid = 0;
	c->gid = 0;
	if (parse_uint32(user, &id)) {
		c->uid = id;
		c->gid = id;
	} else if (*user) {
		struct sb_user u;
		struct sb_error *e = NULL;
		if (sb_user_resolve(c->spec->dst_fd, user, &u, &e) == 0) {
			c->uid = u.uid;
			c->gid = u.gid;
			sb_user_release(&u);
		} else if (e->code == ENOENT) {
			sb_error_free(e);
		} else {
			*err = e;
			return sb_error_wrap(err, "--chown=%s", spec);
		}
	}
	if (colon) {
		const char *grp = colon + 1;
		if (parse_uint32(grp, &id)) {
			c->gid = id;
		} else if (*grp) {
			sb_autofree char *s = sb_xasprintf("0:%s", grp);
			struct sb_user u;
			struct sb_error *e = NULL;
			if (sb_user_resolve(c->spec->dst_fd, s, &u, &e) == 0) {
				c->gid = u.gid;
				sb_user_release(&u);
			} else if (e->code == ENOENT) {
				sb_error_free(e);
			} else {
				*err = e;
				return sb_error_wrap(err, "--chown=%s", spec);
			}
		}
	}
	return 0;
}

/* ---- writing ---- */

static void owner_of(const struct copier *c, const struct stat *st, uid_t *uid, gid_t *gid)
{
	if (c->chown) {
		*uid = c->uid;
		*gid = c->gid;
	} else if (c->spec->src_is_context) {
		*uid = 0;
		*gid = 0;
	} else {
		*uid = st->st_uid;
		*gid = st->st_gid;
	}
}

static mode_t mode_of(const struct copier *c, const struct stat *st)
{
	if (c->chmod)
		return sb_chmod_apply(&c->mode, st->st_mode, S_ISDIR(st->st_mode));
	return st->st_mode & 07777;
}

/* Owner, mode, xattrs (from src when >= 0), times: chown first, since it
 * clears set-id bits and security.capability. */
static int apply_meta(struct copier *c, int fd, const struct stat *st, int src, const char *what,
		      struct sb_error **err)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	uid_t uid;
	gid_t gid;

	owner_of(c, st, &uid, &gid);
	if (fchown(fd, uid, gid) < 0 && c->root)
		return sb_error_set(err, errno, "chown %s", what);
	if (fchmod(fd, mode_of(c, st)) < 0)
		return sb_error_set(err, errno, "chmod %s", what);
	if (src >= 0 && sb_copy_xattrs(src, fd, what, err) < 0)
		return -1;
	if (futimens(fd, ts) < 0)
		return sb_error_set(err, errno, "set times of %s", what);
	return 0;
}

/* Make room for a non-directory at pfd/leaf (fsutil's
 * ensureEmptyFileTarget). An existing symlink is replaced, never written
 * through. */
static int clear_target(int pfd, const char *leaf, const char *what, struct sb_error **err)
{
	struct stat st;
	if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : sb_error_set(err, errno, "stat %s", what);
	if (S_ISDIR(st.st_mode))
		return sb_error_setx(err, EISDIR, "cannot replace to directory %s with file", what);
	if (unlinkat(pfd, leaf, 0) < 0)
		return sb_error_set(err, errno, "remove %s", what);
	return 0;
}

/* Where an entry goes: its parent below the target directory. */
static int open_parent(int target, const char *dst, const char **leaf, struct sb_error **err)
{
	sb_autofree char *parent = sb_copy_dir_of(dst);
	int fd = sb_open_beneath(target, parent, O_RDONLY | O_DIRECTORY);
	*leaf = sb_copy_base_of(dst);
	if (fd < 0)
		return sb_error_set(err, errno, "open /%s", parent);
	return fd;
}

/* A regular file of the tree: below srcfd, or srcfd itself (a lone file
 * source, read once) for the item. */
static int open_entry(int srcfd, const char *rel)
{
	int fd;
	if (*rel)
		return sb_open_beneath(srcfd, rel, O_RDONLY);
	fd = dup(srcfd);
	if (fd >= 0 && lseek(fd, 0, SEEK_SET) < 0 && errno != ESPIPE) {
		close(fd);
		return -1;
	}
	return fd;
}

static int place_file(struct copier *c, const struct entry *e, int srcfd, int target, int pfd, const char *leaf,
		      const char *dst, struct sb_error **err)
{
	sb_autoclose int in = -1, out = -1;

	if (e->st.st_nlink > 1) {
		for (size_t i = 0; i < c->nlinks; i++) {
			const char *tleaf;
			sb_autoclose int tfd = -1;
			if (c->links[i].dev != e->st.st_dev || c->links[i].ino != e->st.st_ino)
				continue;
			tfd = open_parent(c->target_rel ? c->spec->dst_fd : target, c->links[i].dst, &tleaf, err);
			if (tfd < 0)
				return -1;
			if (linkat(tfd, tleaf, pfd, leaf, 0) < 0)
				return sb_error_set(err, errno, "link %s", dst);
			return 0;
		}
		c->links = sb_xgrow(c->links, &c->alinks, c->nlinks + 1, sizeof(*c->links));
		c->links[c->nlinks].dev = e->st.st_dev;
		c->links[c->nlinks].ino = e->st.st_ino;
		c->links[c->nlinks].dst = c->target_rel ? sb_copy_join(c->target_rel, dst) : sb_xstrdup(dst);
		c->nlinks++;
	}
	in = open_entry(srcfd, e->rel);
	if (in < 0)
		return sb_error_set(err, errno, "open source %s", *e->rel ? e->rel : ".");
	out = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return sb_error_set(err, errno, "create %s", dst);
	if (sb_copy_fd(in, out, dst, err) < 0)
		return -1;
	return apply_meta(c, out, &e->st, in, dst, err);
}

static int place_other(struct copier *c, const struct entry *e, int pfd, const char *leaf, const char *dst,
		       struct sb_error **err)
{
	struct timespec ts[2] = { e->st.st_atim, e->st.st_mtim };
	uid_t uid;
	gid_t gid;
	int r;

	if (S_ISLNK(e->st.st_mode)) {
		r = symlinkat(e->link, pfd, leaf);
	} else if (S_ISFIFO(e->st.st_mode)) {
		r = mkfifoat(pfd, leaf, 0600);
	} else if (c->root) {
		r = mknodat(pfd, leaf, (e->st.st_mode & S_IFMT) | 0600, e->st.st_rdev);
	} else {
		return sb_error_setx(err, EPERM, "cannot create device node %s", dst);
	}
	if (r < 0)
		return sb_error_set(err, errno, "create %s", dst);
	owner_of(c, &e->st, &uid, &gid);
	if (c->root && fchownat(pfd, leaf, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return sb_error_set(err, errno, "chown %s", dst);
	if (!S_ISLNK(e->st.st_mode) && fchmodat(pfd, leaf, mode_of(c, &e->st), 0) < 0)
		return sb_error_set(err, errno, "chmod %s", dst);
	if (utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return sb_error_set(err, errno, "set times of %s", dst);
	return 0;
}

static void forget_links(struct copier *c)
{
	for (size_t i = 0; i < c->nlinks; i++)
		free(c->links[i].dst);
	c->nlinks = 0;
}

static void add_pending(struct copier *c, const char *dst, const struct stat *st)
{
	c->dirs = sb_xgrow(c->dirs, &c->adirs, c->ndirs + 1, sizeof(*c->dirs));
	c->dirs[c->ndirs].dst = sb_xstrdup(dst);
	c->dirs[c->ndirs].st = *st;
	c->ndirs++;
}

/* Directory metadata, deepest first (pre-order reversed); forgets the
 * tree's hard links. On an earlier failure (err NULL) only frees. */
static int finish_dirs(struct copier *c, int target, struct sb_error **err)
{
	int ret = 0;
	for (size_t i = c->ndirs; i-- > 0;) {
		struct pending_dir *d = &c->dirs[i];
		if (!ret && err) {
			sb_autoclose int fd = sb_open_beneath(target, d->dst, O_RDONLY | O_DIRECTORY);
			if (fd < 0)
				ret = sb_error_set(err, errno, "open /%s", d->dst);
			else
				ret = apply_meta(c, fd, &d->st, -1, d->dst, err);
		}
		free(d->dst);
	}
	c->ndirs = 0;
	if (!c->target_rel)
		forget_links(c);
	return ret;
}

/* Place a collected tree. target is a directory of the destination;
 * name NULL puts the item's contents into it (a directory source), else
 * the item becomes target/name. overwrite: existing directories take the
 * source's metadata (fsutil does so below the top). */
static int place_tree(struct copier *c, const struct tree *t, int srcfd, int target, const char *name,
		      struct sb_error **err)
{
	int ret = -1;

	for (size_t i = 0; i < t->n; i++) {
		const struct entry *e = &t->v[i];
		sb_autofree char *dst = NULL;
		sb_autoclose int pfd = -1;
		const char *leaf;

		if (!name && !*e->rel)
			continue; /* the contents' own directory: no metadata */
		dst = name ? sb_copy_join(name, e->rel) : sb_xstrdup(e->rel);
		pfd = open_parent(target, dst, &leaf, err);
		if (pfd < 0)
			goto out;
		if (S_ISDIR(e->st.st_mode)) {
			struct stat st;
			bool exists = fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0;
			if (!exists && errno != ENOENT) {
				sb_error_set(err, errno, "stat %s", dst);
				goto out;
			}
			if (exists && !S_ISDIR(st.st_mode)) {
				sb_error_setx(err, ENOTDIR, "cannot copy to non-directory: /%s", dst);
				goto out;
			}
			if (!exists && mkdirat(pfd, leaf, 0700) < 0) {
				sb_error_set(err, errno, "mkdir %s", dst);
				goto out;
			}
			/* The top of a named item keeps an existing
			 * directory's metadata; everything below takes the
			 * source's. */
			if (!exists || *e->rel)
				add_pending(c, dst, &e->st);
			if (!exists || *e->rel) {
				/* xattrs now: the directory is open anyway */
				sb_autoclose int dfd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				sb_autoclose int sfd = *e->rel ? sb_open_beneath(srcfd, e->rel, O_RDONLY | O_DIRECTORY)
							       : openat(srcfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
				if (dfd < 0 || sfd < 0) {
					sb_error_set(err, errno, "open %s", dst);
					goto out;
				}
				if (sb_copy_xattrs(sfd, dfd, dst, err) < 0)
					goto out;
			}
			continue;
		}
		if (clear_target(pfd, leaf, dst, err) < 0)
			goto out;
		if (S_ISREG(e->st.st_mode)) {
			if (place_file(c, e, srcfd, target, pfd, leaf, dst, err) < 0)
				goto out;
		} else if (place_other(c, e, pfd, leaf, dst, err) < 0) {
			goto out;
		}
	}
	ret = 0;
out:
	if (finish_dirs(c, target, ret < 0 ? NULL : err) < 0)
		ret = -1;
	return ret;
}

/* ---- one source, fsutil's Copy ---- */

/* Where an item of type st goes. Sets *target (a directory descriptor)
 * and *name (NULL: the contents go into target). contents: a directory
 * source copies what it holds. */
static int prepare_target(struct copier *c, const struct stat *st, const char *base, bool contents, int *target,
			  char **name, struct sb_error **err)
{
	sb_autofree char *ensure = c->dest_dir ? sb_xstrdup(c->dest) : sb_copy_dir_of(c->dest);
	sb_autofree char *dst = sb_xstrdup(c->dest);
	sb_autofree char *parent = NULL;
	struct stat dst_st;
	bool exists;
	int fd;

	*target = -1;
	*name = NULL;
	fd = mkdir_all(c, ensure, err);
	if (fd < 0)
		return -1;
	close(fd);
	fd = sb_copy_open_in_root(c->spec->dst_fd, dst, O_PATH, true);
	exists = fd >= 0 && fstat(fd, &dst_st) == 0;
	if (fd >= 0)
		close(fd);
	if ((!contents && S_ISDIR(st->st_mode) && exists) || (!S_ISDIR(st->st_mode) && exists && S_ISDIR(dst_st.st_mode))) {
		char *d = sb_copy_join(dst, base);
		free(dst);
		dst = d;
		exists = false;
		fd = sb_copy_open_in_root(c->spec->dst_fd, dst, O_PATH, true);
		if (fd >= 0) {
			exists = fstat(fd, &dst_st) == 0;
			close(fd);
		}
	}
	if (contents && S_ISDIR(st->st_mode)) {
		if (exists && !S_ISDIR(dst_st.st_mode))
			return sb_error_setx(err, ENOTDIR, "cannot copy to non-directory: /%s", dst);
		*target = mkdir_all(c, dst, err);
		return *target < 0 ? -1 : 0;
	}
	if (!*dst)
		return sb_error_setx(err, EISDIR, "cannot replace to directory / with file");
	parent = sb_copy_dir_of(dst);
	*target = mkdir_all(c, parent, err);
	if (*target < 0)
		return -1;
	*name = sb_xstrdup(sb_copy_base_of(dst));
	return 0;
}

/* Hash what an entry holds (sb_copy_digest). */
static int hash_tree(struct copier *c, const char *what, const struct tree *t, int srcfd, struct sb_error **err)
{
	sb_sha256_update(&c->hash, what, strlen(what) + 1);
	for (size_t i = 0; i < t->n; i++) {
		const struct entry *e = &t->v[i];
		char line[128];
		int n = snprintf(line, sizeof(line), "%o %u:%u %llu", (unsigned)e->st.st_mode,
				 c->spec->src_is_context ? 0u : (unsigned)e->st.st_uid,
				 c->spec->src_is_context ? 0u : (unsigned)e->st.st_gid,
				 S_ISCHR(e->st.st_mode) || S_ISBLK(e->st.st_mode) ? (unsigned long long)e->st.st_rdev : 0ull);
		sb_sha256_update(&c->hash, e->rel, strlen(e->rel) + 1);
		sb_sha256_update(&c->hash, line, (size_t)n + 1);
		if (e->link)
			sb_sha256_update(&c->hash, e->link, strlen(e->link) + 1);
		if (S_ISREG(e->st.st_mode)) {
			sb_autoclose int fd = open_entry(srcfd, e->rel);
			struct sb_sha256 h;
			char d[SB_DIGEST_SIZE];
			if (fd < 0)
				return sb_error_set(err, errno, "open %s", *e->rel ? e->rel : what);
			sb_sha256_init(&h);
			for (;;) {
				ssize_t r = read(fd, c->buf, COPY_CHUNK);
				if (r < 0 && errno == EINTR)
					continue;
				if (r < 0) {
					sb_sha256_release(&h);
					return sb_error_set(err, errno, "read %s", *e->rel ? e->rel : what);
				}
				if (r == 0)
					break;
				sb_sha256_update(&h, c->buf, (size_t)r);
			}
			sb_sha256_final(&h, d);
			sb_sha256_update(&c->hash, d, sizeof(d));
		}
	}
	return 0;
}

/* ADD of a local archive: extracted into the destination (made a
 * directory), as BuildKit's AttemptUnpackDockerCompatibility. */
static int extract(struct copier *c, int fd, const char *what, struct sb_error **err)
{
	struct sb_layer_unpack_opts o;
	sb_autoclose int dir = -1;

	sb_layer_unpack_opts_init(&o);
	o.apply_whiteouts = false;
	o.more_compressions = true;
	if (c->chown && o.same_owner) {
		o.force_owner = true;
		o.uid = c->uid;
		o.gid = c->gid;
	}
	dir = mkdir_all(c, c->dest, err);
	if (dir < 0)
		return -1;
	if (sb_layer_unpack_at(fd, dir, &o, NULL, err) < 0)
		return sb_error_wrap(err, "extract %s", what);
	return 0;
}

/* --parents: the directories between the destination and the item are
 * copies of the source's (fsutil's createParentDirs). Returns the
 * item's parent directory in the destination. */
static int make_parents(struct copier *c, const struct job *j, struct sb_error **err)
{
	sb_autofree char *dirs = sb_copy_dir_of(j->name);
	int cur = mkdir_all(c, c->dest, err);
	const char *p = dirs;
	struct sb_strbuf sofar = SB_STRBUF_INIT;

	while (cur >= 0 && *p) {
		size_t n = strcspn(p, "/");
		sb_autofree char *comp = sb_xstrndup(p, n);
		int next;
		if (sofar.len)
			sb_strbuf_addc(&sofar, '/');
		sb_strbuf_adds(&sofar, comp);
		next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT) {
			sb_autofree char *src = sb_copy_join(j->pivot, sofar.buf);
			sb_autoclose int sfd = sb_copy_open_in_root(c->spec->src_fd, src, O_RDONLY | O_DIRECTORY, true);
			struct stat st;
			if (sfd < 0 || fstat(sfd, &st) < 0 || mkdirat(cur, comp, 0700) < 0) {
				sb_error_set(err, errno, "mkdir %s", sofar.buf);
			} else {
				next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (next >= 0 && apply_meta(c, next, &st, sfd, sofar.buf, err) < 0) {
					close(next);
					next = -1;
				} else if (next >= 0) {
					c->made = sb_xgrow(c->made, &c->amade, c->nmade + 1, sizeof(*c->made));
					c->made[c->nmade].dst = sb_copy_join(c->dest, sofar.buf);
					c->made[c->nmade].st = st;
					c->nmade++;
				}
			}
		} else if (next < 0) {
			sb_error_set(err, errno, "open %s", sofar.buf);
		}
		close(cur);
		cur = next;
		p += n;
		while (*p == '/')
			p++;
	}
	sb_strbuf_release(&sofar);
	return cur;
}

/* A source that is no file of the source root (heredoc, download): one
 * regular file read from fd. */
static int place_single(struct copier *c, int fd, const char *name, const struct stat *st, struct sb_error **err)
{
	struct tree t = { 0 };
	struct entry e = { .rel = (char *)"", .st = *st };
	sb_autoclose int target = -1;
	sb_autofree char *leaf = NULL;

	if (prepare_target(c, st, name, false, &target, &leaf, err) < 0)
		return -1;
	t.v = &e;
	t.n = 1;
	return place_tree(c, &t, fd, target, leaf, err);
}

static int do_heredoc(struct copier *c, const struct sb_inline *f, struct sb_error **err)
{
	size_t len = f->data ? strlen(f->data) : 0;
	sb_autoclose int fd = -1;
	struct stat st;
	struct timespec now;

	if (c->digest_only) {
		sb_sha256_update(&c->hash, "heredoc", 8);
		sb_sha256_update(&c->hash, f->name, strlen(f->name) + 1);
		sb_sha256_update(&c->hash, f->data ? f->data : "", len + 1);
		return 0;
	}
	fd = memfd_create("sb-heredoc", MFD_CLOEXEC);
	if (fd < 0)
		return sb_error_set(err, errno, "memfd");
	if (sb_write_all(fd, f->data ? f->data : "", len, "heredoc", err) < 0)
		return -1;
	/* dockerfile2llb: llb.Mkfile(name, 0644, data), created now, by root */
	clock_gettime(CLOCK_REALTIME, &now);
	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFREG | 0644;
	st.st_nlink = 1;
	st.st_atim = now;
	st.st_mtim = now;
	return place_single(c, fd, sb_copy_base_of(f->name), &st, err);
}

static int do_url(struct copier *c, const char *url, struct sb_error **err)
{
	struct sb_fetch_result r;
	sb_autofree char *name = NULL;
	struct stat st;
	int ret;

	if (c->digest_only && c->spec->checksum) {
		sb_sha256_update(&c->hash, "url", 4);
		sb_sha256_update(&c->hash, url, strlen(url) + 1);
		sb_sha256_update(&c->hash, c->spec->checksum, strlen(c->spec->checksum) + 1);
		return 0;
	}
	if (sb_fetch_url(url, c->spec->checksum, c->spec->progress, &r, err) < 0)
		return -1;
	if (c->digest_only) {
		sb_sha256_update(&c->hash, "url", 4);
		sb_sha256_update(&c->hash, url, strlen(url) + 1);
		sb_sha256_update(&c->hash, r.digest, strlen(r.digest) + 1);
		close(r.fd);
		return 0;
	}
	if (c->spec->unpack == 1 && sb_layer_is_archive(r.fd)) {
		ret = extract(c, r.fd, url, err);
		close(r.fd);
		return ret;
	}
	/* BuildKit's http source: mode 0600, mtime from Last-Modified. */
	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFREG | 0600;
	st.st_nlink = 1;
	if (r.mtime >= 0) {
		st.st_mtim.tv_sec = r.mtime;
	} else {
		clock_gettime(CLOCK_REALTIME, &st.st_mtim);
	}
	st.st_atim = st.st_mtim;
	name = sb_url_file_name(url);
	ret = place_single(c, r.fd, name, &st, err);
	close(r.fd);
	return ret;
}

static int do_job(struct copier *c, struct job *j, struct sb_error **err)
{
	struct item *it = &j->it;
	sb_autoclose int srcfd = -1, target = -1;
	sb_autofree char *name = NULL;

	if (j->url)
		return do_url(c, j->url, err);
	if (j->file)
		return do_heredoc(c, j->file, err);
	if (S_ISDIR(it->st.st_mode))
		srcfd = openat(it->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else
		srcfd = sb_copy_open_item(c, it, S_ISREG(it->st.st_mode) ? O_RDONLY : O_PATH);
	if (srcfd < 0)
		return sb_error_set(err, errno, "open %s", it->path);
	if (c->spec->add && c->spec->unpack != 0 && S_ISREG(it->st.st_mode) && !j->name &&
	    sb_layer_is_archive(srcfd)) {
		if (c->digest_only)
			return hash_tree(c, it->path, &j->t, srcfd, err);
		return extract(c, srcfd, it->path, err);
	}
	if (c->digest_only)
		return hash_tree(c, j->name ? j->name : it->path, &j->t, srcfd, err);
	if (j->name) {
		sb_autofree char *dirs = sb_copy_dir_of(j->name);
		target = make_parents(c, j, err);
		if (target < 0)
			return -1;
		name = sb_xstrdup(sb_copy_base_of(j->name));
		free(c->target_rel);
		c->target_rel = sb_copy_join(c->dest, dirs);
	} else if (prepare_target(c, &it->st, sb_copy_base_of(*it->path ? it->path : "/"), true, &target, &name, err) < 0) {
		return -1;
	}
	return place_tree(c, &j->t, srcfd, target, name, err);
}

static int dest_of(struct copier *c, struct sb_error **err)
{
	const char *d = c->spec->dest && *c->spec->dest ? c->spec->dest : ".";
	const char *wd = c->spec->workdir && *c->spec->workdir ? c->spec->workdir : "/";
	size_t n = strlen(d);
	sb_autofree char *abs = NULL;

	/* pathRelativeToWorkingDir: "." and a trailing "/" or "/." mean a
	 * directory. */
	c->dest_dir = !strcmp(d, ".") || d[n - 1] == '/' || (n >= 2 && !strcmp(d + n - 2, "/."));
	abs = d[0] == '/' ? sb_xstrdup(d) : sb_xasprintf("%s/%s", wd, d);
	c->dest = sb_copy_root_clean(abs);
	(void)err;
	return 0;
}

static int copier_init(struct copier *c, const struct sb_copy_spec *spec, bool digest_only, struct sb_error **err)
{
	memset(c, 0, sizeof(*c));
	c->spec = spec;
	c->digest_only = digest_only;
	c->root = geteuid() == 0;
	c->buf = sb_xmalloc(COPY_CHUNK);
	if (spec->src_is_context)
		c->ignore = sb_ignore_patterns(spec->ignore);
	if (spec->nexcludes && sb_patterns_new(spec->excludes, spec->nexcludes, &c->excludes, err) < 0)
		return sb_error_wrap(err, "--exclude");
	if (spec->chmod) {
		if (sb_chmod_parse(spec->chmod, &c->mode, err) < 0)
			return -1;
		c->chmod = true;
	}
	if (spec->checksum) {
		if (!spec->add)
			return sb_error_setx(err, EINVAL, "checksum can't be specified for COPY");
		if (spec->nsrcs + spec->nfiles != 1)
			return sb_error_setx(err, EINVAL, "checksum can't be specified for multiple sources");
		if (!sb_is_url(spec->srcs[0]) && !sb_is_git_url(spec->srcs[0]))
			return sb_error_setx(err, EINVAL, "checksum requires HTTP(S) or Git sources");
	}
	if (dest_of(c, err) < 0)
		return -1;
	if (!digest_only && spec->chown && *spec->chown && resolve_chown(c, spec->chown, err) < 0)
		return -1;
	return 0;
}

static void copier_release(struct copier *c)
{
	forget_links(c);
	free(c->target_rel);
	for (size_t i = 0; i < c->nmade; i++)
		free(c->made[i].dst);
	free(c->made);
	sb_patterns_free(c->excludes);
	sb_chmod_release(&c->mode);
	free(c->dest);
	free(c->buf);
	free(c->links);
	free(c->dirs);
	if (c->hash.md)
		sb_sha256_release(&c->hash);
}

static int run(struct copier *c, struct sb_error **err)
{
	struct jobs js = { 0 };
	const struct sb_copy_spec *spec = c->spec;
	int ret = -1;

	for (size_t i = 0; i < spec->nsrcs; i++) {
		const char *w = spec->srcs[i];
		if (sb_is_git_url(w) && (spec->add || sb_is_url(w))) {
			sb_error_setx(err, ENOTSUP, "%s: Git sources are not supported", w);
			goto out;
		}
		if (sb_is_url(w)) {
			if (!spec->add) {
				sb_error_setx(err, EINVAL, "source can't be a URL for COPY");
				goto out;
			}
			sb_copy_new_job(&js, w)->url = w;
			continue;
		}
		if (spec->src_fd < 0) {
			sb_error_setx(err, EBADF, "no source root for %s", w);
			goto out;
		}
		if (sb_copy_add_word(c, &js, w, err) < 0)
			goto out;
	}
	for (size_t i = 0; i < spec->nfiles; i++)
		sb_copy_new_job(&js, spec->files[i].name)->file = &spec->files[i];
	/* Several sources (words, matches of a wildcard, heredocs) can only
	 * go into a directory: Docker's documented rule. BuildKit would
	 * write each over the last; the classic builder refused. */
	if (js.n > 1 || spec->parents)
		c->dest_dir = true;
	for (size_t i = 0; i < js.n; i++) {
		if (do_job(c, &js.v[i], err) < 0) {
			if (!js.v[i].url && !js.v[i].file)
				sb_error_wrap(err, "%s", js.v[i].word);
			goto out;
		}
	}
	/* the parents' times, now that nothing more goes into them
	 * (deepest first) */
	for (size_t i = c->nmade; i-- > 0;) {
		const struct pending_dir *d = &c->made[i];
		struct timespec ts[2] = { d->st.st_atim, d->st.st_mtim };
		sb_autoclose int fd = sb_open_beneath(c->spec->dst_fd, d->dst, O_RDONLY | O_DIRECTORY);
		if (fd < 0 || futimens(fd, ts) < 0) {
			sb_error_set(err, errno, "set times of /%s", d->dst);
			goto out;
		}
	}
	ret = 0;
out:
	for (size_t i = 0; i < js.n; i++)
		sb_copy_job_release(&js.v[i]);
	free(js.v);
	return ret;
}

int sb_copy_run(const struct sb_copy_spec *spec, struct sb_error **err)
{
	struct copier c;
	int ret = copier_init(&c, spec, false, err);
	if (!ret)
		ret = run(&c, err);
	copier_release(&c);
	return ret;
}

int sb_copy_digest(const struct sb_copy_spec *spec, char out[SB_DIGEST_SIZE], struct sb_error **err)
{
	struct copier c;
	int ret = copier_init(&c, spec, true, err);
	if (!ret) {
		sb_sha256_init(&c.hash);
		ret = run(&c, err);
		if (!ret)
			sb_sha256_final(&c.hash, out);
	}
	copier_release(&c);
	return ret;
}
