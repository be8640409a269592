/* `import`: a root filesystem tar as a one-layer image, as docker import. */
#ifndef SB_IMPORT_H
#define SB_IMPORT_H

#include "runtime/store/store.h"

struct sb_import_opts {
	const char *const *changes; /* Dockerfile metadata lines ("CMD [...]") */
	size_t nchanges;
	const char *message;        /* history comment, or NULL */
	int compression;            /* enum sb_compression */
};

/* Store the tar read from tar_fd (plain, gzip or zstd) as a layer, make a
 * config for the host platform with the changes applied, store the
 * manifest and tag it name (full normalised reference). *manifest (may be
 * NULL) receives its descriptor. */
int sb_image_import(struct sb_store *s, int tar_fd, const char *name, const struct sb_import_opts *opts,
		    struct sb_descriptor *manifest, struct sb_error **err);

#endif
