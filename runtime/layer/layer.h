/* Image layers: tar packing and unpacking with libarchive, whiteouts,
 * gzip and zstd. A layer never writes outside the rootfs it is unpacked
 * into: names whose ".." climb above the root (absolute ones included),
 * writes through symlinks leading out of the rootfs and hard links to
 * outside are refused with an error naming the entry. */
#ifndef SB_LAYER_H
#define SB_LAYER_H

#include "runtime/core/progress.h"
#include "runtime/store/store.h"

enum sb_compression {
	SB_COMPRESS_GZIP = 0, /* default: every peer reads it */
	SB_COMPRESS_ZSTD,
	SB_COMPRESS_NONE,
};

/* Parse "gzip", "zstd", "none"/"uncompressed"; -1 if unknown. */
int sb_compression_parse(const char *s);
/* The layer media type for a compression (OCI or Docker flavour). */
const char *sb_layer_media_type(enum sb_compression c, bool oci);
/* From a layer media type; -1 for a type that is not a layer. */
int sb_layer_media_compression(const char *media_type);

struct sb_layer_pack_opts {
	enum sb_compression compression;
	int level;                 /* 0: the compressor's default (gzip 4, zstd 3) */
	/* gzip: compress on this many threads (0: one per CPU this process
	 * may use). The blob's bytes do not depend on it. zstd ignores it. */
	int threads;
	int64_t source_date_epoch; /* >= 0: clamp every mtime to it; -1: keep */
	bool oci_media_type;       /* media type flavour of the result */
	bool overlay_upper;        /* pack_dir: the tree is an overlayfs upper dir */
};
/* gzip, default level, no clamping, OCI media types, a plain tree. */
void sb_layer_pack_opts_init(struct sb_layer_pack_opts *o);

struct sb_layer_result {
	char digest[SB_DIGEST_SIZE];  /* of the blob (compressed) */
	char diff_id[SB_DIGEST_SIZE]; /* of the uncompressed tar */
	int64_t size;                 /* blob size */
	const char *media_type;       /* static string */
	uint64_t entries;
	uint64_t tar_size;            /* bytes of the uncompressed tar */
	uint64_t skipped;             /* sockets left out (pack_dir only) */
};

/* Where a layer's compressed bytes go when they are not stored: write()
 * receives the blob in order, chunk by chunk, and returns 0 or -1 with
 * *err set. */
struct sb_layer_sink {
	int (*write)(void *ctx, const void *data, size_t len, struct sb_error **err);
	void *ctx;
};

/* The order of a packed layer's entries: by path bytes, except that "/"
 * sorts before any other byte, so each directory's contents follow it
 * directly (Go's filepath.Walk order, as Docker and BuildKit write).
 * strcmp-like result. */
int sb_layer_path_cmp(const char *a, const char *b);

/* Pack the tree at dir into a layer blob in the store. Entries come in
 * sb_layer_path_cmp() order, named relative to dir ("etc/passwd",
 * directories with a trailing "/"); the root itself is not an entry. Hard
 * links are kept as links (by st_dev/st_ino, to the first path); every
 * xattr is kept (security.capability, security.selinux, ACLs, trusted.*);
 * owners are numeric, without names; mtimes are whole seconds, clamped to
 * source_date_epoch when set, and there is no atime or ctime; device nodes
 * and fifos are kept, sockets skipped (counted in out->skipped). PAX
 * format: ustar headers, extended records only where ustar cannot hold a
 * value (long names, large ids or sizes, xattrs as SCHILY.xattr.*), as Go's
 * archive/tar writes for Docker and BuildKit. Reproducible: the same tree
 * and options give the same digest. Holds the store lock shared while it
 * writes; a caller that tags the result should hold it across both. */
int sb_layer_pack_dir(struct sb_store *store, const char *dir, const struct sb_layer_pack_opts *opts,
		      struct sb_layer_result *out, struct sb_error **err);

/* With opts->overlay_upper, dir is an overlayfs upper directory (after
 * umount, or of a mount no longer written to) and is packed as the OCI
 * layer it stands for: a character device 0:0 NAME (an overlay whiteout)
 * becomes ".wh.NAME" in NAME's place; a directory whose
 * trusted.overlay.opaque is "y" is followed directly by "DIR/.wh..wh..opq",
 * before its contents; no trusted.overlay.* xattr is written (origin,
 * impure, nlink: overlayfs's own). Both markers are empty regular files,
 * mode 0, owner 0:0, mtime 0, as containerd and BuildKit write whiteouts.
 * An entry with trusted.overlay.redirect or trusted.overlay.metacopy
 * (redirect_dir=on, metacopy=on: part of it stays in the lower layers)
 * fails with EOPNOTSUPP. Reproducible as above. */

/* The layer of what changed from the tree lower to the tree upper (full
 * root filesystems before and after a step, where overlayfs could not be
 * used). Written: entries of upper that lower lacks, with everything
 * below them; entries that changed (type, mode, owner, device, size
 * except for directories, mtime to the nanosecond, symlink target,
 * xattrs; file contents are not compared: equal size and mtime mean
 * equal); every directory above a written entry, changed or not, as
 * moby's changes.go does; ".wh.NAME" for a name of lower missing from
 * upper, one for a whole directory, in NAME's place in the walk (markers
 * as above). A directory replaced by another type is written as the new
 * entry alone. Hard links among written entries stay links. Order, format
 * and reproducibility as sb_layer_pack_dir; trusted.overlay.* xattrs are
 * neither compared nor written and opts->overlay_upper is ignored. */
int sb_layer_pack_diff(struct sb_store *store, const char *lower, const char *upper,
		       const struct sb_layer_pack_opts *opts, struct sb_layer_result *out, struct sb_error **err);

/* Store an existing tar stream (docker import, docker load) as a layer,
 * compressed as opts says. The first header block must be a tar header;
 * the stream is otherwise stored as given. out->entries is 0. */
int sb_layer_from_tar(struct sb_store *store, int tar_fd, const struct sb_layer_pack_opts *opts,
		      struct sb_layer_result *out, struct sb_error **err);

/* The same two, writing the blob to a sink instead of the store (docker
 * save streams, benchmarks). out->digest and out->size describe what the
 * sink received. A gzip- or zstd-compressed tar_fd is decompressed first:
 * the tar inside is what gets stored, byte for byte. */
int sb_layer_pack_dir_to(const char *dir, const struct sb_layer_pack_opts *opts, const struct sb_layer_sink *sink,
			 struct sb_layer_result *out, struct sb_error **err);
int sb_layer_from_tar_to(int tar_fd, const struct sb_layer_pack_opts *opts, const struct sb_layer_sink *sink,
			 struct sb_layer_result *out, struct sb_error **err);
int sb_layer_pack_diff_to(const char *lower, const char *upper, const struct sb_layer_pack_opts *opts,
			  const struct sb_layer_sink *sink, struct sb_layer_result *out, struct sb_error **err);

struct sb_layer_unpack_opts {
	uint64_t max_bytes;   /* refuse a layer expanding past this; 0: 64 GiB */
	bool allow_devices;   /* create device nodes (default when root) */
	bool same_owner;      /* chown entries to their numeric owner (root) */
	bool apply_whiteouts; /* .wh.NAME deletes, .wh..wh..opq empties (default true) */
	bool overlay_whiteouts; /* keep them as overlayfs does (default false; see below) */
	/* ADD of a local archive: bzip2 and xz are read too (by libarchive),
	 * besides gzip, zstd and plain tar. */
	bool more_compressions;
	/* ADD --chown: every entry gets this owner instead of its own
	 * (only with same_owner). */
	bool force_owner;
	uid_t uid;
	gid_t gid;
};
void sb_layer_unpack_opts_init(struct sb_layer_unpack_opts *o);

struct sb_layer_unpack_stats {
	uint64_t entries, bytes, whiteouts; /* bytes: of the uncompressed tar */
	uint64_t xattrs_skipped;            /* refused by the filesystem (ENOTSUP, EPERM) or trusted.overlay.* */
	char diff_id[SB_DIGEST_SIZE];       /* sha256 of the uncompressed tar, read to its end */
};

/* Unpack a layer blob (compression detected from its magic bytes: gzip,
 * zstd, else a plain tar) into the directory rootfs, which must exist.
 * stats may be NULL.
 *
 * Paths: a leading "/" or "./" is stripped and ".." is resolved lexically,
 * as Docker does; a name that climbs above the root is refused. Parents are
 * resolved one component at a time without following a symlink that is
 * absolute or climbs above the root (such a path is refused, naming the
 * entry); relative symlinks that stay inside are followed, and missing
 * parents are created 0755. The last component is never followed.
 *
 * Layers (OCI image-spec layer.md): an existing path is replaced unless
 * both are directories (then the entry's attributes replace the old ones);
 * ".wh.NAME" removes NAME and ".wh..wh..opq" empties its directory, both
 * only of what lower layers put there, wherever the marker sits in the
 * tar. AUFS metadata (".wh..wh.*") is skipped.
 *
 * With overlay_whiteouts (which wins over apply_whiteouts), rootfs is an
 * empty snapshot directory to be used as an overlayfs lower layer:
 * ".wh.NAME" makes NAME a character device 0:0 (overlayfs's whiteout)
 * unless this layer has its own NAME, and ".wh..wh..opq" sets
 * trusted.overlay.opaque=y on its directory; this layer's own directory
 * at a whited-out name is made opaque too, since the whiteout applies
 * first. Nothing is deleted. Names are checked as for any entry. Needs
 * the privilege to mknod and to set trusted.* xattrs.
 *
 * Refused, naming the entry: escapes as above, hard links whose target is
 * outside or missing, device nodes unless allow_devices, regular files or a
 * stream passing max_bytes, a corrupt or truncated stream. On failure the
 * rootfs holds whatever was unpacked before the bad entry. */
int sb_layer_unpack(int blob_fd, const char *rootfs, const struct sb_layer_unpack_opts *opts,
		    struct sb_layer_unpack_stats *stats, struct sb_error **err);

/* The same into an open directory (ADD extracts into a directory
 * resolved inside the destination rootfs); rootfd stays the caller's. */
int sb_layer_unpack_at(int blob_fd, int rootfd, const struct sb_layer_unpack_opts *opts,
		       struct sb_layer_unpack_stats *stats, struct sb_error **err);

/* Whether fd (read from its current offset, then rewound to 0) holds a
 * tar archive, plain or compressed with gzip, bzip2, xz or zstd: the
 * first header must read, as BuildKit's isArchivePath asks of Go's
 * archive/tar. An empty archive is not one. */
bool sb_layer_is_archive(int fd);

/* Unpack every layer of an image from the store, bottom up. */
int sb_layer_unpack_image(struct sb_store *store, const struct sb_manifest *m, const char *rootfs,
			  const struct sb_layer_unpack_opts *opts, const struct sb_progress *progress,
			  struct sb_error **err);

#endif
