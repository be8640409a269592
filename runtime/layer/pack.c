/* Packing a directory (or an existing tar stream) into a layer, in one
 * pass: libarchive writes the tar to a callback that feeds the pipeline
 * (pipeline.c: diff_id, compression, the sink, which is the store's blob
 * writer in blobs.c).
 *
 * The tar is what Docker and BuildKit write: PAX (ustar headers, extended
 * headers only where ustar cannot say it: long names, big ids, xattrs as
 * SCHILY.xattr.*), relative names without "./", directories ending in "/",
 * numeric owners without names, mtimes in whole seconds, no atime or ctime,
 * hard links by inode, and no padding after the two zero blocks.
 *
 * Three walks share the writer: a whole tree; an overlayfs upper directory,
 * whose whiteout devices and opaque directories become OCI whiteout
 * entries; and the difference between two trees (the fallback where
 * overlayfs is unavailable), which writes what was added or changed, the
 * directories above it and a whiteout for what was removed. */
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
	bool opaque; /* overlay upper: trusted.overlay.opaque is "y" */
};

/* A tree being read: its path (for the xattr fallback) and descriptor. */
struct tree {
	const char *dir;
	int rootfd;
};

/* The first path each multiply-linked inode was packed under. */
struct inode_path {
	dev_t dev;
	ino_t ino;
	char *path; /* NULL: empty slot */
};

struct pack {
	struct tree upper; /* the tree packed */
	struct tree lower; /* pack_diff: the tree before; rootfd -1 otherwise */
	bool overlay;      /* upper is an overlayfs upper directory */
	bool proc; /* /proc/self/fd works: xattrs by descriptor-relative path */
	const struct sb_layer_pack_opts *opts;
	/* pack_diff: unchanged directories on the current path, written only
	 * when something below them is; the first nwritten are out. */
	const struct pack_ent **pending;
	size_t npending, apending, nwritten;
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

/* overlayfs keeps its own metadata in trusted.overlay.* (opaque, origin,
 * impure, nlink, ...): not content, and unpackers refuse to set it. Two
 * of them mean the upper entry is not whole: a redirect (a renamed
 * directory whose contents stay in a lower layer, redirect_dir=on) and
 * metacopy (a copied-up inode whose data stays below, metacopy=on).
 * BuildKit's overlay differ refuses those too. */
static int overlay_xattr(struct pack *p, struct pack_ent *ent, const char *key, const struct xattr *x,
			 struct sb_error **err)
{
	if (!p->overlay)
		return 0;
	if (!strcmp(key, "trusted.overlay.opaque")) {
		ent->opaque = x->size == 1 && ((const char *)x->value)[0] == 'y';
		return 0;
	}
	if (!strcmp(key, "trusted.overlay.redirect") || !strcmp(key, "trusted.overlay.metacopy"))
		return sb_error_setx(err, EOPNOTSUPP, "%s has %s: mount overlayfs with redirect_dir=off,metacopy=off",
				     ent->path, key);
	return 0;
}

/* Every xattr of dfd/name (not following a symlink), sorted by name;
 * trusted.overlay.* is read (overlay_xattr) but not kept when packing an
 * overlay upper directory or a diff. */
static int read_xattrs(struct pack *p, const struct tree *t, int dfd, const char *name, struct pack_ent *ent,
		       struct sb_error **err)
{
	bool strip = p->overlay || p->lower.rootfd >= 0;
	sb_autofree char *path = p->proc ? sb_xasprintf("/proc/self/fd/%d/%s", dfd, name)
					 : sb_xasprintf("%s/%s", t->dir, ent->path);
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
		x.size = (size_t)v;
		if (strip && !strncmp(key, "trusted.overlay.", 16)) {
			int r = overlay_xattr(p, ent, key, &x, err);
			free(x.value);
			if (r < 0)
				return -1;
			continue;
		}
		x.name = sb_xstrndup(key, klen);
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
static int read_dir(struct pack *p, const struct tree *t, const char *rel, struct pack_ent **v, size_t *n,
		    struct sb_error **err)
{
	int fd = sb_open_beneath(t->rootfd, rel, O_RDONLY | O_DIRECTORY);
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
		if (read_xattrs(p, t, dirfd(d), de->d_name, &ent, err) < 0) {
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
	sb_autoclose int fd = sb_open_beneath(p->upper.rootfd, ent->path, O_RDONLY);
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

/* --- whiteouts --- */

/* A whiteout (".wh.NAME") or opaque marker (".wh..wh..opq") in directory
 * rel: an empty regular file, mode 0, owned by 0:0, mtime 0. That is what
 * containerd's archive.WriteDiff writes, which BuildKit uses for its
 * overlay and walking differs alike (since containerd 2.0 with the time
 * at the epoch, for reproducible layers; before, the time of the diff).
 * moby's overlay converter gives markers other modes and owners; readers
 * look only at the name, so the one fixed header keeps layers equal
 * whichever way they were made. */
static int write_marker(struct pack *p, const char *rel, const char *prefix, const char *name,
			struct sb_error **err)
{
	struct archive_entry *e = p->e;
	int r;

	archive_entry_clear(e);
	sb_strbuf_reset(&p->name);
	if (*rel) {
		sb_strbuf_adds(&p->name, rel);
		sb_strbuf_addc(&p->name, '/');
	}
	sb_strbuf_adds(&p->name, prefix);
	sb_strbuf_adds(&p->name, name);
	archive_entry_copy_pathname(e, p->name.buf);
	archive_entry_set_mode(e, AE_IFREG);
	archive_entry_set_size(e, 0);
	archive_entry_set_mtime(e, 0, 0);
	r = archive_write_header(p->a, e);
	if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
		return archive_fail(p, p->name.buf, err);
	p->entries++;
	return 0;
}

static bool is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static const char *base_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* --- the walks --- */

/* Write the directories held back above what comes next. */
static int flush_pending(struct pack *p, struct sb_error **err)
{
	for (; p->nwritten < p->npending; p->nwritten++)
		if (write_entry(p, p->pending[p->nwritten], err) < 0)
			return -1;
	return 0;
}

/* One entry of directory rel, as the options say: an overlay whiteout
 * device becomes ".wh.NAME" in its place (where containerd's differ puts
 * the deletion: at NAME's place in the walk), an opaque directory is
 * followed at once by its marker, before its contents. */
static int pack_one(struct pack *p, const char *rel, const struct pack_ent *ent, struct sb_error **err)
{
	if (flush_pending(p, err) < 0)
		return -1;
	if (p->overlay && is_whiteout(&ent->st))
		return write_marker(p, rel, ".wh.", base_of(ent->path), err);
	if (write_entry(p, ent, err) < 0)
		return -1;
	if (p->overlay && ent->opaque && S_ISDIR(ent->st.st_mode))
		return write_marker(p, ent->path, ".wh..wh..opq", "", err);
	return 0;
}

static int read_sorted(struct pack *p, const struct tree *t, const char *rel, struct pack_ent **v, size_t *n,
		       struct sb_error **err)
{
	if (read_dir(p, t, rel, v, n, err) < 0)
		return -1;
	if (*n > 1)
		qsort(*v, *n, sizeof(**v), ent_cmp);
	return 0;
}

static void ents_free(struct pack_ent *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ent_release(&v[i]);
	free(v);
}

/* Depth first, each directory sorted: entries come out in the order of
 * sb_layer_path_cmp() while the walk goes on, so compression starts at
 * once and only the directories on the current path are in memory. */
static int pack_tree(struct pack *p, const char *rel, struct sb_error **err)
{
	struct pack_ent *v = NULL;
	size_t n = 0;
	int ret = read_sorted(p, &p->upper, rel, &v, &n, err);

	for (size_t i = 0; ret == 0 && i < n; i++) {
		ret = pack_one(p, rel, &v[i], err);
		if (ret == 0 && S_ISDIR(v[i].st.st_mode))
			ret = pack_tree(p, v[i].path, err);
	}
	ents_free(v, n);
	return ret;
}

static bool xattrs_equal(const struct pack_ent *a, const struct pack_ent *b)
{
	if (a->nxattrs != b->nxattrs)
		return false;
	for (size_t i = 0; i < a->nxattrs; i++) {
		const struct xattr *x = &a->xattrs[i], *y = &b->xattrs[i];
		if (strcmp(x->name, y->name) || x->size != y->size || memcmp(x->value, y->value, x->size))
			return false;
	}
	return true;
}

/* Whether an entry differs between the trees. Regular files of the same
 * size and mtime count as equal without reading them, as the naive
 * differs of containers/storage and moby do; a directory's size is the
 * filesystem's business and is not compared. */
static bool ent_changed(const struct pack_ent *old, const struct pack_ent *cur)
{
	const struct stat *a = &old->st, *b = &cur->st;

	if (a->st_mode != b->st_mode || a->st_uid != b->st_uid || a->st_gid != b->st_gid)
		return true;
	if ((S_ISCHR(a->st_mode) || S_ISBLK(a->st_mode)) && a->st_rdev != b->st_rdev)
		return true;
	if (!S_ISDIR(a->st_mode) && a->st_size != b->st_size)
		return true;
	if (a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec)
		return true;
	if (S_ISLNK(a->st_mode) && strcmp(old->link, cur->link))
		return true;
	return !xattrs_equal(old, cur);
}

/* Directory rel exists in both trees. Both listings merge in name order:
 * a name only in the upper tree is added (with all below it), one only in
 * the lower tree gets a whiteout (one, even for a directory), one in both
 * is written when it changed. A directory is written when it changed or
 * when anything below it is (moby's changes.go addChanges), so that its
 * owner and mode survive the unpack; an unchanged one waits on the pending
 * stack until something below it is written, or is dropped. A directory
 * that became something else is replaced whole by the new entry, which
 * removes what was below it, so its old contents need no whiteouts. */
static int diff_tree(struct pack *p, const char *rel, struct sb_error **err)
{
	struct pack_ent *v = NULL, *w = NULL;
	size_t n = 0, m = 0, i = 0, j = 0;
	int ret = read_sorted(p, &p->upper, rel, &v, &n, err);

	if (ret == 0)
		ret = read_sorted(p, &p->lower, rel, &w, &m, err);
	while (ret == 0 && (i < n || j < m)) {
		int c = i == n ? 1 : j == m ? -1 : strcmp(v[i].path, w[j].path);
		const struct pack_ent *cur = c <= 0 ? &v[i] : NULL;
		bool changed = c < 0 || (c == 0 && ent_changed(&w[j], cur));

		if (c > 0) {
			ret = flush_pending(p, err);
			if (ret == 0)
				ret = write_marker(p, rel, ".wh.", base_of(w[j].path), err);
		} else if (!S_ISDIR(cur->st.st_mode)) {
			if (changed)
				ret = pack_one(p, rel, cur, err);
		} else if (changed && (c < 0 || !S_ISDIR(w[j].st.st_mode))) {
			ret = pack_one(p, rel, cur, err);
			if (ret == 0)
				ret = pack_tree(p, cur->path, err);
		} else {
			if (changed) {
				ret = pack_one(p, rel, cur, err);
			} else {
				p->pending = sb_xgrow(p->pending, &p->apending, p->npending + 1, sizeof(*p->pending));
				p->pending[p->npending++] = cur;
			}
			if (ret == 0)
				ret = diff_tree(p, cur->path, err);
			if (!changed) {
				p->npending--;
				if (p->nwritten > p->npending)
					p->nwritten = p->npending;
			}
		}
		i += c <= 0;
		j += c >= 0;
	}
	ents_free(v, n);
	ents_free(w, m);
	return ret;
}

int sb_layer_pack_dir_to(const char *dir, const struct sb_layer_pack_opts *opts, const struct sb_layer_sink *sink,
			 struct sb_layer_result *out, struct sb_error **err)
{
	return sb_layer_pack_sink(NULL, dir, opts, sink, true, out, err);
}

int sb_layer_pack_diff_to(const char *lower, const char *upper, const struct sb_layer_pack_opts *opts,
			  const struct sb_layer_sink *sink, struct sb_layer_result *out, struct sb_error **err)
{
	return sb_layer_pack_sink(lower, upper, opts, sink, true, out, err);
}

int sb_layer_pack_sink(const char *lower, const char *dir, const struct sb_layer_pack_opts *opts,
		       const struct sb_layer_sink *sink, bool hash_blob, struct sb_layer_result *out,
		       struct sb_error **err)
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
	p.upper.dir = dir;
	p.opts = opts;
	p.overlay = opts->overlay_upper && !lower;
	p.lower.dir = lower;
	p.lower.rootfd = -1;
	p.upper.rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p.upper.rootfd < 0)
		return sb_error_set(err, errno, "open %s", dir);
	if (lower) {
		p.lower.rootfd = open(lower, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (p.lower.rootfd < 0) {
			int e = errno;
			close(p.upper.rootfd);
			return sb_error_set(err, e, "open %s", lower);
		}
	}
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
	if ((lower ? diff_tree(&p, "", err) : pack_tree(&p, "", err)) < 0)
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
	if (ret < 0) {
		if (lower)
			sb_error_wrap(err, "diff %s against %s", dir, lower);
		else
			sb_error_wrap(err, "pack %s", dir);
	}
	if (p.a)
		archive_write_free(p.a);
	archive_entry_free(p.e);
	sb_pipeline_release(&p.pipe);
	sb_error_free(p.cb_err);
	for (size_t i = 0; i < p.ninodes; i++)
		free(p.inodes[i].path);
	free(p.inodes);
	free(p.pending);
	free(p.buf);
	sb_strbuf_release(&p.name);
	if (loc) {
		uselocale(old);
		freelocale(loc);
	}
	close(p.upper.rootfd);
	if (p.lower.rootfd >= 0)
		close(p.lower.rootfd);
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
