/* Packing a directory (or an existing tar stream) into a layer, in one
 * pass: libarchive writes the tar to a callback that feeds the pipeline
 * (pipeline.c: diff_id, compression, the sink, which is the store's blob
 * writer in blobs.c).
 *
 * The tar is what Docker and BuildKit write: PAX (ustar headers, extended
 * headers only where ustar cannot say it: long names, big ids, xattrs as
 * SCHILY.xattr.*), relative names without "./", directories ending in "/",
 * numeric owners without names, mtimes in whole seconds, no atime or ctime,
 * hard links by inode, and no padding after the two zero blocks. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <locale.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "runtime/layer/internal.h"

#define DATA_CHUNK (256u * 1024)

void sb_layer_pack_opts_init(struct sb_layer_pack_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->compression = SB_COMPRESS_GZIP;
	o->source_date_epoch = -1;
	o->oci_media_type = true;
}

/* --- the tree --- */

struct xattr {
	char *name;
	void *value;
	size_t size;
};

struct pack_ent {
	char *path; /* relative to the root, no trailing "/" */
	struct stat st;
	char *link; /* symlink target */
	struct xattr *xattrs;
	size_t nxattrs;
};

/* The first path each multiply-linked inode was packed under. */
struct inode_path {
	dev_t dev;
	ino_t ino;
	char *path; /* NULL: empty slot */
};

struct pack {
	const char *dir;
	int rootfd;
	bool proc; /* /proc/self/fd works: xattrs by descriptor-relative path */
	const struct sb_layer_pack_opts *opts;
	uint64_t entries, skipped;
	struct inode_path *inodes;
	size_t ninodes, inodes_used;
	struct archive *a;
	struct archive_entry *e;
	struct sb_strbuf name;
	unsigned char *buf;
	struct sb_pipeline pipe;
	struct sb_error *cb_err; /* a failure inside libarchive's write callback */
};

static void ent_release(struct pack_ent *e)
{
	free(e->path);
	free(e->link);
	for (size_t i = 0; i < e->nxattrs; i++) {
		free(e->xattrs[i].name);
		free(e->xattrs[i].value);
	}
	free(e->xattrs);
}

static int xattr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct xattr *)a)->name, ((const struct xattr *)b)->name);
}

/* Every xattr of dfd/name (not following a symlink), sorted by name. */
static int read_xattrs(struct pack *p, int dfd, const char *name, struct pack_ent *ent, struct sb_error **err)
{
	sb_autofree char *path = p->proc ? sb_xasprintf("/proc/self/fd/%d/%s", dfd, name)
					 : sb_xasprintf("%s/%s", p->dir, ent->path);
	sb_autofree char *list = NULL;
	ssize_t n;
	size_t alloc = 0;

	for (;;) {
		n = llistxattr(path, NULL, 0);
		if (n < 0) {
			if (errno == ENOTSUP)
				return 0;
			return sb_error_set(err, errno, "list xattrs of %s", ent->path);
		}
		if (n == 0)
			return 0;
		free(list);
		list = sb_xmalloc((size_t)n);
		n = llistxattr(path, list, (size_t)n);
		if (n >= 0)
			break;
		if (errno != ERANGE)
			return sb_error_set(err, errno, "list xattrs of %s", ent->path);
	}
	for (ssize_t off = 0; off < n;) {
		const char *key = list + off;
		size_t klen = strnlen(key, (size_t)(n - off));
		struct xattr x = { NULL, NULL, 0 };
		ssize_t v;

		off += (ssize_t)klen + 1;
		for (;;) {
			v = lgetxattr(path, key, NULL, 0);
			if (v < 0)
				break;
			free(x.value);
			x.value = sb_xmalloc((size_t)v);
			v = lgetxattr(path, key, x.value, (size_t)v);
			if (v >= 0 || errno != ERANGE)
				break;
		}
		if (v < 0) {
			int e = errno;
			free(x.value);
			if (e == ENODATA) /* removed meanwhile */
				continue;
			return sb_error_set(err, e, "read xattr %s of %s", key, ent->path);
		}
		x.name = sb_xstrndup(key, klen);
		x.size = (size_t)v;
		ent->xattrs = sb_xgrow(ent->xattrs, &alloc, ent->nxattrs + 1, sizeof(*ent->xattrs));
		ent->xattrs[ent->nxattrs++] = x;
	}
	if (ent->nxattrs > 1)
		qsort(ent->xattrs, ent->nxattrs, sizeof(*ent->xattrs), xattr_cmp);
	return 0;
}

static char *read_link(int dfd, const char *name, size_t hint)
{
	size_t size = hint + 1 < 256 ? 256 : hint + 1;
	for (;;) {
		char *buf = sb_xmalloc(size);
		ssize_t n = readlinkat(dfd, name, buf, size);
		if (n < 0) {
			free(buf);
			return NULL;
		}
		if ((size_t)n < size) {
			buf[n] = '\0';
			return buf;
		}
		free(buf);
		if (!sb_mul_ok(size, 2, &size)) {
			errno = ENAMETOOLONG;
			return NULL;
		}
	}
}

/* Read one directory's entries (stat, link target, xattrs) into *v. */
static int read_dir(struct pack *p, const char *rel, struct pack_ent **v, size_t *n, struct sb_error **err)
{
	int fd = sb_open_beneath(p->rootfd, rel, O_RDONLY | O_DIRECTORY);
	size_t alloc = 0;
	struct dirent *de;
	DIR *d;
	int ret = -1;

	if (fd < 0)
		return sb_error_set(err, errno, "open %s", *rel ? rel : ".");
	d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return sb_error_set(err, e, "opendir %s", *rel ? rel : ".");
	}
	for (;;) {
		struct pack_ent ent;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno) {
				sb_error_set(err, errno, "read directory %s", *rel ? rel : ".");
				goto out;
			}
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		memset(&ent, 0, sizeof(ent));
		if (fstatat(dirfd(d), de->d_name, &ent.st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			sb_error_set(err, errno, "stat %s/%s", rel, de->d_name);
			goto out;
		}
		if (S_ISSOCK(ent.st.st_mode)) {
			/* A socket is only meaningful to a live process. */
			p->skipped++;
			continue;
		}
		ent.path = *rel ? sb_xasprintf("%s/%s", rel, de->d_name) : sb_xstrdup(de->d_name);
		if (S_ISLNK(ent.st.st_mode)) {
			ent.link = read_link(dirfd(d), de->d_name, (size_t)ent.st.st_size);
			if (!ent.link) {
				sb_error_set(err, errno, "readlink %s", ent.path);
				ent_release(&ent);
				goto out;
			}
		}
		if (read_xattrs(p, dirfd(d), de->d_name, &ent, err) < 0) {
			ent_release(&ent);
			goto out;
		}
		*v = sb_xgrow(*v, &alloc, *n + 1, sizeof(**v));
		(*v)[(*n)++] = ent;
	}
	ret = 0;
out:
	closedir(d);
	return ret;
}

/* Path order with "/" before every other byte: names sort by their bytes
 * within a directory and a directory's contents follow it directly, as
 * Go's filepath.Walk (Docker) and BuildKit write them. Plain byte order
 * would put "perl-base/x" between "perl" and "perl/x"; GNU tar, which
 * sets a directory's mtime once it leaves the directory, then gets the
 * mtime of "perl" wrong. A depth-first walk that sorts each directory by
 * name produces exactly this order. */
int sb_layer_path_cmp(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
	unsigned cx, cy;

	while (*x && *x == *y) {
		x++;
		y++;
	}
	/* the end first, then "/", then bytes in order */
	cx = !*x ? 0 : *x == '/' ? 1 : *x + 1u;
	cy = !*y ? 0 : *y == '/' ? 1 : *y + 1u;
	return cx < cy ? -1 : cx > cy;
}

static int ent_cmp(const void *a, const void *b)
{
	/* siblings: their paths differ only in the last component */
	return strcmp(((const struct pack_ent *)a)->path, ((const struct pack_ent *)b)->path);
}

static size_t inode_slot(const struct pack *p, dev_t dev, ino_t ino)
{
	size_t mask = p->ninodes - 1;
	size_t i = (size_t)(((uint64_t)ino * 0x9e3779b97f4a7c15ull) ^ (uint64_t)dev) & mask;
	while (p->inodes[i].path && !(p->inodes[i].dev == dev && p->inodes[i].ino == ino))
		i = (i + 1) & mask;
	return i;
}

/* The path this inode was first packed under, or NULL after noting that
 * it is path. */
static const char *hardlink_of(struct pack *p, const struct pack_ent *ent)
{
	size_t i;

	if (S_ISDIR(ent->st.st_mode) || ent->st.st_nlink < 2)
		return NULL;
	if ((p->inodes_used + 1) * 2 >= p->ninodes) {
		struct inode_path *old = p->inodes;
		size_t nold = p->ninodes;
		if (!sb_mul_ok(nold ? nold : 64, 2, &p->ninodes))
			abort(); /* as out of memory */
		p->inodes = sb_xcalloc(p->ninodes, sizeof(*p->inodes));
		for (size_t k = 0; k < nold; k++)
			if (old[k].path)
				p->inodes[inode_slot(p, old[k].dev, old[k].ino)] = old[k];
		free(old);
	}
	i = inode_slot(p, ent->st.st_dev, ent->st.st_ino);
	if (p->inodes[i].path)
		return p->inodes[i].path;
	p->inodes[i].dev = ent->st.st_dev;
	p->inodes[i].ino = ent->st.st_ino;
	p->inodes[i].path = sb_xstrdup(ent->path);
	p->inodes_used++;
	return NULL;
}

/* --- writing the tar --- */

static la_ssize_t write_cb(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct pack *p = ctx;
	if (sb_pipeline_write(&p->pipe, buf, len, &p->cb_err) < 0) {
		archive_set_error(a, p->cb_err->code ? p->cb_err->code : EIO, "%s", p->cb_err->msg);
		return -1;
	}
	return (la_ssize_t)len;
}

static int archive_fail(struct pack *p, const char *what, struct sb_error **err)
{
	if (p->cb_err) {
		*err = p->cb_err;
		p->cb_err = NULL;
		return -1;
	}
	return sb_error_setx(err, archive_errno(p->a) > 0 ? archive_errno(p->a) : EIO, "%s: %s", what,
			     archive_error_string(p->a) ? archive_error_string(p->a) : "libarchive error");
}

static struct archive *tar_writer(struct pack *p, struct sb_error **err)
{
	struct archive *a = archive_write_new();
	if (!a)
		abort();
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    /* Only the SCHILY.xattr.* records Go's archive/tar and GNU tar
	     * read, not libarchive's own LIBARCHIVE.xattr.* duplicates. */
	    archive_write_set_format_option(a, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, 64 * 1024) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open(a, p, NULL, write_cb, NULL) != ARCHIVE_OK) {
		sb_error_setx(err, EINVAL, "tar writer: %s",
			      archive_error_string(a) ? archive_error_string(a) : "setup failed");
		archive_write_free(a);
		return NULL;
	}
	return a;
}

static int write_data(struct pack *p, const struct pack_ent *ent, struct sb_error **err)
{
	sb_autoclose int fd = sb_open_beneath(p->rootfd, ent->path, O_RDONLY);
	struct stat st;
	off_t left = ent->st.st_size;

	if (fd < 0)
		return sb_error_set(err, errno, "open %s", ent->path);
	if (fstat(fd, &st) < 0)
		return sb_error_set(err, errno, "stat %s", ent->path);
	if (st.st_ino != ent->st.st_ino || st.st_dev != ent->st.st_dev)
		return sb_error_setx(err, EAGAIN, "%s changed while packing", ent->path);
	while (left > 0) {
		size_t want = left > (off_t)DATA_CHUNK ? DATA_CHUNK : (size_t)left;
		ssize_t n = read(fd, p->buf, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return sb_error_set(err, errno, "read %s", ent->path);
		}
		if (n == 0)
			return sb_error_setx(err, EAGAIN, "%s shrank while packing", ent->path);
		if (archive_write_data(p->a, p->buf, (size_t)n) < 0)
			return archive_fail(p, ent->path, err);
		left -= n;
	}
	return 0;
}

static int write_entry(struct pack *p, const struct pack_ent *ent, struct sb_error **err)
{
	const struct stat *st = &ent->st;
	struct archive_entry *e = p->e;
	const char *link_to = hardlink_of(p, ent);
	time_t mtime = st->st_mtim.tv_sec;
	int r;

	if (p->opts->source_date_epoch >= 0 && mtime > p->opts->source_date_epoch)
		mtime = (time_t)p->opts->source_date_epoch;
	archive_entry_clear(e);
	sb_strbuf_reset(&p->name);
	sb_strbuf_adds(&p->name, ent->path);
	if (S_ISDIR(st->st_mode))
		sb_strbuf_addc(&p->name, '/');
	archive_entry_copy_pathname(e, p->name.buf);
	archive_entry_set_mode(e, st->st_mode);
	archive_entry_set_uid(e, st->st_uid);
	archive_entry_set_gid(e, st->st_gid);
	archive_entry_set_mtime(e, mtime, 0);
	if (link_to) {
		archive_entry_copy_hardlink(e, link_to);
		archive_entry_set_size(e, 0);
	} else if (S_ISREG(st->st_mode)) {
		archive_entry_set_size(e, st->st_size);
	} else if (S_ISLNK(st->st_mode)) {
		archive_entry_copy_symlink(e, ent->link);
	} else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		archive_entry_set_rdevmajor(e, major(st->st_rdev));
		archive_entry_set_rdevminor(e, minor(st->st_rdev));
	}
	/* libarchive writes xattrs in the reverse order of adding them;
	 * added backwards, they come out sorted like Go's. */
	for (size_t x = ent->nxattrs; x-- > 0;)
		archive_entry_xattr_add_entry(e, ent->xattrs[x].name, ent->xattrs[x].value, ent->xattrs[x].size);
	/* ARCHIVE_WARN: a name that is not UTF-8, written as raw bytes with
	 * hdrcharset=BINARY. */
	r = archive_write_header(p->a, e);
	if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
		return archive_fail(p, ent->path, err);
	p->entries++;
	if (S_ISREG(st->st_mode) && !link_to && st->st_size > 0)
		return write_data(p, ent, err);
	return 0;
}

/* Depth first, each directory sorted: entries come out in the order of
 * sb_layer_path_cmp() while the walk goes on, so compression starts at
 * once and only the directories on the current path are in memory. */
static int pack_tree(struct pack *p, const char *rel, struct sb_error **err)
{
	struct pack_ent *v = NULL;
	size_t n = 0;
	int ret = read_dir(p, rel, &v, &n, err);

	if (ret == 0 && n > 1)
		qsort(v, n, sizeof(*v), ent_cmp);
	for (size_t i = 0; i < n; i++) {
		if (ret == 0)
			ret = write_entry(p, &v[i], err);
		if (ret == 0 && S_ISDIR(v[i].st.st_mode))
			ret = pack_tree(p, v[i].path, err);
		ent_release(&v[i]);
	}
	free(v);
	return ret;
}

int sb_layer_pack_dir_to(const char *dir, const struct sb_layer_pack_opts *opts, const struct sb_layer_sink *sink,
			 struct sb_layer_result *out, struct sb_error **err)
{
	return sb_layer_pack_dir_sink(dir, opts, sink, true, out, err);
}

int sb_layer_pack_dir_sink(const char *dir, const struct sb_layer_pack_opts *opts, const struct sb_layer_sink *sink,
			   bool hash_blob, struct sb_layer_result *out, struct sb_error **err)
{
	struct sb_layer_pack_opts defaults;
	struct pack p;
	locale_t loc, old = (locale_t)0;
	int ret = -1;

	if (!opts) {
		sb_layer_pack_opts_init(&defaults);
		opts = &defaults;
	}
	memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	p.dir = dir;
	p.opts = opts;
	p.rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p.rootfd < 0)
		return sb_error_set(err, errno, "open %s", dir);
	p.proc = access("/proc/self/fd", X_OK) == 0;
	sb_strbuf_init(&p.name, 0);
	p.buf = sb_xmalloc(DATA_CHUNK);
	p.e = archive_entry_new();
	if (!p.e)
		abort();
	/* See unpack.c: names stay the bytes they are. */
	loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (loc)
		old = uselocale(loc);

	if (sb_pipeline_init(&p.pipe, opts, sink, hash_blob, err) < 0)
		goto out;
	p.a = tar_writer(&p, err);
	if (!p.a)
		goto out;
	if (pack_tree(&p, "", err) < 0)
		goto out;
	if (archive_write_close(p.a) != ARCHIVE_OK) {
		archive_fail(&p, "finish tar", err);
		goto out;
	}
	if (sb_pipeline_finish(&p.pipe, out, err) < 0)
		goto out;
	out->entries = p.entries;
	out->skipped = p.skipped;
	ret = 0;
out:
	if (ret < 0)
		sb_error_wrap(err, "pack %s", dir);
	if (p.a)
		archive_write_free(p.a);
	archive_entry_free(p.e);
	sb_pipeline_release(&p.pipe);
	sb_error_free(p.cb_err);
	for (size_t i = 0; i < p.ninodes; i++)
		free(p.inodes[i].path);
	free(p.inodes);
	free(p.buf);
	sb_strbuf_release(&p.name);
	if (loc) {
		uselocale(old);
		freelocale(loc);
	}
	close(p.rootfd);
	return ret;
}

/* --- an existing tar stream --- */

/* Whether b is a tar header (its checksum holds) or the zero block that
 * ends an archive. */
static bool tar_block_ok(const unsigned char b[512])
{
	unsigned long sum = 0, want = 0;
	long ssum = 0;
	bool zero = true, digits = false;

	for (int i = 0; i < 512; i++) {
		unsigned char c = (i >= 148 && i < 156) ? ' ' : b[i];
		zero &= b[i] == 0;
		sum += c;
		ssum += (signed char)c;
	}
	if (zero)
		return true;
	for (int i = 148; i < 156; i++) {
		if (b[i] >= '0' && b[i] <= '7') {
			want = want * 8 + (unsigned long)(b[i] - '0');
			digits = true;
		} else if (digits || (b[i] != ' ' && b[i] != '\0')) {
			break;
		}
	}
	return digits && (want == sum || (long)want == ssum);
}

int sb_layer_from_tar_sink(int tar_fd, const struct sb_layer_pack_opts *opts, const struct sb_layer_sink *sink,
			   bool hash_blob, struct sb_layer_result *out, struct sb_error **err)
{
	struct sb_layer_pack_opts defaults;
	struct sb_decompressor dec;
	struct sb_pipeline pipe;
	unsigned char head[512];
	size_t nhead = 0;
	unsigned char *buf = NULL;
	int ret = -1;

	if (!opts) {
		sb_layer_pack_opts_init(&defaults);
		opts = &defaults;
	}
	memset(out, 0, sizeof(*out));
	memset(&pipe, 0, sizeof(pipe));
	if (sb_decompressor_open(&dec, tar_fd, 0, err) < 0)
		goto out;
	if (sb_pipeline_init(&pipe, opts, sink, hash_blob, err) < 0)
		goto out;
	buf = sb_xmalloc(DATA_CHUNK);
	for (;;) {
		ssize_t n = sb_decompressor_read(&dec, buf, DATA_CHUNK, err);
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		if (nhead < sizeof(head)) {
			size_t take = sizeof(head) - nhead < (size_t)n ? sizeof(head) - nhead : (size_t)n;
			memcpy(head + nhead, buf, take);
			nhead += take;
			if (nhead == sizeof(head) && !tar_block_ok(head)) {
				sb_error_setx(err, EINVAL, "not a tar archive (bad header checksum)");
				goto out;
			}
		}
		if (sb_pipeline_write(&pipe, buf, (size_t)n, err) < 0)
			goto out;
	}
	if (nhead < sizeof(head)) {
		sb_error_setx(err, EINVAL, "not a tar archive (%zu bytes)", nhead);
		goto out;
	}
	if (sb_pipeline_finish(&pipe, out, err) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		sb_error_wrap(err, "store tar stream");
	free(buf);
	sb_pipeline_release(&pipe);
	sb_decompressor_release(&dec);
	return ret;
}

int sb_layer_from_tar_to(int tar_fd, const struct sb_layer_pack_opts *opts, const struct sb_layer_sink *sink,
			 struct sb_layer_result *out, struct sb_error **err)
{
	return sb_layer_from_tar_sink(tar_fd, opts, sink, true, out, err);
}
