/* The packing pipeline: tar bytes from libarchive (or an imported stream)
 * are hashed (the diff_id) and copied into slots handed to worker
 * threads, while the producer goes on reading files, as `tar -c | pigz`
 * does with two processes.
 *
 * gzip is the slow half: zlib deflates 25-50 MB/s on one core (levels 6
 * and 4), where reading and tarring a tree runs at hundreds. So gzip is compressed the
 * way pigz does it (see SB_GZIP_BLOCK): each slot is one block, any
 * worker compresses any block, and whoever finishes the oldest
 * outstanding block writes it, and every block done after it, to the
 * sink. The output is one gzip member, the same bytes whatever the
 * number of threads and however the workers are scheduled.
 *
 * zstd (one core keeps up with the reader at level 3) and uncompressed
 * layers go through one worker and a streaming sb_compressor. */
#include <sched.h>
#include <unistd.h>

#include "runtime/layer/internal.h"

/* zstd and none: slot size and count. */
#define STREAM_SLOT (1u << 20)
#define STREAM_SLOTS 8
/* More would only cost memory: a 2-core machine runs 2 workers, and each
 * has a deflate state (~270 KiB) and up to 2 slots (~300 KiB each). */
#define MAX_THREADS 64

int sb_pipeline_threads(const struct sb_layer_pack_opts *opts)
{
	cpu_set_t set;
	long n;

	if (opts->threads > 0)
		return opts->threads < MAX_THREADS ? opts->threads : MAX_THREADS;
	/* The CPUs this process may run on (a container's cpuset, taskset),
	 * not all the machine has, as Go's runtime.NumCPU counts them. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	else
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return n < MAX_THREADS ? (int)n : MAX_THREADS;
}

static int to_sink(void *ctx, const void *data, size_t len, struct sb_error **err)
{
	struct sb_pipeline *p = ctx;
	if (!len)
		return 0;
	if (p->hash_blob)
		sb_sha256_update(&p->blob_hash, data, len);
	p->blob_bytes += len;
	return p->sink->write(p->sink->ctx, data, len, err);
}

/* Compress slot s (a worker, without the lock). */
static int compress_slot(struct sb_pipe_worker *w, struct sb_pipe_slot *s, struct sb_error **err)
{
	struct sb_pipeline *p = w->p;
	unsigned char *data = s->buf + SB_GZIP_DICT;

	if (!p->blocks)
		return sb_compressor_write(&p->comp, data, s->len, err);
	return sb_deflater_block(&w->gz, data - s->dict_len, s->dict_len, data, s->len, s->last, &s->out, err);
}

/* Write slot number seq (the next in order; the caller holds the writer
 * role, not the lock). */
static int emit_slot(struct sb_pipeline *p, uint64_t seq, struct sb_pipe_slot *s, struct sb_error **err)
{
	if (!p->blocks)
		return 0; /* the compressor wrote it already */
	if (seq == 0) {
		unsigned char h[SB_GZIP_HEADER];
		sb_gzip_header(h, p->level);
		if (to_sink(p, h, sizeof(h), err) < 0)
			return -1;
	}
	if (to_sink(p, s->out.data, s->out.len, err) < 0)
		return -1;
	p->crc = (uint32_t)crc32_combine(p->crc, s->out.crc, (z_off_t)s->out.in_len);
	return 0;
}

/* With the lock held: record a worker's failure and stop everyone. */
static void fail(struct sb_pipeline *p, struct sb_error *err)
{
	if (!p->worker_err)
		p->worker_err = err;
	else
		sb_error_free(err);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
}

static void *worker(void *arg)
{
	struct sb_pipe_worker *w = arg;
	struct sb_pipeline *p = w->p;
	struct sb_error *err = NULL;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct sb_pipe_slot *s;
		while (p->taken == p->produced && !p->closing && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop || p->taken == p->produced)
			break;
		s = &p->slots[p->taken++ % p->nslots];
		pthread_mutex_unlock(&p->mu);

		if (compress_slot(w, s, &err) < 0) {
			pthread_mutex_lock(&p->mu);
			fail(p, err);
			break;
		}

		pthread_mutex_lock(&p->mu);
		s->done = true;
		if (p->writing)
			continue; /* the writer picks it up when its turn comes */
		p->writing = true;
		while (!p->stop && p->written < p->taken && p->slots[p->written % p->nslots].done) {
			uint64_t seq = p->written;
			struct sb_pipe_slot *next = &p->slots[seq % p->nslots];
			int r;
			pthread_mutex_unlock(&p->mu);
			r = emit_slot(p, seq, next, &err);
			pthread_mutex_lock(&p->mu);
			if (r < 0) {
				fail(p, err);
				break;
			}
			next->done = false;
			p->written++;
			pthread_cond_broadcast(&p->cv);
		}
		p->writing = false;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int sb_pipeline_init(struct sb_pipeline *p, const struct sb_layer_pack_opts *opts, const struct sb_layer_sink *sink,
		     bool hash_blob, struct sb_error **err)
{
	int level = 0;

	memset(p, 0, sizeof(*p));
	p->sink = sink;
	p->hash_blob = hash_blob;
	p->compression = opts->compression;
	p->oci = opts->oci_media_type;
	p->to_sink.write = to_sink;
	p->to_sink.ctx = p;
	if (opts->threads < 0)
		return sb_error_setx(err, EINVAL, "%d compression threads", opts->threads);
	if (opts->compression == SB_COMPRESS_GZIP) {
		level = sb_gzip_level(opts->level, err);
		if (level < 0)
			return -1;
		p->blocks = true;
		p->level = level;
		p->nworkers = (size_t)sb_pipeline_threads(opts);
		/* Two per worker: one being compressed, one done or being
		 * written; and two for the producer to fill meanwhile. */
		p->nslots = 2 * p->nworkers + 2;
		p->slot_size = SB_GZIP_BLOCK;
	} else {
		if (sb_compressor_init(&p->comp, opts->compression, opts->level, &p->to_sink, err) < 0)
			return -1;
		p->nworkers = 1;
		p->nslots = STREAM_SLOTS;
		p->slot_size = STREAM_SLOT;
	}
	sb_sha256_init(&p->tar_hash);
	if (hash_blob)
		sb_sha256_init(&p->blob_hash);
	p->slots = sb_xcalloc(p->nslots, sizeof(*p->slots));
	for (size_t i = 0; i < p->nslots; i++)
		p->slots[i].buf = sb_xmalloc(SB_GZIP_DICT + p->slot_size);
	p->workers = sb_xcalloc(p->nworkers, sizeof(*p->workers));
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->sync_live = true;
	for (size_t i = 0; i < p->nworkers; i++) {
		struct sb_pipe_worker *w = &p->workers[i];
		int e;
		w->p = p;
		if (p->blocks && sb_deflater_init(&w->gz, level, err) < 0)
			return -1;
		e = pthread_create(&w->thread, NULL, worker, w);
		if (e)
			return sb_error_set(err, e, "start a compression thread");
		w->running = true;
	}
	return 0;
}

/* Hand the filling slot to the workers and wait for the next one to be
 * free; gzip: give it the dictionary, the last 32 KiB of this one. */
static int publish(struct sb_pipeline *p, bool last, struct sb_error **err)
{
	struct sb_pipe_slot *s = &p->slots[p->produced % p->nslots], *next;
	int ret = 0;

	s->last = last;
	pthread_mutex_lock(&p->mu);
	p->produced++;
	pthread_cond_broadcast(&p->cv);
	while (p->produced - p->written == p->nslots && !p->stop)
		pthread_cond_wait(&p->cv, &p->mu);
	if (p->stop) {
		if (err && !*err) {
			*err = p->worker_err;
			p->worker_err = NULL;
		}
		ret = -1;
	}
	pthread_mutex_unlock(&p->mu);
	if (ret < 0) {
		if (err && !*err)
			sb_error_setx(err, EIO, "compression failed");
		return -1;
	}
	/* Only the producer writes a slot's data, and s stays as it is
	 * until the producer fills it again: reading it here races with
	 * nothing but the workers' reads. */
	next = &p->slots[p->produced % p->nslots];
	next->len = 0;
	next->dict_len = 0;
	if (p->blocks && !last && s->len >= SB_GZIP_DICT) {
		memcpy(next->buf, s->buf + SB_GZIP_DICT + s->len - SB_GZIP_DICT, SB_GZIP_DICT);
		next->dict_len = SB_GZIP_DICT;
	}
	return 0;
}

int sb_pipeline_write(struct sb_pipeline *p, const void *data, size_t len, struct sb_error **err)
{
	const unsigned char *d = data;

	/* The diff_id here, not in the workers: it has to see the bytes in
	 * order, and it is quick next to deflate. */
	sb_sha256_update(&p->tar_hash, data, len);
	p->tar_bytes += len;
	while (len) {
		/* Only the producer touches the slot being filled. */
		struct sb_pipe_slot *s = &p->slots[p->produced % p->nslots];
		/* A full block goes at once, so that block boundaries fall
		 * every SB_GZIP_BLOCK bytes whatever the writes' sizes. */
		if (sb_fill_block(s->buf + SB_GZIP_DICT, &s->len, p->slot_size, &d, &len) &&
		    publish(p, false, err) < 0)
			return -1;
	}
	return 0;
}

static int drain(struct sb_pipeline *p, struct sb_error **err)
{
	struct sb_pipe_slot *s = &p->slots[p->produced % p->nslots];
	int ret = 0;

	/* gzip always ends with a last block, empty when the input is (or
	 * ends on a block boundary): it carries the deflate final bit. */
	if ((p->blocks || s->len) && publish(p, true, err) < 0)
		ret = -1;
	pthread_mutex_lock(&p->mu);
	p->closing = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < p->nworkers; i++) {
		if (p->workers[i].running)
			pthread_join(p->workers[i].thread, NULL);
		p->workers[i].running = false;
	}
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
	if (p->blocks) {
		unsigned char t[SB_GZIP_TRAILER];
		if (p->written != p->produced)
			return sb_error_setx(err, EIO, "gzip: %llu of %llu blocks written",
					     (unsigned long long)p->written, (unsigned long long)p->produced);
		sb_gzip_trailer(t, p->crc, p->tar_bytes);
		if (to_sink(p, t, sizeof(t), err) < 0)
			return -1;
	} else if (sb_compressor_finish(&p->comp, err) < 0) {
		return -1;
	}
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
	if (p->sync_live) {
		pthread_mutex_lock(&p->mu);
		p->stop = true;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	for (size_t i = 0; i < p->nworkers && p->workers; i++) {
		struct sb_pipe_worker *w = &p->workers[i];
		if (w->running)
			pthread_join(w->thread, NULL);
		w->running = false;
		sb_deflater_release(&w->gz);
	}
	free(p->workers);
	p->workers = NULL;
	if (p->sync_live) {
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->cv);
		p->sync_live = false;
	}
	for (size_t i = 0; i < p->nslots && p->slots; i++) {
		free(p->slots[i].buf);
		free(p->slots[i].out.data);
	}
	free(p->slots);
	p->slots = NULL;
	sb_compressor_release(&p->comp);
	if (p->tar_hash.md)
		sb_sha256_release(&p->tar_hash);
	if (p->blob_hash.md)
		sb_sha256_release(&p->blob_hash);
	sb_error_free(p->worker_err);
	p->worker_err = NULL;
}
