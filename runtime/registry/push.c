/* Push: every blob of an image is HEADed on the destination first; a
 * missing one is mounted from another repository of the same registry
 * when the store knows one that has it, else uploaded (monolithic PUT, or
 * chunked PATCHes for big blobs); the manifest goes last, byte for byte as
 * stored so its digest does not change. */
#include <unistd.h>

#include "runtime/registry/internal.h"

/* How many tagged images of the store are read to find mount sources. */
#define MOUNT_SCAN_MAX 64

struct push {
	struct sb_store *store;
	struct sb_reg_client *client;
	const char *repo;   /* destination path */
	const char *scope;  /* "repository:<repo>:pull,push" */
	const struct sb_descriptor **blobs;
	char **from;        /* per blob: a repository of the same registry that has it, or NULL */
	size_t nblobs;
};

/* ---- mount sources ---- */

static bool manifest_has_blob(const struct sb_manifest *m, const char *digest)
{
	if (strcmp(m->config.digest, digest) == 0)
		return true;
	for (size_t i = 0; i < m->nlayers; i++)
		if (strcmp(m->layers[i].digest, digest) == 0)
			return true;
	return false;
}

/* A tag in the store names where an image came from (a pull tags it with
 * its source) or went: a repository of the destination registry that has
 * its blobs. Best effort: a store that cannot be listed gives no sources,
 * and a wrong guess only costs the registry starting a normal upload. */
static void find_mount_sources(struct push *p, const struct sb_reference *dest)
{
	struct sb_store_images imgs = { 0 };
	struct sb_error *e = NULL;
	size_t scanned = 0, missing = p->nblobs;

	if (sb_store_list(p->store, &imgs, &e) < 0) {
		sb_error_free(e);
		return;
	}
	for (size_t i = 0; i < imgs.n && missing && scanned < MOUNT_SCAN_MAX; i++) {
		struct sb_reference r = { 0 };
		struct sb_strbuf raw = SB_STRBUF_INIT;
		struct sb_manifest m = { 0 };

		if (!imgs.v[i].name || !imgs.v[i].manifest.media_type ||
		    (strcmp(imgs.v[i].manifest.media_type, SB_MT_OCI_MANIFEST) != 0 &&
		     strcmp(imgs.v[i].manifest.media_type, SB_MT_DOCKER_MANIFEST) != 0))
			continue;
		if (sb_reference_parse(imgs.v[i].name, &r, &e) < 0) {
			sb_error_freep(&e);
			continue;
		}
		if (strcmp(r.domain, dest->domain) == 0 && strcmp(r.path, dest->path) != 0) {
			scanned++;
			if (sb_store_read_blob(p->store, imgs.v[i].manifest.digest, SB_IMAGE_JSON_MAX, &raw, &e) == 0 &&
			    sb_manifest_parse(raw.buf, raw.len, &m, &e) == 0) {
				for (size_t b = 0; b < p->nblobs; b++) {
					if (!p->from[b] && manifest_has_blob(&m, p->blobs[b]->digest)) {
						p->from[b] = sb_xstrdup(r.path);
						missing--;
					}
				}
				sb_manifest_release(&m);
			}
			sb_error_freep(&e);
			sb_strbuf_release(&raw);
		}
		sb_reference_release(&r);
	}
	sb_store_images_release(&imgs);
}

/* ---- blobs ---- */

static bool transient_status(long st)
{
	/* 404 here is an upload session the registry forgot (restarted,
	 * expired): a fresh one may work */
	return st >= 500 || st == 429 || st == 404;
}

/* One request of an upload: no retry of its own (the whole upload is
 * retried from a new session). Sets *transient when retrying may help. */
static int upload_step(struct push *p, CURL *curl, struct sb_reg_request *req, struct sb_reg_response *resp,
		       long want, bool *transient, struct sb_error **err)
{
	req->no_retry = true;
	req->scope = p->scope;
	if (sb_reg_do(p->client, curl, req, resp, err) < 0) {
		*transient = !(err && *err && (*err)->code == ECANCELED) && resp->curl_code != CURLE_OK &&
			     resp->curl_code != CURLE_ABORTED_BY_CALLBACK;
		return -1;
	}
	if (resp->status != want) {
		sb_autofree char *what = sb_xasprintf("%s: upload %s", req->what, req->method);
		*transient = transient_status(resp->status);
		return sb_reg_status_error(p->client, what, resp, err);
	}
	return 0;
}

/* Upload a blob into the session at location. */
static int upload(struct push *p, CURL *curl, const struct sb_descriptor *d, const char *what, const char *id,
		  const char *location, bool *transient, struct sb_error **err)
{
	struct sb_reg_client *c = p->client;
	char *loc = sb_xstrdup(location);
	char *put_url = NULL;
	int fd;
	struct sb_reg_response resp;
	struct sb_reg_request req = { 0 };
	uint64_t size = (uint64_t)d->size, off = 0;
	int rc = -1;

	sb_reg_response_init(&resp);
	fd = sb_store_open_blob(p->store, d->digest, err);
	if (fd < 0)
		goto out;
	if (size > SB_REG_CHUNK_SIZE) {
		/* chunked upload: PATCH each chunk, each answer naming where
		 * the next goes */
		while (off < size) {
			uint64_t n = size - off < SB_REG_CHUNK_SIZE ? size - off : SB_REG_CHUNK_SIZE;
			char range[64];
			snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
				 (unsigned long long)(off + n - 1));
			memset(&req, 0, sizeof(req));
			req.method = "PATCH";
			req.url = loc;
			req.what = what;
			req.progress_id = id;
			req.content_type = "application/octet-stream";
			req.content_range = range;
			req.fd = fd;
			req.offset = off;
			req.len = n;
			if (upload_step(p, curl, &req, &resp, 202, transient, err) < 0)
				goto out;
			if (!resp.location) {
				sb_error_setx(err, EPROTO, "%s: %s: chunk accepted without a Location", c->image, what);
				goto out;
			}
			free(loc);
			loc = sb_xstrdup(resp.location);
			off += n;
			sb_progress_emit(c->progress, SB_PROGRESS_BYTES, id, what, off, size, NULL);
		}
	}
	put_url = sb_reg_url_add_query(loc, "digest", d->digest);
	memset(&req, 0, sizeof(req));
	req.method = "PUT";
	req.url = put_url;
	req.what = what;
	req.progress_id = id;
	req.content_type = "application/octet-stream";
	req.fd = off < size ? fd : -1;
	req.offset = off;
	req.len = size - off;
	if (upload_step(p, curl, &req, &resp, 201, transient, err) < 0)
		goto out;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	sb_reg_response_release(&resp);
	free(loc);
	free(put_url);
	return rc;
}

/* HEAD: 1 when the registry has the blob, 0 when not. */
static int blob_exists(struct push *p, CURL *curl, const struct sb_descriptor *d, const char *what, const char *id,
		       struct sb_error **err)
{
	sb_autofree char *url = sb_xasprintf("/v2/%s/blobs/%s", p->repo, d->digest);
	struct sb_reg_request req = { 0 };
	struct sb_reg_response resp;
	int rc;

	req.method = "HEAD";
	req.url = url;
	req.scope = p->scope;
	req.what = what;
	req.progress_id = id;
	req.fd = -1;
	req.follow = true;
	sb_reg_response_init(&resp);
	rc = sb_reg_do(p->client, curl, &req, &resp, err);
	if (rc == 0) {
		if (resp.status == 200)
			rc = 1;
		else if (resp.status != 404)
			rc = sb_reg_status_error(p->client, what, &resp, err);
	}
	sb_reg_response_release(&resp);
	return rc;
}

/* POST a new upload session, trying a mount from `from` first. Returns 1
 * when the mount made the blob exist, 0 with *location set to a session. */
static int start_upload(struct push *p, CURL *curl, const struct sb_descriptor *d, const char *from,
			const char *what, const char *id, char **location, bool *transient, struct sb_error **err)
{
	char *base = sb_xasprintf("/v2/%s/blobs/uploads/", p->repo);
	char *u1 = NULL, *url = NULL, *scope = NULL;
	struct sb_reg_request req = { 0 };
	struct sb_reg_response resp;
	int rc = -1;

	sb_reg_response_init(&resp);
	req.method = "POST";
	req.what = what;
	req.progress_id = id;
	req.fd = -1;
	if (from) {
		struct sb_error *e = NULL;

		u1 = sb_reg_url_add_query(base, "mount", d->digest);
		url = sb_reg_url_add_query(u1, "from", from);
		scope = sb_xasprintf("%s repository:%s:pull", p->scope, from);
		req.url = url;
		req.scope = scope;
		if (sb_reg_do(p->client, curl, &req, &resp, &e) == 0) {
			if (resp.status == 201) {
				rc = 1;
				goto out;
			}
			if (resp.status == 202 && resp.location) {
				/* the registry could not mount and opened an
				 * upload instead */
				*location = sb_xstrdup(resp.location);
				rc = 0;
				goto out;
			}
		}
		/* a refused mount (no access to from, say) is not an error:
		 * upload as if there were no source */
		sb_error_free(e);
	}
	req.url = base;
	req.scope = p->scope;
	if (upload_step(p, curl, &req, &resp, 202, transient, err) < 0)
		goto out;
	if (!resp.location) {
		sb_error_setx(err, EPROTO, "%s: %s: upload started without a Location", p->client->image, what);
		goto out;
	}
	*location = sb_xstrdup(resp.location);
	rc = 0;
out:
	sb_reg_response_release(&resp);
	free(base);
	free(u1);
	free(url);
	free(scope);
	return rc;
}

/* HEAD, then mount or upload, restarting a failed upload from a new
 * session. */
static int push_one(struct push *p, CURL *curl, const struct sb_descriptor *d, const char *from, const char *what,
		    const char *id, struct sb_error **err)
{
	struct sb_reg_client *c = p->client;
	int r;

	r = blob_exists(p, curl, d, what, id, err);
	if (r < 0)
		return -1;
	if (r == 1) {
		sb_progress_emit(c->progress, SB_PROGRESS_CACHED, id, what, 0, (uint64_t)d->size, "Layer already exists");
		return 0;
	}
	for (unsigned attempt = 0;; attempt++) {
		sb_autofree char *location = NULL;
		sb_autofree char *msg = NULL;
		struct sb_error *e = NULL;
		bool transient = false;
		long delay;

		r = start_upload(p, curl, d, from, what, id, &location, &transient, &e);
		if (r == 1) {
			msg = sb_xasprintf("Mounted from %s", from);
			sb_progress_emit(c->progress, SB_PROGRESS_DONE, id, what, (uint64_t)d->size, (uint64_t)d->size,
					 msg);
			return 0;
		}
		if (r == 0 && upload(p, curl, d, what, id, location, &transient, &e) == 0) {
			sb_progress_emit(c->progress, SB_PROGRESS_DONE, id, what, (uint64_t)d->size, (uint64_t)d->size,
					 "Pushed");
			return 0;
		}
		if (!transient || (int)attempt >= c->max_retries) {
			if (err && !*err)
				*err = e;
			else
				sb_error_free(e);
			return -1;
		}
		delay = sb_reg_backoff_ms(attempt, c->retry_base_ms, NULL, time(NULL), 0.5);
		msg = sb_xasprintf("%s; retry %u of %d in %ld ms", e ? e->msg : "upload failed", attempt + 1,
				   c->max_retries, delay);
		sb_error_free(e);
		e = NULL;
		/* the upload may have landed before the answer was lost */
		if (blob_exists(p, curl, d, what, id, &e) == 1) {
			sb_progress_emit(c->progress, SB_PROGRESS_DONE, id, what, (uint64_t)d->size, (uint64_t)d->size,
					 "Pushed");
			return 0;
		}
		sb_error_free(e);
		sb_progress_emit(c->progress, SB_PROGRESS_RETRY, id, what, attempt + 1, (uint64_t)c->max_retries, msg);
		from = NULL; /* a mount that opened a failed session is not tried again */
		if (!sb_reg_sleep(c, delay))
			return sb_error_setx(err, ECANCELED, "%s: cancelled", c->image);
	}
}

static int push_blob(void *ctx, size_t i, CURL *curl, struct sb_error **err)
{
	struct push *p = ctx;
	const struct sb_descriptor *d = p->blobs[i];
	sb_autofree char *what = sb_xasprintf("blob %s", d->digest);
	char id[13];

	sb_reg_short_id(d->digest, id);
	sb_progress_emit(p->client->progress, SB_PROGRESS_START, id, what, 0, (uint64_t)d->size, NULL);
	if (push_one(p, curl, d, p->from[i], what, id, err) < 0) {
		sb_progress_emit(p->client->progress, SB_PROGRESS_ERROR, id, what, 0, (uint64_t)d->size,
				 err && *err ? (*err)->msg : NULL);
		return -1;
	}
	return 0;
}

/* ---- manifest ---- */

static int put_manifest(struct push *p, CURL *curl, const struct sb_reference *dest, const char *media_type,
			const struct sb_strbuf *raw, const char *digest, struct sb_error **err)
{
	struct sb_reg_client *c = p->client;
	char *url = sb_xasprintf("/v2/%s/manifests/%s", p->repo, dest->tag ? dest->tag : dest->digest);
	struct sb_reg_request req = { 0 };
	struct sb_reg_response resp;
	int rc = -1;

	req.method = "PUT";
	req.url = url;
	req.scope = p->scope;
	req.what = "manifest";
	req.content_type = media_type;
	req.fd = -1;
	req.mem = raw->buf;
	req.len = raw->len;
	sb_reg_response_init(&resp);
	if (sb_reg_do(c, curl, &req, &resp, err) < 0)
		goto out;
	if (resp.status != 201 && resp.status != 200) {
		sb_reg_status_error(c, "manifest", &resp, err);
		goto out;
	}
	if (resp.docker_content_digest && sb_digest_valid(resp.docker_content_digest) &&
	    strcmp(resp.docker_content_digest, digest) != 0) {
		sb_error_setx(err, EBADMSG, "%s: the registry stored the manifest as %s, not %s", c->image,
			      resp.docker_content_digest, digest);
		goto out;
	}
	rc = 0;
out:
	sb_reg_response_release(&resp);
	free(url);
	return rc;
}

static int push_locked(struct sb_store *store, const struct sb_descriptor *manifest, const struct sb_reference *dest,
		       const struct sb_registry_opts *opts, struct sb_reg_client *c, struct sb_error **err)
{
	char *scope = NULL;
	CURL *curl = NULL;
	struct sb_strbuf raw = SB_STRBUF_INIT;
	struct sb_manifest m = { 0 };
	const struct sb_descriptor **blobs = NULL;
	char **from = NULL;
	const char *mt;
	char digest[SB_DIGEST_SIZE];
	struct push p = { 0 };
	size_t nblobs = 0;
	int rc = -1;

	if (dest->digest && !dest->tag && strcmp(dest->digest, manifest->digest) != 0) {
		sb_error_setx(err, EINVAL, "%s: the image is %s, not %s", c->image, manifest->digest, dest->digest);
		goto out;
	}
	if (sb_store_read_blob(store, manifest->digest, SB_IMAGE_JSON_MAX, &raw, err) < 0) {
		sb_error_wrap(err, "%s", c->image);
		goto out;
	}
	sb_sha256_digest(raw.buf, raw.len, digest);
	mt = sb_image_sniff_media_type(raw.buf, raw.len);
	if (!mt)
		mt = manifest->media_type;
	if (!mt || (strcmp(mt, SB_MT_OCI_MANIFEST) != 0 && strcmp(mt, SB_MT_DOCKER_MANIFEST) != 0)) {
		sb_error_setx(err, ENOTSUP, "%s: %s is a %s: only image manifests can be pushed", c->image,
			      manifest->digest, mt ? mt : "blob of unknown type");
		goto out;
	}
	if (sb_manifest_parse(raw.buf, raw.len, &m, err) < 0) {
		sb_error_wrap(err, "%s: manifest %s", c->image, manifest->digest);
		goto out;
	}

	blobs = sb_manifest_blobs(&m, &nblobs);
	from = sb_xcalloc(nblobs, sizeof(*from));
	for (size_t i = 0; i < nblobs; i++) {
		if (!sb_store_has_blob(store, blobs[i]->digest)) {
			sb_error_setx(err, ENOENT, "%s: blob %s of the image is missing from the store", c->image,
				      blobs[i]->digest);
			goto out;
		}
	}
	p.store = store;
	p.client = c;
	p.repo = dest->path;
	p.blobs = blobs;
	p.from = from;
	p.nblobs = nblobs;
	find_mount_sources(&p, dest);
	scope = sb_xasprintf("repository:%s:pull,push", dest->path);
	p.scope = scope;

	curl = sb_reg_curl_new();
	if (sb_reg_ping(c, curl, err) < 0)
		goto out;
	if (sb_reg_parallel(c, nblobs, opts ? opts->max_parallel : 0, push_blob, &p, err) < 0)
		goto out;
	rc = put_manifest(&p, curl, dest, mt, &raw, digest, err);
out:
	for (size_t i = 0; from && i < nblobs; i++)
		free(from[i]);
	free(from);
	free(blobs);
	sb_manifest_release(&m);
	sb_strbuf_release(&raw);
	free(scope);
	if (curl)
		curl_easy_cleanup(curl);
	return rc;
}

int sb_registry_push(struct sb_store *store, const struct sb_descriptor *manifest, const struct sb_reference *dest,
		     const struct sb_registry_opts *opts, struct sb_error **err)
{
	sb_autofree char *familiar = sb_reference_familiar(dest);
	sb_autofree char *image = sb_xasprintf("push %s", familiar);
	struct sb_reg_client c;
	int rc;

	if (sb_reg_client_init(&c, dest->domain, sb_reference_registry_host(dest), image, opts, err) < 0) {
		sb_reg_client_release(&c);
		return -1;
	}
	c.loopback = sb_reference_is_insecure(dest);
	/* shared: a prune must not remove the image's blobs mid-push */
	rc = sb_store_lock(store, false, err);
	if (rc == 0) {
		rc = push_locked(store, manifest, dest, opts, &c, err);
		sb_store_unlock(store);
	}
	sb_reg_client_release(&c);
	return rc;
}
