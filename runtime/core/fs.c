#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "runtime/core/fs.h"

#define XATTR_LIST_MAX_SIZE (64u * 1024)

int sb_write_all(int fd, const void *data, size_t len, const char *what, struct sb_error **err)
{
	const char *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return sb_error_set(err, errno, "write %s", what);
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int sb_fsync_dir(int dirfd, const char *path, struct sb_error **err)
{
	sb_autoclose int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sb_error_set(err, errno, "open directory %s", path);
	if (fsync(fd) < 0)
		return sb_error_set(err, errno, "fsync directory %s", path);
	return 0;
}

int sb_write_file_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			 struct sb_error **err)
{
	sb_autofree char *tmp = NULL;
	sb_autofree char *dir = NULL;
	const char *slash = strrchr(name, '/');
	sb_autoclose int fd = -1;

	/* The temporary name is unique per process and attempt; O_EXCL makes
	 * a collision an error rather than a shared file. */
	tmp = sb_xasprintf("%s.tmp.%d.%lx", name, (int)getpid(), (unsigned long)random());
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return sb_error_set(err, errno, "create %s", tmp);
	if (sb_write_all(fd, data, len, tmp, err) < 0 || fsync(fd) < 0) {
		if (err && !*err)
			sb_error_set(err, errno, "fsync %s", tmp);
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		int e = errno;
		unlinkat(dirfd, tmp, 0);
		return sb_error_set(err, e, "rename %s to %s", tmp, name);
	}
	dir = slash ? sb_xstrndup(name, (size_t)(slash - name)) : sb_xstrdup(".");
	if (!*dir) {
		free(dir);
		dir = sb_xstrdup("/");
	}
	return sb_fsync_dir(dirfd, dir, err);
}

int sb_read_fd(int fd, const char *what, size_t max, struct sb_strbuf *out, struct sb_error **err)
{
	char buf[65536];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return sb_error_set(err, errno, "read %s", what);
		}
		if (r == 0)
			return 0;
		if (max && out->len + (size_t)r > max)
			return sb_error_setx(err, EFBIG, "%s: larger than %zu bytes", what, max);
		sb_strbuf_add(out, buf, (size_t)r);
	}
}

int sb_read_file(int dirfd, const char *name, size_t max, struct sb_strbuf *out, struct sb_error **err)
{
	sb_autoclose int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sb_error_set(err, errno, "open %s", name);
	return sb_read_fd(fd, name, max, out, err);
}

int sb_mkdir_p(int dirfd, const char *path, mode_t mode, struct sb_error **err)
{
	sb_autofree char *p = sb_xstrdup(path);
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdirat(dirfd, p, mode) < 0 && errno != EEXIST)
				return sb_error_set(err, errno, "mkdir %s", p);
			*s = c;
			if (!c)
				break;
		}
	}
	return 0;
}

static int rm_rf_at(int parent, const char *name, struct sb_error **err)
{
	struct stat st;
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : sb_error_set(err, errno, "stat %s", name);
	if (S_ISDIR(st.st_mode)) {
		int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *d;
		struct dirent *de;
		if (fd < 0)
			return sb_error_set(err, errno, "open %s", name);
		d = fdopendir(fd);
		if (!d) {
			close(fd);
			return sb_error_set(err, errno, "opendir %s", name);
		}
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (rm_rf_at(dirfd(d), de->d_name, err) < 0) {
				closedir(d);
				return sb_error_wrap(err, "%s", name);
			}
		}
		closedir(d);
		if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			return sb_error_set(err, errno, "rmdir %s", name);
		return 0;
	}
	if (unlinkat(parent, name, 0) < 0 && errno != ENOENT)
		return sb_error_set(err, errno, "unlink %s", name);
	return 0;
}

int sb_rm_rf(int dirfd, const char *path, struct sb_error **err)
{
	return rm_rf_at(dirfd, path, err);
}

int sb_copy_fd(int from, int to, const char *name, struct sb_error **err)
{
	for (;;) {
		ssize_t n = copy_file_range(from, NULL, to, NULL, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS)
			return sb_error_set(err, errno, "copy %s", name);
		break;
	}
	/* copy_file_range refused (different filesystems on old kernels) */
	for (;;) {
		char buf[65536];
		ssize_t r = read(from, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return sb_error_set(err, errno, "read %s", name);
		if (r == 0)
			return 0;
		if (sb_write_all(to, buf, (size_t)r, name, err) < 0)
			return -1;
	}
}

int sb_copy_xattrs(int from, int to, const char *what, struct sb_error **err)
{
	char list[XATTR_LIST_MAX_SIZE];
	ssize_t n = flistxattr(from, list, sizeof(list));
	if (n < 0)
		return errno == ENOTSUP || errno == ERANGE ? 0 : sb_error_set(err, errno, "list xattrs of %s", what);
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1) {
		const char *name = list + i;
		char value[XATTR_LIST_MAX_SIZE];
		ssize_t len;
		/* overlayfs metadata is not content */
		if (!strncmp(name, "trusted.overlay.", 16))
			continue;
		len = fgetxattr(from, name, value, sizeof(value));
		if (len < 0)
			continue;
		/* BuildKit logs and goes on when the destination refuses one. */
		if (fsetxattr(to, name, value, (size_t)len, 0) < 0 && errno != ENOTSUP && errno != EPERM)
			return sb_error_set(err, errno, "set xattr %s on %s", name, what);
	}
	return 0;
}
