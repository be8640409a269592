/* The OCI / Docker image model: descriptors, manifests, indexes and image
 * configs, parsed strictly (digests validated, sizes non-negative, media
 * types known) and serialised canonically. */
#ifndef SB_IMAGE_H
#define SB_IMAGE_H

#include <jansson.h>

#include "runtime/core/digest.h"
#include "runtime/core/strbuf.h"

#define SB_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define SB_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define SB_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define SB_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define SB_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define SB_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define SB_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define SB_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define SB_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define SB_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define SB_MT_DOCKER_LAYER_FOREIGN "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

/* Manifests, indexes and configs bigger than this are refused: real ones
 * are a few KiB. */
#define SB_IMAGE_JSON_MAX (4u * 1024 * 1024)

struct sb_platform {
	char *os;           /* "linux" */
	char *architecture; /* GOARCH names: "amd64", "arm64", ... */
	char *variant;      /* "v8", or NULL */
};

struct sb_descriptor {
	char *media_type;
	char digest[SB_DIGEST_SIZE];
	int64_t size;
	bool has_platform;
	struct sb_platform platform;
	json_t *annotations; /* object or NULL; owned */
};

struct sb_manifest {
	char *media_type; /* SB_MT_OCI_MANIFEST or SB_MT_DOCKER_MANIFEST */
	struct sb_descriptor config;
	struct sb_descriptor *layers;
	size_t nlayers;
	json_t *annotations; /* object or NULL; owned */
};

struct sb_index {
	char *media_type; /* SB_MT_OCI_INDEX or SB_MT_DOCKER_LIST */
	struct sb_descriptor *manifests;
	size_t nmanifests;
};

/* The image config. Kept as JSON so that fields we do not model survive a
 * round trip. */
struct sb_image_config {
	json_t *root;
};

void sb_descriptor_release(struct sb_descriptor *d);
/* Deep copy. */
void sb_descriptor_copy(struct sb_descriptor *dst, const struct sb_descriptor *src);

/* What a manifest or index blob is, from its mediaType field (or, when it
 * has none, its shape). Returns a SB_MT_* constant or NULL. */
const char *sb_image_sniff_media_type(const char *data, size_t len);

int sb_manifest_parse(const char *data, size_t len, struct sb_manifest *m, struct sb_error **err);
void sb_manifest_release(struct sb_manifest *m);
/* Serialise with schemaVersion 2, mediaType, config, layers[, annotations]. */
int sb_manifest_to_json(const struct sb_manifest *m, struct sb_strbuf *out, struct sb_error **err);

/* The config and layer descriptors of m, each digest once, config first.
 * Returns a new array (caller frees; the descriptors stay m's) and its
 * length in *n. */
const struct sb_descriptor **sb_manifest_blobs(const struct sb_manifest *m, size_t *n);

int sb_index_parse(const char *data, size_t len, struct sb_index *idx, struct sb_error **err);
void sb_index_release(struct sb_index *idx);
int sb_index_to_json(const struct sb_index *idx, struct sb_strbuf *out, struct sb_error **err);
/* The manifest for a platform: os and architecture equal, variant equal
 * when want has one (arm64 without variant matches v8). NULL if none. */
const struct sb_descriptor *sb_index_select(const struct sb_index *idx, const struct sb_platform *want);

/* The host's platform in GOARCH terms (linux/amd64, linux/arm64/v8, ...).
 * Static storage. */
const struct sb_platform *sb_host_platform(void);

/* Parse and validate a config: architecture, os, rootfs.type "layers",
 * rootfs.diff_ids all valid digests. */
int sb_image_config_parse(const char *data, size_t len, struct sb_image_config *c, struct sb_error **err);
void sb_image_config_release(struct sb_image_config *c);
/* rootfs.diff_ids[i], or NULL. */
const char *sb_image_config_diff_id(const struct sb_image_config *c, size_t i);
size_t sb_image_config_ndiff_ids(const struct sb_image_config *c);
/* Serialise compactly with sorted keys (stable digests). */
int sb_image_config_to_json(const struct sb_image_config *c, struct sb_strbuf *out, struct sb_error **err);

#endif

/* --- building configs --- */

struct sb_node;

/* A new config for a single-layer image made from a root filesystem
 * (import): host platform, created at `created` (RFC 3339), one history
 * entry. */
void sb_image_config_new(struct sb_image_config *c, const char *created);
/* Append a layer's diff_id and a history entry (empty_layer when diff_id is
 * NULL). */
void sb_image_config_add_layer(struct sb_image_config *c, const char *diff_id, const char *created,
			       const char *created_by, const char *comment);
/* Apply one metadata instruction of a parsed Dockerfile line to the
 * config's "config" object, as `docker import --change` and `docker commit
 * --change` do: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR,
 * STOPSIGNAL, ONBUILD. Values are taken literally (no variable expansion).
 * Other instructions are an error naming them. */
int sb_image_config_apply(struct sb_image_config *c, const struct sb_node *instr, struct sb_error **err);
/* An RFC 3339 UTC timestamp for t ("2024-01-02T03:04:05Z"). */
void sb_rfc3339(int64_t t, char out[32]);
/* SOURCE_DATE_EPOCH when set and valid, else now. */
int64_t sb_build_time(void);
