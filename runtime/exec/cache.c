/* The step cache and the blob index.
 *
 * ROOT/cache/<key hex> records what a filesystem step produced and when:
 * {"diff_id", "created"} or {"empty": true, "created"}. A cached step keeps
 * its first time, so a no-change rebuild writes the same config: the same
 * image ID, and no new blob. A hit needs the snapshot of that diff_id
 * to exist; a prune that removed it only costs a miss.
 *
 * ROOT/cache/blobs/<diff_id hex> records the compressed blob of a layer:
 * {"digest", "size", "media_type"}. A step's layer is compressed only
 * when an image that holds it is written: the layers of a builder stage
 * that nothing exports are never compressed at all. */
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/exec/internal.h"

void sb_cache_key(const char *parent, const char *text, size_t len, char out[SB_DIGEST_SIZE])
{
	struct sb_sha256 h;
	sb_sha256_init(&h);
	sb_sha256_update(&h, parent, strlen(parent));
	sb_sha256_update(&h, "\n", 1);
	sb_sha256_update(&h, text, len);
	sb_sha256_final(&h, out);
}

static json_t *read_entry(struct sb_exec *x, const char *sub, const char *digest)
{
	sb_autofree char *path = sb_xasprintf("%s/cache/%s%s", x->store->root, sub, sb_digest_hex(digest));
	struct sb_strbuf sb = SB_STRBUF_INIT;
	struct sb_error *e = NULL;
	json_t *j;

	if (sb_read_file(AT_FDCWD, path, 65536, &sb, &e) < 0) {
		sb_error_free(e);
		return NULL;
	}
	j = json_loadb(sb.buf, sb.len, 0, NULL);
	sb_strbuf_release(&sb);
	if (!json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static int write_entry(struct sb_exec *x, const char *sub, const char *digest, json_t *j, struct sb_error **err)
{
	sb_autofree char *dir = sb_xasprintf("%s/cache/%s", x->store->root, sub);
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	int rc, dfd;

	rc = sb_mkdir_p(AT_FDCWD, dir, 0700, err);
	if (rc == 0) {
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0) {
			rc = sb_error_set(err, errno, "open %s", dir);
		} else {
			rc = sb_write_file_atomic(dfd, sb_digest_hex(digest), text, strlen(text), 0644, err);
			close(dfd);
		}
	}
	free(text);
	return rc;
}

bool sb_cache_blob_get(struct sb_exec *x, const char *diff_id, struct sb_descriptor *out)
{
	json_t *j = read_entry(x, "blobs/", diff_id);
	const char *digest, *mt;
	bool ok = false;

	if (!j)
		return false;
	digest = json_string_value(json_object_get(j, "digest"));
	mt = json_string_value(json_object_get(j, "media_type"));
	if (digest && mt && sb_digest_valid(digest) && sb_store_has_blob(x->store, digest)) {
		memset(out, 0, sizeof(*out));
		out->media_type = sb_xstrdup(mt);
		memcpy(out->digest, digest, SB_DIGEST_SIZE);
		out->size = (int64_t)json_integer_value(json_object_get(j, "size"));
		ok = true;
	}
	json_decref(j);
	return ok;
}

int sb_cache_blob_put(struct sb_exec *x, const char *diff_id, const struct sb_descriptor *d, struct sb_error **err)
{
	json_t *j = json_object();
	int rc;
	json_object_set_new(j, "digest", json_string(d->digest));
	json_object_set_new(j, "size", json_integer(d->size));
	json_object_set_new(j, "media_type", json_string(d->media_type));
	rc = write_entry(x, "blobs/", diff_id, j, err);
	json_decref(j);
	return rc;
}

int sb_cache_get(struct sb_exec *x, const char *key, struct sb_exec_layer *out, bool *empty, char created[32],
		 struct sb_error **err)
{
	json_t *j = read_entry(x, "", key);
	const char *diff_id;
	struct stat st;
	int rc = 0;

	(void)err;
	memset(out, 0, sizeof(*out));
	*empty = false;
	if (!j)
		return 0;
	{
		const char *c = json_string_value(json_object_get(j, "created"));
		if (c && strlen(c) < 32)
			memcpy(created, c, strlen(c) + 1);
	}
	if (json_is_true(json_object_get(j, "empty"))) {
		*empty = true;
		rc = 1;
		goto out;
	}
	diff_id = json_string_value(json_object_get(j, "diff_id"));
	if (!diff_id || !sb_digest_valid(diff_id))
		goto out;
	out->snapshot = sb_snapshot_path(x->store, diff_id);
	if (stat(out->snapshot, &st) < 0 || !S_ISDIR(st.st_mode)) {
		sb_exec_layer_release(out);
		goto out;
	}
	memcpy(out->diff_id, diff_id, SB_DIGEST_SIZE);
	/* the blob, when an earlier build compressed it */
	sb_cache_blob_get(x, diff_id, &out->desc);
	rc = 1;
out:
	json_decref(j);
	return rc;
}

int sb_cache_put(struct sb_exec *x, const char *key, const struct sb_exec_layer *l, const char *created,
		 struct sb_error **err)
{
	json_t *j = json_object();
	int rc;

	if (l)
		json_object_set_new(j, "diff_id", json_string(l->diff_id));
	else
		json_object_set_new(j, "empty", json_true());
	json_object_set_new(j, "created", json_string(created));
	rc = write_entry(x, "", key, j, err);
	json_decref(j);
	return rc;
}
