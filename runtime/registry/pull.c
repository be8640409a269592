/* Pull: resolve a reference to a manifest (through an index to the
 * platform's), fetch config and layers in parallel straight into the
 * store's blob writers, each verified against its digest and size, then
 * store the manifest and tag it. */
#include "runtime/registry/internal.h"

static const char accept_manifests[] = SB_MT_OCI_MANIFEST ", " SB_MT_OCI_INDEX ", " SB_MT_DOCKER_MANIFEST
				       ", " SB_MT_DOCKER_LIST;

static void curl_cleanupp(CURL **c)
{
	if (*c)
		curl_easy_cleanup(*c);
}
#define sb_autocurl __attribute__((cleanup(curl_cleanupp)))

static bool is_index_type(const char *mt)
{
	return strcmp(mt, SB_MT_OCI_INDEX) == 0 || strcmp(mt, SB_MT_DOCKER_LIST) == 0;
}

static bool is_manifest_type(const char *mt)
{
	return strcmp(mt, SB_MT_OCI_MANIFEST) == 0 || strcmp(mt, SB_MT_DOCKER_MANIFEST) == 0;
}

/* The media type of a fetched manifest: its own mediaType field (or shape)
 * first, then the Content-Type header. */
static const char *manifest_media_type(const struct sb_reg_response *resp)
{
	const char *mt = sb_image_sniff_media_type(resp->body.buf, resp->body.len);
	static const char *const known[] = { SB_MT_OCI_MANIFEST, SB_MT_OCI_INDEX, SB_MT_DOCKER_MANIFEST,
					     SB_MT_DOCKER_LIST };

	if (mt)
		return mt;
	if (!resp->content_type)
		return NULL;
	for (size_t i = 0; i < SB_ARRAY_SIZE(known); i++) {
		size_t n = strlen(known[i]);
		if (strncmp(resp->content_type, known[i], n) == 0 &&
		    (resp->content_type[n] == '\0' || resp->content_type[n] == ';'))
			return known[i];
	}
	return NULL;
}

/* GET a manifest by tag or digest. It is verified against expect (a digest,
 * when pulling by digest or following an index) and expect_size (>= 0),
 * and against the registry's Docker-Content-Digest when sent. */
static int fetch_manifest(struct sb_reg_client *c, CURL *curl, const char *repo, const char *scope,
			  const char *tag_or_digest, const char *expect, int64_t expect_size,
			  struct sb_reg_response *resp, const char **media_type, char digest[SB_DIGEST_SIZE],
			  struct sb_error **err)
{
	sb_autofree char *url = sb_xasprintf("/v2/%s/manifests/%s", repo, tag_or_digest);
	sb_autofree char *what = expect ? sb_xasprintf("manifest %s", expect) : NULL;
	struct sb_reg_request req = { 0 };

	req.method = "GET";
	req.url = url;
	req.scope = scope;
	req.accept = accept_manifests;
	req.what = what ? what : "manifest";
	req.fd = -1;
	req.max_body = SB_IMAGE_JSON_MAX;
	if (sb_reg_do(c, curl, &req, resp, err) < 0)
		return -1;
	if (resp->status != 200)
		return sb_reg_status_error(c, what, resp, err);
	sb_sha256_digest(resp->body.buf, resp->body.len, digest);
	if (expect && strcmp(expect, digest) != 0)
		return sb_error_setx(err, EBADMSG, "%s: manifest digest mismatch: expected %s, got %s", c->image,
				     expect, digest);
	if (expect_size >= 0 && (uint64_t)expect_size != resp->body.len)
		return sb_error_setx(err, EBADMSG, "%s: manifest %s: size %zu, the index says %lld", c->image,
				     digest, resp->body.len, (long long)expect_size);
	/* Only a sha256 Docker-Content-Digest can be checked; the store
	 * holds sha256 only, so a manifest we could not verify stays out. */
	if (resp->docker_content_digest && sb_digest_valid(resp->docker_content_digest) &&
	    strcmp(resp->docker_content_digest, digest) != 0)
		return sb_error_setx(err, EBADMSG,
				     "%s: manifest digest mismatch: the registry says %s, the content is %s", c->image,
				     resp->docker_content_digest, digest);
	*media_type = manifest_media_type(resp);
	if (!*media_type) {
		if (resp->content_type && strstr(resp->content_type, "manifest.v1+"))
			return sb_error_setx(err, ENOTSUP,
					     "%s: Docker schema 1 manifests are not supported; push the image again "
					     "with a current client",
					     c->image);
		return sb_error_setx(err, ENOTSUP, "%s: unsupported manifest media type %s", c->image,
				     resp->content_type ? resp->content_type : "(none)");
	}
	return 0;
}

static char *platform_string(const struct sb_platform *p)
{
	return sb_xasprintf("%s/%s%s%s", p->os ? p->os : "?", p->architecture ? p->architecture : "?",
			    p->variant ? "/" : "", p->variant ? p->variant : "");
}

/* ---- blobs ---- */

struct pull {
	struct sb_store *store;
	struct sb_reg_client *client;
	const char *repo;
	const char *scope;
	const struct sb_descriptor **blobs;
	size_t nblobs;
};

struct blob_dl {
	struct pull *p;
	const struct sb_descriptor *d;
	struct sb_reg_response *resp;
	struct sb_blob_writer w;
	bool open;
	bool first_write;
	uint64_t got;
	uint64_t last_emit;
	char id[13];
};

static int dl_open(struct blob_dl *dl, struct sb_error **err)
{
	if (sb_blob_writer_open(dl->p->store, dl->d->digest, dl->d->size, &dl->w, err) < 0)
		return -1;
	/* a registry that sends more than the descriptor says is cut off at
	 * once, not when the disk fills */
	dl->w.max_size = (uint64_t)dl->d->size;
	dl->open = true;
	dl->got = 0;
	dl->last_emit = 0;
	return 0;
}

static void dl_close(struct blob_dl *dl)
{
	if (dl->open)
		sb_blob_writer_abort(&dl->w);
	dl->open = false;
}

static int dl_before_attempt(void *ctx, uint64_t *range_from, struct sb_error **err)
{
	struct blob_dl *dl = ctx;

	dl->first_write = true;
	/* After a broken transfer, ask for the rest; a server that answers
	 * 200 instead of 206 sends it all again and the writer restarts. */
	if (dl->open && dl->got > 0 && dl->got < (uint64_t)dl->d->size) {
		*range_from = dl->got;
		return 0;
	}
	if (dl->open && dl->got == 0)
		return 0;
	dl_close(dl);
	return dl_open(dl, err);
}

static int dl_sink(void *ctx, const void *data, size_t len, struct sb_error **err)
{
	struct blob_dl *dl = ctx;
	struct sb_reg_client *c = dl->p->client;
	uint64_t total = (uint64_t)dl->d->size, step;

	if (dl->first_write) {
		dl->first_write = false;
		if (dl->resp->range_from && dl->resp->status == 206) {
			char expect[48];
			int n = snprintf(expect, sizeof(expect), "bytes %llu-", (unsigned long long)dl->resp->range_from);
			if (!dl->resp->content_range || strncmp(dl->resp->content_range, expect, (size_t)n) != 0)
				return sb_error_setx(err, EPROTO, "%s: blob %s: asked for %s..., got Content-Range %s",
						     c->image, dl->d->digest, expect,
						     dl->resp->content_range ? dl->resp->content_range : "(none)");
		} else if (dl->got > 0) {
			dl_close(dl);
			if (dl_open(dl, err) < 0)
				return -1;
		}
	}
	if (sb_blob_writer_write(&dl->w, data, len, err) < 0)
		return sb_error_wrap(err, "%s: blob %s", c->image, dl->d->digest);
	dl->got += len;
	/* about every 1% (and at least 1 MiB apart): enough for a display */
	step = total / 100 > (1u << 20) ? total / 100 : (1u << 20);
	if (dl->got - dl->last_emit >= step || dl->got == total) {
		dl->last_emit = dl->got;
		sb_progress_emit(c->progress, SB_PROGRESS_BYTES, dl->id, dl->d->digest, dl->got, total, NULL);
	}
	return 0;
}

static int pull_blob(void *ctx, size_t i, CURL *curl, struct sb_error **err)
{
	struct pull *p = ctx;
	struct sb_reg_client *c = p->client;
	const struct sb_descriptor *d = p->blobs[i];
	char *url = NULL, *what = sb_xasprintf("blob %s", d->digest);
	struct sb_reg_request req = { 0 };
	struct sb_reg_response resp;
	struct blob_dl dl = { 0 };
	int rc = -1;

	sb_reg_short_id(d->digest, dl.id);
	sb_reg_response_init(&resp);
	if (sb_store_has_blob(p->store, d->digest)) {
		sb_progress_emit(c->progress, SB_PROGRESS_CACHED, dl.id, what, 0, (uint64_t)d->size, "Already exists");
		rc = 0;
		goto out;
	}
	sb_progress_emit(c->progress, SB_PROGRESS_START, dl.id, what, 0, (uint64_t)d->size, NULL);
	url = sb_xasprintf("/v2/%s/blobs/%s", p->repo, d->digest);
	dl.p = p;
	dl.d = d;
	dl.resp = &resp;

	req.method = "GET";
	req.url = url;
	req.scope = p->scope;
	req.what = what;
	req.progress_id = dl.id;
	req.fd = -1;
	req.follow = true; /* blob storage may redirect to a CDN */
	req.sink = dl_sink;
	req.before_attempt = dl_before_attempt;
	req.sink_ctx = &dl;
	if (sb_reg_do(c, curl, &req, &resp, err) < 0)
		goto out;
	if (resp.status != 200 && resp.status != 206) {
		sb_reg_status_error(c, what, &resp, err);
		goto out;
	}
	if (!dl.open && dl_open(&dl, err) < 0) /* never opened: cannot happen, but be sure */
		goto out;
	dl.open = false;
	/* the writer checks size and digest; on a mismatch nothing is
	 * stored */
	if (sb_blob_writer_commit(&dl.w, NULL, err) < 0) {
		sb_error_wrap(err, "%s", c->image);
		goto out;
	}
	rc = 0;
	sb_progress_emit(c->progress, SB_PROGRESS_DONE, dl.id, what, (uint64_t)d->size, (uint64_t)d->size, NULL);
out:
	dl_close(&dl);
	sb_reg_response_release(&resp);
	if (rc < 0)
		sb_progress_emit(c->progress, SB_PROGRESS_ERROR, dl.id, what, dl.got, (uint64_t)d->size,
				 err && *err ? (*err)->msg : NULL);
	free(url);
	free(what);
	return rc;
}

static int verify_config(struct sb_store *store, struct sb_reg_client *c, const struct sb_descriptor *d,
			 struct sb_error **err)
{
	struct sb_strbuf data = SB_STRBUF_INIT;
	struct sb_image_config config = { 0 };
	int rc;

	rc = sb_store_read_blob(store, d->digest, SB_IMAGE_JSON_MAX, &data, err);
	if (rc == 0)
		rc = sb_image_config_parse(data.buf, data.len, &config, err);
	if (rc == 0)
		sb_image_config_release(&config);
	sb_strbuf_release(&data);
	if (rc < 0)
		return sb_error_wrap(err, "%s: config %s", c->image, d->digest);
	return 0;
}

static int pull_locked(struct sb_store *store, const struct sb_reference *ref, const struct sb_registry_opts *opts,
		       struct sb_reg_client *c, CURL *curl, struct sb_descriptor *out, struct sb_error **err)
{
	char *scope = sb_xasprintf("repository:%s:pull", ref->path);
	char *name = sb_reference_string(ref);
	const struct sb_platform *want = opts && opts->platform ? opts->platform : sb_host_platform();
	struct sb_reg_response top, child;
	struct sb_index idx = { 0 };
	struct sb_manifest m = { 0 };
	struct sb_descriptor desc = { 0 };
	struct sb_reg_response *mresp = &top;
	const struct sb_descriptor **blobs = NULL;
	const char *mt = NULL;
	char digest[SB_DIGEST_SIZE];
	struct pull p = { 0 };
	size_t nblobs = 0;
	int rc = -1;

	sb_reg_response_init(&top);
	sb_reg_response_init(&child);
	if (fetch_manifest(c, curl, ref->path, scope, ref->digest ? ref->digest : ref->tag, ref->digest, -1, &top,
			   &mt, digest, err) < 0)
		goto out;
	if (is_index_type(mt)) {
		const struct sb_descriptor *sel;
		if (sb_index_parse(top.body.buf, top.body.len, &idx, err) < 0) {
			sb_error_wrap(err, "%s: index %s", c->image, digest);
			goto out;
		}
		sel = sb_index_select(&idx, want);
		if (!sel) {
			struct sb_strbuf have = SB_STRBUF_INIT;
			char *w = platform_string(want);
			for (size_t i = 0; i < idx.nmanifests; i++) {
				char *s;
				if (!idx.manifests[i].has_platform)
					continue;
				s = platform_string(&idx.manifests[i].platform);
				sb_strbuf_addf(&have, "%s%s", have.len ? ", " : "", s);
				free(s);
			}
			sb_error_setx(err, ENOENT, "%s: no manifest for %s in the index (it has: %s)", c->image, w,
				      have.len ? have.buf : "none with a platform");
			sb_strbuf_release(&have);
			free(w);
			goto out;
		}
		if (fetch_manifest(c, curl, ref->path, scope, sel->digest, sel->digest, sel->size, &child, &mt, digest,
				   err) < 0)
			goto out;
		if (!is_manifest_type(mt)) {
			sb_error_setx(err, ENOTSUP, "%s: index entry %s is a %s, not an image manifest", c->image,
				      sel->digest, mt);
			goto out;
		}
		mresp = &child;
	}
	if (sb_manifest_parse(mresp->body.buf, mresp->body.len, &m, err) < 0) {
		sb_error_wrap(err, "%s: manifest %s", c->image, digest);
		goto out;
	}

	/* config and layers, each once */
	blobs = sb_manifest_blobs(&m, &nblobs);
	p.store = store;
	p.client = c;
	p.repo = ref->path;
	p.scope = scope;
	p.blobs = blobs;
	p.nblobs = nblobs;
	if (sb_reg_parallel(c, nblobs, opts ? opts->max_parallel : 0, pull_blob, &p, err) < 0)
		goto out;
	if (verify_config(store, c, &m.config, err) < 0)
		goto out;

	if (sb_store_put_blob(store, mresp->body.buf, mresp->body.len, digest, NULL, err) < 0) {
		sb_error_wrap(err, "%s: store manifest", c->image);
		goto out;
	}
	desc.media_type = sb_xstrdup(m.media_type);
	memcpy(desc.digest, digest, sizeof(desc.digest));
	desc.size = (int64_t)mresp->body.len;
	if (sb_store_tag(store, name, &desc, err) < 0) {
		sb_error_wrap(err, "%s: tag", c->image);
		goto out;
	}
	if (out) {
		*out = desc;
		memset(&desc, 0, sizeof(desc));
	}
	rc = 0;
out:
	free(blobs);
	sb_descriptor_release(&desc);
	sb_manifest_release(&m);
	sb_index_release(&idx);
	sb_reg_response_release(&top);
	sb_reg_response_release(&child);
	free(scope);
	free(name);
	return rc;
}

int sb_registry_pull(struct sb_store *store, const struct sb_reference *ref, const struct sb_registry_opts *opts,
		     struct sb_descriptor *manifest, struct sb_error **err)
{
	sb_autofree char *familiar = sb_reference_familiar(ref);
	sb_autofree char *image = sb_xasprintf("pull %s", familiar);
	sb_autocurl CURL *curl = NULL;
	struct sb_reg_client c;
	int rc;

	if (sb_reg_client_init(&c, ref->domain, sb_reference_registry_host(ref), image, opts, err) < 0) {
		sb_reg_client_release(&c);
		return -1;
	}
	c.loopback = sb_reference_is_insecure(ref);
	curl = sb_reg_curl_new();
	rc = sb_reg_ping(&c, curl, err);
	if (rc == 0) {
		/* held shared from the first blob to the tag: a concurrent
		 * prune must not take blobs no tag reaches yet */
		rc = sb_store_lock(store, false, err);
		if (rc == 0) {
			rc = pull_locked(store, ref, opts, &c, curl, manifest, err);
			sb_store_unlock(store);
		}
	}
	sb_reg_client_release(&c);
	return rc;
}
