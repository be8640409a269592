/* The step cache: ROOT/cache/<key hex> records what a filesystem step
 * produced, {"digest", "size", "media_type", "diff_id"} or {"empty":
 * true}. An entry is used only while its blob and snapshot exist, so a
 * prune never leaves a dangling hit. */
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

static char *entry_path(struct sb_exec *x, const char *key)
{
	return sb_xasprintf("%s/cache/%s", x->store->root, sb_digest_hex(key));
}

int sb_cache_get(struct sb_exec *x, const char *key, struct sb_exec_layer *out, bool *empty, struct sb_error **err)
{
	sb_autofree char *path = entry_path(x, key);
	struct sb_strbuf sb = SB_STRBUF_INIT;
	struct sb_error *e = NULL;
	json_t *j = NULL;
	const char *digest, *diff_id, *mt;
	struct stat st;
	int rc = 0;

	(void)err;
	memset(out, 0, sizeof(*out));
	*empty = false;
	if (sb_read_file(AT_FDCWD, path, 65536, &sb, &e) < 0) {
		sb_error_free(e);
		return 0;
	}
	j = json_loadb(sb.buf, sb.len, 0, NULL);
	sb_strbuf_release(&sb);
	if (!json_is_object(j))
		goto out;
	if (json_is_true(json_object_get(j, "empty"))) {
		*empty = true;
		rc = 1;
		goto out;
	}
	digest = json_string_value(json_object_get(j, "digest"));
	diff_id = json_string_value(json_object_get(j, "diff_id"));
	mt = json_string_value(json_object_get(j, "media_type"));
	if (!digest || !diff_id || !mt || !sb_digest_valid(digest) || !sb_digest_valid(diff_id))
		goto out;
	if (!sb_store_has_blob(x->store, digest))
		goto out;
	out->snapshot = sb_snapshot_path(x->store, diff_id);
	if (stat(out->snapshot, &st) < 0 || !S_ISDIR(st.st_mode)) {
		sb_exec_layer_release(out);
		goto out;
	}
	out->desc.media_type = sb_xstrdup(mt);
	memcpy(out->desc.digest, digest, SB_DIGEST_SIZE);
	out->desc.size = (int64_t)json_integer_value(json_object_get(j, "size"));
	memcpy(out->diff_id, diff_id, SB_DIGEST_SIZE);
	rc = 1;
out:
	json_decref(j);
	return rc;
}

int sb_cache_put(struct sb_exec *x, const char *key, const struct sb_exec_layer *l, struct sb_error **err)
{
	sb_autofree char *dir = sb_xasprintf("%s/cache", x->store->root);
	json_t *j = json_object();
	char *text;
	int rc;

	if (l) {
		json_object_set_new(j, "digest", json_string(l->desc.digest));
		json_object_set_new(j, "size", json_integer(l->desc.size));
		json_object_set_new(j, "media_type", json_string(l->desc.media_type));
		json_object_set_new(j, "diff_id", json_string(l->diff_id));
	} else {
		json_object_set_new(j, "empty", json_true());
	}
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	rc = sb_mkdir_p(AT_FDCWD, dir, 0700, err);
	if (rc == 0) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0) {
			rc = sb_error_set(err, errno, "open %s", dir);
		} else {
			rc = sb_write_file_atomic(dfd, sb_digest_hex(key), text, strlen(text), 0644, err);
			close(dfd);
		}
	}
	free(text);
	return rc;
}
