/* sb_build(): plan, resolve bases, run the stages level by level (the
 * stages of a level in parallel), write the target's config and
 * manifest. */
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parser/parser.h"
#include "runtime/core/fs.h"
#include "runtime/exec/internal.h"

void sb_build_opts_init(struct sb_build_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->compression = SB_COMPRESS_GZIP;
	o->network = SB_NET_DEFAULT;
}

void sb_build_result_release(struct sb_build_result *r)
{
	sb_descriptor_release(&r->manifest);
	if (r->warnings)
		for (char **w = r->warnings; *w; w++)
			free(*w);
	free(r->warnings);
	memset(r, 0, sizeof(*r));
}

/* The overlays a build mounts stay in a mount namespace of the process's
 * own; mounts of the host still reach it (slave), ours never reach the
 * host, and they all vanish when the process exits, killed or not. */
int sb_exec_private_mounts(struct sb_error **err)
{
	static bool done;
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	int rc = 0;

	pthread_mutex_lock(&lock);
	if (!done) {
		if (unshare(CLONE_NEWNS) < 0)
			rc = sb_error_set(err, errno, "unshare mount namespace (slimbuild build runs as root)");
		else if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
			rc = sb_error_set(err, errno, "make mounts private");
		else
			done = true;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

char *sb_exec_tmpdir(struct sb_exec *x, const char *what, struct sb_error **err)
{
	unsigned n;
	char *p;

	pthread_mutex_lock(&x->lock);
	n = x->next_tmp++;
	pthread_mutex_unlock(&x->lock);
	p = sb_xasprintf("%s/%s%u", x->tmp, what, n);
	if (mkdir(p, 0755) < 0) {
		sb_error_set(err, errno, "mkdir %s", p);
		free(p);
		return NULL;
	}
	return p;
}

unsigned sb_exec_vertex(struct sb_exec *x)
{
	unsigned v;
	pthread_mutex_lock(&x->lock);
	v = ++x->next_vertex;
	pthread_mutex_unlock(&x->lock);
	return v;
}

static void image_free(struct sb_exec_image *img)
{
	free(img->ref);
	sb_descriptor_release(&img->manifest);
	if (img->layers)
		for (size_t i = 0; i < img->m.nlayers; i++)
			sb_exec_layer_release(&img->layers[i]);
	free(img->layers);
	sb_manifest_release(&img->m);
	sb_image_config_release(&img->cfg);
	free(img);
}

/* Docker media types for layers become their OCI twins: the bytes are the
 * same and the manifest we write is an OCI one. */
static const char *oci_layer_type(const char *mt)
{
	if (!strcmp(mt, SB_MT_DOCKER_LAYER_GZIP))
		return SB_MT_OCI_LAYER_GZIP;
	return mt;
}

static int image_load(struct sb_exec *x, const char *ref, struct sb_exec_image **out, struct sb_error **err)
{
	struct sb_exec_image *img = sb_xcalloc(1, sizeof(*img));
	struct sb_reference r;
	sb_autofree char *name = NULL;
	struct sb_error *e = NULL;
	bool have = false;

	if (sb_reference_parse(ref, &r, err) < 0) {
		free(img);
		return -1;
	}
	name = sb_reference_string(&r);
	if (!x->o->pull && sb_store_lookup(x->store, name, &img->manifest, &e) == 0)
		have = true;
	sb_error_free(e);
	if (!have) {
		struct sb_registry_opts ro = { 0 };
		if (x->o->registry)
			ro = *x->o->registry;
		ro.progress = x->o->progress;
		if (sb_registry_pull(x->store, &r, &ro, &img->manifest, err) < 0) {
			sb_reference_release(&r);
			image_free(img);
			return -1;
		}
	}
	sb_reference_release(&r);
	if (sb_store_load_image(x->store, &img->manifest, &img->m, &img->cfg, err) < 0) {
		image_free(img);
		return sb_error_wrap(err, "image %s", name);
	}
	if (sb_image_config_ndiff_ids(&img->cfg) != img->m.nlayers) {
		image_free(img);
		return sb_error_setx(err, EINVAL, "image %s: %zu layers but %zu diff_ids", name, img->m.nlayers,
				     sb_image_config_ndiff_ids(&img->cfg));
	}
	img->layers = sb_xcalloc(img->m.nlayers + 1, sizeof(*img->layers));
	for (size_t i = 0; i < img->m.nlayers; i++) {
		sb_descriptor_copy(&img->layers[i].desc, &img->m.layers[i]);
		free(img->layers[i].desc.media_type);
		img->layers[i].desc.media_type = sb_xstrdup(oci_layer_type(img->m.layers[i].media_type));
		memcpy(img->layers[i].diff_id, sb_image_config_diff_id(&img->cfg, i), SB_DIGEST_SIZE);
	}
	img->ref = sb_xstrdup(ref);
	*out = img;
	return 0;
}

int sb_exec_image_get(struct sb_exec *x, const char *ref, struct sb_exec_image **out, struct sb_error **err)
{
	struct sb_exec_image *img = NULL;
	int rc = 0;

	/* one lock around the pull too: two stages on one base pull it once */
	pthread_mutex_lock(&x->lock);
	for (size_t i = 0; i < x->nimages; i++)
		if (!strcmp(x->images[i].ref, ref)) {
			*out = &x->images[i];
			pthread_mutex_unlock(&x->lock);
			return 0;
		}
	pthread_mutex_unlock(&x->lock);
	rc = image_load(x, ref, &img, err);
	if (rc < 0)
		return sb_error_wrap(err, "%s", ref);
	pthread_mutex_lock(&x->lock);
	/* images are never moved: a fixed-size table */
	if (x->nimages >= 64) {
		pthread_mutex_unlock(&x->lock);
		image_free(img);
		return sb_error_setx(err, E2BIG, "more than 64 images in one build");
	}
	x->images[x->nimages] = *img;
	*out = &x->images[x->nimages++];
	free(img);
	pthread_mutex_unlock(&x->lock);
	return 0;
}

int sb_exec_image_prepare(struct sb_exec *x, struct sb_exec_image *img, struct sb_error **err)
{
	int rc = 0;

	pthread_mutex_lock(&x->lock);
	if (img->prepared)
		goto out;
	for (size_t i = 0; i < img->m.nlayers && rc == 0; i++)
		if (!img->layers[i].snapshot)
			rc = sb_snapshot_ensure(x->store, &img->layers[i].desc, img->layers[i].diff_id,
						&img->layers[i].snapshot, err);
	if (rc == 0)
		img->prepared = true;
out:
	pthread_mutex_unlock(&x->lock);
	return rc;
}

static int resolve_cb(void *ctx, const char *ref, const char *platform, struct sb_image_info *info,
		      struct sb_error **err)
{
	struct sb_exec *x = ctx;
	struct sb_exec_image *img;
	static const char *empty[1];
	json_t *cfg, *env, *ob;
	const char **ev, **ov;

	if (platform && *platform) {
		const struct sb_platform *h = sb_host_platform();
		sb_autofree char *host = sb_xasprintf("%s/%s", h->os, h->architecture);
		if (strcmp(platform, host) != 0 && strncmp(platform, host, strlen(host)) != 0)
			return sb_error_setx(err, ENOTSUP, "platform %s is not the host's (%s): only host builds "
					     "are supported", platform, host);
	}
	if (sb_exec_image_get(x, ref, &img, err) < 0)
		return -1;
	cfg = json_object_get(img->cfg.root, "config");
	env = json_object_get(cfg, "Env");
	ob = json_object_get(cfg, "OnBuild");
	/* the arrays live as long as the image: kept in its config */
	ev = sb_xcalloc(json_array_size(env) + 1, sizeof(char *));
	for (size_t i = 0; i < json_array_size(env); i++)
		ev[i] = json_string_value(json_array_get(env, i));
	ov = sb_xcalloc(json_array_size(ob) + 1, sizeof(char *));
	for (size_t i = 0; i < json_array_size(ob); i++)
		ov[i] = json_string_value(json_array_get(ob, i));
	info->env = json_array_size(env) ? ev : empty;
	info->nenv = json_array_size(env);
	info->onbuild = json_array_size(ob) ? ov : empty;
	info->nonbuild = json_array_size(ob);
	info->workdir = json_string_value(json_object_get(cfg, "WorkingDir"));
	/* sb_plan_build copies the strings before it returns: the arrays
	 * go when the plan is built */
	pthread_mutex_lock(&x->lock);
	x->scratch = sb_xrealloc(x->scratch, (x->nscratch + 2) * sizeof(void *));
	x->scratch[x->nscratch++] = ev;
	x->scratch[x->nscratch++] = ov;
	pthread_mutex_unlock(&x->lock);
	return 0;
}

/* The arrays resolve_cb handed the plan. */
static void free_resolve_arrays(struct sb_exec *x)
{
	for (size_t i = 0; i < x->nscratch; i++)
		free(x->scratch[i]);
	free(x->scratch);
	x->scratch = NULL;
	x->nscratch = 0;
}

struct stage_job {
	struct sb_exec *x;
	int index;
	struct sb_error *err;
	pthread_t thread;
};

static void *stage_main(void *arg)
{
	struct stage_job *j = arg;
	sb_exec_stage(j->x, j->index, &j->err);
	return NULL;
}

static int run_levels(struct sb_exec *x, struct sb_error **err)
{
	struct sb_plan *p = x->plan;
	struct stage_job *jobs = sb_xcalloc(p->norder + 1, sizeof(*jobs));
	int rc = 0;

	for (int level = 0; level <= p->nlevels && rc == 0; level++) {
		size_t n = 0;
		for (size_t i = 0; i < p->norder; i++)
			if (p->stages[p->order[i]].level == level) {
				jobs[n].x = x;
				jobs[n].index = p->order[i];
				jobs[n].err = NULL;
				n++;
			}
		if (n == 1) {
			stage_main(&jobs[0]);
		} else {
			for (size_t i = 0; i < n; i++)
				if (pthread_create(&jobs[i].thread, NULL, stage_main, &jobs[i]) != 0)
					abort();
			for (size_t i = 0; i < n; i++)
				pthread_join(jobs[i].thread, NULL);
		}
		for (size_t i = 0; i < n; i++) {
			if (jobs[i].err && rc == 0) {
				*err = jobs[i].err;
				rc = -1;
			} else if (jobs[i].err) {
				sb_error_free(jobs[i].err);
			}
		}
	}
	free(jobs);
	return rc;
}

static int write_image(struct sb_exec *x, struct sb_build_result *res, struct sb_error **err)
{
	struct sb_exec_state *st = &x->states[x->plan->target];
	struct sb_manifest m;
	struct sb_strbuf sb = SB_STRBUF_INIT;
	json_t *cfg;
	int rc;

	json_object_set_new(st->cfg.root, "created", json_string(st->created));
	cfg = json_object_get(st->cfg.root, "config");
	for (size_t i = 0; i < x->o->nlabels; i++) {
		const char *kv = x->o->labels[i], *eq = strchr(kv, '=');
		json_t *labels = json_object_get(cfg, "Labels");
		sb_autofree char *k = eq ? sb_xstrndup(kv, (size_t)(eq - kv)) : sb_xstrdup(kv);
		if (!json_is_object(labels)) {
			labels = json_object();
			json_object_set_new(cfg, "Labels", labels);
		}
		json_object_set_new(labels, k, json_string(eq ? eq + 1 : ""));
	}
	{
		const struct sb_platform *h = sb_host_platform();
		json_object_set_new(st->cfg.root, "architecture", json_string(h->architecture));
		json_object_set_new(st->cfg.root, "os", json_string(h->os));
	}

	/* the blobs of the layers this image holds, compressed now */
	for (size_t i = 0; i < st->nlayers; i++)
		if (sb_exec_layer_blob(x, &st->layers[i], err) < 0)
			return -1;
	memset(&m, 0, sizeof(m));
	m.media_type = sb_xstrdup(SB_MT_OCI_MANIFEST);
	m.config.media_type = sb_xstrdup(SB_MT_OCI_CONFIG);
	m.layers = sb_xcalloc(st->nlayers + 1, sizeof(*m.layers));
	m.nlayers = st->nlayers;
	for (size_t i = 0; i < st->nlayers; i++)
		sb_descriptor_copy(&m.layers[i], &st->layers[i].desc);
	rc = sb_image_config_to_json(&st->cfg, &sb, err);
	if (rc == 0)
		rc = sb_store_put_blob(x->store, sb.buf, sb.len, NULL, m.config.digest, err);
	m.config.size = (int64_t)sb.len;
	memcpy(res->config_digest, m.config.digest, SB_DIGEST_SIZE);
	sb_strbuf_reset(&sb);
	if (rc == 0)
		rc = sb_manifest_to_json(&m, &sb, err);
	if (rc == 0)
		rc = sb_store_put_blob(x->store, sb.buf, sb.len, NULL, res->manifest.digest, err);
	res->manifest.media_type = sb_xstrdup(SB_MT_OCI_MANIFEST);
	res->manifest.size = (int64_t)sb.len;
	sb_manifest_release(&m);
	sb_strbuf_release(&sb);
	return rc;
}

static void exec_release(struct sb_exec *x)
{
	if (x->states) {
		for (size_t i = 0; i < x->plan->nstages; i++) {
			struct sb_exec_state *st = &x->states[i];
			if (st->ro_mount) {
				umount2(st->ro_mount, MNT_DETACH);
				rmdir(st->ro_mount);
				free(st->ro_mount);
			}
			for (size_t k = 0; k < st->nlayers; k++)
				sb_exec_layer_release(&st->layers[k]);
			free(st->layers);
			for (size_t k = 0; k < st->nargs; k++)
				free(st->args[k]);
			free(st->args);
			sb_image_config_release(&st->cfg);
		}
		free(x->states);
	}
	for (size_t i = 0; i < x->nimages; i++) {
		struct sb_exec_image *img = &x->images[i];
		free(img->ref);
		sb_descriptor_release(&img->manifest);
		for (size_t k = 0; k < img->m.nlayers; k++)
			sb_exec_layer_release(&img->layers[k]);
		free(img->layers);
		sb_manifest_release(&img->m);
		sb_image_config_release(&img->cfg);
	}
	free(x->images);
	if (x->tmp) {
		/* every mount under tmp is gone by now: nothing below is
		 * removed through a mount */
		sb_rm_rf(AT_FDCWD, x->tmp, NULL);
		free(x->tmp);
	}
	if (x->ctx_fd >= 0)
		close(x->ctx_fd);
	sb_ignore_free(x->ignore);
	sb_plan_free(x->plan);
	pthread_mutex_destroy(&x->lock);
	pthread_mutex_destroy(&x->view_lock);
}

/* Whether overlayfs takes an upper dir in the store: else (or with
 * SLIMBUILD_NO_OVERLAY=1) every step runs on flattened copies. */
static int detect_overlay(struct sb_exec *x, struct sb_error **err)
{
	const char *env = getenv("SLIMBUILD_NO_OVERLAY");
	sb_autofree char *lower = NULL, *upper = NULL, *work = NULL, *mnt = NULL;
	const char *lowers[2] = { NULL, NULL };
	int rc;

	if (env && *env && strcmp(env, "0") != 0) {
		x->copy_mode = true;
		return 0;
	}
	if (!(lower = sb_exec_tmpdir(x, "probe-lower", err)) || !(upper = sb_exec_tmpdir(x, "probe-upper", err)) ||
	    !(work = sb_exec_tmpdir(x, "probe-work", err)) || !(mnt = sb_exec_tmpdir(x, "probe-mnt", err)))
		return -1;
	lowers[0] = lower;
	rc = sb_overlay_mount(lowers, upper, work, mnt, err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		umount2(mnt, MNT_DETACH);
	x->copy_mode = rc > 0;
	return 0;
}

int sb_build(const struct sb_build_opts *o, struct sb_build_result *res, struct sb_error **err)
{
	static unsigned counter;
	struct sb_exec x;
	struct sb_dockerfile *df = NULL;
	struct sb_plan_opts po;
	const char *base;
	bool locked = false;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&x, 0, sizeof(x));
	x.o = o;
	x.store = o->store;
	x.ctx_fd = -1;
	x.name = o->dockerfile_name ? o->dockerfile_name : "Dockerfile";
	pthread_mutex_init(&x.lock, NULL);
	pthread_mutex_init(&x.view_lock, NULL);
	x.images = sb_xcalloc(64, sizeof(*x.images));

	if (sb_exec_private_mounts(err) < 0)
		goto out;
	/* shared for the whole build: a prune (exclusive) waits for it, so
	 * no snapshot, cache entry or blob vanishes under a running build */
	if (sb_store_lock(o->store, false, err) < 0)
		goto out;
	locked = true;
	x.tmp = sb_xasprintf("%s/tmp/build-%d-%u", o->store->root, (int)getpid(),
			     __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
	if (sb_mkdir_p(AT_FDCWD, x.tmp, 0700, err) < 0)
		goto out;
	if (detect_overlay(&x, err) < 0)
		goto out;
	x.ctx_fd = open(o->context_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (x.ctx_fd < 0) {
		sb_error_set(err, errno, "build context %s", o->context_dir);
		goto out;
	}
	base = strrchr(x.name, '/');
	if (sb_ignore_load(x.ctx_fd, base ? base + 1 : x.name, &x.ignore, err) < 0)
		goto out;

	df = sb_dockerfile_parse(x.name, o->dockerfile, o->dockerfile_len, err);
	if (!df)
		goto out;
	memset(&po, 0, sizeof(po));
	po.target = o->target;
	po.build_args = o->build_args;
	po.nbuild_args = o->nbuild_args;
	po.resolve_image = resolve_cb;
	po.resolve_image_ctx = &x;
	x.plan = sb_plan_build(df, &po, err);
	free_resolve_arrays(&x);
	if (!x.plan)
		goto out;
	if (x.plan->nbuild_args_unused) {
		res->warnings = sb_xcalloc(x.plan->nbuild_args_unused + 1, sizeof(char *));
		for (size_t i = 0; i < x.plan->nbuild_args_unused; i++)
			res->warnings[i] = sb_xasprintf("[Warning] One or more build-args [%s] were not consumed",
							x.plan->build_args_unused[i]);
	}
	x.states = sb_xcalloc(x.plan->nstages, sizeof(*x.states));
	if (run_levels(&x, err) < 0)
		goto out;
	if (write_image(&x, res, err) < 0)
		goto out;
	res->steps = x.steps;
	res->cached = x.cached;
	rc = 0;
out:
	sb_dockerfile_free(df);
	exec_release(&x);
	if (locked)
		sb_store_unlock(o->store);
	if (rc < 0)
		sb_build_result_release(res);
	return rc;
}
