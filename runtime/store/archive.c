/* Image archives in and out of the store, with libarchive. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/store/archive.h"

#define ANN_REF_NAME "org.opencontainers.image.ref.name"
#define ANN_CONTAINERD_NAME "io.containerd.image.name"
/* More entries than this is not an image archive but an attack. */
#define LOAD_MAX_ENTRIES 100000

/* --- save --- */

struct blobset {
	char (*v)[SB_DIGEST_SIZE];
	size_t n, alloc;
};

static void blobset_add(struct blobset *b, const char *d)
{
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->v[i], d))
			return;
	b->v = sb_xgrow(b->v, &b->alloc, b->n + 1, sizeof(*b->v));
	memcpy(b->v[b->n++], d, SB_DIGEST_SIZE);
}

static int cmp_digest(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int ar_error(struct archive *a, const char *what, struct sb_error **err)
{
	return sb_error_setx(err, archive_errno(a) > 0 ? archive_errno(a) : EIO, "%s: %s", what,
			     archive_error_string(a) ? archive_error_string(a) : "archive error");
}

static int write_header(struct archive *a, const char *name, bool dir, int64_t size, struct sb_error **err)
{
	struct archive_entry *e = archive_entry_new();
	int r;
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, dir ? 0755 : 0644);
	archive_entry_set_size(e, dir ? 0 : size);
	archive_entry_set_mtime(e, 0, 0);
	r = archive_write_header(a, e);
	archive_entry_free(e);
	return r != ARCHIVE_OK ? ar_error(a, name, err) : 0;
}

static int write_data(struct archive *a, const char *name, const void *p, size_t n, struct sb_error **err)
{
	if (write_header(a, name, false, (int64_t)n, err) < 0)
		return -1;
	if (n && archive_write_data(a, p, n) != (la_ssize_t)n)
		return ar_error(a, name, err);
	return 0;
}

static int write_blob(struct archive *a, struct sb_store *s, const char *digest, struct sb_error **err)
{
	sb_autofree char *name = sb_store_blob_relpath(digest);
	sb_autoclose int fd = sb_store_open_blob(s, digest, err);
	struct stat st;
	char buf[1 << 16];
	ssize_t r;

	if (fd < 0 || fstat(fd, &st) < 0)
		return fd < 0 ? -1 : sb_error_set(err, errno, "stat blob %s", digest);
	if (write_header(a, name, false, st.st_size, err) < 0)
		return -1;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		if (archive_write_data(a, buf, (size_t)r) != r)
			return ar_error(a, name, err);
	if (r < 0)
		return sb_error_set(err, errno, "read blob %s", digest);
	return 0;
}

static char *tag_of(const char *name)
{
	struct sb_reference r;
	char *t;
	if (!name || sb_reference_parse(name, &r, NULL) < 0)
		return NULL;
	t = r.tag ? sb_xstrdup(r.tag) : NULL;
	sb_reference_release(&r);
	return t;
}

int sb_archive_save(struct sb_store *s, const struct sb_archive_image *imgs, size_t n,
		    enum sb_archive_format format, const char *path, struct sb_error **err)
{
	struct blobset blobs = { NULL, 0, 0 };
	struct archive *a = NULL;
	json_t *index = json_object(), *ims = json_array(), *mjson = json_array(), *repos = json_object();
	sb_autofree char *tmp = sb_xasprintf("%s.tmp.%d", path, (int)getpid());
	int fd = -1, rc = -1;
	char *text = NULL;

	for (size_t i = 0; i < n; i++) {
		struct sb_manifest m;
		json_t *desc, *ann, *entry, *layers, *tags;
		char *tag;

		if (sb_store_load_image(s, imgs[i].manifest, &m, NULL, err) < 0)
			goto out;
		blobset_add(&blobs, imgs[i].manifest->digest);
		blobset_add(&blobs, m.config.digest);
		for (size_t k = 0; k < m.nlayers; k++)
			blobset_add(&blobs, m.layers[k].digest);

		desc = json_object();
		json_object_set_new(desc, "mediaType", json_string(imgs[i].manifest->media_type));
		json_object_set_new(desc, "digest", json_string(imgs[i].manifest->digest));
		json_object_set_new(desc, "size", json_integer(imgs[i].manifest->size));
		tag = tag_of(imgs[i].name);
		if (imgs[i].name) {
			ann = json_object();
			json_object_set_new(ann, ANN_CONTAINERD_NAME, json_string(imgs[i].name));
			if (tag)
				json_object_set_new(ann, ANN_REF_NAME, json_string(tag));
			json_object_set_new(desc, "annotations", ann);
		}
		json_array_append_new(ims, desc);

		entry = json_object();
		layers = json_array();
		tags = json_array();
		{
			char *cp = sb_store_blob_relpath(m.config.digest);
			json_object_set_new(entry, "Config", json_string(cp));
			free(cp);
		}
		if (imgs[i].name) {
			struct sb_reference r;
			if (sb_reference_parse(imgs[i].name, &r, NULL) == 0) {
				char *fam = sb_reference_familiar(&r);
				char *repo = sb_xstrdup(fam);
				char *colon = r.tag ? strrchr(repo, ':') : NULL;
				json_t *rt;
				if (colon)
					*colon = '\0';
				json_array_append_new(tags, json_string(fam));
				rt = json_object_get(repos, repo);
				if (!rt) {
					rt = json_object();
					json_object_set_new(repos, repo, rt);
				}
				if (r.tag)
					json_object_set_new(rt, r.tag, json_string(sb_digest_hex(m.config.digest)));
				free(fam);
				free(repo);
				sb_reference_release(&r);
			}
		}
		json_object_set_new(entry, "RepoTags", tags);
		for (size_t k = 0; k < m.nlayers; k++) {
			char *p = sb_store_blob_relpath(m.layers[k].digest);
			json_array_append_new(layers, json_string(p));
			free(p);
		}
		json_object_set_new(entry, "Layers", layers);
		json_array_append_new(mjson, entry);
		free(tag);
		sb_manifest_release(&m);
	}
	qsort(blobs.v, blobs.n, sizeof(*blobs.v), cmp_digest);
	json_object_set_new(index, "schemaVersion", json_integer(2));
	json_object_set_new(index, "mediaType", json_string(SB_MT_OCI_INDEX));
	json_object_set_new(index, "manifests", ims);
	ims = NULL;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		sb_error_set(err, errno, "create %s", tmp);
		goto out;
	}
	a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		ar_error(a, path, err);
		goto out;
	}
	if (write_header(a, "blobs", true, 0, err) < 0 || write_header(a, "blobs/sha256", true, 0, err) < 0)
		goto out;
	for (size_t i = 0; i < blobs.n; i++)
		if (write_blob(a, s, blobs.v[i], err) < 0)
			goto out;
	{
		static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
		if (write_data(a, "oci-layout", layout, sizeof(layout) - 1, err) < 0)
			goto out;
	}
	text = json_dumps(index, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (write_data(a, "index.json", text, strlen(text), err) < 0)
		goto out;
	free(text);
	text = NULL;
	if (format == SB_ARCHIVE_DOCKER) {
		text = json_dumps(mjson, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (write_data(a, "manifest.json", text, strlen(text), err) < 0)
			goto out;
		free(text);
		text = json_dumps(repos, JSON_COMPACT | JSON_SORT_KEYS);
		if (write_data(a, "repositories", text, strlen(text), err) < 0)
			goto out;
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		ar_error(a, path, err);
		goto out;
	}
	if (fsync(fd) < 0) {
		sb_error_set(err, errno, "fsync %s", tmp);
		goto out;
	}
	if (rename(tmp, path) < 0) {
		sb_error_set(err, errno, "rename %s to %s", tmp, path);
		goto out;
	}
	rc = 0;
out:
	if (a)
		archive_write_free(a);
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp);
	free(text);
	free(blobs.v);
	json_decref(index);
	json_decref(ims);
	json_decref(mjson);
	json_decref(repos);
	return rc;
}

/* --- load --- */

struct loaded_file {
	char *name;
	char digest[SB_DIGEST_SIZE];
	int64_t size;
	char *data; /* small JSON-ish files kept in memory, else NULL */
	size_t len;
};

struct loaded {
	struct loaded_file *v;
	size_t n, alloc;
};

static void loaded_release(struct loaded *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].data);
	}
	free(l->v);
}

static const struct loaded_file *loaded_find(const struct loaded *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].name, name))
			return &l->v[i];
	return NULL;
}

/* "./a//b" -> "a/b"; NULL for names with ".." or absolute ones. */
static char *clean_name(const char *n)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	while (*n) {
		const char *e = strchr(n, '/');
		size_t len = e ? (size_t)(e - n) : strlen(n);
		if (len == 2 && !strncmp(n, "..", 2)) {
			sb_strbuf_release(&sb);
			return NULL;
		}
		if (len && !(len == 1 && n[0] == '.')) {
			if (sb.len)
				sb_strbuf_addc(&sb, '/');
			sb_strbuf_add(&sb, n, len);
		}
		n += len + (e ? 1 : 0);
	}
	return sb_strbuf_detach(&sb, NULL);
}

static int read_entries(struct sb_store *s, struct archive *a, struct loaded *l, struct sb_error **err)
{
	struct archive_entry *e;
	int r;

	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		struct loaded_file f;
		struct sb_blob_writer w;
		const char *raw = archive_entry_pathname(e);
		bool keep;
		char buf[1 << 16];
		la_ssize_t got;

		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		if (l->n >= LOAD_MAX_ENTRIES)
			return sb_error_setx(err, EFBIG, "archive has more than %d files", LOAD_MAX_ENTRIES);
		memset(&f, 0, sizeof(f));
		f.name = raw ? clean_name(raw) : NULL;
		if (!f.name)
			return sb_error_setx(err, EINVAL, "archive entry \"%s\": refusing a path with \"..\"",
					     raw ? raw : "");
		f.size = archive_entry_size(e);
		keep = f.size >= 0 && f.size <= (int64_t)SB_IMAGE_JSON_MAX &&
		       (!strncmp(f.name, "blobs/", 6) || strstr(f.name, ".json") || !strcmp(f.name, "repositories") ||
			!strcmp(f.name, "oci-layout"));
		if (!strncmp(f.name, "blobs/sha256/", 13)) {
			/* "blobs/sha256/<hex>" names its digest */
			char *d = sb_xasprintf("sha256:%s", f.name + 13);
			if (!sb_digest_valid(d)) {
				free(d);
				free(f.name);
				return sb_error_setx(err, EINVAL, "archive entry %s: not a sha256 digest", raw);
			}
			memcpy(f.digest, d, SB_DIGEST_SIZE);
			free(d);
		}
		if (sb_blob_writer_open(s, f.digest[0] ? f.digest : NULL, f.size, &w, err) < 0) {
			free(f.name);
			return -1;
		}
		{
			struct sb_strbuf sb = SB_STRBUF_INIT;
			while ((got = archive_read_data(a, buf, sizeof(buf))) > 0) {
				if (sb_blob_writer_write(&w, buf, (size_t)got, err) < 0)
					break;
				if (keep)
					sb_strbuf_add(&sb, buf, (size_t)got);
			}
			if (got < 0)
				ar_error(a, f.name, err);
			if ((err && *err) || got < 0 || sb_blob_writer_commit(&w, f.digest, err) < 0) {
				if (w.tmp)
					sb_blob_writer_abort(&w);
				sb_strbuf_release(&sb);
				sb_error_wrap(err, "archive entry %s", f.name);
				free(f.name);
				return -1;
			}
			if (keep)
				f.data = sb_strbuf_detach(&sb, &f.len);
			sb_strbuf_release(&sb);
		}
		l->v = sb_xgrow(l->v, &l->alloc, l->n + 1, sizeof(*l->v));
		l->v[l->n++] = f;
	}
	if (r != ARCHIVE_EOF)
		return ar_error(a, "read archive", err);
	return 0;
}

static void push_name(char ***names, size_t *n, const char *name)
{
	*names = sb_xrealloc(*names, (*n + 1) * sizeof(**names));
	(*names)[(*n)++] = sb_xstrdup(name);
}

static char *normalise(const char *name)
{
	struct sb_reference r;
	char *out;
	if (!name || sb_reference_parse(name, &r, NULL) < 0)
		return NULL;
	out = sb_reference_string(&r);
	sb_reference_release(&r);
	return out;
}

/* A manifest digest from an OCI index entry: nested indexes (what some
 * tools write) resolve to the host platform. */
static int resolve_manifest(struct sb_store *s, const struct sb_descriptor *d, struct sb_descriptor *out,
			    struct sb_error **err)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	int rc;
	if (strcmp(d->media_type, SB_MT_OCI_INDEX) && strcmp(d->media_type, SB_MT_DOCKER_LIST)) {
		sb_descriptor_copy(out, d);
		return 0;
	}
	rc = sb_store_read_blob(s, d->digest, SB_IMAGE_JSON_MAX, &sb, err);
	if (rc == 0) {
		struct sb_index idx;
		rc = sb_index_parse(sb.buf, sb.len, &idx, err);
		if (rc == 0) {
			const struct sb_descriptor *m = sb_index_select(&idx, sb_host_platform());
			if (m)
				sb_descriptor_copy(out, m);
			else
				rc = sb_error_setx(err, ENOENT, "index %s has no image for %s/%s", d->digest,
						   sb_host_platform()->os, sb_host_platform()->architecture);
			sb_index_release(&idx);
		}
	}
	sb_strbuf_release(&sb);
	return rc;
}

static int check_image(struct sb_store *s, const struct sb_descriptor *d, struct sb_error **err)
{
	struct sb_manifest m;
	struct sb_image_config c;
	int rc = sb_store_load_image(s, d, &m, &c, err);
	if (rc < 0)
		return -1;
	for (size_t i = 0; i < m.nlayers && rc == 0; i++)
		if (!sb_store_has_blob(s, m.layers[i].digest))
			rc = sb_error_setx(err, ENOENT, "layer %s is missing from the archive", m.layers[i].digest);
	if (rc == 0 && sb_image_config_ndiff_ids(&c) != m.nlayers)
		rc = sb_error_setx(err, EINVAL, "config lists %zu layers, manifest %zu", sb_image_config_ndiff_ids(&c),
				   m.nlayers);
	sb_manifest_release(&m);
	sb_image_config_release(&c);
	return rc;
}

static int load_oci(struct sb_store *s, const struct loaded_file *index, char ***names, size_t *nn,
		    struct sb_error **err)
{
	struct sb_index idx;
	int rc = 0;
	if (sb_index_parse(index->data, index->len, &idx, err) < 0)
		return sb_error_wrap(err, "index.json");
	for (size_t i = 0; i < idx.nmanifests && rc == 0; i++) {
		const struct sb_descriptor *d = &idx.manifests[i];
		const char *n1 = d->annotations ? json_string_value(json_object_get(d->annotations, ANN_CONTAINERD_NAME)) : NULL;
		const char *n2 = d->annotations ? json_string_value(json_object_get(d->annotations, ANN_REF_NAME)) : NULL;
		struct sb_descriptor m;
		char *name = normalise(n1);
		/* a bare tag ("latest") is no name; a full reference is */
		if (!name && n2 && (strchr(n2, '/') || strchr(n2, '@')))
			name = normalise(n2);
		if (resolve_manifest(s, d, &m, err) < 0 || check_image(s, &m, err) < 0) {
			free(name);
			rc = -1;
			break;
		}
		if (!name)
			name = sb_xasprintf("localhost/loaded-%.12s:latest", sb_digest_hex(m.digest));
		rc = sb_store_tag(s, name, &m, err);
		if (rc == 0)
			push_name(names, nn, name);
		free(name);
		sb_descriptor_release(&m);
	}
	sb_index_release(&idx);
	return rc;
}

static const char *layer_type_of(struct sb_store *s, const char *digest)
{
	unsigned char magic[4] = { 0 };
	int fd = sb_store_open_blob(s, digest, NULL);
	ssize_t r = fd >= 0 ? read(fd, magic, sizeof(magic)) : -1;
	if (fd >= 0)
		close(fd);
	if (r >= 2 && magic[0] == 0x1f && magic[1] == 0x8b)
		return SB_MT_OCI_LAYER_GZIP;
	if (r >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
		return SB_MT_OCI_LAYER_ZSTD;
	return SB_MT_OCI_LAYER;
}

static int load_docker(struct sb_store *s, const struct loaded *l, const struct loaded_file *mf, char ***names,
		       size_t *nn, struct sb_error **err)
{
	json_error_t je;
	json_t *arr = json_loadb(mf->data, mf->len, 0, &je);
	int rc = 0;

	if (!json_is_array(arr)) {
		json_decref(arr);
		return sb_error_setx(err, EINVAL, "manifest.json: not a JSON array");
	}
	for (size_t i = 0; i < json_array_size(arr) && rc == 0; i++) {
		json_t *e = json_array_get(arr, i), *layers = json_object_get(e, "Layers"),
		       *tags = json_object_get(e, "RepoTags");
		const char *cfgname = json_string_value(json_object_get(e, "Config"));
		const struct loaded_file *cf = cfgname ? loaded_find(l, cfgname) : NULL;
		struct sb_manifest m;
		struct sb_descriptor md;
		struct sb_strbuf sb = SB_STRBUF_INIT;

		if (!cf || !json_is_array(layers)) {
			rc = sb_error_setx(err, EINVAL, "manifest.json entry %zu: config %s not in the archive", i,
					   cfgname ? cfgname : "(none)");
			break;
		}
		memset(&m, 0, sizeof(m));
		m.media_type = sb_xstrdup(SB_MT_OCI_MANIFEST);
		m.config.media_type = sb_xstrdup(SB_MT_OCI_CONFIG);
		memcpy(m.config.digest, cf->digest, SB_DIGEST_SIZE);
		m.config.size = cf->size;
		m.layers = sb_xcalloc(json_array_size(layers) + 1, sizeof(*m.layers));
		for (size_t k = 0; k < json_array_size(layers); k++) {
			const char *ln = json_string_value(json_array_get(layers, k));
			const struct loaded_file *lf = ln ? loaded_find(l, ln) : NULL;
			if (!lf) {
				rc = sb_error_setx(err, EINVAL, "manifest.json: layer %s not in the archive", ln ? ln : "(none)");
				break;
			}
			m.layers[k].media_type = sb_xstrdup(layer_type_of(s, lf->digest));
			memcpy(m.layers[k].digest, lf->digest, SB_DIGEST_SIZE);
			m.layers[k].size = lf->size;
			m.nlayers++;
		}
		memset(&md, 0, sizeof(md));
		if (rc == 0)
			rc = sb_manifest_to_json(&m, &sb, err);
		if (rc == 0)
			rc = sb_store_put_blob(s, sb.buf, sb.len, NULL, md.digest, err);
		md.media_type = sb_xstrdup(SB_MT_OCI_MANIFEST);
		md.size = (int64_t)sb.len;
		if (rc == 0)
			rc = check_image(s, &md, err);
		for (size_t k = 0; rc == 0 && k < json_array_size(tags); k++) {
			char *name = normalise(json_string_value(json_array_get(tags, k)));
			if (!name)
				continue;
			rc = sb_store_tag(s, name, &md, err);
			if (rc == 0)
				push_name(names, nn, name);
			free(name);
		}
		if (rc == 0 && json_array_size(tags) == 0) {
			char *name = sb_xasprintf("localhost/loaded-%.12s:latest", sb_digest_hex(md.digest));
			rc = sb_store_tag(s, name, &md, err);
			if (rc == 0)
				push_name(names, nn, name);
			free(name);
		}
		sb_descriptor_release(&md);
		sb_manifest_release(&m);
		sb_strbuf_release(&sb);
	}
	json_decref(arr);
	return rc;
}

int sb_archive_load(struct sb_store *s, int fd, char ***names, size_t *nnames, struct sb_error **err)
{
	struct archive *a = archive_read_new();
	struct loaded l = { NULL, 0, 0 };
	const struct loaded_file *idx, *mf;
	int rc = -1;

	*names = NULL;
	*nnames = 0;
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_none(a);
	if (sb_store_lock(s, false, err) < 0) {
		archive_read_free(a);
		return -1;
	}
	if (archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK) {
		ar_error(a, "open archive", err);
		goto out;
	}
	if (read_entries(s, a, &l, err) < 0)
		goto out;
	mf = loaded_find(&l, "manifest.json");
	idx = loaded_find(&l, "index.json");
	/* Prefer manifest.json when both exist: Docker 25 archives carry
	 * both, and its RepoTags are the names Docker users expect. */
	if (mf && mf->data)
		rc = load_docker(s, &l, mf, names, nnames, err);
	else if (idx && idx->data)
		rc = load_oci(s, idx, names, nnames, err);
	else
		rc = sb_error_setx(err, EINVAL, "not an image archive: no manifest.json or index.json");
out:
	if (rc < 0) {
		for (size_t i = 0; i < *nnames; i++)
			free((*names)[i]);
		free(*names);
		*names = NULL;
		*nnames = 0;
	}
	loaded_release(&l);
	archive_read_free(a);
	sb_store_unlock(s);
	return rc;
}
