/* Layer compression: media types, gzip in independently compressed
 * blocks (the pipeline's workers compress them in parallel), a streaming
 * gzip/zstd compressor that writes to a sink, and a bounded decompressor
 * that detects the format from magic bytes. */
#include <unistd.h>

#include "runtime/layer/internal.h"

#define CHUNK (128u * 1024)

int sb_compression_parse(const char *s)
{
	if (!s)
		return -1;
	if (!strcmp(s, "gzip"))
		return SB_COMPRESS_GZIP;
	if (!strcmp(s, "zstd"))
		return SB_COMPRESS_ZSTD;
	if (!strcmp(s, "none") || !strcmp(s, "uncompressed"))
		return SB_COMPRESS_NONE;
	return -1;
}

const char *sb_compression_name(enum sb_compression c)
{
	switch (c) {
	case SB_COMPRESS_GZIP:
		return "gzip";
	case SB_COMPRESS_ZSTD:
		return "zstd";
	case SB_COMPRESS_NONE:
		break;
	}
	return "none";
}

#define SB_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"

const char *sb_layer_media_type(enum sb_compression c, bool oci)
{
	switch (c) {
	case SB_COMPRESS_GZIP:
		return oci ? SB_MT_OCI_LAYER_GZIP : SB_MT_DOCKER_LAYER_GZIP;
	case SB_COMPRESS_ZSTD:
		/* Docker's schema 2 has no zstd layer type: BuildKit and
		 * Docker write the OCI one into Docker manifests too. */
		return SB_MT_OCI_LAYER_ZSTD;
	case SB_COMPRESS_NONE:
		break;
	}
	return oci ? SB_MT_OCI_LAYER : SB_MT_DOCKER_LAYER;
}

int sb_layer_media_compression(const char *mt)
{
	static const struct {
		const char *type;
		enum sb_compression c;
	} known[] = {
		{ SB_MT_OCI_LAYER, SB_COMPRESS_NONE },
		{ SB_MT_OCI_LAYER_GZIP, SB_COMPRESS_GZIP },
		{ SB_MT_OCI_LAYER_ZSTD, SB_COMPRESS_ZSTD },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar", SB_COMPRESS_NONE },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", SB_COMPRESS_GZIP },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", SB_COMPRESS_ZSTD },
		{ SB_MT_DOCKER_LAYER, SB_COMPRESS_NONE },
		{ SB_MT_DOCKER_LAYER_GZIP, SB_COMPRESS_GZIP },
		{ SB_MT_DOCKER_LAYER_FOREIGN, SB_COMPRESS_GZIP },
	};
	if (!mt)
		return -1;
	for (size_t i = 0; i < SB_ARRAY_SIZE(known); i++)
		if (!strcmp(mt, known[i].type))
			return (int)known[i].c;
	return -1;
}

/* --- gzip in blocks --- */

/* The default gzip level is 4, not zlib's 6. The rule: keep 6 unless a
 * faster level costs under 5% in size. Measured on the Debian bookworm
 * minbase rootfs tar (170,400,768 bytes) in this block format, one
 * thread, CPU seconds of the whole pack (tar 0.5 of them):
 *   level 1: 66,234,171 bytes (+9.8%)  2.31 s
 *   level 3: 63,848,704 bytes (+5.8%)  3.13 s
 *   level 4: 61,935,601 bytes (+2.7%)  3.34 s
 *   level 5: 60,800,564 bytes (+0.8%)  4.47 s
 *   level 6: 60,324,439 bytes          6.40 s
 * Levels 1-3 use deflate's fast matcher and lose too much; 4 is the
 * first lazy-matching level and compresses nearly twice as fast as 6. */
#define GZIP_DEFAULT_LEVEL 4

int sb_gzip_level(int level, struct sb_error **err)
{
	if (level == 0)
		return GZIP_DEFAULT_LEVEL;
	if (level < 1 || level > 9)
		return sb_error_setx(err, EINVAL, "gzip level %d out of range 1-9", level);
	return level;
}

int sb_deflater_init(struct sb_deflater *d, int level, struct sb_error **err)
{
	memset(d, 0, sizeof(*d));
	/* windowBits -15: raw deflate, the gzip wrapper is ours. */
	if (deflateInit2(&d->z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return sb_error_setx(err, ENOMEM, "gzip: deflateInit2 failed");
	d->live = true;
	return 0;
}

int sb_deflater_block(struct sb_deflater *d, const unsigned char *dict, size_t dict_len, const unsigned char *in,
		      size_t len, bool last, struct sb_gzip_block *out, struct sb_error **err)
{
	size_t bound;
	int rc;

	if (len > SB_GZIP_BLOCK || dict_len > SB_GZIP_DICT)
		return sb_error_setx(err, EINVAL, "gzip: block of %zu bytes too large", len);
	if (deflateReset(&d->z) != Z_OK)
		return sb_error_setx(err, EIO, "gzip: deflateReset failed");
	if (dict_len && deflateSetDictionary(&d->z, dict, (uInt)dict_len) != Z_OK)
		return sb_error_setx(err, EIO, "gzip: deflateSetDictionary failed");
	/* Room for the whole block at once (deflateBound, plus the sync
	 * flush's empty stored block and a final block's last bits), so
	 * that one deflate() call does it all. */
	bound = deflateBound(&d->z, (uLong)len) + 16;
	if (out->cap < bound) {
		free(out->data);
		out->data = sb_xmalloc(bound);
		out->cap = bound;
	}
	d->z.next_in = (Bytef *)(uintptr_t)in;
	d->z.avail_in = (uInt)len;
	d->z.next_out = out->data;
	d->z.avail_out = (uInt)out->cap;
	/* Z_SYNC_FLUSH ends a block on a byte boundary with no final bit,
	 * so the next block's stream follows it directly; only the last
	 * block ends the deflate stream (Z_FINISH). */
	rc = deflate(&d->z, last ? Z_FINISH : Z_SYNC_FLUSH);
	if (rc == Z_STREAM_ERROR || d->z.avail_in != 0 || (last ? rc != Z_STREAM_END : d->z.avail_out == 0))
		return sb_error_setx(err, EIO, "gzip: deflate failed (%d)", rc);
	out->len = out->cap - d->z.avail_out;
	out->crc = (uint32_t)crc32(0, in, (uInt)len);
	out->in_len = len;
	return 0;
}

void sb_deflater_release(struct sb_deflater *d)
{
	if (d->live)
		deflateEnd(&d->z);
	d->live = false;
}

void sb_gzip_header(unsigned char h[SB_GZIP_HEADER], int level)
{
	/* RFC 1952 2.3: magic, deflate, no flags, mtime 0 (reproducible),
	 * XFL and OS (3, Unix) as zlib writes them, so the header is the
	 * one deflateInit2(15 + 16) would give. */
	static const unsigned char head[] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
	memcpy(h, head, sizeof(head));
	h[8] = level == 9 ? 2 : level < 2 ? 4 : 0;
}

void sb_gzip_trailer(unsigned char t[SB_GZIP_TRAILER], uint32_t crc, uint64_t isize)
{
	/* CRC-32 and the size modulo 2^32, little-endian. */
	for (int i = 0; i < 4; i++) {
		t[i] = (unsigned char)(crc >> (8 * i));
		t[4 + i] = (unsigned char)(isize >> (8 * i));
	}
}

/* --- compressor --- */

static int sink_write(struct sb_compressor *c, const void *data, size_t len, struct sb_error **err)
{
	if (!len)
		return 0;
	if (c->sink->write(c->sink->ctx, data, len, err) < 0)
		return -1;
	c->written += len;
	return 0;
}

int sb_compressor_init(struct sb_compressor *c, enum sb_compression kind, int level,
		       const struct sb_layer_sink *sink, struct sb_error **err)
{
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->sink = sink;
	switch (kind) {
	case SB_COMPRESS_GZIP: {
		unsigned char h[SB_GZIP_HEADER];
		level = sb_gzip_level(level, err);
		if (level < 0)
			return -1;
		c->level = level;
		if (sb_deflater_init(&c->gz, level, err) < 0)
			return -1;
		c->gz_buf = sb_xmalloc(SB_GZIP_DICT + SB_GZIP_BLOCK);
		sb_gzip_header(h, level);
		return sink_write(c, h, sizeof(h), err);
	}
	case SB_COMPRESS_ZSTD: {
		size_t r;
		if (level == 0)
			level = ZSTD_CLEVEL_DEFAULT;
		else if (level < 1 || level > ZSTD_maxCLevel())
			return sb_error_setx(err, EINVAL, "zstd level %d out of range 1-%d", level, ZSTD_maxCLevel());
		c->zc = ZSTD_createCCtx();
		if (!c->zc)
			return sb_error_setx(err, ENOMEM, "zstd: cannot create a context");
		r = ZSTD_CCtx_setParameter(c->zc, ZSTD_c_compressionLevel, level);
		if (!ZSTD_isError(r))
			r = ZSTD_CCtx_setParameter(c->zc, ZSTD_c_checksumFlag, 1);
		if (ZSTD_isError(r)) {
			ZSTD_freeCCtx(c->zc);
			c->zc = NULL;
			return sb_error_setx(err, EINVAL, "zstd: %s", ZSTD_getErrorName(r));
		}
		break;
	}
	case SB_COMPRESS_NONE:
		return 0;
	default:
		return sb_error_setx(err, EINVAL, "unknown compression %d", (int)kind);
	}
	c->out_size = CHUNK;
	c->out = sb_xmalloc(c->out_size);
	return 0;
}

/* Compress the buffered block and write it; gz_buf holds the dictionary
 * (the previous block's last 32 KiB) before it. */
static int gzip_block(struct sb_compressor *c, bool last, struct sb_error **err)
{
	unsigned char *data = c->gz_buf + SB_GZIP_DICT;
	if (sb_deflater_block(&c->gz, data - c->gz_dict_len, c->gz_dict_len, data, c->gz_len, last, &c->gz_out,
			      err) < 0)
		return -1;
	if (sink_write(c, c->gz_out.data, c->gz_out.len, err) < 0)
		return -1;
	c->crc = (uint32_t)crc32_combine(c->crc, c->gz_out.crc, (z_off_t)c->gz_len);
	c->isize += c->gz_len;
	if (c->gz_len >= SB_GZIP_DICT) {
		memcpy(c->gz_buf, data + c->gz_len - SB_GZIP_DICT, SB_GZIP_DICT);
		c->gz_dict_len = SB_GZIP_DICT;
	}
	c->gz_len = 0;
	return 0;
}

static int gzip_write(struct sb_compressor *c, const void *data, size_t len, struct sb_error **err)
{
	const unsigned char *d = data;
	while (len) {
		/* A full block goes out at once, as the pipeline sends it:
		 * block boundaries depend on the byte count alone. */
		if (sb_fill_block(c->gz_buf + SB_GZIP_DICT, &c->gz_len, SB_GZIP_BLOCK, &d, &len) &&
		    gzip_block(c, false, err) < 0)
			return -1;
	}
	return 0;
}

static int gzip_finish(struct sb_compressor *c, struct sb_error **err)
{
	unsigned char t[SB_GZIP_TRAILER];
	if (gzip_block(c, true, err) < 0)
		return -1;
	sb_gzip_trailer(t, c->crc, c->isize);
	return sink_write(c, t, sizeof(t), err);
}

static int zstd_run(struct sb_compressor *c, const void *data, size_t len, ZSTD_EndDirective mode,
		    struct sb_error **err)
{
	ZSTD_inBuffer in = { data, len, 0 };
	for (;;) {
		ZSTD_outBuffer out = { c->out, c->out_size, 0 };
		size_t left = ZSTD_compressStream2(c->zc, &out, &in, mode);
		if (ZSTD_isError(left))
			return sb_error_setx(err, EIO, "zstd: %s", ZSTD_getErrorName(left));
		if (sink_write(c, c->out, out.pos, err) < 0)
			return -1;
		if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
			return 0;
	}
}

int sb_compressor_write(struct sb_compressor *c, const void *data, size_t len, struct sb_error **err)
{
	if (!len)
		return 0;
	switch (c->kind) {
	case SB_COMPRESS_GZIP:
		return gzip_write(c, data, len, err);
	case SB_COMPRESS_ZSTD:
		return zstd_run(c, data, len, ZSTD_e_continue, err);
	case SB_COMPRESS_NONE:
		break;
	}
	return sink_write(c, data, len, err);
}

int sb_compressor_finish(struct sb_compressor *c, struct sb_error **err)
{
	switch (c->kind) {
	case SB_COMPRESS_GZIP:
		return gzip_finish(c, err);
	case SB_COMPRESS_ZSTD:
		return zstd_run(c, NULL, 0, ZSTD_e_end, err);
	case SB_COMPRESS_NONE:
		break;
	}
	return 0;
}

void sb_compressor_release(struct sb_compressor *c)
{
	sb_deflater_release(&c->gz);
	free(c->gz_buf);
	c->gz_buf = NULL;
	free(c->gz_out.data);
	c->gz_out.data = NULL;
	ZSTD_freeCCtx(c->zc);
	c->zc = NULL;
	free(c->out);
	c->out = NULL;
}

/* --- decompressor --- */

/* Make at least n unread input bytes available, unless the input ends
 * first. Returns the number available, or -1 with *err. */
static ssize_t ensure_input(struct sb_decompressor *d, size_t n, struct sb_error **err)
{
	if (d->in_len - d->in_pos >= n || d->in_eof)
		return (ssize_t)(d->in_len - d->in_pos);
	if (d->in_pos) {
		memmove(d->in, d->in + d->in_pos, d->in_len - d->in_pos);
		d->in_len -= d->in_pos;
		d->in_pos = 0;
	}
	while (d->in_len < n && !d->in_eof) {
		ssize_t r = read(d->fd, d->in + d->in_len, d->in_size - d->in_len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return sb_error_set(err, errno, "read layer");
		}
		if (r == 0)
			d->in_eof = true;
		d->in_len += (size_t)r;
	}
	return (ssize_t)(d->in_len - d->in_pos);
}

int sb_decompressor_open(struct sb_decompressor *d, int fd, uint64_t max, struct sb_error **err)
{
	static const unsigned char gz[] = { 0x1f, 0x8b }, zs[] = { 0x28, 0xb5, 0x2f, 0xfd };
	ssize_t n;

	memset(d, 0, sizeof(*d));
	d->fd = fd;
	d->max = max ? max : SB_LAYER_DEFAULT_MAX;
	d->in_size = CHUNK;
	d->in = sb_xmalloc(d->in_size);
	sb_sha256_init(&d->hash);
	n = ensure_input(d, 4, err);
	if (n < 0)
		return -1;
	if (n >= 2 && !memcmp(d->in, gz, 2)) {
		d->kind = SB_COMPRESS_GZIP;
		if (inflateInit2(&d->z, 15 + 16) != Z_OK)
			return sb_error_setx(err, ENOMEM, "gzip: inflateInit2 failed");
		d->z_live = true;
	} else if (n >= 4 && !memcmp(d->in, zs, 4)) {
		size_t r;
		d->kind = SB_COMPRESS_ZSTD;
		d->zd = ZSTD_createDCtx();
		if (!d->zd)
			return sb_error_setx(err, ENOMEM, "zstd: cannot create a context");
		/* A frame may ask for a window of up to 2 GiB (and then that
		 * much memory); 128 MiB is what zstd -19 and --long use. */
		r = ZSTD_DCtx_setParameter(d->zd, ZSTD_d_windowLogMax, 27);
		if (ZSTD_isError(r))
			return sb_error_setx(err, EINVAL, "zstd: %s", ZSTD_getErrorName(r));
	} else {
		d->kind = SB_COMPRESS_NONE;
	}
	return 0;
}

static ssize_t account(struct sb_decompressor *d, const void *buf, size_t n, struct sb_error **err)
{
	if (n > d->max || d->total > d->max - n)
		return sb_error_setx(err, EFBIG, "layer expands past %llu bytes (%s; a decompression bomb?)",
				     (unsigned long long)d->max, sb_compression_name(d->kind));
	d->total += n;
	sb_sha256_update(&d->hash, buf, n);
	return (ssize_t)n;
}

static ssize_t read_plain(struct sb_decompressor *d, void *buf, size_t len, struct sb_error **err)
{
	ssize_t r;
	if (d->in_pos < d->in_len) {
		size_t n = d->in_len - d->in_pos;
		if (n > len)
			n = len;
		memcpy(buf, d->in + d->in_pos, n);
		d->in_pos += n;
		d->in_total += n;
		return account(d, buf, n, err);
	}
	if (d->in_eof)
		return 0;
	do
		r = read(d->fd, buf, len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return sb_error_set(err, errno, "read layer");
	if (r == 0) {
		d->in_eof = true;
		return 0;
	}
	d->in_total += (size_t)r;
	return account(d, buf, (size_t)r, err);
}

static ssize_t read_gzip(struct sb_decompressor *d, void *buf, size_t len, struct sb_error **err)
{
	if (len > (1u << 30))
		len = 1u << 30;
	for (;;) {
		size_t avail, used, produced;
		int rc;

		if (d->member_end) {
			/* A gzip file may be several members back to back
			 * (RFC 1952 2.2); anything else after one is garbage. */
			ssize_t n = ensure_input(d, 2, err);
			if (n < 0)
				return -1;
			if (n == 0)
				return 0;
			if (n < 2 || d->in[d->in_pos] != 0x1f || d->in[d->in_pos + 1] != 0x8b)
				return sb_error_setx(err, EINVAL, "gzip: trailing garbage after the stream at byte %llu",
						     (unsigned long long)d->in_total);
			if (inflateReset(&d->z) != Z_OK)
				return sb_error_setx(err, EIO, "gzip: inflateReset failed");
			d->member_end = false;
		}
		if (d->in_pos == d->in_len) {
			ssize_t n = ensure_input(d, 1, err);
			if (n < 0)
				return -1;
			if (n == 0)
				return sb_error_setx(err, EIO, "gzip: unexpected end of stream (truncated layer)");
		}
		avail = d->in_len - d->in_pos;
		d->z.next_in = d->in + d->in_pos;
		d->z.avail_in = (uInt)avail;
		d->z.next_out = buf;
		d->z.avail_out = (uInt)len;
		rc = inflate(&d->z, Z_NO_FLUSH);
		used = avail - d->z.avail_in;
		produced = len - d->z.avail_out;
		d->in_pos += used;
		d->in_total += used;
		if (rc == Z_STREAM_END)
			d->member_end = true;
		else if (rc != Z_OK && rc != Z_BUF_ERROR)
			return sb_error_setx(err, EINVAL, "gzip: %s at byte %llu",
					     d->z.msg ? d->z.msg : "corrupt stream", (unsigned long long)d->in_total);
		if (produced)
			return account(d, buf, produced, err);
		if (!used && rc == Z_BUF_ERROR && d->in_eof && d->in_pos == d->in_len)
			return sb_error_setx(err, EIO, "gzip: unexpected end of stream (truncated layer)");
	}
}

static ssize_t read_zstd(struct sb_decompressor *d, void *buf, size_t len, struct sb_error **err)
{
	for (;;) {
		ZSTD_inBuffer in;
		ZSTD_outBuffer out = { buf, len, 0 };
		size_t r;

		if (d->in_pos == d->in_len) {
			ssize_t n = ensure_input(d, 1, err);
			if (n < 0)
				return -1;
			if (n == 0) {
				if (!d->member_end)
					return sb_error_setx(err, EIO, "zstd: unexpected end of stream (truncated layer)");
				return 0;
			}
		}
		in.src = d->in + d->in_pos;
		in.size = d->in_len - d->in_pos;
		in.pos = 0;
		r = ZSTD_decompressStream(d->zd, &out, &in);
		d->in_pos += in.pos;
		d->in_total += in.pos;
		if (ZSTD_isError(r))
			return sb_error_setx(err, EINVAL, "zstd: %s at byte %llu", ZSTD_getErrorName(r),
					     (unsigned long long)d->in_total);
		/* 0: a frame just ended; another may follow. */
		d->member_end = r == 0;
		if (out.pos)
			return account(d, buf, out.pos, err);
	}
}

ssize_t sb_decompressor_read(struct sb_decompressor *d, void *buf, size_t len, struct sb_error **err)
{
	ssize_t r;
	if (d->done || !len)
		return 0;
	switch (d->kind) {
	case SB_COMPRESS_GZIP:
		r = read_gzip(d, buf, len, err);
		break;
	case SB_COMPRESS_ZSTD:
		r = read_zstd(d, buf, len, err);
		break;
	default:
		r = read_plain(d, buf, len, err);
		break;
	}
	if (r == 0)
		d->done = true;
	return r;
}

void sb_decompressor_digest(struct sb_decompressor *d, char out[SB_DIGEST_SIZE])
{
	sb_sha256_final(&d->hash, out);
}

void sb_decompressor_release(struct sb_decompressor *d)
{
	if (d->z_live)
		inflateEnd(&d->z);
	d->z_live = false;
	ZSTD_freeDCtx(d->zd);
	d->zd = NULL;
	if (d->hash.md)
		sb_sha256_release(&d->hash);
	free(d->in);
	d->in = NULL;
}
