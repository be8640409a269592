/* Snapshots: every layer a build uses, unpacked once into an overlayfs
 * format directory (whiteouts as 0:0 character devices, opaque
 * directories marked with trusted.overlay.opaque) so that any stack of
 * them is an overlay's lowerdir list. A step's upper directory already is
 * in that format and becomes the snapshot of the layer packed from it. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/exec/internal.h"

char *sb_snapshot_path(struct sb_store *s, const char *diff_id)
{
	return sb_xasprintf("%s/snapshots/%s", s->root, sb_digest_hex(diff_id));
}

static bool dir_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int sb_snapshot_ensure(struct sb_store *s, const struct sb_descriptor *blob, const char *diff_id, char **path,
		       struct sb_error **err)
{
	sb_autofree char *snap = sb_snapshot_path(s, diff_id);
	sb_autofree char *tmp = NULL;
	sb_autoclose int fd = -1;
	struct sb_layer_unpack_opts uo;
	struct sb_layer_unpack_stats stats;
	static unsigned counter;

	if (dir_exists(snap)) {
		*path = sb_steal(&snap);
		return 0;
	}
	if (sb_mkdir_p(AT_FDCWD, s->root, 0700, err) < 0)
		return -1;
	{
		sb_autofree char *dir = sb_xasprintf("%s/snapshots", s->root);
		if (sb_mkdir_p(AT_FDCWD, dir, 0700, err) < 0)
			return -1;
	}
	tmp = sb_xasprintf("%s.tmp-%d-%u", snap, (int)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
	if (mkdir(tmp, 0755) < 0)
		return sb_error_set(err, errno, "mkdir %s", tmp);
	fd = sb_store_open_blob(s, blob->digest, err);
	if (fd < 0)
		goto fail;
	sb_layer_unpack_opts_init(&uo);
	uo.overlay_whiteouts = true;
	if (sb_layer_unpack(fd, tmp, &uo, &stats, err) < 0) {
		sb_error_wrap(err, "unpack layer %s", blob->digest);
		goto fail;
	}
	if (strcmp(stats.diff_id, diff_id) != 0) {
		sb_error_setx(err, EINVAL, "layer %s: diff_id %s, the config says %s", blob->digest, stats.diff_id,
			      diff_id);
		goto fail;
	}
	if (rename(tmp, snap) < 0) {
		if (errno != EEXIST && errno != ENOTEMPTY) {
			sb_error_set(err, errno, "rename %s", tmp);
			goto fail;
		}
		sb_rm_rf(AT_FDCWD, tmp, NULL); /* another build made it first */
	}
	*path = sb_steal(&snap);
	return 0;
fail:
	sb_rm_rf(AT_FDCWD, tmp, NULL);
	return -1;
}

const char **sb_exec_lowers(struct sb_exec *x, const struct sb_exec_state *st, char **empty, struct sb_error **err)
{
	const char **v = sb_xcalloc(st->nlayers + 2, sizeof(char *));

	*empty = NULL;
	for (size_t i = 0; i < st->nlayers; i++)
		v[i] = st->layers[st->nlayers - 1 - i].snapshot;
	if (st->nlayers == 0) {
		*empty = sb_exec_tmpdir(x, "empty", err);
		if (!*empty) {
			free(v);
			return NULL;
		}
		v[0] = *empty;
	}
	return v;
}

char *sb_exec_flatten(struct sb_exec *x, const struct sb_exec_state *st, struct sb_error **err)
{
	sb_autofree char *empty = NULL;
	sb_autofree const char **lowers = sb_exec_lowers(x, st, &empty, err);
	char *dir;

	if (!lowers || !(dir = sb_exec_tmpdir(x, "flat", err)))
		return NULL;
	if (sb_rootfs_flatten(lowers, dir, err) < 0) {
		sb_rm_rf(AT_FDCWD, dir, NULL);
		free(dir);
		return NULL;
	}
	return dir;
}

int sb_exec_mount_rw(struct sb_exec *x, const struct sb_exec_state *st, char **merged, char **upper, char **work,
		     struct sb_error **err)
{
	sb_autofree char *empty = NULL;
	sb_autofree const char **lowers = NULL;
	int rc;

	*merged = *upper = *work = NULL;
	if (x->copy_mode) {
		if (!(*merged = sb_exec_flatten(x, st, err)))
			return -1;
		if (!(*upper = sb_exec_flatten(x, st, err))) {
			sb_rm_rf(AT_FDCWD, *merged, NULL);
			free(*merged);
			*merged = NULL;
			return -1;
		}
		return 0;
	}
	lowers = sb_exec_lowers(x, st, &empty, err);
	if (!lowers)
		return -1;
	if (!(*merged = sb_exec_tmpdir(x, "merged", err)) || !(*upper = sb_exec_tmpdir(x, "upper", err)) ||
	    !(*work = sb_exec_tmpdir(x, "work", err)))
		goto fail;
	rc = sb_overlay_mount(lowers, *upper, *work, *merged, err);
	if (rc == 0)
		return 0;
	if (rc > 0)
		sb_error_setx(err, EOPNOTSUPP, "overlayfs is unavailable for %s", *upper);
fail:
	free(*merged);
	free(*upper);
	free(*work);
	*merged = *upper = *work = NULL;
	return -1;
}

static bool dir_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool empty = true;
	if (!d)
		return true;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			empty = false;
			break;
		}
	closedir(d);
	return empty;
}

void sb_exec_layer_release(struct sb_exec_layer *l)
{
	sb_descriptor_release(&l->desc);
	free(l->snapshot);
	memset(l, 0, sizeof(*l));
}

void sb_exec_layer_copy(struct sb_exec_layer *dst, const struct sb_exec_layer *src)
{
	sb_descriptor_copy(&dst->desc, &src->desc);
	memcpy(dst->diff_id, src->diff_id, SB_DIGEST_SIZE);
	dst->snapshot = src->snapshot ? sb_xstrdup(src->snapshot) : NULL;
}

static int null_write(void *ctx, const void *data, size_t len, struct sb_error **err)
{
	(void)ctx;
	(void)data;
	(void)len;
	(void)err;
	return 0;
}

int sb_exec_commit_upper(struct sb_exec *x, const char *upper, bool *changed, struct sb_exec_layer *out,
			 struct sb_error **err)
{
	struct sb_layer_pack_opts po;
	struct sb_layer_result lr;
	struct sb_layer_sink sink = { null_write, NULL };
	sb_autofree char *snap = NULL, *dir = NULL;

	memset(out, 0, sizeof(*out));
	*changed = !dir_empty(upper);
	if (!*changed) {
		sb_rm_rf(AT_FDCWD, upper, NULL);
		return 0;
	}
	sb_layer_pack_opts_init(&po);
	po.compression = SB_COMPRESS_NONE;
	po.overlay_upper = true;
	if (sb_layer_pack_dir_to(upper, &po, &sink, &lr, err) < 0)
		return sb_error_wrap(err, "pack layer");
	dir = sb_xasprintf("%s/snapshots", x->store->root);
	if (sb_mkdir_p(AT_FDCWD, dir, 0700, err) < 0)
		return -1;
	snap = sb_snapshot_path(x->store, lr.diff_id);
	if (rename(upper, snap) < 0) {
		if (errno != EEXIST && errno != ENOTEMPTY)
			return sb_error_set(err, errno, "rename %s to %s", upper, snap);
		sb_rm_rf(AT_FDCWD, upper, NULL);
	}
	memcpy(out->diff_id, lr.diff_id, SB_DIGEST_SIZE);
	out->snapshot = sb_steal(&snap);
	sb_cache_blob_get(x, out->diff_id, &out->desc);
	return 0;
}

int sb_exec_commit_diff(struct sb_exec *x, const char *before, const char *after, bool *changed,
			struct sb_exec_layer *out, struct sb_error **err)
{
	struct sb_layer_pack_opts po;
	struct sb_layer_result lr;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	*changed = false;
	sb_layer_pack_opts_init(&po);
	po.compression = x->o->compression;
	po.oci_media_type = true;
	if (sb_layer_pack_diff(x->store, before, after, &po, &lr, err) < 0) {
		sb_error_wrap(err, "diff layer");
		goto out;
	}
	if (lr.entries == 0) {
		rc = 0;
		goto out;
	}
	*changed = true;
	out->desc.media_type = sb_xstrdup(lr.media_type);
	memcpy(out->desc.digest, lr.digest, SB_DIGEST_SIZE);
	out->desc.size = lr.size;
	memcpy(out->diff_id, lr.diff_id, SB_DIGEST_SIZE);
	if (sb_cache_blob_put(x, lr.diff_id, &out->desc, err) < 0 ||
	    sb_snapshot_ensure(x->store, &out->desc, lr.diff_id, &out->snapshot, err) < 0) {
		sb_exec_layer_release(out);
		goto out;
	}
	rc = 0;
out:
	sb_rm_rf(AT_FDCWD, before, NULL);
	sb_rm_rf(AT_FDCWD, after, NULL);
	return rc;
}

int sb_exec_layer_blob(struct sb_exec *x, struct sb_exec_layer *l, struct sb_error **err)
{
	struct sb_layer_pack_opts po;
	struct sb_layer_result lr;

	if (l->desc.digest[0])
		return 0;
	if (sb_cache_blob_get(x, l->diff_id, &l->desc))
		return 0;
	sb_layer_pack_opts_init(&po);
	po.compression = x->o->compression;
	po.oci_media_type = true;
	po.overlay_upper = true;
	if (sb_layer_pack_dir(x->store, l->snapshot, &po, &lr, err) < 0)
		return sb_error_wrap(err, "pack layer %s", l->diff_id);
	if (strcmp(lr.diff_id, l->diff_id) != 0)
		return sb_error_setx(err, EIO, "snapshot %s changed: it packs as %s", l->snapshot, lr.diff_id);
	memset(&l->desc, 0, sizeof(l->desc));
	l->desc.media_type = sb_xstrdup(lr.media_type);
	memcpy(l->desc.digest, lr.digest, SB_DIGEST_SIZE);
	l->desc.size = lr.size;
	return sb_cache_blob_put(x, l->diff_id, &l->desc, err);
}

static int mount_view(struct sb_exec *x, const struct sb_exec_state *st, char **path, struct sb_error **err)
{
	sb_autofree char *empty = NULL, *mnt = NULL;
	sb_autofree const char **lowers = NULL;
	int rc;

	if (st->nlayers == 0) {
		*path = sb_exec_tmpdir(x, "view", err);
		return *path ? 0 : -1;
	}
	if (x->copy_mode) {
		*path = sb_exec_flatten(x, st, err);
		return *path ? 0 : -1;
	}
	lowers = sb_exec_lowers(x, st, &empty, err);
	if (!lowers || !(mnt = sb_exec_tmpdir(x, "view", err)))
		return -1;
	rc = sb_overlay_mount(lowers, NULL, NULL, mnt, err);
	if (rc > 0)
		return sb_error_setx(err, EOPNOTSUPP, "overlayfs is unavailable");
	if (rc < 0)
		return -1;
	*path = sb_steal(&mnt);
	return 0;
}

int sb_exec_stage_view(struct sb_exec *x, int stage, const char **path, struct sb_error **err)
{
	struct sb_exec_state *st = &x->states[stage];
	int rc = 0;

	pthread_mutex_lock(&x->view_lock);
	if (!st->ro_mount)
		rc = mount_view(x, st, &st->ro_mount, err);
	*path = st->ro_mount;
	pthread_mutex_unlock(&x->view_lock);
	return rc;
}

int sb_exec_image_view(struct sb_exec *x, struct sb_exec_image *img, char **path, struct sb_error **err)
{
	struct sb_exec_state tmp;

	if (sb_exec_image_prepare(x, img, err) < 0)
		return -1;
	memset(&tmp, 0, sizeof(tmp));
	tmp.layers = img->layers;
	tmp.nlayers = img->m.nlayers;
	return mount_view(x, &tmp, path, err);
}
