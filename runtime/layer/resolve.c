/* Resolving tar entry names inside a rootfs without ever leaving it.
 *
 * Names are cleaned lexically first (Docker's filepath.Join/Rel check):
 * "/a/../b" is "b", "../x" is refused. The parent directory of an entry is
 * then walked one component at a time from the rootfs descriptor, each
 * component opened with O_NOFOLLOW. A symlink met on the way is read and
 * followed by hand only when it is relative and stays below the root; an
 * absolute symlink, or one whose ".." climbs above the root, would lead
 * out of the rootfs if the kernel followed it for us, so the entry is
 * refused. This is what openat2(RESOLVE_BENEATH) does, plus creating
 * missing parents, which openat2 cannot. */
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/layer/internal.h"

/* Linux's limit on symlinks followed in one lookup (MAXSYMLINKS). */
#define MAX_HOPS 40

int sb_path_clean(const char *name, struct sb_strbuf *out)
{
	const char *p = name;

	sb_strbuf_reset(out);
	while (*p) {
		const char *end;
		size_t n;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		end = strchr(p, '/');
		n = end ? (size_t)(end - p) : strlen(p);
		if (n == 1 && p[0] == '.') {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			char *slash;
			if (!out->len) {
				errno = EXDEV;
				return -1;
			}
			slash = memrchr(out->buf, '/', out->len);
			sb_strbuf_truncate(out, slash ? (size_t)(slash - out->buf) : 0);
		} else {
			if ((out->len && sb_strbuf_addc(out, '/') < 0) || sb_strbuf_add(out, p, n) < 0) {
				errno = ENAMETOOLONG;
				return -1;
			}
		}
		p += n;
	}
	return 0;
}

void sb_resolver_init(struct sb_resolver *r, int rootfd)
{
	memset(r, 0, sizeof(*r));
	r->rootfd = rootfd;
	r->cache_fd = -1;
}

static void cache_drop(struct sb_resolver *r)
{
	free(r->cache_key);
	free(r->cache_phys);
	r->cache_key = r->cache_phys = NULL;
	if (r->cache_fd >= 0)
		close(r->cache_fd);
	r->cache_fd = -1;
}

void sb_resolver_release(struct sb_resolver *r)
{
	cache_drop(r);
}

void sb_resolver_invalidate(struct sb_resolver *r)
{
	/* The descriptor stays open: the caller may still be using it for
	 * the entry at hand. The next lookup walks again. */
	free(r->cache_key);
	r->cache_key = NULL;
}

static int openat2_state; /* 0 unknown, 1 works, -1 unavailable (old kernel, seccomp) */

static int open_beneath_walk(int rootfd, const char *relpath, int flags)
{
	sb_autofree char *copy = sb_xstrdup(relpath);
	char *save = NULL, *comp, *next;
	int cur = -1;

	comp = strtok_r(copy, "/", &save);
	if (!comp)
		return openat(rootfd, ".", flags | O_CLOEXEC);
	for (;;) {
		int fd;
		next = strtok_r(NULL, "/", &save);
		if (!strcmp(comp, "..") || !strcmp(comp, ".")) {
			if (cur >= 0)
				close(cur);
			errno = EXDEV;
			return -1;
		}
		fd = openat(cur >= 0 ? cur : rootfd, comp,
			    next ? O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC : flags | O_NOFOLLOW | O_CLOEXEC);
		if (cur >= 0) {
			int e = errno;
			close(cur);
			errno = e;
		}
		if (fd < 0 || !next)
			return fd;
		cur = fd;
		comp = next;
	}
}

int sb_open_beneath(int rootfd, const char *relpath, int flags)
{
	if (!*relpath)
		return openat(rootfd, ".", flags | O_CLOEXEC);
	if (openat2_state >= 0) {
		struct open_how how = {
			.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
		};
		long fd = syscall(SYS_openat2, rootfd, relpath, &how, sizeof(how));
		if (fd >= 0) {
			openat2_state = 1;
			return (int)fd;
		}
		/* ENOSYS: kernel < 5.6, or a seccomp profile that hides it
		 * (some answer EPERM). Everything else is the real answer. */
		if (!(errno == ENOSYS || (errno == EPERM && openat2_state == 0)))
			return -1;
		openat2_state = -1;
	}
	return open_beneath_walk(rootfd, relpath, flags);
}

/* The walk state: cur is the descriptor of the directory at phys. */
struct walk {
	struct sb_resolver *r;
	int cur;
	struct sb_strbuf *phys;
};

static void walk_set(struct walk *w, int fd)
{
	if (w->cur != w->r->rootfd)
		close(w->cur);
	w->cur = fd;
}

static int walk_up(struct walk *w, const char *link, const char *target, struct sb_error **err)
{
	char *slash;
	int fd;

	if (!w->phys->len)
		return sb_error_setx(err, EXDEV, "through symlink %s -> %s, which leads out of the rootfs", link,
				     target);
	slash = memrchr(w->phys->buf, '/', w->phys->len);
	sb_strbuf_truncate(w->phys, slash ? (size_t)(slash - w->phys->buf) : 0);
	if (!w->phys->len) {
		walk_set(w, w->r->rootfd);
		return 0;
	}
	fd = sb_open_beneath(w->r->rootfd, w->phys->buf, O_PATH | O_DIRECTORY);
	if (fd < 0)
		return sb_error_set(err, errno, "open %s", w->phys->buf);
	walk_set(w, fd);
	return 0;
}

/* Walk the components of path[0..len) from the root; see the file
 * comment. On success w->cur is the directory and w->phys its path. */
static int walk(struct walk *w, const char *path, size_t len, bool create, struct sb_error **err)
{
	struct sb_strbuf rest = SB_STRBUF_INIT, next = SB_STRBUF_INIT;
	/* The symlink being followed, for messages: last one wins. */
	char *via = NULL, *via_target = NULL, *name = NULL;
	char target[PATH_MAX];
	size_t pos = 0;
	int hops = 0, ret = -1;
	bool made = false; /* the component at pos was just created */

	sb_strbuf_add(&rest, path, len);
	while (pos < rest.len) {
		const char *comp = rest.buf + pos;
		const char *end = memchr(comp, '/', rest.len - pos);
		size_t n = end ? (size_t)(end - comp) : rest.len - pos;
		struct stat st;
		ssize_t tl;
		int fd;

		pos += n + (end ? 1 : 0);
		free(name);
		name = sb_xstrndup(comp, n);
		if (n == 0 || !strcmp(name, "."))
			continue;
		if (!strcmp(name, "..")) {
			if (walk_up(w, via ? via : "?", via_target ? via_target : "?", err) < 0)
				goto out;
			continue;
		}
		fd = openat(w->cur, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && made) {
			sb_error_set(err, errno, "open %s%s%s", w->phys->buf, w->phys->len ? "/" : "", name);
			goto out;
		}
		made = false;
		if (fd >= 0) {
			walk_set(w, fd);
			if ((w->phys->len && sb_strbuf_addc(w->phys, '/') < 0) || sb_strbuf_adds(w->phys, name) < 0) {
				sb_error_setx(err, ENAMETOOLONG, "path too long");
				goto out;
			}
			continue;
		}
		if (errno == ENOENT && create) {
			if (mkdirat(w->cur, name, 0755) < 0 && errno != EEXIST) {
				sb_error_set(err, errno, "mkdir %s%s%s", w->phys->buf, w->phys->len ? "/" : "", name);
				goto out;
			}
			/* 0755 whatever the umask, as Docker makes them. */
			(void)fchmodat(w->cur, name, 0755, 0);
			w->r->created++;
			made = true;
			pos -= n + (end ? 1 : 0);
			continue;
		}
		if (errno != ENOTDIR && errno != ELOOP) {
			sb_error_set(err, errno, "open %s%s%s", w->phys->buf, w->phys->len ? "/" : "", name);
			goto out;
		}
		if (fstatat(w->cur, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			sb_error_set(err, errno, "stat %s%s%s", w->phys->buf, w->phys->len ? "/" : "", name);
			goto out;
		}
		if (!S_ISLNK(st.st_mode)) {
			sb_error_setx(err, ENOTDIR, "%s%s%s is not a directory", w->phys->buf, w->phys->len ? "/" : "",
				      name);
			goto out;
		}
		tl = readlinkat(w->cur, name, target, sizeof(target) - 1);
		if (tl < 0) {
			sb_error_set(err, errno, "readlink %s%s%s", w->phys->buf, w->phys->len ? "/" : "", name);
			goto out;
		}
		target[tl] = '\0';
		free(via);
		free(via_target);
		via = sb_xasprintf("%s%s%s", w->phys->buf, w->phys->len ? "/" : "", name);
		via_target = sb_xstrdup(target);
		if (++hops > MAX_HOPS) {
			sb_error_setx(err, ELOOP, "too many levels of symlinks at %s", via);
			goto out;
		}
		if (tl == 0 || target[0] == '/') {
			sb_error_setx(err, EXDEV, "through symlink %s -> %s, which leads out of the rootfs", via,
				      target);
			goto out;
		}
		/* Continue with the target's components, then the rest. */
		sb_strbuf_reset(&next);
		sb_strbuf_add(&next, target, (size_t)tl);
		if (pos < rest.len) {
			sb_strbuf_addc(&next, '/');
			sb_strbuf_add(&next, rest.buf + pos, rest.len - pos);
		}
		sb_strbuf_reset(&rest);
		sb_strbuf_add(&rest, next.buf, next.len);
		pos = 0;
	}
	ret = 0;
out:
	free(name);
	free(via);
	free(via_target);
	sb_strbuf_release(&rest);
	sb_strbuf_release(&next);
	return ret;
}

static int resolve(struct sb_resolver *r, const char *clean, bool create, int *dirfd, const char **leaf,
		   struct sb_strbuf *phys, struct sb_error **err)
{
	const char *slash = strrchr(clean, '/');
	size_t plen = slash ? (size_t)(slash - clean) : 0;
	struct walk w = { r, r->rootfd, phys };

	*leaf = slash ? slash + 1 : clean;
	sb_strbuf_reset(phys);
	if (walk(&w, clean, plen, create, err) < 0) {
		walk_set(&w, r->rootfd);
		return -1;
	}
	*dirfd = w.cur;
	return 0;
}

int sb_resolver_parent(struct sb_resolver *r, const char *clean, bool create, int *dirfd, const char **leaf,
		       struct sb_strbuf *phys, struct sb_error **err)
{
	const char *slash = strrchr(clean, '/');
	size_t plen = slash ? (size_t)(slash - clean) : 0;
	struct sb_strbuf tmp = SB_STRBUF_INIT;
	int fd = -1;

	if (!plen) {
		*dirfd = r->rootfd;
		*leaf = clean;
		if (phys)
			sb_strbuf_reset(phys);
		return 0;
	}
	if (r->cache_key && strlen(r->cache_key) == plen && !memcmp(r->cache_key, clean, plen)) {
		*dirfd = r->cache_fd;
		*leaf = slash + 1;
		if (phys) {
			sb_strbuf_reset(phys);
			sb_strbuf_adds(phys, r->cache_phys);
		}
		return 0;
	}
	if (resolve(r, clean, create, &fd, leaf, &tmp, err) < 0) {
		sb_strbuf_release(&tmp);
		return -1;
	}
	cache_drop(r);
	r->cache_key = sb_xstrndup(clean, plen);
	r->cache_fd = fd == r->rootfd ? fcntl(r->rootfd, F_DUPFD_CLOEXEC, 3) : fd;
	if (r->cache_fd < 0) {
		int e = errno;
		free(r->cache_key);
		r->cache_key = NULL;
		sb_strbuf_release(&tmp);
		return sb_error_set(err, e, "dup");
	}
	r->cache_phys = sb_strbuf_detach(&tmp, NULL);
	*dirfd = r->cache_fd;
	if (phys) {
		sb_strbuf_reset(phys);
		sb_strbuf_adds(phys, r->cache_phys);
	}
	return 0;
}

int sb_resolver_parent_owned(struct sb_resolver *r, const char *clean, int *dirfd, const char **leaf,
			     struct sb_strbuf *phys, struct sb_error **err)
{
	struct sb_strbuf tmp = SB_STRBUF_INIT;
	int fd = -1;

	if (resolve(r, clean, false, &fd, leaf, phys ? phys : &tmp, err) < 0) {
		sb_strbuf_release(&tmp);
		return -1;
	}
	sb_strbuf_release(&tmp);
	if (fd == r->rootfd) {
		fd = fcntl(r->rootfd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return sb_error_set(err, errno, "dup");
	}
	*dirfd = fd;
	return 0;
}
