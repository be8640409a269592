/* slimbuild inspect NAME|ID...: the manifest and config as JSON. */
#include <jansson.h>

#include "frontend/cli.h"
#include "frontend/store_cli.h"

static json_t *blob_json(struct sb_store *s, const char *digest, struct sb_error **err)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	json_t *j = NULL;
	if (sb_store_read_blob(s, digest, SB_IMAGE_JSON_MAX, &sb, err) == 0)
		j = json_loadb(sb.buf, sb.len, 0, NULL);
	sb_strbuf_release(&sb);
	if (!j && err && !*err)
		sb_error_setx(err, EINVAL, "blob %s is not JSON", digest);
	return j;
}

int sb_cmd_inspect(int argc, char **argv)
{
	struct sb_store s;
	struct sb_store_images imgs;
	struct sb_error *err = NULL;
	json_t *out = json_array();
	int rc = SB_EXIT_OK;
	char *text;

	if (argc < 2)
		return sb_cli_usage_error("inspect", "give at least one image");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return sb_cli_help("inspect");
		if (argv[i][0] == '-')
			return sb_cli_usage_error("inspect", "unknown option '%s'", argv[i]);
	}
	if (sb_cli_open_store(&s) < 0)
		return SB_EXIT_FAIL;
	if (sb_store_list(&s, &imgs, &err) < 0) {
		sb_store_release(&s);
		return sb_cli_fail(err);
	}
	for (int i = 1; i < argc; i++) {
		struct sb_descriptor d;
		struct sb_manifest m;
		json_t *o, *tags, *man, *cfg;

		if (sb_store_resolve(&s, argv[i], &d, &err) < 0 || sb_store_load_image(&s, &d, &m, NULL, &err) < 0) {
			fprintf(stderr, "%s\n", err->msg);
			sb_error_free(err);
			err = NULL;
			rc = SB_EXIT_FAIL;
			continue;
		}
		man = blob_json(&s, d.digest, &err);
		cfg = man ? blob_json(&s, m.config.digest, &err) : NULL;
		if (!cfg) {
			json_decref(man);
			fprintf(stderr, "%s\n", err->msg);
			sb_error_free(err);
			err = NULL;
			rc = SB_EXIT_FAIL;
		} else {
			o = json_object();
			tags = json_array();
			for (size_t k = 0; k < imgs.n; k++)
				if (imgs.v[k].name && strcmp(imgs.v[k].manifest.digest, d.digest) == 0)
					json_array_append_new(tags, json_string(imgs.v[k].name));
			json_object_set_new(o, "Id", json_string(m.config.digest));
			json_object_set_new(o, "RepoTags", tags);
			json_object_set_new(o, "ManifestDigest", json_string(d.digest));
			json_object_set_new(o, "ManifestMediaType", json_string(d.media_type));
			json_object_set_new(o, "Manifest", man);
			json_object_set_new(o, "Config", cfg);
			json_array_append_new(out, o);
		}
		sb_manifest_release(&m);
		sb_descriptor_release(&d);
	}
	text = json_dumps(out, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
	printf("%s\n", text);
	free(text);
	json_decref(out);
	sb_store_images_release(&imgs);
	sb_store_release(&s);
	return rc;
}
