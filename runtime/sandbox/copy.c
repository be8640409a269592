/* The fallback when overlayfs is unavailable (an upper directory on a
 * filesystem overlay refuses, a kernel without it): the lower layers are
 * copied, bottom first, into the upper directory, applying overlay
 * whiteouts (a 0:0 character device deletes, the trusted.overlay.opaque
 * xattr empties a directory) as overlayfs would present them. The run then
 * writes into that full tree, which the caller diffs against the lowers.
 *
 * Runs in the sandbox's init before pivot_root, on trusted paths given by
 * the caller; the walk itself never follows a symlink (every call is
 * *at() on descriptors opened with O_NOFOLLOW). Hard links within a layer
 * are copied as separate files and extended attributes are not copied. */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/sandbox/internal.h"

static bool is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static int copy_meta(int dirfd, const char *name, const struct stat *st, struct sb_error **err)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	if (fchownat(dirfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return sb_error_set(err, errno, "chown %s", name);
	if (!S_ISLNK(st->st_mode) && fchmodat(dirfd, name, st->st_mode & 07777, 0) < 0)
		return sb_error_set(err, errno, "chmod %s", name);
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return sb_error_set(err, errno, "set times of %s", name);
	return 0;
}

static int copy_dir(int src, int dst, const char *path, struct sb_error **err);

static int copy_entry(int src, int dst, const char *name, const char *path, struct sb_error **err)
{
	struct stat st, old;
	bool exists;

	if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return sb_error_set(err, errno, "stat %s", path);
	exists = fstatat(dst, name, &old, AT_SYMLINK_NOFOLLOW) == 0;
	/* A lower entry replaces what the layers below put there, unless
	 * both are directories, which merge. */
	if (exists && !(S_ISDIR(st.st_mode) && S_ISDIR(old.st_mode))) {
		if (sb_rm_rf(dst, name, err) < 0)
			return -1;
		exists = false;
	}
	if (is_whiteout(&st))
		return 0;
	if (S_ISDIR(st.st_mode)) {
		sb_autoclose int s = -1;
		sb_autoclose int d = -1;
		char opaque[2];
		if (!exists && mkdirat(dst, name, 0700) < 0)
			return sb_error_set(err, errno, "mkdir %s", path);
		s = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		d = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (s < 0 || d < 0)
			return sb_error_set(err, errno, "open %s", path);
		if (exists && fgetxattr(s, "trusted.overlay.opaque", opaque, sizeof(opaque)) == 1 && opaque[0] == 'y') {
			if (sb_rm_rf(dst, name, err) < 0 || mkdirat(dst, name, 0700) < 0)
				return sb_error_set(err, errno, "recreate opaque %s", path);
			close(d);
			d = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (d < 0)
				return sb_error_set(err, errno, "open %s", path);
		}
		if (copy_dir(s, d, path, err) < 0)
			return -1;
	} else if (S_ISREG(st.st_mode)) {
		sb_autoclose int s = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		sb_autoclose int d = -1;
		if (s < 0)
			return sb_error_set(err, errno, "open %s", path);
		d = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (d < 0)
			return sb_error_set(err, errno, "create %s", path);
		if (sb_copy_fd(s, d, path, err) < 0)
			return -1;
	} else if (S_ISLNK(st.st_mode)) {
		char target[4097];
		ssize_t n = readlinkat(src, name, target, sizeof(target) - 1);
		if (n < 0)
			return sb_error_set(err, errno, "readlink %s", path);
		target[n] = '\0';
		if (symlinkat(target, dst, name) < 0)
			return sb_error_set(err, errno, "symlink %s", path);
	} else if (mknodat(dst, name, st.st_mode, st.st_rdev) < 0) {
		return sb_error_set(err, errno, "mknod %s", path);
	}
	return copy_meta(dst, name, &st, err);
}

static int copy_dir(int src, int dst, const char *path, struct sb_error **err)
{
	int fd = fcntl(src, F_DUPFD_CLOEXEC, 3);
	DIR *d;
	struct dirent *e;
	int ret = 0;

	if (fd < 0)
		return sb_error_set(err, errno, "dup %s", path);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return sb_error_set(err, errno, "opendir %s", path);
	}
	while (ret == 0 && (errno = 0, e = readdir(d))) {
		char *sub;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		sub = sb_xasprintf("%s/%s", path, e->d_name);
		ret = copy_entry(src, dst, e->d_name, sub, err);
		free(sub);
	}
	if (ret == 0 && errno)
		ret = sb_error_set(err, errno, "readdir %s", path);
	closedir(d);
	return ret;
}

int sb_rootfs_copy(const struct sb_sandbox_spec *spec, struct sb_error **err)
{
	size_t n = 0;
	sb_autoclose int dst = open(spec->upper_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dst < 0)
		return sb_error_set(err, errno, "open %s", spec->upper_dir);
	while (spec->lower_dirs[n])
		n++;
	while (n-- > 0) {
		sb_autoclose int src = open(spec->lower_dirs[n], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (src < 0)
			return sb_error_set(err, errno, "open %s", spec->lower_dirs[n]);
		if (copy_dir(src, dst, spec->lower_dirs[n], err) < 0)
			return sb_error_wrap(err, "copy layer %s", spec->lower_dirs[n]);
	}
	return 0;
}

int sb_rootfs_flatten(const char *const *lower_dirs, const char *dest, struct sb_error **err)
{
	struct sb_sandbox_spec spec;
	sb_sandbox_spec_init(&spec);
	spec.lower_dirs = lower_dirs;
	spec.upper_dir = dest;
	return sb_rootfs_copy(&spec, err);
}
