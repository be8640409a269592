/* Layers and the store: packing into a blob writer, unpacking an image's
 * layers from their blobs. A layer whose tar does not match the config's
 * diff_id fails after it was applied: the caller throws the rootfs away. */
#include <unistd.h>

#include "runtime/layer/internal.h"

static int blob_sink_write(void *ctx, const void *data, size_t len, struct sb_error **err)
{
	return sb_blob_writer_write(ctx, data, len, err);
}

static int commit(struct sb_blob_writer *w, int ret, struct sb_layer_result *out, struct sb_error **err)
{
	char digest[SB_DIGEST_SIZE];
	if (ret < 0) {
		sb_blob_writer_abort(w);
		return -1;
	}
	if (sb_blob_writer_commit(w, digest, err) < 0)
		return sb_error_wrap(err, "store layer");
	memcpy(out->digest, digest, sizeof(digest));
	return 0;
}

/* What goes into a new blob: a directory walk (of dir, or of its
 * difference from lower) or an existing tar. */
struct layer_source {
	const char *lower;
	const char *dir;
	int tar_fd;
};

/* Adding blobs holds the store lock shared (store.h), so that a prune
 * waits; the lock nests, and a caller that tags the result should hold it
 * across both. */
static int layer_to_store(struct sb_store *store, const struct layer_source *src,
			  const struct sb_layer_pack_opts *opts, struct sb_layer_result *out, struct sb_error **err)
{
	struct sb_blob_writer w;
	struct sb_layer_sink sink = { blob_sink_write, &w };
	int ret;

	if (sb_store_lock(store, false, err) < 0)
		return -1;
	ret = sb_blob_writer_open(store, NULL, -1, &w, err);
	if (ret == 0) {
		ret = src->dir ? sb_layer_pack_sink(src->lower, src->dir, opts, &sink, false, out, err)
			       : sb_layer_from_tar_sink(src->tar_fd, opts, &sink, false, out, err);
		ret = commit(&w, ret, out, err);
	}
	sb_store_unlock(store);
	return ret;
}

int sb_layer_pack_dir(struct sb_store *store, const char *dir, const struct sb_layer_pack_opts *opts,
		      struct sb_layer_result *out, struct sb_error **err)
{
	struct layer_source src = { NULL, dir, -1 };
	return layer_to_store(store, &src, opts, out, err);
}

int sb_layer_pack_diff(struct sb_store *store, const char *lower, const char *upper,
		       const struct sb_layer_pack_opts *opts, struct sb_layer_result *out, struct sb_error **err)
{
	struct layer_source src = { lower, upper, -1 };
	return layer_to_store(store, &src, opts, out, err);
}

int sb_layer_from_tar(struct sb_store *store, int tar_fd, const struct sb_layer_pack_opts *opts,
		      struct sb_layer_result *out, struct sb_error **err)
{
	struct layer_source src = { NULL, NULL, tar_fd };
	return layer_to_store(store, &src, opts, out, err);
}

static void short_digest(const char *digest, char out[20])
{
	snprintf(out, 20, "%.12s", sb_digest_hex(digest));
}

int sb_layer_unpack_image(struct sb_store *store, const struct sb_manifest *m, const char *rootfs,
			  const struct sb_layer_unpack_opts *opts, const struct sb_progress *progress,
			  struct sb_error **err)
{
	struct sb_image_config config = { NULL };
	struct sb_strbuf raw = SB_STRBUF_INIT;
	int ret = -1;

	/* The config's diff_ids say what each layer must expand to; a blob
	 * that passed its own digest check can still hold a different tar
	 * (a registry serving the wrong compression of it). */
	if (sb_store_read_blob(store, m->config.digest, SB_IMAGE_JSON_MAX, &raw, err) < 0 ||
	    sb_image_config_parse(raw.buf, raw.len, &config, err) < 0) {
		sb_error_wrap(err, "image config %s", m->config.digest);
		goto out;
	}
	if (sb_image_config_ndiff_ids(&config) != m->nlayers) {
		sb_error_setx(err, EINVAL, "image config %s lists %zu diff_ids for %zu layers", m->config.digest,
			      sb_image_config_ndiff_ids(&config), m->nlayers);
		goto out;
	}
	for (size_t i = 0; i < m->nlayers; i++) {
		const struct sb_descriptor *d = &m->layers[i];
		const char *want = sb_image_config_diff_id(&config, i);
		struct sb_layer_unpack_stats stats;
		char id[20];
		int fd, r;

		short_digest(d->digest, id);
		if (sb_layer_media_compression(d->media_type) < 0) {
			sb_error_setx(err, EINVAL, "layer %s: unsupported media type %s", d->digest, d->media_type);
			goto out;
		}
		sb_progress_emit(progress, SB_PROGRESS_START, id, "unpack", 0, (uint64_t)d->size, NULL);
		fd = sb_store_open_blob(store, d->digest, err);
		if (fd < 0) {
			sb_error_wrap(err, "layer %s", d->digest);
			goto out;
		}
		r = sb_layer_unpack(fd, rootfs, opts, &stats, err);
		close(fd);
		if (r < 0) {
			sb_progress_emit(progress, SB_PROGRESS_ERROR, id, "unpack", 0, 0, err && *err ? (*err)->msg : NULL);
			sb_error_wrap(err, "unpack layer %s", d->digest);
			goto out;
		}
		if (strcmp(stats.diff_id, want)) {
			sb_error_setx(err, EINVAL, "unpack layer %s: its tar is %s, the image config says %s", d->digest,
				      stats.diff_id, want);
			goto out;
		}
		sb_progress_emit(progress, SB_PROGRESS_DONE, id, "unpack", stats.bytes, stats.bytes, NULL);
	}
	ret = 0;
out:
	sb_image_config_release(&config);
	sb_strbuf_release(&raw);
	return ret;
}
