/* Internals of runtime/layer shared between its files: streaming
 * compression, decompression with a bound, the rootfs path resolver and a
 * set of paths. Not part of the library's API. */
#ifndef SB_LAYER_INTERNAL_H
#define SB_LAYER_INTERNAL_H

#include <pthread.h>
#include <sys/types.h>
#include <zlib.h>
#include <zstd.h>

#include "runtime/core/digest.h"
#include "runtime/core/strbuf.h"
#include "runtime/layer/layer.h"

/* 64 GiB: what max_bytes == 0 means. */
#define SB_LAYER_DEFAULT_MAX (64ull << 30)

/* --- compress.c --- */

/* gzip is written in blocks, pigz's format: the uncompressed stream is
 * cut every SB_GZIP_BLOCK bytes; each block is raw deflate primed with the
 * 32 KiB before it as a preset dictionary and ends with a sync flush (the
 * last one with the final bit), so the blocks, compressed independently
 * and put back in order, make one deflate stream in one gzip member. The
 * bytes depend on the input and the level only, not on the number of
 * threads or on how the input was split into writes. */
#define SB_GZIP_BLOCK (128u * 1024)
#define SB_GZIP_DICT (32u * 1024)
#define SB_GZIP_HEADER 10
#define SB_GZIP_TRAILER 8

/* A compressed block; data is reused across blocks. */
struct sb_gzip_block {
	unsigned char *data;
	size_t len, cap;
	uint32_t crc;  /* of the uncompressed block */
	size_t in_len; /* its uncompressed size */
};

/* One thread's raw deflate state, reused across blocks. */
struct sb_deflater {
	z_stream z;
	bool live;
};

/* Copy what fits of *data (*len bytes) to buf, which holds *have of cap
 * bytes, advancing all three; true when buf is then full. */
static inline bool sb_fill_block(unsigned char *buf, size_t *have, size_t cap, const unsigned char **data, size_t *len)
{
	size_t n = cap - *have < *len ? cap - *have : *len;
	memcpy(buf + *have, *data, n);
	*have += n;
	*data += n;
	*len -= n;
	return *have == cap;
}

/* The level (1-9, 0 for the default, 4: see compress.c) or -1 with *err. */
int sb_gzip_level(int level, struct sb_error **err);
int sb_deflater_init(struct sb_deflater *d, int level, struct sb_error **err);
/* Compress in[0..len) (len <= SB_GZIP_BLOCK) with the dictionary
 * dict[0..dict_len) (dict_len <= SB_GZIP_DICT, 0 for the first block)
 * into out, grown as needed; out->crc is the block's CRC-32. */
int sb_deflater_block(struct sb_deflater *d, const unsigned char *dict, size_t dict_len, const unsigned char *in,
		      size_t len, bool last, struct sb_gzip_block *out, struct sb_error **err);
void sb_deflater_release(struct sb_deflater *d);
/* The member's header (mtime 0, no name) and trailer. */
void sb_gzip_header(unsigned char h[SB_GZIP_HEADER], int level);
void sb_gzip_trailer(unsigned char t[SB_GZIP_TRAILER], uint32_t crc, uint64_t isize);

/* A streaming compressor writing its output to a sink, on the calling
 * thread; its gzip is the block format above, byte for byte what the
 * pipeline writes. */
struct sb_compressor {
	enum sb_compression kind;
	int level;
	struct sb_deflater gz;
	unsigned char *gz_buf; /* SB_GZIP_DICT of dictionary, then the block */
	size_t gz_dict_len, gz_len;
	struct sb_gzip_block gz_out;
	uint32_t crc;
	uint64_t isize;
	ZSTD_CCtx *zc;
	unsigned char *out;
	size_t out_size;
	const struct sb_layer_sink *sink;
	uint64_t written; /* bytes handed to the sink */
};

int sb_compressor_init(struct sb_compressor *c, enum sb_compression kind, int level,
		       const struct sb_layer_sink *sink, struct sb_error **err);
int sb_compressor_write(struct sb_compressor *c, const void *data, size_t len, struct sb_error **err);
/* Flush the end of the stream to the sink. */
int sb_compressor_finish(struct sb_compressor *c, struct sb_error **err);
void sb_compressor_release(struct sb_compressor *c);

/* Reads a layer from fd, detecting gzip (1f 8b), zstd (28 b5 2f fd) or a
 * plain stream from the first bytes, and hands out the uncompressed bytes,
 * hashing them and refusing to pass max. Concatenated gzip members and zstd
 * frames are one stream, as gzip(1) and zstd(1) read them. */
struct sb_decompressor {
	int fd;
	enum sb_compression kind;
	z_stream z;
	bool z_live;
	ZSTD_DCtx *zd;
	unsigned char *in;
	size_t in_size, in_pos, in_len;
	bool in_eof;
	bool member_end;   /* gzip: between members; zstd: between frames */
	bool done;
	uint64_t in_total; /* compressed bytes consumed */
	uint64_t total;    /* uncompressed bytes handed out */
	uint64_t max;
	struct sb_sha256 hash;
};

/* Reads the magic bytes from fd. max 0 means SB_LAYER_DEFAULT_MAX. */
int sb_decompressor_open(struct sb_decompressor *d, int fd, uint64_t max, struct sb_error **err);
/* Up to len uncompressed bytes into buf; 0 at the end of the stream. A
 * truncated or corrupt stream and one passing max are errors (EFBIG for
 * the latter). */
ssize_t sb_decompressor_read(struct sb_decompressor *d, void *buf, size_t len, struct sb_error **err);
/* The sha256 of everything read so far; releases the hash. */
void sb_decompressor_digest(struct sb_decompressor *d, char out[SB_DIGEST_SIZE]);
void sb_decompressor_release(struct sb_decompressor *d);

const char *sb_compression_name(enum sb_compression c);

/* --- pipeline.c --- */

/* Tar bytes in; hashed (diff_id) on the caller's thread, then cut into
 * slots handed to worker threads, so that reading files and compressing
 * overlap as in `tar -c | gzip`. gzip: one SB_GZIP_BLOCK block per slot,
 * compressed by opts->threads workers in parallel and written to the sink
 * in order by whichever worker finishes the next one. zstd and none: one
 * worker streams the slots through an sb_compressor. At most nslots
 * blocks are in memory. Write from one thread only. */
struct sb_pipe_slot {
	unsigned char *buf; /* SB_GZIP_DICT of room for the dictionary, then the data */
	size_t dict_len, len;
	bool last; /* gzip: the final block */
	bool done; /* compressed, waiting for its turn to be written */
	struct sb_gzip_block out;
};

struct sb_pipe_worker {
	struct sb_pipeline *p;
	struct sb_deflater gz;
	pthread_t thread;
	bool running;
};

struct sb_pipeline {
	struct sb_sha256 tar_hash;
	uint64_t tar_bytes;
	struct sb_compressor comp; /* zstd, none */
	struct sb_layer_sink to_sink; /* the compressor writes here */
	const struct sb_layer_sink *sink;
	bool hash_blob;
	struct sb_sha256 blob_hash;
	uint64_t blob_bytes;
	enum sb_compression compression;
	bool oci;
	bool blocks; /* gzip in parallel blocks */
	int level;
	uint32_t crc; /* gzip: of the blocks written so far */

	/* the hand-off between the producer and the workers */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool sync_live;
	struct sb_pipe_slot *slots;
	size_t nslots, slot_size;
	struct sb_pipe_worker *workers;
	size_t nworkers;
	uint64_t produced, taken, written; /* slots handed over, started, written */
	bool writing; /* a worker is writing done slots to the sink */
	bool closing, stop;
	struct sb_error *worker_err;
};

/* The number of threads opts->threads asks for: itself when positive,
 * else the CPUs this process may run on. */
int sb_pipeline_threads(const struct sb_layer_pack_opts *opts);

int sb_pipeline_init(struct sb_pipeline *p, const struct sb_layer_pack_opts *opts, const struct sb_layer_sink *sink,
		     bool hash_blob, struct sb_error **err);
int sb_pipeline_write(struct sb_pipeline *p, const void *data, size_t len, struct sb_error **err);
/* Drain, finish the compressed stream and fill out's digests, sizes and
 * media type (out->digest only with hash_blob). */
int sb_pipeline_finish(struct sb_pipeline *p, struct sb_layer_result *out, struct sb_error **err);
/* Stop the workers (discarding what is queued) and free everything. */
void sb_pipeline_release(struct sb_pipeline *p);

/* --- pack.c --- */

/* The pack and from_tar pipelines writing to sink; with hash_blob the
 * blob digest is computed here, else the caller's sink does it (the
 * store's blob writer). pack_sink packs dir whole when lower is NULL, else
 * its difference from lower (sb_layer_pack_diff). */
int sb_layer_pack_sink(const char *lower, const char *dir, const struct sb_layer_pack_opts *opts,
		       const struct sb_layer_sink *sink, bool hash_blob, struct sb_layer_result *out,
		       struct sb_error **err);
int sb_layer_from_tar_sink(int tar_fd, const struct sb_layer_pack_opts *opts, const struct sb_layer_sink *sink,
			   bool hash_blob, struct sb_layer_result *out, struct sb_error **err);

/* --- resolve.c --- */

/* Clean a tar entry name as Docker does: strip leading "/" and "./", drop
 * "." components and empty ones, resolve ".." lexically. Returns 0 with the
 * clean relative path in out ("" for the root itself), or -1 when ".."
 * climbs above the root. */
int sb_path_clean(const char *name, struct sb_strbuf *out);

/* Resolves paths inside one rootfs (see layer.h for the rules) and keeps
 * the last parent directory open, because a tar's entries mostly share
 * their parent. */
struct sb_resolver {
	int rootfd;
	char *cache_key;  /* clean logical parent of the cached entry */
	int cache_fd;     /* O_PATH descriptor of that parent */
	char *cache_phys; /* its physical path from the root ("" for the root) */
	uint64_t created; /* parent directories created */
};

void sb_resolver_init(struct sb_resolver *r, int rootfd);
void sb_resolver_release(struct sb_resolver *r);
/* Forget the cached parent: call after anything in the rootfs was removed
 * or replaced. */
void sb_resolver_invalidate(struct sb_resolver *r);

/* Resolve the parent directory of the clean path `clean` (which must not
 * be ""). On success *dirfd is an O_PATH descriptor of the parent, owned by
 * the resolver and valid until the next call or invalidate; *leaf points
 * into clean; phys (may be NULL) receives the parent's physical path.
 * With create, missing parents are made 0755. Errors name `clean`; a
 * missing parent without create fails with ENOENT. */
int sb_resolver_parent(struct sb_resolver *r, const char *clean, bool create, int *dirfd, const char **leaf,
		       struct sb_strbuf *phys, struct sb_error **err);
/* Like sb_resolver_parent without create and without touching the cache:
 * *dirfd is owned by the caller. */
int sb_resolver_parent_owned(struct sb_resolver *r, const char *clean, int *dirfd, const char **leaf,
			     struct sb_strbuf *phys, struct sb_error **err);

/* Open rootfd/relpath, a path without symlinks (every component is opened
 * with O_NOFOLLOW; openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS where the
 * kernel has it). flags are open(2) flags; O_NOFOLLOW and O_CLOEXEC are
 * added. Returns the descriptor or -1 with errno set. */
int sb_open_beneath(int rootfd, const char *relpath, int flags);

/* --- pathset.c --- */

/* A set of paths, and of the directories above them: which physical
 * paths this layer has written, so that whiteouts spare them. */
struct sb_pathset {
	char **slots;
	unsigned char *kind; /* 0 empty, 1 member, 2 ancestor only, 3 both */
	size_t nslots, used;
};

void sb_pathset_init(struct sb_pathset *s);
void sb_pathset_release(struct sb_pathset *s);
/* Add path and mark each of its parent directories as an ancestor. */
void sb_pathset_add(struct sb_pathset *s, const char *path);
bool sb_pathset_has(const struct sb_pathset *s, const char *path);
/* Whether some added path lies below path. */
bool sb_pathset_has_below(const struct sb_pathset *s, const char *path);

#endif
