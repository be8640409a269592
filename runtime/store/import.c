#include "parser/parser.h"
#include "runtime/layer/layer.h"
#include "runtime/store/import.h"

/* Apply --change lines: each is parsed as a one-line Dockerfile so that
 * it means exactly what the same line in a Dockerfile means. */
static int apply_changes(struct sb_image_config *c, const struct sb_import_opts *o, struct sb_error **err)
{
	for (size_t i = 0; i < o->nchanges; i++) {
		struct sb_dockerfile *df = sb_dockerfile_parse("--change", o->changes[i], strlen(o->changes[i]), err);
		int rc = 0;
		if (!df)
			return -1;
		for (size_t k = 0; k < df->root->nchildren && rc == 0; k++)
			rc = sb_image_config_apply(c, df->root->children[k], err);
		sb_dockerfile_free(df);
		if (rc < 0)
			return sb_error_wrap(err, "--change '%s'", o->changes[i]);
	}
	return 0;
}

int sb_image_import(struct sb_store *s, int tar_fd, const char *name, const struct sb_import_opts *opts,
		    struct sb_descriptor *manifest, struct sb_error **err)
{
	struct sb_layer_pack_opts po;
	struct sb_layer_result lr;
	struct sb_image_config cfg = { NULL };
	struct sb_manifest m;
	struct sb_strbuf sb = SB_STRBUF_INIT;
	struct sb_descriptor md;
	char created[32];
	int rc = -1;

	memset(&m, 0, sizeof(m));
	memset(&md, 0, sizeof(md));
	sb_rfc3339(sb_build_time(), created);
	sb_image_config_new(&cfg, created);
	if (apply_changes(&cfg, opts, err) < 0)
		goto out;

	sb_layer_pack_opts_init(&po);
	po.compression = (enum sb_compression)opts->compression;
	po.oci_media_type = true;
	if (sb_store_lock(s, false, err) < 0)
		goto out;
	if (sb_layer_from_tar(s, tar_fd, &po, &lr, err) < 0) {
		sb_store_unlock(s);
		goto out;
	}
	sb_image_config_add_layer(&cfg, lr.diff_id, created, "slimbuild import", opts->message);

	m.media_type = sb_xstrdup(SB_MT_OCI_MANIFEST);
	m.config.media_type = sb_xstrdup(SB_MT_OCI_CONFIG);
	m.layers = sb_xcalloc(1, sizeof(*m.layers));
	m.nlayers = 1;
	m.layers[0].media_type = sb_xstrdup(lr.media_type);
	memcpy(m.layers[0].digest, lr.digest, SB_DIGEST_SIZE);
	m.layers[0].size = lr.size;
	rc = sb_image_config_to_json(&cfg, &sb, err);
	if (rc == 0)
		rc = sb_store_put_blob(s, sb.buf, sb.len, NULL, m.config.digest, err);
	m.config.size = (int64_t)sb.len;
	sb_strbuf_reset(&sb);
	if (rc == 0)
		rc = sb_manifest_to_json(&m, &sb, err);
	if (rc == 0)
		rc = sb_store_put_blob(s, sb.buf, sb.len, NULL, md.digest, err);
	md.media_type = sb_xstrdup(SB_MT_OCI_MANIFEST);
	md.size = (int64_t)sb.len;
	if (rc == 0)
		rc = sb_store_tag(s, name, &md, err);
	sb_store_unlock(s);
	if (rc == 0 && manifest) {
		*manifest = md;
		memset(&md, 0, sizeof(md));
	}
out:
	sb_descriptor_release(&md);
	sb_manifest_release(&m);
	sb_image_config_release(&cfg);
	sb_strbuf_release(&sb);
	return rc;
}
