/* Overlayfs-format layers: packing a real overlay upper directory,
 * unpacking into an overlay snapshot, and the tree diff fallback. The
 * overlay tests mount overlayfs in a private mount namespace (root). */
#include "tests/unit/sb_test.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/layer/layer.h"

/* ---------------------------------------------------------------- helpers */

static bool can_mount;

static int mem_sink_write(void *ctx, const void *data, size_t len, struct sb_error **err)
{
	(void)err;
	return sb_strbuf_add(ctx, data, len);
}

static void pathf(char *buf, size_t size, const char *root, const char *rel)
{
	int n = snprintf(buf, size, "%s/%s", root, rel);
	assert_true(n > 0 && (size_t)n < size);
}

static void put(const char *root, const char *rel, const char *content, mode_t mode)
{
	char p[512];
	pathf(p, sizeof(p), root, rel);
	assert_int_equal(sb_write_file_atomic(AT_FDCWD, p, content, strlen(content), mode, NULL), 0);
	assert_int_equal(chmod(p, mode), 0);
}

static void mk(const char *root, const char *rel)
{
	char p[512];
	pathf(p, sizeof(p), root, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void rm(const char *root, const char *rel)
{
	char p[512];
	pathf(p, sizeof(p), root, rel);
	assert_int_equal(sb_rm_rf(AT_FDCWD, p, NULL), 0);
}

/* Fill root from a list: "dir/" makes a directory, "name->target" a
 * symlink, "name=content" a file of mode 0644; NULL ends it. */
static void seed(const char *root, const char *const *spec)
{
	for (; *spec; spec++) {
		const char *eq = strchr(*spec, '='), *arrow = strstr(*spec, "->");
		size_t len = strlen(*spec);
		char name[256];

		if ((*spec)[len - 1] == '/') {
			snprintf(name, sizeof(name), "%.*s", (int)len - 1, *spec);
			mk(root, name);
		} else if (arrow) {
			char p[512];
			snprintf(name, sizeof(name), "%.*s", (int)(arrow - *spec), *spec);
			pathf(p, sizeof(p), root, name);
			assert_int_equal(symlink(arrow + 2, p), 0);
		} else {
			assert_non_null(eq);
			snprintf(name, sizeof(name), "%.*s", (int)(eq - *spec), *spec);
			put(root, name, eq + 1, 0644);
		}
	}
}

__attribute__((format(printf, 1, 2))) static void sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

static void set_x(const char *root, const char *rel, const char *name, const char *value)
{
	char p[512];
	pathf(p, sizeof(p), root, rel);
	if (lsetxattr(p, name, value, strlen(value), 0) < 0)
		fail_msg("setxattr %s %s: %s", p, name, strerror(errno));
}

static void assert_whiteout(const char *root, const char *rel)
{
	char p[512];
	struct stat st;
	pathf(p, sizeof(p), root, rel);
	if (lstat(p, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(0, 0))
		fail_msg("%s is not an overlay whiteout", rel);
}

static void assert_opaque(const char *root, const char *rel, bool want)
{
	char p[512], v[8];
	ssize_t n;
	pathf(p, sizeof(p), root, rel);
	n = lgetxattr(p, "trusted.overlay.opaque", v, sizeof(v));
	if (want != (n == 1 && v[0] == 'y'))
		fail_msg("%s: opaque %s", rel, want ? "missing" : "unexpected");
}

static void assert_absent(const char *root, const char *rel)
{
	char p[512];
	struct stat st;
	pathf(p, sizeof(p), root, rel);
	if (lstat(p, &st) == 0)
		fail_msg("%s should not exist", rel);
}

static void assert_type(const char *root, const char *rel, mode_t type)
{
	char p[512];
	struct stat st;
	pathf(p, sizeof(p), root, rel);
	if (lstat(p, &st) < 0 || (st.st_mode & S_IFMT) != type)
		fail_msg("%s: not of type %o", rel, (unsigned)type);
}

static void mount_overlay(const char *lowers, const char *upper, const char *work, const char *merged)
{
	char opts[1024];
	/* redirect_dir and metacopy leave part of an entry in the lower
	 * layers: the executor mounts without them, and pack refuses them. */
	if (upper)
		snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s,redirect_dir=off,metacopy=off", lowers,
			 upper, work);
	else
		snprintf(opts, sizeof(opts), "lowerdir=%s", lowers);
	if (mount("overlay", merged, "overlay", upper ? 0 : MS_RDONLY, opts) < 0)
		fail_msg("mount overlay %s: %s", opts, strerror(errno));
}

/* One line per path below root: type, mode, owner, mtime (seconds: tars
 * hold no more), links, content or target or device, xattrs other than
 * overlayfs's own. Two trees are the same when their manifests are. */
static struct sb_strbuf m_out;
static size_t m_prefix;

static int m_visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char names[4096], val[256];
	ssize_t n;
	(void)flag;
	(void)ftw;
	if (strlen(path) <= m_prefix)
		return 0;
	sb_strbuf_addf(&m_out, "%s %o %o %u:%u t=%lld", path + m_prefix + 1, (unsigned)(st->st_mode & S_IFMT),
		       (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid, (unsigned)st->st_gid,
		       (long long)st->st_mtim.tv_sec);
	if (S_ISREG(st->st_mode)) {
		struct sb_strbuf c = SB_STRBUF_INIT;
		assert_int_equal(sb_read_file(AT_FDCWD, path, 0, &c, NULL), 0);
		sb_strbuf_addf(&m_out, " n=%u [%s]", (unsigned)st->st_nlink, c.buf);
		sb_strbuf_release(&c);
	} else if (S_ISLNK(st->st_mode)) {
		n = readlink(path, val, sizeof(val) - 1);
		assert_true(n >= 0);
		val[n] = 0;
		sb_strbuf_addf(&m_out, " -> %s", val);
	} else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		sb_strbuf_addf(&m_out, " dev=%u,%u", major(st->st_rdev), minor(st->st_rdev));
	}
	n = llistxattr(path, names, sizeof(names));
	/* listxattr's order is the filesystem's; these trees hold one at most */
	for (char *p = names; n > 0 && p < names + n; p += strlen(p) + 1) {
		ssize_t vn;
		if (!strncmp(p, "trusted.overlay.", 16))
			continue;
		vn = lgetxattr(path, p, val, sizeof(val) - 1);
		assert_true(vn >= 0);
		val[vn] = 0;
		sb_strbuf_addf(&m_out, " %s=%s", p, val);
	}
	sb_strbuf_addc(&m_out, '\n');
	return 0;
}

/* nftw visits in readdir order: sort the lines. */
static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *manifest(const char *root)
{
	struct sb_strbuf sorted = SB_STRBUF_INIT;
	char **lines = NULL;
	size_t n = 0, alloc = 0;

	sb_strbuf_init(&m_out, 0);
	m_prefix = strlen(root);
	assert_int_equal(nftw(root, m_visit, 32, FTW_PHYS), 0);
	for (char *p = m_out.buf, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
		*nl = 0;
		lines = sb_xgrow(lines, &alloc, n + 1, sizeof(*lines));
		lines[n++] = p;
	}
	qsort(lines, n, sizeof(*lines), line_cmp);
	for (size_t i = 0; i < n; i++)
		sb_strbuf_addf(&sorted, "%s\n", lines[i]);
	free(lines);
	sb_strbuf_release(&m_out);
	return sb_strbuf_detach(&sorted, NULL);
}

/* The tar's entries, one line each: name, type (f d l h c), permissions,
 * owner, then " ->target" for links and " xattr=NAME" for each xattr.
 * Whiteout markers must be empty, mode 0, 0:0, mtime 0. */
static char *list_tar(const struct sb_strbuf *blob)
{
	struct sb_strbuf out = SB_STRBUF_INIT;
	struct archive *a = archive_read_new();
	struct archive_entry *e;

	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_memory(a, blob->buf, blob->len), ARCHIVE_OK);
	for (;;) {
		const char *name, *xn, *base;
		const void *xv;
		size_t xs;
		char type;
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		assert_true(r == ARCHIVE_OK || r == ARCHIVE_WARN);
		name = archive_entry_pathname(e);
		switch (archive_entry_filetype(e)) {
		case AE_IFDIR:
			type = 'd';
			break;
		case AE_IFLNK:
			type = 'l';
			break;
		case AE_IFCHR:
			type = 'c';
			break;
		default:
			type = archive_entry_hardlink(e) ? 'h' : 'f';
		}
		sb_strbuf_addf(&out, "%s %c %o %lld:%lld", name, type, (unsigned)archive_entry_perm(e),
			       (long long)archive_entry_uid(e), (long long)archive_entry_gid(e));
		if (archive_entry_hardlink(e))
			sb_strbuf_addf(&out, " ->%s", archive_entry_hardlink(e));
		else if (type == 'l')
			sb_strbuf_addf(&out, " ->%s", archive_entry_symlink(e));
		archive_entry_xattr_reset(e);
		while (archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK)
			sb_strbuf_addf(&out, " xattr=%s", xn);
		base = strrchr(name, '/');
		base = base ? base + 1 : name;
		if (!strncmp(base, ".wh.", 4)) {
			assert_int_equal(archive_entry_filetype(e), AE_IFREG);
			assert_int_equal(archive_entry_size(e), 0);
			assert_int_equal(archive_entry_mtime(e), 0);
		}
		sb_strbuf_addc(&out, '\n');
	}
	archive_read_free(a);
	return sb_strbuf_detach(&out, NULL);
}

static void pack_mem(const char *lower, const char *dir, bool overlay_upper, struct sb_strbuf *blob,
		     struct sb_layer_result *res)
{
	struct sb_layer_pack_opts o;
	struct sb_layer_sink sink = { mem_sink_write, blob };
	struct sb_error *err = NULL;
	int r;

	sb_layer_pack_opts_init(&o);
	assert_false(o.overlay_upper);
	o.compression = SB_COMPRESS_NONE;
	o.overlay_upper = overlay_upper;
	r = lower ? sb_layer_pack_diff_to(lower, dir, &o, &sink, res, &err)
		  : sb_layer_pack_dir_to(dir, &o, &sink, res, &err);
	if (r < 0)
		fail_msg("pack: %s", err->msg);
}

static void unpack_mem(const struct sb_strbuf *blob, const char *root, bool overlay)
{
	struct sb_layer_unpack_opts o;
	struct sb_error *err = NULL;
	int fd = memfd_create("layer", MFD_CLOEXEC);

	sb_layer_unpack_opts_init(&o);
	assert_false(o.overlay_whiteouts);
	o.overlay_whiteouts = overlay;
	assert_true(fd >= 0);
	assert_int_equal(sb_write_all(fd, blob->buf, blob->len, "memfd", NULL), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	if (sb_layer_unpack(fd, root, &o, NULL, &err) < 0)
		fail_msg("unpack: %s", err->msg);
	close(fd);
}

static void assert_text_equal(const char *what, const char *got, const char *want)
{
	if (strcmp(got, want))
		fail_msg("%s:\n--- got\n%s--- want\n%s", what, got, want);
}

struct dirs {
	char base[64], lower[96], upper[96], work[96], merged[96], snap[96], copy[96];
};

static void dirs_init(struct dirs *d)
{
	snprintf(d->base, sizeof(d->base), "/tmp/sbov.XXXXXX");
	assert_non_null(mkdtemp(d->base));
	pathf(d->lower, sizeof(d->lower), d->base, "lower");
	pathf(d->upper, sizeof(d->upper), d->base, "upper");
	pathf(d->work, sizeof(d->work), d->base, "work");
	pathf(d->merged, sizeof(d->merged), d->base, "merged");
	pathf(d->snap, sizeof(d->snap), d->base, "snap");
	pathf(d->copy, sizeof(d->copy), d->base, "copy");
	mk(d->base, "lower");
	mk(d->base, "upper");
	mk(d->base, "work");
	mk(d->base, "merged");
	mk(d->base, "snap");
}

static void dirs_free(struct dirs *d)
{
	assert_int_equal(sb_rm_rf(AT_FDCWD, d->base, NULL), 0);
}

/* ------------------------------------------------------------------ tests */

/* A real overlay: what a build step does in the merged view, packed from
 * the upper directory, then unpacked as a snapshot and as a plain layer;
 * both must show what the merged view showed. */
static void test_overlay_upper(void **state)
{
	static const char want[] = "added f 644 0:0\n"
				   "added2 h 644 0:0 ->added\n"
				   ".wh.ddir f 0 0:0\n"
				   ".wh.del f 0 0:0\n"
				   "dir/ d 755 0:0\n"
				   "dir/b f 644 0:0\n"
				   "link l 777 0:0 ->added\n"
				   "mod f 600 0:0\n"
				   "newdir/ d 755 0:0\n"
				   "newdir/f f 644 0:0\n"
				   "opq/ d 755 0:0\n"
				   "opq/.wh..wh..opq f 0 0:0\n"
				   "opq/new f 644 0:0\n"
				   "xat f 644 0:0 xattr=user.x\n";
	struct sb_strbuf blob = SB_STRBUF_INIT, again = SB_STRBUF_INIT;
	struct sb_layer_result res, res2;
	struct dirs d;
	char *before, *after, *entries, p[512];
	char lowers[256];
	(void)state;

	if (!can_mount)
		skip();
	dirs_init(&d);
	{
		static const char *const lower[] = { "keep=keep", "del=del", "ddir/", "ddir/x=x", "ddir/sub/",
						     "ddir/sub/y=y", "opq/", "opq/old1=old", "opq/olddir/",
						     "opq/olddir/z=z", "dir/", "dir/a=a", "mod=mod", "xat=xat", NULL };
		seed(d.lower, lower);
	}

	mount_overlay(d.lower, d.upper, d.work, d.merged);
	rm(d.merged, "del");
	rm(d.merged, "ddir");
	rm(d.merged, "opq");
	mk(d.merged, "opq");
	put(d.merged, "opq/new", "new", 0644);
	pathf(p, sizeof(p), d.merged, "mod");
	assert_int_equal(chmod(p, 0600), 0);
	set_x(d.merged, "xat", "user.x", "1");
	put(d.merged, "dir/b", "b", 0644);
	put(d.merged, "added", "added", 0644);
	sh("ln %s/added %s/added2", d.merged, d.merged);
	sh("ln -s added %s/link", d.merged);
	mk(d.merged, "newdir");
	put(d.merged, "newdir/f", "f", 0644);
	before = manifest(d.merged);
	assert_int_equal(umount(d.merged), 0);

	/* the upper really is in overlay format */
	assert_opaque(d.upper, "opq", true);
	assert_whiteout(d.upper, "del");

	pack_mem(NULL, d.upper, true, &blob, &res);
	entries = list_tar(&blob);
	assert_text_equal("entries", entries, want);
	assert_int_equal(res.entries, 14);
	assert_null(memmem(blob.buf, blob.len, "trusted.overlay", 15));
	/* reproducible */
	pack_mem(NULL, d.upper, true, &again, &res2);
	assert_string_equal(res.diff_id, res2.diff_id);
	free(entries);

	/* without overlay_upper the same directory is packed as it is:
	 * whiteout devices (overlayfs links them to one inode) and
	 * overlayfs's xattrs */
	sb_strbuf_reset(&again);
	pack_mem(NULL, d.upper, false, &again, &res2);
	entries = list_tar(&again);
	if (!strstr(entries, "\nddir c 0 0:0\n") || !strstr(entries, "opq/ d 755 0:0 xattr=trusted.overlay.opaque\n"))
		fail_msg("plain pack:\n%s", entries);
	assert_null(strstr(entries, ".wh."));
	free(entries);

	/* as a snapshot under overlayfs */
	unpack_mem(&blob, d.snap, true);
	assert_whiteout(d.snap, "ddir");
	assert_whiteout(d.snap, "del");
	assert_opaque(d.snap, "opq", true);
	assert_opaque(d.snap, "dir", false);
	assert_absent(d.snap, "opq/.wh..wh..opq");
	snprintf(lowers, sizeof(lowers), "%s:%s", d.snap, d.lower);
	mount_overlay(lowers, NULL, NULL, d.merged);
	after = manifest(d.merged);
	assert_int_equal(umount(d.merged), 0);
	assert_text_equal("merged view over the snapshot", after, before);
	free(after);
	assert_null(strstr(before, "old1"));
	assert_null(strstr(before, "ddir"));
	assert_non_null(strstr(before, "keep"));

	/* as a plain layer over a copy of the lower tree */
	sh("cp -a %s %s", d.lower, d.copy);
	unpack_mem(&blob, d.copy, false);
	after = manifest(d.copy);
	assert_text_equal("plain layer over the lower tree", after, before);
	free(after);

	free(before);
	sb_strbuf_release(&blob);
	sb_strbuf_release(&again);
	dirs_free(&d);
}

/* Markers in crafted layers: the whiteout applies first, whatever its
 * place; escapes are refused as for any entry. */
static la_ssize_t t_write(struct archive *a, void *ctx, const void *buf, size_t len)
{
	(void)a;
	sb_strbuf_add(ctx, buf, len);
	return (la_ssize_t)len;
}

static struct archive *t_new(struct sb_strbuf *out)
{
	struct archive *a = archive_write_new();
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open(a, out, NULL, t_write, NULL), ARCHIVE_OK);
	return a;
}

static void t_add(struct archive *a, const char *name, mode_t type)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_copy_pathname(e, name);
	archive_entry_set_mode(e, type | (type == AE_IFDIR ? 0755 : 0644));
	archive_entry_set_size(e, 0);
	if (type == AE_IFLNK)
		archive_entry_copy_symlink(e, "../canary");
	assert_true(archive_write_header(a, e) >= ARCHIVE_WARN);
	archive_entry_free(e);
}

static void test_overlay_unpack_markers(void **state)
{
	struct sb_strbuf tar = SB_STRBUF_INIT;
	struct archive *a;
	struct dirs d;
	char p[512];
	(void)state;

	if (geteuid() != 0)
		skip();
	dirs_init(&d);
	a = t_new(&tar);
	t_add(a, ".wh.d", AE_IFREG); /* then this layer's d: opaque */
	t_add(a, "d/", AE_IFDIR);
	t_add(a, "d/f", AE_IFREG);
	t_add(a, "e/", AE_IFDIR); /* this layer's e, then its whiteout: opaque */
	t_add(a, ".wh.e", AE_IFREG);
	t_add(a, "m", AE_IFREG); /* a file of its own hides the lower m anyway */
	t_add(a, ".wh.m", AE_IFREG);
	t_add(a, ".wh.n", AE_IFREG);
	t_add(a, "sub/.wh.deep", AE_IFREG); /* parent made on the way */
	t_add(a, "o/.wh..wh..opq", AE_IFREG);
	t_add(a, ".wh..wh.plnk/1", AE_IFREG); /* AUFS metadata: skipped */
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	unpack_mem(&tar, d.snap, true);

	assert_opaque(d.snap, "d", true);
	assert_type(d.snap, "d/f", S_IFREG);
	assert_opaque(d.snap, "e", true);
	assert_type(d.snap, "m", S_IFREG);
	assert_whiteout(d.snap, "n");
	assert_whiteout(d.snap, "sub/deep");
	assert_opaque(d.snap, "o", true);
	assert_absent(d.snap, ".wh..wh.plnk");
	assert_absent(d.snap, ".wh.n");

	/* through a symlink leading out: refused, nothing made outside */
	{
		struct sb_layer_unpack_opts o;
		struct sb_error *err = NULL;
		int fd;

		sb_strbuf_reset(&tar);
		a = t_new(&tar);
		t_add(a, "s", AE_IFLNK);
		t_add(a, "s/.wh.x", AE_IFREG);
		assert_int_equal(archive_write_close(a), ARCHIVE_OK);
		archive_write_free(a);
		mk(d.base, "canary");
		mk(d.base, "fresh");
		pathf(p, sizeof(p), d.base, "fresh");
		sb_layer_unpack_opts_init(&o);
		o.overlay_whiteouts = true;
		fd = memfd_create("layer", MFD_CLOEXEC);
		assert_int_equal(sb_write_all(fd, tar.buf, tar.len, "memfd", NULL), 0);
		assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
		assert_int_equal(sb_layer_unpack(fd, p, &o, NULL, &err), -1);
		assert_non_null(strstr(err->msg, "s/.wh.x"));
		sb_error_free(err);
		close(fd);
		assert_absent(d.base, "canary/x");
	}
	sb_strbuf_release(&tar);
	dirs_free(&d);
}

static void touch_like(const char *root, const char *rel, const char *like_root)
{
	char p[512], q[512];
	struct stat st;
	pathf(p, sizeof(p), root, rel);
	pathf(q, sizeof(q), like_root, rel);
	assert_int_equal(lstat(q, &st), 0);
	{
		struct timespec ts[2] = { st.st_atim, st.st_mtim };
		assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
	}
}

/* The fallback diff of two full trees. */
static void test_pack_diff(void **state)
{
	static const char want[] = "chmodded f 600 0:0\n"
				   "deep/ d 755 0:0\n"
				   "deep/a/ d 755 0:0\n"
				   "deep/a/b/ d 755 0:0\n"
				   "deep/a/b/new f 644 0:0\n"
				   ".wh.gone f 0 0:0\n"
				   ".wh.gonedir f 0 0:0\n"
				   "linkchg l 777 0:0 ->b\n"
				   "new1 f 644 0:0\n"
				   "new2 h 644 0:0 ->new1\n"
				   "newdir/ d 755 0:0\n"
				   "newdir/f f 644 0:0\n"
				   "typechg f 644 0:0\n"
				   "xattr f 644 0:0 xattr=user.y\n";
	struct sb_strbuf blob = SB_STRBUF_INIT, again = SB_STRBUF_INIT;
	struct sb_layer_result res, res2;
	struct dirs d;
	char *entries, *m1, *m2, p[512];
	(void)state;

	dirs_init(&d);
	rm(d.base, "upper");
	{
		static const char *const lower[] = { "a-unchanged=same", "chmodded=c", "deep/", "deep/a/", "deep/a/b/",
						     "deep/a/b/old=old", "gone=gone", "gonedir/", "gonedir/x=x",
						     "gonedir/sub/", "gonedir/sub/y=y", "linkchg->a", "samesize=aaaa",
						     "typechg/", "typechg/c=c", "untouched/", "untouched/f=f", "xattr=x",
						     NULL };
		seed(d.lower, lower);
	}

	sh("cp -a %s %s", d.lower, d.upper);
	pathf(p, sizeof(p), d.upper, "chmodded");
	assert_int_equal(chmod(p, 0600), 0);
	put(d.upper, "deep/a/b/new", "new", 0644);
	rm(d.upper, "gone");
	rm(d.upper, "gonedir");
	rm(d.upper, "linkchg");
	sh("ln -s b %s/linkchg", d.upper);
	touch_like(d.upper, "linkchg", d.lower); /* only the target differs */
	put(d.upper, "samesize", "bbbb", 0644);
	touch_like(d.upper, "samesize", d.lower); /* naive: not compared */
	rm(d.upper, "typechg");
	put(d.upper, "typechg", "now a file", 0644);
	set_x(d.upper, "xattr", "user.y", "1");
	touch_like(d.upper, "xattr", d.lower);
	put(d.upper, "new1", "linked", 0644);
	sh("ln %s/new1 %s/new2", d.upper, d.upper);
	mk(d.upper, "newdir");
	put(d.upper, "newdir/f", "f", 0644);
	/* directories this changed, where nothing below changed: the same */
	touch_like(d.upper, "untouched", d.lower);
	touch_like(d.upper, "deep", d.lower);
	touch_like(d.upper, "deep/a", d.lower);

	pack_mem(d.lower, d.upper, false, &blob, &res);
	entries = list_tar(&blob);
	assert_text_equal("diff entries", entries, want);
	free(entries);
	assert_int_equal(res.entries, 14);
	pack_mem(d.lower, d.upper, false, &again, &res2);
	assert_string_equal(res.diff_id, res2.diff_id);

	/* the store variant stores the same layer */
	{
		struct sb_store store;
		struct sb_layer_pack_opts o;
		struct sb_error *err = NULL;
		char storedir[160];
		pathf(storedir, sizeof(storedir), d.base, "store");
		if (sb_store_open(&store, storedir, &err) < 0)
			fail_msg("store: %s", err->msg);
		sb_layer_pack_opts_init(&o);
		o.compression = SB_COMPRESS_NONE;
		if (sb_layer_pack_diff(&store, d.lower, d.upper, &o, &res2, &err) < 0)
			fail_msg("pack_diff: %s", err->msg);
		assert_string_equal(res2.digest, res.digest);
		assert_true(sb_store_has_blob(&store, res.digest));
		sb_store_release(&store);
	}

	/* applied to the lower tree, the layer gives the upper tree (less
	 * the change a naive diff cannot see) */
	sh("cp -a %s %s", d.lower, d.copy);
	unpack_mem(&blob, d.copy, false);
	rm(d.copy, "samesize");
	rm(d.upper, "samesize");
	m1 = manifest(d.copy);
	m2 = manifest(d.upper);
	assert_text_equal("lower + diff", m1, m2);
	free(m1);
	free(m2);

	/* no difference, no entries */
	sb_strbuf_reset(&again);
	pack_mem(d.upper, d.upper, false, &again, &res2);
	assert_int_equal(res2.entries, 0);

	sb_strbuf_release(&blob);
	sb_strbuf_release(&again);
	dirs_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overlay_upper),
		cmocka_unit_test(test_overlay_unpack_markers),
		cmocka_unit_test(test_pack_diff),
	};
	umask(022);
	/* Mounts made here vanish with the process, whatever happens. */
	can_mount = geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
