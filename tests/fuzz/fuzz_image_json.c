/* libFuzzer target: manifest, index and image config parsing (and their
 * serialisation round trip) on hostile JSON. */
#include "runtime/store/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct sb_error *err = NULL;
	struct sb_manifest m;
	struct sb_index idx;
	struct sb_image_config c;
	struct sb_strbuf out = SB_STRBUF_INIT;

	(void)sb_image_sniff_media_type(s, size);
	if (sb_manifest_parse(s, size, &m, &err) == 0) {
		struct sb_manifest again;
		if (sb_manifest_to_json(&m, &out, NULL) < 0 ||
		    sb_manifest_parse(out.buf, out.len, &again, NULL) < 0 || again.nlayers != m.nlayers)
			abort(); /* what we write we must read back */
		sb_manifest_release(&again);
		sb_manifest_release(&m);
	} else {
		sb_error_free(err);
		err = NULL;
	}
	sb_strbuf_reset(&out);
	if (sb_index_parse(s, size, &idx, &err) == 0) {
		(void)sb_index_select(&idx, sb_host_platform());
		if (sb_index_to_json(&idx, &out, NULL) < 0)
			abort();
		sb_index_release(&idx);
	} else {
		sb_error_free(err);
		err = NULL;
	}
	sb_strbuf_reset(&out);
	if (sb_image_config_parse(s, size, &c, &err) == 0) {
		for (size_t i = 0; i < sb_image_config_ndiff_ids(&c); i++)
			if (!sb_digest_valid(sb_image_config_diff_id(&c, i)))
				abort();
		if (sb_image_config_to_json(&c, &out, NULL) < 0)
			abort();
		sb_image_config_release(&c);
	} else {
		sb_error_free(err);
	}
	sb_strbuf_release(&out);
	return 0;
}
