/* The local image store: a content-addressed blob store under
 * $SLIMBUILD_ROOT that is itself an OCI image layout, so skopeo, umoci and
 * podman can read it directly (oci:$ROOT:docker.io/library/debian:latest).
 *
 *   ROOT/oci-layout              {"imageLayoutVersion": "1.0.0"}
 *   ROOT/index.json              tags: manifests annotated with
 *                                org.opencontainers.image.ref.name = full name
 *   ROOT/blobs/sha256/<hex>      content, verified before it becomes visible
 *   ROOT/ingest/                 blobs being written (never visible as blobs)
 *   ROOT/lock, ROOT/index.lock   flock(2) files
 *
 * Crash safety: a blob appears only by rename(2) after fsync and digest
 * verification; index.json is replaced atomically and only after every
 * blob it names exists. A process killed at any point leaves at most
 * files in ingest/, which the next sb_store_prune() (or an open that finds
 * them older than an hour) removes.
 *
 * Concurrency: operations that add blobs hold ROOT/lock shared; prune holds
 * it exclusive (so it never deletes a blob a running pull has written but
 * not tagged yet); every index.json read-modify-write holds ROOT/index.lock
 * exclusive. Two slimbuild processes may share a store.
 */
#ifndef SB_STORE_H
#define SB_STORE_H

#include <sys/types.h>

#include "runtime/core/digest.h"
#include "runtime/store/image.h"
#include "runtime/store/reference.h"

struct sb_store {
	char *root;
	int dirfd;   /* ROOT */
	int lockfd;  /* ROOT/lock */
	int lock_depth;
	bool lock_exclusive;
};

/* $SLIMBUILD_ROOT, else /var/lib/slimbuild for root, else
 * $XDG_DATA_HOME/slimbuild (~/.local/share/slimbuild). Caller frees. */
char *sb_store_default_root(void);

/* Open (creating if needed) the store at root (NULL: the default). */
int sb_store_open(struct sb_store *s, const char *root, struct sb_error **err);
void sb_store_release(struct sb_store *s);

/* ROOT/lock: shared for operations that add blobs, exclusive for prune.
 * Re-entrant within one process (a nested lock of the same kind counts). */
int sb_store_lock(struct sb_store *s, bool exclusive, struct sb_error **err);
void sb_store_unlock(struct sb_store *s);

/* --- blobs --- */

bool sb_store_has_blob(struct sb_store *s, const char *digest);
/* Size of a blob, or -1 with *err (ENOENT when missing). */
int64_t sb_store_blob_size(struct sb_store *s, const char *digest, struct sb_error **err);
/* "blobs/sha256/<hex>" relative to the root. Caller frees. */
char *sb_store_blob_relpath(const char *digest);
/* Open a blob for reading (O_RDONLY|O_CLOEXEC), or -1 with *err. */
int sb_store_open_blob(struct sb_store *s, const char *digest, struct sb_error **err);
/* Read a whole blob, refusing one bigger than max (0: no bound). */
int sb_store_read_blob(struct sb_store *s, const char *digest, size_t max, struct sb_strbuf *out,
		       struct sb_error **err);
/* Store data; when expect is non-NULL the data must have that digest.
 * out (may be NULL) receives the digest. */
int sb_store_put_blob(struct sb_store *s, const void *data, size_t len, const char *expect,
		      char out[SB_DIGEST_SIZE], struct sb_error **err);

/* Streaming ingest: write, then commit (verify, fsync, rename) or abort. */
struct sb_blob_writer {
	struct sb_store *store;
	int fd;
	char *tmp;              /* ingest/<name> */
	struct sb_sha256 hash;
	uint64_t size;
	char expect[SB_DIGEST_SIZE]; /* "" when not known */
	int64_t expect_size;         /* -1 when not known */
	uint64_t max_size;           /* 0: unbounded; a write past it fails (EFBIG) */
};
int sb_blob_writer_open(struct sb_store *s, const char *expect, int64_t expect_size,
			struct sb_blob_writer *w, struct sb_error **err);
int sb_blob_writer_write(struct sb_blob_writer *w, const void *data, size_t len, struct sb_error **err);
/* Verify (digest and size when expected: a mismatch is an error naming
 * both digests, and nothing is stored), fsync, rename into blobs/. out
 * (may be NULL) receives the digest. The writer is released either way. */
int sb_blob_writer_commit(struct sb_blob_writer *w, char out[SB_DIGEST_SIZE], struct sb_error **err);
void sb_blob_writer_abort(struct sb_blob_writer *w);

/* --- tags (index.json) --- */

struct sb_store_image {
	char *name;               /* full normalised name, or NULL if untagged */
	struct sb_descriptor manifest;
};

struct sb_store_images {
	struct sb_store_image *v;
	size_t n;
};

/* Point name (a full normalised reference string, e.g. from
 * sb_reference_string()) at a manifest whose blob is in the store. An
 * existing tag of that name moves. */
int sb_store_tag(struct sb_store *s, const char *name, const struct sb_descriptor *manifest,
		 struct sb_error **err);
/* Look a tag up; returns 0 and fills *out, or -1 with *err (ENOENT: "no
 * such image: NAME"). */
int sb_store_lookup(struct sb_store *s, const char *name, struct sb_descriptor *out, struct sb_error **err);
/* Resolve what a user typed: a reference (normalised), a full or short
 * image ID (config digest, with or without "sha256:", at least 12 hex
 * characters, unambiguous) or a manifest digest. */
int sb_store_resolve(struct sb_store *s, const char *what, struct sb_descriptor *manifest,
		     struct sb_error **err);
/* Remove a tag. */
int sb_store_untag(struct sb_store *s, const char *name, struct sb_error **err);
int sb_store_list(struct sb_store *s, struct sb_store_images *out, struct sb_error **err);
void sb_store_images_release(struct sb_store_images *imgs);

/* Read and parse an image's manifest and config. */
int sb_store_load_image(struct sb_store *s, const struct sb_descriptor *manifest, struct sb_manifest *m,
			struct sb_image_config *config, struct sb_error **err);

struct sb_prune_stats {
	uint64_t blobs_removed, bytes_removed, ingest_removed;
};
/* Remove every blob no tag reaches (manifest, its config and layers, and
 * the manifests of a tagged index) and every ingest file. */
int sb_store_prune(struct sb_store *s, struct sb_prune_stats *stats, struct sb_error **err);
/* The build cache as well (docker builder prune): the step cache, the
 * unpacked layer snapshots, RUN --mount=type=cache directories and
 * leftovers of killed builds, under the exclusive lock (running builds
 * hold it shared). Then the blobs, as sb_store_prune. */
int sb_store_prune_build_cache(struct sb_store *s, struct sb_prune_stats *stats, struct sb_error **err);

#endif
