/* Manifests, indexes and configs (OCI image-spec and Docker's schema 2),
 * parsed with jansson and validated before anything trusts them. */
#include <sys/utsname.h>

#include "runtime/store/image.h"

static const char *const manifest_types[] = { SB_MT_OCI_MANIFEST, SB_MT_DOCKER_MANIFEST };
static const char *const index_types[] = { SB_MT_OCI_INDEX, SB_MT_DOCKER_LIST };

static bool one_of(const char *s, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, v[i]) == 0)
			return true;
	return false;
}

void sb_descriptor_release(struct sb_descriptor *d)
{
	free(d->media_type);
	free(d->platform.os);
	free(d->platform.architecture);
	free(d->platform.variant);
	json_decref(d->annotations);
	memset(d, 0, sizeof(*d));
}

void sb_descriptor_copy(struct sb_descriptor *dst, const struct sb_descriptor *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->media_type = src->media_type ? sb_xstrdup(src->media_type) : NULL;
	memcpy(dst->digest, src->digest, sizeof(dst->digest));
	dst->size = src->size;
	dst->has_platform = src->has_platform;
	if (src->platform.os)
		dst->platform.os = sb_xstrdup(src->platform.os);
	if (src->platform.architecture)
		dst->platform.architecture = sb_xstrdup(src->platform.architecture);
	if (src->platform.variant)
		dst->platform.variant = sb_xstrdup(src->platform.variant);
	dst->annotations = src->annotations ? json_deep_copy(src->annotations) : NULL;
}

static json_t *load_json(const char *data, size_t len, const char *what, struct sb_error **err)
{
	json_error_t je;
	json_t *j;
	if (len > SB_IMAGE_JSON_MAX) {
		sb_error_setx(err, EFBIG, "%s: larger than %u bytes", what, SB_IMAGE_JSON_MAX);
		return NULL;
	}
	j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		sb_error_setx(err, EINVAL, "%s: invalid JSON: %s (byte %d)", what, je.text, je.position);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		sb_error_setx(err, EINVAL, "%s: not a JSON object", what);
		return NULL;
	}
	return j;
}

static const char *opt_string(json_t *o, const char *key, bool *bad)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return NULL;
	if (!json_is_string(v)) {
		*bad = true;
		return NULL;
	}
	return json_string_value(v);
}

static int parse_descriptor(json_t *j, const char *what, struct sb_descriptor *d, struct sb_error **err)
{
	bool bad = false;
	const char *mt, *dg;
	json_t *size, *plat, *ann;

	memset(d, 0, sizeof(*d));
	if (!json_is_object(j))
		return sb_error_setx(err, EINVAL, "%s: descriptor is not an object", what);
	mt = opt_string(j, "mediaType", &bad);
	dg = opt_string(j, "digest", &bad);
	if (bad || !mt || !*mt)
		return sb_error_setx(err, EINVAL, "%s: descriptor without a mediaType", what);
	if (!dg || !sb_digest_valid(dg))
		return sb_error_setx(err, EINVAL, "%s: invalid digest \"%s\"", what, dg ? dg : "");
	size = json_object_get(j, "size");
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return sb_error_setx(err, EINVAL, "%s: descriptor %s has no valid size", what, dg);
	d->media_type = sb_xstrdup(mt);
	memcpy(d->digest, dg, SB_DIGEST_SIZE);
	d->size = json_integer_value(size);
	plat = json_object_get(j, "platform");
	if (plat) {
		const char *os, *arch, *var;
		if (!json_is_object(plat))
			goto bad_platform;
		os = opt_string(plat, "os", &bad);
		arch = opt_string(plat, "architecture", &bad);
		var = opt_string(plat, "variant", &bad);
		if (bad || !os || !arch)
			goto bad_platform;
		d->has_platform = true;
		d->platform.os = sb_xstrdup(os);
		d->platform.architecture = sb_xstrdup(arch);
		d->platform.variant = var && *var ? sb_xstrdup(var) : NULL;
	}
	ann = json_object_get(j, "annotations");
	if (ann) {
		if (!json_is_object(ann)) {
			sb_descriptor_release(d);
			return sb_error_setx(err, EINVAL, "%s: annotations are not an object", what);
		}
		d->annotations = json_incref(ann);
	}
	return 0;

bad_platform:
	sb_descriptor_release(d);
	return sb_error_setx(err, EINVAL, "%s: invalid platform in descriptor %s", what, dg);
}

static json_t *descriptor_json(const struct sb_descriptor *d)
{
	json_t *o = json_object();
	json_object_set_new(o, "mediaType", json_string(d->media_type));
	json_object_set_new(o, "digest", json_string(d->digest));
	json_object_set_new(o, "size", json_integer(d->size));
	if (d->has_platform) {
		json_t *p = json_object();
		json_object_set_new(p, "architecture", json_string(d->platform.architecture));
		json_object_set_new(p, "os", json_string(d->platform.os));
		if (d->platform.variant)
			json_object_set_new(p, "variant", json_string(d->platform.variant));
		json_object_set_new(o, "platform", p);
	}
	if (d->annotations && json_object_size(d->annotations))
		json_object_set(o, "annotations", d->annotations);
	return o;
}

static int dump_json(json_t *j, size_t flags, struct sb_strbuf *out, struct sb_error **err)
{
	char *s = json_dumps(j, flags);
	int rc;
	json_decref(j);
	if (!s)
		return sb_error_setx(err, EINVAL, "encode JSON");
	rc = sb_strbuf_adds(out, s);
	free(s);
	return rc;
}

const char *sb_image_sniff_media_type(const char *data, size_t len)
{
	json_t *j = load_json(data, len, "", NULL);
	const char *mt = NULL;
	json_t *v;

	if (!j)
		return NULL;
	v = json_object_get(j, "mediaType");
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		for (size_t i = 0; i < SB_ARRAY_SIZE(manifest_types); i++)
			if (!strcmp(s, manifest_types[i]))
				mt = manifest_types[i];
		for (size_t i = 0; i < SB_ARRAY_SIZE(index_types); i++)
			if (!strcmp(s, index_types[i]))
				mt = index_types[i];
	} else if (json_object_get(j, "manifests")) {
		mt = SB_MT_OCI_INDEX;
	} else if (json_object_get(j, "config") && json_object_get(j, "layers")) {
		mt = SB_MT_OCI_MANIFEST;
	}
	json_decref(j);
	return mt;
}

static int check_schema(json_t *j, const char *what, struct sb_error **err)
{
	json_t *v = json_object_get(j, "schemaVersion");
	if (!json_is_integer(v) || json_integer_value(v) != 2)
		return sb_error_setx(err, EINVAL, "%s: schemaVersion is not 2", what);
	return 0;
}

int sb_manifest_parse(const char *data, size_t len, struct sb_manifest *m, struct sb_error **err)
{
	json_t *j, *layers, *ann;
	const char *mt;
	bool bad = false;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	j = load_json(data, len, "manifest", err);
	if (!j)
		return -1;
	if (check_schema(j, "manifest", err) < 0)
		goto out;
	mt = opt_string(j, "mediaType", &bad);
	if (bad || (mt && !one_of(mt, manifest_types, SB_ARRAY_SIZE(manifest_types)))) {
		sb_error_setx(err, EINVAL, "manifest: unsupported media type \"%s\"", mt ? mt : "");
		goto out;
	}
	m->media_type = sb_xstrdup(mt ? mt : SB_MT_OCI_MANIFEST);
	if (parse_descriptor(json_object_get(j, "config"), "manifest config", &m->config, err) < 0)
		goto out;
	layers = json_object_get(j, "layers");
	if (!json_is_array(layers)) {
		sb_error_setx(err, EINVAL, "manifest: layers is not an array");
		goto out;
	}
	m->layers = sb_xcalloc(json_array_size(layers) + 1, sizeof(*m->layers));
	for (size_t i = 0; i < json_array_size(layers); i++) {
		if (parse_descriptor(json_array_get(layers, i), "manifest layer", &m->layers[i], err) < 0)
			goto out;
		m->nlayers++;
	}
	ann = json_object_get(j, "annotations");
	if (json_is_object(ann))
		m->annotations = json_incref(ann);
	rc = 0;
out:
	json_decref(j);
	if (rc < 0)
		sb_manifest_release(m);
	return rc;
}

void sb_manifest_release(struct sb_manifest *m)
{
	free(m->media_type);
	sb_descriptor_release(&m->config);
	for (size_t i = 0; i < m->nlayers; i++)
		sb_descriptor_release(&m->layers[i]);
	free(m->layers);
	json_decref(m->annotations);
	memset(m, 0, sizeof(*m));
}

int sb_manifest_to_json(const struct sb_manifest *m, struct sb_strbuf *out, struct sb_error **err)
{
	json_t *j = json_object(), *layers = json_array();
	json_object_set_new(j, "schemaVersion", json_integer(2));
	json_object_set_new(j, "mediaType", json_string(m->media_type));
	json_object_set_new(j, "config", descriptor_json(&m->config));
	for (size_t i = 0; i < m->nlayers; i++)
		json_array_append_new(layers, descriptor_json(&m->layers[i]));
	json_object_set_new(j, "layers", layers);
	if (m->annotations && json_object_size(m->annotations))
		json_object_set(j, "annotations", m->annotations);
	return dump_json(j, JSON_COMPACT | JSON_PRESERVE_ORDER, out, err);
}

const struct sb_descriptor **sb_manifest_blobs(const struct sb_manifest *m, size_t *n)
{
	const struct sb_descriptor **v = sb_xcalloc(m->nlayers + 1, sizeof(*v));
	size_t k = 0;

	v[k++] = &m->config;
	for (size_t i = 0; i < m->nlayers; i++) {
		bool dup = false;
		for (size_t j = 0; j < k && !dup; j++)
			dup = strcmp(v[j]->digest, m->layers[i].digest) == 0;
		if (!dup)
			v[k++] = &m->layers[i];
	}
	*n = k;
	return v;
}

int sb_index_parse(const char *data, size_t len, struct sb_index *idx, struct sb_error **err)
{
	json_t *j, *ms;
	const char *mt;
	bool bad = false;
	int rc = -1;

	memset(idx, 0, sizeof(*idx));
	j = load_json(data, len, "index", err);
	if (!j)
		return -1;
	if (check_schema(j, "index", err) < 0)
		goto out;
	mt = opt_string(j, "mediaType", &bad);
	if (bad || (mt && !one_of(mt, index_types, SB_ARRAY_SIZE(index_types)))) {
		sb_error_setx(err, EINVAL, "index: unsupported media type \"%s\"", mt ? mt : "");
		goto out;
	}
	idx->media_type = sb_xstrdup(mt ? mt : SB_MT_OCI_INDEX);
	ms = json_object_get(j, "manifests");
	if (!json_is_array(ms)) {
		sb_error_setx(err, EINVAL, "index: manifests is not an array");
		goto out;
	}
	idx->manifests = sb_xcalloc(json_array_size(ms) + 1, sizeof(*idx->manifests));
	for (size_t i = 0; i < json_array_size(ms); i++) {
		if (parse_descriptor(json_array_get(ms, i), "index", &idx->manifests[i], err) < 0)
			goto out;
		idx->nmanifests++;
	}
	rc = 0;
out:
	json_decref(j);
	if (rc < 0)
		sb_index_release(idx);
	return rc;
}

void sb_index_release(struct sb_index *idx)
{
	free(idx->media_type);
	for (size_t i = 0; i < idx->nmanifests; i++)
		sb_descriptor_release(&idx->manifests[i]);
	free(idx->manifests);
	memset(idx, 0, sizeof(*idx));
}

int sb_index_to_json(const struct sb_index *idx, struct sb_strbuf *out, struct sb_error **err)
{
	json_t *j = json_object(), *ms = json_array();
	json_object_set_new(j, "schemaVersion", json_integer(2));
	json_object_set_new(j, "mediaType", json_string(idx->media_type));
	for (size_t i = 0; i < idx->nmanifests; i++)
		json_array_append_new(ms, descriptor_json(&idx->manifests[i]));
	json_object_set_new(j, "manifests", ms);
	return dump_json(j, JSON_COMPACT | JSON_PRESERVE_ORDER, out, err);
}

const struct sb_descriptor *sb_index_select(const struct sb_index *idx, const struct sb_platform *want)
{
	const struct sb_descriptor *fallback = NULL;
	for (size_t i = 0; i < idx->nmanifests; i++) {
		const struct sb_descriptor *d = &idx->manifests[i];
		if (!d->has_platform || strcmp(d->platform.os, want->os) ||
		    strcmp(d->platform.architecture, want->architecture))
			continue;
		if (!want->variant)
			return d;
		if (d->platform.variant && strcmp(d->platform.variant, want->variant) == 0)
			return d;
		/* arm64 images usually leave the variant out: it means v8 */
		if (!d->platform.variant && strcmp(want->architecture, "arm64") == 0 &&
		    strcmp(want->variant, "v8") == 0)
			fallback = d;
	}
	return fallback;
}

const struct sb_platform *sb_host_platform(void)
{
	static struct sb_platform p;
	static char arch[sizeof(((struct utsname *)0)->machine)], variant[8];
	struct utsname u;

	if (p.os)
		return &p;
	p.os = "linux";
	if (uname(&u) < 0)
		snprintf(u.machine, sizeof(u.machine), "x86_64");
	if (!strcmp(u.machine, "x86_64"))
		snprintf(arch, sizeof(arch), "amd64");
	else if (!strcmp(u.machine, "aarch64") || !strcmp(u.machine, "arm64")) {
		snprintf(arch, sizeof(arch), "arm64");
		snprintf(variant, sizeof(variant), "v8");
	} else if (!strncmp(u.machine, "armv7", 5)) {
		snprintf(arch, sizeof(arch), "arm");
		snprintf(variant, sizeof(variant), "v7");
	} else if (!strncmp(u.machine, "armv6", 5)) {
		snprintf(arch, sizeof(arch), "arm");
		snprintf(variant, sizeof(variant), "v6");
	} else if (u.machine[0] == 'i' && !strcmp(u.machine + 2, "86"))
		snprintf(arch, sizeof(arch), "386");
	else
		snprintf(arch, sizeof(arch), "%s", u.machine); /* ppc64le, s390x, riscv64 */
	p.architecture = arch;
	p.variant = variant[0] ? variant : NULL;
	return &p;
}

int sb_image_config_parse(const char *data, size_t len, struct sb_image_config *c, struct sb_error **err)
{
	json_t *j, *rootfs, *ids, *v;

	c->root = NULL;
	j = load_json(data, len, "image config", err);
	if (!j)
		return -1;
	v = json_object_get(j, "architecture");
	if (v && !json_is_string(v))
		goto bad;
	v = json_object_get(j, "os");
	if (v && !json_is_string(v))
		goto bad;
	rootfs = json_object_get(j, "rootfs");
	if (!json_is_object(rootfs) || !json_is_string(json_object_get(rootfs, "type")) ||
	    strcmp(json_string_value(json_object_get(rootfs, "type")), "layers") != 0)
		goto bad;
	ids = json_object_get(rootfs, "diff_ids");
	if (!json_is_array(ids))
		goto bad;
	for (size_t i = 0; i < json_array_size(ids); i++) {
		json_t *d = json_array_get(ids, i);
		if (!json_is_string(d) || !sb_digest_valid(json_string_value(d)))
			goto bad;
	}
	c->root = j;
	return 0;
bad:
	json_decref(j);
	return sb_error_setx(err, EINVAL, "image config: missing or invalid architecture, os or rootfs.diff_ids");
}

void sb_image_config_release(struct sb_image_config *c)
{
	json_decref(c->root);
	c->root = NULL;
}

size_t sb_image_config_ndiff_ids(const struct sb_image_config *c)
{
	return json_array_size(json_object_get(json_object_get(c->root, "rootfs"), "diff_ids"));
}

const char *sb_image_config_diff_id(const struct sb_image_config *c, size_t i)
{
	return json_string_value(json_array_get(json_object_get(json_object_get(c->root, "rootfs"), "diff_ids"), i));
}

int sb_image_config_to_json(const struct sb_image_config *c, struct sb_strbuf *out, struct sb_error **err)
{
	return dump_json(json_incref(c->root), JSON_COMPACT | JSON_SORT_KEYS, out, err);
}
