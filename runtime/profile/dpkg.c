/* The dpkg database made honest for scanners: a slim image keeps a
 * fraction of each package's files, and the full /var/lib/dpkg/status
 * would make scanners report every package of the fat image. As
 * distroless images do, each package that still owns a kept file gets
 * var/lib/dpkg/status.d/PKG (its stanza) and PKG.md5sums (the lines of its
 * kept files), which Trivy, Grype/Syft and Clair read.
 *
 * The .list files name paths as the package shipped them: on a merged-/usr
 * system "/bin/ls" is /usr/bin/ls in the rootfs, so every listed path's
 * directory is resolved through the rootfs' symlinks (inside it) before it
 * is looked up in the closure. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/profile/closure.h"
#include "runtime/profile/internal.h"

#define STATUS_FILE "/var/lib/dpkg/status"
#define INFO_DIR "/var/lib/dpkg/info"
#define MAX_STATUS (256u << 20)
#define MAX_LIST (64u << 20)

struct dpkg_ctx {
	int rootfd;
	const struct sb_closure *c;
	struct sb_pathmap dirs;  /* listed directory -> its resolved path (as target); "" when missing */
	struct sb_pathmap names; /* status.d names written */
	int outfd;               /* status.d */
	struct timespec mtime;   /* of the status file */
	struct sb_strbuf buf;
};

/* The first line of field name in a stanza, or NULL. */
static const char *field(const char *stanza, size_t len, const char *name, size_t *vlen)
{
	size_t n = strlen(name);
	for (const char *p = stanza; p < stanza + len;) {
		const char *eol = memchr(p, '\n', (size_t)(stanza + len - p));
		if (!eol)
			eol = stanza + len;
		if ((size_t)(eol - p) > n && !strncasecmp(p, name, n) && p[n] == ':') {
			const char *v = p + n + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			*vlen = (size_t)(eol - v);
			return v;
		}
		p = eol + 1;
	}
	return NULL;
}

/* Whether a package in this state has its files on disk. */
static bool installed(const char *status, size_t len)
{
	const char *last = status + len;
	while (last > status && last[-1] != ' ')
		last--;
	len = (size_t)(status + len - last);
	return !(len == 13 && !memcmp(last, "not-installed", 13)) && !(len == 12 && !memcmp(last, "config-files", 12));
}

/* The kept entry a listed path stands for, or NULL. */
static const struct sb_closure_entry *kept(struct dpkg_ctx *d, const char *path, size_t len)
{
	const char *slash;
	const struct sb_profile_path *dir;
	sb_autofree char *dirpath = NULL, *canon = NULL;

	while (len > 1 && path[len - 1] == '/')
		len--;
	slash = memrchr(path, '/', len);
	if (!slash || path[0] != '/' || slash == path + len - 1)
		return NULL;
	dirpath = sb_xstrndup(path, slash == path ? 1 : (size_t)(slash - path));
	dir = sb_pathmap_get(&d->dirs, dirpath);
	if (!dir) {
		struct sb_pathmap m;
		struct sb_walk w = { d->rootfd, &m, 0, 0, NULL, NULL };
		struct sb_strbuf res = SB_STRBUF_INIT;
		sb_pathmap_init(&m);
		if (sb_walk_path(&w, dirpath, 0, 0, &res) != 0)
			sb_strbuf_reset(&res);
		dir = sb_pathmap_add(&d->dirs, dirpath, strlen(dirpath), 0, res.buf);
		sb_pathmap_release(&m);
		sb_strbuf_release(&res);
	}
	if (!dir->target || !*dir->target)
		return NULL;
	canon = sb_xasprintf("%s/%.*s", strcmp(dir->target, "/") ? dir->target : "", (int)(path + len - slash - 1),
			     slash + 1);
	return sb_closure_find(d->c, canon);
}

/* Whether the .list names something below path: then the package
 * shipped it as a directory, which the rootfs has as a symlink (/bin ->
 * usr/bin on merged /usr), and owns nothing by it. */
static bool listed_below(const char *list, const char *path, size_t len)
{
	sb_autofree char *needle = sb_xasprintf("\n%.*s/", (int)len, path);
	return strstr(list, needle) != NULL;
}

/* dest/rel made a directory, one component at a time, never through a
 * symlink. */
static int make_dirs(int destfd, const char *rel, struct sb_error **err)
{
	struct sb_strbuf prefix = SB_STRBUF_INIT;
	int fd = -1;

	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");
		sb_autoclose int parent = sb_profile_open_in_root(destfd, prefix.len ? prefix.buf : "/",
								  O_RDONLY | O_DIRECTORY, true);
		sb_autofree char *comp = sb_xstrndup(p, n);
		if (parent < 0 || (mkdirat(parent, comp, 0755) < 0 && errno != EEXIST)) {
			sb_error_set(err, errno, "mkdir %s/%s", prefix.buf, comp);
			goto out;
		}
		sb_strbuf_addc(&prefix, '/');
		sb_strbuf_adds(&prefix, comp);
		p += n;
		while (*p == '/')
			p++;
	}
	fd = sb_profile_open_in_root(destfd, prefix.buf, O_RDONLY | O_DIRECTORY, true);
	if (fd < 0)
		sb_error_set(err, errno, "open %s", prefix.buf);
out:
	sb_strbuf_release(&prefix);
	return fd;
}

/* One new file of status.d, 0644 root with the status file's mtime. The
 * tree is fresh and is packed afterwards, not read by anyone meanwhile:
 * no temporary file and rename are needed. */
static int write_out(struct dpkg_ctx *d, const char *name, const char *data, size_t len, struct sb_error **err)
{
	struct timespec ts[2] = { d->mtime, d->mtime };
	sb_autoclose int fd = openat(d->outfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return sb_error_set(err, errno, "create status.d/%s", name);
	if (sb_write_all(fd, data, len, name, err) < 0)
		return -1;
	if ((fchown(fd, 0, 0) < 0 && geteuid() == 0) || fchmod(fd, 0644) < 0 || futimens(fd, ts) < 0)
		return sb_error_set(err, errno, "set metadata of status.d/%s", name);
	return 0;
}

static char *info_file(struct dpkg_ctx *d, const char *pkg, const char *arch, const char *ext)
{
	sb_autofree char *qualified = sb_xasprintf(INFO_DIR "/%s:%s.%s", pkg, arch, ext);
	if (*arch && sb_profile_read_in_root(d->rootfd, qualified, MAX_LIST, &d->buf) == 0)
		return sb_steal(&qualified);
	{
		char *plain = sb_xasprintf(INFO_DIR "/%s.%s", pkg, ext);
		if (sb_profile_read_in_root(d->rootfd, plain, MAX_LIST, &d->buf) == 0)
			return plain;
		free(plain);
	}
	return NULL;
}

/* One stanza: written when the package owns a kept file or symlink. */
static int package(struct dpkg_ctx *d, const char *stanza, size_t len, struct sb_dpkg_counts *counts,
		   struct sb_error **err)
{
	const char *v;
	size_t n;
	sb_autofree char *pkg = NULL, *arch = NULL, *list = NULL, *sums_file = NULL, *name = NULL;
	struct sb_strbuf sums = SB_STRBUF_INIT;
	bool owns = false;
	int ret = -1;

	v = field(stanza, len, "Package", &n);
	if (!v || !n || memchr(v, '/', n) || (n <= 2 && v[0] == '.'))
		return 0;
	pkg = sb_xstrndup(v, n);
	v = field(stanza, len, "Status", &n);
	if (!v || !installed(v, n))
		return 0;
	counts->before++;
	v = field(stanza, len, "Architecture", &n);
	arch = v ? sb_xstrndup(v, n) : sb_xstrdup("");
	if (memchr(arch, '/', strlen(arch)))
		return 0;
	list = info_file(d, pkg, arch, "list");
	for (const char *p = d->buf.buf; list && *p && !owns;) {
		size_t l = strcspn(p, "\n");
		const struct sb_closure_entry *e = kept(d, p, l);
		owns = e && (e->kind == SB_CLOSURE_FILE || (e->kind == SB_CLOSURE_SYMLINK && !listed_below(d->buf.buf, p, l)));
		p += l;
		if (*p)
			p++;
	}
	if (!owns)
		return 0;
	/* "<md5>  <path without the leading />" */
	sums_file = info_file(d, pkg, arch, "md5sums");
	if (sums_file) {
		for (const char *p = d->buf.buf; *p;) {
			size_t l = strcspn(p, "\n");
			const char *sep = memchr(p, ' ', l);
			if (sep && l > (size_t)(sep - p) + 2 && sep[1] == ' ') {
				sb_autofree char *abs = sb_xasprintf("/%.*s", (int)(p + l - sep - 2), sep + 2);
				const struct sb_closure_entry *e = kept(d, abs, strlen(abs));
				if (e && e->kind == SB_CLOSURE_FILE) {
					sb_strbuf_add(&sums, p, l);
					sb_strbuf_addc(&sums, '\n');
					counts->md5sums++;
				}
			}
			p += l;
			if (*p)
				p++;
		}
	}
	name = sb_pathmap_get(&d->names, pkg) ? sb_xasprintf("%s:%s", pkg, arch) : sb_xstrdup(pkg);
	if (sb_pathmap_get(&d->names, name)) {
		ret = 0; /* the same package twice in status: once is enough */
		goto out;
	}
	sb_pathmap_add(&d->names, name, strlen(name), 0, NULL);
	{
		sb_autofree char *text = sb_xasprintf("%.*s\n", (int)len, stanza);
		if (write_out(d, name, text, strlen(text), err) < 0)
			goto out;
	}
	if (sums.len) {
		sb_autofree char *f = sb_xasprintf("%s.md5sums", name);
		if (write_out(d, f, sums.buf, sums.len, err) < 0)
			goto out;
	}
	counts->after++;
	ret = 0;
out:
	sb_strbuf_release(&sums);
	return ret;
}

/* var, var/lib and var/lib/dpkg take the rootfs' metadata, after
 * status.d is written (which changed their mtimes). */
static int parents_meta(int rootfd, const char *dest_dir, struct sb_error **err)
{
	static const char *const dirs[] = { "/var", "/var/lib", "/var/lib/dpkg" };
	struct sb_closure_entry v[SB_ARRAY_SIZE(dirs)];
	struct sb_closure c = { v, 0, NULL, 0, 0 };

	for (size_t i = 0; i < SB_ARRAY_SIZE(dirs); i++) {
		sb_autoclose int fd = sb_profile_open_in_root(rootfd, dirs[i], O_PATH | O_DIRECTORY, true);
		if (fd < 0)
			break;
		v[c.n++] = (struct sb_closure_entry){ (char *)dirs[i], NULL, SB_CLOSURE_DIR, SB_KEEP_PARENT };
	}
	return sb_closure_copy(rootfd, &c, dest_dir, err);
}

int sb_dpkg_write_status_d(int rootfd, const struct sb_closure *c, const char *dest_dir, struct sb_dpkg_counts *out,
			   struct sb_error **err)
{
	struct dpkg_ctx d = { .rootfd = rootfd, .c = c, .outfd = -1, .buf = SB_STRBUF_INIT };
	struct sb_strbuf status = SB_STRBUF_INIT;
	struct sb_dpkg_counts counts = { 0, 0, 0 };
	sb_autoclose int destfd = -1;
	int ret = -1;

	if (out)
		*out = counts;
	{
		sb_autoclose int fd = sb_profile_open_in_root(rootfd, STATUS_FILE, O_RDONLY | O_NONBLOCK, false);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
			return 0;
		if (sb_read_fd(fd, STATUS_FILE, MAX_STATUS, &status, err) < 0)
			return sb_error_wrap(err, "dpkg status");
		d.mtime = st.st_mtim;
	}
	sb_pathmap_init(&d.dirs);
	sb_pathmap_init(&d.names);
	destfd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (destfd < 0) {
		sb_error_set(err, errno, "open %s", dest_dir);
		goto out;
	}
	d.outfd = make_dirs(destfd, "var/lib/dpkg/status.d", err);
	if (d.outfd < 0)
		goto out;
	/* stanzas are separated by blank lines */
	for (const char *p = status.buf; *p;) {
		const char *end = strstr(p, "\n\n");
		size_t len = end ? (size_t)(end - p) + 1 : strlen(p);
		while (len && p[len - 1] == '\n')
			len--;
		if (len && package(&d, p, len, &counts, err) < 0)
			goto out;
		p = end ? end + 2 : p + strlen(p);
		while (*p == '\n')
			p++;
	}
	{
		struct timespec ts[2] = { d.mtime, d.mtime };
		if ((fchown(d.outfd, 0, 0) < 0 && geteuid() == 0) || fchmod(d.outfd, 0755) < 0 ||
		    futimens(d.outfd, ts) < 0) {
			sb_error_set(err, errno, "set metadata of var/lib/dpkg/status.d");
			goto out;
		}
	}
	if (parents_meta(rootfd, dest_dir, err) < 0)
		goto out;
	if (out)
		*out = counts;
	ret = 0;
out:
	if (ret < 0)
		sb_error_wrap(err, "dpkg status.d");
	if (d.outfd >= 0)
		close(d.outfd);
	sb_pathmap_release(&d.dirs);
	sb_pathmap_release(&d.names);
	sb_strbuf_release(&d.buf);
	sb_strbuf_release(&status);
	return ret;
}
