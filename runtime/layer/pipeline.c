/* The packing pipeline: tar bytes from libarchive (or an imported stream)
 * are hashed (the diff_id) and copied into one of a few slots, handed to
 * a worker thread that compresses them and writes the result to the
 * sink. The producer reads files meanwhile: one core compresses, the
 * other does the I/O, as `tar -c | gzip` does with two processes. */
#include "runtime/layer/internal.h"

#define SLOT_SIZE (1u << 20)

static int to_sink(void *ctx, const void *data, size_t len, struct sb_error **err)
{
	struct sb_pipeline *p = ctx;
	if (p->hash_blob)
		sb_sha256_update(&p->blob_hash, data, len);
	p->blob_bytes += len;
	return p->sink->write(p->sink->ctx, data, len, err);
}

static void *worker(void *arg)
{
	struct sb_pipeline *p = arg;
	struct sb_error *err = NULL;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		size_t i, len;
		while (p->consumed == p->produced && !p->closing && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop || p->consumed == p->produced)
			break;
		i = (size_t)(p->consumed % SB_PIPE_SLOTS);
		len = p->slot_len[i];
		pthread_mutex_unlock(&p->mu);

		if (sb_compressor_write(&p->comp, p->slot[i], len, &err) < 0) {
			pthread_mutex_lock(&p->mu);
			p->worker_err = err;
			p->stop = true;
			pthread_cond_broadcast(&p->cv);
			break;
		}

		pthread_mutex_lock(&p->mu);
		p->consumed++;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int sb_pipeline_init(struct sb_pipeline *p, const struct sb_layer_pack_opts *opts, const struct sb_layer_sink *sink,
		     bool hash_blob, struct sb_error **err)
{
	int e;

	memset(p, 0, sizeof(*p));
	p->sink = sink;
	p->hash_blob = hash_blob;
	p->compression = opts->compression;
	p->oci = opts->oci_media_type;
	p->to_sink.write = to_sink;
	p->to_sink.ctx = p;
	if (sb_compressor_init(&p->comp, opts->compression, opts->level, &p->to_sink, err) < 0)
		return -1;
	sb_sha256_init(&p->tar_hash);
	if (hash_blob)
		sb_sha256_init(&p->blob_hash);
	for (size_t i = 0; i < SB_PIPE_SLOTS; i++)
		p->slot[i] = sb_xmalloc(SLOT_SIZE);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	e = pthread_create(&p->thread, NULL, worker, p);
	if (e)
		return sb_error_set(err, e, "start the compression thread");
	p->running = true;
	return 0;
}

/* Hand the filling slot to the worker and wait for a free one. */
static int publish(struct sb_pipeline *p, struct sb_error **err)
{
	int ret = 0;
	pthread_mutex_lock(&p->mu);
	p->produced++;
	pthread_cond_broadcast(&p->cv);
	while (p->produced - p->consumed == SB_PIPE_SLOTS && !p->stop)
		pthread_cond_wait(&p->cv, &p->mu);
	if (p->stop) {
		if (err && !*err) {
			*err = p->worker_err;
			p->worker_err = NULL;
		}
		ret = -1;
	}
	pthread_mutex_unlock(&p->mu);
	if (ret < 0 && err && !*err)
		sb_error_setx(err, EIO, "compression failed");
	return ret;
}

int sb_pipeline_write(struct sb_pipeline *p, const void *data, size_t len, struct sb_error **err)
{
	const unsigned char *d = data;

	/* The diff_id here, not in the worker: compressing is the slower
	 * half of the pipeline. */
	sb_sha256_update(&p->tar_hash, data, len);
	p->tar_bytes += len;
	while (len) {
		/* Only the producer touches the slot being filled. */
		size_t i = (size_t)(p->produced % SB_PIPE_SLOTS);
		size_t n = SLOT_SIZE - p->slot_len[i];
		if (n > len)
			n = len;
		memcpy(p->slot[i] + p->slot_len[i], d, n);
		p->slot_len[i] += n;
		d += n;
		len -= n;
		if (p->slot_len[i] == SLOT_SIZE && publish(p, err) < 0)
			return -1;
		if (p->slot_len[i] == SLOT_SIZE)
			p->slot_len[(size_t)(p->produced % SB_PIPE_SLOTS)] = 0;
	}
	return 0;
}

static int drain(struct sb_pipeline *p, struct sb_error **err)
{
	size_t i = (size_t)(p->produced % SB_PIPE_SLOTS);
	int ret = 0;

	if (p->slot_len[i] && publish(p, err) < 0)
		ret = -1;
	pthread_mutex_lock(&p->mu);
	p->closing = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	p->running = false;
	if (ret == 0 && p->worker_err) {
		if (err && !*err)
			*err = p->worker_err;
		else
			sb_error_free(p->worker_err);
		p->worker_err = NULL;
		ret = -1;
	}
	return ret;
}

int sb_pipeline_finish(struct sb_pipeline *p, struct sb_layer_result *out, struct sb_error **err)
{
	if (drain(p, err) < 0)
		return -1;
	if (sb_compressor_finish(&p->comp, err) < 0)
		return -1;
	sb_sha256_final(&p->tar_hash, out->diff_id);
	if (p->hash_blob)
		sb_sha256_final(&p->blob_hash, out->digest);
	out->tar_size = p->tar_bytes;
	out->size = (int64_t)p->blob_bytes;
	out->media_type = sb_layer_media_type(p->compression, p->oci);
	return 0;
}

void sb_pipeline_release(struct sb_pipeline *p)
{
	if (p->running) {
		pthread_mutex_lock(&p->mu);
		p->stop = true;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
		p->running = false;
	}
	if (p->slot[0]) {
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->cv);
	}
	for (size_t i = 0; i < SB_PIPE_SLOTS; i++) {
		free(p->slot[i]);
		p->slot[i] = NULL;
	}
	sb_compressor_release(&p->comp);
	if (p->tar_hash.md)
		sb_sha256_release(&p->tar_hash);
	if (p->blob_hash.md)
		sb_sha256_release(&p->blob_hash);
	sb_error_free(p->worker_err);
	p->worker_err = NULL;
}
