#include "tests/unit/sb_test.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/layer/internal.h"
#include "runtime/layer/layer.h"

/* ---------------------------------------------------------------- helpers */

static int mem_sink_write(void *ctx, const void *data, size_t len, struct sb_error **err)
{
	(void)err;
	return sb_strbuf_add(ctx, data, len);
}

static int memfd_of(const void *data, size_t len)
{
	int fd = memfd_create("layer", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(sb_write_all(fd, data, len, "memfd", NULL), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static void compress_buf(enum sb_compression kind, int level, const void *in, size_t len, struct sb_strbuf *out)
{
	struct sb_layer_sink sink = { mem_sink_write, out };
	struct sb_compressor c;
	struct sb_error *err = NULL;
	assert_int_equal(sb_compressor_init(&c, kind, level, &sink, &err), 0);
	assert_int_equal(sb_compressor_write(&c, in, len, &err), 0);
	assert_int_equal(sb_compressor_finish(&c, &err), 0);
	sb_compressor_release(&c);
}

/* Decompress all of data; returns 0 or -1 with *err. */
static int decompress_buf(const void *data, size_t len, uint64_t max, struct sb_strbuf *out, char digest[SB_DIGEST_SIZE],
			  struct sb_error **err)
{
	struct sb_decompressor d;
	char buf[7000]; /* odd size: exercise partial reads */
	int fd = memfd_of(data, len), ret = -1;
	if (sb_decompressor_open(&d, fd, max, err) < 0)
		goto out;
	for (;;) {
		ssize_t n = sb_decompressor_read(&d, buf, sizeof(buf), err);
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		sb_strbuf_add(out, buf, (size_t)n);
	}
	if (digest)
		sb_decompressor_digest(&d, digest);
	ret = 0;
out:
	sb_decompressor_release(&d);
	close(fd);
	return ret;
}

static void fill_pattern(unsigned char *p, size_t n, uint32_t seed)
{
	/* Half noise, half runs: compressible but not trivially. */
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (i / 4096) % 2 ? (unsigned char)(seed >> 16) : (unsigned char)('a' + i % 7);
	}
}

/* A tar built with libarchive's writer, for crafted (hostile) layers. */
struct tarb {
	struct archive *a;
	struct archive_entry *e;
	struct sb_strbuf out;
};

static la_ssize_t tarb_write(struct archive *a, void *ctx, const void *buf, size_t len)
{
	(void)a;
	sb_strbuf_add(&((struct tarb *)ctx)->out, buf, len);
	return (la_ssize_t)len;
}

static void tarb_init(struct tarb *t)
{
	memset(t, 0, sizeof(*t));
	t->a = archive_write_new();
	t->e = archive_entry_new();
	assert_int_equal(archive_write_set_format_pax_restricted(t->a), ARCHIVE_OK);
	archive_write_set_bytes_in_last_block(t->a, 1);
	assert_int_equal(archive_write_open(t->a, t, NULL, tarb_write, NULL), ARCHIVE_OK);
}

enum { T_FILE, T_DIR, T_SYMLINK, T_HARDLINK, T_CHR, T_FIFO };

static void tarb_add(struct tarb *t, int kind, const char *name, const char *data_or_link, size_t size)
{
	archive_entry_clear(t->e);
	archive_entry_copy_pathname(t->e, name);
	archive_entry_set_mtime(t->e, 1000000000, 0);
	switch (kind) {
	case T_FILE:
		archive_entry_set_mode(t->e, AE_IFREG | 0644);
		archive_entry_set_size(t->e, (la_int64_t)size);
		break;
	case T_DIR:
		archive_entry_set_mode(t->e, AE_IFDIR | 0755);
		break;
	case T_SYMLINK:
		archive_entry_set_mode(t->e, AE_IFLNK | 0777);
		archive_entry_copy_symlink(t->e, data_or_link);
		break;
	case T_HARDLINK:
		archive_entry_set_mode(t->e, AE_IFREG | 0644);
		archive_entry_copy_hardlink(t->e, data_or_link);
		archive_entry_set_size(t->e, 0);
		break;
	case T_CHR:
		archive_entry_set_mode(t->e, AE_IFCHR | 0666);
		archive_entry_set_rdevmajor(t->e, 1);
		archive_entry_set_rdevminor(t->e, 3);
		break;
	case T_FIFO:
		archive_entry_set_mode(t->e, AE_IFIFO | 0644);
		break;
	}
	assert_true(archive_write_header(t->a, t->e) >= ARCHIVE_WARN);
	if (kind == T_FILE && size) {
		if (data_or_link) {
			assert_int_equal(archive_write_data(t->a, data_or_link, size), (la_ssize_t)size);
		} else {
			static char zeros[65536];
			for (size_t done = 0; done < size;) {
				size_t n = size - done < sizeof(zeros) ? size - done : sizeof(zeros);
				assert_int_equal(archive_write_data(t->a, zeros, n), (la_ssize_t)n);
				done += n;
			}
		}
	}
}

static void tarb_file(struct tarb *t, const char *name, const char *content)
{
	tarb_add(t, T_FILE, name, content, strlen(content));
}

/* Finish; the tar is in t->out (caller releases). */
static void tarb_finish(struct tarb *t)
{
	assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
	archive_write_free(t->a);
	archive_entry_free(t->e);
}

/* A scratch directory holding "rootfs" and its neighbour "canary". */
struct scratch {
	char base[64], root[96], canary[96];
};

static void scratch_init(struct scratch *s)
{
	snprintf(s->base, sizeof(s->base), "/tmp/sbtl.XXXXXX");
	assert_non_null(mkdtemp(s->base));
	snprintf(s->root, sizeof(s->root), "%s/rootfs", s->base);
	snprintf(s->canary, sizeof(s->canary), "%s/canary", s->base);
	assert_int_equal(mkdir(s->root, 0755), 0);
	assert_int_equal(mkdir(s->canary, 0755), 0);
}

static void scratch_free(struct scratch *s)
{
	assert_int_equal(sb_rm_rf(AT_FDCWD, s->base, NULL), 0);
}

static size_t count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	size_t n = 0;
	assert_non_null(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

/* Nothing was written next to the rootfs. */
static void assert_scratch_clean(struct scratch *s)
{
	assert_int_equal(count_dir(s->canary), 0);
	assert_int_equal(count_dir(s->base), 2);
}

static int unpack_buf(const struct sb_strbuf *tar, const char *root, const struct sb_layer_unpack_opts *o,
		      struct sb_layer_unpack_stats *stats, struct sb_error **err)
{
	int fd = memfd_of(tar->buf, tar->len);
	int r = sb_layer_unpack(fd, root, o, stats, err);
	close(fd);
	return r;
}

static void assert_err_names(struct sb_error *err, const char *name)
{
	assert_non_null(err);
	if (!strstr(err->msg, name))
		fail_msg("error \"%s\" does not name \"%s\"", err->msg, name);
}

/* Unpack tar into a fresh scratch rootfs; it must fail naming `name` and
 * leave nothing outside the rootfs. */
static void expect_refused(const struct sb_strbuf *tar, const char *name, const struct sb_layer_unpack_opts *o)
{
	struct sb_layer_unpack_opts defaults;
	struct scratch s;
	struct sb_error *err = NULL;

	if (!o) {
		sb_layer_unpack_opts_init(&defaults);
		o = &defaults;
	}
	scratch_init(&s);
	assert_int_equal(unpack_buf(tar, s.root, o, NULL, &err), -1);
	assert_err_names(err, name);
	assert_scratch_clean(&s);
	sb_error_free(err);
	scratch_free(&s);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static char *read_text(const char *path)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	if (sb_read_file(AT_FDCWD, path, 0, &sb, NULL) < 0) {
		sb_strbuf_release(&sb);
		return NULL;
	}
	return sb_strbuf_detach(&sb, NULL);
}

static void assert_file(const char *dir, const char *rel, const char *content)
{
	char path[512];
	char *got;
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	got = read_text(path);
	if (!got)
		fail_msg("%s missing", rel);
	assert_string_equal(got, content);
	free(got);
}

static void assert_missing(const char *dir, const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (exists(path))
		fail_msg("%s should not exist", rel);
}

static mode_t type_of(const char *dir, const char *rel)
{
	char path[512];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (lstat(path, &st) < 0)
		return 0;
	return st.st_mode & S_IFMT;
}

/* -------------------------------------------------------- tree manifests */

/* One line per path (not the root, not sockets): type, mode, owner, size,
 * mtime, content digest or link target or device, xattrs, hard link
 * group. Two trees are equal when their manifests are. */
struct mline {
	char *path;
	struct stat st;
	char *text;
};
static struct mline *m_lines;
static size_t m_n, m_alloc;
static size_t m_prefix;

static int m_visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	if (strlen(path) <= m_prefix || S_ISSOCK(st->st_mode))
		return 0;
	m_lines = sb_xgrow(m_lines, &m_alloc, m_n + 1, sizeof(*m_lines));
	m_lines[m_n].path = sb_xstrdup(path + m_prefix + 1);
	m_lines[m_n].st = *st;
	m_lines[m_n].text = NULL;
	m_n++;
	return 0;
}

static int mline_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mline *)a)->path, ((const struct mline *)b)->path);
}

static void describe(const char *root, struct mline *l, const char *link_to, bool mtimes, struct sb_strbuf *out)
{
	char full[8192], target[4096], digest[SB_DIGEST_SIZE];
	char names[4096];
	const struct stat *st = &l->st;
	ssize_t n;

	snprintf(full, sizeof(full), "%s/%s", root, l->path);
	sb_strbuf_addf(out, "%s type=%o mode=%o owner=%u:%u", l->path, (unsigned)(st->st_mode & S_IFMT),
		       (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid, (unsigned)st->st_gid);
	if (mtimes)
		sb_strbuf_addf(out, " mtime=%lld", (long long)st->st_mtim.tv_sec);
	if (link_to) {
		sb_strbuf_addf(out, " link=%s", link_to);
	} else if (S_ISREG(st->st_mode)) {
		struct sb_strbuf content = SB_STRBUF_INIT;
		assert_int_equal(sb_read_file(AT_FDCWD, full, 0, &content, NULL), 0);
		sb_sha256_digest(content.buf, content.len, digest);
		sb_strbuf_addf(out, " size=%zu %s", content.len, digest);
		sb_strbuf_release(&content);
	} else if (S_ISLNK(st->st_mode)) {
		n = readlink(full, target, sizeof(target) - 1);
		assert_true(n >= 0);
		target[n] = 0;
		sb_strbuf_addf(out, " -> %s", target);
	} else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		sb_strbuf_addf(out, " dev=%u,%u", major(st->st_rdev), minor(st->st_rdev));
	}
	n = llistxattr(full, names, sizeof(names));
	if (n > 0) {
		/* sorted */
		char *v[64];
		size_t nv = 0;
		for (char *p = names; p < names + n && nv < 64; p += strlen(p) + 1)
			v[nv++] = p;
		for (size_t i = 0; i < nv; i++)
			for (size_t j = i + 1; j < nv; j++)
				if (strcmp(v[j], v[i]) < 0) {
					char *t = v[i];
					v[i] = v[j];
					v[j] = t;
				}
		for (size_t i = 0; i < nv; i++) {
			unsigned char val[1024];
			ssize_t vn = lgetxattr(full, v[i], val, sizeof(val));
			sb_strbuf_addf(out, " xattr:%s=", v[i]);
			for (ssize_t k = 0; k < vn; k++)
				sb_strbuf_addf(out, "%02x", val[k]);
		}
	}
	sb_strbuf_addc(out, '\n');
}

static char *tree_manifest(const char *root, bool mtimes)
{
	struct sb_strbuf out = SB_STRBUF_INIT;
	m_lines = NULL;
	m_n = m_alloc = 0;
	m_prefix = strlen(root);
	assert_int_equal(nftw(root, m_visit, 64, FTW_PHYS), 0);
	qsort(m_lines, m_n, sizeof(*m_lines), mline_cmp);
	for (size_t i = 0; i < m_n; i++) {
		const char *link_to = NULL;
		if (!S_ISDIR(m_lines[i].st.st_mode) && m_lines[i].st.st_nlink > 1) {
			for (size_t j = 0; j < i; j++)
				if (m_lines[j].st.st_ino == m_lines[i].st.st_ino &&
				    m_lines[j].st.st_dev == m_lines[i].st.st_dev) {
					link_to = m_lines[j].path;
					break;
				}
		}
		describe(root, &m_lines[i], link_to, mtimes, &out);
	}
	for (size_t i = 0; i < m_n; i++)
		free(m_lines[i].path);
	free(m_lines);
	m_lines = NULL;
	return sb_strbuf_detach(&out, NULL);
}

static void assert_same_tree(const char *a, const char *b, bool mtimes)
{
	char *ma = tree_manifest(a, mtimes), *mb = tree_manifest(b, mtimes);
	if (strcmp(ma, mb)) {
		/* show the first difference */
		size_t i = 0, line = 0;
		while (ma[i] && ma[i] == mb[i]) {
			if (ma[i] == '\n')
				line = i + 1;
			i++;
		}
		fail_msg("trees differ:\n  %s: %.300s\n  %s: %.300s", a, ma + line, b, mb + line);
	}
	free(ma);
	free(mb);
}

/* --------------------------------------------------- a tree of every kind */

static bool is_root(void)
{
	return geteuid() == 0;
}

static void put(const char *root, const char *rel, const void *data, size_t len, mode_t mode)
{
	char path[1024];
	int fd;
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(sb_write_all(fd, data, len, path, NULL), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void mk(const char *root, const char *rel, mode_t mode)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(mkdir(path, mode), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void ln_s(const char *root, const char *target, const char *rel)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(symlink(target, path), 0);
}

static void ln(const char *root, const char *from, const char *rel)
{
	char a[1024], b[1024];
	snprintf(a, sizeof(a), "%s/%s", root, from);
	snprintf(b, sizeof(b), "%s/%s", root, rel);
	assert_int_equal(link(a, b), 0);
}

static int set_times_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	struct timespec ts[2] = { { 1600000000 + (time_t)(ftw->level * 1000 + st->st_size % 97), 123456789 },
				  { 1600000000 + (time_t)(ftw->level * 1000 + st->st_size % 97), 123456789 } };
	(void)flag;
	utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
	return 0;
}

/* Every file type, odd modes and owners, xattrs, hard links, long and
 * non-UTF-8 names, a socket that pack must skip. */
static void build_tree(const char *root)
{
	static unsigned char big[1 << 20];
	/* struct vfs_cap_data, revision 2, effective, CAP_NET_RAW permitted */
	static const unsigned char cap[20] = { 0x01, 0x00, 0x00, 0x02, 0x00, 0x20 };
	char longname[256], deep[1024];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int sock;

	fill_pattern(big, sizeof(big), 7);
	mk(root, "d", 0750);
	put(root, "d/file", "hello\n", 6, 0644);
	put(root, "empty", "", 0, 0600);
	put(root, "exe", "#!/bin/sh\n", 10, 04755);
	put(root, "big", big, sizeof(big), 0644);
	mk(root, "sticky", 01777);
	mk(root, "a-b", 0755);
	put(root, "a-b/x", "x", 1, 0644);
	mk(root, "a", 0755);
	put(root, "a/x", "y", 1, 0644);
	ln_s(root, "d/file", "link");
	ln_s(root, "/etc/passwd", "abs");
	ln_s(root, "nowhere", "dangling");
	ln(root, "d/file", "hl1");
	ln(root, "d/file", "a/hl2");
	{
		char p[1024];
		snprintf(p, sizeof(p), "%s/fifo", root);
		assert_int_equal(mkfifo(p, 0640), 0);
	}
	memset(longname, 'n', 200);
	longname[200] = 0;
	put(root, longname, "long", 4, 0644);
	snprintf(deep, sizeof(deep), "%s", "deep");
	mk(root, deep, 0755);
	for (int i = 0; i < 3; i++) {
		size_t l = strlen(deep);
		snprintf(deep + l, sizeof(deep) - l, "/%.90s", longname);
		mk(root, deep, 0755);
	}
	{
		size_t l = strlen(deep);
		snprintf(deep + l, sizeof(deep) - l, "/leaf");
		put(root, deep, "deep", 4, 0644);
	}
	put(root, "caf\xc3\xa9", "utf8", 4, 0644);
	put(root, "bad\xff\xfe", "raw", 3, 0644);
	put(root, "setxattr", "x", 1, 0644);
	{
		char p[1024];
		snprintf(p, sizeof(p), "%s/setxattr", root);
		assert_int_equal(setxattr(p, "user.test", "value", 5, 0), 0);
		assert_int_equal(setxattr(p, "user.another", "\0\1\2", 3, 0), 0);
		if (is_root()) {
			snprintf(p, sizeof(p), "%s/exe", root);
			assert_int_equal(setxattr(p, "security.capability", cap, sizeof(cap), 0), 0);
			snprintf(p, sizeof(p), "%s/d", root);
			assert_int_equal(setxattr(p, "trusted.note", "t", 1, 0), 0);
		}
	}
	if (is_root()) {
		char p[1024];
		snprintf(p, sizeof(p), "%s/null", root);
		assert_int_equal(mknod(p, S_IFCHR | 0666, makedev(1, 3)), 0);
		snprintf(p, sizeof(p), "%s/blk", root);
		assert_int_equal(mknod(p, S_IFBLK | 0600, makedev(7, 200)), 0);
		snprintf(p, sizeof(p), "%s/d", root);
		assert_int_equal(lchown(p, 1000, 1001), 0);
		snprintf(p, sizeof(p), "%s/d/file", root);
		assert_int_equal(lchown(p, 3000000, 3000001), 0); /* past ustar's 7 octal digits */
		snprintf(p, sizeof(p), "%s/link", root);
		assert_int_equal(lchown(p, 5, 6), 0);
		snprintf(p, sizeof(p), "%s/exe", root);
		/* chown drops the capability: set it again after */
		assert_int_equal(setxattr(p, "security.capability", cap, sizeof(cap), 0), 0);
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", root);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(sock >= 0);
	assert_int_equal(bind(sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(sock);
	/* depth first, children before parents, so directory times stick */
	assert_int_equal(nftw(root, set_times_cb, 64, FTW_PHYS | FTW_DEPTH), 0);
}

static void pack_mem(const char *dir, enum sb_compression c, int64_t sde, struct sb_strbuf *blob,
		     struct sb_layer_result *res)
{
	struct sb_layer_pack_opts o;
	struct sb_layer_sink sink = { mem_sink_write, blob };
	struct sb_error *err = NULL;
	sb_layer_pack_opts_init(&o);
	o.compression = c;
	o.source_date_epoch = sde;
	if (sb_layer_pack_dir_to(dir, &o, &sink, res, &err) < 0)
		fail_msg("pack: %s", err->msg);
}

/* ------------------------------------------------------------------ tests */

static void test_path_order(void **state)
{
	static const char *const sorted[] = { "a", "a/b", "a/b/c", "a/z", "a-b", "a-b/x", "a.b", "a0", "b", "caf\xc3\xa9",
					      "\xff" };
	(void)state;
	for (size_t i = 0; i < SB_ARRAY_SIZE(sorted); i++)
		for (size_t j = 0; j < SB_ARRAY_SIZE(sorted); j++) {
			int c = sb_layer_path_cmp(sorted[i], sorted[j]);
			if ((i < j && c >= 0) || (i == j && c != 0) || (i > j && c <= 0))
				fail_msg("%s vs %s: %d", sorted[i], sorted[j], c);
		}
}

static void test_compression_names(void **state)
{
	(void)state;
	assert_int_equal(sb_compression_parse("gzip"), SB_COMPRESS_GZIP);
	assert_int_equal(sb_compression_parse("zstd"), SB_COMPRESS_ZSTD);
	assert_int_equal(sb_compression_parse("none"), SB_COMPRESS_NONE);
	assert_int_equal(sb_compression_parse("uncompressed"), SB_COMPRESS_NONE);
	assert_int_equal(sb_compression_parse("lz4"), -1);
	assert_int_equal(sb_compression_parse(NULL), -1);
	assert_string_equal(sb_layer_media_type(SB_COMPRESS_GZIP, true), "application/vnd.oci.image.layer.v1.tar+gzip");
	assert_string_equal(sb_layer_media_type(SB_COMPRESS_ZSTD, true), "application/vnd.oci.image.layer.v1.tar+zstd");
	assert_string_equal(sb_layer_media_type(SB_COMPRESS_NONE, true), "application/vnd.oci.image.layer.v1.tar");
	assert_string_equal(sb_layer_media_type(SB_COMPRESS_GZIP, false),
			    "application/vnd.docker.image.rootfs.diff.tar.gzip");
	assert_string_equal(sb_layer_media_type(SB_COMPRESS_ZSTD, false), "application/vnd.oci.image.layer.v1.tar+zstd");
	for (int c = SB_COMPRESS_GZIP; c <= SB_COMPRESS_NONE; c++)
		for (int oci = 0; oci < 2; oci++)
			assert_int_equal(sb_layer_media_compression(sb_layer_media_type(c, oci)), c);
	assert_int_equal(sb_layer_media_compression(SB_MT_DOCKER_LAYER_FOREIGN), SB_COMPRESS_GZIP);
	assert_int_equal(sb_layer_media_compression("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"),
			 SB_COMPRESS_GZIP);
	assert_int_equal(sb_layer_media_compression(SB_MT_OCI_CONFIG), -1);
	assert_int_equal(sb_layer_media_compression(NULL), -1);
}

static void test_compress_roundtrip(void **state)
{
	static unsigned char data[3 << 20];
	(void)state;
	fill_pattern(data, sizeof(data), 42);
	for (int c = SB_COMPRESS_GZIP; c <= SB_COMPRESS_NONE; c++) {
		struct sb_strbuf z = SB_STRBUF_INIT, back = SB_STRBUF_INIT;
		char want[SB_DIGEST_SIZE], got[SB_DIGEST_SIZE];
		struct sb_error *err = NULL;

		compress_buf(c, 0, data, sizeof(data), &z);
		if (c == SB_COMPRESS_GZIP) {
			/* RFC 1952: magic, deflate, no flags, mtime 0, OS unix */
			assert_memory_equal(z.buf, "\x1f\x8b\x08\x00\x00\x00\x00\x00", 8);
			assert_int_equal((unsigned char)z.buf[9], 3);
			assert_true(z.len < sizeof(data));
		} else if (c == SB_COMPRESS_ZSTD) {
			assert_memory_equal(z.buf, "\x28\xb5\x2f\xfd", 4);
			assert_true(z.len < sizeof(data));
		} else {
			assert_int_equal(z.len, sizeof(data));
		}
		if (decompress_buf(z.buf, z.len, 0, &back, got, &err) < 0)
			fail_msg("%s: %s", sb_compression_name(c), err->msg);
		assert_int_equal(back.len, sizeof(data));
		assert_memory_equal(back.buf, data, sizeof(data));
		sb_sha256_digest(data, sizeof(data), want);
		assert_string_equal(got, want);
		sb_strbuf_release(&z);
		sb_strbuf_release(&back);
	}
	/* levels */
	{
		struct sb_strbuf a = SB_STRBUF_INIT, b = SB_STRBUF_INIT;
		struct sb_compressor c;
		struct sb_layer_sink sink = { mem_sink_write, &a };
		struct sb_error *err = NULL;
		compress_buf(SB_COMPRESS_GZIP, 1, data, sizeof(data), &a);
		compress_buf(SB_COMPRESS_GZIP, 9, data, sizeof(data), &b);
		assert_true(b.len < a.len);
		assert_int_equal(sb_compressor_init(&c, SB_COMPRESS_GZIP, 10, &sink, &err), -1);
		assert_int_equal(err->code, EINVAL);
		sb_error_free(err);
		err = NULL;
		assert_int_equal(sb_compressor_init(&c, SB_COMPRESS_ZSTD, 99, &sink, &err), -1);
		sb_error_free(err);
		sb_strbuf_release(&a);
		sb_strbuf_release(&b);
	}
}

static void test_decompress_multi_and_errors(void **state)
{
	static unsigned char data[200000];
	struct sb_strbuf z1 = SB_STRBUF_INIT, z2 = SB_STRBUF_INIT, cat = SB_STRBUF_INIT, back = SB_STRBUF_INIT;
	struct sb_error *err = NULL;
	(void)state;

	fill_pattern(data, sizeof(data), 3);
	for (int c = SB_COMPRESS_GZIP; c <= SB_COMPRESS_ZSTD; c++) {
		/* concatenated members / frames are one stream */
		sb_strbuf_reset(&z1);
		sb_strbuf_reset(&z2);
		sb_strbuf_reset(&cat);
		sb_strbuf_reset(&back);
		compress_buf(c, 0, data, 1000, &z1);
		compress_buf(c, 0, data + 1000, sizeof(data) - 1000, &z2);
		sb_strbuf_add(&cat, z1.buf, z1.len);
		sb_strbuf_add(&cat, z2.buf, z2.len);
		assert_int_equal(decompress_buf(cat.buf, cat.len, 0, &back, NULL, &err), 0);
		assert_int_equal(back.len, sizeof(data));
		assert_memory_equal(back.buf, data, sizeof(data));

		/* truncated anywhere */
		for (size_t cut = 4; cut < z2.len; cut += z2.len / 7 + 1) {
			sb_strbuf_reset(&back);
			assert_int_equal(decompress_buf(z2.buf, cut, 0, &back, NULL, &err), -1);
			assert_non_null(err);
			sb_error_free(err);
			err = NULL;
		}
		/* trailing garbage */
		sb_strbuf_reset(&back);
		sb_strbuf_add(&cat, "garbage!", 8);
		assert_int_equal(decompress_buf(cat.buf, cat.len, 0, &back, NULL, &err), -1);
		sb_error_free(err);
		err = NULL;
		/* bounded */
		sb_strbuf_reset(&back);
		assert_int_equal(decompress_buf(z2.buf, z2.len, 4096, &back, NULL, &err), -1);
		assert_int_equal(err->code, EFBIG);
		assert_non_null(strstr(err->msg, "4096"));
		sb_error_free(err);
		err = NULL;
	}
	/* a corrupt gzip body */
	sb_strbuf_reset(&z1);
	compress_buf(SB_COMPRESS_GZIP, 0, data, sizeof(data), &z1);
	z1.buf[z1.len / 2] ^= 0x55;
	z1.buf[z1.len / 2 + 1] ^= 0x55;
	sb_strbuf_reset(&back);
	assert_int_equal(decompress_buf(z1.buf, z1.len, 0, &back, NULL, &err), -1);
	sb_error_free(err);
	sb_strbuf_release(&z1);
	sb_strbuf_release(&z2);
	sb_strbuf_release(&cat);
	sb_strbuf_release(&back);
}

static void test_pack_unpack_roundtrip(void **state)
{
	struct scratch s;
	char src[128];
	(void)state;

	scratch_init(&s);
	snprintf(src, sizeof(src), "%s/src", s.canary);
	mk("", src, 0755);
	build_tree(src);
	for (int c = SB_COMPRESS_GZIP; c <= SB_COMPRESS_NONE; c++) {
		struct sb_strbuf blob = SB_STRBUF_INIT, tar = SB_STRBUF_INIT;
		struct sb_layer_result res;
		struct sb_layer_unpack_stats stats;
		struct sb_error *err = NULL;
		char dst[128], digest[SB_DIGEST_SIZE];

		pack_mem(src, c, -1, &blob, &res);
		assert_int_equal(res.skipped, 1); /* the socket */
		assert_int_equal(res.size, (int64_t)blob.len);
		sb_sha256_digest(blob.buf, blob.len, digest);
		assert_string_equal(res.digest, digest);
		assert_string_equal(res.media_type, sb_layer_media_type(c, true));
		assert_int_equal(decompress_buf(blob.buf, blob.len, 0, &tar, digest, &err), 0);
		assert_string_equal(res.diff_id, digest);
		assert_int_equal(res.tar_size, tar.len);

		snprintf(dst, sizeof(dst), "%s/dst%d", s.canary, c);
		mk("", dst, 0755);
		if (unpack_buf(&blob, dst, NULL, &stats, &err) < 0)
			fail_msg("unpack: %s", err->msg);
		assert_int_equal(stats.entries, res.entries);
		assert_string_equal(stats.diff_id, res.diff_id);
		assert_int_equal(stats.bytes, tar.len);
		assert_same_tree(src, dst, true);
		sb_strbuf_release(&blob);
		sb_strbuf_release(&tar);
	}
	scratch_free(&s);
}

/* The tar itself: order, names, owners, PAX records. */
static void test_pack_format(void **state)
{
	struct scratch s;
	struct sb_strbuf blob = SB_STRBUF_INIT;
	struct sb_layer_result res;
	struct archive *a;
	struct archive_entry *e;
	char *prev = NULL;
	const char *name;
	size_t n = 0, hardlinks = 0;
	(void)state;

	scratch_init(&s);
	build_tree(s.root);
	pack_mem(s.root, SB_COMPRESS_NONE, -1, &blob, &res);

	/* no padding past the two zero blocks, as Go's archive/tar */
	assert_int_equal(blob.len % 512, 0);
	for (size_t i = blob.len - 1024; i < blob.len; i++)
		assert_int_equal(blob.buf[i], 0);
	assert_true(memmem(blob.buf, blob.len, "SCHILY.xattr.user.test=value", 28) != NULL);
	assert_null(memmem(blob.buf, blob.len, "LIBARCHIVE.xattr", 16));
	assert_null(memmem(blob.buf, blob.len, "PaxHeaders.", 11)); /* no pid in names */
	if (is_root()) {
		assert_true(memmem(blob.buf, blob.len, "SCHILY.xattr.security.capability=", 33) != NULL);
		assert_true(memmem(blob.buf, blob.len, " uid=3000000\n", 13) != NULL);
	}
	/* xattr records sorted by key */
	{
		const char *p1 = memmem(blob.buf, blob.len, "SCHILY.xattr.user.another", 25);
		const char *p2 = memmem(blob.buf, blob.len, "SCHILY.xattr.user.test", 22);
		assert_true(p1 && p2 && p1 < p2);
	}

	a = archive_read_new();
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_memory(a, blob.buf, blob.len), ARCHIVE_OK);
	for (;;) {
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		assert_true(r == ARCHIVE_OK || r == ARCHIVE_WARN);
		name = archive_entry_pathname(e);
		n++;
		assert_true(strncmp(name, "./", 2) != 0 && name[0] != '/');
		assert_true(archive_entry_uname(e) == NULL || !*archive_entry_uname(e));
		assert_true(archive_entry_gname(e) == NULL || !*archive_entry_gname(e));
		if (archive_entry_filetype(e) == AE_IFDIR)
			assert_int_equal(name[strlen(name) - 1], '/');
		if (archive_entry_hardlink(e)) {
			hardlinks++;
			assert_string_equal(archive_entry_hardlink(e), "a/hl2"); /* first in byte order */
		}
		if (prev) {
			/* walk order: a directory's contents right after it */
			size_t lp = strlen(prev);
			if (prev[lp - 1] == '/')
				prev[lp - 1] = 0;
			if (sb_layer_path_cmp(prev, name) >= 0)
				fail_msg("%s sorts before %s", prev, name);
		}
		free(prev);
		prev = sb_xstrdup(name);
		assert_false(archive_entry_atime_is_set(e));
		assert_false(archive_entry_ctime_is_set(e));
		assert_int_equal(archive_entry_mtime_nsec(e), 0);
	}
	free(prev);
	archive_read_free(a);
	assert_int_equal(n, res.entries);
	assert_int_equal(hardlinks, 2); /* d/file and hl1 link to a/hl2 */
	sb_strbuf_release(&blob);
	scratch_free(&s);
}

static void test_pack_reproducible(void **state)
{
	struct scratch s;
	char copy[160], cmd[512];
	struct sb_strbuf b1 = SB_STRBUF_INIT, b2 = SB_STRBUF_INIT, b3 = SB_STRBUF_INIT;
	struct sb_layer_result r1, r2, r3;
	(void)state;

	scratch_init(&s);
	build_tree(s.root);
	for (int c = SB_COMPRESS_GZIP; c <= SB_COMPRESS_NONE; c++) {
		sb_strbuf_reset(&b1);
		sb_strbuf_reset(&b2);
		pack_mem(s.root, c, -1, &b1, &r1);
		pack_mem(s.root, c, -1, &b2, &r2);
		assert_string_equal(r1.digest, r2.digest);
		assert_string_equal(r1.diff_id, r2.diff_id);
	}
	/* a copy made with cp -a (new inodes, new directory order) */
	snprintf(copy, sizeof(copy), "%s/copy", s.canary);
	snprintf(cmd, sizeof(cmd), "cp -a %s %s", s.root, copy);
	assert_int_equal(system(cmd), 0);
	sb_strbuf_reset(&b1);
	sb_strbuf_reset(&b2);
	pack_mem(s.root, SB_COMPRESS_GZIP, -1, &b1, &r1);
	pack_mem(copy, SB_COMPRESS_GZIP, -1, &b2, &r2);
	assert_string_equal(r1.digest, r2.digest);

	/* SOURCE_DATE_EPOCH: touching files later changes nothing */
	pack_mem(s.root, SB_COMPRESS_GZIP, 1500000000, &b3, &r3);
	assert_string_not_equal(r3.digest, r1.digest);
	snprintf(cmd, sizeof(cmd), "find %s -exec touch -h {} +", copy);
	assert_int_equal(system(cmd), 0);
	sb_strbuf_reset(&b2);
	pack_mem(copy, SB_COMPRESS_GZIP, 1500000000, &b2, &r2);
	assert_string_equal(r3.digest, r2.digest);
	{
		/* and every mtime is clamped, none moved forward */
		struct sb_error *err = NULL;
		char dst[160], p[256];
		struct stat st;
		snprintf(dst, sizeof(dst), "%s/clamped", s.canary);
		mk("", dst, 0755);
		assert_int_equal(unpack_buf(&b2, dst, NULL, NULL, &err), 0);
		snprintf(p, sizeof(p), "%s/d/file", dst);
		assert_int_equal(lstat(p, &st), 0);
		assert_int_equal(st.st_mtime, 1500000000);
		snprintf(p, sizeof(p), "%s/link", dst);
		assert_int_equal(lstat(p, &st), 0);
		assert_int_equal(st.st_mtime, 1500000000);
		snprintf(p, sizeof(p), "%s/d", dst);
		assert_int_equal(lstat(p, &st), 0);
		assert_int_equal(st.st_mtime, 1500000000);
	}
	sb_strbuf_release(&b1);
	sb_strbuf_release(&b2);
	sb_strbuf_release(&b3);
	scratch_free(&s);
}

/* ------------------------------------------------------ gzip in blocks */

/* Inflate with zlib alone, as one gzip member: the deflate stream must
 * end (final bit) exactly where the blob does, minus the trailer. */
static void inflate_one_member(const struct sb_strbuf *gz, struct sb_strbuf *out)
{
	static unsigned char buf[65536];
	z_stream z;
	int rc;

	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)gz->buf;
	z.avail_in = (uInt)gz->len;
	do {
		z.next_out = buf;
		z.avail_out = sizeof(buf);
		rc = inflate(&z, Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_STREAM_END)
			fail_msg("inflate: %d %s", rc, z.msg ? z.msg : "");
		sb_strbuf_add(out, buf, sizeof(buf) - z.avail_out);
	} while (rc != Z_STREAM_END);
	assert_int_equal(z.avail_in, 0);
	inflateEnd(&z);
}

/* gzip(1), python's gzip module and libarchive read blob back to the tar
 * whose sha256 is diff_id, with `entries` entries (entries < 0: any). */
static void assert_peers_read(const struct sb_strbuf *blob, const char *dir, const char *diff_id, long entries)
{
	char path[256], cmd[768];
	struct archive *a;
	struct archive_entry *e;
	long n = 0;
	int r;

	snprintf(path, sizeof(path), "%s/peer.gz", dir);
	assert_int_equal(sb_write_file_atomic(AT_FDCWD, path, blob->buf, blob->len, 0644, NULL), 0);
	snprintf(cmd, sizeof(cmd), "gzip -t %s", path);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import gzip, hashlib, sys; "
		 "sys.exit(\"sha256:\" + hashlib.sha256(gzip.open(sys.argv[1]).read()).hexdigest() != sys.argv[2])' %s %s",
		 path, diff_id);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(unlink(path), 0);
	if (entries < 0)
		return;
	a = archive_read_new();
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_memory(a, blob->buf, blob->len), ARCHIVE_OK);
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		assert_int_equal(archive_read_data_skip(a), ARCHIVE_OK);
		n++;
	}
	if (r != ARCHIVE_EOF)
		fail_msg("libarchive: %s", archive_error_string(a));
	assert_int_equal(archive_filter_code(a, 0), ARCHIVE_FILTER_GZIP);
	assert_int_equal(n, entries);
	archive_read_free(a);
}

/* ~20 MiB of files: text-like, random, mixed, and many small ones. */
static void build_big_tree(const char *root)
{
	size_t size = 1u << 20;
	unsigned char *buf = sb_xmalloc(size);
	char rel[64];
	uint32_t seed = 7;

	for (int i = 0; i < 18; i++) {
		size_t n = size - (size_t)i * 4099; /* odd sizes: blocks never align with files */
		switch (i % 3) {
		case 0:
			for (size_t j = 0; j < n; j++)
				buf[j] = (unsigned char)("the quick brown fox jumps over the lazy dog\n"[(j * 7 + j / 97) % 44]);
			break;
		case 1:
			for (size_t j = 0; j < n; j++) {
				seed = seed * 1103515245u + 12345u;
				buf[j] = (unsigned char)(seed >> 16);
			}
			break;
		default:
			fill_pattern(buf, n, (uint32_t)i);
			break;
		}
		snprintf(rel, sizeof(rel), "big%02d", i);
		put(root, rel, buf, n, 0644);
	}
	mk(root, "small", 0755);
	for (int i = 0; i < 400; i++) {
		fill_pattern(buf, (size_t)i * 37, (uint32_t)i);
		snprintf(rel, sizeof(rel), "small/f%03d", i);
		put(root, rel, buf, (size_t)i * 37, 0600);
	}
	free(buf);
}

static void pack_opts_mem(const char *dir, const struct sb_layer_pack_opts *o, struct sb_strbuf *blob,
			  struct sb_layer_result *res)
{
	struct sb_layer_sink sink = { mem_sink_write, blob };
	struct sb_error *err = NULL;
	if (sb_layer_pack_dir_to(dir, o, &sink, res, &err) < 0)
		fail_msg("pack: %s", err->msg);
}

static void test_gzip_parallel(void **state)
{
	static const int threads[] = { 1, 2, 4, 0 };
	struct scratch s;
	struct sb_layer_pack_opts o;
	struct sb_strbuf tar = SB_STRBUF_INIT, first = SB_STRBUF_INIT, blob = SB_STRBUF_INIT, back = SB_STRBUF_INIT;
	struct sb_layer_result rt, r0, r;
	struct sb_error *err = NULL;
	char digest[SB_DIGEST_SIZE];
	(void)state;

	scratch_init(&s);
	build_big_tree(s.root);
	pack_mem(s.root, SB_COMPRESS_NONE, -1, &tar, &rt);
	assert_true(rt.tar_size / SB_GZIP_BLOCK >= 100);

	/* the same bytes whatever the number of threads */
	sb_layer_pack_opts_init(&o);
	for (size_t i = 0; i < SB_ARRAY_SIZE(threads); i++) {
		o.threads = threads[i];
		sb_strbuf_reset(&blob);
		pack_opts_mem(s.root, &o, &blob, &r);
		assert_string_equal(r.diff_id, rt.diff_id);
		assert_int_equal(r.tar_size, rt.tar_size);
		assert_int_equal(r.size, blob.len);
		sb_sha256_digest(blob.buf, blob.len, digest);
		assert_string_equal(r.digest, digest);
		if (i == 0) {
			r0 = r;
			sb_strbuf_add(&first, blob.buf, blob.len);
			continue;
		}
		assert_string_equal(r.digest, r0.digest);
		assert_int_equal(blob.len, first.len);
		assert_memory_equal(blob.buf, first.buf, blob.len);
	}
	/* compressed: the random third does not shrink, the rest does */
	assert_true(first.len < tar.len * 3 / 4 && first.len > tar.len / 4);

	/* one gzip member that zlib inflates back to the tar */
	inflate_one_member(&first, &back);
	assert_int_equal(back.len, tar.len);
	assert_memory_equal(back.buf, tar.buf, tar.len);
	assert_peers_read(&first, s.canary, rt.diff_id, (long)r0.entries);

	/* the single-threaded compressor writes the same bytes */
	sb_strbuf_reset(&blob);
	compress_buf(SB_COMPRESS_GZIP, 0, tar.buf, tar.len, &blob);
	assert_int_equal(blob.len, first.len);
	assert_memory_equal(blob.buf, first.buf, blob.len);

	/* the level is honoured */
	{
		struct sb_strbuf b1 = SB_STRBUF_INIT, b9 = SB_STRBUF_INIT;
		struct sb_layer_result r1, r9;
		o.threads = 2;
		o.level = 1;
		pack_opts_mem(s.root, &o, &b1, &r1);
		o.level = 9;
		pack_opts_mem(s.root, &o, &b9, &r9);
		/* (level 1 beats 4 on this synthetic data: only 9 is sure to win) */
		assert_true(b9.len < first.len && b9.len < b1.len && b1.len != first.len);
		assert_true(b1.buf[8] == 4 && b9.buf[8] == 2 && first.buf[8] == 0); /* XFL, as zlib sets it */
		sb_strbuf_reset(&back);
		inflate_one_member(&b9, &back);
		assert_int_equal(back.len, tar.len);
		assert_memory_equal(back.buf, tar.buf, tar.len);
		sb_strbuf_release(&b1);
		sb_strbuf_release(&b9);
		o.level = 10;
		sb_strbuf_reset(&blob);
		assert_int_equal(sb_layer_pack_dir_to(s.root, &o, &(struct sb_layer_sink){ mem_sink_write, &blob }, &r,
						      &err),
				 -1);
		assert_int_equal(err->code, EINVAL);
		sb_error_free(err);
		err = NULL;
		o.level = 0;
		o.threads = -1;
		assert_int_equal(sb_layer_pack_dir_to(s.root, &o, &(struct sb_layer_sink){ mem_sink_write, &blob }, &r,
						      &err),
				 -1);
		assert_int_equal(err->code, EINVAL);
		sb_error_free(err);
	}
	sb_strbuf_release(&tar);
	sb_strbuf_release(&first);
	sb_strbuf_release(&blob);
	sb_strbuf_release(&back);
	scratch_free(&s);
}

/* Feed data to a pipeline in pieces of `step` bytes (0: at once). */
static void pipe_mem(const void *data, size_t len, size_t step, int threads, struct sb_strbuf *blob,
		     struct sb_layer_result *res)
{
	struct sb_layer_pack_opts o;
	struct sb_layer_sink sink = { mem_sink_write, blob };
	struct sb_pipeline p;
	struct sb_error *err = NULL;
	const unsigned char *d = data;

	sb_layer_pack_opts_init(&o);
	o.threads = threads;
	if (sb_pipeline_init(&p, &o, &sink, true, &err) < 0)
		fail_msg("pipeline: %s", err->msg);
	while (len) {
		size_t n = step && step < len ? step : len;
		assert_int_equal(sb_pipeline_write(&p, d, n, &err), 0);
		d += n;
		len -= n;
	}
	if (sb_pipeline_finish(&p, res, &err) < 0)
		fail_msg("pipeline: %s", err->msg);
	sb_pipeline_release(&p);
}

struct failing_sink {
	int calls_left;
};

static int failing_write(void *ctx, const void *data, size_t len, struct sb_error **err)
{
	struct failing_sink *f = ctx;
	(void)data;
	(void)len;
	if (f->calls_left-- > 0)
		return 0;
	return sb_error_setx(err, ENOSPC, "sink full");
}

static void test_gzip_edges(void **state)
{
	/* An empty stream: header, an empty final block, a zero trailer,
	 * what `printf '' | gzip -n` writes too (but for XFL and OS). */
	static const unsigned char empty[] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const size_t sizes[] = { 1, SB_GZIP_DICT - 1, SB_GZIP_BLOCK, SB_GZIP_BLOCK + 1, 2 * SB_GZIP_BLOCK,
					3 * SB_GZIP_BLOCK + SB_GZIP_DICT + 5 };
	static const size_t steps[] = { 0, 1000, 7 * 512, SB_GZIP_BLOCK + 3 };
	struct sb_strbuf blob = SB_STRBUF_INIT, ref = SB_STRBUF_INIT, back = SB_STRBUF_INIT;
	struct sb_layer_result r;
	struct scratch s;
	char want[SB_DIGEST_SIZE];
	size_t max = 3 * SB_GZIP_BLOCK + SB_GZIP_DICT + 5;
	unsigned char *data = sb_xmalloc(max);
	(void)state;

	scratch_init(&s);
	for (int t = 1; t <= 3; t += 2) {
		sb_strbuf_reset(&blob);
		pipe_mem("", 0, 0, t, &blob, &r);
		assert_int_equal(blob.len, sizeof(empty));
		assert_memory_equal(blob.buf, empty, sizeof(empty));
		assert_int_equal(r.tar_size, 0);
		sb_sha256_digest("", 0, want);
		assert_string_equal(r.diff_id, want);
		sb_strbuf_reset(&back);
		inflate_one_member(&blob, &back);
		assert_int_equal(back.len, 0);
	}
	sb_strbuf_reset(&ref);
	compress_buf(SB_COMPRESS_GZIP, 0, "", 0, &ref);
	assert_int_equal(ref.len, sizeof(empty));
	assert_memory_equal(ref.buf, empty, sizeof(empty));
	assert_peers_read(&blob, s.canary, want, -1);

	/* Block boundaries fall every SB_GZIP_BLOCK bytes, however the
	 * input was cut into writes and on how many threads. */
	fill_pattern(data, max, 11);
	for (size_t i = 0; i < SB_ARRAY_SIZE(sizes); i++) {
		sb_strbuf_reset(&ref);
		compress_buf(SB_COMPRESS_GZIP, 0, data, sizes[i], &ref);
		sb_strbuf_reset(&back);
		inflate_one_member(&ref, &back);
		assert_int_equal(back.len, sizes[i]);
		assert_memory_equal(back.buf, data, sizes[i]);
		for (size_t j = 0; j < SB_ARRAY_SIZE(steps); j++) {
			for (int t = 1; t <= 3; t++) {
				sb_strbuf_reset(&blob);
				pipe_mem(data, sizes[i], steps[j], t, &blob, &r);
				assert_int_equal(blob.len, ref.len);
				assert_memory_equal(blob.buf, ref.buf, ref.len);
			}
		}
	}
	sb_sha256_digest(data, max, want);
	assert_peers_read(&blob, s.canary, want, -1);

	/* A failing sink fails the pipeline, whichever worker writes. */
	for (int calls = 0; calls < 4; calls++) {
		struct failing_sink f = { calls };
		struct sb_layer_sink sink = { failing_write, &f };
		struct sb_layer_pack_opts o;
		struct sb_pipeline p;
		struct sb_error *err = NULL;
		int rc;
		sb_layer_pack_opts_init(&o);
		o.threads = 3;
		assert_int_equal(sb_pipeline_init(&p, &o, &sink, true, &err), 0);
		rc = sb_pipeline_write(&p, data, max, &err);
		for (int k = 0; rc == 0 && k < 8; k++)
			rc = sb_pipeline_write(&p, data, max, &err);
		if (rc == 0)
			rc = sb_pipeline_finish(&p, &r, &err);
		assert_int_equal(rc, -1);
		assert_non_null(err);
		assert_int_equal(err->code, ENOSPC);
		sb_error_free(err);
		sb_pipeline_release(&p);
	}
	free(data);
	sb_strbuf_release(&blob);
	sb_strbuf_release(&ref);
	sb_strbuf_release(&back);
	scratch_free(&s);
}

/* ----------------------------------------------------------- hostile tars */

static void test_hostile_dotdot(void **state)
{
	struct tarb t;
	(void)state;
	tarb_init(&t);
	tarb_file(&t, "ok", "fine");
	tarb_file(&t, "../x", "escaped");
	tarb_finish(&t);
	expect_refused(&t.out, "../x", NULL);
	sb_strbuf_release(&t.out);

	tarb_init(&t);
	tarb_file(&t, "/abs/../../x", "escaped");
	tarb_finish(&t);
	expect_refused(&t.out, "/abs/../../x", NULL);
	sb_strbuf_release(&t.out);

	tarb_init(&t);
	tarb_file(&t, "a/b/../../../canary/x", "escaped");
	tarb_finish(&t);
	expect_refused(&t.out, "a/b/../../../canary/x", NULL);
	sb_strbuf_release(&t.out);

	tarb_init(&t);
	tarb_add(&t, T_DIR, "../canary/", NULL, 0);
	tarb_finish(&t);
	expect_refused(&t.out, "../canary/", NULL);
	sb_strbuf_release(&t.out);
}

/* Leading "/" and "./" are stripped and inner ".." resolved, as Docker. */
static void test_names_cleaned(void **state)
{
	struct tarb t;
	struct scratch s;
	struct sb_error *err = NULL;
	(void)state;
	tarb_init(&t);
	tarb_file(&t, "/abs", "1");
	tarb_file(&t, "./dot", "2");
	tarb_file(&t, "a/../inner", "3");
	tarb_file(&t, "//x//y/./z", "4");
	tarb_finish(&t);
	scratch_init(&s);
	if (unpack_buf(&t.out, s.root, NULL, NULL, &err) < 0)
		fail_msg("%s", err->msg);
	assert_file(s.root, "abs", "1");
	assert_file(s.root, "dot", "2");
	assert_file(s.root, "inner", "3");
	assert_file(s.root, "x/y/z", "4");
	assert_int_equal(type_of(s.root, "a"), 0);
	assert_scratch_clean(&s);
	scratch_free(&s);
	sb_strbuf_release(&t.out);
}

static void test_hostile_symlink_parent(void **state)
{
	struct tarb t;
	char name[256], victim[256];
	(void)state;

	/* a -> / then a/<the canary, absolutely>/x */
	{
		struct scratch s;
		struct sb_error *err = NULL;
		scratch_init(&s);
		tarb_init(&t);
		tarb_add(&t, T_SYMLINK, "a", "/", 0);
		snprintf(name, sizeof(name), "a%s/pwned", s.canary);
		tarb_file(&t, name, "escaped");
		tarb_finish(&t);
		assert_int_equal(unpack_buf(&t.out, s.root, NULL, NULL, &err), -1);
		assert_err_names(err, name);
		assert_non_null(strstr(err->msg, "leads out of the rootfs"));
		assert_scratch_clean(&s);
		sb_error_free(err);
		scratch_free(&s);
		sb_strbuf_release(&t.out);
	}
	/* a -> ../canary then a/x (relative, climbing out) */
	tarb_init(&t);
	tarb_add(&t, T_SYMLINK, "a", "../canary", 0);
	tarb_file(&t, "a/x", "escaped");
	tarb_finish(&t);
	expect_refused(&t.out, "a/x", NULL);
	sb_strbuf_release(&t.out);

	/* a -> ../../.. then a/x: x would land in / */
	snprintf(name, sizeof(name), "a/sb-layer-escape-%d", (int)getpid());
	snprintf(victim, sizeof(victim), "/sb-layer-escape-%d", (int)getpid());
	tarb_init(&t);
	tarb_add(&t, T_SYMLINK, "a", "../../..", 0);
	tarb_file(&t, name, "escaped");
	tarb_finish(&t);
	expect_refused(&t.out, name, NULL);
	assert_false(exists(victim));
	sb_strbuf_release(&t.out);

	/* through a chain: b -> c/../.., c is a dir */
	tarb_init(&t);
	tarb_add(&t, T_DIR, "c/", NULL, 0);
	tarb_add(&t, T_SYMLINK, "b", "c/../..", 0);
	tarb_add(&t, T_SYMLINK, "c/up", "../b", 0);
	tarb_file(&t, "c/up/canary/x", "escaped");
	tarb_finish(&t);
	expect_refused(&t.out, "c/up/canary/x", NULL);
	sb_strbuf_release(&t.out);

	/* a directory entry through an escaping link */
	tarb_init(&t);
	tarb_add(&t, T_SYMLINK, "s", "..", 0);
	tarb_add(&t, T_DIR, "s/canary/sub/", NULL, 0);
	tarb_finish(&t);
	expect_refused(&t.out, "s/canary/sub/", NULL);
	sb_strbuf_release(&t.out);

	/* a symlink loop */
	tarb_init(&t);
	tarb_add(&t, T_SYMLINK, "l1", "l2", 0);
	tarb_add(&t, T_SYMLINK, "l2", "l1", 0);
	tarb_file(&t, "l1/x", "loop");
	tarb_finish(&t);
	expect_refused(&t.out, "l1/x", NULL);
	sb_strbuf_release(&t.out);
}

/* The literal case: a -> / then a/etc/passwd. Run where /etc is a
 * throwaway tmpfs (a private mount namespace), so that a regression
 * cannot clobber this machine's /etc/passwd. */
static void test_hostile_etc_passwd(void **state)
{
	struct tarb t;
	pid_t pid;
	int status;
	(void)state;

	tarb_init(&t);
	tarb_add(&t, T_SYMLINK, "a", "/", 0);
	tarb_file(&t, "a/etc/passwd", "root::0:0::/:/bin/sh\n");
	tarb_finish(&t);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct scratch s;
		struct sb_error *err = NULL;
		char *got;
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("tmpfs", "/etc", "tmpfs", 0, "size=1m") < 0)
			_exit(77);
		if (sb_write_file_atomic(AT_FDCWD, "/etc/passwd", "sentinel", 8, 0644, NULL) < 0)
			_exit(2);
		snprintf(s.base, sizeof(s.base), "/tmp/sbtl.XXXXXX");
		if (!mkdtemp(s.base))
			_exit(2);
		if (unpack_buf(&t.out, s.base, NULL, NULL, &err) != -1 || !strstr(err->msg, "a/etc/passwd"))
			_exit(3);
		got = read_text("/etc/passwd");
		sb_rm_rf(AT_FDCWD, s.base, NULL);
		_exit(got && !strcmp(got, "sentinel") ? 0 : 4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		printf("# skipped a -> / + a/etc/passwd: no private mount namespace here\n");
	else
		assert_int_equal(WEXITSTATUS(status), 0);
	sb_strbuf_release(&t.out);
}

static void test_hostile_hardlink(void **state)
{
	struct tarb t;
	(void)state;

	tarb_init(&t);
	tarb_add(&t, T_HARDLINK, "l", "../../etc/passwd", 0);
	tarb_finish(&t);
	expect_refused(&t.out, "\"l\"", NULL);
	sb_strbuf_release(&t.out);

	/* to an existing file next door: its link count must stay 1 */
	{
		struct scratch s;
		struct sb_error *err = NULL;
		char f[160];
		struct stat st;
		scratch_init(&s);
		snprintf(f, sizeof(f), "%s/secret", s.canary);
		put("", f, "s", 1, 0600);
		tarb_init(&t);
		tarb_add(&t, T_HARDLINK, "l", "../canary/secret", 0);
		tarb_finish(&t);
		assert_int_equal(unpack_buf(&t.out, s.root, NULL, NULL, &err), -1);
		assert_err_names(err, "\"l\"");
		assert_int_equal(stat(f, &st), 0);
		assert_int_equal(st.st_nlink, 1);
		assert_missing(s.root, "l");
		sb_error_free(err);
		scratch_free(&s);
		sb_strbuf_release(&t.out);
	}
	/* through a symlink that leads out */
	tarb_init(&t);
	tarb_add(&t, T_SYMLINK, "s", "/", 0);
	tarb_add(&t, T_HARDLINK, "l", "s/etc/passwd", 0);
	tarb_finish(&t);
	expect_refused(&t.out, "\"l\"", NULL);
	sb_strbuf_release(&t.out);

	/* to nothing */
	tarb_init(&t);
	tarb_add(&t, T_HARDLINK, "l", "missing", 0);
	tarb_finish(&t);
	expect_refused(&t.out, "\"l\"", NULL);
	sb_strbuf_release(&t.out);
}

static void test_hostile_device(void **state)
{
	struct tarb t;
	struct sb_layer_unpack_opts o;
	(void)state;
	sb_layer_unpack_opts_init(&o);
	o.allow_devices = false;
	tarb_init(&t);
	tarb_add(&t, T_DIR, "dev/", NULL, 0);
	tarb_add(&t, T_CHR, "dev/mem", NULL, 0);
	tarb_finish(&t);
	expect_refused(&t.out, "dev/mem", &o);
	sb_strbuf_release(&t.out);

	/* a fifo is fine either way */
	{
		struct scratch s;
		struct sb_error *err = NULL;
		tarb_init(&t);
		tarb_add(&t, T_FIFO, "pipe", NULL, 0);
		tarb_finish(&t);
		scratch_init(&s);
		assert_int_equal(unpack_buf(&t.out, s.root, &o, NULL, &err), 0);
		assert_int_equal(type_of(s.root, "pipe"), S_IFIFO);
		scratch_free(&s);
		sb_strbuf_release(&t.out);
	}
}

static void test_hostile_bomb(void **state)
{
	struct tarb t;
	struct sb_strbuf z = SB_STRBUF_INIT;
	struct sb_layer_unpack_opts o;
	(void)state;
	sb_layer_unpack_opts_init(&o);
	o.max_bytes = 1 << 20;
	tarb_init(&t);
	tarb_file(&t, "small", "x");
	tarb_add(&t, T_FILE, "bomb", NULL, 16 << 20);
	tarb_finish(&t);
	for (int c = SB_COMPRESS_GZIP; c <= SB_COMPRESS_NONE; c++) {
		struct scratch s;
		struct sb_error *err = NULL;
		sb_strbuf_reset(&z);
		compress_buf(c, 0, t.out.buf, t.out.len, &z);
		if (c != SB_COMPRESS_NONE)
			assert_true(z.len < 100000);
		scratch_init(&s);
		assert_int_equal(unpack_buf(&z, s.root, &o, NULL, &err), -1);
		assert_err_names(err, "bomb");
		assert_int_equal(err->code, EFBIG);
		assert_scratch_clean(&s);
		sb_error_free(err);
		scratch_free(&s);
	}
	sb_strbuf_release(&z);
	sb_strbuf_release(&t.out);
}

static void test_hostile_truncated(void **state)
{
	static unsigned char noise[300000];
	struct tarb t;
	struct sb_strbuf z = SB_STRBUF_INIT;
	(void)state;
	fill_pattern(noise, sizeof(noise), 11);
	for (size_t i = 0; i < sizeof(noise); i++)
		noise[i] ^= (unsigned char)(i * 2654435761u >> 13);
	tarb_init(&t);
	tarb_file(&t, "first", "1");
	tarb_add(&t, T_FILE, "data", (const char *)noise, sizeof(noise));
	tarb_finish(&t);
	for (int c = SB_COMPRESS_GZIP; c <= SB_COMPRESS_NONE; c++) {
		sb_strbuf_reset(&z);
		compress_buf(c, 0, t.out.buf, t.out.len, &z);
		sb_strbuf_truncate(&z, z.len * 6 / 10);
		expect_refused(&z, "data", NULL);
	}
	/* cut just before the gzip trailer: the tar is complete, the CRC
	 * and length are not */
	sb_strbuf_reset(&z);
	compress_buf(SB_COMPRESS_GZIP, 0, t.out.buf, t.out.len, &z);
	sb_strbuf_truncate(&z, z.len - 4);
	{
		struct scratch s;
		struct sb_error *err = NULL;
		scratch_init(&s);
		assert_int_equal(unpack_buf(&z, s.root, NULL, NULL, &err), -1);
		assert_non_null(strstr(err->msg, "truncated"));
		sb_error_free(err);
		scratch_free(&s);
	}
	/* not a tar at all */
	{
		struct sb_strbuf junk = SB_STRBUF_INIT;
		sb_strbuf_adds(&junk, "this is not a tar archive, not even close");
		for (int i = 0; i < 20; i++)
			sb_strbuf_adds(&junk, "..........................................");
		expect_refused(&junk, "tar", NULL);
		sb_strbuf_release(&junk);
	}
	sb_strbuf_release(&z);
	sb_strbuf_release(&t.out);
}

/* -------------------------------------------------------------- whiteouts */

static void apply(const char *root, struct tarb *t, const struct sb_layer_unpack_opts *o)
{
	struct sb_error *err = NULL;
	tarb_finish(t);
	if (unpack_buf(&t->out, root, o, NULL, &err) < 0)
		fail_msg("unpack: %s", err->msg);
	sb_strbuf_release(&t->out);
}

static void test_whiteouts(void **state)
{
	struct scratch s;
	struct tarb t;
	(void)state;
	scratch_init(&s);

	tarb_init(&t);
	tarb_add(&t, T_DIR, "a/", NULL, 0);
	tarb_file(&t, "a/b", "lower");
	tarb_file(&t, "a/c", "lower");
	tarb_add(&t, T_DIR, "d/", NULL, 0);
	tarb_file(&t, "d/e", "lower");
	tarb_file(&t, "f", "lower");
	tarb_add(&t, T_DIR, "g/", NULL, 0);
	tarb_file(&t, "g/h", "lower");
	tarb_add(&t, T_DIR, "g/i/", NULL, 0);
	tarb_file(&t, "g/i/j", "lower");
	tarb_add(&t, T_DIR, "o/", NULL, 0);
	tarb_file(&t, "o/x", "lower");
	tarb_add(&t, T_DIR, "o/y/", NULL, 0);
	tarb_file(&t, "o/y/z", "lower");
	tarb_file(&t, "m", "lower");
	tarb_file(&t, ".wh.kept", "lower: whiteouts apply");
	apply(s.root, &t, NULL);
	assert_missing(s.root, ".wh.kept");

	tarb_init(&t);
	tarb_file(&t, "a/.wh.b", "");
	tarb_file(&t, ".wh.d", "");
	tarb_file(&t, "f", "upper");
	/* opaque after this layer's own entries: they stay */
	tarb_add(&t, T_DIR, "g/", NULL, 0);
	tarb_file(&t, "g/new", "upper");
	tarb_add(&t, T_DIR, "g/i/", NULL, 0);
	tarb_file(&t, "g/i/k", "upper");
	tarb_file(&t, "g/.wh..wh..opq", "");
	/* opaque first, then this layer's entries */
	tarb_file(&t, "o/.wh..wh..opq", "");
	tarb_add(&t, T_DIR, "o/y/", NULL, 0);
	tarb_file(&t, "o/y/w", "upper");
	/* a whiteout spares its own layer, before or after */
	tarb_file(&t, "m", "upper");
	tarb_file(&t, ".wh.m", "");
	tarb_file(&t, ".wh.n", "");
	tarb_file(&t, "n", "upper");
	/* of nothing, and under a missing directory: fine */
	tarb_file(&t, ".wh.nothing", "");
	tarb_file(&t, "nodir/.wh.x", "");
	/* AUFS metadata is skipped */
	tarb_file(&t, ".wh..wh.plnk/123", "aufs");
	apply(s.root, &t, NULL);

	assert_missing(s.root, "a/b");
	assert_file(s.root, "a/c", "lower");
	assert_missing(s.root, "d");
	assert_file(s.root, "f", "upper");
	assert_file(s.root, "g/new", "upper");
	assert_file(s.root, "g/i/k", "upper");
	assert_missing(s.root, "g/h");
	assert_missing(s.root, "g/i/j");
	assert_missing(s.root, "o/x");
	assert_missing(s.root, "o/y/z");
	assert_file(s.root, "o/y/w", "upper");
	assert_file(s.root, "m", "upper");
	assert_file(s.root, "n", "upper");
	assert_missing(s.root, ".wh.m");
	assert_missing(s.root, "a/.wh.b");
	assert_missing(s.root, "g/.wh..wh..opq");
	assert_missing(s.root, ".wh..wh.plnk");
	assert_int_equal(count_dir(s.root), 6); /* a f g o m n */
	scratch_free(&s);

	/* apply_whiteouts off: markers are plain files */
	{
		struct sb_layer_unpack_opts o;
		sb_layer_unpack_opts_init(&o);
		o.apply_whiteouts = false;
		scratch_init(&s);
		tarb_init(&t);
		tarb_file(&t, "x", "lower");
		apply(s.root, &t, NULL);
		tarb_init(&t);
		tarb_file(&t, ".wh.x", "");
		apply(s.root, &t, &o);
		assert_file(s.root, "x", "lower");
		assert_file(s.root, ".wh.x", "");
		scratch_free(&s);
	}
	/* whiteouts that would name the directory or its parent */
	tarb_init(&t);
	tarb_file(&t, "a/.wh..", "");
	tarb_finish(&t);
	expect_refused(&t.out, "a/.wh..", NULL);
	sb_strbuf_release(&t.out);
	tarb_init(&t);
	tarb_file(&t, "a/.wh...", "");
	tarb_finish(&t);
	expect_refused(&t.out, "a/.wh...", NULL);
	sb_strbuf_release(&t.out);
	/* a whiteout through an escaping symlink */
	tarb_init(&t);
	tarb_add(&t, T_SYMLINK, "s", "../canary", 0);
	tarb_file(&t, "s/.wh.anything", "");
	tarb_finish(&t);
	expect_refused(&t.out, "s/.wh.anything", NULL);
	sb_strbuf_release(&t.out);
}

/* layer.md "Changeset over existing files". */
static void test_replace_types(void **state)
{
	struct scratch s;
	struct tarb t;
	char p[256];
	struct stat st;
	(void)state;
	scratch_init(&s);

	tarb_init(&t);
	tarb_file(&t, "x", "file");
	tarb_add(&t, T_DIR, "y/", NULL, 0);
	tarb_file(&t, "y/in", "lower");
	tarb_add(&t, T_DIR, "target/", NULL, 0);
	tarb_file(&t, "target/t", "lower");
	tarb_add(&t, T_SYMLINK, "z", "target", 0);
	tarb_add(&t, T_DIR, "w/", NULL, 0);
	tarb_file(&t, "w/lower", "lower");
	tarb_file(&t, "f2l", "file");
	apply(s.root, &t, NULL);

	tarb_init(&t);
	tarb_add(&t, T_DIR, "x/", NULL, 0); /* dir over file */
	tarb_file(&t, "x/in", "upper");
	tarb_file(&t, "y", "now a file");     /* file over dir */
	tarb_add(&t, T_DIR, "z/", NULL, 0); /* dir over symlink: not followed */
	tarb_file(&t, "z/new", "upper");
	archive_entry_clear(t.e);
	archive_entry_copy_pathname(t.e, "w/"); /* dir over dir: merge, take attributes */
	archive_entry_set_mode(t.e, AE_IFDIR | 0700);
	archive_entry_set_mtime(t.e, 1234567890, 0);
	assert_int_equal(archive_write_header(t.a, t.e), ARCHIVE_OK);
	tarb_add(&t, T_SYMLINK, "f2l", "x", 0); /* symlink over file */
	apply(s.root, &t, NULL);

	assert_int_equal(type_of(s.root, "x"), S_IFDIR);
	assert_file(s.root, "x/in", "upper");
	assert_int_equal(type_of(s.root, "y"), S_IFREG);
	assert_file(s.root, "y", "now a file");
	assert_int_equal(type_of(s.root, "z"), S_IFDIR);
	assert_file(s.root, "z/new", "upper");
	assert_file(s.root, "target/t", "lower");
	assert_missing(s.root, "target/new");
	assert_file(s.root, "w/lower", "lower");
	snprintf(p, sizeof(p), "%s/w", s.root);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_mtime, 1234567890);
	assert_int_equal(type_of(s.root, "f2l"), S_IFLNK);
	scratch_free(&s);
}

/* Relative symlinks that stay inside are followed, as the kernel would. */
static void test_symlinks_inside(void **state)
{
	struct scratch s;
	struct tarb t;
	(void)state;
	scratch_init(&s);
	tarb_init(&t);
	tarb_add(&t, T_DIR, "usr/", NULL, 0);
	tarb_add(&t, T_DIR, "usr/lib/", NULL, 0);
	tarb_add(&t, T_SYMLINK, "lib", "usr/lib", 0);
	tarb_add(&t, T_DIR, "a/", NULL, 0);
	tarb_add(&t, T_DIR, "a/b/", NULL, 0);
	tarb_add(&t, T_SYMLINK, "a/up", "../a/./b/..", 0);
	apply(s.root, &t, NULL);

	tarb_init(&t);
	tarb_file(&t, "lib/foo", "via lib");
	tarb_file(&t, "a/up/b/bar", "via up");
	tarb_file(&t, "lib/.wh.gone", "");
	tarb_add(&t, T_HARDLINK, "hl", "lib/foo", 0);
	apply(s.root, &t, NULL);
	assert_int_equal(type_of(s.root, "lib"), S_IFLNK);
	assert_file(s.root, "usr/lib/foo", "via lib");
	assert_file(s.root, "a/b/bar", "via up");
	assert_file(s.root, "hl", "via lib");
	assert_scratch_clean(&s);
	scratch_free(&s);
}

static void test_empty_and_root_entry(void **state)
{
	struct scratch s;
	struct sb_strbuf buf = SB_STRBUF_INIT;
	struct sb_layer_unpack_stats stats;
	struct sb_error *err = NULL;
	struct tarb t;
	struct stat st;
	(void)state;
	scratch_init(&s);
	/* zero bytes, and the two zero blocks of an empty tar */
	assert_int_equal(unpack_buf(&buf, s.root, NULL, &stats, &err), 0);
	assert_int_equal(stats.entries, 0);
	for (int i = 0; i < 1024; i++)
		sb_strbuf_addc(&buf, 0);
	assert_int_equal(unpack_buf(&buf, s.root, NULL, &stats, &err), 0);
	assert_int_equal(stats.entries, 0);
	assert_int_equal(stats.bytes, 1024);
	sb_strbuf_release(&buf);

	/* "./" sets the root's own attributes */
	tarb_init(&t);
	archive_entry_clear(t.e);
	archive_entry_copy_pathname(t.e, "./");
	archive_entry_set_mode(t.e, AE_IFDIR | 0711);
	archive_entry_set_mtime(t.e, 1111111111, 0);
	assert_int_equal(archive_write_header(t.a, t.e), ARCHIVE_OK);
	tarb_file(&t, "./etc/hostname", "box\n");
	apply(s.root, &t, NULL);
	assert_int_equal(stat(s.root, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0711);
	assert_int_equal(st.st_mtime, 1111111111);
	assert_file(s.root, "etc/hostname", "box\n");
	tarb_init(&t);
	tarb_file(&t, "./", "root as a file");
	tarb_finish(&t);
	expect_refused(&t.out, "./", NULL);
	sb_strbuf_release(&t.out);
	scratch_free(&s);
}

/* Unprivileged: read-only directories still get their contents (modes
 * are set last), owners stay the caller's, devices are refused. */
static void test_unprivileged(void **state)
{
	struct scratch s;
	struct tarb t;
	pid_t pid;
	int status;
	(void)state;
	if (!is_root()) {
		printf("# skipped: needs root to drop to nobody\n");
		skip();
	}
	scratch_init(&s);
	assert_int_equal(chmod(s.base, 0755), 0);
	assert_int_equal(chown(s.root, 65534, 65534), 0);
	tarb_init(&t);
	archive_entry_clear(t.e);
	archive_entry_copy_pathname(t.e, "ro/");
	archive_entry_set_mode(t.e, AE_IFDIR | 0555);
	archive_entry_set_uid(t.e, 0);
	assert_int_equal(archive_write_header(t.a, t.e), ARCHIVE_OK);
	tarb_file(&t, "ro/f", "inside");
	tarb_add(&t, T_DIR, "ro/sub/", NULL, 0);
	tarb_file(&t, "ro/sub/g", "deeper");
	tarb_finish(&t);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sb_error *err = NULL;
		struct sb_layer_unpack_opts o;
		struct stat st;
		char p[256];
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(77);
		sb_layer_unpack_opts_init(&o);
		if (o.allow_devices || o.same_owner)
			_exit(2);
		if (unpack_buf(&t.out, s.root, &o, NULL, &err) < 0) {
			fprintf(stderr, "unpack as nobody: %s\n", err->msg);
			_exit(3);
		}
		snprintf(p, sizeof(p), "%s/ro", s.root);
		if (stat(p, &st) < 0 || (st.st_mode & 07777) != 0555 || st.st_uid != 65534)
			_exit(4);
		snprintf(p, sizeof(p), "%s/ro/sub/g", s.root);
		if (stat(p, &st) < 0)
			_exit(5);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_file(s.root, "ro/f", "inside");
	sb_strbuf_release(&t.out);
	/* root removes it whatever the modes */
	scratch_free(&s);
}

static void test_from_tar(void **state)
{
	struct tarb t;
	(void)state;
	tarb_init(&t);
	tarb_file(&t, "hello", "world");
	tarb_add(&t, T_DIR, "d/", NULL, 0);
	tarb_finish(&t);
	for (int in = SB_COMPRESS_GZIP; in <= SB_COMPRESS_NONE; in++) {
		struct sb_strbuf src = SB_STRBUF_INIT, blob = SB_STRBUF_INIT, back = SB_STRBUF_INIT;
		struct sb_layer_sink sink = { mem_sink_write, &blob };
		struct sb_layer_pack_opts o;
		struct sb_layer_result res;
		struct sb_error *err = NULL;
		char want[SB_DIGEST_SIZE];
		int fd;

		compress_buf(in, 0, t.out.buf, t.out.len, &src);
		sb_layer_pack_opts_init(&o);
		o.compression = SB_COMPRESS_ZSTD;
		fd = memfd_of(src.buf, src.len);
		if (sb_layer_from_tar_to(fd, &o, &sink, &res, &err) < 0)
			fail_msg("%s", err->msg);
		close(fd);
		sb_sha256_digest(t.out.buf, t.out.len, want);
		assert_string_equal(res.diff_id, want);
		assert_int_equal(res.tar_size, t.out.len);
		assert_string_equal(res.media_type, SB_MT_OCI_LAYER_ZSTD);
		assert_int_equal(decompress_buf(blob.buf, blob.len, 0, &back, NULL, &err), 0);
		assert_int_equal(back.len, t.out.len);
		assert_memory_equal(back.buf, t.out.buf, t.out.len); /* stored as given */
		sb_strbuf_release(&src);
		sb_strbuf_release(&blob);
		sb_strbuf_release(&back);
	}
	{
		struct sb_strbuf blob = SB_STRBUF_INIT;
		struct sb_layer_sink sink = { mem_sink_write, &blob };
		struct sb_layer_result res;
		struct sb_error *err = NULL;
		char junk[2048];
		int fd;
		memset(junk, 'j', sizeof(junk));
		fd = memfd_of(junk, sizeof(junk));
		assert_int_equal(sb_layer_from_tar_to(fd, NULL, &sink, &res, &err), -1);
		assert_non_null(strstr(err->msg, "not a tar"));
		sb_error_free(err);
		close(fd);
		sb_strbuf_release(&blob);
	}
	sb_strbuf_release(&t.out);
}

/* Through the store: pack and import into blobs, then unpack an image of
 * both layers, checked against the config's diff_ids. */
struct events {
	int start, done, error;
};

static void record(void *ctx, const struct sb_progress_event *ev)
{
	struct events *e = ctx;
	e->start += ev->kind == SB_PROGRESS_START;
	e->done += ev->kind == SB_PROGRESS_DONE;
	e->error += ev->kind == SB_PROGRESS_ERROR;
}

static void test_store_layers(void **state)
{
	struct scratch s;
	struct sb_store store;
	struct sb_error *err = NULL;
	struct sb_layer_pack_opts o;
	struct sb_layer_result r1, r2;
	struct sb_descriptor layers[2];
	struct sb_manifest m;
	struct events ev = { 0, 0, 0 };
	struct sb_progress progress = { record, &ev };
	struct tarb t;
	char src[160], dst[160], storedir[160], cfg[512], cfgdigest[SB_DIGEST_SIZE];
	int fd;
	(void)state;

	scratch_init(&s);
	snprintf(src, sizeof(src), "%s/src", s.canary);
	snprintf(dst, sizeof(dst), "%s/dst", s.canary);
	snprintf(storedir, sizeof(storedir), "%s/store", s.canary);
	mk("", src, 0755);
	mk("", dst, 0755);
	build_tree(src);
	if (sb_store_open(&store, storedir, &err) < 0)
		fail_msg("store: %s", err->msg);

	sb_layer_pack_opts_init(&o);
	o.compression = SB_COMPRESS_ZSTD;
	if (sb_layer_pack_dir(&store, src, &o, &r1, &err) < 0)
		fail_msg("pack: %s", err->msg);
	assert_true(sb_store_has_blob(&store, r1.digest));
	assert_int_equal(sb_store_blob_size(&store, r1.digest, &err), r1.size);
	{
		/* the same digest as the sink variant computes */
		struct sb_strbuf blob = SB_STRBUF_INIT;
		struct sb_layer_result r;
		pack_mem(src, SB_COMPRESS_ZSTD, -1, &blob, &r);
		assert_string_equal(r.digest, r1.digest);
		sb_strbuf_release(&blob);
	}

	/* a second layer from a tar stream: removes d, adds a file */
	tarb_init(&t);
	tarb_file(&t, ".wh.d", "");
	tarb_file(&t, "added", "by layer 2");
	tarb_finish(&t);
	fd = memfd_of(t.out.buf, t.out.len);
	o.compression = SB_COMPRESS_GZIP;
	if (sb_layer_from_tar(&store, fd, &o, &r2, &err) < 0)
		fail_msg("from_tar: %s", err->msg);
	close(fd);
	sb_strbuf_release(&t.out);

	snprintf(cfg, sizeof(cfg),
		 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\",\"%s\"]}}",
		 r1.diff_id, r2.diff_id);
	assert_int_equal(sb_store_put_blob(&store, cfg, strlen(cfg), NULL, cfgdigest, &err), 0);
	memset(&m, 0, sizeof(m));
	memset(layers, 0, sizeof(layers));
	m.media_type = (char *)SB_MT_OCI_MANIFEST;
	m.config.media_type = (char *)SB_MT_OCI_CONFIG;
	memcpy(m.config.digest, cfgdigest, SB_DIGEST_SIZE);
	m.config.size = (int64_t)strlen(cfg);
	layers[0].media_type = (char *)r1.media_type;
	memcpy(layers[0].digest, r1.digest, SB_DIGEST_SIZE);
	layers[0].size = r1.size;
	layers[1].media_type = (char *)r2.media_type;
	memcpy(layers[1].digest, r2.digest, SB_DIGEST_SIZE);
	layers[1].size = r2.size;
	m.layers = layers;
	m.nlayers = 2;
	if (sb_layer_unpack_image(&store, &m, dst, NULL, &progress, &err) < 0)
		fail_msg("unpack image: %s", err->msg);
	assert_int_equal(ev.start, 2);
	assert_int_equal(ev.done, 2);
	assert_file(dst, "added", "by layer 2");
	assert_missing(dst, "d");
	assert_file(dst, "exe", "#!/bin/sh\n");
	assert_int_equal(type_of(dst, "link"), S_IFLNK);

	/* a config that disagrees with a layer's tar */
	{
		char dst2[200];
		snprintf(dst2, sizeof(dst2), "%s/dst2", s.canary);
		mk("", dst2, 0755);
		snprintf(cfg, sizeof(cfg),
			 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\",\"%s\"]}}",
			 r1.diff_id, r1.diff_id);
		assert_int_equal(sb_store_put_blob(&store, cfg, strlen(cfg), NULL, cfgdigest, &err), 0);
		memcpy(m.config.digest, cfgdigest, SB_DIGEST_SIZE);
		assert_int_equal(sb_layer_unpack_image(&store, &m, dst2, NULL, NULL, &err), -1);
		assert_non_null(strstr(err->msg, r2.digest));
		assert_non_null(strstr(err->msg, "image config says"));
		sb_error_free(err);
		err = NULL;
	}
	/* a layer media type that is not one */
	layers[1].media_type = (char *)SB_MT_OCI_CONFIG;
	assert_int_equal(sb_layer_unpack_image(&store, &m, dst, NULL, NULL, &err), -1);
	assert_non_null(strstr(err->msg, "unsupported media type"));
	sb_error_free(err);
	sb_store_release(&store);
	scratch_free(&s);
}

/* The Debian minbase rootfs: unpack, pack, unpack, compare. The cache
 * holds a tar, or (mmdebstrap guessing the format from "*.tar.tmp") a
 * directory; either works. */
#define DEBIAN_ROOTFS "/var/cache/slimbuild/bookworm-minbase.tar"

static void test_debian_roundtrip(void **state)
{
	struct scratch s;
	struct stat st;
	char a[160], b[160];
	const char *first;
	struct sb_strbuf blob = SB_STRBUF_INIT;
	struct sb_layer_result res;
	struct sb_layer_unpack_stats stats;
	struct sb_error *err = NULL;
	(void)state;

	if (stat(DEBIAN_ROOTFS, &st) < 0) {
		printf("# skipped: no cached Debian rootfs at %s (run an integration test once to make it)\n",
		       DEBIAN_ROOTFS);
		skip();
	}
	if (!is_root()) {
		printf("# skipped: the Debian rootfs has device nodes and root-owned files; needs root\n");
		skip();
	}
	scratch_init(&s);
	snprintf(a, sizeof(a), "%s/a", s.root);
	snprintf(b, sizeof(b), "%s/b", s.root);
	mk("", a, 0755);
	mk("", b, 0755);
	if (S_ISREG(st.st_mode)) {
		int fd = open(DEBIAN_ROOTFS, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		if (sb_layer_unpack(fd, a, NULL, &stats, &err) < 0)
			fail_msg("unpack %s: %s", DEBIAN_ROOTFS, err->msg);
		close(fd);
		first = a;
	} else {
		first = DEBIAN_ROOTFS;
	}
	pack_mem(first, SB_COMPRESS_GZIP, -1, &blob, &res);
	printf("# debian: %llu entries, tar %llu bytes, gzip %lld bytes\n", (unsigned long long)res.entries,
	       (unsigned long long)res.tar_size, (long long)res.size);
	if (unpack_buf(&blob, b, NULL, &stats, &err) < 0)
		fail_msg("unpack packed rootfs: %s", err->msg);
	assert_int_equal(stats.entries, res.entries);
	assert_same_tree(first, b, true);
	sb_strbuf_release(&blob);
	scratch_free(&s);
}

/* ------------------------------------------------- driver for scripts */

/* SB_LAYER_DRIVER=pack|unpack|seeds turns this test program into the
 * small driver that tests/integration/test_layer.sh, bench/layer_bench.sh
 * and fuzz seeding use, until the CLI exposes pack and unpack:
 *   pack:   SB_LAYER_SRC=dir SB_LAYER_OUT=file [SB_LAYER_COMPRESSION=gzip|zstd|none] [SB_LAYER_SDE=n]
 *           [SB_LAYER_LEVEL=n] [SB_LAYER_THREADS=n]
 *   unpack: SB_LAYER_IN=file SB_LAYER_DST=dir
 *   seeds:  SB_LAYER_OUT=dir (small tars for the fuzzer: plain, gzip, zstd)
 * Prints one line of results; exit 0 or 1. */
static int fd_sink_write(void *ctx, const void *data, size_t len, struct sb_error **err)
{
	return sb_write_all(*(int *)ctx, data, len, "output", err);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void seed(const char *dir, const char *name, struct tarb *t)
{
	struct sb_strbuf z = SB_STRBUF_INIT;
	char path[512];
	tarb_finish(t);
	for (int c = SB_COMPRESS_GZIP; c <= SB_COMPRESS_NONE; c++) {
		sb_strbuf_reset(&z);
		compress_buf(c, 0, t->out.buf, t->out.len, &z);
		snprintf(path, sizeof(path), "%s/%s.%s", dir, name, sb_compression_name(c));
		sb_write_file_atomic(AT_FDCWD, path, z.buf, z.len, 0644, NULL);
	}
	sb_strbuf_release(&z);
	sb_strbuf_release(&t->out);
}

static int driver(const char *mode)
{
	struct sb_error *err = NULL;
	double t0 = now();

	if (!strcmp(mode, "pack")) {
		const char *src = getenv("SB_LAYER_SRC"), *out = getenv("SB_LAYER_OUT");
		const char *comp = getenv("SB_LAYER_COMPRESSION"), *sde = getenv("SB_LAYER_SDE");
		struct sb_layer_pack_opts o;
		struct sb_layer_sink sink = { fd_sink_write, NULL };
		struct sb_layer_result res;
		int fd;
		if (!src || !out)
			return fprintf(stderr, "pack needs SB_LAYER_SRC and SB_LAYER_OUT\n"), 2;
		sb_layer_pack_opts_init(&o);
		if (comp && sb_compression_parse(comp) < 0)
			return fprintf(stderr, "unknown compression %s\n", comp), 2;
		if (comp)
			o.compression = sb_compression_parse(comp);
		if (sde)
			o.source_date_epoch = strtoll(sde, NULL, 10);
		if (getenv("SB_LAYER_LEVEL"))
			o.level = atoi(getenv("SB_LAYER_LEVEL"));
		if (getenv("SB_LAYER_THREADS"))
			o.threads = atoi(getenv("SB_LAYER_THREADS"));
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return perror(out), 1;
		sink.ctx = &fd;
		if (sb_layer_pack_dir_to(src, &o, &sink, &res, &err) < 0)
			return fprintf(stderr, "pack: %s\n", err->msg), 1;
		close(fd);
		printf("digest=%s diff_id=%s size=%lld tar=%llu entries=%llu skipped=%llu seconds=%.3f\n", res.digest,
		       res.diff_id, (long long)res.size, (unsigned long long)res.tar_size,
		       (unsigned long long)res.entries, (unsigned long long)res.skipped, now() - t0);
		return 0;
	}
	if (!strcmp(mode, "unpack")) {
		const char *in = getenv("SB_LAYER_IN"), *dst = getenv("SB_LAYER_DST");
		struct sb_layer_unpack_stats stats;
		int fd;
		if (!in || !dst)
			return fprintf(stderr, "unpack needs SB_LAYER_IN and SB_LAYER_DST\n"), 2;
		fd = open(in, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return perror(in), 1;
		if (sb_layer_unpack(fd, dst, NULL, &stats, &err) < 0)
			return fprintf(stderr, "unpack: %s\n", err->msg), 1;
		close(fd);
		printf("diff_id=%s entries=%llu bytes=%llu whiteouts=%llu seconds=%.3f\n", stats.diff_id,
		       (unsigned long long)stats.entries, (unsigned long long)stats.bytes,
		       (unsigned long long)stats.whiteouts, now() - t0);
		return 0;
	}
	if (!strcmp(mode, "seeds")) {
		const char *dir = getenv("SB_LAYER_OUT");
		struct tarb t;
		if (!dir)
			return fprintf(stderr, "seeds needs SB_LAYER_OUT\n"), 2;
		tarb_init(&t);
		tarb_add(&t, T_DIR, "a/", NULL, 0);
		tarb_file(&t, "a/b", "hello");
		tarb_add(&t, T_SYMLINK, "l", "a/b", 0);
		tarb_add(&t, T_HARDLINK, "h", "a/b", 0);
		tarb_add(&t, T_FIFO, "p", NULL, 0);
		seed(dir, "tree", &t);
		tarb_init(&t);
		tarb_file(&t, "a/.wh.b", "");
		tarb_file(&t, "a/.wh..wh..opq", "");
		tarb_add(&t, T_DIR, "a/c/", NULL, 0);
		tarb_file(&t, ".wh.x", "");
		seed(dir, "whiteout", &t);
		tarb_init(&t);
		tarb_add(&t, T_SYMLINK, "a", "../..", 0);
		tarb_file(&t, "a/x", "x");
		tarb_add(&t, T_SYMLINK, "b", "/", 0);
		tarb_file(&t, "b/y", "y");
		tarb_add(&t, T_HARDLINK, "h", "../x", 0);
		tarb_file(&t, "../z", "z");
		seed(dir, "hostile", &t);
		tarb_init(&t);
		tarb_add(&t, T_SYMLINK, "d", "e/../f", 0);
		tarb_add(&t, T_DIR, "f/", NULL, 0);
		tarb_file(&t, "d/x", "x");
		tarb_add(&t, T_DIR, "f/", NULL, 0);
		tarb_file(&t, "f", "file over dir");
		seed(dir, "replace", &t);
		{
			/* scripts for the fuzz target's structured mode */
			static const char *const scripts[] = {
				"#S\nd a/\nf a/b\nl lnk\ta/b\n---\nf a/.wh.b\nf .wh..wh..opq\nf new\n",
				"#S\nl a\t/\nf a/etc/passwd\n",
				"#S\nl a\t../..\nf a/x\nh h\t../x\n",
				("#S\nd d/\nd d/e/\nf d/e/f\n---\nf d/.wh..wh..opq\nd d/e/\nf d/e/g\nl d/l\t../d/e\n"
				 "f d/l/h\nh d/k\td/l/h\n---\nf d\n"),
				"#S\nd x/\np x/p\nc x/c\nf /abs/../y\nl z\tx/../x/./\nf z/q\n",
			};
			for (size_t i = 0; i < SB_ARRAY_SIZE(scripts); i++) {
				char path[512];
				snprintf(path, sizeof(path), "%s/script%zu", dir, i);
				sb_write_file_atomic(AT_FDCWD, path, scripts[i], strlen(scripts[i]), 0644, NULL);
			}
		}
		return 0;
	}
	fprintf(stderr, "unknown SB_LAYER_DRIVER %s\n", mode);
	return 2;
}

int main(void)
{
	const char *mode = getenv("SB_LAYER_DRIVER");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_order),
		cmocka_unit_test(test_compression_names),
		cmocka_unit_test(test_compress_roundtrip),
		cmocka_unit_test(test_decompress_multi_and_errors),
		cmocka_unit_test(test_pack_unpack_roundtrip),
		cmocka_unit_test(test_pack_format),
		cmocka_unit_test(test_pack_reproducible),
		cmocka_unit_test(test_gzip_parallel),
		cmocka_unit_test(test_gzip_edges),
		cmocka_unit_test(test_hostile_dotdot),
		cmocka_unit_test(test_names_cleaned),
		cmocka_unit_test(test_hostile_symlink_parent),
		cmocka_unit_test(test_hostile_etc_passwd),
		cmocka_unit_test(test_hostile_hardlink),
		cmocka_unit_test(test_hostile_device),
		cmocka_unit_test(test_hostile_bomb),
		cmocka_unit_test(test_hostile_truncated),
		cmocka_unit_test(test_whiteouts),
		cmocka_unit_test(test_replace_types),
		cmocka_unit_test(test_symlinks_inside),
		cmocka_unit_test(test_empty_and_root_entry),
		cmocka_unit_test(test_unprivileged),
		cmocka_unit_test(test_from_tar),
		cmocka_unit_test(test_store_layers),
		cmocka_unit_test(test_debian_roundtrip),
	};
	if (mode)
		return driver(mode);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
