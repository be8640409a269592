/* Image archives: `save` writes the store's images as a tar that Docker,
 * podman, skopeo and umoci read; `load` reads such a tar back. */
#ifndef SB_ARCHIVE_H
#define SB_ARCHIVE_H

#include "runtime/store/store.h"

enum sb_archive_format {
	/* What Docker 25+ writes: an OCI image layout plus manifest.json and
	 * repositories, so both `docker load` and `podman load` take it. */
	SB_ARCHIVE_DOCKER = 0,
	/* A plain OCI image layout in a tar. */
	SB_ARCHIVE_OCI,
};

struct sb_archive_image {
	const char *name;                 /* full normalised name, or NULL */
	const struct sb_descriptor *manifest;
};

/* Write the images to path atomically (temporary file, fsync, rename):
 * a killed save leaves no partial archive under path. Entries are in a
 * fixed order with zero mtimes, so the same images give the same bytes. */
int sb_archive_save(struct sb_store *s, const struct sb_archive_image *imgs, size_t n,
		    enum sb_archive_format format, const char *path, struct sb_error **err);

/* Read an archive (OCI layout, Docker 25+ combined, or classic `docker
 * save` with manifest.json only) from fd into the store, verifying every
 * blob, and tag what it names. *names receives the loaded names (caller
 * frees with sb_strv_free). */
int sb_archive_load(struct sb_store *s, int fd, char ***names, size_t *nnames, struct sb_error **err);

#endif
