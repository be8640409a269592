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
	size_t link_to; /* index of the first path of this inode, or SIZE_MAX */
};

struct pack {
	const char *dir;
	int rootfd;
	bool proc; /* /proc/self/fd works: xattrs by descriptor-relative path */
	struct pack_ent *v;
	size_t n, alloc;
	uint64_t skipped;
	struct sb_pipeline pipe;
	struct sb_error *cb_err; /* a failure inside libarchive's write callback */
	struct archive *a;
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

/* Read one directory's entries; subdirectories are pushed on todo. */
static int scan_dir(struct pack *p, const char *rel, char ***todo, size_t *ntodo, size_t *atodo,
		    struct sb_error **err)
{
	int fd = sb_open_beneath(p->rootfd, rel, O_RDONLY | O_DIRECTORY);
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
		ent.link_to = SIZE_MAX;
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
		if (S_ISDIR(ent.st.st_mode)) {
			*todo = sb_xgrow(*todo, atodo, *ntodo + 1, sizeof(**todo));
			(*todo)[(*ntodo)++] = sb_xstrdup(ent.path);
		}
		p->v = sb_xgrow(p->v, &p->alloc, p->n + 1, sizeof(*p->v));
		p->v[p->n++] = ent;
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
 * mtime of "perl" wrong. */
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
	return sb_layer_path_cmp(((const struct pack_ent *)a)->path, ((const struct pack_ent *)b)->path);
}

static int inode_cmp(const void *a, const void *b, void *ctx)
{
	const struct pack_ent *v = ctx;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	const struct stat *s = &v[x].st, *t = &v[y].st;
	if (s->st_dev != t->st_dev)
		return s->st_dev < t->st_dev ? -1 : 1;
	if (s->st_ino != t->st_ino)
		return s->st_ino < t->st_ino ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int scan_tree(struct pack *p, struct sb_error **err)
{
	char **todo = NULL;
	size_t ntodo = 0, atodo = 0;
	size_t *multi = NULL, nmulti = 0, amulti = 0;
	int ret = 0;

	todo = sb_xgrow(todo, &atodo, 1, sizeof(*todo));
	todo[ntodo++] = sb_xstrdup("");
	while (ntodo) {
		char *rel = todo[--ntodo];
		if (!ret)
			ret = scan_dir(p, rel, &todo, &ntodo, &atodo, err);
		free(rel);
	}
	free(todo);
	if (ret < 0)
		return -1;

	if (p->n > 1)
		qsort(p->v, p->n, sizeof(*p->v), ent_cmp);

	/* Hard links: the first path of an inode in that order is the file,
	 * the later ones link to it. */
	for (size_t i = 0; i < p->n; i++) {
		if (S_ISDIR(p->v[i].st.st_mode) || p->v[i].st.st_nlink < 2)
			continue;
		multi = sb_xgrow(multi, &amulti, nmulti + 1, sizeof(*multi));
		multi[nmulti++] = i;
	}
	if (nmulti > 1)
		qsort_r(multi, nmulti, sizeof(*multi), inode_cmp, p->v);
	for (size_t i = 1; i < nmulti; i++) {
		const struct stat *a = &p->v[multi[i - 1]].st, *b = &p->v[multi[i]].st;
		if (a->st_dev == b->st_dev && a->st_ino == b->st_ino) {
			size_t first = p->v[multi[i - 1]].link_to;
			p->v[multi[i]].link_to = first == SIZE_MAX ? multi[i - 1] : first;
		}
	}
	free(multi);
	return 0;
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

static int write_data(struct pack *p, const struct pack_ent *ent, unsigned char *buf, struct sb_error **err)
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
		ssize_t n = read(fd, buf, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return sb_error_set(err, errno, "read %s", ent->path);
		}
		if (n == 0)
			return sb_error_setx(err, EAGAIN, "%s shrank while packing", ent->path);
		if (archive_write_data(p->a, buf, (size_t)n) < 0)
			return archive_fail(p, ent->path, err);
		left -= n;
	}
	return 0;
}

static int write_tree(struct pack *p, const struct sb_layer_pack_opts *opts, struct sb_error **err)
{
	struct archive_entry *e = archive_entry_new();
	struct sb_strbuf name = SB_STRBUF_INIT;
	unsigned char *buf = sb_xmalloc(DATA_CHUNK);
	int ret = -1;

	if (!e)
		abort();
	for (size_t i = 0; i < p->n; i++) {
		const struct pack_ent *ent = &p->v[i];
		const struct stat *st = &ent->st;
		time_t mtime = st->st_mtim.tv_sec;
		int r;

		if (opts->source_date_epoch >= 0 && mtime > opts->source_date_epoch)
			mtime = (time_t)opts->source_date_epoch;
		archive_entry_clear(e);
		sb_strbuf_reset(&name);
		sb_strbuf_adds(&name, ent->path);
		if (S_ISDIR(st->st_mode))
			sb_strbuf_addc(&name, '/');
		archive_entry_copy_pathname(e, name.buf);
		archive_entry_set_mode(e, st->st_mode);
		archive_entry_set_uid(e, st->st_uid);
		archive_entry_set_gid(e, st->st_gid);
		archive_entry_set_mtime(e, mtime, 0);
		if (ent->link_to != SIZE_MAX) {
			archive_entry_copy_hardlink(e, p->v[ent->link_to].path);
			archive_entry_set_size(e, 0);
		} else if (S_ISREG(st->st_mode)) {
			archive_entry_set_size(e, st->st_size);
		} else if (S_ISLNK(st->st_mode)) {
			archive_entry_copy_symlink(e, ent->link);
		} else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
			archive_entry_set_rdevmajor(e, major(st->st_rdev));
			archive_entry_set_rdevminor(e, minor(st->st_rdev));
		}
		/* libarchive writes xattrs in the reverse order of adding
		 * them; added backwards, they come out sorted like Go's. */
		for (size_t x = ent->nxattrs; x-- > 0;)
			archive_entry_xattr_add_entry(e, ent->xattrs[x].name, ent->xattrs[x].value,
						      ent->xattrs[x].size);
		/* ARCHIVE_WARN: a name that is not UTF-8, written as raw
		 * bytes with hdrcharset=BINARY. */
		r = archive_write_header(p->a, e);
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			archive_fail(p, ent->path, err);
			goto out;
		}
		if (S_ISREG(st->st_mode) && ent->link_to == SIZE_MAX && st->st_size > 0 &&
		    write_data(p, ent, buf, err) < 0)
			goto out;
	}
	if (archive_write_close(p->a) != ARCHIVE_OK) {
		archive_fail(p, "finish tar", err);
		goto out;
	}
	ret = 0;
out:
	free(buf);
	sb_strbuf_release(&name);
	archive_entry_free(e);
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
	p.rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p.rootfd < 0)
		return sb_error_set(err, errno, "open %s", dir);
	p.proc = access("/proc/self/fd", X_OK) == 0;
	/* See unpack.c: names stay the bytes they are. */
	loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (loc)
		old = uselocale(loc);

	if (scan_tree(&p, err) < 0)
		goto out;
	if (sb_pipeline_init(&p.pipe, opts, sink, hash_blob, err) < 0)
		goto out;
	p.a = tar_writer(&p, err);
	if (!p.a)
		goto out;
	if (write_tree(&p, opts, err) < 0)
		goto out;
	if (sb_pipeline_finish(&p.pipe, out, err) < 0)
		goto out;
	out->entries = p.n;
	out->skipped = p.skipped;
	ret = 0;
out:
	if (ret < 0)
		sb_error_wrap(err, "pack %s", dir);
	if (p.a)
		archive_write_free(p.a);
	sb_pipeline_release(&p.pipe);
	sb_error_free(p.cb_err);
	for (size_t i = 0; i < p.n; i++)
		ent_release(&p.v[i]);
	free(p.v);
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
