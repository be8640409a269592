/* Applying a layer to a rootfs: libarchive reads the tar (decompressed by
 * compress.c, which bounds it), every entry is placed with *at() calls on
 * a parent resolved by resolve.c, and whiteouts remove what lower layers
 * left. See layer.h for the rules. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <locale.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/core/utf8.h"
#include "runtime/layer/internal.h"

#define READ_CHUNK (256u * 1024)
#define WHITEOUT ".wh."
#define WHITEOUT_META ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define OVERLAY_OPAQUE "trusted.overlay.opaque"

/* A directory's mode and times, applied after everything below it. */
struct dirmeta {
	char *phys;
	mode_t mode;
	struct timespec times[2];
	size_t seq;
};

struct unpack {
	struct archive *a;
	struct sb_decompressor dec;
	struct sb_error *read_err; /* the read callback's failure */
	unsigned char *buf;
	int rootfd;
	struct sb_resolver res;
	struct sb_pathset layer; /* physical paths this layer wrote */
	const struct sb_layer_unpack_opts *opts;
	struct sb_layer_unpack_stats *stats;
	struct dirmeta *dirs;
	size_t ndirs, adirs;
	struct sb_strbuf clean, phys, tmp;
	bool root;
};

void sb_layer_unpack_opts_init(struct sb_layer_unpack_opts *o)
{
	bool root = geteuid() == 0;
	memset(o, 0, sizeof(*o));
	o->allow_devices = root;
	o->same_owner = root;
	o->apply_whiteouts = true;
}

static la_ssize_t read_cb(struct archive *a, void *ctx, const void **buf)
{
	struct unpack *u = ctx;
	ssize_t n = sb_decompressor_read(&u->dec, u->buf, READ_CHUNK, &u->read_err);
	if (n < 0) {
		archive_set_error(a, u->read_err && u->read_err->code ? u->read_err->code : EIO, "%s",
				  u->read_err ? u->read_err->msg : "read error");
		return -1;
	}
	*buf = u->buf;
	return n;
}

/* Turn a libarchive failure into *err, preferring the read callback's
 * own error (the real cause: a truncated gzip, a bomb). */
static int archive_fail(struct unpack *u, const char *what, struct sb_error **err)
{
	if (u->read_err) {
		*err = u->read_err;
		u->read_err = NULL;
		return -1;
	}
	return sb_error_setx(err, archive_errno(u->a) > 0 ? archive_errno(u->a) : EINVAL, "%s: %s", what,
			     archive_error_string(u->a) ? archive_error_string(u->a) : "unknown libarchive error");
}

static void times_of(struct archive_entry *e, struct timespec ts[2])
{
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	ts[0] = ts[1];
	/* Docker: the access time, unless it is older than mtime. */
	if (archive_entry_atime_is_set(e) && archive_entry_atime(e) > ts[1].tv_sec) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	}
}

static bool xattr_refused(struct unpack *u, int e)
{
	/* Not every filesystem takes every namespace (tmpfs and user.*,
	 * security.* without privilege); Docker skips those too. */
	if (e == ENOTSUP || e == EPERM) {
		u->stats->xattrs_skipped++;
		return true;
	}
	return false;
}

/* Apply the entry's xattrs, to fd when it is >= 0, else by path through
 * /proc/self/fd/pfd/leaf without following leaf (symlinks, devices). */
static int apply_xattrs(struct unpack *u, struct archive_entry *e, int fd, int pfd, const char *leaf,
			struct sb_error **err)
{
	const char *name;
	const void *value;
	size_t size;
	sb_autofree char *proc = NULL;

	if (archive_entry_xattr_reset(e) == 0)
		return 0;
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		int r;
		/* overlayfs reads trusted.overlay.* as its own metadata
		 * (opaque dirs, redirects): a layer must not forge it. */
		if (!strncmp(name, "trusted.overlay.", 16)) {
			u->stats->xattrs_skipped++;
			continue;
		}
		if (fd >= 0) {
			r = fsetxattr(fd, name, value, size, 0);
		} else {
			if (!proc)
				proc = sb_xasprintf("/proc/self/fd/%d/%s", pfd, leaf);
			r = lsetxattr(proc, name, value, size, 0);
		}
		if (r < 0 && !xattr_refused(u, errno))
			return sb_error_set(err, errno, "set xattr %s", name);
	}
	return 0;
}

static void add_dir(struct unpack *u, const char *phys, mode_t mode, const struct timespec ts[2])
{
	struct dirmeta *d;
	u->dirs = sb_xgrow(u->dirs, &u->adirs, u->ndirs + 1, sizeof(*u->dirs));
	d = &u->dirs[u->ndirs];
	d->phys = sb_xstrdup(phys);
	d->mode = mode;
	d->times[0] = ts[0];
	d->times[1] = ts[1];
	d->seq = u->ndirs++;
}

/* Remove what lower layers put at pfd/name (physical path phys), sparing
 * what this layer wrote: its own non-directories stay whole, its own
 * directories (and those on the way to its entries) stay but lose what
 * lower layers put inside. That is layer.md's "the whiteout applies
 * first, whatever its place in the tar". */
static int prune(struct unpack *u, int pfd, const char *name, struct sb_strbuf *phys, struct sb_error **err)
{
	struct stat st;

	bool mine = sb_pathset_has(&u->layer, phys->buf);

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : sb_error_set(err, errno, "stat %s", phys->buf);
	if (mine && !S_ISDIR(st.st_mode))
		return 0;
	if (S_ISDIR(st.st_mode) && (mine || sb_pathset_has_below(&u->layer, phys->buf))) {
		sb_autoclose int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *d;
		struct dirent *de;
		size_t len = phys->len;
		int ret = 0;

		if (fd < 0)
			return sb_error_set(err, errno, "open %s", phys->buf);
		d = fdopendir(fd);
		if (!d)
			return sb_error_set(err, errno, "opendir %s", phys->buf);
		fd = -1;
		/* Removing while reading a directory may skip names; collect
		 * first. */
		{
			char **names = NULL;
			size_t n = 0, alloc = 0;
			while ((de = readdir(d))) {
				if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
					continue;
				names = sb_xgrow(names, &alloc, n + 1, sizeof(*names));
				names[n++] = sb_xstrdup(de->d_name);
			}
			for (size_t i = 0; i < n; i++) {
				if (!ret) {
					sb_strbuf_truncate(phys, len);
					if (phys->len)
						sb_strbuf_addc(phys, '/');
					sb_strbuf_adds(phys, names[i]);
					ret = prune(u, dirfd(d), names[i], phys, err);
				}
				free(names[i]);
			}
			free(names);
		}
		sb_strbuf_truncate(phys, len);
		closedir(d);
		return ret;
	}
	sb_resolver_invalidate(&u->res);
	if (S_ISDIR(st.st_mode))
		return sb_rm_rf(pfd, name, err);
	if (unlinkat(pfd, name, 0) < 0 && errno != ENOENT)
		return sb_error_set(err, errno, "remove %s", phys->buf);
	return 0;
}

static int whiteout(struct unpack *u, const char *clean, const char *base, struct sb_error **err)
{
	const char *leaf;
	int pfd;

	u->stats->whiteouts++;
	if (!strcmp(base, WHITEOUT_OPAQUE)) {
		/* Empty the marker's directory of lower layers' entries. */
		sb_autoclose int fd = -1;
		DIR *d;
		struct dirent *de;
		char **names = NULL;
		size_t n = 0, alloc = 0, len;
		int ret = 0;

		if (sb_resolver_parent(&u->res, clean, true, &pfd, &leaf, &u->phys, err) < 0)
			return -1;
		fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return sb_error_set(err, errno, "open %s", u->phys.len ? u->phys.buf : "/");
		d = fdopendir(fd);
		if (!d)
			return sb_error_set(err, errno, "opendir %s", u->phys.buf);
		fd = -1;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			names = sb_xgrow(names, &alloc, n + 1, sizeof(*names));
			names[n++] = sb_xstrdup(de->d_name);
		}
		len = u->phys.len;
		for (size_t i = 0; i < n; i++) {
			if (!ret) {
				sb_strbuf_truncate(&u->phys, len);
				if (len)
					sb_strbuf_addc(&u->phys, '/');
				sb_strbuf_adds(&u->phys, names[i]);
				ret = prune(u, dirfd(d), names[i], &u->phys, err);
			}
			free(names[i]);
		}
		free(names);
		closedir(d);
		return ret;
	}
	base += strlen(WHITEOUT);
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return sb_error_setx(err, EINVAL, "invalid whiteout");
	if (sb_resolver_parent(&u->res, clean, false, &pfd, &leaf, &u->phys, err) < 0) {
		/* Nothing there to remove. */
		if (*err && ((*err)->code == ENOENT || (*err)->code == ENOTDIR)) {
			sb_error_free(*err);
			*err = NULL;
			return 0;
		}
		return -1;
	}
	if (u->phys.len)
		sb_strbuf_addc(&u->phys, '/');
	sb_strbuf_adds(&u->phys, base);
	return prune(u, pfd, base, &u->phys, err);
}

/* overlayfs's own whiteout: a character device 0:0. */
static bool is_overlay_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static int set_opaque(int fd, const char *what, struct sb_error **err)
{
	if (fsetxattr(fd, OVERLAY_OPAQUE, "y", 1, 0) < 0)
		return sb_error_set(err, errno, "set %s on %s", OVERLAY_OPAQUE, what);
	return 0;
}

/* A whiteout kept for overlayfs (overlay_whiteouts): the snapshot starts
 * empty, so what is at NAME came from this layer and the whiteout, which
 * applies first, only has to hide the lower layers' NAME: a non-directory
 * of this layer hides it already, a directory of this layer must stop
 * merging with it (opaque), and else NAME becomes overlayfs's whiteout
 * device. The opaque marker makes its directory opaque, so that overlayfs
 * shows none of the lower layers' entries there. */
static int overlay_whiteout(struct unpack *u, const char *clean, const char *base, struct sb_error **err)
{
	sb_autoclose int fd = -1;
	const char *leaf;
	struct stat st;
	int pfd;

	u->stats->whiteouts++;
	if (sb_resolver_parent(&u->res, clean, true, &pfd, &leaf, &u->phys, err) < 0)
		return -1;
	if (!strcmp(base, WHITEOUT_OPAQUE)) {
		fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return sb_error_set(err, errno, "open %s", u->phys.len ? u->phys.buf : "/");
		return set_opaque(fd, u->phys.len ? u->phys.buf : "/", err);
	}
	base += strlen(WHITEOUT);
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return sb_error_setx(err, EINVAL, "invalid whiteout");
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISDIR(st.st_mode))
			return 0;
		fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return sb_error_set(err, errno, "open %s", base);
		return set_opaque(fd, base, err);
	}
	if (errno != ENOENT)
		return sb_error_set(err, errno, "stat %s", base);
	if (mknodat(pfd, base, S_IFCHR, makedev(0, 0)) < 0)
		return sb_error_set(err, errno, "mknod whiteout %s", base);
	return 0;
}

static int make_hardlink(struct unpack *u, struct archive_entry *e, const char *clean, struct sb_error **err)
{
	const char *target = archive_entry_hardlink(e);
	sb_autoclose int tfd = -1;
	const char *tleaf, *leaf;
	struct stat tst, st;
	int pfd;

	if (!target)
		target = archive_entry_hardlink_utf8(e);
	if (!target)
		return sb_error_setx(err, EINVAL, "hard link without a target");
	if (sb_path_clean(target, &u->tmp) < 0)
		return sb_error_setx(err, errno == EXDEV ? EXDEV : ENAMETOOLONG, "hard link target %s %s", target,
				     errno == EXDEV ? "is outside the rootfs" : "is too long");
	if (!u->tmp.len)
		return sb_error_setx(err, EINVAL, "hard link to the root directory");
	if (sb_resolver_parent_owned(&u->res, u->tmp.buf, &tfd, &tleaf, NULL, err) < 0)
		return sb_error_wrap(err, "hard link target %s", target);
	if (fstatat(tfd, tleaf, &tst, AT_SYMLINK_NOFOLLOW) < 0)
		return sb_error_set(err, errno, "hard link target %s", target);
	if (S_ISDIR(tst.st_mode))
		return sb_error_setx(err, EPERM, "hard link target %s is a directory", target);
	if (sb_resolver_parent(&u->res, clean, true, &pfd, &leaf, &u->phys, err) < 0)
		return -1;
	if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (st.st_dev == tst.st_dev && st.st_ino == tst.st_ino)
			return 0;
		sb_resolver_invalidate(&u->res);
		if (S_ISDIR(st.st_mode)) {
			if (sb_rm_rf(pfd, leaf, err) < 0)
				return -1;
		} else if (unlinkat(pfd, leaf, 0) < 0) {
			return sb_error_set(err, errno, "remove the old entry");
		}
	}
	if (linkat(tfd, tleaf, pfd, leaf, 0) < 0)
		return sb_error_set(err, errno, "link to %s", target);
	if (u->phys.len)
		sb_strbuf_addc(&u->phys, '/');
	sb_strbuf_adds(&u->phys, leaf);
	sb_pathset_add(&u->layer, u->phys.buf);
	return 0;
}

static int write_file(struct unpack *u, struct archive_entry *e, int fd, struct sb_error **err)
{
	int64_t size = archive_entry_size(e);
	int64_t end = 0;

	if (size < 0 || (uint64_t)size > u->dec.max)
		return sb_error_setx(err, EFBIG, "file of %lld bytes is larger than the layer bound of %llu",
				     (long long)size, (unsigned long long)u->dec.max);
	for (;;) {
		const void *data;
		size_t len;
		la_int64_t off;
		int r = archive_read_data_block(u->a, &data, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return archive_fail(u, "read data", err);
		if (off < 0 || (uint64_t)off > (uint64_t)size || len > (uint64_t)(size - off))
			return sb_error_setx(err, EINVAL, "data block past the end of the file");
		if (off != end && lseek(fd, off, SEEK_SET) < 0)
			return sb_error_set(err, errno, "seek");
		if (sb_write_all(fd, data, len, "file", err) < 0)
			return -1;
		end = off + (int64_t)len;
	}
	/* A sparse file's last hole. */
	if (end != size && ftruncate(fd, size) < 0)
		return sb_error_set(err, errno, "truncate");
	return 0;
}

static int set_owner_at(struct unpack *u, struct archive_entry *e, int pfd, const char *leaf,
			struct sb_error **err)
{
	if (u->opts->same_owner &&
	    fchownat(pfd, leaf, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
		return sb_error_set(err, errno, "chown %lld:%lld", (long long)archive_entry_uid(e),
				    (long long)archive_entry_gid(e));
	return 0;
}

static int check_ids(struct archive_entry *e, struct sb_error **err)
{
	/* uid_t is 32 bits and (uid_t)-1 means "unchanged" to chown. */
	if (archive_entry_uid(e) < 0 || archive_entry_uid(e) >= UINT32_MAX || archive_entry_gid(e) < 0 ||
	    archive_entry_gid(e) >= UINT32_MAX)
		return sb_error_setx(err, EINVAL, "owner %lld:%lld out of range", (long long)archive_entry_uid(e),
				     (long long)archive_entry_gid(e));
	return 0;
}

static int apply_entry(struct unpack *u, struct archive_entry *e, const char *name, struct sb_error **err)
{
	mode_t type = archive_entry_filetype(e);
	mode_t perm = archive_entry_perm(e) & 07777;
	const char *clean, *base, *leaf;
	struct timespec ts[2];
	struct stat st;
	bool exists, whited_out = false;
	int pfd;

	if (sb_path_clean(name, &u->clean) < 0)
		return errno == EXDEV ? sb_error_setx(err, EXDEV, "path climbs out of the rootfs")
				      : sb_error_setx(err, ENAMETOOLONG, "path too long");
	clean = u->clean.buf;
	times_of(e, ts);
	if (check_ids(e, err) < 0)
		return -1;

	if (!*clean) {
		/* "./" itself: the root directory's attributes. */
		sb_autoclose int fd = -1;
		if (type != AE_IFDIR || archive_entry_hardlink(e))
			return sb_error_setx(err, EINVAL, "the root can only be a directory");
		fd = openat(u->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return sb_error_set(err, errno, "open the rootfs");
		if (u->opts->same_owner &&
		    fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
			return sb_error_set(err, errno, "chown");
		if (apply_xattrs(u, e, fd, -1, NULL, err) < 0)
			return -1;
		add_dir(u, "", perm, ts);
		return 0;
	}
	base = strrchr(clean, '/');
	base = base ? base + 1 : clean;

	if (u->opts->apply_whiteouts || u->opts->overlay_whiteouts) {
		/* AUFS keeps its own metadata under .wh..wh.*: not content. */
		if (!strncmp(clean, WHITEOUT_META, strlen(WHITEOUT_META)) && strcmp(base, WHITEOUT_OPAQUE))
			return 0;
		if (!strncmp(base, WHITEOUT, strlen(WHITEOUT)))
			return u->opts->overlay_whiteouts ? overlay_whiteout(u, clean, base, err)
							  : whiteout(u, clean, base, err);
	}
	if (archive_entry_hardlink(e) || archive_entry_hardlink_utf8(e))
		return make_hardlink(u, e, clean, err);

	switch (type) {
	case AE_IFREG:
	case AE_IFDIR:
	case AE_IFLNK:
	case AE_IFIFO:
		break;
	case AE_IFCHR:
	case AE_IFBLK:
		if (!u->opts->allow_devices)
			return sb_error_setx(err, EPERM, "device nodes are not allowed here");
		break;
	default:
		return sb_error_setx(err, EINVAL, "unsupported entry type 0%o", (unsigned)type);
	}

	if (sb_resolver_parent(&u->res, clean, true, &pfd, &leaf, &u->phys, err) < 0)
		return -1;
	if (u->phys.len)
		sb_strbuf_addc(&u->phys, '/');
	sb_strbuf_adds(&u->phys, leaf);

	exists = fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!exists && errno != ENOENT)
		return sb_error_set(err, errno, "stat");
	/* layer.md "Changeset over existing files": two directories merge,
	 * anything else is removed and recreated. */
	if (exists && !(S_ISDIR(st.st_mode) && type == AE_IFDIR)) {
		whited_out = u->opts->overlay_whiteouts && is_overlay_whiteout(&st);
		sb_resolver_invalidate(&u->res);
		if (S_ISDIR(st.st_mode)) {
			if (sb_rm_rf(pfd, leaf, err) < 0)
				return -1;
		} else if (unlinkat(pfd, leaf, 0) < 0) {
			return sb_error_set(err, errno, "remove the old entry");
		}
		exists = false;
	}
	sb_pathset_add(&u->layer, u->phys.buf);

	switch (type) {
	case AE_IFREG: {
		sb_autoclose int fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return sb_error_set(err, errno, "create");
		if (write_file(u, e, fd, err) < 0)
			return -1;
		/* chown clears set-id bits and security.capability: first. */
		if (u->opts->same_owner && fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
			return sb_error_set(err, errno, "chown");
		if (fchmod(fd, perm) < 0)
			return sb_error_set(err, errno, "chmod");
		if (apply_xattrs(u, e, fd, -1, NULL, err) < 0)
			return -1;
		if (futimens(fd, ts) < 0)
			return sb_error_set(err, errno, "set times");
		if (close(fd) < 0) {
			fd = -1;
			return sb_error_set(err, errno, "close");
		}
		fd = -1;
		return 0;
	}
	case AE_IFDIR: {
		sb_autoclose int fd = -1;
		if (!exists && mkdirat(pfd, leaf, 0700) < 0)
			return sb_error_set(err, errno, "mkdir");
		fd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return sb_error_set(err, errno, "open");
		if (u->opts->same_owner && fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
			return sb_error_set(err, errno, "chown");
		/* The final mode waits until the contents are in; meanwhile
		 * an unprivileged caller needs to write here. */
		if (!u->root && fchmod(fd, perm | S_IRWXU) < 0)
			return sb_error_set(err, errno, "chmod");
		if (apply_xattrs(u, e, fd, -1, NULL, err) < 0)
			return -1;
		/* In place of this layer's whiteout: see overlay_whiteout. */
		if (whited_out && set_opaque(fd, u->phys.buf, err) < 0)
			return -1;
		add_dir(u, u->phys.buf, perm, ts);
		return 0;
	}
	case AE_IFLNK: {
		const char *target = archive_entry_symlink(e);
		if (!target)
			target = archive_entry_symlink_utf8(e);
		if (!target || !*target)
			return sb_error_setx(err, EINVAL, "symlink without a target");
		/* The target is data: it is only checked when a later path
		 * goes through the link (resolve.c). */
		if (symlinkat(target, pfd, leaf) < 0)
			return sb_error_set(err, errno, "symlink");
		if (set_owner_at(u, e, pfd, leaf, err) < 0)
			return -1;
		if (apply_xattrs(u, e, -1, pfd, leaf, err) < 0)
			return -1;
		if (utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return sb_error_set(err, errno, "set times");
		return 0;
	}
	default: {
		int r = type == AE_IFIFO ? mkfifoat(pfd, leaf, 0600)
					 : mknodat(pfd, leaf, type | 0600,
						   makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e)));
		if (r < 0)
			return sb_error_set(err, errno, type == AE_IFIFO ? "mkfifo" : "mknod");
		if (set_owner_at(u, e, pfd, leaf, err) < 0)
			return -1;
		/* glibc emulates AT_SYMLINK_NOFOLLOW through /proc; without
		 * /proc, plain fchmodat on the node just made is the same. */
		if (fchmodat(pfd, leaf, perm, AT_SYMLINK_NOFOLLOW) < 0 &&
		    ((errno != EOPNOTSUPP && errno != ENOSYS) || fchmodat(pfd, leaf, perm, 0) < 0))
			return sb_error_set(err, errno, "chmod");
		if (apply_xattrs(u, e, -1, pfd, leaf, err) < 0)
			return -1;
		if (utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return sb_error_set(err, errno, "set times");
		return 0;
	}
	}
}

static int dir_cmp(const void *a, const void *b)
{
	const struct dirmeta *x = a, *y = b;
	int c = strcmp(y->phys, x->phys); /* deepest first */
	if (c)
		return c;
	return x->seq < y->seq ? 1 : -1; /* the last entry for a path wins */
}

/* Directory modes and times, children before parents: creating anything
 * inside a directory changes its mtime. */
static int finish_dirs(struct unpack *u, struct sb_error **err)
{
	if (u->ndirs > 1)
		qsort(u->dirs, u->ndirs, sizeof(*u->dirs), dir_cmp);
	for (size_t i = 0; i < u->ndirs; i++) {
		struct dirmeta *d = &u->dirs[i];
		sb_autoclose int fd = -1;
		if (i && !strcmp(d->phys, u->dirs[i - 1].phys))
			continue;
		fd = sb_open_beneath(u->rootfd, d->phys, O_RDONLY | O_DIRECTORY);
		if (fd < 0) {
			/* Replaced by a later entry of the layer. */
			if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
				continue;
			return sb_error_set(err, errno, "open %s", d->phys);
		}
		if (fchmod(fd, d->mode) < 0)
			return sb_error_set(err, errno, "chmod %s", d->phys);
		if (futimens(fd, d->times) < 0)
			return sb_error_set(err, errno, "set times of %s", d->phys);
	}
	return 0;
}

static void quote_name(struct sb_strbuf *out, const char *name)
{
	sb_strbuf_reset(out);
	sb_go_quote(out, name, strlen(name));
}

static int unpack_run(struct unpack *u, struct sb_error **err)
{
	struct archive_entry *e;
	struct sb_strbuf qname = SB_STRBUF_INIT;
	int ret = -1;

	for (;;) {
		const char *name;
		int r = archive_read_next_header(u->a, &e);
		if (r == ARCHIVE_EOF)
			break;
		/* ARCHIVE_RETRY too: a damaged header is not skipped over. */
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			archive_fail(u, "read tar header", err);
			if (qname.len)
				sb_error_wrap(err, "after entry %s", qname.buf);
			goto out;
		}
		name = archive_entry_pathname(e);
		if (!name)
			name = archive_entry_pathname_utf8(e);
		if (!name) {
			sb_error_setx(err, EINVAL, "entry without a name");
			goto out;
		}
		quote_name(&qname, name);
		if (u->opts->force_owner) {
			archive_entry_set_uid(e, u->opts->uid);
			archive_entry_set_gid(e, u->opts->gid);
		}
		if (apply_entry(u, e, name, err) < 0) {
			sb_error_wrap(err, "%s", qname.buf);
			goto out;
		}
		u->stats->entries++;
	}
	/* Read the stream to its end: a truncated or corrupt compressed
	 * tail (the gzip CRC) is an error, and the digest covers it all. */
	for (;;) {
		ssize_t n = sb_decompressor_read(&u->dec, u->buf, READ_CHUNK, err);
		if (n < 0) {
			sb_error_wrap(err, "after the end of the tar");
			goto out;
		}
		if (n == 0)
			break;
	}
	if (finish_dirs(u, err) < 0)
		goto out;
	ret = 0;
out:
	sb_strbuf_release(&qname);
	return ret;
}

int sb_layer_unpack(int blob_fd, const char *rootfs, const struct sb_layer_unpack_opts *opts,
		    struct sb_layer_unpack_stats *stats, struct sb_error **err)
{
	sb_autoclose int rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return sb_error_set(err, errno, "open rootfs %s", rootfs);
	return sb_layer_unpack_at(blob_fd, rootfd, opts, stats, err);
}

bool sb_layer_is_archive(int fd)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	bool yes;

	if (!a)
		abort();
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	yes = archive_read_open_fd(a, fd, 64 * 1024) == ARCHIVE_OK && archive_read_next_header(a, &e) == ARCHIVE_OK;
	archive_read_free(a);
	if (lseek(fd, 0, SEEK_SET) < 0)
		return false;
	return yes;
}

int sb_layer_unpack_at(int blob_fd, int rootfd, const struct sb_layer_unpack_opts *opts,
		       struct sb_layer_unpack_stats *stats, struct sb_error **err)
{
	struct sb_layer_unpack_opts defaults;
	struct sb_layer_unpack_stats dummy;
	struct unpack u;
	locale_t loc, old = (locale_t)0;
	int ret = -1;

	if (!opts) {
		sb_layer_unpack_opts_init(&defaults);
		opts = &defaults;
	}
	if (!stats)
		stats = &dummy;
	memset(stats, 0, sizeof(*stats));
	memset(&u, 0, sizeof(u));
	u.opts = opts;
	u.stats = stats;
	u.root = geteuid() == 0;
	sb_strbuf_init(&u.clean, PATH_MAX);
	sb_strbuf_init(&u.tmp, PATH_MAX);
	sb_strbuf_init(&u.phys, 0);
	sb_pathset_init(&u.layer);
	u.rootfd = rootfd;
	sb_resolver_init(&u.res, u.rootfd);

	/* libarchive converts names between UTF-8 (pax) and the locale's
	 * charset; in the C locale that fails for every non-ASCII name.
	 * A thread-local UTF-8 locale keeps names as the bytes they are. */
	loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (loc)
		old = uselocale(loc);

	if (sb_decompressor_open(&u.dec, blob_fd, opts->max_bytes, err) < 0)
		goto out;
	u.buf = sb_xmalloc(READ_CHUNK);
	u.a = archive_read_new();
	if (!u.a)
		abort();
	archive_read_support_format_tar(u.a);
	archive_read_support_format_empty(u.a);
	if (opts->more_compressions) {
		archive_read_support_filter_bzip2(u.a);
		archive_read_support_filter_xz(u.a);
	}
	if (archive_read_open(u.a, &u, NULL, read_cb, NULL) != ARCHIVE_OK) {
		archive_fail(&u, "open tar", err);
		goto out;
	}
	ret = unpack_run(&u, err);
	if (!ret) {
		stats->bytes = u.dec.total;
		sb_decompressor_digest(&u.dec, stats->diff_id);
	}
out:
	if (u.a)
		archive_read_free(u.a);
	if (loc) {
		uselocale(old);
		freelocale(loc);
	}
	sb_error_free(u.read_err);
	sb_decompressor_release(&u.dec);
	sb_resolver_release(&u.res);
	sb_pathset_release(&u.layer);
	for (size_t i = 0; i < u.ndirs; i++)
		free(u.dirs[i].phys);
	free(u.dirs);
	free(u.buf);
	sb_strbuf_release(&u.clean);
	sb_strbuf_release(&u.tmp);
	sb_strbuf_release(&u.phys);
	return ret;
}
