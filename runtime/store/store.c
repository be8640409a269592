/* The local store: an OCI image layout with atomic blob ingest and an
 * index.json of tags. See store.h for the crash-safety and locking rules. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/store/store.h"

#define ANN_REF_NAME "org.opencontainers.image.ref.name"
#define ANN_CONTAINERD_NAME "io.containerd.image.name"
#define INGEST_STALE_SECONDS 3600

char *sb_store_default_root(void)
{
	const char *env = getenv("SLIMBUILD_ROOT");
	const char *xdg, *home;

	if (env && *env)
		return sb_xstrdup(env);
	if (geteuid() == 0)
		return sb_xstrdup("/var/lib/slimbuild");
	xdg = getenv("XDG_DATA_HOME");
	if (xdg && *xdg)
		return sb_xasprintf("%s/slimbuild", xdg);
	home = getenv("HOME");
	return sb_xasprintf("%s/.local/share/slimbuild", home && *home ? home : ".");
}

/* Remove ingest files a killed process left behind. Only old ones: a
 * younger file may belong to a pull running right now. */
static void clean_ingest(struct sb_store *s, time_t older_than, uint64_t *removed)
{
	int fd = openat(s->dirfd, "ingest", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	time_t now = time(NULL);

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (now - st.st_mtime < older_than)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0 && removed)
			(*removed)++;
	}
	closedir(d);
}

int sb_store_open(struct sb_store *s, const char *root, struct sb_error **err)
{
	struct stat st;
	memset(s, 0, sizeof(*s));
	s->dirfd = s->lockfd = -1;
	s->root = root ? sb_xstrdup(root) : sb_store_default_root();

	if (sb_mkdir_p(AT_FDCWD, s->root, 0700, err) < 0)
		goto fail;
	s->dirfd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		sb_error_set(err, errno, "open store %s", s->root);
		goto fail;
	}
	if (sb_mkdir_p(s->dirfd, "blobs/sha256", 0755, err) < 0 || sb_mkdir_p(s->dirfd, "ingest", 0700, err) < 0)
		goto fail;
	s->lockfd = openat(s->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lockfd < 0) {
		sb_error_set(err, errno, "open %s/lock", s->root);
		goto fail;
	}
	if (fstatat(s->dirfd, "oci-layout", &st, 0) < 0) {
		static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
		if (sb_write_file_atomic(s->dirfd, "oci-layout", layout, sizeof(layout) - 1, 0644, err) < 0)
			goto fail;
	}
	if (fstatat(s->dirfd, "index.json", &st, 0) < 0) {
		static const char idx[] = "{\"schemaVersion\":2,\"mediaType\":\"" SB_MT_OCI_INDEX "\",\"manifests\":[]}";
		if (sb_write_file_atomic(s->dirfd, "index.json", idx, sizeof(idx) - 1, 0644, err) < 0)
			goto fail;
	}
	clean_ingest(s, INGEST_STALE_SECONDS, NULL);
	return 0;
fail:
	sb_error_wrap(err, "store %s", s->root);
	sb_store_release(s);
	return -1;
}

void sb_store_release(struct sb_store *s)
{
	if (s->lockfd >= 0)
		close(s->lockfd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->root);
	memset(s, 0, sizeof(*s));
	s->dirfd = s->lockfd = -1;
}

int sb_store_lock(struct sb_store *s, bool exclusive, struct sb_error **err)
{
	if (s->lock_depth > 0) {
		if (exclusive && !s->lock_exclusive)
			return sb_error_setx(err, EDEADLK, "store lock: cannot upgrade a shared lock");
		s->lock_depth++;
		return 0;
	}
	while (flock(s->lockfd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
		if (errno != EINTR)
			return sb_error_set(err, errno, "lock store %s", s->root);
	}
	s->lock_depth = 1;
	s->lock_exclusive = exclusive;
	return 0;
}

void sb_store_unlock(struct sb_store *s)
{
	if (s->lock_depth <= 0)
		return;
	if (--s->lock_depth == 0)
		flock(s->lockfd, LOCK_UN);
}

/* --- blobs --- */

char *sb_store_blob_relpath(const char *digest)
{
	return sb_xasprintf("blobs/sha256/%s", sb_digest_hex(digest));
}

bool sb_store_has_blob(struct sb_store *s, const char *digest)
{
	sb_autofree char *p = NULL;
	struct stat st;
	if (!sb_digest_valid(digest))
		return false;
	p = sb_store_blob_relpath(digest);
	return fstatat(s->dirfd, p, &st, 0) == 0 && S_ISREG(st.st_mode);
}

int64_t sb_store_blob_size(struct sb_store *s, const char *digest, struct sb_error **err)
{
	sb_autofree char *p = NULL;
	struct stat st;
	if (!sb_digest_valid(digest))
		return sb_error_setx(err, EINVAL, "invalid digest \"%s\"", digest);
	p = sb_store_blob_relpath(digest);
	if (fstatat(s->dirfd, p, &st, 0) < 0)
		return sb_error_set(err, errno, "blob %s", digest);
	return (int64_t)st.st_size;
}

int sb_store_open_blob(struct sb_store *s, const char *digest, struct sb_error **err)
{
	sb_autofree char *p = NULL;
	int fd;
	if (!sb_digest_valid(digest))
		return sb_error_setx(err, EINVAL, "invalid digest \"%s\"", digest);
	p = sb_store_blob_relpath(digest);
	fd = openat(s->dirfd, p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sb_error_set(err, errno, "blob %s", digest);
	return fd;
}

int sb_store_read_blob(struct sb_store *s, const char *digest, size_t max, struct sb_strbuf *out,
		       struct sb_error **err)
{
	sb_autoclose int fd = sb_store_open_blob(s, digest, err);
	char got[SB_DIGEST_SIZE];
	size_t start = out->len;
	if (fd < 0)
		return -1;
	if (sb_read_fd(fd, digest, max, out, err) < 0)
		return -1;
	/* A blob is verified when it enters the store; checking again here
	 * costs little for the small blobs read whole (manifests, configs)
	 * and catches a disk that changed them. */
	sb_sha256_digest(out->buf + start, out->len - start, got);
	if (strcmp(got, digest) != 0) {
		sb_strbuf_truncate(out, start);
		return sb_error_setx(err, EIO, "blob %s is corrupt: its content hashes to %s", digest, got);
	}
	return 0;
}

int sb_blob_writer_open(struct sb_store *s, const char *expect, int64_t expect_size,
			struct sb_blob_writer *w, struct sb_error **err)
{
	unsigned char rnd[12];
	char name[64];
	int n;

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	if (expect && !sb_digest_valid(expect))
		return sb_error_setx(err, EINVAL, "invalid digest \"%s\"", expect);
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return sb_error_set(err, errno, "getrandom");
	n = snprintf(name, sizeof(name), "ingest/");
	for (size_t i = 0; i < sizeof(rnd); i++)
		n += snprintf(name + n, sizeof(name) - (size_t)n, "%02x", rnd[i]);
	w->fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->fd < 0)
		return sb_error_set(err, errno, "create %s/%s", s->root, name);
	w->store = s;
	w->tmp = sb_xstrdup(name);
	sb_sha256_init(&w->hash);
	if (expect)
		memcpy(w->expect, expect, SB_DIGEST_SIZE);
	w->expect_size = expect_size;
	return 0;
}

int sb_blob_writer_write(struct sb_blob_writer *w, const void *data, size_t len, struct sb_error **err)
{
	uint64_t total;
	if (__builtin_add_overflow(w->size, (uint64_t)len, &total) ||
	    (w->max_size && total > w->max_size) ||
	    (w->expect_size >= 0 && total > (uint64_t)w->expect_size))
		return sb_error_setx(err, EFBIG, "blob %s: more data than expected (%" PRId64 " bytes)",
				     w->expect[0] ? w->expect : "(new)",
				     w->expect_size >= 0 ? w->expect_size : (int64_t)w->max_size);
	if (sb_write_all(w->fd, data, len, w->tmp, err) < 0)
		return -1;
	sb_sha256_update(&w->hash, data, len);
	w->size = total;
	return 0;
}

void sb_blob_writer_abort(struct sb_blob_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp && w->store)
		unlinkat(w->store->dirfd, w->tmp, 0);
	if (w->hash.md)
		sb_sha256_release(&w->hash);
	free(w->tmp);
	memset(w, 0, sizeof(*w));
	w->fd = -1;
}

int sb_blob_writer_commit(struct sb_blob_writer *w, char out[SB_DIGEST_SIZE], struct sb_error **err)
{
	char got[SB_DIGEST_SIZE];
	sb_autofree char *dst = NULL;

	sb_sha256_final(&w->hash, got);
	if (w->expect_size >= 0 && w->size != (uint64_t)w->expect_size) {
		sb_error_setx(err, EIO, "blob %s: got %" PRIu64 " bytes, expected %" PRId64,
			      w->expect[0] ? w->expect : got, w->size, w->expect_size);
		goto fail;
	}
	if (w->expect[0] && strcmp(got, w->expect) != 0) {
		sb_error_setx(err, EIO, "digest mismatch: expected %s, content hashes to %s", w->expect, got);
		goto fail;
	}
	if (fsync(w->fd) < 0) {
		sb_error_set(err, errno, "fsync %s", w->tmp);
		goto fail;
	}
	close(w->fd);
	w->fd = -1;
	dst = sb_store_blob_relpath(got);
	if (renameat(w->store->dirfd, w->tmp, w->store->dirfd, dst) < 0) {
		sb_error_set(err, errno, "rename %s to %s", w->tmp, dst);
		goto fail;
	}
	if (sb_fsync_dir(w->store->dirfd, "blobs/sha256", err) < 0)
		goto fail;
	if (out)
		memcpy(out, got, SB_DIGEST_SIZE);
	free(w->tmp);
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	return 0;
fail:
	sb_blob_writer_abort(w);
	return -1;
}

int sb_store_put_blob(struct sb_store *s, const void *data, size_t len, const char *expect,
		      char out[SB_DIGEST_SIZE], struct sb_error **err)
{
	struct sb_blob_writer w;
	char d[SB_DIGEST_SIZE];

	sb_sha256_digest(data, len, d);
	if (expect && strcmp(d, expect) != 0)
		return sb_error_setx(err, EIO, "digest mismatch: expected %s, content hashes to %s", expect, d);
	if (sb_store_has_blob(s, d)) {
		if (out)
			memcpy(out, d, SB_DIGEST_SIZE);
		return 0;
	}
	if (sb_blob_writer_open(s, d, (int64_t)len, &w, err) < 0)
		return -1;
	if (sb_blob_writer_write(&w, data, len, err) < 0) {
		sb_blob_writer_abort(&w);
		return -1;
	}
	return sb_blob_writer_commit(&w, out, err);
}

/* --- index.json --- */

struct index_lock {
	int fd;
};

static int index_lock(struct sb_store *s, struct index_lock *l, struct sb_error **err)
{
	l->fd = openat(s->dirfd, "index.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (l->fd < 0)
		return sb_error_set(err, errno, "open %s/index.lock", s->root);
	while (flock(l->fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int e = errno;
			close(l->fd);
			return sb_error_set(err, e, "lock %s/index.lock", s->root);
		}
	}
	return 0;
}

static void index_unlock(struct index_lock *l)
{
	close(l->fd); /* releases the flock */
}

static int index_read(struct sb_store *s, struct sb_index *idx, struct sb_error **err)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	int rc = sb_read_file(s->dirfd, "index.json", SB_IMAGE_JSON_MAX * 4, &sb, err);
	if (rc == 0)
		rc = sb_index_parse(sb.buf, sb.len, idx, err);
	sb_strbuf_release(&sb);
	return rc < 0 ? sb_error_wrap(err, "store %s: index.json", s->root) : 0;
}

static int index_write(struct sb_store *s, const struct sb_index *idx, struct sb_error **err)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	int rc = sb_index_to_json(idx, &sb, err);
	if (rc == 0)
		rc = sb_write_file_atomic(s->dirfd, "index.json", sb.buf, sb.len, 0644, err);
	sb_strbuf_release(&sb);
	return rc;
}

static const char *entry_name(const struct sb_descriptor *d)
{
	return d->annotations ? json_string_value(json_object_get(d->annotations, ANN_REF_NAME)) : NULL;
}

/* Remove entry i (swap-free: keeps order). */
static void index_remove(struct sb_index *idx, size_t i)
{
	sb_descriptor_release(&idx->manifests[i]);
	memmove(&idx->manifests[i], &idx->manifests[i + 1], (idx->nmanifests - i - 1) * sizeof(*idx->manifests));
	idx->nmanifests--;
}

/* Drop the entry tagged name; true when there was one. */
static bool index_drop_name(struct sb_index *idx, const char *name)
{
	for (size_t i = 0; i < idx->nmanifests; i++) {
		const char *n = entry_name(&idx->manifests[i]);
		if (n && strcmp(n, name) == 0) {
			index_remove(idx, i);
			return true;
		}
	}
	return false;
}

/* Read-modify-write of index.json under index.lock. With manifest, name is
 * (re)pointed at it; without, the tag name is removed (ENOENT if absent). */
static int index_update(struct sb_store *s, const char *name, const struct sb_descriptor *manifest,
			struct sb_error **err)
{
	struct index_lock l;
	struct sb_index idx;
	int rc = 0;

	if (index_lock(s, &l, err) < 0)
		return -1;
	if (index_read(s, &idx, err) < 0) {
		index_unlock(&l);
		return -1;
	}
	/* a tag that already points there: nothing to write (a no-change
	 * rebuild then costs no fsync) */
	for (size_t i = 0; manifest && i < idx.nmanifests; i++) {
		const char *n = entry_name(&idx.manifests[i]);
		if (n && !strcmp(n, name) && !strcmp(idx.manifests[i].digest, manifest->digest)) {
			sb_index_release(&idx);
			index_unlock(&l);
			return 0;
		}
	}
	if (!index_drop_name(&idx, name) && !manifest)
		rc = sb_error_setx(err, ENOENT, "no such image: %s", name);
	if (manifest) {
		struct sb_descriptor *d;
		idx.manifests = sb_xrealloc(idx.manifests, (idx.nmanifests + 1) * sizeof(*idx.manifests));
		d = &idx.manifests[idx.nmanifests++];
		sb_descriptor_copy(d, manifest);
		d->has_platform = false;
		if (!d->annotations)
			d->annotations = json_object();
		json_object_set_new(d->annotations, ANN_REF_NAME, json_string(name));
		json_object_set_new(d->annotations, ANN_CONTAINERD_NAME, json_string(name));
	}
	if (rc == 0)
		rc = index_write(s, &idx, err);
	sb_index_release(&idx);
	index_unlock(&l);
	return rc;
}

int sb_store_tag(struct sb_store *s, const char *name, const struct sb_descriptor *manifest,
		 struct sb_error **err)
{
	if (!sb_store_has_blob(s, manifest->digest))
		return sb_error_setx(err, ENOENT, "tag %s: manifest %s is not in the store", name, manifest->digest);
	return index_update(s, name, manifest, err);
}

int sb_store_untag(struct sb_store *s, const char *name, struct sb_error **err)
{
	return index_update(s, name, NULL, err);
}

int sb_store_lookup(struct sb_store *s, const char *name, struct sb_descriptor *out, struct sb_error **err)
{
	struct sb_index idx;
	int rc = -1;
	if (index_read(s, &idx, err) < 0)
		return -1;
	for (size_t i = 0; i < idx.nmanifests; i++) {
		const char *n = entry_name(&idx.manifests[i]);
		if (n && strcmp(n, name) == 0) {
			sb_descriptor_copy(out, &idx.manifests[i]);
			rc = 0;
			break;
		}
	}
	sb_index_release(&idx);
	if (rc < 0)
		sb_error_setx(err, ENOENT, "no such image: %s", name);
	return rc;
}

int sb_store_list(struct sb_store *s, struct sb_store_images *out, struct sb_error **err)
{
	struct sb_index idx;
	memset(out, 0, sizeof(*out));
	if (index_read(s, &idx, err) < 0)
		return -1;
	out->v = sb_xcalloc(idx.nmanifests + 1, sizeof(*out->v));
	for (size_t i = 0; i < idx.nmanifests; i++) {
		const char *n = entry_name(&idx.manifests[i]);
		out->v[i].name = n ? sb_xstrdup(n) : NULL;
		sb_descriptor_copy(&out->v[i].manifest, &idx.manifests[i]);
		out->n++;
	}
	sb_index_release(&idx);
	return 0;
}

void sb_store_images_release(struct sb_store_images *imgs)
{
	for (size_t i = 0; i < imgs->n; i++) {
		free(imgs->v[i].name);
		sb_descriptor_release(&imgs->v[i].manifest);
	}
	free(imgs->v);
	memset(imgs, 0, sizeof(*imgs));
}

int sb_store_load_image(struct sb_store *s, const struct sb_descriptor *manifest, struct sb_manifest *m,
			struct sb_image_config *config, struct sb_error **err)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	int rc = sb_store_read_blob(s, manifest->digest, SB_IMAGE_JSON_MAX, &sb, err);
	if (rc == 0)
		rc = sb_manifest_parse(sb.buf, sb.len, m, err);
	if (rc < 0) {
		sb_strbuf_release(&sb);
		return sb_error_wrap(err, "manifest %s", manifest->digest);
	}
	if (config) {
		sb_strbuf_reset(&sb);
		rc = sb_store_read_blob(s, m->config.digest, SB_IMAGE_JSON_MAX, &sb, err);
		if (rc == 0)
			rc = sb_image_config_parse(sb.buf, sb.len, config, err);
		if (rc < 0) {
			sb_manifest_release(m);
			sb_error_wrap(err, "config %s", m->config.digest);
		}
	}
	sb_strbuf_release(&sb);
	return rc;
}

static bool hex_prefix(const char *s)
{
	size_t n = strlen(s);
	if (n < 12 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int sb_store_resolve(struct sb_store *s, const char *what, struct sb_descriptor *manifest,
		     struct sb_error **err)
{
	struct sb_reference ref;
	struct sb_error *e = NULL;
	const char *hex = strncmp(what, "sha256:", 7) == 0 ? what + 7 : what;

	if (hex_prefix(hex)) {
		struct sb_store_images imgs;
		int found = 0;
		if (sb_store_list(s, &imgs, err) < 0)
			return -1;
		for (size_t i = 0; i < imgs.n; i++) {
			struct sb_manifest m;
			const char *md = imgs.v[i].manifest.digest;
			bool hit = strncmp(md + 7, hex, strlen(hex)) == 0;
			if (!hit && sb_store_load_image(s, &imgs.v[i].manifest, &m, NULL, NULL) == 0) {
				hit = strncmp(m.config.digest + 7, hex, strlen(hex)) == 0;
				sb_manifest_release(&m);
			}
			if (hit) {
				if (found && strcmp(manifest->digest, md) != 0) {
					sb_descriptor_release(manifest);
					sb_store_images_release(&imgs);
					return sb_error_setx(err, EINVAL, "%s: ambiguous image ID", what);
				}
				if (!found)
					sb_descriptor_copy(manifest, &imgs.v[i].manifest);
				found = 1;
			}
		}
		sb_store_images_release(&imgs);
		if (found)
			return 0;
	}
	if (sb_reference_parse(what, &ref, &e) < 0) {
		sb_error_free(e);
		return sb_error_setx(err, ENOENT, "no such image: %s", what);
	}
	{
		sb_autofree char *name = sb_reference_string(&ref);
		int rc = sb_store_lookup(s, name, manifest, NULL);
		sb_reference_release(&ref);
		if (rc < 0)
			return sb_error_setx(err, ENOENT, "no such image: %s", what);
	}
	return 0;
}

/* --- prune --- */

struct digest_set {
	char (*v)[SB_DIGEST_SIZE];
	size_t n, alloc;
};

static void set_add(struct digest_set *set, const char *d)
{
	set->v = sb_xgrow(set->v, &set->alloc, set->n + 1, sizeof(*set->v));
	memcpy(set->v[set->n++], d, SB_DIGEST_SIZE);
}

static bool set_has(const struct digest_set *set, const char *hex)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->v[i] + 7, hex) == 0)
			return true;
	return false;
}

static void mark_manifest(struct sb_store *s, const struct sb_descriptor *d, struct digest_set *live, int depth)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	set_add(live, d->digest);
	if (depth > 2 || sb_store_read_blob(s, d->digest, SB_IMAGE_JSON_MAX, &sb, NULL) < 0)
		goto out;
	if (!strcmp(d->media_type, SB_MT_OCI_INDEX) || !strcmp(d->media_type, SB_MT_DOCKER_LIST)) {
		struct sb_index idx;
		if (sb_index_parse(sb.buf, sb.len, &idx, NULL) == 0) {
			for (size_t i = 0; i < idx.nmanifests; i++)
				mark_manifest(s, &idx.manifests[i], live, depth + 1);
			sb_index_release(&idx);
		}
	} else {
		struct sb_manifest m;
		if (sb_manifest_parse(sb.buf, sb.len, &m, NULL) == 0) {
			set_add(live, m.config.digest);
			for (size_t i = 0; i < m.nlayers; i++)
				set_add(live, m.layers[i].digest);
			sb_manifest_release(&m);
		}
	}
out:
	sb_strbuf_release(&sb);
}

int sb_store_prune(struct sb_store *s, struct sb_prune_stats *stats, struct sb_error **err)
{
	struct digest_set live = { NULL, 0, 0 };
	struct sb_store_images imgs;
	struct sb_prune_stats st = { 0, 0, 0 };
	int fd;
	DIR *d;
	struct dirent *de;

	if (sb_store_lock(s, true, err) < 0)
		return -1;
	if (sb_store_list(s, &imgs, err) < 0) {
		sb_store_unlock(s);
		return -1;
	}
	for (size_t i = 0; i < imgs.n; i++)
		mark_manifest(s, &imgs.v[i].manifest, &live, 0);
	sb_store_images_release(&imgs);

	fd = openat(s->dirfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		free(live.v);
		sb_store_unlock(s);
		return sb_error_set(err, errno, "open %s/blobs/sha256", s->root);
	}
	while ((de = readdir(d))) {
		struct stat sst;
		if (de->d_name[0] == '.' || set_has(&live, de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &sst, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
			st.blobs_removed++;
			st.bytes_removed += (uint64_t)sst.st_size;
		}
	}
	closedir(d);
	free(live.v);
	/* under the exclusive lock nobody is ingesting: every file there is
	 * left over from a killed process */
	clean_ingest(s, -1, &st.ingest_removed);
	sb_store_unlock(s);
	if (stats)
		*stats = st;
	return 0;
}

int sb_store_prune_build_cache(struct sb_store *s, struct sb_prune_stats *stats, struct sb_error **err)
{
	static const char *const dirs[] = { "cache", "snapshots", "cache-mounts", "tmp" };
	int rc = 0;

	if (sb_store_lock(s, true, err) < 0)
		return -1;
	for (size_t i = 0; i < SB_ARRAY_SIZE(dirs) && rc == 0; i++)
		rc = sb_rm_rf(s->dirfd, dirs[i], err);
	if (rc == 0)
		rc = sb_store_prune(s, stats, err);
	sb_store_unlock(s);
	return rc;
}
